//! Issue 21 through the HTTP stack, on SQLite and PostgreSQL: case A's signed permit plus one
//! byte uploaded as another permit's original is refused with the reason (and kept only with an
//! audited note); the approval screen of a permit without dates asks for them, refuses to approve
//! without, and seals the entered issue date and the confirmed "tanpa masa berlaku".

mod common;

use common::{Call, approved_case, harness_with_signing, session_for};
use companion_domain::Role;

const ISSUED: &str = "0142307703072025";
const OTHER: &str = "0150300102102025";
const BOUNDARY: &str = "one-letter-boundary-51a2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_letter_one_case_and_dates_on_the_approval_screen_sqlite() {
    run("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_letter_one_case_and_dates_on_the_approval_screen_postgres() {
    run("postgres").await;
}

fn multipart(file: &[u8], note: Option<&str>) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(n) = note {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"catatan_override\"\r\n\r\n{n}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"berkas\"; filename=\"surat-b.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn run(backend: &str) {
    let h = harness_with_signing(backend).await;
    let staff = &h.tokens[&Role::Staff];
    let official = &h.tokens[&Role::Official];

    // Case A: approved (stamped) and signed.
    let a = approved_case(&h, ISSUED, "503/0112/IUT/DPM-PTSP/2024").await;
    let r = Call::new("POST", &format!("/api/v1/signing/cases/{a}/steps"))
        .bearer(official)
        .json(serde_json::json!({"action": "sign"}))
        .send(&h.router)
        .await;
    assert_eq!(r.json()["state"], "published", "{}", r.body);
    let signed_id = r.json()["signed_document_id"].as_i64().expect("signed");
    let doc =
        h.t.db
            .get_document(signed_id)
            .await
            .expect("get")
            .expect("doc");
    let mut forged = h
        .documents
        .storage()
        .get_bytes(&doc.storage_key)
        .await
        .expect("bytes")
        .to_vec();
    forged.push(b'\n');

    // The other permit is issued with a number (SICANTIK gave no dates yet).
    companion_db::testing::execute_raw(
        &h.t.db,
        &format!("UPDATE permits SET status = 'issued', permit_number = '503/0200/DPMPTSP/2026', applicant_name = 'Budi Sembiring' WHERE pendaftaran_id = '{OTHER}'"),
    )
    .await
    .expect("permit");
    let path = format!("/api/v1/permits/{OTHER}/documents");
    let up = Call::new("POST", &path)
        .bearer(staff)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(&forged, None))
        .send(&h.router)
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    let file = &up.json()["files"][0];
    assert_eq!(file["outcome"], "refused", "{}", up.body);
    assert_eq!(file["error"]["code"], "carries_office_marks");
    let msg = file["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(&format!("kode QR kantor ini untuk izin {ISSUED}"))
            && msg.contains("tanda tangan elektronik kantor ini"),
        "{msg}"
    );
    assert!(
        h.t.db
            .documents_for_permit(OTHER)
            .await
            .expect("docs")
            .is_empty()
    );
    // Kept with a note: stored, and the trail says who and why.
    let up = Call::new("POST", &path)
        .bearer(staff)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(
            &forged,
            Some("Salinan arsip atas perintah kepala dinas"),
        ))
        .send(&h.router)
        .await;
    assert_eq!(up.json()["files"][0]["outcome"], "stored", "{}", up.body);
    let (entries, _) =
        h.t.db
            .list_audit(&companion_db::AuditQuery {
                action: Some("document.import_override".into()),
                page: 1,
                per_page: 10,
                ..Default::default()
            })
            .await
            .expect("audit");
    assert_eq!(entries.len(), 1);
    assert!(entries[0].details.contains("Salinan arsip"));

    // A proper original for the other permit, submitted; the official's approval screen asks
    // for the dates SICANTIK did not give.
    let letter = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let up = Call::new("POST", &path)
        .bearer(staff)
        .files(vec![("surat.pdf".into(), letter)])
        .send(&h.router)
        .await;
    let doc = up.json()["files"][0]["document"]["id"]
        .as_i64()
        .expect("doc");
    let r = Call::new("POST", "/api/v1/signing/cases")
        .bearer(staff)
        .json(serde_json::json!({"document_id": doc}))
        .send(&h.router)
        .await;
    let case = r.json()["id"].as_i64().expect("case");
    let (sid, csrf) = session_for(&h.t.db, &h.users[&Role::Official]).await;
    let page = Call::new("GET", &format!("/izin/{OTHER}"))
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert!(
        page.body.contains("data-dates-lacking")
            && page.body.contains("name=\"tanggal_terbit\"")
            && page.body.contains("value=\"tanpa\""),
        "{}",
        page.body
    );
    // Without dates: refused (the case stays waiting), with the reason.
    let r = Call::new("POST", &format!("/tte/{case}/setujui"))
        .cookie(format!("sc_session={sid}"))
        .form(format!("csrf={csrf}"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let c =
        h.t.db
            .get_signing_case(case)
            .await
            .expect("get")
            .expect("case");
    assert_eq!(c.state, "submitted");
    // Over the API the refusal is typed.
    let r = Call::new("POST", &format!("/api/v1/signing/cases/{case}/steps"))
        .bearer(official)
        .json(serde_json::json!({"action": "approve"}))
        .send(&h.router)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"]["code"].as_str()),
        (409, Some("dates_unknown")),
        "{}",
        r.body
    );
    // With the issue date and "no expiry" confirmed: stamped, and the seal says so.
    let r = Call::new("POST", &format!("/tte/{case}/setujui"))
        .cookie(format!("sc_session={sid}"))
        .form(format!(
            "csrf={csrf}&tanggal_terbit=2026-02-10&masa_berlaku=tanpa&berlaku_sampai="
        ))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let c =
        h.t.db
            .get_signing_case(case)
            .await
            .expect("get")
            .expect("case");
    assert_eq!(c.state, "stamped", "{:?}", c.signing_error);
    let svc = h.state.signing.as_ref().expect("signing");
    let (_, facts) =
        companion_domain::seal::verify_seal(&svc.seal_public(), c.qr_text.as_deref().expect("qr"))
            .expect("seal");
    assert_eq!(
        (facts.issue_date.as_str(), facts.expiry_date.as_str()),
        ("2026-02-10", companion_domain::seal::NO_EXPIRY)
    );
    h.t.cleanup().await.expect("cleanup");
}
