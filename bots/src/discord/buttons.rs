//! Message buttons. Each `custom_id` names its action and job
//! (`reel:reroll:42`), so buttons keep working after a restart: nothing
//! about them is held in memory.

use serenity::builder::{CreateActionRow, CreateButton};
use serenity::model::application::ButtonStyle;

const PREFIX: &str = "reel";

/// What a button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Reroll,
    Cancel,
    Delete,
}

impl Action {
    const ALL: [Action; 3] = [Action::Reroll, Action::Cancel, Action::Delete];

    fn word(self) -> &'static str {
        match self {
            Self::Reroll => "reroll",
            Self::Cancel => "cancel",
            Self::Delete => "delete",
        }
    }
}

/// A decoded button press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Press {
    pub action: Action,
    pub job_id: i64,
}

/// `reel:reroll:42`; at most 31 characters, within Discord's 100.
pub fn encode(action: Action, job_id: i64) -> String {
    format!("{PREFIX}:{}:{job_id}", action.word())
}

/// `None` for anything this version did not make (old formats, forgeries).
pub fn decode(custom_id: &str) -> Option<Press> {
    let mut parts = custom_id.splitn(3, ':');
    if parts.next()? != PREFIX {
        return None;
    }
    let word = parts.next()?;
    let id = parts.next()?;
    let action = Action::ALL.into_iter().find(|a| a.word() == word)?;
    match id.parse::<i64>() {
        Ok(job_id) if job_id > 0 && id.bytes().all(|b| b.is_ascii_digit()) => {
            Some(Press { action, job_id })
        }
        _ => None,
    }
}

/// Under the "queued" / progress message.
pub fn in_progress(job_id: i64) -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![button(
        "Cancel",
        "✖",
        ButtonStyle::Secondary,
        Action::Cancel,
        job_id,
    )])]
}

/// Under a posted clip (finished: nothing left to cancel).
pub fn clip(job_id: i64) -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        button(
            "Re-roll",
            "🎲",
            ButtonStyle::Primary,
            Action::Reroll,
            job_id,
        ),
        button("Delete", "🗑", ButtonStyle::Danger, Action::Delete, job_id),
    ])]
}

fn button(label: &str, emoji: &str, style: ButtonStyle, action: Action, job: i64) -> CreateButton {
    CreateButton::new(encode(action, job))
        .label(label)
        .emoji(serenity::model::channel::ReactionType::Unicode(
            emoji.into(),
        ))
        .style(style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_fits() {
        for action in Action::ALL {
            let id = encode(action, i64::MAX);
            assert!(id.len() <= 100);
            assert_eq!(
                decode(&id),
                Some(Press {
                    action,
                    job_id: i64::MAX
                })
            );
        }
        assert_eq!(encode(Action::Reroll, 42), "reel:reroll:42");
    }

    #[test]
    fn refuses_what_it_did_not_make() {
        for bad in [
            "",
            "reel",
            "reel:reroll",
            "reel:reroll:",
            "reel:reroll:x",
            "reel:reroll:-1",
            "reel:reroll:0",
            "reel:reroll:+5",
            "reel:zap:5",
            "other:reroll:5",
            "reel:reroll:5:6",
            "reel:delete:99999999999999999999",
            "rr:5",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
