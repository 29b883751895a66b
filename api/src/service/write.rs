//! The write path: one transaction per mutation, optimistic locking on `version`, input
//! validation naming the field, and exactly one audit event per mutation, written in the
//! same transaction as the change.
//!
//! The primitives live here ([`Write`], [`insert_new`], [`insert_audited`],
//! [`update_versioned`], [`archive`], the text rules); the writes themselves, one function
//! per mutation, live in the submodules, each taking the open [`Write`], the [`Caller`]
//! (whose order scope it checks through `service::scope`) and a plain input with decoded
//! ids. GraphQL mutations and the demo seed both call them.
pub mod approvals;
pub mod documents;
pub mod inputs;
pub mod measures;
pub mod notices;
pub mod records;
pub mod reports;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use entity::*;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ActiveValue, ColumnTrait, DatabaseBackend,
    DatabaseConnection, DatabaseTransaction, EntityTrait, IntoActiveModel, PrimaryKeyTrait,
    QueryFilter, TransactionTrait, Value,
};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Mutex, MutexGuard};

use crate::audit;
use crate::error::{AppError, AppResult};
use crate::service::history;

/// Serialises writers on SQLite. A deferred SQLite transaction that reads and then writes
/// fails at once with SQLITE_BUSY ("database is locked"; busy_timeout does not apply) when
/// another connection committed in between, so every write of the process takes this gate:
/// mutations ([`Write::begin`]), token issue and revocation (`service::tokens`) and the access
/// log (`service::access`). One instance per server (`AppState::gate`), shared by the HTTP
/// layer and the schema. PostgreSQL needs no gate.
#[derive(Default)]
pub struct WriteGate(Option<Mutex<()>>);

impl WriteGate {
    pub fn for_backend(backend: DatabaseBackend) -> Self {
        match backend {
            DatabaseBackend::Sqlite => Self(Some(Mutex::new(()))),
            _ => Self(None),
        }
    }

    /// Waits for the gate (SQLite) and holds it until the guard is dropped; `None` on
    /// PostgreSQL. Take it before acquiring a connection, never while holding one.
    pub async fn hold(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.0 {
            Some(m) => Some(m.lock().await),
            None => None,
        }
    }
}

/// An open write: the transaction and, on SQLite, the gate held until it ends, and the rows
/// it changed, copied into their history before it commits (`service::history`).
pub struct Write<'a> {
    pub txn: DatabaseTransaction,
    pub actor: String,
    pub now: DateTime<Utc>,
    _gate: Option<MutexGuard<'a, ()>>,
    history: std::sync::Mutex<Pending>,
}

/// Rows changed and not yet copied into their history; the provenance new versions get.
struct Pending {
    touched: Vec<history::Touched>,
    last_event: Option<i64>,
    /// Every audit event recorded: (entity, entity id, action).
    events: Vec<(String, String, String)>,
    provenance: history::Provenance,
}

