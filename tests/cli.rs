//! The `reel` binary end to end: config, migrate, render, chat, jobs and the
//! messages for bad input.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::{run_bounded, text, Sandbox};

#[test]
fn config_prints_effective_values_with_secrets_redacted() {
    let sb = Sandbox::sqlite();
    let out = sb.run(
        &["config"],
        &[
            ("REEL_DISCORD_TOKEN", "discord-token-value-123"),
            (
                "REEL_DATABASE__URL",
                "postgres://reel:pg-password-456@127.0.0.1:1/reel",
            ),
            ("REEL_WORKERS__COUNT", "3"),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("count = 3"), "{stdout}");
    assert!(
        stdout.contains("postgres://reel:***@127.0.0.1:1/reel"),
        "{stdout}"
    );
    assert!(
        stdout.contains("discord_token = <redacted, from $REEL_DISCORD_TOKEN>"),
        "{stdout}"
    );
    assert!(stdout.contains("telegram_token = <not set>"), "{stdout}");
    let all = format!("{stdout}{}", text(&out.stderr));
    assert!(!all.contains("discord-token-value-123") && !all.contains("pg-password-456"));
}

#[test]
fn bad_config_values_fail_naming_the_key() {
    let sb = Sandbox::sqlite();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "REEL_WORKERS__LEASE_SECS",
            "1",
            &["workers.lease_secs", "5 to 3600"],
        ),
        (
            "REEL_DATABASE__MAX_CONNECTIONS",
            "many",
            &["max_connections"],
        ),
        (
            "REEL_RENDER__RENDERER",
            "magic",
            &["render.renderer", "testsrc"],
        ),
        (
            "REEL_RENDER__WIDTH",
            "700",
            &["render.width", "multiple of 32"],
        ),
        ("REEL_CLIPS__BACKEND", "ftp", &["backend", "local"]),
        (
            "REEL_DATABASE__URL",
            "mysql://x",
            &["database.url", "sqlite://"],
        ),
    ];
    for (key, value, expected) in cases {
        let out = sb.run(&["config"], &[(key, value)]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{key}={value} was accepted");
        for fragment in *expected {
            assert!(
                stderr.contains(fragment),
                "{key}={value}: `{fragment}` not in: {stderr}"
            );
        }
    }
    std::fs::write(sb.path().join("typo.toml"), "[workers]\ncuont = 2\n").unwrap();
    let out = sb.run(&["--config", "typo.toml", "config"], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cuont"), "{}", text(&out.stderr));
    let out = sb.run(&["--config", "missing.toml", "config"], &[]);
    assert!(
        text(&out.stderr).contains("missing.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_database_that_cannot_be_opened_is_named_without_its_password() {
    let sb = Sandbox::sqlite();
    let blocker = sb.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let url = format!("sqlite://{}/reel.db", blocker.display());
    let out = sb.run(&["migrate"], &[("REEL_DATABASE__URL", &url)]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot open the database") && stderr.contains("not-a-dir"),
        "{stderr}"
    );

    let url = "postgres://reel:topsecret@127.0.0.1:9/reel";
    let out = sb.run(&["migrate"], &[("REEL_DATABASE__URL", url)]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("postgres://reel:***@127.0.0.1:9/reel"),
        "{stderr}"
    );
    assert!(!stderr.contains("topsecret"), "{stderr}");
}

#[test]
fn migrate_creates_the_sqlite_file_in_wal_mode() {
    let sb = Sandbox::sqlite();
    let out = sb.run(&["migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(sb.path().join("reel.db").exists());
    // Bytes 18 and 19 of an SQLite header are 2 when the file is in WAL mode.
    let header = std::fs::read(sb.path().join("reel.db")).unwrap();
    assert_eq!((header[18], header[19]), (2, 2), "not in WAL mode");
    let again = sb.run(&["migrate"], &[]);
    assert!(again.status.success(), "migrations are idempotent");
}

#[test]
fn render_writes_a_decodable_mp4_and_refuses_bad_input() {
    let sb = Sandbox::sqlite();
    let out = sb.run(
        &[
            "render",
            "a boy throws a ball",
            "-o",
            "clip.mp4",
            "--duration",
            "1",
            "--size",
            "160x96",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("test pattern"),
        "{}",
        text(&out.stdout)
    );
    let info = reel_engine::probe(&sb.path().join("clip.mp4")).unwrap();
    assert_eq!(
        (info.video_codec.as_str(), info.audio_codec.as_deref()),
        ("h264", Some("aac"))
    );
    assert_eq!((info.width, info.height, info.frames), (160, 96, 24));

    for (args, fragment) in [
        (
            vec!["render", "x", "-o", "bad.mp4", "--duration", "99"],
            "out of range",
        ),
        (vec!["render", "   ", "-o", "bad.mp4"], "what to film"),
        (vec!["render", "x", "-o", "bad.mp4", "--seed=-3"], "seed"),
    ] {
        let out = sb.run(&args, &[]);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            text(&out.stderr).contains(fragment),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert!(
        !sb.path().join("bad.mp4").exists(),
        "refused renders write nothing"
    );
}

#[tokio::test]
async fn chat_runs_the_whole_flow_and_jobs_commands_see_it() {
    let sb = Sandbox::sqlite();
    let mut cmd = sb.reel(&["chat", "--user", "alice"]);
    cmd.stdin(Stdio::piped());
    cmd.env("REEL_RENDER__WIDTH", "128")
        .env("REEL_RENDER__HEIGHT", "96");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"/help\n/video a cat on a skateboard duration:1 seed:7\n/video\n/bogus\n/video x duration:99\n")
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "reel chat did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for fragment in [
        "/video <what to film>",
        "#1 queued, position 1",
        "Tell me what to film",
        "I don't know the command /bogus",
        "duration:99 is out of range",
        "✔ #1 “a cat on a skateboard” · seed 7 · 1 s · 128×96 · testsrc (a test pattern, not a video model)",
        "clip written to ",
    ] {
        assert!(stdout.contains(fragment), "`{fragment}` missing from:\n{stdout}");
    }
    let path = stdout
        .split("clip written to ")
        .nth(1)
        .unwrap()
        .split(" (")
        .next()
        .unwrap();
    let info = reel_engine::probe(std::path::Path::new(path)).unwrap();
    assert_eq!((info.width, info.height, info.frames), (128, 96, 24));

    let store = sb.store().await;
    let jobs = store.list_jobs(None, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "refused commands queued nothing");
    assert_eq!(jobs[0].state, reel_store::JobState::Delivered);

    let list = sb.run(&["jobs", "list"], &[]);
    assert!(
        text(&list.stdout).contains("delivered"),
        "{}",
        text(&list.stdout)
    );
    let show = sb.run(&["jobs", "show", "1"], &[]);
    let shown = text(&show.stdout);
    for kind in ["queued", "claimed", "encoded", "posting", "delivered"] {
        assert!(shown.contains(kind), "event {kind} missing: {shown}");
    }
    let unknown = sb.run(&["jobs", "show", "999"], &[]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("there is no job #999"),
        "{}",
        text(&unknown.stderr)
    );
    let retry = sb.run(&["jobs", "retry", "1"], &[]);
    assert!(
        text(&retry.stderr).contains("cannot be retried"),
        "{}",
        text(&retry.stderr)
    );
    assert_eq!(
        store.job(1).await.unwrap().state,
        reel_store::JobState::Delivered,
        "unchanged"
    );
}

#[test]
fn help_lists_every_command() {
    let sb = Sandbox::sqlite();
    let mut cmd = sb.reel(&["--help"]);
    cmd.stdin(Stdio::null());
    let out = run_bounded(cmd, Duration::from_secs(20));
    let stdout = text(&out.stdout);
    for command in [
        "serve", "worker", "render", "chat", "jobs", "migrate", "config", "pull",
    ] {
        assert!(stdout.contains(command), "{command} missing: {stdout}");
    }
}
