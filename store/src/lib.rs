//! Durable state for reel: the database (SQLite or PostgreSQL through one
//! code path), the render job queue with leases, per-user limits, and clip
//! storage. Every hand-off between processes goes through here, so a crash at
//! any point loses nothing and posts nothing twice.

mod clips;
mod clock;
mod db;
mod delivery_lease;
mod enqueue;
mod error;
mod forget;
mod handles;
mod jobs;
mod limits;
mod queue;
pub mod testing;
mod workers;

pub use clips::{ClipStore, ClipStoreConfig};
pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{redact_url, Backend, Store};
pub use error::StoreError;
pub use jobs::{CancelOutcome, Job, JobEvent, JobState, NewJob, QueuePlace};
pub use limits::{Limits, Refusal};
pub use queue::{ClipRecord, Heartbeat, RenderFailure};
pub use workers::WorkerInfo;
