//! `regulatory_order.incident_disclosed_on`: the day the incident behind an order was publicly
//! disclosed (the company's notice), shown on the order's timeline. Nullable; its history
//! table gets the same column (versions recorded before hold NULL).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000001_order_disclosure"
    }
}

#[derive(DeriveIden)]
enum RegulatoryOrder {
    Table,
    IncidentDisclosedOn,
}

#[derive(DeriveIden)]
enum RegulatoryOrderHistory {
    Table,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RegulatoryOrder::Table.into_iden(),
            RegulatoryOrderHistory::Table.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(
                            ColumnDef::new(RegulatoryOrder::IncidentDisclosedOn)
                                .date()
                                .null(),
                        )
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RegulatoryOrder::Table.into_iden(),
            RegulatoryOrderHistory::Table.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(RegulatoryOrder::IncidentDisclosedOn)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
