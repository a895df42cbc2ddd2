//! Flow-matching Euler sampling as diffusers' `FlowMatchEulerDiscreteScheduler`
//! does it for LTX-Video: the resolution-dependent shift (`mu` from the
//! latent sequence length), the stretch to `shift_terminal`, explicit
//! timestep/sigma lists (the distilled checkpoints) and the Euler update.
//!
//! Arithmetic mirrors the reference's precision: a schedule built from a
//! step count is computed in f64 (numpy), one built from an explicit list is
//! computed in f32 (the list is cast to float32 first), and every schedule
//! ends as f32 values. Each f32 operation is an f64 operation rounded to f32,
//! which is exact for + - * /.

use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use serde::Deserialize;

/// Timesteps of the distilled 0.9.6/0.9.7/0.9.8 checkpoints for a first
/// (base resolution) pass, as diffusers' LTX-Video docs pass them to
/// `LTXConditionPipeline(timesteps=...)`.
pub const DISTILLED_TIMESTEPS: [f64; 8] = [1000.0, 993.0, 987.0, 981.0, 975.0, 909.0, 725.0, 0.03];

/// Timesteps of the distilled checkpoints for the refinement pass after
/// latent upscaling (diffusers' LTX-Video docs).
pub const DISTILLED_UPSCALE_TIMESTEPS: [f64; 5] = [1000.0, 909.0, 725.0, 421.0, 0.0];

/// The distilled 2B checkpoints' schedule as sigmas, as Lightricks' own
/// configs list it (ltxv-2b-0.9.6-distilled: one pass of 8 steps; the 0.9.8
/// multi-scale configs take the first 7 for their first pass). Lightricks'
/// sampler uses them unshifted: pass them with a config that neither shifts
/// nor stretches (`use_dynamic_shifting` off, `shift` 1, no `shift_terminal`).
pub const DISTILLED_SIGMAS: [f64; 8] = [
    1.0000, 0.9937, 0.9875, 0.9812, 0.9750, 0.9094, 0.7250, 0.4219,
];

/// The 0.9.8 distilled configs' second pass (after latent upscaling), as sigmas.
pub const DISTILLED_SECOND_PASS_SIGMAS: [f64; 3] = [0.9094, 0.7250, 0.4219];

/// How `mu` shifts sigmas when `use_dynamic_shifting` is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TimeShiftType {
    #[default]
    Exponential,
    Linear,
}

/// `scheduler/scheduler_config.json`, with diffusers' defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SchedulerConfig {
    pub num_train_timesteps: usize,
    pub shift: f64,
    pub use_dynamic_shifting: bool,
    pub base_shift: Option<f64>,
    pub max_shift: Option<f64>,
    pub base_image_seq_len: usize,
    pub max_image_seq_len: usize,
    pub invert_sigmas: bool,
    pub shift_terminal: Option<f64>,
    pub use_karras_sigmas: bool,
    pub use_exponential_sigmas: bool,
    pub use_beta_sigmas: bool,
    pub time_shift_type: TimeShiftType,
    pub stochastic_sampling: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            num_train_timesteps: 1000,
            shift: 1.0,
            use_dynamic_shifting: false,
            base_shift: Some(0.5),
            max_shift: Some(1.15),
            base_image_seq_len: 256,
            max_image_seq_len: 4096,
            invert_sigmas: false,
            shift_terminal: None,
            use_karras_sigmas: false,
            use_exponential_sigmas: false,
            use_beta_sigmas: false,
            time_shift_type: TimeShiftType::Exponential,
            stochastic_sampling: false,
        }
    }
}

impl SchedulerConfig {
    /// The configuration LTX-Video's diffusers repositories ship
    /// (`scheduler_config.json` of Lightricks/LTX-Video).
    pub fn ltx_video() -> Self {
        Self {
            use_dynamic_shifting: true,
            base_shift: Some(0.95),
            max_shift: Some(2.05),
            base_image_seq_len: 1024,
            max_image_seq_len: 4096,
            shift_terminal: Some(0.1),
            ..Self::default()
        }
    }

    /// `mu` for a latent video of `seq_len` tokens (frames × height × width
    /// after patchify), as the LTX pipelines compute it from this config
    /// (missing values fall back to the pipeline's 256/4096/0.5/1.15).
    pub fn mu(&self, seq_len: usize) -> f64 {
        calculate_shift(
            seq_len,
            self.base_image_seq_len,
            self.max_image_seq_len,
            self.base_shift.unwrap_or(0.5),
            self.max_shift.unwrap_or(1.15),
        )
    }
}

