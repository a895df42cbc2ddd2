//! The command language: `/video <prompt> [duration:5] [seed:42] [aspect:portrait]
//! [size:640x384] [cameo:name] [say:"a line"]`, `/status [job]`, `/cancel [job]`, `/history`,
//! `/clip <job>`, `/help`, `/cameo …` (see `cameo/parse.rs`). Options are `key:value` words at the end of the message.

use std::ops::RangeInclusive;

use rand::Rng;

use super::cameo::{self, CameoCommand};
use super::wording;

/// A message the user must fix; shown to them as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Video(VideoRequest),
    Status(Option<i64>),
    Cancel(Option<i64>),
    History,
    /// Post a finished clip again, here.
    Clip(i64),
    Help,
    /// `/cameo …`: the sender's cameo.
    Cameo(CameoCommand),
}

/// A `/video` request as the user gave it, before validation. Adapters with
/// structured options (Discord's slash commands) build this directly.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoRequest {
    pub prompt: String,
    /// `(key, value)` pairs, e.g. `("duration", "5")`.
    pub options: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aspect {
    Landscape,
    Portrait,
    Square,
}

impl Aspect {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "landscape" | "wide" | "3:2" | "16:9" => Some(Self::Landscape),
            "portrait" | "tall" | "2:3" | "9:16" => Some(Self::Portrait),
            "square" | "1:1" => Some(Self::Square),
            _ => None,
        }
    }
}

/// What a `/video` request may ask for; from config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderSettings {
    pub max_prompt_chars: usize,
    pub durations: RangeInclusive<u32>,
    pub default_duration: u32,
    pub fps: u32,
    /// Landscape size; portrait swaps it, square uses the shorter side.
    pub width: u32,
    pub height: u32,
    pub max_width: u32,
    pub max_height: u32,
    /// The most width × height × frames one clip may ask for: what a render
    /// host's memory allows. A size and a duration each within bounds can
    /// together be far over it (1280×1280 for 10 s is four times 768×512).
    pub max_pixel_frames: u64,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            max_prompt_chars: 500,
            durations: 1..=10,
            default_duration: 5,
            fps: 24,
            width: 768,
            height: 512,
            max_width: 1280,
            max_height: 1280,
            // The default size at the longest duration.
            max_pixel_frames: 768 * 512 * 24 * 10,
        }
    }
}

/// A request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidVideo {
    pub prompt: String,
    pub duration_s: u32,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub seed: u64,
    pub cameo_ids: Vec<String>,
    /// A line the clip speaks (`say:"…"`), whitespace runs made one space.
    pub say_line: Option<String>,
    /// Things the user should know (e.g. a size that was rounded).
    pub notes: Vec<String>,
}

const OPTION_KEYS: [&str; 6] = ["duration", "seed", "aspect", "size", "cameo", "say"];
/// The longest line `say:` takes, in characters: the speech model's own
/// limit (`reel_engine::voice::MAX_LINE_CHARS`, about 20 s of speech; a
/// test holds the two equal), so a line the chat accepts is never refused
/// by the worker. The chat crate does not link the engine, hence the copy.
pub const MAX_SAY_CHARS: usize = 300;
/// Quotes a `say:` line may be written in: straight, and the curly pair
/// phones type for them.
const QUOTES: [(char, char); 2] = [('"', '"'), ('\u{201C}', '\u{201D}')];
const MAX_SEED: u64 = u32::MAX as u64;
/// Sizes are multiples of this (what the video model's latent grid needs).
const SIZE_STEP: u32 = 32;
const MIN_SIDE: u32 = 64;

