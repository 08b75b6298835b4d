//! The signer's passphrase: typed by the official for one signing or batch, held only in memory
//! for that job, wiped when dropped, and never printed (`Debug` shows `***`, no `Display`).

use zeroize::Zeroizing;

#[derive(Clone, Default)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The text, for the one place that sends it (the BSrE request body).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_text() {
        let p = Passphrase::new("rahasia-sekali".into());
        assert_eq!(format!("{p:?}"), "Passphrase(***)");
        assert_eq!(format!("{:?}", Some(p.clone())), "Some(Passphrase(***))");
        assert_eq!(p.expose(), "rahasia-sekali");
    }
}
