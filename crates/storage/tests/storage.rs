//! One storage suite, run against the local folder and three S3 implementations on loopback:
//! s3s-fs and moto (both honour create-only writes) and s3rver (ignores `If-None-Match` and
//! overwrites). Round trip with hash check, labels (Content-Type, SHA-256 and the caller's
//! metadata), multipart uploads, listing, no overwrite, ranges, twelve writers racing for one
//! key, deleting only what is provably one's own, missing and corrupted objects, wrong
//! credentials — and every server process stopped when its test ends, also when it fails.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use companion_storage::testing::{LocalStore, S3Kind, S3Server, TestProcess, group_alive};
use companion_storage::{Labels, SHA256_METADATA, Storage, StorageError, StoredObject};
use futures::StreamExt;
use object_store::ObjectStore;
use sha2::{Digest, Sha256};

const BUCKET: &str = "suite";

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

fn pdf_labels(permit: &str) -> Labels {
    Labels::new("application/pdf")
        .with("permit-id", permit)
        .with("kind", "original")
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The store under test, and a way to write behind its back.
struct Setup {
    name: &'static str,
    storage: Storage,
    /// Whether the store refuses a second create-only writer of a key.
    honours: bool,
    local: Option<LocalStore>,
    server: Option<S3Server>,
    prefix: String,
}

impl Setup {
    fn local() -> Self {
        let local = LocalStore::new().expect("local");
        Setup {
            name: "local folder",
            storage: local.storage.clone(),
            honours: true,
            local: Some(local),
            server: None,
            prefix: String::new(),
        }
    }

    fn s3(kind: S3Kind) -> Self {
        let server = S3Server::start_kind(kind, BUCKET).unwrap_or_else(|e| {
            panic!(
                "{} must be installed for the storage suite (scripts/test.sh installs it): {e}",
                kind.name()
            )
        });
        let prefix = "p".to_string();
        let storage = server.storage(BUCKET, &prefix).expect("s3 storage");
        Setup {
            name: kind.name(),
            storage,
            honours: kind.honours_conditional_writes(),
            local: None,
            server: Some(server),
            prefix,
        }
    }

    /// Replaces the object under `key` with `data` as another writer on a store without
    /// conditional writes would: a plain overwrite, past the product's own code.
    async fn overwrite_behind_the_back(&self, key: &str, data: &'static [u8]) {
        if let Some(local) = &self.local {
            std::fs::write(local.dir.join(key), data).expect("overwrite file");
            return;
        }
        let server = self.server.as_ref().expect("server");
        let raw = server.raw_client(BUCKET).expect("raw client");
        raw.put(
            &object_store::path::Path::from(format!("{}/{key}", self.prefix)),
            Bytes::from_static(data).into(),
        )
        .await
        .expect("raw overwrite");
    }

    /// Stops the server and checks that no process of it is left.
    fn finish(mut self) {
        if let Some(server) = self.server.take() {
            let group = server.process().map(TestProcess::group).expect("process");
            assert!(group_alive(group), "{} was running", self.name);
            drop(server);
            assert!(
                !group_alive(group),
                "{}: a process is left after the server was dropped",
                self.name
            );
        }
    }
}

async fn read_all(store: &Storage, key: &str) -> Vec<u8> {
    let (_, mut stream) = store.get_stream(key).await.expect("get");
    let mut back = Vec::new();
    while let Some(c) = stream.next().await {
        back.extend_from_slice(&c.expect("chunk"));
    }
    back
}

async fn conditional_writes_are_probed(s: &Setup) {
    assert_eq!(
        s.storage.conditional_writes().await.expect("probe"),
        s.honours,
        "{}: the probe must find out whether create-only writes are refused",
        s.name
    );
    // The probe cleans up after itself.
    assert!(
        s.storage
            .list("companion-probe")
            .await
            .expect("list")
            .is_empty(),
        "{}",
        s.name
    );
}

async fn round_trip_and_listing(s: &Setup) {
    let store = &s.storage;
    let key = "permits/2025/0142307703072025/v1-original.pdf";
    let data = pseudo_random(300_000, 1);
    let want = sha(&data);
    let stored = store
        .put_new_stream(key, chunks(data.clone(), 64 * 1024), &pdf_labels("014"))
        .await
        .expect("put");
    assert_eq!(stored.sha256, want);
    assert_eq!(stored.size, 300_000);
    if s.honours {
        assert_eq!(stored.key, key, "{}: the key asked for", s.name);
    } else {
        assert_ne!(stored.key, key, "{}: a key of its own", s.name);
        assert!(
            stored
                .key
                .starts_with("permits/2025/0142307703072025/v1-original-")
        );
    }
    let (size, _) = store.get_stream(&stored.key).await.expect("get");
    assert_eq!(size, 300_000);
    assert_eq!(sha(&read_all(store, &stored.key).await), want);
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
        .put_new(
            "permits/2025/0142307703072025/v2-stamped.pdf",
            Bytes::from_static(b"%PDF-1.7 v2"),
            &pdf_labels("014"),
        )
        .await
        .expect("v2");
    assert_eq!(v2.size, 11);
    let mut keys: HashSet<String> = [stored.key.clone(), v2.key.clone()].into();
    match store
        .put_new(
            &stored.key,
            Bytes::from_static(b"overwrite"),
            &Labels::default(),
        )
        .await
    {
        Err(StorageError::Exists(_)) => assert!(s.honours, "{}", s.name),
        Ok(other) => {
            assert!(!s.honours, "{}: {other:?}", s.name);
            assert_ne!(other.key, stored.key);
            keys.insert(other.key);
        }
        Err(e) => panic!("{}: {e}", s.name),
    }
    assert!(matches!(
        store
            .put_bytes(&stored.key, Bytes::from_static(b"overwrite"))
            .await,
        Err(StorageError::Exists(_))
    ));
    assert_eq!(
        store.sha256_of(&stored.key).await.expect("hash"),
        want,
        "{}: the original is untouched",
        s.name
    );

    let other = store
        .put_new(
            "permits/2026/0150300102102025/v1-original.pdf",
            Bytes::from_static(b"%PDF"),
            &pdf_labels("015"),
        )
        .await
        .expect("other");
    keys.insert(other.key);
    let all: HashSet<String> = store
        .list("")
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(all, keys, "{}", s.name);
    let one = store
        .list("permits/2025/0142307703072025")
        .await
        .expect("list prefix");
    assert_eq!(
        one.len(),
        keys.iter()
            .filter(|k| k.starts_with("permits/2025/"))
            .count()
    );
    assert!(matches!(
        store.get_bytes("permits/none.pdf").await,
        Err(StorageError::NotFound(_))
    ));
    assert!(!store.exists("permits/none.pdf").await.expect("exists"));
    assert!(matches!(
        store
            .put_new("../escape", Bytes::new(), &Labels::default())
            .await,
        Err(StorageError::BadKey(_))
    ));
    store.ping().await.expect("ping");
    store.probe().await.expect("readiness probe");
}

/// What outside tools see: the real Content-Type and the SHA-256, permit and kind as metadata.
async fn objects_carry_their_labels(s: &Setup) {
    let data = Bytes::from_static(b"%PDF-1.7 labelled");
    let stored = s
        .storage
        .put_new(
            "permits/2025/0142307703072025/v9-signed.pdf",
            data.clone(),
            &pdf_labels("0142307703072025"),
        )
        .await
        .expect("put");
    let head = s.storage.head(&stored.key).await.expect("head");
    assert_eq!(head.size, data.len() as u64);
    if s.local.is_some() {
        // A folder keeps no labels; the database has them.
        return;
    }
    assert_eq!(
        head.content_type.as_deref(),
        Some("application/pdf"),
        "{}",
        s.name
    );
    assert_eq!(
        head.metadata.get(SHA256_METADATA),
        Some(&sha(&data)),
        "{}: {head:?}",
        s.name
    );
    assert_eq!(
        head.metadata.get("permit-id").map(String::as_str),
        Some("0142307703072025")
    );
    assert_eq!(
        head.metadata.get("kind").map(String::as_str),
        Some("original")
    );
    assert_eq!(head.e_tag, stored.e_tag, "{}", s.name);
}

/// A failing source leaves nothing behind (small and multipart).
async fn failed_upload_leaves_nothing(s: &Setup) {
    for size in [1024, companion_storage::MULTIPART_THRESHOLD + 1024] {
        let parts: Vec<std::io::Result<Bytes>> = vec![
            Ok(Bytes::from(vec![1u8; size])),
            Err(std::io::Error::other("client went away")),
        ];
        let r = s
            .storage
            .put_new_stream(
                "broken/v1.pdf",
                futures::stream::iter(parts),
                &Labels::default(),
            )
            .await;
        assert!(matches!(r, Err(StorageError::Source(_))), "{}", s.name);
        assert!(
            s.storage.list("broken").await.expect("list").is_empty(),
            "{}",
            s.name
        );
    }
}

async fn multipart_uploads(s: &Setup) {
    // Streamed, 50 MB.
    let data = pseudo_random(50 * 1024 * 1024, 7);
    let want = sha(&data);
    let stored = s
        .storage
        .put_new_stream(
            "big/v1-original.pdf",
            chunks(data, 1024 * 1024),
            &pdf_labels("big"),
        )
        .await
        .expect("multipart");
    assert_eq!(stored.size, 50 * 1024 * 1024);
    assert_eq!(stored.sha256, want);
    assert!(stored.key.starts_with("big/v1-original-"), "{}", stored.key);
    assert_eq!(
        s.storage.size(&stored.key).await.expect("size"),
        50 * 1024 * 1024
    );
    assert_eq!(s.storage.sha256_of(&stored.key).await.expect("hash"), want);
    // In one piece, 20 MB (the largest PDF by default): multipart too, with every label.
    let data = Bytes::from(pseudo_random(20_000_000, 8));
    let stored = s
        .storage
        .put_new("big/v2-original.pdf", data.clone(), &pdf_labels("big"))
        .await
        .expect("multipart bytes");
    assert!(stored.key.starts_with("big/v2-original-"));
    assert_eq!(
        s.storage.sha256_of(&stored.key).await.expect("hash"),
        sha(&data)
    );
    if s.local.is_none() {
        let head = s.storage.head(&stored.key).await.expect("head");
        assert_eq!(
            head.content_type.as_deref(),
            Some("application/pdf"),
            "{}",
            s.name
        );
        assert_eq!(
            head.metadata.get(SHA256_METADATA),
            Some(&stored.sha256),
            "{}",
            s.name
        );
    }
}

/// Twelve writers of different bytes race for one key: every write that is answered "stored"
/// is there, readable and correct, under a key no other writer got. Run where the store's
/// create-only write is atomic (local folder, moto) or not relied on (s3rver: keys of their
/// own). Not on s3s-fs: it checks, then writes — seen here, 2 to 12 of 12 racing writers were
/// answered "stored" for one key, each overwriting the last — which is why the documents
/// service never lets two imports write one key (a version number claimed in the database; its
/// twelve-upload test runs on s3s-fs too).
async fn twelve_writers_race_for_one_key(s: &Setup) {
    let key = "permits/2025/race/v1-original.pdf";
    let tasks: Vec<_> = (0..12u64)
        .map(|i| {
            let storage = s.storage.clone();
            tokio::spawn(async move {
                let data = Bytes::from(pseudo_random(200_000, 100 + i));
                let r = storage
                    .put_new(key, data.clone(), &pdf_labels("race"))
                    .await;
                (data, r)
            })
        })
        .collect();
    let mut stored: Vec<(Bytes, StoredObject)> = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (data, r) = t.await.expect("task");
        match r {
            Ok(o) => stored.push((data, o)),
            Err(StorageError::Exists(_)) => refused += 1,
            Err(e) => panic!("{}: {e}", s.name),
        }
    }
    let keys: HashSet<&str> = stored.iter().map(|(_, o)| o.key.as_str()).collect();
    assert_eq!(
        keys.len(),
        stored.len(),
        "{}: two writers got one key",
        s.name
    );
    if s.honours {
        assert_eq!((stored.len(), refused), (1, 11), "{}", s.name);
        assert_eq!(stored[0].1.key, key);
    } else {
        assert_eq!(stored.len(), 12, "{}", s.name);
        assert!(!keys.contains(key));
    }
    for (data, o) in &stored {
        assert_eq!(
            s.storage.get_bytes(&o.key).await.expect("read back"),
            data,
            "{}: {} holds another writer's bytes",
            s.name,
            o.key
        );
    }
}

