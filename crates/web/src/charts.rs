//! Charts drawn on the server as inline SVG: no chart library, no JavaScript, nothing to
//! download — they render on a cheap phone over a slow line, scale with the viewBox, and print.
//! Every label is escaped (permit type names come from SICANTIK and may contain anything).

use std::fmt::Write;

/// One labelled value.
pub struct Datum<'a> {
    pub label: &'a str,
    pub value: f64,
}

const PALETTE: [&str; 6] = [
    "#0b4f6c", "#20bf55", "#f5a623", "#d64545", "#6c5ce7", "#01baef",
];

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

/// Negative, NaN and infinite values count as zero.
fn clean(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 { v } else { 0.0 }
}

/// `1234567` → `1.234.567` (Indonesian thousands separator).
pub fn format_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn fmt_value(v: f64) -> String {
    format_thousands(v.round() as i64)
}

/// A "nice" tick step (1, 2 or 5 × 10ⁿ) giving about `ticks` intervals up to `max`.
pub fn nice_step(max: f64, ticks: u32) -> f64 {
    let max = clean(max);
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / f64::from(ticks.max(1));
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    // Counts are whole numbers: never a fractional step.
    step.max(1.0)
}

fn truncate(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

fn open(id: &str, title: &str, width: u32, height: u32) -> String {
    format!(
        "<svg class=\"chart\" data-chart=\"{}\" role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {width} {height}\" \
         width=\"100%\" preserveAspectRatio=\"xMidYMid meet\" xmlns=\"http://www.w3.org/2000/svg\" \
         font-family=\"inherit\" font-size=\"12\"><title>{t}</title>",
        escape(id),
        t = escape(title)
    )
}

fn empty(id: &str, title: &str) -> String {
    let mut s = open(id, title, 420, 80);
    s.push_str("<text x=\"210\" y=\"45\" text-anchor=\"middle\" fill=\"#5f6b76\">Belum ada data</text></svg>");
    s
}

fn all_zero(values: impl Iterator<Item = f64>) -> bool {
    values.map(clean).all(|v| v == 0.0)
}

fn bar(x: f64, y: f64, w: f64, h: f64, series: usize, tip: &str) -> String {
    format!(
        "<rect class=\"bar s{series}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"2\" fill=\"{}\"><title>{}</title></rect>",
        PALETTE[series % PALETTE.len()],
        escape(tip)
    )
}

/// Vertical columns with a value axis (e.g. permits issued per month).
pub fn column_chart(id: &str, title: &str, data: &[Datum]) -> String {
    if data.is_empty() || all_zero(data.iter().map(|d| d.value)) {
        return empty(id, title);
    }
    // A narrow viewBox keeps text legible when a phone scales the chart down to ~340 px.
    let (w, h) = (420.0, 230.0);
    let (left, right, top, bottom) = (40.0, 6.0, 16.0, 30.0);
    let max = data.iter().map(|d| clean(d.value)).fold(0.0, f64::max);
    let step = nice_step(max, 4);
    let top_value = (max / step).ceil() * step;
    let plot_h = h - top - bottom;
    let plot_w = w - left - right;
    let mut s = open(id, title, w as u32, h as u32);
    let mut tick = 0.0;
    while tick <= top_value + 0.5 {
        let y = top + plot_h - tick / top_value * plot_h;
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e5e8\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#333\">{}</text>",
            w - right,
            left - 6.0,
            y + 4.0,
            fmt_value(tick)
        );
        tick += step;
    }
    let slot = plot_w / data.len() as f64;
    let col_w = (slot * 0.7).max(1.0);
    let every = (data.len() / 12).max(1);
    for (i, d) in data.iter().enumerate() {
        let v = clean(d.value);
        let bh = v / top_value * plot_h;
        let x = left + slot * i as f64 + (slot - col_w) / 2.0;
        let y = top + plot_h - bh;
        s.push_str(&bar(
            x,
            y,
            col_w,
            bh,
            0,
            &format!("{}: {}", d.label, fmt_value(v)),
        ));
        if data.len() <= 12 && v > 0.0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333\" font-size=\"11\">{}</text>",
                x + col_w / 2.0,
                y - 4.0,
                fmt_value(v)
            );
        }
        if i.is_multiple_of(every) {
            // With many columns every other label is marked minor; the stylesheet hides those
            // on narrow screens so the rest stay readable.
            let minor = if data.len() > 8 && i % 2 == 1 {
                " class=\"minor\""
            } else {
                ""
            };
            let _ = write!(
                s,
                "<text{minor} x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333\" font-size=\"11\">{}</text>",
                x + col_w / 2.0,
                h - bottom + 18.0,
                escape(&truncate(d.label, 8))
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars, label on the left and value at the end (e.g. top permit types).
pub fn bar_chart(id: &str, title: &str, data: &[Datum]) -> String {
    if data.is_empty() || all_zero(data.iter().map(|d| d.value)) {
        return empty(id, title);
    }
    let row = 24.0;
    let (w, label_w, value_w) = (420.0, 165.0, 48.0);
    let h = row * data.len() as f64 + 8.0;
    let max = data.iter().map(|d| clean(d.value)).fold(0.0, f64::max);
    let span = w - label_w - value_w;
    let mut s = open(id, title, w as u32, h as u32);
    for (i, d) in data.iter().enumerate() {
        let v = clean(d.value);
        let y = 4.0 + row * i as f64;
        let bw = if max > 0.0 {
            (v / max * span).max(if v > 0.0 { 2.0 } else { 0.0 })
        } else {
            0.0
        };
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#333\" font-size=\"11\"><title>{}</title>{}</text>",
            label_w - 6.0,
            y + 16.0,
            escape(d.label),
            escape(&truncate(d.label, 22))
        );
        s.push_str(&bar(
            label_w,
            y + 3.0,
            bw,
            row - 8.0,
            0,
            &format!("{}: {}", d.label, fmt_value(v)),
        ));
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#333\">{}</text>",
            label_w + bw + 6.0,
            y + 16.0,
            fmt_value(v)
        );
    }
    s.push_str("</svg>");
    s
}

