//! The foundation: migrations on both backends, constraints, the demo plan, the binary.
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use entity::enums::*;
use entity::prelude::*;
use entity::*;
use migration::{Migrator, MigratorTrait};
use remedy::error::AppError;
use remedy::seed::{self, SeedOutcome};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, Set, Statement,
};
use serde_json::json;

use crate::helpers::*;

const TABLES: [&str; 28] = [
    "regulator",
    "regulatory_order",
    "finding",
    "owner",
    "system",
    "measure",
    "period_skip",
    "measure_finding",
    "measure_system",
    "occurrence",
    "evidence",
    "report",
    "report_measure",
    "evaluator",
    "evaluation",
    "audit_event",
    "api_token",
    "access_log",
    "regulator_history",
    "regulatory_order_history",
    "finding_history",
    "owner_history",
    "system_history",
    "measure_history",
    "measure_finding_history",
    "measure_system_history",
    "report_history",
    "report_measure_history",
];

async fn table_exists(db: &DatabaseConnection, table: &str) -> bool {
    let sql = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => format!(
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
        _ => format!("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '{table}'"),
    };
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap() == 1
}

async fn counts(db: &DatabaseConnection) -> BTreeMap<&'static str, i64> {
    let mut out = BTreeMap::new();
    for t in TABLES {
        let row = db
            .query_one(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {t}"),
            ))
            .await
            .unwrap()
            .unwrap();
        out.insert(t, row.try_get::<i64>("", "n").unwrap());
    }
    out
}

