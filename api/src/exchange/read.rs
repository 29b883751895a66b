//! Reading an import file into [`Table`]s, refusing what could hurt first: a zip (an XLSX,
//! or a zip of CSVs) is checked on its central directory (the uncompressed sizes it declares,
//! summed, within the limit) and then inflated once into nothing to confirm no entry inflates
//! past what it declares, before calamine or the CSV reader sees it; rows are counted as they
//! are read and the file is refused at the first row past the limit; cells holding formulas
//! are refused (values only: a string that looks like a formula is kept as text, never
//! evaluated).
//!
//! Which file is which: a zip holding `xl/workbook.xml` is an XLSX (sheets named after the
//! entities); any other zip holds CSVs named after them (`measures.csv`); anything else is
//! one CSV whose file name is its entity's (`measures.csv`). CSV text is UTF-8 (a BOM is
//! skipped) or, when it is not valid UTF-8, Shift_JIS (as Japanese Excel saves "CSV").
use std::io::{Cursor, Read};

use calamine::{DataRef, Reader, Xlsx};

use super::{ImportError, Row, Sheet, Table};
use crate::config::ImportConfig;
use crate::error::{AppError, AppResult};

/// Most entries a zip may hold.
const MAX_ZIP_ENTRIES: usize = 1_000;
/// Most columns a row may use.
const MAX_COLUMNS: usize = 64;

fn refuse(message: impl Into<String>) -> AppError {
    AppError::validation("file", message)
}

fn refuse_at(sheet: Sheet, row: u32, column: Option<&str>, message: impl Into<String>) -> AppError {
    let e = ImportError {
        sheet: sheet.name().to_string(),
        row,
        column: column.map(str::to_string),
        message: message.into(),
    };
    refuse(format!("{e}; nothing imported"))
}

/// Reads a file (its bytes and its name) into its sheets, in the template's order.
pub fn read(bytes: &[u8], file_name: &str, limits: &ImportConfig) -> AppResult<Vec<Table>> {
    if bytes.is_empty() {
        return Err(refuse("is empty"));
    }
    if bytes.len() as u64 > limits.import_max_inflated_bytes {
        return Err(refuse(format!(
            "larger than the {}-byte import limit (REMEDY_IMPORT_MAX_INFLATED_BYTES)",
            limits.import_max_inflated_bytes
        )));
    }
    let mut tables = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        let names = check_zip(bytes, limits)?;
        if names.iter().any(|n| n == "xl/workbook.xml") {
            read_xlsx(bytes, limits)?
        } else {
            read_csv_zip(bytes, &names, limits)?
        }
    } else {
        let sheet = sheet_of_file(file_name).ok_or_else(|| {
            refuse(format!(
                "{file_name:?} is neither an XLSX nor a zip of CSVs, and a single CSV must be \
                 named after its sheet ({}.csv)",
                Sheet::ALL.map(Sheet::name).join(".csv, ")
            ))
        })?;
        vec![read_csv(sheet, bytes, limits)?]
    };
    if tables.is_empty() {
        return Err(refuse(format!(
            "holds none of the template's sheets ({})",
            Sheet::ALL.map(Sheet::name).join(", ")
        )));
    }
    tables.sort_by_key(|t| t.sheet);
    Ok(tables)
}

/// The sheet a CSV file's name says (`measures.csv`, any directory, any case).
fn sheet_of_file(name: &str) -> Option<Sheet> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = base
        .strip_suffix(".csv")
        .or_else(|| base.strip_suffix(".CSV"))?;
    Sheet::from_name(stem)
}

/// Checks a zip before anything reads it: at most [`MAX_ZIP_ENTRIES`] entries, declared
/// uncompressed sizes summing to at most the limit, and each entry inflating to no more than
/// it declares. Returns the entries' names.
fn check_zip(bytes: &[u8], limits: &ImportConfig) -> AppResult<Vec<String>> {
    let limit = limits.import_max_inflated_bytes;
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| refuse(format!("not a readable zip (XLSX): {e}")))?;
    if zip.len() > MAX_ZIP_ENTRIES {
        return Err(refuse(format!(
            "a zip of {} entries (at most {MAX_ZIP_ENTRIES})",
            zip.len()
        )));
    }
    let mut declared: u64 = 0;
    let mut names = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| refuse(format!("not a readable zip (XLSX): {e}")))?;
        declared = declared.saturating_add(f.size());
        names.push(f.name().to_string());
    }
    if declared > limit {
        return Err(refuse(format!(
            "inflates to {declared} bytes, more than the {limit}-byte limit \
             (REMEDY_IMPORT_MAX_INFLATED_BYTES); nothing was decompressed"
        )));
    }
    for i in 0..zip.len() {
        let f = zip
            .by_index(i)
            .map_err(|e| refuse(format!("an unreadable zip entry: {e}")))?;
        let size = f.size();
        let name = f.name().to_string();
        let read = std::io::copy(&mut f.take(size.saturating_add(1)), &mut std::io::sink())
            .map_err(|e| refuse(format!("zip entry {name:?} does not inflate: {e}")))?;
        if read > size {
            return Err(refuse(format!(
                "zip entry {name:?} inflates past the {size} bytes it declares"
            )));
        }
    }
    Ok(names)
}

