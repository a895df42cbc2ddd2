//! 200 `/video` interactions at once through the real serenity client and
//! the fake gateway (loopback only): every one is deferred, well within
//! Discord's 3 s, and queued once. Prints, p50/p99/max, the time from the
//! fake writing INTERACTION_CREATE to receiving the defer callback, split
//! where serenity hands the interaction to the adapter (the
//! `RECEIVED_TARGET` debug event): gateway → handler is serenity reading and
//! decoding the events, handler → callback is the adapter's defer.
//!
//! ```sh
//! cargo test -p reel-bots --test discord_load -- --nocapture
//! ```

#[path = "common/fake_discord.rs"]
mod fake_discord;
#[path = "discord/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use fake_discord::{video, Place};
use harness::{Harness, GUILD};
use reel_bots::discord::RECEIVED_TARGET;
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

const USERS: u64 = 200;
/// A loose bound so a loaded CI machine does not flake; the target is 100 ms.
const P99_BOUND: Duration = Duration::from_secs(2);

/// When serenity handed each interaction to the adapter.
fn received() -> &'static Mutex<HashMap<u64, Instant>> {
    static RECEIVED: OnceLock<Mutex<HashMap<u64, Instant>>> = OnceLock::new();
    RECEIVED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(
            Recorder
                .with_filter(Targets::new().with_target(RECEIVED_TARGET, tracing::Level::DEBUG)),
        );
        tracing::subscriber::set_global_default(subscriber)
            .expect("one subscriber per test binary");
        Mutex::new(HashMap::new())
    })
}

struct Recorder;

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let at = Instant::now();
        let mut id = IdField(None);
        event.record(&mut id);
        if let Some(id) = id.0 {
            received().lock().unwrap().insert(id, at);
        }
    }
}

struct IdField(Option<u64>);

impl Visit for IdField {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "interaction" {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn summary(mut waits: Vec<Duration>) -> (Duration, Duration, Duration) {
    waits.sort();
    let max = *waits.last().unwrap();
    (percentile(&waits, 0.50), percentile(&waits, 0.99), max)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_interactions_at_once_on_sqlite() {
    received();
    let h = Harness::start_with(Some(GUILD), 8).await;
    two_hundred_at_once(h, "SQLite", 100_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_interactions_at_once_on_postgres() {
    received();
    let h = Harness::start_postgres().await;
    two_hundred_at_once(h, "PostgreSQL", 200_000).await;
}

/// Interactions `first..first + USERS` (distinct per test: the recorder is
/// shared), all at once; every one deferred and queued.
async fn two_hundred_at_once(h: Harness, backend: &str, first: u64) {
    // One burst at a time, or the two tests would measure each other.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let started = Instant::now();
    for n in 0..USERS {
        let place = Place::guild(10_000 + n, 5_000 + n % 10, GUILD);
        h.fake.interaction(video(
            first + n,
            &place,
            "a crowd cheering",
            &[("duration", json!(1))],
        ));
    }
    let (mut total, mut gateway, mut adapter) = (Vec::new(), Vec::new(), Vec::new());
    tokio::time::timeout(Duration::from_secs(60), async {
        for n in 0..USERS {
            let id = first + n;
            let callback = h.fake.wait_for_callback(id).await;
            assert_eq!(callback.body["type"], 5, "interaction {id} deferred");
            let sent = h.fake.dispatched_at(id).expect("dispatched");
            let handed = received()
                .lock()
                .unwrap()
                .get(&id)
                .copied()
                .expect("received");
            total.push(callback.at.saturating_duration_since(sent));
            gateway.push(handed.saturating_duration_since(sent));
            adapter.push(callback.at.saturating_duration_since(handed));
        }
    })
    .await
    .expect("all 200 deferred within 60 s");
    let written = (0..USERS).filter_map(|n| h.fake.dispatched_at(first + n));
    let spread = written.clone().max().unwrap() - written.min().unwrap();
    let (p50, p99, max) = summary(total);
    let (g50, g99, gmax) = summary(gateway);
    let (a50, a99, amax) = summary(adapter);
    println!(
        "discord, {backend}: {USERS} interactions at once (the fake wrote them within {})",
        ms(spread)
    );
    println!(
        "  INTERACTION_CREATE → defer   p50 {} p99 {} max {}",
        ms(p50),
        ms(p99),
        ms(max)
    );
    println!(
        "  gateway → handler (serenity) p50 {} p99 {} max {}",
        ms(g50),
        ms(g99),
        ms(gmax)
    );
    println!(
        "  handler → defer (adapter)    p50 {} p99 {} max {}",
        ms(a50),
        ms(a99),
        ms(amax)
    );
    // Every interaction ends queued, with its status message edited.
    let queued = h.fake.wait_for("PATCH", "/webhooks/", USERS as usize);
    tokio::time::timeout(Duration::from_secs(60), queued)
        .await
        .expect("all 200 queued within 60 s");
    println!(
        "  all {USERS} queued (status message edited) after {}",
        ms(started.elapsed())
    );
    let jobs = h.jobs().await;
    assert_eq!(jobs.len(), USERS as usize, "one job per interaction");
    let queued = h.fake.calls_to("PATCH", "/webhooks/");
    assert!(
        queued
            .iter()
            .all(|c| c.content().contains("queued, position")),
        "every reply is a queue message"
    );
    assert!(p99 < P99_BOUND, "p99 {p99:?} over {P99_BOUND:?}");
    h.stop().await;
}
