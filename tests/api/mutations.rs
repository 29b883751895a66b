//! Changing the plan over HTTP: the workflow, optimistic locking, evidence, reports,
//! evaluations and the audit log.
use entity::prelude::*;
use entity::*;
use remedy::auth::Role;
use remedy::id::encode;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Statement,
};
use serde_json::{json, Value};
use sha2::Digest;

use crate::helpers::*;

async fn finding_gid(app: &TestApp, order_ref: &str, number: &str) -> String {
    let order = RegulatoryOrder::find()
        .filter(regulatory_order::Column::Reference.eq(order_ref))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let f = Finding::find()
        .filter(finding::Column::OrderId.eq(order.id))
        .filter(finding::Column::Number.eq(number))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    encode("Finding", f.id).0
}

/// What a database administrator could do behind remedy's back: switch a table's append-only
/// trigger off, change a row, switch it on again (SQLite cannot disable a trigger: it is dropped).
async fn tamper(app: &TestApp, table: &str, update: String) {
    let backend = app.db.get_database_backend();
    let statements = match backend {
        DatabaseBackend::Postgres => vec![
            format!("ALTER TABLE {table} DISABLE TRIGGER trg_{table}_append_only"),
            update,
            format!("ALTER TABLE {table} ENABLE TRIGGER trg_{table}_append_only"),
        ],
        _ => vec![format!("DROP TRIGGER trg_{table}_no_update"), update],
    };
    for sql in statements {
        app.db
            .execute(Statement::from_string(backend, sql))
            .await
            .unwrap();
    }
}

async fn audit_count(app: &TestApp) -> u64 {
    AuditEvent::find().count(&app.db).await.unwrap()
}

const CREATE: &str =
    "mutation($i: CreateMeasureInput!) { createMeasure(input: $i) { id code status version } }";
const TRANSITION: &str = "mutation($i: TransitionMeasureInput!) { transitionMeasure(input: $i) { id status version startedOn completedOn statusReason } }";
const REGISTER: &str = "mutation($i: EvidenceInput!, $d: ExternalDocumentInput!) { registerEvidence(input: $i, document: $d) { id sha256 current } }";

async fn new_measure(app: &TestApp, code: &str) -> (String, i64) {
    let finding = finding_gid(app, "PPC-2022-07-13", "T3-1").await;
    let data = app
        .query_ok(CREATE, json!({"i": {"code": code, "title": format!("Measure {code}"), "findingIds": [finding], "dueOn": "2030-12-31"}}))
        .await;
    let m = &data["createMeasure"];
    assert_eq!(m["status"], "PLANNED");
    (
        m["id"].as_str().unwrap().to_string(),
        m["version"].as_i64().unwrap(),
    )
}

async fn register(app: &TestApp, measure: &str) -> Value {
    app.query_ok(
        REGISTER,
        json!({"i": {"measureId": measure, "kind": "PENTEST_REPORT", "title": "Pen test report", "issuedOn": "2022-11-20", "validFrom": "2022-11-20"},
               "d": {"storageUri": "https://dms.example/pentest.pdf", "sha256": "a".repeat(64), "mediaType": "application/pdf", "sizeBytes": 1234}}),
    )
    .await["registerEvidence"]
        .clone()
}

async fn transition(
    app: &TestApp,
    id: &str,
    version: i64,
    to: &str,
    reason: Option<&str>,
) -> (Value, Vec<String>) {
    transition_as(app, &app.admin_token, id, version, to, reason).await
}

/// A transition made with `token` (verifying needs another person than the implementer).
async fn transition_as(
    app: &TestApp,
    token: &str,
    id: &str,
    version: i64,
    to: &str,
    reason: Option<&str>,
) -> (Value, Vec<String>) {
    let (_, body) = app
        .graphql_as(Some(token), TRANSITION, json!({"i": {"id": id, "version": version, "to": to, "reason": reason, "on": "2022-12-01"}}))
        .await;
    let codes = error_codes(&body);
    (body["data"]["transitionMeasure"].clone(), codes)
}

