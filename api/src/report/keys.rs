//! The Ed25519 keys that sign submission bundles (`report::bundle`).
//!
//! The signing key is the configured one (`REMEDY_BUNDLE_SIGNING_KEY`, a PKCS#8 PEM, with
//! `REMEDY_BUNDLE_KEY_ID`), or else one remedy generated once and keeps in `bundle_key`
//! (its private half is read only here, to sign, and never shown). Every key that signed a
//! bundle is recorded there by its public half, so that bundles made with a key since
//! replaced stay verifiable; `published` lists them (`bundleKeys`, `remedy keys`).
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use entity::bundle_key;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};

use crate::config::BundleKeyConfig;
use crate::error::{AppError, AppResult};
use crate::service::write::{Write, WriteGate};

/// The one algorithm.
pub const ALGORITHM: &str = "Ed25519";

/// A published public key.
#[derive(Debug, Clone, async_graphql::SimpleObject)]
pub struct BundleKey {
    /// The id bundles name (`keyId` in their manifest and `signature.json`).
    pub key_id: String,
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The public key, SubjectPublicKeyInfo PEM (what `openssl pkeyutl -pubin -inkey` reads).
    pub public_key_pem: String,
    /// `sha256:` and the lower-case hex SHA-256 of the public key's DER encoding.
    pub fingerprint: String,
    /// When remedy first recorded it (`null` for a configured key that signed nothing yet).
    pub created_at: Option<DateTime<Utc>>,
}

/// The key bundles are signed with now.
pub struct Signer {
    pub key_id: String,
    pub key: SigningKey,
}

impl Signer {
    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

fn internal(msg: String) -> AppError {
    AppError::from(anyhow::anyhow!(msg))
}

/// `sha256:<hex>` of a public key's DER (SubjectPublicKeyInfo) encoding.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let der = key
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// The id a key gets when none is configured: `ed25519-` and 16 hex digits of its fingerprint.
pub fn default_key_id(key: &VerifyingKey) -> String {
    let fp = fingerprint(key);
    format!("ed25519-{}", &fp["sha256:".len().."sha256:".len() + 16])
}

/// A public key as SubjectPublicKeyInfo PEM.
pub fn public_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF).unwrap_or_default()
}

/// Reads a public key PEM (SubjectPublicKeyInfo, `-----BEGIN PUBLIC KEY-----`).
/// Text around the block (such as `remedy keys`' comment lines) is ignored; the first block
/// is read.
pub fn parse_public_pem(pem: &str) -> Result<VerifyingKey, String> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let block = match (pem.find(BEGIN), pem.find(END)) {
        (Some(b), Some(e)) if e > b => &pem[b..e + END.len()],
        _ => pem.trim(),
    };
    VerifyingKey::from_public_key_pem(block)
        .map_err(|e| format!("not an Ed25519 public key PEM: {e}"))
}

/// Reads a private key PEM (PKCS#8, `-----BEGIN PRIVATE KEY-----`).
pub fn parse_private_pem(pem: &str) -> Result<SigningKey, String> {
    SigningKey::from_pkcs8_pem(pem.trim())
        .map_err(|e| format!("not an Ed25519 PKCS#8 private key PEM: {e}"))
}

/// The configured key, if any (read from its file).
fn configured(cfg: &BundleKeyConfig) -> AppResult<Option<Signer>> {
    let Some(path) = &cfg.bundle_signing_key else {
        return Ok(None);
    };
    let pem = std::fs::read_to_string(path)
        .map_err(|e| internal(format!("REMEDY_BUNDLE_SIGNING_KEY {}: {e}", path.display())))?;
    let key = parse_private_pem(&pem)
        .map_err(|e| internal(format!("REMEDY_BUNDLE_SIGNING_KEY {}: {e}", path.display())))?;
    let key_id = cfg
        .bundle_key_id
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| default_key_id(&key.verifying_key()));
    Ok(Some(Signer { key_id, key }))
}

