//! The notification worker: in `serve` every `REMEDY_NOTIFY_INTERVAL_SECONDS`, or once with
//! `remedy notify --once`. One run:
//!
//! 1. the scheduler notes the day's reminders and missed periods and queues the digests it
//!    owes (`service::notify::schedule`, one replica at a time);
//! 2. notices not yet dispatched become deliveries to the matching endpoints;
//! 3. due deliveries are claimed with a lease, sent (each URL checked again against the
//!    address rules, the host pinned to the addresses checked), and recorded;
//! 4. due digests are claimed, sent over SMTP and recorded;
//! 5. the queue gauges are updated.
//!
//! Nothing is sent inside a database transaction; a process killed mid-send leaves its
//! leases to expire, and the next run (here or on another replica) sends again: at least once.
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use entity::enums::DeliveryStatus;
use futures_util::future::join_all;
use sea_orm::DatabaseConnection;

use crate::config::NotifyConfig;
use crate::error::AppResult;
use crate::metrics::Metrics;
use crate::outbound::{self, Mailer};
use crate::service::notify::{self, digests, webhooks, Settings};
use crate::service::write::{Write, WriteGate};

/// Deliveries (and digests) claimed per round; a run repeats rounds while there are more.
const ROUND: u64 = 16;
/// Rounds per run at most, so that one run ends.
const MAX_ROUNDS: usize = 50;

pub struct Notifier {
    db: DatabaseConnection,
    gate: Arc<WriteGate>,
    cfg: NotifyConfig,
    settings: Settings,
    mailer: Option<Mailer>,
    metrics: Arc<Metrics>,
}

/// What one run did.
#[derive(Debug, Default, Clone)]
pub struct Run {
    pub scheduled: notify::Scheduled,
    pub fanned_out: usize,
    pub delivered: usize,
    pub failed: usize,
    pub dead: usize,
    pub mailed: usize,
    pub mail_failed: usize,
}

impl Notifier {
    pub fn new(
        db: DatabaseConnection,
        gate: Arc<WriteGate>,
        cfg: NotifyConfig,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let mailer = Mailer::from_config(&cfg)?;
        Ok(Notifier {
            db,
            gate,
            cfg,
            settings,
            mailer,
            metrics,
        })
    }

    fn count(&self, channel: &str, status: DeliveryStatus) {
        let outcome = match status {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "failed",
            DeliveryStatus::Dead => "dead",
        };
        self.metrics
            .notifications
            .with_label_values(&[channel, outcome])
            .inc();
    }

    /// One run for `today`.
    pub async fn run_once(&self, today: NaiveDate) -> AppResult<Run> {
        let mut run = Run {
            scheduled: notify::schedule(&self.db, &self.gate, today, &self.settings).await?,
            ..Default::default()
        };
        loop {
            let n = notify::fan_out(&self.db, &self.gate, 500).await?;
            run.fanned_out += n;
            if n == 0 {
                break;
            }
        }
        for _ in 0..MAX_ROUNDS {
            if self.deliver_round(&mut run).await? == 0 {
                break;
            }
        }
        if let Some(mailer) = &self.mailer {
            for _ in 0..MAX_ROUNDS {
                if self.mail_round(mailer, &mut run).await? == 0 {
                    break;
                }
            }
        }
        self.gauges().await;
        Ok(run)
    }

