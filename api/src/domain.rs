//! The plan's rules, with no I/O: today's date, whether a measure is overdue (now or as of a
//! date), its status as of a date, the recurrence calendar of recurring measures, and the
//! accountability rules of a transition (its effective date; separation of duties). Every
//! layer above uses these; they use nothing of remedy's but the entities.
use chrono::{Datelike, Duration, NaiveDate, Utc};
use entity::enums::{MeasureStatus, Recurrence};
use entity::{measure, occurrence};

/// Today's date (UTC), the day "overdue" and "current" are judged on.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Statuses in which a one-off measure's due date still binds.
pub const OPEN_STATUSES: [MeasureStatus; 2] = [MeasureStatus::Planned, MeasureStatus::InProgress];

/// Whether a measure is overdue on `today`: a one-off measure still planned or in progress
/// past its due date, or a recurring measure (not cancelled or deferred) whose next due
/// date, the due date of the earliest period neither recorded nor skipped ([`next_due`]), has
/// passed: a missed period keeps it overdue until recorded late or skipped. Deferred and
/// cancelled measures are never overdue: they carry a reason instead.
pub fn is_overdue(m: &measure::Model, today: NaiveDate) -> bool {
    let late_one_off = OPEN_STATUSES.contains(&m.status) && m.due_on.is_some_and(|d| d < today);
    let late_recurring = m.recurrence != Recurrence::None
        && !matches!(m.status, MeasureStatus::Cancelled | MeasureStatus::Deferred)
        && m.next_due_on.is_some_and(|d| d < today);
    late_one_off || late_recurring
}

/// A measure's status as it stood on `on`, derived from its recorded dates: done once its
/// completion date has passed, in progress once started, planned before that.
pub fn status_as_of(m: &measure::Model, on: NaiveDate) -> MeasureStatus {
    match m.completed_on {
        Some(done) if done <= on => match m.status {
            MeasureStatus::Verified => MeasureStatus::Verified,
            _ => MeasureStatus::Implemented,
        },
        _ => match m.started_on {
            Some(start) if start <= on => MeasureStatus::InProgress,
            _ if m.completed_on.is_none()
                && matches!(m.status, MeasureStatus::InProgress)
                && m.started_on.is_none() =>
            {
                MeasureStatus::InProgress
            }
            _ => MeasureStatus::Planned,
        },
    }
}

/// Whether a measure was overdue on `on`, from its recorded dates, executions and skips: a
/// one-off measure open past its due date, or a recurring one with a period MISSED in its
/// [`ledger`] on that day.
pub fn overdue_as_of(
    m: &measure::Model,
    on: NaiveDate,
    occurrences: &[occurrence::Model],
    skips: &[entity::period_skip::Model],
) -> bool {
    let status = status_as_of(m, on);
    if m.recurrence == Recurrence::None {
        return OPEN_STATUSES.contains(&status) && m.due_on.is_some_and(|d| d < on);
    }
    ledger(m, on, occurrences, skips)
        .iter()
        .any(|e| e.status == entity::enums::PeriodStatus::Missed)
}

/// The end of the first period after `last_done` (or the first period after `start` when
/// nothing was done yet): when the next execution of a recurring measure is due.
pub fn next_period_end(
    recurrence: Recurrence,
    start: NaiveDate,
    last_done: Option<NaiveDate>,
) -> Option<NaiveDate> {
    if recurrence == Recurrence::None {
        return None;
    }
    let horizon = last_done.unwrap_or(start) + Duration::days(400);
    periods(recurrence, start, horizon)
        .into_iter()
        .map(|(_, end)| end)
        .find(|end| last_done.is_none_or(|d| *end > d))
}

