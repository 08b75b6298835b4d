//! What the WhatsApp messages link to, beside the portal: applicant links made for the notifier
//! (`companion_notify::service::ApplicantLinks`, for letters announced on import and renewals
//! whose letter was imported, and the signed tracking links `/lacak/<token>` of status
//! messages), and the signed letter's download (`/v/<id>/unduh`) that tells an
//! applicant plainly when the document was revoked instead of answering "not found".

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use companion_documents::{Actor, Documents};
use companion_domain::workflow::DocState;
use companion_notify::service::{ApplicantLinks, LinkFuture};
use maud::html;

use crate::Shared;
use crate::api::Path;
use crate::ui::{Client, bare};

/// How long an applicant link sent on WhatsApp stays valid.
pub const WHATSAPP_LINK_DAYS: i64 = 90;

/// Applicant links (`/unduh/<token>`, signed, revocable, counted) for the notifier.
pub struct DocumentLinks {
    documents: Documents,
    base: String,
}

impl DocumentLinks {
    pub fn new(documents: Documents, public_base_url: &str) -> Self {
        DocumentLinks {
            documents,
            base: public_base_url.trim_end_matches('/').to_string(),
        }
    }
}

impl ApplicantLinks for DocumentLinks {
    fn link(&self, document_id: i64) -> LinkFuture<'_> {
        Box::pin(async move {
            let doc = self
                .documents
                .db()
                .get_document(document_id)
                .await
                .map_err(|e| format!("document {document_id}: {e}"))?
                .ok_or_else(|| format!("document {document_id} not found"))?;
            let link = self
                .documents
                .create_link(
                    &doc,
                    WHATSAPP_LINK_DAYS,
                    "WhatsApp",
                    &Actor::system("whatsapp"),
                )
                .await
                .map_err(|e| format!("link for document {document_id}: {e}"))?;
            Ok(format!("{}/unduh/{}", self.base, link.token))
        })
    }

    fn tracking(&self, pendaftaran_id: &str) -> Option<String> {
        companion_domain::tracking::registration_id(pendaftaran_id).map(|id| {
            let token = self.documents.tracking_token(&id, WHATSAPP_LINK_DAYS);
            format!("{}/lacak/{token}", self.base)
        })
    }
}

/// `GET /v/{id}/unduh`: the portal's download of the signed letter; for a revoked document a
/// plain 410 page "Dokumen ini telah dicabut" with the date and reason (the applicant's old
/// link from WhatsApp), not a 404.
pub async fn signed_download(
    state: State<Shared>,
    client: Client,
    headers: HeaderMap,
    path: Path<String>,
) -> Response {
    let id = path.0.trim().to_string();
    let db = state.db.clone();
    let response = crate::portal::download(state.clone(), client, headers, path).await;
    if response.status() != StatusCode::NOT_FOUND {
        return response;
    }
    let case = match db.signing_case_by_verification_id(&id).await {
        Ok(Some(c)) if DocState::parse(&c.state) == Some(DocState::Revoked) => c,
        _ => return response,
    };
    let when = case
        .revoked_at
        .map(|t| {
            t.with_timezone(&state.office_tz)
                .format("%d-%m-%Y")
                .to_string()
        })
        .unwrap_or_else(|| "—".into());
    let page = bare(
        "Dokumen dicabut",
        html! {
            section.card #revoked {
                h1 { "Dokumen ini telah dicabut" }
                p { "Surat izin ini telah dicabut oleh DPMPTSP Kabupaten Karo pada " (when) " dan tidak berlaku lagi, sehingga tidak dapat diunduh." }
                @if let Some(r) = &case.reason { p { "Alasan: " (r) } }
                p { "Hubungi kantor DPMPTSP Kabupaten Karo untuk keterangan. " a href=(format!("/v/{}", case.verification_id)) { "Halaman verifikasi dokumen" } }
            }
        },
    );
    crate::portal::secured(&state, (StatusCode::GONE, page).into_response())
}
