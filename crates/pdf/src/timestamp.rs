//! RFC 3161 timestamps. The client side turns a CMS signature into PAdES B-T: the SHA-256 of the
//! signature value goes to a TSA, and the token it returns becomes the unsigned attribute
//! `signature-time-stamp-token`. The server side ([`respond`]) is what the TSA simulator answers
//! with. Transport (HTTP, `application/timestamp-query`) is the caller's business.

use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData};
use der::asn1::{GeneralizedTime, Int, OctetString, SetOfVec};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode, Tagged};
use sha2::{Digest, Sha256};
use x509_cert::attr::Attribute;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use crate::keys::SigningIdentity;
use crate::sign::{SignError, signed_data};

/// id-aa-signatureTimeStampToken.
pub const ID_AA_SIGNATURE_TIMESTAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
/// id-ct-TSTInfo.
pub const ID_CT_TSTINFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// The simulator's (and the demo's) timestamp policy, under a private arc.
pub const DEMO_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1.1");

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TsaError {
    #[error("the timestamp request is malformed: {0}")]
    BadRequest(String),
    #[error("the TSA's answer is malformed: {0}")]
    BadResponse(String),
    #[error("the TSA refused the request (status {0})")]
    Refused(u8),
    #[error("the TSA's token does not match the request (imprint or nonce)")]
    Mismatch,
}

fn sha256_alg() -> spki::AlgorithmIdentifier<Any> {
    spki::AlgorithmIdentifier {
        oid: const_oid::db::rfc5912::ID_SHA_256,
        parameters: None,
    }
}

fn signed_data_of(cms_der: &[u8]) -> Result<(ContentInfo, SignedData), SignError> {
    let ci = ContentInfo::from_der(cms_der).map_err(|e| SignError::Cms(e.to_string()))?;
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| SignError::Cms(e.to_string()))?;
    Ok((ci, sd))
}

/// The SHA-256 of the (first) signer's signature value: what a signature timestamp covers.
pub fn signature_imprint(cms_der: &[u8]) -> Result<[u8; 32], SignError> {
    let (_, sd) = signed_data_of(cms_der)?;
    let si = sd
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| SignError::Cms("no signer".into()))?;
    Ok(Sha256::digest(si.signature.as_bytes()).into())
}

/// A DER TimeStampReq for `imprint`, asking for the TSA's certificate.
pub fn request(imprint: &[u8; 32], nonce: u64) -> Result<Vec<u8>, TsaError> {
    let bad = |e: der::Error| TsaError::BadRequest(e.to_string());
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: sha256_alg(),
            hashed_message: OctetString::new(imprint.to_vec()).map_err(bad)?,
        },
        req_policy: None,
        nonce: Some(uint(nonce).map_err(bad)?),
        cert_req: true,
        extensions: None,
    };
    req.to_der().map_err(bad)
}

/// A non-negative INTEGER in canonical DER (no redundant leading zeros).
fn uint(v: u64) -> Result<Int, der::Error> {
    let bytes = v.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    let mut canonical = bytes[first..].to_vec();
    if canonical[0] & 0x80 != 0 {
        canonical.insert(0, 0);
    }
    Int::new(&canonical)
}

/// What a TSTInfo says that matters here, read leniently: RFC 3161 allows a fraction of a second
/// in `genTime` ("20261201235544.816841Z"), which real TSAs (and pyHanko) write and the `der`
/// crate's GeneralizedTime refuses. The fields are taken by position (version, policy,
/// messageImprint, serialNumber, genTime) and the nonce as the first INTEGER after them.
pub struct TstEssentials {
    pub message_imprint: MessageImprint,
    pub gen_time: chrono::DateTime<chrono::Utc>,
    pub nonce: Option<Int>,
}

pub fn tst_essentials(der: &[u8]) -> Result<TstEssentials, String> {
    let fields: Vec<Any> = Vec::<Any>::from_der(der).map_err(|e| e.to_string())?;
    if fields.len() < 5 {
        return Err("TSTInfo too short".into());
    }
    let message_imprint: MessageImprint = fields[2].decode_as().map_err(|e| e.to_string())?;
    if fields[4].tag() != der::Tag::GeneralizedTime {
        return Err("genTime is not a GeneralizedTime".into());
    }
    let gen_time = generalized_time(fields[4].value())?;
    let nonce = fields[5..]
        .iter()
        .find(|f| f.tag() == der::Tag::Integer)
        .and_then(|f| f.decode_as::<Int>().ok());
    Ok(TstEssentials {
        message_imprint,
        gen_time,
        nonce,
    })
}

/// `YYYYMMDDHHMMSS[.f…]Z` (DER: UTC, no trailing zeros in the fraction).
fn generalized_time(value: &[u8]) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let text = std::str::from_utf8(value).map_err(|_| "genTime is not text".to_string())?;
    let body = text
        .strip_suffix('Z')
        .ok_or_else(|| format!("genTime {text:?} is not in UTC"))?;
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    let base = chrono::NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S")
        .map_err(|e| format!("genTime {text:?}: {e}"))?;
    let nanos = if fraction.is_empty() {
        0
    } else if fraction.len() <= 9 && fraction.bytes().all(|b| b.is_ascii_digit()) {
        format!("{fraction:0<9}").parse::<u32>().unwrap_or(0)
    } else {
        return Err(format!("genTime {text:?}: bad fraction"));
    };
    Ok(base.and_utc() + chrono::Duration::nanoseconds(i64::from(nanos)))
}

