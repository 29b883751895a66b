//! Dashboards: progress rollups (now or as of a date), overdue measures, an order's timeline.
//!
//! "As of" a date: a measure exists once an order it answers was issued; its status is
//! derived from its recorded dates (done once its completion date has passed, in progress
//! once started); a recurring measure is overdue when the period after its last execution
//! recorded by then has ended.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_graphql::{Enum, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::*;
use entity::*;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use super::id;
use super::loader::{evidence_meta_select, EvidenceMeta};
use super::types::{today, Order, Regulator};
use crate::auth::Caller;
use crate::error::AppResult;
use crate::seed::next_period_end;
use crate::service::measures::{is_overdue, status_as_of, OPEN_STATUSES};
use crate::service::scope;

/// Counts by status and the derived percentages.
#[derive(SimpleObject, Default, Clone, Debug, PartialEq)]
pub struct Figures {
    /// Measures counted.
    pub total: u64,
    /// Planned.
    pub planned: u64,
    /// In progress.
    pub in_progress: u64,
    /// Implemented (not yet verified).
    pub implemented: u64,
    /// Verified by current evidence.
    pub verified: u64,
    /// Deferred.
    pub deferred: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// Overdue.
    pub overdue: u64,
    /// Implemented or verified, in percent of the measures not cancelled (one decimal).
    pub percent_implemented: f64,
    /// Verified, in percent of the measures not cancelled (one decimal).
    pub percent_verified: f64,
}

#[derive(Default)]
struct Tally {
    by_status: HashMap<MeasureStatus, u64>,
    overdue: u64,
    total: u64,
}

impl Tally {
    fn add(&mut self, status: MeasureStatus, overdue: bool) {
        *self.by_status.entry(status).or_default() += 1;
        self.total += 1;
        if overdue {
            self.overdue += 1;
        }
    }

    fn figures(&self) -> Figures {
        let n = |s| self.by_status.get(&s).copied().unwrap_or(0);
        let base = self.total - n(MeasureStatus::Cancelled);
        let pct = |x: u64| {
            if base == 0 {
                0.0
            } else {
                (x as f64 * 1000.0 / base as f64).round() / 10.0
            }
        };
        Figures {
            total: self.total,
            planned: n(MeasureStatus::Planned),
            in_progress: n(MeasureStatus::InProgress),
            implemented: n(MeasureStatus::Implemented),
            verified: n(MeasureStatus::Verified),
            deferred: n(MeasureStatus::Deferred),
            cancelled: n(MeasureStatus::Cancelled),
            overdue: self.overdue,
            percent_implemented: pct(n(MeasureStatus::Implemented) + n(MeasureStatus::Verified)),
            percent_verified: pct(n(MeasureStatus::Verified)),
        }
    }
}

/// Figures for one finding category.
#[derive(SimpleObject, Clone)]
pub struct CategoryProgress {
    /// The category.
    pub category: FindingCategory,
    /// How many findings of this category there are.
    pub findings: u64,
    /// The measures answering them.
    #[graphql(flatten)]
    pub figures: Figures,
}

/// Figures for one order.
#[derive(SimpleObject)]
pub struct OrderProgress {
    /// The order.
    pub order: Order,
    /// How many findings it has.
    pub findings: u64,
    /// Its measures.
    #[graphql(flatten)]
    pub figures: Figures,
    /// Per finding category.
    pub categories: Vec<CategoryProgress>,
}

/// Figures for one regulator (all its orders; a measure answering two orders counts once).
#[derive(SimpleObject)]
pub struct RegulatorProgress {
    /// The regulator.
    pub regulator: Regulator,
    /// Its measures.
    #[graphql(flatten)]
    pub figures: Figures,
}

/// The progress dashboard.
#[derive(SimpleObject)]
pub struct Progress {
    /// The date the figures describe.
    pub as_of: NaiveDate,
    /// Every measure the caller sees.
    #[graphql(flatten)]
    pub figures: Figures,
    /// Per regulator.
    pub regulators: Vec<RegulatorProgress>,
    /// Per order.
    pub orders: Vec<OrderProgress>,
    /// Per finding category, across orders.
    pub categories: Vec<CategoryProgress>,
}

/// What a measure looked like on a date.
struct MeasureState {
    status: MeasureStatus,
    overdue: bool,
}

/// Whether a measure was overdue on `on`, from its recorded dates and executions.
pub fn overdue_as_of(m: &measure::Model, on: NaiveDate, occurrences: &[occurrence::Model]) -> bool {
    let status = status_as_of(m, on);
    if m.recurrence == Recurrence::None {
        return OPEN_STATUSES.contains(&status) && m.due_on.is_some_and(|d| d < on);
    }
    let Some(start) = m.started_on.or(m.completed_on).filter(|s| *s <= on) else {
        return false;
    };
    let last_done = occurrences
        .iter()
        .filter(|o| o.measure_id == m.id && o.done_on <= on)
        .filter_map(|o| o.due_on.or(Some(o.done_on)))
        .max();
    next_period_end(m.recurrence, start, last_done).is_some_and(|next| next < on)
}

