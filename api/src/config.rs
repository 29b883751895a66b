//! Configuration, read from the environment (documented in the README).
use std::net::SocketAddr;

use clap::{Args, FromArgMatches};

/// The default database: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://remedy.db?mode=rwc";

/// Settings shared by every command that touches the database. `Debug` hides the URL's
/// password.
#[derive(Clone, Args)]
pub struct DbConfig {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long = "database-url", env = "REMEDY_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Maximum connections in the pool.
    #[arg(long, env = "REMEDY_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// Seconds to wait for a connection from the pool before failing.
    #[arg(long, env = "REMEDY_DB_ACQUIRE_TIMEOUT", default_value_t = 5)]
    pub db_acquire_timeout: u64,
    /// Ping a pooled connection before handing it out. Off by default: sqlx already pings
    /// every connection when it is returned to the pool and drops the broken ones, so the
    /// ping before use only catches a connection that broke while idle (the server restarted),
    /// whose first statement then fails with SERVICE_UNAVAILABLE; on, it costs a round trip
    /// per statement.
    #[arg(long, env = "REMEDY_DB_TEST_BEFORE_ACQUIRE", default_value_t = false, action = clap::ArgAction::Set)]
    pub db_test_before_acquire: bool,
    /// PostgreSQL: seconds any one statement may run before the server cancels it (its
    /// `statement_timeout`, set on every pooled connection); 0 for no limit. A request that
    /// runs past REMEDY_REQUEST_TIMEOUT_SECONDS is answered TIMEOUT, but its statement would
    /// keep a connection and a core busy: this cancels it in the database too. Raise it (or
    /// 0) for long maintenance runs such as `remedy audit verify` on a very large plan.
    #[arg(
        long,
        env = "REMEDY_DB_STATEMENT_TIMEOUT_SECONDS",
        default_value_t = 60
    )]
    pub db_statement_timeout: u64,
}

