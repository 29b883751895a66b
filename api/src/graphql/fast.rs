//! Bulk rendering of measure lists.
//!
//! async-graphql resolves every selected field of every object through its generic executor:
//! a boxed future per field, a map per object, a DataLoader round per relation per row. For a
//! page of 100 measures with their owner, findings, systems and evidence count that is about
//! 1,100 field resolutions and 400 loader calls, and it was most of remedy's CPU per request
//! (BENCHMARKS.md). A list of measures is therefore rendered in bulk when it can be:
//!
//! 1. the selection of the list's measures is *compiled once per list* into a [`Plan`]: the
//!    response keys in order, each bound to a plain field (a column of the row, or a value
//!    computed from it alone), `__typename`, the owner, `evidenceCount`, or the findings and
//!    systems connections with their own plain selections;
//! 2. the relations the plan needs are loaded for *the whole page at once*, through the same
//!    DataLoader (so the same SQL, one statement per relation) with `load_many`; for a caller
//!    with an order scope (evaluators) that is the request's own scoped loader, so the
//!    per-order filters and the access trail are the resolvers' own (`tests/api/bulk.rs`
//!    compares answers and access records);
//! 3. each measure is then rendered from its row and those maps, without a future per field.
//!
//! A list whose every selection of its measures compiles to a plan is also *loaded narrow*
//! ([`narrow`]): its resolver compiles the plans before it loads the rows, and the rows are
//! read with only the columns those plans render (plus the id, the owner and the archive
//! mark every list reads), where a full row has 18 (decoding them was most of the order
//! page's CPU, BENCHMARKS.md). The other columns of such a row hold placeholders no field
//! reads: the list renders only through the plans it was loaded for, and answers an error
//! (never the generic path, which would read the placeholders) if one cannot render.
//!
//! The rendered value is the one the generic executor would produce: the same fields, values,
//! nulls and cursors (`tests/api/read.rs` compares both paths answer by answer). Anything the
//! plan does not cover takes the generic path for the whole list, field guards and errors
//! included:
//!
//! - any field that takes the request context (permissions, guarded fields such as
//!   `Owner.contact`, relations other than the four above), a nested field beyond the plain
//!   fields of owners, findings and systems, a response key selected twice, a fragment on
//!   another type, a directive left after `@skip`/`@include` were applied, paging arguments
//!   the connection would refuse;
//! - a schema with extensions (span export), so that every field still reaches them;
//! - `REMEDY_BULK_RENDER=false`.
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::connection::{CursorType, Edge, EmptyFields, PageInfo};
use async_graphql::dataloader::{DataLoader, Loader as DlLoader};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, InputType, Name, OutputType, Positioned, ServerError,
    ServerResult, Value,
};
use entity::*;
use tokio::sync::OnceCell;

use super::columns::MeasureCols;
use super::connection::{limits, window, Conn, Cursor, PageArgs};
use super::loader::{
    loader, EvidenceCountOfMeasure, FindingsOfMeasure, Loader, OwnerById, SystemsOfMeasure,
};
use super::object::{Finding, Measure, System};
use crate::auth::Caller;
use crate::domain::today;
use crate::error::AppError;
use crate::id;
use crate::service::measures::is_overdue;

/// Whether lists of measures may be rendered in bulk: `REMEDY_BULK_RENDER` (on by default), and
/// off while spans are exported (the schema then has the tracing extension, which must see
/// every field).
///
/// Each list's path is counted in `lists` (`remedy_measure_lists_total{path}`).
#[derive(Clone)]
pub struct BulkRender {
    pub enabled: bool,
    pub lists: prometheus::IntCounterVec,
}

/// A measure in a list: rendered in bulk with the rest of its page when the list's selection
/// allows it, by the generic executor otherwise. Its GraphQL type is `Measure`.
pub struct ListedMeasure {
    pub measure: Measure,
    page: Arc<Page>,
}

