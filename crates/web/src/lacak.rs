//! The public tracking page `/lacak` (issue 24, docs/bantuan-publik.md): the applicant enters
//! the registration number and the last four digits of the phone SICANTIK holds, or opens the
//! signed link from a WhatsApp message (`/lacak/<token>`). Translation only: who may see what
//! and where the answer comes from is `companion_sicantik::tracking`. A small page with no
//! script, Bahasa Indonesia with the portal's English switch, the portal's rate limits.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use companion_domain::PermitStatus;
use companion_domain::documents::LinkRefusal;
use companion_domain::tracking::StepPosition;
use companion_sicantik::tracking::{CompanionStepKind, Lookup, SicantikPart, TrackingView};
use maud::{Markup, html};

use crate::api::Path;
use crate::portal::{Lang, answer, lang_of, other, over_limit, portal_page, switch_href};
use crate::ui::Client;
use crate::{AppState, Shared};

#[derive(Debug, Default, serde::Deserialize)]
pub struct LacakQuery {
    nomor: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct LacakForm {
    nomor: Option<String>,
    telepon: Option<String>,
}

fn title(lang: Lang) -> &'static str {
    lang.t("Lacak permohonan", "Track an application")
}

/// The time in the office's zone with its abbreviation ("02-12-2026 13:05 WIB").
fn when(state: &AppState, t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&state.office_tz)
        .format("%d-%m-%Y %H:%M %Z")
        .to_string()
}

fn day(d: chrono::NaiveDate) -> String {
    d.format("%d-%m-%Y").to_string()
}

fn lookup_form(lang: Lang, nomor: &str) -> Markup {
    html! {
        section.card #lacak-form {
            form method="post" action="/lacak" {
                label { (lang.t("Nomor pendaftaran (pada tanda terima)", "Registration number (on your receipt)"))
                    br;
                    input name="nomor" value=(nomor) inputmode="numeric" autocomplete="off" maxlength="40" required placeholder=(lang.t("mis. 0142307703072025", "e.g. 0142307703072025"));
                }
                label { (lang.t("4 angka terakhir nomor telepon yang Anda daftarkan", "The last 4 digits of the phone number you registered"))
                    br;
                    input name="telepon" inputmode="numeric" autocomplete="off" maxlength="4" pattern="[0-9]{4}" required placeholder="1234";
                }
                p { button type="submit" { (lang.t("Lacak", "Track")) } }
            }
            p.muted { (lang.t(
                "Atau buka tautan pelacakan dari pesan WhatsApp DPMPTSP. Data yang ditampilkan hanya yang tercantum di tanda terima.",
                "Or open the tracking link in the DPMPTSP WhatsApp message. Only what your receipt shows is displayed.")) }
        }
    }
}

fn frame(
    state: &AppState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    status: StatusCode,
    content: impl FnOnce(Lang) -> Markup,
) -> Response {
    let (lang, remember) = lang_of(uri, headers);
    let t = title(lang);
    let mut r = portal_page(lang, &switch_href(uri, other(lang)), t, content(lang));
    *r.status_mut() = status;
    // Personal: never kept by a browser or proxy cache.
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer(state, remember, r)
}

fn unavailable(state: &AppState, uri: &axum::http::Uri, headers: &HeaderMap) -> Response {
    frame(
        state,
        uri,
        headers,
        StatusCode::SERVICE_UNAVAILABLE,
        |lang| {
            html! {
                h1 { (title(lang)) }
                p.notice.warn data-lacak="tidak-tersedia" { (lang.t(
                    "Pelacakan permohonan belum tersedia di server ini. Tanyakan keadaan permohonan Anda di kantor DPMPTSP.",
                    "Application tracking is not available on this server. Please ask the DPMPTSP office about your application.")) }
            }
        },
    )
}

/// `GET /lacak`: the form (`?nomor=` fills in the number).
pub async fn page(
    State(state): State<Shared>,
    Client(client): Client,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(q): Query<LacakQuery>,
) -> Response {
    if let Some(r) = over_limit(&state, &client, false) {
        return r;
    }
    let nomor = q
        .nomor
        .as_deref()
        .and_then(companion_domain::tracking::registration_id)
        .unwrap_or_default();
    frame(&state, &uri, &headers, StatusCode::OK, |lang| {
        html! {
            h1 { (title(lang)) }
            p { (lang.t(
                "Lihat sampai di mana permohonan izin Anda: tahapan di SICANTIK, riwayat status, dan surat izin elektronik.",
                "See how far your permit application has come: the steps in SICANTIK, the status history and the electronic permit letter.")) }
            (lookup_form(lang, &nomor))
        }
    })
}

