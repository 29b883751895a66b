//! The graph's object types. Each wraps a database row; relations load through DataLoaders
//! and are filtered by the caller's scope.
use async_graphql::dataloader::Loader as DlLoader;
use async_graphql::{ComplexObject, Context, Interface, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::date::{Date, OptionDate};
use entity::enums::*;
use entity::*;

use super::connection::{cost, from_vec, Conn, PageArgs};
use super::fast::{listed, narrow, ListedMeasure, Narrow};
use super::loader::*;
pub use super::object::*;
use crate::auth::{caller, Caller, Permission, Requires};
use crate::error::{AppError, AppResult};
use crate::id;
use crate::service::measures::is_overdue;

/// Loads one key; a missing entry is the value's default (an empty list, no row).
pub async fn load<K, V>(ctx: &Context<'_>, key: K) -> AppResult<V>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    V: Default + Send + Sync + Clone + 'static,
    Loader: DlLoader<K, Value = V, Error = AppError>,
{
    Ok(loader(ctx)?.load_one(key).await?.unwrap_or_default())
}

/// Loads the rows of one parent (a shared list), taking them out of the share when the
/// DataLoader's batch no longer holds it, copying them otherwise.
pub async fn load_list<K, M>(ctx: &Context<'_>, key: K) -> AppResult<Vec<M>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    M: Send + Sync + Clone + 'static,
    Loader: DlLoader<K, Value = std::sync::Arc<Vec<M>>, Error = AppError>,
{
    Ok(std::sync::Arc::unwrap_or_clone(load(ctx, key).await?))
}

/// Loads one row by id (a shared row, taken out without copying when the batch has dropped
/// its share, as [`load_list`] does).
pub async fn load_row<K, V>(ctx: &Context<'_>, key: K) -> AppResult<Option<V>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
    Loader: DlLoader<K, Value = std::sync::Arc<V>, Error = AppError>,
{
    Ok(loader(ctx)?
        .load_one(key)
        .await?
        .map(std::sync::Arc::unwrap_or_clone))
}

/// The server's notion of today (UTC).
pub use crate::domain::today;

/// What the caller may do with a node, so a frontend can show or hide controls.
#[derive(SimpleObject, Default)]
pub struct Permissions {
    /// May update or archive it.
    pub can_edit: bool,
    /// May add an evaluation to it.
    pub can_evaluate: bool,
    /// May attach evidence to it.
    pub can_add_evidence: bool,
    /// May submit it (reports).
    pub can_submit: bool,
    /// May read private contact data (owners).
    pub can_view_contact: bool,
    /// May move it to VERIFIED now (measures): it is IMPLEMENTED and not archived, the caller
    /// holds `plan:verify` and, under separation of duties, neither moved it to IMPLEMENTED
    /// nor is its owner's account. Current evidence is still needed, as the move checks.
    pub can_verify: bool,
    /// May generate the regulator report of its order in any format (`regulatorReport`;
    /// orders and reports).
    pub can_generate_report: bool,
    /// May download the signed submission bundle of a submitted report (`reportBundle`;
    /// reports).
    pub can_download_bundle: bool,
}

fn permissions(who: &Caller, write: Permission) -> Permissions {
    Permissions {
        can_edit: who.can(write),
        can_view_contact: who.can(Permission::ReadContacts),
        can_generate_report: who.can(Permission::GenerateReports),
        ..Default::default()
    }
}

/// Any object with a global ID, for `node(id)` and `nodes(ids)`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque global ID."))]
pub enum Node {
    Regulator(Regulator),
    Order(Order),
    Finding(Finding),
    Measure(Measure),
    Owner(Owner),
    System(System),
    Evidence(Evidence),
    Report(Report),
    Evaluation(Evaluation),
    Evaluator(Evaluator),
    Occurrence(Occurrence),
    ChangeRequest(ChangeRequest),
}

macro_rules! page_args {
    ($first:ident, $after:ident, $last:ident, $before:ident) => {
        PageArgs::new($first, $after, $last, $before)
    };
}

/// An authority that acts on the company: a ministry, a privacy commission, a card brand.
#[Object]
impl Regulator {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Regulator", self.0.id)
    }
    /// Short unique code, e.g. `METI`.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Name in English.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Name in the regulator's own language, e.g. 経済産業省.
    async fn name_local(&self) -> Option<&str> {
        self.0.name_local.as_deref()
    }
    /// What kind of authority this is.
    async fn kind(&self) -> RegulatorKind {
        self.0.kind
    }
    /// Optimistic-locking version: send it back with updates.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// When it was archived, if it was.
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }
    /// The orders this regulator issued, oldest first (within the caller's scope).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Order>> {
        let rows: Vec<regulatory_order::Model> =
            load_list(ctx, OrdersOfRegulator(self.0.id)).await?;
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|o| o.archived_at.is_none())
            .collect();
        from_vec(ctx, &page_args!(first, after, last, before), rows, Order)
    }
    /// What the caller may do with it.
    async fn permissions(&self, ctx: &Context<'_>) -> AppResult<Permissions> {
        Ok(permissions(caller(ctx)?, Permission::WritePlan))
    }
}

