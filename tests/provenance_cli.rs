//! Provenance through the `reel` binary (issue 15): a rendered clip carries
//! content credentials that `reel verify` accepts against the CA `reel
//! keygen` made; a flipped byte fails verification; a missing or malformed
//! signing key stops the render before it starts, writing nothing; signing
//! off is an operator's explicit choice and the clip then says it is unsigned.

mod common;

use common::{text, Sandbox};

fn render(sandbox: &Sandbox, out: &str, envs: &[(&str, &str)]) -> std::process::Output {
    sandbox.run(
        &[
            "render",
            "a boy throws a ball",
            "-o",
            out,
            "--duration",
            "1",
        ],
        envs,
    )
}

#[test]
fn a_rendered_clip_verifies_against_the_ca_and_a_flipped_byte_does_not() {
    let sandbox = Sandbox::sqlite();
    let out = render(&sandbox, "clip.mp4", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(", signed"),
        "{}",
        text(&out.stdout)
    );

    let clip = sandbox.path().join("clip.mp4");
    let verified = sandbox.run(&["verify", clip.to_str().unwrap()], &[]);
    let said = text(&verified.stdout);
    assert!(
        verified.status.success(),
        "{said}{}",
        text(&verified.stderr)
    );
    // The sandbox names its CA in [secrets], so the chain is checked.
    assert!(said.contains("trusted"), "{said}");
    assert!(said.contains("c2pa.created"), "{said}");
    assert!(said.contains("trainedAlgorithmicMedia"), "{said}");
    assert!(said.contains("model: testsrc"), "{said}");

    // One byte in the middle of the file (the video data of a clip this
    // small) breaks the hash the manifest signs.
    let mut bytes = std::fs::read(&clip).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let tampered = sandbox.path().join("tampered.mp4");
    std::fs::write(&tampered, &bytes).unwrap();
    let refused = sandbox.run(&["verify", tampered.to_str().unwrap()], &[]);
    assert!(!refused.status.success(), "{}", text(&refused.stdout));
    assert!(
        text(&refused.stderr).contains("do not validate"),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn a_missing_or_malformed_signing_key_stops_the_render_and_writes_nothing() {
    let sandbox = Sandbox::sqlite();
    let missing = sandbox.path().join("no-such-key.pem");
    let garbage = sandbox.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN PRIVATE KEY-----\nnot a key\n").unwrap();
    for (key_file, expected) in [
        (missing.to_str().unwrap(), "no-such-key.pem"),
        (garbage.to_str().unwrap(), "not usable"),
    ] {
        let out = render(
            &sandbox,
            "refused.mp4",
            &[("REEL_SECRETS__SIGNING_KEY_FILE", key_file)],
        );
        assert!(!out.status.success(), "{key_file}: {}", text(&out.stdout));
        let said = text(&out.stderr);
        assert!(said.contains(expected), "{key_file}: {said}");
        assert!(
            !sandbox.path().join("refused.mp4").exists(),
            "{key_file}: nothing is rendered without a usable key"
        );
    }
}

#[test]
fn with_signing_turned_off_the_clip_says_it_is_unsigned() {
    let sandbox = Sandbox::sqlite();
    let out = render(&sandbox, "plain.mp4", &[("REEL_PROVENANCE__SIGN", "false")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("NOT signed"),
        "{}",
        text(&out.stdout)
    );
    let clip = sandbox.path().join("plain.mp4");
    let verified = sandbox.run(&["verify", clip.to_str().unwrap()], &[]);
    assert!(!verified.status.success());
    assert!(
        text(&verified.stderr).contains("no content credentials"),
        "{}",
        text(&verified.stderr)
    );
}
