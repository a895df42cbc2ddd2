//! Queueing a job: the limits are checked and the job inserted as one step.
//!
//! Enqueues arrive in bursts (a popular prompt in a busy server, 200 users at
//! once in the load tests), and on both backends a burst of one-job
//! transactions queues up behind one lock: SQLite's single writer, and on
//! PostgreSQL one disk flush per commit. So one task per `Store` takes every
//! enqueue waiting at that moment and runs them as one transaction (group
//! commit) of a handful of statements, each covering the whole batch
//! (`statements.rs`): gate rows, the queue's counts, each user's counts,
//! known request keys, the inserts and their events. Each job still gets
//! its own limit check, in Rust, counting the jobs the batch adds before it
//! (`plan`). It never waits to fill a batch, so a lone enqueue costs what it
//! did before. On PostgreSQL a few such tasks run side by side.
//!
//! If a batch fails as a whole (a deadlock, a request key two callers sent
//! at once), each of its enqueues is retried in a transaction of its own, so
//! one request cannot fail its neighbours.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::db::{Backend, Store};
use crate::error::StoreError;
use crate::jobs::{Job, NewJob, QueuePlace};
use crate::limits::{queued_place, Limits, Refusal, HOUR_MS};

mod statements;

use statements::{UserCounts, UserKey};

/// Enqueues in one transaction at most: bounds how long the gate rows of a
/// batch stay locked.
const MAX_BATCH: usize = 64;

type Answer = Result<(Job, QueuePlace), StoreError>;

struct Pending {
    new: NewJob,
    /// The limits of the handle it came through.
    limits: Arc<Limits>,
    answer: oneshot::Sender<Answer>,
}

/// The sending side of a `Store`'s enqueue task.
#[derive(Debug, Clone)]
pub(crate) struct Batcher {
    requests: mpsc::UnboundedSender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("new", &self.new).finish()
    }
}

impl Batcher {
    /// Starts the tasks: one on SQLite (one writer), several on PostgreSQL,
    /// where batches of different users run side by side on their own
    /// connections. `direct` is a handle without a batcher, so the tasks end
    /// once every `Store` holding the sender is dropped.
    pub(crate) fn start(direct: Store, tasks: usize) -> Self {
        let (requests, incoming) = mpsc::unbounded_channel::<Pending>();
        let incoming = Arc::new(Mutex::new(incoming));
        for _ in 0..tasks.max(1) {
            let (direct, incoming) = (direct.clone(), incoming.clone());
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&incoming).await {
                    direct.enqueue_batch(batch).await;
                }
            });
        }
        Self { requests }
    }
}