/// The shift `mu`, linear in the sequence length between
/// (`base_seq_len`, `base_shift`) and (`max_seq_len`, `max_shift`).
pub fn calculate_shift(
    seq_len: usize,
    base_seq_len: usize,
    max_seq_len: usize,
    base_shift: f64,
    max_shift: f64,
) -> f64 {
    let m = (max_shift - base_shift) / (max_seq_len as f64 - base_seq_len as f64);
    let b = base_shift - m * base_seq_len as f64;
    seq_len as f64 * m + b
}

/// numpy's `linspace(start, stop, num)` (endpoint included), value for value.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut values: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(last) = values.last_mut() {
        *last = stop;
    }
    values
}

/// The sigmas `LTXPipeline`/`LTXImageToVideoPipeline` pass for `steps`
/// steps: `linspace(1, 1/steps, steps)`, shifted later by the scheduler.
pub fn ltx_pipeline_sigmas(steps: usize) -> Vec<f64> {
    linspace(1.0, 1.0 / steps as f64, steps)
}

/// `LTXConditionPipeline`'s default schedule when no timesteps are given
/// (from LTX-Video's `rf.py`): linear, then quadratic, in f32. Multiply by
/// 1000 for the timesteps that pipeline passes.
pub fn linear_quadratic_schedule(steps: usize, threshold_noise: f64) -> Vec<f32> {
    if steps < 2 {
        return vec![1.0];
    }
    let linear_steps = steps / 2;
    let (n, l) = (steps as f64, linear_steps as f64);
    let mut schedule: Vec<f64> = (0..linear_steps)
        .map(|i| i as f64 * threshold_noise / l)
        .collect();
    let step_diff = l - threshold_noise * n;
    let quadratic_steps = n - l;
    let quadratic_coef = step_diff / (l * quadratic_steps * quadratic_steps);
    let linear_coef = threshold_noise / l - 2.0 * step_diff / (quadratic_steps * quadratic_steps);
    let constant = quadratic_coef * l * l;
    schedule.extend((linear_steps..steps).map(|i| {
        let i = i as f64;
        quadratic_coef * i * i + linear_coef * i + constant
    }));
    schedule.iter().map(|x| (1.0 - x) as f32).collect()
}

