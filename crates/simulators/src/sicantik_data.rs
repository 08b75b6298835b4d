//! The simulated SICANTIK data set: permits, permit types, applicants and companies, generated
//! deterministically from a seed, with the quirks real data has (junk names, double spaces,
//! impossible dates, rows without a usable id, permits `cekperizinan` does not know).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Datelike, Duration, NaiveDate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Permit types: (id, name as SICANTIK stores it, group, service days).
pub(crate) const TYPES: &[(&str, &str, &str, &str)] = &[
    ("30", "IZIN PRAKTEK DOKTER UMUM", "Kesehatan", "3"),
    ("31", "IZIN PRAKTEK DOKTER GIGI", "Kesehatan", "3"),
    ("32", "IZIN PRAKTEK BIDAN", "Kesehatan", "3"),
    ("33", "IZIN PRAKTEK PERAWAT", "Kesehatan", "3"),
    ("34", "IZIN APOTEK", "Kesehatan", "7"),
    ("35", "IZIN TOKO OBAT", "Kesehatan", "5"),
    ("36", "IZIN KLINIK PRATAMA", "Kesehatan", "14"),
    ("40", "IZIN USAHA TOKO", "Perdagangan", "3"),
    ("41", "IZIN USAHA MIKRO KECIL", "Perdagangan", "1"),
    (
        "42",
        "SURAT IZIN USAHA PERDAGANGAN (SIUP)",
        "Perdagangan",
        "3",
    ),
    ("43", "TANDA DAFTAR GUDANG", "Perdagangan", "5"),
    ("50", "IZIN GANGGUAN  USAHA (HO)", "Umum", "7"),
    (
        "51",
        "IZIN MENDIRIKAN BANGUNAN (IMB)",
        "Pekerjaan Umum",
        "14",
    ),
    ("52", "PERSETUJUAN BANGUNAN GEDUNG", "Pekerjaan Umum", "14"),
    ("53", "IZIN REKLAME", "Umum", "3"),
    ("60", "IZIN USAHA PARIWISATA", "Pariwisata", "7"),
    ("61", "TANDA DAFTAR USAHA PARIWISATA", "Pariwisata", "5"),
    ("62", "IZIN USAHA HOTEL", "Pariwisata", "10"),
    ("63", "IZIN RUMAH MAKAN", "Pariwisata", "5"),
    ("70", "IZIN USAHA PERKEBUNAN", "Pertanian", "14"),
    ("71", "IZIN USAHA PETERNAKAN", "Pertanian", "14"),
    ("72", "IZIN PENGEDARAN PUPUK", "Pertanian", "7"),
    ("73", "IZIN USAHA HORTIKULTURA", "Pertanian", "7"),
    ("80", "IZIN TRAYEK", "Perhubungan", "7"),
    ("81", "IZIN USAHA ANGKUTAN", "Perhubungan", "7"),
    ("90", "IZIN PENDIRIAN SEKOLAH", "Pendidikan", "14"),
    ("91", "IZIN OPERASIONAL PAUD", "Pendidikan", "14"),
    ("92", "IZIN LEMBAGA KURSUS", "Pendidikan", "14"),
    ("95", "IZIN USAHA JASA KONSTRUKSI", "Pekerjaan Umum", "7"),
    ("96", "IZIN PENGAMBILAN AIR TANAH", "Lingkungan", "14"),
    ("97", "IZIN LINGKUNGAN", "Lingkungan", "21"),
    (
        "98",
        "IZIN PENYIMPANAN SEMENTARA LIMBAH B3",
        "Lingkungan",
        "21",
    ),
];

/// The step chain `permohonan2` serves (status id, name), in order: SICANTIK's own
/// `trstspermohonan` names for an ordinary application.
pub(crate) const TRACKING_STEPS: &[(&str, &str)] = &[
    ("1", "Pendaftaran Permohonan"),
    ("2", "Verifikasi Berkas"),
    ("4", "Survei Lapangan"),
    ("6", "Rapat Tim Teknis"),
    ("9", "Pembuatan Draft Izin"),
    ("11", "Penandatanganan Izin"),
    ("14", "Izin Selesai, Siap Diambil"),
    ("17", "Penyerahan Izin"),
];

