//! LTX-2's audio → video denoising against stage 1 of ltx-pipelines'
//! `A2VidPipelineTwoStage` (fixtures by scripts/golden/ltx2_a2v_ltx_core.py:
//! ltx-core's own transformer, scheduler, noiser, Euler step, denoise masks
//! and guiders, on the tiny single-file model): from the same video noise
//! and speech latents, the schedule, the video latents with the a2v CLI's
//! guidance and without, the speech latents kept as given, and the guided
//! case's frames through the tiny video VAE.

mod ltx2_parity;

use candle_core::{Device, Tensor};
use ltx2_parity::{fixture_dir, get, max_abs, max_abs_diff, reference};
use reel_engine::ltx::pipeline::frames::video_to_unit_frames;
use reel_engine::ltx::scheduler::FlowMatchEulerScheduler;
use reel_engine::ltx2::pipeline::{
    pack_audio, unpack_audio, Generation, Guidance, Ltx2Pipeline, StreamGuidance,
    TextEncoderPlacement,
};
use reel_engine::ltx2::scheduler::{ltx_core_scheduler, Schedule, DISTILLED_SIGMAS};
use reel_engine::CancelToken;

/// Video latents, relative to the reference's largest value: all f32, as the
/// other whole-pipeline tests (reel's own Gemma and connectors feed the
/// transformer, where the reference read diffusers' connector outputs).
const LATENT_TOL: f32 = 1e-4;
/// Sigmas in [0, 1]: ltx-core computes in f32, reel in f64 then rounds.
const SIGMA_TOL: f32 = 1e-6;
/// Frames: the tiny VAE's gain carries the latents' error (measured 3.0e-4
/// of the largest value, from latents 1.7e-5 off, the transformer's level).
const FRAME_TOL: f32 = 5e-4;
/// The speech latents only go through reel's denormalise and normalise.
const AUDIO_TOL: f32 = 1e-5;

fn meta() -> serde_json::Value {
    let path = fixture_dir("a2v").join("cases.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn model_dir() -> std::path::PathBuf {
    fixture_dir("pipeline").join("model")
}

fn stream(case: &serde_json::Value) -> StreamGuidance {
    let f = |k: &str| case[k].as_f64().unwrap();
    StreamGuidance {
        cfg: f("cfg"),
        stg: f("stg"),
        modality: f("modality"),
        rescale: f("rescale"),
    }
}

#[test]
fn the_schedule_is_ltx_cores() {
    let reference = reference("a2v");
    let steps = meta()["steps"].as_u64().unwrap() as usize;
    let config = FlowMatchEulerScheduler::load(&model_dir().join("scheduler"))
        .unwrap()
        .config()
        .clone();
    let scheduler = ltx_core_scheduler(config, &Schedule::Steps(steps)).unwrap();
    let want = get(&reference, "sigmas").to_vec1::<f32>().unwrap();
    assert_eq!(scheduler.sigmas().len(), want.len());
    for (got, want) in scheduler.sigmas().iter().zip(&want) {
        assert!((got - want).abs() <= SIGMA_TOL, "{got} vs {want}");
    }
    // ltx-pipelines steps through its distilled lists as they are, then 0.
    let distilled = ltx_core_scheduler(
        scheduler.config().clone(),
        &Schedule::Sigmas(DISTILLED_SIGMAS.to_vec()),
    )
    .unwrap();
    let want: Vec<f32> = DISTILLED_SIGMAS
        .iter()
        .map(|&s| s as f32)
        .chain([0.0])
        .collect();
    assert_eq!(distilled.sigmas(), want.as_slice());
}

#[test]
fn audio_to_video_matches_ltx_pipelines_stage_one() {
    let reference = reference("a2v");
    let m = meta();
    let pipeline = Ltx2Pipeline::load(
        &model_dir(),
        &Device::Cpu,
        candle_core::DType::F32,
        TextEncoderPlacement::Resident,
    )
    .unwrap();
    let speech = get(&reference, "audio_latents");
    let mut failures = Vec::new();
    for (case, params) in m["cases"].as_object().unwrap() {
        let stg_blocks = params["stg_blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as usize)
            .collect();
        let job = Generation {
            prompt: m["prompt"].as_str().unwrap().into(),
            negative_prompt: m["negative_prompt"].as_str().unwrap().into(),
            frames: m["frames"].as_u64().unwrap() as usize,
            fps: m["fps"].as_f64().unwrap(),
            schedule: Schedule::Steps(m["steps"].as_u64().unwrap() as usize),
            guidance: Guidance {
                video: stream(params),
                // ltx-pipelines' a2v guides the audio not at all: reel must
                // ignore whatever is asked for the frozen stream.
                audio: StreamGuidance {
                    cfg: 7.0,
                    stg: 1.0,
                    modality: 3.0,
                    rescale: 0.7,
                },
                stg_blocks,
            },
            video_noise: get(&reference, "video_noise"),
            // Replaced by the condition: any values of the right shape.
            audio_noise: speech.ones_like().unwrap(),
            first_frame: None,
            audio_condition: Some(speech.clone()),
            max_prompt_tokens: m["max_sequence_length"].as_u64().unwrap() as usize,
        };
        let latents = pipeline
            .denoise(&job, &mut |_| {}, &CancelToken::new())
            .unwrap();

        let video = pipeline.normalize_video(&latents.video).unwrap();
        let want = get(&reference, &format!("{case}.video_latents"));
        let err = max_abs_diff(&video, &want);
        let scale = max_abs(&want);
        eprintln!("{case} video latents: max abs error {err} (max value {scale})");
        if err > LATENT_TOL * scale {
            failures.push(format!("{case}: {err} over {LATENT_TOL} x {scale}"));
            continue;
        }

        let (_, _, frames, mel) = speech.dims4().unwrap();
        let audio = pipeline
            .normalize_audio(&pack_audio(&latents.audio).unwrap())
            .unwrap();
        let audio = unpack_audio(&audio, frames, mel).unwrap();
        let err = max_abs_diff(&audio, &speech);
        assert!(
            err <= AUDIO_TOL,
            "{case}: the speech latents moved by {err}"
        );

        if case == "guided" {
            // The fixture keeps one decoded frame per latent frame.
            let decoded = pipeline.decode(&latents).unwrap();
            let all = video_to_unit_frames(&decoded.video).unwrap();
            let picks = Tensor::new(&[0u32, 8, 16], &Device::Cpu).unwrap();
            let frames = all.index_select(&picks, 0).unwrap();
            let want = get(&reference, "guided.frames");
            let err = max_abs_diff(&frames, &want);
            let scale = max_abs(&want);
            eprintln!("guided frames: max abs error {err} (max value {scale})");
            assert!(
                err <= FRAME_TOL * scale,
                "frames: {err} over {FRAME_TOL} x {scale}"
            );
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
    // The guidance matters: the two cases differ by far more than the tolerance.
    let plain = get(&reference, "plain.video_latents");
    let guided = get(&reference, "guided.video_latents");
    assert!(max_abs_diff(&plain, &guided) > 0.1);
}
