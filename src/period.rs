//! Billing periods: a calendar month. `current`, `previous` or `YYYY-MM` on the command line.

use chrono::{Datelike, NaiveDate};
use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl Period {
    pub fn containing(date: NaiveDate) -> Period {
        Period { year: date.year(), month: date.month() }
    }

    pub fn previous(self) -> Period {
        if self.month == 1 {
            Period { year: self.year - 1, month: 12 }
        } else {
            Period { year: self.year, month: self.month - 1 }
        }
    }

    /// The last day of the period.
    pub fn last_day(self) -> NaiveDate {
        let next = if self.month == 12 {
            Period { year: self.year + 1, month: 1 }
        } else {
            Period { year: self.year, month: self.month + 1 }
        };
        next.first_day().pred_opt().unwrap_or(NaiveDate::MIN)
    }

    /// The first day of the month, where a period's billing starts.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// Resolve what the user typed against today's date (passed in, so tests fix the clock).
    pub fn parse_relative(text: &str, today: NaiveDate) -> Result<Period, PeriodError> {
        match text.trim() {
            "current" => Ok(Period::containing(today)),
            "previous" => Ok(Period::containing(today).previous()),
            other => other.parse(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid period `{0}`: expected current, previous or YYYY-MM (for example 2026-10)")]
pub struct PeriodError(String);

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PeriodError(s.to_string());
        let (y, m) = s.split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(err());
        }
        let year: i32 = y.parse().map_err(|_| err())?;
        let month: u32 = m.parse().map_err(|_| err())?;
        if !(1..=12).contains(&month) || !(2000..=2100).contains(&year) {
            return Err(err());
        }
        Ok(Period { year, month })
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn parses_every_form() {
        let today = day(2026, 1, 15);
        let cases = [
            ("current", Ok(Period { year: 2026, month: 1 })),
            ("previous", Ok(Period { year: 2025, month: 12 })),
            ("2026-10", Ok(Period { year: 2026, month: 10 })),
            ("2026-13", Err(())),
            ("2026-1", Err(())),
            ("26-01", Err(())),
            ("last", Err(())),
            ("", Err(())),
        ];
        for (text, want) in cases {
            let got = Period::parse_relative(text, today).map_err(|_| ());
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn first_day_and_display() {
        let p = Period { year: 2026, month: 3 };
        assert_eq!(p.first_day(), day(2026, 3, 1));
        assert_eq!(p.to_string(), "2026-03");
        assert_eq!(p.last_day(), day(2026, 3, 31));
        assert_eq!(Period { year: 2026, month: 12 }.last_day(), day(2026, 12, 31));
        assert_eq!(Period { year: 2028, month: 2 }.last_day(), day(2028, 2, 29));
    }
}
