//! Logging: `REMEDY_LOG` sets the filter (default `info`), `REMEDY_LOG_FORMAT=json` writes JSON lines.
use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    let filter = EnvFilter::try_from_env("REMEDY_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let json = std::env::var("REMEDY_LOG_FORMAT")
        .map(|v| v == "json")
        .unwrap_or(false);
    // Logs go to stderr so that commands printing data (schema, token) keep stdout clean.
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second initialisation (tests) is harmless.
    let _ = result;
}
