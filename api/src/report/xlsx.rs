//! The action-plan workbook (Office Open XML, `.xlsx`): a summary sheet, then one sheet per
//! finding category (all four, in the commission's order) with a row per finding and measure answering
//! it, as the CSV has them. Headings are in Japanese and English, as in the other formats.
//!
//! Every cell is a value: text is written as a string cell (`write_string`, never a formula,
//! so a title starting with `=`, `+`, `-` or `@` stays the literal text), dates as dates,
//! counts as numbers. The two header rows are frozen and the column headings carry an
//! autofilter; column widths are measured in display cells (a CJK character counts two).
//! The workbook's creation time is the report's date, so the same data gives the same bytes.
use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet, XlsxError,
};

use super::{category_heading, status_label, FindingRow, MeasureRow, ReportData};
use entity::enums::FindingCategory;

/// The category sheets, in the order the other formats list findings.
const CATEGORIES: [(FindingCategory, &str); 4] = [
    (FindingCategory::Organizational, "組織的 Organizational"),
    (FindingCategory::Human, "人的 Human"),
    (FindingCategory::Physical, "物理的 Physical"),
    (FindingCategory::Technical, "技術的 Technical"),
];

/// The summary sheet's name.
pub const SUMMARY_SHEET: &str = "概要 Summary";

/// The column headings of a category sheet.
pub const HEADINGS: [&str; 14] = [
    "指摘 / Finding",
    "指摘事項 / Facts",
    "指示 / Directive",
    "対策 / Measure",
    "対策の内容 / Measure title",
    "担当 / Owner",
    "当初期限 / Original due date",
    "現在の期限 / Current due date",
    "状況 / Status",
    "期限超過 / Overdue",
    "期限変更回数 / Times moved",
    "完了日 / Completed on",
    "証跡 / Evidence",
    "評価 / Verdicts",
];

/// Columns whose text wraps (long prose) and their widest width.
const WRAPPED: [usize; 5] = [1, 2, 4, 12, 13];
const MAX_WIDTH: usize = 60;

/// One cell's value.
enum Cell {
    Text(String),
    Date(Option<chrono::NaiveDate>),
    Number(f64),
}

