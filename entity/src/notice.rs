use crate::enums::NoticeKind;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Something that happened and that people should hear about (a change request, a decision,
/// a deferral ended), written in the same transaction as the change: the outbox that
/// reminders and webhooks deliver from. Append-only; `dedup_key` makes each notice once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "notice")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: NoticeKind,
    /// When it happened.
    pub at: DateTimeUtc,
    /// Unique: the same event is never noted twice (e.g. `change_request:12:requested`).
    pub dedup_key: String,
    /// The subject's type and id (a global ID's parts), e.g. `ChangeRequest` 12.
    pub subject_type: String,
    pub subject_id: i64,
    /// The measure concerned, if any.
    pub measure_id: Option<i64>,
    /// The orders concerned, as a JSON array of ids (a delivery to an evaluator is limited to
    /// its granted orders).
    pub order_ids: String,
    /// One line for people.
    pub summary: String,
    /// The audit event of the change, when one records it.
    pub audit_event_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