/// The full periods of a recurrence that end after `start` and on or before `as_of`:
/// (label, last day of the period).
pub fn periods(
    recurrence: Recurrence,
    start: NaiveDate,
    as_of: NaiveDate,
) -> Vec<(String, NaiveDate)> {
    let mut out = Vec::new();
    match recurrence {
        Recurrence::None => {}
        Recurrence::Weekly => {
            // ISO weeks; the period ends on Friday (the working week).
            let mut monday = start - Duration::days(start.weekday().num_days_from_monday() as i64);
            loop {
                let friday = monday + Duration::days(4);
                if friday > as_of {
                    break;
                }
                if friday >= start {
                    let w = monday.iso_week();
                    out.push((format!("{}-W{:02}", w.year(), w.week()), friday));
                }
                monday += Duration::days(7);
            }
        }
        Recurrence::Monthly | Recurrence::Quarterly | Recurrence::Yearly => {
            let step = match recurrence {
                Recurrence::Monthly => 1,
                Recurrence::Quarterly => 3,
                _ => 12,
            };
            let first_month0 = match recurrence {
                Recurrence::Monthly => start.month0(),
                Recurrence::Quarterly => start.month0() / 3 * 3,
                _ => 0,
            };
            let (mut y, mut m0) = (start.year(), first_month0);
            loop {
                let (ny, nm0) = if m0 + step >= 12 {
                    (y + 1, m0 + step - 12)
                } else {
                    (y, m0 + step)
                };
                let end = NaiveDate::from_ymd_opt(ny, nm0 + 1, 1).expect("valid date")
                    - Duration::days(1);
                if end > as_of {
                    break;
                }
                let label = match recurrence {
                    Recurrence::Monthly => format!("{y}-{:02}", m0 + 1),
                    Recurrence::Quarterly => format!("{y}-Q{}", m0 / 3 + 1),
                    _ => format!("{y}"),
                };
                out.push((label, end));
                (y, m0) = (ny, nm0);
            }
        }
    }
    out
}

/// The date a recurring measure's schedule counts from: its anchor (required since the
/// ledger), else, for versions recorded before it, its start or completion date.
pub fn schedule_anchor(m: &measure::Model) -> Option<NaiveDate> {
    if m.recurrence == Recurrence::None {
        return None;
    }
    m.anchor_on.or(m.started_on).or(m.completed_on)
}

/// One period of a schedule: its label (as occurrences are labelled), its window and when
/// it is due (its last day plus the grace days).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub due: NaiveDate,
}

/// The first day of the period of `recurrence` that ends on `end`.
fn period_start(recurrence: Recurrence, end: NaiveDate) -> NaiveDate {
    let first_of = |m0: u32| NaiveDate::from_ymd_opt(end.year(), m0 + 1, 1).unwrap_or(end);
    match recurrence {
        Recurrence::Weekly => end - Duration::days(4),
        Recurrence::Monthly => first_of(end.month0()),
        Recurrence::Quarterly => first_of(end.month0() / 3 * 3),
        Recurrence::Yearly => first_of(0),
        Recurrence::None => end,
    }
}

/// The periods of a schedule anchored at `anchor` whose window has begun by `through`
/// (the current one included), oldest first ([`periods`] gives the labels and ends).
pub fn schedule(
    recurrence: Recurrence,
    anchor: NaiveDate,
    grace_days: i32,
    through: NaiveDate,
) -> Vec<Period> {
    let Some(horizon) = through.checked_add_days(chrono::Days::new(400)) else {
        return Vec::new();
    };
    periods(recurrence, anchor, horizon)
        .into_iter()
        .map(|(label, end)| Period {
            start: period_start(recurrence, end),
            due: end + Duration::days(i64::from(grace_days.max(0))),
            label,
            end,
        })
        .take_while(|p| p.start <= through)
        .collect()
}

/// How many periods of a schedule anchored at `anchor` are due strictly before `day`
/// (computed, not enumerated: what dashboards count for every recurring measure).
pub fn periods_due_before(
    recurrence: Recurrence,
    anchor: NaiveDate,
    grace_days: i32,
    day: NaiveDate,
) -> i64 {
    // A period is due before `day` when its last day is on or before `last`.
    let Some(last) = day.checked_sub_days(chrono::Days::new(1 + grace_days.max(0) as u64)) else {
        return 0;
    };
    match recurrence {
        Recurrence::None => 0,
        Recurrence::Weekly => {
            let monday = anchor - Duration::days(anchor.weekday().num_days_from_monday() as i64);
            let mut first = monday + Duration::days(4);
            if first < anchor {
                first += Duration::days(7);
            }
            if last < first {
                0
            } else {
                (last - first).num_days() / 7 + 1
            }
        }
        Recurrence::Monthly | Recurrence::Quarterly | Recurrence::Yearly => {
            let step = match recurrence {
                Recurrence::Monthly => 1,
                Recurrence::Quarterly => 3,
                _ => 12,
            };
            let index = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
            let first = index(anchor) - index(anchor).rem_euclid(step);
            let last_month_ended = if (last + Duration::days(1)).day() == 1 {
                index(last)
            } else {
                index(last) - 1
            };
            ((last_month_ended - first + 1).div_euclid(step)).max(0)
        }
    }
}

