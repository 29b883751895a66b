//! The audit log (ADMIN): the hash-chained events, their verification, and who read what.
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::enums::NoticeKind;
use entity::{access_log, audit_event, notice};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::connection::{cost, from_select, Conn, Keyset, PageArgs};
use super::mutation::AuditVerification;
use crate::audit;
use crate::auth::{caller, Permission, Requires};
use crate::error::{AppError, AppResult};
use crate::id;

/// The audit and access logs span every order (the audit events carry whole rows before and
/// after): refused to order-scoped tokens, whatever their roles, as `changes` is.
fn refuse_scoped(ctx: &Context<'_>, what: &str) -> AppResult<()> {
    if caller(ctx)?.is_scoped() {
        return Err(AppError::Forbidden(format!(
            "{what} spans every order; not for order-scoped tokens"
        )));
    }
    Ok(())
}

/// One change, as recorded.
pub struct AuditEvent(pub audit_event::Model);

/// One change, as recorded.
#[Object]
impl AuditEvent {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("AuditEvent", self.0.id)
    }
    /// When.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Who (token subject).
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// What: create, update, transition, archive, submit…
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// The kind of object.
    async fn entity(&self) -> &str {
        &self.0.entity
    }
    /// The object's database id.
    async fn entity_id(&self) -> &str {
        &self.0.entity_id
    }
    /// The object before (canonical JSON).
    async fn before(&self) -> Option<&str> {
        self.0.before.as_deref()
    }
    /// The object after (canonical JSON).
    async fn after(&self) -> Option<&str> {
        self.0.after.as_deref()
    }
    /// The previous event's hash.
    async fn prev_hash(&self) -> &str {
        &self.0.prev_hash
    }
    /// SHA-256 over the previous hash and this event.
    async fn hash(&self) -> &str {
        &self.0.hash
    }
}

/// Something people should hear about, noted with the change that caused it (the outbox
/// reminders and webhooks deliver from).
pub struct Notice(pub notice::Model);

#[Object]
impl Notice {
    /// Opaque global ID; notices are numbered in the order they were noted.
    async fn id(&self) -> ID {
        id::encode("Notice", self.0.id)
    }
    /// What happened.
    async fn kind(&self) -> NoticeKind {
        self.0.kind
    }
    /// When.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// The type of the object it is about (e.g. `Measure`, `Report`, `ChangeRequest`).
    async fn subject_type(&self) -> &str {
        &self.0.subject_type
    }
    /// The object it is about (e.g. a change request).
    async fn subject_id(&self) -> ID {
        id::encode(&self.0.subject_type, self.0.subject_id)
    }
    /// The measure concerned, if any.
    async fn measure_id(&self) -> Option<ID> {
        self.0.measure_id.map(|m| id::encode("Measure", m))
    }
    /// The orders concerned.
    async fn order_ids(&self) -> Vec<ID> {
        serde_json::from_str::<Vec<i64>>(&self.0.order_ids)
            .unwrap_or_default()
            .into_iter()
            .map(|o| id::encode("Order", o))
            .collect()
    }
    /// One line for people.
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// Unique key: the same event is noted once.
    async fn dedup_key(&self) -> &str {
        &self.0.dedup_key
    }
}

/// Filters on the audit log.
#[derive(InputObject, Default)]
pub struct AuditFilter {
    /// Events on this kind of object (e.g. `Measure`).
    pub entity: Option<String>,
    /// Events on this object's database id.
    pub entity_id: Option<String>,
    /// Events by this actor.
    pub actor: Option<String>,
    /// Events of this action.
    pub action: Option<String>,
    /// Events at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// A read by an order-scoped (evaluator) token.
#[derive(SimpleObject)]
pub struct AccessRecord {
    /// When.
    pub at: DateTime<Utc>,
    /// The token's subject.
    pub subject: String,
    /// The token's id.
    pub jti: Option<String>,
    /// The order whose data was returned.
    pub order_id: ID,
    /// The GraphQL operation name, if given.
    pub operation: Option<String>,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Every change, oldest first (ADMIN).
    #[graphql(
        guard = "Requires(Permission::ReadAudit)",
        complexity = "cost(first, last, child_complexity)"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<AuditEvent>> {
        refuse_scoped(ctx, "the audit log")?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let f = filter.unwrap_or_default();
        let mut select = audit_event::Entity::find();
        if let Some(v) = f.entity {
            select = select.filter(audit_event::Column::Entity.eq(v));
        }
        if let Some(v) = f.entity_id {
            select = select.filter(audit_event::Column::EntityId.eq(v));
        }
        if let Some(v) = f.actor {
            select = select.filter(audit_event::Column::Actor.eq(v));
        }
        if let Some(v) = f.action {
            select = select.filter(audit_event::Column::Action.eq(v));
        }
        if let Some(v) = f.since {
            select = select.filter(audit_event::Column::At.gte(v));
        }
        from_select(
            ctx,
            db,
            &PageArgs::new(first, after, last, before),
            select,
            &Keyset::asc(audit_event::Column::Id),
            AuditEvent,
        )
        .await
    }

    /// Notices (reminders, plan changes, evaluations, change requests asked, decided or
    /// withdrawn, deferrals ended), oldest first (ADMIN): what webhooks deliver.
    #[graphql(
        guard = "Requires(Permission::ReadAudit)",
        complexity = "cost(first, last, child_complexity)"
    )]
    async fn notices(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Notices of this kind only.")] kind: Option<NoticeKind>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<Notice>> {
        refuse_scoped(ctx, "the notices")?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let mut select = notice::Entity::find();
        if let Some(k) = kind {
            select = select.filter(notice::Column::Kind.eq(k));
        }
        from_select(
            ctx,
            db,
            &PageArgs::new(first, after, last, before),
            select,
            &Keyset::asc(notice::Column::Id),
            Notice,
        )
        .await
    }

    /// Walks the whole chain and reports whether it is intact, or the first broken event (ADMIN).
    #[graphql(guard = "Requires(Permission::ReadAudit)")]
    async fn verify_audit_log(&self, ctx: &Context<'_>) -> AppResult<AuditVerification> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let v = audit::verify(db).await?;
        Ok(AuditVerification {
            intact: v.first_broken.is_none(),
            events: v.events,
            first_broken_id: v.first_broken.map(|i| id::encode("AuditEvent", i)),
        })
    }

    /// Reads by evaluator tokens: who saw which order when, newest first (ADMIN).
    #[graphql(
        guard = "Requires(Permission::ReadAudit)",
        complexity = "cost(first, last, child_complexity)"
    )]
    async fn access_log(
        &self,
        ctx: &Context<'_>,
        subject: Option<String>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Conn<AccessRecord>> {
        refuse_scoped(ctx, "the access log")?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let mut select = access_log::Entity::find();
        if let Some(s) = subject {
            select = select.filter(access_log::Column::Subject.eq(s));
        }
        from_select(
            ctx,
            db,
            &PageArgs::new(first, after, last, before),
            select,
            &Keyset::desc(access_log::Column::Id),
            |r: access_log::Model| AccessRecord {
                at: r.at,
                subject: r.subject,
                jti: r.jti,
                order_id: id::encode("Order", r.order_id),
                operation: r.operation,
            },
        )
        .await
    }
}