fn read_csv_zip(bytes: &[u8], names: &[String], limits: &ImportConfig) -> AppResult<Vec<Table>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| refuse(format!("not a readable zip: {e}")))?;
    let mut tables: Vec<Table> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if name.ends_with('/') {
            continue;
        }
        let sheet = sheet_of_file(name).ok_or_else(|| {
            refuse(format!(
                "zip entry {name:?} is not one of the template's CSVs ({}.csv)",
                Sheet::ALL.map(Sheet::name).join(".csv, ")
            ))
        })?;
        if tables.iter().any(|t| t.sheet == sheet) {
            return Err(refuse(format!("the zip holds {} twice", sheet.name())));
        }
        let mut f = zip
            .by_index(i)
            .map_err(|e| refuse(format!("an unreadable zip entry: {e}")))?;
        let mut data = Vec::with_capacity(f.size() as usize);
        f.read_to_end(&mut data)
            .map_err(|e| refuse(format!("zip entry {name:?} does not inflate: {e}")))?;
        tables.push(read_csv(sheet, &data, limits)?);
    }
    Ok(tables)
}

/// The text of a CSV: UTF-8 (a BOM skipped) when it is valid UTF-8, otherwise Shift_JIS.
pub fn decode_text(bytes: &[u8]) -> AppResult<std::borrow::Cow<'_, str>> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(body) {
        return Ok(std::borrow::Cow::Borrowed(s));
    }
    encoding_rs::SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(body)
        .ok_or_else(|| refuse("a CSV that is neither UTF-8 nor Shift_JIS"))
}

/// Reads one CSV: the first record is the header; records past the row limit are refused
/// as they come, never collected.
pub fn read_csv(sheet: Sheet, bytes: &[u8], limits: &ImportConfig) -> AppResult<Table> {
    let text = decode_text(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let record = record.map_err(|e| refuse_at(sheet, line, None, format!("not CSV: {e}")))?;
        if i > limits.import_max_rows {
            return Err(too_many_rows(sheet, line, limits));
        }
        if record.len() > MAX_COLUMNS {
            return Err(refuse_at(
                sheet,
                line,
                None,
                format!("more than {MAX_COLUMNS} columns"),
            ));
        }
        let cells: Vec<String> = record.iter().map(str::to_string).collect();
        match &header {
            None => header = Some(cells),
            Some(h) => {
                if cells.iter().all(String::is_empty) {
                    continue;
                }
                if cells.len() > h.len() && cells[h.len()..].iter().any(|c| !c.is_empty()) {
                    return Err(refuse_at(
                        sheet,
                        line,
                        None,
                        "a value in a column with no header",
                    ));
                }
                let mut cells = cells;
                cells.resize(h.len(), String::new());
                rows.push(Row { line, cells });
            }
        }
    }
    Ok(Table {
        sheet,
        header: header.unwrap_or_default(),
        rows,
    })
}

fn too_many_rows(sheet: Sheet, line: u32, limits: &ImportConfig) -> AppError {
    refuse_at(
        sheet,
        line,
        None,
        format!(
            "more than {} data rows (REMEDY_IMPORT_MAX_ROWS); the rest was not read",
            limits.import_max_rows
        ),
    )
}

fn read_xlsx(bytes: &[u8], limits: &ImportConfig) -> AppResult<Vec<Table>> {
    let mut book: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| refuse(format!("not a readable XLSX: {e}")))?;
    let mut tables = Vec::new();
    for name in book.sheet_names() {
        let sheet = Sheet::from_name(&name).ok_or_else(|| {
            refuse(format!(
                "sheet {name:?} is not part of the template ({})",
                Sheet::ALL.map(Sheet::name).join(", ")
            ))
        })?;
        if tables.iter().any(|t: &Table| t.sheet == sheet) {
            return Err(refuse(format!("the workbook holds {} twice", sheet.name())));
        }
        refuse_formulas(&mut book, &name, sheet)?;
        tables.push(read_sheet(&mut book, &name, sheet, limits)?);
    }
    Ok(tables)
}

/// Refuses a sheet with a formula anywhere: the import takes values only.
fn refuse_formulas(book: &mut Xlsx<Cursor<&[u8]>>, name: &str, sheet: Sheet) -> AppResult<()> {
    let mut cells = book
        .worksheet_cells_reader(name)
        .map_err(|e| refuse(format!("sheet {name:?} is unreadable: {e}")))?;
    while let Some(cell) = cells
        .next_formula()
        .map_err(|e| refuse(format!("sheet {name:?} is unreadable: {e}")))?
    {
        if !cell.get_value().is_empty() {
            let (row, col) = cell.get_position();
            return Err(refuse_at(
                sheet,
                row + 1,
                Some(&column_letter(col)),
                "a formula; the import takes values only (type it as text to keep it)",
            ));
        }
    }
    Ok(())
}

