//! Dashboards: progress rollups (now or as of a date), overdue measures, an order's timeline.
//!
//! "As of" a date: a measure exists once an order it answers was issued; its status is
//! derived from its recorded dates (done once its completion date has passed, in progress
//! once started); a recurring measure is overdue when the period after its last execution
//! recorded by then has ended.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_graphql::SimpleObject;
use chrono::NaiveDate;
use entity::enums::*;
use entity::*;
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, Query, UnionType, WithClause, WithQuery,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::object::{Order, Regulator};
use crate::auth::Caller;
use crate::db::in_ids;
use crate::domain::today;
use crate::error::AppResult;
use crate::service::measures::{overdue_condition, status_as_of};
use crate::service::scope;
use async_graphql::dataloader::{DataLoader, Loader as DlLoader};

/// Counts by status and the derived percentages.
#[derive(SimpleObject, Default, Clone, Debug, PartialEq)]
pub struct Figures {
    /// Measures counted.
    pub total: u64,
    /// Planned.
    pub planned: u64,
    /// In progress.
    pub in_progress: u64,
    /// Implemented (not yet verified).
    pub implemented: u64,
    /// Verified by current evidence.
    pub verified: u64,
    /// Deferred.
    pub deferred: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// Overdue.
    pub overdue: u64,
    /// Implemented or verified, in percent of the measures not cancelled (one decimal).
    pub percent_implemented: f64,
    /// Verified, in percent of the measures not cancelled (one decimal).
    pub percent_verified: f64,
}

#[derive(Default)]
struct Tally {
    by_status: BTreeMap<MeasureStatus, u64>,
    overdue: u64,
    total: u64,
}

impl Tally {
    /// Counts `n` measures in `status`, late or not.
    fn add(&mut self, status: MeasureStatus, overdue: bool, n: u64) {
        *self.by_status.entry(status).or_default() += n;
        self.total += n;
        if overdue {
            self.overdue += n;
        }
    }

    fn figures(&self) -> Figures {
        let n = |s| self.by_status.get(&s).copied().unwrap_or(0);
        let base = self.total - n(MeasureStatus::Cancelled);
        let pct = |x: u64| {
            if base == 0 {
                0.0
            } else {
                (x as f64 * 1000.0 / base as f64).round() / 10.0
            }
        };
        Figures {
            total: self.total,
            planned: n(MeasureStatus::Planned),
            in_progress: n(MeasureStatus::InProgress),
            implemented: n(MeasureStatus::Implemented),
            verified: n(MeasureStatus::Verified),
            deferred: n(MeasureStatus::Deferred),
            cancelled: n(MeasureStatus::Cancelled),
            overdue: self.overdue,
            percent_implemented: pct(n(MeasureStatus::Implemented) + n(MeasureStatus::Verified)),
            percent_verified: pct(n(MeasureStatus::Verified)),
        }
    }
}

/// Figures for one finding category.
#[derive(SimpleObject, Clone)]
pub struct CategoryProgress {
    /// The category.
    pub category: FindingCategory,
    /// How many findings of this category there are.
    pub findings: u64,
    /// The measures answering them.
    #[graphql(flatten)]
    pub figures: Figures,
}

/// Figures for one order.
#[derive(SimpleObject, Clone)]
pub struct OrderProgress {
    /// The order.
    pub order: Order,
    /// How many findings it has.
    pub findings: u64,
    /// Its measures.
    #[graphql(flatten)]
    pub figures: Figures,
    /// Per finding category.
    pub categories: Vec<CategoryProgress>,
}

/// Figures for one regulator (all its orders; a measure answering two orders counts once).
#[derive(SimpleObject)]
pub struct RegulatorProgress {
    /// The regulator.
    pub regulator: Regulator,
    /// Its measures.
    #[graphql(flatten)]
    pub figures: Figures,
}

/// The progress dashboard.
#[derive(SimpleObject)]
pub struct Progress {
    /// The date the figures describe.
    pub as_of: crate::date::Date,
    /// Every measure the caller sees.
    #[graphql(flatten)]
    pub figures: Figures,
    /// Per regulator.
    pub regulators: Vec<RegulatorProgress>,
    /// Per order.
    pub orders: Vec<OrderProgress>,
    /// Per finding category, across orders.
    pub categories: Vec<CategoryProgress>,
}

