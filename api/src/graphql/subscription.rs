//! Live subscriptions (WebSocket, graphql-transport-ws at `/graphql/ws`): measures and reports
//! as they change, authorised like queries. Each event is re-read with the subscriber's scope,
//! so an evaluator only hears of its orders.
use async_graphql::{Context, ErrorExtensions, Result, Subscription, ID};
use entity::*;
use futures_util::stream::{self, Stream};
use sea_orm::{Condition, DatabaseConnection, EntityTrait, PrimaryKeyTrait, QueryFilter};
use tokio::sync::broadcast;

use super::types::{Measure, Report};
use crate::auth::{caller, Caller, Permission, Requires};
use crate::error::{AppError, AppResult};
use crate::events::{Bus, Change, Kind};
use crate::id;
use crate::service::scope;
use crate::service::write::WriteGate;
use std::sync::Arc;

#[derive(Default)]
pub struct PlanSubscription;

/// Resolves the optional order filter: an order outside the caller's scope answers like an
/// unknown one.
async fn order_filter(
    db: &DatabaseConnection,
    who: &Caller,
    order_id: Option<ID>,
) -> AppResult<Option<i64>> {
    let Some(gid) = order_id else {
        return Ok(None);
    };
    let raw = id::decode(&gid, "Order").map_err(|_| AppError::not_found("order"))?;
    regulatory_order::Entity::find_by_id(raw)
        .filter(scope::orders(who))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("order"))?;
    Ok(Some(raw))
}

/// The changes of one kind the subscriber may hear of, each re-read through `load`.
fn changes<T, F, Fut>(
    rx: broadcast::Receiver<Change>,
    kind: Kind,
    order: Option<i64>,
    who: Caller,
    (db, gate): (DatabaseConnection, Arc<WriteGate>),
    load: F,
) -> impl Stream<Item = T>
where
    F: Fn(i64, Caller) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Option<T>> + Send,
    T: Send,
{
    stream::unfold((rx, who), move |(mut rx, who)| {
        let load = load.clone();
        let db = db.clone();
        let gate = gate.clone();
        async move {
            loop {
                let change = match rx.recv().await {
                    Ok(c) => c,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "a subscriber fell behind");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                if change.kind != kind
                    || order.is_some_and(|o| !change.orders.contains(&o))
                    || (who.is_scoped() && !change.orders.iter().any(|o| who.sees_order(*o)))
                {
                    continue;
                }
                // A subscription lives no longer than its token: expiry or revocation ends it.
                if who.expired()
                    || crate::service::tokens::is_revoked(&db, &who.jti)
                        .await
                        .unwrap_or(true)
                {
                    return None;
                }
                if let Some(item) = load(change.id, who.clone()).await {
                    if who.is_scoped() {
                        let seen: Vec<i64> = change
                            .orders
                            .iter()
                            .copied()
                            .filter(|o| who.sees_order(*o))
                            .collect();
                        crate::service::access::record_caller(
                            &db,
                            &gate,
                            &who,
                            &seen,
                            Some("subscription"),
                        )
                        .await;
                    }
                    return Some((item, (rx, who)));
                }
            }
        }
    })
}

/// A subscription to one kind of row: each change is re-read with the subscriber's scope
/// (`visible`), so it hears only of what it may see.
async fn watch<E, N>(
    ctx: &Context<'_>,
    order_id: Option<ID>,
    kind: Kind,
    visible: fn(&Caller) -> Condition,
    wrap: fn(E::Model) -> N,
) -> Result<impl Stream<Item = N>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
    N: Send + 'static,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
{
    let who = caller(ctx).map_err(|e| e.extend())?.clone();
    let db = ctx.data_unchecked::<DatabaseConnection>().clone();
    let order = order_filter(&db, &who, order_id)
        .await
        .map_err(|e| e.extend())?;
    let rx = ctx.data_unchecked::<Bus>().subscribe();
    let gate = ctx.data_unchecked::<Arc<WriteGate>>().clone();
    Ok(changes(
        rx,
        kind,
        order,
        who,
        (db.clone(), gate),
        move |id, who| {
            let db = db.clone();
            async move {
                E::find_by_id(id)
                    .filter(visible(&who))
                    .one(&db)
                    .await
                    .ok()
                    .flatten()
                    .map(wrap)
            }
        },
    ))
}

#[Subscription]
impl PlanSubscription {
    /// Measures as they change (created, updated, moved through the workflow, linked,
    /// archived, given evidence or an evaluation), optionally those of one order. An evaluator hears only of its orders.
    #[graphql(guard = "Requires(Permission::ReadPlan)")]
    async fn measure_changed(
        &self,
        ctx: &Context<'_>,
        order_id: Option<ID>,
    ) -> Result<impl Stream<Item = Measure>> {
        watch::<measure::Entity, _>(ctx, order_id, Kind::Measure, scope::measures, Measure).await
    }

    /// Reports as they change (created, updated, submitted, acknowledged, evaluated),
    /// optionally those of one order. An evaluator hears only of its orders.
    #[graphql(guard = "Requires(Permission::ReadPlan)")]
    async fn report_changed(
        &self,
        ctx: &Context<'_>,
        order_id: Option<ID>,
    ) -> Result<impl Stream<Item = Report>> {
        watch::<report::Entity, _>(ctx, order_id, Kind::Report, scope::reports, Report).await
    }
}
