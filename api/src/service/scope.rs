//! What an order-scoped caller (an evaluator) may see, as SQL conditions.
//!
//! Orders are granted; everything else is visible when it hangs under a granted order:
//! findings and reports by their order, measures through a finding of a granted order,
//! evidence, occurrences and evaluations through their measure or report, systems and
//! owners through a visible measure, regulators through a granted order.
use std::collections::BTreeSet;

use entity::*;
use sea_orm::sea_query::{Expr, Query, SelectStatement, SimpleExpr};
use sea_orm::{ColumnTrait, Condition};

use crate::auth::Caller;
use crate::db::{in_ids, MAX_BOUND_LIST};

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

/// `SELECT measure_id FROM measure_finding JOIN finding … WHERE cond`: the measures
/// answering a finding that meets `cond` (a condition on `finding`).
pub fn measures_of_findings(cond: SimpleExpr) -> SelectStatement {
    Query::select()
        .column((measure_finding::Entity, measure_finding::Column::MeasureId))
        .from(measure_finding::Entity)
        .inner_join(
            finding::Entity,
            Expr::col((finding::Entity, finding::Column::Id))
                .equals((measure_finding::Entity, measure_finding::Column::FindingId)),
        )
        .and_where(cond)
        .to_owned()
}

/// The measures answering a finding of these orders.
pub fn measures_of_orders(orders: impl IntoIterator<Item = i64>) -> SelectStatement {
    measures_of_findings(in_ids(
        Expr::col((finding::Entity, finding::Column::OrderId)),
        orders,
    ))
}

/// The granted orders, for [`in_ids`].
fn ids(set: &BTreeSet<i64>) -> impl Iterator<Item = i64> + '_ {
    set.iter().copied()
}

/// Orders the caller sees.
pub fn orders(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => Condition::all().add(in_ids(regulatory_order::Column::Id, ids(g))),
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
                    .and_where(in_ids(regulatory_order::Column::Id, ids(g)))
                    .to_owned(),
            ),
        ),
    }
}

pub fn findings(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => Condition::all().add(in_ids(finding::Column::OrderId, ids(g))),
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

/// The systems of given measures the caller may see, as a condition on the `measure_system`
/// link of a statement that joins it (the systems-of-a-measure loader): the link's measure
/// must be visible, which makes its system visible too. It never shows more than
/// [`systems`], and is checked per link row of the requested measures: [`systems`] there made
/// PostgreSQL walk every link of every system (0.5 s per page of an evaluator's measures at
/// 100,000 measures, BENCHMARKS.md round three), this one probes the hundred links asked for.
pub fn systems_of_visible_measures(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => Condition::all().add(
            Expr::col((measure_system::Entity, measure_system::Column::MeasureId))
                .in_subquery(visible_measure_ids(g)),
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
        Some(g) => Condition::all().add(in_ids(report::Column::OrderId, ids(g))),
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
                        .and_where(in_ids(report::Column::OrderId, ids(g)))
                        .to_owned(),
                ),
            ),
    }
}

pub fn occurrences(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => {
            Condition::all().add(occurrence::Column::MeasureId.in_subquery(visible_measure_ids(g)))
        }
    }
}

/// Change requests of the measures the caller sees.
pub fn change_requests(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => Condition::all()
            .add(change_request::Column::MeasureId.in_subquery(visible_measure_ids(g))),
    }
}

/// Skipped periods: those of measures in scope.
pub fn period_skips(caller: &Caller) -> Condition {
    match caller.order_scope() {
        None => Condition::all(),
        Some(g) => {
            Condition::all().add(period_skip::Column::MeasureId.in_subquery(visible_measure_ids(g)))
        }
    }
}

/// Objects every caller who may read the plan sees (evaluators' names).
pub fn everyone(_: &Caller) -> Condition {
    Condition::all()
}

// ---------------------------------------------------------------------------------------
// The access trail: which granted orders a scoped caller's request returned data of.

/// Where a row sits in the trail: under an order directly, through a measure (the granted
/// orders it answers findings of), or nowhere (plan-wide objects).
pub enum Trail {
    Order(i64),
    Measure(i64),
    Nowhere,
}

