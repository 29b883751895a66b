//! GraphQL over HTTP (GET, the two media types and their status codes), parse errors, error
//! propagation into `data`, and the log level of clients' malformed requests. The Node
//! harness (`tests/clients/`) runs real clients and graphql-http's audit against the binary.
use remedy::auth::Role;
use serde_json::{json, Value};

use crate::helpers::*;

const GR: &str = "application/graphql-response+json";

/// `GET /graphql` with these parameters (URL-encoded here) and headers.
pub(crate) async fn get(
    app: &TestApp,
    token: Option<&str>,
    params: &[(&str, &str)],
    accept: Option<&str>,
) -> (u16, String, Value, reqwest::header::HeaderMap) {
    let mut req = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(params);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let ctype = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, ctype, body, headers)
}

/// `POST /graphql` (JSON) with an `Accept` header.
async fn post(app: &TestApp, body: Value, accept: &str) -> (u16, String, Value) {
    let res = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.admin_token)
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let ctype = res.headers()["content-type"].to_str().unwrap().to_string();
    (status, ctype, res.json::<Value>().await.expect("JSON body"))
}

#[tokio::test]
async fn queries_run_over_get_through_the_same_pipeline() {
    let app = spawn_demo_app_configured(|c| {
        c.rate_limit_per_minute = 4;
        c.max_aliases = 2;
    })
    .await;
    let token = app.admin_token.clone();
    // A query, with variables and the operation picked by name.
    let doc = "query Count($first: Int) { orders(first: $first) { nodes { reference } } } query Other { __typename }";
    let (status, ctype, body, _) = get(
        &app,
        Some(&token),
        &[
            ("query", doc),
            ("variables", r#"{"first": 1}"#),
            ("operationName", "Count"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    assert_eq!(
        body,
        json!({ "data": { "orders": { "nodes": [{ "reference": "METI-2022-06-30" }] } } })
    );
    // No token: 401, as over POST.
    let (status, _, body, headers) = get(&app, None, &[("query", "{ __typename }")], None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert_eq!(headers["www-authenticate"], "Bearer");
    // Document limits apply.
    let (status, _, body, _) = get(
        &app,
        Some(&token),
        &[("query", "{ a: __typename b: __typename c: __typename }")],
        None,
    )
    .await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["VALIDATION".into()])
    );
    // Malformed parameters: 400 with a code, never a 5xx.
    for params in [
        vec![("query", "{ __typename }"), ("variables", "[1]")],
        vec![("query", "{ __typename }"), ("variables", "{")],
        vec![("query", "{ __typename }"), ("extensions", "\"x\"")],
        vec![],
    ] {
        let (status, _, body, _) = get(&app, Some(&token), &params, None).await;
        assert_eq!(status, 400, "{params:?}: {body}");
        assert_eq!(error_codes(&body), ["VALIDATION"], "{params:?}");
    }
    // The per-subject rate limit counts GETs (4 a minute): the query, the aliases and the
    // empty query were admitted (parameters that do not parse are refused before).
    let (status, _, _, _) = get(&app, Some(&token), &[("query", "{ __typename }")], None).await;
    assert_eq!(status, 200);
    let (status, _, body, headers) =
        get(&app, Some(&token), &[("query", "{ __typename }")], None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_codes(&body), ["RATE_LIMITED"]);
    assert_eq!(headers["retry-after"], "60");
}

#[tokio::test]
async fn gets_are_counted_in_metrics_and_evaluator_gets_are_logged() {
    let app = spawn_demo_app().await;
    let evaluator = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let (status, _, body, _) = get(
        &app,
        Some(&evaluator),
        &[(
            "query",
            "query EvaluatorGet { orders { nodes { reference } } }",
        )],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["orders"]["nodes"],
        json!([{ "reference": "METI-2022-06-30" }]),
        "an evaluator sees only its order over GET too"
    );
    let log = app
        .query_ok("{ accessLog { nodes { subject operation } } }", json!({}))
        .await;
    assert!(
        log["accessLog"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["operation"] == "EvaluatorGet"),
        "{log}"
    );
    let text = app.metrics_at(&app.address).await;
    assert!(
        text.contains(r#"remedy_graphql_requests_total{operation="EvaluatorGet",outcome="ok"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn mutations_over_get_are_refused_with_405_and_change_nothing() {
    let app = spawn_demo_app().await;
    let token = app.admin_token.clone();
    let create = r#"mutation { createRegulator(input: {code: "GET-CSRF", name: "x", kind: MINISTRY}) { id } }"#;
    let picked = format!("query Q {{ __typename }} {create}").replacen("mutation", "mutation M", 1);
    for (params, accept) in [
        (vec![("query", create)], None),
        (vec![("query", create)], Some(GR)),
        // A mutation picked by name from a document that also holds a query.
        (
            vec![("query", picked.as_str()), ("operationName", "M")],
            None,
        ),
        (
            vec![("query", "subscription { measureChanged { id } }")],
            None,
        ),
    ] {
        let (status, ctype, body, headers) = get(&app, Some(&token), &params, accept).await;
        assert_eq!(status, 405, "{params:?}: {body}");
        assert_eq!(error_codes(&body), ["METHOD_NOT_ALLOWED"]);
        assert!(headers["allow"].to_str().unwrap().contains("POST"));
        if accept == Some(GR) {
            assert!(ctype.starts_with(GR), "{ctype}");
            assert!(body.get("data").is_none(), "{body}");
        }
    }
    let data = app
        .query_ok(
            r#"{ regulators(first: 100) { nodes { code } } }"#,
            json!({}),
        )
        .await;
    assert!(
        !data.to_string().contains("GET-CSRF"),
        "nothing was written: {data}"
    );
}

#[tokio::test]
async fn persisted_queries_work_over_get() {
    let app = spawn_demo_app().await;
    let token = app.admin_token.clone();
    let query = "{ orders { totalCount } }";
    let hash = remedy::digest::sha256_hex(query.as_bytes());
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } }).to_string();
    // The hash alone, unknown yet: the protocol's answer (200 in application/json).
    let (status, _, body, _) = get(&app, Some(&token), &[("extensions", &ext)], None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_FOUND"]);
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    // In application/graphql-response+json, a request error: 400 without data.
    let (status, _, body, _) = get(&app, Some(&token), &[("extensions", &ext)], Some(GR)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none(), "{body}");
    // The query with its hash registers it; then the hash alone runs it.
    let (status, _, body, _) = get(
        &app,
        Some(&token),
        &[("query", query), ("extensions", &ext)],
        None,
    )
    .await;
    assert_eq!(
        (status, &body),
        (200, &json!({ "data": { "orders": { "totalCount": 2 } } }))
    );
    let (status, _, body, _) = get(&app, Some(&token), &[("extensions", &ext)], Some(GR)).await;
    assert_eq!(
        (status, &body),
        (200, &json!({ "data": { "orders": { "totalCount": 2 } } }))
    );
    // A hash that does not match the query.
    let wrong =
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "00".repeat(32) } }).to_string();
    let (status, _, body, _) = get(
        &app,
        Some(&token),
        &[("query", query), ("extensions", &wrong)],
        None,
    )
    .await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["VALIDATION".into()])
    );
}

