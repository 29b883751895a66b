//! The plan's history over HTTP: every `asOf` root answers with the values of its day,
//! `knownAt` hides what was recorded later, submitted reports regenerate to their snapshots,
//! `remedy audit verify` names a tampered version, evaluators see the date changes of their
//! orders only, and the history tables refuse edits.
use std::process::Command;

use chrono::{NaiveDate, Utc};
use entity::*;
use remedy::auth::{Caller, Role};
use remedy::id::encode;
use remedy::service::write::inputs::{MeasureChanges, MeasureLinks};
use remedy::service::write::{measures, Write};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, Statement};
use serde_json::{json, Value};

use crate::helpers::*;

async fn measure(app: &TestApp, code: &str) -> measure::Model {
    measure::Entity::find()
        .filter(measure::Column::Code.eq(code))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

async fn order_id(app: &TestApp, reference: &str) -> i64 {
    remedy::service::tokens::resolve_order(&app.db, reference)
        .await
        .unwrap()
}

async fn finding_id(app: &TestApp, order: &str, number: &str) -> i64 {
    let o = order_id(app, order).await;
    finding::Entity::find()
        .filter(finding::Column::OrderId.eq(o))
        .filter(finding::Column::Number.eq(number))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id
}

fn nine_utc(d: &str) -> chrono::DateTime<Utc> {
    d.parse::<NaiveDate>()
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc()
}

/// The rules an import of a plan's past runs under: the slips it records were decided
/// already (approvals are for changes made in remedy).
fn imported() -> measures::Accountability {
    measures::Accountability {
        approvals: false,
        ..Default::default()
    }
}

/// A write through the store recorded as an import dated `on` (what an import of a plan's
/// past does); the caller commits it.
async fn dated<'g>(app: &'g TestApp, on: &str) -> Write<'g> {
    let w = Write::begin(&app.db, &app.gate, "test:history")
        .await
        .unwrap();
    w.import(Some(("test: dated change", nine_utc(on))))
        .await
        .unwrap();
    w
}

