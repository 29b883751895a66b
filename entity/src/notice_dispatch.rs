use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A notice already fanned out to the webhook endpoints (its deliveries made). A notice
/// without one is picked up by the next fan-out, whatever order concurrent transactions
/// committed their notices in.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "notice_dispatch")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub notice_id: i64,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
