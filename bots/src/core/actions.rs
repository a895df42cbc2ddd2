//! Message buttons, for every platform: what each button asks for, how it
//! is written into the platform's callback data (`reel:reroll:42`), and
//! which buttons a job shows in each state. Buttons name their action and
//! job, so they keep working after a restart: nothing is held in memory.

use reel_store::JobState;

const PREFIX: &str = "reel";

/// What a button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Reroll,
    Cancel,
    Delete,
    /// A cameo's owner removes a clip made with their likeness (under
    /// `/cameo clips`).
    RemoveCameoClip,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::Reroll,
        Action::Cancel,
        Action::Delete,
        Action::RemoveCameoClip,
    ];

    fn word(self) -> &'static str {
        match self {
            Self::Reroll => "reroll",
            Self::Cancel => "cancel",
            Self::Delete => "delete",
            Self::RemoveCameoClip => "unclip",
        }
    }

    /// The short prefix Telegram buttons used before the codec was shared;
    /// such buttons are still under old messages.
    fn legacy_telegram(self) -> Option<&'static str> {
        match self {
            Self::Reroll => Some("rr"),
            Self::Cancel => Some("cx"),
            Self::Delete => Some("del"),
            Self::RemoveCameoClip => None,
        }
    }
}

/// A decoded button press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Press {
    pub action: Action,
    pub job_id: i64,
}

/// `reel:reroll:42`: at most 31 bytes, within Telegram's 64 and Discord's 100.
pub fn encode(action: Action, job_id: i64) -> String {
    format!("{PREFIX}:{}:{job_id}", action.word())
}

/// `None` for anything this version did not make (foreign formats, forgeries).
pub fn decode(data: &str) -> Option<Press> {
    let mut parts = data.splitn(3, ':');
    let first = parts.next()?;
    let (action, id) = if first == PREFIX {
        let word = parts.next()?;
        let id = parts.next()?;
        (Action::ALL.into_iter().find(|a| a.word() == word)?, id)
    } else {
        let id = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let action = Action::ALL
            .into_iter()
            .find(|a| a.legacy_telegram() == Some(first))?;
        (action, id)
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match id.parse::<i64>() {
        Ok(job_id) if job_id > 0 => Some(Press { action, job_id }),
        _ => None,
    }
}

/// The buttons under a job's message in `state`, in order. `clip_posted`:
/// the message is the posted clip (rather than the status line).
pub fn buttons_for(state: JobState, clip_posted: bool) -> &'static [Action] {
    match state {
        JobState::Queued | JobState::Rendering => &[Action::Cancel],
        // Finished: nothing left to cancel.
        JobState::Encoded | JobState::Delivered if clip_posted => &[Action::Reroll, Action::Delete],
        JobState::Encoded | JobState::Delivered => &[],
        JobState::Failed | JobState::Cancelled | JobState::Blocked => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_fits_every_platform() {
        for action in Action::ALL {
            let data = encode(action, i64::MAX);
            assert!(data.len() <= 64, "{data}");
            assert_eq!(
                decode(&data),
                Some(Press {
                    action,
                    job_id: i64::MAX
                })
            );
        }
        assert_eq!(encode(Action::Reroll, 42), "reel:reroll:42");
        // Buttons under Telegram messages from before the shared codec.
        assert_eq!(
            decode("cx:7"),
            Some(Press {
                action: Action::Cancel,
                job_id: 7
            })
        );
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
            "rr",
            "rr:",
            "rr:+5",
            "rr:5:6",
            "zz:5",
            "unclip:5",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_finished_clip_has_no_cancel_button() {
        assert_eq!(buttons_for(JobState::Rendering, false), &[Action::Cancel]);
        assert_eq!(
            buttons_for(JobState::Delivered, true),
            &[Action::Reroll, Action::Delete]
        );
        assert_eq!(
            buttons_for(JobState::Encoded, true),
            &[Action::Reroll, Action::Delete]
        );
        for state in [JobState::Failed, JobState::Cancelled, JobState::Blocked] {
            assert!(buttons_for(state, false).is_empty());
        }
    }
}
