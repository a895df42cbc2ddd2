//! Every sentence the bots say, in one place.

use std::ops::RangeInclusive;
use std::time::Duration;

use reel_store::{Job, JobState, QueuePlace, Refusal};

use super::actions::Action;
use super::command::printable;

pub mod cameo;
pub mod picture;

/// The `/help` text, from the command table.
pub fn help() -> String {
    super::menu::help()
}

/// "about 40 s", "about 2 min"
pub fn about(d: Duration) -> String {
    let secs = d.as_secs().max(1);
    if secs < 90 {
        format!("about {secs} s")
    } else if secs < 90 * 60 {
        format!("about {} min", secs.div_ceil(60))
    } else {
        format!("about {} h", secs.div_ceil(3600))
    }
}

pub fn queued(job: &Job, place: &QueuePlace, notes: &[String]) -> String {
    let mut text = format!(
        "#{} queued, position {} — ready in {}.",
        job.id,
        place.position,
        about(place.eta)
    );
    for note in notes {
        text.push(' ');
        text.push_str(note);
    }
    text
}

pub fn progress_bar(step: u32, total: u32) -> String {
    const WIDTH: u32 = 10;
    let filled = (step.min(total) * WIDTH).checked_div(total).unwrap_or(0);
    let mut bar = String::new();
    for i in 0..WIDTH {
        bar.push(if i < filled { '▰' } else { '▱' });
    }
    bar
}

/// The line shown while a job waits or renders.
pub fn progress(job: &Job, place: Option<&QueuePlace>) -> String {
    match job.state {
        JobState::Rendering if job.progress_total > 0 => {
            let pct = job.progress_step * 100 / job.progress_total;
            format!(
                "#{} rendering {} {pct}% · step {}/{}",
                job.id,
                progress_bar(job.progress_step, job.progress_total),
                job.progress_step,
                job.progress_total
            )
        }
        JobState::Rendering => format!("#{} rendering, starting up…", job.id),
        JobState::Queued => match place {
            Some(place) => format!(
                "#{} queued, position {} — ready in {}.",
                job.id,
                place.position,
                about(place.eta)
            ),
            None => format!("#{} queued.", job.id),
        },
        _ => status_line(job),
    }
}

/// What produced the clip, said plainly: the diagnostic renderer is never
/// passed off as a model.
pub fn renderer_label(renderer: Option<&str>) -> String {
    match renderer {
        Some("testsrc") => "testsrc (a test pattern, not a video model)".into(),
        Some(name) => name.into(),
        None => "unknown renderer".into(),
    }
}

pub fn clip_caption(job: &Job) -> String {
    clip_caption_with(job, str::to_string)
}

/// The caption with the prompt passed through `quote` (a platform's
/// escaping of its markup).
pub fn clip_caption_with(job: &Job, quote: impl Fn(&str) -> String) -> String {
    format!(
        "#{} “{}” · seed {} · {} s · {}×{} · {}",
        job.id,
        quote(&printable(&job.prompt, 200)),
        job.seed,
        job.duration_s,
        job.width,
        job.height,
        renderer_label(job.renderer.as_deref())
    )
}

/// The message for a job that ended without a clip.
pub fn outcome(job: &Job) -> String {
    let reason = job
        .failure_reason
        .as_deref()
        .unwrap_or("no reason was recorded");
    match job.state {
        JobState::Cancelled => format!("#{} was cancelled.", job.id),
        JobState::Blocked => format!("#{} was not made: {reason}", job.id),
        _ => format!(
            "#{} failed: {reason}. Nothing was posted; try /video again.",
            job.id
        ),
    }
}

