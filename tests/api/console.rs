//! The web console's server side (`api/src/console.rs`): every page path answers the same
//! document under a strict policy, its assets are the embedded ones only, demo tokens are
//! offered by a demo server with a generated secret only; and the API fields the console's
//! controls follow (`Measure.transitions`, report download permissions).
use remedy::auth::Role;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn every_console_page_is_one_document_under_a_strict_policy() {
    let app = spawn_app().await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    let index = get("/").await.unwrap();
    assert_eq!(index.status(), 200);
    let csp = index.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = index.text().await.unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(
        !html.contains("<script>"),
        "inline script in the console's page"
    );
    for path in [
        "/orders/METI-2022-06-30",
        "/measures/TWVhc3VyZTox",
        "/reports",
        "/reports/UmVwb3J0OjE",
        "/owners",
        "/search",
        "/signin",
    ] {
        let res = get(path).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.headers().contains_key("content-security-policy"));
        assert_eq!(
            res.text().await.unwrap(),
            html,
            "{path} is another document"
        );
    }
    // Every asset the page names is served, with its type; the module graph too.
    let mut assets = 0;
    for part in html
        .split("src=\"")
        .skip(1)
        .chain(html.split("href=\"").skip(1))
    {
        let path = part.split('"').next().unwrap();
        let res = get(path).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let ctype = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            ctype.starts_with("text/javascript")
                || ctype.starts_with("text/css")
                || ctype.starts_with("image/svg+xml"),
            "{path}: {ctype}"
        );
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assets += 1;
    }
    assert_eq!(assets, 3, "app.js, app.css and the icon");
    let app_js = get("/console/app.js").await.unwrap();
    let etag = app_js.headers()["etag"].to_str().unwrap().to_string();
    let again = app
        .client
        .get(format!("{}/console/app.js", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    for path in [
        "/console/vendor/preact.js",
        "/console/vendor/htm.js",
        "/console/pages/measure.js",
    ] {
        assert_eq!(get(path).await.unwrap().status(), 200, "{path}");
    }
    // Nothing else: not the type declarations, not the file system, not a made-up name.
    for path in [
        "/console/vendor/preact.d.ts",
        "/console/../Cargo.toml",
        "/console/%2e%2e/%2e%2e/Cargo.toml",
        "/console/nope.js",
        "/orders/a/b",
        "/nowhere",
    ] {
        assert_eq!(get(path).await.unwrap().status(), 404, "{path}");
    }
    // Demo tokens: only from a demo server that generated its secret (this one did not).
    assert_eq!(get("/console/demo-tokens").await.unwrap().status(), 404);
}

const TRANSITIONS: &str = r#"query($id: ID!) { node(id: $id) { ... on Measure {
    status version transitions permissions { canEdit canVerify } } } }"#;

