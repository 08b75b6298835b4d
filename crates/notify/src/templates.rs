//! The seven notification events, their variables, and their texts in Bahasa Indonesia and
//! English. Texts use `{variable}` placeholders; every event knows its variables, so a text with
//! an unknown variable (or one missing a required one) is refused when staff save it, not when
//! a message is sent. For providers with approved templates (Meta and the BSPs), each event maps
//! to a template name whose body parameters are the event's variables in order.

use std::collections::BTreeMap;

/// The events that send WhatsApp messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// (1) The signed permit is ready — applicant, with the download link.
    PermitReady,
    /// (2) Documents awaiting signature — staff digest with the count.
    AwaitingSignature,
    /// (3) A document needs the official's approval.
    ApprovalRequired,
    /// (4) A permit's status changed — applicant and the responsible staff.
    StatusChanged,
    /// (5) A document has waited more than 24 hours — reminder to the responsible staff.
    PendingReminder,
    /// (6) The permit expires in 90, 60 or 30 days — applicant, with the renewal link.
    ExpiryReminder,
    /// (7) A renewal was approved — applicant, with the new number and validity.
    RenewalApproved,
}

/// One variable of an event: its name in texts, what it means, and a sample for previews.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    pub name: &'static str,
    pub label: &'static str,
    pub sample: &'static str,
}

