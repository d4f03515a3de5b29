//! What a billing line is worth a month (pure). Money is `Decimal`, never `f64`, and is
//! rounded once, to cents, per line; totals add the rounded lines, so every output's totals
//! agree with its lines.

use crate::model::BillCustomer;
use rust_decimal::{Decimal, RoundingStrategy};

/// The billed quantity: quantity less what the agreement includes, never below 0.
pub fn billed(quantity: Decimal, less_included: Decimal) -> Decimal {
    (quantity - less_included).max(Decimal::ZERO)
}

/// Rounded to cents, halves away from zero (as invoices are).
pub fn cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The monthly revenue and margin change of moving a line's billed quantity from `before`
/// to `after`, at `price` and `cost`. A line that is not invoiced (`DoNotBill`, `NoCharge`)
/// earns nothing but still costs. `None` when the price is unknown (a missing price is never
/// taken as 0); a missing cost is taken as no cost, as ConnectWise does.
pub fn change(
    before: Decimal,
    after: Decimal,
    price: Option<Decimal>,
    cost: Option<Decimal>,
    bill: Option<BillCustomer>,
) -> Option<(Decimal, Decimal)> {
    let price = price?;
    let delta = after - before;
    let invoiced = matches!(bill, None | Some(BillCustomer::Billable));
    let revenue = if invoiced { cents(delta * price) } else { Decimal::ZERO };
    let margin = cents(revenue - delta * cost.unwrap_or_default());
    Some((revenue, margin))
}

/// An amount as an owner reads it: grouped thousands, two decimals, the currency's symbol
/// where it is unambiguous (`$1,234.50`, `€12.00`) and its code otherwise (`1,234.50 CHF`);
/// `signed` puts `+` on gains. `minus` is the character for losses (`-`, or `\u{2212}` in HTML).
pub fn display(amount: Decimal, currency: Option<&str>, signed: bool, minus: &str) -> String {
    let rounded = cents(amount);
    let text = format!("{:.2}", rounded.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let number = format!("{grouped}.{fraction}");
    let sign = if rounded < Decimal::ZERO {
        minus
    } else if signed && rounded > Decimal::ZERO {
        "+"
    } else {
        ""
    };
    let symbol = match currency {
        Some("USD") => Some("$"),
        Some("EUR") => Some("\u{20ac}"),
        Some("GBP") => Some("\u{a3}"),
        Some("CAD") => Some("CA$"),
        Some("AUD") => Some("A$"),
        Some("NZD") => Some("NZ$"),
        _ => None,
    };
    match (symbol, currency) {
        (Some(symbol), _) => format!("{sign}{symbol}{number}"),
        (None, Some(code)) => format!("{sign}{number} {code}"),
        (None, None) => format!("{sign}{number}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn billed_quantities_never_go_below_zero() {
        assert_eq!(billed(d("12"), d("0")), d("12"));
        assert_eq!(billed(d("12"), d("5")), d("7"));
        assert_eq!(billed(d("3"), d("5")), d("0"));
        assert_eq!(billed(d("10.5"), d("0.25")), d("10.25"));
    }

    #[test]
    fn money_change_table() {
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            Option<BillCustomer>,
            Option<(&'static str, &'static str)>,
        );
        let cases: Vec<Case> = vec![
            ("an increase", "10", "12", Some("45"), Some("30"), None, Some(("90", "30"))),
            (
                "a decrease",
                "12",
                "10",
                Some("45"),
                Some("30"),
                Some(BillCustomer::Billable),
                Some(("-90", "-30")),
            ),
            ("no cost", "0", "3", Some("22.50"), None, None, Some(("67.5", "67.5"))),
            ("fractional quantity", "10.5", "12", Some("19.99"), Some("10"), None, Some(("29.99", "14.99"))),
            ("rounded once per line", "0", "1", Some("0.005"), None, None, Some(("0.01", "0.01"))),
            (
                "not invoiced: only cost",
                "0",
                "4",
                Some("45"),
                Some("30"),
                Some(BillCustomer::DoNotBill),
                Some(("0", "-120")),
            ),
            ("no charge", "4", "0", Some("45"), Some("30"), Some(BillCustomer::NoCharge), Some(("0", "120"))),
            ("unknown price is unknown money", "1", "2", None, Some("3"), None, None),
            ("unchanged", "7", "7", Some("45"), Some("30"), None, Some(("0", "0"))),
        ];
        for (name, before, after, price, cost, bill, want) in cases {
            let got = change(d(before), d(after), price.map(d), cost.map(d), bill);
            assert_eq!(got, want.map(|(r, m)| (d(r), d(m))), "{name}");
        }
    }

    #[test]
    fn amounts_read_as_money() {
        assert_eq!(display(d("1234.5"), Some("USD"), false, "-"), "$1,234.50");
        assert_eq!(display(d("-1234567.891"), Some("USD"), true, "-"), "-$1,234,567.89");
        assert_eq!(display(d("90"), Some("EUR"), true, "-"), "+\u{20ac}90.00");
        assert_eq!(display(d("0"), Some("GBP"), true, "-"), "\u{a3}0.00");
        assert_eq!(display(d("-0.004"), Some("USD"), true, "-"), "$0.00");
        assert_eq!(display(d("999.999"), Some("CHF"), false, "-"), "1,000.00 CHF");
        assert_eq!(display(d("-12.5"), None, true, "\u{2212}"), "\u{2212}12.50");
        assert_eq!(display(d("100"), None, false, "-"), "100.00");
    }

    #[test]
    fn cents_round_halves_away_from_zero() {
        assert_eq!(cents(d("1.005")), d("1.01"));
        assert_eq!(cents(d("-1.005")), d("-1.01"));
        assert_eq!(cents(d("2.344")), d("2.34"));
    }
}
