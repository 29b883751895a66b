//! The `NaiveDate` GraphQL scalar: a calendar date without time zone, ISO 8601 `YYYY-MM-DD`,
//! exactly as async-graphql's own scalar of that name reads and writes it, and with its
//! specification named (`@specifiedBy`), which async-graphql's built-in one lacks. Every
//! date the API takes or gives is a [`Date`]; the rows and rules keep `chrono::NaiveDate`.
use std::ops::Deref;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

/// A calendar date in the API.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Date(pub NaiveDate);

/// ISO 8601 calendar date without timezone.
/// Format: %Y-%m-%d
///
/// # Examples
///
/// * `1994-11-13`
/// * `2000-02-24`
#[Scalar(
    name = "NaiveDate",
    specified_by_url = "https://www.iso.org/iso-8601-date-and-time-format.html"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Date(NaiveDate::parse_from_str(&s, "%Y-%m-%d")?)),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

impl Deref for Date {
    type Target = NaiveDate;
    fn deref(&self) -> &NaiveDate {
        &self.0
    }
}

impl From<NaiveDate> for Date {
    fn from(d: NaiveDate) -> Self {
        Date(d)
    }
}

impl From<Date> for NaiveDate {
    fn from(d: Date) -> Self {
        d.0
    }
}

/// `Option<Date>` ↔ `Option<NaiveDate>`.
pub trait OptionDate<T> {
    fn dates(self) -> Option<T>;
}

impl OptionDate<Date> for Option<NaiveDate> {
    fn dates(self) -> Option<Date> {
        self.map(Date)
    }
}

impl OptionDate<NaiveDate> for Option<Date> {
    fn dates(self) -> Option<NaiveDate> {
        self.map(|d| d.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_iso_dates_only() {
        let d = Date::parse(Value::String("2022-11-29".into())).unwrap();
        assert_eq!(d.0, NaiveDate::from_ymd_opt(2022, 11, 29).unwrap());
        assert_eq!(d.to_value(), Value::String("2022-11-29".into()));
        assert!(Date::parse(Value::String("2022-13-01".into())).is_err());
        assert!(Date::parse(Value::String("29/11/2022".into())).is_err());
        assert!(Date::parse(Value::Number(20221129.into())).is_err());
    }
}
