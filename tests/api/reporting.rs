//! Reporting for scripts and regulators: generated reports (golden files in tests/golden/,
//! rewritten with `REMEDY_UPDATE_GOLDEN=1`), the OSCAL POA&M against the official schema,
//! the `remedy report` CLI, the keyset `changes` export under concurrent writes, automatic
//! persisted queries, and the example reporting script.
use std::collections::BTreeSet;
use std::path::PathBuf;

use entity::*;
use remedy::auth::Role;
use remedy::id::encode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const METI: &str = "METI-2022-06-30";
const PPC: &str = "PPC-2022-07-13";
const DATES: [&str; 2] = ["2022-10-06", "2022-11-29"];
const FORMATS: [(&str, &str); 4] = [
    ("MARKDOWN", "md"),
    ("CSV", "csv"),
    ("JSON", "json"),
    ("OSCAL_POAM", "poam.json"),
];

const REPORT: &str = "query R($o: ID!, $d: NaiveDate, $f: ReportFormat!) {
  regulatorReport(orderId: $o, asOf: $d, format: $f) { format mediaType filename content sha256 }
}";

async fn order_gid(app: &TestApp, reference: &str) -> String {
    let id = remedy::service::tokens::resolve_order(&app.db, reference)
        .await
        .expect("order");
    encode("Order", id).0
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden")).join(name)
}

/// Compares with the golden file, or rewrites it when `REMEDY_UPDATE_GOLDEN=1`.
fn check_golden(name: &str, content: &str) {
    let path = golden_path(name);
    if std::env::var("REMEDY_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with REMEDY_UPDATE_GOLDEN=1)", path.display()));
    if expected != content {
        let line = expected
            .lines()
            .zip(content.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{name} differs from the golden file at line {}:\n  golden: {:?}\n  actual: {:?}",
            line + 1,
            expected.lines().nth(line),
            content.lines().nth(line)
        );
    }
}

async fn report_as(
    app: &TestApp,
    token: &str,
    order: &str,
    date: Option<&str>,
    format: &str,
) -> (u16, Value) {
    app.graphql_as(
        Some(token),
        REPORT,
        json!({ "o": order, "d": date, "f": format }),
    )
    .await
}

#[tokio::test]
async fn every_format_matches_its_golden_file_on_both_dates() {
    let app = spawn_demo_app().await;
    let reporter = app.token(Role::Reporter, &[]).await;
    let meti = order_gid(&app, METI).await;
    for (format, ext) in FORMATS {
        let mut contents = Vec::new();
        for date in DATES {
            let (status, body) = report_as(&app, &reporter, &meti, Some(date), format).await;
            assert_eq!(status, 200, "{body}");
            assert!(body.get("errors").is_none(), "{format} {date}: {body}");
            let r = &body["data"]["regulatorReport"];
            let content = r["content"].as_str().unwrap().to_string();
            assert_eq!(r["format"], format);
            assert_eq!(r["filename"], format!("{METI}_{date}.{ext}"));
            assert_eq!(
                r["sha256"].as_str().unwrap(),
                hex::encode(Sha256::digest(content.as_bytes())),
                "sha256 is the content's"
            );
            // Same input, same bytes.
            let (_, again) = report_as(&app, &reporter, &meti, Some(date), format).await;
            assert_eq!(again["data"]["regulatorReport"]["content"], r["content"]);
            check_golden(&format!("{METI}_{date}.{ext}"), &content);
            contents.push(content);
        }
        assert_ne!(
            contents[0], contents[1],
            "{format}: 10-06 and 11-29 must differ"
        );
    }
}

