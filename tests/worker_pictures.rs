//! A picture sent with `/video` survives a restart and starts the clip:
//! queued with its picture through the command core, the process stops
//! (its store handle and core dropped), a worker of a new process renders
//! it with testsrc, which draws the picture small in the bottom-right
//! corner. Both backends.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{wait_until, Sandbox};
use reel::provenance::ClipFinisher;
use reel::worker::{Worker, WorkerSettings};
use reel_bots::core::{
    parse, Command, CommandCore, FaceScreen, RenderSettings, Requester, ScreenUnavailable,
};
use reel_consent::NoCameoRegistry;
use reel_engine::{
    CancelToken, Progress, RenderError, RenderRequest, Rendered, Renderer, RgbImage, TestPattern,
};
use reel_store::{ClipStore, ClipStoreConfig, JobState};
use tokio_util::sync::CancellationToken;

/// testsrc, keeping the first frame of each clip it made.
#[derive(Default)]
struct FirstFrames {
    seen: Mutex<Vec<RgbImage>>,
}

impl Renderer for FirstFrames {
    fn name(&self) -> &str {
        "testsrc"
    }

    fn render(
        &self,
        req: &RenderRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<Rendered, RenderError> {
        let rendered = TestPattern::new().render(req, progress, cancel)?;
        self.seen.lock().unwrap().push(rendered.frames[0].clone());
        Ok(rendered)
    }
}

/// No faces in any picture (the face check itself is tested in the core).
struct NoFaces;

#[async_trait]
impl FaceScreen for NoFaces {
    async fn faces(&self, _: Arc<RgbImage>) -> Result<usize, ScreenUnavailable> {
        Ok(0)
    }
}

const ORANGE: [u8; 3] = [250, 120, 10];

fn clips(sb: &Sandbox) -> ClipStore {
    ClipStore::open(&ClipStoreConfig::Local {
        root: sb.clips_dir(),
    })
    .unwrap()
}

async fn a_queued_picture_survives_a_restart(sb: Sandbox) {
    // The first process: the chat queues a clip from an orange picture.
    let job_id = {
        let store = sb.store().await;
        let core = CommandCore::new(
            store,
            clips(&sb),
            Arc::new(NoCameoRegistry),
            RenderSettings::default(),
        )
        .with_face_screen(Arc::new(NoFaces));
        let mut picture = RgbImage::new(40, 30);
        for px in picture.data.chunks_exact_mut(3) {
            px.copy_from_slice(&ORANGE);
        }
        let png = reel_media::encode_png(&picture).unwrap();
        let Ok(Command::Video(request)) = parse("/video a sunset size:256x256 duration:1", false)
        else {
            panic!("the command parses")
        };
        let from = Requester {
            platform: "terminal".into(),
            user_id: "ann".into(),
            chat_id: "c".into(),
            reply_handle: "{}".into(),
            request_key: None,
            shared_chat: false,
        };
        let reply = core.video_with_picture(&from, &request, &png).await;
        reply.job_id().unwrap_or_else(|| panic!("{}", reply.text()))
    };

    // A new process: only the database knows about the picture.
    let store = sb.store().await;
    assert_eq!(store.job(job_id).await.unwrap().state, JobState::Queued);
    let renderer = Arc::new(FirstFrames::default());
    let mut config = reel::config::Config::load(None).expect("the default config loads");
    config.provenance.sign = false;
    let worker = Worker {
        queue: store.render_queue(),
        clips: clips(&sb),
        renderer: renderer.clone(),
        gate: Arc::new(NoCameoRegistry),
        cameos: None,
        finisher: Arc::new(ClipFinisher::from_config(&config, "testsrc").unwrap()),
        speaker: None,
        settings: WorkerSettings {
            id: "picture-worker".into(),
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_millis(100),
            poll: Duration::from_millis(20),
        },
    };
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));
    wait_until(Duration::from_secs(60), "the clip rendered", || async {
        store.job(job_id).await.unwrap().state == JobState::Encoded
    })
    .await;
    shutdown.cancel();
    running.await.unwrap();

    let frame = renderer.seen.lock().unwrap()[0].clone();
    assert_eq!((frame.width, frame.height), (256, 256));
    // testsrc's inset: bottom-right, a fifth of the height, a small margin.
    let inside = [(240, 240), (220, 235), (250, 250)];
    for (x, y) in inside {
        assert_eq!(frame.pixel(x, y), Some(ORANGE), "({x}, {y}) is the picture");
    }
    assert_ne!(frame.pixel(10, 10), Some(ORANGE), "the rest is the pattern");
}

#[tokio::test]
async fn a_queued_picture_survives_a_restart_on_sqlite() {
    a_queued_picture_survives_a_restart(Sandbox::sqlite()).await;
}

#[tokio::test]
async fn a_queued_picture_survives_a_restart_on_postgres() {
    a_queued_picture_survives_a_restart(Sandbox::postgres().await).await;
}
