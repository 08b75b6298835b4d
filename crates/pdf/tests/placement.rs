//! The QR stamp on letters as they come: rendered before and after at 150 dpi by poppler
//! (`pdftoppm`), no pixel of the stamp may fall on a pixel of the letter's own content; the QR
//! decodes upright with `zbarimg`, and `pdftotext` reads the caption. Letters: ours, cairo's,
//! Chromium's print, qpdf's object streams, `/Rotate 90` (qpdf), a CropBox offset, A4 landscape
//! with its signature block where the stamp would go, a 30-page file (qpdf), and a scan (one
//! picture over the whole page), where no free place exists and the stamp says so. The visible
//! signature box, signed over the stamped file, finds room the same way, or is left out.

use std::path::{Path, PathBuf};
use std::process::Command;

use companion_pdf::placement::Spot;
use companion_pdf::stamp::{FooterDrawn, Placement, Stamped, stamp_qr};
use lopdf::{Document, Object, Stream, dictionary};

const QR: &str = "https://izin.karokab.go.id/v/K7Q2M9AB?d=503%2F0142%2FDPMPTSP%2F2025%7CRasmita%20br%20Ginting%7CIzin%20Mendirikan%20Bangunan%7C2025-07-03%7C2030-07-03&s=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy";
const CAPTION: &str = "Pindai untuk memeriksa keaslian dokumen\nKode verifikasi: K7Q2M9AB\natau ketik kodenya di izin.karokab.go.id/periksa";

fn dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("placement");
    std::fs::create_dir_all(&d).expect("dir");
    d
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .expect("fixture")
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?}: {e} (scripts/test.sh installs poppler, qpdf and zbar)")
    });
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn qpdf(input: &[u8], name: &str, args: &[&str]) -> Vec<u8> {
    let src = dir().join(format!("{name}-in.pdf"));
    let dst = dir().join(format!("{name}-qpdf.pdf"));
    std::fs::write(&src, input).expect("write");
    let mut cmd = Command::new("qpdf");
    for a in args {
        cmd.arg(a.replace("{in}", &src.display().to_string()));
    }
    let status = cmd.arg(&dst).status().expect("qpdf");
    // 3: warnings only.
    assert!(matches!(status.code(), Some(0 | 3)), "qpdf {args:?}");
    std::fs::read(&dst).expect("read")
}

/// Page 1 in grey at 150 dpi: (width, height, pixels).
fn render(pdf: &Path) -> (usize, usize, Vec<u8>) {
    let prefix = pdf.with_extension("render");
    run(Command::new("pdftoppm")
        .args(["-r", "150", "-gray", "-f", "1", "-l", "1", "-singlefile"])
        .arg(pdf)
        .arg(&prefix));
    let pgm = std::fs::read(format!("{}.pgm", prefix.display())).expect("pgm");
    // "P5\n<w> <h>\n255\n" then one byte per pixel.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&pgm[start..at]).into_owned());
    }
    let (w, h): (usize, usize) = (fields[1].parse().expect("w"), fields[2].parse().expect("h"));
    let pixels = pgm[at + 1..].to_vec();
    assert_eq!(pixels.len(), w * h);
    (w, h, pixels)
}

fn qr_on(pdf: &Path) -> Vec<(String, String)> {
    let png = pdf.with_extension("qr");
    run(Command::new("pdftoppm")
        .args(["-r", "150", "-f", "1", "-l", "1", "-png", "-singlefile"])
        .arg(pdf)
        .arg(&png));
    let xml = run(Command::new("zbarimg")
        .args(["--xml", "-q", "-Sdisable", "-Sqrcode.enable"])
        .arg(format!("{}.png", png.display())));
    let xml = String::from_utf8_lossy(&xml).into_owned();
    let mut found = Vec::new();
    for symbol in xml.split("<symbol ").skip(1) {
        // zbar quotes attributes with ' (0.23) or " (older releases).
        let orientation = symbol
            .split("orientation=")
            .nth(1)
            .map(|s| s.trim_start_matches(['\'', '"']))
            .and_then(|s| s.split(['\'', '"']).next())
            .unwrap_or("?")
            .to_string();
        let data = symbol
            .split("<data><![CDATA[")
            .nth(1)
            .and_then(|s| s.split("]]></data>").next())
            .unwrap_or("")
            .to_string();
        found.push((orientation, data));
    }
    found
}

/// Stamps `input` and checks it against the renders; returns where the stamp went.
fn footer() -> String {
    companion_domain::footer::FooterPreset::Bsre
        .text("DPMPTSP Kabupaten Karo", "izin.karokab.go.id", true)
        .expect("footer")
}

