//! Dashboards: progress rollups (now or as of a date), overdue measures, an order's timeline.
//!
//! "As of" a date, the same statements run against the plan as it stood at the end of that
//! day (and, with `knownAt`, as the database knew it then): titles, due dates, owners, links
//! and statuses from the history (`service::history`), orders issued by then.
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
use crate::service::history::{self, Reader, Tense};
use crate::service::measures::overdue_condition;
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
    /// Whose due date was moved later at least once (as the plan stood on the date).
    pub slipped: u64,
    /// Implemented or verified, in percent of the measures not cancelled (one decimal).
    pub percent_implemented: f64,
    /// Verified, in percent of the measures not cancelled (one decimal).
    pub percent_verified: f64,
    /// Periods of recurring measures (not cancelled or deferred) come due and recorded on
    /// time.
    pub periods_done: u64,
    /// Periods come due and recorded after their due date.
    pub periods_late: u64,
    /// Periods come due, neither recorded nor skipped.
    pub periods_missed: u64,
    /// `periodsDone` in percent of `periodsDone + periodsLate + periodsMissed` (one decimal);
    /// null when no period has come due.
    pub on_time_rate: Option<f64>,
}

#[derive(Default)]
struct Tally {
    by_status: BTreeMap<MeasureStatus, u64>,
    overdue: u64,
    slipped: u64,
    total: u64,
}

impl Tally {
    /// Counts `n` measures in `status`, late or not.
    fn add(&mut self, status: MeasureStatus, overdue: bool, n: u64, slipped: u64) {
        *self.by_status.entry(status).or_default() += n;
        self.total += n;
        self.slipped += slipped;
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
            slipped: self.slipped,
            percent_implemented: pct(n(MeasureStatus::Implemented) + n(MeasureStatus::Verified)),
            percent_verified: pct(n(MeasureStatus::Verified)),
            ..Figures::default()
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

/// The orders the caller sees (not archived), oldest first, and their regulators by code.
async fn visible_orders(
    db: &Reader,
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
    /// Periods done, late and missed per group, each recurring measure counted once.
    periods: BTreeMap<Group, (u64, u64, u64)>,
}

impl Rollup {
    fn figures(&self, g: Group) -> Figures {
        let mut f = self
            .tallies
            .get(&g)
            .map(Tally::figures)
            .unwrap_or_else(|| Tally::default().figures());
        let (done, late, missed) = self.periods.get(&g).copied().unwrap_or_default();
        f.periods_done = done;
        f.periods_late = late;
        f.periods_missed = missed;
        f.on_time_rate = crate::domain::on_time_rate(done, late, missed);
        f
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

/// The budget of dashboard rollups (`progress`, `Order.progress`), shared by every request
/// of a server. A rollup scans every measure–finding link the caller sees, so a burst of
/// dashboards could hold every pooled connection and starve the rest of the API, then fail
/// with the pool's acquire timeout. Instead at most `REMEDY_DASHBOARD_CONCURRENCY` rollups
/// run at once; up to `REMEDY_DASHBOARD_QUEUE` more wait their turn, each for at most
/// `REMEDY_DASHBOARD_WAIT_SECONDS`; beyond either, `OVERLOADED` (with `Retry-After`).
#[derive(Clone)]
pub struct Rollups {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    queue: usize,
    wait: std::time::Duration,
}

impl Rollups {
    pub fn new(concurrency: usize, queue: usize, wait: std::time::Duration) -> Self {
        Self {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            waiting: Default::default(),
            queue,
            wait,
        }
    }

    pub fn from_config(cfg: &crate::config::ServerConfig) -> Self {
        Self::new(
            cfg.dashboard_concurrency,
            cfg.dashboard_queue,
            std::time::Duration::from_secs(cfg.dashboard_wait_seconds),
        )
    }

    /// Runs `work` when its turn comes, or refuses it with `OVERLOADED`.
    pub async fn run<T>(
        &self,
        work: impl std::future::Future<Output = AppResult<T>>,
    ) -> AppResult<T> {
        use std::sync::atomic::Ordering;
        let _permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Counted while waiting, also when the request is dropped meanwhile.
                struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
                impl Drop for Waiting<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(crate::error::AppError::Overloaded(format!(
                        "{} dashboard rollups are waiting already (REMEDY_DASHBOARD_QUEUE)",
                        self.queue
                    )));
                }
                let _waiting = Waiting(&self.waiting);
                let turn = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned());
                match turn.await {
                    Ok(Ok(p)) => p,
                    _ => return Err(self.too_long()),
                }
            }
        };
        work.await
    }

    fn too_long(&self) -> crate::error::AppError {
        crate::error::AppError::Overloaded(format!(
            "no dashboard rollup finished within {} s (REMEDY_DASHBOARD_WAIT_SECONDS)",
            self.wait.as_secs()
        ))
    }

