//! Mutations. Each resolver is a few lines: it decodes the IDs of its input into the store's
//! input, opens a [`Write`] for the caller, calls the one store function of the write in
//! `service::write` (which checks the caller's order scope, validates, writes and records
//! exactly one audit event), commits, and publishes a change event.
use async_graphql::{Context, InputObject, Object, SimpleObject, Upload, ID};
use chrono::NaiveDate;

use crate::date::{Date, OptionDate};
use entity::enums::*;
use sea_orm::DatabaseConnection;

use super::types::*;
use crate::auth::{caller, Caller, Permission, Requires, RequiresAny};
use crate::error::{AppError, AppResult};
use crate::id::decode;
use crate::service::plan::EvidenceStore;
use crate::service::write::inputs::*;
use crate::service::write::{approvals, documents, measures, records, reports, Write, WriteGate};

/// Limits on uploaded evidence.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub max_bytes: u64,
}

pub(crate) async fn begin<'a>(ctx: &Context<'a>) -> AppResult<(Write<'a>, &'a Caller)> {
    let who = caller(ctx)?;
    let db = ctx.data_unchecked::<DatabaseConnection>();
    let gate = ctx.data_unchecked::<std::sync::Arc<WriteGate>>();
    Ok((Write::begin(db, gate, &who.subject).await?, who))
}

/// Runs one store write as the caller, in its own transaction, committed when it succeeds:
/// `write_txn!(ctx, |w, who| store_fn(w, who, …))` is the write's result.
macro_rules! write_txn {
    ($ctx:expr, |$w:ident, $who:ident| $call:expr) => {{
        let (w, who) = begin($ctx).await?;
        let row = {
            let ($w, $who) = (&w, who);
            $call.await?
        };
        // One PLAN_CHANGED notice for the change, in its transaction (the outbox).
        crate::service::write::notices::note_plan_change(&w).await?;
        w.commit().await?;
        row
    }};
}

// ---------------------------------------------------------------- inputs

/// A reference by id in a store input, and its GraphQL form (global IDs of one type).
pub trait IdField: Sized {
    type Graphql;
    fn decode(value: Self::Graphql, type_name: &str) -> AppResult<Self>;
}

impl IdField for i64 {
    type Graphql = ID;
    fn decode(value: ID, type_name: &str) -> AppResult<i64> {
        decode(&value, type_name)
    }
}

impl<T: IdField> IdField for Option<T> {
    type Graphql = Option<T::Graphql>;
    fn decode(value: Self::Graphql, type_name: &str) -> AppResult<Self> {
        value.map(|v| T::decode(v, type_name)).transpose()
    }
}

impl<T: IdField> IdField for Vec<T> {
    type Graphql = Vec<T::Graphql>;
    fn decode(value: Self::Graphql, type_name: &str) -> AppResult<Self> {
        value.into_iter().map(|v| T::decode(v, type_name)).collect()
    }
}

/// A store input field's type in GraphQL: itself, except dates, which the API reads as its
/// `NaiveDate` scalar ([`Date`], with `@specifiedBy`).
pub trait ApiField: Sized {
    type Graphql;
    fn store(value: Self::Graphql) -> Self;
}

macro_rules! api_as_is {
    ($($t:ty),* $(,)?) => {$(
        impl ApiField for $t {
            type Graphql = $t;
            fn store(value: $t) -> $t {
                value
            }
        }
    )*};
}

api_as_is!(
    String,
    Option<String>,
    bool,
    Option<bool>,
    i32,
    Option<i32>,
    i64,
    Option<i64>,
    EvidenceKind,
    ChangeKind,
    FindingCategory,
    Option<FindingCategory>,
    Option<Language>,
    MeasureStatus,
    Option<MeasureStatus>,
    OrderKind,
    Option<OrderStatus>,
    OwnerKind,
    Option<OwnerKind>,
    Option<Recurrence>,
    RegulatorKind,
    Option<RegulatorKind>,
    ReportKind,
    SystemKind,
    Option<SystemKind>,
    Verdict,
);

impl ApiField for NaiveDate {
    type Graphql = Date;
    fn store(value: Date) -> NaiveDate {
        value.0
    }
}

impl ApiField for Option<NaiveDate> {
    type Graphql = Option<Date>;
    fn store(value: Option<Date>) -> Option<NaiveDate> {
        value.dates()
    }
}

/// A field's GraphQL type: its store type (dates as [`Date`]), or IDs for a reference by id.
macro_rules! graphql_type {
    ($t:ty) => {
        <$t as ApiField>::Graphql
    };
    ($t:ty as $id:literal) => {
        <$t as IdField>::Graphql
    };
}

