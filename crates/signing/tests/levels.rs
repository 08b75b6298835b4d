//! Signing levels B-T, B-LT and B-LTA and online revocation fetching, against a loopback PKI:
//! a root → issuing CA → signer with CRL distribution points and an OCSP responder (AIA), a TSA
//! under its own root with the same, all served over HTTP by a test server shaped like the
//! product's `/pki/...` (20a's `companion_pdf::pki`). Every file is checked by our validator now
//! and six years ahead, and by pyHanko (`sign validate`, `sign adesverify`) and pdfsig.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use companion_pdf::keys::SigningIdentity;
use companion_pdf::pki::{
    CaEntry, CrlReason, LeafKind, Pki, PkiUrls, Revoked, issue_ca, issue_leaf, key_id, new_root,
    serial_of,
};
use companion_pdf::revocation::{Evidence, Status};
use companion_pdf::sign::{CmsSigner, SignatureInfo, prepare_signature_with_dss};
use companion_pdf::validate::{Outcome, Policy, Report, validate_with_evidence};
use companion_signing::TsaClient;
use companion_signing::ltv::{LongTerm, SignatureLevel};
use companion_signing::revocation::{FetchError, RevocationFetcher};
use der::Encode;

#[derive(Clone)]
struct Served {
    pki: Arc<Pki>,
    /// The TSA's current certificate (a test may hand over to `World::tsa_next`).
    tsa: Arc<Mutex<SigningIdentity>>,
    revoked: Arc<Mutex<Vec<Revoked>>>,
    requests: Arc<AtomicUsize>,
    /// Answer every OCSP request with garbage.
    ocsp_garbage: Arc<AtomicBool>,
}

struct World {
    root: SigningIdentity,
    issuing: SigningIdentity,
    signer: SigningIdentity,
    tsa_root: SigningIdentity,
    tsa: SigningIdentity,
    /// The TSA's next certificate, longer-lived: what the TSA uses after a key roll-over.
    tsa_next: SigningIdentity,
    base: String,
    served: Served,
}

