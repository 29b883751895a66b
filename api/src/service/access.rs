//! The access log: which orders' data an order-scoped (evaluator) token received, and when.
use chrono::{SubsecRound, Utc};
use entity::access_log;
use sea_orm::{DatabaseConnection, EntityTrait, Set};

use crate::error::AppResult;
use crate::service::write::WriteGate;

/// Records that the token `jti` of `subject` received data of `orders` in `operation`: one
/// row per order, in one statement, through the server's write gate (on SQLite an ungated
/// write would make concurrent mutations fail with "database is locked").
pub async fn record(
    db: &DatabaseConnection,
    gate: &WriteGate,
    subject: &str,
    jti: &str,
    orders: &[i64],
    operation: Option<&str>,
) -> AppResult<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let at = Utc::now().trunc_subsecs(6);
    let rows = orders.iter().map(|&order_id| access_log::ActiveModel {
        at: Set(at),
        subject: Set(subject.to_string()),
        jti: Set(Some(jti.to_string())),
        order_id: Set(order_id),
        operation: Set(operation.map(str::to_string)),
        ..Default::default()
    });
    let _gate = gate.hold().await;
    access_log::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Records that a scoped caller received data of these orders; a failure is logged and the
/// answer is sent anyway.
pub async fn record_caller(
    db: &DatabaseConnection,
    gate: &WriteGate,
    caller: &crate::auth::Caller,
    orders: &[i64],
    operation: Option<&str>,
) {
    if let Err(e) = record(db, gate, &caller.subject, &caller.jti, orders, operation).await {
        tracing::error!(error = %e.into_anyhow(), subject = %caller.subject, ?orders, "could not record evaluator access");
    }
}
