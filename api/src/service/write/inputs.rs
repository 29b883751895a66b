//! The inputs of the store's writes, each declared once, in [`write_inputs`]: this module
//! makes them plain structs (the store functions' inputs, which the demo plan's JSON also
//! fills), `graphql::mutation` makes the same declarations its GraphQL input objects and
//! their conversions into these. No GraphQL type appears here.
use chrono::NaiveDate;
use entity::enums::*;
use serde::Deserialize;

/// Hands every write input's declaration to `$make`, a macro turning them into structs:
/// `GraphQLName => StoreName { fields }`. A field `name: T as "Type"` refers to a row by id
/// (`T` is `i64`, `Option<i64>`, `Vec<i64>` or `Option<Vec<i64>>`): a global ID of that type
/// in GraphQL, and absent from the demo plan's JSON (which names the row by code). A field
/// `= default` may be left out of a GraphQL input (its default is empty).
macro_rules! write_inputs {
    ($make:ident) => {
        $make! {
            /// A new regulator.
            CreateRegulatorInput => NewRegulator {
                /// Unique short code, e.g. `METI`.
                code: String,
                /// Name in English.
                name: String,
                /// Name in the regulator's language.
                name_local: Option<String>,
                /// What kind of authority it is.
                kind: RegulatorKind,
            }
            /// Changes to a regulator (absent fields are left as they are).
            UpdateRegulatorInput => RegulatorChanges {
                /// Name in English.
                name: Option<String>,
                /// Name in the regulator's language.
                name_local: Option<String>,
                /// Kind.
                kind: Option<RegulatorKind>,
            }
            /// A new order.
            CreateOrderInput => NewOrder {
                /// The regulator that issued it.
                regulator_id: i64 as "Regulator",
                /// Kind of action.
                kind: OrderKind,
                /// Unique reference, e.g. `METI-2022-06-30`.
                reference: String,
                /// Title in English.
                title: String,
                /// Title in the regulator's language.
                title_local: Option<String>,
                /// Statute or rule.
                legal_basis: Option<String>,
                /// Date issued.
                issued_on: NaiveDate,
                /// Status (default OPEN).
                status: Option<OrderStatus>,
                /// Summary.
                summary: Option<String>,
                /// The day the incident behind the order was publicly disclosed (on the timeline).
                incident_disclosed_on: Option<NaiveDate>,
            }
            /// Changes to an order.
            UpdateOrderInput => OrderChanges {
                /// Title in English.
                title: Option<String>,
                /// Title in the regulator's language.
                title_local: Option<String>,
                /// Statute or rule.
                legal_basis: Option<String>,
                /// Date issued.
                issued_on: Option<NaiveDate>,
                /// Status.
                status: Option<OrderStatus>,
                /// Summary.
                summary: Option<String>,
                /// The day the incident behind the order was publicly disclosed.
                incident_disclosed_on: Option<NaiveDate>,
            }
            /// A new finding.
            CreateFindingInput => NewFinding {
                /// The order it belongs to.
                order_id: i64 as "Order",
                /// Category.
                category: FindingCategory,
                /// Number within the order (unique there).
                number: String,
                /// Short English title.
                title: String,
                /// The facts.
                facts: String,
                /// The facts in English.
                facts_en: Option<String>,
                /// The directive.
                directive: String,
                /// The directive in English.
                directive_en: Option<String>,
            }
            /// Changes to a finding.
            UpdateFindingInput => FindingChanges {
                /// Category.
                category: Option<FindingCategory>,
                /// Short English title.
                title: Option<String>,
                /// The facts.
                facts: Option<String>,
                /// The facts in English.
                facts_en: Option<String>,
                /// The directive.
                directive: Option<String>,
                /// The directive in English.
                directive_en: Option<String>,
            }
            /// A new owner.
            CreateOwnerInput => NewOwner {
                /// Unique code.
                code: String,
                /// Name.
                name: String,
                /// Name in the company's language.
                name_local: Option<String>,
                /// Person, department or vendor.
                kind: OwnerKind,
                /// Role title.
                role_title: Option<String>,
                /// Private contact data.
                contact: Option<String>,
                /// The token subject of the person it is (e.g. `tanaka@example.com`), if it
                /// has an account; unique. Private, like `contact`.
                account: Option<String>,
                /// The language of its e-mail digests (Japanese when unset).
                language: Option<Language>,
                /// The department or body it belongs to.
                parent_id: Option<i64> as "Owner",
            }
            /// Changes to an owner.
            UpdateOwnerInput => OwnerChanges {
                /// Name.
                name: Option<String>,
                /// Name in the company's language.
                name_local: Option<String>,
                /// Kind.
                kind: Option<OwnerKind>,
                /// Role title.
                role_title: Option<String>,
                /// Private contact data.
                contact: Option<String>,
                /// The token subject of the person it is; `""` clears it.
                account: Option<String>,
                /// The language of its e-mail digests.
                language: Option<Language>,
            }
            /// A new system.
            CreateSystemInput => NewSystem {
                /// Unique code.
                code: String,
                /// Name.
                name: String,
                /// Name in the company's language.
                name_local: Option<String>,
                /// Kind.
                kind: SystemKind,
                /// Scope note.
                scope_note: Option<String>,
                /// Whether it stores or passes card data.
                holds_card_data: bool = default,
            }
            /// Changes to a system.
            UpdateSystemInput => SystemChanges {
                /// Name.
                name: Option<String>,
                /// Name in the company's language.
                name_local: Option<String>,
                /// Kind.
                kind: Option<SystemKind>,
                /// Scope note.
                scope_note: Option<String>,
                /// Whether it stores or passes card data.
                holds_card_data: Option<bool>,
            }
            /// A new measure, committed in answer to one or more findings.
            CreateMeasureInput => NewMeasure {
                /// Unique code, e.g. `M-34`.
                code: String,
                /// Title in English.
                title: String,
                /// Title in the company's language.
                title_local: Option<String>,
                /// What is committed.
                plan: Option<String>,
                /// Who answers for it.
                owner_id: Option<i64> as "Owner",
                /// Committed date.
                due_on: Option<NaiveDate>,
                /// Recurrence (default NONE).
                recurrence: Option<Recurrence>,
                /// For a recurring measure (required): the date its schedule counts from; its
                /// first period is the one ending on or after it.
                anchor_on: Option<NaiveDate>,
                /// For a recurring measure: days after a period's end before it is due (default 0).
                grace_days: Option<i32>,
                /// The findings it answers (at least one).
                finding_ids: Vec<i64> as "Finding",
                /// The systems it concerns.
                system_ids: Vec<i64> as "System" = default,
                /// A note.
                note: Option<String>,
            }
            /// Changes to a measure's plan. Moving the due date needs `dueChangeReason`.
            UpdateMeasureInput => MeasureChanges {
                /// Title in English.
                title: Option<String>,
                /// Title in the company's language.
                title_local: Option<String>,
                /// What is committed.
                plan: Option<String>,
                /// Who answers for it.
                owner_id: Option<i64> as "Owner",
                /// Committed date.
                due_on: Option<NaiveDate>,
                /// Why the due date moves (required when it does: regulators ask).
                due_change_reason: Option<String>,
                /// Recurrence (a recurring measure needs an anchor: its own or `anchorOn`).
                recurrence: Option<Recurrence>,
                /// The date the schedule of a recurring measure counts from.
                anchor_on: Option<NaiveDate>,
                /// Days after a period's end before it is due (applies to periods recorded after
                /// the change; those recorded keep the due date they were recorded against).
                grace_days: Option<i32>,
                /// A note.
                note: Option<String>,
            }
            /// A workflow move.
            TransitionMeasureInput => Transition {
                /// The measure.
                id: i64 as "Measure",
                /// The version read.
                version: i32,
                /// The status to move to.
                to: MeasureStatus,
                /// Why (required for DEFERRED and CANCELLED).
                reason: Option<String>,
                /// The day it happened (default today): start date for IN_PROGRESS, completion for IMPLEMENTED.
                /// Not in the future, not before the start (IMPLEMENTED, VERIFIED); further back than the
                /// back-dating window (7 days by default) it needs `plan:approve`.
                on: Option<NaiveDate>,
            }
            /// A request to defer or cancel a measure or move its due date later, for a second
            /// person with `plan:approve` to decide.
            RequestMeasureChangeInput => NewChangeRequest {
                /// The measure.
                measure_id: i64 as "Measure",
                /// What is asked for.
                kind: ChangeKind,
                /// Why (required).
                reason: String,
                /// MOVE_DUE: the new due date, later than the current one.
                due_on: Option<NaiveDate>,
                /// DEFER: the last day of the deferral (after it the measure returns to its
                /// status before the deferral and is late again if past due); none: open-ended.
                until: Option<NaiveDate>,
            }
            /// A decision on a pending change request.
            DecideMeasureChangeInput => ChangeDecision {
                /// The request.
                id: i64 as "ChangeRequest",
                /// The version read.
                version: i32,
                /// Approve (the change is applied now) or reject (the measure keeps its values).
                approve: bool,
                /// Why (required either way).
                comment: String,
            }
            /// Links to add to or remove from a measure.
            MeasureLinksInput => MeasureLinks {
                /// The measure.
                measure_id: i64 as "Measure",
                /// The version read.
                version: i32,
                /// Findings.
                finding_ids: Vec<i64> as "Finding" = default,
                /// Systems.
                system_ids: Vec<i64> as "System" = default,
            }
            /// One execution of a recurring measure.
            RecordOccurrenceInput => NewOccurrence {
                /// The recurring measure.
                measure_id: i64 as "Measure",
                /// The period, e.g. `2022-W48`, `2022-12`, `2022-Q4`, `2022`.
                period: String,
                /// When it was done.
                done_on: NaiveDate,
                /// A note.
                note: Option<String>,
                /// The evidence of this execution (evidence of the same measure).
                evidence_id: Option<i64> as "Evidence",
            }
            /// A period of a recurring measure that is not owed (needs `plan:approve`).
            SkipPeriodInput => PeriodSkip {
                /// The recurring measure.
                measure_id: i64 as "Measure",
                /// The period, labelled as executions are (`2022-W48`, `2022-12`, `2022-Q4`, `2022`).
                period: String,
                /// Why it is not owed (required).
                reason: String,
                /// The measure's version read, if the caller wants a stale read refused.
                expected_version: Option<i32>,
            }
            /// Metadata of an evidence item.
            EvidenceInput => NewEvidence {
                /// The measure it proves.
                measure_id: i64 as "Measure",
                /// The system it is about.
                system_id: Option<i64> as "System",
                /// Kind of document.
                kind: EvidenceKind,
                /// Title.
                title: String,
                /// Who issued it.
                issued_by: Option<String>,
                /// When it was issued.
                issued_on: Option<NaiveDate>,
                /// First day valid.
                valid_from: Option<NaiveDate>,
                /// Last day valid.
                valid_until: Option<NaiveDate>,
            }
            /// A document kept elsewhere, registered by URI with its hash.
            ExternalDocumentInput => ExternalDocument {
                /// Where it is kept.
                storage_uri: String,
                /// Its SHA-256, lower-case hex.
                sha256: String,
                /// Its media type.
                media_type: String,
                /// Its size in bytes.
                size_bytes: i64,
            }
            /// A new report (a draft).
            CreateReportInput => NewReport {
                /// The order reported on.
                order_id: i64 as "Order",
                /// Unique code (default: reference, kind and due date).
                code: Option<String>,
                /// Kind.
                kind: ReportKind,
                /// Title in English.
                title: String,
                /// Title in the regulator's language.
                title_local: Option<String>,
                /// Due date.
                due_on: NaiveDate,
                /// Text.
                body: Option<String>,
                /// Measures covered.
                measure_ids: Vec<i64> as "Measure" = default,
            }
            /// Changes to a draft report.
            UpdateReportInput => ReportChanges {
                /// Title in English.
                title: Option<String>,
                /// Title in the regulator's language.
                title_local: Option<String>,
                /// Due date.
                due_on: Option<NaiveDate>,
                /// Why the due date moves (required when `dueOn` changes it).
                due_change_reason: Option<String>,
                /// Text.
                body: Option<String>,
                /// Replaces the measures covered.
                measure_ids: Option<Vec<i64>> as "Measure",
            }
            /// An evaluator's assessment of a report or a measure (give exactly one).
            AddEvaluationInput => NewEvaluation {
                /// The report assessed.
                report_id: Option<i64> as "Report",
                /// The measure assessed.
                measure_id: Option<i64> as "Measure",
                /// The verdict.
                verdict: Verdict,
                /// The comment.
                comment: Option<String>,
            }
        }
    };
}
pub(crate) use write_inputs;

/// The store's inputs: plain structs, also read from the demo plan's JSON.
macro_rules! plain_inputs {
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
        #[derive(Debug, Deserialize)]
        pub struct $name {
            $(
                $(#[doc = $fdoc])*
                $(#[serde(skip, rename = $id)])?
                pub $f: $t,
            )*
        }
    )*};
}

write_inputs!(plain_inputs);
