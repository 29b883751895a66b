//! Mutations. Each resolver is a few lines: it decodes the IDs of its input into the store's
//! input, opens a [`Write`] for the caller, calls the one store function of the write in
//! `service::write` (which checks the caller's order scope, validates, writes and records
//! exactly one audit event), commits, and publishes a change event.
use async_graphql::{Context, InputObject, Object, SimpleObject, Upload, ID};
use chrono::NaiveDate;
use entity::enums::*;
use sea_orm::DatabaseConnection;

use super::types::*;
use crate::auth::{caller, Caller, Permission, Requires};
use crate::error::{AppError, AppResult};
use crate::id::decode;
use crate::service::plan::EvidenceStore;
use crate::service::write::{catalog, documents, measures, orders, reports, Write, WriteGate};

/// Limits on uploaded evidence.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub max_bytes: u64,
}

async fn begin<'a>(ctx: &Context<'a>) -> AppResult<(Write<'a>, &'a Caller)> {
    let who = caller(ctx)?;
    let db = ctx.data_unchecked::<DatabaseConnection>();
    let gate = ctx.data_unchecked::<std::sync::Arc<WriteGate>>();
    Ok((Write::begin(db, gate, &who.subject).await?, who))
}

/// Runs one store write as the caller, in its own transaction, committed when it succeeds:
/// `write!(ctx, |w, who| store_fn(w, who, …))` is the write's result.
macro_rules! write {
    ($ctx:expr, |$w:ident, $who:ident| $call:expr) => {{
        let (w, who) = begin($ctx).await?;
        let row = {
            let ($w, $who) = (&w, who);
            $call.await?
        };
        w.commit().await?;
        row
    }};
}

// ---------------------------------------------------------------- inputs

/// A new regulator.
#[derive(InputObject)]
pub struct CreateRegulatorInput {
    /// Unique short code, e.g. `METI`.
    pub code: String,
    /// Name in English.
    pub name: String,
    /// Name in the regulator's language.
    pub name_local: Option<String>,
    /// What kind of authority it is.
    pub kind: RegulatorKind,
}

/// Changes to a regulator (absent fields are left as they are).
#[derive(InputObject)]
pub struct UpdateRegulatorInput {
    /// Name in English.
    pub name: Option<String>,
    /// Name in the regulator's language.
    pub name_local: Option<String>,
    /// Kind.
    pub kind: Option<RegulatorKind>,
}

/// A new order.
#[derive(InputObject)]
pub struct CreateOrderInput {
    /// The regulator that issued it.
    pub regulator_id: ID,
    /// Kind of action.
    pub kind: OrderKind,
    /// Unique reference, e.g. `METI-2022-06-30`.
    pub reference: String,
    /// Title in English.
    pub title: String,
    /// Title in the regulator's language.
    pub title_local: Option<String>,
    /// Statute or rule.
    pub legal_basis: Option<String>,
    /// Date issued.
    pub issued_on: NaiveDate,
    /// Status (default OPEN).
    pub status: Option<OrderStatus>,
    /// Summary.
    pub summary: Option<String>,
}

/// Changes to an order.
#[derive(InputObject)]
pub struct UpdateOrderInput {
    /// Title in English.
    pub title: Option<String>,
    /// Title in the regulator's language.
    pub title_local: Option<String>,
    /// Statute or rule.
    pub legal_basis: Option<String>,
    /// Date issued.
    pub issued_on: Option<NaiveDate>,
    /// Status.
    pub status: Option<OrderStatus>,
    /// Summary.
    pub summary: Option<String>,
}

/// A new finding.
#[derive(InputObject)]
pub struct CreateFindingInput {
    /// The order it belongs to.
    pub order_id: ID,
    /// Category.
    pub category: FindingCategory,
    /// Number within the order (unique there).
    pub number: String,
    /// Short English title.
    pub title: String,
    /// The facts.
    pub facts: String,
    /// The facts in English.
    pub facts_en: Option<String>,
    /// The directive.
    pub directive: String,
    /// The directive in English.
    pub directive_en: Option<String>,
}

