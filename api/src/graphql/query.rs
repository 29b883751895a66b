//! Query roots: `node`/`nodes`, the lists with filters and ordering, and the dashboards.
use async_graphql::{Context, Enum, InputObject, Object, ID};
use chrono::Duration;

use crate::date::Date;
use entity::enums::*;
use entity::*;
use sea_orm::sea_query::Order as SqlOrder;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};

use super::connection::{
    cost, from_select, from_select_projected, from_vec, limits, Conn, Keyset, PageArgs, Projection,
};
use super::dashboard::{self, Progress};
use super::fast::{listed, narrow, ListedMeasure, Narrow};
use super::loader::{
    evidence_meta_select, ChangeRequestById, EvaluationById, EvaluatorById, EvidenceById,
    EvidenceMeta, FindingById, MeasureById, OccurrenceById, OrderById, OwnerById, RegulatorById,
    ReportById, SystemById,
};
use super::tense;
use super::types::*;
use crate::auth::{caller, Permission, Requires};
use crate::error::{AppError, AppResult};
use crate::id;
use crate::service::history::Reader;
use crate::service::measures::{filter_condition, MeasureFilter};
use crate::service::plan::current_evidence_condition;
use crate::service::scope;
use chrono::{DateTime, Utc};

/// Where the field reads: live, or as of the tense its root field set.
fn db(ctx: &Context<'_>) -> Reader {
    tense::reader(ctx)
}

/// Sort direction.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum Direction {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

impl From<Direction> for SqlOrder {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Asc => SqlOrder::Asc,
            Direction::Desc => SqlOrder::Desc,
        }
    }
}

/// Fields measures can be sorted by; ties are broken by ID, so the order is total.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum MeasureOrderField {
    /// The measure's code.
    #[default]
    Code,
    /// The due date (measures without one last).
    DueOn,
    /// The status.
    Status,
    /// The title.
    Title,
    /// The last change.
    UpdatedAt,
}

/// How to sort measures.
#[derive(InputObject, Default)]
pub struct MeasureOrder {
    /// The field.
    #[graphql(default)]
    pub field: MeasureOrderField,
    /// The direction.
    #[graphql(default)]
    pub direction: Direction,
}

/// Filters on orders.
#[derive(InputObject, Default)]
pub struct OrderFilter {
    /// Orders of this regulator.
    pub regulator_id: Option<ID>,
    /// Orders in this status.
    pub status: Option<OrderStatus>,
    /// Orders of this kind.
    pub kind: Option<OrderKind>,
    /// Include archived orders.
    pub include_archived: Option<bool>,
}

/// Filters on findings.
#[derive(InputObject, Default)]
pub struct FindingFilter {
    /// Findings of this order.
    pub order_id: Option<ID>,
    /// Findings of this category.
    pub category: Option<FindingCategory>,
}

/// Filters on evidence.
#[derive(InputObject, Default)]
pub struct EvidenceFilter {
    /// Evidence of this measure.
    pub measure_id: Option<ID>,
    /// Evidence about this system.
    pub system_id: Option<ID>,
    /// Evidence of this kind.
    pub kind: Option<EvidenceKind>,
    /// Valid until a date before this one (expiring or expired).
    pub expiring_before: Option<Date>,
    /// Only current (true: not superseded and valid today) or only not current (false).
    pub current: Option<bool>,
}

/// Filters on reports.
#[derive(InputObject, Default)]
pub struct ReportFilter {
    /// Reports on this order.
    pub order_id: Option<ID>,
    /// Reports in this status.
    pub status: Option<ReportStatus>,
    /// Reports due strictly before this date.
    pub due_before: Option<Date>,
}

/// Filters on owners.
#[derive(InputObject, Default)]
pub struct OwnerFilter {
    /// Owners of this kind.
    pub kind: Option<OwnerKind>,
}

/// Filters on systems.
#[derive(InputObject, Default)]
pub struct SystemFilter {
    /// Systems of this kind.
    pub kind: Option<SystemKind>,
}

fn days_ahead(days: i32) -> AppResult<Duration> {
    if !(0..=3660).contains(&days) {
        return Err(AppError::validation(
            "withinDays",
            "must be between 0 and 3660",
        ));
    }
    Ok(Duration::days(days as i64))
}

