//! Before a held change is pushed on approval: what the PSA holds now may differ from what it
//! held when the change was planned. Decide, from the additions read now, whether to write,
//! whether it is already done, or why a blind write would overwrite someone's change.

use super::create_date;
use crate::model::{BillingLine, BillingTerms, QuantityWrites, Standing};
use crate::period::Period;
use crate::plan::{Action, PlanLine};
use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq)]
pub enum Recheck {
    /// Write this line now (an add, or an update of the addition found).
    Push(Box<PlanLine>),
    /// The PSA already holds the target quantity.
    AlreadyDone,
    /// Not pushed: the reason.
    Conflict(Conflict),
}

/// Why a held change is not pushed on approval.
#[derive(Debug, Clone, PartialEq)]
pub enum Conflict {
    /// The held line has no agreement, product or quantity to write.
    Incomplete,
    /// The addition it was held for is no longer active.
    AdditionGone { addition_id: i64 },
    /// The addition's quantity changed since the change was held.
    ChangedMeanwhile { now: Decimal, then: Option<Decimal> },
    /// Several active additions of the product now.
    SeveralAdditions { count: usize },
    /// A held add whose agreement's billing terms could not be read: it cannot be dated.
    TermsNotRead,
    /// A dated change whose line shows no units in force on the date it would take effect.
    NoUnitsOnDate { date: chrono::NaiveDate },
    /// The line's unit cost changed since the cost change was held.
    CostChangedMeanwhile { now: Option<Decimal>, then: Option<Decimal> },
}

