//! What chat users send, made with the ffmpeg CLI in temp dirs, decoded
//! into 16 kHz mono speech and sampled frames; bad input gets a clear
//! error before memory is spent on it.

use std::path::{Path, PathBuf};
use std::process::Command;

use reel_media::{decode_speech, read_image, sample_frames, DecodeError, DecodeLimits, ImageError};

/// Runs the ffmpeg CLI with `args`, writing `name` in `dir`.
fn ffmpeg(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .expect("the ffmpeg CLI (scripts/setup installs it)");
    assert!(status.success(), "ffmpeg {args:?} failed");
    out
}

/// The dominant frequency by counting zero crossings (a pure tone).
fn tone_hz(samples: &[f32]) -> f64 {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    crossings as f64 / 2.0 / (samples.len() as f64 / 16_000.0)
}

fn assert_tone(path: &Path, seconds: f64, hz: f64) {
    let speech = decode_speech(path, &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        (speech.seconds() - seconds).abs() < 0.1,
        "{}: {} s, expected {seconds} s",
        path.display(),
        speech.seconds()
    );
    // Skip the codec's fade-in; a tone survives resampling to 16 kHz.
    let measured = tone_hz(&speech.samples[1600..speech.samples.len() - 1600]);
    assert!(
        (measured - hz).abs() < 5.0,
        "{}: {measured} Hz, expected {hz} Hz",
        path.display()
    );
}

#[test]
fn voice_notes_and_audio_attachments_decode_to_16k_mono() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tone = |hz: u32, s: u32| format!("sine=frequency={hz}:duration={s}");
    // Telegram voice note: OGG/Opus at 48 kHz.
    let ogg = ffmpeg(
        d,
        "voice.ogg",
        &["-f", "lavfi", "-i", &tone(440, 2), "-c:a", "libopus"],
    );
    assert_tone(&ogg, 2.0, 440.0);
    let opus = decode_speech(&ogg, &DecodeLimits::default()).unwrap();
    assert_eq!(opus.codec, "opus");
    // MP3 at 44.1 kHz, stereo: the same tone on both channels stays one tone.
    let mp3 = ffmpeg(
        d,
        "note.mp3",
        &[
            "-f",
            "lavfi",
            "-i",
            &tone(300, 3),
            "-ac",
            "2",
            "-ar",
            "44100",
            "-c:a",
            "libmp3lame",
        ],
    );
    assert_tone(&mp3, 3.0, 300.0);
    // M4A (AAC) at 22.05 kHz.
    let m4a = ffmpeg(
        d,
        "clip.m4a",
        &[
            "-f",
            "lavfi",
            "-i",
            &tone(500, 2),
            "-ar",
            "22050",
            "-c:a",
            "aac",
        ],
    );
    assert_tone(&m4a, 2.0, 500.0);
    // 8 kHz WAV is upsampled.
    let wav = ffmpeg(
        d,
        "phone.wav",
        &["-f", "lavfi", "-i", &tone(350, 2), "-ar", "8000"],
    );
    assert_tone(&wav, 2.0, 350.0);
}

/// `seconds` of 320×240 test pattern at 25 fps with a 400 Hz tone.
fn video(dir: &Path, name: &str, seconds: u32, codecs: &[&str]) -> PathBuf {
    let v = format!("testsrc=size=320x240:rate=25:duration={seconds}");
    let a = format!("sine=frequency=400:duration={seconds}");
    let mut args = vec!["-f", "lavfi", "-i", &v, "-f", "lavfi", "-i", &a];
    args.extend_from_slice(codecs);
    ffmpeg(dir, name, &args)
}

#[test]
fn videos_give_their_speech_and_frames_at_the_sampling_rate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let h264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"];
    let vp9 = [
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-c:a",
        "libopus",
    ];
    for path in [
        video(d, "note.mp4", 3, &h264),
        video(d, "clip.mov", 3, &h264),
        video(d, "clip.webm", 3, &vp9),
    ] {
        assert_tone(&path, 3.0, 400.0);
        let limits = DecodeLimits {
            frame_rate: 2.0,
            ..DecodeLimits::default()
        };
        let frames = sample_frames(&path, &limits).unwrap();
        let times: Vec<f64> = frames.iter().map(|f| f.seconds).collect();
        assert_eq!(frames.len(), 6, "{}: {times:?}", path.display());
        for (i, t) in times.iter().enumerate() {
            assert!(
                (t - i as f64 * 0.5).abs() < 0.05,
                "{}: {times:?}",
                path.display()
            );
        }
        let first = &frames[0].image;
        assert_eq!((first.width, first.height), (320, 240));
        // testsrc is colourful, not a blank frame.
        let distinct: std::collections::HashSet<_> = first.data.chunks(3).collect();
        assert!(distinct.len() > 20, "{}", path.display());
    }
}

