//! The consent text a person agrees to when registering a cameo. Published
//! with `publish_consent_text` when a challenge is issued, so every consent
//! record names this exact text's version and SHA-256; changing a word here
//! makes a new version (the old one stays, as the records that name it).

/// The language of [`CONSENT_TEXT_EN`].
pub const CONSENT_LANGUAGE_EN: &str = "en";

/// What a person agrees to by registering a cameo, in English.
pub const CONSENT_TEXT_EN: &str = "\
By registering this cameo I agree that:
1. My face and voice from this recording are kept, encrypted, as my cameo.
2. Clips may show my likeness only when made by me or by people I allow; I choose who (only me, people I approve, or everyone) and can change it at any time.
3. I see every clip that uses my cameo, whoever asked for it, and can delete any of them.
4. I can withdraw this consent at any time, which stops all use at once, and erase my cameo, which destroys my face and voice data.
5. This is my own face and voice, and I am at least 18 years old.";