impl Event {
    pub const ALL: [Event; 7] = [
        Event::PermitReady,
        Event::AwaitingSignature,
        Event::ApprovalRequired,
        Event::StatusChanged,
        Event::PendingReminder,
        Event::ExpiryReminder,
        Event::RenewalApproved,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Event::PermitReady => "permit_ready",
            Event::AwaitingSignature => "awaiting_signature",
            Event::ApprovalRequired => "approval_required",
            Event::StatusChanged => "status_changed",
            Event::PendingReminder => "pending_reminder",
            Event::ExpiryReminder => "expiry_reminder",
            Event::RenewalApproved => "renewal_approved",
        }
    }

    pub fn parse(key: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.key() == key)
    }

    /// The event's name for staff.
    pub fn label(self) -> &'static str {
        match self {
            Event::PermitReady => "Izin selesai (siap diunduh)",
            Event::AwaitingSignature => "Dokumen menunggu tanda tangan (ringkasan staf)",
            Event::ApprovalRequired => "Perlu persetujuan pejabat",
            Event::StatusChanged => "Perubahan status",
            Event::PendingReminder => "Pengingat: tertunda lebih dari 24 jam",
            Event::ExpiryReminder => "Izin akan berakhir (90/60/30 hari)",
            Event::RenewalApproved => "Perpanjangan disetujui",
        }
    }

    /// The approved template's name at Meta (and the BSPs wrapping it), `izin_…` as the office
    /// registered them.
    pub fn provider_template(self) -> &'static str {
        match self {
            Event::PermitReady => "izin_selesai_diproses",
            Event::AwaitingSignature => "izin_menunggu_tte",
            Event::ApprovalRequired => "izin_perlu_persetujuan",
            Event::StatusChanged => "izin_update_status",
            Event::PendingReminder => "izin_pengingat_tertunda",
            Event::ExpiryReminder => "izin_peringatan_berlaku",
            Event::RenewalApproved => "izin_perpanjangan_disetujui",
        }
    }

    /// Whether the recipients are applicants (consent and quiet hours apply) or staff.
    pub fn to_applicant(self) -> bool {
        matches!(
            self,
            Event::PermitReady
                | Event::StatusChanged
                | Event::ExpiryReminder
                | Event::RenewalApproved
        )
    }

    /// The event's variables, in the order of the provider template's parameters.
    pub fn variables(self) -> &'static [Variable] {
        match self {
            Event::PermitReady => &[
                Variable {
                    name: "nama",
                    label: "Nama pemohon",
                    sample: "Budi Ginting",
                },
                Variable {
                    name: "jenis_izin",
                    label: "Jenis izin",
                    sample: "Izin Usaha Toko",
                },
                Variable {
                    name: "nomor_izin",
                    label: "Nomor izin",
                    sample: "503/0142/DPMPTSP/2025",
                },
                Variable {
                    name: "tanggal_terbit",
                    label: "Tanggal terbit",
                    sample: "02-12-2026",
                },
                Variable {
                    name: "tautan",
                    label: "Tautan unduh dokumen (bertanda tangan, atau hasil pindaian surat)",
                    sample: "https://izin.karokab.go.id/v/ACDEFGHJKLMN/unduh",
                },
            ],
            Event::AwaitingSignature => &[
                Variable {
                    name: "nama",
                    label: "Nama staf",
                    sample: "Rina Sembiring",
                },
                Variable {
                    name: "jumlah",
                    label: "Jumlah dokumen menunggu tanda tangan",
                    sample: "2",
                },
                Variable {
                    name: "daftar",
                    label: "Daftar dokumen (jenis izin - pemohon, nomor pendaftaran)",
                    sample: "1. Izin Usaha Toko - Budi Ginting No: 0142307703072025; 2. Izin Reklame - CV Maju No: 0150300102102025",
                },
                Variable {
                    name: "belum_diunggah",
                    label: "Izin terbit yang PDF-nya belum diunggah",
                    sample: "3",
                },
                Variable {
                    name: "tautan",
                    label: "Tautan halaman TTE",
                    sample: "https://izin.karokab.go.id/tte",
                },
            ],
            Event::ApprovalRequired => &[
                Variable {
                    name: "nama",
                    label: "Nama pejabat",
                    sample: "Drs. Sahat Tarigan",
                },
                Variable {
                    name: "jenis_izin",
                    label: "Jenis izin",
                    sample: "Izin Usaha Toko",
                },
                Variable {
                    name: "nomor_izin",
                    label: "Nomor izin",
                    sample: "503/0142/DPMPTSP/2025",
                },
                Variable {
                    name: "pemohon",
                    label: "Nama pemohon",
                    sample: "Budi Ginting",
                },
                Variable {
                    name: "tautan",
                    label: "Tautan dokumen",
                    sample: "https://izin.karokab.go.id/dokumen/42",
                },
            ],
            Event::StatusChanged => &[
                Variable {
                    name: "nama",
                    label: "Nama penerima",
                    sample: "Budi Ginting",
                },
                Variable {
                    name: "nomor_pendaftaran",
                    label: "Nomor pendaftaran",
                    sample: "0142307703072025",
                },
                Variable {
                    name: "jenis_izin",
                    label: "Jenis izin",
                    sample: "Izin Usaha Toko",
                },
                Variable {
                    name: "status_lama",
                    label: "Status sebelumnya",
                    sample: "sedang diproses",
                },
                Variable {
                    name: "status",
                    label: "Status baru",
                    sample: "izin telah terbit",
                },
                Variable {
                    name: "keterangan",
                    label: "Keterangan (alasan penolakan atau pencabutan)",
                    sample: "—",
                },
                Variable {
                    name: "waktu",
                    label: "Waktu perubahan (waktu kantor)",
                    sample: "02-12-2026 09:15 WIB",
                },
                Variable {
                    name: "tautan",
                    label: "Tautan rincian",
                    sample: "https://izin.karokab.go.id/v/ACDEFGHJKLMN",
                },
            ],
            Event::PendingReminder => &[
                Variable {
                    name: "nama",
                    label: "Nama staf",
                    sample: "Rina Sembiring",
                },
                Variable {
                    name: "nomor_pendaftaran",
                    label: "Nomor pendaftaran",
                    sample: "0142307703072025",
                },
                Variable {
                    name: "jenis_izin",
                    label: "Jenis izin",
                    sample: "Izin Usaha Toko",
                },
                Variable {
                    name: "status",
                    label: "Tahap yang tertunda",
                    sample: "menunggu persetujuan",
                },
                Variable {
                    name: "jam",
                    label: "Lama tertunda (jam)",
                    sample: "26",
                },
                Variable {
                    name: "sejak",
                    label: "Tertunda sejak (waktu kantor)",
                    sample: "01-12-2026 07:30 WIB",
                },
                Variable {
                    name: "tautan",
                    label: "Tautan dokumen",
                    sample: "https://izin.karokab.go.id/dokumen/42",
                },
            ],
            Event::ExpiryReminder => &[
                Variable {
                    name: "nama",
                    label: "Nama pemohon",
                    sample: "Budi Ginting",
                },
                Variable {
                    name: "jenis_izin",
                    label: "Jenis izin",
                    sample: "Izin Usaha Toko",
                },
                Variable {
                    name: "nomor_izin",
                    label: "Nomor izin",
                    sample: "503/0142/DPMPTSP/2025",
                },
                Variable {
                    name: "berlaku_sampai",
                    label: "Tanggal berakhir",
                    sample: "31-12-2026",
                },
                Variable {
                    name: "sisa_hari",
                    label: "Sisa hari",
                    sample: "30",
                },
                Variable {
                    name: "tautan_perpanjangan",
                    label: "Tautan perpanjangan",
                    sample: "https://perizinan.karokab.go.id",
                },
                Variable {
                    name: "kontak_kantor",
                    label: "Kontak kantor",
                    sample: "DPMPTSP Kabupaten Karo, (0628) 20123",
                },
            ],
            Event::RenewalApproved => &[
                Variable {
                    name: "nama",
                    label: "Nama pemohon",
                    sample: "Budi Ginting",
                },
                Variable {
                    name: "jenis_izin",
                    label: "Jenis izin",
                    sample: "Izin Usaha Toko",
                },
                Variable {
                    name: "nomor_izin_baru",
                    label: "Nomor izin baru",
                    sample: "503/0311/DPMPTSP/2026",
                },
                Variable {
                    name: "berlaku_mulai",
                    label: "Berlaku mulai",
                    sample: "01-01-2027",
                },
                Variable {
                    name: "berlaku_sampai",
                    label: "Berlaku sampai",
                    sample: "31-12-2031",
                },
                Variable {
                    name: "masa_berlaku",
                    label: "Masa berlaku (tahun)",
                    sample: "5",
                },
                Variable {
                    name: "nomor_izin_lama",
                    label: "Nomor izin lama",
                    sample: "503/0142/DPMPTSP/2025",
                },
                Variable {
                    name: "tautan",
                    label: "Tautan unduh surat izin baru",
                    sample: "https://izin.karokab.go.id/v/ACDEFGHJKLMN/unduh",
                },
            ],
        }
    }

    /// The default text in `language` (`id` or `en`).
    pub fn default_text(self, language: &str) -> &'static str {
        let en = language == "en";
        match (self, en) {
            (Event::PermitReady, false) => {
                "Yth. {nama}, izin Anda ({jenis_izin}) nomor {nomor_izin} tanggal {tanggal_terbit} telah selesai diproses. Dokumen dapat diambil di kantor atau diunduh: {tautan} Verifikasi dokumen: pindai kode QR pada dokumen. Terima kasih, DPMPTSP Kabupaten Karo"
            }
            (Event::PermitReady, true) => {
                "Dear {nama}, your permit ({jenis_izin}) number {nomor_izin} of {tanggal_terbit} is ready. Collect it at the office or download it: {tautan} To verify it, scan the QR code on the document. Thank you, DPMPTSP Kabupaten Karo"
            }
            (Event::AwaitingSignature, false) => {
                "Halo {nama}, ada {jumlah} dokumen izin menunggu tanda tangan elektronik: {daftar}. Izin terbit yang PDF-nya belum diunggah: {belum_diunggah}. Proses melalui: {tautan}"
            }
            (Event::AwaitingSignature, true) => {
                "Hello {nama}, {jumlah} permit documents await an electronic signature: {daftar}. Issued permits without an uploaded PDF: {belum_diunggah}. Open: {tautan}"
            }
            (Event::ApprovalRequired, false) => {
                "Yth. {nama}, dokumen {jenis_izin} nomor {nomor_izin} atas nama {pemohon} menunggu persetujuan Bapak/Ibu: {tautan}"
            }
            (Event::ApprovalRequired, true) => {
                "Dear {nama}, the {jenis_izin} document number {nomor_izin} for {pemohon} awaits your approval: {tautan}"
            }
            (Event::StatusChanged, false) => {
                "Yth. {nama}, status permohonan {jenis_izin} nomor pendaftaran {nomor_pendaftaran}: {status_lama} → {status}. Keterangan: {keterangan}. Waktu: {waktu}. Rincian: {tautan}"
            }
            (Event::StatusChanged, true) => {
                "Dear {nama}, the status of the {jenis_izin} application {nomor_pendaftaran}: {status_lama} → {status}. Note: {keterangan}. Time: {waktu}. Details: {tautan}"
            }
            (Event::PendingReminder, false) => {
                "Halo {nama}, dokumen {jenis_izin} nomor pendaftaran {nomor_pendaftaran} sudah {jam} jam {status} (sejak {sejak}). Mohon segera diproses: {tautan}"
            }
            (Event::PendingReminder, true) => {
                "Hello {nama}, the {jenis_izin} document {nomor_pendaftaran} has been {status} for {jam} hours (since {sejak}). Please act on it: {tautan}"
            }
            (Event::ExpiryReminder, false) => {
                "Yth. {nama}, izin {jenis_izin} nomor {nomor_izin} berakhir pada {berlaku_sampai} ({sisa_hari} hari lagi). Ajukan perpanjangan di {tautan_perpanjangan}. Informasi: {kontak_kantor}"
            }
            (Event::ExpiryReminder, true) => {
                "Dear {nama}, your {jenis_izin} permit number {nomor_izin} expires on {berlaku_sampai} (in {sisa_hari} days). Apply for renewal at {tautan_perpanjangan}. Contact: {kontak_kantor}"
            }
            (Event::RenewalApproved, false) => {
                "Yth. {nama}, perpanjangan izin {jenis_izin} Anda disetujui. Nomor izin baru {nomor_izin_baru}, berlaku {berlaku_mulai} s/d {berlaku_sampai} (masa berlaku {masa_berlaku} tahun), menggantikan {nomor_izin_lama}. Dokumen dapat diambil di kantor atau diunduh: {tautan} Verifikasi dokumen: pindai kode QR pada dokumen. Terima kasih atas kepatuhan Anda."
            }
            (Event::RenewalApproved, true) => {
                "Dear {nama}, the renewal of your {jenis_izin} permit is approved. New permit number {nomor_izin_baru}, valid {berlaku_mulai} to {berlaku_sampai} ({masa_berlaku} years), replacing {nomor_izin_lama}. Collect it at the office or download it: {tautan} To verify it, scan the QR code on the document. Thank you for your compliance."
            }
        }
    }

    /// Sample values for previews.
    pub fn sample(self) -> Values {
        self.variables()
            .iter()
            .map(|v| (v.name.to_string(), v.sample.to_string()))
            .collect()
    }
}

