//! What a vendor invoiced for one month: month-addressed usage. A vendor that can answer
//! "usage for month M" (Pax8's invoices, Sherweb's payable charges, Sophos's billing usage)
//! gives the documents it issued for M; this checks each one and nets them into one quantity
//! and cost per account and service. Pure: the adapters fetch, this decides.
//!
//! Unknown is never zero: a month the vendor has not published (or still holds open) is
//! `MonthRead::NotAvailable`, and nothing is billed from it.

use crate::model::Document;
use crate::period::Period;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// The most a document's stated total may differ from the sum of its lines.
pub const CENT: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// What a vendor answered for a month.
#[derive(Debug, Clone, PartialEq)]
pub enum MonthRead {
    Available(Vec<Document>),
    /// Not published yet, empty, or still open at the vendor: never zero.
    NotAvailable(String),
}

/// What the vendor charged one account for one service over a month, every counted
/// document netted (a credit note takes its seats and money back).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Charge {
    pub account_id: String,
    pub account_name: String,
    pub service_key: String,
    pub service_name: String,
    pub quantity: Decimal,
    pub cost: Option<Decimal>,
    /// The documents it comes from, by id.
    pub documents: Vec<String>,
}

/// A document whose total is not the sum of its lines (within a cent) cannot be trusted:
/// the sentence says which and by how much.
pub fn check_total(doc: &Document) -> Result<(), String> {
    check_stated(&doc.id, doc.total, &doc.lines.iter().map(|l| l.amount).collect::<Vec<_>>())
}

/// Document `id` states `total`, and its lines are `amounts`: they must agree within a cent
/// (nothing to check when either side gives no money).
pub fn check_stated(id: &str, total: Option<Decimal>, amounts: &[Option<Decimal>]) -> Result<(), String> {
    let Some(total) = total else { return Ok(()) };
    let Some(sum) = amounts.iter().copied().sum::<Option<Decimal>>() else { return Ok(()) };
    if (total - sum).abs() > CENT {
        return Err(format!(
            "invoice {id} states a total of {total} but its {} line(s) add up to {sum}; nothing from it is used",
            amounts.len()
        ));
    }
    Ok(())
}

/// The documents that count: not void, one per id (the last listed wins: a re-read of the
/// same document is never added twice).
pub fn counted(docs: &[Document]) -> Vec<&Document> {
    let mut by_id: BTreeMap<&str, &Document> = BTreeMap::new();
    for d in docs.iter().filter(|d| !d.void) {
        by_id.insert(d.id.as_str(), d);
    }
    by_id.into_values().collect()
}

/// Every counted document netted per account and service, after checking each total.
pub fn net(docs: &[Document]) -> Result<Vec<Charge>, String> {
    let counted = counted(docs);
    for d in &counted {
        check_total(d)?;
    }
    let mut out: BTreeMap<(String, String), Charge> = BTreeMap::new();
    for d in counted {
        for l in &d.lines {
            let c = out.entry((l.account_id.clone(), l.service_key.clone())).or_insert_with(|| Charge {
                account_id: l.account_id.clone(),
                account_name: l.account_name.clone().unwrap_or_else(|| l.account_id.clone()),
                service_key: l.service_key.clone(),
                service_name: l.service_name.clone().unwrap_or_else(|| l.service_key.clone()),
                quantity: Decimal::ZERO,
                cost: Some(Decimal::ZERO),
                documents: Vec::new(),
            });
            c.quantity += l.quantity;
            c.cost = c.cost.zip(l.amount).map(|(a, b)| a + b);
            if !c.documents.contains(&d.id) {
                c.documents.push(d.id.clone());
            }
        }
    }
    Ok(out.into_values().collect())
}

