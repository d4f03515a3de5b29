//! The plan: what a sync would do to each agreement addition. It is a value: printed for
//! `--dry-run`, serialized for `--json`, applied by `sync`, recorded in the ledger.

use crate::period::Period;
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// No addition for the product on the agreement: create one.
    Add,
    /// One addition whose quantity differs: change its quantity.
    Update,
    /// One addition whose quantity already matches.
    Unchanged,
    /// A change the `[sync]` policy holds for review instead of pushing.
    Held,
    /// Nothing can be done safely (ambiguous additions, no agreement chosen, account gone, ...).
    Skipped,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
            Action::Held => "held",
            Action::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        [Action::Add, Action::Update, Action::Unchanged, Action::Held, Action::Skipped]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    /// Whether applying the line writes to ConnectWise.
    pub fn writes(self) -> bool {
        matches!(self, Action::Add | Action::Update)
    }
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

/// One (agreement, product) pair, or one account that could not be placed.
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
    /// Why the line is skipped or held; empty otherwise.
    pub reason: Option<String>,
    pub sources: Vec<Source>,
}

impl PlanLine {
    /// The signed change in quantity, when both sides are known.
    pub fn delta(&self) -> Option<f64> {
        Some(f64::from(self.after?) - self.before.unwrap_or(0.0))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub period: Period,
    pub lines: Vec<PlanLine>,
    /// Problems that affect no single line (a vendor failed, an account vanished, ...).
    pub warnings: Vec<String>,
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

/// Where a recorded change stands in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeState {
    /// Written before the ConnectWise call (the intent), or the line of a dry run.
    Planned,
    Applied,
    Failed,
    Approved,
    Rejected,
    /// A held line that a later sync planned again: the later one is what counts.
    Superseded,
}

impl ChangeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Planned => "planned",
            ChangeState::Applied => "applied",
            ChangeState::Failed => "failed",
            ChangeState::Approved => "approved",
            ChangeState::Rejected => "rejected",
            ChangeState::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeState> {
        [
            ChangeState::Planned,
            ChangeState::Applied,
            ChangeState::Failed,
            ChangeState::Approved,
            ChangeState::Rejected,
            ChangeState::Superseded,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}
