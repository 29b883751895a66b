//! The whole domain model: regulators, orders, findings, measures, owners, systems,
//! evidence, reports, evaluations, the append-only audit log and issued tokens.
//!
//! Enumerations are stored as text guarded by CHECK constraints so that both
//! backends refuse values the application does not know. Rows that must never
//! change after insertion (audit events, evidence, evaluations) are protected by
//! triggers on both backends.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000001_init"
    }
}

pub const REGULATOR_KINDS: &[&str] = &[
    "MINISTRY",
    "PRIVACY_AUTHORITY",
    "FINANCIAL_AUTHORITY",
    "CARD_BRAND",
    "OTHER",
];
pub const ORDER_KINDS: &[&str] = &[
    "IMPROVEMENT_ORDER",
    "GUIDANCE",
    "REPORT_REQUEST",
    "RECOMMENDATION",
    "OTHER",
];
pub const ORDER_STATUSES: &[&str] = &["OPEN", "MONITORING", "CLOSED"];
pub const FINDING_CATEGORIES: &[&str] = &["ORGANIZATIONAL", "TECHNICAL", "PHYSICAL", "HUMAN"];
pub const OWNER_KINDS: &[&str] = &["PERSON", "DEPARTMENT", "VENDOR"];
pub const SYSTEM_KINDS: &[&str] = &["PAYMENT", "FRONT", "ADMIN_SCREEN", "INTERNAL"];
pub const MEASURE_STATUSES: &[&str] = &[
    "PLANNED",
    "IN_PROGRESS",
    "IMPLEMENTED",
    "VERIFIED",
    "DEFERRED",
    "CANCELLED",
];
pub const RECURRENCES: &[&str] = &["NONE", "WEEKLY", "MONTHLY", "QUARTERLY", "YEARLY"];
pub const EVIDENCE_KINDS: &[&str] = &[
    "ATTESTATION",
    "CERTIFICATE",
    "SCAN_REPORT",
    "PENTEST_REPORT",
    "MINUTES",
    "CONTRACT",
    "POLICY",
    "REPORT",
    "OTHER",
];
pub const REPORT_KINDS: &[&str] = &["INITIAL", "ADDITIONAL", "PROGRESS", "FINAL"];
pub const REPORT_STATUSES: &[&str] = &["DRAFT", "SUBMITTED", "ACKNOWLEDGED"];
pub const EVALUATOR_KINDS: &[&str] = &["COMMITTEE", "MEMBER", "REGULATOR", "AUDITOR", "OTHER"];
pub const VERDICTS: &[&str] = &["SATISFACTORY", "NEEDS_IMPROVEMENT", "UNSATISFACTORY"];

#[derive(DeriveIden, Clone, Copy)]
enum Regulator {
    Table,
    Id,
    Code,
    Name,
    NameLocal,
    Kind,
}

#[derive(DeriveIden, Clone, Copy)]
enum RegulatoryOrder {
    Table,
    Id,
    RegulatorId,
    Kind,
    Reference,
    Title,
    TitleLocal,
    LegalBasis,
    IssuedOn,
    Status,
    Summary,
}

#[derive(DeriveIden, Clone, Copy)]
enum Finding {
    Table,
    Id,
    OrderId,
    Category,
    Number,
    Title,
    Facts,
    FactsEn,
    Directive,
    DirectiveEn,
}

#[derive(DeriveIden, Clone, Copy)]
enum Owner {
    Table,
    Id,
    Code,
    Name,
    NameLocal,
    Kind,
    RoleTitle,
    Contact,
    ParentId,
}

#[derive(DeriveIden, Clone, Copy)]
enum System {
    Table,
    Id,
    Code,
    Name,
    NameLocal,
    Kind,
    ScopeNote,
    HoldsCardData,
}

