//! Notices: events people should hear about, recorded in the write that causes them (the
//! transactional outbox reminders and webhooks deliver from). A notice names its kind, when it
//! happened, its subject, the measure and the orders concerned, and one line for people; its
//! `dedup_key` is unique, so noting the same event twice (a second replica's sweep, a retried
//! write) keeps one.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::enums::{MeasureStatus, NoticeKind, Recurrence};
use entity::{measure, notice, occurrence, period_skip};
use sea_orm::sea_query::OnConflict;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Write;
use crate::db::in_ids;
use crate::domain::{schedule, schedule_anchor};
use crate::error::AppResult;
use crate::service::scope;

/// How far back a sweep looks for periods that came due unrecorded: a period is noted as
/// missed by the first sweep within this many days of its due date (a server down for longer
/// leaves older misses to the overdue lists, which show every one).
pub const MISSED_LOOKBACK_DAYS: u64 = 7;

/// One event to note.
pub struct NewNotice {
    pub kind: NoticeKind,
    pub at: DateTime<Utc>,
    pub dedup_key: String,
    pub subject_type: &'static str,
    pub subject_id: i64,
    pub measure_id: Option<i64>,
    /// The orders concerned; empty: the measure's orders (none without a measure).
    pub orders: Vec<i64>,
    pub summary: String,
}

/// Notes an event in the open write, with the orders of its measure and the write's latest
/// audit event; a second notice with the same `dedup_key` is dropped.
pub async fn note(w: &Write<'_>, mut n: NewNotice) -> AppResult<()> {
    if let (true, Some(m)) = (n.orders.is_empty(), n.measure_id) {
        n.orders = scope::orders_of_measure(&w.txn, m).await?;
    }
    insert(w, vec![row(w, n, w.last_event())]).await
}

/// The row of a notice, with the orders it names.
fn row(w: &Write<'_>, n: NewNotice, audit_event_id: Option<i64>) -> notice::ActiveModel {
    notice::ActiveModel {
        kind: Set(n.kind),
        at: Set(n.at),
        dedup_key: Set(n.dedup_key),
        subject_type: Set(n.subject_type.to_string()),
        subject_id: Set(n.subject_id),
        measure_id: Set(n.measure_id),
        order_ids: Set(serde_json::to_string(&n.orders).unwrap_or_else(|_| "[]".into())),
        summary: Set(n.summary),
        audit_event_id: Set(audit_event_id),
        created_at: Set(w.now),
        ..Default::default()
    }
}

/// Inserts notices, 200 per statement; one whose `dedup_key` is already noted is dropped.
async fn insert(w: &Write<'_>, mut rows: Vec<notice::ActiveModel>) -> AppResult<()> {
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(200));
        notice::Entity::insert_many(std::mem::replace(&mut rows, rest))
            .on_conflict(
                OnConflict::column(notice::Column::DedupKey)
                    .do_nothing()
                    .to_owned(),
            )
            .do_nothing()
            .exec(&w.txn)
            .await?;
    }
    Ok(())
}

