//! Object storage behind one interface (`object_store`): a local folder by default
//! (`file://data/objects`), any S3-compatible service in production (`s3://bucket[/prefix]` with
//! the usual `AWS_*` variables, `AWS_ENDPOINT_URL` for MinIO/Garage, and
//! `AWS_SERVER_SIDE_ENCRYPTION` passed through).
//!
//! Objects are written once: a key that exists is never overwritten, because a new document
//! version always gets a new key. Uploads and downloads stream; uploads above
//! [`MULTIPART_THRESHOLD`] go up as S3 multipart uploads. The SHA-256 of every upload is computed
//! while it streams.

pub mod testing;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Uploads at least this large use multipart (and each part is this large).
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported STORAGE_URL {0:?}: use file://FOLDER or s3://BUCKET[/PREFIX]")]
    UnsupportedUrl(String),
    #[error("cannot create the storage folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("the storage folder {0} is missing or not a folder")]
    FolderGone(String),
    #[error("invalid object key {0:?}")]
    BadKey(String),
    #[error("object {0} already exists (objects are never overwritten)")]
    Exists(String),
    #[error("object {0} not found")]
    NotFound(String),
    #[error("reading the upload failed: {0}")]
    Source(std::io::Error),
    #[error("object store error: {0}")]
    Store(object_store::Error),
}

impl From<object_store::Error> for StorageError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => StorageError::NotFound(path),
            object_store::Error::AlreadyExists { path, .. } => StorageError::Exists(path),
            other => StorageError::Store(other),
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// An object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// The configured store.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// `file:///abs/folder` or `s3://bucket/prefix`, for logs and pages (no secrets).
    describe: String,
    /// The folder of a local store.
    root: Option<PathBuf>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("url", &self.describe)
            .finish()
    }
}

fn key_path(key: &str) -> Result<Path> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if !ok {
        return Err(StorageError::BadKey(key.to_string()));
    }
    Path::parse(key).map_err(|_| StorageError::BadKey(key.to_string()))
}

