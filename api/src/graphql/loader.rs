//! Batched loading of every relation: one loader call is one SQL statement, whatever the
//! number of parents in the page.
//!
//! Every statement carries the caller's scope (`crate::service::scope`), so a relation returns
//! only what the caller may see and resolvers never filter. A caller limited to orders gets
//! loaders of its own for the request ([`Batch`]), which also record the orders behind what
//! it is given in its access trail; every other caller sees the same rows, so they share one
//! loader ([`Shared`]) and concurrent requests are batched together.
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use async_graphql::dataloader::{DataLoader, Loader as DlLoader};
use entity::*;
use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::{
    Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, Iterable,
    QueryFilter, QueryOrder, QueryResult, QuerySelect,
};

use crate::auth::Caller;
use crate::db::in_ids;
use crate::error::{AppError, AppResult};
use crate::service::history::{self, DueHistory, Reader, Tense};
use crate::service::scope::{self, InTrail};

use super::columns::MeasureCols;

/// The column alias carrying a link's parent in [`via_link!`] statements.
const LINK_PARENT: &str = "remedy_link_parent";

/// Loads for one caller: every statement is limited to what the caller may see.
pub struct Loader {
    db: Reader,
    who: Caller,
}

impl Loader {
    pub fn new(db: Reader, who: Caller) -> Self {
        Self { db, who }
    }

    /// Adds the orders behind `rows` to a scoped caller's access trail.
    async fn record<'r, M: InTrail + 'r>(
        &self,
        rows: impl IntoIterator<Item = &'r M>,
    ) -> Result<(), AppError> {
        if !self.who.is_scoped() {
            return Ok(());
        }
        let trail: Vec<scope::Trail> = rows.into_iter().map(InTrail::trail).collect();
        scope::touch(self.db.live(), &self.who, trail).await
    }
}

/// The request's loaders, made on first use for the request's caller (attached to every
/// operation by `crate::pipeline`).
pub struct Batch {
    loader: OnceLock<DataLoader<Loader>>,
    /// Loaders reading as of a date, one per tense the request's root fields set.
    past: std::sync::Mutex<HashMap<Tense, Arc<DataLoader<Loader>>>>,
    delay: std::time::Duration,
}

impl Batch {
    /// Loaders that gather keys for `delay` (`REMEDY_LOADER_DELAY_MS`) before a batch.
    pub fn new(delay: std::time::Duration) -> Self {
        Self {
            loader: OnceLock::new(),
            past: std::sync::Mutex::new(HashMap::new()),
            delay,
        }
    }
}

/// The loader of every caller not limited to orders: they all see the same rows, so their
/// requests share one loader and concurrent requests' keys meet in the same batch (one
/// statement for many requests). Made once per schema.
pub struct Shared(pub DataLoader<Loader>);

impl Shared {
    pub fn new(db: DatabaseConnection, delay: std::time::Duration) -> Self {
        Shared(
            DataLoader::new(
                Loader::new(Reader::new(&db, None), Caller::system("loader")),
                tokio::spawn,
            )
            .delay(delay)
            .max_batch_size(5000),
        )
    }
}

/// A loader for the field being resolved: the live one (shared, or the request's), or the
/// request's loader for the tense the field reads at.
pub enum LoaderRef<'a> {
    Now(&'a DataLoader<Loader>),
    Past(Arc<DataLoader<Loader>>),
}

impl std::ops::Deref for LoaderRef<'_> {
    type Target = DataLoader<Loader>;
    fn deref(&self) -> &Self::Target {
        match self {
            LoaderRef::Now(l) => l,
            LoaderRef::Past(l) => l,
        }
    }
}

/// The current request's loader: the shared one for a caller not limited to orders, its own
/// (every statement scoped to its orders, its access trail recorded) for one that is.
pub fn loader<'a, T>(ctx: &async_graphql::ContextBase<'a, T>) -> AppResult<LoaderRef<'a>> {
    loader_at(ctx, super::tense::of(ctx))
}

