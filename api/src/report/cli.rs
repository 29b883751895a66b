//! `remedy report`: the same generator from the command line, on the database directly or
//! through a running server (`--url` and a token with `reports:generate`).
use std::path::PathBuf;

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::{load, render, ReportFormat};
use crate::config::DbConfig;
use crate::error::AppError;
use crate::service::tokens;
use sea_orm::ConnectionTrait;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub action: Option<ReportAction>,
    #[command(flatten)]
    pub db: DbConfig,
    /// The order, by global ID or reference (e.g. METI-2022-06-30).
    #[arg(long, required = true)]
    pub order: Option<String>,
    /// The date the report describes (default: today, UTC).
    #[arg(long = "as-of")]
    pub as_of: Option<NaiveDate>,
    /// As the database knew it at this instant (RFC 3339; default: as known now).
    #[arg(long = "known-at")]
    pub known_at: Option<chrono::DateTime<chrono::Utc>>,
    /// markdown, csv, json, oscal (an OSCAL 1.1.3 POA&M) or xlsx (the action-plan workbook).
    #[arg(long, value_parser = parse_format, required = true)]
    pub format: Option<ReportFormat>,
    /// Write here instead of standard output (an xlsx workbook is written to standard
    /// output only when it is not a terminal).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Ask a running server (its base URL, e.g. http://127.0.0.1:8080) instead of the database.
    #[arg(long)]
    pub url: Option<String>,
    /// The bearer token for --url (REPORTER, EDITOR or ADMIN).
    #[arg(long, env = "REMEDY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum ReportAction {
    /// Write the signed submission bundle (a zip) of a submitted or acknowledged report.
    Bundle(BundleArgs),
}

#[derive(clap::Args, Debug)]
pub struct BundleArgs {
    #[command(flatten)]
    pub db: DbConfig,
    #[command(flatten)]
    pub key: crate::config::BundleKeyConfig,
    /// The report, by global ID or code (e.g. METI-2022-10-06).
    #[arg(long)]
    pub report: String,
    /// The zip to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Where evidence bytes are kept when not in the database (as the server's setting).
    #[arg(long, env = "REMEDY_EVIDENCE_DIR")]
    pub evidence_dir: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<ReportFormat, String> {
    ReportFormat::parse(s)
        .ok_or_else(|| format!("unknown format {s:?}: markdown, csv, json, oscal or xlsx"))
}

const REPORT_QUERY: &str = "query Report($orderId: ID!, $asOf: NaiveDate, $knownAt: DateTime, $format: ReportFormat!) { regulatorReport(orderId: $orderId, asOf: $asOf, knownAt: $knownAt, format: $format) { contentBase64 sha256 } }";
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

async fn remote(
    args: &ReportArgs,
    order: &str,
    format: ReportFormat,
    base: &str,
) -> anyhow::Result<Vec<u8>> {
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
    let mut order_id = order.to_string();
    if crate::id::decode(&async_graphql::ID(order_id.clone()), "Order").is_err() {
        let data = post(&client, &url, token, json!({ "query": ORDERS_QUERY })).await?;
        order_id = data["orders"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["node"]["reference"].as_str() == Some(order))
            .and_then(|e| e["node"]["id"].as_str().map(str::to_string))
            .ok_or_else(|| anyhow::anyhow!("order {order:?} not found"))?;
    }
    let vars = json!({
        "orderId": order_id,
        "asOf": args.as_of.map(|d| d.to_string()),
        "knownAt": args.known_at.map(|k| k.to_rfc3339()),
        "format": format.graphql_name(),
    });
    let data = post(
        &client,
        &url,
        token,
        json!({ "query": REPORT_QUERY, "variables": vars }),
    )
    .await?;
    let content = data["regulatorReport"]["contentBase64"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no content in the answer"))?;
    use base64::Engine;
    Ok(base64::engine::general_purpose::STANDARD.decode(content)?)
}

async fn local(args: &ReportArgs, order: &str, format: ReportFormat) -> anyhow::Result<Vec<u8>> {
    let conn = crate::db::connect(&args.db).await?;
    let order = tokens::resolve_order(&conn, order)
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
    Ok(render(&data, format).map_err(AppError::into_anyhow)?.bytes)
}

/// Runs `remedy report`.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    if let Some(ReportAction::Bundle(b)) = &args.action {
        return bundle(b).await;
    }
    let (Some(order), Some(format)) = (args.order.as_deref(), args.format) else {
        anyhow::bail!("remedy report needs --order and --format (or the bundle subcommand)");
    };
    // Checked before any work: a workbook is not written onto a terminal.
    use std::io::IsTerminal;
    if format.is_binary() && args.out.is_none() && std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the {} format is binary: give --out FILE{} (or redirect standard output)",
            format.graphql_name().to_ascii_lowercase(),
            format.suffix()
        );
    }
    let content = match args.url.as_deref() {
        Some(base) => remote(&args, order, format, base).await?,
        None => local(&args, order, format).await?,
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &content)?;
            eprintln!("wrote {} ({} bytes)", path.display(), content.len());
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&content)?;
        }
    }
    Ok(())
}

