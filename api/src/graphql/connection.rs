//! Relay cursor connections: `first`/`after`/`last`/`before`, `edges { cursor node }`,
//! `pageInfo`, `totalCount`, a deterministic order and a maximum page size.
//!
//! Cursors are opaque positions in the connection's order, of two kinds:
//!
//! - **Root lists page in SQL by keyset (seek).** A [`Keyset`] names the connection's order:
//!   its key columns, each with a direction and, for a nullable column, where NULLs sort
//!   (last by default, in either direction). The last key is always the primary key, so the
//!   order is total. [`from_select`] applies that order to the select *and* derives the seek
//!   condition from it, so the two cannot disagree. An edge's cursor carries its row's key
//!   values (base64url of `{"v":1,"o":"<table:order>","k":[...]}`), and `after`/`before`
//!   become a `WHERE` on those keys (`(k1 > v1) OR (k1 = v1 AND k2 > v2) OR …`, `<` for
//!   descending keys, NULL-aware), never `OFFSET`. A page therefore costs the same at any
//!   depth, and a walk neither repeats nor skips a row when rows are inserted or deleted
//!   between two pages. `last`/`before` query in the reversed order and reverse the rows.
//!   Per page: one `SELECT` of n+1 rows, plus a `COUNT(*)` only when `totalCount` is
//!   selected, plus a `LIMIT 1` probe only when the `hasPreviousPage` of a forward page
//!   after a cursor (or the `hasNextPage` of a backward page before one) is selected.
//! - **Nested lists** are loaded whole per parent by a DataLoader and sliced here
//!   ([`from_vec`]); their cursors are offsets (`cursor:{n}`).
//!
//! A malformed cursor, an offset cursor given to a root list, a keyset cursor given to a
//! nested list, or a keyset cursor of another list or order is a `VALIDATION` error on the
//! `after`/`before` argument.
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, SimpleObject};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sea_orm::sea_query::{Expr, NullOrdering, Order};
use sea_orm::{
    ColumnTrait, ColumnType, Condition, ConnectionTrait, EntityTrait, FromQueryResult, IdenStatic,
    Iterable, ModelTrait, PaginatorTrait, PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::{AppError, AppResult};

/// The page size used when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// Extra fields of every connection.
#[derive(SimpleObject)]
pub struct Counted {
    /// How many items the whole connection holds (all pages), within what the caller may see.
    pub total_count: u64,
}

pub type Conn<T> = Connection<Cursor, T, Counted, EmptyFields>;

/// An edge's cursor, encoded only when the client selects it (`cursor`, `startCursor`,
/// `endCursor`): a page of 100 edges whose client asks only for `endCursor` encodes one.
#[derive(Debug, Clone)]
pub enum Cursor {
    /// A position in an in-memory list.
    Offset(u64),
    /// A row's sort-key values in a root list ([`Keyset`]), with the list's tag.
    Keys(std::sync::Arc<str>, Vec<Json>),
}

impl async_graphql::connection::CursorType for Cursor {
    type Error = &'static str;

    /// Arguments are decoded by the fields themselves (they know the list's order).
    fn decode_cursor(_: &str) -> Result<Self, Self::Error> {
        Err("cursors are decoded by their connection field")
    }

    fn encode_cursor(&self) -> String {
        match self {
            Cursor::Offset(n) => encode_offset(*n),
            Cursor::Keys(tag, k) => {
                #[derive(Serialize)]
                struct Encoded<'a> {
                    v: u32,
                    o: &'a str,
                    k: &'a [Json],
                }
                let text = serde_json::to_string(&Encoded {
                    v: KEYSET_VERSION,
                    o: tag,
                    k,
                })
                .unwrap_or_default();
                URL_SAFE_NO_PAD.encode(text)
            }
        }
    }
}

/// Paging limits, shared by the schema.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_page_size: u64,
}

/// The paging arguments of one connection field.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageArgs {
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }
}

/// Complexity of a connection field: the page size times what each node costs.
pub fn cost(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let n = first
        .or(last)
        .map(|n| n.max(0) as usize)
        .unwrap_or(DEFAULT_PAGE_SIZE as usize);
    n.saturating_mul(child).saturating_add(1)
}

/// The page size asked for, and whether the page is taken from the end (`last`).
fn page_size(args: &PageArgs, max: u64) -> AppResult<(u64, bool)> {
    let check = |n: i32, field: &str| -> AppResult<u64> {
        if n < 0 {
            return Err(AppError::validation(field, "must not be negative"));
        }
        if n as u64 > max {
            return Err(AppError::validation(
                field,
                format!("at most {max} items per page"),
            ));
        }
        Ok(n as u64)
    };
    match (args.first, args.last) {
        (Some(_), Some(_)) => Err(AppError::validation(
            "first",
            "give first or last, not both",
        )),
        (Some(f), None) => Ok((check(f, "first")?, false)),
        (None, Some(l)) => Ok((check(l, "last")?, true)),
        (None, None) => Ok((DEFAULT_PAGE_SIZE.min(max), false)),
    }
}

