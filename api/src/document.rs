//! A request's document, prepared once before execution, whatever the transport: its size
//! counted in lexical tokens before it is parsed, parsed a single time (the executor reuses
//! the parse), looked up or registered as an automatic persisted query (Apollo's protocol),
//! and checked against the field, alias and expanded-size limits — the last with every
//! fragment's size computed once (memoised), so fragments that double each other are refused
//! in microseconds instead of being expanded by validation.
//!
//! Parses are kept by query text, and persisted queries by hash, in caches bounded by the
//! total bytes of their documents' text (`REMEDY_DOCUMENT_CACHE_BYTES`). A document enters a
//! cache only once it passed every limit, async-graphql's validation included: preparing
//! returns a [`Pending`] entry that [`Documents::commit`] keeps after execution.
//!
//! Persisted queries are handled here rather than by async-graphql's extension: with any
//! extension registered, every field's resolution goes through the extension chain (a
//! registry lookup and an extra future per field), which cost about 5 % of the server's
//! CPU on list queries (see BENCHMARKS.md).
use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::Request;
use serde::Deserialize;

use crate::config::ServerConfig;

/// Why a document was refused before execution: a stable code, a message and, for a
/// document that does not parse, where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub locations: Vec<async_graphql::Pos>,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            locations: Vec::new(),
        }
    }

    /// A document the parser refused: `GRAPHQL_PARSE_FAILED` with a one-line message and the
    /// position, for a syntax error (the parser's own message draws the line with a caret
    /// over several lines); the document-level rules the parser also checks (one anonymous
    /// operation, unique operation and fragment names) are `VALIDATION`.
    pub fn parse(err: &async_graphql::parser::Error) -> Self {
        use async_graphql::parser::Error;
        let (code, message) = match err {
            Error::Syntax { message, .. } => {
                // The last "= ..." line of pest's drawing says what was expected.
                let what = message
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("= "))
                    .next_back()
                    .unwrap_or("unexpected input");
                ("GRAPHQL_PARSE_FAILED", format!("Syntax error: {what}"))
            }
            Error::MissingOperation | Error::RecursionLimitExceeded => {
                ("GRAPHQL_PARSE_FAILED", format!("Syntax error: {err}"))
            }
            other => ("VALIDATION", other.to_string()),
        };
        Self {
            code,
            message: message.replace(['\n', '\r'], " "),
            locations: err.positions().take(1).collect(),
        }
    }
}

#[derive(Deserialize)]
struct PersistedQuery {
    version: i32,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

/// Longer query texts are never cached (parsed each time).
pub const CACHED_MAX_QUERY_BYTES: usize = 64 * 1024;

/// A least-recently-used map bounded by the bytes of its entries' text.
struct ByteLru {
    entries: lru::LruCache<String, (ExecutableDocument, usize)>,
    bytes: usize,
    budget: usize,
}

impl ByteLru {
    fn new(budget: usize) -> Self {
        Self {
            entries: lru::LruCache::unbounded(),
            bytes: 0,
            budget,
        }
    }

    fn get(&mut self, key: &str) -> Option<ExecutableDocument> {
        self.entries.get(key).map(|(doc, _)| doc.clone())
    }

