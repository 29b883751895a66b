//! Writes of measures (the plan, the workflow, the links) and their recurring executions.
pub use super::inputs::{
    MeasureChanges, MeasureLinks, NewMeasure, NewOccurrence, PeriodSkip, Transition,
};
use chrono::NaiveDate;
use entity::enums::*;
use entity::*;
use sea_orm::sea_query::Expr;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::records::checked_finding;
use super::{
    archive, audit_row, change, change_text, code, insert_links, insert_new, load, opt_text, stale,
    text, update_versioned, Write, LONG, SHORT,
};
use crate::auth::{Caller, Permission};
use crate::config::ServerConfig;
use crate::db::in_ids;
use crate::domain::{
    next_due, schedule, schedule_anchor, today, transition_date, verification_conflict,
    DutyConflict, TransitionDate,
};
use crate::error::{AppError, AppResult};
use crate::service::{history, plan};

/// A measure the caller may act on ([`crate::service::scope::check_measure`]).
pub async fn checked_measure(w: &Write<'_>, who: &Caller, id: i64) -> AppResult<measure::Model> {
    let m = load::<measure::Entity>(w, id).await?;
    crate::service::scope::check_measure(&w.txn, who, id).await?;
    Ok(m)
}

/// The longest grace a schedule may give (a year).
const MAX_GRACE_DAYS: i32 = 366;

/// Checks a schedule: a recurring measure needs an anchor (`anchorOn`), a one-off measure
/// has none, and grace days lie within 0..=366.
fn check_schedule(
    recurrence: Recurrence,
    anchor_on: Option<NaiveDate>,
    grace_days: i32,
) -> AppResult<()> {
    match (recurrence, anchor_on) {
        (Recurrence::None, Some(_)) => {
            return Err(AppError::validation(
                "anchorOn",
                "only a recurring measure has a schedule",
            ))
        }
        (Recurrence::None, None) => {}
        (r, None) => {
            return Err(AppError::validation(
                "anchorOn",
                format!("required for a {r} measure: the date its schedule counts from"),
            ))
        }
        (_, Some(_)) => {}
    }
    if !(0..=MAX_GRACE_DAYS).contains(&grace_days) {
        return Err(AppError::validation(
            "graceDays",
            format!("between 0 and {MAX_GRACE_DAYS}"),
        ));
    }
    Ok(())
}

/// The row of a new measure, checked, as committed: PLANNED, nothing started; a recurring
/// one has its schedule (anchor, grace days) and is next due at the end of its first period.
pub fn planned_row(input: &NewMeasure, owner_id: Option<i64>) -> AppResult<measure::ActiveModel> {
    let recurrence = input.recurrence.unwrap_or(Recurrence::None);
    let grace_days = input.grace_days.unwrap_or(0);
    check_schedule(recurrence, input.anchor_on, grace_days)?;
    let next_due_on = input
        .anchor_on
        .and_then(|a| plan::first_due(recurrence, a, grace_days));
    Ok(measure::ActiveModel {
        code: Set(code("code", &input.code)?),
        title: Set(text("title", &input.title, SHORT)?),
        title_local: Set(opt_text("titleLocal", input.title_local.as_deref(), SHORT)?),
        plan: Set(opt_text("plan", input.plan.as_deref(), LONG)?),
        status: Set(MeasureStatus::Planned),
        status_reason: Set(None),
        owner_id: Set(owner_id),
        started_on: Set(None),
        due_on: Set(input.due_on),
        completed_on: Set(None),
        recurrence: Set(recurrence),
        next_due_on: Set(next_due_on),
        anchor_on: Set(input.anchor_on),
        grace_days: Set(grace_days),
        note: Set(opt_text("note", input.note.as_deref(), LONG)?),
        ..Default::default()
    })
}

