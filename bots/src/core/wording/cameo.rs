//! What the bots say about cameos.

use reel_consent::{ApprovalMode, Audience, CameoInfo, Challenge, ClipUse, RegistryError, Status};

use super::{about, megabytes};
use crate::core::command::printable;
use crate::core::menu::{self, CAMEO_SUBCOMMANDS};

pub const NOT_ENABLED: &str =
    "Cameos are not enabled on this server: the operator has not set a master key.";

pub const NO_CAMEO: &str =
    "You have no cameo. Register your face and voice with /cameo register NAME.";

pub const ONE_CAMEO_NAME: &str = "Name one cameo, once, as cameo:NAME.";

pub const SUBMIT_NEEDS_PATH: &str =
    "Give the recording's file: /cameo submit /path/to/recording.mp4";

pub const NO_CLIPS: &str = "No clip has been made with your cameo.";

/// `/cameo` alone.
pub fn help() -> String {
    let mut text = String::from(
        "A cameo is your own face and voice, registered by you, for clips. You decide who may use it and can withdraw it at any time.\n",
    );
    for sub in &CAMEO_SUBCOMMANDS {
        text.push_str(&format!("{:<54} {}\n", sub.usage, sub.summary));
    }
    text.trim_end().to_string()
}

/// How sub-command `sub` is typed.
pub fn usage_of(sub: &str) -> String {
    match CAMEO_SUBCOMMANDS.iter().find(|s| s.name == sub) {
        Some(spec) => format!("Use: {}", spec.usage),
        None => unknown_subcommand(sub),
    }
}

pub fn unknown_subcommand(sub: &str) -> String {
    let names: Vec<&str> = CAMEO_SUBCOMMANDS.iter().map(|s| s.name).collect();
    format!(
        "/cameo {} is not a cameo command; try one of: {}.",
        printable(sub, 20),
        names.join(", ")
    )
}

pub fn not_an_audience(value: &str) -> String {
    format!(
        "“{}” is not an audience; use {}.",
        printable(value, 20),
        menu::AUDIENCES.join(", ")
    )
}

pub fn not_an_approval_mode(value: &str) -> String {
    format!(
        "“{}” is not an approval mode; use auto (no approval needed) or ask (you approve each clip).",
        printable(value, 20)
    )
}

pub fn not_a_user(platform: &str, typed: &str) -> String {
    let how = match platform {
        "discord" => "mention them (@name) or give their numeric user id",
        "telegram" => "give their numeric Telegram user id",
        _ => "give their user name (letters, digits, _ or -)",
    };
    format!("“{}” is not a user: {how}.", printable(typed, 40))
}

/// The owner has several cameos and did not say which.
pub fn which_cameo(names: &[String]) -> String {
    format!(
        "You have several cameos ({}): say which, e.g. cameo:{}.",
        names.join(", "),
        names.first().map(String::as_str).unwrap_or("NAME")
    )
}

fn audience_words(audience: Audience) -> &'static str {
    match audience {
        Audience::OnlyMe => "only you",
        Audience::Approved => "you and the users you allowed",
        Audience::Everyone => "everyone",
    }
}

fn approval_words(mode: ApprovalMode) -> &'static str {
    match mode {
        ApprovalMode::Auto => "auto (clips go straight to whoever asked)",
        ApprovalMode::Ask => "ask (you approve each clip first)",
    }
}

fn status_words(status: Status) -> &'static str {
    match status {
        Status::Pending => "being registered",
        Status::Active => "active",
        Status::Withdrawn => "withdrawn: nobody may use it",
        Status::Erased => "erased",
    }
}

/// One cameo in `/cameo status`.
pub fn status(cameo: &CameoInfo) -> String {
    let approved: Vec<&str> = cameo
        .approved_users
        .iter()
        .map(|p| p.user_id.as_str())
        .collect();
    let approved = match approved.is_empty() {
        true => "nobody".to_string(),
        false => approved.join(", "),
    };
    let restrictions = match cameo.restrictions.is_empty() {
        true => "none of your own (the built-in list always applies)".to_string(),
        false => format!("{} (and the built-in list)", cameo.restrictions.join(", ")),
    };
    format!(
        "Cameo {}: {}\nAudience: {}\nApproved users: {approved}\nApproval: {}\nRestrictions: {restrictions}",
        cameo.name,
        status_words(cameo.status),
        audience_words(cameo.audience),
        approval_words(cameo.approval),
    )
}

