//! Field errors as the GraphQL specification handles them ("Handling Execution Errors"): a
//! field whose resolution failed is `null` in its object, and when that field is of a
//! non-null type the `null` goes up to the nearest nullable parent (a list item, a field, or
//! `data` itself).
//!
//! async-graphql 7.2.1 does neither: its `do_resolve_container` (`resolver_utils/container.rs`)
//! resolves every field of an object, records a failed field's error and leaves the field's
//! key out of the object (it no longer bails out on the first error; cf. async-graphql PR
//! #1746), and an object whose every field failed becomes `null` even where its type is
//! non-null. Clients that
//! rely on the response's shape (normalised caches such as Apollo's and urql's) then read a
//! missing key. [`complete`] rewrites the response's data from the errors' paths, the
//! operation's document (for aliases and fragments) and the schema's field types
//! ([`Shape`]).
use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet, Type,
    TypeKind, TypeSystemDefinition,
};
use async_graphql::{PathSegment, ServerError, Value};

/// The output types of a schema: each object's and interface's fields with their types, and
/// the root types.
#[derive(Debug, Default)]
pub struct Shape {
    fields: HashMap<String, HashMap<String, Type>>,
    /// Object types of each interface or union.
    possible: HashMap<String, Vec<String>>,
    query: String,
    mutation: String,
    subscription: String,
}

impl Shape {
    /// Reads the schema's SDL (`Schema::sdl`); an SDL that does not parse gives an empty
    /// shape, under which every failed field is simply `null`.
    pub fn from_sdl(sdl: &str) -> Self {
        let mut shape = Shape {
            query: "Query".into(),
            mutation: "Mutation".into(),
            subscription: "Subscription".into(),
            ..Shape::default()
        };
        let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
            return shape;
        };
        for def in doc.definitions {
            match def {
                TypeSystemDefinition::Schema(s) => {
                    let s = s.node;
                    if let Some(q) = s.query {
                        shape.query = q.node.to_string();
                    }
                    if let Some(m) = s.mutation {
                        shape.mutation = m.node.to_string();
                    }
                    if let Some(s) = s.subscription {
                        shape.subscription = s.node.to_string();
                    }
                }
                TypeSystemDefinition::Type(t) => {
                    let t = t.node;
                    let name = t.name.node.to_string();
                    let (fields, implements) = match t.kind {
                        TypeKind::Object(o) => (o.fields, o.implements),
                        TypeKind::Interface(i) => (i.fields, Vec::new()),
                        TypeKind::Union(u) => {
                            for m in u.members {
                                shape
                                    .possible
                                    .entry(name.clone())
                                    .or_default()
                                    .push(m.node.to_string());
                            }
                            continue;
                        }
                        _ => continue,
                    };
                    for i in implements {
                        shape
                            .possible
                            .entry(i.node.to_string())
                            .or_default()
                            .push(name.clone());
                    }
                    let entry = shape.fields.entry(name).or_default();
                    for f in fields {
                        entry.insert(f.node.name.node.to_string(), f.node.ty.node);
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        shape
    }

    /// The type of `field` on `ty`; on an interface or union without it, the one of its
    /// possible types when they all agree on it.
    fn field_type(&self, ty: &str, field: &str) -> Option<Type> {
        if let Some(t) = self.fields.get(ty).and_then(|f| f.get(field)) {
            return Some(t.clone());
        }
        let mut found: Option<Type> = None;
        for object in self.possible.get(ty)? {
            if let Some(t) = self.fields.get(object).and_then(|f| f.get(field)) {
                match &found {
                    None => found = Some(t.clone()),
                    Some(prev) if prev == t => {}
                    // Possible types disagree: take the field as nullable.
                    Some(_) => return None,
                }
            }
        }
        found
    }
}

/// The fields of `sets` (with their fragments spread) answering to `key`, each with the type
/// it was selected on: the selection sets to look into one level down.
fn matching<'a>(
    sets: &[(&'a SelectionSet, String)],
    key: &str,
    doc: &'a ExecutableDocument,
    out: &mut Vec<(&'a async_graphql::parser::types::Field, String)>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    for (set, on) in sets {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    if f.node.response_key().node.as_str() == key {
                        out.push((&f.node, on.clone()));
                    }
                }
                Selection::InlineFragment(fr) => {
                    let on = fr
                        .node
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.to_string())
                        .unwrap_or_else(|| on.clone());
                    matching(
                        &[(&fr.node.selection_set.node, on)],
                        key,
                        doc,
                        out,
                        depth + 1,
                    );
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                        let on = fragment.node.type_condition.node.on.node.to_string();
                        matching(
                            &[(&fragment.node.selection_set.node, on)],
                            key,
                            doc,
                            out,
                            depth + 1,
                        );
                    }
                }
            }
        }
    }
}

