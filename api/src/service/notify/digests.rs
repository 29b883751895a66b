//! E-mail digests: composed by the scheduler (once per owner and day, once per compliance
//! recipient and ISO week; the unique key keeps one however many runs see the day) and sent
//! at least once by the worker, like webhook deliveries.
//!
//! - Daily, per owner whose `contact` is an e-mail address and who has something to act on:
//!   their overdue measures, those due within the longest reminder threshold, and recurring
//!   measures with a missed period. In the owner's language (Japanese unless set).
//! - Weekly, per address of `REMEDY_DIGEST_WEEKLY_TO`: per order, what is overdue, what falls
//!   due within the horizon, reports due, evidence expiring.
//!
//! Every value from the plan is escaped in the HTML part; measure titles are shown as
//! recorded (the company's Japanese text in Japanese mail).
use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Utc};
use entity::enums::{DeliveryStatus, Language, MeasureStatus, Recurrence, ReportStatus};
use entity::{digest, measure, owner, report};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::reminders::{order_references, orders_of_measures, Settings};
use crate::domain::{is_overdue, OPEN_STATUSES};
use crate::error::AppResult;
use crate::outbound::is_address;
use crate::service::write::Write;

/// Who gets the weekly digest, and in which language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub language: Language,
}

/// Parses `address`, `ja:address` or `en:address`.
pub fn parse_recipient(s: &str) -> Result<Recipient, String> {
    let s = s.trim();
    let (language, address) = match s.split_once(':') {
        Some((l, a)) if l.eq_ignore_ascii_case("ja") => (Language::Ja, a),
        Some((l, a)) if l.eq_ignore_ascii_case("en") => (Language::En, a),
        _ => (Language::Ja, s),
    };
    if !is_address(address) {
        return Err(format!(
            "REMEDY_DIGEST_WEEKLY_TO: {s:?} is not an e-mail address"
        ));
    }
    Ok(Recipient {
        address: address.to_string(),
        language,
    })
}

/// One measure line of a digest.
struct Line {
    code: String,
    title: String,
    orders: Vec<String>,
    due: Option<NaiveDate>,
    status: MeasureStatus,
}

struct Words {
    subject_daily: &'static str,
    subject_weekly: &'static str,
    hello: &'static str,
    overdue: &'static str,
    due_soon: &'static str,
    missed: &'static str,
    reports: &'static str,
    due: &'static str,
    footer: &'static str,
}

const JA: Words = Words {
    subject_daily: "remedy: 対応が必要な施策",
    subject_weekly: "remedy: 週次サマリー",
    hello: "担当の施策のうち、次のものに対応が必要です。",
    overdue: "期限超過",
    due_soon: "期限間近",
    missed: "定期実施の未記録",
    reports: "報告書の期限",
    due: "期限",
    footer: "このメールは remedy が自動で送信しています。",
};

const EN: Words = Words {
    subject_daily: "remedy: measures that need you",
    subject_weekly: "remedy: weekly summary",
    hello: "These measures you own need attention.",
    overdue: "Overdue",
    due_soon: "Due soon",
    missed: "Missed periods",
    reports: "Reports due",
    due: "due",
    footer: "This message was sent by remedy.",
};

fn words(l: Language) -> &'static Words {
    match l {
        Language::Ja => &JA,
        Language::En => &EN,
    }
}

/// Text for HTML.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn title_in(m: &measure::Model, l: Language) -> String {
    match (l, &m.title_local) {
        (Language::Ja, Some(t)) => t.clone(),
        _ => m.title.clone(),
    }
}

/// Renders sections of lines as (text, html).
fn render(
    l: Language,
    intro: &str,
    sections: &[(&str, Vec<Line>)],
    extra: &[(&str, Vec<String>)],
) -> (String, String) {
    let w = words(l);
    let mut text = format!("{intro}\n");
    let mut html = format!(
        "<!doctype html><html lang=\"{}\"><body><p>{}</p>",
        if l == Language::Ja { "ja" } else { "en" },
        esc(intro)
    );
    for (head, lines) in sections {
        if lines.is_empty() {
            continue;
        }
        text.push_str(&format!("\n■ {head} ({})\n", lines.len()));
        html.push_str(&format!("<h2>{} ({})</h2><ul>", esc(head), lines.len()));
        for x in lines {
            let due = x.due.map(|d| d.to_string()).unwrap_or_default();
            let orders = x.orders.join(", ");
            text.push_str(&format!(
                "- {} {} [{}] {} {} ({})\n",
                x.code, x.title, orders, w.due, due, x.status
            ));
            html.push_str(&format!(
                "<li><strong>{}</strong> {} [{}] {} {} ({})</li>",
                esc(&x.code),
                esc(&x.title),
                esc(&orders),
                esc(w.due),
                esc(&due),
                esc(x.status.as_str())
            ));
        }
        html.push_str("</ul>");
    }
    for (head, lines) in extra {
        if lines.is_empty() {
            continue;
        }
        text.push_str(&format!("\n■ {head} ({})\n", lines.len()));
        html.push_str(&format!("<h2>{} ({})</h2><ul>", esc(head), lines.len()));
        for x in lines {
            text.push_str(&format!("- {x}\n"));
            html.push_str(&format!("<li>{}</li>", esc(x)));
        }
        html.push_str("</ul>");
    }
    text.push_str(&format!("\n-- \n{}\n", w.footer));
    html.push_str(&format!("<hr><p>{}</p></body></html>", esc(w.footer)));
    (text, html)
}

