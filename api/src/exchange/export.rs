//! The plan as the import template: every live (not archived) regulator, order, finding,
//! measure, owner and system, one sheet each, keys first, in key order. Every cell is a value:
//! the XLSX writes each one as a string (never a formula, whatever it starts with), dates as
//! YYYY-MM-DD text; so importing the export back changes nothing.
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;

use entity::*;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{Row, Sheet, Table};
use crate::error::{AppError, AppResult};

/// `ORDER-REF#number`: how a measure names a finding.
pub fn finding_key(order_reference: &str, number: &str) -> String {
    format!("{order_reference}#{number}")
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn date(v: Option<chrono::NaiveDate>) -> String {
    v.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn table(sheet: Sheet, mut rows: Vec<Vec<String>>) -> Table {
    rows.sort();
    Table {
        sheet,
        header: sheet.columns().iter().map(|c| c.to_string()).collect(),
        rows: rows
            .into_iter()
            .enumerate()
            .map(|(i, cells)| Row {
                line: i as u32 + 2,
                cells,
            })
            .collect(),
    }
}

/// Reads the live plan into the template's sheets, in the template's order.
pub async fn tables<C: ConnectionTrait>(db: &C) -> AppResult<Vec<Table>> {
    let regulators = regulator::Entity::find()
        .filter(regulator::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let orders = regulatory_order::Entity::find()
        .filter(regulatory_order::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let findings = finding::Entity::find()
        .filter(finding::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let measures = measure::Entity::find()
        .filter(measure::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let owners = owner::Entity::find()
        .filter(owner::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let systems = system::Entity::find()
        .filter(system::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    // Names of rows by id, archived ones too (a live row may point at one).
    let reg_code: HashMap<i64, String> = regulator::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.code))
        .collect();
    let order_ref: HashMap<i64, String> = regulatory_order::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.reference))
        .collect();
    let owner_code: HashMap<i64, String> = owner::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.code))
        .collect();
    let system_code: HashMap<i64, String> = system::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.code))
        .collect();
    let finding_keys: HashMap<i64, String> = finding::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|f| {
            let r = order_ref.get(&f.order_id).cloned().unwrap_or_default();
            (f.id, finding_key(&r, &f.number))
        })
        .collect();
    let mut measure_findings: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for l in measure_finding::Entity::find().all(db).await? {
        if let Some(k) = finding_keys.get(&l.finding_id) {
            measure_findings
                .entry(l.measure_id)
                .or_default()
                .push(k.clone());
        }
    }
    let mut measure_systems: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for l in measure_system::Entity::find().all(db).await? {
        if let Some(c) = system_code.get(&l.system_id) {
            measure_systems
                .entry(l.measure_id)
                .or_default()
                .push(c.clone());
        }
    }
    let lookup = |m: &HashMap<i64, String>, id: Option<i64>| -> String {
        id.and_then(|i| m.get(&i).cloned()).unwrap_or_default()
    };
    let joined = |m: &BTreeMap<i64, Vec<String>>, id: i64| -> String {
        let mut v = m.get(&id).cloned().unwrap_or_default();
        v.sort();
        v.join(";")
    };

    let regulators = regulators
        .iter()
        .map(|r| {
            vec![
                r.code.clone(),
                r.name.clone(),
                opt(&r.name_local),
                r.kind.to_string(),
            ]
        })
        .collect();
    let orders = orders
        .iter()
        .map(|o| {
            vec![
                o.reference.clone(),
                lookup(&reg_code, Some(o.regulator_id)),
                o.kind.to_string(),
                o.title.clone(),
                opt(&o.title_local),
                opt(&o.legal_basis),
                date(Some(o.issued_on)),
                o.status.to_string(),
                opt(&o.summary),
                date(o.incident_disclosed_on),
            ]
        })
        .collect();
    let findings = findings
        .iter()
        .map(|f| {
            vec![
                lookup(&order_ref, Some(f.order_id)),
                f.number.clone(),
                f.category.to_string(),
                f.title.clone(),
                f.facts.clone(),
                opt(&f.facts_en),
                f.directive.clone(),
                opt(&f.directive_en),
            ]
        })
        .collect();
    let measures = measures
        .iter()
        .map(|m| {
            vec![
                m.code.clone(),
                m.title.clone(),
                opt(&m.title_local),
                opt(&m.plan),
                lookup(&owner_code, m.owner_id),
                date(m.due_on),
                m.recurrence.to_string(),
                date(m.anchor_on),
                m.grace_days.to_string(),
                joined(&measure_findings, m.id),
                joined(&measure_systems, m.id),
                opt(&m.note),
            ]
        })
        .collect();
    let owners = owners
        .iter()
        .map(|o| {
            vec![
                o.code.clone(),
                o.name.clone(),
                opt(&o.name_local),
                o.kind.to_string(),
                opt(&o.role_title),
                opt(&o.contact),
                opt(&o.account),
                o.language.map(|l| l.to_string()).unwrap_or_default(),
                lookup(&owner_code, o.parent_id),
            ]
        })
        .collect();
    let systems = systems
        .iter()
        .map(|s| {
            vec![
                s.code.clone(),
                s.name.clone(),
                opt(&s.name_local),
                s.kind.to_string(),
                opt(&s.scope_note),
                if s.holds_card_data { "TRUE" } else { "FALSE" }.to_string(),
            ]
        })
        .collect();
    Ok(vec![
        table(Sheet::Regulators, regulators),
        table(Sheet::Orders, orders),
        table(Sheet::Findings, findings),
        table(Sheet::Measures, measures),
        table(Sheet::Owners, owners),
        table(Sheet::Systems, systems),
    ])
}