/// Wraps the measures of a connection so that they render together; `narrow`: the load
/// [`narrow`] gave the list, whose rows must render through its plans.
pub fn listed(conn: Conn<Measure>, narrow: Option<Narrow>) -> Conn<ListedMeasure> {
    let (narrowed, plans) = match narrow {
        Some(n) => (
            true,
            n.plans.into_iter().map(|(k, p)| (k, Some(p))).collect(),
        ),
        None => (false, Vec::new()),
    };
    let page = Arc::new(Page {
        rows: conn
            .edges
            .iter()
            .map(|e| (e.node.0.id, e.node.0.owner_id))
            .collect(),
        narrowed,
        plans: Mutex::new(plans),
        ..Page::default()
    });
    let mut out = Conn::with_additional_fields(
        conn.has_previous_page,
        conn.has_next_page,
        conn.additional_fields,
    );
    out.edges = conn
        .edges
        .into_iter()
        .map(|e| {
            Edge::new(
                e.cursor,
                ListedMeasure {
                    measure: e.node,
                    page: page.clone(),
                },
            )
        })
        .collect();
    out
}

/// What the measures of one page share: their ids, the plans compiled for the selections
/// they are rendered under, and the relations loaded for all of them.
#[derive(Default)]
struct Page {
    /// (measure id, owner id) of every measure of the page.
    rows: Vec<(i64, Option<i64>)>,
    /// Whether the rows were loaded narrow: only the plans made before the load may render
    /// them, and nothing may fall back to the generic path.
    narrowed: bool,
    /// Compiled plans by selection set (its address in the request's document); `None`: the
    /// selection takes the generic path.
    plans: Mutex<Vec<(usize, Option<Arc<Plan>>)>>,
    owners: OnceCell<HashMap<OwnerById, Arc<owner::Model>>>,
    findings: OnceCell<HashMap<FindingsOfMeasure, Arc<Vec<finding::Model>>>>,
    systems: OnceCell<HashMap<SystemsOfMeasure, Arc<Vec<system::Model>>>>,
    evidence_counts: OnceCell<HashMap<EvidenceCountOfMeasure, i64>>,
}

impl OutputType for ListedMeasure {
    fn type_name() -> Cow<'static, str> {
        <Measure as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Measure as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        match self.page.plan(ctx) {
            Some(plan) => match self.render(ctx, &plan).await {
                Ok(value) => return Ok(value),
                // A narrow row holds placeholders the generic path would read.
                Err(e) if self.page.narrowed => {
                    return Err(async_graphql::Error::from(e).into_server_error(field.pos))
                }
                Err(_) => {}
            },
            None if self.page.narrowed => {
                return Err(ServerError::new(
                    "internal error: a selection of a narrow list was not planned",
                    Some(field.pos),
                ))
            }
            None => {}
        }
        <Measure as OutputType>::resolve(&self.measure, ctx, field).await
    }
}

impl Page {
    /// The plan for the selection `ctx` renders, compiled by the page's first measure.
    fn plan(&self, ctx: &ContextSelectionSet<'_>) -> Option<Arc<Plan>> {
        let key = ctx.item as *const _ as usize;
        let mut plans = self.plans.lock().ok()?;
        if let Some((_, plan)) = plans.iter().find(|(k, _)| *k == key) {
            return plan.clone();
        }
        if self.narrowed {
            return None;
        }
        let plan = compile(ctx).map(Arc::new);
        if let Some(b) = ctx.data_opt::<BulkRender>() {
            let path = if plan.is_some() { "bulk" } else { "generic" };
            b.lists.with_label_values(&[path]).inc();
        }
        plans.push((key, plan.clone()));
        plan
    }
}