async fn world() -> World {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let urls = PkiUrls::new(&base);
    let root = new_root("Uji Root CA", 20).expect("root");
    let issuing = issue_ca(&root, "ca", "Uji Issuing CA", 10, Some(0), &urls).expect("issuing");
    let signer = issue_leaf(
        &issuing,
        "Kepala DPMPTSP Uji",
        700,
        LeafKind::Signer,
        Some((&urls, "issuing-ca")),
    )
    .expect("signer");
    let tsa_root = new_root("Uji TSA Root", 20).expect("tsa root");
    let tsa = issue_leaf(
        &tsa_root,
        "Uji TSA",
        3650,
        LeafKind::Tsa,
        Some((&urls, "tsa-root")),
    )
    .expect("tsa");
    let tsa_next = issue_leaf(
        &tsa_root,
        "Uji TSA 2",
        5000,
        LeafKind::Tsa,
        Some((&urls, "tsa-root")),
    )
    .expect("tsa next");
    // Each CA answers OCSP through a delegated responder (OCSPSigning, ocsp-nocheck), as the
    // product's PKI does: a root signing OCSP answers itself would need revocation data for
    // itself in pyHanko's time slide.
    let entry = |name: &str, ca: &SigningIdentity, issued: Vec<x509_cert::Certificate>| CaEntry {
        name: name.into(),
        ca: ca.clone(),
        responder: Some(
            issue_leaf(
                ca,
                &format!("{name} OCSP"),
                365,
                LeafKind::OcspResponder,
                None,
            )
            .expect("responder"),
        ),
        issued,
    };
    let pki = Pki {
        cas: vec![
            entry("issuing-ca", &issuing, vec![signer.certificate.clone()]),
            entry("ca", &root, vec![issuing.certificate.clone()]),
            entry(
                "tsa-root",
                &tsa_root,
                vec![tsa.certificate.clone(), tsa_next.certificate.clone()],
            ),
        ],
    };
    let served = Served {
        pki: Arc::new(pki),
        tsa: Arc::new(Mutex::new(tsa.clone())),
        revoked: Arc::default(),
        requests: Arc::default(),
        ocsp_garbage: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/pki/ocsp", post(ocsp))
        .route("/pki/{file}", get(crl))
        .route("/tsa", post(timestamp))
        .with_state(served.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    World {
        root,
        issuing,
        signer,
        tsa_root,
        tsa,
        tsa_next,
        base,
        served,
    }
}

async fn ocsp(State(s): State<Served>, body: Bytes) -> (StatusCode, Vec<u8>) {
    s.requests.fetch_add(1, Ordering::SeqCst);
    if s.ocsp_garbage.load(Ordering::SeqCst) {
        return (StatusCode::OK, b"not DER at all".to_vec());
    }
    let revoked = s.revoked.lock().expect("lock").clone();
    (
        StatusCode::OK,
        s.pki.ocsp(&body, &revoked, SystemTime::now()),
    )
}

async fn crl(State(s): State<Served>, Path(file): Path<String>) -> (StatusCode, Vec<u8>) {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let Some(name) = file.strip_suffix(".crl") else {
        return (StatusCode::NOT_FOUND, Vec::new());
    };
    let revoked = s.revoked.lock().expect("lock").clone();
    match s.pki.crl(name, &revoked, SystemTime::now()) {
        Some(Ok(der)) => (StatusCode::OK, der),
        _ => (StatusCode::NOT_FOUND, Vec::new()),
    }
}

async fn timestamp(State(s): State<Served>, body: Bytes) -> (StatusCode, Vec<u8>) {
    let serial = s.requests.fetch_add(1, Ordering::SeqCst) as u64 + 1;
    let tsa = s.tsa.lock().expect("lock").clone();
    match companion_pdf::timestamp::respond(&tsa, &body, serial, SystemTime::now()) {
        Ok(der) => (StatusCode::OK, der),
        Err(_) => (StatusCode::BAD_REQUEST, Vec::new()),
    }
}

fn fetcher() -> RevocationFetcher {
    RevocationFetcher::new(true, Duration::from_secs(3)).expect("fetcher")
}

fn tsa_client(w: &World) -> TsaClient {
    TsaClient::new(&format!("{}/tsa", w.base), Duration::from_secs(5)).expect("tsa client")
}

/// A permit signed the way the service signs it: chain in the DSS, CMS, signature timestamp.
async fn sign_bt(w: &World) -> Vec<u8> {
    let pdf = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let info = SignatureInfo {
        name: "Kepala DPMPTSP Uji".into(),
        reason: "Penerbitan surat izin".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: None,
    };
    let prepared =
        prepare_signature_with_dss(&pdf, 1, &info, &w.signer.chain_der().expect("chain"))
            .expect("prepare");
    let cms = w.signer.sign_digest(&prepared.digest).expect("cms");
    let cms = tsa_client(w).timestamp(&cms).await.expect("timestamp");
    prepared.finish(&cms).expect("finish")
}

async fn at_level(w: &World, pdf: Vec<u8>, level: SignatureLevel) -> Vec<u8> {
    let long_term = LongTerm {
        level,
        fetcher: fetcher(),
        tsa: Some(tsa_client(w)),
        anchors: Vec::new(),
    };
    let out = long_term.extend(pdf, &w.signer.chain).await;
    assert_eq!(out.level, level, "{:?}", out.problem);
    out.pdf
}

fn check(w: &World, pdf: &[u8], at: chrono::DateTime<chrono::Utc>) -> Report {
    check_online(w, pdf, at, &Evidence::default())
}

fn check_online(
    w: &World,
    pdf: &[u8],
    at: chrono::DateTime<chrono::Utc>,
    online: &Evidence,
) -> Report {
    let signers = [w.root.certificate.clone()];
    let tsas = [w.tsa_root.certificate.clone()];
    let office = [w.signer.certificate.clone()];
    validate_with_evidence(
        pdf,
        &Policy {
            signer_anchors: &signers,
            tsa_anchors: &tsas,
            office: Some(&office),
        },
        at,
        online,
    )
}

fn office(r: &Report) -> &companion_pdf::validate::SignatureReport {
    r.last().expect("a signature")
}

fn pem(c: &x509_cert::Certificate) -> String {
    openssl::x509::X509::from_der(&c.to_der().expect("der"))
        .expect("x509")
        .to_pem()
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .expect("pem")
}

/// pyHanko and pdfsig on the file, trusting only the test's roots: (validate, adesverify,
/// pdfsig) outputs with their exit status.
fn peers(w: &World, pdf: &[u8], validation_time: Option<&str>) -> (bool, String, String) {
    let tmp = tempfile::tempdir().expect("tmp");
    // LEVELS_KEEP=DIR keeps the last file checked there, for a look by hand.
    let dir: std::path::PathBuf = match std::env::var("LEVELS_KEEP") {
        Ok(keep) => {
            let _ = std::fs::create_dir_all(&keep);
            keep.into()
        }
        Err(_) => tmp.path().to_path_buf(),
    };
    let p = |n: &str| dir.join(n);
    std::fs::write(p("f.pdf"), pdf).expect("write");
    std::fs::write(p("root.pem"), pem(&w.root.certificate)).expect("write");
    std::fs::write(p("tsa-root.pem"), pem(&w.tsa_root.certificate)).expect("write");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("pyhanko")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("pyhanko (scripts/test.sh installs pyhanko-cli)");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let mut validate = vec![
        "sign",
        "validate",
        "--no-revocation-check",
        "--trust",
        "root.pem",
        "--trust",
        "tsa-root.pem",
        "--trust-replace",
    ];
    validate.push("f.pdf");
    let (ok, text) = run(&validate);
    assert!(ok, "pyhanko sign validate: {text}");
    let mut ades = vec![
        "--verbose",
        "sign",
        "adesverify",
        "--trust",
        "root.pem",
        "--trust",
        "tsa-root.pem",
        "--trust-replace",
    ];
    if let Some(t) = validation_time {
        ades.extend(["--validation-time", t]);
    }
    ades.push("f.pdf");
    let (ades_ok, ades_text) = run(&ades);
    let pdfsig = std::process::Command::new("pdfsig")
        .arg(p("f.pdf"))
        .output()
        .expect("pdfsig");
    (
        ades_ok,
        ades_text,
        String::from_utf8_lossy(&pdfsig.stdout).into_owned(),
    )
}

// Multi-threaded: the loopback PKI keeps answering while pyHanko runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_level_is_written_and_validates_now_and_later() {
    let w = world().await;
    let bt = sign_bt(&w).await;
    let blt = at_level(&w, bt.clone(), SignatureLevel::BLT).await;
    let blta = at_level(&w, bt.clone(), SignatureLevel::BLTA).await;
    assert!(blt.len() > bt.len() && blta.len() > blt.len());
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::days(6 * 365);

    // B-T: offline, the signer names OCSP/CRL and the file carries none: indeterminate; with
    // the data fetched online, ASLI (no LTV). Six years on the signer certificate has expired
    // and nothing in the file proves the signature from before: indeterminate.
    let r = check(&w, &bt, now);
    assert_eq!(r.outcome, Outcome::Indeterminate, "{r:#?}");
    let pool = [w.root.certificate.clone(), w.tsa_root.certificate.clone()];
    let online = fetcher().evidence_for(&bt, &pool, now).await;
    let r = check_online(&w, &bt, now, &online);
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    assert!(office(&r).revocation.detail.contains("daring"), "{r:#?}");
    assert_eq!(office(&r).ltv.outcome, Outcome::Indeterminate, "{r:#?}");
    let r = check(&w, &bt, later);
    assert_eq!(r.outcome, Outcome::Indeterminate, "{r:#?}");

    // B-LT: ASLI, LTV passed, revocation from the DSS (our fetcher never ran for it).
    let r = check(&w, &blt, now);
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    let s = office(&r);
    assert_eq!(s.ltv.outcome, Outcome::Passed, "{s:#?}");
    assert!(
        s.revocation.detail.contains("di berkas"),
        "{:?}",
        s.revocation
    );

    // B-LTA: ASLI today and six years ahead (after the signer certificate expired), the
    // document timestamp being the moment of proof.
    let r = check(&w, &blta, now);
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    assert!(r.signatures.iter().any(|s| s.document_timestamp));
    let r = check(&w, &blta, later);
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    let s = office(&r);
    assert_eq!(s.ltv.outcome, Outcome::Passed, "{s:#?}");
    assert!(s.ltv.detail.contains("cap waktu dokumen"), "{:?}", s.ltv);
    assert!(s.proven_by_document_timestamp.is_some());

    // pyHanko and pdfsig.
    let (ok, text, pdfsig) = peers(&w, &blta, None);
    eprintln!("pyhanko adesverify (today), B-LTA:\n{text}\npdfsig:\n{pdfsig}");
    assert!(
        ok && text.contains(":INTACT:TRUSTED") && !text.contains("Validation failed"),
        "{text}"
    );
    assert!(pdfsig.contains("Signature is Valid"), "{pdfsig}");
    let in_six_years = later.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let (_, text, _) = peers(&w, &blta, Some(&in_six_years));
    eprintln!("pyhanko adesverify at {in_six_years}, B-LTA:\n{text}");
    let (_, text, pdfsig) = peers(&w, &blt, None);
    eprintln!("pyhanko adesverify (today), B-LT:\n{text}");
    assert!(pdfsig.contains("Signature is Valid"), "{pdfsig}");
}

#[tokio::test]
async fn revocation_decides_for_signatures_before_and_after() {
    let w = world().await;
    // Signed, extended to B-LTA, then the signer is revoked: the file's own evidence (from
    // before) keeps it ASLI today; with the new data, the revocation after signing is shown.
    let before = at_level(&w, sign_bt(&w).await, SignatureLevel::BLTA).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    w.served.revoked.lock().expect("lock").push(Revoked {
        issuer_key_id: key_id(&w.issuing.certificate),
        serial: serial_of(&w.signer.certificate),
        revoked_at: SystemTime::now(),
        reason: CrlReason::KeyCompromise,
    });
    let r = check(&w, &before, chrono::Utc::now());
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");

    // Signed after the revocation: the fetched answer says revoked, the level is still
    // reached (the truth goes into the file), and the validator says TIDAK ASLI.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let long_term = LongTerm {
        level: SignatureLevel::BLTA,
        fetcher: fetcher(),
        tsa: Some(tsa_client(&w)),
        anchors: Vec::new(),
    };
    let after = long_term.extend(sign_bt(&w).await, &w.signer.chain).await;
    assert!(
        after
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("dicabut")),
        "{:?}",
        after.problem
    );
    let r = check(&w, &after.pdf, chrono::Utc::now());
    assert_eq!(r.outcome, Outcome::Failed, "{r:#?}");
    assert!(r.reason.contains("dicabut sebelum"), "{}", r.reason);

    // The earlier file with the later data added (a renewal): still ASLI, revocation shown.
    let fresh = long_term.extend(before.clone(), &w.signer.chain).await;
    let r = check(&w, &fresh.pdf, chrono::Utc::now());
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
}

