//! Approvals: the changes that let a measure slip (deferring it, cancelling it, moving its
//! due date later) are requests that a second person with `plan:approve` decides. Until then
//! the measure keeps its values and shows the pending request; an approved change is applied
//! in the decision's transaction; an approved deferral may end on a date, after which
//! [`expire_deferrals`] returns the measure to its status before the deferral (late again if
//! past due). Requests are versioned rows (`change_request`, with its history), and every
//! request, decision and expiry is an audit event.
pub use super::inputs::{ChangeDecision, NewChangeRequest};
use chrono::NaiveDate;
use entity::enums::*;
use entity::*;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use super::measures::checked_measure;
use super::notices::{note, NewNotice};
use super::{insert_new, load, stale, text, update_versioned, Write, LONG};
use crate::auth::{Caller, Permission};
use crate::domain::today;
use crate::error::{AppError, AppResult};
use crate::service::plan;

/// The actor of the sweep that ends expired deferrals.
pub const EXPIRY_ACTOR: &str = "system:approvals";

/// The status a request of `kind` moves the measure to, if it moves it.
fn target(kind: ChangeKind) -> Option<MeasureStatus> {
    match kind {
        ChangeKind::Defer => Some(MeasureStatus::Deferred),
        ChangeKind::Cancel => Some(MeasureStatus::Cancelled),
        ChangeKind::MoveDue => None,
    }
}

/// The pending request of a measure, if any.
pub async fn pending_of(
    w: &Write<'_>,
    measure_id: i64,
) -> AppResult<Option<change_request::Model>> {
    Ok(change_request::Entity::find()
        .filter(change_request::Column::MeasureId.eq(measure_id))
        .filter(change_request::Column::Status.eq(ChangeStatus::Pending))
        .one(&w.txn)
        .await?)
}

/// Checks that the change a request asks for can be made to the measure as it stands now
/// (at the request, and again at approval: the measure may have moved in between).
fn check_applicable(
    m: &measure::Model,
    kind: ChangeKind,
    due_on: Option<NaiveDate>,
    until: Option<NaiveDate>,
    today: NaiveDate,
) -> AppResult<()> {
    if m.archived_at.is_some() {
        return Err(AppError::validation("measureId", "the measure is archived"));
    }
    if let Some(to) = target(kind) {
        if !plan::allowed(m.status, to) {
            return Err(AppError::validation(
                "kind",
                format!("{} cannot move from {} to {to}", m.code, m.status),
            ));
        }
    }
    match kind {
        ChangeKind::MoveDue => {
            let Some(new) = due_on else {
                return Err(AppError::validation(
                    "dueOn",
                    "required to move the due date",
                ));
            };
            match m.due_on {
                Some(old) if new > old => {}
                Some(old) => {
                    return Err(AppError::validation(
                        "dueOn",
                        format!(
                            "{new} is not later than the current due date ({old}); an earlier \
                             date needs no approval (updateMeasure)"
                        ),
                    ))
                }
                None => {
                    return Err(AppError::validation(
                        "dueOn",
                        format!(
                            "{} has no due date to move; set it with updateMeasure",
                            m.code
                        ),
                    ))
                }
            }
        }
        _ if due_on.is_some() => {
            return Err(AppError::validation("dueOn", "only for MOVE_DUE"));
        }
        _ => {}
    }
    match (kind, until) {
        (ChangeKind::Defer, Some(u)) if u < today => Err(AppError::validation(
            "until",
            format!("the deferral cannot end before today ({today})"),
        )),
        (ChangeKind::Defer, _) | (_, None) => Ok(()),
        (_, Some(_)) => Err(AppError::validation("until", "only for DEFER")),
    }
}