/// Notes every period of a recurring measure (not archived, deferred or cancelled) whose due
/// date fell in the [`MISSED_LOOKBACK_DAYS`] before `today` with nothing recorded for it and
/// no skip: PERIOD_MISSED, once per measure and period (`period_missed:<measure>:<period>`).
/// Only measures whose next due date has passed can have one, so the sweep reads those, their
/// executions and their skips: three statements. Returns how many notices were new.
pub async fn note_missed_periods(w: &Write<'_>, today: NaiveDate) -> AppResult<usize> {
    let since = today
        .checked_sub_days(Days::new(MISSED_LOOKBACK_DAYS))
        .unwrap_or(today);
    let measures = measure::Entity::find()
        .filter(measure::Column::Recurrence.ne(Recurrence::None))
        .filter(measure::Column::ArchivedAt.is_null())
        .filter(
            measure::Column::Status.is_not_in([MeasureStatus::Deferred, MeasureStatus::Cancelled]),
        )
        .filter(measure::Column::NextDueOn.lt(today))
        .order_by_asc(measure::Column::Id)
        .all(&w.txn)
        .await?;
    if measures.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = measures.iter().map(|m| m.id).collect();
    let mut covered: HashMap<i64, HashSet<String>> = HashMap::new();
    let done: Vec<(i64, String)> = occurrence::Entity::find()
        .select_only()
        .column(occurrence::Column::MeasureId)
        .column(occurrence::Column::Period)
        .filter(in_ids(occurrence::Column::MeasureId, ids.iter().copied()))
        .into_tuple()
        .all(&w.txn)
        .await?;
    let skipped: Vec<(i64, String)> = period_skip::Entity::find()
        .select_only()
        .column(period_skip::Column::MeasureId)
        .column(period_skip::Column::Period)
        .filter(in_ids(period_skip::Column::MeasureId, ids.iter().copied()))
        .into_tuple()
        .all(&w.txn)
        .await?;
    for (m, p) in done.into_iter().chain(skipped) {
        covered.entry(m).or_default().insert(p);
    }
    let before = notice::Entity::find()
        .filter(notice::Column::Kind.eq(NoticeKind::PeriodMissed))
        .count(&w.txn)
        .await?;
    for m in &measures {
        let Some(anchor) = schedule_anchor(m) else {
            continue;
        };
        let none = HashSet::new();
        let have = covered.get(&m.id).unwrap_or(&none);
        for p in schedule(m.recurrence, anchor, m.grace_days, today) {
            if p.due < since || p.due >= today || have.contains(&p.label) {
                continue;
            }
            note(
                w,
                NewNotice {
                    kind: NoticeKind::PeriodMissed,
                    at: w.now,
                    dedup_key: format!("period_missed:{}:{}", m.id, p.label),
                    subject_type: "Measure",
                    subject_id: m.id,
                    measure_id: Some(m.id),
                    orders: Vec::new(),
                    summary: format!(
                        "{}: period {} ({} to {}) was due {} and nothing is recorded",
                        m.code, p.label, p.start, p.end, p.due
                    ),
                },
            )
            .await?;
        }
    }
    let after = notice::Entity::find()
        .filter(notice::Column::Kind.eq(NoticeKind::PeriodMissed))
        .count(&w.txn)
        .await?;
    Ok((after - before) as usize)
}

/// Runs [`note_missed_periods`] for `today` in its own write (the server's periodic sweep).
pub async fn run_missed_periods(
    db: &sea_orm::DatabaseConnection,
    gate: &super::WriteGate,
    today: NaiveDate,
) -> AppResult<usize> {
    let w = Write::begin(db, gate, "system:notices").await?;
    let n = note_missed_periods(&w, today).await?;
    w.commit().await?;
    Ok(n)
}

/// Notes several events at once (one statement per 200), each with the orders it names; a
/// notice whose `dedup_key` is already noted is dropped. Returns how many were new.
pub async fn note_all(w: &Write<'_>, list: Vec<NewNotice>) -> AppResult<usize> {
    let before = notice::Entity::find().count(&w.txn).await?;
    insert(w, list.into_iter().map(|n| row(w, n, None)).collect()).await?;
    let after = notice::Entity::find().count(&w.txn).await?;
    Ok((after - before) as usize)
}

/// Entities whose changes are plan changes (others, such as tokens and webhook endpoints,
/// are administration and note nothing).
const PLAN_ENTITIES: &[&str] = &[
    "Regulator",
    "Order",
    "Finding",
    "Owner",
    "System",
    "Measure",
    "Report",
    "ChangeRequest",
    "PeriodSkip",
    "Occurrence",
    "Evaluation",
    "Evidence",
    "MeasureFinding",
    "MeasureSystem",
    "ReportMeasure",
];

/// The measure and orders an audited object belongs to.
async fn subject_orders(
    w: &Write<'_>,
    entity: &str,
    id: &str,
) -> AppResult<(Option<i64>, Vec<i64>)> {
    use entity::{change_request, evaluation, evidence, finding, report};
    let first = |s: &str| s.split(':').next().and_then(|p| p.parse::<i64>().ok());
    let Some(n) = first(id) else {
        return Ok((None, Vec::new()));
    };
    let measure = match entity {
        "Measure" | "MeasureFinding" | "MeasureSystem" => Some(n),
        "Occurrence" => occurrence::Entity::find_by_id(n)
            .one(&w.txn)
            .await?
            .map(|o| o.measure_id),
        "PeriodSkip" => period_skip::Entity::find_by_id(n)
            .one(&w.txn)
            .await?
            .map(|o| o.measure_id),
        "Evidence" => {
            evidence::Entity::find_by_id(n)
                .select_only()
                .column(evidence::Column::MeasureId)
                .into_tuple::<i64>()
                .one(&w.txn)
                .await?
        }
        "ChangeRequest" => change_request::Entity::find_by_id(n)
            .one(&w.txn)
            .await?
            .map(|c| c.measure_id),
        "Evaluation" => match evaluation::Entity::find_by_id(n).one(&w.txn).await? {
            Some(e) if e.measure_id.is_some() => e.measure_id,
            Some(e) => {
                let order = match e.report_id {
                    Some(r) => report::Entity::find_by_id(r)
                        .one(&w.txn)
                        .await?
                        .map(|r| r.order_id),
                    None => None,
                };
                return Ok((None, order.into_iter().collect()));
            }
            None => None,
        },
        "Order" => return Ok((None, vec![n])),
        "Finding" => {
            let o = finding::Entity::find_by_id(n)
                .one(&w.txn)
                .await?
                .map(|f| f.order_id);
            return Ok((None, o.into_iter().collect()));
        }
        "Report" | "ReportMeasure" => {
            let o = report::Entity::find_by_id(n)
                .one(&w.txn)
                .await?
                .map(|r| r.order_id);
            return Ok((None, o.into_iter().collect()));
        }
        _ => None,
    };
    match measure {
        Some(m) => Ok((Some(m), scope::orders_of_measure(&w.txn, m).await?)),
        None => Ok((None, Vec::new())),
    }
}

