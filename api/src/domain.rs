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
/// past its due date, or a recurring measure (not cancelled or deferred) whose next
/// execution is past due. Deferred and cancelled measures are never overdue: they carry a
/// reason instead.
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

/// Whether a measure was overdue on `on`, from its recorded dates and executions.
pub fn overdue_as_of(m: &measure::Model, on: NaiveDate, occurrences: &[occurrence::Model]) -> bool {
    let status = status_as_of(m, on);
    if m.recurrence == Recurrence::None {
        return OPEN_STATUSES.contains(&status) && m.due_on.is_some_and(|d| d < on);
    }
    let Some(start) = m.started_on.or(m.completed_on).filter(|s| *s <= on) else {
        return false;
    };
    let last_done = occurrences
        .iter()
        .filter(|o| o.measure_id == m.id && o.done_on <= on)
        .filter_map(|o| o.due_on.or(Some(o.done_on)))
        .max();
    next_period_end(m.recurrence, start, last_done).is_some_and(|next| next < on)
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
}