pub fn audience_set(name: &str, audience: Audience) -> String {
    let hint = match audience {
        Audience::Approved => " Allow people with /cameo allow USER.",
        Audience::OnlyMe | Audience::Everyone => "",
    };
    format!(
        "Cameo {name} may now be used by {}.{hint}",
        audience_words(audience)
    )
}

pub fn allowed(cameo: &CameoInfo, user: &str) -> String {
    let note = match cameo.audience {
        Audience::Approved => "",
        Audience::OnlyMe => {
            " It takes effect once the audience is approved: /cameo audience approved."
        }
        Audience::Everyone => " (The audience is everyone, so anyone may use it anyway.)",
    };
    format!(
        "{} is allowed to use cameo {}.{note}",
        printable(user, 64),
        cameo.name
    )
}

pub fn denied(cameo: &CameoInfo, user: &str) -> String {
    let note = match cameo.audience {
        Audience::Everyone => {
            " The audience is everyone, so they still may: /cameo audience approved limits it."
        }
        Audience::OnlyMe | Audience::Approved => "",
    };
    format!(
        "{} is no longer allowed to use cameo {}.{note}",
        printable(user, 64),
        cameo.name
    )
}

pub fn restricted(name: &str, phrases: &[String]) -> String {
    match phrases.is_empty() {
        true => format!(
            "Cameo {name} has no restrictions of yours now (the built-in list still applies)."
        ),
        false => format!(
            "No clip with cameo {name} may ask for: {}.",
            phrases.join(", ")
        ),
    }
}

pub fn approval_set(name: &str, mode: ApprovalMode) -> String {
    format!("Approval for cameo {name}: {}.", approval_words(mode))
}

pub fn withdrawn(name: &str) -> String {
    format!(
        "Consent withdrawn: nobody may use cameo {name} any more, and clips on the way with it are stopped. Its face and voice are kept until you /cameo erase it."
    )
}

pub fn erased(name: &str) -> String {
    format!("Cameo {name} is erased: its face, voice and key are destroyed.")
}

/// One clip in `/cameo clips`.
pub fn clip_use(clip: &ClipUse, stored: bool) -> String {
    let removed = match stored {
        true => "",
        false => " (removed)",
    };
    format!(
        "#{} with {}, asked by {}{removed}",
        clip.job_id, clip.cameo, clip.requester.user_id
    )
}

pub fn clip_list(lines: &[String], total: usize) -> String {
    let mut text = format!("Clips made with your likeness:\n{}", lines.join("\n"));
    if total > lines.len() {
        text.push_str(&format!("\n…and {} older.", total - lines.len()));
    }
    text
}

/// A Delete button for a clip that did not use the presser's cameo.
pub fn not_your_clip(id: i64) -> String {
    format!("There is no clip #{id} made with your cameo.")
}

pub fn clip_already_removed(id: i64) -> String {
    format!("Clip #{id} was already removed.")
}

pub fn clip_removed(id: i64) -> String {
    format!("Clip #{id} is removed: it is gone from our storage.")
}

/// The label of the Delete button under `/cameo clips`.
pub fn remove_button_label(id: i64) -> String {
    format!("Delete #{id}")
}

/// What the requester of a removed clip is told: nothing more.
pub fn removed_for_requester(id: i64) -> String {
    format!("#{id}'s clip was removed.")
}

/// How to answer a challenge, per platform.
pub fn how_to_answer(platform: &str) -> &'static str {
    match platform {
        "telegram" => "Send me, here in a private chat, a video note or a video of yourself reading it, recorded by you (not forwarded).",
        "discord" => "Answer with /cameo submit and the recording of yourself reading it attached.",
        _ => "Record yourself reading it, then send /cameo submit PATH with the recording's file.",
    }
}

/// `/cameo register NAME`'s answer: what the person agrees to and what to
/// read. `now_ms`: the database's time.
pub fn challenge(challenge: &Challenge, platform: &str, now_ms: i64) -> String {
    let text = &challenge.consent_text;
    let left = std::time::Duration::from_millis((challenge.expires_at - now_ms).max(0) as u64);
    format!(
        "To register cameo {name}, read this consent text (version {version}, SHA-256 {sha}…):\n\n{body}\n\nIf you agree, record one video of yourself, face to the camera, reading aloud:\n\n    {phrase}\n\n{how} The phrase works once and expires in {left}.",
        name = challenge.name,
        version = text.version,
        sha = text.sha256.chars().take(12).collect::<String>(),
        body = text.body,
        phrase = challenge.phrase,
        how = how_to_answer(platform),
        left = about(left),
    )
}

