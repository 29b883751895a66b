//! Content digests: the lower-case hex SHA-256 remedy records for evidence, persisted queries
//! and audit events.
use sha2::{Digest, Sha256};

/// The lower-case hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
