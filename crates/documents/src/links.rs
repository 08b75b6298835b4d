//! Links an applicant can open without an account: signed (the token's MAC binds link, document
//! and expiry), expiring, and revocable (the row is checked on every use). A document whose
//! signing case is revoked serves no link, old or new.

use chrono::{DateTime, Duration, Utc};
use companion_db::{Document, DocumentLink};
use companion_domain::documents::{LinkRefusal, check_link, link_token, parse_link_token};

use crate::{Actor, Documents, ImportError};

/// The longest a link may stay valid.
pub const MAX_LINK_DAYS: i64 = 365;

/// A link just created: its token is shown now and can be derived again later (it is a MAC, not
/// a stored secret).
#[derive(Debug, Clone)]
pub struct NewLink {
    pub link: DocumentLink,
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the link is refused: {0:?}")]
    Refused(LinkRefusal),
    #[error("the link's document no longer exists")]
    Gone,
    /// The document's signing case was revoked: every link to its files ends.
    #[error("the document was revoked")]
    DocumentRevoked,
    #[error("{0}")]
    Other(#[from] ImportError),
}

impl LinkError {
    /// The message shown to the applicant.
    pub fn pesan(&self) -> &'static str {
        match self {
            LinkError::Refused(LinkRefusal::Expired) => {
                "Tautan ini sudah kedaluwarsa. Mintalah tautan baru kepada petugas DPMPTSP."
            }
            LinkError::Refused(LinkRefusal::Revoked) => {
                "Tautan ini sudah dicabut oleh petugas. Mintalah tautan baru bila masih diperlukan."
            }
            LinkError::DocumentRevoked => {
                "Dokumen ini telah dicabut oleh DPMPTSP Kabupaten Karo dan tidak berlaku lagi. Hubungi kantor untuk keterangan."
            }
            LinkError::Refused(_) | LinkError::Gone => {
                "Tautan ini tidak sah. Periksa kembali alamatnya atau mintalah tautan baru."
            }
            LinkError::Other(_) => "Berkas sedang tidak dapat diambil; coba lagi nanti.",
        }
    }
}

impl From<companion_db::DbError> for LinkError {
    fn from(e: companion_db::DbError) -> Self {
        LinkError::Other(e.into())
    }
}

impl Documents {
    /// The token of a stored link (for showing it again to staff).
    pub fn link_token(&self, link: &DocumentLink) -> String {
        link_token(
            &self.inner.link_secret,
            link.id,
            link.document_id,
            link.expires_at.timestamp(),
        )
    }

    /// Creates a link valid for `days` (1..=[`MAX_LINK_DAYS`]).
    pub async fn create_link(
        &self,
        document: &Document,
        days: i64,
        note: &str,
        actor: &Actor,
    ) -> Result<NewLink, ImportError> {
        if self.inner.db.document_revoked(document.id).await? {
            return Err(ImportError::Revoked);
        }
        let days = days.clamp(1, MAX_LINK_DAYS);
        // Whole seconds: the token carries the expiry as unix seconds.
        let expires_at =
            DateTime::<Utc>::from_timestamp((Utc::now() + Duration::days(days)).timestamp(), 0)
                .unwrap_or_else(Utc::now);
        let note: String = note.chars().filter(|c| !c.is_control()).take(200).collect();
        let link = self
            .inner
            .db
            .create_link(document.id, expires_at, &note, &actor.name)
            .await?;
        self.inner
            .db
            .append_audit(&actor.record(
                "document.link_create",
                Some(("permit", document.pendaftaran_id.clone())),
                serde_json::json!({"document_id": document.id, "link_id": link.id, "expires_at": link.expires_at, "note": note}),
            ))
            .await?;
        let token = self.link_token(&link);
        Ok(NewLink { link, token })
    }

    /// Revokes a link; `false` if it did not exist or was revoked already.
    pub async fn revoke_link(&self, link_id: i64, actor: &Actor) -> Result<bool, ImportError> {
        let Some(link) = self.inner.db.get_link(link_id).await? else {
            return Ok(false);
        };
        if !self.inner.db.revoke_link(link_id, &actor.name).await? {
            return Ok(false);
        }
        self.inner
            .db
            .append_audit(&actor.record(
                "document.link_revoke",
                Some(("document", link.document_id.to_string())),
                serde_json::json!({"link_id": link_id}),
            ))
            .await?;
        Ok(true)
    }

    /// Resolves a token to its document, refusing forged, expired and revoked links.
    pub async fn open_link(&self, token: &str) -> Result<(Document, DocumentLink), LinkError> {
        let (id, _, _) =
            parse_link_token(token).ok_or(LinkError::Refused(LinkRefusal::Malformed))?;
        let link = self
            .inner
            .db
            .get_link(id)
            .await?
            .ok_or(LinkError::Refused(LinkRefusal::Forged))?;
        check_link(
            &self.inner.link_secret,
            token,
            link.document_id,
            link.expires_at.timestamp(),
            link.revoked_at.is_some(),
            Utc::now().timestamp(),
        )
        .map_err(LinkError::Refused)?;
        let document = self
            .inner
            .db
            .get_document(link.document_id)
            .await?
            .ok_or(LinkError::Gone)?;
        // Revoking the document ends every link to its files, whenever it was made.
        if self.inner.db.document_revoked(document.id).await? {
            return Err(LinkError::DocumentRevoked);
        }
        Ok((document, link))
    }
}

impl Documents {
    /// A tracking link's token for `/lacak/<token>` (issue 24): signed with the same key as the
    /// download links, under its own label, valid `days`.
    pub fn tracking_token(&self, pendaftaran_id: &str, days: i64) -> String {
        let expires = (Utc::now() + Duration::days(days.clamp(1, MAX_LINK_DAYS))).timestamp();
        companion_domain::tracking::link_token(&self.inner.link_secret, pendaftaran_id, expires)
    }

    /// The registration id a tracking token names, refusing forged, malformed and expired ones.
    pub fn open_tracking_token(&self, token: &str) -> Result<String, LinkRefusal> {
        companion_domain::tracking::check_link_token(
            &self.inner.link_secret,
            token,
            Utc::now().timestamp(),
        )
    }
}