#[tokio::test]
async fn hostile_revocation_sources_never_say_not_revoked() {
    let w = world().await;
    let now = chrono::Utc::now();
    let (leaf, issuer) = (&w.signer.certificate, &w.issuing.certificate);
    let above = [w.root.certificate.clone()];

    // Genuine: OCSP good, and the answer is cached until its nextUpdate.
    let f = fetcher();
    let got = f.fetch(leaf, issuer, &above, now).await.expect("good");
    assert!(matches!(got.status, Status::Good { .. }));
    let n = w.served.requests.load(Ordering::SeqCst);
    f.fetch(leaf, issuer, &above, now).await.expect("cached");
    assert_eq!(
        w.served.requests.load(Ordering::SeqCst),
        n,
        "served from the cache"
    );
    // Past its nextUpdate the cache is not used and the answer is checked again.
    let stale_time = now + chrono::Duration::days(30);
    assert!(f.fetch(leaf, issuer, &above, stale_time).await.is_err());

    // Off.
    let off = RevocationFetcher::new(false, Duration::from_secs(1)).expect("fetcher");
    assert_eq!(
        off.fetch(leaf, issuer, &above, now).await,
        Err(FetchError::Disabled)
    );

    // The responder answers garbage: the CRL is used instead (the CDP still works).
    w.served.ocsp_garbage.store(true, Ordering::SeqCst);
    let got = fetcher()
        .fetch(leaf, issuer, &above, now)
        .await
        .expect("crl");
    assert!(!got.crls.is_empty() && got.ocsps.is_empty());
    w.served.ocsp_garbage.store(false, Ordering::SeqCst);

    // A certificate whose services are down, slow, answer garbage or another CA's data.
    let hostile = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hostile_base = format!("http://{}", hostile.local_addr().expect("addr"));
    let stranger = new_root("Uji Root CA", 20).expect("stranger");
    let stranger_issuing = issue_ca(
        &stranger,
        "ca",
        "Uji Issuing CA",
        10,
        Some(0),
        &PkiUrls::new(&hostile_base),
    )
    .expect("stranger issuing");
    let forged_pki = Arc::new(Pki {
        cas: vec![CaEntry {
            name: "issuing-ca".into(),
            ca: stranger_issuing.clone(),
            responder: None,
            issued: vec![],
        }],
    });
    let stale_crl = companion_pdf::pki::build_crl(
        &w.issuing,
        &[],
        SystemTime::now() - Duration::from_secs(30 * 86_400),
        SystemTime::now() - Duration::from_secs(23 * 86_400),
        1,
    )
    .expect("stale crl");
    let forged_crl = companion_pdf::pki::build_crl(
        &stranger_issuing,
        &[],
        SystemTime::now(),
        SystemTime::now() + Duration::from_secs(86_400),
        1,
    )
    .expect("forged crl");
    let pki_for_ocsp = forged_pki.clone();
    let app = axum::Router::new()
        .route(
            "/slow/pki/ocsp",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Vec::<u8>::new()
            }),
        )
        .route(
            "/slow/pki/{f}",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Vec::<u8>::new()
            }),
        )
        .route("/junk/pki/ocsp", post(|| async { "junk" }))
        .route("/junk/pki/{f}", get(|| async { "junk" }))
        .route(
            "/e500/pki/ocsp",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "x") }),
        )
        .route(
            "/e500/pki/{f}",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "x") }),
        )
        .route(
            "/forged/pki/ocsp",
            post(move |body: Bytes| {
                let pki = pki_for_ocsp.clone();
                async move { pki.ocsp(&body, &[], SystemTime::now()) }
            }),
        )
        .route(
            "/forged/pki/{f}",
            get(move || {
                let crl = forged_crl.clone();
                async move { crl }
            }),
        )
        .route(
            "/stale/pki/ocsp",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "") }),
        )
        .route(
            "/stale/pki/{f}",
            get(move || {
                let crl = stale_crl.clone();
                async move { crl }
            }),
        );
    tokio::spawn(async move { axum::serve(hostile, app).await });
    let start = std::time::Instant::now();
    for (case, base) in [
        ("down", "http://127.0.0.1:9".to_string()),
        ("slow", format!("{hostile_base}/slow")),
        ("garbage", format!("{hostile_base}/junk")),
        ("HTTP 500", format!("{hostile_base}/e500")),
        ("another CA's answers", format!("{hostile_base}/forged")),
        ("stale CRL", format!("{hostile_base}/stale")),
    ] {
        let cert = issue_leaf(
            &w.issuing,
            "Pejabat Uji",
            30,
            LeafKind::Signer,
            Some((&PkiUrls::new(&base), "issuing-ca")),
        )
        .expect("leaf");
        let f = RevocationFetcher::new(true, Duration::from_secs(2)).expect("fetcher");
        let result = f.fetch(&cert.certificate, issuer, &above, now).await;
        let e = result.expect_err(case);
        let words = e.pesan();
        assert!(words.contains("tidak dapat dipastikan"), "{case}: {words}");
        // And a file extended with such a source stays B-T, never claims LT.
        let _ = &w.tsa;
    }
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "timeouts are short"
    );
}

