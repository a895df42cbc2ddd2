//! Parity of the candle LTX-Video VAE with diffusers' `AutoencoderKLLTXVideo` on the tiny
//! random-weight models of `scripts/golden/tiny_vae.py` (fixtures in
//! `tests/fixtures/ltx/vae/`): decode with timestep conditioning and injected noise,
//! encode (posterior mean, log-variance and a sample), tiled decode, and the 0.9.0 and
//! 0.9.1 layouts.

mod parity;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use reel_engine::ltx::transformer::{denormalize_latents, normalize_latents};
use reel_engine::ltx::vae::{AutoencoderKl, NoiseSequence, Tiling, ZeroNoise};

/// f32 outputs: max abs error allowed against diffusers (values are O(1)).
const F32_TOLERANCE: f32 = 1e-4;
/// References stored as float16 (tiled and 0.9.1 frames): rounding is up to 2^-11 of the
/// value, so allow that relative error on top of the f32 tolerance.
const F16_RELATIVE: f32 = 1.0 / 1024.0;

fn fixtures() -> PathBuf {
    parity::fixture_dir("vae")
}

fn load_vae(name: &str) -> AutoencoderKl {
    let dir = fixtures().join(name);
    AutoencoderKl::load(&dir, DType::F32, &Device::Cpu)
        .unwrap_or_else(|e| panic!("loading the tiny VAE from {}: {e}", dir.display()))
}

fn load_tensors(name: &str) -> HashMap<String, Tensor> {
    let path = fixtures().join(name);
    candle_core::safetensors::load(&path, &Device::Cpu).unwrap_or_else(|e| {
        panic!(
            "missing fixture {}: {e} (run scripts/golden/tiny_vae.py)",
            path.display()
        )
    })
}

fn get(tensors: &HashMap<String, Tensor>, name: &str) -> Tensor {
    tensors
        .get(name)
        .unwrap_or_else(|| panic!("fixture lacks {name}"))
        .to_dtype(DType::F32)
        .unwrap()
}

/// The noise fields diffusers drew, in draw order (`noise_000`, `noise_001`, ...).
fn recorded_noise(tensors: &HashMap<String, Tensor>) -> NoiseSequence {
    let mut names: Vec<&String> = tensors.keys().filter(|k| k.starts_with("noise_")).collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "the fixture should exercise noise injection"
    );
    NoiseSequence::new(names.into_iter().map(|n| get(tensors, n)).collect())
}

fn mean_abs(a: &Tensor) -> f32 {
    a.abs().unwrap().mean_all().unwrap().to_scalar().unwrap()
}

/// Asserts |a - b| <= abs + rel * |b| everywhere; returns the max abs error.
fn assert_close(what: &str, actual: &Tensor, expected: &Tensor, abs: f32, rel: f32) -> f32 {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shapes differ");
    let err = parity::max_abs_diff(actual, expected);
    let excess = ((actual - expected).unwrap().abs().unwrap()
        - ((expected.abs().unwrap() * rel as f64).unwrap() + abs as f64).unwrap())
    .unwrap()
    .flatten_all()
    .unwrap()
    .max(0)
    .unwrap()
    .to_scalar::<f32>()
    .unwrap();
    println!(
        "{what}: max abs error {err:.3e} (mean |ref| {:.3}, bound {abs:.0e} + {rel:.1e}*|ref|)",
        mean_abs(expected)
    );
    assert!(
        excess <= 0.0,
        "{what}: error {err} exceeds {abs} + {rel}*|ref|"
    );
    err
}

#[test]
fn decode_matches_diffusers_with_timestep_and_noise() {
    let vae = load_vae("vae");
    let t = load_tensors("decode.safetensors");
    let mut noise = recorded_noise(&t);
    let frames = vae
        .decode(&get(&t, "latents"), Some(&get(&t, "timestep")), &mut noise)
        .unwrap();
    assert_eq!(frames.dims(), [1, 3, 9, 64, 64]);
    assert_eq!(
        noise.remaining(),
        0,
        "the decoder should draw every noise field diffusers drew"
    );
    assert_close("decode", &frames, &get(&t, "frames"), F32_TOLERANCE, 0.0);

    // The noise matters: without it the output differs well beyond the tolerance.
    let plain = vae
        .decode(
            &get(&t, "latents"),
            Some(&get(&t, "timestep")),
            &mut ZeroNoise,
        )
        .unwrap();
    assert!(parity::max_abs_diff(&plain, &frames) > 100.0 * F32_TOLERANCE);
}

