//! The submission bundle: one submitted (or acknowledged) report packed into a zip that
//! anyone can verify offline, and its verification (`remedy verify-bundle`).
//!
//! Contents (format `remedy-submission-bundle/1`):
//! - `snapshot.json`: the report's frozen snapshot as canonical JSON (object keys sorted, no
//!   insignificant whitespace, UTF-8). **The report's hash** is the SHA-256 of these bytes.
//! - `report/<order>_<date>.{md,csv,json,poam.json,xlsx}`: the order's report in every format
//!   the API generates, as of the report's date as known at its submission (how a submitted
//!   report is reproduced).
//! - `evidence/<sha256><ext>`: the bytes of every evidence file the snapshot cites that remedy
//!   stores (in the database or its evidence directory), checked against the recorded hash;
//!   `evidence.json` lists every cited file with its hash, and, for those kept elsewhere,
//!   their URI (`included: false`).
//! - `public-key.pem`: the signing key's public half (integrity only: compare it with a
//!   published key).
//! - `manifest.json`: every file above with its SHA-256 and size, the report's hash, the
//!   audit-chain head at submission (the `hash` of the latest audit event at or before the
//!   report's submission event) and the signing key's id and fingerprint.
//! - `manifest.sig`: the raw 64-byte Ed25519 signature of `manifest.json`'s exact bytes.
//! - `signature.json`: the algorithm, key id and fingerprint (repeated from the manifest).
//! - `SHA256SUMS`: `sha256sum -c` lines for every manifest file and `manifest.json`.
//!
//! The last four are not listed in the manifest (it cannot list itself, its signature, or a
//! file that holds its own hash); verification accepts exactly those besides the listed ones.
//! Entries carry a fixed date (the report's), so the same report and key give the same bytes.
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write as _};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use entity::enums::ReportStatus;
use entity::{audit_event, evidence, regulatory_order, report};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, Statement,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::keys::{self, Signer};
use super::{load, render, ReportFormat};
use crate::audit::canonical_json;
use crate::error::{AppError, AppResult};
use crate::service::history::Tense;
use crate::service::plan::EvidenceStore;

/// The manifest's `format`.
pub const FORMAT: &str = "remedy-submission-bundle/1";
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";
pub const SIGNATURE_INFO: &str = "signature.json";
pub const CHECKSUMS: &str = "SHA256SUMS";
pub const PUBLIC_KEY: &str = "public-key.pem";
/// The files outside the manifest.
const TRAILER: [&str; 4] = [MANIFEST, SIGNATURE, SIGNATURE_INFO, CHECKSUMS];

/// A built bundle.
#[derive(Debug, Clone, async_graphql::SimpleObject)]
#[graphql(name = "ReportBundle")]
pub struct Bundle {
    /// `<report code>_bundle.zip`.
    pub file_name: String,
    /// Always `application/zip`.
    pub media_type: String,
    /// The zip's bytes in standard base64 (RFC 4648, padded).
    pub content_base64: String,
    /// Lower-case hex SHA-256 of the zip's bytes.
    pub sha256: String,
    /// The zip's size in bytes.
    pub size_bytes: i64,
    /// The id of the key that signed its manifest (see `bundleKeys`).
    pub key_id: String,
    /// The report's hash: SHA-256 of its frozen snapshot as canonical JSON (`snapshot.json`).
    pub report_hash: String,
    /// The audit-chain head at submission: the hash of the latest audit event at or before
    /// the report's submission event.
    pub audit_head: String,
    /// How many files the manifest lists.
    pub files: i32,
    #[graphql(skip)]
    pub bytes: Vec<u8>,
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn internal(msg: impl Into<String>) -> AppError {
    AppError::from(anyhow::anyhow!(msg.into()))
}

/// A file extension for a media type (the evidence files' names).
fn extension(media_type: &str) -> &'static str {
    match media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "application/pdf" => ".pdf",
        "text/plain" => ".txt",
        "text/markdown" => ".md",
        "text/csv" => ".csv",
        "text/html" => ".html",
        "application/json" => ".json",
        "application/xml" | "text/xml" => ".xml",
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "application/zip" => ".zip",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => ".xlsx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => ".docx",
        _ => "",
    }
}