impl<'a> Write<'a> {
    pub async fn begin(
        db: &DatabaseConnection,
        gate: &'a WriteGate,
        actor: &str,
    ) -> AppResult<Write<'a>> {
        let guard = gate.hold().await;
        Ok(Write {
            txn: db.begin().await?,
            actor: actor.to_string(),
            now: Utc::now().trunc_subsecs(6),
            _gate: guard,
            history: std::sync::Mutex::new(Pending {
                touched: Vec::new(),
                last_event: None,
                events: Vec::new(),
                provenance: history::Provenance::Live,
            }),
        })
    }

    /// Copies the changed rows into their history, then commits.
    pub async fn commit(self) -> AppResult<()> {
        self.flush_history().await?;
        self.txn.commit().await?;
        Ok(())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Versions recorded from now on stand for `valid_from` and name `source` (an import of
    /// facts the source dates); `None` returns to live recording. Flushes what is pending.
    pub async fn import(&self, source: Option<(&str, DateTime<Utc>)>) -> AppResult<()> {
        self.flush_history().await?;
        self.pending().provenance = match source {
            Some((s, at)) => history::Provenance::Imported {
                source: s.to_string(),
                valid_from: at,
            },
            None => history::Provenance::Live,
        };
        Ok(())
    }

    /// Notes that a row of a versioned table changed under another entity's audit event
    /// (e.g. a measure's next due date when an execution is recorded).
    pub fn touch(&self, entity: &str, id: i64) {
        let mut p = self.pending();
        let event = p.last_event;
        p.note(entity, id, event);
    }

    /// The id of the latest audit event this write recorded.
    pub fn last_event(&self) -> Option<i64> {
        self.pending().last_event
    }

    /// The audit events this write recorded so far: (entity, entity id, action).
    pub fn events(&self) -> Vec<(String, String, String)> {
        self.pending().events.clone()
    }

    /// Copies every row changed so far, as it now stands, into its history.
    pub async fn flush_history(&self) -> AppResult<()> {
        let touched = std::mem::take(&mut self.pending().touched);
        if touched.is_empty() {
            return Ok(());
        }
        history::record(&self.txn, &touched, &self.actor, self.now).await
    }

    /// Ends the write without changing anything.
    pub async fn rollback(self) -> AppResult<()> {
        self.txn.rollback().await?;
        Ok(())
    }

    /// Records the mutation's audit event.
    pub async fn audit(
        &self,
        action: &str,
        entity: &str,
        entity_id: impl ToString,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> AppResult<()> {
        let entity_id = entity_id.to_string();
        let id = entity_id.parse::<i64>().ok();
        let event = audit::record(
            &self.txn,
            audit::Change {
                actor: &self.actor,
                action,
                entity,
                entity_id: entity_id.clone(),
                before,
                after,
            },
        )
        .await?;
        let mut p = self.pending();
        p.last_event = Some(event.id);
        p.events
            .push((entity.to_string(), entity_id, action.to_string()));
        if let Some(id) = id {
            p.note(entity, id, Some(event.id));
        }
        Ok(())
    }
}

impl Pending {
    /// Notes a changed row of a versioned table (others are ignored), once per write, with
    /// the latest event that named it.
    fn note(&mut self, entity: &str, id: i64, event: Option<i64>) {
        let Some(table) = history::table_of(entity) else {
            return;
        };
        if let Some(t) = self
            .touched
            .iter_mut()
            .find(|t| t.table.entity == entity && t.id == id)
        {
            t.event = event.or(t.event);
            return;
        }
        self.touched.push(history::Touched {
            table,
            id,
            event,
            provenance: self.provenance.clone(),
        });
    }
}

/// Rows that are created with an audit event: the entity name and id the event names.
pub trait Audited: Serialize {
    const ENTITY: &'static str;
    fn audit_id(&self) -> String;
}

macro_rules! audited {
    ($($model:ty => $name:literal, |$r:ident| $id:expr;)*) => {
        $(impl Audited for $model {
            const ENTITY: &'static str = $name;
            fn audit_id(&self) -> String {
                let $r = self;
                $id.to_string()
            }
        })*
    };
}

audited! {
    occurrence::Model => "Occurrence", |r| r.id;
    evaluation::Model => "Evaluation", |r| r.id;
    super::evidence::EvidenceMeta => "Evidence", |r| r.id;
    measure_finding::Model => "MeasureFinding", |r| format!("{}:{}", r.measure_id, r.finding_id);
    measure_system::Model => "MeasureSystem", |r| format!("{}:{}", r.measure_id, r.system_id);
    report_measure::Model => "ReportMeasure", |r| format!("{}:{}", r.report_id, r.measure_id);
}

/// Records an audit event whose `after` is `row`, with the keys of `extra` (a JSON object)
/// added to it.
pub async fn audit_row<M: Audited>(
    w: &Write<'_>,
    action: &str,
    row: &M,
    extra: Option<serde_json::Value>,
) -> AppResult<()> {
    let mut after = json!(row);
    if let (Some(serde_json::Value::Object(extra)), Some(obj)) = (extra, after.as_object_mut()) {
        obj.extend(extra);
    }
    w.audit(action, M::ENTITY, row.audit_id(), None, Some(after))
        .await
}

/// Inserts a row and records its audit event (`action`, the row as `after`, plus `extra`).
pub async fn insert_audited<A>(
    w: &Write<'_>,
    action: &str,
    active: A,
    extra: Option<serde_json::Value>,
) -> AppResult<<A::Entity as EntityTrait>::Model>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A> + Audited,
{
    let row = active.insert(&w.txn).await?;
    audit_row(w, action, &row, extra).await?;
    Ok(row)
}

/// Inserts a new versioned row (version 1, not archived, created and updated now) with its
/// "create" audit event.
pub async fn insert_new<E>(
    w: &Write<'_>,
    mut active: E::ActiveModel,
    extra: Option<serde_json::Value>,
) -> AppResult<E::Model>
where
    E: Versioned,
    E::Model: IntoActiveModel<E::ActiveModel> + Audited,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    active.set(E::version_col(), Value::Int(Some(1)));
    active.set(E::archived_col(), Option::<DateTime<Utc>>::None.into());
    active.set(E::created_col(), w.now.into());
    active.set(E::updated_col(), w.now.into());
    insert_audited(w, "create", active, extra).await
}

/// Inserts link rows, each with its own "create" audit event when `audited` (the seed's
/// record), or silently (a mutation records the links in its one event).
pub async fn insert_links<A>(w: &Write<'_>, links: Vec<A>, audited: bool) -> AppResult<()>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A> + Audited,
{
    for link in links {
        if audited {
            insert_audited(w, "create", link, None).await?;
        } else {
            link.insert(&w.txn).await?;
        }
    }
    Ok(())
}

/// Entities with an id, a version and an update timestamp.
pub trait Versioned: EntityTrait {
    /// The name used in the audit log and in error messages.
    const NAME: &'static str;
    fn id_col() -> Self::Column;
    fn version_col() -> Self::Column;
    fn created_col() -> Self::Column;
    fn updated_col() -> Self::Column;
    fn archived_col() -> Self::Column;
    fn version_of(m: &Self::Model) -> i32;
    fn archived(m: &Self::Model) -> bool;
}

macro_rules! versioned {
    ($module:ident, $name:literal) => {
        impl Versioned for $module::Entity {
            const NAME: &'static str = $name;
            fn id_col() -> Self::Column {
                $module::Column::Id
            }
            fn version_col() -> Self::Column {
                $module::Column::Version
            }
            fn created_col() -> Self::Column {
                $module::Column::CreatedAt
            }
            fn updated_col() -> Self::Column {
                $module::Column::UpdatedAt
            }
            fn archived_col() -> Self::Column {
                $module::Column::ArchivedAt
            }
            fn version_of(m: &Self::Model) -> i32 {
                m.version
            }
            fn archived(m: &Self::Model) -> bool {
                m.archived_at.is_some()
            }
        }
        audited! { $module::Model => $name, |r| r.id; }
    };
}

versioned!(regulator, "Regulator");
versioned!(regulatory_order, "Order");
versioned!(finding, "Finding");
versioned!(measure, "Measure");
versioned!(owner, "Owner");
versioned!(system, "System");
versioned!(report, "Report");
versioned!(evaluator, "Evaluator");
versioned!(change_request, "ChangeRequest");

/// Loads a row for update, or `NOT_FOUND`.
pub async fn load<E>(w: &Write<'_>, id: i64) -> AppResult<E::Model>
where
    E: Versioned,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
{
    E::find_by_id(id)
        .one(&w.txn)
        .await?
        .ok_or_else(|| AppError::not_found(E::NAME.to_lowercase()))
}

/// Applies `change` to a row if its version is still `expected`: bumps the version, sets
/// `updated_at`, and records one audit event with the row before and after. A stale version
/// is a `CONFLICT` carrying the current version; nothing is overwritten.
pub async fn update_versioned<E, F>(
    w: &Write<'_>,
    id: i64,
    expected: i32,
    action: &str,
    extra: Option<serde_json::Value>,
    change: F,
) -> AppResult<E::Model>
where
    E: Versioned,
    E::Model: Serialize + Clone + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
    F: FnOnce(&E::Model, &mut E::ActiveModel) -> AppResult<()>,
{
    let before = load::<E>(w, id).await?;
    let current = E::version_of(&before);
    if current != expected {
        return Err(stale(E::NAME, current));
    }
    let mut active = <E::ActiveModel as ActiveModelTrait>::default();
    change(&before, &mut active)?;
    active.set(E::version_col(), Value::Int(Some(expected + 1)));
    active.set(E::updated_col(), w.now.into());
    let res = E::update_many()
        .set(active)
        .filter(E::id_col().eq(id))
        .filter(E::version_col().eq(expected))
        .exec(&w.txn)
        .await?;
    if res.rows_affected != 1 {
        let now = load::<E>(w, id).await?;
        return Err(stale(E::NAME, E::version_of(&now)));
    }
    let after = load::<E>(w, id).await?;
    let mut after_json = json!(after);
    if let (Some(extra), Some(obj)) = (extra, after_json.as_object_mut()) {
        obj.insert("_change".into(), extra);
    }
    w.audit(action, E::NAME, id, Some(json!(before)), Some(after_json))
        .await?;
    Ok(after)
}

pub fn stale(name: &str, current: i32) -> AppError {
    AppError::Conflict {
        message: format!(
            "{name} was changed by someone else: it is at version {current}; reload and retry"
        ),
        current_version: Some(current),
    }
}

/// Marks a row archived (a versioned update).
pub async fn archive<E>(w: &Write<'_>, id: i64, expected: i32) -> AppResult<E::Model>
where
    E: Versioned,
    E::Model: Serialize + Clone + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
{
    let now = w.now;
    update_versioned::<E, _>(w, id, expected, "archive", None, |before, active| {
        if E::archived(before) {
            return Err(AppError::validation(
                "id",
                format!("{} is already archived", E::NAME),
            ));
        }
        active.set(E::archived_col(), now.into());
        Ok(())
    })
    .await
}

/// Text input rules: stored exactly as given (never trimmed or otherwise altered); refused
/// when empty or only white space, longer than `max_chars`, or holding control characters
/// other than tab and newlines.
pub fn text(field: &str, value: &str, max_chars: usize) -> AppResult<String> {
    if value.trim().is_empty() {
        return Err(AppError::validation(
            field,
            "must not be empty or only white space",
        ));
    }
    check_chars(field, value, max_chars)?;
    Ok(value.to_string())
}

/// Optional text: `None` or `""` is unset (on an update, `""` clears the field); white space
/// alone is refused rather than guessed at; anything else follows [`text`], exactly as given.
pub fn opt_text(field: &str, value: Option<&str>, max_chars: usize) -> AppResult<Option<String>> {
    match value {
        None | Some("") => Ok(None),
        Some(v) if v.trim().is_empty() => Err(AppError::validation(
            field,
            "must not be only white space (to leave it empty or clear it, send an empty string)",
        )),
        Some(v) => {
            check_chars(field, v, max_chars)?;
            Ok(Some(v.to_string()))
        }
    }
}

/// An optional token subject (an owner's account): [`opt_text`] of at most 200 characters, as
/// a token's subject is, and refused, never trimmed, when it begins or ends with white space
/// (a token's subject cannot).
pub fn opt_subject(field: &str, value: Option<&str>) -> AppResult<Option<String>> {
    let v = opt_text(field, value, 200)?;
    if v.as_deref().is_some_and(|s| s.trim() != s) {
        return Err(AppError::validation(
            field,
            "must not begin or end with white space",
        ));
    }
    Ok(v)
}

fn check_chars(field: &str, v: &str, max_chars: usize) -> AppResult<()> {
    if v.chars().count() > max_chars {
        return Err(AppError::validation(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::validation(
            field,
            "must not contain control characters (such as NUL)",
        ));
    }
    Ok(())
}

/// Codes and references: 1 to 100 characters, no white space anywhere, no control characters.
pub fn code(field: &str, value: &str) -> AppResult<String> {
    let v = text(field, value, 100)?;
    if v.contains(char::is_whitespace) {
        return Err(AppError::validation(
            field,
            "must not contain spaces or other white space",
        ));
    }
    Ok(v)
}

/// Text fields: required ones follow [`text`], optional ones [`opt_text`].
pub trait TextField: Sized {
    fn checked(field: &str, value: &str, max_chars: usize) -> AppResult<Self>;
}

impl TextField for String {
    fn checked(field: &str, value: &str, max_chars: usize) -> AppResult<Self> {
        text(field, value, max_chars)
    }
}

impl TextField for Option<String> {
    fn checked(field: &str, value: &str, max_chars: usize) -> AppResult<Self> {
        opt_text(field, Some(value), max_chars)
    }
}

/// An update of a text field: absent leaves it, present follows the field's rule (on an
/// optional field, `""` clears it).
pub fn change_text<T: TextField + Into<Value>>(
    slot: &mut ActiveValue<T>,
    field: &str,
    value: &Option<String>,
    max_chars: usize,
) -> AppResult<()> {
    if let Some(v) = value {
        *slot = ActiveValue::Set(T::checked(field, v, max_chars)?);
    }
    Ok(())
}

/// An update of any other field: absent leaves it.
pub fn change<T: Into<Value> + Clone>(slot: &mut ActiveValue<T>, value: Option<T>) {
    if let Some(v) = value {
        *slot = ActiveValue::Set(v);
    }
}

/// Two dates in order, or `VALIDATION` on `field` saying `what`.
pub fn date_order(
    field: &str,
    earlier: Option<NaiveDate>,
    later: Option<NaiveDate>,
    what: &str,
) -> AppResult<()> {
    match (earlier, later) {
        (Some(a), Some(b)) if b < a => Err(AppError::validation(field, what.to_string())),
        _ => Ok(()),
    }
}

pub const SHORT: usize = 500;
pub const LONG: usize = 20_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        // Kept byte-identical: nothing is trimmed.
        for kept in [
            "  WAF  ",
            "\u{3000}全角\u{3000}",
            "\u{00A0}nbsp\u{00A0}",
            "line\n",
            "\ttab",
            "多要素認証\u{200F}é",
        ] {
            assert_eq!(text("title", kept, 10).unwrap(), kept);
            assert_eq!(opt_text("note", Some(kept), 10).unwrap().unwrap(), kept);
        }
        // Empty or white space only: refused, naming the field and the rule.
        for blank in ["", "   ", "\u{3000}", "\u{00A0}", "\n", " \t\r\n"] {
            let e = text("title", blank, 10).unwrap_err();
            assert_eq!(e.code(), "VALIDATION", "{blank:?}");
            assert_eq!(
                e.message(),
                "title: must not be empty or only white space",
                "{blank:?}"
            );
        }
        for blank in ["   ", "\u{3000}", "\u{00A0}", "\n"] {
            let e = opt_text("note", Some(blank), 10).unwrap_err();
            assert_eq!(e.code(), "VALIDATION", "{blank:?}");
            assert!(e
                .message()
                .starts_with("note: must not be only white space"));
        }
        assert_eq!(opt_text("note", Some(""), 10).unwrap(), None);
        assert_eq!(opt_text("note", None, 10).unwrap(), None);
        assert_eq!(
            text("title", "abc\0def", 10).unwrap_err().code(),
            "VALIDATION"
        );
        assert_eq!(
            text("title", "12345678901", 10).unwrap_err().code(),
            "VALIDATION"
        );
        // Codes refuse white space anywhere, at the ends too.
        for bad in ["M 1", " M1", "M1 ", "M1\n", "\u{3000}M1", "M1\u{00A0}"] {
            assert_eq!(
                code("code", bad).unwrap_err().code(),
                "VALIDATION",
                "{bad:?}"
            );
        }
        assert_eq!(code("code", "M-1").unwrap(), "M-1");
    }
}
