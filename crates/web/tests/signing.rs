//! Signing from the staff pages: staff submit a file from the permit page, the official sees
//! the approve button, approves (the QR stamp follows) and signs (publication follows); staff
//! cannot approve; the queues page counts the cases.

mod common;

use common::{Call, harness_with_signing, session_for};
use companion_domain::Role;

const ISSUED: &str = "0142307703072025";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_approve_sign_from_the_pages() {
    let h = harness_with_signing("sqlite").await;
    let letter = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let up = Call::new("POST", &format!("/api/v1/permits/{ISSUED}/documents"))
        .bearer(&h.tokens[&Role::Staff])
        .files(vec![("surat.pdf".into(), letter)])
        .send(&h.router)
        .await;
    let doc = up.json()["files"][0]["document"]["id"]
        .as_i64()
        .expect("doc");
    let (staff_sid, staff_csrf) = session_for(&h.t.db, &h.users[&Role::Staff]).await;
    let (off_sid, off_csrf) = session_for(&h.t.db, &h.users[&Role::Official]).await;
    let page = |sid: String| {
        let router = h.router.clone();
        async move {
            Call::new("GET", &format!("/izin/{ISSUED}"))
                .cookie(format!("sc_session={sid}"))
                .send(&router)
                .await
        }
    };

    // Staff see the submit button and use it.
    let p = page(staff_sid.clone()).await;
    assert!(p.body.contains("data-step=\"ajukan\""), "{}", p.body);
    let r = Call::new("POST", &format!("/berkas/{doc}/ajukan"))
        .cookie(format!("sc_session={staff_sid}"))
        .form(format!("csrf={staff_csrf}"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let case =
        h.t.db
            .signing_cases_for_permit(ISSUED)
            .await
            .expect("cases")[0]
            .clone();
    assert_eq!(case.state, "submitted");

    // Staff get no approve button and cannot approve by posting.
    let p = page(staff_sid.clone()).await;
    assert!(!p.body.contains("data-step=\"setujui\""));
    let r = Call::new("POST", &format!("/tte/{}/setujui", case.id))
        .cookie(format!("sc_session={staff_sid}"))
        .form(format!("csrf={staff_csrf}"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 403);

    // The official approves, then signs.
    let p = page(off_sid.clone()).await;
    assert!(p.body.contains("data-step=\"setujui\""), "{}", p.body);
    for step in ["setujui", "tandatangani"] {
        let r = Call::new("POST", &format!("/tte/{}/{step}", case.id))
            .cookie(format!("sc_session={off_sid}"))
            .form(format!("csrf={off_csrf}"))
            .send(&h.router)
            .await;
        assert_eq!(r.status, 303, "{step}: {}", r.body);
        assert!(!r.location().contains("Gagal"), "{}", r.location());
    }
    let done =
        h.t.db
            .get_signing_case(case.id)
            .await
            .expect("get")
            .expect("case");
    assert_eq!(done.state, "published");
    assert!(
        !done.timestamped,
        "no TSA configured: B-B, and the page says so"
    );
    let p = page(off_sid.clone()).await;
    assert!(p.body.contains("tanpa cap waktu"), "{}", p.body);
    // The document's timeline lists every step.
    for action in [
        "document.import",
        "document.submit",
        "document.approve",
        "document.stamp",
        "document.sign",
        "document.publish",
    ] {
        assert!(
            p.body.contains(&format!("data-action=\"{action}\"")),
            "{action} missing from the timeline"
        );
    }
    assert!(p.body.contains("data-step=\"cabut\""));
    // Signing twice is refused with a message, not an error page.
    let r = Call::new("POST", &format!("/tte/{}/tandatangani", case.id))
        .cookie(format!("sc_session={off_sid}"))
        .form(format!("csrf={off_csrf}"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303);
    assert!(r.location().contains("pesan="));

    // The queues page counts the published case.
    let q = Call::new("GET", "/tte")
        .cookie(format!("sc_session={staff_sid}"))
        .send(&h.router)
        .await;
    assert!(q.body.contains("data-count=\"published\">1<"), "{}", q.body);
    // The harness's certificate is valid for 30 days: less than 30 full days left, so warned.
    assert!(q.body.contains("id=\"signer-certificate\""), "{}", q.body);
    assert!(
        q.body.contains("Pejabat Uji") && q.body.contains("berakhir dalam 29 hari"),
        "{}",
        q.body
    );
    h.t.cleanup().await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_applies_the_same_rules() {
    let h = harness_with_signing("postgres").await;
    let letter = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let up = Call::new("POST", &format!("/api/v1/permits/{ISSUED}/documents"))
        .bearer(&h.tokens[&Role::Staff])
        .files(vec![("surat.pdf".into(), letter)])
        .send(&h.router)
        .await;
    let doc = up.json()["files"][0]["document"]["id"]
        .as_i64()
        .expect("doc");
    let as_role = |role: Role, method: &'static str, path: String, body: serde_json::Value| {
        let router = h.router.clone();
        let token = h.tokens[&role].clone();
        async move {
            Call::new(method, &path)
                .bearer(&token)
                .json(body)
                .send(&router)
                .await
        }
    };
    // Officials and auditors cannot submit; staff can, once.
    let r = as_role(
        Role::Official,
        "POST",
        "/api/v1/signing/cases".into(),
        serde_json::json!({"document_id": doc}),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = as_role(
        Role::Staff,
        "POST",
        "/api/v1/signing/cases".into(),
        serde_json::json!({"document_id": doc}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().expect("id");
    let again = as_role(
        Role::Staff,
        "POST",
        "/api/v1/signing/cases".into(),
        serde_json::json!({"document_id": doc}),
    )
    .await;
    assert_eq!(again.status, 409);
    let steps = format!("/api/v1/signing/cases/{id}/steps");
    // Wrong role, wrong order, missing reason, unknown or system-only step.
    let r = as_role(
        Role::Staff,
        "POST",
        steps.clone(),
        serde_json::json!({"action": "approve"}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = as_role(
        Role::Official,
        "POST",
        steps.clone(),
        serde_json::json!({"action": "sign"}),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = as_role(
        Role::Official,
        "POST",
        steps.clone(),
        serde_json::json!({"action": "reject", "reason": " "}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // "stamp" is the official's "stamp again" of an approved case (issue 21): not on this one.
    let r = as_role(
        Role::Official,
        "POST",
        steps.clone(),
        serde_json::json!({"action": "stamp"}),
    )
    .await;
    assert_eq!(r.status, 409, "stamp: {}", r.body);
    for bad in ["publish", "terbang"] {
        let r = as_role(
            Role::Official,
            "POST",
            steps.clone(),
            serde_json::json!({"action": bad}),
        )
        .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let r = as_role(
        Role::Auditor,
        "POST",
        steps.clone(),
        serde_json::json!({"action": "approve"}),
    )
    .await;
    assert_eq!(r.status, 403);
    // The official approves and signs; the case ends published with a signed file.
    let r = as_role(
        Role::Official,
        "POST",
        steps.clone(),
        serde_json::json!({"action": "approve"}),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["state"].as_str()),
        (200, Some("stamped")),
        "{}",
        r.body
    );
    let r = as_role(
        Role::Official,
        "POST",
        steps.clone(),
        serde_json::json!({"action": "sign"}),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["state"].as_str()),
        (200, Some("published")),
        "{}",
        r.body
    );
    let signed = r.json()["signed_document_id"].as_i64().expect("signed");
    let file = Call::new("GET", &format!("/api/v1/documents/{signed}/content"))
        .bearer(&h.tokens[&Role::Auditor])
        .send(&h.router)
        .await;
    assert_eq!(file.status, 200);
    assert!(file.body.contains("/ETSI.CAdES.detached"));
    let listed = as_role(
        Role::Auditor,
        "GET",
        "/api/v1/signing/cases?state=published".into(),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(
        listed.json().as_array().map(|a| a.len()),
        Some(1),
        "{}",
        listed.body
    );
    let r = as_role(
        Role::Official,
        "POST",
        steps,
        serde_json::json!({"action": "revoke", "reason": "Salah data"}),
    )
    .await;
    assert_eq!(r.json()["state"], "revoked");
    h.t.cleanup().await.expect("cleanup");
}

/// `n` approved letters of one permit, as case ids ready to sign.
async fn ready_cases(h: &common::Harness, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(common::approved_case(h, ISSUED, &format!("503/{i:04}/DPMPTSP/2026")).await);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_official_signs_several_at_once_and_watches_the_job() {
    let h = harness_with_signing("sqlite").await;
    let ids = ready_cases(&h, 3).await;
    let (off_sid, off_csrf) = session_for(&h.t.db, &h.users[&Role::Official]).await;
    let (staff_sid, staff_csrf) = session_for(&h.t.db, &h.users[&Role::Staff]).await;
    let get = |path: String, sid: String| {
        let router = h.router.clone();
        async move {
            Call::new("GET", &path)
                .cookie(format!("sc_session={sid}"))
                .send(&router)
                .await
        }
    };
    // The official gets the selection form; the local signer asks no passphrase.
    let q = get("/tte".into(), off_sid.clone()).await;
    assert!(q.body.contains("id=\"form-tandatangani\""), "{}", q.body);
    assert!(
        q.body
            .contains(&format!("name=\"kasus\" value=\"{}\"", ids[0]))
    );
    assert!(!q.body.contains("name=\"passphrase\""));
    // Staff may not start a job.
    let r = Call::new("POST", "/tte/tandatangani")
        .cookie(format!("sc_session={staff_sid}"))
        .form(format!("csrf={staff_csrf}&pilihan=semua"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 403);
    // Nothing ticked: a message, no job.
    let r = Call::new("POST", "/tte/tandatangani")
        .cookie(format!("sc_session={off_sid}"))
        .form(format!("csrf={off_csrf}&pilihan=dipilih"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with("/tte?pesan="), "{}", r.location());

    // Two ticked, then "all ready" for the rest.
    let mut jobs = Vec::new();
    for form in [
        format!(
            "csrf={off_csrf}&kasus={}&kasus={}&pilihan=dipilih",
            ids[0], ids[1]
        ),
        format!("csrf={off_csrf}&pilihan=semua"),
    ] {
        let r = Call::new("POST", "/tte/tandatangani")
            .cookie(format!("sc_session={off_sid}"))
            .form(form)
            .send(&h.router)
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let location = r.location().to_string();
        assert!(location.starts_with("/tte/pekerjaan/"), "{location}");
        let path = location.split('?').next().unwrap_or_default().to_string();
        // Poll the page as a browser would (it reloads itself while the job runs).
        let mut tries = 0;
        let page = loop {
            let p = get(path.clone(), off_sid.clone()).await;
            assert_eq!(p.status, 200);
            if p.body.contains("data-state=\"finished\"") {
                break p;
            }
            tries += 1;
            assert!(tries < 200, "the job did not finish: {}", p.body);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        jobs.push((path, page));
    }
    assert!(
        jobs[0]
            .1
            .body
            .contains("data-signed=\"2\" data-total=\"2\"")
    );
    assert!(
        jobs[1]
            .1
            .body
            .contains("data-signed=\"1\" data-total=\"1\"")
    );
    for id in &ids {
        let c =
            h.t.db
                .get_signing_case(*id)
                .await
                .expect("db")
                .expect("case");
        assert_eq!(c.state, "published");
    }
    // The API shows the same job with its items; the queue page lists the jobs.
    let batch_id = jobs[0].0.rsplit('/').next().unwrap_or_default();
    let r = Call::new("GET", &format!("/api/v1/signing/batches/{batch_id}"))
        .bearer(&h.tokens[&Role::Auditor])
        .send(&h.router)
        .await;
    assert_eq!(r.status, 200);
    let items = r.json()["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["state"] == "signed"));
    let q = get("/tte".into(), staff_sid.clone()).await;
    assert!(q.body.contains("id=\"pekerjaan\""), "{}", q.body);
    // A resume of a finished job is a conflict, not a crash.
    let r = Call::new(
        "POST",
        &format!("/api/v1/signing/batches/{batch_id}/resume"),
    )
    .bearer(&h.tokens[&Role::Official])
    .json(serde_json::json!({}))
    .send(&h.router)
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    h.t.cleanup().await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_or_paused_job_raises_the_alarm_on_the_dashboard() {
    let h = harness_with_signing("sqlite").await;
    let ids = ready_cases(&h, 1).await;
    let (sid, _) = session_for(&h.t.db, &h.users[&Role::Official]).await;
    let dashboard = || {
        let router = h.router.clone();
        let sid = sid.clone();
        async move {
            Call::new("GET", "/")
                .cookie(format!("sc_session={sid}"))
                .send(&router)
                .await
        }
    };
    assert!(!dashboard().await.body.contains("signing-stalled"));
    // A document taken by a worker four minutes ago and still signing (limit: three minutes).
    let batch =
        h.t.db
            .create_signing_batch(
                None,
                "pejabat",
                &ids,
                chrono::Utc::now() + chrono::Duration::minutes(5),
            )
            .await
            .expect("db")
            .expect("batch");
    let item =
        h.t.db
            .claim_batch_item(batch.id)
            .await
            .expect("db")
            .expect("item");
    let started = (chrono::Utc::now() - chrono::Duration::minutes(4)).to_rfc3339();
    companion_db::testing::execute_raw(
        &h.t.db,
        &format!(
            "UPDATE signing_batch_items SET started_at = '{started}' WHERE id = {}",
            item.id
        ),
    )
    .await
    .expect("backdate");
    let d = dashboard().await;
    assert!(
        d.body.contains("id=\"signing-stalled\" data-count=\"1\""),
        "{}",
        d.body
    );
    // Paused (its worker died): the dashboard says it waits for the official's passphrase.
    assert!(
        h.t.db
            .move_signing_batch(batch.id, "running", "paused", Some("uji"), None)
            .await
            .expect("db")
    );
    let d = dashboard().await;
    assert!(
        d.body.contains("id=\"signing-paused\" data-count=\"1\""),
        "{}",
        d.body
    );
    h.t.cleanup().await.expect("cleanup");
}
