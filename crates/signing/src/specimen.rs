//! The specimen image sent with BSrE v2 requests: a PNG of the document's verification QR. The
//! service wants an `imageBase64` even for invisible signatures, and refused tiny images.

/// A black-on-white PNG of `text`'s QR code, 4 pixels per module with a 4-module margin.
pub fn qr_png(text: &str) -> Vec<u8> {
    const SCALE: usize = 4;
    const MARGIN: usize = 4;
    let Ok((size, modules)) = companion_pdf::stamp::qr_modules(text) else {
        return blank_png();
    };
    let side = (size + 2 * MARGIN) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for y in 0..size {
        for x in 0..size {
            if modules[y * size + x] {
                for dy in 0..SCALE {
                    let row = (y + MARGIN) * SCALE + dy;
                    let start = row * side + (x + MARGIN) * SCALE;
                    pixels[start..start + SCALE].fill(0);
                }
            }
        }
    }
    encode(side as u32, side as u32, &pixels).unwrap_or_else(|_| blank_png())
}

fn blank_png() -> Vec<u8> {
    encode(128, 128, &[255u8; 128 * 128]).unwrap_or_default()
}

fn encode(width: u32, height: u32, gray: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(gray)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_qr_png_is_a_png_of_the_expected_size() {
        let png = super::qr_png("https://izin.karokab.go.id/v/ACDEFGHJKLMN");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let reader = decoder.read_info().expect("decodes");
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert!(info.width >= 100, "{}", info.width);
        // Bigger than the ~200-character images the real service refused.
        assert!(png.len() > 300, "{}", png.len());
    }
}
