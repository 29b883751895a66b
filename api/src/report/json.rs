//! The report data as pretty-printed JSON (keys in declaration order, lists pre-sorted).
use super::ReportData;

pub fn render(data: &ReportData) -> String {
    let mut out = serde_json::to_string_pretty(data).unwrap_or_else(|_| "{}".to_string());
    out.push('\n');
    out
}
