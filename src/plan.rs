//! The plan: what a sync would do to each agreement addition. It is a value: printed for
//! `--dry-run`, serialized for `--json`, applied by `sync`, recorded in the ledger.

use crate::model::{AccountProblem, BillCustomer, decimal_number, decimal_number_of};
use crate::period::Period;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

crate::text_enum! {
    /// What a plan line does.
    pub enum Action {
        /// No addition for the product on the agreement: create one.
        Add = "add",
        /// One addition whose quantity differs: change its quantity.
        Update = "update",
        /// One addition whose quantity already matches.
        Unchanged = "unchanged",
        /// A change the `[sync]` policy holds for review instead of pushing.
        Held = "held",
        /// Nothing can be done safely (ambiguous additions, no agreement chosen, account gone, ...).
        Skipped = "skipped",
    }
}

impl Action {
    /// How the PSA is written to apply the line: a create, an absolute set (ConnectWise's
    /// PATCH of `quantity`), or nothing. A PSA whose only write is a dated delta (Autotask)
    /// sends both as a delta from the line's `before`.
    pub fn write(self) -> Option<Write> {
        match self {
            Action::Add => Some(Write::Create),
            Action::Update => Some(Write::Set),
            _ => None,
        }
    }

    /// Whether applying the line writes to ConnectWise.
    pub fn writes(self) -> bool {
        matches!(self, Action::Add | Action::Update)
    }
}

/// How a billing line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Set,
}

/// One vendor (account, service, quantity) that feeds a plan line.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Source {
    pub vendor: String,
    pub account_id: String,
    pub account_name: String,
    pub service_key: String,
    pub quantity: u32,
    /// The subscriptions that add up to `quantity` (distributors: monthly + annual terms of
    /// one product), each with its term, commitment and cost; empty for other vendors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<crate::model::Subscription>,
    /// The device classes `quantity` is made of (an RMM's or EDR's), as its mapping counts them.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub classes: std::collections::BTreeMap<String, u32>,
    /// What the vendor's billing rule counted or left out (`2 unapproved left out`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Why a line is skipped or held, or what its note says: a fact, with what names it.
/// `output::wording` turns it into the sentence and the command hint people read; `--json`
/// carries its stable `code` (`Reason::code`) beside that text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    /// No addition, and the vendors report 0: nothing to create.
    NothingToBill,
    /// The vendor listed no accounts in this run.
    VendorEmpty { vendor: String },
    /// The mapped account is no longer listed by its vendor.
    AccountGone { vendor: String, account_id: String, account_name: String },
    /// The account's usage could not be read, or its id is shared by differing records.
    AccountFailed { vendor: String, problem: AccountProblem },
    /// The vendor has no service mapped to a product: none of its usage is planned (one
    /// warning for the vendor, no line per account).
    NoServiceMapped { vendor: String },
    /// The mapped company has no agreement chosen (none active, or several).
    NoAgreement { vendor: String, account_id: String, company_id: i64, company: String },
    /// A share of the line's sum is unknown in this run; `partial` when other shares are known.
    UsageUnknown { unknown: Vec<Unknown>, partial: bool },
    /// The quantities add up to more than a u32 holds.
    TooLarge,
    /// The agreement's additions could not be read, so an add could duplicate one.
    AdditionsNotRead { agreement: String },
    /// Several additions of the product in force on the agreement.
    SeveralAdditions { product: String, agreement: String, ids: Vec<i64> },
    /// No addition of the product is in force, but one starts after the period: never
    /// duplicated.
    Scheduled { product: String, additions: Vec<(i64, chrono::NaiveDate)> },
    /// The agreement's billing terms could not be read, so a new line cannot be dated.
    TermsNotRead { agreement: String },
    /// The PSA shows no units of the line in force on the date a change would take effect
    /// (Autotask: no ContractServiceUnit row covers it), so the change cannot be computed.
    NoUnitsOnDate { date: chrono::NaiveDate },
    /// The line's units change again after the date a change would take effect (to `units`
    /// from `date`): a delta would shift that later change too, so it is left to a person.
    ChangesLater { date: chrono::NaiveDate, units: Decimal },
    /// The PSA computes the line's quantity itself (Halo's automatic quantity from licence,
    /// user or asset counts): writing it would fight that calculation, so recon never does.
    ComputedByPsa { psa: String },
    /// The line has a pro-rata of `pro_rata` waiting that the PSA adds to it at its next
    /// invoice, more than the vendors' count: no quantity recon sets now ends below it.
    ProRataAbove { psa: String, pro_rata: Decimal },
    /// The `[sync]` policy holds the change for review.
    Held { hold: Hold },
    /// Undo: the run created this addition; it is set to 0 (never cancelled).
    UndoCreated,
    /// Undo: the quantity goes back to what it was.
    UndoBackTo { quantity: String },
    /// Undo: the addition is no longer active.
    UndoGone { addition_id: Option<i64> },
    /// Undo: the quantity changed since the run; left alone.
    UndoChangedSince { run_id: i64, now: String },
    /// Undo: the earlier quantity was not a whole number.
    UndoFractional,
    /// Undo: the line's cost goes back to what it was.
    UndoCostBackTo { cost: Decimal },
    /// The same proposal was rejected (change `change_id`) and neither side has moved since.
    Rejected { change_id: i64 },
    /// A reason recorded as text by a recon from before reasons were typed.
    Note { text: String },
}