/// Notes one PLAN_CHANGED for a committed change made through the API: its subject is the
/// first object the write's audit events name, its orders those of every object they name
/// (plan-wide objects such as owners and systems name none). Writes that recorded no plan
/// event note nothing. Called by every mutation before it commits.
pub async fn note_plan_change(w: &Write<'_>) -> AppResult<()> {
    let events: Vec<_> = w
        .events()
        .into_iter()
        .filter(|(e, _, _)| PLAN_ENTITIES.contains(&e.as_str()))
        .collect();
    let (Some(first), Some(last_event)) = (events.first(), w.last_event()) else {
        return Ok(());
    };
    let mut orders: Vec<i64> = Vec::new();
    let mut measure = None;
    for (entity, id, _) in events.iter().take(50) {
        let (m, os) = subject_orders(w, entity, id).await?;
        measure = measure.or(m);
        orders.extend(os);
    }
    orders.sort_unstable();
    orders.dedup();
    let (entity, id, action) = first;
    let subject_id = id
        .split(':')
        .next()
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or_default();
    let more = match events.len() {
        1 => String::new(),
        n => format!(" (and {} more changes)", n - 1),
    };
    let label = label_of(w, subject_type(entity), subject_id)
        .await?
        .unwrap_or_else(|| format!("{entity} {id}"));
    note(
        w,
        NewNotice {
            kind: NoticeKind::PlanChanged,
            at: w.now,
            dedup_key: format!("plan_changed:{last_event}"),
            subject_type: subject_type(entity),
            subject_id,
            measure_id: measure,
            orders: if orders.is_empty() { vec![] } else { orders },
            summary: format!("{} {action} {label}{more}", w.actor),
        },
    )
    .await
}

/// How people name an object: a measure or report by its code, an order by its reference.
async fn label_of(w: &Write<'_>, subject_type: &str, id: i64) -> AppResult<Option<String>> {
    use entity::{owner, regulatory_order, report, system};
    Ok(match subject_type {
        "Measure" => measure::Entity::find_by_id(id)
            .one(&w.txn)
            .await?
            .map(|m| format!("measure {}", m.code)),
        "Report" => report::Entity::find_by_id(id)
            .one(&w.txn)
            .await?
            .map(|r| format!("report {}", r.code)),
        "Order" => regulatory_order::Entity::find_by_id(id)
            .one(&w.txn)
            .await?
            .map(|o| format!("order {}", o.reference)),
        "Owner" => owner::Entity::find_by_id(id)
            .one(&w.txn)
            .await?
            .map(|o| format!("owner {}", o.code)),
        "System" => system::Entity::find_by_id(id)
            .one(&w.txn)
            .await?
            .map(|o| format!("system {}", o.code)),
        _ => None,
    })
}

/// The GraphQL type name of an audited entity (link rows name their first side).
fn subject_type(entity: &str) -> &'static str {
    match entity {
        "Regulator" => "Regulator",
        "Order" => "Order",
        "Finding" => "Finding",
        "Owner" => "Owner",
        "System" => "System",
        "Report" | "ReportMeasure" => "Report",
        "ChangeRequest" => "ChangeRequest",
        "Occurrence" => "Occurrence",
        "Evaluation" => "Evaluation",
        "Evidence" => "Evidence",
        "PeriodSkip" => "PeriodSkip",
        _ => "Measure",
    }
}
