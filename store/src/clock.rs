//! The store's "now": the database server's clock. Leases and limits compare
//! times written by every process sharing the queue, so they must come from
//! one clock; a host whose own clock ran an hour ahead would otherwise see
//! every other worker's lease as expired and take its job.
//!
//! Reading the server's clock in every statement would add a round trip per
//! claim and heartbeat, so the store reads it once, then counts the time
//! since on a steady local clock (one that is never set, only runs), and
//! reads it again every minute to stay within the local clock's drift.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::{AnyPool, Row};

use crate::db::Backend;
use crate::error::StoreError;

/// A local clock that only measures elapsed time (milliseconds from an
/// arbitrary start). Production uses [`SteadyClock`]; tests a manual one.
pub(crate) trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

#[derive(Debug)]
pub(crate) struct SteadyClock(Instant);

impl SteadyClock {
    pub(crate) fn new() -> Self {
        Self(Instant::now())
    }
}

impl Clock for SteadyClock {
    fn now_ms(&self) -> i64 {
        self.0.elapsed().as_millis() as i64
    }
}

/// The database's time at one local instant.
#[derive(Debug, Clone, Copy)]
struct Sample {
    db_ms: i64,
    local_ms: i64,
}

/// Database time, read now and then and carried forward on a local clock.
#[derive(Debug)]
pub(crate) struct DbTime {
    local: Box<dyn Clock>,
    /// How long a reading is trusted; `None`: for the life of the store
    /// (tests that move a manual clock, which a fresh reading would undo).
    refresh: Option<Duration>,
    sample: Mutex<Sample>,
}

impl DbTime {
    /// Reads the database's clock once.
    pub(crate) async fn start(
        pool: &AnyPool,
        backend: Backend,
        local: Box<dyn Clock>,
        refresh: Option<Duration>,
    ) -> Result<Self, StoreError> {
        let sample = read_sample(pool, backend, local.as_ref()).await?;
        Ok(Self {
            local,
            refresh,
            sample: Mutex::new(sample),
        })
    }

    /// The database's time now, from the last reading.
    pub(crate) fn now_ms(&self) -> i64 {
        let sample = *self.sample.lock().unwrap_or_else(|e| e.into_inner());
        sample.db_ms + (self.local.now_ms() - sample.local_ms)
    }

    /// The database's time now, reading its clock again when the last
    /// reading is older than the refresh interval.
    pub(crate) async fn now(&self, pool: &AnyPool, backend: Backend) -> Result<i64, StoreError> {
        if let Some(refresh) = self.refresh {
            let taken = self
                .sample
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .local_ms;
            if self.local.now_ms() - taken >= refresh.as_millis() as i64 {
                let fresh = read_sample(pool, backend, self.local.as_ref()).await?;
                *self.sample.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
            }
        }
        Ok(self.now_ms())
    }
}

/// One reading, placed at the local midpoint of its round trip.
async fn read_sample(
    pool: &AnyPool,
    backend: Backend,
    local: &dyn Clock,
) -> Result<Sample, StoreError> {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT) AS now_ms"
        }
        Backend::Sqlite => {
            "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) AS now_ms"
        }
    };
    let before = local.now_ms();
    let db_ms: i64 = sqlx::query(sql).fetch_one(pool).await?.try_get("now_ms")?;
    let after = local.now_ms();
    Ok(Sample {
        db_ms,
        local_ms: before + (after - before) / 2,
    })
}