impl ListedMeasure {
    /// The measure rendered by `plan`; an error when a relation could not be loaded or a
    /// nested list paged (the generic path then reports the error where it belongs, unless
    /// the rows are narrow).
    async fn render(&self, ctx: &ContextSelectionSet<'_>, plan: &Plan) -> Result<Value, AppError> {
        let page = &*self.page;
        let dl = loader(ctx)?;
        let dl = &*dl;
        let rows = &page.rows;
        let (owners, findings, systems, counts) = futures_util::try_join!(
            load_page(dl, &page.owners, plan.needs.owner, || {
                rows.iter().filter_map(|r| r.1.map(OwnerById))
            }),
            load_page(dl, &page.findings, plan.needs.findings, || {
                rows.iter().map(|r| FindingsOfMeasure(r.0))
            }),
            load_page(dl, &page.systems, plan.needs.systems, || {
                rows.iter().map(|r| SystemsOfMeasure(r.0))
            }),
            load_page(dl, &page.evidence_counts, plan.needs.evidence_count, || {
                rows.iter().map(|r| EvidenceCountOfMeasure(r.0))
            }),
        )?;
        let unpaged = || AppError::from(anyhow::anyhow!("a nested list could not be paged"));
        let m = &self.measure.0;
        let mut out = IndexMap::with_capacity(plan.fields.len());
        for (key, field) in &plan.fields {
            let value = match field {
                MeasureField::Plain(name) => m.plain(name),
                MeasureField::Owner(sel) => match (m.owner_id, owners) {
                    (Some(o), Some(owners)) => owners
                        .get(&OwnerById(o))
                        .map_or(Value::Null, |row| sel.render(&**row)),
                    _ => Value::Null,
                },
                MeasureField::Findings(conn) => {
                    let rows = findings.and_then(|f| f.get(&FindingsOfMeasure(m.id)));
                    let rows: Vec<&finding::Model> =
                        rows.into_iter().flat_map(|r| r.iter()).collect();
                    conn.render(&rows).ok_or_else(unpaged)?
                }
                MeasureField::Systems(conn) => {
                    let rows = systems.and_then(|s| s.get(&SystemsOfMeasure(m.id)));
                    let rows: Vec<&system::Model> =
                        rows.into_iter().flat_map(|r| r.iter()).collect();
                    conn.render(&rows).ok_or_else(unpaged)?
                }
                MeasureField::EvidenceCount => counts
                    .and_then(|c| c.get(&EvidenceCountOfMeasure(m.id)))
                    .copied()
                    .unwrap_or_default()
                    .to_value(),
            };
            out.insert(key.clone(), value);
        }
        Ok(Value::Object(out))
    }
}

/// A relation of the whole page, loaded once (by whichever measure renders first) through
/// the DataLoader; `None` when the plan does not need it.
async fn load_page<'a, K, V, I>(
    dl: &DataLoader<Loader>,
    cell: &'a OnceCell<HashMap<K, V>>,
    needed: bool,
    keys: impl FnOnce() -> I,
) -> Result<Option<&'a HashMap<K, V>>, AppError>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
    I: Iterator<Item = K>,
    Loader: DlLoader<K, Value = V, Error = AppError>,
{
    if !needed {
        return Ok(None);
    }
    cell.get_or_try_init(|| dl.load_many(keys()))
        .await
        .map(Some)
}

// ---------------------------------------------------------------------------------------
// Plain fields: values computed from the row alone, with no context, guard or error.

/// A row whose plain fields can be rendered without the executor.
trait Plain {
    /// The GraphQL type's name.
    const TYPE: &'static str;
    /// Its plain fields.
    #[allow(dead_code)] // read by the fence test
    const FIELDS: &'static [&'static str];
    /// Its other fields: rendered by the generic executor (or, for `Measure`'s four
    /// relations, by the plan itself). A field of the type in neither list fails
    /// `tests::every_field_is_rendered_in_bulk_or_sent_to_the_generic_path`.
    #[allow(dead_code)] // read by the fence test
    const NOT_PLAIN: &'static [&'static str];
    /// Whether `name` is one of its plain fields.
    fn has(name: &str) -> bool;
    /// The value of a plain field (`has(name)` holds), as the field's resolver gives it.
    fn plain(&self, name: &str) -> Value;
}

/// Declares the plain fields of a row type: GraphQL name => value (anything `InputType`,
/// converted as the executor converts the resolver's result).
macro_rules! plain_fields {
    ($model:ty, $type_name:literal, not plain: [$($other:literal),*], |$m:ident| { $($name:literal => $value:expr,)* }) => {
        impl Plain for $model {
            const TYPE: &'static str = $type_name;
            const FIELDS: &'static [&'static str] = &[$($name),*];
            const NOT_PLAIN: &'static [&'static str] = &[$($other),*];
            fn has(name: &str) -> bool {
                matches!(name, $($name)|* | "__typename")
            }
            fn plain(&self, name: &str) -> Value {
                let $m = self;
                match name {
                    $($name => InputType::to_value(&$value),)*
                    "__typename" => Value::String($type_name.to_string()),
                    _ => Value::Null,
                }
            }
        }
    };
}