impl Reason {
    /// The stable machine code, as `--json` shows it.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::NothingToBill => "nothing_to_bill",
            Reason::VendorEmpty { .. } => "vendor_empty",
            Reason::AccountGone { .. } => "account_gone",
            Reason::AccountFailed { .. } => "account_failed",
            Reason::NoServiceMapped { .. } => "no_service_mapped",
            Reason::NoAgreement { .. } => "no_agreement",
            Reason::UsageUnknown { partial: true, .. } => "partial_sum",
            Reason::UsageUnknown { partial: false, .. } => "usage_unknown",
            Reason::TooLarge => "too_large",
            Reason::AdditionsNotRead { .. } => "additions_not_read",
            Reason::SeveralAdditions { .. } => "several_additions",
            Reason::Scheduled { .. } => "scheduled",
            Reason::TermsNotRead { .. } => "terms_not_read",
            Reason::NoUnitsOnDate { .. } => "no_units_on_date",
            Reason::ChangesLater { .. } => "changes_later",
            Reason::ComputedByPsa { .. } => "quantity_managed_by_psa",
            Reason::ProRataAbove { .. } => "pro_rata_above_count",
            Reason::Held { .. } => "held",
            Reason::UndoCreated => "undo_created",
            Reason::UndoBackTo { .. } => "undo_back_to",
            Reason::UndoGone { .. } => "undo_gone",
            Reason::UndoChangedSince { .. } => "undo_changed_since",
            Reason::UndoFractional => "undo_fractional",
            Reason::UndoCostBackTo { .. } => "undo_cost_back_to",
            Reason::Rejected { .. } => "rejected",
            Reason::Note { .. } => "note",
        }
    }

    /// The vendor the reason is about, for a line with no sources to name it.
    pub fn vendor(&self) -> Option<&str> {
        match self {
            Reason::VendorEmpty { vendor }
            | Reason::AccountGone { vendor, .. }
            | Reason::AccountFailed { vendor, .. }
            | Reason::NoServiceMapped { vendor }
            | Reason::NoAgreement { vendor, .. } => Some(vendor),
            _ => None,
        }
    }
}

/// A share of a line's sum that this run does not know.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Unknown {
    VendorNotFetched { vendor: String },
    VendorEmpty { vendor: String },
    AccountGone { vendor: String, account_name: String },
    AccountFailed { vendor: String, account_name: String },
    IdConflict { vendor: String, account_id: String },
    CountMissing { vendor: String, account_id: String, account_name: String, field: String },
}

/// Why the `[sync]` policy holds a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Hold {
    /// `increases = "review"`.
    Increase,
    /// `decreases = "review"`.
    Decrease,
    /// The change, in hundredths of a percent, is beyond `max_change_percent`.
    ChangePercent { hundredths: i64, limit: u32 },
    /// The monthly revenue change is beyond `max_change_amount`.
    ChangeAmount { amount: Decimal, limit: Decimal },
    /// ConnectWise shows another quantity than recon set in run `run_id` (`outside_changes`).
    OutsideChange { run_id: i64, was: Decimal, now: Decimal },
    /// A decrease on a line fed by a subscription under an annual or multi-year commitment
    /// until `ends`: the distributor refuses it and the customer still owes the seats.
    Commitment { ends: chrono::NaiveDate },
    /// The line's unit cost would change to the vendor's (`[sync] update_costs = true`): a
    /// cost change always waits for a person.
    Cost { from: Option<Decimal>, to: Decimal },
}