/// Everything the rollups need, loaded in a fixed number of statements.
struct Plan {
    regulators: Vec<regulator::Model>,
    orders: Vec<regulatory_order::Model>,
    findings: Vec<finding::Model>,
    links: Vec<measure_finding::Model>,
    measures: HashMap<i64, measure::Model>,
    occurrences: Vec<occurrence::Model>,
}

async fn load_plan(
    db: &DatabaseConnection,
    who: &Caller,
    with_occurrences: bool,
) -> AppResult<Plan> {
    let orders = regulatory_order::Entity::find()
        .filter(scope::orders(who))
        .filter(regulatory_order::Column::ArchivedAt.is_null())
        .order_by_asc(regulatory_order::Column::IssuedOn)
        .order_by_asc(regulatory_order::Column::Id)
        .all(db)
        .await?;
    let order_ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    let regulator_ids: BTreeSet<i64> = orders.iter().map(|o| o.regulator_id).collect();
    let regulators = regulator::Entity::find()
        .filter(regulator::Column::Id.is_in(regulator_ids))
        .order_by_asc(regulator::Column::Code)
        .all(db)
        .await?;
    let findings = finding::Entity::find()
        .filter(finding::Column::OrderId.is_in(order_ids.clone()))
        .filter(finding::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let finding_ids: Vec<i64> = findings.iter().map(|f| f.id).collect();
    let links = measure_finding::Entity::find()
        .filter(measure_finding::Column::FindingId.is_in(finding_ids))
        .all(db)
        .await?;
    let measures: HashMap<i64, measure::Model> = measure::Entity::find()
        .filter(measure::Column::Id.in_subquery(scope::measures_of_orders(order_ids)))
        .filter(measure::Column::ArchivedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let occurrences = if with_occurrences {
        occurrence::Entity::find()
            .filter(occurrence::Column::MeasureId.is_in(measures.keys().copied()))
            .all(db)
            .await?
    } else {
        Vec::new()
    };
    Ok(Plan {
        regulators,
        orders,
        findings,
        links,
        measures,
        occurrences,
    })
}

const CATEGORIES: [FindingCategory; 4] = [
    FindingCategory::Organizational,
    FindingCategory::Technical,
    FindingCategory::Physical,
    FindingCategory::Human,
];

/// The progress dashboard for what the caller sees.
pub async fn progress(
    db: &DatabaseConnection,
    who: &Caller,
    as_of: Option<NaiveDate>,
) -> AppResult<Progress> {
    let plan = load_plan(db, who, as_of.is_some()).await?;
    let day = as_of.unwrap_or_else(today);
    for o in &plan.orders {
        who.touch(o.id);
    }
    // Orders that existed on the day.
    let orders: Vec<&regulatory_order::Model> = plan
        .orders
        .iter()
        .filter(|o| as_of.is_none_or(|d| o.issued_on <= d))
        .collect();
    let order_ids: BTreeSet<i64> = orders.iter().map(|o| o.id).collect();
    let findings: Vec<&finding::Model> = plan
        .findings
        .iter()
        .filter(|f| order_ids.contains(&f.order_id))
        .collect();
    let finding_by_id: HashMap<i64, &finding::Model> =
        findings.iter().map(|f| (f.id, *f)).collect();

    let state: HashMap<i64, MeasureState> = plan
        .measures
        .values()
        .map(|m| {
            let s = match as_of {
                Some(d) => MeasureState {
                    status: status_as_of(m, d),
                    overdue: overdue_as_of(m, d, &plan.occurrences),
                },
                None => MeasureState {
                    status: m.status,
                    overdue: is_overdue(m, day),
                },
            };
            (m.id, s)
        })
        .collect();

    // measure -> (orders, categories per order) through its findings on the day.
    let mut measures_of_order: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    let mut measures_of_order_cat: BTreeMap<(i64, FindingCategory), BTreeSet<i64>> =
        BTreeMap::new();
    let mut measures_of_cat: BTreeMap<FindingCategory, BTreeSet<i64>> = BTreeMap::new();
    for l in &plan.links {
        let (Some(f), true) = (
            finding_by_id.get(&l.finding_id),
            state.contains_key(&l.measure_id),
        ) else {
            continue;
        };
        measures_of_order
            .entry(f.order_id)
            .or_default()
            .insert(l.measure_id);
        measures_of_order_cat
            .entry((f.order_id, f.category))
            .or_default()
            .insert(l.measure_id);
        measures_of_cat
            .entry(f.category)
            .or_default()
            .insert(l.measure_id);
    }
    let tally = |ids: &BTreeSet<i64>| {
        let mut t = Tally::default();
        for m in ids {
            let s = &state[m];
            t.add(s.status, s.overdue);
        }
        t.figures()
    };
    let empty = BTreeSet::new();
    let all: BTreeSet<i64> = measures_of_order.values().flatten().copied().collect();
    let category_rows = |order: Option<i64>| -> Vec<CategoryProgress> {
        CATEGORIES
            .iter()
            .filter_map(|c| {
                let n = findings
                    .iter()
                    .filter(|f| f.category == *c && order.is_none_or(|o| f.order_id == o))
                    .count() as u64;
                let ids = match order {
                    Some(o) => measures_of_order_cat.get(&(o, *c)).unwrap_or(&empty),
                    None => measures_of_cat.get(c).unwrap_or(&empty),
                };
                (n > 0 || !ids.is_empty()).then(|| CategoryProgress {
                    category: *c,
                    findings: n,
                    figures: tally(ids),
                })
            })
            .collect()
    };
    let regulators = plan
        .regulators
        .iter()
        .filter(|r| orders.iter().any(|o| o.regulator_id == r.id))
        .map(|r| {
            let ids: BTreeSet<i64> = orders
                .iter()
                .filter(|o| o.regulator_id == r.id)
                .flat_map(|o| measures_of_order.get(&o.id).into_iter().flatten().copied())
                .collect();
            RegulatorProgress {
                regulator: Regulator(r.clone()),
                figures: tally(&ids),
            }
        })
        .collect();
    let order_rows = orders
        .iter()
        .map(|o| OrderProgress {
            order: Order((*o).clone()),
            findings: findings.iter().filter(|f| f.order_id == o.id).count() as u64,
            figures: tally(measures_of_order.get(&o.id).unwrap_or(&empty)),
            categories: category_rows(Some(o.id)),
        })
        .collect();
    Ok(Progress {
        as_of: day,
        figures: tally(&all),
        regulators,
        orders: order_rows,
        categories: category_rows(None),
    })
}

/// Measures overdue on a day (today by default), earliest due first, then by code.
pub async fn overdue(
    db: &DatabaseConnection,
    who: &Caller,
    as_of: Option<NaiveDate>,
) -> AppResult<Vec<measure::Model>> {
    let plan = load_plan(db, who, as_of.is_some()).await?;
    let day = as_of.unwrap_or_else(today);
    let existing: BTreeSet<i64> = match as_of {
        None => plan.measures.keys().copied().collect(),
        Some(d) => {
            let orders: BTreeSet<i64> = plan
                .orders
                .iter()
                .filter(|o| o.issued_on <= d)
                .map(|o| o.id)
                .collect();
            let findings: BTreeSet<i64> = plan
                .findings
                .iter()
                .filter(|f| orders.contains(&f.order_id))
                .map(|f| f.id)
                .collect();
            plan.links
                .iter()
                .filter(|l| findings.contains(&l.finding_id))
                .map(|l| l.measure_id)
                .collect()
        }
    };
    let mut rows: Vec<measure::Model> = plan
        .measures
        .into_values()
        .filter(|m| existing.contains(&m.id))
        .filter(|m| match as_of {
            Some(d) => overdue_as_of(m, d, &plan.occurrences),
            None => is_overdue(m, day),
        })
        .collect();
    rows.sort_by(|a, b| {
        let due = |m: &measure::Model| m.due_on.or(m.next_due_on);
        (due(a).is_none(), due(a), &a.code, a.id).cmp(&(due(b).is_none(), due(b), &b.code, b.id))
    });
    Ok(rows)
}

/// What happened on an order.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, PartialOrd, Ord)]
pub enum TimelineKind {
    /// The regulator issued the order.
    OrderIssued,
    /// Work on a measure started.
    MeasureStarted,
    /// A measure was completed.
    MeasureCompleted,
    /// A measure's status or plan changed (from the audit log).
    MeasureChanged,
    /// Evidence was issued or added.
    EvidenceAdded,
    /// A report fell due.
    ReportDue,
    /// A report was filed.
    ReportSubmitted,
    /// The regulator acknowledged a report.
    ReportAcknowledged,
    /// An evaluator assessed a report or measure.
    Evaluation,
}

/// One event on an order's timeline.
#[derive(SimpleObject, Clone, Debug)]
pub struct TimelineEntry {
    /// The day it happened.
    pub on: NaiveDate,
    /// The exact time, when known.
    pub at: Option<DateTime<Utc>>,
    /// What happened.
    pub kind: TimelineKind,
    /// A one-line description.
    pub summary: String,
    /// The global ID of the object concerned.
    pub node_id: ID,
}

/// Every dated event of an order, in date order.
pub async fn timeline(
    db: &DatabaseConnection,
    order: &regulatory_order::Model,
) -> AppResult<Vec<TimelineEntry>> {
    let mut out = vec![TimelineEntry {
        on: order.issued_on,
        at: None,
        kind: TimelineKind::OrderIssued,
        summary: format!("{} issued: {}", order.reference, order.title),
        node_id: id::encode("Order", order.id),
    }];
    let measures = measure::Entity::find()
        .filter(measure::Column::Id.in_subquery(scope::measures_of_orders([order.id])))
        .all(db)
        .await?;
    let measure_ids: Vec<i64> = measures.iter().map(|m| m.id).collect();
    for m in &measures {
        let nid = id::encode("Measure", m.id);
        if let Some(d) = m.started_on {
            out.push(TimelineEntry {
                on: d,
                at: None,
                kind: TimelineKind::MeasureStarted,
                summary: format!("{} started: {}", m.code, m.title),
                node_id: nid.clone(),
            });
        }
        if let Some(d) = m.completed_on {
            out.push(TimelineEntry {
                on: d,
                at: None,
                kind: TimelineKind::MeasureCompleted,
                summary: format!("{} completed: {}", m.code, m.title),
                node_id: nid.clone(),
            });
        }
    }
    let changes = audit_event::Entity::find()
        .filter(audit_event::Column::Entity.eq("Measure"))
        .filter(audit_event::Column::Action.ne("create"))
        .filter(audit_event::Column::EntityId.is_in(measure_ids.iter().map(|i| i.to_string())))
        .all(db)
        .await?;
    let code_of: HashMap<String, &str> = measures
        .iter()
        .map(|m| (m.id.to_string(), m.code.as_str()))
        .collect();
    for e in changes {
        let raw: i64 = e.entity_id.parse().unwrap_or_default();
        out.push(TimelineEntry {
            on: e.at.date_naive(),
            at: Some(e.at),
            kind: TimelineKind::MeasureChanged,
            summary: format!(
                "{} {} by {}",
                code_of.get(&e.entity_id).copied().unwrap_or("?"),
                e.action,
                e.actor
            ),
            node_id: id::encode("Measure", raw),
        });
    }
    let evidence: Vec<EvidenceMeta> = evidence_meta_select()
        .filter(evidence::Column::MeasureId.is_in(measure_ids.clone()))
        .into_model::<EvidenceMeta>()
        .all(db)
        .await?;
    for e in evidence {
        out.push(TimelineEntry {
            on: e.issued_on.unwrap_or_else(|| e.submitted_at.date_naive()),
            at: None,
            kind: TimelineKind::EvidenceAdded,
            summary: format!("evidence: {}", e.title),
            node_id: id::encode("Evidence", e.id),
        });
    }
    let reports = report::Entity::find()
        .filter(report::Column::OrderId.eq(order.id))
        .all(db)
        .await?;
    let report_ids: Vec<i64> = reports.iter().map(|r| r.id).collect();
    for r in &reports {
        let nid = id::encode("Report", r.id);
        out.push(TimelineEntry {
            on: r.due_on,
            at: None,
            kind: TimelineKind::ReportDue,
            summary: format!("report due: {}", r.title),
            node_id: nid.clone(),
        });
        if let Some(d) = r.submitted_on {
            out.push(TimelineEntry {
                on: d,
                at: None,
                kind: TimelineKind::ReportSubmitted,
                summary: format!("report filed: {}", r.title),
                node_id: nid.clone(),
            });
        }
        if let Some(d) = r.acknowledged_on {
            out.push(TimelineEntry {
                on: d,
                at: None,
                kind: TimelineKind::ReportAcknowledged,
                summary: format!("report acknowledged: {}", r.title),
                node_id: nid.clone(),
            });
        }
    }
    let evaluations = evaluation::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(evaluation::Column::ReportId.is_in(report_ids))
                .add(evaluation::Column::MeasureId.is_in(measure_ids)),
        )
        .all(db)
        .await?;
    for e in evaluations {
        out.push(TimelineEntry {
            on: e.evaluated_at.date_naive(),
            at: Some(e.evaluated_at),
            kind: TimelineKind::Evaluation,
            summary: format!("evaluation by {}: {}", e.evaluator_subject, e.verdict),
            node_id: id::encode("Evaluation", e.id),
        });
    }
    out.sort_by(|a, b| {
        (a.on, a.kind, &a.summary, &a.node_id.0).cmp(&(b.on, b.kind, &b.summary, &b.node_id.0))
    });
    Ok(out)
}
