//! LTX-2's audio-video transformer against diffusers'
//! LTX2VideoTransformer3DModel (fixtures by scripts/golden/ltx2_transformer.py):
//! both outputs of LTX-2.0's and LTX-2.3's layouts and an interleaved-rope
//! one, for per-sample and per-token timesteps, modality isolation and STG.

mod ltx2_parity;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use ltx2_parity::{fixture_dir, get, max_abs, max_abs_diff, reference};
use reel_engine::ltx2::transformer::{ForwardOptions, LatentShape, Timesteps, Transformer};
use serde::Deserialize;

/// f32 through two blocks with O(1) activations: rounding only.
const TOL: f32 = 1e-4;

#[derive(Deserialize)]
struct Case {
    cases: Vec<String>,
    grid: [usize; 3],
    audio_frames: usize,
}

fn run(
    model: &Transformer,
    r: &HashMap<String, Tensor>,
    name: &str,
    case: &str,
    grid: [usize; 3],
    audio_frames: usize,
) -> (Tensor, Tensor) {
    let input = |key: &str| get(r, &format!("{name}.{key}"));
    let t = input("timestep");
    let video = input("hidden_states");
    let tokens = video.dim(1).unwrap();
    let mut options = ForwardOptions::default();
    let (timesteps, fps) = if case == "per_token" {
        // The first latent frame clean, as the image-to-video pipeline does.
        let per_frame = tokens / (grid[0] / model.config().patch_size_t);
        let keep: Vec<f32> = (0..tokens)
            .map(|i| if i < per_frame { 0.0 } else { 1.0 })
            .collect();
        let keep = Tensor::from_vec(keep, (1, tokens), &Device::Cpu).unwrap();
        options.use_cross_timestep = true;
        (
            Timesteps {
                video: t.unsqueeze(1).unwrap().broadcast_mul(&keep).unwrap(),
                audio: Some(input("audio_timestep")),
                sigma: Some(t.clone()),
                audio_sigma: Some(input("audio_timestep")),
            },
            25.0,
        )
    } else {
        (
            Timesteps {
                video: t.clone(),
                audio: None,
                sigma: Some(t.clone()),
                audio_sigma: None,
            },
            24.0,
        )
    };
    options.isolate_modalities = case == "isolated";
    if case == "stg" {
        options.stg_blocks = vec![1];
    }
    let shape = LatentShape {
        frames: grid[0],
        height: grid[1],
        width: grid[2],
        audio_frames,
        fps,
    };
    let out = model
        .forward(
            &video,
            &input("audio_hidden_states"),
            &input("encoder_hidden_states"),
            &input("audio_encoder_hidden_states"),
            Some(&input("encoder_attention_mask")),
            &timesteps,
            &shape,
            &options,
        )
        .unwrap();
    (out.video, out.audio)
}

#[test]
fn both_outputs_match_diffusers() {
    let dir = fixture_dir("transformer");
    let cases: HashMap<String, Case> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let r = reference("transformer");
    assert_eq!(cases.len(), 3);
    for (name, spec) in &cases {
        let model = Transformer::load(&dir.join(name), DType::F32, &Device::Cpu).unwrap();
        for case in &spec.cases {
            let (video, audio) = run(&model, &r, name, case, spec.grid, spec.audio_frames);
            let want_video = get(&r, &format!("{name}.{case}.video"));
            let want_audio = get(&r, &format!("{name}.{case}.audio"));
            let (ev, ea) = (
                max_abs_diff(&video, &want_video),
                max_abs_diff(&audio, &want_audio),
            );
            eprintln!("{name} {case}: video error {ev}, audio error {ea}");
            assert!(
                ev < TOL,
                "{name} {case}: video error {ev} (max {})",
                max_abs(&want_video)
            );
            assert!(
                ea < TOL,
                "{name} {case}: audio error {ea} (max {})",
                max_abs(&want_audio)
            );
        }
    }
}

#[test]
fn guidance_variants_change_the_output() {
    // Isolation and STG are real changes: a forward that ignored them would pass
    // the parity test only if the reference ignored them too.
    let r = reference("transformer");
    for (case, other) in [("isolated", "plain"), ("stg", "plain")] {
        let name = "transformer_2_3";
        let a = get(&r, &format!("{name}.{case}.video"));
        let b = get(&r, &format!("{name}.{other}.video"));
        assert!(max_abs_diff(&a, &b) > 1e-3, "{case} vs {other}");
    }
}

#[test]
fn a_grid_that_does_not_match_the_latents_is_refused() {
    let dir = fixture_dir("transformer");
    let r = reference("transformer");
    let model = Transformer::load(&dir.join("transformer"), DType::F32, &Device::Cpu).unwrap();
    let input = |key: &str| get(&r, &format!("transformer.{key}"));
    let shape = LatentShape {
        frames: 2,
        height: 2,
        width: 4,
        audio_frames: 5,
        fps: 24.0,
    };
    let err = model
        .forward(
            &input("hidden_states"),
            &input("audio_hidden_states"),
            &input("encoder_hidden_states"),
            &input("audio_encoder_hidden_states"),
            None,
            &Timesteps {
                video: input("timestep"),
                audio: None,
                sigma: None,
                audio_sigma: None,
            },
            &shape,
            &ForwardOptions::default(),
        )
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("tokens"), "{err}");
}