#[derive(FromQueryResult)]
struct Recorded {
    recorded_at: DateTime<Utc>,
}

/// The instant a report was submitted: when its first version with a snapshot was recorded
/// (what `remedy audit verify` reproduces it as known at).
async fn submitted_at(db: &DatabaseConnection, report_id: i64) -> AppResult<DateTime<Utc>> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT recorded_at FROM report_history WHERE id = {report_id} AND snapshot IS NOT NULL \
         ORDER BY history_id LIMIT 1"
    );
    Recorded::find_by_statement(Statement::from_string(backend, sql))
        .one(db)
        .await?
        .map(|r| r.recorded_at)
        .ok_or_else(|| internal("submitted report without a recorded submission"))
}

/// The audit-chain head at submission: the latest event at or before the report's "submit"
/// event (or, without one, at or before the submission instant).
async fn audit_head(
    db: &DatabaseConnection,
    report_id: i64,
    at: DateTime<Utc>,
) -> AppResult<audit_event::Model> {
    let submit = audit_event::Entity::find()
        .filter(audit_event::Column::Entity.eq("Report"))
        .filter(audit_event::Column::EntityId.eq(report_id.to_string()))
        .filter(audit_event::Column::Action.eq("submit"))
        .order_by_asc(audit_event::Column::Id)
        .one(db)
        .await?;
    let mut q = audit_event::Entity::find();
    q = match &submit {
        Some(e) => q.filter(audit_event::Column::Id.lte(e.id)),
        None => q.filter(audit_event::Column::At.lte(at)),
    };
    q.order_by_desc(audit_event::Column::Id)
        .one(db)
        .await?
        .ok_or_else(|| internal("no audit event at or before the submission"))
}

/// Finds a report by global ID or code.
pub async fn resolve_report<C: ConnectionTrait>(conn: &C, given: &str) -> AppResult<i64> {
    if let Ok(raw) = crate::id::decode(&async_graphql::ID(given.to_string()), "Report") {
        if report::Entity::find_by_id(raw).one(conn).await?.is_some() {
            return Ok(raw);
        }
    }
    report::Entity::find()
        .filter(report::Column::Code.eq(given))
        .one(conn)
        .await?
        .map(|r| r.id)
        .ok_or_else(|| AppError::not_found("report"))
}

