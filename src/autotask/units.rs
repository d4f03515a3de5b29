//! Autotask's ContractServiceUnits as recon reads them (pure): each row becomes a `UnitSpan`
//! of its contract service, and a contract's posted rows say from which day a change may
//! take effect.

use crate::model::UnitSpan;
use chrono::{Datelike, NaiveDate};

/// The first day a change to a contract may take effect, from its unit rows: the start of
/// the first period after the last posted one. `None` when nothing is posted (every period
/// in the rows is open). Periods are posted in order, so the last posted one decides.
pub fn open_from(spans: &[&UnitSpan]) -> Option<NaiveDate> {
    let last_posted = spans.iter().filter(|s| s.posted).max_by_key(|s| s.start)?;
    let next = spans.iter().filter(|s| s.start > last_posted.start && !s.posted).map(|s| s.start).min();
    Some(next.unwrap_or_else(|| after_end(last_posted)))
}

/// The day after a span, whichever way its end is written: an end on the 1st, or on the day
/// of the month it started, is where the next begins (`startDate <= d < endDate`); an end on
/// its last day is followed by the next day.
fn after_end(span: &UnitSpan) -> NaiveDate {
    if span.end > span.start && (span.end.day() == 1 || span.end.day() == span.start.day()) {
        span.end
    } else {
        span.end.succ_opt().unwrap_or(span.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BillingLine, span_at};
    use rust_decimal::Decimal;

    fn day(m: u32, d: u32) -> NaiveDate {
        let year = if m >= 10 { 2026 } else { 2027 };
        NaiveDate::from_ymd_opt(year, m, d).unwrap()
    }

    fn span(start: NaiveDate, end: NaiveDate, units: i64, posted: bool) -> UnitSpan {
        UnitSpan { start, end, units: Decimal::from(units), price: None, cost: None, posted }
    }

    #[test]
    fn units_at_a_date_come_from_the_row_covering_it_never_the_first_row() {
        // One row per month, ends written as the last day; a change of +5 from Nov 15.
        let inclusive = vec![
            span(day(12, 1), day(12, 31), 15, false),
            span(day(10, 1), day(10, 31), 10, true),
            span(day(11, 1), day(11, 14), 10, true),
            span(day(11, 15), day(11, 30), 15, true),
        ];
        // The same, with ends written as the next row's start.
        let exclusive = vec![
            span(day(12, 1), day(1, 1), 15, false),
            span(day(10, 1), day(11, 1), 10, true),
            span(day(11, 1), day(11, 15), 10, true),
            span(day(11, 15), day(12, 1), 15, true),
        ];
        for spans in [&inclusive, &exclusive] {
            let at = |d| span_at(spans, d).map(|s| s.units);
            assert_eq!(at(day(10, 1)), Some(Decimal::from(10)));
            assert_eq!(at(day(11, 1)), Some(Decimal::from(10)), "the row that starts on the day wins");
            assert_eq!(at(day(11, 14)), Some(Decimal::from(10)));
            assert_eq!(at(day(11, 15)), Some(Decimal::from(15)), "a mid-period change starts its own row");
            assert_eq!(at(day(12, 1)), Some(Decimal::from(15)));
            assert_eq!(at(day(9, 1)), None, "after the last row: unknown, never 0");
            let line = BillingLine {
                id: 1,
                agreement_id: 2,
                product_id: Some(3),
                product_identifier: None,
                quantity: Decimal::from(15),
                less_included: Decimal::ZERO,
                unit_price: None,
                unit_cost: None,
                bill_customer: None,
                effective_date: None,
                cancelled_date: None,
                schedule: spans.clone(),
                inactive: false,
                computed: false,
                pro_rata: Decimal::ZERO,
            };
            assert_eq!(line.quantity_at(Some(day(11, 20))), Some(Decimal::from(15)));
            assert_eq!(line.quantity_at(Some(day(10, 20))), Some(Decimal::from(10)));
            assert_eq!(line.quantity_at(None), None, "a dated line needs a date");
        }
    }

    #[test]
    fn the_open_period_follows_the_last_posted_one() {
        let refs = |v: &[UnitSpan]| v.to_vec();
        let rows = refs(&[
            span(day(10, 1), day(10, 31), 10, true),
            span(day(11, 1), day(11, 30), 10, true),
            span(day(12, 1), day(12, 31), 10, false),
        ]);
        assert_eq!(open_from(&rows.iter().collect::<Vec<_>>()), Some(day(12, 1)));
        // Nothing posted: every period is open.
        let open = refs(&[span(day(12, 1), day(12, 31), 10, false)]);
        assert_eq!(open_from(&open.iter().collect::<Vec<_>>()), None);
        // The last row is posted: the day after it, for either way of writing the end.
        let last = refs(&[span(day(11, 1), day(11, 30), 10, true)]);
        assert_eq!(open_from(&last.iter().collect::<Vec<_>>()), Some(day(12, 1)));
        let last = refs(&[span(day(11, 1), day(12, 1), 10, true)]);
        assert_eq!(open_from(&last.iter().collect::<Vec<_>>()), Some(day(12, 1)));
        // A period split by a mid-period change: both halves posted, the next one open.
        let split = refs(&[
            span(day(11, 1), day(11, 14), 10, true),
            span(day(11, 15), day(11, 30), 12, true),
            span(day(12, 1), day(12, 31), 12, false),
        ]);
        assert_eq!(open_from(&split.iter().collect::<Vec<_>>()), Some(day(12, 1)));
    }
}
