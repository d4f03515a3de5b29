//! The report as CSV: one row per recorded line of the run, every column of the page's
//! tables, RFC 4180 (quoted where needed, CRLF line ends), for a spreadsheet.

use super::Report;
use crate::plan::{PlanLine, Reason, format_quantity};
use rust_decimal::Decimal;

/// The header, in order. Stable: scripts read columns by these names.
pub const COLUMNS: &[&str] = &[
    "run_id",
    "period",
    "change_id",
    "action",
    "state",
    "vendor",
    "accounts",
    "company_id",
    "company",
    "agreement_id",
    "agreement",
    "product_id",
    "product",
    "addition_id",
    "psa_quantity",
    "vendor_quantity",
    "quantity_change",
    "billed_before",
    "billed_after",
    "unit_price",
    "unit_cost",
    "revenue_change",
    "margin_change",
    "currency",
    "effective_date",
    "reason_code",
    "reason",
    "error",
    "vendor_unit_cost",
    "finding_codes",
    "findings",
    "sends",
];

pub fn rows(report: &Report) -> anyhow::Result<Vec<u8>> {
    let mut out = ::csv::WriterBuilder::new().terminator(::csv::Terminator::CRLF).from_writer(Vec::new());
    out.write_record(COLUMNS)?;
    let currency = report.currency().unwrap_or_default();
    for c in &report.changes {
        let line = &c.line;
        let money = line.money.as_ref();
        let amount = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
        let record: Vec<String> = vec![
            report.run.id.to_string(),
            report.run.period.to_string(),
            c.id.to_string(),
            line.action.as_str().to_string(),
            c.state.as_str().to_string(),
            text(&line.vendors().join("+")),
            text(&accounts(line)),
            id(line.company_id),
            text(&line.company),
            id(line.agreement_id),
            text(line.agreement.as_deref().unwrap_or_default()),
            id(line.product_id),
            text(line.product.as_deref().unwrap_or_default()),
            id(line.addition_id),
            line.before.map(|b| format_quantity(Some(b))).unwrap_or_default(),
            line.after.map(|a| a.to_string()).unwrap_or_default(),
            line.delta().map(|d| d.normalize().to_string()).unwrap_or_default(),
            amount(money.map(|m| m.billed_before)),
            amount(money.map(|m| m.billed_after)),
            amount(money.and_then(|m| m.unit_price)),
            amount(money.and_then(|m| m.unit_cost)),
            amount(money.and_then(|m| m.revenue_change)),
            amount(money.and_then(|m| m.margin_change)),
            currency.to_string(),
            line.effective_date.map(|d| d.to_string()).unwrap_or_default(),
            line.reason.as_ref().map(Reason::code).unwrap_or_default().to_string(),
            text(&crate::output::wording::line_reason(report.words, line)),
            text(c.error.as_deref().unwrap_or_default()),
            amount(crate::reconcile::pricing::vendor_cost(&line.sources)),
            line.findings.iter().map(|f| f.code()).collect::<Vec<_>>().join(";"),
            text(&line.findings.iter().map(crate::output::wording::finding).collect::<Vec<_>>().join("; ")),
            if c.attempts.is_empty() { String::new() } else { c.attempts.len().to_string() },
        ];
        out.write_record(&record)?;
    }
    Ok(out.into_inner()?)
}

/// The vendor account names of a line's sources, each once.
pub fn accounts(line: &PlanLine) -> String {
    let mut names: Vec<&str> = line.sources.iter().map(|s| s.account_name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.join("; ")
}

fn id(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A text cell. One that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab
/// or CR first: OWASP's CSV injection list) gets a leading `'`, so a customer named
/// `=HYPERLINK(...)` is shown, never run.
pub(crate) fn text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_text_is_defused_and_plain_text_kept() {
        assert_eq!(text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text("O'Brien & Sons, \"Main\""), "O'Brien & Sons, \"Main\"");
        assert_eq!(text(""), "");
    }
}