/// `POST /lacak`: a look-up by number and the phone's last four digits.
pub async fn submit(
    State(state): State<Shared>,
    Client(client): Client,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Form(f): Form<LacakForm>,
) -> Response {
    // Each attempt counts against the portal's stricter per-client limit (the one of uploads):
    // guessing four digits stays slow.
    if let Some(r) = over_limit(&state, &client, true) {
        return r;
    }
    let Some(tracker) = state.tracker.clone() else {
        return unavailable(&state, &uri, &headers);
    };
    let nomor = f.nomor.unwrap_or_default();
    let digits = f.telepon.unwrap_or_default();
    let outcome = match tracker.lookup(&nomor, &digits).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "tracking look-up failed");
            return frame(
                &state,
                &uri,
                &headers,
                StatusCode::SERVICE_UNAVAILABLE,
                |lang| {
                    html! {
                        h1 { (title(lang)) }
                        p.notice.warn data-lacak="gangguan" { (lang.t("Pelacakan sedang terganggu. Coba lagi beberapa saat lagi.", "Tracking is disturbed at the moment. Please try again shortly.")) }
                    }
                },
            );
        }
    };
    metrics::counter!("companion_tracking_requests_total", "outcome" => match &outcome {
        Lookup::Found(_) => "found",
        Lookup::NotFound { .. } => "not_found",
        Lookup::TooManyAttempts => "too_many_attempts",
    })
    .increment(1);
    // What the visitor typed is shown back only when it is a well-formed number.
    let shown = companion_domain::tracking::registration_id(&nomor).unwrap_or_default();
    match outcome {
        Lookup::Found(view) => frame(&state, &uri, &headers, StatusCode::OK, |lang| {
            result(&state, lang, &view)
        }),
        Lookup::NotFound { sicantik_down } => {
            frame(&state, &uri, &headers, StatusCode::NOT_FOUND, |lang| {
                html! {
                    h1 { (title(lang)) }
                    p.notice.warn role="alert" data-lacak="tidak-cocok" { (lang.t(
                        "Nomor pendaftaran dan 4 angka terakhir nomor telepon tidak cocok dengan data kami. Periksa tanda terima Anda, lalu coba lagi.",
                        "The registration number and the last 4 digits of the phone number do not match our records. Check your receipt and try again.")) }
                    @if sicantik_down {
                        p.muted data-sicantik="terputus" { (lang.t(
                            "SICANTIK sedang tidak dapat dihubungi, sehingga permohonan yang baru didaftarkan mungkin belum dapat ditemukan.",
                            "SICANTIK cannot be reached at the moment, so an application registered very recently may not be found yet.")) }
                    }
                    (lookup_form(lang, &shown))
                }
            })
        }
        Lookup::TooManyAttempts => {
            let mut r = frame(
                &state,
                &uri,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                |lang| {
                    html! {
                        h1 { (title(lang)) }
                        p.notice.warn role="alert" data-lacak="terlalu-banyak" { (lang.t(
                            "Terlalu banyak percobaan untuk nomor ini. Coba lagi dalam satu jam, atau buka tautan pelacakan dari pesan WhatsApp Anda.",
                            "Too many attempts for this number. Try again in an hour, or open the tracking link in your WhatsApp message.")) }
                    }
                },
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("3600"));
            r
        }
    }
}

