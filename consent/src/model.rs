//! The registry's vocabulary: people, cameo names, settings, evidence,
//! media, and what the registry reports back.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::error::RegistryError;

/// Someone on a platform. A person is known per platform: the same human
/// on Telegram and Discord is two people here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Person {
    pub platform: String,
    pub user_id: String,
}

impl Person {
    pub fn new(platform: impl Into<String>, user_id: impl Into<String>) -> Self {
        Self {
            platform: platform.into(),
            user_id: user_id.into(),
        }
    }

    /// How the consent log names this person as an actor.
    pub(crate) fn actor(&self) -> String {
        format!("{}:{}", self.platform, self.user_id)
    }
}

/// The registry's id of a cameo (names are reused after an erasure; ids
/// never are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CameoId(pub i64);

/// A cameo's name: `^[a-z][a-z0-9_]{1,19}$`. Input is trimmed, a leading
/// `@` dropped and ASCII upper case folded, so `@Ana` names `ana`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CameoName(String);

impl CameoName {
    pub fn parse(input: &str) -> Result<Self, RegistryError> {
        let name = input.trim().trim_start_matches('@').to_ascii_lowercase();
        let mut chars = name.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if starts_with_letter && rest_ok && (2..=20).contains(&name.len()) {
            Ok(Self(name))
        } else {
            Err(RegistryError::InvalidName(input.chars().take(40).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CameoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Stored as the snake_case word of each variant.
macro_rules! text_enum {
    ($name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
        }

        impl std::str::FromStr for $name {
            type Err = RegistryError;
            fn from_str(text: &str) -> Result<Self, RegistryError> {
                match text {
                    $($text => Ok(Self::$variant),)*
                    other => Err(RegistryError::Corrupt(format!(
                        "`{other}` is not a {}", stringify!($name)
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being registered (the registration step); not usable.
    Pending,
    Active,
    /// The owner withdrew consent: nobody may use it; media kept until erased.
    Withdrawn,
    /// Media and key destroyed; only the record and the log remain.
    Erased,
}
text_enum!(Status { Pending => "pending", Active => "active", Withdrawn => "withdrawn", Erased => "erased" });

/// Who may put the cameo in a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The owner alone (the default).
    #[default]
    OnlyMe,
    /// The owner and the users they approved.
    Approved,
    Everyone,
}
text_enum!(Audience { OnlyMe => "only_me", Approved => "approved", Everyone => "everyone" });

/// Whether a clip with the cameo needs the owner's approval before the
/// requester gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    #[default]
    Auto,
    Ask,
}
text_enum!(ApprovalMode { Auto => "auto", Ask => "ask" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// The sharpest frontal frame of the registration recording.
    FaceImage,
    /// The speech of the registration recording.
    VoiceClip,
    /// The face (and voice) embedding the checks compare against.
    Embedding,
    /// The speech model's voice prompt made from the voice clip (a cache,
    /// table `cameo_voice_prompts`; its kind binds the sealed blob there).
    VoicePrompt,
}
text_enum!(MediaKind { FaceImage => "face_image", VoiceClip => "voice_clip", Embedding => "embedding", VoicePrompt => "voice_prompt" });

/// What the registration checks established (they run before the registry
/// is called). Stored in the `verified` event; nothing biometric in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The consent text the person was shown (see `publish_consent_text`).
    pub consent_text_version: i64,
    /// The platform's id of the message or interaction that carried the
    /// recording.
    pub message_id: String,
    /// The one-time challenge the person read aloud.
    pub nonce: String,
    /// What the speech model heard.
    pub transcript: String,
    /// How well the phrase matched the transcript (0..1).
    pub phrase_score: f64,
    /// Face consistency across the recording (0..1).
    pub face_score: f64,
    /// Voice quality or match (0..1).
    pub voice_score: f64,
    /// The model behind each check, e.g. `"speech" => "whisper-base@…"`.
    pub models: BTreeMap<String, String>,
}

/// The reference media of a cameo, in the clear. Only ever held in memory:
/// stored encrypted, zeroed on drop, and `Debug` shows sizes only.
#[derive(Clone, PartialEq, Eq)]
pub struct ReferenceMedia {
    pub face_image: Vec<u8>,
    pub voice_clip: Vec<u8>,
    pub embedding: Vec<u8>,
}

impl ReferenceMedia {
    pub(crate) fn parts(&self) -> [(MediaKind, &[u8]); 3] {
        [
            (MediaKind::FaceImage, &self.face_image),
            (MediaKind::VoiceClip, &self.voice_clip),
            (MediaKind::Embedding, &self.embedding),
        ]
    }
}

impl fmt::Debug for ReferenceMedia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ReferenceMedia {{ face_image: {} bytes, voice_clip: {} bytes, embedding: {} bytes }}",
            self.face_image.len(),
            self.voice_clip.len(),
            self.embedding.len()
        )
    }
}

impl Drop for ReferenceMedia {
    fn drop(&mut self) {
        self.face_image.zeroize();
        self.voice_clip.zeroize();
        self.embedding.zeroize();
    }
}

/// A registration whose checks passed.
#[derive(Debug)]
pub struct NewCameo {
    pub owner: Person,
    /// As the owner typed it; checked by [`CameoName::parse`].
    pub name: String,
    pub evidence: Evidence,
    pub media: ReferenceMedia,
}

/// A cameo as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameoInfo {
    pub id: CameoId,
    pub name: String,
    pub owner: Person,
    pub status: Status,
    pub audience: Audience,
    pub approval: ApprovalMode,
    pub restrictions: Vec<String>,
    pub approved_users: Vec<Person>,
    pub consent_text_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One clip that used a cameo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClipUse {
    pub job_id: i64,
    pub cameo: String,
    pub requester: Person,
    pub at: i64,
}

/// A stored consent text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentText {
    pub version: i64,
    pub language: String,
    pub body: String,
    pub sha256: String,
    pub created_at: i64,
}

/// What is stored of a piece of media (never its content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaInfo {
    pub kind: MediaKind,
    /// Size of the stored ciphertext.
    pub encrypted_bytes: i64,
    pub created_at: i64,
}
