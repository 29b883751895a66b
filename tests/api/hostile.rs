//! Hostile GraphQL and hostile data: refused with clear errors, never a panic, a 5xx or a
//! leaked internal; stored text comes back byte-identical.
use std::time::Duration;

use entity::prelude::*;
use rand::{Rng, SeedableRng};
use remedy::auth::Role;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

async fn post_raw(app: &TestApp, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.admin_token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn specific_attacks_are_refused_with_clear_errors() {
    let app = spawn_demo_app().await;
    // Alias overloading: hundreds of aliases of one field.
    let aliases: String = (0..300)
        .map(|i| format!("a{i}: regulators {{ totalCount }} "))
        .collect();
    let (status, body) = app.graphql(&format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["VALIDATION".to_string()]),
        "{body}"
    );
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("aliases"));
    // Field duplication without aliases.
    let dup = "__typename ".repeat(3000);
    let (status, body) = app.graphql(&format!("{{ {dup} }}"), json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("field selections"));
    // Directive overloading.
    let directives = "@include(if: true) ".repeat(200);
    let (status, body) = app
        .graphql(
            &format!("{{ regulators {directives} {{ totalCount }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), ["VALIDATION"], "{body}");
    // Circular fragments.
    let (_, body) = app
        .graphql(
            "fragment A on Query { ...B } fragment B on Query { ...A } { ...A }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"], "{body}");
    // Complexity bomb within the depth limit.
    let (_, body) = app
        .graphql("{ measures(first: 100) { nodes { findings(first: 100) { nodes { measures(first: 100) { nodes { code } } } } } } }", json!({}))
        .await;
    assert_eq!(error_codes(&body), ["QUERY_TOO_COMPLEX"]);
    // Batches beyond the limit; a batch within it works.
    let op = json!({"query": "{ regulators { totalCount } }"});
    let (status, body) = post_raw(
        &app,
        "application/json",
        serde_json::to_vec(&vec![op.clone(); 11]).unwrap(),
    )
    .await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["VALIDATION".to_string()])
    );
    let (status, body) = post_raw(
        &app,
        "application/json",
        serde_json::to_vec(&vec![op.clone(); 3]).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().unwrap().len(), 3);
    // Malformed JSON and the wrong content type.
    let (status, body) = post_raw(
        &app,
        "application/json",
        b"{\"query\": \"{ regulators".to_vec(),
    )
    .await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["VALIDATION".to_string()])
    );
    let (status, body) = post_raw(
        &app,
        "text/plain",
        b"{ regulators { totalCount } }".to_vec(),
    )
    .await;
    assert_eq!(
        (status, error_codes(&body)),
        (415, vec!["UNSUPPORTED_MEDIA_TYPE".to_string()])
    );
    // A huge string variable: the body limit answers before anything is parsed.
    let huge = "x".repeat(2 * 1024 * 1024);
    let (status, body) = app
        .graphql(
            "query($s: String) { measures(filter: {search: $s}) { totalCount } }",
            json!({"s": huge}),
        )
        .await;
    assert_eq!(
        (status, error_codes(&body)),
        (413, vec!["PAYLOAD_TOO_LARGE".to_string()])
    );
    // Within the body limit but beyond a field's limit: VALIDATION naming the field.
    let (_, body) = app
        .graphql(
            "query($s: String) { measures(filter: {search: $s}) { totalCount } }",
            json!({"s": "y".repeat(300_000)}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "search");
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let app = spawn_demo_app().await;
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // Announce 100 MB and send none of it: the answer must come at once.
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
        app.admin_token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("no answer within 5 s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

#[tokio::test]
async fn introspection_and_suggestions_can_be_switched_off() {
    let app = spawn_demo_app_configured(|c| {
        c.introspection = false;
        c.field_suggestions = false;
    })
    .await;
    let (_, body) = app
        .graphql("{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        body["data"]["__schema"].is_null(),
        "introspection answered: {body}"
    );
    assert!(!body.to_string().contains("MeasureFilter"), "{body}");
    let (_, body) = app
        .graphql("{ regulatorz { totalCount } }", json!({}))
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);
    assert!(!body.to_string().contains("Did you mean"), "{body}");
    // On by default.
    let open = spawn_demo_app().await;
    let (_, body) = open
        .graphql("{ regulatorz { totalCount } }", json!({}))
        .await;
    assert!(body.to_string().contains("Did you mean"), "{body}");
}

/// Random and mutated documents and variables, from a fixed seed: the server answers every
/// one without a panic or a 5xx, and every error it returns carries a code.
#[tokio::test]
async fn fuzzed_documents_never_break_the_server() {
    let app = spawn_demo_app().await;
    let corpus = [
        "{ regulators { nodes { code orders { nodes { reference } } } } }",
        "query($f: MeasureFilter, $n: Int) { measures(filter: $f, first: $n) { totalCount nodes { code owner { name } } } }",
        "query($d: NaiveDate) { progress(asOf: $d) { total categories { category total } } }",
        "query($id: ID!) { node(id: $id) { id ... on Measure { code findings { nodes { number } } } } }",
        "mutation($i: CreateMeasureInput!) { createMeasure(input: $i) { id } }",
        "mutation($i: TransitionMeasureInput!) { transitionMeasure(input: $i) { status } }",
        "{ overdueMeasures(asOf: \"2023-01-01\") { edges { cursor node { code } } pageInfo { hasNextPage } } }",
    ];
    let tokens = [
        "{",
        "}",
        "(",
        ")",
        ":",
        "$",
        "...",
        "@skip(if: true)",
        "\"",
        "\\u0000",
        "null",
        "-1",
        "99999999999999999999",
        "on",
        "fragment",
        "query",
        "mutation",
        "__typename",
        "é",
        "🙂",
        "\u{202e}",
        "first: -5",
        "after: \"x\"",
    ];
    let values = [
        json!(null),
        json!(-1),
        json!(1e308),
        json!("x"),
        json!({"a": [1, 2]}),
        json!([]),
        json!("2022-13-45"),
        json!("TWVhc3VyZTox"),
        json!(true),
        json!("\u{0000}"),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(20221129);
    let mut answered = 0;
    for _ in 0..400 {
        let mut doc: Vec<char> = corpus[rng.gen_range(0..corpus.len())].chars().collect();
        for _ in 0..rng.gen_range(0..4) {
            let at = rng.gen_range(0..=doc.len());
            match rng.gen_range(0..3) {
                0 if !doc.is_empty() => {
                    let end = (at + rng.gen_range(1..8)).min(doc.len());
                    doc.drain(at.min(doc.len())..end);
                }
                1 => {
                    let t = tokens[rng.gen_range(0..tokens.len())];
                    doc.splice(at..at, t.chars());
                }
                _ => {
                    if !doc.is_empty() {
                        let i = rng.gen_range(0..doc.len());
                        doc[i] = char::from_u32(rng.gen_range(32..0x3000)).unwrap_or('?');
                    }
                }
            }
        }
        let doc: String = doc.into_iter().collect();
        let mut vars = serde_json::Map::new();
        for name in ["f", "n", "d", "id", "i"] {
            if rng.gen_bool(0.5) {
                vars.insert(
                    name.to_string(),
                    values[rng.gen_range(0..values.len())].clone(),
                );
            }
        }
        let (status, body) = app.graphql(&doc, Value::Object(vars)).await;
        assert!(status < 500, "{status} for {doc:?}: {body}");
        if let Some(errors) = body["errors"].as_array() {
            for e in errors {
                assert!(
                    e["extensions"]["code"].is_string(),
                    "error without a code for {doc:?}: {e}"
                );
                assert!(
                    !e["message"]
                        .as_str()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains("sqlstate"),
                    "{e}"
                );
            }
        }
        answered += 1;
    }
    assert_eq!(answered, 400);
    // Still healthy afterwards.
    app.query_ok("{ regulators { totalCount } }", json!({}))
        .await;
}

#[tokio::test]
async fn hostile_text_is_stored_and_returned_byte_identical() {
    let app = spawn_demo_app().await;
    let samples = [
        "Robert'); DROP TABLE measure;--",
        "%_\\ LIKE 'x' OR 1=1 -- /* */",
        "\u{200F}שלום\u{200E} mixed RTL",
        "e\u{0301}\u{0301}\u{0301} combining",
        "🔐🛡️👩‍💻 emoji ZWJ",
        "改行\n\tタブ\r\n",
        &"長".repeat(500),
        // White space at the ends is part of the text: nothing is trimmed.
        "  leading and trailing ASCII spaces  ",
        "\u{3000}全角スペース\u{3000}",
        "\u{00A0}no-break spaces\u{00A0}",
        "trailing newline\n",
        "\t tab first, CRLF last\r\n",
    ];
    for (i, title) in samples.iter().enumerate() {
        let data = app
            .query_ok(
                "mutation($i: CreateSystemInput!) { createSystem(input: $i) { id name scopeNote } }",
                json!({"i": {"code": format!("hostile-{i}"), "name": title, "kind": "INTERNAL", "scopeNote": title}}),
            )
            .await;
        assert_eq!(data["createSystem"]["name"].as_str().unwrap(), *title);
        assert_eq!(data["createSystem"]["scopeNote"].as_str().unwrap(), *title);
        let back = app
            .query_ok(
                "query($id: ID!) { node(id: $id) { ... on System { name scopeNote } } }",
                json!({"id": data["createSystem"]["id"]}),
            )
            .await;
        assert_eq!(back["node"]["name"].as_str().unwrap(), *title);
        assert_eq!(back["node"]["scopeNote"].as_str().unwrap(), *title);
    }
    // The search matches metacharacters literally.
    let data = app
        .query_ok("{ systems(first: 50) { totalCount } }", json!({}))
        .await;
    assert!(data["systems"]["totalCount"].as_u64().unwrap() >= samples.len() as u64);
    // Beyond limits, and NUL (which PostgreSQL text cannot hold), refused on both backends.
    let before = System::find().count(&app.db).await.unwrap();
    for (name, field) in [("x".repeat(501), "name"), ("nul\u{0}".to_string(), "name")] {
        let (_, body) = app
            .graphql(
                "mutation($i: CreateSystemInput!) { createSystem(input: $i) { id } }",
                json!({"i": {"code": "bad", "name": name, "kind": "INTERNAL"}}),
            )
            .await;
        assert_eq!(error_codes(&body), ["VALIDATION"]);
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    assert_eq!(System::find().count(&app.db).await.unwrap(), before);
    // A viewer cannot write at all.
    let viewer = app.token(Role::Viewer, &[]).await;
    let (_, body) = app
        .graphql_as(
            Some(&viewer),
            "mutation { createSystem(input: {code: \"v\", name: \"v\", kind: INTERNAL}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
}

#[tokio::test]
async fn white_space_only_text_is_refused_naming_the_field_never_trimmed() {
    let app = spawn_demo_app().await;
    let create = "mutation($i: CreateSystemInput!) { createSystem(input: $i) { id version name scopeNote } }";
    let before = System::find().count(&app.db).await.unwrap();
    for (input, field) in [
        (
            json!({"code": "ws-1", "name": "   ", "kind": "INTERNAL"}),
            "name",
        ),
        (
            json!({"code": "ws-2", "name": "\u{3000}", "kind": "INTERNAL"}),
            "name",
        ),
        (
            json!({"code": "ws-3", "name": "\u{00A0}", "kind": "INTERNAL"}),
            "name",
        ),
        (
            json!({"code": "ws-4", "name": "\n", "kind": "INTERNAL"}),
            "name",
        ),
        (
            json!({"code": "ws-5", "name": "", "kind": "INTERNAL"}),
            "name",
        ),
        (
            json!({"code": "ws-6", "name": "ok", "kind": "INTERNAL", "scopeNote": " \t "}),
            "scopeNote",
        ),
        (
            json!({"code": "ws-7", "name": "ok", "kind": "INTERNAL", "scopeNote": "\u{3000}"}),
            "scopeNote",
        ),
        (
            json!({"code": "ws-8", "name": "ok", "kind": "INTERNAL", "nameLocal": "\u{00A0}\n"}),
            "nameLocal",
        ),
        // Codes refuse white space anywhere, at the ends too.
        (
            json!({"code": " ws-9", "name": "ok", "kind": "INTERNAL"}),
            "code",
        ),
        (
            json!({"code": "ws-10\u{3000}", "name": "ok", "kind": "INTERNAL"}),
            "code",
        ),
        (
            json!({"code": "ws-11\n", "name": "ok", "kind": "INTERNAL"}),
            "code",
        ),
    ] {
        let (status, body) = app.graphql(create, json!({ "i": input })).await;
        assert_eq!(status, 200, "{input}: {body}");
        assert_eq!(error_codes(&body), ["VALIDATION"], "{input}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{input}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("white space"), "{input}: {message}");
    }
    assert_eq!(System::find().count(&app.db).await.unwrap(), before);

    // An empty optional text is unset; on an update, an empty string clears it and white
    // space alone is refused, changing nothing.
    let data = app
        .query_ok(
            create,
            json!({"i": {"code": "ws-ok", "name": " kept ", "kind": "INTERNAL", "scopeNote": ""}}),
        )
        .await;
    let sys = &data["createSystem"];
    assert_eq!(sys["name"], " kept ");
    assert!(sys["scopeNote"].is_null());
    let update = "mutation($id: ID!, $v: Int!, $i: UpdateSystemInput!) { updateSystem(id: $id, version: $v, input: $i) { version name scopeNote } }";
    let data = app
        .query_ok(
            update,
            json!({"id": sys["id"], "v": sys["version"], "i": {"scopeNote": "note\n"}}),
        )
        .await;
    assert_eq!(data["updateSystem"]["scopeNote"], "note\n");
    let version = data["updateSystem"]["version"].clone();
    for (input, field) in [
        (json!({"scopeNote": "\u{3000}\u{3000}"}), "scopeNote"),
        (json!({"name": " "}), "name"),
    ] {
        let (_, body) = app
            .graphql(update, json!({"id": sys["id"], "v": version, "i": input}))
            .await;
        assert_eq!(error_codes(&body), ["VALIDATION"], "{input}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{input}");
    }
    let data = app
        .query_ok(
            update,
            json!({"id": sys["id"], "v": version, "i": {"scopeNote": ""}}),
        )
        .await;
    assert!(data["updateSystem"]["scopeNote"].is_null());
    assert_eq!(data["updateSystem"]["name"], " kept ");

    // A period label is read exactly as given: white space around it is refused.
    let data = app
        .query_ok(
            "{ measures(first: 1, filter: {recurrence: WEEKLY}) { nodes { id } } }",
            json!({}),
        )
        .await;
    let measure = data["measures"]["nodes"][0]["id"].clone();
    let occurrences = Occurrence::find().count(&app.db).await.unwrap();
    for period in [" 2022-W40", "2022-W40\n", "2022-W40\u{3000}"] {
        let (_, body) = app
            .graphql(
                "mutation($i: RecordOccurrenceInput!) { recordOccurrence(input: $i) { period } }",
                json!({"i": {"measureId": measure, "period": period, "doneOn": "2022-10-07"}}),
            )
            .await;
        assert_eq!(error_codes(&body), ["VALIDATION"], "{period:?}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "period");
    }
    assert_eq!(
        Occurrence::find().count(&app.db).await.unwrap(),
        occurrences
    );
}

#[tokio::test]
async fn truncated_uploads_store_nothing() {
    let app = spawn_demo_app().await;
    let before = Evidence::find().count(&app.db).await.unwrap();
    let boundary = "XyZ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{{\"query\":\"mutation($file: Upload!) {{ uploadEvidence(input: {{measureId: \\\"x\\\", kind: OTHER, title: \\\"t\\\"}}, file: $file) {{ id }} }}\",\"variables\":{{\"file\":null}}}}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\":[\"variables.file\"]}}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7 truncated"
    );
    let (status, body) = post_raw(
        &app,
        &format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["VALIDATION"]);
    assert_eq!(Evidence::find().count(&app.db).await.unwrap(), before);
}
