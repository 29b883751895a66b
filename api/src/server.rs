//! The HTTP server: GraphQL at `POST /graphql`, GraphiQL at `GET /` (assets served by
//! remedy itself), `/healthz` and `/readyz`.
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use async_graphql::ErrorExtensions;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::auth::jwt::Keys;
use crate::auth::{tokens, Caller};
use crate::config::ServerConfig;
use crate::error::AppError;
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
    /// Parsed persisted queries.
    pub documents: crate::document::Documents,
    /// The one write gate of this server, shared with the schema: every write takes it.
    pub gate: Arc<WriteGate>,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: ServerConfig, keys: Arc<Keys>) -> Self {
        let metrics = crate::metrics::Metrics::new();
        let gate = Arc::new(WriteGate::for_backend(db.get_database_backend()));
        let schema = build_schema(
            db.clone(),
            &config,
            keys.clone(),
            metrics.measure_lists.clone(),
            gate.clone(),
        );
        let store = crate::service::plan::EvidenceStore::from_config(&config);
        let limiter = std::num::NonZeroU32::new(config.rate_limit_per_minute)
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n)));
        Self {
            schema,
            db,
            config,
            keys,
            store,
            limiter,
            metrics: web::Data::new(metrics),
            documents: crate::document::Documents::new(1024),
            gate,
        }
    }
}

/// Verifies the bearer token of a request: signature, claims, then revocation.
pub async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Caller, AppError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| AppError::Unauthenticated("missing Authorization header".into()))?;
    let value = value
        .to_str()
        .map_err(|_| AppError::Unauthenticated("malformed Authorization header".into()))?;
    authenticate_value(state, value).await
}

/// Verifies an `Authorization` value (`Bearer <token>`): signature, claims, then revocation.
pub async fn authenticate_value(state: &AppState, value: &str) -> Result<Caller, AppError> {
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::Unauthenticated("expected a Bearer token".into()))?;
    let claims = state.keys.verify(token)?;
    if tokens::is_revoked(&state.db, &claims.jti).await? {
        return Err(AppError::Unauthenticated("token revoked".into()));
    }
    state.keys.caller(&claims)
}

/// A GraphQL-shaped error response outside execution (authentication).
pub fn error_response(err: AppError) -> HttpResponse {
    let status = match err {
        AppError::Unauthenticated(_) => actix_web::http::StatusCode::UNAUTHORIZED,
        AppError::Unavailable(_) => actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        _ => actix_web::http::StatusCode::BAD_REQUEST,
    };
    let gql = err.extend();
    let body = serde_json::json!({
        "data": null,
        "errors": [{ "message": gql.message, "extensions": gql.extensions }],
    });
    let mut res = HttpResponse::build(status);
    if status == actix_web::http::StatusCode::UNAUTHORIZED {
        res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
    }
    res.json(body)
}

/// The most operations one batched request may carry.
pub const MAX_BATCH: usize = 10;

fn bad_request(status: actix_web::http::StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({
        "data": null,
        "errors": [{ "message": message, "extensions": { "code": code } }],
    }))
}