fn check(name: &str, input: &[u8]) -> Stamped {
    let stamped = stamp_qr(input, QR, CAPTION, Some(&footer()), &Placement::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let before = dir().join(format!("{name}.pdf"));
    let after = dir().join(format!("{name}-stamped.pdf"));
    std::fs::write(&before, input).expect("write");
    std::fs::write(&after, &stamped.pdf).expect("write");
    let (w0, h0, a) = render(&before);
    let (w1, h1, b) = render(&after);
    assert_eq!((w0, h0), (w1, h1), "{name}: the page changed size");
    let changed = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!(
        changed > 1000,
        "{name}: the stamp did not show ({changed} pixels)"
    );
    let covered = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y && **x < 250)
        .count();
    if !matches!(stamped.spot, Spot::Covering { .. }) {
        assert_eq!(
            covered,
            0,
            "{name}: {covered} stamp pixels over the letter ({:?}); see {}",
            stamped.spot,
            after.display()
        );
    }
    let qr = qr_on(&after);
    assert!(
        qr.iter().any(|(o, d)| o == "UP" && d == QR),
        "{name}: zbarimg read {qr:?}"
    );
    let text = run(Command::new("pdftotext")
        .args(["-f", "1", "-l", "1"])
        .arg(&after)
        .arg("-"));
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("Kode verifikasi: K7Q2M9AB"),
        "{name}: the caption does not read: {text}"
    );
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        flat.contains("UU ITE No. 11 Tahun 2008 Pasal 5 ayat (1)")
            && flat.contains("tte.komdigi.go.id/verifyPDF"),
        stamped.footer_drawn != FooterDrawn::Omitted,
        "{name}: footer drawn {:?}, text: {flat}",
        stamped.footer_drawn
    );
    stamped
}

fn our_letter() -> Vec<u8> {
    companion_pdf::letter::render(&companion_pdf::letter::PermitLetter::example(), 0)
}

/// One page drawn from `content` (Helvetica as /F1, `image` as /Im1 when given).
fn page(media: [i64; 4], content: String, image: Option<Stream>) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
    });
    let mut resources = dictionary! { "Font" => dictionary! { "F1" => font } };
    if let Some(img) = image {
        let id = doc.add_object(img);
        resources.set("XObject", dictionary! { "Im1" => id });
    }
    let contents = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => contents, "Resources" => resources,
        "MediaBox" => media.iter().map(|v| Object::Integer(*v)).collect::<Vec<_>>(),
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save");
    out
}

/// A4 landscape: lines of text down to y = 220, and the signature block at the bottom left,
/// where the stamp is configured to go.
fn landscape() -> Vec<u8> {
    let mut c = String::from("BT /F1 11 Tf 56 540 Td 14 TL\n");
    for i in 0..23 {
        c.push_str(&format!("(Baris {i}: Dengan ini menerangkan bahwa pemegang izin tersebut telah memenuhi persyaratan teknis.) '\n"));
    }
    c.push_str("ET\nBT /F1 11 Tf 56 150 Td 14 TL (Kabanjahe, 3 Juli 2025) ' (Kepala DPMPTSP Kabupaten Karo) ' () ' () ' (Drs. Contoh Pejabat) ' (NIP 19700101 199003 1 001) ' ET\n");
    c.push_str("0.2 g 56 40 m 400 40 l S\n");
    page([0, 0, 842, 595], c, None)
}

/// A scanned letter: one grey picture over the whole page.
fn scan() -> Vec<u8> {
    let (w, h) = (85usize, 110usize);
    let mut pixels = vec![255u8; w * h];
    for (i, p) in pixels.iter_mut().enumerate() {
        if (i / w) % 7 < 2 {
            *p = 90;
        }
    }
    let img = Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => w as i64, "Height" => h as i64,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
        },
        pixels,
    );
    page(
        [0, 0, 595, 842],
        "q 595 0 0 842 0 0 cm /Im1 Do Q\n".into(),
        Some(img),
    )
}