/// One billing line of the plan: a (container, product) pair, with the quantity the PSA
/// holds now (`before`), the target (`after`), and for a create its effective date and bill
/// setting; or one account that could not be placed. JSON and the ledger call the container
/// `agreement` (ConnectWise's word, the first PSA recon spoke).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanLine {
    pub action: Action,
    pub company_id: Option<i64>,
    pub company: String,
    pub agreement_id: Option<i64>,
    pub agreement: Option<String>,
    pub product_id: Option<i64>,
    pub product: Option<String>,
    /// The addition that is updated or left alone; `None` for add and most skips.
    pub addition_id: Option<i64>,
    /// The quantity ConnectWise holds now (`None` when there is no addition), exactly.
    #[serde(serialize_with = "decimal_number")]
    pub before: Option<Decimal>,
    /// The quantity the vendors report (`None` when unknown, e.g. an account gone).
    pub after: Option<u32>,
    /// Why the line is skipped or held, or a note on it; `None` otherwise. Not serialized
    /// here: `output::wording::LineJson` shows it as text beside its code.
    #[serde(skip)]
    pub reason: Option<Reason>,
    pub sources: Vec<Source>,
    /// For an add: the date the new line starts billing, as it is sent; for any change to a
    /// PSA that dates its changes (Autotask), the date it takes effect.
    pub effective_date: Option<chrono::NaiveDate>,
    /// For a dated line whose date is not the first day of the period: why.
    pub date_rule: Option<DateRule>,
    /// For an add: how the new line is billed, as it is sent.
    pub bill_customer: Option<BillCustomer>,
    /// The addition in force is cancelled from this date (it bills until then).
    pub cancelled_from: Option<chrono::NaiveDate>,
    /// The service mapping's minimum, when it raised the vendors' total to it.
    pub minimum: Option<u32>,
    /// The units the plan includes, taken off the vendors' total (`map services --included`).
    pub included: Option<u32>,
    /// What the line is worth a month; `None` where the quantities are not known.
    #[serde(flatten)]
    pub money: Option<LineMoney>,
    /// A change of the line's unit cost to this (the vendor's), instead of its quantity
    /// (`[sync] update_costs`): always held for review first.
    #[serde(serialize_with = "decimal_number", skip_serializing_if = "Option::is_none")]
    pub new_unit_cost: Option<Decimal>,
    /// What is wrong with its price or cost (never a write: a person fixes them). Not
    /// serialized here: `output::wording::LineJson` shows each as its code and its sentence.
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

/// A price or cost problem on a line: found by comparing the vendor's unit cost with the
/// PSA line's cost, and the line's price with the cost. Percentages in hundredths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// The vendor's unit cost differs from the PSA line's by more than `cost_tolerance_percent`
    /// (`psa_cost` `None`: the line has no cost).
    CostDiffers { vendor_cost: Decimal, psa_cost: Option<Decimal>, hundredths: Option<i64> },
    /// The line's price is below its cost (the vendor's, when known, else the PSA's).
    BelowCost { price: Decimal, cost: Decimal },
    /// Its margin is under `min_margin_percent`.
    LowMargin { hundredths: i64, min: u32 },
}

impl Finding {
    /// The stable machine code, as `--json` shows it.
    pub fn code(&self) -> &'static str {
        match self {
            Finding::CostDiffers { .. } => "cost_differs",
            Finding::BelowCost { .. } => "below_cost",
            Finding::LowMargin { .. } => "low_margin",
        }
    }
}

/// What a line is worth a month, before and after the change. Amounts are rounded to cents
/// once per line (`money::cents`); a `None` amount means the price is unknown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineMoney {
    #[serde(serialize_with = "decimal_number")]
    pub unit_price: Option<Decimal>,
    #[serde(serialize_with = "decimal_number")]
    pub unit_cost: Option<Decimal>,
    /// `quantity - lessIncluded`, never below 0.
    #[serde(serialize_with = "decimal_number_of")]
    pub billed_before: Decimal,
    #[serde(serialize_with = "decimal_number_of")]
    pub billed_after: Decimal,
    #[serde(serialize_with = "decimal_number")]
    pub revenue_change: Option<Decimal>,
    #[serde(serialize_with = "decimal_number")]
    pub margin_change: Option<Decimal>,
}