/// One regulatory action: a business-improvement order, guidance, a report request.
#[Object]
impl Order {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Order", self.0.id)
    }
    /// The reference, unique, e.g. `METI-2022-06-30`.
    async fn reference(&self) -> &str {
        &self.0.reference
    }
    /// What kind of action this is.
    async fn kind(&self) -> OrderKind {
        self.0.kind
    }
    /// Title in English.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Title in the regulator's language.
    async fn title_local(&self) -> Option<&str> {
        self.0.title_local.as_deref()
    }
    /// The statute or rule the action is based on.
    async fn legal_basis(&self) -> Option<&str> {
        self.0.legal_basis.as_deref()
    }
    /// The date the action was issued.
    async fn issued_on(&self) -> Date {
        self.0.issued_on.into()
    }
    /// The day the incident behind it was publicly disclosed, if known (on the timeline).
    async fn incident_disclosed_on(&self) -> Option<Date> {
        self.0.incident_disclosed_on.dates()
    }
    /// Where the matter stands.
    async fn status(&self) -> OrderStatus {
        self.0.status
    }
    /// A short summary.
    async fn summary(&self) -> Option<&str> {
        self.0.summary.as_deref()
    }
    /// Optimistic-locking version: send it back with updates.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// When it was archived, if it was.
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }
    /// The regulator that issued it.
    async fn regulator(&self, ctx: &Context<'_>) -> AppResult<Regulator> {
        load_row(ctx, RegulatorById(self.0.regulator_id))
            .await?
            .map(Regulator)
            .ok_or_else(|| AppError::not_found("regulator"))
    }
    /// The regulator's findings, by number.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn findings(
        &self,
        ctx: &Context<'_>,
        category: Option<FindingCategory>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Finding>> {
        let rows: Vec<finding::Model> = load_list(ctx, FindingsOfOrder(self.0.id)).await?;
        let rows = rows
            .into_iter()
            .filter(|f| f.archived_at.is_none() && category.is_none_or(|c| f.category == c))
            .collect();
        from_vec(ctx, &page_args!(first, after, last, before), rows, Finding)
    }
    /// Every measure answering one of its findings, by code.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn measures(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<ListedMeasure>> {
        let rows: Vec<measure::Model> = load(ctx, MeasuresOfOrder(self.0.id)).await?;
        let rows = rows
            .into_iter()
            .filter(|m| m.archived_at.is_none())
            .collect();
        from_vec(ctx, &page_args!(first, after, last, before), rows, Measure)
            .map(|c| listed(c, None))
    }
    /// Reports filed or due under it, by due date.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn reports(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Report>> {
        let rows: Vec<report::Model> = load_list(ctx, ReportsOfOrder(self.0.id)).await?;
        let rows = rows
            .into_iter()
            .filter(|r| r.archived_at.is_none())
            .collect();
        from_vec(ctx, &page_args!(first, after, last, before), rows, Report)
    }
    /// Progress of its measures now, or as it stood on `asOf` (as known at `knownAt`); by
    /// default as of the date the query that reached this order reads at.
    async fn progress(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        known_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> AppResult<Option<super::dashboard::OrderProgress>> {
        let tense = super::tense::own_or_inherited(ctx, as_of, known_at)?;
        super::dashboard::progress_of_order(ctx, self.0.id, tense).await
    }
    /// Everything that happened on it, in date order: issue, measures started and completed,
    /// changes, evidence, reports due and filed, evaluations.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        #[graphql(desc = "Only what had happened by the end of this day, as it then stood.")]
        as_of: Option<Date>,
        #[graphql(desc = "As the database knew it at this instant; default: as known now.")]
        known_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> AppResult<Conn<super::timeline::TimelineEntry>> {
        let tense = super::tense::own_or_inherited(ctx, as_of, known_at)?;
        let rows = super::loader::loader_at(ctx, tense)?
            .load_one(super::loader::TimelineOfOrder(self.0.id))
            .await?
            .map(std::sync::Arc::unwrap_or_clone)
            .unwrap_or_default();
        from_vec(ctx, &page_args!(first, after, last, before), rows, |e| e)
    }
    /// What the caller may do with it.
    async fn permissions(&self, ctx: &Context<'_>) -> AppResult<Permissions> {
        Ok(permissions(caller(ctx)?, Permission::WritePlan))
    }
}

/// One fact a regulator found, with its directive.
#[Object]
impl Finding {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Finding", self.0.id)
    }
    /// The order it belongs to.
    async fn order(&self, ctx: &Context<'_>) -> AppResult<Order> {
        load_row(ctx, OrderById(self.0.order_id))
            .await?
            .map(Order)
            .ok_or_else(|| AppError::not_found("order"))
    }
    /// Organisational, technical, physical or human.
    async fn category(&self) -> FindingCategory {
        self.0.category
    }
    /// Its number within the order, e.g. `T2-3`.
    async fn number(&self) -> &str {
        &self.0.number
    }
    /// A short English title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The facts as the regulator stated them (事実概要).
    async fn facts(&self) -> &str {
        &self.0.facts
    }
    /// The facts in English.
    async fn facts_en(&self) -> Option<&str> {
        self.0.facts_en.as_deref()
    }
    /// The directive (指導概要).
    async fn directive(&self) -> &str {
        &self.0.directive
    }
    /// The directive in English.
    async fn directive_en(&self) -> Option<&str> {
        self.0.directive_en.as_deref()
    }
    /// Optimistic-locking version.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The measures answering it, by code.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn measures(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<ListedMeasure>> {
        let narrow = narrow(ctx);
        let rows: Vec<measure::Model> =
            load_list(ctx, MeasuresOfFinding(self.0.id, Narrow::cols(&narrow))).await?;
        let rows = rows
            .into_iter()
            .filter(|m| m.archived_at.is_none())
            .collect();
        from_vec(ctx, &page_args!(first, after, last, before), rows, Measure)
            .map(|c| listed(c, narrow))
    }
    /// What the caller may do with it.
    async fn permissions(&self, ctx: &Context<'_>) -> AppResult<Permissions> {
        Ok(permissions(caller(ctx)?, Permission::WritePlan))
    }
}

