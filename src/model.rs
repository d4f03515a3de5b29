//! The records every part of recon shares. Vendor adapters turn their wire formats into
//! these; the PSA client turns its JSON into the PSA-neutral records (`PsaCompany`,
//! `BillingContainer`, `BillingLine`, `CatalogProduct`); matching and reconcile take and
//! return only these. ConnectWise's wire types stay inside `connectwise/`.

use crate::period::Period;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

/// A customer as a vendor lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VendorAccount {
    /// The vendor's own id for the account, as text (numeric ids are stringified).
    pub id: String,
    /// The name people see in the vendor's portal.
    pub name: String,
    pub status: Option<String>,
    /// The record as the vendor sent it, kept for audit.
    pub raw: serde_json::Value,
}

/// A billable SKU of a vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorService {
    pub key: String,
    pub name: String,
}

/// How many units of one service one account used.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub account_id: String,
    pub service_key: String,
    pub quantity: u32,
    /// How `quantity` splits by device class (an RMM's or EDR's: `WINDOWS_SERVER` -> 3), the
    /// counts adding up to it; empty for a vendor without classes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub classes: std::collections::BTreeMap<String, u32>,
    /// What the vendor's billing rule counted or left out of `quantity`, by class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<CountNote>,
}

/// Devices of one class the vendor's billing rule counted though notable (`offline
/// counted`) or left out (`unapproved left out`): a class rule shows only its classes'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountNote {
    pub class: String,
    pub count: u32,
    /// What happened to them, as a person reads it after the count: `offline counted`.
    pub what: String,
}

/// One subscription behind a usage row (a distributor's): several of one product for one
/// account add up (monthly + annual terms of one SKU), and each keeps its own term, the end
/// of its commitment, and what it costs and sells for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Subscription {
    pub account_id: String,
    pub service_key: String,
    /// The distributor's subscription id.
    pub id: String,
    pub quantity: u32,
    /// `Monthly`, `Annual`, `2 Year`, ... as the distributor says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// Until this day the seats cannot be reduced (the customer owes them): an annual or
    /// multi-year term's end. `None` for a monthly term, or when the distributor does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commitment_ends: Option<NaiveDate>,
    /// What the MSP pays per unit, when the distributor says.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "decimal_number",
        deserialize_with = "exact_decimal"
    )]
    pub unit_cost: Option<Decimal>,
    /// The distributor's price per unit (retail or what it bills), when it says.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "decimal_number",
        deserialize_with = "exact_decimal"
    )]
    pub unit_price: Option<Decimal>,
}

/// A decimal written as a JSON number or text, read exactly as written (`20.9` is 20.9, not
/// the nearest binary fraction).
fn exact_decimal<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => {
            n.to_string().parse().map(Some).map_err(serde::de::Error::custom)
        }
        Some(serde_json::Value::String(t)) => t.trim().parse().map(Some).map_err(serde::de::Error::custom),
        Some(other) => Err(serde::de::Error::custom(format!("expected a number, found {other}"))),
    }
}

impl Subscription {
    /// Under a commitment on `date`: its seats may not be reduced before it ends.
    pub fn committed_on(&self, date: NaiveDate) -> bool {
        self.commitment_ends.is_some_and(|end| end > date)
    }
}

/// Everything one vendor reported in one fetch.
///
/// Unknown is never zero: an account whose usage could not be read, or whose count field was
/// absent or null, has a `problems` entry instead of a usage row, and reconcile skips every
/// line it could feed. An id that two differing records share is in `problems` only (never
/// in `accounts`): recon cannot tell which record is the customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VendorSnapshot {
    /// One per vendor id; ids with conflicting records are left out (see `problems`).
    pub accounts: Vec<VendorAccount>,
    pub services: Vec<VendorService>,
    pub usage: Vec<Usage>,
    /// What is not known of some accounts in this fetch.
    pub problems: Vec<AccountProblem>,
    /// Things worth a warning that change no quantity (a record listed twice, identical).
    pub notes: Vec<String>,
    /// The active subscriptions each usage row adds up (distributors only; empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<Subscription>,
    /// For a month read from what the vendor invoiced: the documents (every version read,
    /// void ones too) the usage is netted from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Document>,
}

