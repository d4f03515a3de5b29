//! The sync operation, as the command drives it: the plan phase (gather every vendor's usage
//! and the PSA's lines at once, guard each vendor, reconcile, apply what people decided). The
//! command parses, prints, confirms and pushes; this owns no output of its own beyond the
//! warnings and failures it says as it goes, through `Notices`.

use crate::apply;
use crate::config::Config;
use crate::http::Http;
use crate::model::{AccountMapping, BillingLine, BillingTerms, CatalogProduct, VendorSnapshot};
use crate::output::wording;
use crate::period::Period;
use crate::plan::Plan;
use crate::policy::{self, VendorRead};
use crate::psa::Psa;
use crate::reconcile::{self, ReconcileInput};
use crate::store::{ChangeRecord, Store};
use crate::vendors::{self, VendorConfig};
use std::collections::{BTreeMap, BTreeSet};

/// Where the operation says what it meets as it goes (the command's stderr).
pub struct Notices<'a> {
    /// Worth a word; silenced by `-q`.
    pub warn: &'a dyn Fn(&str),
    /// A failure: said even with `-q`.
    pub failure: &'a dyn Fn(&str),
}

/// What the plan phase gathered and decided: the plan, and every fact the push phase, the
/// record and the printout need.
pub struct Planned<'h> {
    pub psa: Box<dyn Psa + 'h>,
    pub plan: Plan,
    pub snapshots: BTreeMap<String, VendorSnapshot>,
    pub vendor_errors: BTreeMap<String, String>,
    pub failed_accounts: BTreeMap<String, Vec<String>>,
    pub vendor_notes: BTreeMap<String, Vec<String>>,
    pub unread_agreements: Vec<(i64, String)>,
    pub read_failures: Vec<String>,
    pub additions: BTreeMap<i64, Vec<BillingLine>>,
    pub terms: BTreeMap<i64, BillingTerms>,
    /// Held changes that waited for a decision before this run.
    pub waiting: Vec<ChangeRecord>,
    /// (line index, waiting change id): the same proposal held again keeps its id.
    pub repeats: Vec<(usize, i64)>,
    pub account_mappings: Vec<AccountMapping>,
    /// The vendors this run is for.
    pub selected: BTreeSet<String>,
}