/// The request's loader reading live (`None`) or as of `tense`.
pub fn loader_at<'a, T>(
    ctx: &async_graphql::ContextBase<'a, T>,
    tense: Option<Tense>,
) -> AppResult<LoaderRef<'a>> {
    let who = ctx
        .data_opt::<Caller>()
        .ok_or_else(|| AppError::Unauthenticated("no caller in request".into()))?;
    if let Some(tense) = tense {
        let batch = ctx
            .data_opt::<Batch>()
            .ok_or_else(|| AppError::from(anyhow::anyhow!("no loaders in request")))?;
        let mut past = batch.past.lock().unwrap_or_else(|e| e.into_inner());
        let l = past.entry(tense).or_insert_with(|| {
            let db = ctx.data_unchecked::<DatabaseConnection>();
            Arc::new(
                DataLoader::new(
                    Loader::new(Reader::new(db, Some(tense)), who.clone()),
                    tokio::spawn,
                )
                .delay(batch.delay)
                .max_batch_size(5000),
            )
        });
        return Ok(LoaderRef::Past(l.clone()));
    }
    if !who.is_scoped() {
        if let Some(shared) = ctx.data_opt::<Shared>() {
            return Ok(LoaderRef::Now(&shared.0));
        }
    }
    let batch = ctx
        .data_opt::<Batch>()
        .ok_or_else(|| AppError::from(anyhow::anyhow!("no loaders in request")))?;
    Ok(LoaderRef::Now(batch.loader.get_or_init(|| {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        DataLoader::new(
            Loader::new(Reader::new(db, None), who.clone()),
            tokio::spawn,
        )
        .delay(batch.delay)
        .max_batch_size(5000)
    })))
}

pub use crate::service::evidence::{evidence_meta_select, EvidenceMeta};

impl super::connection::KeyRow<evidence::Column> for EvidenceMeta {
    fn key(&self, column: evidence::Column) -> sea_orm::Value {
        use evidence::Column as C;
        match column {
            C::Id => self.id.into(),
            C::MeasureId => self.measure_id.into(),
            C::SystemId => self.system_id.into(),
            C::Kind => self.kind.into(),
            C::Title => self.title.clone().into(),
            C::IssuedBy => self.issued_by.clone().into(),
            C::IssuedOn => self.issued_on.into(),
            C::ValidFrom => self.valid_from.into(),
            C::ValidUntil => self.valid_until.into(),
            C::Sha256 => self.sha256.clone().into(),
            C::MediaType => self.media_type.clone().into(),
            C::SizeBytes => self.size_bytes.into(),
            C::StorageUri => self.storage_uri.clone().into(),
            // Not selected (the bytes); never a sort key.
            C::Content => sea_orm::Value::Bytes(None),
            C::SupersedesId => self.supersedes_id.into(),
            C::SubmittedBy => self.submitted_by.clone().into(),
            C::SubmittedAt => self.submitted_at.into(),
            C::CreatedAt => self.created_at.into(),
        }
    }
}

fn group<K: std::hash::Hash + Eq + Copy, V>(
    keys: &[K],
    rows: impl IntoIterator<Item = (K, V)>,
) -> HashMap<K, Vec<V>> {
    let mut out: HashMap<K, Vec<V>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for (k, v) in rows {
        out.entry(k).or_default().push(v);
    }
    out
}

/// The rows of each parent, shared: the DataLoader hands every caller a clone of the value,
/// and by the time a caller runs the batch has dropped its own, so
/// [`super::types::load_list`] takes the rows out without copying them (a list of full rows
/// per parent was cloned once per request before).
fn shared<K: std::hash::Hash + Eq, V>(lists: HashMap<K, Vec<V>>) -> HashMap<K, Arc<Vec<V>>> {
    lists.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()
}

macro_rules! by_id {
    ($key:ident, $entity:ident, $scope:path) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub i64);

        impl DlLoader<$key> for Loader {
            /// Shared like the lists (see [`shared`]); [`super::types::load_row`] takes it out.
            type Value = Arc<$entity::Model>;
            type Error = AppError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, AppError> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let rows = $entity::Entity::find()
                    .filter(in_ids($entity::Column::Id, ids))
                    .filter($scope(&self.who))
                    .all(&self.db)
                    .await?;
                self.record(&rows).await?;
                Ok(rows
                    .into_iter()
                    .map(|r| ($key(r.id), Arc::new(r)))
                    .collect())
            }
        }
    };
}