    /// Takes one turn and keeps it until the permit is dropped (tests: a rollup that never
    /// ends).
    pub async fn hold(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }
}

/// The progress dashboard for what the caller sees, rolled up in SQL: today's from the live
/// tables, or as the plan stood at `tense` (`service::history`) with the same statements.
pub async fn progress(
    db: &DatabaseConnection,
    who: &Caller,
    tense: Option<Tense>,
    slipped: Slipped,
) -> AppResult<Progress> {
    rollup(&Reader::new(db, tense), who, None, slipped).await
}

/// Whether the figures include `slipped` (a measure whose due date moved later, read from
/// the history): the one figure that reads every version of every counted measure, so it is
/// computed only when a response selects it (without, it counts 0 and is not shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slipped(pub bool);

impl Slipped {
    /// Whether a field named `slipped` is selected anywhere under the field being resolved.
    pub fn selected(ctx: &async_graphql::Context<'_>) -> Self {
        fn under(field: async_graphql::SelectionField<'_>) -> bool {
            field
                .selection_set()
                .any(|f| f.name() == "slipped" || under(f))
        }
        Slipped(under(ctx.field()))
    }
}

/// The figures of several orders at once (today's, or as of a date), in the same number of
/// statements as one: what `Order.progress` costs for a whole page of orders.
pub async fn orders_progress(
    db: &DatabaseConnection,
    who: &Caller,
    order_ids: &[i64],
    tense: Option<Tense>,
    slipped: Slipped,
) -> AppResult<HashMap<i64, OrderProgress>> {
    let p = rollup(&Reader::new(db, tense), who, Some(order_ids), slipped).await?;
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

    fn progress(
        &self,
        db: &DatabaseConnection,
        who: &Caller,
        rollups: &Rollups,
    ) -> &DataLoader<ProgressLoader> {
        self.progress.get_or_init(|| {
            DataLoader::new(
                ProgressLoader {
                    db: db.clone(),
                    who: who.clone(),
                    rollups: rollups.clone(),
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
    rollups: Rollups,
}

impl DlLoader<(i64, Option<Tense>, Slipped)> for ProgressLoader {
    type Value = OrderProgress;
    type Error = crate::error::AppError;

    async fn load(
        &self,
        keys: &[(i64, Option<Tense>, Slipped)],
    ) -> AppResult<HashMap<(i64, Option<Tense>, Slipped), OrderProgress>> {
        let mut by_day: BTreeMap<(Option<Tense>, Slipped), Vec<i64>> = BTreeMap::new();
        for (order, day, slipped) in keys {
            by_day.entry((*day, *slipped)).or_default().push(*order);
        }
        let mut out = HashMap::new();
        for ((day, slipped), orders) in by_day {
            let figures = self
                .rollups
                .run(orders_progress(&self.db, &self.who, &orders, day, slipped))
                .await?;
            for (id, p) in figures {
                out.insert((id, day, slipped), p);
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
    tense: Option<Tense>,
) -> AppResult<Option<OrderProgress>> {
    let db = ctx.data_unchecked::<DatabaseConnection>();
    let who = crate::auth::caller(ctx)?;
    let per = ctx.data_opt::<PerRequest>().ok_or_else(|| {
        crate::error::AppError::from(anyhow::anyhow!("the request carries no PerRequest loaders"))
    })?;
    let slipped = Slipped::selected(ctx);
    per.progress(db, who, ctx.data_unchecked::<Rollups>())
        .load_one((order_id, tense, slipped))
        .await
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
    s: i64,
}

#[derive(FromQueryResult)]
struct FindingCount {
    order_id: i64,
    category: FindingCategory,
    n: i64,
}

/// The figures in three statements (after the orders): the findings per order and category,
/// one `WITH … UNION ALL` statement that counts measures per group, status and lateness,
/// and one that gives each recurring measure's periods done, late and skipped (counts, not
/// rows of executions; the periods come due are computed from the schedule), so only
/// figures leave the database, whatever the plan's size. As of a date, the
/// reader stands at that date and orders issued after it are left out.
async fn rollup(
    db: &Reader,
    who: &Caller,
    only: Option<&[i64]>,
    slipped: Slipped,
) -> AppResult<Progress> {
    let day = db.tense().map_or_else(today, |t| t.day);
    let (mut orders, regulators) = visible_orders(db, who, only).await?;
    orders.retain(|o| o.issued_on <= day);
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
        .filter(of_orders(listed, day))
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
    let backend = db.get_database_backend();
    let stmt = backend.build(&rollup_statement(listed, day, backend, db.tense(), slipped));
    for r in RollupRow::find_by_statement(stmt).all(db).await? {
        let g = match (r.lvl, r.k, r.cat) {
            (0, Some(o), Some(c)) => Group::OrderCategory(o, c),
            (1, Some(o), _) => Group::Order(o),
            (2, Some(reg), _) => Group::Regulator(reg),
            (3, _, Some(c)) => Group::Category(c),
            (4, _, _) => Group::All,
            _ => continue,
        };
        rollup.tallies.entry(g).or_default().add(
            r.status,
            r.late != 0,
            r.n.max(0) as u64,
            r.s.max(0) as u64,
        );
    }
    // The ledgers of the recurring measures: one statement, one row per link of such a
    // measure with its counts; the periods come due are counted, not enumerated.
    let stmt = backend.build(&periods_statement(listed, day));
    let mut counted: BTreeSet<(Group, i64)> = BTreeSet::new();
    for r in PeriodRow::find_by_statement(stmt).all(db).await? {
        let m = measure::Model {
            recurrence: r.recurrence,
            anchor_on: r.anchor_on,
            started_on: r.started_on,
            completed_on: r.completed_on,
            ..placeholder_measure()
        };
        let Some(anchor) = crate::domain::schedule_anchor(&m) else {
            continue;
        };
        let due = crate::domain::periods_due_before(r.recurrence, anchor, r.grace_days, day);
        let (done, late, skipped) = (r.done.max(0), r.late.max(0), r.skipped.max(0));
        let missed = (due - done - late - skipped).max(0);
        for g in [
            Group::OrderCategory(r.order_id, r.category),
            Group::Order(r.order_id),
            Group::Regulator(r.regulator_id),
            Group::Category(r.category),
            Group::All,
        ] {
            if counted.insert((g, r.measure_id)) {
                let e = rollup.periods.entry(g).or_default();
                e.0 += done as u64;
                e.1 += late as u64;
                e.2 += missed as u64;
            }
        }
    }
    Ok(rollup.assemble(day, &orders, &regulators))
}

/// A measure row with nothing in it but what [`crate::domain::schedule_anchor`] reads.
fn placeholder_measure() -> measure::Model {
    let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    measure::Model {
        id: 0,
        code: String::new(),
        title: String::new(),
        title_local: None,
        plan: None,
        status: MeasureStatus::Planned,
        status_reason: None,
        owner_id: None,
        started_on: None,
        due_on: None,
        completed_on: None,
        recurrence: Recurrence::None,
        next_due_on: None,
        anchor_on: None,
        grace_days: 0,
        note: None,
        version: 1,
        archived_at: None,
        created_at: at,
        updated_at: at,
    }
}

/// One link of a recurring measure to a finding, with the measure's schedule and its
/// periods come due by the day that were recorded on time, late, or skipped.
#[derive(FromQueryResult)]
struct PeriodRow {
    order_id: i64,
    regulator_id: i64,
    category: FindingCategory,
    measure_id: i64,
    recurrence: Recurrence,
    anchor_on: Option<NaiveDate>,
    started_on: Option<NaiveDate>,
    completed_on: Option<NaiveDate>,
    grace_days: i32,
    done: i64,
    late: i64,
    skipped: i64,
}

/// The statement behind [`PeriodRow`]: the links of the recurring measures (not archived,
/// cancelled or deferred) to findings of these orders, with three counts each, as of `day`
/// (executions done by then: on time when done by the due date stored with them and come
/// due, late otherwise; skips made by then of periods come due).
fn periods_statement(
    orders: Option<&[i64]>,
    day: NaiveDate,
) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{SimpleExpr, SubQueryStatement};
    let sub = |q: sea_orm::sea_query::SelectStatement| {
        SimpleExpr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(q)))
    };
    let occ = |c: occurrence::Column| Expr::col((occurrence::Entity, c));
    let of_measure = Expr::col((occurrence::Entity, occurrence::Column::MeasureId))
        .equals((measure::Entity, measure::Column::Id));
    let done = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from(occurrence::Entity)
        .and_where(of_measure.clone())
        .and_where(occ(occurrence::Column::DoneOn).lte(day))
        .and_where(occ(occurrence::Column::DueOn).lt(day))
        .and_where(occ(occurrence::Column::DoneOn).lte(occ(occurrence::Column::DueOn)))
        .to_owned();
    let late = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from(occurrence::Entity)
        .and_where(of_measure)
        .and_where(occ(occurrence::Column::DoneOn).lte(day))
        .and_where(occ(occurrence::Column::DoneOn).gt(occ(occurrence::Column::DueOn)))
        .to_owned();
    let next_midnight = (day + chrono::Duration::days(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let skipped = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from(period_skip::Entity)
        .and_where(
            Expr::col((period_skip::Entity, period_skip::Column::MeasureId))
                .equals((measure::Entity, measure::Column::Id)),
        )
        .and_where(Expr::col((period_skip::Entity, period_skip::Column::DueOn)).lt(day))
        .and_where(
            Expr::col((period_skip::Entity, period_skip::Column::SkippedAt)).lt(next_midnight),
        )
        .to_owned();
    let m = |c: measure::Column| Expr::col((measure::Entity, c));
    scope::links_with_orders()
        .expr_as(
            Expr::col((finding::Entity, finding::Column::OrderId)),
            Alias::new("order_id"),
        )
        .expr_as(
            Expr::col((
                regulatory_order::Entity,
                regulatory_order::Column::RegulatorId,
            )),
            Alias::new("regulator_id"),
        )
        .expr_as(
            Expr::col((finding::Entity, finding::Column::Category)),
            Alias::new("category"),
        )
        .expr_as(m(measure::Column::Id), Alias::new("measure_id"))
        .expr_as(m(measure::Column::Recurrence), Alias::new("recurrence"))
        .expr_as(m(measure::Column::AnchorOn), Alias::new("anchor_on"))
        .expr_as(m(measure::Column::StartedOn), Alias::new("started_on"))
        .expr_as(m(measure::Column::CompletedOn), Alias::new("completed_on"))
        .expr_as(m(measure::Column::GraceDays), Alias::new("grace_days"))
        .expr_as(sub(done), Alias::new("done"))
        .expr_as(sub(late), Alias::new("late"))
        .expr_as(sub(skipped), Alias::new("skipped"))
        .inner_join(
            measure::Entity,
            Expr::col((measure::Entity, measure::Column::Id))
                .equals((measure_finding::Entity, measure_finding::Column::MeasureId)),
        )
        .cond_where(of_orders(orders, day))
        .and_where(finding::Column::ArchivedAt.is_null())
        .and_where(measure::Column::ArchivedAt.is_null())
        .and_where(measure::Column::Recurrence.ne(Recurrence::None))
        .and_where(
            measure::Column::Status.is_not_in([MeasureStatus::Cancelled, MeasureStatus::Deferred]),
        )
        .to_owned()
}

/// Findings of these orders, or of every order not archived and issued by `day` (the same
/// orders the rollup lists: counting an order not yet issued would put figures under no
/// heading).
fn of_orders(orders: Option<&[i64]>, day: NaiveDate) -> Condition {
    Condition::all().add(match orders {
        Some(ids) => in_ids(finding::Column::OrderId, ids.iter().copied()),
        None => finding::Column::OrderId.in_subquery(
            Query::select()
                .column(regulatory_order::Column::Id)
                .from(regulatory_order::Entity)
                .and_where(regulatory_order::Column::ArchivedAt.is_null())
                .and_where(regulatory_order::Column::IssuedOn.lte(day))
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
fn rollup_statement(
    orders: Option<&[i64]>,
    day: NaiveDate,
    backend: sea_orm::DatabaseBackend,
    tense: Option<Tense>,
    slipped: Slipped,
) -> WithQuery {
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
        .expr_as(
            Expr::cust(if slipped.0 {
                history::slipped_sql(backend, "measure", "\"measure\".\"id\"", tense.as_ref())
            } else {
                "0".to_string()
            }),
            Alias::new("slipped"),
        )
        .inner_join(
            measure::Entity,
            Expr::col((measure::Entity, measure::Column::Id))
                .equals((measure_finding::Entity, measure_finding::Column::MeasureId)),
        )
        .cond_where(of_orders(orders, day))
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
            .expr_as(
                Expr::cust("COUNT(DISTINCT CASE WHEN slipped = 1 THEN measure_id END)"),
                Alias::new("s"),
            )
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

/// Measures overdue on a day (today, or the reader's day as the plan then stood), earliest
/// due first, then by code.
pub async fn overdue(db: &Reader, who: &Caller) -> AppResult<Vec<measure::Model>> {
    let day = db.tense().map_or_else(today, |t| t.day);
    let (mut orders, _) = visible_orders(db, who, None).await?;
    orders.retain(|o| o.issued_on <= day);
    let mut rows = measure::Entity::find()
        .filter(
            measure::Column::Id.in_subquery(scope::measures_of_orders(orders.iter().map(|o| o.id))),
        )
        .filter(measure::Column::ArchivedAt.is_null())
        .filter(overdue_condition(day))
        .all(db)
        .await?;
    rows.sort_by(|a, b| {
        let due = |m: &measure::Model| m.due_on.or(m.next_due_on);
        (due(a).is_none(), due(a), &a.code, a.id).cmp(&(due(b).is_none(), due(b), &b.code, b.id))
    });
    Ok(rows)
}
