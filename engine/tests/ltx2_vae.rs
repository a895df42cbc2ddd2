//! LTX-2's video VAE against diffusers' AutoencoderKLLTX2Video (fixtures by
//! scripts/golden/ltx2_vae.py): the encoder's posterior and the decoded video,
//! for LTX-2's layout (reflect-padded non-causal decoder) and a causal one.

mod ltx2_parity;

use candle_core::{DType, Device};
use ltx2_parity::{fixture_dir, get, max_abs, max_abs_diff, reference};
use reel_engine::ltx::vae::{Tiling, VaeTiling};
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

/// The tiled decode (scripts/golden/ltx2_vae_tiled.py): diffusers' `enable_tiling()`
/// with framewise decoding and tiles smaller than the latents in every direction.
fn tiled_fixture() -> (candle_core::Tensor, candle_core::Tensor, Tiling) {
    let path = fixture_dir("vae").join("tiled.safetensors");
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let tiles: Vec<usize> = get(&tensors, "tiles")
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(|v| v as usize)
        .collect();
    let tiling = Tiling {
        spatial: true,
        temporal: true,
        tile_sample_min_height: tiles[0],
        tile_sample_min_width: tiles[1],
        tile_sample_min_num_frames: tiles[2],
        tile_sample_stride_height: tiles[3],
        tile_sample_stride_width: tiles[4],
        tile_sample_stride_num_frames: tiles[5],
    };
    (
        get(&tensors, "latents"),
        get(&tensors, "decoded_tiled"),
        tiling,
    )
}

#[test]
fn tiled_decode_matches_diffusers_tiled_decode() {
    let vae =
        VideoAutoencoder::load(&fixture_dir("vae").join("vae"), DType::F32, &Device::Cpu).unwrap();
    let (latents, want, tiling) = tiled_fixture();
    let tiled = vae.tiled_decode(&latents, &tiling).unwrap();
    let err = max_abs_diff(&tiled, &want);
    eprintln!(
        "tiled decode max abs error {err} (max value {})",
        max_abs(&want)
    );
    assert!(err < TOL, "tiled decode error {err}");
    // The tiles really were used: a whole decode is far from it.
    let whole = vae.decode(&latents).unwrap();
    assert!(max_abs_diff(&whole, &want) > 0.1);
}

#[test]
fn auto_decodes_whole_within_the_budget_and_tiled_past_it() {
    let vae =
        VideoAutoencoder::load(&fixture_dir("vae").join("vae"), DType::F32, &Device::Cpu).unwrap();
    let (latents, _, _) = tiled_fixture();
    let (_, _, f, h, w) = latents.dims5().unwrap();
    let peak = vae.config().decode_peak_bytes(f, h, w, 4);
    let whole = vae.decode(&latents).unwrap();
    let tiled = vae.tiled_decode(&latents, &Tiling::default()).unwrap();
    // Default tiles are 16 frames (2 latent frames here): 3 latent frames are tiled in time.
    assert!(max_abs_diff(&whole, &tiled) > 0.1);
    let fits = vae.planned_decode(&latents, VaeTiling::Auto, peak).unwrap();
    assert_eq!(max_abs_diff(&fits, &whole), 0.0);
    let too_big = vae
        .planned_decode(&latents, VaeTiling::Auto, peak - 1)
        .unwrap();
    assert_eq!(max_abs_diff(&too_big, &tiled), 0.0);
    let off = vae.planned_decode(&latents, VaeTiling::Off, 0).unwrap();
    assert_eq!(max_abs_diff(&off, &whole), 0.0);
    // The estimate grows with the clip.
    assert!(vae.config().decode_peak_bytes(2 * f, 2 * h, 2 * w, 4) > 4 * peak);
}
