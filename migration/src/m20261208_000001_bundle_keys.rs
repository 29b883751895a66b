//! `bundle_key`: the Ed25519 keys that sign submission bundles. A key remedy generated itself
//! (no `REMEDY_BUNDLE_SIGNING_KEY`) keeps its private half here, never shown by any API; a
//! configured key is recorded by its public half alone, so that bundles signed with it stay
//! verifiable after it is replaced. Rows are only added.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000001_bundle_keys"
    }
}

#[derive(DeriveIden)]
enum BundleKey {
    Table,
    Id,
    KeyId,
    Algorithm,
    PublicKeyPem,
    PrivateKeyPem,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BundleKey::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(BundleKey::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BundleKey::KeyId)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(BundleKey::Algorithm).string().not_null())
                    .col(ColumnDef::new(BundleKey::PublicKeyPem).text().not_null())
                    .col(ColumnDef::new(BundleKey::PrivateKeyPem).text().null())
                    .col(
                        ColumnDef::new(BundleKey::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BundleKey::Table).to_owned())
            .await
    }
}