/// One thing the company committed to do.
#[Object]
impl Measure {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Measure", self.0.id)
    }
    /// Unique code, e.g. `M-16`.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Title in English.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Title in the company's language.
    async fn title_local(&self) -> Option<&str> {
        self.0.title_local.as_deref()
    }
    /// What was committed, and how it is carried out.
    async fn plan(&self) -> Option<&str> {
        self.0.plan.as_deref()
    }
    /// Workflow status.
    async fn status(&self) -> MeasureStatus {
        self.0.status
    }
    /// Why it was deferred or cancelled.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }
    /// Who answers for it.
    async fn owner(&self, ctx: &Context<'_>) -> AppResult<Option<Owner>> {
        match self.0.owner_id {
            Some(o) => Ok(load_row(ctx, OwnerById(o)).await?.map(Owner)),
            None => Ok(None),
        }
    }
    /// When work started.
    async fn started_on(&self) -> Option<Date> {
        self.0.started_on.dates()
    }
    /// The committed date (as it stands now, or on the date a read as of a date stands at).
    async fn due_on(&self) -> Option<Date> {
        self.0.due_on.dates()
    }
    /// The due date first committed (its first recorded version), before any move.
    async fn original_due_on(&self, ctx: &Context<'_>) -> AppResult<Option<Date>> {
        let h = load_row(ctx, MeasureDueHistory(self.0.id)).await?;
        Ok(h.map_or(self.0.due_on, |h| h.original).dates())
    }
    /// Every move of the due date, oldest first: from, to, why, by whom and when (as known at
    /// the read's date). Readable by whoever may read the measure.
    async fn due_date_changes(&self, ctx: &Context<'_>) -> AppResult<Vec<DueDateChange>> {
        let h = load_row(ctx, MeasureDueHistory(self.0.id)).await?;
        Ok(
            h.map(|h| h.changes.into_iter().map(DueDateChange).collect())
                .unwrap_or_default(),
        )
    }
    /// Requests to defer or cancel it or move its due date later, oldest first, whatever
    /// their status (as of the read's date).
    async fn change_requests(&self, ctx: &Context<'_>) -> AppResult<Vec<ChangeRequest>> {
        let rows: Vec<change_request::Model> =
            load_list(ctx, ChangeRequestsOfMeasure(self.0.id)).await?;
        Ok(rows.into_iter().map(ChangeRequest).collect())
    }
    /// The request waiting for a decision, if any: until it is decided the measure keeps
    /// its values.
    async fn pending_change(&self, ctx: &Context<'_>) -> AppResult<Option<ChangeRequest>> {
        let rows: Vec<change_request::Model> =
            load_list(ctx, ChangeRequestsOfMeasure(self.0.id)).await?;
        Ok(rows
            .into_iter()
            .find(|r| r.status == ChangeStatus::Pending)
            .map(ChangeRequest))
    }
    /// When it was done.
    async fn completed_on(&self) -> Option<Date> {
        self.0.completed_on.dates()
    }
    /// How often it recurs.
    async fn recurrence(&self) -> Recurrence {
        self.0.recurrence
    }
    /// For recurring measures: when the next execution is due.
    async fn next_due_on(&self) -> Option<Date> {
        self.0.next_due_on.dates()
    }
    /// For a recurring measure: the date its schedule counts from (its first period is the
    /// one ending on or after it).
    async fn anchor_on(&self) -> Option<Date> {
        self.0.anchor_on.dates()
    }
    /// For a recurring measure: days after a period's end before it is due.
    async fn grace_days(&self) -> i32 {
        self.0.grace_days
    }
    /// For a recurring measure: its ledger, one entry per period of its schedule begun by
    /// today (or by the day a read as of a date stands at), newest first: DONE, LATE,
    /// MISSED, SKIPPED (with the reason) or UPCOMING. A MISSED period keeps the measure
    /// overdue until it is recorded late or skipped. Empty for a one-off measure.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn periods(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<MeasurePeriod>> {
        let mut rows = measure_ledger(ctx, &self.0).await?;
        rows.reverse();
        from_vec(ctx, &page_args!(first, after, last, before), rows, |p| p)
    }
    /// For a recurring measure: the periods recorded on time, in percent (one decimal) of
    /// those come due (DONE, LATE and MISSED; skipped periods do not count); null when none
    /// has come due or the measure does not recur.
    async fn on_time_rate(&self, ctx: &Context<'_>) -> AppResult<Option<f64>> {
        let rows = measure_ledger(ctx, &self.0).await?;
        let (done, late, missed) = come_due(&rows, super::tense::day(ctx));
        Ok(crate::domain::on_time_rate(done, late, missed))
    }
    /// Whether it is overdue today, or on the day a read as of a date stands at (see the
    /// `overdue` filter for the rule).
    async fn overdue(&self, ctx: &Context<'_>) -> bool {
        is_overdue(&self.0, super::tense::day(ctx))
    }
    /// A note.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// Optimistic-locking version: send it back with updates.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// When it was created in remedy.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// When it was archived, if it was.
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }
    /// The findings it answers (of orders the caller sees).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn findings(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Finding>> {
        let rows: Vec<finding::Model> = load_list(ctx, FindingsOfMeasure(self.0.id)).await?;
        from_vec(ctx, &page_args!(first, after, last, before), rows, Finding)
    }
    /// The systems it concerns.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn systems(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<System>> {
        let rows: Vec<system::Model> = load_list(ctx, SystemsOfMeasure(self.0.id)).await?;
        from_vec(ctx, &page_args!(first, after, last, before), rows, System)
    }
    /// Evidence proving it, oldest first; `current: true` keeps what is neither superseded nor expired.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn evidence(
        &self,
        ctx: &Context<'_>,
        current: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Evidence>> {
        let rows: Vec<EvidenceMeta> = load(ctx, EvidenceOfMeasure(self.0.id)).await?;
        let rows = match current {
            Some(want) => {
                let superseded: std::collections::HashSet<i64> =
                    rows.iter().filter_map(|e| e.supersedes_id).collect();
                rows.into_iter()
                    .filter(|e| is_current(e, &superseded, super::tense::day(ctx)) == want)
                    .collect()
            }
            None => rows,
        };
        from_vec(ctx, &page_args!(first, after, last, before), rows, Evidence)
    }
    /// How many evidence items (all revisions) it has.
    async fn evidence_count(&self, ctx: &Context<'_>) -> AppResult<i64> {
        load(ctx, EvidenceCountOfMeasure(self.0.id)).await
    }
    /// Executions of a recurring measure, oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn occurrences(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Occurrence>> {
        let rows: Vec<occurrence::Model> = load_list(ctx, OccurrencesOfMeasure(self.0.id)).await?;
        from_vec(
            ctx,
            &page_args!(first, after, last, before),
            rows,
            Occurrence,
        )
    }
    /// Evaluators' assessments of it, oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn evaluations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Evaluation>> {
        let rows: Vec<evaluation::Model> = load(ctx, EvaluationsOfMeasure(self.0.id)).await?;
        from_vec(
            ctx,
            &page_args!(first, after, last, before),
            rows,
            Evaluation,
        )
    }
    /// What the caller may do with it (`canVerify`: as it stands now, also in a read as of
    /// a date).
    async fn permissions(&self, ctx: &Context<'_>) -> AppResult<Permissions> {
        let who = caller(ctx)?;
        Ok(Permissions {
            can_evaluate: who.can(Permission::WriteEvaluations),
            can_add_evidence: who.can(Permission::WriteEvidence),
            can_verify: can_verify(ctx, who, &self.0).await?,
            ..permissions(who, Permission::WritePlan)
        })
    }
    /// The statuses the caller may move it to now with `transitionMeasure`: the workflow's
    /// next steps (PLANNED → IN_PROGRESS → IMPLEMENTED → VERIFIED, aside to DEFERRED or
    /// CANCELLED, back from DEFERRED) that the caller's permissions allow. VERIFIED is listed
    /// when `permissions.canVerify` holds (it still needs current evidence); DEFERRED and
    /// CANCELLED are left out when they go through a change request (approvals on). Empty for
    /// an archived measure and in a read of the past.
    async fn transitions(&self, ctx: &Context<'_>) -> AppResult<Vec<MeasureStatus>> {
        use crate::service::write::measures::Accountability;
        let who = caller(ctx)?;
        if super::tense::of(ctx).is_some() || self.0.archived_at.is_some() {
            return Ok(Vec::new());
        }
        let approvals = ctx
            .data_opt::<Accountability>()
            .copied()
            .unwrap_or_default()
            .approvals;
        let mut out = Vec::new();
        for to in [
            MeasureStatus::InProgress,
            MeasureStatus::Implemented,
            MeasureStatus::Verified,
            MeasureStatus::Planned,
            MeasureStatus::Deferred,
            MeasureStatus::Cancelled,
        ] {
            if !crate::service::plan::allowed(self.0.status, to) {
                continue;
            }
            let may = match to {
                MeasureStatus::Verified => can_verify(ctx, who, &self.0).await?,
                MeasureStatus::Deferred | MeasureStatus::Cancelled => {
                    who.can(Permission::WritePlan) && !approvals
                }
                _ => who.can(Permission::WritePlan),
            };
            if may {
                out.push(to);
            }
        }
        Ok(out)
    }
}

