//! Prometheus metrics, served at `GET /metrics` (text format, no token): GraphQL requests and
//! their latency by operation name and outcome, GraphQL errors by `extensions.code`, lists of
//! measures by how they were rendered (bulk or generic, see `graphql::fast`), the database
//! pool (in use / idle) and build information.
//!
//! Operation names come from clients, so only well-formed names are used as label values and
//! at most [`MAX_OPERATION_NAMES`] distinct ones are kept; the rest are counted as `other`.
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use sea_orm::DatabaseConnection;

/// Distinct operation names kept as label values before new ones become `other`.
pub const MAX_OPERATION_NAMES: usize = 200;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    errors: IntCounterVec,
    pool: IntGaugeVec,
    /// Lists of measures by rendering path (`bulk`, `generic`), counted by `graphql::fast`.
    pub measure_lists: IntCounterVec,
    /// Notifications sent, by channel (`webhook`, `email`) and outcome (`delivered`,
    /// `failed`: tried again later, `dead`: given up).
    pub notifications: IntCounterVec,
    /// Notifications waiting to be delivered, by channel.
    pub notification_queue: IntGaugeVec,
    /// Age in seconds of the oldest notification not yet delivered, by channel (0: none).
    pub notification_oldest: IntGaugeVec,
    names: Mutex<HashSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "remedy_graphql_requests_total",
                "GraphQL HTTP requests by operation name and outcome (ok, or the first error code)",
            ),
            &["operation", "outcome"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "remedy_graphql_request_duration_seconds",
                "Time to answer a GraphQL HTTP request, by operation name and outcome",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["operation", "outcome"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "remedy_graphql_errors_total",
                "GraphQL errors returned, by extensions.code",
            ),
            &["code"],
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new(
                "remedy_db_pool_connections",
                "Database pool connections by state (in_use, idle)",
            ),
            &["state"],
        )
        .expect("valid metric");
        let measure_lists = IntCounterVec::new(
            Opts::new(
                "remedy_measure_lists_total",
                "Lists of measures rendered, by path: bulk (one plan per list) or generic (field by field)",
            ),
            &["path"],
        )
        .expect("valid metric");
        let notifications = IntCounterVec::new(
            Opts::new(
                "remedy_notifications_total",
                "Notification attempts by channel (webhook, email) and outcome (delivered, failed, dead)",
            ),
            &["channel", "outcome"],
        )
        .expect("valid metric");
        let notification_queue = IntGaugeVec::new(
            Opts::new(
                "remedy_notification_queue_depth",
                "Notifications not yet delivered, by channel",
            ),
            &["channel"],
        )
        .expect("valid metric");
        let notification_oldest = IntGaugeVec::new(
            Opts::new(
                "remedy_notification_oldest_undelivered_seconds",
                "Age of the oldest notification not yet delivered, by channel (0 when none)",
            ),
            &["channel"],
        )
        .expect("valid metric");
        let build = IntGaugeVec::new(
            Opts::new(
                "remedy_build_info",
                "Build information; the value is always 1",
            ),
            &["version"],
        )
        .expect("valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(errors.clone()),
            Box::new(pool.clone()),
            Box::new(measure_lists.clone()),
            Box::new(notifications.clone()),
            Box::new(notification_queue.clone()),
            Box::new(notification_oldest.clone()),
            Box::new(build),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            requests,
            latency,
            errors,
            pool,
            measure_lists,
            notifications,
            notification_queue,
            notification_oldest,
            names: Mutex::new(HashSet::new()),
        }
    }

    /// The label value for a client-given operation name.
    fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return "anonymous".into();
        };
        let well_formed = name.len() <= 64
            && name
                .chars()
                .enumerate()
                .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if !well_formed {
            return "other".into();
        }
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.contains(name) {
            return name.to_string();
        }
        if names.len() < MAX_OPERATION_NAMES {
            names.insert(name.to_string());
            return name.to_string();
        }
        "other".into()
    }

    /// The exposition of every metric, with the pool sampled now.
    pub fn render(&self, db: &DatabaseConnection) -> String {
        if let Some((size, idle)) = pool_sizes(db) {
            self.pool
                .with_label_values(&["in_use"])
                .set(i64::from(size.saturating_sub(idle as u32)));
            self.pool.with_label_values(&["idle"]).set(idle as i64);
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding of metrics");
        String::from_utf8(out).unwrap_or_default()
    }
}

