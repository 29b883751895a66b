use crate::enums::{MeasureStatus, Recurrence};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One thing the company committed to do.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "measure")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub title: String,
    pub title_local: Option<String>,
    pub plan: Option<String>,
    pub status: MeasureStatus,
    pub status_reason: Option<String>,
    pub owner_id: Option<i64>,
    pub started_on: Option<Date>,
    pub due_on: Option<Date>,
    pub completed_on: Option<Date>,
    pub recurrence: Recurrence,
    /// For recurring measures: the end of the first period not yet executed.
    pub next_due_on: Option<Date>,
    /// For recurring measures: the date the schedule counts from (its first period is the
    /// one that ends on or after it).
    pub anchor_on: Option<Date>,
    /// Days after the end of a period before it is due (0: due on its last day).
    pub grace_days: i32,
    pub note: Option<String>,
    pub version: i32,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::owner::Entity",
        from = "Column::OwnerId",
        to = "super::owner::Column::Id"
    )]
    Owner,
    #[sea_orm(has_many = "super::evidence::Entity")]
    Evidence,
    #[sea_orm(has_many = "super::occurrence::Entity")]
    Occurrence,
    #[sea_orm(has_many = "super::period_skip::Entity")]
    PeriodSkip,
}

impl Related<super::owner::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl Related<super::finding::Entity> for Entity {
    fn to() -> RelationDef {
        super::measure_finding::Relation::Finding.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::measure_finding::Relation::Measure.def().rev())
    }
}

impl Related<super::system::Entity> for Entity {
    fn to() -> RelationDef {
        super::measure_system::Relation::System.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::measure_system::Relation::Measure.def().rev())
    }
}

impl Related<super::evidence::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Evidence.def()
    }
}

impl Related<super::occurrence::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Occurrence.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
