//! Plans in and out as spreadsheets: the template (one sheet, or one CSV, per entity), its
//! reading (`read`: XLSX through calamine, CSV in UTF-8 or Shift_JIS, with the zip and row
//! limits checked first), the import (`import`: a dry run or one all-or-nothing write through
//! the store's own functions) and the export (`export`: the same shape, every cell a value).
//!
//! The template (documented in the README, `tests/fixtures/plan-template.xlsx`): sheets
//! `regulators`, `orders`, `findings`, `measures`, `owners`, `systems`; the first row holds
//! the column names below (every one present, in any order); keys are the regulator, owner,
//! system and measure `code`, the order `reference`, and a finding's order reference and
//! `number` (written `ORDER-REF#number` where a measure names it).
pub mod export;
pub mod import;
pub mod read;

use serde::Serialize;

/// One sheet of the template (one CSV file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sheet {
    Regulators,
    Orders,
    Findings,
    Measures,
    Owners,
    Systems,
}

impl Sheet {
    /// The sheets in the template's order.
    pub const ALL: [Sheet; 6] = [
        Sheet::Regulators,
        Sheet::Orders,
        Sheet::Findings,
        Sheet::Measures,
        Sheet::Owners,
        Sheet::Systems,
    ];

    /// The sheet's name (and the CSV file's stem).
    pub fn name(self) -> &'static str {
        match self {
            Sheet::Regulators => "regulators",
            Sheet::Orders => "orders",
            Sheet::Findings => "findings",
            Sheet::Measures => "measures",
            Sheet::Owners => "owners",
            Sheet::Systems => "systems",
        }
    }

    pub fn from_name(name: &str) -> Option<Sheet> {
        Sheet::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// The columns every file of this sheet has (the export writes them in this order), then
    /// [`Sheet::optional_columns`].
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Sheet::Regulators => &["code", "name", "nameLocal", "kind"],
            Sheet::Orders => &[
                "reference",
                "regulator",
                "kind",
                "title",
                "titleLocal",
                "legalBasis",
                "issuedOn",
                "status",
                "summary",
                "incidentDisclosedOn",
            ],
            Sheet::Findings => &[
                "order",
                "number",
                "category",
                "title",
                "facts",
                "factsEn",
                "directive",
                "directiveEn",
            ],
            Sheet::Measures => &[
                "code",
                "title",
                "titleLocal",
                "plan",
                "owner",
                "dueOn",
                "recurrence",
                "anchorOn",
                "graceDays",
                "findings",
                "systems",
                "note",
            ],
            Sheet::Owners => &[
                "code",
                "name",
                "nameLocal",
                "kind",
                "roleTitle",
                "contact",
                "account",
                "language",
                "parent",
            ],
            Sheet::Systems => &[
                "code",
                "name",
                "nameLocal",
                "kind",
                "scopeNote",
                "holdsCardData",
            ],
        }
    }

    /// Columns a file may leave out (read on import, never exported).
    pub fn optional_columns(self) -> &'static [&'static str] {
        match self {
            Sheet::Measures => &["dueChangeReason"],
            _ => &[],
        }
    }

    /// The entity name the audit log uses.
    pub fn entity(self) -> &'static str {
        match self {
            Sheet::Regulators => "Regulator",
            Sheet::Orders => "Order",
            Sheet::Findings => "Finding",
            Sheet::Measures => "Measure",
            Sheet::Owners => "Owner",
            Sheet::Systems => "System",
        }
    }
}

/// One sheet as read: its header and its data rows.
#[derive(Debug, Clone)]
pub struct Table {
    pub sheet: Sheet,
    pub header: Vec<String>,
    pub rows: Vec<Row>,
}

/// One data row: its number as a spreadsheet shows it (the header is row 1) and its cells,
/// as text, one per header column.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: u32,
    pub cells: Vec<String>,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportResult {
    /// Whether nothing was written (a dry run).
    pub dry_run: bool,
    /// The file's name as given.
    pub file_name: String,
    /// The SHA-256 of the file's bytes, lower-case hex (the audit event names it).
    pub sha256: String,
    /// Rows created, per sheet (every sheet listed).
    pub created: Vec<SheetCount>,
    /// Rows changed, per sheet.
    pub changed: Vec<SheetCount>,
    /// Rows left as they were, per sheet.
    pub unchanged: Vec<SheetCount>,
    /// Why the file is refused; empty when it was (or would be) imported.
    pub errors: Vec<ImportError>,
    /// Every data row and what happens to it, in the file's order.
    pub rows: Vec<ImportRow>,
    /// The `import` audit event of a real import (entity `Import`, id the SHA-256).
    pub audit_event_id: Option<i64>,
}

impl ImportResult {
    /// Rows created, changed or left, in all sheets.
    pub fn total(list: &[SheetCount]) -> u64 {
        list.iter().map(|c| c.count).sum()
    }
}

/// A count for one sheet.
#[derive(Debug, Clone, Serialize)]
pub struct SheetCount {
    pub sheet: String,
    pub count: u64,
}

/// One refusal: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportError {
    pub sheet: String,
    /// 1-based, as a spreadsheet shows it (the header is row 1).
    pub row: u32,
    /// The column's name (its header), when one cell is at fault.
    pub column: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sheet {}, row {}", self.sheet, self.row)?;
        if let Some(c) = &self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What happens to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RowAction {
    Create,
    Change,
    Unchanged,
}

impl RowAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RowAction::Create => "CREATE",
            RowAction::Change => "CHANGE",
            RowAction::Unchanged => "UNCHANGED",
        }
    }
}

/// One data row's fate.
#[derive(Debug, Clone, Serialize)]
pub struct ImportRow {
    pub sheet: String,
    pub row: u32,
    /// Its key: a code, a reference, or `ORDER-REF#number` for a finding.
    pub key: String,
    pub action: RowAction,
    /// The columns whose values change (every column given, for a new row).
    pub fields: Vec<String>,
}