/// Whether the caller may move a measure to VERIFIED now: the measure as it stands now is
/// IMPLEMENTED and not archived, and the store's rule
/// ([`crate::service::write::measures::verification_refusal`], the one `transitionMeasure`
/// applies) finds nothing against the caller. The implementer and the owner come through the
/// live loaders, so a page of measures costs the same statements whatever its length.
async fn can_verify(ctx: &Context<'_>, who: &Caller, m: &measure::Model) -> AppResult<bool> {
    use crate::service::write::measures::{verification_refusal, Accountability};
    if !who.can(Permission::VerifyPlan) {
        return Ok(false);
    }
    let now = loader_at(ctx, None)?;
    let live = match super::tense::of(ctx) {
        None => std::borrow::Cow::Borrowed(m),
        Some(_) => match now.load_one(MeasureById(m.id)).await? {
            Some(row) => std::borrow::Cow::Owned(std::sync::Arc::unwrap_or_clone(row)),
            None => return Ok(false),
        },
    };
    if live.status != MeasureStatus::Implemented || live.archived_at.is_some() {
        return Ok(false);
    }
    let rules = ctx
        .data_opt::<Accountability>()
        .copied()
        .unwrap_or_default();
    let (implementer, owner_account) = if rules.separation_of_duties {
        let implementer = now.load_one(ImplementerOf(live.id)).await?;
        let owner_account = match live.owner_id {
            Some(o) => now
                .load_one(OwnerById(o))
                .await?
                .and_then(|o| o.account.clone()),
            None => None,
        };
        (implementer, owner_account)
    } else {
        (None, None)
    };
    Ok(verification_refusal(
        who,
        &rules,
        &live.code,
        implementer.as_deref(),
        owner_account.as_deref(),
    )
    .is_none())
}

/// Whether an evidence item is current: not superseded, and valid on `on`.
pub fn is_current(
    e: &EvidenceMeta,
    superseded: &std::collections::HashSet<i64>,
    on: chrono::NaiveDate,
) -> bool {
    !superseded.contains(&e.id)
        && e.valid_from.is_none_or(|d| d <= on)
        && e.valid_until.is_none_or(|d| d >= on)
}

/// Open, overdue and total measures of an owner.
#[derive(SimpleObject)]
pub struct Workload {
    /// Measures planned or in progress.
    pub open: u64,
    /// Measures overdue today.
    pub overdue: u64,
    /// All measures it owns (not archived).
    pub total: u64,
    /// Periods of its recurring measures (not cancelled or deferred) come due and recorded
    /// on time.
    pub periods_done: u64,
    /// Periods come due and recorded late.
    pub periods_late: u64,
    /// Periods come due, neither recorded nor skipped.
    pub periods_missed: u64,
    /// `periodsDone` in percent of those three (one decimal); null when none has come due.
    pub on_time_rate: Option<f64>,
}

