//! Reliability under concurrency and database faults: nothing lost, nothing half-written.
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use entity::prelude::*;
use entity::*;
use remedy::id::encode;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, EntityTrait, QueryFilter, QueryOrder, Statement,
};
use serde_json::{json, Value};

use crate::helpers::*;

const UPDATE: &str = "mutation($id: ID!, $v: Int!, $t: String!) { updateMeasure(id: $id, version: $v, input: {title: $t}) { version title } }";
const READ: &str = "query($id: ID!) { node(id: $id) { ... on Measure { version } } }";

/// 32 clients send updates to a shared set of measures with the versions they read (200 each
/// in the issue; `REMEDY_STRESS_UPDATES` per client here, 20 by default for CI). Afterwards:
/// every accepted update is in the audit log exactly once, every version number was used
/// once, every refusal was a CONFLICT, the chain verifies, and replaying the log gives the
/// final state.
#[tokio::test]
async fn concurrent_clients_lose_nothing_and_overwrite_nothing() {
    let app = spawn_demo_app_configured(|c| {
        c.workers = 2;
        c.rate_limit_per_minute = 0;
    })
    .await;
    let per_client: usize = std::env::var("REMEDY_STRESS_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let targets: Vec<measure::Model> = Measure::find()
        .order_by_asc(measure::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .take(4)
        .collect();
    let ids: Vec<String> = targets.iter().map(|m| encode("Measure", m.id).0).collect();
    let mut tasks = Vec::new();
    for client in 0..32 {
        let http = app.client.clone();
        let url = format!("{}/graphql", app.address);
        let token = app.admin_token.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            let mut refused = Vec::new();
            for j in 0..per_client {
                let id = &ids[(client + j) % ids.len()];
                let read: Value = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"query": READ, "variables": {"id": id}}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let v = read["data"]["node"]["version"].as_i64().expect("version");
                let title = format!("client {client} update {j}");
                let body: Value = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"query": UPDATE, "variables": {"id": id, "v": v, "t": title}}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                match error_codes(&body).as_slice() {
                    [] => accepted.push((
                        id.clone(),
                        body["data"]["updateMeasure"]["version"].as_i64().unwrap(),
                        title,
                    )),
                    codes => refused.push(codes.join(",")),
                }
            }
            (accepted, refused)
        }));
    }
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for t in tasks {
        let (a, r) = t.await.unwrap();
        accepted.extend(a);
        refused.extend(r);
    }
    assert_eq!(accepted.len() + refused.len(), 32 * per_client);
    assert!(
        refused.iter().all(|c| c == "CONFLICT"),
        "refusals other than CONFLICT: {:?}",
        refused
            .iter()
            .filter(|c| *c != "CONFLICT")
            .collect::<Vec<_>>()
    );
    assert!(!accepted.is_empty());

    for m in &targets {
        let gid = encode("Measure", m.id).0;
        let mine: Vec<&(String, i64, String)> = accepted.iter().filter(|a| a.0 == gid).collect();
        // Every version number used once: 2, 3, … final.
        let versions: BTreeSet<i64> = mine.iter().map(|a| a.1).collect();
        assert_eq!(versions.len(), mine.len(), "a version was handed out twice");
        let first = m.version as i64 + 1;
        let expected: BTreeSet<i64> = (first..first + mine.len() as i64).collect();
        assert_eq!(versions, expected);
        // Each accepted update is in the audit log exactly once, in version order.
        let events = AuditEvent::find()
            .filter(audit_event::Column::Entity.eq("Measure"))
            .filter(audit_event::Column::EntityId.eq(m.id.to_string()))
            .filter(audit_event::Column::Action.eq("update"))
            .order_by_asc(audit_event::Column::Id)
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(events.len(), mine.len());
        let logged: BTreeMap<i64, String> = events
            .iter()
            .map(|e| {
                let after: Value = serde_json::from_str(e.after.as_deref().unwrap()).unwrap();
                (
                    after["version"].as_i64().unwrap(),
                    after["title"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for (_, v, title) in &mine {
            assert_eq!(logged.get(v), Some(title), "version {v} of {gid}");
        }
        // Replaying the log gives the final state.
        let last: Value =
            serde_json::from_str(events.last().unwrap().after.as_deref().unwrap()).unwrap();
        let now = Measure::find_by_id(m.id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(last["title"].as_str().unwrap(), now.title);
        assert_eq!(last["version"].as_i64().unwrap(), now.version as i64);
    }
    assert_eq!(
        remedy::audit::verify(&app.db).await.unwrap().first_broken,
        None
    );
}

/// PostgreSQL goes away in the middle of a load (connections killed, new ones refused) and
/// comes back: requests fail fast with SERVICE_UNAVAILABLE, /readyz answers 503, the service
/// recovers without a restart, and every mutation is either wholly present (with its audit
/// event) or absent. (PostgreSQL only: a SQLite file has no server to lose.)
#[tokio::test]
#[ignore = "PostgreSQL only: runs with REMEDY_TEST_DATABASE_URL set and -- --include-ignored"]
async fn the_database_going_away_fails_fast_and_recovers() {
    let base = postgres_only();
    let app = spawn_demo_app_configured(|_| {}).await;
    let db_name = app._test_db.url.rsplit('/').next().unwrap().to_string();
    let admin = Database::connect(base.as_str()).await.unwrap();
    let backend = admin.get_database_backend();
    let run = |sql: String| {
        let admin = admin.clone();
        async move {
            admin
                .execute(Statement::from_string(backend, sql))
                .await
                .unwrap()
        }
    };

    let attempt = |i: usize| {
        let http = app.client.clone();
        let url = format!("{}/graphql", app.address);
        let token = app.admin_token.clone();
        async move {
            let code = format!("fault-{i}");
            let started = Instant::now();
            let res = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"query": "mutation($c: String!) { createSystem(input: {code: $c, name: \"n\", kind: INTERNAL}) { id } }", "variables": {"c": code}}))
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (code, status, error_codes(&body), started.elapsed())
        }
    };

    let mut outcomes = Vec::new();
    for i in 0..5 {
        outcomes.push(attempt(i).await);
    }
    // Take the database away.
    run(format!(
        "ALTER DATABASE \"{db_name}\" ALLOW_CONNECTIONS false"
    ))
    .await;
    run(format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}' AND pid <> pg_backend_pid()")).await;
    let mut down = Vec::new();
    for i in 5..15 {
        down.push(attempt(i).await);
    }
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    for (code, status, codes, took) in &down {
        assert!(
            *status < 500 || *status == 503 || *status == 401,
            "{code}: HTTP {status}"
        );
        assert!(took < &Duration::from_secs(15), "{code} hung for {took:?}");
        assert!(
            codes.iter().all(|c| c == "SERVICE_UNAVAILABLE"),
            "{code}: {codes:?}"
        );
    }
    // Bring it back: the service recovers by itself.
    run(format!(
        "ALTER DATABASE \"{db_name}\" ALLOW_CONNECTIONS true"
    ))
    .await;
    let mut recovered = false;
    for _ in 0..50 {
        if app
            .client
            .get(format!("{}/readyz", app.address))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "/readyz did not return to 200");
    for i in 15..20 {
        let (code, status, codes, _) = attempt(i).await;
        assert_eq!((status, codes.len()), (200, 0), "{code} after recovery");
        outcomes.push((code, status, codes, Duration::ZERO));
    }
    outcomes.extend(down);
    // Wholly present with its one audit event, or absent.
    for (code, status, codes, _) in &outcomes {
        let rows = System::find()
            .filter(system::Column::Code.eq(code.as_str()))
            .all(&app.db)
            .await
            .unwrap();
        let events = AuditEvent::find()
            .filter(audit_event::Column::Entity.eq("System"))
            .filter(audit_event::Column::After.contains(format!("\"code\":\"{code}\"")))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(
            rows.len(),
            events.len(),
            "{code}: {} rows, {} audit events",
            rows.len(),
            events.len()
        );
        assert!(rows.len() <= 1);
        if *status == 200 && codes.is_empty() {
            assert_eq!(rows.len(), 1, "{code} was acknowledged but is missing");
        }
    }
    assert_eq!(
        remedy::audit::verify(&app.db).await.unwrap().first_broken,
        None
    );
}

const EVALUATOR_READ: &str =
    "query Read { measures(first: 20) { nodes { id code title version } } }";
const EDITOR_READ: &str = "query($id: ID!) { node(id: $id) { ... on Measure { version } } }";

/// Evaluator reads (each records `access_log` rows) and editor writes at once, for a few
/// seconds: no request fails with INTERNAL ("database is locked" on SQLite) or a 5xx, the
/// writes make progress, and the reads are logged. Every write, the access log included,
/// goes through the server's one write gate (`service::write::WriteGate`).
#[tokio::test]
async fn evaluator_reads_and_concurrent_writes_never_fail_with_internal() {
    let app = spawn_demo_app_configured(|c| {
        c.workers = 2;
        c.rate_limit_per_minute = 0;
    })
    .await;
    let run_for = Duration::from_secs(5);
    let evaluator = app
        .token(remedy::auth::Role::Evaluator, &["PPC-2022-07-13"])
        .await;
    let editor = app.token(remedy::auth::Role::Editor, &[]).await;
    let logged_before = AccessLog::find().all(&app.db).await.unwrap().len();
    let targets: Vec<String> = Measure::find()
        .order_by_asc(measure::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .take(6)
        .map(|m| encode("Measure", m.id).0)
        .collect();
    let url = format!("{}/graphql", app.address);
    let started = Instant::now();

    // (kind, HTTP status, error codes) of every request.
    type Outcome = (&'static str, u16, Vec<String>);
    let post = |http: reqwest::Client, url: String, token: String, body: Value| async move {
        let res = http
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        (status, body)
    };
    let mut tasks: Vec<tokio::task::JoinHandle<(Vec<Outcome>, usize)>> = Vec::new();
    for _ in 0..4 {
        let (http, url, token) = (app.client.clone(), url.clone(), evaluator.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut ok = 0;
            while started.elapsed() < run_for && out.len() < 5_000 {
                let (status, body) = post(
                    http.clone(),
                    url.clone(),
                    token.clone(),
                    json!({"query": EVALUATOR_READ, "operationName": "Read"}),
                )
                .await;
                let codes = error_codes(&body);
                if status == 200 && codes.is_empty() {
                    assert!(!body["data"]["measures"]["nodes"]
                        .as_array()
                        .unwrap()
                        .is_empty());
                    ok += 1;
                }
                out.push(("read", status, codes));
            }
            (out, ok)
        }));
    }
    for writer in 0..4 {
        let (http, url, token) = (app.client.clone(), url.clone(), editor.clone());
        let targets = targets.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut ok = 0;
            let mut j = 0;
            while started.elapsed() < run_for && out.len() < 5_000 {
                let id = &targets[(writer + j) % targets.len()];
                j += 1;
                // Read the version, update with it; on CONFLICT read again and retry.
                for attempt in 0..20 {
                    let (status, read) = post(
                        http.clone(),
                        url.clone(),
                        token.clone(),
                        json!({"query": EDITOR_READ, "variables": {"id": id}}),
                    )
                    .await;
                    let codes = error_codes(&read);
                    let failed = status != 200 || !codes.is_empty();
                    out.push(("read version", status, codes));
                    if failed {
                        break;
                    }
                    let v = read["data"]["node"]["version"].as_i64().expect("version");
                    let title = format!("writer {writer} update {j} attempt {attempt}");
                    let (status, body) = post(
                        http.clone(),
                        url.clone(),
                        token.clone(),
                        json!({"query": UPDATE, "variables": {"id": id, "v": v, "t": title}}),
                    )
                    .await;
                    let codes = error_codes(&body);
                    let conflict = codes == ["CONFLICT"];
                    if status == 200 && codes.is_empty() {
                        ok += 1;
                    }
                    out.push(("update", status, codes));
                    if !conflict {
                        break;
                    }
                }
            }
            (out, ok)
        }));
    }
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut reads_ok = 0;
    let mut writes_ok = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let (out, ok) = t.await.unwrap();
        if i < 4 {
            reads_ok += ok;
        } else {
            writes_ok += ok;
        }
        outcomes.extend(out);
    }
    let failures: Vec<&Outcome> = outcomes
        .iter()
        .filter(|(_, status, codes)| *status >= 500 || codes.iter().any(|c| c != "CONFLICT"))
        .collect();
    let internal = outcomes
        .iter()
        .filter(|(_, _, codes)| codes.iter().any(|c| c == "INTERNAL"))
        .count();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed ({internal} INTERNAL), e.g. {:?}",
        failures.len(),
        outcomes.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(writes_ok > 0, "no write went through");
    assert!(reads_ok > 0, "no read went through");
    // Every successful evaluator read recorded at least one access_log row.
    let logged = AccessLog::find()
        .filter(access_log::Column::Operation.eq("Read"))
        .all(&app.db)
        .await
        .unwrap();
    assert!(
        logged.len() >= reads_ok,
        "{} access_log rows for {reads_ok} reads",
        logged.len()
    );
    assert!(AccessLog::find().all(&app.db).await.unwrap().len() > logged_before);
    eprintln!(
        "{} requests in {:?}: {reads_ok} reads, {writes_ok} writes",
        outcomes.len(),
        started.elapsed()
    );
}

