//! `importPlan`: a spreadsheet of the plan (the template of `crate::exchange`), imported in
//! one write or, with `dryRun`, checked and described without writing.
use async_graphql::{Context, Enum, Object, SimpleObject, Upload};

use super::mutation::read_upload;
use crate::auth::{caller, Permission, Requires};
use crate::config::ImportConfig;
use crate::error::AppResult;
use crate::exchange::{self, import};
use crate::service::write::measures::Accountability;
use crate::service::write::WriteGate;

/// What an import did or, in a dry run, would do. Counts are per sheet (every sheet listed).
#[derive(SimpleObject)]
pub struct ImportResult {
    /// Whether nothing was written (a dry run).
    pub dry_run: bool,
    /// The file's name as uploaded.
    pub file_name: String,
    /// The SHA-256 of the file, lower-case hex; the `import` audit event (entity `Import`)
    /// has it as its entity id.
    pub sha256: String,
    /// Rows created (or that would be), per sheet.
    pub created: Vec<ImportCount>,
    /// Rows changed, per sheet.
    pub changed: Vec<ImportCount>,
    /// Rows left as they were, per sheet.
    pub unchanged: Vec<ImportCount>,
    /// Why the file is refused (a dry run lists them here; a real import is refused with a
    /// `VALIDATION` error naming them). Empty: imported, or importable.
    pub errors: Vec<ImportError>,
    /// Every data row and what happens to it (empty when refused).
    pub rows: Vec<ImportRow>,
}

/// A count for one sheet.
#[derive(SimpleObject)]
pub struct ImportCount {
    /// `regulators`, `orders`, `findings`, `measures`, `owners` or `systems`.
    pub sheet: String,
    pub count: u64,
}

/// One refusal.
#[derive(SimpleObject)]
pub struct ImportError {
    pub sheet: String,
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: u32,
    /// The column's header, when one cell is at fault.
    pub column: Option<String>,
    pub message: String,
}

/// What happens to a row.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ImportAction {
    /// A new row.
    Create,
    /// An existing row whose `fields` change.
    Change,
    /// An existing row left as it is.
    Unchanged,
}

/// One data row.
#[derive(SimpleObject)]
pub struct ImportRow {
    pub sheet: String,
    pub row: u32,
    /// Its key: a code, a reference, or `ORDER-REF#number` for a finding.
    pub key: String,
    pub action: ImportAction,
    /// The columns that change (every column, for a new row).
    pub fields: Vec<String>,
}

fn counts(list: Vec<exchange::SheetCount>) -> Vec<ImportCount> {
    list.into_iter()
        .map(|c| ImportCount {
            sheet: c.sheet,
            count: c.count,
        })
        .collect()
}

impl From<exchange::ImportResult> for ImportResult {
    fn from(r: exchange::ImportResult) -> Self {
        ImportResult {
            dry_run: r.dry_run,
            file_name: r.file_name,
            sha256: r.sha256,
            created: counts(r.created),
            changed: counts(r.changed),
            unchanged: counts(r.unchanged),
            errors: r
                .errors
                .into_iter()
                .map(|e| ImportError {
                    sheet: e.sheet,
                    row: e.row,
                    column: e.column,
                    message: e.message,
                })
                .collect(),
            rows: r
                .rows
                .into_iter()
                .map(|r| ImportRow {
                    sheet: r.sheet,
                    row: r.row,
                    key: r.key,
                    action: match r.action {
                        exchange::RowAction::Create => ImportAction::Create,
                        exchange::RowAction::Change => ImportAction::Change,
                        exchange::RowAction::Unchanged => ImportAction::Unchanged,
                    },
                    fields: r.fields,
                })
                .collect(),
        }
    }
}

#[derive(Default)]
pub struct ExchangeMutation;

#[Object]
impl ExchangeMutation {
    /// Imports a plan from a spreadsheet (GraphQL multipart request): an XLSX of the template
    /// (sheets `regulators`, `orders`, `findings`, `measures`, `owners`, `systems`), a zip of
    /// their CSVs, or one CSV named after its sheet (`measures.csv`; UTF-8 or Shift_JIS).
    /// Rows are upserted by key through the same writes as the mutations, all in one
    /// transaction. `dryRun: true` writes nothing and reports what would be created, changed
    /// (which columns) and left, or every error (sheet, row, column); a real import with any
    /// error is refused (`VALIDATION`, naming them) and writes nothing. A real import is
    /// recorded as an audit event `import` on entity `Import` whose id is the file's SHA-256.
    #[graphql(guard = "Requires(Permission::WritePlan)")]
    async fn import_plan(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        #[graphql(default = false)] dry_run: bool,
    ) -> AppResult<ImportResult> {
        let who = caller(ctx)?;
        let file_name = file
            .value(ctx)
            .map(|v| v.filename)
            .unwrap_or_else(|_| "upload".to_string());
        let (bytes, _) = read_upload(ctx, &file).await?;
        let db = ctx.data_unchecked::<sea_orm::DatabaseConnection>();
        let gate = ctx.data_unchecked::<std::sync::Arc<WriteGate>>();
        let req = import::ImportRequest {
            file_name: &file_name,
            bytes,
            dry_run,
            limits: ctx.data_opt::<ImportConfig>().copied().unwrap_or_default(),
            rules: ctx
                .data_opt::<Accountability>()
                .copied()
                .unwrap_or_default(),
        };
        let result = import::import(db, gate, who, &who.subject, req).await?;
        Ok(result.into())
    }
}