#[tokio::test]
async fn graphql_response_json_answers_request_errors_with_4xx_and_no_data() {
    let app = spawn_demo_app().await;
    let ok = json!({ "query": "{ orders { totalCount } }" });
    let parse = json!({ "query": "{ orders { totalCount }" });
    let invalid = json!({ "query": "{ noSuchField }" });
    let coercion = json!({ "query": "query($n: Int!) { orders(first: $n) { totalCount } }", "variables": { "n": "x" } });
    let no_query = json!({ "variables": {} });

    let (status, ctype, body) = post(&app, ok.clone(), GR).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with(GR), "{ctype}");
    assert_eq!(body, json!({ "data": { "orders": { "totalCount": 2 } } }));
    for (request, code) in [
        (&parse, "GRAPHQL_PARSE_FAILED"),
        (&invalid, "VALIDATION"),
        (&coercion, "VALIDATION"),
        (&no_query, "VALIDATION"),
    ] {
        let (status, ctype, body) = post(&app, request.clone(), GR).await;
        assert_eq!(status, 400, "{request}: {body}");
        assert!(ctype.starts_with(GR), "{ctype}");
        assert!(body.get("data").is_none(), "{request}: {body}");
        let codes = error_codes(&body);
        assert!(
            !codes.is_empty() && codes.iter().all(|c| c == code),
            "{request}: {body}"
        );
    }
    // Preferred by quality, as Apollo Client and urql send it; `*/*` and no preference:
    // application/json.
    let (_, ctype, _) = post(
        &app,
        ok.clone(),
        "application/json;q=0.9, application/graphql-response+json",
    )
    .await;
    assert!(ctype.starts_with(GR), "{ctype}");
    let (_, ctype, _) = post(
        &app,
        ok.clone(),
        "application/graphql-response+json;q=0.5, application/json",
    )
    .await;
    assert_eq!(ctype, "application/json");
    let (_, ctype, _) = post(&app, ok.clone(), "*/*").await;
    assert_eq!(ctype, "application/json");

    // application/json, as before: an executed document's errors answer 200 with data null.
    for (request, code) in [
        (&parse, "GRAPHQL_PARSE_FAILED"),
        (&invalid, "VALIDATION"),
        (&coercion, "VALIDATION"),
    ] {
        let (status, ctype, body) = post(&app, request.clone(), "application/json").await;
        assert_eq!(status, 200, "{request}: {body}");
        assert_eq!(ctype, "application/json");
        assert_eq!(body["data"], Value::Null, "{body}");
        assert!(body.as_object().unwrap().contains_key("data"));
        let codes = error_codes(&body);
        assert!(
            !codes.is_empty() && codes.iter().all(|c| c == code),
            "{request}: {body}"
        );
    }
    // Malformed JSON: 400 in both, without data in the new media type.
    for accept in ["application/json", GR] {
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&app.admin_token)
            .header("accept", accept)
            .header("content-type", "application/json")
            .body("{ \"not a JSON")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert_eq!(error_codes(&body), ["VALIDATION"]);
        assert_eq!(
            body.get("data").is_some(),
            accept == "application/json",
            "{body}"
        );
    }
    // A refused token: 401 without data.
    let res = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("accept", GR)
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with(GR));
    let body: Value = res.json().await.unwrap();
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
}

