//! Restrictions on what a clip with a cameo may show: the owner's own
//! forbidden words and phrases, and a built-in list that is always on.
//!
//! Matching is on normalised words, not substrings: both sides are lower
//! cased (Unicode), apostrophes dropped, and split at anything that is not
//! a letter or digit; a phrase matches where its words appear in a row in
//! the prompt. So "Kill!" matches `kill` while "skill" does not. Word
//! lists cannot understand a prompt; they catch the plain asks, and the
//! owner's approval mode and clip list are there for the rest.

use crate::error::RegistryError;

/// Always on for cameos: plain sexual and violent terms (exact words, with
/// their common forms). Short on purpose: every entry must be wrong in a
/// clip with a real person whatever the context, since an ambiguous word
/// ("shoot" a film, "strip" of land) would refuse harmless prompts.
pub const BUILT_IN: &[&str] = &[
    // sexual
    "nude",
    "nudes",
    "naked",
    "nsfw",
    "sex",
    "sexual",
    "porn",
    "porno",
    "pornographic",
    "erotic",
    "topless",
    "undressed",
    // violent
    "kill",
    "kills",
    "killed",
    "killing",
    "murder",
    "murdered",
    "stab",
    "stabbed",
    "behead",
    "beheaded",
    "torture",
    "tortured",
    "rape",
    "raped",
    "gore",
    "corpse",
    "dead body",
];

const MAX_PHRASES: usize = 50;
const MAX_PHRASE_CHARS: usize = 100;
const MAX_PHRASE_WORDS: usize = 8;

/// `text` as the list of words that matching compares.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['\'', '’'], "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The owner's list, normalised (each phrase as its words joined by one
/// space), without blanks or repeats, within the limits.
pub(crate) fn normalise(phrases: &[String]) -> Result<Vec<String>, RegistryError> {
    if phrases.len() > MAX_PHRASES {
        return Err(RegistryError::InvalidRestrictions(format!(
            "at most {MAX_PHRASES} restricted words or phrases"
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for phrase in phrases {
        if phrase.chars().count() > MAX_PHRASE_CHARS {
            return Err(RegistryError::InvalidRestrictions(format!(
                "a restricted phrase may have at most {MAX_PHRASE_CHARS} characters"
            )));
        }
        let phrase_words = words(phrase);
        if phrase_words.len() > MAX_PHRASE_WORDS {
            return Err(RegistryError::InvalidRestrictions(format!(
                "a restricted phrase may have at most {MAX_PHRASE_WORDS} words"
            )));
        }
        let joined = phrase_words.join(" ");
        if !joined.is_empty() && !out.contains(&joined) {
            out.push(joined);
        }
    }
    Ok(out)
}

/// The first of `phrases` (normalised) found in `prompt_words`.
pub(crate) fn first_hit<'a, P: AsRef<str>>(
    prompt_words: &[String],
    phrases: &'a [P],
) -> Option<&'a str> {
    phrases.iter().map(AsRef::as_ref).find(|phrase| {
        let wanted: Vec<&str> = phrase.split(' ').collect();
        !wanted.is_empty()
            && prompt_words
                .windows(wanted.len())
                .any(|window| window.iter().map(String::as_str).eq(wanted.iter().copied()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_words_and_phrases_only() {
        let prompt = words("Ana's skillful DANCE, then a Dead-Body joke!");
        assert_eq!(first_hit(&prompt, &["kill"]), None);
        assert_eq!(first_hit(&prompt, BUILT_IN), Some("dead body"));
        assert_eq!(first_hit(&prompt, &["anas"]), Some("anas"));
        assert_eq!(first_hit(&prompt, &["dance then"]), Some("dance then"));
        assert_eq!(first_hit(&prompt, &["then dance"]), None);
    }

    #[test]
    fn the_owners_list_is_normalised_and_bounded() {
        let list = normalise(&[
            " Politics ".into(),
            "politics".into(),
            "  ".into(),
            "Don't SING".into(),
        ])
        .unwrap();
        assert_eq!(list, ["politics", "dont sing"]);
        assert!(normalise(&vec!["x".to_string(); 51]).is_err());
        assert!(normalise(&["a b c d e f g h i".into()]).is_err());
    }
}