/// `GET /lacak/{token}`: the signed link from a WhatsApp message.
pub async fn link(
    State(state): State<Shared>,
    Client(client): Client,
    Path(token): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Some(r) = over_limit(&state, &client, false) {
        return r;
    }
    let (Some(tracker), Some(documents)) = (state.tracker.clone(), state.documents.clone()) else {
        return unavailable(&state, &uri, &headers);
    };
    let refused = |status: StatusCode, expired: bool| {
        frame(&state, &uri, &headers, status, |lang| {
            html! {
                h1 { (title(lang)) }
                @if expired {
                    p.notice.warn data-lacak="kedaluwarsa" { (lang.t(
                        "Tautan pelacakan ini sudah kedaluwarsa. Anda tetap dapat melacak dengan nomor pendaftaran dan 4 angka terakhir nomor telepon.",
                        "This tracking link has expired. You can still track with the registration number and the last 4 digits of the phone number.")) }
                } @else {
                    p.notice.warn data-lacak="tautan-tidak-sah" { (lang.t(
                        "Tautan pelacakan ini tidak sah. Periksa kembali tautan dari pesan WhatsApp Anda, atau lacak dengan nomor pendaftaran.",
                        "This tracking link is not valid. Check the link in your WhatsApp message, or track with the registration number.")) }
                }
                (lookup_form(lang, ""))
            }
        })
    };
    let id = match documents.open_tracking_token(&token) {
        Ok(id) => id,
        Err(LinkRefusal::Expired) => return refused(StatusCode::GONE, true),
        Err(_) => return refused(StatusCode::NOT_FOUND, false),
    };
    match tracker.view(&id).await {
        Ok(Some(view)) => frame(&state, &uri, &headers, StatusCode::OK, |lang| {
            result(&state, lang, &view)
        }),
        Ok(None) => refused(StatusCode::NOT_FOUND, false),
        Err(e) => {
            tracing::error!(error = %e, "tracking look-up failed");
            frame(
                &state,
                &uri,
                &headers,
                StatusCode::SERVICE_UNAVAILABLE,
                |lang| {
                    html! {
                        h1 { (title(lang)) }
                        p.notice.warn data-lacak="gangguan" { (lang.t("Pelacakan sedang terganggu. Coba lagi beberapa saat lagi.", "Tracking is disturbed at the moment. Please try again shortly.")) }
                    }
                },
            )
        }
    }
}

fn companion_label(lang: Lang, k: CompanionStepKind) -> &'static str {
    match k {
        CompanionStepKind::PdfReceived => {
            lang.t("Surat izin (PDF) diterima", "Permit letter (PDF) received")
        }
        CompanionStepKind::Approved => lang.t("Disetujui pejabat", "Approved by the official"),
        CompanionStepKind::Signed => {
            lang.t("Ditandatangani secara elektronik", "Signed electronically")
        }
        CompanionStepKind::Published => {
            lang.t("Diterbitkan, siap diunduh", "Published, ready to download")
        }
        CompanionStepKind::Revoked => lang.t("Dicabut", "Revoked"),
    }
}

fn status_label(lang: Lang, s: PermitStatus) -> &'static str {
    match s {
        PermitStatus::InProcess => lang.t("Sedang diproses", "In process"),
        PermitStatus::Issued => lang.t("Izin terbit", "Permit issued"),
    }
}

/// The one line a visitor reads first.
fn headline(lang: Lang, v: &TrackingView) -> String {
    let steps = match &v.sicantik {
        SicantikPart::Live { steps, .. } | SicantikPart::Cached { steps, .. } => steps.as_slice(),
        _ => &[],
    };
    if v.revoked {
        return lang
            .t(
                "Surat izin elektronik dicabut",
                "Electronic permit letter revoked",
            )
            .into();
    }
    if v.published.is_some() {
        return lang
            .t(
                "Izin terbit dan dapat diunduh",
                "Permit issued and ready to download",
            )
            .into();
    }
    if let Some(s) = steps.iter().find(|s| s.position == StepPosition::Current) {
        return s.name.clone();
    }
    match v.history.last().map(|h| h.0) {
        Some(s) => status_label(lang, s).into(),
        None => lang.t("Tahap belum diketahui", "Step not known yet").into(),
    }
}

