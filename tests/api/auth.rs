//! Authentication and authorisation over HTTP: forged tokens, the role matrix, evaluator scope.
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use entity::prelude::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use remedy::auth::Role;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

use crate::helpers::*;

const REGULATORS: &str = "{ regulators { nodes { code orders { nodes { reference } } } } }";

fn hs256(payload: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        payload,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn base_claims() -> Value {
    serde_json::to_value(claims_for("mallory", &[Role::Admin])).unwrap()
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

async fn assert_refused(app: &TestApp, token: &str, case: &str) {
    let (status, body) = app.graphql_as(Some(token), REGULATORS, json!({})).await;
    assert_eq!(status, 401, "{case}: {body}");
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{case}: {body}");
    assert!(body["data"].is_null(), "{case}: {body}");
}

#[tokio::test]
async fn forged_and_broken_tokens_are_refused() {
    let app = spawn_demo_app_with_jwks().await;
    let secret = TEST_SECRET.as_bytes();
    let now = chrono::Utc::now().timestamp();

    // The untampered forms are accepted, so each refusal below is due to its one defect.
    let (status, _) = app
        .graphql_as(Some(&hs256(&base_claims(), secret)), REGULATORS, json!({}))
        .await;
    assert_eq!(status, 200);
    let rsa_private = std::fs::read(fixture("rsa_private.pem")).unwrap();
    let mut rs_header = Header::new(Algorithm::RS256);
    rs_header.kid = Some("rsa-1".into());
    let rs_token = encode(
        &rs_header,
        &base_claims(),
        &EncodingKey::from_rsa_pem(&rsa_private).unwrap(),
    )
    .unwrap();
    app.query_ok_as(&rs_token, REGULATORS).await;
    let ed_private = std::fs::read(fixture("ed25519_private.pem")).unwrap();
    let mut ed_header = Header::new(Algorithm::EdDSA);
    ed_header.kid = Some("ed-1".into());
    let ed_token = encode(
        &ed_header,
        &base_claims(),
        &EncodingKey::from_ed_pem(&ed_private).unwrap(),
    )
    .unwrap();
    app.query_ok_as(&ed_token, REGULATORS).await;

    // No header, wrong scheme, garbage.
    let (status, body) = app.graphql_as(None, REGULATORS, json!({})).await;
    assert_eq!(
        (status, error_codes(&body)),
        (401, vec!["UNAUTHENTICATED".to_string()])
    );
    let res = app
        .client
        .post(format!("{}/graphql", app.address))
        .header(
            "Authorization",
            format!("Basic {}", URL_SAFE_NO_PAD.encode("admin:admin")),
        )
        .json(&json!({"query": REGULATORS}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_refused(&app, "not-a-jwt", "garbage").await;

    // alg: none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(base_claims().to_string())
    );
    assert_refused(&app, &none, "alg none").await;

    // HS256 signed with the RS256 public key, with and without the RSA key's kid.
    let rsa_public = std::fs::read(fixture("rsa_public.pem")).unwrap();
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some("rsa-1".into());
    let t = encode(
        &confused,
        &base_claims(),
        &EncodingKey::from_secret(&rsa_public),
    )
    .unwrap();
    assert_refused(
        &app,
        &t,
        "HS256 with the RSA public key as secret, kid rsa-1",
    )
    .await;
    assert_refused(
        &app,
        &hs256(&base_claims(), &rsa_public),
        "HS256 with the RSA public key, no kid",
    )
    .await;
    // RS256 with a key id that is not configured.
    let mut unknown = Header::new(Algorithm::RS256);
    unknown.kid = Some("rsa-9".into());
    let t = encode(
        &unknown,
        &base_claims(),
        &EncodingKey::from_rsa_pem(&rsa_private).unwrap(),
    )
    .unwrap();
    assert_refused(&app, &t, "unknown kid").await;

    // Wrong key, expired, not yet valid, wrong audience or issuer, missing claims.
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong secret",
            hs256(&base_claims(), b"another-secret-another-secret-0123456"),
        ),
        (
            "expired",
            hs256(&with(base_claims(), "exp", json!(now - 3600)), secret),
        ),
        (
            "not yet valid",
            hs256(&with(base_claims(), "nbf", json!(now + 3600)), secret),
        ),
        (
            "wrong aud",
            hs256(&with(base_claims(), "aud", json!("other-service")), secret),
        ),
        (
            "wrong iss",
            hs256(
                &with(base_claims(), "iss", json!("https://evil.example")),
                secret,
            ),
        ),
        ("missing sub", hs256(&without(base_claims(), "sub"), secret)),
        ("missing jti", hs256(&without(base_claims(), "jti"), secret)),
        ("missing exp", hs256(&without(base_claims(), "exp"), secret)),
        ("missing aud", hs256(&without(base_claims(), "aud"), secret)),
        ("missing iss", hs256(&without(base_claims(), "iss"), secret)),
        (
            "empty sub",
            hs256(&with(base_claims(), "sub", json!("")), secret),
        ),
        (
            "string exp",
            hs256(
                &with(base_claims(), "exp", json!((now + 3600).to_string())),
                secret,
            ),
        ),
        (
            "string nbf",
            hs256(
                &with(base_claims(), "nbf", json!((now + 3600).to_string())),
                secret,
            ),
        ),
        (
            "unknown role",
            hs256(&with(base_claims(), "roles", json!(["ROOT"])), secret),
        ),
        (
            "no role",
            hs256(&with(base_claims(), "roles", json!([])), secret),
        ),
        (
            "bad order id",
            hs256(&with(base_claims(), "orders", json!(["not-an-id"])), secret),
        ),
    ];
    for (case, token) in &cases {
        assert_refused(&app, token, case).await;
    }

    // A payload tampered after signing (a viewer promoting itself).
    let viewer = app.token(Role::Viewer, &[]).await;
    let parts: Vec<&str> = viewer.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["roles"] = json!(["ADMIN"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    assert_refused(&app, &tampered, "tampered payload").await;

    // Revoked through the API: refused from the next request on.
    let (_, body) = app.graphql_as(Some(&viewer), REGULATORS, json!({})).await;
    assert!(body.get("errors").is_none());
    let jti = payload["jti"].as_str().unwrap();
    let data = app
        .query_ok(
            "mutation($j: String!) { revokeToken(jti: $j) { jti revoked } }",
            json!({"j": jti}),
        )
        .await;
    assert_eq!(data["revokeToken"]["revoked"], true);
    assert_refused(&app, &viewer, "revoked").await;
    // Revoking twice is a conflict; an unknown jti is not found.
    let (_, body) = app
        .graphql(
            "mutation($j: String!) { revokeToken(jti: $j) { jti } }",
            json!({"j": jti}),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"]);
    let (_, body) = app
        .graphql("mutation { revokeToken(jti: \"nope\") { jti } }", json!({}))
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
}

pub(crate) const ALL: [Role; 6] = [
    Role::Admin,
    Role::Editor,
    Role::Viewer,
    Role::Reporter,
    Role::Evaluator,
    Role::Auditor,
];

/// Every query root and mutation with the roles allowed to call it. A root missing here
/// fails the test, so a new one cannot ship without its row.
pub(crate) fn matrix() -> Vec<(&'static str, &'static str, Vec<Role>)> {
    use Role::*;
    let readers = ALL.to_vec();
    let plan = vec![Admin, Editor];
    let ev = "input: {measureId: \"x\", kind: OTHER, title: \"t\"}";
    let doc = "document: {storageUri: \"https://d.example/x\", sha256: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", mediaType: \"text/plain\", sizeBytes: 1}";
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    vec![
        ("node", "{ node(id: \"x\") { id } }", readers.clone()),
        ("nodes", "{ nodes(ids: []) { id } }", readers.clone()),
        ("regulators", "{ regulators { totalCount } }", readers.clone()),
        ("orders", "{ orders { totalCount } }", readers.clone()),
        ("orderByReference", "{ orderByReference(reference: \"METI-2022-06-30\") { reference } }", readers.clone()),
        ("findings", "{ findings { totalCount } }", readers.clone()),
        ("measures", "{ measures { totalCount } }", readers.clone()),
        ("owners", "{ owners { totalCount } }", readers.clone()),
        ("systems", "{ systems { totalCount } }", readers.clone()),
        ("evidence", "{ evidence { totalCount } }", readers.clone()),
        ("reports", "{ reports { totalCount } }", readers.clone()),
        ("evaluators", "{ evaluators { totalCount } }", readers.clone()),
        ("overdueMeasures", "{ overdueMeasures { totalCount } }", readers.clone()),
        ("upcomingReports", "{ upcomingReports { totalCount } }", readers.clone()),
        ("expiringEvidence", "{ expiringEvidence { totalCount } }", readers.clone()),
        ("progress", "{ progress { total } }", readers.clone()),
        ("auditLog", "{ auditLog { totalCount } }", vec![Admin]),
        ("notices", "{ notices { totalCount } }", vec![Admin]),
        ("verifyAuditLog", "{ verifyAuditLog { intact } }", vec![Admin]),
        ("accessLog", "{ accessLog { totalCount } }", vec![Admin]),
        ("tokens", "{ tokens { jti } }", vec![Admin]),
        ("regulatorReport", "{ regulatorReport(orderId: \"x\", format: MARKDOWN) { content } }", vec![Admin, Editor, Reporter, Auditor]),
        ("changes", "{ changes { pageInfo { hasNextPage } } }", vec![Admin, Editor, Reporter, Auditor]),
        // Evaluators get their orders' bundles (another order's: NOT_FOUND, `exchange_out::*`).
        ("reportBundle", "{ reportBundle(reportId: \"x\") { sha256 } }", vec![Admin, Editor, Reporter, Auditor, Evaluator]),
        ("bundleKeys", "{ bundleKeys { keyId } }", vec![Admin, Editor, Reporter, Auditor, Evaluator]),
        ("createRegulator", "mutation { createRegulator(input: {code: \"X\", name: \"x\", kind: OTHER}) { id } }", plan.clone()),
        ("updateRegulator", "mutation { updateRegulator(id: \"x\", version: 1, input: {}) { id } }", plan.clone()),
        ("archiveRegulator", "mutation { archiveRegulator(id: \"x\", version: 1) { id } }", plan.clone()),
        ("createOrder", "mutation { createOrder(input: {regulatorId: \"x\", kind: OTHER, reference: \"R\", title: \"t\", issuedOn: \"2022-01-01\"}) { id } }", plan.clone()),
        ("updateOrder", "mutation { updateOrder(id: \"x\", version: 1, input: {}) { id } }", plan.clone()),
        ("archiveOrder", "mutation { archiveOrder(id: \"x\", version: 1) { id } }", plan.clone()),
        ("createFinding", "mutation { createFinding(input: {orderId: \"x\", category: HUMAN, number: \"9\", title: \"t\", facts: \"f\", directive: \"d\"}) { id } }", plan.clone()),
        ("updateFinding", "mutation { updateFinding(id: \"x\", version: 1, input: {}) { id } }", plan.clone()),
        ("archiveFinding", "mutation { archiveFinding(id: \"x\", version: 1) { id } }", plan.clone()),
        ("createOwner", "mutation { createOwner(input: {code: \"o\", name: \"o\", kind: PERSON}) { id } }", plan.clone()),
        ("updateOwner", "mutation { updateOwner(id: \"x\", version: 1, input: {}) { id } }", plan.clone()),
        ("archiveOwner", "mutation { archiveOwner(id: \"x\", version: 1) { id } }", plan.clone()),
        ("createSystem", "mutation { createSystem(input: {code: \"s\", name: \"s\", kind: INTERNAL}) { id } }", plan.clone()),
        ("updateSystem", "mutation { updateSystem(id: \"x\", version: 1, input: {}) { id } }", plan.clone()),
        ("archiveSystem", "mutation { archiveSystem(id: \"x\", version: 1) { id } }", plan.clone()),
        ("createMeasure", "mutation { createMeasure(input: {code: \"m\", title: \"t\", findingIds: [\"x\"]}) { id } }", plan.clone()),
        ("updateMeasure", "mutation { updateMeasure(id: \"x\", version: 1, input: {}) { id } }", plan.clone()),
        // Callable with plan:write or plan:verify; which one a move needs (plan:verify for
        // VERIFIED, plan:write for the others) is decided in the store, tested in
        // `accountability::*`.
        ("transitionMeasure", "mutation { transitionMeasure(input: {id: \"x\", version: 1, to: IN_PROGRESS}) { id } }", vec![Admin, Editor, Auditor]),
        ("requestMeasureChange", "mutation { requestMeasureChange(input: {measureId: \"x\", kind: CANCEL, reason: \"r\"}) { id } }", plan.clone()),
        ("decideMeasureChange", "mutation { decideMeasureChange(input: {id: \"x\", version: 1, approve: false, comment: \"c\"}) { id } }", vec![Admin, Auditor]),
        ("withdrawMeasureChange", "mutation { withdrawMeasureChange(id: \"x\", version: 1) { id } }", vec![Admin, Editor, Auditor]),
        ("linkMeasure", "mutation { linkMeasure(input: {measureId: \"x\", version: 1, findingIds: [\"x\"]}) { id } }", plan.clone()),
        ("unlinkMeasure", "mutation { unlinkMeasure(input: {measureId: \"x\", version: 1, findingIds: [\"x\"]}) { id } }", plan.clone()),
        ("archiveMeasure", "mutation { archiveMeasure(id: \"x\", version: 1) { id } }", plan.clone()),
        ("recordOccurrence", "mutation { recordOccurrence(input: {measureId: \"x\", period: \"2022-W01\", doneOn: \"2022-01-07\"}) { period } }", plan.clone()),
        // Callable with plan:write or plan:approve; skipping itself needs plan:approve,
        // decided in the store (an EDITOR is refused there, naming it: `ledger::*`).
        ("skipPeriod", "mutation { skipPeriod(input: {measureId: \"x\", period: \"2022-W01\", reason: \"r\"}) { id } }", vec![Admin, Editor, Auditor]),
        ("uploadEvidence", leak(format!("mutation($file: Upload!) {{ uploadEvidence({ev}, file: $file) {{ id }} }}")), plan.clone()),
        ("importPlan", "mutation($file: Upload!) { importPlan(file: $file, dryRun: true) { sha256 } }", plan.clone()),
        ("registerEvidence", leak(format!("mutation {{ registerEvidence({ev}, {doc}) {{ id }} }}")), plan.clone()),
        ("supersedeEvidence", leak(format!("mutation {{ supersedeEvidence(id: \"x\", {ev}, {doc}) {{ id }} }}")), plan.clone()),
        ("createReport", "mutation { createReport(input: {orderId: \"x\", kind: PROGRESS, title: \"t\", dueOn: \"2023-01-01\"}) { id } }", plan.clone()),
        ("updateReport", "mutation { updateReport(id: \"x\", version: 1, input: {}) { id } }", plan.clone()),
        ("submitReport", "mutation { submitReport(id: \"x\", version: 1) { id } }", plan.clone()),
        ("acknowledgeReport", "mutation { acknowledgeReport(id: \"x\", version: 1) { id } }", plan.clone()),
        ("addEvaluation", "mutation { addEvaluation(input: {reportId: \"x\", verdict: SATISFACTORY}) { id } }", vec![Admin, Evaluator]),
        ("issueToken", "mutation { issueToken(input: {subject: \"x\", roles: [VIEWER], ttl: \"1h\"}) { token } }", vec![Admin]),
        ("revokeToken", "mutation { revokeToken(jti: \"does-not-exist\") { jti } }", vec![Admin]),
        ("webhookEndpoints", "{ webhookEndpoints { id } }", vec![Admin]),
        ("digests", "{ digests { id } }", vec![Admin]),
        ("reminders", "{ reminders(on: \"2022-12-01\") { kind } }", vec![Admin]),
        ("createWebhookEndpoint", "mutation { createWebhookEndpoint(input: {url: \"ftp://x\"}) { secret } }", vec![Admin]),
        ("updateWebhookEndpoint", "mutation { updateWebhookEndpoint(id: \"x\", version: 1, input: {}) { id } }", vec![Admin]),
        ("rotateWebhookSecret", "mutation { rotateWebhookSecret(id: \"x\") { secret } }", vec![Admin]),
        ("archiveWebhookEndpoint", "mutation { archiveWebhookEndpoint(id: \"x\", version: 1) { id } }", vec![Admin]),
        ("redeliverWebhook", "mutation { redeliverWebhook(id: \"x\") { id } }", vec![Admin]),
    ]
}

#[tokio::test]
async fn role_matrix_over_every_query_root_and_mutation() {
    let app = spawn_demo_app().await;
    let table = matrix();
    // The table covers the whole schema.
    let data = app
        .query_ok(
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    let mut roots: Vec<String> = Vec::new();
    for t in ["queryType", "mutationType"] {
        for f in data["__schema"][t]["fields"].as_array().unwrap() {
            roots.push(f["name"].as_str().unwrap().to_string());
        }
    }
    for r in &roots {
        assert!(
            table.iter().any(|(name, _, _)| name == r),
            "{r} has no row in the role matrix"
        );
    }
    assert_eq!(
        roots.len(),
        table.len(),
        "the matrix names operations the schema does not have"
    );

    for role in ALL {
        let scope: &[&str] = if role == Role::Evaluator {
            &["METI-2022-06-30"]
        } else {
            &[]
        };
        let token = app.token(role, scope).await;
        for (name, query, allowed) in &table {
            let (status, body) = if *name == "uploadEvidence" || *name == "importPlan" {
                app.upload(
                    &token,
                    query,
                    json!({}),
                    "file",
                    b"x".to_vec(),
                    "text/plain",
                )
                .await
            } else {
                app.graphql_as(Some(&token), query, json!({})).await
            };
            assert_eq!(status, 200, "{role:?} {name}: {body}");
            let codes = error_codes(&body);
            if allowed.contains(&role) {
                assert!(
                    !codes.contains(&"FORBIDDEN".to_string()),
                    "{role:?} may call {name}: {body}"
                );
            } else {
                assert_eq!(
                    codes,
                    ["FORBIDDEN"],
                    "{role:?} must not call {name}: {body}"
                );
                assert!(
                    body["data"].is_null() || body["data"][name].is_null(),
                    "{role:?} {name}: {body}"
                );
            }
        }
    }
}

#[tokio::test]
async fn requests_beyond_the_rate_limit_are_refused_per_subject() {
    let app = spawn_demo_app_configured(|c| c.rate_limit_per_minute = 5).await;
    let viewer = app.token(Role::Viewer, &[]).await;
    for _ in 0..5 {
        let (status, _) = app
            .graphql_as(Some(&viewer), "{ regulators { totalCount } }", json!({}))
            .await;
        assert_eq!(status, 200);
    }
    let (status, body) = app
        .graphql_as(Some(&viewer), "{ regulators { totalCount } }", json!({}))
        .await;
    assert_eq!(status, 429);
    assert_eq!(error_codes(&body), ["RATE_LIMITED"]);
    // Evidence downloads count against the same limit.
    let res = app
        .client
        .get(format!("{}/evidence/unknown", app.address))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "60");
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_codes(&body), ["RATE_LIMITED"]);
    // Another subject is not affected.
    let (status, _) = app
        .graphql_as(
            Some(&app.admin_token),
            "{ regulators { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn issue_token_validates_and_never_stores_the_token() {
    let app = spawn_demo_app().await;
    let data = app
        .query_ok(
            "mutation { issueToken(input: {subject: \"committee\", roles: [EVALUATOR], orders: [\"PPC-2022-07-13\"], ttl: \"2h\"}) { token info { jti roles orders revoked expiresAt } } }",
            json!({}),
        )
        .await;
    let token = data["issueToken"]["token"].as_str().unwrap().to_string();
    assert_eq!(data["issueToken"]["info"]["roles"], json!(["EVALUATOR"]));
    assert_eq!(
        data["issueToken"]["info"]["orders"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The new token works and sees only its order.
    let data = app.query_ok_as(&token, REGULATORS).await;
    assert_eq!(
        data["regulators"],
        json!({"nodes": [{"code": "PPC", "orders": {"nodes": [{"reference": "PPC-2022-07-13"}]}}]})
    );
    // The token text is nowhere in the database's token records or audit log.
    let listed = app
        .query_ok("{ tokens { jti subject revoked } }", json!({}))
        .await;
    assert!(!listed.to_string().contains(&token));
    for t in ApiToken::find().all(&app.db).await.unwrap() {
        assert!(!serde_json::to_string(&t).unwrap().contains(&token));
    }
    for e in AuditEvent::find().all(&app.db).await.unwrap() {
        assert!(!e.after.unwrap_or_default().contains(&token));
    }
    // Invalid requests name the field.
    for (input, field) in [
        ("{subject: \"\", roles: [VIEWER]}", "subject"),
        ("{subject: \"e\", roles: [EVALUATOR]}", "orders"),
        ("{subject: \"e\", roles: [VIEWER], ttl: \"forever\"}", "ttl"),
        (
            "{subject: \"e\", roles: [VIEWER], scope: \"plan:write\"}",
            "scope",
        ),
        (
            "{subject: \"e\", roles: [EVALUATOR], orders: [\"NOPE\"]}",
            "orders",
        ),
    ] {
        let (_, body) = app
            .graphql(
                &format!("mutation {{ issueToken(input: {input}) {{ token }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(error_codes(&body), ["VALIDATION"], "{input}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{input}: {body}"
        );
    }
}

#[tokio::test]
async fn evaluator_sees_only_its_order_and_reads_are_logged() {
    let app = spawn_demo_app().await;
    let evaluator = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    let data = app.query_ok_as(&evaluator, REGULATORS).await;
    assert_eq!(
        data["regulators"],
        json!({"nodes": [{"code": "METI", "orders": {"nodes": [{"reference": "METI-2022-06-30"}]}}]})
    );
    // The ungranted order answers exactly as a nonexistent one.
    let (_, granted_missing) = app
        .graphql_as(
            Some(&evaluator),
            "{ orderByReference(reference: \"PPC-2022-07-13\") { reference } }",
            json!({}),
        )
        .await;
    let (_, really_missing) = app
        .graphql_as(
            Some(&evaluator),
            "{ orderByReference(reference: \"PPC-2099-01-01\") { reference } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&granted_missing), ["NOT_FOUND"]);
    assert_eq!(error_codes(&really_missing), ["NOT_FOUND"]);
    let strip = |b: &Value| {
        b["errors"][0]["message"]
            .as_str()
            .unwrap()
            .replace("PPC-2022-07-13", "X")
            .replace("PPC-2099-01-01", "X")
    };
    assert_eq!(strip(&granted_missing), strip(&really_missing));
    // Reads of the granted order were recorded; non-evaluator reads are not.
    assert!(AccessLog::find().count(&app.db).await.unwrap() >= 1);
    let before = AccessLog::find().count(&app.db).await.unwrap();
    app.query_ok(REGULATORS, json!({})).await;
    assert_eq!(AccessLog::find().count(&app.db).await.unwrap(), before);
    // An evaluator token never reaches token administration.
    let (_, body) = app
        .graphql_as(Some(&evaluator), "{ tokens { jti } }", json!({}))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
}

#[tokio::test]
async fn cli_issues_and_revokes_tokens() {
    let app = spawn_demo_app().await;
    let url = &app._test_db.url;
    let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args([
            "token",
            "issue",
            "--subject",
            "script",
            "--role",
            "reporter",
            "--ttl",
            "1h",
        ])
        .env("REMEDY_DATABASE_URL", url)
        .env("REMEDY_JWT_SECRET", TEST_SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // The token alone on stdout.
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let token = stdout.trim();
    assert_eq!(token.split('.').count(), 3);
    app.query_ok_as(token, REGULATORS).await;

    let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args([
            "token",
            "issue",
            "--subject",
            "eval",
            "--role",
            "EVALUATOR",
            "--order",
            "PPC-2022-07-13",
        ])
        .env("REMEDY_DATABASE_URL", url)
        .env("REMEDY_JWT_SECRET", TEST_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success());
    let evaluator = String::from_utf8(out.stdout).unwrap();
    let data = app.query_ok_as(evaluator.trim(), REGULATORS).await;
    assert_eq!(data["regulators"]["nodes"].as_array().unwrap().len(), 1);

    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args(["token", "revoke", payload["jti"].as_str().unwrap()])
        .env("REMEDY_DATABASE_URL", url)
        .env("REMEDY_JWT_SECRET", TEST_SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_refused(&app, token, "revoked by the CLI").await;

    // An evaluator without orders is refused by the CLI too.
    let out = Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args(["token", "issue", "--subject", "eval", "--role", "EVALUATOR"])
        .env("REMEDY_DATABASE_URL", url)
        .env("REMEDY_JWT_SECRET", TEST_SECRET)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn serve_refuses_to_start_without_a_key() {
    let test_db = test_db().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_remedy"))
        .arg("serve")
        .env("REMEDY_DATABASE_URL", &test_db.url)
        .env("REMEDY_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env_remove("REMEDY_JWT_SECRET")
        .env_remove("REMEDY_JWT_JWKS")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no JWT key configured"));
    // A secret too short to be safe is refused as well.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_remedy"))
        .arg("serve")
        .env("REMEDY_DATABASE_URL", &test_db.url)
        .env("REMEDY_JWT_SECRET", "short")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
}
