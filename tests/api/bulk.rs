//! Bulk rendering of measure lists (`api/src/graphql/fast.rs`): every answer equals the one
//! the generic executor gives (a twin server on the same database with
//! `REMEDY_BULK_RENDER=false`), and the path each list took is the one the rules say, read
//! from `remedy_measure_lists_total{path}`.
use remedy::auth::Role;
use serde_json::{json, Value};

use crate::helpers::*;

/// The value of `remedy_measure_lists_total{path="<path>"}` (0 when not yet exposed).
fn lists(metrics: &str, path: &str) -> u64 {
    let prefix = format!("remedy_measure_lists_total{{path=\"{path}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().expect("a counter value"))
}

/// A body with its errors in a stable order (the executor resolves siblings concurrently, so
/// errors of several list items may come in any order).
fn normalised(mut body: Value) -> Value {
    if let Some(errors) = body.get_mut("errors").and_then(Value::as_array_mut) {
        errors.sort_by_key(|e| e.to_string());
    }
    body
}

/// How many measures (objects with a `code` starting `M-`) a body holds.
fn measures_in(v: &Value) -> usize {
    match v {
        Value::Object(map) => {
            let own = map
                .get("code")
                .or_else(|| map.get("c"))
                .and_then(Value::as_str)
                .is_some_and(|c| c.starts_with("M-")) as usize;
            own + map.values().map(measures_in).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(measures_in).sum(),
        _ => 0,
    }
}

/// The evaluator access records so far, as a multiset of (order, operation).
#[derive(Clone, Debug, Default, PartialEq)]
struct Trail(std::collections::BTreeMap<(String, String), i64>);

impl Trail {
    fn is_empty(&self) -> bool {
        self.0.values().all(|n| *n == 0)
    }
}

impl std::ops::Sub for Trail {
    type Output = Trail;
    fn sub(mut self, other: Trail) -> Trail {
        for (k, n) in other.0 {
            *self.0.entry(k).or_default() -= n;
        }
        self.0.retain(|_, n| *n != 0);
        self
    }
}

async fn access_records(app: &TestApp) -> Trail {
    let mut out = Trail::default();
    let mut after: Option<String> = None;
    loop {
        let d = app
            .query_ok(
                "query($a: String) { accessLog(first: 100, after: $a) { pageInfo { hasNextPage endCursor }
                   nodes { orderId operation } } }",
                json!({ "a": after }),
            )
            .await;
        for r in d["accessLog"]["nodes"].as_array().unwrap() {
            let key = (
                r["orderId"].as_str().unwrap().to_string(),
                r["operation"].as_str().unwrap_or("").to_string(),
            );
            *out.0.entry(key).or_default() += 1;
        }
        if d["accessLog"]["pageInfo"]["hasNextPage"] != true {
            return out;
        }
        after = d["accessLog"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_string);
    }
}

struct Case {
    name: &'static str,
    query: &'static str,
    variables: Value,
    /// The path the lists of measures must take.
    bulk: bool,
}

const EVERY_PLAIN_FIELD: &str = "{ measures(first: 50) { totalCount pageInfo { endCursor }
    nodes { id code title titleLocal plan status statusReason startedOn dueOn completedOn
            recurrence nextDueOn overdue note version createdAt updatedAt archivedAt __typename } } }";

const NESTED_PAGING: &str = "query ($f: Int, $after: String) {
  measures(first: 40, orderBy: {field: DUE_ON, direction: DESC}) { edges { cursor node { ...M } } }
}
fragment M on Measure {
  c: code
  who: owner { id code name nameLocal kind roleTitle version __typename }
  findings(first: $f, after: $after) {
    __typename totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor __typename }
    edges { cursor __typename node { id category number title facts factsEn directive directiveEn version __typename } }
    nodes { number }
  }
  systems(last: 1) {
    nodes { id code name nameLocal kind scopeNote holdsCardData version }
    totalCount pageInfo { hasPreviousPage hasNextPage startCursor endCursor }
  }
  ... on Measure { evidenceCount }
  ... { status }
}";

const OTHER_PARENTS: &str = "{
  orderByReference(reference: \"METI-2022-06-30\") {
    findings(first: 20) { nodes { number measures(first: 5) { nodes { code status overdue } pageInfo { hasNextPage endCursor } } } }
    measures(first: 10) { nodes { code owner { name } } }
  }
  owners(first: 10) { nodes { code measures(first: 3) { nodes { code dueOn } } } }
  systems(first: 10) { nodes { code measures(first: 3) { nodes { code } } } }
  reports(first: 5) { nodes { code measures(first: 5) { nodes { code status } } } }
  overdueMeasures(first: 10) { nodes { code dueOn systems { nodes { code } } } }
}";