#[derive(DeriveIden, Clone, Copy)]
enum Measure {
    Table,
    Id,
    Code,
    Title,
    TitleLocal,
    Plan,
    Status,
    StatusReason,
    OwnerId,
    StartedOn,
    DueOn,
    CompletedOn,
    Recurrence,
    NextDueOn,
    Note,
}

#[derive(DeriveIden, Clone, Copy)]
enum MeasureFinding {
    Table,
    MeasureId,
    FindingId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MeasureSystem {
    Table,
    MeasureId,
    SystemId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Occurrence {
    Table,
    Id,
    MeasureId,
    Period,
    DueOn,
    DoneOn,
    DoneBy,
    Note,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Evidence {
    Table,
    Id,
    MeasureId,
    SystemId,
    Kind,
    Title,
    IssuedBy,
    IssuedOn,
    ValidFrom,
    ValidUntil,
    Sha256,
    MediaType,
    SizeBytes,
    StorageUri,
    Content,
    SupersedesId,
    SubmittedBy,
    SubmittedAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Report {
    Table,
    Id,
    Code,
    OrderId,
    Kind,
    Title,
    TitleLocal,
    DueOn,
    SubmittedOn,
    AcknowledgedOn,
    Status,
    Body,
    Snapshot,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReportMeasure {
    Table,
    ReportId,
    MeasureId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Evaluator {
    Table,
    Id,
    Code,
    Name,
    NameLocal,
    Kind,
    Affiliation,
    ParentId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Evaluation {
    Table,
    Id,
    ReportId,
    MeasureId,
    EvaluatorId,
    EvaluatorSubject,
    Verdict,
    Comment,
    EvaluatedAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvent {
    Table,
    Id,
    At,
    Actor,
    Action,
    Entity,
    EntityId,
    Before,
    After,
    PrevHash,
    Hash,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiToken {
    Table,
    Jti,
    Subject,
    Roles,
    Scope,
    Orders,
    IssuedBy,
    IssuedAt,
    ExpiresAt,
    RevokedAt,
    RevokedBy,
}

#[derive(DeriveIden, Clone, Copy)]
enum AccessLog {
    Table,
    Id,
    At,
    Subject,
    Jti,
    OrderId,
    Operation,
}

#[derive(DeriveIden, Clone, Copy)]
enum Common {
    Version,
    ArchivedAt,
    CreatedAt,
    UpdatedAt,
}

fn id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn text<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}

fn text_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).text().null().to_owned()
}

/// A required, non-empty code/reference column (uniqueness is added by an index).
fn code<T: IntoIden + Clone + 'static>(col: T) -> ColumnDef {
    ColumnDef::new(col.clone())
        .string_len(200)
        .not_null()
        .check(Expr::expr(Func::char_length(Expr::col(col))).gt(0))
        .to_owned()
}

/// A text column restricted to the given enumeration values.
fn enumeration<T: IntoIden + Clone + 'static>(col: T, values: &[&str]) -> ColumnDef {
    ColumnDef::new(col.clone())
        .string_len(40)
        .not_null()
        .check(Expr::col(col).is_in(values.iter().map(|v| (*v).to_owned())))
        .to_owned()
}

fn date_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).date().null().to_owned()
}

fn fk_id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

fn fk_id_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().to_owned()
}

fn timestamp<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn timestamp_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

/// Columns every mutable row carries: optimistic-locking version, archive mark, timestamps.
fn mutable_columns(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(
            ColumnDef::new(Common::Version)
                .integer()
                .not_null()
                .default(1)
                .check(Expr::col(Common::Version).gte(1)),
        )
        .col(timestamp_null(Common::ArchivedAt))
        .col(timestamp(Common::CreatedAt))
        .col(timestamp(Common::UpdatedAt))
}

fn fk(
    name: &str,
    from: (impl IntoIden + 'static, impl IntoIden + 'static),
    to: (impl IntoIden + 'static, impl IntoIden + 'static),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::Restrict)
        .to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + 'static,
    cols: Vec<Alias>,
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for c in cols {
        stmt.col(c);
    }
    if unique {
        stmt.unique();
    }
    manager.create_index(stmt).await
}

