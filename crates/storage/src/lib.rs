//! Object storage behind one interface (`object_store`): a local folder by default
//! (`file://data/objects`), any S3-compatible service in production (`s3://bucket[/prefix]` with
//! the usual `AWS_*` variables, `AWS_ENDPOINT_URL` for MinIO/Garage, and
//! `AWS_SERVER_SIDE_ENCRYPTION` passed through).
//!
//! Objects are written once and never overwritten. A new object ([`Storage::put_new`]) goes
//! under the key asked for only when the store itself refuses a second writer of that key: a
//! single create-only PUT (`If-None-Match: *`) on a store that honours it. Whether it does is
//! probed once ([`Storage::conditional_writes`]: a create-only write twice on a probe key);
//! otherwise — a store that ignores `If-None-Match` (s3rver), or an upload of at least
//! [`MULTIPART_THRESHOLD`] bytes, which goes up as a multipart upload whose completion
//! `object_store` cannot make create-only — the object gets a key of its own with a random
//! suffix (`v1-original-<16 hex>.pdf`) that no other writer uses, and the caller records the
//! key it was given. An object is deleted only when it is provably the one this writer stored
//! ([`Storage::delete_own`]: same ETag and same SHA-256). S3 objects carry their real
//! `Content-Type` and `x-amz-meta-sha256` plus the caller's metadata, so outside tools can
//! check them. The SHA-256 of every upload is computed while it streams.

pub mod testing;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    Attribute, AttributeValue, Attributes, GetOptions, ObjectStore, PutMode, PutMultipartOptions,
    PutOptions, PutPayload, WriteMultipart,
};
use sha2::{Digest, Sha256};

/// Uploads at least this large use multipart (and each part is this large).
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;

/// The user metadata key holding an object's SHA-256 (`x-amz-meta-sha256` on S3).
pub const SHA256_METADATA: &str = "sha256";

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
    /// Where it went: the key asked for, or that key with a unique suffix (see the crate docs).
    pub key: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// The store's ETag of this write (quotes removed), when it gave one.
    pub e_tag: Option<String>,
}

/// An object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// What a new object is labelled with: its `Content-Type` and user metadata (`x-amz-meta-*` on
/// S3; names lower-case ASCII letters, digits and `-`). [`SHA256_METADATA`] is always added.
/// A local folder keeps no labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

impl Labels {
    pub fn new(content_type: &str) -> Self {
        Self {
            content_type: Some(content_type.to_string()),
            metadata: BTreeMap::new(),
        }
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.metadata.insert(name.to_string(), value.into());
        self
    }
}

/// An object's head: size, ETag and labels, as the store gives them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub key: String,
    pub size: u64,
    pub e_tag: Option<String>,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// The configured store.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// `file:///abs/folder` or `s3://bucket/prefix`, for logs and pages (no secrets).
    describe: String,
    /// The folder of a local store.
    root: Option<PathBuf>,
    /// Whether the store refuses a create-only write of an existing key; probed once.
    create_only: Arc<tokio::sync::OnceCell<bool>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("url", &self.describe)
            .field("conditional_writes", &self.create_only.get())
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

/// `key` with a random suffix before its extension: `a/v1-original.pdf` →
/// `a/v1-original-0123456789abcdef.pdf`.
pub fn unique_key(key: &str) -> String {
    let token = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let (dir, name) = match key.rsplit_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, key),
    };
    let name = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}-{token}.{ext}"),
        _ => format!("{name}-{token}"),
    };
    match dir {
        Some(dir) => format!("{dir}/{name}"),
        None => name,
    }
}

fn clean_e_tag(e_tag: Option<String>) -> Option<String> {
    e_tag.map(|t| t.trim_start_matches("W/").trim_matches('"').to_string())
}

