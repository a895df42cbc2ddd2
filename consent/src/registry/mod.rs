//! The cameo registry: cameos, their encrypted media, who may use them,
//! and the consent log, in the store's database (tables from migration
//! 0004 and 0005, run by `Store::open`).
//!
//! Every change runs in one write transaction that also appends its event,
//! so a change and its record exist together or not at all. Appends are
//! serialised so the chain never forks: on SQLite the transaction starts
//! with `BEGIN IMMEDIATE` (the write lock first, so the chain head read
//! inside it is still the head at commit); on PostgreSQL it takes a
//! transaction-scoped advisory lock. The chain's `seq` and `hash` are
//! unique besides, so a writer that skipped the lock would fail, not fork.

use std::sync::Arc;

use reel_store::{Backend, Store};
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::AnyConnection;
use sqlx::{Any, Connection, Row, Transaction};

use crate::chain::{event_hash, EventKind, GENESIS};
use crate::crypto::MasterKey;
use crate::error::RegistryError;
use crate::model::{ApprovalMode, Audience, CameoId, CameoInfo, CameoName, Person, Status};

mod approval;
mod audit;
mod enroll;
mod gate;
mod lifecycle;
mod media;
mod owner;
mod rotate;
mod usage;
mod voice;

pub use approval::{ApprovalRequest, ApprovalState};
pub use audit::{CameoExport, PersonExport};
pub use enroll::{CHALLENGE_WORDS, PHRASE_WORDS};
pub use usage::MAX_SUGGESTIONS;

/// Key of the PostgreSQL advisory lock that serialises appends to the log.
const CHAIN_LOCK: i64 = 7_312_016;

const CAMEO_COLUMNS: &str = "id, owner_platform, owner_user, name, status, audience, approval, \
     restrictions, consent_text_version, created_at, updated_at";

/// The registry. Cheap to clone. Holds the master key, so only processes
/// that handle cameo media should build one.
#[derive(Clone)]
pub struct CameoRegistry {
    store: Store,
    master: Arc<MasterKey>,
}

impl std::fmt::Debug for CameoRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameoRegistry")
            .field("backend", &self.store.backend())
            .field("master", &self.master)
            .finish()
    }
}

impl CameoRegistry {
    /// A registry over `store`'s database, sealing media under `master`.
    pub fn new(store: Store, master: MasterKey) -> Self {
        Self {
            store,
            master: Arc::new(master),
        }
    }

    /// The database's time, as the store reads it.
    fn now(&self) -> i64 {
        self.store.now_ms()
    }

    /// A connection for a write transaction (see [`Self::begin`]).
    async fn writer(&self) -> Result<PoolConnection<Any>, sqlx::Error> {
        self.store.write_pool().acquire().await
    }

