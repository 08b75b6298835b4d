//! Security alerts on WhatsApp (issue 18), end to end: the staff application on a loopback port
//! behind a trusted proxy header, a flood of failed logins posted to `/masuk` as a browser posts
//! the form, an administrator granting the official role on `/pengguna` with a real session —
//! then the notifier's schedules and its dispatcher through the Meta adapter against the
//! WhatsApp simulator (approved templates listed by the simulator). Each enabled administrator
//! and official with a number gets exactly one message per signal, naming the attacked account;
//! a second run sends nothing; staff, auditors, disabled administrators, made-up usernames and
//! the grantee's own grant get nothing; a recipient disabled between queueing and sending is
//! skipped; quiet hours do not hold these alerts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{Duration, NaiveTime, Timelike};
use companion_db::testing::TestDb;
use companion_db::{Database, MessageQuery};
use companion_domain::Role;
use companion_domain::accounts::hash_password;
use companion_notify::providers::{MetaConfig, MetaProvider, Secret};
use companion_notify::templates::security_alert::Signal;
use companion_notify::{Notifier, NotifyConfig, SystemClock};
use companion_simulators::{SimMessage, SimTemplate, WhatsappSim, WhatsappSimConfig};

companion_db::on_both_backends!(floods_and_grants_reach_every_admin_and_official_once);

const ADMIN_PASSWORD: &str = "Admin-Kantor-2026!";
const WRONG: &str = "tebakan-salah-123";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

/// The accounts of the office in this test: (username, role, number, disabled).
const PEOPLE: [(&str, Role, &str, bool); 6] = [
    ("pak.admin", Role::Admin, "+6281100000031", false),
    ("bu.admin.lama", Role::Admin, "+6281100000032", true),
    ("bu.pejabat", Role::Official, "+6281100000021", false),
    ("rina.staf", Role::Staff, "+6281100000011", false),
    ("budi.calon", Role::Staff, "+6281100000012", false),
    ("audit.or", Role::Auditor, "+6281100000041", false),
];

fn phone_of(username: &str) -> String {
    PEOPLE
        .iter()
        .find(|p| p.0 == username)
        .map(|p| p.2.trim_start_matches('+').to_string())
        .unwrap_or_default()
}

struct Site {
    base: String,
    http: reqwest::Client,
}

impl Site {
    /// The login form's CSRF cookie, as a browser gets it by opening `/masuk`.
    async fn login_cookie(&self) -> String {
        let r = self
            .http
            .get(format!("{}/masuk", self.base))
            .header("user-agent", BROWSER)
            .send()
            .await
            .expect("login form");
        assert_eq!(r.status(), 200);
        set_cookie(&r, "sc_login").expect("login csrf cookie")
    }