impl VendorSnapshot {
    /// Accounts the vendor listed: readable ones and ids with conflicting records.
    pub fn listed_accounts(&self) -> usize {
        self.accounts.len()
            + self.problems.iter().filter(|p| matches!(p.kind, ProblemKind::Ambiguous { .. })).count()
    }

    /// Accounts that failed in this fetch (a read or a value that failed, conflicting records),
    /// each once.
    pub fn failed_accounts(&self) -> Vec<&AccountProblem> {
        let mut failed: Vec<&AccountProblem> = self.problems.iter().filter(|p| p.kind.is_failure()).collect();
        failed.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        failed.dedup_by(|a, b| a.account_id == b.account_id);
        failed
    }
}

/// Something recon does not know about one account in this fetch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountProblem {
    pub account_id: String,
    pub account_name: String,
    #[serde(flatten)]
    pub kind: ProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ProblemKind {
    /// The count of one service was absent or null: that service's usage is unknown.
    MissingCount { service_key: String, field: String },
    /// The account's usage could not be read (a request that failed after its retries, a
    /// value that is not a count): all of its usage is unknown.
    Failed { message: String },
    /// Records that differ share this id (each described): none of them is used.
    Ambiguous { records: Vec<String> },
}

impl ProblemKind {
    /// Whether it counts as a failed account (exit 1, `max_failed_accounts_percent`). A
    /// missing count is a vendor's way of saying "no figure": skipped, not failed.
    pub fn is_failure(&self) -> bool {
        !matches!(self, ProblemKind::MissingCount { .. })
    }
}

/// A customer company in the PSA (only the fields recon reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsaCompany {
    pub id: i64,
    pub identifier: String,
    pub name: String,
}

/// What holds a customer's billing lines: a ConnectWise agreement (or an Autotask contract).
/// Only active ones are read or chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingContainer {
    pub id: i64,
    pub name: String,
    pub company_id: i64,
    pub type_name: Option<String>,
    /// The agreement this one is a child of (bundled children share its invoice).
    pub parent_id: Option<i64>,
    /// A number people know it by besides its name (Autotask `contractNumber`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Other references that name it exactly (Halo: the id of the recurring invoice's contract).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// How a container bills, as the PSA says now (read fresh every sync: the next invoice date
/// moves every month).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingTerms {
    pub container_id: i64,
    /// When the agreement starts billing; a line may not start before it.
    pub bill_start_date: Option<NaiveDate>,
    /// The next invoice not yet generated: a period starting before it is already invoiced.
    pub next_invoice_date: Option<NaiveDate>,
    /// Whether a line added mid-period is prorated (and so may start in an invoiced period).
    pub prorate: bool,
    /// The currency of its amounts (ConnectWise `currency.currencyCode`), when it says.
    pub currency: Option<String>,
    /// The first day a change may take effect, when earlier periods are closed for good
    /// (Autotask: posted for billing). `None`: no period is closed.
    #[serde(default)]
    pub open_from: Option<NaiveDate>,
}

/// How a PSA changes the quantity of a billing line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuantityWrites {
    /// The quantity is set in place, and a new line is created with its own start date
    /// (ConnectWise: PATCH `quantity`, POST an addition).
    #[default]
    InPlace,
    /// Only by a signed delta that takes effect on a date, which also creates a missing line
    /// (Autotask's ContractServiceAdjustment). Every change, an update too, carries its date,
    /// and the quantity it changes is the one in force on that date.
    DatedDelta,
    /// The quantity is set in place by sending the container again with every line (Halo's
    /// recurring invoice re-post); a change applies from the next invoice the PSA generates,
    /// whose pro-rata the PSA's own settings decide. A missing line is added to the container.
    Repost,
}

