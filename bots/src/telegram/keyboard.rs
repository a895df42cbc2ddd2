//! Inline keyboards: the core's buttons for a job ([`actions`]) drawn as
//! Telegram buttons. Callback data is the core's codec.

use reel_store::JobState;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use crate::core::actions::{self, Action};
use crate::core::wording;

/// The buttons for job `job_id` in `state`; `clip_posted`: under the clip.
pub fn for_job(job_id: i64, state: JobState, clip_posted: bool) -> InlineKeyboardMarkup {
    let row: Vec<InlineKeyboardButton> = actions::buttons_for(state, clip_posted)
        .iter()
        .map(|action| button(*action, job_id))
        .collect();
    InlineKeyboardMarkup::new([row])
}

/// On the "queued" / progress message.
pub fn in_progress(job_id: i64) -> InlineKeyboardMarkup {
    for_job(job_id, JobState::Queued, false)
}

/// Under a posted clip.
pub fn clip(job_id: i64) -> InlineKeyboardMarkup {
    for_job(job_id, JobState::Delivered, true)
}

/// Under `/cameo clips`: one Delete button a row, each naming its clip.
pub fn cameo_clips(job_ids: &[i64]) -> InlineKeyboardMarkup {
    let action = Action::RemoveCameoClip;
    InlineKeyboardMarkup::new(job_ids.iter().map(|&id| {
        let label = format!(
            "{} {}",
            wording::button_emoji(action),
            wording::cameo::remove_button_label(id)
        );
        [InlineKeyboardButton::callback(
            label,
            actions::encode(action, id),
        )]
    }))
}

fn button(action: Action, job_id: i64) -> InlineKeyboardButton {
    let label = format!(
        "{} {}",
        wording::button_emoji(action),
        wording::button_label(action)
    );
    InlineKeyboardButton::callback(label, actions::encode(action, job_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_posted_clip_has_no_cancel_button() {
        let data: Vec<String> = clip(7).inline_keyboard[0]
            .iter()
            .filter_map(|b| match &b.kind {
                teloxide::types::InlineKeyboardButtonKind::CallbackData(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(data, ["reel:reroll:7", "reel:delete:7"]);
    }
}
