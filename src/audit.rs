//! The audit of one month: for every customer and product a vendor invoiced, what the vendor
//! billed the MSP beside what the PSA bills the customer, and the gap in money. Pure: it
//! reads the plan a dry sync of that month made from the vendors' own invoices (so it
//! matches, maps and prices exactly as a sync would) and the charges it was netted from.
//!
//! - under-billed: the vendor charges more seats than the PSA bills (money paid, not billed);
//! - over-billed: the PSA bills more than the vendor charges;
//! - unmapped: a vendor charge no PSA line stands for (nobody maps its customer or product);
//! - not charged: a mapped PSA line the vendor invoiced nothing for that month.
//!
//! A gap is valued at the PSA's unit price (what the customer is or would be billed), or at
//! the vendor's unit cost where the PSA has no price; an unmapped charge at what it cost.

use crate::invoice::Charge;
use crate::plan::{Plan, PlanLine, Reason, Unknown};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

crate::text_enum! {
    /// What one audit row found.
    pub enum Finding {
        UnderBilled = "under_billed",
        OverBilled = "over_billed",
        Unmapped = "unmapped",
        NotCharged = "not_charged",
        Matched = "matched",
    }
}

/// One (customer, product) of the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub finding: Finding,
    pub vendor: String,
    pub account_id: String,
    pub account_name: String,
    pub service_key: String,
    pub service: String,
    /// The PSA company and line, when a line stands for the charge.
    pub company: Option<String>,
    pub agreement: Option<String>,
    pub product: Option<String>,
    #[serde(serialize_with = "crate::plan::decimal_number_of")]
    pub vendor_quantity: Decimal,
    #[serde(serialize_with = "crate::plan::decimal_number")]
    pub vendor_cost: Option<Decimal>,
    #[serde(serialize_with = "crate::plan::decimal_number")]
    pub psa_quantity: Option<Decimal>,
    #[serde(serialize_with = "crate::plan::decimal_number")]
    pub unit_price: Option<Decimal>,
    /// Vendor quantity less PSA quantity: positive when under-billed.
    #[serde(serialize_with = "crate::plan::decimal_number")]
    pub gap_quantity: Option<Decimal>,
    /// What the gap is worth (always zero or more; `finding` says which way); `None` when
    /// neither a price nor a cost is known.
    #[serde(serialize_with = "crate::plan::decimal_number")]
    pub gap_amount: Option<Decimal>,
    /// The vendor documents the charge comes from.
    pub documents: Vec<String>,
}

/// The month's money, by finding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Under-billed plus unmapped: money paid to vendors that no customer is billed for.
    #[serde(serialize_with = "crate::plan::decimal_number_of")]
    pub leak: Decimal,
    #[serde(serialize_with = "crate::plan::decimal_number_of")]
    pub under_billed: Decimal,
    #[serde(serialize_with = "crate::plan::decimal_number_of")]
    pub unmapped: Decimal,
    #[serde(serialize_with = "crate::plan::decimal_number_of")]
    pub over_billed: Decimal,
    #[serde(serialize_with = "crate::plan::decimal_number_of")]
    pub not_charged: Decimal,
    /// What the audited vendors invoiced in all.
    #[serde(serialize_with = "crate::plan::decimal_number_of")]
    pub invoiced: Decimal,
}

