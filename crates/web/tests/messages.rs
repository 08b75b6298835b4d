//! The staff's WhatsApp pages end to end through their forms, with a fake provider: the message
//! log (filters, retry, cancel, who may), templates (refused and saved texts, preview), contacts
//! and consent (form, CSV import, opt-out), the provider page (approved templates, a test
//! message), renewals, the dashboard's figures and users' numbers.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use common::{Call, Harness, harness, session_for};
use companion_db::{NewMessage, User};
use companion_domain::{IncomingPermit, PermitStatus, Role, plan_page};
use companion_notify::providers::{
    Accepted, FailureKind, OutgoingMessage, Provider, SendError, SendOutcome, TemplateInfo,
    WebhookError, WebhookEvent, WebhookRequest,
};
use companion_notify::{Event, Notifier, NotifyConfig, SystemClock};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Records what it is asked to send; numbers ending in 0000 are "not on WhatsApp".
#[derive(Default)]
struct FakeProvider {
    sent: Mutex<Vec<OutgoingMessage>>,
    /// A credential the pages must never show.
    token: String,
}

// `Provider` is an `async_trait`; its methods are written out here in the form the macro
// produces (this crate does not depend on `async-trait`).
impl Provider for FakeProvider {
    fn name(&self) -> &'static str {
        "palsu"
    }

    fn uses_templates(&self) -> bool {
        true
    }

    fn send<'life0, 'life1, 'async_trait>(
        &'life0 self,
        message: &'life1 OutgoingMessage,
    ) -> Boxed<'async_trait, Result<Accepted, SendError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            if message.to.ends_with("0000") {
                return Err(SendError {
                    provider: "palsu",
                    kind: FailureKind::NotOnWhatsApp,
                    code: Some("131026".into()),
                    detail: "recipient not on WhatsApp".into(),
                    outcome: SendOutcome::NotSent,
                });
            }
            let mut sent = self.sent.lock().expect("lock");
            sent.push(message.clone());
            Ok(Accepted {
                provider_id: format!("palsu-{}", sent.len()),
            })
        })
    }

    fn verify_webhook(&self, _: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        Err(WebhookError::Unauthorized("fake"))
    }

    fn parse_webhook(&self, _: &WebhookRequest<'_>) -> Result<Vec<WebhookEvent>, WebhookError> {
        Ok(Vec::new())
    }

    fn approved_templates<'life0, 'async_trait>(
        &'life0 self,
    ) -> Boxed<'async_trait, Result<Option<Vec<TemplateInfo>>, SendError>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let t = |name: &str, status: &str| TemplateInfo {
                name: name.into(),
                language: "id".into(),
                status: status.into(),
                category: Some("UTILITY".into()),
                parameter_count: 4,
            };
            Ok(Some(vec![
                t("izin_selesai_diproses", "APPROVED"),
                t("izin_update_status", "APPROVED"),
                t("izin_peringatan_berlaku", "PENDING"),
            ]))
        })
    }
}

/// The harness's state with a notifier on the fake provider, and its router.
fn with_notifier(h: &mut Harness) -> (Arc<FakeProvider>, Arc<Notifier>) {
    let fake = Arc::new(FakeProvider {
        token: "rahasia-token-penyedia".into(),
        ..Default::default()
    });
    let config = NotifyConfig {
        office_contact: "DPMPTSP Kabupaten Karo, (0628) 20123, WA 0811 6000 1234".into(),
        office_number: Some("+6281160001234".into()),
        ..Default::default()
    };
    let notifier = Arc::new(Notifier::new(
        h.t.db.clone(),
        fake.clone(),
        config,
        Arc::new(SystemClock),
    ));
    let mut state = h.state.clone();
    state.notifier = Some(notifier.clone());
    h.state = state.clone();
    h.router = companion_web::router(state);
    (fake, notifier)
}

fn message(key: &str, event: Event, phone: &str, state: &str) -> NewMessage {
    NewMessage {
        dedup_key: key.into(),
        event: event.key().into(),
        subject_id: Some("0142307703072025".into()),
        audience: "applicant".into(),
        phone: phone.into(),
        language: "id".into(),
        template: event.provider_template().into(),
        parameters: "[]".into(),
        body: "Yth. Budi".into(),
        state: state.into(),
        failure_detail: (state == "skipped")
            .then(|| "Belum ada persetujuan (opt-in) dari penerima".into()),
        next_attempt_at: chrono::Utc::now(),
    }
}

fn notice(location: &str) -> String {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "pesan")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

struct Session {
    cookie: String,
    csrf: String,
}

async fn session(h: &Harness, user: &User) -> Session {
    let (sid, csrf) = session_for(&h.t.db, user).await;
    Session {
        cookie: format!("sc_session={sid}"),
        csrf,
    }
}

async fn get(h: &Harness, s: &Session, path: &str) -> common::Reply {
    Call::new("GET", path)
        .cookie(s.cookie.clone())
        .send(&h.router)
        .await
}

