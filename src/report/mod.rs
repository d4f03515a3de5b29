//! The report of one run, for the people who decide about billing: an HTML page they can open
//! or forward, or the same data as CSV or JSON. It is built from the ledger alone (the run,
//! its recorded lines and `RunDetails`), so any run can be reported offline, long after.
//!
//! `Report` is the data; `html`, `csv` and `json` only lay it out; `notify` sends its summary.

pub mod csv;
pub mod html;
pub mod notify;

use crate::model::decimal_number_of;
use crate::output::wording::{ChangeJson, Wording};
use crate::plan::{AccountRef, Action, ChangeState, MoneyTotals, Plan, PlanCounts, RunDetails, RunKind};
use crate::store::{ChangeRecord, RunRecord, Store, StoreError};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// The report formats `recon report --format` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Html,
    Csv,
    Json,
}

/// Everything a report shows of one run.
#[derive(Debug, Clone)]
pub struct Report {
    pub run: RunRecord,
    pub details: RunDetails,
    pub changes: Vec<ChangeRecord>,
    /// What the run's lines are worth as planned (held lines apart, in `held_net`).
    pub planned: MoneyTotals,
    /// What its applied writes moved; `None` for a dry run.
    pub applied: Option<MoneyTotals>,
    /// The latest `recon audit` of each recent month, newest first (the page's "Vendor
    /// invoices" section).
    pub audits: Vec<crate::store::AuditRecord>,
    /// The words of the PSA the run wrote to, for every sentence of the report.
    pub words: Wording,
}

/// How many months of audits the page shows.
pub const AUDIT_MONTHS: usize = 12;

impl Report {
    /// The report of run `run_id`, as the ledger holds it now (a held line shows whether it
    /// was approved since).
    pub fn load(store: &Store, run_id: i64, words: Wording) -> Result<Option<Report>, StoreError> {
        let Some(run) = store.run(run_id)? else { return Ok(None) };
        let details = store.run_details(run_id)?;
        let changes = store.changes(run_id)?;
        let mut report = Report::new(run, details, changes, words);
        report.audits = store.latest_audits(AUDIT_MONTHS)?;
        Ok(Some(report))
    }

    pub fn new(run: RunRecord, details: RunDetails, changes: Vec<ChangeRecord>, words: Wording) -> Report {
        let plan =
            |lines: Vec<crate::plan::PlanLine>| Plan { period: run.period, lines, warnings: Vec::new() };
        let planned = plan(changes.iter().map(|c| c.line.clone()).collect()).totals();
        let applied = (!run.dry_run).then(|| {
            plan(changes.iter().filter(|c| c.state == ChangeState::Applied).map(|c| c.line.clone()).collect())
                .totals()
        });
        Report { run, details, changes, planned, applied, audits: Vec::new(), words }
    }

    /// The money of the headline: what was pushed, or for a dry run what would be.
    pub fn headline(&self) -> &MoneyTotals {
        self.applied.as_ref().unwrap_or(&self.planned)
    }

    pub fn counts(&self) -> PlanCounts {
        self.run.counts.unwrap_or_else(|| {
            Plan {
                period: self.run.period,
                lines: self.changes.iter().map(|c| c.line.clone()).collect(),
                warnings: Vec::new(),
            }
            .counts()
        })
    }

    pub fn currency(&self) -> Option<&str> {
        self.details.currency()
    }

    /// An amount in the run's currency (`minus` as in `money::display`).
    pub fn amount(&self, amount: Decimal, signed: bool, minus: &str) -> String {
        crate::money::display(amount, self.currency(), signed, minus)
    }

    /// Lines that change a quantity, or would (adds, updates, held), grouped by company.
    pub fn changes_by_company(&self) -> BTreeMap<&str, Vec<&ChangeRecord>> {
        let mut by_company: BTreeMap<&str, Vec<&ChangeRecord>> = BTreeMap::new();
        for c in &self.changes {
            if matches!(c.line.action, Action::Add | Action::Update | Action::Held) {
                by_company.entry(c.line.company.as_str()).or_default().push(c);
            }
        }
        by_company
    }

    pub fn held(&self) -> Vec<&ChangeRecord> {
        self.of_action(Action::Held)
    }

