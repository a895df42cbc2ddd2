//! A spoken line made into a clip's soundtrack: at the clip's audio rate,
//! exactly as long as the video, the line from the start, cut with a short
//! fade if it runs past the end, silence after it, at a set integrated
//! loudness of the whole track (what a player measures).

use crate::loudness::integrated_loudness;
use crate::resample::resample;
use crate::Audio;

/// Loudness a line is brought to: -16 LUFS, what most platforms play speech at.
pub const SPEECH_LUFS: f64 = -16.0;
/// Length of the fade-out where a line is cut.
pub const FADE_SECONDS: f64 = 0.05;
/// Peaks are kept under this (the loudness target gives way to it).
const MAX_PEAK: f32 = 0.99;

/// What fitting did, for a note to the user.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    pub audio: Audio,
    /// Seconds of the line cut off at the end of the clip.
    pub cut_seconds: f64,
    /// The line's loudness before and after (None: too short or silent to measure).
    pub measured_lufs: Option<f64>,
    pub gain_db: f64,
}

/// The line `line` (mono) as the soundtrack of a clip of `frames` at `fps`,
/// resampled to `rate` (the rate it will be encoded at, so that what is
/// measured is what is heard), at `target_lufs`.
pub fn fit_line(line: &Audio, frames: u32, fps: u32, rate: u32, target_lufs: f64) -> Fitted {
    let channels = usize::from(line.channels.max(1));
    let mono: Vec<f32> = line
        .samples
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    let line = resample(&mono, line.sample_rate.max(1), rate.max(1));
    let (channels, rate) = (1usize, rate.max(1));
    let line = Audio {
        sample_rate: rate,
        channels: 1,
        samples: line,
    };
    let length = (u64::from(frames) * u64::from(rate) / u64::from(fps.max(1))) as usize;
    let available = line.samples.len() / channels;
    let mut samples = line.samples[..available.min(length) * channels].to_vec();
    let cut_seconds = available.saturating_sub(length) as f64 / f64::from(rate);
    if cut_seconds > 0.0 {
        let fade = ((FADE_SECONDS * f64::from(rate)) as usize)
            .min(length)
            .max(1);
        for i in 0..fade {
            let gain = (fade - i) as f32 / fade as f32;
            let frame = length - fade + i;
            for s in &mut samples[frame * channels..(frame + 1) * channels] {
                *s *= gain;
            }
        }
    }
    samples.resize(length * channels, 0.0);
    let mut audio = Audio {
        sample_rate: rate,
        channels: 1,
        samples,
    };
    // The whole track: the silence after the line is gated out, the blocks
    // that straddle the line's end count, as in any player's measurement.
    let measured = integrated_loudness(&audio);
    let mut gain_db = measured.map_or(0.0, |m| target_lufs - m);
    let peak = audio.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if peak > 0.0 {
        let peak_room_db = 20.0 * f64::from(MAX_PEAK / peak).log10();
        gain_db = gain_db.min(peak_room_db);
    }
    let gain = 10f64.powf(gain_db / 20.0) as f32;
    for s in &mut audio.samples {
        *s *= gain;
    }
    Fitted {
        audio,
        cut_seconds,
        measured_lufs: measured,
        gain_db,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "line": 1 s of a 300 Hz tone with a syllable-like envelope.
    fn line(seconds: f64, amplitude: f32) -> Audio {
        let rate = 24_000;
        let samples = (0..(seconds * f64::from(rate)) as usize)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let envelope = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 4.0 * t).sin();
                amplitude * (envelope * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as f32
            })
            .collect();
        Audio {
            sample_rate: rate,
            channels: 1,
            samples,
        }
    }

    #[test]
    fn a_short_line_is_padded_to_the_clip_and_brought_to_the_target() {
        let fitted = fit_line(&line(1.5, 0.01), 72, 24, 48_000, SPEECH_LUFS);
        assert_eq!(fitted.audio.sample_rate, 48_000);
        assert_eq!(fitted.audio.samples.len(), 3 * 48_000);
        assert_eq!(fitted.cut_seconds, 0.0);
        assert!(fitted.audio.samples[2 * 48_000..].iter().all(|s| *s == 0.0));
        let lufs = integrated_loudness(&fitted.audio).unwrap();
        assert!((lufs - SPEECH_LUFS).abs() < 0.01, "{lufs}");
    }

    #[test]
    fn a_long_line_is_cut_with_a_fade() {
        let fitted = fit_line(&line(5.0, 0.2), 48, 24, 24_000, SPEECH_LUFS);
        assert_eq!(fitted.audio.samples.len(), 2 * 24_000);
        assert!((fitted.cut_seconds - 3.0).abs() < 1e-9);
        let tail = &fitted.audio.samples[48_000 - 60..];
        assert!(
            tail.iter().all(|s| s.abs() < 0.05),
            "the fade ends near zero"
        );
    }

    #[test]
    fn the_target_never_clips() {
        // A sparse click train: very loud peaks for its loudness.
        let mut clicks = line(2.0, 0.0);
        for i in (0..clicks.samples.len()).step_by(4800) {
            clicks.samples[i] = 0.5;
        }
        let fitted = fit_line(&clicks, 48, 24, 24_000, SPEECH_LUFS);
        let peak = fitted
            .audio
            .samples
            .iter()
            .fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak <= MAX_PEAK + 1e-6, "{peak}");
    }
}
