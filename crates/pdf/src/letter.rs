//! A plausible letter of permit as the office prints it: letterhead, number, the permit's facts,
//! a closing with the official's block, and a page of conditions. The simulator prints these so
//! the demo and the tests have real PDFs (written with lopdf, standard fonts only).

use crate::latin1;
use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

/// The facts printed on a letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermitLetter {
    pub permit_number: String,
    pub registration_id: String,
    pub permit_type: String,
    pub applicant_name: String,
    pub company_name: Option<String>,
    pub address: Option<String>,
    /// Already formatted, e.g. `12 Maret 2025`.
    pub issue_date: String,
    pub expiry_date: Option<String>,
}

impl PermitLetter {
    pub fn example() -> Self {
        PermitLetter {
            permit_number: "503/0142/DPMPTSP/2025".into(),
            registration_id: "0142307703072025".into(),
            permit_type: "Izin Mendirikan Bangunan".into(),
            applicant_name: "Rasmita br Ginting".into(),
            company_name: Some("CV Sibayak Jaya".into()),
            address: Some("Jl. Veteran No. 12, Kabanjahe".into()),
            issue_date: "3 Juli 2025".into(),
            expiry_date: Some("3 Juli 2030".into()),
        }
    }
}

pub(crate) const A4: (i64, i64) = (595, 842);

pub(crate) struct Page {
    ops: Vec<Operation>,
}

impl Page {
    pub(crate) fn new() -> Self {
        Page { ops: Vec::new() }
    }
    pub(crate) fn text(&mut self, font: &str, size: i64, x: i64, y: i64, s: &str) {
        self.ops.push(Operation::new("BT", vec![]));
        self.ops
            .push(Operation::new("Tf", vec![font.into(), size.into()]));
        self.ops
            .push(Operation::new("Td", vec![x.into(), y.into()]));
        self.ops.push(Operation::new(
            "Tj",
            vec![Object::string_literal(latin1(s))],
        ));
        self.ops.push(Operation::new("ET", vec![]));
    }
    /// Centred by the rough Helvetica width (0.5 em per character is close enough here).
    pub(crate) fn centred(&mut self, font: &str, size: i64, y: i64, s: &str) {
        let width = (s.chars().count() as f64 * size as f64 * 0.5) as i64;
        self.text(font, size, (A4.0 - width) / 2, y, s);
    }
    pub(crate) fn line(&mut self, x1: i64, y1: i64, x2: i64, y2: i64, width: f64) {
        self.ops.push(Operation::new("w", vec![width.into()]));
        self.ops
            .push(Operation::new("m", vec![x1.into(), y1.into()]));
        self.ops
            .push(Operation::new("l", vec![x2.into(), y2.into()]));
        self.ops.push(Operation::new("S", vec![]));
    }
    pub(crate) fn into_stream(self) -> Stream {
        let content = Content {
            operations: self.ops,
        };
        // Encoding a content built from well-formed operations cannot fail.
        Stream::new(dictionary! {}, content.encode().unwrap_or_default())
    }
}

pub(crate) fn letterhead(p: &mut Page) {
    p.centred("F2", 13, 790, "PEMERINTAH KABUPATEN KARO");
    p.centred(
        "F2",
        12,
        773,
        "DINAS PENANAMAN MODAL DAN PELAYANAN TERPADU SATU PINTU",
    );
    p.centred(
        "F1",
        9,
        758,
        "Jl. Jamin Ginting No. 17, Kabanjahe 22111 - perizinan.karokab.go.id",
    );
    p.line(50, 748, 545, 748, 2.0);
    p.line(50, 745, 545, 745, 0.5);
}

