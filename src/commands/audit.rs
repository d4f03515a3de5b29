//! `recon audit`: what each vendor invoiced for a month beside what the PSA bills for it.
//! The month's plan is made exactly as `sync --dry-run --period M` makes it, from the
//! vendors' own documents for M (so matching, mapping and prices are the sync's); `audit`
//! compares, values and prints. Nothing is written to the PSA; the documents read are kept
//! (every version) in the database.

use super::{Context, EXIT_OK, EXIT_RUN_ERROR, usage, vendor_config};
use crate::audit::{self, Finding, Row, Totals};
use crate::cli::{AuditArgs, AuditFormat};
use crate::invoice::{self, Charge};
use crate::model::VendorStatus;
use crate::output::wording;
use crate::period::Period;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// The audit found a gap above the tolerance: a person should look (cron mails it).
pub const EXIT_GAPS: u8 = 5;

#[derive(Serialize)]
struct AuditJson<'a> {
    period: String,
    currency: Option<&'a str>,
    #[serde(serialize_with = "crate::model::decimal_number_of")]
    tolerance: Decimal,
    totals: &'a Totals,
    vendors: &'a [VendorAudit],
    rows: &'a [Row],
}

#[derive(Serialize)]
struct VendorAudit {
    vendor: String,
    /// `audited`, `not_available` or `failed`.
    state: &'static str,
    error: Option<String>,
    /// The documents counted, by id (void ones are kept in the database, not counted).
    documents: Vec<String>,
    #[serde(serialize_with = "crate::model::decimal_number")]
    invoiced: Option<Decimal>,
}

/// The audit says the failures it meets, not the sync's warnings.
struct FailuresOnly<'a>(&'a Context);

impl crate::ops::Reporter for FailuresOnly<'_> {
    fn warn(&self, _: &str) {}

    fn failure(&self, message: &str) {
        self.0.failure(message);
    }
}

