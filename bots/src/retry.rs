//! Retrying an adapter's start (registering commands, connecting): a
//! network blip must not end an adapter silently while the process runs
//! on, and a lasting failure must end it loudly so the process exits
//! non-zero and a supervisor restarts it.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Tries and waits: `first`, doubled each time up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub tries: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// 8 tries over about two minutes.
    fn default() -> Self {
        Self {
            tries: 8,
            first: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

/// Runs `attempt` until it succeeds, `backoff.tries` are spent (the last
/// error is returned) or `shutdown` is cancelled while waiting.
pub async fn with_backoff<T, E, F, Fut>(
    backoff: &Backoff,
    what: &str,
    shutdown: &CancellationToken,
    mut attempt: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut wait = backoff.first;
    let mut tried = 0;
    loop {
        tried += 1;
        let error = match attempt().await {
            Ok(done) => return Ok(done),
            Err(error) => error,
        };
        if tried >= backoff.tries.max(1) {
            tracing::error!(%error, tries = tried, "{what} failed; giving up");
            return Err(error);
        }
        tracing::warn!(%error, try_ = tried, retry_in = ?wait, "{what} failed; trying again");
        tokio::select! {
            _ = shutdown.cancelled() => return Err(error),
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(backoff.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_then_gives_up_with_the_last_error() {
        let backoff = Backoff {
            tries: 3,
            first: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let shutdown = CancellationToken::new();
        let mut calls = 0;
        let result: Result<(), String> = with_backoff(&backoff, "test", &shutdown, || {
            calls += 1;
            let n = calls;
            async move { Err(format!("failure {n}")) }
        })
        .await;
        assert_eq!((result, calls), (Err("failure 3".into()), 3));
        let mut calls = 0;
        let result: Result<u32, String> = with_backoff(&backoff, "test", &shutdown, || {
            calls += 1;
            let n = calls;
            async move {
                if n < 2 {
                    Err("blip".into())
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result, Ok(2));
    }
}