/// Two series per label as paired horizontal bars, with a legend.
pub fn paired_bar_chart(
    id: &str,
    title: &str,
    series: (&str, &str),
    data: &[(&str, f64, f64)],
) -> String {
    if data.is_empty() || all_zero(data.iter().flat_map(|d| [d.1, d.2])) {
        return empty(id, title);
    }
    let row = 40.0;
    let (w, label_w, value_w) = (420.0, 140.0, 48.0);
    let h = row * data.len() as f64 + 30.0;
    let max = data
        .iter()
        .flat_map(|d| [clean(d.1), clean(d.2)])
        .fold(0.0, f64::max);
    let span = w - label_w - value_w;
    let mut s = open(id, title, w as u32, h as u32);
    for (k, name) in [series.0, series.1].into_iter().enumerate() {
        let x = label_w + 130.0 * k as f64;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"4\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.1}\" y=\"14\" fill=\"#333\">{}</text>",
            PALETTE[k],
            x + 16.0,
            escape(name)
        );
    }
    for (i, (label, a, b)) in data.iter().enumerate() {
        let y = 26.0 + row * i as f64;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#333\"><title>{}</title>{}</text>",
            label_w - 8.0,
            y + 20.0,
            escape(label),
            escape(&truncate(label, 20))
        );
        for (k, (v, name)) in [(clean(*a), series.0), (clean(*b), series.1)]
            .into_iter()
            .enumerate()
        {
            let by = y + 2.0 + 17.0 * k as f64;
            let bw = if max > 0.0 { v / max * span } else { 0.0 };
            s.push_str(&bar(
                label_w,
                by,
                bw,
                14.0,
                k,
                &format!("{label} — {name}: {}", fmt_value(v)),
            ));
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#333\" font-size=\"11\">{}</text>",
                label_w + bw + 5.0,
                by + 11.0,
                fmt_value(v)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// A ring of shares with a legend giving values and percentages.
pub fn donut_chart(id: &str, title: &str, data: &[Datum]) -> String {
    let total: f64 = data.iter().map(|d| clean(d.value)).sum();
    if data.is_empty() || total <= 0.0 {
        return empty(id, title);
    }
    let (cx, cy, r, stroke) = (80.0, 85.0, 58.0, 28.0);
    let circumference = 2.0 * std::f64::consts::PI * r;
    let h = (data.len() as f64 * 24.0 + 20.0).max(180.0);
    let mut s = open(id, title, 420, h as u32);
    let _ = write!(
        s,
        "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\" fill=\"none\" stroke=\"#e3e5e8\" stroke-width=\"{stroke}\"/>"
    );
    let mut offset = 0.0;
    for (i, d) in data.iter().enumerate() {
        let v = clean(d.value);
        let len = v / total * circumference;
        let pct = v / total * 100.0;
        let _ = write!(
            s,
            "<circle class=\"bar slice s{i}\" cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{stroke}\" \
             stroke-dasharray=\"{len:.2} {:.2}\" stroke-dashoffset=\"{:.2}\" transform=\"rotate(-90 {cx} {cy})\"><title>{}: {} ({pct:.0}%)</title></circle>",
            PALETTE[i % PALETTE.len()],
            circumference - len,
            -offset,
            escape(d.label),
            fmt_value(v)
        );
        offset += len;
        let ly = 30.0 + 24.0 * i as f64;
        let _ = write!(
            s,
            "<rect x=\"165\" y=\"{:.1}\" width=\"14\" height=\"14\" fill=\"{}\"/><text x=\"185\" y=\"{:.1}\" fill=\"#333\">{}: {} ({pct:.0}%)</text>",
            ly - 11.0,
            PALETTE[i % PALETTE.len()],
            ly,
            escape(&truncate(d.label, 20)),
            fmt_value(v)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{cx}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\" fill=\"#333\">{}</text></svg>",
        cy + 6.0,
        fmt_value(total)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Well-formedness: every opened tag is closed in order (enough for our own output).
    fn balanced(svg: &str) -> bool {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            rest = &rest[i + 1..];
            let Some(end) = rest.find('>') else {
                return false;
            };
            let tag = &rest[..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop().as_deref() != Some(name.trim()) {
                    return false;
                }
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap_or("").to_string();
                stack.push(name);
            }
        }
        stack.is_empty()
    }

    fn d(label: &str, value: f64) -> Datum<'_> {
        Datum { label, value }
    }

    #[test]
    fn labels_are_escaped() {
        let svg = bar_chart("x", "T", &[d("<script>\"&'", 3.0)]);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;&quot;&amp;&#39;"));
        assert!(balanced(&svg), "{svg}");
    }

    #[test]
    fn empty_and_zero_data_say_so() {
        for svg in [
            column_chart("a", "A", &[]),
            bar_chart("b", "B", &[d("x", 0.0)]),
            donut_chart("c", "C", &[d("x", 0.0), d("y", 0.0)]),
            paired_bar_chart("d", "D", ("p", "q"), &[("x", 0.0, 0.0)]),
        ] {
            assert!(svg.contains("Belum ada data"));
            assert!(svg.starts_with("<svg class=\"chart\""));
            assert!(balanced(&svg));
        }
    }

    #[test]
    fn bad_numbers_never_leak_into_the_svg() {
        let data = [
            d("a", f64::NAN),
            d("b", -5.0),
            d("c", f64::INFINITY),
            d("e", 4.0),
        ];
        for svg in [
            column_chart("a", "A", &data),
            bar_chart("b", "B", &data),
            donut_chart("c", "C", &data),
        ] {
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            assert!(balanced(&svg));
        }
    }

    #[test]
    fn one_bar_per_value() {
        let data = [d("a", 1.0), d("b", 2.0), d("c", 3.0)];
        assert_eq!(
            column_chart("a", "A", &data).matches("class=\"bar").count(),
            3
        );
        assert_eq!(bar_chart("a", "A", &data).matches("class=\"bar").count(), 3);
        assert_eq!(
            donut_chart("a", "A", &data).matches("class=\"bar").count(),
            3
        );
        let paired = paired_bar_chart("p", "P", ("x", "y"), &[("a", 1.0, 2.0), ("b", 3.0, 0.0)]);
        assert_eq!(paired.matches("class=\"bar").count(), 4);
        assert!(balanced(&paired));
    }

    #[test]
    fn numbers_in_indonesian_style() {
        assert_eq!(format_thousands(1_234_567), "1.234.567");
        assert_eq!(format_thousands(999), "999");
        assert_eq!(format_thousands(1000), "1.000");
        assert_eq!(format_thousands(-12_345), "-12.345");
        assert_eq!(format_thousands(0), "0");
    }

    #[test]
    fn tick_steps_are_round() {
        assert_eq!(nice_step(100.0, 4), 50.0);
        assert_eq!(nice_step(7.0, 4), 2.0);
        assert_eq!(nice_step(1234.0, 4), 500.0);
        assert_eq!(nice_step(0.0, 4), 1.0);
        assert_eq!(nice_step(2.0, 4), 1.0);
    }

    #[test]
    fn accessible_and_scalable() {
        let svg = column_chart(
            "issued",
            "Izin per bulan",
            &[d("Jan 26", 5.0), d("Feb 26", 8.0)],
        );
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-label=\"Izin per bulan\""));
        assert!(svg.contains("<title>Izin per bulan</title>"));
        assert!(svg.contains("viewBox=") && svg.contains("width=\"100%\""));
        let svg_tag = &svg[..svg.find('>').unwrap_or(0)];
        assert!(
            !svg_tag.contains(" height="),
            "no fixed pixel height on the svg element"
        );
        assert!(svg.contains("<title>Feb 26: 8</title>"));
    }

    #[test]
    fn long_labels_are_shortened_but_kept_in_the_tooltip() {
        let long = "IZIN USAHA PERDAGANGAN BESAR DAN ECERAN BAHAN BAKAR MINYAK DAN GAS";
        let svg = bar_chart("t", "T", &[d(long, 10.0)]);
        assert!(svg.contains('…'));
        assert!(svg.contains(&format!("<title>{long}</title>")));
    }

    #[test]
    fn deterministic() {
        let data = [d("a", 1.0), d("b", 2.0)];
        assert_eq!(column_chart("a", "A", &data), column_chart("a", "A", &data));
    }
}
