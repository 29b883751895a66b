//! Domain rules of the write path: the measure workflow, recurring executions, evidence
//! storage by content, report snapshots.
use std::collections::HashSet;
use std::path::PathBuf;

use chrono::NaiveDate;
use entity::enums::{MeasureStatus, Recurrence};
use entity::*;
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde_json::json;

use crate::db::in_ids;
use crate::domain::{next_due, schedule};
use crate::error::{AppError, AppResult};

/// The moves the workflow allows: forward along PLANNED → IN_PROGRESS → IMPLEMENTED →
/// VERIFIED, aside to DEFERRED or CANCELLED (with a reason), and back from DEFERRED.
pub fn allowed(from: MeasureStatus, to: MeasureStatus) -> bool {
    use MeasureStatus::*;
    matches!(
        (from, to),
        (Planned, InProgress)
            | (Planned, Deferred)
            | (Planned, Cancelled)
            | (InProgress, Implemented)
            | (InProgress, Deferred)
            | (InProgress, Cancelled)
            | (Implemented, Verified)
            | (Deferred, Planned)
            | (Deferred, InProgress)
            | (Deferred, Cancelled)
    )
}

/// Evidence is current when nothing supersedes it and `on` is within its validity.
pub fn current_evidence_condition(on: NaiveDate) -> Condition {
    Condition::all()
        .add(
            evidence::Column::Id.not_in_subquery(
                Query::select()
                    .column(evidence::Column::SupersedesId)
                    .from(evidence::Entity)
                    .and_where(evidence::Column::SupersedesId.is_not_null())
                    .to_owned(),
            ),
        )
        .add(
            Condition::any()
                .add(evidence::Column::ValidFrom.is_null())
                .add(evidence::Column::ValidFrom.lte(on)),
        )
        .add(
            Condition::any()
                .add(evidence::Column::ValidUntil.is_null())
                .add(evidence::Column::ValidUntil.gte(on)),
        )
}

/// Whether a measure has at least one current evidence item on `on`.
pub async fn has_current_evidence<C: ConnectionTrait>(
    conn: &C,
    measure_id: i64,
    on: NaiveDate,
) -> AppResult<bool> {
    Ok(evidence::Entity::find()
        .filter(evidence::Column::MeasureId.eq(measure_id))
        .filter(current_evidence_condition(on))
        .count(conn)
        .await?
        > 0)
}

/// Checks a period label against a recurrence and returns the last day of the period. The
/// label is read exactly as given (it is stored so): white space around it is refused.
pub fn period_end(recurrence: Recurrence, period: &str) -> AppResult<NaiveDate> {
    let bad = |hint: &str| {
        AppError::validation(
            "period",
            format!("expected {hint} for a {recurrence} measure"),
        )
    };
    let p = period;
    match recurrence {
        Recurrence::None => Err(AppError::validation(
            "measureId",
            "the measure does not recur",
        )),
        Recurrence::Weekly => {
            let (y, w) = p.split_once("-W").ok_or_else(|| bad("YYYY-Www"))?;
            let (y, w): (i32, u32) = (
                y.parse().map_err(|_| bad("YYYY-Www"))?,
                w.parse().map_err(|_| bad("YYYY-Www"))?,
            );
            let monday = NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon)
                .ok_or_else(|| bad("YYYY-Www"))?;
            monday
                .checked_add_days(chrono::Days::new(4))
                .ok_or_else(|| bad("YYYY-Www"))
        }
        Recurrence::Monthly => {
            let (y, m) = p.split_once('-').ok_or_else(|| bad("YYYY-MM"))?;
            let (y, m): (i32, u32) = (
                y.parse().map_err(|_| bad("YYYY-MM"))?,
                m.parse().map_err(|_| bad("YYYY-MM"))?,
            );
            month_end(y, m).ok_or_else(|| bad("YYYY-MM"))
        }
        Recurrence::Quarterly => {
            let (y, q) = p.split_once("-Q").ok_or_else(|| bad("YYYY-Qn"))?;
            let (y, q): (i32, u32) = (
                y.parse().map_err(|_| bad("YYYY-Qn"))?,
                q.parse().map_err(|_| bad("YYYY-Qn"))?,
            );
            if !(1..=4).contains(&q) {
                return Err(bad("YYYY-Qn"));
            }
            month_end(y, q * 3).ok_or_else(|| bad("YYYY-Qn"))
        }
        Recurrence::Yearly => {
            let y: i32 = p.parse().map_err(|_| bad("YYYY"))?;
            NaiveDate::from_ymd_opt(y, 12, 31).ok_or_else(|| bad("YYYY"))
        }
    }
}

