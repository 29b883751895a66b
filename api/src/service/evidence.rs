//! Evidence records without their bytes: what every read but the download needs.
use entity::evidence;
use sea_orm::{EntityTrait, FromQueryResult, Iterable, QuerySelect};

/// Evidence without its stored bytes (which are only read by the download endpoint).
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult, serde::Serialize)]
pub struct EvidenceMeta {
    pub id: i64,
    pub measure_id: i64,
    pub system_id: Option<i64>,
    pub kind: entity::enums::EvidenceKind,
    pub title: String,
    pub issued_by: Option<String>,
    pub issued_on: Option<chrono::NaiveDate>,
    pub valid_from: Option<chrono::NaiveDate>,
    pub valid_until: Option<chrono::NaiveDate>,
    pub sha256: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub storage_uri: Option<String>,
    pub supersedes_id: Option<i64>,
    pub submitted_by: String,
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A select of evidence without the `content` column (turn it into [`EvidenceMeta`] rows).
pub fn evidence_meta_select() -> sea_orm::Select<evidence::Entity> {
    evidence::Entity::find()
        .select_only()
        .columns(evidence::Column::iter().filter(|c| !matches!(c, evidence::Column::Content)))
}