    /// Starts a write transaction that may append to the log (see the
    /// module's notes on serialising appends).
    async fn begin<'c>(
        &self,
        conn: &'c mut AnyConnection,
    ) -> Result<Transaction<'c, Any>, sqlx::Error> {
        match self.store.backend() {
            Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => {
                let mut tx = conn.begin().await?;
                sqlx::query("SELECT CAST(pg_advisory_xact_lock($1) AS TEXT) AS locked")
                    .bind(CHAIN_LOCK)
                    .fetch_one(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }

    /// The cameo called `name` (not erased), for a change by `actor`: only
    /// its owner may, and only while it is in one of `allowed`.
    async fn owned(
        &self,
        conn: &mut AnyConnection,
        actor: &Person,
        name: &str,
        allowed: &[Status],
    ) -> Result<CameoRow, RegistryError> {
        let name = CameoName::parse(name)?;
        let row = find_by_name(conn, &name)
            .await?
            .ok_or_else(|| RegistryError::UnknownCameo(name.to_string()))?;
        if row.owner != *actor {
            return Err(RegistryError::NotOwner(row.name));
        }
        if !allowed.contains(&row.status) {
            return Err(RegistryError::NotActive {
                name: row.name,
                status: row.status,
            });
        }
        Ok(row)
    }
}

/// Appends one event to the log, inside the caller's write transaction.
async fn append(
    conn: &mut AnyConnection,
    cameo_id: CameoId,
    kind: EventKind,
    actor: &str,
    payload: serde_json::Value,
    at: i64,
) -> Result<i64, RegistryError> {
    let head = sqlx::query("SELECT seq, hash FROM consent_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (last_seq, prev_hash) = match head {
        Some(row) => (
            row.try_get::<i64, _>("seq")?,
            row.try_get::<String, _>("hash")?,
        ),
        None => (0, GENESIS.to_string()),
    };
    let seq = last_seq + 1;
    let payload = payload.to_string();
    let hash = event_hash(
        &prev_hash,
        seq,
        cameo_id.0,
        kind.as_str(),
        actor,
        &payload,
        at,
    );
    sqlx::query(
        "INSERT INTO consent_events (seq, cameo_id, kind, actor, payload, at, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(seq)
    .bind(cameo_id.0)
    .bind(kind.as_str())
    .bind(actor)
    .bind(&payload)
    .bind(at)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    tracing::debug!(
        seq,
        cameo_id = cameo_id.0,
        kind = kind.as_str(),
        "consent event"
    );
    Ok(seq)
}

/// A `cameos` row.
#[derive(Debug, Clone)]
struct CameoRow {
    id: CameoId,
    owner: Person,
    name: String,
    status: Status,
    audience: Audience,
    approval: ApprovalMode,
    restrictions: Vec<String>,
    consent_text_version: i64,
    created_at: i64,
    updated_at: i64,
}

impl CameoRow {
    fn from_row(row: &AnyRow) -> Result<Self, RegistryError> {
        let restrictions: String = row.try_get("restrictions")?;
        Ok(Self {
            id: CameoId(row.try_get("id")?),
            owner: Person::new(
                row.try_get::<String, _>("owner_platform")?,
                row.try_get::<String, _>("owner_user")?,
            ),
            name: row.try_get("name")?,
            status: row.try_get::<String, _>("status")?.parse()?,
            audience: row.try_get::<String, _>("audience")?.parse()?,
            approval: row.try_get::<String, _>("approval")?.parse()?,
            restrictions: serde_json::from_str(&restrictions)
                .map_err(|e| RegistryError::Corrupt(format!("restrictions: {e}")))?,
            consent_text_version: row.try_get("consent_text_version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    fn info(self, approved_users: Vec<Person>) -> CameoInfo {
        CameoInfo {
            id: self.id,
            name: self.name,
            owner: self.owner,
            status: self.status,
            audience: self.audience,
            approval: self.approval,
            restrictions: self.restrictions,
            approved_users,
            consent_text_version: self.consent_text_version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The cameo now holding `name` (erased cameos free their names).
async fn find_by_name(
    conn: &mut AnyConnection,
    name: &CameoName,
) -> Result<Option<CameoRow>, RegistryError> {
    let sql = format!("SELECT {CAMEO_COLUMNS} FROM cameos WHERE name = $1 AND status <> 'erased'");
    let row = sqlx::query(&sql)
        .bind(name.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(CameoRow::from_row).transpose()
}

/// Every cameo `owner` registered, erased ones included.
async fn find_by_owner(
    conn: &mut AnyConnection,
    owner: &Person,
) -> Result<Vec<CameoRow>, RegistryError> {
    let sql = format!(
        "SELECT {CAMEO_COLUMNS} FROM cameos WHERE owner_platform = $1 AND owner_user = $2 ORDER BY id"
    );
    let rows = sqlx::query(&sql)
        .bind(&owner.platform)
        .bind(&owner.user_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(CameoRow::from_row).collect()
}

/// The users approved for a cameo.
async fn grants_of(
    conn: &mut AnyConnection,
    cameo_id: CameoId,
) -> Result<Vec<Person>, RegistryError> {
    let rows = sqlx::query(
        "SELECT platform, user_id FROM cameo_grants WHERE cameo_id = $1 ORDER BY platform, user_id",
    )
    .bind(cameo_id.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Person::new(
                row.try_get::<String, _>("platform")?,
                row.try_get::<String, _>("user_id")?,
            ))
        })
        .collect()
}
