//! Server-rendered SVG charts for the staff dashboard.
//!
//! Hand-written SVG instead of a chart library: no JavaScript and nothing loaded from a CDN,
//! so the charts appear at once on a cheap phone over a slow (or offline) office network,
//! scale with their `viewBox` from a 360 px phone to a desktop, print, and stay accessible
//! (`role="img"`, `aria-label`, and a `<title>` tooltip on every bar for hover or tap).
//!
//! Every piece of text is escaped: permit type names come from SICANTIK and may contain
//! anything. Negative and non-finite values count as zero; empty or all-zero data renders
//! "Belum ada data". The same input always gives the same string.
//!
//! Bars carry `class="bar sN"` (N indexes the palette) plus a `fill` fallback, so the
//! stylesheet may restyle them; axis labels marked `minor` may be hidden on narrow screens.

use std::f64::consts::{FRAC_1_SQRT_2, PI};
use std::fmt::Write;

/// One labelled value.
pub struct Datum<'a> {
    pub label: &'a str,
    pub value: f64,
}

/// Series colours: bar `k` gets class `s{k}` and this fill.
const PALETTE: [&str; 6] = [
    "#0b4f6c", "#20bf55", "#f5a623", "#d64545", "#6c5ce7", "#01baef",
];
const TEXT: &str = "#333";
const GRID: &str = "#e3e5e8";
const AXIS: &str = "#b8bec4";
/// Width of every viewBox. Narrow on purpose: a phone shrinks it to ~340 px, which keeps
/// 11-unit text at about 9 px.
const W: f64 = 420.0;
/// Font size of axis and bar labels (the svg default is 12).
const SMALL: f64 = 11.0;
/// Characters per line of a bar label; two lines show about 38 characters.
const LABEL_LINE: usize = 19;
/// Values are counts; anything larger is clamped so the arithmetic stays finite.
const MAX_VALUE: f64 = 1e15;
const EMPTY: &str = "Belum ada data";

/// Escapes text for XML content and attribute values. Control characters, which XML does not
/// allow, become spaces.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `1234567` → `1.234.567` (Indonesian thousands separator).
pub fn format_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// Tick step for an axis from 0 to `max`: the 1, 2 or 5 × 10ⁿ step (at least 1, the values
/// are counts) whose number of intervals is closest to `ticks`; on a tie the tighter axis wins.
/// With `ticks = 4` any `max` above 2 gets 3–5 intervals.
pub fn nice_step(max: f64, ticks: u32) -> f64 {
    let max = clean(max);
    if max <= 0.0 {
        return 1.0;
    }
    let target = f64::from(ticks.max(1));
    let magnitude = 10f64.powi((max / target).log10().floor() as i32);
    let score = |step: f64| {
        let n = (max / step).ceil();
        ((n - target).abs(), n * step)
    };
    let mut best = (1.0, score(1.0));
    for scale in [magnitude / 10.0, magnitude, magnitude * 10.0] {
        for m in [1.0, 2.0, 5.0] {
            let step = m * scale;
            if step < 1.0 {
                continue;
            }
            let sc = score(step);
            if sc.0 < best.1.0 || (sc.0 == best.1.0 && sc.1 < best.1.1) {
                best = (step, sc);
            }
        }
    }
    best.0
}

/// Negative, NaN and infinite values count as zero.
fn clean(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v.min(MAX_VALUE)
    } else {
        0.0
    }
}

/// A cleaned value as shown: rounded, with thousands separators.
fn fmt_value(v: f64) -> String {
    format_thousands(v.round() as i64)
}

/// Estimated width of `s` in viewBox units, erring wide (per-glyph widths of a broad sans).
fn text_width(s: &str, size: f64) -> f64 {
    let em: f64 = s
        .chars()
        .map(|c| match c {
            ' ' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | 'i' | 'j' | 'l' | 'I' => 0.35,
            '(' | ')' | '[' | ']' | 'f' | 't' | 'r' | '-' => 0.42,
            'm' | 'w' | 'M' | 'W' | '…' | '—' | '%' => 1.0,
            c if c.is_ascii_digit() => 0.64,
            c if c.is_uppercase() => 0.74,
            _ => 0.6,
        })
        .sum();
    em * size
}