const OVERDUE_PAGE: &str = "query ($first: Int) { measures(filter: {overdue: true}, first: $first) {
    nodes { code owner { name } findings { nodes { number } } systems { nodes { code } } evidenceCount } } }";

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "the benchmark's overdue page",
            query: OVERDUE_PAGE,
            variables: json!({"first": 100}),
            bulk: true,
        },
        Case {
            name: "every plain field",
            query: EVERY_PLAIN_FIELD,
            variables: json!({}),
            bulk: true,
        },
        Case {
            name: "nested paging, edges, fragments, aliases, variables",
            query: NESTED_PAGING,
            // The second finding of each measure: `cursor:0` is the first one's cursor.
            variables: json!({"f": 1, "after": "Y3Vyc29yOjA"}),
            bulk: true,
        },
        Case {
            name: "nested first page",
            query: NESTED_PAGING,
            variables: json!({"f": 1, "after": null}),
            bulk: true,
        },
        Case {
            name: "lists under orders, findings, owners, systems, reports and overdueMeasures",
            query: OTHER_PARENTS,
            variables: json!({}),
            bulk: true,
        },
        Case {
            name: "@include and @skip",
            query: "query ($yes: Boolean!) { measures(first: 10) {
                nodes { code owner @include(if: $yes) { name } evidenceCount @skip(if: $yes) } } }",
            variables: json!({"yes": true}),
            bulk: true,
        },
        Case {
            name: "a field that reads the request context",
            query: "{ measures(first: 10) { nodes { code permissions { canEdit canEvaluate } } } }",
            variables: json!({}),
            bulk: false,
        },
        Case {
            name: "a guarded field",
            query: "{ measures(first: 10) { nodes { code owner { name contact } } } }",
            variables: json!({}),
            bulk: false,
        },
        Case {
            name: "a key selected twice",
            query: "{ measures(first: 10) { nodes { code owner { name } owner { code } } } }",
            variables: json!({}),
            bulk: false,
        },
        Case {
            name: "a fragment on an interface",
            query: "{ measures(first: 5) { nodes { code ... on Node { id } } } }",
            variables: json!({}),
            bulk: false,
        },
        Case {
            name: "a nested page the connection refuses",
            query: "{ measures(first: 5) { nodes { code findings(first: 1000) { nodes { number } } } } }",
            variables: json!({}),
            bulk: false,
        },
        Case {
            name: "a malformed nested cursor",
            query: "{ measures(first: 5) { nodes { code systems(after: \"nope\") { nodes { code } } } } }",
            variables: json!({}),
            bulk: false,
        },
    ]
}

#[tokio::test]
async fn measure_lists_render_in_bulk_exactly_as_the_executor_resolves_them() {
    let app = spawn_demo_app().await;
    let generic = app.twin(|c| c.bulk_render = false).await;
    let admin = app.admin_token.clone();
    let viewer = app.token(Role::Viewer, &[]).await;
    // An evaluator: the same answers, filtered to its order, and the same access records.
    let evaluator = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    for case in cases() {
        for (who, token) in [
            ("admin", &admin),
            ("viewer", &viewer),
            ("evaluator", &evaluator),
        ] {
            let trail_before = access_records(&app).await;
            let before = app.metrics_at(&app.address).await;
            let (status, bulk) = app
                .graphql_at(
                    &app.address,
                    Some(token),
                    case.query,
                    case.variables.clone(),
                )
                .await;
            let after = app.metrics_at(&app.address).await;
            let trail_bulk = access_records(&app).await - trail_before.clone();
            let (generic_status, expected) = app
                .graphql_at(&generic, Some(token), case.query, case.variables.clone())
                .await;
            let trail_generic = access_records(&app).await - trail_before - trail_bulk.clone();
            let label = format!("{} ({who})", case.name);
            assert_eq!(trail_bulk, trail_generic, "{label}: another access trail");
            if who == "evaluator" && measures_in(&expected) > 0 {
                assert!(!trail_bulk.is_empty(), "{label}: no access recorded");
            }
            assert_eq!(status, 200, "{label}: {bulk}");
            assert_eq!(generic_status, 200, "{label}: {expected}");
            assert!(
                measures_in(&expected) > 0 || expected.get("errors").is_some(),
                "{label}: the case must return measures or errors: {expected}"
            );
            assert_eq!(normalised(bulk), normalised(expected.clone()), "{label}");
            let bulk_lists = lists(&after, "bulk") - lists(&before, "bulk");
            let generic_lists = lists(&after, "generic") - lists(&before, "generic");
            if case.bulk {
                assert!(bulk_lists > 0, "{label}: no list was rendered in bulk");
                assert_eq!(generic_lists, 0, "{label}: a list took the generic path");
            } else {
                assert_eq!(bulk_lists, 0, "{label}: a list was rendered in bulk");
                assert!(generic_lists > 0, "{label}: no list was counted");
            }
        }
    }
    // The twin never renders in bulk.
    let twin = app.metrics_at(&generic).await;
    assert_eq!(lists(&twin, "bulk"), 0, "{twin}");
    assert!(lists(&twin, "generic") > 0, "{twin}");
}

