use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A key that signs submission bundles (Ed25519). Only added, never changed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "bundle_key")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub key_id: String,
    pub algorithm: String,
    /// SubjectPublicKeyInfo, PEM.
    pub public_key_pem: String,
    /// PKCS#8 PEM of a key remedy generated; `None` for a configured key (kept in its file).
    #[serde(skip)]
    pub private_key_pem: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
