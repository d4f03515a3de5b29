//! "Does the PSA already hold this write?", asked after a write whose answer was lost and of
//! a run a killed process left unfinished: the one rule that decides, from the additions read
//! now, that a planned write took effect.

use crate::model::BillingLine;
use crate::plan::{Action, PlanLine};
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
}
