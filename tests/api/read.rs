//! The read API over HTTP against the demo plan: dashboards equal the seed documents,
//! pagination, filters, IDs, scope, limits and the absence of N+1 queries.
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use chrono::{NaiveDate, Utc};
use entity::enums::*;
use entity::prelude::*;
use entity::*;
use remedy::auth::Role;
use remedy::id::encode;
use remedy::service::measures::is_overdue;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};

use crate::helpers::*;

fn codes(conn: &Value) -> Vec<String> {
    conn["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {conn}"))
        .iter()
        .map(|n| n["code"].as_str().unwrap().to_string())
        .collect()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn order_id(app: &TestApp, reference: &str) -> i64 {
    RegulatoryOrder::find()
        .filter(regulatory_order::Column::Reference.eq(reference))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id
}

const PROGRESS: &str = "query($d: NaiveDate) { progress(asOf: $d) { asOf total planned inProgress implemented verified \
    overdue percentImplemented percentVerified \
    regulators { regulator { code } total implemented } \
    categories { category findings total } \
    orders { order { reference } findings total inProgress implemented verified overdue \
      categories { category findings total } } } }";

#[tokio::test]
async fn dashboard_figures_equal_the_seed_documents_on_2022_11_29() {
    let app = spawn_demo_app().await;
    let p = app.query_ok(PROGRESS, json!({"d": "2022-11-29"})).await["progress"].clone();
    assert_eq!(p["asOf"], "2022-11-29");

    // The commission's table: 2 organisational and 8 technical findings.
    let ppc = p["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["order"]["reference"] == "PPC-2022-07-13")
        .unwrap()
        .clone();
    assert_eq!(ppc["findings"], 10);
    let cats: Vec<(String, u64)> = ppc["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["category"].as_str().unwrap().to_string(),
                c["findings"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cats,
        [
            ("ORGANIZATIONAL".to_string(), 2),
            ("TECHNICAL".to_string(), 8)
        ]
    );

    // Which measures are done and which are due in December, from the two documents.
    let measures = app
        .query_ok(
            "{ a: measures(first: 100) { totalCount nodes { code status dueOn completedOn } } \
               dec: measures(filter: {dueAfter: \"2022-11-30\", dueBefore: \"2023-01-01\"}) { nodes { code title status } } }",
            json!({}),
        )
        .await;
    assert_eq!(measures["a"]["totalCount"], 33);
    let dec = measures["dec"]["nodes"].as_array().unwrap();
    let titles: Vec<String> = dec
        .iter()
        .map(|m| m["title"].as_str().unwrap().to_lowercase())
        .collect();
    // Pen tests on all payment systems and PCI DSS of the front systems (商工会議所向け) by December;
    // the operational framework "within the year".
    assert!(
        titles.iter().any(|t| t.contains("penetration")),
        "{titles:?}"
    );
    assert!(titles.iter().any(|t| t.contains("front")), "{titles:?}");
    assert!(dec.iter().all(|m| m["status"] == "IN_PROGRESS"));
    let done: BTreeSet<String> = measures["a"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == "IMPLEMENTED" || m["status"] == "VERIFIED")
        .map(|m| m["code"].as_str().unwrap().to_string())
        .collect();

    // The rollup agrees with the list: every done measure counted, nothing in the future.
    assert_eq!(p["total"], 33);
    assert_eq!(
        p["implemented"].as_u64().unwrap() + p["verified"].as_u64().unwrap(),
        done.len() as u64
    );
    assert_eq!(
        p["verified"], 1,
        "only the net payment system's PCI DSS is proven by attestations"
    );
    assert_eq!(p["inProgress"].as_u64().unwrap() + done.len() as u64, 33);
    let pct = (done.len() as f64 * 1000.0 / 33.0).round() / 10.0;
    assert_eq!(p["percentImplemented"].as_f64().unwrap(), pct);
    assert_eq!(p["overdue"], 0, "nothing was late on the day of the notice");
    // Categories across orders: the commission's 2 + 8 plus the ministry's summarised findings.
    let org = p["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "ORGANIZATIONAL")
        .unwrap();
    let tech = p["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "TECHNICAL")
        .unwrap();
    let all_findings = Finding::find().all(&app.db).await.unwrap();
    let count = |c: FindingCategory| all_findings.iter().filter(|f| f.category == c).count() as u64;
    assert_eq!(
        org["findings"].as_u64().unwrap(),
        count(FindingCategory::Organizational)
    );
    assert_eq!(
        tech["findings"].as_u64().unwrap(),
        count(FindingCategory::Technical)
    );
    assert_eq!(p["regulators"].as_array().unwrap().len(), 2);
}

/// An order recorded before its issue date is under no heading until then, so its findings
/// and measures are in no total either.
#[tokio::test]
async fn an_order_not_yet_issued_counts_nowhere() {
    let app = spawn_demo_app().await;
    let before = app.query_ok(PROGRESS, json!({"d": null})).await["progress"].clone();
    let regulator = app
        .query_ok("{ regulators { nodes { id } } }", json!({}))
        .await["regulators"]["nodes"][0]["id"]
        .clone();
    let issued = (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string();
    let order = app
        .query_ok(
            "mutation($r: ID!, $d: NaiveDate!) { createOrder(input: {regulatorId: $r, kind: OTHER, reference: \"FUTURE-1\", title: \"Announced order\", issuedOn: $d}) { id } }",
            json!({ "r": regulator, "d": issued }),
        )
        .await["createOrder"]["id"]
        .clone();
    let finding = app
        .query_ok(
            "mutation($o: ID!) { createFinding(input: {orderId: $o, category: TECHNICAL, number: \"1\", title: \"t\", facts: \"f\", directive: \"d\"}) { id } }",
            json!({ "o": order }),
        )
        .await["createFinding"]["id"]
        .clone();
    app.query_ok(
        "mutation($f: ID!) { createMeasure(input: {code: \"FUT-1\", title: \"t\", dueOn: \"2022-10-01\", findingIds: [$f]}) { id } }",
        json!({ "f": finding }),
    )
    .await;
    for d in [
        Value::Null,
        json!(chrono::Utc::now().date_naive().to_string()),
    ] {
        let p = app.query_ok(PROGRESS, json!({ "d": d })).await["progress"].clone();
        let orders = p["orders"].as_array().unwrap();
        assert!(
            orders.iter().all(|o| o["order"]["reference"] != "FUTURE-1"),
            "{p}"
        );
        let sum = |k: &str| orders.iter().map(|o| o[k].as_u64().unwrap()).sum::<u64>();
        // A measure may answer findings of both orders, so totals are compared with the
        // figures before the new order, not summed.
        for k in ["total", "overdue", "planned", "percentImplemented"] {
            assert_eq!(p[k], before[k], "{k}: {p}");
        }
        assert_eq!(p["categories"], before["categories"], "{p}");
        let cat_findings: u64 = p["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["findings"].as_u64().unwrap())
            .sum();
        assert_eq!(cat_findings, sum("findings"), "{p}");
    }
}

#[tokio::test]
async fn as_of_figures_follow_the_recorded_dates() {
    let app = spawn_demo_app().await;
    // Before either order: nothing, and no error.
    let p = app.query_ok(PROGRESS, json!({"d": "2022-06-01"})).await["progress"].clone();
    assert_eq!(p["total"], 0);
    assert_eq!(p["orders"], json!([]));
    // After the ministry's order, before the commission's guidance.
    let p = app.query_ok(PROGRESS, json!({"d": "2022-07-01"})).await["progress"].clone();
    let refs: Vec<&str> = p["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order"]["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["METI-2022-06-30"]);
    // On the day of the first reports fewer measures were done than on 11-29.
    let early = app.query_ok(PROGRESS, json!({"d": "2022-08-01"})).await["progress"].clone();
    let late = app.query_ok(PROGRESS, json!({"d": "2022-11-29"})).await["progress"].clone();
    let done = |p: &Value| p["implemented"].as_u64().unwrap() + p["verified"].as_u64().unwrap();
    assert!(done(&early) < done(&late), "{early} vs {late}");
    // The same figures computed here from the recorded dates.
    let measures = Measure::find().all(&app.db).await.unwrap();
    let expected_done = measures
        .iter()
        .filter(|m| m.completed_on.is_some_and(|d| d <= date("2022-08-01")))
        .count() as u64;
    assert_eq!(done(&early), expected_done);
    // Overdue as of a date: a one-off measure due in December is late on 2023-01-15 if not completed.
    let (_, body) = app
        .graphql(
            "{ overdueMeasures(asOf: \"2023-01-15\") { totalCount nodes { code dueOn } } }",
            json!({}),
        )
        .await;
    let late_codes = codes(&body["data"]["overdueMeasures"]);
    for m in &measures {
        let expected = m.due_on.is_some_and(|d| d < date("2023-01-15"))
            && m.completed_on.is_none()
            && m.recurrence == Recurrence::None;
        if expected {
            assert!(
                late_codes.contains(&m.code),
                "{} should be overdue on 2023-01-15",
                m.code
            );
        }
    }
}

async fn walk(app: &TestApp, forward: bool, page: i32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (query, vars) = if forward {
            ("query($n: Int, $c: String) { measures(first: $n, after: $c) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { code } } } }", json!({"n": page, "c": cursor}))
        } else {
            ("query($n: Int, $c: String) { measures(last: $n, before: $c) { totalCount pageInfo { hasPreviousPage startCursor } edges { cursor node { code } } } }", json!({"n": page, "c": cursor}))
        };
        let data = app.query_ok(query, vars).await;
        let conn = &data["measures"];
        let mut batch: Vec<String> = conn["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["code"].as_str().unwrap().to_string())
            .collect();
        assert!(batch.len() <= page as usize);
        if forward {
            seen.extend(batch);
            if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                break;
            }
            cursor = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
        } else {
            batch.reverse();
            seen.extend(batch);
            if !conn["pageInfo"]["hasPreviousPage"].as_bool().unwrap() {
                break;
            }
            cursor = conn["pageInfo"]["startCursor"].as_str().map(str::to_string);
        }
        assert!(seen.len() <= 1000, "runaway pagination");
    }
    seen
}

#[tokio::test]
async fn pagination_walks_every_measure_once_in_both_directions() {
    let app = spawn_demo_app().await;
    let forward = walk(&app, true, 7).await;
    let backward = walk(&app, false, 5).await;
    let mut expected: Vec<String> = Measure::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.code)
        .collect();
    expected.sort();
    assert_eq!(forward, expected, "forward walk");
    let mut reversed = backward.clone();
    reversed.reverse();
    assert_eq!(reversed, expected, "backward walk");
    // The page size limit is a clear error.
    let (status, body) = app
        .graphql("{ measures(first: 101) { totalCount } }", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), ["VALIDATION"]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("100"),
        "{body}"
    );
    let (_, body) = app
        .graphql(
            "{ measures(first: 5, after: \"bm90LWEtY3Vyc29y\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);
}

const MEASURE_PAGE: &str = "query($o: MeasureOrder, $f: Int, $a: String, $l: Int, $b: String) { \
    measures(orderBy: $o, first: $f, after: $a, last: $l, before: $b) { \
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } \
    edges { cursor node { id code dueOn } } } }";

/// One page of measures: the edges' `(id, code, dueOn)`, and the page info.
async fn measure_page(
    app: &TestApp,
    order: &Value,
    forward: bool,
    n: i32,
    cursor: Option<&str>,
) -> (Vec<(String, String, Value)>, Value) {
    let vars = if forward {
        json!({"o": order, "f": n, "a": cursor})
    } else {
        json!({"o": order, "l": n, "b": cursor})
    };
    let data = app.query_ok(MEASURE_PAGE, vars).await;
    let conn = &data["measures"];
    let edges = conn["edges"].as_array().unwrap();
    assert!(edges.len() <= n as usize);
    let info = conn["pageInfo"].clone();
    if let (Some(first), Some(last)) = (edges.first(), edges.last()) {
        assert_eq!(info["startCursor"], first["cursor"]);
        assert_eq!(info["endCursor"], last["cursor"]);
    }
    // Asked for, the far side of the cursor is probed: rows lie there whenever a cursor of a
    // row still in the list was given.
    let far = if forward {
        &info["hasPreviousPage"]
    } else {
        &info["hasNextPage"]
    };
    assert_eq!(far.as_bool(), Some(cursor.is_some()), "{info}");
    let rows = edges
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                n["id"].as_str().unwrap().to_string(),
                n["code"].as_str().unwrap().to_string(),
                n["dueOn"].clone(),
            )
        })
        .collect();
    (rows, info)
}

/// The measures' IDs, page by page, in the list's order (also when walking backward).
async fn walk_measures(app: &TestApp, order: &Value, forward: bool, n: i32) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (rows, info) = measure_page(app, order, forward, n, cursor.as_deref()).await;
        let mut ids: Vec<String> = rows.into_iter().map(|r| r.0).collect();
        let more = if forward {
            seen.extend(ids);
            cursor = info["endCursor"].as_str().map(str::to_string);
            info["hasNextPage"].as_bool().unwrap()
        } else {
            ids.extend(seen);
            seen = ids;
            cursor = info["startCursor"].as_str().map(str::to_string);
            info["hasPreviousPage"].as_bool().unwrap()
        };
        if !more {
            break;
        }
        assert!(seen.len() <= 1000, "runaway pagination");
    }
    seen
}