pub fn registered(cameo: &CameoInfo) -> String {
    format!(
        "Cameo {name} is registered. For now only you may use it: /video … cameo:{name}. To let others, /cameo audience approved and /cameo allow USER (or /cameo audience everyone); /cameo status shows its settings, /cameo withdraw stops all use at once.",
        name = cameo.name
    )
}

pub fn recording_too_large(bytes: u64, limit_bytes: u64) -> String {
    format!(
        "That recording is {}, over the {} limit; a few seconds of video are enough.",
        megabytes(bytes),
        megabytes(limit_bytes)
    )
}

/// Discord: `/cameo submit` without its attachment.
pub const ATTACH_RECORDING: &str =
    "Attach the recording of you reading the phrase to /cameo submit.";

pub const DOWNLOAD_FAILED: &str =
    "I couldn't fetch your recording from the chat service; nothing was stored. Please send it again.";

pub const CANNOT_READ_RECORDING: &str =
    "I can't read that file; give the path of a video file on this machine.";

/// A recording without a pending `/cameo register`.
pub const NO_CHALLENGE_HINT: &str =
    "There is no phrase of yours to answer: recordings register a cameo, so send /cameo register NAME first, then the recording.";

/// The registry's refusals, worded for the person who asked; `None` for
/// failures they cannot fix (logged, told as "nothing was changed").
/// Someone else's cameo reads exactly like a missing one.
pub fn registry_error(error: &RegistryError) -> Option<String> {
    Some(match error {
        RegistryError::InvalidName(name) => format!(
            "“{}” can't be a cameo name: use 2 to 20 lowercase letters, digits or _, starting with a letter.",
            printable(name, 40)
        ),
        RegistryError::NameTaken(name) => {
            format!("The cameo name {name} is taken; pick another.")
        }
        RegistryError::UnknownCameo(name) | RegistryError::NotOwner(name) => {
            format!("You have no cameo {name}.")
        }
        RegistryError::NotActive { name, status } => match status {
            Status::Pending => format!("Your cameo {name} is not registered yet."),
            Status::Withdrawn => format!(
                "Your cameo {name} is withdrawn, so it can't be changed; /cameo erase {name} destroys it, /cameo register starts again."
            ),
            Status::Active | Status::Erased => format!("You have no cameo {name}."),
        },
        RegistryError::InvalidRestrictions(why) => format!("Those restrictions can't be stored: {why}."),
        RegistryError::NoApprovalPending { job_id, .. } => nothing_to_answer(*job_id),
        RegistryError::NoChallenge => NO_CHALLENGE_HINT.to_string(),
        RegistryError::ChallengeExpired => {
            "Your phrase expired; ask for a new one with /cameo register NAME.".to_string()
        }
        RegistryError::ChallengeUsed => {
            "That phrase was already answered; ask for a new one with /cameo register NAME."
                .to_string()
        }
        RegistryError::Forwarded => "A forwarded recording can't register a cameo: record yourself reading the phrase and send that recording.".to_string(),
        RegistryError::Recording(refused) => refused.to_string(),
        RegistryError::Db(_)
        | RegistryError::MissingMedia(_)
        | RegistryError::UnknownConsentText(_)
        | RegistryError::WrongMasterKey { .. }
        | RegistryError::Undecryptable { .. }
        | RegistryError::Crypto(_)
        | RegistryError::Corrupt(_) => return None,
    })
}

/// `/cameo approve|reject N` about a clip that waits for nobody, or not
/// for this person (the two read the same).
pub fn nothing_to_answer(job_id: i64) -> String {
    format!("Clip #{job_id} is not waiting for your approval.")
}

pub fn answered(job_id: i64, approve: bool) -> String {
    match approve {
        true => format!("Approved: clip #{job_id} goes to the person who asked for it."),
        false => format!(
            "Rejected: clip #{job_id} is deleted and never posted; its requester is told only that you did not approve it."
        ),
    }
}
