//! Order scope and embedded copies: a report holds only its order's measures, and an
//! order-scoped (evaluator) token never receives, inside a snapshot, a timeline, a
//! subscription payload or a log, data of an order it was not granted, even when old rows
//! link a report to another order's measure.
use std::collections::BTreeSet;
use std::time::Duration;

use entity::prelude::*;
use entity::*;
use remedy::auth::Role;
use remedy::id::encode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::live::{next, subscribe, ws_connect};

const METI: &str = "METI-2022-06-30";
const PPC: &str = "PPC-2022-07-13";
/// A measure answering METI findings only (VERIFIED, with evidence).
const METI_ONLY: &str = "M-24";
/// Measures answering PPC findings only.
const PPC_ONLY: [&str; 2] = ["M-21", "M-23"];
/// A measure answering findings of both orders.
const SHARED: &str = "M-01";

const CREATE_REPORT: &str = "mutation($o: ID!, $m: [ID!]!) { createReport(input: {orderId: $o, kind: PROGRESS, title: \"Year-end progress\", dueOn: \"2022-12-28\", measureIds: $m}) { id version measures { nodes { code } } } }";
const UPDATE_REPORT: &str = "mutation($id: ID!, $v: Int!, $m: [ID!]!) { updateReport(id: $id, version: $v, input: {measureIds: $m}) { id version } }";
const SUBMIT_REPORT: &str = "mutation($id: ID!, $v: Int!) { submitReport(id: $id, version: $v, submittedOn: \"2022-12-28\") { id version snapshot } }";
const READ_REPORT: &str =
    "query($id: ID!) { node(id: $id) { ... on Report { snapshot measures { nodes { code } } } } }";