// ---------------------------------------------------------------------------------------
// Offset cursors of nested (in-memory) lists.

const OFFSET_PREFIX: &str = "cursor:";

fn encode_offset(offset: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{OFFSET_PREFIX}{offset}"))
}

fn decode_offset(cursor: &str, field: &str) -> AppResult<u64> {
    let bad = || AppError::validation(field, "malformed cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    if serde_json::from_str::<KeyCursor>(&text).is_ok() {
        return Err(AppError::validation(field, "cursor of another list"));
    }
    text.strip_prefix(OFFSET_PREFIX)
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)
}

/// The `[start, end)` window of an in-memory connection of `total` items.
pub fn window(args: &PageArgs, total: u64, max: u64) -> AppResult<(u64, u64)> {
    let mut start = 0u64;
    let mut end = total;
    if let Some(after) = &args.after {
        start = start
            .max(decode_offset(after, "after")?.saturating_add(1))
            .min(total);
    }
    if let Some(before) = &args.before {
        end = end.min(decode_offset(before, "before")?);
    }
    if end < start {
        end = start;
    }
    match page_size(args, max)? {
        (n, false) => end = end.min(start + n),
        (n, true) => start = start.max(end.saturating_sub(n)),
    }
    Ok((start, end))
}

pub fn limits<T>(ctx: &async_graphql::ContextBase<'_, T>) -> Limits {
    ctx.data_opt::<Limits>()
        .copied()
        .unwrap_or(Limits { max_page_size: 100 })
}

/// A connection over an in-memory list (a nested relation loaded for its parent).
pub fn from_vec<T, N: async_graphql::OutputType>(
    ctx: &Context<'_>,
    args: &PageArgs,
    items: Vec<T>,
    wrap: impl Fn(T) -> N,
) -> AppResult<Conn<N>> {
    let total = items.len() as u64;
    let (start, end) = window(args, total, limits(ctx).max_page_size)?;
    let mut conn =
        Connection::with_additional_fields(start > 0, end < total, Counted { total_count: total });
    conn.edges.extend(
        items
            .into_iter()
            .skip(start as usize)
            .take((end - start) as usize)
            .enumerate()
            .map(|(i, node)| Edge::new(Cursor::Offset(start + i as u64), wrap(node))),
    );
    Ok(conn)
}

// ---------------------------------------------------------------------------------------
// Keyset cursors of root (SQL) lists.

/// The version of the keyset cursor format.
const KEYSET_VERSION: u32 = 1;

/// What a keyset cursor holds (before base64url).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyCursor {
    /// Format version.
    v: u32,
    /// The list's table and order ([`Keyset::tag`]).
    o: String,
    /// The row's key values, in key order.
    k: Vec<Json>,
}

/// The kinds of value a sort key may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Int,
    Str,
    Date,
    Time,
}

impl KeyKind {
    fn of(column_type: &ColumnType) -> Option<Self> {
        match column_type {
            ColumnType::TinyInteger
            | ColumnType::SmallInteger
            | ColumnType::Integer
            | ColumnType::BigInteger => Some(Self::Int),
            ColumnType::Char(_)
            | ColumnType::String(_)
            | ColumnType::Text
            | ColumnType::Enum { .. } => Some(Self::Str),
            ColumnType::Date => Some(Self::Date),
            ColumnType::TimestampWithTimeZone => Some(Self::Time),
            _ => None,
        }
    }

    /// A row's value as it goes into a cursor (`None`: not a value of this kind).
    fn cursor_value(self, value: Value) -> Option<Json> {
        Some(match (self, value) {
            (Self::Int, Value::BigInt(n)) => n.map_or(Json::Null, Json::from),
            (Self::Int, Value::Int(n)) => n.map_or(Json::Null, Json::from),
            (Self::Int, Value::SmallInt(n)) => n.map_or(Json::Null, Json::from),
            (Self::Int, Value::TinyInt(n)) => n.map_or(Json::Null, Json::from),
            (Self::Str, Value::String(s)) => s.map_or(Json::Null, |s| Json::String(*s)),
            (Self::Date, Value::ChronoDate(d)) => d.map_or(Json::Null, |d| {
                Json::String(d.format("%Y-%m-%d").to_string())
            }),
            (Self::Time, Value::ChronoDateTimeUtc(t)) => t.map_or(Json::Null, |t| {
                Json::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }),
            _ => return None,
        })
    }

    /// A cursor's (non-null) value as a SQL value (`None`: not a value of this kind).
    fn sql_value(self, json: &Json) -> Option<Value> {
        match self {
            Self::Int => json.as_i64().map(Value::from),
            Self::Str => json.as_str().map(|s| Value::from(s.to_string())),
            Self::Date => json
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .map(Value::from),
            Self::Time => json
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| Value::from(t.with_timezone(&Utc))),
        }
    }
}

