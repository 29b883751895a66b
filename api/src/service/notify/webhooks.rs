//! Webhook endpoints and their deliveries, on the store's side.
//!
//! - Endpoints: created, changed, rotated and archived by an administrator, each change an
//!   audit event (the secret never in it). An endpoint limited to orders (an evaluator's)
//!   gets only notices of those orders, with only those orders named in the payload.
//! - Fan-out: every notice not yet dispatched (no `notice_dispatch` row, so a notice whose
//!   transaction committed late is not skipped) becomes one delivery per matching endpoint
//!   created before it, in one transaction with its dispatch mark.
//! - Deliveries: claimed with a lease (an `UPDATE … WHERE` that only one worker wins, on
//!   either backend), sent outside any transaction, then recorded: DELIVERED, or PENDING
//!   again after a backoff, or DEAD after the last attempt; every attempt is logged.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::enums::{DeliveryStatus, NoticeKind};
use entity::{
    notice, notice_dispatch, regulatory_order, webhook_attempt, webhook_delivery, webhook_endpoint,
};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;

use crate::auth::Caller;
use crate::db::in_ids;
use crate::error::{AppError, AppResult};
use crate::outbound::{self, AllowList};
use crate::service::scope::check_unscoped;
use crate::service::write::{opt_text, stale, Write};

/// What an administrator sets on an endpoint (absent fields unchanged on update).
#[derive(Clone, Debug, Default)]
pub struct EndpointInput {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<NoticeKind>>,
    /// Order ids (resolved from references by the caller); `Some(empty)` clears the limit.
    pub orders: Option<Vec<i64>>,
    pub enabled: Option<bool>,
}

