//! Documents: the kinds of stored PDF, the readable object key layout, and the signed links that
//! let an applicant download a file without an account.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a stored file is. A permit's files are numbered across kinds: the imported original,
/// then the QR-stamped copy, then the signed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Original,
    Stamped,
    Signed,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Original => "original",
            DocumentKind::Stamped => "stamped",
            DocumentKind::Signed => "signed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "original" => Some(DocumentKind::Original),
            "stamped" => Some(DocumentKind::Stamped),
            "signed" => Some(DocumentKind::Signed),
            _ => None,
        }
    }

    /// The label staff see.
    pub fn label(self) -> &'static str {
        match self {
            DocumentKind::Original => "Asli",
            DocumentKind::Stamped => "Ber-QR",
            DocumentKind::Signed => "Ditandatangani",
        }
    }
}

/// Where a document lives in the store: `permits/<year>/<registration id>/v<n>-<kind>.pdf`.
/// The year is the permit's issue year (the import year when the permit has none), so a year's
/// files can be listed, copied or archived together.
pub fn object_key(year: i32, pendaftaran_id: &str, version: i64, kind: DocumentKind) -> String {
    format!(
        "permits/{year:04}/{}/v{version}-{}.pdf",
        safe_segment(pendaftaran_id),
        kind.as_str()
    )
}

/// Registration ids are digits in practice; anything else is reduced to a safe path segment.
fn safe_segment(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '_') {
        "_".repeat(cleaned.len().max(1)) + "x"
    } else {
        cleaned
    }
}

/// A file name in the inbox names its permit by registration id or by permit number. Permit
/// numbers contain `/`, which file names cannot, so `-`, `_` and `.` stand in for it.
/// Returns the candidate values to look up, most specific first.
pub fn inbox_name_candidates(file_name: &str) -> Vec<String> {
    let stem = file_name
        .rsplit_once('.')
        .filter(|(_, ext)| ext.eq_ignore_ascii_case("pdf"))
        .map(|(stem, _)| stem)
        .unwrap_or(file_name)
        .trim();
    if stem.is_empty() {
        return Vec::new();
    }
    let mut out = vec![stem.to_string()];
    for sep in ['-', '_', '.'] {
        if stem.contains(sep) {
            let slashed = stem.replace(sep, "/");
            if !out.contains(&slashed) {
                out.push(slashed);
            }
        }
    }
    out
}

/// A permit number with every separator as `-`, upper-case: how it compares with a file name.
pub fn normalize_permit_number(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            '/' | '_' | '.' | ' ' => '-',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

type HmacSha256 = Hmac<Sha256>;

/// The MAC that makes a download link unforgeable: it binds the link id, the document and the
/// expiry, so none of them can be changed in a URL. 128 bits, URL-safe base64.
pub fn link_mac(secret: &[u8], link_id: i64, document_id: i64, expires_unix: i64) -> String {
    use base64::Engine;
    // HMAC accepts keys of any length.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(
        format!("sicantik-companion/link/v1:{link_id}:{document_id}:{expires_unix}").as_bytes(),
    );
    let tag = mac.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..16])
}

/// `<link id>.<expiry, unix seconds>.<mac>`.
pub fn link_token(secret: &[u8], link_id: i64, document_id: i64, expires_unix: i64) -> String {
    format!(
        "{link_id}.{expires_unix}.{}",
        link_mac(secret, link_id, document_id, expires_unix)
    )
}

/// The parts of a token, unchecked. `None` when it is not shaped like one.
pub fn parse_link_token(token: &str) -> Option<(i64, i64, &str)> {
    let mut parts = token.splitn(3, '.');
    let id = parts.next()?.parse().ok()?;
    let expires = parts.next()?.parse().ok()?;
    let mac = parts.next()?;
    (mac.len() == 22).then_some((id, expires, mac))
}

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    Malformed,
    Forged,
    Expired,
    Revoked,
}

/// Checks a token against the stored link (its document, expiry and revocation).
pub fn check_link(
    secret: &[u8],
    token: &str,
    document_id: i64,
    expires_unix: i64,
    revoked: bool,
    now_unix: i64,
) -> Result<(), LinkRefusal> {
    use subtle::ConstantTimeEq;
    let (id, token_expires, mac) = parse_link_token(token).ok_or(LinkRefusal::Malformed)?;
    let expected = link_mac(secret, id, document_id, expires_unix);
    let same =
        token_expires == expires_unix && bool::from(expected.as_bytes().ct_eq(mac.as_bytes()));
    if !same {
        return Err(LinkRefusal::Forged);
    }
    if revoked {
        return Err(LinkRefusal::Revoked);
    }
    if now_unix >= expires_unix {
        return Err(LinkRefusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_readable_and_safe() {
        assert_eq!(
            object_key(2025, "0142307703072025", 3, DocumentKind::Signed),
            "permits/2025/0142307703072025/v3-signed.pdf"
        );
        assert_eq!(
            object_key(2024, "../x", 1, DocumentKind::Original),
            "permits/2024/___x/v1-original.pdf"
        );
    }

    #[test]
    fn inbox_names_match_ids_and_numbers() {
        assert_eq!(
            inbox_name_candidates("0142307703072025.pdf"),
            vec!["0142307703072025"]
        );
        assert_eq!(
            inbox_name_candidates("503-0142-DPMPTSP-2025.PDF"),
            vec!["503-0142-DPMPTSP-2025", "503/0142/DPMPTSP/2025"]
        );
        assert!(inbox_name_candidates(".pdf").is_empty());
    }

    #[test]
    fn links_resist_tampering_expiry_and_revocation() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let token = link_token(secret, 7, 42, 2_000_000_000);
        assert_eq!(
            check_link(secret, &token, 42, 2_000_000_000, false, 1_900_000_000),
            Ok(())
        );
        // Another document, a longer expiry, another secret: all forged.
        assert_eq!(
            check_link(secret, &token, 43, 2_000_000_000, false, 1_900_000_000),
            Err(LinkRefusal::Forged)
        );
        let longer = token.replacen("2000000000", "2100000000", 1);
        assert_eq!(
            check_link(secret, &longer, 42, 2_000_000_000, false, 1_900_000_000),
            Err(LinkRefusal::Forged)
        );
        assert_eq!(
            check_link(b"other", &token, 42, 2_000_000_000, false, 1_900_000_000),
            Err(LinkRefusal::Forged)
        );
        assert_eq!(
            check_link(secret, &token, 42, 2_000_000_000, false, 2_000_000_000),
            Err(LinkRefusal::Expired)
        );
        assert_eq!(
            check_link(secret, &token, 42, 2_000_000_000, true, 1_900_000_000),
            Err(LinkRefusal::Revoked)
        );
        assert_eq!(
            check_link(secret, "7.x.y", 42, 2_000_000_000, false, 0),
            Err(LinkRefusal::Malformed)
        );
    }
}
