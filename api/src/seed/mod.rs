//! The demo plan: the 2022 case in `shared/seeds` (a payment processor after a card-data
//! breach, a METI business-improvement order, PPC guidance, a third-party committee),
//! loaded from `demo.json` in one transaction, with an audit event per row.
//!
//! Loading is idempotent: if the demo orders are already present nothing is written.
use std::collections::HashMap;

use chrono::{NaiveDate, SubsecRound, Utc};
use entity::enums::*;
use entity::*;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, Set, TransactionTrait,
};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit;
pub use crate::domain::{next_period_end, periods};
use crate::error::{AppError, AppResult};

/// The actor recorded in the audit log for demo data.
pub const SEED_ACTOR: &str = "system:seed-demo";
/// The date the demo plan describes (the company's progress notice).
pub const DEMO_AS_OF: &str = "2022-11-29";
/// References of the demo orders; their presence means the demo plan is loaded.
pub const DEMO_ORDER_REFERENCES: [&str; 2] = ["METI-2022-06-30", "PPC-2022-07-13"];

const DEMO_JSON: &str = include_str!("demo.json");

#[derive(Debug, Deserialize)]
pub struct DemoPlan {
    pub regulators: Vec<SeedRegulator>,
    pub orders: Vec<SeedOrder>,
    pub findings: Vec<SeedFinding>,
    pub owners: Vec<SeedOwner>,
    pub systems: Vec<SeedSystem>,
    pub evaluators: Vec<SeedEvaluator>,
    pub measures: Vec<SeedMeasure>,
    pub evidence: Vec<SeedEvidence>,
    pub reports: Vec<SeedReport>,
    pub evaluations: Vec<SeedEvaluation>,
}

#[derive(Debug, Deserialize)]
pub struct SeedRegulator {
    pub code: String,
    pub name: String,
    pub name_local: Option<String>,
    pub kind: RegulatorKind,
}

