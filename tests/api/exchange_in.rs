//! Spreadsheet import of a plan (`importPlan`, `remedy import`) and the export that imports
//! back (`remedy export`): the template fixture into an empty database and back, dry runs that
//! write nothing, hostile files refused (or neutralised) with nothing half-imported, CSV in
//! Shift_JIS and UTF-8 with a BOM, and the command line.
use std::io::Write as _;
use std::process::Command;

use entity::prelude::*;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

use crate::helpers::*;

const IMPORT: &str = "mutation($file: Upload!, $dry: Boolean) { importPlan(file: $file, dryRun: $dry) { dryRun fileName sha256 created { sheet count } changed { sheet count } unchanged { sheet count } errors { sheet row column message } rows { sheet row key action fields } } }";

/// A multipart `importPlan` with the file's name.
async fn upload(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>, dry: bool) -> Value {
    let operations = json!({ "query": IMPORT, "variables": { "file": null, "dry": dry } });
    let map = json!({ "0": ["variables.file"] });
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str("application/octet-stream")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", map.to_string())
        .part("0", part);
    // A fresh client: a pooled connection left idle while a test builds a large file may be
    // closed by the server's keep-alive as it is reused.
    let res = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(res.status(), 200);
    res.json().await.expect("JSON")
}

async fn import_ok(app: &TestApp, name: &str, bytes: Vec<u8>, dry: bool) -> Value {
    let body = upload(app, &app.admin_token, name, bytes, dry).await;
    assert!(body.get("errors").is_none(), "{name}: {body}");
    body["data"]["importPlan"].clone()
}

/// A refused real import: its VALIDATION message.
async fn import_refused(app: &TestApp, name: &str, bytes: Vec<u8>) -> String {
    let body = upload(app, &app.admin_token, name, bytes, false).await;
    assert_eq!(error_codes(&body), ["VALIDATION"], "{name}: {body}");
    assert!(body["data"].is_null(), "{body}");
    body["errors"][0]["message"].as_str().unwrap().to_string()
}

fn total(r: &Value, what: &str) -> u64 {
    r[what]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum()
}

fn count_of(r: &Value, what: &str, sheet: &str) -> u64 {
    r[what]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sheet"] == sheet)
        .unwrap()["count"]
        .as_u64()
        .unwrap()
}

/// Rows of every table an import writes, and audit events.
async fn counts(app: &TestApp) -> [u64; 9] {
    let db = &app.db;
    [
        AuditEvent::find().count(db).await.unwrap(),
        Regulator::find().count(db).await.unwrap(),
        RegulatoryOrder::find().count(db).await.unwrap(),
        Finding::find().count(db).await.unwrap(),
        Measure::find().count(db).await.unwrap(),
        Owner::find().count(db).await.unwrap(),
        System::find().count(db).await.unwrap(),
        MeasureFinding::find().count(db).await.unwrap(),
        MeasureSystem::find().count(db).await.unwrap(),
    ]
}

fn template() -> Vec<u8> {
    std::fs::read(fixture("plan-template.xlsx")).expect("tests/fixtures/plan-template.xlsx")
}

fn remedy(app: &TestApp, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_remedy"))
        .args(args)
        .env("REMEDY_DATABASE_URL", &app._test_db.url)
        .output()
        .unwrap()
}

