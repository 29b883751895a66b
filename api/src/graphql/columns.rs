//! Sets of `measure` columns: what a list of measures rendered in bulk reads
//! (`super::fast::narrow`), and rows decoded from only those columns.
use entity::*;
use sea_orm::{DbErr, FromQueryResult, IdenStatic, Iterable, QueryResult, TryGetable};

/// A set of `measure` columns, one bit per column of `measure::Column`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MeasureCols(u32);

impl MeasureCols {
    /// Every column: a full row.
    pub const ALL: Self = Self(u32::MAX);
    /// What every list reads whatever its selection: the id and the owner (the page's
    /// rows), the archive mark (lists leave archived measures out).
    pub const BASE: Self = Self(
        1 << measure::Column::Id as u32
            | 1 << measure::Column::OwnerId as u32
            | 1 << measure::Column::ArchivedAt as u32,
    );

    fn of(columns: &[measure::Column]) -> Self {
        Self(columns.iter().fold(0, |m, c| m | 1 << *c as u32))
    }

    /// With `column` too.
    pub fn with(self, column: measure::Column) -> Self {
        Self(self.0 | 1 << column as u32)
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    fn has(self, column: measure::Column) -> bool {
        self.0 & 1 << column as u32 != 0
    }

    /// Whether every column is in the set.
    pub fn is_all(self) -> bool {
        measure::Column::iter().all(|c| self.has(c))
    }

    /// The columns, in the table's order.
    pub fn columns(self) -> impl Iterator<Item = measure::Column> {
        measure::Column::iter().filter(move |c| self.has(*c))
    }

    /// The columns a plain field of `Measure` reads (`plain_fields!` in `super::fast`); every column for
    /// a name it does not know.
    pub fn of_field(name: &str) -> Self {
        use measure::Column as C;
        match name {
            "id" | "__typename" => Self(0),
            "code" => Self::of(&[C::Code]),
            "title" => Self::of(&[C::Title]),
            "titleLocal" => Self::of(&[C::TitleLocal]),
            "plan" => Self::of(&[C::Plan]),
            "status" => Self::of(&[C::Status]),
            "statusReason" => Self::of(&[C::StatusReason]),
            "startedOn" => Self::of(&[C::StartedOn]),
            "dueOn" => Self::of(&[C::DueOn]),
            "completedOn" => Self::of(&[C::CompletedOn]),
            "recurrence" => Self::of(&[C::Recurrence]),
            "nextDueOn" => Self::of(&[C::NextDueOn]),
            "anchorOn" => Self::of(&[C::AnchorOn]),
            "graceDays" => Self::of(&[C::GraceDays]),
            // crate::domain::is_overdue
            "overdue" => Self::of(&[C::Status, C::DueOn, C::Recurrence, C::NextDueOn]),
            "note" => Self::of(&[C::Note]),
            "version" => Self::of(&[C::Version]),
            "createdAt" => Self::of(&[C::CreatedAt]),
            "updatedAt" => Self::of(&[C::UpdatedAt]),
            "archivedAt" => Self::of(&[C::ArchivedAt]),
            _ => Self::ALL,
        }
    }

    /// A row read with these columns: the others hold placeholders (empty, zero, the first
    /// variant), which only a list loaded for plans that never read them may hold.
    pub fn decode(self, row: &QueryResult) -> Result<measure::Model, DbErr> {
        use measure::Column as C;
        if self.is_all() {
            return measure::Model::from_query_result(row, "");
        }
        fn get<T: TryGetable>(
            row: &QueryResult,
            cols: MeasureCols,
            c: C,
            placeholder: impl FnOnce() -> T,
        ) -> Result<T, DbErr> {
            if cols.has(c) {
                row.try_get("", c.as_str())
            } else {
                Ok(placeholder())
            }
        }
        let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        Ok(measure::Model {
            id: row.try_get("", C::Id.as_str())?,
            code: get(row, self, C::Code, String::new)?,
            title: get(row, self, C::Title, String::new)?,
            title_local: get(row, self, C::TitleLocal, || None)?,
            plan: get(row, self, C::Plan, || None)?,
            status: get(row, self, C::Status, || enums::MeasureStatus::Planned)?,
            status_reason: get(row, self, C::StatusReason, || None)?,
            owner_id: get(row, self, C::OwnerId, || None)?,
            started_on: get(row, self, C::StartedOn, || None)?,
            due_on: get(row, self, C::DueOn, || None)?,
            completed_on: get(row, self, C::CompletedOn, || None)?,
            recurrence: get(row, self, C::Recurrence, || enums::Recurrence::None)?,
            next_due_on: get(row, self, C::NextDueOn, || None)?,
            anchor_on: get(row, self, C::AnchorOn, || None)?,
            grace_days: get(row, self, C::GraceDays, || 0)?,
            note: get(row, self, C::Note, || None)?,
            version: get(row, self, C::Version, || 0)?,
            archived_at: get(row, self, C::ArchivedAt, || None)?,
            created_at: get(row, self, C::CreatedAt, || epoch)?,
            updated_at: get(row, self, C::UpdatedAt, || epoch)?,
        })
    }
}
