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
    let res = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "/metrics needs no token");
    let ctype = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    res.text().await.unwrap()
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
async fn readyz_follows_the_database_going_away_and_coming_back() {
    let Ok(base) = std::env::var("REMEDY_TEST_DATABASE_URL") else {
        eprintln!("readyz_follows_the_database: PostgreSQL only (REMEDY_TEST_DATABASE_URL unset)");
        return;
    };
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
