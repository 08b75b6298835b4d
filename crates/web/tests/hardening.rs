//! Findings of the attacker's test (issue 18), each over HTTP through the real router: CSV
//! formula injection, the login redirect, security headers, revoked documents' links, who may
//! read `/metrics`.

mod common;

use common::{Call, PASSWORD, approved_case, harness, harness_with_signing, session_for};
use companion_domain::{DataFlags, IncomingPermit, PermitStatus, Role, plan_page};

companion_db::on_both_backends!(
    csv_exports_neutralise_formulas,
    login_redirects_only_to_local_paths,
    security_headers_on_every_answer,
    revocation_ends_applicant_links,
    metrics_for_this_machine_or_a_token,
    attacks_and_privileged_grants_reach_admins_and_officials
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

fn assert_secured(what: &str, r: &common::Reply, https: bool) {
    let h = |name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let csp = h("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP {csp:?} lacks {directive}"
        );
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    let hsts = h("strict-transport-security");
    if https {
        assert!(hsts.starts_with("max-age="), "{what}: HSTS {hsts:?}");
    } else {
        assert!(hsts.is_empty(), "{what}: HSTS over plain http: {hsts:?}");
    }
}

/// Every answer of the staff application, the login page, the API and the portal carries the
/// security headers; HSTS only under https. The pages need nothing the policy forbids: no
/// inline scripts, styles or event handlers, every script and style served from here.
async fn security_headers_on_every_answer(backend: &str) {
    let h = harness(backend).await;
    let (sid, _) = session_for(&h.t.db, &h.users[&Role::Admin]).await;
    let mut https_state = h.state.clone();
    https_state.config.cookie_secure = true;
    https_state.config.public_base_url = "https://izin.example.go.id".into();
    let https_router = companion_web::router(https_state);
    let pages = [
        "/",
        "/izin",
        "/izin/0142307703072025",
        "/dokumen",
        "/tte",
        "/pesan",
        "/verifikasi",
        "/sinkronisasi",
        "/audit",
        "/akun",
        "/pengguna",
        "/bantuan",
        "/tidak-ada",
    ];
    for (router, https) in [(&h.router, false), (&https_router, true)] {
        let cookie = if https {
            format!("__Host-sc_session={sid}")
        } else {
            format!("sc_session={sid}")
        };
        for path in pages {
            let r = Call::new("GET", path)
                .cookie(cookie.clone())
                .send(router)
                .await;
            assert!(
                r.status == 200 || (path == "/tidak-ada" && r.status == 404),
                "{path}: {} {}",
                r.status,
                r.body.chars().take(200).collect::<String>()
            );
            assert_secured(path, &r, https);
            if r.status == 200 {
                assert_page_fits_the_policy(path, &r.body);
            }
        }
        let login = Call::new("GET", "/masuk").send(router).await;
        assert_secured("/masuk", &login, https);
        assert_page_fits_the_policy("/masuk", &login.body);
        let anonymous = Call::new("GET", "/").send(router).await;
        assert_eq!(anonymous.status, 303);
        assert_secured("/ anonymous", &anonymous, https);
        for path in ["/api/v1/me", "/api/v1/permits", "/api/v1/openapi.json"] {
            let r = Call::new("GET", path)
                .bearer(&h.tokens[&Role::Staff])
                .send(router)
                .await;
            assert_eq!(r.status, 200, "{path}");
            assert_secured(path, &r, https);
        }
        let refused = Call::new("GET", "/api/v1/me").send(router).await;
        assert_eq!(refused.status, 401);
        assert_secured("/api/v1/me anonymous", &refused, https);
        let asset = Call::new("GET", "/static/app.js").send(router).await;
        assert_eq!(asset.status, 200);
        assert_secured("/static/app.js", &asset, https);
    }
    h.t.cleanup().await.expect("cleanup");
}

/// What a strict policy would block: inline scripts, inline styles, event handler attributes,
/// `javascript:` links, scripts or styles from another origin.
fn assert_page_fits_the_policy(path: &str, body: &str) {
    let lower = body.to_lowercase();
    for (i, _) in lower.match_indices("<script") {
        let tag = &lower[i..lower[i..].find('>').map_or(lower.len(), |e| i + e)];
        assert!(
            tag.contains(" src=\"/static/"),
            "{path}: inline or foreign script {tag}"
        );
    }
    for (i, _) in lower.match_indices("<link") {
        let tag = &lower[i..lower[i..].find('>').map_or(lower.len(), |e| i + e)];
        assert!(
            !tag.contains("stylesheet") || tag.contains(" href=\"/static/"),
            "{path}: foreign stylesheet {tag}"
        );
    }
    assert!(!lower.contains("<style"), "{path}: inline <style>");
    assert!(
        !lower.contains(" style=\""),
        "{path}: inline style attribute"
    );
    assert!(!lower.contains("javascript:"), "{path}: javascript: URL");
    let handler = lower
        .match_indices(" on")
        .map(|(i, _)| &lower[i + 3..])
        .find(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase())
                .collect();
            name.len() >= 3 && rest[name.len()..].starts_with("=\"")
        });
    assert!(
        handler.is_none(),
        "{path}: inline event handler {:?}",
        handler.map(|h| &h[..h.len().min(40)])
    );
}