/// Whether a write refused because the key exists.
fn is_exists(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }
    )
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
                create_only: Arc::default(),
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
            return Self::s3(builder, bucket, prefix);
        }
        Err(StorageError::UnsupportedUrl(url.to_string()))
    }

    /// An S3 store configured explicitly rather than from the environment (tests that use
    /// several servers in one process).
    pub fn s3_explicit(
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
        bucket: &str,
        prefix: &str,
    ) -> Result<Self> {
        let builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_region("us-east-1")
            .with_access_key_id(access_key)
            .with_secret_access_key(secret_key);
        Self::s3(builder, bucket, prefix)
    }

    fn s3(builder: AmazonS3Builder, bucket: &str, prefix: &str) -> Result<Self> {
        let s3 = builder.build().map_err(StorageError::Store)?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        Ok(Self {
            store,
            describe: format!("s3://{bucket}/{prefix}"),
            root: None,
            create_only: Arc::default(),
        })
    }

    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Whether the store refuses a create-only write (`If-None-Match: *`) of a key that exists.
    /// Probed once per [`Storage`] (and its clones): a create-only write twice on a fresh probe
    /// key `companion-probe/…`, the second of which must be refused; the probe object is then
    /// deleted. An error (the store unreachable) is returned and not remembered, so the next
    /// call probes again.
    pub async fn conditional_writes(&self) -> Result<bool> {
        self.create_only
            .get_or_try_init(|| self.probe_conditional_writes())
            .await
            .copied()
    }

    async fn probe_conditional_writes(&self) -> Result<bool> {
        let key = unique_key(&format!(
            "companion-probe/create-only-{}.txt",
            std::process::id()
        ));
        let path = key_path(&key)?;
        let create = || PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let first = Bytes::from_static(b"first create-only write");
        match self
            .store
            .put_opts(&path, PutPayload::from(first.clone()), create())
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::NotImplemented) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let second = self
            .store
            .put_opts(
                &path,
                PutPayload::from_static(b"second create-only write"),
                create(),
            )
            .await;
        let honoured = match second {
            Err(e) if is_exists(&e) => {
                // Refused — and the first write must still be there, unchanged.
                self.store.get(&path).await?.bytes().await? == first
            }
            // Taken (the store ignores If-None-Match) or an error of another kind: either way
            // the store cannot be trusted to refuse a second writer.
            _ => false,
        };
        // The probe key is this call's own (random suffix).
        let _ = self.store.delete(&path).await;
        Ok(honoured)
    }

    fn attributes(&self, labels: &Labels, sha256: &str) -> Attributes {
        let mut attrs = Attributes::new();
        if self.root.is_some() {
            // A local folder keeps no attributes (object_store refuses them).
            return attrs;
        }
        if let Some(ct) = &labels.content_type {
            attrs.insert(Attribute::ContentType, AttributeValue::from(ct.clone()));
        }
        for (k, v) in &labels.metadata {
            attrs.insert(
                Attribute::Metadata(k.clone().into()),
                AttributeValue::from(v.clone()),
            );
        }
        attrs.insert(
            Attribute::Metadata(SHA256_METADATA.into()),
            AttributeValue::from(sha256.to_string()),
        );
        attrs
    }

    /// Stores `data` as a new object, never overwriting one: under `key` when the store refuses a
    /// second writer of it (a single create-only PUT on a store that honours conditional writes;
    /// an existing key is then [`StorageError::Exists`]), else under [`unique_key`]`(key)`.
    /// Uploads of [`MULTIPART_THRESHOLD`] bytes or more go up as multipart uploads. The answer
    /// says which key was used: record that one.
    ///
    /// The create-only write keeps an object that is already there; it is not a lock between
    /// writers racing for one key on every store (s3s-fs checks, then writes): give each writer
    /// a key of its own, as the documents service does with a version number claimed in the
    /// database.
    pub async fn put_new(&self, key: &str, data: Bytes, labels: &Labels) -> Result<StoredObject> {
        key_path(key)?;
        let sha256 = hex::encode(Sha256::digest(&data));
        let size = data.len() as u64;
        let attributes = self.attributes(labels, &sha256);
        if data.len() >= MULTIPART_THRESHOLD {
            let key = unique_key(key);
            let mut upload = self.start_multipart(&key, attributes).await?;
            upload.put(data);
            let e_tag = finish_multipart(upload).await?;
            return Ok(StoredObject {
                key,
                size,
                sha256,
                e_tag,
            });
        }
        let key = if self.conditional_writes().await? {
            key.to_string()
        } else {
            unique_key(key)
        };
        let e_tag = self.put_create(&key, data, attributes).await?;
        Ok(StoredObject {
            key,
            size,
            sha256,
            e_tag,
        })
    }

    /// [`Storage::put_new`] for an upload of any size that arrives as a stream, hashed as it
    /// goes; at most [`MULTIPART_THRESHOLD`] bytes are held at once. On a failed source nothing
    /// is left behind.
    pub async fn put_new_stream<S>(
        &self,
        key: &str,
        mut source: S,
        labels: &Labels,
    ) -> Result<StoredObject>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Unpin + Send,
    {
        key_path(key)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut head: Vec<Bytes> = Vec::new();
        let mut held = 0usize;
        // Up to the threshold the upload is held, then it is one create-only PUT.
        while held < MULTIPART_THRESHOLD {
            match source.next().await {
                None => {
                    let data = concat(head);
                    let sha256 = hex::encode(hasher.finalize());
                    let attributes = self.attributes(labels, &sha256);
                    let key = if self.conditional_writes().await? {
                        key.to_string()
                    } else {
                        unique_key(key)
                    };
                    let e_tag = self.put_create(&key, data, attributes).await?;
                    return Ok(StoredObject {
                        key,
                        size,
                        sha256,
                        e_tag,
                    });
                }
                Some(Err(e)) => return Err(StorageError::Source(e)),
                Some(Ok(chunk)) => {
                    hasher.update(&chunk);
                    size += chunk.len() as u64;
                    held += chunk.len();
                    head.push(chunk);
                }
            }
        }
        // Larger: a multipart upload under a key of its own. The SHA-256 is known only at the
        // end, so it is not among the S3 metadata of a streamed multipart upload.
        let key = unique_key(key);
        let mut attributes = self.attributes(labels, "");
        attributes.remove(&Attribute::Metadata(SHA256_METADATA.into()));
        let mut upload = self.start_multipart(&key, attributes).await?;
        for chunk in head {
            upload.put(chunk);
        }
        while let Some(chunk) = source.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = upload.abort().await;
                    return Err(StorageError::Source(e));
                }
            };
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if let Err(e) = upload.wait_for_capacity(4).await {
                let _ = upload.abort().await;
                return Err(e.into());
            }
            upload.put(chunk);
        }
        let e_tag = finish_multipart(upload).await?;
        Ok(StoredObject {
            key,
            size,
            sha256: hex::encode(hasher.finalize()),
            e_tag,
        })
    }

    async fn start_multipart(&self, key: &str, attributes: Attributes) -> Result<WriteMultipart> {
        let opts = PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        let upload = self.store.put_multipart_opts(&key_path(key)?, opts).await?;
        Ok(WriteMultipart::new_with_chunk_size(
            upload,
            MULTIPART_THRESHOLD,
        ))
    }

    /// One create-only PUT; an existing key is [`StorageError::Exists`].
    async fn put_create(
        &self,
        key: &str,
        data: Bytes,
        attributes: Attributes,
    ) -> Result<Option<String>> {
        let opts = PutOptions {
            mode: PutMode::Create,
            attributes,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&key_path(key)?, PutPayload::from(data), opts)
            .await
        {
            Ok(r) => Ok(clean_e_tag(r.e_tag)),
            Err(e) if is_exists(&e) => Err(StorageError::Exists(key.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `data` under exactly `key` (restoring a backup, tests), refused if the key exists.
    /// Create-only where the store honours it; on a store that does not, the key is checked
    /// first — good enough for a single writer (restore runs into an empty system), not for
    /// concurrent ones: those use [`Storage::put_new`].
    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<StoredObject> {
        key_path(key)?;
        if !self.conditional_writes().await? && self.exists(key).await? {
            return Err(StorageError::Exists(key.to_string()));
        }
        let size = data.len() as u64;
        let sha256 = hex::encode(Sha256::digest(&data));
        let attributes = self.attributes(&Labels::default(), &sha256);
        let e_tag = self.put_create(key, data, attributes).await?;
        Ok(StoredObject {
            key: key.to_string(),
            size,
            sha256,
            e_tag,
        })
    }

    /// The object's size, ETag and labels.
    pub async fn head(&self, key: &str) -> Result<ObjectHead> {
        let opts = GetOptions {
            head: true,
            ..Default::default()
        };
        let r = self.store.get_opts(&key_path(key)?, opts).await?;
        let mut metadata = BTreeMap::new();
        let mut content_type = None;
        for (attr, value) in r.attributes.iter() {
            match attr {
                Attribute::ContentType => content_type = Some(value.to_string()),
                Attribute::Metadata(k) => {
                    metadata.insert(k.to_string(), value.to_string());
                }
                _ => {}
            }
        }
        Ok(ObjectHead {
            key: key.to_string(),
            size: r.meta.size,
            e_tag: clean_e_tag(r.meta.e_tag),
            content_type,
            metadata,
        })
    }

    /// Deletes `stored` only when the object under its key is provably the one this writer
    /// stored: the same ETag (when the store gives ETags) and the same SHA-256 (its metadata, or
    /// the bytes hashed again). Returns whether it was deleted; an object that is gone already,
    /// or that someone else's write replaced, is left alone.
    pub async fn delete_own(&self, stored: &StoredObject) -> Result<bool> {
        let head = match self.head(&stored.key).await {
            Ok(h) => h,
            Err(StorageError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if head.size != stored.size {
            return Ok(false);
        }
        if let (Some(ours), Some(found)) = (&stored.e_tag, &head.e_tag)
            && ours != found
        {
            return Ok(false);
        }
        let sha256 = match head.metadata.get(SHA256_METADATA) {
            Some(s) => s.clone(),
            None => self.sha256_of(&stored.key).await?,
        };
        if sha256 != stored.sha256 {
            return Ok(false);
        }
        self.delete(&stored.key).await?;
        Ok(true)
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

fn concat(parts: Vec<Bytes>) -> Bytes {
    match parts.len() {
        0 => Bytes::new(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => {
            let mut all = Vec::with_capacity(parts.iter().map(Bytes::len).sum());
            for p in parts {
                all.extend_from_slice(&p);
            }
            Bytes::from(all)
        }
    }
}

/// Completes a multipart upload (aborting it on failure, so no parts stay behind); its ETag.
async fn finish_multipart(upload: WriteMultipart) -> Result<Option<String>> {
    Ok(clean_e_tag(upload.finish().await?.e_tag))
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
    fn unique_keys_keep_folder_and_extension() {
        let a = unique_key("permits/2025/014/v1-original.pdf");
        let b = unique_key("permits/2025/014/v1-original.pdf");
        assert_ne!(a, b);
        assert!(a.starts_with("permits/2025/014/v1-original-"), "{a}");
        assert!(a.ends_with(".pdf"));
        assert_eq!(a.len(), "permits/2025/014/v1-original.pdf".len() + 17);
        assert!(key_path(&a).is_ok());
        assert!(unique_key("plain").starts_with("plain-"));
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
