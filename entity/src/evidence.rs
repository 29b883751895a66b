use crate::enums::EvidenceKind;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What proves a measure. Immutable: a correction is a new row that supersedes this one.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "evidence")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub measure_id: i64,
    pub system_id: Option<i64>,
    pub kind: EvidenceKind,
    pub title: String,
    pub issued_by: Option<String>,
    pub issued_on: Option<Date>,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
    /// Lower-case hex SHA-256 of the document's bytes.
    pub sha256: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub storage_uri: Option<String>,
    #[serde(skip)]
    pub content: Option<Vec<u8>>,
    pub supersedes_id: Option<i64>,
    pub submitted_by: String,
    pub submitted_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::measure::Entity",
        from = "Column::MeasureId",
        to = "super::measure::Column::Id"
    )]
    Measure,
    #[sea_orm(
        belongs_to = "super::system::Entity",
        from = "Column::SystemId",
        to = "super::system::Column::Id"
    )]
    System,
    #[sea_orm(
        belongs_to = "Entity",
        from = "Column::SupersedesId",
        to = "Column::Id"
    )]
    Supersedes,
}

impl Related<super::measure::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Measure.def()
    }
}

impl Related<super::system::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::System.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