/// Changes to a finding.
#[derive(InputObject)]
pub struct UpdateFindingInput {
    /// Category.
    pub category: Option<FindingCategory>,
    /// Short English title.
    pub title: Option<String>,
    /// The facts.
    pub facts: Option<String>,
    /// The facts in English.
    pub facts_en: Option<String>,
    /// The directive.
    pub directive: Option<String>,
    /// The directive in English.
    pub directive_en: Option<String>,
}

/// A new owner.
#[derive(InputObject)]
pub struct CreateOwnerInput {
    /// Unique code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Name in the company's language.
    pub name_local: Option<String>,
    /// Person, department or vendor.
    pub kind: OwnerKind,
    /// Role title.
    pub role_title: Option<String>,
    /// Private contact data.
    pub contact: Option<String>,
    /// The department or body it belongs to.
    pub parent_id: Option<ID>,
}

/// Changes to an owner.
#[derive(InputObject)]
pub struct UpdateOwnerInput {
    /// Name.
    pub name: Option<String>,
    /// Name in the company's language.
    pub name_local: Option<String>,
    /// Kind.
    pub kind: Option<OwnerKind>,
    /// Role title.
    pub role_title: Option<String>,
    /// Private contact data.
    pub contact: Option<String>,
}

/// A new system.
#[derive(InputObject)]
pub struct CreateSystemInput {
    /// Unique code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Name in the company's language.
    pub name_local: Option<String>,
    /// Kind.
    pub kind: SystemKind,
    /// Scope note.
    pub scope_note: Option<String>,
    /// Whether it stores or passes card data.
    #[graphql(default)]
    pub holds_card_data: bool,
}

/// Changes to a system.
#[derive(InputObject)]
pub struct UpdateSystemInput {
    /// Name.
    pub name: Option<String>,
    /// Name in the company's language.
    pub name_local: Option<String>,
    /// Kind.
    pub kind: Option<SystemKind>,
    /// Scope note.
    pub scope_note: Option<String>,
    /// Whether it stores or passes card data.
    pub holds_card_data: Option<bool>,
}

/// A new measure, committed in answer to one or more findings.
#[derive(InputObject)]
pub struct CreateMeasureInput {
    /// Unique code, e.g. `M-34`.
    pub code: String,
    /// Title in English.
    pub title: String,
    /// Title in the company's language.
    pub title_local: Option<String>,
    /// What is committed.
    pub plan: Option<String>,
    /// Who answers for it.
    pub owner_id: Option<ID>,
    /// Committed date.
    pub due_on: Option<NaiveDate>,
    /// Recurrence (default NONE).
    pub recurrence: Option<Recurrence>,
    /// The findings it answers (at least one).
    pub finding_ids: Vec<ID>,
    /// The systems it concerns.
    #[graphql(default)]
    pub system_ids: Vec<ID>,
    /// A note.
    pub note: Option<String>,
}

/// Changes to a measure's plan. Moving the due date needs `dueChangeReason`.
#[derive(InputObject)]
pub struct UpdateMeasureInput {
    /// Title in English.
    pub title: Option<String>,
    /// Title in the company's language.
    pub title_local: Option<String>,
    /// What is committed.
    pub plan: Option<String>,
    /// Who answers for it.
    pub owner_id: Option<ID>,
    /// Committed date.
    pub due_on: Option<NaiveDate>,
    /// Why the due date moves (required when it does: regulators ask).
    pub due_change_reason: Option<String>,
    /// Recurrence.
    pub recurrence: Option<Recurrence>,
    /// A note.
    pub note: Option<String>,
}

/// A workflow move.
#[derive(InputObject)]
pub struct TransitionMeasureInput {
    /// The measure.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// The status to move to.
    pub to: MeasureStatus,
    /// Why (required for DEFERRED and CANCELLED).
    pub reason: Option<String>,
    /// The day it happened (default today): start date for IN_PROGRESS, completion for IMPLEMENTED.
    pub on: Option<NaiveDate>,
}

/// Links to add to or remove from a measure.
#[derive(InputObject)]
pub struct MeasureLinksInput {
    /// The measure.
    pub measure_id: ID,
    /// The version read.
    pub version: i32,
    /// Findings.
    #[graphql(default)]
    pub finding_ids: Vec<ID>,
    /// Systems.
    #[graphql(default)]
    pub system_ids: Vec<ID>,
}

