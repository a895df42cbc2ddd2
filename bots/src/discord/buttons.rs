//! Message buttons: the core's buttons for a job ([`actions`]) drawn as
//! Discord buttons. `custom_id` is the core's codec.

use reel_store::JobState;
use serenity::builder::{CreateActionRow, CreateButton};
use serenity::model::application::ButtonStyle;

use crate::core::actions::{self, Action};
use crate::core::wording;

/// The buttons for job `job_id` in `state`; `clip_posted`: under the clip.
pub fn for_job(job_id: i64, state: JobState, clip_posted: bool) -> Vec<CreateActionRow> {
    let row: Vec<CreateButton> = actions::buttons_for(state, clip_posted)
        .iter()
        .map(|action| button(*action, job_id))
        .collect();
    match row.is_empty() {
        true => Vec::new(),
        false => vec![CreateActionRow::Buttons(row)],
    }
}

/// Under the "queued" / progress message.
pub fn in_progress(job_id: i64) -> Vec<CreateActionRow> {
    for_job(job_id, JobState::Queued, false)
}

/// Under a posted clip.
pub fn clip(job_id: i64) -> Vec<CreateActionRow> {
    for_job(job_id, JobState::Delivered, true)
}

/// Under `/cameo clips`: a Delete button naming each clip, five a row
/// (Discord's most; 5 rows hold the 20 listed).
pub fn cameo_clips(job_ids: &[i64]) -> Vec<CreateActionRow> {
    job_ids
        .chunks(5)
        .map(|ids| {
            let row = ids
                .iter()
                .map(|&id| {
                    button(Action::RemoveCameoClip, id)
                        .label(wording::cameo::remove_button_label(id))
                })
                .collect();
            CreateActionRow::Buttons(row)
        })
        .collect()
}

fn button(action: Action, job_id: i64) -> CreateButton {
    let style = match action {
        Action::Reroll => ButtonStyle::Primary,
        Action::Cancel => ButtonStyle::Secondary,
        Action::Delete | Action::RemoveCameoClip => ButtonStyle::Danger,
    };
    CreateButton::new(actions::encode(action, job_id))
        .label(wording::button_label(action))
        .emoji(serenity::model::channel::ReactionType::Unicode(
            wording::button_emoji(action).into(),
        ))
        .style(style)
}
