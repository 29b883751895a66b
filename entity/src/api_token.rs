use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An issued API token. The token itself is never stored, only its claims.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "api_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    pub subject: String,
    /// Space-separated roles.
    pub roles: String,
    /// Space-separated OAuth-style scopes.
    pub scope: String,
    /// JSON array of order ids the token is limited to, or null for no limit.
    pub orders: Option<String>,
    pub issued_by: String,
    pub issued_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
