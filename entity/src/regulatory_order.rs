use crate::enums::{OrderKind, OrderStatus};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One regulatory action: an improvement order, guidance, a report request.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "regulatory_order")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub regulator_id: i64,
    pub kind: OrderKind,
    #[sea_orm(unique)]
    pub reference: String,
    pub title: String,
    pub title_local: Option<String>,
    pub legal_basis: Option<String>,
    pub issued_on: Date,
    pub status: OrderStatus,
    pub summary: Option<String>,
    /// The day the incident behind the order was publicly disclosed, if known.
    pub incident_disclosed_on: Option<Date>,
    pub version: i32,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::regulator::Entity",
        from = "Column::RegulatorId",
        to = "super::regulator::Column::Id"
    )]
    Regulator,
    #[sea_orm(has_many = "super::finding::Entity")]
    Finding,
    #[sea_orm(has_many = "super::report::Entity")]
    Report,
}

impl Related<super::regulator::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Regulator.def()
    }
}

impl Related<super::finding::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Finding.def()
    }
}

impl Related<super::report::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Report.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