/// (connections open, of which idle) of the sqlx pool behind the connection.
fn pool_sizes(db: &DatabaseConnection) -> Option<(u32, usize)> {
    match db {
        DatabaseConnection::SqlxPostgresPoolConnection(_) => {
            let p = db.get_postgres_connection_pool();
            Some((p.size(), p.num_idle()))
        }
        DatabaseConnection::SqlxSqlitePoolConnection(_) => {
            let p = db.get_sqlite_connection_pool();
            Some((p.size(), p.num_idle()))
        }
        _ => None,
    }
}

/// The operation a request runs: its name (the `operationName`, else the name of the
/// document's only operation; None when anonymous) and its type (`query`, `mutation`,
/// `subscription`; None when the document does not parse or names no such operation).
/// The parse is kept for execution.
pub fn operation(request: &mut async_graphql::Request) -> (Option<String>, Option<&'static str>) {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let wanted = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        return (wanted, None);
    };
    let (name, op) = match (&doc.operations, &wanted) {
        (DocumentOperations::Single(op), _) => (wanted.clone(), Some(op)),
        (DocumentOperations::Multiple(ops), Some(w)) => (wanted.clone(), ops.get(w.as_str())),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            let (n, op) = ops.iter().next().expect("one operation");
            (Some(n.to_string()), Some(op))
        }
        (DocumentOperations::Multiple(_), None) => (None, None),
    };
    let kind = op.map(|op| match op.node.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    });
    (name, kind)
}

/// What the GraphQL handler learnt about a request, read back by [`middleware`].
#[derive(Clone, Default)]
struct Outcome {
    operations: Vec<Option<String>>,
    first_error: Option<String>,
}

/// The error codes of a response, in order (`UNKNOWN` for an error without one).
pub fn codes_of(res: &async_graphql::Response) -> Vec<String> {
    res.errors
        .iter()
        .map(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .and_then(|v| match v {
                    async_graphql::Value::String(s) => Some(s.clone()),
                    async_graphql::Value::Enum(s) => Some(s.to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| "UNKNOWN".into())
        })
        .collect()
}

impl Metrics {
    /// Counts a response's errors by code (operations outside an HTTP request: WebSocket).
    pub fn count_errors(&self, res: &async_graphql::Response) {
        for code in codes_of(res) {
            self.errors.with_label_values(&[code.as_str()]).inc();
        }
    }
}

/// Called by the GraphQL handler for each executed operation: counts its errors by code and
/// remembers the operation and outcome for the request's metrics.
pub fn note_operation(http: &HttpRequest, operation: Option<&str>, res: &async_graphql::Response) {
    let codes = codes_of(res);
    if let Some(metrics) = http.app_data::<web::Data<Metrics>>() {
        for code in &codes {
            metrics.errors.with_label_values(&[code.as_str()]).inc();
        }
    }
    let mut ext = http.extensions_mut();
    let outcome = match ext.get_mut::<Outcome>() {
        Some(o) => o,
        None => {
            ext.insert(Outcome::default());
            ext.get_mut::<Outcome>().expect("just inserted")
        }
    };
    outcome.operations.push(operation.map(str::to_string));
    if outcome.first_error.is_none() {
        outcome.first_error = codes.into_iter().next();
    }
}

/// The code the handler answers with when it refuses a request before executing it.
fn code_of_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        503 => "UNAVAILABLE",
        504 => "TIMEOUT",
        s if s >= 500 => "INTERNAL",
        _ => "VALIDATION",
    }
}

/// Wraps `POST /graphql`: times the request and labels it with what the handler noted.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        let noted = res.request().extensions().get::<Outcome>().cloned();
        let status = res.status().as_u16();
        let (operation, outcome) = match noted {
            Some(o) => {
                let op = match o.operations.as_slice() {
                    [one] => metrics.operation_label(one.as_deref()),
                    _ => "batch".to_string(),
                };
                let outcome = match o.first_error {
                    Some(code) => code,
                    None if status >= 400 => code_of_status(status).to_string(),
                    None => "ok".to_string(),
                };
                (op, outcome)
            }
            None => {
                // Refused before execution (authentication, body, media type, timeout).
                let code = if status < 400 {
                    "ok"
                } else {
                    code_of_status(status)
                };
                if status >= 400 {
                    metrics.errors.with_label_values(&[code]).inc();
                }
                ("unknown".to_string(), code.to_string())
            }
        };
        let labels = [operation.as_str(), outcome.as_str()];
        metrics.requests.with_label_values(&labels).inc();
        metrics
            .latency
            .with_label_values(&labels)
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}
