//! "Does the PSA already hold this write?", asked after a write whose answer was lost and of
//! a run a killed process left unfinished: the one rule that decides, from the additions read
//! now, that a planned write took effect.

use crate::model::{BillingLine, span_at};
use crate::plan::{Action, DateRule, PlanLine};
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// The addition that shows `line`'s write done, if any: active, of the line's product, at
/// the line's target quantity, and the very addition an update was for.
pub fn holding_addition(line: &PlanLine, additions: &[BillingLine]) -> Option<i64> {
    // A cost change: the very line, at the new cost.
    if let Some(cost) = line.new_unit_cost {
        return additions
            .iter()
            .find(|a| Some(a.id) == line.addition_id && a.unit_cost == Some(cost))
            .map(|a| a.id);
    }
    let (Some(product_id), Some(after)) = (line.product_id, line.after) else { return None };
    additions
        .iter()
        .find(|a| {
            a.product_id == Some(product_id)
                // A dated line: its units on the date the write took effect.
                && a.quantity_at(line.effective_date) == Some(Decimal::from(after))
                && match line.action {
                    // recon creates additions with no cancel date.
                    Action::Add => a.cancelled_date.is_none(),
                    _ => line.addition_id.is_none_or(|id| id == a.id),
                }
        })
        .map(|a| a.id)
}

/// A dated change the PSA refused because its date now lies in a posted period (someone
/// posted it during the run): the same change dated on `open_from`, the first open day the
/// container's lines read now show, against the units in force there. `None` when that day
/// is not later than the line's date (the refusal was about something else), when no row
/// covers it, when the units change again after it (left to a person, as the plan does), or
/// when an add's line appeared meanwhile: the next run plans those afresh.
pub fn redated(line: &PlanLine, lines_now: &[BillingLine], open_from: NaiveDate) -> Option<PlanLine> {
    if line.effective_date.is_none_or(|d| open_from <= d) || line.new_unit_cost.is_some() {
        return None;
    }
    let target = Decimal::from(line.after?);
    let mut next = PlanLine {
        effective_date: Some(open_from),
        date_rule: Some(DateRule::Posted { open_from }),
        ..line.clone()
    };
    match line.action {
        Action::Add => {
            let appeared =
                lines_now.iter().any(|a| a.product_id == line.product_id && a.cancelled_date.is_none());
            (!appeared).then_some(next)
        }
        Action::Update => {
            let addition = lines_now.iter().find(|a| Some(a.id) == line.addition_id)?;
            let span = span_at(&addition.schedule, open_from)?;
            let later = addition.schedule.iter().any(|s| s.start > open_from && s.units != span.units);
            if later || span.units == target {
                return None;
            }
            next.before = Some(span.units);
            next.money = Some(super::span_money(addition, span, target));
            Some(next)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addition(id: i64, product: i64, quantity: f64, cancelled: bool) -> BillingLine {
        crate::reconcile::tests::addition_at(id, product, quantity, cancelled)
    }

    fn line(action: Action, addition_id: Option<i64>, after: u32) -> PlanLine {
        crate::reconcile::tests::edr_line(action, addition_id, None, after)
    }

    #[test]
    fn holding_addition_table() {
        let cases: Vec<(&str, PlanLine, Vec<BillingLine>, Option<i64>)> = vec![
            (
                "an update that took",
                line(Action::Update, Some(7), 5),
                vec![addition(7, 100, 5.0, false)],
                Some(7),
            ),
            (
                "an update that did not",
                line(Action::Update, Some(7), 5),
                vec![addition(7, 100, 4.0, false)],
                None,
            ),
            (
                "another addition at the target",
                line(Action::Update, Some(7), 5),
                vec![addition(8, 100, 5.0, false)],
                None,
            ),
            ("an add that took", line(Action::Add, None, 5), vec![addition(9, 100, 5.0, false)], Some(9)),
            ("an add that did not", line(Action::Add, None, 5), vec![], None),
            (
                "a cancelled one does not count",
                line(Action::Add, None, 5),
                vec![addition(9, 100, 5.0, true)],
                None,
            ),
            (
                "another product does not count",
                line(Action::Add, None, 5),
                vec![addition(9, 101, 5.0, false)],
                None,
            ),
            (
                "a fractional quantity is not the target",
                line(Action::Add, None, 5),
                vec![addition(9, 100, 5.5, false)],
                None,
            ),
        ];
        for (name, line, additions, want) in cases {
            assert_eq!(holding_addition(&line, &additions), want, "{name}");
        }
    }

    #[test]
    fn a_change_refused_in_a_period_posted_meanwhile_is_redated_to_the_open_one() {
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        let span = |start, end, units: i64| crate::model::UnitSpan {
            start,
            end,
            units: Decimal::from(units),
            price: Some(Decimal::from(10)),
            cost: None,
            posted: false,
        };
        let with_schedule = |units: [i64; 2]| BillingLine {
            schedule: vec![span(day(10, 1), day(11, 1), units[0]), span(day(11, 1), day(12, 1), units[1])],
            ..addition(7, 100, 3.0, false)
        };
        let dated = |action, addition_id| PlanLine {
            effective_date: Some(day(10, 1)),
            ..line(action, addition_id, 5)
        };
        let update = dated(Action::Update, Some(7));
        // November is the open day now: +2 from November's 3, at its price.
        let again = redated(&update, &[with_schedule([3, 3])], day(11, 1)).unwrap();
        assert_eq!((again.effective_date, again.before), (Some(day(11, 1)), Some(Decimal::from(3))));
        assert_eq!(again.date_rule, Some(DateRule::Posted { open_from: day(11, 1) }));
        assert_eq!(again.delta(), Some(Decimal::from(2)));
        assert_eq!(again.revenue_change(), Some(Decimal::from(20)));
        // November's units differ (a dated change someone made): the delta is from there.
        assert_eq!(
            redated(&update, &[with_schedule([3, 4])], day(11, 1)).unwrap().delta(),
            Some(Decimal::ONE)
        );
        let cases: Vec<(&str, PlanLine, Vec<BillingLine>, NaiveDate)> = vec![
            (
                "the date is still open: refused for another reason",
                update.clone(),
                vec![with_schedule([3, 3])],
                day(10, 1),
            ),
            ("no row on the open day", update.clone(), vec![with_schedule([3, 3])], day(12, 15)),
            ("already at the target there", update.clone(), vec![with_schedule([3, 5])], day(11, 1)),
            ("the line is gone", update.clone(), vec![], day(11, 1)),
            (
                "an add whose line appeared meanwhile",
                dated(Action::Add, None),
                vec![with_schedule([3, 3])],
                day(11, 1),
            ),
        ];
        for (name, line, now, open) in cases {
            assert_eq!(redated(&line, &now, open), None, "{name}");
        }
        let add = redated(&dated(Action::Add, None), &[], day(11, 1)).unwrap();
        assert_eq!((add.action, add.effective_date, add.after), (Action::Add, Some(day(11, 1)), Some(5)));
    }
}
