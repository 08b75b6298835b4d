//! One storage suite, run against the local folder and against a real S3-compatible server
//! (s3s-fs on loopback): round trip with hash check, a 50 MB multipart upload, listing, no
//! overwrite, ranges, missing and corrupted objects, wrong credentials.

use bytes::Bytes;
use companion_storage::testing::{LocalStore, S3Server};
use companion_storage::{Storage, StorageError};
use futures::StreamExt;
use sha2::{Digest, Sha256};

const BUCKET: &str = companion_storage::testing::SHARED_BUCKET;

fn s3() -> &'static S3Server {
    S3Server::shared()
}

/// A fresh S3 store under its own prefix in the shared bucket.
fn s3_store(name: &str) -> Storage {
    s3();
    Storage::from_url(&format!("s3://{BUCKET}/{name}")).expect("s3 storage")
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

fn chunks(
    data: Vec<u8>,
    size: usize,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Unpin + Send {
    let parts: Vec<std::io::Result<Bytes>> = data
        .chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(parts)
}

async fn round_trip_and_listing(store: &Storage) {
    let data = pseudo_random(300_000, 1);
    let want = hex::encode(Sha256::digest(&data));
    let stored = store
        .put_stream(
            "permits/2025/0142307703072025/v1-original.pdf",
            chunks(data.clone(), 64 * 1024),
        )
        .await
        .expect("put");
    assert_eq!(stored.sha256, want);
    assert_eq!(stored.size, 300_000);
    let (size, mut stream) = store.get_stream(&stored.key).await.expect("get");
    assert_eq!(size, 300_000);
    let mut back = Vec::new();
    while let Some(c) = stream.next().await {
        back.extend_from_slice(&c.expect("chunk"));
    }
    assert_eq!(hex::encode(Sha256::digest(&back)), want);
    assert_eq!(store.sha256_of(&stored.key).await.expect("hash"), want);
    assert_eq!(
        store
            .get_range(&stored.key, 10..20)
            .await
            .expect("range")
            .as_ref(),
        &data[10..20]
    );

    // Versions are new keys; an existing key is never overwritten.
    let v2 = store
        .put_bytes(
            "permits/2025/0142307703072025/v2-stamped.pdf",
            Bytes::from_static(b"%PDF-1.7 v2"),
        )
        .await
        .expect("v2");
    assert_eq!(v2.size, 11);
    assert!(matches!(
        store
            .put_bytes(&stored.key, Bytes::from_static(b"overwrite"))
            .await,
        Err(StorageError::Exists(_))
    ));
    assert!(matches!(
        store
            .put_stream(&stored.key, chunks(b"overwrite".to_vec(), 4))
            .await,
        Err(StorageError::Exists(_))
    ));
    assert_eq!(
        store.sha256_of(&stored.key).await.expect("hash"),
        want,
        "the original is untouched"
    );

    store
        .put_bytes(
            "permits/2026/0150300102102025/v1-original.pdf",
            Bytes::from_static(b"%PDF"),
        )
        .await
        .expect("other");
    let all = store.list("").await.expect("list");
    assert_eq!(all.len(), 3);
    let one = store
        .list("permits/2025/0142307703072025")
        .await
        .expect("list prefix");
    assert_eq!(
        one.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        vec![
            "permits/2025/0142307703072025/v1-original.pdf",
            "permits/2025/0142307703072025/v2-stamped.pdf"
        ]
    );
    assert!(matches!(
        store.get_bytes("permits/none.pdf").await,
        Err(StorageError::NotFound(_))
    ));
    assert!(!store.exists("permits/none.pdf").await.expect("exists"));
    assert!(matches!(
        store.put_bytes("../escape", Bytes::new()).await,
        Err(StorageError::BadKey(_))
    ));
    store.ping().await.expect("ping");
}

/// A failing source leaves nothing behind.
async fn failed_upload_leaves_nothing(store: &Storage) {
    let parts: Vec<std::io::Result<Bytes>> = vec![
        Ok(Bytes::from(vec![1u8; 1024])),
        Err(std::io::Error::other("client went away")),
    ];
    let r = store
        .put_stream("broken/v1.pdf", futures::stream::iter(parts))
        .await;
    assert!(matches!(r, Err(StorageError::Source(_))));
    assert!(!store.exists("broken/v1.pdf").await.expect("exists"));
}

async fn multipart_50_mb(store: &Storage) {
    let data = pseudo_random(50 * 1024 * 1024, 7);
    let want = hex::encode(Sha256::digest(&data));
    let stored = store
        .put_stream("big/v1-original.pdf", chunks(data, 1024 * 1024))
        .await
        .expect("multipart");
    assert_eq!(stored.size, 50 * 1024 * 1024);
    assert_eq!(stored.sha256, want);
    assert_eq!(
        store.size("big/v1-original.pdf").await.expect("size"),
        50 * 1024 * 1024
    );
    assert_eq!(
        store.sha256_of("big/v1-original.pdf").await.expect("hash"),
        want
    );
}

#[tokio::test]
async fn local_folder() {
    let local = LocalStore::new().expect("local");
    round_trip_and_listing(&local.storage).await;
    failed_upload_leaves_nothing(&local.storage).await;
    multipart_50_mb(&local.storage).await;
    // Corrupt an object on disk: its hash no longer matches.
    let key = "permits/2025/0142307703072025/v1-original.pdf";
    let before = local.storage.sha256_of(key).await.expect("hash");
    std::fs::write(local.dir.join(key), b"tampered").expect("tamper");
    assert_ne!(local.storage.sha256_of(key).await.expect("hash"), before);
}

#[tokio::test]
async fn s3_compatible_server() {
    let store = s3_store("suite");
    round_trip_and_listing(&store).await;
    failed_upload_leaves_nothing(&store).await;
    multipart_50_mb(&store).await;
    // Corrupt the object behind the server's back: the recomputed hash differs.
    let key = "permits/2025/0142307703072025/v1-original.pdf";
    let before = store.sha256_of(key).await.expect("hash");
    std::fs::write(
        s3().object_file(BUCKET, &format!("suite/{key}")),
        b"tampered",
    )
    .expect("tamper");
    assert_ne!(store.sha256_of(key).await.expect("hash"), before);
}

#[tokio::test]
async fn s3_wrong_credentials_are_an_error_not_a_hang() {
    let server = s3();
    let good = s3_store("creds");
    good.ping().await.expect("ping");
    // A second store with a wrong secret, built explicitly (the environment stays intact).
    let bad = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_endpoint(&server.endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id(companion_storage::testing::ACCESS_KEY)
        .with_secret_access_key("wrong")
        .build()
        .expect("builder");
    use object_store::ObjectStore;
    let r = bad
        .put(
            &object_store::path::Path::from("x"),
            Bytes::from_static(b"x").into(),
        )
        .await;
    assert!(r.is_err(), "a wrong secret must be refused");
}
