//! Inline buttons. Each button's callback data names its action and job
//! (`rr:12`), so buttons keep working after a restart: nothing about them
//! is held in memory.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

/// What a button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Reroll,
    Cancel,
    Delete,
}

impl Action {
    fn prefix(self) -> &'static str {
        match self {
            Self::Reroll => "rr",
            Self::Cancel => "cx",
            Self::Delete => "del",
        }
    }
}

/// A decoded button press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Press {
    pub action: Action,
    pub job_id: i64,
}

/// `rr:12`; at most 24 bytes, well within Telegram's 64.
pub fn encode(action: Action, job_id: i64) -> String {
    format!("{}:{job_id}", action.prefix())
}

/// `None` for anything this version did not make (old formats, forgeries).
pub fn decode(data: &str) -> Option<Press> {
    let (prefix, id) = data.split_once(':')?;
    let action = [Action::Reroll, Action::Cancel, Action::Delete]
        .into_iter()
        .find(|a| a.prefix() == prefix)?;
    match id.parse::<i64>() {
        Ok(job_id) if job_id > 0 && !id.starts_with('+') => Some(Press { action, job_id }),
        _ => None,
    }
}

/// On the "queued" / progress message.
pub fn in_progress(job_id: i64) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[button("✖ Cancel", Action::Cancel, job_id)]])
}

/// Under a posted clip.
pub fn clip(job_id: i64) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[
        button("🎲 Re-roll", Action::Reroll, job_id),
        button("✖ Cancel", Action::Cancel, job_id),
        button("🗑 Delete", Action::Delete, job_id),
    ]])
}

fn button(label: &str, action: Action, job_id: i64) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(label, encode(action, job_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_fits() {
        for action in [Action::Reroll, Action::Cancel, Action::Delete] {
            let data = encode(action, i64::MAX);
            assert!(data.len() <= 64);
            assert_eq!(
                decode(&data),
                Some(Press {
                    action,
                    job_id: i64::MAX
                })
            );
        }
    }

    #[test]
    fn refuses_what_it_did_not_make() {
        for bad in [
            "",
            "rr",
            "rr:",
            "rr:x",
            "rr:-1",
            "rr:0",
            "rr:+5",
            "zz:5",
            "rr:5:6",
            "del:99999999999999999999",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
