//! Approvals over HTTP: deferring, cancelling and moving a due date later are change requests
//! that a second person with `plan:approve` approves (and the change is applied) or rejects;
//! until then the measure keeps its values and shows the request; an approved deferral ends
//! on its date and the measure is late again; requests, decisions and expiries are audited,
//! on the timeline and in the history; evaluators see the requests of their orders only.
use std::process::Command;

use chrono::{Days, NaiveDate, Utc};
use entity::prelude::*;
use entity::*;
use remedy::auth::Role;
use remedy::id::encode;
use remedy::service::write::approvals;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::*;

const REQUEST: &str = "mutation($i: RequestMeasureChangeInput!) { requestMeasureChange(input: $i) { id version kind status reason proposedDueOn until requestedBy } }";
const DECIDE: &str = "mutation($i: DecideMeasureChangeInput!) { decideMeasureChange(input: $i) { id version status decidedBy decisionComment previousStatus measure { code status statusReason dueOn overdue } } }";
const WITHDRAW: &str =
    "mutation($id: ID!, $v: Int!) { withdrawMeasureChange(id: $id, version: $v) { status } }";
const MEASURE: &str = "query($id: ID!, $d: NaiveDate) { node(id: $id, asOf: $d) { ... on Measure { code status statusReason dueOn overdue version \
    pendingChange { id kind status } changeRequests { kind status reason requestedBy decidedBy until expiredAt previousStatus } \
    dueDateChanges { from to reason by } } } }";
const TIMELINE: &str =
    "{ orders { nodes { reference timeline(last: 100) { nodes { kind summary } } } } }";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

async fn token_for(app: &TestApp, subject: &str, roles: &[Role]) -> String {
    issue(&app.db, &app.gate, &app.keys, subject, roles, &[]).await
}

async fn audit_count(app: &TestApp) -> u64 {
    AuditEvent::find().count(&app.db).await.unwrap()
}

async fn measure_gid(app: &TestApp, code: &str) -> String {
    let m = Measure::find()
        .filter(measure::Column::Code.eq(code))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    encode("Measure", m.id).0
}

/// Runs `query` with `token`: the data and the error codes with the first message.
async fn call(
    app: &TestApp,
    token: &str,
    query: &str,
    vars: Value,
) -> (Value, Vec<String>, String) {
    let (status, body) = app.graphql_as(Some(token), query, vars).await;
    assert_eq!(status, 200, "{body}");
    let message = body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (body["data"].clone(), error_codes(&body), message)
}

async fn measure_as(app: &TestApp, token: &str, id: &str, as_of: Option<&str>) -> Value {
    let (data, codes, message) = call(app, token, MEASURE, json!({"id": id, "d": as_of})).await;
    assert!(codes.is_empty(), "{codes:?} {message}");
    data["node"].clone()
}

