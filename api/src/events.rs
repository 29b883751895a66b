//! Change events for GraphQL subscriptions, published after a mutation commits.
//!
//! On SQLite (one process) they go through an in-process `tokio::sync::broadcast`. On
//! PostgreSQL they go through `NOTIFY remedy_changes` and every replica's dedicated `LISTEN`
//! connection feeds its local broadcast, so a change made through one replica reaches the
//! subscribers of all. A notification names the entity, its id and its orders, never row
//! data: subscribers read the row themselves, through their own authorisation.
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

/// The PostgreSQL channel.
pub const CHANNEL: &str = "remedy_changes";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Measure,
    Report,
    /// A token was revoked (`jti`): open connections authenticated with it close.
    Token,
}

/// One committed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: Kind,
    pub id: i64,
    /// The orders the entity belongs to (a measure: through its findings).
    pub orders: Vec<i64>,
    /// The revoked token's `jti` (`Kind::Token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl Change {
    /// A revoked token.
    pub fn token_revoked(jti: &str) -> Self {
        Self {
            kind: Kind::Token,
            id: 0,
            orders: Vec::new(),
            jti: Some(jti.to_string()),
        }
    }
}

/// The event bus of one process, kept in the schema's data and the server's state (clones
/// share one channel).
#[derive(Clone)]
pub struct Bus {
    tx: broadcast::Sender<Change>,
    db: DatabaseConnection,
}

impl Bus {
    /// A bus over the connection; on PostgreSQL, starts the listener task.
    pub fn start(db: &DatabaseConnection) -> Self {
        let (tx, _) = broadcast::channel(1024);
        if let DatabaseConnection::SqlxPostgresPoolConnection(_) = db {
            let pool = db.get_postgres_connection_pool().clone();
            tokio::spawn(listen(pool, tx.clone()));
        }
        Self { tx, db: db.clone() }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// Publishes a committed change. A failure is logged, never returned: the change is
    /// committed whether or not anyone hears of it.
    pub async fn publish(&self, change: Change) {
        if !notify(&self.db, &change).await {
            // SQLite: one process. No receiver is not an error.
            let _ = self.tx.send(change);
        }
    }
}

/// Sends a change's `NOTIFY` inside the caller's transaction (PostgreSQL; nothing on SQLite):
/// every replica hears of it exactly when it commits, and never if it rolls back.
pub async fn notify_in<C: ConnectionTrait>(
    conn: &C,
    change: &Change,
) -> Result<(), sea_orm::DbErr> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let payload = serde_json::to_string(change).expect("serialisable change");
    conn.execute(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload.into()],
    ))
    .await
    .map(|_| ())
}

/// On PostgreSQL, publishes a change to every replica (`NOTIFY`, on its own) and returns
/// true; on SQLite returns false (only the process's own bus can hear it).
async fn notify(db: &DatabaseConnection, change: &Change) -> bool {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return false;
    }
    if let Err(e) = notify_in(db, change).await {
        tracing::error!(error = %e, ?change, "could not publish a change");
    }
    true
}

/// The listener of one replica: a dedicated connection (re-established by sqlx when lost)
/// that forwards every notification to the local broadcast.
async fn listen(pool: sea_orm::sqlx::PgPool, tx: broadcast::Sender<Change>) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "change listener cannot connect; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            continue;
        }
        tracing::debug!("listening for changes on {CHANNEL}");
        loop {
            match listener.recv().await {
                Ok(n) => match serde_json::from_str::<Change>(n.payload()) {
                    Ok(change) => {
                        let _ = tx.send(change);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "ignoring a malformed change notification")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "change listener lost its connection; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// After a measure's mutation committed: publishes it with its current orders.
pub async fn measure_changed(ctx: &async_graphql::Context<'_>, id: i64) {
    let Some(bus) = ctx.data_opt::<Bus>() else {
        return;
    };
    let orders = match crate::service::scope::orders_of_measure(&bus.db, id).await {
        Ok(o) => o,
        Err(_) => {
            tracing::error!(
                measure = id,
                "could not read the orders of a changed measure"
            );
            return;
        }
    };
    bus.publish(Change {
        kind: Kind::Measure,
        id,
        orders,
        jti: None,
    })
    .await;
}

/// After a change to a report known by id only (an evaluation of it): publishes it with its
/// order.
pub async fn report_id_changed(ctx: &async_graphql::Context<'_>, id: i64) {
    use sea_orm::{EntityTrait, QuerySelect};
    let Some(bus) = ctx.data_opt::<Bus>() else {
        return;
    };
    let order = entity::report::Entity::find_by_id(id)
        .select_only()
        .column(entity::report::Column::OrderId)
        .into_tuple::<i64>()
        .one(&bus.db)
        .await;
    match order {
        Ok(Some(order_id)) => report_changed(ctx, id, order_id).await,
        _ => tracing::error!(report = id, "could not read the order of a changed report"),
    }
}

/// After a report's mutation committed.
pub async fn report_changed(ctx: &async_graphql::Context<'_>, id: i64, order_id: i64) {
    if let Some(bus) = ctx.data_opt::<Bus>() {
        bus.publish(Change {
            kind: Kind::Report,
            id,
            orders: vec![order_id],
            jti: None,
        })
        .await;
    }
}

/// After a token's revocation committed: open connections that use it close. On PostgreSQL
/// every replica heard of it when it committed (its `NOTIFY` is part of
/// `service::tokens::revoke`); on SQLite this process's bus is told here.
pub fn token_revoked(ctx: &async_graphql::Context<'_>, jti: &str) {
    if let Some(bus) = ctx.data_opt::<Bus>() {
        if bus.db.get_database_backend() != DatabaseBackend::Postgres {
            let _ = bus.tx.send(Change::token_revoked(jti));
        }
    }
}
