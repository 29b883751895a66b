//! Security at the seams: every transport and every path under the same controls. One
//! regression test per finding of the seams audit, over the real transports (a raw TCP
//! WebSocket client for the frame tests, the real binary where memory is measured).
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use remedy::auth::Role;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::auth::{matrix, ALL};
use crate::helpers::*;
use crate::live::{subscribe, ws_connect, ws_open, Ws};
use crate::ops::{serve_binary_with, Served};

const METI: &str = "METI-2022-06-30";

/// What came next on a socket: a protocol message, or its close (code, reason).
#[derive(Debug)]
enum Event {
    Message(Value),
    Closed(Option<(u16, String)>),
    Silent,
}

async fn event(ws: &mut Ws, wait: Duration) -> Event {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Event::Silent,
            Ok(None) => return Event::Closed(None),
            Ok(Some(Err(_))) => return Event::Closed(None),
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ping" {
                    let _ = ws
                        .send(Message::text(json!({"type": "pong"}).to_string()))
                        .await;
                    continue;
                }
                return Event::Message(v);
            }
            Message::Close(frame) => {
                return Event::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
            }
            _ => continue,
        }
    }
}

/// Waits for the socket to close and returns its close code.
async fn close_code(ws: &mut Ws, wait: Duration) -> Option<u16> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match event(ws, deadline - Instant::now()).await {
            Event::Closed(c) => return c.map(|(code, _)| code),
            Event::Silent => return None,
            Event::Message(_) => continue,
        }
    }
    None
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// Runs one operation over an open socket and returns its `next` payload, or the `error`
/// message's errors wrapped as `{"errors": [...]}`.
pub(crate) async fn ws_op(ws: &mut Ws, id: &str, query: &str, variables: Value) -> Value {
    subscribe(ws, id, query, variables).await;
    loop {
        match event(ws, Duration::from_secs(20)).await {
            Event::Message(m) if m["id"] == id && m["type"] == "next" => {
                let payload = m["payload"].clone();
                // The `complete` that follows.
                let _ = event(ws, Duration::from_secs(5)).await;
                return payload;
            }
            Event::Message(m) if m["id"] == id && m["type"] == "error" => {
                return json!({ "errors": m["payload"] })
            }
            Event::Message(_) => continue,
            other => panic!("no answer to {id}: {other:?}"),
        }
    }
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib / 1024.0
}

/// Tests that measure a server's memory run one at a time (each against its own process),
/// so that a burst of another test does not starve the one being measured.
static MEASURED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn served_demo(env: &[(&str, &str)]) -> (TestDb, Served) {
    let test_db = test_db().await;
    let served = serve_binary_with(&test_db, true, env).await;
    // Warm up (first requests allocate the worker's buffers and the pool's connections).
    let client = reqwest::Client::new();
    for _ in 0..5 {
        client
            .post(format!("{}/graphql", served.base))
            .bearer_auth(&served.token)
            .json(&json!({ "query": "{ orders { nodes { reference findings { nodes { number } } } } }" }))
            .send()
            .await
            .unwrap();
    }
    (test_db, served)
}

// ---------------------------------------------------------------- tokens on open sockets

/// A revoked ADMIN token used its open socket to issue itself a new ADMIN token. Now the
/// revocation closes the socket (4403) at once, and nothing runs on it afterwards.
#[tokio::test]
async fn a_revoked_token_loses_its_open_socket_at_once() {
    let app = spawn_demo_app().await;
    let victim = app.token(Role::Admin, &[]).await;
    let mut ws = ws_connect(&app.address, &victim).await;
    let data = ws_op(&mut ws, "1", "{ orders { totalCount } }", json!({})).await;
    assert_eq!(data["data"]["orders"]["totalCount"], 2, "{data}");
    app.query_ok(
        "mutation($j: String!) { revokeToken(jti: $j) { revoked } }",
        json!({ "j": jti_of(&victim) }),
    )
    .await;
    let started = Instant::now();
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(4403)
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // A second socket with the revoked token is refused at connection_init.
    let mut again = ws_open(&app.address, Some(&victim)).await;
    assert_eq!(
        close_code(&mut again, Duration::from_secs(5)).await,
        Some(4403)
    );
    let tokens = app.query_ok("{ tokens { subject } }", json!({})).await;
    assert_eq!(
        tokens["tokens"].as_array().unwrap().len(),
        2,
        "no token was issued through the revoked socket: {tokens}"
    );
}

