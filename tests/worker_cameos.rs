//! A render worker with the cameo registry (issue 16, item 3): a permitted
//! cameo's use is recorded for its owner and its reference face and voice
//! reach the renderer (decrypted in memory); a withdrawal between queueing
//! and rendering blocks the job before anything is rendered, and the
//! requester reads only that the cameo is unavailable. Both backends.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{tiny_job, wait_until, Sandbox};
use reel::config::VoiceConfig;
use reel::provenance::ClipFinisher;
use reel::voice::Speaker;
use reel::worker::{Worker, WorkerSettings};
use reel_consent::{
    Audience, CameoRegistry, Evidence, MasterKey, NewCameo, Person, ReferenceMedia,
};
use reel_engine::{
    Audio, CancelToken, Progress, RenderError, RenderRequest, Rendered, Renderer, RgbImage,
    TestPattern,
};
use reel_media::{decode_mono, probe, DecodeLimits};
use reel_store::{ClipStore, ClipStoreConfig, JobState, NewJob, Store};
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
    speaking_worker(store, sb, registry, renderer, None)
}

fn speaking_worker(
    store: &Store,
    sb: &Sandbox,
    registry: &CameoRegistry,
    renderer: Arc<Recording>,
    speaker: Option<Arc<Speaker>>,
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
        speaker,
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

/// Issue 17: `say:` at the worker, with the tiny random-weight CSM of the
/// parity fixtures (it babbles until the length cap, 1 s here). A line
/// without a cameo is spoken in the model's own voice; with an allowed
/// cameo in its voice prompt, made from its recording and cached sealed;
/// a cameo the requester may not use is blocked before any voice is made
/// from it; a recording too short to be a voice fails the job. Each clip
/// has an AAC track as long as its video, with the sound where the line is.
async fn say_lines(sb: Sandbox) {
    let store = sb.store().await;
    let (registry, _) = registry_with_ana(&sb, &store).await;
    register_ben(&registry, sb.path()).await;
    let speaker = Arc::new(Speaker::new(&VoiceConfig {
        model_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("engine/tests/fixtures/csm/tiny"),
        max_seconds: 1.0,
    }));
    let job = |user: &str, cameo: Option<&str>| NewJob {
        duration_s: 2,
        fps: 24,
        say_line: Some("hello there".into()),
        cameo_ids: cameo.map(|c| vec![c.to_string()]).unwrap_or_default(),
        ..tiny_job("telegram", user, 7)
    };
    // Ben's audience is himself: a job naming him for someone else (queued
    // past the chat's gate here) is blocked, and no voice prompt is made.
    let refused = store.enqueue(&job("200", Some("ben"))).await.unwrap();
    let plain = store.enqueue(&job("200", None)).await.unwrap();
    let own = store.enqueue(&job("300", Some("ben"))).await.unwrap();
    let broken = store.enqueue(&job("200", Some("ana"))).await.unwrap();

    let renderer = Arc::new(Recording::default());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(
        speaking_worker(&store, &sb, &registry, renderer.clone(), Some(speaker))
            .run(shutdown.clone()),
    );
    wait_until(Duration::from_secs(300), "every job ended", || async {
        let mut done = true;
        for id in [refused.id, plain.id, own.id, broken.id] {
            done &= !store.job(id).await.unwrap().state.is_active();
        }
        done
    })
    .await;
    shutdown.cancel();
    running.await.unwrap();

    let refused = store.job(refused.id).await.unwrap();
    assert_eq!(refused.state, JobState::Blocked);
    let broken = store.job(broken.id).await.unwrap();
    assert_eq!(
        broken.state,
        JobState::Failed,
        "{:?}",
        broken.failure_reason
    );
    let reason = broken.failure_reason.unwrap_or_default();
    assert!(reason.contains("voice could not be used"), "{reason}");
    for id in [plain.id, own.id] {
        let job = store.job(id).await.unwrap();
        assert_eq!(job.state, JobState::Encoded, "{:?}", job.failure_reason);
        check_clip(&sb, &job.clip_key.unwrap()).await;
    }
    assert_eq!(renderer.seen.lock().unwrap().len(), 2, "two clips rendered");
    let cached = registry.cached_voice_prompt("ben").await.unwrap();
    let prompt = reel::voice::prompt_from_bytes(&cached.expect("ben's prompt was cached")).unwrap();
    assert_eq!(prompt.transcript, "purple tiger sings");
    assert_eq!(registry.cached_voice_prompt("ana").await.unwrap(), None);
}

async fn register_ben(registry: &CameoRegistry, dir: &std::path::Path) {
    let text = registry
        .publish_consent_text("en", "I agree that reel may use my face and voice.")
        .await
        .unwrap();
    let (png, _) = face_png(dir);
    // 0.3 s of quiet, 1.5 s of a voiced sound, 0.3 s of quiet, at 16 kHz.
    let mut samples = vec![0i16; 4_800];
    samples.extend((0..24_000).map(|i| {
        let t = f64::from(i) / 16_000.0;
        let phase = 2.0 * std::f64::consts::PI * 140.0 * t;
        let voice: f64 = (1..8)
            .map(|k| (f64::from(k) * phase).sin() / f64::from(k))
            .sum();
        (3000.0 * voice * (0.6 + 0.4 * (8.0 * std::f64::consts::PI * t).cos())) as i16
    }));
    samples.extend(vec![0i16; 4_800]);
    registry
        .register(NewCameo {
            owner: Person::new("telegram", "300"),
            name: "ben".into(),
            evidence: Evidence {
                consent_text_version: text.version,
                message_id: "m2".into(),
                nonce: "n2".into(),
                transcript: "purple tiger sings".into(),
                phrase_score: 1.0,
                face_score: 1.0,
                voice_score: 1.0,
                models: BTreeMap::new(),
            },
            media: ReferenceMedia {
                face_image: png,
                voice_clip: voice_wav(&samples),
                embedding: vec![2; 16],
            },
        })
        .await
        .unwrap();
}

/// The clip's AAC track lasts as long as its 2 s of video; the line
/// (1 s, the cap) is where the sound is, silence after it.
async fn check_clip(sb: &Sandbox, key: &str) {
    let clips = ClipStore::open(&ClipStoreConfig::Local {
        root: sb.clips_dir(),
    })
    .unwrap();
    let bytes = clips.get(key).await.unwrap();
    let path = sb.path().join(format!("{}.mp4", key.replace('/', "_")));
    std::fs::write(&path, &bytes[..]).unwrap();
    let info = probe(&path).unwrap();
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    assert_eq!(info.frames, 48);
    const RATE: u32 = 48_000;
    let limits = DecodeLimits {
        max_file_bytes: 64 << 20,
        max_seconds: 60.0,
        max_video_pixels: 1 << 24,
        frame_rate: 1.0,
        max_frames: 1,
        frame_max_side: 64,
    };
    let samples = decode_mono(&path, &limits, RATE).unwrap();
    let seconds = samples.len() as f64 / f64::from(RATE);
    assert!(
        (seconds - 2.0).abs() <= 1024.0 / f64::from(RATE),
        "audio lasts {seconds} s"
    );
    let energy = |from: f64, to: f64| {
        let part = &samples[(from * 48_000.0) as usize..(to * 48_000.0) as usize];
        part.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / part.len() as f64
    };
    let (spoken, after) = (energy(0.05, 0.95), energy(1.1, 1.95));
    assert!(
        spoken > 1e-3,
        "too little energy where the line is: {spoken}"
    );
    assert!(
        after < spoken * 1e-4,
        "sound after the line: {after} vs {spoken}"
    );
}

#[tokio::test]
async fn say_lines_are_spoken_in_an_allowed_voice_on_sqlite() {
    say_lines(Sandbox::sqlite()).await;
}

#[tokio::test]
async fn say_lines_are_spoken_in_an_allowed_voice_on_postgres() {
    say_lines(Sandbox::postgres().await).await;
}