/// The selected operation's type and selection set.
fn operation<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<(OperationType, &'a SelectionSet)> {
    let op = match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(n)) => ops.get(n)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    Some((op.node.ty, &op.node.selection_set.node))
}

/// Whether each position along `path` (after each segment) is nullable, as far as the
/// document and the schema tell; a position they do not tell is nullable.
fn nullability(
    path: &[PathSegment],
    shape: &Shape,
    doc: Option<&ExecutableDocument>,
    operation_name: Option<&str>,
) -> Vec<bool> {
    let mut out = vec![true; path.len()];
    let Some(doc) = doc else {
        return out;
    };
    let Some((kind, root_set)) = operation(doc, operation_name) else {
        return out;
    };
    let root = match kind {
        OperationType::Query => &shape.query,
        OperationType::Mutation => &shape.mutation,
        OperationType::Subscription => &shape.subscription,
    };
    let mut sets: Vec<(&SelectionSet, String)> = vec![(root_set, root.clone())];
    // The type at the current position, lists not yet unwrapped.
    let mut current: Option<Type> = None;
    for (i, seg) in path.iter().enumerate() {
        match seg {
            PathSegment::Index(_) => {
                let item = match current.take().map(|t| t.base) {
                    Some(BaseType::List(item)) => *item,
                    _ => return out,
                };
                out[i] = item.nullable;
                current = Some(item);
            }
            PathSegment::Field(key) => {
                let mut found = Vec::new();
                matching(&sets, key, doc, &mut found, 0);
                let Some((field, on)) = found.first() else {
                    return out;
                };
                let Some(ty) = shape.field_type(on, field.name.node.as_str()) else {
                    return out;
                };
                out[i] = ty.nullable;
                let mut named = &ty;
                while let BaseType::List(item) = &named.base {
                    named = item;
                }
                let BaseType::Named(inner) = &named.base else {
                    return out;
                };
                let inner = inner.to_string();
                sets = found
                    .iter()
                    .map(|(f, _)| (&f.selection_set.node, inner.clone()))
                    .collect();
                current = Some(ty);
            }
        }
    }
    out
}

/// Sets the value at `path` to null, turning the missing or collapsed (`null`) containers on
/// the way into objects (a field under them was resolved, so they were not null).
fn set_null(data: &mut Value, path: &[PathSegment]) {
    let mut cur = data;
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        match seg {
            PathSegment::Field(key) => {
                if !matches!(cur, Value::Object(_)) {
                    *cur = Value::Object(Default::default());
                }
                let Value::Object(map) = cur else {
                    return;
                };
                let name = async_graphql::Name::new(key);
                if last {
                    map.insert(name, Value::Null);
                    return;
                }
                cur = map.entry(name).or_insert(Value::Null);
            }
            PathSegment::Index(idx) => {
                let Value::List(items) = cur else {
                    // A list is never collapsed by the executor: nothing to rebuild.
                    return;
                };
                let Some(item) = items.get_mut(*idx) else {
                    return;
                };
                if last {
                    *item = Value::Null;
                    return;
                }
                cur = item;
            }
        }
    }
}

