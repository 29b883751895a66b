//! The report as an OSCAL 1.1.3 Plan of Action and Milestones (JSON).
//!
//! Each finding is an observation (its facts) and a finding (its directive, satisfied once
//! every measure answering it is done on the date); each measure is a risk (its status,
//! deadline and milestones as remediation tasks) and a poam-item pointing at them; each
//! evidence document is a back-matter resource with its SHA-256. Every UUID is a v5 UUID of
//! a stable key (order reference, date, finding key, measure code, SHA-256), and object keys
//! are written sorted, so the same data gives the same bytes.
use std::collections::BTreeMap;

use chrono::NaiveDate;
use entity::enums::MeasureStatus;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{status_label, FindingRow, MeasureRow, ReportData};

/// The OSCAL version the output follows (and the vendored schema describes).
pub const OSCAL_VERSION: &str = "1.1.3";
/// The namespace of remedy's own property names.
pub const NS: &str = "https://remedy.invalid/ns/oscal";

fn uuid(kind: &str, parts: &[&str]) -> String {
    let ns = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:remedy:oscal-poam");
    Uuid::new_v5(&ns, format!("{kind}:{}", parts.join("\u{1f}")).as_bytes()).to_string()
}

fn datetime(d: NaiveDate) -> String {
    format!("{d}T00:00:00Z")
}

/// OSCAL strings may not start or end with whitespace and may not be empty.
fn text(s: &str) -> String {
    let t = s.trim();
    if t.is_empty() {
        "-".to_string()
    } else {
        t.to_string()
    }
}

fn prop(name: &str, value: &str) -> Value {
    json!({ "name": name, "ns": NS, "value": text(value) })
}

fn done(s: MeasureStatus) -> bool {
    matches!(s, MeasureStatus::Implemented | MeasureStatus::Verified)
}

fn risk_status(s: MeasureStatus) -> &'static str {
    match s {
        MeasureStatus::Planned => "open",
        MeasureStatus::InProgress => "remediating",
        MeasureStatus::Implemented | MeasureStatus::Verified => "closed",
        MeasureStatus::Deferred => "deviation-requested",
        MeasureStatus::Cancelled => "deviation-approved",
    }
}

fn finding_uuid(data: &ReportData, f: &str) -> String {
    uuid("finding", &[&data.order.reference, f])
}

fn observation_uuid(data: &ReportData, f: &str) -> String {
    uuid("observation", &[&data.order.reference, f])
}

fn risk_uuid(data: &ReportData, m: &str) -> String {
    uuid("risk", &[&data.order.reference, m])
}

fn resource_uuid(data: &ReportData, m: &str, sha: &str) -> String {
    uuid("resource", &[&data.order.reference, m, sha])
}

fn observation(data: &ReportData, f: &FindingRow) -> Value {
    let mut description = f.facts.trim().to_string();
    if let Some(en) = &f.facts_en {
        description.push_str("\n\n");
        description.push_str(en.trim());
    }
    json!({
        "uuid": observation_uuid(data, &f.key()),
        "title": text(&format!("{} {}", f.key(), f.title)),
        "description": text(&description),
        "methods": ["EXAMINE"],
        "types": ["finding"],
        "collected": datetime(data.order.issued_on),
    })
}

fn finding(data: &ReportData, f: &FindingRow) -> Value {
    let measures: Vec<&MeasureRow> = data
        .measures
        .iter()
        .filter(|m| f.measures.contains(&m.code))
        .collect();
    let satisfied = !measures.is_empty() && measures.iter().all(|m| done(m.status));
    let mut directive = f.directive.trim().to_string();
    if let Some(en) = &f.directive_en {
        directive.push_str("\n\n");
        directive.push_str(en.trim());
    }
    let mut v = json!({
        "uuid": finding_uuid(data, &f.key()),
        "title": text(&format!("{} {}", f.key(), f.title)),
        "description": text(&directive),
        "props": [
            prop("category", f.category.as_str()),
            prop("finding-number", &f.number),
        ],
        "target": {
            "type": "statement-id",
            "target-id": f.key(),
            "title": text(&f.title),
            "status": { "state": if satisfied { "satisfied" } else { "not-satisfied" } },
        },
        "related-observations": [{ "observation-uuid": observation_uuid(data, &f.key()) }],
    });
    if !measures.is_empty() {
        v["related-risks"] = measures
            .iter()
            .map(|m| json!({ "risk-uuid": risk_uuid(data, &m.code) }))
            .collect();
    }
    v
}

