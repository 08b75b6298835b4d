//! The Survei Kepuasan Masyarakat (SKM) and its index, the IKM, as Peraturan Menteri PANRB
//! No. 14 Tahun 2017 defines them: nine elements U1–U9, each answered 1–4; the NRR (nilai rata-rata)
//! of an element is the mean of its answers; the IKM is the mean of the nine NRRs × 25 (the
//! regulation's "NRR tertimbang" with the equal weight 1/9, taken exactly here instead of the
//! rounded 0.111); the grade follows from the IKM. `docs/skm.md` has the rules, the wording and
//! a worked example that `tests::worked_example` reproduces. Pure: no I/O.

use std::fmt;

/// The nine elements, in the regulation's order.
pub const ELEMENTS: usize = 9;

/// One element of the survey: its code, name, the question asked and the four answers (score 1
/// to 4), in Bahasa Indonesia and English.
#[derive(Debug, Clone, Copy)]
pub struct Element {
    pub code: &'static str,
    pub name_id: &'static str,
    pub name_en: &'static str,
    pub question_id: &'static str,
    pub question_en: &'static str,
    pub answers_id: [&'static str; 4],
    pub answers_en: [&'static str; 4],
}

/// U1–U9 with the questions the office asks (the regulation's sample questionnaire, plainly worded).
pub const ELEMENT_LIST: [Element; ELEMENTS] = [
    Element {
        code: "U1",
        name_id: "Persyaratan",
        name_en: "Requirements",
        question_id: "Bagaimana kesesuaian persyaratan pelayanan dengan jenis pelayanannya?",
        question_en: "How well do the service's requirements fit the kind of service?",
        answers_id: ["Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"],
        answers_en: [
            "Not suitable",
            "Somewhat suitable",
            "Suitable",
            "Very suitable",
        ],
    },
    Element {
        code: "U2",
        name_id: "Sistem, mekanisme dan prosedur",
        name_en: "System, mechanism and procedure",
        question_id: "Bagaimana kemudahan prosedur pelayanan di unit ini?",
        question_en: "How easy is this office's service procedure?",
        answers_id: ["Tidak mudah", "Kurang mudah", "Mudah", "Sangat mudah"],
        answers_en: ["Not easy", "Somewhat easy", "Easy", "Very easy"],
    },
    Element {
        code: "U3",
        name_id: "Waktu penyelesaian",
        name_en: "Completion time",
        question_id: "Bagaimana kecepatan waktu dalam memberikan pelayanan?",
        question_en: "How fast was the service delivered?",
        answers_id: ["Tidak cepat", "Kurang cepat", "Cepat", "Sangat cepat"],
        answers_en: ["Not fast", "Somewhat fast", "Fast", "Very fast"],
    },
    Element {
        code: "U4",
        name_id: "Biaya/tarif",
        name_en: "Cost/fee",
        question_id: "Bagaimana kewajaran biaya/tarif dalam pelayanan?",
        question_en: "How fair was the cost or fee of the service?",
        answers_id: ["Sangat mahal", "Cukup mahal", "Murah", "Gratis"],
        answers_en: ["Very expensive", "Rather expensive", "Cheap", "Free"],
    },
    Element {
        code: "U5",
        name_id: "Produk spesifikasi jenis pelayanan",
        name_en: "Product of the service",
        question_id: "Bagaimana kesesuaian produk pelayanan antara yang tercantum dalam standar pelayanan dengan hasil yang diberikan?",
        question_en: "How well does what you received match the product the service standard promises?",
        answers_id: ["Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"],
        answers_en: [
            "Not matching",
            "Somewhat matching",
            "Matching",
            "Fully matching",
        ],
    },
    Element {
        code: "U6",
        name_id: "Kompetensi pelaksana",
        name_en: "Staff competence",
        question_id: "Bagaimana kompetensi/kemampuan petugas dalam pelayanan?",
        question_en: "How competent were the staff who served you?",
        answers_id: [
            "Tidak kompeten",
            "Kurang kompeten",
            "Kompeten",
            "Sangat kompeten",
        ],
        answers_en: [
            "Not competent",
            "Somewhat competent",
            "Competent",
            "Very competent",
        ],
    },
    Element {
        code: "U7",
        name_id: "Perilaku pelaksana",
        name_en: "Staff conduct",
        question_id: "Bagaimana perilaku petugas dalam pelayanan terkait kesopanan dan keramahan?",
        question_en: "How polite and friendly were the staff?",
        answers_id: [
            "Tidak sopan dan ramah",
            "Kurang sopan dan ramah",
            "Sopan dan ramah",
            "Sangat sopan dan ramah",
        ],
        answers_en: [
            "Not polite or friendly",
            "Somewhat polite and friendly",
            "Polite and friendly",
            "Very polite and friendly",
        ],
    },
    Element {
        code: "U8",
        name_id: "Sarana dan prasarana",
        name_en: "Facilities",
        question_id: "Bagaimana kualitas sarana dan prasarana pelayanan?",
        question_en: "How good are the service's facilities?",
        answers_id: ["Buruk", "Cukup", "Baik", "Sangat baik"],
        answers_en: ["Poor", "Fair", "Good", "Very good"],
    },
    Element {
        code: "U9",
        name_id: "Penanganan pengaduan, saran dan masukan",
        name_en: "Handling of complaints and suggestions",
        question_id: "Bagaimana penanganan pengaduan pengguna layanan?",
        question_en: "How are complaints from service users handled?",
        answers_id: [
            "Tidak ada",
            "Ada tetapi tidak berfungsi",
            "Berfungsi kurang maksimal",
            "Dikelola dengan baik",
        ],
        answers_en: [
            "There is none",
            "There is one, but it does not work",
            "It works, not fully",
            "Well managed",
        ],
    },
];

/// One respondent's nine scores, each 1–4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scores([u8; ELEMENTS]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SurveyError {
    #[error("{0} must be answered with a score from 1 to 4")]
    OutOfRange(&'static str),
}

impl Scores {
    /// Nine answers in the order U1–U9; any score outside 1–4 is refused.
    pub fn new(scores: [u8; ELEMENTS]) -> Result<Self, SurveyError> {
        for (s, e) in scores.iter().zip(ELEMENT_LIST.iter()) {
            if !(1..=4).contains(s) {
                return Err(SurveyError::OutOfRange(e.code));
            }
        }
        Ok(Scores(scores))
    }

    pub fn get(&self) -> [u8; ELEMENTS] {
        self.0
    }
}

/// The quality grade ("mutu pelayanan") of an IKM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grade {
    A,
    B,
    C,
    D,
}

impl Grade {
    /// A 88.31–100.00, B 76.61–88.30, C 65.00–76.60, D 25.00–64.99, on the IKM rounded to two
    /// decimals (given in hundredths: 8831 is 88.31).
    pub fn of_hundredths(ikm: u32) -> Grade {
        if ikm >= 8831 {
            Grade::A
        } else if ikm >= 7661 {
            Grade::B
        } else if ikm >= 6500 {
            Grade::C
        } else {
            Grade::D
        }
    }

