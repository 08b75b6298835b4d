//! The one answer the office gives about a permit document, wherever it is asked: the QR page,
//! an upload on `/periksa`, and `verify`. It joins two facts — what the office's records say
//! about the document (published with a validity, revoked, or no record) and what the file's
//! signatures prove — so the same file never gets two answers. ASLI needs both: a record or an
//! office signature, and a signature that still holds.

use chrono::NaiveDate;

use crate::workflow::DocState;

/// What the file's signatures prove (the validator's outcome, without its details).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The office's signature covers exactly this content and holds.
    Holds,
    /// Broken, changed after signing, or signed by someone who may not (TIDAK ASLI).
    Broken,
    /// Cannot be established (an unknown issuer, no long-term data, an unsupported form) — or
    /// the file could not be read from storage to be checked at all.
    Unknown,
}

/// What the office's records say about the document the file matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// No document of the office has these bytes (or this verification code).
    None,
    /// Issued, valid until `expiry` (None: without end).
    Issued { expiry: Option<NaiveDate> },
    /// Withdrawn by the office.
    Revoked,
}

impl Record {
    /// The record of a signing case in `state`, for a permit valid until `expiry`. A case that
    /// never reached signing is no issued document.
    pub fn of_case(state: DocState, expiry: Option<NaiveDate>) -> Self {
        match state {
            DocState::Revoked => Record::Revoked,
            DocState::Signed | DocState::Published => Record::Issued { expiry },
            _ => Record::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Asli,
    Kedaluwarsa,
    Dicabut,
    TidakAsli,
    TidakDapatDipastikan,
    /// A verification code the office never issued (the QR page only; a file is judged by its
    /// signatures instead).
    TidakDikenal,
}

impl Verdict {
    /// The word shown to the public, in Bahasa Indonesia (also the stable key of scripts).
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Asli => "ASLI",
            Verdict::Kedaluwarsa => "KEDALUWARSA",
            Verdict::Dicabut => "DICABUT",
            Verdict::TidakAsli => "TIDAK ASLI",
            Verdict::TidakDapatDipastikan => "TIDAK DAPAT DIPASTIKAN",
            Verdict::TidakDikenal => "TIDAK DIKENAL",
        }
    }

    pub fn word_en(self) -> &'static str {
        match self {
            Verdict::Asli => "AUTHENTIC",
            Verdict::Kedaluwarsa => "EXPIRED",
            Verdict::Dicabut => "REVOKED",
            Verdict::TidakAsli => "NOT AUTHENTIC",
            Verdict::TidakDapatDipastikan => "CANNOT BE ESTABLISHED",
            Verdict::TidakDikenal => "UNKNOWN",
        }
    }

    /// Only ASLI vouches for the document as it stands.
    pub fn vouches(self) -> bool {
        self == Verdict::Asli
    }
}

/// The verdict for a file (or a QR code's document) on `today` (the office's date).
///
/// - A broken signature is TIDAK ASLI whatever the records say.
/// - A revoked record is DICABUT (the office withdrew it), when the signature is not broken.
/// - Without proof the answer is TIDAK DAPAT DIPASTIKAN, even with a record: a record says the
///   office issued these bytes, not that their signature still holds.
/// - An issued record past its validity is KEDALUWARSA; otherwise ASLI.
/// - No record: the signatures decide (an office signature the records lack is still ASLI).
pub fn verdict(record: Record, proof: Proof, today: NaiveDate) -> Verdict {
    match (record, proof) {
        (_, Proof::Broken) => Verdict::TidakAsli,
        (Record::Revoked, _) => Verdict::Dicabut,
        (_, Proof::Unknown) => Verdict::TidakDapatDipastikan,
        (Record::Issued { expiry: Some(end) }, Proof::Holds) if end < today => Verdict::Kedaluwarsa,
        (Record::Issued { .. } | Record::None, Proof::Holds) => Verdict::Asli,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn every_combination_has_one_answer() {
        let today = d("2026-12-02");
        let valid = Record::Issued {
            expiry: Some(d("2030-01-01")),
        };
        let ended = Record::Issued {
            expiry: Some(d("2026-12-01")),
        };
        let open = Record::Issued { expiry: None };
        let cases = [
            (valid, Proof::Holds, Verdict::Asli),
            (open, Proof::Holds, Verdict::Asli),
            (ended, Proof::Holds, Verdict::Kedaluwarsa),
            (Record::Revoked, Proof::Holds, Verdict::Dicabut),
            (Record::None, Proof::Holds, Verdict::Asli),
            (valid, Proof::Broken, Verdict::TidakAsli),
            (Record::Revoked, Proof::Broken, Verdict::TidakAsli),
            (Record::None, Proof::Broken, Verdict::TidakAsli),
            (valid, Proof::Unknown, Verdict::TidakDapatDipastikan),
            (ended, Proof::Unknown, Verdict::TidakDapatDipastikan),
            (Record::Revoked, Proof::Unknown, Verdict::Dicabut),
            (Record::None, Proof::Unknown, Verdict::TidakDapatDipastikan),
        ];
        for (record, proof, want) in cases {
            assert_eq!(verdict(record, proof, today), want, "{record:?} {proof:?}");
        }
        // The last day of validity is still valid.
        let last_day = Record::Issued {
            expiry: Some(today),
        };
        assert_eq!(verdict(last_day, Proof::Holds, today), Verdict::Asli);
        assert!(Verdict::Asli.vouches());
        assert!(!Verdict::Kedaluwarsa.vouches());
    }

    #[test]
    fn only_signed_and_published_cases_are_issued_documents() {
        for state in DocState::ALL {
            let r = Record::of_case(state, None);
            match state {
                DocState::Signed | DocState::Published => {
                    assert_eq!(r, Record::Issued { expiry: None })
                }
                DocState::Revoked => assert_eq!(r, Record::Revoked),
                _ => assert_eq!(r, Record::None),
            }
        }
    }
}
