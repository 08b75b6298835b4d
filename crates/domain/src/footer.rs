//! The standard TTE footer printed on an electronically signed letter (the wording Indonesian
//! agencies use, `shared/spec/tte-conventions.md`): who certified the signature, the legal basis
//! (UU ITE No. 11/2008 Pasal 5 ayat (1)) and how to check it. BSrE-signed letters name BSrE and
//! the national verifier; a local CA names the office and only the office's portal, which is the
//! only place that trusts it.

/// Which footer a letter gets (`STAMP_FOOTER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FooterPreset {
    /// Signed with a BSrE certificate.
    Bsre,
    /// Signed with the office's own CA.
    LocalCa,
    /// No footer: the caption under the QR only.
    None,
}

impl FooterPreset {
    /// `bsre`, `local` or `none`; `auto` follows the signer (`SIGNER`).
    pub fn parse(value: &str, signer_is_bsre: bool) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Some(if signer_is_bsre {
                FooterPreset::Bsre
            } else {
                FooterPreset::LocalCa
            }),
            "bsre" => Some(FooterPreset::Bsre),
            "local" => Some(FooterPreset::LocalCa),
            "none" => Some(FooterPreset::None),
            _ => None,
        }
    }

    /// The footer's text (one paragraph per language, Bahasa Indonesia first), or `None`.
    /// `office` names the signing office, `portal` is the portal's host (`izin.karokab.go.id`).
    pub fn text(&self, office: &str, portal: &str, english: bool) -> Option<String> {
        let law_id = "Sesuai UU ITE No. 11 Tahun 2008 Pasal 5 ayat (1), informasi elektronik dan/atau dokumen elektronik dan/atau hasil cetaknya merupakan alat bukti hukum yang sah.";
        let law_en = "Under Law No. 11 of 2008 on Electronic Information and Transactions (UU ITE), Article 5(1), electronic information and documents and their printouts are valid legal evidence.";
        let (id, en) = match self {
            FooterPreset::None => return None,
            FooterPreset::Bsre => (
                format!(
                    "Dokumen ini telah ditandatangani secara elektronik menggunakan sertifikat elektronik yang diterbitkan oleh Balai Besar Sertifikasi Elektronik (BSrE), Badan Siber dan Sandi Negara (BSSN). {law_id} Untuk memastikan keaslian, pindai kode QR, ketik kode verifikasi di {portal}/periksa, atau unggah dokumen pada laman https://tte.komdigi.go.id/verifyPDF."
                ),
                format!(
                    "This document has been signed electronically with an electronic certificate issued by Balai Besar Sertifikasi Elektronik (BSrE), National Cyber and Crypto Agency (BSSN). {law_en} To check its authenticity, scan the QR code, type the verification code at {portal}/periksa, or upload the document at https://tte.komdigi.go.id/verifyPDF."
                ),
            ),
            FooterPreset::LocalCa => (
                format!(
                    "Dokumen ini telah ditandatangani secara elektronik oleh {office} menggunakan sertifikat elektronik yang diterbitkan oleh {office}. {law_id} Untuk memastikan keaslian, pindai kode QR atau ketik kode verifikasi di {portal}/periksa."
                ),
                format!(
                    "This document has been signed electronically by {office} with an electronic certificate issued by {office}. {law_en} To check its authenticity, scan the QR code or type the verification code at {portal}/periksa."
                ),
            ),
        };
        Some(if english { format!("{id}\n{en}") } else { id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_follow_the_signer_and_say_where_to_check() {
        assert_eq!(FooterPreset::parse("auto", true), Some(FooterPreset::Bsre));
        assert_eq!(FooterPreset::parse("", false), Some(FooterPreset::LocalCa));
        assert_eq!(FooterPreset::parse("NONE", true), Some(FooterPreset::None));
        assert_eq!(FooterPreset::parse("bsre2", true), None);
        let bsre = FooterPreset::Bsre
            .text("DPMPTSP Kabupaten Karo", "izin.karokab.go.id", false)
            .expect("text");
        assert!(bsre.contains("Balai Besar Sertifikasi Elektronik (BSrE)"));
        assert!(bsre.contains("Pasal 5 ayat (1)"));
        assert!(bsre.contains("tte.komdigi.go.id/verifyPDF"));
        assert!(bsre.contains("izin.karokab.go.id/periksa"));
        // The national verifier does not trust the office's own CA: not pointed to.
        let local = FooterPreset::LocalCa
            .text("DPMPTSP Kabupaten Karo", "izin.karokab.go.id", true)
            .expect("text");
        assert!(!local.contains("komdigi") && !local.contains("BSrE"));
        assert!(local.contains("DPMPTSP Kabupaten Karo") && local.contains("\nThis document"));
        assert_eq!(FooterPreset::None.text("x", "y", true), None);
    }
}
