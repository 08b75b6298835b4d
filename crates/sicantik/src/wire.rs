//! SICANTIK's two wire formats. JSON is asked for; XML (the server's default, from PHP's
//! `REST_Controller`) is still understood because proxies and old deployments answer with it.
//! Every scalar arrives as a string; `null` and empty XML elements become `None`.
//!
//! SICANTIK runs on CodeIgniter, whose error views come with status 200 as often as 500: a PHP
//! notice is printed as an HTML block where it happens (before, inside or after the payload),
//! a database error, general error or 404 page replaces the payload. Blocks are cut out and what
//! remains is parsed; a body that is only an error view is an [`WireError::ErrorView`] — a failed
//! request, never data and never the end of a list.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::Value;

/// One upstream row: column name → value (`None` for null/empty element).
pub type RawRow = BTreeMap<String, Option<String>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Rows(Vec<RawRow>),
    /// An `{"error": "…"}` object, e.g. "Tidak ada data.." or "No Izin tidak Terdaftar!".
    Error(String),
}

/// Which of CodeIgniter's error views a body was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorView {
    /// `errors/error_php.php`: "A PHP Error was encountered" (notice, warning, deprecated, error).
    Php,
    /// `errors/error_db.php`: "A Database Error Occurred".
    Database,
    /// `errors/error_general.php`: "An Error Was Encountered".
    General,
    /// `errors/error_404.php`: "404 Page Not Found".
    PageNotFound,
}

impl ErrorView {
    fn describe(self) -> &'static str {
        match self {
            ErrorView::Php => "a PHP error",
            ErrorView::Database => "a database error page",
            ErrorView::General => "a general error page",
            ErrorView::PageNotFound => "CodeIgniter's 404 page",
        }
    }
}

impl std::fmt::Display for ErrorView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty response body")]
    Empty,
    #[error("an HTML page instead of data")]
    Html,
    #[error("CodeIgniter error view ({0}) instead of data")]
    ErrorView(ErrorView),
    #[error("malformed {format}: {detail}")]
    Malformed {
        format: &'static str,
        detail: String,
    },
}

/// The heading texts of CodeIgniter's whole-page error views (PyroCMS may restyle the markup,
/// not the words).
const PAGE_VIEWS: [(&str, ErrorView); 3] = [
    ("a database error occurred", ErrorView::Database),
    ("an error was encountered", ErrorView::General),
    ("404 page not found", ErrorView::PageNotFound),
];
const PHP_ERROR_HEADING: &str = "a php error was encountered";

/// Parses a response body in whichever format it is actually in.
pub fn parse_body(body: &str) -> Result<Payload, WireError> {
    let body = body.trim_start_matches('\u{feff}').trim();
    if body.is_empty() {
        return Err(WireError::Empty);
    }
    let (body, stripped) = strip_php_errors(body);
    let body = strip_php_noise(body.trim()).trim();
    if body.is_empty() {
        return Err(if stripped {
            WireError::ErrorView(ErrorView::Php)
        } else {
            WireError::Empty
        });
    }
    match body.as_bytes()[0] {
        b'[' | b'{' => parse_json(body),
        b'<' if is_xml_start(body) => parse_xml(body),
        b'<' => Err(html_kind(body)),
        _ => Err(WireError::Malformed {
            format: "body",
            detail: format!(
                "unexpected start {:?}",
                body.chars().take(20).collect::<String>()
            ),
        }),
    }
}

fn is_xml_start(body: &str) -> bool {
    let head = ascii_lower_head(body, 8);
    head.starts_with("<?xml") || head.starts_with("<xml")
}