/// The links of a measure to findings and systems, in the order given.
pub fn link_rows(
    w: &Write<'_>,
    measure_id: i64,
    findings: &[i64],
    systems: &[i64],
) -> (
    Vec<measure_finding::ActiveModel>,
    Vec<measure_system::ActiveModel>,
) {
    let f = findings.iter().map(|f| measure_finding::ActiveModel {
        measure_id: Set(measure_id),
        finding_id: Set(*f),
        created_at: Set(w.now),
    });
    let s = systems.iter().map(|s| measure_system::ActiveModel {
        measure_id: Set(measure_id),
        system_id: Set(*s),
        created_at: Set(w.now),
    });
    (f.collect(), s.collect())
}

async fn owner(w: &Write<'_>, id: Option<i64>) -> AppResult<Option<i64>> {
    match id {
        Some(o) => Ok(Some(load::<owner::Entity>(w, o).await?.id)),
        None => Ok(None),
    }
}

/// Findings the caller may act on and existing systems, each in the order given.
async fn findings_and_systems(
    w: &Write<'_>,
    who: &Caller,
    finding_ids: &[i64],
    system_ids: &[i64],
) -> AppResult<(Vec<i64>, Vec<i64>)> {
    let mut findings = Vec::new();
    for f in finding_ids {
        findings.push(checked_finding(w, who, *f).await?.id);
    }
    let mut systems = Vec::new();
    for s in system_ids {
        systems.push(load::<system::Entity>(w, *s).await?.id);
    }
    Ok((findings, systems))
}

/// Commits a new measure (PLANNED) answering at least one finding; one event records the
/// row with its links.
pub async fn create_measure(
    w: &Write<'_>,
    who: &Caller,
    input: &NewMeasure,
) -> AppResult<measure::Model> {
    if input.finding_ids.is_empty() {
        return Err(AppError::validation(
            "findingIds",
            "a measure answers at least one finding",
        ));
    }
    let owner_id = owner(w, input.owner_id).await?;
    let (mut findings, mut systems) =
        findings_and_systems(w, who, &input.finding_ids, &input.system_ids).await?;
    findings.sort_unstable();
    findings.dedup();
    systems.sort_unstable();
    systems.dedup();
    let extra = json!({"findingIds": findings, "systemIds": systems});
    let row = planned_row(input, owner_id)?;
    let row = insert_new::<measure::Entity>(w, row, Some(extra)).await?;
    let (f, s) = link_rows(w, row.id, &findings, &systems);
    insert_links(w, f, false).await?;
    insert_links(w, s, false).await?;
    Ok(row)
}

/// Changes a measure's plan. Moving the due date needs a reason; with approvals on, moving it
/// later is refused (`FORBIDDEN`): it is a change request ([`super::approvals`]).
pub async fn update_measure(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
    input: &MeasureChanges,
    rules: &Accountability,
) -> AppResult<measure::Model> {
    let current = checked_measure(w, who, id).await?;
    if rules.approvals
        && input
            .due_on
            .is_some_and(|d| current.due_on.is_some_and(|old| d > old))
    {
        return Err(needs_request(&current.code, "moving the due date later of"));
    }
    let owner_id = owner(w, input.owner_id).await?;
    let reason = opt_text("dueChangeReason", input.due_change_reason.as_deref(), LONG)?;
    let moves_due = input
        .due_on
        .is_some_and(|d| current.due_on.is_some_and(|old| old != d));
    if moves_due && reason.is_none() {
        return Err(AppError::validation(
            "dueChangeReason",
            "required when the due date moves",
        ));
    }
    let extra =
        moves_due.then(|| json!({"dueChangeReason": reason, "previousDueOn": current.due_on}));
    // The schedule as it will stand; its next due date follows from it.
    let mut scheduled = current.clone();
    if let Some(r) = input.recurrence {
        scheduled.recurrence = r;
    }
    if input.anchor_on.is_some() {
        scheduled.anchor_on = input.anchor_on;
    }
    if scheduled.recurrence == Recurrence::None && input.anchor_on.is_none() {
        scheduled.anchor_on = None;
    }
    if let Some(g) = input.grace_days {
        scheduled.grace_days = g;
    }
    check_schedule(
        scheduled.recurrence,
        scheduled.anchor_on,
        scheduled.grace_days,
    )?;
    let reschedules = scheduled.recurrence != current.recurrence
        || scheduled.anchor_on != current.anchor_on
        || scheduled.grace_days != current.grace_days;
    let next_due = if reschedules {
        plan::next_due_after(&w.txn, &scheduled, today()).await?
    } else {
        current.next_due_on
    };
    update_versioned::<measure::Entity, _>(w, id, version, "update", extra, |_, a| {
        change_text(&mut a.title, "title", &input.title, SHORT)?;
        change_text(&mut a.title_local, "titleLocal", &input.title_local, SHORT)?;
        change_text(&mut a.plan, "plan", &input.plan, LONG)?;
        change(&mut a.owner_id, owner_id.map(Some));
        change(&mut a.due_on, input.due_on.map(Some));
        if reschedules {
            a.recurrence = Set(scheduled.recurrence);
            a.anchor_on = Set(scheduled.anchor_on);
            a.grace_days = Set(scheduled.grace_days);
            a.next_due_on = Set(next_due);
        }
        change_text(&mut a.note, "note", &input.note, LONG)?;
        Ok(())
    })
    .await
}