/// A row that can report the value of a sort key: every entity model, and partial rows
/// such as `EvidenceMeta`.
pub trait KeyRow<C> {
    /// The row's value of `column`, as sea-orm would bind it.
    fn key(&self, column: C) -> Value;
}

impl<M: ModelTrait> KeyRow<<M::Entity as EntityTrait>::Column> for M {
    fn key(&self, column: <M::Entity as EntityTrait>::Column) -> Value {
        self.get(column)
    }
}

/// One key of a connection's order.
#[derive(Debug, Clone, Copy)]
pub struct SortKey<C> {
    pub column: C,
    /// Largest first.
    pub desc: bool,
    /// Whether NULLs sort after every value (in either direction). Only matters for a
    /// nullable column.
    pub nulls_last: bool,
}

impl<C: ColumnTrait> SortKey<C> {
    fn nullable(&self) -> bool {
        self.column.def().is_null()
    }

    fn kind(&self) -> Option<KeyKind> {
        KeyKind::of(self.column.def().get_column_type())
    }

    /// `column = v`, or `column IS NULL` for a NULL value.
    fn equal(&self, value: &Option<Value>) -> Condition {
        let c = Condition::all();
        match value {
            Some(v) => c.add(self.column.eq(v.clone())),
            None => c.add(self.column.is_null()),
        }
    }

    /// The rows whose value of this key is a non-NULL `value` or lies beyond it, moving
    /// forward (towards the end of the order) or backward.
    fn at_or_beyond(&self, value: &Value, forward: bool) -> Condition {
        let up = forward != self.desc;
        let towards_nulls = forward == self.nulls_last;
        let cmp = if up {
            self.column.gte(value.clone())
        } else {
            self.column.lte(value.clone())
        };
        if self.nullable() && towards_nulls {
            Condition::any().add(cmp).add(self.column.is_null())
        } else {
            Condition::all().add(cmp)
        }
    }

    /// The rows whose value of this key lies strictly beyond `value`, moving forward
    /// (towards the end of the order) or backward; `None` when no row can.
    fn beyond(&self, value: &Option<Value>, forward: bool) -> Option<Condition> {
        // Moving towards larger values, and moving towards where the NULLs are.
        let up = forward != self.desc;
        let towards_nulls = forward == self.nulls_last;
        match value {
            Some(v) => {
                let cmp = if up {
                    self.column.gt(v.clone())
                } else {
                    self.column.lt(v.clone())
                };
                Some(if self.nullable() && towards_nulls {
                    Condition::any().add(cmp).add(self.column.is_null())
                } else {
                    Condition::all().add(cmp)
                })
            }
            // Nothing lies beyond the NULLs; every value lies beyond them the other way.
            None if towards_nulls => None,
            None => Some(Condition::all().add(self.column.is_not_null())),
        }
    }
}

/// The rows strictly after (`forward`) or before the position `values` in the order `keys`,
/// or at or after/before it (`inclusive`): the expanded form
/// `(k1 > v1) OR (k1 = v1 AND k2 > v2) OR …`, `<` for descending keys, NULL-aware.
fn seek<C: ColumnTrait>(
    keys: &[SortKey<C>],
    values: &[Option<Value>],
    forward: bool,
    inclusive: bool,
) -> Condition {
    let mut any = Condition::any();
    let mut prefix: Vec<Condition> = Vec::new();
    for (key, value) in keys.iter().zip(values) {
        if let Some(beyond) = key.beyond(value, forward) {
            let term = prefix
                .iter()
                .cloned()
                .fold(Condition::all(), Condition::add)
                .add(beyond);
            any = any.add(term);
        }
        prefix.push(key.equal(value));
    }
    if inclusive {
        any = any.add(prefix.into_iter().fold(Condition::all(), Condition::add));
    }
    match (keys.first(), values.first()) {
        // A redundant range on the first key alone (`k1 >= v1`), so that an index on it can
        // start the scan at the cursor instead of filtering from the first row.
        (Some(key), Some(Some(value))) if keys.len() > 1 => Condition::all()
            .add(key.at_or_beyond(value, forward))
            .add(any),
        _ => any,
    }
}

/// The order of a root connection: its sort keys, the last of which is the entity's
/// primary key. Nullable keys sort their NULLs last unless [`Keyset::nulls_first`] says
/// otherwise, explicitly, so both database backends agree.
pub struct Keyset<E: EntityTrait> {
    keys: Vec<SortKey<E::Column>>,
}

impl<E: EntityTrait> Keyset<E> {
    /// Ordered by `column` first.
    pub fn by(column: E::Column, order: Order) -> Self {
        Self { keys: Vec::new() }.then(column, order)
    }