pub fn run(ctx: &Context, args: &AuditArgs) -> anyhow::Result<u8> {
    let period = Period::to_bill(&args.period, ctx.today(), false).map_err(|e| usage(e.to_string()))?;
    let config = ctx.config()?;
    let (mut store, _lock) = ctx.locked_store(&config, "audit")?;
    let http = ctx.http(&config)?;
    let names = month_vendors(&config, &store, &args.vendors)?;
    let vendor_configs: Vec<_> =
        names.iter().map(|v| vendor_config(&config, v)).collect::<anyhow::Result<Vec<_>>>()?;
    // The month vendors are read for `period` from their documents even when it is the
    // current month (the `current` given is another one), and the outage guard, which
    // protects a push, does not apply to a comparison. Its warnings are not the audit's.
    let request = crate::ops::sync::Request {
        config: &config,
        vendors: &vendor_configs,
        period,
        current: period.next(),
        accept_drop: true,
        options: ctx.apply_options(&config),
    };
    let planned = crate::ops::sync::plan(&request, &store, &http, &FailuresOnly(ctx))?;
    crate::ops::sync::record_documents(&mut store, &planned, period, ctx.now)?;

    let mut charges: BTreeMap<String, Vec<Charge>> = BTreeMap::new();
    let mut vendors = Vec::new();
    for name in &names {
        let (state, error, documents, invoiced) = match planned.vendors.snapshots.get(name) {
            Some(snapshot) => {
                let netted = invoice::net(&snapshot.documents).unwrap_or_default();
                let invoiced = netted.iter().map(|c| c.cost).sum::<Option<Decimal>>();
                let ids = invoice::counted(&snapshot.documents).iter().map(|d| d.id.clone()).collect();
                charges.insert(name.clone(), netted);
                ("audited", None, ids, invoiced)
            }
            None => {
                let error = planned.vendors.errors.get(name).cloned();
                let state =
                    if planned.vendors.not_available.contains(name) { "not_available" } else { "failed" };
                (state, error, Vec::new(), None)
            }
        };
        vendors.push(VendorAudit { vendor: name.clone(), state, error, documents, invoiced });
    }
    let mut products: BTreeMap<String, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for m in store.service_mappings(None)? {
        products.entry(m.vendor.clone()).or_default().insert(m.product_id);
    }
    let psa = audit::PsaLines { lines: &planned.psa.additions, products: &products };
    let (rows, totals) = audit::audit(&planned.plan, &charges, &psa, config.audit.tolerance);
    store.record_audit(&crate::store::AuditRecord {
        period,
        audited_at: ctx.now,
        vendors: vendors.iter().map(|v| (v.vendor.clone(), v.state.to_string())).collect(),
        totals: totals.clone(),
        rows: rows.clone(),
    })?;

    let format = args.format.unwrap_or(if ctx.json { AuditFormat::Json } else { AuditFormat::Table });
    let currency = planned.psa.terms.values().find_map(|t| t.currency.as_deref());
    match format {
        AuditFormat::Json => crate::output::print_json(&AuditJson {
            period: period.to_string(),
            currency,
            tolerance: config.audit.tolerance,
            totals: &totals,
            vendors: &vendors,
            rows: &rows,
        })?,
        AuditFormat::Csv => crate::out!("{}", String::from_utf8_lossy(&csv(period, &rows)?).trim_end()),
        AuditFormat::Table => {
            print_table(period, &vendors, &rows, &totals, config.audit.tolerance, super::wording(&config))
        }
    }

    let gaps = rows.iter().filter(|r| r.finding != Finding::Matched).count();
    if let (Some(above), Some(notify)) = (config.audit.notify_above, config.notify.as_ref())
        && totals.leak > above
    {
        let text = summary(period, &totals, gaps);
        let body = crate::report::notify::audit_message(notify.format, &text, period, &totals);
        let timeout = std::time::Duration::from_secs(config.http.connect_timeout_secs);
        if let Err(e) = crate::report::notify::post(notify, &body, timeout) {
            ctx.warn(&format!("the audit's notification was not delivered: {e}"));
        }
    }
    Ok(if vendors.iter().any(|v| v.state != "audited") {
        EXIT_RUN_ERROR
    } else if gaps > 0 {
        EXIT_GAPS
    } else {
        EXIT_OK
    })
}

/// `--vendor` names, or every connected vendor that answers months.
fn month_vendors(
    config: &crate::config::Config,
    store: &crate::store::Store,
    given: &[String],
) -> anyhow::Result<Vec<String>> {
    let connected: Vec<String> = store
        .vendors()?
        .into_iter()
        .filter(|v| v.status != VendorStatus::Inactive)
        .map(|v| v.name)
        .filter(|n| config.vendor(n).is_some())
        .collect();
    let answers = |name: &str| config.vendor(name).is_some_and(|v| v.kind.answers_months());
    if !given.is_empty() {
        for name in given {
            let v = vendor_config(config, name)?;
            if !answers(name) {
                return Err(usage(format!(
                    "{name} ({}) reports live counts only and cannot say what it invoiced for a month; audit Pax8 or Sherweb",
                    v.kind
                )));
            }
            if !connected.contains(name) {
                return Err(usage(format!("{name} is not connected; run `recon connect {name}` first")));
            }
        }
        return Ok(given.to_vec());
    }
    let out: Vec<String> = connected.into_iter().filter(|n| answers(n)).collect();
    if out.is_empty() {
        return Err(usage(
            "no connected vendor can say what it invoiced for a month (Pax8, Sherweb); connect one first",
        ));
    }
    Ok(out)
}

/// One paragraph: the leak first.
fn summary(period: Period, t: &Totals, gaps: usize) -> String {
    format!(
        "recon audit of {period}: {} paid to vendors and not billed (under-billed {}, unmapped {}); over-billed {}; \
         not charged by the vendor {}; invoiced {}; {}.",
        money(t.leak),
        money(t.under_billed),
        money(t.unmapped),
        money(t.over_billed),
        money(t.not_charged),
        money(t.invoiced),
        wording::plural(gaps, "gap")
    )
}