/// The changes the first test makes to M-25 (METI only; in progress, due 2022-12-31, owned
/// by the systems department, answering METI finding 1), each on its own day.
async fn move_m25(app: &TestApp) -> i64 {
    let m = measure(app, "M-25").await;
    let id = m.id;
    let isec = owner::Entity::find()
        .filter(owner::Column::Code.eq("isec-office"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let f1 = finding_id(app, "METI-2022-06-30", "1").await;
    let f2 = finding_id(app, "METI-2022-06-30", "2").await;
    let who = Caller::system("test:history");
    let v = measure(app, "M-25").await.version;
    let w = dated(app, "2023-01-10").await;
    let input: MeasureChanges = serde_json::from_value(json!({
        "due_on": "2023-03-31",
        "due_change_reason": "the WAF vendor's delivery slipped"
    }))
    .unwrap();
    measures::update_measure(&w, &who, id, v, &input, &imported())
        .await
        .unwrap();
    w.commit().await.unwrap();

    let v = measure(app, "M-25").await.version;
    let w = dated(app, "2023-02-10").await;
    // Ids are not read from JSON (the seed resolves codes): set after.
    let mut input: MeasureChanges = serde_json::from_value(json!({})).unwrap();
    input.owner_id = Some(isec);
    measures::update_measure(&w, &who, id, v, &input, &imported())
        .await
        .unwrap();
    w.commit().await.unwrap();

    let v = measure(app, "M-25").await.version;
    let w = dated(app, "2023-03-10").await;
    let mut add: MeasureLinks = serde_json::from_value(json!({"version": v})).unwrap();
    add.measure_id = id;
    add.finding_ids = vec![f2];
    let m = measures::link_measure(&w, &who, &add).await.unwrap();
    let mut remove: MeasureLinks = serde_json::from_value(json!({"version": m.version})).unwrap();
    remove.measure_id = id;
    remove.finding_ids = vec![f1];
    measures::unlink_measure(&w, &who, &remove).await.unwrap();
    w.commit().await.unwrap();

    let v = measure(app, "M-25").await.version;
    let w = dated(app, "2023-04-10").await;
    let input: MeasureChanges = serde_json::from_value(json!({
        "due_on": "2023-06-30",
        "due_change_reason": "scope extended to the admin screens"
    }))
    .unwrap();
    measures::update_measure(&w, &who, id, v, &input, &imported())
        .await
        .unwrap();
    w.commit().await.unwrap();
    id
}

const MEASURE_FIELDS: &str = "code dueOn originalDueOn overdue owner { code } \
    findings { nodes { number } } dueDateChanges { from to reason later }";

#[tokio::test]
async fn every_as_of_root_answers_with_the_values_of_its_day() {
    let app = spawn_demo_app().await;
    let id = move_m25(&app).await;
    let gid = encode("Measure", id).0;
    let meti = encode("Order", order_id(&app, "METI-2022-06-30").await).0;
    let f1 = encode("Finding", finding_id(&app, "METI-2022-06-30", "1").await).0;
    // (day, due, owner, finding, moves, overdue that day)
    let days = [
        ("2023-01-05", "2022-12-31", "system-dept", "1", 0, true),
        ("2023-01-20", "2023-03-31", "system-dept", "1", 1, false),
        ("2023-02-20", "2023-03-31", "isec-office", "1", 1, false),
        ("2023-03-20", "2023-03-31", "isec-office", "2", 1, false),
        ("2023-04-20", "2023-06-30", "isec-office", "2", 2, false),
    ];
    for (day, due, owner, finding, moves, overdue) in days {
        let q = format!(
            "query($id: ID!, $d: NaiveDate!, $o: ID!, $f: ID!) {{
              node(id: $id, asOf: $d) {{ ... on Measure {{ {MEASURE_FIELDS} }} }}
              nodes(ids: [$id], asOf: $d) {{ ... on Measure {{ dueOn owner {{ code }} }} }}
              measures(asOf: $d, filter: {{orderId: $o}}, first: 100) {{ nodes {{ code dueOn owner {{ code }} }} }}
              findings(asOf: $d, filter: {{orderId: $o}}, first: 50) {{ nodes {{ id number measures(first: 100) {{ nodes {{ code }} }} }} }}
              orders(asOf: $d, first: 10) {{ nodes {{ id reference
                progress {{ slipped total }}
                timeline(last: 100) {{ nodes {{ kind summary on }} }} }} }}
              progress(asOf: $d) {{ slipped orders {{ order {{ reference }} slipped }} }}
              overdueMeasures(asOf: $d, first: 100) {{ nodes {{ code dueOn }} }}
              regulatorReport(orderId: $o, asOf: $d, format: JSON) {{ content }}
              f1: node(id: $f, asOf: $d) {{ ... on Finding {{ measures(first: 100) {{ nodes {{ code }} }} }} }}
            }}"
        );
        let data = app
            .query_ok(&q, json!({"id": gid, "d": day, "o": meti, "f": f1}))
            .await;
        let ctx = format!("as of {day}");
        let node = &data["node"];
        assert_eq!(node["dueOn"], due, "{ctx}: {node}");
        assert_eq!(node["originalDueOn"], "2022-12-31", "{ctx}");
        assert_eq!(node["owner"]["code"], owner, "{ctx}");
        assert_eq!(
            node["findings"]["nodes"],
            json!([{"number": finding}]),
            "{ctx}"
        );
        assert_eq!(node["overdue"], overdue, "{ctx}");
        let changes = node["dueDateChanges"].as_array().unwrap();
        assert_eq!(changes.len(), moves, "{ctx}: {changes:?}");
        if moves >= 1 {
            assert_eq!(changes[0]["from"], "2022-12-31");
            assert_eq!(changes[0]["to"], "2023-03-31");
            assert_eq!(changes[0]["reason"], "the WAF vendor's delivery slipped");
            assert_eq!(changes[0]["later"], true);
        }
        assert_eq!(data["nodes"][0]["dueOn"], due, "{ctx}");
        assert_eq!(data["nodes"][0]["owner"]["code"], owner, "{ctx}");
        let listed = data["measures"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["code"] == "M-25")
            .cloned()
            .unwrap_or_else(|| panic!("{ctx}: M-25 not listed"));
        assert_eq!(listed["dueOn"], due, "{ctx}");
        assert_eq!(listed["owner"]["code"], owner, "{ctx}");
        // The finding M-25 answered that day lists it; the other does not.
        for f in data["findings"]["nodes"].as_array().unwrap() {
            let has = f["measures"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["code"] == "M-25");
            assert_eq!(
                has,
                f["number"] == finding,
                "{ctx}: finding {}",
                f["number"]
            );
        }
        let on_f1 = data["f1"]["measures"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["code"] == "M-25");
        assert_eq!(on_f1, finding == "1", "{ctx}");
        // Slips: M-25 is the only measure whose due date ever moved later.
        let slipped = if moves > 0 { 1 } else { 0 };
        assert_eq!(data["progress"]["slipped"], slipped, "{ctx}");
        let meti_row = data["progress"]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["order"]["reference"] == "METI-2022-06-30")
            .unwrap()
            .clone();
        assert_eq!(meti_row["slipped"], slipped, "{ctx}");
        let order = data["orders"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["reference"] == "METI-2022-06-30")
            .unwrap()
            .clone();
        // `Order.progress` inherits the list's date.
        assert_eq!(order["progress"]["slipped"], slipped, "{ctx}");
        let moved: Vec<&Value> = order["timeline"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "DUE_DATE_MOVED")
            .collect();
        assert_eq!(moved.len(), moves, "{ctx}: {moved:?}");
        if moves >= 1 {
            assert_eq!(
                moved[0]["summary"],
                "M-25 due date moved from 2022-12-31 to 2023-03-31: the WAF vendor's delivery slipped"
            );
        }
        for e in order["timeline"]["nodes"].as_array().unwrap() {
            assert!(e["on"].as_str().unwrap() <= day, "{ctx}: {e}");
        }
        let late = data["overdueMeasures"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["code"] == "M-25");
        assert_eq!(late, overdue, "{ctx}");
        let report: Value =
            serde_json::from_str(data["regulatorReport"]["content"].as_str().unwrap()).unwrap();
        let row = report["measures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["code"] == "M-25")
            .cloned()
            .unwrap_or_else(|| panic!("{ctx}: M-25 not in the report"));
        assert_eq!(row["due_on"], due, "{ctx}");
        assert_eq!(row["original_due_on"], "2022-12-31", "{ctx}");
        assert_eq!(row["times_moved"], moves, "{ctx}");
        assert_eq!(row["owner"]["code"], owner, "{ctx}");
        let category = if finding == "1" {
            "TECHNICAL"
        } else {
            "ORGANIZATIONAL"
        };
        assert_eq!(
            row["findings"],
            json!([format!("{category}-{finding}")]),
            "{ctx}"
        );
    }
    // Without a date: today's values.
    let data = app
        .query_ok(
            &format!(
                "query($id: ID!) {{ node(id: $id) {{ ... on Measure {{ {MEASURE_FIELDS} }} }} }}"
            ),
            json!({"id": gid}),
        )
        .await;
    assert_eq!(data["node"]["dueOn"], "2023-06-30");
    assert_eq!(data["node"]["owner"]["code"], "isec-office");
    assert_eq!(data["node"]["dueDateChanges"].as_array().unwrap().len(), 2);
    // The day before the plan was recorded, M-25 did not exist.
    let (_, body) = app
        .graphql(
            "query($id: ID!) { node(id: $id, asOf: \"2022-06-01\") { id } }",
            json!({"id": gid}),
        )
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
    // And the audit log, the history and the live rows still agree.
    assert_eq!(remedy::service::history::verify(&app.db).await.unwrap(), []);
}

