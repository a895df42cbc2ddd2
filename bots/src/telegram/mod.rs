//! The Telegram adapter (teloxide; long polling, or a webhook listener):
//! messages and button presses go to the command core; progress, clips and
//! outcomes come back through [`TelegramSink`]. State lives in the job rows
//! only, so a restart loses nothing and buttons keep working.

mod download;
mod handle;
mod handlers;
mod identity;
mod keyboard;
mod pictures;
mod recordings;
mod route;
mod sink;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reel_store::StoreError;
use teloxide::adaptors::throttle::{Limits, Throttle};
use teloxide::dispatching::{Dispatcher, UpdateFilterExt};
use teloxide::prelude::*;
use teloxide::types::{BotCommand, Update};
use teloxide::update_listeners::{webhooks, Polling, UpdateListener};
use teloxide::RequestError;
use tokio_util::sync::CancellationToken;

use crate::core::{menu, CommandCore};
use crate::retry::{with_backoff, Backoff};

pub use handle::{Receipt, ReplyHandle};
pub use handlers::HANDOFF_TARGET;
pub use identity::Sender;
pub use sink::TelegramSink;
pub use teloxide::adaptors::throttle::Limits as ThrottleLimits;

pub const PLATFORM: &str = "telegram";

/// The bot client every call goes through: rate limited per chat and
/// overall, waiting out 429 `retry_after` answers.
pub type TgBot = Throttle<Bot>;

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("telegram: {0}")]
    Request(#[from] RequestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("telegram api_url {0:?} is not a URL")]
    ApiUrl(String),
    #[error("telegram webhook: cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// How updates arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// getUpdates long polls (no public address needed).
    Polling,
    /// Telegram POSTs each update to `url`, which reaches this process at
    /// `listen` (typically through a TLS-terminating proxy). The webhook is
    /// registered with a fresh secret token at start and removed at stop.
    Webhook { url: url::Url, listen: SocketAddr },
}

/// How to reach the Bot API.
#[derive(Debug, Clone)]
pub struct Options {
    /// `https://api.telegram.org`, or a self-hosted Bot API server.
    pub api_url: String,
    pub limits: Limits,
    /// Long-poll timeout of getUpdates.
    pub poll_timeout: Duration,
    pub mode: Mode,
    /// How often and how long a failing start (registering the commands)
    /// is tried again before the adapter gives up.
    pub start_retry: Backoff,
}

/// A throttled client for `token` at `options.api_url`. Needs a running
/// tokio runtime (the throttle's worker is spawned on it).
pub fn connect(token: &str, options: &Options) -> Result<TgBot, TelegramError> {
    let url = options
        .api_url
        .parse()
        .map_err(|_| TelegramError::ApiUrl(options.api_url.clone()))?;
    Ok(Bot::new(token).set_api_url(url).throttle(options.limits))
}

/// Registers the command menu (retrying a failure with back-off: a
/// network blip at start must not end the adapter), then answers updates
/// until `shutdown`. An error ends the adapter for good; the caller exits.
pub async fn run(
    bot: TgBot,
    core: CommandCore,
    options: &Options,
    shutdown: CancellationToken,
) -> Result<(), TelegramError> {
    let client = &bot;
    let register = || async move {
        let commands = menu::COMMANDS
            .iter()
            .map(|c| BotCommand::new(c.name, c.summary));
        client.set_my_commands(commands).await.map(|_| ())
    };
    with_backoff(
        &options.start_retry,
        "registering the Telegram commands",
        &shutdown,
        register,
    )
    .await?;
    match &options.mode {
        Mode::Polling => {
            let listener = Polling::builder(bot.clone())
                .timeout(options.poll_timeout)
                .delete_webhook()
                .await
                .build();
            dispatch(bot, core, listener, shutdown).await?;
        }
        Mode::Webhook { url, listen } => {
            // Bound before the webhook is registered: a taken port is an
            // error here, not a panic in a server task later.
            let tcp = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|source| TelegramError::Listen {
                    address: *listen,
                    source,
                })?;
            let hook = webhooks::Options::new(*listen, url.clone());
            let (listener, stopped, router) = webhooks::axum_to_router(bot.clone(), hook).await?;
            tracing::info!(%listen, "telegram webhook listening");
            let server = tokio::spawn(async move {
                if let Err(error) = axum::serve(tcp, router)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    tracing::warn!(%error, "telegram webhook server failed");
                }
            });
            dispatch(bot, core, listener, shutdown).await?;
            // The listener stopped: the server deletes the webhook and ends.
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                tracing::warn!("telegram webhook server did not stop within 5 s");
            }
        }
    }
    tracing::info!("telegram adapter stopped");
    Ok(())
}

/// Answers the updates `listener` brings until `shutdown`.
async fn dispatch<L>(
    bot: TgBot,
    core: CommandCore,
    listener: L,
    shutdown: CancellationToken,
) -> Result<(), TelegramError>
where
    L: UpdateListener + Send,
    L::Err: std::fmt::Display + std::fmt::Debug + Send + Sync + 'static,
{
    let handler = dptree::entry()
        .branch(Update::filter_message().endpoint(handlers::on_message))
        .branch(Update::filter_callback_query().endpoint(handlers::on_callback));
    let mut dispatcher = Dispatcher::builder(bot, handler)
        .dependencies(dptree::deps![core])
        .default_handler(|_| async {})
        .error_handler(Arc::new(|error: TelegramError| async move {
            tracing::warn!(%error, "telegram update failed");
        }))
        .build();
    let stop = dispatcher.shutdown_token();
    let on_shutdown = async move {
        shutdown.cancelled().await;
        // Refused while the dispatcher is still starting: try again.
        while stop.shutdown().is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        std::future::pending::<()>().await
    };
    let listener_errors = Arc::new(|error: L::Err| async move {
        tracing::warn!(%error, "telegram updates failed");
    });
    tokio::select! {
        started = dispatcher.try_dispatch_with_listener(listener, listener_errors) => started?,
        () = on_shutdown => {}
    }
    Ok(())
}
