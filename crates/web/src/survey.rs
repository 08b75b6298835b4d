//! The public survey page `/survei/<token>` (Survei Kepuasan Masyarakat, docs/skm.md): the nine
//! questions of PermenPANRB 14/2017 on one mobile page, an optional comment and profile, one
//! answer per permit. Bahasa Indonesia with the portal's English switch; rate-limited like the
//! portal. The token is the only credential; nothing on the page names the applicant.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use companion_db::surveys::{SubmitOutcome, SurveyAnswer};
use companion_domain::survey::{
    self, AGE_BANDS, EDUCATION, ELEMENT_LIST, OCCUPATIONS, SEXES, Scores,
};
use maud::{Markup, html};

use crate::api::Path;
use crate::portal::{Lang, answer, lang_of, other, over_limit, portal_page, switch_href};
use crate::ui::Client;
use crate::{AppState, Shared};

/// The longest comment kept.
const COMMENT_MAX: usize = 2000;

/// Where a link stands.
enum Link {
    Open,
    Answered,
    Expired,
    Unknown,
}

async fn link_state(state: &AppState, token: &str) -> Result<Link, companion_db::DbError> {
    if token.len() > 100 {
        return Ok(Link::Unknown);
    }
    Ok(
        match state
            .db
            .survey_invitation(&survey::token_hash(token))
            .await?
        {
            None => Link::Unknown,
            Some(i) if i.answered => Link::Answered,
            Some(i) if i.expires_at <= chrono::Utc::now() => Link::Expired,
            Some(_) => Link::Open,
        },
    )
}

fn message(lang: Lang, key: &str, title: &str, text: &str) -> Markup {
    html! {
        section.card #survey data-survey=(key) {
            h1 { (title) }
            p { (text) }
            p.muted { (lang.t("DPMPTSP Kabupaten Karo — Survei Kepuasan Masyarakat", "DPMPTSP Kabupaten Karo — Public Satisfaction Survey")) }
        }
    }
}

fn closed(lang: Lang, link: &Link) -> (StatusCode, Markup) {
    match link {
        Link::Answered => (
            StatusCode::OK,
            message(
                lang,
                "sudah-dijawab",
                lang.t("Survei sudah dijawab", "Survey already answered"),
                lang.t(
                    "Survei untuk permohonan ini sudah dijawab. Satu permohonan satu jawaban — terima kasih atas penilaian Anda.",
                    "The survey for this application has been answered. One answer per application — thank you for your rating.",
                ),
            ),
        ),
        Link::Expired => (
            StatusCode::GONE,
            message(
                lang,
                "kedaluwarsa",
                lang.t("Tautan survei sudah kedaluwarsa", "The survey link has expired"),
                lang.t(
                    "Tautan ini hanya berlaku 30 hari setelah dikirim. Saran dan pengaduan tetap dapat disampaikan langsung ke kantor DPMPTSP.",
                    "This link is valid for 30 days after it was sent. You can still bring suggestions and complaints to the DPMPTSP office.",
                ),
            ),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            message(
                lang,
                "tidak-dikenal",
                lang.t("Tautan survei tidak dikenal", "Unknown survey link"),
                lang.t(
                    "Periksa kembali tautan dari pesan WhatsApp Anda.",
                    "Please check the link in your WhatsApp message again.",
                ),
            ),
        ),
    }
}

