//! What a render worker does, for the adapter tests: claims, progress, and
//! real MP4 clips made with the test pattern.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use reel_engine::{CancelToken, RenderRequest, Renderer, TestPattern};
use reel_media::{encode_mp4, EncodeOptions};
use reel_store::{ClipRecord, ClipStore, Finish, Store};

pub const WORKER: &str = "test-worker";
const LEASE: Duration = Duration::from_secs(30);

/// Claims `job_id` (the oldest queued job) and reports `step` of `total`.
pub async fn start_render(store: &Store, job_id: i64, step: u32, total: u32) {
    // A job queued a moment ago may not be runnable yet by the database's
    // clock as this handle reads it (PostgreSQL): try for a little while.
    let mut claimed = None;
    for _ in 0..100 {
        claimed = store.render_queue().claim(WORKER, LEASE).await.unwrap();
        if claimed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let job = claimed.expect("a job to claim");
    assert_eq!(job.id, job_id);
    report_progress(store, job_id, step, total).await;
}

pub async fn report_progress(store: &Store, job_id: i64, step: u32, total: u32) {
    store
        .render_queue()
        .heartbeat(job_id, WORKER, LEASE, Some((step, total)))
        .await
        .unwrap();
}

/// Stores `data` as `job_id`'s clip and marks the job encoded.
pub async fn finish_render(store: &Store, clips: &ClipStore, job_id: i64, data: Bytes) -> Bytes {
    let key = ClipStore::new_key(job_id);
    clips.put(&key, data.clone()).await.unwrap();
    let record = ClipRecord {
        key,
        bytes: data.len() as u64,
        render_ms: 10,
        renderer: "testsrc".into(),
    };
    assert_eq!(
        store
            .render_queue()
            .finish(job_id, WORKER, &record)
            .await
            .unwrap(),
        Finish::Encoded
    );
    data
}

/// A two-second 160×96 testsrc clip at crf 0: large for its size, so that
/// re-encoding makes it much smaller.
pub async fn lossless_mp4() -> Bytes {
    render_mp4("a waterfall", 48, (160, 96), 24, 0).await
}

/// A one-second 64×64 testsrc clip, encoded once per test binary.
pub async fn tiny_mp4() -> Bytes {
    static CLIP: OnceLock<Bytes> = OnceLock::new();
    if let Some(clip) = CLIP.get() {
        return clip.clone();
    }
    let clip = render_mp4("a cat", 4, (64, 64), 4, EncodeOptions::default().crf).await;
    CLIP.get_or_init(|| clip).clone()
}

async fn render_mp4(
    prompt: &str,
    frames: u32,
    (width, height): (u32, u32),
    fps: u32,
    crf: u8,
) -> Bytes {
    let request = RenderRequest {
        prompt: prompt.into(),
        seed: 7,
        frames,
        width,
        height,
        fps,
        reference_image: None,
        reference_voice: None,
        speech: None,
    };
    tokio::task::spawn_blocking(move || {
        let rendered = TestPattern::new()
            .render(&request, &mut |_| {}, &CancelToken::new())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.mp4");
        let options = EncodeOptions {
            crf,
            ..EncodeOptions::default()
        };
        encode_mp4(&rendered, &path, &options).unwrap();
        Bytes::from(std::fs::read(&path).unwrap())
    })
    .await
    .unwrap()
}
