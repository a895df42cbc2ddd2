//! LTX-2's schedules against LTX2Pipeline's (fixtures by scripts/golden/ltx2_scheduler.py).

mod ltx2_parity;

use candle_core::DType;
use reel_engine::ltx::scheduler::FlowMatchEulerScheduler;
use reel_engine::ltx2::scheduler::{
    ltx2_config, pipeline_scheduler, Schedule, DISTILLED_SIGMAS, STAGE_2_DISTILLED_SIGMAS,
};
use serde::Deserialize;

/// Sigmas are in [0, 1]; the same f32/f64 operations as the reference.
const SIGMA_TOL: f32 = 1e-7;
/// Timesteps are sigmas × 1000.
const TIMESTEP_TOL: f32 = 1e-4;

#[derive(Deserialize)]
struct Case {
    config: String,
    kind: String,
    steps: usize,
    sigmas: Option<Vec<f64>>,
    video_tokens: usize,
    mu: f64,
}

fn values(t: &candle_core::Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().to_vec1().unwrap()
}

#[test]
fn pipeline_schedules_match_ltx2_pipeline() {
    let dir = ltx2_parity::fixture_dir("scheduler");
    let cases: Vec<Case> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let expected = candle_core::safetensors::load(
        dir.join("schedules.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let (mut worst_sigma, mut worst_t) = (0f32, 0f32);
    for (i, case) in cases.iter().enumerate() {
        let config =
            FlowMatchEulerScheduler::load(&dir.join(&case.config).join("scheduler_config.json"))
                .unwrap()
                .config()
                .clone();
        assert!(
            (config.mu(case.video_tokens) - case.mu).abs() < 1e-12,
            "case {i}: mu"
        );
        let schedule = match case.kind.as_str() {
            "linspace" => Schedule::Steps(case.steps),
            _ => Schedule::Sigmas(case.sigmas.clone().unwrap()),
        };
        let scheduler = pipeline_scheduler(config, &schedule, case.video_tokens).unwrap();
        let want_sigmas = values(&expected[&format!("{i}.sigmas")]);
        let want_t = values(&expected[&format!("{i}.timesteps")]);
        assert_eq!(scheduler.sigmas().len(), want_sigmas.len(), "case {i}");
        for (a, b) in scheduler.sigmas().iter().zip(&want_sigmas) {
            worst_sigma = worst_sigma.max((a - b).abs());
        }
        for (a, b) in scheduler.timesteps().iter().zip(&want_t) {
            worst_t = worst_t.max((a - b).abs());
        }
    }
    assert!(worst_sigma <= SIGMA_TOL, "sigmas differ by {worst_sigma}");
    assert!(worst_t <= TIMESTEP_TOL, "timesteps differ by {worst_t}");
}

#[test]
fn ltx2_config_is_the_shipped_one() {
    let dir = ltx2_parity::fixture_dir("scheduler").join("ltx2");
    let shipped = FlowMatchEulerScheduler::load(&dir.join("scheduler_config.json")).unwrap();
    let ours = ltx2_config();
    for tokens in [768, 1024, 6144, 13376] {
        assert_eq!(shipped.config().mu(tokens), ours.mu(tokens));
    }
    assert_eq!(shipped.config().shift_terminal, ours.shift_terminal);
    assert_eq!(
        shipped.config().use_dynamic_shifting,
        ours.use_dynamic_shifting
    );
}

#[test]
fn distilled_lists_are_ltx_pipelines_values() {
    assert_eq!(DISTILLED_SIGMAS.len(), 8);
    assert_eq!(DISTILLED_SIGMAS[0], 1.0);
    assert_eq!(&DISTILLED_SIGMAS[5..], &STAGE_2_DISTILLED_SIGMAS);
    assert_eq!(Schedule::Sigmas(DISTILLED_SIGMAS.to_vec()).steps(), 8);
}

#[test]
fn an_empty_schedule_is_refused() {
    assert!(pipeline_scheduler(ltx2_config(), &Schedule::Steps(0), 768).is_err());
    assert!(pipeline_scheduler(ltx2_config(), &Schedule::Sigmas(vec![]), 768).is_err());
}
