//! Phone numbers to E.164. SICANTIK's numbers are free text ("0812-3456-7890 / 0813…",
//! "+62 812 …", "62812…"); staff type them in every form. Indonesian numbers are assumed when no
//! country code is given.

/// Why a number was refused, in plain words for staff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("nomor telepon kosong")]
    Empty,
    #[error("nomor telepon \"{0}\" tidak sah: gunakan format 08… atau +62…")]
    Invalid(String),
    #[error("nomor telepon \"{0}\" terlalu pendek atau terlalu panjang")]
    Length(String),
}

/// The first number in `text` as E.164 (`+6281234567890`).
pub fn normalize(text: &str) -> Result<String, PhoneError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(PhoneError::Empty);
    }
    // Several numbers in one field: "0812… / 0813…", "0812…, 0813…", "0812… atau 0813…".
    let first = text
        .split(['/', ',', ';', '|'])
        .flat_map(|s| s.split(" atau "))
        .map(str::trim)
        .find(|s| s.chars().any(|c| c.is_ascii_digit()))
        .ok_or_else(|| PhoneError::Invalid(text.to_string()))?;
    if first
        .chars()
        .any(|c| !(c.is_ascii_digit() || " +-().".contains(c)))
    {
        return Err(PhoneError::Invalid(text.to_string()));
    }
    let plus = first.starts_with('+');
    let digits: String = first.chars().filter(char::is_ascii_digit).collect();
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("62{rest}")
    } else if digits.starts_with("62") {
        digits
    } else if digits.starts_with('8') {
        // "812…" as often typed without the leading zero.
        format!("62{digits}")
    } else {
        return Err(PhoneError::Invalid(text.to_string()));
    };
    // E.164: at most 15 digits; Indonesian numbers have 9–13 after the country code.
    let ok = if let Some(national) = international.strip_prefix("62") {
        (8..=13).contains(&national.len()) && !national.starts_with('0')
    } else {
        (8..=15).contains(&international.len()) && !international.starts_with('0')
    };
    if !ok {
        return Err(PhoneError::Length(text.to_string()));
    }
    Ok(format!("+{international}"))
}

/// A `wa.me` click-to-chat link that opens a chat with `number` and `text` typed in.
pub fn click_to_chat(number: &str, text: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let encoded: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
    format!("https://wa.me/{digits}?text={encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indonesian_forms_become_e164() {
        for (input, want) in [
            ("081234567890", "+6281234567890"),
            ("0812-3456-7890", "+6281234567890"),
            ("0812 3456 7890", "+6281234567890"),
            ("+62 812 3456 7890", "+6281234567890"),
            ("6281234567890", "+6281234567890"),
            ("81234567890", "+6281234567890"),
            ("0062 812 3456 7890", "+6281234567890"),
            ("(0628) 20123", "+6262820123"),
            ("0812 3456 7890 / 0813 1111 2222", "+6281234567890"),
            ("0812-3456-7890 atau 0813", "+6281234567890"),
            ("+65 6123 4567", "+6561234567"),
        ] {
            assert_eq!(normalize(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(normalize("  "), Err(PhoneError::Empty));
        assert!(matches!(
            normalize("tidak ada"),
            Err(PhoneError::Invalid(_))
        ));
        assert!(matches!(normalize("0812 3456"), Err(PhoneError::Length(_))));
        assert!(matches!(
            normalize("0812abc4567"),
            Err(PhoneError::Invalid(_))
        ));
        assert!(matches!(normalize("12345"), Err(PhoneError::Invalid(_))));
        assert!(matches!(
            normalize("+62 0812 3456 7890"),
            Err(PhoneError::Length(_))
        ));
        let e = normalize("halo")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("tidak sah"), "{e}");
    }

    #[test]
    fn click_to_chat_links_encode_the_text() {
        assert_eq!(
            click_to_chat("+6281100000000", "DAFTAR 0142307703072025"),
            "https://wa.me/6281100000000?text=DAFTAR+0142307703072025"
        );
    }
}