const FIRST: &[&str] = &[
    "BUDI",
    "SITI",
    "ANDI",
    "RINA",
    "JOSUA",
    "MARIA",
    "DEWI",
    "AGUS",
    "LINDA",
    "RUDI",
    "SRI",
    "HENDRA",
    "YOHANES",
    "RAHMAT",
    "NOVITA",
    "DANIEL",
    "ELISABETH",
    "FRANS",
    "MARTHA",
    "SAMUEL",
    "dr. ANITA",
    "drg. PUTRI",
    "Ir. JONI",
];
const LAST: &[&str] = &[
    "GINTING",
    "SEMBIRING",
    "TARIGAN",
    "KARO-KARO",
    "PERANGIN-ANGIN",
    "SITEPU",
    "BARUS",
    "SURBAKTI",
    "BANGUN",
    "SINULINGGA",
    "BR GINTING",
    "BR SEMBIRING",
    "BR TARIGAN",
    "KABAN",
    "MELIALA",
    "PANDIA",
];
const KECAMATAN: &[(&str, &str)] = &[
    ("KABANJAHE", "GUNG LETO"),
    ("BERASTAGI", "GUNDALING I"),
    ("TIGAPANAH", "SUKA"),
    ("SIMPANG EMPAT", "SURBAKTI"),
    ("MEREK", "SARIBU DOLOK"),
    ("MUNTE", "MUNTE"),
    ("TIGABINANGA", "TIGABINANGA"),
];
const TYPE_ABBR: &[&str] = &["SIPD", "IUT", "SIUP", "IMB", "HO", "SIPA", "TDUP", "IUP"];

/// What kind of row this is in the lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKind {
    Permit,
    /// A junk row whose `pendaftaran_id` is null, empty or not a number.
    BadId(Option<String>),
}

#[derive(Debug, Clone)]
pub struct SimPermit {
    pub kind: RowKind,
    pub pendaftaran_id: String,
    pub n_pemohon: Option<String>,
    pub type_index: usize,
    pub no_surat: Option<String>,
    pub issued: bool,
    pub d_terima_berkas: NaiveDate,
    pub tgl_surat: Option<NaiveDate>,
    /// Raw as SICANTIK would send it, possibly null, `0000-00-00` or an impossible date.
    pub d_berlaku_izin: Option<String>,
    pub a_pemohon: Option<String>,
    pub telp_pemohon: Option<String>,
    /// Permits without a company record are unknown to `cekperizinan` (its INNER JOINs).
    pub company: Option<String>,
    pub kecamatan: usize,
    /// Whether SICANTIK stored the Base64 of the number (`tmsk.base64`) that `cekperizinan`
    /// compares verbatim; if not, only `cekperizinanizin` finds it.
    pub base64_stored: bool,
}

impl SimPermit {
    pub fn type_name(&self) -> &'static str {
        TYPES[self.type_index].1
    }

    pub fn no_izin(&self) -> Option<String> {
        self.no_surat
            .as_ref()
            .map(|n| STANDARD.encode(n.as_bytes()))
    }

    /// The expiry date a correct client should end up with.
    pub fn expected_expiry(&self) -> Option<NaiveDate> {
        self.d_berlaku_izin
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    }

    /// Which of [`TRACKING_STEPS`] the permit stands at on `today`: an issued permit is ready for
    /// collection, and collected after a while (two in three, by its id, no RNG: the data set
    /// stays what the seed made it); one in process has moved through the chain by the share of
    /// its service days that has passed.
    pub fn tracking_step(&self, today: NaiveDate) -> usize {
        let last = TRACKING_STEPS.len() - 1;
        let salt: u32 = self.pendaftaran_id.bytes().map(u32::from).sum();
        if self.issued {
            let collected_after = 3 + i64::from(salt % 20);
            let issued_on = self.tgl_surat.unwrap_or(self.d_terima_berkas);
            return if !salt.is_multiple_of(3) && (today - issued_on).num_days() >= collected_after {
                last
            } else {
                last - 1
            };
        }
        let days: i64 = TYPES[self.type_index].3.parse().unwrap_or(7);
        let passed = (today - self.d_terima_berkas).num_days().max(0);
        let in_process_steps = (last - 1) as i64; // steps 0 .. last-2 while in process
        (passed * in_process_steps / days.max(1)).clamp(0, in_process_steps - 1) as usize
    }

    /// Whether any look-up (cekperizinan or its fallback) can find this permit.
    pub fn registered(&self) -> bool {
        self.company.is_some() && self.no_surat.is_some()
    }
}

/// Generates data deterministically from one RNG.
pub(crate) struct Generator {
    pub rng: ChaCha8Rng,
    pub quirks: bool,
    seq_per_year: std::collections::HashMap<i32, u32>,
    sk_seq_per_year: std::collections::HashMap<i32, u32>,
}

