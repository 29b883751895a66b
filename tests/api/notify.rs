//! Notifications in-process, on both backends: the outbox (one PLAN_CHANGED per committed
//! mutation, none for a failed one), the scheduler (a day's reminders noted once however
//! often it runs, and the same as the preview), fan-out to an endpoint limited to an order
//! (only its notices, naming only it), signed deliveries to a real HTTP receiver, and the
//! address rules on webhook URLs. The real SMTP server, SIGKILL and two-replica cases run
//! against the binary in `tests/clients/test/notify.test.mjs`.
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::NaiveDate;
use entity::enums::NoticeKind;
use entity::prelude::*;
use entity::*;
use remedy::metrics::Metrics;
use remedy::notifier::Notifier;
use remedy::service::notify::{self, Settings};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::*;

/// One request a receiver got: its headers of interest and body.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// An HTTP receiver on 127.0.0.1 answering 500 to the first `fail_first` requests, then 204.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let got: Arc<Mutex<Vec<Received>>> = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        let seen = seen.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let seen = seen.clone();
            async move {
                let h = |n: &str| {
                    req.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let mut all = seen.lock().unwrap();
                all.push(Received {
                    id: h("webhook-id"),
                    timestamp: h("webhook-timestamp"),
                    signature: h("webhook-signature"),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                if all.len() <= fail_first {
                    HttpResponse::InternalServerError().finish()
                } else {
                    HttpResponse::NoContent().finish()
                }
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://{addr}/hook"), got)
}

fn settings(allow: &[&str]) -> Settings {
    let c = remedy::config::NotifyConfig {
        webhook_allow: allow.iter().map(|s| s.to_string()).collect(),
        webhook_backoff_seconds: 1,
        ..Default::default()
    };
    Settings::from_config(&c, "127.0.0.1:8080".parse().unwrap()).unwrap()
}

fn worker(app: &TestApp, allow: &[&str]) -> Notifier {
    let c = remedy::config::NotifyConfig {
        webhook_allow: allow.iter().map(|s| s.to_string()).collect(),
        webhook_backoff_seconds: 1,
        webhook_max_attempts: 5,
        ..Default::default()
    };
    Notifier::new(
        app.db.clone(),
        app.gate.clone(),
        c,
        settings(allow),
        Arc::new(Metrics::new()),
    )
    .unwrap()
}

async fn plan_changes(app: &TestApp) -> Vec<notice::Model> {
    Notice::find()
        .filter(notice::Column::Kind.eq(NoticeKind::PlanChanged))
        .all(&app.db)
        .await
        .unwrap()
}

async fn measure(app: &TestApp, code: &str) -> (String, i64) {
    let data = app
        .query_ok(
            "query($c: String!) { measures(first: 5, filter: {search: $c}) { nodes { id code version } } }",
            json!({"c": code}),
        )
        .await;
    let n = data["measures"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["code"] == code)
        .unwrap_or_else(|| panic!("{code} not found: {data}"))
        .clone();
    (
        n["id"].as_str().unwrap().to_string(),
        n["version"].as_i64().unwrap(),
    )
}

const UPDATE: &str =
    "mutation($id: ID!, $v: Int!, $note: String) { updateMeasure(id: $id, version: $v, input: {note: $note}) { version } }";

#[tokio::test]
async fn a_committed_mutation_notes_one_plan_change_and_a_failed_one_none() {
    let app = spawn_demo_app().await;
    let before = plan_changes(&app).await.len();
    let (id, v) = measure(&app, "M-25").await;
    app.query_ok(UPDATE, json!({"id": id, "v": v, "note": "outbox"}))
        .await;
    let (_, body) = app
        .graphql(UPDATE, json!({"id": id, "v": v, "note": "stale"}))
        .await;
    assert_eq!(error_codes(&body), vec!["CONFLICT"], "{body}");
    let after = plan_changes(&app).await;
    assert_eq!(
        after.len(),
        before + 1,
        "one notice for one committed change"
    );
    let n = after.last().unwrap();
    assert_eq!(n.subject_type, "Measure");
    let meti = RegulatoryOrder::find()
        .filter(regulatory_order::Column::Reference.eq("METI-2022-06-30"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        n.order_ids,
        format!("[{}]", meti.id),
        "M-25 answers METI only"
    );
    assert!(n.summary.contains("M-25"), "{}", n.summary);
    assert!(n.audit_event_id.is_some());
}

#[tokio::test]
async fn a_days_reminders_are_noted_once_and_match_the_preview() {
    let app = spawn_demo_app().await;
    let day = NaiveDate::from_ymd_opt(2022, 12, 1).unwrap();
    let s = settings(&[]);
    let first = notify::schedule(&app.db, &app.gate, day, &s).await.unwrap();
    assert!(!first.skipped);
    let second = notify::schedule(&app.db, &app.gate, day, &s).await.unwrap();
    assert_eq!(second.reminders, 0, "nothing noted twice");
    assert_eq!(second.missed_periods, 0);
    let preview = app
        .query_ok(
            "{ reminders(on: \"2022-12-01\") { kind dedupKey orders } }",
            json!({}),
        )
        .await;
    let keys: Vec<String> = preview["reminders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dedupKey"].as_str().unwrap().to_string())
        .collect();
    // The year-end report and the three December targets, 30 days ahead.
    assert!(
        keys.iter().any(|k| k.starts_with("report_due_soon:")),
        "{keys:?}"
    );
    for code in ["M-20", "M-25", "M-28"] {
        let (gid, _) = measure(&app, code).await;
        let id = remedy::id::decode(&gid.into(), "Measure").unwrap();
        assert!(
            keys.contains(&format!("measure_due_soon:{id}:2022-12-31:30")),
            "{code}: {keys:?}"
        );
    }
    let noted: Vec<String> = Notice::find()
        .filter(notice::Column::DedupKey.is_in(keys.clone()))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.dedup_key)
        .collect();
    assert_eq!(
        noted.len(),
        keys.len(),
        "every reminder of the preview was noted"
    );
    // Each once: the key is unique, and the second run added none.
    assert_eq!(first.reminders, keys.len());
}

#[tokio::test]
async fn an_endpoint_limited_to_an_order_gets_only_its_notices_signed_and_retried() {
    let app = spawn_demo_app_configured(|c| {
        c.notify.webhook_allow = vec!["127.0.0.1/32".into()];
    })
    .await;
    let (url, got) = receiver(1).await;
    let created = app
        .query_ok(
            "mutation($u: String!) { createWebhookEndpoint(input: {url: $u, eventTypes: [PLAN_CHANGED], orders: [\"METI-2022-06-30\"]}) { secret endpoint { id orders eventTypes } } }",
            json!({"u": url}),
        )
        .await;
    let secret = created["createWebhookEndpoint"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        created["createWebhookEndpoint"]["endpoint"]["orders"],
        json!(["METI-2022-06-30"])
    );
    // M-23 answers the commission only; M-20 both orders; M-25 the ministry only.
    for code in ["M-23", "M-20", "M-25"] {
        let (id, v) = measure(&app, code).await;
        app.query_ok(
            UPDATE,
            json!({"id": id, "v": v, "note": format!("{code} changed")}),
        )
        .await;
    }
    let w = worker(&app, &["127.0.0.1/32"]);
    let today = remedy::domain::today();
    let mut runs = 0;
    loop {
        let r = w.run_once(today).await.unwrap();
        runs += 1;
        let delivered = WebhookDelivery::find()
            .filter(webhook_delivery::Column::Status.eq("DELIVERED"))
            .count(&app.db)
            .await
            .unwrap();
        if delivered == 2 || runs > 20 {
            assert_eq!(r.dead, 0);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    }
    let got = got.lock().unwrap().clone();
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.dedup();
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    let summaries: Vec<&str> = bodies
        .iter()
        .map(|b| b["data"]["summary"].as_str().unwrap())
        .collect();
    assert!(
        !summaries.iter().any(|s| s.contains("M-23")),
        "a commission-only change reached the ministry's endpoint: {summaries:?}"
    );
    assert!(
        summaries.iter().any(|s| s.contains("M-20")),
        "{summaries:?}"
    );
    assert!(
        summaries.iter().any(|s| s.contains("M-25")),
        "{summaries:?}"
    );
    for b in &bodies {
        assert_eq!(b["type"], "plan.changed");
        assert_eq!(b["data"]["orders"], json!(["METI-2022-06-30"]), "{b}");
    }
    // The first answer was a 500: that message came again, under the same id.
    assert!(got.len() >= 3, "{} requests", got.len());
    assert!(
        got.iter().filter(|r| r.id == got[0].id).count() >= 2,
        "the message answered 500 came again under the same webhook-id"
    );
    for r in &got {
        let ts: i64 = r.timestamp.parse().unwrap();
        let expected = remedy::outbound::sign(&secret, &r.id, ts, &r.body).unwrap();
        assert_eq!(r.signature, expected);
    }
    let log = app
        .query_ok(
            "{ webhookEndpoints { deliveries { status attempts log { statusCode } } } }",
            json!({}),
        )
        .await;
    let deliveries = log["webhookEndpoints"][0]["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{log}");
    assert!(deliveries
        .iter()
        .any(|d| d["attempts"] == 2 && d["log"][0]["statusCode"] == 500));
}

#[tokio::test]
async fn webhook_urls_on_private_addresses_are_refused_and_nothing_is_written() {
    let app = spawn_demo_app().await;
    let events = AuditEvent::find().count(&app.db).await.unwrap();
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:9/",
        "http://[::1]:9/",
        "http://[::ffff:10.0.0.1]/",
        "ftp://example.com/",
        "http://user:pw@93.184.216.34/",
    ] {
        let (status, body) = app
            .graphql(
                "mutation($u: String!) { createWebhookEndpoint(input: {url: $u}) { secret } }",
                json!({"u": url}),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(error_codes(&body), vec!["VALIDATION"], "{url}: {body}");
        assert!(body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("url: refused"));
    }
    assert_eq!(WebhookEndpoint::find().count(&app.db).await.unwrap(), 0);
    assert_eq!(AuditEvent::find().count(&app.db).await.unwrap(), events);
}
