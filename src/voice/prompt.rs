//! A cameo's voice prompt from its consent recording: the voice clip
//! (decoded), trimmed to the speech in it, brought to the speech loudness,
//! with the phrase the owner read as its transcript. Made once per cameo
//! and kept sealed in the registry (`CameoRegistry::keep_voice_prompt`);
//! the byte form here is what is sealed.

use reel_engine::voice::{check_line, prep, VoiceError, VoicePrompt, MIN_VOICE_SECONDS};
use reel_media::{integrated_loudness, resample, Audio, SPEECH_LUFS};

/// The rate prompts are kept at: the speech codec's (CSM's Mimi), so the
/// model resamples nothing and nothing above 8 kHz was lost on the way.
pub const PROMPT_RATE: u32 = 24_000;
/// Energy is measured over frames this long (a syllable spans several).
const FRAME_SECONDS: f64 = 0.02;
/// Frames more than this far below the loudest frame are silence (room
/// tone, breath, the tap that started the recording): speech's quiet
/// consonants stay within it.
const SPEECH_FLOOR_DB: f32 = -30.0;
/// Nothing quieter than this (-60 dBFS RMS) is speech, however quiet the
/// loudest frame.
const SILENCE_RMS: f32 = 1e-3;
/// Kept around the speech, so word onsets and endings are not clipped.
const MARGIN_SECONDS: f64 = 0.1;
/// Peaks are kept under this; the loudness target gives way to it.
const MAX_PEAK: f32 = 0.95;

/// The voice prompt of a recording `clip` in which `phrase` is said.
/// Refused (a clear [`VoiceError`]): a phrase that is no line, a recording
/// without samples or with non-numbers, a silent one, or under
/// [`MIN_VOICE_SECONDS`] of speech.
pub fn cameo_voice_prompt(clip: &Audio, phrase: &str) -> Result<VoicePrompt, VoiceError> {
    let transcript = check_line(phrase).map_err(|e| VoiceError::BadTranscript(Box::new(e)))?;
    if clip.sample_rate == 0 || clip.channels == 0 || clip.samples.is_empty() {
        return Err(VoiceError::UnreadableVoice("no samples".into()));
    }
    if clip.samples.iter().any(|s| !s.is_finite()) {
        return Err(VoiceError::UnreadableVoice(
            "samples are not numbers".into(),
        ));
    }
    let mono = resample(&prep::downmix(clip), clip.sample_rate, PROMPT_RATE);
    let mut speech = trim_to_speech(&mono, PROMPT_RATE)
        .ok_or(VoiceError::SilentVoice)?
        .to_vec();
    let seconds = speech.len() as f32 / PROMPT_RATE as f32;
    if seconds < MIN_VOICE_SECONDS {
        return Err(VoiceError::VoiceTooShort {
            seconds,
            min: MIN_VOICE_SECONDS,
        });
    }
    normalise_loudness(&mut speech, PROMPT_RATE);
    Ok(VoicePrompt {
        audio: Audio {
            sample_rate: PROMPT_RATE,
            channels: 1,
            samples: speech,
        },
        transcript,
    })
}

/// The span from the first to the last frame whose RMS energy is within
/// [`SPEECH_FLOOR_DB`] of the loudest frame (and above [`SILENCE_RMS`]),
/// with [`MARGIN_SECONDS`] either side; `None` when no frame is.
pub fn trim_to_speech(samples: &[f32], rate: u32) -> Option<&[f32]> {
    let frame = ((FRAME_SECONDS * f64::from(rate)) as usize).max(1);
    let energies: Vec<f32> = samples
        .chunks(frame)
        .map(|f| (f.iter().map(|s| s * s).sum::<f32>() / f.len() as f32).sqrt())
        .collect();
    let loudest = energies.iter().fold(0.0f32, |m, e| m.max(*e));
    let floor = (loudest * 10f32.powf(SPEECH_FLOOR_DB / 20.0)).max(SILENCE_RMS);
    let first = energies.iter().position(|e| *e >= floor)?;
    let last = energies.iter().rposition(|e| *e >= floor)?;
    let margin = (MARGIN_SECONDS * f64::from(rate)) as usize;
    let start = (first * frame).saturating_sub(margin);
    let end = ((last + 1) * frame + margin).min(samples.len());
    Some(&samples[start..end])
}

/// Brings `samples` to [`SPEECH_LUFS`] integrated loudness (peaks under
/// [`MAX_PEAK`]); too short to measure (under 0.4 s), to the RMS level the
/// speech model's own preparation uses.
pub fn normalise_loudness(samples: &mut [f32], rate: u32) {
    let audio = Audio {
        sample_rate: rate,
        channels: 1,
        samples: samples.to_vec(),
    };
    let Some(lufs) = integrated_loudness(&audio) else {
        prep::normalise(samples);
        return;
    };
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let gain = (10f64.powf((SPEECH_LUFS - lufs) / 20.0) as f32).min(MAX_PEAK / peak.max(1e-9));
    for s in samples {
        *s *= gain;
    }
}

/// Marks the byte form (and its version).
const MAGIC: &[u8] = b"reel-voice-prompt/1\0";

