//! Reads as of a date on a plan of benchmark size (PostgreSQL only): the benchmark's own
//! generator (`bench/gen.sql`, with its history) writes a plan of 72,000 measures, and every
//! root that takes `asOf` answers as of a past date within the request timeout, without
//! errors, with figures equal to those computed here straight from the history tables.
use std::time::Instant;

use remedy::id::encode;
use sea_orm::{ConnectionTrait, DatabaseBackend, QueryResult, Statement};
use serde_json::{json, Value};

use crate::helpers::*;

/// The benchmark's scale here: 72,000 measures (and every other count scaled alike).
const SCALE: f64 = 0.72;
/// The past date read; the generated plan's due-date moves, starts and completions fall on
/// both sides of it.
const AS_OF: &str = "2025-12-31";
/// The first instant after it.
const END: &str = "TIMESTAMPTZ '2026-01-01 00:00:00+00'";

/// `bench/gen.sql` with the numbers of `scale` in place of its psql variables, and without
/// its psql meta-commands, to run through a connection.
fn generator(scale: f64) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/gen.sql"))
        .expect("bench/gen.sql");
    let n = |d: f64| ((d * scale).round() as i64).max(1).to_string();
    let vars = [
        ("regs", n(20.0)),
        ("orders", n(400.0)),
        ("findings", n(8000.0)),
        ("measures", n(100000.0)),
        ("evidence", n(200000.0)),
        ("owners", n(1000.0)),
        ("reports", n(500.0)),
        ("systems", n(50.0)),
    ];
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.trim_start().starts_with('\\') {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find(':') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let prev_colon = rest[..i].ends_with(':') || after.starts_with(':');
            let name_len = after.find(|c: char| !ident(c)).unwrap_or(after.len());
            match vars.iter().find(|(v, _)| *v == &after[..name_len]) {
                Some((_, value)) if !prev_colon => {
                    out.push_str(value);
                    rest = &after[name_len..];
                }
                _ => {
                    out.push(':');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// The test's own figures, computed by hand-written SQL: without the pool's statement timeout
/// (REMEDY_DB_STATEMENT_TIMEOUT_SECONDS binds the server's statements, not this check, which
/// may run long on a loaded machine).
async fn rows(app: &TestApp, sql: String) -> Vec<QueryResult> {
    use sea_orm::TransactionTrait;
    let txn = app.db.begin().await.expect("begin");
    txn.execute_unprepared("SET LOCAL statement_timeout = 0")
        .await
        .expect("no timeout for the check");
    let out = txn
        .query_all(Statement::from_string(DatabaseBackend::Postgres, sql))
        .await
        .expect("expected figures");
    txn.commit().await.expect("commit");
    out
}

fn int(r: &QueryResult, col: &str) -> i64 {
    r.try_get::<i64>("", col).unwrap()
}

/// The versions of `table` standing at the end of `AS_OF`, written independently of remedy's
/// anti-join (`DISTINCT ON`).
fn standing(table: &str) -> String {
    format!(
        "SELECT DISTINCT ON (id) * FROM {table}_history WHERE valid_from < {END} \
         ORDER BY id, valid_from DESC, history_id DESC"
    )
}

/// `x`: every (measure, order) the dashboards count as of `AS_OF`, with the measure's status
/// then (from the dates of its latest known version, deferrals and cancellations from the
/// version standing) and whether it was late then.
fn expected_measures() -> String {
    let d = format!("DATE '{AS_OF}'");
    format!(
        "WITH v AS ({v}), k AS (SELECT DISTINCT ON (id) * FROM measure_history \
         ORDER BY id, valid_from DESC, history_id DESC), \
         o AS ({o}), f AS ({f}), \
         s AS (SELECT v.id, v.code, v.due_on, v.next_due_on, v.recurrence, v.history_id, \
               CASE WHEN k.completed_on IS NOT NULL AND k.completed_on <= {d} \
                      THEN CASE WHEN k.status = 'VERIFIED' THEN 'VERIFIED' ELSE 'IMPLEMENTED' END \
                    WHEN v.status IN ('DEFERRED', 'CANCELLED') THEN v.status \
                    WHEN k.started_on IS NOT NULL AND k.started_on <= {d} THEN 'IN_PROGRESS' \
                    WHEN k.completed_on IS NULL AND k.started_on IS NULL AND k.status = 'IN_PROGRESS' \
                      THEN 'IN_PROGRESS' \
                    ELSE 'PLANNED' END AS status \
               FROM v JOIN k ON k.id = v.id WHERE v.archived_at IS NULL), \
         l AS (SELECT s.*, (s.status IN ('PLANNED', 'IN_PROGRESS') AND s.due_on < {d}) \
               OR (s.recurrence <> 'NONE' AND s.status NOT IN ('CANCELLED', 'DEFERRED') \
                   AND s.next_due_on < {d}) AS late FROM s), \
         x AS (SELECT DISTINCT l.*, o.id AS order_id FROM l \
               JOIN measure_finding_history mf ON mf.measure_history_id = l.history_id \
               JOIN f ON f.id = mf.finding_id AND f.archived_at IS NULL \
               JOIN o ON o.id = f.order_id AND o.archived_at IS NULL AND o.issued_on <= {d}) ",
        v = standing("measure"),
        o = standing("regulatory_order"),
        f = standing("finding"),
    )
}

/// Figures over `x` (grouped by `group` when given).
fn figures_sql(group: Option<&str>) -> String {
    let slipped = format!(
        "count(DISTINCT id) FILTER (WHERE EXISTS (SELECT 1 FROM measure_history a \
         JOIN measure_history b ON b.id = a.id AND (b.valid_from, b.history_id) > (a.valid_from, a.history_id) \
         WHERE a.id = x.id AND b.due_on > a.due_on AND a.valid_from < {END} AND b.valid_from < {END}))"
    );
    let count = |s: &str| format!("count(DISTINCT id) FILTER (WHERE status = '{s}')");
    format!(
        "{} SELECT {} count(DISTINCT id) AS total, {} AS planned, {} AS in_progress, \
         {} AS implemented, {} AS verified, {} AS deferred, {} AS cancelled, \
         count(DISTINCT id) FILTER (WHERE late) AS overdue, {slipped} AS slipped FROM x {}",
        expected_measures(),
        group.map(|g| format!("{g},")).unwrap_or_default(),
        count("PLANNED"),
        count("IN_PROGRESS"),
        count("IMPLEMENTED"),
        count("VERIFIED"),
        count("DEFERRED"),
        count("CANCELLED"),
        group.map(|g| format!("GROUP BY {g}")).unwrap_or_default(),
    )
}

/// A request as ADMIN that must answer 200 without errors; returns `data` and logs its time.
async fn ask(app: &TestApp, what: &str, query: &str) -> Value {
    let t = Instant::now();
    let (status, body) = app.graphql(query, json!({})).await;
    eprintln!("{what}: {} ms", t.elapsed().as_millis());
    assert_eq!(status, 200, "{what}: {body}");
    assert!(body.get("errors").is_none(), "{what}: {body}");
    body["data"].clone()
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("a number: {v}"))
}

#[tokio::test]
#[ignore = "PostgreSQL only: runs with REMEDY_TEST_DATABASE_URL set and -- --include-ignored"]
async fn every_as_of_root_answers_on_a_plan_of_72000_measures() {
    postgres_only();
    let started = Instant::now();
    let app = spawn_app().await;
    app.db
        .execute_unprepared(&generator(SCALE))
        .await
        .expect("bench/gen.sql");
    eprintln!("generated in {} ms", started.elapsed().as_millis());
    let measures = int(
        &rows(&app, "SELECT count(*) AS n FROM measure".into()).await[0],
        "n",
    );
    assert!(measures > 70_000, "{measures} measures");

    // progress: every figure as computed from the history tables, and not today's.
    let expected = &rows(&app, figures_sql(None)).await[0];
    let p = ask(
        &app,
        "progress(asOf)",
        &format!(
            "{{ progress(asOf: \"{AS_OF}\") {{ asOf total planned inProgress implemented \
             verified deferred cancelled overdue slipped }} }}"
        ),
    )
    .await["progress"]
        .clone();
    assert_eq!(p["asOf"], AS_OF);
    for (field, col) in [
        ("total", "total"),
        ("planned", "planned"),
        ("inProgress", "in_progress"),
        ("implemented", "implemented"),
        ("verified", "verified"),
        ("deferred", "deferred"),
        ("cancelled", "cancelled"),
        ("overdue", "overdue"),
        ("slipped", "slipped"),
    ] {
        assert_eq!(n(&p[field]), int(expected, col), "progress.{field}: {p}");
    }
    assert_eq!(
        n(&p["total"]),
        measures,
        "every generated measure existed then"
    );
    let today = ask(
        &app,
        "progress (today)",
        "{ progress { implemented overdue slipped } }",
    )
    .await["progress"]
        .clone();
    assert_ne!(today["implemented"], p["implemented"], "{today} vs {p}");
    assert_ne!(today["overdue"], p["overdue"], "{today} vs {p}");
    assert!(n(&p["slipped"]) > 0 && n(&p["slipped"]) < n(&today["slipped"]));

    // overdueMeasures: the count and the first page, earliest due first.
    let page = ask(
        &app,
        "overdueMeasures(asOf, first: 20)",
        &format!(
            "{{ overdueMeasures(asOf: \"{AS_OF}\", first: 20) {{ totalCount \
             pageInfo {{ hasNextPage }} nodes {{ code dueOn status }} }} }}"
        ),
    )
    .await["overdueMeasures"]
        .clone();
    assert_eq!(n(&page["totalCount"]), int(expected, "overdue"));
    let first: Vec<String> = rows(
        &app,
        format!(
            "{} SELECT code FROM (SELECT DISTINCT id, code, due_on, next_due_on FROM x WHERE late) y \
             ORDER BY COALESCE(due_on, next_due_on) NULLS LAST, code, id LIMIT 20",
            expected_measures()
        ),
    )
    .await
    .iter()
    .map(|r| r.try_get::<String>("", "code").unwrap())
    .collect();
    let got: Vec<String> = page["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, first);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);

    // measures, findings, reports, orders: counts of the versions standing.
    let count = |t: &str| {
        format!(
            "SELECT count(*) AS n FROM ({}) v WHERE archived_at IS NULL",
            standing(t)
        )
    };
    let m = ask(
        &app,
        "measures(asOf, first: 20)",
        &format!(
            "{{ measures(asOf: \"{AS_OF}\", first: 20) {{ totalCount nodes {{ id code dueOn status \
             originalDueOn dueDateChanges {{ from to }} owner {{ name }} findings {{ nodes {{ number }} }} }} }} }}"
        ),
    )
    .await["measures"]
        .clone();
    assert_eq!(
        n(&m["totalCount"]),
        int(&rows(&app, count("measure")).await[0], "n")
    );
    assert_eq!(m["nodes"].as_array().unwrap().len(), 20);
    let f = ask(
        &app,
        "findings(asOf, first: 20)",
        &format!(
            "{{ findings(asOf: \"{AS_OF}\", first: 20) {{ totalCount nodes {{ number \
             measures(first: 5) {{ nodes {{ code status }} }} }} }} }}"
        ),
    )
    .await["findings"]
        .clone();
    assert_eq!(
        n(&f["totalCount"]),
        int(&rows(&app, count("finding")).await[0], "n")
    );
    let r = ask(
        &app,
        "reports(asOf, first: 20)",
        &format!(
            "{{ reports(asOf: \"{AS_OF}\", first: 20) {{ totalCount nodes {{ code status \
             measures(first: 5) {{ nodes {{ code }} }} }} }} }}"
        ),
    )
    .await["reports"]
        .clone();
    assert_eq!(
        n(&r["totalCount"]),
        int(&rows(&app, count("report")).await[0], "n")
    );
    let o = ask(
        &app,
        "orders(asOf)",
        &format!(
            "{{ orders(asOf: \"{AS_OF}\") {{ totalCount nodes {{ id reference \
             progress {{ total overdue slipped }} }} }} }}"
        ),
    )
    .await["orders"]
        .clone();
    assert_eq!(
        n(&o["totalCount"]),
        int(&rows(&app, count("regulatory_order")).await[0], "n")
    );

    // Per order, as of the date: the figures of each order of the page and of the dashboard.
    let per_order: std::collections::HashMap<i64, (i64, i64, i64)> =
        rows(&app, figures_sql(Some("order_id")))
            .await
            .iter()
            .map(|r| {
                (
                    int(r, "order_id"),
                    (int(r, "total"), int(r, "overdue"), int(r, "slipped")),
                )
            })
            .collect();
    let order_of = |reference: &str| -> i64 {
        reference
            .trim_start_matches("BENCH-ORD-")
            .parse()
            .expect("a generated reference")
    };
    for node in o["nodes"].as_array().unwrap() {
        let id = order_of(node["reference"].as_str().unwrap());
        let p = &node["progress"];
        assert_eq!(
            (n(&p["total"]), n(&p["overdue"]), n(&p["slipped"])),
            per_order[&id],
            "{node}"
        );
    }

    // node / nodes: a measure whose due date moved after the date answers the earlier one.
    let moved = rows(
        &app,
        format!(
            "SELECT v.id, CAST(v.due_on AS TEXT) AS due FROM ({}) v JOIN measure m ON m.id = v.id \
             WHERE v.due_on <> m.due_on ORDER BY v.id LIMIT 2",
            standing("measure")
        ),
    )
    .await;
    assert_eq!(
        moved.len(),
        2,
        "the generated plan moves due dates after {AS_OF}"
    );
    let (a, b) = (int(&moved[0], "id"), int(&moved[1], "id"));
    let due = |i: usize| moved[i].try_get::<String>("", "due").unwrap();
    let node = ask(
        &app,
        "node(asOf)",
        &format!(
            "{{ node(id: \"{}\", asOf: \"{AS_OF}\") {{ ... on Measure {{ dueOn originalDueOn }} }} }}",
            encode("Measure", a).0
        ),
    )
    .await;
    assert_eq!(node["node"]["dueOn"], due(0));
    let nodes = ask(
        &app,
        "nodes(asOf)",
        &format!(
            "{{ nodes(ids: [\"{}\", \"{}\", \"{}\"], asOf: \"{AS_OF}\") {{ id \
             ... on Measure {{ dueOn }} ... on Order {{ reference }} }} }}",
            encode("Measure", a).0,
            encode("Measure", b).0,
            encode("Order", 1).0
        ),
    )
    .await;
    assert_eq!(nodes["nodes"][0]["dueOn"], due(0));
    assert_eq!(nodes["nodes"][1]["dueOn"], due(1));
    assert_eq!(nodes["nodes"][2]["reference"], "BENCH-ORD-00001");

    // One order: its progress and timeline as of the date, and its regulator report.
    let order = encode("Order", 1).0;
    let one = ask(
        &app,
        "Order.progress(asOf), Order.timeline(asOf)",
        &format!(
            "{{ node(id: \"{order}\") {{ ... on Order {{ progress(asOf: \"{AS_OF}\") {{ total overdue slipped }} \
             timeline(asOf: \"{AS_OF}\", first: 100) {{ totalCount nodes {{ on kind }} }} }} }} }}"
        ),
    )
    .await["node"]
        .clone();
    let p = &one["progress"];
    assert_eq!(
        (n(&p["total"]), n(&p["overdue"]), n(&p["slipped"])),
        per_order[&1]
    );
    let entries = one["timeline"]["nodes"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries.iter().all(|e| e["on"].as_str().unwrap() <= AS_OF),
        "{entries:?}"
    );
    let report = ask(
        &app,
        "regulatorReport(asOf)",
        &format!(
            "{{ regulatorReport(orderId: \"{order}\", asOf: \"{AS_OF}\", format: JSON) \
             {{ filename content sha256 }} }}"
        ),
    )
    .await["regulatorReport"]
        .clone();
    assert_eq!(report["filename"], format!("BENCH-ORD-00001_{AS_OF}.json"));
    let content: Value = serde_json::from_str(report["content"].as_str().unwrap()).unwrap();
    assert!(content.is_object());

    // The README's dashboard with the past date: every order's figures.
    let dash = ask(
        &app,
        "README dashboard (asOf)",
        &format!(
            "{{ regulators {{ nodes {{ code nameLocal orders {{ nodes {{ reference title status \
             progress(asOf: \"{AS_OF}\") {{ total implemented verified inProgress overdue percentImplemented }} }} }} }} }} }}"
        ),
    )
    .await;
    let mut seen = 0;
    for reg in dash["regulators"]["nodes"].as_array().unwrap() {
        for node in reg["orders"]["nodes"].as_array().unwrap() {
            let id = order_of(node["reference"].as_str().unwrap());
            let p = &node["progress"];
            assert_eq!(
                (n(&p["total"]), n(&p["overdue"])),
                (per_order[&id].0, per_order[&id].1),
                "{node}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 200, "{seen} orders on the dashboard");
    eprintln!("whole test: {} ms", started.elapsed().as_millis());
}