/// The deployment's accountability rules for transitions (`ServerConfig`:
/// `REMEDY_SEPARATION_OF_DUTIES`, `REMEDY_BACKDATE_WINDOW_DAYS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accountability {
    /// Whether the person who implemented a measure, and its owner's account, are barred
    /// from verifying it.
    pub separation_of_duties: bool,
    /// Days before today a transition may be dated without `plan:approve`.
    pub backdate_window_days: u32,
    /// Whether deferring, cancelling and moving a due date later go through a change request
    /// ([`super::approvals`]).
    pub approvals: bool,
}

impl Accountability {
    pub fn from_config(cfg: &ServerConfig) -> Self {
        Self {
            separation_of_duties: cfg.separation_of_duties,
            backdate_window_days: cfg.backdate_window_days,
            approvals: cfg.approvals,
        }
    }
}

/// The settings' defaults (separation of duties and approvals on, a 7-day window).
impl Default for Accountability {
    fn default() -> Self {
        Self::from_config(&ServerConfig::default())
    }
}

/// What the rule refuses when approvals are on and a change that lets a measure slip is made
/// directly: `FORBIDDEN`, naming the rule and the way to ask.
pub fn needs_request(code: &str, what: &str) -> AppError {
    AppError::Forbidden(format!(
        "approvals: {what} {code} needs a change request approved by a second person with {} \
         (requestMeasureChange)",
        Permission::ApprovePlan.scope()
    ))
}

/// Refuses a move to VERIFIED to a caller without `plan:verify`.
fn require_verify(who: &Caller) -> AppResult<()> {
    if who.can(Permission::VerifyPlan) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "separation of duties: moving a measure to VERIFIED requires {}",
            Permission::VerifyPlan.scope()
        )))
    }
}

/// Why the caller may not verify the measure `code`, if it may not: without `plan:verify`;
/// with separation of duties on, as the person who moved it to IMPLEMENTED (`implementer`,
/// from [`history::implementers`]) or as its owner's account (`owner_account`). The one
/// rule behind `transitionMeasure` to VERIFIED and `Measure.permissions.canVerify`.
pub fn verification_refusal(
    who: &Caller,
    rules: &Accountability,
    code: &str,
    implementer: Option<&str>,
    owner_account: Option<&str>,
) -> Option<AppError> {
    if let Err(e) = require_verify(who) {
        return Some(e);
    }
    if !rules.separation_of_duties {
        return None;
    }
    let message = match verification_conflict(&who.subject, implementer, owner_account)? {
        DutyConflict::Implementer(by) => format!(
            "separation of duties: the person who implemented {code} ({by}) cannot verify it"
        ),
        DutyConflict::Owner(account) => format!(
            "separation of duties: the account of {code}'s owner ({account}) cannot verify it"
        ),
    };
    Some(AppError::Forbidden(message))
}

