//! Running a process's long-lived tasks (render workers, adapters, delivery)
//! until a signal. A task is meant to end only when told to: if every one
//! has ended on its own, the process must exit non-zero so that a supervisor
//! (systemd, Kubernetes) restarts it, instead of idling with nothing to do.

use std::future::Future;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Every task ended before any shutdown was asked for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("all {ended} tasks stopped on their own ({panicked} crashed); see the log above")]
pub struct AllStopped {
    pub ended: usize,
    pub panicked: usize,
}

/// Waits for `signal` or for every task in `tasks` to end, then cancels
/// `shutdown` and waits for the rest. `Err` when the tasks ended first.
pub async fn until_signal(
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
    signal: impl Future<Output = ()>,
) -> Result<(), AllStopped> {
    let mut ended = 0;
    let mut panicked = 0;
    let all_ended = async {
        while let Some(done) = tasks.join_next().await {
            ended += 1;
            if let Err(error) = done {
                panicked += 1;
                tracing::error!(%error, "a task crashed");
            }
        }
    };
    let outcome = tokio::select! {
        _ = signal => {
            tracing::info!("shutting down; jobs in hand go back to the queue");
            Ok(())
        }
        _ = all_ended => Err(()),
    };
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    outcome.map_err(|()| AllStopped { ended, panicked })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn tasks_that_all_stop_are_an_error() {
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        tasks.spawn(async {});
        tasks.spawn(async { panic!("a worker crashed") });
        let never = std::future::pending::<()>();
        let outcome = until_signal(&mut tasks, &shutdown, never).await;
        assert_eq!(
            outcome,
            Err(AllStopped {
                ended: 2,
                panicked: 1
            })
        );
        assert!(shutdown.is_cancelled());
    }

    #[tokio::test]
    async fn a_signal_stops_the_tasks_cleanly() {
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for _ in 0..2 {
            let stop = shutdown.clone();
            tasks.spawn(async move { stop.cancelled().await });
        }
        let signal = tokio::time::sleep(Duration::from_millis(50));
        assert_eq!(until_signal(&mut tasks, &shutdown, signal).await, Ok(()));
        assert!(tasks.is_empty());
    }
}
