use crate::enums::SystemKind;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An in-scope system (the net payment system, a front system, an admin screen).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "system")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    pub name_local: Option<String>,
    pub kind: SystemKind,
    pub scope_note: Option<String>,
    pub holds_card_data: bool,
    pub version: i32,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::evidence::Entity")]
    Evidence,
}

impl Related<super::measure::Entity> for Entity {
    fn to() -> RelationDef {
        super::measure_system::Relation::Measure.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::measure_system::Relation::System.def().rev())
    }
}

impl Related<super::evidence::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Evidence.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
