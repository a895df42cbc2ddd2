//! Who may use which cameo, and which clips used them.

use sqlx::AnyConnection;
use sqlx::Row;

use super::CameoRegistry;
use crate::error::RegistryError;
use crate::model::{CameoName, ClipUse, Person, Status};

/// At most this many names come back for autocomplete (Discord's limit).
pub const MAX_SUGGESTIONS: usize = 25;

/// Whether `requester` may use a cameo of `owner` with `audience`:
/// `only_me` the owner alone, `approved` the owner and approved users,
/// `everyone` anyone. Shared by the gate and the autocomplete list's SQL.
const PERMITTED: &str = "((c.owner_platform = $1 AND c.owner_user = $2) \
     OR c.audience = 'everyone' \
     OR (c.audience = 'approved' AND EXISTS (SELECT 1 FROM cameo_grants g \
         WHERE g.cameo_id = c.id AND g.platform = $1 AND g.user_id = $2)))";

impl CameoRegistry {
    /// The active cameos `person` may use whose names start with `prefix`
    /// (autocomplete), in name order, at most [`MAX_SUGGESTIONS`].
    pub async fn usable_by(
        &self,
        person: &Person,
        prefix: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let prefix = prefix.trim().trim_start_matches('@').to_ascii_lowercase();
        if !prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Ok(Vec::new());
        }
        // `_` is a LIKE wildcard: escaped, as is the escape itself.
        let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('_', "\\_"));
        let sql = format!(
            "SELECT c.name FROM cameos c WHERE c.status = 'active' AND c.name LIKE $3 ESCAPE '\\' \
             AND {PERMITTED} ORDER BY c.name LIMIT {MAX_SUGGESTIONS}"
        );
        let rows = sqlx::query(&sql)
            .bind(&person.platform)
            .bind(&person.user_id)
            .bind(&pattern)
            .fetch_all(self.store.read_pool())
            .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>("name")?))
            .collect()
    }

    /// Whether `requester` may use `cameo` now: it is active and its
    /// audience includes them.
    pub(super) async fn permitted(
        &self,
        conn: &mut AnyConnection,
        requester: &Person,
        cameo_id: i64,
    ) -> Result<bool, RegistryError> {
        let sql = format!("SELECT c.id FROM cameos c WHERE c.id = $3 AND {PERMITTED}");
        Ok(sqlx::query(&sql)
            .bind(&requester.platform)
            .bind(&requester.user_id)
            .bind(cameo_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some())
    }

    /// Records that job `job_id`, asked for by `requester`, used the named
    /// cameos (called once the clip exists). Recording a job again changes
    /// nothing.
    pub async fn record_clip(
        &self,
        job_id: i64,
        requester: &Person,
        cameos: &[String],
    ) -> Result<(), RegistryError> {
        let mut conn = self.writer().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let at = self.now();
        for name in cameos {
            let name = CameoName::parse(name)?;
            let cameo = super::find_by_name(&mut tx, &name)
                .await?
                .ok_or_else(|| RegistryError::UnknownCameo(name.to_string()))?;
            sqlx::query(
                "INSERT INTO clip_cameos (job_id, cameo_id, requester_platform, requester_user, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, cameo_id) DO NOTHING",
            )
            .bind(job_id)
            .bind(cameo.id.0)
            .bind(&requester.platform)
            .bind(&requester.user_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every clip that used the owner's cameo `name`, whoever asked for
    /// it, newest first: `/cameo clips`.
    pub async fn clips_of(
        &self,
        actor: &Person,
        name: &str,
    ) -> Result<Vec<ClipUse>, RegistryError> {
        let mut conn = self.store.read_pool().acquire().await?;
        let all = [Status::Pending, Status::Active, Status::Withdrawn];
        let cameo = self.owned(&mut conn, actor, name, &all).await?;
        clips_where(&mut conn, ClipsOf::Cameo(cameo.id.0)).await
    }
}

/// Which clip uses to list.
pub(super) enum ClipsOf<'a> {
    Cameo(i64),
    Requester(&'a Person),
}

/// Clip uses, newest first.
pub(super) async fn clips_where(
    conn: &mut AnyConnection,
    which: ClipsOf<'_>,
) -> Result<Vec<ClipUse>, RegistryError> {
    let filter = match which {
        ClipsOf::Cameo(_) => "k.cameo_id = $1",
        ClipsOf::Requester(_) => "k.requester_platform = $1 AND k.requester_user = $2",
    };
    let sql = format!(
        "SELECT k.job_id, c.name, k.requester_platform, k.requester_user, k.created_at \
         FROM clip_cameos k JOIN cameos c ON c.id = k.cameo_id WHERE {filter} \
         ORDER BY k.created_at DESC, k.job_id DESC"
    );
    let query = sqlx::query(&sql);
    let query = match which {
        ClipsOf::Cameo(id) => query.bind(id),
        ClipsOf::Requester(person) => query.bind(&person.platform).bind(&person.user_id),
    };
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            Ok(ClipUse {
                job_id: row.try_get("job_id")?,
                cameo: row.try_get("name")?,
                requester: Person::new(
                    row.try_get::<String, _>("requester_platform")?,
                    row.try_get::<String, _>("requester_user")?,
                ),
                at: row.try_get("created_at")?,
            })
        })
        .collect()
}
