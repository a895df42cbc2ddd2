//! Single-file checkpoint conversion against diffusers' own: fixtures from
//! scripts/golden/single_file_keys.py in tests/fixtures/ltx/single_file/.
//!
//! - The names (and shapes) of a full-size 2B checkpoint in the original
//!   layout (28 transformer blocks, the 0.9.5 VAE of the 0.9.6/0.9.8
//!   distilled files) rename to exactly the names diffusers' conversion
//!   gives, the 0.9.5 type and layout detected from the shapes.
//! - The tiny transformer and tiny 0.9.5 VAE written in the original layout
//!   convert to files holding exactly diffusers' names, each tensor the
//!   original one bit for bit, and equal in value to the tiny model's.

mod parity;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use reel_engine::ltx::single_file::{
    self, ModelType, SingleFileError, VaeLayout, TRANSFORMER_FILE, VAE_FILE,
};
use serde_json::Value;

fn fixtures() -> PathBuf {
    parity::fixture_dir("single_file")
}

fn keys() -> Value {
    let path = fixtures().join("keys.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run scripts/golden/single_file_keys.py)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("keys.json")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a name").to_string())
        .collect()
}

fn pairs(value: &Value) -> BTreeMap<String, String> {
    value
        .as_array()
        .expect("a list of pairs")
        .iter()
        .map(|pair| {
            let names = strings(pair);
            (names[1].clone(), names[0].clone())
        })
        .collect()
}

fn sorted(renames: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = renames.iter().map(|(_, name)| name.clone()).collect();
    names.sort();
    names
}

#[test]
fn full_size_names_rename_as_diffusers_does() {
    let keys = keys();
    let real = &keys["real"];
    let shapes: BTreeMap<String, Vec<usize>> = real["original"]
        .as_array()
        .expect("original names")
        .iter()
        .map(|entry| {
            let shape = entry[1]
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_u64().expect("dim") as usize)
                .collect();
            (entry[0].as_str().expect("name").to_string(), shape)
        })
        .collect();
    assert!(shapes.contains_key("model.diffusion_model.transformer_blocks.27.attn1.q_norm.weight"));
    let plan = single_file::plan(Path::new("real"), &shapes, None).expect("plan");
    assert_eq!(plan.model_type, ModelType::V0_9_5);
    assert_eq!(
        plan.model_type.diffusers_repo(),
        "Lightricks/LTX-Video-0.9.5"
    );
    assert_eq!(plan.vae_layout, VaeLayout::V0_9_5);
    let transformer = sorted(&plan.transformer);
    let vae = sorted(&plan.vae);
    let expected_transformer = strings(&real["transformer"]);
    let expected_vae = strings(&real["vae"]);
    assert_eq!(transformer.len(), expected_transformer.len());
    assert_eq!(transformer, expected_transformer);
    assert_eq!(vae, expected_vae);
    assert_eq!(
        plan.dropped,
        [
            "vae.per_channel_statistics.channel",
            "vae.per_channel_statistics.mean-of-stds",
            "vae.per_channel_statistics.mean-of-stds_over_std-of-means",
        ]
    );
    println!(
        "full size: {} transformer and {} VAE names as diffusers",
        transformer.len(),
        vae.len()
    );
}

fn load(path: &Path) -> BTreeMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .collect()
}

#[test]
fn tiny_file_converts_to_diffusers_names_and_the_tiny_models_values() {
    let keys = keys();
    let tiny = &keys["tiny"];
    let source = fixtures().join("tiny.safetensors");
    let original = load(&source);
    let out = tempfile::tempdir().expect("temp dir");
    // The tiny VAE's encoder conv_out has 16 inputs, not the 2048 that tells
    // a 0.9.5 VAE: the layout is given, as the script gave diffusers.
    let converted = single_file::convert_file_as(&source, out.path(), Some(VaeLayout::V0_9_5))
        .expect("convert");
    assert_eq!(converted.transformer, out.path().join(TRANSFORMER_FILE));
    assert_eq!(converted.vae, out.path().join(VAE_FILE));
    assert_eq!(converted.plan.dropped, strings(&tiny["dropped"]));

    let sums = tiny["sums"].as_object().expect("sums");
    let mut worst = 0f64;
    for (file, expected) in [
        (&converted.transformer, pairs(&tiny["transformer_pairs"])),
        (&converted.vae, pairs(&tiny["vae_pairs"])),
    ] {
        let written = load(file);
        let names: BTreeSet<&String> = written.keys().collect();
        assert_eq!(names, expected.keys().collect(), "{}", file.display());
        for (name, tensor) in &written {
            let source_tensor = &original[&expected[name]];
            assert_eq!(tensor.dtype(), DType::F16, "{name}");
            assert_eq!(tensor.dims(), source_tensor.dims(), "{name}");
            let diff = (tensor.to_dtype(DType::F32).unwrap()
                - source_tensor.to_dtype(DType::F32).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
            assert_eq!(diff, 0.0, "{name} is not {}", expected[name]);
            // The tiny model's own (f16-rounded) value, summed in Python.
            let sum = tensor
                .to_dtype(DType::F64)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            let reference = sums[name.as_str()].as_f64().expect("sum");
            let error = (sum - reference).abs() / reference.abs().max(1.0);
            worst = worst.max(error);
            assert!(
                error <= 1e-9,
                "{name}: sum {sum}, diffusers' model {reference}"
            );
        }
    }
    println!(
        "tiny: {} names as diffusers, tensors bit-identical, worst relative sum error {worst:.1e} (≤ 1e-9)",
        sums.len()
    );
}

#[test]
fn detection_follows_the_shapes_as_diffusers_does() {
    // Left to detect, the tiny file's 16-input conv_out and its time
    // embedder make it 0.9.1 for diffusers too.
    let out = tempfile::tempdir().expect("temp dir");
    let converted = single_file::convert_file(&fixtures().join("tiny.safetensors"), out.path())
        .expect("convert");
    assert_eq!(converted.plan.model_type, ModelType::V0_9_1);
    assert_eq!(converted.plan.vae_layout, VaeLayout::V0_9_1);
}

#[test]
fn files_that_are_no_ltx_checkpoint_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let small = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();

    let other = dir.path().join("other.safetensors");
    candle_core::safetensors::save(
        &HashMap::from([("unet.conv_in.weight", small.clone())]),
        &other,
    )
    .unwrap();
    let err = single_file::convert_file(&other, &out).unwrap_err();
    assert!(matches!(err, SingleFileError::NotLtx { .. }), "{err}");
    assert!(err.to_string().contains("unet.conv_in.weight"), "{err}");

    let no_vae = dir.path().join("no_vae.safetensors");
    candle_core::safetensors::save(
        &HashMap::from([("model.diffusion_model.patchify_proj.weight", small)]),
        &no_vae,
    )
    .unwrap();
    let err = single_file::convert_file(&no_vae, &out).unwrap_err();
    assert!(
        err.to_string().contains("vae.encoder.conv_out.conv.weight"),
        "{err}"
    );

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file at all").unwrap();
    let err = single_file::convert_file(&garbage, &out).unwrap_err();
    assert!(matches!(err, SingleFileError::Open { .. }), "{err}");
    assert!(err.to_string().contains("garbage.safetensors"), "{err}");
    assert!(!out.exists(), "a refused file left output");
}
