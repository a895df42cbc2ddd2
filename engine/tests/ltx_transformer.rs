//! Parity of the LTX-Video transformer with diffusers on a tiny random-weight
//! model. Fixtures: `scripts/golden/tiny_transformer.py` (run by hand).

mod parity;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use reel_engine::ltx::transformer::{
    denormalize_latents, normalize_latents, pack_latents, unpack_latents, Config, LatentGrid,
    LoadError, Transformer, VideoPositions,
};

/// f32 end to end; diffusers itself moves by ~1e-4 between f32 and f64 on the
/// video_coords fixture (rotary phases reach 1.6e4), so this is the bound.
const FORWARD_TOLERANCE: f32 = 1e-4;
/// Pure reshapes and per-channel affine maps.
const HELPER_TOLERANCE: f32 = 1e-6;

fn fixtures() -> PathBuf {
    parity::fixture_dir("transformer")
}

fn load_fixture(name: &str) -> HashMap<String, Tensor> {
    let path = fixtures().join(format!("{name}.safetensors"));
    candle_core::safetensors::load(&path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("missing or unreadable fixture {}: {e}", path.display()))
}

fn get<'a>(fixture: &'a HashMap<String, Tensor>, key: &str) -> &'a Tensor {
    fixture
        .get(key)
        .unwrap_or_else(|| panic!("fixture has no tensor {key}"))
}

fn model() -> Transformer {
    Transformer::load(&fixtures().join("transformer"), DType::F32, &Device::Cpu)
        .expect("tiny transformer loads")
}

fn grid_positions(fixture: &HashMap<String, Tensor>) -> VideoPositions {
    let geometry = get(fixture, "geometry").to_vec1::<f32>().unwrap();
    let scale = get(fixture, "rope_interpolation_scale")
        .to_vec1::<f32>()
        .unwrap();
    VideoPositions::Grid(LatentGrid {
        num_frames: geometry[0] as usize,
        height: geometry[1] as usize,
        width: geometry[2] as usize,
        rope_interpolation_scale: [scale[0] as f64, scale[1] as f64, scale[2] as f64],
    })
}

fn check_forward(name: &str, positions: impl Fn(&HashMap<String, Tensor>) -> VideoPositions) {
    let fixture = load_fixture(name);
    let model = model();
    let output = model
        .forward(
            get(&fixture, "hidden_states"),
            get(&fixture, "encoder_hidden_states"),
            get(&fixture, "timestep"),
            Some(get(&fixture, "encoder_attention_mask")),
            &positions(&fixture),
        )
        .unwrap();
    let error = parity::max_abs_diff(&output, get(&fixture, "output"));
    println!("{name}: max abs error {error:.3e} (tolerance {FORWARD_TOLERANCE:.0e})");
    assert!(error <= FORWARD_TOLERANCE, "{name}: max abs error {error}");
}

#[test]
fn forward_with_one_timestep_per_sample_matches_diffusers() {
    check_forward("forward_scalar", grid_positions);
}

#[test]
fn forward_with_per_token_timesteps_matches_diffusers() {
    check_forward("forward_per_token", grid_positions);
}

#[test]
fn forward_with_explicit_video_coords_matches_diffusers() {
    check_forward("forward_video_coords", |fixture| {
        VideoPositions::Coords(get(fixture, "video_coords").clone())
    });
}

#[test]
fn caption_padding_changes_the_output() {
    // The mask must reach cross-attention: unmasking sample 1's padding moves its output.
    let fixture = load_fixture("forward_scalar");
    let model = model();
    let run = |mask: &Tensor| {
        model
            .forward(
                get(&fixture, "hidden_states"),
                get(&fixture, "encoder_hidden_states"),
                get(&fixture, "timestep"),
                Some(mask),
                &grid_positions(&fixture),
            )
            .unwrap()
    };
    let mask = get(&fixture, "encoder_attention_mask");
    let masked = run(mask);
    let unmasked = run(&mask.ones_like().unwrap());
    let change = parity::max_abs_diff(&masked.get(1).unwrap(), &unmasked.get(1).unwrap());
    assert!(change > 1e-3, "padding mask had no effect ({change})");
}

#[test]
fn pack_and_unpack_match_diffusers() {
    let fixture = load_fixture("packing");
    for name in ["p1", "p2"] {
        let latents = get(&fixture, &format!("{name}_latents"));
        let expected = get(&fixture, &format!("{name}_packed"));
        let patch = get(&fixture, &format!("{name}_patch"))
            .to_vec1::<f32>()
            .unwrap();
        let (p, pt) = (patch[0] as usize, patch[1] as usize);
        let packed = pack_latents(latents, p, pt).unwrap();
        let error = parity::max_abs_diff(&packed, expected);
        println!("pack {name}: max abs error {error:.3e}");
        assert!(error <= HELPER_TOLERANCE);
        let (_, _, f, h, w) = latents.dims5().unwrap();
        let unpacked = unpack_latents(expected, f / pt, h / p, w / p, p, pt).unwrap();
        let error = parity::max_abs_diff(&unpacked, latents);
        println!("unpack {name}: max abs error {error:.3e}");
        assert!(error <= HELPER_TOLERANCE);
    }
}

