//! `reel render` with LTX-2 end to end: the tiny pipeline of
//! engine/tests/fixtures/ltx2/pipeline (diffusers' LTX2Pipeline, distilled
//! schedule) from the fixture's initial latents, through the CLI: the lossless
//! frames and soundtrack match diffusers', and the MP4 is H.264 + AAC with
//! the two tracks the same length.

mod common;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use common::{text, Sandbox};

/// 8-bit rounding of the frames (half a level) over the pipeline's own
/// tolerance (1e-4 of 0..1, engine/tests/ltx2_pipeline.rs).
const FRAME_TOL: f32 = 0.5 / 255.0 + 1e-4;
/// The waveform is written as f32: the pipeline's tolerance only.
const WAVE_TOL: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/tests/fixtures/ltx2/pipeline")
}

fn reference() -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join("reference.safetensors"), &Device::Cpu).unwrap()
}

fn write_latents(path: &Path, name: &str, tensor: &Tensor) {
    candle_core::safetensors::save(&[(name, tensor.clone())].into_iter().collect(), path).unwrap();
}

/// Reads a 32-bit float WAV: (channels, rate, interleaved samples).
fn read_float_wav(path: &Path) -> (u16, u32, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..16], b"WAVEfmt ");
    assert_eq!(u16::from_le_bytes([bytes[20], bytes[21]]), 3, "IEEE float");
    let channels = u16::from_le_bytes([bytes[22], bytes[23]]);
    let rate = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
    assert_eq!(&bytes[36..40], b"data");
    let samples = bytes[44..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (channels, rate, samples)
}

#[test]
fn render_with_ltx2_writes_picture_and_sound_matching_diffusers() {
    let sb = Sandbox::sqlite();
    let reference = reference();
    let latents = sb.path().join("video.safetensors");
    let audio_latents = sb.path().join("audio.safetensors");
    write_latents(&latents, "latents", &reference["video_noise"]);
    write_latents(&audio_latents, "latents", &reference["audio_noise"]);
    let model_dir = fixtures().join("model");
    // The fixture's clip: 17 frames of 64x64 at 17 fps, one second.
    let envs = [("REEL_RENDER__FPS", "17")];
    let out = sb.run(
        &[
            "render",
            "a robot dancing",
            "-o",
            "av.mp4",
            "--duration",
            "1",
            "--size",
            "64x64",
            "--model-dir",
            model_dir.to_str().unwrap(),
            "--latents",
            latents.to_str().unwrap(),
            "--audio-latents",
            audio_latents.to_str().unwrap(),
            "--frames-out",
            "frames",
            "--audio-out",
            "sound.wav",
        ],
        &envs,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("ltx-2"), "{stdout}");

    // Frames, losslessly, against diffusers' 0..1 output.
    let want = reference["distilled.frames"]
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let frame_len = 64 * 64 * 3;
    let mut worst = 0f32;
    for i in 0..17 {
        let ppm = std::fs::read(sb.path().join(format!("frames/frame-{i:05}.ppm"))).unwrap();
        let pixels = &ppm[b"P6\n64 64\n255\n".len()..];
        assert_eq!(pixels.len(), frame_len);
        for (j, &p) in pixels.iter().enumerate() {
            worst = worst.max((f32::from(p) / 255.0 - want[i * frame_len + j]).abs());
        }
    }
    assert!(worst <= FRAME_TOL, "frames differ by {worst}");

    // The soundtrack: the vocoder's stereo 16 kHz waveform, then silence to one second.
    let (channels, rate, samples) = read_float_wav(&sb.path().join("sound.wav"));
    assert_eq!((channels, rate, samples.len()), (2, 16_000, 2 * 16_000));
    let wave = reference["distilled.waveform"].to_vec2::<f32>().unwrap();
    let n = wave[0].len();
    let mut worst = 0f32;
    for i in 0..n {
        for c in 0..2 {
            worst = worst.max((samples[i * 2 + c] - wave[c][i]).abs());
        }
    }
    let peak = wave.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
    assert!(peak > 1e-3, "the reference waveform is not silent");
    assert!(
        worst <= WAVE_TOL * peak.max(1.0),
        "waveform differs by {worst}"
    );
    assert!(samples[n * 2..].iter().all(|&s| s == 0.0));

    // The MP4: H.264 + AAC, audio and video the same length within one frame.
    let info = reel_media::probe(&sb.path().join("av.mp4")).unwrap();
    assert_eq!((info.width, info.height, info.frames), (64, 64, 17));
    assert_eq!(info.video_codec, "h264");
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    let video_ms = info.video_duration_ms.expect("video duration") as i64;
    let audio_ms = info.audio_duration_ms.expect("audio duration") as i64;
    assert!(
        (video_ms - audio_ms).abs() <= 1000 / 17,
        "video {video_ms} ms, audio {audio_ms} ms"
    );
}