pub fn status_line(job: &Job) -> String {
    let what = printable(&job.prompt, 60);
    match job.state {
        JobState::Queued => format!("#{} queued — “{what}”", job.id),
        JobState::Rendering => format!(
            "#{} rendering {} — “{what}”",
            job.id,
            progress_bar(job.progress_step, job.progress_total)
        ),
        JobState::Encoded => format!("#{} done, being posted — “{what}”", job.id),
        JobState::Delivered => format!("#{} delivered — “{what}”", job.id),
        JobState::Failed => format!("#{} failed ({}) — “{what}”", job.id, reason_of(job)),
        JobState::Cancelled => format!("#{} cancelled — “{what}”", job.id),
        JobState::Blocked => format!("#{} blocked ({}) — “{what}”", job.id, reason_of(job)),
    }
}

/// Why a job failed or was blocked, for a status line.
fn reason_of(job: &Job) -> &str {
    job.failure_reason
        .as_deref()
        .unwrap_or("no reason recorded")
}

pub fn refusal(refusal: &Refusal) -> String {
    let when = about(refusal.retry_after());
    match refusal {
        Refusal::TooManyActive { limit, .. } => format!(
            "You already have {limit} {} on the way, the most at once. Try again when one is done ({when}). Nothing was queued.",
            if *limit == 1 { "clip" } else { "clips" }
        ),
        Refusal::HourlyQuota { limit, .. } => format!(
            "You've made {limit} clips in the last hour, the hourly limit. Try again in {when}. Nothing was queued."
        ),
        Refusal::QueueFull { limit, .. } => format!(
            "The queue is full ({limit} clips waiting). Try again in {when}. Nothing was queued."
        ),
    }
}

pub const NO_ACTIVE_JOBS: &str = "You have no clips on the way. Start one with /video.";
pub const NO_HISTORY: &str = "You haven't made any clips yet. Start one with /video.";
pub const INTERNAL_ERROR: &str =
    "Something went wrong on our side; nothing was changed. Please try again in a minute.";

pub fn not_yours(id: i64) -> String {
    format!("There is no job #{id} of yours.")
}

pub fn delete_active(id: i64) -> String {
    format!("#{id} is still on the way; cancel it first if you don't want it.")
}

pub fn nothing_to_delete(id: i64) -> String {
    format!("#{id} has no clip to delete (it was never posted, or is already deleted).")
}

/// `/clip N` for a job without a clip to show.
pub fn no_clip(job: &Job) -> String {
    match job.state {
        JobState::Delivered => format!("#{}'s clip was deleted.", job.id),
        JobState::Queued | JobState::Rendering | JobState::Encoded => {
            format!("#{} is not finished yet; it is posted when it is.", job.id)
        }
        _ => format!("#{} has no clip: {}.", job.id, job.state),
    }
}

pub fn deleted(id: i64) -> String {
    format!("#{id} deleted: the clip is gone from our storage.")
}

/// The caption of a clip that was re-encoded to fit an upload limit.
pub fn shrunk_caption(caption: &str, limit_bytes: u64) -> String {
    format!(
        "{caption} · re-encoded smaller to fit the {} upload limit",
        megabytes(limit_bytes)
    )
}

/// The caption of a clip sent as a file because no video upload could take it.
pub fn as_file_caption(caption: &str) -> String {
    format!("{caption} · sent as a file, too large for a video post")
}

/// "50 MB"; "0.2 MB" for limits under one.
fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb >= 1.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{mb:.1} MB")
    }
}

/// A finished clip that no upload the chat allows can take, even re-encoded.
pub fn too_large_to_post(id: i64, bytes: u64, limit_bytes: u64) -> String {
    format!(
        "#{id} is ready, but even re-encoded it is {}, over the {} this chat lets me upload; it was not posted.",
        megabytes(bytes),
        megabytes(limit_bytes)
    )
}

/// A finished clip the bot may not attach where it was asked for.
pub fn cannot_attach(id: i64) -> String {
    format!(
        "#{id} is ready, but I am not allowed to attach files here. Ask a server admin to give me \
         the Attach Files permission in this channel, or send me /video in a direct message."
    )
}

