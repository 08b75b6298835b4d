//! Staff pages end to end through their forms: an administrator creates and disables an account,
//! a user creates and revokes an API token, the audit page shows the chain's state.

mod common;

use common::{Call, harness, login, session_for};
use companion_domain::Role;

companion_db::on_both_backends!(admin_manages_accounts_and_users_manage_tokens);

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string()
}

fn notice(location: &str) -> String {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "pesan")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn admin_manages_accounts_and_users_manage_tokens(backend: &str) {
    let h = harness(backend).await;
    let (admin_sid, admin_csrf) = session_for(&h.t.db, &h.users[&Role::Admin]).await;
    let admin = format!("sc_session={admin_sid}");

    // Create an account with a generated password.
    let r = Call::new("POST", "/pengguna")
        .cookie(admin.clone())
        .form(format!(
            "csrf={admin_csrf}&username=Rina.S&display_name=Rina+Sembiring&role=official&password="
        ))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303);
    let msg = notice(r.location());
    let password = msg
        .split("Kata sandi awal: ")
        .nth(1)
        .expect("generated password shown")
        .to_string();
    assert!(msg.contains("rina.s"), "{msg}");
    let listed = Call::new("GET", "/pengguna")
        .cookie(admin.clone())
        .send(&h.router)
        .await;
    assert!(listed.body.contains("Rina Sembiring"));
    // A duplicate and a bad role are explained, not 500s.
    let r = Call::new("POST", "/pengguna")
        .cookie(admin.clone())
        .form(format!("csrf={admin_csrf}&username=rina.s&role=staff"))
        .send(&h.router)
        .await;
    assert!(
        notice(r.location()).contains("sudah ada"),
        "{}",
        r.location()
    );
    let r = Call::new("POST", "/pengguna")
        .cookie(admin.clone())
        .form(format!("csrf={admin_csrf}&username=budi&role=raja"))
        .send(&h.router)
        .await;
    assert!(notice(r.location()).contains("Peran tidak dikenal"));

    // The new official signs in.
    let r = login(&h.router, "rina.s", &password).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let rina_sid = r.set_cookie("sc_session").expect("session");
    let rina = format!("sc_session={rina_sid}");

    // Rina creates a token on her account page: the secret is shown once, on the page itself.
    let account = Call::new("GET", "/akun")
        .cookie(rina.clone())
        .send(&h.router)
        .await;
    let rina_csrf = csrf_of(&account.body);
    let r = Call::new("POST", "/akun/token")
        .cookie(rina.clone())
        .form(format!("csrf={rina_csrf}&label=laporan"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 200);
    let secret = r
        .body
        .split("id=\"new-token\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("token shown")
        .to_string();
    assert!(secret.starts_with("sct_"));
    let me = Call::new("GET", "/api/v1/me")
        .bearer(&secret)
        .send(&h.router)
        .await;
    assert_eq!(me.json()["user"]["username"], "rina.s");
    assert_eq!(me.json()["may_run_sync"], false);
    let again = Call::new("GET", "/akun")
        .cookie(rina.clone())
        .send(&h.router)
        .await;
    assert!(
        !again.body.contains(&secret),
        "the secret is never shown again"
    );

    // Revoke it through the form.
    let tokens = Call::new("GET", "/api/v1/tokens")
        .bearer(&secret)
        .send(&h.router)
        .await;
    let id = tokens.json()["items"][0]["id"].as_i64().expect("token id");
    let r = Call::new("POST", &format!("/akun/token/{id}/cabut"))
        .cookie(rina.clone())
        .form(format!("csrf={rina_csrf}"))
        .send(&h.router)
        .await;
    assert_eq!(notice(r.location()), "Token dicabut.");
    assert_eq!(
        Call::new("GET", "/api/v1/me")
            .bearer(&secret)
            .send(&h.router)
            .await
            .status,
        401
    );

    // The administrator disables Rina: her session ends at once.
    let rina_id =
        h.t.db
            .get_user_by_name("rina.s")
            .await
            .expect("db")
            .expect("user")
            .id;
    let r = Call::new("POST", &format!("/pengguna/{rina_id}"))
        .cookie(admin.clone())
        .form(format!("csrf={admin_csrf}&disabled=true"))
        .send(&h.router)
        .await;
    assert!(notice(r.location()).contains("diperbarui"));
    assert_eq!(
        Call::new("GET", "/")
            .cookie(rina.clone())
            .send(&h.router)
            .await
            .status,
        303
    );

    // Every step is in the trail, which the audit page reports intact.
    let audit = Call::new("GET", "/audit?action=user.")
        .cookie(admin.clone())
        .send(&h.router)
        .await;
    assert!(
        audit.body.contains("Rantai hash utuh"),
        "{}",
        &audit.body[..audit.body.len().min(400)]
    );
    assert!(audit.body.contains("user.create") && audit.body.contains("user.update"));
    companion_db::testing::execute_raw(&h.t.db, "UPDATE audit_log SET actor = 'x' WHERE id = 1")
        .await
        .expect("tamper");
    // A fresh server (the page reuses a check for 30 s) sees the edit at once.
    let fresh = companion_web::router(companion_web::AppState::new(
        h.t.db.clone(),
        chrono_tz::Asia::Jakarta,
    ));
    let audit = Call::new("GET", "/audit").cookie(admin).send(&fresh).await;
    assert!(audit.body.contains("Rantai hash RUSAK") && audit.body.contains("#1"));
    h.t.cleanup().await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_an_officials_nik_for_bsre() {
    let h = harness("sqlite").await;
    let (sid, csrf) = session_for(&h.t.db, &h.users[&Role::Admin]).await;
    let official = h.users[&Role::Official].clone();
    let post = |form: String| {
        let router = h.router.clone();
        let sid = sid.clone();
        let path = format!("/pengguna/{}", official.id);
        async move {
            Call::new("POST", &path)
                .cookie(format!("sc_session={sid}"))
                .form(form)
                .send(&router)
                .await
        }
    };
    // Not 16 digits: refused with a message, nothing stored.
    let r = post(format!("csrf={csrf}&nik=12345")).await;
    assert!(
        notice(r.location()).contains("16 angka"),
        "{}",
        r.location()
    );
    assert_eq!(h.t.db.user_nik(official.id).await.expect("db"), None);
    let r = post(format!("csrf={csrf}&nik=1207010101800001")).await;
    assert!(
        notice(r.location()).contains("diperbarui"),
        "{}",
        r.location()
    );
    assert_eq!(
        h.t.db.user_nik(official.id).await.expect("db").as_deref(),
        Some("1207010101800001")
    );
    // The page shows only the last digits.
    let page = Call::new("GET", "/pengguna")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert!(page.body.contains("placeholder=\"…0001\""), "{}", page.body);
    assert!(!page.body.contains("1207010101800001"));
    // An empty value clears it.
    post(format!("csrf={csrf}&nik=")).await;
    assert_eq!(h.t.db.user_nik(official.id).await.expect("db"), None);
    h.t.cleanup().await.expect("cleanup");
}

/// Issue 23: human words where staff look — audit actions and roles in Bahasa Indonesia with
/// names, not usernames or JSON; `/verifikasi` counts KEDALUWARSA apart from forgeries, with
/// day-month dates, devices in Bahasa and its own menu entry highlighted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_pages_speak_plainly() {
    let h = harness("sqlite").await;
    let admin = h.users[&Role::Admin].clone();
    let (sid, _) = session_for(&h.t.db, &admin).await;
    let cookie = format!("sc_session={sid}");
    h.t.db
        .append_audit(&companion_domain::audit::AuditRecord {
            actor_id: Some(admin.id),
            actor: admin.username.clone(),
            action: "user.create".into(),
            target_kind: Some("user".into()),
            target_id: Some("7".into()),
            source: "127.0.0.1".into(),
            details: serde_json::json!({ "username": "rina", "role": "staff" }),
        })
        .await
        .expect("audit");
    let audit = Call::new("GET", "/audit")
        .cookie(cookie.clone())
        .send(&h.router)
        .await;
    assert_eq!(audit.status, 200);
    let row = audit
        .body
        .split("data-action=\"user.create\"")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .expect("the user.create row")
        .to_string();
    assert!(row.contains("Akun dibuat"), "{row}");
    assert!(row.contains(&admin.display_name), "{row}");
    assert!(row.contains("username: rina"), "{row}");
    assert!(!row.contains("{&quot;"), "raw JSON: {row}");
    assert!(row.contains(" WIB"), "{row}");
    // The badge names the role in Bahasa, no code.
    assert!(audit.body.contains("Administrator · "), "badge");
    assert!(!audit.body.contains("Administrator (admin)"));

    // Verification checks: one genuine, two expired, one forged, from a phone and a desktop.
    let entry = |result: &'static str, device: &'static str| companion_db::NewVerification {
        at: None,
        method: "qr",
        result,
        reason: None,
        verification_id: None,
        client_ip: None,
        device,
        region: None,
        checks: 1,
    };
    h.t.db
        .log_verifications(&[
            entry("asli", "mobile"),
            entry("kedaluwarsa", "mobile"),
            entry("kedaluwarsa", "desktop"),
            entry("tidak_asli", "other"),
        ])
        .await
        .expect("log");
    let v = Call::new("GET", "/verifikasi")
        .cookie(cookie.clone())
        .send(&h.router)
        .await;
    assert_eq!(v.status, 200);
    assert!(v.body.contains("Kedaluwarsa per hari"), "no expired series");
    assert!(v.body.contains("chart-verifications-expired"));
    for device in ["Ponsel", "Komputer", "Lainnya"] {
        assert!(v.body.contains(device), "no {device}");
    }
    assert!(
        !v.body.contains(">desktop<") && !v.body.contains(">mobile<"),
        "raw device names"
    );
    assert!(
        v.body.contains("href=\"/verifikasi\" class=\"active\""),
        "menu highlight"
    );
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Jakarta)
        .format("%d-%m")
        .to_string();
    assert!(v.body.contains(&today), "no day-month label {today}");
    let d = Call::new("GET", "/").cookie(cookie).send(&h.router).await;
    assert!(
        d.body
            .contains("1 pemeriksaan ASLI, 2 KEDALUWARSA, 1 tidak sah"),
        "dashboard totals"
    );
    h.t.cleanup().await.expect("cleanup");
}
