//! Public application tracking (`/lacak`, issue 24): the rules, no I/O. Which registration
//! numbers may be asked about at all, how the applicant proves the application is theirs (the
//! last four digits of the phone SICANTIK holds, compared in constant time, or a signed,
//! expiring link), and how SICANTIK's step names are read (collection).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::documents::LinkRefusal;

/// How long a tracking link in a WhatsApp message stays valid.
pub const LINK_DAYS: i64 = 90;

/// A registration number as typed: digits only once spaces, dots and dashes are gone (receipts
/// print it in groups), 6 to 24 of them. Anything else — letters, quotes, `OR 1=1` — is `None`
/// and never reaches SICANTIK, which puts the value unquoted into SQL.
pub fn registration_id(input: &str) -> Option<String> {
    let cleaned: String = input
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '\u{a0}'))
        .collect();
    let ok = (6..=24).contains(&cleaned.len()) && cleaned.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(cleaned)
}

/// The last four digits of a phone number in any notation (`0812-3456 7890`, `+62 …`); `None`
/// when it has fewer than six digits (not a usable number).
pub fn last_four(phone: &str) -> Option<String> {
    let digits: Vec<u8> = phone.bytes().filter(u8::is_ascii_digit).collect();
    (digits.len() >= 6).then(|| String::from_utf8_lossy(&digits[digits.len() - 4..]).into_owned())
}

/// Four typed digits against the stored four, in constant time. A typed value that is not
/// exactly four digits never matches.
pub fn digits_match(typed: &str, stored: &str) -> bool {
    let typed = typed.trim();
    let shaped = typed.len() == 4 && typed.bytes().all(|b| b.is_ascii_digit());
    let equal: bool = typed.as_bytes().ct_eq(stored.as_bytes()).into();
    shaped && stored.len() == 4 && equal
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], pendaftaran_id: &str, expires_unix: i64) -> String {
    use base64::Engine;
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return String::new();
    };
    // Its own label: a download link's MAC can never pass as a tracking link's, nor back.
    mac.update(format!("sicantik-companion/lacak/v1:{pendaftaran_id}:{expires_unix}").as_bytes());
    let tag = mac.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..16])
}

/// `<registration id>.<expiry, unix seconds>.<mac>`: the applicant's link, signed like the
/// download links (HMAC-SHA-256, 128 bits, the same key), binding the number and the expiry.
pub fn link_token(secret: &[u8], pendaftaran_id: &str, expires_unix: i64) -> String {
    format!(
        "{pendaftaran_id}.{expires_unix}.{}",
        mac(secret, pendaftaran_id, expires_unix)
    )
}

/// The registration id a token names, when its MAC holds and it has not expired.
pub fn check_link_token(secret: &[u8], token: &str, now_unix: i64) -> Result<String, LinkRefusal> {
    let mut parts = token.splitn(3, '.');
    let (Some(id), Some(expires), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(LinkRefusal::Malformed);
    };
    let id = registration_id(id)
        .filter(|clean| clean == id)
        .ok_or(LinkRefusal::Malformed)?;
    let expires: i64 = expires.parse().map_err(|_| LinkRefusal::Malformed)?;
    if tag.len() != 22 {
        return Err(LinkRefusal::Malformed);
    }
    let expected = mac(secret, &id, expires);
    if !bool::from(expected.as_bytes().ct_eq(tag.as_bytes())) {
        return Err(LinkRefusal::Forged);
    }
    if now_unix >= expires {
        return Err(LinkRefusal::Expired);
    }
    Ok(id)
}

/// Where a step of SICANTIK's chain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPosition {
    Done,
    Current,
    Upcoming,
    /// SICANTIK marked no step as current: the order is shown, not the progress.
    Unknown,
}

/// One step of SICANTIK's chain (`permohonan2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SicantikStep {
    pub name: String,
    pub position: StepPosition,
    /// When SICANTIK gives one (the spec's row has no date; some deployments add it).
    pub date: Option<chrono::NaiveDate>,
}

/// Positions from the order and the `current` mark: the rows before the current one are done,
/// the ones after it still to come (spec §3.6). With no mark, or more than one, the progress is
/// unknown rather than guessed.
pub fn positions(current_flags: &[bool]) -> Vec<StepPosition> {
    let marked: Vec<usize> = current_flags
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.then_some(i))
        .collect();
    match marked.as_slice() {
        [at] => (0..current_flags.len())
            .map(|i| match i.cmp(at) {
                std::cmp::Ordering::Less => StepPosition::Done,
                std::cmp::Ordering::Equal => StepPosition::Current,
                std::cmp::Ordering::Greater => StepPosition::Upcoming,
            })
            .collect(),
        _ => vec![StepPosition::Unknown; current_flags.len()],
    }
}

