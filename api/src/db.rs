//! Connecting to the database and running migrations.
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

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