/// Builds the bundle of a submitted (or acknowledged) report. `scope` is the caller's order
/// scope: a report of another order is NOT_FOUND, exactly like a missing one.
pub async fn build(
    db: &DatabaseConnection,
    store: &EvidenceStore,
    signer: &Signer,
    scope: Option<&BTreeSet<i64>>,
    report_id: i64,
) -> AppResult<Bundle> {
    let not_found = || AppError::not_found("report");
    let r = report::Entity::find_by_id(report_id)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    if scope.is_some_and(|g| !g.contains(&r.order_id)) {
        return Err(not_found());
    }
    let (Some(on), Some(frozen), true) = (
        r.submitted_on,
        r.snapshot.as_deref(),
        matches!(
            r.status,
            ReportStatus::Submitted | ReportStatus::Acknowledged
        ),
    ) else {
        return Err(AppError::validation(
            "reportId",
            "only a submitted or acknowledged report has a bundle",
        ));
    };
    let order = regulatory_order::Entity::find_by_id(r.order_id)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    let at = submitted_at(db, r.id).await?;
    let head = audit_head(db, r.id, at).await?;

    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    // The frozen snapshot, canonical.
    let snapshot: Value =
        serde_json::from_str(frozen).map_err(|e| internal(format!("stored snapshot: {e}")))?;
    let snapshot_bytes = canonical_json(&snapshot).into_bytes();
    let report_hash = sha(&snapshot_bytes);
    files.push(("snapshot.json".into(), snapshot_bytes));

    // The report in every format, as of its date as known at its submission.
    let data = load(
        db,
        None,
        r.order_id,
        Tense {
            day: on,
            known_at: Some(at),
        },
    )
    .await?;
    for f in ReportFormat::ALL {
        let g = render(&data, f)?;
        files.push((format!("report/{}", g.filename), g.bytes));
    }

    // The evidence the snapshot cites.
    let mut cited: Vec<(String, i64)> = Vec::new();
    for m in snapshot["measures"].as_array().into_iter().flatten() {
        let code = m["code"].as_str().unwrap_or_default().to_string();
        for e in m["evidence"].as_array().into_iter().flatten() {
            if let Some(id) = e["id"].as_i64() {
                cited.push((code.clone(), id));
            }
        }
    }
    let mut listed: Vec<Value> = Vec::new();
    let mut external: Vec<Value> = Vec::new();
    let mut included: BTreeSet<String> = BTreeSet::new();
    for (code, id) in cited {
        let Some(e) = evidence::Entity::find_by_id(id).one(db).await? else {
            continue;
        };
        let bytes = match (&e.content, &e.storage_uri) {
            (Some(b), _) => Some(b.clone()),
            (None, Some(uri)) => store.get(uri).await?,
            (None, None) => None,
        };
        let path = format!("evidence/{}{}", e.sha256, extension(&e.media_type));
        let entry = match bytes {
            Some(b) if sha(&b) == e.sha256 => {
                if included.insert(path.clone()) {
                    files.push((path.clone(), b));
                }
                json!({"measure": code, "title": e.title, "sha256": e.sha256,
                       "mediaType": e.media_type, "sizeBytes": e.size_bytes,
                       "included": true, "path": path})
            }
            found => {
                let mut v = json!({"measure": code, "title": e.title, "sha256": e.sha256,
                       "mediaType": e.media_type, "sizeBytes": e.size_bytes,
                       "included": false, "storageUri": e.storage_uri});
                if found.is_some() {
                    v["note"] = json!("the stored bytes do not match the recorded SHA-256");
                }
                external.push(v.clone());
                v
            }
        };
        listed.push(entry);
    }
    files.push((
        "evidence.json".into(),
        format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"evidence": listed})).unwrap_or_default()
        )
        .into_bytes(),
    ));
    let public = signer.public();
    files.push((PUBLIC_KEY.into(), keys::public_pem(&public).into_bytes()));

    let manifest = json!({
        "format": FORMAT,
        "report": {
            "code": r.code,
            "title": r.title,
            "titleLocal": r.title_local,
            "order": order.reference,
            "status": r.status.as_str(),
            "submittedOn": on,
            "submittedAt": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "acknowledgedOn": r.acknowledged_on,
        },
        "reportHash": {
            "algorithm": "sha256",
            "file": "snapshot.json",
            "definition": "SHA-256 of snapshot.json: the report's frozen snapshot as canonical JSON (object keys sorted, no insignificant whitespace, UTF-8)",
            "value": report_hash,
        },
        "auditHead": {
            "eventId": head.id.to_string(),
            "at": head.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "hash": head.hash,
            "definition": "the hash of the latest audit event at or before the report's submission event",
        },
        "signature": {
            "algorithm": keys::ALGORITHM,
            "keyId": signer.key_id,
            "publicKeyFingerprint": keys::fingerprint(&public),
            "file": SIGNATURE,
            "signs": "the exact bytes of manifest.json",
        },
        "files": files.iter().map(|(p, b)| json!({"path": p, "sha256": sha(b), "size": b.len()})).collect::<Vec<_>>(),
        "externalEvidence": external,
        "unlisted": TRAILER,
    });
    let manifest_bytes = format!(
        "{}\n",
        serde_json::to_string_pretty(&manifest).unwrap_or_default()
    )
    .into_bytes();
    let signature = signer.key.sign(&manifest_bytes).to_bytes().to_vec();
    let info = format!(
        "{}\n",
        serde_json::to_string_pretty(&json!({
            "algorithm": keys::ALGORITHM,
            "keyId": signer.key_id,
            "publicKeyFingerprint": keys::fingerprint(&public),
            "signedFile": MANIFEST,
            "signatureFile": SIGNATURE,
            "signatureEncoding": "raw 64-byte Ed25519 signature (RFC 8032)",
        }))
        .unwrap_or_default()
    );
    let mut sums = String::new();
    for (p, b) in &files {
        sums.push_str(&format!("{}  {p}\n", sha(b)));
    }
    sums.push_str(&format!("{}  {MANIFEST}\n", sha(&manifest_bytes)));
    let count = files.len();
    files.push((MANIFEST.into(), manifest_bytes));
    files.push((SIGNATURE.into(), signature));
    files.push((SIGNATURE_INFO.into(), info.into_bytes()));
    files.push((CHECKSUMS.into(), sums.into_bytes()));

    let zip = write_zip(&files, on).map_err(|e| internal(format!("bundle zip: {e}")))?;
    use base64::Engine;
    Ok(Bundle {
        file_name: format!("{}_bundle.zip", r.code.replace(['/', '\\', ' '], "_")),
        media_type: "application/zip".into(),
        content_base64: base64::engine::general_purpose::STANDARD.encode(&zip),
        sha256: sha(&zip),
        size_bytes: zip.len() as i64,
        key_id: signer.key_id.clone(),
        report_hash,
        audit_head: head.hash,
        files: count as i32,
        bytes: zip,
    })
}