pub use crate::domain::overdue_as_of;

/// Everything the historical rollups need, loaded in a fixed number of statements.
struct Plan {
    regulators: Vec<regulator::Model>,
    orders: Vec<regulatory_order::Model>,
    findings: Vec<finding::Model>,
    links: Vec<measure_finding::Model>,
    measures: HashMap<i64, measure::Model>,
    /// Recorded executions, by measure.
    occurrences: HashMap<i64, Vec<occurrence::Model>>,
}

/// The recorded executions of one measure, from executions grouped by measure.
fn executions(by_measure: &HashMap<i64, Vec<occurrence::Model>>, id: i64) -> &[occurrence::Model] {
    by_measure.get(&id).map(Vec::as_slice).unwrap_or(&[])
}

/// The orders the caller sees (not archived), oldest first, and their regulators by code.
async fn visible_orders(
    db: &DatabaseConnection,
    who: &Caller,
    only: Option<&[i64]>,
) -> AppResult<(Vec<regulatory_order::Model>, Vec<regulator::Model>)> {
    let mut select = regulatory_order::Entity::find()
        .filter(scope::orders(who))
        .filter(regulatory_order::Column::ArchivedAt.is_null());
    if let Some(ids) = only {
        select = select.filter(in_ids(regulatory_order::Column::Id, ids.iter().copied()));
    }
    let orders = select
        .order_by_asc(regulatory_order::Column::IssuedOn)
        .order_by_asc(regulatory_order::Column::Id)
        .all(db)
        .await?;
    let regulator_ids: BTreeSet<i64> = orders.iter().map(|o| o.regulator_id).collect();
    let regulators = regulator::Entity::find()
        .filter(in_ids(regulator::Column::Id, regulator_ids))
        .order_by_asc(regulator::Column::Code)
        .all(db)
        .await?;
    Ok((orders, regulators))
}