/// A revocation that bypasses the API's event (another process on SQLite, a database
/// restore) is seen before the next operation and by the periodic check.
#[tokio::test]
async fn a_token_revoked_behind_the_servers_back_runs_nothing_more() {
    let app = spawn_demo_app_configured(|c| c.ws_recheck_seconds = 1).await;
    let victim = app.token(Role::Admin, &[]).await;
    let mut ws = ws_connect(&app.address, &victim).await;
    let mut quiet = ws_connect(&app.address, &victim).await;
    remedy::service::tokens::revoke(
        &app.db,
        &app.gate,
        &jti_of(&victim),
        &remedy::service::tokens::Issuer::operator("test"),
    )
    .await
    .unwrap();
    // The next operation is refused and the socket closes.
    subscribe(
        &mut ws,
        "esc",
        "mutation { issueToken(input: {subject: \"me\", roles: [ADMIN], ttl: \"366d\"}) { token } }",
        json!({}),
    )
    .await;
    match event(&mut ws, Duration::from_secs(5)).await {
        Event::Message(m) => {
            assert_eq!(m["type"], "error", "{m}");
            assert_eq!(m["payload"][0]["extensions"]["code"], "UNAUTHENTICATED");
            assert_eq!(
                close_code(&mut ws, Duration::from_secs(5)).await,
                Some(4403)
            );
        }
        Event::Closed(c) => assert_eq!(c.map(|c| c.0), Some(4403)),
        Event::Silent => panic!("no answer after revocation"),
    }
    // The idle socket closes at the periodic check.
    assert_eq!(
        close_code(&mut quiet, Duration::from_secs(5)).await,
        Some(4403)
    );
    let tokens = app.query_ok("{ tokens { subject } }", json!({})).await;
    assert!(!tokens.to_string().contains("\"me\""), "{tokens}");
}

/// A 40-second token still answered after 75 s. Now its socket closes when it expires.
#[tokio::test]
async fn a_socket_closes_when_its_token_expires() {
    let app = spawn_demo_app().await;
    let mut claims = claims_for("short-lived", &[Role::Viewer]);
    claims.exp = chrono::Utc::now().timestamp() + 3;
    let token = app.keys.sign(&claims).unwrap();
    let mut ws = ws_connect(&app.address, &token).await;
    subscribe(
        &mut ws,
        "s",
        "subscription { measureChanged { id } }",
        json!({}),
    )
    .await;
    let started = Instant::now();
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(10)).await,
        Some(4403)
    );
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_secs(1) && waited < Duration::from_secs(6),
        "closed after {waited:?}"
    );
}

// ---------------------------------------------------------------- the WebSocket protocol

