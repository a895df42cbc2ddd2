//! Worker processes sharing one queue: disjoint claims across processes, a
//! worker killed mid-render, and a restart between encoding and delivery.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{tiny_job, wait_until, KillOnDrop, Sandbox};
use reel_bots::core::{ChatSink, ClipFile, JobLocks, OutcomePoster, SinkError};
use reel_consent::NoCameoRegistry;
use reel_store::{ClipStore, ClipStoreConfig, Job, JobState, Store};

/// Counts what would have been posted.
#[derive(Default)]
struct RecordingSink {
    posts: Mutex<Vec<(i64, usize)>>,
    locks: JobLocks,
}

#[async_trait]
impl ChatSink for RecordingSink {
    fn platform(&self) -> &str {
        "fake"
    }
    fn locks(&self) -> &JobLocks {
        &self.locks
    }
    async fn show_progress(&self, _job: &Job, _text: &str) -> Result<bool, SinkError> {
        Ok(true)
    }
    async fn post_clip(
        &self,
        job: &Job,
        clip: &ClipFile,
        _caption: &str,
    ) -> Result<String, SinkError> {
        self.posts.lock().unwrap().push((job.id, clip.data.len()));
        Ok(format!("message-{}", job.id))
    }
    async fn post_outcome(&self, _job: &Job, _text: &str) -> Result<(), SinkError> {
        Ok(())
    }
}

async fn count_in_state(store: &Store, state: JobState) -> usize {
    store.list_jobs(Some(state), 100_000).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_worker_processes_render_disjoint_jobs_from_one_postgres() {
    let sb = Sandbox::postgres().await;
    let store = sb.store().await;
    const JOBS: usize = 300;
    for n in 0..JOBS {
        store
            .enqueue(&tiny_job("fake", &format!("user{n}"), n))
            .await
            .unwrap();
    }
    let spawn_worker = || {
        let mut cmd = sb.reel(&["worker"]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        KillOnDrop(cmd.spawn().unwrap())
    };
    let (_a, _b) = (spawn_worker(), spawn_worker());
    wait_until(Duration::from_secs(240), "all jobs encoded", || async {
        count_in_state(&store, JobState::Encoded).await == JOBS
    })
    .await;

    let claims = store.event_counts("claimed").await.unwrap();
    assert_eq!(claims.len(), JOBS);
    assert!(
        claims.iter().all(|(_, n)| *n == 1),
        "a job was claimed twice"
    );
    let mut by_worker: HashMap<String, usize> = HashMap::new();
    for job in store.list_jobs(None, 100_000).await.unwrap() {
        assert_eq!(job.attempts, 1);
        let events = store.events(job.id).await.unwrap();
        let claimer = events
            .iter()
            .find(|e| e.kind == "claimed")
            .unwrap()
            .actor
            .clone();
        *by_worker.entry(claimer).or_default() += 1;
    }
    assert_eq!(by_worker.len(), 2, "both processes rendered: {by_worker:?}");
    let keys: HashSet<_> = store
        .list_jobs(None, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.clip_key.unwrap())
        .collect();
    assert_eq!(keys.len(), JOBS, "one clip per job");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_s_job_is_rendered_by_another_and_delivered_once() {
    let sb = Sandbox::postgres().await;
    let store = sb.store().await;
    let job = store
        .enqueue(&reel_store::NewJob {
            fps: 24,
            ..tiny_job("fake", "alice", 1)
        })
        .await
        .unwrap();
    let lease = [
        ("REEL_WORKERS__LEASE_SECS", "5"),
        ("REEL_WORKERS__HEARTBEAT_SECS", "1"),
    ];
    let mut slow = sb.reel(&["worker"]);
    slow.envs(lease)
        .env("REEL_RENDER__TESTSRC_STEP_DELAY_MS", "300");
    slow.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut first = KillOnDrop(slow.spawn().unwrap());
    wait_until(
        Duration::from_secs(30),
        "the first worker to report progress",
        || async {
            let j = store.job(job.id).await.unwrap();
            j.state == JobState::Rendering && j.progress_step >= 2
        },
    )
    .await;
    first.0.kill().unwrap(); // SIGKILL: no cleanup, the lease just stops being renewed
    first.0.wait().unwrap();
    let first_owner = store.job(job.id).await.unwrap().lease_owner.unwrap();

    let mut fast = sb.reel(&["worker"]);
    fast.envs(lease)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _second = KillOnDrop(fast.spawn().unwrap());
    wait_until(
        Duration::from_secs(60),
        "the second worker to finish the job",
        || async { store.job(job.id).await.unwrap().state == JobState::Encoded },
    )
    .await;
    let done = store.job(job.id).await.unwrap();
    assert_eq!(done.attempts, 2);
    let claimers: Vec<String> = store
        .events(job.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "claimed")
        .map(|e| e.actor)
        .collect();
    assert_eq!(claimers.len(), 2);
    assert_eq!(claimers[0], first_owner);
    assert_ne!(claimers[0], claimers[1]);

    let clips = ClipStore::open(&ClipStoreConfig::Local {
        root: sb.clips_dir(),
    })
    .unwrap();
    let sink = Arc::new(RecordingSink::default());
    let poster = OutcomePoster::new(
        store.clone(),
        clips,
        Arc::new(NoCameoRegistry),
        vec![sink.clone()],
        "poster-1".into(),
    );
    assert!(poster.post_next().await.unwrap());
    assert!(!poster.post_next().await.unwrap());
    let posts = sink.posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].0, job.id);
    assert!(posts[0].1 > 1000, "a real MP4 was posted");
    assert_eq!(store.job(job.id).await.unwrap().state, JobState::Delivered);
}

/// `reel chat` with stdin held open until `until` shows up on stdout.
fn chat_until(sb: &Sandbox, input: &str, until: Option<&str>) -> String {
    let mut cmd = sb.reel(&["chat", "--no-workers", "--user", "alice"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    if let Some(until) = until {
        while !seen.contains(until) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => seen.push_str(&(line + "\n")),
                Err(_) => panic!("`{until}` never appeared; saw:\n{seen}"),
            }
        }
    }
    drop(stdin);
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        seen.push_str(&(line + "\n"));
    }
    let status = child.0.wait().unwrap();
    assert!(status.success(), "reel chat failed:\n{seen}");
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_between_encoding_and_delivery_posts_once() {
    let sb = Sandbox::sqlite();
    let store = sb.store().await;
    let job = store
        .enqueue(&tiny_job("terminal", "alice", 1))
        .await
        .unwrap();
    // A worker-only process encodes the clip and goes away before anything is posted.
    let mut worker = sb.reel(&["worker"]);
    worker
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut worker = KillOnDrop(worker.spawn().unwrap());
    wait_until(Duration::from_secs(30), "the job to be encoded", || async {
        store.job(job.id).await.unwrap().state == JobState::Encoded
    })
    .await;
    worker.0.kill().unwrap();
    worker.0.wait().unwrap();

    // The chat comes back: it posts the pending clip...
    let first = chat_until(&sb, "", Some("clip written to"));
    assert_eq!(first.matches("clip written to").count(), 1, "{first}");
    assert!(first.contains(&format!("✔ #{}", job.id)), "{first}");
    // ...and the next start posts nothing again.
    let second = chat_until(&sb, "/history\n", Some("delivered"));
    assert!(
        !second.contains("clip written to"),
        "posted twice:\n{second}"
    );
    assert_eq!(
        store.event_counts("delivered").await.unwrap(),
        vec![(job.id, 1)]
    );
    assert_eq!(store.job(job.id).await.unwrap().state, JobState::Delivered);
}
