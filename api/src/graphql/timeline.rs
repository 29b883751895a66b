//! Order timelines: every dated event of an order, built for a whole page of orders at once.
use std::collections::{BTreeSet, HashMap};

use async_graphql::{Enum, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::enums::ChangeStatus;
use entity::*;
use sea_orm::sea_query::{Alias, Expr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::db::in_ids;
use crate::error::AppResult;
use crate::id;
use crate::service::evidence::{evidence_meta_select, EvidenceMeta};
use crate::service::history::{self, Reader};
use crate::service::scope;

/// What happened on an order.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, PartialOrd, Ord)]
pub enum TimelineKind {
    /// The incident behind the order was publicly disclosed.
    IncidentDisclosed,
    /// The regulator issued the order.
    OrderIssued,
    /// Work on a measure started.
    MeasureStarted,
    /// A measure was completed.
    MeasureCompleted,
    /// A measure's status or plan changed (from the audit log).
    MeasureChanged,
    /// A measure's or report's due date moved (with the reason given).
    DueDateMoved,
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
    /// Someone asked for a measure to be deferred, cancelled or given a later due date.
    ChangeRequested,
    /// A change request was approved (and applied) or rejected.
    ChangeDecided,
    /// An approved deferral ended: the measure returned to its previous status.
    DeferralEnded,
}

/// The entry for one move of a due date.
fn moved(what: &str, c: &history::DateChange, kind: &str, id: i64) -> TimelineEntry {
    let show =
        |d: Option<chrono::NaiveDate>| d.map_or_else(|| "none".to_string(), |d| d.to_string());
    let mut summary = format!(
        "{what} due date moved from {} to {}",
        show(c.from),
        show(c.to)
    );
    if let Some(r) = &c.reason {
        summary.push_str(": ");
        summary.push_str(r);
    }
    TimelineEntry {
        on: c.at.date_naive().into(),
        at: Some(c.at),
        kind: TimelineKind::DueDateMoved,
        summary,
        node_id: id::encode(kind, id),
    }
}

/// One event on an order's timeline.
#[derive(SimpleObject, Clone, Debug)]
pub struct TimelineEntry {
    /// The day it happened.
    pub on: crate::date::Date,
    /// The exact time, when known.
    pub at: Option<DateTime<Utc>>,
    /// What happened.
    pub kind: TimelineKind,
    /// A one-line description.
    pub summary: String,
    /// The global ID of the object concerned.
    pub node_id: ID,
}

/// The timelines of several orders in seven statements, whatever their number: each order's
/// issue, its measures started and completed and their changes (audit log), the change
/// requests on them (asked, decided, a deferral ended), their evidence,
/// its reports due, filed and acknowledged, and the evaluations of those reports and measures;
/// in date order.
pub async fn timelines(
    db: &Reader,
    orders: &[regulatory_order::Model],
) -> AppResult<HashMap<i64, Vec<TimelineEntry>>> {
    let mut out: HashMap<i64, Vec<TimelineEntry>> = orders
        .iter()
        .map(|order| {
            let mut entries = vec![TimelineEntry {
                on: order.issued_on.into(),
                at: None,
                kind: TimelineKind::OrderIssued,
                summary: format!("{} issued: {}", order.reference, order.title),
                node_id: id::encode("Order", order.id),
            }];
            if let Some(d) = order.incident_disclosed_on {
                entries.push(TimelineEntry {
                    on: d.into(),
                    at: None,
                    kind: TimelineKind::IncidentDisclosed,
                    summary: format!(
                        "the incident behind {} was disclosed publicly",
                        order.reference
                    ),
                    node_id: id::encode("Order", order.id),
                });
            }
            (order.id, entries)
        })
        .collect();
    if orders.is_empty() {
        return Ok(out);
    }
    let order_ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    // Which orders each measure answers (a measure may answer several).
    let pairs = scope::measure_order_pairs(db, &order_ids).await?;
    let mut orders_of: HashMap<i64, Vec<i64>> = HashMap::new();
    for (m, o) in pairs {
        orders_of.entry(m).or_default().push(o);
    }
    let measure_ids: Vec<i64> = orders_of.keys().copied().collect();
    let measures = measure::Entity::find()
        .filter(in_ids(measure::Column::Id, measure_ids.iter().copied()))
        .all(db)
        .await?;
    let mut push_for_measure = |measure_id: i64, entry: TimelineEntry| {
        if let Some(os) = orders_of.get(&measure_id) {
            for o in os {
                if let Some(list) = out.get_mut(o) {
                    list.push(entry.clone());
                }
            }
        }
    };
    for m in &measures {
        let nid = id::encode("Measure", m.id);
        if let Some(d) = m.started_on {
            push_for_measure(
                m.id,
                TimelineEntry {
                    on: d.into(),
                    at: None,
                    kind: TimelineKind::MeasureStarted,
                    summary: format!("{} started: {}", m.code, m.title),
                    node_id: nid.clone(),
                },
            );
        }
        if let Some(d) = m.completed_on {
            push_for_measure(
                m.id,
                TimelineEntry {
                    on: d.into(),
                    at: None,
                    kind: TimelineKind::MeasureCompleted,
                    summary: format!("{} completed: {}", m.code, m.title),
                    node_id: nid.clone(),
                },
            );
        }
    }
    let codes: HashMap<i64, &str> = measures.iter().map(|m| (m.id, m.code.as_str())).collect();
    let tense = db.tense();
    for (id, h) in history::due_history(db.live(), "measure", &measure_ids, tense.as_ref()).await? {
        for c in h.changes {
            push_for_measure(
                id,
                moved(codes.get(&id).copied().unwrap_or("?"), &c, "Measure", id),
            );
        }
    }
    // Change requests: asked, decided, a deferral ended (one statement).
    let requests = change_request::Entity::find()
        .filter(in_ids(
            change_request::Column::MeasureId,
            measure_ids.iter().copied(),
        ))
        .all(db)
        .await?;
    for r in requests {
        let code = codes.get(&r.measure_id).copied().unwrap_or("?");
        let nid = id::encode("ChangeRequest", r.id);
        let asked = crate::service::write::approvals::asked(code, &r);
        push_for_measure(
            r.measure_id,
            TimelineEntry {
                on: r.requested_at.date_naive().into(),
                at: Some(r.requested_at),
                kind: TimelineKind::ChangeRequested,
                summary: format!("{} asked to {asked}: {}", r.requested_by, r.reason),
                node_id: nid.clone(),
            },
        );
        if let (Some(at), Some(by)) = (r.decided_at, r.decided_by.as_deref()) {
            let verdict = if r.status == ChangeStatus::Rejected {
                "rejected"
            } else {
                "approved"
            };
            push_for_measure(
                r.measure_id,
                TimelineEntry {
                    on: at.date_naive().into(),
                    at: Some(at),
                    kind: TimelineKind::ChangeDecided,
                    summary: format!(
                        "{by} {verdict} the request to {asked}: {}",
                        r.decision_comment.as_deref().unwrap_or("")
                    ),
                    node_id: nid.clone(),
                },
            );
        }
        if let Some(at) = r.expired_at {
            push_for_measure(
                r.measure_id,
                TimelineEntry {
                    on: at.date_naive().into(),
                    at: Some(at),
                    kind: TimelineKind::DeferralEnded,
                    summary: format!(
                        "{code}'s deferral ended ({}); back to {}",
                        r.defer_until.map(|d| d.to_string()).unwrap_or_default(),
                        r.previous_status.map(|s| s.to_string()).unwrap_or_default()
                    ),
                    node_id: nid.clone(),
                },
            );
        }
    }
    // The audit log keeps ids as text: rather than binding every measure id as a string (one
    // parameter each, past the backends' limits on a large plan), the same measures are
    // selected again as text in a subquery.
    let mut measure_ids_as_text = scope::measures_of_orders(order_ids.iter().copied());
    measure_ids_as_text.clear_selects().expr(
        Expr::col((measure_finding::Entity, measure_finding::Column::MeasureId))
            .cast_as(Alias::new("TEXT")),
    );
    let changes = audit_event::Entity::find()
        .filter(audit_event::Column::Entity.eq("Measure"))
        .filter(audit_event::Column::Action.ne("create"))
        .filter(audit_event::Column::EntityId.in_subquery(measure_ids_as_text))
        .all(db)
        .await?;
    let code_of: HashMap<String, &str> = measures
        .iter()
        .map(|m| (m.id.to_string(), m.code.as_str()))
        .collect();
    for e in changes {
        let raw: i64 = e.entity_id.parse().unwrap_or_default();
        push_for_measure(
            raw,
            TimelineEntry {
                on: e.at.date_naive().into(),
                at: Some(e.at),
                kind: TimelineKind::MeasureChanged,
                summary: format!(
                    "{} {} by {}",
                    code_of.get(&e.entity_id).copied().unwrap_or("?"),
                    e.action,
                    e.actor
                ),
                node_id: id::encode("Measure", raw),
            },
        );
    }
    let evidence: Vec<EvidenceMeta> = evidence_meta_select()
        .filter(in_ids(
            evidence::Column::MeasureId,
            measure_ids.iter().copied(),
        ))
        .into_model::<EvidenceMeta>()
        .all(db)
        .await?;
    for e in evidence {
        push_for_measure(
            e.measure_id,
            TimelineEntry {
                on: e
                    .issued_on
                    .unwrap_or_else(|| e.submitted_at.date_naive())
                    .into(),
                at: None,
                kind: TimelineKind::EvidenceAdded,
                summary: format!("evidence: {}", e.title),
                node_id: id::encode("Evidence", e.id),
            },
        );
    }
    let reports = report::Entity::find()
        .filter(in_ids(report::Column::OrderId, order_ids.iter().copied()))
        .all(db)
        .await?;
    let report_ids: Vec<i64> = reports.iter().map(|r| r.id).collect();
    let order_of_report: HashMap<i64, i64> = reports.iter().map(|r| (r.id, r.order_id)).collect();
    for r in &reports {
        let nid = id::encode("Report", r.id);
        let list = out.get_mut(&r.order_id).expect("a requested order");
        list.push(TimelineEntry {
            on: r.due_on.into(),
            at: None,
            kind: TimelineKind::ReportDue,
            summary: format!("report due: {}", r.title),
            node_id: nid.clone(),
        });
        if let Some(d) = r.submitted_on {
            list.push(TimelineEntry {
                on: d.into(),
                at: None,
                kind: TimelineKind::ReportSubmitted,
                summary: format!("report filed: {}", r.title),
                node_id: nid.clone(),
            });
        }
        if let Some(d) = r.acknowledged_on {
            list.push(TimelineEntry {
                on: d.into(),
                at: None,
                kind: TimelineKind::ReportAcknowledged,
                summary: format!("report acknowledged: {}", r.title),
                node_id: nid.clone(),
            });
        }
    }
    for (id, h) in history::due_history(db.live(), "report", &report_ids, tense.as_ref()).await? {
        let (Some(r), Some(list)) = (
            reports.iter().find(|r| r.id == id),
            order_of_report.get(&id).and_then(|o| out.get_mut(o)),
        ) else {
            continue;
        };
        for c in h.changes {
            list.push(moved(&format!("report {}", r.code), &c, "Report", id));
        }
    }
    let evaluations = evaluation::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(in_ids(evaluation::Column::ReportId, report_ids))
                .add(in_ids(evaluation::Column::MeasureId, measure_ids)),
        )
        .all(db)
        .await?;
    for e in evaluations {
        let entry = TimelineEntry {
            on: e.evaluated_at.date_naive().into(),
            at: Some(e.evaluated_at),
            kind: TimelineKind::Evaluation,
            summary: format!("evaluation by {}: {}", e.evaluator_subject, e.verdict),
            node_id: id::encode("Evaluation", e.id),
        };
        // An evaluation shows on the order of its report, or on every order of its measure.
        let mut targets: BTreeSet<i64> = BTreeSet::new();
        if let Some(o) = e.report_id.and_then(|r| order_of_report.get(&r)) {
            targets.insert(*o);
        }
        if let Some(os) = e.measure_id.and_then(|m| orders_of.get(&m)) {
            targets.extend(os.iter().copied());
        }
        for o in targets {
            if let Some(list) = out.get_mut(&o) {
                list.push(entry.clone());
            }
        }
    }
    for list in out.values_mut() {
        // As of a date: only what had happened by its end, as known at `knownAt`.
        if let Some(t) = tense {
            list.retain(|e| {
                e.on.0 <= t.day
                    && match (e.at, t.known_at) {
                        (Some(at), Some(k)) => at <= k,
                        _ => true,
                    }
            });
        }
        list.sort_by(|a, b| {
            (a.on, a.kind, &a.summary, &a.node_id.0).cmp(&(b.on, b.kind, &b.summary, &b.node_id.0))
        });
    }
    Ok(out)
}
