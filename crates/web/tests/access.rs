//! Who may call what: the role × route matrix, CSRF, session fixation, disabled and deleted
//! users, the auditor's read-only access, login throttling, logout and password change.

mod common;

use common::{Call, Harness, PASSWORD, harness, harness_with_signing, login, session_for};
use companion_domain::Role;
use companion_web::{Access, routes};

/// A = allowed, D = denied. Columns: anonymous, admin, staff, official, auditor.
/// Every route must be listed here; a new route without an entry fails `matrix_covers_every_route`.
const MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "AAAAA"),
    ("GET", "/readyz", "AAAAA"),
    ("GET", "/metrics", "AAAAA"),
    ("GET", "/static/{file}", "AAAAA"),
    ("GET", "/webhooks/whatsapp", "AAAAA"),
    ("GET", "/bantuan", "AAAAA"),
    ("POST", "/webhooks/whatsapp", "AAAAA"),
    ("GET", "/pesan", "DAAAA"),
    ("POST", "/pesan/{id}/ulang", "DAADD"),
    ("POST", "/pesan/{id}/batal", "DAADD"),
    ("GET", "/pesan/templat", "DAAAA"),
    ("POST", "/pesan/templat", "DAADD"),
    ("GET", "/pesan/kontak", "DAAAA"),
    ("POST", "/pesan/kontak", "DAADD"),
    ("POST", "/pesan/kontak/impor", "DAADD"),
    ("POST", "/pesan/kontak/aksi", "DAADD"),
    ("POST", "/pesan/kontak/daftar", "DAADD"),
    ("GET", "/pesan/penyedia", "DAADD"),
    ("POST", "/pesan/penyedia/templat", "DAADD"),
    ("POST", "/pesan/penyedia/uji", "DAADD"),
    ("GET", "/pesan/perpanjangan", "DAAAA"),
    ("POST", "/pesan/perpanjangan/konfirmasi", "DAADD"),
    ("POST", "/pesan/perpanjangan/tolak", "DAADD"),
    ("GET", "/masuk", "AAAAA"),
    ("POST", "/masuk", "AAAAA"),
    ("POST", "/keluar", "DAAAA"),
    ("GET", "/", "DAAAA"),
    ("GET", "/izin", "DAAAA"),
    ("GET", "/izin.csv", "DAAAA"),
    ("GET", "/izin/{id}", "DAAAA"),
    ("POST", "/izin/{id}/berkas", "DAADD"),
    ("GET", "/berkas/{id}", "DAAAA"),
    ("GET", "/berkas/{id}/isi", "DAAAA"),
    ("GET", "/berkas/{id}/unduh", "DAAAA"),
    ("POST", "/berkas/{id}/tautan", "DAADD"),
    ("POST", "/tautan/{id}/cabut", "DAADD"),
    ("GET", "/dokumen", "DAAAA"),
    ("POST", "/dokumen/periksa", "DAADD"),
    ("POST", "/dokumen/kotak-masuk/pindai", "DAADD"),
    ("POST", "/dokumen/kotak-masuk/{id}/tetapkan", "DAADD"),
    ("POST", "/dokumen/kotak-masuk/{id}/buang", "DAADD"),
    ("GET", "/unduh/{token}", "AAAAA"),
    ("GET", "/tte", "DAAAA"),
    ("POST", "/berkas/{id}/ajukan", "DAADD"),
    ("POST", "/tte/{id}/ajukan-ulang", "DAADD"),
    ("POST", "/tte/{id}/{step}", "DDDAD"),
    ("POST", "/tte/tandatangani", "DDDAD"),
    ("GET", "/tte/pekerjaan/{id}", "DAAAA"),
    ("POST", "/tte/pekerjaan/{id}/lanjutkan", "DDDAD"),
    ("POST", "/tte/pekerjaan/{id}/batalkan", "DDDAD"),
    ("POST", "/tte/butir/{id}/ulang", "DDDAD"),
    ("GET", "/v/{id}", "AAAAA"),
    ("GET", "/v/{id}/unduh", "AAAAA"),
    ("GET", "/periksa", "AAAAA"),
    ("GET", "/logo-kantor", "AAAAA"),
    ("GET", "/pindai", "AAAAA"),
    ("POST", "/periksa", "AAAAA"),
    ("GET", "/survei/{token}", "AAAAA"),
    ("POST", "/survei/{token}", "AAAAA"),
    ("GET", "/lacak", "AAAAA"),
    ("POST", "/lacak", "AAAAA"),
    ("GET", "/lacak/{token}", "AAAAA"),
    // The office CAs' CRLs, certificates and OCSP responder: public, as the certificates name them.
    ("GET", "/pki/{file}", "AAAAA"),
    ("GET", "/pki/ocsp/{*request}", "AAAAA"),
    ("POST", "/pki/ocsp", "AAAAA"),
    ("GET", "/skm", "DAAAA"),
    ("GET", "/skm.csv", "DAAAA"),
    ("GET", "/skm.pdf", "DAAAA"),
    ("GET", "/skm/cetak", "DAAAA"),
    ("GET", "/verifikasi", "DAAAA"),
    ("GET", "/verifikasi.csv", "DAAAA"),
    ("GET", "/jenis-izin", "DAAAA"),
    ("GET", "/sinkronisasi", "DAAAA"),
    ("POST", "/sinkronisasi", "DAADD"),
    ("GET", "/audit", "DADDA"),
    ("GET", "/akun", "DAAAA"),
    ("POST", "/akun/kata-sandi", "DAAAA"),
    ("POST", "/akun/token", "DAAAA"),
    ("POST", "/akun/token/{id}/cabut", "DAAAA"),
    ("GET", "/pengguna", "DADDD"),
    ("POST", "/pengguna", "DADDD"),
    ("POST", "/pengguna/{id}", "DADDD"),
    ("GET", "/api/v1/openapi.json", "AAAAA"),
    ("GET", "/api/v1/me", "DAAAA"),
    ("POST", "/api/v1/me/password", "DAAAA"),
    ("GET", "/api/v1/tokens", "DAAAA"),
    ("POST", "/api/v1/tokens", "DAAAA"),
    ("DELETE", "/api/v1/tokens/{id}", "DAAAA"),
    ("GET", "/api/v1/permits", "DAAAA"),
    ("GET", "/api/v1/permits/{id}", "DAAAA"),
    ("GET", "/api/v1/exports/permits.csv", "DAAAA"),
    ("GET", "/api/v1/permits/{id}/documents", "DAAAA"),
    ("POST", "/api/v1/permits/{id}/documents", "DAADD"),
    ("GET", "/api/v1/documents/integrity", "DAAAA"),
    ("POST", "/api/v1/documents/integrity", "DAADD"),
    ("GET", "/api/v1/documents/{id}", "DAAAA"),
    ("GET", "/api/v1/documents/{id}/content", "DAAAA"),
    ("GET", "/api/v1/documents/{id}/links", "DAAAA"),
    ("POST", "/api/v1/documents/{id}/links", "DAADD"),
    ("DELETE", "/api/v1/links/{id}", "DAADD"),
    ("GET", "/api/v1/signing/cases", "DAAAA"),
    ("POST", "/api/v1/signing/cases", "DAADD"),
    ("GET", "/api/v1/signing/cases/{id}", "DAAAA"),
    ("POST", "/api/v1/signing/cases/{id}/steps", "DAAAD"),
    ("GET", "/api/v1/signing/batches", "DAAAA"),
    ("POST", "/api/v1/signing/batches", "DDDAD"),
    ("GET", "/api/v1/signing/batches/{id}", "DAAAA"),
    ("POST", "/api/v1/signing/batches/{id}/resume", "DDDAD"),
    ("POST", "/api/v1/signing/batches/{id}/cancel", "DDDAD"),
    ("POST", "/api/v1/signing/items/{id}/retry", "DDDAD"),
    ("GET", "/api/v1/inbox", "DAADD"),
    ("POST", "/api/v1/inbox/{id}/assign", "DAADD"),
    ("DELETE", "/api/v1/inbox/{id}", "DAADD"),
    ("GET", "/api/v1/permit-types", "DAAAA"),
    ("GET", "/api/v1/dashboard", "DAAAA"),
    ("GET", "/api/v1/sync/runs", "DAAAA"),
    ("POST", "/api/v1/sync/runs", "DAADD"),
    ("GET", "/api/v1/sync/runs/{id}", "DAAAA"),
    ("GET", "/api/v1/sync/calls", "DAAAA"),
    ("GET", "/api/v1/sync/status", "DAAAA"),
    ("GET", "/api/v1/audit", "DADDA"),
    ("GET", "/api/v1/users", "DADDD"),
    ("POST", "/api/v1/users", "DADDD"),
    ("PATCH", "/api/v1/users/{id}", "DADDD"),
];

