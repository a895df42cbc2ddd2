//! `/cameo` through the real `reel chat` (issue 16): without a master key
//! cameo commands say they are not enabled; with one, `/cameo register`
//! shows the consent text and a phrase, and a recording sent while the
//! registration models are not pulled is refused with "try later" (the
//! operator's log names what to pull) and stores nothing.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{text, Sandbox};
use reel_consent::MasterKey;

/// Runs `reel chat` with `input` on stdin; (stdout, stderr).
fn chat(sb: &Sandbox, input: &str, envs: &[(&str, &str)]) -> (String, String) {
    let mut cmd = sb.reel(&["chat", "--user", "ana", "--no-workers"]);
    cmd.envs(envs.iter().copied())
        .env(
            "REEL_PERCEPTION__WHISPER_MODEL_DIR",
            sb.path().join("no-whisper"),
        )
        .env(
            "REEL_PERCEPTION__FACE_MODEL_DIR",
            sb.path().join("no-faces"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "reel chat did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

#[test]
fn cameo_commands_need_a_master_key() {
    let sb = Sandbox::sqlite();
    let (out, _) = chat(&sb, "/cameo register ana\n/cameo status\n", &[]);
    assert_eq!(
        out.matches("not enabled on this server").count(),
        2,
        "{out}"
    );
}

#[tokio::test]
async fn register_shows_the_consent_and_a_phrase_and_a_recording_waits_for_the_models() {
    let sb = Sandbox::sqlite();
    let key = MasterKey::generate().to_base64();
    let recording = sb.path().join("take.mp4");
    std::fs::write(&recording, b"not checked: the models are missing").unwrap();
    let input = format!(
        "/cameo register ana\n/cameo submit {}\n/cameo status\n",
        recording.display()
    );
    let (out, err) = chat(&sb, &input, &[("REEL_MASTER_KEY", &key)]);
    assert!(out.contains("To register cameo ana"), "{out}");
    assert!(out.contains("SHA-256"), "{out}");
    assert!(out.contains("/cameo submit PATH"), "{out}");
    assert!(
        out.contains("couldn't check your recording just now"),
        "{out}"
    );
    assert!(
        err.contains("reel pull whisper-base"),
        "the operator is told: {err}"
    );
    assert!(!err.contains(&key), "the master key is never logged");
    let store = sb.store().await;
    let cameos: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cameos")
        .fetch_one(store.read_pool())
        .await
        .unwrap();
    assert_eq!(cameos, 0, "nothing stored");
    store.close().await;
}
