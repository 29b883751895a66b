use crate::enums::EvaluatorKind;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An independent party that evaluates progress (a third-party committee and its members,
/// a regulator assessing a report). `code` is the subject of the evaluator's tokens.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "evaluator")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    pub name_local: Option<String>,
    pub kind: EvaluatorKind,
    pub affiliation: Option<String>,
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
}

impl ActiveModelBehavior for ActiveModel {}
