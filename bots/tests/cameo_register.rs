//! Registering a cameo through the core and the terminal adapter, on
//! SQLite and PostgreSQL, with the stand-in recording checks: register →
//! submit → status, and the recordings that are refused.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use reel_bots::core::wording::cameo as words;
use reel_bots::core::{CommandCore, ReplyKind, Requester};
use reel_bots::terminal::{run_session, TerminalSink};
use reel_consent::{Person, Status};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufReader};

use common::cameos::PHRASE_NOT_HEARD;
use common::{cameo_core, cameo_registry, requester, Db};

on_both_backends!(
    register_submit_and_status_through_the_core,
    refused_recordings_store_nothing,
    register_and_submit_in_a_terminal_session,
);

/// The phrase in a `/cameo register` answer.
fn phrase_in(text: &str) -> String {
    let after = text
        .split("reading aloud:\n\n    ")
        .nth(1)
        .unwrap_or_else(|| panic!("no phrase in {text}"));
    after.split("\n\n").next().unwrap().to_string()
}

/// A "recording" the stand-in checks accept when it holds the phrase.
fn recording(dir: &Path, name: &str, said: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, said).unwrap();
    path
}

async fn register(core: &CommandCore, from: &Requester, name: &str) -> String {
    let reply = core
        .handle(from, &format!("/cameo register {name}"), false)
        .await;
    assert_eq!(reply.kind(), ReplyKind::Info, "{}", reply.text());
    reply.text().to_string()
}

async fn register_submit_and_status_through_the_core(db: Db) {
    let registry = cameo_registry(&db);
    let core = cameo_core(&db, &registry);
    let alice = requester("terminal", "alice");
    let challenge = register(&core, &alice, "ana").await;
    for part in [
        "By registering this cameo I agree",
        "version 1",
        "SHA-256",
        "/cameo submit PATH",
        "expires in",
    ] {
        assert!(challenge.contains(part), "{part}: {challenge}");
    }
    let phrase = phrase_in(&challenge);
    let path = recording(db.dir.path(), "take1.txt", &phrase);
    let done = core.submit_recording(&alice, "m-1", false, &path).await;
    assert_eq!(done.kind(), ReplyKind::Info, "{}", done.text());
    let ana = registry
        .cameo(&Person::new("terminal", "alice"), "ana")
        .await
        .unwrap();
    assert_eq!(ana.status, Status::Active);
    assert_eq!(done.text(), words::registered(&ana));
    assert!(done.text().contains("/cameo allow"), "{}", done.text());
    let status = core.handle(&alice, "/cameo status", false).await;
    assert_eq!(status.text(), words::status(&ana));

    // The challenge was used: the same recording again registers nothing.
    let again = core.submit_recording(&alice, "m-2", false, &path).await;
    assert_eq!(again.kind(), ReplyKind::Refused, "{}", again.text());
    assert_eq!(
        registry
            .cameos_of(&Person::new("terminal", "alice"))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn refused_recordings_store_nothing(db: Db) {
    let registry = cameo_registry(&db);
    let core = cameo_core(&db, &registry);
    let alice = requester("terminal", "alice");
    let owner = Person::new("terminal", "alice");

    // Nothing asked for yet.
    let unasked = recording(db.dir.path(), "unasked.txt", "hello");
    let reply = core.submit_recording(&alice, "m-0", false, &unasked).await;
    assert_eq!(reply.kind(), ReplyKind::Refused);
    assert!(reply.text().contains("/cameo register"), "{}", reply.text());

    let phrase = phrase_in(&register(&core, &alice, "ana").await);
    let wrong = recording(db.dir.path(), "wrong.txt", "something else entirely");
    let reply = core.submit_recording(&alice, "m-1", false, &wrong).await;
    assert_eq!(
        (reply.kind(), reply.text()),
        (ReplyKind::Refused, PHRASE_NOT_HEARD)
    );

    let right = recording(db.dir.path(), "right.txt", &phrase);
    let forwarded = core.submit_recording(&alice, "m-2", true, &right).await;
    assert_eq!(forwarded.kind(), ReplyKind::Refused);
    assert!(
        forwarded.text().contains("forwarded"),
        "{}",
        forwarded.text()
    );

    let missing = core
        .submit_recording(&alice, "m-3", false, &db.dir.path().join("nope.mp4"))
        .await;
    assert_eq!(missing.text(), words::CANNOT_READ_RECORDING);

    let small = cameo_core(&db, &registry).with_max_upload_bytes(4);
    let large = small.submit_recording(&alice, "m-4", false, &right).await;
    let size = std::fs::metadata(&right).unwrap().len();
    assert_eq!(large.text(), words::recording_too_large(size, 4));

    let bad_name = core.handle(&alice, "/cameo register 9lives", false).await;
    assert_eq!(bad_name.kind(), ReplyKind::Refused);
    assert!(
        bad_name.text().contains("can't be a cameo name"),
        "{}",
        bad_name.text()
    );

    assert!(registry.cameos_of(&owner).await.unwrap().is_empty());
}

/// Terminal output captured in memory, readable while the session runs.
#[derive(Clone, Default)]
struct Screen(Arc<Mutex<Vec<u8>>>);

impl Screen {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Waits until the screen shows `needle`.
    async fn shows(&self, needle: &str) -> String {
        for _ in 0..500 {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the terminal never showed {needle:?}: {}", self.text());
    }
}

impl AsyncWrite for Screen {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

async fn register_and_submit_in_a_terminal_session(db: Db) {
    let registry = cameo_registry(&db);
    let core = cameo_core(&db, &registry);
    let screen = Screen::default();
    let sink = TerminalSink::new(Box::new(screen.clone()));
    let (mut keyboard, input) = tokio::io::duplex(4096);
    let session = tokio::spawn({
        let core = core.clone();
        async move { run_session(&core, BufReader::new(input), &sink, "alice").await }
    });

    keyboard.write_all(b"/cameo register ana\n").await.unwrap();
    let shown = screen.shows("reading aloud").await;
    let phrase = phrase_in(&shown);
    let path = recording(db.dir.path(), "take.txt", &phrase);
    let line = format!("/cameo submit {}\n/cameo status\n", path.display());
    keyboard.write_all(line.as_bytes()).await.unwrap();
    drop(keyboard);
    tokio::time::timeout(Duration::from_secs(20), session)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    let ana = registry
        .cameo(&Person::new("terminal", "alice"), "ana")
        .await
        .unwrap();
    let out = screen.text();
    assert!(out.contains(&words::registered(&ana)), "{out}");
    assert!(out.contains(&words::status(&ana)), "{out}");
}
