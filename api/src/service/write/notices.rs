//! Notices: events people should hear about, recorded in the write that causes them (the
//! transactional outbox reminders and webhooks deliver from). A notice names its kind, when it
//! happened, its subject, the measure and the orders concerned, and one line for people; its
//! `dedup_key` is unique, so noting the same event twice (a second replica's sweep, a retried
//! write) keeps one.
use chrono::{DateTime, Utc};
use entity::enums::NoticeKind;
use entity::notice;
use sea_orm::sea_query::OnConflict;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;

use super::Write;
use crate::error::AppResult;
use crate::service::scope;

/// One event to note.
pub struct NewNotice {
    pub kind: NoticeKind,
    pub at: DateTime<Utc>,
    pub dedup_key: String,
    pub subject_type: &'static str,
    pub subject_id: i64,
    pub measure_id: Option<i64>,
    pub summary: String,
}

/// Notes an event in the open write, with the orders of its measure and the write's latest
/// audit event; a second notice with the same `dedup_key` is dropped.
pub async fn note(w: &Write<'_>, n: NewNotice) -> AppResult<()> {
    let orders = match n.measure_id {
        Some(m) => scope::orders_of_measure(&w.txn, m).await?,
        None => Vec::new(),
    };
    let row = notice::ActiveModel {
        kind: Set(n.kind),
        at: Set(n.at),
        dedup_key: Set(n.dedup_key),
        subject_type: Set(n.subject_type.to_string()),
        subject_id: Set(n.subject_id),
        measure_id: Set(n.measure_id),
        order_ids: Set(serde_json::to_string(&orders).unwrap_or_else(|_| "[]".into())),
        summary: Set(n.summary),
        audit_event_id: Set(w.last_event()),
        created_at: Set(w.now),
        ..Default::default()
    };
    notice::Entity::insert(row)
        .on_conflict(
            OnConflict::column(notice::Column::DedupKey)
                .do_nothing()
                .to_owned(),
        )
        .do_nothing()
        .exec(&w.txn)
        .await?;
    Ok(())
}