/// A job's line in a `/status` answer that a whole group reads: where the
/// job is, never its prompt (a prompt is its requester's business).
pub fn progress_without_prompt(job: &Job, place: Option<&QueuePlace>) -> String {
    match job.state {
        JobState::Queued | JobState::Rendering => progress(job, place),
        _ => status_line_without_prompt(job),
    }
}

/// A job's line in a `/history` answer that a whole group reads.
pub fn status_line_without_prompt(job: &Job) -> String {
    format!("#{} {}", job.id, job.state)
}

pub fn consent_refused(reason: &str) -> String {
    format!("{reason}. Nothing was queued.")
}

pub const CONSENT_UNCONFIRMED: &str = "I can't confirm the cameos' consent right now, so \
    nothing was queued. Please try again in a few minutes.";

pub fn cancelled_before_start(id: i64) -> String {
    format!("#{id} cancelled; it never started.")
}

pub fn stopping(id: i64) -> String {
    format!("#{id} is stopping; it will end after the current step.")
}

pub fn nothing_to_cancel(id: i64, state: JobState) -> String {
    format!("#{id} is already {state}; there is nothing to cancel.")
}

pub fn too_many_reposts(wait: Duration) -> String {
    format!(
        "You've posted {} clips again in the last hour, the limit. Try again in {}.",
        super::reposts::REPOSTS_PER_USER,
        about(wait)
    )
}

/// A button this version did not make, or one for a job that is gone.
pub const STALE_BUTTON: &str = "This button no longer works. Send /video to start a new clip.";

pub const MEDIA_REFUSED: &str = "I can only read text, or a photo whose caption is the command: \
    send /video followed by what you want to see (videos, voice notes and other files are not \
    used). Nothing was queued.";

/// A command value of the wrong type (a stale Discord command registration).
pub const WRONG_OPTION_KIND: &str =
    "An option has a value of the wrong kind; please pick it again from the menu.";

pub const NOT_A_JOB_NUMBER: &str = "That is not a job number; job numbers look like 12.";

// What the command parser refuses. User words are echoed through
// `printable` (control characters replaced, cut short).

/// An empty message.
pub const EMPTY_MESSAGE: &str = "Send /video followed by what you want to see, or /help.";

/// Plain text where only commands are read (groups).
pub const NOT_A_COMMAND: &str = "Commands start with /. Try /help.";

/// `/clip` without a number.
pub const WHICH_CLIP: &str =
    "Which clip? Send /clip with its number, e.g. /clip 12 (/history lists them).";

/// `/video` without a prompt.
pub const EMPTY_PROMPT: &str = "Tell me what to film, e.g. /video a boy throws a ball in a park";

pub fn unknown_command(name: &str) -> String {
    format!(
        "I don't know the command /{}. Try /help.",
        printable(name, 32)
    )
}

/// A `key:value` option of ours before the end of the prompt.
pub fn options_go_at_the_end(option: &str) -> String {
    let option = printable(option, 32);
    format!(
        "Options go at the end: put {option} after what to film, e.g. /video a cat on a skateboard {option}."
    )
}

/// A typed job number that is not one.
pub fn not_a_job_number(typed: &str) -> String {
    format!(
        "`{}` is not a job number; job numbers look like 12.",
        printable(typed, 32)
    )
}

pub fn unknown_option(key: &str) -> String {
    format!(
        "Unknown option `{}:`. Options are duration:, seed:, aspect:, size:, cameo: and say:.",
        printable(key, 24)
    )
}

pub fn option_twice(key: &str) -> String {
    format!("The option {key}: is given twice.")
}

pub fn not_an_aspect(value: &str) -> String {
    format!(
        "aspect:{} is not an aspect; use landscape, portrait or square.",
        printable(value, 16)
    )
}

/// A size × duration over `render.max_pixel_frames`; `longest`: the
/// longest clip allowed at that size.
pub fn over_render_budget(width: u32, height: u32, seconds: u32, longest: u32) -> String {
    format!(
        "{width}×{height} for {seconds} s is more than this server can render in one clip. \
         Ask for a shorter clip or a smaller size (at {width}×{height}, up to {longest} s)."
    )
}