async fn post(h: &Harness, s: &Session, path: &str, fields: &[(&str, &str)]) -> common::Reply {
    let mut all = vec![("csrf", s.csrf.as_str())];
    all.extend_from_slice(fields);
    Call::new("POST", path)
        .cookie(s.cookie.clone())
        .form(form(&all))
        .send(&h.router)
        .await
}

async fn state_of(h: &Harness, id: i64) -> String {
    h.t.db
        .message(id)
        .await
        .expect("message")
        .expect("exists")
        .state
}

async fn audit_actions(h: &Harness, actor: &str) -> Vec<String> {
    let (entries, _) =
        h.t.db
            .list_audit(&companion_db::AuditQuery {
                actor: Some(actor.into()),
                page: 1,
                per_page: 200,
                ..Default::default()
            })
            .await
            .expect("audit");
    entries.into_iter().map(|e| e.action).collect()
}

companion_db::on_both_backends!(whatsapp_pages_for_staff);

async fn whatsapp_pages_for_staff(backend: &str) {
    let mut h = harness(backend).await;
    let (fake, notifier) = with_notifier(&mut h);
    let staff = session(&h, &h.users[&Role::Staff]).await;
    let auditor = session(&h, &h.users[&Role::Auditor]).await;
    let admin = session(&h, &h.users[&Role::Admin]).await;

    message_log(&h, &staff, &auditor).await;
    templates(&h, &staff, &auditor, &notifier).await;
    contacts(&h, &staff, &auditor).await;
    daftar_requests(&h, &staff, &auditor, &notifier).await;
    provider(&h, &staff, &auditor, &fake).await;
    renewals(&h, &staff, &auditor).await;

    // The dashboard's figures, one menu entry.
    let d = get(&h, &auditor, "/").await;
    assert_eq!(d.status, 200);
    let section = d
        .body
        .split("id=\"whatsapp-totals\"")
        .nth(1)
        .expect("whatsapp-totals section")
        .split("</section>")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(section.contains("Dalam antrean"), "{section}");
    assert!(section.contains("href=\"/pesan\""), "{section}");
    assert!(d.body.contains("Pesan WhatsApp"));

    users(&h, &admin).await;

    let actions = audit_actions(&h, "uji.staff").await;
    for a in [
        "whatsapp.cancel",
        "whatsapp.retry",
        "whatsapp.template_save",
        "whatsapp.contact_set",
        "whatsapp.contacts_import",
        "whatsapp.contact_opt_out",
        "whatsapp.templates_refresh",
        "whatsapp.test_message",
        "whatsapp.renewal_confirm",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
    assert!(
        audit_actions(&h, "uji.auditor").await.is_empty(),
        "the auditor changed nothing"
    );
    h.t.cleanup().await.expect("cleanup");
}

async fn message_log(h: &Harness, staff: &Session, auditor: &Session) {
    let n =
        h.t.db
            .enqueue_messages(&[
                message("t:1", Event::PermitReady, "+6281211112222", "queued"),
                message("t:2", Event::StatusChanged, "+6281233334444", "skipped"),
            ])
            .await
            .expect("enqueue");
    assert_eq!(n, 2);
    let all =
        h.t.db
            .list_messages(&companion_db::MessageQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list");
    let id_of = |phone: &str| all.iter().find(|m| m.phone == phone).expect("row").id;
    let (queued, skipped) = (id_of("+6281211112222"), id_of("+6281233334444"));

    // Everyone who sees permits reads the log; only managers get the buttons.
    let r = get(h, auditor, "/pesan").await;
    assert_eq!(r.status, 200, "{}", r.body);
    for text in [
        "+6281211112222",
        "+6281233334444",
        "Izin selesai (siap diunduh)",
        "Perubahan status",
        "Dalam antrean",
        "Dilewati",
        "Belum ada persetujuan (opt-in) dari penerima",
        "id=\"message-counts\"",
        "id=\"message-days\"",
    ] {
        assert!(r.body.contains(text), "{text} missing");
    }
    assert!(
        !r.body.contains("/ulang\""),
        "no retry button for the auditor"
    );
    let r = get(h, staff, "/pesan").await;
    assert!(r.body.contains(&format!("/pesan/{queued}/batal")));
    assert!(r.body.contains(&format!("/pesan/{skipped}/ulang")));
    assert!(!r.body.contains(&format!("/pesan/{queued}/ulang")));

    // Filters: by state, by event, by number typed the local way.
    let r = get(h, staff, "/pesan?keadaan=skipped").await;
    assert!(r.body.contains("+6281233334444") && !r.body.contains("+6281211112222"));
    let r = get(h, staff, "/pesan?peristiwa=permit_ready").await;
    assert!(!r.body.contains("+6281233334444") && r.body.contains("+6281211112222"));
    let r = get(h, staff, "/pesan?telepon=0812-3333").await;
    assert!(r.body.contains("+6281233334444") && !r.body.contains("+6281211112222"));
    let r = get(h, staff, "/pesan?peristiwa=expiry_reminder").await;
    assert!(r.body.contains("Tidak ada pesan yang cocok"));

    // The auditor may not act, nor anyone without the CSRF token.
    let r = post(h, auditor, &format!("/pesan/{skipped}/ulang"), &[]).await;
    assert_eq!(r.status, 403);
    let r = post(h, auditor, &format!("/pesan/{queued}/batal"), &[]).await;
    assert_eq!(r.status, 403);
    let r = Call::new("POST", &format!("/pesan/{queued}/batal"))
        .cookie(staff.cookie.clone())
        .form("csrf=salah")
        .send(&h.router)
        .await;
    assert_eq!(r.status, 403);
    let r = Call::new("POST", &format!("/pesan/{skipped}/ulang"))
        .cookie(staff.cookie.clone())
        .send(&h.router)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(state_of(h, queued).await, "queued");
    assert_eq!(state_of(h, skipped).await, "skipped");

    // Staff cancel the queued one and retry the skipped one.
    let r = post(h, staff, &format!("/pesan/{queued}/batal"), &[]).await;
    assert_eq!(r.status, 303);
    assert!(
        notice(r.location()).contains("dibatalkan"),
        "{}",
        r.location()
    );
    assert_eq!(state_of(h, queued).await, "cancelled");
    let r = post(h, staff, &format!("/pesan/{skipped}/ulang"), &[]).await;
    assert!(notice(r.location()).contains("antrean"), "{}", r.location());
    assert_eq!(state_of(h, skipped).await, "queued");
    // A message in the wrong state is refused with a reason.
    let r = post(h, staff, &format!("/pesan/{skipped}/ulang"), &[]).await;
    assert!(notice(r.location()).contains("tidak dapat dikirim ulang"));
    let r = post(h, staff, &format!("/pesan/{queued}/batal"), &[]).await;
    assert!(notice(r.location()).contains("tidak dapat dibatalkan"));
    assert_eq!(state_of(h, queued).await, "cancelled");
    let r = get(h, staff, "/pesan?keadaan=cancelled").await;
    assert!(r.body.contains("Dibatalkan") && r.body.contains("+6281211112222"));
}

async fn templates(h: &Harness, staff: &Session, auditor: &Session, notifier: &Notifier) {
    let page = get(h, auditor, "/pesan/templat").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("izin_selesai_diproses"));
    assert!(page.body.contains("Tautan unduh dokumen (bertanda tangan"));
    // The default text's preview with sample data.
    assert!(
        page.body
            .contains("Yth. Budi Ginting, izin Anda (Izin Usaha Toko)")
    );

    let r = post(
        h,
        auditor,
        "/pesan/templat",
        &[
            ("peristiwa", "permit_ready"),
            ("bahasa", "id"),
            ("teks", "x"),
        ],
    )
    .await;
    assert_eq!(r.status, 403);

    // An unknown variable: refused on the form, nothing saved.
    let bad = "Halo {nama}, kode {rahasia}";
    let r = post(
        h,
        staff,
        "/pesan/templat",
        &[
            ("peristiwa", "permit_ready"),
            ("bahasa", "id"),
            ("teks", bad),
        ],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("{rahasia}"), "the error names the variable");
    assert!(r.body.contains("variabel tidak dikenal"));
    assert!(r.body.contains("Tidak disimpan"));
    assert!(
        h.t.db.template_overrides().await.expect("t").is_empty(),
        "nothing saved"
    );

    // A valid one is saved, used by the notifier and previewed.
    let good = "Halo {nama}, izin {nomor_izin} siap: {tautan}";
    let r = post(
        h,
        staff,
        "/pesan/templat",
        &[
            ("peristiwa", "permit_ready"),
            ("bahasa", "id"),
            ("teks", good),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(notice(r.location()).contains("disimpan"));
    let saved = h.t.db.template_overrides().await.expect("t");
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].body, good);
    assert_eq!(saved[0].updated_by.as_deref(), Some("uji.staff"));
    assert_eq!(
        notifier.template_set().text(Event::PermitReady, "id"),
        good,
        "reloaded"
    );
    let page = get(h, staff, "/pesan/templat").await;
    assert!(page.body.contains(
        "Halo Budi Ginting, izin 503/0142/DPMPTSP/2025 siap: https://izin.karokab.go.id/v/ACDEFGHJKLMN/unduh"
    ));
    assert!(page.body.contains("Diubah oleh uji.staff"));
}

async fn contacts(h: &Harness, staff: &Session, auditor: &Session) {
    const PERMIT: &str = "0142307703072025";
    // An invalid number: refused with the reason, nothing saved.
    let r = post(
        h,
        staff,
        "/pesan/kontak",
        &[
            ("pendaftaran_id", PERMIT),
            ("telepon", "nomor saya"),
            ("persetujuan", "ya"),
        ],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("tidak sah"), "{}", r.body);
    assert!(r.body.contains("Tidak ada yang disimpan"));
    assert_eq!(h.t.db.permit_phone(PERMIT).await.expect("phone"), None);
    assert!(h.t.db.list_contacts(None, 10).await.expect("c").is_empty());
    // An unknown permit likewise.
    let r = post(
        h,
        staff,
        "/pesan/kontak",
        &[("pendaftaran_id", "999"), ("telepon", "081234567890")],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("tidak ditemukan"));

    // A valid number with the counter's consent.
    let r = post(
        h,
        staff,
        "/pesan/kontak",
        &[
            ("pendaftaran_id", PERMIT),
            ("telepon", "0812-3456-7890"),
            ("persetujuan", "ya"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(notice(r.location()).contains("persetujuan dari loket"));
    assert_eq!(
        h.t.db.permit_phone(PERMIT).await.expect("phone"),
        Some(("+6281234567890".into(), "staff".into()))
    );
    let log = h.t.db.consent_log("+6281234567890").await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].action.as_str(), log[0].source.as_str()),
        ("opt_in", "loket")
    );
    assert_eq!(log[0].actor.as_deref(), Some("uji.staff"));
    let c =
        h.t.db
            .contact("+6281234567890")
            .await
            .expect("c")
            .expect("contact");
    assert!(c.may_receive());
    let page = get(h, auditor, "/pesan/kontak").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("+6281234567890"));
    assert!(page.body.contains("data-consent=\"opted_in\""));
    assert!(page.body.contains("formulir di loket"));
    assert!(
        !page.body.contains("/pesan/kontak/aksi"),
        "no actions for the auditor"
    );

    // CSV: one good line, one bad number, one unknown permit, one bad consent value.
    let csv = "pendaftaran_id,telepon,persetujuan\n\
               0150300102102025,0813 1111 2222,ya\n\
               0142307703072025,bukan nomor,ya\n\
               0999999999999999,081355556666,tidak\n\
               0150300102102025,081355556666,mungkin\n";
    let r = post(h, staff, "/pesan/kontak/impor", &[("csv", csv)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("1 baris diimpor, 3 baris ditolak"),
        "{}",
        r.body
    );
    assert!(r.body.contains("Baris 2 (0150300102102025): diimpor"));
    assert!(r.body.contains("Baris 3 (0142307703072025): ditolak"));
    assert!(r.body.contains(
        "Baris 4 (0999999999999999): ditolak — izin dengan nomor pendaftaran ini tidak ditemukan"
    ));
    assert!(r.body.contains("Baris 5 (0150300102102025): ditolak"));
    assert_eq!(
        h.t.db.permit_phone("0150300102102025").await.expect("p"),
        Some(("+6281311112222".into(), "csv".into()))
    );
    assert_eq!(
        h.t.db.permit_phone(PERMIT).await.expect("p"),
        Some(("+6281234567890".into(), "staff".into())),
        "the refused line changed nothing"
    );
    let log = h.t.db.consent_log("+6281311112222").await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].source, "csv");
    // The same as a file upload (the token rides in the URL).
    let r = Call::new(
        "POST",
        &format!("/pesan/kontak/impor?csrf={}", staff.csrf),
    )
    .cookie(staff.cookie.clone())
    .files(vec![(
        "kontak.csv".into(),
        b"\xEF\xBB\xBFpendaftaran_id,telepon,persetujuan\n0150300102102025,0813 1111 3333,tidak\n".to_vec(),
    )])
    .send(&h.router)
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("1 baris diimpor, 0 baris ditolak"),
        "{}",
        r.body
    );
    assert_eq!(
        h.t.db.permit_phone("0150300102102025").await.expect("p"),
        Some(("+6281311113333".into(), "csv".into()))
    );

    // Opt-out by staff; the history shows it.
    let r = post(
        h,
        staff,
        "/pesan/kontak/aksi",
        &[("telepon", "+6281234567890"), ("aksi", "opt_out")],
    )
    .await;
    assert_eq!(r.status, 303);
    let c =
        h.t.db
            .contact("+6281234567890")
            .await
            .expect("c")
            .expect("contact");
    assert!(!c.may_receive());
    let page = get(h, staff, r.location()).await;
    assert!(page.body.contains("id=\"consent-history\""));
    assert!(page.body.contains("Berhenti berlangganan"));
    assert!(page.body.contains("Setuju menerima pesan"));
    let r = post(
        h,
        auditor,
        "/pesan/kontak/aksi",
        &[("telepon", "+6281234567890"), ("aksi", "blacklist")],
    )
    .await;
    assert_eq!(r.status, 403);
}

