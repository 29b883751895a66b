use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A receiver of signed webhook deliveries (the Standard Webhooks scheme): where notices of the
/// chosen kinds and orders are posted. Registered by an administrator; changes are audited.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "webhook_endpoint")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `http://` or `https://` URL, checked against the outbound address rules when it is set
    /// and again at every delivery.
    pub url: String,
    pub description: Option<String>,
    /// JSON array of notice kinds delivered; empty for every kind.
    pub event_types: String,
    /// JSON array of order ids the endpoint is limited to (an evaluator's endpoint is limited
    /// to its granted orders, like its token); NULL for every order and the plan-wide notices.
    pub order_ids: Option<String>,
    /// The signing secret (`whsec_` + base64). Never shown again after it is made.
    #[serde(skip_serializing)]
    pub secret: String,
    /// The secret before the latest rotation: it signs too (a second signature) until
    /// `previous_secret_expires_at`.
    #[serde(skip_serializing)]
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    pub enabled: bool,
    pub version: i32,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