    fn put(&mut self, key: String, doc: ExecutableDocument, text_bytes: usize) {
        let weight = key.len() + text_bytes;
        if weight > self.budget {
            return;
        }
        if let Some((_, old)) = self.entries.put(key, (doc, weight)) {
            self.bytes -= old;
        }
        self.bytes += weight;
        while self.bytes > self.budget {
            match self.entries.pop_lru() {
                Some((_, (_, w))) => self.bytes -= w,
                None => break,
            }
        }
    }
}

/// A document to keep once it has passed validation too.
#[derive(Debug)]
pub struct Pending {
    persisted: bool,
    key: String,
    text_bytes: usize,
    doc: ExecutableDocument,
}

/// Parsed documents: by the SHA-256 of their text (the persisted-query cache), and by text.
pub struct Documents {
    persisted: Mutex<ByteLru>,
    parsed: Mutex<ByteLru>,
}

impl Documents {
    /// Caches holding at most `budget_bytes` of text in all (half each).
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            persisted: Mutex::new(ByteLru::new(budget_bytes / 2)),
            parsed: Mutex::new(ByteLru::new(budget_bytes / 2)),
        }
    }

    fn lock(m: &Mutex<ByteLru>) -> std::sync::MutexGuard<'_, ByteLru> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes held by the caches (persisted, parsed), for tests and metrics.
    pub fn held_bytes(&self) -> (usize, usize) {
        (
            Self::lock(&self.persisted).bytes,
            Self::lock(&self.parsed).bytes,
        )
    }

    /// Keeps a prepared document once its execution showed it passed validation.
    pub fn commit(&self, pending: Pending) {
        let cache = if pending.persisted {
            &self.persisted
        } else {
            &self.parsed
        };
        Self::lock(cache).put(pending.key, pending.doc, pending.text_bytes);
    }

    /// Resolves the request's persisted query (if any), counts its tokens, parses it once and
    /// checks the limits. A request without a query (nor a persisted query's hash) is refused
    /// (`VALIDATION`), a document that does not parse too (`GRAPHQL_PARSE_FAILED`, one line,
    /// with its position: [`Refusal::parse`]). On success, the returned entry (if any)
    /// is to be [`commit`](Self::commit)ted once the document also passed validation.
    pub fn prepare(
        &self,
        request: &mut Request,
        cfg: &ServerConfig,
    ) -> Result<Option<Pending>, Refusal> {
        let mut pending = None;
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
                    let key = pq.sha256_hash.to_ascii_lowercase();
                    let Some(doc) = Self::lock(&self.persisted).get(&key) else {
                        // The message is the protocol's: clients resend the query on it.
                        return Err(Refusal::new(
                            "PERSISTED_QUERY_NOT_FOUND",
                            "PersistedQueryNotFound",
                        ));
                    };
                    doc
                } else {
                    let hash = crate::digest::sha256_hex(request.query.as_bytes());
                    if !hash.eq_ignore_ascii_case(&pq.sha256_hash) {
                        return Err(Refusal::new(
                            "VALIDATION",
                            "provided sha does not match query",
                        ));
                    }
                    check_tokens(&request.query, cfg)?;
                    let doc = parse(&request.query)?;
                    if request.query.len() <= CACHED_MAX_QUERY_BYTES {
                        pending = Some(Pending {
                            persisted: true,
                            key: hash,
                            text_bytes: request.query.len(),
                            doc: doc.clone(),
                        });
                    }
                    doc
                }
            }
            None => {
                let cached = if request.query.len() <= CACHED_MAX_QUERY_BYTES {
                    Self::lock(&self.parsed).get(&request.query)
                } else {
                    None
                };
                match cached {
                    Some(doc) => doc,
                    None => {
                        if request.query.trim().is_empty() {
                            return Err(Refusal::new(
                                "VALIDATION",
                                "the request carries no query (a GraphQL document in `query`, \
                                 or a persisted query's hash in `extensions.persistedQuery`)",
                            ));
                        }
                        check_tokens(&request.query, cfg)?;
                        let doc = parse(&request.query)?;
                        if request.query.len() <= CACHED_MAX_QUERY_BYTES {
                            pending = Some(Pending {
                                persisted: false,
                                key: request.query.clone(),
                                text_bytes: 0,
                                doc: doc.clone(),
                            });
                        }
                        doc
                    }
                }
            }
        };
        check_limits(&doc, cfg)?;
        request.set_parsed_query(doc);
        Ok(pending)
    }
}

/// Parses a document, or the refusal naming the syntax error.
fn parse(query: &str) -> Result<ExecutableDocument, Refusal> {
    async_graphql::parser::parse_query(query).map_err(|e| Refusal::parse(&e))
}

/// Refuses a document of more lexical tokens than `REMEDY_MAX_TOKENS`, counted in one pass
/// that stops at the limit, before any parse.
fn check_tokens(query: &str, cfg: &ServerConfig) -> Result<(), Refusal> {
    match count_tokens(query, cfg.max_tokens) {
        Some(_) => Ok(()),
        None => Err(Refusal::new(
            "VALIDATION",
            format!(
                "the document has more than {} tokens (REMEDY_MAX_TOKENS)",
                cfg.max_tokens
            ),
        )),
    }
}

