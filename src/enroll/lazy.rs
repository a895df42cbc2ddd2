//! The registration checks as the running bot holds them: the models are
//! loaded at the first recording, not at start (a bot that nobody registers
//! with never pays for Whisper and the face models, and one whose operator
//! has not pulled them yet still serves everything else). A failed load is
//! logged for the operator, the person told to try again later, and the
//! load tried again at the next recording (the models may have been pulled
//! meanwhile).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use reel_consent::{RecordingRefused, RecordingVerifier, VerifiedRecording};
use tokio::sync::Mutex;

use super::{wording, ModelVerifier};
use crate::config::Config;

pub struct LazyVerifier {
    config: Config,
    loaded: Mutex<Option<Arc<ModelVerifier>>>,
}

impl LazyVerifier {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            loaded: Mutex::new(None),
        }
    }

    async fn models(&self) -> Result<Arc<ModelVerifier>, RecordingRefused> {
        // Held across the load: two recordings at once load the models once.
        let mut loaded = self.loaded.lock().await;
        if let Some(verifier) = loaded.as_ref() {
            return Ok(verifier.clone());
        }
        let config = self.config.clone();
        let load = tokio::task::spawn_blocking(move || ModelVerifier::from_config(&config)).await;
        match load {
            Ok(Ok(verifier)) => {
                let verifier = Arc::new(verifier);
                *loaded = Some(verifier.clone());
                Ok(verifier)
            }
            Ok(Err(error)) => {
                tracing::error!(
                    error = %format!("{error:#}"),
                    "cameo registration cannot check recordings: run `reel pull whisper-base` and `reel pull face-models` (perception.whisper_model_dir, perception.face_model_dir)"
                );
                Err(wording::unavailable())
            }
            Err(panic) => {
                tracing::error!(error = %panic, "loading the registration models panicked");
                Err(wording::unavailable())
            }
        }
    }
}

#[async_trait]
impl RecordingVerifier for LazyVerifier {
    async fn verify(
        &self,
        recording: &Path,
        phrase: &str,
    ) -> Result<VerifiedRecording, RecordingRefused> {
        self.models().await?.verify(recording, phrase).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_models_refuse_with_try_later_and_are_looked_for_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::load(None).unwrap();
        config.perception.whisper_model_dir = dir.path().join("no-whisper");
        config.perception.face_model_dir = dir.path().join("no-faces");
        let lazy = LazyVerifier::new(config);
        let recording = dir.path().join("take.mp4");
        for _ in 0..2 {
            let refused = lazy.verify(&recording, "amber kettle").await.unwrap_err();
            assert_eq!(refused, wording::unavailable());
            assert!(lazy.loaded.lock().await.is_none(), "nothing cached");
        }
    }
}
