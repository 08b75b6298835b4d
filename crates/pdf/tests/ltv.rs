//! The pure side of PAdES B-LT/B-LTA: `add_dss` (DSS revision with VRI) and
//! `prepare_document_timestamp`, and what the validator makes of them over time — including a
//! document timestamp by a TSA nobody trusts, which proves nothing.

use std::time::{Duration, SystemTime};

use companion_pdf::keys::SigningIdentity;
use companion_pdf::pki::{LeafKind, PkiUrls, build_crl, issue_ca, issue_leaf, new_root};
use companion_pdf::sign::{
    CmsSigner, Ltv, SignatureInfo, Vri, add_dss, prepare_document_timestamp,
    prepare_signature_with_dss,
};
use companion_pdf::timestamp::{
    add_timestamp, request, respond, signature_imprint, token_from_response,
};
use companion_pdf::validate::{Outcome, Policy, Report, signature_material, validate_with};
use der::Encode;

struct World {
    root: SigningIdentity,
    issuing: SigningIdentity,
    signer: SigningIdentity,
    tsa_root: SigningIdentity,
    tsa: SigningIdentity,
}

fn world() -> World {
    // Pointers to nowhere: this test is offline, the revocation data is built here.
    let urls = PkiUrls::new("http://127.0.0.1:9");
    let root = new_root("Uji Root CA", 20).expect("root");
    let issuing = issue_ca(&root, "ca", "Uji Issuing CA", 10, Some(0), &urls).expect("issuing");
    let signer = issue_leaf(
        &issuing,
        "Kepala Uji",
        700,
        LeafKind::Signer,
        Some((&urls, "issuing-ca")),
    )
    .expect("signer");
    let tsa_root = new_root("Uji TSA Root", 20).expect("tsa root");
    let tsa = issue_leaf(&tsa_root, "Uji TSA", 3650, LeafKind::Tsa, None).expect("tsa");
    World {
        root,
        issuing,
        signer,
        tsa_root,
        tsa,
    }
}

fn token(tsa: &SigningIdentity, imprint: &[u8; 32]) -> Vec<u8> {
    let req = request(imprint, 7).expect("request");
    let resp = respond(tsa, &req, 1, SystemTime::now()).expect("respond");
    token_from_response(&resp, imprint, 7).expect("token")
}

fn signed(w: &World) -> Vec<u8> {
    let pdf = companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
    let info = SignatureInfo {
        name: "Kepala Uji".into(),
        reason: "Penerbitan surat izin".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: None,
    };
    let prepared =
        prepare_signature_with_dss(&pdf, 1, &info, &w.signer.chain_der().expect("chain"))
            .expect("prepare");
    let cms = w.signer.sign_digest(&prepared.digest).expect("cms");
    let cms = add_timestamp(
        &cms,
        &token(&w.tsa, &signature_imprint(&cms).expect("imprint")),
    )
    .expect("add");
    prepared.finish(&cms).expect("finish")
}

fn crls(w: &World) -> Vec<Vec<u8>> {
    let now = SystemTime::now();
    let week = Duration::from_secs(7 * 86_400);
    vec![
        build_crl(&w.issuing, &[], now, now + week, 1).expect("crl"),
        build_crl(&w.root, &[], now, now + week, 1).expect("crl"),
    ]
}

fn lt(w: &World, pdf: &[u8]) -> Vec<u8> {
    let m = signature_material(pdf);
    let last = m
        .iter()
        .rev()
        .find(|m| !m.document_timestamp)
        .expect("signature");
    let certs: Vec<Vec<u8>> = w
        .signer
        .chain
        .iter()
        .chain([&w.signer.certificate, &w.tsa.certificate])
        .map(|c| c.to_der().expect("der"))
        .collect();
    add_dss(
        pdf,
        &Ltv {
            certs: certs.clone(),
            ocsps: vec![],
            crls: crls(w),
            vri: vec![Vri {
                contents: last.contents.clone(),
                certs,
                ocsps: vec![],
                crls: crls(w),
            }],
        },
    )
    .expect("dss")
}

fn lta(tsa: &SigningIdentity, pdf: &[u8]) -> Vec<u8> {
    let prepared = prepare_document_timestamp(pdf).expect("prepare");
    let t = token(tsa, &prepared.digest);
    prepared.finish(&t).expect("finish")
}

fn check(w: &World, pdf: &[u8], at: chrono::DateTime<chrono::Utc>) -> Report {
    let signers = [w.root.certificate.clone()];
    let tsas = [w.tsa_root.certificate.clone()];
    let office = [w.signer.certificate.clone()];
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

#[test]
fn a_dss_and_a_document_timestamp_carry_the_permit_past_its_signer_certificate() {
    let w = world();
    let bt = signed(&w);
    let blt = lt(&w, &bt);
    let blta = lta(&w.tsa, &blt);
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::days(6 * 365);

    // The DSS revision is a permitted update, with a VRI entry under the SHA-1 of /Contents.
    let r = check(&w, &blt, now);
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    let s = r.last().expect("sig");
    assert_eq!(s.ltv.outcome, Outcome::Passed, "{s:#?}");
    assert!(s.coverage.detail.contains("DSS"), "{:?}", s.coverage);
    let key = hex::encode_upper(openssl::sha::sha1(&signature_material(&bt)[0].contents));
    assert!(
        blt.windows(key.len()).any(|w| w == key.as_bytes()),
        "VRI key {key}"
    );
    // Items already in the DSS are referenced, not written twice.
    let again = lt(&w, &blt);
    assert!(
        again.len() - blt.len() < (blt.len() - bt.len()) / 2,
        "no duplicate streams"
    );

    // B-LT alone: six years on, the signer certificate has expired and nothing proves the
    // signature existed before: indeterminate. With the document timestamp: ASLI.
    assert_eq!(check(&w, &blt, later).outcome, Outcome::Indeterminate);
    let r = check(&w, &blta, later);
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    let s = r.last().expect("sig");
    assert!(s.proven_by_document_timestamp.is_some() && s.ltv.detail.contains("cap waktu dokumen"));

    // A document timestamp by a TSA nobody trusts proves nothing: still indeterminate later.
    let rogue_root = new_root("Uji TSA Root", 20).expect("rogue root");
    let rogue = issue_leaf(&rogue_root, "Uji TSA", 3650, LeafKind::Tsa, None).expect("rogue");
    let r = check(&w, &lta(&rogue, &blt), later);
    assert_eq!(r.outcome, Outcome::Indeterminate, "{r:#?}");
    assert!(
        r.last()
            .expect("sig")
            .proven_by_document_timestamp
            .is_none()
    );

    // The document timestamp only helps after it: a later change still breaks the office's
    // signature (an overlay appended after B-LTA is not a permitted update).
    let mut tampered = blta.clone();
    tampered.extend_from_slice(b"\n1 0 obj\n(PEMEGANG: PT PENIPU)\nendobj\n");
    assert_ne!(check(&w, &tampered, now).outcome, Outcome::Passed);
}
