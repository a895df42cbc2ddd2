use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::clock::{Clock, SystemClock};
use crate::enqueue::Batcher;
use crate::error::StoreError;
use crate::limits::Limits;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to reel's database. Cheap to clone. All queries go through sqlx's
/// `Any` driver so SQLite and PostgreSQL share one code path; the few places
/// where the dialects differ branch on [`Backend`].
#[derive(Clone, Debug)]
pub struct Store {
    /// Reads, and everything on PostgreSQL.
    pub(crate) pool: AnyPool,
    /// Writes. On SQLite a pool of one connection: SQLite has one writer,
    /// and writers of one process then wait their turn in the pool's fair
    /// queue instead of in SQLite's busy handler, which sleeps up to 100 ms
    /// between tries (the Telegram load test's burst: p99 in the hundreds
    /// of milliseconds). Other processes still meet the busy handler.
    pub(crate) writes: AnyPool,
    /// Enqueue batches. On PostgreSQL their own connections: a burst does
    /// not queue behind other writes for one. On SQLite the one writer.
    pub(crate) enqueues: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: Arc<Limits>,
    /// Groups concurrent enqueues into one transaction (see `enqueue.rs`).
    pub(crate) batcher: Option<Batcher>,
}

/// How a [`Store`] is opened: given once, used by every call on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Connections of the main pool (at least 1); see `config.toml`.
    pub max_connections: u32,
    /// The limits every enqueue through this store is checked against.
    pub limits: Limits,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            limits: Limits::default(),
        }
    }
}

impl Store {
    /// Opens (and for SQLite creates) the database at `url` and runs the
    /// migrations. Accepted: `sqlite://path/to/file.db`, `sqlite::memory:`,
    /// `postgres://…`, `postgresql://…`.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        Self::open_with_clock(url, options, Arc::new(SystemClock)).await
    }

    pub(crate) async fn open_with_clock(
        url: &str,
        options: StoreOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let store = Self::connect(url, options, clock).await?;
        store.migrate().await?;
        Ok(store)
    }

    async fn connect(
        url: &str,
        options: StoreOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let target = redact_url(url);
        let open_err = |reason: String| StoreError::Open {
            target: target.clone(),
            reason,
        };
        let backend = backend_of(url).ok_or_else(|| {
            open_err("unsupported database URL: use sqlite://FILE or postgres://…".into())
        })?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url).map_err(open_err)?,
            Backend::Postgres => url.to_string(),
        };
        let connect_options =
            AnyConnectOptions::from_str(&url).map_err(|e| open_err(e.to_string()))?;
        let pool = open_pool(&connect_options, backend, options.max_connections.max(1), 0)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        // An in-memory SQLite database exists once per connection: one pool.
        let writes = match backend {
            Backend::Sqlite if !url.contains(":memory:") => {
                open_pool(&connect_options, backend, 1, 0)
                    .await
                    .map_err(|e| open_err(e.to_string()))?
            }
            _ => pool.clone(),
        };
        let tasks = batch_tasks(backend);
        let enqueues = match backend {
            // One kept open, so a burst after a quiet spell finds one ready;
            // the rest are made when needed and kept while in use (a worker
            // process, which never enqueues, holds one idle connection).
            Backend::Postgres => open_pool(&connect_options, backend, tasks as u32, 1)
                .await
                .map_err(|e| open_err(e.to_string()))?,
            Backend::Sqlite => writes.clone(),
        };
        let direct = Self {
            pool,
            writes,
            enqueues,
            backend,
            clock,
            limits: Arc::new(options.limits),
            batcher: None,
        };
        Ok(Self {
            batcher: Some(Batcher::start(direct.clone(), tasks)),
            ..direct
        })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The limits given when the store was opened.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub async fn close(&self) {
        self.enqueues.close().await;
        self.writes.close().await;
        self.pool.close().await;
    }
}

impl Store {
    /// Whether `sql` (with `$1` bound to `now`) returns a row.
    pub(crate) async fn any_row(&self, sql: &str, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(sql)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    pub(crate) fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }
}

/// Enqueue batches run at once: SQLite has one writer; on PostgreSQL a few
/// overlap their round trips and commits.
fn batch_tasks(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 4,
    }
}

async fn open_pool(
    options: &AnyConnectOptions,
    backend: Backend,
    max_connections: u32,
    min_connections: u32,
) -> Result<AnyPool, sqlx::Error> {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(min_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers run beside the one writer; the busy
                    // timeout makes writers of other processes queue
                    // instead of failing.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                }
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await
}

fn backend_of(url: &str) -> Option<Backend> {
    if url.starts_with("sqlite:") {
        Some(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(Backend::Postgres)
    } else {
        None
    }
}

/// Creates the SQLite file's folder and asks sqlx to create the file.
fn prepare_sqlite_url(url: &str) -> Result<String, String> {
    let rest = url.trim_start_matches("sqlite:");
    if rest.contains(":memory:") {
        return Ok(url.to_string());
    }
    let path_part = rest.trim_start_matches("//");
    let (path, query) = match path_part.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_part, None),
    };
    if path.is_empty() {
        return Err("the SQLite URL names no file".into());
    }
    if let Some(parent) = Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create folder {}: {e}", parent.display()))?;
        }
    }
    let query = match query {
        Some(q) if q.contains("mode=") => q.to_string(),
        Some(q) => format!("{q}&mode=rwc"),
        None => "mode=rwc".to_string(),
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// The URL with its password replaced by `***`, safe to show and log.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://reel:hunter2@db:5432/reel"),
            "postgres://reel:***@db:5432/reel"
        );
        assert_eq!(
            redact_url("postgres://127.0.0.1/test"),
            "postgres://127.0.0.1/test"
        );
        assert_eq!(redact_url("sqlite://data/reel.db"), "sqlite://data/reel.db");
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/x.db", dir.path().display());
        let prepared = prepare_sqlite_url(&url).unwrap();
        assert!(prepared.ends_with("/sub/x.db?mode=rwc"), "{prepared}");
        assert!(dir.path().join("sub").is_dir());
        assert_eq!(backend_of("mysql://x"), None);
    }
}
