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
    tsa: Arc<SigningIdentity>,
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
            entry("tsa-root", &tsa_root, vec![tsa.certificate.clone()]),
        ],
    };
    let served = Served {
        pki: Arc::new(pki),
        tsa: Arc::new(tsa.clone()),
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
    match companion_pdf::timestamp::respond(&s.tsa, &body, serial, SystemTime::now()) {
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

companion_db::on_both_backends!(the_service_signs_at_the_configured_level);

/// The signing service with `SIGNATURE_LEVEL=B-LTA`: the stored signed permit carries the DSS
/// and a document timestamp, and reads ASLI six years on.
async fn the_service_signs_at_the_configured_level(backend: &str) {
    use companion_documents::{Actor, Documents, DocumentsConfig};
    use companion_domain::Role;
    let w = world().await;
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
            tsa: Some(tsa_client(&w)),
            visible_role: None,
            utc_offset: chrono::FixedOffset::east_opt(7 * 3600).expect("offset"),
        },
    )
    .with_long_term(LongTerm {
        level: SignatureLevel::BLTA,
        fetcher: fetcher(),
        tsa: Some(tsa_client(&w)),
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
    let (staff, official) = (who(Role::Staff, "petugas"), who(Role::Official, "pejabat"));
    let case = companion_signing::testing::ready_to_sign(
        &service,
        &docs,
        &staff,
        &official,
        "0142307703072025",
        "503/0142/DPMPTSP/2025",
    )
    .await
    .expect("ready");
    let signed = service.sign(case.id, &official).await.expect("sign");
    let doc =
        t.db.get_document(signed.signed_document_id.expect("signed id"))
            .await
            .expect("get")
            .expect("doc");
    let bytes = store
        .storage
        .get_bytes(&doc.storage_key)
        .await
        .expect("bytes");
    assert!(bytes.windows(13).any(|b| b == b"/DocTimeStamp"));
    let later = chrono::Utc::now() + chrono::Duration::days(6 * 365);
    let r = check(&w, &bytes, later);
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    assert_eq!(office(&r).ltv.outcome, Outcome::Passed);
}