macro_rules! has_many {
    ($key:ident, $entity:ident, $col:ident, $field:ident, $scope:path, [$($order:ident),*]) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub i64);

        impl DlLoader<$key> for Loader {
            type Value = Arc<Vec<$entity::Model>>;
            type Error = AppError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, AppError> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let query = $entity::Entity::find()
                    .filter(in_ids($entity::Column::$col, ids))
                    .filter($scope(&self.who));
                $(let query = query.order_by_asc($entity::Column::$order);)*
                let rows = query.all(&self.db).await?;
                self.record(&rows).await?;
                let rows = rows
                    .into_iter()
                    .filter_map(|r| r.$field.into_key().map(|k| ($key(k), r)));
                Ok(shared(group(keys, rows)))
            }
        }
    };
}

impl Loader {
    /// Many-to-many through the link table `L`, in one statement: the rows of `T` linked
    /// (`join`: `L`'s column equal to `T`'s) to the parents `ids` (`L`'s column `from`),
    /// within `scope`, in `order` within each parent, with `columns` only; each decoded by
    /// `decode` and paired with the parent it was reached from. A scoped caller's access
    /// trail records them.
    #[allow(clippy::too_many_arguments)]
    async fn via_link<T, L, M>(
        &self,
        columns: impl IntoIterator<Item = T::Column>,
        from: L::Column,
        join: (L::Column, T::Column),
        ids: Vec<i64>,
        scope: Condition,
        order: &[T::Column],
        decode: impl Fn(&QueryResult) -> Result<M, DbErr>,
    ) -> Result<Vec<(i64, M)>, AppError>
    where
        T: EntityTrait,
        L: EntityTrait,
        M: InTrail,
    {
        let mut stmt = Query::select();
        stmt.columns(columns.into_iter().map(|c| (T::default(), c)))
            .expr_as(Expr::col((L::default(), from)), Alias::new(LINK_PARENT))
            .from(T::default())
            .inner_join(
                L::default(),
                Expr::col((L::default(), join.0)).equals((T::default(), join.1)),
            )
            .and_where(in_ids(Expr::col((L::default(), from)), ids))
            .cond_where(scope);
        for c in order {
            stmt.order_by((T::default(), *c), Order::Asc);
        }
        let rows = self
            .db
            .query_all(self.db.get_database_backend().build(&stmt))
            .await?;
        let mut pairs = Vec::with_capacity(rows.len());
        for row in rows {
            let parent: i64 = row.try_get("", LINK_PARENT)?;
            pairs.push((parent, decode(&row)?));
        }
        self.record(pairs.iter().map(|p| &p.1)).await?;
        Ok(pairs)
    }
}

/// Many-to-many through a link table ([`Loader::via_link`]): whole rows, each parent's in
/// the given order.
macro_rules! via_link {
    ($key:ident, $link:ident, $from_col:ident, $to_col:ident, $target:ident, $scope:path, [$($order:ident),*]) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub i64);

        impl DlLoader<$key> for Loader {
            type Value = Arc<Vec<$target::Model>>;
            type Error = AppError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, AppError> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let pairs = self
                    .via_link::<$target::Entity, $link::Entity, _>(
                        $target::Column::iter(),
                        $link::Column::$from_col,
                        ($link::Column::$to_col, $target::Column::Id),
                        ids,
                        $scope(&self.who),
                        &[$($target::Column::$order),*],
                        |row| $target::Model::from_query_result(row, ""),
                    )
                    .await?;
                // The statement's order is the target ordering within each parent.
                Ok(shared(group(keys, pairs.into_iter().map(|(p, m)| ($key(p), m)))))
            }
        }
    };
}