    /// The login form posted as a browser posts it (fields in the form's order), through the
    /// proxy that names the client in `X-Forwarded-For`.
    async fn login(&self, from: &str, username: &str, password: &str) -> reqwest::Response {
        let csrf = self.login_cookie().await;
        let body = url_encoded(&[
            ("csrf", &csrf),
            ("next", "/"),
            ("username", username),
            ("password", password),
        ]);
        self.http
            .post(format!("{}/masuk", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("sc_login={csrf}"))
            .header("origin", &self.base)
            .header("referer", format!("{}/masuk", self.base))
            .header("user-agent", BROWSER)
            .header("x-forwarded-for", from)
            .body(body)
            .send()
            .await
            .expect("login")
    }

    /// Signs in for real: the session cookie.
    async fn session(&self, from: &str, username: &str, password: &str) -> String {
        let r = self.login(from, username, password).await;
        assert_eq!(r.status(), 303, "{username} signs in");
        set_cookie(&r, "sc_session").expect("session cookie")
    }

    /// A form on `/pengguna` submitted by a signed-in administrator: the CSRF token is read
    /// from the page as the browser has it.
    async fn users_form(&self, session: &str, from: &str, user_id: i64, fields: &[(&str, &str)]) {
        let page = self
            .http
            .get(format!("{}/pengguna", self.base))
            .header("cookie", format!("sc_session={session}"))
            .header("user-agent", BROWSER)
            .header("x-forwarded-for", from)
            .send()
            .await
            .expect("users page");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("page");
        let action = format!("action=\"/pengguna/{user_id}\"");
        let form = &html[html.find(&action).expect("the user's form")..];
        let csrf = form
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("csrf field")
            .to_string();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let r = self
            .http
            .post(format!("{}/pengguna/{user_id}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("sc_session={session}"))
            .header("origin", &self.base)
            .header("referer", format!("{}/pengguna", self.base))
            .header("user-agent", BROWSER)
            .header("x-forwarded-for", from)
            .body(url_encoded(&all))
            .send()
            .await
            .expect("users form");
        assert_eq!(r.status(), 303, "the form is taken");
    }
}

fn url_encoded(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

async fn user_id(db: &Database, username: &str) -> i64 {
    db.get_user_by_name(username)
        .await
        .expect("lookup")
        .expect("user")
        .id
}

/// Plans nothing (no permit events here): runs the schedules, then dispatches until idle.
async fn run(n: &Notifier) -> u64 {
    let queued = n.run_schedules().await.expect("schedules");
    for _ in 0..20 {
        if n.dispatch_once().await.expect("dispatch").claimed == 0 {
            break;
        }
    }
    queued
}

/// The simulator's messages per (recipient digits, template).
fn by_recipient(messages: &[SimMessage]) -> BTreeMap<(String, String), Vec<SimMessage>> {
    let mut out: BTreeMap<(String, String), Vec<SimMessage>> = BTreeMap::new();
    for m in messages {
        out.entry((m.to.clone(), m.template.clone().unwrap_or_default()))
            .or_default()
            .push(m.clone());
    }
    out
}

async fn floods_and_grants_reach_every_admin_and_official_once(backend: &str) {
    let t = TestDb::new(backend).await.expect("db");
    let db = t.db.clone();
    let hash = hash_password(ADMIN_PASSWORD).expect("hash");
    for (username, role, phone, disabled) in PEOPLE {
        let u = db
            .create_user(username, &format!("Nama {username}"), role, &hash)
            .await
            .expect("user");
        db.set_user_phone(u.id, Some(phone)).await.expect("phone");
        if disabled {
            db.set_user_disabled(u.id, true).await.expect("disable");
        }
    }

    // The staff application on loopback, behind a proxy that names the client.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let mut state = companion_web::AppState::new(db.clone(), chrono_tz::Asia::Jakarta);
    state.config.trust_forwarded_for = true;
    state.config.public_base_url = base.clone();
    let app = companion_web::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let site = Site {
        base: base.clone(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    };

    // The WhatsApp simulator with the two alerts' templates approved, as the office registers
    // them; the notifier speaks Meta's wire format to it.
    let templates: Vec<SimTemplate> = Signal::ALL
        .into_iter()
        .map(|s| SimTemplate::approved(s.provider_template(), "id", &s.numbered("id")))
        .collect();
    let sim = WhatsappSim::start(
        "127.0.0.1:0".parse().expect("addr"),
        WhatsappSimConfig {
            templates,
            receipt_delay_ms: 0,
            ..Default::default()
        },
    )
    .await
    .expect("simulator");
    let c = sim.config().clone();
    let provider = MetaProvider::simulator(MetaConfig {
        base_url: sim.url(),
        phone_number_id: c.phone_number_id.clone(),
        waba_id: c.waba_id.clone(),
        access_token: Secret::new(c.access_token.clone()),
        app_secret: Secret::new(c.app_secret.clone()),
        ..Default::default()
    })
    .expect("provider");
    // Quiet hours around this very moment (office time): security alerts are not held by them.
    let local = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Jakarta);
    let hour = |d: i64| {
        let t = local.time() + Duration::hours(d);
        NaiveTime::from_hms_opt(t.hour(), 0, 0).expect("time")
    };
    let n = Notifier::new(
        db.clone(),
        Arc::new(provider),
        NotifyConfig {
            public_base_url: base.clone(),
            quiet_hours: Some((hour(-1), hour(2))),
            per_minute: 0,
            ..Default::default()
        },
        Arc::new(SystemClock),
    );
    assert!(n.quiet_until(n.now()).is_some(), "quiet hours now");
    assert_eq!(
        n.refresh_approved_templates().await.expect("templates"),
        Some(2)
    );
    assert_eq!(run(&n).await, 0, "nothing to tell yet");

    // An attacker guesses the official's password from three addresses: ten failures, none of
    // them throttled (4 + 3 + 3 per address).
    for (ip, tries) in [("203.0.113.1", 4), ("203.0.113.2", 3), ("203.0.113.3", 3)] {
        for _ in 0..tries {
            let r = site.login(ip, "bu.pejabat", WRONG).await;
            assert_eq!(r.status(), 401);
        }
    }
    // The same number of failures for a username nobody has (the dashboard shows it, WhatsApp
    // does not: it cannot be taken over), and a few for a staff member (below the threshold).
    for i in 0..companion_domain::security::ATTACK_FAILURES {
        let r = site
            .login(&format!("198.51.100.{}", i % 5 + 1), "tidak.ada", WRONG)
            .await;
        assert_eq!(r.status(), 401);
    }
    for _ in 0..3 {
        let r = site.login("203.0.113.9", "rina.staf", WRONG).await;
        assert_eq!(r.status(), 401);
    }

    // The administrator makes budi an official on /pengguna.
    let admin = site
        .session("192.0.2.10", "pak.admin", ADMIN_PASSWORD)
        .await;
    let budi = user_id(&db, "budi.calon").await;
    site.users_form(&admin, "192.0.2.10", budi, &[("role", "official")])
        .await;
    assert_eq!(
        db.get_user(budi).await.expect("budi").expect("budi").role,
        Role::Official
    );

    let queued = run(&n).await;
    let sent = sim.messages();
    assert_eq!(queued as usize, sent.len(), "{sent:#?}");
    let got = by_recipient(&sent);
    let flood = Signal::LoginFlood.provider_template().to_string();
    let grant = Signal::PrivilegedGrant.provider_template().to_string();
    // The flood: every enabled administrator and official, budi (an official now) included.
    for who in ["pak.admin", "bu.pejabat", "budi.calon"] {
        let ms = got
            .get(&(phone_of(who), flood.clone()))
            .unwrap_or_else(|| panic!("{who} gets the flood alert: {sent:#?}"));
        assert_eq!(ms.len(), 1, "{who}: exactly one");
        let m = &ms[0];
        assert_eq!(m.kind, "template");
        assert_eq!(m.language.as_deref(), Some("id"));
        assert_eq!(
            m.parameters[1], "bu.pejabat",
            "the attacked account is named"
        );
        assert_eq!(m.parameters[2], "10");
        assert_eq!(m.parameters[3], "3", "three addresses");
        assert!(
            m.text.contains("akun bu.pejabat gagal masuk 10 kali"),
            "{}",
            m.text
        );
        assert!(m.text.contains(&format!("{base}/")), "{}", m.text);
    }
    // The grant: every other administrator and official — not budi himself.
    for who in ["pak.admin", "bu.pejabat"] {
        let ms = got
            .get(&(phone_of(who), grant.clone()))
            .unwrap_or_else(|| panic!("{who} gets the grant alert: {sent:#?}"));
        assert_eq!(ms.len(), 1, "{who}: exactly one");
        let p = &ms[0].parameters;
        assert_eq!(p[1], "pak.admin", "who granted it");
        assert_eq!(p[2], "Nama budi.calon (budi.calon)", "to whom");
        assert_eq!(p[3], "Pejabat");
        assert!(
            ms[0]
                .text
                .contains("memberikan peran Pejabat kepada akun Nama budi.calon"),
            "{}",
            ms[0].text
        );
    }
    assert!(!got.contains_key(&(phone_of("budi.calon"), grant.clone())));
    assert_eq!(sent.len(), 5, "{sent:#?}");
    // Staff, the auditor and the disabled administrator get nothing; no made-up username and
    // no account below the threshold is named; no password is in any message.
    for who in ["rina.staf", "audit.or", "bu.admin.lama"] {
        assert!(
            sent.iter().all(|m| m.to != phone_of(who)),
            "{who} gets nothing"
        );
    }
    for m in &sent {
        for never in ["tidak.ada", "rina.staf", WRONG, ADMIN_PASSWORD] {
            assert!(
                !m.text.contains(never) && !m.parameters.iter().any(|p| p.contains(never)),
                "{never} in {m:?}"
            );
        }
    }
    // The outbox rows are typed staff messages.
    let rows = db
        .list_messages(&MessageQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("rows");
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert!(Signal::parse(&r.event).is_some(), "{}", r.event);
        assert_ne!(r.audience, "applicant");
        assert_eq!(r.state, "sent", "{r:?}");
    }

    // Again: nothing new is queued or sent.
    assert_eq!(run(&n).await, 0);
    assert_eq!(sim.messages().len(), 5);

    // The administrator makes rina an administrator; before the dispatcher runs, the official
    // is disabled: her alert is not sent. Rina, an administrator now, hears of today's attack
    // and of budi's grant (made within the day), but not of her own.
    let rina = user_id(&db, "rina.staf").await;
    site.users_form(&admin, "192.0.2.10", rina, &[("role", "admin")])
        .await;
    assert_eq!(n.run_schedules().await.expect("schedules"), 5);
    let pejabat = user_id(&db, "bu.pejabat").await;
    site.users_form(&admin, "192.0.2.10", pejabat, &[("disabled", "true")])
        .await;
    for _ in 0..5 {
        if n.dispatch_once().await.expect("dispatch").claimed == 0 {
            break;
        }
    }
    let all = sim.messages();
    let new: Vec<_> = all[5..].to_vec();
    let got = by_recipient(&new);
    assert_eq!(new.len(), 4, "{new:#?}");
    for who in ["pak.admin", "budi.calon"] {
        let ms = &got[&(phone_of(who), grant.clone())];
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].parameters[2], "Nama rina.staf (rina.staf)");
        assert_eq!(ms[0].parameters[3], "Administrator");
    }
    let ms = &got[&(phone_of("rina.staf"), grant.clone())];
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].parameters[2], "Nama budi.calon (budi.calon)");
    let ms = &got[&(phone_of("rina.staf"), flood.clone())];
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].parameters[1], "bu.pejabat");
    let skipped = db
        .list_messages(&MessageQuery {
            phone: Some(PEOPLE[2].2.into()),
            state: Some("skipped".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("rows");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0]
            .failure_detail
            .as_deref()
            .unwrap_or("")
            .contains("bukan lagi administrator atau pejabat aktif"),
        "{:?}",
        skipped[0].failure_detail
    );
    assert_eq!(run(&n).await, 0);
    assert_eq!(sim.messages().len(), 9);

    server.abort();
    sim.stop();
    t.cleanup().await.expect("cleanup");
}