    async fn deliver_round(&self, run: &mut Run) -> AppResult<usize> {
        let timeout = Duration::from_secs(self.cfg.webhook_timeout_seconds.max(1));
        let w = Write::begin(&self.db, &self.gate, "system:notify").await?;
        let claimed = webhooks::claim(
            &w,
            Utc::now(),
            ROUND,
            notify::lease(self.cfg.webhook_timeout_seconds),
        )
        .await?;
        w.commit().await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let sends = claimed.iter().map(|c| async move {
            let body = webhooks::payload(c, &self.settings.public_url);
            let msg_id = webhooks::message_id(c.notice.id);
            let now = Utc::now();
            let secrets = webhooks::signing_secrets(&c.endpoint, now);
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            // The address rules again, now: DNS may answer otherwise than at registration.
            match outbound::check_url(&c.endpoint.url, &self.settings.allow).await {
                Ok(target) => {
                    outbound::post(&target, &msg_id, now.timestamp(), &body, &secrets, timeout)
                        .await
                }
                Err(why) => outbound::Outcome {
                    status: None,
                    error: Some(format!("refused: {why}")),
                    elapsed: Duration::ZERO,
                },
            }
        });
        let outcomes = join_all(sends).await;
        let w = Write::begin(&self.db, &self.gate, "system:notify").await?;
        for (c, o) in claimed.iter().zip(&outcomes) {
            let status = webhooks::record(
                &w,
                &c.delivery,
                o,
                self.cfg.webhook_max_attempts.max(1),
                self.cfg.webhook_backoff_seconds,
            )
            .await?;
            self.count("webhook", status);
            match status {
                DeliveryStatus::Delivered => run.delivered += 1,
                DeliveryStatus::Pending => run.failed += 1,
                DeliveryStatus::Dead => {
                    run.dead += 1;
                    tracing::warn!(
                        delivery = c.delivery.id,
                        endpoint = c.endpoint.id,
                        error = o.error.as_deref().unwrap_or(""),
                        "webhook delivery dead-lettered"
                    );
                }
            }
        }
        w.commit().await?;
        Ok(claimed.len())
    }

    async fn mail_round(&self, mailer: &Mailer, run: &mut Run) -> AppResult<usize> {
        let w = Write::begin(&self.db, &self.gate, "system:notify").await?;
        let claimed = digests::claim(&w, Utc::now(), ROUND, notify::lease(60)).await?;
        w.commit().await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let mut results = Vec::new();
        for d in &claimed {
            let r = mailer
                .send(&outbound::Mail {
                    to: &d.recipient,
                    subject: &d.subject,
                    text: &d.body_text,
                    html: &d.body_html,
                })
                .await;
            results.push(r);
        }
        let w = Write::begin(&self.db, &self.gate, "system:notify").await?;
        for (d, r) in claimed.iter().zip(&results) {
            let status = digests::record(
                &w,
                d,
                r,
                self.cfg.webhook_max_attempts.max(1),
                self.cfg.webhook_backoff_seconds,
            )
            .await?;
            self.count("email", status);
            match status {
                DeliveryStatus::Delivered => run.mailed += 1,
                _ => {
                    run.mail_failed += 1;
                    tracing::warn!(
                        digest = d.id,
                        error = r.as_ref().err().map(String::as_str).unwrap_or(""),
                        "e-mail digest not sent"
                    );
                }
            }
        }
        w.commit().await?;
        Ok(claimed.len())
    }

    async fn gauges(&self) {
        let now = Utc::now();
        for (channel, backlog) in [
            ("webhook", webhooks::backlog(&self.db).await),
            ("email", digests::backlog(&self.db).await),
        ] {
            if let Ok((n, oldest)) = backlog {
                self.metrics
                    .notification_queue
                    .with_label_values(&[channel])
                    .set(n as i64);
                self.metrics
                    .notification_oldest
                    .with_label_values(&[channel])
                    .set(oldest.map(|o| (now - o).num_seconds().max(0)).unwrap_or(0));
            }
        }
    }

    /// Runs every `every` until `stop` turns true; a run under way finishes first.
    pub async fn run(self, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            match self.run_once(crate::domain::today()).await {
                Ok(r) => {
                    if r.scheduled.reminders
                        + r.scheduled.missed_periods
                        + r.scheduled.digests
                        + r.delivered
                        + r.dead
                        + r.mailed
                        > 0
                    {
                        tracing::info!(
                            reminders = r.scheduled.reminders,
                            missed_periods = r.scheduled.missed_periods,
                            digests = r.scheduled.digests,
                            delivered = r.delivered,
                            failed = r.failed,
                            dead = r.dead,
                            mailed = r.mailed,
                            "notifications"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(code = e.code(), error = %e.message(), "notification run failed")
                }
            }
        }
        tracing::info!("notification worker stopped");
    }
}
