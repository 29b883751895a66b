//! The GraphQL schema: built once at start-up and shared by every worker.
pub mod audit;
pub mod columns;
pub mod connection;
pub mod dashboard;
pub mod exchange;
pub mod fast;
pub mod loader;
pub mod mutation;
pub mod notify;
pub mod object;
pub mod query;
pub mod reporting;
pub mod subscription;
pub mod tense;
pub mod timeline;
pub mod token;
pub mod types;

use async_graphql::{MergedObject, MergedSubscription, Schema};
use sea_orm::DatabaseConnection;

use std::sync::Arc;

use crate::auth::jwt::Keys;
use crate::config::ServerConfig;

/// Per-request facts the HTTP layer passes to resolvers.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub operation: Option<String>,
}

/// Every query root, one object per domain.
#[derive(MergedObject, Default)]
pub struct Query(
    query::PlanQuery,
    audit::AuditQuery,
    token::TokenQuery,
    reporting::ReportingQuery,
    notify::NotifyQuery,
);

/// Every mutation, one object per domain.
#[derive(MergedObject, Default)]
pub struct Mutation(
    mutation::PlanMutation,
    token::TokenMutation,
    notify::NotifyMutation,
    exchange::ExchangeMutation,
);

/// Every subscription (WebSocket, `/graphql/ws`).
#[derive(MergedSubscription, Default)]
pub struct Subscription(subscription::PlanSubscription);

pub type RemedySchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema with its limits. The database connection, the loaders and the write
/// gate (the server's one instance, also taken by the HTTP layer's writes) are shared by all
/// requests; per-request data (the caller) is added by the HTTP handler.
pub fn build_schema(
    db: DatabaseConnection,
    cfg: &ServerConfig,
    keys: Arc<Keys>,
    measure_lists: prometheus::IntCounterVec,
    bus: crate::events::Bus,
    gate: Arc<crate::service::write::WriteGate>,
    rollups: dashboard::Rollups,
) -> RemedySchema {
    let subscription = Subscription::default();
    let mut builder = Schema::build(Query::default(), Mutation::default(), subscription)
        .data(loader::Shared::new(
            db.clone(),
            std::time::Duration::from_millis(cfg.loader_delay_ms),
        ))
        .data(bus)
        .data(db)
        .data(keys)
        .data(fast::BulkRender {
            enabled: cfg.bulk_render && !crate::telemetry::exporting(),
            lists: measure_lists,
        })
        .data(connection::Limits {
            max_page_size: cfg.max_page_size,
        })
        .data(gate)
        .data(rollups)
        // An allow-list that does not parse is refused at start-up (`main`); here it only
        // narrows to public addresses.
        .data(
            crate::service::notify::Settings::from_config(&cfg.notify, cfg.listen).unwrap_or_else(
                |_| {
                    let mut c = cfg.notify.clone();
                    c.webhook_allow.clear();
                    c.digest_weekly_to.clear();
                    crate::service::notify::Settings::from_config(&c, cfg.listen)
                        .expect("settings without lists parse")
                },
            ),
        )
        .data(crate::service::plan::EvidenceStore::from_config(cfg))
        .data(cfg.bundle.clone())
        .data(crate::service::write::measures::Accountability::from_config(cfg))
        .data(cfg.import)
        .data(mutation::UploadLimits {
            max_bytes: cfg.max_upload_bytes,
        })
        // Depth is limited before validation (`crate::document`), without counting the
        // introspection roots' subtrees, so that standard introspection queries work.
        .limit_complexity(cfg.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(16);
    // No extension unless spans are exported: with any extension registered every field
    // resolution goes through the extension chain. Persisted queries are resolved by the
    // HTTP layer (`crate::document`).
    if !cfg.introspection {
        builder = builder.disable_introspection();
    }
    if !cfg.field_suggestions {
        builder = builder.disable_suggestions();
    }
    if crate::telemetry::exporting() {
        // Parse, validation and resolver spans, only when spans are exported.
        builder = builder.extension(async_graphql::extensions::Tracing);
    }
    builder.finish()
}

/// The SDL of the schema, as committed in `schema.graphql`, with `@specifiedBy` on the
/// scalars that follow a specification (`DateTime`: RFC 3339; `Upload`: the GraphQL multipart
/// request specification), as introspection's `specifiedByURL` tells.
pub fn sdl() -> String {
    // Limits do not change the SDL; a lazily failing connection is never used.
    let subscription = Subscription::default();
    let schema = Schema::build(Query::default(), Mutation::default(), subscription).finish();
    schema.sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}