/// Issue 18 (2): `DAFTAR <id>` from a number not held for the permit waits on /pesan/kontak
/// until a person confirms (the number and consent are then recorded in their name) or rejects.
async fn daftar_requests(h: &Harness, staff: &Session, auditor: &Session, notifier: &Notifier) {
    const PERMIT: &str = "0142307703072025";
    let before = h.t.db.permit_phone(PERMIT).await.expect("phone");
    let inbound = |from: &str, id: &str| WebhookEvent::Inbound {
        from: from.into(),
        text: format!("DAFTAR {PERMIT}"),
        provider_message_id: id.into(),
        at: None,
    };
    notifier
        .handle_webhook(vec![
            inbound("+6281977771111", "d-1"),
            inbound("+6281977772222", "d-2"),
        ])
        .await
        .expect("inbound");
    assert_eq!(h.t.db.permit_phone(PERMIT).await.expect("phone"), before);
    let held = h.t.db.daftar_requests("pending", 10).await.expect("held");
    assert_eq!(held.len(), 2);
    let page = get(h, auditor, "/pesan/kontak").await;
    assert!(
        page.body.contains("id=\"daftar-requests\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("+6281977771111"));
    assert!(
        !page.body.contains("/pesan/kontak/daftar"),
        "no buttons for the auditor"
    );
    let id = |i: usize| held[i].id.to_string();
    let r = post(
        h,
        auditor,
        "/pesan/kontak/daftar",
        &[("id", &id(0)), ("aksi", "confirm")],
    )
    .await;
    assert_eq!(r.status, 403);
    let page = get(h, staff, "/pesan/kontak").await;
    assert!(page.body.contains("/pesan/kontak/daftar"));

    let r = post(
        h,
        staff,
        "/pesan/kontak/daftar",
        &[("id", &id(0)), ("aksi", "confirm")],
    )
    .await;
    assert_eq!(r.status, 303);
    assert!(
        notice(r.location()).contains("diperiksa petugas"),
        "{}",
        r.location()
    );
    assert_eq!(
        h.t.db.permit_phone(PERMIT).await.expect("phone"),
        Some(("+6281977771111".into(), "daftar".into()))
    );
    let log = h.t.db.consent_log("+6281977771111").await.expect("log");
    assert_eq!(
        log.iter()
            .map(|e| (e.action.as_str(), e.source.as_str(), e.actor.as_deref()))
            .collect::<Vec<_>>(),
        [("opt_in", "daftar", Some("uji.staff"))]
    );
    // Decided once only.
    let r = post(
        h,
        staff,
        "/pesan/kontak/daftar",
        &[("id", &id(0)), ("aksi", "reject")],
    )
    .await;
    assert!(notice(r.location()).contains("sudah diputuskan"));
    let r = post(
        h,
        staff,
        "/pesan/kontak/daftar",
        &[("id", &id(1)), ("aksi", "reject")],
    )
    .await;
    assert!(notice(r.location()).contains("ditolak"));
    assert!(
        h.t.db
            .consent_log("+6281977772222")
            .await
            .expect("log")
            .is_empty()
    );
    assert!(
        h.t.db
            .daftar_requests("pending", 10)
            .await
            .expect("held")
            .is_empty()
    );
    let actions = audit_actions(h, "uji.staff").await;
    assert!(
        actions.iter().any(|a| a == "whatsapp.daftar_confirmed"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "whatsapp.daftar_rejected"),
        "{actions:?}"
    );
    let r = post(
        h,
        staff,
        "/pesan/kontak/daftar",
        &[("id", "x"), ("aksi", "confirm")],
    )
    .await;
    assert_eq!(r.status, 303);
}

async fn provider(h: &Harness, staff: &Session, auditor: &Session, fake: &FakeProvider) {
    assert_eq!(get(h, auditor, "/pesan/penyedia").await.status, 403);
    let page = get(h, staff, "/pesan/penyedia").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("palsu"));
    assert!(page.body.contains("/webhooks/whatsapp"));
    assert!(
        page.body
            .contains("https://wa.me/6281160001234?text=DAFTAR+0142307703072025")
    );
    assert!(!page.body.contains(&fake.token), "no credential shown");

    let r = post(h, staff, "/pesan/penyedia/templat", &[]).await;
    assert_eq!(r.status, 303);
    assert!(
        notice(r.location()).contains("2 templat yang disetujui"),
        "{}",
        r.location()
    );

    let r = post(
        h,
        staff,
        "/pesan/penyedia/uji",
        &[("telepon", "0812 9999 8888")],
    )
    .await;
    let msg = notice(r.location());
    assert!(msg.contains("palsu-1"), "{msg}");
    {
        let sent = fake.sent.lock().expect("lock");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "+6281299998888");
        assert!(sent[0].content.text().contains("Pesan uji"));
    }
    let r = post(
        h,
        staff,
        "/pesan/penyedia/uji",
        &[("telepon", "0812 9999 0000")],
    )
    .await;
    let msg = notice(r.location());
    assert!(msg.contains("Nomor tidak terdaftar di WhatsApp"), "{msg}");
    let r = post(h, staff, "/pesan/penyedia/uji", &[("telepon", "halo")]).await;
    assert!(notice(r.location()).contains("tidak sah"));
    assert_eq!(fake.sent.lock().expect("lock").len(), 1);
}

