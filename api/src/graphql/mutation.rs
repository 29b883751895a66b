//! Mutations. Each runs in one transaction with exactly one audit event; updates carry the
//! version they read (`CONFLICT` when stale); inputs are validated with `VALIDATION` errors
//! naming the field.
use async_graphql::{Context, InputObject, Object, SimpleObject, Upload, ID};
use chrono::NaiveDate;
use entity::enums::*;
use entity::*;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter,
};
use serde_json::json;

use super::loader::{evidence_meta_select, EvidenceMeta};
use super::types::*;
use crate::auth::{caller, Caller, Permission, Requires};
use crate::error::{AppError, AppResult};
use crate::id::decode;
use crate::service::plan::{self, EvidenceStore};
use crate::service::scope::{check_finding, check_order, check_unscoped};
use crate::service::write::{
    self, archive, load, opt_text, text, update_versioned, Write, WriteGate, LONG, SHORT,
};

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

/// A measure the caller may act on ([`crate::service::scope::check_measure`]).
async fn check_measure(w: &Write<'_>, who: &Caller, measure_id: i64) -> AppResult<measure::Model> {
    let m = load::<measure::Entity>(w, measure_id).await?;
    crate::service::scope::check_measure(&w.txn, who, measure_id).await?;
    Ok(m)
}

/// A finding the caller may act on ([`check_finding`]).
async fn checked_finding(w: &Write<'_>, who: &Caller, id: &ID) -> AppResult<finding::Model> {
    let f = load::<finding::Entity>(w, decode(id, "Finding")?).await?;
    check_finding(who, &f)?;
    Ok(f)
}

fn date_order(
    field: &str,
    earlier: Option<NaiveDate>,
    later: Option<NaiveDate>,
    what: &str,
) -> AppResult<()> {
    match (earlier, later) {
        (Some(a), Some(b)) if b < a => Err(AppError::validation(field, what.to_string())),
        _ => Ok(()),
    }
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

// ---------------------------------------------------------------- helpers

fn set_opt_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> AppResult<Option<sea_orm::ActiveValue<Option<String>>>> {
    match value {
        None => Ok(None),
        Some(v) => Ok(Some(Set(opt_text(field, Some(&v), max)?))),
    }
}

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

/// A SHA-256 in hex: exactly 64 hex digits (white space is refused, not trimmed), kept in
/// lowercase, the form remedy computes and compares.
fn check_sha(field: &str, sha: &str) -> AppResult<String> {
    let s = sha.to_ascii_lowercase();
    if s.len() != 64 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(AppError::validation(
            field,
            "must be 64 hexadecimal characters",
        ));
    }
    Ok(s)
}

/// Inserts an evidence row (metadata checked here) and its one audit event.
async fn insert_evidence(
    ctx: &Context<'_>,
    input: EvidenceInput,
    stored: StoredDocument,
    supersedes: Option<i64>,
    action: &str,
) -> AppResult<Evidence> {
    let (w, who) = begin(ctx).await?;
    let measure_id = decode(&input.measure_id, "Measure")?;
    check_measure(&w, who, measure_id).await?;
    let system_id = match &input.system_id {
        Some(s) => Some(load::<system::Entity>(&w, decode(s, "System")?).await?.id),
        None => None,
    };
    date_order(
        "validUntil",
        input.valid_from,
        input.valid_until,
        "must not be before validFrom",
    )?;
    if let Some(prev) = supersedes {
        let old = evidence::Entity::find_by_id(prev)
            .one(&w.txn)
            .await?
            .ok_or_else(|| AppError::not_found("evidence"))?;
        if old.measure_id != measure_id {
            return Err(AppError::validation(
                "measureId",
                "a revision proves the same measure as the one it supersedes",
            ));
        }
        if evidence::Entity::find()
            .filter(evidence::Column::SupersedesId.eq(prev))
            .count(&w.txn)
            .await?
            > 0
        {
            return Err(AppError::Conflict {
                message: "this evidence was already superseded: supersede its latest revision"
                    .into(),
                current_version: None,
            });
        }
    }
    // Inserted without reading the row back: its bytes would come back with it (RETURNING
    // on PostgreSQL, a SELECT on SQLite); the record is read without them.
    let row = evidence::ActiveModel {
        measure_id: Set(measure_id),
        system_id: Set(system_id),
        kind: Set(input.kind),
        title: Set(text("title", &input.title, SHORT)?),
        issued_by: Set(opt_text("issuedBy", input.issued_by.as_deref(), SHORT)?),
        issued_on: Set(input.issued_on),
        valid_from: Set(input.valid_from),
        valid_until: Set(input.valid_until),
        sha256: Set(stored.sha256),
        media_type: Set(text("mediaType", &stored.media_type, 200)?),
        size_bytes: Set(stored.size),
        storage_uri: Set(stored.uri),
        content: Set(stored.content),
        supersedes_id: Set(supersedes),
        submitted_by: Set(who.subject.clone()),
        submitted_at: Set(w.now),
        created_at: Set(w.now),
        ..Default::default()
    };
    let id = evidence::Entity::insert(row)
        .exec(&w.txn)
        .await?
        .last_insert_id;
    let meta: EvidenceMeta = evidence_meta_select()
        .filter(evidence::Column::Id.eq(id))
        .into_model()
        .one(&w.txn)
        .await?
        .ok_or_else(|| AppError::not_found("evidence"))?;
    // The same JSON as the row's (whose bytes are never serialised).
    w.audit(action, "Evidence", id, None, Some(json!(meta)))
        .await?;
    w.commit().await?;
    Ok(Evidence(meta))
}

