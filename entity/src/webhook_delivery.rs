use crate::enums::DeliveryStatus;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One notice owed to one endpoint, delivered at least once: tried until the receiver answers
/// 2xx, with exponential backoff and jitter between attempts, dead-lettered after the
/// configured number of attempts. A worker leases it while sending (`lease_until`), so a
/// replica that dies mid-send leaves it to be tried again once the lease ends.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub endpoint_id: i64,
    pub notice_id: i64,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When it is tried next (PENDING only).
    pub next_attempt_at: Option<DateTimeUtc>,
    pub lease_until: Option<DateTimeUtc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
