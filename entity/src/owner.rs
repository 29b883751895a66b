use crate::enums::{Language, OwnerKind};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A person, department or vendor answerable for measures.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "owner")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    pub name_local: Option<String>,
    pub kind: OwnerKind,
    pub role_title: Option<String>,
    /// Private: never shown to viewers or evaluators.
    pub contact: Option<String>,
    /// The token subject of the person this owner is (e.g. `tanaka@example.com`), when it
    /// has an account: unique when set. Private, like `contact`; separation of duties keeps
    /// it from verifying the measures it owns.
    pub account: Option<String>,
    /// The language its messages (e-mail digests) are written in; Japanese when unset.
    pub language: Option<Language>,
    pub parent_id: Option<i64>,
    pub version: i32,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "Entity", from = "Column::ParentId", to = "Column::Id")]
    Parent,
    #[sea_orm(has_many = "super::measure::Entity")]
    Measure,
}

impl Related<super::measure::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Measure.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
