use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One change, append-only and hash-chained: `hash = SHA-256(prev_hash || canonical event)`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    /// Canonical JSON of the row before the change (exactly the bytes hashed).
    pub before: Option<String>,
    /// Canonical JSON of the row after the change (exactly the bytes hashed).
    pub after: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