/// Settings of the HTTP/GraphQL server.
#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "REMEDY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Maximum query depth.
    #[arg(long, env = "REMEDY_MAX_DEPTH", default_value_t = 12)]
    pub max_depth: usize,
    /// Maximum query complexity: each field costs 1, a connection multiplies what its nodes
    /// cost by its page size (`first`/`last`, default 20).
    #[arg(long, env = "REMEDY_MAX_COMPLEXITY", default_value_t = 100_000)]
    pub max_complexity: usize,
    /// Largest page a connection returns (`first`/`last` above it are refused).
    #[arg(long, env = "REMEDY_MAX_PAGE_SIZE", default_value_t = 100)]
    pub max_page_size: u64,
    /// Largest evidence upload, in bytes.
    #[arg(long, env = "REMEDY_MAX_UPLOAD_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// Directory for uploaded evidence (content-addressed); unset: bytes are kept in the database.
    #[arg(long, env = "REMEDY_EVIDENCE_DIR")]
    pub evidence_dir: Option<std::path::PathBuf>,
    /// Maximum request body, in bytes.
    #[arg(long, env = "REMEDY_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Whether introspection queries are answered (switch off in production if wanted).
    #[arg(long, env = "REMEDY_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Requests per minute one token subject may send (0: no limit).
    #[arg(long, env = "REMEDY_RATE_LIMIT_PER_MINUTE", default_value_t = 6000)]
    pub rate_limit_per_minute: u32,
    /// Most field selections one GraphQL document may contain (aliases and duplicates count).
    #[arg(long, env = "REMEDY_MAX_FIELDS", default_value_t = 1000)]
    pub max_fields: usize,
    /// Most aliases one GraphQL document may contain.
    #[arg(long, env = "REMEDY_MAX_ALIASES", default_value_t = 50)]
    pub max_aliases: usize,
    /// Whether error messages suggest similar field names (switch off in production if wanted).
    #[arg(long, env = "REMEDY_FIELD_SUGGESTIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub field_suggestions: bool,
    /// How long a DataLoader waits to gather keys into one batch, in milliseconds.
    #[arg(long, env = "REMEDY_LOADER_DELAY_MS", default_value_t = 2)]
    pub loader_delay_ms: u64,
    /// Whether lists of measures are rendered in bulk when their selection allows it (see
    /// `api/src/graphql/fast.rs`); `false` resolves every field through the generic executor.
    #[arg(long, env = "REMEDY_BULK_RENDER", default_value_t = true, action = clap::ArgAction::Set)]
    pub bulk_render: bool,
    /// Separation of duties: moving a measure to VERIFIED is refused to the person who moved
    /// it to IMPLEMENTED and to its owner's account (`plan:verify` is needed either way).
    #[arg(long, env = "REMEDY_SEPARATION_OF_DUTIES", default_value_t = true, action = clap::ArgAction::Set)]
    pub separation_of_duties: bool,
    /// Days before today a transition's effective date (`on`) may lie without `plan:approve`.
    #[arg(long, env = "REMEDY_BACKDATE_WINDOW_DAYS", default_value_t = 7)]
    pub backdate_window_days: u32,
    /// Approvals: deferring or cancelling a measure, or moving its due date later, is a
    /// request that a second person with `plan:approve` approves or rejects; `false` lets
    /// `plan:write` make those changes directly.
    #[arg(long, env = "REMEDY_APPROVALS", default_value_t = true, action = clap::ArgAction::Set)]
    pub approvals: bool,
    /// Seconds between two sweeps that end approved deferrals whose end date has passed and
    /// note the periods of recurring measures just missed (one also runs at start-up); 0: no
    /// sweep (run `remedy approvals expire` from a scheduler).
    #[arg(long, env = "REMEDY_APPROVAL_SWEEP_SECONDS", default_value_t = 3600)]
    pub approval_sweep_seconds: u64,
    /// Worker threads (0: one per core).
    #[arg(long, env = "REMEDY_WORKERS", default_value_t = 0)]
    pub workers: usize,
    /// On SIGTERM: seconds in-flight requests may take to finish before the process exits.
    #[arg(long, env = "REMEDY_SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    pub shutdown_grace_seconds: u64,
    /// Longest a GraphQL request may take before it is answered with `TIMEOUT` (0: no limit).
    #[arg(long, env = "REMEDY_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,
    /// Dashboard rollups (`progress`, `Order.progress`) that may run at once. Each scans every
    /// link of what the caller sees, so they get their own budget: keep it below
    /// REMEDY_DB_MAX_CONNECTIONS, and the rest of the API keeps connections while dashboards
    /// are busy.
    #[arg(long, env = "REMEDY_DASHBOARD_CONCURRENCY", default_value_t = 4)]
    pub dashboard_concurrency: usize,
    /// Dashboard rollups that may wait for their turn; beyond, `OVERLOADED` at once.
    #[arg(long, env = "REMEDY_DASHBOARD_QUEUE", default_value_t = 64)]
    pub dashboard_queue: usize,
    /// Longest a dashboard rollup waits for its turn before `OVERLOADED` (with `Retry-After`).
    #[arg(long, env = "REMEDY_DASHBOARD_WAIT_SECONDS", default_value_t = 20)]
    pub dashboard_wait_seconds: u64,
    /// Most lexical tokens one GraphQL document may contain (counted before it is parsed).
    #[arg(long, env = "REMEDY_MAX_TOKENS", default_value_t = 15_000)]
    pub max_tokens: usize,
    /// Most field selections a document may expand to once every fragment spread is
    /// replaced by its fragment (computed with memoisation before validation, so fragments
    /// that double each other are refused in microseconds).
    #[arg(long, env = "REMEDY_MAX_EXPANDED_FIELDS", default_value_t = 10_000)]
    pub max_expanded_fields: usize,
    /// Bytes of query text the parsed-document caches (persisted queries, parses by text)
    /// may hold in all; only documents that passed every limit are kept.
    #[arg(long, env = "REMEDY_DOCUMENT_CACHE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub document_cache_bytes: usize,
    /// Uploads (multipart requests) processed at once; others wait their turn.
    #[arg(long, env = "REMEDY_MAX_CONCURRENT_UPLOADS", default_value_t = 4)]
    pub max_concurrent_uploads: usize,
    /// WebSocket: seconds a client has to send `connection_init` before the socket is closed
    /// with 4408.
    #[arg(long, env = "REMEDY_WS_INIT_TIMEOUT_SECONDS", default_value_t = 10)]
    pub ws_init_timeout_seconds: u64,
    /// WebSocket: operations (subscriptions, queries, mutations) one connection may have
    /// running at once.
    #[arg(long, env = "REMEDY_WS_MAX_OPERATIONS", default_value_t = 100)]
    pub ws_max_operations: usize,
    /// WebSocket: open connections one token subject may hold at once.
    #[arg(long, env = "REMEDY_WS_MAX_SOCKETS_PER_SUBJECT", default_value_t = 20)]
    pub ws_max_sockets_per_subject: usize,
    /// WebSocket: seconds between checks that an open connection's token was not revoked
    /// (revocations made through the API close sockets at once; this catches the others).
    #[arg(long, env = "REMEDY_WS_RECHECK_SECONDS", default_value_t = 15)]
    pub ws_recheck_seconds: u64,
    /// Reminders, webhooks and e-mail.
    #[command(flatten)]
    pub notify: NotifyConfig,
    /// Spreadsheet imports of the plan.
    #[command(flatten)]
    pub import: ImportConfig,
    /// The key that signs submission bundles.
    #[command(flatten)]
    pub bundle: BundleKeyConfig,
}