/// A finding to hang new measures on.
async fn any_finding(app: &TestApp) -> String {
    let data = app
        .query_ok("{ findings(first: 1) { nodes { id } } }", json!({}))
        .await;
    data["findings"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn create_measure(app: &TestApp, finding: &str, code: &str, due_on: Option<&str>) -> String {
    let data = app
        .query_ok(
            "mutation($i: CreateMeasureInput!) { createMeasure(input: $i) { id } }",
            json!({"i": {"code": code, "title": format!("Measure {code}"), "findingIds": [finding], "dueOn": due_on}}),
        )
        .await;
    data["createMeasure"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn keyset_walks_agree_with_one_big_page_for_every_order() {
    let app = spawn_demo_app().await;
    // The demo's due dates are one date and many NULLs: add distinct dates, and one more NULL.
    let finding = any_finding(&app).await;
    for (code, due) in [
        ("K-1", Some("2023-06-30")),
        ("K-2", Some("2021-01-01")),
        ("K-3", None),
        ("K-4", Some("2022-12-31")),
        ("A-0", Some("2030-01-01")),
    ] {
        create_measure(&app, &finding, code, due).await;
    }
    let total = Measure::find().all(&app.db).await.unwrap().len();
    assert!(total < 100);
    for field in ["CODE", "DUE_ON", "STATUS", "TITLE", "UPDATED_AT"] {
        for direction in ["ASC", "DESC"] {
            let order = json!({"field": field, "direction": direction});
            let (rows, info) = measure_page(&app, &order, true, 100, None).await;
            assert_eq!(rows.len(), total);
            assert_eq!(info["hasNextPage"], false);
            let all: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
            let unique: BTreeSet<&String> = all.iter().collect();
            assert_eq!(unique.len(), total);
            if field == "DUE_ON" {
                // NULLs last in both directions, the dates in the direction asked.
                let dates: Vec<NaiveDate> =
                    rows.iter().map_while(|r| r.2.as_str().map(date)).collect();
                assert_eq!(dates.len(), 7, "{rows:?}");
                assert!(rows[dates.len()..].iter().all(|r| r.2.is_null()));
                let mut sorted = dates.clone();
                sorted.sort();
                if direction == "DESC" {
                    sorted.reverse();
                }
                assert_eq!(dates, sorted);
            }
            for (forward, n) in [(true, 4), (false, 3), (true, 1), (false, 7)] {
                let walked = walk_measures(&app, &order, forward, n).await;
                assert_eq!(
                    walked,
                    all,
                    "{field} {direction}, {} by {n}",
                    if forward { "forward" } else { "backward" }
                );
            }
        }
    }
}

#[tokio::test]
async fn rows_inserted_between_pages_neither_repeat_nor_skip_a_row() {
    let app = spawn_demo_app().await;
    let finding = any_finding(&app).await;
    for (walk, (order, forward)) in [
        (json!({"field": "CODE", "direction": "ASC"}), true),
        (json!({"field": "CODE", "direction": "DESC"}), false),
        (json!({"field": "DUE_ON", "direction": "DESC"}), true),
        (json!({"field": "DUE_ON", "direction": "ASC"}), false),
    ]
    .into_iter()
    .enumerate()
    {
        let before: Vec<String> = measure_page(&app, &order, true, 100, None)
            .await
            .0
            .into_iter()
            .map(|r| r.0)
            .collect();
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let (rows, info) = measure_page(&app, &order, forward, 5, cursor.as_deref()).await;
            let mut ids: Vec<String> = rows.into_iter().map(|r| r.0).collect();
            let more = if forward {
                seen.extend(ids);
                cursor = info["endCursor"].as_str().map(str::to_string);
                info["hasNextPage"].as_bool().unwrap()
            } else {
                ids.extend(seen);
                seen = ids;
                cursor = info["startCursor"].as_str().map(str::to_string);
                info["hasPreviousPage"].as_bool().unwrap()
            };
            if !more {
                break;
            }
            pages += 1;
            assert!(pages < 100, "runaway pagination");
            if pages > 2 {
                continue;
            }
            // Between pages, new measures land everywhere in the order: before and after
            // the walk's position, among the dated ones and among those without a date.
            let tag = format!("{walk}{pages}");
            for (code, due) in [
                (format!("A-{tag}"), Some("2000-01-01")),
                (format!("M-00-{tag}"), None),
                (format!("M-16-{tag}"), Some("2022-12-31")),
                (format!("Z-{tag}"), Some("2099-01-01")),
                (format!("M-99-{tag}"), None),
            ] {
                create_measure(&app, &finding, &code, due).await;
            }
        }
        // Every row that existed when the walk began is visited once, in its order.
        let visited: Vec<&String> = seen.iter().filter(|id| before.contains(id)).collect();
        assert_eq!(visited, before.iter().collect::<Vec<_>>(), "{order}");
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "a row repeats: {order}");
        // Rows inserted ahead of the walk were picked up (in order).
        assert!(seen.len() > before.len(), "{order}");
        let now: Vec<String> = measure_page(&app, &order, true, 100, None)
            .await
            .0
            .into_iter()
            .map(|r| r.0)
            .filter(|id| seen.contains(id))
            .collect();
        assert_eq!(now, seen, "{order}");
    }
}

/// base64url JSON of a cursor, edited.
fn edit_cursor(cursor: &str, edit: impl FnOnce(&mut Value)) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut v: Value = serde_json::from_slice(&b64.decode(cursor).unwrap()).unwrap();
    edit(&mut v);
    b64.encode(v.to_string())
}

#[tokio::test]
async fn tampered_and_foreign_cursors_are_validation_errors() {
    let app = spawn_demo_app().await;
    let cursor_of = |data: &Value, path: &[&str]| -> String {
        let mut v = data;
        for p in path {
            v = &v[*p];
        }
        v["edges"][1]["cursor"].as_str().unwrap().to_string()
    };
    let data = app
        .query_ok(
            "{ measures(first: 2) { edges { cursor } } \
               byTitle: measures(first: 2, orderBy: {field: TITLE}) { edges { cursor } } \
               regulators(first: 2) { edges { cursor } } \
               evidence(first: 2) { edges { cursor } } \
               orders(first: 1) { nodes { findings(first: 2) { edges { cursor } } } } }",
            json!({}),
        )
        .await;
    let by_code = cursor_of(&data, &["measures"]);
    let by_title = cursor_of(&data, &["byTitle"]);
    let regulator = cursor_of(&data, &["regulators"]);
    let evidence = cursor_of(&data, &["evidence"]);
    let nested = cursor_of(&data["orders"]["nodes"][0], &["findings"]);
    // The cursors themselves work.
    for (query, cursor) in [
        ("query($c: String) { measures(first: 2, after: $c) { totalCount } }", &by_code),
        ("query($c: String) { measures(last: 2, before: $c, orderBy: {field: TITLE}) { totalCount } }", &by_title),
        ("query($c: String) { evidence(first: 2, after: $c) { totalCount } }", &evidence),
        ("query($c: String) { orders(first: 1) { nodes { findings(first: 2, after: $c) { totalCount } } } }", &nested),
    ] {
        app.query_ok(query, json!({"c": cursor})).await;
    }
    let mut bad: Vec<(&str, String)> = vec![
        // Another order of the same list, another list, a nested list's offset cursor.
        (
            "measures(first: 2, orderBy: {field: TITLE}, after: $c)",
            by_code.clone(),
        ),
        (
            "measures(first: 2, orderBy: {field: CODE, direction: DESC}, after: $c)",
            by_code.clone(),
        ),
        ("measures(last: 2, before: $c)", by_title.clone()),
        ("measures(first: 2, after: $c)", regulator.clone()),
        ("measures(first: 2, after: $c)", evidence.clone()),
        ("expiringEvidence(first: 2, after: $c)", evidence.clone()),
        ("findings(first: 2, after: $c)", nested.clone()),
        ("auditLog(first: 2, before: $c)", nested.clone()),
        // A root cursor given to a nested list.
        (
            "orders(first: 1) { nodes { findings(first: 2, after: $c) { totalCount } } }",
            by_code.clone(),
        ),
        // Garbage and truncation.
        ("measures(first: 2, after: $c)", "!!".to_string()),
        (
            "measures(first: 2, after: $c)",
            by_code[..by_code.len() / 2].to_string(),
        ),
    ];
    // Tampered contents: each is a VALIDATION error, never a SQL error or a panic.
    let edits: [fn(&mut Value); 9] = [
        |v| v["k"][1] = json!("1; DROP TABLE measure"),
        |v| v["k"][1] = json!(null),
        |v| v["k"][1] = json!(1.5),
        |v| v["k"][0] = json!(42),
        |v| v["k"] = json!([v["k"][1].clone()]),
        |v| v["k"].as_array_mut().unwrap().push(json!(1)),
        |v| v["o"] = json!("measure:title,id"),
        |v| v["v"] = json!(99),
        |v| *v = json!([1, 2]),
    ];
    for edit in edits {
        bad.push(("measures(first: 2, after: $c)", edit_cursor(&by_code, edit)));
    }
    for (field, cursor) in bad {
        let selection = if field.ends_with(')') {
            " { totalCount }"
        } else {
            ""
        };
        let query = format!("query($c: String) {{ {field}{selection} }}");
        let (status, body) = app.graphql(&query, json!({"c": cursor})).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(
            error_codes(&body),
            ["VALIDATION"],
            "{query} {cursor}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        let arg = if field.contains("before") {
            "before"
        } else {
            "after"
        };
        assert!(message.starts_with(&format!("{arg}: ")), "{message}");
    }
    // Values of the right shape are positions, even if no row has them.
    let elsewhere = edit_cursor(&by_code, |v| v["k"] = json!(["M-10½", 1_000_000]));
    let data = app
        .query_ok(
            "query($c: String) { measures(first: 3, after: $c) { nodes { code } } }",
            json!({"c": elsewhere}),
        )
        .await;
    assert_eq!(codes(&data["measures"]), ["M-11", "M-12", "M-13"]);
}

#[tokio::test]
async fn keyset_pages_cost_a_constant_number_of_statements() {
    let app = spawn_demo_app().await;
    let first = app
        .query_ok(
            "{ measures(first: 3) { pageInfo { endCursor } } last: measures(last: 3) { pageInfo { startCursor } } }",
            json!({}),
        )
        .await;
    let after = first["measures"]["pageInfo"]["endCursor"].clone();
    let before = first["last"]["pageInfo"]["startCursor"].clone();
    let query = "query($n: Int, $a: String, $b: String) { \
        fwd: measures(first: $n, after: $a) { totalCount pageInfo { hasNextPage hasPreviousPage } nodes { code } } \
        bwd: measures(last: $n, before: $b) { totalCount pageInfo { hasNextPage hasPreviousPage } nodes { code } } }";
    let mut counts = Vec::new();
    for n in [2, 25] {
        let before_count = app.statements.load(Ordering::SeqCst);
        let data = app
            .query_ok(query, json!({"n": n, "a": after, "b": before}))
            .await;
        counts.push(app.statements.load(Ordering::SeqCst) - before_count);
        for side in ["fwd", "bwd"] {
            let conn = &data[side];
            assert_eq!(conn["totalCount"], 33);
            assert_eq!(conn["nodes"].as_array().unwrap().len(), n as usize);
            assert_eq!(conn["pageInfo"]["hasNextPage"], true, "{side} {n}");
            assert_eq!(conn["pageInfo"]["hasPreviousPage"], true, "{side} {n}");
        }
        assert_eq!(codes(&data["fwd"])[0], "M-04");
        assert_eq!(codes(&data["bwd"]).last().unwrap(), "M-30");
    }
    assert_eq!(
        counts[0], counts[1],
        "statements for pages of 2 vs 25: {counts:?}"
    );
    // Without totalCount and the far side's flag: one statement per list.
    let lean = "query($a: String) { measures(first: 5, after: $a) { pageInfo { hasNextPage } nodes { code } } }";
    let before_count = app.statements.load(Ordering::SeqCst);
    app.query_ok(lean, json!({"a": after})).await;
    let lean_count = app.statements.load(Ordering::SeqCst) - before_count;
    assert!(lean_count + 4 <= counts[0], "{lean_count} vs {counts:?}");
    // The first and last pages know they are.
    let data = app
        .query_ok(
            "{ a: measures(first: 40) { pageInfo { hasNextPage hasPreviousPage } } \
               b: measures(last: 40) { pageInfo { hasNextPage hasPreviousPage } } }",
            json!({}),
        )
        .await;
    for side in ["a", "b"] {
        assert_eq!(data[side]["pageInfo"]["hasNextPage"], false);
        assert_eq!(data[side]["pageInfo"]["hasPreviousPage"], false);
    }
}

#[tokio::test]
async fn every_measure_filter_narrows_correctly() {
    let app = spawn_demo_app().await;
    let db = &app.db;
    let all = Measure::find().all(db).await.unwrap();
    let findings = Finding::find().all(db).await.unwrap();
    let links = MeasureFinding::find().all(db).await.unwrap();
    let sys_links = MeasureSystem::find().all(db).await.unwrap();
    let ppc = order_id(&app, "PPC-2022-07-13").await;
    let meti_reg = Regulator::find()
        .filter(regulator::Column::Code.eq("METI"))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let meti = order_id(&app, "METI-2022-06-30").await;
    let net = System::find()
        .filter(system::Column::Code.eq("net-payment"))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let waf_finding = findings
        .iter()
        .find(|f| f.order_id == ppc && f.number == "T2-3")
        .unwrap();
    let owner_id = all.iter().find_map(|m| m.owner_id).unwrap();

    let of_orders = |orders: &[i64]| -> BTreeSet<String> {
        let fids: BTreeSet<i64> = findings
            .iter()
            .filter(|f| orders.contains(&f.order_id))
            .map(|f| f.id)
            .collect();
        let mids: BTreeSet<i64> = links
            .iter()
            .filter(|l| fids.contains(&l.finding_id))
            .map(|l| l.measure_id)
            .collect();
        all.iter()
            .filter(|m| mids.contains(&m.id))
            .map(|m| m.code.clone())
            .collect()
    };
    let with = |pred: &dyn Fn(&measure::Model) -> bool| -> BTreeSet<String> {
        all.iter()
            .filter(|m| pred(m))
            .map(|m| m.code.clone())
            .collect()
    };
    let org_ids: BTreeSet<i64> = findings
        .iter()
        .filter(|f| f.category == FindingCategory::Organizational)
        .map(|f| f.id)
        .collect();
    let org: BTreeSet<i64> = links
        .iter()
        .filter(|l| org_ids.contains(&l.finding_id))
        .map(|l| l.measure_id)
        .collect();
    let on_net: BTreeSet<i64> = sys_links
        .iter()
        .filter(|l| l.system_id == net.id)
        .map(|l| l.measure_id)
        .collect();
    let waf: BTreeSet<i64> = links
        .iter()
        .filter(|l| l.finding_id == waf_finding.id)
        .map(|l| l.measure_id)
        .collect();
    let today = Utc::now().date_naive();
    let search = |m: &measure::Model, t: &str| {
        [
            Some(&m.code),
            Some(&m.title),
            m.title_local.as_ref(),
            m.plan.as_ref(),
        ]
        .iter()
        .flatten()
        .any(|s| s.to_lowercase().contains(t))
    };

    let cases: Vec<(Value, BTreeSet<String>)> = vec![
        (
            json!({"orderId": encode("Order", ppc).0}),
            of_orders(&[ppc]),
        ),
        (
            json!({"regulatorId": encode("Regulator", meti_reg.id).0}),
            of_orders(&[meti]),
        ),
        (
            json!({"findingId": encode("Finding", waf_finding.id).0}),
            with(&|m| waf.contains(&m.id)),
        ),
        (
            json!({"ownerId": encode("Owner", owner_id).0}),
            with(&|m| m.owner_id == Some(owner_id)),
        ),
        (
            json!({"systemId": encode("System", net.id).0}),
            with(&|m| on_net.contains(&m.id)),
        ),
        (
            json!({"status": ["IN_PROGRESS"]}),
            with(&|m| m.status == MeasureStatus::InProgress),
        ),
        (
            json!({"status": ["VERIFIED", "PLANNED"]}),
            with(&|m| matches!(m.status, MeasureStatus::Verified | MeasureStatus::Planned)),
        ),
        (
            json!({"category": "ORGANIZATIONAL"}),
            with(&|m| org.contains(&m.id)),
        ),
        (json!({"overdue": true}), with(&|m| is_overdue(m, today))),
        (json!({"overdue": false}), with(&|m| !is_overdue(m, today))),
        (
            json!({"dueBefore": "2022-12-01"}),
            with(&|m| m.due_on.is_some_and(|d| d < date("2022-12-01"))),
        ),
        (
            json!({"dueAfter": "2022-11-30"}),
            with(&|m| m.due_on.is_some_and(|d| d > date("2022-11-30"))),
        ),
        (
            json!({"recurrence": "WEEKLY"}),
            with(&|m| m.recurrence == Recurrence::Weekly),
        ),
        (json!({"search": "waf"}), with(&|m| search(m, "waf"))),
        (json!({"search": "ログ"}), with(&|m| search(m, "ログ"))),
        (json!({"search": "100%_"}), BTreeSet::new()),
        (
            json!({"orderId": encode("Order", ppc).0, "status": ["IMPLEMENTED"]}),
            {
                let p = of_orders(&[ppc]);
                with(&|m| m.status == MeasureStatus::Implemented && p.contains(&m.code))
            },
        ),
    ];
    for (filter, expected) in cases {
        let data = app
            .query_ok(
                "query($f: MeasureFilter) { measures(filter: $f, first: 100) { totalCount nodes { code } } }",
                json!({"f": filter}),
            )
            .await;
        let got: BTreeSet<String> = codes(&data["measures"]).into_iter().collect();
        assert_eq!(got, expected, "filter {filter}");
        assert_eq!(
            data["measures"]["totalCount"].as_u64().unwrap() as usize,
            expected.len(),
            "totalCount for {filter}"
        );
        assert!(
            expected.len() < all.len() || filter.get("overdue").is_some(),
            "filter {filter} narrows nothing"
        );
    }

    // The other roots' filters.
    let data = app
        .query_ok(
            "{ att: evidence(filter: {kind: ATTESTATION}) { totalCount } \
               drafts: reports(filter: {status: DRAFT}) { totalCount nodes { code } } \
               ppcReports: reports(filter: {orderId: $ppc}) { totalCount } \
               guidance: orders(filter: {kind: GUIDANCE}) { nodes { reference } } \
               front: systems(filter: {kind: FRONT}) { totalCount } \
               vendors: owners(filter: {kind: VENDOR}) { totalCount } \
               tech: findings(filter: {category: TECHNICAL}) { totalCount } }"
                .replace("$ppc", &format!("\"{}\"", encode("Order", ppc).0))
                .as_str(),
            json!({}),
        )
        .await;
    assert_eq!(data["att"]["totalCount"], 9);
    assert_eq!(data["drafts"]["totalCount"], 1);
    assert_eq!(data["ppcReports"]["totalCount"], 1);
    assert_eq!(
        data["guidance"]["nodes"],
        json!([{"reference": "PPC-2022-07-13"}])
    );
    assert_eq!(data["front"]["totalCount"], 7);
    assert_eq!(data["vendors"]["totalCount"], 2);
    assert_eq!(
        data["tech"]["totalCount"].as_u64().unwrap(),
        findings
            .iter()
            .filter(|f| f.category == FindingCategory::Technical)
            .count() as u64
    );
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_clear_errors() {
    let app = spawn_demo_app().await;
    let cases = [
        ("garbage!!", "VALIDATION"),
        ("", "VALIDATION"),
        (
            encode("Measure", 999_999).0.as_str().to_owned().leak() as &str,
            "NOT_FOUND",
        ),
        (
            encode("Spaceship", 1).0.as_str().to_owned().leak() as &str,
            "NOT_FOUND",
        ),
        ("TWVhc3VyZTotMQ", "VALIDATION"), // "Measure:-1"
    ];
    for (id, code) in cases {
        let (status, body) = app
            .graphql(
                "query($id: ID!) { node(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(status, 200, "{id}: {body}");
        assert_eq!(error_codes(&body), [code], "{id}: {body}");
    }
    // A valid ID of the wrong type in a filter.
    let (_, body) = app
        .graphql(
            "query($id: ID!) { measures(filter: {orderId: $id}) { totalCount } }",
            json!({"id": encode("Regulator", 1).0}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);
    // Every type resolves through node, and nodes keeps the order asked with null, and a
    // NOT_FOUND error at its index, for unknown IDs.
    let m = Measure::find().one(&app.db).await.unwrap().unwrap();
    let (_, body) = app
        .graphql(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id __typename ... on Measure { code } } }",
            json!({"ids": [encode("Measure", m.id).0, encode("Measure", 999_999).0, encode("Regulator", 1).0]}),
        )
        .await;
    let data = &body["data"];
    assert_eq!(data["nodes"][0]["code"], m.code.as_str());
    assert!(data["nodes"][1].is_null());
    assert_eq!(data["nodes"][2]["__typename"], "Regulator");
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["nodes", 1]));
    // node is nullable (Relay): an unknown ID nulls that field only, beside other roots.
    let (_, body) = app
        .graphql(
            "query($id: ID!) { node(id: $id) { id } regulators { totalCount } }",
            json!({"id": encode("Measure", 999_999).0}),
        )
        .await;
    assert_eq!(body["data"]["node"], Value::Null, "{body}");
    assert!(body["data"]["regulators"]["totalCount"].as_u64().unwrap() > 0);
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
    assert_eq!(body["errors"][0]["path"], json!(["node"]));
    for (t, id) in [
        (
            "Order",
            RegulatoryOrder::find()
                .one(&app.db)
                .await
                .unwrap()
                .unwrap()
                .id,
        ),
        (
            "Finding",
            Finding::find().one(&app.db).await.unwrap().unwrap().id,
        ),
        (
            "Owner",
            Owner::find().one(&app.db).await.unwrap().unwrap().id,
        ),
        (
            "System",
            System::find().one(&app.db).await.unwrap().unwrap().id,
        ),
        (
            "Evidence",
            Evidence::find().one(&app.db).await.unwrap().unwrap().id,
        ),
        (
            "Report",
            Report::find().one(&app.db).await.unwrap().unwrap().id,
        ),
        (
            "Evaluation",
            Evaluation::find().one(&app.db).await.unwrap().unwrap().id,
        ),
        (
            "Evaluator",
            Evaluator::find().one(&app.db).await.unwrap().unwrap().id,
        ),
        (
            "Occurrence",
            Occurrence::find().one(&app.db).await.unwrap().unwrap().id,
        ),
    ] {
        let data = app
            .query_ok(
                "query($id: ID!) { node(id: $id) { id __typename } }",
                json!({"id": encode(t, id).0}),
            )
            .await;
        assert_eq!(data["node"]["__typename"], t);
        assert_eq!(data["node"]["id"], encode(t, id).0);
    }
}

