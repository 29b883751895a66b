use std::net::TcpListener;
use std::path::PathBuf;

use remedy::config::{DbConfig, ServerConfig};
use remedy::server::{self, AppState};
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

pub async fn connect(db: &TestDb) -> DatabaseConnection {
    remedy::db::connect(&DbConfig::new(db.url.clone()))
        .await
        .expect("connect")
}

pub struct TestApp {
    pub address: String,
    pub db: DatabaseConnection,
    pub client: reqwest::Client,
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

async fn spawn(demo: bool) -> TestApp {
    let test_db = test_db().await;
    let db = connect(&test_db).await;
    remedy::db::migrate(&db).await.expect("migrate");
    if demo {
        remedy::seed::load_demo(&db).await.expect("seed");
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
    let config = ServerConfig {
        workers: 1,
        ..ServerConfig::default()
    };
    let (running, addr) =
        server::start(AppState::new(db.clone(), config), listener).expect("start server");
    tokio::spawn(running);
    TestApp {
        address: format!("http://{addr}"),
        db,
        client: reqwest::Client::new(),
        _test_db: test_db,
    }
}

impl TestApp {
    /// Posts a GraphQL request and returns the HTTP status and the JSON body.
    pub async fn graphql(&self, query: &str, variables: Value) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        let body = res.json::<Value>().await.expect("JSON body");
        (status, body)
    }

    /// A query that must succeed: returns `data`, failing the test on any error.
    pub async fn query_ok(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(query, variables).await;
        assert_eq!(status, 200, "HTTP status for {query}: {body}");
        assert!(body.get("errors").is_none(), "errors for {query}: {body}");
        body["data"].clone()
    }
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
