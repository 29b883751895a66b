//! Webhook endpoints, their deliveries, e-mail digests and the reminders a day brings
//! (ADMIN: `notifications:manage`, never an order-scoped token). The store functions are in
//! `service::notify`; these resolvers convert and wrap.
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Duration, Utc};
use entity::enums::{DeliveryStatus, Language, NoticeKind};
use entity::{digest, notice, webhook_attempt, webhook_delivery, webhook_endpoint};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::audit::Notice;
use super::mutation::begin;
use crate::auth::{caller, Permission, Requires};
use crate::date::Date;
use crate::error::{AppError, AppResult};
use crate::id::{self, decode};
use crate::service::notify::{reminders, webhooks, Settings};

/// Most rows a list here returns.
const MAX_LIST: i32 = 200;

fn limit(first: Option<i32>) -> AppResult<u64> {
    match first.unwrap_or(50) {
        n if (0..=MAX_LIST).contains(&n) => Ok(n as u64),
        _ => Err(AppError::validation(
            "first",
            format!("between 0 and {MAX_LIST}"),
        )),
    }
}

/// A receiver of signed webhook deliveries.
pub struct WebhookEndpoint(pub webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    /// Opaque global ID.
    async fn id(&self) -> ID {
        id::encode("WebhookEndpoint", self.0.id)
    }
    /// Where deliveries are posted.
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The notice kinds delivered (empty: every kind).
    async fn event_types(&self) -> Vec<NoticeKind> {
        webhooks::event_types(&self.0)
    }
    /// References of the orders it is limited to (empty: every order and the plan-wide
    /// notices).
    async fn orders(&self, ctx: &Context<'_>) -> AppResult<Vec<String>> {
        let ids = webhooks::order_limit(&self.0).unwrap_or_default();
        let refs = reminders::order_references(
            ctx.data_unchecked::<DatabaseConnection>(),
            ids.iter().copied(),
        )
        .await?;
        Ok(ids.iter().filter_map(|i| refs.get(i).cloned()).collect())
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// Optimistic-concurrency version.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }
    /// Until when the secret before the latest rotation still signs (a second signature).
    async fn previous_secret_expires_at(&self) -> Option<DateTime<Utc>> {
        self.0
            .previous_secret_expires_at
            .filter(|t| *t > Utc::now())
    }
    /// Its deliveries, newest first.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        status: Option<DeliveryStatus>,
        first: Option<i32>,
    ) -> AppResult<Vec<WebhookDelivery>> {
        let mut q = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::EndpointId.eq(self.0.id));
        if let Some(s) = status {
            q = q.filter(webhook_delivery::Column::Status.eq(s));
        }
        Ok(q.order_by_desc(webhook_delivery::Column::Id)
            .limit(limit(first)?)
            .all(ctx.data_unchecked::<DatabaseConnection>())
            .await?
            .into_iter()
            .map(WebhookDelivery)
            .collect())
    }
}

/// One notice owed to one endpoint.
pub struct WebhookDelivery(pub webhook_delivery::Model);

impl WebhookDelivery {
    async fn load_notice(&self, ctx: &Context<'_>) -> AppResult<notice::Model> {
        notice::Entity::find_by_id(self.0.notice_id)
            .one(ctx.data_unchecked::<DatabaseConnection>())
            .await?
            .ok_or_else(|| AppError::not_found("notice"))
    }
}

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        id::encode("WebhookDelivery", self.0.id)
    }
    /// The `webhook-id` header: the same on every attempt.
    async fn message_id(&self) -> String {
        webhooks::message_id(self.0.notice_id)
    }
    /// The kind of its notice.
    async fn kind(&self, ctx: &Context<'_>) -> AppResult<NoticeKind> {
        Ok(self.load_notice(ctx).await?.kind)
    }
    /// Its notice.
    async fn notice(&self, ctx: &Context<'_>) -> AppResult<Notice> {
        Ok(Notice(self.load_notice(ctx).await?))
    }
    async fn status(&self) -> DeliveryStatus {
        self.0.status
    }
    /// Attempts made (since the latest manual redelivery).
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The HTTP status of the latest answer.
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }
    /// Why the latest attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When it is tried next (PENDING).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Every attempt, oldest first.
    async fn log(&self, ctx: &Context<'_>) -> AppResult<Vec<WebhookAttempt>> {
        Ok(webhook_attempt::Entity::find()
            .filter(webhook_attempt::Column::DeliveryId.eq(self.0.id))
            .order_by_asc(webhook_attempt::Column::Id)
            .limit(MAX_LIST as u64)
            .all(ctx.data_unchecked::<DatabaseConnection>())
            .await?
            .into_iter()
            .map(|a| WebhookAttempt {
                at: a.at,
                status_code: a.status_code,
                error: a.error,
                duration_ms: a.duration_ms,
            })
            .collect())
    }
}

