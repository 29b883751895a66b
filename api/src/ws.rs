//! `GET /graphql/ws`: GraphQL over WebSocket, protocol `graphql-transport-ws` (the
//! `graphql-ws` library's). The client authenticates in its `connection_init` payload,
//! `{"Authorization": "Bearer <token>"}`; every `subscribe` (a query, a mutation or a
//! subscription) then goes through the same pipeline as an HTTP request
//! ([`crate::pipeline`]): the token re-checked, rate limit, document limits, timeout, access
//! log.
//!
//! What this transport adds, with the protocol's close codes:
//! - frames and reassembled messages are capped at `REMEDY_MAX_BODY_BYTES` before they are
//!   buffered (1009 Message too big);
//! - `connection_init` must come within `REMEDY_WS_INIT_TIMEOUT_SECONDS` (4408), once (4429);
//!   a refused token closes with 4403, a `subscribe` before it with 4401, a malformed
//!   message with 4400, a reused operation id with 4409;
//! - at most `REMEDY_WS_MAX_OPERATIONS` operations run at once on one connection (more are
//!   answered with an `error` message, code `TOO_MANY_OPERATIONS`), and at most
//!   `REMEDY_WS_MAX_SOCKETS_PER_SUBJECT` connections per token subject (4403);
//! - the connection closes (4403) when its token expires, at once when it is revoked through
//!   the API (on every replica), and within `REMEDY_WS_RECHECK_SECONDS` when it is revoked
//!   otherwise; its subscriptions end with it.
use std::collections::HashMap;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::document::Refusal;
use crate::error::AppError;
use crate::events::Kind;
use crate::pipeline;
use crate::state::AppState;

/// The sub-protocol spoken.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// A connection's place in [`Sockets`], given back when the connection ends.
struct Slot {
    state: web::Data<AppState>,
    subject: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.state.sockets.leave(&self.subject);
    }
}

/// A message from the client.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: Value,
    },
    Complete {
        id: String,
    },
}

pub async fn subscriptions(
    state: web::Data<AppState>,
    http: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let offered = http
        .headers()
        .get_all(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !offered {
        return Ok(HttpResponse::BadRequest().json(json!({
            "data": null,
            "errors": [{
                "message": format!("offer the WebSocket sub-protocol {PROTOCOL}"),
                "extensions": { "code": "VALIDATION" },
            }],
        })));
    }
    let (response, session, stream) = actix_ws::handle_with_protocols(&http, payload, &[PROTOCOL])?;
    let limit = state.config.max_body_bytes;
    let stream = stream
        .max_frame_size(limit)
        .aggregate_continuations()
        .max_continuation_size(limit);
    actix_web::rt::spawn(connection(state, session, stream));
    Ok(response)
}

fn close_reason(code: u16, text: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code: CloseCode::Other(code),
        description: Some(text.to_string()),
    })
}

async fn close(session: Session, code: u16, text: &str) {
    let _ = session.close(close_reason(code, text)).await;
}

async fn send(session: &mut Session, message: Value) -> bool {
    session.text(message.to_string()).await.is_ok()
}

/// Sends an operation's `next` message; false once the socket is gone.
async fn send_next(session: &mut Session, id: &str, res: &async_graphql::Response) -> bool {
    let payload = serde_json::to_value(res).unwrap_or(Value::Null);
    send(
        session,
        json!({ "id": id, "type": "next", "payload": payload }),
    )
    .await
}

/// The `error` message of an operation: the errors of a response that has no data.
fn error_message(id: &str, res: &async_graphql::Response) -> Value {
    let errors = serde_json::to_value(&res.errors).unwrap_or(Value::Null);
    json!({ "id": id, "type": "error", "payload": errors })
}

/// What a frame from the client comes to.
enum Frame {
    /// A protocol message to read.
    Text(bytestring::ByteString),
    /// Handled here (ping, pong): wait for the next one.
    Handled,
    /// The connection ends: closed by the client, or to be closed with this code.
    End(Option<(u16, String)>),
}

/// Reads one frame: pings answered, overflows and protocol errors turned into close codes.
async fn frame(
    session: &mut Session,
    msg: Option<Result<AggregatedMessage, actix_ws::ProtocolError>>,
) -> Frame {
    match msg {
        None | Some(Ok(AggregatedMessage::Close(_))) => Frame::End(None),
        Some(Err(e)) => Frame::End(Some(protocol_error(e))),
        Some(Ok(AggregatedMessage::Ping(bytes))) => {
            let _ = session.pong(&bytes).await;
            Frame::Handled
        }
        Some(Ok(AggregatedMessage::Pong(_))) => Frame::Handled,
        Some(Ok(AggregatedMessage::Binary(_))) => Frame::End(Some((
            4400,
            "binary messages are not part of the protocol".into(),
        ))),
        Some(Ok(AggregatedMessage::Text(t))) => Frame::Text(t),
    }
}

