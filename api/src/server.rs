//! The HTTP server: GraphQL at `POST /graphql` and `GET /graphql` (queries only; GraphQL over
//! HTTP, `application/json` or `application/graphql-response+json` as the client accepts),
//! GraphiQL at `GET /` (assets served by
//! remedy itself), `/healthz`, `/readyz`, `/metrics`, evidence downloads and the WebSocket
//! route ([`crate::ws`]). Every GraphQL operation goes through [`crate::pipeline`].

use actix_web::http::{header, StatusCode};
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

/// The media type a GraphQL answer is written in ([GraphQL over HTTP]), from the request's
/// `Accept`.
///
/// [GraphQL over HTTP]: https://graphql.github.io/graphql-over-http/draft/
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    /// `application/json`, for clients that do not ask for the other (legacy ones, `*/*`, no
    /// `Accept`): an executed request answers 200 whatever its errors (a document that does
    /// not parse or validate included); refusals keep `"data": null`.
    Json,
    /// `application/graphql-response+json`, when the client prefers it: a request error
    /// (nothing executed: a document that does not parse or validate, a variable that does
    /// not coerce, a refused token or limit) answers 4xx (or 5xx) and has no `data` key; a
    /// response with `data` answers 200.
    GraphqlResponse,
}

/// The media type of GraphQL over HTTP.
pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

impl Media {
    /// The preferred of the two by `Accept` quality (`application/graphql-response+json` on
    /// a tie); `application/json` when neither is named.
    pub fn of(http: &HttpRequest) -> Self {
        let (mut gr, mut json) = (None::<f32>, None::<f32>);
        for value in http.headers().get_all(header::ACCEPT) {
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                let mut parts = item.split(';');
                let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
                let q = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                let slot = match mime.as_str() {
                    GRAPHQL_RESPONSE_JSON => &mut gr,
                    "application/json" => &mut json,
                    _ => continue,
                };
                *slot = Some(slot.unwrap_or(0.0).max(q));
            }
        }
        match gr {
            Some(g) if g > 0.0 && g >= json.unwrap_or(0.0) => Media::GraphqlResponse,
            _ => Media::Json,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Media::Json => "application/json",
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }

    /// The body of a request error: one error; `"data": null` only in `application/json`.
    fn refusal_body(
        self,
        message: &str,
        extensions: serde_json::Value,
        locations: &[async_graphql::Pos],
    ) -> serde_json::Value {
        let mut error = serde_json::json!({ "message": message, "extensions": extensions });
        if !locations.is_empty() {
            error["locations"] = serde_json::json!(locations);
        }
        match self {
            Media::Json => serde_json::json!({ "data": null, "errors": [error] }),
            Media::GraphqlResponse => serde_json::json!({ "errors": [error] }),
        }
    }
}

/// A GraphQL-shaped error response outside execution (authentication), in `application/json`.
pub fn error_response(err: AppError) -> HttpResponse {
    error_response_as(Media::Json, err)
}

fn error_response_as(media: Media, err: AppError) -> HttpResponse {
    let status = match err {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let gql = err.extend();
    let extensions = serde_json::to_value(&gql.extensions).unwrap_or_default();
    let mut res = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
    }
    res.content_type(media.content_type()).body(
        media
            .refusal_body(&gql.message, extensions, &[])
            .to_string(),
    )
}

/// `Retry-After` on an answer carrying `OVERLOADED` or `SERVICE_UNAVAILABLE`.
const RETRY_AFTER_SECONDS: &str = "5";

/// The most operations one batched request may carry.
pub const MAX_BATCH: usize = 10;

fn bad_request(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    bad_request_as(Media::Json, status, code, message)
}

fn bad_request_as(media: Media, status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(media.content_type())
        .body(
            media
                .refusal_body(message, serde_json::json!({ "code": code }), &[])
                .to_string(),
        )
}

