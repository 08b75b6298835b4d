//! The validator against forged and odd files made here: certificates that break RFC 5280
//! (an end-entity certificate used as a CA, a wrong key usage, a TSA certificate signing a
//! document and a signer certificate acting as a TSA, an unknown critical extension, an expired
//! intermediate), time (validation in 2037), a signature by someone who is not the office,
//! a visibly altered permit re-signed by another trusted certificate, bytes hidden after the
//! signature, whitespace after `%%EOF`, and separate trust stores for signers and TSAs.
//! Certificates are made with OpenSSL's builder, signatures with the product's own signer.

use std::time::SystemTime;

use companion_pdf::keys::{SigningIdentity, issue_signer, issue_tsa, new_ca};
use companion_pdf::sign::{CmsSigner, SignatureInfo, prepare_signature_with_dss};
use companion_pdf::timestamp::{
    add_timestamp, request, respond, signature_imprint, token_from_response,
};
use companion_pdf::validate::{Outcome, Policy, Report, validate_with};
use der::{Decode, Encode};
use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509NameBuilder};
use rsa::pkcs8::DecodePrivateKey;
use x509_cert::Certificate;

fn letter() -> Vec<u8> {
    companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0)
}

fn info(name: &str) -> SignatureInfo {
    SignatureInfo {
        name: name.into(),
        reason: "Penerbitan surat izin".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: None,
    }
}

fn root(id: &SigningIdentity) -> Certificate {
    id.chain
        .last()
        .cloned()
        .unwrap_or_else(|| id.certificate.clone())
}

/// Signs `pdf` with `signer` (B-B, or B-T with `tsa`).
fn sign(pdf: &[u8], signer: &SigningIdentity, tsa: Option<&SigningIdentity>) -> Vec<u8> {
    let chain = signer.chain_der().expect("chain");
    let prepared = prepare_signature_with_dss(pdf, 1, &info("Uji"), &chain).expect("prepare");
    let cms = signer.sign_digest(&prepared.digest).expect("cms");
    let cms = match tsa {
        None => cms,
        Some(tsa) => {
            let imprint = signature_imprint(&cms).expect("imprint");
            let req = request(&imprint, 9).expect("request");
            let resp = respond(tsa, &req, 1, SystemTime::now()).expect("respond");
            let token = token_from_response(&resp, &imprint, 9).expect("token");
            add_timestamp(&cms, &token).expect("add")
        }
    };
    prepared.finish(&cms).expect("finish")
}

fn pkey(id: &SigningIdentity) -> PKey<openssl::pkey::Private> {
    PKey::private_key_from_pem(id.key_pem().expect("pem").as_bytes()).expect("pkey")
}

fn openssl_cert(c: &Certificate) -> X509 {
    X509::from_der(&c.to_der().expect("der")).expect("x509")
}

enum Shape {
    /// A CA certificate (basicConstraints CA, keyCertSign).
    Ca,
    /// An end-entity certificate with this key usage (None: no extension).
    Leaf(Option<KeyUsage>),
    /// An end-entity certificate with an unknown critical extension.
    UnknownCritical,
    /// A timestamp authority's certificate.
    Tsa,
}

