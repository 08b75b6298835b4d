//! The BSrE Esign Client Service API (`shared/spec/bsre-api.md`): v1 (multipart, the signed PDF
//! as the raw answer) and v2 (JSON, base64 files, several per call), the user-status check, and
//! BSrE's errors as typed values with messages in Bahasa Indonesia.
//!
//! A sign call is never retried here: once the request may have reached the server, a timeout or
//! a lost connection is an *unknown outcome* for a person to resolve, not a reason to re-send.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::passphrase::Passphrase;

/// Which wire variant the agency's Esign Client speaks (`BSRE_API_VERSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BsreApi {
    V1,
    V2,
}

impl BsreApi {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v1" | "1" => Some(Self::V1),
            "v2" | "2" => Some(Self::V2),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct BsreConfig {
    /// `BSRE_BASE_URL`, e.g. `http://tte.karokab.go.id` (plain HTTP is allowed: agencies run it so).
    pub base_url: String,
    pub api: BsreApi,
    /// The client application's Basic-auth credentials (`BSRE_USERNAME`, `BSRE_PASSWORD`).
    pub username: String,
    pub password: String,
    /// Signing takes seconds; clients use 60–120 s.
    pub timeout: Duration,
}

impl std::fmt::Debug for BsreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BsreConfig")
            .field("base_url", &self.base_url)
            .field("api", &self.api)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Where and how the signature shows (BSrE draws its own box); `None` signs invisibly.
#[derive(Debug, Clone)]
pub struct BsreAppearance {
    pub page: u32,
    /// `[x, y, width, height]` in PDF points, origin bottom-left.
    pub rect: [f32; 4],
}

/// One sign call's parameters besides the file and the signer.
#[derive(Debug, Clone)]
pub struct BsreSignOptions {
    pub visible: Option<BsreAppearance>,
    pub reason: String,
    pub location: String,
    /// PNG for v2's `imageBase64`, which the service wants even for invisible signatures.
    pub image_png: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum BsreError {
    #[error("BSrE: wrong passphrase (2031)")]
    WrongPassphrase,
    #[error("BSrE: the signer is not registered or the certificate is not active (2011)")]
    NotRegistered,
    #[error("BSrE: the signer's certificate status is {0}, not ISSUE")]
    CertificateNotUsable(String),
    #[error("BSrE refused the client credentials (HTTP 401): check BSRE_USERNAME/BSRE_PASSWORD")]
    ClientCredentials,
    /// The request certainly produced no signature (no connection, or an error answer).
    #[error("BSrE is unavailable: {0}")]
    Unavailable(String),
    /// The request may have reached the server and no usable answer came back.
    #[error("BSrE: unknown outcome ({0}); the document may have been signed there")]
    UnknownOutcome(String),
    #[error("BSrE refused the request (code {code:?}): {message}")]
    Rejected { code: Option<i64>, message: String },
    #[error("BSrE: the official has no NIK in their profile")]
    NoNik,
}

impl BsreError {
    /// The message staff and officials see.
    pub fn pesan(&self) -> String {
        match self {
            BsreError::WrongPassphrase => {
                "Passphrase salah. Periksa lalu coba lagi (passphrase sertifikat elektronik BSrE Anda).".into()
            }
            BsreError::NotRegistered => "NIK penandatangan tidak terdaftar di BSrE atau sertifikatnya tidak aktif (kedaluwarsa/dicabut). Hubungi admin untuk pembaruan sertifikat.".into(),
            BsreError::CertificateNotUsable(status) => format!(
                "Sertifikat elektronik penandatangan tidak dapat dipakai (status BSrE: {status}). Hubungi admin atau BSrE."
            ),
            BsreError::ClientCredentials => "Aplikasi ditolak oleh layanan BSrE (kredensial klien salah). Hubungi admin.".into(),
            BsreError::Unavailable(_) => "Layanan BSrE sedang tidak dapat dihubungi. Dokumen belum ditandatangani; coba lagi nanti.".into(),
            BsreError::UnknownOutcome(_) => "Jawaban BSrE tidak diterima (waktu habis). Dokumen mungkin sudah ditandatangani di BSrE; periksa sebelum menandatangani ulang.".into(),
            BsreError::Rejected { message, .. } => format!("BSrE menolak penandatanganan: {message}"),
            BsreError::NoNik => "Profil Anda belum berisi NIK untuk BSrE. Minta admin mengisinya.".into(),
        }
    }