/// One execution of a recurring measure.
#[derive(InputObject)]
pub struct RecordOccurrenceInput {
    /// The recurring measure.
    pub measure_id: ID,
    /// The period, e.g. `2022-W48`, `2022-12`, `2022-Q4`, `2022`.
    pub period: String,
    /// When it was done.
    pub done_on: NaiveDate,
    /// A note.
    pub note: Option<String>,
}

/// Metadata of an evidence item.
#[derive(InputObject)]
pub struct EvidenceInput {
    /// The measure it proves.
    pub measure_id: ID,
    /// The system it is about.
    pub system_id: Option<ID>,
    /// Kind of document.
    pub kind: EvidenceKind,
    /// Title.
    pub title: String,
    /// Who issued it.
    pub issued_by: Option<String>,
    /// When it was issued.
    pub issued_on: Option<NaiveDate>,
    /// First day valid.
    pub valid_from: Option<NaiveDate>,
    /// Last day valid.
    pub valid_until: Option<NaiveDate>,
}

/// A document kept elsewhere, registered by URI with its hash.
#[derive(InputObject)]
pub struct ExternalDocumentInput {
    /// Where it is kept.
    pub storage_uri: String,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size_bytes: i64,
}

/// A new report (a draft).
#[derive(InputObject)]
pub struct CreateReportInput {
    /// The order reported on.
    pub order_id: ID,
    /// Unique code (default: reference, kind and due date).
    pub code: Option<String>,
    /// Kind.
    pub kind: ReportKind,
    /// Title in English.
    pub title: String,
    /// Title in the regulator's language.
    pub title_local: Option<String>,
    /// Due date.
    pub due_on: NaiveDate,
    /// Text.
    pub body: Option<String>,
    /// Measures covered.
    #[graphql(default)]
    pub measure_ids: Vec<ID>,
}

/// Changes to a draft report.
#[derive(InputObject)]
pub struct UpdateReportInput {
    /// Title in English.
    pub title: Option<String>,
    /// Title in the regulator's language.
    pub title_local: Option<String>,
    /// Due date.
    pub due_on: Option<NaiveDate>,
    /// Text.
    pub body: Option<String>,
    /// Replaces the measures covered.
    pub measure_ids: Option<Vec<ID>>,
}

/// An evaluator's assessment of a report or a measure (give exactly one).
#[derive(InputObject)]
pub struct AddEvaluationInput {
    /// The report assessed.
    pub report_id: Option<ID>,
    /// The measure assessed.
    pub measure_id: Option<ID>,
    /// The verdict.
    pub verdict: Verdict,
    /// The comment.
    pub comment: Option<String>,
}

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

// ---------------------------------------------------------------- into the store's inputs

fn ids(ids: &[ID], type_name: &str) -> AppResult<Vec<i64>> {
    ids.iter().map(|i| decode(i, type_name)).collect()
}

fn opt_id(id: &Option<ID>, type_name: &str) -> AppResult<Option<i64>> {
    id.as_ref().map(|i| decode(i, type_name)).transpose()
}

fn opt_ids(list: &Option<Vec<ID>>, type_name: &str) -> AppResult<Option<Vec<i64>>> {
    list.as_deref().map(|l| ids(l, type_name)).transpose()
}

/// `TryFrom<GraphQL input>` for the store's input: the fields listed move over as they are;
/// those under `ids` are decoded with the function and type named.
macro_rules! into_store {
    ($($from:ident => $to:ty { $($f:ident),* $(,)? } $(ids { $($idf:ident: $conv:ident($ty:literal)),* $(,)? })?;)*) => {$(
        impl TryFrom<$from> for $to {
            type Error = AppError;
            fn try_from(i: $from) -> AppResult<Self> {
                Ok(Self { $($f: i.$f,)* $($($idf: $conv(&i.$idf, $ty)?,)*)? })
            }
        }
    )*};
}

