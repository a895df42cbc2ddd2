//! The schedules LTX-2's pipelines build. Sampling is diffusers'
//! `FlowMatchEulerDiscreteScheduler` ([`crate::ltx::scheduler`], proven for
//! LTX-Video); what is LTX-2's own is the configuration its repositories
//! ship, the distilled checkpoints' sigma lists and how `LTX2Pipeline` calls
//! `set_timesteps`: sigmas `linspace(1, 1/steps, steps)` shifted by `mu` from
//! the *video* token count, with the audio latents stepped on the same
//! schedule (a copy of the video scheduler, same `mu`).

use crate::ltx::scheduler::{
    ltx_pipeline_sigmas, FlowMatchEulerScheduler, SchedulerConfig, SchedulerError, TimestepSpec,
};

/// The distilled checkpoints' schedule (ltx-pipelines' `DISTILLED_SIGMA_VALUES`).
pub const DISTILLED_SIGMAS: [f64; 8] = [
    1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875,
];

/// The second stage after latent upsampling (`STAGE_2_DISTILLED_SIGMA_VALUES`).
pub const STAGE_2_DISTILLED_SIGMAS: [f64; 3] = [0.909375, 0.725, 0.421875];

/// `scheduler/scheduler_config.json` of the LTX-2 diffusers repositories
/// (ltx-core's `LTX2Scheduler`: shift anchored at 1024 and 4096 tokens,
/// 0.95 to 2.05, stretched to a terminal sigma of 0.1) — LTX-Video's.
pub fn ltx2_config() -> SchedulerConfig {
    SchedulerConfig::ltx_video()
}

/// What the denoising loop steps through.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `steps` evenly spaced sigmas from 1 (`LTX2Pipeline`'s default).
    Steps(usize),
    /// Explicit sigmas (the distilled lists), shifted by the config like any other.
    Sigmas(Vec<f64>),
}

impl Schedule {
    pub fn steps(&self) -> usize {
        match self {
            Self::Steps(steps) => *steps,
            Self::Sigmas(sigmas) => sigmas.len(),
        }
    }
}

/// The scheduler `LTX2Pipeline` sets up for a latent video of `video_tokens`
/// tokens; the audio latents are stepped with a clone of it.
pub fn pipeline_scheduler(
    config: SchedulerConfig,
    schedule: &Schedule,
    video_tokens: usize,
) -> Result<FlowMatchEulerScheduler, SchedulerError> {
    if schedule.steps() == 0 {
        return Err(SchedulerError::Empty);
    }
    let sigmas = match schedule {
        Schedule::Steps(steps) => ltx_pipeline_sigmas(*steps),
        Schedule::Sigmas(sigmas) => sigmas.clone(),
    };
    let mu = config.mu(video_tokens);
    let mut scheduler = FlowMatchEulerScheduler::new(config)?;
    scheduler.set_timesteps(TimestepSpec::Sigmas(&sigmas), Some(mu))?;
    Ok(scheduler)
}

/// The token count ltx-core's `LTX2Scheduler` shifts by when no latent is
/// given — as every ltx-pipelines pipeline calls it, whatever the clip's size.
pub const LTX_CORE_SCHEDULE_TOKENS: usize = 4096;

/// The schedule ltx-pipelines' audio-to-video stage 1 steps through: a step
/// count is `LTX2Scheduler().execute(steps)` (the same shift and stretch as
/// [`pipeline_scheduler`], but at [`LTX_CORE_SCHEDULE_TOKENS`] rather than
/// the video's tokens); an explicit list is used as given (ltx-pipelines
/// never shifts its distilled lists).
pub fn ltx_core_scheduler(
    config: SchedulerConfig,
    schedule: &Schedule,
) -> Result<FlowMatchEulerScheduler, SchedulerError> {
    match schedule {
        Schedule::Steps(_) => pipeline_scheduler(config, schedule, LTX_CORE_SCHEDULE_TOKENS),
        Schedule::Sigmas(sigmas) => {
            if sigmas.is_empty() {
                return Err(SchedulerError::Empty);
            }
            let unshifted = SchedulerConfig {
                num_train_timesteps: config.num_train_timesteps,
                ..SchedulerConfig::default()
            };
            let mut scheduler = FlowMatchEulerScheduler::new(unshifted)?;
            scheduler.set_timesteps(TimestepSpec::Sigmas(sigmas), None)?;
            Ok(scheduler)
        }
    }
}