/// An office on `backend` with the signing service at `SIGNATURE_LEVEL=B-LTA` against the
/// world's PKI and TSA, a staff member and an official.
struct Office {
    t: companion_db::testing::TestDb,
    store: companion_storage::testing::LocalStore,
    docs: companion_documents::Documents,
    service: companion_signing::SigningService,
    staff: companion_signing::Participant,
    official: companion_signing::Participant,
}

async fn office_on(w: &World, backend: &str) -> Office {
    use companion_documents::{Actor, Documents, DocumentsConfig};
    use companion_domain::Role;
    let t = companion_db::testing::TestDb::new(backend)
        .await
        .expect("db");
    let store = companion_storage::testing::LocalStore::new().expect("store");
    let docs = Documents::new(
        t.db.clone(),
        store.storage.clone(),
        DocumentsConfig::default(),
    )
    .await
    .expect("documents");
    let service = companion_signing::SigningService::new(
        t.db.clone(),
        docs.clone(),
        w.signer.clone(),
        companion_domain::seal::new_seal_key(),
        companion_signing::SigningConfig {
            public_base_url: "https://izin.karokab.go.id".into(),
            placement: companion_pdf::stamp::Placement::default(),
            location: "Kabanjahe".into(),
            tsa: Some(tsa_client(w)),
            visible_role: None,
            utc_offset: chrono::FixedOffset::east_opt(7 * 3600).expect("offset"),
        },
    )
    .with_long_term(LongTerm {
        level: SignatureLevel::BLTA,
        fetcher: fetcher(),
        tsa: Some(tsa_client(w)),
        anchors: Vec::new(),
    });
    let who = |role, name: &str| companion_signing::Participant {
        actor: Actor {
            user_id: None,
            name: name.into(),
            source: "127.0.0.1".into(),
        },
        role,
        display_name: name.into(),
    };
    Office {
        t,
        store,
        docs,
        service,
        staff: who(Role::Staff, "petugas"),
        official: who(Role::Official, "pejabat"),
    }
}