/// The units of a line over a span of days: one span per billing period, and a new one from
/// the date of each change within it (Autotask's ContractServiceUnits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitSpan {
    pub start: NaiveDate,
    /// Its last day, or the next span's first: `span_at` reads either the same way.
    pub end: NaiveDate,
    pub units: Decimal,
    pub price: Option<Decimal>,
    pub cost: Option<Decimal>,
    /// Billed already (Autotask `approveAndPostDate`): a change may not take effect in it.
    pub posted: bool,
}

/// The span in force on `date`: of those that start on or before it and end on or after it,
/// the one that starts last (never simply the first listed: a mid-period change starts a
/// span inside its period's, and a period that ends on the next one's first day gives way
/// to it).
pub fn span_at(spans: &[UnitSpan], date: NaiveDate) -> Option<&UnitSpan> {
    spans.iter().filter(|s| s.start <= date && date <= s.end).max_by_key(|s| s.start)
}

/// One billing line of a container: a ConnectWise addition of an agreement (or an Autotask
/// contract service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingLine {
    pub id: i64,
    pub agreement_id: i64,
    pub product_id: Option<i64>,
    pub product_identifier: Option<String>,
    /// A decimal in ConnectWise: compared and shown exactly as it is.
    pub quantity: Decimal,
    /// Units included in the agreement's price: billed = quantity - less_included, at least 0.
    pub less_included: Decimal,
    pub unit_price: Option<Decimal>,
    pub unit_cost: Option<Decimal>,
    pub bill_customer: Option<BillCustomer>,
    /// When it starts billing; `None` when the PSA did not say (taken as always).
    pub effective_date: Option<NaiveDate>,
    /// When it stops billing; it still bills until then.
    pub cancelled_date: Option<NaiveDate>,
    /// Its units over time, when the PSA keeps them by date (Autotask); empty when the line
    /// has one `quantity` (ConnectWise).
    #[serde(default)]
    pub schedule: Vec<UnitSpan>,
    /// Switched off in the PSA (Halo `isinactive`): it bills no period.
    #[serde(default)]
    pub inactive: bool,
    /// The PSA computes its quantity itself (Halo's automatic quantity from licence, user or
    /// asset counts): recon never writes it, and says so.
    #[serde(default)]
    pub computed: bool,
    /// Units waiting on the line that the PSA adds to it when it next invoices (Halo's
    /// pending pro-rata quantity); `quantity` already counts them, so the line reads the same
    /// before and after the PSA folds them in.
    #[serde(default)]
    pub pro_rata: Decimal,
}

/// Where a billing line stands in a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It bills the period (it may be cancelled later in or after it).
    InForce,
    /// It starts after the period ends.
    Scheduled,
    /// It was cancelled before the period started.
    Ended,
}

impl BillingLine {
    /// The quantity in force on `date`: the span covering it when the line keeps its units
    /// by date (`None` when no span covers it, or no date is given), else `quantity`.
    pub fn quantity_at(&self, date: Option<NaiveDate>) -> Option<Decimal> {
        if self.schedule.is_empty() {
            return Some(self.quantity);
        }
        span_at(&self.schedule, date?).map(|s| s.units)
    }

    /// An addition bills period P when it is active, not cancelled before P starts and does
    /// not start after P ends.
    pub fn standing(&self, period: Period) -> Standing {
        if self.inactive || self.cancelled_date.is_some_and(|d| d < period.first_day()) {
            Standing::Ended
        } else if self.effective_date.is_some_and(|d| d > period.last_day()) {
            Standing::Scheduled
        } else {
            Standing::InForce
        }
    }
}

/// A product of the PSA's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogProduct {
    pub id: i64,
    pub identifier: String,
    pub description: String,
    pub inactive: bool,
    /// What a new line of it is billed at and costs, unless the line says otherwise.
    pub price: Option<Decimal>,
    pub cost: Option<Decimal>,
}

crate::text_enum! {
    /// How a mapping was made.
    pub enum MappedBy {
        Auto = "auto",
        Manual = "manual",
    }
}

/// A vendor account mapped to a ConnectWise company and (once chosen) one of its agreements.
/// Names are kept as they were when mapped, so listings need no ConnectWise call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMapping {
    pub vendor: String,
    pub account_id: String,
    /// The account's name when it was mapped, so a vanished account is still named.
    pub account_name: String,
    pub company_id: i64,
    pub company_name: String,
    pub agreement_id: Option<i64>,
    pub agreement_name: Option<String>,
    pub how: MappedBy,
}

