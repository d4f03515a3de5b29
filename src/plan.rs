//! The plan: what a sync would do to each agreement addition. It is a value: printed for
//! `--dry-run`, serialized for `--json`, applied by `sync`, recorded in the ledger.

use crate::model::{AccountProblem, BillCustomer};
use crate::period::Period;
use serde::{Deserialize, Serialize, Serializer};

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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Source {
    pub vendor: String,
    pub account_id: String,
    pub account_name: String,
    pub service_key: String,
    pub quantity: u32,
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
    /// The mapped company has no agreement chosen (none active, or several).
    NoAgreement { vendor: String, account_id: String, company_id: i64, company: String },
    /// A share of the line's sum is unknown in this run; `partial` when other shares are known.
    UsageUnknown { unknown: Vec<Unknown>, partial: bool },
    /// The quantities add up to more than a u32 holds.
    TooLarge,
    /// The agreement's additions could not be read, so an add could duplicate one.
    AdditionsNotRead { agreement: String },
    /// Several active additions of the product on the agreement.
    SeveralAdditions { product: String, agreement: String, ids: Vec<i64> },
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
            Reason::NoAgreement { .. } => "no_agreement",
            Reason::UsageUnknown { partial: true, .. } => "partial_sum",
            Reason::UsageUnknown { partial: false, .. } => "usage_unknown",
            Reason::TooLarge => "too_large",
            Reason::AdditionsNotRead { .. } => "additions_not_read",
            Reason::SeveralAdditions { .. } => "several_additions",
            Reason::Held { .. } => "held",
            Reason::UndoCreated => "undo_created",
            Reason::UndoBackTo { .. } => "undo_back_to",
            Reason::UndoGone { .. } => "undo_gone",
            Reason::UndoChangedSince { .. } => "undo_changed_since",
            Reason::UndoFractional => "undo_fractional",
            Reason::Note { .. } => "note",
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
    /// The quantity ConnectWise holds now (`None` when there is no addition).
    #[serde(serialize_with = "whole_if_integral")]
    pub before: Option<f64>,
    /// The quantity the vendors report (`None` when unknown, e.g. an account gone).
    pub after: Option<u32>,
    /// Why the line is skipped or held, or a note on it; `None` otherwise. Not serialized
    /// here: `output::wording::LineJson` shows it as text beside its code.
    #[serde(skip)]
    pub reason: Option<Reason>,
    pub sources: Vec<Source>,
    /// For an add: the date the new line starts billing, as it is sent.
    pub effective_date: Option<chrono::NaiveDate>,
    /// For an add: how the new line is billed, as it is sent.
    pub bill_customer: Option<BillCustomer>,
}

impl PlanLine {
    /// The signed change in quantity, when both sides are known.
    pub fn delta(&self) -> Option<f64> {
        Some(f64::from(self.after?) - self.before.unwrap_or(0.0))
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

impl Plan {
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

/// ConnectWise quantities are decimals; print `12` rather than `12.0` when whole.
pub fn whole_if_integral<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => s.serialize_i64(*x as i64),
        Some(x) => s.serialize_f64(*x),
        None => s.serialize_none(),
    }
}

/// The same rule for tables.
pub fn format_quantity(v: Option<f64>) -> String {
    match v {
        Some(x) if x.fract() == 0.0 => format!("{}", x as i64),
        Some(x) => format!("{x}"),
        None => "-".to_string(),
    }
}

crate::text_enum! {
    /// Where a recorded change stands in the ledger.
    pub enum ChangeState {
        /// Written before the ConnectWise call (the intent), or the line of a dry run.
        Planned = "planned",
        Applied = "applied",
        Failed = "failed",
        Approved = "approved",
        Rejected = "rejected",
        /// A held line that a later sync planned again: the later one is what counts.
        Superseded = "superseded",
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

impl RunResult {
    /// The documented exit code of a run that ended so.
    pub fn exit_code(self) -> u8 {
        match self {
            RunResult::Ok | RunResult::Declined => 0,
            RunResult::Partial | RunResult::Failed | RunResult::Interrupted => 1,
            RunResult::Held => 4,
        }
    }
}
