//! The demo plan: the 2022 case in `shared/seeds` (a payment processor after a card-data
//! breach, a METI business-improvement order, PPC guidance, a third-party committee),
//! loaded from `demo.json` in one transaction, with an audit event per row.
//!
//! It writes through the store's write path (`service::write`) as a system caller: the
//! mutations' own functions where the demo data is what a mutation writes (regulators,
//! orders, findings, owners, systems), their shared row builders and audited inserts where
//! it records history no mutation can (measures with their past status and dates, executions,
//! evidence with its issue dates, filed reports, evaluations, evaluators).
//!
//! Loading is idempotent: if the demo orders are already present nothing is written.
use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDate, Utc};
use entity::enums::*;
use entity::*;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde::Deserialize;

use crate::auth::Caller;
pub use crate::domain::{next_period_end, periods};
use crate::error::{AppError, AppResult};
use crate::service::evidence::EvidenceMeta;
use crate::service::write::documents::{self, NewEvidence, StoredDocument};
use crate::service::write::measures::{self, NewMeasure};
use crate::service::write::records::{
    self, NewFinding, NewOrder, NewOwner, NewRegulator, NewSystem,
};
use crate::service::write::reports::{self, NewEvaluation, NewReport};
use crate::service::write::{
    insert_audited, insert_links, insert_new, update_versioned, Write, WriteGate,
};
use crate::service::{history, plan};

/// The actor recorded in the audit log for demo data.
pub const SEED_ACTOR: &str = "system:seed-demo";
/// The date the demo plan describes (the company's progress notice).
pub const DEMO_AS_OF: &str = "2022-11-29";
/// The sources the demo plan is imported from (in `shared/seeds/`): every version it records
/// names one and stands for the date that source gives.
pub const SOURCE_PROGRESS: &str = "metaps-progress-2022-11-29.ja.txt";
pub const SOURCE_PPC: &str = "ppc-remediation-status.ja.txt";
/// References of the demo orders; their presence means the demo plan is loaded.
pub const DEMO_ORDER_REFERENCES: [&str; 2] = ["METI-2022-06-30", "PPC-2022-07-13"];

const DEMO_JSON: &str = include_str!("demo.json");

/// The demo plan: the store's inputs, with references by code where the store takes ids.
#[derive(Debug, Deserialize)]
pub struct DemoPlan {
    pub regulators: Vec<NewRegulator>,
    pub orders: Vec<SeedOrder>,
    pub findings: Vec<SeedFinding>,
    pub owners: Vec<SeedOwner>,
    pub systems: Vec<NewSystem>,
    pub evaluators: Vec<SeedEvaluator>,
    pub measures: Vec<SeedMeasure>,
    pub evidence: Vec<SeedEvidence>,
    pub reports: Vec<SeedReport>,
    pub evaluations: Vec<SeedEvaluation>,
}

#[derive(Debug, Deserialize)]
pub struct SeedOrder {
    pub regulator: String,
    #[serde(flatten)]
    pub order: NewOrder,
}

#[derive(Debug, Deserialize)]
pub struct SeedFinding {
    pub order: String,
    #[serde(flatten)]
    pub finding: NewFinding,
}

#[derive(Debug, Deserialize)]
pub struct SeedOwner {
    pub parent: Option<String>,
    #[serde(flatten)]
    pub owner: NewOwner,
}

#[derive(Debug, Deserialize)]
pub struct SeedEvaluator {
    pub code: String,
    pub name: String,
    pub name_local: Option<String>,
    pub kind: EvaluatorKind,
    pub affiliation: Option<String>,
    pub parent: Option<String>,
}

/// A measure as it stood on the plan's date.
#[derive(Debug, Deserialize)]
pub struct SeedMeasure {
    pub status: MeasureStatus,
    pub owner: Option<String>,
    pub started_on: Option<NaiveDate>,
    pub completed_on: Option<NaiveDate>,
    pub findings: Vec<String>,
    pub systems: Vec<String>,
    #[serde(flatten)]
    pub measure: NewMeasure,
}

#[derive(Debug, Deserialize)]
pub struct SeedEvidence {
    pub key: String,
    pub measure: String,
    pub system: Option<String>,
    pub media_type: String,
    pub content: String,
    pub supersedes: Option<String>,
    pub submitted_by: String,
    #[serde(flatten)]
    pub evidence: NewEvidence,
}

