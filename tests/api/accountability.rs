//! Accountability of the workflow over HTTP: separation of duties on VERIFIED (`plan:verify`,
//! never the person who implemented the measure nor its owner's account), the settings that
//! switch it off, and the effective dates of transitions (not in the future, not before the
//! start, back-dated beyond the window only with `plan:approve`).
use std::sync::atomic::Ordering;

use chrono::{Days, NaiveDate, Utc};
use entity::prelude::*;
use entity::*;
use remedy::auth::Role;
use remedy::id::encode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::*;

const TRANSITION: &str = "mutation($i: TransitionMeasureInput!) { transitionMeasure(input: $i) { id status version startedOn completedOn } }";
const CAN_VERIFY: &str =
    "query($id: ID!) { node(id: $id) { ... on Measure { status permissions { canVerify canEdit } } } }";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn days_ago(n: u64) -> String {
    today().checked_sub_days(Days::new(n)).unwrap().to_string()
}

fn days_ahead(n: u64) -> String {
    today().checked_add_days(Days::new(n)).unwrap().to_string()
}

/// A token for `subject` with `roles` (a second person, or the same person with more roles).
async fn token_for(app: &TestApp, subject: &str, roles: &[Role]) -> String {
    issue(&app.db, &app.gate, &app.keys, subject, roles, &[]).await
}

async fn audit_count(app: &TestApp) -> u64 {
    AuditEvent::find().count(&app.db).await.unwrap()
}

