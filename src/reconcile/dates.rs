//! The effective date of a new billing line, or of a dated change, as the PSA accepts it (pure).

use crate::model::BillingTerms;
use crate::period::Period;
use crate::plan::DateRule;
use chrono::NaiveDate;

/// The first day of the period, moved forward to the agreement's bill start date when that
/// is later, and, when the agreement does not prorate and its next invoice date is after
/// that (the period is already invoiced), to the next invoice date. ConnectWise refuses a
/// create dated before either; the rule says which moved it. Last, a date in a period already
/// closed for good (Autotask: posted) moves to the first open day, `open_from`.
pub fn create_date(period: Period, terms: &BillingTerms) -> (NaiveDate, Option<DateRule>) {
    let mut date = period.first_day();
    let mut rule = None;
    if let Some(start) = terms.bill_start_date
        && start > date
    {
        date = start;
        rule = Some(DateRule::BillStart { date: start });
    }
    if !terms.prorate
        && let Some(next) = terms.next_invoice_date
        && next > date
    {
        date = next;
        rule = Some(DateRule::AlreadyInvoiced { next_invoice: next });
    }
    if let Some(open) = terms.open_from
        && open > date
    {
        date = open;
        rule = Some(DateRule::Posted { open_from: open });
    }
    (date, rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        let year = if m >= 10 { 2026 } else { 2027 };
        NaiveDate::from_ymd_opt(year, m, d).unwrap()
    }

    #[test]
    fn create_date_table() {
        let december = Period { year: 2026, month: 12 };
        let terms = |start: Option<NaiveDate>, next: Option<NaiveDate>, prorate: bool| BillingTerms {
            container_id: 1,
            bill_start_date: start,
            next_invoice_date: next,
            prorate,
            currency: None,
            open_from: None,
        };
        let cases = [
            ("nothing invoiced yet", terms(Some(day(10, 1)), Some(day(12, 1)), false), day(12, 1), None),
            (
                "invoiced, not prorated: from the next invoice",
                terms(Some(day(10, 1)), Some(day(1, 1)), false),
                day(1, 1),
                Some(DateRule::AlreadyInvoiced { next_invoice: day(1, 1) }),
            ),
            (
                "invoiced but prorated: the 1st",
                terms(Some(day(10, 1)), Some(day(1, 1)), true),
                day(12, 1),
                None,
            ),
            (
                "bill start in the period",
                terms(Some(day(12, 15)), None, true),
                day(12, 15),
                Some(DateRule::BillStart { date: day(12, 15) }),
            ),
            (
                "bill start in the period and invoiced",
                terms(Some(day(12, 15)), Some(day(1, 1)), false),
                day(1, 1),
                Some(DateRule::AlreadyInvoiced { next_invoice: day(1, 1) }),
            ),
            (
                "next invoice before the bill start",
                terms(Some(day(12, 20)), Some(day(12, 10)), false),
                day(12, 20),
                Some(DateRule::BillStart { date: day(12, 20) }),
            ),
            ("unknown dates: the 1st", terms(None, None, false), day(12, 1), None),
        ];
        for (name, terms, date, rule) in cases {
            assert_eq!(create_date(december, &terms), (date, rule), "{name}");
        }
        // A posted period (Autotask): from the first open day; an open period is not moved.
        let posted =
            |open: NaiveDate| BillingTerms { open_from: Some(open), ..terms(Some(day(10, 1)), None, true) };
        assert_eq!(
            create_date(december, &posted(day(1, 1))),
            (day(1, 1), Some(DateRule::Posted { open_from: day(1, 1) }))
        );
        assert_eq!(create_date(december, &posted(day(12, 1))), (day(12, 1), None));
        assert_eq!(create_date(december, &posted(day(11, 1))), (day(12, 1), None));
    }
}