// `owner`, `findings`, `systems` and `evidenceCount` are rendered by the plan from the page's
// relations; the rest takes the generic path.
plain_fields!(measure::Model, "Measure", not plain: ["owner", "findings", "systems", "evidenceCount", "evidence", "occurrences", "evaluations", "permissions", "originalDueOn", "dueDateChanges", "changeRequests", "pendingChange", "periods", "onTimeRate", "transitions"], |m| {
    "id" => id::encode("Measure", m.id),
    "code" => m.code,
    "title" => m.title,
    "titleLocal" => m.title_local,
    "plan" => m.plan,
    "status" => m.status,
    "statusReason" => m.status_reason,
    "startedOn" => m.started_on,
    "dueOn" => m.due_on,
    "completedOn" => m.completed_on,
    "recurrence" => m.recurrence,
    "nextDueOn" => m.next_due_on,
    "anchorOn" => m.anchor_on,
    "graceDays" => m.grace_days,
    "overdue" => is_overdue(m, today()),
    "note" => m.note,
    "version" => m.version,
    "createdAt" => m.created_at,
    "updatedAt" => m.updated_at,
    "archivedAt" => m.archived_at,
});

// `contact` and `account` are guarded; relations and `permissions` take the context.
plain_fields!(owner::Model, "Owner", not plain: ["contact", "account", "parent", "measures", "workload", "permissions"], |o| {
    "id" => id::encode("Owner", o.id),
    "code" => o.code,
    "name" => o.name,
    "nameLocal" => o.name_local,
    "kind" => o.kind,
    "roleTitle" => o.role_title,
    "language" => o.language.unwrap_or(entity::enums::Language::Ja),
    "version" => o.version,
});

plain_fields!(finding::Model, "Finding", not plain: ["order", "measures", "permissions"], |f| {
    "id" => id::encode("Finding", f.id),
    "category" => f.category,
    "number" => f.number,
    "title" => f.title,
    "facts" => f.facts,
    "factsEn" => f.facts_en,
    "directive" => f.directive,
    "directiveEn" => f.directive_en,
    "version" => f.version,
});

plain_fields!(system::Model, "System", not plain: ["measures", "evidence", "permissions"], |s| {
    "id" => id::encode("System", s.id),
    "code" => s.code,
    "name" => s.name,
    "nameLocal" => s.name_local,
    "kind" => s.kind,
    "scopeNote" => s.scope_note,
    "holdsCardData" => s.holds_card_data,
    "version" => s.version,
});

// ---------------------------------------------------------------------------------------
// Narrow loads: only the columns a list's plans read.

/// How a list of measures is loaded narrow: the columns its plans read, and the plans,
/// compiled before the load, by selection set.
pub struct Narrow {
    cols: MeasureCols,
    plans: Vec<(usize, Arc<Plan>)>,
}

impl Narrow {
    /// The columns to load (`with` adds those the resolver itself reads, e.g. a sort key).
    pub fn cols(narrow: &Option<Narrow>) -> MeasureCols {
        narrow.as_ref().map_or(MeasureCols::ALL, |n| n.cols)
    }
}

/// The narrow load of the list of measures `ctx` resolves (a field of type
/// `MeasureConnection`): `Some` when every selection of its measures, under `nodes` and
/// `edges { node }`, compiles to a plan; `None` (full rows, the generic path possible)
/// otherwise.
pub fn narrow(ctx: &Context<'_>) -> Option<Narrow> {
    let field = ctx.item;
    let conn_ctx = ctx.with_selection_set(&field.node.selection_set);
    let conn_type = <Conn<ListedMeasure> as OutputType>::type_name();
    let edge_type = <Edge<Cursor, ListedMeasure, EmptyFields> as OutputType>::type_name();
    let mut cols = MeasureCols::BASE;
    let mut plans = Vec::new();
    let mut plan = |set: &Positioned<SelectionSet>| -> Option<()> {
        let plan = compile(&ctx.with_selection_set(set))?;
        cols = cols.union(plan.cols);
        plans.push((set as *const _ as usize, Arc::new(plan)));
        Some(())
    };
    for f in fields_of(&conn_ctx, &field.node.selection_set.node, &conn_type)? {
        match f.node.name.node.as_str() {
            "__typename" | "totalCount" | "pageInfo" => {}
            "nodes" => plan(&f.node.selection_set)?,
            "edges" => {
                for e in fields_of(&conn_ctx, &f.node.selection_set.node, &edge_type)? {
                    match e.node.name.node.as_str() {
                        "__typename" | "cursor" => {}
                        "node" => plan(&e.node.selection_set)?,
                        _ => return None,
                    }
                }
            }
            _ => return None,
        }
    }
    if let Some(b) = ctx.data_opt::<BulkRender>() {
        b.lists
            .with_label_values(&["bulk"])
            .inc_by(plans.len() as u64);
    }
    Some(Narrow { cols, plans })
}