/// Parses one chat message. `plain_text_is_prompt`: a message without a
/// leading `/` is a `/video` prompt (private chats, the terminal).
pub fn parse(text: &str, plain_text_is_prompt: bool) -> Result<Command, UsageError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(usage(wording::EMPTY_MESSAGE));
    }
    let Some(rest) = text.strip_prefix('/') else {
        if plain_text_is_prompt {
            return Ok(Command::Video(split_options(text)?));
        }
        return Err(usage(wording::NOT_A_COMMAND));
    };
    let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    // Telegram addresses commands as /video@botname in groups.
    let name = word.split('@').next().unwrap_or(word).to_lowercase();
    let args = args.trim();
    match name.as_str() {
        "video" => Ok(Command::Video(split_options(args)?)),
        "status" => Ok(Command::Status(optional_job_id(args)?)),
        "cancel" => Ok(Command::Cancel(optional_job_id(args)?)),
        "history" => Ok(Command::History),
        "clip" => match optional_job_id(args)? {
            Some(id) => Ok(Command::Clip(id)),
            None => Err(usage(wording::WHICH_CLIP)),
        },
        "help" | "start" => Ok(Command::Help),
        "cameo" => Ok(Command::Cameo(cameo::parse(args)?)),
        _ => Err(usage(wording::unknown_command(&name))),
    }
}

/// Splits trailing `key:value` words off the prompt. An option of ours
/// before the end would silently become part of the prompt: refused.
fn split_options(args: &str) -> Result<VideoRequest, UsageError> {
    let (args, line) = take_quoted_line(args)?;
    if take_quoted_line(&args)?.1.is_some() {
        return Err(usage(wording::option_twice("say")));
    }
    let words: Vec<&str> = args.split_whitespace().collect();
    let mut first_option = words.len();
    while first_option > 0 && looks_like_option(words[first_option - 1]) {
        first_option -= 1;
    }
    if let Some(misplaced) = words[..first_option].iter().find(|w| is_known_option(w)) {
        return Err(usage(wording::options_go_at_the_end(misplaced)));
    }
    let mut options: Vec<(String, String)> = words[first_option..]
        .iter()
        .filter_map(|w| w.split_once(':'))
        .map(|(k, v)| (k.to_lowercase(), v.to_string()))
        .collect();
    options.extend(line.map(|line| ("say".to_string(), line)));
    Ok(VideoRequest {
        prompt: words[..first_option].join(" "),
        options,
    })
}

/// Takes the first quoted `say:"…"` out of `args`: the line holds spaces
/// (and maybe colons) that the word-wise option split would break up. Like
/// any option it stands among the trailing options; only what follows it
/// is checked here, the words before it are checked as usual. Returns the
/// rest of `args` and the line as typed (validated later, see `validate`).
fn take_quoted_line(args: &str) -> Result<(String, Option<String>), UsageError> {
    let found = args.char_indices().find_map(|(at, _)| {
        let starts_word = args[..at]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace);
        let key = args.get(at..at + 4)?;
        let open = args[at + 4..].chars().next()?;
        let close = QUOTES.iter().find(|(o, _)| *o == open).map(|(_, c)| *c)?;
        (starts_word && key.eq_ignore_ascii_case("say:")).then_some((at, open, close))
    });
    let Some((at, open, close)) = found else {
        return Ok((args.to_string(), None));
    };
    let body_start = at + 4 + open.len_utf8();
    let body_len = args[body_start..]
        .find(|c| c == close || (close != '"' && c == '"'))
        .ok_or_else(|| usage(wording::SAY_UNTERMINATED))?;
    let body_end = body_start + body_len;
    let after = body_end + args[body_end..].chars().next().map_or(0, char::len_utf8);
    let tail = &args[after..];
    if !tail.is_empty() && !tail.starts_with(char::is_whitespace) {
        return Err(usage(wording::SAY_UNTERMINATED));
    }
    if !tail.split_whitespace().all(looks_like_option) {
        return Err(usage(wording::options_go_at_the_end("say:\"…\"")));
    }
    let rest = format!("{} {}", &args[..at], tail);
    Ok((rest, Some(args[body_start..body_end].to_string())))
}

fn is_known_option(word: &str) -> bool {
    looks_like_option(word)
        && word
            .split_once(':')
            .is_some_and(|(key, _)| OPTION_KEYS.contains(&key.to_lowercase().as_str()))
}

fn looks_like_option(word: &str) -> bool {
    match word.split_once(':') {
        Some((key, value)) => {
            !key.is_empty() && !value.is_empty() && key.chars().all(|c| c.is_ascii_alphabetic())
        }
        None => false,
    }
}