/// Limits on a spreadsheet import (`importPlan`, `remedy import`).
#[derive(Debug, Clone, Copy, Args)]
pub struct ImportConfig {
    /// Most data rows one sheet (or CSV) of an import may hold; a file with more is refused
    /// as soon as the reader passes the limit.
    #[arg(long, env = "REMEDY_IMPORT_MAX_ROWS", default_value_t = 50_000)]
    pub import_max_rows: usize,
    /// Most bytes an import may inflate to: the uncompressed sizes an XLSX (or a zip of CSVs)
    /// declares, summed, checked before anything is decompressed; a plain CSV is its own size.
    #[arg(long, env = "REMEDY_IMPORT_MAX_INFLATED_BYTES", default_value_t = 50 * 1024 * 1024)]
    pub import_max_inflated_bytes: u64,
}

impl Default for ImportConfig {
    fn default() -> Self {
        defaults()
    }
}

/// The Ed25519 key that signs submission bundles (`report::bundle`). Unset: remedy generates
/// one once and keeps it in the database (`bundle_key`), never showing its private half.
#[derive(Debug, Clone, Default, Args)]
pub struct BundleKeyConfig {
    /// An Ed25519 private key, PKCS#8 PEM (as `openssl genpkey -algorithm ed25519` writes).
    #[arg(long, env = "REMEDY_BUNDLE_SIGNING_KEY")]
    pub bundle_signing_key: Option<std::path::PathBuf>,
    /// The id published with that key (default: `ed25519-` and the first 16 hex digits of
    /// the SHA-256 of its public key).
    #[arg(long, env = "REMEDY_BUNDLE_KEY_ID")]
    pub bundle_key_id: Option<String>,
}

/// The defaults written in the `#[arg]` attributes above, and nowhere else.
impl Default for ServerConfig {
    fn default() -> Self {
        defaults()
    }
}

/// The defaults of a group of settings as its clap attributes write them, with the
/// environment ignored: each default is written once, in its `#[arg]`.
fn defaults<T: Args + FromArgMatches>() -> T {
    let cmd =
        T::augment_args(clap::Command::new("defaults")).mut_args(|a| a.env(None::<&'static str>));
    let matches = cmd
        .try_get_matches_from(["defaults"])
        .expect("every setting has a default");
    T::from_arg_matches(&matches).expect("the defaults parse")
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("database_url", &redact(&self.database_url))
            .field("db_max_connections", &self.db_max_connections)
            .field("db_acquire_timeout", &self.db_acquire_timeout)
            .field("db_test_before_acquire", &self.db_test_before_acquire)
            .field("db_statement_timeout", &self.db_statement_timeout)
            .finish()
    }
}

impl DbConfig {
    /// The defaults, for another database.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            ..defaults()
        }
    }
}