/// Dashboard rollups have their own budget (`REMEDY_DASHBOARD_CONCURRENCY`): beyond it they
/// wait their turn (`REMEDY_DASHBOARD_QUEUE`, `REMEDY_DASHBOARD_WAIT_SECONDS`) while the rest of
/// the API keeps its connections, and past the queue or the wait they answer `OVERLOADED` with
/// `Retry-After`, never the pool's "database unavailable".
#[tokio::test]
async fn dashboards_beyond_their_budget_wait_then_answer_overloaded_with_retry_after() {
    let app = spawn_demo_app_configured(|c| {
        c.dashboard_concurrency = 1;
        c.dashboard_queue = 1;
        c.dashboard_wait_seconds = 1;
    })
    .await;
    let post = |query: &'static str| {
        let client = app.client.clone();
        let url = format!("{}/graphql", app.address);
        let token = app.admin_token.clone();
        async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "query": query }))
                .send()
                .await
                .unwrap();
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (retry, res.json::<Value>().await.unwrap())
        }
    };
    const PROGRESS: &str = "{ progress { total implemented } }";
    // Every turn is taken (a rollup that does not end).
    let turn = app.rollups.hold().await;
    // A dashboard waits for its turn ...
    let waiting = tokio::spawn(post(PROGRESS));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ... the next finds the queue full and is refused at once, with when to come back ...
    let started = Instant::now();
    let (retry, body) = post(PROGRESS).await;
    assert_eq!(error_codes(&body), ["OVERLOADED"], "{body}");
    assert_eq!(retry.as_deref(), Some("5"));
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "not refused at once"
    );
    // ... while the rest of the API answers as usual.
    let (_, other) = post("{ measures(first: 5) { nodes { code } } }").await;
    assert!(other.get("errors").is_none(), "{other}");
    // The turn comes back: the waiting dashboard gets it and answers in full.
    drop(turn);
    let (retry, body) = waiting.await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body["data"]["progress"]["total"].as_i64().unwrap() > 0);
    assert_eq!(retry, None);
    // Past the wait: the README's dashboard (one rollup for every order) answers OVERLOADED
    // on its figures, the rest of its data intact.
    let turn = app.rollups.hold().await;
    let (retry, body) =
        post("{ regulators { nodes { code orders { nodes { reference progress { total } } } } } }")
            .await;
    drop(turn);
    assert!(
        error_codes(&body).iter().all(|c| c == "OVERLOADED"),
        "{body}"
    );
    assert!(!error_codes(&body).is_empty());
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(
        body["data"]["regulators"]["nodes"][0]["code"], "METI",
        "{body}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("REMEDY_DASHBOARD_WAIT_SECONDS"),
        "{message}"
    );
    // And once free, the same dashboard answers.
    let (_, body) =
        post("{ regulators { nodes { orders { nodes { progress { total } } } } } }").await;
    assert!(body.get("errors").is_none(), "{body}");
}