/// Display width of text in Excel's character units: East Asian wide characters count two.
pub fn display_width(s: &str) -> usize {
    s.lines()
        .map(|line| {
            line.chars()
                .map(|c| {
                    let u = c as u32;
                    let wide = (0x1100..=0x115F).contains(&u)
                        || (0x2E80..=0xA4CF).contains(&u)
                        || (0xAC00..=0xD7A3).contains(&u)
                        || (0xF900..=0xFAFF).contains(&u)
                        || (0xFE30..=0xFE4F).contains(&u)
                        || (0xFF00..=0xFF60).contains(&u)
                        || (0xFFE0..=0xFFE6).contains(&u);
                    if wide {
                        2
                    } else {
                        1
                    }
                })
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0)
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn measure_cells(m: &MeasureRow) -> Vec<Cell> {
    vec![
        text(m.code.clone()),
        text(m.title_local.clone().unwrap_or_else(|| m.title.clone())),
        text(
            m.owner
                .as_ref()
                .map(|o| o.name_local.clone().unwrap_or_else(|| o.name.clone()))
                .unwrap_or_default(),
        ),
        Cell::Date(m.original_due_on),
        Cell::Date(m.due_on),
        text(status_label(m.status)),
        text(if m.overdue { "超過 / OVERDUE" } else { "" }),
        Cell::Number(m.times_moved as f64),
        Cell::Date(m.completed_on),
        text(
            m.evidence
                .iter()
                .map(|e| {
                    format!(
                        "{} (sha256:{}){}",
                        e.title,
                        e.sha256,
                        if e.superseded {
                            " 差替済 / superseded"
                        } else {
                            ""
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        text(
            m.evaluations
                .iter()
                .map(|e| {
                    let mut s = format!("{} {} {}", e.evaluated_on, e.evaluator, e.verdict);
                    if let Some(c) = &e.comment {
                        s.push_str(": ");
                        s.push_str(c);
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ]
}

fn finding_cells(f: &FindingRow) -> Vec<Cell> {
    vec![
        text(format!("{} {}", f.number, f.title)),
        text(f.facts.clone()),
        text(f.directive.clone()),
    ]
}

/// The rows of one category: one per finding and measure answering it.
fn rows(data: &ReportData, category: FindingCategory) -> Vec<Vec<Cell>> {
    let mut out = Vec::new();
    for f in data.findings.iter().filter(|f| f.category == category) {
        let measures: Vec<&MeasureRow> = data
            .measures
            .iter()
            .filter(|m| f.measures.contains(&m.code))
            .collect();
        if measures.is_empty() {
            out.push(finding_cells(f));
        }
        for m in measures {
            let mut cells = finding_cells(f);
            cells.extend(measure_cells(m));
            out.push(cells);
        }
    }
    out
}

struct Formats {
    title: Format,
    heading: Format,
    plain: Format,
    wrapped: Format,
    date: Format,
}

fn date_value(d: chrono::NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    use chrono::Datelike;
    ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)
}

fn write_cell(
    ws: &mut Worksheet,
    row: u32,
    col: usize,
    cell: &Cell,
    f: &Formats,
) -> Result<(), XlsxError> {
    let c = col as u16;
    match cell {
        Cell::Text(s) if s.is_empty() => {}
        Cell::Text(s) => {
            let fmt = if WRAPPED.contains(&col) {
                &f.wrapped
            } else {
                &f.plain
            };
            ws.write_string_with_format(row, c, s, fmt)?;
        }
        Cell::Date(Some(d)) => {
            ws.write_datetime_with_format(row, c, date_value(*d)?, &f.date)?;
        }
        Cell::Date(None) => {}
        Cell::Number(n) => {
            ws.write_number_with_format(row, c, *n, &f.plain)?;
        }
    }
    Ok(())
}

fn cell_width(cell: &Cell) -> usize {
    match cell {
        Cell::Text(s) => display_width(s),
        Cell::Date(_) => 10,
        Cell::Number(n) => n.to_string().len(),
    }
}

fn category_sheet(
    ws: &mut Worksheet,
    data: &ReportData,
    category: FindingCategory,
    name: &str,
    f: &Formats,
) -> Result<(), XlsxError> {
    ws.set_name(name)?;
    ws.write_string_with_format(
        0,
        0,
        format!(
            "{} — {} — {} 時点 / as of {}",
            data.order.reference,
            category_heading(category),
            data.as_of,
            data.as_of
        ),
        &f.title,
    )?;
    let mut widths: Vec<usize> = HEADINGS.iter().map(|h| display_width(h) + 2).collect();
    for (c, h) in HEADINGS.iter().enumerate() {
        ws.write_string_with_format(1, c as u16, *h, &f.heading)?;
    }
    let rows = rows(data, category);
    for (i, cells) in rows.iter().enumerate() {
        let r = 2 + i as u32;
        for (c, cell) in cells.iter().enumerate() {
            write_cell(ws, r, c, cell, f)?;
            widths[c] = widths[c].max(cell_width(cell) + 1);
        }
    }
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(c as u16, (*w).clamp(8, MAX_WIDTH) as f64)?;
    }
    ws.set_freeze_panes(2, 0)?;
    ws.autofilter(1, 0, 1 + rows.len() as u32, (HEADINGS.len() - 1) as u16)?;
    Ok(())
}

fn summary_sheet(ws: &mut Worksheet, data: &ReportData, f: &Formats) -> Result<(), XlsxError> {
    ws.set_name(SUMMARY_SHEET)?;
    let o = &data.order;
    let count = |c: FindingCategory| data.findings.iter().filter(|x| x.category == c).count();
    let mut lines: Vec<(&str, Cell)> = vec![
        ("命令 / Order", text(o.reference.clone())),
        (
            "件名 / Title",
            text(o.title_local.clone().unwrap_or_else(|| o.title.clone())),
        ),
        (
            "規制当局 / Regulator",
            text(
                o.regulator_name_local
                    .clone()
                    .unwrap_or_else(|| o.regulator_name.clone()),
            ),
        ),
        ("発出日 / Issued on", Cell::Date(Some(o.issued_on))),
        ("基準日 / As of", Cell::Date(Some(data.as_of))),
        (
            "指摘数 / Findings",
            Cell::Number(data.findings.len() as f64),
        ),
        (
            "対策数 / Measures",
            Cell::Number(data.measures.len() as f64),
        ),
    ];
    if let Some(basis) = &o.legal_basis {
        lines.insert(3, ("根拠 / Legal basis", text(basis.clone())));
    }
    for (c, name) in CATEGORIES {
        if count(c) > 0 {
            lines.push((name, Cell::Number(count(c) as f64)));
        }
    }
    ws.write_string_with_format(0, 0, "項目 / Item", &f.heading)?;
    ws.write_string_with_format(0, 1, "内容 / Value", &f.heading)?;
    let mut widths = [display_width("項目 / Item") + 2, 12];
    for (i, (label, cell)) in lines.iter().enumerate() {
        let r = 1 + i as u32;
        ws.write_string_with_format(r, 0, *label, &f.plain)?;
        match cell {
            Cell::Text(s) => {
                ws.write_string_with_format(r, 1, s, &f.plain)?;
            }
            Cell::Date(Some(d)) => {
                ws.write_datetime_with_format(r, 1, date_value(*d)?, &f.date)?;
            }
            Cell::Date(None) => {}
            Cell::Number(n) => {
                ws.write_number_with_format(r, 1, *n, &f.plain)?;
            }
        }
        widths[0] = widths[0].max(display_width(label) + 1);
        widths[1] = widths[1].max(cell_width(cell) + 1);
    }
    ws.set_column_width(0, widths[0].clamp(8, MAX_WIDTH) as f64)?;
    ws.set_column_width(1, widths[1].clamp(8, MAX_WIDTH + 20) as f64)?;
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

fn build(data: &ReportData) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let created = date_value(data.as_of)?;
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!("{} {}", data.order.reference, data.as_of))
            .set_creation_datetime(&created),
    );
    let f = Formats {
        title: Format::new().set_bold(),
        heading: Format::new()
            .set_bold()
            .set_text_wrap()
            .set_align(FormatAlign::Top)
            .set_background_color(0xDDEBF7),
        plain: Format::new().set_align(FormatAlign::Top),
        wrapped: Format::new().set_text_wrap().set_align(FormatAlign::Top),
        date: Format::new()
            .set_num_format("yyyy-mm-dd")
            .set_align(FormatAlign::Top),
    };
    summary_sheet(wb.add_worksheet(), data, &f)?;
    // Every category has its sheet, findings or not, so the workbook's shape is fixed.
    for (c, name) in CATEGORIES {
        category_sheet(wb.add_worksheet(), data, c, name, &f)?;
    }
    wb.save_to_buffer()
}

/// Renders the workbook.
pub fn render(data: &ReportData) -> anyhow::Result<Vec<u8>> {
    build(data).map_err(|e| anyhow::anyhow!("workbook: {e}"))
}

/// The sheet names of a category's findings, for callers that list them.
pub fn sheet_name(c: FindingCategory) -> &'static str {
    CATEGORIES
        .iter()
        .find(|(x, _)| *x == c)
        .map(|(_, n)| *n)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_counts_double() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("組織的"), 6);
        assert_eq!(display_width("ｱ"), 1);
        assert_eq!(display_width("one\nlonger line"), 11);
    }

    #[test]
    fn sheet_names_are_valid() {
        for (_, n) in CATEGORIES {
            assert!(n.chars().count() <= 31);
            assert!(!n.contains(['[', ']', ':', '*', '?', '/', '\\']));
        }
    }
}