    /// Skipped lines that need a person: everything but "no addition and nothing to bill".
    pub fn skipped(&self) -> Vec<&ChangeRecord> {
        self.of_action(Action::Skipped)
            .into_iter()
            .filter(|c| !matches!(c.line.reason, Some(crate::plan::Reason::NothingToBill)))
            .collect()
    }

    /// Writes that failed in this run, with ConnectWise's answer.
    pub fn failed_writes(&self) -> Vec<&ChangeRecord> {
        self.changes.iter().filter(|c| c.state == ChangeState::Failed).collect()
    }

    fn of_action(&self, action: Action) -> Vec<&ChangeRecord> {
        self.changes.iter().filter(|c| c.line.action == action).collect()
    }

    /// Whether a held line still waits for `recon approve` / `recon reject`.
    pub fn waits(&self, c: &ChangeRecord) -> bool {
        !self.run.dry_run && c.state == ChangeState::Waiting
    }

    /// The held lines that still wait for a decision.
    pub fn waiting(&self) -> Vec<&ChangeRecord> {
        self.changes.iter().filter(|c| self.waits(c)).collect()
    }

    /// The customers whose monthly revenue moves most (either way), largest first; at most `n`.
    pub fn largest_customers(&self, n: usize) -> Vec<(&str, Decimal)> {
        let mut customers: Vec<(&str, Decimal)> = self
            .headline()
            .by_company
            .iter()
            .filter(|(_, net)| !net.0.is_zero())
            .map(|(company, net)| (company.as_str(), net.0))
            .collect();
        customers.sort_by(|a, b| b.1.abs().cmp(&a.1.abs()).then(a.0.cmp(b.0)));
        customers.truncate(n);
        customers
    }

    /// What the run was, in words: "dry run", "pushed", "approval", "undo".
    pub fn kind_text(&self) -> &'static str {
        match (self.run.dry_run, self.run.kind) {
            (true, _) => "dry run",
            (false, RunKind::Sync) => "pushed",
            (false, RunKind::Approve) => "approval",
            (false, RunKind::Undo) => "undo",
        }
    }

    pub fn gone_accounts(&self) -> Vec<AccountRef> {
        self.details.gone_accounts()
    }

    /// Lines whose price or cost is a finding (cost differs, below cost, thin margin).
    pub fn findings(&self) -> Vec<&ChangeRecord> {
        self.changes.iter().filter(|c| !c.line.findings.is_empty()).collect()
    }

    /// Distributor commitments that end within `days` of the run (or have just ended), the
    /// soonest first: the seats may be reduced from then on.
    pub fn commitments_ending(&self, days: u64) -> Vec<Commitment<'_>> {
        let day = self.run.started_at.date_naive();
        let until = day.checked_add_days(chrono::Days::new(days)).unwrap_or(day);
        let mut out: Vec<Commitment> = self
            .changes
            .iter()
            .flat_map(|c| c.line.sources.iter().map(move |s| (c, s)))
            .flat_map(|(c, s)| s.parts.iter().map(move |p| (c, s, p)))
            .filter(|(_, _, p)| p.commitment_ends.is_some_and(|end| end >= day && end <= until))
            .map(|(c, s, p)| Commitment {
                company: &c.line.company,
                vendor: &s.vendor,
                product: c.line.product.as_deref().unwrap_or(&s.service_key),
                subscription: &p.id,
                quantity: p.quantity,
                term: p.term.as_deref(),
                ends: p.commitment_ends.unwrap_or(day),
            })
            .collect();
        out.sort_by(|a, b| (a.ends, a.company, a.subscription).cmp(&(b.ends, b.company, b.subscription)));
        out.dedup_by(|a, b| a.subscription == b.subscription && a.vendor == b.vendor);
        out
    }
}

/// How many days ahead the report lists commitments that end.
pub const COMMITMENT_DAYS: u64 = 30;

/// A subscription's commitment that ends soon.
#[derive(Debug, Clone, Serialize)]
pub struct Commitment<'a> {
    pub company: &'a str,
    pub vendor: &'a str,
    pub product: &'a str,
    pub subscription: &'a str,
    pub quantity: u32,
    pub term: Option<&'a str>,
    pub ends: chrono::NaiveDate,
}