fn result(state: &AppState, lang: Lang, v: &TrackingView) -> Markup {
    let mark = |p: StepPosition| match p {
        StepPosition::Done => ("✓", "done", "selesai"),
        StepPosition::Current => ("●", "current", "sekarang"),
        StepPosition::Upcoming => ("○", "upcoming", "berikutnya"),
        StepPosition::Unknown => ("·", "unknown", "tidak-diketahui"),
    };
    html! {
        h1 { (title(lang)) }
        section.card #lacak-hasil data-lacak="ditemukan" {
            dl.facts {
                dt { (lang.t("Nomor pendaftaran", "Registration number")) } dd #lacak-nomor { (v.pendaftaran_id) }
                dt { (lang.t("Jenis izin", "Permit type")) } dd { (v.permit_type.as_deref().unwrap_or("—")) }
                dt { (lang.t("Tahap saat ini", "Current step")) } dd #lacak-tahap { strong { (headline(lang, v)) } }
            }
            @if v.revoked {
                p.notice.danger data-dicabut="1" { (lang.t(
                    "Surat izin elektronik untuk permohonan ini telah dicabut dan tidak berlaku lagi. Hubungi kantor DPMPTSP untuk keterangan.",
                    "The electronic permit letter for this application has been revoked and is no longer valid. Contact the DPMPTSP office.")) }
            }
            @if let Some(vid) = &v.published {
                p { a.button #lacak-unduh href={ "/v/" (vid) "/unduh" } { (lang.t("Unduh surat izin (PDF)", "Download the permit letter (PDF)")) } }
                p { a href={ "/v/" (vid) } { (lang.t("Periksa keaslian surat izin", "Check the permit letter's authenticity")) } }
            }
        }
        section.card #lacak-sicantik {
            h2 { (lang.t("Tahapan di SICANTIK", "Steps in SICANTIK")) }
            @match &v.sicantik {
                SicantikPart::Live { fetched_at, .. } => {
                    p.muted data-sicantik="langsung" { (lang.t("Data SICANTIK per ", "SICANTIK data as of ")) (when(state, *fetched_at)) }
                }
                SicantikPart::Cached { fetched_at, .. } => {
                    p.notice.warn data-sicantik="tersimpan" { (lang.t(
                        "SICANTIK sedang tidak dapat dihubungi. Ditampilkan keadaan terakhir yang diketahui, per ",
                        "SICANTIK cannot be reached at the moment. Shown is the last known state, as of ")) (when(state, *fetched_at)) "." }
                }
                SicantikPart::Unavailable => {
                    p.notice.warn data-sicantik="tidak-ada" { (lang.t(
                        "SICANTIK sedang tidak dapat dihubungi dan belum ada keadaan tahapan yang tersimpan untuk permohonan ini. Coba lagi nanti; keadaan yang tercatat di kantor ditampilkan di bawah.",
                        "SICANTIK cannot be reached at the moment and no state of its steps has been kept for this application yet. Try again later; what the office has recorded is shown below.")) }
                }
                SicantikPart::NoSteps => {
                    p.muted data-sicantik="kosong" { (lang.t("SICANTIK belum mencatat tahapan untuk permohonan ini.", "SICANTIK has not recorded steps for this application yet.")) }
                }
            }
            @if let SicantikPart::Live { steps, .. } | SicantikPart::Cached { steps, .. } = &v.sicantik {
                ol.steps {
                    @for s in steps {
                        @let (sym, class, key) = mark(s.position);
                        li class=(class) data-step=(key) {
                            span aria-hidden="true" { (sym) } " " (s.name)
                            @if let Some(d) = s.date { " — " (day(d)) }
                        }
                    }
                }
            }
        }
        section.card #lacak-riwayat {
            h2 { (lang.t("Riwayat status", "Status history")) }
            ul.steps {
                @if let Some(d) = v.received_date { li { (lang.t("Berkas diterima", "Application received")) " — " (day(d)) } }
                @for (s, at) in &v.history { li { (status_label(lang, *s)) " — " (when(state, *at)) } }
                @if let Some(d) = v.issue_date { li { (lang.t("Tanggal surat izin", "Permit letter date")) " — " (day(d)) } }
                @if v.received_date.is_none() && v.history.is_empty() && v.issue_date.is_none() {
                    li.muted { (lang.t("Belum ada catatan di kantor.", "No records at the office yet.")) }
                }
            }
        }
        section.card #lacak-tte {
            h2 { (lang.t("Surat izin elektronik", "Electronic permit letter")) }
            ol.steps {
                @for c in &v.companion {
                    @if let Some(at) = c.at {
                        li.done data-companion=(format!("{:?}", c.kind)) { span aria-hidden="true" { "✓" } " " (companion_label(lang, c.kind)) " — " (when(state, at)) }
                    } @else {
                        li.upcoming data-companion=(format!("{:?}", c.kind)) { span aria-hidden="true" { "○" } " " (companion_label(lang, c.kind)) " — " (lang.t("belum", "not yet")) }
                    }
                }
            }
        }
        p { a href="/lacak" { (lang.t("Lacak permohonan lain", "Track another application")) } }
    }
}
