//! Importing a plan from the template: every row is upserted by its key (regulator, owner,
//! system and measure code, order reference, a finding's order reference and number) through
//! the store's own writes (`service::write::records` / `measures`: the API's validation, one
//! audit event per change, versions and history), all in ONE [`Write`]: either every row is
//! imported or none is.
//!
//! Three passes: the sheets are read ([`super::read`]); each row is parsed and compared with
//! the plan (types, statuses, dates, keys named twice, links to rows neither in the file nor
//! in the plan: every error collected, each naming its sheet, row and column); then, when
//! nothing was refused, the writes run in dependency order (regulators, owners, systems,
//! orders, findings, measures). A dry run runs the same writes and rolls them back, so it
//! refuses what the import would; a real import ends with one `import` audit event on entity
//! `Import` (its id the file's SHA-256; file name and counts in `after`).
use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use chrono::NaiveDate;
use entity::enums::*;
use entity::*;
use sea_orm::{DatabaseConnection, EntityTrait, Iterable};
use serde_json::json;

use super::export::finding_key;
use super::{ImportError, ImportResult, ImportRow, RowAction, Sheet, SheetCount, Table};
use crate::auth::Caller;
use crate::config::ImportConfig;
use crate::error::{AppError, AppResult};
use crate::service::write::inputs::*;
use crate::service::write::measures::Accountability;
use crate::service::write::{self as store, measures, notices, records, Write, WriteGate};

/// Where the file comes from, and who imports it.
pub struct ImportRequest<'a> {
    pub file_name: &'a str,
    pub bytes: Vec<u8>,
    pub dry_run: bool,
    pub limits: ImportConfig,
    pub rules: Accountability,
}

/// Reads, checks and (unless a dry run, or refused) imports a file in one write as `who`
/// (recorded as `actor`). A file that cannot be read at all, or holds too many rows, is a
/// `VALIDATION` error; row errors are the result's `errors` in a dry run and a `VALIDATION`
/// error (listing them) in a real import. Nothing is written unless everything is.
pub async fn import(
    db: &DatabaseConnection,
    gate: &WriteGate,
    who: &Caller,
    actor: &str,
    req: ImportRequest<'_>,
) -> AppResult<ImportResult> {
    let sha256 = crate::digest::sha256_hex(&req.bytes);
    let name = req.file_name.to_string();
    let limits = req.limits;
    let bytes = req.bytes;
    let tables = tokio::task::spawn_blocking(move || super::read::read(&bytes, &name, &limits))
        .await
        .map_err(|e| AppError::from(anyhow::anyhow!("import reader: {e}")))??;
    let w = Write::begin(db, gate, actor).await?;
    let mut plan = Plan::load(&w).await?;
    plan.check(&tables);
    if plan.errors.is_empty() {
        if let Err(e) = plan.apply(&w, who, &req.rules).await {
            plan.errors.push(e);
        }
    }
    let mut result = plan.result(req.file_name, &sha256, req.dry_run);
    if !result.errors.is_empty() || req.dry_run {
        w.rollback().await?;
        if result.errors.is_empty() || req.dry_run {
            return Ok(result);
        }
        return Err(refusal(&result.errors));
    }
    w.audit(
        "import",
        "Import",
        &sha256,
        None,
        Some(json!({
            "fileName": req.file_name,
            "sha256": sha256,
            "created": counts_json(&result.created),
            "changed": counts_json(&result.changed),
            "unchanged": counts_json(&result.unchanged),
        })),
    )
    .await?;
    result.audit_event_id = w.last_event();
    notices::note_plan_change(&w).await?;
    w.commit().await?;
    Ok(result)
}

fn counts_json(list: &[SheetCount]) -> serde_json::Value {
    serde_json::Value::Object(
        list.iter()
            .map(|c| (c.sheet.clone(), json!(c.count)))
            .collect(),
    )
}

/// The `VALIDATION` error of a refused import: how many errors, and the first twenty.
pub fn refusal(errors: &[ImportError]) -> AppError {
    let shown: Vec<String> = errors.iter().take(20).map(|e| e.to_string()).collect();
    let more = if errors.len() > 20 {
        format!("; and {} more", errors.len() - 20)
    } else {
        String::new()
    };
    AppError::validation(
        "file",
        format!(
            "{} error(s), nothing imported: {}{more}",
            errors.len(),
            shown.join("; ")
        ),
    )
}

// ------------------------------------------------------------------ parsing

/// The text of a store validation error, without its field.
fn reason(e: AppError) -> (Option<String>, String) {
    match e {
        AppError::Validation { field, message } => (Some(field), message),
        AppError::Conflict { message, .. } => {
            match message.split_once(": a record with this value") {
                Some((field, _)) => (Some(field.to_string()), message.clone()),
                None => (None, message),
            }
        }
        other => (None, other.message()),
    }
}

/// A row being parsed: its cells by column name, and the errors found.
struct Cells<'a> {
    sheet: Sheet,
    line: u32,
    cells: HashMap<&'a str, &'a str>,
    errors: &'a mut Vec<ImportError>,
}