fn form(lang: Lang, token: &str, error: Option<&str>, previous: &SurveyForm) -> Markup {
    let en = lang == Lang::En;
    let chosen = |i: usize| previous.score(i);
    html! {
        section.card #survey data-survey="terbuka" {
            h1 { (lang.t("Survei Kepuasan Masyarakat", "Public Satisfaction Survey")) }
            p { (lang.t(
                "Bagaimana pelayanan perizinan DPMPTSP Kabupaten Karo yang Anda terima? Sembilan pertanyaan singkat, satu jawaban per permohonan. Jawaban Anda anonim: laporan tidak memuat nama, nomor atau permohonan Anda.",
                "How was the permit service of DPMPTSP Kabupaten Karo? Nine short questions, one answer per application. Your answer is anonymous: reports show no name, number or application of yours.")) }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.survey method="post" action={ "/survei/" (token) } {
                @for (i, e) in ELEMENT_LIST.iter().enumerate() {
                    fieldset.question data-element=(e.code) {
                        legend { span.code { (e.code) } " " (if en { e.question_en } else { e.question_id }) }
                        @for v in 1..=4u8 {
                            @let label = if en { e.answers_en[usize::from(v - 1)] } else { e.answers_id[usize::from(v - 1)] };
                            label.choice {
                                input type="radio" name={ "u" (i + 1) } value=(v) required checked[chosen(i) == Some(v)];
                                " " (label)
                            }
                        }
                    }
                }
                fieldset {
                    legend { (lang.t("Saran atau pengaduan (tidak wajib)", "Suggestions or complaints (optional)")) }
                    textarea name="komentar" rows="3" maxlength=(COMMENT_MAX) aria-label=(lang.t("Saran atau pengaduan", "Suggestions or complaints")) { (previous.komentar.as_deref().unwrap_or("")) }
                }
                fieldset {
                    legend { (lang.t("Tentang Anda (tidak wajib)", "About you (optional)")) }
                    label { (lang.t("Usia", "Age")) " "
                        select name="usia" { option value="" { "—" } @for a in AGE_BANDS { option value=(a) { (a.replace(">=", "≥ ")) } } } }
                    label { (lang.t("Jenis kelamin", "Sex")) " "
                        select name="jk" { option value="" { "—" } @for (c, id, en_) in SEXES { option value=(c) { (if en { en_ } else { id }) } } } }
                    label { (lang.t("Pendidikan", "Education")) " "
                        select name="pendidikan" { option value="" { "—" } @for (c, id, en_) in EDUCATION { option value=(c) { (if en { en_ } else { id }) } } } }
                    label { (lang.t("Pekerjaan", "Occupation")) " "
                        select name="pekerjaan" { option value="" { "—" } @for (c, id, en_) in OCCUPATIONS { option value=(c) { (if en { en_ } else { id }) } } } }
                }
                p { button type="submit" { (lang.t("Kirim penilaian", "Send my rating")) } }
            }
        }
    }
}

fn page(
    state: &AppState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    status: StatusCode,
    content: impl FnOnce(Lang) -> Markup,
) -> Response {
    let (lang, remember) = lang_of(uri, headers);
    let title = lang.t("Survei Kepuasan Masyarakat", "Public Satisfaction Survey");
    let mut r = portal_page(lang, &switch_href(uri, other(lang)), title, content(lang));
    *r.status_mut() = status;
    answer(state, remember, r)
}

/// `GET /survei/{token}`.
pub async fn show(
    State(state): State<Shared>,
    Client(client): Client,
    Path(token): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Some(r) = over_limit(&state, &client, false) {
        return r;
    }
    let link = match link_state(&state, &token).await {
        Ok(l) => l,
        Err(e) => return crate::ui::PageError(e.into()).into_response(),
    };
    match link {
        Link::Open => page(&state, &uri, &headers, StatusCode::OK, |lang| {
            form(lang, &token, None, &SurveyForm::default())
        }),
        other_state => {
            let lang = lang_of(&uri, &headers).0;
            let (status, _) = closed(lang, &other_state);
            page(&state, &uri, &headers, status, |lang| {
                closed(lang, &other_state).1
            })
        }
    }
}

/// The survey form as posted.
#[derive(Debug, Default, serde::Deserialize)]
pub struct SurveyForm {
    u1: Option<String>,
    u2: Option<String>,
    u3: Option<String>,
    u4: Option<String>,
    u5: Option<String>,
    u6: Option<String>,
    u7: Option<String>,
    u8: Option<String>,
    u9: Option<String>,
    komentar: Option<String>,
    usia: Option<String>,
    jk: Option<String>,
    pendidikan: Option<String>,
    pekerjaan: Option<String>,
}

impl SurveyForm {
    fn score(&self, i: usize) -> Option<u8> {
        let v = [
            &self.u1, &self.u2, &self.u3, &self.u4, &self.u5, &self.u6, &self.u7, &self.u8,
            &self.u9,
        ];
        v.get(i)
            .and_then(|s| s.as_deref())
            .and_then(|s| s.trim().parse::<u8>().ok())
    }