/// Records a request (PENDING) to defer or cancel a measure or move its due date later; the
/// measure is unchanged. Needs `plan:write`; one pending request per measure (`CONFLICT`).
pub async fn request_change(
    w: &Write<'_>,
    who: &Caller,
    input: &NewChangeRequest,
) -> AppResult<change_request::Model> {
    who.require(Permission::WritePlan)?;
    let m = checked_measure(w, who, input.measure_id).await?;
    let reason = text("reason", &input.reason, LONG)?;
    check_applicable(&m, input.kind, input.due_on, input.until, today())?;
    if let Some(p) = pending_of(w, m.id).await? {
        return Err(AppError::Conflict {
            message: format!(
                "{} already has a pending change request ({}, asked by {}); it must be decided \
                 or withdrawn first",
                m.code, p.kind, p.requested_by
            ),
            current_version: None,
        });
    }
    let row = change_request::ActiveModel {
        measure_id: Set(m.id),
        kind: Set(input.kind),
        reason: Set(reason),
        proposed_due_on: Set(input.due_on),
        defer_until: Set(input.until),
        status: Set(ChangeStatus::Pending),
        requested_by: Set(who.subject.clone()),
        requested_at: Set(w.now),
        decided_by: Set(None),
        decided_at: Set(None),
        decision_comment: Set(None),
        previous_status: Set(None),
        expired_at: Set(None),
        ..Default::default()
    };
    let extra = json!({"measureCode": m.code, "currentDueOn": m.due_on, "currentStatus": m.status});
    let row = insert_new::<change_request::Entity>(w, row, Some(extra)).await?;
    note(
        w,
        NewNotice {
            kind: NoticeKind::ChangeRequested,
            at: w.now,
            dedup_key: format!("change_request:{}:requested", row.id),
            subject_type: "ChangeRequest",
            subject_id: row.id,
            measure_id: Some(m.id),
            orders: Vec::new(),
            summary: format!(
                "{} asked to {}: {}",
                row.requested_by,
                asked(&m.code, &row),
                row.reason
            ),
        },
    )
    .await?;
    Ok(row)
}

/// What a request asks, in words ("defer M-28 until 2023-03-31").
pub fn asked(code: &str, r: &change_request::Model) -> String {
    match r.kind {
        ChangeKind::Defer => match r.defer_until {
            Some(u) => format!("defer {code} until {u}"),
            None => format!("defer {code}"),
        },
        ChangeKind::Cancel => format!("cancel {code}"),
        ChangeKind::MoveDue => format!(
            "move {code}'s due date to {}",
            r.proposed_due_on.map(|d| d.to_string()).unwrap_or_default()
        ),
    }
}

/// A pending request the caller may act on (its measure in the caller's scope).
async fn checked_pending(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
) -> AppResult<(change_request::Model, measure::Model)> {
    let r = load::<change_request::Entity>(w, id).await?;
    let m = checked_measure(w, who, r.measure_id).await?;
    if r.version != version {
        return Err(stale("ChangeRequest", r.version));
    }
    if r.status != ChangeStatus::Pending {
        return Err(AppError::validation(
            "id",
            format!("the request is {}, not PENDING", r.status),
        ));
    }
    Ok((r, m))
}

/// Approves or rejects a pending request, with a comment. Needs `plan:approve`, and a
/// different person from the one who asked (four eyes). Approving applies the change to the
/// measure in the same transaction (a transition to DEFERRED or CANCELLED with the request's
/// reason, or the later due date with the reason as the move's reason); if the measure can no
/// longer take it, nothing changes (`VALIDATION`).
pub async fn decide_change(
    w: &Write<'_>,
    who: &Caller,
    input: &ChangeDecision,
) -> AppResult<change_request::Model> {
    who.require(Permission::ApprovePlan)?;
    let comment = text("comment", &input.comment, LONG)?;
    let (r, m) = checked_pending(w, who, input.id, input.version).await?;
    if r.requested_by == who.subject {
        return Err(AppError::Forbidden(format!(
            "approvals: the person who asked for a change ({}) cannot decide it",
            r.requested_by
        )));
    }
    let mut previous = None;
    if input.approve {
        check_applicable(&m, r.kind, r.proposed_due_on, r.defer_until, today())?;
        let provenance = json!({
            "changeRequestId": r.id,
            "requestedBy": r.requested_by,
            "approvedBy": who.subject,
        });
        match target(r.kind) {
            Some(to) => {
                previous = Some(m.status);
                let mut change = json!({"from": m.status, "to": to, "on": today(),
                    "reason": r.reason, "until": r.defer_until});
                merge(&mut change, &provenance);
                update_versioned::<measure::Entity, _>(
                    w,
                    m.id,
                    m.version,
                    "transition",
                    Some(change),
                    |_, a| {
                        a.status = Set(to);
                        a.status_reason = Set(Some(r.reason.clone()));
                        Ok(())
                    },
                )
                .await?;
            }
            None => {
                let mut change = json!({"dueChangeReason": r.reason, "previousDueOn": m.due_on});
                merge(&mut change, &provenance);
                update_versioned::<measure::Entity, _>(
                    w,
                    m.id,
                    m.version,
                    "update",
                    Some(change),
                    |_, a| {
                        a.due_on = Set(r.proposed_due_on);
                        Ok(())
                    },
                )
                .await?;
            }
        }
    }
    let status = if input.approve {
        ChangeStatus::Approved
    } else {
        ChangeStatus::Rejected
    };
    let action = if input.approve { "approve" } else { "reject" };
    let by = who.subject.clone();
    let at = w.now;
    let decided =
        update_versioned::<change_request::Entity, _>(w, r.id, r.version, action, None, |_, a| {
            a.status = Set(status);
            a.decided_by = Set(Some(by));
            a.decided_at = Set(Some(at));
            a.decision_comment = Set(Some(comment.clone()));
            a.previous_status = Set(previous);
            Ok(())
        })
        .await?;
    let (kind, verb) = if input.approve {
        (NoticeKind::ChangeApproved, "approved")
    } else {
        (NoticeKind::ChangeRejected, "rejected")
    };
    note(
        w,
        NewNotice {
            kind,
            at: w.now,
            dedup_key: format!("change_request:{}:{verb}", r.id),
            subject_type: "ChangeRequest",
            subject_id: r.id,
            measure_id: Some(m.id),
            orders: Vec::new(),
            summary: format!(
                "{} {verb} the request to {}: {comment}",
                who.subject,
                asked(&m.code, &r)
            ),
        },
    )
    .await?;
    Ok(decided)
}

