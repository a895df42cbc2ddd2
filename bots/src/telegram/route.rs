//! Which messages are for the bot: everything in a private chat; in groups
//! only commands addressed to it (`/video@reel_bot`, or a bare command of
//! its own) and messages that start by mentioning it.

use teloxide::types::Message;

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// Not for the bot (group chatter, other bots' commands, service messages).
    Ignore,
    /// A photo, voice note, file… sent to the bot: refused.
    Media,
    /// A video note or video in a private chat: a cameo registration
    /// recording, if `/cameo` is enabled.
    Recording(Recording),
    /// Text for the command core.
    Text { text: String, plain_is_prompt: bool },
    /// A photo (or an image sent as a file) whose caption is a `/video`
    /// command for the bot: the picture starts the clip.
    Picture { text: String, picture: Picture },
}

/// A picture's files as Telegram describes them, before any download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// `(file_id, declared bytes)`, smallest first: a photo's sizes, or
    /// the one file of a document.
    pub sizes: Vec<(String, u64)>,
    /// A document's declared MIME type; photos are always JPEG.
    pub mime: Option<String>,
}

/// The file of a recording, as Telegram describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub file_id: String,
    /// As Telegram reports it (before any download).
    pub bytes: u64,
    /// Forwarded from elsewhere, not recorded by the sender here.
    pub forwarded: bool,
}

pub fn incoming(msg: &Message, bot_username: &str) -> Incoming {
    let private = msg.chat.is_private();
    let Some(text) = msg.text() else {
        if let Some(incoming) = captioned_picture(msg, bot_username) {
            return incoming;
        }
        if let (true, Some(recording)) = (private, recording(msg)) {
            return Incoming::Recording(recording);
        }
        return match private && is_media(msg) {
            true => Incoming::Media,
            false => Incoming::Ignore,
        };
    };
    if private {
        return Incoming::Text {
            text: text.into(),
            plain_is_prompt: true,
        };
    }
    in_group(text, bot_username)
}

fn in_group(text: &str, bot_username: &str) -> Incoming {
    let text = text.trim_start();
    if let Some(command) = text.strip_prefix('/') {
        let word = command.split(char::is_whitespace).next().unwrap_or("");
        let ours = match word.split_once('@') {
            Some((_, addressee)) => addressee.eq_ignore_ascii_case(bot_username),
            None => crate::core::menu::find(word).is_some() || word == "start",
        };
        return match ours {
            true => Incoming::Text {
                text: text.into(),
                plain_is_prompt: false,
            },
            false => Incoming::Ignore,
        };
    }
    let mention = format!("@{bot_username}");
    let Some(rest) = strip_prefix_ignore_case(text, &mention) else {
        return Incoming::Ignore;
    };
    if bot_username.is_empty() || rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    {
        return Incoming::Ignore;
    }
    let rest = rest.trim_start_matches([',', ':']).trim();
    Incoming::Text {
        text: rest.into(),
        plain_is_prompt: true,
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// A photo or image document whose caption is `/video …` for this bot
/// (`/video@botname` in groups too); `None` for any other caption.
fn captioned_picture(msg: &Message, bot_username: &str) -> Option<Incoming> {
    let caption = msg.caption()?;
    let picture = picture(msg)?;
    let text = match msg.chat.is_private() {
        true => caption.trim_start().to_string(),
        false => match in_group(caption, bot_username) {
            Incoming::Text { text, .. } => text,
            _ => return None,
        },
    };
    let word = text.strip_prefix('/')?.split(char::is_whitespace).next()?;
    let name = word.split('@').next().unwrap_or(word);
    name.eq_ignore_ascii_case("video")
        .then_some(Incoming::Picture { text, picture })
}

fn picture(msg: &Message) -> Option<Picture> {
    if let Some(sizes) = msg.photo() {
        let mut sizes: Vec<(String, u64)> = sizes
            .iter()
            .map(|p| (p.file.id.to_string(), u64::from(p.file.size)))
            .collect();
        sizes.sort_by_key(|(_, bytes)| *bytes);
        return Some(Picture { sizes, mime: None });
    }
    let document = msg.document()?;
    let mime = document.mime_type.as_ref()?.essence_str().to_string();
    mime.starts_with("image/").then(|| Picture {
        sizes: vec![(document.file.id.to_string(), u64::from(document.file.size))],
        mime: Some(mime),
    })
}

fn recording(msg: &Message) -> Option<Recording> {
    let file = match (msg.video_note(), msg.video()) {
        (Some(note), _) => &note.file,
        (None, Some(video)) => &video.file,
        (None, None) => return None,
    };
    Some(Recording {
        file_id: file.id.to_string(),
        bytes: u64::from(file.size),
        forwarded: msg.forward_origin().is_some(),
    })
}

fn is_media(msg: &Message) -> bool {
    msg.photo().is_some()
        || msg.video().is_some()
        || msg.document().is_some()
        || msg.voice().is_some()
        || msg.audio().is_some()
        || msg.video_note().is_some()
        || msg.sticker().is_some()
        || msg.animation().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str, prompt: bool) -> Incoming {
        Incoming::Text {
            text: t.into(),
            plain_is_prompt: prompt,
        }
    }

    #[test]
    fn groups_take_only_what_is_addressed_to_the_bot() {
        let bot = "reel_bot";
        assert_eq!(
            in_group("/video@reel_bot a cat", bot),
            text("/video@reel_bot a cat", false)
        );
        assert_eq!(
            in_group("/video@Reel_Bot a cat", bot),
            text("/video@Reel_Bot a cat", false)
        );
        assert_eq!(in_group("/video a cat", bot), text("/video a cat", false));
        assert_eq!(
            in_group("/frobnicate@reel_bot", bot),
            text("/frobnicate@reel_bot", false)
        );
        assert_eq!(in_group("/video@other_bot a cat", bot), Incoming::Ignore);
        assert_eq!(in_group("/frobnicate", bot), Incoming::Ignore);
        assert_eq!(in_group("a cat on a skateboard", bot), Incoming::Ignore);
        assert_eq!(in_group("@reel_bot, a cat", bot), text("a cat", true));
        assert_eq!(in_group("@reel_botty a cat", bot), Incoming::Ignore);
    }
}