/// Audit `plan` (a dry sync of the month) against `charges` (each audited vendor's netted
/// charges). `prices` are the PSA lines' unit prices by line id (a line the plan skipped
/// carries no money of its own). A gap worth no more than `tolerance` is `Matched`. Largest
/// money first.
pub fn audit(
    plan: &Plan,
    charges: &BTreeMap<String, Vec<Charge>>,
    prices: &BTreeMap<i64, Decimal>,
    tolerance: Decimal,
) -> (Vec<Row>, Totals) {
    let charge_of: BTreeMap<(&str, &str, &str), &Charge> = charges
        .iter()
        .flat_map(|(v, cs)| {
            cs.iter().map(move |c| ((v.as_str(), c.account_id.as_str(), c.service_key.as_str()), c))
        })
        .collect();
    let mut used: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    let mut rows = Vec::new();
    for line in &plan.lines {
        for source in line.sources.iter().filter(|s| charges.contains_key(&s.vendor)) {
            let key = (source.vendor.as_str(), source.account_id.as_str(), source.service_key.as_str());
            let Some(charge) = charge_of.get(&key) else { continue };
            if line.before.is_none() && line.agreement_id.is_none() {
                // Planned as no line at all (no agreement, no service mapped): unmapped.
                continue;
            }
            used.insert(key);
            rows.push(compared(line, &source.vendor, charge, tolerance));
        }
        if let Some(row) = not_charged(line, charges, prices, tolerance) {
            rows.push(row);
        }
    }
    for (key, charge) in &charge_of {
        if used.contains(key) || charge.quantity.is_zero() && charge.cost.is_none_or(|c| c.is_zero()) {
            continue;
        }
        rows.push(Row {
            finding: Finding::Unmapped,
            vendor: key.0.to_string(),
            account_id: charge.account_id.clone(),
            account_name: charge.account_name.clone(),
            service_key: charge.service_key.clone(),
            service: charge.service_name.clone(),
            company: None,
            agreement: None,
            product: None,
            vendor_quantity: charge.quantity,
            vendor_cost: charge.cost,
            psa_quantity: None,
            unit_price: None,
            gap_quantity: Some(charge.quantity),
            gap_amount: charge.cost.map(|c| c.abs()),
            documents: charge.documents.clone(),
        });
    }
    rows.sort_by(|a, b| {
        let money = |r: &Row| {
            if r.finding == Finding::Matched { Decimal::MIN } else { r.gap_amount.unwrap_or_default() }
        };
        money(b)
            .cmp(&money(a))
            .then_with(|| a.account_name.cmp(&b.account_name))
            .then_with(|| a.service.cmp(&b.service))
    });
    let mut totals =
        Totals { invoiced: charges.values().flatten().filter_map(|c| c.cost).sum(), ..Totals::default() };
    for r in &rows {
        let amount = r.gap_amount.unwrap_or_default();
        match r.finding {
            Finding::UnderBilled => totals.under_billed += amount,
            Finding::Unmapped => totals.unmapped += amount,
            Finding::OverBilled => totals.over_billed += amount,
            Finding::NotCharged => totals.not_charged += amount,
            Finding::Matched => {}
        }
    }
    totals.leak = totals.under_billed + totals.unmapped;
    (rows, totals)
}

/// A charge a PSA line stands for: the vendor's quantity and cost beside the line's.
fn compared(line: &PlanLine, vendor: &str, charge: &Charge, tolerance: Decimal) -> Row {
    let psa = line.before.unwrap_or_default();
    // One line may add up several charges (two vendors, two services): this charge's share
    // is what it adds; the PSA side is the line's when it is the line's only source.
    let shared = line.sources.len() > 1;
    let gap = charge.quantity - if shared { psa.min(charge.quantity) } else { psa };
    let price = line.money.as_ref().and_then(|m| m.unit_price);
    let unit_cost = charge.cost.filter(|_| !charge.quantity.is_zero()).map(|c| c / charge.quantity);
    let amount = price.or(unit_cost).map(|p| (gap * p).abs().round_dp(2));
    let finding = if amount.is_some_and(|a| a <= tolerance) || gap.is_zero() {
        Finding::Matched
    } else if gap > Decimal::ZERO {
        Finding::UnderBilled
    } else {
        Finding::OverBilled
    };
    Row {
        finding,
        vendor: vendor.to_string(),
        account_id: charge.account_id.clone(),
        account_name: charge.account_name.clone(),
        service_key: charge.service_key.clone(),
        service: charge.service_name.clone(),
        company: Some(line.company.clone()),
        agreement: line.agreement.clone(),
        product: line.product.clone(),
        vendor_quantity: charge.quantity,
        vendor_cost: charge.cost,
        psa_quantity: line.before,
        unit_price: price,
        gap_quantity: Some(gap),
        gap_amount: amount,
        documents: charge.documents.clone(),
    }
}

