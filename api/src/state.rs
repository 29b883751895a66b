//! What every worker of the server shares, built once at start-up: the schema, the
//! database, keys, limits, caches, the change bus and the write gate.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::web;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::auth::jwt::Keys;
use crate::config::ServerConfig;
use crate::graphql::{build_schema, RemedySchema};
use crate::service::write::WriteGate;

/// State shared by all workers: built once.
pub struct AppState {
    pub schema: RemedySchema,
    pub db: DatabaseConnection,
    pub config: ServerConfig,
    pub keys: Arc<Keys>,
    pub store: crate::service::plan::EvidenceStore,
    /// Requests per minute per token subject (None: unlimited).
    pub limiter: Option<governor::DefaultKeyedRateLimiter<String>>,
    pub metrics: web::Data<crate::metrics::Metrics>,
    /// Parsed documents (persisted queries, parses by text), bounded by bytes.
    pub documents: crate::document::Documents,
    /// Multipart uploads processed at once (`REMEDY_MAX_CONCURRENT_UPLOADS`).
    pub uploads: tokio::sync::Semaphore,
    /// Change events (subscriptions; token revocations close open sockets).
    pub bus: crate::events::Bus,
    /// Open WebSocket connections per token subject.
    pub sockets: Sockets,
    /// The one write gate of this server, shared with the schema: every write takes it.
    pub gate: Arc<WriteGate>,
    /// The schema's output types, to complete responses from their field errors.
    pub shape: Arc<crate::propagation::Shape>,
    /// The tokens `serve --demo` issued with its generated secret, offered by the console's
    /// sign-in page (loopback clients only); None on any other server.
    pub demo_tokens: Option<Vec<DemoToken>>,
    /// The budget of dashboard rollups, shared with the schema.
    pub rollups: crate::graphql::dashboard::Rollups,
}

/// One token `serve --demo` issued for the console's sign-in page.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DemoToken {
    pub role: String,
    pub subject: String,
    /// The orders it is limited to (references), if any.
    pub orders: Vec<String>,
    pub token: String,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: ServerConfig, keys: Arc<Keys>) -> Self {
        let metrics = crate::metrics::Metrics::new();
        let bus = crate::events::Bus::start(&db);
        let gate = Arc::new(WriteGate::for_backend(db.get_database_backend()));
        let rollups = crate::graphql::dashboard::Rollups::from_config(&config);
        let schema = build_schema(
            db.clone(),
            &config,
            keys.clone(),
            metrics.measure_lists.clone(),
            bus.clone(),
            gate.clone(),
            rollups.clone(),
        );
        let shape = Arc::new(crate::propagation::Shape::from_sdl(&schema.sdl()));
        let store = crate::service::plan::EvidenceStore::from_config(&config);
        let limiter = std::num::NonZeroU32::new(config.rate_limit_per_minute)
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n)));
        Self {
            schema,
            db,
            keys,
            store,
            limiter,
            metrics: web::Data::new(metrics),
            documents: crate::document::Documents::new(config.document_cache_bytes),
            uploads: tokio::sync::Semaphore::new(config.max_concurrent_uploads.max(1)),
            bus,
            sockets: Sockets::default(),
            gate,
            shape,
            demo_tokens: None,
            rollups,
            config,
        }
    }
}

/// Open connections per token subject.
#[derive(Default)]
pub struct Sockets(Mutex<HashMap<String, usize>>);

impl Sockets {
    pub(crate) fn enter(&self, subject: &str, max: usize) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(subject.to_string()).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    pub(crate) fn leave(&self, subject: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(subject) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(subject);
            }
        }
    }

    /// Open connections of a subject.
    pub fn open(&self, subject: &str) -> usize {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(subject).copied().unwrap_or(0)
    }
}
