//! `reel serve` with the Discord adapter enabled, against the fake Discord
//! (REST + gateway) on 127.0.0.1: `/video` is deferred and queued, rendered
//! by the real worker, shown with progress and posted as an MP4; a SIGTERM
//! stops it; the token is never logged. Bad settings are refused. A
//! command registration that keeps failing ends `reel serve` non-zero,
//! naming the adapter.

mod common;
#[path = "../bots/tests/common/fake_discord.rs"]
mod fake_discord;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{run_bounded, text, KillOnDrop, Sandbox};
use fake_discord::{token_of, video, FakeDiscord, Place, APP_ID, TOKEN};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_discord_and_posts_the_rendered_clip() {
    let fake = FakeDiscord::start().await;
    let sb = Sandbox::sqlite();
    let log = sb.path().join("serve.log");
    let mut cmd = sb.reel(&["serve"]);
    cmd.env("REEL_DISCORD__ENABLED", "true")
        .env("REEL_DISCORD__API_URL", &fake.api)
        .env("REEL_DISCORD__DEV_GUILD", "3000000")
        .env("REEL_DISCORD_TOKEN", TOKEN)
        .env("REEL_RENDER__TESTSRC_STEP_DELAY_MS", "40")
        .env("REEL_CHAT__PROGRESS_INTERVAL_MS", "100")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut serve = KillOnDrop(cmd.spawn().expect("spawn reel serve"));
    fake.wait_for_op(2, 1).await;
    fake.wait_for(
        "PUT",
        &format!("/applications/{APP_ID}/guilds/3000000/commands"),
        1,
    )
    .await;

    let place = Place::guild(77, 5_000, 3_000_000);
    fake.interaction(video(
        1,
        &place,
        "a cat on a skateboard",
        &[("duration", json!(1))],
    ));
    assert_eq!(fake.wait_for_callback(1).await.body["type"], 5);
    let webhook = format!("/webhooks/{APP_ID}/{}", token_of(1));
    let clip = fake
        .wait_until("the clip upload", || {
            fake.calls_to("PATCH", &webhook)
                .into_iter()
                .find(|c| !c.files.is_empty())
        })
        .await;
    let edits = fake.calls_to("PATCH", &webhook);
    assert!(
        edits[0].content().starts_with("#1 queued"),
        "{}",
        edits[0].content()
    );
    assert!(
        edits.iter().any(|e| e.content().contains("rendering")),
        "progress was shown"
    );
    let path = sb.path().join("posted.mp4");
    std::fs::write(&path, &clip.files[0].2).unwrap();
    let info = reel_media::probe(&path).expect("the posted clip decodes");
    assert_eq!(info.video_codec, "h264");
    assert_eq!(clip.buttons(), ["reel:reroll:1", "reel:delete:1"]);

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
            started.elapsed() < Duration::from_secs(15),
            "reel serve did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains(TOKEN), "the token was logged");
    let leaks: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains(&token_of(1)))
        .map(|l| l.get(..300).unwrap_or(l))
        .collect();
    assert!(
        leaks.is_empty(),
        "an interaction token was logged: {leaks:#?}"
    );
    let uploads = fake
        .calls()
        .into_iter()
        .filter(|c| !c.files.is_empty())
        .count();
    assert_eq!(uploads, 1, "posted once");
}

/// Fault 9 on Discord: registering the slash commands is retried, and
/// when it keeps failing `reel serve` exits non-zero naming the adapter
/// (before, the adapter ended and the process ran on without it).
#[tokio::test(flavor = "multi_thread")]
async fn a_registration_that_keeps_failing_ends_serve_loudly() {
    let fake = FakeDiscord::start().await;
    let commands = format!("/applications/{APP_ID}/guilds/3000000/commands");
    let bad_gateway = json!({ "message": "Bad Gateway", "code": 0 });
    for _ in 0..10 {
        fake.fail_next("PUT", &commands, 502, bad_gateway.clone());
    }
    let sb = Sandbox::sqlite();
    let log = sb.path().join("serve.log");
    let mut cmd = sb.reel(&["serve", "--no-workers"]);
    cmd.env("REEL_DISCORD__ENABLED", "true")
        .env("REEL_DISCORD__API_URL", &fake.api)
        .env("REEL_DISCORD__DEV_GUILD", "3000000")
        .env("REEL_DISCORD_TOKEN", TOKEN)
        .env("REEL_CHAT__ADAPTER_START_TRIES", "3")
        .env("REEL_CHAT__ADAPTER_START_RETRY_MS", "20")
        .env("REEL_CHAT__ADAPTER_START_RETRY_MAX_MS", "80")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut serve = KillOnDrop(cmd.spawn().expect("spawn reel serve"));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = serve.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "reel serve still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "exit {status:?}; log:\n{logged}");
    assert_eq!(fake.calls_to("PUT", &commands).len(), 3, "{logged}");
    assert!(
        logged.contains("error: the Discord adapter stopped"),
        "the exit names the adapter: {logged}"
    );
    assert!(!logged.contains(TOKEN), "the token was logged");
}

#[test]
fn enabled_without_a_token_or_with_bad_settings_is_refused() {
    let sb = Sandbox::sqlite();
    let mut cmd = sb.reel(&["serve", "--no-workers"]);
    cmd.env("REEL_DISCORD__ENABLED", "true")
        .env_remove("REEL_DISCORD_TOKEN")
        .stdin(Stdio::null());
    let out = run_bounded(cmd, Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("REEL_DISCORD_TOKEN"),
        "{}",
        text(&out.stderr)
    );
    for (key, value, named) in [
        ("REEL_DISCORD__API_URL", "discord.com", "discord.api_url"),
        ("REEL_DISCORD__DEV_GUILD", "-5", "discord.dev_guild"),
        ("REEL_DISCORD__COLOUR", "blue", "colour"),
    ] {
        let out = sb.run(&["config"], &[(key, value)]);
        assert!(!out.status.success(), "{key}={value} was accepted");
        assert!(text(&out.stderr).contains(named), "{}", text(&out.stderr));
    }
}