async fn load_plan(db: &DatabaseConnection, who: &Caller) -> AppResult<Plan> {
    let (orders, regulators) = visible_orders(db, who, None).await?;
    let order_ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    let findings = finding::Entity::find()
        .filter(in_ids(finding::Column::OrderId, order_ids.clone()))
        .filter(finding::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let finding_ids: Vec<i64> = findings.iter().map(|f| f.id).collect();
    let links = measure_finding::Entity::find()
        .filter(in_ids(measure_finding::Column::FindingId, finding_ids))
        .all(db)
        .await?;
    let measures: HashMap<i64, measure::Model> = measure::Entity::find()
        .filter(measure::Column::Id.in_subquery(scope::measures_of_orders(order_ids)))
        .filter(measure::Column::ArchivedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let mut occurrences: HashMap<i64, Vec<occurrence::Model>> = HashMap::new();
    for o in occurrence::Entity::find()
        .filter(in_ids(
            occurrence::Column::MeasureId,
            measures.keys().copied(),
        ))
        .all(db)
        .await?
    {
        occurrences.entry(o.measure_id).or_default().push(o);
    }
    Ok(Plan {
        regulators,
        orders,
        findings,
        links,
        measures,
        occurrences,
    })
}

const CATEGORIES: [FindingCategory; 4] = [
    FindingCategory::Organizational,
    FindingCategory::Technical,
    FindingCategory::Physical,
    FindingCategory::Human,
];

/// The groups the dashboard reports on. A measure is counted once per group it falls in,
/// however many of the group's findings it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    /// One finding category of one order.
    OrderCategory(i64, FindingCategory),
    /// One order.
    Order(i64),
    /// Every order of one regulator.
    Regulator(i64),
    /// One finding category across orders.
    Category(FindingCategory),
    /// Everything.
    All,
}

/// The tallies of every group and the number of findings per order and category.
#[derive(Default)]
struct Rollup {
    tallies: BTreeMap<Group, Tally>,
    findings: BTreeMap<(i64, FindingCategory), u64>,
}

impl Rollup {
    fn figures(&self, g: Group) -> Figures {
        self.tallies
            .get(&g)
            .map(Tally::figures)
            .unwrap_or_else(|| Tally::default().figures())
    }

    /// The dashboard of `orders` (and their `regulators`) from these tallies.
    fn assemble(
        &self,
        day: NaiveDate,
        orders: &[regulatory_order::Model],
        regulators: &[regulator::Model],
    ) -> Progress {
        // Findings per order and per category, summed once (not per row of the dashboard).
        let mut of_order: HashMap<i64, u64> = HashMap::new();
        let mut of_category: HashMap<FindingCategory, u64> = HashMap::new();
        for ((o, c), n) in &self.findings {
            *of_order.entry(*o).or_default() += n;
            *of_category.entry(*c).or_default() += n;
        }
        let category_rows = |order: Option<i64>| -> Vec<CategoryProgress> {
            CATEGORIES
                .iter()
                .filter_map(|c| {
                    let n = match order {
                        Some(o) => self.findings.get(&(o, *c)).copied().unwrap_or(0),
                        None => of_category.get(c).copied().unwrap_or(0),
                    };
                    let g = match order {
                        Some(o) => Group::OrderCategory(o, *c),
                        None => Group::Category(*c),
                    };
                    (n > 0 || self.tallies.contains_key(&g)).then(|| CategoryProgress {
                        category: *c,
                        findings: n,
                        figures: self.figures(g),
                    })
                })
                .collect()
        };
        Progress {
            as_of: day.into(),
            figures: self.figures(Group::All),
            regulators: regulators
                .iter()
                .filter(|r| orders.iter().any(|o| o.regulator_id == r.id))
                .map(|r| RegulatorProgress {
                    regulator: Regulator(r.clone()),
                    figures: self.figures(Group::Regulator(r.id)),
                })
                .collect(),
            orders: orders
                .iter()
                .map(|o| OrderProgress {
                    order: Order(o.clone()),
                    findings: of_order.get(&o.id).copied().unwrap_or(0),
                    figures: self.figures(Group::Order(o.id)),
                    categories: category_rows(Some(o.id)),
                })
                .collect(),
            categories: category_rows(None),
        }
    }
}

/// The progress dashboard for what the caller sees: today's figures are rolled up in SQL
/// from the recorded statuses; figures as of a date are derived from the recorded dates.
pub async fn progress(
    db: &DatabaseConnection,
    who: &Caller,
    as_of: Option<NaiveDate>,
) -> AppResult<Progress> {
    match as_of {
        None => progress_now(db, who, None).await,
        Some(day) => progress_as_of(db, who, day).await,
    }
}

/// The figures of several orders at once (today's, or as of a date), in the same number of
/// statements as one: what `Order.progress` costs for a whole page of orders.
pub async fn orders_progress(
    db: &DatabaseConnection,
    who: &Caller,
    order_ids: &[i64],
    as_of: Option<NaiveDate>,
) -> AppResult<HashMap<i64, OrderProgress>> {
    let p = match as_of {
        None => progress_now(db, who, Some(order_ids)).await?,
        Some(day) => progress_as_of(db, who, day).await?,
    };
    Ok(p.orders
        .into_iter()
        .filter(|o| order_ids.contains(&o.order.0.id))
        .map(|o| (o.order.0.id, o))
        .collect())
}

/// Per-request loaders of caller-dependent figures (the schema-wide loaders know no caller):
/// `Order.progress` of every order a request selects is computed in one batch per date.
#[derive(Default)]
pub struct PerRequest {
    progress: std::sync::OnceLock<DataLoader<ProgressLoader>>,
    delay: std::time::Duration,
}

impl PerRequest {
    /// Loaders that gather keys for `delay` (`REMEDY_LOADER_DELAY_MS`) before a batch.
    pub fn new(delay: std::time::Duration) -> Self {
        Self {
            progress: std::sync::OnceLock::new(),
            delay,
        }
    }

    fn progress(&self, db: &DatabaseConnection, who: &Caller) -> &DataLoader<ProgressLoader> {
        self.progress.get_or_init(|| {
            DataLoader::new(
                ProgressLoader {
                    db: db.clone(),
                    who: who.clone(),
                },
                tokio::spawn,
            )
            .delay(self.delay)
        })
    }
}

/// Loads `(order, as of)` figures for one caller.
pub struct ProgressLoader {
    db: DatabaseConnection,
    who: Caller,
}

impl DlLoader<(i64, Option<NaiveDate>)> for ProgressLoader {
    type Value = OrderProgress;
    type Error = crate::error::AppError;

    async fn load(
        &self,
        keys: &[(i64, Option<NaiveDate>)],
    ) -> AppResult<HashMap<(i64, Option<NaiveDate>), OrderProgress>> {
        let mut by_day: BTreeMap<Option<NaiveDate>, Vec<i64>> = BTreeMap::new();
        for (order, day) in keys {
            by_day.entry(*day).or_default().push(*order);
        }
        let mut out = HashMap::new();
        for (day, orders) in by_day {
            for (id, p) in orders_progress(&self.db, &self.who, &orders, day).await? {
                out.insert((id, day), p);
            }
        }
        Ok(out)
    }
}

/// `Order.progress`, batched through the request's [`PerRequest`] (every operation gets one
/// in `crate::pipeline`).
pub async fn progress_of_order(
    ctx: &async_graphql::Context<'_>,
    order_id: i64,
    as_of: Option<NaiveDate>,
) -> AppResult<Option<OrderProgress>> {
    let db = ctx.data_unchecked::<DatabaseConnection>();
    let who = crate::auth::caller(ctx)?;
    let per = ctx.data_opt::<PerRequest>().ok_or_else(|| {
        crate::error::AppError::from(anyhow::anyhow!("the request carries no PerRequest loaders"))
    })?;
    per.progress(db, who).load_one((order_id, as_of)).await
}

/// One line of the SQL rollup: how many measures of a group are in a status, late or not.
#[derive(FromQueryResult)]
struct RollupRow {
    lvl: i64,
    k: Option<i64>,
    cat: Option<FindingCategory>,
    status: MeasureStatus,
    late: i64,
    n: i64,
}

#[derive(FromQueryResult)]
struct FindingCount {
    order_id: i64,
    category: FindingCategory,
    n: i64,
}

/// Today's figures in two statements (after the orders): the findings per order and
/// category, and one `WITH … UNION ALL` statement that counts measures per group, status
/// and lateness, so only the figures leave the database, whatever the plan's size.
async fn progress_now(
    db: &DatabaseConnection,
    who: &Caller,
    only: Option<&[i64]>,
) -> AppResult<Progress> {
    let day = today();
    let (orders, regulators) = visible_orders(db, who, only).await?;
    for o in &orders {
        who.touch(o.id);
    }
    let order_ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    let mut rollup = Rollup::default();
    if order_ids.is_empty() {
        return Ok(rollup.assemble(day, &orders, &regulators));
    }
    // A scoped caller's (or one order's) ids are listed; everyone else's orders are every
    // order not archived, a subquery rather than a list of every id.
    let listed = (who.is_scoped() || only.is_some()).then_some(order_ids.as_slice());
    let counts: Vec<FindingCount> = finding::Entity::find()
        .select_only()
        .column(finding::Column::OrderId)
        .column(finding::Column::Category)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(of_orders(listed))
        .filter(finding::Column::ArchivedAt.is_null())
        .group_by(finding::Column::OrderId)
        .group_by(finding::Column::Category)
        .into_model()
        .all(db)
        .await?;
    for c in counts {
        rollup
            .findings
            .insert((c.order_id, c.category), c.n.max(0) as u64);
    }
    let stmt = db
        .get_database_backend()
        .build(&rollup_statement(listed, day));
    for r in RollupRow::find_by_statement(stmt).all(db).await? {
        let g = match (r.lvl, r.k, r.cat) {
            (0, Some(o), Some(c)) => Group::OrderCategory(o, c),
            (1, Some(o), _) => Group::Order(o),
            (2, Some(reg), _) => Group::Regulator(reg),
            (3, _, Some(c)) => Group::Category(c),
            (4, _, _) => Group::All,
            _ => continue,
        };
        rollup
            .tallies
            .entry(g)
            .or_default()
            .add(r.status, r.late != 0, r.n.max(0) as u64);
    }
    Ok(rollup.assemble(day, &orders, &regulators))
}

/// Findings of these orders, or of every order not archived.
fn of_orders(orders: Option<&[i64]>) -> Condition {
    Condition::all().add(match orders {
        Some(ids) => in_ids(finding::Column::OrderId, ids.iter().copied()),
        None => finding::Column::OrderId.in_subquery(
            Query::select()
                .column(regulatory_order::Column::Id)
                .from(regulatory_order::Entity)
                .and_where(regulatory_order::Column::ArchivedAt.is_null())
                .to_owned(),
        ),
    })
}

/// The rollup statement: `x` holds each link of a measure to a finding with the finding's
/// order, category and regulator, the measure's status and whether it is late
/// ([`overdue_condition`], the rule the `overdue` filter uses); each branch of the union
/// counts one level of the dashboard, a measure once per group (`COUNT(DISTINCT)`). `x` is
/// deliberately not `DISTINCT` itself: that made PostgreSQL plan a parallel aggregate, which
/// took as long alone and twice the CPU under concurrent dashboards (BENCHMARKS.md).
fn rollup_statement(orders: Option<&[i64]>, day: NaiveDate) -> WithQuery {
    let x = Alias::new("x");
    let col = |t: &str| Expr::col(Alias::new(t));
    let late = Expr::case(overdue_condition(day), 1).finally(0);
    let base = scope::links_with_orders()
        .expr_as(
            Expr::col((
                regulatory_order::Entity,
                regulatory_order::Column::RegulatorId,
            )),
            Alias::new("regulator_id"),
        )
        .expr_as(
            Expr::col((finding::Entity, finding::Column::OrderId)),
            Alias::new("order_id"),
        )
        .expr_as(
            Expr::col((finding::Entity, finding::Column::Category)),
            Alias::new("category"),
        )
        .expr_as(
            Expr::col((measure::Entity, measure::Column::Id)),
            Alias::new("measure_id"),
        )
        .expr_as(
            Expr::col((measure::Entity, measure::Column::Status)),
            Alias::new("status"),
        )
        .expr_as(late, Alias::new("late"))
        .inner_join(
            measure::Entity,
            Expr::col((measure::Entity, measure::Column::Id))
                .equals((measure_finding::Entity, measure_finding::Column::MeasureId)),
        )
        .cond_where(of_orders(orders))
        .and_where(finding::Column::ArchivedAt.is_null())
        .and_where(measure::Column::ArchivedAt.is_null())
        .to_owned();
    // (level, key column, by category?)
    let branch = |lvl: i64, key: Option<&str>, by_category: bool| {
        let mut s = Query::select();
        s.expr_as(
            Expr::cust(format!("CAST({lvl} AS BIGINT)")),
            Alias::new("lvl"),
        );
        match key {
            Some(k) => s.expr_as(col(k), Alias::new("k")),
            None => s.expr_as(Expr::cust("CAST(NULL AS BIGINT)"), Alias::new("k")),
        };
        if by_category {
            s.expr_as(col("category"), Alias::new("cat"));
        } else {
            s.expr_as(Expr::cust("CAST(NULL AS TEXT)"), Alias::new("cat"));
        }
        s.column(Alias::new("status"))
            .expr_as(Expr::cust("CAST(late AS BIGINT)"), Alias::new("late"))
            .expr_as(Expr::cust("COUNT(DISTINCT measure_id)"), Alias::new("n"))
            .from(x.clone());
        if let Some(k) = key {
            s.group_by_col(Alias::new(k));
        }
        if by_category {
            s.group_by_col(Alias::new("category"));
        }
        s.group_by_col(Alias::new("status"))
            .group_by_col(Alias::new("late"));
        s
    };
    let mut union = branch(0, Some("order_id"), true);
    union
        .union(UnionType::All, branch(1, Some("order_id"), false))
        .union(UnionType::All, branch(2, Some("regulator_id"), false))
        .union(UnionType::All, branch(3, None, true))
        .union(UnionType::All, branch(4, None, false));
    let cte = CommonTableExpression::new()
        .query(base)
        .table_name(x)
        .to_owned();
    union.with(WithClause::new().cte(cte).to_owned())
}

/// The dashboard as it stood on `day`, from the recorded dates (see the module docs).
async fn progress_as_of(
    db: &DatabaseConnection,
    who: &Caller,
    day: NaiveDate,
) -> AppResult<Progress> {
    let plan = load_plan(db, who).await?;
    for o in &plan.orders {
        who.touch(o.id);
    }
    // Orders that existed on the day.
    let orders: Vec<regulatory_order::Model> = plan
        .orders
        .iter()
        .filter(|o| o.issued_on <= day)
        .cloned()
        .collect();
    let regulator_of: HashMap<i64, i64> = orders.iter().map(|o| (o.id, o.regulator_id)).collect();
    let mut rollup = Rollup::default();
    let findings: HashMap<i64, &finding::Model> = plan
        .findings
        .iter()
        .filter(|f| regulator_of.contains_key(&f.order_id))
        .map(|f| (f.id, f))
        .collect();
    for f in findings.values() {
        *rollup.findings.entry((f.order_id, f.category)).or_default() += 1;
    }
    // The groups each measure falls in, through its findings of the day's orders.
    let mut groups: HashMap<i64, BTreeSet<Group>> = HashMap::new();
    for l in &plan.links {
        let (Some(f), true) = (
            findings.get(&l.finding_id),
            plan.measures.contains_key(&l.measure_id),
        ) else {
            continue;
        };
        groups.entry(l.measure_id).or_default().extend([
            Group::OrderCategory(f.order_id, f.category),
            Group::Order(f.order_id),
            Group::Regulator(regulator_of[&f.order_id]),
            Group::Category(f.category),
            Group::All,
        ]);
    }
    for (id, gs) in groups {
        let m = &plan.measures[&id];
        let status = status_as_of(m, day);
        let late = overdue_as_of(m, day, executions(&plan.occurrences, id));
        for g in gs {
            rollup.tallies.entry(g).or_default().add(status, late, 1);
        }
    }
    Ok(rollup.assemble(day, &orders, &plan.regulators))
}

/// Measures overdue on a day (today by default), earliest due first, then by code.
pub async fn overdue(
    db: &DatabaseConnection,
    who: &Caller,
    as_of: Option<NaiveDate>,
) -> AppResult<Vec<measure::Model>> {
    let mut rows = match as_of {
        // Today: the late measures of the visible orders, selected in SQL.
        None => {
            let (orders, _) = visible_orders(db, who, None).await?;
            measure::Entity::find()
                .filter(
                    measure::Column::Id
                        .in_subquery(scope::measures_of_orders(orders.iter().map(|o| o.id))),
                )
                .filter(measure::Column::ArchivedAt.is_null())
                .filter(overdue_condition(today()))
                .all(db)
                .await?
        }
        // A past day: measures of the orders issued by then, late by their recorded dates.
        Some(d) => {
            let plan = load_plan(db, who).await?;
            let orders: BTreeSet<i64> = plan
                .orders
                .iter()
                .filter(|o| o.issued_on <= d)
                .map(|o| o.id)
                .collect();
            let findings: BTreeSet<i64> = plan
                .findings
                .iter()
                .filter(|f| orders.contains(&f.order_id))
                .map(|f| f.id)
                .collect();
            let existing: BTreeSet<i64> = plan
                .links
                .iter()
                .filter(|l| findings.contains(&l.finding_id))
                .map(|l| l.measure_id)
                .collect();
            plan.measures
                .into_values()
                .filter(|m| existing.contains(&m.id))
                .filter(|m| overdue_as_of(m, d, executions(&plan.occurrences, m.id)))
                .collect()
        }
    };
    rows.sort_by(|a, b| {
        let due = |m: &measure::Model| m.due_on.or(m.next_due_on);
        (due(a).is_none(), due(a), &a.code, a.id).cmp(&(due(b).is_none(), due(b), &b.code, b.id))
    });
    Ok(rows)
}
