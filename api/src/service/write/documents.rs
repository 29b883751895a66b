//! Writes of evidence: immutable rows, a correction is a new row that supersedes the old one.
//! The bytes are stored by [`store_bytes`] (in the row or in the evidence directory) or kept
//! elsewhere ([`external`]); the row records where and their SHA-256.
pub use super::inputs::{ExternalDocument, NewEvidence};
use chrono::{DateTime, Utc};
use entity::*;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::measures::checked_measure;
use super::{audit_row, date_order, load, opt_text, text, Write, SHORT};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::service::evidence::{evidence_meta_select, EvidenceMeta};
use crate::service::plan::{sha256_hex, EvidenceStore};

/// Where a document's bytes are and what they are.
pub struct StoredDocument {
    pub sha256: String,
    pub media_type: String,
    pub size: i64,
    pub uri: Option<String>,
    pub content: Option<Vec<u8>>,
}

impl StoredDocument {
    /// Bytes kept in the row.
    pub fn inline(bytes: Vec<u8>, media_type: String) -> Self {
        StoredDocument {
            sha256: sha256_hex(&bytes),
            media_type,
            size: bytes.len() as i64,
            uri: None,
            content: Some(bytes),
        }
    }
}

/// A SHA-256 in hex: exactly 64 hex digits (white space is refused, not trimmed), kept in
/// lowercase, the form remedy computes and compares.
fn check_sha(field: &str, sha: &str) -> AppResult<String> {
    let s = sha.to_ascii_lowercase();
    if s.len() != 64 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(AppError::validation(
            field,
            "must be 64 hexadecimal characters",
        ));
    }
    Ok(s)
}

/// Stores uploaded bytes (before the write opens): their SHA-256 is computed here and must
/// equal `expected_sha256` when one is given, or nothing is stored.
pub async fn store_bytes(
    store: &EvidenceStore,
    bytes: Vec<u8>,
    media_type: String,
    expected_sha256: Option<&str>,
) -> AppResult<StoredDocument> {
    let doc = StoredDocument::inline(bytes, media_type);
    if let Some(expected) = expected_sha256 {
        if check_sha("expectedSha256", expected)? != doc.sha256 {
            return Err(AppError::validation(
                "expectedSha256",
                "does not match the uploaded bytes: nothing was stored",
            ));
        }
    }
    let bytes = doc.content.as_deref().unwrap_or_default();
    match store.put(&doc.sha256, bytes).await? {
        None => Ok(doc),
        uri => Ok(StoredDocument {
            uri,
            content: None,
            ..doc
        }),
    }
}

pub fn external(doc: ExternalDocument) -> AppResult<StoredDocument> {
    let uri = text("storageUri", &doc.storage_uri, 2000)?;
    if uri.starts_with("store:") {
        return Err(AppError::validation(
            "storageUri",
            "the store: scheme is reserved",
        ));
    }
    if doc.size_bytes < 0 {
        return Err(AppError::validation("sizeBytes", "must not be negative"));
    }
    Ok(StoredDocument {
        sha256: check_sha("sha256", &doc.sha256)?,
        media_type: doc.media_type,
        size: doc.size_bytes,
        uri: Some(uri),
        content: None,
    })
}

/// Adds evidence of a measure the caller may act on, submitted by the caller.
pub async fn add_evidence(
    w: &Write<'_>,
    who: &Caller,
    input: &NewEvidence,
    stored: StoredDocument,
) -> AppResult<EvidenceMeta> {
    checked_evidence(w, who, input, None).await?;
    insert_evidence(w, "create", input, stored, None, &who.subject, w.now).await
}

/// Adds a revision that supersedes the evidence `previous` (which is kept, unchanged): it
/// proves the same measure, and only the latest revision can be superseded.
pub async fn supersede_evidence(
    w: &Write<'_>,
    who: &Caller,
    previous: i64,
    input: &NewEvidence,
    stored: StoredDocument,
) -> AppResult<EvidenceMeta> {
    checked_evidence(w, who, input, Some(previous)).await?;
    let supersedes = Some(previous);
    insert_evidence(
        w,
        "supersede",
        input,
        stored,
        supersedes,
        &who.subject,
        w.now,
    )
    .await
}

async fn checked_evidence(
    w: &Write<'_>,
    who: &Caller,
    input: &NewEvidence,
    supersedes: Option<i64>,
) -> AppResult<()> {
    checked_measure(w, who, input.measure_id).await?;
    if let Some(s) = input.system_id {
        load::<system::Entity>(w, s).await?;
    }
    date_order(
        "validUntil",
        input.valid_from,
        input.valid_until,
        "must not be before validFrom",
    )?;
    let Some(prev) = supersedes else {
        return Ok(());
    };
    let old = evidence::Entity::find_by_id(prev)
        .one(&w.txn)
        .await?
        .ok_or_else(|| AppError::not_found("evidence"))?;
    if old.measure_id != input.measure_id {
        return Err(AppError::validation(
            "measureId",
            "a revision proves the same measure as the one it supersedes",
        ));
    }
    if evidence::Entity::find()
        .filter(evidence::Column::SupersedesId.eq(prev))
        .count(&w.txn)
        .await?
        > 0
    {
        return Err(AppError::Conflict {
            message: "this evidence was already superseded: supersede its latest revision".into(),
            current_version: None,
        });
    }
    Ok(())
}

/// Inserts an evidence row (title and media type checked here) with its audit event (the
/// row without its bytes). The seed calls it with its historical submitters and dates.
pub async fn insert_evidence(
    w: &Write<'_>,
    action: &str,
    input: &NewEvidence,
    stored: StoredDocument,
    supersedes: Option<i64>,
    submitted_by: &str,
    submitted_at: DateTime<Utc>,
) -> AppResult<EvidenceMeta> {
    let row = evidence::ActiveModel {
        measure_id: Set(input.measure_id),
        system_id: Set(input.system_id),
        kind: Set(input.kind),
        title: Set(text("title", &input.title, SHORT)?),
        issued_by: Set(opt_text("issuedBy", input.issued_by.as_deref(), SHORT)?),
        issued_on: Set(input.issued_on),
        valid_from: Set(input.valid_from),
        valid_until: Set(input.valid_until),
        sha256: Set(stored.sha256),
        media_type: Set(text("mediaType", &stored.media_type, 200)?),
        size_bytes: Set(stored.size),
        storage_uri: Set(stored.uri),
        content: Set(stored.content),
        supersedes_id: Set(supersedes),
        submitted_by: Set(submitted_by.to_string()),
        submitted_at: Set(submitted_at),
        created_at: Set(w.now),
        ..Default::default()
    };
    // Inserted without reading the row back: its bytes would come back with it (RETURNING
    // on PostgreSQL, a SELECT on SQLite); the record is read without them.
    let id = evidence::Entity::insert(row)
        .exec(&w.txn)
        .await?
        .last_insert_id;
    let meta: EvidenceMeta = evidence_meta_select()
        .filter(evidence::Column::Id.eq(id))
        .into_model()
        .one(&w.txn)
        .await?
        .ok_or_else(|| AppError::not_found("evidence"))?;
    // The same JSON as the row's (whose bytes are never serialised).
    audit_row(w, action, &meta, None).await?;
    Ok(meta)
}