impl Storage {
    /// Opens the store named by `url` (`STORAGE_URL`). For S3 the credentials, region, endpoint
    /// and encryption come from the `AWS_*` environment variables.
    pub fn from_url(url: &str) -> Result<Self> {
        if let Some(folder) = url.strip_prefix("file://") {
            let folder = PathBuf::from(folder);
            std::fs::create_dir_all(&folder).map_err(|source| StorageError::Folder {
                path: folder.display().to_string(),
                source,
            })?;
            let abs = folder.canonicalize().unwrap_or(folder.clone());
            let store = LocalFileSystem::new_with_prefix(&abs)
                .map_err(StorageError::Store)?
                .with_automatic_cleanup(true);
            return Ok(Self {
                store: Arc::new(store),
                describe: format!("file://{}", abs.display()),
                root: Some(abs),
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StorageError::UnsupportedUrl(url.to_string()));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            let endpoint = std::env::var("AWS_ENDPOINT_URL")
                .or_else(|_| std::env::var("AWS_ENDPOINT"))
                .unwrap_or_default();
            if endpoint.starts_with("http://") {
                builder = builder.with_allow_http(true);
            }
            if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err()
            {
                builder = builder.with_region("us-east-1");
            }
            let s3 = builder.build().map_err(StorageError::Store)?;
            let prefix = prefix.trim_matches('/');
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            };
            return Ok(Self {
                store,
                describe: format!("s3://{bucket}/{prefix}"),
                root: None,
            });
        }
        Err(StorageError::UnsupportedUrl(url.to_string()))
    }

    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Stores `data` under a new `key` (refused if the key exists).
    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<StoredObject> {
        let path = key_path(key)?;
        let size = data.len() as u64;
        let sha256 = hex::encode(Sha256::digest(&data));
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        self.store
            .put_opts(&path, PutPayload::from(data), opts)
            .await
            .map_err(|e| match e {
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. } => StorageError::Exists(key.to_string()),
                other => other.into(),
            })?;
        Ok(StoredObject {
            key: key.to_string(),
            size,
            sha256,
        })
    }

    /// Streams an upload of any size under a new `key`, hashing as it goes; large uploads use
    /// multipart. On a failed source nothing is left behind.
    pub async fn put_stream<S>(&self, key: &str, mut source: S) -> Result<StoredObject>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Unpin + Send,
    {
        let path = key_path(key)?;
        if self.exists(key).await? {
            return Err(StorageError::Exists(key.to_string()));
        }
        let mut writer = BufWriter::with_capacity(self.store.clone(), path, MULTIPART_THRESHOLD);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = source.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(StorageError::Source(e));
                }
            };
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if let Err(e) = writer.write_all(&chunk).await {
                let _ = writer.abort().await;
                return Err(StorageError::Source(e));
            }
        }
        writer.shutdown().await.map_err(StorageError::Source)?;
        Ok(StoredObject {
            key: key.to_string(),
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.store.head(&key_path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn size(&self, key: &str) -> Result<u64> {
        Ok(self.store.head(&key_path(key)?).await?.size)
    }

    /// The object as a stream of chunks, with its size.
    pub async fn get_stream(&self, key: &str) -> Result<(u64, BoxStream<'static, Result<Bytes>>)> {
        let result = self.store.get(&key_path(key)?).await?;
        let size = result.meta.size;
        let stream = result.into_stream().map_err(StorageError::from).boxed();
        Ok((size, stream))
    }

    /// A byte range of the object (HTTP range requests).
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        Ok(self.store.get_range(&key_path(key)?, range).await?)
    }

    /// A byte range of the object as a stream (large ranges are not buffered).
    pub async fn get_range_stream(
        &self,
        key: &str,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let opts = object_store::GetOptions {
            range: Some(object_store::GetRange::Bounded(range)),
            ..Default::default()
        };
        let result = self.store.get_opts(&key_path(key)?, opts).await?;
        Ok(result.into_stream().map_err(StorageError::from).boxed())
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Bytes> {
        Ok(self.store.get(&key_path(key)?).await?.bytes().await?)
    }

    /// Recomputes an object's SHA-256 by streaming it (integrity checks).
    pub async fn sha256_of(&self, key: &str) -> Result<String> {
        let (_, mut stream) = self.get_stream(key).await?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk?);
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// Every object under `prefix` (all when empty), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let prefix = if prefix.is_empty() {
            None
        } else {
            Some(key_path(prefix.trim_end_matches('/'))?)
        };
        let mut out: Vec<ObjectInfo> = self
            .store
            .list(prefix.as_ref())
            .map_ok(|m| ObjectInfo {
                key: m.location.to_string(),
                size: m.size,
            })
            .try_collect()
            .await?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        Ok(self.store.delete(&key_path(key)?).await?)
    }

    /// Whether the store takes and gives back objects (readiness): a local folder must still
    /// exist (a write would quietly make a new, empty one), and a small probe object is
    /// written, read back and deleted. A store that refuses deletes (write-once buckets) is
    /// still ready: the probe's key is one per process, so at most one stays behind.
    pub async fn probe(&self) -> Result<()> {
        if let Some(root) = &self.root
            && !std::fs::metadata(root).is_ok_and(|m| m.is_dir())
        {
            return Err(StorageError::FolderGone(root.display().to_string()));
        }
        static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let key = KEY.get_or_init(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            format!("readyz/probe-{}-{nanos:x}", std::process::id())
        });
        let path = key_path(key)?;
        let data = Bytes::from(format!("readyz {}", std::process::id()));
        let opts = PutOptions {
            mode: PutMode::Overwrite,
            ..Default::default()
        };
        self.store
            .put_opts(&path, PutPayload::from(data.clone()), opts)
            .await?;
        let back = self.store.get(&path).await?.bytes().await?;
        if back != data {
            return Err(StorageError::Store(object_store::Error::Generic {
                store: "probe",
                source: "the probe object read back differs from what was written".into(),
            }));
        }
        // A refused delete is not a failure (see above).
        let _ = self.store.delete(&path).await;
        Ok(())
    }

    /// Whether the store answers (readiness): a listing of at most one entry.
    pub async fn ping(&self) -> Result<()> {
        let mut listing = self.store.list(None);
        match listing.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_plain_relative_paths() {
        for bad in ["", "/abs", "a/../b", "a//b", "./a", "a/"] {
            assert!(key_path(bad).is_err(), "{bad}");
        }
        assert!(key_path("permits/2025/0142307703072025/v1-original.pdf").is_ok());
    }

    #[test]
    fn urls_are_checked() {
        assert!(matches!(
            Storage::from_url("ftp://x"),
            Err(StorageError::UnsupportedUrl(_))
        ));
        assert!(matches!(
            Storage::from_url("s3://"),
            Err(StorageError::UnsupportedUrl(_))
        ));
    }
}