#[tokio::test]
async fn scoped_callers_take_the_bulk_path_and_see_only_their_orders() {
    let app = spawn_demo_app().await;
    let generic = app.twin(|c| c.bulk_render = false).await;
    let evaluator = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let before = app.metrics_at(&app.address).await;
    let (_, scoped) = app
        .graphql_at(
            &app.address,
            Some(&evaluator),
            OVERDUE_PAGE,
            json!({"first": 100}),
        )
        .await;
    let after = app.metrics_at(&app.address).await;
    let (_, expected) = app
        .graphql_at(
            &generic,
            Some(&evaluator),
            OVERDUE_PAGE,
            json!({"first": 100}),
        )
        .await;
    assert_eq!(scoped, expected);
    assert!(scoped.get("errors").is_none(), "{scoped}");
    assert!(lists(&after, "bulk") > lists(&before, "bulk"));
    assert_eq!(lists(&after, "generic"), lists(&before, "generic"));
    // Only its order: the same page for the admin holds more measures (the PPC's order is
    // outside the evaluator's grant), and no finding of the PPC's order shows.
    let admin = app.query_ok(OVERDUE_PAGE, json!({"first": 100})).await;
    assert!(measures_in(&admin) > measures_in(&scoped["data"]));
    assert!(measures_in(&scoped["data"]) > 0);
    assert!(!scoped.to_string().contains("T3-1"), "{scoped}");
}

/// A list rendered in bulk loads only the columns its selection renders (`fast::narrow`):
/// each plain field alone, under every parent that loads narrow, answers as the generic
/// executor does over full rows; and cursors of every sort order (whose key column the
/// selection may not name) page the same.
#[tokio::test]
async fn narrow_lists_answer_each_field_as_full_rows_do() {
    let app = spawn_demo_app().await;
    let generic = app.twin(|c| c.bulk_render = false).await;
    let token = app.admin_token.clone();
    let fields = [
        "id",
        "code",
        "title",
        "titleLocal",
        "plan",
        "status",
        "statusReason",
        "startedOn",
        "dueOn",
        "completedOn",
        "recurrence",
        "nextDueOn",
        "anchorOn",
        "graceDays",
        "overdue",
        "note",
        "version",
        "createdAt",
        "updatedAt",
        "archivedAt",
        "__typename",
    ];
    let both = |query: String, variables: Value| {
        let app = &app;
        let generic = &generic;
        let token = &token;
        async move {
            let (s1, narrow) = app
                .graphql_at(&app.address, Some(token), &query, variables.clone())
                .await;
            let (s2, full) = app
                .graphql_at(generic, Some(token), &query, variables)
                .await;
            assert_eq!((s1, s2), (200, 200), "{query}: {narrow} / {full}");
            assert!(narrow.get("errors").is_none(), "{query}: {narrow}");
            assert_eq!(narrow, full, "{query}");
            narrow
        }
    };
    for f in fields {
        let query = format!(
            "{{ measures(first: 30) {{ nodes {{ {f} }} }}
               orderByReference(reference: \"METI-2022-06-30\") {{
                 findings(first: 20) {{ nodes {{ measures(first: 5) {{ nodes {{ {f} }} }} }} }} }}
               systems(first: 5) {{ nodes {{ measures(first: 3) {{ edges {{ cursor node {{ {f} }} }} }} }} }}
               reports(first: 5) {{ nodes {{ measures(first: 5) {{ totalCount nodes {{ {f} }} }} }} }} }}"
        );
        let d = both(query, json!({})).await;
        assert_eq!(
            d["data"]["measures"]["nodes"].as_array().map(Vec::len),
            Some(30),
            "{f}: {d}"
        );
    }
    // Every sort order pages by its key, which the selection (`code`) does not read.
    for field in ["CODE", "DUE_ON", "STATUS", "TITLE", "UPDATED_AT"] {
        for direction in ["ASC", "DESC"] {
            let query = "query ($o: MeasureOrder, $after: String) {
                measures(first: 7, after: $after, orderBy: $o) {
                  pageInfo { hasNextPage endCursor } nodes { code } } }"
                .to_string();
            let order = json!({"field": field, "direction": direction});
            let mut after = Value::Null;
            for page in 0..3 {
                let d = both(query.clone(), json!({"o": order, "after": after})).await;
                let info = &d["data"]["measures"]["pageInfo"];
                assert_eq!(
                    info["hasNextPage"], true,
                    "{field} {direction} page {page}: {d}"
                );
                after = info["endCursor"].clone();
            }
        }
    }
}