    /// Ordered by `column`, smallest first.
    pub fn asc(column: E::Column) -> Self {
        Self::by(column, Order::Asc)
    }

    /// Ordered by `column`, largest first.
    pub fn desc(column: E::Column) -> Self {
        Self::by(column, Order::Desc)
    }

    /// Then by `column`.
    pub fn then(mut self, column: E::Column, order: Order) -> Self {
        self.keys.push(SortKey {
            column,
            desc: matches!(order, Order::Desc),
            nulls_last: true,
        });
        self
    }

    /// Then by `column`, smallest first.
    pub fn then_asc(self, column: E::Column) -> Self {
        self.then(column, Order::Asc)
    }

    /// Then by `column`, largest first.
    pub fn then_desc(self, column: E::Column) -> Self {
        self.then(column, Order::Desc)
    }

    /// NULLs of the key added last sort before every value.
    pub fn nulls_first(mut self) -> Self {
        if let Some(k) = self.keys.last_mut() {
            k.nulls_last = false;
        }
        self
    }

    /// Checks the keys: supported types, and a total order (the primary key last).
    fn check(&self) -> AppResult<()> {
        let internal =
            |what: String| AppError::from(anyhow::anyhow!("keyset {}: {what}", self.tag()));
        let mut pk = E::PrimaryKey::iter();
        let (Some(only), None) = (pk.next(), pk.next()) else {
            return Err(internal(
                "the entity has no single-column primary key".into(),
            ));
        };
        match self.keys.last() {
            Some(k) if k.column.as_str() == only.into_column().as_str() && !k.nullable() => {}
            _ => return Err(internal("the last key must be the primary key".into())),
        }
        for k in &self.keys {
            if k.kind().is_none() {
                return Err(internal(format!(
                    "column {} has a type that cannot be a sort key",
                    k.column.as_str()
                )));
            }
        }
        Ok(())
    }

    /// The table and order, written into every cursor so that a cursor of another list or
    /// order is refused.
    fn tag(&self) -> String {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let mut s = k.column.as_str().to_string();
                if k.desc {
                    s.push_str(" desc");
                }
                if k.nullable() {
                    s.push_str(if k.nulls_last {
                        " nulls last"
                    } else {
                        " nulls first"
                    });
                }
                s
            })
            .collect();
        format!("{}:{}", E::default().table_name(), keys.join(","))
    }

    /// The select in this order, or in the reversed order (for `last`).
    fn order(&self, mut select: Select<E>, reversed: bool) -> Select<E> {
        for k in &self.keys {
            let dir = if k.desc != reversed {
                Order::Desc
            } else {
                Order::Asc
            };
            select = if k.nullable() {
                let nulls = if k.nulls_last != reversed {
                    NullOrdering::Last
                } else {
                    NullOrdering::First
                };
                select.order_by_with_nulls(k.column, dir, nulls)
            } else {
                select.order_by(k.column, dir)
            };
        }
        select
    }

    /// The rows after (`forward`) or before a cursor's position, or at or after/before it.
    fn seek(&self, values: &[Option<Value>], forward: bool, inclusive: bool) -> Condition {
        seek(&self.keys, values, forward, inclusive)
    }

    /// The cursor of a row (`tag` is [`Keyset::tag`], computed once per page).
    fn cursor<M: KeyRow<E::Column>>(
        &self,
        tag: &std::sync::Arc<str>,
        row: &M,
    ) -> AppResult<Cursor> {
        let mut k = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let json = key
                .kind()
                .and_then(|kind| kind.cursor_value(row.key(key.column)))
                .ok_or_else(|| {
                    AppError::from(anyhow::anyhow!(
                        "keyset {tag}: unexpected value of {}",
                        key.column.as_str()
                    ))
                })?;
            k.push(json);
        }
        Ok(Cursor::Keys(tag.clone(), k))
    }

    /// A row's cursor as the client sees it.
    #[cfg(test)]
    fn encode<M: KeyRow<E::Column>>(&self, row: &M) -> AppResult<String> {
        use async_graphql::connection::CursorType;
        Ok(self.cursor(&self.tag().into(), row)?.encode_cursor())
    }

    /// A cursor's key values (`None` for NULL), checked against this order.
    fn decode(&self, cursor: &str, field: &str) -> AppResult<Vec<Option<Value>>> {
        let malformed = || AppError::validation(field, "malformed cursor");
        let foreign = || AppError::validation(field, "cursor of another list or order");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
        let text = String::from_utf8(bytes).map_err(|_| malformed())?;
        if text.starts_with(OFFSET_PREFIX) {
            return Err(foreign());
        }
        let c: KeyCursor = serde_json::from_str(&text).map_err(|_| malformed())?;
        if c.v != KEYSET_VERSION {
            return Err(AppError::validation(
                field,
                "cursor of an unsupported version",
            ));
        }
        if c.o != self.tag() || c.k.len() != self.keys.len() {
            return Err(foreign());
        }
        let mut values = Vec::with_capacity(self.keys.len());
        for (key, json) in self.keys.iter().zip(&c.k) {
            if json.is_null() {
                if !key.nullable() {
                    return Err(malformed());
                }
                values.push(None);
            } else {
                let kind = key.kind().ok_or_else(malformed)?;
                values.push(Some(kind.sql_value(json).ok_or_else(malformed)?));
            }
        }
        Ok(values)
    }
}

