//! Price and cost findings of a line (pure): the vendor's unit cost beside the PSA line's
//! cost, and the line's price beside the cost. Findings are for a person; recon never
//! changes a price or a cost.

use crate::plan::{Action, Finding, Hold, LineMoney, PlanLine, Reason, Source};
use crate::policy::CostRules;
use rust_decimal::Decimal;

/// What the vendor charges a unit of the line, across every part that feeds it: the
/// quantity-weighted cost when every part has one, `None` when any part's cost is unknown
/// (or no part says), never a guess.
pub fn vendor_cost(sources: &[Source]) -> Option<Decimal> {
    let parts: Vec<_> = sources.iter().flat_map(|s| &s.parts).collect();
    if parts.is_empty() || parts.iter().any(|p| p.unit_cost.is_none()) {
        return None;
    }
    let units: Decimal = parts.iter().map(|p| Decimal::from(p.quantity)).sum();
    let spent: Decimal = parts.iter().filter_map(|p| Some(p.unit_cost? * Decimal::from(p.quantity))).sum();
    if units.is_zero() {
        // Nothing billed: the parts' cost is still what a unit would cost, if they agree.
        let first = parts[0].unit_cost;
        return parts.iter().all(|p| p.unit_cost == first).then_some(first).flatten();
    }
    Some((spent / units).round_dp(4))
}

/// The findings of a line whose price is `price` and whose PSA cost is `psa_cost`.
pub fn findings(
    vendor_cost: Option<Decimal>,
    price: Option<Decimal>,
    psa_cost: Option<Decimal>,
    rules: &CostRules,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let hundred = Decimal::from(100);
    if let Some(vendor) = vendor_cost {
        match psa_cost {
            None => out.push(Finding::CostDiffers { vendor_cost: vendor, psa_cost: None, hundredths: None }),
            Some(psa) if psa.is_zero() && !vendor.is_zero() => {
                out.push(Finding::CostDiffers { vendor_cost: vendor, psa_cost: Some(psa), hundredths: None })
            }
            Some(psa) if !psa.is_zero() => {
                let percent = (vendor - psa) * hundred / psa;
                if percent.abs() > rules.tolerance_percent {
                    let hundredths = i64::try_from((percent * hundred).round()).ok();
                    out.push(Finding::CostDiffers { vendor_cost: vendor, psa_cost: Some(psa), hundredths });
                }
            }
            Some(_) => {}
        }
    }
    // The true cost is the vendor's when it says; else the PSA's.
    let (Some(price), Some(cost)) = (price, vendor_cost.or(psa_cost)) else { return out };
    if price < cost {
        out.push(Finding::BelowCost { price, cost });
    } else if let Some(min) = rules.min_margin_percent
        && price > Decimal::ZERO
    {
        let margin = (price - cost) * hundred / price;
        if margin < Decimal::from(min) {
            let hundredths = i64::try_from((margin * hundred).round()).unwrap_or(0);
            out.push(Finding::LowMargin { hundredths, min });
        }
    }
    out
}

