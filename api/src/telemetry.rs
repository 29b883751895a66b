//! Logging and tracing.
//!
//! Logs: `REMEDY_LOG` sets the filter (default `info`), `REMEDY_LOG_FORMAT=json` writes JSON lines.
//!
//! Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set,
//! spans are exported over OTLP/HTTP (protobuf) with a batch processor configured by the
//! standard `OTEL_*` variables (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_SCHEDULE_DELAY`, ...); otherwise nothing is
//! exported. Spans: one per HTTP request (parented under an incoming W3C `traceparent`), one per
//! GraphQL operation (name and type), async-graphql's parse/validation/resolver spans, and one
//! per database statement (from sea-orm's metric callback, timed by sea-orm).
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

/// Whether spans are exported (database statement spans are skipped otherwise).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Keeps the tracer provider; [`Telemetry::shutdown`] flushes the spans not yet exported.
#[derive(Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Some(p) = self.provider {
            if let Err(e) = p.shutdown() {
                eprintln!("remedy: flushing traces: {e}");
            }
        }
    }
}

/// Whether spans are exported (OTLP configured at start-up).
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

fn otlp_configured() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

fn provider() -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name("remedy");
    }
    let resource = resource
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

pub fn init() -> Telemetry {
    let filter = EnvFilter::try_from_env("REMEDY_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let json = std::env::var("REMEDY_LOG_FORMAT")
        .map(|v| v == "json")
        .unwrap_or(false);
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = if otlp_configured() {
        match provider() {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("remedy: OTLP trace export disabled: {e}");
                None
            }
        }
    } else {
        None
    };
    let otel = provider.as_ref().map(|p| {
        use opentelemetry::trace::TracerProvider as _;
        opentelemetry::global::set_tracer_provider(p.clone());
        tracing_opentelemetry::layer().with_tracer(p.tracer("remedy"))
    });
    EXPORTING.store(provider.is_some(), Ordering::Relaxed);
    // Logs go to stderr so that commands printing data (schema, token) keep stdout clean.
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(ClientFaults)
        .with(json.then(|| fmt::layer().json().with_writer(std::io::stderr)))
        .with((!json).then(|| fmt::layer().with_writer(std::io::stderr)))
        .with(otel)
        .try_init();
    // A second initialisation (tests) is harmless.
    let _ = result;
    Telemetry { provider }
}

/// actix-http ends a connection with an ERROR ("stream error: …") whatever the cause, a
/// client's malformed request (an invalid header, a bad request line or URI, a head too
/// large), a client too slow to send its head, or a body left unread by a handler that
/// refused the request before reading it included. Those are the client's doing, not a
/// server fault: this layer drops them and logs them again at DEBUG under `remedy::http`.
/// Every other ERROR (server faults) stays as it is.
struct ClientFaults;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ClientFaults {
    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        let meta = event.metadata();
        if *meta.level() != tracing::Level::ERROR || !meta.target().starts_with("actix_http") {
            return true;
        }
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        match client_fault(&message) {
            Some(what) => {
                tracing::debug!(target: "remedy::http", error = %message, "{what}");
                false
            }
            None => true,
        }
    }
}

/// What a client did, when an actix-http error message is a client's doing.
pub fn client_fault(message: &str) -> Option<&'static str> {
    let cause = message.strip_prefix("stream error: ")?;
    if cause.starts_with("request parse error") {
        Some("malformed HTTP request from a client")
    } else if cause.starts_with("request did not complete within") {
        Some("a client did not send its request in time")
    } else if cause.starts_with("handler dropped payload") {
        Some("a request body left unread (the request was refused before it)")
    } else {
        None
    }
}

/// Reads an event's message.
struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            use std::fmt::Write;
            let _ = write!(self.0, "{value:?}");
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }
}

/// Reads the W3C trace context from actix's headers.
struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Middleware: a server span per HTTP request, continuing the caller's `traceparent`.
pub async fn http_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(req.headers())));
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %format!("{} {}", req.method(), req.path()),
        otel.kind = "server",
        http.request.method = %req.method(),
        url.path = %req.path(),
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    // Without the OpenTelemetry layer there is no context to attach to: nothing to do.
    let _ = span.set_parent(parent);
    let res = next.call(req).instrument(span.clone()).await;
    if let Ok(r) = &res {
        let status = r.status().as_u16();
        span.record("http.response.status_code", status);
        if status >= 500 {
            span.record("otel.status_code", "ERROR");
        }
    }
    res
}

/// The span of one GraphQL operation.
pub fn operation_span(name: Option<&str>, kind: Option<&str>) -> tracing::Span {
    let kind = kind.unwrap_or("unknown");
    let label = match name {
        Some(n) => format!("{kind} {n}"),
        None => kind.to_string(),
    };
    tracing::info_span!(
        "graphql operation",
        otel.name = %label,
        graphql.operation.name = name.unwrap_or(""),
        graphql.operation.type = kind,
    )
}

/// sea-orm's metric callback: a client span per statement, with the time sea-orm measured,
/// under the current span (only inside a traced request). The SQL text has placeholders,
/// never the bound values.
pub fn record_statement(info: &sea_orm::metric::Info<'_>) {
    if !EXPORTING.load(Ordering::Relaxed) {
        return;
    }
    let parent = tracing::Span::current().context();
    if !parent.span().span_context().is_valid() {
        return;
    }
    let end = SystemTime::now();
    let start = end.checked_sub(info.elapsed).unwrap_or(end);
    let sql = info.statement.sql.clone();
    let verb = sql
        .split_whitespace()
        .next()
        .unwrap_or("SQL")
        .to_ascii_uppercase();
    let system = match info.statement.db_backend {
        sea_orm::DatabaseBackend::Postgres => "postgresql",
        sea_orm::DatabaseBackend::Sqlite => "sqlite",
        sea_orm::DatabaseBackend::MySql => "mysql",
    };
    let tracer = opentelemetry::global::tracer("remedy");
    let mut span = tracer
        .span_builder(format!("db {verb}"))
        .with_kind(SpanKind::Client)
        .with_start_time(start)
        .with_attributes([
            KeyValue::new("db.system.name", system),
            KeyValue::new("db.operation.name", verb),
            KeyValue::new("db.query.text", sql),
        ])
        .start_with_context(&tracer, &parent);
    if info.failed {
        span.set_status(Status::error("statement failed"));
    }
    span.end_with_timestamp(end);
}
