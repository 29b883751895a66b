//! Subscriptions over WebSocket (graphql-transport-ws at `/graphql/ws`): scope, order filter,
//! authentication at `connection_init`, and (PostgreSQL) delivery across two server processes.
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;
use crate::ops::serve_binary;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/graphql/ws` and sends `connection_init` with the token (if any).
pub(crate) async fn ws_open(base: &str, token: Option<&str>) -> Ws {
    let url = format!("{}/graphql/ws", base.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let payload = match token {
        Some(t) => json!({ "Authorization": format!("Bearer {t}") }),
        None => json!({}),
    };
    ws.send(Message::text(
        json!({ "type": "connection_init", "payload": payload }).to_string(),
    ))
    .await
    .unwrap();
    ws
}

/// The next protocol message (answering pings), or None on close or after `wait`.
pub(crate) async fn next(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match msg.ok()? {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ping" {
                    ws.send(Message::text(json!({"type": "pong"}).to_string()))
                        .await
                        .ok()?;
                    continue;
                }
                return Some(v);
            }
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

pub(crate) async fn ws_connect(base: &str, token: &str) -> Ws {
    let mut ws = ws_open(base, Some(token)).await;
    let ack = next(&mut ws, Duration::from_secs(10)).await;
    assert_eq!(
        ack.as_ref().map(|v| v["type"].clone()),
        Some(json!("connection_ack")),
        "{ack:?}"
    );
    ws
}

pub(crate) async fn subscribe(ws: &mut Ws, id: &str, query: &str, variables: Value) {
    ws.send(Message::text(
        json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
            .to_string(),
    ))
    .await
    .unwrap();
}

const MEASURE_CHANGED: &str =
    "subscription($o: ID) { measureChanged(orderId: $o) { id title version } }";

/// Every measure with its orders' references.
async fn measures(base: &str, token: &str) -> Vec<(String, i64, Vec<String>)> {
    let body: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": "{ measures(first: 100) { nodes { id version findings { nodes { order { reference } } } } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["measures"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let mut orders: Vec<String> = m["findings"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["order"]["reference"].as_str().unwrap().to_string())
                .collect();
            orders.sort();
            orders.dedup();
            (
                m["id"].as_str().unwrap().to_string(),
                m["version"].as_i64().unwrap(),
                orders,
            )
        })
        .collect()
}

async fn retitle(base: &str, token: &str, id: &str, version: i64, title: &str) {
    let body: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({
            "query": "mutation($id: ID!, $v: Int!, $t: String!) { updateMeasure(id: $id, version: $v, input: { title: $t }) { version } }",
            "variables": { "id": id, "v": version, "t": title },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
}

async fn order_id(app: &TestApp, reference: &str) -> String {
    let data = app
        .query_ok(
            "query($r: String!) { orderByReference(reference: $r) { id } }",
            json!({ "r": reference }),
        )
        .await;
    data["orderByReference"]["id"].as_str().unwrap().to_string()
}

const METI: &str = "METI-2022-06-30";
const PPC: &str = "PPC-2022-07-13";

#[tokio::test]
async fn subscribers_hear_changes_of_their_scope_only() {
    let app = spawn_demo_app().await;
    let all = measures(&app.address, &app.admin_token).await;
    let meti_only = all.iter().find(|m| m.2 == [METI]).expect("a METI measure");
    let ppc_only = all.iter().find(|m| m.2 == [PPC]).expect("a PPC measure");
    let ppc = order_id(&app, PPC).await;
    let evaluator = app.token(remedy::auth::Role::Evaluator, &[METI]).await;

    // No token in connection_init: no connection_ack, the socket is closed.
    let mut anonymous = ws_open(&app.address, None).await;
    let answer = next(&mut anonymous, Duration::from_secs(5)).await;
    assert!(
        answer.is_none() || answer.as_ref().unwrap()["type"] != "connection_ack",
        "{answer:?}"
    );

    // A revoked token is refused the same way.
    let revoked = app.token(remedy::auth::Role::Viewer, &[]).await;
    let jti = app.keys.verify(&revoked).unwrap().jti;
    remedy::service::tokens::revoke(
        &app.db,
        &app.gate,
        &jti,
        &remedy::service::tokens::Issuer::operator("test"),
    )
    .await
    .unwrap();
    let mut refused = ws_open(&app.address, Some(&revoked)).await;
    let answer = next(&mut refused, Duration::from_secs(5)).await;
    assert!(
        answer.is_none() || answer.as_ref().unwrap()["type"] != "connection_ack",
        "{answer:?}"
    );
    // While the same connection_init with a valid token is acknowledged.
    let viewer = app.token(remedy::auth::Role::Viewer, &[]).await;
    ws_connect(&app.address, &viewer).await;

    let mut eval_ws = ws_connect(&app.address, &evaluator).await;
    // An ungranted order answers NOT_FOUND, like an unknown one.
    subscribe(&mut eval_ws, "ppc", MEASURE_CHANGED, json!({ "o": ppc })).await;
    let err = next(&mut eval_ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(err["type"], "next", "{err}");
    assert_eq!(err["id"], "ppc");
    assert!(err["payload"]["data"].is_null(), "{err}");
    assert_eq!(
        err["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{err}"
    );
    let done = next(&mut eval_ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(done["type"], "complete", "{done}");
    subscribe(&mut eval_ws, "all", MEASURE_CHANGED, json!({})).await;

    let mut admin_ws = ws_connect(&app.address, &app.admin_token).await;
    subscribe(&mut admin_ws, "ppc", MEASURE_CHANGED, json!({ "o": ppc })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    retitle(
        &app.address,
        &app.admin_token,
        &ppc_only.0,
        ppc_only.1,
        "PPC change",
    )
    .await;
    let heard = next(&mut admin_ws, Duration::from_secs(10)).await.unwrap();
    assert_eq!(heard["type"], "next", "{heard}");
    assert_eq!(heard["id"], "ppc");
    assert_eq!(
        heard["payload"]["data"]["measureChanged"]["id"],
        ppc_only.0.as_str()
    );
    assert_eq!(
        heard["payload"]["data"]["measureChanged"]["title"],
        "PPC change"
    );

    // A METI change: the admin's PPC-only subscription stays silent; the evaluator hears it,
    // and it is the first thing the evaluator hears (the PPC change never reached it).
    retitle(
        &app.address,
        &app.admin_token,
        &meti_only.0,
        meti_only.1,
        "METI change",
    )
    .await;
    let heard = next(&mut eval_ws, Duration::from_secs(10)).await.unwrap();
    assert_eq!(heard["type"], "next", "{heard}");
    assert_eq!(heard["id"], "all");
    assert_eq!(
        heard["payload"]["data"]["measureChanged"]["id"],
        meti_only.0.as_str()
    );
    assert_eq!(
        heard["payload"]["data"]["measureChanged"]["title"],
        "METI change"
    );
    assert!(
        next(&mut admin_ws, Duration::from_millis(500))
            .await
            .is_none(),
        "the PPC subscription heard a METI-only change"
    );
}

#[tokio::test]
async fn report_changes_are_heard() {
    let app = spawn_demo_app().await;
    let meti = order_id(&app, METI).await;
    let mut ws = ws_connect(&app.address, &app.admin_token).await;
    subscribe(
        &mut ws,
        "r",
        "subscription($o: ID) { reportChanged(orderId: $o) { id title } }",
        json!({ "o": meti }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let data = app
        .query_ok(
            "mutation($o: ID!) { createReport(input: { orderId: $o, kind: PROGRESS, title: \"Live report\", dueOn: \"2026-04-30\" }) { id } }",
            json!({ "o": meti }),
        )
        .await;
    let heard = next(&mut ws, Duration::from_secs(10)).await.unwrap();
    assert_eq!(heard["type"], "next", "{heard}");
    assert_eq!(
        heard["payload"]["data"]["reportChanged"]["id"],
        data["createReport"]["id"]
    );
}

/// PostgreSQL: two server processes on one database; a subscriber connected to A hears a
/// change made through B (LISTEN/NOTIFY). Skipped on SQLite, which has one process.
#[tokio::test]
#[ignore = "PostgreSQL only: runs with REMEDY_TEST_DATABASE_URL set and -- --include-ignored"]
async fn a_change_through_one_replica_reaches_subscribers_of_another() {
    postgres_only();
    let test_db = test_db().await;
    {
        let db = connect(&test_db).await;
        remedy::db::migrate(&db).await.unwrap();
        remedy::seed::load_demo(&db).await.unwrap();
    }
    let a = serve_binary(&test_db, &[]).await;
    let b = serve_binary(&test_db, &[]).await;
    let mut ws = ws_connect(&a.base, &a.token).await;
    subscribe(&mut ws, "m", MEASURE_CHANGED, json!({})).await;
    let (id, mut version, _) = measures(&b.base, &b.token).await.remove(0);
    // A's listener may still be starting: change again until A hears (at most 5 times).
    for attempt in 0..5 {
        let title = format!("Changed through B #{attempt}");
        retitle(&b.base, &b.token, &id, version, &title).await;
        version += 1;
        if let Some(heard) = next(&mut ws, Duration::from_secs(3)).await {
            assert_eq!(heard["type"], "next", "{heard}");
            assert_eq!(
                heard["payload"]["data"]["measureChanged"]["id"],
                id.as_str()
            );
            assert_eq!(heard["payload"]["data"]["measureChanged"]["title"], title);
            return;
        }
    }
    panic!("the subscriber on A never heard the changes made through B");
}

/// A subscription lives no longer than its token: once revoked, the stream ends and later
/// changes are not delivered; an evaluator's deliveries are in the access log.
#[tokio::test]
async fn a_revoked_token_stops_hearing_and_evaluator_deliveries_are_logged() {
    let app = spawn_demo_app().await;
    let evaluator = app.token(remedy::auth::Role::Evaluator, &[METI]).await;
    let meti = order_id(&app, METI).await;
    let mut ws = ws_connect(&app.address, &evaluator).await;
    subscribe(&mut ws, "m", MEASURE_CHANGED, json!({ "o": meti })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = measures(&app.address, &app.admin_token).await;
    let (id, version, _) = all
        .iter()
        .find(|m| m.2.contains(&METI.to_string()))
        .unwrap()
        .clone();
    let logged_before = entity::prelude::AccessLog::find()
        .filter(entity::access_log::Column::Operation.eq("subscription"))
        .count(&app.db)
        .await
        .unwrap();
    retitle(
        &app.address,
        &app.admin_token,
        &id,
        version,
        "heard while valid",
    )
    .await;
    let heard = next(&mut ws, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        heard["payload"]["data"]["measureChanged"]["title"], "heard while valid",
        "{heard}"
    );
    let logged_after = entity::prelude::AccessLog::find()
        .filter(entity::access_log::Column::Operation.eq("subscription"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(logged_after, logged_before + 1);
    // Revoke the evaluator's token: the next change ends its subscription instead of reaching it.
    let jti = jti_of(&evaluator);
    app.query_ok(
        "mutation($j: String!) { revokeToken(jti: $j) { revoked } }",
        json!({ "j": jti }),
    )
    .await;
    retitle(
        &app.address,
        &app.admin_token,
        &id,
        version + 1,
        "after revocation",
    )
    .await;
    let after = next(&mut ws, Duration::from_secs(5)).await;
    assert!(
        after.as_ref().is_none_or(|v| v["type"] == "complete"),
        "a revoked token still hears: {after:?}"
    );
}
