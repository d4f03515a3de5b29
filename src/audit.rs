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
use crate::model::BillingLine;
use crate::plan::{Plan, PlanLine, Reason};
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
    #[serde(serialize_with = "crate::model::decimal_number_of")]
    pub vendor_quantity: Decimal,
    #[serde(serialize_with = "crate::model::decimal_number")]
    pub vendor_cost: Option<Decimal>,
    #[serde(serialize_with = "crate::model::decimal_number")]
    pub psa_quantity: Option<Decimal>,
    #[serde(serialize_with = "crate::model::decimal_number")]
    pub unit_price: Option<Decimal>,
    /// Vendor quantity less PSA quantity: positive when under-billed.
    #[serde(serialize_with = "crate::model::decimal_number")]
    pub gap_quantity: Option<Decimal>,
    /// What the gap is worth (always zero or more; `finding` says which way); `None` when
    /// neither a price nor a cost is known.
    #[serde(serialize_with = "crate::model::decimal_number")]
    pub gap_amount: Option<Decimal>,
    /// The vendor documents the charge comes from.
    pub documents: Vec<String>,
}

/// The month's money, by finding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Under-billed plus unmapped: money paid to vendors that no customer is billed for.
    #[serde(serialize_with = "crate::model::decimal_number_of")]
    pub leak: Decimal,
    #[serde(serialize_with = "crate::model::decimal_number_of")]
    pub under_billed: Decimal,
    #[serde(serialize_with = "crate::model::decimal_number_of")]
    pub unmapped: Decimal,
    #[serde(serialize_with = "crate::model::decimal_number_of")]
    pub over_billed: Decimal,
    #[serde(serialize_with = "crate::model::decimal_number_of")]
    pub not_charged: Decimal,
    /// What the audited vendors invoiced in all.
    #[serde(serialize_with = "crate::model::decimal_number_of")]
    pub invoiced: Decimal,
}

/// The PSA side the plan does not carry itself: the lines of every container read, and the
/// products each vendor's services map to (a mapped customer the vendor did not invoice has
/// no plan line of its own product).
pub struct PsaLines<'a> {
    pub lines: &'a BTreeMap<i64, Vec<BillingLine>>,
    pub products: &'a BTreeMap<String, BTreeSet<i64>>,
}