/// Completes `data` from the field errors (those with a path): each failed field is `null`,
/// and a `null` in a non-null position is moved up to the nearest nullable one (`data`
/// itself when there is none). `doc` is the operation's document (`None`: every failed field
/// taken as nullable).
pub fn complete(
    data: &mut Value,
    errors: &[ServerError],
    shape: &Shape,
    doc: Option<&ExecutableDocument>,
    operation_name: Option<&str>,
) {
    let mut targets: Vec<&[PathSegment]> = Vec::new();
    let mut to_root = false;
    for err in errors.iter().filter(|e| !e.path.is_empty()) {
        let nullable = nullability(&err.path, shape, doc, operation_name);
        match (0..err.path.len()).rev().find(|&i| nullable[i]) {
            Some(i) => targets.push(&err.path[..=i]),
            None => to_root = true,
        }
    }
    if to_root {
        *data = Value::Null;
        return;
    }
    // Deepest first: a shallower null then covers whatever a deeper one rebuilt under it.
    targets.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in targets {
        set_null(data, path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SDL: &str = r#"
        type Query { orders: OrderConnection!  node(id: ID!): Node  order: Order }
        type OrderConnection { nodes: [Order!]!  totalCount: Int! }
        interface Node { id: ID! }
        type Order implements Node { id: ID!  reference: String!  progress: Progress  strict: Progress!  tags: [String] }
        type Progress { total: Int!  done: Int }
        schema { query: Query }
    "#;

    fn err(path: serde_json::Value) -> ServerError {
        let mut e = ServerError::new("failed", None);
        e.path = serde_json::from_value(path).unwrap();
        e
    }

    fn run(
        query: &str,
        data: serde_json::Value,
        errors: &[serde_json::Value],
    ) -> serde_json::Value {
        let shape = Shape::from_sdl(SDL);
        let doc = async_graphql::parser::parse_query(query).unwrap();
        let mut value = Value::from_json(data).unwrap();
        let errors: Vec<ServerError> = errors.iter().map(|p| err(p.clone())).collect();
        complete(&mut value, &errors, &shape, Some(&doc), None);
        value.into_json().unwrap()
    }

    #[test]
    fn a_failed_nullable_field_is_null_in_its_object() {
        let q = "{ orders { nodes { reference progress { total } } } }";
        let data = json!({ "orders": { "nodes": [ { "reference": "A" }, { "reference": "B", "progress": { "total": 1 } } ] } });
        let out = run(q, data, &[json!(["orders", "nodes", 0, "progress"])]);
        assert_eq!(
            out,
            json!({ "orders": { "nodes": [ { "reference": "A", "progress": null }, { "reference": "B", "progress": { "total": 1 } } ] } })
        );
    }

    #[test]
    fn a_failed_non_null_field_nulls_its_nearest_nullable_parent() {
        // strict: Progress! inside Order! inside [Order!]! inside OrderConnection!: up to data.
        let q = "{ orders { nodes { reference strict { total } } } }";
        let data = json!({ "orders": { "nodes": [ { "reference": "A" } ] } });
        assert_eq!(
            run(q, data, &[json!(["orders", "nodes", 0, "strict"])]),
            json!(null)
        );
        // total: Int! inside progress: Progress (nullable): progress is null.
        let q = "{ order { reference progress { total done } } }";
        let data = json!({ "order": { "reference": "A", "progress": { "done": 1 } } });
        assert_eq!(
            run(q, data, &[json!(["order", "progress", "total"])]),
            json!({ "order": { "reference": "A", "progress": null } })
        );
    }

    #[test]
    fn aliases_fragments_and_collapsed_objects() {
        // Every field of the object failed: the executor made the object null.
        let q = "query { o: order { ... on Order { p: progress { total } } } }";
        let data = json!({ "o": null });
        assert_eq!(
            run(q, data, &[json!(["o", "p"])]),
            json!({ "o": { "p": null } })
        );
        // A fragment on an interface's implementation.
        let q = "{ node(id: \"1\") { id ...F } } fragment F on Order { strict { total } }";
        let data = json!({ "node": { "id": "1" } });
        assert_eq!(
            run(q, data, &[json!(["node", "strict"])]),
            json!({ "node": null })
        );
        // A nullable list item.
        let q = "{ order { tags } }";
        let data = json!({ "order": { "tags": ["a", "b"] } });
        assert_eq!(
            run(q, data, &[json!(["order", "tags", 1])]),
            json!({ "order": { "tags": ["a", null] } })
        );
    }

    #[test]
    fn request_errors_leave_data_alone() {
        let q = "{ order { reference } }";
        let data = json!(null);
        let shape = Shape::from_sdl(SDL);
        let doc = async_graphql::parser::parse_query(q).unwrap();
        let mut value = Value::from_json(data).unwrap();
        complete(
            &mut value,
            &[ServerError::new("refused", None)],
            &shape,
            Some(&doc),
            None,
        );
        assert_eq!(value, Value::Null);
    }
}
