//! The one pipeline every GraphQL operation passes through, whatever its transport (HTTP
//! POST, a batch, a persisted query, a multipart upload, a WebSocket `subscribe` carrying a
//! query, a mutation or a subscription):
//!
//! 1. [`authenticate`]: signature, claims, expiry and revocation, checked for every
//!    operation (an open WebSocket re-checks its token before each one);
//! 2. [`prepare`]: the per-subject rate limit, then the document: persisted-query lookup,
//!    token budget before parsing, one parse, field / alias / expanded-size limits
//!    ([`crate::document`]); depth, complexity and directive limits follow in validation;
//! 3. [`run`] / [`subscribe`]: execution within the request timeout, errors labelled with a
//!    stable `extensions.code`, metrics, the evaluator access log, and the document kept in
//!    the cache only once it also passed validation.
//!
//! The HTTP handler and the WebSocket handler only move bytes: neither authorises nor limits
//! anything on its own.
use std::time::Duration;

use async_graphql::{ErrorExtensions, Request, Response, ServerError};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use crate::auth::Caller;
use crate::document::{Pending, Refusal};
use crate::error::AppError;
use crate::service::tokens;
use crate::state::AppState;

/// Verifies an `Authorization` value (`Bearer <token>`): signature, claims (expiry
/// included), then revocation.
pub async fn authenticate(state: &AppState, value: &str) -> Result<Caller, AppError> {
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::Unauthenticated("expected a Bearer token".into()))?;
    let claims = state.keys.verify(token)?;
    let caller = state.keys.caller(&claims)?;
    recheck(state, &caller).await?;
    Ok(caller)
}

/// Checks again that an already verified caller's token has neither expired nor been
/// revoked since (before each operation on a long-lived connection).
pub async fn recheck(state: &AppState, caller: &Caller) -> Result<(), AppError> {
    if caller.expired() {
        return Err(AppError::Unauthenticated("token expired".into()));
    }
    if tokens::is_revoked(&state.db, &caller.jti).await? {
        return Err(AppError::Unauthenticated("token revoked".into()));
    }
    Ok(())
}

/// The kind of operation a prepared request runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Query,
    Mutation,
    Subscription,
}

/// A request that passed admission and the document limits, ready to run.
pub struct Operation {
    request: Request,
    pending: Option<Pending>,
    pub kind: Kind,
    /// The operation's name when the document names it (for metrics and logs).
    pub name: Option<String>,
}

/// The per-subject rate limit: every operation, and every other authenticated request
/// (evidence downloads), counts against it.
pub fn admit(state: &AppState, caller: &Caller) -> Result<(), Refusal> {
    match &state.limiter {
        Some(limiter) if limiter.check_key(&caller.subject).is_err() => Err(Refusal::new(
            "RATE_LIMITED",
            format!(
                "rate limit exceeded: at most {} requests per minute per token subject",
                state.config.rate_limit_per_minute
            ),
        )),
        _ => Ok(()),
    }
}

/// Admission and document limits: the per-subject rate limit, then the document
/// ([`crate::document::Documents::prepare`]).
pub fn prepare(
    state: &AppState,
    caller: &Caller,
    mut request: Request,
) -> Result<Operation, Refusal> {
    admit(state, caller)?;
    let pending = state.documents.prepare(&mut request, &state.config)?;
    let (name, kind) = crate::metrics::operation(&mut request);
    let kind = match kind {
        Some("mutation") => Kind::Mutation,
        Some("subscription") => Kind::Subscription,
        _ => Kind::Query,
    };
    Ok(Operation {
        request,
        pending,
        kind,
        name,
    })
}

/// A refusal as a GraphQL response (no data, one error with its code and, for a document
/// that does not parse, its location).
pub fn refusal_response(refusal: &Refusal) -> Response {
    let mut err = ServerError::new(refusal.message.clone(), None);
    err.locations = refusal.locations.clone();
    err.extensions
        .get_or_insert_with(Default::default)
        .set("code", refusal.code);
    Response::from_errors(vec![err])
}

/// An application error as a GraphQL response.
pub fn error_response(err: AppError) -> Response {
    let gql = err.extend();
    let mut server = ServerError::new(gql.message, None);
    server.extensions = gql.extensions;
    Response::from_errors(vec![server])
}

/// Whether a response shows its document was refused before execution (parse or validation
/// errors: no data, and no error carries a path).
pub fn refused_before_execution(res: &Response) -> bool {
    !res.errors.is_empty()
        && matches!(res.data, async_graphql::Value::Null)
        && res.errors.iter().all(|e| e.path.is_empty())
}

/// The document of an operation, to complete its responses' data from their field errors
/// ([`crate::propagation`]): its text, parsed again only when a field failed, or, for a
/// persisted query sent by hash alone, the parsed document itself.
enum Source {
    Text(String),
    Parsed(Box<async_graphql::parser::types::ExecutableDocument>),
    Unknown,
}