into_store! {
    CreateRegulatorInput => orders::NewRegulator { code, name, name_local, kind };
    UpdateRegulatorInput => orders::RegulatorChanges { name, name_local, kind };
    CreateOrderInput => orders::NewOrder {
        kind, reference, title, title_local, legal_basis, issued_on, status, summary
    } ids { regulator_id: decode("Regulator") };
    UpdateOrderInput => orders::OrderChanges {
        title, title_local, legal_basis, issued_on, status, summary
    };
    CreateFindingInput => orders::NewFinding {
        category, number, title, facts, facts_en, directive, directive_en
    } ids { order_id: decode("Order") };
    UpdateFindingInput => orders::FindingChanges {
        category, title, facts, facts_en, directive, directive_en
    };
    CreateOwnerInput => catalog::NewOwner {
        code, name, name_local, kind, role_title, contact
    } ids { parent_id: opt_id("Owner") };
    UpdateOwnerInput => catalog::OwnerChanges { name, name_local, kind, role_title, contact };
    CreateSystemInput => catalog::NewSystem {
        code, name, name_local, kind, scope_note, holds_card_data
    };
    UpdateSystemInput => catalog::SystemChanges {
        name, name_local, kind, scope_note, holds_card_data
    };
    CreateMeasureInput => measures::NewMeasure {
        code, title, title_local, plan, due_on, recurrence, note
    } ids {
        owner_id: opt_id("Owner"),
        finding_ids: ids("Finding"),
        system_ids: ids("System"),
    };
    UpdateMeasureInput => measures::MeasureChanges {
        title, title_local, plan, due_on, due_change_reason, recurrence, note
    } ids { owner_id: opt_id("Owner") };
    TransitionMeasureInput => measures::Transition {
        version, to, reason, on
    } ids { id: decode("Measure") };
    MeasureLinksInput => measures::MeasureLinks {
        version
    } ids {
        measure_id: decode("Measure"),
        finding_ids: ids("Finding"),
        system_ids: ids("System"),
    };
    RecordOccurrenceInput => measures::NewOccurrence {
        period, done_on, note
    } ids { measure_id: decode("Measure") };
    EvidenceInput => documents::NewEvidence {
        kind, title, issued_by, issued_on, valid_from, valid_until
    } ids { measure_id: decode("Measure"), system_id: opt_id("System") };
    ExternalDocumentInput => documents::ExternalDocument {
        storage_uri, sha256, media_type, size_bytes
    };
    CreateReportInput => reports::NewReport {
        code, kind, title, title_local, due_on, body
    } ids { order_id: decode("Order"), measure_ids: ids("Measure") };
    UpdateReportInput => reports::ReportChanges {
        title, title_local, due_on, body
    } ids { measure_ids: opt_ids("Measure") };
    AddEvaluationInput => reports::NewEvaluation {
        verdict, comment
    } ids { report_id: opt_id("Report"), measure_id: opt_id("Measure") };
}

// ---------------------------------------------------------------- uploads