/// The plan phase of a sync of `vendor_configs` for `period` (`current` is the period
/// containing today).
#[allow(clippy::too_many_arguments)]
pub fn plan<'h>(
    config: &Config,
    store: &Store,
    http: &'h Http,
    vendor_configs: &[&VendorConfig],
    period: Period,
    current: Period,
    accept_drop: bool,
    options: apply::Options,
    notices: &Notices,
) -> anyhow::Result<Planned<'h>> {
    let account_mappings = store.account_mappings(None)?;
    // What recon itself last set each addition to: another quantity now was changed outside.
    let last_set = store.last_set_quantities()?;
    let service_mappings = store.service_mappings(None)?;

    // Read the PSA while the vendors answer: the additions of every agreement the
    // selected vendors map to are read at once. A vendor that then fails costs only those
    // reads; one vendor's failure never stops the others.
    let selected: BTreeSet<String> = vendor_configs.iter().map(|v| v.name.clone()).collect();
    let agreement_ids = reconcile::agreements_to_read(&account_mappings, &service_mappings, &selected);
    let mut product_ids: Vec<i64> =
        service_mappings.iter().filter(|s| selected.contains(&s.vendor)).map(|s| s.product_id).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let workers = config.http.workers;
    let (fetched, psa_read) = std::thread::scope(|scope| {
        let vendor_job = scope.spawn(|| {
            crate::workers::map(vendor_configs, workers, |vc| vendors::fetch(vc, http, period, current))
        });
        let psa_read =
            config.psa().map_err(anyhow::Error::from).and_then(|p| Ok(p.settings.connect(http)?)).map(
                |psa| {
                    let since = period.first_day();
                    let read = apply::read_additions(psa.as_ref(), &agreement_ids, since, options);
                    // Billing terms move every month (the next invoice date, the posted periods):
                    // read fresh, in a few paged requests; catalog prices of the mapped products
                    // for new lines.
                    let terms = psa.billing_terms(&agreement_ids, since);
                    let catalog = psa.catalog_items(&product_ids);
                    (psa, read, terms, catalog)
                },
            );
        let fetched = vendor_job.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (fetched, psa_read)
    });
    let (psa, apply::AdditionsRead { lines: additions, failed: unread_agreements }, terms, catalog) =
        psa_read?;
    // Without an agreement's terms a new addition cannot be dated (reconcile skips it);
    // without a price its money is unknown. Neither stops the rest of the run.
    // Either failing makes the run a partial one (exit 1), so cron runs it again.
    let mut read_failures = Vec::new();
    let terms: BTreeMap<i64, BillingTerms> = or_failed(
        notices,
        &mut read_failures,
        terms,
        "the agreements' billing terms (no addition is created)",
    )
    .into_iter()
    .map(|t| (t.container_id, t))
    .collect();
    let catalog: BTreeMap<i64, CatalogProduct> =
        or_failed(notices, &mut read_failures, catalog, "catalog prices (new additions show no money)")
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
    // An agreement whose additions could not be read: its lines are skipped by reconcile
    // (an add there could duplicate an addition recon did not see). The rest go on.
    for (id, e) in &unread_agreements {
        (notices.failure)(&format!(
            "reading the additions of agreement {id} failed: {e}; its lines are skipped"
        ));
    }

    let mut snapshots = BTreeMap::new();
    let mut vendor_errors = BTreeMap::new();
    let mut failed_accounts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut vendor_notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (vc, result) in vendor_configs.iter().zip(fetched) {
        match result {
            Ok(snapshot) => {
                for note in &snapshot.notes {
                    (notices.warn)(&format!("{}: {note}", vc.name));
                }
                if !snapshot.notes.is_empty() {
                    vendor_notes.insert(vc.name.clone(), snapshot.notes.clone());
                }
                let failed: Vec<String> =
                    snapshot.failed_accounts().iter().map(|p| wording::problem_text(p)).collect();
                for f in &failed {
                    (notices.failure)(&format!("{}: {f}", vc.name));
                }
                if !failed.is_empty() {
                    failed_accounts.insert(vc.name.clone(), failed);
                }
                snapshots.insert(vc.name.clone(), snapshot);
            }
            Err(e) => {
                (notices.failure)(&format!("{e}; nothing is planned for {}", vc.name));
                vendor_errors.insert(vc.name.clone(), e.to_string());
            }
        }
    }

    // The vendor guard: a vendor that lists nobody, too many of whose accounts failed, or
    // whose total fell too far is treated as failed, so nothing is pushed for it (and no
    // line it shares is pushed half-summed).
    for (name, snapshot) in &snapshots {
        let now = policy::mapped_usage(name, snapshot, &account_mappings, &service_mappings);
        let last = store.last_usage(name)?;
        let read = VendorRead {
            listed: snapshot.listed_accounts(),
            failed: snapshot.failed_accounts().len(),
            now: &now,
            last: &last,
        };
        // Each vendor is judged by its own policy ([sync.vendors.NAME] over [sync]).
        if let Some(problem) = policy::vendor_guard(&read, &config.sync.for_vendor(name), accept_drop) {
            (notices.failure)(&format!("{name}: {problem}"));
            vendor_errors.insert(name.clone(), problem);
        }
    }
    snapshots.retain(|name, _| !vendor_errors.contains_key(name));
    failed_accounts.retain(|name, _| !vendor_errors.contains_key(name));

    let mut plan = reconcile::reconcile(&ReconcileInput {
        period,
        account_mappings: &account_mappings,
        service_mappings: &service_mappings,
        snapshots: &snapshots,
        additions: &additions,
        policy: &config.sync,
        bill_customer: config.psa()?.settings.bill_customer(),
        terms: &terms,
        catalog: &catalog,
        last_set: &last_set,
        writes: psa.writes(),
        psa_name: psa.name(),
    });
    // What a person already decided: a rejected proposal is not proposed again, and a held
    // one that is still waiting keeps its id.
    let waiting = store.pending_held()?;
    let rejections = store.standing_rejections()?;
    let repeats = reconcile::apply_decisions(
        &mut plan,
        &waiting.iter().map(|c| (c.id, &c.line)).collect::<Vec<_>>(),
        &rejections.iter().map(|c| (c.id, &c.line)).collect::<Vec<_>>(),
    );
    Ok(Planned {
        psa,
        plan,
        snapshots,
        vendor_errors,
        failed_accounts,
        vendor_notes,
        unread_agreements,
        read_failures,
        additions,
        terms,
        waiting,
        repeats,
        account_mappings,
        selected,
    })
}

/// A read's records, or none when it failed: the failure is said (even with -q) and kept.
fn or_failed<T>(
    notices: &Notices,
    failures: &mut Vec<String>,
    result: Result<Vec<T>, crate::psa::PsaError>,
    what: &str,
) -> Vec<T> {
    result.unwrap_or_else(|e| {
        let problem = format!("reading {what} failed: {e}");
        (notices.failure)(&problem);
        failures.push(problem);
        Vec::new()
    })
}
