use crate::enums::FindingCategory;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One fact a regulator found, with its directive.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "finding")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub category: FindingCategory,
    pub number: String,
    pub title: String,
    pub facts: String,
    pub facts_en: Option<String>,
    pub directive: String,
    pub directive_en: Option<String>,
    pub version: i32,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::regulatory_order::Entity",
        from = "Column::OrderId",
        to = "super::regulatory_order::Column::Id"
    )]
    Order,
}

impl Related<super::regulatory_order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}

impl Related<super::measure::Entity> for Entity {
    fn to() -> RelationDef {
        super::measure_finding::Relation::Measure.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::measure_finding::Relation::Finding.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