/// A person, department or outside vendor answerable for measures.
#[Object]
impl Owner {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Owner", self.0.id)
    }
    /// Unique code.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Name in English.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Name in the company's language.
    async fn name_local(&self) -> Option<&str> {
        self.0.name_local.as_deref()
    }
    /// Person, department or vendor.
    async fn kind(&self) -> OwnerKind {
        self.0.kind
    }
    /// Role title, e.g. 情報セキュリティ監査責任者.
    async fn role_title(&self) -> Option<&str> {
        self.0.role_title.as_deref()
    }
    /// Private contact data (ADMIN and EDITOR only).
    #[graphql(guard = "Requires(Permission::ReadContacts)")]
    async fn contact(&self) -> Option<&str> {
        self.0.contact.as_deref()
    }
    /// The token subject of the person it is (e.g. `tanaka@example.com`), if it has an
    /// account: that account may not verify the measures it owns (separation of duties).
    /// Private, like `contact` (callers with `contacts:read` only).
    #[graphql(guard = "Requires(Permission::ReadContacts)")]
    async fn account(&self) -> Option<&str> {
        self.0.account.as_deref()
    }
    /// The language its e-mail digests are written in (Japanese unless set).
    async fn language(&self) -> entity::enums::Language {
        self.0.language.unwrap_or(entity::enums::Language::Ja)
    }
    /// The department or body it belongs to.
    async fn parent(&self, ctx: &Context<'_>) -> AppResult<Option<Owner>> {
        let who = caller(ctx)?;
        match self.0.parent_id {
            // A scoped caller sees owners of its measures only, not the organisation chart.
            Some(p) if !who.is_scoped() => Ok(load_row(ctx, OwnerById(p)).await?.map(Owner)),
            _ => Ok(None),
        }
    }
    /// Optimistic-locking version.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The measures it owns, by code.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn measures(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<ListedMeasure>> {
        let rows: Vec<measure::Model> = load_list(ctx, MeasuresOfOwner(self.0.id)).await?;
        let rows = rows
            .into_iter()
            .filter(|m| m.archived_at.is_none())
            .collect();
        from_vec(ctx, &page_args!(first, after, last, before), rows, Measure)
            .map(|c| listed(c, None))
    }
    /// Its open workload today.
    async fn workload(&self, ctx: &Context<'_>) -> AppResult<Workload> {
        let rows: Vec<measure::Model> = load_list(ctx, MeasuresOfOwner(self.0.id)).await?;
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|m| m.archived_at.is_none())
            .collect();
        let day = super::tense::day(ctx);
        let recurring: Vec<&measure::Model> = rows
            .iter()
            .filter(|m| {
                m.recurrence != Recurrence::None
                    && !matches!(m.status, MeasureStatus::Cancelled | MeasureStatus::Deferred)
            })
            .collect();
        // Together, so the loaders batch every measure's executions and skips.
        let ledgers = futures_util::future::try_join_all(
            recurring.into_iter().map(|m| measure_ledger(ctx, m)),
        )
        .await?;
        let (mut done, mut late, mut missed) = (0, 0, 0);
        for l in &ledgers {
            let (d, x, y) = come_due(l, day);
            (done, late, missed) = (done + d, late + x, missed + y);
        }
        Ok(Workload {
            open: rows
                .iter()
                .filter(|m| matches!(m.status, MeasureStatus::Planned | MeasureStatus::InProgress))
                .count() as u64,
            overdue: rows.iter().filter(|m| is_overdue(m, day)).count() as u64,
            total: rows.len() as u64,
            periods_done: done,
            periods_late: late,
            periods_missed: missed,
            on_time_rate: crate::domain::on_time_rate(done, late, missed),
        })
    }
    /// What the caller may do with it.
    async fn permissions(&self, ctx: &Context<'_>) -> AppResult<Permissions> {
        Ok(permissions(caller(ctx)?, Permission::WritePlan))
    }
}

/// An in-scope system: the net payment system, a front system, an admin screen.
#[Object]
impl System {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("System", self.0.id)
    }
    /// Unique code.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Name in the company's language.
    async fn name_local(&self) -> Option<&str> {
        self.0.name_local.as_deref()
    }
    /// Payment, front, admin screen or internal.
    async fn kind(&self) -> SystemKind {
        self.0.kind
    }
    /// What is in scope and why.
    async fn scope_note(&self) -> Option<&str> {
        self.0.scope_note.as_deref()
    }
    /// Whether it stores or passes card data.
    async fn holds_card_data(&self) -> bool {
        self.0.holds_card_data
    }
    /// Optimistic-locking version.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The measures concerning it, by code.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn measures(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<ListedMeasure>> {
        let narrow = narrow(ctx);
        let rows: Vec<measure::Model> =
            load_list(ctx, MeasuresOfSystem(self.0.id, Narrow::cols(&narrow))).await?;
        let rows = rows
            .into_iter()
            .filter(|m| m.archived_at.is_none())
            .collect();
        from_vec(ctx, &page_args!(first, after, last, before), rows, Measure)
            .map(|c| listed(c, narrow))
    }
    /// Evidence about it (e.g. its PCI DSS attestations), oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn evidence(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Evidence>> {
        let rows: Vec<EvidenceMeta> = load(ctx, EvidenceOfSystem(self.0.id)).await?;
        from_vec(ctx, &page_args!(first, after, last, before), rows, Evidence)
    }
    /// What the caller may do with it.
    async fn permissions(&self, ctx: &Context<'_>) -> AppResult<Permissions> {
        Ok(permissions(caller(ctx)?, Permission::WritePlan))
    }
}

