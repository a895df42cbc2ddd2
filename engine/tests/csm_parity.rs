//! CSM and its Mimi codec against transformers on a tiny random-weight
//! model (fixtures from scripts/golden/csm.py, loaded through the real
//! loading code): codec codes and waveform, the cloning prompt's token
//! layout, backbone and depth-decoder logits, and greedy frames token for
//! token, with a reference turn and without.
//!
//! Tolerances: codes, prompt ids and greedy frames are exact. Logits 1e-4
//! absolute (f32 throughout; they are of order 1-5 here), the codec's
//! waveforms 1e-4 absolute against samples of order 0.1-1. Measured:
//! backbone logits 2.7e-6, its last state 2.2e-6, depth decoder logits
//! 2.4e-7 (one pass and cached), decoded waveforms 3.6e-7 and 4.8e-7.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use reel_engine::voice::{Position, SpeakOptions, SpeechModel};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/csm")
}

fn reference() -> HashMap<String, Tensor> {
    let path = dir().join("reference.safetensors");
    candle_core::safetensors::load(&path, &Device::Cpu).unwrap_or_else(|e| {
        panic!(
            "fixture {} (run scripts/golden/csm.py): {e}",
            path.display()
        )
    })
}

fn meta() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("reference.json")).unwrap()).unwrap()
}

fn model() -> SpeechModel {
    SpeechModel::load(&dir().join("tiny"), &Device::Cpu).unwrap()
}

fn get(r: &HashMap<String, Tensor>, name: &str) -> Tensor {
    r.get(name)
        .unwrap_or_else(|| panic!("reference tensor {name} missing"))
        .clone()
}