/// The number of GraphQL lexical tokens in `text` (names, numbers, strings, punctuators;
/// white space, commas and comments are ignored), or `None` once it exceeds `max`.
pub fn count_tokens(text: &str, max: usize) -> Option<usize> {
    let b = text.as_bytes();
    let (mut i, mut n) = (0usize, 0usize);
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                if b[i..].starts_with(b"\"\"\"") {
                    i += 3;
                    while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                        i += if b[i..].starts_with(b"\\\"\"\"") {
                            4
                        } else {
                            1
                        };
                    }
                    i += 3;
                } else {
                    i += 1;
                    while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            b'.' if b[i..].starts_with(b"...") => i += 3,
            c if c == b'_' || c == b'-' || c.is_ascii_alphanumeric() => {
                i += 1;
                while i < b.len()
                    && (b[i] == b'_'
                        || b[i] == b'.'
                        || b[i] == b'+'
                        || b[i].is_ascii_alphanumeric())
                {
                    // Names and numbers (with their fraction and exponent) are one token.
                    if (b[i] == b'+' || b[i] == b'.') && !b[i - 1].is_ascii_alphanumeric() {
                        break;
                    }
                    i += 1;
                }
            }
            _ => i += 1,
        }
        n += 1;
        if n > max {
            return None;
        }
    }
    Some(n)
}

/// Refuses documents with too many field selections or aliases (what the client wrote:
/// alias overloading, field duplication), or that expand to too many field selections once
/// fragments are spread (what validation and execution would walk).
pub fn check_limits(doc: &ExecutableDocument, cfg: &ServerConfig) -> Result<(), Refusal> {
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
        return Err(Refusal::new(
            "VALIDATION",
            format!(
                "too many aliases: {aliases} (the limit is {}, REMEDY_MAX_ALIASES)",
                cfg.max_aliases
            ),
        ));
    }
    if fields > cfg.max_fields {
        return Err(Refusal::new(
            "VALIDATION",
            format!(
                "too many field selections: {fields} (the limit is {}, REMEDY_MAX_FIELDS)",
                cfg.max_fields
            ),
        ));
    }
    let depth = expanded_depth(doc);
    if depth > cfg.max_depth {
        return Err(Refusal::new(
            "QUERY_TOO_DEEP",
            format!(
                "query is nested too deep: {depth} levels, the limit is {} levels (REMEDY_MAX_DEPTH)",
                cfg.max_depth
            ),
        ));
    }
    let expanded = expanded_fields(doc);
    if expanded > cfg.max_expanded_fields as u64 {
        return Err(Refusal::new(
            "QUERY_TOO_COMPLEX",
            format!(
                "the document expands to {} field selections once its fragments are spread \
                 (the limit is {}, REMEDY_MAX_EXPANDED_FIELDS)",
                if expanded == u64::MAX {
                    "more than 2^64".to_string()
                } else {
                    expanded.to_string()
                },
                cfg.max_expanded_fields
            ),
        ));
    }
    Ok(())
}

/// Introspection roots: their subtrees are bounded by the schema itself (and by the
/// complexity, expanded-size and recursion limits), so they do not count towards the depth
/// limit; the standard introspection queries of graphql-js, graphql-core and GraphiQL nest
/// `ofType` nine deep.
const INTROSPECTION_ROOTS: [&str; 2] = ["__schema", "__type"];

/// The deepest nesting of fields any operation of the document reaches once fragments are
/// spread (a root field is level 1), each fragment's depth computed once; an introspection
/// root counts as one level.
pub fn expanded_depth(doc: &ExecutableDocument) -> usize {
    fn set_depth(
        set: &SelectionSet,
        doc: &ExecutableDocument,
        memo: &mut HashMap<String, Option<usize>>,
    ) -> usize {
        let mut deepest = 0;
        for item in &set.items {
            let d = match &item.node {
                Selection::Field(f) => {
                    if INTROSPECTION_ROOTS.contains(&f.node.name.node.as_str()) {
                        1
                    } else {
                        1 + set_depth(&f.node.selection_set.node, doc, memo)
                    }
                }
                Selection::InlineFragment(fr) => set_depth(&fr.node.selection_set.node, doc, memo),
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match memo.get(name) {
                        Some(Some(d)) => *d,
                        // A cycle: validation names it.
                        Some(None) => 0,
                        None => match doc.fragments.get(&spread.node.fragment_name.node) {
                            None => 0,
                            Some(fragment) => {
                                memo.insert(name.to_string(), None);
                                let d = set_depth(&fragment.node.selection_set.node, doc, memo);
                                memo.insert(name.to_string(), Some(d));
                                d
                            }
                        },
                    }
                }
            };
            deepest = deepest.max(d);
        }
        deepest
    }
    let mut memo = HashMap::new();
    doc.operations
        .iter()
        .map(|(_, op)| set_depth(&op.node.selection_set.node, doc, &mut memo))
        .max()
        .unwrap_or(0)
}

