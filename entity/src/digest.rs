use crate::enums::{DeliveryStatus, Language};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An e-mail digest, composed once per recipient and day (daily, per owner) or ISO week
/// (weekly, the compliance office) and sent at least once over SMTP, like a webhook delivery.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "digest")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `DAILY` or `WEEKLY`.
    pub kind: String,
    pub recipient: String,
    pub language: Language,
    /// The day it is for (a weekly digest: the Monday of its week).
    pub day: Date,
    pub owner_id: Option<i64>,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub lease_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
