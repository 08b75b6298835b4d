//! SICANTIK's two wire formats. JSON is asked for; XML (the server's default, from PHP's
//! `REST_Controller`) is still understood because proxies and old deployments answer with it.
//! Every scalar arrives as a string; `null` and empty XML elements become `None`.

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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty response body")]
    Empty,
    #[error("an HTML page instead of data")]
    Html,
    #[error("malformed {format}: {detail}")]
    Malformed {
        format: &'static str,
        detail: String,
    },
}

/// Parses a response body in whichever format it is actually in.
pub fn parse_body(body: &str) -> Result<Payload, WireError> {
    let body = strip_php_noise(body.trim_start_matches('\u{feff}').trim());
    if body.is_empty() {
        return Err(WireError::Empty);
    }
    let head: String = body
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    if head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || head.starts_with("<head")
        || head.starts_with("<body")
    {
        return Err(WireError::Html);
    }
    match body.as_bytes()[0] {
        b'[' | b'{' => parse_json(body),
        b'<' => parse_xml(body),
        _ => Err(WireError::Malformed {
            format: "body",
            detail: format!(
                "unexpected start {:?}",
                head.chars().take(20).collect::<String>()
            ),
        }),
    }
}

/// A misconfigured PHP server prints warnings ("<br />\n<b>Deprecated</b>: …") before the payload.
/// When the body starts like that, skip to where the payload starts.
fn strip_php_noise(body: &str) -> &str {
    let lower_head: String = body
        .chars()
        .take(40)
        .collect::<String>()
        .to_ascii_lowercase();
    let noisy = [
        "<br",
        "<b>",
        "warning:",
        "notice:",
        "deprecated:",
        "php ",
        "fatal error",
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
    loop {
        match reader.read_event() {
            Err(e) => return Err(malformed(e.to_string())),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if path.len() == 1 && name == "item" {
                    current = Some(RawRow::new());
                }
                path.push(name);
                text.clear();
            }
            Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match path.len() {
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
            }
            Ok(_) => {}
        }
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
}