fn month_end(y: i32, m: u32) -> Option<NaiveDate> {
    if !(1..=12).contains(&m) {
        return None;
    }
    let (ny, nm) = if m == 12 {
        (y.checked_add(1)?, 1)
    } else {
        (y, m + 1)
    };
    NaiveDate::from_ymd_opt(ny, nm, 1)?.pred_opt()
}

/// The next due date of a recurring measure ([`crate::domain::next_due`]): the due date of
/// the earliest period of its schedule neither recorded nor skipped, from its executions and
/// skips as `conn` sees them, judged on `today`.
pub async fn next_due_after<C: ConnectionTrait>(
    conn: &C,
    m: &measure::Model,
    today: NaiveDate,
) -> AppResult<Option<NaiveDate>> {
    if m.recurrence == Recurrence::None {
        return Ok(None);
    }
    let recorded: Vec<String> = occurrence::Entity::find()
        .filter(occurrence::Column::MeasureId.eq(m.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|o| o.period)
        .collect();
    let skipped: Vec<String> = period_skip::Entity::find()
        .filter(period_skip::Column::MeasureId.eq(m.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| s.period)
        .collect();
    let recorded: Vec<&str> = recorded.iter().map(String::as_str).collect();
    let skipped: Vec<&str> = skipped.iter().map(String::as_str).collect();
    Ok(next_due(m, &recorded, &skipped, today))
}

/// The executions and skips of these measures, as `conn` sees them (one statement each):
/// what their ledgers are computed from.
pub async fn ledger_records<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> AppResult<(Vec<occurrence::Model>, Vec<period_skip::Model>)> {
    if ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let occurrences = occurrence::Entity::find()
        .filter(in_ids(occurrence::Column::MeasureId, ids.iter().copied()))
        .all(conn)
        .await?;
    let skips = period_skip::Entity::find()
        .filter(in_ids(period_skip::Column::MeasureId, ids.iter().copied()))
        .all(conn)
        .await?;
    Ok((occurrences, skips))
}

/// The due date of the first period of a schedule (nothing recorded yet).
pub fn first_due(recurrence: Recurrence, anchor: NaiveDate, grace_days: i32) -> Option<NaiveDate> {
    let horizon = anchor.checked_add_days(chrono::Days::new(400))?;
    schedule(recurrence, anchor, grace_days, horizon)
        .first()
        .map(|p| p.due)
}

/// The measures a report links, as `conn` sees them.
pub async fn report_measures<C: ConnectionTrait>(conn: &C, report_id: i64) -> AppResult<Vec<i64>> {
    Ok(report_measure::Entity::find()
        .filter(report_measure::Column::ReportId.eq(report_id))
        .all(conn)
        .await?
        .iter()
        .map(|l| l.measure_id)
        .collect())
}

/// The frozen state of a report's measures (`ids`, the ones it links) at submission:
/// status, dates, owner and the exact evidence revisions (id and hash) current that day,
/// read through `conn` (the plan as of the report's date, as known at submission).
pub async fn snapshot<C: ConnectionTrait>(
    conn: &C,
    ids: Vec<i64>,
    on: NaiveDate,
) -> AppResult<String> {
    let measures = measure::Entity::find()
        .filter(in_ids(measure::Column::Id, ids.clone()))
        .order_by_asc(measure::Column::Code)
        .all(conn)
        .await?;
    let owners: std::collections::HashMap<i64, owner::Model> = owner::Entity::find()
        .filter(in_ids(
            owner::Column::Id,
            measures.iter().filter_map(|m| m.owner_id),
        ))
        .all(conn)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let evidence: Vec<crate::service::evidence::EvidenceMeta> =
        crate::service::evidence::evidence_meta_select()
            .filter(in_ids(evidence::Column::MeasureId, ids))
            .order_by_asc(evidence::Column::Id)
            .into_model()
            .all(conn)
            .await?;
    let superseded: HashSet<i64> = evidence.iter().filter_map(|e| e.supersedes_id).collect();
    let items: Vec<serde_json::Value> = measures
        .iter()
        .map(|m| {
            let ev: Vec<serde_json::Value> = evidence
                .iter()
                .filter(|e| e.measure_id == m.id && !superseded.contains(&e.id))
                .map(|e| json!({"id": e.id, "title": e.title, "sha256": e.sha256, "validUntil": e.valid_until}))
                .collect();
            json!({
                "code": m.code,
                "title": m.title,
                "status": m.status.as_str(),
                "startedOn": m.started_on,
                "dueOn": m.due_on,
                "completedOn": m.completed_on,
                "owner": m.owner_id.and_then(|o| owners.get(&o)).map(|o| o.name.clone()),
                "version": m.version,
                "evidence": ev,
            })
        })
        .collect();
    Ok(crate::audit::canonical_json(
        &json!({"asOf": on, "measures": items}),
    ))
}

/// Where uploaded evidence bytes are kept.
#[derive(Debug, Clone)]
pub enum EvidenceStore {
    /// In the database (`evidence.content`).
    Database,
    /// In a directory, by content hash (`<dir>/<ab>/<sha256>`).
    Directory(PathBuf),
}

pub use crate::digest::sha256_hex;

impl EvidenceStore {
    /// The store the server is configured with (`REMEDY_EVIDENCE_DIR`, else the database).
    pub fn from_config(cfg: &crate::config::ServerConfig) -> Self {
        match &cfg.evidence_dir {
            Some(dir) => EvidenceStore::Directory(dir.clone()),
            None => EvidenceStore::Database,
        }
    }

    /// Stores bytes; returns the storage URI (None when kept in the database) and whether the
    /// bytes go in the row.
    pub async fn put(&self, sha256: &str, bytes: &[u8]) -> AppResult<Option<String>> {
        match self {
            EvidenceStore::Database => Ok(None),
            EvidenceStore::Directory(dir) => {
                let path = dir.join(&sha256[..2]).join(sha256);
                if !path.exists() {
                    let parent = path.parent().expect("has parent");
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| AppError::from(anyhow::anyhow!("evidence store: {e}")))?;
                    let tmp = parent.join(format!(".{sha256}.{}", uuid::Uuid::new_v4().simple()));
                    tokio::fs::write(&tmp, bytes)
                        .await
                        .map_err(|e| AppError::from(anyhow::anyhow!("evidence store: {e}")))?;
                    tokio::fs::rename(&tmp, &path)
                        .await
                        .map_err(|e| AppError::from(anyhow::anyhow!("evidence store: {e}")))?;
                }
                Ok(Some(format!("store:{sha256}")))
            }
        }
    }

    /// Reads stored bytes back by their storage URI.
    pub async fn get(&self, storage_uri: &str) -> AppResult<Option<Vec<u8>>> {
        let Some(sha) = storage_uri.strip_prefix("store:") else {
            return Ok(None);
        };
        let EvidenceStore::Directory(dir) = self else {
            return Ok(None);
        };
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        match tokio::fs::read(dir.join(&sha[..2]).join(sha)).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AppError::from(anyhow::anyhow!("evidence store: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_table() {
        use MeasureStatus::*;
        let all = [
            Planned,
            InProgress,
            Implemented,
            Verified,
            Deferred,
            Cancelled,
        ];
        let allowed_moves: Vec<_> = all
            .iter()
            .flat_map(|a| all.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| allowed(*a, *b))
            .collect();
        assert_eq!(allowed_moves.len(), 10);
        assert!(!allowed(Planned, Implemented));
        assert!(!allowed(Verified, InProgress));
        assert!(!allowed(Cancelled, Planned));
    }

    #[test]
    fn period_labels() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            period_end(Recurrence::Weekly, "2022-W47").unwrap(),
            d("2022-11-25")
        );
        assert_eq!(
            period_end(Recurrence::Monthly, "2022-02").unwrap(),
            d("2022-02-28")
        );
        assert_eq!(
            period_end(Recurrence::Quarterly, "2022-Q4").unwrap(),
            d("2022-12-31")
        );
        assert_eq!(
            period_end(Recurrence::Yearly, "2023").unwrap(),
            d("2023-12-31")
        );
        assert!(period_end(Recurrence::Monthly, "2022-13").is_err());
        assert!(period_end(Recurrence::Quarterly, "2022-Q5").is_err());
        assert!(period_end(Recurrence::None, "2022").is_err());
        // Exactly as given: white space around a label is refused, not trimmed.
        for (r, p) in [
            (Recurrence::Weekly, " 2022-W47"),
            (Recurrence::Weekly, "2022-W47\n"),
            (Recurrence::Monthly, "2022-02 "),
            (Recurrence::Quarterly, "\u{3000}2022-Q4"),
            (Recurrence::Yearly, "2023\u{00A0}"),
        ] {
            let e = period_end(r, p).unwrap_err();
            assert_eq!(e.code(), "VALIDATION", "{p:?}");
            assert!(e.message().starts_with("period: expected"), "{p:?}");
        }
        // The ends of the calendar are refused, never a panic.
        for (r, p) in [
            (Recurrence::Monthly, "2147483647-12"),
            (Recurrence::Quarterly, "2147483647-Q4"),
            (Recurrence::Weekly, "2147483647-W01"),
            (Recurrence::Yearly, "2147483647"),
        ] {
            assert_eq!(period_end(r, p).unwrap_err().code(), "VALIDATION", "{p}");
        }
        use chrono::Datelike;
        let last_year = NaiveDate::MAX.year();
        for w in 1..=53 {
            // The last weeks of the last year: a date or a refusal.
            let _ = period_end(Recurrence::Weekly, &format!("{last_year}-W{w:02}"));
        }
        let _ = period_end(Recurrence::Monthly, &format!("{last_year}-12"));
    }
}
