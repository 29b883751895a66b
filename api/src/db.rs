//! Connecting to the database and running migrations.
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{BinOper, SimpleExpr, Value};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, IntoSimpleExpr};

use crate::config::DbConfig;

/// Connects to the configured database. A SQLite file is created if missing.
pub async fn connect(cfg: &DbConfig) -> anyhow::Result<DatabaseConnection> {
    let url = cfg.database_url.clone();
    let mut opts = ConnectOptions::new(url.clone());
    let is_sqlite = url.starts_with("sqlite:");
    opts.max_connections(if is_sqlite {
        cfg.db_max_connections.min(4)
    } else {
        cfg.db_max_connections
    })
    .min_connections(if is_sqlite { 1 } else { 0 })
    .acquire_timeout(Duration::from_secs(cfg.db_acquire_timeout))
    .connect_timeout(Duration::from_secs(cfg.db_acquire_timeout))
    .test_before_acquire(cfg.db_test_before_acquire)
    .sqlx_logging(false);
    if is_sqlite {
        // Set on every connection the pool opens (not on one pooled connection): WAL lets
        // readers proceed while one writer writes (the mode is kept in the file; asking again
        // on a WAL database is a no-op), a busy connection waits up to 5 s for a lock, and
        // foreign keys are enforced. sqlx's defaults already give the last two; they are
        // spelled out so that a change of defaults cannot drop them.
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    }
    if !is_sqlite && cfg.db_statement_timeout > 0 {
        // Sent as a startup parameter, so every connection the pool opens has it.
        let ms = cfg.db_statement_timeout.saturating_mul(1000).to_string();
        opts.map_sqlx_postgres_opts(move |o| o.options([("statement_timeout", ms.clone())]));
    }
    let mut db = Database::connect(opts)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the database at {}: {e}", redact(&url)))?;
    db.set_metric_callback(crate::telemetry::record_statement);
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

pub use crate::config::redact;

/// `col IN (1, 2, 3)` for a list of row ids of any length, with the ids written into the SQL
/// as integer literals: the statement binds no parameter for them.
///
/// Use it instead of `is_in` for every list of ids that grows with the data. `is_in` binds
/// one parameter per element, and a statement may bind at most 65,535 parameters on
/// PostgreSQL and 32,766 on SQLite: past that the statement fails, so a plan large enough
/// (100,000 measures) broke every read that listed its measures. Inlining is safe here only
/// because the values are `i64`s that sea-query formats as digits itself; never inline a
/// string this way (bind strings, in chunks of at most [`MAX_BOUND_LIST`] if need be).
///
/// `col` is a sea-orm column (`measure::Column::Id`, qualified by its table as `is_in`
/// does) or any expression (`Expr::col((finding::Entity, finding::Column::OrderId))`). The
/// ids are written sorted and once each, so that the same set gives the same SQL text
/// whatever order it came in (a `HashMap`'s keys come in a new order each time), and the
/// drivers' per-connection caches of prepared statements (sqlx keeps 100, keyed by that
/// text) find it again rather than keep a copy per order; another set is another statement.
/// An empty list gives `1 = 0`, false, as `is_in([])` is (which binds `1 = 2`).
pub fn in_ids(col: impl IntoSimpleExpr, ids: impl IntoIterator<Item = i64>) -> SimpleExpr {
    let constant = |n: i64| SimpleExpr::Constant(Value::BigInt(Some(n)));
    let mut ids: Vec<i64> = ids.into_iter().collect();
    if ids.is_empty() {
        return SimpleExpr::Binary(Box::new(constant(1)), BinOper::Equal, Box::new(constant(0)));
    }
    ids.sort_unstable();
    ids.dedup();
    SimpleExpr::Binary(
        Box::new(col.into_simple_expr()),
        BinOper::In,
        Box::new(SimpleExpr::Tuple(ids.into_iter().map(constant).collect())),
    )
}

/// The most values a list bound as parameters (strings, which [`in_ids`] must not take)
/// may hold in one statement: lists longer than this are split over several statements,
/// well under the backends' limits (65,535 parameters on PostgreSQL, 32,766 on SQLite) with
/// room for the statement's other parameters.
pub const MAX_BOUND_LIST: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::*;
    use entity::{measure, regulator};
    use sea_orm::sea_query::{Expr, Query};
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    };
    use sea_orm::{QueryOrder, QuerySelect, QueryTrait, Set, Statement};

    fn both(stmt: &sea_orm::sea_query::SelectStatement) -> [(String, usize); 2] {
        [DatabaseBackend::Postgres, DatabaseBackend::Sqlite].map(|b| {
            let s = b.build(stmt);
            (s.sql, s.values.map_or(0, |v| v.0.len()))
        })
    }

    #[test]
    fn a_plain_column_is_qualified_by_its_table_and_binds_nothing() {
        let q = measure::Entity::find()
            .select_only()
            .column(measure::Column::Id)
            .filter(in_ids(measure::Column::Id, [3, 1, 2]))
            .into_query();
        for (sql, params) in both(&q) {
            assert_eq!(
                sql,
                r#"SELECT "measure"."id" FROM "measure" WHERE "measure"."id" IN (1, 2, 3)"#
            );
            assert_eq!(params, 0);
        }
    }

    #[test]
    fn a_qualified_expression_works_beside_bound_values() {
        let q = Query::select()
            .column(measure::Column::Id)
            .from(measure::Entity)
            .and_where(Expr::col((measure::Entity, measure::Column::Code)).eq("M-1"))
            .and_where(in_ids(
                Expr::col((measure::Entity, measure::Column::OwnerId)),
                [i64::MAX, -1, 0, -1],
            ))
            .to_owned();
        let [(pg, pg_params), (lite, lite_params)] = both(&q);
        assert_eq!(
            pg,
            r#"SELECT "id" FROM "measure" WHERE "measure"."code" = $1 AND "measure"."owner_id" IN (-1, 0, 9223372036854775807)"#
        );
        assert_eq!(
            lite,
            r#"SELECT "id" FROM "measure" WHERE "measure"."code" = ? AND "measure"."owner_id" IN (-1, 0, 9223372036854775807)"#
        );
        assert_eq!((pg_params, lite_params), (1, 1));
    }

    #[test]
    fn an_empty_list_is_false_and_binds_nothing() {
        let q = Query::select()
            .column(measure::Column::Id)
            .from(measure::Entity)
            .and_where(Expr::col(measure::Column::Code).eq("M-1"))
            .and_where(in_ids(measure::Column::Id, []))
            .to_owned();
        let [(pg, pg_params), (lite, lite_params)] = both(&q);
        assert_eq!(
            pg,
            r#"SELECT "id" FROM "measure" WHERE "code" = $1 AND 1 = 0"#
        );
        assert_eq!(
            lite,
            r#"SELECT "id" FROM "measure" WHERE "code" = ? AND 1 = 0"#
        );
        assert_eq!((pg_params, lite_params), (1, 1));
        // `is_in` gives a false condition too, with two bound values.
        let theirs = Query::select()
            .column(measure::Column::Id)
            .from(measure::Entity)
            .and_where(measure::Column::Id.is_in(Vec::<i64>::new()))
            .to_owned();
        assert_eq!(
            both(&theirs)[0],
            (r#"SELECT "id" FROM "measure" WHERE $1 = $2"#.to_string(), 2)
        );
    }

    #[test]
    fn the_same_set_gives_the_same_sql_in_any_order() {
        let q = |ids: &[i64]| {
            measure::Entity::find()
                .filter(in_ids(measure::Column::Id, ids.iter().copied()))
                .build(DatabaseBackend::Postgres)
                .sql
        };
        assert_eq!(q(&[3, 1, 2, 3, 1]), q(&[1, 2, 3]));
        assert!(q(&[2, 1]).ends_with(r#"WHERE "measure"."id" IN (1, 2)"#));
    }

    async fn regulator(db: &DatabaseConnection, code: &str) -> i64 {
        let now = chrono::Utc::now();
        regulator::ActiveModel {
            code: Set(code.into()),
            name: Set(format!("Regulator {code}")),
            name_local: Set(None),
            kind: Set(entity::enums::RegulatorKind::Other),
            version: Set(1),
            archived_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap()
        .id
    }

    /// 40,000 ids are more than SQLite binds in one statement: `is_in` fails, the helper
    /// answers, and with the right rows.
    #[tokio::test]
    async fn a_list_past_the_parameter_limit_runs_on_sqlite() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        migrate(&db).await.unwrap();
        let a = regulator(&db, "A").await;
        let b = regulator(&db, "B").await;
        let c = regulator(&db, "C").await;
        // Far ids, then `a` and `c` among them (not `b`).
        let ids: Vec<i64> = (1_000_000..1_040_000).chain([a, c]).collect();
        assert!(ids.len() > 32_766);

        let bound = regulator::Entity::find()
            .filter(regulator::Column::Id.is_in(ids.clone()))
            .all(&db)
            .await;
        let err = bound
            .expect_err("is_in binds one parameter per id")
            .to_string();
        assert!(err.contains("too many SQL variables"), "{err}");

        let found: Vec<i64> = regulator::Entity::find()
            .filter(in_ids(regulator::Column::Id, ids))
            .order_by_asc(regulator::Column::Id)
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(found, vec![a, c]);
        assert_ne!(a, b);

        let none = regulator::Entity::find()
            .filter(in_ids(regulator::Column::Id, []))
            .all(&db)
            .await
            .unwrap();
        assert!(none.is_empty());
    }

    /// The same past PostgreSQL's limit (65,535 parameters), on no table.
    #[tokio::test]
    #[ignore = "PostgreSQL only: runs with REMEDY_TEST_DATABASE_URL set and -- --include-ignored"]
    async fn a_list_past_the_parameter_limit_runs_on_postgres() {
        let url = std::env::var("REMEDY_TEST_DATABASE_URL")
            .expect("this test needs PostgreSQL: set REMEDY_TEST_DATABASE_URL");
        let db = Database::connect(url.as_str()).await.unwrap();
        let backend = db.get_database_backend();
        assert_eq!(backend, DatabaseBackend::Postgres);
        let ids = || (0..100_000i64).map(|i| i * 7);
        let select = |cond| {
            Query::select()
                .expr_as(Expr::val(1i64), sea_orm::sea_query::Alias::new("one"))
                .and_where(cond)
                .to_owned()
        };
        let bound = db
            .query_all(backend.build(&select(Expr::val(70i64).is_in(ids()))))
            .await;
        let err = bound
            .expect_err("is_in binds one parameter per id")
            .to_string();
        assert!(err.contains("too many arguments"), "{err}");
        let none = db
            .query_all(backend.build(&select(in_ids(Expr::val(70i64), []))))
            .await
            .unwrap();
        assert!(none.is_empty());
        for (probe, rows) in [(70i64, 1), (71, 0), (699_993, 1), (700_000, 0)] {
            let found = db
                .query_all(backend.build(&select(in_ids(Expr::val(probe), ids()))))
                .await
                .unwrap();
            assert_eq!(found.len(), rows, "{probe}");
        }
    }

    /// Every pooled connection carries the statement timeout: a statement running past it is
    /// cancelled by the server and reaches clients as TIMEOUT, not as an unavailable database;
    /// 0 sets no limit.
    #[tokio::test]
    #[ignore = "PostgreSQL only: runs with REMEDY_TEST_DATABASE_URL set and -- --include-ignored"]
    async fn a_statement_past_the_timeout_is_cancelled_with_timeout() {
        let url = std::env::var("REMEDY_TEST_DATABASE_URL")
            .expect("this test needs PostgreSQL: set REMEDY_TEST_DATABASE_URL");
        let mut cfg = DbConfig::new(url);
        cfg.db_statement_timeout = 1;
        let db = connect(&cfg).await.unwrap();
        let backend = db.get_database_backend();
        let sleep = |s: f64| Statement::from_string(backend, format!("SELECT pg_sleep({s})"));
        for _ in 0..3 {
            // Each statement on whichever pooled connection it gets.
            let shown = db
                .query_one(Statement::from_string(backend, "SHOW statement_timeout"))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<String>(0)
                .unwrap();
            assert_eq!(shown, "1s");
        }
        let started = std::time::Instant::now();
        let err = crate::error::AppError::from(db.query_one(sleep(5.0)).await.unwrap_err());
        assert_eq!(err.code(), "TIMEOUT");
        assert!(started.elapsed() < std::time::Duration::from_secs(4));
        db.query_one(sleep(0.1)).await.unwrap();

        cfg.db_statement_timeout = 0;
        let unlimited = connect(&cfg).await.unwrap();
        unlimited.query_one(sleep(1.5)).await.unwrap();
    }
}