/// Closes the socket as `end` says (without a code when the client went away).
async fn finish(session: Session, end: Option<(u16, String)>) {
    match end {
        Some((code, text)) => close(session, code, &text).await,
        None => {
            let _ = session.close(None).await;
        }
    }
}

/// Waits for `connection_init` and authenticates it; otherwise, how the connection ends.
async fn wait_for_init(
    state: &web::Data<AppState>,
    session: &mut Session,
    stream: &mut actix_ws::AggregatedMessageStream,
) -> Result<Caller, Option<(u16, String)>> {
    let deadline = tokio::time::sleep(Duration::from_secs(state.config.ws_init_timeout_seconds));
    tokio::pin!(deadline);
    loop {
        let msg = tokio::select! {
            _ = &mut deadline => {
                return Err(Some((4408, "Connection initialisation timeout".into())));
            }
            msg = stream.next() => msg,
        };
        let text = match frame(session, msg).await {
            Frame::Text(t) => t,
            Frame::Handled => continue,
            Frame::End(end) => return Err(end),
        };
        match serde_json::from_str::<ClientMessage>(&text) {
            Ok(ClientMessage::ConnectionInit { payload }) => {
                let value = payload.as_ref().and_then(Value::as_object).and_then(|o| {
                    o.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                        .and_then(|(_, v)| v.as_str())
                });
                let caller = match value {
                    None => Err(AppError::Unauthenticated(
                        "connection_init carries no Authorization (\"Bearer <token>\")".into(),
                    )),
                    Some(v) => pipeline::authenticate(state, v).await,
                };
                return caller.map_err(|e| Some((4403, format!("Forbidden: {}", e.message()))));
            }
            Ok(ClientMessage::Ping { .. }) => {
                if !send(session, json!({ "type": "pong" })).await {
                    return Err(None);
                }
            }
            Ok(ClientMessage::Pong { .. }) => {}
            Ok(ClientMessage::Subscribe { .. }) => return Err(Some((4401, "Unauthorized".into()))),
            Ok(ClientMessage::Complete { .. }) | Err(_) => {
                return Err(Some((4400, "Invalid message".into())))
            }
        }
    }
}

/// The close code and text of a protocol error (an overflowing frame or message: 1009).
fn protocol_error(err: actix_ws::ProtocolError) -> (u16, String) {
    tracing::debug!(error = %err, "closing a WebSocket");
    match &err {
        actix_ws::ProtocolError::Overflow => (1009, "Message too big".into()),
        actix_ws::ProtocolError::Io(e) if e.to_string().contains("continuation size") => {
            (1009, "Message too big".into())
        }
        _ => (1002, "Protocol error".into()),
    }
}

/// Whether an open connection's token was revoked or has expired; a database error is not a
/// revocation (the next check tries again).
async fn lost_token(state: &AppState, caller: &Caller) -> Option<(u16, String)> {
    match pipeline::recheck(state, caller).await {
        Err(AppError::Unauthenticated(why)) => Some((4403, format!("Forbidden: {why}"))),
        _ => None,
    }
}

/// How long until a token's `exp` (none: far away).
fn until_expiry(caller: &Caller) -> Duration {
    match caller.expires_at() {
        Some(exp) => {
            let left = exp - chrono::Utc::now().timestamp();
            Duration::from_secs(left.max(0) as u64)
        }
        None => Duration::from_secs(365 * 24 * 3600),
    }
}