/// A report as it stood on the plan's date.
#[derive(Debug, Deserialize)]
pub struct SeedReport {
    pub order: String,
    pub submitted_on: Option<NaiveDate>,
    pub acknowledged_on: Option<NaiveDate>,
    pub status: ReportStatus,
    pub measures: Vec<String>,
    #[serde(flatten)]
    pub report: NewReport,
}

#[derive(Debug, Deserialize)]
pub struct SeedEvaluation {
    pub report: Option<String>,
    pub measure: Option<String>,
    pub evaluator: String,
    pub evaluated_at: chrono::DateTime<Utc>,
    #[serde(flatten)]
    pub evaluation: NewEvaluation,
}

/// Parses the embedded demo plan.
pub fn demo_plan() -> DemoPlan {
    serde_json::from_str(DEMO_JSON)
        .expect("the embedded demo plan is valid JSON (checked by tests)")
}

/// What `load_demo` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOutcome {
    Loaded,
    AlreadyPresent,
}

/// Whether the database holds no order at all (the demo plan is only loaded into an empty one by `serve --demo`).
pub async fn database_is_empty(db: &DatabaseConnection) -> AppResult<bool> {
    Ok(regulatory_order::Entity::find().count(db).await? == 0
        && regulator::Entity::find().count(db).await? == 0)
}

/// Loads the demo plan in one transaction unless it is already there.
pub async fn load_demo(db: &DatabaseConnection) -> AppResult<SeedOutcome> {
    // The seed runs before the server serves (or alone, from the command line): no writer
    // to wait for.
    let gate = WriteGate::default();
    let w = Write::begin(db, &gate, SEED_ACTOR).await?;
    let present = regulatory_order::Entity::find()
        .filter(regulatory_order::Column::Reference.is_in(DEMO_ORDER_REFERENCES))
        .count(&w.txn)
        .await?;
    if present > 0 {
        w.rollback().await?;
        return Ok(SeedOutcome::AlreadyPresent);
    }
    Loader::new(&w).load(demo_plan()).await?;
    w.commit().await?;
    Ok(SeedOutcome::Loaded)
}

struct Loader<'a, 'g> {
    w: &'a Write<'g>,
    regulators: HashMap<String, i64>,
    orders: HashMap<String, regulatory_order::Model>,
    findings: HashMap<String, i64>,
    owners: HashMap<String, (i64, String)>,
    systems: HashMap<String, i64>,
    evaluators: HashMap<String, i64>,
    measures: HashMap<String, measure::Model>,
    evidence: HashMap<String, EvidenceMeta>,
    reports: HashMap<String, i64>,
}

fn missing(kind: &str, key: &str) -> AppError {
    AppError::from(anyhow::anyhow!("demo plan: unknown {kind} {key:?}"))
}

/// The id of `key` in `known`, or an error naming the unknown `kind`.
fn id_of<T: Clone>(known: &HashMap<String, T>, kind: &str, key: &str) -> AppResult<T> {
    known.get(key).cloned().ok_or_else(|| missing(kind, key))
}

/// The same, for an optional reference.
fn opt_id_of<T: Clone>(
    known: &HashMap<String, T>,
    kind: &str,
    key: &Option<String>,
) -> AppResult<Option<T>> {
    key.as_deref().map(|k| id_of(known, kind, k)).transpose()
}

/// Items in an order where each comes after the item it refers to (`parent`): passes over
/// those left, each taking every item whose parent is already taken, in the order given.
fn parents_first<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    parent: impl Fn(&T) -> Option<&str>,
    kind: &str,
) -> AppResult<Vec<T>> {
    let mut done: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    let mut pending = items;
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for item in pending {
            if parent(&item).is_some_and(|p| !done.contains(p)) {
                rest.push(item);
            } else {
                done.insert(key(&item).to_string());
                out.push(item);
            }
        }
        if rest.len() == before {
            return Err(missing(kind, parent(&rest[0]).unwrap_or("")));
        }
        pending = rest;
    }
    Ok(out)
}

impl<'a, 'g> Loader<'a, 'g> {
    fn new(w: &'a Write<'g>) -> Self {
        Self {
            w,
            regulators: HashMap::new(),
            orders: HashMap::new(),
            findings: HashMap::new(),
            owners: HashMap::new(),
            systems: HashMap::new(),
            evaluators: HashMap::new(),
            measures: HashMap::new(),
            evidence: HashMap::new(),
            reports: HashMap::new(),
        }
    }

