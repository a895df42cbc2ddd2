//! Durable state for reel: the database (SQLite or PostgreSQL through one
//! code path), per-user limits, and clip storage. Every hand-off between
//! processes goes through here, so a crash at any point loses nothing and
//! posts nothing twice. The store is used by role: the chat side enqueues
//! and reads jobs on [`Store`]; render workers use its [`RenderQueue`];
//! posters use its [`Delivery`].

mod clips;
mod clock;
mod db;
mod delivery;
mod delivery_lease;
mod enqueue;
mod error;
mod forget;
mod handles;
mod jobs;
mod limits;
mod pictures;
mod render_queue;
mod retention;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod workers;

pub use clips::{ClipStore, ClipStoreConfig};
pub use db::{redact_url, Backend, Store, StoreOptions};
pub use delivery::Delivery;
pub use error::StoreError;
pub use forget::ClipDeletion;
pub use jobs::{CancelOutcome, Job, JobEvent, JobPicture, JobState, NewJob, QueuePlace};
pub use limits::{Limits, Refusal};
pub use render_queue::{ClipRecord, Finish, Heartbeat, RenderFailure, RenderQueue};
pub use retention::{Retention, SweepReport, ORPHAN_GRACE};
pub use workers::WorkerInfo;