// ---------------------------------------------------------------------------------------
// Plans.

/// A compiled selection of a list's measures.
struct Plan {
    fields: Vec<(Name, MeasureField)>,
    needs: Needs,
    /// The columns of the row its fields read.
    cols: MeasureCols,
}

/// The relations a plan renders.
#[derive(Default)]
struct Needs {
    owner: bool,
    findings: bool,
    systems: bool,
    evidence_count: bool,
}

enum MeasureField {
    Plain(Name),
    Owner(PlainSelection),
    Findings(ConnPlan<Finding>),
    Systems(ConnPlan<System>),
    EvidenceCount,
}

/// A selection of plain fields only: (response key, field name).
struct PlainSelection(Vec<(Name, Name)>);

impl PlainSelection {
    fn compile<T: Plain>(ctx: &ContextSelectionSet<'_>, set: &SelectionSet) -> Option<Self> {
        let mut out = Vec::new();
        for f in fields_of(ctx, set, T::TYPE)? {
            let name = &f.node.name.node;
            if !T::has(name) || !f.node.arguments.is_empty() {
                return None;
            }
            out.push((f.node.response_key().node.clone(), name.clone()));
        }
        Some(Self(out))
    }

    fn render<T: Plain>(&self, row: &T) -> Value {
        let mut out = IndexMap::with_capacity(self.0.len());
        for (key, name) in &self.0 {
            out.insert(key.clone(), row.plain(name));
        }
        Value::Object(out)
    }
}

/// A compiled selection of a nested connection (`Measure.findings`, `Measure.systems`),
/// whose node type `N` wraps rows with plain fields.
struct ConnPlan<N> {
    args: PageArgs,
    max_page_size: u64,
    fields: Vec<(Name, ConnField)>,
    node: std::marker::PhantomData<N>,
}

enum ConnField {
    Typename,
    TotalCount,
    PageInfo(Vec<(Name, PageInfoField)>),
    Nodes(PlainSelection),
    Edges(Vec<(Name, EdgeField)>),
}

enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

enum EdgeField {
    Typename,
    Cursor,
    Node(PlainSelection),
}

/// The fields of `set` on an object of type `type_name`, fragments expanded; `None` when the
/// selection needs the generic executor (see the module's documentation).
fn fields_of<'a>(
    ctx: &ContextSelectionSet<'a>,
    set: &'a SelectionSet,
    type_name: &str,
) -> Option<Vec<&'a Positioned<Field>>> {
    fn walk<'a>(
        ctx: &ContextSelectionSet<'a>,
        set: &'a SelectionSet,
        type_name: &str,
        out: &mut Vec<&'a Positioned<Field>>,
    ) -> Option<()> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(f) => {
                    if !f.node.directives.is_empty() {
                        return None;
                    }
                    out.push(f);
                }
                Selection::FragmentSpread(spread) => {
                    let fragment = ctx
                        .query_env
                        .fragments
                        .get(&spread.node.fragment_name.node)?;
                    if !spread.node.directives.is_empty()
                        || !fragment.node.directives.is_empty()
                        || fragment.node.type_condition.node.on.node != type_name
                    {
                        return None;
                    }
                    walk(ctx, &fragment.node.selection_set.node, type_name, out)?;
                }
                Selection::InlineFragment(inline) => {
                    if !inline.node.directives.is_empty() {
                        return None;
                    }
                    if let Some(on) = &inline.node.type_condition {
                        if on.node.on.node != type_name {
                            return None;
                        }
                    }
                    walk(ctx, &inline.node.selection_set.node, type_name, out)?;
                }
            }
        }
        Some(())
    }
    let mut out = Vec::new();
    walk(ctx, set, type_name, &mut out)?;
    // A key selected twice would need its selections merged: left to the executor.
    let mut keys: Vec<&str> = out
        .iter()
        .map(|f| f.node.response_key().node.as_str())
        .collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    Some(out)
}