/// Token verification, signing and issuance. `Debug` shows whether a secret is set, never
/// the secret.
#[derive(Clone, Args)]
pub struct AuthConfig {
    /// HS256 secret (development; at least 32 bytes).
    #[arg(long, env = "REMEDY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// JWKS file with the public keys (RS256, EdDSA) accepted for verification, chosen by `kid`.
    #[arg(long, env = "REMEDY_JWT_JWKS")]
    pub jwt_jwks: Option<std::path::PathBuf>,
    /// PEM private key used to sign tokens remedy issues (instead of the HS256 secret).
    #[arg(long, env = "REMEDY_JWT_SIGNING_KEY")]
    pub jwt_signing_key: Option<std::path::PathBuf>,
    /// Algorithm of the signing key: EdDSA (RS256 keys are accepted for verification only).
    #[arg(long, env = "REMEDY_JWT_SIGNING_ALG", default_value = "EdDSA")]
    pub jwt_signing_alg: String,
    /// `kid` placed in the header of tokens signed with the private key (must be in the JWKS).
    #[arg(long, env = "REMEDY_JWT_SIGNING_KID")]
    pub jwt_signing_kid: Option<String>,
    /// Required `iss` claim.
    #[arg(long, env = "REMEDY_JWT_ISSUER", default_value = "remedy")]
    pub jwt_issuer: String,
    /// Required `aud` claim.
    #[arg(long, env = "REMEDY_JWT_AUDIENCE", default_value = "remedy")]
    pub jwt_audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(long, env = "REMEDY_JWT_LEEWAY", default_value_t = 30)]
    pub jwt_leeway: u64,
    /// Longest lifetime of a token remedy issues (`issueToken`, `remedy token issue`), in the
    /// same syntax as a token's TTL: `90s`, `30m`, `8h`, `7d`.
    #[arg(long, env = "REMEDY_TOKEN_MAX_TTL", default_value = "366d", value_parser = crate::ttl::parse_max_ttl)]
    pub token_max_ttl: chrono::Duration,
}

/// The command line's defaults, without any key.
impl Default for AuthConfig {
    fn default() -> Self {
        defaults()
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_jwks", &self.jwt_jwks)
            .field("jwt_signing_key", &self.jwt_signing_key)
            .field("jwt_signing_alg", &self.jwt_signing_alg)
            .field("jwt_signing_kid", &self.jwt_signing_kid)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_leeway", &self.jwt_leeway)
            .field("token_max_ttl", &self.token_max_ttl)
            .finish()
    }
}

impl AuthConfig {
    /// A configuration with only an HS256 secret and the defaults (issuer and audience
    /// `remedy`, tokens issued for at most 366 days).
    pub fn with_secret(secret: impl Into<String>) -> Self {
        Self {
            jwt_secret: Some(secret.into()),
            ..Default::default()
        }
    }

    pub fn has_verification_key(&self) -> bool {
        self.jwt_secret.is_some() || self.jwt_jwks.is_some()
    }
}

