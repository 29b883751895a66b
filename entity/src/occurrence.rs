use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One execution of a recurring measure (this week's log review).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "occurrence")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub measure_id: i64,
    /// The period covered, e.g. `2022-W47`, `2022-11`, `2022-Q4`, `2022`.
    pub period: String,
    pub due_on: Option<Date>,
    pub done_on: Date,
    pub done_by: String,
    pub note: Option<String>,
    pub created_at: DateTimeUtc,
    /// The evidence of this execution (of the same measure), if any.
    pub evidence_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::measure::Entity",
        from = "Column::MeasureId",
        to = "super::measure::Column::Id"
    )]
    Measure,
}

impl Related<super::measure::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Measure.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
