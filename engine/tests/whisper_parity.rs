//! Whisper against transformers on a tiny random-weight multilingual model
//! (fixtures from scripts/golden/tiny_whisper.py): log-mel features, encoder
//! output, detected language, greedy tokens and their log-probabilities,
//! for espeak-ng speech (English, German) and tones.
//!
//! Tolerances: features 2e-4 (transformers computes them in f32 with
//! torch.stft, here in f64). Encoder output and log-probabilities 3e-2:
//! candle-transformers' Whisper computes GELU in its tanh form, where
//! Whisper (transformers, OpenAI) uses the erf form, in the encoder's convs
//! (always) and MLPs ("gelu" in config.json, as here). This model's weights
//! are large on purpose (init_std 0.8, so the clips decode differently),
//! which amplifies that: the largest differences measured are 3.9e-3
//! (encoder) and 1.9e-2 (a log-probability). f32 rounding alone moves the
//! encoder output by 5e-5 at most. Tokens and languages are exact.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use reel_engine::perception::speech::mel::FRAMES;
use reel_engine::perception::speech::{SpeechError, SpeechToText, Whisper, WhisperOptions};

const CLIPS: [&str; 3] = ["english", "german", "tones"];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whisper")
}

fn fixtures() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir().join("clips.safetensors"), &Device::Cpu).unwrap()
}

fn meta() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("clips.json")).unwrap()).unwrap()
}

fn model() -> Whisper {
    let options = WhisperOptions {
        max_new_tokens: meta()["max_new_tokens"].as_u64().unwrap() as usize,
        ..WhisperOptions::default()
    };
    Whisper::load(&dir().join("tiny"), &Device::Cpu, options).unwrap()
}

fn floats(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The reference features, the padding frames filled back in: (80, 3000).
fn reference_features(f: &HashMap<String, Tensor>, clip: &str) -> Vec<f32> {
    let head = &f[&format!("{clip}.mel")];
    let pad = floats(&f[&format!("{clip}.mel_pad")]);
    let (mels, live) = head.dims2().unwrap();
    let head = floats(head);
    let mut full = Vec::with_capacity(mels * FRAMES);
    for m in 0..mels {
        full.extend_from_slice(&head[m * live..(m + 1) * live]);
        full.extend(std::iter::repeat_n(pad[m], FRAMES - live));
    }
    full
}

#[test]
fn log_mel_features_match_transformers() {
    let f = fixtures();
    let whisper = model();
    for clip in CLIPS {
        let samples = floats(&f[&format!("{clip}.samples")]);
        let ours = whisper.features(&samples);
        let diff = max_diff(&ours, &reference_features(&f, clip));
        assert!(diff <= 2e-4, "{clip}: features differ by {diff}");
    }
}

#[test]
fn encoder_output_matches_transformers() {
    let f = fixtures();
    let whisper = model();
    for clip in CLIPS {
        let features = reference_features(&f, clip);
        let ours = floats(&whisper.encode(&features).unwrap());
        let reference = floats(&f[&format!("{clip}.encoder")]);
        let diff = max_diff(&ours, &reference);
        assert!(diff <= 3e-2, "{clip}: encoder output differs by {diff}");
    }
}

#[test]
fn greedy_tokens_and_language_match_transformers() {
    let f = fixtures();
    let meta = meta();
    let whisper = model();
    let mut languages = Vec::new();
    for clip in CLIPS {
        let samples = floats(&f[&format!("{clip}.samples")]);
        let decoded = whisper.decode_window(&samples, None).unwrap();
        let language: Vec<i64> = f[&format!("{clip}.language")].to_vec1().unwrap();
        assert_eq!(i64::from(decoded.language_token), language[0], "{clip}");
        let tokens: Vec<i64> = f[&format!("{clip}.tokens")].to_vec1().unwrap();
        let ours: Vec<i64> = decoded.tokens.iter().map(|t| i64::from(*t)).collect();
        assert_eq!(ours, tokens, "{clip}: greedy tokens differ");
        let logprobs: Vec<f64> = f[&format!("{clip}.logprobs")].to_vec1().unwrap();
        for (i, (a, b)) in decoded.logprobs.iter().zip(&logprobs).enumerate() {
            assert!(
                (a - b).abs() <= 3e-2,
                "{clip} token {i}: log-prob {a} vs {b}"
            );
        }

        let transcript = whisper.transcribe(&samples).unwrap();
        let expected = &meta["clips"][clip];
        assert_eq!(
            transcript.text,
            expected["text"].as_str().unwrap(),
            "{clip}"
        );
        assert_eq!(
            transcript.language,
            expected["language"].as_str().unwrap(),
            "{clip}"
        );
        let avg = expected["avg_logprob"].as_f64().unwrap();
        assert!(
            (f64::from(transcript.avg_logprob) - avg).abs() <= 3e-2,
            "{clip}"
        );
        languages.push(transcript.language);
    }
    // The clips are told apart: the model is not ignoring its input.
    languages.dedup();
    assert!(languages.len() > 1, "{languages:?}");
}

#[test]
fn bad_input_and_missing_models_are_clear_errors() {
    let whisper = model();
    assert!(matches!(
        whisper.transcribe(&[]),
        Err(SpeechError::EmptyAudio)
    ));
    let long = vec![0.1f32; 16_000 * 121];
    let err = whisper.transcribe(&long).unwrap_err();
    assert!(matches!(err, SpeechError::TooLong { .. }), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = Whisper::load(empty.path(), &Device::Cpu, WhisperOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, SpeechError::MissingModel { .. }), "{err}");
    assert!(err.to_string().contains("reel pull whisper-base"), "{err}");

    // A directory whose weights are not safetensors.
    let broken = tempfile::tempdir().unwrap();
    for name in ["config.json", "generation_config.json", "tokenizer.json"] {
        std::fs::copy(dir().join("tiny").join(name), broken.path().join(name)).unwrap();
    }
    std::fs::write(broken.path().join("model.safetensors"), b"not weights").unwrap();
    let err = Whisper::load(broken.path(), &Device::Cpu, WhisperOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, SpeechError::BadModel { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

/// A window past 30 s is decoded in the first window's language.
#[test]
fn long_audio_is_decoded_window_by_window() {
    let f = fixtures();
    let whisper = model();
    let speech = floats(&f["english.samples"]);
    let mut long = vec![0.0f32; 16_000 * 30];
    long[..speech.len()].copy_from_slice(&speech);
    long.extend_from_slice(&speech);
    let transcript = whisper.transcribe(&long).unwrap();
    let first = whisper.decode_window(&long[..16_000 * 30], None).unwrap();
    let second = whisper
        .decode_window(&long[16_000 * 30..], Some(first.language_token))
        .unwrap();
    let tokens: Vec<u32> = first.tokens.iter().chain(&second.tokens).copied().collect();
    assert_eq!(transcript.text, whisper.text(&tokens).unwrap());
    assert_eq!(
        transcript.language,
        whisper.language_code(first.language_token)
    );
}