/// Why a new line's effective date is not the first day of its period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum DateRule {
    /// The agreement starts billing later.
    BillStart { date: chrono::NaiveDate },
    /// The period is already invoiced and the agreement does not prorate: ConnectWise
    /// accepts a new line only from the next invoice date.
    AlreadyInvoiced { next_invoice: chrono::NaiveDate },
    /// The period is already posted for billing (Autotask `approveAndPostDate`): a change
    /// takes effect from the first day of the next open period.
    Posted { open_from: chrono::NaiveDate },
    /// The PSA applies a changed quantity from the next invoice it generates (Halo
    /// `nextcreationdate`), and its own pro-rata settings decide the part period.
    NextInvoice {
        next_invoice: chrono::NaiveDate,
        /// A pro-rata quantity waiting on the line that the PSA adds to it at that invoice
        /// (`before` counts it already).
        #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "decimal_number")]
        pro_rata: Option<Decimal>,
    },
}

impl PlanLine {
    /// A line with nothing in it, for struct update syntax in tests.
    #[cfg(test)]
    pub(crate) fn empty() -> PlanLine {
        PlanLine {
            action: Action::Skipped,
            company_id: None,
            company: String::new(),
            agreement_id: None,
            agreement: None,
            product_id: None,
            product: None,
            addition_id: None,
            before: None,
            after: None,
            reason: None,
            sources: Vec::new(),
            effective_date: None,
            date_rule: None,
            bill_customer: None,
            cancelled_from: None,
            minimum: None,
            money: None,
            findings: Vec::new(),
            new_unit_cost: None,
            included: None,
        }
    }

    /// The signed change in quantity, when both sides are known.
    pub fn delta(&self) -> Option<Decimal> {
        Some(Decimal::from(self.after?) - self.before.unwrap_or_default())
    }

    /// The vendors of the line's sources, sorted, each once; for a line with none (an
    /// account skipped before its usage was read), the vendor its reason names.
    pub fn vendors(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.sources.iter().map(|s| s.vendor.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        if names.is_empty() {
            names.extend(self.reason.as_ref().and_then(Reason::vendor));
        }
        names
    }

    /// The monthly revenue this line's change adds (or, negative, removes), when known.
    pub fn revenue_change(&self) -> Option<Decimal> {
        self.money.as_ref()?.revenue_change
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub period: Period,
    pub lines: Vec<PlanLine>,
    /// Problems worth a warning (a vendor empty, an account vanished or failed, ...).
    pub warnings: Vec<Reason>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    pub add: usize,
    pub update: usize,
    pub unchanged: usize,
    pub held: usize,
    pub skipped: usize,
}

impl PlanCounts {
    /// The lines a push writes: the adds and the updates.
    pub fn writes(&self) -> usize {
        self.add + self.update
    }
}

/// What a plan is worth a month: the revenue its writes add and remove, and per vendor and
/// per company the net, from the lines' own rounded amounts. Held lines are counted apart.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MoneyTotals {
    #[serde(serialize_with = "decimal_number_of")]
    pub revenue_added: Decimal,
    #[serde(serialize_with = "decimal_number_of")]
    pub revenue_removed: Decimal,
    #[serde(serialize_with = "decimal_number_of")]
    pub net: Decimal,
    #[serde(serialize_with = "decimal_number_of")]
    pub margin_net: Decimal,
    /// The net of the changes held for review (not in `net`).
    #[serde(serialize_with = "decimal_number_of")]
    pub held_net: Decimal,
    /// Writing or held lines whose price is unknown (not in any total).
    pub unpriced: usize,
    pub by_vendor: BTreeMap<String, NetAmount>,
    pub by_company: BTreeMap<String, NetAmount>,
}

/// One net amount, as a JSON number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct NetAmount(#[serde(serialize_with = "decimal_number_of")] pub Decimal);

impl Plan {
    pub fn totals(&self) -> MoneyTotals {
        let mut t = MoneyTotals::default();
        for line in &self.lines {
            let counted = line.action.writes();
            if !counted && line.action != Action::Held {
                continue;
            }
            let Some(money) = &line.money else { continue };
            let (Some(revenue), Some(margin)) = (money.revenue_change, money.margin_change) else {
                t.unpriced += 1;
                continue;
            };
            if !counted {
                t.held_net += revenue;
                continue;
            }
            if revenue >= Decimal::ZERO {
                t.revenue_added += revenue;
            } else {
                t.revenue_removed -= revenue;
            }
            t.net += revenue;
            t.margin_net += margin;
            t.by_vendor.entry(line.vendors().join("+")).or_default().0 += revenue;
            t.by_company.entry(line.company.clone()).or_default().0 += revenue;
        }
        t
    }