fn milestone(data: &ReportData, m: &MeasureRow, what: &str, title: &str, on: NaiveDate) -> Value {
    json!({
        "uuid": uuid("task", &[&data.order.reference, &m.code, what]),
        "type": "milestone",
        "title": title,
        "timing": { "on-date": { "date": datetime(on) } },
    })
}

fn risk(data: &ReportData, m: &MeasureRow) -> Value {
    let directives: Vec<String> = data
        .findings
        .iter()
        .filter(|f| m.findings.contains(&f.key()))
        .map(|f| format!("{}: {}", f.key(), f.directive.trim()))
        .collect();
    let mut tasks = Vec::new();
    if let Some(d) = m.started_on {
        tasks.push(milestone(data, m, "started", "着手 / Started", d));
    }
    // A due date that moved shows the original commitment and the revised date.
    match (m.original_due_on, m.due_on) {
        (Some(o), Some(d)) if o != d => {
            tasks.push(milestone(
                data,
                m,
                "original-due",
                "当初期限 / Original due",
                o,
            ));
            tasks.push(milestone(data, m, "due", "変更後の期限 / Revised due", d));
        }
        (_, Some(d)) => tasks.push(milestone(data, m, "due", "期限 / Due", d)),
        _ => {}
    }
    if let Some(d) = m.completed_on {
        tasks.push(milestone(data, m, "completed", "完了 / Completed", d));
    }
    let mut remediation = json!({
        "uuid": uuid("remediation", &[&data.order.reference, &m.code]),
        "lifecycle": if done(m.status) { "completed" } else { "planned" },
        "title": text(m.title_local.as_deref().unwrap_or(&m.title)),
        "description": text(m.plan.as_deref().unwrap_or(&m.title)),
    });
    if !tasks.is_empty() {
        remediation["tasks"] = Value::Array(tasks);
    }
    let mut v = json!({
        "uuid": risk_uuid(data, &m.code),
        "title": text(&format!("{} {}", m.code, m.title)),
        "description": text(m.plan.as_deref().unwrap_or(&m.title)),
        "statement": text(&directives.join("\n\n")),
        "props": [prop("measure-status", m.status.as_str())],
        "status": risk_status(m.status),
        "remediations": [remediation],
    });
    if let Some(d) = m.due_on {
        v["deadline"] = Value::String(datetime(d));
    }
    v
}

fn poam_item(data: &ReportData, m: &MeasureRow) -> Value {
    let mut props = vec![
        prop("measure-code", &m.code),
        prop("measure-status", m.status.as_str()),
        prop("overdue", if m.overdue { "true" } else { "false" }),
        prop("recurrence", m.recurrence.as_str()),
        prop("times-moved", &m.times_moved.to_string()),
    ];
    if let Some(o) = &m.owner {
        props.push(prop("owner", &o.code));
    }
    let mut v = json!({
        "uuid": uuid("poam-item", &[&data.order.reference, &m.code]),
        "title": text(&format!("{} {}", m.code, m.title)),
        "description": text(m.plan.as_deref().unwrap_or(&m.title)),
        "props": props,
        "related-risks": [{ "risk-uuid": risk_uuid(data, &m.code) }],
    });
    if !m.findings.is_empty() {
        v["related-findings"] = m
            .findings
            .iter()
            .map(|f| json!({ "finding-uuid": finding_uuid(data, f) }))
            .collect();
        v["related-observations"] = m
            .findings
            .iter()
            .map(|f| json!({ "observation-uuid": observation_uuid(data, f) }))
            .collect();
    }
    if !m.evidence.is_empty() {
        v["links"] = m
            .evidence
            .iter()
            .map(|e| {
                json!({
                    "href": format!("#{}", resource_uuid(data, &m.code, &e.sha256)),
                    "rel": "evidence",
                })
            })
            .collect();
    }
    let mut remarks = vec![format!(
        "{} — {}",
        status_label(m.status),
        if let Some(o) = &m.owner {
            o.name_local.clone().unwrap_or_else(|| o.name.clone())
        } else {
            "-".to_string()
        }
    )];
    for e in &m.evaluations {
        remarks.push(format!(
            "{} {}: {}{}",
            e.evaluated_on,
            e.evaluator,
            e.verdict,
            e.comment
                .as_ref()
                .map(|c| format!(" — {}", c.trim()))
                .unwrap_or_default()
        ));
    }
    v["remarks"] = Value::String(text(&remarks.join("\n\n")));
    v
}