/// Evidence rows (without their bytes) as a connection: by validity end (those without
/// one last) then ID, or by ID.
async fn evidence_connection(
    ctx: &Context<'_>,
    args: &PageArgs,
    condition: Condition,
    order_by_validity: bool,
) -> AppResult<Conn<Evidence>> {
    let order = if order_by_validity {
        Keyset::asc(evidence::Column::ValidUntil).then_asc(evidence::Column::Id)
    } else {
        Keyset::asc(evidence::Column::Id)
    };
    from_select(
        ctx,
        &db(ctx),
        args,
        evidence_meta_select().filter(condition),
        &order,
        Evidence,
    )
    .await
}

/// One object by global ID, through the caller's loaders (so within its scope): an ID
/// outside the scope answers exactly as an unknown one.
async fn find_node(ctx: &Context<'_>, gid: &ID) -> AppResult<Node> {
    let (type_name, raw) = id::decode_any(gid)?;
    let node = match type_name.as_str() {
        "Regulator" => load_row(ctx, RegulatorById(raw))
            .await?
            .map(|r| Node::Regulator(Regulator(r))),
        "Order" => load_row(ctx, OrderById(raw))
            .await?
            .map(|r| Node::Order(Order(r))),
        "Finding" => load_row(ctx, FindingById(raw))
            .await?
            .map(|r| Node::Finding(Finding(r))),
        "Measure" => load_row(ctx, MeasureById(raw))
            .await?
            .map(|r| Node::Measure(Measure(r))),
        "Owner" => load_row(ctx, OwnerById(raw))
            .await?
            .map(|r| Node::Owner(Owner(r))),
        "System" => load_row(ctx, SystemById(raw))
            .await?
            .map(|r| Node::System(System(r))),
        "Evidence" => load::<_, Vec<EvidenceMeta>>(ctx, EvidenceById(raw))
            .await?
            .into_iter()
            .next()
            .map(|e| Node::Evidence(Evidence(e))),
        "Report" => load_row(ctx, ReportById(raw))
            .await?
            .map(|r| Node::Report(Report(r))),
        "Evaluation" => load_row(ctx, EvaluationById(raw))
            .await?
            .map(|r| Node::Evaluation(Evaluation(r))),
        "Evaluator" => load_row(ctx, EvaluatorById(raw))
            .await?
            .map(|r| Node::Evaluator(Evaluator(r))),
        "Occurrence" => load_row(ctx, OccurrenceById(raw))
            .await?
            .map(|r| Node::Occurrence(Occurrence(r))),
        "ChangeRequest" => load_row(ctx, ChangeRequestById(raw))
            .await?
            .map(|r| Node::ChangeRequest(ChangeRequest(r))),
        _ => None,
    };
    node.ok_or_else(|| AppError::not_found("node"))
}

#[derive(Default)]
pub struct PlanQuery;

