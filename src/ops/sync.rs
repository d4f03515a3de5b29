//! The sync operation, as the command drives it: the plan phase (`plan`: gather every
//! vendor's usage and the PSA's lines at once, guard each vendor, reconcile, apply what people
//! decided) and the push phase (`push`: start the run, settle, supersede, write, classify,
//! record). The command parses, prints, confirms and reports; this says nothing of its own
//! beyond the warnings and failures it meets as it goes, through `Notices`.

use crate::apply;
use crate::config::Config;
use crate::http::Http;
use crate::model::{AccountMapping, BillingLine, BillingTerms, CatalogProduct, VendorSnapshot};
use crate::output::wording;
use crate::period::Period;
use crate::plan::{
    Action, ChangeState, MoneyTotals, Plan, PlanLine, RunDetails, RunKind, RunResult, format_quantity,
};
use crate::policy::{self, VendorRead};
use crate::psa::Psa;
use crate::reconcile::{self, ReconcileInput};
use crate::store::{ChangeRecord, Store};
use crate::vendors::{self, VendorConfig};
use chrono::{DateTime, Utc};
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
    /// The accounts the vendors listed that are neither mapped nor excluded, and the
    /// exclusions at the time of the plan (the run's details record both).
    pub unmapped: Vec<crate::plan::AccountRef>,
    pub exclusions: Vec<crate::model::Exclusion>,
    /// Of the unmapped accounts, those the vendors report usage for: nobody bills it.
    pub unbilled: Vec<crate::matching::UnbilledAccount>,
}