    pub fn letter(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
        }
    }

    /// The regulation's words for the grade ("kinerja unit pelayanan").
    pub fn label(self, english: bool) -> &'static str {
        match (self, english) {
            (Grade::A, false) => "Sangat Baik",
            (Grade::B, false) => "Baik",
            (Grade::C, false) => "Kurang Baik",
            (Grade::D, false) => "Tidak Baik",
            (Grade::A, true) => "Very good",
            (Grade::B, true) => "Good",
            (Grade::C, true) => "Not good",
            (Grade::D, true) => "Poor",
        }
    }

    /// The grade's IKM interval, as printed in the regulation.
    pub fn interval(self) -> &'static str {
        match self {
            Grade::A => "88,31 – 100,00",
            Grade::B => "76,61 – 88,30",
            Grade::C => "65,00 – 76,60",
            Grade::D => "25,00 – 64,99",
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letter())
    }
}

/// Sums of the answers per element and the number of respondents: all an IKM needs, and what a
/// report can add up across months or permit types without losing precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub respondents: u64,
    pub sums: [u64; ELEMENTS],
}

impl Tally {
    pub fn add(&mut self, s: &Scores) {
        self.respondents += 1;
        for (sum, v) in self.sums.iter_mut().zip(s.0.iter()) {
            *sum += u64::from(*v);
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.respondents += other.respondents;
        for (a, b) in self.sums.iter_mut().zip(other.sums.iter()) {
            *a += b;
        }
    }

    pub fn of(responses: &[Scores]) -> Tally {
        let mut t = Tally::default();
        for s in responses {
            t.add(s);
        }
        t
    }

    /// The index, or `None` without respondents.
    pub fn index(&self) -> Option<Index> {
        if self.respondents == 0 {
            return None;
        }
        let n = self.respondents;
        let mut nrr = [0.0; ELEMENTS];
        for (out, sum) in nrr.iter_mut().zip(self.sums.iter()) {
            *out = *sum as f64 / n as f64;
        }
        let total: u64 = self.sums.iter().sum();
        // IKM = (Σ NRR / 9) × 25 = 25 × total / (9 n); in hundredths, rounded half up, exactly.
        let den = 9 * n;
        let hundredths = (2500 * total * 2 + den) / (2 * den);
        let hundredths = u32::try_from(hundredths).unwrap_or(u32::MAX);
        Some(Index {
            respondents: n,
            nrr,
            ikm_hundredths: hundredths,
            grade: Grade::of_hundredths(hundredths),
        })
    }
}

/// A computed index: the NRR of every element, the IKM and its grade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Index {
    pub respondents: u64,
    /// The mean score (1–4) of U1–U9.
    pub nrr: [f64; ELEMENTS],
    /// The IKM rounded to two decimals, in hundredths (8000 is 80.00).
    pub ikm_hundredths: u32,
    pub grade: Grade,
}