impl Office {
    /// A permit's letter carried through approval and signed: the published case.
    async fn signed(&self, id: &str, number: &str) -> companion_db::SigningCase {
        let case = companion_signing::testing::ready_to_sign(
            &self.service,
            &self.docs,
            &self.staff,
            &self.official,
            id,
            number,
        )
        .await
        .expect("ready");
        self.service
            .sign(case.id, &self.official)
            .await
            .expect("sign")
    }

    async fn case(&self, id: i64) -> companion_db::SigningCase {
        self.t
            .db
            .get_signing_case(id)
            .await
            .expect("case")
            .expect("exists")
    }

    async fn file(&self, document_id: Option<i64>) -> Vec<u8> {
        let doc = self
            .t
            .db
            .get_document(document_id.expect("a document"))
            .await
            .expect("get")
            .expect("doc");
        self.store
            .storage
            .get_bytes(&doc.storage_key)
            .await
            .expect("bytes")
            .to_vec()
    }
}

companion_db::on_both_backends!(the_service_signs_at_the_configured_level);

/// The signing service with `SIGNATURE_LEVEL=B-LTA`: the stored signed permit carries the DSS
/// and a document timestamp, and reads ASLI six years on.
async fn the_service_signs_at_the_configured_level(backend: &str) {
    let w = world().await;
    let o = office_on(&w, backend).await;
    let signed = o.signed("0142307703072025", "503/0142/DPMPTSP/2025").await;
    let bytes = o.file(signed.signed_document_id).await;
    assert!(bytes.windows(13).any(|b| b == b"/DocTimeStamp"));
    let later = chrono::Utc::now() + chrono::Duration::days(6 * 365);
    let r = check(&w, &bytes, later);
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    assert_eq!(office(&r).ltv.outcome, Outcome::Passed);
}

