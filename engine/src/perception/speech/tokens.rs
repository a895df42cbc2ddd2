//! The special tokens the decoding loop needs, looked up by name in the
//! model's tokenizer (their ids differ between English-only, multilingual
//! and large-v3 vocabularies).

use tokenizers::Tokenizer;

use super::SpeechError;

/// Whisper's language codes in its own order (openai/whisper tokenizer.py
/// LANGUAGES); a vocabulary holds the first 99 or all 100.
const LANGUAGES: &[&str] = &[
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it",
    "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur",
    "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn",
    "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
    "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
    "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln",
    "ha", "ba", "jw", "su", "yue",
];

#[derive(Clone, Debug)]
pub struct SpecialTokens {
    pub start_of_transcript: u32,
    pub end_of_text: u32,
    pub transcribe: u32,
    pub no_timestamps: u32,
    /// (token, code) for every language the vocabulary has.
    pub languages: Vec<(u32, &'static str)>,
}

impl SpecialTokens {
    pub fn find(tokenizer: &Tokenizer) -> Result<Self, SpeechError> {
        let id = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| SpeechError::MissingToken {
                    token: token.to_string(),
                })
        };
        let languages: Vec<(u32, &'static str)> = LANGUAGES
            .iter()
            .filter_map(|code| {
                tokenizer
                    .token_to_id(&format!("<|{code}|>"))
                    .map(|t| (t, *code))
            })
            .collect();
        if languages.is_empty() {
            // An English-only model: nothing to detect.
            return Err(SpeechError::MissingToken {
                token: "language (<|en|>, …; an English-only model is not supported)".into(),
            });
        }
        Ok(SpecialTokens {
            start_of_transcript: id("<|startoftranscript|>")?,
            end_of_text: id("<|endoftext|>")?,
            transcribe: id("<|transcribe|>")?,
            no_timestamps: id("<|notimestamps|>")?,
            languages,
        })
    }

    pub fn language_code(&self, token: u32) -> &'static str {
        self.languages
            .iter()
            .find(|(t, _)| *t == token)
            .map_or("unknown", |(_, code)| code)
    }
}