fn merge(into: &mut serde_json::Value, from: &serde_json::Value) {
    if let (Some(a), Some(b)) = (into.as_object_mut(), from.as_object()) {
        a.extend(b.clone());
    }
}

/// Withdraws a pending request: the person who asked, or anyone with `plan:approve`.
pub async fn withdraw_change(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
) -> AppResult<change_request::Model> {
    who.require(Permission::WritePlan)
        .or_else(|_| who.require(Permission::ApprovePlan))?;
    let (r, _) = checked_pending(w, who, id, version).await?;
    if r.requested_by != who.subject && !who.can(Permission::ApprovePlan) {
        return Err(AppError::Forbidden(format!(
            "approvals: only the person who asked ({}) or someone with {} may withdraw it",
            r.requested_by,
            Permission::ApprovePlan.scope()
        )));
    }
    let row = update_versioned::<change_request::Entity, _>(
        w,
        r.id,
        r.version,
        "withdraw",
        None,
        |_, a| {
            a.status = Set(ChangeStatus::Withdrawn);
            Ok(())
        },
    )
    .await?;
    note(
        w,
        NewNotice {
            kind: NoticeKind::ChangeWithdrawn,
            at: w.now,
            dedup_key: format!("change_request:{}:withdrawn", r.id),
            subject_type: "ChangeRequest",
            subject_id: r.id,
            measure_id: Some(r.measure_id),
            orders: Vec::new(),
            summary: format!("{} withdrew the request: {}", who.subject, r.reason),
        },
    )
    .await?;
    Ok(row)
}

/// Runs [`expire_deferrals`] for `today` in its own write, as [`EXPIRY_ACTOR`] (the server's
/// periodic sweep and `remedy approvals expire`).
pub async fn run_expiry(
    db: &sea_orm::DatabaseConnection,
    gate: &super::WriteGate,
    today: NaiveDate,
) -> AppResult<Vec<change_request::Model>> {
    let w = Write::begin(db, gate, EXPIRY_ACTOR).await?;
    let ended = expire_deferrals(&w, today).await?;
    w.commit().await?;
    Ok(ended)
}

