//! Helpers for the end-to-end tests: run the real `reel` binary in a temp
//! dir of its own, with configuration only from the environment.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reel_store::{NewJob, Store, StoreOptions};

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub db_url: String,
}

impl Sandbox {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        write_signing_keys(dir.path());
        let db_url = reel_store::testing::sqlite_url_in(dir.path());
        Self { dir, db_url }
    }

    pub async fn postgres() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        write_signing_keys(dir.path());
        let db_url = reel_store::testing::fresh_postgres_database().await;
        Self { dir, db_url }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The sandbox's own C2PA CA, signing certificate and key (clips are
    /// signed by default, and reel does not start without them).
    pub fn keys_dir(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    pub fn clips_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// `reel <args>` with this sandbox's database and clip folder.
    pub fn reel(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reel"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("REEL_DATABASE__URL", &self.db_url)
            .env("REEL_CLIPS__LOCAL_DIR", self.clips_dir())
            .env("REEL_WORKERS__POLL_MS", "20")
            .env("REEL_CHAT__PROGRESS_INTERVAL_MS", "100")
            .env(
                "REEL_SECRETS__SIGNING_KEY_FILE",
                self.keys_dir().join("signing-key.pem"),
            )
            .env(
                "REEL_SECRETS__SIGNING_CERT_FILE",
                self.keys_dir().join("signing-cert.pem"),
            )
            .env(
                "REEL_SECRETS__SIGNING_CA_FILE",
                self.keys_dir().join("ca.pem"),
            )
            .env_remove("REEL_SIGNING_KEY")
            .env_remove("REEL_CONFIG")
            .env_remove("RUST_LOG");
        cmd
    }

    pub fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut cmd = self.reel(args);
        cmd.envs(envs.iter().copied()).stdin(Stdio::null());
        run_bounded(cmd, Duration::from_secs(60))
    }

    pub async fn store(&self) -> Store {
        let options = StoreOptions {
            max_connections: 4,
            limits: roomy_limits(),
        };
        Store::open(&self.db_url, options)
            .await
            .expect("open the sandbox database")
    }
}

fn write_signing_keys(sandbox: &Path) {
    let keys = reel_provenance::generate_keys("reel tests").expect("generate signing keys");
    let dir = sandbox.join("keys");
    let files = reel_provenance::KeyFiles {
        ca_cert: dir.join("ca.pem"),
        signing_cert: dir.join("signing-cert.pem"),
        signing_key: dir.join("signing-key.pem"),
    };
    reel_provenance::write_key_files(&keys, &files).expect("write signing keys");
}

/// Runs a command to completion, killing it if it runs past `limit`.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn reel");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "command ran past {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// reel's download cache, as `reel pull face-models` finds it:
/// REEL_CACHE_DIR, else XDG_CACHE_HOME/reel, else ~/.cache/reel.
pub fn reel_cache_dir() -> PathBuf {
    reel::cache::cache_dir().unwrap_or_else(|_| PathBuf::from(".cache/reel"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Kills the child on drop so a failing test leaves no process behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` every 50 ms until it returns true or `limit` passes.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A small job for tests that exercise the queue rather than the picture.
pub fn tiny_job(platform: &str, user: &str, n: usize) -> NewJob {
    NewJob {
        platform: platform.into(),
        user_id: user.into(),
        chat_id: "chat".into(),
        reply_handle: "{}".into(),
        prompt: format!("test clip {n}"),
        duration_s: 1,
        width: 64,
        height: 64,
        fps: 4,
        seed: n as u64,
        cameo_ids: Vec::new(),
        request_key: None,
        picture: None,
        say_line: None,
    }
}

pub fn roomy_limits() -> reel_store::Limits {
    reel_store::Limits {
        max_active_per_user: 100_000,
        max_per_user_per_hour: 100_000,
        max_queue_length: 100_000,
        ..reel_store::Limits::default()
    }
}