/// An object is deleted only when it is provably the writer's own.
async fn only_provably_own_objects_are_deleted(s: &Setup) {
    let mine = s
        .storage
        .put_new(
            "permits/2025/own/v1-original.pdf",
            Bytes::from_static(b"%PDF-1.4 mine"),
            &pdf_labels("own"),
        )
        .await
        .expect("put");
    // Another writer replaced it (what a store without conditional writes lets happen).
    s.overwrite_behind_the_back(&mine.key, b"%PDF-1.4 theirs")
        .await;
    assert!(
        !s.storage.delete_own(&mine).await.expect("delete_own"),
        "{}: deleted an object that is no longer its own",
        s.name
    );
    assert_eq!(
        s.storage
            .get_bytes(&mine.key)
            .await
            .expect("still there")
            .as_ref(),
        b"%PDF-1.4 theirs"
    );
    // Its own, untouched: deleted.
    let own = s
        .storage
        .put_new(
            "permits/2025/own/v2-original.pdf",
            Bytes::from_static(b"%PDF-1.4 own"),
            &pdf_labels("own"),
        )
        .await
        .expect("put");
    assert!(s.storage.delete_own(&own).await.expect("delete_own"));
    assert!(!s.storage.exists(&own.key).await.expect("exists"));
    // Gone already: nothing to do.
    assert!(!s.storage.delete_own(&own).await.expect("gone"));
}

