//! Connecting a vendor, in two stages: `fetch` what it lists for the current month, then
//! `record` it beside the PSA's companies and auto-match accounts to them by exact name.
//! The command connects to the PSA between the two (a vendor that cannot be read is said
//! before the PSA is asked anything) and prints the `Connected`.

use super::Reporter;
use crate::matching::{self, MatchOutcome};
use crate::model::{AccountMapping, PsaCompany, VendorSnapshot, VendorStatus};
use crate::period::Period;
use crate::psa::Psa;
use crate::store::{AccountChanges, Store};
use crate::vendors::{self, VendorConfig};
use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};

/// What one vendor listed.
pub struct Fetched {
    pub vendor: String,
    pub snapshot: VendorSnapshot,
}

/// Read the vendor's accounts, services and counts for the month of `today`; what it lists
/// but bills nothing from (no accounts at all, a record listed twice) is said as it is met.
pub fn fetch(
    vendor: &VendorConfig,
    http: &crate::http::Http,
    today: NaiveDate,
    reporter: &dyn Reporter,
) -> anyhow::Result<Fetched> {
    let current = Period::containing(today);
    let snapshot = vendors::fetch(vendor, http, current, current)?;
    let name = &vendor.name;
    if snapshot.listed_accounts() == 0 {
        reporter.warn(&format!("{name} returned no accounts; nothing to map yet"));
    }
    for note in &snapshot.notes {
        reporter.warn(&format!("{name}: {note}"));
    }
    Ok(Fetched { vendor: name.clone(), snapshot })
}

/// What connecting stored and matched.
pub struct Connected {
    pub vendor: String,
    pub snapshot: VendorSnapshot,
    pub companies: Vec<PsaCompany>,
    /// The vendor was connected before: this was a refresh, and accounts that appeared are news.
    pub was_connected: bool,
    /// Accounts that appeared or vanished since the vendor was last read.
    pub changes: AccountChanges,
    /// What auto-matching found for the accounts nobody had decided on.
    pub matching: MatchOutcome,
    /// The mappings auto-matching made.
    pub new_mappings: Vec<AccountMapping>,
    pub status: VendorStatus,
}

/// Store what the vendor listed and the PSA's companies, then match by exact name. Mapped
/// and excluded accounts are decided: auto-matching leaves them alone, and never makes a
/// pair a person unmapped.
pub fn record(
    fetched: Fetched,
    psa: &dyn Psa,
    store: &mut Store,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<Connected> {
    let Fetched { vendor, snapshot } = fetched;
    let companies = psa.companies().with_context(|| format!("reading {} companies", psa.name()))?;
    let agreements = psa
        .active_agreements(None, today)
        .with_context(|| format!("reading {} {}s", psa.name(), psa.container_word()))?;

    let was_connected = store.vendor(&vendor)?.is_some_and(|v| v.status != VendorStatus::Inactive);
    let changes = store.replace_accounts(&vendor, &snapshot.accounts, now)?;
    store.replace_services(&vendor, &snapshot.services)?;
    store.mark_connected(&vendor, now)?;
    store.replace_cw_companies(&companies)?;

    let decided = store.decided_account_ids(&vendor)?;
    let refused = store.refused_pairs(&vendor)?;
    let matching = matching::auto_match(&snapshot.accounts, &companies, &decided, &refused);
    let new_mappings =
        matching::mappings_for(&vendor, &matching.matched, &snapshot.accounts, &companies, &agreements);
    store.set_account_mappings(&new_mappings, now)?;
    let status = store.status(&vendor)?;
    Ok(Connected { vendor, snapshot, companies, was_connected, changes, matching, new_mappings, status })
}
