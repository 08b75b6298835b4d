//! Online revocation data: for a certificate and its issuer, the OCSP responder its
//! authorityInfoAccess names (RFC 6960, POST `application/ocsp-request`) and else the CRL its
//! distribution point names (RFC 5280), each with a short timeout. Nothing fetched is believed
//! before [`companion_pdf::revocation`] has checked it (the CRL's signature by the issuer, the OCSP
//! response by `OCSP_basic_verify`, that it speaks of this certificate and for this moment); an
//! answer that fails is an error, never "not revoked". Verified answers are cached until their
//! nextUpdate. `REVOCATION_FETCH=off` turns all of it off (air-gapped sites).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use companion_pdf::revocation::{
    Evidence, Status, crl_next_update, crl_urls, ocsp_certificates, ocsp_next_update, ocsp_request,
    ocsp_urls,
};
use der::Encode;
use openssl::x509::X509;
use x509_cert::Certificate;

/// The most a CRL or OCSP answer may weigh (a county CA's CRL is kilobytes).
const MAX_ANSWER: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("online revocation fetching is off (REVOCATION_FETCH=off)")]
    Disabled,
    #[error("the certificate names no OCSP responder or CRL distribution point")]
    NoSource,
    #[error("{url} cannot be reached: {why}")]
    Unreachable { url: String, why: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} gave no usable revocation data for this certificate ({why})")]
    Unusable { url: String, why: String },
    #[error("the certificate cannot be read: {0}")]
    Certificate(String),
}

impl FetchError {
    /// The reason in plain Bahasa Indonesia, for staff pages and reports.
    pub fn pesan(&self) -> String {
        match self {
            FetchError::Disabled => {
                "Status pencabutan tidak dapat dipastikan: pengambilan data pencabutan daring dimatikan.".into()
            }
            FetchError::NoSource => {
                "Sertifikat tidak menyebut layanan pencabutan (OCSP atau CRL).".into()
            }
            FetchError::Unreachable { url, .. } => format!(
                "Status pencabutan tidak dapat dipastikan: layanan {url} tidak dapat dihubungi."
            ),
            FetchError::Status { url, status } => format!(
                "Status pencabutan tidak dapat dipastikan: layanan {url} menjawab HTTP {status}."
            ),
            FetchError::Unusable { url, .. } => format!(
                "Status pencabutan tidak dapat dipastikan: jawaban {url} tidak sah untuk sertifikat ini."
            ),
            FetchError::Certificate(_) => {
                "Status pencabutan tidak dapat dipastikan: sertifikat tidak dapat dibaca.".into()
            }
        }
    }
}

/// Verified revocation data for one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: Status,
    /// DER, as fetched (for the DSS).
    pub crls: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
    /// Certificates the OCSP response carries (a delegated responder's), DER.
    pub certs: Vec<Vec<u8>>,
}

#[derive(Debug, Clone)]
struct Cached {
    der: Vec<u8>,
    until: DateTime<Utc>,
}

/// Fetches and checks revocation data. Cheap to clone (the cache is shared).
#[derive(Debug, Clone)]
pub struct RevocationFetcher {
    enabled: bool,
    http: reqwest::Client,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
}

fn x509(c: &Certificate) -> Result<X509, FetchError> {
    c.to_der()
        .ok()
        .and_then(|d| X509::from_der(&d).ok())
        .ok_or_else(|| FetchError::Certificate("not DER".into()))
}