fn export(app: &TestApp, format: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(format!("plan.{format}"));
    let o = remedy(
        app,
        &["export", "--format", format, "--out", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(out).unwrap()
}

/// A zip of files (name, bytes).
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        z.start_file(*name, o).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

#[tokio::test]
async fn the_template_imports_into_an_empty_database_and_its_export_imports_back_unchanged() {
    let app = spawn_app().await;
    let empty = counts(&app).await;

    // A dry run says what would be created and writes nothing.
    let dry = import_ok(&app, "plan-template.xlsx", template(), true).await;
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["errors"], json!([]));
    assert_eq!(total(&dry, "created"), 10, "{dry}");
    assert_eq!(count_of(&dry, "created", "findings"), 2);
    assert_eq!(count_of(&dry, "created", "measures"), 2);
    assert_eq!(total(&dry, "changed") + total(&dry, "unchanged"), 0);
    assert_eq!(dry["rows"][0]["action"], "CREATE");
    assert_eq!(counts(&app).await, empty, "a dry run writes nothing");

    // The import.
    let done = import_ok(&app, "plan-template.xlsx", template(), false).await;
    assert_eq!(done["dryRun"], false);
    assert_eq!(total(&done, "created"), 10);
    let sha = done["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);
    let after = counts(&app).await;
    assert_eq!(after[1..], [1, 1, 2, 2, 2, 2, 3, 3]);
    // Each row has its create event, and the import its own, naming the file and its hash.
    assert_eq!(after[0], empty[0] + 11);
    let log = app
        .query_ok(
            "query($e: String) { auditLog(filter: {entity: \"Import\", entityId: $e}) { nodes { action actor after } } }",
            json!({"e": sha}),
        )
        .await;
    let ev = &log["auditLog"]["nodes"][0];
    assert_eq!(ev["action"], "import");
    assert_eq!(ev["actor"], "test-admin");
    let ev_after: Value = match &ev["after"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        v => v.clone(),
    };
    assert_eq!(ev_after["fileName"], "plan-template.xlsx");
    assert_eq!(ev_after["sha256"], sha.as_str());
    assert_eq!(ev_after["created"]["measures"], 2);

    // The plan as imported: Japanese text intact, links and schedule in place.
    let m = app
        .query_ok(
            "{ measures(first: 10) { nodes { code titleLocal recurrence owner { code } findings { nodes { number } } systems { nodes { code } } } } orders { nodes { titleLocal incidentDisclosedOn } } }",
            json!({}),
        )
        .await;
    let nodes = m["measures"]["nodes"].as_array().unwrap();
    let m1 = nodes.iter().find(|n| n["code"] == "EX-M-01").unwrap();
    assert_eq!(m1["titleLocal"], "四半期ごとの脆弱性診断");
    assert_eq!(m1["recurrence"], "QUARTERLY");
    assert_eq!(m1["owner"]["code"], "CISO");
    assert_eq!(m1["systems"]["nodes"].as_array().unwrap().len(), 2);
    let m2 = nodes.iter().find(|n| n["code"] == "EX-M-02").unwrap();
    assert_eq!(m2["findings"]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(
        m["orders"]["nodes"][0]["titleLocal"],
        "クレジットカード情報の保護に関する改善命令"
    );

    // Export, then import the export: nothing to create or change, in either format.
    for format in ["xlsx", "csv"] {
        let bytes = export(&app, format);
        let before = counts(&app).await;
        let name = if format == "xlsx" {
            "plan.xlsx"
        } else {
            "plan.zip"
        };
        let dry = import_ok(&app, name, bytes.clone(), true).await;
        assert_eq!(dry["errors"], json!([]), "{format}: {dry}");
        assert_eq!(
            total(&dry, "created") + total(&dry, "changed"),
            0,
            "{format}: {dry}"
        );
        assert_eq!(total(&dry, "unchanged"), 10);
        let again = import_ok(&app, name, bytes, false).await;
        assert_eq!(total(&again, "created") + total(&again, "changed"), 0);
        let now = counts(&app).await;
        // Only the import's own event.
        assert_eq!(now[0], before[0] + 1, "{format}");
        assert_eq!(now[1..], before[1..]);
    }

    // A changed cell is reported by column, and imported as an update (a new version).
    let csv = "code,name,nameLocal,kind,scopeNote,holdsCardData\nWEB,Web storefront,ECサイト,FRONT,Storefront only,FALSE\n";
    let r = import_ok(&app, "systems.csv", csv.as_bytes().to_vec(), true).await;
    assert_eq!(r["rows"][0]["action"], "CHANGE");
    assert_eq!(r["rows"][0]["fields"], json!(["scopeNote"]));
    import_ok(&app, "systems.csv", csv.as_bytes().to_vec(), false).await;
    let s = app
        .query_ok(
            "{ systems { nodes { code scopeNote version } } }",
            json!({}),
        )
        .await;
    let web = s["systems"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["code"] == "WEB")
        .unwrap()
        .clone();
    assert_eq!(web["scopeNote"], "Storefront only");
    assert_eq!(web["version"], 2);
    let o = remedy(&app, &["audit", "verify"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[tokio::test]
async fn formula_strings_are_kept_as_text_and_exported_as_strings() {
    let app = spawn_app().await;
    import_ok(&app, "plan-template.xlsx", template(), false).await;
    let hostile = [
        ("F1", "=cmd|' /C calc'!A0"),
        ("F2", "+1+1"),
        ("F3", "-2+3"),
        ("F4", "@SUM(A1:A2)"),
    ];
    let mut csv = String::from("code,name,nameLocal,kind,scopeNote,holdsCardData\n");
    for (code, v) in hostile {
        csv.push_str(&format!(
            "{code},\"{}\",,INTERNAL,,FALSE\n",
            v.replace('"', "\"\"")
        ));
    }
    let r = import_ok(&app, "systems.csv", csv.into_bytes(), false).await;
    assert_eq!(count_of(&r, "created", "systems"), 4);
    let s = app
        .query_ok("{ systems(first: 50) { nodes { code name } } }", json!({}))
        .await;
    for (code, v) in hostile {
        let n = s["systems"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["code"] == code)
            .unwrap()
            .clone();
        assert_eq!(n["name"], v, "stored verbatim");
    }
    // The export writes them as strings: no formula anywhere, the text in the strings.
    let xlsx = export(&app, "xlsx");
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(xlsx.clone())).unwrap();
    let mut all = String::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        if f.name().ends_with(".xml") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut f, &mut s).unwrap();
            assert!(
                !s.contains("<f>") && !s.contains("<f "),
                "{}: a formula",
                f.name()
            );
            all.push_str(&s);
        }
    }
    assert!(all.contains("=cmd|' /C calc'!A0"), "the text is a string");
    {
        use calamine::{Data, Reader, Xlsx};
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(xlsx.clone())).unwrap();
        let range = book.worksheet_range("systems").unwrap();
        let cells: Vec<&Data> = range.used_cells().map(|(_, _, d)| d).collect();
        assert!(cells.contains(&&Data::String("=cmd|' /C calc'!A0".into())));
        assert!(cells.contains(&&Data::String("@SUM(A1:A2)".into())));
    }
    // And they import back unchanged.
    let back = import_ok(&app, "plan.xlsx", xlsx, true).await;
    assert_eq!(
        total(&back, "created") + total(&back, "changed"),
        0,
        "{back}"
    );

    // A real formula in an XLSX cell is refused (values only), naming where.
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("systems").unwrap();
    for (c, h) in [
        "code",
        "name",
        "nameLocal",
        "kind",
        "scopeNote",
        "holdsCardData",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, "F9").unwrap();
    ws.write_formula(1, 1, "=1+1").unwrap();
    ws.write_string(1, 3, "INTERNAL").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let before = counts(&app).await;
    let msg = import_refused(&app, "f.xlsx", bytes).await;
    assert!(
        msg.contains("sheet systems, row 2, column B: a formula"),
        "{msg}"
    );
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn hostile_files_are_refused_naming_sheet_row_and_column_and_nothing_is_half_imported() {
    let app = spawn_app().await;
    import_ok(&app, "plan-template.xlsx", template(), false).await;
    let before = counts(&app).await;

    // A zip bomb: an XLSX whose sheet inflates to 60 MB of zeros (about 60 KB compressed).
    let zeros = vec![b'0'; 60 * 1024 * 1024];
    let bomb = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("xl/workbook.xml", b"<workbook/>"),
        ("xl/worksheets/sheet1.xml", &zeros),
    ]);
    drop(zeros);
    assert!(bomb.len() < 200 * 1024, "{}", bomb.len());
    let started = std::time::Instant::now();
    let msg = import_refused(&app, "bomb.xlsx", bomb.clone()).await;
    assert!(msg.starts_with("file: inflates to 62914"), "{msg}");
    assert!(msg.contains("REMEDY_IMPORT_MAX_INFLATED_BYTES"), "{msg}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // A dry run refuses it too.
    let body = upload(&app, &app.admin_token, "bomb.xlsx", bomb, true).await;
    assert_eq!(error_codes(&body), ["VALIDATION"]);

    // Wrong types: a date that is not a date, an unknown status.
    let orders = "reference,regulator,kind,title,titleLocal,legalBasis,issuedOn,status,summary,incidentDisclosedOn\n\
                  EX-2025-09-01,EX-MIN,GUIDANCE,A,,,2025-02-30,OPEN,,\n\
                  EX-2025-09-02,EX-MIN,GUIDANCE,B,,,2025-09-02,PENDING,,\n";
    let dry = import_ok(&app, "orders.csv", orders.as_bytes().to_vec(), true).await;
    assert_eq!(
        dry["errors"],
        json!([
            {"sheet": "orders", "row": 2, "column": "issuedOn", "message": "not a date (YYYY-MM-DD): \"2025-02-30\""},
            {"sheet": "orders", "row": 3, "column": "status", "message": "unknown value \"PENDING\"; one of OPEN, MONITORING, CLOSED"},
        ])
    );
    assert_eq!(dry["rows"], json!([]));
    let msg = import_refused(&app, "orders.csv", orders.as_bytes().to_vec()).await;
    assert!(msg.contains("2 error(s), nothing imported"), "{msg}");
    assert!(
        msg.contains("sheet orders, row 2, column issuedOn: not a date"),
        "{msg}"
    );
    assert!(
        msg.contains("sheet orders, row 3, column status: unknown value"),
        "{msg}"
    );

    // Duplicate codes within the file.
    let systems = "code,name,nameLocal,kind,scopeNote,holdsCardData\nNEW1,a,,INTERNAL,,FALSE\nNEW2,b,,INTERNAL,,FALSE\nNEW1,c,,INTERNAL,,FALSE\n";
    let msg = import_refused(&app, "systems.csv", systems.as_bytes().to_vec()).await;
    assert!(
        msg.contains("sheet systems, row 4, column code: NEW1 is named twice (also on row 2)"),
        "{msg}"
    );

    // A link to a missing finding, in a zip whose other sheets are valid: nothing of it is
    // imported.
    let regs = "code,name,nameLocal,kind\nREG-NEW,New regulator,,OTHER\n";
    let measures = "code,title,titleLocal,plan,owner,dueOn,recurrence,anchorOn,graceDays,findings,systems,note\n\
                    EX-M-09,New,,,,2026-01-31,NONE,,0,EX-2025-01-15#1;EX-2025-01-15#99,,\n";
    let z = zip_of(&[
        ("regulators.csv", regs.as_bytes()),
        ("measures.csv", measures.as_bytes()),
    ]);
    let dry = import_ok(&app, "plan.zip", z.clone(), true).await;
    assert_eq!(
        dry["errors"],
        json!([{"sheet": "measures", "row": 2, "column": "findings", "message": "no finding EX-2025-01-15#99 (neither in the findings sheet nor in the plan)"}])
    );
    let msg = import_refused(&app, "plan.zip", z).await;
    assert!(
        msg.contains("sheet measures, row 2, column findings"),
        "{msg}"
    );

    // A refusal of the store itself (here a recurring measure without its anchor) rolls back
    // the rows written before it.
    let z = zip_of(&[
        ("regulators.csv", regs.as_bytes()),
        ("measures.csv", "code,title,titleLocal,plan,owner,dueOn,recurrence,anchorOn,graceDays,findings,systems,note\nEX-M-09,New,,,,,MONTHLY,,0,EX-2025-01-15#1,,\n".as_bytes()),
    ]);
    let msg = import_refused(&app, "plan.zip", z).await;
    assert!(
        msg.contains("sheet measures, row 2, column anchorOn: required for a MONTHLY measure"),
        "{msg}"
    );

    // A CSV whose name says no sheet.
    let msg = import_refused(&app, "plan.csv", b"code\nX\n".to_vec()).await;
    assert!(msg.contains("named after its sheet"), "{msg}");

    assert_eq!(counts(&app).await, before, "nothing half-imported");
}

#[tokio::test]
async fn a_million_rows_are_refused_at_the_row_limit_without_reading_them_all() {
    let app = spawn_app().await;
    let before = counts(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("systems.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(f, "code,name,nameLocal,kind,scopeNote,holdsCardData").unwrap();
        for i in 0..1_000_000 {
            writeln!(f, "S{i},n,,INTERNAL,,").unwrap();
        }
    }
    let started = std::time::Instant::now();
    let o = remedy(&app, &["import", path.to_str().unwrap(), "--dry-run"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(
            "sheet systems, row 50002: more than 50000 data rows (REMEDY_IMPORT_MAX_ROWS)"
        ),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // Over GraphQL too (the file is within the upload limit).
    let bytes = std::fs::read(&path).unwrap();
    let msg = import_refused(&app, "systems.csv", bytes).await;
    assert!(msg.contains("sheet systems, row 50002"), "{msg}");
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn shift_jis_and_utf8_bom_csv_keep_japanese_text() {
    let app = spawn_app().await;
    let text = "code,name,nameLocal,kind,scopeNote,holdsCardData\r\nSJ,Front,決済代行の管理画面,ADMIN_SCREEN,カード情報を保持しない,FALSE\r\n";
    let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&sjis).is_err(), "really Shift_JIS");
    let r = import_ok(&app, "systems.csv", sjis.into_owned(), false).await;
    assert_eq!(count_of(&r, "created", "systems"), 1);
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(
        "code,name,nameLocal,kind,scopeNote,holdsCardData\nBOM,Back,多要素認証基盤,INTERNAL,,TRUE\n".as_bytes(),
    );
    import_ok(&app, "Systems.CSV", bom, false).await;
    let s = app
        .query_ok(
            "{ systems { nodes { code nameLocal scopeNote holdsCardData } } }",
            json!({}),
        )
        .await;
    let nodes = s["systems"]["nodes"].as_array().unwrap();
    let sj = nodes.iter().find(|n| n["code"] == "SJ").unwrap();
    assert_eq!(sj["nameLocal"], "決済代行の管理画面");
    assert_eq!(sj["scopeNote"], "カード情報を保持しない");
    let b = nodes.iter().find(|n| n["code"] == "BOM").unwrap();
    assert_eq!(b["nameLocal"], "多要素認証基盤");
    assert_eq!(b["holdsCardData"], true);
}

#[tokio::test]
async fn the_cli_prints_the_plan_in_a_dry_run_applies_it_and_fails_on_errors() {
    let app = spawn_app().await;
    let before = counts(&app).await;
    let path = fixture("plan-template.xlsx");
    let path = path.to_str().unwrap();
    let o = remedy(&app, &["import", path, "--dry-run"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("CREATE    measures   row 2     EX-M-01"),
        "{out}"
    );
    assert_eq!(out.lines().filter(|l| l.starts_with("CREATE")).count(), 10);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("dry run: 10 created, 0 changed, 0 unchanged")
    );
    assert_eq!(counts(&app).await, before, "nothing written");

    let o = remedy(&app, &["import", path]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("imported: 10 created"));
    assert_eq!(counts(&app).await[4], 2);
    let log = app
        .query_ok(
            "{ auditLog(filter: {entity: \"Import\"}) { nodes { actor } } }",
            json!({}),
        )
        .await;
    assert_eq!(log["auditLog"]["nodes"][0]["actor"], "cli:import");

    let o = remedy(&app, &["import", path, "--dry-run"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("UNCHANGED measures   row 2     EX-M-01"));

    // Errors: listed, exit 1, nothing written (a dry run and a real import alike).
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("owners.csv");
    std::fs::write(
        &bad,
        "code,name,nameLocal,kind,roleTitle,contact,account,language,parent\nX1,x,,ROBOT,,,,,\n",
    )
    .unwrap();
    let after = counts(&app).await;
    for dry in [true, false] {
        let mut args = vec!["import", bad.to_str().unwrap()];
        if dry {
            args.push("--dry-run");
        }
        let o = remedy(&app, &args);
        assert!(!o.status.success());
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            all.contains("sheet owners, row 2, column kind: unknown value \"ROBOT\""),
            "{all}"
        );
    }
    assert_eq!(counts(&app).await, after);
}

#[tokio::test]
async fn only_plan_writers_may_import() {
    let app = spawn_app().await;
    for role in [remedy::auth::Role::Viewer, remedy::auth::Role::Reporter] {
        let token = app.token(role, &[]).await;
        let body = upload(&app, &token, "plan-template.xlsx", template(), true).await;
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{role:?}");
    }
    let editor = app.token(remedy::auth::Role::Editor, &[]).await;
    let body = upload(&app, &editor, "plan-template.xlsx", template(), false).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(total(&body["data"]["importPlan"], "created"), 10);
}
