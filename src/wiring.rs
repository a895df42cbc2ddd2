//! Builds the shared pieces from config: the store, clip storage, the
//! renderer, the command core and workers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::Rng;
use reel_bots::core::{CommandCore, FaceScreen};
use reel_consent::{CameoRegistry, ConsentGate, MasterKey, NoCameoRegistry, RecordingVerifier};
use reel_engine::ltx::pipeline::{CheckpointKind, LtxOptions, LtxVideo};
use reel_engine::ltx::vae::VaeTiling;
use reel_engine::ltx2::pipeline::{read_latents_file, Ltx2Options, Ltx2Video};
use reel_engine::{Renderer, TestPattern};
use reel_store::{ClipStore, Store};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::enroll::LazyVerifier;
use crate::picture_screen::LazyFaceScreen;
use crate::secrets::Secrets;
use reel_provenance::ClipSigner;

use crate::provenance::ClipFinisher;
use crate::worker::{Worker, WorkerSettings};

pub struct App {
    pub config: Config,
    pub store: Store,
    pub clips: ClipStore,
    pub gate: Arc<dyn ConsentGate>,
    /// The cameo registry, where a master key is configured; it is then
    /// also the consent gate. Without one no cameo can be registered or used.
    pub cameos: Option<CameoRegistry>,
    /// Registration's recording checks; the models load at the first
    /// recording (see `enroll::LazyVerifier`), once per process.
    pub verifier: Arc<dyn RecordingVerifier>,
    /// Read once at open (bot tokens, the master key, the signing key).
    pub secrets: Secrets,
    /// The face check on `/video` pictures; the models load at the first
    /// picture (see `picture_screen`), once per process.
    pub face_screen: Arc<dyn FaceScreen>,
}

impl App {
    /// Opens the database (running migrations) and clip storage.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let store = Store::open(&config.database.url, config.store_options()).await?;
        let clips = ClipStore::open(&config.clip_store()).context("opening clip storage")?;
        let secrets = Secrets::load(&config.secrets)?;
        let cameos = match &secrets.master_key {
            Some(secret) => {
                let key = MasterKey::parse(secret.expose()).context(
                    "the cameo master key (REEL_MASTER_KEY or secrets.master_key_file) is unusable",
                )?;
                Some(CameoRegistry::new(store.clone(), key))
            }
            None => None,
        };
        let gate: Arc<dyn ConsentGate> = match &cameos {
            Some(registry) => Arc::new(registry.clone()),
            None => Arc::new(NoCameoRegistry),
        };
        let verifier: Arc<dyn RecordingVerifier> = Arc::new(LazyVerifier::new(config.clone()));
        let face_screen: Arc<dyn FaceScreen> = Arc::new(LazyFaceScreen::new(config.clone()));
        Ok(Self {
            face_screen,
            config,
            store,
            clips,
            gate,
            cameos,
            verifier,
            secrets,
        })
    }

    pub fn core(&self) -> CommandCore {
        let core = CommandCore::new(
            self.store.clone(),
            self.clips.clone(),
            self.gate.clone(),
            self.config.render_settings(),
        )
        .with_max_upload_bytes(self.config.perception.max_upload_bytes)
        .with_face_screen(self.face_screen.clone())
        // Whether a `say:` can be spoken: known from the shared config, so
        // the chat refuses it up front rather than queueing a job that the
        // worker could only fail.
        .with_speech(!self.config.voice.model_dir.as_os_str().is_empty());
        match &self.cameos {
            Some(registry) => core.with_cameos(registry.clone(), self.verifier.clone()),
            None => core,
        }
    }

    /// Loads the configured model (once: callers share the result).
    pub fn renderer(&self) -> anyhow::Result<Arc<dyn Renderer>> {
        make_renderer(&self.config, RenderOverrides::default())
    }

    /// Starts `count` render workers sharing one renderer (loaded here: a
    /// bad model directory fails the start) and the process's clip signer
    /// (`crate::provenance::load_clip_signer`).
    pub fn spawn_workers(
        &self,
        count: u32,
        signer: Option<Arc<ClipSigner>>,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        if count == 0 {
            return Ok(());
        }
        let renderer = self.renderer()?;
        let finisher = Arc::new(ClipFinisher::new(&self.config, renderer.name(), signer));
        // One speech model per process, loaded at the first line to say.
        let speaker = Arc::new(crate::voice::Speaker::new(&self.config.voice));
        let w = &self.config.workers;
        for _ in 0..count {
            let worker = Worker {
                queue: self.store.render_queue(),
                clips: self.clips.clone(),
                renderer: renderer.clone(),
                gate: self.gate.clone(),
                cameos: self.cameos.clone(),
                finisher: finisher.clone(),
                speaker: Some(speaker.clone()),
                settings: WorkerSettings {
                    id: process_unique_id("worker"),
                    lease: Duration::from_secs(w.lease_secs),
                    heartbeat: Duration::from_secs(w.heartbeat_secs),
                    poll: Duration::from_millis(w.poll_ms),
                },
            };
            let shutdown = shutdown.clone();
            tasks.spawn(worker.run(shutdown));
        }
        Ok(())
    }
}

