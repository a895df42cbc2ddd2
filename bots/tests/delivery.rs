//! Fault 6: delivery per platform with bounded concurrency, and a lease
//! renewed while a post is under way. On main one sequential poster served
//! every platform with a 120 s lease that was never renewed: a slow
//! Telegram post held up Discord, and a post slower than the lease was
//! claimed and made again by a second poster.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reel_bots::core::{ChatSink, ClipFile, JobLocks, OutcomePoster, SinkError};
use reel_consent::NoCameoRegistry;
use reel_store::{Job, RenderFailure, Store};
use tokio_util::sync::CancellationToken;

use common::{claim, new_job, Db, FakeSink};

on_both_backends!(
    a_stuck_platform_does_not_hold_up_another,
    a_slow_post_keeps_its_lease_and_is_made_once,
);

/// A sink whose posts take `delay` (or never end when `None`).
struct SlowSink {
    platform: &'static str,
    delay: Option<Duration>,
    posts: AtomicUsize,
    locks: JobLocks,
}

#[async_trait]
impl ChatSink for SlowSink {
    fn platform(&self) -> &str {
        self.platform
    }

    fn locks(&self) -> &JobLocks {
        &self.locks
    }

    async fn show_progress(&self, _: &Job, _: &str) -> Result<bool, SinkError> {
        Ok(true)
    }

    async fn post_clip(&self, _: &Job, _: &ClipFile, _: &str) -> Result<String, SinkError> {
        unreachable!("these jobs have no clip")
    }

    async fn post_outcome(&self, _: &Job, _: &str) -> Result<(), SinkError> {
        self.posts.fetch_add(1, Ordering::SeqCst);
        match self.delay {
            Some(delay) => tokio::time::sleep(delay).await,
            None => std::future::pending().await,
        }
        Ok(())
    }
}

fn slow(platform: &'static str, delay: Option<Duration>) -> Arc<SlowSink> {
    Arc::new(SlowSink {
        platform,
        delay,
        posts: AtomicUsize::new(0),
        locks: JobLocks::default(),
    })
}

/// A job of `platform` that failed: its reason waits to be posted.
async fn failed_job(store: &Store, platform: &str) -> i64 {
    let job = store
        .enqueue(&new_job(platform, "u", "a wave"))
        .await
        .unwrap();
    claim(store, job.id, "w").await;
    store
        .render_queue()
        .end(job.id, "w", &RenderFailure::Fatal("boom".into()))
        .await
        .unwrap();
    job.id
}

fn poster(db: &Db, sinks: Vec<Arc<dyn ChatSink>>, owner: &str) -> OutcomePoster {
    OutcomePoster::new(
        db.store.clone(),
        db.clips(),
        Arc::new(NoCameoRegistry),
        sinks,
        owner.into(),
    )
    .with_idle_poll(Duration::from_millis(10))
}

async fn a_stuck_platform_does_not_hold_up_another(db: Db) {
    // Telegram's job is older, so a single queue would take it first.
    let stuck = failed_job(&db.store, "telegram").await;
    let waiting = failed_job(&db.store, "discord").await;
    let telegram = slow("telegram", None);
    let discord = FakeSink::new("discord");
    let sinks: Vec<Arc<dyn ChatSink>> = vec![telegram.clone(), discord.clone()];
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(poster(&db, sinks, "poster-1").run(shutdown.clone()));
    let started = std::time::Instant::now();
    while discord.posted_outcomes().is_empty() || telegram.posts.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "Discord waited behind a stuck Telegram post"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(discord.posted_outcomes()[0].0, waiting);
    assert_eq!(telegram.posts.load(Ordering::SeqCst), 1);
    assert!(!db.store.job(stuck).await.unwrap().outcome_posted);
    running.abort();
}

async fn a_slow_post_keeps_its_lease_and_is_made_once(db: Db) {
    let id = failed_job(&db.store, "telegram").await;
    // The post takes three leases' time; a second poster keeps looking.
    let lease = Duration::from_millis(300);
    let sink = slow("telegram", Some(lease * 3));
    let first = poster(&db, vec![sink.clone()], "poster-1").with_lease(lease);
    let second = poster(&db, vec![sink.clone()], "poster-2").with_lease(lease);
    let shutdown = CancellationToken::new();
    // The store's clock follows real time, so leases lapse as they would.
    let clock = db.clock.clone();
    let ticking = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            clock.advance(Duration::from_millis(20));
        }
    });
    let a = tokio::spawn(first.run(shutdown.clone()));
    let b = tokio::spawn(second.run(shutdown.clone()));
    let started = std::time::Instant::now();
    while !db.store.job(id).await.unwrap().outcome_posted {
        assert!(started.elapsed() < Duration::from_secs(20), "never posted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    a.await.unwrap();
    b.await.unwrap();
    ticking.abort();
    assert_eq!(sink.posts.load(Ordering::SeqCst), 1, "posted once");
}
