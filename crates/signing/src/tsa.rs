//! The RFC 3161 client (`TSA_URL`): asks for a timestamp over a CMS signature's value and adds
//! the token to it. A TSA that is down or answers nonsense is an error the caller reports; the
//! signature is then B-B and the pages say so.

use std::time::Duration;

use companion_pdf::timestamp::{
    TsaError, add_timestamp, request, signature_imprint, token_from_response,
};

#[derive(Debug, thiserror::Error)]
pub enum TsaClientError {
    #[error("the TSA cannot be reached: {0}")]
    Unreachable(String),
    #[error("the TSA answered HTTP {0}")]
    Status(u16),
    #[error(transparent)]
    Token(#[from] TsaError),
    #[error("the signature cannot be timestamped: {0}")]
    Cms(String),
}

#[derive(Debug, Clone)]
pub struct TsaClient {
    url: String,
    http: reqwest::Client,
}

impl TsaClient {
    pub fn new(url: &str, timeout: Duration) -> Result<Self, TsaClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| TsaClientError::Unreachable(e.to_string()))?;
        Ok(Self {
            url: url.to_string(),
            http,
        })
    }

    /// The CMS with a signature timestamp from the TSA.
    pub async fn timestamp(&self, cms: &[u8]) -> Result<Vec<u8>, TsaClientError> {
        let imprint = signature_imprint(cms).map_err(|e| TsaClientError::Cms(e.to_string()))?;
        let token = self.token(&imprint).await?;
        add_timestamp(cms, &token).map_err(|e| TsaClientError::Cms(e.to_string()))
    }

    /// A token (DER ContentInfo) over the SHA-256 `imprint`, checked against the request
    /// (imprint, nonce): a signature's value or, for a document timestamp, the byte ranges.
    pub async fn token(&self, imprint: &[u8; 32]) -> Result<Vec<u8>, TsaClientError> {
        let imprint = *imprint;
        // Below 2^63, so it is a positive INTEGER of at most 8 bytes.
        let nonce = rand::random::<u64>() >> 1;
        let body = request(&imprint, nonce)?;
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/timestamp-query")
            .body(body)
            .send()
            .await
            .map_err(|e| TsaClientError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(TsaClientError::Status(response.status().as_u16()));
        }
        let reply = response
            .bytes()
            .await
            .map_err(|e| TsaClientError::Unreachable(e.to_string()))?;
        Ok(token_from_response(&reply, &imprint, nonce)?)
    }
}