#[tokio::test]
async fn a_parse_error_is_one_line_with_its_location_and_a_stable_code() {
    let app = spawn_demo_app().await;
    for (query, line, column) in [
        ("{", 1, 2),
        ("{ orders { totalCount }\n  regulators {", 2, 15),
        ("query { orders(first: ) { totalCount } }", 1, 23),
    ] {
        let (status, body) = app.graphql(query, json!({})).await;
        assert_eq!(status, 200, "{body}");
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{body}");
        let err = &errors[0];
        assert_eq!(err["extensions"]["code"], "GRAPHQL_PARSE_FAILED", "{body}");
        let message = err["message"].as_str().unwrap();
        assert!(!message.contains('\n'), "one line: {message:?}");
        assert!(message.starts_with("Syntax error: expected"), "{message}");
        assert!(!message.contains("-->"), "{message}");
        assert_eq!(
            err["locations"],
            json!([{ "line": line, "column": column }]),
            "{query}"
        );
    }
    // Over WebSocket too (the same pipeline).
    let mut ws = crate::live::ws_connect(&app.address, &app.admin_token).await;
    let res = crate::seams::ws_op(&mut ws, "p", "{", json!({})).await;
    assert_eq!(error_codes(&res), ["GRAPHQL_PARSE_FAILED"], "{res}");
    // Validation keeps its code.
    let (_, body) = app.graphql("{ noSuchField }", json!({})).await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);
}