#[test]
fn audio_latents_of_the_wrong_shape_or_model_are_refused_by_name() {
    let sb = Sandbox::sqlite();
    let reference = reference();
    let audio_latents = sb.path().join("audio.safetensors");
    // Half the audio frames this clip needs.
    let short = reference["audio_noise"].narrow(2, 0, 10).unwrap();
    write_latents(&audio_latents, "latents", &short);
    let model_dir = fixtures().join("model");
    let envs = [("REEL_RENDER__FPS", "17")];
    let base = |model: &str| {
        vec![
            "render".to_string(),
            "a robot dancing".into(),
            "-o".into(),
            "bad.mp4".into(),
            "--duration".into(),
            "1".into(),
            "--size".into(),
            "64x64".into(),
            "--model-dir".into(),
            model.into(),
            "--audio-latents".into(),
            audio_latents.to_str().unwrap().into(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sb.run(&args, &envs)
    };
    let out = run(base(model_dir.to_str().unwrap()));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("audio latents have shape"), "{stderr}");
    assert!(!sb.path().join("bad.mp4").exists());

    // LTX-Video has no soundtrack to start.
    let ltx_video =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/tests/fixtures/ltx/pipeline/tiny");
    let out = run(base(ltx_video.to_str().unwrap()));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--audio-latents needs the ltx-2 model"),
        "{stderr}"
    );
}

/// A mono 16-bit PCM WAV at 16 kHz.
fn write_wav(path: &Path, samples: &[f32]) {
    let mut out = Vec::new();
    let data = (samples.len() * 2) as u32;
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&16_000u32.to_le_bytes());
    out.extend_from_slice(&32_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&((s * 32767.0).round() as i16).to_le_bytes());
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn render_with_speech_makes_the_clip_follow_it_and_refuses_bad_tracks() {
    let sb = Sandbox::sqlite();
    let model_dir = fixtures().join("model");
    // 0.8 s of a warbling tone: the soundtrack of a one-second clip.
    let speech: Vec<f32> = (0..12_800)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            0.4 * (std::f32::consts::TAU * (300.0 + 80.0 * (6.0 * t).sin()) * t).sin()
        })
        .collect();
    write_wav(&sb.path().join("line.wav"), &speech);
    write_wav(&sb.path().join("silent.wav"), &vec![0.0; 8000]);
    write_wav(
        &sb.path().join("long.wav"),
        &[speech.clone(), speech.clone()].concat(),
    );
    std::fs::write(sb.path().join("noise.wav"), b"RIFF? not really a wave file").unwrap();
    let envs = [("REEL_RENDER__FPS", "17")];
    let run = |speech: &str, out: &str| {
        sb.run(
            &[
                "render",
                "someone talking",
                "-o",
                out,
                "--duration",
                "1",
                "--size",
                "64x64",
                "--model-dir",
                model_dir.to_str().unwrap(),
                "--speech",
                speech,
                "--audio-out",
                "sound.wav",
            ],
            &envs,
        )
    };
    let out = run("line.wav", "talk.mp4");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The soundtrack is the given speech (16-bit), then silence to one second.
    let (channels, rate, samples) = read_float_wav(&sb.path().join("sound.wav"));
    assert_eq!((channels, rate, samples.len()), (1, 16_000, 16_000));
    let worst = speech
        .iter()
        .zip(&samples)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 2.0 / 32767.0, "speech changed by {worst}");
    assert!(samples[12_800..].iter().all(|&s| s == 0.0));
    let info = reel_media::probe(&sb.path().join("talk.mp4")).unwrap();
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    assert_eq!(info.frames, 17);

    for (file, message) in [
        ("silent.wav", "silent"),
        ("long.wav", "the speech is 1.60 s long"),
        ("noise.wav", "noise.wav"),
    ] {
        let out = run(file, "bad.mp4");
        assert!(!out.status.success(), "{file} was accepted");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(message), "{file}: {stderr}");
        assert!(!sb.path().join("bad.mp4").exists());
    }
}
