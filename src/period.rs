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

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period { year: self.year + 1, month: 1 }
        } else {
            Period { year: self.year, month: self.month + 1 }
        }
    }

    /// The last day of the period.
    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or(NaiveDate::MIN)
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

    /// The period a sync bills, from what the user typed: never after the current month, and
    /// at most a year before it unless `old` (`--allow-old-period`) says so, because a
    /// back-dated run plans additions that start billing that far back.
    pub fn to_bill(text: &str, today: NaiveDate, old: bool) -> Result<Period, PeriodError> {
        let period = Period::parse_relative(text, today)?;
        let current = Period::containing(today);
        let earliest = current.months_back(12);
        if period > current {
            return Err(PeriodError::Future { period, current, earliest });
        }
        if period < earliest && !old {
            return Err(PeriodError::TooOld { period, current, earliest });
        }
        Ok(period)
    }

    /// The period `n` months before this one.
    pub fn months_back(self, n: u32) -> Period {
        (0..n).fold(self, |p, _| p.previous())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeriodError {
    #[error("invalid period `{0}`: expected current, previous or YYYY-MM (for example 2026-10)")]
    Format(String),
    #[error(
        "the period {period} is after the current one ({current}): recon bills usage already reported; \
         --period takes current, previous or a month from {earliest} to {current}"
    )]
    Future { period: Period, current: Period, earliest: Period },
    #[error(
        "the period {period} is more than a year before the current one ({current}); --period takes \
         current, previous or a month from {earliest} to {current}, and an older month needs \
         --allow-old-period (new lines would start billing in {period})"
    )]
    TooOld { period: Period, current: Period, earliest: Period },
}

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PeriodError::Format(s.to_string());
        let (y, m) = s.split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(err());
        }
        let year: i32 = y.parse().map_err(|_| err())?;
        let month: u32 = m.parse().map_err(|_| err())?;
        if !(1..=12).contains(&month) || year < 1 {
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
    fn a_billed_period_is_at_most_a_year_back_and_never_ahead() {
        let today = day(2026, 12, 3);
        let p = |y, m| Period { year: y, month: m };
        type Case = (&'static str, bool, Result<Period, &'static str>);
        let cases: [Case; 8] = [
            ("current", false, Ok(p(2026, 12))),
            ("previous", false, Ok(p(2026, 11))),
            ("2025-12", false, Ok(p(2025, 12))),
            ("2025-11", false, Err("more than a year before the current one (2026-12)")),
            ("1999-01", false, Err("a month from 2025-12 to 2026-12")),
            ("1999-01", true, Ok(p(1999, 1))),
            ("2027-01", false, Err("after the current one")),
            ("2027-01", true, Err("after the current one")),
        ];
        for (text, old, want) in cases {
            match (Period::to_bill(text, today, old), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(e), Err(says)) => assert!(e.to_string().contains(says), "{text}: {e}"),
                (got, want) => panic!("{text} (old {old}): {got:?}, want {want:?}"),
            }
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