/// A column's letters (0 → A).
fn column_letter(mut col: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

fn read_sheet(
    book: &mut Xlsx<Cursor<&[u8]>>,
    name: &str,
    sheet: Sheet,
    limits: &ImportConfig,
) -> AppResult<Table> {
    let mut cells = book
        .worksheet_cells_reader(name)
        .map_err(|e| refuse(format!("sheet {name:?} is unreadable: {e}")))?;
    // Rows by index (0: the header), each as (column, text); cells come in row order.
    let mut raw: Vec<(u32, Vec<(u32, String)>)> = Vec::new();
    while let Some(cell) = cells
        .next_cell()
        .map_err(|e| refuse(format!("sheet {name:?} is unreadable: {e}")))?
    {
        let (row, col) = cell.get_position();
        if row as usize > limits.import_max_rows {
            return Err(too_many_rows(sheet, row + 1, limits));
        }
        let text = cell_text(cell.get_value())
            .map_err(|m| refuse_at(sheet, row + 1, Some(&column_letter(col)), m))?;
        if text.is_empty() {
            continue;
        }
        if col as usize >= MAX_COLUMNS {
            return Err(refuse_at(
                sheet,
                row + 1,
                Some(&column_letter(col)),
                format!("more than {MAX_COLUMNS} columns"),
            ));
        }
        match raw.last_mut() {
            Some((r, cs)) if *r == row => cs.push((col, text)),
            _ => raw.push((row, vec![(col, text)])),
        }
    }
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for (row, cs) in raw {
        if row == 0 {
            let width = cs.iter().map(|(c, _)| *c + 1).max().unwrap_or(0);
            header = vec![String::new(); width as usize];
            for (c, t) in cs {
                header[c as usize] = t;
            }
            continue;
        }
        let mut out = vec![String::new(); header.len()];
        for (c, t) in cs {
            match out.get_mut(c as usize) {
                Some(slot) if !header[c as usize].is_empty() => *slot = t,
                _ => {
                    return Err(refuse_at(
                        sheet,
                        row + 1,
                        Some(&column_letter(c)),
                        "a value in a column with no header",
                    ))
                }
            }
        }
        rows.push(Row {
            line: row + 1,
            cells: out,
        });
    }
    Ok(Table {
        sheet,
        header,
        rows,
    })
}

/// A cell as text: strings exactly as stored; whole numbers without a decimal point; booleans
/// TRUE/FALSE; a date cell as YYYY-MM-DD (with its time when it has one). An error cell is
/// refused.
fn cell_text(v: &DataRef<'_>) -> Result<String, String> {
    Ok(match v {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => s.to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                f.to_string()
            }
        }
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        DataRef::DateTime(d) => match d.as_datetime() {
            Some(dt) if dt.time() == chrono::NaiveTime::MIN => dt.date().to_string(),
            Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S").to_string(),
            None => d.as_f64().to_string(),
        },
        DataRef::DateTimeIso(s) => s
            .strip_suffix("T00:00:00")
            .unwrap_or(s.as_str())
            .to_string(),
        DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => return Err(format!("the cell holds an error ({e})")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ImportConfig {
        ImportConfig {
            import_max_rows: 3,
            import_max_inflated_bytes: 1024 * 1024,
        }
    }

    #[test]
    fn csv_names_and_encodings() {
        assert_eq!(sheet_of_file("dir/Measures.csv"), Some(Sheet::Measures));
        assert_eq!(sheet_of_file("plan.csv"), None);
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("code,name\nA,多要素認証\n");
        let t = read_csv(Sheet::Systems, &sjis, &limits()).unwrap();
        assert_eq!(t.rows[0].cells, ["A", "多要素認証"]);
        assert_eq!(t.rows[0].line, 2);
        let bom = b"\xEF\xBB\xBFcode,name\r\nB,\xE5\x85\xA8\r\n";
        let t = read_csv(Sheet::Systems, bom, &limits()).unwrap();
        assert_eq!(t.header, ["code", "name"]);
        assert_eq!(t.rows[0].cells, ["B", "全"]);
    }

    #[test]
    fn rows_past_the_limit_are_refused_naming_the_row() {
        let csv = "code\nA\nB\nC\nD\nE\n";
        let e = read_csv(Sheet::Owners, csv.as_bytes(), &limits()).unwrap_err();
        assert_eq!(e.code(), "VALIDATION");
        assert!(
            e.message().contains("sheet owners, row 5"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
    }
}
