use crate::enums::{ChangeKind, ChangeStatus, MeasureStatus};
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A request to defer or cancel a measure or move its due date later, which a second person
/// with `plan:approve` approves (and it is applied) or rejects; an approved deferral may end
/// on a date, after which the measure returns to its previous status.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "change_request")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub measure_id: i64,
    pub kind: ChangeKind,
    pub reason: String,
    /// MOVE_DUE: the due date asked for.
    pub proposed_due_on: Option<Date>,
    /// DEFER: the last day of the deferral (none: open-ended).
    pub defer_until: Option<Date>,
    pub status: ChangeStatus,
    pub requested_by: String,
    pub requested_at: DateTimeUtc,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTimeUtc>,
    pub decision_comment: Option<String>,
    /// DEFER, once applied: the measure's status before the deferral (where it returns).
    pub previous_status: Option<MeasureStatus>,
    pub expired_at: Option<DateTimeUtc>,
    pub version: i32,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
