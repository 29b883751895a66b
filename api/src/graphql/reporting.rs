//! Reporting for scripts and regulators: generated reports on one order as of a date, and
//! an incremental export of changes keyed by audit event id.
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::connection::Limits;
use super::types::today;
use crate::auth::{caller, Permission, Requires, RequiresAny};
use crate::error::{AppError, AppResult};
use crate::id;
use crate::report::{self, GeneratedReport, ReportFormat};

/// Kinds of object whose changes `changes` exports (plan data; never tokens).
pub const EXPORTED_ENTITIES: [&str; 13] = [
    "Regulator",
    "Order",
    "Finding",
    "Measure",
    "MeasureFinding",
    "MeasureSystem",
    "Owner",
    "System",
    "Evidence",
    "Occurrence",
    "Report",
    "Evaluation",
    "Evaluator",
];

/// Of those, the link rows, which are no Relay nodes (the others are: `node(id)`).
const LINKS: [&str; 2] = ["MeasureFinding", "MeasureSystem"];

/// One change to plan data, from the audit log (without the before/after contents, which
/// stay ADMIN-only: fetch the node for its current state).
#[derive(SimpleObject)]
pub struct Change {
    /// The audit event id: strictly increasing in commit order; also the edge cursor.
    pub event_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What: create, update, transition, archive, submit…
    pub action: String,
    /// The kind of object (e.g. `Measure`).
    pub entity: String,
    /// The object's database id (for links, `measureId:findingId`).
    pub entity_id: String,
    /// The object's global ID, for kinds that are nodes.
    pub node_id: Option<ID>,
}

impl From<audit_event::Model> for Change {
    fn from(e: audit_event::Model) -> Self {
        let entity = e.entity.as_str();
        let node_id = if EXPORTED_ENTITIES.contains(&entity) && !LINKS.contains(&entity) {
            e.entity_id
                .parse::<i64>()
                .ok()
                .map(|raw| id::encode(&e.entity, raw))
        } else {
            None
        };
        Change {
            event_id: e.id.to_string(),
            at: e.at,
            action: e.action,
            entity: e.entity,
            entity_id: e.entity_id,
            node_id,
        }
    }
}

#[derive(Default)]
pub struct ReportingQuery;