/// Compiles the selection `ctx` renders each measure under, or `None` (generic path).
fn compile(ctx: &ContextSelectionSet<'_>) -> Option<Plan> {
    if !ctx.data_opt::<BulkRender>().is_some_and(|b| b.enabled)
        || ctx.data_opt::<Caller>().is_none()
        || super::tense::of(ctx).is_some()
    {
        return None;
    }
    let mut needs = Needs::default();
    let mut fields = Vec::new();
    let mut cols = MeasureCols::BASE;
    for f in fields_of(ctx, &ctx.item.node, "Measure")? {
        let name = f.node.name.node.as_str();
        let set = &f.node.selection_set.node;
        let field = match name {
            "owner" => {
                needs.owner = true;
                MeasureField::Owner(PlainSelection::compile::<owner::Model>(ctx, set)?)
            }
            "findings" => {
                needs.findings = true;
                MeasureField::Findings(ConnPlan::compile(ctx, f)?)
            }
            "systems" => {
                needs.systems = true;
                MeasureField::Systems(ConnPlan::compile(ctx, f)?)
            }
            "evidenceCount" => {
                needs.evidence_count = true;
                MeasureField::EvidenceCount
            }
            _ if <measure::Model as Plain>::has(name) && f.node.arguments.is_empty() => {
                cols = cols.union(MeasureCols::of_field(name));
                MeasureField::Plain(f.node.name.node.clone())
            }
            _ => return None,
        };
        fields.push((f.node.response_key().node.clone(), field));
    }
    Some(Plan {
        fields,
        needs,
        cols,
    })
}

/// The row type behind a nested connection's node type.
trait NodeRow {
    type Row: Plain;
}

impl NodeRow for Finding {
    type Row = finding::Model;
}

impl NodeRow for System {
    type Row = system::Model;
}