async fn renewals(h: &Harness, staff: &Session, auditor: &Session) {
    // A new issued permit renewing the seeded one; its applicant agreed at the counter.
    let rows = vec![IncomingPermit {
        pendaftaran_id: "0200000001012026".into(),
        status: PermitStatus::Issued,
        applicant_name: Some("BUDI GINTING".into()),
        permit_type_name: Some("IZIN USAHA TOKO".into()),
        permit_number: Some("503/0311/DPMPTSP/2026".into()),
        flags: Default::default(),
    }];
    let plan = plan_page(&rows, &Default::default());
    h.t.db
        .apply_page(&plan, None, &[], &[])
        .await
        .expect("seed");
    let now = chrono::Utc::now();
    h.t.db
        .set_permit_contact("0200000001012026", "+6281377778888", "staff", None, now)
        .await
        .expect("contact");
    h.t.db
        .record_consent("+6281377778888", "opt_in", "loket", None, now)
        .await
        .expect("consent");

    let page = get(h, auditor, "/pesan/perpanjangan").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Tidak ada usulan."));
    assert!(!page.body.contains("id=\"manual-renewal\""));
    let r = post(
        h,
        auditor,
        "/pesan/perpanjangan/konfirmasi",
        &[("baru", "0200000001012026"), ("lama", "0142307703072025")],
    )
    .await;
    assert_eq!(r.status, 403);

    let r = post(
        h,
        staff,
        "/pesan/perpanjangan/konfirmasi",
        &[("baru", "0200000001012026"), ("lama", "0000")],
    )
    .await;
    assert!(notice(r.location()).contains("\"0000\" tidak ditemukan"));
    assert!(h.t.db.list_renewals(None).await.expect("r").is_empty());

    // Not an obvious renewal (another holder's name, no issue dates): only with a reason.
    let r = post(
        h,
        staff,
        "/pesan/perpanjangan/konfirmasi",
        &[("baru", "0200000001012026"), ("lama", "0142307703072025")],
    )
    .await;
    let msg = notice(r.location());
    assert!(
        msg.contains("tidak tampak") && msg.contains("nama pemegang izin berbeda"),
        "{msg}"
    );
    assert!(h.t.db.list_renewals(None).await.expect("r").is_empty());
    // The new permit's signed letter is published (the notice carries its download link).
    for sql in [
        "INSERT INTO documents (pendaftaran_id, kind, version, storage_key, sha256, size_bytes, pages, \
         content_type, source, created_by, created_at) VALUES ('0200000001012026', 'original', 1, 'k/r', \
         'sha-r', 1, 1, 'application/pdf', 'test', 'test', '2026-01-01T00:00:00Z')",
        "INSERT INTO signing_cases (pendaftaran_id, original_document_id, state, verification_id, updated_at) \
         VALUES ('0200000001012026', (SELECT id FROM documents WHERE storage_key = 'k/r'), 'published', \
         'RENEWALVID01', '2026-01-01T00:00:00Z')",
    ] {
        companion_db::testing::execute_raw(&h.t.db, sql)
            .await
            .expect("letter");
    }
    let r = post(
        h,
        staff,
        "/pesan/perpanjangan/konfirmasi",
        &[
            ("baru", "0200000001012026"),
            ("lama", "0142307703072025"),
            ("alasan", "Nama pemegang ditulis lain di SICANTIK"),
        ],
    )
    .await;
    let msg = notice(r.location());
    assert!(msg.contains("dikonfirmasi"), "{msg}");
    assert!(msg.contains("1 pemberitahuan WhatsApp diantrekan"), "{msg}");
    let confirmed = h.t.db.list_renewals(Some("confirmed")).await.expect("r");
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0].renews_id, "0142307703072025");
    assert_eq!(confirmed[0].decided_by.as_deref(), Some("uji.staff"));
    let notices =
        h.t.db
            .list_messages(&companion_db::MessageQuery {
                event: Some("renewal_approved".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].phone, "+6281377778888");
    assert_eq!(notices[0].state, "queued");
    assert!(notices[0].body.contains("503/0311/DPMPTSP/2026"));
    assert!(
        notices[0].body.contains("/v/RENEWALVID01/unduh"),
        "{}",
        notices[0].body
    );
    assert_eq!(
        confirmed[0].reason.as_deref(),
        Some("Nama pemegang ditulis lain di SICANTIK")
    );

    let page = get(h, auditor, "/pesan/perpanjangan").await;
    let confirmed_section = page
        .body
        .split("id=\"confirmed-renewals\"")
        .nth(1)
        .unwrap_or_default();
    assert!(confirmed_section.contains("503/0311/DPMPTSP/2026"));
    assert!(confirmed_section.contains("503/0112/IUT/DPM-PTSP/2024"));
    let r = post(
        h,
        staff,
        "/pesan/perpanjangan/tolak",
        &[("baru", "0200000001012026")],
    )
    .await;
    assert!(notice(r.location()).contains("Usulan tidak ditemukan"));
}