#[tokio::test]
async fn a_measure_runs_from_planned_to_verified_with_an_audit_trail() {
    let app = spawn_demo_app().await;
    let (id, v) = new_measure(&app, "M-100").await;
    let (m, e) = transition(&app, &id, v, "IN_PROGRESS", None).await;
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(m["startedOn"], "2022-12-01");
    let (m, e) = transition(
        &app,
        &id,
        m["version"].as_i64().unwrap(),
        "IMPLEMENTED",
        None,
    )
    .await;
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(m["completedOn"], "2022-12-01");
    let version = m["version"].as_i64().unwrap();
    // VERIFIED needs current evidence, and someone other than the implementer (test-admin).
    let auditor = app.token(Role::Auditor, &[]).await;
    let (_, e) = transition_as(&app, &auditor, &id, version, "VERIFIED", None).await;
    assert_eq!(e, ["VALIDATION"]);
    register(&app, &id).await;
    let (m, e) = transition_as(&app, &auditor, &id, version, "VERIFIED", None).await;
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(m["status"], "VERIFIED");
    // The audit log proves every step, and the chain holds.
    let raw = remedy::id::decode(&async_graphql::ID(id.clone()), "Measure").unwrap();
    let data = app
        .query_ok(
            "query($e: String) { auditLog(filter: {entity: \"Measure\", entityId: $e}, first: 100) { nodes { action actor after } } verifyAuditLog { intact events firstBrokenId } }",
            json!({"e": raw.to_string()}),
        )
        .await;
    let actions: Vec<&str> = data["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["create", "transition", "transition", "transition"]
    );
    assert_eq!(data["auditLog"]["nodes"][0]["actor"], "test-admin");
    assert_eq!(data["auditLog"]["nodes"][3]["actor"], "test-auditor");
    assert_eq!(data["verifyAuditLog"]["intact"], true);
    assert!(data["verifyAuditLog"]["firstBrokenId"].is_null());
}

#[tokio::test]
async fn every_transition_is_allowed_or_refused_as_the_workflow_says() {
    // The workflow itself; with approvals on, deferring and cancelling are change requests
    // (`approvals::*`).
    let app = spawn_demo_app_configured(|c| c.approvals = false).await;
    let states = [
        "PLANNED",
        "IN_PROGRESS",
        "IMPLEMENTED",
        "VERIFIED",
        "DEFERRED",
        "CANCELLED",
    ];
    let allowed = [
        ("PLANNED", "IN_PROGRESS"),
        ("PLANNED", "DEFERRED"),
        ("PLANNED", "CANCELLED"),
        ("IN_PROGRESS", "IMPLEMENTED"),
        ("IN_PROGRESS", "DEFERRED"),
        ("IN_PROGRESS", "CANCELLED"),
        ("IMPLEMENTED", "VERIFIED"),
        ("DEFERRED", "PLANNED"),
        ("DEFERRED", "IN_PROGRESS"),
        ("DEFERRED", "CANCELLED"),
    ];
    let path = |s: &str| -> Vec<&str> {
        match s {
            "PLANNED" => vec![],
            "IN_PROGRESS" => vec!["IN_PROGRESS"],
            "IMPLEMENTED" => vec!["IN_PROGRESS", "IMPLEMENTED"],
            "VERIFIED" => vec!["IN_PROGRESS", "IMPLEMENTED", "VERIFIED"],
            "DEFERRED" => vec!["DEFERRED"],
            _ => vec!["CANCELLED"],
        }
    };
    // Verifying is another person's move than implementing (separation of duties).
    let auditor = app.token(Role::Auditor, &[]).await;
    let by = |to: &str| -> String {
        if to == "VERIFIED" {
            auditor.clone()
        } else {
            app.admin_token.clone()
        }
    };
    let mut n = 0;
    for from in states {
        for to in states {
            n += 1;
            let (id, mut v) = new_measure(&app, &format!("T-{n:02}")).await;
            register(&app, &id).await;
            for step in path(from) {
                let (m, e) = transition_as(&app, &by(step), &id, v, step, Some("reason")).await;
                assert!(e.is_empty(), "reaching {from} via {step}: {e:?}");
                v = m["version"].as_i64().unwrap();
            }
            let before = audit_count(&app).await;
            let (m, e) = transition_as(&app, &by(to), &id, v, to, Some("because")).await;
            if allowed.contains(&(from, to)) {
                assert!(e.is_empty(), "{from} -> {to} refused: {e:?}");
                assert_eq!(m["status"], to);
                assert_eq!(audit_count(&app).await, before + 1);
            } else {
                assert_eq!(e, ["VALIDATION"], "{from} -> {to} accepted");
                assert_eq!(
                    audit_count(&app).await,
                    before,
                    "a refused move wrote an audit event"
                );
            }
        }
    }
    // Deferring and cancelling need a reason, which is kept.
    let (id, v) = new_measure(&app, "R-1").await;
    let (_, e) = transition(&app, &id, v, "DEFERRED", None).await;
    assert_eq!(e, ["VALIDATION"]);
    let (m, _) = transition(&app, &id, v, "DEFERRED", Some("vendor contract pending")).await;
    assert_eq!(m["statusReason"], "vendor contract pending");
}