    pub fn counts(&self) -> PlanCounts {
        let mut c = PlanCounts::default();
        for line in &self.lines {
            match line.action {
                Action::Add => c.add += 1,
                Action::Update => c.update += 1,
                Action::Unchanged => c.unchanged += 1,
                Action::Held => c.held += 1,
                Action::Skipped => c.skipped += 1,
            }
        }
        c
    }
}

/// A quantity as people read it: `12`, `10.5`, or `-` when unknown.
pub fn format_quantity(v: Option<Decimal>) -> String {
    v.map_or_else(|| "-".to_string(), |d| d.normalize().to_string())
}

crate::text_enum! {
    /// Where a recorded change stands in the ledger.
    pub enum ChangeState {
        /// Written before the PSA call (the intent), or the line of a dry run.
        Planned = "planned",
        /// A held line of a real run: it waits for `recon approve` or `recon reject`.
        Waiting = "waiting",
        Applied = "applied",
        Failed = "failed",
        Approved = "approved",
        Rejected = "rejected",
        /// A held line that a later sync planned again: the later one is what counts.
        Superseded = "superseded",
        /// A held line that repeats a change still waiting for review (that one keeps its id).
        Repeat = "repeat",
    }
}

impl ChangeState {
    /// The state a line is recorded in, before anything is written: a held line of a real
    /// run waits for a person; any other line (and every line of a dry run) is planned.
    pub fn recorded(action: Action, dry_run: bool) -> ChangeState {
        if action == Action::Held && !dry_run { ChangeState::Waiting } else { ChangeState::Planned }
    }
}

crate::text_enum! {
    /// What a run was.
    pub enum RunKind {
        Sync = "sync",
        /// Held lines pushed once approved.
        Approve = "approve",
        /// The reverse of an earlier run's applied changes.
        Undo = "undo",
    }
}

crate::text_enum! {
    /// How a run ended.
    pub enum RunResult {
        /// Everything planned was done (for a dry run: the plan was built).
        Ok = "ok",
        /// A real sync left changes held for review.
        Held = "held",
        /// Some of it failed: a vendor, an account, an agreement read or a write.
        Partial = "partial",
        /// Nothing could be done.
        Failed = "failed",
        /// The person at the terminal answered no: nothing was pushed.
        Declined = "declined",
        /// The process stopped before the run finished; a later sync settled it.
        Interrupted = "interrupted",
    }
}

/// What a run met, counted: everything `RunResult::of` needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunTally {
    pub dry_run: bool,
    /// Vendors, accounts, container reads or writes that failed.
    pub failures: usize,
    /// Vendors read (a run that read none did nothing).
    pub vendors_read: usize,
    pub applied: usize,
    /// Lines that write (add, update).
    pub writes: usize,
    /// Whether the writes were pushed (a person may have answered no).
    pub pushed: bool,
    pub held: usize,
}

impl RunResult {
    /// How a sync ended, from what it met: any failure makes it partial (or failed, when it
    /// did nothing at all); a push a person declined is declined; a real sync that held
    /// changes is held (exit 4, for cron); else ok.
    pub fn of(t: RunTally) -> RunResult {
        if t.failures > 0 {
            if t.applied > 0 || t.vendors_read > 0 { RunResult::Partial } else { RunResult::Failed }
        } else if !t.dry_run && t.writes > 0 && !t.pushed {
            RunResult::Declined
        } else if !t.dry_run && t.held > 0 {
            RunResult::Held
        } else {
            RunResult::Ok
        }
    }