/// A new measure (as ADMIN), optionally owned by `owner`; returns its ID and version.
async fn new_measure(app: &TestApp, code: &str, owner: Option<&str>) -> (String, i64) {
    let order = RegulatoryOrder::find()
        .filter(regulatory_order::Column::Reference.eq("PPC-2022-07-13"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let finding = Finding::find()
        .filter(finding::Column::OrderId.eq(order.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let data = app
        .query_ok(
            "mutation($i: CreateMeasureInput!) { createMeasure(input: $i) { id version } }",
            json!({"i": {"code": code, "title": format!("Measure {code}"), "ownerId": owner,
                   "findingIds": [encode("Finding", finding.id).0], "dueOn": "2030-12-31"}}),
        )
        .await;
    let m = &data["createMeasure"];
    (
        m["id"].as_str().unwrap().to_string(),
        m["version"].as_i64().unwrap(),
    )
}

/// Current evidence for a measure (registered as ADMIN).
async fn register_evidence(app: &TestApp, measure: &str) {
    app.query_ok(
        "mutation($i: EvidenceInput!, $d: ExternalDocumentInput!) { registerEvidence(input: $i, document: $d) { id } }",
        json!({"i": {"measureId": measure, "kind": "PENTEST_REPORT", "title": "Pen test report", "issuedOn": "2022-11-20", "validFrom": "2022-11-20"},
               "d": {"storageUri": "https://dms.example/pentest.pdf", "sha256": "b".repeat(64), "mediaType": "application/pdf", "sizeBytes": 1234}}),
    )
    .await;
}

/// A transition with `token`: the measure (or `null`), the error codes, the first message.
async fn transition(
    app: &TestApp,
    token: &str,
    id: &str,
    version: i64,
    to: &str,
    on: Option<&str>,
) -> (Value, Vec<String>, String) {
    let (status, body) = app
        .graphql_as(
            Some(token),
            TRANSITION,
            json!({"i": {"id": id, "version": version, "to": to, "on": on}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let message = body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (
        body["data"]["transitionMeasure"].clone(),
        error_codes(&body),
        message,
    )
}

/// A transition that must succeed; returns the new version.
async fn moved(app: &TestApp, token: &str, id: &str, version: i64, to: &str, on: &str) -> i64 {
    let (m, e, msg) = transition(app, token, id, version, to, Some(on)).await;
    assert!(e.is_empty(), "{to} on {on}: {e:?} {msg}");
    assert_eq!(m["status"], to);
    m["version"].as_i64().unwrap()
}

/// A measure implemented by `implementer` (started 3 days ago, done 2 days ago) with current
/// evidence; returns its ID and version.
async fn implemented(
    app: &TestApp,
    implementer: &str,
    code: &str,
    owner: Option<&str>,
) -> (String, i64) {
    let (id, v) = new_measure(app, code, owner).await;
    let v = moved(app, implementer, &id, v, "IN_PROGRESS", &days_ago(3)).await;
    let v = moved(app, implementer, &id, v, "IMPLEMENTED", &days_ago(2)).await;
    register_evidence(app, &id).await;
    (id, v)
}

async fn can_verify(app: &TestApp, token: &str, id: &str) -> bool {
    let (_, body) = app
        .graphql_as(Some(token), CAN_VERIFY, json!({"id": id}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["node"]["permissions"]["canVerify"]
        .as_bool()
        .unwrap()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let data = app.query_ok(CAN_VERIFY, json!({"id": id})).await;
    data["node"]["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn verifying_needs_plan_verify_and_another_person_than_the_implementer() {
    let app = spawn_demo_app().await;
    // test-admin (ADMIN: plan:write and plan:verify) implements A-1.
    let admin = app.admin_token.clone();
    let (id, v) = implemented(&app, &admin, "A-1", None).await;
    let editor = app.token(Role::Editor, &[]).await;
    let auditor = app.token(Role::Auditor, &[]).await;
    let events = audit_count(&app).await;

    // The same subject, although it holds plan:verify, may not verify its own work.
    assert!(!can_verify(&app, &admin, &id).await);
    let (m, e, msg) = transition(&app, &admin, &id, v, "VERIFIED", None).await;
    assert_eq!(e, ["FORBIDDEN"]);
    assert!(m.is_null());
    assert_eq!(
        msg,
        "forbidden: separation of duties: the person who implemented A-1 (test-admin) cannot verify it"
    );
    // Nor under another spelling of the same subject.
    let shouting = token_for(&app, "TEST-ADMIN", &[Role::Admin]).await;
    let (_, e, msg) = transition(&app, &shouting, &id, v, "VERIFIED", None).await;
    assert_eq!(e, ["FORBIDDEN"], "{msg}");
    assert!(msg.contains("separation of duties"), "{msg}");
    // An EDITOR (another person) lacks plan:verify.
    assert!(!can_verify(&app, &editor, &id).await);
    let (_, e, msg) = transition(&app, &editor, &id, v, "VERIFIED", None).await;
    assert_eq!(e, ["FORBIDDEN"]);
    assert_eq!(
        msg,
        "forbidden: separation of duties: moving a measure to VERIFIED requires plan:verify"
    );
    // Nothing was written by the refusals (issuing the second token aside).
    assert_eq!(audit_count(&app).await, events + 1);
    assert_eq!(status_of(&app, &id).await, "IMPLEMENTED");

    // An AUDITOR (another person, plan:verify) may, and the audit log names it.
    assert!(can_verify(&app, &auditor, &id).await);
    let v = moved(&app, &auditor, &id, v, "VERIFIED", &today().to_string()).await;
    assert!(!can_verify(&app, &auditor, &id).await, "already verified");
    let raw = remedy::id::decode(&async_graphql::ID(id.clone()), "Measure").unwrap();
    let data = app
        .query_ok(
            "query($e: String) { auditLog(filter: {entity: \"Measure\", entityId: $e}, first: 10) { nodes { action actor } } }",
            json!({"e": raw.to_string()}),
        )
        .await;
    let actors: Vec<&str> = data["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["actor"].as_str().unwrap())
        .collect();
    assert_eq!(
        actors,
        ["test-admin", "test-admin", "test-admin", "test-auditor"]
    );
    assert!(v > 0);

    // An AUDITOR holds plan:verify, not plan:write: it moves nothing else.
    let (id2, v2) = new_measure(&app, "A-2", None).await;
    let (_, e, msg) = transition(&app, &auditor, &id2, v2, "IN_PROGRESS", None).await;
    assert_eq!(e, ["FORBIDDEN"]);
    assert_eq!(msg, "forbidden: requires plan:write");
    // The implementer of the current cycle is the one who moved it to IMPLEMENTED, not
    // whoever touched it last: an edit by the auditor's colleague changes nothing.
    let (id3, v3) = implemented(&app, &editor, "A-3", None).await;
    let data = app
        .query_ok(
            "mutation($id: ID!, $v: Int!) { updateMeasure(id: $id, version: $v, input: {note: \"checked\"}) { version } }",
            json!({"id": id3, "v": v3}),
        )
        .await;
    let v3 = data["updateMeasure"]["version"].as_i64().unwrap();
    let editor_auditor = token_for(&app, "test-editor", &[Role::Editor, Role::Auditor]).await;
    assert!(!can_verify(&app, &editor_auditor, &id3).await);
    let (_, e, msg) = transition(&app, &editor_auditor, &id3, v3, "VERIFIED", None).await;
    assert_eq!(e, ["FORBIDDEN"]);
    assert_eq!(
        msg,
        "forbidden: separation of duties: the person who implemented A-3 (test-editor) cannot verify it"
    );
    // The admin who only edited it may verify it.
    assert!(can_verify(&app, &admin, &id3).await);
    moved(&app, &admin, &id3, v3, "VERIFIED", &today().to_string()).await;
    // The history and the audit log still agree.
    assert_eq!(remedy::service::history::verify(&app.db).await.unwrap(), []);
}

#[tokio::test]
async fn the_owners_account_cannot_verify_its_own_measure() {
    let app = spawn_demo_app().await;
    let owner = app
        .query_ok(
            "mutation { createOwner(input: {code: \"tanaka\", name: \"Tanaka\", kind: PERSON, account: \"tanaka@example.com\"}) { id version account } }",
            json!({}),
        )
        .await["createOwner"]
        .clone();
    assert_eq!(owner["account"], "tanaka@example.com");
    let owner_id = owner["id"].as_str().unwrap().to_string();
    // The account is private like the contact: readable with contacts:read only.
    let viewer = app.token(Role::Viewer, &[]).await;
    let (_, body) = app
        .graphql_as(
            Some(&viewer),
            "query($id: ID!) { node(id: $id) { ... on Owner { code account } } }",
            json!({"id": owner_id}),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    assert!(body["data"]["node"]["account"].is_null(), "{body}");
    let auditor = app.token(Role::Auditor, &[]).await;
    let data = app
        .query_ok_as(
            &auditor,
            &format!("{{ node(id: \"{owner_id}\") {{ ... on Owner {{ account }} }} }}"),
        )
        .await;
    assert_eq!(data["node"]["account"], "tanaka@example.com");
    // Unique when set; kept exactly or refused.
    let (_, body) = app
        .graphql(
            "mutation { createOwner(input: {code: \"tanaka-2\", name: \"Tanaka again\", kind: PERSON, account: \"tanaka@example.com\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("account:"),
        "{body}"
    );
    let (_, body) = app
        .graphql(
            "mutation { createOwner(input: {code: \"sato\", name: \"Sato\", kind: PERSON, account: \" sato@example.com\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "account");

    // Tanaka's measure, implemented by an editor.
    let editor = app.token(Role::Editor, &[]).await;
    let (id, v) = implemented(&app, &editor, "O-1", Some(&owner_id)).await;
    let tanaka = token_for(&app, "tanaka@example.com", &[Role::Auditor]).await;
    assert!(!can_verify(&app, &tanaka, &id).await);
    let (_, e, msg) = transition(&app, &tanaka, &id, v, "VERIFIED", None).await;
    assert_eq!(e, ["FORBIDDEN"]);
    assert_eq!(
        msg,
        "forbidden: separation of duties: the account of O-1's owner (tanaka@example.com) cannot verify it"
    );
    assert_eq!(status_of(&app, &id).await, "IMPLEMENTED");
    // Another auditor may.
    assert!(can_verify(&app, &auditor, &id).await);

    // The rule follows the owner's account as it stands: cleared (""), Tanaka is nobody's
    // owner account any more.
    let data = app
        .query_ok(
            "mutation($id: ID!, $v: Int!) { updateOwner(id: $id, version: $v, input: {account: \"\"}) { account } }",
            json!({"id": owner_id, "v": owner["version"]}),
        )
        .await;
    assert!(data["updateOwner"]["account"].is_null());
    assert!(can_verify(&app, &tanaka, &id).await);
    moved(&app, &tanaka, &id, v, "VERIFIED", &today().to_string()).await;
    assert_eq!(remedy::service::history::verify(&app.db).await.unwrap(), []);
}

#[tokio::test]
async fn transition_dates_are_not_future_not_before_the_start_and_back_dated_only_with_approval() {
    let app = spawn_demo_app().await;
    let editor = app.token(Role::Editor, &[]).await;
    let admin = app.admin_token.clone();
    let auditor = app.token(Role::Auditor, &[]).await;

    // In the future: refused to anyone, on `on`.
    let (id, v) = new_measure(&app, "D-1", None).await;
    for token in [&editor, &admin] {
        let (_, body) = app
            .graphql_as(
                Some(token),
                TRANSITION,
                json!({"i": {"id": id, "version": v, "to": "IN_PROGRESS", "on": days_ahead(1)}}),
            )
            .await;
        assert_eq!(error_codes(&body), ["VALIDATION"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "on");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with("on: cannot be in the future"),
            "{body}"
        );
    }

    // Three days back: an EDITOR may; then completion before the start is refused.
    let v = moved(&app, &editor, &id, v, "IN_PROGRESS", &days_ago(3)).await;
    let (_, body) = app
        .graphql_as(
            Some(&editor),
            TRANSITION,
            json!({"i": {"id": id, "version": v, "to": "IMPLEMENTED", "on": days_ago(4)}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "on");
    assert_eq!(
        body["errors"][0]["message"],
        format!(
            "on: completion cannot be before the start ({})",
            days_ago(3)
        )
    );
    // So is verification before the start.
    let v = moved(&app, &editor, &id, v, "IMPLEMENTED", &days_ago(1)).await;
    register_evidence(&app, &id).await;
    let (_, e, msg) = transition(&app, &auditor, &id, v, "VERIFIED", Some(&days_ago(5))).await;
    assert_eq!(e, ["VALIDATION"]);
    assert_eq!(
        msg,
        format!(
            "on: verification cannot be before the start ({})",
            days_ago(3)
        )
    );

    // Ten days back: beyond the 7-day window, refused to an EDITOR (no plan:approve) and
    // nothing written; allowed to a caller with plan:approve.
    let (id, v) = new_measure(&app, "D-2", None).await;
    let events = audit_count(&app).await;
    let (m, e, msg) = transition(&app, &editor, &id, v, "IN_PROGRESS", Some(&days_ago(10))).await;
    assert_eq!(e, ["FORBIDDEN"]);
    assert!(m.is_null());
    assert_eq!(
        msg,
        format!(
            "forbidden: back-dating window: D-2 to IN_PROGRESS on {} is more than 7 days before today ({}), which requires plan:approve",
            days_ago(10),
            today()
        )
    );
    assert_eq!(audit_count(&app).await, events);
    // Seven days back is within the window; eight is not.
    let (_, e, _) = transition(&app, &editor, &id, v, "IN_PROGRESS", Some(&days_ago(8))).await;
    assert_eq!(e, ["FORBIDDEN"]);
    let v7 = moved(&app, &editor, &id, v, "IN_PROGRESS", &days_ago(7)).await;
    assert!(v7 > v);
    // ADMIN holds plan:approve (as AUDITOR does).
    let (id, v) = new_measure(&app, "D-3", None).await;
    let v = moved(&app, &admin, &id, v, "IN_PROGRESS", &days_ago(10)).await;
    let data = app.query_ok(CAN_VERIFY, json!({"id": id})).await;
    assert_eq!(data["node"]["status"], "IN_PROGRESS");
    // ... and a completion far back, by someone holding plan:write and plan:approve.
    let both = token_for(&app, "test-lead", &[Role::Editor, Role::Auditor]).await;
    moved(&app, &both, &id, v, "IMPLEMENTED", &days_ago(9)).await;
}

#[tokio::test]
async fn the_settings_switch_separation_of_duties_off_and_widen_the_window() {
    let app = spawn_demo_app_configured(|c| {
        c.separation_of_duties = false;
        c.backdate_window_days = 30;
    })
    .await;
    let admin = app.admin_token.clone();
    let editor = app.token(Role::Editor, &[]).await;
    // Off: the same subject, holding plan:verify, verifies its own implementation.
    let (id, v) = implemented(&app, &admin, "S-1", None).await;
    assert!(can_verify(&app, &admin, &id).await);
    moved(&app, &admin, &id, v, "VERIFIED", &today().to_string()).await;
    // plan:verify is still needed.
    let (id, v) = implemented(&app, &editor, "S-2", None).await;
    assert!(!can_verify(&app, &editor, &id).await);
    let (_, e, msg) = transition(&app, &editor, &id, v, "VERIFIED", None).await;
    assert_eq!(e, ["FORBIDDEN"]);
    assert!(msg.contains("requires plan:verify"), "{msg}");
    // A 30-day window: ten days back is an EDITOR's to record, 31 is not.
    let (id, v) = new_measure(&app, "S-3", None).await;
    let (_, e, _) = transition(&app, &editor, &id, v, "IN_PROGRESS", Some(&days_ago(31))).await;
    assert_eq!(e, ["FORBIDDEN"]);
    moved(&app, &editor, &id, v, "IN_PROGRESS", &days_ago(10)).await;
}

#[tokio::test]
async fn can_verify_follows_the_rule_across_a_page_at_a_constant_cost() {
    // A batching window wide enough for a debug build to register every key of a page.
    let app = spawn_demo_app_configured(|c| c.loader_delay_ms = 300).await;
    let admin = app.admin_token.clone();
    // One measure implemented by the admin among the demo's (imported by the seed).
    let (mine, _) = implemented(&app, &admin, "P-1", None).await;
    let auditor = app.token(Role::Auditor, &[]).await;
    let editor = app.token(Role::Editor, &[]).await;
    let q = "query($n: Int) { measures(first: $n) { nodes { id code status permissions { canVerify } } } }";
    let list = |data: &Value| -> Vec<(String, String, bool)> {
        data["measures"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["id"].as_str().unwrap().to_string(),
                    n["status"].as_str().unwrap().to_string(),
                    n["permissions"]["canVerify"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let total = Measure::find().count(&app.db).await.unwrap();
    assert!(total > 30 && total <= 100, "{total}");
    let mut counts = Vec::new();
    for n in [10, 100] {
        let before = app.statements.load(Ordering::SeqCst);
        let (_, body) = app.graphql_as(Some(&auditor), q, json!({"n": n})).await;
        assert!(body.get("errors").is_none(), "{body}");
        counts.push(app.statements.load(Ordering::SeqCst) - before);
        let nodes = list(&body["data"]);
        assert!(nodes.iter().any(|(_, _, c)| *c), "{body}");
        for (_, status, can) in &nodes {
            // The demo's implemented measures were imported by the seed, not by a person.
            assert_eq!(*can, status == "IMPLEMENTED", "{status}");
        }
    }
    assert_eq!(
        counts[0], counts[1],
        "statements for 10 and for all measures"
    );
    // The admin: every implemented measure but its own.
    let (_, body) = app.graphql_as(Some(&admin), q, json!({"n": 100})).await;
    for (id, status, can) in list(&body["data"]) {
        assert_eq!(can, status == "IMPLEMENTED" && id != mine, "{id}");
    }
    // An EDITOR: none.
    let (_, body) = app.graphql_as(Some(&editor), q, json!({"n": 100})).await;
    assert!(list(&body["data"]).iter().all(|(_, _, c)| !c), "{body}");
    // In a read as of a date, canVerify tells what may be done now: M-01, implemented on
    // 2022-08-31, was still open on 2022-07-01.
    let m01 = Measure::find()
        .filter(measure::Column::Code.eq("M-01"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m01.status, entity::enums::MeasureStatus::Implemented);
    let (_, body) = app
        .graphql_as(
            Some(&auditor),
            "query($id: ID!) { node(id: $id, asOf: \"2022-07-01\") { ... on Measure { status permissions { canVerify } } } }",
            json!({"id": encode("Measure", m01.id).0}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_ne!(body["data"]["node"]["status"], "IMPLEMENTED", "{body}");
    assert_eq!(
        body["data"]["node"]["permissions"]["canVerify"], true,
        "{body}"
    );
}
