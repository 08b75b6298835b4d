//! Signing as durable jobs: a batch with one bad document, recovery after a worker died mid-item
//! (local: re-queued; a stored-but-unrecorded signed file: adopted, never signed again; BSrE:
//! "needs attention"), and BSrE through the service with the proof that the passphrase reaches no
//! log line, no database row and no error message.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use companion_db::testing::TestDb;
use companion_documents::{Actor, Documents, DocumentsConfig, ImportSource};
use companion_domain::Role;
use companion_domain::documents::DocumentKind;
use companion_pdf::keys::{SigningIdentity, issue_signer, new_ca};
use companion_pdf::stamp::Placement;
use companion_signing::{
    BsreApi, BsreClient, BsreConfig, BsreError, JobTimings, Participant, Passphrase, Signer,
    SigningConfig, SigningError, SigningService,
};
use companion_simulators::{BsreFault, BsreSim, BsreSimConfig, BsreSimUser};
use companion_storage::testing::LocalStore;

companion_db::on_both_backends!(a_batch_signs_many_and_one_bad_document_fails_alone);

struct Fixture {
    t: TestDb,
    store: LocalStore,
    docs: Documents,
    service: SigningService,
    staff: Participant,
    official: Participant,
}

fn participant(role: Role, name: &str, user_id: Option<i64>) -> Participant {
    Participant {
        actor: Actor {
            user_id,
            name: name.into(),
            source: "127.0.0.1".into(),
        },
        role,
        display_name: format!("{name} (uji)"),
    }
}

fn identity() -> SigningIdentity {
    let ca = new_ca("Uji CA", 1).expect("ca");
    issue_signer(&ca, "Pejabat Uji", 30).expect("signer")
}

async fn fixture(backend: &str, signer: Signer) -> Fixture {
    let t = TestDb::new(backend).await.expect("db");
    let store = LocalStore::new().expect("store");
    let docs = Documents::new(
        t.db.clone(),
        store.storage.clone(),
        DocumentsConfig::default(),
    )
    .await
    .expect("documents");
    let official_user =
        t.db.create_user("pejabat", "Pejabat Uji", Role::Official, "x")
            .await
            .expect("user");
    let service = SigningService::new(
        t.db.clone(),
        docs.clone(),
        signer,
        companion_domain::seal::new_seal_key(),
        SigningConfig {
            public_base_url: "https://izin.karokab.go.id".into(),
            placement: Placement::default(),
            location: "Kabanjahe".into(),
            tsa: None,
            visible_role: Some("Kepala DPMPTSP Kabupaten Karo".into()),
            utc_offset: chrono::FixedOffset::east_opt(7 * 3600).expect("offset"),
        },
    )
    .with_timings(JobTimings {
        lease: Duration::from_secs(3),
        stall_after: Duration::from_secs(60),
    });
    Fixture {
        t,
        store,
        docs,
        service,
        staff: participant(Role::Staff, "petugas", None),
        official: participant(Role::Official, "pejabat", Some(official_user.id)),
    }
}

impl Fixture {
    /// `n` permits, each with an imported letter carried to "ready to sign" (stamped).
    async fn stamped_cases(&self, n: usize) -> Vec<i64> {
        let mut ids = Vec::new();
        for i in 0..n {
            let case = companion_signing::testing::ready_to_sign(
                &self.service,
                &self.docs,
                &self.staff,
                &self.official,
                &format!("07{i:012}"),
                &format!("503/{i:04}/DPMPTSP/2026"),
            )
            .await
            .expect("ready to sign");
            assert_eq!(case.state, "stamped");
            ids.push(case.id);
        }
        ids
    }

    /// How many signed files each permit of `cases` has, and whether each case is published.
    async fn signed_files(&self, case: i64) -> (usize, String) {
        let c = self
            .t
            .db
            .get_signing_case(case)
            .await
            .expect("db")
            .expect("case");
        let signed = self
            .t
            .db
            .documents_for_permit(&c.pendaftaran_id)
            .await
            .expect("docs")
            .into_iter()
            .filter(|d| d.kind == "signed")
            .count();
        (signed, c.state)
    }
}