impl Index {
    /// The IKM as a number (rounded to two decimals).
    pub fn ikm(&self) -> f64 {
        f64::from(self.ikm_hundredths) / 100.0
    }

    /// The IKM with two decimals and a decimal comma, as Indonesian reports print it.
    pub fn ikm_text(&self) -> String {
        format_hundredths(self.ikm_hundredths)
    }

    /// The mean of the nine NRRs (the "nilai persepsi", 1–4).
    pub fn mean_nrr(&self) -> f64 {
        self.nrr.iter().sum::<f64>() / ELEMENTS as f64
    }
}

/// 8000 → "80,00".
pub fn format_hundredths(h: u32) -> String {
    format!("{},{:02}", h / 100, h % 100)
}

/// A value with `decimals` decimals and a decimal comma.
pub fn decimal_comma(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}").replace('.', ",")
}

/// The respondent profile the regulation's questionnaire lists: every field optional.
pub const AGE_BANDS: [&str; 5] = ["<20", "20-29", "30-39", "40-49", ">=50"];
pub const SEXES: [(&str, &str, &str); 2] =
    [("L", "Laki-laki", "Male"), ("P", "Perempuan", "Female")];
pub const EDUCATION: [(&str, &str, &str); 6] = [
    ("sd", "SD ke bawah", "Primary school or less"),
    ("smp", "SMP", "Junior high school"),
    ("sma", "SMA/SMK", "Senior high school"),
    ("d3", "D1–D3", "Diploma"),
    ("s1", "D4/S1", "Bachelor"),
    ("s2", "S2 ke atas", "Master or higher"),
];
pub const OCCUPATIONS: [(&str, &str, &str); 6] = [
    ("pns", "PNS/TNI/Polri", "Civil servant, military, police"),
    ("swasta", "Pegawai swasta", "Private employee"),
    ("wirausaha", "Wirausaha", "Self-employed"),
    ("pelajar", "Pelajar/Mahasiswa", "Student"),
    ("rumah-tangga", "Ibu/Bapak rumah tangga", "Homemaker"),
    ("lainnya", "Lainnya", "Other"),
];

/// A profile answer is kept only when it is one of the listed codes.
pub fn profile_value(list: &[&str], value: &str) -> Option<String> {
    list.iter().find(|c| **c == value).map(|c| c.to_string())
}

/// The report period: a month, a semester (1: January–June, 2: July–December) or a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month { year: i32, month: u32 },
    Semester { year: i32, half: u32 },
    Year { year: i32 },
}

