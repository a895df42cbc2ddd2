//! Audit: walking the consent log's hash chain, and everything held about
//! a person (an access request).

use serde::{Serialize, Serializer};
use sqlx::AnyConnection;
use sqlx::Row;

use super::lifecycle::{find_consent_text, TextKey};
use super::usage::{clips_where, ClipsOf};
use super::{find_by_owner, grants_of, CameoRegistry};
use crate::chain::{ChainReport, ChainWalk, ConsentEvent};
use crate::error::RegistryError;
use crate::model::{CameoInfo, ClipUse, ConsentText, MediaInfo, Person};

/// Events read per round trip while walking the chain.
const PAGE: i64 = 1000;

const EVENT_COLUMNS: &str = "seq, cameo_id, kind, actor, payload, at, prev_hash, hash";

/// Everything the registry holds about one person, as JSON for an access
/// request. Media appear as what is stored (kind, encrypted size), never
/// their content.
#[derive(Debug, Clone, Serialize)]
pub struct PersonExport {
    pub person: Person,
    pub exported_at: i64,
    /// The cameos they registered, erased ones included.
    pub cameos: Vec<CameoExport>,
    /// Active cameos of others that approved them by name.
    pub approved_for: Vec<String>,
    /// Clips they asked for that used cameos.
    pub clips_requested: Vec<ClipUse>,
    /// Log events they caused on cameos not theirs.
    #[serde(serialize_with = "events_as_json")]
    pub other_events: Vec<ConsentEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CameoExport {
    pub cameo: CameoInfo,
    pub media: Vec<MediaInfo>,
    /// Which master key wraps the cameo's key (none once erased).
    pub key_wrapped_by: Option<String>,
    pub consent_text: Option<ConsentText>,
    #[serde(serialize_with = "events_as_json")]
    pub events: Vec<ConsentEvent>,
    pub clips: Vec<ClipUse>,
}

impl CameoRegistry {
    /// Walks the whole log in order and names the first link that does not
    /// hold: a changed row, a missing one, or a row whose `prev_hash` is
    /// not its predecessor's hash.
    pub async fn verify_chain(&self) -> Result<ChainReport, RegistryError> {
        let mut conn = self.store.read_pool().acquire().await?;
        let mut walk = ChainWalk::new();
        let mut after = 0i64;
        loop {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM consent_events WHERE seq > $1 ORDER BY seq LIMIT {PAGE}"
            );
            let rows = sqlx::query(&sql).bind(after).fetch_all(&mut *conn).await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("seq")?;
            for row in &rows {
                if let Err(broken) = walk.step(&event_from(row)?) {
                    tracing::warn!(?broken, "the consent log's chain is broken");
                    return Ok(broken);
                }
            }
        }
        Ok(walk.finish())
    }

    /// The log's events about the cameo with id `cameo_id`, in order.
    pub async fn events_of(&self, cameo_id: i64) -> Result<Vec<ConsentEvent>, RegistryError> {
        let mut conn = self.store.read_pool().acquire().await?;
        events_where(&mut conn, EventsOf::Cameo(cameo_id)).await
    }

    /// Everything held about `person` (see [`PersonExport`]).
    pub async fn export(&self, person: &Person) -> Result<PersonExport, RegistryError> {
        let mut conn = self.store.read_pool().acquire().await?;
        let mut cameos = Vec::new();
        let mut own_ids = Vec::new();
        for row in find_by_owner(&mut conn, person).await? {
            let id = row.id;
            own_ids.push(id.0);
            let text_version = row.consent_text_version;
            let grants = grants_of(&mut conn, id).await?;
            let key_wrapped_by =
                sqlx::query("SELECT master_id FROM cameo_keys WHERE cameo_id = $1")
                    .bind(id.0)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.try_get::<String, _>("master_id"))
                    .transpose()?;
            cameos.push(CameoExport {
                cameo: row.info(grants),
                media: media_of(&mut conn, id.0).await?,
                key_wrapped_by,
                consent_text: find_consent_text(&mut conn, TextKey::Version(text_version)).await?,
                events: events_where(&mut conn, EventsOf::Cameo(id.0)).await?,
                clips: clips_where(&mut conn, ClipsOf::Cameo(id.0)).await?,
            });
        }
        let approved_for = sqlx::query(
            "SELECT c.name FROM cameo_grants g JOIN cameos c ON c.id = g.cameo_id \
             WHERE g.platform = $1 AND g.user_id = $2 AND c.status = 'active' ORDER BY c.name",
        )
        .bind(&person.platform)
        .bind(&person.user_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<Vec<_>, _>>()?;
        let actor = person.actor();
        let other_events = events_where(&mut conn, EventsOf::Actor(&actor))
            .await?
            .into_iter()
            .filter(|e| !own_ids.contains(&e.cameo_id))
            .collect();
        Ok(PersonExport {
            person: person.clone(),
            exported_at: self.now(),
            cameos,
            approved_for,
            clips_requested: clips_where(&mut conn, ClipsOf::Requester(person)).await?,
            other_events,
        })
    }
}

/// Which events to list.
enum EventsOf<'a> {
    Cameo(i64),
    Actor(&'a str),
}

async fn events_where(
    conn: &mut AnyConnection,
    which: EventsOf<'_>,
) -> Result<Vec<ConsentEvent>, RegistryError> {
    let rows = match which {
        EventsOf::Cameo(id) => {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM consent_events WHERE cameo_id = $1 ORDER BY seq"
            );
            sqlx::query(&sql).bind(id).fetch_all(&mut *conn).await?
        }
        EventsOf::Actor(actor) => {
            let sql =
                format!("SELECT {EVENT_COLUMNS} FROM consent_events WHERE actor = $1 ORDER BY seq");
            sqlx::query(&sql).bind(actor).fetch_all(&mut *conn).await?
        }
    };
    rows.iter().map(event_from).collect()
}

async fn media_of(
    conn: &mut AnyConnection,
    cameo_id: i64,
) -> Result<Vec<MediaInfo>, RegistryError> {
    let rows = sqlx::query(
        "SELECT kind, ciphertext, created_at FROM cameo_media WHERE cameo_id = $1 ORDER BY kind",
    )
    .bind(cameo_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let sealed: Vec<u8> = row.try_get("ciphertext")?;
            Ok(MediaInfo {
                kind: row.try_get::<String, _>("kind")?.parse()?,
                encrypted_bytes: sealed.len() as i64,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

fn event_from(row: &sqlx::any::AnyRow) -> Result<ConsentEvent, RegistryError> {
    Ok(ConsentEvent {
        seq: row.try_get("seq")?,
        cameo_id: row.try_get("cameo_id")?,
        kind: row.try_get("kind")?,
        actor: row.try_get("actor")?,
        payload: row.try_get("payload")?,
        at: row.try_get("at")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Events with their payload as JSON rather than as the string hashed.
fn events_as_json<S: Serializer>(events: &[ConsentEvent], s: S) -> Result<S::Ok, S::Error> {
    let shown: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            let payload = serde_json::from_str(&e.payload)
                .unwrap_or_else(|_| serde_json::Value::String(e.payload.clone()));
            serde_json::json!({
                "seq": e.seq, "cameo_id": e.cameo_id, "kind": e.kind, "actor": e.actor,
                "payload": payload, "at": e.at, "prev_hash": e.prev_hash, "hash": e.hash,
            })
        })
        .collect();
    shown.serialize(s)
}
