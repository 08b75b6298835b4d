//! Issue 21, items 5–7, on SQLite and PostgreSQL through the real service, documents store and
//! SICANTIK simulator: seals that carry the dates (looked up at approval, else entered or
//! confirmed by the official, audited), a 20,000-character holder name that still gives a
//! readable QR (decoded by zbarimg) whose seal verifies, one letter for one case (case A's signed
//! permit plus one byte refused as case B's original; kept only with a note), and no stranded
//! case (a failed stamp leaves the case approved with its error and two ways forward; the
//! start-up resume stamps an interrupted approval).

use std::process::Command;

use companion_db::testing::{TestDb, execute_raw};
use companion_documents::{Actor, Documents, DocumentsConfig, ImportError, ImportSource};
use companion_domain::Role;
use companion_domain::documents::DocumentKind;
use companion_domain::seal::{Expiry, NO_EXPIRY, field_matches, verify_seal};
use companion_pdf::keys::{issue_signer, new_ca};
use companion_pdf::stamp::Placement;
use companion_signing::{
    DateConfirmation, Participant, SigningConfig, SigningError, SigningService,
};
use companion_simulators::{SicantikSim, SicantikSimConfig};
use companion_storage::testing::LocalStore;

companion_db::on_both_backends!(dates_long_values_one_letter_and_no_stranded_case);

fn who(role: Role, name: &str) -> Participant {
    Participant {
        actor: Actor {
            user_id: None,
            name: name.into(),
            source: "127.0.0.1".into(),
        },
        role,
        display_name: format!("{name} (uji)"),
    }
}

fn tool_output(name: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} is not installed ({e}): run scripts/test.sh"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The QR on page 1 of `pdf`, rendered at 150 dpi and decoded by zbarimg.
fn decode_qr(pdf: &[u8], dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(format!("{name}.pdf"));
    std::fs::write(&path, pdf).expect("write");
    let png = dir.join(name);
    tool_output(
        "pdftoppm",
        &[
            "-r".as_ref(),
            "150".as_ref(),
            "-f".as_ref(),
            "1".as_ref(),
            "-l".as_ref(),
            "1".as_ref(),
            "-png".as_ref(),
            "-singlefile".as_ref(),
            path.as_os_str(),
            png.as_os_str(),
        ],
    );
    tool_output(
        "zbarimg",
        &[
            "--raw".as_ref(),
            "-q".as_ref(),
            "-Sdisable".as_ref(),
            "-Sqrcode.enable".as_ref(),
            dir.join(format!("{name}.png")).as_os_str(),
        ],
    )
    .trim()
    .to_string()
}

async fn insert_permit(
    t: &TestDb,
    id: &str,
    number: &str,
    holder: &str,
    issue: Option<&str>,
    expiry: Option<&str>,
) {
    let date = |d: Option<&str>| d.map_or("NULL".to_string(), |d| format!("'{d}'"));
    execute_raw(
        &t.db,
        &format!(
            "INSERT INTO permits (pendaftaran_id, status, applicant_name, permit_type_name, permit_number, \
             issue_date, expiry_date, first_seen_at, updated_at) VALUES ('{id}', 'issued', '{holder}', \
             'Izin Usaha', '{number}', {}, {}, '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z')",
            date(issue),
            date(expiry)
        ),
    )
    .await
    .expect("permit");
}

async fn submitted(
    docs: &Documents,
    service: &SigningService,
    staff: &Participant,
    id: &str,
    number: &str,
) -> companion_db::SigningCase {
    let mut letter = companion_pdf::letter::PermitLetter::example();
    letter.registration_id = id.into();
    letter.permit_number = number.into();
    let original = docs
        .import(
            id,
            companion_pdf::letter::render(&letter, 0).into(),
            Some("surat.pdf"),
            DocumentKind::Original,
            ImportSource::Upload,
            &staff.actor,
        )
        .await
        .expect("import")
        .document;
    service.submit(original.id, staff).await.expect("submit")
}

async fn bytes_of(docs: &Documents, t: &TestDb, id: Option<i64>) -> Vec<u8> {
    let doc =
        t.db.get_document(id.expect("document id"))
            .await
            .expect("get")
            .expect("doc");
    docs.storage()
        .get_bytes(&doc.storage_key)
        .await
        .expect("bytes")
        .to_vec()
}