/// Revoking a document ends every applicant link to its files (original, stamped, signed) made
/// before, and no new link can be made for them: through the API and the page alike.
async fn revocation_ends_applicant_links(backend: &str) {
    let h = harness_with_signing(backend).await;
    let case = approved_case(&h, "0142307703072025", "503/0112/IUT/DPM-PTSP/2024").await;
    let steps = format!("/api/v1/signing/cases/{case}/steps");
    let r = Call::new("POST", &steps)
        .bearer(&h.tokens[&Role::Official])
        .json(serde_json::json!({"action": "sign"}))
        .send(&h.router)
        .await;
    assert_eq!(r.json()["state"], "published", "{}", r.body);
    let files: Vec<i64> = [
        "original_document_id",
        "stamped_document_id",
        "signed_document_id",
    ]
    .iter()
    .map(|k| r.json()[*k].as_i64().expect(k))
    .collect();
    let staff = &h.tokens[&Role::Staff];
    let mut urls = Vec::new();
    for doc in &files {
        let link = Call::new("POST", &format!("/api/v1/documents/{doc}/links"))
            .bearer(staff)
            .json(serde_json::json!({"days": 30, "note": "WA pemohon"}))
            .send(&h.router)
            .await;
        assert_eq!(link.status, 201, "{}", link.body);
        let url = link.json()["url"].as_str().expect("url").to_string();
        let path = url
            .split_once("8080")
            .map(|(_, p)| p.to_string())
            .expect("path");
        assert_eq!(Call::new("GET", &path).send(&h.router).await.status, 200);
        urls.push(path);
    }

    let r = Call::new("POST", &steps)
        .bearer(&h.tokens[&Role::Official])
        .json(serde_json::json!({"action": "revoke", "reason": "Salah data"}))
        .send(&h.router)
        .await;
    assert_eq!(r.json()["state"], "revoked", "{}", r.body);

    // Every earlier link is dead, and shown as revoked to staff.
    for path in &urls {
        let r = Call::new("GET", path).send(&h.router).await;
        assert_eq!(r.status, 410, "{path}: {}", r.body);
        assert!(r.body.contains("dicabut"), "{}", r.body);
        assert!(!r.bytes.starts_with(b"%PDF"), "no file");
    }
    for doc in &files {
        let list = Call::new("GET", &format!("/api/v1/documents/{doc}/links"))
            .bearer(staff)
            .send(&h.router)
            .await;
        let items = list.json();
        let items = items
            .as_array()
            .or_else(|| items["items"].as_array())
            .cloned()
            .unwrap_or_default();
        assert!(!items.is_empty(), "{}", list.body);
        assert!(
            items.iter().all(|l| !l["revoked_at"].is_null()),
            "{}",
            list.body
        );
    }
    // A link row made behind the service's back is refused on use all the same.
    let sneaked =
        h.t.db
            .create_link(
                files[2],
                chrono::Utc::now() + chrono::Duration::days(3),
                "",
                "uji",
            )
            .await
            .expect("link");
    let r = Call::new(
        "GET",
        &format!("/unduh/{}", h.documents.link_token(&sneaked)),
    )
    .send(&h.router)
    .await;
    assert_eq!(r.status, 410, "{}", r.body);

    // No new link, through the API or the page.
    for doc in &files {
        let r = Call::new("POST", &format!("/api/v1/documents/{doc}/links"))
            .bearer(staff)
            .json(serde_json::json!({"days": 7}))
            .send(&h.router)
            .await;
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.json()["error"]["code"], "document_revoked", "{}", r.body);
    }
    let (sid, csrf) = session_for(&h.t.db, &h.users[&Role::Staff]).await;
    let r = Call::new("POST", &format!("/berkas/{}/tautan", files[2]))
        .cookie(format!("sc_session={sid}"))
        .form(format!("csrf={csrf}&days=7"))
        .send(&h.router)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().contains("dicabut"), "{}", r.location());
    let open =
        h.t.db
            .links_for_document(files[2])
            .await
            .expect("links")
            .into_iter()
            .filter(|l| l.revoked_at.is_none())
            .count();
    assert_eq!(open, 1, "only the sneaked row, which is refused anyway");
    h.t.cleanup().await.expect("cleanup");
}