/// Writes the files into a zip, each entry dated `on` (so the bytes depend on the contents
/// alone).
pub fn write_zip(files: &[(String, Vec<u8>)], on: chrono::NaiveDate) -> anyhow::Result<Vec<u8>> {
    use chrono::Datelike;
    let date = zip::DateTime::from_date_and_time(
        on.year().clamp(1980, 2107) as u16,
        on.month() as u8,
        on.day() as u8,
        0,
        0,
        0,
    )
    .unwrap_or_default();
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(date)
        .unix_permissions(0o644);
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (path, bytes) in files {
        w.start_file(path.as_str(), options)?;
        w.write_all(bytes)?;
    }
    Ok(w.finish()?.into_inner())
}

/// Reads every file of a zip: (path, bytes) in archive order. An entry that cannot be read
/// (a broken checksum or compression) is named in the error.
pub fn read_zip(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable zip: {e}"))?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive
            .by_index(i)
            .map_err(|e| format!("zip entry {i}: {e}"))?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().to_string();
        let mut b = Vec::new();
        f.read_to_end(&mut b)
            .map_err(|e| format!("{name}: unreadable in the zip ({e})"))?;
        out.push((name, b));
    }
    Ok(out)
}

/// What a successful verification found.
#[derive(Debug)]
pub struct Verified {
    /// Files the manifest lists (all present, all matching).
    pub files: usize,
    pub key_id: String,
    pub fingerprint: String,
    /// Whether the key was the one inside the bundle (integrity only).
    pub embedded_key: bool,
    pub report: String,
    pub report_hash: String,
    pub audit_head: String,
}

