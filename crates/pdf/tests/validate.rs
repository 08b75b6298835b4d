//! Our own validator (`companion_pdf::validate`) against files whose truth is known: our B-T
//! signature (passed, every line), one changed byte (failed: integrity), bytes added after the
//! signature (failed: coverage), no trust anchor (indeterminate), no signature (failed), a file
//! signed by pyHanko with a foreign certificate (indeterminate), and 300 random mutations (never
//! a panic, never "passed" for a change inside the signed bytes).

use std::sync::OnceLock;

use companion_pdf::keys::{SigningIdentity, issue_signer, issue_tsa, new_ca};
use companion_pdf::sign::{CmsSigner, SignatureInfo, prepare_signature_with_dss};
use companion_pdf::timestamp::{
    add_timestamp, request, respond, signature_imprint, token_from_response,
};
use companion_pdf::validate::{Outcome, validate};
use x509_cert::Certificate;

struct Setup {
    signed: Vec<u8>,
    anchors: Vec<Certificate>,
    signed_bytes_end: usize,
}

fn root(identity: &SigningIdentity) -> Certificate {
    identity.chain.last().cloned().expect("root")
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let ca = new_ca("Uji CA", 1).expect("ca");
        let signer = issue_signer(&ca, "Pejabat Uji", 30).expect("signer");
        let tsa_root = new_ca("Uji TSA Root", 1).expect("tsa root");
        let tsa = issue_tsa(&tsa_root, "Uji TSA", 30).expect("tsa");
        let letter =
            companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0);
        let info = SignatureInfo {
            name: "Pejabat Uji".into(),
            reason: "Penerbitan surat izin".into(),
            location: "Kabanjahe".into(),
            time: chrono::Utc::now().fixed_offset(),
            visible: None,
        };
        let prepared =
            prepare_signature_with_dss(&letter, 1, &info, &signer.chain_der().expect("chain"))
                .expect("prepare");
        let cms = signer.sign_digest(&prepared.digest).expect("cms");
        let imprint = signature_imprint(&cms).expect("imprint");
        let req = request(&imprint, 7).expect("request");
        let resp = respond(&tsa, &req, 1, std::time::SystemTime::now()).expect("respond");
        let token = token_from_response(&resp, &imprint, 7).expect("token");
        let signed = prepared
            .finish(&add_timestamp(&cms, &token).expect("add"))
            .expect("finish");
        Setup {
            signed_bytes_end: letter.len(),
            signed,
            anchors: vec![root(&signer), tsa_root.certificate.clone()],
        }
    })
}

#[test]
fn our_b_t_signature_passes_every_line() {
    let s = setup();
    let r = validate(&s.signed, &s.anchors, chrono::Utc::now());
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
    assert_eq!(r.signatures.len(), 1);
    let sig = r.last().expect("signature");
    for check in [
        &sig.integrity,
        &sig.coverage,
        &sig.chain,
        &sig.timestamp,
        &sig.revocation,
    ] {
        assert_eq!(check.outcome, Outcome::Passed, "{check:?}");
    }
    assert_eq!(sig.signer_common_name.as_deref(), Some("Pejabat Uji"));
    assert!(sig.timestamp_time.is_some());
    assert!(
        sig.claimed_time
            .as_deref()
            .is_some_and(|t| t.starts_with("D:"))
    );
    assert_eq!(r.sha256.len(), 64);
}

#[test]
fn a_changed_byte_or_an_appended_update_fails() {
    let s = setup();
    let mut changed = s.signed.clone();
    let at = s.signed_bytes_end / 2;
    changed[at] = changed[at].wrapping_add(1);
    let r = validate(&changed, &s.anchors, chrono::Utc::now());
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.last().expect("sig").integrity.outcome, Outcome::Failed);
    assert!(r.reason.contains("diubah"), "{}", r.reason);

    let mut appended = s.signed.clone();
    appended.extend_from_slice(b"\n1 0 obj\n(diubah)\nendobj\n");
    let r = validate(&appended, &s.anchors, chrono::Utc::now());
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.last().expect("sig").coverage.outcome, Outcome::Failed);
    assert_eq!(r.last().expect("sig").integrity.outcome, Outcome::Passed);
}

#[test]
fn an_unknown_issuer_is_indeterminate_and_no_signature_fails() {
    let s = setup();
    let r = validate(&s.signed, &[], chrono::Utc::now());
    assert_eq!(r.outcome, Outcome::Indeterminate, "{r:#?}");
    assert!(r.reason.contains("tidak dikenal"), "{}", r.reason);

    let fixture = |name: &str| {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name),
        )
        .expect("fixture")
    };
    // Signed by pyHanko with a certificate this office does not trust.
    let other = fixture("signed-by-other.pdf");
    let r = validate(&other, &s.anchors, chrono::Utc::now());
    assert_eq!(r.outcome, Outcome::Indeterminate, "{r:#?}");
    assert_eq!(r.last().expect("sig").integrity.outcome, Outcome::Passed);

    let r = validate(&fixture("cairo.pdf"), &s.anchors, chrono::Utc::now());
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.signatures.is_empty());
}

#[test]
fn mutated_files_never_panic_and_never_pass_when_the_signed_bytes_changed() {
    use rand::{Rng, SeedableRng};
    let s = setup();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..300 {
        let mut m = s.signed.clone();
        let at = rng.gen_range(0..m.len());
        m[at] = rng.r#gen();
        if rng.gen_bool(0.2) {
            m.truncate(rng.gen_range(0..m.len()));
        }
        let r = validate(&m, &s.anchors, chrono::Utc::now());
        let inside_signed = at < s.signed_bytes_end;
        if inside_signed && m[at] != s.signed[at] {
            assert_ne!(r.outcome, Outcome::Passed, "a change at {at} passed");
        }
    }
}
