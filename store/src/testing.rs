//! Helpers for tests that need a database of their own. A PostgreSQL test
//! gets a fresh schema in the database named by `REEL_TEST_POSTGRES_URL`
//! (schemas are cheap to create and drop, unlike databases, which force a
//! checkpoint each). A missing variable or an unreachable server fails the
//! test.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use rand::Rng;
use sqlx::{Connection, Executor};

use crate::clock::Clock;
use crate::{ClipStore, Limits, Store, StoreError, StoreOptions};

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
    let schema = test_schema_of(url)?;
    let mut conn = sqlx::PgConnection::connect(&postgres_server_url()).await?;
    conn.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
        .await?;
    Ok(())
}

/// Makes the test schema behind `url` unreachable (renamed away: every
/// statement fails as if the database were down) or reachable again, to
/// test how callers ride out a database outage.
pub async fn set_postgres_reachable(url: &str, reachable: bool) -> Result<(), sqlx::Error> {
    let schema = test_schema_of(url)?;
    let away = format!("{schema}_away");
    let (from, to) = if reachable {
        (&away, &schema)
    } else {
        (&schema, &away)
    };
    let mut conn = sqlx::PgConnection::connect(&postgres_server_url()).await?;
    conn.execute(format!("ALTER SCHEMA {from} RENAME TO {to}").as_str())
        .await?;
    Ok(())
}

fn test_schema_of(url: &str) -> Result<String, sqlx::Error> {
    let parsed = url::Url::parse(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    parsed
        .query_pairs()
        .find(|(key, _)| key == "options")
        .and_then(|(_, value)| value.strip_prefix("-c search_path=").map(str::to_string))
        .filter(|name| name.starts_with(SCHEMA_PREFIX))
        .ok_or_else(|| sqlx::Error::Configuration("not a test schema URL".into()))
}

/// A SQLite URL for a file inside `dir`.
pub fn sqlite_url_in(dir: &std::path::Path) -> String {
    format!("sqlite://{}/reel.db", dir.display())
}

/// A local clock that only moves when told to; shared between clones.
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

/// [`Store::open`] whose time moves with `clock` from the database's time
/// at the open, so a test can expire a lease without sleeping. The value
/// `clock` starts at does not matter: only how far it is advanced.
pub async fn open_with_clock(
    url: &str,
    options: StoreOptions,
    clock: &ManualClock,
) -> Result<Store, StoreError> {
    Store::open_with_clock(url, options, Box::new(clock.clone()), None).await
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

/// A switch that makes a [`ClipStore`] fail every call while it is on, as
/// an object store does during an outage (see [`ClipStore::with_outage`]).
#[derive(Debug, Clone, Default)]
pub struct StorageOutage(Arc<AtomicBool>);

impl StorageOutage {
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn end(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    fn check(&self) -> object_store::Result<()> {
        if self.0.load(Ordering::SeqCst) {
            return Err(object_store::Error::Generic {
                store: "outage",
                source: "the object store is unreachable (test outage)".into(),
            });
        }
        Ok(())
    }
}

/// An object store that fails while its [`StorageOutage`] is on.
#[derive(Debug)]
pub(crate) struct FlakyObjectStore {
    pub(crate) inner: Arc<dyn ObjectStore>,
    pub(crate) outage: StorageOutage,
}

impl std::fmt::Display for FlakyObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Flaky({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for FlakyObjectStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.outage.check()?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.outage.check()?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.outage.check()?;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        match self.outage.check() {
            Ok(()) => self.inner.delete_stream(locations),
            Err(error) => futures::stream::once(async move { Err(error) }).boxed(),
        }
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self.outage.check() {
            Ok(()) => self.inner.list(prefix),
            Err(error) => futures::stream::once(async move { Err(error) }).boxed(),
        }
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.outage.check()?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.outage.check()?;
        self.inner.copy_opts(from, to, options).await
    }
}

impl ClipStore {
    /// This clip store, failing every call while `outage` is on.
    pub fn with_outage(&self, outage: &StorageOutage) -> ClipStore {
        ClipStore {
            inner: Arc::new(FlakyObjectStore {
                inner: self.inner.clone(),
                outage: outage.clone(),
            }),
            local: self.local.clone(),
        }
    }
}