fn optional_job_id(args: &str) -> Result<Option<i64>, UsageError> {
    let arg = args.trim().trim_start_matches('#');
    if arg.is_empty() {
        return Ok(None);
    }
    match arg.parse::<i64>() {
        Ok(id) if id > 0 => Ok(Some(id)),
        _ => Err(usage(wording::not_a_job_number(args))),
    }
}

/// Checks a `/video` request against the settings.
pub fn validate(req: &VideoRequest, settings: &RenderSettings) -> Result<ValidVideo, UsageError> {
    let prompt = clean_prompt(&req.prompt, settings.max_prompt_chars)?;
    let mut video = ValidVideo {
        prompt,
        duration_s: settings.default_duration,
        width: settings.width,
        height: settings.height,
        fps: settings.fps,
        seed: rand::thread_rng().gen_range(0..=MAX_SEED),
        cameo_ids: Vec::new(),
        say_line: None,
        notes: Vec::new(),
    };
    let mut seen = Vec::new();
    for (key, value) in &req.options {
        let key = key.as_str();
        if !OPTION_KEYS.contains(&key) {
            return Err(usage(wording::unknown_option(key)));
        }
        if key != "cameo" && seen.contains(&key) {
            return Err(usage(wording::option_twice(key)));
        }
        seen.push(key);
        match key {
            "duration" => video.duration_s = duration(value, &settings.durations)?,
            "seed" => video.seed = seed(value)?,
            "aspect" => {
                let aspect = Aspect::parse(&value.to_lowercase())
                    .ok_or_else(|| usage(wording::not_an_aspect(value)))?;
                (video.width, video.height) = aspect_size(aspect, settings);
            }
            "size" => {
                let (w, h, note) = size(value, settings)?;
                (video.width, video.height) = (w, h);
                video.notes.extend(note);
            }
            "say" => video.say_line = Some(clean_line(value)?),
            _ => video.cameo_ids.push(cameo(value)?),
        }
    }
    let frames = u64::from(video.duration_s) * u64::from(video.fps);
    let pixel_frames = u64::from(video.width) * u64::from(video.height) * frames;
    if pixel_frames > settings.max_pixel_frames {
        let longest = longest_within(settings, video.width, video.height);
        return Err(usage(wording::over_render_budget(
            video.width,
            video.height,
            video.duration_s,
            longest,
        )));
    }
    Ok(video)
}

/// The longest duration (seconds, at least the shortest allowed) whose
/// frames at `width`×`height` fit the budget.
fn longest_within(settings: &RenderSettings, width: u32, height: u32) -> u32 {
    let per_second = u64::from(width) * u64::from(height) * u64::from(settings.fps.max(1));
    let secs = settings.max_pixel_frames / per_second.max(1);
    (secs.min(u64::from(*settings.durations.end())) as u32).max(*settings.durations.start())
}

fn clean_prompt(raw: &str, max_chars: usize) -> Result<String, UsageError> {
    if let Some(bad) = hidden_char(raw) {
        return Err(usage(wording::control_character(bad)));
    }
    if let Some(bad) = invisible_format_char(raw) {
        return Err(usage(wording::format_character(bad)));
    }
    let prompt = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if prompt.is_empty() {
        return Err(usage(wording::EMPTY_PROMPT));
    }
    let chars = prompt.chars().count();
    if chars > max_chars {
        return Err(usage(wording::prompt_too_long(chars, max_chars)));
    }
    Ok(prompt)
}

/// A `say:` line, by the prompt's rules (what the speech model's
/// `check_line` refuses is refused here first, and invisible formatting
/// too): no control characters, not empty, at most [`MAX_SAY_CHARS`].
fn clean_line(raw: &str) -> Result<String, UsageError> {
    if let Some(bad) = hidden_char(raw).or_else(|| invisible_format_char(raw)) {
        return Err(usage(wording::say_hidden_character(bad)));
    }
    let line = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return Err(usage(wording::EMPTY_SAY));
    }
    let chars = line.chars().count();
    if chars > MAX_SAY_CHARS {
        return Err(usage(wording::say_too_long(chars, MAX_SAY_CHARS)));
    }
    Ok(line)
}