/// Reads at most `limit` bytes of body: the Content-Length is checked first, then the
/// stream is cut off as soon as it passes the limit, so an oversized body is never read whole.
async fn read_body(
    http: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    media: Media,
) -> Result<Vec<u8>, HttpResponse> {
    use futures_util::StreamExt;
    let too_large = || {
        bad_request_as(
            media,
            StatusCode::PAYLOAD_TOO_LARGE,
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
            bad_request_as(
                media,
                StatusCode::BAD_REQUEST,
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

/// How an operation arrived: over GET only queries run (a mutation is refused with 405, so a
/// link or an image can never change anything).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Post,
    Get,
}

/// `POST /graphql`: JSON (one operation or a batch), or a multipart upload.
async fn graphql_post(
    state: web::Data<AppState>,
    http: HttpRequest,
    payload: web::Payload,
    media: Media,
) -> HttpResponse {
    use crate::pipeline;
    // Authenticate from the headers before reading the body.
    let caller = match authenticate(&state, &http).await {
        Ok(c) => c,
        Err(e) => return error_response_as(media, e),
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
        return bad_request_as(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send application/json, or multipart/form-data for uploads",
        );
    }
    let cfg = &state.config;
    let too_large = || {
        bad_request_as(
            media,
            StatusCode::PAYLOAD_TOO_LARGE,
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
            // drained. application/json answers 200, as an executed request would.
            let (status, body) = match media {
                Media::Json => (
                    StatusCode::OK,
                    serde_json::to_vec(&pipeline::error_response(e)).unwrap_or_default(),
                ),
                Media::GraphqlResponse => {
                    let gql = e.extend();
                    let extensions = serde_json::to_value(&gql.extensions).unwrap_or_default();
                    let body = media.refusal_body(&gql.message, extensions, &[]);
                    (StatusCode::FORBIDDEN, body.to_string().into_bytes())
                }
            };
            return HttpResponse::build(status)
                .force_close()
                .content_type(media.content_type())
                .body(body);
        }
        match state.uploads.acquire().await {
            Ok(p) => Some(p),
            Err(_) => {
                return error_response_as(media, AppError::Unavailable("uploads closed".into()))
            }
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
        let body = match read_body(&http, payload, cfg.max_body_bytes, media).await {
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
                    "the body is not a valid GraphQL request (JSON: `query` a string, \
                     `operationName` a string or null, `variables` and `extensions` objects or null)"
                        .to_string()
                }
                other => format!("the request could not be parsed: {other}"),
            };
            return bad_request_as(media, StatusCode::BAD_REQUEST, "VALIDATION", &message);
        }
    };
    let (requests, is_array) = match batch {
        async_graphql::BatchRequest::Single(r) => (vec![r], false),
        async_graphql::BatchRequest::Batch(v) if v.len() > MAX_BATCH || v.is_empty() => {
            return bad_request_as(
                media,
                StatusCode::BAD_REQUEST,
                "VALIDATION",
                &format!("a batch carries 1 to {MAX_BATCH} operations"),
            )
        }
        async_graphql::BatchRequest::Batch(v) => (v, true),
    };
    execute(&state, &http, &caller, requests, is_array, Via::Post, media).await
}

/// The parameters of `GET /graphql` (GraphQL over HTTP): `variables` and `extensions` are
/// JSON text.
#[derive(serde::Deserialize)]
struct GetParams {
    #[serde(default)]
    query: String,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// `GET /graphql?query=…&variables=…&operationName=…&extensions=…`: a query (or a persisted
/// query by its hash alone), through the same pipeline as POST.
async fn graphql_get(state: web::Data<AppState>, http: HttpRequest, media: Media) -> HttpResponse {
    let caller = match authenticate(&state, &http).await {
        Ok(c) => c,
        Err(e) => return error_response_as(media, e),
    };
    let invalid = |what: &str| {
        bad_request_as(
            media,
            StatusCode::BAD_REQUEST,
            "VALIDATION",
            &format!("the query string is not a valid GraphQL request: {what}"),
        )
    };
    let params = match web::Query::<GetParams>::from_query(http.query_string()) {
        Ok(p) => p.into_inner(),
        Err(_) => {
            return invalid("each of query, operationName, variables and extensions at most once")
        }
    };
    let variables = match params.variables.as_deref().map(serde_json::from_str) {
        None => async_graphql::Variables::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return invalid("variables must be a JSON object (URL-encoded)"),
    };
    let extensions = match params.extensions.as_deref().map(serde_json::from_str) {
        None => Default::default(),
        Some(Ok(e)) => e,
        Some(Err(_)) => return invalid("extensions must be a JSON object (URL-encoded)"),
    };
    let mut request = async_graphql::Request::new(params.query).variables(variables);
    request.operation_name = params.operation_name.filter(|n| !n.is_empty());
    request.extensions = extensions;
    execute(
        &state,
        &http,
        &caller,
        vec![request],
        false,
        Via::Get,
        media,
    )
    .await
}

/// Runs requests through the pipeline (prepare every one, then run them in order) and writes
/// the answer: what POST and GET share.
async fn execute(
    state: &AppState,
    http: &HttpRequest,
    caller: &Caller,
    requests: Vec<async_graphql::Request>,
    is_array: bool,
    via: Via,
    media: Media,
) -> HttpResponse {
    use crate::pipeline;
    let mut operations = Vec::with_capacity(requests.len());
    for request in requests {
        match pipeline::prepare(state, caller, request) {
            Ok(op) if via == Via::Get && op.kind != pipeline::Kind::Query => {
                let mut res = bad_request_as(
                    media,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "METHOD_NOT_ALLOWED",
                    "GET carries queries only: send mutations and subscriptions with POST \
                     (subscriptions over WebSocket)",
                );
                res.headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
                return res;
            }
            Ok(op) => operations.push(op),
            Err(refusal) => return refusal_to_http(media, &refusal),
        }
    }
    let mut responses = Vec::with_capacity(operations.len());
    for op in operations {
        responses.push(pipeline::run(state, caller, op, Some(http)).await);
    }
    // A single operation that ran out of time answers 504, as the whole-request timeout does.
    let timed_out = !is_array
        && crate::metrics::codes_of(&responses[0])
            .iter()
            .any(|c| c == "TIMEOUT");
    // application/graphql-response+json: a response refused before execution (parse,
    // validation, variables) has no `data`, and alone it answers 400.
    let refused = |r: &async_graphql::Response| {
        media == Media::GraphqlResponse && pipeline::refused_before_execution(r)
    };
    let without_data = |r: &async_graphql::Response| {
        let mut v = serde_json::json!({ "errors": r.errors });
        if !r.extensions.is_empty() {
            v["extensions"] = serde_json::to_value(&r.extensions).unwrap_or_default();
        }
        v
    };
    let status = if timed_out {
        StatusCode::GATEWAY_TIMEOUT
    } else if !is_array && refused(&responses[0]) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = match (is_array, responses.iter().any(refused)) {
        (false, false) => serde_json::to_vec(&responses[0]),
        (false, true) => serde_json::to_vec(&without_data(&responses[0])),
        (true, false) => serde_json::to_vec(&responses),
        (true, true) => serde_json::to_vec(
            &responses
                .iter()
                .map(|r| {
                    if refused(r) {
                        without_data(r)
                    } else {
                        serde_json::to_value(r).unwrap_or_default()
                    }
                })
                .collect::<Vec<_>>(),
        ),
    };
    // Work refused for being more than the server takes at once: when to come back.
    let overloaded = responses.iter().any(|r| {
        crate::metrics::codes_of(r)
            .iter()
            .any(|c| c == "OVERLOADED" || c == "SERVICE_UNAVAILABLE")
    });
    match body {
        Ok(b) => {
            let mut res = HttpResponse::build(status);
            if overloaded {
                res.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
            }
            res.content_type(media.content_type()).body(b)
        }
        Err(e) => error_response_as(
            media,
            AppError::from(anyhow::anyhow!("serialising the response: {e}")),
        ),
    }
}

/// The HTTP answer to a refusal before execution: the rate limit: 429 with `Retry-After`;
/// limits and bad hashes: 400. In `application/json`, a persisted query not (or no longer)
/// known (the protocol's normal answer: the client resends the query) and a document that
/// does not parse answer 200, as an executed request with errors does.
fn refusal_to_http(media: Media, refusal: &crate::document::Refusal) -> HttpResponse {
    let status = match (refusal.code, media) {
        ("RATE_LIMITED", _) => StatusCode::TOO_MANY_REQUESTS,
        ("PERSISTED_QUERY_NOT_FOUND" | "GRAPHQL_PARSE_FAILED", Media::Json) => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = media.refusal_body(
        &refusal.message,
        serde_json::json!({ "code": refusal.code }),
        &refusal.locations,
    );
    let mut res = HttpResponse::build(status)
        .content_type(media.content_type())
        .body(body.to_string());
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

/// `/graphql` within `REMEDY_REQUEST_TIMEOUT_SECONDS`: each operation is bounded by it in
/// the pipeline (which names the operation in metrics); the whole request, body and batch
/// included, gets one second more. Past either, the work is dropped (an open transaction
/// rolls back) and the client gets a GraphQL error with code `TIMEOUT` (HTTP 504).
async fn within_timeout(
    state: &AppState,
    media: Media,
    work: impl std::future::Future<Output = HttpResponse>,
) -> HttpResponse {
    let secs = state.config.request_timeout_seconds;
    if secs == 0 {
        return work.await;
    }
    let limit = std::time::Duration::from_secs(secs.saturating_add(1));
    match tokio::time::timeout(limit, work).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(seconds = secs, "GraphQL request timed out");
            bad_request_as(
                media,
                StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
                &format!("the request took longer than the {secs}-second limit (REMEDY_REQUEST_TIMEOUT_SECONDS)"),
            )
        }
    }
}

async fn graphql_post_with_timeout(
    state: web::Data<AppState>,
    http: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let media = Media::of(&http);
    let s = state.clone();
    within_timeout(&s, media, graphql_post(state, http, payload, media)).await
}

async fn graphql_get_with_timeout(state: web::Data<AppState>, http: HttpRequest) -> HttpResponse {
    let media = Media::of(&http);
    let s = state.clone();
    within_timeout(&s, media, graphql_get(state, http, media)).await
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
        return refusal_to_http(Media::Json, &refusal);
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
                    .route(web::post().to(graphql_post_with_timeout))
                    .route(web::get().to(graphql_get_with_timeout)),
            )
            .route("/metrics", web::get().to(metrics))
            .route("/graphql/ws", web::get().to(crate::ws::subscriptions))
            .route("/graphiql", web::get().to(graphiql))
            .route("/graphiql/{file}", web::get().to(graphiql_asset))
            .route("/evidence/{id}", web::get().to(download_evidence))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .configure(crate::console::routes);
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