fn cols(names: &[&str]) -> Vec<Alias> {
    names.iter().map(|n| Alias::new(*n)).collect()
}

/// Tables whose rows may be inserted but never updated or deleted.
const APPEND_ONLY: &[&str] = &["audit_event", "evidence", "evaluation"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict};

        manager
            .create_table(
                mutable_columns(
                    Table::create()
                        .table(Regulator::Table)
                        .col(id(Regulator::Id))
                        .col(code(Regulator::Code))
                        .col(text(Regulator::Name))
                        .col(text_null(Regulator::NameLocal))
                        .col(enumeration(Regulator::Kind, REGULATOR_KINDS)),
                )
                .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_regulator_code",
            Regulator::Table,
            cols(&["code"]),
            true,
        )
        .await?;

        manager
            .create_table(
                mutable_columns(
                    Table::create()
                        .table(RegulatoryOrder::Table)
                        .col(id(RegulatoryOrder::Id))
                        .col(fk_id(RegulatoryOrder::RegulatorId))
                        .col(enumeration(RegulatoryOrder::Kind, ORDER_KINDS))
                        .col(code(RegulatoryOrder::Reference))
                        .col(text(RegulatoryOrder::Title))
                        .col(text_null(RegulatoryOrder::TitleLocal))
                        .col(text_null(RegulatoryOrder::LegalBasis))
                        .col(ColumnDef::new(RegulatoryOrder::IssuedOn).date().not_null())
                        .col(enumeration(RegulatoryOrder::Status, ORDER_STATUSES))
                        .col(text_null(RegulatoryOrder::Summary))
                        .foreign_key(&mut fk(
                            "fk_order_regulator",
                            (RegulatoryOrder::Table, RegulatoryOrder::RegulatorId),
                            (Regulator::Table, Regulator::Id),
                            Restrict,
                        )),
                )
                .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_order_reference",
            RegulatoryOrder::Table,
            cols(&["reference"]),
            true,
        )
        .await?;
        index(
            manager,
            "ix_order_regulator",
            RegulatoryOrder::Table,
            cols(&["regulator_id"]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_order_status",
            RegulatoryOrder::Table,
            cols(&["status"]),
            false,
        )
        .await?;

        manager
            .create_table(
                mutable_columns(
                    Table::create()
                        .table(Finding::Table)
                        .col(id(Finding::Id))
                        .col(fk_id(Finding::OrderId))
                        .col(enumeration(Finding::Category, FINDING_CATEGORIES))
                        .col(code(Finding::Number))
                        .col(text(Finding::Title))
                        .col(text(Finding::Facts))
                        .col(text_null(Finding::FactsEn))
                        .col(text(Finding::Directive))
                        .col(text_null(Finding::DirectiveEn))
                        .foreign_key(&mut fk(
                            "fk_finding_order",
                            (Finding::Table, Finding::OrderId),
                            (RegulatoryOrder::Table, RegulatoryOrder::Id),
                            Restrict,
                        )),
                )
                .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_finding_order_number",
            Finding::Table,
            cols(&["order_id", "number"]),
            true,
        )
        .await?;
        index(
            manager,
            "ix_finding_category",
            Finding::Table,
            cols(&["category"]),
            false,
        )
        .await?;

        manager
            .create_table(
                mutable_columns(
                    Table::create()
                        .table(Owner::Table)
                        .col(id(Owner::Id))
                        .col(code(Owner::Code))
                        .col(text(Owner::Name))
                        .col(text_null(Owner::NameLocal))
                        .col(enumeration(Owner::Kind, OWNER_KINDS))
                        .col(text_null(Owner::RoleTitle))
                        .col(text_null(Owner::Contact))
                        .col(fk_id_null(Owner::ParentId))
                        .foreign_key(&mut fk(
                            "fk_owner_parent",
                            (Owner::Table, Owner::ParentId),
                            (Owner::Table, Owner::Id),
                            Restrict,
                        )),
                )
                .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_owner_code",
            Owner::Table,
            cols(&["code"]),
            true,
        )
        .await?;
        index(
            manager,
            "ix_owner_parent",
            Owner::Table,
            cols(&["parent_id"]),
            false,
        )
        .await?;

        manager
            .create_table(
                mutable_columns(
                    Table::create()
                        .table(System::Table)
                        .col(id(System::Id))
                        .col(code(System::Code))
                        .col(text(System::Name))
                        .col(text_null(System::NameLocal))
                        .col(enumeration(System::Kind, SYSTEM_KINDS))
                        .col(text_null(System::ScopeNote))
                        .col(
                            ColumnDef::new(System::HoldsCardData)
                                .boolean()
                                .not_null()
                                .default(false),
                        ),
                )
                .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_system_code",
            System::Table,
            cols(&["code"]),
            true,
        )
        .await?;

        manager
            .create_table(
                mutable_columns(
                    Table::create()
                        .table(Measure::Table)
                        .col(id(Measure::Id))
                        .col(code(Measure::Code))
                        .col(text(Measure::Title))
                        .col(text_null(Measure::TitleLocal))
                        .col(text_null(Measure::Plan))
                        .col(enumeration(Measure::Status, MEASURE_STATUSES))
                        .col(text_null(Measure::StatusReason))
                        .col(fk_id_null(Measure::OwnerId))
                        .col(date_null(Measure::StartedOn))
                        .col(date_null(Measure::DueOn))
                        .col(date_null(Measure::CompletedOn))
                        .col(enumeration(Measure::Recurrence, RECURRENCES))
                        .col(date_null(Measure::NextDueOn))
                        .col(text_null(Measure::Note))
                        .check(
                            Expr::col(Measure::CompletedOn)
                                .is_null()
                                .or(Expr::col(Measure::StartedOn).is_null())
                                .or(Expr::col(Measure::CompletedOn)
                                    .gte(Expr::col(Measure::StartedOn))),
                        )
                        .foreign_key(&mut fk(
                            "fk_measure_owner",
                            (Measure::Table, Measure::OwnerId),
                            (Owner::Table, Owner::Id),
                            Restrict,
                        )),
                )
                .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_measure_code",
            Measure::Table,
            cols(&["code"]),
            true,
        )
        .await?;
        index(
            manager,
            "ix_measure_status",
            Measure::Table,
            cols(&["status"]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_measure_owner",
            Measure::Table,
            cols(&["owner_id"]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_measure_due",
            Measure::Table,
            cols(&["due_on"]),
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(MeasureFinding::Table)
                    .col(fk_id(MeasureFinding::MeasureId))
                    .col(fk_id(MeasureFinding::FindingId))
                    .col(timestamp(MeasureFinding::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(MeasureFinding::MeasureId)
                            .col(MeasureFinding::FindingId),
                    )
                    .foreign_key(&mut fk(
                        "fk_measure_finding_measure",
                        (MeasureFinding::Table, MeasureFinding::MeasureId),
                        (Measure::Table, Measure::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_measure_finding_finding",
                        (MeasureFinding::Table, MeasureFinding::FindingId),
                        (Finding::Table, Finding::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_measure_finding_finding",
            MeasureFinding::Table,
            cols(&["finding_id"]),
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(MeasureSystem::Table)
                    .col(fk_id(MeasureSystem::MeasureId))
                    .col(fk_id(MeasureSystem::SystemId))
                    .col(timestamp(MeasureSystem::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(MeasureSystem::MeasureId)
                            .col(MeasureSystem::SystemId),
                    )
                    .foreign_key(&mut fk(
                        "fk_measure_system_measure",
                        (MeasureSystem::Table, MeasureSystem::MeasureId),
                        (Measure::Table, Measure::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_measure_system_system",
                        (MeasureSystem::Table, MeasureSystem::SystemId),
                        (System::Table, System::Id),
                        Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_measure_system_system",
            MeasureSystem::Table,
            cols(&["system_id"]),
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Occurrence::Table)
                    .col(id(Occurrence::Id))
                    .col(fk_id(Occurrence::MeasureId))
                    .col(code(Occurrence::Period))
                    .col(date_null(Occurrence::DueOn))
                    .col(ColumnDef::new(Occurrence::DoneOn).date().not_null())
                    .col(text(Occurrence::DoneBy))
                    .col(text_null(Occurrence::Note))
                    .col(timestamp(Occurrence::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_occurrence_measure",
                        (Occurrence::Table, Occurrence::MeasureId),
                        (Measure::Table, Measure::Id),
                        Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_occurrence_measure_period",
            Occurrence::Table,
            cols(&["measure_id", "period"]),
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Evidence::Table)
                    .col(id(Evidence::Id))
                    .col(fk_id(Evidence::MeasureId))
                    .col(fk_id_null(Evidence::SystemId))
                    .col(enumeration(Evidence::Kind, EVIDENCE_KINDS))
                    .col(text(Evidence::Title))
                    .col(text_null(Evidence::IssuedBy))
                    .col(date_null(Evidence::IssuedOn))
                    .col(date_null(Evidence::ValidFrom))
                    .col(date_null(Evidence::ValidUntil))
                    .col(
                        ColumnDef::new(Evidence::Sha256)
                            .string_len(64)
                            .not_null()
                            .check(Expr::expr(Func::char_length(Expr::col(Evidence::Sha256))).eq(64)),
                    )
                    .col(text(Evidence::MediaType))
                    .col(
                        ColumnDef::new(Evidence::SizeBytes)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(Evidence::SizeBytes).gte(0)),
                    )
                    .col(text_null(Evidence::StorageUri))
                    .col(ColumnDef::new(Evidence::Content).blob().null())
                    .col(fk_id_null(Evidence::SupersedesId))
                    .col(text(Evidence::SubmittedBy))
                    .col(timestamp(Evidence::SubmittedAt))
                    .col(timestamp(Evidence::CreatedAt))
                    .check(
                        Expr::col(Evidence::Content)
                            .is_not_null()
                            .or(Expr::col(Evidence::StorageUri).is_not_null()),
                    )
                    .check(
                        Expr::col(Evidence::ValidUntil)
                            .is_null()
                            .or(Expr::col(Evidence::ValidFrom).is_null())
                            .or(Expr::col(Evidence::ValidUntil).gte(Expr::col(Evidence::ValidFrom))),
                    )
                    .foreign_key(&mut fk(
                        "fk_evidence_measure",
                        (Evidence::Table, Evidence::MeasureId),
                        (Measure::Table, Measure::Id),
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_evidence_system",
                        (Evidence::Table, Evidence::SystemId),
                        (System::Table, System::Id),
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_evidence_supersedes",
                        (Evidence::Table, Evidence::SupersedesId),
                        (Evidence::Table, Evidence::Id),
                        Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_evidence_supersedes",
            Evidence::Table,
            cols(&["supersedes_id"]),
            true,
        )
        .await?;
        index(
            manager,
            "ix_evidence_measure",
            Evidence::Table,
            cols(&["measure_id"]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_evidence_system",
            Evidence::Table,
            cols(&["system_id"]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_evidence_valid_until",
            Evidence::Table,
            cols(&["valid_until"]),
            false,
        )
        .await?;

        manager
            .create_table(
                mutable_columns(
                    Table::create()
                        .table(Report::Table)
                        .col(id(Report::Id))
                        .col(code(Report::Code))
                        .col(fk_id(Report::OrderId))
                        .col(enumeration(Report::Kind, REPORT_KINDS))
                        .col(text(Report::Title))
                        .col(text_null(Report::TitleLocal))
                        .col(ColumnDef::new(Report::DueOn).date().not_null())
                        .col(date_null(Report::SubmittedOn))
                        .col(date_null(Report::AcknowledgedOn))
                        .col(enumeration(Report::Status, REPORT_STATUSES))
                        .col(text_null(Report::Body))
                        .col(text_null(Report::Snapshot))
                        .check(
                            Expr::col(Report::Status)
                                .eq("DRAFT")
                                .or(Expr::col(Report::SubmittedOn).is_not_null()),
                        )
                        .foreign_key(&mut fk(
                            "fk_report_order",
                            (Report::Table, Report::OrderId),
                            (RegulatoryOrder::Table, RegulatoryOrder::Id),
                            Restrict,
                        )),
                )
                .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_report_code",
            Report::Table,
            cols(&["code"]),
            true,
        )
        .await?;
        index(
            manager,
            "ix_report_order",
            Report::Table,
            cols(&["order_id"]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_report_status",
            Report::Table,
            cols(&["status"]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_report_due",
            Report::Table,
            cols(&["due_on"]),
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ReportMeasure::Table)
                    .col(fk_id(ReportMeasure::ReportId))
                    .col(fk_id(ReportMeasure::MeasureId))
                    .col(timestamp(ReportMeasure::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ReportMeasure::ReportId)
                            .col(ReportMeasure::MeasureId),
                    )
                    .foreign_key(&mut fk(
                        "fk_report_measure_report",
                        (ReportMeasure::Table, ReportMeasure::ReportId),
                        (Report::Table, Report::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_report_measure_measure",
                        (ReportMeasure::Table, ReportMeasure::MeasureId),
                        (Measure::Table, Measure::Id),
                        Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_report_measure_measure",
            ReportMeasure::Table,
            cols(&["measure_id"]),
            false,
        )
        .await?;

        manager
            .create_table(
                mutable_columns(
                    Table::create()
                        .table(Evaluator::Table)
                        .col(id(Evaluator::Id))
                        .col(code(Evaluator::Code))
                        .col(text(Evaluator::Name))
                        .col(text_null(Evaluator::NameLocal))
                        .col(enumeration(Evaluator::Kind, EVALUATOR_KINDS))
                        .col(text_null(Evaluator::Affiliation))
                        .col(fk_id_null(Evaluator::ParentId))
                        .foreign_key(&mut fk(
                            "fk_evaluator_parent",
                            (Evaluator::Table, Evaluator::ParentId),
                            (Evaluator::Table, Evaluator::Id),
                            Restrict,
                        )),
                )
                .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_evaluator_code",
            Evaluator::Table,
            cols(&["code"]),
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Evaluation::Table)
                    .col(id(Evaluation::Id))
                    .col(fk_id_null(Evaluation::ReportId))
                    .col(fk_id_null(Evaluation::MeasureId))
                    .col(fk_id_null(Evaluation::EvaluatorId))
                    .col(code(Evaluation::EvaluatorSubject))
                    .col(enumeration(Evaluation::Verdict, VERDICTS))
                    .col(text_null(Evaluation::Comment))
                    .col(timestamp(Evaluation::EvaluatedAt))
                    .col(timestamp(Evaluation::CreatedAt))
                    .check(
                        Expr::col(Evaluation::ReportId)
                            .is_null()
                            .and(Expr::col(Evaluation::MeasureId).is_not_null())
                            .or(Expr::col(Evaluation::ReportId)
                                .is_not_null()
                                .and(Expr::col(Evaluation::MeasureId).is_null())),
                    )
                    .foreign_key(&mut fk(
                        "fk_evaluation_report",
                        (Evaluation::Table, Evaluation::ReportId),
                        (Report::Table, Report::Id),
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_evaluation_measure",
                        (Evaluation::Table, Evaluation::MeasureId),
                        (Measure::Table, Measure::Id),
                        Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_evaluation_evaluator",
                        (Evaluation::Table, Evaluation::EvaluatorId),
                        (Evaluator::Table, Evaluator::Id),
                        Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_evaluation_report",
            Evaluation::Table,
            cols(&["report_id"]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_evaluation_measure",
            Evaluation::Table,
            cols(&["measure_id"]),
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvent::Table)
                    .col(id(AuditEvent::Id))
                    .col(timestamp(AuditEvent::At))
                    .col(text(AuditEvent::Actor))
                    .col(text(AuditEvent::Action))
                    .col(text(AuditEvent::Entity))
                    .col(text(AuditEvent::EntityId))
                    .col(text_null(AuditEvent::Before))
                    .col(text_null(AuditEvent::After))
                    .col(
                        ColumnDef::new(AuditEvent::PrevHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvent::Hash).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_audit_event_hash",
            AuditEvent::Table,
            cols(&["hash"]),
            true,
        )
        .await?;
        index(
            manager,
            "ux_audit_event_prev_hash",
            AuditEvent::Table,
            cols(&["prev_hash"]),
            true,
        )
        .await?;
        index(
            manager,
            "ix_audit_event_entity",
            AuditEvent::Table,
            cols(&["entity", "entity_id"]),
            false,
        )
        .await?;
        index(
            manager,
            "ix_audit_event_at",
            AuditEvent::Table,
            cols(&["at"]),
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiToken::Table)
                    .col(
                        ColumnDef::new(ApiToken::Jti)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(code(ApiToken::Subject))
                    .col(text(ApiToken::Roles))
                    .col(text(ApiToken::Scope))
                    .col(text_null(ApiToken::Orders))
                    .col(text(ApiToken::IssuedBy))
                    .col(timestamp(ApiToken::IssuedAt))
                    .col(timestamp(ApiToken::ExpiresAt))
                    .col(timestamp_null(ApiToken::RevokedAt))
                    .col(text_null(ApiToken::RevokedBy))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccessLog::Table)
                    .col(id(AccessLog::Id))
                    .col(timestamp(AccessLog::At))
                    .col(text(AccessLog::Subject))
                    .col(text_null(AccessLog::Jti))
                    .col(fk_id(AccessLog::OrderId))
                    .col(text_null(AccessLog::Operation))
                    .foreign_key(&mut fk(
                        "fk_access_log_order",
                        (AccessLog::Table, AccessLog::OrderId),
                        (RegulatoryOrder::Table, RegulatoryOrder::Id),
                        Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_access_log_order",
            AccessLog::Table,
            cols(&["order_id", "at"]),
            false,
        )
        .await?;

        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION remedy_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'remedy: % is append-only', TG_TABLE_NAME \
                     USING ERRCODE = 'integrity_constraint_violation'; END $$",
                )
                .await?;
                for t in APPEND_ONLY {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER trg_{t}_append_only BEFORE UPDATE OR DELETE ON {t} \
                         FOR EACH ROW EXECUTE FUNCTION remedy_append_only()"
                    ))
                    .await?;
                }
            }
            DatabaseBackend::Sqlite => {
                for t in APPEND_ONLY {
                    for op in ["UPDATE", "DELETE"] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER trg_{t}_no_{} BEFORE {op} ON {t} \
                             BEGIN SELECT RAISE(ABORT, 'remedy: {t} is append-only'); END",
                            op.to_lowercase()
                        ))
                        .await?;
                    }
                }
            }
            DatabaseBackend::MySql => {
                return Err(DbErr::Migration("MySQL is not supported".into()));
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            "access_log",
            "api_token",
            "audit_event",
            "evaluation",
            "evaluator",
            "report_measure",
            "report",
            "evidence",
            "occurrence",
            "measure_system",
            "measure_finding",
            "measure",
            "system",
            "owner",
            "finding",
            "regulatory_order",
            "regulator",
        ];
        for t in tables {
            manager
                .drop_table(Table::drop().table(Alias::new(t)).to_owned())
                .await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS remedy_append_only()")
                .await?;
        }
        Ok(())
    }
}
