use std::net::TcpListener;
use std::path::PathBuf;

use std::sync::Arc;

use remedy::auth::jwt::{Claims, Keys};
use remedy::auth::{default_scope, Role};
use remedy::config::{AuthConfig, DbConfig, ServerConfig};
use remedy::server::{self, AppState};
use remedy::service::tokens;
use remedy::service::write::WriteGate;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{json, Value};

/// A database for one test.
pub struct TestDb {
    pub url: String,
    // Keeps the SQLite file's directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
}

/// A fresh, empty database: a new SQLite file, or a new database on the PostgreSQL server
/// named by `REMEDY_TEST_DATABASE_URL` (any database there the test user can connect to).
pub async fn test_db() -> TestDb {
    match std::env::var("REMEDY_TEST_DATABASE_URL") {
        Ok(base) if base.starts_with("postgres") => {
            let name = format!("remedy_t_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(base.as_str())
                .await
                .expect("connect to REMEDY_TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
            TestDb {
                url: format!("{prefix}/{name}"),
                _dir: None,
            }
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path: PathBuf = dir.path().join("remedy.db");
            TestDb {
                url: format!("sqlite://{}?mode=rwc", path.display()),
                _dir: Some(dir),
            }
        }
    }
}

/// The PostgreSQL server of a test that only makes sense there. Such tests are marked
/// `#[ignore]` so that a SQLite run reports them as ignored, not passed; the PostgreSQL run
/// includes them (`-- --include-ignored`), and one run by hand without a server fails here.
pub fn postgres_only() -> String {
    match std::env::var("REMEDY_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => panic!("this test needs PostgreSQL: set REMEDY_TEST_DATABASE_URL"),
    }
}

pub async fn connect(db: &TestDb) -> DatabaseConnection {
    remedy::db::connect(&DbConfig::new(db.url.clone()))
        .await
        .expect("connect")
}

/// The HS256 secret of test servers.
pub const TEST_SECRET: &str = "test-secret-test-secret-test-secret-0123";

pub struct TestApp {
    /// SQL statements the server issued so far (all connections of its pool).
    pub statements: Arc<std::sync::atomic::AtomicU64>,
    pub address: String,
    pub db: DatabaseConnection,
    pub client: reqwest::Client,
    pub keys: Arc<Keys>,
    /// An ADMIN token, used by `graphql` and `query_ok`.
    pub admin_token: String,
    /// The server's write gate, taken by writes the test makes through remedy's services
    /// (such as issuing tokens) while the server runs.
    pub gate: Arc<WriteGate>,
    /// The server's budget of dashboard rollups (tests hold its turns).
    pub rollups: remedy::graphql::dashboard::Rollups,
    /// Keeps the database (and a SQLite file's directory) alive while the app runs.
    pub _test_db: TestDb,
}

/// Starts remedy in-process on a random port over a fresh, migrated database.
pub async fn spawn_app() -> TestApp {
    spawn(false).await
}

/// The same, with the demo plan loaded.
pub async fn spawn_demo_app() -> TestApp {
    spawn(true).await
}

/// The demo plan behind a server that also accepts the RS256 and EdDSA keys of
/// `tests/fixtures/jwks.json`.
pub async fn spawn_demo_app_with_jwks() -> TestApp {
    let mut auth = AuthConfig::with_secret(TEST_SECRET);
    auth.jwt_jwks = Some(fixture("jwks.json"));
    spawn_with(true, auth).await
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures")).join(name)
}

async fn spawn(demo: bool) -> TestApp {
    spawn_with(demo, AuthConfig::with_secret(TEST_SECRET)).await
}

/// The demo plan behind a server with its settings adjusted.
pub async fn spawn_demo_app_configured(adjust: impl FnOnce(&mut ServerConfig)) -> TestApp {
    let mut config = ServerConfig {
        workers: 1,
        ..ServerConfig::default()
    };
    adjust(&mut config);
    spawn_full(true, AuthConfig::with_secret(TEST_SECRET), config).await
}

/// The demo plan behind a server with its token settings adjusted (e.g. `token_max_ttl`).
pub async fn spawn_demo_app_with_auth(adjust: impl FnOnce(&mut AuthConfig)) -> TestApp {
    let mut auth = AuthConfig::with_secret(TEST_SECRET);
    adjust(&mut auth);
    spawn_with(true, auth).await
}

async fn spawn_with(demo: bool, auth: AuthConfig) -> TestApp {
    let config = ServerConfig {
        workers: 1,
        ..ServerConfig::default()
    };
    spawn_full(demo, auth, config).await
}

async fn spawn_full(demo: bool, auth: AuthConfig, config: ServerConfig) -> TestApp {
    let test_db = test_db().await;
    let mut db = connect(&test_db).await;
    let statements = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = statements.clone();
    db.set_metric_callback(move |_info| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    remedy::db::migrate(&db).await.expect("migrate");
    if demo {
        remedy::seed::load_demo(&db).await.expect("seed");
    }
    let keys = Arc::new(Keys::from_config(&auth).unwrap());
    let (address, gate, rollups) = serve(&db, config, &keys);
    let admin_token = issue(&db, &gate, &keys, "test-admin", &[Role::Admin], &[]).await;
    TestApp {
        statements,
        address,
        db,
        client: reqwest::Client::new(),
        keys,
        admin_token,
        gate,
        rollups,
        _test_db: test_db,
    }
}

/// Starts a server on a random port over the database; returns its base URL, write gate and
/// dashboard budget.
fn serve(
    db: &DatabaseConnection,
    config: ServerConfig,
    keys: &Arc<Keys>,
) -> (String, Arc<WriteGate>, remedy::graphql::dashboard::Rollups) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
    let state = AppState::new(db.clone(), config, keys.clone());
    let gate = state.gate.clone();
    let rollups = state.rollups.clone();
    let (running, addr) = server::start(state, listener).expect("start server");
    tokio::spawn(running);
    (format!("http://{addr}"), gate, rollups)
}

/// Issues a real token through remedy's token service (recorded, revocable), through the
/// write gate of the server on that database.
pub async fn issue(
    db: &DatabaseConnection,
    gate: &WriteGate,
    keys: &Keys,
    subject: &str,
    roles: &[Role],
    orders: &[i64],
) -> String {
    let req = tokens::IssueRequest {
        subject: subject.to_string(),
        roles: roles.to_vec(),
        orders: orders.to_vec(),
        ttl: chrono::Duration::hours(1),
        scope: None,
    };
    tokens::issue(db, gate, keys, &tokens::Issuer::operator("test"), req)
        .await
        .expect("issue token")
        .0
}

/// Claims as remedy would issue them, for tests that forge variations.
pub fn claims_for(subject: &str, roles: &[Role]) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: subject.to_string(),
        jti: uuid::Uuid::new_v4().to_string(),
        roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
        scope: default_scope(roles),
        orders: None,
        exp: now + 600,
        nbf: Some(now),
        iat: Some(now),
        iss: "remedy".into(),
        aud: json!("remedy"),
    }
}