/// The byte form of a prompt: [`MAGIC`], the sample rate and the
/// transcript's length (u32 little-endian), the transcript (UTF-8), the
/// mono samples (f32 little-endian).
pub fn prompt_to_bytes(prompt: &VoicePrompt) -> Vec<u8> {
    let text = prompt.transcript.as_bytes();
    let mono = prep::downmix(&prompt.audio);
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + text.len() + 4 * mono.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&prompt.audio.sample_rate.to_le_bytes());
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text);
    for s in mono {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// A prompt from [`prompt_to_bytes`]; `None` for anything else (an older
/// form, a damaged blob): the caller makes the prompt again.
pub fn prompt_from_bytes(bytes: &[u8]) -> Option<VoicePrompt> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(rest.get(at..at + 4)?.try_into().ok()?))
    };
    let (sample_rate, text_len) = (word(0)?, word(4)? as usize);
    let text = rest.get(8..8usize.checked_add(text_len)?)?;
    let pcm = &rest[8 + text_len..];
    if sample_rate == 0 || pcm.is_empty() || pcm.len() % 4 != 0 {
        return None;
    }
    Some(VoicePrompt {
        audio: Audio {
            sample_rate,
            channels: 1,
            samples: pcm
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        },
        transcript: String::from_utf8(text.to_vec()).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16_000;

    /// A voiced sound: harmonics of 140 Hz under a syllable-rate envelope.
    fn voiced(seconds: f64, amplitude: f32) -> Vec<f32> {
        (0..(seconds * f64::from(RATE)) as usize)
            .map(|i| {
                let t = i as f64 / f64::from(RATE);
                let envelope = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 4.0 * t).cos();
                let phase = 2.0 * std::f64::consts::PI * 140.0 * t;
                let voice: f64 = (1..8).map(|k| (k as f64 * phase).sin() / k as f64).sum();
                amplitude * (envelope * voice) as f32 * 0.5
            })
            .collect()
    }

    /// Low noise (a fixed pseudo-random sequence) of RMS about `level`.
    fn hiss(seconds: f64, level: f32) -> Vec<f32> {
        let mut state = 12_345u32;
        (0..(seconds * f64::from(RATE)) as usize)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .map(|s| s * level * 1.7)
            .collect()
    }

    fn clip(samples: Vec<f32>) -> Audio {
        Audio {
            sample_rate: RATE,
            channels: 1,
            samples,
        }
    }

    fn lufs(samples: &[f32], rate: u32) -> f64 {
        integrated_loudness(&Audio {
            sample_rate: rate,
            channels: 1,
            samples: samples.to_vec(),
        })
        .unwrap()
    }

    #[test]
    fn silence_and_room_tone_around_the_speech_are_trimmed() {
        // 0.8 s of room tone, 1.2 s of quiet speech, 1 s of room tone.
        let samples = [hiss(0.8, 0.0005), voiced(1.2, 0.1), hiss(1.0, 0.0005)].concat();
        let prompt = cameo_voice_prompt(&clip(samples), "purple  tiger sings").unwrap();
        let seconds = prompt.audio.samples.len() as f64 / f64::from(PROMPT_RATE);
        // The speech and a margin either side; none of the 1.8 s of hiss.
        assert!(
            (1.2..=1.2 + 2.0 * MARGIN_SECONDS + 2.0 * FRAME_SECONDS + 0.01).contains(&seconds),
            "{seconds} s kept"
        );
        assert_eq!(prompt.audio.sample_rate, PROMPT_RATE);
        assert_eq!(prompt.transcript, "purple tiger sings");
    }

    #[test]
    fn the_speech_is_brought_to_the_speech_loudness() {
        for amplitude in [0.02, 0.6] {
            let prompt = cameo_voice_prompt(&clip(voiced(2.0, amplitude)), "hello").unwrap();
            let level = lufs(&prompt.audio.samples, PROMPT_RATE);
            assert!(
                (level - SPEECH_LUFS).abs() < 0.5,
                "{amplitude}: {level} LUFS"
            );
            let peak = prompt
                .audio
                .samples
                .iter()
                .fold(0f32, |m, s| m.max(s.abs()));
            assert!(peak <= MAX_PEAK + 1e-6, "{peak}");
        }
    }

    #[test]
    fn silent_short_empty_and_untranscribed_recordings_are_refused() {
        let silent = cameo_voice_prompt(&clip(hiss(2.0, 0.0002)), "hello");
        assert!(matches!(silent, Err(VoiceError::SilentVoice)), "{silent:?}");
        let short = cameo_voice_prompt(&clip(voiced(0.2, 0.3)), "hello");
        assert!(
            matches!(short, Err(VoiceError::VoiceTooShort { .. })),
            "{short:?}"
        );
        let empty = cameo_voice_prompt(&clip(Vec::new()), "hello");
        assert!(
            matches!(empty, Err(VoiceError::UnreadableVoice(_))),
            "{empty:?}"
        );
        let broken = cameo_voice_prompt(&clip(vec![f32::NAN; 32_000]), "hello");
        assert!(matches!(broken, Err(VoiceError::UnreadableVoice(_))));
        let untold = cameo_voice_prompt(&clip(voiced(2.0, 0.3)), " \u{7} ");
        assert!(matches!(untold, Err(VoiceError::BadTranscript(_))));
    }

    #[test]
    fn the_byte_form_reads_back_and_anything_else_does_not() {
        let prompt = cameo_voice_prompt(&clip(voiced(1.0, 0.3)), "tiger sings").unwrap();
        let bytes = prompt_to_bytes(&prompt);
        let back = prompt_from_bytes(&bytes).unwrap();
        assert_eq!(back.transcript, prompt.transcript);
        assert_eq!(back.audio, prompt.audio);
        assert!(prompt_from_bytes(&bytes[..bytes.len() - 1]).is_none());
        assert!(prompt_from_bytes(&bytes[1..]).is_none());
        assert!(prompt_from_bytes(&bytes[..MAGIC.len() + 8]).is_none());
    }
}
