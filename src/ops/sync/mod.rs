//! The sync operation as a pipeline of typed stages, each a function from one value to the
//! next: `gather` (every vendor's usage and the PSA's lines at once) -> `guard` (each vendor
//! judged) -> `reconcile` (the plan) -> `decide` (what people already decided) -> `push`
//! (settle, supersede, write) -> `record` (how the run ended and what it met). `plan` runs
//! the first four, which sync and audit share. The command parses, prints, confirms and
//! reports; the stages say nothing of their own beyond the warnings and failures they meet,
//! through the command's `Reporter`.

mod gather;
mod push;

pub use gather::{Gathered, PsaRead, Request, gather};
pub use push::{FailedWrite, Outcome, PushRequest, Pushed, push, record};

use super::Reporter;
use crate::matching::UnbilledAccount;
use crate::model::{AccountMapping, Exclusion, ServiceMapping, VendorSnapshot};
use crate::output::wording;
use crate::period::Period;
use crate::plan::{AccountRef, Plan};
use crate::policy::{self, SyncPolicy, VendorRead};
use crate::reconcile::{self, ReconcileInput};
use crate::store::{ChangeRecord, Store};
use crate::vendors::VendorError;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// What recon's database maps, read once at the start of the run.
pub struct Mappings {
    pub accounts: Vec<AccountMapping>,
    pub services: Vec<ServiceMapping>,
    /// Addition id -> (run, quantity) recon itself last set it to: another quantity now
    /// was changed outside recon.
    pub last_set: BTreeMap<i64, (i64, Decimal)>,
}

/// What the vendors gave, each judged: a vendor that failed, or that the guard failed, has
/// no snapshot and nothing is planned for it.
pub struct VendorsRead {
    pub snapshots: BTreeMap<String, VendorSnapshot>,
    pub errors: BTreeMap<String, String>,
    /// Of the failed vendors, those whose month is not published yet (or still open): not
    /// broken, just not known yet (`VendorError::NotAvailable`).
    pub not_available: BTreeSet<String>,
    /// Vendor -> each account that failed, described.
    pub failed_accounts: BTreeMap<String, Vec<String>>,
    /// Vendor -> what was read but changes no quantity (a record listed twice, free seats).
    pub notes: BTreeMap<String, Vec<String>>,
    /// The vendors this run is for.
    pub selected: BTreeSet<String>,
}

/// The stage after `guard`: every vendor judged.
pub struct Guarded<'h> {
    pub mappings: Mappings,
    pub psa: PsaRead<'h>,
    pub vendors: VendorsRead,
}

/// The stage after `reconcile`: the plan of what the guard let through.
pub struct Reconciled<'h> {
    pub guarded: Guarded<'h>,
    pub plan: Plan,
}

/// What people decided before this run, as the plan keeps it.
pub struct Decisions {
    /// Held changes that waited for a decision before this run.
    pub waiting: Vec<ChangeRecord>,
    /// (line index, waiting change id): the same proposal held again keeps its id.
    pub repeats: Vec<(usize, i64)>,
}

/// The accounts the vendors listed that nobody maps, for the run's details and the plan.
pub struct Unmapped {
    /// Neither mapped nor excluded.
    pub accounts: Vec<AccountRef>,
    /// The exclusions at the time of the plan.
    pub exclusions: Vec<Exclusion>,
    /// Of the unmapped accounts, those the vendors report usage for: nobody bills it.
    pub unbilled: Vec<UnbilledAccount>,
}

/// The plan phase's end (after `decide`): the plan and every fact the push phase, the
/// record and the printout need.
pub struct Planned<'h> {
    pub plan: Plan,
    pub psa: PsaRead<'h>,
    pub vendors: VendorsRead,
    pub mappings: Mappings,
    pub decisions: Decisions,
    pub unmapped: Unmapped,
}

/// The plan phase: gather, guard, reconcile, decide.
pub fn plan<'h>(
    request: &Request,
    store: &Store,
    http: &'h crate::http::Http,
    reporter: &dyn Reporter,
) -> anyhow::Result<Planned<'h>> {
    let gathered = gather(request, store, http, reporter)?;
    let guarded = guard(gathered, store, &request.config.sync, request.accept_drop, reporter)?;
    decide(reconcile(guarded, request.period, &request.config.sync), store)
}

