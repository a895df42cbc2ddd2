//! The one writer of a job's chat handles: the adapter's JSON in the job
//! row that says where its messages are (status message id, posted clip
//! receipt, Discord's interaction token). The command handler, the progress
//! watcher and the poster all change it; each change is applied to the
//! freshest copy and stored with a compare-and-swap, so no writer undoes
//! another's (a handler recording its status message while the poster
//! records the clip). Within a process, [`JobLocks`] also keeps a progress
//! edit and a final post of one job from running at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reel_store::{Job, Store, StoreError};
use tokio::sync::OwnedMutexGuard;

/// An adapter's handle type, as stored in `reply_handle`.
pub trait ChatHandle: Sized {
    /// `None` for JSON this adapter cannot use (nowhere to post).
    fn read(json: &str) -> Option<Self>;
    fn write(&self) -> String;
}

/// Tries before giving up on a handle that keeps changing under us.
const MAX_TRIES: usize = 8;

#[derive(Clone)]
pub struct ChatHandles {
    store: Store,
}

impl ChatHandles {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The job as it is now (a watcher or poster re-checks before it posts).
    pub async fn job(&self, job_id: i64) -> Result<Job, StoreError> {
        self.store.job(job_id).await
    }

    /// Applies `change` to job `job_id`'s current handle and stores the
    /// result, redoing it on the newer handle if another writer got there
    /// first. Returns the handle as stored; `None` when the job's handle is
    /// not this adapter's.
    pub async fn update<H, F>(&self, job_id: i64, mut change: F) -> Result<Option<H>, StoreError>
    where
        H: ChatHandle,
        F: FnMut(&mut H),
    {
        for _ in 0..MAX_TRIES {
            let current = self.store.job(job_id).await?.reply_handle;
            let Some(mut handle) = H::read(&current) else {
                return Ok(None);
            };
            change(&mut handle);
            let new = handle.write();
            if new == current || self.store.swap_reply_handle(job_id, &current, &new).await? {
                return Ok(Some(handle));
            }
        }
        Err(StoreError::Corrupt {
            id: job_id,
            reason: format!("its reply handle changed {MAX_TRIES} times while being updated"),
        })
    }
}

/// One lock per job, held by a progress edit and by the final post, so a
/// progress edit that started before the clip was posted cannot land after
/// it. Cheap to clone; clones share the locks.
#[derive(Clone, Default)]
pub struct JobLocks(Arc<Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>>);

impl JobLocks {
    pub async fn lock(&self, job_id: i64) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.0.lock().unwrap_or_else(|p| p.into_inner());
            // Drop locks nobody holds or waits for.
            if locks.len() > 256 {
                locks.retain(|_, l| Arc::strong_count(l) > 1);
            }
            locks.entry(job_id).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// An adapter's handle or receipt as stored JSON. Serialising these plain
/// structs cannot fail; `{}` (an empty handle) is the safe answer if it did.
pub(crate) fn handle_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}

/// `reply_handle` as an operator may see it: every `token` replaced.
pub fn redact_handle(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(mut value) => {
            redact_tokens(&mut value);
            value.to_string()
        }
        // Not JSON: nothing known to hide, but show nothing unknown either.
        Err(_) => "(unreadable)".into(),
    }
}

fn redact_tokens(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if key.to_lowercase().contains("token") {
                    if inner.as_str().is_some_and(|t| !t.is_empty()) {
                        *inner = serde_json::Value::String("[redacted]".into());
                    }
                } else {
                    redact_tokens(inner);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_tokens),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_show() {
        let shown =
            redact_handle(r#"{"token":"aW50ZXJhY3Rpb24","channel_id":5,"clip":{"token":"x"}}"#);
        assert!(
            !shown.contains("aW50ZXJhY3Rpb24") && !shown.contains("\"x\""),
            "{shown}"
        );
        assert!(shown.contains("\"channel_id\":5"), "{shown}");
        assert_eq!(redact_handle(r#"{"token":""}"#), r#"{"token":""}"#);
        assert_eq!(redact_handle("not json"), "(unreadable)");
    }
}