async fn read_upload(ctx: &Context<'_>, file: &Upload) -> AppResult<(Vec<u8>, String)> {
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
        let row = write!(ctx, |w, who| orders::create_regulator(w, who, &input));
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
        let row = write!(ctx, |w, who| orders::update_regulator(
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
        let row = write!(ctx, |w, who| orders::archive_regulator(w, who, id, version));
        Ok(Regulator(row))
    }

    // ------------------------------------------------------------ orders

    /// Creates an order.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn create_order(&self, ctx: &Context<'_>, input: CreateOrderInput) -> AppResult<Order> {
        let input = input.try_into()?;
        let row = write!(ctx, |w, who| orders::create_order(w, who, &input));
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
        let row = write!(ctx, |w, who| orders::update_order(
            w, who, id, version, &input
        ));
        Ok(Order(row))
    }

    /// Archives an order.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_order(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Order> {
        let id = decode(&id, "Order")?;
        let row = write!(ctx, |w, who| orders::archive_order(w, who, id, version));
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
        let row = write!(ctx, |w, who| orders::create_finding(w, who, &input));
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
        let row = write!(ctx, |w, who| orders::update_finding(
            w, who, id, version, &input
        ));
        Ok(Finding(row))
    }

    /// Archives a finding.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_finding(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Finding> {
        let id = decode(&id, "Finding")?;
        let row = write!(ctx, |w, who| orders::archive_finding(w, who, id, version));
        Ok(Finding(row))
    }

    // ------------------------------------------------------------ owners and systems

    /// Creates an owner.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn create_owner(&self, ctx: &Context<'_>, input: CreateOwnerInput) -> AppResult<Owner> {
        let input = input.try_into()?;
        let row = write!(ctx, |w, who| catalog::create_owner(w, who, &input));
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
        let row = write!(ctx, |w, who| catalog::update_owner(
            w, who, id, version, &input
        ));
        Ok(Owner(row))
    }

    /// Archives an owner.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_owner(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Owner> {
        let id = decode(&id, "Owner")?;
        let row = write!(ctx, |w, who| catalog::archive_owner(w, who, id, version));
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
        let row = write!(ctx, |w, who| catalog::create_system(w, who, &input));
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
        let row = write!(ctx, |w, who| catalog::update_system(
            w, who, id, version, &input
        ));
        Ok(System(row))
    }

    /// Archives a system.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_system(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<System> {
        let id = decode(&id, "System")?;
        let row = write!(ctx, |w, who| catalog::archive_system(w, who, id, version));
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
        let row = write!(ctx, |w, who| measures::create_measure(w, who, &input));
        measure_changed(ctx, row).await
    }

    /// Updates a measure's plan. A moved due date needs a reason, which the audit log keeps.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn update_measure(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: UpdateMeasureInput,
    ) -> AppResult<Measure> {
        let (id, input) = (decode(&id, "Measure")?, input.try_into()?);
        let row = write!(ctx, |w, who| measures::update_measure(
            w, who, id, version, &input
        ));
        measure_changed(ctx, row).await
    }

    /// Moves a measure along its workflow. VERIFIED needs current evidence; DEFERRED and
    /// CANCELLED need a reason; other moves are refused.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn transition_measure(
        &self,
        ctx: &Context<'_>,
        input: TransitionMeasureInput,
    ) -> AppResult<Measure> {
        let input = input.try_into()?;
        let row = write!(ctx, |w, who| measures::transition_measure(w, who, &input));
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
        let row = write!(ctx, |w, who| measures::link_measure(w, who, &input));
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
        let row = write!(ctx, |w, who| measures::unlink_measure(w, who, &input));
        measure_changed(ctx, row).await
    }

    /// Archives a measure.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_measure(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Measure> {
        let id = decode(&id, "Measure")?;
        let row = write!(ctx, |w, who| measures::archive_measure(w, who, id, version));
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
        let row = write!(ctx, |w, who| measures::record_occurrence(w, who, &input));
        crate::events::measure_changed(ctx, row.measure_id).await;
        Ok(Occurrence(row))
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
        let row = write!(ctx, |w, who| documents::add_evidence(
            w, who, &input, stored
        ));
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
        let row = write!(ctx, |w, who| documents::add_evidence(
            w, who, &input, stored
        ));
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
        let row = write!(ctx, |w, who| documents::supersede_evidence(
            w, who, prev, &input, stored
        ));
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
        let row = write!(ctx, |w, who| reports::create_report(w, who, &input));
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
        let row = write!(ctx, |w, who| reports::update_report(
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
        submitted_on: Option<NaiveDate>,
    ) -> AppResult<Report> {
        let id = decode(&id, "Report")?;
        let row = write!(ctx, |w, who| reports::submit_report(
            w,
            who,
            id,
            version,
            submitted_on
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
        acknowledged_on: Option<NaiveDate>,
    ) -> AppResult<Report> {
        let id = decode(&id, "Report")?;
        let row = write!(ctx, |w, who| reports::acknowledge_report(
            w,
            who,
            id,
            version,
            acknowledged_on
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
        let row = write!(ctx, |w, who| reports::add_evaluation(w, who, &input));
        Ok(Evaluation(row))
    }
}

/// Publishes the change of a measure (after its write committed).
async fn measure_changed(ctx: &Context<'_>, row: entity::measure::Model) -> AppResult<Measure> {
    crate::events::measure_changed(ctx, row.id).await;
    Ok(Measure(row))
}

/// Publishes the change of a report (after its write committed).
async fn report_changed(ctx: &Context<'_>, row: entity::report::Model) -> AppResult<Report> {
    crate::events::report_changed(ctx, row.id, row.order_id).await;
    Ok(Report(row))
}