/// The commission's guidance on 2022-11-29, in Markdown: its technical table has no directive
/// column, so no company measure may stand as the commission's directive; each technical
/// finding says so, in the data (over GraphQL) and in the report (golden file).
#[tokio::test]
async fn the_commissions_technical_findings_carry_no_company_measure_as_a_directive() {
    let app = spawn_demo_app().await;
    let reporter = app.token(Role::Reporter, &[]).await;
    let ppc = order_gid(&app, PPC).await;
    let data = app
        .query_ok(
            "query($id: ID!) { node(id: $id) { ... on Order { findings(first: 50) { nodes { number category directive directiveEn measures(first: 50) { nodes { plan } } } } } } }",
            json!({ "id": ppc }),
        )
        .await;
    let findings = data["node"]["findings"]["nodes"].as_array().unwrap();
    let technical: Vec<&Value> = findings
        .iter()
        .filter(|f| f["category"] == "TECHNICAL")
        .collect();
    assert_eq!(technical.len(), 8);
    for f in &technical {
        let directive = f["directive"].as_str().unwrap();
        assert!(directive.starts_with("（指導概要の記載なし"), "{f}");
        assert!(
            f["directiveEn"]
                .as_str()
                .unwrap()
                .starts_with("None stated."),
            "{f}"
        );
        // None of the company's measures (their plans) reads as the directive.
        for m in f["measures"]["nodes"].as_array().unwrap() {
            if let Some(plan) = m["plan"].as_str() {
                assert!(
                    !directive.contains(plan) && !plan.contains(directive),
                    "{f}"
                );
            }
        }
    }
    // The organisational table does carry the commission's directives (指導概要).
    for f in findings
        .iter()
        .filter(|f| f["category"] == "ORGANIZATIONAL")
    {
        assert!(f["directive"].as_str().unwrap().ends_with("こと。"), "{f}");
    }
    let date = "2022-11-29";
    let (status, body) = report_as(&app, &reporter, &ppc, Some(date), "MARKDOWN").await;
    assert_eq!(status, 200, "{body}");
    let content = body["data"]["regulatorReport"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(content.matches("（指導概要の記載なし").count(), 8);
    check_golden(&format!("{PPC}_{date}.md"), &content);
}

#[tokio::test]
async fn reports_show_the_plan_as_it_stood_on_the_date() {
    let app = spawn_demo_app().await;
    let reporter = app.token(Role::Reporter, &[]).await;
    let meti = order_gid(&app, METI).await;
    let json_on = |body: &Value| -> Value {
        serde_json::from_str(body["data"]["regulatorReport"]["content"].as_str().unwrap()).unwrap()
    };
    let (_, a) = report_as(&app, &reporter, &meti, Some("2022-10-06"), "JSON").await;
    let (_, b) = report_as(&app, &reporter, &meti, Some("2022-11-29"), "JSON").await;
    let (a, b) = (json_on(&a), json_on(&b));
    let evidence = |v: &Value| -> BTreeSet<String> {
        v["measures"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["evidence"].as_array().unwrap().iter())
            .map(|e| e["issued_on"].as_str().unwrap_or("").to_string())
            .collect()
    };
    // Evidence issued after the date is absent; the 2022-11-25 attestation appears later.
    assert!(
        evidence(&a).iter().all(|d| d.as_str() <= "2022-10-06"),
        "{:?}",
        evidence(&a)
    );
    assert!(evidence(&b).contains("2022-11-25"));
    // The superseded attestation of 2022-05-20 is marked.
    let superseded: Vec<&Value> = a["measures"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["evidence"].as_array().unwrap().iter())
        .filter(|e| e["superseded"] == true)
        .collect();
    assert_eq!(superseded.len(), 1, "{superseded:?}");
    assert_eq!(superseded[0]["issued_on"], "2022-05-20");
    // The committee's verdict on the 10-06 report counts from 10-06.
    let evaluated: Vec<&str> = a["report_evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["report"].as_str())
        .collect();
    assert!(evaluated.contains(&"METI-2022-10-06"), "{evaluated:?}");
    let (_, before) = report_as(&app, &reporter, &meti, Some("2022-10-05"), "JSON").await;
    let before = json_on(&before);
    assert!(!before["report_evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["report"] == "METI-2022-10-06"));
    // Headings in both languages.
    let (_, md) = report_as(&app, &reporter, &meti, Some("2022-10-06"), "MARKDOWN").await;
    let md = md["data"]["regulatorReport"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    for h in [
        "事実概要 / Facts",
        "指導概要 / Directive",
        "技術的安全管理措置 / Technical safeguards",
        "証跡 / Evidence",
    ] {
        assert!(md.contains(h), "missing heading {h}");
    }
}

#[tokio::test]
async fn oscal_poam_validates_against_the_official_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("oscal/oscal_poam_schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft7::new(&schema).expect("the schema compiles");
    let app = spawn_demo_app().await;
    let reporter = app.token(Role::Reporter, &[]).await;
    for (reference, date) in [
        (METI, "2022-10-06"),
        (METI, "2022-11-29"),
        (PPC, "2022-11-29"),
        (METI, "2022-01-01"),
    ] {
        let gid = order_gid(&app, reference).await;
        let (_, body) = report_as(&app, &reporter, &gid, Some(date), "OSCAL_POAM").await;
        let doc: Value =
            serde_json::from_str(body["data"]["regulatorReport"]["content"].as_str().unwrap())
                .unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .take(10)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{reference} {date}: {errors:#?}");
        let poam = &doc["plan-of-action-and-milestones"];
        assert_eq!(poam["metadata"]["oscal-version"], "1.1.3");
        if date != "2022-01-01" {
            assert!(!poam["poam-items"].as_array().unwrap().is_empty());
            let hashes: Vec<&Value> = poam["back-matter"]["resources"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r["rlinks"][0]["hashes"].as_array().unwrap().iter())
                .collect();
            assert!(hashes
                .iter()
                .all(|h| h["algorithm"] == "SHA-256" && h["value"].as_str().unwrap().len() == 64));
        }
    }
    // A document the schema must refuse (no poam-items): the validator is not vacuous.
    assert!(!validator.is_valid(&json!({
        "plan-of-action-and-milestones": {
            "uuid": "4a1f5f9c-5d5e-4c1d-9a59-1b0e4c3a8e11",
            "metadata": { "title": "x", "last-modified": "2022-10-06T00:00:00Z", "version": "1", "oscal-version": "1.1.3" }
        }
    })));
}

#[tokio::test]
async fn as_of_before_the_order_existed_gives_an_empty_report() {
    let app = spawn_demo_app().await;
    let reporter = app.token(Role::Reporter, &[]).await;
    let meti = order_gid(&app, METI).await;
    for (format, _) in FORMATS {
        let (status, body) = report_as(&app, &reporter, &meti, Some("2022-06-29"), format).await;
        assert_eq!(status, 200);
        assert!(body.get("errors").is_none(), "{format}: {body}");
        let content = body["data"]["regulatorReport"]["content"].as_str().unwrap();
        match format {
            "MARKDOWN" => {
                assert!(content.contains("No findings or measures as of 2022-06-29"));
                assert!(content.contains(METI));
                assert!(!content.contains("M-01"));
            }
            "CSV" => assert_eq!(content.lines().count(), 1, "header only: {content}"),
            "JSON" => {
                let v: Value = serde_json::from_str(content).unwrap();
                assert_eq!(v["findings"], json!([]));
                assert_eq!(v["measures"], json!([]));
            }
            _ => {
                let v: Value = serde_json::from_str(content).unwrap();
                let items = v["plan-of-action-and-milestones"]["poam-items"]
                    .as_array()
                    .unwrap();
                assert_eq!(
                    items.len(),
                    1,
                    "one placeholder item (the schema wants one)"
                );
                assert_eq!(items[0]["props"][0]["name"], "no-measures");
                assert!(v["plan-of-action-and-milestones"].get("findings").is_none());
            }
        }
    }
}

#[tokio::test]
async fn report_access_follows_roles_and_order_scope() {
    let app = spawn_demo_app().await;
    let meti = order_gid(&app, METI).await;
    let ppc = order_gid(&app, PPC).await;
    // A VIEWER may read the plan but not generate reports.
    let viewer = app.token(Role::Viewer, &[]).await;
    let (_, body) = report_as(&app, &viewer, &meti, None, "MARKDOWN").await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    // A plain evaluator token has no reports:generate either.
    let evaluator = app.token(Role::Evaluator, &[METI]).await;
    let (_, body) = report_as(&app, &evaluator, &meti, None, "MARKDOWN").await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    // An evaluator allowed to generate reports, scoped to METI: its own order works, the
    // other order answers exactly like one that does not exist.
    let meti_raw = remedy::service::tokens::resolve_order(&app.db, METI)
        .await
        .unwrap();
    let scoped = issue(
        &app.db,
        &app.gate,
        &app.keys,
        "committee-reporter",
        &[Role::Evaluator, Role::Reporter],
        &[meti_raw],
    )
    .await;
    let (_, ok) = report_as(&app, &scoped, &meti, Some("2022-10-06"), "CSV").await;
    assert!(ok.get("errors").is_none(), "{ok}");
    let (_, other) = report_as(&app, &scoped, &ppc, Some("2022-10-06"), "CSV").await;
    assert_eq!(error_codes(&other), ["NOT_FOUND"], "{other}");
    let (_, missing) = report_as(&app, &scoped, &encode("Order", 999_999).0, None, "CSV").await;
    assert_eq!(error_codes(&missing), ["NOT_FOUND"]);
    assert_eq!(
        other["errors"][0]["message"], missing["errors"][0]["message"],
        "ungranted and missing orders answer alike"
    );
    assert_eq!(other["data"], Value::Null);
    // ... and it may not walk the change export, which spans every order.
    let (_, body) = app
        .graphql_as(
            Some(&scoped),
            "{ changes(first: 5) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    let (_, body) = app
        .graphql_as(
            Some(&evaluator),
            "{ changes(first: 5) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    let (_, body) = app
        .graphql_as(
            Some(&viewer),
            "{ changes(first: 5) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    // A REPORTER may, and `since` narrows by time.
    let reporter = app.token(Role::Reporter, &[]).await;
    let all = app
        .query_ok_as(&reporter, "{ changes(first: 3) { edges { cursor } } }")
        .await;
    assert_eq!(all["changes"]["edges"].as_array().unwrap().len(), 3);
    let none = app
        .query_ok_as(
            &reporter,
            "{ changes(since: \"2999-01-01T00:00:00Z\", first: 3) { edges { cursor } pageInfo { hasNextPage } } }",
        )
        .await;
    assert_eq!(none["changes"]["edges"], json!([]));
    assert_eq!(none["changes"]["pageInfo"]["hasNextPage"], false);
}

const CHANGES: &str = "query C($first: Int, $after: String) {
  changes(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { eventId at action entity entityId nodeId } }
  }
}";

async fn create_owner(app: &TestApp, editor: &str, code: &str) -> String {
    let data = app
        .query_ok_as(
            editor,
            &format!(
                "mutation {{ createOwner(input: {{code: \"{code}\", name: \"Owner {code}\", kind: PERSON}}) {{ id }} }}"
            ),
        )
        .await;
    data["createOwner"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_changes_walk_with_concurrent_writes_sees_every_change_exactly_once() {
    let app = std::sync::Arc::new(spawn_demo_app().await);
    let reporter = app.token(Role::Reporter, &[]).await;
    let editor = app.token(Role::Editor, &[]).await;

    // Writes in the background for the whole walk ...
    let writer = {
        let app = app.clone();
        let editor = editor.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..15 {
                ids.push(create_owner(&app, &editor, &format!("bg-{i}")).await);
            }
            ids
        })
    };
    // ... and between pages.
    let mut seen: Vec<i64> = Vec::new();
    let mut nodes: Vec<String> = Vec::new();
    let mut between = Vec::new();
    let mut after: Option<String> = None;
    let mut page = 0;
    let mut writer = Some(writer);
    let mut background = Vec::new();
    loop {
        let (status, body) = app
            .graphql_as(
                Some(&reporter),
                CHANGES,
                json!({ "first": 7, "after": after }),
            )
            .await;
        assert_eq!(status, 200);
        assert!(body.get("errors").is_none(), "{body}");
        let conn = &body["data"]["changes"];
        for e in conn["edges"].as_array().unwrap() {
            let id: i64 = e["node"]["eventId"].as_str().unwrap().parse().unwrap();
            assert_eq!(
                e["cursor"].as_str().unwrap(),
                id.to_string(),
                "the cursor is the event id"
            );
            seen.push(id);
            if let Some(n) = e["node"]["nodeId"].as_str() {
                nodes.push(n.to_string());
            }
        }
        if let Some(c) = conn["pageInfo"]["endCursor"].as_str() {
            after = Some(c.to_string());
        }
        page += 1;
        if page % 3 == 0 && between.len() < 5 {
            between.push(create_owner(&app, &editor, &format!("between-{page}")).await);
        }
        if conn["pageInfo"]["hasNextPage"] == false {
            // Done only once the background writer has finished and a last page is empty.
            match writer.take() {
                Some(w) => background = w.await.unwrap(),
                None => break,
            }
        }
    }
    assert!(page > 10, "the walk took several pages ({page})");
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no change repeated");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in event order");
    // Exactly the exported events in the database, no more, no fewer.
    let expected: Vec<i64> = audit_event::Entity::find()
        .filter(audit_event::Column::Entity.is_in(remedy::graphql::reporting::EXPORTED_ENTITIES))
        .order_by_asc(audit_event::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(seen, expected);
    for id in background.iter().chain(&between) {
        assert_eq!(
            nodes.iter().filter(|n| *n == id).count(),
            1,
            "owner {id} seen once"
        );
    }
    assert_eq!(background.len(), 15);
    // Token administration is not plan data: never exported.
    let all = audit_event::Entity::find().all(&app.db).await.unwrap();
    assert!(all.iter().any(|e| e.entity == "Token"));
    assert!(all
        .iter()
        .filter(|e| e.entity == "Token")
        .all(|e| !unique.contains(&e.id)));
    // A malformed cursor is a validation error, not a silent restart.
    let (_, body) = app
        .graphql_as(
            Some(&reporter),
            CHANGES,
            json!({ "first": 5, "after": "abc" }),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"], "{body}");
}

#[tokio::test]
async fn automatic_persisted_queries_accept_a_hash_after_registration() {
    let app = spawn_demo_app().await;
    let reporter = app.token(Role::Reporter, &[]).await;
    let query = "{ orders(first: 5) { totalCount nodes { reference } } }";
    let hash = hex::encode(Sha256::digest(query.as_bytes()));
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let post = |body: Value| {
        app.client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&reporter)
            .json(&body)
            .send()
    };
    // Unknown hash: the client is told to send the query.
    let unknown: Value = post(json!({ "extensions": ext }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        unknown["errors"][0]["message"], "PersistedQueryNotFound",
        "{unknown}"
    );
    // Register with query and hash, then the hash alone is enough.
    let first: Value = post(json!({ "query": query, "extensions": ext }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(first.get("errors").is_none(), "{first}");
    let hashed: Value = post(json!({ "extensions": ext }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(hashed.get("errors").is_none(), "{hashed}");
    assert_eq!(hashed["data"], first["data"]);
    assert_eq!(hashed["data"]["orders"]["totalCount"], 2);
    // A query that does not match its hash is refused.
    let wrong: Value =
        post(json!({ "query": "{ orders(first: 1) { totalCount } }", "extensions": ext }))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(wrong.get("errors").is_some(), "{wrong}");
}

#[tokio::test]
async fn the_report_command_gives_the_same_bytes_from_the_database_and_through_a_server() {
    let app = spawn_demo_app().await;
    let reporter = app.token(Role::Reporter, &[]).await;
    let meti = order_gid(&app, METI).await;
    let (_, body) = report_as(&app, &reporter, &meti, Some("2022-10-06"), "OSCAL_POAM").await;
    let expected = body["data"]["regulatorReport"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_remedy");
    // On the database directly, by reference.
    let out = dir.path().join("local.json");
    let status = tokio::process::Command::new(bin)
        .args([
            "report",
            "--order",
            METI,
            "--as-of",
            "2022-10-06",
            "--format",
            "oscal",
            "--out",
        ])
        .arg(&out)
        .env("REMEDY_DATABASE_URL", &app._test_db.url)
        .status()
        .await
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
    // Through the running server, with the token, to standard output.
    let output = tokio::process::Command::new(bin)
        .args([
            "report",
            "--order",
            METI,
            "--as-of",
            "2022-10-06",
            "--format",
            "oscal",
            "--url",
            &app.address,
        ])
        .env("REMEDY_TOKEN", &reporter)
        .env("REMEDY_DATABASE_URL", "sqlite:///nonexistent/never-used.db")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
    // A VIEWER token is refused by the server, and the command fails.
    let viewer = app.token(Role::Viewer, &[]).await;
    let output = tokio::process::Command::new(bin)
        .args([
            "report",
            "--order",
            &meti,
            "--format",
            "csv",
            "--url",
            &app.address,
            "--token",
            &viewer,
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("FORBIDDEN"));
}

#[tokio::test]
async fn the_example_script_writes_the_overdue_measures_to_csv() {
    if tokio::process::Command::new("python3")
        .arg("--version")
        .output()
        .await
        .is_err()
    {
        eprintln!("python3 not available; skipped");
        return;
    }
    let app = spawn_demo_app().await;
    let reporter = app.token(Role::Reporter, &[]).await;
    let as_of = "2023-06-30";
    let expected: Vec<String> = app
        .query_ok_as(
            &reporter,
            &format!("{{ overdueMeasures(asOf: \"{as_of}\", first: 100) {{ nodes {{ code }} }} }}"),
        )
        .await["overdueMeasures"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["code"].as_str().unwrap().to_string())
        .collect();
    assert!(
        expected.len() > 2,
        "the demo plan has overdue measures on {as_of}: {expected:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("overdue.csv");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/overdue_report.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .args(["--as-of", as_of, "--page-size", "2", "--out"])
        .arg(&out)
        .env("REMEDY_URL", &app.address)
        .env("REMEDY_TOKEN", &reporter)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("code,title,title_local,status,due_on"));
    let codes: Vec<String> = lines
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(
        codes, expected,
        "every overdue measure, in order, across pages"
    );
    // A VIEWER-less call without a token fails loudly.
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .env("REMEDY_URL", &app.address)
        .env_remove("REMEDY_TOKEN")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
}