/// Squeezes text estimated wider than `room` into it (rare: very wide labels).
fn fit(text: &str, size: f64, room: f64) -> String {
    if text_width(text, size) > room {
        format!(" textLength=\"{room:.1}\" lengthAdjust=\"spacingAndGlyphs\"")
    } else {
        String::new()
    }
}

fn widest<'a>(texts: impl Iterator<Item = &'a str>, size: f64) -> f64 {
    texts.map(|t| text_width(t, size)).fold(0.0, f64::max)
}

/// Collapses runs of whitespace (including newlines) to single spaces.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Cuts `s` to at most `max` characters, ending in "…" when shortened.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A bar label as at most two lines of `LABEL_LINE` characters, broken at a space where
/// sensible; whatever does not fit ends in "…".
fn wrap_label(label: &str) -> Vec<String> {
    let text = one_line(label);
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= LABEL_LINE {
        return vec![text];
    }
    let cut = chars[..=LABEL_LINE]
        .iter()
        .rposition(|c| *c == ' ')
        .filter(|p| *p >= LABEL_LINE / 2);
    let (first, rest): (String, String) = match cut {
        Some(p) => (chars[..p].iter().collect(), chars[p + 1..].iter().collect()),
        None => (
            chars[..LABEL_LINE].iter().collect(),
            chars[LABEL_LINE..].iter().collect(),
        ),
    };
    vec![first, truncate(&rest, LABEL_LINE)]
}

/// Width of the label column left of horizontal bars.
fn label_column(rows: &[Vec<String>]) -> f64 {
    let w = widest(rows.iter().flatten().map(String::as_str), SMALL);
    (w + 10.0).clamp(40.0, 165.0)
}

/// Opening `<svg>` tag and its `<title>`; no pixel height, so it scales with the page.
fn open(id: &str, title: &str, h: f64) -> String {
    let t = escape(title);
    format!(
        "<svg class=\"chart\" data-chart=\"{}\" role=\"img\" aria-label=\"{t}\" \
         xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W:.0} {h:.0}\" width=\"100%\" \
         preserveAspectRatio=\"xMidYMid meet\" font-family=\"inherit\" font-size=\"12\" \
         fill=\"{TEXT}\"><title>{t}</title>",
        escape(id)
    )
}

fn empty(id: &str, title: &str) -> String {
    let mut s = open(id, title, 80.0);
    let _ = write!(
        s,
        "<text x=\"{:.0}\" y=\"45\" text-anchor=\"middle\" fill=\"{TEXT}\">{EMPTY}</text></svg>",
        W / 2.0
    );
    s
}

/// One drawn bar with its hover/tap tooltip.
fn bar(s: &mut String, (x, y, w, h): (f64, f64, f64, f64), series: usize, tip: &str) {
    let k = series % PALETTE.len();
    let _ = write!(
        s,
        "<rect class=\"bar s{k}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" \
         rx=\"2\" fill=\"{}\"><title>{}</title></rect>",
        PALETTE[k],
        escape(tip)
    );
}

/// A right-aligned label of one or two lines, vertically centred on `cy`; the full label
/// goes into a `<title>` when it had to be shortened.
fn bar_label(s: &mut String, x: f64, cy: f64, lines: &[String], full: &str) {
    let y = cy + 4.0 - 6.5 * (lines.len().saturating_sub(1)) as f64;
    let _ = write!(
        s,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"end\" fill=\"{TEXT}\" font-size=\"{SMALL}\">"
    );
    if lines.join(" ") != one_line(full) {
        let _ = write!(s, "<title>{}</title>", escape(full));
    }
    for (k, line) in lines.iter().enumerate() {
        let dy = if k == 0 { 0.0 } else { 13.0 };
        let _ = write!(
            s,
            "<tspan x=\"{x:.1}\" dy=\"{dy}\"{}>{}</tspan>",
            fit(line, SMALL, x - 2.0),
            escape(line)
        );
    }
    s.push_str("</text>");
}

fn value_text(s: &mut String, x: f64, y: f64, value: &str) {
    let _ = write!(
        s,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" fill=\"{TEXT}\" font-size=\"{SMALL}\">{value}</text>"
    );
}