/// Verifies a bundle offline: every listed file present with its SHA-256 and size, no file
/// missing or extra, `SHA256SUMS` as the manifest says, and the signature of `manifest.json`
/// with `key` (a public key PEM) or else the bundle's own `public-key.pem`. Every failure is
/// named, one a line.
pub fn verify(zip_bytes: &[u8], key: Option<&str>) -> Result<Verified, Vec<String>> {
    let entries = read_zip(zip_bytes).map_err(|e| vec![e])?;
    let mut problems: Vec<String> = Vec::new();
    let mut by_name: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (name, b) in entries {
        if by_name.insert(name.clone(), b).is_some() {
            problems.push(format!("duplicate file: {name}"));
        }
    }
    let Some(manifest_bytes) = by_name.get(MANIFEST).cloned() else {
        problems.push(format!("missing file: {MANIFEST}"));
        return Err(problems);
    };
    let manifest: Value = match serde_json::from_slice(&manifest_bytes) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("{MANIFEST}: not JSON ({e})"));
            // The signature still decides whether the manifest was altered.
            Value::Null
        }
    };
    if !manifest.is_null() && manifest["format"].as_str() != Some(FORMAT) {
        problems.push(format!(
            "{MANIFEST}: format {} is not {FORMAT}",
            manifest["format"]
        ));
    }
    // The listed files.
    let mut listed: BTreeSet<String> = BTreeSet::new();
    let mut sums = String::new();
    for f in manifest["files"].as_array().into_iter().flatten() {
        let (Some(path), Some(want)) = (f["path"].as_str(), f["sha256"].as_str()) else {
            problems.push(format!("{MANIFEST}: a file entry without path or sha256"));
            continue;
        };
        listed.insert(path.to_string());
        sums.push_str(&format!("{want}  {path}\n"));
        match by_name.get(path) {
            None => problems.push(format!("missing file: {path}")),
            Some(b) => {
                let got = sha(b);
                if got != want {
                    problems.push(format!(
                        "hash mismatch: {path} (manifest sha256 {want}, file sha256 {got})"
                    ));
                } else if f["size"].as_u64() != Some(b.len() as u64) {
                    problems.push(format!(
                        "size mismatch: {path} (manifest {}, file {})",
                        f["size"],
                        b.len()
                    ));
                }
            }
        }
    }
    for name in by_name.keys() {
        if !listed.contains(name) && !TRAILER.contains(&name.as_str()) {
            problems.push(format!("extra file: {name} (not in the manifest)"));
        }
    }
    for t in [SIGNATURE, CHECKSUMS] {
        if !by_name.contains_key(t) {
            problems.push(format!("missing file: {t}"));
        }
    }
    sums.push_str(&format!("{}  {MANIFEST}\n", sha(&manifest_bytes)));
    if let Some(given) = by_name.get(CHECKSUMS) {
        if given.as_slice() != sums.as_bytes() {
            problems.push(format!(
                "{CHECKSUMS} does not match the manifest and manifest.json"
            ));
        }
    }

    // The key.
    let named_id = manifest["signature"]["keyId"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    let named_fp = manifest["signature"]["publicKeyFingerprint"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let (public, embedded): (Option<VerifyingKey>, bool) = match key {
        Some(pem) => match keys::parse_public_pem(pem) {
            Ok(k) => (Some(k), false),
            Err(e) => {
                problems.push(format!("--key: {e}"));
                (None, false)
            }
        },
        None => match by_name.get(PUBLIC_KEY) {
            None => {
                problems.push(format!("missing file: {PUBLIC_KEY} (and no --key given)"));
                (None, true)
            }
            Some(b) => match keys::parse_public_pem(&String::from_utf8_lossy(b)) {
                Ok(k) => (Some(k), true),
                Err(e) => {
                    problems.push(format!("{PUBLIC_KEY}: {e}"));
                    (None, true)
                }
            },
        },
    };
    if let Some(info) = by_name.get(SIGNATURE_INFO) {
        let info: Value = serde_json::from_slice(info).unwrap_or(Value::Null);
        if info["keyId"].as_str() != Some(named_id.as_str())
            || info["publicKeyFingerprint"].as_str() != Some(named_fp.as_str())
        {
            problems.push(format!(
                "{SIGNATURE_INFO} names another key than the manifest"
            ));
        }
    }
    let mut fingerprint = String::new();
    if let Some(public) = public {
        fingerprint = keys::fingerprint(&public);
        if !embedded && !named_fp.is_empty() && fingerprint != named_fp {
            problems.push(format!(
                "key: the bundle was signed with key {named_id} ({named_fp}); --key is {fingerprint}"
            ));
        }
        if let Some(sig) = by_name.get(SIGNATURE) {
            let ok = Signature::from_slice(sig)
                .map(|s| public.verify_strict(&manifest_bytes, &s).is_ok())
                .unwrap_or(false);
            if !ok {
                problems.push(format!(
                    "signature: {SIGNATURE} is not a valid Ed25519 signature of {MANIFEST} by key {fingerprint}"
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Verified {
        files: listed.len(),
        key_id: named_id,
        fingerprint,
        embedded_key: embedded,
        report: manifest["report"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        report_hash: manifest["reportHash"]["value"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        audit_head: manifest["auditHead"]["hash"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zips_read_back() {
        let files = vec![
            ("a.txt".to_string(), b"hello".to_vec()),
            ("d/b.bin".to_string(), vec![0u8, 1, 2]),
        ];
        let on = chrono::NaiveDate::from_ymd_opt(2022, 10, 6).unwrap();
        let z = write_zip(&files, on).unwrap();
        assert_eq!(read_zip(&z).unwrap(), files);
        // Same contents, same bytes.
        assert_eq!(write_zip(&files, on).unwrap(), z);
    }

    #[test]
    fn extensions() {
        assert_eq!(extension("application/pdf"), ".pdf");
        assert_eq!(extension("text/plain; charset=utf-8"), ".txt");
        assert_eq!(extension("application/x-unknown"), "");
    }
}
