//! `scripts/quickstart` builds in the open (issue 11, fault 22: it ran
//! `cargo run --quiet`, and a new user watched a silent terminal for the
//! whole first build). Run with a stand-in `cargo` that records its calls.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn quickstart_shows_the_build_before_it_starts_reel() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    let cargo = dir.path().join("cargo");
    std::fs::write(
        &cargo,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/quickstart");
    let out = Command::new(script)
        .env("PATH", path)
        .output()
        .expect("run scripts/quickstart");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    let build = calls
        .iter()
        .position(|c| c.starts_with("build"))
        .expect("a cargo build");
    assert!(
        !calls[build].contains("--quiet") && !calls[build].split(' ').any(|a| a == "-q"),
        "the build is not silenced: {calls:?}"
    );
    // Every run (keygen on first start, then the chat) comes after the
    // build, so none of them compiles silently.
    let first_run = calls
        .iter()
        .position(|c| c.starts_with("run"))
        .expect("cargo run");
    assert!(build < first_run, "built before it runs: {calls:?}");
    assert!(
        calls.last().is_some_and(|c| c.ends_with("-- chat")),
        "{calls:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("building reel"),
        "the user is told what is happening"
    );
}