async fn connection(
    state: web::Data<AppState>,
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
) {
    let caller = match wait_for_init(&state, &mut session, &mut stream).await {
        Ok(c) => c,
        Err(end) => return finish(session, end).await,
    };
    if !state
        .sockets
        .enter(&caller.subject, state.config.ws_max_sockets_per_subject)
    {
        close(
            session,
            4403,
            &format!(
                "Forbidden: this token subject already has {} open connections (REMEDY_WS_MAX_SOCKETS_PER_SUBJECT)",
                state.config.ws_max_sockets_per_subject
            ),
        )
        .await;
        return;
    }
    let _slot = Slot {
        state: state.clone(),
        subject: caller.subject.clone(),
    };
    if !send(&mut session, json!({ "type": "connection_ack" })).await {
        return;
    }
    // Running operations by id; finished ones are pruned before each new one.
    let mut ops: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut changes = state.bus.subscribe();
    let expiry = tokio::time::sleep(until_expiry(&caller));
    tokio::pin!(expiry);
    let every = Duration::from_secs(state.config.ws_recheck_seconds.max(1));
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let end: Option<(u16, String)> = loop {
        tokio::select! {
            _ = &mut expiry => break Some((4403, "Forbidden: token expired".into())),
            _ = recheck.tick() => {
                if let Some(end) = lost_token(&state, &caller).await {
                    break Some(end);
                }
            }
            change = changes.recv() => match change {
                Ok(c) if c.kind == Kind::Token && c.jti.as_deref() == Some(caller.jti.as_str()) => {
                    break Some((4403, "Forbidden: token revoked".into()));
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(end) = lost_token(&state, &caller).await {
                        break Some(end);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    changes = state.bus.subscribe();
                }
            },
            msg = stream.next() => {
                let text = match frame(&mut session, msg).await {
                    Frame::Text(t) => t,
                    Frame::Handled => continue,
                    Frame::End(end) => break end,
                };
                match serde_json::from_str::<ClientMessage>(&text) {
                    Ok(ClientMessage::ConnectionInit { .. }) => {
                        break Some((4429, "Too many initialisation requests".into()))
                    }
                    Ok(ClientMessage::Ping { .. }) => {
                        if !send(&mut session, json!({ "type": "pong" })).await {
                            break None;
                        }
                    }
                    Ok(ClientMessage::Pong { .. }) => {}
                    Ok(ClientMessage::Complete { id }) => {
                        if let Some(h) = ops.remove(&id) {
                            h.abort();
                        }
                    }
                    Ok(ClientMessage::Subscribe { id, payload }) => {
                        ops.retain(|_, h| !h.is_finished());
                        if ops.contains_key(&id) {
                            break Some((4409, format!("Subscriber for {id} already exists")));
                        }
                        match start(&state, &caller, &session, &id, payload, ops.len()).await {
                            Started::Running(handle) => {
                                ops.insert(id, handle);
                            }
                            Started::Answered => {}
                            Started::Close(code, text) => break Some((code, text)),
                        }
                    }
                    Err(_) => break Some((4400, "Invalid message".into())),
                }
            }
        }
    };
    for (_, handle) in ops.drain() {
        handle.abort();
    }
    finish(session, end).await;
}

enum Started {
    Running(tokio::task::JoinHandle<()>),
    /// Refused with an `error` message; the connection goes on.
    Answered,
    Close(u16, String),
}

/// Starts one operation: the token re-checked, then the pipeline; runs it in its own task,
/// which sends `next` and `complete` (or `error`).
async fn start(
    state: &web::Data<AppState>,
    caller: &Caller,
    session: &Session,
    id: &str,
    payload: Value,
    running: usize,
) -> Started {
    let mut session = session.clone();
    if let Err(e) = pipeline::recheck(state, caller).await {
        let (unauthenticated, text) = match &e {
            AppError::Unauthenticated(why) => (true, format!("Forbidden: {why}")),
            other => (false, other.message()),
        };
        if !send(
            &mut session,
            error_message(id, &pipeline::error_response(e)),
        )
        .await
        {
            return Started::Close(1011, "send failed".into());
        }
        return if unauthenticated {
            Started::Close(4403, text)
        } else {
            Started::Answered
        };
    }
    if running >= state.config.ws_max_operations {
        let refusal = Refusal::new(
            "TOO_MANY_OPERATIONS",
            format!("this connection already runs {running} operations (REMEDY_WS_MAX_OPERATIONS)"),
        );
        send(
            &mut session,
            error_message(id, &pipeline::refusal_response(&refusal)),
        )
        .await;
        return Started::Answered;
    }
    let request: async_graphql::Request = match serde_json::from_value(payload) {
        Ok(r) => r,
        Err(_) => {
            return Started::Close(4400, "Invalid message: subscribe payload".into());
        }
    };
    let op = match pipeline::prepare(state, caller, request) {
        Ok(op) => op,
        Err(refusal) => {
            send(
                &mut session,
                error_message(id, &pipeline::refusal_response(&refusal)),
            )
            .await;
            return Started::Answered;
        }
    };
    let state = state.clone();
    let caller = caller.clone();
    let id = id.to_string();
    let handle = actix_web::rt::spawn(async move {
        if op.kind == pipeline::Kind::Subscription {
            let mut responses = pipeline::subscribe(&state, &caller, op).peekable();
            // Refused before it started (parse, validation): the protocol's `error`.
            if let Some(first) = std::pin::Pin::new(&mut responses).peek().await {
                if pipeline::refused_before_execution(first) {
                    send(&mut session, error_message(&id, first)).await;
                    return;
                }
            }
            while let Some(res) = responses.next().await {
                if !send_next(&mut session, &id, &res).await {
                    return;
                }
            }
        } else {
            let res = pipeline::run(&state, &caller, op, None).await;
            if !send_next(&mut session, &id, &res).await {
                return;
            }
        }
        send(&mut session, json!({ "id": id, "type": "complete" })).await;
    });
    Started::Running(handle)
}
