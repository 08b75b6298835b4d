//! The documents service end to end, on SQLite with the local folder and on PostgreSQL with a
//! real S3-compatible server (s3s-fs): import checks, versions, duplicates, the inbox, applicant
//! links, and the integrity check finding missing, corrupted and orphaned objects; concurrent
//! imports to one permit also on moto and on s3rver (a store without conditional writes).

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use companion_db::testing::{TestDb, execute_raw};
use companion_documents::{
    Actor, Documents, DocumentsConfig, ImportError, ImportSource, InboxOutcome, LinkError,
};
use companion_domain::documents::{DocumentKind, LinkRefusal};
use companion_pdf::PdfProblem;
use companion_pdf::letter::{PermitLetter, render};
use companion_storage::Storage;
use companion_storage::testing::{LocalStore, S3Kind, S3Server};

const BUCKET: &str = companion_storage::testing::SHARED_BUCKET;

fn s3() -> &'static S3Server {
    S3Server::shared()
}

/// Where a test's objects live, and how to reach an object's bytes behind the store's back.
enum Store {
    Local(LocalStore),
    S3 {
        storage: Storage,
        prefix: String,
    },
    /// A server of the test's own (moto, s3rver), stopped when the test ends.
    Own {
        storage: Storage,
        _server: S3Server,
    },
}

impl Store {
    fn new(kind: &str) -> Self {
        match kind {
            "s3" => {
                let prefix = format!("t{}", rand::random::<u64>());
                s3();
                let storage =
                    Storage::from_url(&format!("s3://{BUCKET}/{prefix}")).expect("s3 store");
                Store::S3 { storage, prefix }
            }
            "moto" | "s3rver" => {
                let kind = if kind == "moto" {
                    S3Kind::Moto
                } else {
                    S3Kind::S3rver
                };
                let server = S3Server::start_kind(kind, "docs").unwrap_or_else(|e| {
                    panic!("{} (scripts/test.sh installs it): {e}", kind.name())
                });
                let storage = server.storage("docs", "objects").expect("s3 store");
                Store::Own {
                    storage,
                    _server: server,
                }
            }
            _ => Store::Local(LocalStore::new().expect("local store")),
        }
    }
    fn storage(&self) -> Storage {
        match self {
            Store::Local(l) => l.storage.clone(),
            Store::S3 { storage, .. } | Store::Own { storage, .. } => storage.clone(),
        }
    }
    /// The file holding `key` on disk (s3s-fs keeps objects as files too).
    fn file_of(&self, key: &str) -> PathBuf {
        match self {
            Store::Local(l) => l.dir.join(key),
            Store::S3 { prefix, .. } => s3().object_file(BUCKET, &format!("{prefix}/{key}")),
            Store::Own { .. } => unreachable!("only s3s-fs keeps objects as plain files"),
        }
    }
}

struct Fixture {
    docs: Documents,
    db: TestDb,
    store: Store,
    inbox: PathBuf,
}

impl Fixture {
    async fn new(backend: &str, store: &str, max_pdf_bytes: u64) -> Self {
        let db = TestDb::new(backend).await.expect("test database");
        let store = Store::new(store);
        let inbox = std::env::temp_dir().join(format!("companion-inbox-{}", rand::random::<u64>()));
        let config = DocumentsConfig {
            max_pdf_bytes,
            inbox_dir: Some(inbox.clone()),
            link_secret: None,
            inbox_settle: Duration::ZERO,
        };
        let docs = Documents::new(db.db.clone(), store.storage(), config)
            .await
            .expect("documents");
        for (id, number, name) in [
            (
                "0142307703072025",
                "503/0142/DPMPTSP/2025",
                "Rasmita br Ginting",
            ),
            (
                "0200101012025",
                "503/0200/SIPD-DPM-PTSP/2025",
                "Bastanta Sembiring",
            ),
        ] {
            execute_raw(
                &db.db,
                &format!(
                    "INSERT INTO permits (pendaftaran_id, status, applicant_name, permit_number, issue_date, \
                     first_seen_at, updated_at) VALUES ('{id}', 'issued', '{name}', '{number}', '2025-07-03', \
                     '2025-07-03T00:00:00Z', '2025-07-03T00:00:00Z')"
                ),
            )
            .await
            .expect("permit");
        }
        Fixture {
            docs,
            db,
            store,
            inbox,
        }
    }

    async fn finish(self) {
        let _ = std::fs::remove_dir_all(&self.inbox);
        self.db.cleanup().await.expect("cleanup");
    }
}

const P1: &str = "0142307703072025";
const P2: &str = "0200101012025";