impl Source {
    fn of(request: &mut Request) -> Self {
        if !request.query.is_empty() {
            return Source::Text(request.query.clone());
        }
        match request.parsed_query() {
            Ok(doc) => Source::Parsed(Box::new(doc.clone())),
            Err(_) => Source::Unknown,
        }
    }
}

/// Field errors handled as the specification says: each failed field `null`, a `null` in a
/// non-null position moved up to the nearest nullable one ([`crate::propagation`]).
fn complete_fields(
    shape: &crate::propagation::Shape,
    response: &mut Response,
    source: &Source,
    operation_name: Option<&str>,
) {
    if response.errors.iter().all(|e| e.path.is_empty()) {
        return;
    }
    let parsed;
    let doc = match source {
        Source::Text(text) => {
            parsed = async_graphql::parser::parse_query(text).ok();
            parsed.as_ref()
        }
        Source::Parsed(doc) => Some(doc.as_ref()),
        Source::Unknown => None,
    };
    crate::propagation::complete(
        &mut response.data,
        &response.errors,
        shape,
        doc,
        operation_name,
    );
}

/// What every operation's resolvers find in the request: the caller (with an access trail of
/// its own), per-request loaders, the operation's name.
fn with_request_data(state: &AppState, caller: &Caller, request: Request) -> (Request, Caller) {
    let caller = caller.fresh();
    let operation = request.operation_name.clone();
    let request = request
        .data(caller.clone())
        .data(crate::graphql::dashboard::PerRequest::new(
            Duration::from_millis(state.config.loader_delay_ms),
        ))
        .data(crate::graphql::loader::Batch::new(Duration::from_millis(
            state.config.loader_delay_ms,
        )))
        .data(crate::graphql::tense::Tenses::default())
        .data(crate::graphql::RequestInfo { operation });
    (request, caller)
}

/// Runs a query or mutation received over HTTP (`http`) or WebSocket (`None`).
pub async fn run(
    state: &AppState,
    caller: &Caller,
    op: Operation,
    http: Option<&actix_web::HttpRequest>,
) -> Response {
    let Operation {
        mut request,
        pending,
        name,
        kind,
    } = op;
    let operation = request.operation_name.clone();
    let source = Source::of(&mut request);
    let (request, caller) = with_request_data(state, caller, request);
    let kind_label = match kind {
        Kind::Query => "query",
        Kind::Mutation => "mutation",
        Kind::Subscription => "subscription",
    };
    let span = crate::telemetry::operation_span(name.as_deref(), Some(kind_label));
    let exec = tracing::Instrument::instrument(state.schema.execute(request), span);
    let secs = state.config.request_timeout_seconds;
    let mut response = if secs == 0 {
        exec.await
    } else {
        match tokio::time::timeout(Duration::from_secs(secs), exec).await {
            Ok(r) => r,
            Err(_) => {
                let transport = if http.is_some() { "http" } else { "websocket" };
                tracing::warn!(seconds = secs, transport, "GraphQL operation timed out");
                refusal_response(&Refusal::new(
                    "TIMEOUT",
                    format!(
                        "the request took longer than the {secs}-second limit (REMEDY_REQUEST_TIMEOUT_SECONDS)"
                    ),
                ))
            }
        }
    };
    label_errors(&mut response, &state.config);
    complete_fields(&state.shape, &mut response, &source, operation.as_deref());
    if let Some(p) = pending {
        if !refused_before_execution(&response) {
            state.documents.commit(p);
        }
    }
    match http {
        Some(http) => crate::metrics::note_operation(http, name.as_deref(), &response),
        None => state.metrics.count_errors(&response),
    }
    if caller.is_scoped() {
        let op = operation.or(name);
        crate::service::access::record_caller(
            &state.db,
            &state.gate,
            &caller,
            &caller.touched_orders(),
            op.as_deref(),
        )
        .await;
    }
    response
}

/// Starts a subscription: the stream of its responses, each with its errors labelled. The
/// subscription's resolvers check the token again before each event and end the stream when
/// it has expired or was revoked.
pub fn subscribe(state: &AppState, caller: &Caller, op: Operation) -> BoxStream<'static, Response> {
    let mut request = op.request;
    let source = Source::of(&mut request);
    let operation = request.operation_name.clone();
    let (request, _) = with_request_data(state, caller, request);
    let cfg = state.config.clone();
    let metrics = state.metrics.clone();
    let shape = state.shape.clone();
    state
        .schema
        .execute_stream(request)
        .map(move |mut res| {
            label_errors(&mut res, &cfg);
            complete_fields(&shape, &mut res, &source, operation.as_deref());
            metrics.count_errors(&res);
            res
        })
        .boxed()
}

/// Gives every error a stable `extensions.code`: resolver errors carry theirs already;
/// errors raised by async-graphql itself (document and variable validation, the complexity
/// limit) get `QUERY_TOO_COMPLEX` (naming the limit) or `VALIDATION`. Depth is refused
/// before validation ([`crate::document`]).
pub fn label_errors(response: &mut Response, cfg: &crate::config::ServerConfig) {
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
        } else {
            ("VALIDATION", err.message.clone())
        };
        err.message = message;
        err.extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}
