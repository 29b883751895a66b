//! The graph's object types, as data: each wraps a database row. Their fields are in
//! `super::types` (resolvers), and the bulk renderer (`super::fast`) and the dashboards
//! build them too, so the definitions sit below all three.
use entity::*;

use crate::service::evidence::EvidenceMeta;

/// An authority that acts on the company: a ministry, a privacy commission, a card brand.
pub struct Regulator(pub regulator::Model);

/// One regulatory action: a business-improvement order, guidance, a report request.
#[derive(Clone)]
pub struct Order(pub regulatory_order::Model);

/// One fact a regulator found, with its directive.
pub struct Finding(pub finding::Model);

/// One thing the company committed to do.
pub struct Measure(pub measure::Model);

/// A person, department or outside vendor answerable for measures.
pub struct Owner(pub owner::Model);

/// An in-scope system: the net payment system, a front system, an admin screen.
pub struct System(pub system::Model);

/// A document proving a measure. Immutable: a correction is a new revision that supersedes it.
pub struct Evidence(pub EvidenceMeta);

/// A filing to a regulator. Submitted reports are frozen.
pub struct Report(pub report::Model);

/// An independent evaluator's assessment of a report or a measure. Immutable.
pub struct Evaluation(pub evaluation::Model);

/// An independent party that evaluates progress: a committee, its members, a regulator.
pub struct Evaluator(pub evaluator::Model);

/// A request to defer or cancel a measure or move its due date later, decided by a second
/// person with `plan:approve`.
pub struct ChangeRequest(pub change_request::Model);

/// Any JSON value (a report's frozen snapshot), as the `JSON` scalar with its specification.
pub struct JsonValue(pub serde_json::Value);

/// A scalar that can represent any JSON value.
#[async_graphql::Scalar(
    name = "JSON",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc8259"
)]
impl async_graphql::ScalarType for JsonValue {
    fn parse(value: async_graphql::Value) -> async_graphql::InputValueResult<Self> {
        Ok(JsonValue(value.into_json()?))
    }

    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::from_json(self.0.clone()).unwrap_or_default()
    }
}
