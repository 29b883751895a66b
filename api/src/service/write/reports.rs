//! Writes of reports (drafts, filing, acknowledgement) and of evaluations.
pub use super::inputs::{NewEvaluation, NewReport, ReportChanges};
use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::*;
use entity::*;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::measures::checked_measure;
use super::{
    change, change_text, code, date_order, insert_audited, insert_links, insert_new, load,
    opt_text, text, update_versioned, Write, LONG, SHORT,
};
use crate::auth::Caller;
use crate::domain::today;
use crate::error::{AppError, AppResult};
use crate::service::scope::check_order;
use crate::service::{history, plan};

const BODY: usize = 200_000;

/// The row of a new draft report on `order`, checked.
pub fn draft_row(
    order: &regulatory_order::Model,
    input: &NewReport,
) -> AppResult<report::ActiveModel> {
    let code = match &input.code {
        Some(c) => code("code", c)?,
        None => format!("{}-{}-{}", order.reference, input.kind, input.due_on),
    };
    Ok(report::ActiveModel {
        code: Set(code),
        order_id: Set(order.id),
        kind: Set(input.kind),
        title: Set(text("title", &input.title, SHORT)?),
        title_local: Set(opt_text("titleLocal", input.title_local.as_deref(), SHORT)?),
        due_on: Set(input.due_on),
        submitted_on: Set(None),
        acknowledged_on: Set(None),
        status: Set(ReportStatus::Draft),
        body: Set(opt_text("body", input.body.as_deref(), BODY)?),
        snapshot: Set(None),
        ..Default::default()
    })
}

/// The links of a report to measures, in the order given.
pub fn measure_links(
    w: &Write<'_>,
    report_id: i64,
    measures: &[i64],
) -> Vec<report_measure::ActiveModel> {
    measures
        .iter()
        .map(|m| report_measure::ActiveModel {
            report_id: Set(report_id),
            measure_id: Set(*m),
            created_at: Set(w.now),
        })
        .collect()
}

/// The measures a report on `order_id` is to hold, sorted and deduplicated: each must exist
/// and answer a finding of that order (`VALIDATION` on `measureIds` otherwise), so a report
/// never carries, nor freezes into its snapshot, another order's measures.
async fn report_measures(w: &Write<'_>, order_id: i64, ids: &[i64]) -> AppResult<Vec<i64>> {
    let mut rows = Vec::new();
    for id in ids {
        rows.push(load::<measure::Entity>(w, *id).await?);
    }
    rows.sort_unstable_by_key(|m| m.id);
    rows.dedup_by_key(|m| m.id);
    let out: Vec<i64> = rows.iter().map(|m| m.id).collect();
    let outside = crate::service::scope::measures_outside_order(&w.txn, order_id, &out).await?;
    if !outside.is_empty() {
        let codes: Vec<&str> = rows
            .iter()
            .filter(|m| outside.contains(&m.id))
            .map(|m| m.code.as_str())
            .collect();
        return Err(AppError::validation(
            "measureIds",
            format!(
                "{} answer(s) no finding of the report's order: a report holds only its order's measures",
                codes.join(", ")
            ),
        ));
    }
    Ok(out)
}

pub async fn create_report(
    w: &Write<'_>,
    who: &Caller,
    input: &NewReport,
) -> AppResult<report::Model> {
    let order = load::<regulatory_order::Entity>(w, input.order_id).await?;
    check_order(who, order.id)?;
    let measures = report_measures(w, order.id, &input.measure_ids).await?;
    let row = draft_row(&order, input)?;
    let row = insert_new::<report::Entity>(w, row, Some(json!({"measureIds": measures}))).await?;
    insert_links(w, measure_links(w, row.id, &measures), false).await?;
    Ok(row)
}

/// A report of an order the caller may act on, in the status a move starts from
/// (`refused` otherwise).
async fn report_in(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    status: ReportStatus,
    refused: impl FnOnce(&report::Model) -> AppError,
) -> AppResult<report::Model> {
    let current = load::<report::Entity>(w, id).await?;
    check_order(who, current.order_id)?;
    if current.status != status {
        return Err(refused(&current));
    }
    Ok(current)
}

/// A `CONFLICT` on a report that has moved on.
fn moved_on(message: &str, current: &report::Model) -> AppError {
    AppError::Conflict {
        message: message.into(),
        current_version: Some(current.version),
    }
}

/// Updates a draft report (submitted reports are read-only).
pub async fn update_report(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
    input: &ReportChanges,
) -> AppResult<report::Model> {
    let refused = |r: &_| moved_on("the report was submitted and is read-only", r);
    let current = report_in(w, who, id, ReportStatus::Draft, refused).await?;
    let measures = match &input.measure_ids {
        Some(ids) => {
            let measures = report_measures(w, current.order_id, ids).await?;
            report_measure::Entity::delete_many()
                .filter(report_measure::Column::ReportId.eq(id))
                .exec(&w.txn)
                .await?;
            insert_links(w, measure_links(w, id, &measures), false).await?;
            Some(measures)
        }
        None => None,
    };
    let reason = opt_text("dueChangeReason", input.due_change_reason.as_deref(), LONG)?;
    let moves_due = input.due_on.is_some_and(|d| d != current.due_on);
    if moves_due && reason.is_none() {
        return Err(AppError::validation(
            "dueChangeReason",
            "required when the due date moves",
        ));
    }
    let mut extra = serde_json::Map::new();
    if let Some(m) = measures {
        extra.insert("measureIds".into(), json!(m));
    }
    if moves_due {
        extra.insert("dueChangeReason".into(), json!(reason));
        extra.insert("previousDueOn".into(), json!(current.due_on));
    }
    let extra = (!extra.is_empty()).then_some(serde_json::Value::Object(extra));
    update_versioned::<report::Entity, _>(w, id, version, "update", extra, |_, a| {
        change_text(&mut a.title, "title", &input.title, SHORT)?;
        change_text(&mut a.title_local, "titleLocal", &input.title_local, SHORT)?;
        change(&mut a.due_on, input.due_on);
        change_text(&mut a.body, "body", &input.body, BODY)?;
        Ok(())
    })
    .await
}

