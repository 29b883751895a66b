//! What an order-scoped caller (an evaluator) may see, as SQL conditions.
//!
//! Orders are granted; everything else is visible when it hangs under a granted order:
//! findings and reports by their order, measures through a finding of a granted order,
//! evidence, occurrences and evaluations through their measure or report, systems and
//! owners through a visible measure, regulators through a granted order.
use std::collections::BTreeSet;

use entity::*;
use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition};

use crate::auth::Caller;

/// `FROM measure_finding JOIN finding JOIN regulatory_order`: each link with its finding and
/// the finding's order (no columns selected yet).
pub fn links_with_orders() -> SelectStatement {
    Query::select()
        .from(measure_finding::Entity)
        .inner_join(
            finding::Entity,
            Expr::col((finding::Entity, finding::Column::Id))
                .equals((measure_finding::Entity, measure_finding::Column::FindingId)),
        )
        .inner_join(
            regulatory_order::Entity,
            Expr::col((regulatory_order::Entity, regulatory_order::Column::Id))
                .equals((finding::Entity, finding::Column::OrderId)),
        )
        .to_owned()
}

/// `SELECT measure_id FROM measure_finding JOIN finding … WHERE finding.order_id IN (orders)`.
pub fn measures_of_orders(orders: impl IntoIterator<Item = i64>) -> SelectStatement {
    Query::select()
        .column((measure_finding::Entity, measure_finding::Column::MeasureId))
        .from(measure_finding::Entity)
        .inner_join(
            finding::Entity,
            Expr::col((finding::Entity, finding::Column::Id))
                .equals((measure_finding::Entity, measure_finding::Column::FindingId)),
        )
        .and_where(Expr::col((finding::Entity, finding::Column::OrderId)).is_in(orders))
        .to_owned()
}

fn ids(set: &BTreeSet<i64>) -> Vec<i64> {
    set.iter().copied().collect()
}

/// Orders the caller sees.
pub fn orders(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => Condition::all().add(regulatory_order::Column::Id.is_in(ids(g))),
    }
}

pub fn regulators(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => Condition::all().add(
            regulator::Column::Id.in_subquery(
                Query::select()
                    .column(regulatory_order::Column::RegulatorId)
                    .from(regulatory_order::Entity)
                    .and_where(regulatory_order::Column::Id.is_in(ids(g)))
                    .to_owned(),
            ),
        ),
    }
}

pub fn findings(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => Condition::all().add(finding::Column::OrderId.is_in(ids(g))),
    }
}

pub fn measures(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => {
            Condition::all().add(measure::Column::Id.in_subquery(measures_of_orders(ids(g))))
        }
    }
}

fn visible_measure_ids(g: &BTreeSet<i64>) -> SelectStatement {
    measures_of_orders(ids(g))
}

pub fn systems(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => Condition::all().add(
            system::Column::Id.in_subquery(
                Query::select()
                    .column(measure_system::Column::SystemId)
                    .from(measure_system::Entity)
                    .and_where(
                        measure_system::Column::MeasureId.in_subquery(visible_measure_ids(g)),
                    )
                    .to_owned(),
            ),
        ),
    }
}

pub fn owners(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => Condition::all().add(
            owner::Column::Id.in_subquery(
                Query::select()
                    .column(measure::Column::OwnerId)
                    .from(measure::Entity)
                    .and_where(measure::Column::Id.in_subquery(visible_measure_ids(g)))
                    .to_owned(),
            ),
        ),
    }
}

pub fn evidence(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => {
            Condition::all().add(evidence::Column::MeasureId.in_subquery(visible_measure_ids(g)))
        }
    }
}

pub fn reports(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => Condition::all().add(report::Column::OrderId.is_in(ids(g))),
    }
}

pub fn evaluations(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => Condition::any()
            .add(evaluation::Column::MeasureId.in_subquery(visible_measure_ids(g)))
            .add(
                evaluation::Column::ReportId.in_subquery(
                    Query::select()
                        .column(report::Column::Id)
                        .from(report::Entity)
                        .and_where(report::Column::OrderId.is_in(ids(g)))
                        .to_owned(),
                ),
            ),
    }
}

/// The orders a measure answers findings of.
pub async fn orders_of_measure<C: sea_orm::ConnectionTrait>(
    conn: &C,
    measure_id: i64,
) -> crate::error::AppResult<Vec<i64>> {
    use sea_orm::{EntityTrait, QueryFilter, QuerySelect};
    Ok(measure_finding::Entity::find()
        .select_only()
        .column(finding::Column::OrderId)
        .inner_join(finding::Entity)
        .filter(measure_finding::Column::MeasureId.eq(measure_id))
        .into_tuple::<i64>()
        .all(conn)
        .await?)
}
