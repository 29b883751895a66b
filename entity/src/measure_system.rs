use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Which systems a measure concerns (many-to-many).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "measure_system")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub measure_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub system_id: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::measure::Entity",
        from = "Column::MeasureId",
        to = "super::measure::Column::Id"
    )]
    Measure,
    #[sea_orm(
        belongs_to = "super::system::Entity",
        from = "Column::SystemId",
        to = "super::system::Column::Id"
    )]
    System,
}

impl ActiveModelBehavior for ActiveModel {}