/// With `[sync] update_costs`, the held change of a line's unit cost to the vendor's: a copy
/// of the line that sets only its cost, its quantity left as the PSA holds it. Only for a
/// line the PSA holds (never an add) whose cost differs; never pushed without a person.
pub fn cost_change(line: &PlanLine, rules: &CostRules) -> Option<PlanLine> {
    if !rules.update_costs || line.addition_id.is_none() || line.action == Action::Skipped {
        return None;
    }
    let (from, to) = line.findings.iter().find_map(|f| match f {
        Finding::CostDiffers { vendor_cost, psa_cost, .. } => Some((*psa_cost, *vendor_cost)),
        _ => None,
    })?;
    let money = line.money.as_ref()?;
    let billed = money.billed_before;
    let mut cost = line.clone();
    cost.action = Action::Held;
    cost.reason = Some(Reason::Held { hold: Hold::Cost { from, to } });
    cost.new_unit_cost = Some(to);
    cost.findings = Vec::new();
    cost.date_rule = None;
    // The quantity stays what the PSA holds: a cost change writes nothing else.
    cost.after = line
        .before
        .filter(|b| b.fract().is_zero())
        .and_then(|b| rust_decimal::prelude::ToPrimitive::to_u32(&b));
    cost.money = Some(LineMoney {
        unit_price: money.unit_price,
        unit_cost: from,
        billed_before: billed,
        billed_after: billed,
        revenue_change: Some(Decimal::ZERO),
        margin_change: Some(crate::money::cents(-(to - from.unwrap_or_default()) * billed)),
    });
    Some(cost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Subscription;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn source(parts: &[(u32, Option<&str>)]) -> Source {
        Source {
            vendor: "pax8".into(),
            account_id: "c1".into(),
            account_name: "Acme".into(),
            service_key: "p1".into(),
            quantity: parts.iter().map(|p| p.0).sum(),
            parts: parts
                .iter()
                .enumerate()
                .map(|(i, (q, c))| Subscription {
                    account_id: "c1".into(),
                    service_key: "p1".into(),
                    id: format!("s{i}"),
                    quantity: *q,
                    term: None,
                    commitment_ends: None,
                    unit_cost: c.map(d),
                    unit_price: None,
                })
                .collect(),
            classes: Default::default(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_vendor_cost_is_weighted_by_quantity_and_unknown_when_a_part_is() {
        assert_eq!(vendor_cost(&[source(&[(10, Some("20")), (30, Some("24"))])]), Some(d("23")));
        assert_eq!(vendor_cost(&[source(&[(10, Some("20")), (30, None)])]), None);
        assert_eq!(vendor_cost(&[source(&[])]), None, "a vendor without parts gives no cost");
        assert_eq!(vendor_cost(&[source(&[(0, Some("20"))])]), Some(d("20")));
    }

    #[test]
    fn findings_table() {
        let rules =
            CostRules { tolerance_percent: Decimal::ONE, min_margin_percent: Some(20), update_costs: false };
        let no_margin = CostRules { min_margin_percent: None, ..rules };
        type Case = (
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            CostRules,
            Vec<Finding>,
        );
        let cases: [Case; 8] = [
            ("all agree, margin fine", Some("20"), Some("30"), Some("20"), rules, vec![]),
            ("within the tolerance", Some("20.10"), Some("30"), Some("20"), rules, vec![]),
            (
                "the vendor's cost went up",
                Some("20.90"),
                Some("30"),
                Some("20"),
                rules,
                vec![Finding::CostDiffers {
                    vendor_cost: d("20.90"),
                    psa_cost: Some(d("20")),
                    hundredths: Some(450),
                }],
            ),
            (
                "the PSA line has no cost",
                Some("20"),
                Some("30"),
                None,
                rules,
                vec![Finding::CostDiffers { vendor_cost: d("20"), psa_cost: None, hundredths: None }],
            ),
            (
                "sold below the vendor's cost",
                Some("22.60"),
                Some("22"),
                Some("20"),
                no_margin,
                vec![
                    Finding::CostDiffers {
                        vendor_cost: d("22.60"),
                        psa_cost: Some(d("20")),
                        hundredths: Some(1300),
                    },
                    Finding::BelowCost { price: d("22"), cost: d("22.60") },
                ],
            ),
            (
                "no vendor cost: the PSA's cost judges the price",
                None,
                Some("18"),
                Some("20"),
                rules,
                vec![Finding::BelowCost { price: d("18"), cost: d("20") }],
            ),
            (
                "a thin margin",
                None,
                Some("22"),
                Some("20"),
                rules,
                vec![Finding::LowMargin { hundredths: 909, min: 20 }],
            ),
            ("margins not judged", None, Some("22"), Some("20"), no_margin, vec![]),
        ];
        for (name, vendor, price, psa, rules, want) in cases {
            assert_eq!(findings(vendor.map(d), price.map(d), psa.map(d), &rules), want, "{name}");
        }
    }

    #[test]
    fn a_cost_change_is_a_held_copy_of_the_line_that_sets_only_its_cost() {
        let rules = CostRules { update_costs: true, ..CostRules::default() };
        let mut line = crate::reconcile::tests::edr_line(Action::Unchanged, Some(7), Some(15.0), 15);
        line.money = Some(LineMoney {
            unit_price: Some(d("22")),
            unit_cost: Some(d("20")),
            billed_before: d("15"),
            billed_after: d("15"),
            revenue_change: Some(Decimal::ZERO),
            margin_change: Some(Decimal::ZERO),
        });
        line.findings = vec![Finding::CostDiffers {
            vendor_cost: d("20.90"),
            psa_cost: Some(d("20")),
            hundredths: Some(450),
        }];
        let cost = cost_change(&line, &rules).unwrap();
        assert_eq!(
            (cost.action, cost.new_unit_cost, cost.before, cost.after),
            (Action::Held, Some(d("20.90")), line.before, Some(15))
        );
        assert_eq!(
            cost.reason,
            Some(Reason::Held { hold: Hold::Cost { from: Some(d("20")), to: d("20.90") } })
        );
        assert_eq!(
            cost.money.as_ref().unwrap().margin_change,
            Some(d("-13.50")),
            "15 x 0.90 less margin a month"
        );
        assert!(cost.findings.is_empty());
        // Off by default; never for an add (no line yet) or without a cost finding.
        assert!(cost_change(&line, &CostRules::default()).is_none());
        let mut add = line.clone();
        add.addition_id = None;
        assert!(cost_change(&add, &rules).is_none());
        let mut fine = line.clone();
        fine.findings.clear();
        assert!(cost_change(&fine, &rules).is_none());
    }
}