/// Whether a select finds any row (one `SELECT 1 … LIMIT 1`).
async fn exists<E: EntityTrait, C: ConnectionTrait>(db: &C, select: Select<E>) -> AppResult<bool> {
    Ok(select
        .select_only()
        .column_as(Expr::cust("1"), "one")
        .limit(1)
        .into_tuple::<i32>()
        .one(db)
        .await?
        .is_some())
}

/// A connection over a SQL select (filtered, *not* ordered: `order` orders it), paged by
/// keyset. A page is one `SELECT` of one row more than it returns (to know whether another
/// page follows); `COUNT(*)` runs only when the client asks for `totalCount`, and a `LIMIT 1`
/// probe only when it asks whether rows lie on the far side of the cursor it gave.
pub async fn from_select<E, M, C, N>(
    ctx: &Context<'_>,
    db: &C,
    args: &PageArgs,
    select: Select<E>,
    order: &Keyset<E>,
    wrap: impl Fn(M) -> N,
) -> AppResult<Conn<N>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
    M: FromQueryResult + KeyRow<E::Column> + crate::service::scope::InTrail + Send + Sync,
    C: ConnectionTrait,
    N: async_graphql::OutputType,
{
    from_select_projected(ctx, db, args, select, order, None, wrap).await
}

/// Rows of a page read with only some columns: the columns (those of the order's keys among
/// them), and how such a row is decoded.
pub struct Projection<'p, E: EntityTrait, M> {
    pub columns: Vec<E::Column>,
    pub decode: &'p (dyn Fn(&sea_orm::QueryResult) -> Result<M, sea_orm::DbErr> + Sync),
}

