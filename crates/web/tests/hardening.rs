//! Findings of the attacker's test (issue 18), each over HTTP through the real router: CSV
//! formula injection, the login redirect, security headers, revoked documents' links.

mod common;

use common::{Call, PASSWORD, harness, session_for};
use companion_domain::{DataFlags, IncomingPermit, PermitStatus, Role, plan_page};

companion_db::on_both_backends!(
    csv_exports_neutralise_formulas,
    login_redirects_only_to_local_paths
);

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

/// `/masuk?next=…` leads only to a path on this site, after percent-decoding; anything else, and
/// a value with control characters, goes to `/` (never a 500).
async fn login_redirects_only_to_local_paths(backend: &str) {
    let h = harness(backend).await;
    let hostile = [
        "//evil.example",
        "/%2F/evil.example",
        "/%2f%2fevil.example",
        "/%5Cevil.example",
        "/%5C%5Cevil.example",
        "%2F%2Fevil.example",
        "/%252F/evil.example",
        "https://evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "/%09/evil.example",
        "/%0A/x",
        "/%0D%0ASet-Cookie:x=1",
        "/%00",
        "%20//evil.example",
    ];
    let (sid, _) = session_for(&h.t.db, &h.users[&Role::Staff]).await;
    for next in hostile {
        // The form carries the cleaned value; a signed-in caller is sent on at once.
        let form = Call::new("GET", &format!("/masuk?next={next}"))
            .send(&h.router)
            .await;
        assert_eq!(form.status, 200, "{next}");
        assert!(
            form.body.contains("name=\"next\" value=\"/\""),
            "{next}: {}",
            form.body
        );
        let signed_in = Call::new("GET", &format!("/masuk?next={next}"))
            .cookie(format!("sc_session={sid}"))
            .send(&h.router)
            .await;
        assert_eq!(signed_in.status, 303, "{next}: {}", signed_in.body);
        assert_eq!(signed_in.location(), "/", "{next}");
        // The login form's own field.
        let csrf = form.set_cookie("sc_login").expect("login csrf");
        let r = Call::new("POST", "/masuk")
            .cookie(format!("sc_login={csrf}"))
            .form(format!(
                "csrf={csrf}&username=uji.staff&password={PASSWORD}&next={next}"
            ))
            .send(&h.router)
            .await;
        assert_eq!(r.status, 303, "{next}: {}", r.body);
        assert_eq!(r.location(), "/", "{next}");
    }
    // A local path survives, query string included.
    let r = Call::new("GET", "/masuk?next=%2Fizin%3Fq%3Dgin")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert_eq!(r.location(), "/izin?q=gin");
    h.t.cleanup().await.expect("cleanup");
}