/// Reads at most `limit` bytes of body: the Content-Length is checked first, then the
/// stream is cut off as soon as it passes the limit, so an oversized body is never read whole.
async fn read_body(
    http: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, HttpResponse> {
    use futures_util::StreamExt;
    let too_large = || {
        bad_request(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            &format!("the request body is larger than the {limit}-byte limit"),
        )
    };
    if let Some(len) = http
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            bad_request(
                actix_web::http::StatusCode::BAD_REQUEST,
                "VALIDATION",
                "the request body could not be read",
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn graphql(
    state: web::Data<AppState>,
    http: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    // Authenticate from the headers before reading the body.
    let caller = match authenticate(&state, &http).await {
        Ok(c) => c,
        Err(e) => return error_response(e),
    };
    if let Some(limiter) = &state.limiter {
        if limiter.check_key(&caller.subject).is_err() {
            return HttpResponse::TooManyRequests()
                .insert_header((header::RETRY_AFTER, "60"))
                .json(serde_json::json!({
                    "data": null,
                    "errors": [{
                        "message": format!("rate limit exceeded: at most {} requests per minute per token subject", state.config.rate_limit_per_minute),
                        "extensions": { "code": "RATE_LIMITED" },
                    }],
                }));
        }
    }
    let content_type = http
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let multipart = mime == "multipart/form-data";
    if mime != "application/json" && !multipart {
        return bad_request(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send application/json, or multipart/form-data for uploads",
        );
    }
    let cfg = &state.config;
    let limit = if multipart {
        (cfg.max_upload_bytes as usize).saturating_add(cfg.max_body_bytes)
    } else {
        cfg.max_body_bytes
    };
    let body = match read_body(&http, payload, limit).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let is_array = !multipart && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let opts = async_graphql::http::MultipartOptions::default()
        .max_file_size(cfg.max_upload_bytes as usize)
        .max_num_files(4);
    let batch = match async_graphql::http::receive_batch_body(
        Some(content_type.as_str()),
        futures_util::io::Cursor::new(body),
        opts,
    )
    .await
    {
        Ok(b) => b,
        Err(async_graphql::ParseRequestError::PayloadTooLarge) => {
            return bad_request(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "an upload is larger than the limit",
            )
        }
        Err(e) => {
            let message = match e {
                async_graphql::ParseRequestError::InvalidRequest(_) => {
                    "the body is not a valid GraphQL request (JSON)".to_string()
                }
                other => format!("the request could not be parsed: {other}"),
            };
            return bad_request(
                actix_web::http::StatusCode::BAD_REQUEST,
                "VALIDATION",
                &message,
            );
        }
    };
    let requests = match batch {
        async_graphql::BatchRequest::Single(r) => vec![r],
        async_graphql::BatchRequest::Batch(v) if v.len() > MAX_BATCH || v.is_empty() => {
            return bad_request(
                actix_web::http::StatusCode::BAD_REQUEST,
                "VALIDATION",
                &format!("a batch carries 1 to {MAX_BATCH} operations"),
            )
        }
        async_graphql::BatchRequest::Batch(v) => v,
    };
    let mut requests = requests;
    for request in &mut requests {
        if let Err(refusal) = state.documents.prepare(request, cfg).await {
            // A persisted query not (or no longer) known is the protocol's normal answer
            // (the client resends the query): 200. Limits and bad hashes: 400.
            let status = if refusal.code == "PERSISTED_QUERY_NOT_FOUND" {
                actix_web::http::StatusCode::OK
            } else {
                actix_web::http::StatusCode::BAD_REQUEST
            };
            return bad_request(status, refusal.code, &refusal.message);
        }
    }
    let mut responses = Vec::with_capacity(requests.len());
    for mut request in requests {
        let (named, kind) = crate::metrics::operation(&mut request);
        let operation = request.operation_name.clone();
        let request = request
            .data(caller.clone())
            .data(crate::graphql::RequestInfo {
                operation: operation.clone(),
            });
        let span = crate::telemetry::operation_span(named.as_deref(), kind);
        let mut response =
            tracing::Instrument::instrument(state.schema.execute(request), span).await;
        label_errors(&mut response, cfg);
        crate::metrics::note_operation(&http, named.as_deref(), &response);
        if caller.is_scoped() {
            record_access(&state.db, &state.gate, &caller, operation.as_deref()).await;
        }
        responses.push(response);
    }
    let body = if is_array {
        serde_json::to_vec(&responses)
    } else {
        serde_json::to_vec(&responses[0])
    };
    match body {
        Ok(b) => HttpResponse::Ok().content_type("application/json").body(b),
        Err(e) => error_response(AppError::from(anyhow::anyhow!(
            "serialising the response: {e}"
        ))),
    }
}

/// `POST /graphql` within `REMEDY_REQUEST_TIMEOUT_SECONDS`: past it the work is dropped (an
/// open transaction rolls back) and the client gets a GraphQL error with code `TIMEOUT`.
async fn graphql_with_timeout(
    state: web::Data<AppState>,
    http: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let secs = state.config.request_timeout_seconds;
    if secs == 0 {
        return graphql(state, http, payload).await;
    }
    let limit = std::time::Duration::from_secs(secs);
    match tokio::time::timeout(limit, graphql(state, http, payload)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(seconds = secs, "GraphQL request timed out");
            bad_request(
                actix_web::http::StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
                &format!("the request took longer than the {secs}-second limit (REMEDY_REQUEST_TIMEOUT_SECONDS)"),
            )
        }
    }
}

/// `GET /evidence/{id}`: the stored bytes of an evidence item, to anyone allowed to read it,
/// checked against their SHA-256 first.
async fn download_evidence(
    state: web::Data<AppState>,
    http: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    use sea_orm::{EntityTrait, QueryFilter};
    let caller = match authenticate(&state, &http).await {
        Ok(c) => c,
        Err(e) => return error_response(e),
    };
    if let Err(e) = caller.require(crate::auth::Permission::ReadPlan) {
        return error_response(e);
    }
    let not_found = || {
        bad_request(
            actix_web::http::StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "evidence not found",
        )
    };
    let Ok(raw) = crate::graphql::id::decode(&async_graphql::ID(path.into_inner()), "Evidence")
    else {
        return not_found();
    };
    let row = match entity::evidence::Entity::find_by_id(raw)
        .filter(crate::service::scope::evidence(&caller))
        .one(&state.db)
        .await
    {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(),
        Err(e) => return error_response(AppError::from(e)),
    };
    if caller.is_scoped() {
        // Record which granted orders this document belongs to.
        let orders: Vec<i64> =
            match crate::service::scope::orders_of_measure(&state.db, row.measure_id).await {
                Ok(o) => o,
                Err(e) => return error_response(e),
            };
        for o in orders.into_iter().filter(|o| caller.sees_order(*o)) {
            caller.touch(o);
        }
        record_access(&state.db, &state.gate, &caller, Some("downloadEvidence")).await;
    }
    let bytes = match (&row.content, &row.storage_uri) {
        (Some(b), _) => b.clone(),
        (None, Some(uri)) => match state.store.get(uri).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                return bad_request(
                    actix_web::http::StatusCode::NOT_FOUND,
                    "NOT_STORED",
                    &format!("the document is kept outside remedy: {uri}"),
                )
            }
            Err(e) => return error_response(e),
        },
        (None, None) => return not_found(),
    };
    let actual = crate::service::plan::sha256_hex(&bytes);
    if actual != row.sha256 {
        tracing::error!(evidence = row.id, expected = %row.sha256, %actual, "stored evidence no longer matches its hash");
        return bad_request(
            actix_web::http::StatusCode::CONFLICT,
            "INTEGRITY",
            "the stored bytes no longer match their recorded SHA-256: the document was altered and is withheld",
        );
    }
    let filename: String = row
        .title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    HttpResponse::Ok()
        .content_type(row.media_type.clone())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header(("X-Content-SHA256", row.sha256.clone()))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(bytes)
}