fn not_after(c: &x509_cert::Certificate) -> chrono::DateTime<chrono::Utc> {
    let secs = c
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration()
        .as_secs();
    chrono::DateTime::from_timestamp(secs as i64, 0).expect("time")
}

fn document_timestamps(pdf: &[u8]) -> usize {
    companion_pdf::validate::signature_material(pdf)
        .iter()
        .filter(|m| m.document_timestamp)
        .count()
}

companion_db::on_both_backends!(
    archive_timestamps_are_renewed_once_before_the_tsa_certificate_ends
);

/// Issue 20 item 3: the renewal job over three published permits. Just signed, each has its
/// level and a renewal date 90 days before its document timestamp's TSA certificate ends, and
/// nothing is due. At that date (the TSA has moved to a longer-lived certificate meanwhile) the
/// permit without an end of validity gets fresh validation data and a new document timestamp —
/// a new version extending the old byte for byte, audited, recognised as the same letter in
/// either version — and reads ASLI after the first TSA certificate has expired; the permit
/// whose validity ended stops; the revoked one is never touched. Running again renews nothing
/// twice; an interrupted run (renewed file stored, not recorded) is resumed, not redone.
async fn archive_timestamps_are_renewed_once_before_the_tsa_certificate_ends(backend: &str) {
    use companion_domain::archive::SignatureLevel as Level;
    let w = world().await;
    let o = office_on(&w, backend).await;
    let forever = o.signed("0142307703072025", "503/0142/DPMPTSP/2025").await;
    companion_db::testing::execute_raw(
        &o.t.db,
        "UPDATE permits SET expiry_date = NULL WHERE pendaftaran_id = '0142307703072025'",
    )
    .await
    .expect("no end of validity");
    let ending = o.signed("0142307703072026", "503/0143/DPMPTSP/2025").await;
    let revoked = o.signed("0142307703072027", "503/0144/DPMPTSP/2025").await;
    o.service
        .revoke(revoked.id, &o.official, "Salah terbit")
        .await
        .expect("revoke");

    let first_end = not_after(&w.tsa.certificate);
    let c = o.case(forever.id).await;
    assert_eq!(c.signature_level.as_deref(), Some("B-LTA"));
    let due = c.archive_due_at.expect("a renewal date");
    assert!(
        (due - (first_end - chrono::Duration::days(90)))
            .num_seconds()
            .abs()
            < 5,
        "due {due}, TSA certificate ends {first_end}"
    );
    let now = chrono::Utc::now();
    let r = o.service.renew_archives(now, 100).await.expect("run");
    assert_eq!(r.checked, 0, "nothing is due today: {r:?}");

    // The renewal date comes; the TSA has rolled over to its next certificate.
    *w.served.tsa.lock().expect("lock") = w.tsa_next.clone();
    let at = due + chrono::Duration::hours(1);
    let old_file = o.file(forever.signed_document_id).await;
    let r = o.service.renew_archives(at, 100).await.expect("run");
    assert_eq!(
        (r.checked, r.renewed, r.stopped, r.failed),
        (2, 1, 1, 0),
        "{r:?}"
    );
    let c = o.case(forever.id).await;
    assert_ne!(c.signed_document_id, forever.signed_document_id);
    assert_eq!(c.archive_error, None);
    let new_file = o.file(c.signed_document_id).await;
    assert!(new_file.starts_with(&old_file) && new_file.len() > old_file.len());
    assert_eq!(document_timestamps(&new_file), 2);
    assert_eq!(companion_signing::archive::level_of(&new_file), Level::BLTA);
    let next = c.archive_due_at.expect("next date");
    let second_end = not_after(&w.tsa_next.certificate);
    assert!(
        (next - (second_end - chrono::Duration::days(90)))
            .num_seconds()
            .abs()
            < 5,
        "next {next}, new TSA certificate ends {second_end}"
    );
    assert_eq!(
        o.t.db.archive_renewal_count(forever.id).await.expect("n"),
        1
    );
    let e = o.case(ending.id).await;
    assert_eq!(e.archive_stopped.as_deref(), Some("expired"));
    assert_eq!(e.signed_document_id, ending.signed_document_id);
    let v = o.case(revoked.id).await;
    assert_eq!(v.signed_document_id, revoked.signed_document_id);
    assert_eq!(
        o.t.db.archive_renewal_count(revoked.id).await.expect("n"),
        0
    );

    // Both versions are the office's issued letter of this case.
    for id in [forever.signed_document_id, c.signed_document_id] {
        let doc =
            o.t.db
                .get_document(id.expect("id"))
                .await
                .expect("get")
                .expect("doc");
        let issued = o.t.db.issued_document(&doc.sha256).await.expect("issued");
        assert_eq!(issued.map(|i| i.case.id), Some(forever.id));
    }
    // After the first TSA certificate has expired, the renewed file still reads ASLI.
    let after = first_end + chrono::Duration::days(30);
    let r = check(&w, &new_file, after);
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    let (ok, text, pdfsig) = peers(&w, &new_file, None);
    assert!(
        ok && text.contains(":INTACT:TRUSTED") && !text.contains("Validation failed"),
        "{text}"
    );
    assert!(pdfsig.contains("Signature is Valid"), "{pdfsig}");
    let t = after.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let (_, text, _) = peers(&w, &new_file, Some(&t));
    eprintln!("pyhanko adesverify at {t}, renewed:\n{text}");

    // Again at the same moment: nothing is due twice.
    let r = o.service.renew_archives(at, 100).await.expect("run");
    assert_eq!(r.renewed + r.resumed, 0, "{r:?}");
    assert_eq!(
        o.t.db.archive_renewal_count(forever.id).await.expect("n"),
        1
    );

    // An interrupted run: the renewed file of the next cycle stored as a version, the process
    // gone before recording it. The next run records that file instead of renewing again.
    let at2 = next + chrono::Duration::hours(1);
    let current = o.file(c.signed_document_id).await;
    let long_term = LongTerm {
        level: SignatureLevel::BLTA,
        fetcher: fetcher(),
        tsa: Some(tsa_client(&w)),
        anchors: Vec::new(),
    };
    let stranded = long_term
        .renew(&current, &w.signer.chain)
        .await
        .expect("renew");
    let stored = o
        .docs
        .import(
            &forever.pendaftaran_id,
            stranded.clone().into(),
            Some("surat.pdf"),
            companion_domain::DocumentKind::Signed,
            companion_documents::ImportSource::Signing,
            &companion_documents::Actor::system("archive"),
        )
        .await
        .expect("import")
        .document;
    let r = o.service.renew_archives(at2, 100).await.expect("run");
    assert_eq!((r.renewed, r.resumed), (0, 1), "{r:?}");
    let c = o.case(forever.id).await;
    assert_eq!(c.signed_document_id, Some(stored.id));
    assert_eq!(
        o.t.db.archive_renewal_count(forever.id).await.expect("n"),
        2
    );
    let trail = o.t.db.verify_audit().await.expect("audit");
    assert!(trail.is_ok(), "{trail:?}");
}

