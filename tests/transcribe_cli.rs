//! `reel transcribe` through the binary on the tiny random-weight Whisper
//! of the parity fixtures (scripts/golden/tiny_whisper.py): the file is
//! decoded by FFmpeg, transcribed, and printed as JSON equal to what
//! transformers made of the same clip.

mod common;

use std::path::{Path, PathBuf};

use common::{text, Sandbox};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/tests/fixtures/whisper")
}

/// A 16 kHz mono IEEE-float WAV of `samples`.
fn write_wav(path: &Path, samples: &[f32]) {
    let data = samples.len() as u32 * 4;
    let mut bytes = Vec::with_capacity(44 + data as usize);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&16_000u32.to_le_bytes());
    bytes.extend_from_slice(&(16_000u32 * 4).to_le_bytes());
    bytes.extend_from_slice(&4u16.to_le_bytes());
    bytes.extend_from_slice(&32u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

fn clip_samples(clip: &str) -> Vec<f32> {
    let bytes = std::fs::read(fixtures().join("clips.safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = tensors.tensor(&format!("{clip}.samples")).unwrap();
    view.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn transcribe(sandbox: &Sandbox, file: &Path, model: &Path) -> std::process::Output {
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("clips.json")).unwrap())
            .unwrap();
    let max_new = meta["max_new_tokens"].to_string();
    sandbox.run(
        &["transcribe", file.to_str().unwrap()],
        &[
            (
                "REEL_PERCEPTION__WHISPER_MODEL_DIR",
                model.to_str().unwrap(),
            ),
            ("REEL_PERCEPTION__WHISPER_MAX_NEW_TOKENS", &max_new),
        ],
    )
}

#[test]
fn transcribe_prints_what_transformers_heard() {
    let sandbox = Sandbox::sqlite();
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("clips.json")).unwrap())
            .unwrap();
    for clip in ["english", "german"] {
        let wav = sandbox.path().join(format!("{clip}.wav"));
        write_wav(&wav, &clip_samples(clip));
        let out = transcribe(&sandbox, &wav, &fixtures().join("tiny"));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)));
        let expected = &meta["clips"][clip];
        assert_eq!(json["text"], expected["text"], "{clip}");
        assert_eq!(json["language"], expected["language"], "{clip}");
        let avg = json["avg_logprob"].as_f64().unwrap();
        // Tolerance as in engine/tests/whisper_parity.rs.
        assert!((avg - expected["avg_logprob"].as_f64().unwrap()).abs() < 3e-2);
    }
}

#[test]
fn bad_files_and_missing_models_are_clear_errors() {
    let sandbox = Sandbox::sqlite();
    let model = fixtures().join("tiny");
    let garbage = sandbox.path().join("voice.ogg");
    std::fs::write(&garbage, b"this is not audio").unwrap();
    let out = transcribe(&sandbox, &garbage, &model);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("voice.ogg"),
        "{}",
        text(&out.stderr)
    );

    let empty = sandbox.path().join("empty.m4a");
    std::fs::write(&empty, b"").unwrap();
    let out = transcribe(&sandbox, &empty, &model);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("empty"), "{}", text(&out.stderr));

    let wav = sandbox.path().join("speech.wav");
    write_wav(&wav, &clip_samples("english"));
    let out = transcribe(&sandbox, &wav, &sandbox.path().join("no-model-here"));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("reel pull whisper-base"), "{stderr}");
    assert!(stderr.contains("whisper_model_dir"), "{stderr}");
}