fn kinds_json(k: &[NoticeKind]) -> String {
    serde_json::to_string(&k.iter().map(|k| k.as_str()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

/// The kinds an endpoint receives (empty: every kind).
pub fn event_types(e: &webhook_endpoint::Model) -> Vec<NoticeKind> {
    serde_json::from_str::<Vec<String>>(&e.event_types)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// The orders an endpoint is limited to (`None`: every order).
pub fn order_limit(e: &webhook_endpoint::Model) -> Option<Vec<i64>> {
    e.order_ids
        .as_deref()
        .map(|s| serde_json::from_str(s).unwrap_or_default())
}

fn notice_orders(n: &notice::Model) -> Vec<i64> {
    serde_json::from_str(&n.order_ids).unwrap_or_default()
}

/// Resolves order references (e.g. `METI-2022-06-30`) to ids; an unknown one is refused.
pub async fn resolve_orders<C: ConnectionTrait>(conn: &C, refs: &[String]) -> AppResult<Vec<i64>> {
    let mut ids = Vec::new();
    for r in refs {
        let row = regulatory_order::Entity::find()
            .filter(regulatory_order::Column::Reference.eq(r.as_str()))
            .one(conn)
            .await?
            .ok_or_else(|| AppError::validation("orders", format!("no order {r:?}")))?;
        ids.push(row.id);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

async fn checked_url(url: &str, allow: &AllowList) -> AppResult<String> {
    outbound::check_url(url, allow)
        .await
        .map_err(|why| AppError::validation("url", format!("refused: {why}")))?;
    Ok(url.to_string())
}

fn audit_json(e: &webhook_endpoint::Model) -> serde_json::Value {
    json!(e)
}

/// Registers an endpoint; returns it and its secret (shown this once).
pub async fn create(
    w: &Write<'_>,
    who: &Caller,
    input: &EndpointInput,
    allow: &AllowList,
) -> AppResult<(webhook_endpoint::Model, String)> {
    check_unscoped(who, "webhook endpoints")?;
    let url = input
        .url
        .as_deref()
        .ok_or_else(|| AppError::validation("url", "required"))?;
    let url = checked_url(url, allow).await?;
    let secret = outbound::new_secret();
    let row = webhook_endpoint::ActiveModel {
        url: Set(url),
        description: Set(opt_text("description", input.description.as_deref(), 2000)?),
        event_types: Set(kinds_json(input.event_types.as_deref().unwrap_or(&[]))),
        order_ids: Set(match &input.orders {
            Some(o) if !o.is_empty() => Some(serde_json::to_string(o).unwrap_or_default()),
            _ => None,
        }),
        secret: Set(secret.clone()),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        enabled: Set(input.enabled.unwrap_or(true)),
        version: Set(1),
        archived_at: Set(None),
        created_at: Set(w.now),
        updated_at: Set(w.now),
        ..Default::default()
    }
    .insert(&w.txn)
    .await?;
    w.audit(
        "create",
        "WebhookEndpoint",
        row.id,
        None,
        Some(audit_json(&row)),
    )
    .await?;
    Ok((row, secret))
}

async fn load_live(w: &Write<'_>, id: i64) -> AppResult<webhook_endpoint::Model> {
    webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::ArchivedAt.is_null())
        .one(&w.txn)
        .await?
        .ok_or_else(|| AppError::not_found("webhook endpoint"))
}

async fn save(
    w: &Write<'_>,
    before: webhook_endpoint::Model,
    action: &str,
    change: impl FnOnce(&mut webhook_endpoint::ActiveModel),
) -> AppResult<webhook_endpoint::Model> {
    let mut a = before.clone().into_active_model();
    change(&mut a);
    a.version = Set(before.version + 1);
    a.updated_at = Set(w.now);
    // Only the version read may be replaced: a concurrent change makes this one stale.
    let res = webhook_endpoint::Entity::update_many()
        .set(a)
        .filter(webhook_endpoint::Column::Id.eq(before.id))
        .filter(webhook_endpoint::Column::Version.eq(before.version))
        .exec(&w.txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(stale("webhook endpoint", before.version));
    }
    let after = load_any(&w.txn, before.id).await?;
    w.audit(
        action,
        "WebhookEndpoint",
        after.id,
        Some(audit_json(&before)),
        Some(audit_json(&after)),
    )
    .await?;
    Ok(after)
}

async fn load_any<C: ConnectionTrait>(conn: &C, id: i64) -> AppResult<webhook_endpoint::Model> {
    webhook_endpoint::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| AppError::not_found("webhook endpoint"))
}

/// Changes an endpoint at `version`.
pub async fn update(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
    input: &EndpointInput,
    allow: &AllowList,
) -> AppResult<webhook_endpoint::Model> {
    check_unscoped(who, "webhook endpoints")?;
    let before = load_live(w, id).await?;
    if before.version != version {
        return Err(stale("webhook endpoint", before.version));
    }
    let url = match &input.url {
        Some(u) => Some(checked_url(u, allow).await?),
        None => None,
    };
    let description = match &input.description {
        Some(d) => Some(opt_text("description", Some(d), 2000)?),
        None => None,
    };
    save(w, before, "update", |a| {
        if let Some(u) = url {
            a.url = Set(u);
        }
        if let Some(d) = description {
            a.description = Set(d);
        }
        if let Some(k) = &input.event_types {
            a.event_types = Set(kinds_json(k));
        }
        if let Some(o) = &input.orders {
            a.order_ids =
                Set((!o.is_empty()).then(|| serde_json::to_string(o).unwrap_or_default()));
        }
        if let Some(e) = input.enabled {
            a.enabled = Set(e);
        }
    })
    .await
}

/// Makes a new secret; the previous one keeps signing (a second signature) for `overlap`.
pub async fn rotate(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    overlap: Duration,
) -> AppResult<(webhook_endpoint::Model, String)> {
    check_unscoped(who, "webhook endpoints")?;
    if overlap < Duration::zero() || overlap > Duration::days(30) {
        return Err(AppError::validation(
            "overlapHours",
            "between 0 and 720 hours",
        ));
    }
    let before = load_live(w, id).await?;
    let secret = outbound::new_secret();
    let old = before.secret.clone();
    let until = w.now + overlap;
    let new = secret.clone();
    let row = save(w, before, "rotate_secret", move |a| {
        a.secret = Set(new);
        a.previous_secret = Set((overlap > Duration::zero()).then_some(old));
        a.previous_secret_expires_at = Set((overlap > Duration::zero()).then_some(until));
    })
    .await?;
    Ok((row, secret))
}

/// Archives an endpoint at `version`: nothing more is delivered to it; its log stays.
pub async fn archive(
    w: &Write<'_>,
    who: &Caller,
    id: i64,
    version: i32,
) -> AppResult<webhook_endpoint::Model> {
    check_unscoped(who, "webhook endpoints")?;
    let before = load_live(w, id).await?;
    if before.version != version {
        return Err(stale("webhook endpoint", before.version));
    }
    let now = w.now;
    save(w, before, "archive", move |a| {
        a.archived_at = Set(Some(now));
        a.enabled = Set(false);
    })
    .await
}

/// Puts a delivery back in the queue, due now, with its attempt count reset (its log stays).
pub async fn redeliver(w: &Write<'_>, who: &Caller, id: i64) -> AppResult<webhook_delivery::Model> {
    check_unscoped(who, "webhook deliveries")?;
    let d = webhook_delivery::Entity::find_by_id(id)
        .one(&w.txn)
        .await?
        .ok_or_else(|| AppError::not_found("webhook delivery"))?;
    load_live(w, d.endpoint_id).await?;
    if d.status == DeliveryStatus::Pending {
        return Err(AppError::Conflict {
            message: "the delivery is already pending".into(),
            current_version: None,
        });
    }
    let before = json!({"status": d.status, "attempts": d.attempts});
    let mut a = d.into_active_model();
    a.status = Set(DeliveryStatus::Pending);
    a.attempts = Set(0);
    a.next_attempt_at = Set(Some(w.now));
    a.lease_until = Set(None);
    a.updated_at = Set(w.now);
    let row = a.update(&w.txn).await?;
    w.audit(
        "redeliver",
        "WebhookDelivery",
        row.id,
        Some(before),
        Some(json!({"status": row.status, "attempts": row.attempts})),
    )
    .await?;
    Ok(row)
}

/// Whether an endpoint takes a notice: its kind is wanted, and for an endpoint limited to
/// orders, the notice concerns one of them.
pub fn takes(e: &webhook_endpoint::Model, n: &notice::Model) -> bool {
    let kinds = event_types(e);
    if !kinds.is_empty() && !kinds.contains(&n.kind) {
        return false;
    }
    match order_limit(e) {
        None => true,
        Some(limit) => notice_orders(n).iter().any(|o| limit.contains(o)),
    }
}

/// Makes the deliveries of up to `batch` notices not yet dispatched, and marks them
/// dispatched, in the open write. Returns how many deliveries were made.
pub async fn fan_out(w: &Write<'_>, batch: u64) -> AppResult<usize> {
    let notices = notice::Entity::find()
        .filter(
            notice::Column::Id.not_in_subquery(
                Query::select()
                    .column(notice_dispatch::Column::NoticeId)
                    .from(notice_dispatch::Entity)
                    .to_owned(),
            ),
        )
        .order_by_asc(notice::Column::Id)
        .limit(batch)
        .all(&w.txn)
        .await?;
    if notices.is_empty() {
        return Ok(0);
    }
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::ArchivedAt.is_null())
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .all(&w.txn)
        .await?;
    let mut deliveries = Vec::new();
    for n in &notices {
        for e in &endpoints {
            if e.created_at <= n.created_at && takes(e, n) {
                deliveries.push(webhook_delivery::ActiveModel {
                    endpoint_id: Set(e.id),
                    notice_id: Set(n.id),
                    status: Set(DeliveryStatus::Pending),
                    attempts: Set(0),
                    next_attempt_at: Set(Some(w.now)),
                    lease_until: Set(None),
                    last_status_code: Set(None),
                    last_error: Set(None),
                    delivered_at: Set(None),
                    created_at: Set(w.now),
                    updated_at: Set(w.now),
                    ..Default::default()
                });
            }
        }
    }
    let made = deliveries.len();
    while !deliveries.is_empty() {
        let rest = deliveries.split_off(deliveries.len().min(200));
        webhook_delivery::Entity::insert_many(std::mem::replace(&mut deliveries, rest))
            .on_conflict(
                OnConflict::columns([
                    webhook_delivery::Column::EndpointId,
                    webhook_delivery::Column::NoticeId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .do_nothing()
            .exec(&w.txn)
            .await?;
    }
    let marks: Vec<_> = notices
        .iter()
        .map(|n| notice_dispatch::ActiveModel {
            notice_id: Set(n.id),
            at: Set(w.now),
        })
        .collect();
    notice_dispatch::Entity::insert_many(marks)
        .on_conflict(
            OnConflict::column(notice_dispatch::Column::NoticeId)
                .do_nothing()
                .to_owned(),
        )
        .do_nothing()
        .exec(&w.txn)
        .await?;
    Ok(made)
}

/// A delivery claimed for sending, with what it needs.
pub struct Claimed {
    pub delivery: webhook_delivery::Model,
    pub endpoint: webhook_endpoint::Model,
    pub notice: notice::Model,
    /// References of the orders the payload names (limited to the endpoint's orders).
    pub orders: Vec<String>,
}

/// Claims up to `limit` deliveries due at `now` for `lease`, in the open write.
pub async fn claim(
    w: &Write<'_>,
    now: DateTime<Utc>,
    limit: u64,
    lease: Duration,
) -> AppResult<Vec<Claimed>> {
    let free = Condition::any()
        .add(webhook_delivery::Column::LeaseUntil.is_null())
        .add(webhook_delivery::Column::LeaseUntil.lt(now));
    let due = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .filter(free.clone())
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .order_by_asc(webhook_delivery::Column::Id)
        .limit(limit)
        .all(&w.txn)
        .await?;
    let mut mine = Vec::new();
    for d in due {
        let res = webhook_delivery::Entity::update_many()
            .col_expr(
                webhook_delivery::Column::LeaseUntil,
                Expr::value(now + lease),
            )
            .filter(webhook_delivery::Column::Id.eq(d.id))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
            .filter(free.clone())
            .exec(&w.txn)
            .await?;
        if res.rows_affected == 1 {
            mine.push(d);
        }
    }
    if mine.is_empty() {
        return Ok(Vec::new());
    }
    let endpoints: HashMap<i64, webhook_endpoint::Model> = webhook_endpoint::Entity::find()
        .filter(in_ids(
            webhook_endpoint::Column::Id,
            mine.iter().map(|d| d.endpoint_id),
        ))
        .all(&w.txn)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let notices: HashMap<i64, notice::Model> = notice::Entity::find()
        .filter(in_ids(notice::Column::Id, mine.iter().map(|d| d.notice_id)))
        .all(&w.txn)
        .await?
        .into_iter()
        .map(|n| (n.id, n))
        .collect();
    let order_ids: HashSet<i64> = notices.values().flat_map(notice_orders).collect();
    let refs = super::reminders::order_references(&w.txn, order_ids).await?;
    let mut out = Vec::new();
    for d in mine {
        let (Some(e), Some(n)) = (endpoints.get(&d.endpoint_id), notices.get(&d.notice_id)) else {
            continue;
        };
        let limit = order_limit(e);
        let orders = notice_orders(n)
            .into_iter()
            .filter(|o| limit.as_ref().is_none_or(|l| l.contains(o)))
            .filter_map(|o| refs.get(&o).cloned())
            .collect();
        out.push(Claimed {
            delivery: d,
            endpoint: e.clone(),
            notice: n.clone(),
            orders,
        });
    }
    Ok(out)
}

/// The Standard Webhooks `type` of a notice kind: `MEASURE_DUE_SOON` → `measure.due_soon`.
pub fn event_type(kind: NoticeKind) -> String {
    let lower = kind.as_str().to_ascii_lowercase();
    match lower.split_once('_') {
        Some((a, b)) => format!("{a}.{b}"),
        None => lower,
    }
}

/// Where people look at a subject (the console's page of it).
pub fn link(public_url: &str, subject_type: &str, subject_id: i64) -> String {
    let gid = crate::id::encode(subject_type, subject_id);
    let path = match subject_type {
        "Measure" => "measures",
        "Report" => "reports",
        "Order" => "orders",
        "Finding" => "findings",
        "Owner" => "owners",
        _ => "nodes",
    };
    format!(
        "{}/{path}/{}",
        public_url.trim_end_matches('/'),
        gid.as_str()
    )
}

/// The message id (`webhook-id`): the same for every attempt of one notice.
pub fn message_id(notice_id: i64) -> String {
    format!("msg_{notice_id}")
}

/// The JSON body of a delivery: `{type, timestamp, data}` as Standard Webhooks shapes it.
pub fn payload(c: &Claimed, public_url: &str) -> String {
    let n = &c.notice;
    json!({
        "type": event_type(n.kind),
        "timestamp": n.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": {
            "id": crate::id::encode("Notice", n.id).as_str(),
            "kind": n.kind.as_str(),
            "at": n.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "subject": {
                "type": n.subject_type,
                "id": crate::id::encode(&n.subject_type, n.subject_id).as_str(),
            },
            "measure": n.measure_id.map(|m| crate::id::encode("Measure", m).as_str().to_string()),
            "orders": c.orders,
            "summary": n.summary,
            "link": link(public_url, &n.subject_type, n.subject_id),
        }
    })
    .to_string()
}

/// The secrets signing now: the current one, and the previous one within its overlap.
pub fn signing_secrets(e: &webhook_endpoint::Model, now: DateTime<Utc>) -> Vec<String> {
    let mut v = vec![e.secret.clone()];
    if let (Some(old), Some(until)) = (&e.previous_secret, e.previous_secret_expires_at) {
        if until > now {
            v.push(old.clone());
        }
    }
    v
}

/// Records one attempt's outcome, in the open write: DELIVERED on a 2xx, else PENDING again
/// at the next backoff, or DEAD once `max_attempts` were made. Returns the new status.
pub async fn record(
    w: &Write<'_>,
    delivery: &webhook_delivery::Model,
    outcome: &outbound::Outcome,
    max_attempts: u32,
    backoff_seconds: u64,
) -> AppResult<DeliveryStatus> {
    let attempts = delivery.attempts + 1;
    let status = if outcome.delivered() {
        DeliveryStatus::Delivered
    } else if attempts as u32 >= max_attempts {
        DeliveryStatus::Dead
    } else {
        DeliveryStatus::Pending
    };
    let error = outcome
        .error
        .as_deref()
        .map(|e| e.chars().take(500).collect::<String>());
    let mut a = delivery.clone().into_active_model();
    a.status = Set(status);
    a.attempts = Set(attempts);
    a.lease_until = Set(None);
    a.last_status_code = Set(outcome.status.map(i32::from));
    a.last_error = Set(error.clone());
    a.next_attempt_at = Set((status == DeliveryStatus::Pending)
        .then(|| super::next_attempt(w.now, attempts as u32, backoff_seconds)));
    a.delivered_at = Set((status == DeliveryStatus::Delivered).then_some(w.now));
    a.updated_at = Set(w.now);
    a.update(&w.txn).await?;
    webhook_attempt::ActiveModel {
        delivery_id: Set(delivery.id),
        at: Set(w.now),
        status_code: Set(outcome.status.map(i32::from)),
        error: Set(error),
        duration_ms: Set(outcome.elapsed.as_millis().min(i32::MAX as u128) as i32),
        ..Default::default()
    }
    .insert(&w.txn)
    .await?;
    Ok(status)
}

/// Deliveries not yet delivered: how many, and when the oldest was made.
pub async fn backlog<C: ConnectionTrait>(conn: &C) -> AppResult<(u64, Option<DateTime<Utc>>)> {
    use sea_orm::PaginatorTrait;
    let q = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending));
    let n = q.clone().count(conn).await?;
    let oldest: Option<DateTime<Utc>> = q
        .select_only()
        .column_as(webhook_delivery::Column::CreatedAt.min(), "m")
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(conn)
        .await?
        .flatten();
    Ok((n, oldest))
}