fn int_u64(i: &Int) -> Option<u64> {
    let bytes = i.as_bytes();
    let bytes = if bytes.len() > 8 && bytes[0] == 0 {
        &bytes[1..]
    } else {
        bytes
    };
    (bytes.len() <= 8).then(|| {
        let mut buf = [0u8; 8];
        buf[8 - bytes.len()..].copy_from_slice(bytes);
        u64::from_be_bytes(buf)
    })
}

/// Checks the TSA's answer against the request and returns the token (DER ContentInfo).
pub fn token_from_response(
    response_der: &[u8],
    imprint: &[u8; 32],
    nonce: u64,
) -> Result<Vec<u8>, TsaError> {
    let bad = |e: &dyn std::fmt::Display| TsaError::BadResponse(e.to_string());
    let resp = TimeStampResp::from_der(response_der).map_err(|e| bad(&e))?;
    let status = resp.status.status as u8;
    if status > 1 {
        return Err(TsaError::Refused(status));
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| TsaError::BadResponse("no token".into()))?;
    let sd: SignedData = token.content.decode_as().map_err(|e| bad(&e))?;
    let tst_der = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| TsaError::BadResponse("no TSTInfo".into()))?;
    let tst_octets: OctetString = tst_der.decode_as().map_err(|e| bad(&e))?;
    let tst = tst_essentials(tst_octets.as_bytes()).map_err(|e| bad(&e))?;
    let same_imprint = tst.message_imprint.hashed_message.as_bytes() == imprint;
    let same_nonce = tst.nonce.as_ref().and_then(int_u64) == Some(nonce);
    if !(same_imprint && same_nonce) {
        return Err(TsaError::Mismatch);
    }
    token.to_der().map_err(|e| bad(&e))
}

/// Adds the token to the first signer as its `signature-time-stamp-token`.
pub fn add_timestamp(cms_der: &[u8], token_der: &[u8]) -> Result<Vec<u8>, SignError> {
    let cms_err = |e: &dyn std::fmt::Display| SignError::Cms(e.to_string());
    let (ci, mut sd) = signed_data_of(cms_der)?;
    let mut infos: Vec<_> = sd.signer_infos.0.into_vec();
    let first = infos
        .first_mut()
        .ok_or_else(|| SignError::Cms("no signer".into()))?;
    let mut values = SetOfVec::new();
    values
        .insert(Any::from_der(token_der).map_err(|e| cms_err(&e))?)
        .map_err(|e| cms_err(&e))?;
    let attr = Attribute {
        oid: ID_AA_SIGNATURE_TIMESTAMP_TOKEN,
        values,
    };
    let mut attrs: Vec<Attribute> = first
        .unsigned_attrs
        .take()
        .map(|a| a.into_vec())
        .unwrap_or_default();
    attrs.push(attr);
    first.unsigned_attrs = Some(attrs.try_into().map_err(|e| cms_err(&e))?);
    sd.signer_infos = cms::signed_data::SignerInfos(infos.try_into().map_err(|e| cms_err(&e))?);
    let content = Any::encode_from(&sd).map_err(|e| cms_err(&e))?;
    ContentInfo {
        content_type: ci.content_type,
        content,
    }
    .to_der()
    .map_err(|e| cms_err(&e))
}

/// A TSA's answer to `request_der`: a granted TimeStampResp with a token signed by `tsa`
/// (whose certificate must carry the critical timeStamping extended key usage).
pub fn respond(
    tsa: &SigningIdentity,
    request_der: &[u8],
    serial: u64,
    now: std::time::SystemTime,
) -> Result<Vec<u8>, TsaError> {
    let bad = |e: &dyn std::fmt::Display| TsaError::BadRequest(e.to_string());
    let req = TimeStampReq::from_der(request_der).map_err(|e| bad(&e))?;
    if req.message_imprint.hash_algorithm.oid != const_oid::db::rfc5912::ID_SHA_256
        || req.message_imprint.hashed_message.as_bytes().len() != 32
    {
        return Err(TsaError::BadRequest("only SHA-256 imprints".into()));
    }
    let tst = TstInfo {
        version: TspVersion::V1,
        policy: DEMO_POLICY,
        message_imprint: req.message_imprint.clone(),
        serial_number: uint(serial).map_err(|e| bad(&e))?,
        gen_time: GeneralizedTime::from_system_time(now).map_err(|e| bad(&e))?,
        accuracy: None,
        ordering: false,
        nonce: req.nonce.clone(),
        tsa: None,
        extensions: None,
    };
    let tst_der = tst.to_der().map_err(|e| bad(&e))?;
    let econtent = EncapsulatedContentInfo {
        econtent_type: ID_CT_TSTINFO,
        econtent: Some(
            Any::encode_from(&OctetString::new(tst_der).map_err(|e| bad(&e))?)
                .map_err(|e| bad(&e))?,
        ),
    };
    let mut token = signed_data(tsa, &econtent, None).map_err(|e| bad(&e))?;
    if !req.cert_req {
        // RFC 3161: the certificates are included only when asked for.
        let mut sd: SignedData = token.content.decode_as().map_err(|e| bad(&e))?;
        sd.certificates = None;
        token.content = Any::encode_from(&sd).map_err(|e| bad(&e))?;
    }
    let resp = TimeStampResp {
        status: cmpv2::status::PkiStatusInfo {
            status: cmpv2::status::PkiStatus::Accepted,
            status_string: None,
            fail_info: None,
        },
        time_stamp_token: Some(token),
    };
    resp.to_der().map_err(|e| bad(&e))
}