    fn scores(&self) -> Option<Scores> {
        let mut out = [0u8; 9];
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.score(i)?;
        }
        Scores::new(out).ok()
    }

    fn answer(&self) -> SurveyAnswer {
        let pick = |list: &[&str], v: &Option<String>| {
            v.as_deref()
                .and_then(|v| survey::profile_value(list, v.trim()))
        };
        let codes =
            |l: &[(&'static str, &str, &str)]| l.iter().map(|(c, _, _)| *c).collect::<Vec<_>>();
        let comment = self
            .komentar
            .as_deref()
            .map(|c| {
                c.trim()
                    .chars()
                    .filter(|ch| !ch.is_control() || *ch == '\n')
                    .take(COMMENT_MAX)
                    .collect::<String>()
            })
            .filter(|c| !c.is_empty());
        SurveyAnswer {
            scores: self.scores(),
            comment,
            age_band: pick(&AGE_BANDS, &self.usia),
            sex: pick(&codes(&SEXES), &self.jk),
            education: pick(&codes(&EDUCATION), &self.pendidikan),
            occupation: pick(&codes(&OCCUPATIONS), &self.pekerjaan),
        }
    }
}

/// `POST /survei/{token}`: stores the answer once.
pub async fn submit(
    State(state): State<Shared>,
    Client(client): Client,
    Path(token): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Form(posted): Form<SurveyForm>,
) -> Response {
    if let Some(r) = over_limit(&state, &client, false) {
        return r;
    }
    let link = match link_state(&state, &token).await {
        Ok(l) => l,
        Err(e) => return crate::ui::PageError(e.into()).into_response(),
    };
    if !matches!(link, Link::Open) {
        let lang = lang_of(&uri, &headers).0;
        let status = match closed(lang, &link).0 {
            StatusCode::OK => StatusCode::CONFLICT,
            s => s,
        };
        return page(&state, &uri, &headers, status, |lang| closed(lang, &link).1);
    }
    let a = posted.answer();
    if a.scores.is_none() {
        return page(
            &state,
            &uri,
            &headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            |lang| {
                form(
                lang,
                &token,
                Some(lang.t(
                    "Mohon jawab kesembilan pertanyaan (pilih satu jawaban untuk setiap pertanyaan).",
                    "Please answer all nine questions (choose one answer for each).",
                )),
                &posted,
            )
            },
        );
    }
    let outcome = match state
        .db
        .submit_survey(&survey::token_hash(&token), &a, chrono::Utc::now())
        .await
    {
        Ok(o) => o,
        Err(e) => return crate::ui::PageError(e.into()).into_response(),
    };
    metrics::counter!("companion_survey_answers_total", "outcome" => match outcome {
        SubmitOutcome::Stored => "stored",
        SubmitOutcome::AlreadyAnswered => "already_answered",
        SubmitOutcome::Expired => "expired",
        SubmitOutcome::Unknown => "unknown",
    })
    .increment(1);
    match outcome {
        SubmitOutcome::Stored => page(&state, &uri, &headers, StatusCode::OK, |lang| {
            message(
                lang,
                "terkirim",
                lang.t("Terima kasih", "Thank you"),
                lang.t(
                    "Penilaian Anda sudah kami terima. Hasil survei diolah tanpa identitas dan diumumkan sebagai Indeks Kepuasan Masyarakat (IKM).",
                    "We have received your rating. The survey is processed without identities and published as the Public Satisfaction Index (IKM).",
                ),
            )
        }),
        SubmitOutcome::AlreadyAnswered => {
            page(&state, &uri, &headers, StatusCode::CONFLICT, |lang| {
                closed(lang, &Link::Answered).1
            })
        }
        SubmitOutcome::Expired => page(&state, &uri, &headers, StatusCode::GONE, |lang| {
            closed(lang, &Link::Expired).1
        }),
        SubmitOutcome::Unknown => page(&state, &uri, &headers, StatusCode::NOT_FOUND, |lang| {
            closed(lang, &Link::Unknown).1
        }),
    }
}