/// The decision for one held `line` of `period`, given the current additions of its agreement
/// and its billing terms now. A held add is dated afresh: the next invoice date has likely
/// moved since the change was held.
///
/// A PSA that dates every change (`QuantityWrites::DatedDelta`) dates an update afresh too,
/// and compares the units in force on that date.
pub fn recheck(
    line: &PlanLine,
    current: &[BillingLine],
    period: Period,
    terms: Option<&BillingTerms>,
    writes: QuantityWrites,
) -> Recheck {
    let (Some(_), Some(product_id), Some(after)) = (line.agreement_id, line.product_id, line.after) else {
        return Recheck::Conflict(Conflict::Incomplete);
    };
    let live: Vec<&BillingLine> = current
        .iter()
        .filter(|a| a.standing(period) == Standing::InForce && a.product_id == Some(product_id))
        .collect();
    let mut line = line.clone();
    line.reason = None;
    // A cost change: the line it was held for, still at the cost it had then.
    if let Some(cost) = line.new_unit_cost {
        let then = line.money.as_ref().and_then(|m| m.unit_cost);
        return match live.iter().find(|a| Some(a.id) == line.addition_id) {
            None => Recheck::Conflict(Conflict::AdditionGone {
                addition_id: line.addition_id.unwrap_or_default(),
            }),
            Some(a) if a.unit_cost == Some(cost) => Recheck::AlreadyDone,
            Some(a) if a.unit_cost == then => {
                line.action = Action::Update;
                Recheck::Push(Box::new(line))
            }
            Some(a) => Recheck::Conflict(Conflict::CostChangedMeanwhile { now: a.unit_cost, then }),
        };
    }
    if writes == QuantityWrites::DatedDelta {
        let Some(terms) = terms else { return Recheck::Conflict(Conflict::TermsNotRead) };
        let (date, rule) = create_date(period, terms);
        line.effective_date = Some(date);
        line.date_rule = rule;
        return match (live.as_slice(), line.addition_id) {
            ([], None) => {
                line.action = Action::Add;
                Recheck::Push(Box::new(line))
            }
            ([], Some(addition_id)) => Recheck::Conflict(Conflict::AdditionGone { addition_id }),
            ([one], held_on) if held_on.is_none_or(|id| id == one.id) => match one.quantity_at(Some(date)) {
                None => Recheck::Conflict(Conflict::NoUnitsOnDate { date }),
                Some(now) if now == Decimal::from(after) => Recheck::AlreadyDone,
                Some(now) if Some(now) == line.before => {
                    line.action = Action::Update;
                    line.addition_id = Some(one.id);
                    Recheck::Push(Box::new(line))
                }
                Some(now) => Recheck::Conflict(Conflict::ChangedMeanwhile { now, then: line.before }),
            },
            ([one], Some(_)) => Recheck::Conflict(Conflict::ChangedMeanwhile {
                now: one.quantity_at(Some(date)).unwrap_or(one.quantity),
                then: line.before,
            }),
            (several, _) => Recheck::Conflict(Conflict::SeveralAdditions { count: several.len() }),
        };
    }
    match (live.as_slice(), line.addition_id) {
        ([], None) => {
            let Some(terms) = terms else { return Recheck::Conflict(Conflict::TermsNotRead) };
            let (date, rule) = create_date(period, terms);
            line.action = Action::Add;
            line.effective_date = Some(date);
            line.date_rule = rule;
            Recheck::Push(Box::new(line))
        }
        ([], Some(addition_id)) => Recheck::Conflict(Conflict::AdditionGone { addition_id }),
        ([one], _) if one.quantity == Decimal::from(after) => Recheck::AlreadyDone,
        ([one], held_on) if held_on.is_none_or(|id| id == one.id) && Some(one.quantity) == line.before => {
            line.action = Action::Update;
            line.addition_id = Some(one.id);
            Recheck::Push(Box::new(line))
        }
        ([one], _) => Recheck::Conflict(Conflict::ChangedMeanwhile { now: one.quantity, then: line.before }),
        (several, _) => Recheck::Conflict(Conflict::SeveralAdditions { count: several.len() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addition(id: i64, quantity: f64) -> BillingLine {
        crate::reconcile::tests::addition_at(id, 100, quantity, false)
    }

    fn q(v: f64) -> Decimal {
        Decimal::try_from(v).unwrap()
    }

    fn held(addition_id: Option<i64>, before: Option<f64>, after: u32) -> PlanLine {
        let mut line = crate::reconcile::tests::edr_line(Action::Held, addition_id, before, after);
        line.reason = Some(crate::plan::Reason::Held { hold: crate::plan::Hold::Decrease });
        line
    }

    fn push(action: Action, addition_id: Option<i64>, before: Option<f64>, after: u32) -> Recheck {
        let mut line = held(addition_id, before, after);
        line.action = action;
        line.reason = None;
        if action == Action::Add {
            line.effective_date = Some(PERIOD.first_day());
        }
        Recheck::Push(Box::new(line))
    }

    const PERIOD: Period = Period { year: 2026, month: 10 };
    const TERMS: BillingTerms = BillingTerms {
        container_id: 10,
        bill_start_date: None,
        next_invoice_date: None,
        prorate: true,
        currency: None,
        open_from: None,
    };

    #[test]
    fn recheck_table() {
        let cases: Vec<(&str, PlanLine, Vec<BillingLine>, Recheck)> = vec![
            (
                "unchanged since: update",
                held(Some(7), Some(9.0), 5),
                vec![addition(7, 9.0)],
                push(Action::Update, Some(7), Some(9.0), 5),
            ),
            (
                "already at the target",
                held(Some(7), Some(9.0), 5),
                vec![addition(7, 5.0)],
                Recheck::AlreadyDone,
            ),
            (
                "changed meanwhile: never overwritten",
                held(Some(7), Some(9.0), 5),
                vec![addition(7, 12.0)],
                Recheck::Conflict(Conflict::ChangedMeanwhile { now: q(12.0), then: Some(q(9.0)) }),
            ),
            (
                "a held add with no addition yet",
                held(None, None, 5),
                vec![],
                push(Action::Add, None, None, 5),
            ),
            (
                "a held add someone created meanwhile at another quantity",
                held(None, None, 5),
                vec![addition(8, 3.0)],
                Recheck::Conflict(Conflict::ChangedMeanwhile { now: q(3.0), then: None }),
            ),
            (
                "gone",
                held(Some(7), Some(9.0), 5),
                vec![],
                Recheck::Conflict(Conflict::AdditionGone { addition_id: 7 }),
            ),
            (
                "two now",
                held(Some(7), Some(9.0), 5),
                vec![addition(7, 9.0), addition(8, 1.0)],
                Recheck::Conflict(Conflict::SeveralAdditions { count: 2 }),
            ),
        ];
        for (name, line, current, want) in cases {
            assert_eq!(
                recheck(&line, &current, PERIOD, Some(&TERMS), QuantityWrites::InPlace),
                want,
                "{name}"
            );
        }
        let mut incomplete = held(Some(7), Some(9.0), 5);
        incomplete.product_id = None;
        assert_eq!(
            recheck(&incomplete, &[], PERIOD, Some(&TERMS), QuantityWrites::InPlace),
            Recheck::Conflict(Conflict::Incomplete)
        );
        // A held add is dated by the terms as they are now, or not pushed without them.
        let invoiced = BillingTerms {
            container_id: 10,
            bill_start_date: None,
            next_invoice_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 1),
            prorate: false,
            currency: None,
            open_from: None,
        };
        let Recheck::Push(add) =
            recheck(&held(None, None, 5), &[], PERIOD, Some(&invoiced), QuantityWrites::InPlace)
        else {
            panic!("pushed")
        };
        assert_eq!(add.effective_date, chrono::NaiveDate::from_ymd_opt(2026, 11, 1));
        assert_eq!(
            recheck(&held(None, None, 5), &[], PERIOD, None, QuantityWrites::InPlace),
            Recheck::Conflict(Conflict::TermsNotRead)
        );
    }
}