    async fn load(&mut self, plan: DemoPlan) -> AppResult<()> {
        // The seed is the process itself: every role, every order.
        let (w, who) = (self.w, &Caller::system(SEED_ACTOR));
        // Regulators, owners and systems stand from the first order; each order, its
        // findings and its reports' drafts from the order's issue.
        let first_issue = plan
            .orders
            .iter()
            .map(|o| o.order.issued_on)
            .min()
            .unwrap_or_else(|| DEMO_AS_OF.parse().expect("valid date"));
        w.import(Some((SOURCE_PROGRESS, midnight(first_issue))))
            .await?;
        for r in &plan.regulators {
            let m = records::create_regulator(w, who, r).await?;
            self.regulators.insert(m.code.clone(), m.id);
        }
        for mut o in plan.orders {
            o.order.regulator_id = id_of(&self.regulators, "regulator", &o.regulator)?;
            w.import(Some((
                source_of(&o.order.reference),
                midnight(o.order.issued_on),
            )))
            .await?;
            let m = records::create_order(w, who, &o.order).await?;
            self.orders.insert(m.reference.clone(), m);
        }
        for mut f in plan.findings {
            let order = id_of(&self.orders, "order", &f.order)?;
            f.finding.order_id = order.id;
            w.import(Some((
                source_of(&order.reference),
                midnight(order.issued_on),
            )))
            .await?;
            let m = records::create_finding(w, who, &f.finding).await?;
            self.findings
                .insert(format!("{}#{}", f.order, m.number), m.id);
        }
        w.import(Some((SOURCE_PROGRESS, midnight(first_issue))))
            .await?;
        let owners = parents_first(
            plan.owners,
            |o| &o.owner.code,
            |o| o.parent.as_deref(),
            "owner parent",
        )?;
        for mut o in owners {
            o.owner.parent_id = opt_id_of(&self.owners, "owner", &o.parent)?.map(|p| p.0);
            let m = records::create_owner(w, who, &o.owner).await?;
            let name = m.name_local.clone().unwrap_or_else(|| m.name.clone());
            self.owners.insert(m.code.clone(), (m.id, name));
        }
        for s in &plan.systems {
            let m = records::create_system(w, who, s).await?;
            self.systems.insert(m.code.clone(), m.id);
        }
        let evaluators = parents_first(
            plan.evaluators,
            |e| &e.code,
            |e| e.parent.as_deref(),
            "evaluator parent",
        )?;
        for e in evaluators {
            let row = evaluator::ActiveModel {
                code: Set(e.code.clone()),
                name: Set(e.name.clone()),
                name_local: Set(e.name_local.clone()),
                kind: Set(e.kind),
                affiliation: Set(e.affiliation.clone()),
                parent_id: Set(opt_id_of(&self.evaluators, "evaluator", &e.parent)?),
                ..Default::default()
            };
            let m = insert_new::<evaluator::Entity>(w, row, None).await?;
            self.evaluators.insert(m.code.clone(), m.id);
        }
        for ms in &plan.measures {
            self.load_measure(ms).await?;
        }
        for m in &plan.measures {
            self.load_occurrences(m).await?;
        }
        let evidence = parents_first(
            plan.evidence,
            |e| &e.key,
            |e| e.supersedes.as_deref(),
            "superseded evidence",
        )?;
        for e in evidence {
            self.load_evidence(e).await?;
        }
        for r in &plan.reports {
            self.load_report(r).await?;
        }
        w.import(None).await?;
        for mut e in plan.evaluations {
            e.evaluation.report_id = opt_id_of(&self.reports, "report", &e.report)?;
            e.evaluation.measure_id =
                opt_id_of(&self.measures, "measure", &e.measure)?.map(|m| m.id);
            let evaluator_id = id_of(&self.evaluators, "evaluator", &e.evaluator)?;
            reports::insert_evaluation(
                w,
                &e.evaluation,
                Some(evaluator_id),
                &e.evaluator,
                e.evaluated_at,
            )
            .await?;
        }
        Ok(())
    }