impl RevocationFetcher {
    /// `enabled` is `REVOCATION_FETCH`; `timeout` bounds each request (connect and answer).
    pub fn new(enabled: bool, timeout: Duration) -> Result<Self, FetchError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| FetchError::Unreachable {
                url: String::new(),
                why: e.to_string(),
            })?;
        Ok(Self {
            enabled,
            http,
            cache: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Revocation data for `cert` issued by `issuer` that speaks for `at` (normally now):
    /// OCSP first, the CRL when the responder fails or is not named. `trusted` are the
    /// certificates above the issuer (an OCSP responder may chain to them). The error is the
    /// last source's failure.
    pub async fn fetch(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        trusted: &[Certificate],
        at: DateTime<Utc>,
    ) -> Result<Fetched, FetchError> {
        if !self.enabled {
            return Err(FetchError::Disabled);
        }
        let (xc, xi) = (x509(cert)?, x509(issuer)?);
        let trusted: Vec<X509> = trusted.iter().filter_map(|c| x509(c).ok()).collect();
        let mut last = FetchError::NoSource;
        for url in ocsp_urls(cert) {
            match self.ocsp(&url, &xc, &xi, &trusted, at).await {
                Ok(f) => return Ok(f),
                Err(e) => {
                    tracing::warn!(url, error = %e, "OCSP responder gave no usable answer");
                    last = e;
                }
            }
        }
        for url in crl_urls(cert) {
            match self.crl(&url, &xc, &xi, at).await {
                Ok(f) => return Ok(f),
                Err(e) => {
                    tracing::warn!(url, error = %e, "CRL gave no usable answer");
                    last = e;
                }
            }
        }
        Err(last)
    }

    fn cached(&self, key: &str, at: DateTime<Utc>) -> Option<Vec<u8>> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(key)
            .filter(|c| c.until > at)
            .map(|c| c.der.clone())
    }

    fn remember(&self, key: String, der: &[u8], until: Option<DateTime<Utc>>) {
        // An answer without nextUpdate is not kept: there is no telling when it goes stale.
        if let (Some(until), Ok(mut cache)) = (until, self.cache.lock()) {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(
                key,
                Cached {
                    der: der.to_vec(),
                    until,
                },
            );
        }
    }

    async fn ocsp(
        &self,
        url: &str,
        cert: &X509,
        issuer: &X509,
        trusted: &[X509],
        at: DateTime<Utc>,
    ) -> Result<Fetched, FetchError> {
        let unusable = |why: &str| FetchError::Unusable {
            url: url.to_string(),
            why: why.to_string(),
        };
        let request = ocsp_request(cert, issuer).map_err(|e| unusable(&e.to_string()))?;
        let key = format!("ocsp {url} {}", hex::encode(openssl::sha::sha256(&request)));
        let der = match self.cached(&key, at) {
            Some(der) => der,
            None => {
                let response = self
                    .http
                    .post(url)
                    .header("content-type", "application/ocsp-request")
                    .header("accept", "application/ocsp-response")
                    .body(request)
                    .send()
                    .await;
                self.body(url, response).await?
            }
        };
        let evidence = Evidence::from_parts(Vec::new(), vec![der.clone()]);
        let status = evidence
            .status(cert, issuer, trusted, at)
            .ok_or_else(|| unusable("not a verified, current answer about this certificate"))?;
        self.remember(key, &der, ocsp_next_update(&der, cert, issuer));
        Ok(Fetched {
            status,
            crls: Vec::new(),
            certs: ocsp_certificates(&der),
            ocsps: vec![der],
        })
    }

    async fn crl(
        &self,
        url: &str,
        cert: &X509,
        issuer: &X509,
        at: DateTime<Utc>,
    ) -> Result<Fetched, FetchError> {
        let key = format!("crl {url}");
        let der = match self.cached(&key, at) {
            Some(der) => der,
            None => {
                let response = self.http.get(url).send().await;
                self.body(url, response).await?
            }
        };
        let evidence = Evidence::from_parts(vec![der.clone()], Vec::new());
        let status =
            evidence
                .status(cert, issuer, &[], at)
                .ok_or_else(|| FetchError::Unusable {
                    url: url.to_string(),
                    why: "not a current CRL signed by the certificate's issuer".into(),
                })?;
        self.remember(key, &der, crl_next_update(&der));
        Ok(Fetched {
            status,
            crls: vec![der],
            ocsps: Vec::new(),
            certs: Vec::new(),
        })
    }

    async fn body(
        &self,
        url: &str,
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Vec<u8>, FetchError> {
        let unreachable = |e: reqwest::Error| FetchError::Unreachable {
            url: url.to_string(),
            why: e.to_string(),
        };
        let mut response = response.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ANSWER {
                return Err(FetchError::Unusable {
                    url: url.to_string(),
                    why: "answer too large".into(),
                });
            }
        }
        Ok(body)
    }
}

