use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A period of a recurring measure that is not owed (a holiday shutdown, a system retired),
/// with the reason and who approved it. Append-only: a skip is never edited or withdrawn.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "period_skip")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub measure_id: i64,
    /// The period, labelled as occurrences are (`2022-W47`, `2022-11`, `2022-Q4`, `2022`).
    pub period: String,
    /// The period's due date when it was skipped.
    pub due_on: Date,
    pub reason: String,
    /// The token subject who skipped it (holding `plan:approve`).
    pub skipped_by: String,
    pub skipped_at: DateTimeUtc,
    /// The audit event that recorded it (an event on the measure).
    pub audit_event_id: Option<i64>,
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