    /// A measure as committed ([`measures::planned_row`]), then as it stood on the plan's
    /// date; each link has its own event.
    async fn load_measure(&mut self, ms: &SeedMeasure) -> AppResult<()> {
        let w = self.w;
        let owner_id = opt_id_of(&self.owners, "owner", &ms.owner)?.map(|o| o.0);
        // As committed: planned, from the first order it answers.
        let mut committed: Option<&regulatory_order::Model> = None;
        for f in &ms.findings {
            let (order, _) = f.split_once('#').unwrap_or((f.as_str(), ""));
            let o = id_of(&self.orders, "order", order).map(|_| &self.orders[order])?;
            if committed.is_none_or(|c| o.issued_on < c.issued_on) {
                committed = Some(o);
            }
        }
        if let Some(o) = committed {
            w.import(Some((source_of(&o.reference), midnight(o.issued_on))))
                .await?;
        }
        let mut row = measures::planned_row(&ms.measure, owner_id)?;
        // The sources date the cadence, not each run: the executions and the next due date
        // they give are imported as of the plan's date (below), not as of the order's.
        row.next_due_on = Set(None);
        let m = insert_new::<measure::Entity>(w, row, None).await?;
        let mut findings = Vec::new();
        for f in &ms.findings {
            findings.push(id_of(&self.findings, "finding", f)?);
        }
        let mut systems = Vec::new();
        for s in &ms.systems {
            systems.push(id_of(&self.systems, "system", s)?);
        }
        let (f, s) = measures::link_rows(w, m.id, &findings, &systems);
        insert_links(w, f, true).await?;
        insert_links(w, s, true).await?;
        // As the progress notice describes it on the plan's date (its transitions carry
        // their own dates).
        let as_of: NaiveDate = DEMO_AS_OF.parse().expect("valid date");
        w.import(Some((SOURCE_PROGRESS, midnight(as_of)))).await?;
        let (status, started, completed, next) =
            (ms.status, ms.started_on, ms.completed_on, demo_next_due(ms));
        let m =
            update_versioned::<measure::Entity, _>(w, m.id, m.version, "import", None, |_, a| {
                a.status = Set(status);
                a.started_on = Set(started);
                a.completed_on = Set(completed);
                a.next_due_on = Set(next);
                Ok(())
            })
            .await?;
        self.measures.insert(m.code.clone(), m);
        Ok(())
    }

    /// Recurring measures the sources report in place (started or completed) get one
    /// execution record per period of their schedule (from their anchor) ended by the plan's
    /// date; those reported only as a commitment (M-18) get none, so their periods come due
    /// unrecorded. The sources state the cadence, not each run, so these records say they
    /// are demo data.
    async fn load_occurrences(&mut self, ms: &SeedMeasure) -> AppResult<()> {
        let Some(start) = reported_runs_from(ms) else {
            return Ok(());
        };
        let as_of: NaiveDate = DEMO_AS_OF.parse().expect("valid date");
        let measure = &self.measures[&ms.measure.code];
        let done_by = match ms.owner.as_ref().and_then(|c| self.owners.get(c)) {
            Some((_, name)) => name.clone(),
            None => "unknown".to_string(),
        };
        for (period, due_on) in periods(recurrence(ms), start, as_of) {
            let row = occurrence::ActiveModel {
                measure_id: Set(measure.id),
                period: Set(period),
                due_on: Set(Some(due_on)),
                done_on: Set(due_on),
                done_by: Set(done_by.clone()),
                note: Set(Some(
                    "デモ用の実施記録（資料は頻度のみ記載）/ Demo record: the sources state the cadence, not each execution."
                        .to_string(),
                )),
                created_at: Set(self.w.now),
                ..Default::default()
            };
            insert_audited(self.w, "create", row, None).await?;
        }
        Ok(())
    }

