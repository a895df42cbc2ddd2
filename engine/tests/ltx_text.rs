//! The T5 tokenizer and text encoder against transformers/diffusers
//! (fixtures by scripts/golden/tiny_text.py).

mod parity;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use reel_engine::ltx::text_encoder::{
    EncodeError, EncoderMask, LoadError, PromptEmbeds, T5Tokenizer, TextEncoder, TokenizerError,
};
use serde::Deserialize;

/// f32 embeddings of O(1) magnitude through 2 T5 blocks.
const EMBED_TOL: f32 = 1e-4;

fn fixtures() -> PathBuf {
    parity::fixture_dir("text")
}

fn reference() -> HashMap<String, Tensor> {
    let path = fixtures().join("embeds.safetensors");
    candle_core::safetensors::load(&path, &Device::Cpu).unwrap_or_else(|e| {
        panic!(
            "fixture {} (run scripts/golden/tiny_text.py): {e}",
            path.display()
        )
    })
}

#[derive(Deserialize)]
struct TokenCase {
    tokenizer: String,
    vocab_size: usize,
    max_length: usize,
    input_ids: Vec<Vec<u32>>,
    attention_mask: Vec<Vec<u32>>,
    untruncated_ids: Vec<Vec<u32>>,
}

#[derive(Deserialize)]
struct Tokens {
    prompts: Vec<String>,
    cases: Vec<TokenCase>,
}

#[test]
fn token_ids_match_transformers_with_and_without_tokenizer_json() {
    let text =
        std::fs::read_to_string(fixtures().join("tokens.json")).expect("tokens.json fixture");
    let tokens: Tokens = serde_json::from_str(&text).unwrap();
    let prompts: Vec<&str> = tokens.prompts.iter().map(String::as_str).collect();
    assert!(Path::new(&fixtures().join("tokenizer/tokenizer.json")).is_file());
    assert!(!fixtures().join("tokenizer_spm/tokenizer.json").exists());
    assert!(fixtures().join("tokenizer_spm/spiece.model").is_file());
    for case in &tokens.cases {
        let tok = T5Tokenizer::load(&fixtures().join(&case.tokenizer)).unwrap();
        assert_eq!(tok.vocab_size(), case.vocab_size, "{}", case.tokenizer);
        for (i, prompt) in prompts.iter().enumerate() {
            assert_eq!(
                tok.encode(prompt).unwrap(),
                case.untruncated_ids[i],
                "{} untruncated {prompt:?}",
                case.tokenizer
            );
        }
        let batch = tok.encode_padded(&prompts, case.max_length).unwrap();
        for (i, prompt) in prompts.iter().enumerate() {
            assert_eq!(
                batch.ids[i], case.input_ids[i],
                "{} max_length {} ids of {prompt:?}",
                case.tokenizer, case.max_length
            );
            assert_eq!(
                batch.mask[i], case.attention_mask[i],
                "{} max_length {} mask of {prompt:?}",
                case.tokenizer, case.max_length
            );
        }
    }
    println!(
        "{} tokenizer cases × {} prompts: ids and masks equal",
        tokens.cases.len(),
        prompts.len()
    );
}

#[derive(Deserialize)]
struct Negative {
    prompts: Vec<String>,
    negative: Vec<String>,
    long: String,
}

fn check(label: &str, ours: &PromptEmbeds, embeds: &Tensor, mask: &Tensor) -> f32 {
    let err = parity::max_abs_diff(&ours.embeds, embeds);
    assert_eq!(ours.mask.dtype(), DType::U8);
    assert_eq!(
        parity::max_abs_diff(&ours.mask, mask),
        0.0,
        "{label}: masks differ"
    );
    assert!(
        err <= EMBED_TOL,
        "{label}: max abs error {err} > {EMBED_TOL}"
    );
    err
}