const CALLERS: [Option<Role>; 5] = [
    None,
    Some(Role::Admin),
    Some(Role::Staff),
    Some(Role::Official),
    Some(Role::Auditor),
];

#[test]
fn matrix_covers_every_route() {
    let actual: std::collections::BTreeSet<(String, String)> = routes()
        .into_iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let expected: std::collections::BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = actual.difference(&expected).collect();
    let stale: Vec<_> = expected.difference(&actual).collect();
    assert!(
        missing.is_empty(),
        "routes without a matrix entry: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "matrix entries without a route: {stale:?}"
    );
    assert_eq!(
        MATRIX.len(),
        routes().len(),
        "one entry per route and method"
    );
}

fn concrete(path: &str, token_id: i64, user_id: i64) -> String {
    path.replace("/izin/{id}", "/izin/0142307703072025")
        .replace("/permits/{id}", "/permits/0142307703072025")
        .replace("/runs/{id}", "/runs/1")
        .replace("{file}", "app.css")
        .replace("{token}", "1.2000000000.AAAAAAAAAAAAAAAAAAAAAA")
        .replace("{step}", "setujui")
        .replace("/token/{id}", &format!("/token/{token_id}"))
        .replace("/tokens/{id}", &format!("/tokens/{token_id}"))
        .replace("{id}", &user_id.to_string())
}