/// A measure's changes (from the audit log, whose ids are text) show on the timeline of
/// an order it answers.
#[tokio::test]
async fn a_measure_change_shows_on_its_orders_timeline() {
    let app = spawn_demo_app().await;
    let timeline = "query($r: String!) { orderByReference(reference: $r) { \
        measures(first: 1) { nodes { id code version } } \
        timeline(first: 100) { totalCount nodes { kind summary nodeId } } } }";
    let changes_of = |data: &Value, id: &Value| -> Vec<String> {
        let t = &data["orderByReference"]["timeline"];
        assert!(t["totalCount"].as_u64().unwrap() <= 100, "{t}");
        t["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "MEASURE_CHANGED" && &e["nodeId"] == id)
            .map(|e| e["summary"].as_str().unwrap().to_string())
            .collect()
    };
    let vars = json!({ "r": "PPC-2022-07-13" });
    let before = app.query_ok(timeline, vars.clone()).await;
    let m = before["orderByReference"]["measures"]["nodes"][0].clone();
    let was = changes_of(&before, &m["id"]);
    app.query_ok(
        "mutation($id: ID!, $v: Int!) { updateMeasure(id: $id, version: $v, input: { title: \"Retitled\" }) { version } }",
        json!({ "id": m["id"], "v": m["version"] }),
    )
    .await;
    let after = app.query_ok(timeline, vars).await;
    let now = changes_of(&after, &m["id"]);
    assert_eq!(now.len(), was.len() + 1, "{now:?}");
    let code = m["code"].as_str().unwrap();
    assert!(
        now.iter()
            .any(|s| s.starts_with(&format!("{code} update by "))),
        "{now:?}"
    );
}

#[tokio::test]
async fn relations_resolve_in_both_directions() {
    let app = spawn_demo_app().await;
    let data = app
        .query_ok(
            "{ orderByReference(reference: \"PPC-2022-07-13\") { regulator { code } \
                 findings(first: 20) { totalCount nodes { number order { reference } measures(first: 10) { nodes { code findings(first: 10) { nodes { number } } } } } } \
                 reports { nodes { code order { reference } measures { totalCount } evaluations { nodes { verdict evaluator { code kind } report { code } } } } } \
                 timeline(first: 100) { totalCount nodes { on kind } } } }",
            json!({}),
        )
        .await;
    let o = &data["orderByReference"];
    assert_eq!(o["regulator"]["code"], "PPC");
    assert_eq!(o["findings"]["totalCount"], 10);
    for f in o["findings"]["nodes"].as_array().unwrap() {
        assert_eq!(f["order"]["reference"], "PPC-2022-07-13");
        for m in f["measures"]["nodes"].as_array().unwrap() {
            let back: Vec<&str> = m["findings"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["number"].as_str().unwrap())
                .collect();
            assert!(back.contains(&f["number"].as_str().unwrap()), "{m}");
        }
    }
    let report = &o["reports"]["nodes"][0];
    assert_eq!(report["evaluations"]["nodes"][0]["verdict"], "SATISFACTORY");
    assert_eq!(
        report["evaluations"]["nodes"][0]["evaluator"]["kind"],
        "REGULATOR"
    );
    // Timeline is in date order.
    let days: Vec<&str> = o["timeline"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["on"].as_str().unwrap())
        .collect();
    let mut sorted = days.clone();
    sorted.sort();
    assert_eq!(days, sorted);
    assert!(o["timeline"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "REPORT_ACKNOWLEDGED"));
    // The company's disclosure of 2022-02-28 is on both timelines, once, in date order.
    for reference in ["PPC-2022-07-13", "METI-2022-06-30"] {
        let data = app
            .query_ok(
                "query($r: String!) { orderByReference(reference: $r) { incidentDisclosedOn timeline(first: 10) { nodes { on kind summary } } } }",
                json!({ "r": reference }),
            )
            .await;
        let o = &data["orderByReference"];
        assert_eq!(o["incidentDisclosedOn"], "2022-02-28");
        let disclosed: Vec<&Value> = o["timeline"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "INCIDENT_DISCLOSED")
            .collect();
        assert_eq!(disclosed.len(), 1, "{o}");
        assert_eq!(disclosed[0]["on"], "2022-02-28", "{o}");
        assert!(
            disclosed[0]["summary"]
                .as_str()
                .unwrap()
                .contains(reference),
            "{o}"
        );
    }

    // Evidence revisions point at each other; systems list their attestations.
    let data = app
        .query_ok(
            "{ systems(filter: {kind: PAYMENT}) { nodes { code evidence { nodes { issuedOn sha256 current supersedes { issuedOn } supersededBy { issuedOn } measure { code } } } measures { totalCount } } } }",
            json!({}),
        )
        .await;
    let ev = data["systems"]["nodes"][0]["evidence"]["nodes"]
        .as_array()
        .unwrap();
    let first = ev.iter().find(|e| e["issuedOn"] == "2022-05-20").unwrap();
    assert_eq!(first["supersededBy"]["issuedOn"], "2022-06-11");
    assert_eq!(first["current"], false);
    let second = ev.iter().find(|e| e["issuedOn"] == "2022-06-11").unwrap();
    assert_eq!(second["supersedes"]["issuedOn"], "2022-05-20");
    // Owners: workload and private contact data.
    let data = app.query_ok("{ owners(first: 100) { nodes { code contact workload { open overdue total } measures { totalCount } } } }", json!({})).await;
    for o in data["owners"]["nodes"].as_array().unwrap() {
        assert_eq!(o["workload"]["total"], o["measures"]["totalCount"]);
    }
}

#[tokio::test]
async fn viewers_and_evaluators_see_what_their_role_allows() {
    let app = spawn_demo_app().await;
    let viewer = app.token(Role::Viewer, &[]).await;
    let editor = app.token(Role::Editor, &[]).await;
    // Contact data is private.
    let (_, body) = app
        .graphql_as(
            Some(&viewer),
            "{ owners { nodes { name contact } } }",
            json!({}),
        )
        .await;
    assert!(
        error_codes(&body).iter().all(|c| c == "FORBIDDEN") && !error_codes(&body).is_empty(),
        "{body}"
    );
    let data = app
        .query_ok_as(&editor, "{ owners(first: 1) { nodes { contact } } }")
        .await;
    assert!(data["owners"]["nodes"][0]["contact"].is_string());
    // Permissions tell a frontend what to show.
    let q = "{ measures(first: 1) { nodes { permissions { canEdit canEvaluate canAddEvidence canViewContact } } } }";
    let v = app.query_ok_as(&viewer, q).await;
    assert_eq!(
        v["measures"]["nodes"][0]["permissions"],
        json!({"canEdit": false, "canEvaluate": false, "canAddEvidence": false, "canViewContact": false})
    );
    let e = app.query_ok_as(&editor, q).await;
    assert_eq!(
        e["measures"]["nodes"][0]["permissions"],
        json!({"canEdit": true, "canEvaluate": false, "canAddEvidence": true, "canViewContact": true})
    );
    let evaluator = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let ev = app.query_ok_as(&evaluator, q).await;
    assert_eq!(
        ev["measures"]["nodes"][0]["permissions"]["canEvaluate"],
        true
    );
    assert_eq!(ev["measures"]["nodes"][0]["permissions"]["canEdit"], false);
}

#[tokio::test]
async fn an_evaluator_probing_the_other_order_sees_nothing_of_it() {
    let app = spawn_demo_app().await;
    let db = &app.db;
    let ppc = order_id(&app, "PPC-2022-07-13").await;
    let meti = order_id(&app, "METI-2022-06-30").await;
    let evaluator = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let ppc_findings = Finding::find()
        .filter(finding::Column::OrderId.eq(ppc))
        .all(db)
        .await
        .unwrap();
    let ppc_report = Report::find()
        .filter(report::Column::OrderId.eq(ppc))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let ppc_eval = Evaluation::find()
        .filter(evaluation::Column::ReportId.eq(ppc_report.id))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    // Measures answering only the commission's findings.
    let (_, meti_measures) = findings_and_measures_of(db, meti).await;
    let links = MeasureFinding::find().all(db).await.unwrap();
    let ppc_only: Vec<i64> = links
        .iter()
        .map(|l| l.measure_id)
        .filter(|m| !meti_measures.contains(m))
        .collect();

    // The same probes over HTTP POST, over GET and over WebSocket.
    let ws = crate::live::ws_connect(&app.address, &evaluator).await;
    for mut via in [Via::Http, Via::Get, Via::Ws(Box::new(ws), 0)] {
        // node / nodes on each of its objects: exactly as an unknown ID.
        let mut probes = vec![
            encode("Order", ppc).0,
            encode("Report", ppc_report.id).0,
            encode("Evaluation", ppc_eval.id).0,
        ];
        probes.extend(ppc_findings.iter().map(|f| encode("Finding", f.id).0));
        probes.extend(ppc_only.iter().map(|m| encode("Measure", *m).0));
        for id in &probes {
            let body = via
                .body(
                    &app,
                    &evaluator,
                    "query($id: ID!) { node(id: $id) { id } }",
                    json!({"id": id}),
                )
                .await;
            assert_eq!(error_codes(&body), ["NOT_FOUND"], "{id}: {body}");
            assert_eq!(body["errors"][0]["message"], "node not found");
        }
        let body = via
            .body(
                &app,
                &evaluator,
                &format!(
                    "{{ nodes(ids: {}) {{ id }} }}",
                    serde_json::to_string(&probes).unwrap()
                ),
                json!({}),
            )
            .await;
        let nodes = body["data"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), probes.len());
        assert!(nodes.iter().all(Value::is_null));
        // Each entry's error is the unknown ID's: NOT_FOUND, "node not found", at its index.
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), probes.len(), "{body}");
        for (i, e) in errors.iter().enumerate() {
            assert_eq!(e["extensions"]["code"], "NOT_FOUND");
            assert_eq!(e["message"], "node not found");
            assert!(
                errors.iter().any(|e| e["path"] == json!(["nodes", i])),
                "{body}"
            );
        }

        // Lists, filters and counts.
        let ppc_gid = encode("Order", ppc).0;
        let q = format!(
            "{{ orders {{ totalCount nodes {{ reference }} }} \
               m: measures(filter: {{orderId: \"{ppc_gid}\"}}) {{ totalCount }} \
               f: findings(filter: {{orderId: \"{ppc_gid}\"}}) {{ totalCount }} \
               r: reports(filter: {{orderId: \"{ppc_gid}\"}}) {{ totalCount }} \
               allReports: reports {{ nodes {{ code order {{ reference }} }} }} \
               up: upcomingReports(withinDays: 3660) {{ nodes {{ order {{ reference }} }} }} \
               ev: evidence(first: 100) {{ nodes {{ measure {{ findings {{ nodes {{ order {{ reference }} }} }} }} }} }} \
               progress(asOf: \"2022-11-29\") {{ orders {{ order {{ reference }} }} regulators {{ regulator {{ code }} }} }} \
               regulators {{ nodes {{ code orders {{ nodes {{ reference }} }} }} }} \
               measures(first: 100) {{ totalCount nodes {{ findings {{ nodes {{ order {{ reference }} }} }} }} }} }}"
        );
        let data = via.ok(&app, &evaluator, &q).await;
        assert_eq!(data["orders"]["totalCount"], 1);
        assert_eq!(data["m"]["totalCount"], 0);
        assert_eq!(data["f"]["totalCount"], 0);
        assert_eq!(data["r"]["totalCount"], 0);
        let text = data.to_string();
        assert!(
            !text.contains("PPC-2022-07-13"),
            "the ungranted order leaked: {text}"
        );
        assert!(
            !text.contains("\"PPC\""),
            "the ungranted regulator leaked: {text}"
        );
        assert_eq!(
            data["measures"]["totalCount"].as_u64().unwrap() as usize,
            meti_measures.len()
        );
        // Systems and owners reach measures of the granted order only.
        let data = via
            .ok(&app, &evaluator, "{ systems(first: 20) { nodes { measures(first: 50) { nodes { id findings(first: 10) { nodes { order { reference } } } } } evidence(first: 20) { totalCount } } } owners(first: 20) { nodes { parent { code } measures(first: 50) { nodes { findings(first: 10) { nodes { order { reference } } } } } } } }")
            .await;
        assert!(!data.to_string().contains("PPC-2022-07-13"));
        // The audit log and token administration are closed to it; contact data too.
        let body = via
            .body(
                &app,
                &evaluator,
                "{ owners { nodes { contact } } }",
                json!({}),
            )
            .await;
        assert!(error_codes(&body).contains(&"FORBIDDEN".to_string()));
    }
}