/// A field's store value: as given, or decoded IDs for a reference by id.
macro_rules! store_value {
    ($v:expr) => {
        <_ as ApiField>::store($v)
    };
    ($v:expr, $id:literal) => {
        <_ as IdField>::decode($v, $id)?
    };
}

/// The GraphQL input objects of the store's inputs (declared once, in
/// [`crate::service::write::inputs`]), each with its conversion into the store's input.
macro_rules! graphql_inputs {
    ($(
        $(#[doc = $doc:literal])*
        $graphql:ident => $name:ident {
            $(
                $(#[doc = $fdoc:literal])*
                $f:ident: $t:ty $(as $id:literal)? $(= $default:ident)?,
            )*
        }
    )*) => {$(
        $(#[doc = $doc])*
        #[derive(InputObject)]
        pub struct $graphql {
            $(
                $(#[doc = $fdoc])*
                $(#[graphql($default)])?
                pub $f: graphql_type!($t $(as $id)?),
            )*
        }

        impl TryFrom<$graphql> for $name {
            type Error = AppError;
            fn try_from(input: $graphql) -> AppResult<$name> {
                Ok($name { $($f: store_value!(input.$f $(, $id)?),)* })
            }
        }
    )*};
}

write_inputs!(graphql_inputs);

/// The outcome of walking the audit chain.
#[derive(SimpleObject)]
pub struct AuditVerification {
    /// Whether every link and hash holds.
    pub intact: bool,
    /// Events checked.
    pub events: u64,
    /// The first event whose link or hash does not hold.
    pub first_broken_id: Option<ID>,
}

// ---------------------------------------------------------------- uploads

pub(crate) async fn read_upload(ctx: &Context<'_>, file: &Upload) -> AppResult<(Vec<u8>, String)> {
    use std::io::Read;
    let limit = ctx
        .data_opt::<UploadLimits>()
        .map(|l| l.max_bytes)
        .unwrap_or(25 * 1024 * 1024);
    let value = file
        .value(ctx)
        .map_err(|_| AppError::validation("file", "the upload is missing or unreadable"))?;
    let media = value
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_string());
    // The size is known (a temporary file): read into one allocation of that size.
    let size = value.size().unwrap_or(0).min(limit + 1);
    let mut bytes = Vec::with_capacity(size as usize);
    value
        .into_read()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| AppError::validation("file", "the upload could not be read"))?;
    if bytes.len() as u64 > limit {
        return Err(AppError::validation(
            "file",
            format!("larger than the {limit}-byte limit"),
        ));
    }
    if bytes.is_empty() {
        return Err(AppError::validation("file", "is empty"));
    }
    Ok((bytes, media))
}

/// Reads an upload and stores its bytes (before the write opens).
async fn store_upload(
    ctx: &Context<'_>,
    file: &Upload,
    expected_sha256: Option<String>,
) -> AppResult<documents::StoredDocument> {
    let (bytes, media_type) = read_upload(ctx, file).await?;
    let store = ctx.data_unchecked::<EvidenceStore>();
    documents::store_bytes(store, bytes, media_type, expected_sha256.as_deref()).await
}

#[derive(Default)]
pub struct PlanMutation;

#[Object]
impl PlanMutation {
    // ------------------------------------------------------------ regulators

    /// Creates a regulator.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn create_regulator(
        &self,
        ctx: &Context<'_>,
        input: CreateRegulatorInput,
    ) -> AppResult<Regulator> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| records::create_regulator(w, who, &input));
        Ok(Regulator(row))
    }

    /// Updates a regulator.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn update_regulator(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: UpdateRegulatorInput,
    ) -> AppResult<Regulator> {
        let (id, input) = (decode(&id, "Regulator")?, input.try_into()?);
        let row = write_txn!(ctx, |w, who| records::update_regulator(
            w, who, id, version, &input
        ));
        Ok(Regulator(row))
    }

    /// Archives a regulator (it stays in the history and the audit log).
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_regulator(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
    ) -> AppResult<Regulator> {
        let id = decode(&id, "Regulator")?;
        let row = write_txn!(ctx, |w, who| records::archive_regulator(
            w, who, id, version
        ));
        Ok(Regulator(row))
    }

    // ------------------------------------------------------------ orders

    /// Creates an order.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn create_order(&self, ctx: &Context<'_>, input: CreateOrderInput) -> AppResult<Order> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| records::create_order(w, who, &input));
        Ok(Order(row))
    }

    /// Updates an order.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn update_order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: UpdateOrderInput,
    ) -> AppResult<Order> {
        let (id, input) = (decode(&id, "Order")?, input.try_into()?);
        let row = write_txn!(ctx, |w, who| records::update_order(
            w, who, id, version, &input
        ));
        Ok(Order(row))
    }

    /// Archives an order.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_order(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Order> {
        let id = decode(&id, "Order")?;
        let row = write_txn!(ctx, |w, who| records::archive_order(w, who, id, version));
        Ok(Order(row))
    }

    // ------------------------------------------------------------ findings

    /// Creates a finding.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn create_finding(
        &self,
        ctx: &Context<'_>,
        input: CreateFindingInput,
    ) -> AppResult<Finding> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| records::create_finding(w, who, &input));
        Ok(Finding(row))
    }

    /// Updates a finding.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn update_finding(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: UpdateFindingInput,
    ) -> AppResult<Finding> {
        let (id, input) = (decode(&id, "Finding")?, input.try_into()?);
        let row = write_txn!(ctx, |w, who| records::update_finding(
            w, who, id, version, &input
        ));
        Ok(Finding(row))
    }

    /// Archives a finding.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_finding(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Finding> {
        let id = decode(&id, "Finding")?;
        let row = write_txn!(ctx, |w, who| records::archive_finding(w, who, id, version));
        Ok(Finding(row))
    }

    // ------------------------------------------------------------ owners and systems

    /// Creates an owner.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn create_owner(&self, ctx: &Context<'_>, input: CreateOwnerInput) -> AppResult<Owner> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| records::create_owner(w, who, &input));
        Ok(Owner(row))
    }

    /// Updates an owner.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn update_owner(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: UpdateOwnerInput,
    ) -> AppResult<Owner> {
        let (id, input) = (decode(&id, "Owner")?, input.try_into()?);
        let row = write_txn!(ctx, |w, who| records::update_owner(
            w, who, id, version, &input
        ));
        Ok(Owner(row))
    }

    /// Archives an owner.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_owner(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Owner> {
        let id = decode(&id, "Owner")?;
        let row = write_txn!(ctx, |w, who| records::archive_owner(w, who, id, version));
        Ok(Owner(row))
    }

    /// Creates a system.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn create_system(
        &self,
        ctx: &Context<'_>,
        input: CreateSystemInput,
    ) -> AppResult<System> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| records::create_system(w, who, &input));
        Ok(System(row))
    }

    /// Updates a system.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn update_system(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: UpdateSystemInput,
    ) -> AppResult<System> {
        let (id, input) = (decode(&id, "System")?, input.try_into()?);
        let row = write_txn!(ctx, |w, who| records::update_system(
            w, who, id, version, &input
        ));
        Ok(System(row))
    }

    /// Archives a system.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_system(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<System> {
        let id = decode(&id, "System")?;
        let row = write_txn!(ctx, |w, who| records::archive_system(w, who, id, version));
        Ok(System(row))
    }

    // ------------------------------------------------------------ measures

    /// Commits a new measure (status PLANNED) answering at least one finding.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn create_measure(
        &self,
        ctx: &Context<'_>,
        input: CreateMeasureInput,
    ) -> AppResult<Measure> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| measures::create_measure(w, who, &input));
        measure_changed(ctx, row).await
    }

    /// Updates a measure's plan. A moved due date needs a reason, which the audit log keeps;
    /// with approvals on (the default), moving it later is a change request
    /// (`requestMeasureChange`) and is refused here (`FORBIDDEN`).
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn update_measure(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: UpdateMeasureInput,
    ) -> AppResult<Measure> {
        let (id, input) = (decode(&id, "Measure")?, input.try_into()?);
        let rules = rules(ctx);
        let row = write_txn!(ctx, |w, who| measures::update_measure(
            w, who, id, version, &input, &rules
        ));
        measure_changed(ctx, row).await
    }

    /// Asks for a measure to be deferred (optionally until a date), cancelled, or given a
    /// later due date. The measure keeps its values, and shows the request, until a second
    /// person with `plan:approve` decides. One pending request per measure (`CONFLICT`).
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn request_measure_change(
        &self,
        ctx: &Context<'_>,
        input: RequestMeasureChangeInput,
    ) -> AppResult<ChangeRequest> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| approvals::request_change(w, who, &input));
        Ok(ChangeRequest(row))
    }

    /// Approves (the change is applied now) or rejects a pending change request, with a
    /// comment. Needs `plan:approve`, by someone other than the person who asked.
    #[graphql(guard = "Requires(Permission::ApprovePlan)")]
    async fn decide_measure_change(
        &self,
        ctx: &Context<'_>,
        input: DecideMeasureChangeInput,
    ) -> AppResult<ChangeRequest> {
        let input: ChangeDecision = input.try_into()?;
        let row = write_txn!(ctx, |w, who| approvals::decide_change(w, who, &input));
        if row.status == ChangeStatus::Approved {
            crate::events::measure_changed(ctx, row.measure_id).await;
        }
        Ok(ChangeRequest(row))
    }

    /// Withdraws a pending change request (the person who asked, or an approver).
    #[graphql(guard = "RequiresAny(&[Permission::WritePlan, Permission::ApprovePlan])")]
    async fn withdraw_measure_change(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
    ) -> AppResult<ChangeRequest> {
        let id = decode(&id, "ChangeRequest")?;
        let row = write_txn!(ctx, |w, who| approvals::withdraw_change(
            w, who, id, version
        ));
        Ok(ChangeRequest(row))
    }

    /// Moves a measure along its workflow. VERIFIED needs `plan:verify`, someone other than
    /// the person who moved it to IMPLEMENTED and than its owner's account (separation of
    /// duties) and current evidence; every other move needs `plan:write`. DEFERRED and
    /// CANCELLED need a reason and, with approvals on (the default), a change request
    /// (`requestMeasureChange`): here they are refused (`FORBIDDEN`). `on` may not be in the
    /// future nor, for IMPLEMENTED and
    /// VERIFIED, before the start; more than the back-dating window (7 days by default)
    /// before today it needs `plan:approve`. Other moves are refused.
    #[graphql(guard = "RequiresAny(&[Permission::WritePlan, Permission::VerifyPlan])")]
    async fn transition_measure(
        &self,
        ctx: &Context<'_>,
        input: TransitionMeasureInput,
    ) -> AppResult<Measure> {
        let input = input.try_into()?;
        let rules = rules(ctx);
        let row = write_txn!(ctx, |w, who| measures::transition_measure(
            w, who, &input, &rules
        ));
        measure_changed(ctx, row).await
    }

    /// Links a measure to more findings and systems.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn link_measure(
        &self,
        ctx: &Context<'_>,
        input: MeasureLinksInput,
    ) -> AppResult<Measure> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| measures::link_measure(w, who, &input));
        measure_changed(ctx, row).await
    }

    /// Unlinks findings and systems from a measure (it keeps at least one finding).
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn unlink_measure(
        &self,
        ctx: &Context<'_>,
        input: MeasureLinksInput,
    ) -> AppResult<Measure> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| measures::unlink_measure(w, who, &input));
        measure_changed(ctx, row).await
    }

    /// Archives a measure.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_measure(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Measure> {
        let id = decode(&id, "Measure")?;
        let row = write_txn!(ctx, |w, who| measures::archive_measure(w, who, id, version));
        measure_changed(ctx, row).await
    }

    /// Records one execution of a recurring measure; its next due date follows.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn record_occurrence(
        &self,
        ctx: &Context<'_>,
        input: RecordOccurrenceInput,
    ) -> AppResult<Occurrence> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| measures::record_occurrence(w, who, &input));
        crate::events::measure_changed(ctx, row.measure_id).await;
        Ok(Occurrence(row))
    }

    /// Skips a period of a recurring measure: it is not owed, for the reason given. Needs
    /// `plan:approve` (`FORBIDDEN` otherwise, naming it); the period must be in the schedule,
    /// begun, and neither recorded nor skipped. Audited on the measure (`skip_period`); the
    /// measure's next due date follows.
    #[graphql(guard = "RequiresAny(&[Permission::WritePlan, Permission::ApprovePlan])")]
    async fn skip_period(&self, ctx: &Context<'_>, input: SkipPeriodInput) -> AppResult<Measure> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| measures::skip_period(w, who, &input));
        measure_changed(ctx, row).await
    }

    // ------------------------------------------------------------ evidence

    /// Uploads a document (GraphQL multipart request) as evidence. The server computes its
    /// SHA-256; `expectedSha256`, when given, must match or nothing is stored.
    #[graphql(guard = "Requires(Permission::WriteEvidence)")]
    async fn upload_evidence(
        &self,
        ctx: &Context<'_>,
        input: EvidenceInput,
        file: Upload,
        expected_sha256: Option<String>,
    ) -> AppResult<Evidence> {
        let stored = store_upload(ctx, &file, expected_sha256).await?;
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| documents::add_evidence(
            w, who, &input, stored
        ));
        crate::events::measure_changed(ctx, row.measure_id).await;
        Ok(Evidence(row))
    }

    /// Registers a document kept elsewhere, by URI and SHA-256.
    #[graphql(guard = "Requires(Permission::WriteEvidence)")]
    async fn register_evidence(
        &self,
        ctx: &Context<'_>,
        input: EvidenceInput,
        document: ExternalDocumentInput,
    ) -> AppResult<Evidence> {
        let stored = documents::external(document.try_into()?)?;
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| documents::add_evidence(
            w, who, &input, stored
        ));
        crate::events::measure_changed(ctx, row.measure_id).await;
        Ok(Evidence(row))
    }

    /// Adds a revision that supersedes an evidence item (which is kept, unchanged). Give
    /// either a `file` or a `document` reference.
    #[graphql(guard = "Requires(Permission::WriteEvidence)")]
    async fn supersede_evidence(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: EvidenceInput,
        file: Option<Upload>,
        document: Option<ExternalDocumentInput>,
        expected_sha256: Option<String>,
    ) -> AppResult<Evidence> {
        let prev = decode(&id, "Evidence")?;
        let stored = match (file, document) {
            (Some(f), None) => store_upload(ctx, &f, expected_sha256).await?,
            (None, Some(d)) => documents::external(d.try_into()?)?,
            _ => return Err(AppError::validation("file", "give either file or document")),
        };
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| documents::supersede_evidence(
            w, who, prev, &input, stored
        ));
        crate::events::measure_changed(ctx, row.measure_id).await;
        Ok(Evidence(row))
    }

    // ------------------------------------------------------------ reports

    /// Creates a draft report.
    #[graphql(guard = "Requires(Permission::WriteReports)")]
    async fn create_report(
        &self,
        ctx: &Context<'_>,
        input: CreateReportInput,
    ) -> AppResult<Report> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| reports::create_report(w, who, &input));
        report_changed(ctx, row).await
    }

    /// Updates a draft report (submitted reports are read-only).
    #[graphql(guard = "Requires(Permission::WriteReports)")]
    async fn update_report(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: UpdateReportInput,
    ) -> AppResult<Report> {
        let (id, input) = (decode(&id, "Report")?, input.try_into()?);
        let row = write_txn!(ctx, |w, who| reports::update_report(
            w, who, id, version, &input
        ));
        report_changed(ctx, row).await
    }

    /// Files a draft report: freezes a snapshot of every linked measure (status, dates,
    /// owner, the exact evidence revisions) that later changes never alter.
    #[graphql(guard = "Requires(Permission::WriteReports)")]
    async fn submit_report(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        submitted_on: Option<crate::date::Date>,
    ) -> AppResult<Report> {
        let id = decode(&id, "Report")?;
        let row = write_txn!(ctx, |w, who| reports::submit_report(
            w,
            who,
            id,
            version,
            submitted_on.dates()
        ));
        report_changed(ctx, row).await
    }

    /// Records the regulator's acknowledgement of a submitted report.
    #[graphql(guard = "Requires(Permission::WriteReports)")]
    async fn acknowledge_report(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        acknowledged_on: Option<crate::date::Date>,
    ) -> AppResult<Report> {
        let id = decode(&id, "Report")?;
        let row = write_txn!(ctx, |w, who| reports::acknowledge_report(
            w,
            who,
            id,
            version,
            acknowledged_on.dates()
        ));
        report_changed(ctx, row).await
    }

    // ------------------------------------------------------------ evaluations

    /// Adds an evaluation of a report or measure of an order the caller was granted.
    #[graphql(guard = "Requires(Permission::WriteEvaluations)")]
    async fn add_evaluation(
        &self,
        ctx: &Context<'_>,
        input: AddEvaluationInput,
    ) -> AppResult<Evaluation> {
        let input = input.try_into()?;
        let row = write_txn!(ctx, |w, who| reports::add_evaluation(w, who, &input));
        // Open pages of what was evaluated show it (subscribers re-read through their scope).
        if let Some(m) = row.measure_id {
            crate::events::measure_changed(ctx, m).await;
        }
        if let Some(r) = row.report_id {
            crate::events::report_id_changed(ctx, r).await;
        }
        Ok(Evaluation(row))
    }
}

/// Publishes the change of a measure (after its write committed).
/// The deployment's accountability rules.
fn rules(ctx: &Context<'_>) -> measures::Accountability {
    ctx.data_opt::<measures::Accountability>()
        .copied()
        .unwrap_or_default()
}

async fn measure_changed(ctx: &Context<'_>, row: entity::measure::Model) -> AppResult<Measure> {
    crate::events::measure_changed(ctx, row.id).await;
    Ok(Measure(row))
}

/// Publishes the change of a report (after its write committed).
async fn report_changed(ctx: &Context<'_>, row: entity::report::Model) -> AppResult<Report> {
    crate::events::report_changed(ctx, row.id, row.order_id).await;
    Ok(Report(row))
}