/// A vendor service mapped to a catalog product, with the billing rules of that mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceMapping {
    pub vendor: String,
    pub service_key: String,
    pub product_id: i64,
    pub product_identifier: String,
    /// Never bill fewer than this on a line this service feeds.
    pub minimum: Option<u32>,
    /// How additions recon creates for this product are billed (else `[connectwise]`).
    pub bill_customer: Option<BillCustomer>,
    /// A decrease of seats under a distributor's commitment goes through (`--committed-decreases
    /// apply`) instead of being held for review.
    #[serde(default)]
    pub committed_decreases: bool,
    /// Only these device classes of the service's count feed the product (`--class`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<ClassRule>,
    /// The units the plan includes: the line bills what is over it (`--included`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included: Option<u32>,
}

/// A vendor account that is never mapped, matched or billed (the MSP's own, NFR, internal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    pub vendor: String,
    pub account_id: String,
    pub account_name: String,
    pub reason: Option<String>,
}

/// An account-company pair a person unmapped (`map accounts --unmap`): auto-matching never
/// pairs them again; a `--set` of the same pair undoes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmatch {
    pub vendor: String,
    pub account_id: String,
    pub account_name: String,
    pub company_id: i64,
    pub company_name: String,
}

crate::text_enum! {
    /// Vendor lifecycle: inactive (not connected) -> pending (connected) -> active (at least
    /// one account and one service mapped).
    pub enum VendorStatus {
        Inactive = "inactive",
        Pending = "pending",
        Active = "active",
    }
}

crate::text_enum! {
    /// How a new PSA line is billed (ConnectWise `billCustomer`).
    pub enum BillCustomer {
        Billable = "Billable",
        /// Carries cost but stays off the invoice.
        DoNotBill = "DoNotBill",
        NoCharge = "NoCharge",
    }
}

/// One document a vendor issued for a month: an invoice, a credit note, a re-issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The vendor's id for it (several versions of one document share it).
    pub id: String,
    pub issued: Option<NaiveDate>,
    /// As the vendor says (`Paid`, `Unpaid`, `Void`, ...).
    pub status: Option<String>,
    /// Replaced by another document (`Void`): kept in the database, never counted.
    pub void: bool,
    pub credit_note: bool,
    /// The total the vendor states for it, when it states one.
    pub total: Option<Decimal>,
    pub currency: Option<String>,
    pub lines: Vec<DocumentLine>,
}

/// One charge on a document: what one account was charged for one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentLine {
    pub account_id: String,
    pub account_name: Option<String>,
    pub service_key: String,
    pub service_name: Option<String>,
    /// Negative on a credit.
    pub quantity: Decimal,
    /// What the vendor charged for the line (negative on a credit); `None` when it gives no
    /// money (Sophos's usage).
    pub amount: Option<Decimal>,
}

/// Which device classes of a count a mapping bills: the name it was given by (`server`, or
/// a set named in the vendor's config) and the classes it stood for when it was set (a
/// trailing `*` matches every class that starts so: `NMS_*`). Stored with the mapping, so a
/// later change of the config never changes what was billed without a person saying so.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClassRule {
    pub name: String,
    pub classes: Vec<String>,
}

impl ClassRule {
    pub fn matches(&self, class: &str) -> bool {
        self.classes.iter().any(|c| match c.strip_suffix('*') {
            Some(prefix) => class.starts_with(prefix),
            None => c == class,
        })
    }
}

/// A decimal as a JSON number (`12`, `10.5`, `-90.25`), or null.
pub fn decimal_number<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(d) => decimal_number_of(d, s),
        None => s.serialize_none(),
    }
}

pub fn decimal_number_of<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    let d = d.normalize();
    if d.scale() == 0
        && let Ok(i) = i64::try_from(d)
    {
        return s.serialize_i64(i);
    }
    s.serialize_f64(f64::try_from(d).unwrap_or(f64::NAN))
}
