//! LTX-2's video VAE against diffusers' AutoencoderKLLTX2Video (fixtures by
//! scripts/golden/ltx2_vae.py): the encoder's posterior and the decoded video,
//! for LTX-2's layout (reflect-padded non-causal decoder) and a causal one.

mod ltx2_parity;

use candle_core::{DType, Device};
use ltx2_parity::{fixture_dir, get, max_abs, max_abs_diff, reference};
use reel_engine::ltx2::vae::VideoAutoencoder;

/// f32 3-D convolutions over O(1) values: rounding only.
const TOL: f32 = 1e-4;

#[test]
fn video_vae_encodes_and_decodes_as_diffusers() {
    let reference = reference("vae");
    for name in ["vae", "vae_causal"] {
        let vae = VideoAutoencoder::load(&fixture_dir("vae").join(name), DType::F32, &Device::Cpu)
            .unwrap();
        let video = get(&reference, &format!("{name}.video"));
        let posterior = vae.encode_posterior(&video).unwrap();
        let want = get(&reference, &format!("{name}.posterior"));
        let err = max_abs_diff(&posterior, &want);
        eprintln!(
            "{name}: posterior max abs error {err} (max value {})",
            max_abs(&want)
        );
        assert!(
            err < TOL,
            "{name}: posterior error {err} (max {})",
            max_abs(&want)
        );
        let latents = get(&reference, &format!("{name}.latents"));
        assert!(max_abs_diff(&vae.encode(&video).unwrap(), &latents) < TOL);
        let decoded = vae.decode(&latents).unwrap();
        let want = get(&reference, &format!("{name}.decoded"));
        let err = max_abs_diff(&decoded, &want);
        eprintln!(
            "{name}: decoded max abs error {err} (max value {})",
            max_abs(&want)
        );
        assert!(
            err < TOL,
            "{name}: decode error {err} (max {})",
            max_abs(&want)
        );
    }
}

#[test]
fn compression_ratios_follow_the_config() {
    let vae =
        VideoAutoencoder::load(&fixture_dir("vae").join("vae"), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(vae.config().spatial_compression_ratio(), 16);
    assert_eq!(vae.config().temporal_compression_ratio(), 8);
}

#[test]
fn an_unsupported_config_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vae");
    std::fs::create_dir(&dir).unwrap();
    let src = fixture_dir("vae").join("vae");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    config["timestep_conditioning"] = serde_json::Value::Bool(true);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let err = VideoAutoencoder::load(&dir, DType::F32, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("timestep_conditioning"),
        "{err}"
    );
}
