//! Relay cursor connections: `first`/`after`/`last`/`before`, `edges { cursor node }`,
//! `pageInfo`, `totalCount`, a deterministic order and a maximum page size.
//!
//! Cursors are opaque positions in the connection's order. Root lists page in SQL
//! (`LIMIT`/`OFFSET` plus one `COUNT`); nested lists are loaded whole per parent by a
//! DataLoader and sliced here.
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, SimpleObject};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait, QuerySelect, Select};

use crate::error::{AppError, AppResult};

/// The page size used when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// Extra fields of every connection.
#[derive(SimpleObject)]
pub struct Counted {
    /// How many items the whole connection holds (all pages), within what the caller may see.
    pub total_count: u64,
}

pub type Conn<T> = Connection<String, T, Counted, EmptyFields>;

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

pub fn encode_cursor(offset: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("cursor:{offset}"))
}

fn decode_cursor(cursor: &str, field: &str) -> AppResult<u64> {
    let bad = || AppError::validation(field, "malformed cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix("cursor:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)
}

/// The `[start, end)` window of a connection of `total` items.
pub fn window(args: &PageArgs, total: u64, max: u64) -> AppResult<(u64, u64)> {
    let mut start = 0u64;
    let mut end = total;
    if let Some(after) = &args.after {
        start = start
            .max(decode_cursor(after, "after")?.saturating_add(1))
            .min(total);
    }
    if let Some(before) = &args.before {
        end = end.min(decode_cursor(before, "before")?);
    }
    if end < start {
        end = start;
    }
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
        (Some(_), Some(_)) => {
            return Err(AppError::validation(
                "first",
                "give first or last, not both",
            ))
        }
        (Some(f), None) => end = end.min(start + check(f, "first")?),
        (None, Some(l)) => start = start.max(end.saturating_sub(check(l, "last")?)),
        (None, None) => end = end.min(start + DEFAULT_PAGE_SIZE.min(max)),
    }
    Ok((start, end))
}

fn build<T: async_graphql::OutputType>(items: Vec<T>, start: u64, end: u64, total: u64) -> Conn<T> {
    let mut conn =
        Connection::with_additional_fields(start > 0, end < total, Counted { total_count: total });
    conn.edges.extend(
        items
            .into_iter()
            .enumerate()
            .map(|(i, node)| Edge::new(encode_cursor(start + i as u64), node)),
    );
    conn
}

pub fn limits(ctx: &Context<'_>) -> Limits {
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
    let page: Vec<N> = items
        .into_iter()
        .skip(start as usize)
        .take((end - start) as usize)
        .map(wrap)
        .collect();
    Ok(build(page, start, end, total))
}

/// Whether the selection of the current connection field asks for `totalCount`.
fn wants_total(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}

/// A connection over a SQL select (already filtered and ordered deterministically).
/// `COUNT(*)` runs only when the client asks for `totalCount` or pages backwards; a forward
/// page otherwise fetches one row more than it returns to know whether another page follows.
pub async fn from_select<E, C, N>(
    ctx: &Context<'_>,
    db: &C,
    args: &PageArgs,
    select: Select<E>,
    wrap: impl Fn(E::Model) -> N,
) -> AppResult<Conn<N>>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Sized + Send + Sync,
    C: ConnectionTrait,
    N: async_graphql::OutputType,
{
    let max = limits(ctx).max_page_size;
    if !wants_total(ctx) && args.last.is_none() && args.before.is_none() {
        let start = match &args.after {
            Some(after) => decode_cursor(after, "after")?.saturating_add(1),
            None => 0,
        };
        let size = match args.first {
            Some(n) if n < 0 => return Err(AppError::validation("first", "must not be negative")),
            Some(n) if n as u64 > max => {
                return Err(AppError::validation(
                    "first",
                    format!("at most {max} items per page"),
                ))
            }
            Some(n) => n as u64,
            None => DEFAULT_PAGE_SIZE.min(max),
        };
        let mut rows = if size > 0 {
            select.offset(start).limit(size + 1).all(db).await?
        } else {
            Vec::new()
        };
        let has_next = rows.len() as u64 > size;
        rows.truncate(size as usize);
        let end = start + rows.len() as u64;
        // The total is not asked for: report what is known without counting.
        let total = if has_next { end + 1 } else { end };
        let mut conn = build(rows.into_iter().map(wrap).collect(), start, end, total);
        conn.has_next_page = has_next;
        return Ok(conn);
    }
    let total = select.clone().count(db).await?;
    let (start, end) = window(args, total, max)?;
    let rows = if end > start {
        select.offset(start).limit(end - start).all(db).await?
    } else {
        Vec::new()
    };
    Ok(build(
        rows.into_iter().map(wrap).collect(),
        start,
        end,
        total,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        first: Option<i32>,
        after: Option<u64>,
        last: Option<i32>,
        before: Option<u64>,
    ) -> PageArgs {
        PageArgs::new(
            first,
            after.map(encode_cursor),
            last,
            before.map(encode_cursor),
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
}
