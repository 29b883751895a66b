//! One row per finding and measure answering it (RFC 4180: CRLF line ends, fields quoted when
//! they hold a comma, quote or line break). Findings without measures get one row with empty
//! measure columns. An empty report is the header alone.
use super::{FindingRow, MeasureRow, ReportData};

pub const HEADER: [&str; 20] = [
    "order",
    "as_of",
    "category",
    "finding",
    "facts",
    "directive",
    "measure",
    "title",
    "status",
    "overdue",
    "recurrence",
    "started_on",
    "original_due_on",
    "due_on",
    "times_moved",
    "completed_on",
    "owner",
    "evidence",
    "measure_verdicts",
    "plan",
];

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn row(out: &mut String, cells: &[String]) {
    let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

fn measure_cells(m: &MeasureRow) -> Vec<String> {
    vec![
        m.code.clone(),
        m.title_local.clone().unwrap_or_else(|| m.title.clone()),
        m.status.as_str().to_string(),
        m.overdue.to_string(),
        m.recurrence.as_str().to_string(),
        date(m.started_on),
        date(m.original_due_on),
        date(m.due_on),
        m.times_moved.to_string(),
        date(m.completed_on),
        m.owner.as_ref().map(|o| o.code.clone()).unwrap_or_default(),
        m.evidence
            .iter()
            .map(|e| {
                format!(
                    "{} sha256:{}{}",
                    e.title,
                    e.sha256,
                    if e.superseded { " (superseded)" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        m.evaluations
            .iter()
            .map(|e| format!("{} {} {}", e.evaluated_on, e.evaluator, e.verdict))
            .collect::<Vec<_>>()
            .join("; "),
        m.plan.clone().unwrap_or_default(),
    ]
}

fn finding_cells(data: &ReportData, f: &FindingRow) -> Vec<String> {
    vec![
        data.order.reference.clone(),
        data.as_of.to_string(),
        f.category.as_str().to_string(),
        f.number.clone(),
        f.facts.clone(),
        f.directive.clone(),
    ]
}

pub fn render(data: &ReportData) -> String {
    let mut out = String::new();
    row(&mut out, &HEADER.map(str::to_string));
    for f in &data.findings {
        let measures: Vec<&MeasureRow> = data
            .measures
            .iter()
            .filter(|m| f.measures.contains(&m.code))
            .collect();
        if measures.is_empty() {
            let mut cells = finding_cells(data, f);
            cells.resize(HEADER.len(), String::new());
            row(&mut out, &cells);
        }
        for m in measures {
            let mut cells = finding_cells(data, f);
            cells.extend(measure_cells(m));
            row(&mut out, &cells);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }
}
