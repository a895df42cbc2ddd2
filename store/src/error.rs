use crate::limits::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened; `target` is the path or URL with
    /// any password removed.
    #[error("cannot open the database at {target}: {reason}")]
    Open { target: String, reason: String },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("there is no job #{0}")]
    UnknownJob(i64),
    #[error("{0}")]
    Refused(Refusal),
    #[error("job #{id} is {state} and cannot be {action}")]
    InvalidTransition {
        id: i64,
        state: String,
        action: &'static str,
    },
    #[error("clip storage: {0}")]
    Clip(#[from] object_store::Error),
    #[error("clip storage is misconfigured: {0}")]
    ClipConfig(String),
    #[error("corrupt job record #{id}: {reason}")]
    Corrupt { id: i64, reason: String },
}