fn floats(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn ints(t: &Tensor) -> Vec<i64> {
    t.to_dtype(DType::I64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// (frames, codebooks) rows of a reference (F, K) tensor.
fn frames(t: &Tensor) -> Vec<Vec<u32>> {
    let (f, k) = t.dims2().unwrap();
    let flat = ints(t);
    (0..f)
        .map(|i| flat[i * k..(i + 1) * k].iter().map(|c| *c as u32).collect())
        .collect()
}

/// The voice clip's frames, as the codec in transformers made them.
fn voice_frames(r: &HashMap<String, Tensor>) -> Vec<Vec<u32>> {
    frames(&get(r, "voice.codes").t().unwrap())
}

/// Prompt positions as CsmProcessor's ids: frames are `<|AUDIO|>`, the
/// all-eos frame `<|audio_eos|>`.
fn as_ids(positions: &[Position]) -> Vec<i64> {
    const AUDIO: i64 = 258;
    const AUDIO_EOS: i64 = 259;
    positions
        .iter()
        .map(|p| match p {
            Position::Text(id) => i64::from(*id),
            Position::Frame(codes) if codes.iter().all(|c| *c == 0) => AUDIO_EOS,
            Position::Frame(_) => AUDIO,
        })
        .collect()
}

fn clone_prompt(model: &SpeechModel, r: &HashMap<String, Tensor>) -> Vec<Position> {
    let m = meta();
    let reference = voice_frames(r);
    model
        .prompt(
            Some((m["voice_text"].as_str().unwrap(), &reference)),
            m["line"].as_str().unwrap(),
        )
        .unwrap()
}

/// Greedy, capped where transformers' run was: its max_new_tokens (which
/// counts a final all-eos frame), so a line it ended must end here too.
fn greedy(reference_frames: usize) -> SpeakOptions {
    SpeakOptions {
        seed: 0,
        temperature: Some(0.0),
        top_k: None,
        max_seconds: reference_frames as f32 / 12.5,
    }
}

#[test]
fn codec_encodes_the_reference_clip_to_the_same_codes() {
    let r = reference();
    let mut model = model();
    let codes = model.encode(&floats(&get(&r, "voice.samples"))).unwrap();
    assert_eq!(codes, voice_frames(&r));
}

#[test]
fn codec_decodes_codes_to_the_same_waveform() {
    let r = reference();
    let mut model = model();
    let samples = model.decode(&voice_frames(&r)).unwrap();
    let expected = floats(&get(&r, "voice.decoded"));
    let diff = max_diff(&samples, &expected);
    assert!(diff < 1e-4, "decoded waveform differs by {diff}");
}

#[test]
fn the_cloning_prompt_is_laid_out_as_csm_processor_does() {
    let r = reference();
    let model = model();
    let prompt = clone_prompt(&model, &r);
    assert_eq!(as_ids(&prompt), ints(&get(&r, "clone.input_ids")));
    let plain = model
        .prompt(None, meta()["line"].as_str().unwrap())
        .unwrap();
    assert_eq!(as_ids(&plain), ints(&get(&r, "plain.input_ids")));
}

#[test]
fn backbone_logits_match_for_the_whole_prompt() {
    let r = reference();
    let mut model = model();
    let prompt = clone_prompt(&model, &r);
    let csm = model.csm();
    csm.reset();
    let embeds = csm.embed(&prompt).unwrap();
    let states = csm.backbone(&embeds).unwrap();
    let logits = csm.codebook0_logits(&states.squeeze(0).unwrap()).unwrap();
    let diff = max_diff(&floats(&logits), &floats(&get(&r, "clone.backbone_logits")));
    assert!(diff < 1e-4, "backbone logits differ by {diff}");
    let t = states.dim(1).unwrap();
    let last = states.get(0).unwrap().get(t - 1).unwrap();
    let diff = max_diff(
        &floats(&last),
        &floats(&get(&r, "clone.backbone_last_hidden")),
    );
    assert!(diff < 1e-4, "backbone last state differs by {diff}");
}

#[test]
fn depth_decoder_logits_match() {
    let r = reference();
    let mut model = model();
    let last = get(&r, "clone.backbone_last_hidden").unsqueeze(0).unwrap();
    let prefix: Vec<u32> = ints(&get(&r, "clone.depth_input"))
        .iter()
        .map(|c| *c as u32)
        .collect();
    let logits = model.csm().depth_logits(&last, &prefix).unwrap();
    let diff = max_diff(&floats(&logits), &floats(&get(&r, "clone.depth_logits")));
    assert!(diff < 1e-4, "depth decoder logits differ by {diff}");
    // The incremental path generation uses gives the same rows.
    let csm = model.csm();
    let mut rows = vec![floats(&csm.depth_start(&last, prefix[1]).unwrap())];
    for (codebook, code) in prefix.iter().enumerate().skip(2) {
        rows.push(floats(&csm.depth_next(codebook - 1, *code).unwrap()));
    }
    let diff = max_diff(&rows.concat(), &floats(&get(&r, "clone.depth_logits")));
    assert!(diff < 1e-4, "cached depth decoder logits differ by {diff}");
}

/// transformers keeps the all-eos frame that ended a line; we drop it.
fn without_eos(mut frames: Vec<Vec<u32>>) -> Vec<Vec<u32>> {
    if frames.last().is_some_and(|f| f.iter().all(|c| *c == 0)) {
        frames.pop();
    }
    frames
}

#[test]
fn greedy_frames_match_token_for_token_with_a_reference_voice() {
    let r = reference();
    let mut model = model();
    let reference_frames = frames(&get(&r, "clone.frames"));
    let cap = greedy(reference_frames.len());
    let expected = without_eos(reference_frames);
    let prompt = clone_prompt(&model, &r);
    let got = model.generate(&prompt, &cap).unwrap();
    assert_eq!(got, expected);
}

#[test]
fn greedy_frames_and_audio_match_in_the_default_voice() {
    let r = reference();
    let mut model = model();
    let reference_frames = frames(&get(&r, "plain.frames"));
    let cap = greedy(reference_frames.len());
    let expected = without_eos(reference_frames);
    let prompt = model
        .prompt(None, meta()["line"].as_str().unwrap())
        .unwrap();
    let got = model.generate(&prompt, &cap).unwrap();
    assert_eq!(got, expected);
    let audio = model.decode(&got).unwrap();
    let diff = max_diff(&audio, &floats(&get(&r, "plain.audio")));
    assert!(diff < 1e-4, "decoded line differs by {diff}");
}