async fn timeline(app: &TestApp, reference: &str) -> Vec<(String, String)> {
    let data = app.query_ok(TIMELINE, json!({})).await;
    let order = data["orders"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["reference"] == reference)
        .unwrap()
        .clone();
    order["timeline"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["summary"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_slip_is_a_request_until_a_second_person_decides_it() {
    let app = spawn_demo_app().await;
    let editor = token_for(&app, "tanaka@example.com", &[Role::Editor]).await;
    let other_editor = token_for(&app, "suzuki@example.com", &[Role::Editor]).await;
    let approver = token_for(&app, "sato@example.com", &[Role::Auditor]).await;
    // The person who asks, also holding plan:approve (tokens are audited: issued first).
    let asker_approver =
        token_for(&app, "tanaka@example.com", &[Role::Editor, Role::Auditor]).await;
    // M-25 answers the ministry's order only: in progress, due 2022-12-31.
    let m25 = measure_gid(&app, "M-25").await;
    let before = measure_as(&app, &editor, &m25, None).await;
    assert_eq!(before["dueOn"], "2022-12-31");
    let v = before["version"].as_i64().unwrap();

    // Directly, every slip is refused, naming the rule, and nothing is written.
    let events = audit_count(&app).await;
    for (q, vars) in [
        (
            "mutation($i: TransitionMeasureInput!) { transitionMeasure(input: $i) { status } }",
            json!({"i": {"id": m25, "version": v, "to": "DEFERRED", "reason": "vendor"}}),
        ),
        (
            "mutation($i: TransitionMeasureInput!) { transitionMeasure(input: $i) { status } }",
            json!({"i": {"id": m25, "version": v, "to": "CANCELLED", "reason": "vendor"}}),
        ),
        (
            "mutation($id: ID!, $v: Int!) { updateMeasure(id: $id, version: $v, input: {dueOn: \"2023-03-31\", dueChangeReason: \"vendor\"}) { dueOn } }",
            json!({"id": m25, "v": v}),
        ),
    ] {
        for token in [&editor, &app.admin_token] {
            let (_, codes, message) = call(&app, token, q, vars.clone()).await;
            assert_eq!(codes, ["FORBIDDEN"], "{message}");
            assert!(message.contains("approvals:"), "{message}");
            assert!(message.contains("requestMeasureChange"), "{message}");
        }
    }
    assert_eq!(audit_count(&app).await, events);

    // Asking: bad requests name their field; a good one is pending and changes nothing else.
    for (input, field) in [
        (
            json!({"measureId": m25, "kind": "MOVE_DUE", "reason": "vendor"}),
            "dueOn",
        ),
        (
            json!({"measureId": m25, "kind": "MOVE_DUE", "reason": "vendor", "dueOn": "2022-11-30"}),
            "dueOn",
        ),
        (
            json!({"measureId": m25, "kind": "MOVE_DUE", "reason": " ", "dueOn": "2023-03-31"}),
            "reason",
        ),
        (
            json!({"measureId": m25, "kind": "CANCEL", "reason": "r", "until": "2030-01-01"}),
            "until",
        ),
        (
            json!({"measureId": m25, "kind": "DEFER", "reason": "r", "until": "2022-01-01"}),
            "until",
        ),
    ] {
        let (status, body) = app
            .graphql_as(Some(&editor), REQUEST, json!({"i": input}))
            .await;
        assert_eq!(status, 200);
        assert_eq!(error_codes(&body), ["VALIDATION"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    assert_eq!(audit_count(&app).await, events);
    let (data, codes, message) = call(
        &app,
        &editor,
        REQUEST,
        json!({"i": {"measureId": m25, "kind": "MOVE_DUE", "reason": "the QSA's on-site assessment moved to March", "dueOn": "2023-03-31"}}),
    )
    .await;
    assert!(codes.is_empty(), "{message}");
    let request = data["requestMeasureChange"].clone();
    assert_eq!(request["status"], "PENDING");
    assert_eq!(request["requestedBy"], "tanaka@example.com");
    assert_eq!(audit_count(&app).await, events + 1);
    let pending = measure_as(&app, &editor, &m25, None).await;
    assert_eq!(
        pending["dueOn"], "2022-12-31",
        "the measure keeps its values"
    );
    assert_eq!(pending["version"], before["version"]);
    assert_eq!(pending["pendingChange"]["id"], request["id"]);
    // One pending request per measure.
    let (_, codes, _) = call(
        &app,
        &other_editor,
        REQUEST,
        json!({"i": {"measureId": m25, "kind": "CANCEL", "reason": "superseded"}}),
    )
    .await;
    assert_eq!(codes, ["CONFLICT"]);

    // Deciding: not without plan:approve, never by the person who asked (even holding it),
    // never without a comment, never on a stale version.
    let id = request["id"].as_str().unwrap();
    let decide = |approve: bool, comment: &str, version: i64| json!({"i": {"id": id, "version": version, "approve": approve, "comment": comment}});
    let (_, codes, _) = call(&app, &other_editor, DECIDE, decide(true, "ok", 1)).await;
    assert_eq!(codes, ["FORBIDDEN"]);
    let (_, codes, message) = call(&app, &asker_approver, DECIDE, decide(true, "ok", 1)).await;
    assert_eq!(codes, ["FORBIDDEN"]);
    assert!(message.contains("cannot decide"), "{message}");
    let (_, codes, _) = call(&app, &approver, DECIDE, decide(true, "", 1)).await;
    assert_eq!(codes, ["VALIDATION"]);
    let (_, codes, _) = call(&app, &approver, DECIDE, decide(true, "ok", 7)).await;
    assert_eq!(codes, ["CONFLICT"]);
    assert_eq!(audit_count(&app).await, events + 1);

    let (data, codes, message) = call(
        &app,
        &approver,
        DECIDE,
        decide(true, "accepted: the QSA's letter is on file", 1),
    )
    .await;
    assert!(codes.is_empty(), "{message}");
    let decided = &data["decideMeasureChange"];
    assert_eq!(decided["status"], "APPROVED");
    assert_eq!(decided["decidedBy"], "sato@example.com");
    assert_eq!(decided["measure"]["dueOn"], "2023-03-31");
    // One event for the measure, one for the request.
    assert_eq!(audit_count(&app).await, events + 3);
    let after = measure_as(&app, &editor, &m25, None).await;
    assert_eq!(after["pendingChange"], Value::Null);
    let last_move = after["dueDateChanges"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last_move["from"], "2022-12-31");
    assert_eq!(last_move["to"], "2023-03-31");
    assert_eq!(
        last_move["reason"],
        "the QSA's on-site assessment moved to March"
    );
    // Decided once only.
    let (_, codes, _) = call(&app, &app.admin_token, DECIDE, decide(false, "no", 2)).await;
    assert_eq!(codes, ["VALIDATION"]);

    // As of yesterday the request did not exist and the date had not moved.
    let yesterday = (today() - Days::new(1)).to_string();
    let past = measure_as(&app, &editor, &m25, Some(&yesterday)).await;
    assert_eq!(past["dueOn"], "2022-12-31");
    assert_eq!(past["changeRequests"], json!([]));
    assert_eq!(past["pendingChange"], Value::Null);

    // Rejected: the measure keeps its values. Withdrawn: by the person who asked only.
    let m28 = measure_gid(&app, "M-28").await;
    let ask = |kind: &str| json!({"i": {"measureId": m28, "kind": kind, "reason": "budget"}});
    let (data, _, _) = call(&app, &editor, REQUEST, ask("CANCEL")).await;
    let r = data["requestMeasureChange"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (data, codes, _) = call(
        &app,
        &approver,
        DECIDE,
        json!({"i": {"id": r, "version": 1, "approve": false, "comment": "the order requires it"}}),
    )
    .await;
    assert!(codes.is_empty());
    assert_eq!(data["decideMeasureChange"]["status"], "REJECTED");
    assert_eq!(
        data["decideMeasureChange"]["measure"]["status"],
        "IN_PROGRESS"
    );
    let (data, _, _) = call(&app, &editor, REQUEST, ask("DEFER")).await;
    let r = data["requestMeasureChange"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, codes, _) = call(&app, &other_editor, WITHDRAW, json!({"id": r, "v": 1})).await;
    assert_eq!(codes, ["FORBIDDEN"]);
    let (data, codes, _) = call(&app, &editor, WITHDRAW, json!({"id": r, "v": 1})).await;
    assert!(codes.is_empty());
    assert_eq!(data["withdrawMeasureChange"]["status"], "WITHDRAWN");
    let m = measure_as(&app, &editor, &m28, None).await;
    assert_eq!(m["status"], "IN_PROGRESS");
    let statuses: Vec<&str> = m["changeRequests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["REJECTED", "WITHDRAWN"]);

    // The timeline tells who asked, who decided, and why.
    let meti = timeline(&app, "METI-2022-06-30").await;
    let has = |kind: &str, text: &str| meti.iter().any(|(k, s)| k == kind && s.contains(text));
    assert!(
        has(
            "CHANGE_REQUESTED",
            "tanaka@example.com asked to move M-25's due date to 2023-03-31"
        ),
        "{meti:?}"
    );
    assert!(
        has(
            "CHANGE_DECIDED",
            "sato@example.com approved the request to move M-25's due date"
        ),
        "{meti:?}"
    );
    assert!(
        has(
            "CHANGE_DECIDED",
            "rejected the request to cancel M-28: the order requires it"
        ),
        "{meti:?}"
    );
    assert!(has("DUE_DATE_MOVED", "M-25"), "{meti:?}");

    // Evaluators see the requests of their orders only (M-25 answers the ministry's order).
    let meti_eval = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let ppc_eval = app.token(Role::Evaluator, &["PPC-2022-07-13"]).await;
    let node = "query($id: ID!) { node(id: $id) { ... on ChangeRequest { kind status measure { code } } } }";
    let (data, codes, _) = call(&app, &meti_eval, node, json!({"id": id})).await;
    assert!(codes.is_empty());
    assert_eq!(data["node"]["measure"]["code"], "M-25");
    let (data, codes, _) = call(&app, &ppc_eval, node, json!({"id": id})).await;
    assert_eq!(codes, ["NOT_FOUND"]);
    assert_eq!(data["node"], Value::Null);

    // Each request, decision and withdrawal is a notice for the reminders to deliver, with
    // the orders it concerns.
    let notices = notices(&app).await;
    let kinds: Vec<&str> = notices
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "CHANGE_REQUESTED",
            "CHANGE_APPROVED",
            "CHANGE_REQUESTED",
            "CHANGE_REJECTED",
            "CHANGE_REQUESTED",
            "CHANGE_WITHDRAWN"
        ]
    );
    let meti = encode("Order", order_id(&app, "METI-2022-06-30").await).0;
    assert_eq!(notices[1]["subjectId"], id);
    assert_eq!(notices[1]["orderIds"], json!([meti]));
    assert!(
        notices[1]["summary"]
            .as_str()
            .unwrap()
            .contains("sato@example.com approved the request to move M-25's due date"),
        "{}",
        notices[1]
    );

    // The history holds every version of the requests, consistent with the audit log.
    let (ok, out) = crate::history::verify_cli(&app);
    assert!(ok, "{out}");
}

/// The notices of approvals (every mutation also notes a PLAN_CHANGED: `notify::*`).
async fn notices(app: &TestApp) -> Vec<Value> {
    app.query_ok(
        "{ notices(first: 100) { nodes { kind subjectId orderIds summary dedupKey } } }",
        json!({}),
    )
    .await["notices"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] != "PLAN_CHANGED")
        .cloned()
        .collect()
}

async fn order_id(app: &TestApp, reference: &str) -> i64 {
    remedy::service::tokens::resolve_order(&app.db, reference)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_approved_deferral_ends_on_its_date_and_the_measure_is_late_again() {
    let app = spawn_demo_app().await;
    let editor = token_for(&app, "tanaka@example.com", &[Role::Editor]).await;
    let approver = token_for(&app, "sato@example.com", &[Role::Auditor]).await;
    // M-28: in progress, due 2022-12-31, so late today.
    let m28 = measure_gid(&app, "M-28").await;
    assert_eq!(measure_as(&app, &editor, &m28, None).await["overdue"], true);
    let until = today().to_string();
    let (data, codes, message) = call(
        &app,
        &editor,
        REQUEST,
        json!({"i": {"measureId": m28, "kind": "DEFER", "reason": "waiting for the new data centre", "until": until}}),
    )
    .await;
    assert!(codes.is_empty(), "{message}");
    let id = data["requestMeasureChange"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (data, codes, message) = call(
        &app,
        &approver,
        DECIDE,
        json!({"i": {"id": id, "version": 1, "approve": true, "comment": "until the move"}}),
    )
    .await;
    assert!(codes.is_empty(), "{message}");
    let d = &data["decideMeasureChange"];
    assert_eq!(d["previousStatus"], "IN_PROGRESS");
    assert_eq!(d["measure"]["status"], "DEFERRED");
    assert_eq!(
        d["measure"]["statusReason"],
        "waiting for the new data centre"
    );
    assert_eq!(d["measure"]["overdue"], false);

    // Its last day is today: the command the scheduler runs ends nothing yet.
    let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args(["approvals", "expire"])
        .env("REMEDY_DATABASE_URL", &app._test_db.url)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 deferral(s) ended"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        measure_as(&app, &editor, &m28, None).await["status"],
        "DEFERRED"
    );

    // Tomorrow's sweep ends it: back in progress, late again; a second sweep ends nothing.
    let events = audit_count(&app).await;
    let tomorrow = today() + Days::new(1);
    let ended = approvals::run_expiry(&app.db, &app.gate, tomorrow)
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(audit_count(&app).await, events + 2);
    assert!(approvals::run_expiry(&app.db, &app.gate, tomorrow)
        .await
        .unwrap()
        .is_empty());
    let m = measure_as(&app, &editor, &m28, None).await;
    assert_eq!(m["status"], "IN_PROGRESS");
    assert_eq!(m["statusReason"], Value::Null);
    assert_eq!(m["overdue"], true);
    let r = &m["changeRequests"][0];
    assert_eq!(r["status"], "EXPIRED");
    assert!(r["expiredAt"].is_string());
    let meti = timeline(&app, "METI-2022-06-30").await;
    assert!(
        meti.iter()
            .any(|(k, s)| k == "DEFERRAL_ENDED" && s.contains("M-28's deferral ended")),
        "{meti:?}"
    );
    // One notice for the end, however many sweeps ran.
    let ended: Vec<Value> = notices(&app)
        .await
        .into_iter()
        .filter(|n| n["kind"] == "DEFERRAL_ENDED")
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["subjectId"], id);
    let (ok, out) = crate::history::verify_cli(&app);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn with_approvals_off_plan_write_slips_directly() {
    let app = spawn_demo_app_configured(|c| c.approvals = false).await;
    let editor = token_for(&app, "tanaka@example.com", &[Role::Editor]).await;
    let m28 = measure_gid(&app, "M-28").await;
    let v = measure_as(&app, &editor, &m28, None).await["version"].clone();
    let (data, codes, message) = call(
        &app,
        &editor,
        "mutation($i: TransitionMeasureInput!) { transitionMeasure(input: $i) { status } }",
        json!({"i": {"id": m28, "version": v, "to": "DEFERRED", "reason": "budget"}}),
    )
    .await;
    assert!(codes.is_empty(), "{message}");
    assert_eq!(data["transitionMeasure"]["status"], "DEFERRED");
}

/// A notice is kept once per `dedup_key`, whoever notes it again (a second replica's sweep),
/// and notices refuse edits like the audit log.
#[tokio::test]
async fn a_notice_is_noted_once_and_never_edited() {
    use remedy::service::write::notices::{note, NewNotice};
    use remedy::service::write::Write;
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_demo_app().await;
    let m = Measure::find().one(&app.db).await.unwrap().unwrap();
    for _ in 0..2 {
        let w = Write::begin(&app.db, &app.gate, "test:notices")
            .await
            .unwrap();
        note(
            &w,
            NewNotice {
                kind: entity::enums::NoticeKind::DeferralEnded,
                at: Utc::now(),
                dedup_key: "test:once".into(),
                subject_type: "Measure",
                subject_id: m.id,
                measure_id: Some(m.id),
                orders: Vec::new(),
                summary: "once".into(),
            },
        )
        .await
        .unwrap();
        w.commit().await.unwrap();
    }
    assert_eq!(notices(&app).await.len(), 1);
    let backend = app.db.get_database_backend();
    for sql in ["UPDATE notice SET summary = 'edited'", "DELETE FROM notice"] {
        let res = app.db.execute(Statement::from_string(backend, sql)).await;
        assert!(res.is_err(), "{sql} was allowed");
    }
    assert_eq!(notices(&app).await[0]["summary"], "once");
}

/// The sweep notes a period that just came due with nothing recorded, once: the demo's
/// weekly log review (M-13) has recorded no week since 2022, so the week that ended last
/// Friday is noted as missed; a second sweep notes nothing new.
#[tokio::test]
async fn the_sweep_notes_each_period_just_missed_once() {
    use chrono::Datelike;
    use remedy::service::write::notices::run_missed_periods;
    let app = spawn_demo_app().await;
    let mut friday = today() - Days::new(1);
    while friday.weekday() != chrono::Weekday::Fri {
        friday = friday - Days::new(1);
    }
    let week = format!(
        "{}-W{:02}",
        friday.iso_week().year(),
        friday.iso_week().week()
    );
    let n = run_missed_periods(&app.db, &app.gate, today())
        .await
        .unwrap();
    assert!(n >= 1, "{n}");
    let missed: Vec<Value> = notices(&app)
        .await
        .into_iter()
        .filter(|n| n["kind"] == "PERIOD_MISSED")
        .collect();
    assert_eq!(missed.len(), n);
    let m13 = measure_gid(&app, "M-13").await;
    let key = format!(
        "period_missed:{}:{week}",
        remedy::id::decode(&async_graphql::ID(m13.clone()), "Measure").unwrap()
    );
    let m13_notice = missed
        .iter()
        .find(|n| n["dedupKey"] == key.as_str())
        .unwrap_or_else(|| panic!("no {key} in {missed:?}"));
    assert_eq!(m13_notice["subjectId"], m13);
    assert!(
        m13_notice["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("M-13: period {week}")),
        "{m13_notice}"
    );
    // Older misses are left to the overdue lists; each notice once.
    assert!(missed
        .iter()
        .all(|n| !n["dedupKey"].as_str().unwrap().ends_with(":2022-W30")));
    assert_eq!(
        run_missed_periods(&app.db, &app.gate, today())
            .await
            .unwrap(),
        0
    );
    assert_eq!(notices(&app).await.len(), missed.len());
}