async fn dates_long_values_one_letter_and_no_stranded_case(backend: &str) {
    let t = TestDb::new(backend).await.expect("db");
    let store = LocalStore::new().expect("store");
    let docs = Documents::new(
        t.db.clone(),
        store.storage.clone(),
        DocumentsConfig::default(),
    )
    .await
    .expect("documents");
    let sim = SicantikSim::start(
        SicantikSimConfig {
            permits: 60,
            quirks: false,
            ..Default::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("sicantik");
    let client = companion_sicantik::SicantikClient::new(companion_sicantik::ClientConfig {
        base_url: sim.base_url(),
        rate_limit_per_sec: 20,
        max_retries: 1,
        ..Default::default()
    })
    .expect("client");
    let ca = new_ca("Uji CA", 1).expect("ca");
    let signer = issue_signer(&ca, "Pejabat Uji", 30).expect("signer");
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
            visible_role: None,
            utc_offset: chrono::FixedOffset::east_opt(7 * 3600).expect("offset"),
        },
    )
    .with_sicantik(client);
    let staff = who(Role::Staff, "petugas");
    let official = who(Role::Official, "pejabat");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("stranded-{backend}"));
    std::fs::create_dir_all(&dir).expect("dir");

    // --- A 20,000-character holder name: stamped, the QR decodes, the seal verifies and
    // vouches for the full name through its digest.
    let holder = "KOPERASI SERBA USAHA TANAH KARO SIMALEM ".repeat(500);
    assert!(holder.len() >= 20_000);
    insert_permit(
        &t,
        "0900000000001",
        "503/0001/DPMPTSP/2026",
        &holder,
        Some("2026-01-05"),
        Some("2031-01-05"),
    )
    .await;
    let a = submitted(
        &docs,
        &service,
        &staff,
        "0900000000001",
        "503/0001/DPMPTSP/2026",
    )
    .await;
    let a = service
        .approve(a.id, &official)
        .await
        .expect("approve the long name");
    assert_eq!(a.state, "stamped");
    let stamped_a = bytes_of(&docs, &t, a.stamped_document_id).await;
    let qr = decode_qr(&stamped_a, &dir, "long-name");
    // The verification code is printed under the QR, for typing it on /periksa.
    let text = tool_output(
        "pdftotext",
        &[dir.join("long-name.pdf").as_os_str(), "-".as_ref()],
    );
    assert!(
        text.contains(&format!("Kode verifikasi: {}", a.verification_id))
            && text.contains("izin.karokab.go.id/periksa"),
        "{text}"
    );
    assert_eq!(
        Some(qr.as_str()),
        a.qr_text.as_deref(),
        "zbarimg read the QR whole"
    );
    let (_, facts) = verify_seal(&service.seal_public(), &qr).expect("seal verifies");
    assert!(
        facts.holder.len() <= 64 && field_matches(&facts.holder, &holder),
        "{}",
        facts.holder
    );
    assert_eq!(
        (facts.issue_date.as_str(), facts.expiry_date.as_str()),
        ("2026-01-05", "2031-01-05")
    );

    // --- Dates unknown to the database: asked at SICANTIK at approval (one look-up).
    let known = sim
        .permits()
        .into_iter()
        .find(|p| {
            p.issued
                && p.company.is_some()
                && p.base64_stored
                && p.tgl_surat.is_some()
                && p.d_berlaku_izin
                    .as_deref()
                    .and_then(companion_domain::permits::parse_upstream_date)
                    .is_some()
        })
        .expect("a simulated permit with an expiry date");
    let number = known.no_surat.clone().expect("number");
    insert_permit(
        &t,
        &known.pendaftaran_id,
        &number,
        "Rasmita br Ginting",
        None,
        None,
    )
    .await;
    let c = submitted(&docs, &service, &staff, &known.pendaftaran_id, &number).await;
    let c = service
        .approve(c.id, &official)
        .await
        .expect("approve after look-up");
    assert_eq!(c.state, "stamped");
    assert!(sim.cek_requests(&known.no_izin().expect("no_izin")) >= 1);
    let (_, facts) =
        verify_seal(&service.seal_public(), c.qr_text.as_deref().expect("qr")).expect("seal");
    let expiry = companion_domain::permits::parse_upstream_date(
        known.d_berlaku_izin.as_deref().unwrap_or_default(),
    )
    .expect("date");
    assert_eq!(facts.expiry_date, expiry.to_string());
    assert!(!facts.issue_date.is_empty());

    // --- Unknown at SICANTIK too: refused with what is missing; nothing changes.
    insert_permit(
        &t,
        "0900000000002",
        "503/9999/TIDAK-ADA/2026",
        "Budi Sembiring",
        None,
        None,
    )
    .await;
    let b = submitted(
        &docs,
        &service,
        &staff,
        "0900000000002",
        "503/9999/TIDAK-ADA/2026",
    )
    .await;
    match service.approve(b.id, &official).await {
        Err(SigningError::DatesUnknown(m)) => {
            assert!(m.issue && m.expiry);
            assert!(
                SigningError::DatesUnknown(m)
                    .pesan()
                    .contains("tanpa masa berlaku")
            );
        }
        other => panic!("approved with unknown dates: {other:?}"),
    }
    let still =
        t.db.get_signing_case(b.id)
            .await
            .expect("get")
            .expect("case");
    assert_eq!(still.state, "submitted");
    // An impossible entry is refused too.
    let bad = DateConfirmation {
        issue_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1),
        expiry: chrono::NaiveDate::from_ymd_opt(2025, 3, 1).map(Expiry::Until),
    };
    assert!(matches!(
        service.approve_with(b.id, &official, bad).await,
        Err(SigningError::DatesInvalid(_))
    ));
    // Confirmed "no expiry" with an issue date: the seal says so, and the trail records who.
    let confirm = DateConfirmation {
        issue_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1),
        expiry: Some(Expiry::None),
    };
    let b = service
        .approve_with(b.id, &official, confirm)
        .await
        .expect("confirmed");
    let (_, facts) =
        verify_seal(&service.seal_public(), b.qr_text.as_deref().expect("qr")).expect("seal");
    assert_eq!(
        (facts.issue_date.as_str(), facts.expiry_date.as_str()),
        ("2026-03-01", NO_EXPIRY)
    );

    // --- One letter, one case: A's signed permit plus one byte is not B's original.
    let a = service.sign(a.id, &official).await.expect("sign A");
    let mut forged = bytes_of(&docs, &t, a.signed_document_id).await;
    forged.push(b'\n');
    insert_permit(
        &t,
        "0900000000003",
        "503/0003/DPMPTSP/2026",
        "Pemohon Lain",
        Some("2026-01-05"),
        Some("2031-01-05"),
    )
    .await;
    match docs
        .import(
            "0900000000003",
            forged.clone().into(),
            Some("surat-b.pdf"),
            DocumentKind::Original,
            ImportSource::Upload,
            &staff.actor,
        )
        .await
    {
        Err(ImportError::OfficeDocument(marks)) => {
            assert_eq!(marks.sealed_for, vec!["0900000000001".to_string()]);
            assert!(
                !marks.signed_by.is_empty(),
                "the office's signature is recognised"
            );
            let msg = ImportError::OfficeDocument(marks).pesan();
            assert!(
                msg.contains("kode QR kantor ini untuk izin 0900000000001")
                    && msg.contains("satu surat hanya untuk satu kasus"),
                "{msg}"
            );
        }
        other => panic!(
            "A's signed letter accepted as B's original: {:?}",
            other.map(|i| i.document.id)
        ),
    }
    // A stamped (not yet signed) letter is recognised by its seal alone.
    let mut stamped_b = bytes_of(&docs, &t, b.stamped_document_id).await;
    stamped_b.push(b' ');
    assert!(matches!(
        docs.import("0900000000003", stamped_b.into(), None, DocumentKind::Original, ImportSource::Inbox, &Actor::system("inbox")).await,
        Err(ImportError::OfficeDocument(m)) if m.sealed_for == vec!["0900000000002".to_string()] && m.signed_by.is_empty()
    ));
    // A person may keep it, with a note (audited).
    assert!(matches!(
        docs.import_original_overriding(
            "0900000000003",
            forged.clone().into(),
            None,
            ImportSource::Upload,
            &staff.actor,
            "  "
        )
        .await,
        Err(ImportError::OverrideNoteRequired)
    ));
    let kept = docs
        .import_original_overriding(
            "0900000000003",
            forged.into(),
            None,
            ImportSource::Upload,
            &staff.actor,
            "Salinan untuk arsip, atas perintah kepala dinas",
        )
        .await
        .expect("kept with a note");
    assert_eq!(kept.document.kind, "original");

    // --- No stranded case: the original vanished from the store, the stamp fails; the case
    // stays approved with its error; signing is refused; stamping again works once it is back.
    let d = submitted(
        &docs,
        &service,
        &staff,
        "0900000000003",
        "503/0003/DPMPTSP/2026",
    )
    .await;
    let original =
        t.db.get_document(d.original_document_id)
            .await
            .expect("get")
            .expect("doc");
    let object = store.dir.join(&original.storage_key);
    let saved = std::fs::read(&object).expect("object file");
    std::fs::remove_file(&object).expect("remove");
    let failed = service.approve(d.id, &official).await;
    assert!(
        matches!(
            failed,
            Err(SigningError::Import(_)) | Err(SigningError::Stamp(_))
        ),
        "{failed:?}"
    );
    let d =
        t.db.get_signing_case(d.id)
            .await
            .expect("get")
            .expect("case");
    assert_eq!(d.state, "approved");
    assert!(
        d.signing_error.as_deref().is_some_and(|e| !e.is_empty()),
        "the error is on the case"
    );
    assert!(matches!(
        service.sign(d.id, &official).await,
        Err(SigningError::Workflow(_))
    ));
    assert!(matches!(
        service.restamp(d.id, &staff).await,
        Err(SigningError::Workflow(_))
    ));
    // Still failing: stays approved, error kept.
    assert!(service.restamp(d.id, &official).await.is_err());
    std::fs::write(&object, &saved).expect("restore");
    let d = service
        .restamp(d.id, &official)
        .await
        .expect("stamped again");
    assert_eq!(
        (d.state.as_str(), d.signing_error.as_deref()),
        ("stamped", None)
    );

    // The other way forward: back to waiting for approval (a reason required), then approved.
    insert_permit(
        &t,
        "0900000000004",
        "503/0004/DPMPTSP/2026",
        "Sri Br Tarigan",
        Some("2026-01-05"),
        Some("2031-01-05"),
    )
    .await;
    let e = submitted(
        &docs,
        &service,
        &staff,
        "0900000000004",
        "503/0004/DPMPTSP/2026",
    )
    .await;
    let original =
        t.db.get_document(e.original_document_id)
            .await
            .expect("get")
            .expect("doc");
    let object = store.dir.join(&original.storage_key);
    let saved = std::fs::read(&object).expect("object file");
    std::fs::remove_file(&object).expect("remove");
    assert!(service.approve(e.id, &official).await.is_err());
    assert!(matches!(
        service.return_to_submitted(e.id, &official, " ").await,
        Err(SigningError::Workflow(_))
    ));
    let e = service
        .return_to_submitted(e.id, &official, "Berkas hilang dari penyimpanan")
        .await
        .expect("returned");
    assert_eq!(
        (e.state.as_str(), e.signing_error.as_deref()),
        ("submitted", None)
    );
    // Interrupted approval (as a crash leaves it): the start-up resume stamps it.
    assert!(service.approve(e.id, &official).await.is_err());
    std::fs::write(&object, &saved).expect("restore");
    assert_eq!(service.resume_stamping().await.expect("resume"), (1, 0));
    let e =
        t.db.get_signing_case(e.id)
            .await
            .expect("get")
            .expect("case");
    assert_eq!(e.state, "stamped");

    // The trail has every step.
    let (entries, _) =
        t.db.list_audit(&companion_db::AuditQuery {
            action: Some("document.".into()),
            page: 1,
            per_page: 200,
            ..Default::default()
        })
        .await
        .expect("audit");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "document.dates_confirmed",
        "document.import_override",
        "document.stamp_failed",
        "document.restamp",
        "document.return",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(t.db.verify_audit().await.expect("verify").is_ok());
    t.cleanup().await.expect("cleanup");
}