impl<N: OutputType + NodeRow> ConnPlan<N> {
    fn compile(ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Self> {
        if field
            .node
            .arguments
            .iter()
            .any(|(n, _)| !matches!(n.node.as_str(), "first" | "after" | "last" | "before"))
        {
            return None;
        }
        // The arguments as the field's own resolver reads them (variables substituted).
        let ctx_field = ctx.with_field(field);
        let int = |name: &str| ctx_field.param_value::<Option<i32>>(name, None).ok();
        let string = |name: &str| ctx_field.param_value::<Option<String>>(name, None).ok();
        let args = PageArgs::new(
            int("first")?.1,
            string("after")?.1,
            int("last")?.1,
            string("before")?.1,
        );
        let max_page_size = limits(ctx).max_page_size;
        // Arguments the connection would refuse: the executor reports the error.
        window(&args, 0, max_page_size).ok()?;
        let conn_type = <Conn<N> as OutputType>::type_name();
        let edge_type = <Edge<Cursor, N, EmptyFields> as OutputType>::type_name();
        let mut fields = Vec::new();
        for f in fields_of(ctx, &field.node.selection_set.node, &conn_type)? {
            if !f.node.arguments.is_empty() {
                return None;
            }
            let set = &f.node.selection_set.node;
            let kind = match f.node.name.node.as_str() {
                "__typename" => ConnField::Typename,
                "totalCount" => ConnField::TotalCount,
                "nodes" => ConnField::Nodes(PlainSelection::compile::<N::Row>(ctx, set)?),
                "pageInfo" => {
                    let mut out = Vec::new();
                    for p in fields_of(ctx, set, &<PageInfo as OutputType>::type_name())? {
                        let kind = match p.node.name.node.as_str() {
                            "__typename" => PageInfoField::Typename,
                            "hasPreviousPage" => PageInfoField::HasPreviousPage,
                            "hasNextPage" => PageInfoField::HasNextPage,
                            "startCursor" => PageInfoField::StartCursor,
                            "endCursor" => PageInfoField::EndCursor,
                            _ => return None,
                        };
                        out.push((p.node.response_key().node.clone(), kind));
                    }
                    ConnField::PageInfo(out)
                }
                "edges" => {
                    let mut out = Vec::new();
                    for e in fields_of(ctx, set, &edge_type)? {
                        let kind = match e.node.name.node.as_str() {
                            "__typename" => EdgeField::Typename,
                            "cursor" => EdgeField::Cursor,
                            "node" => EdgeField::Node(PlainSelection::compile::<N::Row>(
                                ctx,
                                &e.node.selection_set.node,
                            )?),
                            _ => return None,
                        };
                        out.push((e.node.response_key().node.clone(), kind));
                    }
                    ConnField::Edges(out)
                }
                _ => return None,
            };
            fields.push((f.node.response_key().node.clone(), kind));
        }
        Some(Self {
            args,
            max_page_size,
            fields,
            node: std::marker::PhantomData,
        })
    }

    /// The connection over `rows` (the parent's whole list), paged as `from_vec` pages it.
    fn render(&self, rows: &[&N::Row]) -> Option<Value> {
        let total = rows.len() as u64;
        let (start, end) = window(&self.args, total, self.max_page_size).ok()?;
        let page = &rows[start as usize..end as usize];
        let cursor = |i: usize| Value::String(Cursor::Offset(start + i as u64).encode_cursor());
        let mut out = IndexMap::with_capacity(self.fields.len());
        for (key, field) in &self.fields {
            let value = match field {
                ConnField::Typename => {
                    Value::String(<Conn<N> as OutputType>::type_name().into_owned())
                }
                ConnField::TotalCount => Value::from(total),
                ConnField::Nodes(sel) => Value::List(page.iter().map(|r| sel.render(*r)).collect()),
                ConnField::Edges(sel) => Value::List(
                    page.iter()
                        .enumerate()
                        .map(|(i, row)| {
                            let mut edge = IndexMap::with_capacity(sel.len());
                            for (key, field) in sel {
                                let value = match field {
                                    EdgeField::Typename => Value::String(
                                        <Edge<Cursor, N, EmptyFields> as OutputType>::type_name()
                                            .into_owned(),
                                    ),
                                    EdgeField::Cursor => cursor(i),
                                    EdgeField::Node(node) => node.render(*row),
                                };
                                edge.insert(key.clone(), value);
                            }
                            Value::Object(edge)
                        })
                        .collect(),
                ),
                ConnField::PageInfo(sel) => {
                    let mut info = IndexMap::with_capacity(sel.len());
                    for (key, field) in sel {
                        let value = match field {
                            PageInfoField::Typename => Value::String("PageInfo".to_string()),
                            PageInfoField::HasPreviousPage => Value::Boolean(start > 0),
                            PageInfoField::HasNextPage => Value::Boolean(end < total),
                            PageInfoField::StartCursor if page.is_empty() => Value::Null,
                            PageInfoField::StartCursor => cursor(0),
                            PageInfoField::EndCursor if page.is_empty() => Value::Null,
                            PageInfoField::EndCursor => cursor(page.len() - 1),
                        };
                        info.insert(key.clone(), value);
                    }
                    Value::Object(info)
                }
            };
            out.insert(key.clone(), value);
        }
        Some(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of a type in the schema, by introspection.
    async fn schema_fields(type_name: &str) -> Vec<String> {
        let schema = async_graphql::Schema::build(
            crate::graphql::Query::default(),
            crate::graphql::Mutation::default(),
            crate::graphql::Subscription::default(),
        )
        .finish();
        let res = schema
            .execute(format!(
                "{{ __type(name: \"{type_name}\") {{ fields {{ name }} }} }}"
            ))
            .await;
        assert!(res.errors.is_empty(), "{:?}", res.errors);
        let json = res.data.into_json().unwrap();
        json["__type"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    }

    async fn check<T: Plain>() {
        let fields = schema_fields(T::TYPE).await;
        for f in &fields {
            assert!(
                T::FIELDS.contains(&f.as_str()) || T::NOT_PLAIN.contains(&f.as_str()),
                "{}.{f} is new: render it in bulk (plain_fields!) or name it under `not plain`",
                T::TYPE
            );
        }
        for f in T::FIELDS.iter().chain(T::NOT_PLAIN) {
            assert!(
                fields.iter().any(|x| x == f),
                "{}.{f} is listed in fast.rs but not in the schema",
                T::TYPE
            );
            assert!(
                !(T::FIELDS.contains(f) && T::NOT_PLAIN.contains(f)),
                "{}.{f} is listed twice",
                T::TYPE
            );
        }
    }

    /// A field added to a type the bulk renderer renders is neither silently rendered wrong
    /// nor silently skipped: it must be listed as plain (and then compared with the generic
    /// path by `tests/api/bulk.rs`) or sent to the generic path.
    #[tokio::test]
    async fn every_field_is_rendered_in_bulk_or_sent_to_the_generic_path() {
        check::<measure::Model>().await;
        check::<owner::Model>().await;
        check::<finding::Model>().await;
        check::<system::Model>().await;
    }
}