/// Renders the letter. `scan_bytes` > 0 adds an uncompressed grey image of about that many bytes
/// (a scanned seal), to make files of realistic size for benchmarks.
pub fn render(letter: &PermitLetter, scan_bytes: usize) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let regular = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let bold = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica-Bold",
        "Encoding" => "WinAnsiEncoding",
    });
    let mut resources = dictionary! {
        "Font" => dictionary! { "F1" => regular, "F2" => bold },
    };

    let mut first = Page::new();
    letterhead(&mut first);
    first.centred("F2", 12, 710, "SURAT IZIN");
    first.centred("F2", 12, 694, &letter.permit_type.to_uppercase());
    first.centred("F1", 10, 678, &format!("Nomor: {}", letter.permit_number));
    let mut y = 640;
    first.text(
        "F1",
        10,
        60,
        y,
        "Berdasarkan permohonan yang telah memenuhi persyaratan, Kepala Dinas Penanaman Modal dan",
    );
    y -= 14;
    first.text(
        "F1",
        10,
        60,
        y,
        "Pelayanan Terpadu Satu Pintu Kabupaten Karo memberikan izin kepada:",
    );
    y -= 30;
    let facts: Vec<(&str, String)> = vec![
        ("Nama", letter.applicant_name.clone()),
        (
            "Nama usaha",
            letter.company_name.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "Alamat",
            letter.address.clone().unwrap_or_else(|| "-".into()),
        ),
        ("Jenis izin", letter.permit_type.clone()),
        ("Nomor pendaftaran", letter.registration_id.clone()),
        ("Tanggal terbit", letter.issue_date.clone()),
        (
            "Berlaku sampai",
            letter
                .expiry_date
                .clone()
                .unwrap_or_else(|| "selama usaha berjalan".into()),
        ),
    ];
    for (label, value) in &facts {
        first.text("F1", 10, 80, y, label);
        first.text("F1", 10, 200, y, &format!(": {value}"));
        y -= 18;
    }
    y -= 16;
    for line in [
        "Izin ini berlaku dengan ketentuan sebagaimana tercantum dalam lampiran dan dapat dicabut",
        "apabila pemegang izin tidak memenuhi ketentuan tersebut.",
    ] {
        first.text("F1", 10, 60, y, line);
        y -= 14;
    }
    first.text(
        "F1",
        10,
        340,
        220,
        &format!("Ditetapkan di Kabanjahe, {}", letter.issue_date),
    );
    first.text("F2", 10, 340, 204, "KEPALA DINAS PENANAMAN MODAL DAN");
    first.text("F2", 10, 340, 190, "PELAYANAN TERPADU SATU PINTU");
    first.text("F2", 10, 340, 176, "KABUPATEN KARO");
    first.text("F2", 10, 340, 110, "(tanda tangan elektronik)");
    if scan_bytes > 0 {
        // A square grey image whose samples do not compress, like a scanned stamp.
        let side = (scan_bytes as f64).sqrt().ceil() as i64;
        let mut state: u32 = 0x9E37_79B9 ^ letter.registration_id.len() as u32;
        let pixels: Vec<u8> = (0..side * side)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect();
        let image = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image",
                "Width" => side, "Height" => side,
                "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
            },
            pixels,
        ));
        resources.set("XObject", dictionary! { "Im1" => image });
        first.ops.push(Operation::new("q", vec![]));
        first.ops.push(Operation::new(
            "cm",
            vec![
                70.into(),
                0.into(),
                0.into(),
                70.into(),
                360.into(),
                120.into(),
            ],
        ));
        first.ops.push(Operation::new("Do", vec!["Im1".into()]));
        first.ops.push(Operation::new("Q", vec![]));
    }
    first.text(
        "F1",
        8,
        60,
        50,
        &format!("Nomor izin {}", letter.permit_number),
    );

    let mut second = Page::new();
    letterhead(&mut second);
    second.centred("F2", 11, 715, "LAMPIRAN: KETENTUAN IZIN");
    second.centred("F1", 10, 699, &format!("Nomor: {}", letter.permit_number));
    let mut y = 660;
    for (i, rule) in [
        "Pemegang izin wajib mematuhi peraturan perundang-undangan yang berlaku.",
        "Izin ini tidak dapat dipindahtangankan tanpa persetujuan tertulis.",
        "Perubahan data usaha wajib dilaporkan paling lambat 30 hari setelah perubahan.",
        "Perpanjangan diajukan paling lambat 90 hari sebelum masa berlaku berakhir.",
        "Keaslian surat ini dapat diperiksa melalui portal verifikasi DPMPTSP Kabupaten Karo.",
    ]
    .iter()
    .enumerate()
    {
        second.text("F1", 10, 60, y, &format!("{}. {rule}", i + 1));
        y -= 18;
    }

    let resources_id = doc.add_object(resources);
    let mut kids = Vec::new();
    for page in [first, second] {
        let content_id = doc.add_object(page.into_stream());
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), A4.0.into(), A4.1.into()],
        });
        kids.push(Object::from(page_id));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let info = doc.add_object(dictionary! {
        "Title" => Object::string_literal(latin1(&format!("Surat Izin {}", letter.permit_number))),
        "Producer" => Object::string_literal("SICANTIK (simulator)"),
    });
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    doc.trailer.set("Info", info);
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = doc.save_to(&mut out);
    out
}
