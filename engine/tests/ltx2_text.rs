//! LTX-2's text conditioning against diffusers: the Gemma tokenizer, Gemma 3's
//! stacked hidden states as LTX2Pipeline packs them, and three connector
//! layouts (fixtures by scripts/golden/ltx2_text.py).

mod ltx2_parity;

use candle_core::{DType, Device, Tensor};
use ltx2_parity::{get, max_abs, max_abs_diff, reference};
use reel_engine::ltx2::connectors::{PaddingSide, TextConnectors};
use reel_engine::ltx2::text_encoder::{TextEncoder, TextEncoderError};
use serde::Deserialize;

/// f32 through three Gemma layers with O(1..10) activations: rounding only.
const STATES_TOL: f32 = 1e-4;
/// The connectors' outputs are RMS-normalised (O(1)).
const CONNECTOR_TOL: f32 = 1e-4;

#[derive(Deserialize)]
struct Prompts {
    prompts: Vec<String>,
    max_sequence_length: usize,
}

fn prompts() -> Prompts {
    let path = ltx2_parity::fixture_dir("text").join("prompts.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn encoder() -> TextEncoder {
    let dir = ltx2_parity::fixture_dir("text");
    TextEncoder::load(
        &dir.join("text_encoder"),
        &dir.join("tokenizer"),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap()
}

/// Keeps the rows of real tokens (padding states are never used downstream).
fn real_rows(x: &Tensor, mask: &Tensor) -> Tensor {
    let keep = mask.to_dtype(DType::F32).unwrap().unsqueeze(2).unwrap();
    x.broadcast_mul(&keep).unwrap()
}

#[test]
fn tokens_match_the_gemma_tokenizer() {
    let p = prompts();
    let reference = reference("text");
    let prompts: Vec<&str> = p.prompts.iter().map(String::as_str).collect();
    let batch = encoder()
        .tokenizer()
        .encode_padded(&prompts, p.max_sequence_length)
        .unwrap();
    let want: Vec<Vec<i64>> = get(&reference, "input_ids")
        .to_dtype(DType::I64)
        .unwrap()
        .to_vec2()
        .unwrap();
    let got: Vec<Vec<i64>> = batch
        .ids
        .iter()
        .map(|row| row.iter().map(|&id| id as i64).collect())
        .collect();
    assert_eq!(got, want);
    let want_mask: Vec<Vec<f32>> = get(&reference, "attention_mask").to_vec2().unwrap();
    let got_mask: Vec<Vec<f32>> = batch
        .mask
        .iter()
        .map(|row| row.iter().map(|&m| m as f32).collect())
        .collect();
    assert_eq!(got_mask, want_mask);
}

#[test]
fn stacked_hidden_states_match_gemma3() {
    let p = prompts();
    let reference = reference("text");
    let prompts: Vec<&str> = p.prompts.iter().map(String::as_str).collect();
    let embeds = encoder().encode(&prompts, p.max_sequence_length).unwrap();
    let want = get(&reference, "prompt_embeds");
    let mask = get(&reference, "attention_mask");
    assert_eq!(embeds.embeds.dims(), want.dims());
    let err = max_abs_diff(&real_rows(&embeds.embeds, &mask), &real_rows(&want, &mask));
    eprintln!(
        "stacked states: max abs error {err} (max value {})",
        max_abs(&want)
    );
    assert!(
        err < STATES_TOL,
        "max abs error {err} (largest value {})",
        max_abs(&want)
    );
    assert_eq!(max_abs_diff(&embeds.mask, &mask), 0.0);
}

#[test]
fn connectors_match_diffusers() {
    let reference = reference("text");
    let states = get(&reference, "prompt_embeds");
    let mask = get(&reference, "attention_mask");
    for name in ["connectors_2_0", "connectors_plain", "connectors_2_3"] {
        let dir = ltx2_parity::fixture_dir("text").join(name);
        let connectors = TextConnectors::load(&dir, DType::F32, &Device::Cpu).unwrap();
        let out = connectors
            .forward(&states, &mask, PaddingSide::Left)
            .unwrap();
        let video = max_abs_diff(&out.video, &get(&reference, &format!("{name}.video")));
        let audio = max_abs_diff(&out.audio, &get(&reference, &format!("{name}.audio")));
        eprintln!("{name}: video error {video}, audio error {audio}");
        let out_mask = max_abs_diff(&out.mask, &get(&reference, &format!("{name}.mask")));
        assert!(video < CONNECTOR_TOL, "{name}: video error {video}");
        assert!(audio < CONNECTOR_TOL, "{name}: audio error {audio}");
        assert_eq!(out_mask, 0.0, "{name}: mask");
    }
}

#[test]
fn an_empty_batch_is_refused() {
    assert!(matches!(
        encoder().encode(&[], 16),
        Err(TextEncoderError::NoPrompts)
    ));
    assert!(matches!(
        encoder().encode(&["a"], 0),
        Err(TextEncoderError::ZeroLength)
    ));
}

#[test]
fn a_missing_weight_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let src = ltx2_parity::fixture_dir("text");
    let dir = tmp.path().join("text_encoder");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        src.join("text_encoder/config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    let err = TextEncoder::load(&dir, &src.join("tokenizer"), DType::F32, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}
