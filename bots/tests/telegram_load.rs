//! Load: 200 users send a prompt at the same moment; how long until each
//! sees its "queued" reply. The throttle is opened wide here (its waits are
//! deliberate and discussed in docs/benchmarks.md, with the results);
//! everything runs on 127.0.0.1 and is bounded in time.

#[path = "telegram/fake.rs"]
#[allow(dead_code)]
mod fake;
#[path = "telegram/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use std::sync::Arc;

use fake::text_update;
use harness::Harness;
use reel_bots::core::{CommandCore, RenderSettings, ReplyKind, Requester};
use reel_consent::NoCameoRegistry;
use reel_store::Limits;

const USERS: i64 = 200;

async fn two_hundred_users_at_once(mut h: Harness, backend: &str) {
    let mut pushed = std::collections::HashMap::new();
    for user in 1..=USERS {
        pushed.insert(user, Instant::now());
        h.fake.push(text_update(
            user,
            user,
            user,
            "/video a crowd of two hundred people duration:1",
        ));
    }
    let replies = h.fake.wait_for("sendMessage", USERS as usize).await;
    let mut latencies: Vec<Duration> = replies
        .iter()
        .map(|r| r.at.duration_since(pushed[&r.int("chat_id")]))
        .collect();
    let p99 = report(
        &mut latencies,
        &format!("telegram load ({backend}, {USERS} users): update → queued"),
    );
    assert!(replies.iter().all(|r| r.str("text").contains("queued")));
    let chats: std::collections::HashSet<i64> = replies.iter().map(|r| r.int("chat_id")).collect();
    assert_eq!(chats.len(), USERS as usize, "one reply per user");
    assert_eq!(h.jobs().await.len(), USERS as usize);
    assert!(p99 < Duration::from_secs(5), "p99 {p99:?} is far off");
    h.shutdown().await;
    core_alone(&h, backend).await;
}

/// The same burst straight into the command core, no Telegram in between:
/// what the adapter costs beyond the core and the throttle.
async fn core_alone(h: &Harness, backend: &str) {
    let limits = Limits {
        max_active_per_user: 100,
        max_per_user_per_hour: 100,
        max_queue_length: 10_000,
        ..Limits::default()
    };
    let core = CommandCore::new(
        h.store.clone(),
        Arc::new(NoCameoRegistry),
        RenderSettings::default(),
        limits,
    );
    let calls = (1..=USERS).map(|user| {
        let core = core.clone();
        tokio::spawn(async move {
            let from = Requester {
                platform: "load".into(),
                user_id: user.to_string(),
                chat_id: user.to_string(),
                reply_handle: "{}".into(),
            };
            let started = Instant::now();
            let reply = core.handle(&from, "/video a crowd duration:1", false).await;
            assert_eq!(reply.kind, ReplyKind::Queued, "{}", reply.text);
            started.elapsed()
        })
    });
    let mut latencies = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        latencies.push(call.await.unwrap());
    }
    report(
        &mut latencies,
        &format!("core alone ({backend}, {USERS} users): handle → reply"),
    );
}

fn report(latencies: &mut [Duration], what: &str) -> Duration {
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "{what} p50 {:?}, p99 {:?}, max {:?}",
        pct(50),
        pct(99),
        latencies[latencies.len() - 1]
    );
    pct(99)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_users_at_once_on_sqlite() {
    two_hundred_users_at_once(Harness::start().await, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_users_at_once_on_postgres() {
    two_hundred_users_at_once(Harness::start_postgres().await, "postgres").await;
}