async fn a_batch_signs_many_and_one_bad_document_fails_alone(backend: &str) {
    let f = fixture(backend, identity().into()).await;
    let cases = f.stamped_cases(8).await;
    // The third document's stamped file vanished from the store.
    let broken =
        f.t.db
            .get_signing_case(cases[2])
            .await
            .expect("db")
            .expect("case");
    let stamped =
        f.t.db
            .get_document(broken.stamped_document_id.expect("stamped"))
            .await
            .expect("db")
            .expect("doc");
    std::fs::remove_file(f.store.dir.join(&stamped.storage_key)).expect("remove object");

    // Not for staff; the official signs "all ready".
    assert!(matches!(
        f.service.start_batch(&cases, &f.staff, None).await,
        Err(SigningError::Workflow(_))
    ));
    let ready = f.service.ready_case_ids(100).await.expect("ready");
    assert_eq!(ready.len(), 8);
    let (batch, worker) = f
        .service
        .start_batch(&ready, &f.official, None)
        .await
        .expect("start");
    assert_eq!(batch.total, 8);
    // The same cases cannot go into a second job while the first has them.
    assert!(matches!(
        f.service.start_batch(&ready, &f.official, None).await,
        Err(SigningError::NothingToSign)
    ));
    let errors = worker.await.expect("worker");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, cases[2]);

    let batch = f.service.batch(batch.id).await.expect("batch");
    assert_eq!(batch.state, "finished");
    assert_eq!((batch.signed, batch.failed, batch.queued), (7, 1, 0));
    let items = f.t.db.signing_batch_items(batch.id).await.expect("items");
    let failed = items.iter().find(|i| i.state == "failed").expect("failed");
    assert_eq!(failed.case_id, cases[2]);
    assert!(failed.error.as_deref().is_some_and(|e| !e.is_empty()));
    for (i, case) in cases.iter().enumerate() {
        let (files, state) = f.signed_files(*case).await;
        if i == 2 {
            assert_eq!((files, state.as_str()), (0, "stamped"));
        } else {
            assert_eq!((files, state.as_str()), (1, "published"), "case {case}");
        }
    }
    // Nothing can sign a published case again.
    assert!(f.service.sign(cases[0], &f.official).await.is_err());
    f.t.cleanup().await.expect("cleanup");
}

/// A job whose worker "died": its lease is already over and one item was taken.
async fn orphaned_batch(f: &Fixture, cases: &[i64]) -> (i64, Vec<companion_db::BatchItem>) {
    let batch =
        f.t.db
            .create_signing_batch(
                f.official.actor.user_id,
                &f.official.actor.name,
                cases,
                chrono::Utc::now() - chrono::Duration::seconds(5),
            )
            .await
            .expect("db")
            .expect("batch");
    let mut taken = Vec::new();
    for _ in 0..2 {
        taken.push(
            f.t.db
                .claim_batch_item(batch.id)
                .await
                .expect("db")
                .expect("item"),
        );
    }
    (batch.id, taken)
}