/// A certificate for `cn` issued by `issuer` (its key signs), valid from `from_days` to
/// `to_days` (relative to now).
fn make(
    issuer: &SigningIdentity,
    cn: &str,
    shape: Shape,
    from_days: i64,
    to_days: i64,
) -> SigningIdentity {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("key");
    let der = {
        use rsa::pkcs8::EncodePrivateKey;
        key.to_pkcs8_der().expect("pkcs8")
    };
    let subject_key = PKey::private_key_from_pkcs8(der.as_bytes()).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", cn).expect("cn");
    name.append_entry_by_text("O", "DPMPTSP Kabupaten Karo")
        .expect("o");
    let name = name.build();
    let issuer_cert = openssl_cert(&issuer.certificate);
    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("v3");
    let serial = BigNum::from_u32(rand::random::<u32>() | 1).expect("bn");
    b.set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(issuer_cert.subject_name())
        .expect("issuer");
    b.set_pubkey(&subject_key).expect("pubkey");
    let now = chrono::Utc::now().timestamp();
    b.set_not_before(&Asn1Time::from_unix(now + from_days * 86_400).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::from_unix(now + to_days * 86_400).expect("t"))
        .expect("na");
    match shape {
        Shape::Ca => {
            b.append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
                .expect("bc");
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .expect("ku"),
            )
            .expect("ku");
        }
        Shape::Leaf(ku) => {
            b.append_extension(BasicConstraints::new().critical().build().expect("bc"))
                .expect("bc");
            if let Some(ku) = ku {
                b.append_extension(ku.build().expect("ku")).expect("ku");
            }
        }
        Shape::UnknownCritical => {
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .non_repudiation()
                    .build()
                    .expect("ku"),
            )
            .expect("ku");
            let oid = Asn1Object::from_str("1.3.6.1.4.1.55555.1").expect("oid");
            let value = Asn1OctetString::new_from_bytes(&[0x05, 0x00]).expect("value");
            b.append_extension(X509Extension::new_from_der(&oid, true, &value).expect("ext"))
                .expect("ext");
        }
        Shape::Tsa => {
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .build()
                    .expect("ku"),
            )
            .expect("ku");
            b.append_extension(
                ExtendedKeyUsage::new()
                    .critical()
                    .time_stamping()
                    .build()
                    .expect("eku"),
            )
            .expect("eku");
        }
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(Some(&issuer_cert), None))
        .expect("ski");
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(&issuer_cert), None))
        .expect("aki");
    b.append_extension(ski).expect("ski");
    b.append_extension(aki).expect("aki");
    b.sign(&pkey(issuer), MessageDigest::sha256())
        .expect("sign");
    let cert = Certificate::from_der(&b.build().to_der().expect("der")).expect("cert");
    let key = rsa::RsaPrivateKey::from_pkcs8_der(der.as_bytes()).expect("key back");
    let mut chain = vec![issuer.certificate.clone()];
    chain.extend(issuer.chain.iter().cloned());
    SigningIdentity::new(key, cert, chain)
}

fn signing_leaf() -> Option<KeyUsage> {
    let mut ku = KeyUsage::new();
    ku.critical().digital_signature().non_repudiation();
    Some(ku)
}

struct World {
    ca: SigningIdentity,
    office: SigningIdentity,
    tsa_root: SigningIdentity,
    tsa: SigningIdentity,
}

fn world() -> World {
    let ca = new_ca("Uji CA", 20).expect("ca");
    let office = issue_signer(&ca, "Kepala DPMPTSP Kabupaten Karo", 700).expect("signer");
    let tsa_root = new_ca("Uji TSA Root", 20).expect("tsa root");
    let tsa = issue_tsa(&tsa_root, "Uji TSA", 3000).expect("tsa");
    World {
        ca,
        office,
        tsa_root,
        tsa,
    }
}

