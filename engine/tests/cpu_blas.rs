//! The CPU products on a loaded BLAS library: Intel's MKL as `reel pull mkl`
//! installs it, named by `REEL_TEST_BLAS_LIBRARY` (scripts/test sets it).
//! Each test loads it first (once per process; the same path again is a
//! no-op), then holds the products against candle's own matmul, f64
//! convolutions and the diffusers fixtures, at the tolerances stated.

mod parity;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use reel_engine::cpu_blas;
use reel_engine::ltx::transformer::{LatentGrid, Transformer, VideoPositions};
use reel_engine::ltx::vae::{AutoencoderKl, CausalConv3d, NoiseSequence};

fn load_blas() -> PathBuf {
    let path = std::env::var_os("REEL_TEST_BLAS_LIBRARY")
        .map(PathBuf::from)
        .expect(
            "REEL_TEST_BLAS_LIBRARY names the BLAS library for these tests \
         (scripts/test sets it from `reel pull mkl`)",
        );
    cpu_blas::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cpu_blas::loaded(), Some(path.as_path()));
    path
}

/// Sums of `k` products of values in [-1, 1], in another order than
/// candle's: f32 rounding moves them by far less than `k` · 1e-6.
fn product_tolerance(k: usize) -> f32 {
    1e-6 * (k as f32 + 1.0)
}

fn uniform(dims: &[usize]) -> Tensor {
    Tensor::rand(-1f32, 1.0, dims, &Device::Cpu).unwrap()
}

#[test]
fn matmul_matches_candle_in_every_layout() {
    load_blas();
    // (batch, m, k, n): single values, odd sizes, products large enough to be
    // split between threads by rows and by columns, batches, an empty depth.
    let shapes = [
        (vec![], 1, 1, 1),
        (vec![], 3, 7, 5),
        (vec![], 384, 64, 384),
        (vec![], 1000, 33, 17),
        (vec![], 17, 33, 1000),
        (vec![2, 3], 40, 24, 50),
        (vec![], 4, 0, 6),
    ];
    for (batch, m, k, n) in shapes {
        let dims = |rows, cols| [batch.clone(), vec![rows, cols]].concat();
        let rank = batch.len() + 2;
        let lhs = uniform(&dims(m, k));
        let rhs = uniform(&dims(k, n));
        let expected = lhs.matmul(&rhs).unwrap();
        // The same operands stored transposed, and as column windows of wider rows.
        let transposed = |t: &Tensor| {
            t.transpose(rank - 2, rank - 1)
                .unwrap()
                .contiguous()
                .unwrap()
                .transpose(rank - 2, rank - 1)
                .unwrap()
        };
        let windowed = |t: &Tensor| {
            let wide = Tensor::cat(&[t, &t.ones_like().unwrap()], rank - 1).unwrap();
            wide.narrow(rank - 1, 0, t.dim(rank - 1).unwrap()).unwrap()
        };
        let layouts = [
            ("contiguous", lhs.clone(), rhs.clone()),
            ("lhs transposed", transposed(&lhs), rhs.clone()),
            ("rhs transposed", lhs.clone(), transposed(&rhs)),
            ("both transposed", transposed(&lhs), transposed(&rhs)),
            ("windows", windowed(&lhs), windowed(&rhs)),
        ];
        for (name, l, r) in layouts {
            let actual = cpu_blas::matmul(&l, &r).unwrap();
            assert_eq!(actual.dims(), expected.dims(), "{name}");
            let error = parity::max_abs_diff(&actual, &expected);
            assert!(
                error <= product_tolerance(k),
                "{batch:?} {m}×{k}×{n} {name}: {error}"
            );
        }
    }
    // Shapes that do not multiply are an error, not a panic.
    assert!(cpu_blas::matmul(&uniform(&[2, 3]), &uniform(&[4, 5])).is_err());
    assert!(cpu_blas::matmul(&uniform(&[2, 2, 3]), &uniform(&[3, 3, 5])).is_err());
}

fn conv3d(
    cin: usize,
    cout: usize,
    kernel: (usize, usize, usize),
    causal: bool,
    dtype: DType,
    weights: &HashMap<String, Tensor>,
) -> CausalConv3d {
    let vb = VarBuilder::from_tensors(weights.clone(), dtype, &Device::Cpu);
    CausalConv3d::new(cin, cout, kernel, (1, 1, 1), causal, vb).unwrap()
}

