//! Owners' accounts: `owner.account`, the token subject of the person an owner is (e.g.
//! `tanaka@example.com`), nullable and unique when set, so that separation of duties can keep
//! an owner from verifying its own measures.
//!
//! `owner_history` gets the same column (the history copies every column by name; versions
//! recorded before this migration hold NULL, as the owners then had no account).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000001_owner_account"
    }
}

#[derive(DeriveIden)]
enum Owner {
    Table,
    Account,
}

#[derive(DeriveIden)]
enum OwnerHistory {
    Table,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Owner::Table)
                    .add_column(
                        ColumnDef::new(Owner::Account)
                            .string_len(200)
                            .null()
                            .check(Expr::expr(Func::char_length(Expr::col(Owner::Account))).gt(0)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_owner_account")
                    .table(Owner::Table)
                    .col(Owner::Account)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Versions carry no constraint of the live table.
        manager
            .alter_table(
                Table::alter()
                    .table(OwnerHistory::Table)
                    .add_column(ColumnDef::new(Owner::Account).string_len(200).null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_owner_account")
                    .table(Owner::Table)
                    .to_owned(),
            )
            .await?;
        for table in [Owner::Table.into_iden(), OwnerHistory::Table.into_iden()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Owner::Account)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