/// Each vendor's answer judged: its notes and failed accounts said, and the outage guard
/// applied. A vendor that lists nobody, too many of whose accounts failed, or whose total
/// fell too far is treated as failed, so nothing is pushed for it (and no line it shares is
/// pushed half-summed).
pub fn guard<'h>(
    gathered: Gathered<'h>,
    store: &Store,
    policy: &SyncPolicy,
    accept_drop: bool,
    reporter: &dyn Reporter,
) -> anyhow::Result<Guarded<'h>> {
    let Gathered { mappings, psa, fetched } = gathered;
    let mut vendors = VendorsRead {
        selected: fetched.iter().map(|(name, _)| name.clone()).collect(),
        snapshots: BTreeMap::new(),
        errors: BTreeMap::new(),
        not_available: BTreeSet::new(),
        failed_accounts: BTreeMap::new(),
        notes: BTreeMap::new(),
    };
    for (name, result) in fetched {
        let snapshot = match result {
            Ok(snapshot) => snapshot,
            Err(e) => {
                reporter.failure(&format!("{e}; nothing is planned for {name}"));
                if matches!(e, VendorError::NotAvailable { .. }) {
                    vendors.not_available.insert(name.clone());
                }
                vendors.errors.insert(name, e.to_string());
                continue;
            }
        };
        for note in &snapshot.notes {
            reporter.warn(&format!("{name}: {note}"));
        }
        if !snapshot.notes.is_empty() {
            vendors.notes.insert(name.clone(), snapshot.notes.clone());
        }
        let failed: Vec<String> =
            snapshot.failed_accounts().iter().map(|p| wording::problem_text(p)).collect();
        for f in &failed {
            reporter.failure(&format!("{name}: {f}"));
        }
        // Each vendor is judged by its own policy ([sync.vendors.NAME] over [sync]).
        let now = policy::mapped_usage(&name, &snapshot, &mappings.accounts, &mappings.services);
        let last = store.last_usage(&name)?;
        let read =
            VendorRead { listed: snapshot.listed_accounts(), failed: failed.len(), now: &now, last: &last };
        if let Some(problem) = policy::vendor_guard(&read, &policy.for_vendor(&name), accept_drop) {
            reporter.failure(&format!("{name}: {problem}"));
            vendors.errors.insert(name, problem);
            continue;
        }
        if !failed.is_empty() {
            vendors.failed_accounts.insert(name.clone(), failed);
        }
        vendors.snapshots.insert(name, snapshot);
    }
    Ok(Guarded { mappings, psa, vendors })
}

/// The plan of what the guard let through (`reconcile::reconcile`, pure).
pub fn reconcile<'h>(guarded: Guarded<'h>, period: Period, policy: &SyncPolicy) -> Reconciled<'h> {
    let Guarded { mappings, psa, vendors } = &guarded;
    let plan = reconcile::reconcile(&ReconcileInput {
        period,
        account_mappings: &mappings.accounts,
        service_mappings: &mappings.services,
        snapshots: &vendors.snapshots,
        additions: &psa.additions,
        policy,
        bill_customer: psa.bill_customer,
        terms: &psa.terms,
        catalog: &psa.catalog,
        last_set: &mappings.last_set,
        writes: psa.psa.writes(),
        psa_name: psa.psa.name(),
        container: psa.psa.container_word(),
    });
    Reconciled { guarded, plan }
}

/// What a person already decided, applied: a rejected proposal is not proposed again, and a
/// held one that is still waiting keeps its id. With the accounts nobody maps.
pub fn decide<'h>(reconciled: Reconciled<'h>, store: &Store) -> anyhow::Result<Planned<'h>> {
    let Reconciled { guarded: Guarded { mappings, psa, vendors }, mut plan } = reconciled;
    let waiting = store.pending_held()?;
    let rejections = store.standing_rejections()?;
    let repeats = reconcile::apply_decisions(
        &mut plan,
        &waiting.iter().map(|c| (c.id, &c.line)).collect::<Vec<_>>(),
        &rejections.iter().map(|c| (c.id, &c.line)).collect::<Vec<_>>(),
    );
    let exclusions = store.exclusions(None)?;
    let (mut accounts, mut unbilled) = (Vec::new(), Vec::new());
    for (name, s) in &vendors.snapshots {
        let of_vendor =
            crate::matching::unmapped_accounts(name, &s.accounts, &mappings.accounts, &exclusions);
        unbilled.extend(crate::matching::unbilled(&of_vendor, &s.usage));
        accounts.extend(of_vendor);
    }
    Ok(Planned {
        plan,
        psa,
        vendors,
        mappings,
        decisions: Decisions { waiting, repeats },
        unmapped: Unmapped { accounts, exclusions, unbilled },
    })
}

/// Keep every document the month's vendors were read from (each version once), dry run or
/// not: what a vendor billed is history whatever recon does with it.
pub fn record_documents(
    store: &mut Store,
    planned: &Planned<'_>,
    period: Period,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    for (vendor, snapshot) in &planned.vendors.snapshots {
        if !snapshot.documents.is_empty() {
            store.record_documents(vendor, period, &snapshot.documents, now)?;
        }
    }
    Ok(())
}