#[Object]
impl PlanQuery {
    /// Any object by its global ID, or null with a `NOT_FOUND` error. An ID outside the
    /// caller's scope answers exactly as an unknown one.
    #[graphql(guard = "Requires(Permission::ReadPlan)")]
    async fn node(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(desc = "The plan as it stood at the end of this day (UTC); default: now.")]
        as_of: Option<Date>,
        #[graphql(desc = "As the database knew it at this instant; default: as known now.")]
        known_at: Option<DateTime<Utc>>,
    ) -> AppResult<Option<Node>> {
        tense::set(ctx, tense::requested(as_of, known_at)?);
        find_node(ctx, &id).await.map(Some)
    }

    /// Several objects by global ID, in the order asked: null, with a `NOT_FOUND` error at
    /// its index, for each one not found (or outside the caller's scope). Loaded together
    /// (one statement per type).
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "ids.len() * child_complexity + 1"
    )]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        #[graphql(desc = "The plan as it stood at the end of this day (UTC); default: now.")]
        as_of: Option<Date>,
        #[graphql(desc = "As the database knew it at this instant; default: as known now.")]
        known_at: Option<DateTime<Utc>>,
    ) -> AppResult<Vec<Option<Node>>> {
        tense::set(ctx, tense::requested(as_of, known_at)?);
        if ids.len() as u64 > limits(ctx).max_page_size {
            return Err(AppError::validation(
                "ids",
                format!("at most {} IDs", limits(ctx).max_page_size),
            ));
        }
        let found = futures_util::future::join_all(ids.iter().map(|gid| find_node(ctx, gid))).await;
        let mut out = Vec::with_capacity(ids.len());
        for (i, node) in found.into_iter().enumerate() {
            out.push(match node {
                Ok(n) => Some(n),
                // The entry is null and the error says where (a list item's error would
                // otherwise fail the whole list).
                Err(e @ AppError::NotFound(_)) => {
                    let mut err = ctx.set_error_path(
                        async_graphql::Error::from(e).into_server_error(ctx.item.pos),
                    );
                    err.path.push(async_graphql::PathSegment::Index(i));
                    ctx.add_error(err);
                    None
                }
                Err(e) => return Err(e),
            });
        }
        Ok(out)
    }

    /// Regulators, by code (an order-scoped caller sees those of its orders).
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    async fn regulators(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Regulator>> {
        let who = caller(ctx)?;
        let select = regulator::Entity::find()
            .filter(scope::regulators(who))
            .filter(regulator::Column::ArchivedAt.is_null());
        let order = Keyset::asc(regulator::Column::Code).then_asc(regulator::Column::Id);
        from_select(
            ctx,
            &db(ctx),
            &PageArgs::new(first, after, last, before),
            select,
            &order,
            Regulator,
        )
        .await
    }

    /// Orders, oldest first.
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrderFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        #[graphql(desc = "The plan as it stood at the end of this day (UTC); default: now.")]
        as_of: Option<Date>,
        #[graphql(desc = "As the database knew it at this instant; default: as known now.")]
        known_at: Option<DateTime<Utc>>,
    ) -> AppResult<Conn<Order>> {
        tense::set(ctx, tense::requested(as_of, known_at)?);
        let who = caller(ctx)?;
        let f = filter.unwrap_or_default();
        let mut select = regulatory_order::Entity::find().filter(scope::orders(who));
        if !f.include_archived.unwrap_or(false) {
            select = select.filter(regulatory_order::Column::ArchivedAt.is_null());
        }
        if let Some(r) = &f.regulator_id {
            select = select
                .filter(regulatory_order::Column::RegulatorId.eq(id::decode(r, "Regulator")?));
        }
        if let Some(s) = f.status {
            select = select.filter(regulatory_order::Column::Status.eq(s));
        }
        if let Some(k) = f.kind {
            select = select.filter(regulatory_order::Column::Kind.eq(k));
        }
        let order =
            Keyset::asc(regulatory_order::Column::IssuedOn).then_asc(regulatory_order::Column::Id);
        from_select(
            ctx,
            &db(ctx),
            &PageArgs::new(first, after, last, before),
            select,
            &order,
            Order,
        )
        .await
    }

    /// One order by its reference (e.g. `METI-2022-06-30`).
    #[graphql(guard = "Requires(Permission::ReadPlan)")]
    async fn order_by_reference(&self, ctx: &Context<'_>, reference: String) -> AppResult<Order> {
        let who = caller(ctx)?;
        let row = regulatory_order::Entity::find()
            .filter(regulatory_order::Column::Reference.eq(reference.as_str()))
            .filter(scope::orders(who))
            .one(&db(ctx))
            .await?
            .ok_or_else(|| AppError::not_found(format!("order {reference:?}")))?;
        who.touch(row.id);
        Ok(Order(row))
    }

    /// Findings, by order then number.
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn findings(
        &self,
        ctx: &Context<'_>,
        filter: Option<FindingFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        #[graphql(desc = "The plan as it stood at the end of this day (UTC); default: now.")]
        as_of: Option<Date>,
        #[graphql(desc = "As the database knew it at this instant; default: as known now.")]
        known_at: Option<DateTime<Utc>>,
    ) -> AppResult<Conn<Finding>> {
        tense::set(ctx, tense::requested(as_of, known_at)?);
        let who = caller(ctx)?;
        let f = filter.unwrap_or_default();
        let mut select = finding::Entity::find()
            .filter(scope::findings(who))
            .filter(finding::Column::ArchivedAt.is_null());
        if let Some(o) = &f.order_id {
            select = select.filter(finding::Column::OrderId.eq(id::decode(o, "Order")?));
        }
        if let Some(c) = f.category {
            select = select.filter(finding::Column::Category.eq(c));
        }
        let order = Keyset::asc(finding::Column::OrderId).then_asc(finding::Column::Id);
        from_select(
            ctx,
            &db(ctx),
            &PageArgs::new(first, after, last, before),
            select,
            &order,
            Finding,
        )
        .await
    }

    /// Measures, filtered and ordered (by code by default; ties broken by ID).
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn measures(
        &self,
        ctx: &Context<'_>,
        filter: Option<MeasureFilter>,
        order_by: Option<MeasureOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        #[graphql(desc = "The plan as it stood at the end of this day (UTC); default: now.")]
        as_of: Option<Date>,
        #[graphql(desc = "As the database knew it at this instant; default: as known now.")]
        known_at: Option<DateTime<Utc>>,
    ) -> AppResult<Conn<ListedMeasure>> {
        tense::set(ctx, tense::requested(as_of, known_at)?);
        let who = caller(ctx)?;
        let f = filter.unwrap_or_default();
        let sort = order_by.unwrap_or_default();
        let select = measure::Entity::find()
            .filter(scope::measures(who))
            .filter(filter_condition(&f, tense::day(ctx), who.order_scope())?);
        let dir: SqlOrder = sort.direction.into();
        let column = match sort.field {
            MeasureOrderField::Code => measure::Column::Code,
            // Nullable: measures without a due date sort last in both directions.
            MeasureOrderField::DueOn => measure::Column::DueOn,
            MeasureOrderField::Status => measure::Column::Status,
            MeasureOrderField::Title => measure::Column::Title,
            MeasureOrderField::UpdatedAt => measure::Column::UpdatedAt,
        };
        let order = Keyset::by(column, dir.clone()).then(measure::Column::Id, dir);
        // Only the columns the selection renders, and the sort key the cursors carry.
        let narrow = narrow(ctx);
        let cols = Narrow::cols(&narrow).with(column);
        let decode = move |row: &sea_orm::QueryResult| cols.decode(row);
        let projection = narrow.is_some().then(|| Projection {
            columns: cols.columns().collect(),
            decode: &decode,
        });
        let conn = from_select_projected(
            ctx,
            &db(ctx),
            &PageArgs::new(first, after, last, before),
            select,
            &order,
            projection,
            Measure,
        )
        .await?;
        Ok(listed(conn, narrow))
    }

    /// Owners, by code (an order-scoped caller sees the owners of its measures).
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    async fn owners(
        &self,
        ctx: &Context<'_>,
        filter: Option<OwnerFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Owner>> {
        let who = caller(ctx)?;
        let mut select = owner::Entity::find()
            .filter(scope::owners(who))
            .filter(owner::Column::ArchivedAt.is_null());
        if let Some(k) = filter.and_then(|f| f.kind) {
            select = select.filter(owner::Column::Kind.eq(k));
        }
        let order = Keyset::asc(owner::Column::Code).then_asc(owner::Column::Id);
        from_select(
            ctx,
            &db(ctx),
            &PageArgs::new(first, after, last, before),
            select,
            &order,
            Owner,
        )
        .await
    }

    /// Systems, by code.
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    async fn systems(
        &self,
        ctx: &Context<'_>,
        filter: Option<SystemFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<System>> {
        let who = caller(ctx)?;
        let mut select = system::Entity::find()
            .filter(scope::systems(who))
            .filter(system::Column::ArchivedAt.is_null());
        if let Some(k) = filter.and_then(|f| f.kind) {
            select = select.filter(system::Column::Kind.eq(k));
        }
        let order = Keyset::asc(system::Column::Code).then_asc(system::Column::Id);
        from_select(
            ctx,
            &db(ctx),
            &PageArgs::new(first, after, last, before),
            select,
            &order,
            System,
        )
        .await
    }

    /// Evidence, oldest first.
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    async fn evidence(
        &self,
        ctx: &Context<'_>,
        filter: Option<EvidenceFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Evidence>> {
        let who = caller(ctx)?;
        let f = filter.unwrap_or_default();
        let mut c = scope::evidence(who);
        if let Some(m) = &f.measure_id {
            c = c.add(evidence::Column::MeasureId.eq(id::decode(m, "Measure")?));
        }
        if let Some(s) = &f.system_id {
            c = c.add(evidence::Column::SystemId.eq(id::decode(s, "System")?));
        }
        if let Some(k) = f.kind {
            c = c.add(evidence::Column::Kind.eq(k));
        }
        if let Some(d) = f.expiring_before {
            c = c.add(evidence::Column::ValidUntil.lt(d.0));
        }
        match f.current {
            Some(true) => c = c.add(current_evidence_condition(today())),
            Some(false) => c = c.add(current_evidence_condition(today()).not()),
            None => {}
        }
        evidence_connection(ctx, &PageArgs::new(first, after, last, before), c, false).await
    }

    /// Reports, by due date.
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn reports(
        &self,
        ctx: &Context<'_>,
        filter: Option<ReportFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        #[graphql(desc = "The plan as it stood at the end of this day (UTC); default: now.")]
        as_of: Option<Date>,
        #[graphql(desc = "As the database knew it at this instant; default: as known now.")]
        known_at: Option<DateTime<Utc>>,
    ) -> AppResult<Conn<Report>> {
        tense::set(ctx, tense::requested(as_of, known_at)?);
        let who = caller(ctx)?;
        let f = filter.unwrap_or_default();
        let mut select = report::Entity::find()
            .filter(scope::reports(who))
            .filter(report::Column::ArchivedAt.is_null());
        if let Some(o) = &f.order_id {
            select = select.filter(report::Column::OrderId.eq(id::decode(o, "Order")?));
        }
        if let Some(s) = f.status {
            select = select.filter(report::Column::Status.eq(s));
        }
        if let Some(d) = f.due_before {
            select = select.filter(report::Column::DueOn.lt(d.0));
        }
        let order = Keyset::asc(report::Column::DueOn).then_asc(report::Column::Id);
        from_select(
            ctx,
            &db(ctx),
            &PageArgs::new(first, after, last, before),
            select,
            &order,
            Report,
        )
        .await
    }

    /// Independent evaluators (committees, members, regulators), by code.
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    async fn evaluators(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Evaluator>> {
        let select = evaluator::Entity::find().filter(evaluator::Column::ArchivedAt.is_null());
        let order = Keyset::asc(evaluator::Column::Code).then_asc(evaluator::Column::Id);
        from_select(
            ctx,
            &db(ctx),
            &PageArgs::new(first, after, last, before),
            select,
            &order,
            Evaluator,
        )
        .await
    }

    /// Measures overdue on `asOf` (default today), earliest due first. With `asOf`, the plan
    /// as it stood at the end of that day (as known at `knownAt`).
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn overdue_measures(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plan as it stood at the end of this day (UTC); default: now.")]
        as_of: Option<Date>,
        #[graphql(desc = "As the database knew it at this instant; default: as known now.")]
        known_at: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<ListedMeasure>> {
        let who = caller(ctx)?;
        // Within the caller's scope (the dashboards' reads take it).
        tense::set(ctx, tense::requested(as_of, known_at)?);
        let reader = db(ctx);
        let rows = dashboard::overdue(&reader, who).await?;
        scope::touch(reader.live(), who, rows.iter().map(scope::InTrail::trail)).await?;
        from_vec(
            ctx,
            &PageArgs::new(first, after, last, before),
            rows,
            Measure,
        )
        .map(|c| listed(c, None))
    }

    /// Draft reports due within `withinDays` (default 30) of today, including those already late.
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    async fn upcoming_reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30)] within_days: i32,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Report>> {
        let who = caller(ctx)?;
        let until = today() + days_ahead(within_days)?;
        let select = report::Entity::find()
            .filter(scope::reports(who))
            .filter(report::Column::ArchivedAt.is_null())
            .filter(report::Column::Status.eq(ReportStatus::Draft))
            .filter(report::Column::DueOn.lte(until));
        let order = Keyset::asc(report::Column::DueOn).then_asc(report::Column::Id);
        from_select(
            ctx,
            &db(ctx),
            &PageArgs::new(first, after, last, before),
            select,
            &order,
            Report,
        )
        .await
    }

    /// Current evidence whose validity ends within `withinDays` (default 30) of today.
    #[graphql(
        guard = "Requires(Permission::ReadPlan)",
        complexity = "cost(first, last, child_complexity)"
    )]
    async fn expiring_evidence(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30)] within_days: i32,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Evidence>> {
        let who = caller(ctx)?;
        let day = today();
        let c = scope::evidence(who)
            .add(current_evidence_condition(day))
            .add(evidence::Column::ValidUntil.lte(day + days_ahead(within_days)?));
        evidence_connection(ctx, &PageArgs::new(first, after, last, before), c, true).await
    }

    /// Progress per regulator, per order and per finding category, as it stood on `asOf`
    /// (default: now). Figures count only what the caller may see.
    #[graphql(guard = "Requires(Permission::ReadPlan)")]
    async fn progress(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        #[graphql(desc = "As the database knew it at this instant (default: as known now).")]
        known_at: Option<DateTime<Utc>>,
    ) -> AppResult<Progress> {
        let tense = tense::requested(as_of, known_at)?;
        tense::set(ctx, tense);
        let work = dashboard::progress(
            ctx.data_unchecked::<DatabaseConnection>(),
            caller(ctx)?,
            tense,
            dashboard::Slipped::selected(ctx),
        );
        ctx.data_unchecked::<dashboard::Rollups>().run(work).await
    }
}