fn money(d: Decimal) -> String {
    format!("{:.2}", d)
}

fn print_table(
    period: Period,
    vendors: &[VendorAudit],
    rows: &[Row],
    totals: &Totals,
    tolerance: Decimal,
    w: crate::output::wording::Wording,
) {
    for v in vendors {
        match &v.error {
            None => crate::out!(
                "{}: {} for {period} ({})",
                v.vendor,
                wording::plural(v.documents.len(), "document"),
                v.documents.join(", ")
            ),
            Some(e) => crate::out!("{}", crate::output::wrapped(&format!("{}: {e}", v.vendor), 2)),
        }
    }
    let gaps = rows.iter().filter(|r| r.finding != Finding::Matched).count();
    crate::out!("{}", crate::output::wrapped(&summary(period, totals, gaps), 0));
    let table: Vec<AuditRow> = rows
        .iter()
        .filter(|r| r.finding != Finding::Matched)
        .map(|r| AuditRow {
            finding: r.finding.as_str().replace('_', "-"),
            vendor: r.vendor.clone(),
            customer: r.company.clone().unwrap_or_else(|| r.account_name.clone()),
            product: r.product.clone().unwrap_or_else(|| r.service.clone()),
            vendor_quantity: crate::plan::format_quantity(Some(r.vendor_quantity)),
            psa_quantity: r.psa_quantity.map_or("-".to_string(), |q| crate::plan::format_quantity(Some(q))),
            gap: r.gap_quantity.map_or("-".to_string(), wording::signed_quantity),
            amount: r.gap_amount.map_or("?".to_string(), money),
        })
        .collect();
    if !table.is_empty() {
        crate::out!("{}", crate::output::table(table, w));
    }
    let matched = rows.len() - gaps;
    if matched > 0 {
        crate::out!(
            "{} within {} of what the vendor invoiced.",
            wording::plural(matched, "line"),
            money(tolerance)
        );
    }
}

#[derive(tabled::Tabled)]
struct AuditRow {
    finding: String,
    vendor: String,
    customer: String,
    product: String,
    #[tabled(rename = "vendor qty")]
    vendor_quantity: String,
    #[tabled(rename = "psa qty")]
    psa_quantity: String,
    gap: String,
    amount: String,
}

/// The header, in order. Stable: scripts read columns by these names.
const CSV_COLUMNS: &[&str] = &[
    "period",
    "finding",
    "vendor",
    "account_id",
    "account",
    "service_key",
    "service",
    "company",
    "agreement",
    "product",
    "vendor_quantity",
    "vendor_cost",
    "psa_quantity",
    "unit_price",
    "gap_quantity",
    "gap_amount",
    "documents",
];

fn csv(period: Period, rows: &[Row]) -> anyhow::Result<Vec<u8>> {
    let mut out = ::csv::WriterBuilder::new().terminator(::csv::Terminator::CRLF).from_writer(Vec::new());
    out.write_record(CSV_COLUMNS)?;
    let number = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
    let text = crate::report::csv::text;
    for r in rows {
        out.write_record([
            period.to_string(),
            r.finding.as_str().to_string(),
            text(&r.vendor),
            text(&r.account_id),
            text(&r.account_name),
            text(&r.service_key),
            text(&r.service),
            text(r.company.as_deref().unwrap_or_default()),
            text(r.agreement.as_deref().unwrap_or_default()),
            text(r.product.as_deref().unwrap_or_default()),
            number(Some(r.vendor_quantity)),
            number(r.vendor_cost),
            number(r.psa_quantity),
            number(r.unit_price),
            number(r.gap_quantity),
            number(r.gap_amount),
            text(&r.documents.join(" ")),
        ])?;
    }
    Ok(out.into_inner()?)
}
