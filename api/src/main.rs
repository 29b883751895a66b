//! The `remedy` command line: serve, migrate, seed, schema.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use remedy::config::{DbConfig, ServerConfig};
use remedy::error::AppError;
use remedy::{db, graphql, seed, server, telemetry};

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

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve GraphQL over HTTP.
    Serve {
        #[command(flatten)]
        db: DbConfig,
        #[command(flatten)]
        server: ServerConfig,
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

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("remedy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
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
        Command::Serve { db, server, demo } => {
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
            let listener = std::net::TcpListener::bind(server.listen)?;
            let state = server::AppState::new(conn, server);
            let (running, addr) = server::start(state, listener)?;
            tracing::info!(%addr, database = %db::redact(&db.database_url), "remedy listening; GraphiQL at http://{addr}/");
            running.await?;
            Ok(())
        }
    }
}
