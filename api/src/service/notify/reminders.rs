//! The time-based reminders a day brings: a measure or report due within a threshold (e.g.
//! 14, 7 and 1 days), a measure or report whose due date passed, evidence expiring within a
//! threshold or expired. Each is keyed by its subject, the date it is about and the threshold
//! (`measure_due_soon:<id>:<due>:<days>`), so the scheduler notes it once however often it
//! runs and however many replicas run it; a due date moved makes a new reminder.
//!
//! Only dates within the thresholds ahead and the look-back behind are read (a handful of
//! rows per day, whatever the plan's size): a passed date is reminded by the first run within
//! the look-back, and the digests list every overdue measure whatever its age.
use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::enums::{MeasureStatus, NoticeKind, Recurrence, ReportStatus};
use entity::{evidence, finding, measure, measure_finding, regulatory_order, report};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::db::in_ids;
use crate::domain::OPEN_STATUSES;
use crate::error::AppResult;
use crate::service::write::notices::NewNotice;

/// The scheduler's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Days ahead at which a reminder is due, ascending, without duplicates.
    pub thresholds: Vec<u32>,
    /// Days back a passed date is still reminded of.
    pub lookback_days: u32,
}

impl Settings {
    pub fn new(mut thresholds: Vec<u32>, lookback_days: u32) -> Self {
        thresholds.sort_unstable();
        thresholds.dedup();
        Settings {
            thresholds,
            lookback_days,
        }
    }

    fn horizon(&self) -> u32 {
        self.thresholds.last().copied().unwrap_or(0)
    }

    /// The threshold a date `days_left` ahead falls under: the smallest at or above it.
    pub fn threshold(&self, days_left: i64) -> Option<u32> {
        self.thresholds
            .iter()
            .copied()
            .find(|t| i64::from(*t) >= days_left)
    }
}

fn days(n: u32) -> Days {
    Days::new(u64::from(n))
}

/// The orders of each measure, in one statement.
pub async fn orders_of_measures<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> AppResult<HashMap<i64, Vec<i64>>> {
    let mut map: HashMap<i64, Vec<i64>> = HashMap::new();
    if ids.is_empty() {
        return Ok(map);
    }
    let pairs: Vec<(i64, i64)> = measure_finding::Entity::find()
        .select_only()
        .column(measure_finding::Column::MeasureId)
        .column(finding::Column::OrderId)
        .inner_join(finding::Entity)
        .filter(in_ids(
            measure_finding::Column::MeasureId,
            ids.iter().copied(),
        ))
        .distinct()
        .into_tuple()
        .all(conn)
        .await?;
    for (m, o) in pairs {
        let v = map.entry(m).or_default();
        if !v.contains(&o) {
            v.push(o);
        }
    }
    for v in map.values_mut() {
        v.sort_unstable();
    }
    Ok(map)
}

