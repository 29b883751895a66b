//! sea-orm entities for remedy's domain model. See `../shared/DESIGN.md`.
pub mod access_log;
pub mod api_token;
pub mod audit_event;
pub mod change_request;
pub mod enums;
pub mod evaluation;
pub mod evaluator;
pub mod evidence;
pub mod finding;
pub mod measure;
pub mod measure_finding;
pub mod measure_system;
pub mod notice;
pub mod occurrence;
pub mod owner;
pub mod period_skip;
pub mod regulator;
pub mod regulatory_order;
pub mod report;
pub mod report_measure;
pub mod system;

pub mod prelude {
    pub use super::access_log::Entity as AccessLog;
    pub use super::api_token::Entity as ApiToken;
    pub use super::audit_event::Entity as AuditEvent;
    pub use super::change_request::Entity as ChangeRequest;
    pub use super::evaluation::Entity as Evaluation;
    pub use super::evaluator::Entity as Evaluator;
    pub use super::evidence::Entity as Evidence;
    pub use super::finding::Entity as Finding;
    pub use super::measure::Entity as Measure;
    pub use super::measure_finding::Entity as MeasureFinding;
    pub use super::measure_system::Entity as MeasureSystem;
    pub use super::notice::Entity as Notice;
    pub use super::occurrence::Entity as Occurrence;
    pub use super::owner::Entity as Owner;
    pub use super::period_skip::Entity as PeriodSkip;
    pub use super::regulator::Entity as Regulator;
    pub use super::regulatory_order::Entity as RegulatoryOrder;
    pub use super::report::Entity as Report;
    pub use super::report_measure::Entity as ReportMeasure;
    pub use super::system::Entity as System;
}