#[tokio::test]
async fn migrations_run_up_down_and_up_again() {
    let test_db = test_db().await;
    let db = connect(&test_db).await;
    Migrator::up(&db, None).await.unwrap();
    for t in TABLES {
        assert!(table_exists(&db, t).await, "{t} missing after up");
    }
    assert!(Migrator::get_pending_migrations(&db)
        .await
        .unwrap()
        .is_empty());
    Migrator::down(&db, None).await.unwrap();
    for t in TABLES {
        assert!(!table_exists(&db, t).await, "{t} still there after down");
    }
    assert_eq!(
        Migrator::get_pending_migrations(&db).await.unwrap().len(),
        Migrator::migrations().len()
    );
    Migrator::up(&db, None).await.unwrap();
    for t in TABLES {
        assert!(
            table_exists(&db, t).await,
            "{t} missing after the second up"
        );
    }
    // The schema is usable after the round trip.
    assert_eq!(seed::load_demo(&db).await.unwrap(), SeedOutcome::Loaded);
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

async fn insert_regulator(
    db: &DatabaseConnection,
    code: &str,
) -> Result<regulator::Model, AppError> {
    Ok(regulator::ActiveModel {
        code: Set(code.into()),
        name: Set(format!("Regulator {code}")),
        name_local: Set(None),
        kind: Set(RegulatorKind::Ministry),
        version: Set(1),
        archived_at: Set(None),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

async fn insert_order(
    db: &DatabaseConnection,
    regulator_id: i64,
    reference: &str,
) -> Result<regulatory_order::Model, AppError> {
    Ok(regulatory_order::ActiveModel {
        regulator_id: Set(regulator_id),
        kind: Set(OrderKind::Guidance),
        reference: Set(reference.into()),
        title: Set("t".into()),
        title_local: Set(None),
        legal_basis: Set(None),
        issued_on: Set("2022-07-13".parse().unwrap()),
        status: Set(OrderStatus::Open),
        summary: Set(None),
        version: Set(1),
        archived_at: Set(None),
        created_at: Set(now()),
        updated_at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

#[tokio::test]
async fn constraints_reject_bad_rows_with_clear_codes() {
    let test_db = test_db().await;
    let db = connect(&test_db).await;
    remedy::db::migrate(&db).await.unwrap();

    let reg = insert_regulator(&db, "METI").await.unwrap();
    insert_order(&db, reg.id, "REF-1").await.unwrap();

    // Duplicate unique reference: CONFLICT naming the field.
    let err = insert_order(&db, reg.id, "REF-1").await.unwrap_err();
    assert_eq!(err.code(), "CONFLICT", "{err:?}");
    assert!(err.message().contains("reference"), "{}", err.message());
    let err = insert_regulator(&db, "METI").await.unwrap_err();
    assert_eq!(err.code(), "CONFLICT");
    assert!(err.message().contains("code"), "{}", err.message());

    // Dangling foreign key: VALIDATION.
    let err = insert_order(&db, 999_999, "REF-2").await.unwrap_err();
    assert_eq!(err.code(), "VALIDATION", "{err:?}");

    // An enumeration value the schema does not know: VALIDATION.
    let backend = db.get_database_backend();
    let bad_enum = db
        .execute(Statement::from_string(
            backend,
            "INSERT INTO regulator (code, name, kind, version, created_at, updated_at) \
             VALUES ('X1', 'x', 'SHERIFF', 1, '2022-01-01T00:00:00Z', '2022-01-01T00:00:00Z')",
        ))
        .await
        .map_err(AppError::from)
        .unwrap_err();
    assert_eq!(bad_enum.code(), "VALIDATION", "{bad_enum:?}");

    // Empty code: VALIDATION (CHECK).
    let err = insert_regulator(&db, "").await.unwrap_err();
    assert_eq!(err.code(), "VALIDATION", "{err:?}");

    // Nothing of the failed inserts was written.
    assert_eq!(Regulator::find().count(&db).await.unwrap(), 1);
    assert_eq!(RegulatoryOrder::find().count(&db).await.unwrap(), 1);
    // Failures never leak SQL.
    for e in [err, bad_enum] {
        let msg = e.message().to_lowercase();
        assert!(
            !msg.contains("insert")
                && !msg.contains("constraint failed")
                && !msg.contains("sqlstate"),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn append_only_tables_refuse_updates_and_deletes() {
    let test_db = test_db().await;
    let db = connect(&test_db).await;
    remedy::db::migrate(&db).await.unwrap();
    seed::load_demo(&db).await.unwrap();
    let backend = db.get_database_backend();
    for sql in [
        "UPDATE audit_event SET actor = 'mallory'",
        "DELETE FROM audit_event",
        "UPDATE evidence SET title = 'forged'",
        "DELETE FROM evidence",
        "UPDATE evaluation SET verdict = 'UNSATISFACTORY'",
    ] {
        let res = db.execute(Statement::from_string(backend, sql)).await;
        assert!(res.is_err(), "{sql} was accepted");
    }
    let v = remedy::audit::verify(&db).await.unwrap();
    assert_eq!(v.first_broken, None);
    assert_eq!(
        v.events as i64,
        AuditEvent::find().count(&db).await.unwrap() as i64
    );
}

#[tokio::test]
async fn demo_seed_twice_equals_once() {
    let test_db = test_db().await;
    let db = connect(&test_db).await;
    remedy::db::migrate(&db).await.unwrap();
    assert_eq!(seed::load_demo(&db).await.unwrap(), SeedOutcome::Loaded);
    let once = counts(&db).await;
    assert_eq!(
        seed::load_demo(&db).await.unwrap(),
        SeedOutcome::AlreadyPresent
    );
    let twice = counts(&db).await;
    assert_eq!(once, twice);
    // Every row written by the seed has its audit event, and the chain holds.
    let audited: i64 = [
        "regulator",
        "regulatory_order",
        "finding",
        "owner",
        "system",
        "measure",
        "measure_finding",
        "measure_system",
        "occurrence",
        "evidence",
        "report",
        "report_measure",
        "evaluator",
        "evaluation",
    ]
    .iter()
    .map(|t| once[t])
    .sum();
    // Plus the events of the later versions the import records: each measure as the progress
    // notice describes it, each report's submission and acknowledgement.
    let later: i64 = ["measure_history", "report_history"]
        .iter()
        .map(|t| once[t])
        .sum::<i64>()
        - once["measure"]
        - once["report"];
    assert_eq!(once["audit_event"], audited + later);
    assert!(remedy::service::history::verify(&db)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(remedy::audit::verify(&db).await.unwrap().first_broken, None);
}

#[tokio::test]
async fn demo_plan_matches_the_seed_documents() {
    let test_db = test_db().await;
    let db = connect(&test_db).await;
    remedy::db::migrate(&db).await.unwrap();
    seed::load_demo(&db).await.unwrap();

    // Two regulators, one order each.
    assert_eq!(Regulator::find().count(&db).await.unwrap(), 2);
    let meti = RegulatoryOrder::find()
        .filter(regulatory_order::Column::Reference.eq("METI-2022-06-30"))
        .one(&db)
        .await
        .unwrap()
        .expect("METI order");
    let ppc = RegulatoryOrder::find()
        .filter(regulatory_order::Column::Reference.eq("PPC-2022-07-13"))
        .one(&db)
        .await
        .unwrap()
        .expect("PPC order");
    assert_eq!(meti.issued_on.to_string(), "2022-06-30");
    assert_eq!(meti.kind, OrderKind::ImprovementOrder);
    assert_eq!(ppc.issued_on.to_string(), "2022-07-13");
    assert_eq!(ppc.kind, OrderKind::Guidance);

    // The commission's table: 2 organisational directives, 3 technical rows with 2+4+2 items.
    let ppc_findings = Finding::find()
        .filter(finding::Column::OrderId.eq(ppc.id))
        .all(&db)
        .await
        .unwrap();
    let org = ppc_findings
        .iter()
        .filter(|f| f.category == FindingCategory::Organizational)
        .count();
    let tech = ppc_findings
        .iter()
        .filter(|f| f.category == FindingCategory::Technical)
        .count();
    assert_eq!((org, tech), (2, 8));
    let mut numbers: Vec<&str> = ppc_findings.iter().map(|f| f.number.as_str()).collect();
    numbers.sort();
    assert_eq!(
        numbers,
        ["1-1", "1-2", "T1-1", "T1-2", "T2-1", "T2-2", "T2-3", "T2-4", "T3-1", "T3-2"]
    );
    // Every finding is answered by at least one measure.
    for f in Finding::find().all(&db).await.unwrap() {
        let n = MeasureFinding::find()
            .filter(measure_finding::Column::FindingId.eq(f.id))
            .count(&db)
            .await
            .unwrap();
        assert!(n > 0, "finding {} has no measure", f.number);
    }

    // Systems: the net payment system, seven front systems, two admin screens.
    let systems = System::find().all(&db).await.unwrap();
    assert_eq!(
        systems
            .iter()
            .filter(|s| s.kind == SystemKind::Payment)
            .count(),
        1
    );
    assert_eq!(
        systems
            .iter()
            .filter(|s| s.kind == SystemKind::Front)
            .count(),
        7
    );
    assert!(systems
        .iter()
        .filter(|s| s.kind == SystemKind::Front)
        .all(|s| !s.holds_card_data));

    // PCI DSS attestations: three for the net payment system, six front systems.
    let attestations = Evidence::find()
        .filter(evidence::Column::Kind.eq(EvidenceKind::Attestation))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(attestations.len(), 9);
    let mut dates: Vec<String> = attestations
        .iter()
        .map(|e| e.issued_on.unwrap().to_string())
        .collect();
    dates.sort();
    assert_eq!(
        dates,
        [
            "2022-05-20",
            "2022-05-25",
            "2022-06-11",
            "2022-07-28",
            "2022-07-28",
            "2022-07-28",
            "2022-09-30",
            "2022-10-07",
            "2022-11-25"
        ]
    );
    // Hashes are the real SHA-256 of the stored bytes.
    for e in &attestations {
        use sha2::Digest;
        let content = e.content.as_ref().expect("stored bytes");
        assert_eq!(hex::encode(sha2::Sha256::digest(content)), e.sha256);
        assert_eq!(e.size_bytes as usize, content.len());
    }

    // Reports: 08-01, 09-15, 10-06 filed and the year-end one still a draft (METI); 08-01 (PPC).
    let reports = Report::find().all(&db).await.unwrap();
    let mut meti_reports: Vec<(String, ReportStatus)> = reports
        .iter()
        .filter(|r| r.order_id == meti.id)
        .map(|r| {
            (
                r.submitted_on.map(|d| d.to_string()).unwrap_or_default(),
                r.status,
            )
        })
        .collect();
    meti_reports.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        meti_reports,
        [
            (String::new(), ReportStatus::Draft),
            ("2022-08-01".into(), ReportStatus::Submitted),
            ("2022-09-15".into(), ReportStatus::Submitted),
            ("2022-10-06".into(), ReportStatus::Submitted),
        ]
    );
    assert_eq!(reports.iter().filter(|r| r.order_id == ppc.id).count(), 1);
    for r in reports.iter().filter(|r| r.status != ReportStatus::Draft) {
        assert!(
            r.snapshot.is_some(),
            "submitted report {} has no snapshot",
            r.code
        );
    }

    // Measures as of 2022-11-29: pen tests and the front systems due in December, still in progress.
    let measures = Measure::find().all(&db).await.unwrap();
    let due_december: Vec<&str> = measures
        .iter()
        .filter(|m| {
            m.due_on
                .is_some_and(|d| d.to_string().starts_with("2022-12"))
        })
        .map(|m| m.code.as_str())
        .collect();
    assert!(due_december.len() >= 2, "{due_december:?}");
    for m in measures
        .iter()
        .filter(|m| due_december.contains(&m.code.as_str()))
    {
        assert_eq!(m.status, MeasureStatus::InProgress, "{}", m.code);
    }
    // The recurring ones with their cadence.
    let recurrence = |code_part: &str| {
        measures
            .iter()
            .filter(|m| m.title.to_lowercase().contains(code_part))
            .map(|m| m.recurrence)
            .collect::<Vec<_>>()
    };
    assert!(recurrence("log").contains(&Recurrence::Weekly));
    assert!(recurrence("scan").contains(&Recurrence::Monthly));
    assert!(measures
        .iter()
        .any(|m| m.recurrence == Recurrence::Quarterly));
    // Done measures carry their completion date, open ones none in the future of the notice.
    for m in &measures {
        if matches!(
            m.status,
            MeasureStatus::Implemented | MeasureStatus::Verified
        ) {
            let done = m
                .completed_on
                .unwrap_or_else(|| panic!("{} done without a date", m.code));
            assert!(done <= "2022-11-29".parse().unwrap(), "{}", m.code);
        }
    }
    // The third-party committee and its two members.
    let evaluators = Evaluator::find().all(&db).await.unwrap();
    assert_eq!(
        evaluators
            .iter()
            .filter(|e| e.kind == EvaluatorKind::Committee)
            .count(),
        1
    );
    assert_eq!(
        evaluators
            .iter()
            .filter(|e| e.kind == EvaluatorKind::Member)
            .count(),
        2
    );
}

#[tokio::test]
async fn graphql_serves_regulators_with_their_orders() {
    let app = spawn_demo_app().await;
    let data = app
        .query_ok(
            "{ regulators { nodes { id code nameLocal orders { nodes { reference issuedOn status kind } } } } }",
            json!({}),
        )
        .await;
    let regs = data["regulators"]["nodes"].as_array().unwrap();
    assert_eq!(
        regs.len() as u64,
        Regulator::find().count(&app.db).await.unwrap()
    );
    assert_eq!(regs.len(), 2);
    assert_eq!(regs[0]["code"], "METI");
    assert_eq!(regs[0]["nameLocal"], "経済産業省");
    assert_eq!(
        regs[0]["orders"]["nodes"][0]["reference"],
        "METI-2022-06-30"
    );
    assert_eq!(regs[0]["orders"]["nodes"][0]["kind"], "IMPROVEMENT_ORDER");
    assert_eq!(regs[1]["code"], "PPC");
    assert_eq!(regs[1]["orders"]["nodes"][0]["issuedOn"], "2022-07-13");
    assert_eq!(regs[1]["orders"]["nodes"][0]["kind"], "GUIDANCE");
    // IDs are opaque.
    assert!(!regs[0]["id"].as_str().unwrap().contains("Regulator"));

    let (_, body) = app
        .graphql(
            "{ orderByReference(reference: \"NOPE\") { reference } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
}

#[tokio::test]
async fn graphiql_is_served_without_any_external_asset() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/graphiql", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external reference in GraphiQL page"
    );
    let mut scripts = 0;
    for part in html
        .split("src=\"")
        .skip(1)
        .chain(html.split("href=\"").skip(1))
    {
        let path = part.split('"').next().unwrap();
        if !path.starts_with("/graphiql/") {
            continue;
        }
        scripts += 1;
        let asset = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), 200, "{path}");
    }
    assert!(scripts >= 4, "the page loads {scripts} local assets");
    let boot = app
        .client
        .get(format!("{}/graphiql/boot.js", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!boot.contains("://"), "boot.js references an external URL");
    let missing = app
        .client
        .get(format!("{}/graphiql/../../Cargo.toml", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let h = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    let r = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn committed_schema_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql"))
            .expect("schema.graphql at the workspace root");
    let generated = remedy::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_remedy"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}

/// The real binary: `remedy serve --demo` on a free port answers a first query over HTTP.
#[tokio::test]
async fn binary_serves_the_demo_plan() {
    let test_db = test_db().await;
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args(["serve", "--demo"])
        .env("REMEDY_DATABASE_URL", &test_db.url)
        .env("REMEDY_LISTEN", format!("127.0.0.1:{port}"))
        .env("REMEDY_WORKERS", "1")
        .env_remove("REMEDY_JWT_SECRET")
        .env_remove("REMEDY_JWT_JWKS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn remedy serve");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "remedy serve did not become ready");
    // With no key configured, --demo made a secret and printed ready-to-paste tokens.
    let mut stdout = child.stdout.take().unwrap();
    let mut printed = Vec::new();
    {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 8192];
        while !String::from_utf8_lossy(&printed).contains("EVALUATOR") {
            let n = tokio::time::timeout(Duration::from_secs(10), stdout.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "stdout closed");
            printed.extend_from_slice(&buf[..n]);
        }
    }
    let printed = String::from_utf8(printed).unwrap();
    let admin = printed
        .lines()
        .find_map(|l| l.strip_prefix("ADMIN"))
        .map(|t| t.trim().to_string())
        .expect("an ADMIN token line");
    let unauthenticated = client
        .post(format!("{base}/graphql"))
        .json(&json!({"query": "{ regulators { code } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let body: serde_json::Value = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&admin)
        .json(&json!({"query": "{ regulators { nodes { code orders { nodes { reference } } } } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    let refs: Vec<&str> = body["data"]["regulators"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["orders"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["reference"].as_str().unwrap())
        })
        .collect();
    assert_eq!(refs, ["METI-2022-06-30", "PPC-2022-07-13"]);
    child.kill().await.ok();

    // A second start on the same database does not load the demo plan again.
    let db = connect(&test_db).await;
    assert_eq!(Measure::find().count(&db).await.unwrap(), 33);
}

/// The demo plan is the same data on every load: two fresh databases hold the same frozen
/// report snapshots (each lists its evidence by id), whatever order the seed met them in.
#[tokio::test]
async fn demo_snapshots_are_the_same_on_every_load() {
    use sea_orm::{EntityTrait, QueryOrder};
    let mut loads = Vec::new();
    for _ in 0..2 {
        let test_db = test_db().await;
        let db = connect(&test_db).await;
        remedy::db::migrate(&db).await.unwrap();
        seed::load_demo(&db).await.unwrap();
        let snapshots: Vec<(String, Option<String>)> = entity::report::Entity::find()
            .order_by_asc(entity::report::Column::Code)
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.code, r.snapshot))
            .collect();
        loads.push(snapshots);
    }
    assert!(loads[0].iter().filter(|r| r.1.is_some()).count() >= 3);
    assert_eq!(loads[0], loads[1]);
    // Within each snapshot, every measure's evidence is listed by id.
    for (code, snapshot) in &loads[0] {
        let Some(text) = snapshot else { continue };
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        for m in v["measures"].as_array().unwrap() {
            let ids: Vec<i64> = m["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap())
                .collect();
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            assert_eq!(ids, sorted, "{code}: {}", m["code"]);
        }
    }
}
