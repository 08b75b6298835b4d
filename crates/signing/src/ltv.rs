//! Signing levels after the signature timestamp (`SIGNATURE_LEVEL`, ETSI EN 319 142-1):
//! **B-T** is the signature with its timestamp; **B-LT** adds a revision with a Document
//! Security Store holding the certificates, OCSP responses and CRLs of the signer's and the
//! TSA's chains, with a VRI entry for the signature; **B-LTA** then adds a document timestamp
//! (`/DocTimeStamp`, `ETSI.RFC3161`) and a last DSS revision with the revocation data of that
//! timestamp's own TSA chain. The same applies to BSrE's answer (a B-T file): the product adds
//! the LT and LTA layers itself. The PDF writing is pure (`companion_pdf::sign::add_dss`,
//! `prepare_document_timestamp`); the fetching is [`crate::revocation`].
//!
//! A layer that cannot be added (a responder down, no TSA) leaves the file at the level reached,
//! still valid, and says why; it never writes data it has not verified.

use chrono::{DateTime, Utc};
use companion_pdf::revocation::Status;
use companion_pdf::sign::{Ltv, Vri, add_dss, prepare_document_timestamp};
use companion_pdf::validate::{SignatureMaterial, signature_material};
use der::Encode;
use openssl::x509::X509;
use x509_cert::Certificate;

use crate::TsaClient;
use crate::revocation::{FetchError, RevocationFetcher};

/// The levels, B-B to B-LTA (`SIGNATURE_LEVEL` takes B-T, B-LT or B-LTA).
pub use companion_domain::archive::SignatureLevel;

/// The configured level with what it needs.
#[derive(Debug, Clone)]
pub struct LongTerm {
    pub level: SignatureLevel,
    pub fetcher: RevocationFetcher,
    /// The TSA for document timestamps (`TSA_URL`); without it B-LTA stops at B-LT.
    pub tsa: Option<TsaClient>,
    /// Certificates that complete chains a CMS leaves short (the trust anchors: BSrE's root,
    /// the TSA's root), so the top intermediate's issuer is known.
    pub anchors: Vec<Certificate>,
}

/// The file after [`LongTerm::extend`].
#[derive(Debug, Clone)]
pub struct Extended {
    pub pdf: Vec<u8>,
    /// The level the file reached.
    pub level: SignatureLevel,
    /// Why it did not reach the configured level (or what it found), in Bahasa Indonesia.
    pub problem: Option<String>,
}

fn der_of(c: &Certificate) -> Option<Vec<u8>> {
    c.to_der().ok()
}

fn openssl_of(c: &Certificate) -> Option<X509> {
    der_of(c).and_then(|d| X509::from_der(&d).ok())
}

/// `issuer` signed `cert` (checked by OpenSSL), and names match.
fn issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return false;
    }
    match (
        openssl_of(cert),
        openssl_of(issuer).and_then(|i| i.public_key().ok()),
    ) {
        (Some(c), Some(key)) => c.verify(&key).unwrap_or(false),
        _ => false,
    }
}

/// `leaf` and its issuers from `pool`, up to a self-signed certificate or the last one found.
/// Not a trust decision (the validator makes that): only which certificates need data.
pub fn chain_of(leaf: &Certificate, pool: &[Certificate]) -> Vec<Certificate> {
    let mut chain = vec![leaf.clone()];
    while chain.len() < 8 {
        let Some(current) = chain.last() else { break };
        if issued_by(current, current) {
            break;
        }
        match pool
            .iter()
            .find(|c| !chain.contains(c) && issued_by(current, c))
        {
            Some(issuer) => chain.push(issuer.clone()),
            None => break,
        }
    }
    chain
}

fn subject(c: &Certificate) -> String {
    c.tbs_certificate.subject.to_string()
}