impl RevocationFetcher {
    /// Revocation data for every certificate of every signature in `pdf` (signers' and TSAs'
    /// chains, completed from `pool`, e.g. the trust anchors), fetched and verified, for
    /// [`companion_pdf::validate::validate_with_evidence`]. What cannot be got is left out:
    /// the validator then says the status cannot be established, and why.
    pub async fn evidence_for(
        &self,
        pdf: &[u8],
        pool: &[Certificate],
        at: DateTime<Utc>,
    ) -> Evidence {
        let mut evidence = Evidence::default();
        if !self.enabled {
            return evidence;
        }
        for m in companion_pdf::validate::signature_material(pdf) {
            let mut all = m.certs.clone();
            all.extend(m.tsa_certs.iter().cloned());
            all.extend(pool.iter().cloned());
            for leaf in [&m.signer, &m.tsa].into_iter().flatten() {
                let chain = crate::ltv::chain_of(leaf, &all);
                for (i, c) in chain.iter().enumerate() {
                    let Some(issuer) = chain.get(i + 1) else {
                        continue;
                    };
                    if let Ok(f) = self.fetch(c, issuer, &chain[i + 1..], at).await {
                        evidence.extend(&Evidence::from_parts(f.crls, f.ocsps));
                    }
                }
            }
        }
        evidence
    }

    /// [`RevocationFetcher::evidence_for`] for verification: only chains whose top is one of
    /// `anchors` are asked about, so a certificate in an uploaded file cannot make the server
    /// fetch an address of its choosing; at most `MAX_VERIFY_FETCHES` certificates per file.
    pub async fn evidence_for_trusted(
        &self,
        pdf: &[u8],
        anchors: &[Certificate],
        at: DateTime<Utc>,
    ) -> Evidence {
        let mut evidence = Evidence::default();
        if !self.enabled {
            return evidence;
        }
        let mut asked = 0;
        for m in companion_pdf::validate::signature_material(pdf) {
            let mut all = m.certs.clone();
            all.extend(m.tsa_certs.iter().cloned());
            all.extend(anchors.iter().cloned());
            for leaf in [&m.signer, &m.tsa].into_iter().flatten() {
                let chain = crate::ltv::chain_of(leaf, &all);
                if !chain.last().is_some_and(|top| anchors.contains(top)) {
                    continue;
                }
                for (i, c) in chain.iter().enumerate() {
                    let Some(issuer) = chain.get(i + 1) else {
                        continue;
                    };
                    if asked >= MAX_VERIFY_FETCHES {
                        return evidence;
                    }
                    asked += 1;
                    if let Ok(f) = self.fetch(c, issuer, &chain[i + 1..], at).await {
                        evidence.extend(&Evidence::from_parts(f.crls, f.ocsps));
                    }
                }
            }
        }
        evidence
    }
}

/// Certificates one verification may ask about online.
pub const MAX_VERIFY_FETCHES: usize = 8;

/// Where a verification (the portal, `verify`) gets revocation data beyond what a file carries:
/// the office's own CAs' current CRLs, made from this database's revocations (the same the
/// product serves on `/pki/`), and the services that trusted chains name, online.
#[derive(Clone, Default)]
pub struct VerificationSources {
    pub own: Option<Arc<crate::pki::PkiService>>,
    pub fetcher: Option<RevocationFetcher>,
}

impl VerificationSources {
    /// The own CAs' CRLs; empty when there is no local PKI or its revocations cannot be read
    /// (then nothing is claimed about them).
    pub async fn own(&self) -> Evidence {
        let Some(pki) = &self.own else {
            return Evidence::default();
        };
        let mut crls = Vec::new();
        for name in pki.ca_names() {
            match pki.crl(&name).await {
                Ok(Some(p)) => crls.push(p.der.as_ref().clone()),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(ca = %name, error = %e, "own CRL unavailable for verification");
                    return Evidence::default();
                }
            }
        }
        Evidence::from_parts(crls, Vec::new())
    }

    /// Online data for the trusted chains of `pdf` (nothing when fetching is off).
    pub async fn online(&self, pdf: &[u8], anchors: &[Certificate], at: DateTime<Utc>) -> Evidence {
        match &self.fetcher {
            Some(f) => f.evidence_for_trusted(pdf, anchors, at).await,
            None => Evidence::default(),
        }
    }
}