/// Everything waiting now, up to `MAX_BATCH`; waits for the first.
async fn next_batch(incoming: &Mutex<mpsc::UnboundedReceiver<Pending>>) -> Option<Vec<Pending>> {
    let mut incoming = incoming.lock().await;
    let mut batch = vec![incoming.recv().await?];
    while batch.len() < MAX_BATCH {
        match incoming.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// What one enqueue came to inside a batch transaction.
enum Decided {
    Queued(Job, QueuePlace),
    /// The request key was seen before: this is the job it queued.
    Replayed(Job),
    /// Refused; the retry estimate is read after the commit.
    Refused(Over),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Over {
    Active,
    Hour { oldest: Option<i64> },
    Queue { queued: i64 },
}

impl Store {
    /// Checks the limits and queues the job as one step: the user's gate row
    /// is written first, which serialises enqueues of the same user (a row
    /// lock on PostgreSQL, the write lock on SQLite).
    pub async fn enqueue(&self, new: &NewJob) -> Result<Job, StoreError> {
        Ok(self.enqueue_placed(new).await?.0)
    }

    /// [`enqueue`](Self::enqueue), also returning the job's place in the
    /// queue, read in the same transaction: no reads after the commit. The
    /// place matches [`queue_place`](Self::queue_place) right after the
    /// commit, except for PostgreSQL enqueues committing at the same moment
    /// (batches run side by side there). A request key seen before returns the job it
    /// queued (see `NewJob::request_key`).
    pub async fn enqueue_placed(&self, new: &NewJob) -> Answer {
        if let Some(batcher) = &self.batcher {
            let (answer, reply) = oneshot::channel();
            let pending = Pending {
                new: new.clone(),
                limits: self.limits.clone(),
                answer,
            };
            if batcher.requests.send(pending).is_ok() {
                if let Ok(answer) = reply.await {
                    return answer;
                }
            }
            // The task is gone (its runtime shut down): enqueue directly.
        }
        self.enqueue_alone(new, &self.limits).await
    }

    /// This handle with every enqueue in a transaction of its own, as before
    /// batching: for side-by-side measurements (the load tests).
    pub fn without_batching(&self) -> Store {
        Store {
            batcher: None,
            ..self.clone()
        }
    }

    async fn enqueue_batch(&self, mut fresh: Vec<Pending>) {
        // One order for every batch, so two processes' batches lock gate
        // rows in the same order and cannot deadlock each other.
        fresh.sort_by(|a, b| {
            (&a.new.platform, &a.new.user_id).cmp(&(&b.new.platform, &b.new.user_id))
        });
        let requests: Vec<(&NewJob, &Limits)> =
            fresh.iter().map(|p| (&p.new, p.limits.as_ref())).collect();
        match self.decide_in_one_transaction(&requests).await {
            Ok(decided) => {
                for (pending, decided) in fresh.into_iter().zip(decided) {
                    let answer = self.answer(&pending.new, &pending.limits, decided).await;
                    let _ = pending.answer.send(answer);
                }
            }
            Err(error) => {
                if fresh.len() > 1 {
                    tracing::debug!(%error, n = fresh.len(), "batched enqueue failed; one by one");
                }
                for pending in fresh {
                    let answer = self.enqueue_alone(&pending.new, &pending.limits).await;
                    let _ = pending.answer.send(answer);
                }
            }
        }
    }

    async fn enqueue_alone(&self, new: &NewJob, limits: &Limits) -> Answer {
        match self.decide_in_one_transaction(&[(new, limits)]).await {
            Ok(decided) => match decided.into_iter().next() {
                Some(decided) => self.answer(new, limits, decided).await,
                None => Err(sqlx::Error::RowNotFound.into()),
            },
            // The same event, enqueued at this moment by another handler or
            // process: its job is the answer.
            Err(StoreError::Db(sqlx::Error::Database(error))) if error.is_unique_violation() => {
                match self.replayed(new, limits).await? {
                    Some(found) => Ok(found),
                    None => Err(sqlx::Error::Database(error).into()),
                }
            }
            Err(other) => Err(other),
        }
    }

    /// Checks and inserts `requests` in one transaction, a handful of
    /// statements for the whole batch. Refusals write nothing but their
    /// gate row's attempt counter.
    async fn decide_in_one_transaction(
        &self,
        requests: &[(&NewJob, &Limits)],
    ) -> Result<Vec<Decided>, StoreError> {
        let Some(&(_, first_limits)) = requests.first() else {
            return Ok(Vec::new());
        };
        let now = self.now().await?;
        let keys: Vec<UserKey> = requests
            .iter()
            .map(|(new, _)| (new.platform.clone(), new.user_id.clone()))
            .collect();
        let mut users: Vec<&UserKey> = keys.iter().collect();
        users.sort();
        users.dedup();

        let mut tx = self.enqueues.begin().await?;
        statements::lock_gates(&mut tx, &users).await?;
        if self.backend == Backend::Postgres {
            // Batches run side by side here (several per process, several
            // processes): without this each would count the queue before
            // the others' inserts and together overshoot its limit. SQLite
            // has one writer, which serialises them already.
            statements::lock_queue(&mut tx).await?;
        }
        let counts = statements::queue_counts(&mut tx, now, first_limits).await?;
        let user_counts = statements::user_counts(&mut tx, &users, now).await?;
        let known = statements::known_request_keys(&mut tx, requests).await?;
        let plans = plan(requests, &user_counts, &known, counts.queued);
        let inserts: Vec<(&NewJob, &Limits)> = requests
            .iter()
            .zip(&plans)
            .filter(|(_, plan)| matches!(plan, Plan::Insert))
            .map(|(request, _)| *request)
            .collect();
        let inserted = statements::insert_jobs(&mut tx, &inserts, now).await?;
        let replay_ids: Vec<i64> = plans
            .iter()
            .filter_map(|plan| match plan {
                Plan::Replay(id) => Some(*id),
                _ => None,
            })
            .collect();
        let replayed = statements::jobs_by_id(&mut tx, &replay_ids).await?;
        tx.commit().await?;

        let missing = || StoreError::Db(sqlx::Error::RowNotFound);
        let mut inserted = inserted.into_iter();
        let mut queued = counts.queued;
        let mut decided: Vec<Decided> = Vec::with_capacity(plans.len());
        for plan in plans {
            let outcome = match plan {
                Plan::Insert => {
                    // Every job queued before this one is ahead of it.
                    let place = queued_place(queued, counts.rendering, counts.avg, counts.workers);
                    queued += 1;
                    Decided::Queued(inserted.next().ok_or_else(missing)?, place)
                }
                Plan::Replay(id) => {
                    Decided::Replayed(replayed.get(&id).cloned().ok_or_else(missing)?)
                }
                Plan::SameAs(earlier) => match &decided[earlier] {
                    Decided::Queued(job, _) | Decided::Replayed(job) => {
                        Decided::Replayed(job.clone())
                    }
                    Decided::Refused(over) => Decided::Refused(over.clone()),
                },
                Plan::Refused(over) => Decided::Refused(over),
            };
            decided.push(outcome);
        }
        Ok(decided)
    }

    /// Turns a decision into the caller's answer; refusals read how long
    /// until the user may try again.
    async fn answer(&self, new: &NewJob, limits: &Limits, decided: Decided) -> Answer {
        let over = match decided {
            Decided::Queued(job, place) => {
                tracing::debug!(job = job.id, "enqueued");
                return Ok((job, place));
            }
            Decided::Replayed(job) => return self.replay_answer(job, limits).await,
            Decided::Refused(over) => over,
        };
        let now = self.now().await?;
        let refusal = match over {
            Over::Active => Refusal::TooManyActive {
                limit: limits.max_active_per_user,
                retry_after: self.user_first_active_eta(new, limits).await?,
            },
            Over::Hour { oldest } => {
                let frees_at = oldest.unwrap_or(now) + HOUR_MS;
                Refusal::HourlyQuota {
                    limit: limits.max_per_user_per_hour,
                    retry_after: Duration::from_millis((frees_at - now).max(1000) as u64),
                }
            }
            Over::Queue { queued } => {
                let (avg, workers) = self.throughput_under(limits).await?;
                let excess = (queued - i64::from(limits.max_queue_length) + 1) as u32;
                Refusal::QueueFull {
                    limit: limits.max_queue_length,
                    retry_after: avg * excess.div_ceil(workers),
                }
            }
        };
        Err(StoreError::Refused(refusal))
    }

    /// The job an earlier delivery of the same event queued, if any.
    async fn replayed(
        &self,
        new: &NewJob,
        limits: &Limits,
    ) -> Result<Option<(Job, QueuePlace)>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(job) = statements::job_by_request_key(&mut conn, new).await? else {
            return Ok(None);
        };
        drop(conn);
        self.replay_answer(job, limits).await.map(Some)
    }

    async fn replay_answer(&self, job: Job, limits: &Limits) -> Answer {
        tracing::info!(job = job.id, platform = %job.platform, "replayed request: not queued again");
        let place = self.queue_place_under(&job, limits).await?;
        Ok((job, place))
    }
}

/// What to do with each request of a batch, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Insert,
    /// Its request key queued this job before.
    Replay(i64),
    /// Its request key is also on an earlier request of this batch: the
    /// same answer as that one.
    SameAs(usize),
    Refused(Over),
}

/// Applies the limits to a batch: each request sees the jobs the requests
/// before it in the batch would add.
fn plan(
    requests: &[(&NewJob, &Limits)],
    user_counts: &HashMap<UserKey, UserCounts>,
    known_keys: &HashMap<UserKey, i64>,
    queued: i64,
) -> Vec<Plan> {
    let mut queued = queued;
    let mut added: HashMap<(&str, &str), i64> = HashMap::new();
    let mut first_with_key: HashMap<(&str, &str), usize> = HashMap::new();
    let mut plans = Vec::with_capacity(requests.len());
    for (i, (new, limits)) in requests.iter().enumerate() {
        if let Some(key) = new.request_key.as_deref() {
            let known = known_keys.get(&(new.platform.clone(), key.to_string()));
            if let Some(id) = known {
                plans.push(Plan::Replay(*id));
                continue;
            }
            if let Some(earlier) = first_with_key.get(&(new.platform.as_str(), key)) {
                plans.push(Plan::SameAs(*earlier));
                continue;
            }
            first_with_key.insert((new.platform.as_str(), key), i);
        }
        let user = (new.platform.as_str(), new.user_id.as_str());
        let counts = user_counts
            .get(&(new.platform.clone(), new.user_id.clone()))
            .copied()
            .unwrap_or_default();
        let extra = added.get(&user).copied().unwrap_or(0);
        let plan = if counts.active + extra >= i64::from(limits.max_active_per_user) {
            Plan::Refused(Over::Active)
        } else if counts.in_hour + extra >= i64::from(limits.max_per_user_per_hour) {
            Plan::Refused(Over::Hour {
                oldest: counts.oldest_in_hour,
            })
        } else if queued >= i64::from(limits.max_queue_length) {
            Plan::Refused(Over::Queue { queued })
        } else {
            *added.entry(user).or_default() += 1;
            queued += 1;
            Plan::Insert
        };
        plans.push(plan);
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(user: &str, key: Option<&str>) -> NewJob {
        NewJob {
            platform: "p".into(),
            user_id: user.into(),
            chat_id: "c".into(),
            reply_handle: "{}".into(),
            prompt: "x".into(),
            duration_s: 1,
            width: 64,
            height: 64,
            fps: 8,
            seed: 1,
            cameo_ids: Vec::new(),
            request_key: key.map(String::from),
            picture: None,
            say_line: None,
        }
    }

    #[test]
    fn requests_of_one_batch_count_against_each_other() {
        let limits = Limits {
            max_active_per_user: 2,
            max_per_user_per_hour: 10,
            max_queue_length: 4,
            ..Limits::default()
        };
        let jobs = [
            request("a", None),
            request("a", None),
            request("a", None),
            request("b", Some("k1")),
            request("b", Some("k1")),
            request("c", Some("k2")),
            request("d", None),
        ];
        let requests: Vec<(&NewJob, &Limits)> = jobs.iter().map(|j| (j, &limits)).collect();
        let mut counts = HashMap::new();
        counts.insert(
            ("p".to_string(), "b".to_string()),
            UserCounts {
                active: 1,
                in_hour: 1,
                oldest_in_hour: Some(5),
            },
        );
        let mut known = HashMap::new();
        known.insert(("p".to_string(), "k2".to_string()), 77);
        let plans = plan(&requests, &counts, &known, 1);
        assert_eq!(
            plans,
            [
                Plan::Insert,
                Plan::Insert,
                Plan::Refused(Over::Active),
                Plan::Insert,
                Plan::SameAs(3),
                Plan::Replay(77),
                Plan::Refused(Over::Queue { queued: 4 }),
            ]
        );
    }
}
