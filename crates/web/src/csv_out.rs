//! Every CSV the product writes goes through [`CsvOut`]: UTF-8 with a BOM (so spreadsheet
//! programs read it), and every cell neutralised against formula injection.
//!
//! A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and some also after a leading
//! TAB or CR) as a formula: an applicant's name `=HYPERLINK("http://x")` in an export would become
//! a live link or worse on an officer's desktop. The OWASP rule: such a cell gets a leading single
//! quote, which the spreadsheet shows as text. Quoting of commas and quotes is the `csv` crate's.

use std::borrow::Cow;

use crate::ApiError;

/// The characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection").
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell`, with a leading `'` if it would otherwise start a formula.
pub fn safe_cell(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A CSV document in memory whose cells are all neutralised.
pub struct CsvOut {
    writer: csv::Writer<Vec<u8>>,
    /// Names the export in the log when writing fails.
    what: &'static str,
}

impl CsvOut {
    pub fn new(what: &'static str) -> Self {
        Self {
            writer: csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec()),
            what,
        }
    }

    fn failed(&self, e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, export = self.what, "CSV export failed");
        ApiError::internal()
    }

    /// One line; every cell through [`safe_cell`].
    pub fn row<I, S>(&mut self, cells: I) -> Result<(), ApiError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let cells: Vec<String> = cells
            .into_iter()
            .map(|c| safe_cell(c.as_ref()).into_owned())
            .collect();
        self.writer.write_record(&cells).map_err(|e| self.failed(e))
    }

    /// The bytes written.
    pub fn finish(self) -> Result<Vec<u8>, ApiError> {
        let what = self.what;
        self.writer.into_inner().map_err(|e| {
            tracing::error!(error = %e, export = what, "CSV export failed");
            ApiError::internal()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised() {
        for bad in [
            "=HYPERLINK(\"http://x\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ] {
            assert_eq!(safe_cell(bad), format!("'{bad}"), "{bad:?}");
        }
        for fine in ["", "GINTING", "503/0112/IUT", "a=b", " =1", "'already"] {
            assert_eq!(safe_cell(fine), fine, "{fine:?}");
        }
    }

    #[test]
    fn every_cell_of_a_row_is_neutralised_and_quoted() {
        let mut out = CsvOut::new("test");
        out.row(["nama", "catatan"]).expect("header");
        out.row(["=HYPERLINK(\"http://x\")", "biasa, saja"])
            .expect("row");
        let text = String::from_utf8(out.finish().expect("bytes")).expect("utf-8");
        let text = text.trim_start_matches('\u{feff}');
        assert_eq!(
            text,
            "nama,catatan\n\"'=HYPERLINK(\"\"http://x\"\")\",\"biasa, saja\"\n"
        );
    }
}
