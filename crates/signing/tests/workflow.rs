//! The signing workflow end to end on SQLite and PostgreSQL: submit, approve (QR stamp follows),
//! sign with the local certificate and a timestamp from the TSA simulator (publication follows),
//! revoke; rejection and resubmission; every illegal step and every wrong role refused. The signed
//! file is checked by pdfsig, its QR decoded by zbarimg and its seal verified.

use std::process::Command;

use companion_db::testing::{TestDb, execute_raw};
use companion_documents::{Actor, Documents, DocumentsConfig, ImportSource};
use companion_domain::Role;
use companion_domain::documents::DocumentKind;
use companion_domain::workflow::WorkflowError;
use companion_pdf::keys::{issue_signer, new_ca};
use companion_pdf::stamp::Placement;
use companion_signing::{Participant, SigningConfig, SigningError, SigningService, TsaClient};
use companion_simulators::TsaSim;
use companion_storage::testing::LocalStore;

companion_db::on_both_backends!(whole_flow);

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

/// A validator's standard output (zbarimg also talks about D-Bus on stderr).
fn tool_output(name: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} is not installed ({e}): run scripts/test.sh"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `pdf` with a light grey background over its whole first page.
fn tinted(pdf: &[u8]) -> Vec<u8> {
    let mut doc = lopdf::Document::load_mem(pdf).expect("load");
    let page = *doc.get_pages().get(&1).expect("page 1");
    let mut content = b"q 0.9 g 0 0 612 842 re f Q\n".to_vec();
    content.extend(doc.get_page_content(page));
    doc.change_page_content(page, content).expect("content");
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save");
    out
}