/// [`verification_refusal`] for a measure, its implementer and owner read in the write.
async fn check_verifier(
    w: &Write<'_>,
    who: &Caller,
    rules: &Accountability,
    m: &measure::Model,
) -> AppResult<()> {
    require_verify(who)?;
    if !rules.separation_of_duties {
        return Ok(());
    }
    let implementer = history::implementers(&w.txn, &[m.id]).await?.remove(&m.id);
    let owner_account = match m.owner_id {
        Some(o) => owner::Entity::find_by_id(o)
            .one(&w.txn)
            .await?
            .and_then(|o| o.account),
        None => None,
    };
    match verification_refusal(
        who,
        rules,
        &m.code,
        implementer.as_deref(),
        owner_account.as_deref(),
    ) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Checks a transition's effective date ([`transition_date`]): not after today, not before
/// the start on a move to IMPLEMENTED or VERIFIED (`VALIDATION` on `on`), and not further
/// back than the window unless the caller holds `plan:approve` (`FORBIDDEN`).
fn check_transition_date(
    who: &Caller,
    rules: &Accountability,
    m: &measure::Model,
    to: MeasureStatus,
    on: NaiveDate,
    today: NaiveDate,
) -> AppResult<()> {
    match transition_date(on, today, to, m.started_on, rules.backdate_window_days) {
        Some(TransitionDate::InFuture { today }) => Err(AppError::validation(
            "on",
            format!("cannot be in the future (today is {today})"),
        )),
        Some(TransitionDate::BeforeStart { started_on }) => {
            let what = if to == MeasureStatus::Verified {
                "verification"
            } else {
                "completion"
            };
            Err(AppError::validation(
                "on",
                format!("{what} cannot be before the start ({started_on})"),
            ))
        }
        Some(TransitionDate::BeyondWindow { window_days, .. })
            if !who.can(Permission::ApprovePlan) =>
        {
            Err(AppError::Forbidden(format!(
                "back-dating window: {} to {to} on {on} is more than {window_days} days \
                 before today ({today}), which requires {}",
                m.code,
                Permission::ApprovePlan.scope()
            )))
        }
        _ => Ok(()),
    }
}

/// Moves a measure along its workflow. VERIFIED needs `plan:verify`, a caller who neither
/// implemented it nor is its owner's account (separation of duties, when on) and current
/// evidence; every other move needs `plan:write`; DEFERRED and CANCELLED need a reason; the
/// effective date follows [`check_transition_date`]; other moves are refused.
pub async fn transition_measure(
    w: &Write<'_>,
    who: &Caller,
    input: &Transition,
    rules: &Accountability,
) -> AppResult<measure::Model> {
    let to = input.to;
    match to {
        MeasureStatus::Verified => require_verify(who)?,
        _ => who.require(Permission::WritePlan)?,
    }
    let current = checked_measure(w, who, input.id).await?;
    if current.version != input.version {
        return Err(stale("Measure", current.version));
    }
    if current.archived_at.is_some() {
        return Err(AppError::validation("id", "the measure is archived"));
    }
    if !plan::allowed(current.status, to) {
        return Err(AppError::validation(
            "to",
            format!("a measure cannot move from {} to {}", current.status, to),
        ));
    }
    let today = today();
    let on = input.on.unwrap_or(today);
    let reason = opt_text("reason", input.reason.as_deref(), LONG)?;
    if matches!(to, MeasureStatus::Deferred | MeasureStatus::Cancelled) && reason.is_none() {
        return Err(AppError::validation(
            "reason",
            format!("required to move to {to}"),
        ));
    }
    if rules.approvals && matches!(to, MeasureStatus::Deferred | MeasureStatus::Cancelled) {
        let what = if to == MeasureStatus::Deferred {
            "deferring"
        } else {
            "cancelling"
        };
        return Err(needs_request(&current.code, what));
    }
    check_transition_date(who, rules, &current, to, on, today)?;
    if to == MeasureStatus::Verified {
        check_verifier(w, who, rules, &current).await?;
        if !plan::has_current_evidence(&w.txn, input.id, on).await? {
            return Err(AppError::validation(
                "to",
                "VERIFIED needs at least one current evidence item",
            ));
        }
    }
    let change = json!({"from": current.status, "to": to, "on": on, "reason": reason});
    update_versioned::<measure::Entity, _>(
        w,
        input.id,
        input.version,
        "transition",
        Some(change),
        |before, a| {
            a.status = Set(to);
            match to {
                MeasureStatus::InProgress if before.started_on.is_none() => {
                    a.started_on = Set(Some(on));
                }
                MeasureStatus::Implemented => a.completed_on = Set(Some(on)),
                _ => {}
            }
            a.status_reason = Set(match to {
                MeasureStatus::Deferred | MeasureStatus::Cancelled => reason.clone(),
                _ => None,
            });
            Ok(())
        },
    )
    .await
}

/// Links a measure to more findings and systems (those already linked are left).
pub async fn link_measure(
    w: &Write<'_>,
    who: &Caller,
    input: &MeasureLinks,
) -> AppResult<measure::Model> {
    relink(w, who, input, true).await
}

/// Unlinks findings and systems from a measure, which keeps at least one finding.
pub async fn unlink_measure(
    w: &Write<'_>,
    who: &Caller,
    input: &MeasureLinks,
) -> AppResult<measure::Model> {
    relink(w, who, input, false).await
}

async fn relink(
    w: &Write<'_>,
    who: &Caller,
    input: &MeasureLinks,
    add: bool,
) -> AppResult<measure::Model> {
    let id = input.measure_id;
    checked_measure(w, who, id).await?;
    if input.finding_ids.is_empty() && input.system_ids.is_empty() {
        return Err(AppError::validation(
            "findingIds",
            "name at least one finding or system",
        ));
    }
    let (findings, systems) =
        findings_and_systems(w, who, &input.finding_ids, &input.system_ids).await?;
    let links_before: Vec<i64> = measure_finding::Entity::find()
        .filter(measure_finding::Column::MeasureId.eq(id))
        .all(&w.txn)
        .await?
        .iter()
        .map(|l| l.finding_id)
        .collect();
    if add {
        let new_findings: Vec<i64> = findings
            .iter()
            .copied()
            .filter(|f| !links_before.contains(f))
            .collect();
        // A system already linked, or named twice, is linked once.
        let mut new_systems = Vec::new();
        for s in &systems {
            let linked = measure_system::Entity::find_by_id((id, *s))
                .one(&w.txn)
                .await?
                .is_some();
            if !linked && !new_systems.contains(s) {
                new_systems.push(*s);
            }
        }
        let (f, s) = link_rows(w, id, &new_findings, &new_systems);
        insert_links(w, f, false).await?;
        insert_links(w, s, false).await?;
    } else {
        if links_before.iter().all(|f| findings.contains(f)) {
            return Err(AppError::validation(
                "findingIds",
                "a measure keeps at least one finding",
            ));
        }
        measure_finding::Entity::delete_many()
            .filter(measure_finding::Column::MeasureId.eq(id))
            .filter(in_ids(
                measure_finding::Column::FindingId,
                findings.iter().copied(),
            ))
            .exec(&w.txn)
            .await?;
        measure_system::Entity::delete_many()
            .filter(measure_system::Column::MeasureId.eq(id))
            .filter(in_ids(
                measure_system::Column::SystemId,
                systems.iter().copied(),
            ))
            .exec(&w.txn)
            .await?;
    }
    let key = if add { "linked" } else { "unlinked" };
    let change = json!({ key: {"findingIds": findings, "systemIds": systems} });
    let action = if add { "link" } else { "unlink" };
    update_versioned::<measure::Entity, _>(
        w,
        id,
        input.version,
        action,
        Some(change),
        |_, _| Ok(()),
    )
    .await
}

pub async fn archive_measure(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
) -> AppResult<measure::Model> {
    checked_measure(w, who, id).await?;
    archive::<measure::Entity>(w, id, version).await
}

/// Where a period label stands in a measure's schedule: refused (`VALIDATION` on `period`)
/// when it lies before the schedule's first period or has not begun by `today`; otherwise
/// its due date (its end plus the grace days).
fn scheduled_period(m: &measure::Model, period: &str, today: NaiveDate) -> AppResult<NaiveDate> {
    let end = plan::period_end(m.recurrence, period)?;
    let Some(anchor) = schedule_anchor(m) else {
        return Err(AppError::validation(
            "period",
            format!("{} has no schedule (no anchor date)", m.code),
        ));
    };
    let first = plan::first_due(m.recurrence, anchor, 0);
    if first.is_none_or(|f| end < f) {
        return Err(AppError::validation(
            "period",
            format!(
                "{period} is outside the schedule of {}, which counts from {anchor}",
                m.code
            ),
        ));
    }
    let begun = schedule(m.recurrence, anchor, m.grace_days, today)
        .iter()
        .any(|p| p.label == period);
    if !begun {
        return Err(AppError::validation(
            "period",
            format!("{period} has not begun (today is {today})"),
        ));
    }
    Ok(end + chrono::Duration::days(i64::from(m.grace_days)))
}

async fn skip_of(
    w: &Write<'_>,
    measure_id: i64,
    period: &str,
) -> AppResult<Option<period_skip::Model>> {
    Ok(period_skip::Entity::find()
        .filter(period_skip::Column::MeasureId.eq(measure_id))
        .filter(period_skip::Column::Period.eq(period))
        .one(&w.txn)
        .await?)
}

/// Records one execution of a recurring measure (done by the caller) for a period of its
/// schedule that has begun and was not skipped, with the evidence of that run if given (of
/// the same measure); the due date stored with it is the period's end plus the grace days.
/// The measure's next due date follows ([`crate::domain::next_due`]), a versioned write
/// without its own event.
pub async fn record_occurrence(
    w: &Write<'_>,
    who: &Caller,
    input: &NewOccurrence,
) -> AppResult<occurrence::Model> {
    let m = checked_measure(w, who, input.measure_id).await?;
    let today = today();
    let due = scheduled_period(&m, &input.period, today)?;
    if input.done_on > today {
        return Err(AppError::validation("doneOn", "cannot be in the future"));
    }
    if skip_of(w, m.id, &input.period).await?.is_some() {
        return Err(AppError::validation(
            "period",
            format!("{} of {} was skipped", input.period, m.code),
        ));
    }
    if let Some(e) = input.evidence_id {
        let ev = evidence::Entity::find_by_id(e).one(&w.txn).await?;
        if ev.is_none_or(|ev| ev.measure_id != m.id) {
            return Err(AppError::validation(
                "evidenceId",
                format!("not evidence of {}", m.code),
            ));
        }
    }
    let row = occurrence::ActiveModel {
        measure_id: Set(m.id),
        // Exactly as given: `period_end` refused anything but a well-formed label.
        period: Set(input.period.clone()),
        due_on: Set(Some(due)),
        done_on: Set(input.done_on),
        done_by: Set(who.subject.clone()),
        note: Set(opt_text("note", input.note.as_deref(), LONG)?),
        created_at: Set(w.now),
        evidence_id: Set(input.evidence_id),
        ..Default::default()
    }
    .insert(&w.txn)
    .await?;
    let next = plan::next_due_after(&w.txn, &m, today).await?;
    let res = measure::Entity::update_many()
        .col_expr(measure::Column::NextDueOn, Expr::value(next))
        .col_expr(measure::Column::Version, Expr::value(m.version + 1))
        .col_expr(measure::Column::UpdatedAt, Expr::value(w.now))
        .filter(measure::Column::Id.eq(m.id))
        .filter(measure::Column::Version.eq(m.version))
        .exec(&w.txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(stale("Measure", m.version));
    }
    audit_row(
        w,
        "record_occurrence",
        &row,
        Some(json!({"measureNextDueOn": next})),
    )
    .await?;
    // The measure's new version is recorded under the execution's event.
    w.touch("Measure", m.id);
    Ok(row)
}

/// Skips a period of a recurring measure: it is not owed, for a reason (required). Needs
/// `plan:approve` (`FORBIDDEN` otherwise); the period must be in the schedule and begun
/// (a future period is not skipped in advance), neither recorded nor skipped already. One
/// audit event on the measure (`skip_period`, with the period and reason) records its new
/// version (next due date); the skip row names that event.
pub async fn skip_period(
    w: &Write<'_>,
    who: &Caller,
    input: &PeriodSkip,
) -> AppResult<measure::Model> {
    if !who.can(Permission::ApprovePlan) {
        return Err(AppError::Forbidden(format!(
            "skipping a period of a recurring measure requires {}",
            Permission::ApprovePlan.scope()
        )));
    }
    let m = checked_measure(w, who, input.measure_id).await?;
    if input.expected_version.is_some_and(|v| v != m.version) {
        return Err(stale("Measure", m.version));
    }
    let reason = text("reason", &input.reason, LONG)?;
    let today = today();
    let due = scheduled_period(&m, &input.period, today)?;
    let recorded = occurrence::Entity::find()
        .filter(occurrence::Column::MeasureId.eq(m.id))
        .filter(occurrence::Column::Period.eq(input.period.as_str()))
        .one(&w.txn)
        .await?;
    if recorded.is_some() {
        return Err(AppError::validation(
            "period",
            format!("{} of {} was recorded", input.period, m.code),
        ));
    }
    if skip_of(w, m.id, &input.period).await?.is_some() {
        return Err(AppError::Conflict {
            message: format!("{} of {} was skipped already", input.period, m.code),
            current_version: None,
        });
    }
    let mut skipped: Vec<String> = period_skip::Entity::find()
        .filter(period_skip::Column::MeasureId.eq(m.id))
        .all(&w.txn)
        .await?
        .into_iter()
        .map(|s| s.period)
        .collect();
    skipped.push(input.period.clone());
    let recorded: Vec<String> = occurrence::Entity::find()
        .filter(occurrence::Column::MeasureId.eq(m.id))
        .all(&w.txn)
        .await?
        .into_iter()
        .map(|o| o.period)
        .collect();
    let next = next_due(
        &m,
        &recorded.iter().map(String::as_str).collect::<Vec<_>>(),
        &skipped.iter().map(String::as_str).collect::<Vec<_>>(),
        today,
    );
    let change = json!({"period": input.period, "reason": reason});
    let row = update_versioned::<measure::Entity, _>(
        w,
        m.id,
        m.version,
        "skip_period",
        Some(change),
        |_, a| {
            a.next_due_on = Set(next);
            Ok(())
        },
    )
    .await?;
    period_skip::ActiveModel {
        measure_id: Set(m.id),
        period: Set(input.period.clone()),
        due_on: Set(due),
        reason: Set(reason),
        skipped_by: Set(who.subject.clone()),
        skipped_at: Set(w.now),
        audit_event_id: Set(w.last_event()),
        ..Default::default()
    }
    .insert(&w.txn)
    .await?;
    Ok(row)
}
