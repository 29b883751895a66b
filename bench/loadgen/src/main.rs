//! A closed-loop HTTP load generator for GraphQL-shaped endpoints.
//!
//! `--concurrency` workers each send one request at a time for `--duration` seconds (or
//! `--requests` in total). Every response is checked: a status other than 200, a body that
//! is not JSON, a top-level `errors` member, or a missing `data` counts as an error.
//! Prints one JSON line: requests, errors, throughput, p50/p99/max latency in milliseconds.
//!
//! Modes:
//! - `fixed`: the same body every time (`--body`), with `$VAR` taken round-robin from
//!   `--values` when given (placed in `variables.<--var>`).
//! - `walk`: pages through a connection: `variables.after` is set to the `endCursor` found
//!   under `--page-info` (a JSON pointer) of the previous answer; restarts when
//!   `hasNextPage` is false.
//! - `mix`: `--write-percent` of requests send `--write-body` with `variables.id` (from
//!   `--values`, each worker owning its own ids) and `variables.version` (learned from the
//!   answer at `--version-pointer`; starts at 1); the rest send `--body`.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::Value;

#[derive(Parser, Clone)]
struct Args {
    /// Endpoint receiving POSTed JSON.
    #[arg(long)]
    url: String,
    /// Bearer token, if any.
    #[arg(long)]
    token: Option<String>,
    /// fixed, walk or mix.
    #[arg(long, default_value = "fixed")]
    mode: String,
    /// File with the JSON body ({"query": ..., "variables": {...}}).
    #[arg(long)]
    body: String,
    /// File with the JSON body of writes (mix mode).
    #[arg(long)]
    write_body: Option<String>,
    /// Percentage of writes in mix mode.
    #[arg(long, default_value_t = 10)]
    write_percent: u64,
    /// File with one value per line (fixed: variable values; mix: ids to update).
    #[arg(long)]
    values: Option<String>,
    /// Variable receiving the values (fixed mode).
    #[arg(long, default_value = "id")]
    var: String,
    /// JSON pointer to the pageInfo object (walk mode).
    #[arg(long, default_value = "/data/measures/pageInfo")]
    page_info: String,
    /// JSON pointer to the new version in a write's answer (mix mode).
    #[arg(long, default_value = "/data/updateMeasure/version")]
    version_pointer: String,
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds of load (after `--warmup` seconds not measured).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Stop after this many requests in total instead (no warm-up).
    #[arg(long)]
    requests: Option<u64>,
    /// Label printed with the result.
    #[arg(long, default_value = "")]
    label: String,
}

struct Shared {
    args: Args,
    client: reqwest::Client,
    body: Value,
    write_body: Option<Value>,
    values: Vec<Value>,
    sent: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

fn read_json(path: &str) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {path}"))
}

fn set_var(body: &mut Value, name: &str, v: Value) {
    let obj = body.as_object_mut().expect("body is an object");
    let vars = obj
        .entry("variables")
        .or_insert_with(|| Value::Object(Default::default()));
    if !vars.is_object() {
        *vars = Value::Object(Default::default());
    }
    vars.as_object_mut()
        .expect("variables is an object")
        .insert(name.to_owned(), v);
}

/// Sends one request; Ok(answer) only for a 200 whose body is JSON with `data` and no `errors`.
async fn send(sh: &Shared, body: &Value) -> Result<Value> {
    let mut req = sh.client.post(&sh.args.url).json(body);
    if let Some(t) = &sh.args.token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    if status != reqwest::StatusCode::OK {
        bail!("status {status}: {}", String::from_utf8_lossy(&bytes));
    }
    let v: Value = serde_json::from_slice(&bytes).context("answer is not JSON")?;
    if v.get("errors").is_some() {
        bail!("errors: {}", v["errors"]);
    }
    if v.get("data").is_none_or(|d| d.is_null()) {
        bail!("no data: {v}");
    }
    Ok(v)
}

struct WorkerResult {
    hist: Histogram<u64>,
    errors: u64,
}