fn compare_with_pipeline(encoder: &TextEncoder, tag: &str) -> f32 {
    let text =
        std::fs::read_to_string(fixtures().join("negative.json")).expect("negative.json fixture");
    let n: Negative = serde_json::from_str(&text).unwrap();
    let prompts: Vec<&str> = n.prompts.iter().map(String::as_str).collect();
    let negative: Vec<&str> = n.negative.iter().map(String::as_str).collect();
    let r = reference();
    let get = |k: &str| &r[&format!("{tag}.{k}")];
    let (pos, neg) = encoder
        .encode_with_negative(&prompts, &negative, 24)
        .unwrap();
    let mut worst = check(
        &format!("{tag} prompts"),
        &pos,
        get("prompt_embeds"),
        get("prompt_mask"),
    );
    worst = worst.max(check(
        &format!("{tag} negative"),
        &neg,
        get("negative_embeds"),
        get("negative_mask"),
    ));
    let long = encoder.encode(&[n.long.as_str()], 128).unwrap();
    worst = worst.max(check(
        &format!("{tag} long, 128"),
        &long,
        get("long_embeds"),
        get("long_mask"),
    ));
    assert_eq!(long.embeds.dims(), &[1, 128, 32]);

    let both = pos.after(&neg).unwrap();
    assert_eq!(both.embeds.dims(), &[6, 24, 32]);
    assert_eq!(
        parity::max_abs_diff(&both.embeds.narrow(0, 0, 3).unwrap(), &neg.embeds),
        0.0
    );
    worst
}

#[test]
fn embeddings_match_ltx_pipeline_encode_prompt() {
    let encoder = TextEncoder::load(&fixtures(), &Device::Cpu, DType::F32).unwrap();
    let worst = compare_with_pipeline(&encoder, "ltx");
    println!(
        "LTXPipeline.encode_prompt (unmasked encoder): max abs error {worst:e} (tol {EMBED_TOL:e})"
    );
}

#[test]
fn embeddings_match_ltx_condition_pipeline_encode_prompt() {
    let encoder = TextEncoder::load(&fixtures(), &Device::Cpu, DType::F32)
        .unwrap()
        .with_encoder_mask(EncoderMask::Masked);
    let worst = compare_with_pipeline(&encoder, "condition");
    println!("LTXConditionPipeline.encode_prompt (masked encoder): max abs error {worst:e} (tol {EMBED_TOL:e})");
    // The two modes really differ at the tokens (padding is attended or not).
    let r = reference();
    assert!(parity::max_abs_diff(&r["ltx.prompt_embeds"], &r["condition.prompt_embeds"]) > 1e-2);
}

#[test]
fn sentencepiece_tokenizer_gives_the_same_embeddings() {
    let tokenizer = T5Tokenizer::load(&fixtures().join("tokenizer_spm")).unwrap();
    let encoder = TextEncoder::from_parts(
        tokenizer,
        &fixtures().join("text_encoder"),
        &Device::Cpu,
        DType::F32,
    )
    .unwrap();
    compare_with_pipeline(&encoder, "ltx");
}

#[test]
fn the_encoder_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<TextEncoder>();
}

#[test]
fn bf16_weights_stay_close_to_f32() {
    let f32_enc = TextEncoder::load(&fixtures(), &Device::Cpu, DType::F32).unwrap();
    let bf16_enc = TextEncoder::load(&fixtures(), &Device::Cpu, DType::BF16).unwrap();
    let prompts = ["A woman walks along the beach at sunset.", ""];
    let a = f32_enc.encode(&prompts, 24).unwrap();
    let b = bf16_enc.encode(&prompts, 24).unwrap();
    assert_eq!(b.embeds.dtype(), DType::BF16);
    let err = parity::max_abs_diff(&a.embeds, &b.embeds);
    let scale: f32 = a
        .embeds
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap();
    // Relative to the largest value: bf16 rounds each op to 2^-9, over 2 blocks.
    let relative = err / scale;
    println!("bf16 vs f32: max abs error {err:e}, {relative:e} of max |value| {scale} (tol 3e-2)");
    assert!(relative <= 3e-2, "bf16 vs f32: {relative}");
}