/// Sends a raw, masked client frame.
async fn raw_frame(
    out: &mut tokio::net::tcp::OwnedWriteHalf,
    opcode: u8,
    fin: bool,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(if fin { 0x80 } else { 0 } | opcode);
    let len = payload.len();
    if len < 126 {
        frame.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        frame.push(0x80 | 127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out.write_all(&frame).await
}

/// Opens `/graphql/ws` over plain TCP and returns the socket after the 101.
async fn raw_ws(base: &str) -> tokio::net::TcpStream {
    let host = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!(
        "GET /graphql/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// A text frame with FIN=0 followed by continuation frames, without any connection_init,
/// was buffered without bound (600 MiB in 5 s; 33 → 1,118 MiB). Now the reassembled message
/// is capped before it is buffered: the socket closes with 1009 and memory stays flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_fragmented_flood_is_cut_off_with_memory_flat() {
    let _one_at_a_time = MEASURED.lock().await;
    let (_db, served) = served_demo(&[]).await;
    let pid = served.child.id().unwrap();
    let before = rss_mib(pid);
    let tcp = raw_ws(&served.base).await;
    let (mut read, mut write) = tcp.into_split();
    let reader = tokio::spawn(async move {
        // The server's frames until its close frame: returns the close code.
        let mut got: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            // Whole frames at the front of `got` (server frames are unmasked, short here).
            while got.len() >= 2 {
                let len = (got[1] & 0x7f) as usize;
                if got.len() < 2 + len {
                    break;
                }
                if got[0] & 0x0f == 0x8 {
                    return (len >= 2).then(|| u16::from_be_bytes([got[2], got[3]]));
                }
                got.drain(..2 + len);
            }
            match tokio::time::timeout_at(deadline, read.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => return None,
            }
        }
    });
    let chunk = vec![b'a'; 64 * 1024];
    let started = Instant::now();
    let mut sent = 0usize;
    let mut first = true;
    while sent < 600 * 1024 * 1024 && started.elapsed() < Duration::from_secs(10) {
        let opcode = if first { 1 } else { 0 };
        first = false;
        if raw_frame(&mut write, opcode, false, &chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
        if reader.is_finished() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        reader.await.unwrap(),
        Some(1009),
        "the server's close after {sent} bytes"
    );
    let after = rss_mib(pid);
    assert!(
        after - before < 64.0,
        "the server grew from {before:.0} to {after:.0} MiB"
    );
    // Still serving.
    let health = reqwest::get(format!("{}/healthz", served.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// One frame larger than the message limit is refused from its header.
#[tokio::test]
async fn a_frame_larger_than_the_limit_is_refused_from_its_header() {
    let app = spawn_demo_app_configured(|c| c.max_body_bytes = 64 * 1024).await;
    let tcp = raw_ws(&app.address).await;
    let (mut read, mut write) = tcp.into_split();
    let _ = raw_frame(&mut write, 1, true, &vec![b'{'; 70 * 1024]).await;
    let mut buf = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), read.read_exact(&mut buf))
        .await
        .expect("an answer")
        .expect("a close frame");
    assert_eq!(buf[0], 0x88);
    assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 1009);
}

/// graphql-ws close codes: 4408 without connection_init in time, 4401 for subscribe before
/// it, 4429 for a second one, 4409 for a reused id, 4400 for a malformed message, 4403 for
/// a refused token.
#[tokio::test]
async fn protocol_violations_close_with_the_graphql_ws_codes() {
    let app = spawn_demo_app_configured(|c| c.ws_init_timeout_seconds = 1).await;
    let url = format!("{}/graphql/ws", app.address.replacen("http://", "ws://", 1));
    let open = || async {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = url.clone().into_client_request().unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        tokio_tungstenite::connect_async(req).await.unwrap().0
    };
    // No connection_init.
    let mut ws = open().await;
    let started = Instant::now();
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(4408)
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // subscribe before connection_init.
    let mut ws = open().await;
    subscribe(&mut ws, "1", "{ orders { totalCount } }", json!({})).await;
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(4401)
    );
    // A second connection_init.
    let mut ws = ws_connect(&app.address, &app.admin_token).await;
    send(&mut ws, json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(4429)
    );
    // A reused id while its subscription runs.
    let mut ws = ws_connect(&app.address, &app.admin_token).await;
    subscribe(
        &mut ws,
        "dup",
        "subscription { measureChanged { id } }",
        json!({}),
    )
    .await;
    subscribe(
        &mut ws,
        "dup",
        "subscription { measureChanged { id } }",
        json!({}),
    )
    .await;
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(4409)
    );
    // Malformed messages.
    for bad in [
        json!({ "type": "subscribe" }),
        json!({ "type": "nonsense" }),
        json!([1, 2]),
    ] {
        let mut ws = ws_connect(&app.address, &app.admin_token).await;
        send(&mut ws, bad.clone()).await;
        assert_eq!(
            close_code(&mut ws, Duration::from_secs(5)).await,
            Some(4400),
            "{bad}"
        );
    }
    // No token, a forged token.
    for token in [None, Some("not-a-jwt")] {
        let mut ws = ws_open(&app.address, token).await;
        assert_eq!(
            close_code(&mut ws, Duration::from_secs(5)).await,
            Some(4403)
        );
    }
}

/// One socket held 5,000 subscriptions. Now a connection runs at most
/// REMEDY_WS_MAX_OPERATIONS at once, and a subject holds at most
/// REMEDY_WS_MAX_SOCKETS_PER_SUBJECT sockets.
#[tokio::test]
async fn operations_per_socket_and_sockets_per_subject_are_capped() {
    let app = spawn_demo_app_configured(|c| {
        c.ws_max_operations = 3;
        c.ws_max_sockets_per_subject = 2;
    })
    .await;
    let viewer = app.token(Role::Viewer, &[]).await;
    let mut ws = ws_connect(&app.address, &viewer).await;
    for id in ["a", "b", "c"] {
        subscribe(
            &mut ws,
            id,
            "subscription { measureChanged { id } }",
            json!({}),
        )
        .await;
    }
    subscribe(
        &mut ws,
        "d",
        "subscription { measureChanged { id } }",
        json!({}),
    )
    .await;
    match event(&mut ws, Duration::from_secs(5)).await {
        Event::Message(m) => {
            assert_eq!(m["id"], "d", "{m}");
            assert_eq!(m["type"], "error", "{m}");
            assert_eq!(m["payload"][0]["extensions"]["code"], "TOO_MANY_OPERATIONS");
        }
        other => panic!("expected an error for the fourth: {other:?}"),
    }
    // Completing one makes room.
    send(&mut ws, json!({ "id": "a", "type": "complete" })).await;
    let data = ws_op(&mut ws, "e", "{ orders { totalCount } }", json!({})).await;
    assert_eq!(data["data"]["orders"]["totalCount"], 2, "{data}");
    // A second socket is fine, a third is refused.
    let _second = ws_connect(&app.address, &viewer).await;
    let mut third = ws_open(&app.address, Some(&viewer)).await;
    assert_eq!(
        close_code(&mut third, Duration::from_secs(5)).await,
        Some(4403)
    );
    // Another subject is not affected.
    let _other = ws_connect(&app.address, &app.admin_token).await;
    // Closing a socket gives its place back.
    ws.close(None).await.unwrap();
    drop(ws);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _again = ws_connect(&app.address, &viewer).await;
}

// ---------------------------------------------------------------- one pipeline

/// Operations over WebSocket skipped the alias/field limits, the rate limit and the
/// evaluator access log. Now they pass the same pipeline as HTTP.
#[tokio::test]
async fn operations_over_websocket_pass_the_same_limits_and_log() {
    let app = spawn_demo_app_configured(|c| c.rate_limit_per_minute = 8).await;
    let evaluator = app.token(Role::Evaluator, &[METI]).await;
    let mut ws = ws_connect(&app.address, &evaluator).await;
    // Access log: an evaluator's read over WS is recorded with its operation name.
    let data = ws_op(
        &mut ws,
        "read",
        "query EvaluatorReads { orders { nodes { reference } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        data["data"]["orders"]["nodes"][0]["reference"], METI,
        "{data}"
    );
    let meti = app
        .query_ok(
            &format!("{{ orderByReference(reference: \"{METI}\") {{ id }} }}"),
            json!({}),
        )
        .await["orderByReference"]["id"]
        .clone();
    let log = app
        .query_ok(
            "{ accessLog { nodes { subject operation orderId } } }",
            json!({}),
        )
        .await;
    assert!(
        log["accessLog"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["operation"] == "EvaluatorReads" && n["orderId"] == meti),
        "{log}"
    );
    // Aliases.
    let aliased: String = (0..60)
        .map(|i| format!("a{i}: orders {{ totalCount }} "))
        .collect();
    let res = ws_op(&mut ws, "alias", &format!("{{ {aliased} }}"), json!({})).await;
    assert_eq!(error_codes(&res), ["VALIDATION"], "{res}");
    // The fragment bomb, refused before validation.
    let started = Instant::now();
    let res = ws_op(&mut ws, "bomb", &fragment_bomb(26), json!({})).await;
    assert_eq!(error_codes(&res), ["QUERY_TOO_COMPLEX"], "{res}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // The rate limit counts WebSocket operations too.
    let mut limited = false;
    for i in 0..10 {
        let res = ws_op(
            &mut ws,
            &format!("r{i}"),
            "{ orders { totalCount } }",
            json!({}),
        )
        .await;
        if error_codes(&res) == ["RATE_LIMITED"] {
            limited = true;
            break;
        }
    }
    assert!(limited, "no RATE_LIMITED over WebSocket");
}

fn fragment_bomb(levels: usize) -> String {
    let mut q =
        format!("query {{ ...F{levels} }} fragment F0 on Query {{ orders {{ totalCount }} }}");
    for i in 1..=levels {
        q.push_str(&format!(
            " fragment F{i} on Query {{ ...F{p} ...F{p} }}",
            p = i - 1
        ));
    }
    q
}

/// A 1 KiB document of fragments that double each other cost 24 s of CPU before it was
/// refused; two at once stalled every client. Now it is refused in milliseconds.
#[tokio::test]
async fn fragments_that_double_each_other_are_refused_in_milliseconds() {
    let app = spawn_demo_app().await;
    let bomb = fragment_bomb(26);
    assert!(bomb.len() < 2048);
    let started = Instant::now();
    let (a, b) = tokio::join!(app.graphql(&bomb, json!({})), app.graphql(&bomb, json!({})));
    let took = started.elapsed();
    for (status, body) in [a, b] {
        assert_eq!(status, 400, "{body}");
        assert_eq!(error_codes(&body), ["QUERY_TOO_COMPLEX"], "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("REMEDY_MAX_EXPANDED_FIELDS"),
            "{body}"
        );
    }
    assert!(took < Duration::from_secs(1), "took {took:?}");
    // Fragments used a few times, as real clients do, still work.
    let fine = "query { ...O ...O } fragment O on Query { orders { nodes { ...R } } } fragment R on Order { reference title }";
    app.query_ok(fine, json!({})).await;
}

/// The persisted-query cache kept documents that failed the limits: 20 refused 450k-field
/// documents took RSS from 131 MiB to 2.2 GiB. Now only documents that passed every limit
/// are kept, the cache is bounded by bytes, and the server's memory stays flat.
#[tokio::test]
async fn persisted_queries_keep_only_documents_that_passed_every_limit() {
    let _one_at_a_time = MEASURED.lock().await;
    let (_db, served) = served_demo(&[]).await;
    let client = reqwest::Client::new();
    let post = |body: Value| {
        let req = client
            .post(format!("{}/graphql", served.base))
            .bearer_auth(&served.token)
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let pq = |query: &str| json!({ "persistedQuery": { "version": 1, "sha256Hash": remedy::service::plan::sha256_hex(query.as_bytes()) } });
    // Refused by a limit at preparation (too many tokens, fields), by validation (depth,
    // an unknown field): never registered.
    let huge = format!("{{ {} }}", "__typename ".repeat(90_000));
    let deep = "{ regulators { nodes { orders { nodes { findings { nodes { measures { nodes { findings { nodes { measures { nodes { findings { nodes { number } } } } } } } } } } } } } } }".to_string();
    for (query, codes) in [
        (huge.as_str(), &["VALIDATION"][..]),
        (deep.as_str(), &["QUERY_TOO_DEEP", "QUERY_TOO_COMPLEX"][..]),
        ("{ noSuchField }", &["VALIDATION"][..]),
    ] {
        let (_, body) = post(json!({ "query": query, "extensions": pq(query) })).await;
        let got = error_codes(&body);
        assert!(
            got.len() == 1 && codes.contains(&got[0].as_str()),
            "{}",
            body.to_string().chars().take(300).collect::<String>()
        );
        let (status, body) = post(json!({ "extensions": pq(query) })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_FOUND"], "{body}");
    }
    // A good document is registered and then answers by hash.
    let good = "{ orders { totalCount } }";
    let (_, body) = post(json!({ "query": good, "extensions": pq(good) })).await;
    assert_eq!(body["data"]["orders"]["totalCount"], 2, "{body}");
    let (_, body) = post(json!({ "extensions": pq(good) })).await;
    assert_eq!(body["data"]["orders"]["totalCount"], 2, "{body}");
    // Memory: twenty of the huge refused documents leave the server's memory flat.
    let pid = served.child.id().unwrap();
    let before = rss_mib(pid);
    for _ in 0..20 {
        let (status, _) = post(json!({ "query": huge, "extensions": pq(&huge) })).await;
        assert_eq!(status, 400);
    }
    let after = rss_mib(pid);
    assert!(after - before < 48.0, "{before:.0} -> {after:.0} MiB");
}

/// 40 concurrent 25 MiB uploads from an EVALUATOR (refused at the end) peaked at 1.4 GiB.
/// Now a caller without evidence:write is refused before a byte of the body is read.
#[tokio::test]
async fn uploads_are_refused_before_the_body_is_read() {
    let _one_at_a_time = MEASURED.lock().await;
    let (test_db, served) = served_demo(&[]).await;
    let pid = served.child.id().unwrap();
    let db = connect(&test_db).await;
    let keys =
        remedy::auth::jwt::Keys::from_config(&remedy::config::AuthConfig::with_secret(TEST_SECRET))
            .unwrap();
    let meti = remedy::service::tokens::resolve_order(&db, METI)
        .await
        .unwrap();
    let gate = remedy::service::write::WriteGate::for_backend(
        sea_orm::ConnectionTrait::get_database_backend(&db),
    );
    let evaluator = issue(&db, &gate, &keys, "committee", &[Role::Evaluator], &[meti]).await;
    let before = rss_mib(pid);
    let big = actix_web::web::Bytes::from(vec![b'x'; 25 * 1024 * 1024]);
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..40 {
        let (base, token, bytes) = (served.base.clone(), evaluator.clone(), big.clone());
        tasks.push(tokio::spawn(async move {
            let operations = json!({ "query": "mutation($f: Upload!) { uploadEvidence(input: {measureId: \"x\", kind: OTHER, title: \"t\"}, file: $f) { id } }", "variables": { "f": null } });
            let form = reqwest::multipart::Form::new()
                .text("operations", operations.to_string())
                .text("map", json!({ "0": ["variables.f"] }).to_string())
                .part(
                    "0",
                    reqwest::multipart::Part::stream_with_length(
                        reqwest::Body::from(bytes.clone()),
                        bytes.len() as u64,
                    )
                    .file_name("x.bin"),
                );
            let res = reqwest::Client::new()
                .post(format!("{base}/graphql"))
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await;
            match res {
                Ok(r) => Some(r.json::<Value>().await.unwrap()),
                // The server answered and closed without reading the rest.
                Err(_) => None,
            }
        }));
    }
    let mut refused = 0;
    for t in tasks {
        if let Some(body) = t.await.unwrap() {
            assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
            refused += 1;
        }
    }
    assert!(refused > 0, "no answer at all");
    let after = rss_mib(pid);
    eprintln!("40 refused 25 MiB uploads: {before:.0} -> {after:.0} MiB");
    assert!(after - before < 64.0, "{before:.0} -> {after:.0} MiB");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Allowed uploads are processed a few at a time and streamed to temporary files.
#[tokio::test]
async fn concurrent_uploads_are_bounded_in_memory() {
    let _one_at_a_time = MEASURED.lock().await;
    // Twelve uploads queue for one slot: on a loaded machine the last waits longer than the
    // default 30-second request limit, which is not what this test measures.
    let (test_db, served) = served_demo(&[
        ("REMEDY_MAX_CONCURRENT_UPLOADS", "1"),
        ("REMEDY_REQUEST_TIMEOUT_SECONDS", "300"),
    ])
    .await;
    let pid = served.child.id().unwrap();
    let db = connect(&test_db).await;
    use sea_orm::EntityTrait;
    let measure = entity::measure::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let measure_id = remedy::id::encode("Measure", measure.id).0;
    let before = rss_mib(pid);
    let mut tasks = Vec::new();
    for i in 0..12u8 {
        let (base, token, mid) = (
            served.base.clone(),
            served.token.clone(),
            measure_id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let operations = json!({ "query": "mutation($m: ID!, $f: Upload!) { uploadEvidence(input: {measureId: $m, kind: OTHER, title: \"bulk\"}, file: $f) { id sha256 } }", "variables": { "m": mid, "f": null } });
            // On a loaded machine the kernel may time a queued connection out before the
            // server reads it (os error 110): that connection is tried again, as a client
            // would; what is measured is the server's memory, not the machine's backlog.
            let mut tries = 0;
            loop {
                tries += 1;
                let form = reqwest::multipart::Form::new()
                    .text("operations", operations.to_string())
                    .text("map", json!({ "0": ["variables.f"] }).to_string())
                    .part(
                        "0",
                        reqwest::multipart::Part::bytes(vec![i; 20 * 1024 * 1024])
                            .file_name("x.bin"),
                    );
                match reqwest::Client::new()
                    .post(format!("{base}/graphql"))
                    .bearer_auth(&token)
                    .multipart(form)
                    .send()
                    .await
                {
                    Ok(res) => break res.json::<Value>().await.unwrap(),
                    Err(e) if tries < 3 && (e.is_connect() || e.is_request()) => {
                        eprintln!("upload {i}: {e}; trying again");
                    }
                    Err(e) => panic!("upload {i}: {e}"),
                }
            }
        }));
    }
    let mut peak = before;
    let mut done = 0;
    while done < tasks.len() {
        peak = peak.max(rss_mib(pid));
        done = tasks.iter().filter(|t| t.is_finished()).count();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for t in tasks {
        let body = t.await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
    }
    // Twelve 20 MiB uploads at once, one processed at a time: well under what holding them
    // all would take: one upload at a time peaks at 250-310 MiB above idle (measured on both
    // backends: the bytes are read, hashed, bound to the INSERT and written), twelve at once
    // would need several GiB.
    eprintln!("twelve 20 MiB uploads, one at a time: {before:.0} -> peak {peak:.0} MiB");
    assert!(peak - before < 450.0, "{before:.0} -> peak {peak:.0} MiB");
}

// ---------------------------------------------------------------- role matrix over WebSocket

/// Every query root and mutation (the HTTP matrix, `uploadEvidence` and `importPlan` aside: a
/// file cannot travel over WebSocket) and every subscription root, over WebSocket, for every role.
#[tokio::test]
async fn role_matrix_over_websocket() {
    let app = spawn_demo_app().await;
    let table = matrix();
    for role in ALL {
        let scope: &[&str] = if role == Role::Evaluator {
            &[METI]
        } else {
            &[]
        };
        let token = app.token(role, scope).await;
        let mut ws = ws_connect(&app.address, &token).await;
        for (i, (name, query, allowed)) in table.iter().enumerate() {
            if *name == "uploadEvidence" || *name == "importPlan" {
                continue;
            }
            let res = ws_op(&mut ws, &format!("op{i}"), query, json!({})).await;
            let codes = error_codes(&res);
            if allowed.contains(&role) {
                assert!(
                    !codes.contains(&"FORBIDDEN".to_string()),
                    "{role:?} may call {name} over WebSocket: {res}"
                );
            } else {
                assert_eq!(
                    codes,
                    ["FORBIDDEN"],
                    "{role:?} must not call {name} over WebSocket: {res}"
                );
            }
        }
        // Every role reads the plan, so every subscription root starts (and says nothing).
        for (i, sub) in [
            "subscription { measureChanged { id } }",
            "subscription { reportChanged { id } }",
        ]
        .iter()
        .enumerate()
        {
            let id = format!("sub{i}");
            subscribe(&mut ws, &id, sub, json!({})).await;
            match event(&mut ws, Duration::from_millis(400)).await {
                Event::Silent => {}
                other => panic!("{role:?} {sub}: {other:?}"),
            }
            send(&mut ws, json!({ "id": id, "type": "complete" })).await;
        }
    }
    // A token whose scope leaves out plan:read may not subscribe.
    let mut claims = claims_for("audit-only", &[Role::Admin]);
    claims.scope = "audit:read".into();
    let token = app.keys.sign(&claims).unwrap();
    let mut ws = ws_connect(&app.address, &token).await;
    for (i, sub) in [
        "subscription { measureChanged { id } }",
        "subscription { reportChanged { id } }",
    ]
    .iter()
    .enumerate()
    {
        let res = ws_op(&mut ws, &format!("s{i}"), sub, json!({})).await;
        assert_eq!(error_codes(&res), ["FORBIDDEN"], "{res}");
    }
    // The subscription roots are all covered.
    let data = app
        .query_ok(
            "{ __schema { subscriptionType { fields { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["__schema"]["subscriptionType"]["fields"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "a new subscription root needs its row here"
    );
}

// ---------------------------------------------------------------- fuzzing

/// Random protocol messages, garbage frames and random documents over WebSocket never
/// crash the server, never answer with an internal error, and leave it serving.
#[tokio::test]
async fn fuzzed_websocket_traffic_never_breaks_the_server() {
    use rand::{Rng, SeedableRng};
    let app = spawn_demo_app().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(4408);
    let types = [
        "connection_init",
        "subscribe",
        "complete",
        "ping",
        "pong",
        "next",
        "error",
        "",
        "SUBSCRIBE",
    ];
    let queries = [
        "{ orders { totalCount } }",
        "subscription { measureChanged { id } }",
        "mutation { createRegulator(input: {code: \"F\", name: \"f\", kind: OTHER}) { id } }",
        "{ node(id: \"x\") { id } }",
        "{",
        "query { ...F } fragment F on Query { ...F }",
        "",
    ];
    for round in 0..40 {
        let mut ws = ws_connect(&app.address, &app.admin_token).await;
        for _ in 0..rng.gen_range(1..8) {
            let msg = match rng.gen_range(0..6) {
                0 => Message::text(
                    (0..rng.gen_range(0..64))
                        .map(|_| rng.gen_range(32u8..127) as char)
                        .collect::<String>(),
                ),
                1 => Message::binary(vec![rng.gen::<u8>(); rng.gen_range(0..32)]),
                2 => Message::Ping(vec![1, 2, 3].into()),
                _ => {
                    let mut v = json!({
                        "type": types[rng.gen_range(0..types.len())],
                        "id": if rng.gen_bool(0.8) { json!(format!("{}", rng.gen_range(0..4))) } else { json!(rng.gen::<i32>()) },
                        "payload": { "query": queries[rng.gen_range(0..queries.len())], "variables": if rng.gen_bool(0.5) { json!({}) } else { json!([1]) } },
                    });
                    if rng.gen_bool(0.2) {
                        v["payload"] = json!(rng.gen::<u32>());
                    }
                    Message::text(v.to_string())
                }
            };
            if ws.send(msg).await.is_err() {
                break;
            }
        }
        // Whatever came back is a protocol message or a close with a protocol code.
        loop {
            match event(&mut ws, Duration::from_millis(200)).await {
                Event::Message(m) => {
                    assert!(
                        ["next", "error", "complete", "pong"]
                            .contains(&m["type"].as_str().unwrap_or("")),
                        "round {round}: {m}"
                    );
                    assert!(!m.to_string().contains("INTERNAL"), "round {round}: {m}");
                }
                Event::Closed(Some((code, _))) => {
                    assert!(
                        [1000, 1002, 1009, 4400, 4401, 4409, 4429].contains(&code),
                        "round {round}: close {code}"
                    );
                    break;
                }
                Event::Closed(None) | Event::Silent => break,
            }
        }
    }
    // Still serving, over both transports.
    let mut ws = ws_connect(&app.address, &app.admin_token).await;
    let data = ws_op(&mut ws, "after", "{ orders { totalCount } }", json!({})).await;
    assert_eq!(data["data"]["orders"]["totalCount"], 2, "{data}");
    app.query_ok("{ orders { totalCount } }", json!({})).await;
}