/// One try of a delivery.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// An e-mail digest.
pub struct Digest(pub digest::Model);

#[Object]
impl Digest {
    async fn id(&self) -> ID {
        id::encode("Digest", self.0.id)
    }
    /// `DAILY` (per owner) or `WEEKLY` (the compliance office).
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn recipient(&self) -> &str {
        &self.0.recipient
    }
    async fn language(&self) -> Language {
        self.0.language
    }
    /// The day it is for (a weekly digest: the Monday of its week).
    async fn day(&self) -> Date {
        Date(self.0.day)
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn status(&self) -> DeliveryStatus {
        self.0.status
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
}

/// A time-based reminder a day brings.
#[derive(SimpleObject)]
pub struct Reminder {
    pub kind: NoticeKind,
    /// The key it is noted under, once.
    pub dedup_key: String,
    pub subject_type: String,
    pub subject_id: ID,
    pub summary: String,
    /// References of its orders.
    pub orders: Vec<String>,
}

/// A new endpoint and its signing secret (shown only here).
#[derive(SimpleObject)]
pub struct WebhookSecretPayload {
    pub endpoint: WebhookEndpoint,
    /// `whsec_` + base64: verify deliveries with it (Standard Webhooks libraries take it as is).
    pub secret: String,
}

#[derive(Default)]
pub struct NotifyQuery;

#[Object]
impl NotifyQuery {
    /// Webhook endpoints (archived ones too when asked), oldest first.
    #[graphql(guard = "Requires(Permission::ManageNotifications)")]
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_archived: bool,
    ) -> AppResult<Vec<WebhookEndpoint>> {
        caller(ctx)?;
        let mut q = webhook_endpoint::Entity::find();
        if !include_archived {
            q = q.filter(webhook_endpoint::Column::ArchivedAt.is_null());
        }
        Ok(q.order_by_asc(webhook_endpoint::Column::Id)
            .limit(MAX_LIST as u64)
            .all(ctx.data_unchecked::<DatabaseConnection>())
            .await?
            .into_iter()
            .map(WebhookEndpoint)
            .collect())
    }

    /// E-mail digests, newest first.
    #[graphql(guard = "Requires(Permission::ManageNotifications)")]
    async fn digests(&self, ctx: &Context<'_>, first: Option<i32>) -> AppResult<Vec<Digest>> {
        caller(ctx)?;
        Ok(digest::Entity::find()
            .order_by_desc(digest::Column::Id)
            .limit(limit(first)?)
            .all(ctx.data_unchecked::<DatabaseConnection>())
            .await?
            .into_iter()
            .map(Digest)
            .collect())
    }

    /// The time-based reminders the scheduler notes on `on` (due soon, overdue, expiring); for
    /// a past day, from the plan as it stood then. Writes nothing. E.g. `reminders(on: "2022-12-01")`
    /// on the demo plan.
    #[graphql(guard = "Requires(Permission::ManageNotifications)")]
    async fn reminders(&self, ctx: &Context<'_>, on: Date) -> AppResult<Vec<Reminder>> {
        caller(ctx)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let s = ctx.data_unchecked::<Settings>();
        preview(db, *on, &s.reminders).await
    }
}

/// The reminders of a day, as the API shows them: for a past day, from the plan as it stood
/// at the end of that day (`service::history`), so the preview is what the scheduler would
/// have noted then.
pub async fn preview(
    db: &DatabaseConnection,
    on: chrono::NaiveDate,
    s: &reminders::Settings,
) -> AppResult<Vec<Reminder>> {
    use crate::service::history::{Reader, Tense};
    let past = on < crate::domain::today();
    let reader = Reader::new(db, past.then(|| Tense::on(on)));
    let list = reminders::due(&reader, on, Utc::now(), s).await?;
    let mut ids: Vec<i64> = list.iter().flat_map(|n| n.orders.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let refs = reminders::order_references(db, ids).await?;
    Ok(list
        .into_iter()
        .map(|n| Reminder {
            kind: n.kind,
            subject_id: id::encode(n.subject_type, n.subject_id),
            subject_type: n.subject_type.to_string(),
            orders: n
                .orders
                .iter()
                .filter_map(|o| refs.get(o).cloned())
                .collect(),
            dedup_key: n.dedup_key,
            summary: n.summary,
        })
        .collect())
}

/// A new webhook endpoint.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// `https://` (or `http://`) URL on a public address, or on a network of
    /// `REMEDY_WEBHOOK_ALLOW`.
    pub url: String,
    /// Notice kinds to deliver; absent or empty: every kind.
    pub event_types: Option<Vec<NoticeKind>>,
    /// References of the orders it is limited to (an evaluator's endpoint: its granted
    /// orders); absent: every order and the plan-wide notices.
    pub orders: Option<Vec<String>>,
    pub description: Option<String>,
}

/// Changes to a webhook endpoint (absent fields unchanged).
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub url: Option<String>,
    pub event_types: Option<Vec<NoticeKind>>,
    /// `[]` removes the limit.
    pub orders: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Default)]