async fn whole_flow(backend: &str) {
    let t = TestDb::new(backend).await.expect("db");
    let store = LocalStore::new().expect("store");
    let docs = Documents::new(
        t.db.clone(),
        store.storage.clone(),
        DocumentsConfig::default(),
    )
    .await
    .expect("documents");
    for (id, number) in [
        ("0142307703072025", "503/0142/DPMPTSP/2025"),
        ("0200101012025", "503/0200/DPMPTSP/2025"),
    ] {
        execute_raw(
            &t.db,
            &format!(
                "INSERT INTO permits (pendaftaran_id, status, applicant_name, permit_type_name, permit_number, \
                 issue_date, expiry_date, first_seen_at, updated_at) VALUES ('{id}', 'issued', 'Rasmita br Ginting', \
                 'Izin Mendirikan Bangunan', '{number}', '2025-07-03', '2030-07-03', '2025-07-03T00:00:00Z', '2025-07-03T00:00:00Z')"
            ),
        )
        .await
        .expect("permit");
    }
    let tsa = TsaSim::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("tsa");
    let ca = new_ca("Uji CA", 1).expect("ca");
    let signer = issue_signer(&ca, "Pejabat Uji", 30).expect("signer");
    let seal = companion_domain::seal::new_seal_key();
    let service = SigningService::new(
        t.db.clone(),
        docs.clone(),
        signer,
        seal,
        SigningConfig {
            public_base_url: "https://izin.karokab.go.id".into(),
            placement: Placement::default(),
            location: "Kabanjahe".into(),
            tsa: Some(
                TsaClient::new(&tsa.url(), std::time::Duration::from_secs(10)).expect("tsa client"),
            ),
            visible_role: Some("Kepala DPMPTSP Kabupaten Karo".into()),
            utc_offset: chrono::FixedOffset::east_opt(7 * 3600).expect("offset"),
        },
    )
    .with_footer(companion_domain::footer::FooterPreset::LocalCa.text(
        "DPMPTSP Kabupaten Karo",
        "izin.karokab.go.id",
        false,
    ));
    let staff = who(Role::Staff, "petugas");
    let official = who(Role::Official, "pejabat");
    let auditor = who(Role::Auditor, "auditor");
    let mut letter = companion_pdf::letter::PermitLetter::example();
    let original = docs
        .import(
            "0142307703072025",
            companion_pdf::letter::render(&letter, 0).into(),
            Some("surat.pdf"),
            DocumentKind::Original,
            ImportSource::Upload,
            &staff.actor,
        )
        .await
        .expect("import")
        .document;

    // Submit: not by an auditor or an official; staff may, once.
    assert!(matches!(
        service.submit(original.id, &auditor).await,
        Err(SigningError::Workflow(WorkflowError::NotAllowed(_)))
    ));
    assert!(matches!(
        service.submit(original.id, &official).await,
        Err(SigningError::Workflow(WorkflowError::NotAllowed(_)))
    ));
    let case = service.submit(original.id, &staff).await.expect("submit");
    assert_eq!(case.state, "submitted");
    assert!(matches!(
        service.submit(original.id, &staff).await,
        Err(SigningError::AlreadySubmitted)
    ));

    // Signing before approval, approval by staff: refused.
    assert!(matches!(
        service.sign(case.id, &official).await,
        Err(SigningError::Workflow(WorkflowError::Illegal { .. }))
    ));
    assert!(matches!(
        service.approve(case.id, &staff).await,
        Err(SigningError::Workflow(WorkflowError::NotAllowed(_)))
    ));

    // Approval: the QR stamp follows, as version 2.
    let stamped = service.approve(case.id, &official).await.expect("approve");
    assert_eq!(stamped.state, "stamped");
    let stamped_doc =
        t.db.get_document(stamped.stamped_document_id.expect("stamped id"))
            .await
            .expect("get")
            .expect("doc");
    assert_eq!(
        (stamped_doc.kind.as_str(), stamped_doc.version),
        ("stamped", 2)
    );

    // Signing: by the official only; publication follows; the signed file is version 3.
    assert!(matches!(
        service.sign(case.id, &staff).await,
        Err(SigningError::Workflow(WorkflowError::NotAllowed(_)))
    ));
    let published = service.sign(case.id, &official).await.expect("sign");
    assert_eq!(published.state, "published");
    assert!(published.timestamped, "the TSA simulator timestamped it");
    assert_eq!(published.signer_name.as_deref(), Some("pejabat (uji)"));
    assert_eq!(tsa.requests(), 1);
    let signed_doc =
        t.db.get_document(published.signed_document_id.expect("signed id"))
            .await
            .expect("get")
            .expect("doc");
    assert_eq!(
        (signed_doc.kind.as_str(), signed_doc.version),
        ("signed", 3)
    );
    assert!(matches!(
        service.sign(case.id, &official).await,
        Err(SigningError::Workflow(WorkflowError::Illegal { .. }))
    ));

    // The signed file: valid and whole for pdfsig; its QR decodes and the seal verifies.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("workflow-{backend}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("signed.pdf");
    std::fs::write(
        &path,
        docs.storage()
            .get_bytes(&signed_doc.storage_key)
            .await
            .expect("bytes"),
    )
    .expect("write");
    let report = tool_output("pdfsig", &[path.as_os_str()]);
    assert!(
        report.contains("Signature is Valid.") && report.contains("Total document signed"),
        "{report}"
    );
    let png = dir.join("page");
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
    let qr = tool_output(
        "zbarimg",
        &[
            "--raw".as_ref(),
            "-q".as_ref(),
            // Only QR codes: zbar can take a run of text for a linear barcode.
            "-Sdisable".as_ref(),
            "-Sqrcode.enable".as_ref(),
            dir.join("page.png").as_os_str(),
        ],
    );
    let (vid, facts) = companion_domain::seal::verify_seal(&service.seal_public(), qr.trim())
        .unwrap_or_else(|e| panic!("seal {e:?} in {qr:?}"));
    assert_eq!(vid, published.verification_id);
    assert_eq!(
        (facts.permit_number.as_str(), facts.expiry_date.as_str()),
        ("503/0142/DPMPTSP/2025", "2030-07-03")
    );

    // The footer reads on the signed page (as pdftotext extracts it).
    let text = tool_output(
        "pdftotext",
        &[
            "-f".as_ref(),
            "1".as_ref(),
            "-l".as_ref(),
            "1".as_ref(),
            path.as_os_str(),
            "-".as_ref(),
        ],
    );
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(
            "Dokumen ini telah ditandatangani secara elektronik oleh DPMPTSP Kabupaten Karo"
        ) && flat.contains("Pasal 5 ayat (1)"),
        "{flat}"
    );

    // Revocation needs a reason and the official.
    assert!(matches!(
        service.revoke(case.id, &official, " ").await,
        Err(SigningError::Workflow(WorkflowError::ReasonRequired))
    ));
    assert!(matches!(
        service.revoke(case.id, &staff, "salah").await,
        Err(SigningError::Workflow(WorkflowError::NotAllowed(_)))
    ));
    let revoked = service
        .revoke(case.id, &official, "Data pemohon keliru")
        .await
        .expect("revoke");
    assert_eq!(
        (revoked.state.as_str(), revoked.reason.as_deref()),
        ("revoked", Some("Data pemohon keliru"))
    );

    // Rejection and resubmission, of a letter on tinted paper (grey over the whole page).
    letter.registration_id = "0200101012025".into();
    let second = docs
        .import(
            "0200101012025",
            tinted(&companion_pdf::letter::render(&letter, 0)).into(),
            Some("surat.pdf"),
            DocumentKind::Original,
            ImportSource::Upload,
            &staff.actor,
        )
        .await
        .expect("import")
        .document;
    let case2 = service.submit(second.id, &staff).await.expect("submit");
    assert!(matches!(
        service.reject(case2.id, &official, "").await,
        Err(SigningError::Workflow(WorkflowError::ReasonRequired))
    ));
    let rejected = service
        .reject(case2.id, &official, "Tanggal salah")
        .await
        .expect("reject");
    assert_eq!(rejected.state, "rejected");
    assert!(matches!(
        service.approve(case2.id, &official).await,
        Err(SigningError::Workflow(WorkflowError::Illegal { .. }))
    ));
    assert_eq!(
        service
            .resubmit(case2.id, &staff)
            .await
            .expect("resubmit")
            .state,
        "submitted"
    );
    // No free place for the QR anywhere: it is stamped where configured, and the official is
    // told before signing.
    assert_eq!(stamped.stamp_warning, None, "the ordinary letter had room");
    let covered = service.approve(case2.id, &official).await.expect("approve");
    assert_eq!(covered.state, "stamped");
    assert_eq!(
        covered.stamp_warning.as_deref(),
        Some(companion_signing::STAMP_COVERS_CONTENT)
    );

    // Every step is in the audit trail, and the chain holds.
    let (entries, _) =
        t.db.list_audit(&companion_db::AuditQuery {
            action: Some("document.".into()),
            page: 1,
            per_page: 100,
            ..Default::default()
        })
        .await
        .expect("audit");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "document.submit",
        "document.approve",
        "document.stamp",
        "document.sign",
        "document.publish",
        "document.revoke",
        "document.reject",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(t.db.verify_audit().await.expect("verify").is_ok());
    t.cleanup().await.expect("cleanup");
}
