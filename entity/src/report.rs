use crate::enums::{ReportKind, ReportStatus};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A filing to a regulator.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "report")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub order_id: i64,
    pub kind: ReportKind,
    pub title: String,
    pub title_local: Option<String>,
    pub due_on: Date,
    pub submitted_on: Option<Date>,
    pub acknowledged_on: Option<Date>,
    pub status: ReportStatus,
    pub body: Option<String>,
    /// Frozen JSON snapshot of the linked measures, written on submission.
    pub snapshot: Option<String>,
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
        super::report_measure::Relation::Measure.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::report_measure::Relation::Report.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