/// Where a test's queries travel: HTTP POST, or one open WebSocket (graphql-transport-ws).
enum Via {
    Http,
    Get,
    Ws(Box<crate::live::Ws>, usize),
}

impl Via {
    /// The response body of a query (`{data, errors}`), as the transport delivers it.
    async fn body(&mut self, app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
        match self {
            Via::Http => app.graphql_as(Some(token), query, variables).await.1,
            Via::Get => {
                let variables = variables.to_string();
                let params = [("query", query), ("variables", variables.as_str())];
                crate::conformance::get(app, Some(token), &params, None)
                    .await
                    .2
            }
            Via::Ws(ws, n) => {
                *n += 1;
                crate::seams::ws_op(ws, &format!("probe-{n}"), query, variables).await
            }
        }
    }

    /// The data of a query that must succeed.
    async fn ok(&mut self, app: &TestApp, token: &str, query: &str) -> Value {
        let body = self.body(app, token, query, json!({})).await;
        assert!(body.get("errors").is_none(), "errors for {query}: {body}");
        body["data"].clone()
    }
}

#[tokio::test]
async fn nested_page_costs_a_constant_number_of_statements() {
    // A batching window wide enough for a debug build to register every key of a page.
    let app = spawn_demo_app_configured(|c| c.loader_delay_ms = 300).await;
    let db = &app.db;
    // Grow the plan to well over 100 measures, each with an owner, findings and systems.
    let findings = Finding::find().all(db).await.unwrap();
    let owners = Owner::find().all(db).await.unwrap();
    let systems = System::find().all(db).await.unwrap();
    let now = Utc::now();
    for i in 0..120 {
        let m = measure::ActiveModel {
            code: Set(format!("X-{i:03}")),
            title: Set(format!("Synthetic measure {i}")),
            title_local: Set(None),
            plan: Set(None),
            status: Set(MeasureStatus::Planned),
            status_reason: Set(None),
            owner_id: Set(Some(owners[i % owners.len()].id)),
            started_on: Set(None),
            due_on: Set(Some(date("2030-01-01"))),
            completed_on: Set(None),
            recurrence: Set(Recurrence::None),
            next_due_on: Set(None),
            note: Set(None),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        for f in [
            &findings[i % findings.len()],
            &findings[(i + 3) % findings.len()],
        ] {
            measure_finding::ActiveModel {
                measure_id: Set(m.id),
                finding_id: Set(f.id),
                created_at: Set(now),
            }
            .insert(db)
            .await
            .unwrap();
        }
        measure_system::ActiveModel {
            measure_id: Set(m.id),
            system_id: Set(systems[i % systems.len()].id),
            created_at: Set(now),
        }
        .insert(db)
        .await
        .unwrap();
    }
    let nested = "query($n: Int) { orders(first: 2) { nodes { reference findings(first: 20) { nodes { number measures(first: $n) { nodes { code owner { name } evidenceCount systems(first: 5) { nodes { code } } } } } } } } \
                  measures(first: $n) { nodes { code owner { name } evidenceCount systems(first: 5) { nodes { code } } findings(first: 5) { nodes { number order { reference } } } } } }";
    let mut counts = Vec::new();
    for n in [10, 100] {
        let before = app.statements.load(Ordering::SeqCst);
        let data = app.query_ok(nested, json!({"n": n})).await;
        let after = app.statements.load(Ordering::SeqCst);
        assert_eq!(
            data["measures"]["nodes"].as_array().unwrap().len(),
            n as usize
        );
        counts.push(after - before);
    }
    assert_eq!(
        counts[0], counts[1],
        "statements for a page of 10 vs 100: {counts:?}"
    );
    assert!(counts[0] <= 30, "{counts:?}");
}

/// The README's quick-start dashboard (regulators, their orders, each order's progress today
/// and as of a date) and a timeline on every order cost the same statements for 2 orders as
/// for 12: progress is computed once per date for the whole page, timelines in one batch.
#[tokio::test]
async fn dashboards_cost_a_constant_number_of_statements_whatever_the_number_of_orders() {
    let app = spawn_demo_app_configured(|c| c.loader_delay_ms = 300).await;
    let dashboard = "query($d: NaiveDate) { regulators { nodes { code orders { nodes { reference \
        asOf: progress(asOf: $d) { total implemented overdue percentImplemented } \
        today: progress { total overdue } \
        timeline(first: 40) { totalCount nodes { kind summary } } } } } } }";
    async fn count(app: &TestApp, query: &str) -> (u64, Value) {
        let before = app.statements.load(Ordering::SeqCst);
        // As of today: the synthetic orders, recorded now, exist only from today on.
        let today = chrono::Utc::now().date_naive().to_string();
        let data = app.query_ok(query, json!({ "d": today })).await;
        (app.statements.load(Ordering::SeqCst) - before, data)
    }
    let (small, data) = count(&app, dashboard).await;
    let orders = |data: &Value| -> Vec<Value> {
        data["regulators"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["orders"]["nodes"].as_array().unwrap().clone())
            .collect()
    };
    assert_eq!(orders(&data).len(), 2);
    let meti = orders(&data)
        .into_iter()
        .find(|o| o["reference"] == "METI-2022-06-30")
        .unwrap();
    let regulator = app
        .query_ok("{ regulators { nodes { id code } } }", json!({}))
        .await["regulators"]["nodes"][0]["id"]
        .clone();
    for i in 0..10 {
        let order = app
            .query_ok(
                "mutation($r: ID!, $ref: String!) { createOrder(input: {regulatorId: $r, kind: OTHER, reference: $ref, title: \"Synthetic order\", issuedOn: \"2022-08-01\"}) { id } }",
                json!({ "r": regulator, "ref": format!("SYN-{i:02}") }),
            )
            .await["createOrder"]["id"]
            .clone();
        let finding = app
            .query_ok(
                "mutation($o: ID!) { createFinding(input: {orderId: $o, category: TECHNICAL, number: \"1\", title: \"t\", facts: \"f\", directive: \"d\"}) { id } }",
                json!({ "o": order }),
            )
            .await["createFinding"]["id"]
            .clone();
        app.query_ok(
            "mutation($f: ID!, $c: String!) { createMeasure(input: {code: $c, title: \"t\", dueOn: \"2022-10-01\", findingIds: [$f]}) { id } }",
            json!({ "f": finding, "c": format!("SYN-M-{i:02}") }),
        )
        .await;
    }
    let (large, data) = count(&app, dashboard).await;
    let all = orders(&data);
    assert_eq!(all.len(), 12);
    for o in &all {
        assert!(o["asOf"].is_object() && o["today"].is_object(), "{o}");
        assert!(o["timeline"]["totalCount"].as_u64().unwrap() >= 1, "{o}");
    }
    let synthetic = all.iter().find(|o| o["reference"] == "SYN-03").unwrap();
    assert_eq!(synthetic["asOf"]["total"], 1, "{synthetic}");
    assert_eq!(synthetic["asOf"]["overdue"], 1, "{synthetic}");
    // The demo order's figures did not change with the others added.
    let meti_after = all
        .iter()
        .find(|o| o["reference"] == "METI-2022-06-30")
        .unwrap();
    assert_eq!(meti_after["asOf"], meti["asOf"]);
    assert_eq!(meti_after["timeline"], meti["timeline"]);
    assert_eq!(
        small, large,
        "statements for the dashboard with 2 orders vs 12: {small} vs {large}"
    );
}

/// graphql-js's `getIntrospectionQuery()` (what GraphiQL, codegen and schema tools send; it
/// nests `ofType` nine deep) is answered with the default limits: introspection subtrees do
/// not count towards the depth limit. Switched off, introspection is still refused.
#[tokio::test]
async fn the_standard_introspection_query_is_answered() {
    const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name } types { ...FullType } directives { name description locations args { ...InputValue } } } }
      fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
      fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
      fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } }";
    let app = spawn_demo_app().await;
    let viewer = app.token(remedy::auth::Role::Viewer, &[]).await;
    let data = app.query_ok_as(&viewer, INTROSPECTION).await;
    let types = data["__schema"]["types"].as_array().unwrap();
    let measure = types
        .iter()
        .find(|t| t["name"] == "Measure")
        .expect("Measure");
    assert!(
        measure["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "dueOn"),
        "{measure}"
    );
    assert_eq!(data["__schema"]["subscriptionType"]["name"], "Subscription");
    // A deep query hidden beside introspection is still refused.
    let (status, body) = app
        .graphql(
            "{ __typename measures(first: 1) { nodes { findings(first: 1) { nodes { measures(first: 1) { nodes { findings(first: 1) { nodes { measures(first: 1) { nodes { findings(first: 1) { nodes { order { regulator { code } } } } } } } } } } } } } } __schema { queryType { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body), ["QUERY_TOO_DEEP"], "{body}");
    let closed = spawn_demo_app_configured(|c| c.introspection = false).await;
    let (_, body) = closed.graphql(INTROSPECTION, json!({})).await;
    // Nothing of the schema is disclosed.
    assert!(body["data"]["__schema"].is_null(), "{body}");
    assert!(!body.to_string().contains("Measure"), "{body}");
}

#[tokio::test]
async fn depth_and_complexity_limits_name_the_limit() {
    let app = spawn_demo_app().await;
    let deep = "{ measures(first: 1) { nodes { findings(first: 1) { nodes { measures(first: 1) { nodes { findings(first: 1) { nodes { measures(first: 1) { nodes { findings(first: 1) { nodes { order { regulator { code } } } } } } } } } } } } } } }";
    let (status, body) = app.graphql(deep, json!({})).await;
    // Refused before validation, like the other document limits.
    assert_eq!(status, 400);
    assert_eq!(error_codes(&body), ["QUERY_TOO_DEEP"], "{body}");
    let msg = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("limit is 12"), "{body}");
    let wide = "{ measures(first: 100) { nodes { findings(first: 100) { nodes { measures(first: 100) { nodes { code title } } } } } } }";
    let (_, body) = app.graphql(wide, json!({})).await;
    assert_eq!(error_codes(&body), ["QUERY_TOO_COMPLEX"], "{body}");
    let msg = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("limit is 100000"), "{body}");
    assert!(body["data"].is_null());
    // Bad documents and variables are VALIDATION errors (a document that does not parse:
    // GRAPHQL_PARSE_FAILED), never a 500.
    for (q, vars, code) in [
        (
            "{ measures { nodes { noSuchField } } }",
            json!({}),
            "VALIDATION",
        ),
        ("{ measures(", json!({}), "GRAPHQL_PARSE_FAILED"),
        (
            "query($d: NaiveDate) { progress(asOf: $d) { total } }",
            json!({"d": "29/11/2022"}),
            "VALIDATION",
        ),
        (
            "query($n: Int) { measures(first: $n) { totalCount } }",
            json!({"n": "ten"}),
            "VALIDATION",
        ),
    ] {
        let (status, body) = app.graphql(q, vars).await;
        assert_eq!(status, 200, "{q}: {body}");
        assert!(
            error_codes(&body).iter().all(|c| c == code) && !error_codes(&body).is_empty(),
            "{q}: {body}"
        );
    }
}

