//! Helpers for tests that need a database of their own. A PostgreSQL test
//! gets a fresh schema in the database named by `REEL_TEST_POSTGRES_URL`
//! (schemas are cheap to create and drop, unlike databases, which force a
//! checkpoint each). A missing variable or an unreachable server fails the
//! test.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sqlx::{Connection, Executor};

use crate::clock::Clock;
use crate::{Limits, Store, StoreError, StoreOptions};

const SCHEMA_PREFIX: &str = "reel_test_";

/// The server every PostgreSQL test uses.
pub fn postgres_server_url() -> String {
    std::env::var("REEL_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "REEL_TEST_POSTGRES_URL is not set: PostgreSQL tests need a server \
             (e.g. postgres://postgres@127.0.0.1:5432/test); .ci/run sets it"
        )
    })
}

/// Creates an empty schema for one test and returns a URL whose connections
/// use it (through `search_path`), so tests running in parallel never meet.
pub async fn fresh_postgres_database() -> String {
    let server = postgres_server_url();
    let name = format!("{SCHEMA_PREFIX}{:016x}", rand::thread_rng().gen::<u64>());
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {server}: {e}"));
    conn.execute(format!("CREATE SCHEMA {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create test schema {name}: {e}"));
    let mut url = url::Url::parse(&server).expect("REEL_TEST_POSTGRES_URL is not a URL");
    url.query_pairs_mut()
        .append_pair("options", &format!("-c search_path={name}"));
    url.to_string()
}

/// Drops the schema behind a URL from [`fresh_postgres_database`].
pub async fn drop_postgres_database(url: &str) -> Result<(), sqlx::Error> {
    let parsed = url::Url::parse(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    let schema = parsed
        .query_pairs()
        .find(|(key, _)| key == "options")
        .and_then(|(_, value)| value.strip_prefix("-c search_path=").map(str::to_string))
        .filter(|name| name.starts_with(SCHEMA_PREFIX))
        .ok_or_else(|| sqlx::Error::Configuration("not a test schema URL".into()))?;
    let mut conn = sqlx::PgConnection::connect(&postgres_server_url()).await?;
    conn.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
        .await?;
    Ok(())
}

/// A SQLite URL for a file inside `dir`.
pub fn sqlite_url_in(dir: &std::path::Path) -> String {
    format!("sqlite://{}/reel.db", dir.display())
}

/// A clock that only moves when told to; shared between clones.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(start_ms)))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// [`Store::open`] with time from `clock`, so a test can expire a lease
/// without sleeping.
pub async fn open_with_clock(
    url: &str,
    options: StoreOptions,
    clock: &ManualClock,
) -> Result<Store, StoreError> {
    Store::open_with_clock(url, options, Arc::new(clock.clone())).await
}

impl Store {
    /// Another handle on the same database that enforces `limits` (tests of
    /// the limits themselves, on one database).
    pub fn with_limits(&self, limits: Limits) -> Store {
        Store {
            limits: Arc::new(limits),
            ..self.clone()
        }
    }
}