/// A document proving a measure. Immutable: a correction is a new revision that supersedes it.
#[Object]
impl Evidence {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Evidence", self.0.id)
    }
    /// The measure it proves.
    async fn measure(&self, ctx: &Context<'_>) -> AppResult<Measure> {
        load_row(ctx, MeasureById(self.0.measure_id))
            .await?
            .map(Measure)
            .ok_or_else(|| AppError::not_found("measure"))
    }
    /// The system it is about, if any.
    async fn system(&self, ctx: &Context<'_>) -> AppResult<Option<System>> {
        match self.0.system_id {
            Some(s) => Ok(load_row(ctx, SystemById(s)).await?.map(System)),
            None => Ok(None),
        }
    }
    /// Attestation, certificate, scan report, minutes…
    async fn kind(&self) -> EvidenceKind {
        self.0.kind
    }
    /// Title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Who issued the document (e.g. the QSA).
    async fn issued_by(&self) -> Option<&str> {
        self.0.issued_by.as_deref()
    }
    /// When the document was issued.
    async fn issued_on(&self) -> Option<Date> {
        self.0.issued_on.dates()
    }
    /// First day it is valid.
    async fn valid_from(&self) -> Option<Date> {
        self.0.valid_from.dates()
    }
    /// Last day it is valid.
    async fn valid_until(&self) -> Option<Date> {
        self.0.valid_until.dates()
    }
    /// Lower-case hex SHA-256 of the document's bytes, computed by the server.
    async fn sha256(&self) -> &str {
        &self.0.sha256
    }
    /// Media type of the document.
    async fn media_type(&self) -> &str {
        &self.0.media_type
    }
    /// Size of the document in bytes.
    async fn size_bytes(&self) -> i64 {
        self.0.size_bytes
    }
    /// Where the document is kept when it is registered by reference.
    async fn storage_uri(&self) -> Option<&str> {
        self.0.storage_uri.as_deref()
    }
    /// Where to download the stored bytes (with the same token).
    async fn download_path(&self) -> String {
        format!("/evidence/{}", id::encode("Evidence", self.0.id).0)
    }
    /// The revision this one corrects.
    async fn supersedes(&self, ctx: &Context<'_>) -> AppResult<Option<Evidence>> {
        match self.0.supersedes_id {
            Some(prev) => {
                let rows: Vec<EvidenceMeta> = load(ctx, EvidenceById(prev)).await?;
                Ok(rows.into_iter().next().map(Evidence))
            }
            None => Ok(None),
        }
    }
    /// The revision that corrects this one, if any.
    async fn superseded_by(&self, ctx: &Context<'_>) -> AppResult<Option<Evidence>> {
        let rows: Vec<EvidenceMeta> = load(ctx, EvidenceSuperseding(self.0.id)).await?;
        Ok(rows.into_iter().next().map(Evidence))
    }
    /// Whether it is current today: not superseded and within its validity.
    async fn current(&self, ctx: &Context<'_>) -> AppResult<bool> {
        let next: Vec<EvidenceMeta> = load(ctx, EvidenceSuperseding(self.0.id)).await?;
        let superseded: std::collections::HashSet<i64> =
            next.iter().filter_map(|e| e.supersedes_id).collect();
        Ok(is_current(&self.0, &superseded, super::tense::day(ctx)))
    }
    /// Who submitted it.
    async fn submitted_by(&self) -> &str {
        &self.0.submitted_by
    }
    /// When it was submitted.
    async fn submitted_at(&self) -> DateTime<Utc> {
        self.0.submitted_at
    }
}

/// A filing to a regulator. Submitted reports are frozen.
#[Object]
impl Report {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Report", self.0.id)
    }
    /// Unique code, e.g. `METI-2022-10-06`.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// The order it reports on.
    async fn order(&self, ctx: &Context<'_>) -> AppResult<Order> {
        load_row(ctx, OrderById(self.0.order_id))
            .await?
            .map(Order)
            .ok_or_else(|| AppError::not_found("order"))
    }
    /// Initial, additional, progress or final.
    async fn kind(&self) -> ReportKind {
        self.0.kind
    }
    /// Title in English.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Title in the regulator's language.
    async fn title_local(&self) -> Option<&str> {
        self.0.title_local.as_deref()
    }
    /// When it is (or was) due.
    async fn due_on(&self) -> Date {
        self.0.due_on.into()
    }
    /// The due date first set (its first recorded version), before any move.
    async fn original_due_on(&self, ctx: &Context<'_>) -> AppResult<Date> {
        let h = load_row(ctx, ReportDueHistory(self.0.id)).await?;
        Ok(h.and_then(|h| h.original).unwrap_or(self.0.due_on).into())
    }
    /// Every move of the due date, oldest first.
    async fn due_date_changes(&self, ctx: &Context<'_>) -> AppResult<Vec<DueDateChange>> {
        let h = load_row(ctx, ReportDueHistory(self.0.id)).await?;
        Ok(
            h.map(|h| h.changes.into_iter().map(DueDateChange).collect())
                .unwrap_or_default(),
        )
    }
    /// When it was filed.
    async fn submitted_on(&self) -> Option<Date> {
        self.0.submitted_on.dates()
    }
    /// When the regulator acknowledged it.
    async fn acknowledged_on(&self) -> Option<Date> {
        self.0.acknowledged_on.dates()
    }
    /// Draft, submitted or acknowledged.
    async fn status(&self) -> ReportStatus {
        self.0.status
    }
    /// Its text.
    async fn body(&self) -> Option<&str> {
        self.0.body.as_deref()
    }
    /// The state of every linked measure when it was submitted (frozen JSON). An
    /// order-scoped caller gets only the entries of measures it may see.
    async fn snapshot(&self, ctx: &Context<'_>) -> AppResult<Option<JsonValue>> {
        let Some(text) = &self.0.snapshot else {
            return Ok(None);
        };
        let frozen: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| AppError::from(anyhow::anyhow!("stored snapshot: {e}")))?;
        let db = ctx.data_unchecked::<sea_orm::DatabaseConnection>();
        let visible = crate::service::scope::visible_snapshot(db, caller(ctx)?, frozen).await?;
        Ok(Some(JsonValue(visible)))
    }
    /// Days from today (or the day a read as of a date stands at) to the due date (negative
    /// when past); null once submitted.
    async fn days_to_deadline(&self, ctx: &Context<'_>) -> Option<i64> {
        match self.0.status {
            ReportStatus::Draft => Some((self.0.due_on - super::tense::day(ctx)).num_days()),
            _ => None,
        }
    }
    /// Optimistic-locking version.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The measures it covers, by code.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn measures(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<ListedMeasure>> {
        let narrow = narrow(ctx);
        let rows: Vec<measure::Model> =
            load_list(ctx, MeasuresOfReport(self.0.id, Narrow::cols(&narrow))).await?;
        from_vec(ctx, &page_args!(first, after, last, before), rows, Measure)
            .map(|c| listed(c, narrow))
    }
    /// Evaluations attached to it, oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn evaluations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Evaluation>> {
        let rows: Vec<evaluation::Model> = load(ctx, EvaluationsOfReport(self.0.id)).await?;
        from_vec(
            ctx,
            &page_args!(first, after, last, before),
            rows,
            Evaluation,
        )
    }
    /// What the caller may do with it.
    async fn permissions(&self, ctx: &Context<'_>) -> AppResult<Permissions> {
        let who = caller(ctx)?;
        let draft = self.0.status == ReportStatus::Draft;
        Ok(Permissions {
            can_edit: draft && who.can(Permission::WriteReports),
            can_submit: draft && who.can(Permission::WriteReports),
            can_evaluate: who.can(Permission::WriteEvaluations),
            can_add_evidence: false,
            can_verify: false,
            can_download_bundle: !draft
                && (who.can(Permission::GenerateReports) || who.can(Permission::WriteEvaluations)),
            ..permissions(who, Permission::WriteReports)
        })
    }
}

