//! Batched loading of relations: one SQL statement per relation per request tick,
//! whatever the number of parents.
use std::collections::HashMap;

use async_graphql::dataloader::Loader as DlLoader;
use entity::regulatory_order;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::error::AppError;

#[derive(Clone)]
pub struct Loader {
    db: DatabaseConnection,
}

impl Loader {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// Orders of a regulator, keyed by regulator id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrdersOfRegulator(pub i64);

impl DlLoader<OrdersOfRegulator> for Loader {
    type Value = Vec<regulatory_order::Model>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[OrdersOfRegulator],
    ) -> Result<HashMap<OrdersOfRegulator, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = regulatory_order::Entity::find()
            .filter(regulatory_order::Column::RegulatorId.is_in(ids))
            .filter(regulatory_order::Column::ArchivedAt.is_null())
            .order_by_asc(regulatory_order::Column::IssuedOn)
            .order_by_asc(regulatory_order::Column::Id)
            .all(&self.db)
            .await?;
        let mut out: HashMap<OrdersOfRegulator, Self::Value> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in rows {
            out.entry(OrdersOfRegulator(row.regulator_id))
                .or_default()
                .push(row);
        }
        Ok(out)
    }
}