async fn measure_id(app: &TestApp, code: &str) -> String {
    let d = app
        .query_ok(
            "query($s: String!) { measures(filter: { search: $s }, first: 20) { nodes { id code } } }",
            json!({"s": code}),
        )
        .await;
    d["measures"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == code)
        .unwrap_or_else(|| panic!("{code} not found"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn transitions_are_the_moves_the_caller_may_make_now() {
    let app = spawn_demo_app().await;
    let m20 = measure_id(&app, "M-20").await;
    let editor = app.token(Role::Editor, &[]).await;
    let viewer = app.token(Role::Viewer, &[]).await;
    let evaluator = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let as_ = |token: String| {
        let app = &app;
        let m20 = m20.clone();
        async move {
            let (_, body) = app
                .graphql_as(Some(&token), TRANSITIONS, json!({"id": m20}))
                .await;
            assert!(body.get("errors").is_none(), "{body}");
            body["data"]["node"].clone()
        }
    };
    // IN_PROGRESS: forward to IMPLEMENTED; deferring and cancelling go through a change
    // request while approvals are on (the default), so they are not offered.
    let d = as_(editor.clone()).await;
    assert_eq!(d["status"], "IN_PROGRESS");
    assert_eq!(d["transitions"], json!(["IMPLEMENTED"]));
    assert_eq!(as_(viewer.clone()).await["transitions"], json!([]));
    assert_eq!(as_(evaluator).await["transitions"], json!([]));
    // Each offered move is one transitionMeasure accepts.
    app.query_ok(
        r#"mutation($id: ID!, $v: Int!) { transitionMeasure(input: { id: $id, version: $v, to: IMPLEMENTED }) { status } }"#,
        json!({"id": m20, "v": d["version"]}),
    )
    .await;
    // IMPLEMENTED: VERIFIED for whoever may verify it (not the editor, who lacks plan:verify;
    // not the ADMIN who implemented it, under separation of duties).
    assert_eq!(as_(editor).await["transitions"], json!([]));
    let admin = as_(app.admin_token.clone()).await;
    assert_eq!(admin["permissions"]["canVerify"], false);
    assert_eq!(admin["transitions"], json!([]));
    let other_admin = issue(
        &app.db,
        &app.gate,
        &app.keys,
        "second-admin",
        &[Role::Admin],
        &[],
    )
    .await;
    let d = as_(other_admin).await;
    assert_eq!(d["permissions"]["canVerify"], true);
    assert_eq!(d["transitions"], json!(["VERIFIED"]));
    // A read of the past offers nothing.
    let (_, past) = app
        .graphql(
            r#"query($id: ID!) { node(id: $id, asOf: "2022-12-01") { ... on Measure { status transitions } } }"#,
            json!({"id": m20}),
        )
        .await;
    assert_eq!(past["data"]["node"]["transitions"], json!([]), "{past}");
}

#[tokio::test]
async fn without_approvals_deferring_and_cancelling_are_offered_directly() {
    let app = spawn_demo_app_configured(|c| c.approvals = false).await;
    let m20 = measure_id(&app, "M-20").await;
    let editor = app.token(Role::Editor, &[]).await;
    let (_, body) = app
        .graphql_as(Some(&editor), TRANSITIONS, json!({"id": m20}))
        .await;
    assert_eq!(
        body["data"]["node"]["transitions"],
        json!(["IMPLEMENTED", "DEFERRED", "CANCELLED"]),
        "{body}"
    );
}

#[tokio::test]
async fn report_permissions_say_who_may_generate_and_download() {
    let app = spawn_demo_app().await;
    let q = r#"{ reports(first: 20) { nodes { code status permissions {
        canSubmit canGenerateReport canDownloadBundle } } } }"#;
    let by_code = |data: &serde_json::Value, code: &str| {
        data["reports"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["code"] == code)
            .unwrap_or_else(|| panic!("{code}"))["permissions"]
            .clone()
    };
    let submitted = "METI-2022-10-06";
    let draft = "METI-2022-12-31";
    let viewer = app.token(Role::Viewer, &[]).await;
    let d = app.query_ok_as(&viewer, q).await;
    assert_eq!(
        by_code(&d, draft),
        json!({"canSubmit": false, "canGenerateReport": false, "canDownloadBundle": false})
    );
    let editor = app.token(Role::Editor, &[]).await;
    let d = app.query_ok_as(&editor, q).await;
    assert_eq!(
        by_code(&d, draft),
        json!({"canSubmit": true, "canGenerateReport": true, "canDownloadBundle": false})
    );
    assert_eq!(
        by_code(&d, submitted),
        json!({"canSubmit": false, "canGenerateReport": true, "canDownloadBundle": true})
    );
    let evaluator = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let d = app.query_ok_as(&evaluator, q).await;
    assert_eq!(
        by_code(&d, submitted),
        json!({"canSubmit": false, "canGenerateReport": false, "canDownloadBundle": true})
    );
    // What the flags promise, the API does: the viewer is refused, the evaluator served.
    let (_, refused) = app
        .graphql_as(
            Some(&viewer),
            r#"query { o: orderByReference(reference: "METI-2022-06-30") { id } }"#,
            json!({}),
        )
        .await;
    let order = refused["data"]["o"]["id"].as_str().unwrap().to_string();
    let (_, body) = app
        .graphql_as(
            Some(&viewer),
            "query($o: ID!) { regulatorReport(orderId: $o, format: CSV) { sha256 } }",
            json!({"o": order}),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
}