/// What a schedule is built from (diffusers' `set_timesteps` arguments).
#[derive(Debug, Clone, Copy)]
pub enum TimestepSpec<'a> {
    /// Evenly spaced between the training schedule's ends.
    Steps(usize),
    /// Explicit sigmas (shifted and stretched by the scheduler).
    Sigmas(&'a [f64]),
    /// Explicit timesteps, used as given; sigmas are `t / 1000`, shifted.
    Timesteps(&'a [f64]),
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("cannot read scheduler config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("scheduler config {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("scheduler option {0} is not supported")]
    Unsupported(&'static str),
    #[error("use_dynamic_shifting is set: a shift mu must be given (see SchedulerConfig::mu)")]
    MissingMu,
    #[error("an empty schedule: at least one step is needed")]
    Empty,
    #[error("step index {index} is past the schedule's {steps} steps")]
    StepOutOfRange { index: usize, steps: usize },
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

/// Rounds to f32 when the reference works in float32 at that point.
#[derive(Clone, Copy)]
struct Precision {
    f32: bool,
}

impl Precision {
    fn r(self, x: f64) -> f64 {
        if self.f32 {
            x as f32 as f64
        } else {
            x
        }
    }
}

/// The Euler flow-matching sampler with its current schedule.
#[derive(Debug, Clone)]
pub struct FlowMatchEulerScheduler {
    config: SchedulerConfig,
    /// One per step (f32, as the reference's tensors).
    timesteps: Vec<f32>,
    /// One per step plus the terminal sigma (0, or 1 when inverted).
    sigmas: Vec<f32>,
    sigma_min: f64,
    sigma_max: f64,
}

impl FlowMatchEulerScheduler {
    pub fn new(config: SchedulerConfig) -> Result<Self, SchedulerError> {
        // Other sigma conversions exist in diffusers; no LTX config uses them.
        if config.use_karras_sigmas {
            return Err(SchedulerError::Unsupported("use_karras_sigmas"));
        }
        if config.use_exponential_sigmas {
            return Err(SchedulerError::Unsupported("use_exponential_sigmas"));
        }
        if config.use_beta_sigmas {
            return Err(SchedulerError::Unsupported("use_beta_sigmas"));
        }
        if config.num_train_timesteps == 0 {
            return Err(SchedulerError::Unsupported("num_train_timesteps = 0"));
        }
        // The training schedule's ends, in float32 as the reference keeps them.
        let f32p = Precision { f32: true };
        let n = config.num_train_timesteps as f64;
        let shifted = |sigma: f64| {
            if config.use_dynamic_shifting {
                sigma
            } else {
                let s = config.shift;
                f32p.r(f32p.r(s * sigma) / f32p.r(1.0 + f32p.r((s - 1.0) * sigma)))
            }
        };
        let sigma_max = shifted(f32p.r(f32p.r(n) / n));
        let sigma_min = shifted(f32p.r(1.0 / n));
        Ok(Self {
            config,
            timesteps: Vec::new(),
            sigmas: Vec::new(),
            sigma_min,
            sigma_max,
        })
    }

    /// Reads `scheduler_config.json` (the file, or the `scheduler/` folder).
    pub fn load(path: &Path) -> Result<Self, SchedulerError> {
        let file = if path.is_dir() {
            path.join("scheduler_config.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| SchedulerError::Read {
            path: file.clone(),
            source,
        })?;
        let config = serde_json::from_str(&text).map_err(|source| SchedulerError::Parse {
            path: file.clone(),
            source,
        })?;
        Self::new(config)
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// The timesteps to pass to the transformer, one per step.
    pub fn timesteps(&self) -> &[f32] {
        &self.timesteps
    }

    /// Sigmas, one per step plus the terminal one.
    pub fn sigmas(&self) -> &[f32] {
        &self.sigmas
    }

    /// Builds the schedule (diffusers' `set_timesteps`). `mu` is required
    /// when the config uses dynamic shifting and ignored otherwise.
    pub fn set_timesteps(
        &mut self,
        spec: TimestepSpec<'_>,
        mu: Option<f64>,
    ) -> Result<(), SchedulerError> {
        let cfg = &self.config;
        let train = cfg.num_train_timesteps as f64;
        let mu = match (cfg.use_dynamic_shifting, mu) {
            (true, None) => return Err(SchedulerError::MissingMu),
            (_, mu) => mu.unwrap_or(0.0),
        };
        // Explicit lists are cast to float32 before any arithmetic.
        let (p, given_timesteps, sigmas) = match spec {
            TimestepSpec::Steps(steps) => {
                let ts = linspace(self.sigma_max * train, self.sigma_min * train, steps);
                let sigmas = ts.iter().map(|t| t / train).collect::<Vec<_>>();
                (Precision { f32: false }, None, sigmas)
            }
            TimestepSpec::Sigmas(list) => {
                let p = Precision { f32: true };
                (p, None, list.iter().map(|&s| p.r(s)).collect())
            }
            TimestepSpec::Timesteps(list) => {
                let p = Precision { f32: true };
                let ts: Vec<f64> = list.iter().map(|&t| p.r(t)).collect();
                let sigmas = ts.iter().map(|t| p.r(t / train)).collect();
                (p, Some(ts), sigmas)
            }
        };
        if sigmas.is_empty() {
            return Err(SchedulerError::Empty);
        }

        let mut sigmas: Vec<f64> = if cfg.use_dynamic_shifting {
            sigmas
                .iter()
                .map(|&t| time_shift(p, cfg.time_shift_type, mu, t))
                .collect()
        } else {
            let s = cfg.shift;
            sigmas
                .iter()
                .map(|&t| p.r(p.r(s * t) / p.r(1.0 + p.r((s - 1.0) * t))))
                .collect()
        };
        if let Some(terminal) = cfg.shift_terminal.filter(|&t| t != 0.0) {
            stretch_to_terminal(p, &mut sigmas, terminal);
        }

        // From here on the reference holds float32 tensors.
        let mut sigmas: Vec<f32> = sigmas.iter().map(|&s| s as f32).collect();
        let mut timesteps: Vec<f32> = match given_timesteps {
            Some(ts) => ts.iter().map(|&t| t as f32).collect(),
            None => sigmas.iter().map(|&s| s * train as f32).collect(),
        };
        if cfg.invert_sigmas {
            sigmas.iter_mut().for_each(|s| *s = 1.0 - *s);
            timesteps = sigmas.iter().map(|&s| s * train as f32).collect();
            sigmas.push(1.0);
        } else {
            sigmas.push(0.0);
        }
        self.timesteps = timesteps;
        self.sigmas = sigmas;
        Ok(())
    }

    /// The schedule `LTXPipeline`/`LTXImageToVideoPipeline` build for
    /// `steps` steps over a latent video of `seq_len` tokens (frames ×
    /// height × width): sigmas `linspace(1, 1/steps, steps)`, shifted by
    /// `mu(seq_len)` when the config shifts dynamically.
    pub fn set_ltx_pipeline_timesteps(
        &mut self,
        steps: usize,
        seq_len: usize,
    ) -> Result<(), SchedulerError> {
        let sigmas = ltx_pipeline_sigmas(steps);
        let mu = self.config.mu(seq_len);
        self.set_timesteps(TimestepSpec::Sigmas(&sigmas), Some(mu))
    }

    fn sigma_pair(&self, index: usize) -> Result<(f32, f32), SchedulerError> {
        match (self.sigmas.get(index), self.sigmas.get(index + 1)) {
            (Some(&s), Some(&next)) => Ok((s, next)),
            _ => Err(SchedulerError::StepOutOfRange {
                index,
                steps: self.timesteps.len(),
            }),
        }
    }

    /// One Euler step from step `index` to `index + 1`:
    /// `sample + (sigma_next - sigma) * model_output`, computed in f32 and
    /// returned in `model_output`'s dtype. With `stochastic_sampling` this
    /// is the stochastic update and needs `noise` (shaped like `sample`).
    pub fn step(
        &self,
        index: usize,
        model_output: &Tensor,
        sample: &Tensor,
        noise: Option<&Tensor>,
    ) -> Result<Tensor, SchedulerError> {
        let (sigma, sigma_next) = self.sigma_pair(index)?;
        let out_dtype = model_output.dtype();
        let sample = sample.to_dtype(DType::F32)?;
        let velocity = model_output.to_dtype(DType::F32)?;
        let prev = if self.config.stochastic_sampling {
            let noise = noise.ok_or(SchedulerError::Unsupported(
                "stochastic_sampling without a noise tensor",
            ))?;
            let x0 = (&sample - (&velocity * sigma as f64)?)?;
            ((x0 * (1.0 - sigma_next) as f64)?
                + (noise.to_dtype(DType::F32)? * sigma_next as f64)?)?
        } else {
            let dt = sigma_next - sigma;
            (sample + (velocity * dt as f64)?)?
        };
        Ok(prev.to_dtype(out_dtype)?)
    }

    /// The Euler step with a timestep per token (`LTXConditionPipeline`,
    /// where conditioning tokens are less noisy): each token moves from its
    /// own sigma `t / 1000` to the largest schedule sigma below it.
    /// `per_token_timesteps` is `[B, N]`, `sample` and `model_output`
    /// `[B, N, C]`; the result stays f32 as in the reference.
    pub fn step_per_token(
        &self,
        model_output: &Tensor,
        per_token_timesteps: &Tensor,
        sample: &Tensor,
    ) -> Result<Tensor, SchedulerError> {
        let device = sample.device();
        let train = self.config.num_train_timesteps as f64;
        let token_sigmas = (per_token_timesteps.to_dtype(DType::F32)? / train)?; // (b, n)
        let schedule = Tensor::new(self.sigmas.as_slice(), device)?; // (s,)
        let schedule = schedule.reshape((self.sigmas.len(), 1, 1))?; // (s, 1, 1)
        let threshold = (&token_sigmas - 1e-6)?.unsqueeze(0)?; // (1, b, n)
        let below = schedule.broadcast_lt(&threshold)?.to_dtype(DType::F32)?;
        let next_sigmas = below.broadcast_mul(&schedule)?.max(0)?; // (b, n)
        let dt = (token_sigmas - next_sigmas)?.unsqueeze(2)?; // (b, n, 1)
        let sample = sample.to_dtype(DType::F32)?;
        let velocity = model_output.to_dtype(DType::F32)?;
        Ok((sample + velocity.broadcast_mul(&dt)?)?)
    }

    /// The forward process at step `index`: `sigma * noise + (1 - sigma) *
    /// sample` (diffusers' `scale_noise` with a begin index).
    pub fn scale_noise(
        &self,
        index: usize,
        sample: &Tensor,
        noise: &Tensor,
    ) -> Result<Tensor, SchedulerError> {
        let sigma = *self
            .sigmas
            .get(index)
            .ok_or(SchedulerError::StepOutOfRange {
                index,
                steps: self.timesteps.len(),
            })? as f64;
        Ok(((noise * sigma)? + (sample * (1.0 - sigma))?)?)
    }
}

/// `exp(mu) / (exp(mu) + (1/t - 1))` (or `mu / (mu + ...)`), the reference's
/// `time_shift` with its sigma exponent of 1.
fn time_shift(p: Precision, kind: TimeShiftType, mu: f64, t: f64) -> f64 {
    let a = match kind {
        TimeShiftType::Exponential => p.r(mu.exp()),
        TimeShiftType::Linear => p.r(mu),
    };
    let tail = p.r(p.r(1.0 / t) - 1.0);
    p.r(a / p.r(a + tail))
}

/// Stretches the schedule so that its last sigma is `terminal`.
fn stretch_to_terminal(p: Precision, sigmas: &mut [f64], terminal: f64) {
    let Some(&last) = sigmas.last() else { return };
    let scale = p.r(p.r(1.0 - last) / p.r(1.0 - terminal));
    for s in sigmas.iter_mut() {
        *s = p.r(1.0 - p.r(p.r(1.0 - *s) / scale));
    }
}