/// How many measures a filter selects (as ADMIN): the list path, independent of the rollup.
async fn filtered(app: &TestApp, filter: Value) -> u64 {
    app.query_ok(
        "query($f: MeasureFilter) { measures(filter: $f) { totalCount } }",
        json!({ "f": filter }),
    )
    .await["measures"]["totalCount"]
        .as_u64()
        .unwrap()
}

const STATUSES: [&str; 6] = [
    "PLANNED",
    "IN_PROGRESS",
    "IMPLEMENTED",
    "VERIFIED",
    "DEFERRED",
    "CANCELLED",
];

const FIGURES: &str = "total planned inProgress implemented verified deferred cancelled overdue";

/// Checks one group's figures against the measure filters narrowed by `base`.
async fn assert_group(app: &TestApp, figures: &Value, base: Value, what: &str) {
    let with = |extra: Value| {
        let mut f = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            f[k] = v.clone();
        }
        f
    };
    assert_eq!(
        figures["total"],
        filtered(app, base.clone()).await,
        "{what}: total"
    );
    assert_eq!(
        figures["overdue"],
        filtered(app, with(json!({"overdue": true}))).await,
        "{what}: overdue"
    );
    let fields = [
        "planned",
        "inProgress",
        "implemented",
        "verified",
        "deferred",
        "cancelled",
    ];
    for (status, field) in STATUSES.iter().zip(fields) {
        assert_eq!(
            figures[field],
            filtered(app, with(json!({ "status": [status] }))).await,
            "{what}: {field}"
        );
    }
}

