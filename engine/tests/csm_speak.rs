//! `SpeechModel::speak` on the tiny random-weight CSM (fixtures from
//! scripts/golden/csm.py): seeded sampling is reproducible, the length cap
//! holds, an all-zero frame ends the line, and bad input is refused with
//! the error that names it.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use reel_engine::voice::{SpeakOptions, SpeechModel, VoiceError, VoicePrompt};
use reel_media::Audio;

fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/csm/tiny")
}

fn model() -> SpeechModel {
    SpeechModel::load(&tiny(), &Device::Cpu).unwrap()
}

fn voiced(seconds: f32, rate: u32) -> Audio {
    let samples = (0..(seconds * rate as f32) as usize)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let envelope = 0.5 * (1.0 - (2.0 * std::f32::consts::PI * 4.0 * t).cos());
            0.3 * envelope * (2.0 * std::f32::consts::PI * 140.0 * t).sin()
        })
        .collect();
    Audio {
        sample_rate: rate,
        channels: 1,
        samples,
    }
}

fn options(seed: u64, max_seconds: f32) -> SpeakOptions {
    SpeakOptions {
        seed,
        max_seconds,
        ..SpeakOptions::default()
    }
}

#[test]
fn a_seed_speaks_the_same_line_every_time_and_another_seed_another() {
    let mut model = model();
    let voice = VoicePrompt {
        audio: voiced(1.0, 16_000),
        transcript: "amber river".into(),
    };
    let a = model
        .speak("hello there", Some(&voice), &options(7, 0.8))
        .unwrap();
    let b = model
        .speak("hello there", Some(&voice), &options(7, 0.8))
        .unwrap();
    let c = model
        .speak("hello there", Some(&voice), &options(8, 0.8))
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a.samples, c.samples);
    assert_eq!((a.sample_rate, a.channels), (24_000, 1));
    // 0.8 s at 12.5 frames/s: 10 frames of 1920 samples (the random model never ends a line).
    assert_eq!(a.samples.len(), 10 * 1920);
    let plain = model.speak("hello there", None, &options(7, 0.8)).unwrap();
    assert_ne!(
        plain.samples, a.samples,
        "the voice prompt changes the line"
    );
}

#[test]
fn the_length_is_capped_at_thirty_seconds_whatever_is_asked() {
    let mut model = model();
    let prompt = model.prompt(None, "hi").unwrap();
    let greedy = SpeakOptions {
        temperature: Some(0.0),
        max_seconds: 1000.0,
        ..SpeakOptions::default()
    };
    // 30 s: 375 frames, well inside the backbone's 2048 positions.
    assert_eq!(model.generate(&prompt, &greedy).unwrap().len(), 375);
}

/// The tiny model with every head's weights zero: every logit ties, greedy
/// takes code 0 everywhere, so the first frame is the end-of-speech frame.
fn model_that_ends_at_once(dir: &Path) -> SpeechModel {
    for file in ["config.json", "generation_config.json", "tokenizer.json"] {
        std::fs::copy(tiny().join(file), dir.join(file)).unwrap();
    }
    let mut tensors =
        candle_core::safetensors::load(tiny().join("model.safetensors"), &Device::Cpu).unwrap();
    for name in ["lm_head.weight", "depth_decoder.codebooks_head.weight"] {
        let t = &tensors[name];
        let zeros = Tensor::zeros(t.shape(), DType::F32, &Device::Cpu).unwrap();
        tensors.insert(name.to_string(), zeros);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    SpeechModel::load(dir, &Device::Cpu).unwrap()
}

#[test]
fn an_all_zero_frame_ends_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = model_that_ends_at_once(dir.path());
    let greedy = SpeakOptions {
        temperature: Some(0.0),
        ..SpeakOptions::default()
    };
    let audio = model.speak("hello", None, &greedy).unwrap();
    assert!(audio.samples.is_empty(), "{} samples", audio.samples.len());
}

#[test]
fn bad_lines_and_voices_are_refused_by_name() {
    let mut model = model();
    let speak = |model: &mut SpeechModel, line: &str, voice: Option<VoicePrompt>| {
        model
            .speak(line, voice.as_ref(), &options(0, 0.4))
            .unwrap_err()
    };
    assert!(matches!(
        speak(&mut model, " \n ", None),
        VoiceError::EmptyLine
    ));
    assert!(matches!(
        speak(&mut model, &"a".repeat(301), None),
        VoiceError::LineTooLong {
            chars: 301,
            max: 300
        }
    ));
    assert!(matches!(
        speak(&mut model, "hi\u{1b}[31m", None),
        VoiceError::ControlCharacter(0x1b)
    ));
    let voice = |audio: Audio, transcript: &str| {
        Some(VoicePrompt {
            audio,
            transcript: transcript.into(),
        })
    };
    let silent = Audio {
        sample_rate: 16_000,
        channels: 1,
        samples: vec![1e-5; 16_000],
    };
    assert!(matches!(
        speak(&mut model, "hi", voice(silent, "amber river")),
        VoiceError::SilentVoice
    ));
    assert!(matches!(
        speak(&mut model, "hi", voice(voiced(0.2, 16_000), "amber river")),
        VoiceError::VoiceTooShort { .. }
    ));
    let mut broken = voiced(1.0, 16_000);
    broken.samples[10] = f32::NAN;
    assert!(matches!(
        speak(&mut model, "hi", voice(broken, "amber river")),
        VoiceError::UnreadableVoice(_)
    ));
    let empty = Audio {
        sample_rate: 16_000,
        channels: 1,
        samples: Vec::new(),
    };
    assert!(matches!(
        speak(&mut model, "hi", voice(empty, "amber river")),
        VoiceError::UnreadableVoice(_)
    ));
    assert!(matches!(
        speak(&mut model, "hi", voice(voiced(1.0, 16_000), "  ")),
        VoiceError::BadTranscript(_)
    ));
    let message = speak(&mut model, "hi", voice(voiced(1.0, 16_000), "  ")).to_string();
    assert!(
        message.contains("transcript") && message.contains("empty"),
        "{message}"
    );
}

#[test]
fn a_directory_without_the_model_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let error = SpeechModel::load(dir.path(), &Device::Cpu).err().unwrap();
    assert!(error.to_string().contains("reel pull csm-1b"), "{error}");
}

/// candle-transformers' Mimi keeps its attention's rotary position across
/// calls; the codec must not (the second line would be garbled).
#[test]
fn the_codec_encodes_and_decodes_the_same_on_every_call() {
    let mut model = model();
    let clip = voiced(1.0, 24_000).samples;
    let first = model.encode(&clip).unwrap();
    assert_eq!(model.encode(&clip).unwrap(), first);
    let audio = model.decode(&first).unwrap();
    assert_eq!(model.decode(&first).unwrap(), audio);
}