fn ascii_lower_head(body: &str, chars: usize) -> String {
    body.chars()
        .take(chars)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// What an HTML body is: one of CodeIgniter's error views, or some other page.
fn html_kind(body: &str) -> WireError {
    let lower = ascii_lower_head(body, 8192);
    for (heading, view) in PAGE_VIEWS {
        if lower.contains(heading) {
            return WireError::ErrorView(view);
        }
    }
    if lower.contains(PHP_ERROR_HEADING) {
        return WireError::ErrorView(ErrorView::Php);
    }
    WireError::Html
}

/// Cuts every "A PHP Error was encountered" block (`<div …>…</div>`, no nested divs in the stock
/// view) out of the body, wherever it stands. Returns the rest and whether anything was cut.
fn strip_php_errors(body: &str) -> (std::borrow::Cow<'_, str>, bool) {
    // Byte offsets are shared between `body` and its ASCII-lowercased copy (same lengths).
    if !body.to_ascii_lowercase().contains(PHP_ERROR_HEADING) {
        return (std::borrow::Cow::Borrowed(body), false);
    }
    let mut rest = body.to_string();
    let mut stripped = false;
    loop {
        let lower = rest.to_ascii_lowercase();
        let Some(at) = lower.find(PHP_ERROR_HEADING) else {
            break;
        };
        let (Some(start), Some(end)) = (
            lower[..at].rfind("<div"),
            lower[at..].find("</div>").map(|e| at + e + "</div>".len()),
        ) else {
            // A restyled view without its div: leave it to the noise filter.
            break;
        };
        rest.replace_range(start..end, "");
        stripped = true;
    }
    (std::borrow::Cow::Owned(rest), stripped)
}

/// A misconfigured PHP server prints warnings ("<br />\n<b>Deprecated</b>: …") before the payload.
/// When the body starts like that, skip to where the payload starts.
fn strip_php_noise(body: &str) -> &str {
    let lower_head = ascii_lower_head(body, 40);
    let noisy = [
        "<br",
        "<b>",
        "<div",
        "<h4",
        "<p>",
        "warning:",
        "notice:",
        "deprecated:",
        "php ",
        "fatal error",
        "severity:",
    ]
    .iter()
    .any(|m| lower_head.starts_with(m));
    if !noisy {
        return body;
    }
    let starts = ["<?xml", "<xml", "[{", "[]", "{\""];
    starts
        .iter()
        .filter_map(|s| body.find(s))
        .min()
        .map_or(body, |i| &body[i..])
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1".into() } else { "0".into() }),
        other => Some(other.to_string()),
    }
}

fn json_row(obj: &serde_json::Map<String, Value>) -> RawRow {
    obj.iter().map(|(k, v)| (k.clone(), scalar(v))).collect()
}

fn parse_json(body: &str) -> Result<Payload, WireError> {
    let value: Value = serde_json::from_str(body).map_err(|e| WireError::Malformed {
        format: "JSON",
        detail: e.to_string(),
    })?;
    match value {
        Value::Array(items) => {
            let mut rows = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Object(obj) => rows.push(json_row(&obj)),
                    // A row that is not an object cannot carry an id; keep it visible as a row
                    // without columns so validation skips and logs it.
                    other => rows.push(RawRow::from([(
                        "_raw".to_string(),
                        Some(other.to_string()),
                    )])),
                }
            }
            Ok(Payload::Rows(rows))
        }
        Value::Object(obj) => match obj.get("error") {
            Some(msg) if obj.len() == 1 => Ok(Payload::Error(scalar(msg).unwrap_or_default())),
            _ => Ok(Payload::Rows(vec![json_row(&obj)])),
        },
        other => Err(WireError::Malformed {
            format: "JSON",
            detail: format!("unexpected top-level {other}"),
        }),
    }
}

fn decode_text(raw: &[u8]) -> String {
    // The server escapes with PHP's htmlentities, so HTML named entities (&eacute;) appear that
    // XML does not define; decode the HTML set, which includes XML's five.
    html_escape::decode_html_entities(&String::from_utf8_lossy(raw)).into_owned()
}

