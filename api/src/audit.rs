//! The append-only, hash-chained audit log.
//!
//! Every change writes one event in the same transaction as the change. Each event's
//! `hash` is SHA-256 over the previous event's hash and the event's canonical form, so
//! editing or deleting any row breaks the chain from that row on, which `verify` reports.
use chrono::{DateTime, SubsecRound, Utc};
use entity::audit_event;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::AppResult;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Serialises JSON with object keys sorted and no insignificant whitespace, so that the
/// same value always gives the same bytes whatever map implementation built it.
pub fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String((*k).clone()).to_string());
                    out.push(':');
                    write(&map[*k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// The hashed fields of one event.
pub struct HashedFields<'a> {
    pub at: &'a DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
}

impl<'a> From<&'a audit_event::Model> for HashedFields<'a> {
    fn from(e: &'a audit_event::Model) -> Self {
        Self {
            at: &e.at,
            actor: &e.actor,
            action: &e.action,
            entity: &e.entity,
            entity_id: &e.entity_id,
            before: e.before.as_deref(),
            after: e.after.as_deref(),
        }
    }
}

/// The hash of one event given its predecessor's hash.
pub fn event_hash(prev_hash: &str, f: &HashedFields<'_>) -> String {
    let body = serde_json::json!({
        "at": f.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "actor": f.actor,
        "action": f.action,
        "entity": f.entity,
        "entityId": f.entity_id,
        "before": f.before,
        "after": f.after,
    });
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_json(&body).as_bytes());
    hex::encode(hasher.finalize())
}

/// One change to record.
pub struct Change<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Appends an event. Call inside the transaction that makes the change.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    change: Change<'_>,
) -> AppResult<audit_event::Model> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        // Serialise appenders so the chain never forks; released at commit or rollback.
        conn.execute_unprepared("SELECT pg_advisory_xact_lock(72471101)")
            .await?;
    }
    let prev_hash = audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Id)
        .select_only()
        .column(audit_event::Column::Hash)
        .into_tuple::<String>()
        .one(conn)
        .await?
        .unwrap_or_else(|| GENESIS.to_string());
    // The database keeps microseconds; hash exactly what is stored.
    let at = Utc::now().trunc_subsecs(6);
    let before = change.before.as_ref().map(canonical_json);
    let after = change.after.as_ref().map(canonical_json);
    let hash = event_hash(
        &prev_hash,
        &HashedFields {
            at: &at,
            actor: change.actor,
            action: change.action,
            entity: change.entity,
            entity_id: &change.entity_id,
            before: before.as_deref(),
            after: after.as_deref(),
        },
    );
    let row = audit_event::ActiveModel {
        at: Set(at),
        actor: Set(change.actor.to_string()),
        action: Set(change.action.to_string()),
        entity: Set(change.entity.to_string()),
        entity_id: Set(change.entity_id),
        before: Set(before),
        after: Set(after),
        prev_hash: Set(prev_hash),
        hash: Set(hash),
        ..Default::default()
    };
    Ok(row.insert(conn).await?)
}

/// The outcome of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub events: u64,
    /// The id of the first event whose link or hash does not hold.
    pub first_broken: Option<i64>,
}

/// Walks the whole chain in id order, in pages, recomputing every hash.
pub async fn verify<C: ConnectionTrait>(conn: &C) -> AppResult<Verification> {
    let mut prev = GENESIS.to_string();
    let mut last_id = 0i64;
    let mut events = 0u64;
    loop {
        use sea_orm::{ColumnTrait, QueryFilter};
        let page = audit_event::Entity::find()
            .filter(audit_event::Column::Id.gt(last_id))
            .order_by_asc(audit_event::Column::Id)
            .limit(1000)
            .all(conn)
            .await?;
        if page.is_empty() {
            return Ok(Verification {
                events,
                first_broken: None,
            });
        }
        for e in page {
            events += 1;
            let expected = event_hash(&prev, &HashedFields::from(&e));
            if e.prev_hash != prev || e.hash != expected {
                return Ok(Verification {
                    events,
                    first_broken: Some(e.id),
                });
            }
            prev = e.hash;
            last_id = e.id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":1,"y":2}],"c":"x"}}"#).unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x","d":[{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn hash_depends_on_predecessor_and_content() {
        let at = Utc::now();
        let fields = |after| HashedFields {
            at: &at,
            actor: "u",
            action: "create",
            entity: "Measure",
            entity_id: "1",
            before: None,
            after,
        };
        let a = event_hash(GENESIS, &fields(Some("{}")));
        let b = event_hash(&a, &fields(Some("{}")));
        let c = event_hash(GENESIS, &fields(Some("{\"x\":1}")));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 64);
    }
}