/// Vertical columns (e.g. permits issued per month). `id` is a slug used as data-chart attribute.
pub fn column_chart(id: &str, title: &str, data: &[Datum]) -> String {
    let values: Vec<f64> = data.iter().map(|d| clean(d.value)).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return empty(id, title);
    }
    let step = nice_step(max, 4);
    let intervals = (max / step).ceil().max(1.0) as usize;
    let top_value = intervals as f64 * step;
    let ticks: Vec<String> = (0..=intervals)
        .map(|k| fmt_value(k as f64 * step))
        .collect();
    let mut left = widest(ticks.iter().map(String::as_str), SMALL) + 10.0;
    let (right, top, plot_h) = (6.0, 18.0, 170.0);
    let base = top + plot_h;
    let n = data.len();

    // x labels: side by side when they fit, else turned 45° and, if still too dense, thinned.
    let labels: Vec<String> = data
        .iter()
        .map(|d| truncate(&one_line(d.label), 10))
        .collect();
    let label_w = widest(labels.iter().map(String::as_str), SMALL);
    let rotate = label_w > (W - left - right) / n as f64 - 4.0;
    if rotate {
        // Room for the first label, which slants to the left of its column.
        left = left.max(label_w * FRAC_1_SQRT_2 - 3.0);
    }
    let slot = (W - left - right) / n as f64;
    let col_w = (slot * 0.7).min(48.0);
    let every = if rotate {
        (15.0 / slot).ceil().max(1.0) as usize
    } else {
        1
    };
    // Beyond 12 labels every other one is "minor" (the stylesheet hides those on phones).
    let many = n.div_ceil(every) > 12;
    let bottom = if rotate {
        label_w * FRAC_1_SQRT_2 + 20.0
    } else {
        24.0
    };

    let mut s = open(id, title, (base + bottom).ceil());
    for (k, tick) in ticks.iter().enumerate() {
        let y = base - k as f64 * step / top_value * plot_h;
        let stroke = if k == 0 { AXIS } else { GRID };
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{left:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" \
             stroke=\"{stroke}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" \
             fill=\"{TEXT}\" font-size=\"{SMALL}\">{tick}</text>",
            W - right,
            left - 5.0,
            y + 4.0
        );
    }
    for (i, (d, &v)) in data.iter().zip(&values).enumerate() {
        let cx = left + slot * (i as f64 + 0.5);
        let bh = v / top_value * plot_h;
        let shown = fmt_value(v);
        let tip = format!("{}: {shown}", one_line(d.label));
        bar(&mut s, (cx - col_w / 2.0, base - bh, col_w, bh), 0, &tip);
        if n <= 12 && v > 0.0 {
            let size = if text_width(&shown, SMALL) <= slot {
                SMALL
            } else {
                9.0
            };
            let _ = write!(
                s,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{TEXT}\" \
                 font-size=\"{size}\">{shown}</text>",
                base - bh - 4.0
            );
        }
        if i % every != 0 {
            continue;
        }
        let minor = if many && (i / every) % 2 == 1 {
            " class=\"minor\""
        } else {
            ""
        };
        let (x, y) = if rotate {
            (cx + 3.0, base + 12.0)
        } else {
            (cx, base + 16.0)
        };
        let placement = if rotate {
            format!("text-anchor=\"end\" transform=\"rotate(-45 {x:.1} {y:.1})\"")
        } else {
            "text-anchor=\"middle\"".to_string()
        };
        let _ = write!(
            s,
            "<text{minor} x=\"{x:.1}\" y=\"{y:.1}\" {placement} fill=\"{TEXT}\" font-size=\"{SMALL}\">"
        );
        if labels[i] != one_line(d.label) {
            let _ = write!(s, "<title>{}</title>", escape(d.label));
        }
        let _ = write!(s, "{}</text>", escape(&labels[i]));
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars with the label left of each bar and the value at its end (e.g. top permit
/// types). Long labels wrap to two lines of ~19 characters and end in "…"; the full label is
/// in a `<title>` tooltip.
pub fn bar_chart(id: &str, title: &str, data: &[Datum]) -> String {
    let values: Vec<f64> = data.iter().map(|d| clean(d.value)).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return empty(id, title);
    }
    let rows: Vec<Vec<String>> = data.iter().map(|d| wrap_label(d.label)).collect();
    let shown: Vec<String> = values.iter().map(|v| fmt_value(*v)).collect();
    let label_w = label_column(&rows);
    let span = W - label_w - widest(shown.iter().map(String::as_str), SMALL) - 8.0;
    let row = if rows.iter().any(|r| r.len() > 1) {
        34.0
    } else {
        24.0
    };
    let mut s = open(id, title, row * data.len() as f64 + 8.0);
    for (i, d) in data.iter().enumerate() {
        let v = values[i];
        let cy = 4.0 + row * (i as f64 + 0.5);
        let bw = if v > 0.0 {
            (v / max * span).max(2.0)
        } else {
            0.0
        };
        bar_label(&mut s, label_w - 6.0, cy, &rows[i], d.label);
        let tip = format!("{}: {}", one_line(d.label), shown[i]);
        bar(&mut s, (label_w, cy - 8.0, bw, 16.0), 0, &tip);
        value_text(&mut s, label_w + bw + 4.0, cy + 4.0, &shown[i]);
    }
    s.push_str("</svg>");
    s
}

/// Grouped horizontal bars comparing two series per label (e.g. "ours vs upstream"), with a
/// legend above.
pub fn paired_bar_chart(
    id: &str,
    title: &str,
    series: (&str, &str),
    data: &[(&str, f64, f64)],
) -> String {
    let values: Vec<[f64; 2]> = data.iter().map(|d| [clean(d.1), clean(d.2)]).collect();
    let max = values.iter().flatten().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return empty(id, title);
    }
    let names = [one_line(series.0), one_line(series.1)];
    let short: Vec<String> = names.iter().map(|n| truncate(n, 24)).collect();

    // Legend: both entries on one line when they fit, otherwise one under the other.
    let entry = |k: usize| 16.0 + text_width(&short[k], 12.0);
    let one_row = 4.0 + entry(0) + 20.0 + entry(1) <= W;
    let spots = if one_row {
        [(4.0, 6.0), (4.0 + entry(0) + 20.0, 6.0)]
    } else {
        [(4.0, 6.0), (4.0, 26.0)]
    };
    let legend_h = if one_row { 26.0 } else { 46.0 };

    let rows: Vec<Vec<String>> = data.iter().map(|d| wrap_label(d.0)).collect();
    let shown: Vec<[String; 2]> = values
        .iter()
        .map(|p| [fmt_value(p[0]), fmt_value(p[1])])
        .collect();
    let label_w = label_column(&rows);
    let span = W - label_w - widest(shown.iter().flatten().map(String::as_str), SMALL) - 8.0;
    let row = 40.0;
    let mut s = open(id, title, legend_h + row * data.len() as f64 + 4.0);
    for (k, (x, y)) in spots.into_iter().enumerate() {
        let _ = write!(
            s,
            "<rect class=\"swatch s{k}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"12\" height=\"12\" \
             fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{TEXT}\">",
            PALETTE[k],
            x + 16.0,
            y + 10.5
        );
        if short[k] != names[k] {
            let _ = write!(s, "<title>{}</title>", escape(&names[k]));
        }
        let _ = write!(s, "{}</text>", escape(&short[k]));
    }
    for (i, d) in data.iter().enumerate() {
        let cy = legend_h + row * (i as f64 + 0.5);
        bar_label(&mut s, label_w - 6.0, cy, &rows[i], d.0);
        for k in 0..2 {
            let v = values[i][k];
            let by = cy - 15.5 + 17.0 * k as f64;
            let bw = if v > 0.0 {
                (v / max * span).max(2.0)
            } else {
                0.0
            };
            let tip = format!("{} ({}): {}", one_line(d.0), names[k], shown[i][k]);
            bar(&mut s, (label_w, by, bw, 14.0), k, &tip);
            value_text(&mut s, label_w + bw + 4.0, by + 11.0, &shown[i][k]);
        }
    }
    s.push_str("</svg>");
    s
}