impl LongTerm {
    /// Adds the layers above B-T to `pdf`, whose last signature was just made. `pool` holds
    /// certificates that may complete the chains (the local signer's chain, the anchors).
    pub async fn extend(&self, pdf: Vec<u8>, pool: &[Certificate]) -> Extended {
        let stay = |pdf: Vec<u8>, level, problem: String| Extended {
            pdf,
            level,
            problem: Some(problem),
        };
        if self.level == SignatureLevel::BT {
            return Extended {
                pdf,
                level: SignatureLevel::BT,
                problem: None,
            };
        }
        let now = Utc::now();
        let material = signature_material(&pdf);
        let Some(last) = material.iter().rev().find(|m| !m.document_timestamp) else {
            return stay(
                pdf,
                SignatureLevel::BT,
                "Tanda tangan tidak ditemukan.".into(),
            );
        };
        let (vri, mut problem) = match self.vri_for(last, pool, now).await {
            Ok(v) => v,
            Err(e) => {
                return stay(pdf, SignatureLevel::BT, format!("Tetap PAdES B-T: {e}"));
            }
        };
        let with_dss = match add_dss(&pdf, &ltv_of(vri)) {
            Ok(p) => p,
            Err(e) => return stay(pdf, SignatureLevel::BT, format!("Tetap PAdES B-T: {e}")),
        };
        if self.level == SignatureLevel::BLT {
            return Extended {
                pdf: with_dss,
                level: SignatureLevel::BLT,
                problem,
            };
        }
        let Some(tsa) = &self.tsa else {
            return stay(
                with_dss,
                SignatureLevel::BLT,
                "Tetap PAdES B-LT: tidak ada otoritas cap waktu (TSA_URL) untuk cap waktu dokumen."
                    .into(),
            );
        };
        let stamped = match self.document_timestamp(tsa, &with_dss).await {
            Ok(p) => p,
            Err(e) => {
                return stay(
                    with_dss,
                    SignatureLevel::BLT,
                    format!("Tetap PAdES B-LT: {e}"),
                );
            }
        };
        // The document timestamp's own TSA chain: its revocation data joins the DSS, so a
        // validator can check the timestamp without going online.
        let material = signature_material(&stamped);
        let Some(doc_ts) = material.iter().rev().find(|m| m.document_timestamp) else {
            return stay(
                stamped,
                SignatureLevel::BLTA,
                "Cap waktu dokumen tidak terbaca kembali.".into(),
            );
        };
        match self.vri_for(doc_ts, pool, now).await {
            Ok((vri, p)) => match add_dss(&stamped, &ltv_of(vri)) {
                Ok(done) => {
                    problem = problem.or(p);
                    Extended {
                        pdf: done,
                        level: SignatureLevel::BLTA,
                        problem,
                    }
                }
                Err(e) => stay(stamped, SignatureLevel::BLTA, e.to_string()),
            },
            Err(e) => stay(
                stamped,
                SignatureLevel::BLTA,
                format!("Data pencabutan untuk cap waktu dokumen belum ada di berkas: {e}"),
            ),
        }
    }

    /// The archive-timestamp renewal of a signed file (issue 20 item 3): fresh validation data
    /// for its last timestamp (a document timestamp's TSA chain, or the signature's chains when
    /// it has none yet), a new document timestamp over everything, and that timestamp's own
    /// validation data — an incremental update, so every earlier byte stays as it was. `Err`
    /// (in Bahasa Indonesia) when any step cannot be done; nothing half-done is returned.
    pub async fn renew(&self, pdf: &[u8], pool: &[Certificate]) -> Result<Vec<u8>, String> {
        let tsa = self.tsa.as_ref().ok_or_else(|| {
            "tidak ada otoritas cap waktu (TSA_URL) untuk cap waktu arsip.".to_string()
        })?;
        let now = Utc::now();
        let material = signature_material(pdf);
        let last = material
            .last()
            .ok_or_else(|| "tanda tangan tidak ditemukan.".to_string())?;
        let (vri, _) = self.vri_for(last, pool, now).await?;
        let with_dss = add_dss(pdf, &ltv_of(vri)).map_err(|e| e.to_string())?;
        let stamped = self.document_timestamp(tsa, &with_dss).await?;
        let material = signature_material(&stamped);
        let doc_ts = material
            .last()
            .filter(|m| m.document_timestamp)
            .ok_or_else(|| "cap waktu dokumen tidak terbaca kembali.".to_string())?;
        let (vri, _) = self
            .vri_for(doc_ts, pool, now)
            .await
            .map_err(|e| format!("data pencabutan untuk cap waktu arsip: {e}"))?;
        add_dss(&stamped, &ltv_of(vri)).map_err(|e| e.to_string())
    }