/// One period of a measure's ledger with what stands for it on the day judged.
#[derive(Debug, Clone)]
pub struct LedgerEntry<'a> {
    pub period: Period,
    pub status: entity::enums::PeriodStatus,
    pub occurrence: Option<&'a occurrence::Model>,
    pub skip: Option<&'a entity::period_skip::Model>,
}

/// The ledger of a recurring measure on `day`: every period of its schedule begun by then,
/// oldest first, each DONE (recorded on or before its due date), LATE (recorded after it),
/// SKIPPED, MISSED (due before `day`, none of those) or UPCOMING. Executions done after
/// `day` and skips made after it do not count yet. A recorded period is judged against the
/// due date stored with it (the grace days in force when it was recorded).
pub fn ledger<'a>(
    m: &measure::Model,
    day: NaiveDate,
    occurrences: &'a [occurrence::Model],
    skips: &'a [entity::period_skip::Model],
) -> Vec<LedgerEntry<'a>> {
    use entity::enums::PeriodStatus;
    let Some(anchor) = schedule_anchor(m) else {
        return Vec::new();
    };
    schedule(m.recurrence, anchor, m.grace_days, day)
        .into_iter()
        .map(|period| {
            let occurrence = occurrences
                .iter()
                .find(|o| o.measure_id == m.id && o.period == period.label && o.done_on <= day);
            let skip = skips.iter().find(|s| {
                s.measure_id == m.id && s.period == period.label && s.skipped_at.date_naive() <= day
            });
            let status = match (occurrence, skip) {
                (Some(o), _) if o.done_on <= o.due_on.unwrap_or(period.due) => PeriodStatus::Done,
                (Some(_), _) => PeriodStatus::Late,
                (None, Some(_)) => PeriodStatus::Skipped,
                (None, None) if period.due < day => PeriodStatus::Missed,
                (None, None) => PeriodStatus::Upcoming,
            };
            LedgerEntry {
                period,
                status,
                occurrence,
                skip,
            }
        })
        .collect()
}

/// On-time rate in percent (one decimal): DONE over DONE, LATE and MISSED; None when no
/// period has come due.
pub fn on_time_rate(done: u64, late: u64, missed: u64) -> Option<f64> {
    let n = done + late + missed;
    (n > 0).then(|| (done as f64 * 1000.0 / n as f64).round() / 10.0)
}

/// When a recurring measure is next due: the due date of the earliest period of its
/// schedule neither recorded (`recorded`) nor skipped (`skipped`), so a missed period keeps
/// it due, and overdue, until it is recorded late or skipped. `today` bounds the search
/// (a period recorded in advance is not possible: the schedule runs a year past it).
pub fn next_due(
    m: &measure::Model,
    recorded: &[&str],
    skipped: &[&str],
    today: NaiveDate,
) -> Option<NaiveDate> {
    let anchor = schedule_anchor(m)?;
    let through = today.max(anchor) + Duration::days(370);
    schedule(m.recurrence, anchor, m.grace_days, through)
        .into_iter()
        .find(|p| !recorded.contains(&p.label.as_str()) && !skipped.contains(&p.label.as_str()))
        .map(|p| p.due)
}

/// A rule a transition's effective date (`on`) breaks: the first, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionDate {
    /// After today.
    InFuture { today: NaiveDate },
    /// Before the measure's start, on a move to IMPLEMENTED or VERIFIED.
    BeforeStart { started_on: NaiveDate },
    /// More than `window_days` before today (before `earliest`): allowed only to callers who
    /// may approve (`plan:approve`).
    BeyondWindow {
        window_days: u32,
        earliest: NaiveDate,
    },
}

/// The first rule a transition to `to` dated `on` breaks, judged on `today`, for a measure
/// started on `started_on`, with a back-dating window of `window_days` (a window reaching
/// past the calendar's first day bounds nothing).
pub fn transition_date(
    on: NaiveDate,
    today: NaiveDate,
    to: MeasureStatus,
    started_on: Option<NaiveDate>,
    window_days: u32,
) -> Option<TransitionDate> {
    if on > today {
        return Some(TransitionDate::InFuture { today });
    }
    if matches!(to, MeasureStatus::Implemented | MeasureStatus::Verified) {
        if let Some(start) = started_on.filter(|s| on < *s) {
            return Some(TransitionDate::BeforeStart { started_on: start });
        }
    }
    let earliest = today.checked_sub_days(chrono::Days::new(u64::from(window_days)))?;
    (on < earliest).then_some(TransitionDate::BeyondWindow {
        window_days,
        earliest,
    })
}

