//! The HTTP server: GraphQL at `POST /graphql`, GraphiQL at `GET /` (assets served by
//! remedy itself), `/healthz` and `/readyz`.
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer, Responder};
use async_graphql::ErrorExtensions;
use async_graphql_actix_web::{GraphQLRequest, GraphQLResponse};
use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};

use crate::auth::jwt::Keys;
use crate::auth::{tokens, Caller};
use crate::config::ServerConfig;
use crate::error::AppError;
use crate::graphql::{build_schema, RemedySchema};

/// State shared by all workers: built once.
pub struct AppState {
    pub schema: RemedySchema,
    pub db: DatabaseConnection,
    pub config: ServerConfig,
    pub keys: Arc<Keys>,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: ServerConfig, keys: Arc<Keys>) -> Self {
        let schema = build_schema(db.clone(), &config, keys.clone());
        Self {
            schema,
            db,
            config,
            keys,
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

async fn graphql(
    state: web::Data<AppState>,
    http: HttpRequest,
    req: GraphQLRequest,
) -> HttpResponse {
    let caller = match authenticate(&state, &http).await {
        Ok(c) => c,
        Err(e) => return error_response(e),
    };
    let mut request = req.into_inner().data(caller.clone());
    let operation = request.operation_name.clone();
    request = request.data(crate::graphql::RequestInfo {
        operation: operation.clone(),
    });
    let mut response = state.schema.execute(request).await;
    label_errors(&mut response, &state.config);
    if caller.is_scoped() {
        record_access(&state.db, &caller, operation.as_deref()).await;
    }
    GraphQLResponse::from(response)
        .respond_to(&http)
        .map_into_boxed_body()
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
async fn record_access(db: &DatabaseConnection, caller: &Caller, operation: Option<&str>) {
    let at = Utc::now().trunc_subsecs(6);
    for order_id in caller.touched_orders() {
        let row = entity::access_log::ActiveModel {
            at: Set(at),
            subject: Set(caller.subject.clone()),
            jti: Set(Some(caller.jti.clone())),
            order_id: Set(order_id),
            operation: Set(operation.map(str::to_string)),
            ..Default::default()
        };
        if let Err(e) = row.insert(db).await {
            tracing::error!(error = %e, subject = %caller.subject, order_id, "could not record evaluator access");
        }
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
        cfg.app_data(state)
            .app_data(web::PayloadConfig::new(limit))
            .route("/graphql", web::post().to(graphql))
            .route("/", web::get().to(graphiql))
            .route("/graphiql/{file}", web::get().to(graphiql_asset))
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
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::Logger::new("%r %s %Dms").log_target("remedy::http"))
            .configure(configure(state.clone()))
    })
    .shutdown_timeout(30)
    .listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok((server.run(), addr))
}