    /// Evidence submitted on its issue date, by the one who filed it, with its bytes inline.
    async fn load_evidence(&mut self, mut e: SeedEvidence) -> AppResult<()> {
        e.evidence.measure_id = id_of(&self.measures, "measure", &e.measure)?.id;
        e.evidence.system_id = opt_id_of(&self.systems, "system", &e.system)?;
        let supersedes = opt_id_of(&self.evidence, "superseded evidence", &e.supersedes)?;
        let stored = StoredDocument::inline(e.content.into_bytes(), e.media_type);
        let submitted_at = e
            .evidence
            .issued_on
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|dt| dt.and_utc())
            .unwrap_or(self.w.now);
        let m = documents::insert_evidence(
            self.w,
            "create",
            &e.evidence,
            stored,
            supersedes.map(|s| s.id),
            &e.submitted_by,
            submitted_at,
        )
        .await?;
        self.evidence.insert(e.key, m);
        Ok(())
    }

    /// A report as drafted ([`reports::draft_row`]), then as it stood on the plan's date:
    /// a filed one carries the state of its measures on the day it was filed, derived from
    /// the recorded dates. Each link has its own event.
    async fn load_report(&mut self, r: &SeedReport) -> AppResult<()> {
        let w = self.w;
        let order = id_of(&self.orders, "order", &r.order)?;
        let mut linked = Vec::new();
        for code in &r.measures {
            linked.push(id_of(&self.measures, "measure", code)?);
        }
        let source = source_of(&order.reference);
        w.import(Some((source, midnight(order.issued_on)))).await?;
        let row = reports::draft_row(&order, &r.report)?;
        let m = insert_new::<report::Entity>(w, row, None).await?;
        let ids: Vec<i64> = linked.iter().map(|l| l.id).collect();
        insert_links(w, reports::measure_links(w, m.id, &ids), true).await?;
        self.reports.insert(m.code.clone(), m.id);
        let mut m = m;
        if let Some(on) = r.submitted_on {
            // Filed on its date: the snapshot is the plan as it stood that day, read as every
            // later read as of that day reads it.
            w.import(Some((source, midnight(on)))).await?;
            let tense = history::Tense {
                day: on,
                known_at: Some(w.now),
            };
            let snapshot = plan::snapshot(&history::within(&w.txn, tense), ids.clone(), on).await?;
            let status = if r.acknowledged_on.is_some() {
                ReportStatus::Submitted
            } else {
                r.status
            };
            m = update_versioned::<report::Entity, _>(
                w,
                m.id,
                m.version,
                "submit",
                None,
                |_, a| {
                    a.status = Set(status);
                    a.submitted_on = Set(Some(on));
                    a.snapshot = Set(Some(snapshot));
                    Ok(())
                },
            )
            .await?;
        }
        if let Some(on) = r.acknowledged_on {
            w.import(Some((source, midnight(on)))).await?;
            let status = r.status;
            update_versioned::<report::Entity, _>(
                w,
                m.id,
                m.version,
                "acknowledge",
                None,
                |_, a| {
                    a.status = Set(status);
                    a.acknowledged_on = Set(Some(on));
                    Ok(())
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// The source a demo order's facts come from.
fn source_of(order_reference: &str) -> &'static str {
    if order_reference.starts_with("PPC") {
        SOURCE_PPC
    } else {
        SOURCE_PROGRESS
    }
}

/// The first instant of a day (UTC): what an imported fact dated that day stands for.
fn midnight(d: NaiveDate) -> chrono::DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn recurrence(ms: &SeedMeasure) -> Recurrence {
    ms.measure.recurrence.unwrap_or(Recurrence::None)
}

/// Where a demo recurring measure's recorded executions start: its anchor, when the sources
/// report it in place (started or completed); none otherwise.
fn reported_runs_from(ms: &SeedMeasure) -> Option<NaiveDate> {
    ms.started_on.or(ms.completed_on)?;
    ms.measure.anchor_on
}

/// When a demo recurring measure is next due: after the executions recorded up to the plan's
/// date, or at the end of its first period when none is recorded.
fn demo_next_due(ms: &SeedMeasure) -> Option<NaiveDate> {
    let anchor = ms.measure.anchor_on?;
    let grace = Duration::days(i64::from(ms.measure.grace_days.unwrap_or(0)));
    let Some(start) = reported_runs_from(ms) else {
        return crate::service::plan::first_due(recurrence(ms), anchor, 0).map(|d| d + grace);
    };
    let as_of: NaiveDate = DEMO_AS_OF.parse().expect("valid date");
    let last = periods(recurrence(ms), start, as_of).last().map(|p| p.1);
    next_period_end(recurrence(ms), start, last).map(|d| d + grace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_plan_parses_and_references_resolve() {
        let plan = demo_plan();
        assert_eq!(plan.regulators.len(), 2);
        assert_eq!(plan.orders.len(), 2);
        let findings: std::collections::HashSet<String> = plan
            .findings
            .iter()
            .map(|f| format!("{}#{}", f.order, f.finding.number))
            .collect();
        for m in &plan.measures {
            let code = &m.measure.code;
            assert!(!m.findings.is_empty(), "{code} answers no finding");
            for f in &m.findings {
                assert!(findings.contains(f), "{code} links unknown finding {f}");
            }
        }
    }
}