#[Object]
impl ReportingQuery {
    /// The progress report on one order as it stood at the end of `asOf` (default: today,
    /// UTC) as known at `knownAt` (default: now), in the shape of the commission's table. The same data gives byte-identical output. A date
    /// before the order was issued gives a report without findings or measures.
    #[graphql(guard = "Requires(Permission::GenerateReports)")]
    async fn regulator_report(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        as_of: Option<crate::date::Date>,
        #[graphql(
            desc = "As the database knew it at this instant (default: as known now); \
                          with `asOf` the report's date and this its submission instant, a \
                          submitted report's snapshot is reproduced."
        )]
        known_at: Option<DateTime<Utc>>,
        format: ReportFormat,
    ) -> AppResult<GeneratedReport> {
        let who = caller(ctx)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let raw = id::decode(&order_id, "Order").map_err(|_| AppError::not_found("order"))?;
        let tense = crate::graphql::tense::requested(as_of, known_at)?
            .unwrap_or_else(|| crate::service::history::Tense::on(today()));
        let data = report::load(db, who.order_scope(), raw, tense).await?;
        who.touch(raw);
        report::render(&data, format)
    }

    /// The signed submission bundle of a submitted (or acknowledged) report: a zip with the
    /// frozen snapshot in every report format, the evidence it cites, a manifest of every
    /// file's SHA-256, the report's hash, the audit-chain head at submission and an Ed25519
    /// signature of the manifest (see the README, "Submission bundles"). An evaluator gets
    /// the bundles of its orders' reports; another order's answers as a missing one.
    #[graphql(guard = "RequiresAny(&[Permission::GenerateReports, Permission::WriteEvaluations])")]
    async fn report_bundle(
        &self,
        ctx: &Context<'_>,
        report_id: ID,
    ) -> AppResult<report::bundle::Bundle> {
        let who = caller(ctx)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let raw = id::decode(&report_id, "Report").map_err(|_| AppError::not_found("report"))?;
        let store = ctx.data_unchecked::<crate::service::plan::EvidenceStore>();
        let gate = ctx.data_unchecked::<std::sync::Arc<crate::service::write::WriteGate>>();
        let cfg = ctx.data_unchecked::<crate::config::BundleKeyConfig>();
        // The scope is checked before a key is made or read.
        let order = entity::report::Entity::find_by_id(raw)
            .one(db)
            .await?
            .map(|r| r.order_id)
            .filter(|o| who.order_scope().is_none_or(|g| g.contains(o)))
            .ok_or_else(|| AppError::not_found("report"))?;
        let signer = report::keys::signer(db, gate, cfg).await?;
        let bundle = report::bundle::build(db, store, &signer, who.order_scope(), raw).await?;
        who.touch(order);
        Ok(bundle)
    }

    /// The public keys that sign submission bundles (every key a bundle may name, oldest
    /// first). Never a private key.
    #[graphql(guard = "RequiresAny(&[Permission::GenerateReports, Permission::WriteEvaluations])")]
    async fn bundle_keys(&self, ctx: &Context<'_>) -> AppResult<Vec<report::keys::BundleKey>> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let cfg = ctx.data_unchecked::<crate::config::BundleKeyConfig>();
        report::keys::published(db, cfg).await
    }

    /// Every change to plan data, oldest first, for scripts that sync incrementally. The
    /// cursor is the audit event id and pages are keyset (`id > after`), and events are
    /// committed in id order (appenders are serialised), so a walk misses and repeats
    /// nothing even while writes happen: keep the last cursor and resume from it.
    /// Not for order-scoped (evaluator) tokens.
    #[graphql(
        guard = "Requires(Permission::GenerateReports)",
        complexity = "first.unwrap_or(100).max(0) as usize * child_complexity + 1"
    )]
    async fn changes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only changes at or after this time.")] since: Option<DateTime<Utc>>,
        #[graphql(desc = "Page size (default 100, at most the server's page limit).")]
        first: Option<i32>,
        #[graphql(desc = "The `eventId`/cursor of the last change already seen.")] after: Option<
            String,
        >,
    ) -> AppResult<Connection<String, Change, EmptyFields, EmptyFields>> {
        let who = caller(ctx)?;
        if who.is_scoped() {
            return Err(AppError::Forbidden(
                "changes spans every order; not for order-scoped tokens".into(),
            ));
        }
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let max = ctx
            .data_opt::<Limits>()
            .map(|l| l.max_page_size)
            .unwrap_or(100);
        let first = first.unwrap_or(100);
        if first < 0 || first as u64 > max {
            return Err(AppError::validation(
                "first",
                format!("must be between 0 and {max}"),
            ));
        }
        let after_id = match after.as_deref() {
            None => None,
            Some(c) => Some(
                c.parse::<i64>()
                    .map_err(|_| AppError::validation("after", "malformed cursor"))?,
            ),
        };
        let mut select = audit_event::Entity::find()
            .filter(audit_event::Column::Entity.is_in(EXPORTED_ENTITIES));
        if let Some(a) = after_id {
            select = select.filter(audit_event::Column::Id.gt(a));
        }
        if let Some(s) = since {
            select = select.filter(audit_event::Column::At.gte(s));
        }
        let mut rows = select
            .order_by_asc(audit_event::Column::Id)
            .limit(first as u64 + 1)
            .all(db)
            .await?;
        let has_next = rows.len() > first as usize;
        rows.truncate(first as usize);
        let mut conn = Connection::new(after_id.is_some(), has_next);
        conn.edges.extend(
            rows.into_iter()
                .map(|e| Edge::new(e.id.to_string(), Change::from(e))),
        );
        Ok(conn)
    }
}