fn resources(data: &ReportData) -> Vec<Value> {
    let mut out = Vec::new();
    for m in &data.measures {
        for e in &m.evidence {
            let mut props = vec![
                prop("measure-code", &m.code),
                prop("evidence-kind", &e.kind),
                prop("superseded", if e.superseded { "true" } else { "false" }),
            ];
            if let Some(d) = e.issued_on {
                props.push(prop("issued-on", &d.to_string()));
            }
            if let Some(d) = e.valid_until {
                props.push(prop("valid-until", &d.to_string()));
            }
            if let Some(s) = &e.supersedes {
                props.push(prop("supersedes-sha256", s));
            }
            let href = e
                .storage_uri
                .clone()
                .unwrap_or_else(|| format!("urn:remedy:evidence:sha256:{}", e.sha256));
            let mut r = json!({
                "uuid": resource_uuid(data, &m.code, &e.sha256),
                "title": text(&e.title),
                "props": props,
                "rlinks": [{
                    "href": href,
                    "media-type": e.media_type,
                    "hashes": [{ "algorithm": "SHA-256", "value": e.sha256 }],
                }],
            });
            if let Some(by) = &e.issued_by {
                r["description"] = Value::String(text(by));
            }
            out.push(r);
        }
    }
    out
}

/// The POA&M document as a JSON value.
pub fn document(data: &ReportData) -> Value {
    let o = &data.order;
    let mut metadata = json!({
        "title": text(&format!(
            "改善策の実施状況 / Remediation POA&M: {} as of {}",
            o.reference, data.as_of
        )),
        "last-modified": datetime(data.as_of),
        "version": data.as_of.to_string(),
        "oscal-version": OSCAL_VERSION,
        "props": [
            prop("order-reference", &o.reference),
            prop("regulator", &o.regulator_code),
            prop("as-of", &data.as_of.to_string()),
        ],
    });
    let mut remarks = Vec::new();
    if data.findings.is_empty() && data.measures.is_empty() {
        remarks.push(format!("No findings or measures as of {}.", data.as_of));
    }
    for e in &data.report_evaluations {
        remarks.push(format!(
            "{} {}{}: {}",
            e.evaluated_on,
            e.evaluator,
            e.report
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            e.verdict
        ));
    }
    if !remarks.is_empty() {
        metadata["remarks"] = Value::String(remarks.join("\n\n"));
    }
    let mut poam = json!({
        "uuid": uuid("poam", &[&o.reference, &data.as_of.to_string()]),
        "metadata": metadata,
        "system-id": {
            "identifier-type": "https://remedy.invalid/ns/order-reference",
            "id": o.reference,
        },
        "poam-items": data.measures.iter().map(|m| poam_item(data, m)).collect::<Vec<_>>(),
    });
    if data.measures.is_empty() {
        // The schema requires at least one item: say that nothing was committed yet.
        poam["poam-items"] = json!([{
            "uuid": uuid("poam-item", &[&o.reference, "none"]),
            "title": "改善策なし / No measures",
            "description": format!("No findings or measures as of {}.", data.as_of),
            "props": [prop("no-measures", "true")],
        }]);
    }
    if !data.findings.is_empty() {
        poam["observations"] = data.findings.iter().map(|f| observation(data, f)).collect();
        poam["findings"] = data.findings.iter().map(|f| finding(data, f)).collect();
    }
    if !data.measures.is_empty() {
        poam["risks"] = data.measures.iter().map(|m| risk(data, m)).collect();
    }
    let res = resources(data);
    if !res.is_empty() {
        poam["back-matter"] = json!({ "resources": res });
    }
    json!({ "plan-of-action-and-milestones": poam })
}

/// Recursively sorts object keys, whatever map type serde_json was built with.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let b: BTreeMap<String, Value> = map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(b.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

pub fn render(data: &ReportData) -> String {
    let mut out =
        serde_json::to_string_pretty(&sorted(document(data))).unwrap_or_else(|_| "{}".into());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_deterministic_v5() {
        let a = uuid("risk", &["METI-2022-06-30", "M-01"]);
        assert_eq!(a, uuid("risk", &["METI-2022-06-30", "M-01"]));
        assert_ne!(a, uuid("risk", &["METI-2022-06-30", "M-02"]));
        assert_eq!(Uuid::parse_str(&a).unwrap().get_version_num(), 5);
    }
}