/// A control character other than line breaks and tabs, or a bidi control.
fn hidden_char(text: &str) -> Option<char> {
    text.chars()
        .find(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || is_bidi_control(*c))
}

/// Characters that reorder text invisibly (used to disguise what a prompt says).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// The first Unicode format (Cf) character in `text`: zero-width spaces
/// and joiners, the byte-order mark, invisible operators, tag characters.
/// A zero-width joiner between two emoji (👩‍💻) is allowed: that is how
/// emoji are composed.
fn invisible_format_char(text: &str) -> Option<char> {
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().find_map(|(i, &c)| {
        if !is_format_char(c) {
            return None;
        }
        let emoji_joiner = c == '\u{200D}'
            && i > 0
            && chars.get(i + 1).is_some_and(|next| is_pictographic(*next))
            && (is_pictographic(chars[i - 1]) || chars[i - 1] == '\u{FE0F}');
        (!emoji_joiner).then_some(c)
    })
}

/// Unicode's General_Category=Cf (Unicode 15.1).
fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}'
        | '\u{0890}'..='\u{0891}' | '\u{08E2}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// Roughly Extended_Pictographic: the emoji blocks a joiner may link.
fn is_pictographic(c: char) -> bool {
    matches!(c, '\u{2600}'..='\u{27BF}' | '\u{1F000}'..='\u{1FAFF}')
}

fn duration(value: &str, allowed: &RangeInclusive<u32>) -> Result<u32, UsageError> {
    let digits = value.strip_suffix('s').unwrap_or(value);
    match digits.parse::<u32>() {
        Ok(secs) if allowed.contains(&secs) => Ok(secs),
        Ok(_) => Err(usage(wording::duration_out_of_range(value, allowed))),
        Err(_) => Err(usage(wording::duration_not_a_number(value, allowed))),
    }
}

fn seed(value: &str) -> Result<u64, UsageError> {
    match value.parse::<u64>() {
        Ok(seed) if seed <= MAX_SEED => Ok(seed),
        _ => Err(usage(wording::not_a_seed(value, MAX_SEED))),
    }
}

fn aspect_size(aspect: Aspect, s: &RenderSettings) -> (u32, u32) {
    match aspect {
        Aspect::Landscape => (s.width, s.height),
        Aspect::Portrait => (s.height, s.width),
        Aspect::Square => {
            let side = s.width.min(s.height);
            (side, side)
        }
    }
}

fn size(value: &str, s: &RenderSettings) -> Result<(u32, u32, Option<String>), UsageError> {
    let bad = || {
        usage(wording::not_a_size(
            value,
            MIN_SIDE,
            s.max_width,
            s.max_height,
        ))
    };
    let (w, h) = value
        .to_lowercase()
        .split_once('x')
        .ok_or_else(bad)
        .and_then(|(w, h)| {
            Ok((
                w.parse::<u32>().map_err(|_| bad())?,
                h.parse::<u32>().map_err(|_| bad())?,
            ))
        })?;
    if !(MIN_SIDE..=s.max_width).contains(&w) || !(MIN_SIDE..=s.max_height).contains(&h) {
        return Err(bad());
    }
    let (rw, rh) = (w / SIZE_STEP * SIZE_STEP, h / SIZE_STEP * SIZE_STEP);
    let note = (rw != w || rh != h).then(|| wording::size_rounded(rw, rh, SIZE_STEP));
    Ok((rw, rh, note))
}

fn cameo(value: &str) -> Result<String, UsageError> {
    let name = value.trim_start_matches('@');
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(name.to_lowercase())
    } else {
        Err(usage(wording::not_a_cameo_name(value)))
    }
}

/// User text echoed back in a message: control characters replaced, cut to length.
pub(crate) fn printable(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_control() || is_bidi_control(c) || is_format_char(c) {
                '?'
            } else {
                c
            }
        })
        .take(max_chars)
        .collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}