/// Sends one matrix request as `caller`, with valid credentials and CSRF for that caller, so
/// only the role decides.
async fn call_as(h: &Harness, caller: Option<Role>, method: &str, path: &str) -> common::Reply {
    let api = path.starts_with("/api/");
    let unsafe_method = method != "GET";
    let mut call = Call::new(method, path);
    match caller {
        None => {
            call = call.cookie("sc_login=anon-csrf".into());
            if unsafe_method && !api {
                call = call.form("csrf=anon-csrf");
            }
        }
        Some(role) if api => {
            call = call.bearer(&h.tokens[&role]);
        }
        Some(role) => {
            let (sid, csrf) = session_for(&h.t.db, &h.users[&role]).await;
            call = call.cookie(format!("sc_session={sid}"));
            if unsafe_method {
                call = call.form(format!("csrf={csrf}"));
            }
        }
    }
    if api && unsafe_method {
        call = call.json(serde_json::json!({}));
    }
    if path == "/masuk" && unsafe_method {
        // The login form is public: every caller signs in with its double-submit token.
        call = Call::new(method, path)
            .cookie("sc_login=login-csrf".into())
            .form(format!(
                "csrf=login-csrf&username=uji.staff&password={PASSWORD}"
            ));
    }
    if path == "/metrics" {
        // Not a matter of roles: open to this machine (see `metrics_for_this_machine_or_a_token`
        // in hardening.rs).
        call = call.peer("127.0.0.1:50000");
    }
    call.send(&h.router).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_route_matrix() {
    let h = harness("sqlite").await;
    // Targets for routes with ids: a spare user and a spare token owned by the spare user.
    let spare =
        h.t.db
            .create_user("cadangan", "Cadangan", Role::Staff, "x")
            .await
            .expect("spare user");
    let token =
        h.t.db
            .create_api_token(spare.id, "spare", "spare-digest", "xxxx")
            .await
            .expect("spare token");
    let mut failures = Vec::new();
    for (method, path, expect) in MATRIX {
        let url = concrete(path, token.id, spare.id);
        for (caller, want) in CALLERS.iter().zip(expect.chars()) {
            let r = call_as(&h, *caller, method, &url).await;
            let denied = match caller {
                None if path.starts_with("/api/") => r.status == 401,
                None => r.status == 303 && r.location().starts_with("/masuk"),
                Some(_) => r.status == 403,
            };
            let refused_oddly = matches!(r.status.as_u16(), 401 | 403);
            let ok = match want {
                'A' => !denied && !refused_oddly,
                _ => denied,
            };
            if !ok {
                failures.push(format!(
                    "{method} {url} as {caller:?}: expected {want}, got {} {}",
                    r.status,
                    r.body.chars().take(120).collect::<String>()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "matrix violations:\n{}",
        failures.join("\n")
    );
    h.t.cleanup().await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditor_cannot_change_anything() {
    let h = harness("sqlite").await;
    let changing: Vec<_> = routes()
        .into_iter()
        .filter(|r| r.method != "GET")
        .filter(|r| {
            !matches!(
                r.access,
                Access::Public
                    | Access::Webhook
                    | Access::Signed(companion_domain::Permission::ManageOwnAccount)
            )
        })
        .collect();
    assert!(
        changing.len() >= 5,
        "state-changing business routes exist: {changing:?}"
    );
    for r in &changing {
        let url = concrete(r.path, 1, 1);
        let reply = call_as(&h, Some(Role::Auditor), r.method, &url).await;
        assert_eq!(
            reply.status, 403,
            "{} {} let the auditor through",
            r.method, url
        );
    }
    // Only self-service remains for the auditor; nothing was written on their behalf.
    let (entries, _) =
        h.t.db
            .list_audit(&companion_db::AuditQuery {
                actor: Some("uji.auditor".into()),
                page: 1,
                per_page: 50,
                ..Default::default()
            })
            .await
            .expect("audit");
    assert!(entries.is_empty(), "{entries:?}");
    h.t.cleanup().await.expect("cleanup");
}

companion_db::on_both_backends!(
    csrf_missing_or_wrong_is_refused,
    session_fixation_is_prevented,
    disabled_or_deleted_users_lose_access,
    login_throttling_slows_and_logs,
    logout_and_password_change_end_sessions,
    submitter_never_decides_own_submission,
    new_accounts_default_to_the_least_role,
    throttling_is_per_address_not_per_account
);

async fn csrf_missing_or_wrong_is_refused(backend: &str) {
    let h = harness(backend).await;
    let staff = &h.users[&Role::Staff];
    let (sid, csrf) = session_for(&h.t.db, staff).await;
    let (_, other_csrf) = session_for(&h.t.db, staff).await;
    let cookie = format!("sc_session={sid}");
    for body in [
        "kind=full".to_string(),
        "kind=full&csrf=wrong".into(),
        format!("kind=full&csrf={other_csrf}"),
    ] {
        let r = Call::new("POST", "/sinkronisasi")
            .cookie(cookie.clone())
            .form(body.clone())
            .send(&h.router)
            .await;
        assert_eq!(r.status, 403, "{body}");
        assert!(r.body.contains("Token keamanan"), "explains why");
    }
    // The right token passes the check (the scheduler is absent here, hence 503).
    let r = Call::new("POST", "/sinkronisasi")
        .cookie(cookie.clone())
        .form(format!("kind=full&csrf={csrf}"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 503);
    // The JSON API with the session cookie needs the header; with a bearer token it does not.
    let r = Call::new("POST", "/api/v1/tokens")
        .cookie(cookie.clone())
        .json(serde_json::json!({"label": "x"}))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "csrf");
    let r = Call::new("POST", "/api/v1/tokens")
        .cookie(cookie.clone())
        .csrf_header(&csrf)
        .json(serde_json::json!({"label": "x"}))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = Call::new("POST", "/api/v1/tokens")
        .bearer(&h.tokens[&Role::Staff])
        .json(serde_json::json!({"label": "y"}))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 201);
    // The login form: no double-submit cookie, or a mismatch, is refused before any password check.
    let r = Call::new("POST", "/masuk")
        .form(format!("csrf=a&username=uji.staff&password={PASSWORD}"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 403);
    let r = Call::new("POST", "/masuk")
        .cookie("sc_login=b".into())
        .form(format!("csrf=a&username=uji.staff&password={PASSWORD}"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 403);
    h.t.cleanup().await.expect("cleanup");
}

async fn session_fixation_is_prevented(backend: &str) {
    let h = harness(backend).await;
    // An attacker plants a session id before the victim logs in.
    let planted = "attacker-chosen-session-id";
    let form = Call::new("GET", "/masuk").send(&h.router).await;
    let login_csrf = form.set_cookie("sc_login").expect("csrf cookie");
    let r = Call::new("POST", "/masuk")
        .cookie(format!("sc_login={login_csrf}; sc_session={planted}"))
        .form(format!(
            "csrf={login_csrf}&username=uji.staff&password={PASSWORD}"
        ))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let issued = r.set_cookie("sc_session").expect("new session cookie");
    assert_ne!(issued, planted);
    assert!(issued.len() >= 40, "a long random id");
    let cookie_flags = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sc_session="))
        .unwrap_or("")
        .to_string();
    assert!(
        cookie_flags.contains("HttpOnly") && cookie_flags.contains("SameSite=Lax"),
        "{cookie_flags}"
    );
    let planted_use = Call::new("GET", "/")
        .cookie(format!("sc_session={planted}"))
        .send(&h.router)
        .await;
    assert_eq!(planted_use.status, 303);
    let real = Call::new("GET", "/")
        .cookie(format!("sc_session={issued}"))
        .send(&h.router)
        .await;
    assert_eq!(real.status, 200);

    // Logging in again while signed in replaces the old session instead of keeping it.
    let again = Call::new("POST", "/masuk")
        .cookie(format!("sc_login={login_csrf}; sc_session={issued}"))
        .form(format!(
            "csrf={login_csrf}&username=uji.staff&password={PASSWORD}"
        ))
        .send(&h.router)
        .await;
    let second = again.set_cookie("sc_session").expect("second session");
    assert_ne!(second, issued);
    let old = Call::new("GET", "/")
        .cookie(format!("sc_session={issued}"))
        .send(&h.router)
        .await;
    assert_eq!(old.status, 303, "the earlier session ended");
    h.t.cleanup().await.expect("cleanup");
}

async fn disabled_or_deleted_users_lose_access(backend: &str) {
    let h = harness(backend).await;
    let staff = h.users[&Role::Staff].clone();
    let (sid, _) = session_for(&h.t.db, &staff).await;
    let token = h.tokens[&Role::Staff].clone();
    let page = || Call::new("GET", "/izin").cookie(format!("sc_session={sid}"));
    assert_eq!(page().send(&h.router).await.status, 200);
    assert_eq!(
        Call::new("GET", "/api/v1/me")
            .bearer(&token)
            .send(&h.router)
            .await
            .status,
        200
    );

    // The administrator disables the account through the API.
    let r = Call::new("PATCH", &format!("/api/v1/users/{}", staff.id))
        .bearer(&h.tokens[&Role::Admin])
        .json(serde_json::json!({ "disabled": true }))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["disabled"], true);
    assert_eq!(page().send(&h.router).await.status, 303);
    let api = Call::new("GET", "/api/v1/me")
        .bearer(&token)
        .send(&h.router)
        .await;
    assert_eq!(api.status, 401);
    assert_eq!(api.json()["error"]["code"], "unauthenticated");
    // The password no longer opens a session either, and the answer is exactly that of a
    // wrong password (only the form's fresh CSRF token differs).
    let right = login(&h.router, "uji.staff", PASSWORD).await;
    let wrong = login(&h.router, "uji.staff", "bukan-kata-sandinya").await;
    assert_eq!(right.status, 401);
    assert_eq!(right.status, wrong.status);
    assert!(right.set_cookie("sc_session").is_none());
    let without_csrf = |r: &common::Reply| {
        let token = r.set_cookie("sc_login").unwrap_or_default();
        assert!(!token.is_empty(), "a fresh login form");
        r.body.replace(&token, "CSRF")
    };
    assert_eq!(without_csrf(&right), without_csrf(&wrong));
    assert!(!right.body.contains("dinonaktifkan"), "{}", right.body);
    let names = |r: &common::Reply| {
        let mut n: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
        n.sort();
        n
    };
    assert_eq!(names(&right), names(&wrong));
    // The trail still tells the administrator why.
    let (failed, _) =
        h.t.db
            .list_audit(&companion_db::AuditQuery {
                action: Some("auth.login_failed".into()),
                page: 1,
                per_page: 50,
                ..Default::default()
            })
            .await
            .expect("audit");
    assert!(
        failed.iter().any(|e| e.details.contains("disabled")),
        "{failed:?}"
    );

    // An administrator cannot disable themselves.
    let admin = &h.users[&Role::Admin];
    let r = Call::new("PATCH", &format!("/api/v1/users/{}", admin.id))
        .bearer(&h.tokens[&Role::Admin])
        .json(serde_json::json!({ "disabled": true }))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 400);

    // Deleted directly in the database: session and token die with the row.
    let official = h.users[&Role::Official].clone();
    let (osid, _) = session_for(&h.t.db, &official).await;
    companion_db::testing::execute_raw(
        &h.t.db,
        &format!("DELETE FROM users WHERE id = {}", official.id),
    )
    .await
    .expect("delete");
    assert_eq!(
        Call::new("GET", "/")
            .cookie(format!("sc_session={osid}"))
            .send(&h.router)
            .await
            .status,
        303
    );
    assert_eq!(
        Call::new("GET", "/api/v1/me")
            .bearer(&h.tokens[&Role::Official])
            .send(&h.router)
            .await
            .status,
        401
    );
    h.t.cleanup().await.expect("cleanup");
}

async fn login_throttling_slows_and_logs(backend: &str) {
    let h = harness(backend).await;
    for i in 0..companion_web::auth::FREE_FAILURES {
        let r = login(&h.router, "uji.admin", "salah-salah-salah").await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    // Now even the right password must wait.
    let r = login(&h.router, "uji.admin", PASSWORD).await;
    assert_eq!(r.status, 429);
    assert!(r.body.contains("Terlalu banyak percobaan"));
    let (failed, total) =
        h.t.db
            .list_audit(&companion_db::AuditQuery {
                action: Some("auth.login_failed".into()),
                page: 1,
                per_page: 50,
                ..Default::default()
            })
            .await
            .expect("audit");
    assert_eq!(total, companion_web::auth::FREE_FAILURES as i64);
    assert!(
        failed
            .iter()
            .all(|e| e.target_id.as_deref() == Some("uji.admin"))
    );
    assert!(
        !failed.iter().any(|e| e.details.contains(PASSWORD)),
        "no passwords in the trail"
    );
    h.t.cleanup().await.expect("cleanup");
}

async fn logout_and_password_change_end_sessions(backend: &str) {
    let h = harness(backend).await;
    let r = login(&h.router, "uji.official", PASSWORD).await;
    assert_eq!(r.status, 303);
    let a = r.set_cookie("sc_session").expect("session a");
    let r = login(&h.router, "uji.official", PASSWORD).await;
    let b = r.set_cookie("sc_session").expect("session b");
    // Password change in session b needs b's CSRF token: read it from the account page.
    let page = Call::new("GET", "/akun")
        .cookie(format!("sc_session={b}"))
        .send(&h.router)
        .await;
    assert_eq!(page.status, 200);
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf in form")
        .to_string();
    let r = Call::new("POST", "/akun/kata-sandi")
        .cookie(format!("sc_session={b}"))
        .form(format!(
            "csrf={csrf}&current_password={PASSWORD}&new_password=kata-sandi-baru-2"
        ))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303);
    assert!(r.location().contains("pesan=Kata"));
    assert_eq!(
        Call::new("GET", "/")
            .cookie(format!("sc_session={a}"))
            .send(&h.router)
            .await
            .status,
        303,
        "other session ended"
    );
    assert_eq!(
        Call::new("GET", "/")
            .cookie(format!("sc_session={b}"))
            .send(&h.router)
            .await
            .status,
        200,
        "this one stays"
    );
    assert_eq!(login(&h.router, "uji.official", PASSWORD).await.status, 401);
    // Logout ends b.
    let r = Call::new("POST", "/keluar")
        .cookie(format!("sc_session={b}"))
        .form(format!("csrf={csrf}"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/masuk");
    assert_eq!(
        Call::new("GET", "/")
            .cookie(format!("sc_session={b}"))
            .send(&h.router)
            .await
            .status,
        303
    );
    let (trail, _) =
        h.t.db
            .list_audit(&companion_db::AuditQuery {
                actor: Some("uji.official".into()),
                page: 1,
                per_page: 20,
                ..Default::default()
            })
            .await
            .expect("audit");
    let actions: Vec<_> = trail.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"user.password_change") && actions.contains(&"auth.logout"),
        "{actions:?}"
    );
    assert!(h.t.db.verify_audit().await.expect("verify").is_ok());
    h.t.cleanup().await.expect("cleanup");
}

/// Four eyes by person: the account that submitted a document never approves or rejects it,
/// even after it was made official (through the API and the page alike); another official can.
async fn submitter_never_decides_own_submission(backend: &str) {
    let h = harness_with_signing(backend).await;
    let staff = h.users[&Role::Staff].clone();
    let letter = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let up = Call::new("POST", "/api/v1/permits/0142307703072025/documents")
        .bearer(&h.tokens[&Role::Staff])
        .files(vec![("surat.pdf".into(), letter)])
        .send(&h.router)
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    let doc = up.json()["files"][0]["document"]["id"]
        .as_i64()
        .expect("doc");
    let r = Call::new("POST", "/api/v1/signing/cases")
        .bearer(&h.tokens[&Role::Staff])
        .json(serde_json::json!({"document_id": doc}))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let case = r.json()["id"].as_i64().expect("case");

    // The administrator makes the submitter an official; the grant is in the audit trail.
    let r = Call::new("PATCH", &format!("/api/v1/users/{}", staff.id))
        .bearer(&h.tokens[&Role::Admin])
        .json(serde_json::json!({ "role": "official" }))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (grants, _) =
        h.t.db
            .list_audit(&companion_db::AuditQuery {
                action: Some("user.update".into()),
                page: 1,
                per_page: 50,
                ..Default::default()
            })
            .await
            .expect("audit");
    assert!(
        grants
            .iter()
            .any(|e| e.target_id.as_deref() == Some(&*staff.id.to_string())
                && e.actor == "uji.admin"
                && e.details.contains("official")),
        "{grants:?}"
    );

    // API: approving or rejecting one's own submission is refused with a stable code.
    for body in [
        serde_json::json!({"action": "approve"}),
        serde_json::json!({"action": "reject", "reason": "tidak lengkap"}),
    ] {
        let r = Call::new("POST", &format!("/api/v1/signing/cases/{case}/steps"))
            .bearer(&h.tokens[&Role::Staff])
            .json(body.clone())
            .send(&h.router)
            .await;
        assert_eq!(r.status, 403, "{body}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "own_submission", "{}", r.body);
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("empat mata"),
            "{}",
            r.body
        );
    }
    // The page: the same refusal, explained, and nothing moved.
    let (sid, csrf) = session_for(&h.t.db, &staff).await;
    for step in ["setujui", "tolak"] {
        let r = Call::new("POST", &format!("/tte/{case}/{step}"))
            .cookie(format!("sc_session={sid}"))
            .form(format!("csrf={csrf}&alasan=tidak+lengkap"))
            .send(&h.router)
            .await;
        assert_eq!(r.status, 303, "{step}: {}", r.body);
        assert!(r.location().contains("empat"), "{step}: {}", r.location());
    }
    // The page offers the submitter no decision buttons on their own submission.
    let page = Call::new("GET", "/izin/0142307703072025")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    assert!(page.body.contains("data-own-submission"), "{}", page.body);
    assert!(
        !page
            .body
            .contains(&format!("action=\"/tte/{case}/setujui\"")),
        "{}",
        page.body
    );
    let still =
        h.t.db
            .get_signing_case(case)
            .await
            .expect("db")
            .expect("case");
    assert_eq!(still.state, "submitted");
    assert_eq!(still.decided_by, None);

    // Another official decides.
    let r = Call::new("POST", &format!("/api/v1/signing/cases/{case}/steps"))
        .bearer(&h.tokens[&Role::Official])
        .json(serde_json::json!({"action": "approve"}))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "stamped", "{}", r.body);
    h.t.cleanup().await.expect("cleanup");
}

/// A new account gets the least role (staff) unless another is chosen: in the API and the
/// form, where staff is preselected. Granting admin is audited with the role.
async fn new_accounts_default_to_the_least_role(backend: &str) {
    let h = harness(backend).await;
    let r = Call::new("POST", "/api/v1/users")
        .bearer(&h.tokens[&Role::Admin])
        .json(serde_json::json!({"username": "tanpa.peran"}))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["user"]["role"], "staff", "{}", r.body);

    let (sid, csrf) = session_for(&h.t.db, &h.users[&Role::Admin]).await;
    let page = Call::new("GET", "/pengguna")
        .cookie(format!("sc_session={sid}"))
        .send(&h.router)
        .await;
    let form = page
        .body
        .split("action=\"/pengguna\"")
        .nth(1)
        .and_then(|s| s.split("</form>").next())
        .unwrap_or("");
    assert!(
        form.contains("<option value=\"staff\" selected>"),
        "staff preselected: {form}"
    );
    assert!(
        !form.contains("<option value=\"admin\" selected>"),
        "{form}"
    );
    // A form without a role creates staff too.
    let r = Call::new("POST", "/pengguna")
        .cookie(format!("sc_session={sid}"))
        .form(format!("csrf={csrf}&username=formulir.saja&role="))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let made =
        h.t.db
            .get_user_by_name("formulir.saja")
            .await
            .expect("db")
            .expect("user");
    assert_eq!(made.role, Role::Staff);

    // Granting admin at creation is in the trail, with the role.
    let r = Call::new("POST", "/api/v1/users")
        .bearer(&h.tokens[&Role::Admin])
        .json(serde_json::json!({"username": "admin.baru", "role": "admin"}))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (created, _) =
        h.t.db
            .list_audit(&companion_db::AuditQuery {
                action: Some("user.create".into()),
                page: 1,
                per_page: 50,
                ..Default::default()
            })
            .await
            .expect("audit");
    assert!(
        created
            .iter()
            .any(|e| e.details.contains("admin.baru") && e.details.contains("\"admin\"")),
        "{created:?}"
    );
    h.t.cleanup().await.expect("cleanup");
}

/// Logs in like `login`, from `ip` (the router trusts `X-Forwarded-For`).
async fn login_from(
    router: &axum::Router,
    ip: &str,
    username: &str,
    password: &str,
) -> common::Reply {
    let form = Call::new("GET", "/masuk").send(router).await;
    let csrf = form.set_cookie("sc_login").expect("login csrf cookie");
    Call::new("POST", "/masuk")
        .cookie(format!("sc_login={csrf}"))
        .header("x-forwarded-for", ip)
        .form(format!(
            "csrf={csrf}&username={username}&password={password}"
        ))
        .send(router)
        .await
}

/// Failures from one address slow that address (per username, and over all usernames), but
/// never lock the account for its owner at another address.
async fn throttling_is_per_address_not_per_account(backend: &str) {
    let h = harness(backend).await;
    let mut state = h.state.clone();
    state.config.trust_forwarded_for = true;
    let router = companion_web::router(state);
    let attacker = "203.0.113.9";
    for i in 0..companion_web::auth::FREE_FAILURES {
        let r = login_from(&router, attacker, "uji.admin", "salah-salah-salah").await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    // The attacker's address waits, even with the right password …
    let r = login_from(&router, attacker, "uji.admin", PASSWORD).await;
    assert_eq!(r.status, 429);
    // … the owner at their desk is not refused.
    let r = login_from(&router, "10.1.2.3", "uji.admin", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.set_cookie("sc_session").is_some());

    // One address trying many usernames is slowed as a whole.
    let sprayer = "198.51.100.7";
    for i in 0..companion_web::auth::FREE_FAILURES_PER_ADDRESS {
        let r = login_from(
            &router,
            sprayer,
            &format!("tebakan{i}"),
            "salah-salah-salah",
        )
        .await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = login_from(&router, sprayer, "uji.staff", PASSWORD).await;
    assert_eq!(r.status, 429);
    let r = login_from(&router, "10.1.2.4", "uji.staff", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    h.t.cleanup().await.expect("cleanup");
}