/// The measures of a parent through a link table, by code, as [`via_link!`] loads them but
/// with only the columns the key asks for (`MeasureCols`, from `super::fast::narrow`): one
/// statement for the batch, with the union of its keys' columns.
macro_rules! measures_via_link {
    ($key:ident, $link:ident, $from_col:ident, $to_col:ident) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub i64, pub MeasureCols);

        impl DlLoader<$key> for Loader {
            type Value = Arc<Vec<measure::Model>>;
            type Error = AppError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, AppError> {
                let mut ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                ids.sort_unstable();
                ids.dedup();
                let cols = keys.iter().fold(MeasureCols::BASE, |c, k| c.union(k.1));
                let pairs = self
                    .via_link::<measure::Entity, $link::Entity, _>(
                        cols.columns(),
                        $link::Column::$from_col,
                        ($link::Column::$to_col, measure::Column::Id),
                        ids.clone(),
                        scope::measures(&self.who),
                        &[measure::Column::Code, measure::Column::Id],
                        |row| cols.decode(row),
                    )
                    .await?;
                // The statement's order is the order within each parent; keys of one parent
                // asking for other columns share its list.
                let lists = shared(group(&ids, pairs));
                Ok(keys
                    .iter()
                    .map(|k| (*k, lists.get(&k.0).cloned().unwrap_or_default()))
                    .collect())
            }
        }
    };
}

/// The due-date history of rows the caller sees (`service::history::due_history`), as of
/// the loader's tense: one statement for the scope, one for the versions, one for reasons.
macro_rules! due_history {
    ($key:ident, $entity:ident, $table:literal, $scope:path) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub i64);

        impl DlLoader<$key> for Loader {
            type Value = Arc<DueHistory>;
            type Error = AppError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, AppError> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let seen: Vec<i64> = $entity::Entity::find()
                    .select_only()
                    .column($entity::Column::Id)
                    .filter(crate::db::in_ids($entity::Column::Id, ids))
                    .filter($scope(&self.who))
                    .into_tuple()
                    .all(&self.db)
                    .await?;
                let tense = self.db.tense();
                let found =
                    history::due_history(self.db.live(), $table, &seen, tense.as_ref()).await?;
                Ok(found
                    .into_iter()
                    .map(|(id, h)| ($key(id), Arc::new(h)))
                    .collect())
            }
        }
    };
}

due_history!(MeasureDueHistory, measure, "measure", scope::measures);

/// Who moved each measure the caller sees to IMPLEMENTED in its current implementation cycle
/// (`service::history::implementers`, read from the history as it stands now), for
/// `Measure.permissions.canVerify`: one statement for the scope, one for the versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImplementerOf(pub i64);

impl DlLoader<ImplementerOf> for Loader {
    type Value = String;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[ImplementerOf],
    ) -> Result<HashMap<ImplementerOf, Self::Value>, AppError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let seen: Vec<i64> = measure::Entity::find()
            .select_only()
            .column(measure::Column::Id)
            .filter(in_ids(measure::Column::Id, ids))
            .filter(scope::measures(&self.who))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(history::implementers(self.db.live(), &seen)
            .await?
            .into_iter()
            .map(|(id, by)| (ImplementerOf(id), by))
            .collect())
    }
}
due_history!(ReportDueHistory, report, "report", scope::reports);

by_id!(RegulatorById, regulator, scope::regulators);
by_id!(OrderById, regulatory_order, scope::orders);
by_id!(FindingById, finding, scope::findings);
by_id!(MeasureById, measure, scope::measures);
by_id!(OwnerById, owner, scope::owners);
by_id!(SystemById, system, scope::systems);
by_id!(ReportById, report, scope::reports);
by_id!(EvaluationById, evaluation, scope::evaluations);
by_id!(OccurrenceById, occurrence, scope::occurrences);
by_id!(ChangeRequestById, change_request, scope::change_requests);
by_id!(EvaluatorById, evaluator, scope::everyone);

