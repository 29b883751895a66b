//! Token lifetimes: `90s`, `30m`, `8h`, `7d`, parsed exactly as given with checked arithmetic
//! only (no input panics), bounded by `REMEDY_TOKEN_MAX_TTL`.
use chrono::Duration;

use crate::error::{AppError, AppResult};

/// The default of `REMEDY_TOKEN_MAX_TTL`: the longest lifetime a token may be issued with.
pub const DEFAULT_MAX_TTL: Duration = Duration::days(366);

/// The lifetime of a token issued without one (or the maximum, when that is shorter).
pub const DEFAULT_TTL: Duration = Duration::hours(8);

/// Why a duration did not parse.
#[derive(Debug, PartialEq, Eq)]
enum DurationError {
    /// Not a number followed by a unit.
    Syntax,
    /// Zero (a negative number is a syntax error).
    NotPositive,
    /// Larger than any duration can be.
    TooLong,
}

/// Parses `90s`, `30m`, `8h`, `7d` exactly as given (no trimming), with checked
/// constructors only: no input makes it panic.
fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or(DurationError::Syntax)?;
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return Err(DurationError::Syntax);
    }
    let make: fn(i64) -> Option<Duration> = match unit {
        "s" => Duration::try_seconds,
        "m" => Duration::try_minutes,
        "h" => Duration::try_hours,
        "d" => Duration::try_days,
        _ => return Err(DurationError::Syntax),
    };
    // `num` is all ASCII digits: it only fails to parse when it does not fit an i64.
    let n: i64 = num.parse().map_err(|_| DurationError::TooLong)?;
    let d = make(n).ok_or(DurationError::TooLong)?;
    if d <= Duration::zero() {
        return Err(DurationError::NotPositive);
    }
    Ok(d)
}

/// A duration in the syntax `parse_ttl` reads, in the largest unit that divides it.
pub fn format_ttl(d: Duration) -> String {
    let s = d.num_seconds();
    for (unit, secs) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s % secs == 0 {
            return format!("{}{unit}", s / secs);
        }
    }
    format!("{s}s")
}

/// The refusal of a lifetime outside 1 second to `max`.
pub fn ttl_out_of_bounds(max: Duration) -> AppError {
    AppError::validation(
        "ttl",
        format!(
            "must be between 1s and {} (the maximum, set by REMEDY_TOKEN_MAX_TTL)",
            format_ttl(max)
        ),
    )
}

/// Parses a lifetime such as `90s`, `30m`, `8h`, `7d`, at most `max`. Anything else, however
/// large, is a `VALIDATION` error on `ttl` naming the maximum; nothing here can panic.
pub fn parse_ttl(s: &str, max: Duration) -> AppResult<Duration> {
    match parse_duration(s) {
        Ok(d) if d <= max => Ok(d),
        Ok(_) | Err(DurationError::NotPositive | DurationError::TooLong) => {
            Err(ttl_out_of_bounds(max))
        }
        Err(DurationError::Syntax) => Err(AppError::validation(
            "ttl",
            "expected a number followed by s, m, h or d (e.g. 8h)",
        )),
    }
}

/// Parses `REMEDY_TOKEN_MAX_TTL` (a clap value parser): the TTL syntax, positive.
pub fn parse_max_ttl(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| match e {
        DurationError::Syntax => "expected a number followed by s, m, h or d (e.g. 366d)".into(),
        DurationError::NotPositive => "must be at least 1s".into(),
        DurationError::TooLong => "too long to be a duration".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing() {
        let max = DEFAULT_MAX_TTL;
        assert_eq!(parse_ttl("8h", max).unwrap(), Duration::hours(8));
        assert_eq!(parse_ttl("30m", max).unwrap(), Duration::minutes(30));
        assert_eq!(parse_ttl("7d", max).unwrap(), Duration::days(7));
        assert_eq!(parse_ttl("1s", max).unwrap(), Duration::seconds(1));
        for bad in [
            "", "h", "8", "8w", "-1h", "+1h", " 8h", "8h ", "8 h", "1.5h",
        ] {
            let e = parse_ttl(bad, max).unwrap_err();
            assert_eq!(e.code(), "VALIDATION", "{bad}");
            assert!(e.message().starts_with("ttl: expected"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn ttl_bounds_never_panic_and_name_the_maximum() {
        let max = DEFAULT_MAX_TTL;
        // Exactly the maximum, in every unit.
        for ok in ["366d", "8784h", "527040m", "31622400s"] {
            assert_eq!(parse_ttl(ok, max).unwrap(), max, "{ok}");
        }
        for bad in [
            "0s",
            "0d",
            "367d",
            "8785h",
            "31622401s",
            // Beyond what a TimeDelta can hold (chrono's `Duration::days` would panic).
            "200000000000000d",
            "9223372036854775807s",
            "9223372036854775807d",
            // Beyond an i64.
            "99999999999999999999d",
        ] {
            let e = parse_ttl(bad, max).unwrap_err();
            assert_eq!(e.code(), "VALIDATION", "{bad}");
            assert_eq!(
                e.message(),
                "ttl: must be between 1s and 366d (the maximum, set by REMEDY_TOKEN_MAX_TTL)",
                "{bad}"
            );
        }
        // A smaller configured maximum.
        let hour = parse_max_ttl("1h").unwrap();
        assert_eq!(parse_ttl("60m", hour).unwrap(), hour);
        assert!(parse_ttl("61m", hour)
            .unwrap_err()
            .message()
            .contains("and 1h"));
    }

    #[test]
    fn max_ttl_parsing_and_formatting() {
        assert_eq!(parse_max_ttl("366d").unwrap(), DEFAULT_MAX_TTL);
        assert!(parse_max_ttl("0h").is_err());
        assert!(parse_max_ttl("forever").is_err());
        assert!(parse_max_ttl("200000000000000d").is_err());
        assert_eq!(format_ttl(Duration::days(366)), "366d");
        assert_eq!(format_ttl(Duration::hours(36)), "36h");
        assert_eq!(format_ttl(Duration::minutes(90)), "90m");
        assert_eq!(format_ttl(Duration::seconds(61)), "61s");
    }
}