/// Verification's online look-up (the portal, `verify`): a permit under a trusted root gets
/// its revocation data from the services its certificates name; a file whose chain ends at a
/// root nobody trusts — its certificates naming this very server, as an attacker's could name
/// any internal address — makes not one request.
#[tokio::test]
async fn verification_asks_online_only_for_trusted_chains() {
    let w = world().await;
    let anchors = [w.root.certificate.clone(), w.tsa_root.certificate.clone()];
    let signed = sign_bt(&w).await;
    let before = w.served.requests.load(Ordering::SeqCst);
    let sources = companion_signing::revocation::VerificationSources {
        own: None,
        fetcher: Some(fetcher()),
    };
    let online = sources.online(&signed, &anchors, chrono::Utc::now()).await;
    assert!(!online.is_empty(), "trusted chains are looked up");
    assert!(w.served.requests.load(Ordering::SeqCst) > before);
    let r = check_online(&w, &signed, chrono::Utc::now(), &online);
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");

    // A look-alike PKI under a root that is not trusted, pointing at the same services.
    let urls = PkiUrls::new(&w.base);
    let rogue_root = new_root("Uji Root CA", 20).expect("root");
    let rogue_ca = issue_ca(&rogue_root, "ca", "Uji Issuing CA", 10, Some(0), &urls).expect("ca");
    let rogue = issue_leaf(
        &rogue_ca,
        "Kepala DPMPTSP Uji",
        700,
        LeafKind::Signer,
        Some((&urls, "issuing-ca")),
    )
    .expect("leaf");
    let pdf = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let info = SignatureInfo {
        name: "Kepala DPMPTSP Uji".into(),
        reason: "Penerbitan surat izin".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: None,
    };
    let forged = companion_pdf::sign::sign_pdf(&pdf, 1, &info, &rogue).expect("sign");
    let before = w.served.requests.load(Ordering::SeqCst);
    let online = sources.online(&forged, &anchors, chrono::Utc::now()).await;
    assert!(online.is_empty());
    assert_eq!(
        w.served.requests.load(Ordering::SeqCst),
        before,
        "an untrusted chain's addresses are never fetched"
    );
    let off = companion_signing::revocation::VerificationSources {
        own: None,
        fetcher: Some(RevocationFetcher::new(false, Duration::from_secs(1)).expect("fetcher")),
    };
    assert!(
        off.online(&signed, &anchors, chrono::Utc::now())
            .await
            .is_empty()
    );
}