/// Audit `plan` (a dry sync of the month) against `charges` (each audited vendor's netted
/// charges). A gap worth no more than `tolerance` is `Matched`. Largest money first.
pub fn audit(
    plan: &Plan,
    charges: &BTreeMap<String, Vec<Charge>>,
    psa: &PsaLines,
    tolerance: Decimal,
) -> (Vec<Row>, Totals) {
    let charge_of: BTreeMap<(&str, &str, &str), &Charge> = charges
        .iter()
        .flat_map(|(v, cs)| {
            cs.iter().map(move |c| ((v.as_str(), c.account_id.as_str(), c.service_key.as_str()), c))
        })
        .collect();
    let mut used: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    let mut compared_lines: BTreeSet<(Option<i64>, Option<i64>)> = BTreeSet::new();
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
            compared_lines.insert((line.agreement_id, line.product_id));
            let billed = billed_in(plan, line, psa);
            rows.push(compared(line, billed, &source.vendor, charge, tolerance));
        }
    }
    let mut seen: BTreeSet<i64> = BTreeSet::new();
    for line in &plan.lines {
        for (row, psa_line) in not_charged(plan, line, charges, psa, &compared_lines, tolerance) {
            if seen.insert(psa_line) {
                rows.push(row);
            }
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

/// What the PSA line billed for the month: the units in force on its first day where the PSA
/// keeps units by date (Autotask; a sync may date its change later, in an open period), else
/// the line's quantity (ConnectWise and Halo keep no history).
fn billed_in(plan: &Plan, line: &PlanLine, psa: &PsaLines) -> Option<Decimal> {
    let held = line.addition_id.and_then(|id| {
        psa.lines
            .get(&line.agreement_id?)?
            .iter()
            .find(|l| l.id == id)?
            .quantity_at(Some(plan.period.first_day()))
    });
    held.or(line.before)
}

/// A charge a PSA line stands for: the vendor's quantity and cost beside what the line
/// billed (`billed`).
fn compared(
    line: &PlanLine,
    billed: Option<Decimal>,
    vendor: &str,
    charge: &Charge,
    tolerance: Decimal,
) -> Row {
    let psa = billed.unwrap_or_default();
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
        psa_quantity: billed,
        unit_price: price,
        gap_quantity: Some(gap),
        gap_amount: amount,
        documents: charge.documents.clone(),
    }
}

/// The PSA lines of a mapped customer an audited vendor did not invoice at all that month:
/// each line in force of a product the vendor's services map to, with its line id, unless
/// another customer's charge is compared with it.
fn not_charged(
    plan: &Plan,
    line: &PlanLine,
    charges: &BTreeMap<String, Vec<Charge>>,
    psa: &PsaLines,
    compared: &BTreeSet<(Option<i64>, Option<i64>)>,
    tolerance: Decimal,
) -> Vec<(Row, i64)> {
    let Some(Reason::AccountGone { vendor, account_id, account_name }) = &line.reason else {
        return Vec::new();
    };
    let (Some(agreement), Some(products)) = (line.agreement_id, psa.products.get(vendor)) else {
        return Vec::new();
    };
    if !charges.contains_key(vendor) {
        return Vec::new();
    }
    let first = plan.period.first_day();
    psa.lines
        .get(&agreement)
        .into_iter()
        .flatten()
        .filter(|l| l.product_id.is_some_and(|p| products.contains(&p)))
        .filter(|l| !compared.contains(&(Some(agreement), l.product_id)))
        .filter(|l| l.standing(plan.period) == crate::model::Standing::InForce)
        .filter_map(|l| {
            let quantity = l.quantity_at(Some(first)).filter(|q| *q > Decimal::ZERO)?;
            let amount = l.unit_price.map(|p| (quantity * p).round_dp(2));
            let row = Row {
                finding: if amount.is_some_and(|a| a <= tolerance) {
                    Finding::Matched
                } else {
                    Finding::NotCharged
                },
                vendor: vendor.clone(),
                account_id: account_id.clone(),
                account_name: account_name.clone(),
                service_key: String::new(),
                service: l.product_identifier.clone().unwrap_or_default(),
                company: Some(line.company.clone()),
                agreement: line.agreement.clone(),
                product: l.product_identifier.clone(),
                vendor_quantity: Decimal::ZERO,
                vendor_cost: None,
                psa_quantity: Some(quantity),
                unit_price: l.unit_price,
                gap_quantity: Some(-quantity),
                gap_amount: amount,
                documents: Vec::new(),
            };
            Some((row, l.id))
        })
        .collect()
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
                classes: Default::default(),
                notes: Vec::new(),
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

    /// A mapped customer the vendor did not invoice: the plan's line for its account.
    fn gone(account: &str) -> PlanLine {
        PlanLine {
            company: format!("Company {account}"),
            agreement_id: Some(11),
            reason: Some(Reason::AccountGone {
                vendor: "pax8".into(),
                account_id: account.into(),
                account_name: format!("Customer {account}"),
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
        // Agreement 11 holds 4 seats of the mapped product at 25, and a line of another product.
        let line = |id: i64, product: i64| BillingLine {
            id,
            agreement_id: 11,
            product_id: Some(product),
            product_identifier: Some(format!("P{product}")),
            quantity: Decimal::from(4),
            less_included: Decimal::ZERO,
            unit_price: Some(Decimal::from(25)),
            unit_cost: None,
            bill_customer: None,
            effective_date: None,
            cancelled_date: None,
            schedule: Vec::new(),
            inactive: false,
            computed: false,
            pro_rata: Decimal::ZERO,
        };
        let lines = BTreeMap::from([(11, vec![line(8, 100), line(9, 200)])]);
        let products = BTreeMap::from([("pax8".to_string(), BTreeSet::from([100]))]);
        let psa = PsaLines { lines: &lines, products: &products };
        let (rows, totals) = audit(&plan, &charges, &psa, CENT_TOLERANCE);
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
                vec![gone("c2"), gone("c3")],
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
    fn a_line_kept_by_date_is_judged_by_its_units_on_the_months_first_day() {
        use crate::model::UnitSpan;
        let day = |m: u32| chrono::NaiveDate::from_ymd_opt(2026, m, 1).unwrap();
        let span = |from: u32, to: u32, units: i64| UnitSpan {
            start: day(from),
            end: day(to),
            units: Decimal::from(units),
            price: None,
            cost: None,
            posted: false,
        };
        // November billed 40; the line has 45 from December (a sync dated it in the open month).
        let held = BillingLine {
            id: 7,
            agreement_id: 10,
            product_id: Some(100),
            product_identifier: None,
            quantity: Decimal::from(45),
            less_included: Decimal::ZERO,
            unit_price: None,
            unit_cost: None,
            bill_customer: None,
            effective_date: None,
            cancelled_date: None,
            schedule: vec![span(11, 12, 40), span(12, 12, 45)],
            inactive: false,
            computed: false,
            pro_rata: Decimal::ZERO,
        };
        let lines = BTreeMap::from([(10, vec![held])]);
        let products = BTreeMap::new();
        let plan = Plan {
            period: crate::period::Period { year: 2026, month: 11 },
            lines: vec![line("c1", Some(45), 45, "10")],
            warnings: Vec::new(),
        };
        let charges = BTreeMap::from([("pax8".to_string(), vec![charge("c1", 45, "900.00")])]);
        let (rows, _) =
            audit(&plan, &charges, &PsaLines { lines: &lines, products: &products }, CENT_TOLERANCE);
        assert_eq!((rows[0].finding, rows[0].psa_quantity), (Finding::UnderBilled, Some(Decimal::from(40))));
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
