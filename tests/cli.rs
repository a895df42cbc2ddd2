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
            "REEL_ENGINE__MODEL",
            "magic",
            &["engine.model", "testsrc", "ltx-video"],
        ),
        (
            "REEL_ENGINE__MODEL",
            "ltx-video",
            &["engine.model_dir", "required"],
        ),
        (
            "REEL_ENGINE__VAE_TILING",
            "sometimes",
            &["engine.vae_tiling", "auto, on, off"],
        ),
        (
            "REEL_ENGINE__CHECKPOINT",
            "0.9.9",
            &["engine.checkpoint", "0.9.5", "distilled"],
        ),
        (
            "REEL_ENGINE__VAE_MEMORY_BUDGET_GIB",
            "-1",
            &["engine.vae_memory_budget_gib"],
        ),
        (
            "REEL_CHAT__ADAPTER_START_TRIES",
            "0",
            &["chat.adapter_start_tries", "1 to 100"],
        ),
        (
            "REEL_CHAT__ADAPTER_START_RETRY_MAX_MS",
            "10",
            &["chat.adapter_start_retry_max_ms", "1000 to 600000"],
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
    let info = reel_media::probe(&sb.path().join("clip.mp4")).unwrap();
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
    let info = reel_media::probe(std::path::Path::new(path)).unwrap();
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

fn tiny_ltx_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/tests/fixtures/ltx/pipeline")
}

#[test]
fn render_with_ltx_video_writes_an_mp4_and_frames_matching_diffusers() {
    let sb = Sandbox::sqlite();
    let fixtures = tiny_ltx_dir();
    let model_dir = fixtures.join("tiny");
    let reference = fixtures.join("t2v.safetensors");
    // The fixture's run: 9 frames (1 s at 9 fps) of 64x64, 3 steps, CFG 3.
    let envs = [
        ("REEL_RENDER__FPS", "9"),
        ("REEL_ENGINE__STEPS", "3"),
        ("REEL_ENGINE__GUIDANCE_SCALE", "3.0"),
    ];
    let out = sb.run(
        &[
            "render",
            "a cat walks on the beach",
            "-o",
            "ltx.mp4",
            "--duration",
            "1",
            "--size",
            "64x64",
            "--model-dir",
            model_dir.to_str().unwrap(),
            "--latents",
            reference.to_str().unwrap(),
            "--frames-out",
            "frames",
        ],
        &envs,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("ltx-video"), "{stdout}");
    let info = reel_media::probe(&sb.path().join("ltx.mp4")).unwrap();
    assert_eq!((info.width, info.height, info.frames), (64, 64, 9));
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));

    assert_frames_match_diffusers(&sb.path().join("frames"), &reference, "--latents");
}

/// The lossless frames `reel render --frames-out` wrote (9 of 64x64) against
/// diffusers' (f16 in 0..1): 8-bit rounding (half a level) plus the
/// pipeline's own tolerance (2e-3).
fn assert_frames_match_diffusers(dir: &std::path::Path, reference: &std::path::Path, what: &str) {
    let tensors = candle_core::safetensors::load(reference, &candle_core::Device::Cpu).unwrap();
    let expected = tensors["frames"]
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let frame_len = 64 * 64 * 3;
    let mut worst = 0f32;
    for i in 0..9 {
        let ppm = std::fs::read(dir.join(format!("frame-{i:05}.ppm"))).unwrap();
        let header = b"P6\n64 64\n255\n";
        assert_eq!(&ppm[..header.len()], header);
        let pixels = &ppm[header.len()..];
        assert_eq!(pixels.len(), frame_len);
        for (j, &p) in pixels.iter().enumerate() {
            let diff = (f32::from(p) / 255.0 - expected[i * frame_len + j]).abs();
            worst = worst.max(diff);
        }
    }
    println!("reel render {what}: max abs error {worst:e} (tolerance 4e-3)");
    assert!(worst <= 0.5 / 255.0 + 2e-3, "max abs error {worst}");
}

#[test]
fn render_with_a_reference_image_matches_diffusers_image_to_video() {
    let sb = Sandbox::sqlite();
    let fixtures = tiny_ltx_dir();
    let reference = fixtures.join("i2v.safetensors");
    // The fixture's condition image, written as a PPM for `--image`.
    let tensors = candle_core::safetensors::load(&reference, &candle_core::Device::Cpu).unwrap();
    let image = tensors["image"]
        .flatten_all()
        .unwrap()
        .to_vec1::<u8>()
        .unwrap();
    let mut ppm = b"P6\n64 64\n255\n".to_vec();
    ppm.extend_from_slice(&image);
    std::fs::write(sb.path().join("face.ppm"), ppm).unwrap();
    std::fs::write(sb.path().join("broken.png"), b"not a picture").unwrap();

    let envs = [
        ("REEL_RENDER__FPS", "9"),
        ("REEL_ENGINE__STEPS", "3"),
        ("REEL_ENGINE__GUIDANCE_SCALE", "1.0"),
    ];
    let args = |image: &str, output: &str| {
        vec![
            "render".to_string(),
            "a dog runs through the snow".into(),
            "-o".into(),
            output.into(),
            "--duration".into(),
            "1".into(),
            "--size".into(),
            "64x64".into(),
            "--model-dir".into(),
            fixtures.join("tiny").to_str().unwrap().into(),
            "--latents".into(),
            reference.to_str().unwrap().into(),
            "--image".into(),
            image.into(),
            "--frames-out".into(),
            "frames".into(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sb.run(&args, &envs)
    };

    let out = run(args("face.ppm", "i2v.mp4"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_frames_match_diffusers(&sb.path().join("frames"), &reference, "--image");

    // A file that is not a picture: a clear message naming it, no clip.
    let out = run(args("broken.png", "broken.mp4"));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("broken.png") && stderr.contains("could not be opened as an image"),
        "{stderr}"
    );
    assert!(!sb.path().join("broken.mp4").exists());
}

#[test]
fn render_rounds_to_the_model_and_says_so() {
    let sb = Sandbox::sqlite();
    let model_dir = tiny_ltx_dir().join("tiny");
    let out = sb.run(
        &[
            "render",
            "a dog",
            "-o",
            "round.mp4",
            "--duration",
            "1",
            "--size",
            "96x64",
            "--model-dir",
            model_dir.to_str().unwrap(),
        ],
        &[("REEL_RENDER__FPS", "12"), ("REEL_ENGINE__STEPS", "2")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("12 frames rounded to 9"), "{stderr}");
    let info = reel_media::probe(&sb.path().join("round.mp4")).unwrap();
    assert_eq!((info.width, info.height, info.frames), (96, 64, 9));
}

#[test]
fn a_bad_model_dir_stops_render_and_worker_at_start() {
    let sb = Sandbox::sqlite();
    let out = sb.run(
        &[
            "render",
            "x",
            "-o",
            "bad.mp4",
            "--model-dir",
            "no-such-model",
        ],
        &[],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no-such-model") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!sb.path().join("bad.mp4").exists());

    // A worker configured with a partial directory refuses to start.
    let partial = sb.path().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::copy(
        tiny_ltx_dir().join("tiny/model_index.json"),
        partial.join("model_index.json"),
    )
    .unwrap();
    let mut worker = sb.reel(&["worker"]);
    worker
        .env("REEL_ENGINE__MODEL", "ltx-video")
        .env("REEL_ENGINE__MODEL_DIR", &partial);
    let out = run_bounded(worker, Duration::from_secs(60));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("partial") && stderr.contains("missing"),
        "{stderr}"
    );
}
