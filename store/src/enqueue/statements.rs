//! The statements of one enqueue batch. Each covers the whole batch, so a
//! batch costs a handful of round trips however many jobs it holds (every
//! statement is a round trip to PostgreSQL, and on SQLite a hop to the
//! connection's thread).

use std::collections::HashMap;
use std::time::Duration;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};

use crate::error::StoreError;
use crate::jobs::{job_from_row, Job, NewJob, JOB_COLUMNS};
use crate::limits::{average_render_time, Limits, HOUR_MS};

/// A platform's user: `(platform, user_id)`.
pub(super) type UserKey = (String, String);

/// The counts every enqueue of a batch shares.
pub(super) struct QueueCounts {
    pub queued: i64,
    pub rendering: i64,
    pub avg: Duration,
    pub workers: u32,
}

/// One user's jobs, as the limits see them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct UserCounts {
    pub active: i64,
    pub in_hour: i64,
    pub oldest_in_hour: Option<i64>,
}

/// Upserts the gate row of every user (distinct, in the caller's order).
/// Written before anything is read: takes SQLite's write lock at once (a
/// reader upgrading later could fail), and on PostgreSQL the users' row
/// locks, which serialise enqueues of one user across processes.
pub(super) async fn lock_gates(
    conn: &mut AnyConnection,
    users: &[&UserKey],
) -> Result<(), StoreError> {
    let rows: Vec<String> = (0..users.len())
        .map(|i| format!("(${}, ${}, 1)", 2 * i + 1, 2 * i + 2))
        .collect();
    let sql = format!(
        "INSERT INTO user_gates (platform, user_id, enqueues) VALUES {} \
         ON CONFLICT (platform, user_id) DO UPDATE SET enqueues = user_gates.enqueues + 1",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for (platform, user) in users {
        query = query.bind(platform.as_str()).bind(user.as_str());
    }
    query.execute(conn).await?;
    Ok(())
}

/// Serialises enqueue batches on PostgreSQL from here to the commit, so the
/// queue count each reads includes every earlier batch's inserts (an
/// advisory lock held by the transaction: no table, released at the end).
pub(super) async fn lock_queue(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT CAST(pg_advisory_xact_lock(7312001) AS TEXT) AS locked")
        .execute(conn)
        .await?;
    Ok(())
}

/// The queue's length and what the ETA needs, in one statement.
pub(super) async fn queue_counts(
    conn: &mut AnyConnection,
    now: i64,
    limits: &Limits,
) -> Result<QueueCounts, StoreError> {
    let row = sqlx::query(
        "SELECT \
         (SELECT COUNT(*) FROM jobs WHERE state = 'queued') AS queued, \
         (SELECT COUNT(*) FROM jobs WHERE state = 'rendering') AS rendering, \
         (SELECT COUNT(*) FROM workers WHERE last_seen > $1) AS workers, \
         (SELECT CAST(SUM(render_ms) AS BIGINT) FROM (SELECT render_ms FROM jobs \
             WHERE render_ms IS NOT NULL ORDER BY encoded_at DESC LIMIT 20) recent) AS render_sum, \
         (SELECT COUNT(*) FROM (SELECT render_ms FROM jobs \
             WHERE render_ms IS NOT NULL ORDER BY encoded_at DESC LIMIT 20) recent) AS render_n",
    )
    .bind(now - crate::workers::LIVE_WINDOW_MS)
    .fetch_one(conn)
    .await?;
    let workers: i64 = row.try_get("workers")?;
    Ok(QueueCounts {
        queued: row.try_get("queued")?,
        rendering: row.try_get("rendering")?,
        avg: average_render_time(row.try_get("render_sum")?, row.try_get("render_n")?, limits),
        workers: u32::try_from(workers).unwrap_or(u32::MAX).max(1),
    })
}

/// Active jobs, jobs in the last hour and the oldest of those, per user.
/// Users without jobs are missing from the map.
pub(super) async fn user_counts(
    conn: &mut AnyConnection,
    users: &[&UserKey],
    now: i64,
) -> Result<HashMap<UserKey, UserCounts>, StoreError> {
    let wanted: Vec<String> = (0..users.len())
        .map(|i| format!("(platform = ${} AND user_id = ${})", 2 * i + 2, 2 * i + 3))
        .collect();
    let sql = format!(
        "SELECT platform, user_id, \
         CAST(SUM(CASE WHEN state IN ('queued', 'rendering') THEN 1 ELSE 0 END) AS BIGINT) AS active, \
         CAST(SUM(CASE WHEN created_at > $1 THEN 1 ELSE 0 END) AS BIGINT) AS in_hour, \
         MIN(CASE WHEN created_at > $1 THEN created_at END) AS oldest \
         FROM jobs WHERE {} GROUP BY platform, user_id",
        wanted.join(" OR ")
    );
    let mut query = sqlx::query(&sql).bind(now - HOUR_MS);
    for (platform, user) in users {
        query = query.bind(platform.as_str()).bind(user.as_str());
    }
    let mut counts = HashMap::new();
    for row in query.fetch_all(conn).await? {
        let counts_of_user = UserCounts {
            active: row.try_get("active")?,
            in_hour: row.try_get("in_hour")?,
            oldest_in_hour: row.try_get("oldest")?,
        };
        counts.insert(
            (row.try_get("platform")?, row.try_get("user_id")?),
            counts_of_user,
        );
    }
    Ok(counts)
}

/// The jobs already queued under the requests' keys: `(platform, key)` →
/// job id. Read inside the batch's transaction, after the gate locks.
pub(super) async fn known_request_keys(
    conn: &mut AnyConnection,
    requests: &[(&NewJob, &Limits)],
) -> Result<HashMap<UserKey, i64>, StoreError> {
    let keyed: Vec<(&str, &str)> = requests
        .iter()
        .filter_map(|(new, _)| Some((new.platform.as_str(), new.request_key.as_deref()?)))
        .collect();
    if keyed.is_empty() {
        return Ok(HashMap::new());
    }
    let wanted: Vec<String> = (0..keyed.len())
        .map(|i| {
            format!(
                "(platform = ${} AND request_key = ${})",
                2 * i + 1,
                2 * i + 2
            )
        })
        .collect();
    let sql = format!(
        "SELECT id, platform, request_key FROM jobs WHERE {}",
        wanted.join(" OR ")
    );
    let mut query = sqlx::query(&sql);
    for (platform, key) in &keyed {
        query = query.bind(*platform).bind(*key);
    }
    let mut known = HashMap::new();
    for row in query.fetch_all(conn).await? {
        known.insert(
            (row.try_get("platform")?, row.try_get("request_key")?),
            row.try_get("id")?,
        );
    }
    Ok(known)
}

/// Inserts the jobs and their `queued` events (two statements) and returns
/// the jobs in the order given. Each row carries its request's index in
/// `enqueue_index` and comes back matched by it: RETURNING's row order is
/// not promised, and ids need not follow the order of the VALUES rows.
pub(super) async fn insert_jobs(
    conn: &mut AnyConnection,
    new_jobs: &[(&NewJob, &Limits)],
    now: i64,
) -> Result<Vec<Job>, StoreError> {
    if new_jobs.is_empty() {
        return Ok(Vec::new());
    }
    const COLUMNS: usize = 16;
    let rows: Vec<String> = (0..new_jobs.len())
        .map(|i| {
            let p = |k: usize| format!("${}", COLUMNS * i + k);
            let first: Vec<String> = (1..=11).map(p).collect();
            // `state` sits between cameo_ids and max_attempts; run_after,
            // created_at and updated_at share one value.
            format!(
                "({}, 'queued', {}, {}, {}, {}, {}, {}, {})",
                first.join(", "),
                p(12),
                p(13),
                p(13),
                p(13),
                p(14),
                p(15),
                p(16)
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO jobs (platform, user_id, chat_id, reply_handle, prompt, duration_s, \
         width, height, fps, seed, cameo_ids, state, max_attempts, run_after, created_at, \
         updated_at, request_key, say_line, enqueue_index) VALUES {} RETURNING enqueue_index, {JOB_COLUMNS}",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for (index, (new, limits)) in new_jobs.iter().enumerate() {
        query = bind_new_job(query, new, limits, now).bind(index as i64);
    }
    let mut slots: Vec<Option<Job>> = vec![None; new_jobs.len()];
    for row in query.fetch_all(&mut *conn).await? {
        let index: i64 = row.try_get("enqueue_index")?;
        let job = job_from_row(&row)?;
        let slot = usize::try_from(index)
            .ok()
            .and_then(|i| slots.get_mut(i))
            .ok_or_else(|| StoreError::Corrupt {
                id: job.id,
                reason: format!("enqueue_index {index} is not a request of this batch"),
            })?;
        *slot = Some(job);
    }
    let jobs: Vec<Job> = slots
        .into_iter()
        .collect::<Option<_>>()
        .ok_or(StoreError::Db(sqlx::Error::RowNotFound))?;
    insert_queued_events(conn, &jobs, now).await?;
    let news: Vec<&NewJob> = new_jobs.iter().map(|(new, _)| *new).collect();
    crate::pictures::insert_pictures(conn, &jobs, &news, now).await?;
    Ok(jobs)
}

fn bind_new_job<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    new: &'q NewJob,
    limits: &Limits,
    now: i64,
) -> Query<'q, Any, AnyArguments<'q>> {
    let cameo_ids = serde_json::to_string(&new.cameo_ids).unwrap_or_else(|_| "[]".into());
    query
        .bind(&new.platform)
        .bind(&new.user_id)
        .bind(&new.chat_id)
        .bind(&new.reply_handle)
        .bind(&new.prompt)
        .bind(i64::from(new.duration_s))
        .bind(i64::from(new.width))
        .bind(i64::from(new.height))
        .bind(i64::from(new.fps))
        .bind(new.seed as i64)
        .bind(cameo_ids)
        .bind(i64::from(limits.max_attempts.max(1)))
        .bind(now)
        .bind(new.request_key.as_deref())
        .bind(new.say_line.as_deref())
}

async fn insert_queued_events(
    conn: &mut AnyConnection,
    jobs: &[Job],
    now: i64,
) -> Result<(), StoreError> {
    let rows: Vec<String> = (0..jobs.len())
        .map(|i| format!("(${}, $1, 'queued', ${}, '')", 2 * i + 2, 2 * i + 3))
        .collect();
    let sql = format!(
        "INSERT INTO job_events (job_id, at, kind, actor, detail) VALUES {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(now);
    for job in jobs {
        query = query
            .bind(job.id)
            .bind(format!("{}:{}", job.platform, job.user_id));
    }
    query.execute(conn).await?;
    Ok(())
}

/// The jobs with these ids, by id.
pub(super) async fn jobs_by_id(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Job>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let wanted: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({})",
        wanted.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    query
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| job_from_row(row).map(|job| (job.id, job)))
        .collect()
}

/// The job queued under `new`'s request key, if any.
pub(super) async fn job_by_request_key(
    conn: &mut AnyConnection,
    new: &NewJob,
) -> Result<Option<Job>, StoreError> {
    let Some(key) = &new.request_key else {
        return Ok(None);
    };
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE platform = $1 AND request_key = $2");
    let row = sqlx::query(&sql)
        .bind(&new.platform)
        .bind(key)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(job_from_row).transpose()
}
