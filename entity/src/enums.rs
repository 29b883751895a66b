//! Enumerations shared by the database (text columns with CHECK constraints)
//! and the GraphQL schema.
use async_graphql::Enum;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum, Enum, Serialize, Deserialize)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(40))")]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($(#[$vmeta])* #[sea_orm(string_value = $value)] $variant),+
        }

        impl $name {
            /// The value stored in the database and shown in GraphQL.
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $value),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($value => Ok(Self::$variant),)+
                    other => Err(format!("unknown {} value {other:?}", stringify!($name))),
                }
            }
        }
    };
}

text_enum!(
    /// What kind of authority a regulator is.
    RegulatorKind {
        /// A government ministry (e.g. METI).
        Ministry = "MINISTRY",
        /// A data-protection authority (e.g. the Personal Information Protection Commission).
        PrivacyAuthority = "PRIVACY_AUTHORITY",
        /// A financial supervisor.
        FinancialAuthority = "FINANCIAL_AUTHORITY",
        /// An international card brand.
        CardBrand = "CARD_BRAND",
        /// Any other authority.
        Other = "OTHER",
    }
);

text_enum!(
    /// The kind of regulatory action.
    OrderKind {
        /// A business-improvement order under a statute.
        ImprovementOrder = "IMPROVEMENT_ORDER",
        /// Guidance (指導).
        Guidance = "GUIDANCE",
        /// A request to report.
        ReportRequest = "REPORT_REQUEST",
        /// A recommendation (勧告).
        Recommendation = "RECOMMENDATION",
        /// Anything else.
        Other = "OTHER",
    }
);

text_enum!(
    /// Where an order stands.
    OrderStatus {
        /// Measures still being implemented and reported.
        Open = "OPEN",
        /// The regulator keeps watching implementation.
        Monitoring = "MONITORING",
        /// The regulator closed the matter.
        Closed = "CLOSED",
    }
);

text_enum!(
    /// The safeguard category a finding belongs to.
    FindingCategory {
        /// Organisational safeguards (組織的安全管理措置).
        Organizational = "ORGANIZATIONAL",
        /// Technical safeguards (技術的安全管理措置).
        Technical = "TECHNICAL",
        /// Physical safeguards (物理的安全管理措置).
        Physical = "PHYSICAL",
        /// Human safeguards (人的安全管理措置).
        Human = "HUMAN",
    }
);

text_enum!(
    /// What kind of party an owner is.
    OwnerKind {
        /// A named person or a role held by one person.
        Person = "PERSON",
        /// A department or committee.
        Department = "DEPARTMENT",
        /// An outside vendor.
        Vendor = "VENDOR",
    }
);

text_enum!(
    /// What kind of system is in scope.
    SystemKind {
        /// A system that processes card data.
        Payment = "PAYMENT",
        /// A front system that neither holds nor passes card data.
        Front = "FRONT",
        /// An administration screen.
        AdminScreen = "ADMIN_SCREEN",
        /// An internal system.
        Internal = "INTERNAL",
    }
);

text_enum!(
    /// The workflow status of a measure.
    MeasureStatus {
        /// Committed, not started.
        Planned = "PLANNED",
        /// Work under way.
        InProgress = "IN_PROGRESS",
        /// Done by the company.
        Implemented = "IMPLEMENTED",
        /// Done and proven by current evidence.
        Verified = "VERIFIED",
        /// Postponed, with a reason.
        Deferred = "DEFERRED",
        /// Dropped, with a reason.
        Cancelled = "CANCELLED",
    }
);

text_enum!(
    /// How often a recurring measure must be executed.
    Recurrence {
        /// A one-off measure.
        None = "NONE",
        /// Every week.
        Weekly = "WEEKLY",
        /// Every month.
        Monthly = "MONTHLY",
        /// Every quarter.
        Quarterly = "QUARTERLY",
        /// Every year.
        Yearly = "YEARLY",
    }
);

text_enum!(
    /// What kind of document proves a measure.
    EvidenceKind {
        /// An attestation of compliance (e.g. a QSA's PCI DSS AOC).
        Attestation = "ATTESTATION",
        /// A certificate.
        Certificate = "CERTIFICATE",
        /// A vulnerability scan report.
        ScanReport = "SCAN_REPORT",
        /// A penetration test report.
        PentestReport = "PENTEST_REPORT",
        /// Minutes of a meeting.
        Minutes = "MINUTES",
        /// A contract.
        Contract = "CONTRACT",
        /// A policy or rule document.
        Policy = "POLICY",
        /// A report.
        Report = "REPORT",
        /// Anything else.
        Other = "OTHER",
    }
);

text_enum!(
    /// The kind of filing made to a regulator.
    ReportKind {
        /// The first report on measures taken and planned.
        Initial = "INITIAL",
        /// An additional report answering questions on an earlier one.
        Additional = "ADDITIONAL",
        /// A periodic progress report.
        Progress = "PROGRESS",
        /// The final report.
        Final = "FINAL",
    }
);