/// Files a draft report on `on` (default today): freezes a snapshot of every linked measure
/// (status, dates, owner, the exact evidence revisions) that later changes never alter.
pub async fn submit_report(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
    on: Option<NaiveDate>,
) -> AppResult<report::Model> {
    let refused = |r: &_| moved_on("the report was already submitted", r);
    report_in(w, who, id, ReportStatus::Draft, refused).await?;
    let on = on.unwrap_or_else(today);
    // Frozen as a read as of the report's date, as known now, reads it: what
    // `remedy audit verify` regenerates later to prove the snapshot.
    w.flush_history().await?;
    let tense = history::Tense {
        day: on,
        known_at: Some(w.now),
    };
    let linked = plan::report_measures(&w.txn, id).await?;
    let snapshot = plan::snapshot(&history::within(&w.txn, tense), linked, on).await?;
    update_versioned::<report::Entity, _>(w, id, version, "submit", None, |_, a| {
        a.status = Set(ReportStatus::Submitted);
        a.submitted_on = Set(Some(on));
        a.snapshot = Set(Some(snapshot));
        Ok(())
    })
    .await
}

/// Records the regulator's acknowledgement of a submitted report on `on` (default today).
pub async fn acknowledge_report(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
    on: Option<NaiveDate>,
) -> AppResult<report::Model> {
    let refused = |_: &_| AppError::validation("id", "only a submitted report can be acknowledged");
    let current = report_in(w, who, id, ReportStatus::Submitted, refused).await?;
    let on = on.unwrap_or_else(today);
    date_order(
        "acknowledgedOn",
        current.submitted_on,
        Some(on),
        "cannot be before the submission",
    )?;
    update_versioned::<report::Entity, _>(w, id, version, "acknowledge", None, |_, a| {
        a.status = Set(ReportStatus::Acknowledged);
        a.acknowledged_on = Set(Some(on));
        Ok(())
    })
    .await
}

/// Adds the caller's evaluation of a report or measure of an order it was granted.
pub async fn add_evaluation(
    w: &Write<'_>,
    who: &Caller,
    input: &NewEvaluation,
) -> AppResult<evaluation::Model> {
    let (report_id, measure_id) = match (input.report_id, input.measure_id) {
        (Some(r), None) => {
            let rep = load::<report::Entity>(w, r)
                .await
                .map_err(|_| AppError::not_found("report"))?;
            check_order(who, rep.order_id).map_err(|_| AppError::not_found("report"))?;
            (Some(rep.id), None)
        }
        (None, Some(m)) => (None, Some(checked_measure(w, who, m).await?.id)),
        _ => {
            return Err(AppError::validation(
                "reportId",
                "give exactly one of reportId and measureId",
            ))
        }
    };
    let evaluator_id = evaluator::Entity::find()
        .filter(evaluator::Column::Code.eq(who.subject.as_str()))
        .one(&w.txn)
        .await?
        .map(|e| e.id);
    let input = NewEvaluation {
        report_id,
        measure_id,
        verdict: input.verdict,
        comment: input.comment.clone(),
    };
    let row = insert_evaluation(w, &input, evaluator_id, &who.subject, w.now).await?;
    let (label, orders) = match (report_id, measure_id) {
        (Some(r), _) => {
            let rep = load::<report::Entity>(w, r).await?;
            (format!("report {}", rep.code), vec![rep.order_id])
        }
        (_, Some(m)) => (
            format!(
                "measure {}",
                load::<entity::measure::Entity>(w, m).await?.code
            ),
            Vec::new(),
        ),
        _ => (String::new(), Vec::new()),
    };
    super::notices::note(
        w,
        super::notices::NewNotice {
            kind: entity::enums::NoticeKind::EvaluationAdded,
            at: w.now,
            dedup_key: format!("evaluation_added:{}", row.id),
            subject_type: "Evaluation",
            subject_id: row.id,
            measure_id,
            orders,
            summary: format!("{} evaluated {label} as {}", who.subject, row.verdict),
        },
    )
    .await?;
    Ok(row)
}

/// Inserts an evaluation with its audit event. The seed calls it with its historical
/// evaluators and dates.
pub async fn insert_evaluation(
    w: &Write<'_>,
    input: &NewEvaluation,
    evaluator_id: Option<i64>,
    subject: &str,
    evaluated_at: DateTime<Utc>,
) -> AppResult<evaluation::Model> {
    let row = evaluation::ActiveModel {
        report_id: Set(input.report_id),
        measure_id: Set(input.measure_id),
        evaluator_id: Set(evaluator_id),
        evaluator_subject: Set(subject.to_string()),
        verdict: Set(input.verdict),
        comment: Set(opt_text("comment", input.comment.as_deref(), LONG)?),
        evaluated_at: Set(evaluated_at),
        created_at: Set(w.now),
        ..Default::default()
    };
    insert_audited(w, "create", row, None).await
}