/// Hides the password of a database URL for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_only() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("sqlite://remedy.db?mode=rwc"),
            "sqlite://remedy.db?mode=rwc"
        );
    }

    #[test]
    fn defaults_come_from_the_attributes_and_ignore_the_environment() {
        let cfg = ServerConfig::default();
        assert_eq!(cfg.max_depth, 12);
        assert_eq!(cfg.max_body_bytes, 1024 * 1024);
        assert_eq!(cfg.ws_max_operations, 100);
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8080");
        assert!(cfg.separation_of_duties);
        assert_eq!(cfg.backdate_window_days, 7);
        assert!(cfg.approvals);
        assert_eq!(cfg.approval_sweep_seconds, 3600);
        let db = DbConfig::new("sqlite::memory:");
        assert_eq!(db.database_url, "sqlite::memory:");
        assert_eq!(db.db_max_connections, 10);
        let auth = AuthConfig::default();
        assert_eq!(auth.jwt_issuer, "remedy");
        assert!(auth.jwt_secret.is_none());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let auth = AuthConfig::with_secret("a-very-secret-value-of-32-bytes!!");
        let shown = format!("{auth:?}");
        assert!(!shown.contains("a-very-secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let db = DbConfig::new("postgres://u:hunter2@h:5432/db");
        assert!(!format!("{db:?}").contains("hunter2"));
    }
}

/// Reminders and their delivery: the scheduler's thresholds, webhooks, and e-mail digests over
/// SMTP. `Debug` hides the SMTP password.
#[derive(Clone, Args)]
pub struct NotifyConfig {
    /// In `serve`: seconds between two runs of the notification worker (time-based reminders,
    /// fan-out to webhook endpoints, deliveries, digests); 0: no worker (run `remedy notify
    /// --once` from cron instead).
    #[arg(long, env = "REMEDY_NOTIFY_INTERVAL_SECONDS", default_value_t = 60)]
    pub notify_interval_seconds: u64,
    /// Days before a due date (measures, reports) or an evidence expiry at which a reminder is
    /// sent, comma-separated; each threshold once per subject and date.
    #[arg(
        long,
        env = "REMEDY_REMIND_DAYS",
        value_delimiter = ',',
        default_value = "30,14,7,1"
    )]
    pub remind_days: Vec<u32>,
    /// Days back a passed due date or expiry is still reminded of (a scheduler that was down
    /// longer leaves older ones to the overdue lists and digests, which show every one).
    #[arg(long, env = "REMEDY_REMIND_LOOKBACK_DAYS", default_value_t = 7)]
    pub remind_lookback_days: u32,
    /// Link base in notices and e-mails (e.g. `https://remedy.example.com`); unset: the
    /// listen address over http.
    #[arg(long, env = "REMEDY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Webhooks: networks (CIDR, comma-separated) an endpoint may be on although they are
    /// loopback, private, link-local or otherwise not public (e.g. `10.20.0.0/16`). Empty:
    /// public addresses only.
    #[arg(long, env = "REMEDY_WEBHOOK_ALLOW", value_delimiter = ',')]
    pub webhook_allow: Vec<String>,
    /// Webhooks: seconds one delivery attempt may take (connect, send, answer).
    #[arg(long, env = "REMEDY_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10)]
    pub webhook_timeout_seconds: u64,
    /// Webhooks: attempts before a delivery is dead-lettered (DEAD; `redeliverWebhook` tries
    /// again).
    #[arg(long, env = "REMEDY_WEBHOOK_MAX_ATTEMPTS", default_value_t = 8)]
    pub webhook_max_attempts: u32,
    /// Webhooks and e-mail: base of the exponential backoff between attempts, in seconds
    /// (attempt n waits base × 2^(n-1), at most 6 hours, with up to 20 % random jitter).
    #[arg(long, env = "REMEDY_WEBHOOK_BACKOFF_SECONDS", default_value_t = 30)]
    pub webhook_backoff_seconds: u64,
    /// Webhooks: hours the previous secret keeps signing after a rotation (default overlap).
    #[arg(
        long,
        env = "REMEDY_WEBHOOK_SECRET_OVERLAP_HOURS",
        default_value_t = 24
    )]
    pub webhook_secret_overlap_hours: u32,
    /// E-mail: SMTP server host; unset: no digests are composed or sent.
    #[arg(long, env = "REMEDY_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// E-mail: SMTP port.
    #[arg(long, env = "REMEDY_SMTP_PORT", default_value_t = 587)]
    pub smtp_port: u16,
    /// E-mail: `starttls` (required, the default), `tls` (implicit, port 465) or `none`
    /// (local relays only).
    #[arg(long, env = "REMEDY_SMTP_TLS", default_value = "starttls")]
    pub smtp_tls: String,
    /// E-mail: SMTP user name (authentication is used when set).
    #[arg(long, env = "REMEDY_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// E-mail: SMTP password.
    #[arg(long, env = "REMEDY_SMTP_PASSWORD")]
    pub smtp_password: Option<String>,
    /// E-mail: a PEM file of a CA certificate trusted besides the system's (a private relay).
    #[arg(long, env = "REMEDY_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<std::path::PathBuf>,
    /// E-mail: the sender address.
    #[arg(long, env = "REMEDY_SMTP_FROM", default_value = "remedy@localhost")]
    pub smtp_from: String,
    /// E-mail: recipients of the weekly digest for the compliance office, comma-separated,
    /// each `address` or `ja:address` / `en:address` (its language; Japanese by default).
    #[arg(long, env = "REMEDY_DIGEST_WEEKLY_TO", value_delimiter = ',')]
    pub digest_weekly_to: Vec<String>,
    /// E-mail: whether owners with an e-mail contact get a daily digest of their overdue and
    /// due-soon measures and missed periods.
    #[arg(long, env = "REMEDY_DIGEST_DAILY", default_value_t = true, action = clap::ArgAction::Set)]
    pub digest_daily: bool,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        defaults()
    }
}

impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("notify_interval_seconds", &self.notify_interval_seconds)
            .field("remind_days", &self.remind_days)
            .field("remind_lookback_days", &self.remind_lookback_days)
            .field("public_url", &self.public_url)
            .field("webhook_allow", &self.webhook_allow)
            .field("webhook_timeout_seconds", &self.webhook_timeout_seconds)
            .field("webhook_max_attempts", &self.webhook_max_attempts)
            .field("webhook_backoff_seconds", &self.webhook_backoff_seconds)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_tls", &self.smtp_tls)
            .field("smtp_username", &self.smtp_username)
            .field(
                "smtp_password",
                &self.smtp_password.as_ref().map(|_| "<redacted>"),
            )
            .field("smtp_from", &self.smtp_from)
            .field("digest_weekly_to", &self.digest_weekly_to)
            .field("digest_daily", &self.digest_daily)
            .finish()
    }
}