has_many!(
    OrdersOfRegulator,
    regulatory_order,
    RegulatorId,
    regulator_id,
    scope::orders,
    [IssuedOn, Id]
);
has_many!(
    FindingsOfOrder,
    finding,
    OrderId,
    order_id,
    scope::findings,
    [Id]
);
has_many!(
    ReportsOfOrder,
    report,
    OrderId,
    order_id,
    scope::reports,
    [DueOn, Id]
);
has_many!(
    ChangeRequestsOfMeasure,
    change_request,
    MeasureId,
    measure_id,
    scope::change_requests,
    [RequestedAt, Id]
);
has_many!(
    OccurrencesOfMeasure,
    occurrence,
    MeasureId,
    measure_id,
    scope::occurrences,
    [DoneOn, Id]
);
has_many!(
    SkipsOfMeasure,
    period_skip,
    MeasureId,
    measure_id,
    scope::period_skips,
    [Id]
);

measures_via_link!(MeasuresOfFinding, measure_finding, FindingId, MeasureId);
via_link!(
    FindingsOfMeasure,
    measure_finding,
    MeasureId,
    FindingId,
    finding,
    scope::findings,
    [OrderId, Id]
);
via_link!(
    SystemsOfMeasure,
    measure_system,
    MeasureId,
    SystemId,
    system,
    scope::systems_of_visible_measures,
    [Code, Id]
);
measures_via_link!(MeasuresOfSystem, measure_system, SystemId, MeasureId);
measures_via_link!(MeasuresOfReport, report_measure, ReportId, MeasureId);

has_many!(
    MeasuresOfOwner,
    measure,
    OwnerId,
    owner_id,
    scope::measures,
    [Code, Id]
);

/// Measures answering any finding of an order (distinct).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MeasuresOfOrder(pub i64);

impl DlLoader<MeasuresOfOrder> for Loader {
    type Value = Vec<measure::Model>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[MeasuresOfOrder],
    ) -> Result<HashMap<MeasuresOfOrder, Self::Value>, AppError> {
        // The measures of a granted order are visible (they answer one of its findings).
        let ids: Vec<i64> = keys
            .iter()
            .map(|k| k.0)
            .filter(|o| self.who.sees_order(*o))
            .collect();
        let pairs: Vec<(i64, i64)> = measure_finding::Entity::find()
            .select_only()
            .column(finding::Column::OrderId)
            .column(measure_finding::Column::MeasureId)
            .inner_join(finding::Entity)
            .filter(in_ids(finding::Column::OrderId, ids))
            .distinct()
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut measure_ids: Vec<i64> = pairs.iter().map(|p| p.1).collect();
        measure_ids.sort_unstable();
        measure_ids.dedup();
        let measures = measure::Entity::find()
            .filter(in_ids(measure::Column::Id, measure_ids))
            .order_by_asc(measure::Column::Code)
            .order_by_asc(measure::Column::Id)
            .all(&self.db)
            .await?;
        let mut orders_of: HashMap<i64, Vec<i64>> = HashMap::new();
        for (order, measure) in pairs {
            self.who.touch(order);
            orders_of.entry(measure).or_default().push(order);
        }
        let mut out = group(keys, std::iter::empty());
        for m in measures {
            for order in orders_of.get(&m.id).into_iter().flatten() {
                out.entry(MeasuresOfOrder(*order))
                    .or_default()
                    .push(m.clone());
            }
        }
        Ok(out)
    }
}

/// The orders a measure answers findings of (for scope checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrdersOfMeasure(pub i64);

impl DlLoader<OrdersOfMeasure> for Loader {
    type Value = Vec<i64>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[OrdersOfMeasure],
    ) -> Result<HashMap<OrdersOfMeasure, Self::Value>, AppError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let pairs: Vec<(i64, i64)> = measure_finding::Entity::find()
            .select_only()
            .column(measure_finding::Column::MeasureId)
            .column(finding::Column::OrderId)
            .inner_join(finding::Entity)
            .filter(in_ids(measure_finding::Column::MeasureId, ids))
            .filter(scope::findings(&self.who))
            .distinct()
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(group(
            keys,
            pairs.into_iter().map(|(m, o)| (OrdersOfMeasure(m), o)),
        ))
    }
}