#[derive(Debug, Deserialize)]
pub struct SeedOrder {
    pub reference: String,
    pub regulator: String,
    pub kind: OrderKind,
    pub title: String,
    pub title_local: Option<String>,
    pub legal_basis: Option<String>,
    pub issued_on: NaiveDate,
    pub status: OrderStatus,
    pub summary: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SeedFinding {
    pub order: String,
    pub number: String,
    pub category: FindingCategory,
    pub title: String,
    pub facts: String,
    pub facts_en: Option<String>,
    pub directive: String,
    pub directive_en: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SeedOwner {
    pub code: String,
    pub name: String,
    pub name_local: Option<String>,
    pub kind: OwnerKind,
    pub role_title: Option<String>,
    pub contact: Option<String>,
    pub parent: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SeedSystem {
    pub code: String,
    pub name: String,
    pub name_local: Option<String>,
    pub kind: SystemKind,
    pub scope_note: Option<String>,
    pub holds_card_data: bool,
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

#[derive(Debug, Deserialize)]
pub struct SeedMeasure {
    pub code: String,
    pub title: String,
    pub title_local: Option<String>,
    pub plan: Option<String>,
    pub status: MeasureStatus,
    pub owner: Option<String>,
    pub started_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    pub completed_on: Option<NaiveDate>,
    pub recurrence: Recurrence,
    pub findings: Vec<String>,
    pub systems: Vec<String>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SeedEvidence {
    pub key: String,
    pub measure: String,
    pub system: Option<String>,
    pub kind: EvidenceKind,
    pub title: String,
    pub issued_by: Option<String>,
    pub issued_on: Option<NaiveDate>,
    pub valid_from: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
    pub media_type: String,
    pub content: String,
    pub supersedes: Option<String>,
    pub submitted_by: String,
}

#[derive(Debug, Deserialize)]
pub struct SeedReport {
    pub code: String,
    pub order: String,
    pub kind: ReportKind,
    pub title: String,
    pub title_local: Option<String>,
    pub due_on: NaiveDate,
    pub submitted_on: Option<NaiveDate>,
    pub acknowledged_on: Option<NaiveDate>,
    pub status: ReportStatus,
    pub body: Option<String>,
    pub measures: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct SeedEvaluation {
    pub report: Option<String>,
    pub measure: Option<String>,
    pub evaluator: String,
    pub verdict: Verdict,
    pub comment: Option<String>,
    pub evaluated_at: chrono::DateTime<Utc>,
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
    let txn = db.begin().await?;
    let present = regulatory_order::Entity::find()
        .filter(regulatory_order::Column::Reference.is_in(DEMO_ORDER_REFERENCES))
        .count(&txn)
        .await?;
    if present > 0 {
        txn.rollback().await?;
        return Ok(SeedOutcome::AlreadyPresent);
    }
    Loader::new(&txn).load(&demo_plan()).await?;
    txn.commit().await?;
    Ok(SeedOutcome::Loaded)
}

struct Loader<'a> {
    txn: &'a DatabaseTransaction,
    now: chrono::DateTime<Utc>,
    regulators: HashMap<String, i64>,
    orders: HashMap<String, i64>,
    findings: HashMap<String, i64>,
    owners: HashMap<String, (i64, String)>,
    systems: HashMap<String, i64>,
    evaluators: HashMap<String, i64>,
    measures: HashMap<String, measure::Model>,
    evidence: HashMap<String, evidence::Model>,
    reports: HashMap<String, i64>,
}

fn missing(kind: &str, key: &str) -> AppError {
    AppError::from(anyhow::anyhow!("demo plan: unknown {kind} {key:?}"))
}

impl<'a> Loader<'a> {
    fn new(txn: &'a DatabaseTransaction) -> Self {
        Self {
            txn,
            now: Utc::now().trunc_subsecs(6),
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

    async fn audit(
        &self,
        entity: &str,
        id: impl ToString,
        after: serde_json::Value,
    ) -> AppResult<()> {
        audit::record(
            self.txn,
            audit::Change {
                actor: SEED_ACTOR,
                action: "create",
                entity,
                entity_id: id.to_string(),
                before: None,
                after: Some(after),
            },
        )
        .await?;
        Ok(())
    }

    async fn load(&mut self, plan: &DemoPlan) -> AppResult<()> {
        let now = self.now;
        for r in &plan.regulators {
            let m = regulator::ActiveModel {
                code: Set(r.code.clone()),
                name: Set(r.name.clone()),
                name_local: Set(r.name_local.clone()),
                kind: Set(r.kind),
                version: Set(1),
                archived_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(self.txn)
            .await?;
            self.audit("Regulator", m.id, json!(m)).await?;
            self.regulators.insert(r.code.clone(), m.id);
        }
        for o in &plan.orders {
            let regulator_id = *self
                .regulators
                .get(&o.regulator)
                .ok_or_else(|| missing("regulator", &o.regulator))?;
            let m = regulatory_order::ActiveModel {
                regulator_id: Set(regulator_id),
                kind: Set(o.kind),
                reference: Set(o.reference.clone()),
                title: Set(o.title.clone()),
                title_local: Set(o.title_local.clone()),
                legal_basis: Set(o.legal_basis.clone()),
                issued_on: Set(o.issued_on),
                status: Set(o.status),
                summary: Set(o.summary.clone()),
                version: Set(1),
                archived_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(self.txn)
            .await?;
            self.audit("Order", m.id, json!(m)).await?;
            self.orders.insert(o.reference.clone(), m.id);
        }
        for f in &plan.findings {
            let order_id = *self
                .orders
                .get(&f.order)
                .ok_or_else(|| missing("order", &f.order))?;
            let m = finding::ActiveModel {
                order_id: Set(order_id),
                category: Set(f.category),
                number: Set(f.number.clone()),
                title: Set(f.title.clone()),
                facts: Set(f.facts.clone()),
                facts_en: Set(f.facts_en.clone()),
                directive: Set(f.directive.clone()),
                directive_en: Set(f.directive_en.clone()),
                version: Set(1),
                archived_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(self.txn)
            .await?;
            self.audit("Finding", m.id, json!(m)).await?;
            self.findings
                .insert(format!("{}#{}", f.order, f.number), m.id);
        }
        // Owners reference their parents: insert parents first.
        let mut pending: Vec<&SeedOwner> = plan.owners.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for o in pending {
                let parent_id = match &o.parent {
                    None => None,
                    Some(p) => match self.owners.get(p) {
                        Some((id, _)) => Some(*id),
                        None => {
                            rest.push(o);
                            continue;
                        }
                    },
                };
                let m = owner::ActiveModel {
                    code: Set(o.code.clone()),
                    name: Set(o.name.clone()),
                    name_local: Set(o.name_local.clone()),
                    kind: Set(o.kind),
                    role_title: Set(o.role_title.clone()),
                    contact: Set(o.contact.clone()),
                    parent_id: Set(parent_id),
                    version: Set(1),
                    archived_at: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(self.txn)
                .await?;
                self.audit("Owner", m.id, json!(m)).await?;
                self.owners.insert(
                    o.code.clone(),
                    (m.id, o.name_local.clone().unwrap_or_else(|| o.name.clone())),
                );
            }
            if rest.len() == before {
                return Err(missing(
                    "owner parent",
                    rest[0].parent.as_deref().unwrap_or(""),
                ));
            }
            pending = rest;
        }
        for s in &plan.systems {
            let m = system::ActiveModel {
                code: Set(s.code.clone()),
                name: Set(s.name.clone()),
                name_local: Set(s.name_local.clone()),
                kind: Set(s.kind),
                scope_note: Set(s.scope_note.clone()),
                holds_card_data: Set(s.holds_card_data),
                version: Set(1),
                archived_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(self.txn)
            .await?;
            self.audit("System", m.id, json!(m)).await?;
            self.systems.insert(s.code.clone(), m.id);
        }
        let mut pending: Vec<&SeedEvaluator> = plan.evaluators.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for e in pending {
                let parent_id = match &e.parent {
                    None => None,
                    Some(p) => match self.evaluators.get(p) {
                        Some(id) => Some(*id),
                        None => {
                            rest.push(e);
                            continue;
                        }
                    },
                };
                let m = evaluator::ActiveModel {
                    code: Set(e.code.clone()),
                    name: Set(e.name.clone()),
                    name_local: Set(e.name_local.clone()),
                    kind: Set(e.kind),
                    affiliation: Set(e.affiliation.clone()),
                    parent_id: Set(parent_id),
                    version: Set(1),
                    archived_at: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(self.txn)
                .await?;
                self.audit("Evaluator", m.id, json!(m)).await?;
                self.evaluators.insert(e.code.clone(), m.id);
            }
            if rest.len() == before {
                return Err(missing(
                    "evaluator parent",
                    rest[0].parent.as_deref().unwrap_or(""),
                ));
            }
            pending = rest;
        }
        for ms in &plan.measures {
            self.load_measure(ms).await?;
        }
        for m in &plan.measures {
            self.load_occurrences(m).await?;
        }
        let mut pending: Vec<&SeedEvidence> = plan.evidence.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for e in pending {
                let supersedes_id = match &e.supersedes {
                    None => None,
                    Some(k) => match self.evidence.get(k) {
                        Some(prev) => Some(prev.id),
                        None => {
                            rest.push(e);
                            continue;
                        }
                    },
                };
                self.load_evidence(e, supersedes_id).await?;
            }
            if rest.len() == before {
                return Err(missing(
                    "superseded evidence",
                    rest[0].supersedes.as_deref().unwrap_or(""),
                ));
            }
            pending = rest;
        }
        for r in &plan.reports {
            self.load_report(r).await?;
        }
        for e in &plan.evaluations {
            let evaluator_id = *self
                .evaluators
                .get(&e.evaluator)
                .ok_or_else(|| missing("evaluator", &e.evaluator))?;
            let report_id = match &e.report {
                Some(code) => Some(
                    *self
                        .reports
                        .get(code)
                        .ok_or_else(|| missing("report", code))?,
                ),
                None => None,
            };
            let measure_id = match &e.measure {
                Some(code) => Some(
                    self.measures
                        .get(code)
                        .ok_or_else(|| missing("measure", code))?
                        .id,
                ),
                None => None,
            };
            let m = evaluation::ActiveModel {
                report_id: Set(report_id),
                measure_id: Set(measure_id),
                evaluator_id: Set(Some(evaluator_id)),
                evaluator_subject: Set(e.evaluator.clone()),
                verdict: Set(e.verdict),
                comment: Set(e.comment.clone()),
                evaluated_at: Set(e.evaluated_at),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(self.txn)
            .await?;
            self.audit("Evaluation", m.id, json!(m)).await?;
        }
        Ok(())
    }

    async fn load_measure(&mut self, ms: &SeedMeasure) -> AppResult<()> {
        let now = self.now;
        let owner_id = match &ms.owner {
            Some(code) => Some(
                self.owners
                    .get(code)
                    .ok_or_else(|| missing("owner", code))?
                    .0,
            ),
            None => None,
        };
        let m = measure::ActiveModel {
            code: Set(ms.code.clone()),
            title: Set(ms.title.clone()),
            title_local: Set(ms.title_local.clone()),
            plan: Set(ms.plan.clone()),
            status: Set(ms.status),
            status_reason: Set(None),
            owner_id: Set(owner_id),
            started_on: Set(ms.started_on),
            due_on: Set(ms.due_on),
            completed_on: Set(ms.completed_on),
            recurrence: Set(ms.recurrence),
            next_due_on: Set(demo_next_due(ms)),
            note: Set(ms.note.clone()),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(self.txn)
        .await?;
        self.audit("Measure", m.id, json!(m)).await?;
        for f in &ms.findings {
            let finding_id = *self.findings.get(f).ok_or_else(|| missing("finding", f))?;
            let link = measure_finding::ActiveModel {
                measure_id: Set(m.id),
                finding_id: Set(finding_id),
                created_at: Set(now),
            }
            .insert(self.txn)
            .await?;
            self.audit(
                "MeasureFinding",
                format!("{}:{}", m.id, finding_id),
                json!(link),
            )
            .await?;
        }
        for s in &ms.systems {
            let system_id = *self.systems.get(s).ok_or_else(|| missing("system", s))?;
            let link = measure_system::ActiveModel {
                measure_id: Set(m.id),
                system_id: Set(system_id),
                created_at: Set(now),
            }
            .insert(self.txn)
            .await?;
            self.audit(
                "MeasureSystem",
                format!("{}:{}", m.id, system_id),
                json!(link),
            )
            .await?;
        }
        self.measures.insert(ms.code.clone(), m);
        Ok(())
    }

    /// Recurring measures get one execution record per full period between their start
    /// and the plan's date. The sources state the cadence, not each run, so these records
    /// say they are demo data.
    async fn load_occurrences(&mut self, ms: &SeedMeasure) -> AppResult<()> {
        let Some(start) = ms.started_on.or(ms.completed_on) else {
            return Ok(());
        };
        let as_of: NaiveDate = DEMO_AS_OF.parse().expect("valid date");
        let measure = &self.measures[&ms.code];
        let done_by = match ms.owner.as_ref().and_then(|c| self.owners.get(c)) {
            Some((_, name)) => name.clone(),
            None => "unknown".to_string(),
        };
        for (period, due_on) in periods(ms.recurrence, start, as_of) {
            let m = occurrence::ActiveModel {
                measure_id: Set(measure.id),
                period: Set(period),
                due_on: Set(Some(due_on)),
                done_on: Set(due_on),
                done_by: Set(done_by.clone()),
                note: Set(Some(
                    "デモ用の実施記録（資料は頻度のみ記載）/ Demo record: the sources state the cadence, not each execution."
                        .to_string(),
                )),
                created_at: Set(self.now),
                ..Default::default()
            }
            .insert(self.txn)
            .await?;
            self.audit("Occurrence", m.id, json!(m)).await?;
        }
        Ok(())
    }

    async fn load_evidence(
        &mut self,
        e: &SeedEvidence,
        supersedes_id: Option<i64>,
    ) -> AppResult<()> {
        let measure_id = self
            .measures
            .get(&e.measure)
            .ok_or_else(|| missing("measure", &e.measure))?
            .id;
        let system_id = match &e.system {
            Some(code) => Some(
                *self
                    .systems
                    .get(code)
                    .ok_or_else(|| missing("system", code))?,
            ),
            None => None,
        };
        let bytes = e.content.as_bytes().to_vec();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let submitted_at = e
            .issued_on
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|dt| dt.and_utc())
            .unwrap_or(self.now);
        let m = evidence::ActiveModel {
            measure_id: Set(measure_id),
            system_id: Set(system_id),
            kind: Set(e.kind),
            title: Set(e.title.clone()),
            issued_by: Set(e.issued_by.clone()),
            issued_on: Set(e.issued_on),
            valid_from: Set(e.valid_from),
            valid_until: Set(e.valid_until),
            sha256: Set(sha256),
            media_type: Set(e.media_type.clone()),
            size_bytes: Set(bytes.len() as i64),
            storage_uri: Set(None),
            content: Set(Some(bytes)),
            supersedes_id: Set(supersedes_id),
            submitted_by: Set(e.submitted_by.clone()),
            submitted_at: Set(submitted_at),
            created_at: Set(self.now),
            ..Default::default()
        }
        .insert(self.txn)
        .await?;
        self.audit("Evidence", m.id, json!(m)).await?;
        self.evidence.insert(e.key.clone(), m);
        Ok(())
    }

    async fn load_report(&mut self, r: &SeedReport) -> AppResult<()> {
        let now = self.now;
        let order_id = *self
            .orders
            .get(&r.order)
            .ok_or_else(|| missing("order", &r.order))?;
        let mut linked = Vec::new();
        for code in &r.measures {
            linked.push(
                self.measures
                    .get(code)
                    .ok_or_else(|| missing("measure", code))?
                    .clone(),
            );
        }
        // A submitted report carries the state of its measures on the day it was filed,
        // derived from the recorded dates.
        let snapshot = r.submitted_on.map(|on| {
            let measures: Vec<serde_json::Value> = linked
                .iter()
                .map(|m| {
                    let evidence: Vec<serde_json::Value> = self
                        .evidence
                        .values()
                        .filter(|e| e.measure_id == m.id && e.issued_on.is_none_or(|d| d <= on))
                        .map(|e| json!({"id": e.id, "title": e.title, "sha256": e.sha256}))
                        .collect();
                    json!({
                        "code": m.code,
                        "title": m.title,
                        "status": crate::service::measures::status_as_of(m, on).as_str(),
                        "startedOn": m.started_on,
                        "dueOn": m.due_on,
                        "completedOn": m.completed_on.filter(|d| *d <= on),
                        "ownerId": m.owner_id,
                        "evidence": evidence,
                    })
                })
                .collect();
            audit::canonical_json(&json!({"asOf": on, "measures": measures}))
        });
        let m = report::ActiveModel {
            code: Set(r.code.clone()),
            order_id: Set(order_id),
            kind: Set(r.kind),
            title: Set(r.title.clone()),
            title_local: Set(r.title_local.clone()),
            due_on: Set(r.due_on),
            submitted_on: Set(r.submitted_on),
            acknowledged_on: Set(r.acknowledged_on),
            status: Set(r.status),
            body: Set(r.body.clone()),
            snapshot: Set(snapshot),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(self.txn)
        .await?;
        self.audit("Report", m.id, json!(m)).await?;
        for measure in &linked {
            let link = report_measure::ActiveModel {
                report_id: Set(m.id),
                measure_id: Set(measure.id),
                created_at: Set(now),
            }
            .insert(self.txn)
            .await?;
            self.audit(
                "ReportMeasure",
                format!("{}:{}", m.id, measure.id),
                json!(link),
            )
            .await?;
        }
        self.reports.insert(r.code.clone(), m.id);
        Ok(())
    }
}

/// When a demo recurring measure is next due: after the executions recorded up to the plan's date.
fn demo_next_due(ms: &SeedMeasure) -> Option<NaiveDate> {
    let start = ms.started_on.or(ms.completed_on)?;
    let as_of: NaiveDate = DEMO_AS_OF.parse().expect("valid date");
    let last = periods(ms.recurrence, start, as_of).last().map(|p| p.1);
    next_period_end(ms.recurrence, start, last)
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
            .map(|f| format!("{}#{}", f.order, f.number))
            .collect();
        for m in &plan.measures {
            assert!(!m.findings.is_empty(), "{} answers no finding", m.code);
            for f in &m.findings {
                assert!(findings.contains(f), "{} links unknown finding {f}", m.code);
            }
        }
    }
}