impl<'a> Cells<'a> {
    fn get(&self, col: &str) -> &'a str {
        self.cells.get(col).copied().unwrap_or("")
    }

    fn error(&mut self, col: &str, message: impl Into<String>) {
        self.errors.push(ImportError {
            sheet: self.sheet.name().to_string(),
            row: self.line,
            column: Some(col.to_string()),
            message: message.into(),
        });
    }

    fn check<T>(&mut self, col: &str, r: AppResult<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                let (_, m) = reason(e);
                self.error(col, m);
                None
            }
        }
    }

    fn code(&mut self, col: &str) -> Option<String> {
        let v = self.get(col);
        let r = store::code(col, v);
        self.check(col, r)
    }

    fn text(&mut self, col: &str, max: usize) -> Option<String> {
        let v = self.get(col);
        let r = store::text(col, v, max);
        self.check(col, r)
    }

    /// Optional text: `Some(None)` when empty.
    fn opt_text(&mut self, col: &str, max: usize) -> Option<Option<String>> {
        let v = self.get(col);
        let r = store::opt_text(col, Some(v), max);
        self.check(col, r)
    }

    /// An optional code (a reference to another row): `Some(None)` when empty.
    fn opt_code(&mut self, col: &str) -> Option<Option<String>> {
        if self.get(col).is_empty() {
            return Some(None);
        }
        self.code(col).map(Some)
    }

    fn value<E: FromStr + Iterable + std::fmt::Display>(&mut self, col: &str) -> Option<E> {
        let v = self.get(col);
        if v.is_empty() {
            self.error(col, "required");
            return None;
        }
        self.opt_value(col).flatten()
    }

    fn opt_value<E: FromStr + Iterable + std::fmt::Display>(
        &mut self,
        col: &str,
    ) -> Option<Option<E>> {
        let v = self.get(col);
        if v.is_empty() {
            return Some(None);
        }
        match E::from_str(v) {
            Ok(e) => Some(Some(e)),
            Err(_) => {
                let known: Vec<String> = E::iter().map(|e| e.to_string()).collect();
                self.error(
                    col,
                    format!("unknown value {v:?}; one of {}", known.join(", ")),
                );
                None
            }
        }
    }

    fn opt_date(&mut self, col: &str) -> Option<Option<NaiveDate>> {
        let v = self.get(col);
        if v.is_empty() {
            return Some(None);
        }
        match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            Ok(d) if v.len() == 10 => Some(Some(d)),
            _ => {
                self.error(col, format!("not a date (YYYY-MM-DD): {v:?}"));
                None
            }
        }
    }

    fn date(&mut self, col: &str) -> Option<NaiveDate> {
        if self.get(col).is_empty() {
            self.error(col, "required (a date, YYYY-MM-DD)");
            return None;
        }
        self.opt_date(col).flatten()
    }

    fn opt_int(&mut self, col: &str) -> Option<Option<i32>> {
        let v = self.get(col);
        if v.is_empty() {
            return Some(None);
        }
        match v.parse::<i32>() {
            Ok(n) => Some(Some(n)),
            Err(_) => {
                self.error(col, format!("not a whole number: {v:?}"));
                None
            }
        }
    }

    fn opt_bool(&mut self, col: &str) -> Option<Option<bool>> {
        let v = self.get(col);
        match v.to_ascii_uppercase().as_str() {
            "" => Some(None),
            "TRUE" | "1" => Some(Some(true)),
            "FALSE" | "0" => Some(Some(false)),
            _ => {
                self.error(col, format!("not TRUE or FALSE: {v:?}"));
                None
            }
        }
    }

    /// A list of codes separated by `;` (white space around them ignored).
    fn list(&mut self, col: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut ok = true;
        for part in self.get(col).split(';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            match store::code(col, part) {
                Ok(c) if !out.contains(&c) => out.push(c),
                Ok(_) => {}
                Err(e) => {
                    let (_, m) = reason(e);
                    self.error(col, format!("{part:?}: {m}"));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }
}

struct Desired<T> {
    line: u32,
    key: String,
    v: T,
}

struct RegRow {
    code: String,
    name: String,
    name_local: Option<String>,
    kind: RegulatorKind,
}

struct OrderRow {
    reference: String,
    regulator: String,
    kind: OrderKind,
    title: String,
    title_local: Option<String>,
    legal_basis: Option<String>,
    issued_on: NaiveDate,
    status: Option<OrderStatus>,
    summary: Option<String>,
    incident_disclosed_on: Option<NaiveDate>,
}

struct FindingRow {
    order: String,
    number: String,
    category: FindingCategory,
    title: String,
    facts: String,
    facts_en: Option<String>,
    directive: String,
    directive_en: Option<String>,
}

struct OwnerRow {
    code: String,
    name: String,
    name_local: Option<String>,
    kind: OwnerKind,
    role_title: Option<String>,
    contact: Option<String>,
    account: Option<String>,
    language: Option<Language>,
    parent: Option<String>,
}

struct SystemRow {
    code: String,
    name: String,
    name_local: Option<String>,
    kind: SystemKind,
    scope_note: Option<String>,
    holds_card_data: Option<bool>,
}

struct MeasureRow {
    code: String,
    title: String,
    title_local: Option<String>,
    plan: Option<String>,
    owner: Option<String>,
    due_on: Option<NaiveDate>,
    recurrence: Option<Recurrence>,
    anchor_on: Option<NaiveDate>,
    grace_days: Option<i32>,
    findings: Vec<String>,
    systems: Vec<String>,
    note: Option<String>,
    due_change_reason: Option<String>,
}

/// The plan as it stands, the file's rows as parsed, and what happens to each.
#[derive(Default)]
struct Plan {
    regulators: HashMap<String, regulator::Model>,
    orders: HashMap<String, regulatory_order::Model>,
    /// By `ORDER-REF#number`.
    findings: HashMap<String, finding::Model>,
    owners: HashMap<String, owner::Model>,
    systems: HashMap<String, system::Model>,
    measures: HashMap<String, measure::Model>,
    reg_code: HashMap<i64, String>,
    order_ref: HashMap<i64, String>,
    owner_code: HashMap<i64, String>,
    finding_key_of: HashMap<i64, String>,
    system_code: HashMap<i64, String>,
    /// A measure's links, as finding keys and system codes.
    measure_findings: HashMap<i64, BTreeSet<String>>,
    measure_systems: HashMap<i64, BTreeSet<String>>,

    reg_rows: Vec<Desired<RegRow>>,
    order_rows: Vec<Desired<OrderRow>>,
    finding_rows: Vec<Desired<FindingRow>>,
    owner_rows: Vec<Desired<OwnerRow>>,
    system_rows: Vec<Desired<SystemRow>>,
    measure_rows: Vec<Desired<MeasureRow>>,

    /// What happens to each row, by (sheet, line).
    actions: Vec<ImportRow>,
    errors: Vec<ImportError>,
}

fn opt_eq(a: &Option<String>, b: &Option<String>) -> bool {
    a.as_deref().unwrap_or("") == b.as_deref().unwrap_or("")
}

/// An optional text change: `Some("")` clears.
fn text_change(
    changed: &mut Vec<String>,
    col: &str,
    cur: &Option<String>,
    new: &Option<String>,
) -> Option<String> {
    if opt_eq(cur, new) {
        None
    } else {
        changed.push(col.to_string());
        Some(new.clone().unwrap_or_default())
    }
}

fn req_change(changed: &mut Vec<String>, col: &str, cur: &str, new: &str) -> Option<String> {
    if cur == new {
        None
    } else {
        changed.push(col.to_string());
        Some(new.to_string())
    }
}

fn val_change<T: PartialEq + Copy>(
    changed: &mut Vec<String>,
    col: &str,
    cur: T,
    new: Option<T>,
) -> Option<T> {
    match new {
        Some(n) if n != cur => {
            changed.push(col.to_string());
            Some(n)
        }
        _ => None,
    }
}

impl Plan {
    async fn load(w: &Write<'_>) -> AppResult<Plan> {
        let mut p = Plan::default();
        for r in regulator::Entity::find().all(&w.txn).await? {
            p.reg_code.insert(r.id, r.code.clone());
            p.regulators.insert(r.code.clone(), r);
        }
        for o in regulatory_order::Entity::find().all(&w.txn).await? {
            p.order_ref.insert(o.id, o.reference.clone());
            p.orders.insert(o.reference.clone(), o);
        }
        for f in finding::Entity::find().all(&w.txn).await? {
            let key = finding_key(p.order_ref.get(&f.order_id).map_or("", |s| s), &f.number);
            p.finding_key_of.insert(f.id, key.clone());
            p.findings.insert(key, f);
        }
        for o in owner::Entity::find().all(&w.txn).await? {
            p.owner_code.insert(o.id, o.code.clone());
            p.owners.insert(o.code.clone(), o);
        }
        for s in system::Entity::find().all(&w.txn).await? {
            p.system_code.insert(s.id, s.code.clone());
            p.systems.insert(s.code.clone(), s);
        }
        for m in measure::Entity::find().all(&w.txn).await? {
            p.measures.insert(m.code.clone(), m);
        }
        for l in measure_finding::Entity::find().all(&w.txn).await? {
            if let Some(k) = p.finding_key_of.get(&l.finding_id) {
                p.measure_findings
                    .entry(l.measure_id)
                    .or_default()
                    .insert(k.clone());
            }
        }
        for l in measure_system::Entity::find().all(&w.txn).await? {
            if let Some(c) = p.system_code.get(&l.system_id) {
                p.measure_systems
                    .entry(l.measure_id)
                    .or_default()
                    .insert(c.clone());
            }
        }
        Ok(p)
    }

    fn error(&mut self, sheet: Sheet, row: u32, col: Option<&str>, message: impl Into<String>) {
        self.errors.push(ImportError {
            sheet: sheet.name().to_string(),
            row,
            column: col.map(str::to_string),
            message: message.into(),
        });
    }

    fn act(&mut self, sheet: Sheet, row: u32, key: &str, fields: Vec<String>, new: bool) {
        let action = if new {
            RowAction::Create
        } else if fields.is_empty() {
            RowAction::Unchanged
        } else {
            RowAction::Change
        };
        self.actions.push(ImportRow {
            sheet: sheet.name().to_string(),
            row,
            key: key.to_string(),
            action,
            fields: if new {
                sheet.columns().iter().map(|c| c.to_string()).collect()
            } else {
                fields
            },
        });
    }

    /// Parses every sheet and compares it with the plan; errors are collected.
    fn check(&mut self, tables: &[Table]) {
        for t in tables {
            if !self.check_header(t) {
                continue;
            }
            let idx: HashMap<&str, usize> = t
                .header
                .iter()
                .enumerate()
                .map(|(i, h)| (h.as_str(), i))
                .collect();
            let mut seen: HashMap<String, u32> = HashMap::new();
            for row in &t.rows {
                let cells: HashMap<&str, &str> = idx
                    .iter()
                    .map(|(h, i)| (*h, row.cells.get(*i).map_or("", |s| s.as_str())))
                    .collect();
                let mut errors = Vec::new();
                let mut c = Cells {
                    sheet: t.sheet,
                    line: row.line,
                    cells,
                    errors: &mut errors,
                };
                let key_col = match t.sheet {
                    Sheet::Orders => "reference",
                    Sheet::Findings => "number",
                    _ => "code",
                };
                let parsed = self.parse(t.sheet, &mut c);
                drop(c);
                let key = parsed.as_ref().map(|(k, _)| k.clone());
                self.errors.extend(errors);
                if let Some(key) = key {
                    if let Some(first) = seen.get(&key) {
                        self.error(
                            t.sheet,
                            row.line,
                            Some(key_col),
                            format!("{key} is named twice (also on row {first})"),
                        );
                        continue;
                    }
                    seen.insert(key, row.line);
                }
                if let Some((key, p)) = parsed {
                    self.add(t.sheet, row.line, key, p);
                }
            }
        }
        self.check_references();
        if self.errors.is_empty() {
            self.diff();
        }
        self.errors.sort_by(|a, b| {
            (Sheet::from_name(&a.sheet), a.row).cmp(&(Sheet::from_name(&b.sheet), b.row))
        });
    }

    /// Every column of the template, each once, and no other (a measure's `dueChangeReason`
    /// may be left out).
    fn check_header(&mut self, t: &Table) -> bool {
        let before = self.errors.len();
        let mut seen = HashSet::new();
        for h in &t.header {
            if h.is_empty() {
                continue;
            }
            if !t.sheet.columns().contains(&h.as_str())
                && !t.sheet.optional_columns().contains(&h.as_str())
            {
                self.error(
                    t.sheet,
                    1,
                    Some(h),
                    format!(
                        "not a column of {} (its columns: {})",
                        t.sheet.name(),
                        t.sheet.columns().join(", ")
                    ),
                );
            } else if !seen.insert(h.as_str()) {
                self.error(t.sheet, 1, Some(h), "the column is there twice");
            }
        }
        for c in t.sheet.columns() {
            if !seen.contains(c) {
                self.error(t.sheet, 1, Some(c), "the column is missing");
            }
        }
        self.errors.len() == before
    }

    fn parse(&self, sheet: Sheet, c: &mut Cells<'_>) -> Option<(String, Parsed)> {
        use store::{LONG, SHORT};
        Some(match sheet {
            Sheet::Regulators => {
                let code = c.code("code");
                let name = c.text("name", SHORT);
                let name_local = c.opt_text("nameLocal", SHORT);
                let kind = c.value("kind");
                let v = RegRow {
                    code: code?,
                    name: name?,
                    name_local: name_local?,
                    kind: kind?,
                };
                (v.code.clone(), Parsed::Reg(v))
            }
            Sheet::Orders => {
                let reference = c.code("reference");
                let regulator = c.code("regulator");
                let kind = c.value("kind");
                let title = c.text("title", SHORT);
                let title_local = c.opt_text("titleLocal", SHORT);
                let legal_basis = c.opt_text("legalBasis", SHORT);
                let issued_on = c.date("issuedOn");
                let status = c.opt_value("status");
                let summary = c.opt_text("summary", LONG);
                let incident = c.opt_date("incidentDisclosedOn");
                let v = OrderRow {
                    reference: reference?,
                    regulator: regulator?,
                    kind: kind?,
                    title: title?,
                    title_local: title_local?,
                    legal_basis: legal_basis?,
                    issued_on: issued_on?,
                    status: status?,
                    summary: summary?,
                    incident_disclosed_on: incident?,
                };
                (v.reference.clone(), Parsed::Order(v))
            }
            Sheet::Findings => {
                let order = c.code("order");
                let number = c.code("number");
                let category = c.value("category");
                let title = c.text("title", SHORT);
                let facts = c.text("facts", LONG);
                let facts_en = c.opt_text("factsEn", LONG);
                let directive = c.text("directive", LONG);
                let directive_en = c.opt_text("directiveEn", LONG);
                let v = FindingRow {
                    order: order?,
                    number: number?,
                    category: category?,
                    title: title?,
                    facts: facts?,
                    facts_en: facts_en?,
                    directive: directive?,
                    directive_en: directive_en?,
                };
                (finding_key(&v.order, &v.number), Parsed::Finding(v))
            }
            Sheet::Owners => {
                let code = c.code("code");
                let name = c.text("name", SHORT);
                let name_local = c.opt_text("nameLocal", SHORT);
                let kind = c.value("kind");
                let role_title = c.opt_text("roleTitle", SHORT);
                let contact = c.opt_text("contact", SHORT);
                let account = {
                    let v = c.get("account");
                    let r = store::opt_subject("account", Some(v));
                    c.check("account", r)
                };
                let language = c.opt_value("language");
                let parent = c.opt_code("parent");
                let v = OwnerRow {
                    code: code?,
                    name: name?,
                    name_local: name_local?,
                    kind: kind?,
                    role_title: role_title?,
                    contact: contact?,
                    account: account?,
                    language: language?,
                    parent: parent?,
                };
                (v.code.clone(), Parsed::Owner(v))
            }
            Sheet::Systems => {
                let code = c.code("code");
                let name = c.text("name", SHORT);
                let name_local = c.opt_text("nameLocal", SHORT);
                let kind = c.value("kind");
                let scope_note = c.opt_text("scopeNote", LONG);
                let holds = c.opt_bool("holdsCardData");
                let v = SystemRow {
                    code: code?,
                    name: name?,
                    name_local: name_local?,
                    kind: kind?,
                    scope_note: scope_note?,
                    holds_card_data: holds?,
                };
                (v.code.clone(), Parsed::System(v))
            }
            Sheet::Measures => {
                let code = c.code("code");
                let title = c.text("title", SHORT);
                let title_local = c.opt_text("titleLocal", SHORT);
                let plan = c.opt_text("plan", LONG);
                let owner = c.opt_code("owner");
                let due_on = c.opt_date("dueOn");
                let recurrence = c.opt_value("recurrence");
                let anchor_on = c.opt_date("anchorOn");
                let grace_days = c.opt_int("graceDays");
                let findings = c.list("findings");
                if findings.as_ref().is_some_and(Vec::is_empty) {
                    c.error(
                        "findings",
                        "a measure answers at least one finding (ORDER-REF#number, separated by ;)",
                    );
                }
                for f in findings.iter().flatten() {
                    if !f.contains('#') {
                        c.error(
                            "findings",
                            format!("{f:?} is not a finding key (ORDER-REF#number)"),
                        );
                    }
                }
                let systems = c.list("systems");
                let note = c.opt_text("note", LONG);
                let reason = c.opt_text("dueChangeReason", LONG);
                let v = MeasureRow {
                    code: code?,
                    title: title?,
                    title_local: title_local?,
                    plan: plan?,
                    owner: owner?,
                    due_on: due_on?,
                    recurrence: recurrence?,
                    anchor_on: anchor_on?,
                    grace_days: grace_days?,
                    findings: findings?,
                    systems: systems?,
                    note: note?,
                    due_change_reason: reason?,
                };
                (v.code.clone(), Parsed::Measure(v))
            }
        })
    }

    fn add(&mut self, _sheet: Sheet, line: u32, key: String, p: Parsed) {
        match p {
            Parsed::Reg(v) => self.reg_rows.push(Desired { line, key, v }),
            Parsed::Order(v) => self.order_rows.push(Desired { line, key, v }),
            Parsed::Finding(v) => self.finding_rows.push(Desired { line, key, v }),
            Parsed::Owner(v) => self.owner_rows.push(Desired { line, key, v }),
            Parsed::System(v) => self.system_rows.push(Desired { line, key, v }),
            Parsed::Measure(v) => self.measure_rows.push(Desired { line, key, v }),
        }
    }

    /// References to rows neither in the file nor in the plan, archived rows, and what an
    /// import cannot change (an order's regulator, an owner's parent).
    fn check_references(&mut self) {
        let file_regs: HashSet<String> = self.reg_rows.iter().map(|r| r.key.clone()).collect();
        let file_orders: HashSet<String> = self.order_rows.iter().map(|r| r.key.clone()).collect();
        let file_findings: HashSet<String> =
            self.finding_rows.iter().map(|r| r.key.clone()).collect();
        let file_owners: HashSet<String> = self.owner_rows.iter().map(|r| r.key.clone()).collect();
        let file_systems: HashSet<String> =
            self.system_rows.iter().map(|r| r.key.clone()).collect();
        let mut errs: Vec<(Sheet, u32, &'static str, String)> = Vec::new();
        let archived = |a: bool, key: &str| {
            a.then(|| format!("{key} is archived; an import does not write over an archived row"))
        };
        for r in &self.reg_rows {
            if let Some(m) = self
                .regulators
                .get(&r.key)
                .and_then(|x| archived(x.archived_at.is_some(), &r.key))
            {
                errs.push((Sheet::Regulators, r.line, "code", m));
            }
        }
        for r in &self.order_rows {
            if !file_regs.contains(&r.v.regulator) && !self.regulators.contains_key(&r.v.regulator)
            {
                errs.push((
                    Sheet::Orders,
                    r.line,
                    "regulator",
                    format!(
                        "no regulator {} (neither in the regulators sheet nor in the plan)",
                        r.v.regulator
                    ),
                ));
            }
            if let Some(cur) = self.orders.get(&r.key) {
                if let Some(m) = archived(cur.archived_at.is_some(), &r.key) {
                    errs.push((Sheet::Orders, r.line, "reference", m));
                }
                let cur_reg = self
                    .reg_code
                    .get(&cur.regulator_id)
                    .cloned()
                    .unwrap_or_default();
                if cur.kind != r.v.kind {
                    errs.push((
                        Sheet::Orders,
                        r.line,
                        "kind",
                        format!("{} is {}; an order's kind does not change", r.key, cur.kind),
                    ));
                }
                if cur_reg != r.v.regulator {
                    errs.push((
                        Sheet::Orders,
                        r.line,
                        "regulator",
                        format!(
                            "{} was issued by {cur_reg}; an order's regulator does not change",
                            r.key
                        ),
                    ));
                }
            }
        }
        for r in &self.finding_rows {
            if !file_orders.contains(&r.v.order) && !self.orders.contains_key(&r.v.order) {
                errs.push((
                    Sheet::Findings,
                    r.line,
                    "order",
                    format!(
                        "no order {} (neither in the orders sheet nor in the plan)",
                        r.v.order
                    ),
                ));
            }
            if let Some(m) = self
                .findings
                .get(&r.key)
                .and_then(|x| archived(x.archived_at.is_some(), &r.key))
            {
                errs.push((Sheet::Findings, r.line, "number", m));
            }
        }
        for r in &self.owner_rows {
            if let Some(p) = &r.v.parent {
                if !file_owners.contains(p) && !self.owners.contains_key(p) {
                    errs.push((
                        Sheet::Owners,
                        r.line,
                        "parent",
                        format!("no owner {p} (neither in the owners sheet nor in the plan)"),
                    ));
                }
                if p == &r.key {
                    errs.push((
                        Sheet::Owners,
                        r.line,
                        "parent",
                        "an owner is not its own parent".into(),
                    ));
                }
            }
            if let Some(cur) = self.owners.get(&r.key) {
                if let Some(m) = archived(cur.archived_at.is_some(), &r.key) {
                    errs.push((Sheet::Owners, r.line, "code", m));
                }
                let cur_parent = cur.parent_id.and_then(|p| self.owner_code.get(&p).cloned());
                if r.v.parent.is_some() && r.v.parent != cur_parent {
                    errs.push((
                        Sheet::Owners,
                        r.line,
                        "parent",
                        format!(
                            "{} belongs to {}; an owner's parent does not change",
                            r.key,
                            cur_parent.unwrap_or_else(|| "no parent".into())
                        ),
                    ));
                }
            }
        }
        for r in &self.system_rows {
            if let Some(m) = self
                .systems
                .get(&r.key)
                .and_then(|x| archived(x.archived_at.is_some(), &r.key))
            {
                errs.push((Sheet::Systems, r.line, "code", m));
            }
        }
        for r in &self.measure_rows {
            if let Some(m) = self
                .measures
                .get(&r.key)
                .and_then(|x| archived(x.archived_at.is_some(), &r.key))
            {
                errs.push((Sheet::Measures, r.line, "code", m));
            }
            if let Some(o) = &r.v.owner {
                if !file_owners.contains(o) && !self.owners.contains_key(o) {
                    errs.push((
                        Sheet::Measures,
                        r.line,
                        "owner",
                        format!("no owner {o} (neither in the owners sheet nor in the plan)"),
                    ));
                }
            }
            for f in &r.v.findings {
                if !file_findings.contains(f) && !self.findings.contains_key(f) {
                    errs.push((
                        Sheet::Measures,
                        r.line,
                        "findings",
                        format!("no finding {f} (neither in the findings sheet nor in the plan)"),
                    ));
                }
            }
            for s in &r.v.systems {
                if !file_systems.contains(s) && !self.systems.contains_key(s) {
                    errs.push((
                        Sheet::Measures,
                        r.line,
                        "systems",
                        format!("no system {s} (neither in the systems sheet nor in the plan)"),
                    ));
                }
            }
        }
        for (s, line, col, m) in errs {
            self.error(s, line, Some(col), m);
        }
    }

    /// What changes, row by row.
    fn diff(&mut self) {
        let mut acts: Vec<(Sheet, u32, String, Vec<String>, bool)> = Vec::new();
        for r in &self.reg_rows {
            let mut ch = Vec::new();
            let new = match self.regulators.get(&r.key) {
                None => true,
                Some(cur) => {
                    reg_changes(cur, &r.v, &mut ch);
                    false
                }
            };
            acts.push((Sheet::Regulators, r.line, r.key.clone(), ch, new));
        }
        for r in &self.order_rows {
            let mut ch = Vec::new();
            let new = match self.orders.get(&r.key) {
                None => true,
                Some(cur) => {
                    order_changes(cur, &r.v, &mut ch);
                    false
                }
            };
            acts.push((Sheet::Orders, r.line, r.key.clone(), ch, new));
        }
        for r in &self.finding_rows {
            let mut ch = Vec::new();
            let new = match self.findings.get(&r.key) {
                None => true,
                Some(cur) => {
                    finding_changes(cur, &r.v, &mut ch);
                    false
                }
            };
            acts.push((Sheet::Findings, r.line, r.key.clone(), ch, new));
        }
        for r in &self.owner_rows {
            let mut ch = Vec::new();
            let new = match self.owners.get(&r.key) {
                None => true,
                Some(cur) => {
                    owner_changes(cur, &r.v, &mut ch);
                    false
                }
            };
            acts.push((Sheet::Owners, r.line, r.key.clone(), ch, new));
        }
        for r in &self.system_rows {
            let mut ch = Vec::new();
            let new = match self.systems.get(&r.key) {
                None => true,
                Some(cur) => {
                    system_changes(cur, &r.v, &mut ch);
                    false
                }
            };
            acts.push((Sheet::Systems, r.line, r.key.clone(), ch, new));
        }
        for r in &self.measure_rows {
            let mut ch = Vec::new();
            let new = match self.measures.get(&r.key) {
                None => true,
                Some(cur) => {
                    let owner = cur.owner_id.and_then(|o| self.owner_code.get(&o).cloned());
                    measure_changes(cur, owner.as_deref(), &r.v, &mut ch);
                    let (f, s) = self.link_diff(cur.id, &r.v);
                    if !f.0.is_empty() || !f.1.is_empty() {
                        ch.push("findings".into());
                    }
                    if !s.0.is_empty() || !s.1.is_empty() {
                        ch.push("systems".into());
                    }
                    false
                }
            };
            acts.push((Sheet::Measures, r.line, r.key.clone(), ch, new));
        }
        for (s, line, key, ch, new) in acts {
            self.act(s, line, &key, ch, new);
        }
    }

    /// Findings and systems to (link, unlink) for an existing measure.
    #[allow(clippy::type_complexity)]
    fn link_diff(
        &self,
        id: i64,
        v: &MeasureRow,
    ) -> ((Vec<String>, Vec<String>), (Vec<String>, Vec<String>)) {
        let empty = BTreeSet::new();
        let cur_f = self.measure_findings.get(&id).unwrap_or(&empty);
        let cur_s = self.measure_systems.get(&id).unwrap_or(&empty);
        let want_f: BTreeSet<String> = v.findings.iter().cloned().collect();
        let want_s: BTreeSet<String> = v.systems.iter().cloned().collect();
        (
            (
                want_f.difference(cur_f).cloned().collect(),
                cur_f.difference(&want_f).cloned().collect(),
            ),
            (
                want_s.difference(cur_s).cloned().collect(),
                cur_s.difference(&want_s).cloned().collect(),
            ),
        )
    }

    /// Runs the writes in dependency order; the first refusal, naming its row, ends them.
    async fn apply(
        &mut self,
        w: &Write<'_>,
        who: &Caller,
        rules: &Accountability,
    ) -> Result<(), ImportError> {
        let mut reg_ids: HashMap<String, i64> = self
            .regulators
            .iter()
            .map(|(k, v)| (k.clone(), v.id))
            .collect();
        for r in &self.reg_rows {
            let at = |e| at(Sheet::Regulators, r.line, e);
            match self.regulators.get(&r.key) {
                None => {
                    let row = records::create_regulator(
                        w,
                        who,
                        &NewRegulator {
                            code: r.v.code.clone(),
                            name: r.v.name.clone(),
                            name_local: r.v.name_local.clone(),
                            kind: r.v.kind,
                        },
                    )
                    .await
                    .map_err(at)?;
                    reg_ids.insert(r.key.clone(), row.id);
                }
                Some(cur) => {
                    let mut ch = Vec::new();
                    let c = reg_changes(cur, &r.v, &mut ch);
                    if !ch.is_empty() {
                        records::update_regulator(w, who, cur.id, cur.version, &c)
                            .await
                            .map_err(at)?;
                    }
                }
            }
        }
        // Owners: parents before their children.
        let mut owner_ids: HashMap<String, i64> =
            self.owners.iter().map(|(k, v)| (k.clone(), v.id)).collect();
        let mut pending: Vec<&Desired<OwnerRow>> = self.owner_rows.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut later = Vec::new();
            for r in pending {
                let at = |e| at(Sheet::Owners, r.line, e);
                match self.owners.get(&r.key) {
                    None => {
                        let parent_id = match &r.v.parent {
                            Some(p) => match owner_ids.get(p) {
                                Some(id) => Some(*id),
                                None => {
                                    later.push(r);
                                    continue;
                                }
                            },
                            None => None,
                        };
                        let row = records::create_owner(
                            w,
                            who,
                            &NewOwner {
                                code: r.v.code.clone(),
                                name: r.v.name.clone(),
                                name_local: r.v.name_local.clone(),
                                kind: r.v.kind,
                                role_title: r.v.role_title.clone(),
                                contact: r.v.contact.clone(),
                                account: r.v.account.clone(),
                                language: r.v.language,
                                parent_id,
                            },
                        )
                        .await
                        .map_err(at)?;
                        owner_ids.insert(r.key.clone(), row.id);
                    }
                    Some(cur) => {
                        let mut ch = Vec::new();
                        let c = owner_changes(cur, &r.v, &mut ch);
                        if !ch.is_empty() {
                            records::update_owner(w, who, cur.id, cur.version, &c)
                                .await
                                .map_err(at)?;
                        }
                    }
                }
            }
            if later.len() == before {
                let r = later[0];
                return Err(ImportError {
                    sheet: Sheet::Owners.name().into(),
                    row: r.line,
                    column: Some("parent".into()),
                    message: "owners whose parents form a circle".into(),
                });
            }
            pending = later;
        }
        let mut system_ids: HashMap<String, i64> = self
            .systems
            .iter()
            .map(|(k, v)| (k.clone(), v.id))
            .collect();
        for r in &self.system_rows {
            let at = |e| at(Sheet::Systems, r.line, e);
            match self.systems.get(&r.key) {
                None => {
                    let row = records::create_system(
                        w,
                        who,
                        &NewSystem {
                            code: r.v.code.clone(),
                            name: r.v.name.clone(),
                            name_local: r.v.name_local.clone(),
                            kind: r.v.kind,
                            scope_note: r.v.scope_note.clone(),
                            holds_card_data: r.v.holds_card_data.unwrap_or(false),
                        },
                    )
                    .await
                    .map_err(at)?;
                    system_ids.insert(r.key.clone(), row.id);
                }
                Some(cur) => {
                    let mut ch = Vec::new();
                    let c = system_changes(cur, &r.v, &mut ch);
                    if !ch.is_empty() {
                        records::update_system(w, who, cur.id, cur.version, &c)
                            .await
                            .map_err(at)?;
                    }
                }
            }
        }
        let mut order_ids: HashMap<String, i64> =
            self.orders.iter().map(|(k, v)| (k.clone(), v.id)).collect();
        for r in &self.order_rows {
            let at = |e| at(Sheet::Orders, r.line, e);
            match self.orders.get(&r.key) {
                None => {
                    let regulator_id = reg_ids.get(&r.v.regulator).copied().unwrap_or_default();
                    let row = records::create_order(
                        w,
                        who,
                        &NewOrder {
                            regulator_id,
                            kind: r.v.kind,
                            reference: r.v.reference.clone(),
                            title: r.v.title.clone(),
                            title_local: r.v.title_local.clone(),
                            legal_basis: r.v.legal_basis.clone(),
                            issued_on: r.v.issued_on,
                            status: r.v.status,
                            summary: r.v.summary.clone(),
                            incident_disclosed_on: r.v.incident_disclosed_on,
                        },
                    )
                    .await
                    .map_err(at)?;
                    order_ids.insert(r.key.clone(), row.id);
                }
                Some(cur) => {
                    let mut ch = Vec::new();
                    let c = order_changes(cur, &r.v, &mut ch);
                    if !ch.is_empty() {
                        records::update_order(w, who, cur.id, cur.version, &c)
                            .await
                            .map_err(at)?;
                    }
                }
            }
        }
        let mut finding_ids: HashMap<String, i64> = self
            .findings
            .iter()
            .map(|(k, v)| (k.clone(), v.id))
            .collect();
        for r in &self.finding_rows {
            let at = |e| at(Sheet::Findings, r.line, e);
            match self.findings.get(&r.key) {
                None => {
                    let order_id = order_ids.get(&r.v.order).copied().unwrap_or_default();
                    let row = records::create_finding(
                        w,
                        who,
                        &NewFinding {
                            order_id,
                            category: r.v.category,
                            number: r.v.number.clone(),
                            title: r.v.title.clone(),
                            facts: r.v.facts.clone(),
                            facts_en: r.v.facts_en.clone(),
                            directive: r.v.directive.clone(),
                            directive_en: r.v.directive_en.clone(),
                        },
                    )
                    .await
                    .map_err(at)?;
                    finding_ids.insert(r.key.clone(), row.id);
                }
                Some(cur) => {
                    let mut ch = Vec::new();
                    let c = finding_changes(cur, &r.v, &mut ch);
                    if !ch.is_empty() {
                        records::update_finding(w, who, cur.id, cur.version, &c)
                            .await
                            .map_err(at)?;
                    }
                }
            }
        }
        let ids = |m: &HashMap<String, i64>, keys: &[String]| -> Vec<i64> {
            keys.iter().filter_map(|k| m.get(k).copied()).collect()
        };
        for r in &self.measure_rows {
            let at = |e| at(Sheet::Measures, r.line, e);
            let owner_id = r.v.owner.as_ref().and_then(|o| owner_ids.get(o).copied());
            match self.measures.get(&r.key) {
                None => {
                    measures::create_measure(
                        w,
                        who,
                        &NewMeasure {
                            code: r.v.code.clone(),
                            title: r.v.title.clone(),
                            title_local: r.v.title_local.clone(),
                            plan: r.v.plan.clone(),
                            owner_id,
                            due_on: r.v.due_on,
                            recurrence: r.v.recurrence,
                            anchor_on: r.v.anchor_on,
                            grace_days: r.v.grace_days,
                            finding_ids: ids(&finding_ids, &r.v.findings),
                            system_ids: ids(&system_ids, &r.v.systems),
                            note: r.v.note.clone(),
                        },
                    )
                    .await
                    .map_err(at)?;
                }
                Some(cur) => {
                    let owner = cur.owner_id.and_then(|o| self.owner_code.get(&o).cloned());
                    let mut ch = Vec::new();
                    let mut c = measure_changes(cur, owner.as_deref(), &r.v, &mut ch);
                    let mut version = cur.version;
                    if !ch.is_empty() {
                        c.owner_id = if ch.iter().any(|f| f == "owner") {
                            owner_id
                        } else {
                            None
                        };
                        version = measures::update_measure(w, who, cur.id, version, &c, rules)
                            .await
                            .map_err(at)?
                            .version;
                    }
                    let ((add_f, del_f), (add_s, del_s)) = self.link_diff(cur.id, &r.v);
                    if !add_f.is_empty() || !add_s.is_empty() {
                        version = measures::link_measure(
                            w,
                            who,
                            &MeasureLinks {
                                measure_id: cur.id,
                                version,
                                finding_ids: ids(&finding_ids, &add_f),
                                system_ids: ids(&system_ids, &add_s),
                            },
                        )
                        .await
                        .map_err(at)?
                        .version;
                    }
                    if !del_f.is_empty() || !del_s.is_empty() {
                        measures::unlink_measure(
                            w,
                            who,
                            &MeasureLinks {
                                measure_id: cur.id,
                                version,
                                finding_ids: ids(&finding_ids, &del_f),
                                system_ids: ids(&system_ids, &del_s),
                            },
                        )
                        .await
                        .map_err(at)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn result(&self, file_name: &str, sha256: &str, dry_run: bool) -> ImportResult {
        let count = |a: RowAction| -> Vec<SheetCount> {
            Sheet::ALL
                .iter()
                .map(|s| SheetCount {
                    sheet: s.name().to_string(),
                    count: self
                        .actions
                        .iter()
                        .filter(|r| r.sheet == s.name() && r.action == a)
                        .count() as u64,
                })
                .collect()
        };
        let refused = !self.errors.is_empty();
        let mut rows = self.actions.clone();
        rows.sort_by(|a, b| {
            (Sheet::from_name(&a.sheet), a.row).cmp(&(Sheet::from_name(&b.sheet), b.row))
        });
        ImportResult {
            dry_run,
            file_name: file_name.to_string(),
            sha256: sha256.to_string(),
            created: if refused {
                count_none()
            } else {
                count(RowAction::Create)
            },
            changed: if refused {
                count_none()
            } else {
                count(RowAction::Change)
            },
            unchanged: if refused {
                count_none()
            } else {
                count(RowAction::Unchanged)
            },
            errors: self.errors.clone(),
            rows: if refused { Vec::new() } else { rows },
            audit_event_id: None,
        }
    }
}

fn count_none() -> Vec<SheetCount> {
    Sheet::ALL
        .iter()
        .map(|s| SheetCount {
            sheet: s.name().to_string(),
            count: 0,
        })
        .collect()
}

/// A store refusal as the row's error, its field named as the column.
fn at(sheet: Sheet, row: u32, e: AppError) -> ImportError {
    let (field, message) = reason(e);
    let column = field.map(|f| match f.as_str() {
        "findingIds" => "findings".to_string(),
        "systemIds" => "systems".to_string(),
        "ownerId" => "owner".to_string(),
        "parentId" => "parent".to_string(),
        "regulatorId" => "regulator".to_string(),
        "orderId" => "order".to_string(),
        _ => f,
    });
    ImportError {
        sheet: sheet.name().to_string(),
        row,
        column,
        message,
    }
}

enum Parsed {
    Reg(RegRow),
    Order(OrderRow),
    Finding(FindingRow),
    Owner(OwnerRow),
    System(SystemRow),
    Measure(MeasureRow),
}

fn reg_changes(cur: &regulator::Model, v: &RegRow, ch: &mut Vec<String>) -> RegulatorChanges {
    RegulatorChanges {
        name: req_change(ch, "name", &cur.name, &v.name),
        name_local: text_change(ch, "nameLocal", &cur.name_local, &v.name_local),
        kind: val_change(ch, "kind", cur.kind, Some(v.kind)),
    }
}

fn order_changes(
    cur: &regulatory_order::Model,
    v: &OrderRow,
    ch: &mut Vec<String>,
) -> OrderChanges {
    OrderChanges {
        title: req_change(ch, "title", &cur.title, &v.title),
        title_local: text_change(ch, "titleLocal", &cur.title_local, &v.title_local),
        legal_basis: text_change(ch, "legalBasis", &cur.legal_basis, &v.legal_basis),
        issued_on: val_change(ch, "issuedOn", cur.issued_on, Some(v.issued_on)),
        status: val_change(ch, "status", cur.status, v.status),
        summary: text_change(ch, "summary", &cur.summary, &v.summary),
        incident_disclosed_on: match (cur.incident_disclosed_on, v.incident_disclosed_on) {
            (c, Some(n)) if c != Some(n) => {
                ch.push("incidentDisclosedOn".into());
                Some(n)
            }
            _ => None,
        },
    }
}

fn finding_changes(cur: &finding::Model, v: &FindingRow, ch: &mut Vec<String>) -> FindingChanges {
    FindingChanges {
        category: val_change(ch, "category", cur.category, Some(v.category)),
        title: req_change(ch, "title", &cur.title, &v.title),
        facts: req_change(ch, "facts", &cur.facts, &v.facts),
        facts_en: text_change(ch, "factsEn", &cur.facts_en, &v.facts_en),
        directive: req_change(ch, "directive", &cur.directive, &v.directive),
        directive_en: text_change(ch, "directiveEn", &cur.directive_en, &v.directive_en),
    }
}

fn owner_changes(cur: &owner::Model, v: &OwnerRow, ch: &mut Vec<String>) -> OwnerChanges {
    OwnerChanges {
        name: req_change(ch, "name", &cur.name, &v.name),
        name_local: text_change(ch, "nameLocal", &cur.name_local, &v.name_local),
        kind: val_change(ch, "kind", cur.kind, Some(v.kind)),
        role_title: text_change(ch, "roleTitle", &cur.role_title, &v.role_title),
        contact: text_change(ch, "contact", &cur.contact, &v.contact),
        account: text_change(ch, "account", &cur.account, &v.account),
        language: match (cur.language, v.language) {
            (c, Some(n)) if c != Some(n) => {
                ch.push("language".into());
                Some(n)
            }
            _ => None,
        },
    }
}

fn system_changes(cur: &system::Model, v: &SystemRow, ch: &mut Vec<String>) -> SystemChanges {
    SystemChanges {
        name: req_change(ch, "name", &cur.name, &v.name),
        name_local: text_change(ch, "nameLocal", &cur.name_local, &v.name_local),
        kind: val_change(ch, "kind", cur.kind, Some(v.kind)),
        scope_note: text_change(ch, "scopeNote", &cur.scope_note, &v.scope_note),
        holds_card_data: val_change(ch, "holdsCardData", cur.holds_card_data, v.holds_card_data),
    }
}

fn measure_changes(
    cur: &measure::Model,
    cur_owner: Option<&str>,
    v: &MeasureRow,
    ch: &mut Vec<String>,
) -> MeasureChanges {
    let recurrence = v.recurrence.unwrap_or(Recurrence::None);
    MeasureChanges {
        title: req_change(ch, "title", &cur.title, &v.title),
        title_local: text_change(ch, "titleLocal", &cur.title_local, &v.title_local),
        plan: text_change(ch, "plan", &cur.plan, &v.plan),
        owner_id: match &v.owner {
            Some(o) if Some(o.as_str()) != cur_owner => {
                ch.push("owner".into());
                // The id is filled in by the caller (the owner may be new).
                None
            }
            _ => None,
        },
        due_on: match (cur.due_on, v.due_on) {
            (c, Some(n)) if c != Some(n) => {
                ch.push("dueOn".into());
                Some(n)
            }
            _ => None,
        },
        due_change_reason: v.due_change_reason.clone(),
        recurrence: val_change(ch, "recurrence", cur.recurrence, Some(recurrence)),
        anchor_on: match (cur.anchor_on, v.anchor_on) {
            (c, Some(n)) if c != Some(n) => {
                ch.push("anchorOn".into());
                Some(n)
            }
            _ => None,
        },
        grace_days: val_change(ch, "graceDays", cur.grace_days, v.grace_days),
        note: text_change(ch, "note", &cur.note, &v.note),
    }
}
