//! `reel serve` with the Telegram adapter enabled, against the fake Bot API
//! on 127.0.0.1: a prompt is queued, rendered by the real worker, shown with
//! progress and posted as an MP4; a SIGTERM stops it; the token is never
//! logged. A start that fails (a network blip while registering the
//! commands) is retried, and one that keeps failing ends `reel serve`
//! non-zero, naming the adapter.

mod common;
#[path = "../bots/tests/telegram/fake.rs"]
#[allow(dead_code)]
mod fake;

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{run_bounded, text, KillOnDrop, Sandbox};
use fake::{text_update, FakeTelegram};

const TOKEN: &str = "123456:SECRET-TOKEN-NEVER-LOGGED";

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_telegram_and_posts_the_rendered_clip() {
    let fake = FakeTelegram::start().await;
    let sb = Sandbox::sqlite();
    let log = sb.path().join("serve.log");
    let mut cmd = sb.reel(&["serve"]);
    cmd.env("REEL_TELEGRAM__ENABLED", "true")
        .env("REEL_TELEGRAM__API_URL", &fake.url)
        .env("REEL_TELEGRAM__POLL_TIMEOUT_SECS", "1")
        .env("REEL_TELEGRAM_TOKEN", TOKEN)
        .env("REEL_RENDER__TESTSRC_STEP_DELAY_MS", "40")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut serve = KillOnDrop(cmd.spawn().expect("spawn reel serve"));
    fake.wait_for("getUpdates", 1).await;

    fake.push(text_update(
        1,
        77,
        77,
        "/video a cat on a skateboard duration:1 size:128x96",
    ));
    let queued = fake.wait_for("sendMessage", 1).await.remove(0);
    assert!(
        queued.str("text").starts_with("#1 queued"),
        "{}",
        queued.str("text")
    );
    let video = fake.wait_for("sendVideo", 1).await.remove(0);
    let progress = fake.calls_to("editMessageText");
    assert!(!progress.is_empty(), "progress was shown");
    assert!(progress.iter().all(|e| e.int("message_id") == 1001));
    let path = sb.path().join("posted.mp4");
    std::fs::write(&path, &video.files[0].1).unwrap();
    let info = reel_media::probe(&path).expect("the posted clip decodes");
    assert_eq!((info.width, info.height), (128, 96));

    // Graceful stop on SIGTERM, well within the bound.
    let pid = serve.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = std::time::Instant::now();
    while serve.0.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "reel serve did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains("SECRET-TOKEN"), "the token was logged");
    assert_eq!(fake.calls_to("sendVideo").len(), 1);
}

/// `reel serve --no-workers` against `fake`, its start retried `tries`
/// times 20-80 ms apart; stderr goes to `log`.
fn serve_with_start_retries(sb: &Sandbox, fake: &FakeTelegram, tries: u32, log: &Path) -> Command {
    let mut cmd = sb.reel(&["serve", "--no-workers"]);
    cmd.env("REEL_TELEGRAM__ENABLED", "true")
        .env("REEL_TELEGRAM__API_URL", &fake.url)
        .env("REEL_TELEGRAM__POLL_TIMEOUT_SECS", "1")
        .env("REEL_TELEGRAM_TOKEN", TOKEN)
        .env("REEL_CHAT__ADAPTER_START_TRIES", tries.to_string())
        .env("REEL_CHAT__ADAPTER_START_RETRY_MS", "20")
        .env("REEL_CHAT__ADAPTER_START_RETRY_MAX_MS", "80")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    cmd
}

/// Waits (without blocking the fake's runtime) for `child` to exit.
async fn exit_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "reel serve still runs after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fault 9: before the fix, one failed setMyCommands ended the adapter
/// silently while `reel serve` ran on without it (one call here, then no
/// exit). Now it is tried `tries` times, then the process exits non-zero
/// with the adapter named.
#[tokio::test(flavor = "multi_thread")]
async fn a_start_that_keeps_failing_is_retried_then_ends_serve_loudly() {
    let fake = FakeTelegram::start().await;
    for _ in 0..10 {
        fake.cut_next("setMyCommands");
    }
    let sb = Sandbox::sqlite();
    let log = sb.path().join("serve.log");
    let mut cmd = serve_with_start_retries(&sb, &fake, 3, &log);
    let mut serve = KillOnDrop(cmd.spawn().expect("spawn reel serve"));
    let status = exit_within(&mut serve.0, Duration::from_secs(30)).await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "exit {status:?}; log:\n{logged}");
    assert_eq!(fake.calls_to("setMyCommands").len(), 3, "{logged}");
    assert!(fake.calls_to("getUpdates").is_empty());
    assert!(
        logged.contains("error: the Telegram adapter stopped"),
        "the exit names the adapter: {logged}"
    );
    assert!(!logged.contains("SECRET-TOKEN"), "the token was logged");
}

/// Fault 9, the blip: two failed registrations, then Telegram answers; the
/// adapter starts and answers commands.
#[tokio::test(flavor = "multi_thread")]
async fn a_blip_at_start_is_retried_and_the_adapter_answers() {
    let fake = FakeTelegram::start().await;
    for _ in 0..2 {
        fake.cut_next("setMyCommands");
    }
    let sb = Sandbox::sqlite();
    let log = sb.path().join("serve.log");
    let mut cmd = serve_with_start_retries(&sb, &fake, 4, &log);
    let mut serve = KillOnDrop(cmd.spawn().expect("spawn reel serve"));
    fake.wait_for_within("getUpdates", 1, Duration::from_secs(30))
        .await;
    assert_eq!(fake.calls_to("setMyCommands").len(), 3);
    fake.push(text_update(1, 77, 77, "/help"));
    let help = fake.wait_for("sendMessage", 1).await.remove(0);
    assert!(help.str("text").contains("/video"), "{}", help.str("text"));
    assert!(serve.0.try_wait().unwrap().is_none(), "reel serve runs on");
}

#[test]
fn enabled_without_a_token_or_with_bad_settings_is_refused() {
    let sb = Sandbox::sqlite();
    let mut cmd = sb.reel(&["serve", "--no-workers"]);
    cmd.env("REEL_TELEGRAM__ENABLED", "true")
        .env_remove("REEL_TELEGRAM_TOKEN")
        .stdin(Stdio::null());
    let out = run_bounded(cmd, Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("REEL_TELEGRAM_TOKEN"),
        "{}",
        text(&out.stderr)
    );

    for (key, value, named) in [
        (
            "REEL_TELEGRAM__MAX_UPLOAD_MB",
            "0",
            "telegram.max_upload_mb",
        ),
        (
            "REEL_TELEGRAM__MAX_DOCUMENT_MB",
            "2001",
            "telegram.max_document_mb",
        ),
        ("REEL_TELEGRAM__MODE", "webhook", "telegram.webhook_url"),
        ("REEL_TELEGRAM__MODE", "carrier-pigeon", "telegram.mode"),
        (
            "REEL_TELEGRAM__API_URL",
            "api.telegram.org",
            "telegram.api_url",
        ),
    ] {
        let out = sb.run(&["config"], &[(key, value)]);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains(named), "{}", text(&out.stderr));
    }
}