/// Ends the approved deferrals whose last day is before `today`: each measure still DEFERRED
/// under that request returns to its status before the deferral (so a measure past its due
/// date is late again) and the request becomes EXPIRED, one audit event each, by
/// [`EXPIRY_ACTOR`]. A measure resumed or cancelled since keeps its status; its request still
/// expires. Returns the requests ended. Idempotent: a second run the same day finds nothing.
pub async fn expire_deferrals(
    w: &Write<'_>,
    today: NaiveDate,
) -> AppResult<Vec<change_request::Model>> {
    let due = change_request::Entity::find()
        .filter(change_request::Column::Kind.eq(ChangeKind::Defer))
        .filter(change_request::Column::Status.eq(ChangeStatus::Approved))
        .filter(change_request::Column::DeferUntil.lt(today))
        .order_by_asc(change_request::Column::Id)
        .all(&w.txn)
        .await?;
    let mut ended = Vec::with_capacity(due.len());
    for r in due {
        let m = load::<measure::Entity>(w, r.measure_id).await?;
        // The deferral this request applied is the measure's latest: it is still DEFERRED
        // and no later request deferred it again.
        let latest = change_request::Entity::find()
            .filter(change_request::Column::MeasureId.eq(m.id))
            .filter(change_request::Column::Kind.eq(ChangeKind::Defer))
            .filter(change_request::Column::Status.eq(ChangeStatus::Approved))
            .order_by_desc(change_request::Column::DecidedAt)
            .order_by_desc(change_request::Column::Id)
            .one(&w.txn)
            .await?
            .map(|l| l.id);
        if let (MeasureStatus::Deferred, Some(back), Some(true)) =
            (m.status, r.previous_status, latest.map(|l| l == r.id))
        {
            let change = json!({"from": m.status, "to": back, "on": today,
                "reason": format!("deferral ended on {}", r.defer_until.map(|d| d.to_string()).unwrap_or_default()),
                "changeRequestId": r.id});
            update_versioned::<measure::Entity, _>(
                w,
                m.id,
                m.version,
                "expire",
                Some(change),
                |_, a| {
                    a.status = Set(back);
                    a.status_reason = Set(None);
                    Ok(())
                },
            )
            .await?;
        }
        let at = w.now;
        let row = update_versioned::<change_request::Entity, _>(
            w,
            r.id,
            r.version,
            "expire",
            None,
            |_, a| {
                a.status = Set(ChangeStatus::Expired);
                a.expired_at = Set(Some(at));
                Ok(())
            },
        )
        .await?;
        note(
            w,
            NewNotice {
                kind: NoticeKind::DeferralEnded,
                at: w.now,
                dedup_key: format!("change_request:{}:expired", r.id),
                subject_type: "ChangeRequest",
                subject_id: r.id,
                measure_id: Some(m.id),
                orders: Vec::new(),
                summary: format!(
                    "{}'s deferral ended ({}); back to {}",
                    m.code,
                    r.defer_until.map(|d| d.to_string()).unwrap_or_default(),
                    r.previous_status.map(|s| s.to_string()).unwrap_or_default()
                ),
            },
        )
        .await?;
        ended.push(row);
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn measure(status: MeasureStatus, due: Option<&str>) -> measure::Model {
        measure::Model {
            id: 1,
            code: "M-1".into(),
            title: "t".into(),
            title_local: None,
            plan: None,
            status,
            status_reason: None,
            owner_id: None,
            started_on: None,
            due_on: due.map(|d| d.parse().unwrap()),
            completed_on: None,
            recurrence: Recurrence::None,
            next_due_on: None,
            anchor_on: None,
            grace_days: 0,
            note: None,
            version: 1,
            archived_at: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn what_a_request_may_ask_for() {
        let today = d("2022-11-29");
        let planned = measure(MeasureStatus::Planned, Some("2022-12-31"));
        let ok = |m: &measure::Model, k, due: Option<&str>, until: Option<&str>| {
            check_applicable(m, k, due.map(d), until.map(d), today)
                .err()
                .map(|e| e.message())
        };
        assert_eq!(ok(&planned, ChangeKind::Defer, None, None), None);
        assert_eq!(
            ok(&planned, ChangeKind::Defer, None, Some("2023-03-31")),
            None
        );
        assert!(ok(&planned, ChangeKind::Defer, None, Some("2022-11-28"))
            .unwrap()
            .starts_with("until:"));
        assert!(ok(&planned, ChangeKind::Cancel, None, Some("2023-03-31"))
            .unwrap()
            .starts_with("until:"));
        assert_eq!(
            ok(&planned, ChangeKind::MoveDue, Some("2023-03-31"), None),
            None
        );
        for earlier in ["2022-12-31", "2022-12-01"] {
            assert!(ok(&planned, ChangeKind::MoveDue, Some(earlier), None)
                .unwrap()
                .starts_with("dueOn:"));
        }
        assert!(ok(&planned, ChangeKind::MoveDue, None, None)
            .unwrap()
            .starts_with("dueOn:"));
        let undated = measure(MeasureStatus::Planned, None);
        assert!(ok(&undated, ChangeKind::MoveDue, Some("2023-01-01"), None).is_some());
        let verified = measure(MeasureStatus::Verified, Some("2022-12-31"));
        assert!(ok(&verified, ChangeKind::Defer, None, None)
            .unwrap()
            .starts_with("kind:"));
        assert!(ok(&verified, ChangeKind::Cancel, None, None).is_some());
    }
}