pub type Values = BTreeMap<String, String>;

pub const LANGUAGES: [&str; 2] = ["id", "en"];

/// Why a text was refused, for the staff's template form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("variabel tidak dikenal untuk peristiwa ini: {{{0}}}")]
    UnknownVariable(String),
    #[error("kurung kurawal tidak seimbang di dekat \"{0}\"")]
    Unbalanced(String),
    #[error("teks kosong")]
    Empty,
    #[error("teks terlalu panjang ({0} karakter; paling banyak 1.024)")]
    TooLong(usize),
    #[error("nilai untuk {{{0}}} tidak tersedia")]
    MissingValue(String),
}

enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn pieces(text: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err(TemplateError::Unbalanced(snippet(&rest[open..])));
        }
        out.push(Piece::Text(&rest[..open]));
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| TemplateError::Unbalanced(snippet(&rest[open..])))?;
        let name = &after[..close];
        if name.contains('{') {
            return Err(TemplateError::Unbalanced(snippet(&rest[open..])));
        }
        out.push(Piece::Var(name.trim()));
        rest = &after[close + 1..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

fn snippet(s: &str) -> String {
    s.chars().take(20).collect()
}

/// Checks a text for `event` as staff save it: every `{variable}` must be the event's.
pub fn validate(event: Event, text: &str) -> Result<(), TemplateError> {
    if text.trim().is_empty() {
        return Err(TemplateError::Empty);
    }
    let len = text.chars().count();
    if len > 1024 {
        return Err(TemplateError::TooLong(len));
    }
    for p in pieces(text)? {
        if let Piece::Var(name) = p
            && !event.variables().iter().any(|v| v.name == name)
        {
            return Err(TemplateError::UnknownVariable(name.to_string()));
        }
    }
    Ok(())
}

/// Fills a validated text with `values`.
pub fn render(text: &str, values: &Values) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len() + 64);
    for p in pieces(text)? {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => out.push_str(
                values
                    .get(name)
                    .ok_or_else(|| TemplateError::MissingValue(name.to_string()))?,
            ),
        }
    }
    Ok(out)
}

