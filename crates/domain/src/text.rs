//! Small text normalisations shared by every layer.

/// Trims and folds runs of whitespace into one space. SICANTIK's free-text names sometimes carry
/// double spaces ("IZIN GANGGUAN  USAHA (HO)"), which would otherwise split one permit type in two.
pub fn fold_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `Some(folded)` when the value carries text, `None` for null, empty or blank.
pub fn non_blank(s: Option<&str>) -> Option<String> {
    s.map(fold_whitespace).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_double_spaces_and_trims() {
        assert_eq!(
            fold_whitespace("  IZIN GANGGUAN  USAHA (HO) "),
            "IZIN GANGGUAN USAHA (HO)"
        );
        assert_eq!(non_blank(Some("   ")), None);
        assert_eq!(non_blank(None), None);
        assert_eq!(non_blank(Some(" a\tb ")), Some("a b".into()));
    }
}