fn check(w: &World, pdf: &[u8], at: chrono::DateTime<chrono::Utc>) -> Report {
    let signers = [root(&w.ca)];
    let tsas = [w.tsa_root.certificate.clone()];
    let office = [w.office.certificate.clone()];
    validate_with(
        pdf,
        &Policy {
            signer_anchors: &signers,
            tsa_anchors: &tsas,
            office: Some(&office),
        },
        at,
    )
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

#[test]
fn the_genuine_permit_passes_and_tolerates_whitespace_after_eof() {
    let w = world();
    let signed = sign(&letter(), &w.office, Some(&w.tsa));
    let r = check(&w, &signed, now());
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    for tail in [&b"\n"[..], b"\r\n", b"\n\n  \n"] {
        let mut padded = signed.clone();
        padded.extend_from_slice(tail);
        let r = check(&w, &padded, now());
        assert_eq!(r.outcome, Outcome::Passed, "{tail:?}: {}", r.reason);
    }
}

#[test]
fn a_certificate_issued_by_an_end_entity_is_not_trusted() {
    let w = world();
    // Any official with a certificate under the trusted root mints "the office's head".
    let official = make(&w.ca, "Pejabat Lain", Shape::Leaf(signing_leaf()), -1, 300);
    let minted = make(
        &official,
        "Kepala DPMPTSP Kabupaten Karo",
        Shape::Leaf(signing_leaf()),
        -1,
        300,
    );
    let forged = sign(&letter(), &minted, Some(&w.tsa));
    let signers = [root(&w.ca)];
    let tsas = [w.tsa_root.certificate.clone()];
    // Even where the office's certificates are not known, the chain must fail.
    let r = validate_with(
        &forged,
        &Policy {
            signer_anchors: &signers,
            tsa_anchors: &tsas,
            office: None,
        },
        now(),
    );
    assert_eq!(r.outcome, Outcome::Failed, "{r:#?}");
    assert_eq!(r.last().unwrap().chain.outcome, Outcome::Failed);
}

#[test]
fn wrong_key_usage_unknown_critical_extension_and_tsa_certificates_do_not_sign_documents() {
    let w = world();
    let signers = [root(&w.ca)];
    let tsas = [w.tsa_root.certificate.clone()];
    let any = Policy {
        signer_anchors: &signers,
        tsa_anchors: &tsas,
        office: None,
    };
    let mut encipher_only = KeyUsage::new();
    encipher_only.critical().key_encipherment();
    for (label, id) in [
        (
            "key usage",
            make(
                &w.ca,
                "Kunci Enkripsi",
                Shape::Leaf(Some(encipher_only)),
                -1,
                300,
            ),
        ),
        (
            "critical",
            make(&w.ca, "Ekstensi Aneh", Shape::UnknownCritical, -1, 300),
        ),
        ("tsa", make(&w.ca, "TSA Menyamar", Shape::Tsa, -1, 300)),
    ] {
        let pdf = sign(&letter(), &id, None);
        let r = validate_with(&pdf, &any, now());
        assert_eq!(r.outcome, Outcome::Failed, "{label}: {r:#?}");
        assert_eq!(r.last().unwrap().chain.outcome, Outcome::Failed, "{label}");
    }
    // A good leaf passes under the same policy (the cases above fail for their flaw only).
    let good = make(&w.ca, "Pejabat Baik", Shape::Leaf(signing_leaf()), -1, 300);
    let r = validate_with(&sign(&letter(), &good, None), &any, now());
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
}

#[test]
fn a_signer_certificate_cannot_act_as_timestamp_authority_and_stores_are_separate() {
    let w = world();
    // The office's own signer certificate (no timeStamping) issues the timestamp.
    let signed = sign(&letter(), &w.office, Some(&w.office));
    let signers = [root(&w.ca)];
    let r = validate_with(
        &signed,
        &Policy {
            signer_anchors: &signers,
            tsa_anchors: &signers,
            office: None,
        },
        now(),
    );
    assert_ne!(r.outcome, Outcome::Passed, "{r:#?}");
    assert_ne!(r.last().unwrap().timestamp.outcome, Outcome::Passed);
    // A genuine TSA whose root is trusted only for signers does not vouch for the time.
    let signed = sign(&letter(), &w.office, Some(&w.tsa));
    let both = [root(&w.ca), w.tsa_root.certificate.clone()];
    let r = validate_with(
        &signed,
        &Policy {
            signer_anchors: &both,
            tsa_anchors: &signers,
            office: None,
        },
        now(),
    );
    assert_eq!(
        r.last().unwrap().timestamp.outcome,
        Outcome::Indeterminate,
        "{r:#?}"
    );
}

#[test]
fn in_2037_without_long_term_data_the_answer_is_cannot_be_established() {
    let w = world();
    let signed = sign(&letter(), &w.office, Some(&w.tsa));
    let later = chrono::DateTime::parse_from_rfc3339("2037-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let r = check(&w, &signed, later);
    assert_eq!(r.outcome, Outcome::Indeterminate, "{r:#?}");
    assert!(r.reason.contains("jangka panjang"), "{}", r.reason);
    // B-B (no timestamp) after the certificate expired: the same, never TIDAK ASLI.
    let bb = sign(&letter(), &w.office, None);
    let r = check(&w, &bb, later);
    assert_eq!(r.outcome, Outcome::Indeterminate, "{r:#?}");
}

#[test]
fn an_expired_intermediate_is_not_a_valid_chain() {
    let w = world();
    let old_ca = make(&w.ca, "CA Lama", Shape::Ca, -400, -10);
    let leaf = make(&old_ca, "Pejabat", Shape::Leaf(signing_leaf()), -300, 300);
    let pdf = sign(&letter(), &leaf, None);
    let signers = [root(&w.ca)];
    let r = validate_with(
        &pdf,
        &Policy {
            signer_anchors: &signers,
            tsa_anchors: &signers,
            office: None,
        },
        now(),
    );
    assert_ne!(r.outcome, Outcome::Passed, "{r:#?}");
}

#[test]
fn a_valid_signature_by_someone_else_is_not_an_office_document() {
    let w = world();
    let other = make(&w.ca, "Dinas Lain", Shape::Leaf(signing_leaf()), -1, 300);
    let pdf = sign(&letter(), &other, Some(&w.tsa));
    let r = check(&w, &pdf, now());
    assert_eq!(r.outcome, Outcome::Failed, "{r:#?}");
    assert_eq!(r.foreign_signer.as_deref(), Some("Dinas Lain"));
    assert!(
        r.reason.contains("bukan dokumen yang diterbitkan"),
        "{}",
        r.reason
    );
}

/// Appends an incremental update that draws `text` on page 1 (a new content stream added to
/// the page's /Contents).
fn overlay(pdf: &[u8], text: &str) -> Vec<u8> {
    use lopdf::{Document, IncrementalDocument, Object, Stream, dictionary};
    let prev = Document::load_mem(pdf).expect("load");
    let page_id = prev.get_pages()[&1];
    let mut inc = IncrementalDocument::create_from(pdf.to_vec(), prev);
    inc.opt_clone_object_to_new_document(page_id)
        .expect("clone page");
    let content = format!("BT /F1 28 Tf 60 520 Td ({text}) Tj ET");
    let stream_id = inc
        .new_document
        .add_object(Stream::new(dictionary! {}, content.into_bytes()));
    let page = inc
        .new_document
        .get_object_mut(page_id)
        .and_then(Object::as_dict_mut)
        .expect("page");
    let old = page.get(b"Contents").cloned().expect("contents");
    let mut contents = match old {
        Object::Array(a) => a,
        other => vec![other],
    };
    contents.push(Object::Reference(stream_id));
    page.set("Contents", Object::Array(contents));
    let mut out = Vec::new();
    inc.save_to(&mut out).expect("save");
    out
}

#[test]
fn a_visibly_altered_permit_signed_again_by_another_trusted_certificate_is_not_asli() {
    let w = world();
    let genuine = sign(&letter(), &w.office, Some(&w.tsa));
    let altered = overlay(&genuine, "PEMEGANG: PT PENIPU");
    // Unsigned alteration.
    let r = check(&w, &altered, now());
    assert_eq!(r.outcome, Outcome::Failed, "{r:#?}");
    // The alteration signed by another official under the same trusted root: the later
    // signature covers the file, the office's no longer does.
    let other = make(&w.ca, "Pejabat Lain", Shape::Leaf(signing_leaf()), -1, 300);
    let resigned = sign(&altered, &other, Some(&w.tsa));
    let r = check(&w, &resigned, now());
    assert_eq!(r.outcome, Outcome::Failed, "{r:#?}");
    assert!(
        r.reason.contains("setelah tanda tangan kantor"),
        "{}",
        r.reason
    );
    assert_eq!(r.decisive, Some(0));
}

#[test]
fn bytes_hidden_after_the_signature_are_a_change() {
    let w = world();
    let genuine = sign(&letter(), &w.office, Some(&w.tsa));
    // An object outside any cross-reference table, then a fake end marker.
    let mut hidden = genuine.clone();
    hidden.extend_from_slice(b"\n99 0 obj\n<< /Type /Page >>\nendobj\n%%EOF\n");
    let r = check(&w, &hidden, now());
    assert_eq!(r.outcome, Outcome::Failed, "{r:#?}");
    // Plain garbage without an end marker.
    let mut junk = genuine;
    junk.extend_from_slice(b"garbage");
    assert_eq!(check(&w, &junk, now()).outcome, Outcome::Failed);
}

#[test]
fn a_second_office_signature_over_an_unchanged_file_passes() {
    let w = world();
    let once = sign(&letter(), &w.office, Some(&w.tsa));
    let twice = sign(&once, &w.office, Some(&w.tsa));
    let r = check(&w, &twice, now());
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    assert_eq!(r.decisive, Some(1));
}

/// pyHanko's verdict (`pyhanko sign validate`, trusting the same roots, revocation not checked:
/// none of these certificates names a source): true when it finds every signature valid and
/// trusted.
fn pyhanko_valid(w: &World, pdf: &[u8]) -> bool {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("corpus.pdf");
    std::fs::write(&file, pdf).expect("write");
    let mut args = vec![
        "sign".to_string(),
        "validate".into(),
        "--no-revocation-check".into(),
        "--trust-replace".into(),
    ];
    for (i, c) in [root(&w.ca), w.tsa_root.certificate.clone()]
        .iter()
        .enumerate()
    {
        let path = dir.path().join(format!("root{i}.pem"));
        std::fs::write(&path, openssl_cert(c).to_pem().expect("pem")).expect("write");
        args.push("--trust".into());
        args.push(path.display().to_string());
    }
    args.push(file.display().to_string());
    let out = std::process::Command::new("pyhanko")
        .args(&args)
        .output()
        .expect("pyhanko is installed by scripts/test.sh");
    out.status.success()
}

/// Every corpus file through both validators: ours is never more lenient than pyHanko (ASLI
/// where pyHanko does not find the file valid), and never says TIDAK ASLI where pyHanko says
/// VALID — except where ours answers another question on purpose (listed, and in the README).
#[test]
fn pyhanko_is_the_reference_for_the_corpus() {
    let w = world();
    let genuine = sign(&letter(), &w.office, Some(&w.tsa));
    let other = make(&w.ca, "Pejabat Lain", Shape::Leaf(signing_leaf()), -1, 300);
    let official = make(&w.ca, "Pejabat Biasa", Shape::Leaf(signing_leaf()), -1, 300);
    let minted = make(
        &official,
        "Kepala DPMPTSP Kabupaten Karo",
        Shape::Leaf(signing_leaf()),
        -1,
        300,
    );
    let mut encipher_only = KeyUsage::new();
    encipher_only.critical().key_encipherment();
    let wrong_ku = make(
        &w.ca,
        "Kunci Enkripsi",
        Shape::Leaf(Some(encipher_only)),
        -1,
        300,
    );
    let critical = make(&w.ca, "Ekstensi Aneh", Shape::UnknownCritical, -1, 300);
    // An untrusted CA carrying the trusted CA's very name issues "the office's head".
    let fake_ca = new_ca("Uji CA", 1).expect("fake ca");
    let look_alike =
        issue_signer(&fake_ca, "Kepala DPMPTSP Kabupaten Karo", 30).expect("look-alike");
    let mut newline = genuine.clone();
    newline.extend_from_slice(b"\n");
    let altered = overlay(&genuine, "PEMEGANG: PT PENIPU");
    let mut changed = genuine.clone();
    let at = genuine.len() / 3;
    changed[at] ^= 0x01;
    // (name, file, ours may be stricter than pyHanko's VALID because …)
    let corpus: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("genuine", genuine.clone(), None),
        ("newline after %%EOF", newline, None),
        (
            "signed twice by the office",
            sign(&genuine, &w.office, Some(&w.tsa)),
            None,
        ),
        ("one byte changed", changed, None),
        ("/Contents all zeros", zero_contents(&genuine), None),
        (
            "look-alike CA with the office CA's name",
            sign(&letter(), &look_alike, Some(&w.tsa)),
            None,
        ),
        (
            "/ByteRange shifted",
            with_byte_range(&genuine, |[a, b, c, d]| [a, b + 10, c + 10, d - 10]),
            None,
        ),
        (
            "/ByteRange overlapping",
            with_byte_range(&genuine, |[a, b, c, d]| [a, c, b, d]),
            None,
        ),
        (
            "/ByteRange beyond EOF",
            with_byte_range(&genuine, |[a, b, c, d]| [a, b, c, d + 1000]),
            None,
        ),
        (
            "/ByteRange zero",
            with_byte_range(&genuine, |_| [0, 0, 0, 0]),
            None,
        ),
        ("overlay, unsigned", altered.clone(), None),
        (
            "overlay, signed by another official",
            sign(&altered, &other, Some(&w.tsa)),
            None,
        ),
        (
            "leaf used as CA",
            sign(&letter(), &minted, Some(&w.tsa)),
            None,
        ),
        ("wrong key usage", sign(&letter(), &wrong_ku, None), None),
        (
            "unknown critical extension",
            sign(&letter(), &critical, None),
            None,
        ),
        (
            "valid signature by another official",
            sign(&letter(), &other, Some(&w.tsa)),
            Some("a valid signature by someone outside the office is not an office document"),
        ),
    ];
    let mut table = Vec::new();
    for (name, pdf, stricter_because) in &corpus {
        let ours = check(&w, pdf, now());
        let theirs = pyhanko_valid(&w, pdf);
        table.push(format!(
            "{name}: ours {:?}, pyHanko {}",
            ours.outcome,
            if theirs { "VALID" } else { "not valid" }
        ));
        if ours.outcome == Outcome::Passed {
            assert!(
                theirs,
                "more lenient than pyHanko on {name}: {}",
                ours.reason
            );
        }
        if theirs && ours.outcome == Outcome::Failed {
            assert!(
                stricter_because.is_some(),
                "TIDAK ASLI where pyHanko says VALID on {name}: {}",
                ours.reason
            );
        }
    }
    eprintln!("{}", table.join("\n"));
}

/// What pyHanko adds to a genuine permit to keep it verifiable (someone else's DSS with
/// validation data and a document timestamp, `PdfTimeStamper.timestamp_pdf`): a permitted
/// long-term-validation update, so the office's signature stays ASLI, as pyHanko says VALID.
#[test]
fn a_later_dss_and_document_timestamp_by_someone_else_stays_asli() {
    const SCRIPT: &str = r#"
import sys
from asn1crypto import keys, pem, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
src, out, cert_pem, key_pem, root_pem, signer_root = sys.argv[1:7]
def load(path):
    data = open(path, 'rb').read()
    return pem.unarmor(data, multiple=True)
cert = x509.Certificate.load(next(load(cert_pem))[2])
key = keys.PrivateKeyInfo.load(next(load(key_pem))[2])
roots = [x509.Certificate.load(d) for _, _, d in load(root_pem)] + [x509.Certificate.load(d) for _, _, d in load(signer_root)]
stamper = DummyTimeStamper(tsa_cert=cert, tsa_key=key, certs_to_embed=SimpleCertificateStore.from_certs(roots))
vc = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode='soft-fail')
with open(src, 'rb') as f:
    w = IncrementalPdfFileWriter(f)
    with open(out, 'wb') as o:
        signers.PdfTimeStamper(stamper).timestamp_pdf(w, 'sha256', validation_context=vc, output=o)
"#;
    let w = world();
    let genuine = sign(&letter(), &w.office, Some(&w.tsa));
    let dir = tempfile::tempdir().expect("tmp");
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("in.pdf"), &genuine).unwrap();
    std::fs::write(
        p("tsa.pem"),
        openssl_cert(&w.tsa.certificate).to_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(p("tsa-key.pem"), w.tsa.key_pem().unwrap()).unwrap();
    std::fs::write(
        p("tsa-root.pem"),
        openssl_cert(&w.tsa_root.certificate).to_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(p("ca.pem"), openssl_cert(&root(&w.ca)).to_pem().unwrap()).unwrap();
    let run = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(
            [
                "in.pdf",
                "out.pdf",
                "tsa.pem",
                "tsa-key.pem",
                "tsa-root.pem",
                "ca.pem",
            ]
            .map(&p),
        )
        .output()
        .expect("python3 with pyHanko (scripts/test.sh installs it)");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let updated = std::fs::read(p("out.pdf")).unwrap();
    assert!(updated.len() > genuine.len());
    let r = check(&w, &updated, now());
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    assert_eq!(r.decisive, Some(0));
    assert!(r.signatures.iter().any(|s| s.document_timestamp), "{r:#?}");
    assert!(pyhanko_valid(&w, &updated), "pyHanko agrees");
}

/// The first signature's `/ByteRange` rewritten by `f` (padded to the same length, so the file
/// keeps its offsets).
fn with_byte_range(pdf: &[u8], f: impl Fn([i64; 4]) -> [i64; 4]) -> Vec<u8> {
    let at = pdf
        .windows(10)
        .position(|w| w == b"/ByteRange")
        .expect("a signature");
    let open = at + pdf[at..].iter().position(|&b| b == b'[').expect("[");
    let close = open + pdf[open..].iter().position(|&b| b == b']').expect("]");
    let text = std::str::from_utf8(&pdf[open + 1..close]).expect("ascii");
    let n: Vec<i64> = text
        .split_ascii_whitespace()
        .map(|x| x.parse().expect("number"))
        .collect();
    let m = f([n[0], n[1], n[2], n[3]]);
    let mut value = format!("{} {} {} {}", m[0], m[1], m[2], m[3]);
    let room = close - open - 1;
    assert!(value.len() <= room, "no room for {value}");
    while value.len() < room {
        value.push(' ');
    }
    let mut out = pdf.to_vec();
    out[open + 1..close].copy_from_slice(value.as_bytes());
    out
}

/// The first signature's `/Contents` hex string replaced by zeros.
fn zero_contents(pdf: &[u8]) -> Vec<u8> {
    let at = pdf
        .windows(10)
        .position(|w| w == b"/Contents ")
        .or_else(|| pdf.windows(10).position(|w| w == b"/Contents<"))
        .expect("contents");
    let open = at + pdf[at..].iter().position(|&b| b == b'<').expect("<");
    let close = open + pdf[open..].iter().position(|&b| b == b'>').expect(">");
    let mut out = pdf.to_vec();
    for b in &mut out[open + 1..close] {
        *b = b'0';
    }
    out
}

/// Makes a CRL or an OCSP response of `w.ca` (the signer's issuer) with `python3`'s `cryptography` (pyHanko's own
/// dependency) — empty, or revoking the office's certificate at `revoked_at` — issued at
/// `issued`, and writes it into the file's DSS with pyHanko (`DocumentSecurityStore.add_dss`,
/// the permitted LTV update).
fn with_revocation(
    kind: &str,
    w: &World,
    pdf: &[u8],
    issued: chrono::DateTime<chrono::Utc>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Vec<u8> {
    const SCRIPT: &str = r#"
import sys, io, datetime
from asn1crypto import crl as acrl, ocsp as aocsp
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.hazmat.primitives import hashes, serialization
from pyhanko.sign.validation.dss import DocumentSecurityStore
src, out, ca_pem, ca_key, leaf_pem, issued, revoked, kind = sys.argv[1:9]
ca = x509.load_pem_x509_certificate(open(ca_pem, 'rb').read())
key = serialization.load_pem_private_key(open(ca_key, 'rb').read(), None)
leaf = x509.load_pem_x509_certificate(open(leaf_pem, 'rb').read())
t = lambda s: datetime.datetime.fromtimestamp(int(s), datetime.timezone.utc)
b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
     .last_update(t(issued)).next_update(t(issued) + datetime.timedelta(days=7)))
if revoked != '-':
    b = b.add_revoked_certificate(x509.RevokedCertificateBuilder()
        .serial_number(leaf.serial_number).revocation_date(t(revoked)).build())
buf = io.BytesIO(open(src, 'rb').read())
if kind == 'crl':
    crl = b.sign(key, hashes.SHA256())
    DocumentSecurityStore.add_dss(buf, None, crls=[acrl.CertificateList.load(crl.public_bytes(serialization.Encoding.DER))], force_write=True)
else:
    status = ocsp.OCSPCertStatus.GOOD if revoked == '-' else ocsp.OCSPCertStatus.REVOKED
    r = (ocsp.OCSPResponseBuilder().add_response(cert=leaf, issuer=ca, algorithm=hashes.SHA1(),
            cert_status=status, this_update=t(issued), next_update=t(issued) + datetime.timedelta(days=7),
            revocation_time=None if revoked == '-' else t(revoked), revocation_reason=None)
         .responder_id(ocsp.OCSPResponderEncoding.HASH, ca).sign(key, hashes.SHA256()))
    DocumentSecurityStore.add_dss(buf, None, ocsps=[aocsp.OCSPResponse.load(r.public_bytes(serialization.Encoding.DER))], force_write=True)
open(out, 'wb').write(buf.getvalue())
"#;
    let dir = tempfile::tempdir().expect("tmp");
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("in.pdf"), pdf).unwrap();
    std::fs::write(
        p("ca.pem"),
        openssl_cert(&w.ca.certificate).to_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(p("ca-key.pem"), w.ca.key_pem().unwrap()).unwrap();
    std::fs::write(
        p("leaf.pem"),
        openssl_cert(&w.office.certificate).to_pem().unwrap(),
    )
    .unwrap();
    let run = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(["in.pdf", "out.pdf", "ca.pem", "ca-key.pem", "leaf.pem"].map(&p))
        .arg(issued.timestamp().to_string())
        .arg(revoked_at.map_or("-".to_string(), |t| t.timestamp().to_string()))
        .arg(kind)
        .output()
        .expect("python3 with pyHanko (scripts/test.sh installs it)");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::read(p("out.pdf")).unwrap()
}

/// Revocation evidence in the file (a CRL, an OCSP response) decides the revocation line: an issuer's answer that does not
/// list the signer passes; one that lists it as revoked before the timestamp fails (TIDAK
/// ASLI); a revocation after the proven signing time is shown and the signature stands.
#[test]
fn revocation_data_in_the_file_is_used() {
    let w = world();
    let genuine = sign(&letter(), &w.office, Some(&w.tsa));
    let t0 = now();
    for (kind, source) in [("crl", "(CRL)"), ("ocsp", "(OCSP)")] {
        let with_crl = |w: &World,
                        pdf: &[u8],
                        issued: chrono::DateTime<chrono::Utc>,
                        revoked: Option<chrono::DateTime<chrono::Utc>>| {
            with_revocation(kind, w, pdf, issued, revoked)
        };

        let good = with_crl(&w, &genuine, t0 - chrono::Duration::minutes(1), None);
        let r = check(&w, &good, now());
        assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
        let s = &r.signatures[0];
        assert_eq!(s.revocation.outcome, Outcome::Passed);
        assert!(
            s.revocation.detail.contains(source),
            "{kind}: {:?}",
            s.revocation
        );

        let early = with_crl(
            &w,
            &genuine,
            t0 - chrono::Duration::minutes(1),
            Some(t0 - chrono::Duration::hours(2)),
        );
        let r = check(&w, &early, now());
        assert_eq!(r.outcome, Outcome::Failed, "{r:#?}");
        assert!(r.reason.contains("dicabut sebelum"), "{}", r.reason);

        // Revoked half an hour after signing, the CRL issued later still; checked a day later.
        let later = with_crl(
            &w,
            &genuine,
            t0 + chrono::Duration::hours(1),
            Some(t0 + chrono::Duration::minutes(30)),
        );
        let r = check(&w, &later, t0 + chrono::Duration::days(1));
        assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
        assert!(
            r.signatures[0]
                .revocation
                .detail
                .contains("dicabut setelah"),
            "{:?}",
            r.signatures[0].revocation
        );

        // A CRL by another CA that "revokes" the same serial is no evidence at all.
        let other = World {
            ca: new_ca("Uji CA", 20).expect("other ca"),
            office: w.office.clone(),
            tsa_root: w.tsa_root.clone(),
            tsa: w.tsa.clone(),
        };
        let forged = with_crl(
            &other,
            &genuine,
            t0 - chrono::Duration::minutes(1),
            Some(t0 - chrono::Duration::hours(2)),
        );
        let r = check(&w, &forged, now());
        assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    }
}