/// The provider template's body parameters: the event's variables in order.
pub fn parameters(event: Event, values: &Values) -> Vec<String> {
    event
        .variables()
        .iter()
        .map(|v| values.get(v.name).cloned().unwrap_or_default())
        .collect()
}

/// `text` with Meta's numbered placeholders (`{{1}}`, `{{2}}`…) in the order of the event's
/// variables: the body the office registers for the event's approved template.
pub fn numbered(event: Event, text: &str) -> String {
    let mut out = text.to_string();
    for (i, v) in event.variables().iter().enumerate() {
        out = out.replace(&format!("{{{}}}", v.name), &format!("{{{{{}}}}}", i + 1));
    }
    out
}

/// The texts in use: the defaults, replaced where staff edited them.
#[derive(Debug, Clone, Default)]
pub struct TemplateSet {
    edited: BTreeMap<(Event, String), String>,
}

impl TemplateSet {
    pub fn with_edits(edits: impl IntoIterator<Item = (Event, String, String)>) -> Self {
        TemplateSet {
            edited: edits
                .into_iter()
                .filter(|(e, _, body)| validate(*e, body).is_ok())
                .map(|(e, lang, body)| ((e, lang), body))
                .collect(),
        }
    }

    pub fn text(&self, event: Event, language: &str) -> &str {
        let language = if LANGUAGES.contains(&language) {
            language
        } else {
            "id"
        };
        self.edited
            .get(&(event, language.to_string()))
            .map(String::as_str)
            .unwrap_or_else(|| event.default_text(language))
    }