impl Period {
    /// The first day and the day after the last.
    pub fn range(self) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
        use chrono::NaiveDate;
        let (from, to) = match self {
            Period::Month { year, month } => {
                let from = NaiveDate::from_ymd_opt(year, month, 1)?;
                let to = if month == 12 {
                    NaiveDate::from_ymd_opt(year + 1, 1, 1)?
                } else {
                    NaiveDate::from_ymd_opt(year, month + 1, 1)?
                };
                (from, to)
            }
            Period::Semester { year, half } => match half {
                1 => (
                    NaiveDate::from_ymd_opt(year, 1, 1)?,
                    NaiveDate::from_ymd_opt(year, 7, 1)?,
                ),
                2 => (
                    NaiveDate::from_ymd_opt(year, 7, 1)?,
                    NaiveDate::from_ymd_opt(year + 1, 1, 1)?,
                ),
                _ => return None,
            },
            Period::Year { year } => (
                NaiveDate::from_ymd_opt(year, 1, 1)?,
                NaiveDate::from_ymd_opt(year + 1, 1, 1)?,
            ),
        };
        Some((from, to))
    }

    /// "Desember 2026", "Semester II 2026", "Tahun 2026" (or in English).
    pub fn label(self, english: bool) -> String {
        const ID: [&str; 12] = [
            "Januari",
            "Februari",
            "Maret",
            "April",
            "Mei",
            "Juni",
            "Juli",
            "Agustus",
            "September",
            "Oktober",
            "November",
            "Desember",
        ];
        const EN: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        match self {
            Period::Month { year, month } => {
                let names = if english { EN } else { ID };
                let name = names
                    .get(month.saturating_sub(1) as usize)
                    .copied()
                    .unwrap_or("?");
                format!("{name} {year}")
            }
            Period::Semester { year, half } => {
                let roman = if half == 1 { "I" } else { "II" };
                format!("Semester {roman} {year}")
            }
            Period::Year { year } => {
                if english {
                    format!("Year {year}")
                } else {
                    format!("Tahun {year}")
                }
            }
        }
    }
}

/// How long an invitation's link stays open.
pub const LINK_DAYS: i64 = 30;