async fn order(app: &TestApp, reference: &str) -> regulatory_order::Model {
    RegulatoryOrder::find()
        .filter(regulatory_order::Column::Reference.eq(reference))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

async fn measure(app: &TestApp, code: &str) -> measure::Model {
    Measure::find()
        .filter(measure::Column::Code.eq(code))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

fn gid(m: &measure::Model) -> String {
    encode("Measure", m.id).0
}

/// What identifies a measure's data in a copy: its code, its title and the SHA-256 of its
/// evidence that no other measure shares.
struct Marks {
    code: String,
    title: String,
    sha256: Vec<String>,
}

async fn marks(app: &TestApp, m: &measure::Model) -> Marks {
    let mine: BTreeSet<String> = Evidence::find()
        .filter(evidence::Column::MeasureId.eq(m.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.sha256)
        .collect();
    let others: BTreeSet<String> = Evidence::find()
        .filter(evidence::Column::MeasureId.ne(m.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.sha256)
        .collect();
    let sha256: Vec<String> = mine.difference(&others).cloned().collect();
    assert!(!sha256.is_empty(), "{} has evidence of its own", m.code);
    Marks {
        code: m.code.clone(),
        title: m.title.clone(),
        sha256,
    }
}

/// Asserts that no trace of the measure is anywhere in `v` (searched as text).
fn assert_absent(v: &Value, marks: &Marks, what: &str) {
    let text = v.to_string();
    assert!(
        !text.contains(&format!("\"{}\"", marks.code)),
        "{what} names {}: {text}",
        marks.code
    );
    assert!(
        !text.contains(&marks.title),
        "{what} holds the title of {}: {text}",
        marks.code
    );
    for sha in &marks.sha256 {
        assert!(
            !text.contains(sha.as_str()),
            "{what} holds evidence {sha} of {}",
            marks.code
        );
    }
}

fn snapshot_codes(snapshot: &Value) -> Vec<String> {
    snapshot["measures"]
        .as_array()
        .unwrap_or_else(|| panic!("no measures in {snapshot}"))
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

fn node_codes(nodes: &Value) -> Vec<String> {
    nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap().to_string())
        .collect()
}

/// The rows a refused write must leave untouched.
async fn counts(app: &TestApp) -> (u64, u64, u64) {
    (
        Report::find().count(&app.db).await.unwrap(),
        ReportMeasure::find().count(&app.db).await.unwrap(),
        AuditEvent::find().count(&app.db).await.unwrap(),
    )
}

fn assert_refused_on_measure_ids(body: &Value) {
    assert_eq!(error_codes(body), ["VALIDATION"], "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "measureIds",
        "{body}"
    );
    assert!(body["data"].is_null(), "{body}");
}

#[tokio::test]
async fn a_report_refuses_measures_of_another_order_and_writes_nothing() {
    let app = spawn_demo_app().await;
    let ppc = encode("Order", order(&app, PPC).await.id).0;
    let meti_only = gid(&measure(&app, METI_ONLY).await);
    let ppc_only = gid(&measure(&app, PPC_ONLY[0]).await);
    let shared = gid(&measure(&app, SHARED).await);

    // createReport: a METI measure on a PPC report is refused; nothing is written.
    let before = counts(&app).await;
    let (status, body) = app
        .graphql(CREATE_REPORT, json!({"o": ppc, "m": [ppc_only, meti_only]}))
        .await;
    assert_eq!(status, 200);
    assert_refused_on_measure_ids(&body);
    assert_eq!(counts(&app).await, before, "a refused createReport wrote");

    // The order's own measures, including one shared with METI, are accepted.
    let created = app
        .query_ok(CREATE_REPORT, json!({"o": ppc, "m": [ppc_only, shared]}))
        .await["createReport"]
        .clone();
    assert_eq!(
        node_codes(&created["measures"]),
        [SHARED.to_string(), PPC_ONLY[0].to_string()]
    );

    // updateReport: the same refusal; the links, the version and the log are unchanged.
    let before = counts(&app).await;
    let (status, body) = app
        .graphql(
            UPDATE_REPORT,
            json!({"id": created["id"], "v": created["version"], "m": [meti_only]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_refused_on_measure_ids(&body);
    assert_eq!(counts(&app).await, before, "a refused updateReport wrote");
    let now = app
        .query_ok(
            "query($id: ID!) { node(id: $id) { ... on Report { version measures { nodes { code } } } } }",
            json!({"id": created["id"]}),
        )
        .await["node"]
        .clone();
    assert_eq!(now["version"], created["version"]);
    assert_eq!(now["measures"], created["measures"]);

    // The other way round: a PPC-only measure on METI's draft report is refused too.
    let meti_draft = Report::find()
        .filter(report::Column::Code.eq("METI-2022-12-31"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let (_, body) = app
        .graphql(
            UPDATE_REPORT,
            json!({"id": encode("Report", meti_draft.id).0, "v": meti_draft.version, "m": [ppc_only]}),
        )
        .await;
    assert_refused_on_measure_ids(&body);
    assert_eq!(counts(&app).await, before);
}

/// A PPC draft report over PPC-only measures, plus a link to METI's M-24 written straight
/// into the database, as rows from before the write-side check may hold. Returns the
/// report's global ID and version.
async fn report_with_a_legacy_cross_order_link(app: &TestApp) -> (String, i64) {
    let ppc = encode("Order", order(app, PPC).await.id).0;
    let mut ids = Vec::new();
    for code in PPC_ONLY {
        ids.push(gid(&measure(app, code).await));
    }
    let created = app
        .query_ok(CREATE_REPORT, json!({"o": ppc, "m": ids}))
        .await["createReport"]
        .clone();
    let raw = remedy::id::decode(
        &async_graphql::ID(created["id"].as_str().unwrap().to_string()),
        "Report",
    )
    .unwrap();
    report_measure::ActiveModel {
        report_id: Set(raw),
        measure_id: Set(measure(app, METI_ONLY).await.id),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(&app.db)
    .await
    .unwrap();
    (
        created["id"].as_str().unwrap().to_string(),
        created["version"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn a_snapshot_shows_an_evaluator_only_the_measures_it_may_see() {
    let app = spawn_demo_app().await;
    let meti_only = measure(&app, METI_ONLY).await;
    let leak = marks(&app, &meti_only).await;
    let evaluator = app.token(Role::Evaluator, &[PPC]).await;
    // The measure itself is invisible to the PPC evaluator.
    let (_, body) = app
        .graphql_as(
            Some(&evaluator),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": gid(&meti_only)}),
        )
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");

    let (report, version) = report_with_a_legacy_cross_order_link(&app).await;
    let submitted = app
        .query_ok(SUBMIT_REPORT, json!({"id": report, "v": version}))
        .await["submitReport"]
        .clone();

    // ADMIN sees the whole frozen snapshot, M-24 and its evidence included.
    let full = &submitted["snapshot"];
    let mut expected: Vec<String> = PPC_ONLY.iter().map(|c| c.to_string()).collect();
    expected.push(METI_ONLY.to_string());
    expected.sort();
    assert_eq!(snapshot_codes(full), expected);
    let full_text = full.to_string();
    assert!(full_text.contains(&leak.title));
    // (The snapshot freezes the current revisions; the test looks for every revision.)
    assert!(leak.sha256.iter().any(|s| full_text.contains(s.as_str())));
    let admin_read = app.query_ok(READ_REPORT, json!({"id": report})).await;
    assert_eq!(&admin_read["node"]["snapshot"], full);

    // The PPC evaluator gets the PPC entries, unchanged, and nothing of M-24.
    let (status, body) = app
        .graphql_as(Some(&evaluator), READ_REPORT, json!({"id": report}))
        .await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{body}");
    let seen = &body["data"]["node"]["snapshot"];
    assert_eq!(snapshot_codes(seen), PPC_ONLY);
    assert_eq!(seen["asOf"], full["asOf"]);
    for entry in seen["measures"].as_array().unwrap() {
        assert!(
            full["measures"].as_array().unwrap().contains(entry),
            "{entry} was altered"
        );
    }
    assert_absent(seen, &leak, "the evaluator's snapshot");
    // Nor through the report's measures.
    assert_eq!(node_codes(&body["data"]["node"]["measures"]), PPC_ONLY);

    // A METI evaluator, for whom the report itself does not exist, gets nothing at all.
    let meti_evaluator = app.token(Role::Evaluator, &[METI]).await;
    let (_, body) = app
        .graphql_as(Some(&meti_evaluator), READ_REPORT, json!({"id": report}))
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
}

#[tokio::test]
async fn other_embedded_copies_stay_within_the_grant() {
    let app = spawn_demo_app().await;
    let meti_only = measure(&app, METI_ONLY).await;
    let leak = marks(&app, &meti_only).await;
    let evaluator = app.token(Role::Evaluator, &[PPC]).await;
    let ppc = encode("Order", order(&app, PPC).await.id).0;
    let (report, version) = report_with_a_legacy_cross_order_link(&app).await;
    // An evaluation of M-24 (by ADMIN), so that timelines have one to leak.
    app.query_ok(
        "mutation($m: ID!) { addEvaluation(input: {measureId: $m, verdict: SATISFACTORY, comment: \"checked on site\"}) { id } }",
        json!({"m": gid(&meti_only)}),
    )
    .await;

    // Subscriptions: the report as delivered to the PPC evaluator carries the same
    // filtered snapshot.
    let mut ws = ws_connect(&app.address, &evaluator).await;
    subscribe(
        &mut ws,
        "r",
        "subscription($o: ID) { reportChanged(orderId: $o) { id snapshot } }",
        json!({"o": ppc}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.query_ok(SUBMIT_REPORT, json!({"id": report, "v": version}))
        .await;
    let heard = next(&mut ws, Duration::from_secs(10)).await.unwrap();
    assert_eq!(heard["type"], "next", "{heard}");
    let delivered = &heard["payload"]["data"]["reportChanged"];
    assert_eq!(delivered["id"], report.as_str());
    assert_eq!(snapshot_codes(&delivered["snapshot"]), PPC_ONLY);
    assert_absent(delivered, &leak, "the subscription payload");

    // The order's timeline (built from its measures, evidence, reports and evaluations):
    // nothing of M-24, whose evaluation and evidence are METI's.
    let mut entries = Vec::new();
    let mut after = Value::Null;
    loop {
        let (_, body) = app
            .graphql_as(
                Some(&evaluator),
                "query($r: String!, $a: String) { orderByReference(reference: $r) { timeline(first: 100, after: $a) { nodes { kind summary nodeId } pageInfo { hasNextPage endCursor } } } }",
                json!({"r": PPC, "a": after}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let page = &body["data"]["orderByReference"]["timeline"];
        entries.extend(page["nodes"].as_array().unwrap().iter().cloned());
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert!(entries.iter().any(|e| e["kind"] == "REPORT_SUBMITTED"));
    let timeline = Value::Array(entries);
    assert_absent(&timeline, &leak, "the PPC timeline");
    assert!(
        !timeline.to_string().contains(&gid(&meti_only)),
        "the PPC timeline points at M-24"
    );
    assert!(!timeline.to_string().contains("checked on site"));

    // Everything the evaluator reads of its order in one go: no M-24.
    let everything = app
        .query_ok_as(
            &evaluator,
            &format!("{{ orderByReference(reference: \"{PPC}\") {{ reports {{ nodes {{ code snapshot measures {{ nodes {{ code title evidence {{ nodes {{ sha256 title }} }} evaluations {{ nodes {{ comment }} }} }} }} evaluations {{ nodes {{ comment }} }} }} }} }} }}"),
        )
        .await;
    assert_absent(&everything, &leak, "the PPC order's reports");

    // The audit log carries whole rows (M-24's included) in `before`/`after`; the access
    // log spans every order: both are refused to an order-scoped token, even an ADMIN one.
    let scoped_admin = app.token(Role::Admin, &[PPC]).await;
    for query in [
        "{ auditLog(first: 100) { nodes { before after } } }",
        "{ accessLog(first: 100) { nodes { orderId } } }",
    ] {
        let (status, body) = app.graphql_as(Some(&scoped_admin), query, json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{query}: {body}");
    }
    // An unscoped ADMIN still reads them, M-24 included.
    let log = app
        .query_ok(
            "query($id: String!) { auditLog(filter: {entity: \"Measure\", entityId: $id}, first: 5) { nodes { after } } }",
            json!({"id": meti_only.id.to_string()}),
        )
        .await;
    assert!(log.to_string().contains(&leak.title));

    // Generated reports: an evaluator allowed to generate them gets its order's, without
    // the foreign measure the report links.
    let raw_ppc = order(&app, PPC).await.id;
    let reporter = issue(
        &app.db,
        &app.gate,
        &app.keys,
        "committee-reporter",
        &[Role::Evaluator, Role::Reporter],
        &[raw_ppc],
    )
    .await;
    let (_, body) = app
        .graphql_as(
            Some(&reporter),
            "query($o: ID!) { regulatorReport(orderId: $o, asOf: \"2022-12-31\", format: JSON) { content } }",
            json!({"o": ppc}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let content: Value =
        serde_json::from_str(body["data"]["regulatorReport"]["content"].as_str().unwrap()).unwrap();
    assert_absent(&content, &leak, "the generated PPC report");
}

/// Every mutation checks the caller's orders through the same store functions
/// (`service::scope::check_*`): a writer limited to PPC changes nothing of METI, and writes
/// no plan-wide object (regulators, owners, systems, new orders); inside PPC it works.
#[tokio::test]
async fn an_order_limited_writer_changes_nothing_outside_its_orders() {
    let app = spawn_demo_app().await;
    let ppc = order(&app, PPC).await;
    let meti = order(&app, METI).await;
    let editor = issue(
        &app.db,
        &app.gate,
        &app.keys,
        "ppc-editor",
        &[Role::Editor],
        &[ppc.id],
    )
    .await;
    let finding_of = |order_id: i64| {
        let db = app.db.clone();
        async move {
            Finding::find()
                .filter(finding::Column::OrderId.eq(order_id))
                .one(&db)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let meti_finding = finding_of(meti.id).await;
    let ppc_finding = finding_of(ppc.id).await;
    let ppc_measure = measure(&app, PPC_ONLY[0]).await;
    let meti_order = encode("Order", meti.id).0;
    let meti_f = encode("Finding", meti_finding.id).0;
    let events_before = AuditEvent::find().count(&app.db).await.unwrap();
    let outside: Vec<(String, &str)> = vec![
        (format!("mutation {{ archiveOrder(id: \"{meti_order}\", version: {}) {{ id }} }}", meti.version), "NOT_FOUND"),
        (format!("mutation {{ createFinding(input: {{orderId: \"{meti_order}\", category: HUMAN, number: \"99\", title: \"t\", facts: \"f\", directive: \"d\"}}) {{ id }} }}"), "NOT_FOUND"),
        (format!("mutation {{ updateFinding(id: \"{meti_f}\", version: {}, input: {{title: \"moved\"}}) {{ id }} }}", meti_finding.version), "NOT_FOUND"),
        (format!("mutation {{ archiveFinding(id: \"{meti_f}\", version: {}) {{ id }} }}", meti_finding.version), "NOT_FOUND"),
        (format!("mutation {{ createMeasure(input: {{code: \"M-99\", title: \"t\", findingIds: [\"{meti_f}\"]}}) {{ id }} }}"), "NOT_FOUND"),
        (format!("mutation {{ linkMeasure(input: {{measureId: \"{}\", version: {}, findingIds: [\"{meti_f}\"]}}) {{ id }} }}", gid(&ppc_measure), ppc_measure.version), "NOT_FOUND"),
        ("mutation { createRegulator(input: {code: \"X\", name: \"x\", kind: OTHER}) { id } }".into(), "FORBIDDEN"),
        ("mutation { createOwner(input: {code: \"o\", name: \"o\", kind: PERSON}) { id } }".into(), "FORBIDDEN"),
        ("mutation { createSystem(input: {code: \"s\", name: \"s\", kind: INTERNAL}) { id } }".into(), "FORBIDDEN"),
        (format!("mutation {{ createOrder(input: {{regulatorId: \"{}\", kind: OTHER, reference: \"R-1\", title: \"t\", issuedOn: \"2022-01-01\"}}) {{ id }} }}", encode("Regulator", meti.regulator_id).0), "FORBIDDEN"),
    ];
    for (query, code) in &outside {
        let (status, body) = app.graphql_as(Some(&editor), query, json!({})).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(error_codes(&body), [*code], "{query}: {body}");
    }
    assert_eq!(
        AuditEvent::find().count(&app.db).await.unwrap(),
        events_before,
        "a refused mutation wrote an audit event"
    );
    let unchanged = Finding::find_by_id(meti_finding.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged, meti_finding);
    // Inside its order it writes.
    let data = app
        .query_ok_as(
            &editor,
            &format!(
                "mutation {{ updateFinding(id: \"{}\", version: {}, input: {{title: \"PPC, retitled\"}}) {{ title }} }}",
                encode("Finding", ppc_finding.id).0,
                ppc_finding.version
            ),
        )
        .await;
    assert_eq!(data["updateFinding"]["title"], "PPC, retitled");
}

// ---------------------------------------------------------------------------------------
// Every relation, by construction: the query is built from the schema itself, so a field
// added tomorrow is walked too, without anyone remembering to add it here.

/// A named type's kind and fields, from introspection.
struct SchemaType {
    kind: String,
    /// (field name, named type it returns, whether it takes `first`, whether it needs an
    /// argument the walk cannot invent)
    fields: Vec<(String, String, bool, bool)>,
}

fn named(t: &Value) -> String {
    let mut t = t;
    while t["name"].is_null() {
        t = &t["ofType"];
    }
    t["name"].as_str().unwrap().to_string()
}

async fn schema_types(app: &TestApp) -> std::collections::HashMap<String, SchemaType> {
    let tref = "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";
    let data = app
        .query_ok(
            &format!(
                "{{ __schema {{ types {{ name kind fields {{ name type {{ {tref} }} \
                 args {{ name defaultValue type {{ kind }} }} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let mut out = std::collections::HashMap::new();
    for t in data["__schema"]["types"].as_array().unwrap() {
        let fields = t["fields"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        let args = f["args"].as_array().unwrap();
                        let first = args.iter().any(|a| a["name"] == "first");
                        let required = args.iter().any(|a| {
                            a["type"]["kind"] == "NON_NULL" && a["defaultValue"].is_null()
                        });
                        (
                            f["name"].as_str().unwrap().to_string(),
                            named(&f["type"]),
                            first,
                            required,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert(
            t["name"].as_str().unwrap().to_string(),
            SchemaType {
                kind: t["kind"].as_str().unwrap().to_string(),
                fields,
            },
        );
    }
    out
}

/// The selection of every object field of `type_name` to `depth` levels, with each object's
/// `__typename` and `id`.
fn selection(
    types: &std::collections::HashMap<String, SchemaType>,
    type_name: &str,
    depth: u32,
) -> String {
    let t = &types[type_name];
    let mut out = String::from("__typename");
    if t.fields.iter().any(|f| f.0 == "id") {
        out.push_str(" id");
    }
    if depth == 0 || !matches!(t.kind.as_str(), "OBJECT" | "INTERFACE") {
        return out;
    }
    for (name, ty, first, required) in &t.fields {
        let inner = &types[ty];
        if *required || !matches!(inner.kind.as_str(), "OBJECT" | "INTERFACE" | "UNION") {
            continue;
        }
        // `nodes` is walked; `edges` holds the same objects.
        if name.starts_with("__") || name == "edges" {
            continue;
        }
        let args = if *first { "(first: 100)" } else { "" };
        out.push_str(&format!(
            " {name}{args} {{ {} }}",
            selection(types, ty, depth - 1)
        ));
    }
    out
}

/// Every `(typename, raw id)` in a response.
fn objects(v: &Value, out: &mut Vec<(String, i64)>) {
    match v {
        Value::Object(map) => {
            if let (Some(Value::String(t)), Some(Value::String(id))) =
                (map.get("__typename"), map.get("id"))
            {
                if let Ok((_, raw)) = remedy::id::decode_any(&async_graphql::ID(id.clone())) {
                    out.push((t.clone(), raw));
                }
            }
            map.values().for_each(|x| objects(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| objects(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_relation_an_evaluator_reaches_stays_within_its_orders() {
    let app = spawn_demo_app_configured(|c| {
        c.max_depth = 64;
        c.max_complexity = 10_000_000;
        c.max_fields = 1_000_000;
        c.max_aliases = 1_000_000;
        c.max_expanded_fields = 10_000_000;
        c.max_tokens = 10_000_000;
        c.max_body_bytes = 64 << 20;
    })
    .await;
    let db = &app.db;
    // Tie the other order's measures to what the evaluator sees (its measures' owner and
    // systems), so that an unscoped relation would show them.
    let (_, meti_measures) = findings_and_measures_of(db, order(&app, METI).await.id).await;
    let visible_link = MeasureSystem::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .find(|l| meti_measures.contains(&l.measure_id))
        .expect("a measure of the granted order concerns a system");
    let system = visible_link.system_id;
    let shared = Measure::find()
        .filter(measure::Column::OwnerId.is_not_null())
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .find(|m| meti_measures.contains(&m.id))
        .expect("a measure of the granted order has an owner");
    let template = Evidence::find().one(db).await.unwrap().expect("evidence");
    for code in PPC_ONLY {
        let m = measure(&app, code).await;
        let mut am: measure::ActiveModel = m.clone().into();
        am.owner_id = Set(shared.owner_id);
        am.update(db).await.unwrap();
        if MeasureSystem::find()
            .filter(measure_system::Column::MeasureId.eq(m.id))
            .filter(measure_system::Column::SystemId.eq(system))
            .one(db)
            .await
            .unwrap()
            .is_none()
        {
            measure_system::ActiveModel {
                measure_id: Set(m.id),
                system_id: Set(system),
                created_at: Set(chrono::Utc::now()),
            }
            .insert(db)
            .await
            .unwrap();
        }
        let mut e: evidence::ActiveModel = template.clone().into();
        e.id = sea_orm::ActiveValue::NotSet;
        e.measure_id = Set(m.id);
        e.system_id = Set(Some(system));
        e.supersedes_id = Set(None);
        e.title = Set(format!("Evidence of {code}"));
        e.insert(db).await.unwrap();
    }
    // A change request on a measure of each order: only the granted order's may show.
    for code in [PPC_ONLY[0], "M-25"] {
        let m = measure(&app, code).await;
        let now = chrono::Utc::now();
        change_request::ActiveModel {
            measure_id: Set(m.id),
            kind: Set(entity::enums::ChangeKind::Cancel),
            reason: Set(format!("cancel {code}")),
            proposed_due_on: Set(None),
            defer_until: Set(None),
            status: Set(entity::enums::ChangeStatus::Pending),
            requested_by: Set("someone".into()),
            requested_at: Set(now),
            decided_by: Set(None),
            decided_at: Set(None),
            decision_comment: Set(None),
            previous_status: Set(None),
            expired_at: Set(None),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
    }
    let types = schema_types(&app).await;
    let evaluator = app.token(Role::Evaluator, &[METI]).await;
    // One request per root field (a refused non-null root would null the others).
    let mut seen = Vec::new();
    let mut roots = 0;
    for (name, ty, first, required) in &types["Query"].fields {
        if *required || !matches!(types[ty].kind.as_str(), "OBJECT" | "INTERFACE") {
            continue;
        }
        roots += 1;
        let args = if *first { "(first: 100)" } else { "" };
        // A list and each relation of its objects (connections take two levels each).
        let query = format!("{{ {name}{args} {{ {} }} }}", selection(&types, ty, 4));
        let (status, body) = app.graphql_as(Some(&evaluator), &query, json!({})).await;
        assert_eq!(status, 200, "{name}: {body}");
        for e in body["errors"].as_array().into_iter().flatten() {
            assert_eq!(e["extensions"]["code"], "FORBIDDEN", "{name}: {e}");
        }
        objects(&body["data"], &mut seen);
    }
    assert!(roots >= 10, "only {roots} root fields walked");

    // What the grant allows, from the database.
    let meti = order(&app, METI).await.id;
    let (findings, measures) = findings_and_measures_of(db, meti).await;
    let measure_rows = Measure::find().all(db).await.unwrap();
    let owners: BTreeSet<i64> = measure_rows
        .iter()
        .filter(|m| measures.contains(&m.id))
        .filter_map(|m| m.owner_id)
        .collect();
    let systems: BTreeSet<i64> = MeasureSystem::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .filter(|l| measures.contains(&l.measure_id))
        .map(|l| l.system_id)
        .collect();
    let reports: BTreeSet<i64> = Report::find()
        .filter(report::Column::OrderId.eq(meti))
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let regulator = order(&app, METI).await.regulator_id;
    let evidence: std::collections::HashMap<i64, i64> = Evidence::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.id, e.measure_id))
        .collect();
    let evaluations: std::collections::HashMap<i64, (Option<i64>, Option<i64>)> =
        Evaluation::find()
            .all(db)
            .await
            .unwrap()
            .iter()
            .map(|e| (e.id, (e.measure_id, e.report_id)))
            .collect();
    let occurrences: std::collections::HashMap<i64, i64> = Occurrence::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|o| (o.id, o.measure_id))
        .collect();

    let change_requests: std::collections::HashMap<i64, i64> = ChangeRequest::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.id, r.measure_id))
        .collect();

    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for (typename, raw) in &seen {
        *counts.entry(typename.clone()).or_default() += 1;
        let allowed = match typename.as_str() {
            "Order" => *raw == meti,
            "Finding" => findings.contains(raw),
            "Measure" => measures.contains(raw),
            "Owner" => owners.contains(raw),
            "System" => systems.contains(raw),
            "Report" => reports.contains(raw),
            "Regulator" => *raw == regulator,
            "Evidence" => evidence.get(raw).is_some_and(|m| measures.contains(m)),
            "Occurrence" => occurrences.get(raw).is_some_and(|m| measures.contains(m)),
            "ChangeRequest" => change_requests
                .get(raw)
                .is_some_and(|m| measures.contains(m)),
            "Evaluation" => evaluations.get(raw).is_some_and(|(m, r)| {
                m.is_some_and(|m| measures.contains(&m)) || r.is_some_and(|r| reports.contains(&r))
            }),
            // Evaluators' names are not order data.
            "Evaluator" => true,
            other => panic!(
                "a new object type reached by an evaluator: {other}; say here what it may see"
            ),
        };
        assert!(allowed, "{typename} {raw} is outside the grant");
    }
    // The walk reached the plan, not an empty page.
    for t in [
        "Order",
        "Finding",
        "Measure",
        "Owner",
        "System",
        "Report",
        "Regulator",
        "Evidence",
        "Evaluation",
        "ChangeRequest",
    ] {
        assert!(
            counts.get(t).copied().unwrap_or(0) > 0,
            "no {t} reached: {counts:?}"
        );
    }
}