/// Share as shown in the donut legend; tiny non-zero shares do not read as 0 % or 100 %.
fn percent(share: f64) -> String {
    let pct = share * 100.0;
    if pct > 0.0 && pct < 0.5 {
        "<1%".to_string()
    } else if pct > 99.5 && pct < 100.0 {
        ">99%".to_string()
    } else {
        format!("{pct:.0}%")
    }
}

/// A donut/ring for shares (e.g. issued vs in process); the legend gives values and
/// percentages, the total sits in the middle.
pub fn donut_chart(id: &str, title: &str, data: &[Datum]) -> String {
    let values: Vec<f64> = data.iter().map(|d| clean(d.value)).collect();
    let total: f64 = values.iter().sum();
    if total <= 0.0 {
        return empty(id, title);
    }
    let (cx, cy, r, stroke) = (80.0, 85.0, 58.0, 28.0);
    let circumference = 2.0 * PI * r;
    let n = data.len() as f64;
    // The legend is centred beside the ring, or runs below it when long.
    let legend_top = (cy - (n - 1.0) * 11.0).max(20.0);
    let h = (legend_top + 22.0 * n).max(170.0);
    let mut s = open(id, title, h);
    let _ = write!(
        s,
        "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\" fill=\"none\" stroke=\"{GRID}\" \
         stroke-width=\"{stroke}\"/>"
    );
    let mut offset = 0.0;
    for (i, (d, &v)) in data.iter().zip(&values).enumerate() {
        let k = i % PALETTE.len();
        let share = v / total;
        let len = share * circumference;
        let label = one_line(d.label);
        let caption = format!("{} ({})", fmt_value(v), percent(share));
        let _ = write!(
            s,
            "<circle class=\"bar slice s{k}\" cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\" fill=\"none\" \
             stroke=\"{}\" stroke-width=\"{stroke}\" stroke-dasharray=\"{len:.2} {:.2}\" \
             stroke-dashoffset=\"{:.2}\" transform=\"rotate(-90 {cx} {cy})\">\
             <title>{}: {}</title></circle>",
            PALETTE[k],
            circumference - len,
            0.0 - offset,
            escape(&label),
            escape(&caption)
        );
        offset += len;
        let ly = legend_top + 22.0 * i as f64;
        let short = truncate(&label, 20);
        let _ = write!(
            s,
            "<rect class=\"swatch s{k}\" x=\"165\" y=\"{:.1}\" width=\"12\" height=\"12\" \
             fill=\"{}\"/><text x=\"183\" y=\"{:.1}\" fill=\"{TEXT}\" font-size=\"{SMALL}\"{}>",
            ly - 10.0,
            PALETTE[k],
            ly,
            fit(&format!("{short}: {caption}"), SMALL, W - 185.0)
        );
        if short != label {
            let _ = write!(s, "<title>{}</title>", escape(&label));
        }
        let _ = write!(s, "{}: {}</text>", escape(&short), escape(&caption));
    }
    let total_text = fmt_value(total);
    let size = if total_text.len() > 7 { 14 } else { 18 };
    let _ = write!(
        s,
        "<text x=\"{cx}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"{size}\" \
         font-weight=\"bold\" fill=\"{TEXT}\">{total_text}</text></svg>",
        cy + 6.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal XML well-formedness check for our own output: tags nest and close, attributes
    /// are quoted and unique, and every `&` starts a known entity.
    fn well_formed(svg: &str) -> Result<(), String> {
        fn text_ok(t: &str) -> Result<(), String> {
            if t.contains('>') || t.contains('<') {
                return Err(format!("raw bracket in {t:?}"));
            }
            let mut rest = t;
            while let Some(i) = rest.find('&') {
                rest = &rest[i..];
                let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"];
                if !known.iter().any(|e| rest.starts_with(e)) {
                    return Err(format!("bare & in {t:?}"));
                }
                rest = &rest[1..];
            }
            Ok(())
        }
        fn attrs_ok(mut a: &str) -> Result<(), String> {
            let mut seen = Vec::new();
            loop {
                a = a.trim_start();
                if a.is_empty() {
                    return Ok(());
                }
                let eq = a
                    .find('=')
                    .ok_or(format!("attribute without value: {a:?}"))?;
                let name = &a[..eq];
                let name_ok = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':');
                if !name_ok || seen.contains(&name) {
                    return Err(format!("bad or repeated attribute name {name:?}"));
                }
                seen.push(name);
                let v = a[eq + 1..]
                    .strip_prefix('"')
                    .ok_or(format!("unquoted value of {name}"))?;
                let end = v.find('"').ok_or(format!("unterminated value of {name}"))?;
                text_ok(&v[..end])?;
                a = &v[end + 1..];
            }
        }
        let mut stack: Vec<&str> = Vec::new();
        let mut closed_root = false;
        let mut rest = svg;
        loop {
            let Some(lt) = rest.find('<') else {
                text_ok(rest)?;
                break;
            };
            text_ok(&rest[..lt])?;
            if closed_root {
                return Err("content after the root element".into());
            }
            let after = &rest[lt + 1..];
            let gt = after.find('>').ok_or("unterminated tag")?;
            let tag = &after[..gt];
            rest = &after[gt + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name => closed_root = stack.is_empty(),
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            } else {
                let self_closing = tag.ends_with('/');
                let body = tag.trim_end_matches('/');
                let (name, attrs) = body.split_once(' ').unwrap_or((body, ""));
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!("bad tag {tag:?}"));
                }
                attrs_ok(attrs)?;
                if self_closing {
                    closed_root = stack.is_empty();
                } else {
                    stack.push(name);
                }
            }
        }
        if closed_root && stack.is_empty() && svg.starts_with("<svg ") {
            Ok(())
        } else {
            Err(format!("unclosed: {stack:?}"))
        }
    }

    fn check(svg: &str) {
        if let Err(e) = well_formed(svg) {
            panic!("not well-formed ({e}): {svg}");
        }
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(
            !svg.contains("NaN") && !svg.contains("inf"),
            "bad number: {svg}"
        );
    }

    fn d(label: &str, value: f64) -> Datum<'_> {
        Datum { label, value }
    }

    fn all_four(data: &[Datum]) -> Vec<String> {
        let pairs: Vec<(&str, f64, f64)> =
            data.iter().map(|x| (x.label, x.value, x.value)).collect();
        vec![
            column_chart("c", "Kolom", data),
            bar_chart("b", "Batang", data),
            paired_bar_chart("p", "Pasangan", ("Kami", "SICANTIK"), &pairs),
            donut_chart("d", "Donat", data),
        ]
    }

    #[test]
    fn escape_covers_all_five_characters() {
        assert_eq!(escape("<script>\"&'"), "&lt;script&gt;&quot;&amp;&#39;");
        assert_eq!(escape("a\u{0}b\nc"), "a b c");
        assert_eq!(escape("Izin Usaha"), "Izin Usaha");
    }

    #[test]
    fn hostile_labels_ids_and_titles_are_escaped() {
        let evil = "<script>\"&'";
        let data = [d(evil, 3.0), d("ok", 1.0)];
        let pairs = [(evil, 1.0, 2.0)];
        for svg in [
            column_chart(evil, evil, &data),
            bar_chart(evil, evil, &data),
            paired_bar_chart(evil, evil, (evil, evil), &pairs),
            donut_chart(evil, evil, &data),
        ] {
            check(&svg);
            assert!(!svg.contains("<script"), "{svg}");
            assert!(svg.contains("&lt;script&gt;&quot;&amp;&#39;"), "{svg}");
        }
    }

    #[test]
    fn empty_data_says_so() {
        for svg in all_four(&[]) {
            check(&svg);
            assert!(svg.contains(EMPTY));
            assert_eq!(svg.matches("class=\"bar").count(), 0);
        }
    }

    #[test]
    fn all_zero_data_says_so() {
        for svg in all_four(&[d("a", 0.0), d("b", 0.0)]) {
            check(&svg);
            assert!(svg.contains("Belum ada data"), "{svg}");
        }
    }

    #[test]
    fn bad_numbers_count_as_zero() {
        let data = [
            d("a", f64::NAN),
            d("b", -5.0),
            d("c", f64::INFINITY),
            d("e", f64::NEG_INFINITY),
            d("f", 4.0),
        ];
        for svg in all_four(&data) {
            check(&svg);
            assert!(!svg.contains(EMPTY));
            assert!(
                svg.contains("<title>b: 0") || svg.contains("<title>b (Kami): 0"),
                "{svg}"
            );
        }
        for svg in all_four(&[d("x", f64::NAN), d("y", -1.0)]) {
            check(&svg);
            assert!(svg.contains(EMPTY));
        }
        // Absurdly large values are clamped, never overflow.
        for svg in all_four(&[d("x", f64::MAX), d("y", f64::MAX)]) {
            check(&svg);
        }
    }

    #[test]
    fn numbers_in_indonesian_style() {
        assert_eq!(format_thousands(1_234_567), "1.234.567");
        assert_eq!(format_thousands(12_345), "12.345");
        assert_eq!(format_thousands(999), "999");
        assert_eq!(format_thousands(1000), "1.000");
        assert_eq!(format_thousands(0), "0");
        assert_eq!(format_thousands(-12_345), "-12.345");
        assert_eq!(format_thousands(i64::MIN), "-9.223.372.036.854.775.808");
    }

    #[test]
    fn one_bar_per_value() {
        for n in [1, 3, 7, 12, 13, 40] {
            let labels: Vec<String> = (0..n).map(|i| format!("L{i}")).collect();
            let data: Vec<Datum> = labels.iter().map(|l| d(l, 5.0)).collect();
            let pairs: Vec<(&str, f64, f64)> =
                labels.iter().map(|l| (l.as_str(), 1.0, 0.0)).collect();
            for svg in [
                column_chart("c", "C", &data),
                bar_chart("b", "B", &data),
                donut_chart("d", "D", &data),
            ] {
                check(&svg);
                assert_eq!(svg.matches("class=\"bar").count(), n, "{svg}");
            }
            let paired = paired_bar_chart("p", "P", ("x", "y"), &pairs);
            check(&paired);
            assert_eq!(paired.matches("class=\"bar").count(), 2 * n);
        }
    }

    #[test]
    fn tick_steps_are_round() {
        assert_eq!(nice_step(100.0, 4), 20.0);
        assert_eq!(nice_step(7.0, 4), 2.0);
        assert_eq!(nice_step(45.0, 4), 10.0);
        assert_eq!(nice_step(1234.0, 4), 500.0);
        assert_eq!(nice_step(12_345.0, 4), 5000.0);
        assert_eq!(nice_step(2.0, 4), 1.0);
        assert_eq!(nice_step(0.0, 4), 1.0);
        assert_eq!(nice_step(f64::NAN, 4), 1.0);
        // Any maximum above 2 gets 3–5 intervals of a 1/2/5 × 10ⁿ step.
        let mut max = 2.1;
        while max < 1e12 {
            let step = nice_step(max, 4);
            let n = (max / step).ceil();
            assert!(
                (3.0..=5.0).contains(&n),
                "max {max}: step {step}, {n} intervals"
            );
            let mantissa = step / 10f64.powi(step.log10().floor() as i32);
            assert!(
                [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-9),
                "step {step}"
            );
            max *= 1.37;
        }
    }

    #[test]
    fn column_axis_has_gridlines_with_thousands() {
        let svg = column_chart("k", "K", &[d("Jan 26", 12_345.0), d("Feb 26", 800.0)]);
        check(&svg);
        let lines = svg.matches("class=\"grid\"").count();
        assert!((4..=6).contains(&lines), "{lines} gridlines");
        assert!(svg.contains(">15.000</text>"), "{svg}");
        assert!(svg.contains(">12.345</text>"), "value on top of the column");
    }

    #[test]
    fn values_on_columns_only_when_few() {
        let months = [
            "Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des",
            "Jan",
        ];
        let data: Vec<Datum> = months.iter().map(|m| d(m, 777.0)).collect();
        let twelve = column_chart("a", "A", &data[..12]);
        assert_eq!(twelve.matches(">777</text>").count(), 12);
        let thirteen = column_chart("a", "A", &data);
        assert_eq!(thirteen.matches(">777</text>").count(), 0);
    }

    #[test]
    fn many_columns_get_rotated_and_thinned_labels() {
        let few = column_chart("a", "A", &[d("Jan 26", 1.0), d("Feb 26", 2.0)]);
        assert!(!few.contains("rotate("));
        let labels: Vec<String> = (0..36).map(|i| format!("Bln {i:02} 26")).collect();
        let data: Vec<Datum> = labels.iter().map(|l| d(l, 3.0)).collect();
        let svg = column_chart("a", "A", &data);
        check(&svg);
        assert!(svg.contains("rotate(-45"));
        let shown = svg.matches("rotate(-45").count();
        assert!((12..36).contains(&shown), "{shown} labels shown");
        assert!(svg.contains("class=\"minor\""));
    }

    #[test]
    fn long_labels_wrap_and_keep_the_full_text_in_a_tooltip() {
        let long = "IZIN USAHA PERDAGANGAN BESAR DAN ECERAN BAHAN BAKAR MINYAK DAN GAS";
        let svg = bar_chart("t", "T", &[d(long, 10.0), d("Izin Reklame", 4.0)]);
        check(&svg);
        assert!(svg.contains('…'));
        assert!(svg.contains(&format!("<title>{long}</title>")));
        assert!(svg.contains(&format!("<title>{long}: 10</title>")));
        let lines = wrap_label(long);
        assert_eq!(lines.len(), 2);
        assert!(
            lines.iter().all(|l| l.chars().count() <= LABEL_LINE),
            "{lines:?}"
        );
        assert_eq!(lines[0], "IZIN USAHA");
        assert_eq!(wrap_label("Izin Reklame"), vec!["Izin Reklame"]);
        // Text too wide for the label column is squeezed, not clipped.
        assert!(bar_chart("w", "W", &[d(&"W".repeat(19), 1.0)]).contains("textLength"));
        assert!(!svg.contains("textLength"));
        let word = "X".repeat(50);
        assert_eq!(wrap_label(&word)[0].chars().count(), LABEL_LINE);
    }

    #[test]
    fn accessible_and_scalable() {
        let svg = column_chart(
            "issued",
            "Izin per bulan",
            &[d("Jan 26", 5.0), d("Feb 26", 8.0)],
        );
        check(&svg);
        let tag = &svg[..svg.find('>').unwrap_or(0)];
        for attr in [
            "data-chart=\"issued\"",
            "role=\"img\"",
            "aria-label=\"Izin per bulan\"",
            "viewBox=\"0 0 420 ",
            "width=\"100%\"",
            "preserveAspectRatio=",
        ] {
            assert!(tag.contains(attr), "{attr} missing in {tag}");
        }
        assert!(!tag.contains(" height="), "no fixed pixel height");
        assert!(svg.contains("<title>Izin per bulan</title>"));
        assert!(svg.contains("<title>Feb 26: 8</title>"));
    }

    #[test]
    fn palette_classes_and_fill_fallback() {
        let paired = paired_bar_chart("p", "P", ("Kami", "Hulu"), &[("a", 1.0, 2.0)]);
        assert!(paired.contains("class=\"bar s0\"") && paired.contains("fill=\"#0b4f6c\""));
        assert!(paired.contains("class=\"bar s1\"") && paired.contains("fill=\"#20bf55\""));
        assert!(paired.contains(">Kami</text>") && paired.contains(">Hulu</text>"));
        let donut = donut_chart("d", "D", &[d("a", 1.0), d("b", 1.0), d("c", 1.0)]);
        assert!(donut.contains("class=\"bar slice s2\"") && donut.contains("stroke=\"#f5a623\""));
    }

    #[test]
    fn donut_legend_has_values_and_percentages() {
        let svg = donut_chart(
            "s",
            "Status",
            &[d("Terbit", 3000.0), d("Dalam proses", 1000.0)],
        );
        check(&svg);
        assert!(svg.contains(">Terbit: 3.000 (75%)</text>"), "{svg}");
        assert!(svg.contains(">Dalam proses: 1.000 (25%)</text>"));
        assert!(svg.contains(">4.000</text>"), "total in the middle");
        let tiny = donut_chart("s", "S", &[d("a", 1000.0), d("b", 1.0)]);
        check(&tiny);
        assert!(
            tiny.contains("(&lt;1%)") && tiny.contains("(&gt;99%)"),
            "{tiny}"
        );
    }

    #[test]
    fn deterministic() {
        let data = [d("a", 1.0), d("b", 2.5)];
        assert_eq!(all_four(&data), all_four(&data));
    }
}
