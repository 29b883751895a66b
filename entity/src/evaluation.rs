use crate::enums::Verdict;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An evaluator's assessment of a report or a measure. Immutable.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "evaluation")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub report_id: Option<i64>,
    pub measure_id: Option<i64>,
    pub evaluator_id: Option<i64>,
    pub evaluator_subject: String,
    pub verdict: Verdict,
    pub comment: Option<String>,
    pub evaluated_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::report::Entity",
        from = "Column::ReportId",
        to = "super::report::Column::Id"
    )]
    Report,
    #[sea_orm(
        belongs_to = "super::measure::Entity",
        from = "Column::MeasureId",
        to = "super::measure::Column::Id"
    )]
    Measure,
    #[sea_orm(
        belongs_to = "super::evaluator::Entity",
        from = "Column::EvaluatorId",
        to = "super::evaluator::Column::Id"
    )]
    Evaluator,
}

impl ActiveModelBehavior for ActiveModel {}