#[test]
fn a_batch_decodes_like_its_items() {
    let vae = load_vae("vae");
    let t = load_tensors("decode.safetensors");
    let z = get(&t, "latents");
    let z2 = (&z * -0.5).unwrap();
    let batch = Tensor::cat(&[&z, &z2], 0).unwrap();
    // One timestep for the whole batch, as the pipelines pass decode_timestep.
    let ts = get(&t, "timestep");
    let both = vae.decode(&batch, Some(&ts), &mut ZeroNoise).unwrap();
    let first = vae.decode(&z, Some(&ts), &mut ZeroNoise).unwrap();
    let second = vae.decode(&z2, Some(&ts), &mut ZeroNoise).unwrap();
    let err = parity::max_abs_diff(&both, &Tensor::cat(&[&first, &second], 0).unwrap());
    println!("batch of two vs items: max abs difference {err:.2e}");
    assert!(err <= F32_TOLERANCE);
}

#[test]
fn decode_in_f64_matches_diffusers() {
    // f64 takes the conv's device-generic im2col (the one CUDA and bf16 use), not the CPU f32 one.
    let dir = fixtures().join("vae");
    let vae = AutoencoderKl::load(&dir, DType::F64, &Device::Cpu).unwrap();
    let t = load_tensors("decode.safetensors");
    let mut noise = recorded_noise(&t);
    let z = get(&t, "latents").to_dtype(DType::F64).unwrap();
    let ts = get(&t, "timestep").to_dtype(DType::F64).unwrap();
    let frames = vae.decode(&z, Some(&ts), &mut noise).unwrap();
    let frames = frames.to_dtype(DType::F32).unwrap();
    assert_close(
        "decode (f64)",
        &frames,
        &get(&t, "frames"),
        F32_TOLERANCE,
        0.0,
    );
}

#[test]
fn decode_needs_a_timestep_when_conditioned() {
    let vae = load_vae("vae");
    let t = load_tensors("decode.safetensors");
    assert!(vae
        .decode(&get(&t, "latents"), None, &mut ZeroNoise)
        .is_err());
}

#[test]
fn encode_matches_diffusers() {
    let vae = load_vae("vae");
    let t = load_tensors("encode.safetensors");
    let dist = vae.encode(&get(&t, "video")).unwrap();
    assert_eq!(dist.mode().dims(), [1, 8, 2, 2, 2]);
    assert_close(
        "encode mean",
        dist.mode(),
        &get(&t, "mean"),
        F32_TOLERANCE,
        0.0,
    );
    assert_close(
        "encode logvar",
        dist.logvar(),
        &get(&t, "logvar"),
        F32_TOLERANCE,
        0.0,
    );
    let sample = dist.sample(&get(&t, "sample_noise")).unwrap();
    assert_close(
        "encode sample",
        &sample,
        &get(&t, "sample"),
        F32_TOLERANCE,
        0.0,
    );

    // One image, as the image-to-video pipelines encode a conditioning frame.
    let image = get(&t, "video").narrow(2, 0, 1).unwrap();
    let image_dist = vae.encode(&image).unwrap();
    assert_eq!(image_dist.mode().dims(), [1, 8, 1, 2, 2]);
    assert_close(
        "encode image mean",
        image_dist.mode(),
        &get(&t, "image_mean"),
        F32_TOLERANCE,
        0.0,
    );
    assert_close(
        "encode image logvar",
        image_dist.logvar(),
        &get(&t, "image_logvar"),
        F32_TOLERANCE,
        0.0,
    );
}

