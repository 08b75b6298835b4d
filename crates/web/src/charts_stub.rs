pub struct Datum<'a> {
    pub label: &'a str,
    pub value: f64,
}
pub fn column_chart(id: &str, _t: &str, d: &[Datum]) -> String {
    format!(
        "<svg class=\"chart\" data-chart=\"{id}\">{}</svg>",
        d.iter()
            .map(|_| "<rect class=\"bar\"/>")
            .collect::<String>()
    )
}
pub fn bar_chart(id: &str, t: &str, d: &[Datum]) -> String {
    column_chart(id, t, d)
}
pub fn donut_chart(id: &str, t: &str, d: &[Datum]) -> String {
    column_chart(id, t, d)
}
pub fn format_thousands(n: i64) -> String {
    n.to_string()
}