#[tokio::test]
async fn known_at_before_a_late_recorded_completion_does_not_count_it() {
    let app = spawn_demo_app().await;
    let m = measure(&app, "M-11").await; // in progress since 2022-09-01
    let gid = encode("Measure", m.id).0;
    let before = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let done = app
        .query_ok(
            "mutation($id: ID!, $v: Int!) { transitionMeasure(input: {id: $id, version: $v, to: IMPLEMENTED, on: \"2022-12-15\"}) { status completedOn } }",
            json!({"id": gid, "v": m.version}),
        )
        .await;
    assert_eq!(done["transitionMeasure"]["status"], "IMPLEMENTED");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let after = Utc::now();
    let q = "query($id: ID!, $k: DateTime) {
        node(id: $id, asOf: \"2022-12-20\", knownAt: $k) { ... on Measure { status completedOn } }
        progress(asOf: \"2022-12-20\", knownAt: $k) { implemented inProgress } }";
    let then = app
        .query_ok(q, json!({"id": gid, "k": before.to_rfc3339()}))
        .await;
    let later = app
        .query_ok(q, json!({"id": gid, "k": after.to_rfc3339()}))
        .await;
    let now = app.query_ok(q, json!({"id": gid, "k": null})).await;
    assert_eq!(then["node"]["status"], "IN_PROGRESS");
    assert_eq!(then["node"]["completedOn"], Value::Null);
    for known in [&later, &now] {
        assert_eq!(known["node"]["status"], "IMPLEMENTED");
        assert_eq!(known["node"]["completedOn"], "2022-12-15");
        assert_eq!(
            known["progress"]["implemented"].as_u64().unwrap(),
            then["progress"]["implemented"].as_u64().unwrap() + 1
        );
        assert_eq!(
            known["progress"]["inProgress"].as_u64().unwrap() + 1,
            then["progress"]["inProgress"].as_u64().unwrap()
        );
    }
    // Before its completion date it was in progress, however late it was recorded.
    let early = app
        .query_ok(
            "query($id: ID!) { node(id: $id, asOf: \"2022-12-01\") { ... on Measure { status } } }",
            json!({"id": gid}),
        )
        .await;
    assert_eq!(early["node"]["status"], "IN_PROGRESS");
    // The database cannot have known anything in the future.
    let (_, body) = app
        .graphql(
            "query($k: DateTime) { progress(asOf: \"2022-12-20\", knownAt: $k) { total } }",
            json!({"k": (Utc::now() + chrono::Duration::days(1)).to_rfc3339()}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);
}

/// The instant each demo report's submission was recorded, from its history.
async fn submissions(app: &TestApp) -> Vec<(i64, String, String, String)> {
    let rows = app
        .db
        .query_all(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT h.id, h.code, h.submitted_on, h.recorded_at FROM report_history h \
             WHERE h.snapshot IS NOT NULL AND NOT EXISTS (SELECT 1 FROM report_history p \
             WHERE p.id = h.id AND p.snapshot IS NOT NULL AND p.history_id < h.history_id) \
             ORDER BY h.code",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let at: chrono::DateTime<Utc> = r.try_get("", "recorded_at").unwrap();
            let on: NaiveDate = r.try_get("", "submitted_on").unwrap();
            (
                r.try_get("", "id").unwrap(),
                r.try_get("", "code").unwrap(),
                on.to_string(),
                at.to_rfc3339(),
            )
        })
        .collect()
}

pub(crate) fn verify_cli(app: &TestApp) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args(["audit", "verify"])
        .env("REMEDY_DATABASE_URL", &app._test_db.url)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn submitted_reports_regenerate_to_their_snapshots_and_verify_names_a_tampered_version() {
    let app = spawn_demo_app().await;
    let subs = submissions(&app).await;
    let codes: Vec<&str> = subs.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(
        codes,
        [
            "METI-2022-08-01",
            "METI-2022-09-15",
            "METI-2022-10-06",
            "PPC-2022-08-01"
        ]
    );
    for (id, code, on, at) in &subs {
        let report = report::Entity::find_by_id(*id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        let data = app
            .query_ok(
                "query($r: ID!, $o: ID!, $d: NaiveDate!, $k: DateTime!) {
                   node(id: $r) { ... on Report { snapshot } }
                   regulatorReport(orderId: $o, asOf: $d, knownAt: $k, format: JSON) { content } }",
                json!({"r": encode("Report", *id).0, "o": encode("Order", report.order_id).0, "d": on, "k": at}),
            )
            .await;
        let snapshot = &data["node"]["snapshot"];
        let again: Value =
            serde_json::from_str(data["regulatorReport"]["content"].as_str().unwrap()).unwrap();
        let frozen = snapshot["measures"].as_array().unwrap();
        assert!(!frozen.is_empty(), "{code}");
        for m in frozen {
            let row = again["measures"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["code"] == m["code"])
                .unwrap_or_else(|| {
                    panic!("{code}: {} missing from the regenerated report", m["code"])
                });
            for (snap, gen) in [
                ("status", "status"),
                ("startedOn", "started_on"),
                ("dueOn", "due_on"),
                ("completedOn", "completed_on"),
                ("title", "title"),
            ] {
                assert_eq!(m[snap], row[gen], "{code} {}: {snap}", m["code"]);
            }
        }
    }
    let (ok, out) = verify_cli(&app);
    assert!(ok, "{out}");
    assert!(out.contains("every submitted report reproduced"), "{out}");

    // An edit made directly in the database (by someone who can lift the trigger).
    let m = measure(&app, "M-03").await;
    let backend = app.db.get_database_backend();
    let lift = match backend {
        DatabaseBackend::Postgres => {
            "ALTER TABLE measure_history DISABLE TRIGGER trg_measure_history_append_only"
        }
        _ => "DROP TRIGGER trg_measure_history_no_update",
    };
    app.db.execute_unprepared(lift).await.unwrap();
    app.db
        .execute_unprepared(&format!(
            "UPDATE measure_history SET completed_on = '2022-07-15' WHERE id = {} \
             AND history_id = (SELECT MAX(history_id) FROM measure_history WHERE id = {})",
            m.id, m.id
        ))
        .await
        .unwrap();
    let (ok, out) = verify_cli(&app);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("measure {}: version", m.id)),
        "the tampered version is named: {out}"
    );
    // M-03's completion date, as known at every submission, moved before the first report:
    // that report no longer reproduces.
    assert!(out.contains("report METI-2022-08-01"), "{out}");
}

