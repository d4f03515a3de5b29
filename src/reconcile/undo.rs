//! The reverse of an applied change, for `recon undo`: an updated quantity goes back to what
//! it was; an addition the run created is set to 0 (recon never cancels or deletes one: 0 is
//! visible and reversible). A line changed since the run is left alone.

use crate::model::{BillingLine, Standing};
use crate::period::Period;
use crate::plan::{Action, DateRule, PlanLine, Reason, format_quantity};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// The line that puts one applied change of run `run_id` back, or a skipped line saying why
/// it cannot, given the current additions of its agreement.
///
/// `dated`: for a PSA that dates every change, the date the reverse takes effect (and why it
/// is not the period's first day); the line's quantity now is the one in force on it.
pub fn reverse(
    applied: &PlanLine,
    current: &[BillingLine],
    run_id: i64,
    period: Period,
    dated: Option<(NaiveDate, Option<DateRule>)>,
) -> PlanLine {
    let mut line = applied.clone();
    // A cost change goes back to the cost the line had, if nobody changed it since.
    if let Some(cost) = applied.new_unit_cost {
        let was = applied.money.as_ref().and_then(|m| m.unit_cost);
        let now = current.iter().find(|a| Some(a.id) == applied.addition_id).map(|a| a.unit_cost);
        line.sources = Vec::new();
        line.money = None;
        (line.action, line.reason) = match (now, was) {
            (None, _) => (Action::Skipped, Some(Reason::UndoGone { addition_id: applied.addition_id })),
            (Some(n), _) if n != Some(cost) => (
                Action::Skipped,
                Some(Reason::UndoChangedSince {
                    run_id,
                    now: n.map_or("no cost".to_string(), |c| format!("cost {c:.2}")),
                }),
            ),
            (Some(_), None) => (Action::Skipped, Some(Reason::UndoGone { addition_id: applied.addition_id })),
            (Some(_), Some(was)) => {
                line.new_unit_cost = Some(was);
                (Action::Update, Some(Reason::UndoCostBackTo { cost: was }))
            }
        };
        return line;
    }
    line.sources = Vec::new();
    line.effective_date = dated.map(|d| d.0);
    line.date_rule = dated.and_then(|d| d.1);
    line.bill_customer = None;
    line.money = None;
    let now = current
        .iter()
        .find(|a| Some(a.id) == applied.addition_id && a.standing(period) != Standing::Ended)
        .and_then(|a| a.quantity_at(line.effective_date));
    let target = match applied.action {
        Action::Add => Some(Decimal::ZERO),
        _ => applied.before,
    };
    line.before = now;
    let (action, reason) = match (now, target) {
        (None, _) => (Action::Skipped, Reason::UndoGone { addition_id: applied.addition_id }),
        (Some(q), _) if Some(q) != applied.after.map(Decimal::from) => {
            (Action::Skipped, Reason::UndoChangedSince { run_id, now: format_quantity(Some(q)) })
        }
        (Some(_), Some(t)) if let Some(whole) = t.normalize().to_u32().filter(|w| Decimal::from(*w) == t) => {
            line.after = Some(whole);
            let reason = if applied.action == Action::Add {
                Reason::UndoCreated
            } else {
                Reason::UndoBackTo { quantity: format_quantity(Some(t)) }
            };
            (Action::Update, reason)
        }
        (Some(_), _) => (Action::Skipped, Reason::UndoFractional),
    };
    line.action = action;
    line.reason = Some(reason);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addition(id: i64, quantity: f64, cancelled: bool) -> BillingLine {
        crate::reconcile::tests::addition_at(id, 100, quantity, cancelled)
    }

    fn applied(action: Action, before: Option<f64>, after: u32) -> PlanLine {
        crate::reconcile::tests::edr_line(action, Some(7), before, after)
    }

    #[test]
    fn reverse_table() {
        type Case = (&'static str, PlanLine, Vec<BillingLine>, Action, Option<f64>, Option<u32>, Reason);
        let cases: Vec<Case> = vec![
            (
                "an update goes back",
                applied(Action::Update, Some(9.0), 5),
                vec![addition(7, 5.0, false)],
                Action::Update,
                Some(5.0),
                Some(9),
                Reason::UndoBackTo { quantity: "9".into() },
            ),
            (
                "a created addition is set to 0",
                applied(Action::Add, None, 5),
                vec![addition(7, 5.0, false)],
                Action::Update,
                Some(5.0),
                Some(0),
                Reason::UndoCreated,
            ),
            (
                "changed since the run: left alone",
                applied(Action::Update, Some(9.0), 5),
                vec![addition(7, 6.0, false)],
                Action::Skipped,
                Some(6.0),
                Some(5),
                Reason::UndoChangedSince { run_id: 3, now: "6".into() },
            ),
            (
                "gone",
                applied(Action::Update, Some(9.0), 5),
                vec![addition(7, 5.0, true)],
                Action::Skipped,
                None,
                Some(5),
                Reason::UndoGone { addition_id: Some(7) },
            ),
            (
                "a fractional earlier quantity",
                applied(Action::Update, Some(9.5), 5),
                vec![addition(7, 5.0, false)],
                Action::Skipped,
                Some(5.0),
                Some(5),
                Reason::UndoFractional,
            ),
        ];
        for (name, line, current, action, before, after, reason) in cases {
            let got = reverse(&line, &current, 3, Period { year: 2026, month: 10 }, None);
            let before = before.map(|b| Decimal::try_from(b).unwrap());
            assert_eq!(
                (got.action, got.before, got.after, got.reason),
                (action, before, after, Some(reason)),
                "{name}"
            );
            assert!(got.sources.is_empty());
        }
    }
}
