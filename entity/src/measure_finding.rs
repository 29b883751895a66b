use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Which findings a measure answers (many-to-many).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "measure_finding")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub measure_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub finding_id: i64,
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
        belongs_to = "super::finding::Entity",
        from = "Column::FindingId",
        to = "super::finding::Column::Id"
    )]
    Finding,
}

impl ActiveModelBehavior for ActiveModel {}

impl Related<super::finding::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Finding.def()
    }
}

impl Related<super::measure::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Measure.def()
    }
}