/// The most field selections any operation of the document expands to, every fragment's
/// expansion computed once (saturating; a fragment spread inside its own expansion counts
/// nothing, validation refuses the cycle).
pub fn expanded_fields(doc: &ExecutableDocument) -> u64 {
    #[derive(Clone, Copy)]
    enum State {
        Visiting,
        Done(u64),
    }
    fn set_size(
        set: &SelectionSet,
        doc: &ExecutableDocument,
        memo: &mut HashMap<String, State>,
    ) -> u64 {
        let mut total = 0u64;
        for item in &set.items {
            let n = match &item.node {
                Selection::Field(f) => {
                    1u64.saturating_add(set_size(&f.node.selection_set.node, doc, memo))
                }
                Selection::InlineFragment(fr) => set_size(&fr.node.selection_set.node, doc, memo),
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match memo.get(name) {
                        Some(State::Done(n)) => *n,
                        Some(State::Visiting) => 0,
                        None => match doc.fragments.get(&spread.node.fragment_name.node) {
                            None => 0,
                            Some(fragment) => {
                                memo.insert(name.to_string(), State::Visiting);
                                let n = set_size(&fragment.node.selection_set.node, doc, memo);
                                memo.insert(name.to_string(), State::Done(n));
                                n
                            }
                        },
                    }
                }
            };
            total = total.saturating_add(n);
        }
        total
    }
    let mut memo = HashMap::new();
    doc.operations
        .iter()
        .map(|(_, op)| set_size(&op.node.selection_set.node, doc, &mut memo))
        .max()
        .unwrap_or(0)
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

    #[test]
    fn persisted_queries_register_after_validation_then_resolve_by_hash() {
        let cfg = ServerConfig::default();
        let docs = Documents::new(1 << 20);
        let query = "{ orders { totalCount } }";
        let hash = crate::digest::sha256_hex(query.as_bytes());
        let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
        let mut unknown = request("", Some(ext.clone()));
        assert_eq!(
            docs.prepare(&mut unknown, &cfg).unwrap_err().code,
            "PERSISTED_QUERY_NOT_FOUND"
        );
        let mut wrong = request("{ orders { nodes { id } } }", Some(ext.clone()));
        assert_eq!(
            docs.prepare(&mut wrong, &cfg).unwrap_err().code,
            "VALIDATION"
        );
        let mut first = request(query, Some(ext.clone()));
        let pending = docs.prepare(&mut first, &cfg).unwrap().expect("to keep");
        // Not kept until committed (after validation passed).
        let mut early = request("", Some(ext.clone()));
        assert!(docs.prepare(&mut early, &cfg).is_err());
        docs.commit(pending);
        let mut by_hash = request("", Some(ext));
        docs.prepare(&mut by_hash, &cfg).unwrap();
        let doc = by_hash.parsed_query().unwrap();
        assert_eq!(doc.operations.iter().count(), 1);
    }

    #[test]
    fn documents_refused_by_a_limit_are_never_kept() {
        let cfg = ServerConfig {
            max_aliases: 1,
            ..ServerConfig::default()
        };
        let docs = Documents::new(1 << 20);
        let query = "{ a: orders { totalCount } b: orders { totalCount } }";
        for _ in 0..2 {
            let mut r = request(query, None);
            assert_eq!(docs.prepare(&mut r, &cfg).unwrap_err().code, "VALIDATION");
        }
        let hash = crate::digest::sha256_hex(query.as_bytes());
        let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
        assert!(docs.prepare(&mut request(query, Some(ext)), &cfg).is_err());
        assert_eq!(docs.held_bytes(), (0, 0));
    }

    #[test]
    fn caches_are_bounded_by_bytes() {
        let cfg = ServerConfig::default();
        let docs = Documents::new(4096);
        for i in 0..200 {
            let q = format!("{{ orders(first: {i}) {{ totalCount }} }}");
            let mut r = request(&q, None);
            if let Some(p) = docs.prepare(&mut r, &cfg).unwrap() {
                docs.commit(p);
            }
        }
        let (_, parsed) = docs.held_bytes();
        assert!(parsed > 0 && parsed <= 2048, "{parsed}");
        // The most recent one is still there: a second prepare has nothing to keep.
        let q = "{ orders(first: 199) { totalCount } }";
        assert!(docs.prepare(&mut request(q, None), &cfg).unwrap().is_none());
    }

    #[test]
    fn fragments_that_double_each_other_are_refused_without_expanding_them() {
        let cfg = ServerConfig::default();
        let mut q = String::from("query { ...F40 } fragment F0 on Query { orders { totalCount } }");
        for i in 1..=40 {
            q.push_str(&format!(
                " fragment F{i} on Query {{ ...F{p} ...F{p} }}",
                p = i - 1
            ));
        }
        let started = std::time::Instant::now();
        let err = Documents::new(1 << 20)
            .prepare(&mut request(&q, None), &cfg)
            .unwrap_err();
        assert_eq!(err.code, "QUERY_TOO_COMPLEX", "{}", err.message);
        assert!(started.elapsed() < std::time::Duration::from_millis(200));
        let doc = async_graphql::parser::parse_query(&q).unwrap();
        assert_eq!(expanded_fields(&doc), 2u64.pow(40) * 2);
        // A cycle counts nothing here (validation names it).
        let cyclic = async_graphql::parser::parse_query(
            "{ ...A } fragment A on Query { orders { totalCount } ...B } fragment B on Query { ...A }",
        )
        .unwrap();
        assert_eq!(expanded_fields(&cyclic), 2);
    }

    #[test]
    fn depth_counts_fragments_once_and_not_introspection_subtrees() {
        let doc = |q: &str| async_graphql::parser::parse_query(q).unwrap();
        assert_eq!(expanded_depth(&doc("{ a { b { c } } }")), 3);
        assert_eq!(
            expanded_depth(&doc("{ a { ...F } } fragment F on T { b { c { d } } }")),
            4
        );
        let typeref = "fragment R on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } }";
        let introspection =
            format!("{{ __schema {{ types {{ fields {{ type {{ ...R }} }} }} }} }} {typeref}");
        assert_eq!(expanded_depth(&doc(&introspection)), 1);
        assert_eq!(
            expanded_depth(&doc(&format!("{{ orders {{ nodes {{ __typename }} }} __type(name: \"X\") {{ ...R }} }} {typeref}"))),
            3
        );
        let cfg = ServerConfig::default();
        let deep = format!("{}{}", "{ a ".repeat(13), "}".repeat(13));
        let err = Documents::new(1 << 20)
            .prepare(&mut request(&deep, None), &cfg)
            .unwrap_err();
        assert_eq!(err.code, "QUERY_TOO_DEEP");
        assert!(err.message.contains("the limit is 12"), "{}", err.message);
    }

    #[test]
    fn tokens_are_counted_before_parsing() {
        assert_eq!(count_tokens("{ orders { totalCount } }", 100), Some(6));
        assert_eq!(
            count_tokens(
                "query Q($a: Int = -1.5e+10) { f(s: \"a b\", t: \"\"\"x\"\"\") }",
                100
            ),
            Some(21)
        );
        assert_eq!(count_tokens("# only a comment\n,,,", 100), Some(0));
        assert_eq!(count_tokens(&"{ a ".repeat(1000), 100), None);
        let cfg = ServerConfig {
            max_tokens: 10,
            ..ServerConfig::default()
        };
        let err = Documents::new(1 << 20)
            .prepare(&mut request(&"{ a }".repeat(10), None), &cfg)
            .unwrap_err();
        assert_eq!(err.code, "VALIDATION");
        assert!(err.message.contains("REMEDY_MAX_TOKENS"));
    }
}