/// Records the orders behind rows returned to a scoped caller: one statement when measures
/// are among them, none otherwise (and nothing at all for unscoped callers).
pub async fn touch<C: sea_orm::ConnectionTrait>(
    conn: &C,
    caller: &Caller,
    trail: impl IntoIterator<Item = Trail>,
) -> crate::error::AppResult<()> {
    use sea_orm::{EntityTrait, QueryFilter, QuerySelect};
    let Some(granted) = caller.order_scope() else {
        return Ok(());
    };
    let mut measures = BTreeSet::new();
    for t in trail {
        match t {
            Trail::Order(o) => caller.touch(o),
            Trail::Measure(m) => {
                measures.insert(m);
            }
            Trail::Nowhere => {}
        }
    }
    if measures.is_empty() || granted.is_empty() {
        return Ok(());
    }
    let orders: Vec<i64> = measure_finding::Entity::find()
        .select_only()
        .column(finding::Column::OrderId)
        .inner_join(finding::Entity)
        .filter(in_ids(measure_finding::Column::MeasureId, measures))
        .filter(in_ids(finding::Column::OrderId, ids(granted)))
        .distinct()
        .into_tuple()
        .all(conn)
        .await?;
    orders.into_iter().for_each(|o| caller.touch(o));
    Ok(())
}

/// A row's place in the access trail.
pub trait InTrail {
    fn trail(&self) -> Trail;
}

macro_rules! in_trail {
    ($($model:ty => |$r:ident| $e:expr;)*) => {
        $(impl InTrail for $model {
            fn trail(&self) -> Trail {
                let $r = self;
                $e
            }
        })*
    };
}

in_trail! {
    regulatory_order::Model => |r| Trail::Order(r.id);
    finding::Model => |r| Trail::Order(r.order_id);
    report::Model => |r| Trail::Order(r.order_id);
    measure::Model => |r| Trail::Measure(r.id);
    occurrence::Model => |r| Trail::Measure(r.measure_id);
    change_request::Model => |r| Trail::Measure(r.measure_id);
    period_skip::Model => |r| Trail::Measure(r.measure_id);
    super::evidence::EvidenceMeta => |r| Trail::Measure(r.measure_id);
    regulator::Model => |_r| Trail::Nowhere;
    owner::Model => |_r| Trail::Nowhere;
    system::Model => |_r| Trail::Nowhere;
    evaluation::Model => |_r| Trail::Nowhere;
    evaluator::Model => |_r| Trail::Nowhere;
    audit_event::Model => |_r| Trail::Nowhere;
    access_log::Model => |_r| Trail::Nowhere;
    notice::Model => |_r| Trail::Nowhere;
}

// ---------------------------------------------------------------------------------------
// Write-side checks: every mutation that touches order data calls one of these, so a caller
// limited to orders changes nothing outside them (an ungranted object answers as unknown).

/// A caller limited to orders may act on this order only if it was granted.
pub fn check_order(who: &Caller, order_id: i64) -> crate::error::AppResult<()> {
    if who.sees_order(order_id) {
        Ok(())
    } else {
        Err(crate::error::AppError::not_found("order"))
    }
}

/// A finding, through its order.
pub fn check_finding(who: &Caller, finding: &finding::Model) -> crate::error::AppResult<()> {
    if who.sees_order(finding.order_id) {
        Ok(())
    } else {
        Err(crate::error::AppError::not_found("finding"))
    }
}

/// A measure, through the orders of its findings (one of them granted is enough).
pub async fn check_measure<C: sea_orm::ConnectionTrait>(
    conn: &C,
    who: &Caller,
    measure_id: i64,
) -> crate::error::AppResult<()> {
    if who.is_scoped()
        && !orders_of_measure(conn, measure_id)
            .await?
            .iter()
            .any(|o| who.sees_order(*o))
    {
        return Err(crate::error::AppError::not_found("measure"));
    }
    Ok(())
}

