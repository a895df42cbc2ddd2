//! The terminal adapter: `run_session` reading from memory and printing to a
//! buffer, on SQLite.

mod common;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use reel_bots::core::{wording, ChatSink, OutcomePoster};
use reel_bots::terminal::{run_session, TerminalSink, PLATFORM};
use reel_consent::NoCameoRegistry;
use reel_store::{ClipRecord, ClipStore, Finish, JobState};
use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio_util::sync::CancellationToken;

use common::{core, roomy, sqlite, LEASE};

/// Terminal output captured in memory, readable while the session runs.
#[derive(Clone, Default)]
struct Screen(Arc<Mutex<Vec<u8>>>);

impl Screen {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("the terminal prints UTF-8")
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

const SESSION_LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn help_and_bad_commands_are_printed_and_quit_stops() {
    let db = sqlite().await;
    let core = core(&db, roomy());
    let screen = Screen::default();
    let sink = TerminalSink::new(Box::new(screen.clone()));
    let input =
        &b"/help\n\n   \n/bogus\n/video a cat duration:99\n/quit\n/video must never be queued\n"[..];
    tokio::time::timeout(SESSION_LIMIT, run_session(&core, input, &sink, "alice"))
        .await
        .unwrap()
        .unwrap();

    let out = screen.text();
    assert!(out.starts_with(wording::TERMINAL_GREETING), "{out}");
    assert!(out.contains(&wording::help()), "{out}");
    assert!(out.contains(&wording::unknown_command("bogus")), "{out}");
    assert!(
        out.contains(&wording::duration_out_of_range("99", &(1..=10))),
        "{out}"
    );
    let help_at = out.find(&wording::help()).unwrap();
    let bogus_at = out.find("/bogus").unwrap();
    assert!(help_at < bogus_at, "replies come in input order: {out}");
    assert!(!out.contains("must never"), "{out}");
    assert!(db.jobs().await.is_empty(), "nothing after /quit ran");
}

#[tokio::test]
async fn end_of_input_ends_the_session_and_exit_works_too() {
    let db = sqlite().await;
    let core = core(&db, roomy());
    for input in [&b"/history"[..], &b"/history\n/exit\n/video no\n"[..]] {
        let screen = Screen::default();
        let sink = TerminalSink::new(Box::new(screen.clone()));
        tokio::time::timeout(SESSION_LIMIT, run_session(&core, input, &sink, "alice"))
            .await
            .unwrap()
            .unwrap();
        let out = screen.text();
        assert!(out.contains(wording::NO_HISTORY), "{out}");
        assert!(!out.contains(wording::WAITING_FOR_CLIPS), "{out}");
    }
    assert!(db.jobs().await.is_empty());
}

#[tokio::test]
async fn unreadable_input_is_reported_and_ends_the_session() {
    let db = sqlite().await;
    let core = core(&db, roomy());
    let screen = Screen::default();
    let sink = TerminalSink::new(Box::new(screen.clone()));
    let input = &b"/help\n\xff\xfe not utf-8\n/video a cat\n"[..];
    tokio::time::timeout(SESSION_LIMIT, run_session(&core, input, &sink, "alice"))
        .await
        .unwrap()
        .unwrap();
    let out = screen.text();
    assert!(out.contains("cannot read input"), "{out}");
    assert!(db.jobs().await.is_empty());
}

#[tokio::test]
async fn plain_text_queues_and_cancel_needs_no_wait() {
    let db = sqlite().await;
    let core = core(&db, roomy());
    let screen = Screen::default();
    let sink = TerminalSink::new(Box::new(screen.clone()));
    let input = &b"a red ball bounces duration:1\n/status\n/cancel\n/quit\n"[..];
    tokio::time::timeout(SESSION_LIMIT, run_session(&core, input, &sink, "carol"))
        .await
        .unwrap()
        .unwrap();

    let jobs = db.jobs().await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(
        (job.platform.as_str(), job.user_id.as_str()),
        (PLATFORM, "carol")
    );
    assert_eq!(
        (job.prompt.as_str(), job.duration_s, job.state),
        ("a red ball bounces", 1, JobState::Cancelled)
    );
    let out = screen.text();
    assert!(
        out.contains(&format!("#{} queued, position 1", job.id)),
        "{out}"
    );
    assert!(
        out.contains(&format!("#{} cancelled; it never started.", job.id)),
        "{out}"
    );
    assert!(!out.contains(wording::WAITING_FOR_CLIPS), "{out}");
}

/// The whole flow as `reel chat` runs it: the session queues a clip, a
/// stand-in worker renders it, the outcome poster prints it through the same
/// terminal sink, and the session ends once it is posted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_waits_for_its_clip_to_be_posted() {
    let db = sqlite().await;
    let core = core(&db, roomy());
    let clips = db.clips();
    let screen = Screen::default();
    let sink = TerminalSink::new(Box::new(screen.clone()));

