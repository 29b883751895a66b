//! The ledger of recurring measures over HTTP: every period of the schedule from its anchor
//! is DONE, LATE, MISSED, SKIPPED or UPCOMING; a missed period keeps the measure overdue
//! until it is recorded late or skipped (with `plan:approve` and a reason); a recurring
//! measure needs an anchor; on-time rates per measure, owner and order; an evaluator sees
//! the ledgers of its granted orders' measures only.
use chrono::{Datelike, Days, NaiveDate, Utc};
use entity::prelude::*;
use entity::*;
use remedy::auth::Role;
use remedy::id::encode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::*;

const CREATE: &str = "mutation($i: CreateMeasureInput!) { createMeasure(input: $i) { id code version nextDueOn anchorOn graceDays } }";
const RECORD: &str = "mutation($i: RecordOccurrenceInput!) { recordOccurrence(input: $i) { period dueOn doneOn evidence { id } measure { overdue nextDueOn version } } }";
const SKIP: &str =
    "mutation($i: SkipPeriodInput!) { skipPeriod(input: $i) { overdue nextDueOn version } }";
const LEDGER: &str = "query($id: ID!) { node(id: $id) { ... on Measure { code overdue nextDueOn onTimeRate \
    periods(first: 100) { totalCount nodes { period startsOn endsOn dueOn status doneOn doneBy skipReason skippedBy evidence { id } } } } } }";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn label(monday: NaiveDate) -> String {
    let w = monday.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

fn monday_of(d: NaiveDate) -> NaiveDate {
    d - Days::new(u64::from(d.weekday().num_days_from_monday()))
}

/// The weeks of a weekly schedule anchored at `anchor` begun by today, as the test computes
/// them: (label, Friday).
fn weeks_from(anchor: NaiveDate) -> Vec<(String, NaiveDate)> {
    let mut out = Vec::new();
    let mut monday = monday_of(anchor);
    while monday <= today() {
        let friday = monday + Days::new(4);
        if friday >= anchor {
            out.push((label(monday), friday));
        }
        monday = monday + Days::new(7);
    }
    out
}

async fn finding_of(app: &TestApp, reference: &str) -> String {
    let order = RegulatoryOrder::find()
        .filter(regulatory_order::Column::Reference.eq(reference))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let f = Finding::find()
        .filter(finding::Column::OrderId.eq(order.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    encode("Finding", f.id).0
}

async fn measure_gid(app: &TestApp, code: &str) -> String {
    let m = Measure::find()
        .filter(measure::Column::Code.eq(code))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    encode("Measure", m.id).0
}

async fn ledger(app: &TestApp, id: &str) -> Value {
    app.query_ok(LEDGER, json!({ "id": id })).await["node"].clone()
}

fn statuses(m: &Value) -> Vec<(String, String)> {
    m["periods"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["period"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn weekly(app: &TestApp, code: &str, finding: &str, anchor: NaiveDate) -> String {
    let data = app
        .query_ok(
            CREATE,
            json!({"i": {"code": code, "title": "Weekly log review", "findingIds": [finding],
                         "recurrence": "WEEKLY", "anchorOn": anchor.to_string()}}),
        )
        .await;
    data["createMeasure"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_weekly_duty_with_missed_weeks_stays_overdue_until_each_is_recorded_late_or_skipped() {
    let app = spawn_demo_app().await;
    let finding = finding_of(&app, "METI-2022-06-30").await;
    let anchor = today() - Days::new(35);
    let id = weekly(&app, "L-1", &finding, anchor).await;
    let weeks = weeks_from(anchor);
    let this_week = label(monday_of(today()));
    // The weeks come due before this one (on a weekend this week has come due too).
    let due: Vec<&(String, NaiveDate)> = weeks
        .iter()
        .filter(|(l, f)| *f < today() && *l != this_week)
        .collect();
    assert!(due.len() >= 4, "{weeks:?}");

    // Newest first: every week come due is MISSED, the current one UPCOMING.
    let m = ledger(&app, &id).await;
    assert_eq!(m["periods"]["totalCount"], weeks.len());
    let expected: Vec<(String, String)> = weeks
        .iter()
        .rev()
        .map(|(l, f)| {
            let s = if *f < today() { "MISSED" } else { "UPCOMING" };
            (l.clone(), s.to_string())
        })
        .collect();
    assert_eq!(statuses(&m), expected);
    assert_eq!(m["overdue"], true);
    assert_eq!(m["nextDueOn"], due[0].1.to_string());
    assert_eq!(m["onTimeRate"], 0.0);

    // This week's review recorded: still overdue, still due since the first missed week.
    let r = app
        .query_ok(
            RECORD,
            json!({"i": {"measureId": id, "period": this_week, "doneOn": today().to_string()}}),
        )
        .await;
    assert_eq!(r["recordOccurrence"]["measure"]["overdue"], true);
    assert_eq!(
        r["recordOccurrence"]["measure"]["nextDueOn"],
        due[0].1.to_string()
    );

    // The first missed week recorded late: LATE; the others skipped by an approver.
    app.query_ok(
        RECORD,
        json!({"i": {"measureId": id, "period": due[0].0, "doneOn": today().to_string()}}),
    )
    .await;
    let mut last = Value::Null;
    for (l, _) in &due[1..] {
        last = app
            .query_ok(
                SKIP,
                json!({"i": {"measureId": id, "period": l, "reason": "Log pipeline migration week (approved)"}}),
            )
            .await["skipPeriod"]
            .clone();
    }
    // Nothing is missing any more: not overdue, next due at the end of the first week
    // neither recorded nor skipped.
    assert_eq!(last["overdue"], false, "{last}");
    let next = weeks
        .iter()
        .map(|(l, f)| (l.clone(), *f))
        .chain((1..3).map(|i| {
            let monday = monday_of(today()) + Days::new(7 * i);
            (label(monday), monday + Days::new(4))
        }))
        .find(|(l, _)| *l != this_week && *l != due[0].0 && !due[1..].iter().any(|d| d.0 == *l))
        .unwrap();
    assert_eq!(last["nextDueOn"], next.1.to_string());
    let m = ledger(&app, &id).await;
    let got = statuses(&m);
    for (l, s) in &got {
        let want = if *l == due[0].0 {
            "LATE"
        } else if due[1..].iter().any(|d| d.0 == *l) {
            "SKIPPED"
        } else if *l == this_week {
            if monday_of(today()) + Days::new(4) < today() {
                "LATE"
            } else {
                "DONE"
            }
        } else {
            "UPCOMING"
        };
        assert_eq!(s, want, "{l}: {got:?}");
    }
    let skipped = m["periods"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] == "SKIPPED")
        .unwrap()
        .clone();
    assert_eq!(
        skipped["skipReason"],
        "Log pipeline migration week (approved)"
    );
    assert!(skipped["skippedBy"].as_str().is_some());
    // On time: nothing come due was recorded on time (this week is not yet due, or late).
    assert_eq!(m["onTimeRate"], 0.0);

    // Audited, versioned, and on the order's timeline.
    assert_eq!(
        remedy::audit::verify(&app.db).await.unwrap().first_broken,
        None
    );
    assert_eq!(remedy::service::history::verify(&app.db).await.unwrap(), []);
    let t = app
        .query_ok(
            "{ orderByReference(reference: \"METI-2022-06-30\") { timeline(first: 100) { nodes { kind summary } } } }",
            json!({}),
        )
        .await;
    let skips = t["orderByReference"]["timeline"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("L-1 skip_period by "))
        })
        .count();
    assert_eq!(skips, due.len() - 1);
}

#[tokio::test]
async fn the_demo_log_review_forgets_no_week_and_the_application_inventory_comes_due() {
    let app = spawn_demo_app().await;
    let m13 = measure_gid(&app, "M-13").await;
    // Recorded through 2022-W47 (the plan's date); every week since has come due unrecorded.
    let this_week = label(monday_of(today()));
    let r = app
        .query_ok(
            RECORD,
            json!({"i": {"measureId": m13, "period": this_week, "doneOn": today().to_string()}}),
        )
        .await;
    assert_eq!(r["recordOccurrence"]["measure"]["overdue"], true);
    assert_eq!(r["recordOccurrence"]["measure"]["nextDueOn"], "2022-12-02");
    let missed = weeks_from("2022-11-28".parse().unwrap())
        .iter()
        .filter(|(_, f)| *f < today())
        .count();
    assert!(missed > 200, "{missed}");
    let data = app
        .query_ok(
            "query($id: ID!) { node(id: $id) { ... on Measure { anchorOn periods(first: 1) { totalCount } } } }",
            json!({"id": m13}),
        )
        .await;
    assert_eq!(data["node"]["anchorOn"], "2022-04-30");
    // From 2022-W18 (Friday 2022-05-06, the first after the anchor) to this week.
    let total = weeks_from("2022-04-30".parse().unwrap()).len();
    assert_eq!(data["node"]["periods"]["totalCount"], total);
    let d = app
        .query_ok("{ progress { periodsMissed } }", json!({}))
        .await;
    assert!(d["progress"]["periodsMissed"].as_u64().unwrap() >= missed as u64);

    // M-18 (quarterly application inventory: a commitment in the 2022-08-01 status report,
    // the operational framework complete within the year by the 2022-11-29 notice, no run
    // reported): not late on the plan's date, overdue since 2022-Q4 came due unrecorded.
    let q = "query($d: NaiveDate) { overdueMeasures(asOf: $d, first: 100) { nodes { code nextDueOn } } }";
    let codes = |data: &Value| -> Vec<(String, Value)> {
        data["overdueMeasures"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["code"].as_str().unwrap().to_string(),
                    n["nextDueOn"].clone(),
                )
            })
            .collect()
    };
    let then = codes(&app.query_ok(q, json!({"d": "2022-11-29"})).await);
    assert!(then.is_empty(), "{then:?}");
    let now = codes(&app.query_ok(q, json!({"d": null})).await);
    assert!(
        now.contains(&("M-18".to_string(), json!("2022-12-31"))),
        "{now:?}"
    );
    assert!(
        now.contains(&("M-13".to_string(), json!("2022-12-02"))),
        "{now:?}"
    );
}

#[tokio::test]
async fn skipping_needs_plan_approve_and_a_reason_and_recording_stays_within_the_schedule() {
    let app = spawn_demo_app().await;
    let finding = finding_of(&app, "METI-2022-06-30").await;
    let anchor = today() - Days::new(21);
    let id = weekly(&app, "L-2", &finding, anchor).await;
    let weeks = weeks_from(anchor);
    let first = weeks[0].0.clone();
    let editor = app.token(Role::Editor, &[]).await;
    let (_, body) = app
        .graphql_as(
            Some(&editor),
            SKIP,
            json!({"i": {"measureId": id, "period": first, "reason": "holiday"}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("requires plan:approve"),
        "{body}"
    );
    let viewer = app.token(Role::Viewer, &[]).await;
    let (_, body) = app
        .graphql_as(
            Some(&viewer),
            SKIP,
            json!({"i": {"measureId": id, "period": first, "reason": "holiday"}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    for reason in ["", "   "] {
        let (_, body) = app
            .graphql(
                SKIP,
                json!({"i": {"measureId": id, "period": first, "reason": reason}}),
            )
            .await;
        assert_eq!(error_codes(&body), ["VALIDATION"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "reason");
    }
    // A stale version is refused.
    let (_, body) = app
        .graphql(
            SKIP,
            json!({"i": {"measureId": id, "period": first, "reason": "holiday", "expectedVersion": 99}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
    // Outside the schedule: before the anchor's first week, or not begun.
    let before = label(monday_of(anchor) - Days::new(14));
    let ahead = label(monday_of(today()) + Days::new(14));
    for period in [&before, &ahead] {
        for q in [SKIP, RECORD] {
            let i = if q == SKIP {
                json!({"measureId": id, "period": period, "reason": "r"})
            } else {
                json!({"measureId": id, "period": period, "doneOn": today().to_string()})
            };
            let (_, body) = app.graphql(q, json!({ "i": i })).await;
            assert_eq!(error_codes(&body), ["VALIDATION"], "{period}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], "period");
        }
    }
    // Skipped once: not again, and not recorded.
    app.query_ok(
        SKIP,
        json!({"i": {"measureId": id, "period": first, "reason": "holiday"}}),
    )
    .await;
    let (_, body) = app
        .graphql(
            SKIP,
            json!({"i": {"measureId": id, "period": first, "reason": "holiday"}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
    let (_, body) = app
        .graphql(
            RECORD,
            json!({"i": {"measureId": id, "period": first, "doneOn": today().to_string()}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "period");
    // A recorded period is not skipped; the evidence of a run is the measure's own.
    let second = weeks[1].0.clone();
    let other = measure_gid(&app, "M-16").await;
    let foreign = app
        .query_ok(
            "mutation($i: EvidenceInput!, $d: ExternalDocumentInput!) { registerEvidence(input: $i, document: $d) { id } }",
            json!({"i": {"measureId": other, "kind": "OTHER", "title": "Other measure's record"},
                   "d": {"storageUri": "https://dms.example/o.pdf", "sha256": "b".repeat(64), "mediaType": "application/pdf", "sizeBytes": 1}}),
        )
        .await["registerEvidence"]["id"]
        .clone();
    let (_, body) = app
        .graphql(
            RECORD,
            json!({"i": {"measureId": id, "period": second, "doneOn": today().to_string(), "evidenceId": foreign}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "evidenceId");
    let own = app
        .query_ok(
            "mutation($i: EvidenceInput!, $d: ExternalDocumentInput!) { registerEvidence(input: $i, document: $d) { id } }",
            json!({"i": {"measureId": id, "kind": "OTHER", "title": "Log review minutes"},
                   "d": {"storageUri": "https://dms.example/l.pdf", "sha256": "c".repeat(64), "mediaType": "application/pdf", "sizeBytes": 1}}),
        )
        .await["registerEvidence"]["id"]
        .clone();
    let r = app
        .query_ok(
            RECORD,
            json!({"i": {"measureId": id, "period": second, "doneOn": today().to_string(), "evidenceId": own}}),
        )
        .await;
    assert_eq!(r["recordOccurrence"]["evidence"]["id"], own);
    let m = ledger(&app, &id).await;
    let p = m["periods"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["period"] == second.as_str())
        .unwrap()
        .clone();
    assert_eq!(p["evidence"]["id"], own);
    assert_eq!(p["status"], "LATE");
    let (_, body) = app
        .graphql(
            SKIP,
            json!({"i": {"measureId": id, "period": second, "reason": "r"}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"], "{body}");
}

#[tokio::test]
async fn a_recurring_measure_needs_an_anchor_and_a_sane_grace() {
    let app = spawn_demo_app().await;
    let finding = finding_of(&app, "METI-2022-06-30").await;
    let refused = |input: Value, field: &'static str| {
        let app = &app;
        async move {
            let (_, body) = app.graphql(CREATE, json!({ "i": input })).await;
            assert_eq!(error_codes(&body), ["VALIDATION"], "{body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
    };
    refused(
        json!({"code": "A-1", "title": "t", "findingIds": [finding], "recurrence": "QUARTERLY"}),
        "anchorOn",
    )
    .await;
    refused(
        json!({"code": "A-2", "title": "t", "findingIds": [finding], "recurrence": "WEEKLY", "anchorOn": "2022-01-01", "graceDays": -1}),
        "graceDays",
    )
    .await;
    refused(
        json!({"code": "A-3", "title": "t", "findingIds": [finding], "anchorOn": "2022-01-01"}),
        "anchorOn",
    )
    .await;
    // With an anchor and grace: the first quarter ends 2022-03-31, due 5 days later.
    let data = app
        .query_ok(
            CREATE,
            json!({"i": {"code": "A-4", "title": "t", "findingIds": [finding], "recurrence": "QUARTERLY", "anchorOn": "2022-02-10", "graceDays": 5}}),
        )
        .await;
    assert_eq!(data["createMeasure"]["nextDueOn"], "2022-04-05");
    assert_eq!(data["createMeasure"]["graceDays"], 5);
    // A one-off measure made recurring needs an anchor too.
    let one_off = app
        .query_ok(
            CREATE,
            json!({"i": {"code": "A-5", "title": "t", "findingIds": [finding]}}),
        )
        .await["createMeasure"]
        .clone();
    let update = "mutation($id: ID!, $v: Int!, $i: UpdateMeasureInput!) { updateMeasure(id: $id, version: $v, input: $i) { recurrence anchorOn nextDueOn } }";
    let (_, body) = app
        .graphql(
            update,
            json!({"id": one_off["id"], "v": one_off["version"], "i": {"recurrence": "MONTHLY"}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["VALIDATION"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "anchorOn");
    let data = app
        .query_ok(
            update,
            json!({"id": one_off["id"], "v": one_off["version"], "i": {"recurrence": "MONTHLY", "anchorOn": "2022-11-15"}}),
        )
        .await;
    assert_eq!(data["updateMeasure"]["nextDueOn"], "2022-11-30");
}

/// Monthly periods: (label, last day) of the month `back` months before this one.
fn month_back(back: u32) -> (String, NaiveDate) {
    let t = today();
    let index = t.year() * 12 + t.month0() as i32 - back as i32;
    let (y, m0) = (index.div_euclid(12), index.rem_euclid(12) as u32);
    let first = NaiveDate::from_ymd_opt(y, m0 + 1, 1).unwrap();
    let next = first.checked_add_months(chrono::Months::new(1)).unwrap();
    (format!("{y}-{:02}", m0 + 1), next.pred_opt().unwrap())
}

#[tokio::test]
async fn on_time_rates_per_measure_owner_and_order() {
    let app = spawn_app().await;
    let reg = app
        .query_ok("mutation { createRegulator(input: {code: \"FSA\", name: \"FSA\", kind: FINANCIAL_AUTHORITY}) { id } }", json!({}))
        .await["createRegulator"]["id"]
        .clone();
    let order = app
        .query_ok(
            "mutation($r: ID!) { createOrder(input: {regulatorId: $r, kind: IMPROVEMENT_ORDER, reference: \"FSA-1\", title: \"Order\", issuedOn: \"2020-01-10\"}) { id } }",
            json!({"r": reg}),
        )
        .await["createOrder"]["id"]
        .clone();
    let finding = app
        .query_ok(
            "mutation($o: ID!) { createFinding(input: {orderId: $o, category: TECHNICAL, number: \"1\", title: \"t\", facts: \"f\", directive: \"d\"}) { id } }",
            json!({"o": order}),
        )
        .await["createFinding"]["id"]
        .clone();
    let owner = app
        .query_ok("mutation { createOwner(input: {code: \"secops\", name: \"SecOps\", kind: DEPARTMENT}) { id } }", json!({}))
        .await["createOwner"]["id"]
        .clone();
    // Monthly since six months ago: one on time, one late, one skipped, three missed.
    let (_, start) = month_back(6);
    let anchor = start.with_day(1).unwrap();
    let monthly = app
        .query_ok(
            CREATE,
            json!({"i": {"code": "R-1", "title": "Monthly scan", "findingIds": [finding], "ownerId": owner, "recurrence": "MONTHLY", "anchorOn": anchor.to_string()}}),
        )
        .await["createMeasure"]["id"]
        .clone();
    let months: Vec<(String, NaiveDate)> = (1..=6).rev().map(month_back).collect();
    app.query_ok(RECORD, json!({"i": {"measureId": monthly, "period": months[0].0, "doneOn": months[0].1.to_string()}})).await;
    app.query_ok(
        RECORD,
        json!({"i": {"measureId": monthly, "period": months[1].0, "doneOn": today().to_string()}}),
    )
    .await;
    app.query_ok(
        SKIP,
        json!({"i": {"measureId": monthly, "period": months[2].0, "reason": "system frozen"}}),
    )
    .await;
    let (m_done, m_late, m_missed) = (1u64, 1u64, 3u64);
    // Weekly since five weeks ago: the first on time, the second late, the rest missed.
    let wanchor = monday_of(today()) - Days::new(35);
    let weekly_id = app
        .query_ok(
            CREATE,
            json!({"i": {"code": "R-2", "title": "Weekly review", "findingIds": [finding], "ownerId": owner, "recurrence": "WEEKLY", "anchorOn": wanchor.to_string()}}),
        )
        .await["createMeasure"]["id"]
        .clone();
    let weeks: Vec<(String, NaiveDate)> = weeks_from(wanchor)
        .into_iter()
        .filter(|(_, f)| *f < today())
        .collect();
    app.query_ok(RECORD, json!({"i": {"measureId": weekly_id, "period": weeks[0].0, "doneOn": weeks[0].1.to_string()}})).await;
    app.query_ok(
        RECORD,
        json!({"i": {"measureId": weekly_id, "period": weeks[1].0, "doneOn": today().to_string()}}),
    )
    .await;
    let (w_done, w_late, w_missed) = (1u64, 1u64, weeks.len() as u64 - 2);
    let rate = |d: u64, l: u64, m: u64| (d as f64 * 1000.0 / (d + l + m) as f64).round() / 10.0;

    let m = ledger(&app, monthly.as_str().unwrap()).await;
    assert_eq!(m["onTimeRate"], rate(m_done, m_late, m_missed), "{m}");
    let w = ledger(&app, weekly_id.as_str().unwrap()).await;
    assert_eq!(w["onTimeRate"], rate(w_done, w_late, w_missed), "{w}");
    let (d, l, x) = (m_done + w_done, m_late + w_late, m_missed + w_missed);
    let data = app
        .query_ok(
            "query($o: ID!) { node(id: $o) { ... on Owner { workload { periodsDone periodsLate periodsMissed onTimeRate } } } }",
            json!({"o": owner}),
        )
        .await;
    assert_eq!(
        data["node"]["workload"],
        json!({"periodsDone": d, "periodsLate": l, "periodsMissed": x, "onTimeRate": rate(d, l, x)})
    );
    let data = app
        .query_ok(
            "{ progress { periodsDone periodsLate periodsMissed onTimeRate orders { periodsDone periodsLate periodsMissed onTimeRate } regulators { onTimeRate } } }",
            json!({}),
        )
        .await;
    let want = json!({"periodsDone": d, "periodsLate": l, "periodsMissed": x, "onTimeRate": rate(d, l, x)});
    let p = &data["progress"];
    assert_eq!(p["orders"][0], want);
    assert_eq!(p["periodsDone"], d);
    assert_eq!(p["periodsMissed"], x);
    assert_eq!(p["regulators"][0]["onTimeRate"], rate(d, l, x));
}

#[tokio::test]
async fn an_evaluator_sees_the_ledgers_of_its_granted_orders_only() {
    let app = spawn_demo_app().await;
    let evaluator = app.token(Role::Evaluator, &["METI-2022-06-30"]).await;
    // M-13 answers both orders; M-23 answers the PPC guidance only.
    let q = "query($id: ID!) { node(id: $id) { ... on Measure { code periods(first: 2) { totalCount nodes { period status } } } } }";
    let m13 = measure_gid(&app, "M-13").await;
    let (_, body) = app
        .graphql_as(Some(&evaluator), q, json!({"id": m13}))
        .await;
    assert!(
        body["data"]["node"]["periods"]["totalCount"]
            .as_u64()
            .unwrap()
            > 200,
        "{body}"
    );
    let m23 = measure_gid(&app, "M-23").await;
    let (_, body) = app
        .graphql_as(Some(&evaluator), q, json!({"id": m23}))
        .await;
    assert_eq!(body["data"]["node"], Value::Null, "{body}");
    // Skips of an ungranted measure: neither made nor seen.
    let (_, body) = app
        .graphql_as(
            Some(&evaluator),
            SKIP,
            json!({"i": {"measureId": m23, "period": "2022-W40", "reason": "r"}}),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    // The dashboard's period figures count the granted order's measures only.
    let all = app
        .query_ok("{ progress { periodsMissed periodsDone } }", json!({}))
        .await;
    let scoped = app
        .query_ok_as(&evaluator, "{ progress { periodsMissed periodsDone } }")
        .await;
    assert!(
        scoped["progress"]["periodsDone"].as_u64().unwrap()
            < all["progress"]["periodsDone"].as_u64().unwrap(),
        "{scoped} {all}"
    );
}

/// Upgrading a plan recorded before the ledger: every recurring measure gets an anchor (its
/// start, else its completion, else its orders' date), and every measure a version as it
/// stands after the backfill, so each live row equals its latest version.
#[tokio::test]
async fn the_ledger_migration_anchors_existing_recurring_measures_and_versions_them() {
    use migration::{Migrator, MigratorTrait};
    let app = spawn_demo_app().await;
    // Down to before the ledger (the migrations after it first), then up again.
    let steps = Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name() == "m20261203_000001_ledger")
        .unwrap()
        + 1;
    Migrator::down(&app.db, Some(steps as u32)).await.unwrap();
    Migrator::up(&app.db, None).await.unwrap();
    let measures = Measure::find().all(&app.db).await.unwrap();
    for m in &measures {
        if m.recurrence == entity::enums::Recurrence::None {
            assert_eq!(m.anchor_on, None, "{}", m.code);
        } else {
            let want = m.started_on.or(m.completed_on);
            assert!(m.anchor_on.is_some(), "{} has no anchor", m.code);
            if want.is_some() {
                assert_eq!(m.anchor_on, want, "{}", m.code);
            }
        }
        assert_eq!(m.grace_days, 0);
    }
    // The events recorded before were written with the ledger's columns and lost them in the
    // round trip down and up; what the upgrade owes is that the rows equal their versions.
    let rows: Vec<_> = remedy::service::history::verify(&app.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| !d.problem.contains("differs from audit event"))
        .collect();
    assert_eq!(rows, []);
}

/// The issue's case: a weekly measure started 10 weeks ago with 6 runs recorded shows 4
/// MISSED weeks and is overdue; recording the latest week does not clear it; skipping the 4
/// (by an approver, with a reason) does.
#[tokio::test]
async fn ten_weeks_with_six_runs_show_four_missed_until_they_are_skipped() {
    let app = spawn_demo_app().await;
    let finding = finding_of(&app, "PPC-2022-07-13").await;
    let anchor = monday_of(today()) - Days::new(70);
    let id = weekly(&app, "LED-10", &finding, anchor).await;
    let weeks = weeks_from(anchor);
    let (first_ten, rest) = weeks.split_at(10);
    // Runs on time for weeks 1, 3, 5, 7, 9, 10; weeks 2, 4, 6, 8 missed. A week after the
    // tenth that has come due (at a weekend) is recorded too.
    let missed: Vec<&(String, NaiveDate)> =
        [1usize, 3, 5, 7].iter().map(|i| &first_ten[*i]).collect();
    let mut runs = 0;
    for (l, friday) in first_ten
        .iter()
        .chain(rest.iter().filter(|(_, f)| *f < today()))
    {
        if missed.iter().any(|m| m.0 == *l) {
            continue;
        }
        app.query_ok(
            RECORD,
            json!({"i": {"measureId": id, "period": l, "doneOn": friday.to_string()}}),
        )
        .await;
        runs += 1;
    }
    assert!(runs >= 6);
    let m = ledger(&app, &id).await;
    let got = statuses(&m);
    let missed_now: Vec<&str> = got
        .iter()
        .filter(|(_, s)| s == "MISSED")
        .map(|(l, _)| l.as_str())
        .collect();
    assert_eq!(missed_now.len(), 4, "{got:?}");
    for w in &missed {
        assert!(missed_now.contains(&w.0.as_str()), "{got:?}");
    }
    assert_eq!(got.iter().filter(|(_, s)| s == "DONE").count(), runs);
    assert_eq!(m["overdue"], true);
    assert_eq!(m["nextDueOn"], missed[0].1.to_string());

    // The latest week recorded: still overdue.
    let latest = weeks.last().unwrap();
    if latest.1 >= today() {
        let r = app
            .query_ok(
                RECORD,
                json!({"i": {"measureId": id, "period": latest.0, "doneOn": today().to_string()}}),
            )
            .await;
        assert_eq!(r["recordOccurrence"]["measure"]["overdue"], true);
    }
    assert_eq!(ledger(&app, &id).await["overdue"], true);

    // The four skipped by an approver with a reason: no longer overdue.
    let approver = app.token(Role::Auditor, &[]).await;
    let mut last = Value::Null;
    for (l, _) in &missed {
        let (status, body) = app
            .graphql_as(
                Some(&approver),
                SKIP,
                json!({"i": {"measureId": id, "period": l, "reason": "Log source offline (approved)"}}),
            )
            .await;
        assert_eq!(status, 200);
        assert!(body.get("errors").is_none(), "{body}");
        last = body["data"]["skipPeriod"].clone();
    }
    assert_eq!(last["overdue"], false, "{last}");
    let got = statuses(&ledger(&app, &id).await);
    assert_eq!(
        got.iter().filter(|(_, s)| s == "SKIPPED").count(),
        4,
        "{got:?}"
    );
    assert_eq!(
        got.iter().filter(|(_, s)| s == "MISSED").count(),
        0,
        "{got:?}"
    );
}