/// Why a person may not verify a measure under separation of duties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DutyConflict {
    /// The verifier moved it to IMPLEMENTED (this token subject).
    Implementer(String),
    /// The verifier is the account of the measure's owner (this token subject).
    Owner(String),
}

/// Whether `verifier` (a token subject) is barred from verifying a measure that `implementer`
/// moved to IMPLEMENTED and whose owner has the account `owner_account`. Subjects are
/// compared without regard to case (`Tanaka@example.com` is `tanaka@example.com`): a
/// conflict is never missed for a difference of case.
pub fn verification_conflict(
    verifier: &str,
    implementer: Option<&str>,
    owner_account: Option<&str>,
) -> Option<DutyConflict> {
    let same = |other: &str| other.to_lowercase() == verifier.to_lowercase();
    if let Some(i) = implementer.filter(|i| same(i)) {
        return Some(DutyConflict::Implementer(i.to_string()));
    }
    owner_account
        .filter(|a| same(a))
        .map(|a| DutyConflict::Owner(a.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transition_date_is_neither_future_nor_before_the_start_nor_far_back() {
        use MeasureStatus::*;
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let today = d("2026-12-10");
        let start = Some(d("2026-11-01"));
        // Today, and within the window: nothing broken.
        assert_eq!(transition_date(today, today, Implemented, start, 7), None);
        assert_eq!(
            transition_date(d("2026-12-03"), today, Implemented, start, 7),
            None
        );
        // Tomorrow: in the future, whatever the move.
        for to in [InProgress, Implemented, Verified, Deferred, Cancelled] {
            assert_eq!(
                transition_date(d("2026-12-11"), today, to, start, 7),
                Some(TransitionDate::InFuture { today })
            );
        }
        // Before the start: only completion and verification are bound by it.
        for to in [Implemented, Verified] {
            assert_eq!(
                transition_date(d("2026-10-31"), today, to, start, 7),
                Some(TransitionDate::BeforeStart {
                    started_on: d("2026-11-01")
                })
            );
        }
        // Eight days back: beyond a 7-day window, within a 10-day one.
        let beyond = TransitionDate::BeyondWindow {
            window_days: 7,
            earliest: d("2026-12-03"),
        };
        assert_eq!(
            transition_date(d("2026-12-02"), today, Implemented, start, 7),
            Some(beyond)
        );
        assert_eq!(
            transition_date(d("2026-12-02"), today, Deferred, None, 7),
            Some(beyond)
        );
        assert_eq!(
            transition_date(d("2026-12-02"), today, Implemented, start, 10),
            None
        );
        // A window of 0 days: only today; one past the calendar: no bound.
        assert_eq!(transition_date(today, today, InProgress, None, 0), None);
        assert!(transition_date(d("2026-12-09"), today, InProgress, None, 0).is_some());
        assert_eq!(
            transition_date(d("1900-01-01"), today, InProgress, None, u32::MAX),
            None
        );
    }

    #[test]
    fn the_implementer_and_the_owners_account_may_not_verify() {
        let none = verification_conflict("audit@example.com", Some("editor"), None);
        assert_eq!(none, None);
        assert_eq!(
            verification_conflict("editor", Some("editor"), Some("editor")),
            Some(DutyConflict::Implementer("editor".into()))
        );
        assert_eq!(
            verification_conflict(
                "Tanaka@Example.com",
                Some("editor"),
                Some("tanaka@example.com")
            ),
            Some(DutyConflict::Owner("tanaka@example.com".into()))
        );
        assert_eq!(
            verification_conflict("EDITOR", Some("editor"), None),
            Some(DutyConflict::Implementer("editor".into()))
        );
        // Nobody known: nothing to conflict with.
        assert_eq!(verification_conflict("anyone", None, None), None);
    }

    #[test]
    fn periods_cover_full_periods_only() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let q = periods(Recurrence::Quarterly, d("2022-08-31"), d("2022-11-29"));
        assert_eq!(q, vec![("2022-Q3".to_string(), d("2022-09-30"))]);
        let m = periods(Recurrence::Monthly, d("2022-08-01"), d("2022-11-29"));
        assert_eq!(
            m.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
            ["2022-08", "2022-09", "2022-10"]
        );
        let w = periods(Recurrence::Weekly, d("2022-11-14"), d("2022-11-29"));
        assert_eq!(
            w,
            vec![
                ("2022-W46".to_string(), d("2022-11-18")),
                ("2022-W47".to_string(), d("2022-11-25"))
            ]
        );
        assert!(periods(Recurrence::None, d("2022-01-01"), d("2022-12-31")).is_empty());
    }

    #[test]
    fn counted_periods_agree_with_the_schedule() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        for r in [
            Recurrence::Weekly,
            Recurrence::Monthly,
            Recurrence::Quarterly,
            Recurrence::Yearly,
        ] {
            for anchor in [
                "2022-04-30",
                "2022-08-01",
                "2022-08-31",
                "2023-01-01",
                "2022-11-25",
            ] {
                for grace in [0, 3, 10] {
                    let mut day = d("2022-04-01");
                    while day < d("2025-02-01") {
                        let listed = schedule(r, d(anchor), grace, day)
                            .iter()
                            .filter(|p| p.due < day)
                            .count() as i64;
                        assert_eq!(
                            periods_due_before(r, d(anchor), grace, day),
                            listed,
                            "{r} {anchor} +{grace} on {day}"
                        );
                        day += Duration::days(5);
                    }
                }
            }
        }
    }

    #[test]
    fn a_ledger_keeps_missed_periods_until_recorded_or_skipped() {
        use entity::enums::PeriodStatus::*;
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let at = d("2022-11-01").and_hms_opt(0, 0, 0).unwrap().and_utc();
        let m = measure::Model {
            id: 1,
            code: "M-13".into(),
            title: "weekly".into(),
            title_local: None,
            plan: None,
            status: MeasureStatus::Implemented,
            status_reason: None,
            owner_id: None,
            started_on: None,
            due_on: None,
            completed_on: None,
            recurrence: Recurrence::Weekly,
            next_due_on: None,
            anchor_on: Some(d("2022-11-01")),
            grace_days: 2,
            note: None,
            version: 1,
            archived_at: None,
            created_at: at,
            updated_at: at,
        };
        let occ = |p: &str, due: &str, done: &str| occurrence::Model {
            id: 0,
            measure_id: 1,
            period: p.into(),
            due_on: Some(d(due)),
            done_on: d(done),
            done_by: "x".into(),
            note: None,
            created_at: at,
            evidence_id: None,
        };
        // W44 (due 11-06) on time, W45 late, W46 skipped, W47 missed, W48 upcoming.
        let occurrences = vec![
            occ("2022-W44", "2022-11-06", "2022-11-06"),
            occ("2022-W45", "2022-11-13", "2022-11-20"),
        ];
        let skips = vec![entity::period_skip::Model {
            id: 1,
            measure_id: 1,
            period: "2022-W46".into(),
            due_on: d("2022-11-20"),
            reason: "shutdown".into(),
            skipped_by: "a".into(),
            skipped_at: at,
            audit_event_id: None,
        }];
        let day = d("2022-11-29");
        let l = ledger(&m, day, &occurrences, &skips);
        let got: Vec<_> = l
            .iter()
            .map(|e| (e.period.label.as_str(), e.status))
            .collect();
        assert_eq!(
            got,
            [
                ("2022-W44", Done),
                ("2022-W45", Late),
                ("2022-W46", Skipped),
                ("2022-W47", Missed),
                ("2022-W48", Upcoming)
            ]
        );
        assert_eq!(l[3].period.due, d("2022-11-27"));
        assert_eq!(
            next_due(&m, &["2022-W44", "2022-W45"], &["2022-W46"], day),
            Some(d("2022-11-27"))
        );
        assert_eq!(
            next_due(
                &m,
                &["2022-W44", "2022-W45", "2022-W47"],
                &["2022-W46"],
                day
            ),
            Some(d("2022-12-04"))
        );
        assert_eq!(on_time_rate(1, 1, 1), Some(33.3));
        assert_eq!(on_time_rate(0, 0, 0), None);
        // As of a day before the late record and the skip: both missed then.
        let earlier = ledger(&m, d("2022-11-15"), &occurrences, &[]);
        assert_eq!(earlier.last().unwrap().status, Upcoming);
        assert_eq!(earlier[1].status, Missed);
    }
}
