//! `reel render --say`: the test pattern with a spoken line as its
//! soundtrack, the speech model being the tiny random-weight CSM of the
//! parity fixtures (engine/tests/fixtures/csm/tiny: it babbles, which is
//! all a soundtrack test needs). The MP4 is probed and its audio decoded:
//! the AAC track lasts as long as the video, its integrated loudness is
//! within 1 LU of -16 LUFS, and the sound is where the line is. Bad input
//! is refused before anything is written.

mod common;

use std::path::{Path, PathBuf};

use common::{text, Sandbox};
use reel_media::{decode_mono, integrated_loudness, probe, Audio, DecodeLimits};

fn tiny_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("engine/tests/fixtures/csm/tiny")
}

fn envs(model: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("REEL_VOICE__MODEL_DIR", model.display().to_string()),
        // The random model never ends a line: it speaks until this cap.
        ("REEL_VOICE__MAX_SECONDS", "1.0".into()),
    ]
}

fn run(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    let model = tiny_model();
    let envs = envs(&model);
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sb.run(args, &envs)
}

fn limits() -> DecodeLimits {
    DecodeLimits {
        max_file_bytes: 64 << 20,
        max_seconds: 60.0,
        max_video_pixels: 1 << 24,
        frame_rate: 1.0,
        max_frames: 1,
        frame_max_side: 64,
    }
}

/// 16-bit PCM WAV, mono.
fn write_wav(path: &Path, samples: &[f32], rate: u32) {
    let data: Vec<u8> = samples
        .iter()
        .flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())
        .collect();
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    std::fs::write(path, wav).unwrap();
}

/// A voiced sound: harmonics of 140 Hz under a syllable-rate envelope.
fn voiced(seconds: f64, rate: u32) -> Vec<f32> {
    (0..(seconds * f64::from(rate)) as usize)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let envelope = 0.5 * (1.0 - (2.0 * std::f64::consts::PI * 4.0 * t).cos());
            let phase = 2.0 * std::f64::consts::PI * 140.0 * t;
            let voice: f64 = (1..8).map(|k| (k as f64 * phase).sin() / k as f64).sum();
            (0.3 * envelope * voice) as f32
        })
        .collect()
}

/// The rate the clips' audio is decoded at (the encoder's AAC rate).
const RATE: u32 = 48_000;

/// Mean square of the decoded samples between two times.
fn energy(samples: &[f32], from_s: f64, to_s: f64) -> f64 {
    let rate = f64::from(RATE);
    let (a, b) = ((from_s * rate) as usize, (to_s * rate) as usize);
    let part = &samples[a.min(samples.len())..b.min(samples.len())];
    part.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / part.len().max(1) as f64
}

fn check_clip(path: &Path) {
    let info = probe(path).unwrap();
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    assert_eq!((info.frames, info.fps.round() as u32), (48, 24));
    assert_eq!(info.audio_sample_rate, Some(RATE));
    let samples = decode_mono(path, &limits(), RATE).unwrap();
    // The track lasts as long as the 2 s of video, within one AAC frame (1024 samples).
    let seconds = samples.len() as f64 / f64::from(RATE);
    assert!(
        (seconds - 2.0).abs() <= 1024.0 / f64::from(RATE),
        "audio lasts {seconds} s"
    );
    let lufs = integrated_loudness(&Audio {
        sample_rate: RATE,
        channels: 1,
        samples: samples.clone(),
    })
    .unwrap();
    assert!((lufs - -16.0).abs() <= 1.0, "loudness {lufs} LUFS");
    // The line fills the first second (the length cap); the rest is silence.
    let (spoken, after) = (energy(&samples, 0.05, 0.95), energy(&samples, 1.1, 1.95));
    assert!(
        spoken > 1e-3,
        "too little energy where the line is: {spoken}"
    );
    assert!(
        after < spoken * 1e-4,
        "sound after the line: {after} vs {spoken}"
    );
}