async fn users(h: &Harness, admin: &Session) {
    let official = &h.users[&Role::Official];
    let path = format!("/pengguna/{}", official.id);
    let r = post(h, admin, &path, &[("telepon", "0812 7777 6666")]).await;
    assert_eq!(r.status, 303);
    assert!(
        notice(r.location()).contains("+6281277776666"),
        "{}",
        r.location()
    );
    assert_eq!(
        h.t.db
            .user_phone("uji.official")
            .await
            .expect("p")
            .map(|(_, phone)| phone)
            .as_deref(),
        Some("+6281277776666")
    );
    let page = get(h, admin, "/pengguna").await;
    assert!(page.body.contains("value=\"+6281277776666\""));
    // An invalid number is explained and changes nothing; empty clears.
    let r = post(h, admin, &path, &[("telepon", "bukan")]).await;
    assert!(notice(r.location()).contains("tidak disimpan"));
    assert_eq!(
        h.t.db
            .user_phone("uji.official")
            .await
            .expect("p")
            .map(|(_, phone)| phone)
            .as_deref(),
        Some("+6281277776666")
    );
    let r = post(h, admin, &path, &[("telepon", "")]).await;
    assert!(notice(r.location()).contains("dihapus"));
    assert_eq!(h.t.db.user_phone("uji.official").await.expect("p"), None);
    assert!(
        audit_actions(h, "uji.admin")
            .await
            .iter()
            .any(|a| a == "user.phone")
    );
}