/// An independent evaluator's assessment of a report or a measure. Immutable.
#[Object]
impl Evaluation {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Evaluation", self.0.id)
    }
    /// The report assessed, if it is a report.
    async fn report(&self, ctx: &Context<'_>) -> AppResult<Option<Report>> {
        match self.0.report_id {
            Some(r) => Ok(load_row(ctx, ReportById(r)).await?.map(Report)),
            None => Ok(None),
        }
    }
    /// The measure assessed, if it is a measure.
    async fn measure(&self, ctx: &Context<'_>) -> AppResult<Option<Measure>> {
        match self.0.measure_id {
            Some(m) => Ok(load_row(ctx, MeasureById(m)).await?.map(Measure)),
            None => Ok(None),
        }
    }
    /// The evaluating party, when known.
    async fn evaluator(&self, ctx: &Context<'_>) -> AppResult<Option<Evaluator>> {
        match self.0.evaluator_id {
            Some(e) => Ok(load_row(ctx, EvaluatorById(e)).await?.map(Evaluator)),
            None => Ok(None),
        }
    }
    /// The token subject that recorded it.
    async fn evaluator_subject(&self) -> &str {
        &self.0.evaluator_subject
    }
    /// Satisfactory, needs improvement, unsatisfactory.
    async fn verdict(&self) -> Verdict {
        self.0.verdict
    }
    /// The evaluator's comment.
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    /// When the assessment was made.
    async fn evaluated_at(&self) -> DateTime<Utc> {
        self.0.evaluated_at
    }
}

/// An independent party that evaluates progress: a committee, its members, a regulator.
#[Object]
impl Evaluator {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Evaluator", self.0.id)
    }
    /// Unique code; the subject of the evaluator's tokens.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Name in the local language.
    async fn name_local(&self) -> Option<&str> {
        self.0.name_local.as_deref()
    }
    /// Committee, member, regulator, auditor.
    async fn kind(&self) -> EvaluatorKind {
        self.0.kind
    }
    /// Affiliation.
    async fn affiliation(&self) -> Option<&str> {
        self.0.affiliation.as_deref()
    }
    /// The committee a member belongs to.
    async fn parent(&self, ctx: &Context<'_>) -> AppResult<Option<Evaluator>> {
        match self.0.parent_id {
            Some(p) => Ok(load_row(ctx, EvaluatorById(p)).await?.map(Evaluator)),
            None => Ok(None),
        }
    }
}

/// One execution of a recurring measure.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Occurrence {
    #[graphql(skip)]
    pub row: occurrence::Model,
    /// The period covered, e.g. `2022-W47`, `2022-11`, `2022-Q3`.
    pub period: String,
    /// When it was due.
    pub due_on: Option<Date>,
    /// When it was done.
    pub done_on: Date,
    /// Who did it.
    pub done_by: String,
    /// A note.
    pub note: Option<String>,
}

#[allow(non_snake_case)]
pub fn Occurrence(row: occurrence::Model) -> Occurrence {
    Occurrence {
        period: row.period.clone(),
        due_on: row.due_on.dates(),
        done_on: row.done_on.into(),
        done_by: row.done_by.clone(),
        note: row.note.clone(),
        row,
    }
}

#[ComplexObject]
impl Occurrence {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Occurrence", self.row.id)
    }
    /// The recurring measure.
    async fn measure(&self, ctx: &Context<'_>) -> AppResult<Measure> {
        load_row(ctx, MeasureById(self.row.measure_id))
            .await?
            .map(Measure)
            .ok_or_else(|| AppError::not_found("measure"))
    }
    /// The evidence of this execution, if it names one.
    async fn evidence(&self, ctx: &Context<'_>) -> AppResult<Option<Evidence>> {
        match self.row.evidence_id {
            Some(e) => occurrence_evidence(ctx, e).await,
            None => Ok(None),
        }
    }
}