struct StoredDocument {
    sha256: String,
    media_type: String,
    size: i64,
    uri: Option<String>,
    content: Option<Vec<u8>>,
}

async fn store_upload(
    ctx: &Context<'_>,
    file: &Upload,
    expected_sha256: Option<String>,
) -> AppResult<StoredDocument> {
    let (bytes, media_type) = read_upload(ctx, file).await?;
    let sha = plan::sha256_hex(&bytes);
    if let Some(expected) = expected_sha256 {
        if check_sha("expectedSha256", &expected)? != sha {
            return Err(AppError::validation(
                "expectedSha256",
                "does not match the uploaded bytes: nothing was stored",
            ));
        }
    }
    let store = ctx.data_unchecked::<EvidenceStore>();
    let uri = store.put(&sha, &bytes).await?;
    Ok(StoredDocument {
        size: bytes.len() as i64,
        content: if uri.is_none() { Some(bytes) } else { None },
        sha256: sha,
        media_type,
        uri,
    })
}

fn external(doc: ExternalDocumentInput) -> AppResult<StoredDocument> {
    let uri = text("storageUri", &doc.storage_uri, 2000)?;
    if uri.starts_with("store:") {
        return Err(AppError::validation(
            "storageUri",
            "the store: scheme is reserved",
        ));
    }
    if doc.size_bytes < 0 {
        return Err(AppError::validation("sizeBytes", "must not be negative"));
    }
    Ok(StoredDocument {
        sha256: check_sha("sha256", &doc.sha256)?,
        media_type: doc.media_type,
        size: doc.size_bytes,
        uri: Some(uri),
        content: None,
    })
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
        let (w, who) = begin(ctx).await?;
        check_unscoped(who, "regulators")?;
        let row = regulator::ActiveModel {
            code: Set(write::code("code", &input.code)?),
            name: Set(text("name", &input.name, SHORT)?),
            name_local: Set(opt_text("nameLocal", input.name_local.as_deref(), SHORT)?),
            kind: Set(input.kind),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(w.now),
            updated_at: Set(w.now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        w.audit("create", "Regulator", row.id, None, Some(json!(row)))
            .await?;
        w.commit().await?;
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
        let (w, who) = begin(ctx).await?;
        check_unscoped(who, "regulators")?;
        let row = update_versioned::<regulator::Entity, _>(
            &w,
            decode(&id, "Regulator")?,
            version,
            "update",
            None,
            |_, a| {
                if let Some(n) = &input.name {
                    a.name = Set(text("name", n, SHORT)?);
                }
                if let Some(v) = set_opt_text("nameLocal", input.name_local.clone(), SHORT)? {
                    a.name_local = v;
                }
                if let Some(k) = input.kind {
                    a.kind = Set(k);
                }
                Ok(())
            },
        )
        .await?;
        w.commit().await?;
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
        let (w, who) = begin(ctx).await?;
        check_unscoped(who, "regulators")?;
        let row = archive::<regulator::Entity>(&w, decode(&id, "Regulator")?, version).await?;
        w.commit().await?;
        Ok(Regulator(row))
    }

    // ------------------------------------------------------------ orders

    /// Creates an order.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn create_order(&self, ctx: &Context<'_>, input: CreateOrderInput) -> AppResult<Order> {
        let (w, who) = begin(ctx).await?;
        check_unscoped(who, "new orders")?;
        let regulator_id = load::<regulator::Entity>(&w, decode(&input.regulator_id, "Regulator")?)
            .await?
            .id;
        let row = regulatory_order::ActiveModel {
            regulator_id: Set(regulator_id),
            kind: Set(input.kind),
            reference: Set(write::code("reference", &input.reference)?),
            title: Set(text("title", &input.title, SHORT)?),
            title_local: Set(opt_text("titleLocal", input.title_local.as_deref(), SHORT)?),
            legal_basis: Set(opt_text("legalBasis", input.legal_basis.as_deref(), SHORT)?),
            issued_on: Set(input.issued_on),
            status: Set(input.status.unwrap_or(OrderStatus::Open)),
            summary: Set(opt_text("summary", input.summary.as_deref(), LONG)?),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(w.now),
            updated_at: Set(w.now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        w.audit("create", "Order", row.id, None, Some(json!(row)))
            .await?;
        w.commit().await?;
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
        let (w, who) = begin(ctx).await?;
        let raw = decode(&id, "Order")?;
        check_order(who, raw)?;
        let row = update_versioned::<regulatory_order::Entity, _>(
            &w,
            raw,
            version,
            "update",
            None,
            |_, a| {
                if let Some(t) = &input.title {
                    a.title = Set(text("title", t, SHORT)?);
                }
                if let Some(v) = set_opt_text("titleLocal", input.title_local.clone(), SHORT)? {
                    a.title_local = v;
                }
                if let Some(v) = set_opt_text("legalBasis", input.legal_basis.clone(), SHORT)? {
                    a.legal_basis = v;
                }
                if let Some(d) = input.issued_on {
                    a.issued_on = Set(d);
                }
                if let Some(s) = input.status {
                    a.status = Set(s);
                }
                if let Some(v) = set_opt_text("summary", input.summary.clone(), LONG)? {
                    a.summary = v;
                }
                Ok(())
            },
        )
        .await?;
        w.commit().await?;
        Ok(Order(row))
    }

    /// Archives an order.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_order(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Order> {
        let (w, who) = begin(ctx).await?;
        let raw = decode(&id, "Order")?;
        check_order(who, raw)?;
        let row = archive::<regulatory_order::Entity>(&w, raw, version).await?;
        w.commit().await?;
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
        let (w, who) = begin(ctx).await?;
        let order_id = decode(&input.order_id, "Order")?;
        check_order(who, order_id)?;
        let order_id = load::<regulatory_order::Entity>(&w, order_id).await?.id;
        let row = finding::ActiveModel {
            order_id: Set(order_id),
            category: Set(input.category),
            number: Set(write::code("number", &input.number)?),
            title: Set(text("title", &input.title, SHORT)?),
            facts: Set(text("facts", &input.facts, LONG)?),
            facts_en: Set(opt_text("factsEn", input.facts_en.as_deref(), LONG)?),
            directive: Set(text("directive", &input.directive, LONG)?),
            directive_en: Set(opt_text(
                "directiveEn",
                input.directive_en.as_deref(),
                LONG,
            )?),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(w.now),
            updated_at: Set(w.now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        w.audit("create", "Finding", row.id, None, Some(json!(row)))
            .await?;
        w.commit().await?;
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
        let (w, who) = begin(ctx).await?;
        let current = checked_finding(&w, who, &id).await?;
        let row = update_versioned::<finding::Entity, _>(
            &w,
            current.id,
            version,
            "update",
            None,
            |_, a| {
                if let Some(c) = input.category {
                    a.category = Set(c);
                }
                if let Some(t) = &input.title {
                    a.title = Set(text("title", t, SHORT)?);
                }
                if let Some(t) = &input.facts {
                    a.facts = Set(text("facts", t, LONG)?);
                }
                if let Some(v) = set_opt_text("factsEn", input.facts_en.clone(), LONG)? {
                    a.facts_en = v;
                }
                if let Some(t) = &input.directive {
                    a.directive = Set(text("directive", t, LONG)?);
                }
                if let Some(v) = set_opt_text("directiveEn", input.directive_en.clone(), LONG)? {
                    a.directive_en = v;
                }
                Ok(())
            },
        )
        .await?;
        w.commit().await?;
        Ok(Finding(row))
    }

    /// Archives a finding.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_finding(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Finding> {
        let (w, who) = begin(ctx).await?;
        let current = checked_finding(&w, who, &id).await?;
        let row = archive::<finding::Entity>(&w, current.id, version).await?;
        w.commit().await?;
        Ok(Finding(row))
    }

    // ------------------------------------------------------------ owners and systems

    /// Creates an owner.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn create_owner(&self, ctx: &Context<'_>, input: CreateOwnerInput) -> AppResult<Owner> {
        let (w, who) = begin(ctx).await?;
        check_unscoped(who, "owners")?;
        let parent_id = match &input.parent_id {
            Some(p) => Some(load::<owner::Entity>(&w, decode(p, "Owner")?).await?.id),
            None => None,
        };
        let row = owner::ActiveModel {
            code: Set(write::code("code", &input.code)?),
            name: Set(text("name", &input.name, SHORT)?),
            name_local: Set(opt_text("nameLocal", input.name_local.as_deref(), SHORT)?),
            kind: Set(input.kind),
            role_title: Set(opt_text("roleTitle", input.role_title.as_deref(), SHORT)?),
            contact: Set(opt_text("contact", input.contact.as_deref(), SHORT)?),
            parent_id: Set(parent_id),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(w.now),
            updated_at: Set(w.now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        w.audit("create", "Owner", row.id, None, Some(json!(row)))
            .await?;
        w.commit().await?;
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
        let (w, who) = begin(ctx).await?;
        check_unscoped(who, "owners")?;
        let row = update_versioned::<owner::Entity, _>(
            &w,
            decode(&id, "Owner")?,
            version,
            "update",
            None,
            |_, a| {
                if let Some(n) = &input.name {
                    a.name = Set(text("name", n, SHORT)?);
                }
                if let Some(v) = set_opt_text("nameLocal", input.name_local.clone(), SHORT)? {
                    a.name_local = v;
                }
                if let Some(k) = input.kind {
                    a.kind = Set(k);
                }
                if let Some(v) = set_opt_text("roleTitle", input.role_title.clone(), SHORT)? {
                    a.role_title = v;
                }
                if let Some(v) = set_opt_text("contact", input.contact.clone(), SHORT)? {
                    a.contact = v;
                }
                Ok(())
            },
        )
        .await?;
        w.commit().await?;
        Ok(Owner(row))
    }

    /// Archives an owner.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_owner(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Owner> {
        let (w, who) = begin(ctx).await?;
        check_unscoped(who, "owners")?;
        let row = archive::<owner::Entity>(&w, decode(&id, "Owner")?, version).await?;
        w.commit().await?;
        Ok(Owner(row))
    }

    /// Creates a system.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn create_system(
        &self,
        ctx: &Context<'_>,
        input: CreateSystemInput,
    ) -> AppResult<System> {
        let (w, who) = begin(ctx).await?;
        check_unscoped(who, "systems")?;
        let row = system::ActiveModel {
            code: Set(write::code("code", &input.code)?),
            name: Set(text("name", &input.name, SHORT)?),
            name_local: Set(opt_text("nameLocal", input.name_local.as_deref(), SHORT)?),
            kind: Set(input.kind),
            scope_note: Set(opt_text("scopeNote", input.scope_note.as_deref(), LONG)?),
            holds_card_data: Set(input.holds_card_data),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(w.now),
            updated_at: Set(w.now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        w.audit("create", "System", row.id, None, Some(json!(row)))
            .await?;
        w.commit().await?;
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
        let (w, who) = begin(ctx).await?;
        check_unscoped(who, "systems")?;
        let row = update_versioned::<system::Entity, _>(
            &w,
            decode(&id, "System")?,
            version,
            "update",
            None,
            |_, a| {
                if let Some(n) = &input.name {
                    a.name = Set(text("name", n, SHORT)?);
                }
                if let Some(v) = set_opt_text("nameLocal", input.name_local.clone(), SHORT)? {
                    a.name_local = v;
                }
                if let Some(k) = input.kind {
                    a.kind = Set(k);
                }
                if let Some(v) = set_opt_text("scopeNote", input.scope_note.clone(), LONG)? {
                    a.scope_note = v;
                }
                if let Some(b) = input.holds_card_data {
                    a.holds_card_data = Set(b);
                }
                Ok(())
            },
        )
        .await?;
        w.commit().await?;
        Ok(System(row))
    }

    /// Archives a system.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_system(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<System> {
        let (w, who) = begin(ctx).await?;
        check_unscoped(who, "systems")?;
        let row = archive::<system::Entity>(&w, decode(&id, "System")?, version).await?;
        w.commit().await?;
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
        let (w, who) = begin(ctx).await?;
        if input.finding_ids.is_empty() {
            return Err(AppError::validation(
                "findingIds",
                "a measure answers at least one finding",
            ));
        }
        let owner_id = match &input.owner_id {
            Some(o) => Some(load::<owner::Entity>(&w, decode(o, "Owner")?).await?.id),
            None => None,
        };
        let mut findings = Vec::new();
        for f in &input.finding_ids {
            findings.push(checked_finding(&w, who, f).await?.id);
        }
        let mut systems = Vec::new();
        for s in &input.system_ids {
            systems.push(load::<system::Entity>(&w, decode(s, "System")?).await?.id);
        }
        findings.sort_unstable();
        findings.dedup();
        systems.sort_unstable();
        systems.dedup();
        let row = measure::ActiveModel {
            code: Set(write::code("code", &input.code)?),
            title: Set(text("title", &input.title, SHORT)?),
            title_local: Set(opt_text("titleLocal", input.title_local.as_deref(), SHORT)?),
            plan: Set(opt_text("plan", input.plan.as_deref(), LONG)?),
            status: Set(MeasureStatus::Planned),
            status_reason: Set(None),
            owner_id: Set(owner_id),
            started_on: Set(None),
            due_on: Set(input.due_on),
            completed_on: Set(None),
            recurrence: Set(input.recurrence.unwrap_or(Recurrence::None)),
            next_due_on: Set(None),
            note: Set(opt_text("note", input.note.as_deref(), LONG)?),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(w.now),
            updated_at: Set(w.now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        for f in &findings {
            measure_finding::ActiveModel {
                measure_id: Set(row.id),
                finding_id: Set(*f),
                created_at: Set(w.now),
            }
            .insert(&w.txn)
            .await?;
        }
        for s in &systems {
            measure_system::ActiveModel {
                measure_id: Set(row.id),
                system_id: Set(*s),
                created_at: Set(w.now),
            }
            .insert(&w.txn)
            .await?;
        }
        let mut after = json!(row);
        after["findingIds"] = json!(findings);
        after["systemIds"] = json!(systems);
        w.audit("create", "Measure", row.id, None, Some(after))
            .await?;
        w.commit().await?;
        crate::events::measure_changed(ctx, row.id).await;
        Ok(Measure(row))
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
        let (w, who) = begin(ctx).await?;
        let raw = decode(&id, "Measure")?;
        let current = check_measure(&w, who, raw).await?;
        let owner_id = match &input.owner_id {
            Some(o) => Some(load::<owner::Entity>(&w, decode(o, "Owner")?).await?.id),
            None => None,
        };
        let reason = opt_text("dueChangeReason", input.due_change_reason.as_deref(), LONG)?;
        let moves_due = input
            .due_on
            .is_some_and(|d| current.due_on.is_some_and(|old| old != d));
        if moves_due && reason.is_none() {
            return Err(AppError::validation(
                "dueChangeReason",
                "required when the due date moves",
            ));
        }
        let extra =
            moves_due.then(|| json!({"dueChangeReason": reason, "previousDueOn": current.due_on}));
        let next_due = match input.recurrence {
            Some(r) if r != current.recurrence => {
                let start = current.started_on.or(current.completed_on);
                start.and_then(|s| plan::first_due(r, s))
            }
            _ => current.next_due_on,
        };
        let row =
            update_versioned::<measure::Entity, _>(&w, raw, version, "update", extra, |_, a| {
                if let Some(t) = &input.title {
                    a.title = Set(text("title", t, SHORT)?);
                }
                if let Some(v) = set_opt_text("titleLocal", input.title_local.clone(), SHORT)? {
                    a.title_local = v;
                }
                if let Some(v) = set_opt_text("plan", input.plan.clone(), LONG)? {
                    a.plan = v;
                }
                if let Some(o) = owner_id {
                    a.owner_id = Set(Some(o));
                }
                if let Some(d) = input.due_on {
                    a.due_on = Set(Some(d));
                }
                if let Some(r) = input.recurrence {
                    a.recurrence = Set(r);
                    a.next_due_on = Set(if r == Recurrence::None {
                        None
                    } else {
                        next_due
                    });
                }
                if let Some(v) = set_opt_text("note", input.note.clone(), LONG)? {
                    a.note = v;
                }
                Ok(())
            })
            .await?;
        w.commit().await?;
        crate::events::measure_changed(ctx, row.id).await;
        Ok(Measure(row))
    }

    /// Moves a measure along its workflow. VERIFIED needs current evidence; DEFERRED and
    /// CANCELLED need a reason; other moves are refused.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn transition_measure(
        &self,
        ctx: &Context<'_>,
        input: TransitionMeasureInput,
    ) -> AppResult<Measure> {
        let (w, who) = begin(ctx).await?;
        let raw = decode(&input.id, "Measure")?;
        let current = check_measure(&w, who, raw).await?;
        if current.version != input.version {
            return Err(write::stale("Measure", current.version));
        }
        if current.archived_at.is_some() {
            return Err(AppError::validation("id", "the measure is archived"));
        }
        let to = input.to;
        if !plan::allowed(current.status, to) {
            return Err(AppError::validation(
                "to",
                format!("a measure cannot move from {} to {}", current.status, to),
            ));
        }
        let on = input.on.unwrap_or_else(today);
        let reason = opt_text("reason", input.reason.as_deref(), LONG)?;
        if matches!(to, MeasureStatus::Deferred | MeasureStatus::Cancelled) && reason.is_none() {
            return Err(AppError::validation(
                "reason",
                format!("required to move to {to}"),
            ));
        }
        if to == MeasureStatus::Verified && !plan::has_current_evidence(&w.txn, raw, on).await? {
            return Err(AppError::validation(
                "to",
                "VERIFIED needs at least one current evidence item",
            ));
        }
        if to == MeasureStatus::Implemented {
            date_order(
                "on",
                current.started_on,
                Some(on),
                "completion cannot be before the start",
            )?;
        }
        let start_first_due = (to == MeasureStatus::InProgress
            && current.started_on.is_none()
            && current.recurrence != Recurrence::None)
            .then(|| plan::first_due(current.recurrence, on))
            .flatten();
        let row = update_versioned::<measure::Entity, _>(
            &w,
            raw,
            input.version,
            "transition",
            Some(json!({"from": current.status, "to": to, "on": on, "reason": reason})),
            |before, a| {
                a.status = Set(to);
                match to {
                    MeasureStatus::InProgress if before.started_on.is_none() => {
                        a.started_on = Set(Some(on));
                        if start_first_due.is_some() {
                            a.next_due_on = Set(start_first_due);
                        }
                    }
                    MeasureStatus::Implemented => a.completed_on = Set(Some(on)),
                    _ => {}
                }
                a.status_reason = Set(match to {
                    MeasureStatus::Deferred | MeasureStatus::Cancelled => reason.clone(),
                    _ => None,
                });
                Ok(())
            },
        )
        .await?;
        w.commit().await?;
        crate::events::measure_changed(ctx, row.id).await;
        Ok(Measure(row))
    }

    /// Links a measure to more findings and systems.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn link_measure(
        &self,
        ctx: &Context<'_>,
        input: MeasureLinksInput,
    ) -> AppResult<Measure> {
        relink(ctx, input, true).await
    }

    /// Unlinks findings and systems from a measure (it keeps at least one finding).
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn unlink_measure(
        &self,
        ctx: &Context<'_>,
        input: MeasureLinksInput,
    ) -> AppResult<Measure> {
        relink(ctx, input, false).await
    }

    /// Archives a measure.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn archive_measure(&self, ctx: &Context<'_>, id: ID, version: i32) -> AppResult<Measure> {
        let (w, who) = begin(ctx).await?;
        let raw = decode(&id, "Measure")?;
        check_measure(&w, who, raw).await?;
        let row = archive::<measure::Entity>(&w, raw, version).await?;
        w.commit().await?;
        crate::events::measure_changed(ctx, row.id).await;
        Ok(Measure(row))
    }

    /// Records one execution of a recurring measure; its next due date follows.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn record_occurrence(
        &self,
        ctx: &Context<'_>,
        input: RecordOccurrenceInput,
    ) -> AppResult<Occurrence> {
        let (w, who) = begin(ctx).await?;
        let raw = decode(&input.measure_id, "Measure")?;
        let m = check_measure(&w, who, raw).await?;
        let end = plan::period_end(m.recurrence, &input.period)?;
        if input.done_on > today() {
            return Err(AppError::validation("doneOn", "cannot be in the future"));
        }
        let row = occurrence::ActiveModel {
            measure_id: Set(raw),
            // Exactly as given: `period_end` refused anything but a well-formed label.
            period: Set(input.period.clone()),
            due_on: Set(Some(end)),
            done_on: Set(input.done_on),
            done_by: Set(who.subject.clone()),
            note: Set(opt_text("note", input.note.as_deref(), LONG)?),
            created_at: Set(w.now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        let next = plan::next_due_after(&w.txn, &m).await?;
        // The measure's derived next due date changes with it: a versioned write without its own event.
        let res = measure::Entity::update_many()
            .col_expr(
                measure::Column::NextDueOn,
                sea_orm::sea_query::Expr::value(next),
            )
            .col_expr(
                measure::Column::Version,
                sea_orm::sea_query::Expr::value(m.version + 1),
            )
            .col_expr(
                measure::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(w.now),
            )
            .filter(measure::Column::Id.eq(raw))
            .filter(measure::Column::Version.eq(m.version))
            .exec(&w.txn)
            .await?;
        if res.rows_affected != 1 {
            return Err(write::stale("Measure", m.version));
        }
        let mut after = json!(row);
        after["measureNextDueOn"] = json!(next);
        w.audit("record_occurrence", "Occurrence", row.id, None, Some(after))
            .await?;
        w.commit().await?;
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
        insert_evidence(ctx, input, stored, None, "create").await
    }

    /// Registers a document kept elsewhere, by URI and SHA-256.
    #[graphql(guard = "Requires(Permission::WriteEvidence)")]
    async fn register_evidence(
        &self,
        ctx: &Context<'_>,
        input: EvidenceInput,
        document: ExternalDocumentInput,
    ) -> AppResult<Evidence> {
        insert_evidence(ctx, input, external(document)?, None, "create").await
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
            (None, Some(d)) => external(d)?,
            _ => return Err(AppError::validation("file", "give either file or document")),
        };
        insert_evidence(ctx, input, stored, Some(prev), "supersede").await
    }

    // ------------------------------------------------------------ reports

    /// Creates a draft report.
    #[graphql(guard = "Requires(Permission::WriteReports)")]
    async fn create_report(
        &self,
        ctx: &Context<'_>,
        input: CreateReportInput,
    ) -> AppResult<Report> {
        let (w, who) = begin(ctx).await?;
        let order = load::<regulatory_order::Entity>(&w, decode(&input.order_id, "Order")?).await?;
        check_order(who, order.id)?;
        let measures = report_measures(&w, order.id, &input.measure_ids).await?;
        let code = match &input.code {
            Some(c) => write::code("code", c)?,
            None => format!("{}-{}-{}", order.reference, input.kind, input.due_on),
        };
        let row = report::ActiveModel {
            code: Set(code),
            order_id: Set(order.id),
            kind: Set(input.kind),
            title: Set(text("title", &input.title, SHORT)?),
            title_local: Set(opt_text("titleLocal", input.title_local.as_deref(), SHORT)?),
            due_on: Set(input.due_on),
            submitted_on: Set(None),
            acknowledged_on: Set(None),
            status: Set(ReportStatus::Draft),
            body: Set(opt_text("body", input.body.as_deref(), 200_000)?),
            snapshot: Set(None),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(w.now),
            updated_at: Set(w.now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        link_report_measures(&w, row.id, &measures).await?;
        let mut after = json!(row);
        after["measureIds"] = json!(measures);
        w.audit("create", "Report", row.id, None, Some(after))
            .await?;
        w.commit().await?;
        crate::events::report_changed(ctx, row.id, row.order_id).await;
        Ok(Report(row))
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
        let (w, who) = begin(ctx).await?;
        let raw = decode(&id, "Report")?;
        let current = load::<report::Entity>(&w, raw).await?;
        check_order(who, current.order_id)?;
        if current.status != ReportStatus::Draft {
            return Err(AppError::Conflict {
                message: "the report was submitted and is read-only".into(),
                current_version: Some(current.version),
            });
        }
        let measures = match &input.measure_ids {
            Some(ids) => {
                let measures = report_measures(&w, current.order_id, ids).await?;
                report_measure::Entity::delete_many()
                    .filter(report_measure::Column::ReportId.eq(raw))
                    .exec(&w.txn)
                    .await?;
                link_report_measures(&w, raw, &measures).await?;
                Some(measures)
            }
            None => None,
        };
        let row = update_versioned::<report::Entity, _>(
            &w,
            raw,
            version,
            "update",
            measures.map(|m| json!({"measureIds": m})),
            |_, a| {
                if let Some(t) = &input.title {
                    a.title = Set(text("title", t, SHORT)?);
                }
                if let Some(v) = set_opt_text("titleLocal", input.title_local.clone(), SHORT)? {
                    a.title_local = v;
                }
                if let Some(d) = input.due_on {
                    a.due_on = Set(d);
                }
                if let Some(v) = set_opt_text("body", input.body.clone(), 200_000)? {
                    a.body = v;
                }
                Ok(())
            },
        )
        .await?;
        w.commit().await?;
        crate::events::report_changed(ctx, row.id, row.order_id).await;
        Ok(Report(row))
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
        let (w, who) = begin(ctx).await?;
        let raw = decode(&id, "Report")?;
        let current = load::<report::Entity>(&w, raw).await?;
        check_order(who, current.order_id)?;
        if current.status != ReportStatus::Draft {
            return Err(AppError::Conflict {
                message: "the report was already submitted".into(),
                current_version: Some(current.version),
            });
        }
        let on = submitted_on.unwrap_or_else(today);
        let snapshot = plan::snapshot(&w.txn, raw, on).await?;
        let row =
            update_versioned::<report::Entity, _>(&w, raw, version, "submit", None, |_, a| {
                a.status = Set(ReportStatus::Submitted);
                a.submitted_on = Set(Some(on));
                a.snapshot = Set(Some(snapshot));
                Ok(())
            })
            .await?;
        w.commit().await?;
        crate::events::report_changed(ctx, row.id, row.order_id).await;
        Ok(Report(row))
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
        let (w, who) = begin(ctx).await?;
        let raw = decode(&id, "Report")?;
        let current = load::<report::Entity>(&w, raw).await?;
        check_order(who, current.order_id)?;
        if current.status != ReportStatus::Submitted {
            return Err(AppError::validation(
                "id",
                "only a submitted report can be acknowledged",
            ));
        }
        let on = acknowledged_on.unwrap_or_else(today);
        date_order(
            "acknowledgedOn",
            current.submitted_on,
            Some(on),
            "cannot be before the submission",
        )?;
        let row =
            update_versioned::<report::Entity, _>(&w, raw, version, "acknowledge", None, |_, a| {
                a.status = Set(ReportStatus::Acknowledged);
                a.acknowledged_on = Set(Some(on));
                Ok(())
            })
            .await?;
        w.commit().await?;
        crate::events::report_changed(ctx, row.id, row.order_id).await;
        Ok(Report(row))
    }

    // ------------------------------------------------------------ evaluations

    /// Adds an evaluation of a report or measure of an order the caller was granted.
    #[graphql(guard = "Requires(Permission::WriteEvaluations)")]
    async fn add_evaluation(
        &self,
        ctx: &Context<'_>,
        input: AddEvaluationInput,
    ) -> AppResult<Evaluation> {
        let (w, who) = begin(ctx).await?;
        let (report_id, measure_id) = match (&input.report_id, &input.measure_id) {
            (Some(r), None) => {
                let rep = load::<report::Entity>(&w, decode(r, "Report")?)
                    .await
                    .map_err(|_| AppError::not_found("report"))?;
                check_order(who, rep.order_id).map_err(|_| AppError::not_found("report"))?;
                (Some(rep.id), None)
            }
            (None, Some(m)) => (
                None,
                Some(check_measure(&w, who, decode(m, "Measure")?).await?.id),
            ),
            _ => {
                return Err(AppError::validation(
                    "reportId",
                    "give exactly one of reportId and measureId",
                ))
            }
        };
        let evaluator_id = evaluator::Entity::find()
            .filter(evaluator::Column::Code.eq(who.subject.as_str()))
            .one(&w.txn)
            .await?
            .map(|e| e.id);
        let row = evaluation::ActiveModel {
            report_id: Set(report_id),
            measure_id: Set(measure_id),
            evaluator_id: Set(evaluator_id),
            evaluator_subject: Set(who.subject.clone()),
            verdict: Set(input.verdict),
            comment: Set(opt_text("comment", input.comment.as_deref(), LONG)?),
            evaluated_at: Set(w.now),
            created_at: Set(w.now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        w.audit("create", "Evaluation", row.id, None, Some(json!(row)))
            .await?;
        w.commit().await?;
        Ok(Evaluation(row))
    }
}

/// The measures a report on `order_id` is to hold, sorted and deduplicated: each must exist
/// and answer a finding of that order (`VALIDATION` on `measureIds` otherwise), so a report
/// never carries, nor freezes into its snapshot, another order's measures.
async fn report_measures(w: &Write<'_>, order_id: i64, ids: &[ID]) -> AppResult<Vec<i64>> {
    let mut rows = Vec::new();
    for gid in ids {
        rows.push(load::<measure::Entity>(w, decode(gid, "Measure")?).await?);
    }
    rows.sort_unstable_by_key(|m| m.id);
    rows.dedup_by_key(|m| m.id);
    let out: Vec<i64> = rows.iter().map(|m| m.id).collect();
    let outside = crate::service::scope::measures_outside_order(&w.txn, order_id, &out).await?;
    if !outside.is_empty() {
        let codes: Vec<&str> = rows
            .iter()
            .filter(|m| outside.contains(&m.id))
            .map(|m| m.code.as_str())
            .collect();
        return Err(AppError::validation(
            "measureIds",
            format!(
                "{} answer(s) no finding of the report's order: a report holds only its order's measures",
                codes.join(", ")
            ),
        ));
    }
    Ok(out)
}

/// Links a report to measures checked by [`report_measures`].
async fn link_report_measures(w: &Write<'_>, report_id: i64, measures: &[i64]) -> AppResult<()> {
    for m in measures {
        report_measure::ActiveModel {
            report_id: Set(report_id),
            measure_id: Set(*m),
            created_at: Set(w.now),
        }
        .insert(&w.txn)
        .await?;
    }
    Ok(())
}

async fn relink(ctx: &Context<'_>, input: MeasureLinksInput, add: bool) -> AppResult<Measure> {
    let (w, who) = begin(ctx).await?;
    let raw = decode(&input.measure_id, "Measure")?;
    check_measure(&w, who, raw).await?;
    if input.finding_ids.is_empty() && input.system_ids.is_empty() {
        return Err(AppError::validation(
            "findingIds",
            "name at least one finding or system",
        ));
    }
    let mut findings = Vec::new();
    for f in &input.finding_ids {
        findings.push(checked_finding(&w, who, f).await?.id);
    }
    let mut systems = Vec::new();
    for s in &input.system_ids {
        systems.push(load::<system::Entity>(&w, decode(s, "System")?).await?.id);
    }
    let now = w.now;
    let links_before: Vec<i64> = measure_finding::Entity::find()
        .filter(measure_finding::Column::MeasureId.eq(raw))
        .all(&w.txn)
        .await?
        .iter()
        .map(|l| l.finding_id)
        .collect();
    if add {
        for f in &findings {
            if !links_before.contains(f) {
                measure_finding::ActiveModel {
                    measure_id: Set(raw),
                    finding_id: Set(*f),
                    created_at: Set(now),
                }
                .insert(&w.txn)
                .await?;
            }
        }
        for s in &systems {
            let exists = measure_system::Entity::find_by_id((raw, *s))
                .one(&w.txn)
                .await?
                .is_some();
            if !exists {
                measure_system::ActiveModel {
                    measure_id: Set(raw),
                    system_id: Set(*s),
                    created_at: Set(now),
                }
                .insert(&w.txn)
                .await?;
            }
        }
    } else {
        if links_before.iter().all(|f| findings.contains(f)) {
            return Err(AppError::validation(
                "findingIds",
                "a measure keeps at least one finding",
            ));
        }
        measure_finding::Entity::delete_many()
            .filter(measure_finding::Column::MeasureId.eq(raw))
            .filter(measure_finding::Column::FindingId.is_in(findings.clone()))
            .exec(&w.txn)
            .await?;
        measure_system::Entity::delete_many()
            .filter(measure_system::Column::MeasureId.eq(raw))
            .filter(measure_system::Column::SystemId.is_in(systems.clone()))
            .exec(&w.txn)
            .await?;
    }
    let change = json!({ if add { "linked" } else { "unlinked" }: {"findingIds": findings, "systemIds": systems} });
    let row = update_versioned::<measure::Entity, _>(
        &w,
        raw,
        input.version,
        if add { "link" } else { "unlink" },
        Some(change),
        |_, _| Ok(()),
    )
    .await?;
    w.commit().await?;
    crate::events::measure_changed(ctx, row.id).await;
    Ok(Measure(row))
}
