use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
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
    pub(crate) inner: Arc<dyn ObjectStore>,
    pub(crate) local: Option<Arc<LocalFileSystem>>,
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

    /// Every clip object (keys made by [`ClipStore::new_key`] only; other
    /// objects sharing the store are not reel's clips) with its last
    /// modification time in unix milliseconds.
    pub async fn list_clips(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let prefix = ObjectPath::from("clips");
        let mut listing = self.inner.list(Some(&prefix));
        let mut found = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = match meta {
                Ok(meta) => meta,
                // A local file deleted while the listing ran.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(error) => return Err(error.into()),
            };
            let key = meta.location.to_string();
            if is_clip_key(&key) {
                found.push((key, meta.last_modified.timestamp_millis()));
            }
        }
        Ok(found)
    }

    /// The file behind `key` when clips are kept in a local folder.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        let local = self.local.as_ref()?;
        local.path_to_filesystem(&ObjectPath::from(key)).ok()
    }
}

/// Whether `key` has the shape [`ClipStore::new_key`] gives.
fn is_clip_key(key: &str) -> bool {
    let mut parts = key.split('/');
    let (Some("clips"), Some(job), Some(file), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let nonce = file.strip_suffix(".mp4").unwrap_or("");
    !job.is_empty()
        && job.bytes().all(|b| b.is_ascii_digit())
        && nonce.len() == 16
        && nonce.bytes().all(|b| b.is_ascii_hexdigit())
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

    #[tokio::test]
    async fn lists_only_reel_s_clip_keys() {
        let dir = tempfile::tempdir().unwrap();
        let clips = ClipStore::open(&ClipStoreConfig::Local {
            root: dir.path().to_path_buf(),
        })
        .unwrap();
        let key = ClipStore::new_key(7);
        for other in [key.as_str(), "clips/7/notes.txt", "cache/7/shrunk.mp4"] {
            clips.put(other, Bytes::from_static(b"x")).await.unwrap();
        }
        let listed = clips.list_clips().await.unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].0, key);
        assert!(listed[0].1 > 1_700_000_000_000, "a unix time in ms");
        assert!(!is_clip_key("clips/x/0123456789abcdef.mp4"));
        assert!(!is_clip_key("clips/1/0123456789abcdef.mp4/more"));
    }
}