/// The ledger of a recurring measure as the request's day stands, from its executions and
/// skips (two loaders, batched across measures).
async fn measure_ledger(ctx: &Context<'_>, m: &measure::Model) -> AppResult<Vec<MeasurePeriod>> {
    if m.recurrence == Recurrence::None {
        return Ok(Vec::new());
    }
    let occurrences: Vec<occurrence::Model> = load_list(ctx, OccurrencesOfMeasure(m.id)).await?;
    let skips: Vec<period_skip::Model> = load_list(ctx, SkipsOfMeasure(m.id)).await?;
    let day = super::tense::day(ctx);
    Ok(crate::domain::ledger(m, day, &occurrences, &skips)
        .into_iter()
        .map(|e| MeasurePeriod {
            period: e.period.label.clone(),
            starts_on: e.period.start.into(),
            ends_on: e.period.end.into(),
            due_on: e
                .occurrence
                .and_then(|o| o.due_on)
                .unwrap_or(e.period.due)
                .into(),
            status: e.status,
            done_on: e.occurrence.map(|o| o.done_on.into()),
            done_by: e.occurrence.map(|o| o.done_by.clone()),
            skip_reason: e.skip.map(|s| s.reason.clone()),
            skipped_by: e.skip.map(|s| s.skipped_by.clone()),
            occurrence: e.occurrence.cloned(),
            period_due: e.period.due,
        })
        .collect())
}

/// Periods of a ledger come due before `day` (its period's due date passed): done, late and
/// missed (what on-time rates count).
fn come_due(rows: &[MeasurePeriod], day: chrono::NaiveDate) -> (u64, u64, u64) {
    let n = |s: PeriodStatus| {
        rows.iter()
            .filter(|p| p.status == s && p.period_due < day)
            .count() as u64
    };
    (
        n(PeriodStatus::Done),
        n(PeriodStatus::Late),
        n(PeriodStatus::Missed),
    )
}

/// One period of a recurring measure's schedule and where it stands.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct MeasurePeriod {
    /// Its label, as executions are labelled: `2022-W47`, `2022-11`, `2022-Q4`, `2022`.
    pub period: String,
    /// The first day of its window.
    pub starts_on: Date,
    /// The last day of its window.
    pub ends_on: Date,
    /// When it is due: its last day plus the measure's grace days (for a recorded period,
    /// the due date it was recorded against).
    pub due_on: Date,
    /// DONE, LATE, MISSED, SKIPPED or UPCOMING.
    pub status: PeriodStatus,
    /// When the execution was done (DONE and LATE).
    pub done_on: Option<Date>,
    /// Who recorded the execution (DONE and LATE).
    pub done_by: Option<String>,
    /// Why it is not owed (SKIPPED).
    pub skip_reason: Option<String>,
    /// Who skipped it (SKIPPED; someone holding `plan:approve`).
    pub skipped_by: Option<String>,
    #[graphql(skip)]
    pub occurrence: Option<occurrence::Model>,
    /// The period's due date by the schedule (its end plus the grace days now).
    #[graphql(skip)]
    pub period_due: chrono::NaiveDate,
}

#[ComplexObject]
impl MeasurePeriod {
    /// The recorded execution (DONE and LATE).
    async fn execution(&self) -> Option<Occurrence> {
        self.occurrence.clone().map(Occurrence)
    }
    /// The evidence of that execution, if it names one.
    async fn evidence(&self, ctx: &Context<'_>) -> AppResult<Option<Evidence>> {
        match self.occurrence.as_ref().and_then(|o| o.evidence_id) {
            Some(e) => occurrence_evidence(ctx, e).await,
            None => Ok(None),
        }
    }
}

async fn occurrence_evidence(ctx: &Context<'_>, id: i64) -> AppResult<Option<Evidence>> {
    let rows: Vec<EvidenceMeta> = load(ctx, EvidenceById(id)).await?;
    Ok(rows.into_iter().next().map(Evidence))
}

#[Object]
impl ChangeRequest {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("ChangeRequest", self.0.id)
    }
    /// Version, for `decideMeasureChange` and `withdrawMeasureChange`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The measure it concerns.
    async fn measure(&self, ctx: &Context<'_>) -> AppResult<Measure> {
        load_row(ctx, MeasureById(self.0.measure_id))
            .await?
            .map(Measure)
            .ok_or_else(|| AppError::not_found("measure"))
    }
    /// What is asked for.
    async fn kind(&self) -> ChangeKind {
        self.0.kind
    }
    /// Why.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// MOVE_DUE: the due date asked for.
    async fn proposed_due_on(&self) -> Option<Date> {
        self.0.proposed_due_on.dates()
    }
    /// DEFER: the last day of the deferral (null: open-ended).
    async fn until(&self) -> Option<Date> {
        self.0.defer_until.dates()
    }
    /// Pending, approved, rejected, withdrawn or expired.
    async fn status(&self) -> ChangeStatus {
        self.0.status
    }
    /// Who asked (token subject).
    async fn requested_by(&self) -> &str {
        &self.0.requested_by
    }
    /// When.
    async fn requested_at(&self) -> DateTime<Utc> {
        self.0.requested_at
    }
    /// Who approved or rejected it.
    async fn decided_by(&self) -> Option<&str> {
        self.0.decided_by.as_deref()
    }
    /// When.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at
    }
    /// The decision's comment.
    async fn decision_comment(&self) -> Option<&str> {
        self.0.decision_comment.as_deref()
    }
    /// An applied deferral: the status the measure returns to when it ends.
    async fn previous_status(&self) -> Option<MeasureStatus> {
        self.0.previous_status
    }
    /// An ended deferral: when the measure returned to its previous status.
    async fn expired_at(&self) -> Option<DateTime<Utc>> {
        self.0.expired_at
    }
}

/// One move of a due date.
pub struct DueDateChange(pub crate::service::history::DateChange);

#[Object]
impl DueDateChange {
    /// The date before the move (null when none was set).
    async fn from(&self) -> Option<Date> {
        self.0.from.dates()
    }
    /// The date after the move (null when it was cleared).
    async fn to(&self) -> Option<Date> {
        self.0.to.dates()
    }
    /// Whether the move was to a later date (a slip).
    async fn later(&self) -> bool {
        matches!((self.0.from, self.0.to), (Some(f), Some(t)) if t > f)
    }
    /// The reason given with the change.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// Who recorded it.
    async fn by(&self) -> &str {
        &self.0.by
    }
    /// When it took effect (for an imported change, the date its source gives).
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// When the database recorded it.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
}