    pub fn render(
        &self,
        event: Event,
        language: &str,
        values: &Values,
    ) -> Result<String, TemplateError> {
        render(self.text(event, language), values)
    }
}

/// The survey invitation (issue 24, docs/skm.md): sent once to an opted-in applicant after the
/// permit is published, with the link to `/survei/<token>`. Kept apart from [`Event`] (the seven
/// events' enum): its message rows carry `event = "survey_invitation"`, audience `applicant`.
pub mod survey_invitation {
    /// The message row's `event`.
    pub const EVENT: &str = "survey_invitation";
    /// The approved template's name at Meta and the BSPs.
    pub const PROVIDER_TEMPLATE: &str = "izin_survei_kepuasan";
    /// The template's body parameters, in order.
    pub const VARIABLES: [&str; 3] = ["nama", "jenis_izin", "tautan"];

    /// The default text with `{variable}` placeholders.
    pub fn default_text(language: &str) -> &'static str {
        match language {
            "en" => {
                "Hello {nama}, your permit ({jenis_izin}) has been completed by DPMPTSP Kabupaten Karo. Please rate our service in 2 minutes (9 short questions, anonymous): {tautan} — one answer per application, the link is valid for 30 days."
            }
            _ => {
                "Halo {nama}, izin Anda ({jenis_izin}) telah selesai diproses DPMPTSP Kabupaten Karo. Mohon nilai pelayanan kami dalam 2 menit (9 pertanyaan singkat, anonim): {tautan} — satu jawaban per permohonan, tautan berlaku 30 hari."
            }
        }
    }

    /// The text with Meta's numbered placeholders (`{{1}}`…), as registered.
    pub fn numbered(language: &str) -> String {
        let mut t = default_text(language).to_string();
        for (i, v) in VARIABLES.iter().enumerate() {
            t = t.replace(&format!("{{{v}}}"), &format!("{{{{{}}}}}", i + 1));
        }
        t
    }

    /// The message body and the template parameters (in [`VARIABLES`] order).
    pub fn render(
        language: &str,
        name: &str,
        permit_type: &str,
        link: &str,
    ) -> (String, Vec<String>) {
        let values = [name, permit_type, link];
        let mut body = default_text(language).to_string();
        for (v, value) in VARIABLES.iter().zip(values) {
            body = body.replace(&format!("{{{v}}}"), value);
        }
        (body, values.iter().map(|v| v.to_string()).collect())
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn renders_both_languages_with_every_variable() {
            for lang in ["id", "en"] {
                let (body, params) =
                    super::render(lang, "Budi", "Izin Usaha Toko", "https://x/survei/T");
                assert!(
                    body.contains("Budi") && body.contains("https://x/survei/T"),
                    "{body}"
                );
                assert!(!body.contains('{'), "{body}");
                assert_eq!(params.len(), 3);
                let n = super::numbered(lang);
                assert!(n.contains("{{1}}") && n.contains("{{3}}"), "{n}");
            }
        }
    }
}

