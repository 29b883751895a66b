//! Reminders that reach people, on the store's side: the time-based reminders a day brings
//! (`reminders`), webhook endpoints and their deliveries (`webhooks`), and e-mail digests
//! (`digests`). Notices themselves are written by `service::write::notices`, in the
//! transaction of the change they tell of; sending is `crate::outbound`, driven by the worker
//! (`crate::notifier`).
pub mod digests;
pub mod reminders;
pub mod webhooks;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::Rng;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

use crate::config::NotifyConfig;
use crate::error::AppResult;
use crate::outbound::AllowList;
use crate::service::write::{notices, Write, WriteGate};

/// What the API and the worker need of the notification settings, parsed once.
#[derive(Clone, Debug)]
pub struct Settings {
    pub reminders: reminders::Settings,
    pub allow: AllowList,
    pub overlap: Duration,
    pub public_url: String,
    pub daily: bool,
    pub weekly_to: Vec<digests::Recipient>,
    /// Whether e-mail is configured (digests are composed only then).
    pub mail: bool,
}

impl Settings {
    /// Parses the settings; `listen` is the link base when no public URL is set.
    pub fn from_config(c: &NotifyConfig, listen: std::net::SocketAddr) -> Result<Self, String> {
        Ok(Settings {
            reminders: reminders::Settings::new(c.remind_days.clone(), c.remind_lookback_days),
            allow: AllowList::parse(&c.webhook_allow)?,
            overlap: Duration::hours(i64::from(c.webhook_secret_overlap_hours)),
            public_url: c
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{listen}")),
            daily: c.digest_daily,
            weekly_to: c
                .digest_weekly_to
                .iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| digests::parse_recipient(s))
                .collect::<Result<_, _>>()?,
            mail: c.smtp_host.is_some(),
        })
    }
}

/// Advisory-lock keys (PostgreSQL): one replica at a time runs each job.
const LOCK_SCHEDULER: i64 = 0x7265_6d65_6479_0001;
const LOCK_FANOUT: i64 = 0x7265_6d65_6479_0002;

/// Takes a transaction-scoped advisory lock on PostgreSQL (released at commit or rollback);
/// `false` when another replica holds it. SQLite has one process and its write gate.
async fn try_lock(w: &Write<'_>, key: i64) -> AppResult<bool> {
    if w.txn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(true);
    }
    let row = w
        .txn
        .query_one(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1) AS ok",
            [key.into()],
        ))
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<bool>("", "ok")?,
        None => false,
    })
}

/// What one scheduler run did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Scheduled {
    /// Another replica was running it: nothing done.
    pub skipped: bool,
    pub reminders: usize,
    pub missed_periods: usize,
    pub digests: usize,
}

/// Notes the reminders `today` brings and the periods just missed, and queues the digests it
/// owes, in one transaction under the scheduler's lock. Every one is keyed, so a second run
/// (another replica, the next tick, a restart) notes nothing twice.
pub async fn schedule(
    db: &DatabaseConnection,
    gate: &WriteGate,
    today: NaiveDate,
    s: &Settings,
) -> AppResult<Scheduled> {
    let w = Write::begin(db, gate, "system:notify").await?;
    if !try_lock(&w, LOCK_SCHEDULER).await? {
        w.rollback().await?;
        return Ok(Scheduled {
            skipped: true,
            ..Default::default()
        });
    }
    let list = reminders::due(&w.txn, today, w.now, &s.reminders).await?;
    let reminders = notices::note_all(&w, list).await?;
    let missed_periods = notices::note_missed_periods(&w, today).await?;
    let digests = if s.mail {
        digests::queue(&w, today, &s.reminders, s.daily, &s.weekly_to).await?
    } else {
        0
    };
    w.commit().await?;
    Ok(Scheduled {
        skipped: false,
        reminders,
        missed_periods,
        digests,
    })
}

/// Fans the notices not yet dispatched out to the endpoints (up to `batch` notices), under
/// the fan-out lock. Returns the deliveries made.
pub async fn fan_out(db: &DatabaseConnection, gate: &WriteGate, batch: u64) -> AppResult<usize> {
    let w = Write::begin(db, gate, "system:notify").await?;
    if !try_lock(&w, LOCK_FANOUT).await? {
        w.rollback().await?;
        return Ok(0);
    }
    let n = webhooks::fan_out(&w, batch).await?;
    w.commit().await?;
    Ok(n)
}

/// How long a worker holds a delivery or digest while it sends it; past this another worker
/// (or this one after a restart) may try it again.
pub fn lease(timeout_seconds: u64) -> Duration {
    Duration::seconds((timeout_seconds.max(1) * 2 + 30) as i64)
}

/// When attempt `attempts + 1` is due after `attempts` failed ones: `base × 2^(attempts-1)`,
/// at most six hours, plus up to 20 % random jitter.
pub fn next_attempt(now: DateTime<Utc>, attempts: u32, base_seconds: u64) -> DateTime<Utc> {
    let exp = attempts.saturating_sub(1).min(20);
    let wait = base_seconds
        .max(1)
        .saturating_mul(1u64 << exp)
        .min(6 * 3600);
    let jitter = rand::thread_rng().gen_range(0..=wait / 5);
    now + Duration::seconds((wait + jitter) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_ceiling() {
        let now = Utc::now();
        for (attempts, lo) in [(1u32, 30i64), (2, 60), (3, 120), (12, 6 * 3600)] {
            let at = next_attempt(now, attempts, 30);
            let wait = (at - now).num_seconds();
            assert!(
                wait >= lo && wait <= lo + lo / 5,
                "attempt {attempts}: {wait}"
            );
        }
    }
}