/// Gives every error a stable `extensions.code`: resolver errors carry theirs already;
/// errors raised by async-graphql itself (document and variable validation, limits) get
/// `QUERY_TOO_COMPLEX`, `QUERY_TOO_DEEP` (naming the limit) or `VALIDATION`.
pub fn label_errors(response: &mut async_graphql::Response, cfg: &ServerConfig) {
    for err in &mut response.errors {
        let has_code = err
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let (code, message) = if err.message.contains("too complex") {
            (
                "QUERY_TOO_COMPLEX",
                format!("query is too complex: the limit is {} (REMEDY_MAX_COMPLEXITY; connections count their page size)", cfg.max_complexity),
            )
        } else if err.message.contains("nested too deep") {
            (
                "QUERY_TOO_DEEP",
                format!(
                    "query is nested too deep: the limit is {} levels (REMEDY_MAX_DEPTH)",
                    cfg.max_depth
                ),
            )
        } else {
            ("VALIDATION", err.message.clone())
        };
        err.message = message;
        err.extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}

/// Records which orders a scoped (evaluator) token's request returned data of.
async fn record_access(
    db: &DatabaseConnection,
    gate: &WriteGate,
    caller: &Caller,
    operation: Option<&str>,
) {
    record_orders(db, gate, caller, &caller.touched_orders(), operation).await;
}

/// Records that a scoped caller received data of these orders (`service::access::record`,
/// through the write gate); a failure is logged, the answer is sent anyway.
pub async fn record_orders(
    db: &DatabaseConnection,
    gate: &WriteGate,
    caller: &Caller,
    orders: &[i64],
    operation: Option<&str>,
) {
    let recorded =
        crate::service::access::record(db, gate, &caller.subject, &caller.jti, orders, operation)
            .await;
    if let Err(e) = recorded {
        tracing::error!(error = %e.into_anyhow(), subject = %caller.subject, ?orders, "could not record evaluator access");
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unavailable")
        }
    }
}

/// GraphiQL's files, vendored under `api/assets/graphiql` (see its README).
const GRAPHIQL_INDEX: &str = include_str!("../assets/graphiql/index.html");
const GRAPHIQL_FILES: &[(&str, &str, &[u8])] = &[
    (
        "boot.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/boot.js"),
    ),
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react-dom.production.min.js"),
    ),
];
const GRAPHIQL_CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

async fn graphiql() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, GRAPHIQL_CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(GRAPHIQL_INDEX)
}

async fn graphiql_asset(req: HttpRequest) -> HttpResponse {
    let name = req.match_info().get("file").unwrap_or_default();
    match GRAPHIQL_FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, bytes)) => HttpResponse::Ok()
            .content_type(*mime)
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(*bytes),
        None => HttpResponse::NotFound().finish(),
    }
}

/// Registers every route; shared by `serve` and the tests.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let limit = state.config.max_body_bytes;
        cfg.app_data(state.metrics.clone())
            .app_data(state)
            .app_data(web::PayloadConfig::new(limit))
            .service(
                web::resource("/graphql")
                    .wrap(actix_web::middleware::from_fn(crate::metrics::middleware))
                    .route(web::post().to(graphql_with_timeout)),
            )
            .route("/metrics", web::get().to(crate::metrics::endpoint))
            .route("/graphql/ws", web::get().to(crate::ws::subscriptions))
            .route("/", web::get().to(graphiql))
            .route("/graphiql/{file}", web::get().to(graphiql_asset))
            .route("/evidence/{id}", web::get().to(download_evidence))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz));
    }
}

/// Binds the listener and returns the running server (not yet awaited) and the bound address.
pub fn start(
    state: AppState,
    listener: std::net::TcpListener,
) -> std::io::Result<(actix_web::dev::Server, std::net::SocketAddr)> {
    let addr = listener.local_addr()?;
    let workers = state.config.workers;
    let grace = state.config.shutdown_grace_seconds;
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::Logger::new("%r %s %Dms").log_target("remedy::http"))
            .wrap(actix_web::middleware::from_fn(crate::telemetry::http_span))
            .configure(configure(state.clone()))
    })
    .shutdown_timeout(grace)
    .listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok((server.run(), addr))
}