/// The references (e.g. `METI-2022-06-30`) of orders, by id, in one statement.
pub async fn order_references<C: ConnectionTrait>(
    conn: &C,
    ids: impl IntoIterator<Item = i64>,
) -> AppResult<HashMap<i64, String>> {
    Ok(regulatory_order::Entity::find()
        .select_only()
        .column(regulatory_order::Column::Id)
        .column(regulatory_order::Column::Reference)
        .filter(in_ids(regulatory_order::Column::Id, ids))
        .into_tuple::<(i64, String)>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// The reminders `today` brings, noted at `at`. Reads three lists (measures, reports,
/// evidence), each bounded by its dates, and the measures' orders: four statements.
pub async fn due<C: ConnectionTrait>(
    conn: &C,
    today: NaiveDate,
    at: DateTime<Utc>,
    s: &Settings,
) -> AppResult<Vec<NewNotice>> {
    let from = today
        .checked_sub_days(days(s.lookback_days))
        .unwrap_or(today);
    let to = today.checked_add_days(days(s.horizon())).unwrap_or(today);
    let mut out = Vec::new();

    // Measures: one-off ones open with their due date in range; recurring ones (not deferred
    // or cancelled) with their next due date ahead (a passed one is a missed period, noted
    // by `notices::note_missed_periods`).
    let measures = measure::Entity::find()
        .filter(measure::Column::ArchivedAt.is_null())
        .filter(
            sea_orm::Condition::any()
                .add(
                    sea_orm::Condition::all()
                        .add(measure::Column::Recurrence.eq(Recurrence::None))
                        .add(measure::Column::Status.is_in(OPEN_STATUSES))
                        .add(measure::Column::DueOn.between(from, to)),
                )
                .add(
                    sea_orm::Condition::all()
                        .add(measure::Column::Recurrence.ne(Recurrence::None))
                        .add(
                            measure::Column::Status
                                .is_not_in([MeasureStatus::Deferred, MeasureStatus::Cancelled]),
                        )
                        .add(measure::Column::NextDueOn.between(today, to)),
                ),
        )
        .order_by_asc(measure::Column::Id)
        .all(conn)
        .await?;

    // Evidence still current (not superseded) whose validity ends in range.
    let evidence_rows: Vec<(i64, i64, String, Option<NaiveDate>)> = evidence::Entity::find()
        .select_only()
        .column(evidence::Column::Id)
        .column(evidence::Column::MeasureId)
        .column(evidence::Column::Title)
        .column(evidence::Column::ValidUntil)
        .filter(evidence::Column::ValidUntil.between(from, to))
        .filter(
            evidence::Column::Id.not_in_subquery(
                Query::select()
                    .column(evidence::Column::SupersedesId)
                    .from(evidence::Entity)
                    .and_where(evidence::Column::SupersedesId.is_not_null())
                    .to_owned(),
            ),
        )
        .order_by_asc(evidence::Column::Id)
        .into_tuple()
        .all(conn)
        .await?;

    let mut ids: Vec<i64> = measures.iter().map(|m| m.id).collect();
    ids.extend(evidence_rows.iter().map(|e| e.1));
    ids.sort_unstable();
    ids.dedup();
    let orders = orders_of_measures(conn, &ids).await?;
    let orders_of = |m: i64| orders.get(&m).cloned().unwrap_or_default();

    for m in &measures {
        let recurring = m.recurrence != Recurrence::None;
        let Some(due) = (if recurring { m.next_due_on } else { m.due_on }) else {
            continue;
        };
        let left = (due - today).num_days();
        let (kind, key, summary) = if left < 0 {
            (
                NoticeKind::MeasureOverdue,
                format!("measure_overdue:{}:{due}", m.id),
                format!("{}: was due {due} and is still {}", m.code, m.status),
            )
        } else {
            let Some(t) = s.threshold(left) else { continue };
            (
                NoticeKind::MeasureDueSoon,
                format!("measure_due_soon:{}:{due}:{t}", m.id),
                format!("{}: due {due} (in {left} days), {}", m.code, m.status),
            )
        };
        out.push(NewNotice {
            kind,
            at,
            dedup_key: key,
            subject_type: "Measure",
            subject_id: m.id,
            measure_id: Some(m.id),
            orders: orders_of(m.id),
            summary,
        });
    }

    let reports = report::Entity::find()
        .filter(report::Column::ArchivedAt.is_null())
        .filter(report::Column::Status.eq(ReportStatus::Draft))
        .filter(report::Column::DueOn.between(from, to))
        .order_by_asc(report::Column::Id)
        .all(conn)
        .await?;
    for r in &reports {
        let due = r.due_on;
        let left = (due - today).num_days();
        let (kind, key, summary) = if left < 0 {
            (
                NoticeKind::ReportOverdue,
                format!("report_overdue:{}:{due}", r.id),
                format!("{}: report was due {due} and is not submitted", r.code),
            )
        } else {
            let Some(t) = s.threshold(left) else { continue };
            (
                NoticeKind::ReportDueSoon,
                format!("report_due_soon:{}:{due}:{t}", r.id),
                format!(
                    "{}: report due {due} (in {left} days), not submitted",
                    r.code
                ),
            )
        };
        out.push(NewNotice {
            kind,
            at,
            dedup_key: key,
            subject_type: "Report",
            subject_id: r.id,
            measure_id: None,
            orders: vec![r.order_id],
            summary,
        });
    }

    for (id, measure_id, title, until) in evidence_rows {
        let Some(until) = until else { continue };
        let left = (until - today).num_days();
        let (kind, key, summary) = if left < 0 {
            (
                NoticeKind::EvidenceExpired,
                format!("evidence_expired:{id}:{until}"),
                format!("evidence \"{title}\" was valid until {until}"),
            )
        } else {
            let Some(t) = s.threshold(left) else { continue };
            (
                NoticeKind::EvidenceExpiring,
                format!("evidence_expiring:{id}:{until}:{t}"),
                format!("evidence \"{title}\" is valid until {until} (in {left} days)"),
            )
        };
        out.push(NewNotice {
            kind,
            at,
            dedup_key: key,
            subject_type: "Evidence",
            subject_id: id,
            measure_id: Some(measure_id),
            orders: orders_of(measure_id),
            summary,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_falls_under_the_smallest_threshold_at_or_above_it() {
        let s = Settings::new(vec![7, 14, 1, 7], 7);
        assert_eq!(s.thresholds, vec![1, 7, 14]);
        assert_eq!(s.threshold(0), Some(1));
        assert_eq!(s.threshold(1), Some(1));
        assert_eq!(s.threshold(2), Some(7));
        assert_eq!(s.threshold(14), Some(14));
        assert_eq!(s.threshold(15), None);
    }
}