    async fn document_timestamp(&self, tsa: &TsaClient, pdf: &[u8]) -> Result<Vec<u8>, String> {
        let prepared = prepare_document_timestamp(pdf).map_err(|e| e.to_string())?;
        let token = tsa
            .token(&prepared.digest)
            .await
            .map_err(|e| format!("cap waktu dokumen gagal ({e})"))?;
        prepared.finish(&token).map_err(|e| e.to_string())
    }

    /// The VRI entry for one signature: its signer's and its timestamp's chains with verified
    /// revocation data for every certificate below a root. `Err` when data that exists could
    /// not be got; `Ok` with a note when the data says a certificate is revoked.
    async fn vri_for(
        &self,
        m: &SignatureMaterial,
        pool: &[Certificate],
        now: DateTime<Utc>,
    ) -> Result<(Vri, Option<String>), String> {
        let mut all: Vec<Certificate> = m.certs.clone();
        all.extend(m.tsa_certs.iter().cloned());
        all.extend(pool.iter().cloned());
        let mut vri = Vri {
            contents: m.contents.clone(),
            ..Vri::default()
        };
        let mut note = None;
        for leaf in [&m.signer, &m.tsa].into_iter().flatten() {
            let chain = chain_of(leaf, &all);
            for (i, c) in chain.iter().enumerate() {
                if let Some(d) = der_of(c)
                    && !vri.certs.contains(&d)
                {
                    vri.certs.push(d);
                }
                let Some(issuer) = chain.get(i + 1) else {
                    if !issued_by(c, c) {
                        return Err(format!(
                            "sertifikat penerbit {} tidak ditemukan.",
                            c.tbs_certificate.issuer
                        ));
                    }
                    continue;
                };
                match self.fetcher.fetch(c, issuer, &chain[i + 1..], now).await {
                    Ok(f) => {
                        if let Status::Revoked { at, .. } = f.status {
                            note = Some(format!(
                                "Sertifikat {} dicabut sejak {}.",
                                subject(c),
                                at.format("%Y-%m-%d %H:%M:%S UTC")
                            ));
                        }
                        for (from, to) in [
                            (f.ocsps, &mut vri.ocsps),
                            (f.crls, &mut vri.crls),
                            (f.certs, &mut vri.certs),
                        ] {
                            for d in from {
                                if !to.contains(&d) {
                                    to.push(d);
                                }
                            }
                        }
                    }
                    // A certificate that names no revocation service has none to embed.
                    Err(FetchError::NoSource) => {}
                    Err(e) => {
                        return Err(format!("{} ({})", e.pesan(), subject(c)));
                    }
                }
            }
        }
        Ok((vri, note))
    }
}

fn ltv_of(vri: Vri) -> Ltv {
    Ltv {
        certs: vri.certs.clone(),
        ocsps: vri.ocsps.clone(),
        crls: vri.crls.clone(),
        vri: vec![vri],
    }
}

impl crate::SigningService {
    /// The configured long-term layers on a freshly signed file (B-T stays as it is).
    pub(crate) async fn long_term_layers(
        &self,
        signed: Vec<u8>,
        timestamped: bool,
        case_id: i64,
    ) -> Vec<u8> {
        // B-LT builds on B-T: a signature the TSA could not stamp stays B-B, as the case says.
        let Some(long_term) = self.long_term.as_ref().filter(|_| timestamped) else {
            return signed;
        };
        let mut pool: Vec<Certificate> = match &self.signer {
            crate::Signer::Local(id) => id.chain.clone(),
            crate::Signer::Bsre(_) => Vec::new(),
        };
        pool.extend(long_term.anchors.iter().cloned());
        let extended = long_term.extend(signed, &pool).await;
        match &extended.problem {
            Some(p) if extended.level < long_term.level => tracing::warn!(
                case = case_id,
                level = extended.level.name(),
                wanted = long_term.level.name(),
                problem = %p,
                "the signed file stays below the configured signature level"
            ),
            Some(p) => {
                tracing::warn!(case = case_id, level = extended.level.name(), problem = %p, "signature level reached with a note")
            }
            None => tracing::info!(
                case = case_id,
                level = extended.level.name(),
                "signature level reached"
            ),
        }
        extended.pdf
    }
}