#[test]
fn frames_are_bounded_in_count_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = video(dir.path(), "v.mp4", 3, &["-c:v", "libx264", "-c:a", "aac"]);
    let limits = DecodeLimits {
        frame_rate: 25.0,
        max_frames: 4,
        frame_max_side: 160,
        ..DecodeLimits::default()
    };
    let frames = sample_frames(&path, &limits).unwrap();
    assert_eq!(frames.len(), 4);
    assert_eq!((frames[0].image.width, frames[0].image.height), (160, 120));
    assert!(frames.iter().all(|f| f.image.has_consistent_size()));

    let tight = DecodeLimits {
        max_video_pixels: 100 * 100,
        ..DecodeLimits::default()
    };
    let err = sample_frames(&path, &tight).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::FrameTooLarge {
                width: 320,
                height: 240,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_track_that_is_missing_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let silent_film = ffmpeg(
        d,
        "mute.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x64:duration=1",
            "-c:v",
            "libx264",
        ],
    );
    let err = decode_speech(&silent_film, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(err, DecodeError::NoAudio { .. }), "{err}");
    assert!(err.to_string().contains("no audio track"), "{err}");

    let voice = ffmpeg(
        d,
        "voice.ogg",
        &["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "libopus"],
    );
    let err = sample_frames(&voice, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(err, DecodeError::NoVideo { .. }), "{err}");
}

#[test]
fn broken_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let limits = DecodeLimits::default();

    let empty = d.join("empty.ogg");
    std::fs::write(&empty, b"").unwrap();
    let err = decode_speech(&empty, &limits).unwrap_err();
    assert!(matches!(err, DecodeError::Empty { .. }), "{err}");

    let garbage = d.join("garbage.mp4");
    std::fs::write(&garbage, [0x5au8; 4096]).unwrap();
    let err = decode_speech(&garbage, &limits).unwrap_err();
    assert!(matches!(err, DecodeError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("garbage.mp4"), "{err}");

    // The index (moov first) promises 4 s; half the data is gone.
    let whole = video(
        d,
        "whole.mp4",
        4,
        &["-c:v", "libx264", "-c:a", "aac", "-movflags", "+faststart"],
    );
    let bytes = std::fs::read(&whole).unwrap();
    let cut = d.join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = decode_speech(&cut, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Truncated { .. } | DecodeError::Corrupt { .. }
        ),
        "{err}"
    );

    let silence = ffmpeg(
        d,
        "silence.ogg",
        &[
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=48000:cl=mono",
            "-t",
            "2",
            "-c:a",
            "libopus",
        ],
    );
    let err = decode_speech(&silence, &limits).unwrap_err();
    assert!(matches!(err, DecodeError::Silent { .. }), "{err}");

    let big = d.join("big.bin");
    std::fs::write(&big, vec![1u8; 2048]).unwrap();
    let small = DecodeLimits {
        max_file_bytes: 1024,
        ..limits
    };
    let err = decode_speech(&big, &small).unwrap_err();
    assert!(
        matches!(err, DecodeError::FileTooLarge { bytes: 2048, .. }),
        "{err}"
    );
}

#[test]
fn two_hours_of_audio_are_refused_from_the_header() {
    let dir = tempfile::tempdir().unwrap();
    // A tone compresses to little in FLAC: a small file claiming 2 hours.
    let long = ffmpeg(
        dir.path(),
        "long.flac",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=8000:duration=7200",
            "-c:a",
            "flac",
        ],
    );
    let started = std::time::Instant::now();
    let err = decode_speech(&long, &DecodeLimits::default()).unwrap_err();
    match err {
        DecodeError::TooLong { seconds, max, .. } => {
            assert!((seconds - 7200.0).abs() < 1.0, "{seconds}");
            assert_eq!(max, 120.0);
        }
        other => panic!("{other}"),
    }
    // Refused before decoding: nothing near 2 hours of work was done.
    assert!(started.elapsed().as_secs_f64() < 2.0);
    let err = sample_frames(&long, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(err, DecodeError::TooLong { .. }), "{err}");
}

#[test]
fn a_header_that_understates_the_length_is_caught_while_decoding() {
    let dir = tempfile::tempdir().unwrap();
    // Raw ADTS AAC carries no duration; only the decoded samples tell.
    let raw = ffmpeg(
        dir.path(),
        "raw.aac",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=duration=6",
            "-c:a",
            "aac",
            "-f",
            "adts",
        ],
    );
    let limits = DecodeLimits {
        max_seconds: 2.0,
        ..DecodeLimits::default()
    };
    let err = decode_speech(&raw, &limits).unwrap_err();
    assert!(matches!(err, DecodeError::TooLong { .. }), "{err}");
}

#[test]
fn stills_decode_and_a_10000_square_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["still.jpg", "still.png", "still.webp"] {
        let path = ffmpeg(
            d,
            name,
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=200x100",
                "-frames:v",
                "1",
            ],
        );
        let image = read_image(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((image.width, image.height), (200, 100), "{name}");
    }
    // A small PNG (one colour) that would take 300 MB decoded.
    let bomb = ffmpeg(
        d,
        "bomb.png",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=10000x10000",
            "-frames:v",
            "1",
        ],
    );
    assert!(std::fs::metadata(&bomb).unwrap().len() < 2_000_000);
    let err = read_image(&bomb).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::TooLarge {
                width: 10000,
                height: 10000,
                ..
            }
        ),
        "{err}"
    );
}