/// `remedy report bundle`: the signed submission bundle, from the database.
async fn bundle(args: &BundleArgs) -> anyhow::Result<()> {
    let conn = crate::db::connect(&args.db).await?;
    let id = super::bundle::resolve_report(&conn, &args.report)
        .await
        .map_err(AppError::into_anyhow)?;
    let store = match &args.evidence_dir {
        Some(dir) => crate::service::plan::EvidenceStore::Directory(dir.clone()),
        None => crate::service::plan::EvidenceStore::Database,
    };
    let gate = crate::service::write::WriteGate::for_backend(conn.get_database_backend());
    let signer = super::keys::signer(&conn, &gate, &args.key)
        .await
        .map_err(AppError::into_anyhow)?;
    let b = super::bundle::build(&conn, &store, &signer, None, id)
        .await
        .map_err(AppError::into_anyhow)?;
    std::fs::write(&args.out, &b.bytes)?;
    println!(
        "wrote {} ({} bytes, sha256 {}): {} files, report hash {}, audit head {}, signed by key {}",
        args.out.display(),
        b.size_bytes,
        b.sha256,
        b.files,
        b.report_hash,
        b.audit_head,
        b.key_id
    );
    Ok(())
}

/// `remedy keys`: the public keys that sign bundles, as PEM with their ids.
pub async fn keys(db: &DbConfig, cfg: &crate::config::BundleKeyConfig) -> anyhow::Result<()> {
    let conn = crate::db::connect(db).await?;
    let keys = super::keys::published(&conn, cfg)
        .await
        .map_err(AppError::into_anyhow)?;
    if keys.is_empty() {
        eprintln!(
            "no bundle key yet: one is generated with the first bundle (or set REMEDY_BUNDLE_SIGNING_KEY)"
        );
    }
    for k in keys {
        println!("# key {} ({}, {})", k.key_id, k.algorithm, k.fingerprint);
        if let Some(at) = k.created_at {
            println!("# recorded {}", at.to_rfc3339());
        }
        print!("{}", k.public_key_pem);
        if !k.public_key_pem.ends_with('\n') {
            println!();
        }
    }
    Ok(())
}

/// `remedy verify-bundle`: exit status 0 and `verified: N files, key <id>`, or 1 with every
/// failure named.
pub fn verify_bundle(
    file: &std::path::Path,
    key: Option<&std::path::Path>,
) -> anyhow::Result<bool> {
    let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let pem = match key {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?)
        }
        None => None,
    };
    match super::bundle::verify(&bytes, pem.as_deref()) {
        Ok(v) => {
            println!("verified: {} files, key {}", v.files, v.key_id);
            println!("report {}: hash {}", v.report, v.report_hash);
            println!("audit head at submission: {}", v.audit_head);
            if v.embedded_key {
                println!(
                    "note: checked with the public key inside the bundle ({}), which proves integrity only, not who signed: pass --key with a published key (remedy keys, bundleKeys) to prove that",
                    v.fingerprint
                );
            } else {
                println!("key fingerprint {} (from --key)", v.fingerprint);
            }
            Ok(true)
        }
        Err(problems) => {
            for p in &problems {
                println!("FAILED: {p}");
            }
            println!("not verified: {} problem(s)", problems.len());
            Ok(false)
        }
    }
}