    let shutdown = CancellationToken::new();
    let poster = OutcomePoster::new(
        db.store.clone(),
        clips.clone(),
        Arc::new(NoCameoRegistry),
        vec![sink.clone() as Arc<dyn ChatSink>],
        "poster-1".into(),
    )
    .with_idle_poll(Duration::from_millis(20));
    let poster = tokio::spawn(poster.run(shutdown.clone()));

    // The worker starts only once the session has said it is waiting, so the
    // wait is really exercised.
    let worker = {
        let (store, clips, screen) = (db.store.clone(), clips.clone(), screen.clone());
        tokio::spawn(async move {
            while !screen.text().contains(wording::WAITING_FOR_CLIPS) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let job = store
                .render_queue()
                .claim("worker-1", LEASE)
                .await
                .unwrap()
                .expect("the session's job");
            let key = ClipStore::new_key(job.id);
            let data = Bytes::from_static(b"not really an mp4");
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
                    .finish(job.id, "worker-1", &record)
                    .await
                    .unwrap(),
                Finish::Encoded
            );
            (job.id, data.len())
        })
    };

    let input = &b"a paper boat on a river seed:77\n/quit\n"[..];
    tokio::time::timeout(SESSION_LIMIT, run_session(&core, input, &sink, "dave"))
        .await
        .unwrap()
        .unwrap();
    // The worker only runs if the session waited for the clip.
    let (id, len) = tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("the session never said it was waiting for its clip")
        .unwrap();
    shutdown.cancel();
    tokio::time::timeout(SESSION_LIMIT, poster)
        .await
        .expect("the poster stops on shutdown")
        .unwrap();

    let out = screen.text();
    let clip_line = out
        .lines()
        .find(|l| l.starts_with('✔'))
        .unwrap_or_else(|| panic!("no clip line in {out}"));
    assert!(
        clip_line.contains(&format!("#{id} “a paper boat on a river” · seed 77")),
        "{out}"
    );
    assert!(clip_line.contains("test pattern"), "{out}");
    let job = db.store.job(id).await.unwrap();
    assert_eq!((job.state, job.outcome_posted), (JobState::Delivered, true));
    let path = clips.local_path(job.clip_key.as_deref().unwrap()).unwrap();
    assert!(
        out.contains(&format!("clip written to {} ({len} bytes)", path.display())),
        "{out}"
    );
    assert_eq!(job.delivery_receipt, Some(path.display().to_string()));
    let queued_at = out.find(&format!("#{id} queued")).unwrap();
    let waiting_at = out.find(wording::WAITING_FOR_CLIPS).unwrap();
    let posted_at = out.find('✔').unwrap();
    assert!(queued_at < waiting_at && waiting_at < posted_at, "{out}");
}

#[tokio::test]
async fn the_terminal_sink_marks_progress_and_failures() {
    let db = sqlite().await;
    let job = db
        .store
        .enqueue(&common::new_job(PLATFORM, "alice", "p"))
        .await
        .unwrap();
    let (writer, mut reader) = tokio::io::duplex(4096);
    let sink = TerminalSink::new(Box::new(writer));
    assert_eq!(sink.platform(), PLATFORM);
    sink.show_progress(&job, "#1 rendering").await.unwrap();
    sink.post_outcome(&job, "#1 failed: boom").await.unwrap();
    drop(sink);
    let mut out = String::new();
    reader.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "  … #1 rendering\n✘ #1 failed: boom\n");
}
