//! Regulators and their orders.
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, ID};
use chrono::NaiveDate;
use entity::enums::{OrderKind, OrderStatus, RegulatorKind};
use entity::{regulator, regulatory_order};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use super::id;
use super::loader::{Loader, OrdersOfRegulator};
use crate::auth::{caller, Permission, Requires};
use crate::error::{AppError, AppResult};

/// An authority that acts on the company: a ministry, a privacy commission, a card brand.
pub struct Regulator(pub regulator::Model);

#[Object]
impl Regulator {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Regulator", self.0.id)
    }
    /// Short unique code, e.g. `METI`.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Name in English.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Name in the regulator's own language, e.g. 経済産業省.
    async fn name_local(&self) -> Option<&str> {
        self.0.name_local.as_deref()
    }
    /// What kind of authority this is.
    async fn kind(&self) -> RegulatorKind {
        self.0.kind
    }
    /// Optimistic-locking version: send it back with updates.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The orders this regulator issued, oldest first.
    async fn orders(&self, ctx: &Context<'_>) -> AppResult<Vec<Order>> {
        let loader = ctx.data_unchecked::<DataLoader<Loader>>();
        let who = caller(ctx)?;
        let rows = loader
            .load_one(OrdersOfRegulator(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .filter(|o| who.sees_order(o.id))
            .inspect(|o| who.touch(o.id))
            .map(Order)
            .collect())
    }
}

/// One regulatory action: a business-improvement order, guidance, a report request.
pub struct Order(pub regulatory_order::Model);

#[Object]
impl Order {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("Order", self.0.id)
    }
    /// The regulator's reference, unique, e.g. `METI-2022-06-30`.
    async fn reference(&self) -> &str {
        &self.0.reference
    }
    /// What kind of action this is.
    async fn kind(&self) -> OrderKind {
        self.0.kind
    }
    /// Title in English.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Title in the regulator's language.
    async fn title_local(&self) -> Option<&str> {
        self.0.title_local.as_deref()
    }
    /// The statute or rule the action is based on.
    async fn legal_basis(&self) -> Option<&str> {
        self.0.legal_basis.as_deref()
    }
    /// The date the action was issued.
    async fn issued_on(&self) -> NaiveDate {
        self.0.issued_on
    }
    /// Where the matter stands.
    async fn status(&self) -> OrderStatus {
        self.0.status
    }
    /// A short summary.
    async fn summary(&self) -> Option<&str> {
        self.0.summary.as_deref()
    }
    /// Optimistic-locking version: send it back with updates.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

#[derive(Default)]
pub struct RegulatorQuery;

#[Object]
impl RegulatorQuery {
    /// Every regulator, ordered by code. An order-scoped token sees only the regulators of its orders.
    #[graphql(guard = "Requires(Permission::ReadPlan)")]
    async fn regulators(&self, ctx: &Context<'_>) -> AppResult<Vec<Regulator>> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let mut query = regulator::Entity::find().filter(regulator::Column::ArchivedAt.is_null());
        if let Some(orders) = caller(ctx)?.order_scope() {
            let visible: Vec<i64> = regulatory_order::Entity::find()
                .filter(regulatory_order::Column::Id.is_in(orders.iter().copied()))
                .all(db)
                .await?
                .into_iter()
                .map(|o| o.regulator_id)
                .collect();
            query = query.filter(regulator::Column::Id.is_in(visible));
        }
        let rows = query.order_by_asc(regulator::Column::Code).all(db).await?;
        Ok(rows.into_iter().map(Regulator).collect())
    }

    /// One order by its reference (e.g. `METI-2022-06-30`).
    #[graphql(guard = "Requires(Permission::ReadPlan)")]
    async fn order_by_reference(&self, ctx: &Context<'_>, reference: String) -> AppResult<Order> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let who = caller(ctx)?;
        let row = regulatory_order::Entity::find()
            .filter(regulatory_order::Column::Reference.eq(reference.clone()))
            .one(db)
            .await?
            .filter(|o| who.sees_order(o.id))
            .ok_or_else(|| AppError::not_found(format!("order {reference:?}")))?;
        who.touch(row.id);
        Ok(Order(row))
    }
}