/// The Monday of `day`'s ISO week.
pub fn week_of(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// Composes the digests `today` owes and queues those not queued yet, in the open write.
/// Reads the open measures of the owners concerned (one statement) or, for the weekly
/// digest, every open measure with a due date; returns how many digests were queued.
pub async fn queue(
    w: &Write<'_>,
    today: NaiveDate,
    s: &Settings,
    daily: bool,
    weekly_to: &[Recipient],
) -> AppResult<usize> {
    let horizon = today
        .checked_add_days(Days::new(u64::from(
            s.thresholds.last().copied().unwrap_or(0),
        )))
        .unwrap_or(today);
    let week = week_of(today);
    let already: HashSet<(String, String)> = digest::Entity::find()
        .select_only()
        .column(digest::Column::Kind)
        .column(digest::Column::Recipient)
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(digest::Column::Kind.eq("DAILY"))
                        .add(digest::Column::Day.eq(today)),
                )
                .add(
                    Condition::all()
                        .add(digest::Column::Kind.eq("WEEKLY"))
                        .add(digest::Column::Day.eq(week)),
                ),
        )
        .into_tuple()
        .all(&w.txn)
        .await?
        .into_iter()
        .collect();
    let mut rows = Vec::new();

    let owners: Vec<owner::Model> = if daily {
        owner::Entity::find()
            .filter(owner::Column::ArchivedAt.is_null())
            .filter(owner::Column::Contact.is_not_null())
            .order_by_asc(owner::Column::Id)
            .all(&w.txn)
            .await?
            .into_iter()
            .filter(|o| o.contact.as_deref().is_some_and(is_address))
            .filter(|o| {
                !already.contains(&("DAILY".to_string(), o.contact.clone().unwrap_or_default()))
            })
            .collect()
    } else {
        Vec::new()
    };
    let weekly: Vec<&Recipient> = weekly_to
        .iter()
        .filter(|r| !already.contains(&("WEEKLY".to_string(), r.address.clone())))
        .collect();
    if owners.is_empty() && weekly.is_empty() {
        return Ok(0);
    }

    // Open measures with a date that binds: one-off open ones with a due date up to the
    // horizon, recurring ones (not deferred or cancelled) whose next due date is.
    let mut q = measure::Entity::find()
        .filter(measure::Column::ArchivedAt.is_null())
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(measure::Column::Recurrence.eq(Recurrence::None))
                        .add(measure::Column::Status.is_in(OPEN_STATUSES))
                        .add(measure::Column::DueOn.lte(horizon)),
                )
                .add(
                    Condition::all()
                        .add(measure::Column::Recurrence.ne(Recurrence::None))
                        .add(
                            measure::Column::Status
                                .is_not_in([MeasureStatus::Deferred, MeasureStatus::Cancelled]),
                        )
                        .add(measure::Column::NextDueOn.lte(horizon)),
                ),
        )
        .order_by_asc(measure::Column::Code);
    if weekly.is_empty() {
        q = q.filter(crate::db::in_ids(
            measure::Column::OwnerId,
            owners.iter().map(|o| o.id),
        ));
    }
    let measures = q.all(&w.txn).await?;
    let ids: Vec<i64> = measures.iter().map(|m| m.id).collect();
    let orders = orders_of_measures(&w.txn, &ids).await?;
    let reports = if weekly.is_empty() {
        Vec::new()
    } else {
        report::Entity::find()
            .filter(report::Column::ArchivedAt.is_null())
            .filter(report::Column::Status.eq(ReportStatus::Draft))
            .filter(report::Column::DueOn.lte(horizon))
            .order_by_asc(report::Column::DueOn)
            .all(&w.txn)
            .await?
    };
    let refs = order_references(
        &w.txn,
        orders
            .values()
            .flatten()
            .copied()
            .chain(reports.iter().map(|r| r.order_id)),
    )
    .await?;
    let order_refs = |m: i64| -> Vec<String> {
        orders
            .get(&m)
            .map(|os| os.iter().filter_map(|o| refs.get(o).cloned()).collect())
            .unwrap_or_default()
    };
    let line = |m: &measure::Model, l: Language| Line {
        code: m.code.clone(),
        title: title_in(m, l),
        orders: order_refs(m.id),
        due: if m.recurrence == Recurrence::None {
            m.due_on
        } else {
            m.next_due_on
        },
        status: m.status,
    };
    // (overdue one-off, due soon, recurring with a missed period)
    let class = |m: &measure::Model| -> u8 {
        if !is_overdue(m, today) {
            1
        } else if m.recurrence == Recurrence::None {
            0
        } else {
            2
        }
    };

    for o in &owners {
        let l = o.language.unwrap_or(Language::Ja);
        let w_ = words(l);
        let mine: Vec<&measure::Model> = measures
            .iter()
            .filter(|m| m.owner_id == Some(o.id))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let pick = |c: u8| -> Vec<Line> {
            mine.iter()
                .filter(|m| class(m) == c)
                .map(|m| line(m, l))
                .collect()
        };
        let sections = [
            (w_.overdue, pick(0)),
            (w_.missed, pick(2)),
            (w_.due_soon, pick(1)),
        ];
        let name = match (l, &o.name_local) {
            (Language::Ja, Some(n)) => n.clone(),
            _ => o.name.clone(),
        };
        let intro = match l {
            Language::Ja => format!("{name} 様\n\n{}（{today}）", w_.hello),
            Language::En => format!("{name},\n\n{} ({today})", w_.hello),
        };
        let (text, html) = render(l, &intro, &sections, &[]);
        let overdue = sections[0].1.len() + sections[1].1.len();
        let subject = format!(
            "{} — {}: {overdue} / {}: {} ({today})",
            w_.subject_daily,
            w_.overdue,
            w_.due_soon,
            sections[2].1.len()
        );
        rows.push(new_row(
            w,
            "DAILY",
            o.contact.as_deref().unwrap_or_default(),
            l,
            today,
            Some(o.id),
            subject,
            text,
            html,
        ));
    }

    if !weekly.is_empty() {
        for r in weekly {
            let l = r.language;
            let w_ = words(l);
            let by_order = |c: u8| -> Vec<Line> {
                let mut v: BTreeMap<(String, String), Line> = BTreeMap::new();
                for m in measures.iter().filter(|m| class(m) == c) {
                    let x = line(m, l);
                    v.insert((x.orders.join(","), x.code.clone()), x);
                }
                v.into_values().collect()
            };
            let sections = [
                (w_.overdue, by_order(0)),
                (w_.missed, by_order(2)),
                (w_.due_soon, by_order(1)),
            ];
            let report_lines: Vec<String> = reports
                .iter()
                .map(|x| {
                    let title = match (l, &x.title_local) {
                        (Language::Ja, Some(t)) => t.clone(),
                        _ => x.title.clone(),
                    };
                    format!(
                        "{} {} [{}] {} {}",
                        x.code,
                        title,
                        refs.get(&x.order_id).cloned().unwrap_or_default(),
                        w_.due,
                        x.due_on
                    )
                })
                .collect();
            let intro = match l {
                Language::Ja => format!(
                    "コンプライアンス室 各位\n\n{}（{week} 週）",
                    w_.subject_weekly
                ),
                Language::En => format!(
                    "Compliance office,\n\n{} (week of {week})",
                    w_.subject_weekly
                ),
            };
            let (text, html) = render(l, &intro, &sections, &[(w_.reports, report_lines)]);
            let subject = format!(
                "{} — {}: {} ({week})",
                w_.subject_weekly,
                w_.overdue,
                sections[0].1.len() + sections[1].1.len()
            );
            rows.push(new_row(
                w, "WEEKLY", &r.address, l, week, None, subject, text, html,
            ));
        }
    }
    let n = rows.len();
    if rows.is_empty() {
        return Ok(0);
    }
    digest::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                digest::Column::Kind,
                digest::Column::Recipient,
                digest::Column::Day,
            ])
            .do_nothing()
            .to_owned(),
        )
        .do_nothing()
        .exec(&w.txn)
        .await?;
    Ok(n)
}