impl App {
    /// Sweeps what retention no longer keeps (see `retention` in
    /// config.toml) every `retention.sweep_every_mins`, from the start. A
    /// failed sweep is logged and tried again next time.
    pub fn spawn_sweeper(&self, tasks: &mut JoinSet<()>, shutdown: &CancellationToken) {
        let (store, clips) = (self.store.clone(), self.clips.clone());
        let retention = self.config.retention();
        let every = Duration::from_secs(self.config.retention.sweep_every_mins * 60);
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            loop {
                match store.sweep(&clips, &retention).await {
                    Ok(report) => tracing::info!(?report, "retention sweep"),
                    Err(error) => tracing::warn!(%error, "retention sweep failed; next time"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
            }
        });
    }
}

/// Per-run settings of `reel render` over the configuration.
#[derive(Default)]
pub struct RenderOverrides {
    /// Model directory instead of engine.model_dir (the model is told from
    /// the directory: LTX-2 has an `audio_vae/`).
    pub model_dir: Option<PathBuf>,
    /// Initial latents (and optionally decode noise) from a safetensors file.
    pub latents: Option<PathBuf>,
    /// LTX-2's initial audio latents.
    pub audio_latents: Option<PathBuf>,
    /// LTX-2's audio → video: the soundtrack the picture follows, from a
    /// file, or already in memory (`reel render --say`, the spoken line).
    pub speech: Option<PathBuf>,
    pub speech_track: Option<reel_engine::Audio>,
}

/// Which renderer `make_renderer` builds, and from which directory: a given
/// directory is LTX-2 when it has an `audio_vae/`, LTX-Video otherwise.
pub fn model_for(config: &Config, model_dir: Option<&Path>) -> (&'static str, PathBuf) {
    let engine = &config.engine;
    match model_dir {
        Some(dir) if dir.join("audio_vae").is_dir() => ("ltx-2", dir.to_path_buf()),
        Some(dir) => ("ltx-video", dir.to_path_buf()),
        None => match engine.model.as_str() {
            "ltx-2" => ("ltx-2", engine.model_dir.clone()),
            "ltx-video" => ("ltx-video", engine.model_dir.clone()),
            _ => ("testsrc", PathBuf::new()),
        },
    }
}

/// The model named in config, loaded: the model directory is checked
/// completely here, so a bad one is one error at start.
pub fn make_renderer(
    config: &Config,
    mut overrides: RenderOverrides,
) -> anyhow::Result<Arc<dyn Renderer>> {
    let (model, model_dir) = model_for(config, overrides.model_dir.take().as_deref());
    if model != "ltx-2" && overrides.audio_latents.is_some() {
        anyhow::bail!("--audio-latents needs the ltx-2 model (engine.model or --model-dir)");
    }
    if model != "ltx-2" && overrides.speech.is_some() {
        anyhow::bail!("--speech needs the ltx-2 model (engine.model or --model-dir)");
    }
    if matches!(model, "ltx-2" | "ltx-video") {
        // Checked when the config loaded.
        let setting = config
            .engine
            .cpu_blas
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?;
        crate::cpu_blas::load(&setting)?;
    }
    match model {
        "ltx-2" => make_ltx2(config, &model_dir, overrides),
        "ltx-video" => make_ltx_video(config, &model_dir, overrides),
        _ => {
            if overrides.latents.is_some() {
                anyhow::bail!("--latents needs a video model (engine.model or --model-dir)");
            }
            let delay = config.render.testsrc_step_delay_ms;
            Ok(if delay > 0 {
                Arc::new(TestPattern::with_step_delay(Duration::from_millis(delay)))
            } else {
                Arc::new(TestPattern::new())
            })
        }
    }
}

