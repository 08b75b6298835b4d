//! Findings of the attacker's test (issue 18), each over HTTP through the real router: CSV
//! formula injection, the login redirect, security headers, revoked documents' links.

mod common;

use common::{Call, harness, session_for};
use companion_domain::{DataFlags, IncomingPermit, PermitStatus, Role, plan_page};

companion_db::on_both_backends!(csv_exports_neutralise_formulas);

const FORMULA: &str = "=HYPERLINK(\"http://x\")";

/// Every CSV export writes a cell that starts a formula as text (a leading `'`).
async fn csv_exports_neutralise_formulas(backend: &str) {
    let h = harness(backend).await;
    let rows = vec![IncomingPermit {
        pendaftaran_id: "0199000101012026".into(),
        status: PermitStatus::Issued,
        applicant_name: Some(FORMULA.into()),
        permit_type_name: Some("@SUM(1+1)".into()),
        permit_number: Some("-1+1".into()),
        flags: DataFlags::new(),
    }];
    let plan = plan_page(&rows, &Default::default());
    h.t.db
        .apply_page(&plan, None, &[], &[])
        .await
        .expect("seed");
    h.t.db
        .log_verifications(&[companion_db::NewVerification {
            method: "code",
            result: "not_found",
            reason: Some("+CMD|' /C calc'!A0".into()),
            verification_id: Some("=1+1".into()),
            device: "other",
            ..Default::default()
        }])
        .await
        .expect("verification");

    let (sid, _) = session_for(&h.t.db, &h.users[&Role::Staff]).await;
    let page_csv = Call::new("GET", "/izin.csv")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    let api_csv = Call::new("GET", "/api/v1/exports/permits.csv")
        .bearer(&h.tokens[&Role::Staff])
        .send(&h.router)
        .await;
    for (name, r) in [("/izin.csv", &page_csv), ("API", &api_csv)] {
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        assert!(
            r.body.contains("\"'=HYPERLINK(\"\"http://x\"\")\""),
            "{name}: {}",
            r.body
        );
        assert!(r.body.contains(",'@SUM(1+1),'-1+1,"), "{name}: {}", r.body);
        let mut reader = csv::Reader::from_reader(r.body.trim_start_matches('\u{feff}').as_bytes());
        for record in reader.records() {
            let record = record.expect("valid CSV");
            for cell in record.iter() {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{name}: live formula {cell:?}"
                );
            }
        }
    }
    let stats = Call::new("GET", "/verifikasi.csv")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert_eq!(stats.status, 200);
    assert!(stats.body.contains(",'=1+1,"), "{}", stats.body);
    assert!(stats.body.contains("'+CMD|"), "{}", stats.body);
    h.t.cleanup().await.expect("cleanup");
}