fn internal(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::from(anyhow::anyhow!("{what}: {e}"))
}

/// The sheets as an XLSX workbook: a bold header row, every cell a string.
pub fn xlsx(tables: &[Table]) -> AppResult<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    for t in tables {
        let ws = book.add_worksheet();
        ws.set_name(t.sheet.name())
            .map_err(|e| internal("xlsx", e))?;
        for (c, h) in t.header.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, h, &bold)
                .map_err(|e| internal("xlsx", e))?;
        }
        for (r, row) in t.rows.iter().enumerate() {
            for (c, v) in row.cells.iter().enumerate() {
                if v.is_empty() {
                    continue;
                }
                // write_string: a value, even when it starts with `=`, `+`, `-` or `@`.
                ws.write_string(r as u32 + 1, c as u16, v)
                    .map_err(|e| internal("xlsx", e))?;
            }
        }
        ws.set_freeze_panes(1, 0).map_err(|e| internal("xlsx", e))?;
    }
    book.save_to_buffer().map_err(|e| internal("xlsx", e))
}

/// One sheet as CSV: UTF-8 with a BOM (so that Excel reads it as UTF-8), CRLF line ends,
/// every field quoted where needed and otherwise verbatim.
pub fn csv(t: &Table) -> AppResult<Vec<u8>> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        w.write_record(&t.header).map_err(|e| internal("csv", e))?;
        for r in &t.rows {
            w.write_record(&r.cells).map_err(|e| internal("csv", e))?;
        }
        w.flush().map_err(|e| internal("csv", e))?;
    }
    Ok(out)
}

/// The sheets as a zip of CSVs, one per sheet (`measures.csv`, ...).
pub fn csv_zip(tables: &[Table]) -> AppResult<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for t in tables {
        zip.start_file(format!("{}.csv", t.sheet.name()), options)
            .map_err(|e| internal("zip", e))?;
        zip.write_all(&csv(t)?).map_err(|e| internal("zip", e))?;
    }
    Ok(zip.finish().map_err(|e| internal("zip", e))?.into_inner())
}