/// A new survey link token (256 random bits, URL-safe) and the SHA-256 hex kept of it.
pub fn new_token() -> (String, String) {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// What the database keeps of a link's token.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The worked example of docs/skm.md, respondent by respondent (U1–U9).
    const WORKED: [[u8; 9]; 10] = [
        [3, 3, 3, 4, 3, 3, 4, 3, 3],
        [4, 3, 3, 4, 3, 4, 4, 3, 3],
        [3, 3, 2, 4, 3, 3, 3, 3, 2],
        [3, 4, 3, 4, 4, 3, 4, 3, 3],
        [4, 3, 3, 4, 3, 3, 3, 2, 3],
        [3, 3, 2, 4, 3, 4, 4, 3, 3],
        [3, 2, 3, 4, 3, 3, 3, 3, 3],
        [4, 3, 3, 4, 4, 3, 4, 3, 4],
        [3, 3, 3, 4, 3, 3, 3, 3, 3],
        [3, 3, 2, 4, 3, 3, 4, 3, 2],
    ];

    #[test]
    fn worked_example() {
        let responses: Vec<Scores> = WORKED.iter().map(|r| Scores::new(*r).unwrap()).collect();
        let t = Tally::of(&responses);
        assert_eq!(t.sums, [33, 30, 27, 40, 32, 32, 36, 29, 29]);
        let i = t.index().unwrap();
        let nrr: Vec<String> = i.nrr.iter().map(|v| decimal_comma(*v, 2)).collect();
        assert_eq!(
            nrr,
            [
                "3,30", "3,00", "2,70", "4,00", "3,20", "3,20", "3,60", "2,90", "2,90"
            ]
        );
        assert_eq!(decimal_comma(i.mean_nrr(), 2), "3,20");
        assert_eq!(i.ikm_text(), "80,00");
        assert_eq!(i.grade, Grade::B);
        assert_eq!(i.grade.label(false), "Baik");
    }

    #[test]
    fn out_of_range_scores_are_refused() {
        assert_eq!(
            Scores::new([1, 2, 3, 4, 5, 1, 1, 1, 1]),
            Err(SurveyError::OutOfRange("U5"))
        );
        assert_eq!(
            Scores::new([0, 2, 3, 4, 4, 1, 1, 1, 1]),
            Err(SurveyError::OutOfRange("U1"))
        );
        assert!(Tally::default().index().is_none());
    }

    #[test]
    fn extremes() {
        let all = |v| Tally::of(&[Scores::new([v; 9]).unwrap()]).index().unwrap();
        assert_eq!(
            (all(4).ikm_text(), all(4).grade),
            ("100,00".into(), Grade::A)
        );
        assert_eq!(
            (all(1).ikm_text(), all(1).grade),
            ("25,00".into(), Grade::D)
        );
        assert_eq!(all(3).ikm_text(), "75,00");
        assert_eq!(all(3).grade, Grade::C);
    }

    /// Every IKM from 25.00 to 100.00 lands in exactly the interval the regulation prints, and a
    /// higher IKM never gets a lower grade.
    #[test]
    fn grade_boundaries_property() {
        let intervals = [
            (Grade::D, 2500, 6499),
            (Grade::C, 6500, 7660),
            (Grade::B, 7661, 8830),
            (Grade::A, 8831, 10000),
        ];
        let mut previous = Grade::D;
        for h in 2500..=10000u32 {
            let g = Grade::of_hundredths(h);
            let hits: Vec<_> = intervals
                .iter()
                .filter(|(_, lo, hi)| (*lo..=*hi).contains(&h))
                .collect();
            assert_eq!(hits.len(), 1, "{h}");
            assert_eq!(hits[0].0, g, "{h}");
            assert!(g <= previous, "{h}: {g} after {previous}");
            previous = g;
        }
        // The edges themselves.
        for (h, g) in [
            (8831, Grade::A),
            (8830, Grade::B),
            (7661, Grade::B),
            (7660, Grade::C),
            (6500, Grade::C),
            (6499, Grade::D),
        ] {
            assert_eq!(Grade::of_hundredths(h), g, "{h}");
        }
    }

    /// Random surveys: the exact integer IKM agrees with the floating-point mean of the NRRs × 25
    /// (to the rounding), stays within 25–100, and its grade is the interval's.
    #[test]
    fn random_surveys_property() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(14_2017);
        for _ in 0..2000 {
            let n = rng.gen_range(1..200);
            let responses: Vec<Scores> = (0..n)
                .map(|_| {
                    let mut s = [0u8; 9];
                    for v in s.iter_mut() {
                        *v = rng.gen_range(1..=4);
                    }
                    Scores::new(s).unwrap()
                })
                .collect();
            let i = Tally::of(&responses).index().unwrap();
            let float = i.nrr.iter().sum::<f64>() / 9.0 * 25.0;
            assert!((f64::from(i.ikm_hundredths) / 100.0 - float).abs() <= 0.005 + 1e-9);
            assert!((2500..=10000).contains(&i.ikm_hundredths));
            assert_eq!(i.grade, Grade::of_hundredths(i.ikm_hundredths));
            // Merging halves gives the same index as the whole.
            let (a, b) = responses.split_at(responses.len() / 2);
            let mut t = Tally::of(a);
            t.merge(&Tally::of(b));
            assert_eq!(t, Tally::of(&responses));
        }
    }

    #[test]
    fn periods() {
        let p = Period::Semester {
            year: 2026,
            half: 2,
        };
        let (from, to) = p.range().unwrap();
        assert_eq!(from.to_string(), "2026-07-01");
        assert_eq!(to.to_string(), "2027-01-01");
        assert_eq!(p.label(false), "Semester II 2026");
        let m = Period::Month {
            year: 2026,
            month: 12,
        };
        assert_eq!(m.range().unwrap().1.to_string(), "2027-01-01");
        assert_eq!(m.label(false), "Desember 2026");
        assert!(
            Period::Month {
                year: 2026,
                month: 13
            }
            .range()
            .is_none()
        );
    }
}
