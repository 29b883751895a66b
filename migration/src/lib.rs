//! Database migrations for remedy. One set of migrations serves SQLite and PostgreSQL.
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_init;
mod m20261201_000001_history;
mod m20261202_000001_owner_account;
mod m20261203_000001_ledger;
mod m20261204_000001_approvals;
mod m20261205_000001_notices;
mod m20261206_000001_order_disclosure;
mod m20261207_000001_notify;
mod m20261208_000001_bundle_keys;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_init::Migration),
            Box::new(m20261201_000001_history::Migration),
            Box::new(m20261202_000001_owner_account::Migration),
            Box::new(m20261203_000001_ledger::Migration),
            Box::new(m20261204_000001_approvals::Migration),
            Box::new(m20261205_000001_notices::Migration),
            Box::new(m20261206_000001_order_disclosure::Migration),
            Box::new(m20261207_000001_notify::Migration),
            Box::new(m20261208_000001_bundle_keys::Migration),
        ]
    }
}
