//! Renders responses the way SICANTIK's `REST_Controller` does: JSON with every scalar a string,
//! or (the default) XML with `<xml><item>…</item></xml>`, keys reduced to letters and underscores
//! and values passed through PHP's `htmlentities`.

use serde_json::{Map, Value};

pub(crate) type Row = Vec<(&'static str, Option<String>)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Xml,
}

pub(crate) enum Body {
    Rows(Vec<Row>),
    Error(String),
    /// A page as it stands (CodeIgniter's error views), whatever format was asked for.
    Raw(String),
}

pub(crate) fn render(format: Format, body: &Body) -> (String, &'static str) {
    if let Body::Raw(page) = body {
        return (page.clone(), "text/html");
    }
    match format {
        Format::Json => (render_json(body), "application/json"),
        Format::Xml => (render_xml(body), "application/xml"),
    }
}

fn render_json(body: &Body) -> String {
    let value = match body {
        Body::Rows(rows) => Value::Array(
            rows.iter()
                .map(|r| {
                    Value::Object(
                        r.iter()
                            .map(|(k, v)| {
                                (
                                    k.to_string(),
                                    v.clone().map(Value::String).unwrap_or(Value::Null),
                                )
                            })
                            .collect::<Map<_, _>>(),
                    )
                })
                .collect(),
        ),
        Body::Error(m) => serde_json::json!({ "error": m }),
        Body::Raw(_) => Value::Null,
    };
    value.to_string()
}

/// PHP `htmlentities` without quotes: `& < >` and Latin-1 letters as named entities.
pub(crate) fn htmlentities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            'É' => out.push_str("&Eacute;"),
            'é' => out.push_str("&eacute;"),
            'è' => out.push_str("&egrave;"),
            'ü' => out.push_str("&uuml;"),
            'ö' => out.push_str("&ouml;"),
            c if (c as u32) > 127 => out.push_str(&format!("&#{};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn xml_key(k: &str) -> String {
    k.chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == '_')
        .collect()
}

fn render_xml(body: &Body) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<xml>");
    match body {
        Body::Rows(rows) => {
            for row in rows {
                out.push_str("<item>");
                for (k, v) in row {
                    let key = xml_key(k);
                    match v.as_deref() {
                        None | Some("") => out.push_str(&format!("<{key}/>")),
                        Some(v) => out.push_str(&format!("<{key}>{}</{key}>", htmlentities(v))),
                    }
                }
                out.push_str("</item>");
            }
        }
        Body::Error(m) => out.push_str(&format!("<error>{}</error>", htmlentities(m))),
        Body::Raw(_) => {}
    }
    out.push_str("</xml>\n");
    out
}
