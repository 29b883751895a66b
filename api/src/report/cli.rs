//! `remedy report`: the same generator from the command line, on the database directly or
//! through a running server (`--url` and a token with `reports:generate`).
use std::path::PathBuf;

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::{load, render, ReportFormat};
use crate::config::DbConfig;
use crate::error::AppError;
use crate::service::tokens;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub db: DbConfig,
    /// The order, by global ID or reference (e.g. METI-2022-06-30).
    #[arg(long)]
    pub order: String,
    /// The date the report describes (default: today, UTC).
    #[arg(long = "as-of")]
    pub as_of: Option<NaiveDate>,
    /// As the database knew it at this instant (RFC 3339; default: as known now).
    #[arg(long = "known-at")]
    pub known_at: Option<chrono::DateTime<chrono::Utc>>,
    /// markdown, csv, json or oscal (an OSCAL 1.1.3 POA&M).
    #[arg(long, value_parser = parse_format)]
    pub format: ReportFormat,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Ask a running server (its base URL, e.g. http://127.0.0.1:8080) instead of the database.
    #[arg(long)]
    pub url: Option<String>,
    /// The bearer token for --url (REPORTER, EDITOR or ADMIN).
    #[arg(long, env = "REMEDY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

fn parse_format(s: &str) -> Result<ReportFormat, String> {
    ReportFormat::parse(s)
        .ok_or_else(|| format!("unknown format {s:?}: markdown, csv, json or oscal"))
}

const REPORT_QUERY: &str = "query Report($orderId: ID!, $asOf: NaiveDate, $knownAt: DateTime, $format: ReportFormat!) { regulatorReport(orderId: $orderId, asOf: $asOf, knownAt: $knownAt, format: $format) { content sha256 } }";
const ORDERS_QUERY: &str =
    "query Orders { orders(first: 100, filter: {includeArchived: true}) { edges { node { id reference } } } }";

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let res = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = res.status();
    let v: Value = res.json().await?;
    if let Some(errs) = v.get("errors").and_then(Value::as_array) {
        let msgs: Vec<String> = errs
            .iter()
            .map(|e| {
                format!(
                    "{} ({})",
                    e["message"].as_str().unwrap_or("error"),
                    e["extensions"]["code"].as_str().unwrap_or("?")
                )
            })
            .collect();
        anyhow::bail!("server answered {status}: {}", msgs.join("; "));
    }
    Ok(v["data"].clone())
}

async fn remote(args: &ReportArgs, base: &str) -> anyhow::Result<String> {
    let token = args
        .token
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("--url needs --token (or REMEDY_TOKEN)"))?;
    let base = base.trim_end_matches('/');
    let url = if base.ends_with("/graphql") {
        base.to_string()
    } else {
        format!("{base}/graphql")
    };
    let client = reqwest::Client::new();
    // A reference is resolved to the order's global ID first.
    let mut order_id = args.order.clone();
    if crate::id::decode(&async_graphql::ID(order_id.clone()), "Order").is_err() {
        let data = post(&client, &url, token, json!({ "query": ORDERS_QUERY })).await?;
        order_id = data["orders"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["node"]["reference"].as_str() == Some(args.order.as_str()))
            .and_then(|e| e["node"]["id"].as_str().map(str::to_string))
            .ok_or_else(|| anyhow::anyhow!("order {:?} not found", args.order))?;
    }
    let vars = json!({
        "orderId": order_id,
        "asOf": args.as_of.map(|d| d.to_string()),
        "knownAt": args.known_at.map(|k| k.to_rfc3339()),
        "format": args.format.graphql_name(),
    });
    let data = post(
        &client,
        &url,
        token,
        json!({ "query": REPORT_QUERY, "variables": vars }),
    )
    .await?;
    let content = data["regulatorReport"]["content"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no content in the answer"))?
        .to_string();
    Ok(content)
}

async fn local(args: &ReportArgs) -> anyhow::Result<String> {
    let conn = crate::db::connect(&args.db).await?;
    let order = tokens::resolve_order(&conn, &args.order)
        .await
        .map_err(AppError::into_anyhow)?;
    let as_of = args.as_of.unwrap_or_else(crate::domain::today);
    let tense = crate::service::history::Tense {
        day: as_of,
        known_at: args.known_at,
    };
    let data = load(&conn, None, order, tense)
        .await
        .map_err(AppError::into_anyhow)?;
    Ok(render(&data, args.format).content)
}

/// Runs `remedy report`.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let content = match args.url.as_deref() {
        Some(base) => remote(&args, base).await?,
        None => local(&args).await?,
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, content.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(content.as_bytes())?;
        }
    }
    Ok(())
}