pub fn control_character(c: char) -> String {
    format!(
        "The prompt contains an invisible control character (U+{:04X}); please type it again without it.",
        c as u32
    )
}

pub fn format_character(c: char) -> String {
    format!(
        "The prompt contains an invisible formatting character (U+{:04X}), which can hide \
         text from readers; please type it again without it.",
        c as u32
    )
}

pub const EMPTY_SAY: &str =
    "The line to say is empty: write it in quotes, e.g. /video a cat waves say:\"hello there\"";

pub const SAY_UNTERMINATED: &str =
    "The line to say needs a closing quote, e.g. say:\"hello there\" (and a space after it).";

/// `/video … say:` where no speech model is configured: refused before
/// anything is queued rather than failing at the worker.
pub const NO_SPEECH_MODEL: &str = "Spoken lines (say:) are not available here: this reel has no \
     speech model set up. The operator can add one (`reel pull csm-1b`, then voice.model_dir). \
     Send the request again without say: for a clip without speech.";

pub fn say_too_long(chars: usize, max_chars: usize) -> String {
    format!(
        "The line to say is {chars} characters long; at most {max_chars} can be spoken. Please shorten it."
    )
}

pub fn say_hidden_character(c: char) -> String {
    format!(
        "The line to say contains an invisible character (U+{:04X}); please type it again without it.",
        c as u32
    )
}

pub fn prompt_too_long(chars: usize, max_chars: usize) -> String {
    format!("The prompt is {chars} characters long; the limit is {max_chars}. Please shorten it.")
}

/// "2 to 4 seconds"
fn seconds_range(allowed: &RangeInclusive<u32>) -> String {
    format!("{} to {} seconds", allowed.start(), allowed.end())
}

pub fn duration_out_of_range(value: &str, allowed: &RangeInclusive<u32>) -> String {
    format!(
        "duration:{} is out of range; clips are {}.",
        printable(value, 16),
        seconds_range(allowed)
    )
}

pub fn duration_not_a_number(value: &str, allowed: &RangeInclusive<u32>) -> String {
    format!(
        "duration:{} is not a number of seconds; use {}, e.g. duration:5.",
        printable(value, 16),
        seconds_range(allowed)
    )
}

pub fn not_a_seed(value: &str, max: u64) -> String {
    format!(
        "seed:{} is not a seed; use a whole number from 0 to {max}.",
        printable(value, 24)
    )
}

pub fn not_a_size(value: &str, min_side: u32, max_width: u32, max_height: u32) -> String {
    format!(
        "size:{} is not a size; use WIDTHxHEIGHT from {min_side}x{min_side} to {max_width}x{max_height}, e.g. size:640x384.",
        printable(value, 24)
    )
}

/// The note on a size that was rounded to the model's grid.
pub fn size_rounded(width: u32, height: u32, step: u32) -> String {
    format!("Size rounded down to {width}×{height} (sides are multiples of {step}).")
}

pub fn not_a_cameo_name(value: &str) -> String {
    format!(
        "cameo:{} is not a cameo name; names use letters, digits, _ and -.",
        printable(value, 32)
    )
}

pub fn cannot_post_again(id: i64) -> String {
    format!("#{id} could not be posted again; try later.")
}

/// A clip over every upload limit a Telegram bot has.
pub fn too_large_for_telegram(id: i64, bytes: u64, limit_bytes: u64) -> String {
    format!(
        "#{id} is ready but {}, over the {} Telegram lets bots upload; it was not posted.",
        megabytes(bytes),
        megabytes(limit_bytes)
    )
}