/// Records a public key under its id (once), with its audit event. A different key already
/// published under the same id is refused: an id names one key for good.
async fn record(
    db: &DatabaseConnection,
    gate: &WriteGate,
    key_id: &str,
    public: &VerifyingKey,
    private_pem: Option<String>,
) -> AppResult<bundle_key::Model> {
    let w = Write::begin(db, gate, "system:bundle-keys").await?;
    let pem = public_pem(public);
    if let Some(existing) = bundle_key::Entity::find()
        .filter(bundle_key::Column::KeyId.eq(key_id))
        .one(&w.txn)
        .await?
    {
        w.rollback().await?;
        if existing.public_key_pem.trim() != pem.trim() {
            return Err(AppError::Conflict {
                message: format!(
                    "bundle key id {key_id:?} is already published for another public key"
                ),
                current_version: None,
            });
        }
        return Ok(existing);
    }
    // A key generated by a concurrent writer in the meantime is used instead of a second one.
    if private_pem.is_some() {
        if let Some(generated) = first_generated(&w.txn).await? {
            w.rollback().await?;
            return Ok(generated);
        }
    }
    let generated = private_pem.is_some();
    let row = bundle_key::ActiveModel {
        key_id: Set(key_id.to_string()),
        algorithm: Set(ALGORITHM.to_string()),
        public_key_pem: Set(pem.clone()),
        private_key_pem: Set(private_pem),
        created_at: Set(w.now),
        ..Default::default()
    }
    .insert(&w.txn)
    .await?;
    w.audit(
        "create",
        "BundleKey",
        row.id,
        None,
        Some(serde_json::json!({
            "keyId": key_id,
            "algorithm": ALGORITHM,
            "publicKeyPem": pem,
            "fingerprint": fingerprint(public),
            "generated": generated,
        })),
    )
    .await?;
    w.commit().await?;
    Ok(row)
}

async fn first_generated<C: sea_orm::ConnectionTrait>(
    conn: &C,
) -> AppResult<Option<bundle_key::Model>> {
    Ok(bundle_key::Entity::find()
        .filter(bundle_key::Column::PrivateKeyPem.is_not_null())
        .order_by_asc(bundle_key::Column::Id)
        .one(conn)
        .await?)
}

/// The key to sign with: the configured one (recorded by its public half on first use), or
/// the generated one (generated and kept on first use).
pub async fn signer(
    db: &DatabaseConnection,
    gate: &WriteGate,
    cfg: &BundleKeyConfig,
) -> AppResult<Signer> {
    if let Some(s) = configured(cfg)? {
        record(db, gate, &s.key_id, &s.public(), None).await?;
        return Ok(s);
    }
    let row = match first_generated(db).await? {
        Some(row) => row,
        None => {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| internal(format!("bundle key: {e}")))?
                .to_string();
            let public = key.verifying_key();
            record(db, gate, &default_key_id(&public), &public, Some(pem)).await?
        }
    };
    let pem = row
        .private_key_pem
        .as_deref()
        .ok_or_else(|| internal("generated bundle key without its private half".into()))?;
    let key = parse_private_pem(pem).map_err(|e| internal(format!("stored bundle key: {e}")))?;
    Ok(Signer {
        key_id: row.key_id,
        key,
    })
}

/// Every public key bundles may name: those recorded, oldest first, and the configured one
/// if it signed nothing yet.
pub async fn published(
    db: &DatabaseConnection,
    cfg: &BundleKeyConfig,
) -> AppResult<Vec<BundleKey>> {
    let mut out: Vec<BundleKey> = Vec::new();
    for row in bundle_key::Entity::find()
        .order_by_asc(bundle_key::Column::Id)
        .all(db)
        .await?
    {
        let fp = parse_public_pem(&row.public_key_pem)
            .map(|k| fingerprint(&k))
            .unwrap_or_default();
        out.push(BundleKey {
            key_id: row.key_id,
            algorithm: row.algorithm,
            public_key_pem: row.public_key_pem,
            fingerprint: fp,
            created_at: Some(row.created_at),
        });
    }
    if let Some(s) = configured(cfg)? {
        if !out.iter().any(|k| k.key_id == s.key_id) {
            out.push(BundleKey {
                key_id: s.key_id.clone(),
                algorithm: ALGORITHM.into(),
                public_key_pem: public_pem(&s.public()),
                fingerprint: fingerprint(&s.public()),
                created_at: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_and_ids() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = key.verifying_key();
        let pem = public_pem(&public);
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(parse_public_pem(&pem).unwrap(), public);
        let id = default_key_id(&public);
        assert!(id.starts_with("ed25519-") && id.len() == "ed25519-".len() + 16);
        assert!(fingerprint(&public).starts_with("sha256:"));
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(
            parse_private_pem(&private).unwrap().to_bytes(),
            key.to_bytes()
        );
    }
}
