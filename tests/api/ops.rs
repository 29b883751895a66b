//! Operations: `/metrics`, readiness when the database goes away, graceful shutdown.
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

use crate::helpers::*;

/// The value of one sample of a Prometheus text exposition (`name{labels}`), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

async fn metrics(app: &TestApp) -> String {
    app.metrics_at(&app.address).await
}

#[tokio::test]
async fn metrics_count_operations_outcomes_error_codes_pool_and_build() {
    let app = spawn_demo_app().await;
    for _ in 0..2 {
        app.query_ok(
            "query OpsProbe { regulators { nodes { code } } }",
            json!({}),
        )
        .await;
    }
    let (_, bad) = app
        .graphql("query OpsBroken { noSuchField }", json!({}))
        .await;
    assert_eq!(error_codes(&bad), ["VALIDATION"]);
    let (status, _) = app
        .graphql_as(
            None,
            "query OpsProbe { regulators { nodes { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 401);

    let text = metrics(&app).await;
    let ok = r#"remedy_graphql_requests_total{operation="OpsProbe",outcome="ok"}"#;
    assert_eq!(sample(&text, ok), Some(2.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"remedy_graphql_requests_total{operation="OpsBroken",outcome="VALIDATION"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"remedy_graphql_requests_total{operation="unknown",outcome="UNAUTHENTICATED"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"remedy_graphql_request_duration_seconds_count{operation="OpsProbe",outcome="ok"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"remedy_graphql_errors_total{code="VALIDATION"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"remedy_graphql_errors_total{code="UNAUTHENTICATED"}"#
        ),
        Some(1.0)
    );
    let in_use = sample(&text, r#"remedy_db_pool_connections{state="in_use"}"#).expect(&text);
    let idle = sample(&text, r#"remedy_db_pool_connections{state="idle"}"#).expect(&text);
    assert!(
        in_use >= 0.0 && idle >= 0.0 && in_use + idle >= 1.0,
        "pool: {in_use} in use, {idle} idle"
    );
    let build = format!(
        r#"remedy_build_info{{version="{}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&text, &build), Some(1.0), "{text}");
}

#[tokio::test]
async fn metrics_do_not_take_arbitrary_operation_names_as_labels() {
    let app = spawn_demo_app().await;
    let res = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.admin_token)
        .json(&json!({
            "query": "{ regulators { nodes { code } } }",
            "operationName": "x\"} 1\nevil{a=\"",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = metrics(&app).await;
    assert!(!text.contains("evil"), "{text}");
    assert!(
        text.contains(r#"remedy_graphql_requests_total{operation="other","#),
        "{text}"
    );
}

async fn status_of(app: &TestApp, path: &str) -> u16 {
    match app
        .client
        .get(format!("{}{path}", app.address))
        .timeout(Duration::from_secs(20))
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

async fn wait_for_status(app: &TestApp, path: &str, want: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = 0;
    while tokio::time::Instant::now() < deadline {
        last = status_of(app, path).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{path} answered {last}, not {want}, for 30 s");
}

/// PostgreSQL: the server's database refuses connections and its sessions are terminated,
/// `/readyz` answers 503 (and `/healthz` stays 200); once connections are allowed again,
/// `/readyz` answers 200. On SQLite the database is a file inside the process, which cannot
/// go away in the same sense, so this test only runs with `REMEDY_TEST_DATABASE_URL`.
#[tokio::test]
#[ignore = "PostgreSQL only: runs with REMEDY_TEST_DATABASE_URL set and -- --include-ignored"]
async fn readyz_follows_the_database_going_away_and_coming_back() {
    let base = postgres_only();
    let app = spawn_app().await;
    assert_eq!(status_of(&app, "/readyz").await, 200);
    let name = app._test_db.url.rsplit('/').next().unwrap().to_string();
    let admin = Database::connect(base.as_str()).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
        ))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .unwrap();
    wait_for_status(&app, "/readyz", 503).await;
    assert_eq!(
        status_of(&app, "/healthz").await,
        200,
        "the process is alive"
    );
    admin
        .execute_unprepared(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    wait_for_status(&app, "/readyz", 200).await;
    // And queries work again.
    app.query_ok("{ regulators { nodes { code } } }", json!({}))
        .await;
    admin.close().await.ok();
}

/// A transaction from outside the server that blocks its writes until dropped: on SQLite it
/// holds the database's write lock, on PostgreSQL an exclusive lock on the audit log, which
/// every mutation appends to.
pub struct WriteBlocker {
    txn: sea_orm::DatabaseTransaction,
    _conn: sea_orm::DatabaseConnection,
}

impl WriteBlocker {
    pub async fn hold(db: &TestDb) -> Self {
        use sea_orm::TransactionTrait;
        let conn = connect(db).await;
        let txn = conn.begin().await.unwrap();
        let sql = if db.url.starts_with("sqlite") {
            "CREATE TABLE ops_write_blocker (x INTEGER)"
        } else {
            "LOCK TABLE audit_event IN EXCLUSIVE MODE"
        };
        txn.execute_unprepared(sql).await.unwrap();
        Self { txn, _conn: conn }
    }

    pub async fn release(self) {
        self.txn.rollback().await.unwrap();
    }
}

const CREATE_REGULATOR: &str = "mutation OpsCreate($code: String!) { \
    createRegulator(input: { code: $code, name: \"Ops\", kind: MINISTRY }) { code } }";

#[tokio::test]
async fn a_request_past_its_timeout_answers_timeout_and_writes_nothing() {
    let app = spawn_demo_app_configured(|c| c.request_timeout_seconds = 1).await;
    let blocker = WriteBlocker::hold(&app._test_db).await;
    let started = std::time::Instant::now();
    let (status, body) = app
        .graphql(CREATE_REGULATOR, json!({ "code": "OPS1" }))
        .await;
    let took = started.elapsed();
    blocker.release().await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(error_codes(&body), ["TIMEOUT"], "{body}");
    assert!(
        took < Duration::from_secs(4),
        "answered after {took:?}, not at the 1 s limit"
    );
    // The timed-out mutation was rolled back; the same one succeeds now.
    let data = app
        .query_ok(CREATE_REGULATOR, json!({ "code": "OPS1" }))
        .await;
    assert_eq!(data["createRegulator"]["code"], "OPS1");
    let text = metrics(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"remedy_graphql_requests_total{operation="OpsCreate",outcome="TIMEOUT"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

/// Waits until `url` answers 200 (the binary is up).
async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("remedy serve at {base} did not become ready");
}

/// The real binary, on a fresh migrated database, with an ADMIN token for it.
pub struct Served {
    pub child: tokio::process::Child,
    pub base: String,
    pub token: String,
}

pub async fn serve_binary(test_db: &TestDb, env: &[(&str, &str)]) -> Served {
    serve_binary_with(test_db, false, env).await
}

/// The real binary, optionally over the demo plan.
pub async fn serve_binary_with(test_db: &TestDb, demo: bool, env: &[(&str, &str)]) -> Served {
    serve_binary_full(test_db, demo, env, false).await
}

/// The same, its standard error piped (`child.stderr`) when `capture_log` is set.
pub async fn serve_binary_full(
    test_db: &TestDb,
    demo: bool,
    env: &[(&str, &str)],
    capture_log: bool,
) -> Served {
    let db = connect(test_db).await;
    remedy::db::migrate(&db).await.unwrap();
    if demo {
        remedy::seed::load_demo(&db).await.expect("seed");
    }
    let keys =
        remedy::auth::jwt::Keys::from_config(&remedy::config::AuthConfig::with_secret(TEST_SECRET))
            .unwrap();
    // No server runs on this database yet: a gate of its own.
    let gate = remedy::service::write::WriteGate::for_backend(
        sea_orm::ConnectionTrait::get_database_backend(&db),
    );
    let token = issue(
        &db,
        &gate,
        &keys,
        "ops-admin",
        &[remedy::auth::Role::Admin],
        &[],
    )
    .await;
    db.close().await.ok();
    let port = free_port();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_remedy"));
    cmd.arg("serve")
        .env("REMEDY_DATABASE_URL", &test_db.url)
        .env("REMEDY_LISTEN", format!("127.0.0.1:{port}"))
        .env("REMEDY_WORKERS", "1")
        .env("REMEDY_JWT_SECRET", TEST_SECRET)
        .env_remove("REMEDY_JWT_JWKS")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(std::process::Stdio::null())
        .stderr(if capture_log {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn remedy serve");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::Client::new(), &base).await;
    Served { child, base, token }
}

/// SIGTERM while a mutation waits on the database: the server stops accepting connections,
/// the mutation still completes (200, written), and the process exits 0.
#[tokio::test]
async fn sigterm_lets_the_in_flight_request_finish_then_exits_zero() {
    let test_db = test_db().await;
    let mut served = serve_binary(&test_db, &[("REMEDY_SHUTDOWN_GRACE_SECONDS", "20")]).await;
    let blocker = WriteBlocker::hold(&test_db).await;
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn({
        let req = client
            .post(format!("{}/graphql", served.base))
            .bearer_auth(&served.token)
            .json(&json!({ "query": CREATE_REGULATOR, "variables": { "code": "SIGTERM" } }));
        async move {
            let res = req.send().await.expect("in-flight request answered");
            let status = res.status().as_u16();
            (status, res.json::<serde_json::Value>().await.unwrap())
        }
    });
    // Let the mutation reach the database and wait there.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!in_flight.is_finished(), "the mutation should be waiting");
    let pid = nix::unistd::Pid::from_raw(served.child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    // New connections are refused while the in-flight request is still running.
    let fresh = reqwest::Client::new()
        .get(format!("{}/healthz", served.base))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(fresh.is_err(), "still accepting after SIGTERM: {fresh:?}");
    assert!(!in_flight.is_finished());
    assert!(served.child.try_wait().unwrap().is_none(), "exited early");
    blocker.release().await;
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["createRegulator"]["code"], "SIGTERM");
    let exit = tokio::time::timeout(Duration::from_secs(15), served.child.wait())
        .await
        .expect("the process exits after the request")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    // The write is there.
    let db = connect(&test_db).await;
    let row = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS n FROM regulator WHERE code = 'SIGTERM'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
}

/// Spans received by the in-process OTLP/HTTP receiver.
type Received = std::sync::Arc<std::sync::Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>;

/// A minimal OTLP/HTTP receiver: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`.
async fn otlp_receiver() -> (String, Received) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    let received: Received = Default::default();
    let sink = received.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        let sink = sink.clone();
        App::new().route(
            "/v1/traces",
            web::post().to(move |body: web::Bytes| {
                let sink = sink.clone();
                async move {
                    let req = ExportTraceServiceRequest::decode(body.as_ref()).unwrap();
                    let mut spans = sink.lock().unwrap();
                    for rs in req.resource_spans {
                        for ss in rs.scope_spans {
                            spans.extend(ss.spans);
                        }
                    }
                    HttpResponse::Ok()
                        .content_type("application/x-protobuf")
                        .body(Vec::<u8>::new())
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://{addr}"), received)
}

/// One GraphQL request to the real binary, carrying a W3C `traceparent`: its spans reach the
/// OTLP receiver in that trace: the HTTP span under the caller's span, the operation span
/// under it, and resolver and database statement spans below.
#[tokio::test]
async fn spans_of_a_request_are_exported_over_otlp_under_its_traceparent() {
    let (endpoint, received) = otlp_receiver().await;
    let test_db = test_db().await;
    let served = serve_binary(
        &test_db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let res = reqwest::Client::new()
        .post(format!("{}/graphql", served.base))
        .bearer_auth(&served.token)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&json!({ "query": "query OpsTraced { regulators { nodes { code } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let spans: Vec<_> = received
            .lock()
            .unwrap()
            .iter()
            .filter(|s| hex::encode(&s.trace_id) == trace_id)
            .cloned()
            .collect();
        let http = spans
            .iter()
            .find(|s| s.name == "POST /graphql" && hex::encode(&s.parent_span_id) == caller_span);
        let op = http.and_then(|h| {
            spans
                .iter()
                .find(|s| s.name == "query OpsTraced" && s.parent_span_id == h.span_id)
        });
        let has_db = spans.iter().any(|s| s.name.starts_with("db SELECT"));
        let has_resolver = op.is_some_and(|op| {
            // async-graphql's spans sit under the operation span.
            spans.iter().any(|s| s.parent_span_id == op.span_id)
        });
        if let (Some(_), Some(op), true, true) = (http, op, has_db, has_resolver) {
            let attr = |k: &str| {
                op.attributes
                    .iter()
                    .find(|a| a.key == k)
                    .and_then(|a| a.value.as_ref())
                    .map(|v| format!("{:?}", v.value))
            };
            assert!(attr("graphql.operation.type")
                .unwrap()
                .contains("\"query\""));
            assert!(attr("graphql.operation.name")
                .unwrap()
                .contains("\"OpsTraced\""));
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let names: Vec<_> = spans
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        hex::encode(&s.span_id),
                        hex::encode(&s.parent_span_id),
                    )
                })
                .collect();
            panic!("spans of trace {trace_id} received: {names:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(served);
}