impl Generator {
    pub fn new(rng: ChaCha8Rng, quirks: bool) -> Self {
        Self {
            rng,
            quirks,
            seq_per_year: Default::default(),
            sk_seq_per_year: Default::default(),
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.gen_range(0..items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    fn applicant_name(&mut self) -> Option<String> {
        if self.quirks {
            let r: f64 = self.rng.r#gen();
            if r < 0.004 {
                return Some("0".into());
            } else if r < 0.008 {
                return Some(String::new());
            } else if r < 0.010 {
                return None;
            } else if r < 0.013 {
                return Some(format!("JOSÉ {}", self.pick(LAST)));
            }
        }
        Some(format!("{} {}", self.pick(FIRST), self.pick(LAST)))
    }

    fn phone(&mut self) -> Option<String> {
        let n: u64 = self.rng.gen_range(10_000_000..99_999_999);
        let prefix = *self.pick(&["812", "813", "821", "852", "853", "877"]);
        match self.rng.gen_range(0..6) {
            0 => Some(format!("0{prefix}{n}")),
            1 => Some(format!("0{prefix} {} {}", n / 10_000, n % 10_000)),
            2 => Some(format!("+62{prefix}-{n}")),
            3 => Some(format!("(0{prefix}) {n}")),
            4 => Some(format!("62.{prefix}.{n}")),
            _ => None,
        }
    }

    /// Issues an SK number for a permit issued on `date`.
    fn sk_number(&mut self, date: NaiveDate) -> String {
        let seq = self.sk_seq_per_year.entry(date.year()).or_insert(0);
        *seq += 1;
        let seq = *seq;
        let abbr = *self.pick(TYPE_ABBR);
        format!("503/{seq:04}/{abbr}/DPM-PTSP/{}", date.year())
    }

    /// Makes the permit issued on `date` (number, expiry, detail quirks).
    pub fn issue(&mut self, p: &mut SimPermit, date: NaiveDate) {
        p.issued = true;
        p.tgl_surat = Some(date);
        p.no_surat = if self.quirks && self.chance(0.003) {
            None
        } else {
            Some(self.sk_number(date))
        };
        let years = self.rng.gen_range(1..=5);
        let expiry = date
            .with_year(date.year() + years)
            .unwrap_or(date + Duration::days(365 * years as i64));
        let r: f64 = self.rng.r#gen();
        p.d_berlaku_izin = if r < 0.05 {
            None
        } else if self.quirks && r < 0.055 {
            Some("0000-00-00".into())
        } else if self.quirks && r < 0.058 {
            Some(format!("{}-02-30", expiry.year()))
        } else {
            Some(expiry.format("%Y-%m-%d").to_string())
        };
    }

    /// A new application received on `date`.
    pub fn permit(&mut self, date: NaiveDate) -> SimPermit {
        let type_index = self.rng.gen_range(0..TYPES.len());
        let seq = self.seq_per_year.entry(date.year()).or_insert(0);
        *seq += 1;
        let seq = *seq;
        let kind = self.pick(&["01", "01", "01", "02", "03"]).to_string();
        let type_id: u32 = TYPES[type_index].0.parse().unwrap_or(0);
        let pendaftaran_id = format!(
            "{seq:05}{type_id:03}{kind}{:02}{:04}",
            date.month(),
            date.year()
        );
        // Health practice permits are personal: no company, so cekperizinan cannot find them.
        let personal = TYPES[type_index].2 == "Kesehatan" && type_index < 4;
        let has_company = !personal && self.chance(0.75);
        let kecamatan = self.rng.gen_range(0..KECAMATAN.len());
        SimPermit {
            kind: RowKind::Permit,
            pendaftaran_id,
            n_pemohon: self.applicant_name(),
            type_index,
            no_surat: None,
            issued: false,
            d_terima_berkas: date,
            tgl_surat: None,
            d_berlaku_izin: None,
            a_pemohon: Some(format!(
                "JL. {} NO. {}, {}",
                self.pick(LAST),
                self.rng.gen_range(1..200),
                KECAMATAN[kecamatan].0
            )),
            telp_pemohon: self.phone(),
            company: has_company.then(|| format!("UD {} {}", self.pick(FIRST), self.pick(LAST))),
            kecamatan,
            base64_stored: self.chance(0.8),
        }
    }

    pub fn bad_row(&mut self, date: NaiveDate) -> SimPermit {
        let mut p = self.permit(date);
        p.kind = RowKind::BadId(match self.rng.gen_range(0..3) {
            0 => None,
            1 => Some(String::new()),
            _ => Some("ABC-123".into()),
        });
        p.issued = self.chance(0.5);
        p
    }
}

pub(crate) fn kecamatan(i: usize) -> (&'static str, &'static str) {
    KECAMATAN[i % KECAMATAN.len()]
}