    /// Whether the document may have been signed at BSrE although no signed file came back.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, BsreError::UnknownOutcome(_))
    }
}

#[derive(Debug, Clone)]
pub struct BsreClient {
    http: reqwest::Client,
    config: BsreConfig,
}

/// Removes the passphrase from text that came back from the server (an echo must not reach a
/// log or a row).
fn scrub(text: &str, passphrase: &Passphrase) -> String {
    let secret = passphrase.expose();
    let text: String = text.chars().take(300).collect();
    if secret.is_empty() {
        text
    } else {
        text.replace(secret, "***")
    }
}

/// A network error on a sign call: only a failed connection proves nothing was sent.
fn sign_transport_error(e: &reqwest::Error) -> BsreError {
    if e.is_connect() {
        BsreError::Unavailable(format!("cannot connect: {}", without_url(e)))
    } else if e.is_timeout() {
        BsreError::UnknownOutcome("timed out waiting for the answer".into())
    } else {
        BsreError::UnknownOutcome(without_url(e))
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<BSRE_BASE_URL>");
    }
    text
}

/// BSrE's error JSON: `{"error"|"message", "status_code"}` (the code as number or string).
fn business_error(status: StatusCode, body: &[u8], passphrase: Option<&Passphrase>) -> BsreError {
    if status == StatusCode::UNAUTHORIZED {
        return BsreError::ClientCredentials;
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let code = json.as_ref().and_then(|v| match v.get("status_code") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    });
    let message = json
        .as_ref()
        .and_then(|v| {
            v.get("error")
                .or_else(|| v.get("message"))
                .and_then(Value::as_str)
        })
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let message = match passphrase {
        Some(p) => scrub(&message, p),
        None => message.chars().take(300).collect(),
    };
    match code {
        Some(2031) => BsreError::WrongPassphrase,
        Some(2011) => BsreError::NotRegistered,
        _ if status.is_server_error() || json.is_none() => {
            BsreError::Unavailable(format!("HTTP {status}: {message}"))
        }
        _ => BsreError::Rejected { code, message },
    }
}

fn looks_like_pdf(bytes: &[u8]) -> bool {
    bytes.len() > 8
        && bytes[..1024.min(bytes.len())]
            .windows(5)
            .any(|w| w == b"%PDF-")
}

impl BsreClient {
    pub fn new(config: BsreConfig) -> Result<Self, BsreError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| BsreError::Unavailable(e.to_string()))?;
        Ok(Self { http, config })
    }

    pub fn api(&self) -> BsreApi {
        self.config.api
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .basic_auth(&self.config.username, Some(&self.config.password))
    }

    /// The certificate status of `nik` (`ISSUE` means usable). Safe to retry: it signs nothing.
    pub async fn user_status(&self, nik: &str) -> Result<String, BsreError> {
        let request = match self.config.api {
            BsreApi::V1 => self
                .http
                .get(self.url(&format!("/api/user/status/{nik}")))
                .basic_auth(&self.config.username, Some(&self.config.password)),
            BsreApi::V2 => self
                .post("/api/v2/user/check/status")
                .json(&json!({ "nik": nik })),
        };
        let response = request
            .send()
            .await
            .map_err(|e| BsreError::Unavailable(without_url(&e)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| BsreError::Unavailable(without_url(&e)))?;
        if !status.is_success() {
            return Err(match business_error(status, &body, None) {
                // The status call answers "not registered" with its own codes.
                BsreError::Rejected { .. } => BsreError::NotRegistered,
                other => other,
            });
        }
        let json: Value = serde_json::from_slice(&body)
            .map_err(|_| BsreError::Unavailable("the status answer is not JSON".into()))?;
        json.get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| BsreError::Unavailable("the status answer has no status".into()))
    }

    /// Refuses unless the user status is `ISSUE`.
    pub async fn ensure_usable(&self, nik: &str) -> Result<(), BsreError> {
        let status = self.user_status(nik).await?;
        if status.eq_ignore_ascii_case("ISSUE") {
            Ok(())
        } else {
            Err(BsreError::CertificateNotUsable(status))
        }
    }

    /// Signs one PDF; answers the signed file.
    pub async fn sign(
        &self,
        pdf: Vec<u8>,
        nik: &str,
        passphrase: &Passphrase,
        options: &BsreSignOptions,
    ) -> Result<Vec<u8>, BsreError> {
        match self.config.api {
            BsreApi::V1 => self.sign_v1(pdf, nik, passphrase, options).await,
            BsreApi::V2 => {
                let mut files = self.sign_v2(vec![pdf], nik, passphrase, options).await?;
                files
                    .pop()
                    .ok_or_else(|| BsreError::UnknownOutcome("no file in the answer".into()))
            }
        }
    }

    /// Signs several PDFs in one v2 call (same options for each). One bad file fails the whole
    /// call, so batches sign one document per call and keep this for callers that accept that.
    pub async fn sign_bulk(
        &self,
        pdfs: Vec<Vec<u8>>,
        nik: &str,
        passphrase: &Passphrase,
        options: &BsreSignOptions,
    ) -> Result<Vec<Vec<u8>>, BsreError> {
        match self.config.api {
            BsreApi::V2 => self.sign_v2(pdfs, nik, passphrase, options).await,
            BsreApi::V1 => {
                let mut out = Vec::with_capacity(pdfs.len());
                for pdf in pdfs {
                    out.push(self.sign_v1(pdf, nik, passphrase, options).await?);
                }
                Ok(out)
            }
        }
    }

    async fn sign_v1(
        &self,
        pdf: Vec<u8>,
        nik: &str,
        passphrase: &Passphrase,
        options: &BsreSignOptions,
    ) -> Result<Vec<u8>, BsreError> {
        use reqwest::multipart::{Form, Part};
        let file = Part::bytes(pdf)
            .file_name("dokumen.pdf")
            .mime_str("application/pdf")
            .map_err(|e| BsreError::Unavailable(e.to_string()))?;
        let mut form = Form::new()
            .part("file", file)
            .text("nik", nik.to_string())
            .text("passphrase", passphrase.expose().to_string())
            .text("reason", options.reason.clone())
            .text("location", options.location.clone());
        form = match &options.visible {
            None => form.text("tampilan", "invisible"),
            Some(a) => form
                .text("tampilan", "visible")
                .text("page", a.page.to_string())
                .text("xAxis", (a.rect[0].round() as i64).to_string())
                .text("yAxis", (a.rect[1].round() as i64).to_string())
                .text("width", (a.rect[2].round() as i64).to_string())
                .text("height", (a.rect[3].round() as i64).to_string())
                .text("image", "false"),
        };
        let response = self
            .post("/api/sign/pdf")
            .multipart(form)
            .send()
            .await
            .map_err(|e| sign_transport_error(&e))?;
        let status = response.status();
        let is_pdf = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("pdf"));
        let body = response
            .bytes()
            .await
            .map_err(|e| BsreError::UnknownOutcome(without_url(&e)))?;
        // Success is the PDF itself; errors are JSON. Branch on what came, not on assumptions.
        if status.is_success() && (is_pdf || looks_like_pdf(&body)) {
            return Ok(body.to_vec());
        }
        if status.is_success() {
            return Err(BsreError::UnknownOutcome(
                "HTTP 200 without a PDF in the answer".into(),
            ));
        }
        Err(business_error(status, &body, Some(passphrase)))
    }

    async fn sign_v2(
        &self,
        pdfs: Vec<Vec<u8>>,
        nik: &str,
        passphrase: &Passphrase,
        options: &BsreSignOptions,
    ) -> Result<Vec<Vec<u8>>, BsreError> {
        // Empty strings were refused by the real service; "null" was what worked (spec §8).
        let or_null = |s: &str| {
            if s.trim().is_empty() {
                "null".to_string()
            } else {
                s.to_string()
            }
        };
        let image = STANDARD.encode(&options.image_png);
        let property = match &options.visible {
            None => json!({
                "tampilan": "INVISIBLE",
                "imageBase64": image,
                "reason": or_null(&options.reason),
                "location": or_null(&options.location),
                "contactInfo": "null",
            }),
            Some(a) => json!({
                "tampilan": "VISIBLE",
                "imageBase64": image,
                "page": a.page,
                "originX": a.rect[0].round() as i64,
                "originY": a.rect[1].round() as i64,
                "width": a.rect[2].round() as i64,
                "height": a.rect[3].round() as i64,
                "reason": or_null(&options.reason),
                "location": or_null(&options.location),
                "contactInfo": "null",
            }),
        };
        let count = pdfs.len();
        let body = json!({
            "nik": nik,
            "passphrase": passphrase.expose(),
            "signatureProperties": vec![property; count],
            "file": pdfs.iter().map(|p| STANDARD.encode(p)).collect::<Vec<_>>(),
        });
        let response = self
            .post("/api/v2/sign/pdf")
            .json(&body)
            .send()
            .await
            .map_err(|e| sign_transport_error(&e))?;
        drop(body);
        let status = response.status();
        let answer = response
            .bytes()
            .await
            .map_err(|e| BsreError::UnknownOutcome(without_url(&e)))?;
        let json: Option<Value> = serde_json::from_slice(&answer).ok();
        // A 500 that still carries the signed files is a success (spec §8).
        if let Some(files) = json
            .as_ref()
            .and_then(|v| v.get("file"))
            .and_then(Value::as_array)
        {
            let decoded: Vec<Vec<u8>> = files
                .iter()
                .filter_map(|f| f.as_str())
                .filter_map(|f| STANDARD.decode(f.trim()).ok())
                .filter(|f| looks_like_pdf(f))
                .collect();
            if decoded.len() == count {
                if !status.is_success() {
                    tracing::warn!(%status, "BSrE answered an error status with the signed files; using them");
                }
                return Ok(decoded);
            }
            return Err(BsreError::UnknownOutcome(format!(
                "the answer carries {} usable files for {count} sent",
                decoded.len()
            )));
        }
        if status.is_success() {
            return Err(BsreError::UnknownOutcome(
                "HTTP 200 without files in the answer".into(),
            ));
        }
        Err(business_error(status, &answer, Some(passphrase)))
    }
}
