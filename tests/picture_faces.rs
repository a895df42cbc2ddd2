//! The app's face check on `/video` pictures with the real face models
//! (`scripts/setup-face-models`; REEL_TEST_FACE_MODELS or the reel cache;
//! the test fails without them): a portrait is refused, a cat is not, and
//! missing models refuse every picture.

use std::path::PathBuf;
use std::sync::Arc;

use reel::picture_screen::LazyFaceScreen;
use reel_bots::core::{FaceScreen, ScreenUnavailable};

fn face_model_dir() -> PathBuf {
    let dir = std::env::var_os("REEL_TEST_FACE_MODELS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            home.unwrap_or_default().join(".cache/reel/face-models")
        });
    assert!(
        dir.join("detector.safetensors").is_file(),
        "the real face models are missing from {}: run scripts/setup-face-models or set \
         REEL_TEST_FACE_MODELS",
        dir.display()
    );
    dir
}

fn photo(name: &str) -> Arc<reel_media::RgbImage> {
    let path = format!(
        "{}/engine/tests/fixtures/faces/images/{name}.png",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(path).unwrap();
    Arc::new(reel_media::decode_picture(&bytes).unwrap())
}

#[tokio::test]
async fn a_portrait_has_a_face_and_a_cat_has_none() {
    let mut config = reel::config::Config::load(None).unwrap();
    config.perception.face_model_dir = face_model_dir();
    let screen = LazyFaceScreen::new(config);
    assert!(screen.faces(photo("grace_hopper")).await.unwrap() >= 1);
    assert_eq!(screen.faces(photo("chelsea")).await.unwrap(), 0);
}

#[tokio::test]
async fn missing_models_refuse_every_picture() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = reel::config::Config::load(None).unwrap();
    config.perception.face_model_dir = dir.path().join("no-faces");
    let screen = LazyFaceScreen::new(config);
    for _ in 0..2 {
        assert_eq!(screen.faces(photo("chelsea")).await, Err(ScreenUnavailable));
    }
}