#[tokio::test]
async fn an_evaluator_sees_the_date_changes_of_its_orders_only() {
    let app = spawn_demo_app().await;
    move_m25(&app).await;
    // M-21 answers the PPC order only; its date moves too.
    let m21 = measure(&app, "M-21").await;
    let id21 = m21.id;
    let w = dated(&app, "2023-01-15").await;
    let input: MeasureChanges = serde_json::from_value(json!({
        "due_on": "2023-05-31",
        "due_change_reason": "PPC-only move"
    }))
    .unwrap();
    measures::update_measure(
        &w,
        &Caller::system("test"),
        id21,
        m21.version,
        &input,
        &imported(),
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    let token = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let m25 = encode("Measure", measure(&app, "M-25").await.id).0;
    let (_, body) = app
        .graphql_as(
            Some(&token),
            "query($a: ID!, $b: ID!) {
               a: node(id: $a) { ... on Measure { dueDateChanges { from to reason } } }
               b: node(id: $b, asOf: \"2023-06-01\") { ... on Measure { dueDateChanges { reason } } }
               orders(asOf: \"2023-06-01\", first: 10) { nodes { reference timeline(last: 100) { nodes { kind summary } } } }
               measures(first: 100) { nodes { code dueDateChanges { reason } } } }",
            json!({"a": m25, "b": encode("Measure", id21).0}),
        )
        .await;
    let data = &body["data"];
    let changes = data["a"]["dueDateChanges"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{body}");
    assert_eq!(changes[1]["reason"], "scope extended to the admin screens");
    assert_eq!(data["b"], Value::Null);
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
    let orders = data["orders"]["nodes"].as_array().unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["reference"], "METI-2022-06-30");
    let text = body.to_string();
    assert!(!text.contains("PPC-only move"), "{text}");
    assert!(text.contains("M-25 due date moved"), "{text}");
    assert!(data["measures"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["code"] != "M-21"));
}

#[tokio::test]
async fn history_tables_refuse_updates_and_deletes() {
    let app = spawn_demo_app().await;
    for t in [
        "regulator_history",
        "regulatory_order_history",
        "finding_history",
        "owner_history",
        "system_history",
        "measure_history",
        "report_history",
        "measure_finding_history",
        "measure_system_history",
        "report_measure_history",
    ] {
        for sql in [
            format!("UPDATE {t} SET history_id = history_id"),
            format!("DELETE FROM {t}"),
        ] {
            let err = app.db.execute_unprepared(&sql).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
    }
}

/// `owner.account` came with a later migration: an owner's versions recorded before it hold
/// NULL there and their audit events do not name the column. `remedy audit verify` takes that
/// for what it is, and still names a version holding an account its event does not know.
#[tokio::test]
async fn versions_from_before_a_new_column_verify_and_a_value_their_event_lacks_is_named() {
    use sea_orm::{ActiveModelTrait, Set};
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (code, account) in [
        ("before-accounts", None),
        ("forged-account", Some("x@example.com")),
    ] {
        let w = Write::begin(&app.db, &app.gate, "test:upgrade")
            .await
            .unwrap();
        let row = owner::ActiveModel {
            code: Set(code.into()),
            name: Set(code.into()),
            name_local: Set(None),
            kind: Set(entity::enums::OwnerKind::Person),
            role_title: Set(None),
            contact: Set(None),
            account: Set(account.map(str::to_string)),
            parent_id: Set(None),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(w.now),
            updated_at: Set(w.now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await
        .unwrap();
        // The event as it was recorded before the column existed.
        let mut after = json!(row);
        after.as_object_mut().unwrap().remove("account");
        w.audit("create", "Owner", row.id, None, Some(after))
            .await
            .unwrap();
        w.commit().await.unwrap();
        ids.push(row.id);
    }
    let found = remedy::service::history::verify(&app.db).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].subject, format!("owner {}", ids[1]));
    assert!(found[0].problem.ends_with("in account"), "{found:?}");
}
