//! A request's document, prepared once by the HTTP layer before execution: parsed a single
//! time (the executor reuses the parse), looked up or registered as an automatic persisted
//! query (Apollo's protocol), and checked against the field and alias limits.
//!
//! Parses are also kept by query text ([`PARSED_CAPACITY`] documents of at most
//! [`PARSED_MAX_QUERY_BYTES`]): dashboards and scripts send the same few documents over and
//! over, and parsing one cost about 5 % of the server's CPU on a page of 100 measures.
//!
//! Persisted queries are handled here rather than by async-graphql's extension: with any
//! extension registered, every field's resolution goes through the extension chain (a
//! registry lookup and an extra future per field), which cost about 5 % of the server's
//! CPU on list queries (see BENCHMARKS.md).
use async_graphql::extensions::apollo_persisted_queries::{CacheStorage, LruCacheStorage};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::Request;
use serde::Deserialize;

use crate::config::ServerConfig;

/// Why a document was refused before execution: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
struct PersistedQuery {
    version: i32,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

/// Parsed documents kept by query text.
pub const PARSED_CAPACITY: usize = 256;
/// Longer query texts are parsed every time (they would make the cache's memory unbounded in
/// practice).
pub const PARSED_MAX_QUERY_BYTES: usize = 4096;

/// Parsed documents: by the SHA-256 of their text (the persisted-query cache), and by text.
#[derive(Clone)]
pub struct Documents {
    persisted: LruCacheStorage,
    parsed: LruCacheStorage,
}

impl Documents {
    pub fn new(capacity: usize) -> Self {
        Self {
            persisted: LruCacheStorage::new(capacity.max(1)),
            parsed: LruCacheStorage::new(PARSED_CAPACITY),
        }
    }

    /// The parse of a query text, from the cache when it was parsed before; `None` when it
    /// does not parse.
    async fn parse(&self, query: &str) -> Option<ExecutableDocument> {
        if query.len() > PARSED_MAX_QUERY_BYTES {
            return async_graphql::parser::parse_query(query).ok();
        }
        if let Some(doc) = self.parsed.get(query.to_string()).await {
            return Some(doc);
        }
        let doc = async_graphql::parser::parse_query(query).ok()?;
        self.parsed.set(query.to_string(), doc.clone()).await;
        Some(doc)
    }