async fn whole_suite(s: &Setup) {
    conditional_writes_are_probed(s).await;
    round_trip_and_listing(s).await;
    objects_carry_their_labels(s).await;
    failed_upload_leaves_nothing(s).await;
    if s.name != S3Kind::S3sFs.name() {
        twelve_writers_race_for_one_key(s).await;
    }
    only_provably_own_objects_are_deleted(s).await;
    multipart_uploads(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_folder() {
    let s = Setup::local();
    whole_suite(&s).await;
    // Corrupt an object on disk: its hash no longer matches.
    let stored = s
        .storage
        .put_new(
            "permits/2025/x/v1-original.pdf",
            Bytes::from_static(b"%PDF-1.4 x"),
            &Labels::default(),
        )
        .await
        .expect("put");
    std::fs::write(
        s.local.as_ref().expect("local").dir.join(&stored.key),
        b"tampered",
    )
    .expect("tamper");
    assert_ne!(
        s.storage.sha256_of(&stored.key).await.expect("hash"),
        stored.sha256
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs() {
    let s = Setup::s3(S3Kind::S3sFs);
    whole_suite(&s).await;
    // Corrupt the object behind the server's back: the recomputed hash differs.
    let stored = s
        .storage
        .put_new(
            "permits/2025/x/v1-original.pdf",
            Bytes::from_static(b"%PDF-1.4 x"),
            &Labels::default(),
        )
        .await
        .expect("put");
    let server = s.server.as_ref().expect("server");
    std::fs::write(
        server.object_file(BUCKET, &format!("{}/{}", s.prefix, stored.key)),
        b"tampered",
    )
    .expect("tamper");
    assert_ne!(
        s.storage.sha256_of(&stored.key).await.expect("hash"),
        stored.sha256
    );
    s.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_server() {
    let s = Setup::s3(S3Kind::Moto);
    whole_suite(&s).await;
    s.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3rver_without_conditional_writes() {
    let s = Setup::s3(S3Kind::S3rver);
    whole_suite(&s).await;
    s.finish();
}

#[tokio::test]
async fn s3_wrong_credentials_are_an_error_not_a_hang() {
    let server = S3Server::start_kind(S3Kind::S3sFs, BUCKET).expect("s3s-fs");
    let good = server.storage(BUCKET, "creds").expect("storage");
    good.ping().await.expect("ping");
    let bad = Storage::s3_explicit(&server.endpoint, &server.access_key, "wrong", BUCKET, "")
        .expect("storage");
    assert!(
        bad.put_bytes("x", Bytes::from_static(b"x")).await.is_err(),
        "a wrong secret must be refused"
    );
}

// ---- every process a test starts is stopped ----

fn sleepers() -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "sleep 300 & sleep 300"]);
    cmd
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_test_process_is_stopped_with_its_children_when_the_test_panics() {
    let group = std::sync::atomic::AtomicU32::new(0);
    let result = std::panic::catch_unwind(|| {
        let p = TestProcess::spawn("sleepers", &sleepers(), None).expect("spawn");
        group.store(p.group(), std::sync::atomic::Ordering::SeqCst);
        wait_until("started", || p.group_alive());
        panic!("the test fails while its server runs");
    });
    assert!(result.is_err());
    let group = group.load(std::sync::atomic::Ordering::SeqCst);
    assert!(group > 0);
    assert!(!group_alive(group), "a process of the failed test is left");
}

#[test]
fn the_watchdog_stops_the_processes_when_the_test_process_goes() {
    // What the end of the test process does to the lifeline (even under kill -9).
    let mut p = TestProcess::spawn("sleepers", &sleepers(), None).expect("spawn");
    wait_until("started", || p.group_alive());
    p.close_lifeline();
    wait_until("the watchdog killed the group", || !p.group_alive());
}

#[test]
fn a_missing_program_is_an_error_not_a_silent_skip() {
    let err = TestProcess::spawn("none", &Command::new("companion-no-such-server"), None)
        .err()
        .expect("error");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}