/// Both CPU conv paths in f32 (the column matrix below 32 columns, the
/// channels-last one with its overlapping rows from 32 on, which BLAS takes
/// as `kw` products) against the same convolution in f64, which runs on
/// candle's matmul: within 2e-5 of values around 1.
#[test]
fn conv3d_paths_match_f64() {
    load_blas();
    let cases = [
        (3, 5, (3, 3, 3), true, 3, 6, 8),
        (8, 6, (3, 3, 3), false, 4, 5, 40),
        (5, 4, (1, 1, 1), true, 2, 3, 34),
        (4, 3, (3, 5, 5), true, 2, 7, 36),
    ];
    for (cin, cout, kernel, causal, t, h, w) in cases {
        let (kt, kh, kw) = kernel;
        let weights = HashMap::from([
            (
                "conv.weight".to_string(),
                (uniform(&[cout, cin, kt, kh, kw]) * 0.3).unwrap(),
            ),
            ("conv.bias".to_string(), uniform(&[cout])),
        ]);
        let x = uniform(&[2, cin, t, h, w]);
        let ours = conv3d(cin, cout, kernel, causal, DType::F32, &weights)
            .forward(&x)
            .unwrap();
        let reference = conv3d(cin, cout, kernel, causal, DType::F64, &weights)
            .forward(&x.to_dtype(DType::F64).unwrap())
            .unwrap();
        let error = parity::max_abs_diff(&ours, &reference);
        assert!(error <= 2e-5, "{kernel:?} causal {causal} {h}×{w}: {error}");
    }
}

/// The tiny VAE's decode with injected noise against diffusers' frames,
/// within the f32 tolerance of the parity test (1e-4).
#[test]
fn vae_decode_matches_diffusers_on_blas() {
    load_blas();
    let dir = parity::fixture_dir("vae");
    let vae = AutoencoderKl::load(&dir.join("vae"), DType::F32, &Device::Cpu).unwrap();
    let fixture =
        candle_core::safetensors::load(dir.join("decode.safetensors"), &Device::Cpu).unwrap();
    let get = |name: &str| fixture[name].to_dtype(DType::F32).unwrap();
    let mut names: Vec<&String> = fixture.keys().filter(|k| k.starts_with("noise_")).collect();
    names.sort();
    let mut noise = NoiseSequence::new(names.into_iter().map(|n| get(n)).collect());
    let frames = vae
        .decode(&get("latents"), Some(&get("timestep")), &mut noise)
        .unwrap();
    let error = parity::max_abs_diff(&frames, &get("frames"));
    assert!(error <= 1e-4, "decode: {error}");
}

/// The tiny transformer's forward (linear layers and attention products on
/// BLAS) against diffusers, within the parity test's 1e-4.
#[test]
fn transformer_forward_matches_diffusers_on_blas() {
    load_blas();
    let dir = parity::fixture_dir("transformer");
    let model = Transformer::load(&dir.join("transformer"), DType::F32, &Device::Cpu).unwrap();
    let fixture =
        candle_core::safetensors::load(dir.join("forward_scalar.safetensors"), &Device::Cpu)
            .unwrap();
    let geometry = fixture["geometry"].to_vec1::<f32>().unwrap();
    let scale = fixture["rope_interpolation_scale"]
        .to_vec1::<f32>()
        .unwrap();
    let positions = VideoPositions::Grid(LatentGrid {
        num_frames: geometry[0] as usize,
        height: geometry[1] as usize,
        width: geometry[2] as usize,
        rope_interpolation_scale: [scale[0] as f64, scale[1] as f64, scale[2] as f64],
    });
    let output = model
        .forward(
            &fixture["hidden_states"],
            &fixture["encoder_hidden_states"],
            &fixture["timestep"],
            Some(&fixture["encoder_attention_mask"]),
            &positions,
        )
        .unwrap();
    let error = parity::max_abs_diff(&output, &fixture["output"]);
    assert!(error <= 1e-4, "forward: {error}");
}

#[test]
fn a_second_library_is_refused() {
    let path = load_blas();
    let other = PathBuf::from("/nonexistent/libopenblas.so");
    let error = cpu_blas::load(&other).unwrap_err().to_string();
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert_eq!(cpu_blas::loaded(), Some(path.as_path()));
}