/// What an outbox row is, read once from its `event` column: one of the seven events, the
/// survey invitation, a security alert to administrators and officials, or — anything else — a
/// free-form reply to the person's own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Event(Event),
    SurveyInvitation,
    Security(security_alert::Signal),
    Reply,
}

impl MessageKind {
    pub fn parse(event: &str) -> MessageKind {
        if let Some(e) = Event::parse(event) {
            MessageKind::Event(e)
        } else if event == survey_invitation::EVENT {
            MessageKind::SurveyInvitation
        } else if let Some(s) = security_alert::Signal::parse(event) {
            MessageKind::Security(s)
        } else {
            MessageKind::Reply
        }
    }

    /// The seven events' enum, for this row.
    pub fn event(self) -> Option<Event> {
        match self {
            MessageKind::Event(e) => Some(e),
            _ => None,
        }
    }
}

/// Security alerts (issue 18, docs/security.md "Security alerts on WhatsApp"): the signals the
/// dashboard's "Peringatan keamanan" shows, sent to every active administrator and official
/// with a number. Two signals, each its own approved template; the texts are fixed (not edited on
/// `/pesan/templat`) and never carry a password or any other secret.
pub mod security_alert {
    use super::{TemplateError, Values, render};

    /// What happened.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Signal {
        /// An existing account's username failed to sign in at least
        /// `companion_domain::security::ATTACK_FAILURES` times in 24 hours.
        LoginFlood,
        /// An account was given the official or administrator role.
        PrivilegedGrant,
    }

    impl Signal {
        pub const ALL: [Signal; 2] = [Signal::LoginFlood, Signal::PrivilegedGrant];

        /// The message row's `event`.
        pub fn key(self) -> &'static str {
            match self {
                Signal::LoginFlood => "security_login_flood",
                Signal::PrivilegedGrant => "security_role_grant",
            }
        }

        pub fn parse(key: &str) -> Option<Signal> {
            Signal::ALL.into_iter().find(|s| s.key() == key)
        }

        /// The signal's name for staff (`/pesan`).
        pub fn label(self) -> &'static str {
            match self {
                Signal::LoginFlood => "Peringatan keamanan: gagal masuk berulang",
                Signal::PrivilegedGrant => {
                    "Peringatan keamanan: peran pejabat/administrator diberikan"
                }
            }
        }

        /// The approved template's name at Meta and the BSPs (Twilio's Content SID and Bird's
        /// template are configured under this name, as for the seven events).
        pub fn provider_template(self) -> &'static str {
            match self {
                Signal::LoginFlood => "izin_keamanan_login_gagal",
                Signal::PrivilegedGrant => "izin_keamanan_peran_baru",
            }
        }

        /// The template's body parameters, in order.
        pub fn variables(self) -> &'static [&'static str] {
            match self {
                Signal::LoginFlood => &["nama", "pengguna", "jumlah", "alamat", "waktu", "tautan"],
                Signal::PrivilegedGrant => &[
                    "nama",
                    "pemberi",
                    "penerima",
                    "peran",
                    "kewenangan",
                    "waktu",
                    "tautan",
                ],
            }
        }

        /// The default text with `{variable}` placeholders (`id` or `en`).
        pub fn default_text(self, language: &str) -> &'static str {
            match (self, language == "en") {
                (Signal::LoginFlood, false) => {
                    "Peringatan keamanan untuk {nama}: akun {pengguna} gagal masuk {jumlah} kali dalam 24 jam terakhir, dari {alamat} alamat internet (per {waktu}). Mungkin ada yang sedang menebak kata sandinya. Akun tidak dikunci; setiap alamat yang mencoba diperlambat. Bila pemilik akun tidak merasa salah memasukkan kata sandi, minta administrator memberi kata sandi baru yang kuat di halaman Pengguna, lalu periksa Peringatan keamanan di dasbor: {tautan} — pesan otomatis SICANTIK Companion."
                }
                (Signal::LoginFlood, true) => {
                    "Security alert for {nama}: the account {pengguna} failed to sign in {jumlah} times in the last 24 hours, from {alamat} internet addresses (as of {waktu}). Someone may be guessing its password. The account is not locked; each address that tries is slowed down. If the account's owner did not mistype their password, ask an administrator to set a new strong password on the Users page, then check the security alerts on the dashboard: {tautan} — an automatic message from SICANTIK Companion."
                }
                (Signal::PrivilegedGrant, false) => {
                    "Peringatan keamanan untuk {nama}: {pemberi} memberikan peran {peran} kepada akun {penerima} pada {waktu}. Dengan peran ini akun tersebut dapat {kewenangan}. Bila pemberian ini tidak direncanakan, akun itu harus segera dinonaktifkan atau perannya dikembalikan oleh administrator di halaman Pengguna. Rincian di dasbor: {tautan} — pesan otomatis SICANTIK Companion."
                }
                (Signal::PrivilegedGrant, true) => {
                    "Security alert for {nama}: {pemberi} gave the {peran} role to the account {penerima} on {waktu}. With it that account can {kewenangan}. If this was not planned, an administrator must disable that account or change its role back on the Users page at once. Details on the dashboard: {tautan} — an automatic message from SICANTIK Companion."
                }
            }
        }

        /// The text with Meta's numbered placeholders (`{{1}}`…), as registered.
        pub fn numbered(self, language: &str) -> String {
            let mut t = self.default_text(language).to_string();
            for (i, v) in self.variables().iter().enumerate() {
                t = t.replace(&format!("{{{v}}}"), &format!("{{{{{}}}}}", i + 1));
            }
            t
        }

        /// The message body and the template parameters (in [`Signal::variables`] order); a
        /// missing value is refused, never sent as a gap.
        pub fn render(
            self,
            language: &str,
            values: &Values,
        ) -> Result<(String, Vec<String>), TemplateError> {
            let body = render(self.default_text(language), values)?;
            let params = self
                .variables()
                .iter()
                .map(|v| values.get(*v).cloned().unwrap_or_default())
                .collect();
            Ok((body, params))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::templates::MessageKind;

        /// The `{name}`s of a text.
        fn pieces_vars(text: &str) -> Vec<String> {
            text.split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(v, _)| v.to_string()))
                .collect()
        }

        #[test]
        fn both_signals_render_in_both_languages_with_every_variable() {
            for s in Signal::ALL {
                assert_eq!(Signal::parse(s.key()), Some(s));
                assert_eq!(MessageKind::parse(s.key()), MessageKind::Security(s));
                for lang in ["id", "en"] {
                    let text = s.default_text(lang);
                    // Every variable is used, and no other.
                    // Each once: Meta's placeholders are numbered, one per parameter.
                    let mut used = pieces_vars(text);
                    let all = used.len();
                    used.sort();
                    used.dedup();
                    assert_eq!(used.len(), all, "{s:?} {lang}: a variable twice");
                    assert_eq!(used.len(), s.variables().len(), "{s:?} {lang}: {used:?}");
                    for v in s.variables() {
                        assert!(used.contains(&v.to_string()), "{s:?} {lang} lacks {v}");
                    }
                    let values: Values = s
                        .variables()
                        .iter()
                        .map(|v| (v.to_string(), format!("<{v}>")))
                        .collect();
                    let (body, params) = s.render(lang, &values).expect("render");
                    assert!(!body.contains('{'), "{body}");
                    assert_eq!(params.len(), s.variables().len());
                    assert_eq!(params[0], "<nama>");
                    let n = s.numbered(lang);
                    assert!(n.contains("{{1}}") && !n.contains("{nama}"), "{n}");
                    // Meta refuses a template that starts or ends with a parameter.
                    assert!(!n.starts_with("{{") && !n.trim_end().ends_with("}}"), "{n}");
                    // Nothing in the text asks for or shows a password.
                    let lower = body.to_lowercase();
                    assert!(
                        !lower.contains("kata sandi:") && !lower.contains("password:"),
                        "{body}"
                    );
                }
                // A missing value is refused.
                assert!(s.render("id", &Values::new()).is_err());
            }
            // The operator registers the bodies docs/security.md shows: the same as sent.
            let doc = include_str!("../../../docs/security.md");
            for s in Signal::ALL {
                let line = format!("- `{}`: {}", s.provider_template(), s.numbered("id"));
                assert!(doc.contains(&line), "docs/security.md lacks {line}");
            }
            // The text says "24 jam": the window the dashboard uses.
            assert_eq!(companion_domain::security::ATTACK_WINDOW_HOURS, 24);
            assert_eq!(MessageKind::parse("reply"), MessageKind::Reply);
            assert_eq!(
                MessageKind::parse("permit_ready"),
                MessageKind::Event(crate::templates::Event::PermitReady)
            );
            assert_eq!(
                MessageKind::parse(crate::templates::survey_invitation::EVENT),
                MessageKind::SurveyInvitation
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_text_is_valid_and_uses_every_variable() {
        for e in Event::ALL {
            for lang in LANGUAGES {
                let text = e.default_text(lang);
                validate(e, text).unwrap_or_else(|err| panic!("{e:?} {lang}: {err}"));
                for var in e.variables() {
                    assert!(
                        text.contains(&format!("{{{}}}", var.name)),
                        "{e:?} {lang} lacks {}",
                        var.name
                    );
                }
                let rendered = render(text, &e.sample()).expect("renders");
                assert!(!rendered.contains('{'), "{rendered}");
            }
            assert_eq!(Event::parse(e.key()), Some(e));
        }
    }

    #[test]
    fn numbered_placeholders_follow_the_variables() {
        assert_eq!(
            numbered(
                Event::StatusChanged,
                Event::StatusChanged.default_text("id")
            ),
            "Yth. {{1}}, status permohonan {{3}} nomor pendaftaran {{2}}: {{4}} → {{5}}. Keterangan: {{6}}. Waktu: {{7}}. Rincian: {{8}}"
        );
    }

    #[test]
    fn unknown_variables_and_broken_braces_are_refused_at_edit_time() {
        let e = Event::PermitReady;
        assert_eq!(
            validate(e, "Halo {nama}, {nomor_surat}"),
            Err(TemplateError::UnknownVariable("nomor_surat".into()))
        );
        assert!(matches!(
            validate(e, "Halo {nama"),
            Err(TemplateError::Unbalanced(_))
        ));
        assert!(matches!(
            validate(e, "Halo nama}"),
            Err(TemplateError::Unbalanced(_))
        ));
        assert!(matches!(
            validate(e, "Halo {{nama}}"),
            Err(TemplateError::Unbalanced(_))
        ));
        assert_eq!(validate(e, "   "), Err(TemplateError::Empty));
        assert!(matches!(
            validate(e, &"x".repeat(1025)),
            Err(TemplateError::TooLong(1025))
        ));
        let msg = validate(e, "{salah}")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("{salah}"), "{msg}");
    }

    #[test]
    fn parameters_follow_the_variables_order_and_edits_replace_defaults() {
        let e = Event::RenewalApproved;
        let p = parameters(e, &e.sample());
        assert_eq!(p[0], "Budi Ginting");
        assert_eq!(p.len(), e.variables().len());
        let set = TemplateSet::with_edits([
            (
                e,
                "id".to_string(),
                "Selamat {nama}: {nomor_izin_baru}".to_string(),
            ),
            (e, "en".to_string(), "Broken {unknown}".to_string()),
        ]);
        assert_eq!(
            set.render(e, "id", &e.sample()).expect("render"),
            "Selamat Budi Ginting: 503/0311/DPMPTSP/2026"
        );
        // An invalid stored edit never reaches a message: the default is used.
        assert_eq!(set.text(e, "en"), e.default_text("en"));
        assert_eq!(set.text(e, "fr"), set.text(e, "id"));
    }
}