pub struct NotifyMutation;

macro_rules! notify_txn {
    ($ctx:expr, |$w:ident, $who:ident| $call:expr) => {{
        let (w, who) = begin($ctx).await?;
        let out = {
            let ($w, $who) = (&w, who);
            $call.await?
        };
        w.commit().await?;
        out
    }};
}

#[Object]
impl NotifyMutation {
    /// Registers a webhook endpoint; the answer carries its signing secret, shown only here.
    #[graphql(guard = "Requires(Permission::ManageNotifications)")]
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> AppResult<WebhookSecretPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let s = ctx.data_unchecked::<Settings>();
        let orders = match &input.orders {
            Some(r) => Some(webhooks::resolve_orders(db, r).await?),
            None => None,
        };
        let store = webhooks::EndpointInput {
            url: Some(input.url),
            description: input.description,
            event_types: input.event_types,
            orders,
            enabled: None,
        };
        let (row, secret) = notify_txn!(ctx, |w, who| webhooks::create(w, who, &store, &s.allow));
        Ok(WebhookSecretPayload {
            endpoint: WebhookEndpoint(row),
            secret,
        })
    }

    /// Changes a webhook endpoint at `version`.
    #[graphql(guard = "Requires(Permission::ManageNotifications)")]
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: UpdateWebhookEndpointInput,
    ) -> AppResult<WebhookEndpoint> {
        let id = decode(&id, "WebhookEndpoint")?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let s = ctx.data_unchecked::<Settings>();
        let orders = match &input.orders {
            Some(r) => Some(webhooks::resolve_orders(db, r).await?),
            None => None,
        };
        let store = webhooks::EndpointInput {
            url: input.url,
            description: input.description,
            event_types: input.event_types,
            orders,
            enabled: input.enabled,
        };
        let row = notify_txn!(ctx, |w, who| webhooks::update(
            w, who, id, version, &store, &s.allow
        ));
        Ok(WebhookEndpoint(row))
    }

    /// Gives an endpoint a new secret; the previous one keeps signing (a second signature)
    /// for `overlapHours` (default REMEDY_WEBHOOK_SECRET_OVERLAP_HOURS), so receivers can
    /// switch without losing a delivery.
    #[graphql(guard = "Requires(Permission::ManageNotifications)")]
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
        overlap_hours: Option<i32>,
    ) -> AppResult<WebhookSecretPayload> {
        let id = decode(&id, "WebhookEndpoint")?;
        let s = ctx.data_unchecked::<Settings>();
        let overlap = overlap_hours
            .map(|h| Duration::hours(i64::from(h)))
            .unwrap_or(s.overlap);
        let (row, secret) = notify_txn!(ctx, |w, who| webhooks::rotate(w, who, id, overlap));
        Ok(WebhookSecretPayload {
            endpoint: WebhookEndpoint(row),
            secret,
        })
    }

    /// Archives an endpoint at `version`: nothing more is delivered to it.
    #[graphql(guard = "Requires(Permission::ManageNotifications)")]
    async fn archive_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
    ) -> AppResult<WebhookEndpoint> {
        let id = decode(&id, "WebhookEndpoint")?;
        let row = notify_txn!(ctx, |w, who| webhooks::archive(w, who, id, version));
        Ok(WebhookEndpoint(row))
    }

    /// Sends a delivered or dead-lettered delivery again (due now, attempts counted afresh).
    #[graphql(guard = "Requires(Permission::ManageNotifications)")]
    async fn redeliver_webhook(&self, ctx: &Context<'_>, id: ID) -> AppResult<WebhookDelivery> {
        let id = decode(&id, "WebhookDelivery")?;
        let row = notify_txn!(ctx, |w, who| webhooks::redeliver(w, who, id));
        Ok(WebhookDelivery(row))
    }
}