fn make_ltx_video(
    config: &Config,
    model_dir: &Path,
    overrides: RenderOverrides,
) -> anyhow::Result<Arc<dyn Renderer>> {
    let engine = &config.engine;
    let mut options = LtxOptions::auto();
    options.condition_strength = engine.condition_strength;
    options.steps = (engine.steps > 0).then_some(engine.steps as usize);
    options.guidance_scale = (engine.guidance_scale > 0.0).then_some(engine.guidance_scale);
    // Both were checked when the config loaded.
    options.checkpoint =
        CheckpointKind::parse_setting(&engine.checkpoint).map_err(|e| anyhow::anyhow!(e))?;
    (options.vae_tiling, options.decode_budget) = vae_tiling(config)?;
    if let Some(path) = overrides.latents {
        let (latents, decode_noise) = reel_engine::ltx::pipeline::read_noise_file(&path)
            .with_context(|| format!("reading --latents {}", path.display()))?;
        options.latents = Some(latents);
        options.decode_noise = decode_noise;
    }
    let renderer = LtxVideo::load(model_dir, options)
        .with_context(|| format!("loading LTX-Video from {}", model_dir.display()))?;
    Ok(Arc::new(renderer))
}

/// `engine.vae_tiling` and `engine.vae_memory_budget_gib` (0: the default budget).
fn vae_tiling(config: &Config) -> anyhow::Result<(VaeTiling, Option<u64>)> {
    let engine = &config.engine;
    let mode = engine
        .vae_tiling
        .parse::<VaeTiling>()
        .context("engine.vae_tiling")?;
    let budget = (engine.vae_memory_budget_gib > 0.0)
        .then_some((engine.vae_memory_budget_gib * (1u64 << 30) as f64) as u64);
    Ok((mode, budget))
}

fn make_ltx2(
    config: &Config,
    model_dir: &Path,
    overrides: RenderOverrides,
) -> anyhow::Result<Arc<dyn Renderer>> {
    let engine = &config.engine;
    let mut options = Ltx2Options::auto();
    options.steps = (engine.steps > 0).then_some(engine.steps as usize);
    (options.vae_tiling, options.decode_budget) = vae_tiling(config)?;
    options.guidance_scale = (engine.guidance_scale > 0.0).then_some(engine.guidance_scale);
    match (overrides.latents, overrides.audio_latents) {
        (Some(video), audio) => {
            let (latents, audio) = read_latents_file(&video, audio.as_deref())
                .with_context(|| format!("reading --latents {}", video.display()))?;
            options.video_latents = Some(latents);
            options.audio_latents = audio;
        }
        (None, Some(audio)) => {
            let latents = reel_engine::ltx::noise::load_latents(&audio)
                .with_context(|| format!("reading --audio-latents {}", audio.display()))?;
            options.audio_latents = Some(latents);
        }
        (None, None) => {}
    }
    if let Some(track) = overrides.speech_track {
        options.speech = Some(track);
    } else if let Some(path) = overrides.speech {
        let speech = reel_media::decode_speech(&path, &config.perception.decode_limits())
            .with_context(|| format!("reading --speech {}", path.display()))?;
        options.speech = Some(reel_engine::Audio {
            sample_rate: reel_media::SPEECH_SAMPLE_RATE,
            channels: 1,
            samples: speech.samples,
        });
    }
    let renderer = Ltx2Video::load(model_dir, options)
        .with_context(|| format!("loading LTX-2 from {}", model_dir.display()))?;
    Ok(Arc::new(renderer))
}

/// `<kind>-<host>-<pid>-<random>`: distinct across processes and hosts.
pub fn process_unique_id(kind: &str) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    let nonce: u32 = rand::thread_rng().gen();
    format!("{kind}-{host}-{}-{nonce:08x}", std::process::id())
}