/// A message from a shared account (Telegram's anonymous admins, channel
/// posts relayed by Telegram): who sent it cannot be told apart.
pub const SHARED_ACCOUNT: &str = "I can't tell who sent this: it comes from an account many \
    people share (an anonymous group admin, or a post relayed into the group). Send it as \
    yourself (turn off \"Remain anonymous\"), or message me privately. Nothing was queued.";

/// A button's label.
pub fn button_label(action: Action) -> &'static str {
    match action {
        Action::Reroll => "Re-roll",
        Action::Cancel => "Cancel",
        Action::Delete | Action::RemoveCameoClip => "Delete",
    }
}

/// A button's emoji.
pub fn button_emoji(action: Action) -> &'static str {
    match action {
        Action::Reroll => "🎲",
        Action::Cancel => "✖",
        Action::Delete | Action::RemoveCameoClip => "🗑",
    }
}

/// The file name a clip is uploaded under.
pub fn clip_file_name(job_id: i64) -> String {
    format!("reel-{job_id}.mp4")
}

// Discord's descriptions of `/video`'s typed options.

pub const PROMPT_OPTION_ABOUT: &str = "What to film";
pub const ASPECT_OPTION_ABOUT: &str = "Landscape (default), portrait or square";
pub const CAMEO_OPTION_ABOUT: &str = "A registered person's cameo to appear in the clip";
pub const SAY_OPTION_ABOUT: &str =
    "A line spoken in the clip (in the cameo's own voice when you name a cameo)";
pub const SEED_OPTION_ABOUT: &str = "Same seed + same prompt = same clip";

pub fn duration_option_about(allowed: &RangeInclusive<u32>, default: u32) -> String {
    format!(
        "Length in seconds ({} to {}, default {default})",
        allowed.start(),
        allowed.end()
    )
}

// The terminal chat (`reel chat`).

pub const TERMINAL_GREETING: &str =
    "reel chat — type /video <what to film>, or /help. End with /quit or Ctrl-D.";

/// Said once when the input ends while clips are still on the way.
pub const WAITING_FOR_CLIPS: &str = "Waiting for your clips to finish…";

/// Where a clip is when it has no local path.
pub const CLIP_STORAGE: &str = "clip storage";

pub fn in_clip_storage(key: &str) -> String {
    format!("{CLIP_STORAGE} as {key}")
}

pub fn terminal_clip_written(caption: &str, place: &str, bytes: usize) -> String {
    format!("✔ {caption}\n  clip written to {place} ({bytes} bytes)")
}

/// `/clip` in the terminal: where the clip was written.
pub fn terminal_clip_at(caption: &str, place: &str) -> String {
    format!("✔ {caption}\n  clip at {place}")
}

pub fn cannot_read_input(error: &std::io::Error) -> String {
    format!("cannot read input: {error}")
}

// Approval mode `ask` (approval_hold.rs).

/// To a cameo's owner, privately, with the clip: may it go out?
pub fn approval_request(job: &Job, cameo: &str, quote: impl Fn(&str) -> String) -> String {
    format!(
        "Clip #{} uses your cameo `{cameo}`, asked for by {} user {}: “{}”. \
         It goes to them only if you approve (/cameo approve {} or /cameo reject {}).",
        job.id,
        job.platform,
        job.user_id,
        quote(&printable(&job.prompt, 200)),
        job.id,
        job.id
    )
}

/// The requester's status while the owner decides.
pub fn awaiting_approval(job: &Job) -> String {
    format!(
        "#{} is ready and waits for the cameo's owner to approve it.",
        job.id
    )
}

/// Why a clip was not posted: its cameo's owner said no. Names nothing
/// else about the owner.
pub fn approval_refused(cameo: &str) -> String {
    format!("the owner of cameo `{cameo}` did not approve this clip, so it was deleted")
}

pub fn approval_timed_out(cameo: &str) -> String {
    format!(
        "the owner of cameo `{cameo}` did not answer within {} hours, so the clip was deleted",
        super::approval_hold::APPROVAL_TIMEOUT.as_secs() / 3600
    )
}
