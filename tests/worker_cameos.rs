//! A render worker with the cameo registry (issue 16, item 3): a permitted
//! cameo's use is recorded for its owner and its reference face and voice
//! reach the renderer (decrypted in memory); a withdrawal between queueing
//! and rendering blocks the job before anything is rendered, and the
//! requester reads only that the cameo is unavailable. Both backends.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{tiny_job, wait_until, Sandbox};
use reel::provenance::ClipFinisher;
use reel::worker::{Worker, WorkerSettings};
use reel_consent::{
    Audience, CameoRegistry, Evidence, MasterKey, NewCameo, Person, ReferenceMedia,
};
use reel_engine::{
    Audio, CancelToken, Progress, RenderError, RenderRequest, Rendered, Renderer, RgbImage,
    TestPattern,
};
use reel_store::{ClipStore, ClipStoreConfig, JobState, Store};
use tokio_util::sync::CancellationToken;

/// testsrc, keeping what each request carried from the cameos.
#[derive(Default)]
struct Recording {
    seen: Mutex<Vec<(Option<RgbImage>, Option<Audio>)>>,
}

impl Renderer for Recording {
    fn name(&self) -> &str {
        "testsrc"
    }

    fn render(
        &self,
        req: &RenderRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<Rendered, RenderError> {
        self.seen
            .lock()
            .unwrap()
            .push((req.reference_image.clone(), req.reference_voice.clone()));
        TestPattern::new().render(req, progress, cancel)
    }
}

fn owner() -> Person {
    Person::new("telegram", "100")
}

/// A 24×16 face picture as PNG (made by the ffmpeg CLI) and its pixels.
fn face_png(dir: &std::path::Path) -> (Vec<u8>, RgbImage) {
    let mut ppm = b"P6\n24 16\n255\n".to_vec();
    let mut image = RgbImage::new(24, 16);
    for y in 0..16 {
        for x in 0..24 {
            let rgb = [(x * 10) as u8, (y * 15) as u8, 200];
            ppm.extend_from_slice(&rgb);
            image.set_pixel(x, y, rgb);
        }
    }
    let (ppm_path, png_path) = (dir.join("face.ppm"), dir.join("face.png"));
    std::fs::write(&ppm_path, ppm).unwrap();
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&ppm_path)
        .arg(&png_path)
        .status()
        .unwrap();
    assert!(made.success());
    (std::fs::read(&png_path).unwrap(), image)
}

/// 16-bit mono PCM WAV at 16 kHz.
fn voice_wav(samples: &[i16]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    for field in [16u32, 1 | (1 << 16), 16_000, 32_000, 2 | (16 << 16)] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

async fn registry_with_ana(sb: &Sandbox, store: &Store) -> (CameoRegistry, RgbImage) {
    let registry = CameoRegistry::new(store.clone(), MasterKey::generate());
    let text = registry
        .publish_consent_text("en", "I agree that reel may use my face and voice.")
        .await
        .unwrap();
    let (png, pixels) = face_png(sb.path());
    registry
        .register(NewCameo {
            owner: owner(),
            name: "ana".into(),
            evidence: Evidence {
                consent_text_version: text.version,
                message_id: "m".into(),
                nonce: "n".into(),
                transcript: "t".into(),
                phrase_score: 1.0,
                face_score: 1.0,
                voice_score: 1.0,
                models: BTreeMap::new(),
            },
            media: ReferenceMedia {
                face_image: png,
                voice_clip: voice_wav(&[0, 8192, -8192, 0]),
                embedding: vec![1; 16],
            },
        })
        .await
        .unwrap();
    registry
        .set_audience(&owner(), "ana", Audience::Everyone)
        .await
        .unwrap();
    (registry, pixels)
}

fn worker(
    store: &Store,
    sb: &Sandbox,
    registry: &CameoRegistry,
    renderer: Arc<Recording>,
) -> Worker {
    let mut config = reel::config::Config::load(None).expect("the default config loads");
    config.provenance.sign = false;
    Worker {
        queue: store.render_queue(),
        clips: ClipStore::open(&ClipStoreConfig::Local {
            root: sb.clips_dir(),
        })
        .unwrap(),
        renderer,
        gate: Arc::new(registry.clone()),
        cameos: Some(registry.clone()),
        finisher: Arc::new(ClipFinisher::from_config(&config, "testsrc").unwrap()),
        settings: WorkerSettings {
            id: "cameo-worker".into(),
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_millis(100),
            poll: Duration::from_millis(20),
        },
    }
}

async fn uses_and_withdrawal(sb: Sandbox) {
    let store = sb.store().await;
    let (registry, face) = registry_with_ana(&sb, &store).await;
    let mut with_ana = tiny_job("telegram", "200", 1);
    with_ana.cameo_ids = vec!["ana".into()];
    let used = store.enqueue(&with_ana).await.unwrap();

    let renderer = Arc::new(Recording::default());
    let shutdown = CancellationToken::new();
    let running =
        tokio::spawn(worker(&store, &sb, &registry, renderer.clone()).run(shutdown.clone()));
    wait_until(
        Duration::from_secs(30),
        "the cameo clip rendered",
        || async { store.job(used.id).await.unwrap().state == JobState::Encoded },
    )
    .await;
    {
        let seen = renderer.seen.lock().unwrap();
        let (image, voice) = &seen[0];
        assert_eq!(
            image.as_ref(),
            Some(&face),
            "the decrypted face reached the renderer"
        );
        let voice = voice.as_ref().expect("the voice reference travels too");
        assert_eq!((voice.sample_rate, voice.samples.len()), (16_000, 4));
        assert_eq!(voice.samples[1], 0.25);
    }
    let uses = registry.clips_of(&owner(), "ana").await.unwrap();
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0].job_id, used.id);
    assert_eq!(uses[0].requester, Person::new("telegram", "200"));

    // Queued while permitted; withdrawn before a worker starts it.
    shutdown.cancel();
    running.await.unwrap();
    let later = store.enqueue(&with_ana).await.unwrap();
    registry.withdraw(&owner(), "ana").await.unwrap();
    let shutdown = CancellationToken::new();
    let running =
        tokio::spawn(worker(&store, &sb, &registry, renderer.clone()).run(shutdown.clone()));
    wait_until(Duration::from_secs(30), "the job ended", || async {
        !store.job(later.id).await.unwrap().state.is_active()
    })
    .await;
    let job = store.job(later.id).await.unwrap();
    assert_eq!(job.state, JobState::Blocked);
    let reason = job.failure_reason.unwrap_or_default();
    assert!(reason.contains("unavailable"), "{reason}");
    assert!(
        !reason.contains("withdr"),
        "the requester learns no more: {reason}"
    );
    assert_eq!(
        renderer.seen.lock().unwrap().len(),
        1,
        "nothing more rendered"
    );
    shutdown.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn cameo_media_reach_the_renderer_and_a_withdrawal_blocks_on_sqlite() {
    uses_and_withdrawal(Sandbox::sqlite()).await;
}

#[tokio::test]
async fn cameo_media_reach_the_renderer_and_a_withdrawal_blocks_on_postgres() {
    uses_and_withdrawal(Sandbox::postgres().await).await;
}