impl TestApp {
    /// A token for a role (and, for evaluators, orders given by reference).
    pub async fn token(&self, role: Role, order_refs: &[&str]) -> String {
        let mut ids = Vec::new();
        for r in order_refs {
            ids.push(tokens::resolve_order(&self.db, r).await.expect("order"));
        }
        issue(
            &self.db,
            &self.gate,
            &self.keys,
            &format!("test-{}", role.as_str().to_lowercase()),
            &[role],
            &ids,
        )
        .await
    }

    /// Posts a GraphQL request as ADMIN and returns the HTTP status and the JSON body.
    pub async fn graphql(&self, query: &str, variables: Value) -> (u16, Value) {
        self.graphql_as(Some(&self.admin_token), query, variables)
            .await
    }

    /// Posts a GraphQL request with the given bearer token (or none).
    pub async fn graphql_as(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        self.graphql_at(&self.address, token, query, variables)
            .await
    }

    /// Posts a GraphQL request to the server at `address` (this app's, or a [`Self::twin`]'s).
    pub async fn graphql_at(
        &self,
        address: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{address}/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let body = res.json::<Value>().await.expect("JSON body");
        (status, body)
    }

    /// A GraphQL multipart request (the upload spec): `file_var` is the variable that gets the file.
    pub async fn upload(
        &self,
        token: &str,
        query: &str,
        mut variables: Value,
        file_var: &str,
        bytes: Vec<u8>,
        media: &str,
    ) -> (u16, Value) {
        variables[file_var] = Value::Null;
        let operations = json!({ "query": query, "variables": variables });
        let map = json!({ "0": [format!("variables.{file_var}")] });
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("document.bin")
            .mime_str(media)
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", map.to_string())
            .part("0", part);
        let res = self
            .client
            .post(format!("{}/graphql", self.address))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// A second server on the same database, with the same keys and its settings adjusted,
    /// to compare two configurations answer by answer (reads: it has its own write gate, as
    /// a second process would). Returns its address.
    pub async fn twin(&self, adjust: impl FnOnce(&mut ServerConfig)) -> String {
        let mut config = ServerConfig {
            workers: 1,
            ..ServerConfig::default()
        };
        adjust(&mut config);
        serve(&self.db, config, &self.keys).0
    }

    /// The `/metrics` exposition of the server at `address` (no token; Prometheus text
    /// format).
    pub async fn metrics_at(&self, address: &str) -> String {
        let res = self
            .client
            .get(format!("{address}/metrics"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "/metrics needs no token");
        let ctype = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
        res.text().await.expect("metrics text")
    }

    /// A query with a token that must succeed.
    pub async fn query_ok_as(&self, token: &str, query: &str) -> Value {
        let (status, body) = self.graphql_as(Some(token), query, json!({})).await;
        assert_eq!(status, 200, "HTTP status for {query}: {body}");
        assert!(body.get("errors").is_none(), "errors for {query}: {body}");
        body["data"].clone()
    }

    /// A query that must succeed: returns `data`, failing the test on any error.
    pub async fn query_ok(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(query, variables).await;
        assert_eq!(status, 200, "HTTP status for {query}: {body}");
        assert!(body.get("errors").is_none(), "errors for {query}: {body}");
        body["data"].clone()
    }
}

/// The `jti` of a token (its payload read without verification: the test made it).
pub fn jti_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url payload"),
    )
    .expect("JSON claims");
    claims["jti"].as_str().expect("a jti").to_string()
}

/// The error codes of a GraphQL response.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("<none>")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A port that was free a moment ago (for child processes that bind it themselves).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The findings of an order and the measures answering them (what a token granted that
/// order may see of both), from the database.
pub async fn findings_and_measures_of(
    db: &DatabaseConnection,
    order_id: i64,
) -> (
    std::collections::BTreeSet<i64>,
    std::collections::BTreeSet<i64>,
) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let findings: std::collections::BTreeSet<i64> = entity::finding::Entity::find()
        .filter(entity::finding::Column::OrderId.eq(order_id))
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|f| f.id)
        .collect();
    let measures = entity::measure_finding::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .filter(|l| findings.contains(&l.finding_id))
        .map(|l| l.measure_id)
        .collect();
    (findings, measures)
}