macro_rules! evidence_by {
    ($key:ident, $col:ident, $field:ident) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub i64);

        impl DlLoader<$key> for Loader {
            type Value = Vec<EvidenceMeta>;
            type Error = AppError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, AppError> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let rows = evidence_meta_select()
                    .filter(in_ids(evidence::Column::$col, ids))
                    .filter(scope::evidence(&self.who))
                    .order_by_asc(evidence::Column::Id)
                    .into_model::<EvidenceMeta>()
                    .all(&self.db)
                    .await?;
                self.record(&rows).await?;
                Ok(group(
                    keys,
                    rows.into_iter()
                        .filter_map(|r| r.$field.into_key().map(|k| ($key(k), r))),
                ))
            }
        }
    };
}

trait IntoKey {
    fn into_key(self) -> Option<i64>;
}
impl IntoKey for i64 {
    fn into_key(self) -> Option<i64> {
        Some(self)
    }
}
impl IntoKey for Option<i64> {
    fn into_key(self) -> Option<i64> {
        self
    }
}

evidence_by!(EvidenceById, Id, id);
evidence_by!(EvidenceOfMeasure, MeasureId, measure_id);
evidence_by!(EvidenceOfSystem, SystemId, system_id);
evidence_by!(EvidenceSuperseding, SupersedesId, supersedes_id);

/// Evaluations of a measure or of a report.
macro_rules! evaluations_by {
    ($key:ident, $col:ident, $field:ident) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub i64);

        impl DlLoader<$key> for Loader {
            type Value = Vec<evaluation::Model>;
            type Error = AppError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, AppError> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let rows = evaluation::Entity::find()
                    .filter(in_ids(evaluation::Column::$col, ids))
                    .filter(scope::evaluations(&self.who))
                    .order_by_asc(evaluation::Column::EvaluatedAt)
                    .order_by_asc(evaluation::Column::Id)
                    .all(&self.db)
                    .await?;
                Ok(group(
                    keys,
                    rows.into_iter()
                        .filter_map(|r| r.$field.map(|k| ($key(k), r))),
                ))
            }
        }
    };
}

evaluations_by!(EvaluationsOfMeasure, MeasureId, measure_id);
evaluations_by!(EvaluationsOfReport, ReportId, report_id);

/// How many evidence items each measure has (all revisions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EvidenceCountOfMeasure(pub i64);

impl DlLoader<EvidenceCountOfMeasure> for Loader {
    type Value = i64;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[EvidenceCountOfMeasure],
    ) -> Result<HashMap<EvidenceCountOfMeasure, Self::Value>, AppError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows: Vec<(i64, i64)> = evidence::Entity::find()
            .select_only()
            .column(evidence::Column::MeasureId)
            .column_as(Expr::col(evidence::Column::Id).count(), "n")
            .filter(in_ids(evidence::Column::MeasureId, ids))
            .filter(scope::evidence(&self.who))
            .group_by(evidence::Column::MeasureId)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut out: HashMap<EvidenceCountOfMeasure, i64> = keys.iter().map(|k| (*k, 0)).collect();
        for (m, n) in rows {
            out.insert(EvidenceCountOfMeasure(m), n);
        }
        Ok(out)
    }
}

/// An order's timeline ([`super::timeline::timelines`]): every order of a page in the same
/// seven statements. Timelines hold nothing outside their order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimelineOfOrder(pub i64);

impl DlLoader<TimelineOfOrder> for Loader {
    type Value = Arc<Vec<super::timeline::TimelineEntry>>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[TimelineOfOrder],
    ) -> Result<HashMap<TimelineOfOrder, Self::Value>, AppError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let orders = regulatory_order::Entity::find()
            .filter(in_ids(regulatory_order::Column::Id, ids))
            .filter(scope::orders(&self.who))
            .all(&self.db)
            .await?;
        Ok(super::timeline::timelines(&self.db, &orders)
            .await?
            .into_iter()
            .map(|(id, entries)| (TimelineOfOrder(id), Arc::new(entries)))
            .collect())
    }
}