#[tokio::test]
async fn after_a_crash_the_local_signer_resumes_and_adopts_what_was_stored() {
    let signer = identity();
    let f = fixture("sqlite", signer.clone().into()).await;
    let cases = f.stamped_cases(5).await;
    let (batch_id, taken) = orphaned_batch(&f, &cases).await;
    // The second taken item died after its signed file was stored but before the case knew.
    let second =
        f.t.db
            .get_signing_case(taken[1].case_id)
            .await
            .expect("db")
            .expect("case");
    let stamped_doc =
        f.t.db
            .get_document(second.stamped_document_id.expect("stamped"))
            .await
            .expect("db")
            .expect("doc");
    let bytes = f
        .docs
        .storage()
        .get_bytes(&stamped_doc.storage_key)
        .await
        .expect("bytes");
    let info = companion_pdf::sign::SignatureInfo {
        name: "Pejabat Uji".into(),
        reason: "Penerbitan surat izin".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: None,
    };
    let signed = companion_pdf::sign::sign_pdf(&bytes, 1, &info, &signer).expect("sign");
    let stored = f
        .docs
        .import(
            &second.pendaftaran_id,
            signed.into(),
            None,
            DocumentKind::Signed,
            ImportSource::Signing,
            &f.official.actor,
        )
        .await
        .expect("import")
        .document;

    assert_eq!(f.service.recover_batches().await.expect("recover"), 1);
    let batch = f.service.batch(batch_id).await.expect("batch");
    assert_eq!(batch.state, "paused");
    assert!(
        batch
            .note
            .as_deref()
            .is_some_and(|n| n.contains("passphrase"))
    );
    let items = f.t.db.signing_batch_items(batch_id).await.expect("items");
    let state_of = |case: i64| {
        items
            .iter()
            .find(|i| i.case_id == case)
            .map(|i| i.state.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        state_of(taken[0].case_id),
        "queued",
        "local: nothing left the process"
    );
    assert_eq!(
        state_of(taken[1].case_id),
        "signed",
        "the stored file is adopted"
    );
    let adopted =
        f.t.db
            .get_signing_case(taken[1].case_id)
            .await
            .expect("db")
            .expect("case");
    assert_eq!(adopted.signed_document_id, Some(stored.id));
    assert_eq!(adopted.state, "published");
    // A second recovery finds nothing more to do.
    assert_eq!(f.service.recover_batches().await.expect("recover"), 0);

    // Only the batch's official may resume it.
    let other = participant(Role::Official, "pejabat.lain", None);
    assert!(matches!(
        f.service.resume_batch(batch_id, &other, None).await,
        Err(SigningError::NotYourBatch)
    ));
    let (_, worker) = f
        .service
        .resume_batch(batch_id, &f.official, None)
        .await
        .expect("resume");
    assert!(worker.await.expect("worker").is_empty());
    let batch = f.service.batch(batch_id).await.expect("batch");
    assert_eq!((batch.state.as_str(), batch.signed), ("finished", 5));
    for case in &cases {
        assert_eq!(
            f.signed_files(*case).await,
            (1, "published".to_string()),
            "case {case}: signed exactly once"
        );
    }
    f.t.cleanup().await.expect("cleanup");
}

const PASSPHRASE: &str = "Kopi-Karo#Sidikalang-77";
const WRONG: &str = "kopi-karo-salah-ketik";
const NIK: &str = "1207010101800001";

/// Log lines written while the test runs (all levels), to search for the passphrase.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn bsre_through_the_service_and_the_passphrase_goes_nowhere() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = BsreSim::start(
        "127.0.0.1:0".parse().expect("addr"),
        BsreSimConfig {
            username: "karo-client".into(),
            password: "uji-kredensial".into(),
            users: vec![
                BsreSimUser {
                    nik: NIK.into(),
                    name: "Pejabat Uji".into(),
                    passphrase: PASSPHRASE.into(),
                    status: "ISSUE".into(),
                },
                BsreSimUser {
                    nik: "1207010101800003".into(),
                    name: "Pejabat Dicabut".into(),
                    passphrase: PASSPHRASE.into(),
                    status: "REVOKED".into(),
                },
            ],
            latency: Duration::ZERO,
        },
    )
    .await
    .expect("sim");
    let client = BsreClient::new(BsreConfig {
        base_url: sim.url(),
        api: BsreApi::V2,
        username: "karo-client".into(),
        password: "uji-kredensial".into(),
        timeout: Duration::from_secs(2),
    })
    .expect("client");
    let f = fixture("sqlite", client.into()).await;
    let cases = f.stamped_cases(4).await;
    let pass = || Some(Passphrase::new(PASSPHRASE.into()));
    let mut messages = Vec::new();

    // No NIK in the profile yet, then no passphrase: refused before BSrE is called.
    let e = f
        .service
        .sign_now(cases[0], &f.official, pass())
        .await
        .expect_err("no nik");
    assert!(matches!(e, SigningError::Bsre(BsreError::NoNik)), "{e:?}");
    f.t.db
        .set_user_nik("pejabat", Some(NIK))
        .await
        .expect("nik");
    let e = f
        .service
        .sign_now(cases[0], &f.official, None)
        .await
        .expect_err("no passphrase");
    assert!(matches!(e, SigningError::NoPassphrase), "{e:?}");

    // A wrong passphrase: a clear message, the case stays ready, the one-document job ends.
    let e = f
        .service
        .sign_now(cases[0], &f.official, Some(Passphrase::new(WRONG.into())))
        .await
        .expect_err("wrong passphrase");
    assert!(
        matches!(e, SigningError::Bsre(BsreError::WrongPassphrase)),
        "{e:?}"
    );
    messages.push(format!("{e} {e:?} {}", e.pesan()));
    let case =
        f.t.db
            .get_signing_case(cases[0])
            .await
            .expect("db")
            .expect("case");
    assert_eq!(case.state, "stamped");
    assert!(
        case.signing_error
            .as_deref()
            .is_some_and(|m| m.contains("Passphrase salah"))
    );
    assert_eq!(f.service.ready_case_ids(10).await.expect("ready").len(), 4);

    // A batch of three with the right passphrase.
    let (batch, worker) = f
        .service
        .start_batch(&cases[..3], &f.official, pass())
        .await
        .expect("start");
    assert!(worker.await.expect("worker").is_empty());
    assert_eq!(f.service.batch(batch.id).await.expect("batch").signed, 3);

    // BSrE does not answer: the document needs attention, nothing is re-sent on its own.
    sim.set_fault(BsreFault::Hang);
    let e = f
        .service
        .sign_now(cases[3], &f.official, pass())
        .await
        .expect_err("timeout");
    assert!(e.outcome_unknown(), "{e:?}");
    messages.push(format!("{e} {e:?} {}", e.pesan()));
    let attention = f.t.db.batch_items_in("attention", 10).await.expect("items");
    assert_eq!(attention.len(), 1);
    assert_eq!(attention[0].case_id, cases[3]);
    let calls = sim.sign_calls();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.sign_calls(), calls);
    // The same case cannot be signed again until a person settles it.
    assert!(matches!(
        f.service
            .start_batch(&[cases[3]], &f.official, pass())
            .await,
        Err(SigningError::NothingToSign)
    ));
    // The official checked BSrE and queues it again, then resumes with the passphrase.
    sim.set_fault(BsreFault::None);
    let item = f
        .service
        .retry_item(attention[0].id, &f.official)
        .await
        .expect("retry");
    assert_eq!(item.state, "queued");
    assert_eq!(
        f.service.batch(item.batch_id).await.expect("batch").state,
        "paused"
    );
    let (_, worker) = f
        .service
        .resume_batch(item.batch_id, &f.official, pass())
        .await
        .expect("resume");
    assert!(worker.await.expect("worker").is_empty());
    for case in &cases {
        assert_eq!(f.signed_files(*case).await, (1, "published".to_string()));
    }

    // A revoked certificate is refused by the status check before any passphrase is sent.
    f.t.db
        .set_user_nik("pejabat", Some("1207010101800003"))
        .await
        .expect("nik");
    let e = f
        .service
        .check_ready(&f.official, pass().as_ref())
        .await
        .expect_err("revoked");
    assert!(
        matches!(&e, SigningError::Bsre(BsreError::CertificateNotUsable(s)) if s == "REVOKED"),
        "{e:?}"
    );
    messages.push(format!("{e} {e:?} {}", e.pesan()));

    // The passphrases appear in no error, no log line, and nowhere in the database file.
    let logs = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    assert!(
        logs.contains("signing outcome unknown"),
        "the logs were captured"
    );
    for secret in [PASSPHRASE, WRONG] {
        for m in &messages {
            assert!(!m.contains(secret), "an error shows the passphrase: {m}");
        }
        assert!(!logs.contains(secret), "a log line shows the passphrase");
    }
    let db_path =
        f.t.url
            .strip_prefix("sqlite://")
            .expect("sqlite url")
            .to_string();
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        if let Ok(b) = std::fs::read(format!("{db_path}{suffix}")) {
            bytes.extend(b);
        }
    }
    assert!(bytes.len() > 10_000, "the database file was read");
    for secret in [PASSPHRASE, WRONG] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the database holds the passphrase"
        );
    }
    f.t.cleanup().await.expect("cleanup");
}
