//! One writer for a job's chat handles (`ChatHandles`) and progress edits
//! that never land on a posted clip, on both backends.

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reel_bots::core::{ChatHandles, ChatSink, ClipFile, JobLocks, ProgressWatcher, SinkError};
use reel_bots::telegram::{Receipt, ReplyHandle};
use reel_store::{ClipRecord, Job, Store};

use common::{claim, new_job, Db, LEASE};

on_both_backends!(
    concurrent_writers_never_undo_each_other,
    progress_never_lands_on_a_posted_clip,
);

/// The handler recording its status message and the poster recording the
/// clip, at the same moment, many times over: both records survive every
/// time. A plain read-modify-write of the JSON (main's `set_reply_handle`
/// after reading the job) loses one of them when they interleave.
async fn concurrent_writers_never_undo_each_other(db: Db) {
    let handles = ChatHandles::new(db.store.clone());
    let mut ids = Vec::new();
    for n in 0..20 {
        let job = db
            .store
            .enqueue(&new_job("telegram", &format!("u{n}"), "a cat"))
            .await
            .unwrap();
        ids.push(job.id);
    }
    let mut tasks = Vec::new();
    for &id in &ids {
        let (status, clip) = (handles.clone(), handles.clone());
        tasks.push(tokio::spawn(async move {
            status
                .update(id, |h: &mut ReplyHandle| {
                    h.status_message_id.get_or_insert(41);
                })
                .await
                .unwrap()
        }));
        tasks.push(tokio::spawn(async move {
            clip.update(id, |h: &mut ReplyHandle| {
                h.clip = Some(Receipt {
                    chat_id: 1,
                    message_id: 42,
                    file_id: None,
                    as_document: false,
                });
            })
            .await
            .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for id in ids {
        let handle = ReplyHandle::parse(&db.store.job(id).await.unwrap().reply_handle);
        assert_eq!(handle.status_message_id, Some(41), "#{id}");
        assert_eq!(handle.clip.map(|c| c.message_id), Some(42), "#{id}");
    }
}

/// A sink whose first edit takes long enough for the other job's clip to
/// be posted meanwhile.
struct SlowSink {
    store: Store,
    locks: JobLocks,
    jobs: [i64; 2],
    edits: Mutex<Vec<i64>>,
}

#[async_trait]
impl ChatSink for SlowSink {
    fn platform(&self) -> &str {
        "terminal"
    }

    fn locks(&self) -> &JobLocks {
        &self.locks
    }

    async fn show_progress(&self, job: &Job, _text: &str) -> Result<bool, SinkError> {
        if self.edits.lock().unwrap().is_empty() {
            // While this edit is in flight the other job finishes and its
            // clip is posted (by the poster, under that job's lock).
            let other = self.jobs.into_iter().find(|id| *id != job.id).unwrap();
            let _held = self.locks.lock(other).await;
            finish_and_post(&self.store, other).await;
        }
        self.edits.lock().unwrap().push(job.id);
        Ok(true)
    }

    async fn post_clip(&self, _: &Job, _: &ClipFile, _: &str) -> Result<String, SinkError> {
        unreachable!("the test posts by hand")
    }

    async fn post_outcome(&self, _: &Job, _: &str) -> Result<(), SinkError> {
        unreachable!("the test posts by hand")
    }
}

async fn finish_and_post(store: &Store, id: i64) {
    let record = ClipRecord {
        key: format!("k{id}"),
        bytes: 1,
        render_ms: 1,
        renderer: "testsrc".into(),
    };
    assert!(matches!(
        store.render_queue().finish(id, "w", &record).await.unwrap(),
        reel_store::Finish::Encoded
    ));
    let claimed = store
        .delivery()
        .claim(&["terminal"], "poster", LEASE)
        .await
        .unwrap()
        .expect("the encoded job");
    assert_eq!(claimed.id, id);
    assert!(store
        .delivery()
        .mark_delivered(id, "poster", "posted")
        .await
        .unwrap());
}

/// Fault 17: on main the watcher edited every job its poll had read as
/// rendering, so a clip posted during the poll was edited back into a
/// progress line (with a Cancel button).
async fn progress_never_lands_on_a_posted_clip(db: Db) {
    let s = &db.store;
    let first = s
        .enqueue(&new_job("terminal", "alice", "one"))
        .await
        .unwrap();
    let second = s.enqueue(&new_job("terminal", "bob", "two")).await.unwrap();
    claim(s, first.id, "w").await;
    claim(s, second.id, "w").await;
    let sink = Arc::new(SlowSink {
        store: s.clone(),
        locks: JobLocks::default(),
        jobs: [first.id, second.id],
        edits: Mutex::new(Vec::new()),
    });
    let mut watcher = ProgressWatcher::new(
        s.clone(),
        sink.clone() as Arc<dyn ChatSink>,
        Duration::from_millis(10),
    );
    watcher.poll_once().await.unwrap();
    let edits = sink.edits.lock().unwrap().clone();
    assert_eq!(edits.len(), 1, "the posted clip was edited: {edits:?}");
    let posted = [first.id, second.id].into_iter().find(|id| *id != edits[0]);
    assert!(s.job(posted.unwrap()).await.unwrap().outcome_posted);
}