/// A line's price or cost finding, as the report's JSON lists it.
#[derive(Serialize)]
pub struct FindingRow<'a> {
    pub change_id: i64,
    pub company: &'a str,
    pub product: Option<&'a str>,
    pub code: &'static str,
    pub text: String,
}

/// The report as `--format json` writes it. Field names are stable (README "JSON output").
#[derive(Serialize)]
pub struct ReportJson<'a> {
    pub recon_version: &'static str,
    pub run: &'a RunRecord,
    /// "dry run", "pushed", "approval" or "undo".
    pub kind: &'static str,
    pub currency: Option<&'a str>,
    /// Every currency the agreements named (more than one: the totals mix them).
    pub currencies: &'a [String],
    pub counts: PlanCounts,
    /// What the lines are worth as planned.
    pub totals: &'a MoneyTotals,
    /// What the applied writes moved (null for a dry run).
    pub applied_totals: Option<&'a MoneyTotals>,
    pub lines: Vec<ChangeJson<'a>>,
    /// Ids of the held lines that still wait for `recon approve` or `recon reject`.
    pub waiting: Vec<i64>,
    pub failed_vendors: &'a BTreeMap<String, String>,
    pub failed_accounts: &'a BTreeMap<String, Vec<String>>,
    pub read_failures: &'a [String],
    pub warnings: Vec<String>,
    pub unmapped_accounts: &'a [AccountRef],
    pub excluded_accounts: &'a [crate::model::Exclusion],
    pub gone_accounts: Vec<AccountRef>,
    pub notices: &'a [String],
    pub largest_customers: Vec<CustomerNet<'a>>,
    /// Price and cost findings, one per line and finding.
    pub findings: Vec<FindingRow<'a>>,
    /// Distributor commitments ending in the next 30 days.
    pub commitments_ending: Vec<Commitment<'a>>,
}

#[derive(Serialize)]
pub struct CustomerNet<'a> {
    pub company: &'a str,
    #[serde(serialize_with = "decimal_number_of")]
    pub net: Decimal,
}

/// How many customers the "largest changes" chart and list show.
pub const LARGEST: usize = 10;

impl<'a> ReportJson<'a> {
    pub fn new(r: &'a Report) -> ReportJson<'a> {
        ReportJson {
            recon_version: env!("CARGO_PKG_VERSION"),
            run: &r.run,
            kind: r.kind_text(),
            currency: r.currency(),
            currencies: &r.details.currencies,
            counts: r.counts(),
            totals: &r.planned,
            applied_totals: r.applied.as_ref(),
            lines: ChangeJson::all(&r.changes, r.words),
            waiting: r.waiting().iter().map(|c| c.id).collect(),
            failed_vendors: &r.details.failed_vendors,
            failed_accounts: &r.details.failed_accounts,
            read_failures: &r.details.read_failures,
            warnings: r
                .details
                .warnings
                .iter()
                .map(|w| crate::output::wording::warning(r.words, w))
                .collect(),
            unmapped_accounts: &r.details.unmapped,
            excluded_accounts: &r.details.excluded,
            gone_accounts: r.gone_accounts(),
            notices: &r.details.notices,
            largest_customers: r
                .largest_customers(LARGEST)
                .into_iter()
                .map(|(company, net)| CustomerNet { company, net })
                .collect(),
            findings: r
                .findings()
                .into_iter()
                .flat_map(|c| {
                    c.line.findings.iter().map(move |f| FindingRow {
                        change_id: c.id,
                        company: &c.line.company,
                        product: c.line.product.as_deref(),
                        code: f.code(),
                        text: crate::output::wording::finding(f),
                    })
                })
                .collect(),
            commitments_ending: r.commitments_ending(COMMITMENT_DAYS),
        }
    }
}

/// The report in `format`, as the bytes of the file.
pub fn render(report: &Report, format: Format) -> anyhow::Result<Vec<u8>> {
    Ok(match format {
        Format::Html => html::page(report).into_bytes(),
        Format::Csv => csv::rows(report)?,
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&ReportJson::new(report))?;
            text.push('\n');
            text.into_bytes()
        }
    })
}

/// Write `bytes` to `path` whole or not at all: a temp file beside it, then a rename, so a
/// reader (a mail job, a browser) never sees half a page.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
