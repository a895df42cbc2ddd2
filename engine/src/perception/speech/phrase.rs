//! The check the consent registry runs on a recording: did the person say
//! the one-time phrase? Transcript and phrase are normalised alike (case,
//! punctuation, English number words → digits), then the phrase is
//! matched against the best-fitting stretch of the transcript by character
//! edit distance, so extra words around it ("okay, …") do not count
//! against it but a wrong word inside it does.

use serde::{Deserialize, Serialize};

use super::{SpeechError, SpeechToText, Transcript};

/// How close is close enough.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhrasePolicy {
    /// Edits allowed per character of the normalised phrase (at least 1
    /// edit is always allowed).
    pub max_error_rate: f32,
}

impl Default for PhrasePolicy {
    fn default() -> Self {
        // About one slip per word of six or seven letters: a plural or a
        // dropped letter passes, another word does not.
        PhrasePolicy {
            max_error_rate: 0.15,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhraseVerdict {
    Match,
    Mismatch,
    /// Nothing intelligible was transcribed.
    NoSpeech,
}

/// The verdict and the evidence the registry keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhraseCheck {
    pub verdict: PhraseVerdict,
    pub transcript: Transcript,
    pub normalised_transcript: String,
    pub normalised_phrase: String,
    /// Edits between the phrase and the closest stretch of the transcript.
    pub distance: usize,
    /// Edits allowed at the policy.
    pub allowed: usize,
    /// 1 - distance / phrase length, in 0..1.
    pub similarity: f32,
}

/// Transcribes `audio` (16 kHz mono) and compares it with `phrase`.
pub fn spoken_phrase_matches(
    stt: &dyn SpeechToText,
    audio: &[f32],
    phrase: &str,
    policy: &PhrasePolicy,
) -> Result<PhraseCheck, SpeechError> {
    let transcript = stt.transcribe(audio)?;
    Ok(compare(transcript, phrase, policy))
}

/// The comparison alone, on a transcript already made.
pub fn compare(transcript: Transcript, phrase: &str, policy: &PhrasePolicy) -> PhraseCheck {
    let heard = normalise(&transcript.text);
    let said = normalise(phrase);
    let phrase_chars: Vec<char> = said.chars().collect();
    let heard_chars: Vec<char> = heard.chars().collect();
    let distance = substring_distance(&phrase_chars, &heard_chars);
    let allowed = ((policy.max_error_rate * phrase_chars.len() as f32).floor() as usize).max(1);
    let similarity = if phrase_chars.is_empty() {
        0.0
    } else {
        1.0 - (distance as f32 / phrase_chars.len() as f32).min(1.0)
    };
    let verdict = if heard_chars.is_empty() {
        PhraseVerdict::NoSpeech
    } else if !phrase_chars.is_empty() && distance <= allowed {
        PhraseVerdict::Match
    } else {
        PhraseVerdict::Mismatch
    };
    PhraseCheck {
        verdict,
        transcript,
        normalised_transcript: heard,
        normalised_phrase: said,
        distance,
        allowed,
        similarity,
    }
}

/// Lower case, letters and digits only (anything else separates words),
/// single spaces, English number words as digits ("Forty-two!" → "42",
/// "one hundred and five" → "105", "1,000" → "1000").
pub fn normalise(text: &str) -> String {
    let lower = text.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    let mut cleaned = String::with_capacity(lower.len());
    for (i, c) in chars.iter().enumerate() {
        let between_digits = |i: usize| {
            i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit())
        };
        if c.is_alphanumeric() {
            cleaned.push(*c);
        } else if *c == ',' && between_digits(i) {
            // A thousands separator.
        } else if *c == '\'' || *c == '’' {
            // "don't" stays one word.
        } else {
            cleaned.push(' ');
        }
    }
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    numbers_to_digits(&words).join(" ")
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Unit,
    Tens,
    Hundred,
    Thousand,
}

fn number_word(word: &str) -> Option<(u64, Kind)> {
    const UNITS: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    if let Some(i) = UNITS.iter().position(|u| *u == word) {
        return Some((i as u64, Kind::Unit));
    }
    if let Some(i) = TENS.iter().position(|t| *t == word) {
        return Some((20 + 10 * i as u64, Kind::Tens));
    }
    match word {
        "hundred" => Some((100, Kind::Hundred)),
        "thousand" => Some((1000, Kind::Thousand)),
        _ => None,
    }
}

/// Runs of number words become one number each; "one two three" stays
/// three numbers (a unit after a unit starts a new one).
fn numbers_to_digits(words: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    // (total, current, last kind) of the number being read.
    let mut number: Option<(u64, u64, Kind)> = None;
    let flush = |number: &mut Option<(u64, u64, Kind)>, out: &mut Vec<String>| {
        if let Some((total, current, _)) = number.take() {
            out.push((total + current).to_string());
        }
    };
    for (i, word) in words.iter().enumerate() {
        let next_is_number = words.get(i + 1).is_some_and(|w| number_word(w).is_some());
        if *word == "and" && number.is_some() && next_is_number {
            continue;
        }
        let Some((value, kind)) = number_word(word) else {
            flush(&mut number, &mut out);
            out.push((*word).to_string());
            continue;
        };
        let joins = match (&number, kind) {
            (None, _) => false,
            (Some((_, _, last)), Kind::Unit) => {
                (matches!(last, Kind::Tens) && value < 10)
                    || matches!(last, Kind::Hundred | Kind::Thousand)
            }
            (Some((_, _, last)), Kind::Tens) => matches!(last, Kind::Hundred | Kind::Thousand),
            (Some((_, current, _)), Kind::Hundred) => *current > 0 && *current < 100,
            (Some((total, current, _)), Kind::Thousand) => *total == 0 && *current > 0,
        };
        if !joins {
            flush(&mut number, &mut out);
        }
        let (total, current, _) = number.unwrap_or((0, 0, kind));
        number = Some(match kind {
            Kind::Unit | Kind::Tens => (total, current + value, kind),
            Kind::Hundred => (total, current.max(1) * 100, kind),
            Kind::Thousand => (total + current.max(1) * 1000, 0, kind),
        });
    }
    flush(&mut number, &mut out);
    out
}

/// The fewest edits turning `pattern` into some stretch of `text`
/// (insertions, deletions, substitutions; the stretch may start and end
/// anywhere).
fn substring_distance(pattern: &[char], text: &[char]) -> usize {
    // Column over the pattern; row 0 is free (any start in `text`).
    let mut column: Vec<usize> = (0..=pattern.len()).collect();
    let mut best = column[pattern.len()];
    for t in text {
        let mut diagonal = column[0];
        column[0] = 0;
        for (i, p) in pattern.iter().enumerate() {
            let substitute = diagonal + usize::from(p != t);
            diagonal = column[i + 1];
            column[i + 1] = substitute.min(column[i] + 1).min(column[i + 1] + 1);
        }
        best = best.min(column[pattern.len()]);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_handles_case_punctuation_and_numbers() {
        assert_eq!(normalise("Forty-two, Blue RIVER!"), "42 blue river");
        assert_eq!(normalise("one hundred and five apples"), "105 apples");
        assert_eq!(normalise("one two three"), "1 2 3");
        assert_eq!(normalise("twenty twenty"), "20 20");
        assert_eq!(
            normalise("It's 1,000 — not ten thousand."),
            "its 1000 not 10000"
        );
        assert_eq!(normalise("two thousand and twenty-six"), "2026");
        assert_eq!(normalise("  Größe   ÜBER  "), "größe über");
    }

    #[test]
    fn distance_finds_the_best_stretch() {
        let d = |p: &str, t: &str| {
            substring_distance(
                &p.chars().collect::<Vec<_>>(),
                &t.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(d("blue river", "okay blue river 42"), 0);
        assert_eq!(d("blue river", "blue rover"), 1);
        assert_eq!(d("abc", ""), 3);
        assert_eq!(d("", "anything"), 0);
        assert_eq!(d("seven", "eleven"), 1);
    }

    fn heard(text: &str) -> Transcript {
        Transcript {
            text: text.into(),
            language: "en".into(),
            avg_logprob: -0.2,
        }
    }

    #[test]
    fn verdicts() {
        let policy = PhrasePolicy::default();
        let phrase = "Purple tiger 47 sings";
        let ok = compare(
            heard("Okay. Purple tiger, forty-seven, sings."),
            phrase,
            &policy,
        );
        assert_eq!(ok.verdict, PhraseVerdict::Match, "{ok:?}");
        assert_eq!(ok.distance, 0);
        let slip = compare(heard("purple tigers 47 sing"), phrase, &policy);
        assert_eq!(slip.verdict, PhraseVerdict::Match, "{slip:?}");
        let wrong = compare(heard("purple lion 17 dances"), phrase, &policy);
        assert_eq!(wrong.verdict, PhraseVerdict::Mismatch, "{wrong:?}");
        assert!(wrong.similarity < ok.similarity);
        let none = compare(heard(" ... "), phrase, &policy);
        assert_eq!(none.verdict, PhraseVerdict::NoSpeech);
    }
}
