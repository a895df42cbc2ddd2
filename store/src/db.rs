use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::clock::{Clock, DbTime, SteadyClock};
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
    /// "Now": the database server's clock (see `clock.rs`).
    pub(crate) time: Arc<DbTime>,
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
        let refresh = Some(Duration::from_secs(60));
        Self::open_with_clock(url, options, Box::new(SteadyClock::new()), refresh).await
    }

    /// Opens with `local` measuring the time between readings of the
    /// database's clock, read again after `refresh` (never: `None`).
    pub(crate) async fn open_with_clock(
        url: &str,
        options: StoreOptions,
        local: Box<dyn Clock>,
        refresh: Option<Duration>,
    ) -> Result<Self, StoreError> {
        let store = Self::connect(url, options, local, refresh).await?;
        store.migrate().await?;
        Ok(store)
    }

    async fn connect(
        url: &str,
        options: StoreOptions,
        local: Box<dyn Clock>,
        refresh: Option<Duration>,
    ) -> Result<Self, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let target = redact_url(url);
        let open_err = |reason: String| StoreError::Open {
            target: target.clone(),
            reason: redact_secrets_of(url, &reason),
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
        let time = DbTime::start(&pool, backend, local, refresh)
            .await
            .map_err(|e| open_err(e.to_string()))?;
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
            time: Arc::new(time),
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

    /// The pool for reads, for crates that keep their own tables in this
    /// database (the cameo registry in `reel-consent`). Their tables come
    /// from this crate's migrations, so [`Store::open`] creates them.
    pub fn read_pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for writes (one connection on SQLite; see [`Store`]), for
    /// the same crates: their writes then queue with the store's own.
    pub fn write_pool(&self) -> &AnyPool {
        &self.writes
    }

    /// The database's time (unix milliseconds) as of the last reading of
    /// its clock, carried forward locally.
    pub fn now_ms(&self) -> i64 {
        self.time.now_ms()
    }

    /// The database's time, reading its clock again when due.
    pub(crate) async fn now(&self) -> Result<i64, StoreError> {
        self.time.now(&self.pool, self.backend).await
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

/// The URL with every password in it replaced by `***`, safe to show and
/// log: the one in the user info (`postgres://u:pw@h/db`) and query
/// parameters that name one (`?password=…`, `?sslpassword=…`).
pub fn redact_url(url: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let (front, query) = match base.split_once('?') {
        Some((front, query)) => (front, Some(query)),
        None => (base, None),
    };
    let mut shown = match front.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            let authority = match authority.rsplit_once('@') {
                Some((user_info, host)) => match user_info.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{host}"),
                    None => authority.to_string(),
                },
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => front.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_password_key(key) => format!("{key}=***"),
                _ => pair.to_string(),
            })
            .collect();
        shown = format!("{shown}?{}", pairs.join("&"));
    }
    if let Some(fragment) = fragment {
        shown = format!("{shown}#{fragment}");
    }
    shown
}

fn is_password_key(key: &str) -> bool {
    key.to_ascii_lowercase().contains("password")
}

/// `text` (e.g. a driver's error message) with the secrets of `url` replaced.
pub(crate) fn redact_secrets_of(url: &str, text: &str) -> String {
    let mut redacted = text.to_string();
    for secret in secrets_in(url) {
        redacted = redacted.replace(&secret, "***");
    }
    redacted
}

/// The passwords in `url`, as written and decoded, longest first (so a
/// secret containing another is replaced whole).
fn secrets_in(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let mut add = |raw: &str| {
        if !raw.is_empty() {
            secrets.push(raw.to_string());
            secrets.push(percent_decoded(raw));
        }
    };
    if let Ok(parsed) = url::Url::parse(url) {
        if let Some(password) = parsed.password() {
            add(password);
        }
    }
    // Query parameters, read from the text itself so that the value is
    // found as written whatever the URL parser would make of it.
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=') {
                if is_password_key(key) {
                    add(value);
                }
            }
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

/// `raw` with its %XX escapes (and `+` for a space) decoded.
fn percent_decoded(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={raw}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fault 12: a password given as a query parameter was shown as is.
    #[test]
    fn redacts_passwords_in_the_query_too() {
        for url in [
            "postgres://u@h/db?password=hunter2",
            "postgres://u@h/db?sslmode=require&password=hunter2&application_name=reel",
            "postgresql://u@h/db?PassWord=hunter2",
            "postgres://u@h/db?sslpassword=hunter2",
            "postgres://u:hunter2@h/db?password=hunter2",
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=s%40cret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        let error = "error connecting with password s@cret";
        assert_eq!(
            redact_secrets_of("postgres://u@h/db?password=s%40cret", error),
            "error connecting with password ***"
        );
    }

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