/// Issue 18 (13): `/metrics` answers loopback callers; anyone else needs the METRICS_TOKEN
/// bearer (401 without or with a wrong one), and without a configured token gets 403. A proxy
/// header from a loopback peer (a reverse proxy on this machine) is not this machine.
async fn metrics_for_this_machine_or_a_token(backend: &str) {
    let mut h = harness(backend).await;
    let metrics = |h: &common::Harness, peer: &str, token: Option<&str>| {
        let mut call = Call::new("GET", "/metrics").peer(peer);
        if let Some(t) = token {
            call = call.header("authorization", format!("Bearer {t}"));
        }
        let router = h.router.clone();
        async move { call.send(&router).await }
    };
    for peer in ["127.0.0.1:40000", "[::1]:40000", "[::ffff:127.0.0.1]:40000"] {
        assert_eq!(metrics(&h, peer, None).await.status, 200, "{peer}");
    }
    let outside = "203.0.113.7:40000";
    let r = metrics(&h, outside, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(metrics(&h, outside, Some("tebakan")).await.status, 403);
    // No peer information at all is not this machine.
    assert_eq!(
        Call::new("GET", "/metrics").send(&h.router).await.status,
        403
    );
    let proxied = Call::new("GET", "/metrics")
        .peer("127.0.0.1:40000")
        .header("x-forwarded-for", "203.0.113.7")
        .send(&h.router)
        .await;
    assert_eq!(proxied.status, 403);

    const TOKEN: &str = "metrik-rahasia-0123456789";
    let mut state = h.state.clone();
    state.config.metrics_token = Some(TOKEN.into());
    h.router = companion_web::router(state);
    assert_eq!(metrics(&h, outside, Some(TOKEN)).await.status, 200);
    for wrong in [None, Some("metrik-rahasia-012345678"), Some("")] {
        let r = metrics(&h, outside, wrong).await;
        assert_eq!(r.status, 401, "{wrong:?}: {}", r.body);
    }
    // An API token of a real account is not the metrics token.
    let api = h.tokens[&Role::Admin].clone();
    assert_eq!(metrics(&h, outside, Some(&api)).await.status, 401);
    assert_eq!(metrics(&h, "127.0.0.1:40000", None).await.status, 200);
    h.t.cleanup().await.expect("cleanup");
}

/// A username attacked from several addresses (each below its own throttle) and a granted
/// official role are shown to administrators and officials on the dashboard — never to staff.
async fn attacks_and_privileged_grants_reach_admins_and_officials(backend: &str) {
    let h = harness(backend).await;
    let mut state = h.state.clone();
    state.config.trust_forwarded_for = true;
    let router = companion_web::router(state);
    let dashboard = |role: Role| {
        let router = router.clone();
        let db = h.t.db.clone();
        let user = h.users[&role].clone();
        async move {
            let (sid, _) = session_for(&db, &user).await;
            let r = Call::new("GET", "/")
                .cookie(format!("sc_session={sid}"))
                .send(&router)
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body
        }
    };
    assert!(
        !dashboard(Role::Admin).await.contains("security-signals"),
        "quiet when nothing happened"
    );

    // Ten failures for the official's username, from three addresses: none of them throttled.
    let mut n = 0;
    for (ip, tries) in [("203.0.113.1", 4), ("203.0.113.2", 3), ("203.0.113.3", 3)] {
        for _ in 0..tries {
            let form = Call::new("GET", "/masuk").send(&router).await;
            let csrf = form.set_cookie("sc_login").expect("csrf");
            let r = Call::new("POST", "/masuk")
                .cookie(format!("sc_login={csrf}"))
                .header("x-forwarded-for", ip)
                .form(format!(
                    "csrf={csrf}&username=uji.official&password=salah-salah-salah"
                ))
                .send(&router)
                .await;
            assert_eq!(r.status, 401);
            n += 1;
        }
    }
    assert_eq!(n, companion_domain::security::ATTACK_FAILURES);
    // An administrator makes a staff account an official.
    let staff = h.users[&Role::Staff].clone();
    let r = Call::new("PATCH", &format!("/api/v1/users/{}", staff.id))
        .bearer(&h.tokens[&Role::Admin])
        .json(serde_json::json!({ "role": "official" }))
        .send(&router)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    for role in [Role::Admin, Role::Official] {
        let body = dashboard(role).await;
        assert!(body.contains("Peringatan keamanan"), "{role:?}");
        assert!(
            body.contains("data-attacked=\"uji.official\""),
            "{role:?}: {body}"
        );
        assert!(body.contains("3 alamat"), "{role:?}");
        assert!(
            body.contains(&format!("data-grant=\"{}\"", staff.id)),
            "{role:?}"
        );
        assert!(body.contains("Pejabat"), "{role:?}");
    }
    // An auditor reads the trail itself; the dashboard card is for those who must act.
    assert!(!dashboard(Role::Auditor).await.contains("security-signals"));
    h.t.cleanup().await.expect("cleanup");
}