/// A mapped PSA line whose account an audited vendor did not invoice at all that month.
fn not_charged(
    line: &PlanLine,
    charges: &BTreeMap<String, Vec<Charge>>,
    prices: &BTreeMap<i64, Decimal>,
    tolerance: Decimal,
) -> Option<Row> {
    let Some(Reason::UsageUnknown { unknown, .. }) = &line.reason else { return None };
    let (vendor, account_name) = unknown.iter().find_map(|u| match u {
        Unknown::AccountGone { vendor, account_name } if charges.contains_key(vendor) => {
            Some((vendor, account_name))
        }
        _ => None,
    })?;
    let psa = line.before.filter(|q| *q > Decimal::ZERO)?;
    let price = line
        .money
        .as_ref()
        .and_then(|m| m.unit_price)
        .or_else(|| line.addition_id.and_then(|id| prices.get(&id).copied()));
    let amount = price.map(|p| (psa * p).round_dp(2));
    Some(Row {
        finding: if amount.is_some_and(|a| a <= tolerance) { Finding::Matched } else { Finding::NotCharged },
        vendor: vendor.clone(),
        account_id: String::new(),
        account_name: account_name.clone(),
        service_key: String::new(),
        service: line.product.clone().unwrap_or_default(),
        company: Some(line.company.clone()),
        agreement: line.agreement.clone(),
        product: line.product.clone(),
        vendor_quantity: Decimal::ZERO,
        vendor_cost: None,
        psa_quantity: Some(psa),
        unit_price: price,
        gap_quantity: Some(-psa),
        gap_amount: amount,
        documents: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, LineMoney, Source};

    fn charge(account: &str, quantity: i64, cost: &str) -> Charge {
        Charge {
            account_id: account.into(),
            account_name: format!("Customer {account}"),
            service_key: "m365".into(),
            service_name: "Microsoft 365".into(),
            quantity: Decimal::from(quantity),
            cost: Some(cost.parse().unwrap()),
            documents: vec!["INV-1".into()],
        }
    }

    fn line(account: &str, before: Option<i64>, after: u32, price: &str) -> PlanLine {
        PlanLine {
            action: Action::Update,
            company: format!("Company {account}"),
            agreement_id: Some(10),
            agreement: Some("Managed".into()),
            product: Some("M365".into()),
            addition_id: Some(7),
            before: before.map(Decimal::from),
            after: Some(after),
            sources: vec![Source {
                vendor: "pax8".into(),
                account_id: account.into(),
                account_name: format!("Customer {account}"),
                service_key: "m365".into(),
                quantity: after,
                parts: Vec::new(),
            }],
            money: Some(LineMoney {
                unit_price: Some(price.parse().unwrap()),
                unit_cost: None,
                billed_before: Decimal::ZERO,
                billed_after: Decimal::ZERO,
                revenue_change: None,
                margin_change: None,
            }),
            ..PlanLine::empty()
        }
    }

    fn gone(account_name: &str, before: i64) -> PlanLine {
        PlanLine {
            action: Action::Skipped,
            company: format!("Company {account_name}"),
            agreement_id: Some(11),
            product: Some("M365".into()),
            addition_id: Some(8),
            before: Some(Decimal::from(before)),
            reason: Some(Reason::UsageUnknown {
                unknown: vec![Unknown::AccountGone {
                    vendor: "pax8".into(),
                    account_name: account_name.into(),
                }],
                partial: false,
            }),
            ..PlanLine::empty()
        }
    }

    fn audited(
        lines: Vec<PlanLine>,
        charges: Vec<Charge>,
    ) -> (Vec<(Finding, String, Option<Decimal>)>, Totals) {
        let plan =
            Plan { period: crate::period::Period { year: 2026, month: 11 }, lines, warnings: Vec::new() };
        let charges = BTreeMap::from([("pax8".to_string(), charges)]);
        let prices = BTreeMap::from([(8, Decimal::from(25))]);
        let (rows, totals) = audit(&plan, &charges, &prices, CENT_TOLERANCE);
        (rows.into_iter().map(|r| (r.finding, r.account_name, r.gap_amount)).collect(), totals)
    }

    const CENT_TOLERANCE: Decimal = crate::invoice::CENT;

    #[test]
    fn each_kind_of_gap_is_found_and_valued_largest_first() {
        let money = |s: &str| Some(s.parse::<Decimal>().unwrap());
        type Case = (&'static str, Vec<PlanLine>, Vec<Charge>, Vec<(Finding, &'static str, Option<Decimal>)>);
        let cases: Vec<Case> = vec![
            (
                "billed as invoiced: matched",
                vec![line("c1", Some(10), 10, "26.40")],
                vec![charge("c1", 10, "200.00")],
                vec![(Finding::Matched, "Customer c1", money("0"))],
            ),
            (
                "3 seats paid, not billed: under-billed at the PSA price",
                vec![line("c1", Some(42), 45, "26.40")],
                vec![charge("c1", 45, "900.00")],
                vec![(Finding::UnderBilled, "Customer c1", money("79.20"))],
            ),
            (
                "the PSA bills 2 more than the vendor charges: over-billed",
                vec![line("c1", Some(12), 10, "26.40")],
                vec![charge("c1", 10, "200.00")],
                vec![(Finding::OverBilled, "Customer c1", money("52.80"))],
            ),
            (
                "no PSA line yet: all of it under-billed",
                vec![PlanLine {
                    action: Action::Add,
                    before: None,
                    addition_id: None,
                    ..line("c1", None, 5, "26.40")
                }],
                vec![charge("c1", 5, "100.00")],
                vec![(Finding::UnderBilled, "Customer c1", money("132.00"))],
            ),
            (
                "a charge no line stands for: unmapped at its cost, before a smaller gap",
                vec![line("c1", Some(9), 10, "26.40")],
                vec![charge("c1", 10, "200.00"), charge("c9", 9, "180.00")],
                vec![
                    (Finding::Unmapped, "Customer c9", money("180.00")),
                    (Finding::UnderBilled, "Customer c1", money("26.40")),
                ],
            ),
            (
                "a mapped line the vendor no longer invoices: not charged, at the line's price",
                vec![gone("Customer c2", 4)],
                vec![charge("c1", 0, "0")],
                vec![(Finding::NotCharged, "Customer c2", money("100"))],
            ),
            (
                "a gap within the tolerance is matched",
                vec![PlanLine { before: Some("9.9996".parse().unwrap()), ..line("c1", None, 10, "20") }],
                vec![charge("c1", 10, "200.00")],
                vec![(Finding::Matched, "Customer c1", money("0.01"))],
            ),
        ];
        for (name, lines, charges, want) in cases {
            let (got, _) = audited(lines, charges);
            let want: Vec<_> = want.into_iter().map(|(f, a, m)| (f, a.to_string(), m)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn the_leak_is_what_is_paid_and_not_billed() {
        let (_, totals) = audited(
            vec![line("c1", Some(42), 45, "26.40"), line("c2", Some(12), 10, "26.40")],
            vec![charge("c1", 45, "900.00"), charge("c2", 10, "200.00"), charge("c9", 9, "180.00")],
        );
        assert_eq!(totals.under_billed, "79.20".parse().unwrap());
        assert_eq!(totals.unmapped, "180.00".parse().unwrap());
        assert_eq!(totals.leak, "259.20".parse().unwrap());
        assert_eq!(totals.over_billed, "52.80".parse().unwrap());
        assert_eq!(totals.invoiced, "1280.00".parse().unwrap());
    }
}
