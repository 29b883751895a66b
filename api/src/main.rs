//! The `remedy` command line: serve, migrate, seed, schema.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use remedy::auth::{jwt::Keys, Role};
use remedy::config::{AuthConfig, DbConfig, ImportConfig, NotifyConfig, ServerConfig};
use remedy::error::AppError;
use remedy::service::tokens;
use remedy::service::write::{approvals, notices, WriteGate};
use remedy::{db, graphql, seed, server, telemetry};
use sea_orm::ConnectionTrait;

#[derive(Parser)]
#[command(
    name = "remedy",
    version,
    about = "Tracks a remediation plan after a regulator acts on an incident"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve GraphQL over HTTP.
    Serve {
        #[command(flatten)]
        db: DbConfig,
        #[command(flatten)]
        server: ServerConfig,
        #[command(flatten)]
        auth: AuthConfig,
        /// Load the demo plan (the 2022 case in shared/seeds) if the database is empty.
        #[arg(long)]
        demo: bool,
    },
    /// Apply, roll back or list migrations.
    Migrate {
        #[command(flatten)]
        db: DbConfig,
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Load data sets.
    Seed {
        #[command(flatten)]
        db: DbConfig,
        /// Load the demo plan (idempotent).
        #[arg(long, required = true)]
        demo: bool,
    },
    /// Print the GraphQL schema (SDL), identical to the committed schema.graphql.
    Schema,
    /// Check the audit log's hash chain.
    Audit {
        #[command(flatten)]
        db: DbConfig,
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Change requests (approvals).
    Approvals {
        #[command(flatten)]
        db: DbConfig,
        #[command(subcommand)]
        action: ApprovalsAction,
    },
    /// Issue or revoke API tokens.
    Token {
        #[command(flatten)]
        db: DbConfig,
        #[command(flatten)]
        auth: AuthConfig,
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Generate the progress report on one order (from the database, or a server with --url);
    /// `report bundle` writes a submitted report's signed bundle.
    Report(Box<remedy::report::cli::ReportArgs>),
    /// Import a plan from a spreadsheet (the template: an XLSX, a zip of CSVs, or one CSV
    /// named after its sheet), upserting rows by key in one transaction; every row's fate is
    /// printed. Refused files exit 1 and write nothing.
    Import {
        #[command(flatten)]
        db: DbConfig,
        #[command(flatten)]
        limits: ImportConfig,
        /// The file.
        file: std::path::PathBuf,
        /// Print what would be created, changed and left, and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Deferring or moving due dates later needs a change request (as in `serve`).
        #[arg(long, env = "REMEDY_APPROVALS", default_value_t = true, action = clap::ArgAction::Set)]
        approvals: bool,
    },
    /// Export the live plan in the import template's shape (importing it back changes nothing).
    Export {
        #[command(flatten)]
        db: DbConfig,
        /// xlsx (one sheet per entity) or csv (a zip of one CSV per entity).
        #[arg(long, value_parser = ["xlsx", "csv"])]
        format: String,
        /// The file to write.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Print the public keys that sign submission bundles (PEM, with their ids).
    Keys {
        #[command(flatten)]
        db: DbConfig,
        #[command(flatten)]
        key: remedy::config::BundleKeyConfig,
    },
    /// Verify a submission bundle offline: every file's SHA-256 against the manifest, no file
    /// missing or extra, and the manifest's Ed25519 signature. Exit 0 when it holds.
    VerifyBundle {
        /// The bundle (zip).
        file: std::path::PathBuf,
        /// A published public key (PEM); without it the key inside the bundle is used, which
        /// proves integrity only.
        #[arg(long)]
        key: Option<std::path::PathBuf>,
    },
    /// Reminders, webhooks and e-mail digests: one run of what the server's worker does
    /// (for cron when REMEDY_NOTIFY_INTERVAL_SECONDS=0), or a preview of a day's reminders.
    Notify {
        #[command(flatten)]
        db: DbConfig,
        #[command(flatten)]
        notify: NotifyConfig,
        /// Run once and exit (the only mode; cron runs it every few minutes).
        #[arg(long, required = true)]
        once: bool,
        /// The day to remind for (default: today, UTC). A past day catches up reminders a
        /// stopped scheduler missed; each is still noted once.
        #[arg(long)]
        on: Option<chrono::NaiveDate>,
        /// Print the reminders the day brings and write or send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Walk the whole chain; exit 1 and name the first broken event if any link fails.
    Verify,
}

#[derive(Subcommand)]
enum ApprovalsAction {
    /// End the approved deferrals whose last day has passed (what the server's sweep does):
    /// each measure returns to its status before the deferral. Prints the requests ended.
    Expire,
}

#[derive(Subcommand)]
enum TokenAction {
    /// Issue a token and print it, alone, on stdout.
    Issue {
        /// Who the token is for (its `sub`).
        #[arg(long)]
        subject: String,
        /// A role: ADMIN, EDITOR, VIEWER, REPORTER or EVALUATOR (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// An order the token is limited to, by global ID or reference (repeatable; required for EVALUATOR).
        #[arg(long = "order")]
        orders: Vec<String>,
        /// Lifetime, e.g. 30m, 8h, 7d; at most REMEDY_TOKEN_MAX_TTL (366d unless set).
        #[arg(long, default_value = "8h")]
        ttl: String,
        /// Narrower scope than the roles grant (space-separated).
        #[arg(long)]
        scope: Option<String>,
    },
    /// Revoke a token by its jti.
    Revoke { jti: String },
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply all pending migrations.
    Up,
    /// Roll back migrations (the last one by default).
    Down {
        /// How many migrations to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether they are applied.
    Status,
}

/// mimalloc instead of the system allocator: a GraphQL response allocates many small
/// objects, and glibc's malloc/free took about a quarter of the server's CPU in profiles
/// (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = telemetry::init();
    let code = match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("remedy: {e:#}");
            ExitCode::FAILURE
        }
    };
    // Exports the spans still buffered.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .ok();
    code
}

/// Ends expired deferrals and notes missed periods, at start-up and then every `every`.
/// Replicas may sweep at once: the second write to the same request fails on its version and
/// changes nothing, and a notice is kept once per event.
async fn sweep_deferrals(
    conn: sea_orm::DatabaseConnection,
    gate: std::sync::Arc<WriteGate>,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let today = remedy::domain::today();
        match approvals::run_expiry(&conn, &gate, today).await {
            Ok(ended) if !ended.is_empty() => {
                tracing::info!(ended = ended.len(), "approved deferrals ended")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(code = e.code(), "deferral sweep failed"),
        }
        match notices::run_missed_periods(&conn, &gate, today).await {
            Ok(n) if n > 0 => tracing::info!(noted = n, "missed periods noted"),
            Ok(_) => {}
            Err(e) => tracing::warn!(code = e.code(), "missed-period sweep failed"),
        }
    }
}

/// Prints (or logs) the reminders a day brings.
async fn print_reminders(
    conn: &sea_orm::DatabaseConnection,
    on: chrono::NaiveDate,
    s: &remedy::service::notify::Settings,
    log: bool,
) -> anyhow::Result<usize> {
    let list = graphql::notify::preview(conn, on, &s.reminders)
        .await
        .map_err(AppError::into_anyhow)?;
    for r in &list {
        let line = format!(
            "{on} {:<18} [{}] {}",
            r.kind.as_str(),
            r.orders.join(","),
            r.summary
        );
        if log {
            tracing::info!("reminder {line}");
        } else {
            println!("{line}");
        }
    }
    Ok(list.len())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Notify {
            db,
            notify,
            once: _,
            on,
            dry_run,
        } => {
            let conn = db::connect(&db).await?;
            db::migrate(&conn).await?;
            let listen = ServerConfig::default().listen;
            let settings = remedy::service::notify::Settings::from_config(&notify, listen)
                .map_err(|e| anyhow::anyhow!(e))?;
            let day = on.unwrap_or_else(remedy::domain::today);
            if dry_run {
                let n = print_reminders(&conn, day, &settings, false).await?;
                eprintln!("{n} reminder(s) on {day}; nothing written or sent (--dry-run)");
                return Ok(());
            }
            let gate = std::sync::Arc::new(WriteGate::for_backend(conn.get_database_backend()));
            let worker = remedy::notifier::Notifier::new(
                conn.clone(),
                gate,
                notify,
                settings,
                std::sync::Arc::new(remedy::metrics::Metrics::new()),
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            let r = worker.run_once(day).await.map_err(AppError::into_anyhow)?;
            println!(
                "{day}: {} reminder(s) and {} missed period(s) noted, {} digest(s) queued; \
                 webhooks: {} delivered, {} to retry, {} dead; e-mail: {} sent, {} failed{}",
                r.scheduled.reminders,
                r.scheduled.missed_periods,
                r.scheduled.digests,
                r.delivered,
                r.failed,
                r.dead,
                r.mailed,
                r.mail_failed,
                if r.scheduled.skipped {
                    " (another replica was scheduling)"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Command::Import {
            db,
            limits,
            file,
            dry_run,
            approvals,
        } => import(db, limits, file, dry_run, approvals).await,
        Command::Export { db, format, out } => {
            let conn = db::connect(&db).await?;
            db::migrate(&conn).await?;
            let tables = remedy::exchange::export::tables(&conn)
                .await
                .map_err(AppError::into_anyhow)?;
            let bytes = match format.as_str() {
                "csv" => remedy::exchange::export::csv_zip(&tables),
                _ => remedy::exchange::export::xlsx(&tables),
            }
            .map_err(AppError::into_anyhow)?;
            std::fs::write(&out, &bytes)?;
            let rows: usize = tables.iter().map(|t| t.rows.len()).sum();
            eprintln!("{rows} row(s) written to {}", out.display());
            Ok(())
        }
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Report(args) => remedy::report::cli::run(*args).await,
        Command::Keys { db, key } => remedy::report::cli::keys(&db, &key).await,
        Command::VerifyBundle { file, key } => {
            if remedy::report::cli::verify_bundle(&file, key.as_deref())? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        Command::Migrate { db, action } => {
            let conn = db::connect(&db).await?;
            match action {
                MigrateAction::Up => {
                    Migrator::up(&conn, None).await?;
                    eprintln!("migrations applied");
                }
                MigrateAction::Down { steps } => {
                    Migrator::down(&conn, Some(steps)).await?;
                    eprintln!("rolled back {steps} migration(s)");
                }
                MigrateAction::Status => {
                    for m in Migrator::get_migration_with_status(&conn).await? {
                        println!("{}\t{}", m.name(), m.status());
                    }
                }
            }
            Ok(())
        }
        Command::Seed { db, demo } => {
            anyhow::ensure!(demo, "nothing to load: pass --demo");
            let conn = db::connect(&db).await?;
            db::migrate(&conn).await?;
            match seed::load_demo(&conn)
                .await
                .map_err(AppError::into_anyhow)?
            {
                seed::SeedOutcome::Loaded => eprintln!("demo plan loaded"),
                seed::SeedOutcome::AlreadyPresent => {
                    eprintln!("demo plan already present; nothing written")
                }
            }
            Ok(())
        }
        Command::Audit {
            db,
            action: AuditAction::Verify,
        } => {
            let conn = db::connect(&db).await?;
            let v = remedy::audit::verify(&conn)
                .await
                .map_err(AppError::into_anyhow)?;
            if let Some(id) = v.first_broken {
                anyhow::bail!(
                    "broken: event {id} does not match the chain ({} events read)",
                    v.events
                );
            }
            println!("intact: {} events", v.events);
            let found = remedy::service::history::verify(&conn)
                .await
                .map_err(AppError::into_anyhow)?;
            if found.is_empty() {
                println!(
                    "history consistent with the audit log; every submitted report reproduced"
                );
                return Ok(());
            }
            for d in &found {
                println!("{}: {}", d.subject, d.problem);
            }
            anyhow::bail!("history: {} discrepancies", found.len())
        }
        Command::Approvals {
            db,
            action: ApprovalsAction::Expire,
        } => {
            let conn = db::connect(&db).await?;
            db::migrate(&conn).await?;
            let gate = WriteGate::for_backend(conn.get_database_backend());
            let ended = approvals::run_expiry(&conn, &gate, remedy::domain::today())
                .await
                .map_err(AppError::into_anyhow)?;
            for r in &ended {
                println!(
                    "ended deferral {} (measure id {}, until {})",
                    r.id,
                    r.measure_id,
                    r.defer_until.map(|d| d.to_string()).unwrap_or_default()
                );
            }
            eprintln!("{} deferral(s) ended", ended.len());
            Ok(())
        }
        Command::Token { db, auth, action } => {
            let conn = db::connect(&db).await?;
            db::migrate(&conn).await?;
            let keys = Keys::from_config(&auth)?;
            // This process's own writes; a running server has its own gate, so the two
            // serialise only through SQLite's locks (busy_timeout).
            let gate = WriteGate::for_backend(conn.get_database_backend());
            match action {
                TokenAction::Issue {
                    subject,
                    roles,
                    orders,
                    ttl,
                    scope,
                } => {
                    let roles = roles
                        .iter()
                        .map(|r| {
                            Role::parse(r).ok_or_else(|| anyhow::anyhow!("unknown role {r:?}"))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    let mut order_ids = Vec::new();
                    for o in &orders {
                        order_ids.push(
                            tokens::resolve_order(&conn, o)
                                .await
                                .map_err(AppError::into_anyhow)?,
                        );
                    }
                    let ttl =
                        tokens::parse_ttl(&ttl, keys.max_ttl()).map_err(AppError::into_anyhow)?;
                    let req = tokens::IssueRequest {
                        subject,
                        roles,
                        orders: order_ids,
                        ttl,
                        scope,
                    };
                    // The operator, with database access, may issue any token; the TTL
                    // maximum still binds it.
                    let issuer = tokens::Issuer::operator("cli");
                    let (token, row) = tokens::issue(&conn, &gate, &keys, &issuer, req)
                        .await
                        .map_err(AppError::into_anyhow)?;
                    eprintln!(
                        "issued jti {} for {} ({}), expires {}",
                        row.jti, row.subject, row.roles, row.expires_at
                    );
                    println!("{token}");
                }
                TokenAction::Revoke { jti } => {
                    tokens::revoke(&conn, &gate, &jti, &tokens::Issuer::operator("cli"))
                        .await
                        .map_err(AppError::into_anyhow)?;
                    // Every request asks the database, so the token is refused on its next
                    // one. Open connections close on every replica when it commits (its NOTIFY
                    // is part of the revocation, PostgreSQL); on SQLite at their next check
                    // (REMEDY_WS_RECHECK_SECONDS).
                    eprintln!("revoked {jti}");
                }
            }
            Ok(())
        }
        Command::Serve {
            db,
            server,
            mut auth,
            demo,
        } => {
            // Without a key the server cannot verify anyone: refuse, unless this is a demo,
            // where a random secret is made for this run and ready-to-paste tokens printed.
            let generated_secret = if auth.has_verification_key() {
                false
            } else if demo {
                use rand::RngCore;
                let mut bytes = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut bytes);
                auth.jwt_secret = Some(hex::encode(bytes));
                true
            } else {
                anyhow::bail!(
                    "no JWT key configured: set REMEDY_JWT_SECRET (development) or REMEDY_JWT_JWKS, \
                     or run `remedy serve --demo` to try remedy with generated tokens"
                );
            };
            let keys = std::sync::Arc::new(Keys::from_config(&auth)?);
            let conn = db::connect(&db).await?;
            db::migrate(&conn).await?;
            if demo {
                if seed::database_is_empty(&conn)
                    .await
                    .map_err(AppError::into_anyhow)?
                {
                    seed::load_demo(&conn)
                        .await
                        .map_err(AppError::into_anyhow)?;
                    tracing::info!("demo plan loaded into the empty database");
                } else {
                    tracing::info!("database not empty; demo plan not loaded");
                }
            }
            let listen = server.listen;
            let sweep = server.approval_sweep_seconds;
            let notify_cfg = server.notify.clone();
            let notify_settings =
                remedy::service::notify::Settings::from_config(&notify_cfg, listen)
                    .map_err(|e| anyhow::anyhow!(e))?;
            if demo {
                // What the seed plan's reminders were on the day its year-end targets loomed.
                let day = chrono::NaiveDate::from_ymd_opt(2022, 12, 1).expect("a date");
                let n = print_reminders(&conn, day, &notify_settings, true).await?;
                tracing::info!(
                    "{n} reminder(s) the demo plan would have produced on {day} \
                     (GraphQL: reminders(on: \"{day}\"))"
                );
            }
            let mut state = server::AppState::new(conn.clone(), server, keys.clone());
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let worker = if notify_cfg.notify_interval_seconds > 0 {
                let n = remedy::notifier::Notifier::new(
                    conn.clone(),
                    state.gate.clone(),
                    notify_cfg.clone(),
                    notify_settings,
                    state.metrics.clone().into_inner(),
                )
                .map_err(|e| anyhow::anyhow!(e))?;
                Some(tokio::spawn(n.run(
                    std::time::Duration::from_secs(notify_cfg.notify_interval_seconds),
                    stop_rx,
                )))
            } else {
                None
            };
            if sweep > 0 {
                tokio::spawn(sweep_deferrals(
                    conn.clone(),
                    state.gate.clone(),
                    std::time::Duration::from_secs(sweep),
                ));
            }
            if demo && generated_secret {
                state.demo_tokens =
                    Some(print_demo_tokens(&conn, &state.gate, &keys, listen).await?);
            }
            let listener = std::net::TcpListener::bind(listen)?;
            let (running, addr) = server::start(state, listener)?;
            tracing::info!(%addr, database = %db::redact(&db.database_url), "remedy listening; console at http://{addr}/, GraphiQL at http://{addr}/graphiql");
            running.await?;
            // Graceful: the run under way finishes (its leases would otherwise have to expire).
            let _ = stop_tx.send(true);
            if let Some(w) = worker {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(30), w).await;
            }
            Ok(())
        }
    }
}

/// `remedy import`: the same import as `importPlan`, as the operator (`cli:import`).
async fn import(
    db: DbConfig,
    limits: ImportConfig,
    file: std::path::PathBuf,
    dry_run: bool,
    approvals: bool,
) -> anyhow::Result<()> {
    use remedy::exchange::{import, ImportResult};
    let meta = std::fs::metadata(&file)?;
    anyhow::ensure!(
        meta.len() <= limits.import_max_inflated_bytes,
        "{}: larger than the {}-byte import limit (REMEDY_IMPORT_MAX_INFLATED_BYTES)",
        file.display(),
        limits.import_max_inflated_bytes
    );
    let bytes = std::fs::read(&file)?;
    let conn = db::connect(&db).await?;
    db::migrate(&conn).await?;
    let gate = WriteGate::for_backend(conn.get_database_backend());
    let who = remedy::auth::Caller::system("cli:import");
    let rules = remedy::service::write::measures::Accountability {
        approvals,
        ..Default::default()
    };
    let name = file.to_string_lossy().to_string();
    let req = import::ImportRequest {
        file_name: &name,
        bytes,
        dry_run,
        limits,
        rules,
    };
    let r = import::import(&conn, &gate, &who, "cli:import", req)
        .await
        .map_err(AppError::into_anyhow)?;
    for e in &r.errors {
        println!("error   {e}");
    }
    for row in &r.rows {
        println!(
            "{:<9} {:<10} row {:<5} {}{}",
            row.action.as_str(),
            row.sheet,
            row.row,
            row.key,
            if row.fields.is_empty() || row.action != remedy::exchange::RowAction::Change {
                String::new()
            } else {
                format!(" ({})", row.fields.join(", "))
            }
        );
    }
    let summary = format!(
        "{} created, {} changed, {} unchanged (sha256 {})",
        ImportResult::total(&r.created),
        ImportResult::total(&r.changed),
        ImportResult::total(&r.unchanged),
        r.sha256
    );
    if !r.errors.is_empty() {
        anyhow::bail!("{} error(s); nothing imported", r.errors.len());
    }
    if dry_run {
        eprintln!("dry run: {summary}; nothing written");
    } else {
        eprintln!("imported: {summary}");
    }
    Ok(())
}

/// Issues and prints demo tokens (valid for this run's generated secret only); the console's
/// sign-in page offers the same ones.
async fn print_demo_tokens(
    conn: &sea_orm::DatabaseConnection,
    gate: &WriteGate,
    keys: &Keys,
    listen: std::net::SocketAddr,
) -> anyhow::Result<Vec<remedy::state::DemoToken>> {
    let meti = tokens::resolve_order(conn, seed::DEMO_ORDER_REFERENCES[0])
        .await
        .ok();
    let mut lines = Vec::new();
    let wanted: Vec<(&str, Role, Vec<i64>)> = vec![
        ("demo-admin", Role::Admin, vec![]),
        ("demo-editor", Role::Editor, vec![]),
        ("demo-viewer", Role::Viewer, vec![]),
        ("demo-auditor", Role::Auditor, vec![]),
        (
            "third-party-committee",
            Role::Evaluator,
            meti.into_iter().collect(),
        ),
    ];
    let mut issued = Vec::new();
    for (subject, role, orders) in wanted {
        let references = if orders.is_empty() {
            vec![]
        } else {
            vec![seed::DEMO_ORDER_REFERENCES[0].to_string()]
        };
        let req = tokens::IssueRequest {
            subject: subject.to_string(),
            roles: vec![role],
            orders,
            ttl: chrono::Duration::hours(12).min(keys.max_ttl()),
            scope: None,
        };
        let (token, _) = tokens::issue(
            conn,
            gate,
            keys,
            &tokens::Issuer::operator("serve --demo"),
            req,
        )
        .await
        .map_err(AppError::into_anyhow)?;
        lines.push(format!("{:<10} {token}", role.as_str()));
        issued.push(remedy::state::DemoToken {
            role: role.as_str().to_string(),
            subject: subject.to_string(),
            orders: references,
            token,
        });
    }
    println!(
        "\nDemo tokens ({}, valid while this process runs with its generated secret).",
        tokens::format_ttl(chrono::Duration::hours(12).min(keys.max_ttl()))
    );
    println!(
        "Sign in to the console at http://{listen}/ with one of the demo roles, or paste one into \
         GraphiQL's Headers tab (/graphiql) as {{\"Authorization\": \"Bearer <token>\"}}:"
    );
    println!("(EVALUATOR sees only {})\n", seed::DEMO_ORDER_REFERENCES[0]);
    for l in lines {
        println!("{l}");
    }
    println!();
    Ok(issued)
}