#[test]
fn normalize_and_denormalize_match_diffusers() {
    let fixture = load_fixture("normalize");
    let latents = get(&fixture, "latents");
    let mean = get(&fixture, "latents_mean");
    let std = get(&fixture, "latents_std");
    let scaling_factor = get(&fixture, "scaling_factor").to_vec1::<f32>().unwrap()[0] as f64;
    let normalized = normalize_latents(latents, mean, std, scaling_factor).unwrap();
    let error = parity::max_abs_diff(&normalized, get(&fixture, "normalized"));
    println!("normalize: max abs error {error:.3e}");
    assert!(error <= HELPER_TOLERANCE);
    let denormalized = denormalize_latents(latents, mean, std, scaling_factor).unwrap();
    let error = parity::max_abs_diff(&denormalized, get(&fixture, "denormalized"));
    println!("denormalize: max abs error {error:.3e}");
    assert!(error <= HELPER_TOLERANCE);
}

#[test]
fn config_defaults_are_ltx_video_2b() {
    let config = Config::default();
    assert_eq!(config.in_channels, 128);
    assert_eq!(config.out_channels(), 128);
    assert_eq!(config.num_layers, 28);
    assert_eq!(config.inner_dim(), 2048);
    assert_eq!(config.caption_channels, 4096);
}

#[test]
fn missing_weights_are_a_load_error_naming_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("transformer/config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    match Transformer::load(dir.path(), DType::F32, &Device::Cpu) {
        Err(error @ LoadError::MissingFile { .. }) => {
            assert!(error
                .to_string()
                .contains(&dir.path().display().to_string()))
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }
}

#[test]
fn a_weight_of_the_wrong_shape_is_a_load_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixtures().join("transformer");
    std::fs::copy(source.join("config.json"), dir.path().join("config.json")).unwrap();
    let mut weights = candle_core::safetensors::load(
        source.join("diffusion_pytorch_model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    weights.insert(
        "proj_out.weight".into(),
        Tensor::zeros((8, 16), DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(
        &weights,
        dir.path().join("diffusion_pytorch_model.safetensors"),
    )
    .unwrap();
    let error = Transformer::load(dir.path(), DType::F32, &Device::Cpu).unwrap_err();
    assert!(matches!(error, LoadError::Weights { .. }), "{error:?}");
    assert!(error.to_string().contains("proj_out.weight"), "{error}");
}

#[test]
fn an_integer_weight_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixtures().join("transformer");
    std::fs::copy(source.join("config.json"), dir.path().join("config.json")).unwrap();
    let mut weights = candle_core::safetensors::load(
        source.join("diffusion_pytorch_model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    weights.insert(
        "proj_out.bias".into(),
        Tensor::zeros(8, DType::I64, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(
        &weights,
        dir.path().join("diffusion_pytorch_model.safetensors"),
    )
    .unwrap();
    let error = Transformer::load(dir.path(), DType::F32, &Device::Cpu).unwrap_err();
    assert!(matches!(error, LoadError::Weights { .. }), "{error:?}");
    assert!(
        error.to_string().contains("proj_out.bias") && error.to_string().contains("I64"),
        "{error}"
    );
}

#[test]
fn an_unsupported_config_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"_class_name": "LTXVideoTransformer3DModel", "qk_norm": "layer_norm"}"#,
    )
    .unwrap();
    let error = Transformer::load(dir.path(), DType::F32, &Device::Cpu).unwrap_err();
    assert!(error.to_string().contains("qk_norm"), "{error}");
}

#[test]
fn sharded_weights_load_like_a_single_file() {
    // The 2B checkpoints ship as shards named by diffusion_pytorch_model.safetensors.index.json.
    let dir = tempfile::tempdir().unwrap();
    let source = fixtures().join("transformer");
    std::fs::copy(source.join("config.json"), dir.path().join("config.json")).unwrap();
    let weights = candle_core::safetensors::load(
        source.join("diffusion_pytorch_model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let mut shards: [HashMap<String, Tensor>; 2] = Default::default();
    let mut weight_map = serde_json::Map::new();
    for (i, (name, tensor)) in weights.into_iter().enumerate() {
        let shard = i % 2;
        let file = format!(
            "diffusion_pytorch_model-0000{}-of-00002.safetensors",
            shard + 1
        );
        weight_map.insert(name.clone(), file.into());
        shards[shard].insert(name, tensor);
    }
    for (i, shard) in shards.iter().enumerate() {
        let file = format!("diffusion_pytorch_model-0000{}-of-00002.safetensors", i + 1);
        candle_core::safetensors::save(shard, dir.path().join(file)).unwrap();
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(
        dir.path()
            .join("diffusion_pytorch_model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();

    let sharded = Transformer::load(dir.path(), DType::F32, &Device::Cpu).unwrap();
    let fixture = load_fixture("forward_scalar");
    let run = |model: &Transformer| {
        model
            .forward(
                get(&fixture, "hidden_states"),
                get(&fixture, "encoder_hidden_states"),
                get(&fixture, "timestep"),
                Some(get(&fixture, "encoder_attention_mask")),
                &grid_positions(&fixture),
            )
            .unwrap()
    };
    let error = parity::max_abs_diff(&run(&sharded), &run(&model()));
    assert_eq!(
        error, 0.0,
        "sharded and single-file models differ by {error}"
    );
}