    /// The documented exit code of a run that ended so.
    pub fn exit_code(self) -> u8 {
        match self {
            RunResult::Ok | RunResult::Declined => 0,
            RunResult::Partial | RunResult::Failed | RunResult::Interrupted => 1,
            RunResult::Held => 4,
        }
    }
}

/// What a run met besides its lines, kept with the run (`runs.details`) for `history RUN`,
/// `report` and the notification: each failure with its message, the accounts nobody bills,
/// the warnings. A field missing from an older record reads empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunDetails {
    /// The currencies the agreements' amounts are in (ConnectWise `currency.currencyCode`),
    /// sorted, each once; empty when the PSA did not say.
    pub currencies: Vec<String>,
    /// Vendor -> why nothing was planned for it.
    pub failed_vendors: BTreeMap<String, String>,
    /// Vendor -> each account that failed, described.
    pub failed_accounts: BTreeMap<String, Vec<String>>,
    /// PSA reads that failed (an agreement's additions, the billing terms, catalog prices).
    pub read_failures: Vec<String>,
    /// The plan's warnings (a vendor empty, an account no longer listed, ...).
    pub warnings: Vec<Reason>,
    /// Accounts the vendors listed in this run that are neither mapped nor excluded.
    pub unmapped: Vec<AccountRef>,
    /// Accounts excluded from billing (internal, NFR) at the time of the run.
    pub excluded: Vec<crate::model::Exclusion>,
    /// What happened after the plan: a notification that was not delivered, ...
    pub notices: Vec<String>,
    /// The request rate each paced host (ConnectWise, Huntress) settled at.
    pub rates: Vec<crate::rate::HostRate>,
}

/// A vendor account, by vendor, id and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountRef {
    pub vendor: String,
    pub id: String,
    pub name: String,
}

impl RunDetails {
    /// The accounts a mapping points to that their vendor no longer lists.
    pub fn gone_accounts(&self) -> Vec<AccountRef> {
        self.warnings
            .iter()
            .filter_map(|w| match w {
                Reason::AccountGone { vendor, account_id, account_name } => Some(AccountRef {
                    vendor: vendor.clone(),
                    id: account_id.clone(),
                    name: account_name.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// The one currency of the run's amounts, when the agreements agree on one.
    pub fn currency(&self) -> Option<&str> {
        match self.currencies.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_line_of_a_real_run_waits_and_everything_else_is_planned() {
        let cases = [
            (Action::Held, false, ChangeState::Waiting),
            (Action::Held, true, ChangeState::Planned),
            (Action::Update, false, ChangeState::Planned),
            (Action::Add, true, ChangeState::Planned),
            (Action::Skipped, false, ChangeState::Planned),
        ];
        for (action, dry_run, want) in cases {
            assert_eq!(ChangeState::recorded(action, dry_run), want, "{action:?} dry_run={dry_run}");
        }
    }

    #[test]
    fn run_result_table() {
        let t = |dry_run, failures, vendors_read, applied, writes, pushed, held| RunTally {
            dry_run,
            failures,
            vendors_read,
            applied,
            writes,
            pushed,
            held,
        };
        let cases = [
            ("a clean push", t(false, 0, 2, 5, 5, true, 0), RunResult::Ok, 0),
            ("a dry run that holds", t(true, 0, 2, 0, 5, false, 3), RunResult::Ok, 0),
            ("a push that holds", t(false, 0, 2, 5, 5, true, 3), RunResult::Held, 4),
            ("declined at the prompt", t(false, 0, 2, 0, 5, false, 0), RunResult::Declined, 0),
            ("declined, with held lines", t(false, 0, 2, 0, 5, false, 2), RunResult::Declined, 0),
            ("a failure beside writes", t(false, 1, 2, 4, 5, true, 0), RunResult::Partial, 1),
            ("a failure in a dry run", t(true, 1, 1, 0, 0, false, 0), RunResult::Partial, 1),
            ("nothing read, nothing done", t(false, 1, 0, 0, 0, false, 0), RunResult::Failed, 1),
            ("a failure outranks held", t(false, 1, 2, 3, 5, true, 2), RunResult::Partial, 1),
            ("nothing to write", t(false, 0, 2, 0, 0, false, 0), RunResult::Ok, 0),
        ];
        for (name, tally, want, code) in cases {
            assert_eq!((RunResult::of(tally), RunResult::of(tally).exit_code()), (want, code), "{name}");
        }
    }
}