    /// Resolves the request's persisted query (if any), parses its document once and checks
    /// the limits. A document that does not parse is left to the executor, which reports
    /// the syntax error with its position.
    pub async fn prepare(&self, request: &mut Request, cfg: &ServerConfig) -> Result<(), Refusal> {
        let doc = match request.extensions.remove("persistedQuery") {
            Some(value) => {
                let pq: PersistedQuery = async_graphql::from_value(value).map_err(|_| {
                    Refusal::new(
                        "VALIDATION",
                        "extensions.persistedQuery needs version and sha256Hash",
                    )
                })?;
                if pq.version != 1 {
                    return Err(Refusal::new(
                        "VALIDATION",
                        format!(
                            "persisted queries of version 1 are supported, not {}",
                            pq.version
                        ),
                    ));
                }
                if request.query.is_empty() {
                    let Some(doc) = self.persisted.get(pq.sha256_hash).await else {
                        // The message is the protocol's: clients resend the query on it.
                        return Err(Refusal::new(
                            "PERSISTED_QUERY_NOT_FOUND",
                            "PersistedQueryNotFound",
                        ));
                    };
                    doc
                } else {
                    let hash = crate::service::plan::sha256_hex(request.query.as_bytes());
                    if !hash.eq_ignore_ascii_case(&pq.sha256_hash) {
                        return Err(Refusal::new(
                            "VALIDATION",
                            "provided sha does not match query",
                        ));
                    }
                    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else {
                        return Ok(());
                    };
                    self.persisted.set(hash, doc.clone()).await;
                    doc
                }
            }
            None => match self.parse(&request.query).await {
                Some(doc) => doc,
                None => return Ok(()),
            },
        };
        check_limits(&doc, cfg).map_err(|m| Refusal::new("VALIDATION", m))?;
        request.set_parsed_query(doc);
        Ok(())
    }
}

/// Refuses documents with too many field selections or aliases: the complexity limit
/// counts what a query may return, this counts what the client wrote (alias overloading,
/// field duplication).
pub fn check_limits(doc: &ExecutableDocument, cfg: &ServerConfig) -> Result<(), String> {
    fn walk(set: &SelectionSet, fields: &mut usize, aliases: &mut usize) {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    *fields += 1;
                    if f.node.alias.is_some() {
                        *aliases += 1;
                    }
                    walk(&f.node.selection_set.node, fields, aliases);
                }
                Selection::InlineFragment(fr) => walk(&fr.node.selection_set.node, fields, aliases),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    let (mut fields, mut aliases) = (0usize, 0usize);
    for (_, op) in doc.operations.iter() {
        walk(&op.node.selection_set.node, &mut fields, &mut aliases);
    }
    for fragment in doc.fragments.values() {
        walk(&fragment.node.selection_set.node, &mut fields, &mut aliases);
    }
    if aliases > cfg.max_aliases {
        return Err(format!(
            "too many aliases: {aliases} (the limit is {}, REMEDY_MAX_ALIASES)",
            cfg.max_aliases
        ));
    }
    if fields > cfg.max_fields {
        return Err(format!(
            "too many field selections: {fields} (the limit is {}, REMEDY_MAX_FIELDS)",
            cfg.max_fields
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Variables;
    use serde_json::json;

    fn request(query: &str, ext: Option<serde_json::Value>) -> Request {
        let mut r = Request::new(query).variables(Variables::default());
        if let Some(e) = ext {
            r.extensions = serde_json::from_value(e).unwrap();
        }
        r
    }

    #[tokio::test]
    async fn persisted_queries_register_then_resolve_by_hash() {
        let cfg = ServerConfig::default();
        let docs = Documents::new(8);
        let query = "{ orders { totalCount } }";
        let hash = crate::service::plan::sha256_hex(query.as_bytes());
        let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
        let mut unknown = request("", Some(ext.clone()));
        assert_eq!(
            docs.prepare(&mut unknown, &cfg).await.unwrap_err().code,
            "PERSISTED_QUERY_NOT_FOUND"
        );
        let mut wrong = request("{ orders { nodes { id } } }", Some(ext.clone()));
        assert_eq!(
            docs.prepare(&mut wrong, &cfg).await.unwrap_err().code,
            "VALIDATION"
        );
        let mut first = request(query, Some(ext.clone()));
        docs.prepare(&mut first, &cfg).await.unwrap();
        let mut by_hash = request("", Some(ext));
        docs.prepare(&mut by_hash, &cfg).await.unwrap();
        let doc = by_hash.parsed_query().unwrap();
        assert_eq!(doc.operations.iter().count(), 1);
    }

    #[tokio::test]
    async fn parses_are_kept_by_query_text_and_still_checked_against_the_limits() {
        let cfg = ServerConfig {
            max_aliases: 1,
            ..ServerConfig::default()
        };
        let docs = Documents::new(8);
        let query = "{ a: orders { totalCount } b: orders { totalCount } }";
        for _ in 0..2 {
            let mut r = request(query, None);
            assert_eq!(
                docs.prepare(&mut r, &cfg).await.unwrap_err().code,
                "VALIDATION"
            );
        }
        assert!(docs.parsed.get(query.to_string()).await.is_some());
        let ok = "{ orders { totalCount } }";
        let mut r = request(ok, None);
        docs.prepare(&mut r, &cfg).await.unwrap();
        let mut again = request(ok, None);
        docs.prepare(&mut again, &cfg).await.unwrap();
        assert_eq!(again.parsed_query().unwrap().operations.iter().count(), 1);
        // Long texts and syntax errors are not kept.
        let long = format!(
            "{{ orders {{ totalCount }} }} #{}",
            "x".repeat(PARSED_MAX_QUERY_BYTES)
        );
        docs.prepare(&mut request(&long, None), &cfg).await.unwrap();
        assert!(docs.parsed.get(long).await.is_none());
        docs.prepare(&mut request("{ orders {", None), &cfg)
            .await
            .unwrap();
        assert!(docs.parsed.get("{ orders {".to_string()).await.is_none());
    }

    #[tokio::test]
    async fn limits_apply_to_persisted_documents_too() {
        let cfg = ServerConfig {
            max_aliases: 1,
            ..ServerConfig::default()
        };
        let docs = Documents::new(8);
        let query = "{ a: orders { totalCount } b: orders { totalCount } }";
        let mut plain = request(query, None);
        assert_eq!(
            docs.prepare(&mut plain, &cfg).await.unwrap_err().code,
            "VALIDATION"
        );
        let hash = crate::service::plan::sha256_hex(query.as_bytes());
        let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
        let mut persisted = request(query, Some(ext));
        assert!(docs.prepare(&mut persisted, &cfg).await.is_err());
    }
}
