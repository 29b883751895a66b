//! The progress report as Markdown, in the shape of the commission's table: per category,
//! per finding its facts and directive, then the measures committed with their status on
//! the date, dates, owner, evidence (SHA-256) and verdicts. Headings in Japanese and English.
use std::fmt::Write;

use super::{category_heading, status_label, EvaluationRow, ReportData};

/// Table cells: one line, pipes escaped.
fn cell(s: &str) -> String {
    s.replace('\r', "")
        .replace('\n', "<br>")
        .replace('|', "\\|")
}

fn opt_date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_else(|| "-".to_string())
}

fn verdicts(out: &mut String, evals: &[EvaluationRow]) {
    for e in evals {
        let _ = writeln!(
            out,
            "- {} {}{}: **{}**{}",
            e.evaluated_on,
            e.evaluator,
            e.report
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            e.verdict,
            e.comment
                .as_ref()
                .map(|c| format!(" — {}", cell(c)))
                .unwrap_or_default()
        );
    }
}

pub fn render(data: &ReportData) -> String {
    let mut out = String::new();
    let o = &data.order;
    let _ = writeln!(out, "# 改善策の実施状況 / Remediation progress report");
    let _ = writeln!(out);
    let _ = writeln!(out, "| 項目 / Item | 内容 / Value |");
    let _ = writeln!(out, "|---|---|");
    let _ = writeln!(out, "| 基準日 / As of | {} |", data.as_of);
    let _ = writeln!(out, "| 処分等 / Order | {} |", cell(&o.reference));
    let _ = writeln!(
        out,
        "| 件名 / Title | {}{} |",
        o.title_local
            .as_ref()
            .map(|t| format!("{} / ", cell(t)))
            .unwrap_or_default(),
        cell(&o.title)
    );
    let _ = writeln!(
        out,
        "| 行政機関 / Regulator | {}{} ({}) |",
        o.regulator_name_local
            .as_ref()
            .map(|t| format!("{} / ", cell(t)))
            .unwrap_or_default(),
        cell(&o.regulator_name),
        cell(&o.regulator_code)
    );
    let _ = writeln!(out, "| 種別 / Kind | {} |", o.kind);
    if let Some(b) = &o.legal_basis {
        let _ = writeln!(out, "| 根拠法令 / Legal basis | {} |", cell(b));
    }
    let _ = writeln!(out, "| 発出日 / Issued on | {} |", o.issued_on);
    let _ = writeln!(out);

    if data.findings.is_empty() && data.measures.is_empty() {
        let _ = writeln!(
            out,
            "基準日時点で指摘事項・改善策はありません。 / No findings or measures as of {}.",
            data.as_of
        );
        return out;
    }

    // Summary counts by status on the date.
    let _ = writeln!(out, "## 概況 / Summary");
    let _ = writeln!(out);
    let _ = writeln!(out, "| 状況 / Status | 件数 / Measures |");
    let _ = writeln!(out, "|---|---:|");
    let mut counts = std::collections::BTreeMap::new();
    for m in &data.measures {
        *counts.entry(m.status).or_insert(0usize) += 1;
    }
    for (s, n) in &counts {
        let _ = writeln!(out, "| {} | {} |", status_label(*s), n);
    }
    let overdue = data.measures.iter().filter(|m| m.overdue).count();
    let _ = writeln!(out, "| 期限超過 / Overdue | {overdue} |");
    let _ = writeln!(out, "| 合計 / Total | {} |", data.measures.len());
    let _ = writeln!(out);

    let mut category = None;
    let mut section = 0;
    for f in &data.findings {
        if category != Some(f.category) {
            category = Some(f.category);
            section += 1;
            let _ = writeln!(out, "## {}. {}", section, category_heading(f.category));
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "### {} {}", f.number, cell(&f.title));
        let _ = writeln!(out);
        let _ = writeln!(out, "**事実概要 / Facts**");
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", f.facts.trim());
        if let Some(en) = &f.facts_en {
            let _ = writeln!(out);
            let _ = writeln!(out, "> {}", en.trim().replace('\n', "\n> "));
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "**指導概要 / Directive**");
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", f.directive.trim());
        if let Some(en) = &f.directive_en {
            let _ = writeln!(out);
            let _ = writeln!(out, "> {}", en.trim().replace('\n', "\n> "));
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "**策定した再発防止策及び実施状況 / Measures and status**"
        );
        let _ = writeln!(out);
        if f.measures.is_empty() {
            let _ = writeln!(out, "改善策なし / No measures.");
            let _ = writeln!(out);
            continue;
        }
        let _ = writeln!(
            out,
            "| 改善策 / Measure | 状況 / Status | 期限超過 / Overdue | 着手 / Started | 当初期限 / Original due | 期限 / Due | 期限変更 / Times moved | 完了 / Completed | 担当 / Owner |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
        for code in &f.measures {
            let Some(m) = data.measures.iter().find(|m| &m.code == code) else {
                continue;
            };
            let _ = writeln!(
                out,
                "| {} {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&m.code),
                cell(m.title_local.as_deref().unwrap_or(&m.title)),
                status_label(m.status),
                if m.overdue { "はい / yes" } else { "-" },
                opt_date(m.started_on),
                opt_date(m.original_due_on),
                opt_date(m.due_on),
                m.times_moved,
                opt_date(m.completed_on),
                m.owner
                    .as_ref()
                    .map(|o| cell(o.name_local.as_deref().unwrap_or(&o.name)))
                    .unwrap_or_else(|| "-".to_string()),
            );
        }
        let _ = writeln!(out);
    }

    let _ = writeln!(out, "## 改善策の詳細 / Measure details");
    let _ = writeln!(out);
    for m in &data.measures {
        let _ = writeln!(out, "### {} {}", m.code, cell(&m.title));
        let _ = writeln!(out);
        if let Some(t) = &m.title_local {
            let _ = writeln!(out, "{}", cell(t));
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "- 状況 / Status: {}", status_label(m.status));
        let _ = writeln!(
            out,
            "- 期限超過 / Overdue: {}",
            if m.overdue { "yes" } else { "no" }
        );
        let _ = writeln!(out, "- 頻度 / Recurrence: {}", m.recurrence.as_str());
        let _ = writeln!(
            out,
            "- 日付 / Dates: started {}, due {}, completed {}",
            opt_date(m.started_on),
            opt_date(m.due_on),
            opt_date(m.completed_on)
        );
        if !m.due_changes.is_empty() {
            let _ = writeln!(
                out,
                "- 期限変更 / Due-date changes (original {}):",
                opt_date(m.original_due_on)
            );
            for c in &m.due_changes {
                let _ = writeln!(
                    out,
                    "  - {}: {} → {}{}",
                    c.on,
                    opt_date(c.from),
                    opt_date(c.to),
                    c.reason
                        .as_deref()
                        .map(|r| format!(" ({})", cell(r)))
                        .unwrap_or_default()
                );
            }
        }
        if let Some(o) = &m.owner {
            let _ = writeln!(
                out,
                "- 担当 / Owner: {}{} ({})",
                o.name_local
                    .as_ref()
                    .map(|n| format!("{} / ", cell(n)))
                    .unwrap_or_default(),
                cell(&o.name),
                o.code
            );
        }
        let _ = writeln!(out, "- 指摘事項 / Findings: {}", m.findings.join(", "));
        if let Some(p) = &m.plan {
            let _ = writeln!(out, "- 計画 / Plan: {}", cell(p.trim()));
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "**証跡 / Evidence**");
        let _ = writeln!(out);
        if m.evidence.is_empty() {
            let _ = writeln!(out, "なし / None.");
        }
        for e in &m.evidence {
            let _ = writeln!(
                out,
                "- {} ({}, {}{}) SHA-256 `{}`{}{}",
                cell(&e.title),
                e.kind,
                opt_date(e.issued_on),
                e.issued_by
                    .as_ref()
                    .map(|b| format!(", {}", cell(b)))
                    .unwrap_or_default(),
                e.sha256,
                e.supersedes
                    .as_ref()
                    .map(|s| format!(" supersedes `{s}`"))
                    .unwrap_or_default(),
                if e.superseded {
                    " — 差替済 / superseded"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(out);
        if !m.evaluations.is_empty() {
            let _ = writeln!(out, "**評価 / Evaluations**");
            let _ = writeln!(out);
            verdicts(&mut out, &m.evaluations);
            let _ = writeln!(out);
        }
    }

    let _ = writeln!(out, "## 報告書への評価 / Evaluations of reports");
    let _ = writeln!(out);
    if data.report_evaluations.is_empty() {
        let _ = writeln!(out, "なし / None.");
    }
    verdicts(&mut out, &data.report_evaluations);
    out
}