#[test]
fn a_line_becomes_the_soundtrack_in_the_default_voice_and_in_a_given_one() {
    let sb = Sandbox::sqlite();
    let base = ["render", "a fox", "--duration", "2", "--size", "160x96"];
    let out = run(
        &sb,
        &[&base[..], &["-o", "plain.mp4", "--say", "hello there"]].concat(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    check_clip(&sb.path().join("plain.mp4"));

    write_wav(&sb.path().join("me.wav"), &voiced(1.5, 16_000), 16_000);
    let out = run(
        &sb,
        &[
            &base[..],
            &[
                "-o",
                "mine.mp4",
                "--say",
                "hello there",
                "--voice",
                "me.wav",
                "--voice-text",
                "amber river",
            ],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    check_clip(&sb.path().join("mine.mp4"));
    // Another voice, another soundtrack (same seed, same line).
    let plain = decode_mono(&sb.path().join("plain.mp4"), &limits(), RATE).unwrap();
    let mine = decode_mono(&sb.path().join("mine.mp4"), &limits(), RATE).unwrap();
    assert_ne!(plain, mine);
}

#[test]
fn bad_lines_and_voices_are_refused_and_nothing_is_written() {
    let sb = Sandbox::sqlite();
    write_wav(&sb.path().join("silent.wav"), &vec![0.0; 16_000], 16_000);
    std::fs::write(sb.path().join("junk.wav"), b"not audio at all").unwrap();
    write_wav(&sb.path().join("me.wav"), &voiced(1.5, 16_000), 16_000);
    let long = "la ".repeat(200);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--say", "   "], "empty"),
        (vec!["--say", long.as_str()], "characters"),
        (vec!["--say", "hi\u{7}there"], "control character"),
        (
            vec![
                "--say",
                "hi",
                "--voice",
                "silent.wav",
                "--voice-text",
                "amber river",
            ],
            "silent",
        ),
        (
            vec![
                "--say",
                "hi",
                "--voice",
                "junk.wav",
                "--voice-text",
                "amber river",
            ],
            "voice recording",
        ),
        (
            vec!["--say", "hi", "--voice", "me.wav", "--voice-text", " "],
            "transcript",
        ),
    ];
    for (extra, fragment) in cases {
        let args = [
            &[
                "render",
                "a fox",
                "-o",
                "bad.mp4",
                "--duration",
                "1",
                "--size",
                "160x96",
            ][..],
            &extra[..],
        ]
        .concat();
        let out = run(&sb, &args);
        assert!(!out.status.success(), "{extra:?} succeeded");
        assert!(
            text(&out.stderr).contains(fragment),
            "{extra:?}: {}",
            text(&out.stderr)
        );
    }
    // No speech model configured: said so, before rendering.
    let out = sb.run(&["render", "a fox", "-o", "bad.mp4", "--say", "hi"], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("reel pull csm-1b"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !sb.path().join("bad.mp4").exists(),
        "refused renders write nothing"
    );
}

/// With LTX-2 the spoken line is also the audio → video condition: the same
/// seed and prompt make another picture with the line than without it, and
/// the soundtrack is the line, fitted like any other.
#[test]
fn with_ltx2_the_picture_follows_the_spoken_line() {
    let sb = Sandbox::sqlite();
    let ltx2 =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("engine/tests/fixtures/ltx2/pipeline/model");
    let model = tiny_model();
    let render = |out: &str, frames: &str, say: Option<&str>| {
        let mut args = vec![
            "render",
            "someone talking",
            "-o",
            out,
            "--duration",
            "1",
            "--size",
            "64x64",
            "--seed",
            "5",
            "--model-dir",
            ltx2.to_str().unwrap(),
            "--frames-out",
            frames,
        ];
        if let Some(line) = say {
            args.extend(["--say", line]);
        }
        let envs = [
            ("REEL_VOICE__MODEL_DIR", model.to_str().unwrap()),
            ("REEL_VOICE__MAX_SECONDS", "0.5"),
            ("REEL_RENDER__FPS", "17"),
        ];
        let out = sb.run(&args, &envs);
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    render("plain.mp4", "plain", None);
    render("said.mp4", "said", Some("hello there"));
    let frame = |dir: &str, i: usize| {
        std::fs::read(sb.path().join(format!("{dir}/frame-{i:05}.ppm"))).unwrap()
    };
    assert!(
        (1..17).any(|i| frame("plain", i) != frame("said", i)),
        "the line did not change the picture"
    );
    let info = probe(&sb.path().join("said.mp4")).unwrap();
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    assert_eq!(info.frames, 17);
}
