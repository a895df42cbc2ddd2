//! The flow-matching Euler scheduler against diffusers'
//! FlowMatchEulerDiscreteScheduler (fixtures by scripts/golden/tiny_scheduler.py).

mod parity;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use reel_engine::ltx::scheduler::{
    self, FlowMatchEulerScheduler, SchedulerConfig, SchedulerError, TimestepSpec, DISTILLED_SIGMAS,
    DISTILLED_TIMESTEPS,
};
use serde::Deserialize;

/// Sigmas are in [0, 1]: f32 rounding of the same operations stays well
/// below this. Timesteps are sigmas × 1000.
const SIGMA_TOL: f32 = 1e-7;
const TIMESTEP_TOL: f32 = 1e-4;
/// Euler steps on O(1) latents, f32.
const STEP_TOL: f32 = 1e-6;

fn fixtures() -> PathBuf {
    parity::fixture_dir("scheduler")
}

fn load_tensors(name: &str) -> HashMap<String, Tensor> {
    let path = fixtures().join(name);
    candle_core::safetensors::load(&path, &Device::Cpu).unwrap_or_else(|e| {
        panic!(
            "fixture {} (run scripts/golden/tiny_scheduler.py): {e}",
            path.display()
        )
    })
}

fn vec1(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn tensor_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    max_abs_diff(&vec1(a), &vec1(b))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Spec {
    Steps(usize),
    List(Vec<f64>),
}

#[derive(Deserialize)]
struct Case {
    config: String,
    kind: String,
    spec: Spec,
    mu: Option<f64>,
}

#[test]
fn schedules_match_diffusers() {
    let text = std::fs::read_to_string(fixtures().join("cases.json")).expect("cases.json fixture");
    let cases: Vec<Case> = serde_json::from_str(&text).unwrap();
    let expected = load_tensors("schedules.safetensors");
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let (mut worst_sigma, mut worst_t) = (0f32, 0f32);
    for (i, case) in cases.iter().enumerate() {
        let mut sched = FlowMatchEulerScheduler::load(&fixtures().join(&case.config)).unwrap();
        let spec = match (&case.spec, case.kind.as_str()) {
            (Spec::Steps(n), "steps") => TimestepSpec::Steps(*n),
            (Spec::List(l), "sigmas") => TimestepSpec::Sigmas(l),
            (Spec::List(l), "timesteps") => TimestepSpec::Timesteps(l),
            _ => panic!("case {i}: bad kind {}", case.kind),
        };
        sched.set_timesteps(spec, case.mu).unwrap();
        let sigmas = vec1(&expected[&format!("{i}.sigmas")]);
        let timesteps = vec1(&expected[&format!("{i}.timesteps")]);
        let ds = max_abs_diff(sched.sigmas(), &sigmas);
        let dt = max_abs_diff(sched.timesteps(), &timesteps);
        assert!(
            ds <= SIGMA_TOL && dt <= TIMESTEP_TOL,
            "case {i} ({} {} mu {:?}): sigma err {ds}, timestep err {dt}\nours {:?}\nref  {:?}",
            case.config,
            case.kind,
            case.mu,
            sched.sigmas(),
            sigmas
        );
        worst_sigma = worst_sigma.max(ds);
        worst_t = worst_t.max(dt);
    }
    println!(
        "{} schedules: max sigma error {worst_sigma:e} (tol {SIGMA_TOL:e}), max timestep error {worst_t:e} (tol {TIMESTEP_TOL:e})",
        cases.len()
    );
}

#[test]
fn mu_matches_the_ltx_pipeline() {
    let text = std::fs::read_to_string(fixtures().join("mu.json")).expect("mu.json fixture");
    let expected: HashMap<String, f64> = serde_json::from_str(&text).unwrap();
    let config = SchedulerConfig::ltx_video();
    for (seq_len, mu) in &expected {
        let ours = config.mu(seq_len.parse().unwrap());
        assert!(
            (ours - mu).abs() < 1e-12,
            "seq_len {seq_len}: {ours} vs {mu}"
        );
    }
    // The shipped config file gives the same numbers as the built-in one.
    let loaded = FlowMatchEulerScheduler::load(&fixtures().join("ltx_video")).unwrap();
    assert_eq!(loaded.config().mu(6144), config.mu(6144));
}

#[test]
fn euler_steps_match_diffusers() {
    let t = load_tensors("steps.safetensors");
    let mut sched = FlowMatchEulerScheduler::new(SchedulerConfig::ltx_video()).unwrap();
    let mu = vec1(&t["plain.mu"].to_dtype(DType::F64).unwrap())[0] as f64;
    let mu_ours = sched.config().mu(8);
    assert!((mu - mu_ours).abs() < 1e-6, "mu {mu_ours} vs {mu}");
    sched
        .set_timesteps(
            TimestepSpec::Sigmas(&scheduler::ltx_pipeline_sigmas(12)),
            Some(mu_ours),
        )
        .unwrap();
    let mut shortcut = FlowMatchEulerScheduler::new(SchedulerConfig::ltx_video()).unwrap();
    shortcut.set_ltx_pipeline_timesteps(12, 8).unwrap();
    assert_eq!(shortcut.sigmas(), sched.sigmas());
    assert_eq!(shortcut.timesteps(), sched.timesteps());
    let mut sample = t["plain.sample0"].clone();
    let mut worst = 0f32;
    for i in 0..sched.timesteps().len() {
        let output = &t[&format!("plain.output{i}")];
        sample = sched.step(i, output, &sample, None).unwrap();
        let err = tensor_diff(&sample, &t[&format!("plain.sample{}", i + 1)]);
        assert!(err <= STEP_TOL, "plain step {i}: {err}");
        worst = worst.max(err);
    }
    println!("12 plain Euler steps: max error {worst:e} (tol {STEP_TOL:e})");

    let mut sched = FlowMatchEulerScheduler::load(&fixtures().join("stochastic")).unwrap();
    sched
        .set_timesteps(TimestepSpec::Timesteps(&DISTILLED_TIMESTEPS), None)
        .unwrap();
    let mut sample = t["stochastic.sample0"].clone();
    let mut worst = 0f32;
    for i in 0..sched.timesteps().len() {
        let output = &t[&format!("stochastic.output{i}")];
        let noise = &t[&format!("stochastic.noise{i}")];
        assert!(matches!(
            sched.step(i, output, &sample, None),
            Err(SchedulerError::Unsupported(_))
        ));
        sample = sched.step(i, output, &sample, Some(noise)).unwrap();
        let err = tensor_diff(&sample, &t[&format!("stochastic.sample{}", i + 1)]);
        assert!(err <= STEP_TOL, "stochastic step {i}: {err}");
        worst = worst.max(err);
    }
    println!("8 stochastic steps: max error {worst:e} (tol {STEP_TOL:e})");

    let mut sched = FlowMatchEulerScheduler::load(&fixtures().join("static_terminal")).unwrap();
    sched
        .set_timesteps(TimestepSpec::Timesteps(&DISTILLED_TIMESTEPS), None)
        .unwrap();
    let result = sched
        .step_per_token(
            &t["per_token.output"],
            &t["per_token.timesteps"],
            &t["per_token.sample"],
        )
        .unwrap();
    let err = tensor_diff(&result, &t["per_token.result"]);
    println!("per-token step: max error {err:e} (tol {STEP_TOL:e})");
    assert!(err <= STEP_TOL, "per-token step: {err}");
}

#[test]
fn bad_configs_and_arguments_are_errors() {
    let mut sched = FlowMatchEulerScheduler::new(SchedulerConfig::ltx_video()).unwrap();
    assert!(matches!(
        sched.set_timesteps(TimestepSpec::Steps(8), None),
        Err(SchedulerError::MissingMu)
    ));
    assert!(matches!(
        sched.set_timesteps(TimestepSpec::Sigmas(&[]), Some(1.0)),
        Err(SchedulerError::Empty)
    ));
    sched
        .set_timesteps(TimestepSpec::Sigmas(&DISTILLED_SIGMAS), Some(1.0))
        .unwrap();
    let x = Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(
        sched.step(8, &x, &x, None),
        Err(SchedulerError::StepOutOfRange { index: 8, steps: 8 })
    ));

    let karras = SchedulerConfig {
        use_karras_sigmas: true,
        ..SchedulerConfig::default()
    };
    assert!(matches!(
        FlowMatchEulerScheduler::new(karras),
        Err(SchedulerError::Unsupported("use_karras_sigmas"))
    ));

    let dir = tempfile::tempdir().unwrap();
    let err = FlowMatchEulerScheduler::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("scheduler_config.json"), "{err}");
    std::fs::write(
        dir.path().join("scheduler_config.json"),
        "{\"shift\": \"big\"}",
    )
    .unwrap();
    let err = FlowMatchEulerScheduler::load(dir.path()).unwrap_err();
    assert!(matches!(err, SchedulerError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("scheduler_config.json"), "{err}");
}