#[tokio::test]
async fn concurrent_updates_with_one_version_have_exactly_one_winner() {
    let app = spawn_demo_app().await;
    let (id, v) = new_measure(&app, "C-1").await;
    let q = "mutation($id: ID!, $v: Int!, $t: String!) { updateMeasure(id: $id, version: $v, input: {title: $t}) { version title } }";
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = app.client.clone();
        let url = format!("{}/graphql", app.address);
        let token = app.admin_token.clone();
        let body = json!({"query": q, "variables": {"id": id, "v": v, "t": format!("title {i}")}});
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    let mut conflicts = 0;
    for t in tasks {
        let body = t.await.unwrap();
        match error_codes(&body).as_slice() {
            [] => wins += 1,
            [c] if c == "CONFLICT" => {
                conflicts += 1;
                assert_eq!(
                    body["errors"][0]["extensions"]["currentVersion"],
                    v + 1,
                    "{body}"
                );
            }
            other => panic!("unexpected {other:?}: {body}"),
        }
    }
    assert_eq!((wins, conflicts), (1, 15));
    let raw = remedy::id::decode(&async_graphql::ID(id.clone()), "Measure").unwrap();
    let updates = AuditEvent::find()
        .filter(audit_event::Column::Entity.eq("Measure"))
        .filter(audit_event::Column::EntityId.eq(raw.to_string()))
        .filter(audit_event::Column::Action.eq("update"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(updates, 1);
    // A stale version is refused, never silently overwritten.
    let (_, body) = app.graphql(q, json!({"id": id, "v": v, "t": "late"})).await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_writes_nothing() {
    let app = spawn_demo_app().await;
    let finding = finding_gid(&app, "PPC-2022-07-13", "T3-1").await;
    let measures_before = Measure::find().count(&app.db).await.unwrap();
    let events_before = audit_count(&app).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"code": "E-1", "title": "  ", "findingIds": [finding]}),
            "title",
        ),
        (
            json!({"code": "E-1", "title": "x".repeat(501), "findingIds": [finding]}),
            "title",
        ),
        (
            json!({"code": "E-1", "title": "ok", "findingIds": []}),
            "findingIds",
        ),
        (
            json!({"code": "E-1", "title": "ok", "findingIds": [encode("Finding", 999_999).0]}),
            "finding",
        ),
        (
            json!({"code": "has space", "title": "ok", "findingIds": [finding]}),
            "code",
        ),
        (
            json!({"code": "E-1", "title": "nul\u{0}byte", "findingIds": [finding]}),
            "title",
        ),
        (
            json!({"code": "M-01", "title": "duplicate code", "findingIds": [finding]}),
            "code",
        ),
    ];
    for (input, field) in cases {
        let (status, body) = app.graphql(CREATE, json!({"i": input})).await;
        assert_eq!(status, 200);
        let codes = error_codes(&body);
        assert!(
            codes == ["VALIDATION"] || codes == ["CONFLICT"] || codes == ["NOT_FOUND"],
            "{input}: {body}"
        );
        let msg = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            body["errors"][0]["extensions"]["field"] == field || msg.contains(field),
            "{input}: error does not name {field}: {body}"
        );
    }
    // A wrong enum value is a validation error too.
    let (_, body) = app
        .graphql(CREATE, json!({"i": {"code": "E-2", "title": "ok", "findingIds": [finding], "recurrence": "HOURLY"}}))
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);
    // Completion before the start.
    let (id, v) = new_measure(&app, "E-3").await;
    let (m, _) = transition(&app, &id, v, "IN_PROGRESS", None).await;
    let (_, body) = app
        .graphql(TRANSITION, json!({"i": {"id": id, "version": m["version"], "to": "IMPLEMENTED", "on": "2020-01-01"}}))
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "on");
    // Nothing of the refused mutations was written (only E-3 and its one transition).
    assert_eq!(
        Measure::find().count(&app.db).await.unwrap(),
        measures_before + 1
    );
    assert_eq!(audit_count(&app).await, events_before + 2);
    // A moved due date needs a reason, and the audit log keeps it (an earlier date: a later
    // one is a change request, `approvals::*`).
    let q = "mutation($id: ID!, $v: Int!, $i: UpdateMeasureInput!) { updateMeasure(id: $id, version: $v, input: $i) { dueOn version } }";
    let version = m["version"].as_i64().unwrap();
    let (_, body) = app
        .graphql(
            q,
            json!({"id": id, "v": version, "i": {"dueOn": "2030-06-30"}}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "dueChangeReason");
    app.query_ok(q, json!({"id": id, "v": version, "i": {"dueOn": "2030-06-30", "dueChangeReason": "vendor delivered early"}})).await;
    let last = AuditEvent::find()
        .order_by_desc(audit_event::Column::Id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(last.after.unwrap().contains("vendor delivered early"));
}

#[tokio::test]
async fn every_mutation_writes_exactly_one_audit_event() {
    let app = spawn_demo_app().await;
    let reg = Regulator::find().one(&app.db).await.unwrap().unwrap();
    let ops: Vec<(&str, Value)> = vec![
        ("mutation { createRegulator(input: {code: \"FSA\", name: \"Financial Services Agency\", kind: FINANCIAL_AUTHORITY}) { id } }", json!({})),
        ("mutation($id: ID!) { updateRegulator(id: $id, version: 1, input: {nameLocal: \"経済産業省 (METI)\"}) { version } }", json!({"id": encode("Regulator", reg.id).0})),
        ("mutation($r: ID!) { createOrder(input: {regulatorId: $r, kind: REPORT_REQUEST, reference: \"METI-2023-01-10\", title: \"Report request\", issuedOn: \"2023-01-10\"}) { id } }", json!({"r": encode("Regulator", reg.id).0})),
        ("mutation { createOwner(input: {code: \"ciso\", name: \"CISO\", kind: PERSON, contact: \"ciso@example.com\"}) { id } }", json!({})),
        ("mutation { createSystem(input: {code: \"new-front\", name: \"New front\", kind: FRONT}) { id } }", json!({})),
    ];
    for (q, vars) in ops {
        let before = audit_count(&app).await;
        app.query_ok(q, vars).await;
        assert_eq!(audit_count(&app).await, before + 1, "{q}");
    }
    let (id, v) = new_measure(&app, "A-1").await;
    let sys = System::find().one(&app.db).await.unwrap().unwrap();
    let before = audit_count(&app).await;
    let data = app
        .query_ok(
            "mutation($m: ID!, $v: Int!, $s: ID!) { linkMeasure(input: {measureId: $m, version: $v, systemIds: [$s]}) { version systems { totalCount } } }",
            json!({"m": id, "v": v, "s": encode("System", sys.id).0}),
        )
        .await;
    assert_eq!(data["linkMeasure"]["systems"]["totalCount"], 1);
    assert_eq!(audit_count(&app).await, before + 1);
    let data = app
        .query_ok(
            "mutation($m: ID!, $v: Int!, $s: ID!) { unlinkMeasure(input: {measureId: $m, version: $v, systemIds: [$s]}) { version systems { totalCount } } }",
            json!({"m": id, "v": data["linkMeasure"]["version"], "s": encode("System", sys.id).0}),
        )
        .await;
    assert_eq!(data["unlinkMeasure"]["systems"]["totalCount"], 0);
    assert_eq!(audit_count(&app).await, before + 2);
    let data = app
        .query_ok(
            "mutation($m: ID!, $v: Int!) { archiveMeasure(id: $m, version: $v) { archivedAt } }",
            json!({"m": id, "v": data["unlinkMeasure"]["version"]}),
        )
        .await;
    assert!(data["archiveMeasure"]["archivedAt"].is_string());
    assert_eq!(audit_count(&app).await, before + 3);
    assert_eq!(
        remedy::audit::verify(&app.db).await.unwrap().first_broken,
        None
    );
}

#[tokio::test]
async fn recurring_measures_derive_their_next_due_date() {
    let app = spawn_demo_app().await;
    let weekly = Measure::find()
        .filter(measure::Column::Recurrence.eq(entity::enums::Recurrence::Weekly))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let gid = encode("Measure", weekly.id).0;
    let q = "mutation($m: ID!, $p: String!, $d: NaiveDate!) { recordOccurrence(input: {measureId: $m, period: $p, doneOn: $d}) { period dueOn measure { nextDueOn version } } }";
    let data = app
        .query_ok(q, json!({"m": gid, "p": "2022-W48", "d": "2022-12-02"}))
        .await;
    assert_eq!(data["recordOccurrence"]["dueOn"], "2022-12-02");
    assert_eq!(
        data["recordOccurrence"]["measure"]["nextDueOn"],
        "2022-12-09"
    );
    // A wrong label, a duplicate period, a one-off measure: refused.
    let (_, body) = app
        .graphql(q, json!({"m": gid, "p": "2022-12", "d": "2022-12-02"}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "period");
    let (_, body) = app
        .graphql(q, json!({"m": gid, "p": "2022-W48", "d": "2022-12-02"}))
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    let one_off = Measure::find()
        .filter(measure::Column::Code.eq("M-16"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let (_, body) = app
        .graphql(
            q,
            json!({"m": encode("Measure", one_off.id).0, "p": "2022-W48", "d": "2022-12-02"}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);
    // Its missed periods since make it overdue today.
    let data = app
        .query_ok(
            "query($id: ID!) { node(id: $id) { ... on Measure { overdue nextDueOn } } }",
            json!({"id": gid}),
        )
        .await;
    assert_eq!(data["node"]["overdue"], true);
}

#[tokio::test]
async fn uploaded_evidence_downloads_identically_and_tampering_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_path_buf();
    let app = spawn_demo_app_configured(|c| {
        c.evidence_dir = Some(store.clone());
        c.max_upload_bytes = 64 * 1024;
    })
    .await;
    let (id, _) = new_measure(&app, "U-1").await;
    let bytes: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let q = "mutation($i: EvidenceInput!, $file: Upload!, $h: String) { uploadEvidence(input: $i, file: $file, expectedSha256: $h) { id sha256 sizeBytes mediaType downloadPath } }";
    let input = json!({"measureId": id, "kind": "SCAN_REPORT", "title": "Internal scan 2022-12", "issuedOn": "2022-12-05"});
    let (status, body) = app
        .upload(
            &app.admin_token,
            q,
            json!({"i": input, "h": sha}),
            "file",
            bytes.clone(),
            "application/pdf",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let ev = &body["data"]["uploadEvidence"];
    assert_eq!(ev["sha256"], sha.as_str());
    assert_eq!(ev["sizeBytes"], bytes.len());
    // Download: identical bytes, and the hash in a header.
    let path = ev["downloadPath"].as_str().unwrap();
    let res = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-content-sha256"], sha.as_str());
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
    // Without a token, or as an evaluator of the other order: refused / not found.
    let res = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let other = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let res = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Mismatched hash, oversized and empty uploads: refused, nothing stored.
    let rows_before = Evidence::find().count(&app.db).await.unwrap();
    let (_, body) = app
        .upload(
            &app.admin_token,
            q,
            json!({"i": input, "h": "b".repeat(64)}),
            "file",
            bytes.clone(),
            "application/pdf",
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "expectedSha256",
        "{body}"
    );
    let (status, _) = app
        .upload(
            &app.admin_token,
            q,
            json!({"i": input}),
            "file",
            vec![7u8; 70 * 1024],
            "application/pdf",
        )
        .await;
    assert!(status == 413 || status == 200, "{status}");
    let (_, body) = app
        .upload(
            &app.admin_token,
            q,
            json!({"i": input}),
            "file",
            vec![],
            "application/pdf",
        )
        .await;
    assert!(!error_codes(&body).is_empty(), "{body}");
    assert_eq!(Evidence::find().count(&app.db).await.unwrap(), rows_before);

    // Tamper with the stored file: the download is refused.
    let file = store.join(&sha[..2]).join(&sha);
    let mut altered = std::fs::read(&file).unwrap();
    altered[0] ^= 0xff;
    std::fs::write(&file, altered).unwrap();
    let res = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTEGRITY");

    // Supersede: a new revision; the old one is kept unchanged and is no longer current.
    let new_bytes = b"corrected scan report".to_vec();
    let q2 = "mutation($id: ID!, $i: EvidenceInput!, $file: Upload) { supersedeEvidence(id: $id, input: $i, file: $file) { id supersedes { id current } current } }";
    let (_, body) = app
        .upload(
            &app.admin_token,
            q2,
            json!({"id": ev["id"], "i": input}),
            "file",
            new_bytes,
            "text/plain",
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["supersedeEvidence"]["supersedes"]["current"],
        false
    );
    assert_eq!(body["data"]["supersedeEvidence"]["current"], true);
    // Superseding the old revision again is a conflict.
    let (_, body) = app
        .upload(
            &app.admin_token,
            q2,
            json!({"id": ev["id"], "i": input}),
            "file",
            b"again".to_vec(),
            "text/plain",
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
}

#[tokio::test]
async fn evidence_kept_in_the_database_is_checked_too() {
    let app = spawn_demo_app().await;
    let ev = Evidence::find()
        .filter(evidence::Column::Content.is_not_null())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let path = format!("{}/evidence/{}", app.address, encode("Evidence", ev.id).0);
    let res = app
        .client
        .get(&path)
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.bytes().await.unwrap().to_vec(),
        ev.content.clone().unwrap()
    );
    // A database administrator bypasses the append-only trigger and alters the bytes.
    let zero = match app.db.get_database_backend() {
        DatabaseBackend::Postgres => "'\\x00'::bytea",
        _ => "X'00'",
    };
    tamper(
        &app,
        "evidence",
        format!("UPDATE evidence SET content = {zero} WHERE id = {}", ev.id),
    )
    .await;
    let res = app
        .client
        .get(&path)
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn a_submitted_report_is_frozen() {
    let app = spawn_demo_app().await;
    let order = RegulatoryOrder::find()
        .filter(regulatory_order::Column::Reference.eq("PPC-2022-07-13"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let (mid, mv) = new_measure(&app, "S-1").await;
    let data = app
        .query_ok(
            "mutation($o: ID!, $m: ID!) { createReport(input: {orderId: $o, kind: PROGRESS, title: \"Year-end progress\", dueOn: \"2022-12-28\", measureIds: [$m]}) { id version status code measures { totalCount } } }",
            json!({"o": encode("Order", order.id).0, "m": mid}),
        )
        .await;
    let report = data["createReport"].clone();
    assert_eq!(report["status"], "DRAFT");
    let data = app
        .query_ok(
            "mutation($id: ID!, $v: Int!) { submitReport(id: $id, version: $v) { status version submittedOn snapshot } }",
            json!({"id": report["id"], "v": report["version"]}),
        )
        .await;
    let submitted = data["submitReport"].clone();
    assert_eq!(submitted["status"], "SUBMITTED");
    let snapshot = submitted["snapshot"].clone();
    assert_eq!(snapshot["measures"][0]["code"], "S-1");
    assert_eq!(snapshot["measures"][0]["status"], "PLANNED");
    // The measure moves on; the snapshot does not.
    let (m, e) = transition(&app, &mid, mv, "IN_PROGRESS", None).await;
    assert!(e.is_empty());
    assert_eq!(m["status"], "IN_PROGRESS");
    let data = app
        .query_ok(
            "query($id: ID!) { node(id: $id) { ... on Report { snapshot } } }",
            json!({"id": report["id"]}),
        )
        .await;
    assert_eq!(data["node"]["snapshot"], snapshot);
    // Submitted reports are read-only and cannot be submitted twice.
    let (_, body) = app
        .graphql("mutation($id: ID!, $v: Int!) { updateReport(id: $id, version: $v, input: {title: \"changed\"}) { title } }", json!({"id": report["id"], "v": submitted["version"]}))
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    let (_, body) = app
        .graphql(
            "mutation($id: ID!, $v: Int!) { submitReport(id: $id, version: $v) { status } }",
            json!({"id": report["id"], "v": submitted["version"]}),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    let data = app
        .query_ok("mutation($id: ID!, $v: Int!) { acknowledgeReport(id: $id, version: $v) { status acknowledgedOn } }", json!({"id": report["id"], "v": submitted["version"]}))
        .await;
    assert_eq!(data["acknowledgeReport"]["status"], "ACKNOWLEDGED");
}

#[tokio::test]
async fn evaluators_evaluate_only_what_they_were_granted() {
    let app = spawn_demo_app().await;
    let meti = RegulatoryOrder::find()
        .filter(regulatory_order::Column::Reference.eq("METI-2022-06-30"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let ppc = RegulatoryOrder::find()
        .filter(regulatory_order::Column::Reference.eq("PPC-2022-07-13"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let meti_report = Report::find()
        .filter(report::Column::OrderId.eq(meti.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let ppc_report = Report::find()
        .filter(report::Column::OrderId.eq(ppc.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let evaluator = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let q = "mutation($r: ID!) { addEvaluation(input: {reportId: $r, verdict: NEEDS_IMPROVEMENT, comment: \"再発防止策の定着を引き続き確認する\"}) { verdict evaluatorSubject comment report { code } } }";
    let (_, body) = app
        .graphql_as(
            Some(&evaluator),
            q,
            json!({"r": encode("Report", meti_report.id).0}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["addEvaluation"]["evaluatorSubject"],
        "test-evaluator"
    );
    assert_eq!(
        body["data"]["addEvaluation"]["comment"],
        "再発防止策の定着を引き続き確認する"
    );
    let (_, body) = app
        .graphql_as(
            Some(&evaluator),
            q,
            json!({"r": encode("Report", ppc_report.id).0}),
        )
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
    // Nothing else is open to it.
    let (id, v) = new_measure(&app, "V-1").await;
    let (_, body) = app
        .graphql_as(
            Some(&evaluator),
            TRANSITION,
            json!({"i": {"id": id, "version": v, "to": "IN_PROGRESS"}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    let viewer = app.token(Role::Viewer, &[]).await;
    let (_, body) = app
        .graphql_as(
            Some(&viewer),
            q,
            json!({"r": encode("Report", meti_report.id).0}),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
}

#[tokio::test]
async fn an_audit_row_edited_in_the_database_is_named_by_verification() {
    let app = spawn_demo_app().await;
    let victim = AuditEvent::find()
        .filter(audit_event::Column::Entity.eq("Measure"))
        .order_by_asc(audit_event::Column::Id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    tamper(
        &app,
        "audit_event",
        format!(
            "UPDATE audit_event SET actor = 'mallory' WHERE id = {}",
            victim.id
        ),
    )
    .await;
    let data = app
        .query_ok("{ verifyAuditLog { intact firstBrokenId } }", json!({}))
        .await;
    assert_eq!(data["verifyAuditLog"]["intact"], false);
    assert_eq!(
        data["verifyAuditLog"]["firstBrokenId"],
        encode("AuditEvent", victim.id).0
    );
    // The CLI says the same and fails.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args(["audit", "verify"])
        .env("REMEDY_DATABASE_URL", &app._test_db.url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("event {}", victim.id)));
    // Only ADMIN reads the audit log.
    let editor = app.token(Role::Editor, &[]).await;
    let (_, body) = app
        .graphql_as(Some(&editor), "{ verifyAuditLog { intact } }", json!({}))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
}
