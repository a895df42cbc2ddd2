use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use reel::config::Config;
use reel::secrets::Secrets;
use reel::wiring::{process_unique_id, App};
use reel_bots::core::{ChatSink, OutcomePoster, ProgressWatcher};
use reel_bots::discord::{self, DiscordSink};
use reel_bots::telegram::{self, TelegramSink};
use reel_bots::terminal::{self, TerminalSink};
use reel_store::{JobState, Retention, Store, StoreOptions};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

mod consent_cmd;
mod faces_cmd;
mod provenance_cmd;
mod pull;
mod render_cmd;
mod transcribe_cmd;

#[derive(Parser)]
#[command(
    name = "reel",
    version,
    about = "Text-to-video with sound for Discord, Telegram and the terminal"
)]
struct Cli {
    /// Configuration file (default: ./config.toml when present, else the built-in defaults).
    #[arg(long, global = true, env = "REEL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the chat adapters, render workers and delivery in one process.
    Serve {
        /// Run no render workers here (they run as `reel worker` elsewhere).
        #[arg(long)]
        no_workers: bool,
    },
    /// Render jobs from the shared queue (for GPU hosts).
    Worker {
        /// Workers in this process (default: workers.count).
        #[arg(long)]
        count: Option<u32>,
    },
    /// Render one clip to a file, without the queue.
    Render(Box<render_cmd::RenderArgs>),
    /// Chat with reel in this terminal, using the bots' commands.
    Chat {
        /// Queue jobs as this user (default: chat.terminal_user).
        #[arg(long)]
        user: Option<String>,
        /// Leave rendering to `reel worker` processes.
        #[arg(long)]
        no_workers: bool,
    },
    /// Inspect and manage jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Run database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Download a model's weights into the Hugging Face cache and print the
    /// directory for engine.model_dir (`face-models`: the face models, into
    /// perception.face_model_dir; `whisper-*`: for perception.whisper_model_dir).
    Pull(pull::PullArgs),
    /// The faces in an image as JSON; with two images, whether their largest
    /// faces are the same person.
    Faces(faces_cmd::FacesArgs),
    /// What Whisper hears in an audio or video file, as JSON: text, detected
    /// language, average log-probability.
    Transcribe(transcribe_cmd::TranscribeArgs),
    /// Make a local CA, a C2PA signing certificate and its key (files named
    /// in [secrets], else in ./reel-keys/); never overwrites.
    Keygen(provenance_cmd::KeygenArgs),
    /// Print a clip's content credentials (C2PA) and whether they validate.
    Verify(provenance_cmd::VerifyArgs),
    /// Audit the cameo registry: verify the consent log, export or erase
    /// what is held about a person, make a master key.
    Consent {
        #[command(subcommand)]
        command: consent_cmd::ConsentCommand,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Newest jobs first.
    List {
        #[arg(long)]
        state: Option<JobState>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One job with its history.
    Show { id: i64 },
    /// Cancel a queued or rendering job.
    Cancel { id: i64 },
    /// Put a failed or cancelled job back in the queue.
    Retry { id: i64 },
    /// Live render workers.
    Workers,
    /// Delete now what retention no longer keeps: old clips, old jobs and
    /// their events, stale worker rows, clip objects no job refers to.
    Purge {
        /// Keep clips of ended jobs this many days (default:
        /// retention.clips_days; 0 keeps them).
        #[arg(long)]
        clips_days: Option<u32>,
        /// Keep ended jobs this many days (default: retention.jobs_days;
        /// 0 keeps them).
        #[arg(long)]
        jobs_days: Option<u32>,
    },
}

fn main() -> std::process::ExitCode {
    // Before any thread starts: it sets an environment variable.
    reel_engine::single_cpu_pool();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    let quiet = matches!(
        cli.command,
        Command::Chat { .. }
            | Command::Render(_)
            | Command::Faces(_)
            | Command::Transcribe(_)
            | Command::Keygen(_)
            | Command::Verify(_)
            | Command::Consent { .. }
    );
    init_logging(&config, quiet);
    match cli.command {
        Command::Config => {
            let secrets = Secrets::load(&config.secrets)?;
            print!("{}", config.to_redacted_toml());
            println!("\n# secrets\n{}", secrets.describe());
            Ok(())
        }
        Command::Migrate => {
            let options = StoreOptions {
                max_connections: 1,
                ..config.store_options()
            };
            let store = Store::open(&config.database.url, options).await?;
            println!(
                "database at {} is up to date",
                reel_store::redact_url(&config.database.url)
            );
            store.close().await;
            Ok(())
        }
        Command::Render(args) => render_cmd::run(&config, *args).await,
        Command::Pull(args) => {
            let perception = config.perception.clone();
            tokio::task::spawn_blocking(move || pull::run(args, &perception))
                .await
                .context("the download stopped unexpectedly")?
        }
        Command::Faces(args) => tokio::task::spawn_blocking(move || faces_cmd::run(&config, args))
            .await
            .context("the face check stopped unexpectedly")?,
        Command::Transcribe(args) => {
            tokio::task::spawn_blocking(move || transcribe_cmd::run(&config, args))
                .await
                .context("the transcription stopped unexpectedly")?
        }
        Command::Keygen(args) => provenance_cmd::keygen(&config, args),
        Command::Verify(args) => {
            tokio::task::spawn_blocking(move || provenance_cmd::verify(&config, args))
                .await
                .context("the check stopped unexpectedly")?
        }
        Command::Jobs { command } => jobs(App::open(config).await?, command).await,
        Command::Consent { command } => consent_cmd::run(config, command).await,
        Command::Worker { count } => {
            let app = App::open(config).await?;
            let count = count.unwrap_or(app.config.workers.count);
            if count == 0 {
                bail!("--count must be at least 1");
            }
            let shutdown = CancellationToken::new();
            let mut tasks = JoinSet::new();
            let signer = reel::provenance::load_clip_signer(&app.config)?;
            app.spawn_workers(count, signer, &mut tasks, &shutdown)?;
            wait_for_signal(&shutdown, &mut tasks).await
        }
        Command::Serve { no_workers } => serve(App::open(config).await?, no_workers).await,
        Command::Chat { user, no_workers } => {
            chat(App::open(config).await?, user, no_workers).await
        }
    }
}

fn init_logging(config: &Config, quiet: bool) {
    let default = if quiet {
        "warn"
    } else {
        config.log.filter.as_str()
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // serenity's spans carry whole requests and gateway events, Discord
    // interaction tokens included: off unless the filter names serenity.
    let asked = std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_string());
    if !asked.contains("serenity") {
        if let Ok(quiet) = "serenity=warn".parse() {
            filter = filter.add_directive(quiet);
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(app: App, no_workers: bool) -> anyhow::Result<()> {
    let secrets = &app.secrets;
    // One signer for the workers' clips and the adapters' re-encodes.
    let signer = reel::provenance::load_clip_signer(&app.config)?;
    reel::provenance::install_reencode_signing(signer.clone());
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    if !no_workers {
        app.spawn_workers(app.config.workers.count, signer, &mut tasks, &shutdown)?;
    }
    // Chat platforms with a sink get their outcomes posted here.
    let mut sinks: Vec<Arc<dyn ChatSink>> = Vec::new();
    // Set by an adapter that gave up: the process then stops and exits
    // non-zero, so a supervisor restarts it.
    let adapter_failed = Arc::new(std::sync::OnceLock::new());
    if app.config.telegram.enabled {
        sinks.push(spawn_telegram(
            &app,
            secrets,
            &mut tasks,
            &shutdown,
            &adapter_failed,
        )?);
    }
    if app.config.discord.enabled {
        sinks.push(spawn_discord(
            &app,
            secrets,
            &mut tasks,
            &shutdown,
            &adapter_failed,
        )?);
    }
    if sinks.is_empty() {
        tracing::warn!(
            discord_token = secrets.discord_token.is_some(),
            telegram_token = secrets.telegram_token.is_some(),
            "no chat adapter is enabled (set discord.enabled or telegram.enabled = true); \
             serving render workers only — use `reel chat` to talk to reel from a terminal"
        );
    }
    spawn_delivery(&app, sinks, &mut tasks, &shutdown);
    app.spawn_sweeper(&mut tasks, &shutdown);
    let waited = wait_for_signal(&shutdown, &mut tasks).await;
    if let Some(error) = adapter_failed.get() {
        bail!("{error}");
    }
    waited
}

/// Where an adapter that ended with an error reports it.
type AdapterFailed = Arc<std::sync::OnceLock<String>>;

async fn chat(app: App, user: Option<String>, no_workers: bool) -> anyhow::Result<()> {
    let user = user.unwrap_or_else(|| app.config.chat.terminal_user.clone());
    let signer = reel::provenance::load_clip_signer(&app.config)?;
    reel::provenance::install_reencode_signing(signer.clone());
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    if !no_workers {
        let count = app.config.workers.count.max(1);
        app.spawn_workers(count, signer, &mut tasks, &shutdown)?;
    }
    let sink = TerminalSink::new(Box::new(tokio::io::stdout()));
    spawn_delivery(&app, vec![sink.clone()], &mut tasks, &shutdown);
    let core = app.core();
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    let session = terminal::run_session(&core, input, &sink, &user);
    let result = tokio::select! {
        result = session => result.map_err(anyhow::Error::from),
        _ = shutdown_signal() => Ok(()),
    };
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    result
}

/// Starts the Telegram adapter; returns its sink for delivery.
fn spawn_telegram(
    app: &App,
    secrets: &Secrets,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
    failed: &AdapterFailed,
) -> anyhow::Result<Arc<dyn ChatSink>> {
    let Some(token) = secrets.telegram_token.as_ref() else {
        bail!("telegram.enabled is true but there is no bot token: set REEL_TELEGRAM_TOKEN or secrets.telegram_token_file");
    };
    let options = app.config.telegram_options();
    let bot = telegram::connect(token.expose(), &options)?;
    let max_upload = app.config.telegram.max_upload_mb * 1_000_000;
    let max_document = app.config.telegram.max_document_mb * 1_000_000;
    let sink = Arc::new(
        TelegramSink::new(bot.clone(), app.core().handles().clone(), max_upload)
            .with_document_limit(max_document),
    );
    let (core, shutdown, failed) = (app.core(), shutdown.clone(), failed.clone());
    tracing::info!(api = %options.api_url, "starting the Telegram adapter");
    tasks.spawn(async move {
        if let Err(error) = telegram::run(bot, core, &options, shutdown.clone()).await {
            tracing::error!(%error, "the Telegram adapter stopped; stopping reel");
            let _ = failed.set(format!("the Telegram adapter stopped: {error}"));
            shutdown.cancel();
        }
    });
    Ok(sink)
}

/// Starts the Discord adapter; returns its sink for delivery.
fn spawn_discord(
    app: &App,
    secrets: &Secrets,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
    failed: &AdapterFailed,
) -> anyhow::Result<Arc<dyn ChatSink>> {
    let Some(token) = secrets.discord_token.as_ref() else {
        bail!("discord.enabled is true but there is no bot token: set REEL_DISCORD_TOKEN or secrets.discord_token_file");
    };
    let options = app.config.discord_options();
    let http = Arc::new(discord::http(token.expose(), &options));
    let sink = Arc::new(DiscordSink::new(http, app.core().handles().clone()));
    let token = token.expose().to_string();
    let (core, shutdown, failed) = (app.core(), shutdown.clone(), failed.clone());
    tracing::info!(guild = ?options.dev_guild, "starting the Discord adapter");
    tasks.spawn(async move {
        if let Err(error) = discord::run(&token, core, &options, shutdown.clone()).await {
            tracing::error!(%error, "the Discord adapter stopped; stopping reel");
            let _ = failed.set(format!("the Discord adapter stopped: {error}"));
            shutdown.cancel();
        }
    });
    Ok(sink)
}

/// The progress watcher and the outcome poster for the given sinks.
fn spawn_delivery(
    app: &App,
    sinks: Vec<Arc<dyn ChatSink>>,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) {
    if sinks.is_empty() {
        return;
    }
    let interval = Duration::from_millis(app.config.chat.progress_interval_ms);
    for sink in &sinks {
        let watcher = ProgressWatcher::new(app.store.clone(), sink.clone(), interval);
        tasks.spawn(watcher.run(shutdown.clone()));
    }
    let poster = OutcomePoster::new(
        app.store.clone(),
        app.clips.clone(),
        app.gate.clone(),
        sinks,
        process_unique_id("poster"),
    )
    .with_idle_poll(Duration::from_millis(app.config.workers.poll_ms));
    let poster = match &app.cameos {
        Some(registry) => poster.with_approvals(registry.clone()),
        None => poster,
    };
    tasks.spawn(poster.run(shutdown.clone()));
}

/// Runs until a signal; exits non-zero when every task stopped on its own
/// (e.g. every render worker crashed), so a supervisor restarts the process.
async fn wait_for_signal(
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    reel::supervise::until_signal(tasks, shutdown, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn jobs(app: App, command: JobsCommand) -> anyhow::Result<()> {
    let store = &app.store;
    match command {
        JobsCommand::List { state, limit } => {
            let jobs = store.list_jobs(state, limit).await?;
            if jobs.is_empty() {
                println!("no jobs");
            }
            for job in jobs {
                println!(
                    "#{:<6} {:<10} {:>3}/{:<3} {}:{} “{}”",
                    job.id,
                    job.state,
                    job.progress_step,
                    job.progress_total,
                    job.platform,
                    job.user_id,
                    job.prompt.chars().take(60).collect::<String>()
                );
            }
        }
        JobsCommand::Show { id } => {
            let job = store.job(id).await?;
            // The reply handle may hold a live Discord interaction token.
            let shown = reel_store::Job {
                reply_handle: reel_bots::core::redact_handle(&job.reply_handle),
                ..job.clone()
            };
            println!("{shown:#?}");
            if let Some(path) = job
                .clip_key
                .as_deref()
                .and_then(|k| app.clips.local_path(k))
            {
                println!("clip file: {}", path.display());
            }
            for event in store.events(id).await? {
                println!(
                    "{:>15} {:<16} {:<40} {}",
                    event.at, event.kind, event.actor, event.detail
                );
            }
        }
        JobsCommand::Cancel { id } => {
            let outcome = store.request_cancel(id, "operator").await?;
            println!("#{id}: {outcome:?}");
        }
        JobsCommand::Retry { id } => {
            let job = store
                .retry(id, "operator")
                .await
                .with_context(|| format!("retrying #{id}"))?;
            println!("#{} is {} again", job.id, job.state);
        }
        JobsCommand::Purge {
            clips_days,
            jobs_days,
        } => {
            let configured = app.config.retention();
            let days = |given: Option<u32>, default: Option<u32>| match given {
                Some(0) => None,
                Some(days) => Some(days),
                None => default,
            };
            let retention = Retention {
                clips_days: days(clips_days, configured.clips_days),
                jobs_days: days(jobs_days, configured.jobs_days),
            };
            let report = store.sweep(&app.clips, &retention).await?;
            println!(
                "removed {} clips, {} jobs, {} worker rows, {} orphaned clip objects",
                report.clips, report.jobs, report.workers, report.orphans
            );
        }
        JobsCommand::Workers => {
            for worker in store.live_workers().await? {
                println!(
                    "{} on {} ({}), last seen {}",
                    worker.id, worker.host, worker.renderer, worker.last_seen
                );
            }
        }
    }
    Ok(())
}