/// Whether `date` falls in `period`: a document line belongs to the month its service
/// period starts in.
pub fn in_month(date: NaiveDate, period: Period) -> bool {
    Period::containing(date) == period
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DocumentLine;
    use crate::vendors::distributor::of_charges;

    fn line(account: &str, service: &str, quantity: i64, amount: &str) -> DocumentLine {
        DocumentLine {
            account_id: account.into(),
            account_name: Some(format!("Customer {account}")),
            service_key: service.into(),
            service_name: Some(format!("Service {service}")),
            quantity: Decimal::from(quantity),
            amount: Some(amount.parse().unwrap()),
        }
    }

    fn doc(id: &str, total: &str, lines: Vec<DocumentLine>) -> Document {
        Document {
            id: id.into(),
            issued: NaiveDate::from_ymd_opt(2026, 12, 1),
            status: Some("Paid".into()),
            void: false,
            credit_note: false,
            total: Some(total.parse().unwrap()),
            currency: Some("USD".into()),
            lines,
        }
    }

    fn quantities(charges: &[Charge]) -> Vec<(String, String, Decimal, Option<Decimal>)> {
        charges.iter().map(|c| (c.account_id.clone(), c.service_key.clone(), c.quantity, c.cost)).collect()
    }

    #[test]
    fn documents_net_per_account_and_service() {
        let d = |q: i64, cost: &str| (Decimal::from(q), Some(cost.parse::<Decimal>().unwrap()));
        type Case =
            (&'static str, Vec<Document>, Vec<(&'static str, &'static str, (Decimal, Option<Decimal>))>);
        let cases: Vec<Case> = vec![
            (
                "one invoice: a renewal and a pro-rata of one service add up",
                vec![doc(
                    "i1",
                    "240.00",
                    vec![line("c1", "m365", 10, "200.00"), line("c1", "m365", 2, "40.00")],
                )],
                vec![("c1", "m365", d(12, "240.00"))],
            ),
            (
                "a credit note takes seats and money back",
                vec![
                    doc("i1", "200.00", vec![line("c1", "m365", 10, "200.00")]),
                    doc("cn1", "-40.00", vec![line("c1", "m365", -2, "-40.00")]),
                ],
                vec![("c1", "m365", d(8, "160.00"))],
            ),
            (
                "a void invoice is replaced by its re-issue, never added to it",
                vec![
                    Document { void: true, ..doc("i1", "200.00", vec![line("c1", "m365", 10, "200.00")]) },
                    doc("i2", "180.00", vec![line("c1", "m365", 9, "180.00")]),
                ],
                vec![("c1", "m365", d(9, "180.00"))],
            ),
            (
                "the same document read twice counts once",
                vec![
                    doc("i1", "200.00", vec![line("c1", "m365", 10, "200.00")]),
                    doc("i1", "200.00", vec![line("c1", "m365", 10, "200.00")]),
                ],
                vec![("c1", "m365", d(10, "200.00"))],
            ),
        ];
        for (name, docs, want) in cases {
            let got = net(&docs).unwrap();
            let want: Vec<_> =
                want.into_iter().map(|(a, s, (q, c))| (a.to_string(), s.to_string(), q, c)).collect();
            assert_eq!(quantities(&got), want, "{name}");
        }
    }

    #[test]
    fn a_total_that_does_not_add_up_is_refused_within_a_cent() {
        let ok = doc("i1", "200.01", vec![line("c1", "m365", 10, "200.00")]);
        assert!(check_total(&ok).is_ok(), "a cent of rounding is accepted");
        let off = doc("i7", "210.00", vec![line("c1", "m365", 10, "200.00")]);
        let err = net(&[off]).unwrap_err();
        assert!(
            err.contains("invoice i7 states a total of 210.00 but its 1 line(s) add up to 200.00"),
            "{err}"
        );
    }

    #[test]
    fn a_snapshot_of_the_month_bills_whole_counts_and_fails_a_fraction() {
        let charges = net(&[doc(
            "i1",
            "250.00",
            vec![line("c1", "m365", 10, "200.00"), line("c2", "m365", 2, "50.00")],
        )])
        .unwrap();
        let s = of_charges(&charges);
        let usage: Vec<(&str, u32)> = s.usage.iter().map(|u| (u.account_id.as_str(), u.quantity)).collect();
        assert_eq!(usage, vec![("c1", 10), ("c2", 2)]);
        assert_eq!(s.subscriptions[0].unit_cost, Some(Decimal::from(20)));
        let mut half = charges[0].clone();
        half.quantity = "1.5".parse().unwrap();
        let s = of_charges(&[half]);
        assert!(s.usage.is_empty() && s.failed_accounts().len() == 1);
    }
}
