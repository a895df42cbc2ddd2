//! The Discord adapter (serenity, gateway): slash commands and button
//! presses go to the command core; progress, clips and outcomes come back
//! through [`DiscordSink`]. Every interaction is deferred before anything
//! else happens (Discord allows 3 s); state lives in the job rows only
//! (`reply_handle`), so a restart loses nothing and buttons keep working.

mod buttons;
mod commands;
mod handle;
mod handlers;
mod markdown;
mod pictures;
mod recordings;
mod sink;
mod upload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serenity::all::{
    Command as SlashCommand, Context, CreateAllowedMentions, EventHandler, GatewayIntents, GuildId,
    Interaction, Ready,
};
use serenity::client::ClientBuilder;
use serenity::http::{Http, HttpBuilder, HttpError};
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

use crate::core::CommandCore;
use crate::retry::{with_backoff, Backoff};

pub use commands::definitions as command_definitions;
pub use handle::{Receipt, ReplyHandle, Via, DEFAULT_ATTACHMENT_LIMIT, TOKEN_LIFETIME};
pub use markdown::escape as escape_markdown;
pub use sink::DiscordSink;

pub const PLATFORM: &str = "discord";

/// The tracing target of the debug event logged when serenity hands an
/// interaction to the adapter (field `interaction`: its id). The load test
/// measures the gateway side and the adapter side apart with it.
pub const RECEIVED_TARGET: &str = "reel_bots::discord::received";

/// How long a stopping adapter waits for interactions it is answering.
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("discord: {}", describe(.0))]
    Serenity(#[from] serenity::Error),
    #[error(transparent)]
    Store(#[from] reel_store::StoreError),
    #[error("discord: registering the commands failed: {0}")]
    Register(String),
}

/// How to reach Discord.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Another base for the REST API instead of `https://discord.com` (a
    /// rate-limiting proxy, or a fake in tests). The gateway URL comes
    /// from the API.
    pub api_base: Option<String>,
    /// Register the commands in this guild only (instant; for development)
    /// instead of globally.
    pub dev_guild: Option<u64>,
    /// How often and how long a failing registration is tried again
    /// before the adapter gives up (and the process exits non-zero).
    pub start_retry: Backoff,
}

/// A REST client for `token`. Talking to Discord itself, serenity's rate
/// limiter waits out 429s and the `X-RateLimit-*` buckets Discord
/// announces. serenity 0.12 sends requests to another base only with its
/// rate limiter off (the limiter builds its requests without the base):
/// a proxy in front of Discord is then expected to do the rate limiting.
pub fn http(token: &str, options: &Options) -> Http {
    // Prompts are echoed in messages: "@everyone" in one must not ping.
    // The one mention the adapter makes names its user explicitly.
    let mut builder =
        HttpBuilder::new(token).default_allowed_mentions(CreateAllowedMentions::new());
    if let Some(base) = &options.api_base {
        builder = builder
            .proxy(base.trim_end_matches('/'))
            .ratelimiter_disabled(true);
    }
    builder.build()
}

/// An error as it may be logged or stored: reqwest's own text names the
/// URL, and interaction URLs contain the interaction's token.
pub(crate) fn describe(error: &serenity::Error) -> String {
    match error {
        serenity::Error::Http(HttpError::Request(request)) => {
            let what = if request.is_timeout() {
                "timed out"
            } else if request.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            format!("the request to Discord {what}")
        }
        other => other.to_string(),
    }
}

/// What every handler needs.
#[derive(Clone)]
pub(crate) struct Deps {
    pub core: CommandCore,
}

struct Handler {
    deps: Deps,
    dev_guild: Option<u64>,
    start_retry: Backoff,
    registered: AtomicBool,
    /// Cancelled with the reason when registration gave up.
    failed: CancellationToken,
    failure: Arc<std::sync::Mutex<Option<String>>>,
    /// Held (read) by every interaction being answered; taken (write) at
    /// shutdown to let them finish their current call.
    in_flight: Arc<RwLock<()>>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, "discord gateway ready");
        // READY comes again after a re-identify; the commands stay registered.
        if self.registered.swap(true, Ordering::SeqCst) {
            return;
        }
        let (http, settings, dev_guild) = (&ctx.http, self.deps.core.settings(), self.dev_guild);
        let register = || async move {
            let definitions = commands::definitions(settings);
            match dev_guild {
                Some(guild) => GuildId::new(guild)
                    .set_commands(http, definitions)
                    .await
                    .map(|_| ()),
                None => SlashCommand::set_global_commands(http, definitions)
                    .await
                    .map(|_| ()),
            }
            .map_err(|error| describe(&error))
        };
        let never = CancellationToken::new();
        match with_backoff(
            &self.start_retry,
            "registering the discord commands",
            &never,
            register,
        )
        .await
        {
            Ok(()) => tracing::info!(guild = ?self.dev_guild, "discord commands registered"),
            Err(error) => {
                *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                self.failed.cancel();
            }
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        tracing::debug!(target: RECEIVED_TARGET, interaction = interaction.id().get(), "interaction received");
        let _answering = self.in_flight.read().await;
        let result = match &interaction {
            Interaction::Command(command) => handlers::on_command(&ctx, &self.deps, command).await,
            Interaction::Component(press) => handlers::on_button(&ctx, &self.deps, press).await,
            Interaction::Autocomplete(ac) => handlers::on_autocomplete(&ctx, &self.deps, ac).await,
            _ => Ok(()),
        };
        if let Err(error) = result {
            tracing::warn!(%error, id = %interaction.id(), "discord interaction failed");
        }
    }
}

/// Connects to the gateway, registers the commands, and answers
/// interactions until `shutdown`; then waits (a while) for the answers in
/// progress. Jobs stay in the queue.
pub async fn run(
    token: &str,
    core: CommandCore,
    options: &Options,
    shutdown: CancellationToken,
) -> Result<(), DiscordError> {
    let in_flight = Arc::new(RwLock::new(()));
    let failed = CancellationToken::new();
    let failure = Arc::new(std::sync::Mutex::new(None));
    let handler = Handler {
        deps: Deps { core },
        dev_guild: options.dev_guild,
        start_retry: options.start_retry,
        registered: AtomicBool::new(false),
        failed: failed.clone(),
        failure: failure.clone(),
        in_flight: in_flight.clone(),
    };
    // Interactions need no privileged (or any) intents.
    let mut client = ClientBuilder::new_with_http(http(token, options), GatewayIntents::empty())
        .event_handler(handler)
        .await?;
    let shards = client.shard_manager.clone();
    let ended = tokio::select! {
        started = client.start() => started.map_err(DiscordError::from),
        () = shutdown.cancelled() => Ok(()),
        () = failed.cancelled() => {
            let why = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
            Err(DiscordError::Register(why.unwrap_or_default()))
        }
    };
    shards.shutdown_all().await;
    if tokio::time::timeout(DRAIN, in_flight.write())
        .await
        .is_err()
    {
        tracing::warn!(
            "discord: interactions still being answered after {DRAIN:?}; stopping anyway"
        );
    }
    tracing::info!("discord adapter stopped");
    ended
}
