//! Reads as of a date: a root field that takes `asOf` (and `knownAt`) sets the tense of
//! everything under it.
//!
//! The root resolver records its tense under its response key ([`set`]); any resolver below
//! it finds the tense by walking its path up to that key ([`of`]) and reads through a
//! [`Reader`] standing at that tense ([`reader`]), and the loaders it uses are the request's
//! loaders for that tense (`super::loader`). Objects therefore stay plain rows: a `Measure`
//! under `measures(asOf: "2022-11-29")` resolves its owner, findings and evidence as of that
//! day because its path says so. Fields with an `asOf` of their own (e.g. `Order.progress`)
//! take it over the inherited one.
use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::{ContextBase, QueryPathSegment};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;

use crate::date::Date;
use crate::error::{AppError, AppResult};
use crate::service::history::{Reader, Tense};

/// The tenses set by the request's root fields, by response key.
#[derive(Default)]
pub struct Tenses(Mutex<HashMap<String, Tense>>);

/// The response key of the root field `ctx` resolves under.
fn root_key<T>(ctx: &ContextBase<'_, T>) -> Option<String> {
    let mut node = ctx.path_node.as_ref()?;
    while let Some(parent) = node.parent {
        node = parent;
    }
    match node.segment {
        QueryPathSegment::Name(name) => Some(name.to_string()),
        QueryPathSegment::Index(_) => None,
    }
}

/// The tense `asOf`/`knownAt` arguments ask for: none when neither is given; `knownAt` alone
/// reads as of its own day.
pub fn requested(as_of: Option<Date>, known_at: Option<DateTime<Utc>>) -> AppResult<Option<Tense>> {
    let day = match (as_of, known_at) {
        (None, None) => return Ok(None),
        (Some(d), _) => d.0,
        (None, Some(k)) => k.date_naive(),
    };
    if let Some(k) = known_at {
        if k > Utc::now() {
            return Err(AppError::validation(
                "knownAt",
                "must not be in the future (the database cannot have known it yet)",
            ));
        }
    }
    Ok(Some(Tense { day, known_at }))
}

/// Records the tense of the root field `ctx` resolves (`None`: live), for every field under
/// it. Call at the top of a root resolver.
pub fn set<T>(ctx: &ContextBase<'_, T>, tense: Option<Tense>) {
    let (Some(tense), Some(key), Some(tenses)) = (tense, root_key(ctx), ctx.data_opt::<Tenses>())
    else {
        return;
    };
    tenses
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, tense);
}

/// The tense of the field `ctx` resolves: its root field's, if that one set one.
pub fn of<T>(ctx: &ContextBase<'_, T>) -> Option<Tense> {
    let tenses = ctx.data_opt::<Tenses>()?;
    let key = root_key(ctx)?;
    tenses
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .copied()
}

/// The day "overdue" and "current" are judged on: the tense's, or today.
pub fn day<T>(ctx: &ContextBase<'_, T>) -> NaiveDate {
    of(ctx).map_or_else(crate::domain::today, |t| t.day)
}

/// Where the field `ctx` resolves reads: live, or as of its tense.
pub fn reader<T>(ctx: &ContextBase<'_, T>) -> Reader {
    let db = ctx.data_unchecked::<DatabaseConnection>();
    Reader::new(db, of(ctx))
}

/// A field's own `asOf`/`knownAt`, or else the tense it inherits.
pub fn own_or_inherited<T>(
    ctx: &ContextBase<'_, T>,
    as_of: Option<Date>,
    known_at: Option<DateTime<Utc>>,
) -> AppResult<Option<Tense>> {
    Ok(requested(as_of, known_at)?.or_else(|| of(ctx)))
}