#[test]
fn the_stamp_never_covers_the_letter() {
    let letter = our_letter();
    for (name, pdf) in [
        ("ours", letter.clone()),
        ("cairo", fixture("cairo.pdf")),
        ("chromium", fixture("chromium-print.pdf")),
        ("object-streams", fixture("qpdf-object-streams.pdf")),
        (
            "rotate-90",
            qpdf(&letter, "rotate-90", &["{in}", "--rotate=+90:1"]),
        ),
        (
            "rotate-270",
            qpdf(
                &fixture("cairo.pdf"),
                "rotate-270",
                &["{in}", "--rotate=-90:1"],
            ),
        ),
        (
            "thirty-pages",
            qpdf(&letter, "thirty", &{
                let mut a = vec!["--empty", "--pages"];
                a.extend(std::iter::repeat_n("{in}", 30));
                a.push("--");
                a
            }),
        ),
    ] {
        let s = check(name, &pdf);
        // A portrait letter turned on its side has its signature block along the displayed
        // bottom edge: the footer may find no room there (and then is left out, as checked).
        if !name.starts_with("rotate") {
            assert_ne!(
                s.footer_drawn,
                FooterDrawn::Omitted,
                "{name}: no room for the footer"
            );
        }
        assert!(
            !matches!(s.spot, Spot::Covering { .. }),
            "{name}: {:?}",
            s.spot
        );
    }
}

#[test]
fn a_crop_box_offset_keeps_the_stamp_inside_the_visible_page() {
    let mut doc = Document::load_mem(&our_letter()).expect("load");
    let page = *doc.get_pages().get(&1).expect("page");
    doc.get_dictionary_mut(page).expect("page").set(
        "CropBox",
        vec![
            Object::Integer(40),
            Object::Integer(90),
            Object::Integer(560),
            Object::Integer(800),
        ],
    );
    let mut pdf = Vec::new();
    doc.save_to(&mut pdf).expect("save");
    let s = check("crop-box", &pdf);
    let (x, y) = s.spot.at();
    assert!(x >= 0.0 && y >= 0.0, "{:?}", s.spot);
}

#[test]
fn a_signature_block_where_the_stamp_would_go_moves_it() {
    let s = check("landscape", &landscape());
    assert!(matches!(s.spot, Spot::Moved { .. }), "{:?}", s.spot);
    assert_ne!(
        s.footer_drawn,
        FooterDrawn::Omitted,
        "no room for the footer"
    );
}

#[test]
fn a_scan_with_no_free_place_is_said_so() {
    let s = check("scan", &scan());
    assert!(matches!(s.spot, Spot::Covering { .. }), "{:?}", s.spot);
    assert_eq!(
        s.footer_drawn,
        FooterDrawn::Omitted,
        "a footer over the scan"
    );
}

/// Pixels of `after` that changed over non-white pixels of `before`, and all changed pixels.
fn overlap(name: &str, before: &[u8], after: &[u8]) -> (usize, usize) {
    let b = dir().join(format!("{name}-before.pdf"));
    let a = dir().join(format!("{name}-after.pdf"));
    std::fs::write(&b, before).expect("write");
    std::fs::write(&a, after).expect("write");
    let (_, _, x) = render(&b);
    let (_, _, y) = render(&a);
    let changed = x.iter().zip(&y).filter(|(p, q)| p != q).count();
    let covered = x
        .iter()
        .zip(&y)
        .filter(|(p, q)| p != q && **p < 250)
        .count();
    (covered, changed)
}

#[test]
fn the_signature_box_finds_room_or_is_left_out() {
    use companion_pdf::keys::{issue_signer, new_ca};
    use companion_pdf::sign::{SignatureInfo, VisibleSignature, sign_pdf};
    let ca = new_ca("Uji CA", 1).expect("ca");
    let signer = issue_signer(&ca, "Pejabat Uji", 30).expect("signer");
    let info = SignatureInfo {
        name: "Pejabat Uji".into(),
        reason: "Penerbitan surat izin".into(),
        location: "Kabanjahe".into(),
        time: chrono::Utc::now().fixed_offset(),
        visible: Some(VisibleSignature::bottom_right(
            "Kepala DPMPTSP Kabupaten Karo",
        )),
    };
    let letter = our_letter();
    for (name, pdf, shows) in [
        ("sig-ours", letter.clone(), true),
        (
            "sig-rotate-90",
            qpdf(&letter, "sig-rotate-90", &["{in}", "--rotate=+90:1"]),
            true,
        ),
        ("sig-landscape", landscape(), true),
        ("sig-scan", scan(), false),
    ] {
        let stamped = stamp_qr(&pdf, QR, CAPTION, Some(&footer()), &Placement::default())
            .expect("stamp")
            .pdf;
        let signed = sign_pdf(&stamped, 1, &info, &signer).expect("sign");
        let (covered, changed) = overlap(name, &stamped, &signed);
        if shows {
            assert!(
                changed > 300,
                "{name}: the signature box does not show ({changed})"
            );
            assert_eq!(
                covered, 0,
                "{name}: the signature box covers {covered} pixels of the letter"
            );
        } else {
            assert_eq!(changed, 0, "{name}: a box was drawn on a page without room");
        }
    }
}