#[tokio::test]
async fn a_failed_field_is_null_in_its_object_and_non_null_errors_propagate() {
    let app = spawn_demo_app().await;
    let viewer = app.token(Role::Viewer, &[]).await;
    // contact (String, nullable) is refused to a VIEWER: null under its key, one error each.
    let (status, body) = app
        .graphql_as(
            Some(&viewer),
            "{ owners(first: 2) { nodes { name contact } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let nodes = body["data"]["owners"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{body}");
    for (i, node) in nodes.iter().enumerate() {
        let node = node.as_object().unwrap();
        assert!(node["name"].is_string(), "{body}");
        assert_eq!(node.get("contact"), Some(&Value::Null), "{body}");
        assert_eq!(
            body["errors"][i]["path"],
            json!(["owners", "nodes", i, "contact"])
        );
    }
    assert_eq!(error_codes(&body), ["FORBIDDEN", "FORBIDDEN"]);
    // Every selected field failed: the object is still there, its fields null.
    let (_, body) = app
        .graphql_as(
            Some(&viewer),
            "{ owners(first: 1) { nodes { c: contact } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"],
        json!({ "owners": { "nodes": [{ "c": null }] } }),
        "{body}"
    );
    // A failed non-null root field (orders: OrderConnection!) nulls its nearest nullable
    // parent: here `data` itself, with one error.
    let (status, body) = app
        .graphql(
            "{ orders(first: 1000) { totalCount } regulators { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["orders"]));
    assert_eq!(error_codes(&body), ["VALIDATION"]);
}

/// A client's malformed HTTP request is logged at DEBUG, never as an ERROR.
#[tokio::test]
async fn a_clients_malformed_request_is_not_logged_as_an_error() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let test_db = test_db().await;
    let mut served = crate::ops::serve_binary_full(
        &test_db,
        false,
        &[
            ("REMEDY_LOG", "info,remedy::http=debug"),
            ("REMEDY_LOG_FORMAT", "json"),
        ],
        true,
    )
    .await;
    let addr = served.base.trim_start_matches("http://").to_string();
    for raw in [
        "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
        "GET /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x01\r\n\r\n",
        "GET /he lthz HTTP/1.1\r\n\r\n",
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 64];
        let n = s.read(&mut buf).await.unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 400"),
            "{raw:?}"
        );
    }
    // A well-formed request after them, to know the log has caught up.
    reqwest::get(format!("{}/healthz", served.base))
        .await
        .unwrap();
    let _ = served.child.start_kill();
    let stderr = served.child.stderr.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut log = Vec::new();
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push(line);
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
    let events: Vec<Value> = log
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        !events.iter().any(|e| e["level"] == "ERROR"),
        "no ERROR for a client's mistake: {log:#?}"
    );
    let malformed = events
        .iter()
        .filter(|e| {
            e["level"] == "DEBUG"
                && e["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("malformed HTTP request"))
        })
        .count();
    assert_eq!(malformed, 3, "{log:#?}");
}

/// The role matrix over GET: every query root answers each role exactly as over POST
/// (allowed, or FORBIDDEN), and every mutation is refused with 405 for every role, before
/// anything runs (`uploadEvidence` and `importPlan` aside: a file cannot travel in a URL).
#[tokio::test]
async fn role_matrix_over_get() {
    let app = spawn_demo_app().await;
    let before = audit_events(&app).await;
    for role in crate::auth::ALL {
        let scope: &[&str] = if role == Role::Evaluator {
            &["METI-2022-06-30"]
        } else {
            &[]
        };
        let token = app.token(role, scope).await;
        for (name, query, allowed) in crate::auth::matrix() {
            if name == "uploadEvidence" || name == "importPlan" {
                continue;
            }
            let (status, _, body, _) = get(&app, Some(&token), &[("query", query)], None).await;
            if query.trim_start().starts_with("mutation") {
                assert_eq!(status, 405, "{role:?} {name} over GET: {body}");
                continue;
            }
            let codes = error_codes(&body);
            if allowed.contains(&role) {
                assert!(
                    !codes.contains(&"FORBIDDEN".to_string()),
                    "{role:?} may call {name} over GET: {body}"
                );
            } else {
                assert_eq!(
                    codes,
                    ["FORBIDDEN"],
                    "{role:?} must not call {name} over GET: {body}"
                );
            }
        }
    }
    // No mutation ran (issuing the tokens above is the only write).
    let after = audit_events(&app).await;
    assert_eq!(
        after - before,
        crate::auth::ALL.len() as u64,
        "writes over GET"
    );
}

async fn audit_events(app: &TestApp) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    entity::audit_event::Entity::find()
        .count(&app.db)
        .await
        .unwrap()
}