/// Without a notifier the pages still render and say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_without_whatsapp() {
    let h = harness("sqlite").await;
    let staff = session(&h, &h.users[&Role::Staff]).await;
    for path in [
        "/pesan",
        "/pesan/templat",
        "/pesan/kontak",
        "/pesan/penyedia",
        "/pesan/perpanjangan",
    ] {
        let r = get(&h, &staff, path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.body.contains("WhatsApp belum dikonfigurasi"), "{path}");
    }
    let r = post(
        &h,
        &staff,
        "/pesan/penyedia/uji",
        &[("telepon", "081234567890")],
    )
    .await;
    assert!(notice(r.location()).contains("belum dikonfigurasi"));
    let d = get(&h, &staff, "/").await;
    assert!(d.body.contains("id=\"whatsapp-totals\""));
    h.t.cleanup().await.expect("cleanup");
}

/// The WhatsApp routes by role, judged like the route matrix in `access.rs`: reading for
/// everyone who sees permits, changing for administrators and staff only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_routes_by_role() {
    let h = harness("sqlite").await;
    let routes: Vec<_> = companion_web::routes()
        .into_iter()
        .filter(|r| r.path.starts_with("/pesan"))
        .collect();
    assert_eq!(routes.len(), 16, "{routes:?}");
    let mut failures = Vec::new();
    for r in &routes {
        let manage = matches!(
            r.access,
            companion_web::Access::Signed(companion_domain::Permission::ManageNotifications)
        );
        assert!(
            manage || r.method == "GET",
            "{} {} changes state without ManageNotifications",
            r.method,
            r.path
        );
        let path = r.path.replace("{id}", "1");
        // Anonymous: to the login form.
        let anon = Call::new(r.method, &path)
            .cookie("sc_login=anon".into())
            .form("csrf=anon")
            .send(&h.router)
            .await;
        if !(anon.status == 303 && anon.location().starts_with("/masuk")) {
            failures.push(format!("{} {path} anonymous: {}", r.method, anon.status));
        }
        for role in Role::ALL {
            let s = session(&h, &h.users[&role]).await;
            let reply = if r.method == "GET" {
                get(&h, &s, &path).await
            } else {
                post(&h, &s, &path, &[]).await
            };
            let allowed = !manage || matches!(role, Role::Admin | Role::Staff);
            let denied = reply.status == 403;
            let odd = matches!(reply.status.as_u16(), 401 | 500);
            if allowed == denied || odd {
                failures.push(format!(
                    "{} {path} as {role:?}: {} (allowed: {allowed})",
                    r.method, reply.status
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    h.t.cleanup().await.expect("cleanup");
}

// The permit page (issue 23): the permit's real messages (state, time, reason) and nobody
// else's; without consent, the counter form at the top, which records consent through the one
// consent operation (`POST /pesan/kontak`), comes back to the page and queues the skipped
// "permit ready" message again; resend from the page returns to it; a forged return address
// goes nowhere else.
companion_db::on_both_backends!(permit_page_messages_and_consent);

async fn permit_page_messages_and_consent(backend: &str) {
    const PERMIT: &str = "0142307703072025";
    let page = format!("/izin/{PERMIT}");
    let mut h = harness(backend).await;
    let _ = with_notifier(&mut h);
    let staff = session(&h, &h.users[&Role::Staff]).await;
    let official = session(&h, &h.users[&Role::Official]).await;

    // No number yet: said so at the top, no messages.
    let r = get(&h, &staff, &page).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"consent-prompt\""), "{}", r.body);
    assert!(r.body.contains("Belum ada nomor WhatsApp pemohon"));
    assert!(r.body.contains("id=\"no-permit-messages\""));
    assert!(
        !r.body.contains("Belum ada notifikasi"),
        "the old placeholder"
    );

    // A "permit ready" skipped for lack of consent, and another permit's message.
    let mut other = message("p:other", Event::PermitReady, "+6281277778888", "queued");
    other.subject_id = Some("lain-izin".into());
    h.t.db
        .enqueue_messages(&[
            message("p:ready", Event::PermitReady, "+6281255556666", "skipped"),
            other,
        ])
        .await
        .expect("enqueue");
    let skipped =
        h.t.db
            .messages_for_subject(PERMIT, 10)
            .await
            .expect("messages")
            .into_iter()
            .find(|m| m.dedup_key == "p:ready")
            .expect("skipped message")
            .id;
    let r = get(&h, &staff, &page).await;
    assert!(
        r.body
            .contains(&format!("data-skipped-message=\"{skipped}\"")),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"permit-messages\""));
    assert!(r.body.contains("Izin selesai (siap diunduh)"));
    assert!(r.body.contains("Dilewati"));
    assert!(
        r.body
            .contains("Belum ada persetujuan (opt-in) dari penerima")
    );
    assert!(r.body.contains("id=\"consent-form\""));
    assert!(
        !r.body.contains("+6281277778888"),
        "another permit's message shown"
    );

    // The official reads the messages, with no consent form and no resend.
    let o = get(&h, &official, &page).await;
    assert!(o.body.contains("id=\"permit-messages\""));
    assert!(!o.body.contains("id=\"consent-form\""));
    assert!(!o.body.contains("data-resend"));

    // A forged return address: back to the contacts page, never elsewhere.
    let r = post(
        &h,
        &staff,
        "/pesan/kontak",
        &[
            ("pendaftaran_id", PERMIT),
            ("telepon", "081255556666"),
            ("ke", "https://contoh.invalid/"),
        ],
    )
    .await;
    assert_eq!(r.status, 303);
    assert!(
        r.location().starts_with("/pesan/kontak?"),
        "{}",
        r.location()
    );
    assert_eq!(
        state_of(&h, skipped).await,
        "skipped",
        "no consent, nothing queued"
    );

    // Consent at the counter, from the permit page.
    let r = post(
        &h,
        &staff,
        "/pesan/kontak",
        &[
            ("pendaftaran_id", PERMIT),
            ("telepon", "081255556666"),
            ("persetujuan", "ya"),
            ("ke", "izin"),
            ("kirim_ulang", "ya"),
        ],
    )
    .await;
    assert_eq!(r.status, 303);
    assert!(
        r.location().starts_with(&format!("{page}?")),
        "{}",
        r.location()
    );
    assert!(
        notice(r.location()).contains("1 pesan yang dilewati"),
        "{}",
        r.location()
    );
    assert_eq!(state_of(&h, skipped).await, "queued");
    let r = get(&h, &staff, &page).await;
    assert!(!r.body.contains("id=\"consent-prompt\""), "{}", r.body);
    assert!(r.body.contains("data-consent=\"opted_in\""));
    let log = h.t.db.consent_log("+6281255556666").await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].source, "loket");

    // Resend from the page comes back to it.
    let mut failed = message("p:failed", Event::StatusChanged, "+6281255556666", "failed");
    failed.failure_detail = Some("Nomor tidak terdaftar di WhatsApp".into());
    h.t.db.enqueue_messages(&[failed]).await.expect("enqueue");
    let failed =
        h.t.db
            .messages_for_subject(PERMIT, 10)
            .await
            .expect("messages")
            .into_iter()
            .find(|m| m.dedup_key == "p:failed")
            .expect("failed message")
            .id;
    let r = get(&h, &staff, &page).await;
    assert!(r.body.contains("Nomor tidak terdaftar di WhatsApp"));
    assert!(r.body.contains(&format!("data-resend=\"{failed}\"")));
    let r = post(&h, &staff, &format!("/pesan/{failed}/ulang?ke=izin"), &[]).await;
    assert_eq!(r.status, 303);
    assert!(
        r.location().starts_with(&format!("{page}?")),
        "{}",
        r.location()
    );
    assert_eq!(state_of(&h, failed).await, "queued");
    h.t.cleanup().await.expect("cleanup");
}
