use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use rand::Rng;

use crate::error::StoreError;

/// Where clips go: a local folder (default) or an S3-compatible bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClipStoreConfig {
    Local {
        root: PathBuf,
    },
    /// Credentials come from the standard AWS_* environment variables.
    S3 {
        bucket: String,
        region: String,
        endpoint: Option<String>,
        allow_http: bool,
    },
}

/// Clip storage through object_store. Keys are `clips/<job id>/<random>.mp4`:
/// never built from user text, and not guessable from the job id alone.
#[derive(Clone, Debug)]
pub struct ClipStore {
    inner: Arc<dyn ObjectStore>,
    local: Option<Arc<LocalFileSystem>>,
}

impl ClipStore {
    pub fn open(config: &ClipStoreConfig) -> Result<Self, StoreError> {
        match config {
            ClipStoreConfig::Local { root } => {
                std::fs::create_dir_all(root).map_err(|e| {
                    StoreError::ClipConfig(format!(
                        "cannot create clip folder {}: {e}",
                        root.display()
                    ))
                })?;
                let local = Arc::new(LocalFileSystem::new_with_prefix(root)?);
                Ok(Self {
                    inner: local.clone(),
                    local: Some(local),
                })
            }
            ClipStoreConfig::S3 {
                bucket,
                region,
                endpoint,
                allow_http,
            } => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_allow_http(*allow_http);
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                let s3 = builder
                    .build()
                    .map_err(|e| StoreError::ClipConfig(e.to_string()))?;
                Ok(Self {
                    inner: Arc::new(s3),
                    local: None,
                })
            }
        }
    }

    /// A fresh key for a clip of `job_id`.
    pub fn new_key(job_id: i64) -> String {
        let nonce: u64 = rand::thread_rng().gen();
        format!("clips/{job_id}/{nonce:016x}.mp4")
    }

    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), StoreError> {
        self.inner
            .put(&ObjectPath::from(key), PutPayload::from_bytes(data))
            .await?;
        Ok(())
    }

    pub async fn put_file(&self, key: &str, file: &Path) -> Result<u64, StoreError> {
        let data = tokio::fs::read(file)
            .await
            .map_err(|e| StoreError::ClipConfig(format!("cannot read {}: {e}", file.display())))?;
        let len = data.len() as u64;
        self.put(key, Bytes::from(data)).await?;
        Ok(len)
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        Ok(self
            .inner
            .get(&ObjectPath::from(key))
            .await?
            .bytes()
            .await?)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The file behind `key` when clips are kept in a local folder.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        let local = self.local.as_ref()?;
        local.path_to_filesystem(&ObjectPath::from(key)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_round_trip_and_keys_ignore_user_text() {
        let dir = tempfile::tempdir().unwrap();
        let clips = ClipStore::open(&ClipStoreConfig::Local {
            root: dir.path().join("clips-root"),
        })
        .unwrap();
        let key = ClipStore::new_key(42);
        assert!(
            key.starts_with("clips/42/") && key.ends_with(".mp4"),
            "{key}"
        );
        assert_ne!(key, ClipStore::new_key(42));
        clips
            .put(&key, Bytes::from_static(b"mp4 bytes"))
            .await
            .unwrap();
        assert_eq!(
            clips.get(&key).await.unwrap(),
            Bytes::from_static(b"mp4 bytes")
        );
        let path = clips.local_path(&key).unwrap();
        assert!(path.starts_with(dir.path().join("clips-root")), "{path:?}");
        assert_eq!(std::fs::read(&path).unwrap(), b"mp4 bytes");
        clips.delete(&key).await.unwrap();
        assert!(!path.exists());
        assert!(clips.get(&key).await.is_err());
        clips.delete(&key).await.unwrap();
    }
}