#[test]
fn bad_arguments_are_errors() {
    let encoder = TextEncoder::load(&fixtures(), &Device::Cpu, DType::F32).unwrap();
    assert!(matches!(
        encoder.encode(&[], 24),
        Err(EncodeError::NoPrompts)
    ));
    assert!(matches!(
        encoder.encode(&["a"], 0),
        Err(EncodeError::ZeroLength)
    ));
    assert!(matches!(
        encoder.encode_with_negative(&["a", "b"], &["c"], 24),
        Err(EncodeError::BatchMismatch(2, 1))
    ));
    // No negative prompts: "" for each, as encode_prompt does.
    let (_, neg) = encoder.encode_with_negative(&["a", "b"], &[], 24).unwrap();
    let empty = encoder.encode(&["", ""], 24).unwrap();
    assert_eq!(parity::max_abs_diff(&neg.embeds, &empty.embeds), 0.0);
}

#[test]
fn bad_model_directories_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = TextEncoder::load(dir.path(), &Device::Cpu, DType::F32)
        .err()
        .unwrap();
    assert!(
        matches!(err, LoadError::Tokenizer(TokenizerError::Missing { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("tokenizer"), "{err}");

    // A broken spiece.model.
    let tok_dir = dir.path().join("tokenizer");
    std::fs::create_dir(&tok_dir).unwrap();
    std::fs::write(tok_dir.join("spiece.model"), [0x0a, 0xff, 0x01]).unwrap();
    let err = T5Tokenizer::load(&tok_dir).err().unwrap();
    assert!(err.to_string().contains("spiece.model"), "{err}");

    // A good tokenizer, no text encoder weights.
    std::fs::remove_file(tok_dir.join("spiece.model")).unwrap();
    for f in [
        "spiece.model",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        std::fs::copy(fixtures().join("tokenizer_spm").join(f), tok_dir.join(f)).unwrap();
    }
    let enc_dir = dir.path().join("text_encoder");
    std::fs::create_dir(&enc_dir).unwrap();
    let config = std::fs::read_to_string(fixtures().join("text_encoder/config.json")).unwrap();
    std::fs::write(enc_dir.join("config.json"), &config).unwrap();
    let err = TextEncoder::load(dir.path(), &Device::Cpu, DType::F32)
        .err()
        .unwrap();
    assert!(err.to_string().contains("model.safetensors"), "{err}");

    // Weights whose shapes do not match the config: the error names the tensor.
    std::fs::copy(
        fixtures().join("text_encoder/model.safetensors"),
        enc_dir.join("model.safetensors"),
    )
    .unwrap();
    let wrong = config.replace("\"d_ff\": 64", "\"d_ff\": 48");
    std::fs::write(enc_dir.join("config.json"), wrong).unwrap();
    let err = TextEncoder::load(dir.path(), &Device::Cpu, DType::F32)
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::Weights { .. }), "{err}");
    assert!(err.to_string().contains("DenseReluDense"), "{err}");

    // A tokenizer larger than the embedding table.
    let small = config.replace("\"vocab_size\": 280", "\"vocab_size\": 200");
    std::fs::write(enc_dir.join("config.json"), small).unwrap();
    let err = TextEncoder::load(dir.path(), &Device::Cpu, DType::F32)
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("text_encoder/config.json")
            && message.contains("vocab_size = 200")
            && message.contains("280 tokens"),
        "{message}"
    );

    // Sharded weights with a missing shard.
    std::fs::write(enc_dir.join("config.json"), &config).unwrap();
    std::fs::remove_file(enc_dir.join("model.safetensors")).unwrap();
    std::fs::write(
        enc_dir.join("model.safetensors.index.json"),
        r#"{"weight_map": {"shared.weight": "model-00001-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let err = TextEncoder::load(dir.path(), &Device::Cpu, DType::F32)
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("model-00001-of-00002.safetensors"),
        "{err}"
    );
}