#[allow(clippy::too_many_arguments)]
fn new_row(
    w: &Write<'_>,
    kind: &str,
    to: &str,
    language: Language,
    day: NaiveDate,
    owner_id: Option<i64>,
    subject: String,
    text: String,
    html: String,
) -> digest::ActiveModel {
    digest::ActiveModel {
        kind: Set(kind.to_string()),
        recipient: Set(to.to_string()),
        language: Set(language),
        day: Set(day),
        owner_id: Set(owner_id),
        subject: Set(subject),
        body_text: Set(text),
        body_html: Set(html),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(Some(w.now)),
        lease_until: Set(None),
        last_error: Set(None),
        sent_at: Set(None),
        created_at: Set(w.now),
        ..Default::default()
    }
}

/// Claims up to `limit` digests due at `now` for `lease`, in the open write.
pub async fn claim(
    w: &Write<'_>,
    now: DateTime<Utc>,
    limit: u64,
    lease: Duration,
) -> AppResult<Vec<digest::Model>> {
    let free = Condition::any()
        .add(digest::Column::LeaseUntil.is_null())
        .add(digest::Column::LeaseUntil.lt(now));
    let due = digest::Entity::find()
        .filter(digest::Column::Status.eq(DeliveryStatus::Pending))
        .filter(digest::Column::NextAttemptAt.lte(now))
        .filter(free.clone())
        .order_by_asc(digest::Column::Id)
        .limit(limit)
        .all(&w.txn)
        .await?;
    let mut mine = Vec::new();
    for d in due {
        let res = digest::Entity::update_many()
            .col_expr(digest::Column::LeaseUntil, Expr::value(now + lease))
            .filter(digest::Column::Id.eq(d.id))
            .filter(digest::Column::Status.eq(DeliveryStatus::Pending))
            .filter(free.clone())
            .exec(&w.txn)
            .await?;
        if res.rows_affected == 1 {
            mine.push(d);
        }
    }
    Ok(mine)
}