/// Whether SICANTIK's `current` value marks the step: `1`, `"1"`, `true` (spec: `current: 1`).
pub fn is_current_flag(value: Option<&str>) -> bool {
    matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "ya" | "y")
    )
}

/// Whether a step's name says the permit has been handed over to the applicant ("Izin telah
/// diambil", "Penyerahan izin", "Sudah diserahkan"). "Siap diambil", "menunggu pengambilan" and
/// "belum diambil" are not a collection.
pub fn is_collection_step(name: &str) -> bool {
    let n = name.to_lowercase();
    let waiting = ["siap", "menunggu", "belum", "dapat diambil", "bisa diambil"];
    if waiting.iter().any(|w| n.contains(w)) {
        return false;
    }
    ["diambil", "diserahkan", "penyerahan", "pengambilan"]
        .iter()
        .any(|w| n.contains(w))
}

/// Whether the chain shows the permit collected: a collection step that is done or current
/// (a step is the state the permit has reached).
pub fn collected(steps: &[SicantikStep]) -> bool {
    steps.iter().any(|s| {
        matches!(s.position, StepPosition::Done | StepPosition::Current)
            && is_collection_step(&s.name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_ids_are_digits_only() {
        assert_eq!(
            registration_id(" 01423 077-03.07 2025 ").as_deref(),
            Some("0142307703072025")
        );
        for hostile in [
            "1 OR 1=1",
            "0142307703072025'",
            "0142307703072025;--",
            "1e5",
            "١٢٣٤٥٦٧",
            "",
            "12345",
            "0x1234567",
            "1234567890123456789012345",
        ] {
            assert_eq!(registration_id(hostile), None, "{hostile}");
        }
    }

    #[test]
    fn phone_digits() {
        assert_eq!(last_four("0812-3456 7890").as_deref(), Some("7890"));
        assert_eq!(last_four("+62 812.3456.0042").as_deref(), Some("0042"));
        assert_eq!(last_four("12"), None);
        assert!(digits_match("7890", "7890"));
        assert!(digits_match(" 7890 ", "7890"));
        for wrong in ["7891", "789", "78900", "", "abcd", "７８９０"] {
            assert!(!digits_match(wrong, "7890"), "{wrong}");
        }
        assert!(!digits_match("", ""));
    }

    #[test]
    fn tokens_bind_number_and_expiry() {
        let k = b"0123456789abcdef0123456789abcdef";
        let t = link_token(k, "0142307703072025", 2_000);
        assert_eq!(
            check_link_token(k, &t, 1_000).as_deref(),
            Ok("0142307703072025")
        );
        assert_eq!(check_link_token(k, &t, 2_000), Err(LinkRefusal::Expired));
        let other_id = t.replacen("0142307703072025", "0142307703072026", 1);
        assert_eq!(
            check_link_token(k, &other_id, 1_000),
            Err(LinkRefusal::Forged)
        );
        let later = t.replacen(".2000.", ".9000.", 1);
        assert_eq!(check_link_token(k, &later, 1_000), Err(LinkRefusal::Forged));
        assert_eq!(
            check_link_token(b"another key, also thirty-two long!", &t, 1_000),
            Err(LinkRefusal::Forged)
        );
        assert_eq!(
            check_link_token(k, "1 OR 1=1.2000.AAAAAAAAAAAAAAAAAAAAAA", 1_000),
            Err(LinkRefusal::Malformed)
        );
        assert_eq!(
            check_link_token(k, "garbage", 1_000),
            Err(LinkRefusal::Malformed)
        );
    }

    #[test]
    fn positions_follow_the_current_mark() {
        use StepPosition::*;
        assert_eq!(
            positions(&[false, true, false]),
            vec![Done, Current, Upcoming]
        );
        assert_eq!(positions(&[false, false]), vec![Unknown, Unknown]);
        assert_eq!(positions(&[true, true]), vec![Unknown, Unknown]);
        assert!(is_current_flag(Some("1")));
        assert!(is_current_flag(Some(" true")));
        assert!(!is_current_flag(Some("0")));
        assert!(!is_current_flag(None));
    }

    #[test]
    fn collection_words() {
        assert!(is_collection_step("Izin telah diambil"));
        assert!(is_collection_step("Penyerahan Izin"));
        assert!(!is_collection_step("Izin siap diambil"));
        assert!(!is_collection_step("Menunggu pengambilan"));
        assert!(!is_collection_step("Verifikasi berkas"));
        let step = |name: &str, position| SicantikStep {
            name: name.into(),
            position,
            date: None,
        };
        assert!(!collected(&[
            step("Izin siap diambil", StepPosition::Current),
            step("Penyerahan izin", StepPosition::Upcoming)
        ]));
        assert!(collected(&[
            step("Izin siap diambil", StepPosition::Done),
            step("Penyerahan izin", StepPosition::Current)
        ]));
    }
}