#[test]
fn accessors_follow_the_config() {
    let vae = load_vae("vae");
    assert_eq!(vae.spatial_compression_ratio(), 32);
    assert_eq!(vae.temporal_compression_ratio(), 8);
    assert_eq!(vae.scaling_factor(), 1.0);
    assert_eq!(vae.latents_mean().dims(), [8]);
    assert_eq!(vae.latents_std().dims(), [8]);
    // The script sets latents_std to 0.5..1.5, never diffusers' default of ones.
    let std: Vec<f32> = vae.latents_std().to_vec1().unwrap();
    assert!(std.iter().all(|s| (0.5..1.5).contains(s)) && std.iter().any(|s| *s != 1.0));

    // Normalisation is per channel and undone by denormalisation.
    let z = get(&load_tensors("decode.safetensors"), "latents");
    let normalized = normalize_latents(
        &z,
        vae.latents_mean(),
        vae.latents_std(),
        vae.scaling_factor(),
    )
    .unwrap();
    let mean: Vec<f32> = vae.latents_mean().to_vec1().unwrap();
    let at = |t: &Tensor, c: usize| -> f32 {
        t.get(0)
            .unwrap()
            .get(c)
            .unwrap()
            .flatten_all()
            .unwrap()
            .get(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    };
    for c in [0, 5] {
        let expected = (at(&z, c) - mean[c]) / std[c];
        assert!((at(&normalized, c) - expected).abs() < 1e-6, "channel {c}");
    }
    let back = denormalize_latents(
        &normalized,
        vae.latents_mean(),
        vae.latents_std(),
        vae.scaling_factor(),
    )
    .unwrap();
    assert!(parity::max_abs_diff(&back, &z) < 1e-6);
}

/// Tiles of 64x64 pixels every 32 and 16 frames every 8: latents [1,8,3,2,3] make three
/// temporal tiles, each of a 1x3 (then 1x3, 1x3) spatial grid.
fn test_tiling() -> Tiling {
    Tiling {
        spatial: true,
        temporal: true,
        tile_sample_min_height: 64,
        tile_sample_min_width: 64,
        tile_sample_min_num_frames: 16,
        tile_sample_stride_height: 32,
        tile_sample_stride_width: 32,
        tile_sample_stride_num_frames: 8,
    }
}

#[test]
fn tiled_decode_matches_diffusers() {
    let vae = load_vae("vae");
    let t = load_tensors("tiled_decode.safetensors");
    let mut noise = recorded_noise(&t);
    let frames = vae
        .tiled_decode(
            &get(&t, "latents"),
            Some(&get(&t, "timestep")),
            &mut noise,
            &test_tiling(),
        )
        .unwrap();
    assert_eq!(frames.dims(), [1, 3, 17, 64, 96]);
    assert_eq!(
        noise.remaining(),
        0,
        "every tile should draw its noise as diffusers did"
    );
    assert_close(
        "tiled decode",
        &frames,
        &get(&t, "frames"),
        F32_TOLERANCE,
        F16_RELATIVE,
    );
}

#[test]
fn tiled_decode_is_close_to_untiled() {
    let vae = load_vae("vae");
    let t = load_tensors("tiled_decode.safetensors");
    let (z3, ts) = (get(&t, "latents"), get(&t, "timestep"));
    // A wide latent [1,8,2,2,8] (the fixture's first two frames, repeated along the width)
    // in 160-pixel tiles every 96: three tiles across with 64 pixels of overlap.
    let head = z3.narrow(2, 0, 2).unwrap();
    let z = Tensor::cat(&[&head, &head, &head], 4)
        .unwrap()
        .narrow(4, 0, 8)
        .unwrap();
    let tiling = Tiling {
        temporal: false,
        tile_sample_min_height: 160,
        tile_sample_min_width: 160,
        tile_sample_stride_height: 96,
        tile_sample_stride_width: 96,
        ..test_tiling()
    };
    let tiled = vae
        .tiled_decode(&z, Some(&ts), &mut ZeroNoise, &tiling)
        .unwrap();
    let whole = vae.decode(&z, Some(&ts), &mut ZeroNoise).unwrap();
    assert_eq!(tiled.dims(), whole.dims());
    let diff = mean_abs(&(&tiled - &whole).unwrap());
    // Yardstick: the decode of an unrelated latent with the same statistics (channels rotated).
    let other = Tensor::cat(&[z.narrow(1, 1, 7).unwrap(), z.narrow(1, 0, 1).unwrap()], 1).unwrap();
    let unrelated = vae.decode(&other, Some(&ts), &mut ZeroNoise).unwrap();
    let baseline = mean_abs(&(&unrelated - &whole).unwrap());
    println!("tiled vs untiled: mean abs difference {diff:.4}; an unrelated latent's decode differs by {baseline:.4}");
    // Random weights see far past a tile's edge, so seams remain (diffusers measures 0.17
    // against 0.72 here), but the tiled decode stays much nearer the untiled one.
    assert!(
        diff < 0.4 * baseline,
        "tiled decode strays too far from the untiled one"
    );

    // With tiles as large as the input, tiling is a no-op.
    let one_tile = Tiling {
        tile_sample_min_height: 64,
        tile_sample_min_width: 96,
        tile_sample_min_num_frames: 24,
        ..test_tiling()
    };
    let whole3 = vae.decode(&z3, Some(&ts), &mut ZeroNoise).unwrap();
    let same = vae
        .tiled_decode(&z3, Some(&ts), &mut ZeroNoise, &one_tile)
        .unwrap();
    assert_eq!(parity::max_abs_diff(&same, &whole3), 0.0);
}

#[test]
fn v091_decode_and_encode_match_diffusers() {
    let vae = load_vae("vae_091");
    let t = load_tensors("decode_091.safetensors");
    let mut noise = recorded_noise(&t);
    let frames = vae
        .decode(&get(&t, "latents"), Some(&get(&t, "timestep")), &mut noise)
        .unwrap();
    assert_eq!(noise.remaining(), 0);
    assert_close(
        "0.9.1 decode",
        &frames,
        &get(&t, "frames"),
        F32_TOLERANCE,
        F16_RELATIVE,
    );

    let video = get(&load_tensors("encode.safetensors"), "video");
    let dist = vae.encode(&video).unwrap();
    assert_close(
        "0.9.1 encode mean",
        dist.mode(),
        &get(&t, "mean"),
        F32_TOLERANCE,
        0.0,
    );
    assert_close(
        "0.9.1 encode logvar",
        dist.logvar(),
        &get(&t, "logvar"),
        F32_TOLERANCE,
        0.0,
    );
}

#[test]
fn v090_decode_and_encode_match_diffusers() {
    let vae = load_vae("vae_090");
    let t = load_tensors("decode_090.safetensors");
    // Not timestep-conditioned: a timestep is ignored, and no noise is drawn.
    let frames = vae
        .decode(&get(&t, "latents"), None, &mut ZeroNoise)
        .unwrap();
    assert_eq!(frames.dims(), [1, 3, 9, 32, 32]);
    assert_close(
        "0.9.0 decode",
        &frames,
        &get(&t, "frames"),
        F32_TOLERANCE,
        0.0,
    );
    let with_timestep = vae
        .decode(
            &get(&t, "latents"),
            Some(&Tensor::new(&[0.5f32], &Device::Cpu).unwrap()),
            &mut ZeroNoise,
        )
        .unwrap();
    assert_eq!(parity::max_abs_diff(&with_timestep, &frames), 0.0);

    let video = get(&load_tensors("encode.safetensors"), "video");
    let crop = video.narrow(3, 0, 32).unwrap().narrow(4, 0, 32).unwrap();
    let dist = vae.encode(&crop).unwrap();
    assert_close(
        "0.9.0 encode mean",
        dist.mode(),
        &get(&t, "mean"),
        F32_TOLERANCE,
        0.0,
    );
    assert_close(
        "0.9.0 encode logvar",
        dist.logvar(),
        &get(&t, "logvar"),
        F32_TOLERANCE,
        0.0,
    );
}

#[test]
fn missing_or_bad_model_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = AutoencoderKl::load(dir.path(), DType::F32, &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");

    // A config whose widths do not match the weights names the weights file.
    let config = std::fs::read_to_string(fixtures().join("vae/config.json")).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        config.replace("\"latent_channels\": 8", "\"latent_channels\": 16"),
    )
    .unwrap();
    std::fs::copy(
        fixtures().join("vae/diffusion_pytorch_model.safetensors"),
        dir.path().join("diffusion_pytorch_model.safetensors"),
    )
    .unwrap();
    let err = AutoencoderKl::load(dir.path(), DType::F32, &Device::Cpu).unwrap_err();
    assert!(
        err.to_string()
            .contains("diffusion_pytorch_model.safetensors"),
        "{err}"
    );
}
