//! The HTTP server: GraphQL at `POST /graphql`, GraphiQL at `GET /` (assets served by
//! remedy itself), `/healthz`, `/readyz`, `/metrics`, evidence downloads and the WebSocket
//! route ([`crate::ws`]). Every GraphQL operation goes through [`crate::pipeline`].

use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use async_graphql::ErrorExtensions;

use crate::auth::Caller;
use crate::error::AppError;

pub use crate::state::AppState;

/// Verifies the bearer token of a request ([`crate::pipeline::authenticate`]).
pub async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Caller, AppError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| AppError::Unauthenticated("missing Authorization header".into()))?;
    let value = value
        .to_str()
        .map_err(|_| AppError::Unauthenticated("malformed Authorization header".into()))?;
    crate::pipeline::authenticate(state, value).await
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
    if content_length(http).is_some_and(|len| len > limit) {
        return Err(too_large());
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

/// Streams a multipart body to the parser through a bounded channel (the actix payload is
/// not `Send`), at most `limit` bytes: beyond it the stream fails and `too_large` is set.
/// Uploaded files go to temporary files, never wholly into memory.
fn bounded_body(
    mut payload: web::Payload,
    limit: usize,
    too_large: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> impl futures_util::io::AsyncRead + Send {
    use futures_util::{StreamExt, TryStreamExt};
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<web::Bytes>>(8);
    actix_web::rt::spawn(async move {
        let mut seen = 0usize;
        while let Some(chunk) = payload.next().await {
            let item = match chunk {
                Ok(b) if seen + b.len() > limit => {
                    too_large.store(true, std::sync::atomic::Ordering::SeqCst);
                    Err(std::io::Error::other(
                        "the request body is larger than the limit",
                    ))
                }
                Ok(b) => {
                    seen += b.len();
                    Ok(b)
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .into_async_read()
}

async fn graphql(
    state: web::Data<AppState>,
    http: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    use crate::pipeline;
    // Authenticate from the headers before reading the body.
    let caller = match authenticate(&state, &http).await {
        Ok(c) => c,
        Err(e) => return error_response(e),
    };
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
    let too_large = || {
        bad_request(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "the request body or an upload is larger than the limit",
        )
    };
    let opts = async_graphql::http::MultipartOptions::default()
        .max_file_size(cfg.max_upload_bytes as usize)
        .max_num_files(4);
    let overflowed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Uploads: refused before a byte of the body is read when the caller may not add
    // evidence; at most REMEDY_MAX_CONCURRENT_UPLOADS at once, each streamed to temporary
    // files.
    let _upload_permit = if multipart {
        if let Err(e) = caller.require(crate::auth::Permission::WriteEvidence) {
            // Closing the connection after the answer: the body is never read, not even
            // drained.
            return HttpResponse::Ok()
                .force_close()
                .json(pipeline::error_response(e));
        }
        match state.uploads.acquire().await {
            Ok(p) => Some(p),
            Err(_) => return error_response(AppError::Unavailable("uploads closed".into())),
        }
    } else {
        None
    };
    let received = if multipart {
        let limit = (cfg.max_upload_bytes as usize).saturating_add(cfg.max_body_bytes);
        if content_length(&http).is_some_and(|len| len > limit) {
            return too_large();
        }
        async_graphql::http::receive_batch_body(
            Some(content_type.as_str()),
            bounded_body(payload, limit, overflowed.clone()),
            opts,
        )
        .await
    } else {
        let body = match read_body(&http, payload, cfg.max_body_bytes).await {
            Ok(b) => b,
            Err(res) => return res,
        };
        async_graphql::http::receive_batch_body(
            Some(content_type.as_str()),
            futures_util::io::Cursor::new(body),
            opts,
        )
        .await
    };
    let batch = match received {
        Ok(b) => b,
        Err(async_graphql::ParseRequestError::PayloadTooLarge) => return too_large(),
        Err(_) if overflowed.load(std::sync::atomic::Ordering::SeqCst) => return too_large(),
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
    let (requests, is_array) = match batch {
        async_graphql::BatchRequest::Single(r) => (vec![r], false),
        async_graphql::BatchRequest::Batch(v) if v.len() > MAX_BATCH || v.is_empty() => {
            return bad_request(
                actix_web::http::StatusCode::BAD_REQUEST,
                "VALIDATION",
                &format!("a batch carries 1 to {MAX_BATCH} operations"),
            )
        }
        async_graphql::BatchRequest::Batch(v) => (v, true),
    };
    let mut operations = Vec::with_capacity(requests.len());
    for request in requests {
        match pipeline::prepare(&state, &caller, request) {
            Ok(op) => operations.push(op),
            Err(refusal) => return refusal_to_http(&refusal),
        }
    }
    let mut responses = Vec::with_capacity(operations.len());
    for op in operations {
        responses.push(pipeline::run(&state, &caller, op, Some(&http)).await);
    }
    // A single operation that ran out of time answers 504, as the whole-request timeout does.
    let timed_out = !is_array
        && crate::metrics::codes_of(&responses[0])
            .iter()
            .any(|c| c == "TIMEOUT");
    let body = if is_array {
        serde_json::to_vec(&responses)
    } else {
        serde_json::to_vec(&responses[0])
    };
    match body {
        Ok(b) if timed_out => HttpResponse::GatewayTimeout()
            .content_type("application/json")
            .body(b),
        Ok(b) => HttpResponse::Ok().content_type("application/json").body(b),
        Err(e) => error_response(AppError::from(anyhow::anyhow!(
            "serialising the response: {e}"
        ))),
    }
}

/// The HTTP answer to a refusal before execution: a persisted query not (or no longer) known
/// is the protocol's normal answer (the client resends the query): 200; the rate limit: 429
/// with `Retry-After`; limits and bad hashes: 400.
fn refusal_to_http(refusal: &crate::document::Refusal) -> HttpResponse {
    use actix_web::http::StatusCode;
    let status = match refusal.code {
        "PERSISTED_QUERY_NOT_FOUND" => StatusCode::OK,
        "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut res = bad_request(status, refusal.code, &refusal.message);
    if status == StatusCode::TOO_MANY_REQUESTS {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
    }
    res
}

fn content_length(http: &HttpRequest) -> Option<usize> {
    http.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// `POST /graphql` within `REMEDY_REQUEST_TIMEOUT_SECONDS`: each operation is bounded by it in
/// the pipeline (which names the operation in metrics); the whole request, body and batch
/// included, gets one second more. Past either, the work is dropped (an open transaction
/// rolls back) and the client gets a GraphQL error with code `TIMEOUT` (HTTP 504).
async fn graphql_with_timeout(
    state: web::Data<AppState>,
    http: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let secs = state.config.request_timeout_seconds;
    if secs == 0 {
        return graphql(state, http, payload).await;
    }
    let limit = std::time::Duration::from_secs(secs.saturating_add(1));
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
    if let Err(refusal) = crate::pipeline::admit(&state, &caller) {
        return refusal_to_http(&refusal);
    }
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
    let Ok(raw) = crate::id::decode(&async_graphql::ID(path.into_inner()), "Evidence") else {
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
        crate::service::access::record_caller(
            &state.db,
            &state.gate,
            &caller,
            &caller.touched_orders(),
            Some("downloadEvidence"),
        )
        .await;
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

/// `GET /metrics`.
async fn metrics(
    metrics: web::Data<crate::metrics::Metrics>,
    state: web::Data<AppState>,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(metrics.render(&state.db))
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
            .route("/metrics", web::get().to(metrics))
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
