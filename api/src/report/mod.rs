//! Generated progress reports on one order as it stood on a date, for scripts and regulators.
//!
//! [`load`] gathers the plan as of the date (within what the caller may see) into a
//! [`ReportData`] whose every list is sorted by stable business keys (finding category and
//! number, measure code, evidence SHA-256, evaluator and date) and which holds no database
//! ids, so the same data gives byte-identical output on SQLite and PostgreSQL. The
//! renderers (`markdown`, `csv`, `json`, `oscal`, `xlsx`) are pure functions of it.
//! `bundle` packs a submitted report into a signed zip (`keys`: the keys that sign it).
pub mod bundle;
pub mod cli;
pub mod csv;
pub mod json;
pub mod keys;
pub mod markdown;
pub mod oscal;
pub mod xlsx;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use entity::enums::{FindingCategory, MeasureStatus, Recurrence};
use entity::*;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::in_ids;
use crate::domain::is_overdue;
use crate::error::{AppError, AppResult};
use crate::service::history::{Reader, Tense};

/// The output formats.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// A Markdown document shaped like the commission's table.
    Markdown,
    /// One row per finding and measure (RFC 4180, UTF-8).
    Csv,
    /// The report data as JSON.
    Json,
    /// An OSCAL 1.1.3 Plan of Action and Milestones (JSON).
    OscalPoam,
    /// The action-plan workbook (Office Open XML spreadsheet): a sheet per finding
    /// category. Binary: read `contentBase64`.
    Xlsx,
}

impl ReportFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "text/markdown; charset=utf-8",
            ReportFormat::Csv => "text/csv; charset=utf-8",
            ReportFormat::Json => "application/json",
            ReportFormat::OscalPoam => "application/json",
            ReportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }

    /// Every format, in the order a bundle lists them.
    pub const ALL: [ReportFormat; 5] = [
        ReportFormat::Markdown,
        ReportFormat::Csv,
        ReportFormat::Json,
        ReportFormat::OscalPoam,
        ReportFormat::Xlsx,
    ];

    /// Whether the document is bytes rather than UTF-8 text.
    pub fn is_binary(self) -> bool {
        matches!(self, ReportFormat::Xlsx)
    }

    pub fn suffix(self) -> &'static str {
        match self {
            ReportFormat::Markdown => ".md",
            ReportFormat::Csv => ".csv",
            ReportFormat::Json => ".json",
            ReportFormat::OscalPoam => ".poam.json",
            ReportFormat::Xlsx => ".xlsx",
        }
    }

    /// `markdown`, `csv`, `json`, `oscal` or `xlsx` (the CLI's names).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "markdown" | "md" => Some(ReportFormat::Markdown),
            "csv" => Some(ReportFormat::Csv),
            "json" => Some(ReportFormat::Json),
            "oscal" | "oscal_poam" | "oscal-poam" => Some(ReportFormat::OscalPoam),
            "xlsx" | "excel" => Some(ReportFormat::Xlsx),
            _ => None,
        }
    }

    /// The GraphQL enum value.
    pub fn graphql_name(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "MARKDOWN",
            ReportFormat::Csv => "CSV",
            ReportFormat::Json => "JSON",
            ReportFormat::OscalPoam => "OSCAL_POAM",
            ReportFormat::Xlsx => "XLSX",
        }
    }
}

/// A rendered report.
#[derive(Debug, Clone, async_graphql::SimpleObject)]
pub struct GeneratedReport {
    /// The format rendered.
    pub format: ReportFormat,
    /// Its media type.
    pub media_type: String,
    /// A file name for it: `<order reference>_<as of><suffix>`.
    pub filename: String,
    /// The document, for text formats; empty for a binary one (`XLSX`): read
    /// `contentBase64`.
    pub content: String,
    /// The document's bytes in standard base64 (RFC 4648, padded), in every format.
    pub content_base64: String,
    /// Lower-case hex SHA-256 of the document's bytes (a text format's UTF-8 bytes).
    pub sha256: String,
    /// The document's size in bytes.
    pub size_bytes: i64,
    /// The bytes themselves (for the CLI and bundles).
    #[graphql(skip)]
    pub bytes: Vec<u8>,
}

