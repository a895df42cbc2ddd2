//! The face check on pictures sent with `/video`: the face models behind
//! cameo registration (`reel pull face-models`), loaded at the first
//! picture, not at start. If they cannot be loaded the operator's log says
//! what to pull, the picture is refused (never accepted unchecked), and the
//! load is tried again at the next picture.

use std::sync::Arc;

use async_trait::async_trait;
use candle_core::Device;
use reel_bots::core::{FaceScreen, ScreenUnavailable};
use reel_engine::perception::faces::{FaceAnalyzer, FaceModels};
use reel_engine::RgbImage;
use tokio::sync::Mutex;

use crate::config::Config;

pub struct LazyFaceScreen {
    config: Config,
    loaded: Mutex<Option<Arc<dyn FaceAnalyzer>>>,
}

impl LazyFaceScreen {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            loaded: Mutex::new(None),
        }
    }

    async fn models(&self) -> Result<Arc<dyn FaceAnalyzer>, ScreenUnavailable> {
        let mut loaded = self.loaded.lock().await;
        if let Some(models) = loaded.as_ref() {
            return Ok(models.clone());
        }
        let perception = self.config.perception.clone();
        let load = tokio::task::spawn_blocking(move || {
            FaceModels::load(
                &perception.face_model_dir,
                &Device::Cpu,
                perception.face_limits(),
            )
        })
        .await;
        match load {
            Ok(Ok(models)) => {
                let models: Arc<dyn FaceAnalyzer> = Arc::new(models);
                *loaded = Some(models.clone());
                Ok(models)
            }
            Ok(Err(error)) => {
                tracing::error!(
                    %error,
                    "pictures sent with /video cannot be checked for faces, so they are refused: run `reel pull face-models` (perception.face_model_dir)"
                );
                Err(ScreenUnavailable)
            }
            Err(panic) => {
                tracing::error!(error = %panic, "loading the face models panicked");
                Err(ScreenUnavailable)
            }
        }
    }
}

#[async_trait]
impl FaceScreen for LazyFaceScreen {
    async fn faces(&self, image: Arc<RgbImage>) -> Result<usize, ScreenUnavailable> {
        let models = self.models().await?;
        let found = tokio::task::spawn_blocking(move || models.analyze(&image)).await;
        match found {
            Ok(Ok(faces)) => Ok(faces.len()),
            Ok(Err(error)) => {
                tracing::error!(%error, "the face models failed on a /video picture");
                Err(ScreenUnavailable)
            }
            Err(panic) => {
                tracing::error!(error = %panic, "the face check panicked");
                Err(ScreenUnavailable)
            }
        }
    }
}