async fn worker(
    sh: Arc<Shared>,
    idx: usize,
    start_measuring: Instant,
    stop: Instant,
) -> WorkerResult {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram");
    let mut errors = 0u64;
    let mut cursor: Option<Value> = None;
    // mix mode: this worker's ids (every concurrency-th value) with their versions.
    let mine: Vec<(Value, i64)> = if sh.args.mode == "mix" {
        sh.values
            .iter()
            .skip(idx)
            .step_by(sh.args.concurrency)
            .map(|v| (v.clone(), 1))
            .collect()
    } else {
        Vec::new()
    };
    let mut mine = mine;
    let mut n: u64 = 0;
    let mut next_write = 0usize;
    loop {
        let k = sh.sent.fetch_add(1, Ordering::Relaxed);
        if let Some(max) = sh.args.requests {
            if k >= max {
                break;
            }
        } else if Instant::now() >= stop {
            break;
        }
        n += 1;
        let mut is_write = None;
        let body = match sh.args.mode.as_str() {
            "walk" => {
                let mut b = sh.body.clone();
                set_var(&mut b, "after", cursor.clone().unwrap_or(Value::Null));
                b
            }
            "mix"
                if !mine.is_empty()
                    && (n + idx as u64).is_multiple_of(100 / sh.args.write_percent.max(1)) =>
            {
                let i = next_write % mine.len();
                next_write += 1;
                let mut b = sh
                    .write_body
                    .clone()
                    .expect("--write-body is required in mix mode");
                set_var(&mut b, "id", mine[i].0.clone());
                set_var(&mut b, "version", Value::from(mine[i].1));
                is_write = Some(i);
                b
            }
            _ => {
                let mut b = sh.body.clone();
                if !sh.values.is_empty() && sh.args.mode == "fixed" {
                    let v = sh.values[(k as usize) % sh.values.len()].clone();
                    set_var(&mut b, &sh.args.var, v);
                }
                b
            }
        };
        let t0 = Instant::now();
        let res = send(&sh, &body).await;
        let elapsed = t0.elapsed();
        let measured = sh.args.requests.is_some() || t0 >= start_measuring;
        match res {
            Ok(v) => {
                if sh.args.mode == "walk" {
                    let pi = v.pointer(&sh.args.page_info);
                    let more = pi
                        .and_then(|p| p.get("hasNextPage"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    cursor = if more {
                        pi.and_then(|p| p.get("endCursor")).cloned()
                    } else {
                        None
                    };
                }
                if let Some(i) = is_write {
                    match v.pointer(&sh.args.version_pointer).and_then(Value::as_i64) {
                        Some(ver) => mine[i].1 = ver,
                        None => {
                            if measured {
                                errors += 1;
                            }
                            continue;
                        }
                    }
                }
                if measured {
                    hist.record(elapsed.as_micros().max(1) as u64).ok();
                }
            }
            Err(e) => {
                if measured {
                    errors += 1;
                }
                let mut first = sh.first_error.lock().expect("lock");
                if first.is_none() {
                    *first = Some(format!("{e:#}").chars().take(400).collect());
                }
                cursor = None;
            }
        }
    }
    WorkerResult { hist, errors }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let body = read_json(&args.body)?;
    let write_body = args.write_body.as_deref().map(read_json).transpose()?;
    let values: Vec<Value> = match &args.values {
        Some(p) => std::fs::read_to_string(p)?
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| Value::String(l.to_owned()))
            .collect(),
        None => Vec::new(),
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(60))
        .build()?;
    let sh = Arc::new(Shared {
        args: args.clone(),
        client,
        body,
        write_body,
        values,
        sent: AtomicU64::new(0),
        first_error: std::sync::Mutex::new(None),
    });
    let begin = Instant::now();
    let start_measuring = begin + Duration::from_secs_f64(args.warmup);
    let stop = start_measuring + Duration::from_secs_f64(args.duration);
    let mut handles = Vec::new();
    for i in 0..args.concurrency {
        handles.push(tokio::spawn(worker(sh.clone(), i, start_measuring, stop)));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut errors = 0;
    for h in handles {
        let r = h.await?;
        hist.add(&r.hist)?;
        errors += r.errors;
    }
    let wall = if args.requests.is_some() {
        begin.elapsed().as_secs_f64()
    } else {
        Instant::now().duration_since(start_measuring).as_secs_f64()
    };
    let ok = hist.len();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let out = serde_json::json!({
        "label": args.label,
        "ok": ok,
        "errors": errors,
        "seconds": (wall * 100.0).round() / 100.0,
        "rps": ((ok as f64 / wall) * 10.0).round() / 10.0,
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "max_ms": hist.max() as f64 / 1000.0,
        "first_error": sh.first_error.lock().expect("lock").clone(),
    });
    println!("{out}");
    Ok(())
}