text_enum!(
    /// Where a report stands.
    ReportStatus {
        /// Being written; editable.
        Draft = "DRAFT",
        /// Filed with the regulator; frozen.
        Submitted = "SUBMITTED",
        /// Acknowledged by the regulator.
        Acknowledged = "ACKNOWLEDGED",
    }
);

text_enum!(
    /// What kind of party evaluates progress.
    EvaluatorKind {
        /// An independent committee.
        Committee = "COMMITTEE",
        /// A member of a committee.
        Member = "MEMBER",
        /// A regulator assessing what it received.
        Regulator = "REGULATOR",
        /// An auditor or assessor.
        Auditor = "AUDITOR",
        /// Anyone else.
        Other = "OTHER",
    }
);

text_enum!(
    /// An evaluator's assessment.
    Verdict {
        /// No problem found.
        Satisfactory = "SATISFACTORY",
        /// Acceptable with improvements.
        NeedsImprovement = "NEEDS_IMPROVEMENT",
        /// Not acceptable.
        Unsatisfactory = "UNSATISFACTORY",
    }
);

text_enum!(
    /// What a change request asks for: the changes that need a second person's approval.
    ChangeKind {
        /// Move the measure to DEFERRED (optionally until a date).
        Defer = "DEFER",
        /// Move the measure to CANCELLED.
        Cancel = "CANCEL",
        /// Move the measure's due date later.
        MoveDue = "MOVE_DUE",
    }
);

text_enum!(
    /// Where a change request stands.
    ChangeStatus {
        /// Waiting for a decision; the measure keeps its values.
        Pending = "PENDING",
        /// Approved and applied to the measure.
        Approved = "APPROVED",
        /// Rejected; the measure kept its values.
        Rejected = "REJECTED",
        /// Withdrawn by the person who asked.
        Withdrawn = "WITHDRAWN",
        /// An approved deferral whose end date passed: the measure went back to its status
        /// before the deferral.
        Expired = "EXPIRED",
    }
);

text_enum!(
    /// What a notice tells (the events reminders and webhooks deliver).
    NoticeKind {
        /// Someone asked for a measure to be deferred, cancelled or given a later due date.
        ChangeRequested = "CHANGE_REQUESTED",
        /// A change request was approved and applied.
        ChangeApproved = "CHANGE_APPROVED",
        /// A change request was rejected.
        ChangeRejected = "CHANGE_REJECTED",
        /// A change request was withdrawn.
        ChangeWithdrawn = "CHANGE_WITHDRAWN",
        /// An approved deferral ended; the measure returned to its previous status.
        DeferralEnded = "DEFERRAL_ENDED",
        /// A period of a recurring measure came due with nothing recorded and no skip.
        PeriodMissed = "PERIOD_MISSED",
        /// A measure's due date is within one of the reminder thresholds (e.g. 14, 7, 1 days).
        MeasureDueSoon = "MEASURE_DUE_SOON",
        /// A measure's due date passed while it was still open.
        MeasureOverdue = "MEASURE_OVERDUE",
        /// A report's due date is within one of the reminder thresholds and it is not submitted.
        ReportDueSoon = "REPORT_DUE_SOON",
        /// A report's due date passed before it was submitted.
        ReportOverdue = "REPORT_OVERDUE",
        /// Evidence becomes invalid within one of the reminder thresholds.
        EvidenceExpiring = "EVIDENCE_EXPIRING",
        /// Evidence's validity ended.
        EvidenceExpired = "EVIDENCE_EXPIRED",
        /// An evaluation was added to a report or a measure.
        EvaluationAdded = "EVALUATION_ADDED",
        /// Something in an order changed (one notice per committed change, in its orders).
        PlanChanged = "PLAN_CHANGED",
    }
);

text_enum!(
    /// Where a webhook delivery or an e-mail digest stands.
    DeliveryStatus {
        /// Not delivered yet; tried again at its next attempt time.
        Pending = "PENDING",
        /// Accepted by the receiver (a 2xx answer; the SMTP server took the message).
        Delivered = "DELIVERED",
        /// Given up after the configured number of attempts (dead-lettered); can be redelivered.
        Dead = "DEAD",
    }
);

text_enum!(
    /// The language a person reads remedy's messages in.
    Language {
        /// Japanese.
        Ja = "JA",
        /// English.
        En = "EN",
    }
);

text_enum!(
    /// Where one period of a recurring measure's schedule stands.
    PeriodStatus {
        /// Recorded on or before its due date.
        Done = "DONE",
        /// Recorded after its due date.
        Late = "LATE",
        /// Due date passed with nothing recorded and not skipped: the measure is overdue.
        Missed = "MISSED",
        /// Not owed, with a reason approved by someone holding `plan:approve`.
        Skipped = "SKIPPED",
        /// Not yet due.
        Upcoming = "UPCOMING",
    }
);
