//! `GET /graphql/ws`: GraphQL subscriptions over WebSocket (graphql-transport-ws). The client
//! authenticates in its `connection_init` payload, `{"Authorization": "Bearer <token>"}`, with
//! the same verification as HTTP (signature, claims, revocation).
use actix_web::{web, HttpRequest, HttpResponse};
use async_graphql::ErrorExtensions;
use async_graphql_actix_web::GraphQLSubscription;

use crate::error::AppError;
use crate::server::{authenticate_value, AppState};

pub async fn subscriptions(
    state: web::Data<AppState>,
    http: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let auth_state = state.clone();
    GraphQLSubscription::new(state.schema.clone())
        .on_connection_init(move |init: serde_json::Value| async move {
            let value = init
                .as_object()
                .and_then(|o| {
                    o.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                        .and_then(|(_, v)| v.as_str())
                })
                .ok_or_else(|| {
                    AppError::Unauthenticated(
                        "connection_init carries no Authorization (\"Bearer <token>\")".into(),
                    )
                    .extend()
                })?;
            let caller = authenticate_value(&auth_state, value)
                .await
                .map_err(|e| e.extend())?;
            let mut data = async_graphql::Data::default();
            data.insert(caller);
            Ok(data)
        })
        .start(&http, payload)
}