/// Renders report data in a format.
pub fn render(data: &ReportData, format: ReportFormat) -> AppResult<GeneratedReport> {
    use base64::Engine;
    let (content, bytes) = match format {
        ReportFormat::Markdown => text(markdown::render(data)),
        ReportFormat::Csv => text(csv::render(data)),
        ReportFormat::Json => text(json::render(data)),
        ReportFormat::OscalPoam => text(oscal::render(data)),
        ReportFormat::Xlsx => (String::new(), xlsx::render(data)?),
    };
    Ok(GeneratedReport {
        format,
        media_type: format.media_type().to_string(),
        filename: format!(
            "{}_{}{}",
            data.order.reference.replace(['/', '\\', ' '], "_"),
            data.as_of,
            format.suffix()
        ),
        sha256: hex::encode(Sha256::digest(&bytes)),
        size_bytes: bytes.len() as i64,
        content_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
        content,
        bytes,
    })
}

fn text(s: String) -> (String, Vec<u8>) {
    let b = s.as_bytes().to_vec();
    (s, b)
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderInfo {
    pub reference: String,
    pub kind: String,
    pub title: String,
    pub title_local: Option<String>,
    pub legal_basis: Option<String>,
    pub issued_on: NaiveDate,
    pub regulator_code: String,
    pub regulator_name: String,
    pub regulator_name_local: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingRow {
    pub category: FindingCategory,
    pub number: String,
    pub title: String,
    pub facts: String,
    pub facts_en: Option<String>,
    pub directive: String,
    pub directive_en: Option<String>,
    /// Codes of the measures answering this finding, sorted.
    pub measures: Vec<String>,
}

impl FindingRow {
    /// `TECHNICAL-2`: a stable key for the finding within its order.
    pub fn key(&self) -> String {
        format!("{}-{}", self.category.as_str(), self.number)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnerInfo {
    pub code: String,
    pub name: String,
    pub name_local: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvidenceRow {
    pub sha256: String,
    pub kind: String,
    pub title: String,
    pub issued_by: Option<String>,
    pub issued_on: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
    pub media_type: String,
    pub size_bytes: i64,
    pub storage_uri: Option<String>,
    /// SHA-256 of the document this one supersedes, if any.
    pub supersedes: Option<String>,
    /// Whether a later document (issued on or before the date) supersedes this one.
    pub superseded: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvaluationRow {
    pub evaluator: String,
    pub verdict: String,
    pub evaluated_on: NaiveDate,
    /// The report evaluated (its code), for evaluations of a report.
    pub report: Option<String>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MeasureRow {
    pub code: String,
    pub title: String,
    pub title_local: Option<String>,
    pub plan: Option<String>,
    /// The status as of the report's date.
    pub status: MeasureStatus,
    pub overdue: bool,
    pub recurrence: Recurrence,
    pub started_on: Option<NaiveDate>,
    /// The due date first committed, before any move.
    pub original_due_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    /// How many times the due date moved (as the plan stood on the report's date).
    pub times_moved: usize,
    /// Every move of the due date, oldest first.
    pub due_changes: Vec<DueChangeRow>,
    pub completed_on: Option<NaiveDate>,
    pub owner: Option<OwnerInfo>,
    /// Keys of the findings (of this order) the measure answers, sorted.
    pub findings: Vec<String>,
    pub evidence: Vec<EvidenceRow>,
    pub evaluations: Vec<EvaluationRow>,
}

/// One move of a measure's due date.
#[derive(Debug, Clone, Serialize)]
pub struct DueChangeRow {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// The day it took effect.
    pub on: NaiveDate,
    pub reason: Option<String>,
}

/// One order's plan as it stood on a date.
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    pub as_of: NaiveDate,
    pub order: OrderInfo,
    pub findings: Vec<FindingRow>,
    pub measures: Vec<MeasureRow>,
    /// Evaluations of the order's reports dated on or before the date.
    pub report_evaluations: Vec<EvaluationRow>,
}

/// The Japanese and English names of a safeguard category, as in the commission's table.
pub fn category_heading(c: FindingCategory) -> &'static str {
    match c {
        FindingCategory::Organizational => "組織的安全管理措置 / Organizational safeguards",
        FindingCategory::Technical => "技術的安全管理措置 / Technical safeguards",
        FindingCategory::Physical => "物理的安全管理措置 / Physical safeguards",
        FindingCategory::Human => "人的安全管理措置 / Human safeguards",
    }
}

fn category_rank(c: FindingCategory) -> u8 {
    match c {
        FindingCategory::Organizational => 0,
        FindingCategory::Human => 1,
        FindingCategory::Physical => 2,
        FindingCategory::Technical => 3,
    }
}

/// Compares finding numbers naturally ("2" < "10", "1-1" < "1-2").
fn number_key(n: &str) -> Vec<(u64, String)> {
    n.split(|c: char| !c.is_ascii_alphanumeric())
        .map(|part| (part.parse::<u64>().unwrap_or(u64::MAX), part.to_string()))
        .collect()
}

/// Loads an order's report data as of a date. `scope` is the caller's order scope (an
/// evaluator's granted orders): an order outside it is NOT_FOUND, exactly like a missing one.
/// A date before the order was issued gives data without findings or measures.
pub async fn load(
    live: &DatabaseConnection,
    scope: Option<&BTreeSet<i64>>,
    order_id: i64,
    tense: Tense,
) -> AppResult<ReportData> {
    let not_found = || AppError::not_found("order");
    if scope.is_some_and(|g| !g.contains(&order_id)) {
        return Err(not_found());
    }
    let as_of = tense.day;
    let past = Reader::new(live, Some(tense));
    let db = &past;
    // The order as it then stood; an order recorded later is named as it first stood, with
    // nothing under it.
    let (order, existed) = match regulatory_order::Entity::find_by_id(order_id)
        .one(db)
        .await?
    {
        Some(o) => (o, true),
        None => (
            earliest_order(live, order_id)
                .await?
                .ok_or_else(not_found)?,
            false,
        ),
    };
    let regulator = match regulator::Entity::find_by_id(order.regulator_id)
        .one(db)
        .await?
    {
        Some(r) => Some(r),
        None => {
            regulator::Entity::find_by_id(order.regulator_id)
                .one(live)
                .await?
        }
    }
    .ok_or_else(|| {
        AppError::Internal(std::sync::Arc::new(anyhow::anyhow!(
            "order without regulator"
        )))
    })?;
    let info = OrderInfo {
        reference: order.reference.clone(),
        kind: order.kind.as_str().to_string(),
        title: order.title.clone(),
        title_local: order.title_local.clone(),
        legal_basis: order.legal_basis.clone(),
        issued_on: order.issued_on,
        regulator_code: regulator.code,
        regulator_name: regulator.name,
        regulator_name_local: regulator.name_local,
    };
    let mut data = ReportData {
        as_of,
        order: info,
        findings: Vec::new(),
        measures: Vec::new(),
        report_evaluations: Vec::new(),
    };
    if as_of < order.issued_on || !existed {
        return Ok(data);
    }

    let findings = finding::Entity::find()
        .filter(finding::Column::OrderId.eq(order_id))
        .filter(finding::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let finding_ids: Vec<i64> = findings.iter().map(|f| f.id).collect();
    let links = measure_finding::Entity::find()
        .filter(in_ids(
            measure_finding::Column::FindingId,
            finding_ids.clone(),
        ))
        .all(db)
        .await?;
    let measure_ids: BTreeSet<i64> = links.iter().map(|l| l.measure_id).collect();
    let measures = measure::Entity::find()
        .filter(in_ids(measure::Column::Id, measure_ids.iter().copied()))
        .filter(measure::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let measure_ids: Vec<i64> = measures.iter().map(|m| m.id).collect();
    let mut dues =
        crate::service::history::due_history(live, "measure", &measure_ids, Some(&tense)).await?;
    let owner_ids: BTreeSet<i64> = measures.iter().filter_map(|m| m.owner_id).collect();
    let owners: HashMap<i64, owner::Model> = owner::Entity::find()
        .filter(in_ids(owner::Column::Id, owner_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let evidence = evidence::Entity::find()
        .filter(in_ids(evidence::Column::MeasureId, measure_ids.clone()))
        .all(db)
        .await?;
    let reports = report::Entity::find()
        .filter(report::Column::OrderId.eq(order_id))
        .all(db)
        .await?;
    let report_code: HashMap<i64, String> =
        reports.iter().map(|r| (r.id, r.code.clone())).collect();
    let evaluations = evaluation::Entity::find()
        .filter(
            Condition::any()
                .add(in_ids(evaluation::Column::MeasureId, measure_ids.clone()))
                .add(in_ids(
                    evaluation::Column::ReportId,
                    report_code.keys().copied(),
                )),
        )
        .all(db)
        .await?;
    let evaluator_ids: BTreeSet<i64> = evaluations.iter().filter_map(|e| e.evaluator_id).collect();
    let evaluator_code: HashMap<i64, String> = evaluator::Entity::find()
        .filter(in_ids(evaluator::Column::Id, evaluator_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e.code))
        .collect();

    // Evidence that existed on the date: issued (or, undated, submitted) on or before it.
    let evidence_on = |e: &evidence::Model| e.issued_on.unwrap_or(e.submitted_at.date_naive());
    let current: Vec<&evidence::Model> = evidence
        .iter()
        .filter(|e| evidence_on(e) <= as_of)
        .collect();
    let sha_of: HashMap<i64, &str> = evidence.iter().map(|e| (e.id, e.sha256.as_str())).collect();
    let superseded: BTreeSet<i64> = current.iter().filter_map(|e| e.supersedes_id).collect();

    let eval_row = |e: &evaluation::Model| EvaluationRow {
        evaluator: e
            .evaluator_id
            .and_then(|id| evaluator_code.get(&id).cloned())
            .unwrap_or_else(|| e.evaluator_subject.clone()),
        verdict: e.verdict.as_str().to_string(),
        evaluated_on: e.evaluated_at.date_naive(),
        report: e.report_id.and_then(|id| report_code.get(&id).cloned()),
        comment: e.comment.clone(),
    };
    let sort_evals = |v: &mut Vec<EvaluationRow>| {
        v.sort_by(|a, b| {
            (
                a.evaluated_on,
                &a.report,
                &a.evaluator,
                &a.verdict,
                &a.comment,
            )
                .cmp(&(
                    b.evaluated_on,
                    &b.report,
                    &b.evaluator,
                    &b.verdict,
                    &b.comment,
                ))
        })
    };

    let finding_by_id: HashMap<i64, &finding::Model> = findings.iter().map(|f| (f.id, f)).collect();
    let mut findings_of_measure: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let mut measures_of_finding: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let code_of: HashMap<i64, &str> = measures.iter().map(|m| (m.id, m.code.as_str())).collect();
    for l in &links {
        let (Some(f), Some(code)) = (finding_by_id.get(&l.finding_id), code_of.get(&l.measure_id))
        else {
            continue;
        };
        findings_of_measure
            .entry(l.measure_id)
            .or_default()
            .insert(format!("{}-{}", f.category.as_str(), f.number));
        measures_of_finding
            .entry(f.id)
            .or_default()
            .insert(code.to_string());
    }

    for m in &measures {
        let mut ev: Vec<EvidenceRow> = current
            .iter()
            .filter(|e| e.measure_id == m.id)
            .map(|e| EvidenceRow {
                sha256: e.sha256.clone(),
                kind: e.kind.as_str().to_string(),
                title: e.title.clone(),
                issued_by: e.issued_by.clone(),
                issued_on: e.issued_on,
                valid_until: e.valid_until,
                media_type: e.media_type.clone(),
                size_bytes: e.size_bytes,
                storage_uri: e.storage_uri.clone(),
                supersedes: e
                    .supersedes_id
                    .and_then(|id| sha_of.get(&id).map(|s| s.to_string())),
                superseded: superseded.contains(&e.id),
            })
            .collect();
        ev.sort_by(|a, b| {
            (a.issued_on, &a.sha256, &a.title).cmp(&(b.issued_on, &b.sha256, &b.title))
        });
        let mut evals: Vec<EvaluationRow> = evaluations
            .iter()
            .filter(|e| e.measure_id == Some(m.id) && e.evaluated_at.date_naive() <= as_of)
            .map(eval_row)
            .collect();
        sort_evals(&mut evals);
        // Read as of the date: status and transition dates are already those of the day.
        let status = m.status;
        let due = dues.remove(&m.id);
        data.measures.push(MeasureRow {
            code: m.code.clone(),
            title: m.title.clone(),
            title_local: m.title_local.clone(),
            plan: m.plan.clone(),
            status,
            overdue: is_overdue(m, as_of),
            recurrence: m.recurrence,
            started_on: m.started_on,
            original_due_on: due.as_ref().map_or(m.due_on, |d| d.original),
            due_on: m.due_on,
            times_moved: due.as_ref().map_or(0, |d| d.changes.len()),
            due_changes: due
                .map(|d| {
                    d.changes
                        .into_iter()
                        .map(|c| DueChangeRow {
                            from: c.from,
                            to: c.to,
                            on: c.at.date_naive(),
                            reason: c.reason,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            completed_on: m.completed_on,
            owner: m
                .owner_id
                .and_then(|id| owners.get(&id))
                .map(|o| OwnerInfo {
                    code: o.code.clone(),
                    name: o.name.clone(),
                    name_local: o.name_local.clone(),
                }),
            findings: findings_of_measure
                .remove(&m.id)
                .unwrap_or_default()
                .into_iter()
                .collect(),
            evidence: ev,
            evaluations: evals,
        });
    }
    data.measures.sort_by(|a, b| a.code.cmp(&b.code));

    for f in &findings {
        data.findings.push(FindingRow {
            category: f.category,
            number: f.number.clone(),
            title: f.title.clone(),
            facts: f.facts.clone(),
            facts_en: f.facts_en.clone(),
            directive: f.directive.clone(),
            directive_en: f.directive_en.clone(),
            measures: measures_of_finding
                .remove(&f.id)
                .unwrap_or_default()
                .into_iter()
                .collect(),
        });
    }
    data.findings.sort_by(|a, b| {
        (category_rank(a.category), number_key(&a.number))
            .cmp(&(category_rank(b.category), number_key(&b.number)))
    });

    let mut revals: Vec<EvaluationRow> = evaluations
        .iter()
        .filter(|e| e.report_id.is_some() && e.evaluated_at.date_naive() <= as_of)
        .map(eval_row)
        .collect();
    sort_evals(&mut revals);
    data.report_evaluations = revals;
    Ok(data)
}

/// Status names in Japanese and English.
pub fn status_label(s: MeasureStatus) -> &'static str {
    match s {
        MeasureStatus::Planned => "予定 / PLANNED",
        MeasureStatus::InProgress => "実施中 / IN_PROGRESS",
        MeasureStatus::Implemented => "実施済 / IMPLEMENTED",
        MeasureStatus::Verified => "検証済 / VERIFIED",
        MeasureStatus::Deferred => "延期 / DEFERRED",
        MeasureStatus::Cancelled => "中止 / CANCELLED",
    }
}

/// The first recorded version of an order (for a report asked for before it was recorded).
async fn earliest_order(
    live: &DatabaseConnection,
    order_id: i64,
) -> AppResult<Option<regulatory_order::Model>> {
    use sea_orm::{FromQueryResult, Statement};
    let cols: Vec<String> = <regulatory_order::Column as sea_orm::Iterable>::iter()
        .map(|c| format!("\"{}\"", sea_orm::Iden::to_string(&c)))
        .collect();
    let backend = live.get_database_backend();
    let sql = format!(
        "SELECT {} FROM regulatory_order_history WHERE id = {order_id} \
         ORDER BY valid_from, history_id LIMIT 1",
        cols.join(", ")
    );
    Ok(
        regulatory_order::Model::find_by_statement(Statement::from_string(backend, sql))
            .one(live)
            .await?
            .or(regulatory_order::Entity::find_by_id(order_id)
                .one(live)
                .await?),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_numbers_sort_naturally() {
        let mut v = vec!["10", "2", "1-2", "1-1", "1"];
        v.sort_by_key(|n| number_key(n));
        assert_eq!(v, ["1", "1-1", "1-2", "2", "10"]);
    }

    #[test]
    fn format_names_round_trip() {
        for f in [
            ReportFormat::Markdown,
            ReportFormat::Csv,
            ReportFormat::Json,
            ReportFormat::OscalPoam,
            ReportFormat::Xlsx,
        ] {
            assert_eq!(ReportFormat::parse(f.graphql_name()), Some(f));
        }
        assert_eq!(ReportFormat::parse("oscal"), Some(ReportFormat::OscalPoam));
        assert_eq!(ReportFormat::parse("pdf"), None);
    }
}