/// Records one sending's outcome, like a webhook delivery's.
pub async fn record(
    w: &Write<'_>,
    d: &digest::Model,
    result: &Result<(), String>,
    max_attempts: u32,
    backoff_seconds: u64,
) -> AppResult<DeliveryStatus> {
    let attempts = d.attempts + 1;
    let status = match result {
        Ok(()) => DeliveryStatus::Delivered,
        Err(_) if attempts as u32 >= max_attempts => DeliveryStatus::Dead,
        Err(_) => DeliveryStatus::Pending,
    };
    let mut a = d.clone().into_active_model();
    a.status = Set(status);
    a.attempts = Set(attempts);
    a.lease_until = Set(None);
    a.last_error = Set(result.as_ref().err().map(|e| e.chars().take(500).collect()));
    a.next_attempt_at = Set((status == DeliveryStatus::Pending)
        .then(|| super::next_attempt(w.now, attempts as u32, backoff_seconds)));
    a.sent_at = Set((status == DeliveryStatus::Delivered).then_some(w.now));
    a.update(&w.txn).await?;
    Ok(status)
}

/// Digests not yet sent: how many, and when the oldest was composed.
pub async fn backlog<C: sea_orm::ConnectionTrait>(
    conn: &C,
) -> AppResult<(u64, Option<DateTime<Utc>>)> {
    use sea_orm::PaginatorTrait;
    let q = digest::Entity::find().filter(digest::Column::Status.eq(DeliveryStatus::Pending));
    let n = q.clone().count(conn).await?;
    let oldest: Option<DateTime<Utc>> = q
        .select_only()
        .column_as(digest::Column::CreatedAt.min(), "m")
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(conn)
        .await?
        .flatten();
    Ok((n, oldest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_name_their_language() {
        assert_eq!(
            parse_recipient("en:c@example.com").unwrap(),
            Recipient {
                address: "c@example.com".into(),
                language: Language::En
            }
        );
        assert_eq!(
            parse_recipient("c@example.com").unwrap().language,
            Language::Ja
        );
        assert!(parse_recipient("en:nobody").is_err());
    }

    #[test]
    fn html_escapes_plan_text() {
        let (text, html) = render(
            Language::En,
            "hi",
            &[(
                "Overdue",
                vec![Line {
                    code: "M-1".into(),
                    title: "<script>alert(1)</script>".into(),
                    orders: vec![],
                    due: None,
                    status: MeasureStatus::Planned,
                }],
            )],
            &[],
        );
        assert!(text.contains("<script>alert(1)</script>"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert_eq!(
            week_of(NaiveDate::from_ymd_opt(2022, 12, 1).unwrap()),
            NaiveDate::from_ymd_opt(2022, 11, 28).unwrap()
        );
    }
}