#[tokio::test]
async fn todays_rollup_agrees_with_the_measure_filters_at_every_level() {
    // Deferred and cancelled directly (approvals off): the figures are the point here.
    let app = spawn_demo_app_configured(|c| c.approvals = false).await;
    // Move measures so that every status and both kinds of lateness occur today.
    let planned = Measure::find()
        .filter(measure::Column::Status.is_in([MeasureStatus::Planned, MeasureStatus::InProgress]))
        .order_by_asc(measure::Column::Code)
        .all(&app.db)
        .await
        .unwrap();
    for (i, target) in [(0usize, "DEFERRED"), (1, "CANCELLED")] {
        let x = &planned[i];
        app.query_ok(
            "mutation($id: ID!, $v: Int!, $s: MeasureStatus!) { transitionMeasure(input: {id: $id, version: $v, to: $s, reason: \"test\"}) { status } }",
            json!({"id": encode("Measure", x.id), "v": x.version, "s": target}),
        )
        .await;
    }
    // And one measure answering every finding of the commission's order, so that it falls
    // in the order (and its categories) several times over and must be counted once.
    let ppc = order_id(&app, "PPC-2022-07-13").await;
    let ppc_findings: Vec<String> = Finding::find()
        .filter(finding::Column::OrderId.eq(ppc))
        .all(&app.db)
        .await
        .unwrap()
        .iter()
        .map(|f| encode("Finding", f.id).to_string())
        .collect();
    let x = Measure::find_by_id(planned[2].id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    app.query_ok(
        "mutation($m: ID!, $v: Int!, $f: [ID!]!) { linkMeasure(input: {measureId: $m, version: $v, findingIds: $f}) { version } }",
        json!({"m": encode("Measure", x.id), "v": x.version, "f": ppc_findings}),
    )
    .await;
    let q = format!(
        "{{ progress {{ {FIGURES} \
           regulators {{ regulator {{ id }} {FIGURES} }} \
           orders {{ order {{ id reference }} findings {FIGURES} categories {{ category findings {FIGURES} }} }} \
           categories {{ category findings {FIGURES} }} }} }}"
    );
    let p = app.query_ok(&q, json!({})).await["progress"].clone();
    // Not vacuous: late measures exist today, and some measures answer both orders, so
    // counting them once per group matters.
    assert!(p["overdue"].as_u64().unwrap() > 0, "{p}");
    assert_eq!(p["deferred"], 1);
    assert_eq!(p["cancelled"], 1);
    let orders = p["orders"].as_array().unwrap();
    let sum: u64 = orders.iter().map(|o| o["total"].as_u64().unwrap()).sum();
    assert!(sum > p["total"].as_u64().unwrap(), "{p}");

    assert_group(&app, &p, json!({}), "all").await;
    for r in p["regulators"].as_array().unwrap() {
        let id = r["regulator"]["id"].clone();
        assert_group(&app, r, json!({ "regulatorId": id }), "regulator").await;
    }
    for o in orders {
        let id = o["order"]["id"].clone();
        assert_group(&app, o, json!({ "orderId": id }), "order").await;
        // The filters combine orderId and category with AND over different findings, so a
        // category of one order is counted here from the rows themselves.
        let raw = order_id(&app, o["order"]["reference"].as_str().unwrap()).await;
        for c in o["categories"].as_array().unwrap() {
            let category: FindingCategory = c["category"].as_str().unwrap().parse().unwrap();
            let findings: BTreeSet<i64> = Finding::find()
                .filter(finding::Column::OrderId.eq(raw))
                .filter(finding::Column::Category.eq(category))
                .all(&app.db)
                .await
                .unwrap()
                .iter()
                .map(|f| f.id)
                .collect();
            let linked: BTreeSet<i64> = MeasureFinding::find()
                .filter(measure_finding::Column::FindingId.is_in(findings))
                .all(&app.db)
                .await
                .unwrap()
                .iter()
                .map(|l| l.measure_id)
                .collect();
            let rows = Measure::find()
                .filter(measure::Column::Id.is_in(linked))
                .all(&app.db)
                .await
                .unwrap();
            let today = Utc::now().date_naive();
            assert_eq!(c["total"], rows.len() as u64, "{category}: total");
            assert_eq!(
                c["overdue"],
                rows.iter().filter(|m| is_overdue(m, today)).count() as u64,
                "{category}: overdue"
            );
            for (status, field) in STATUSES.iter().zip([
                "planned",
                "inProgress",
                "implemented",
                "verified",
                "deferred",
                "cancelled",
            ]) {
                let n = rows.iter().filter(|m| m.status.as_str() == *status).count() as u64;
                assert_eq!(c[field], n, "{category}: {field}");
            }
        }
        // An order's own progress field gives the same figures.
        let one = app
            .query_ok(
                &format!("query($id: ID!) {{ node(id: $id) {{ ... on Order {{ progress {{ {FIGURES} }} }} }} }}"),
                json!({ "id": id }),
            )
            .await["node"]["progress"]
            .clone();
        for f in FIGURES.split(' ') {
            assert_eq!(one[f], o[f], "Order.progress {f}");
        }
    }
    for c in p["categories"].as_array().unwrap() {
        assert_group(&app, c, json!({ "category": c["category"] }), "category").await;
    }

    // An evaluator granted one order sees that order's figures as its whole dashboard.
    let meti_id = json!(encode("Order", order_id(&app, "METI-2022-06-30").await));
    let meti = p["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["order"]["id"] == meti_id)
        .unwrap()
        .clone();
    let evaluator = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let seen = app
        .query_ok_as(
            &evaluator,
            &format!("{{ progress {{ {FIGURES} orders {{ order {{ id }} }} }} }}"),
        )
        .await["progress"]
        .clone();
    assert_eq!(seen["orders"].as_array().unwrap().len(), 1);
    for f in FIGURES.split(' ') {
        assert_eq!(seen[f], meti[f], "evaluator's {f}");
    }
}