/// Keep every document the month's vendors were read from (each version once), dry run or
/// not: what a vendor billed is history whatever recon does with it.
pub fn record_documents(
    store: &mut Store,
    planned: &Planned<'_>,
    period: Period,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    for (vendor, snapshot) in &planned.snapshots {
        if !snapshot.documents.is_empty() {
            store.record_documents(vendor, period, &snapshot.documents, now)?;
        }
    }
    Ok(())
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
    let words = crate::output::wording::words();
    let terms: BTreeMap<i64, BillingTerms> = or_failed(
        notices,
        &mut read_failures,
        terms,
        &format!("the {}s' billing terms (no {} is created)", words.container, words.line),
    )
    .into_iter()
    .map(|t| (t.container_id, t))
    .collect();
    let catalog: BTreeMap<i64, CatalogProduct> = or_failed(
        notices,
        &mut read_failures,
        catalog,
        &format!("catalog prices (new {}s show no money)", words.line),
    )
    .into_iter()
    .map(|c| (c.id, c))
    .collect();
    // An agreement whose additions could not be read: its lines are skipped by reconcile
    // (an add there could duplicate an addition recon did not see). The rest go on.
    for (id, e) in &unread_agreements {
        (notices.failure)(&format!(
            "reading the {}s of {} {id} failed: {e}; its lines are skipped",
            words.line, words.container
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
        container: psa.container_word(),
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
    let exclusions = store.exclusions(None)?;
    let (mut unmapped, mut unbilled) = (Vec::new(), Vec::new());
    for (name, s) in &snapshots {
        let of_vendor = crate::matching::unmapped_accounts(name, &s.accounts, &account_mappings, &exclusions);
        unbilled.extend(crate::matching::unbilled(&of_vendor, &s.usage));
        unmapped.extend(of_vendor);
    }
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
        unmapped,
        exclusions,
        unbilled,
    })
}

/// A write of the plan that failed, with what the PSA answered.
#[derive(Debug, serde::Serialize)]
pub struct FailedWrite {
    pub company: String,
    pub product: Option<String>,
    pub error: String,
}

/// What the push phase did.
pub struct Pushed {
    pub run_id: i64,
    pub applied: usize,
    pub failed: Vec<FailedWrite>,
    pub result: RunResult,
    /// What the applied writes moved a month.
    pub applied_totals: MoneyTotals,
}

/// The push phase of a sync: start the run, settle runs a killed process left, supersede
/// the held changes this plan replaced, write (when `push`), record each outcome, classify
/// how the run ended, and record it with what it met; a real run also records each vendor's
/// sync and, when `reconcile::baseline_moves` says so, its usage for the outage guard.
#[allow(clippy::too_many_arguments)]
pub fn push(
    p: &Planned,
    store: &mut Store,
    http: &Http,
    vendors: &[String],
    period: Period,
    dry_run: bool,
    push: bool,
    now: DateTime<Utc>,
    options: apply::Options,
    notices: &Notices,
) -> anyhow::Result<Pushed> {
    let counts = p.plan.counts();
    let writes = p.plan.lines.iter().filter(|l| l.action.writes()).count();
    let run_id = store.start_run(now, RunKind::Sync, period, dry_run, vendors)?;
    if !dry_run {
        // Only the held changes whose lines this run planned afresh, from vendors it fetched:
        // a sync of one vendor leaves another vendor's decisions p.waiting.
        let keep: Vec<i64> = p.repeats.iter().map(|(_, id)| *id).collect();
        let fetched: BTreeSet<&str> = p.snapshots.keys().map(String::as_str).collect();
        let gone = reconcile::superseded(
            &p.waiting.iter().map(|c| (c.id, &c.line)).collect::<Vec<_>>(),
            &p.plan,
            &fetched,
            &keep,
        );
        store.supersede_held(&gone, now)?;
    }
    let pushed = apply::push(p.psa.as_ref(), store, run_id, &p.plan.lines, push, options, now)?;
    if !dry_run {
        // A new proposal for a line whose earlier one was waiting: say which it replaces.
        for (index, line) in p.plan.lines.iter().enumerate() {
            if line.action != Action::Held || p.repeats.iter().any(|(i, _)| *i == index) {
                continue;
            }
            let replaced = p
                .waiting
                .iter()
                .find(|c| c.line.agreement_id == line.agreement_id && c.line.product_id == line.product_id);
            if let Some(old) = replaced {
                let note = format!(
                    "supersedes change {} (it proposed {} -> {})",
                    old.id,
                    format_quantity(old.line.before),
                    old.line.after.map_or("-".to_string(), |q| q.to_string())
                );
                store.set_change_state(
                    pushed.change_ids[index],
                    ChangeState::Waiting,
                    None,
                    Some(&note),
                    now,
                )?;
            }
        }
        for (index, id) in &p.repeats {
            let note = format!("the same proposal is held as change {id}, which keeps its id");
            store.set_change_state(pushed.change_ids[*index], ChangeState::Repeat, None, Some(&note), now)?;
        }
    }
    let applied = pushed.applied.len();
    let pushed_indexes = pushed.applied.clone();
    let redated: BTreeMap<usize, PlanLine> = pushed.redated.into_iter().collect();
    for (index, line) in &redated {
        let planned = &p.plan.lines[*index];
        let day = |l: &PlanLine| l.effective_date.map_or_else(String::new, |d| d.to_string());
        (notices.warn)(&format!(
            "{}, {}: its period was posted during the run; dated {} instead of {}",
            line.company,
            line.product.as_deref().unwrap_or("-"),
            day(line),
            day(planned)
        ));
    }
    let failed: Vec<FailedWrite> = pushed
        .failed
        .into_iter()
        .map(|(index, error)| FailedWrite {
            company: p.plan.lines[index].company.clone(),
            product: p.plan.lines[index].product.clone(),
            error,
        })
        .collect();

    let account_failures: usize = p.failed_accounts.values().map(Vec::len).sum();
    let any_failure = !p.vendor_errors.is_empty()
        || !failed.is_empty()
        || account_failures > 0
        || !p.unread_agreements.is_empty()
        || !p.read_failures.is_empty();
    let result = RunResult::of(crate::plan::RunTally {
        dry_run,
        failures: p.vendor_errors.len()
            + failed.len()
            + account_failures
            + p.unread_agreements.len()
            + p.read_failures.len(),
        vendors_read: p.snapshots.len(),
        applied,
        writes,
        pushed: push,
        held: counts.held,
    });
    let run_error = any_failure.then(|| {
        use crate::output::wording::plural;
        let mut what = vec![
            format!("{} failed", plural(p.vendor_errors.len(), "vendor")),
            format!("{} failed", plural(account_failures, "account")),
        ];
        if !p.unread_agreements.is_empty() {
            let container = crate::output::wording::words().container;
            what.push(format!("{} could not be read", plural(p.unread_agreements.len(), container)));
        }
        what.extend(p.read_failures.iter().cloned());
        what.push(format!("{} failed", plural(failed.len(), "write")));
        what.join(", ")
    });
    store.finish_run(run_id, chrono::Utc::now(), result, &counts, run_error.as_deref())?;
    let applied_lines: Vec<PlanLine> =
        pushed_indexes.iter().map(|&i| redated.get(&i).unwrap_or(&p.plan.lines[i]).clone()).collect();
    let applied_totals = Plan { period, lines: applied_lines, warnings: Vec::new() }.totals();
    if !dry_run {
        let by_vendor = applied_totals.by_vendor.iter().map(|(v, n)| (v.clone(), n.0)).collect();
        store.set_applied_net(run_id, &by_vendor)?;
    }
    // What the run met besides its lines, for `history RUN`, the report and the notification.
    let details = RunDetails {
        currencies: p
            .terms
            .values()
            .filter_map(|t| t.currency.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        failed_vendors: p.vendor_errors.clone(),
        failed_accounts: p.failed_accounts.clone(),
        read_failures: p
            .unread_agreements
            .iter()
            .map(|(id, e)| {
                let words = crate::output::wording::words();
                format!("reading the {}s of {} {id} failed: {e}", words.line, words.container)
            })
            .chain(p.read_failures.iter().cloned())
            .collect(),
        warnings: p.plan.warnings.clone(),
        unmapped: p.unmapped.clone(),
        excluded: p.exclusions.iter().filter(|e| p.selected.contains(&e.vendor)).cloned().collect(),
        notices: Vec::new(),
        rates: http.rates(),
    };
    store.set_run_details(run_id, &details)?;
    let stats = http.stats();
    tracing::info!(
        "run {run_id}: {} requests, {} retried, {} answered 429",
        stats.requests,
        stats.retries,
        stats.throttled
    );
    for r in &http.rates() {
        tracing::info!("{}", wording::host_rate(r));
    }
    for vendor in vendors {
        let error = p.vendor_errors.get(vendor).map(String::as_str);
        if !dry_run || error.is_some() {
            let outcome = if error.is_some() { RunResult::Failed } else { result };
            store.record_sync(vendor, now, outcome.as_str(), error)?;
        }
        if reconcile::baseline_moves(dry_run, error.is_some(), push, writes)
            && let Some(snapshot) = p.snapshots.get(vendor)
        {
            store.record_usage(vendor, &snapshot.usage)?;
        }
    }

    Ok(Pushed { run_id, applied, failed, result, applied_totals })
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