/// Plan-wide objects (regulators, owners, systems, new orders) belong to no single order: a
/// caller limited to orders may not write them.
pub fn check_unscoped(who: &Caller, what: &str) -> crate::error::AppResult<()> {
    if who.is_scoped() {
        Err(crate::error::AppError::Forbidden(format!(
            "a token limited to orders cannot write {what}"
        )))
    } else {
        Ok(())
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

/// Of `measure_ids`, those that answer no finding of `order_id`: a report may only hold
/// measures of its own order. One statement.
pub async fn measures_outside_order<C: sea_orm::ConnectionTrait>(
    conn: &C,
    order_id: i64,
    measure_ids: &[i64],
) -> crate::error::AppResult<Vec<i64>> {
    use sea_orm::{EntityTrait, QueryFilter, QuerySelect};
    if measure_ids.is_empty() {
        return Ok(Vec::new());
    }
    let inside: BTreeSet<i64> = measure_finding::Entity::find()
        .select_only()
        .column(measure_finding::Column::MeasureId)
        .inner_join(finding::Entity)
        .filter(finding::Column::OrderId.eq(order_id))
        .filter(in_ids(
            measure_finding::Column::MeasureId,
            measure_ids.iter().copied(),
        ))
        .into_tuple::<i64>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    Ok(measure_ids
        .iter()
        .copied()
        .filter(|m| !inside.contains(m))
        .collect())
}

/// A measure code with one order it answers a finding of.
#[derive(sea_orm::FromQueryResult)]
struct CodeOrder {
    code: String,
    order_id: i64,
}

/// The part of a report's frozen snapshot (`plan::snapshot`: `{"asOf", "measures": [{"code",
/// …}]}`) the caller may see: for an order-scoped caller, only the entries of measures that
/// answer a finding of a granted order (as [`measures`] decides), found in one statement per
/// [`MAX_BOUND_LIST`] codes (codes are strings, bound one parameter each, and a snapshot
/// lists as many as its report has measures); an entry whose measure cannot be placed is
/// left out. The orders of the kept entries join the caller's access trail. Others get the
/// snapshot unchanged.
///
/// Applied on every read, whatever the write path: rows written before reports were limited
/// to their order's measures may link measures of other orders.
pub async fn visible_snapshot<C: sea_orm::ConnectionTrait>(
    conn: &C,
    caller: &Caller,
    mut snapshot: serde_json::Value,
) -> crate::error::AppResult<serde_json::Value> {
    use sea_orm::FromQueryResult;
    let Some(granted) = caller.order_scope() else {
        return Ok(snapshot);
    };
    let Some(entries) = snapshot
        .get_mut("measures")
        .and_then(serde_json::Value::as_array_mut)
    else {
        return Ok(snapshot);
    };
    let codes: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| e.get("code").and_then(|c| c.as_str()).map(str::to_string))
        .collect();
    let mut orders_of: std::collections::HashMap<String, Vec<i64>> = Default::default();
    // With no order granted, nothing is visible (and no statement is needed).
    let codes: Vec<&str> = if granted.is_empty() {
        Vec::new()
    } else {
        codes.iter().map(String::as_str).collect()
    };
    for chunk in codes.chunks(MAX_BOUND_LIST) {
        let stmt = links_with_orders()
            .column((measure::Entity, measure::Column::Code))
            .column((finding::Entity, finding::Column::OrderId))
            .inner_join(
                measure::Entity,
                Expr::col((measure::Entity, measure::Column::Id))
                    .equals((measure_finding::Entity, measure_finding::Column::MeasureId)),
            )
            .and_where(
                Expr::col((measure::Entity, measure::Column::Code)).is_in(chunk.iter().copied()),
            )
            .and_where(in_ids(
                Expr::col((finding::Entity, finding::Column::OrderId)),
                ids(granted),
            ))
            .to_owned();
        let rows = CodeOrder::find_by_statement(conn.get_database_backend().build(&stmt))
            .all(conn)
            .await?;
        for r in rows {
            orders_of.entry(r.code).or_default().push(r.order_id);
        }
    }
    entries.retain(|e| {
        let of = e
            .get("code")
            .and_then(|c| c.as_str())
            .and_then(|c| orders_of.get(c));
        match of {
            Some(orders) => {
                orders.iter().for_each(|o| caller.touch(*o));
                true
            }
            None => false,
        }
    });
    Ok(snapshot)
}

/// `(measure, order)` for every measure answering a finding of these orders (archived
/// findings included, as the timeline shows history): one statement.
pub async fn measure_order_pairs<C: sea_orm::ConnectionTrait>(
    conn: &C,
    order_ids: &[i64],
) -> crate::error::AppResult<Vec<(i64, i64)>> {
    use sea_orm::{EntityTrait, QueryFilter, QuerySelect};
    #[derive(sea_orm::FromQueryResult)]
    struct Pair {
        measure_id: i64,
        order_id: i64,
    }
    let rows: Vec<Pair> = measure_finding::Entity::find()
        .select_only()
        .column(measure_finding::Column::MeasureId)
        .column_as(finding::Column::OrderId, "order_id")
        .inner_join(finding::Entity)
        .filter(in_ids(finding::Column::OrderId, order_ids.iter().copied()))
        .distinct()
        .into_model()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|p| (p.measure_id, p.order_id))
        .collect())
}