fn parse_xml(body: &str) -> Result<Payload, WireError> {
    let malformed = |detail: String| WireError::Malformed {
        format: "XML",
        detail,
    };
    let mut reader = Reader::from_str(body);
    let mut path: Vec<String> = Vec::new();
    let mut rows: Vec<RawRow> = Vec::new();
    let mut root_row = RawRow::new();
    let mut current: Option<RawRow> = None;
    let mut text = String::new();
    let mut error: Option<String> = None;
    let mut seen_root = false;
    loop {
        match reader.read_event() {
            Err(e) => return Err(malformed(e.to_string())),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if path.is_empty() {
                    if name != "xml" {
                        // REST_Controller's root is always <xml>; anything else is not its answer.
                        return Err(malformed(format!("root element <{name}> instead of <xml>")));
                    }
                    seen_root = true;
                }
                if path.len() == 1 && name == "item" {
                    current = Some(RawRow::new());
                }
                path.push(name);
                text.clear();
            }
            Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match path.len() {
                    0 if name == "xml" => seen_root = true,
                    0 => {
                        return Err(malformed(format!(
                            "root element <{name}/> instead of <xml>"
                        )));
                    }
                    1 if name == "item" => rows.push(RawRow::new()),
                    1 => {
                        root_row.insert(name, None);
                    }
                    2 => {
                        if let Some(row) = current.as_mut() {
                            row.insert(name, None);
                        }
                    }
                    _ => {}
                }
            }
            Ok(Event::Text(t)) => text.push_str(&decode_text(t.as_ref())),
            Ok(Event::CData(t)) => text.push_str(&String::from_utf8_lossy(t.as_ref())),
            Ok(Event::End(_)) => {
                let Some(name) = path.pop() else {
                    return Err(malformed("unbalanced end tag".into()));
                };
                let value = Some(text.trim().to_string()).filter(|v| !v.is_empty());
                match path.len() {
                    1 if name == "item" => {
                        if let Some(row) = current.take() {
                            rows.push(row);
                        }
                    }
                    1 if name == "error" => error = Some(value.unwrap_or_default()),
                    1 => {
                        root_row.insert(name, value);
                    }
                    2 => {
                        if let Some(row) = current.as_mut() {
                            row.insert(name, value);
                        }
                    }
                    _ => {}
                }
                text.clear();
                if path.is_empty() {
                    // The root is closed: the document is whole; what follows is noise.
                    break;
                }
            }
            Ok(_) => {}
        }
    }
    if !seen_root {
        return Err(malformed("no <xml> root element".into()));
    }
    if !path.is_empty() {
        return Err(malformed(format!(
            "document ends inside <{}>",
            path.join("><")
        )));
    }
    if let Some(msg) = error.filter(|_| rows.is_empty() && root_row.is_empty()) {
        return Ok(Payload::Error(msg));
    }
    if rows.is_empty() && !root_row.is_empty() {
        rows.push(root_row);
    }
    Ok(Payload::Rows(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Option<&str>)]) -> RawRow {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn json_rows_with_strings_numbers_and_nulls() {
        let body = r#"[{"pendaftaran_id":"0142307703072025","num_rows":412,"n_pemohon":null}]"#;
        let Payload::Rows(rows) = parse_body(body).unwrap() else {
            panic!()
        };
        assert_eq!(
            rows[0],
            row(&[
                ("pendaftaran_id", Some("0142307703072025")),
                ("num_rows", Some("412")),
                ("n_pemohon", None)
            ])
        );
    }

    #[test]
    fn json_error_object() {
        assert_eq!(
            parse_body(r#"{"error":"Tidak ada data.."}"#).unwrap(),
            Payload::Error("Tidak ada data..".into())
        );
    }

    #[test]
    fn xml_list_with_empty_elements_and_html_entities() {
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<xml><item><pendaftaran_id>0098102001052024</pendaftaran_id>\
            <n_pemohon>JOS&Eacute; &amp; ANAK</n_pemohon><d_berlaku_izin/><no_surat>503/1/A/2024</no_surat></item>\
            <item><pendaftaran_id>2</pendaftaran_id><n_pemohon></n_pemohon></item></xml>";
        let Payload::Rows(rows) = parse_body(body).unwrap() else {
            panic!()
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["n_pemohon"].as_deref(), Some("JOSÉ & ANAK"));
        assert_eq!(rows[0]["d_berlaku_izin"], None);
        assert_eq!(rows[1]["n_pemohon"], None);
    }

    #[test]
    fn xml_error_and_count() {
        assert_eq!(
            parse_body("<xml><error>Tidak ada data..</error></xml>").unwrap(),
            Payload::Error("Tidak ada data..".into())
        );
        let Payload::Rows(rows) =
            parse_body("<xml><item><jumlahPerizinan>89</jumlahPerizinan></item></xml>").unwrap()
        else {
            panic!()
        };
        assert_eq!(rows[0]["jumlahPerizinan"].as_deref(), Some("89"));
    }

    #[test]
    fn html_page_empty_body_and_truncation_are_errors() {
        assert_eq!(
            parse_body("<!DOCTYPE html><html><body>Database Error</body></html>"),
            Err(WireError::Html)
        );
        assert_eq!(parse_body("  \n"), Err(WireError::Empty));
        assert!(matches!(
            parse_body(r#"[{"pendaftaran_id":"1""#),
            Err(WireError::Malformed { .. })
        ));
        assert!(matches!(
            parse_body("<xml><item><a>1</a>"),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn php_warnings_before_the_payload_are_skipped() {
        let body = "<br />\n<b>Deprecated</b>:  __autoload() is deprecated in <b>/var/www/index.php</b> on line <b>12</b><br />\n[{\"id\":\"1\"}]";
        assert_eq!(
            parse_body(body).unwrap(),
            Payload::Rows(vec![row(&[("id", Some("1"))])])
        );
    }

    use companion_simulators::codeigniter;

    const ROWS: &str = r#"[{"pendaftaran_id":"0142307703072025","n_pemohon":"A"}]"#;
    const XML_ROWS: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<xml><item><pendaftaran_id>0142307703072025</pendaftaran_id><n_pemohon>A</n_pemohon></item></xml>";

    fn one_row() -> Payload {
        Payload::Rows(vec![row(&[
            ("n_pemohon", Some("A")),
            ("pendaftaran_id", Some("0142307703072025")),
        ])])
    }

    #[test]
    fn the_issue_sample_notice_before_json_is_stripped() {
        let body = "<div style=\"border:1px solid #990000;padding-left:20px;margin:0 0 10px 0;\">\n<h4>A PHP Error was encountered</h4>\n<p>Severity: Notice</p>  <p>Message: Undefined offset: 1</p>  <p>Filename: controllers/api.php</p>  <p>Line Number: 77</p>\n</div>";
        assert_eq!(parse_body(&format!("{body}{ROWS}")).unwrap(), one_row());
    }

    #[test]
    fn php_error_blocks_before_inside_and_after_the_payload() {
        let notice = codeigniter::php_notice();
        let deprecated = codeigniter::php_deprecated();
        for body in [
            format!("{notice}{ROWS}"),
            format!("{notice}\n{deprecated}\n{ROWS}"),
            format!("{ROWS}{deprecated}"),
            format!("{notice}{ROWS}{deprecated}"),
            format!("{notice}{XML_ROWS}"),
            format!("{XML_ROWS}{notice}"),
            // Between two tokens of the payload.
            ROWS.replacen(',', &format!(",{notice}"), 1),
        ] {
            assert_eq!(parse_body(&body).unwrap(), one_row(), "{body}");
        }
        // Before an error object: still the error object.
        assert_eq!(
            parse_body(&format!("{notice}{{\"error\":\"Tidak ada data..\"}}")).unwrap(),
            Payload::Error("Tidak ada data..".into())
        );
    }

    #[test]
    fn a_body_that_is_only_an_error_view_is_a_failure() {
        let fatal = codeigniter::php_error("Error", "Allowed memory size exhausted", "x.php", 1);
        assert_eq!(
            parse_body(&fatal),
            Err(WireError::ErrorView(ErrorView::Php))
        );
        assert_eq!(
            parse_body(&codeigniter::database_error()),
            Err(WireError::ErrorView(ErrorView::Database))
        );
        assert_eq!(
            parse_body(&codeigniter::general_error()),
            Err(WireError::ErrorView(ErrorView::General))
        );
        assert_eq!(
            parse_body(&codeigniter::page_not_found()),
            Err(WireError::ErrorView(ErrorView::PageNotFound))
        );
        // A notice, then a database error page.
        assert_eq!(
            parse_body(&format!(
                "{}{}",
                codeigniter::php_notice(),
                codeigniter::database_error()
            )),
            Err(WireError::ErrorView(ErrorView::Database))
        );
    }

    #[test]
    fn a_restyled_error_block_before_the_payload_is_skipped() {
        // PyroCMS may restyle the view: the words stay, the div may go.
        let body = format!("<h4>A PHP Error was encountered</h4><p>Severity: Warning</p>{ROWS}");
        assert_eq!(parse_body(&body).unwrap(), one_row());
    }

    #[test]
    fn xml_that_is_not_rest_controllers_answer_is_malformed() {
        assert!(matches!(
            parse_body("<?xml version=\"1.0\"?><html><body>x</body></html>"),
            Err(WireError::Malformed { .. })
        ));
        assert!(matches!(
            parse_body("<?xml version=\"1.0\"?>"),
            Err(WireError::Malformed { .. })
        ));
    }
}