/// [`from_select`], reading the rows with `projection`'s columns only when it is given.
pub async fn from_select_projected<E, M, C, N>(
    ctx: &Context<'_>,
    db: &C,
    args: &PageArgs,
    select: Select<E>,
    order: &Keyset<E>,
    projection: Option<Projection<'_, E, M>>,
    wrap: impl Fn(M) -> N,
) -> AppResult<Conn<N>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
    M: FromQueryResult + KeyRow<E::Column> + crate::service::scope::InTrail + Send + Sync,
    C: ConnectionTrait,
    N: async_graphql::OutputType,
{
    order.check()?;
    let (size, backward) = page_size(args, limits(ctx).max_page_size)?;
    let after = match &args.after {
        Some(c) => Some(order.decode(c, "after")?),
        None => None,
    };
    let before = match &args.before {
        Some(c) => Some(order.decode(c, "before")?),
        None => None,
    };

    let mut page = select.clone();
    if let Some(v) = &after {
        page = page.filter(order.seek(v, true, false));
    }
    if let Some(v) = &before {
        page = page.filter(order.seek(v, false, false));
    }
    let page = order.order(page, backward).limit(size + 1);
    let mut rows: Vec<M> = match projection {
        None => page.into_model::<M>().all(db).await?,
        Some(p) => {
            let stmt = page
                .select_only()
                .columns(p.columns)
                .build(db.get_database_backend());
            let found = db.query_all(stmt).await?;
            found
                .iter()
                .map(|r| (p.decode)(r))
                .collect::<Result<_, _>>()?
        }
    };
    let more = rows.len() as u64 > size;
    rows.truncate(size as usize);
    if backward {
        rows.reverse();
    }
    // What a scoped caller is given joins its access trail (its scope is in `select`).
    if let Some(who) = ctx.data_opt::<crate::auth::Caller>() {
        let trail = rows.iter().map(crate::service::scope::InTrail::trail);
        crate::service::scope::touch(db, who, trail).await?;
    }

    let look = ctx.look_ahead();
    let page_info = look.field("pageInfo");
    // Whether a row lies at or beyond the cursor on the far side of the page.
    let far_side = |cursor: &Option<Vec<Option<Value>>>, forward: bool, asked: bool| {
        let probe = cursor
            .as_ref()
            .filter(|_| asked)
            .map(|v| select.clone().filter(order.seek(v, forward, true)));
        let given = cursor.is_some();
        async move {
            match probe {
                Some(s) => exists(db, s).await,
                // Not asked for: what is known without a query.
                None => Ok(given),
            }
        }
    };
    let (has_previous, has_next) = if backward {
        let asked = page_info.field("hasNextPage").exists();
        (more, far_side(&before, true, asked).await?)
    } else {
        let asked = page_info.field("hasPreviousPage").exists();
        (far_side(&after, false, asked).await?, more)
    };
    let total = if look.field("totalCount").exists() {
        select.count(db).await?
    } else {
        0
    };

    let mut conn =
        Connection::with_additional_fields(has_previous, has_next, Counted { total_count: total });
    let tag: std::sync::Arc<str> = order.tag().into();
    for row in rows {
        let cursor = order.cursor(&tag, &row)?;
        conn.edges.push(Edge::new(cursor, wrap(row)));
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use entity::enums::{MeasureStatus, Recurrence};
    use entity::measure;
    use sea_orm::{ActiveModelTrait, Database, DbBackend, QueryTrait};

    fn args(
        first: Option<i32>,
        after: Option<u64>,
        last: Option<i32>,
        before: Option<u64>,
    ) -> PageArgs {
        PageArgs::new(
            first,
            after.map(encode_offset),
            last,
            before.map(encode_offset),
        )
    }

    #[test]
    fn windows_follow_relay() {
        assert_eq!(
            window(&args(Some(10), None, None, None), 33, 100).unwrap(),
            (0, 10)
        );
        assert_eq!(
            window(&args(Some(10), Some(9), None, None), 33, 100).unwrap(),
            (10, 20)
        );
        assert_eq!(
            window(&args(Some(10), Some(29), None, None), 33, 100).unwrap(),
            (30, 33)
        );
        assert_eq!(
            window(&args(None, None, Some(10), None), 33, 100).unwrap(),
            (23, 33)
        );
        assert_eq!(
            window(&args(None, None, Some(10), Some(23)), 33, 100).unwrap(),
            (13, 23)
        );
        assert_eq!(
            window(&args(None, None, Some(10), Some(5)), 33, 100).unwrap(),
            (0, 5)
        );
        assert_eq!(
            window(&args(None, None, None, None), 33, 100).unwrap(),
            (0, 20)
        );
        assert_eq!(
            window(&args(Some(0), None, None, None), 33, 100).unwrap(),
            (0, 0)
        );
    }

    #[test]
    fn limits_and_bad_cursors_are_validation_errors() {
        assert_eq!(
            window(&args(Some(101), None, None, None), 33, 100)
                .unwrap_err()
                .code(),
            "VALIDATION"
        );
        assert_eq!(
            window(&args(Some(-1), None, None, None), 33, 100)
                .unwrap_err()
                .code(),
            "VALIDATION"
        );
        let bad = PageArgs::new(Some(1), Some("zzz".into()), None, None);
        assert_eq!(window(&bad, 33, 100).unwrap_err().code(), "VALIDATION");
        assert_eq!(
            window(&args(Some(1), None, Some(1), None), 33, 100)
                .unwrap_err()
                .code(),
            "VALIDATION"
        );
    }

    fn measure(id: i64, code: &str, due_on: Option<&str>) -> measure::Model {
        let at = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap()
            + chrono::Duration::microseconds(123_456 + id);
        measure::Model {
            id,
            code: code.into(),
            title: format!("Measure {code}"),
            title_local: None,
            plan: None,
            status: MeasureStatus::Planned,
            status_reason: None,
            owner_id: None,
            started_on: None,
            due_on: due_on.map(|d| d.parse().unwrap()),
            completed_on: None,
            recurrence: Recurrence::None,
            next_due_on: None,
            anchor_on: None,
            grace_days: 0,
            note: None,
            version: 1,
            archived_at: None,
            created_at: at,
            updated_at: at,
        }
    }

    fn by_due(dir: Order) -> Keyset<measure::Entity> {
        Keyset::by(measure::Column::DueOn, dir.clone()).then(measure::Column::Id, dir)
    }

    fn raw(cursor: &str) -> String {
        String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).unwrap()).unwrap()
    }

    fn forge(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    #[test]
    fn keyset_cursors_round_trip() {
        let order = Keyset::<measure::Entity>::desc(measure::Column::UpdatedAt)
            .then_asc(measure::Column::Status)
            .then_asc(measure::Column::DueOn)
            .then_desc(measure::Column::Id);
        order.check().unwrap();
        for m in [
            measure(7, "A-1", Some("2024-02-29")),
            measure(8, "A-2", None),
        ] {
            let cursor = order.encode(&m).unwrap();
            assert!(raw(&cursor).starts_with(
                r#"{"v":1,"o":"measure:updated_at desc,status,due_on nulls last,id desc","k":["#
            ));
            let values = order.decode(&cursor, "after").unwrap();
            assert_eq!(
                values,
                vec![
                    Some(Value::from(m.updated_at)),
                    Some(Value::from("PLANNED".to_string())),
                    m.due_on.map(Value::from),
                    Some(Value::from(m.id)),
                ]
            );
        }
    }

    #[test]
    fn orders_must_end_with_the_primary_key() {
        assert!(Keyset::<measure::Entity>::asc(measure::Column::Code)
            .check()
            .is_err());
        assert!(Keyset::<measure::Entity>::asc(measure::Column::Id)
            .then_asc(measure::Column::Code)
            .check()
            .is_err());
        assert!(Keyset::<measure::Entity>::asc(measure::Column::Code)
            .then_asc(measure::Column::Id)
            .check()
            .is_ok());
    }

    #[test]
    fn bad_and_foreign_cursors_are_validation_errors() {
        let order = by_due(Order::Asc);
        let good = order.encode(&measure(3, "B", Some("2024-01-31"))).unwrap();
        assert_eq!(
            raw(&good),
            r#"{"v":1,"o":"measure:due_on nulls last,id","k":["2024-01-31",3]}"#
        );
        let o = r#""o":"measure:due_on nulls last,id""#;
        let bad = [
            // Not base64, not UTF-8, not JSON.
            "not a cursor!".to_string(),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0xfd]),
            forge("cursor"),
            forge("{\"v\":1"),
            // An offset cursor of a nested list.
            encode_offset(4),
            // Another version, another order or list, unknown fields.
            forge(&format!(r#"{{"v":2,{o},"k":["2024-01-31",3]}}"#)),
            order_cursor(&by_due(Order::Desc), 3),
            order_cursor(
                &Keyset::<measure::Entity>::asc(measure::Column::Code)
                    .then_asc(measure::Column::Id),
                3,
            ),
            forge(r#"{"v":1,"o":"evidence:valid_until nulls last,id","k":["2024-01-31",3]}"#),
            forge(&format!(r#"{{"v":1,{o},"k":["2024-01-31",3],"x":1}}"#)),
            // Wrong number of keys.
            forge(&format!(r#"{{"v":1,{o},"k":[3]}}"#)),
            forge(&format!(r#"{{"v":1,{o},"k":["2024-01-31",3,4]}}"#)),
            forge(&format!(r#"{{"v":1,{o},"k":{{}}}}"#)),
            // Wrong types: a number for a date, a date-time for a date, a string or a
            // fraction for an id, NULL for a key that cannot be NULL.
            forge(&format!(r#"{{"v":1,{o},"k":[20240131,3]}}"#)),
            forge(&format!(r#"{{"v":1,{o},"k":["2024-01-31T00:00:00Z",3]}}"#)),
            forge(&format!(r#"{{"v":1,{o},"k":["2024-02-30",3]}}"#)),
            forge(&format!(r#"{{"v":1,{o},"k":["2024-01-31","3"]}}"#)),
            forge(&format!(r#"{{"v":1,{o},"k":["2024-01-31",3.5]}}"#)),
            forge(&format!(r#"{{"v":1,{o},"k":["2024-01-31",null]}}"#)),
        ];
        for cursor in bad {
            let err = order.decode(&cursor, "before").unwrap_err();
            assert_eq!(err.code(), "VALIDATION", "{cursor}");
            assert!(err.message().starts_with("before: "), "{}", err.message());
        }
        // A NULL due date is a position, and the shape check accepts it.
        let null = forge(&format!(r#"{{"v":1,{o},"k":[null,3]}}"#));
        assert_eq!(
            order.decode(&null, "after").unwrap(),
            vec![None, Some(Value::from(3i64))]
        );
        // A keyset cursor given to a nested list is refused too.
        let nested = PageArgs::new(Some(1), Some(good), None, None);
        assert_eq!(window(&nested, 33, 100).unwrap_err().code(), "VALIDATION");
    }

    fn order_cursor(order: &Keyset<measure::Entity>, id: i64) -> String {
        order.encode(&measure(id, "B", Some("2024-01-31"))).unwrap()
    }

    fn sql(condition: Condition) -> String {
        measure::Entity::find()
            .select_only()
            .column(measure::Column::Id)
            .filter(condition)
            .build(DbBackend::Sqlite)
            .to_string()
            .replace("\"measure\".", "")
            .replace('"', "")
    }

    #[test]
    fn seek_conditions_are_expanded_and_null_aware() {
        let head = "SELECT id FROM measure WHERE ";
        let asc = by_due(Order::Asc);
        let desc = by_due(Order::Desc);
        let day = Some(Value::from(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()));
        let id = Some(Value::from(3i64));
        assert_eq!(
            sql(asc.seek(&[day.clone(), id.clone()], true, false)),
            format!(
                "{head}(due_on >= '2024-01-31' OR due_on IS NULL) \
                 AND (due_on > '2024-01-31' OR due_on IS NULL OR (due_on = '2024-01-31' AND id > 3))"
            )
        );
        assert_eq!(
            sql(desc.seek(&[day.clone(), id.clone()], false, true)),
            format!(
                "{head}due_on >= '2024-01-31' \
                 AND (due_on > '2024-01-31' OR (due_on = '2024-01-31' AND id > 3) \
                 OR (due_on = '2024-01-31' AND id = 3))"
            )
        );
        // After a NULL (NULLs last): only the NULLs with a larger id; before it: every date.
        assert_eq!(
            sql(asc.seek(&[None, id.clone()], true, false)),
            format!("{head}due_on IS NULL AND id > 3")
        );
        assert_eq!(
            sql(desc.seek(&[None, id.clone()], false, false)),
            format!("{head}due_on IS NOT NULL OR (due_on IS NULL AND id > 3)")
        );
        // One key: no redundant bound.
        let by_id = Keyset::<measure::Entity>::desc(measure::Column::Id);
        assert_eq!(sql(by_id.seek(&[id], true, false)), format!("{head}id < 3"));
    }

    fn due(d: &str) -> Option<NaiveDate> {
        Some(d.parse().unwrap())
    }

    /// Every order of nullable and non-nullable keys, every cursor position, both
    /// directions, strict and inclusive: the seek condition selects exactly the rows on its
    /// side of the cursor in the order the database sorts them in.
    #[tokio::test]
    async fn seek_agrees_with_the_order_on_sqlite() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let dues = [
            None,
            due("2024-01-31"),
            None,
            due("2023-12-01"),
            due("2024-01-31"),
            due("2025-06-30"),
            None,
            due("2023-12-01"),
            due("2024-01-31"),
        ];
        let codes = [
            "M-5", "M-1", "M-3", "M-9", "M-2", "M-7", "M-4", "M-8", "M-6",
        ];
        for (i, (d, c)) in dues.iter().zip(codes).enumerate() {
            let mut m = measure(0, c, None);
            m.due_on = *d;
            m.status = if i % 3 == 0 {
                MeasureStatus::Verified
            } else {
                MeasureStatus::Planned
            };
            let mut am: measure::ActiveModel = m.into();
            am.id = sea_orm::ActiveValue::NotSet;
            am.insert(&db).await.unwrap();
        }
        let mut orders = Vec::new();
        for dir in [Order::Asc, Order::Desc] {
            orders.push(by_due(dir.clone()));
            orders.push(
                Keyset::by(measure::Column::DueOn, dir.clone())
                    .nulls_first()
                    .then(measure::Column::Id, dir.clone()),
            );
            orders.push(
                Keyset::by(measure::Column::Status, dir.clone())
                    .then(measure::Column::DueOn, dir.clone())
                    .then_asc(measure::Column::Code)
                    .then(measure::Column::Id, dir.clone()),
            );
            orders.push(
                Keyset::by(measure::Column::UpdatedAt, dir.clone())
                    .then(measure::Column::Id, dir.clone()),
            );
        }
        for order in &orders {
            order.check().unwrap();
            let all: Vec<measure::Model> = order
                .order(measure::Entity::find(), false)
                .all(&db)
                .await
                .unwrap();
            let ids: Vec<i64> = all.iter().map(|m| m.id).collect();
            let mut reversed: Vec<i64> = order
                .order(measure::Entity::find(), true)
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.id)
                .collect();
            reversed.reverse();
            assert_eq!(reversed, ids, "{}", order.tag());
            assert_eq!(ids.len(), dues.len());
            // Where the NULL due dates went.
            let nulls: Vec<bool> = all.iter().map(|m| m.due_on.is_none()).collect();
            match order.tag().as_str() {
                "measure:due_on nulls last,id" | "measure:due_on desc nulls last,id desc" => {
                    assert_eq!(nulls[6..], [true; 3], "{}", order.tag())
                }
                "measure:due_on nulls first,id" | "measure:due_on desc nulls first,id desc" => {
                    assert_eq!(nulls[..3], [true; 3], "{}", order.tag())
                }
                _ => {}
            }
            for (i, row) in all.iter().enumerate() {
                let values = order.decode(&order.encode(row).unwrap(), "after").unwrap();
                for (forward, inclusive) in
                    [(true, false), (true, true), (false, false), (false, true)]
                {
                    let got: Vec<i64> = order
                        .order(
                            measure::Entity::find().filter(order.seek(&values, forward, inclusive)),
                            !forward,
                        )
                        .all(&db)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|m| m.id)
                        .collect();
                    let want: Vec<i64> = match (forward, inclusive) {
                        (true, false) => ids[i + 1..].to_vec(),
                        (true, true) => ids[i..].to_vec(),
                        (false, false) => ids[..i].iter().rev().copied().collect(),
                        (false, true) => ids[..=i].iter().rev().copied().collect(),
                    };
                    assert_eq!(
                        got,
                        want,
                        "{} at {i}, forward {forward}, inclusive {inclusive}",
                        order.tag()
                    );
                }
            }
        }
    }
}