fn letter(id: &str, scan: usize) -> Bytes {
    let mut l = PermitLetter::example();
    l.registration_id = id.into();
    Bytes::from(render(&l, scan))
}

fn fixture_pdf(name: &str) -> Bytes {
    let path = format!(
        "{}/../pdf/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn staff() -> Actor {
    Actor {
        user_id: None,
        name: "petugas".into(),
        source: "127.0.0.1".into(),
    }
}

async fn import(
    f: &Fixture,
    id: &str,
    bytes: Bytes,
) -> Result<companion_documents::Imported, ImportError> {
    f.docs
        .import(
            id,
            bytes,
            Some("surat.pdf"),
            DocumentKind::Original,
            ImportSource::Upload,
            &staff(),
        )
        .await
}

async fn imports_are_checked_and_versioned(backend: &str, store: &str) {
    let f = Fixture::new(backend, store, 60_000).await;
    let valid = letter(P1, 0);

    // Bad files: a clear reason each, and nothing stored.
    let truncated = valid.slice(..valid.len() / 2);
    let cases: Vec<(Bytes, &str)> = vec![
        (
            Bytes::from_static(b"PK\x03\x04 this is a zip renamed .pdf"),
            "not_pdf",
        ),
        (truncated, "truncated"),
        (fixture_pdf("encrypted-aes256.pdf"), "encrypted"),
        (letter(P1, 100_000), "too_large"),
        (Bytes::new(), "empty"),
    ];
    for (bytes, code) in cases {
        let err = import(&f, P1, bytes).await.expect_err(code);
        assert_eq!(err.code(), code, "{err}");
        assert!(err.is_user_error());
        assert!(!err.pesan().is_empty());
    }
    assert_eq!(f.db.db.document_count().await.expect("count"), 0);
    assert!(
        f.docs.storage().list("").await.expect("list").is_empty(),
        "a refused file left an object"
    );
    let err = import(&f, "999", valid.clone())
        .await
        .expect_err("unknown permit");
    assert!(matches!(err, ImportError::UnknownPermit(_)));

    // A valid file: version 1 under the readable key, with its facts.
    let first = import(&f, P1, valid.clone()).await.expect("valid");
    assert!(!first.already_stored);
    let d = &first.document;
    assert_eq!(d.storage_key, format!("permits/2025/{P1}/v1-original.pdf"));
    assert_eq!(
        (d.version, d.pages, d.size_bytes),
        (1, 2, valid.len() as i64)
    );
    assert_eq!(d.created_by, "petugas");
    assert_eq!(
        f.docs
            .storage()
            .get_bytes(&d.storage_key)
            .await
            .expect("get"),
        valid
    );

    // The same bytes again: the same document, nothing new.
    let again = import(&f, P1, valid.clone()).await.expect("duplicate");
    assert!(again.already_stored);
    assert_eq!(again.document.id, d.id);
    // …and for another permit: refused, it is that permit's letter.
    let err = import(&f, P2, valid.clone())
        .await
        .expect_err("other permit");
    assert_eq!(err.code(), "belongs_to_other_permit");

    // A new file is version 2; version 1 is kept untouched.
    let second_bytes = fixture_pdf("cairo.pdf");
    let second = import(&f, P1, second_bytes.clone()).await.expect("second");
    assert_eq!(second.document.version, 2);
    let docs = f.db.db.documents_for_permit(P1).await.expect("list");
    assert_eq!(
        docs.iter().map(|d| d.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(
        f.docs
            .storage()
            .get_bytes(&d.storage_key)
            .await
            .expect("v1"),
        valid
    );
    assert_eq!(f.db.db.document_count().await.expect("count"), 2);
    // The audit trail has both imports.
    let audit = f.db.db.verify_audit().await.expect("verify");
    assert!(audit.is_ok());
    assert_eq!(f.db.db.permits_waiting_for_pdf().await.expect("waiting"), 1);
    f.finish().await;
}

async fn a_crash_between_object_and_row_loses_nothing(backend: &str, store: &str) {
    let f = Fixture::new(backend, store, 20_000_000).await;
    // A previous import wrote v1's object and died before its row.
    let leftover = letter(P1, 10);
    f.docs
        .storage()
        .put_bytes(&format!("permits/2025/{P1}/v1-original.pdf"), leftover)
        .await
        .expect("leftover");
    let imported = import(&f, P1, letter(P1, 0)).await.expect("import");
    assert_eq!(
        imported.document.version, 2,
        "the taken key is skipped, never overwritten"
    );
    let check = f.docs.check_integrity().await.expect("check");
    assert_eq!((check.orphaned, check.missing, check.mismatched), (1, 0, 0));
    assert_eq!(check.problems[0].kind, "orphan");
    f.finish().await;
}

async fn integrity_check_finds_missing_corrupted_and_orphaned(backend: &str, store: &str) {
    let f = Fixture::new(backend, store, 20_000_000).await;
    let a = import(&f, P1, letter(P1, 0)).await.expect("a").document;
    let b = import(&f, P2, letter(P2, 0)).await.expect("b").document;
    let clean = f.docs.check_integrity().await.expect("clean");
    assert!(clean.is_clean(), "{clean:?}");
    assert_eq!((clean.documents, clean.objects), (2, 2));

    // Corrupt a's object on disk behind the store's back, delete b's, add a stray object.
    let path = f.store.file_of(&a.storage_key);
    let mut bytes = std::fs::read(&path).expect("object file");
    bytes[100] ^= 0xff;
    std::fs::write(&path, bytes).expect("corrupt");
    f.docs
        .storage()
        .delete(&b.storage_key)
        .await
        .expect("delete");
    f.docs
        .storage()
        .put_bytes(
            "permits/2025/stray/v1-original.pdf",
            Bytes::from_static(b"%PDF-1.4 stray"),
        )
        .await
        .expect("stray");

    let check = f.docs.check_integrity().await.expect("check");
    assert_eq!(
        (check.mismatched, check.missing, check.orphaned),
        (1, 1, 1),
        "{check:?}"
    );
    let kinds: Vec<(&str, Option<i64>)> = check
        .problems
        .iter()
        .map(|p| (p.kind.as_str(), p.document_id))
        .collect();
    assert!(kinds.contains(&("mismatch", Some(a.id))));
    assert!(kinds.contains(&("missing", Some(b.id))));
    assert!(kinds.contains(&("orphan", None)));
    // The latest result is kept for the dashboard.
    let latest =
        f.db.db
            .latest_integrity_check()
            .await
            .expect("latest")
            .expect("stored");
    assert_eq!(latest, check);
    f.finish().await;
}

async fn the_inbox_matches_holds_and_assigns(backend: &str, store: &str) {
    let f = Fixture::new(backend, store, 20_000_000).await;
    std::fs::write(f.inbox.join(format!("{P1}.pdf")), letter(P1, 0)).expect("by id");
    std::fs::write(
        f.inbox.join("503-0200-SIPD-DPM-PTSP-2025.pdf"),
        letter(P2, 0),
    )
    .expect("by number");
    std::fs::write(f.inbox.join("scan kantor.pdf"), letter("x", 0)).expect("unmatched");
    std::fs::write(f.inbox.join(format!("{P2}-rusak.pdf")), b"not a pdf").expect("junk");
    std::fs::write(f.inbox.join("copying.pdf.part"), b"half").expect("partial");

    let report = f.docs.scan_inbox().await.expect("scan");
    let mut imported = Vec::new();
    let mut held = Vec::new();
    for o in &report.files {
        match o {
            InboxOutcome::Imported { pendaftaran_id, .. } => imported.push(pendaftaran_id.clone()),
            InboxOutcome::Held { file, problem, .. } => held.push((file.clone(), problem.clone())),
            InboxOutcome::Duplicate { .. } => panic!("no duplicates here: {o:?}"),
        }
    }
    imported.sort();
    assert_eq!(imported, vec![P1.to_string(), P2.to_string()], "{report:?}");
    held.sort();
    assert_eq!(
        held,
        vec![
            (format!("{P2}-rusak.pdf"), "unmatched".to_string()),
            ("scan kantor.pdf".to_string(), "unmatched".to_string()),
        ]
    );
    // Imported files left the inbox; the partial copy is untouched; held files are listed.
    let left: Vec<String> = std::fs::read_dir(&f.inbox)
        .expect("inbox")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["copying.pdf.part".to_string()]);
    let listed = f.docs.held_files().await.expect("held");
    assert_eq!(listed.len(), 2);

    // A person assigns the scan to P2: imported as v2 and gone from the list and the folder.
    let scan = listed
        .iter()
        .find(|h| h.file_name == "scan kantor.pdf")
        .expect("scan");
    let done = f
        .docs
        .assign_held(scan.id, P2, &staff())
        .await
        .expect("assign")
        .expect("found");
    assert_eq!(
        (done.document.pendaftaran_id.as_str(), done.document.version),
        (P2, 2)
    );
    assert!(!f.inbox.join(&scan.held_path).exists());
    // The junk cannot be assigned (not a PDF) and stays listed until discarded.
    let junk = listed
        .iter()
        .find(|h| h.file_name.ends_with("rusak.pdf"))
        .expect("junk");
    let err = f
        .docs
        .assign_held(junk.id, P2, &staff())
        .await
        .expect_err("junk");
    assert!(matches!(err, ImportError::Rejected(PdfProblem::NotPdf)));
    assert_eq!(f.docs.held_files().await.expect("held").len(), 1);
    assert!(
        f.docs
            .discard_held(junk.id, &staff())
            .await
            .expect("discard")
    );
    assert!(f.docs.held_files().await.expect("held").is_empty());

    // The same letter dropped again is recognised and removed, not stored twice.
    std::fs::write(f.inbox.join(format!("{P1}.pdf")), letter(P1, 0)).expect("again");
    let report = f.docs.scan_inbox().await.expect("scan");
    assert!(
        matches!(report.files.as_slice(), [InboxOutcome::Duplicate { .. }]),
        "{report:?}"
    );
    assert_eq!(f.db.db.document_count().await.expect("count"), 3);
    f.finish().await;
}

async fn links_are_signed_expiring_and_revocable(backend: &str, store: &str) {
    let f = Fixture::new(backend, store, 20_000_000).await;
    let doc = import(&f, P1, letter(P1, 0))
        .await
        .expect("import")
        .document;
    let new = f
        .docs
        .create_link(&doc, 7, "untuk pemohon", &staff())
        .await
        .expect("link");
    let (opened, _) = f.docs.open_link(&new.token).await.expect("valid link");
    assert_eq!(opened.id, doc.id);
    assert_eq!(
        f.docs.link_token(&new.link),
        new.token,
        "tokens can be shown again"
    );

    // Tampered: another MAC, a longer expiry, another link id.
    let mut forged = new.token.clone();
    let last = forged.pop().expect("char");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (id, exp, mac) = companion_domain::documents::parse_link_token(&new.token).expect("parts");
    for bad in [
        forged,
        format!("{id}.{}.{mac}", exp + 86_400),
        format!("{}.{exp}.{mac}", id + 1),
        "x".into(),
    ] {
        let err = f.docs.open_link(&bad).await.expect_err("tampered");
        assert!(
            matches!(
                err,
                LinkError::Refused(LinkRefusal::Forged)
                    | LinkError::Refused(LinkRefusal::Malformed)
            ),
            "{bad}: {err:?}"
        );
    }

    // Expired.
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let old =
        f.db.db
            .create_link(doc.id, past, "", "petugas")
            .await
            .expect("old");
    let old = f.db.db.get_link(old.id).await.expect("get").expect("row");
    let err = f
        .docs
        .open_link(&f.docs.link_token(&old))
        .await
        .expect_err("expired");
    assert!(
        matches!(err, LinkError::Refused(LinkRefusal::Expired)),
        "{err:?}"
    );

    // Revoked.
    assert!(
        f.docs
            .revoke_link(new.link.id, &staff())
            .await
            .expect("revoke")
    );
    assert!(
        !f.docs
            .revoke_link(new.link.id, &staff())
            .await
            .expect("twice")
    );
    let err = f.docs.open_link(&new.token).await.expect_err("revoked");
    assert!(matches!(err, LinkError::Refused(LinkRefusal::Revoked)));
    assert!(err.pesan().contains("dicabut"));
    f.finish().await;
}

/// Twelve people upload twelve different letters to one permit at the same moment, and four
/// more the same letter: every "stored" answer is a row whose object is there, readable and
/// byte-for-byte the file that was sent, under a key of its own; no import deleted what another
/// stored; a large letter goes up as a multipart upload; the integrity check is clean.
async fn concurrent_imports_to_one_permit(backend: &str, store: &str) {
    let f = Fixture::new(backend, store, 20_000_000).await;
    let honours = f.docs.storage().conditional_writes().await.expect("probe");
    assert_eq!(honours, store != "s3rver", "{store}: the probe");
    // (The scan is a square image: side lengths 10, 13, … keep the twelve files apart.)
    let mut files: Vec<Bytes> = (0..12)
        .map(|i| letter(P1, (10 + i * 3) * (10 + i * 3)))
        .collect();
    let same = letter(P1, 5);
    files.extend(std::iter::repeat_n(same.clone(), 4));
    let tasks: Vec<_> = files
        .iter()
        .cloned()
        .map(|bytes| {
            let docs = f.docs.clone();
            tokio::spawn(async move {
                let r = docs
                    .import(
                        P1,
                        bytes.clone(),
                        Some("surat.pdf"),
                        DocumentKind::Original,
                        ImportSource::Api,
                        &staff(),
                    )
                    .await;
                (bytes, r)
            })
        })
        .collect();
    let mut stored = Vec::new();
    let mut duplicates = 0;
    for t in tasks {
        let (bytes, r) = t.await.expect("task");
        let imported = r.unwrap_or_else(|e| panic!("{backend}/{store}: {e}"));
        if imported.already_stored {
            duplicates += 1;
            assert!(
                bytes == same,
                "{backend}/{store}: a different file answered duplicate"
            );
        } else {
            stored.push((bytes, imported.document));
        }
    }
    assert_eq!((stored.len(), duplicates), (13, 3), "{backend}/{store}");
    let mut versions: Vec<i64> = stored.iter().map(|(_, d)| d.version).collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), 13, "{backend}/{store}: a version twice");
    let keys: std::collections::HashSet<&str> =
        stored.iter().map(|(_, d)| d.storage_key.as_str()).collect();
    assert_eq!(keys.len(), 13, "{backend}/{store}: a key twice");
    for (bytes, d) in &stored {
        let back = f
            .docs
            .storage()
            .get_bytes(&d.storage_key)
            .await
            .unwrap_or_else(|e| {
                panic!("{backend}/{store}: {} answered stored: {e}", d.storage_key)
            });
        assert!(
            back == *bytes,
            "{backend}/{store}: {} holds other bytes",
            d.storage_key
        );
        let readable = format!("permits/2025/{P1}/v{}-original.pdf", d.version);
        if honours {
            assert_eq!(d.storage_key, readable);
        } else {
            assert!(d.storage_key.starts_with(&readable[..readable.len() - 4]));
            assert_ne!(
                d.storage_key, readable,
                "a key of its own on a store without create-only writes"
            );
        }
        if !matches!(f.store, Store::Local(_)) {
            let head = f.docs.storage().head(&d.storage_key).await.expect("head");
            assert_eq!(head.content_type.as_deref(), Some("application/pdf"));
            assert_eq!(head.metadata.get("sha256"), Some(&d.sha256));
            assert_eq!(head.metadata.get("permit-id").map(String::as_str), Some(P1));
            assert_eq!(
                head.metadata.get("kind").map(String::as_str),
                Some("original")
            );
            assert_eq!(head.metadata.get("version"), Some(&d.version.to_string()));
        }
    }
    // A large letter goes up as a multipart upload, under a key of its own on every store.
    let large = letter(P1, 3000 * 3000);
    assert!(large.len() >= companion_storage::MULTIPART_THRESHOLD);
    let big = import(&f, P1, large.clone()).await.expect("large").document;
    // The next number (a duplicate held one while it uploaded, so there may be gaps).
    let top = stored.iter().map(|(_, d)| d.version).max().unwrap_or(0);
    assert_eq!(big.version, top + 1);
    assert!(
        big.storage_key
            .starts_with(&format!("permits/2025/{P1}/v{}-original-", big.version)),
        "{}",
        big.storage_key
    );
    assert!(
        f.docs
            .storage()
            .get_bytes(&big.storage_key)
            .await
            .expect("large back")
            == large
    );
    if !matches!(f.store, Store::Local(_)) {
        let head = f.docs.storage().head(&big.storage_key).await.expect("head");
        assert_eq!(head.metadata.get("sha256"), Some(&big.sha256));
    }
    assert_eq!(f.db.db.document_count().await.expect("count"), 14);
    let check = f.docs.check_integrity().await.expect("check");
    assert!(check.is_clean(), "{backend}/{store}: {check:?}");
    assert_eq!(check.objects, 14);
    f.finish().await;
}

mod concurrent_imports_to_one_permit {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_local() {
        super::concurrent_imports_to_one_permit("sqlite", "local").await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_s3s_fs() {
        super::concurrent_imports_to_one_permit("postgres", "s3").await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_moto() {
        super::concurrent_imports_to_one_permit("postgres", "moto").await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_s3rver_without_conditional_writes() {
        super::concurrent_imports_to_one_permit("postgres", "s3rver").await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_s3rver_without_conditional_writes() {
        super::concurrent_imports_to_one_permit("sqlite", "s3rver").await
    }
}

/// Each scenario on SQLite + local folder and on PostgreSQL + S3.
macro_rules! on_both_setups {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_local() { super::$name("sqlite", "local").await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_s3() { super::$name("postgres", "s3").await }
        }
    )* };
}

on_both_setups!(
    imports_are_checked_and_versioned,
    a_crash_between_object_and_row_loses_nothing,
    integrity_check_finds_missing_corrupted_and_orphaned,
    the_inbox_matches_holds_and_assigns,
    links_are_signed_expiring_and_revocable,
);
