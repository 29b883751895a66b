//! Measure rules shared by queries, dashboards and mutations: when a measure is overdue,
//! and how the measure filter becomes SQL.
use std::collections::BTreeSet;

use chrono::NaiveDate;
use entity::enums::{FindingCategory, MeasureStatus, Recurrence};
use entity::*;
use sea_orm::sea_query::{Expr, Func, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition};

use crate::db::in_ids;
use crate::error::AppResult;
use crate::service::scope::measures_of_findings;

pub use crate::domain::{is_overdue, status_as_of, OPEN_STATUSES};

/// [`is_overdue`](crate::domain::is_overdue) as SQL, NULL-safe so that its negation is exact.
pub fn overdue_condition(today: NaiveDate) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(measure::Column::Status.is_in(OPEN_STATUSES))
                .add(measure::Column::DueOn.is_not_null())
                .add(measure::Column::DueOn.lt(today)),
        )
        .add(
            Condition::all()
                .add(measure::Column::Recurrence.ne(Recurrence::None))
                .add(
                    measure::Column::Status
                        .is_not_in([MeasureStatus::Cancelled, MeasureStatus::Deferred]),
                )
                .add(measure::Column::NextDueOn.is_not_null())
                .add(measure::Column::NextDueOn.lt(today)),
        )
}

/// Filters on measures; every field narrows (they combine with AND).
#[derive(async_graphql::InputObject, Default, Clone)]
pub struct MeasureFilter {
    /// Measures answering a finding of this order.
    pub order_id: Option<async_graphql::ID>,
    /// Measures answering a finding of an order of this regulator.
    pub regulator_id: Option<async_graphql::ID>,
    /// Measures answering this finding.
    pub finding_id: Option<async_graphql::ID>,
    /// Measures owned by this owner.
    pub owner_id: Option<async_graphql::ID>,
    /// Measures concerning this system.
    pub system_id: Option<async_graphql::ID>,
    /// Measures in any of these statuses.
    pub status: Option<Vec<MeasureStatus>>,
    /// Measures answering a finding of this category.
    pub category: Option<FindingCategory>,
    /// Only overdue (true) or only not overdue (false) measures, as of today.
    pub overdue: Option<bool>,
    /// Due strictly before this date.
    pub due_before: Option<crate::date::Date>,
    /// Due strictly after this date.
    pub due_after: Option<crate::date::Date>,
    /// With this recurrence.
    pub recurrence: Option<Recurrence>,
    /// Case-insensitive text search in code, titles and plan.
    pub search: Option<String>,
    /// Include archived measures (default false).
    pub include_archived: Option<bool>,
}

/// Escapes LIKE wildcards so user text matches literally.
pub fn like_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The filter as a SQL condition. `scope` (an order-scoped caller's orders) restricts every
/// finding-based criterion to findings of those orders, so that filtering by an ungranted
/// order, regulator, finding or category reveals nothing about it.
pub fn filter_condition(
    f: &MeasureFilter,
    today: NaiveDate,
    scope: Option<&BTreeSet<i64>>,
) -> AppResult<Condition> {
    use crate::id::decode;
    // The measures answering a finding that meets `cond`, among the findings in scope.
    let answering = |cond: SimpleExpr| {
        let mut stmt = measures_of_findings(cond);
        if let Some(g) = scope {
            stmt.and_where(in_ids(
                Expr::col((finding::Entity, finding::Column::OrderId)),
                g.iter().copied(),
            ));
        }
        measure::Column::Id.in_subquery(stmt)
    };
    let finding_col = |c: finding::Column| Expr::col((finding::Entity, c));
    let mut c = Condition::all();
    if !f.include_archived.unwrap_or(false) {
        c = c.add(measure::Column::ArchivedAt.is_null());
    }
    if let Some(id) = &f.order_id {
        c = c.add(answering(
            finding_col(finding::Column::OrderId).eq(decode(id, "Order")?),
        ));
    }
    if let Some(id) = &f.regulator_id {
        let orders = Query::select()
            .column(regulatory_order::Column::Id)
            .from(regulatory_order::Entity)
            .and_where(regulatory_order::Column::RegulatorId.eq(decode(id, "Regulator")?))
            .to_owned();
        c = c.add(answering(
            finding_col(finding::Column::OrderId).in_subquery(orders),
        ));
    }
    if let Some(id) = &f.finding_id {
        c = c.add(answering(
            finding_col(finding::Column::Id).eq(decode(id, "Finding")?),
        ));
    }
    if let Some(id) = &f.owner_id {
        c = c.add(measure::Column::OwnerId.eq(decode(id, "Owner")?));
    }
    if let Some(id) = &f.system_id {
        c = c.add(
            measure::Column::Id.in_subquery(
                Query::select()
                    .column(measure_system::Column::MeasureId)
                    .from(measure_system::Entity)
                    .and_where(measure_system::Column::SystemId.eq(decode(id, "System")?))
                    .to_owned(),
            ),
        );
    }
    if let Some(statuses) = &f.status {
        c = c.add(measure::Column::Status.is_in(statuses.iter().copied()));
    }
    if let Some(cat) = f.category {
        c = c.add(answering(
            finding_col(finding::Column::Category).eq(cat.as_str()),
        ));
    }
    match f.overdue {
        Some(true) => c = c.add(overdue_condition(today)),
        Some(false) => c = c.add(overdue_condition(today).not()),
        None => {}
    }
    if let Some(d) = f.due_before {
        c = c.add(measure::Column::DueOn.lt(d.0));
    }
    if let Some(d) = f.due_after {
        c = c.add(measure::Column::DueOn.gt(d.0));
    }
    if let Some(r) = f.recurrence {
        c = c.add(measure::Column::Recurrence.eq(r));
    }
    if let Some(text) = f.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        if text.chars().count() > 200 {
            return Err(crate::error::AppError::validation(
                "search",
                "at most 200 characters",
            ));
        }
        let pattern = like_pattern(text);
        let like = |col: measure::Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
        };
        c = c.add(
            Condition::any()
                .add(like(measure::Column::Code))
                .add(like(measure::Column::Title))
                .add(like(measure::Column::TitleLocal))
                .add(like(measure::Column::Plan)),
        );
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("50%_A"), "%50\\%\\_a%");
    }
}
