//! Serving stored documents over HTTP (inline preview or download, single byte ranges for PDF
//! viewers and resumed downloads) and reading PDF uploads from multipart forms. Shared by the
//! staff pages, the API and the applicant links.

use axum::body::Body;
use axum::extract::Multipart;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use companion_db::Document;
use companion_documents::Documents;
use companion_pdf::PdfProblem;
use companion_storage::StorageError;

use crate::{ApiError, AppState};

/// At most this many files in one upload request.
pub const MAX_FILES_PER_UPLOAD: usize = 50;

/// The documents service, or a 503 when the server runs without one.
pub fn documents(state: &AppState) -> Result<&Documents, ApiError> {
    state.documents.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "documents_unavailable",
            "Penyimpanan dokumen tidak dikonfigurasi di server ini.",
        )
    })
}

pub fn storage_error(e: StorageError) -> ApiError {
    match e {
        StorageError::NotFound(_) => ApiError::new(
            StatusCode::NOT_FOUND,
            "object_missing",
            "Berkas tidak ditemukan di penyimpanan (lihat pemeriksaan integritas).",
        ),
        other => {
            tracing::error!(error = %other, "object store error");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "Penyimpanan berkas sedang tidak dapat dihubungi; coba lagi nanti.",
            )
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Inline,
    Attachment,
}

/// A range that cannot be served (answered with 416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A single `Range: bytes=…` request resolved against `size`: `Ok(None)` for the whole file
/// (no header, several ranges, or a unit we do not serve), `Err` when unsatisfiable.
pub fn parse_range(
    header: Option<&str>,
    size: u64,
) -> Result<Option<std::ops::Range<u64>>, Unsatisfiable> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let suffix: u64 = end.parse().map_err(|_| Unsatisfiable)?;
        if suffix == 0 {
            return Err(Unsatisfiable);
        }
        size.saturating_sub(suffix)..size
    } else {
        let start: u64 = start.parse().map_err(|_| Unsatisfiable)?;
        let end: u64 = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            end.parse::<u64>()
                .map_err(|_| Unsatisfiable)?
                .min(size.saturating_sub(1))
        };
        if start >= size || end < start {
            return Err(Unsatisfiable);
        }
        start..end + 1
    };
    Ok(Some(range))
}

/// The file name offered for a document: its permit and version.
pub fn download_name(doc: &Document) -> String {
    format!(
        "izin-{}-v{}-{}.pdf",
        doc.pendaftaran_id, doc.version, doc.kind
    )
}

/// Streams a stored document, honouring a single byte range.
pub async fn serve_document(
    docs: &Documents,
    doc: &Document,
    request_headers: &HeaderMap,
    disposition: Disposition,
) -> Result<Response, ApiError> {
    let size = doc.size_bytes.max(0) as u64;
    let etag = format!("\"{}\"", doc.sha256);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=0, must-revalidate"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The staff's document page shows the PDF in a frame of this origin; no other may frame it.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'self'"),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    let kind = match disposition {
        Disposition::Inline => "inline",
        Disposition::Attachment => "attachment",
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{kind}; filename=\"{}\"", download_name(doc))) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    // A range only applies to the version the client has (If-Range with our ETag) or when no
    // If-Range is sent.
    let if_range_ok = request_headers
        .get(header::IF_RANGE)
        .map(|v| v.to_str().map(|v| v.trim() == etag).unwrap_or(false))
        .unwrap_or(true);
    let range_header = request_headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_ok);
    let storage = docs.storage();
    match parse_range(range_header, size) {
        Err(Unsatisfiable) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            Ok((StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response())
        }
        Ok(Some(range)) => {
            let stream = storage
                .get_range_stream(&doc.storage_key, range.clone())
                .await
                .map_err(storage_error)?;
            if let Ok(v) =
                HeaderValue::from_str(&format!("bytes {}-{}/{size}", range.start, range.end - 1))
            {
                headers.insert(header::CONTENT_RANGE, v);
            }
            headers.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(range.end - range.start),
            );
            Ok((
                StatusCode::PARTIAL_CONTENT,
                headers,
                Body::from_stream(stream),
            )
                .into_response())
        }
        Ok(None) => {
            let (stored_size, stream) = storage
                .get_stream(&doc.storage_key)
                .await
                .map_err(storage_error)?;
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(stored_size));
            Ok((StatusCode::OK, headers, Body::from_stream(stream)).into_response())
        }
    }
}

/// One file of an upload: its name and bytes, or why it was not read whole.
pub struct UploadedFile {
    pub name: String,
    pub bytes: Result<Bytes, PdfProblem>,
}

/// Reads every file field of a multipart form (any field name), each up to `max` bytes; a larger
/// one is reported as too large without buffering the rest of it.
pub async fn read_uploads(form: Multipart, max: u64) -> Result<Vec<UploadedFile>, ApiError> {
    read_uploads_sized(form, max, None).await
}

/// [`read_uploads`] for a request that announced its size: the first file's buffer is reserved
/// once at that size instead of doubling its way there (a 19 MB upload held 32 MB).
pub async fn read_uploads_sized(
    form: Multipart,
    max: u64,
    declared: Option<u64>,
) -> Result<Vec<UploadedFile>, ApiError> {
    Ok(read_uploads_noted(form, max, declared, "").await?.0)
}

/// [`read_uploads_sized`] that also reads the plain text field `note_field` (at most 2,000
/// characters; empty means none).
pub async fn read_uploads_noted(
    mut form: Multipart,
    max: u64,
    declared: Option<u64>,
    note_field: &str,
) -> Result<(Vec<UploadedFile>, Option<String>), ApiError> {
    let mut note = None;
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("Unggahan tidak dapat dibaca: {}", e.body_text()))
    };
    let mut files = Vec::new();
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        let Some(name) = field.file_name().map(companion_documents::clean_file_name) else {
            // A plain form field (the CSRF token is read from the query or header).
            if !note_field.is_empty() && field.name() == Some(note_field) {
                let text = field.text().await.map_err(bad)?;
                let text: String = text.trim().chars().take(2000).collect();
                note = (!text.is_empty()).then_some(text);
            }
            continue;
        };
        if files.len() >= MAX_FILES_PER_UPLOAD {
            return Err(ApiError::bad_request(format!(
                "Paling banyak {MAX_FILES_PER_UPLOAD} berkas sekali unggah."
            )));
        }
        let hint = if files.is_empty() {
            declared.unwrap_or(0).min(max)
        } else {
            0
        };
        let mut buf = BytesMut::with_capacity(usize::try_from(hint).unwrap_or(0));
        let mut size = 0u64;
        let mut too_large = false;
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            size += chunk.len() as u64;
            if size > max {
                too_large = true;
            } else {
                buf.extend_from_slice(&chunk);
            }
        }
        let bytes = if too_large {
            Err(PdfProblem::TooLarge { size, limit: max })
        } else {
            Ok(buf.freeze())
        };
        files.push(UploadedFile { name, bytes });
    }
    if files.is_empty() {
        return Err(ApiError::bad_request("Pilih minimal satu berkas PDF."));
    }
    Ok((files, note))
}

#[cfg(test)]
mod tests {
    use super::{Unsatisfiable, parse_range};

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Ok(Some(0..10)));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some(90..100)));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some(90..100)));
        assert_eq!(parse_range(Some("bytes=50-500"), 100), Ok(Some(50..100)));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 100), Ok(None));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=5-2"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=-0"), 100), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=x-"), 100), Err(Unsatisfiable));
    }
}
