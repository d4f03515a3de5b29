//! The reverse of an applied change, for `recon undo`: an updated quantity goes back to what
//! it was; an addition the run created is set to 0 (recon never cancels or deletes one: 0 is
//! visible and reversible). A line changed since the run is left alone.
//!
//! A reverse carries the money of what it reverses, negated at the line's price (so an undo
//! of a +672.00 run is -672.00), and names the vendors (and accounts) of the reversed line:
//! its totals by vendor and by company add up like a sync's. Its sources' quantities are
//! those the reversed run read; the vendors are not asked again.

use crate::model::{BillingLine, Standing};
use crate::period::Period;
use crate::plan::{Action, DateRule, LineMoney, PlanLine, Reason, format_quantity};
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
    line.money = None;
    line.findings = Vec::new();
    // A cost change goes back to the cost the line had, if nobody changed it since.
    if let Some(cost) = applied.new_unit_cost {
        let was = applied.money.as_ref().and_then(|m| m.unit_cost);
        let now = current.iter().find(|a| Some(a.id) == applied.addition_id).map(|a| a.unit_cost);
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
                line.money = applied.money.as_ref().map(|m| reversed(m, Some(cost)));
                (Action::Update, Some(Reason::UndoCostBackTo { cost: was }))
            }
        };
        return line;
    }
    line.effective_date = dated.map(|d| d.0);
    line.date_rule = dated.and_then(|d| d.1);
    line.bill_customer = None;
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
            line.money = applied.money.as_ref().map(|m| reversed(m, m.unit_cost));
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

/// The money of a reverse: from where the change ended back to where it started, every amount
/// negated (`unit_cost`: the cost the line has when the reverse is written).
fn reversed(m: &LineMoney, unit_cost: Option<Decimal>) -> LineMoney {
    LineMoney {
        unit_price: m.unit_price,
        unit_cost,
        billed_before: m.billed_after,
        billed_after: m.billed_before,
        revenue_change: m.revenue_change.map(|r| -r),
        margin_change: m.margin_change.map(|r| -r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addition(id: i64, quantity: f64, cancelled: bool) -> BillingLine {
        crate::reconcile::tests::addition_at(id, 100, quantity, cancelled)
    }

    /// An applied change at 3.00 a unit (cost 1.25), fed by one Huntress account.
    fn applied(action: Action, before: Option<f64>, after: u32) -> PlanLine {
        let mut line = crate::reconcile::tests::edr_line(action, Some(7), before, after);
        let billed_before = line.before.unwrap_or_default();
        let billed_after = Decimal::from(after);
        line.money = Some(LineMoney {
            unit_price: Some(Decimal::from(3)),
            unit_cost: Some(Decimal::new(125, 2)),
            billed_before,
            billed_after,
            revenue_change: Some((billed_after - billed_before) * Decimal::from(3)),
            margin_change: Some((billed_after - billed_before) * Decimal::new(175, 2)),
        });
        line.sources = vec![crate::plan::Source {
            vendor: "huntress".into(),
            account_id: "h-1".into(),
            account_name: "Acme".into(),
            service_key: "edr".into(),
            quantity: after,
            parts: Vec::new(),
            classes: Default::default(),
            notes: Vec::new(),
        }];
        line
    }

    #[test]
    fn reverse_table() {
        // name, the applied change, the additions now, and what the reverse does: action,
        // before, after, why, and what it is worth a month (`None`: nothing, it is skipped).
        type Case = (
            &'static str,
            PlanLine,
            Vec<BillingLine>,
            Action,
            Option<f64>,
            Option<u32>,
            Reason,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "an update goes back",
                applied(Action::Update, Some(9.0), 5),
                vec![addition(7, 5.0, false)],
                Action::Update,
                Some(5.0),
                Some(9),
                Reason::UndoBackTo { quantity: "9".into() },
                Some("12"),
            ),
            (
                "a created addition is set to 0",
                applied(Action::Add, None, 5),
                vec![addition(7, 5.0, false)],
                Action::Update,
                Some(5.0),
                Some(0),
                Reason::UndoCreated,
                Some("-15"),
            ),
            (
                "changed since the run: left alone",
                applied(Action::Update, Some(9.0), 5),
                vec![addition(7, 6.0, false)],
                Action::Skipped,
                Some(6.0),
                Some(5),
                Reason::UndoChangedSince { run_id: 3, now: "6".into() },
                None,
            ),
            (
                "gone",
                applied(Action::Update, Some(9.0), 5),
                vec![addition(7, 5.0, true)],
                Action::Skipped,
                None,
                Some(5),
                Reason::UndoGone { addition_id: Some(7) },
                None,
            ),
            (
                "a fractional earlier quantity",
                applied(Action::Update, Some(9.5), 5),
                vec![addition(7, 5.0, false)],
                Action::Skipped,
                Some(5.0),
                Some(5),
                Reason::UndoFractional,
                None,
            ),
        ];
        for (name, line, current, action, before, after, reason, revenue) in cases {
            let got = reverse(&line, &current, 3, Period { year: 2026, month: 10 }, None);
            let before = before.map(|b| Decimal::try_from(b).unwrap());
            assert_eq!(
                (got.action, got.before, got.after, got.reason.clone()),
                (action, before, after, Some(reason)),
                "{name}"
            );
            let revenue = revenue.map(|r| r.parse::<Decimal>().unwrap());
            assert_eq!(got.revenue_change(), revenue, "{name}: the money of the reverse");
            if let (Some(m), Some(was)) = (&got.money, &line.money) {
                assert_eq!(
                    (m.billed_before, m.billed_after),
                    (was.billed_after, was.billed_before),
                    "{name}"
                );
                assert_eq!(m.margin_change, was.margin_change.map(|c| -c), "{name}");
            }
            assert_eq!(got.vendors(), ["huntress"], "{name}: the vendors of the line it reverses");
        }
    }
}
