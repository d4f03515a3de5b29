//! `recon sync`: fetch every vendor's usage, read the additions of the mapped agreements,
//! build the plan, print it, and unless --dry-run push it, recording everything.

use super::{Context, psa, usage, vendor_config};
use crate::apply;
use crate::cli::SyncArgs;
use crate::model::{BillingTerms, CatalogProduct, VendorStatus};
use crate::output::wording::{self, PlanJson};
use crate::period::Period;
use crate::plan::{Action, ChangeState, Plan, PlanLine, RunDetails, RunKind, RunResult, format_quantity};
use crate::policy::{self, VendorRead};
use crate::reconcile::{self, ReconcileInput};
use crate::vendors;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Serialize)]
struct SyncReport<'a> {
    run_id: i64,
    /// `--dry-run` was given.
    dry_run: bool,
    /// Whether this run pushed (a real run with writes that was not declined).
    pushed: bool,
    #[serde(flatten)]
    plan: PlanJson<'a>,
    counts: crate::plan::PlanCounts,
    vendor_errors: BTreeMap<String, String>,
    /// Vendor -> each account that failed in this run, described.
    failed_accounts: BTreeMap<String, Vec<String>>,
    /// Vendor -> what was read but changes no quantity (a record listed twice, free seats).
    vendor_notes: BTreeMap<String, Vec<String>>,
    /// Agreements whose additions could not be read: their lines were skipped.
    unread_agreements: Vec<UnreadAgreement>,
    applied: usize,
    failed: Vec<FailedWrite>,
    /// The report page written (`--report`), or null.
    report: Option<String>,
}

#[derive(Serialize)]
struct UnreadAgreement {
    id: i64,
    error: String,
}

#[derive(Serialize)]
struct FailedWrite {
    company: String,
    product: Option<String>,
    error: String,
}

pub fn run(ctx: &Context, args: &SyncArgs) -> anyhow::Result<u8> {
    let period = Period::parse_relative(&args.period, ctx.today()).map_err(|e| usage(e.to_string()))?;
    let current = Period::containing(ctx.today());
    if let Some(path) = &args.report {
        super::report::check_page_path("--report", path)?;
    }
    let config = ctx.config()?;
    let (mut store, _lock) = ctx.locked_store(&config, "sync")?;
    let http = ctx.http(&config)?;

    let vendors = selected_vendors(ctx, &config, &store, &args.vendors)?;
    let vendor_configs: Vec<_> =
        vendors.iter().map(|v| vendor_config(&config, v)).collect::<anyhow::Result<Vec<_>>>()?;
    // Live APIs report only usage now: a past period for them is a usage error, said before
    // any request (file vendors read whatever month was exported).
    if period != current {
        let live: Vec<&str> =
            vendor_configs.iter().filter(|v| v.kind.is_live()).map(|v| v.name.as_str()).collect();
        if !live.is_empty() {
            return Err(usage(format!(
                "{} report only current usage, so they cannot give usage for {period}; run them with \
                 --period current (or leave it out), and the file vendors with --vendor NAME --period {period}",
                live.join(", ")
            )));
        }
    }

    let account_mappings = store.account_mappings(None)?;
    // What recon itself last set each addition to: another quantity now was changed outside.
    let last_set = store.last_set_quantities()?;
    let service_mappings = store.service_mappings(None)?;

    // Read the PSA while the vendors answer: the additions of every agreement the
    // selected vendors map to are read at once. A vendor that then fails costs only those
    // reads; one vendor's failure never stops the others.
    let selected: BTreeSet<String> = vendors.iter().cloned().collect();
    let agreement_ids = reconcile::agreements_to_read(&account_mappings, &service_mappings, &selected);
    let mut product_ids: Vec<i64> =
        service_mappings.iter().filter(|s| selected.contains(&s.vendor)).map(|s| s.product_id).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let workers = config.http.workers;
    let (fetched, psa_read) = std::thread::scope(|scope| {
        let vendor_job = scope.spawn(|| {
            crate::workers::map(&vendor_configs, workers, |vc| vendors::fetch(vc, &http, period, current))
        });
        let psa_read = psa(&config, &http).map(|psa| {
            let since = period.first_day();
            let read = apply::read_additions(psa.as_ref(), &agreement_ids, since, ctx.apply_options(&config));
            // Billing terms move every month (the next invoice date, the posted periods):
            // read fresh, in a few paged requests; catalog prices of the mapped products
            // for new lines.
            let terms = psa.billing_terms(&agreement_ids, since);
            let catalog = psa.catalog_items(&product_ids);
            (psa, read, terms, catalog)
        });
        let fetched = vendor_job.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (fetched, psa_read)
    });
    let (psa, apply::AdditionsRead { lines: additions, failed: unread_agreements }, terms, catalog) =
        psa_read?;
    // Without an agreement's terms a new addition cannot be dated (reconcile skips it);
    // without a price its money is unknown. Neither stops the rest of the run.
    // Either failing makes the run a partial one (exit 1), so cron runs it again.
    let mut read_failures = Vec::new();
    let terms: BTreeMap<i64, BillingTerms> =
        or_failed(ctx, &mut read_failures, terms, "the agreements' billing terms (no addition is created)")
            .into_iter()
            .map(|t| (t.container_id, t))
            .collect();
    let catalog: BTreeMap<i64, CatalogProduct> =
        or_failed(ctx, &mut read_failures, catalog, "catalog prices (new additions show no money)")
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
    // An agreement whose additions could not be read: its lines are skipped by reconcile
    // (an add there could duplicate an addition recon did not see). The rest go on.
    for (id, e) in &unread_agreements {
        ctx.failure(&format!("reading the additions of agreement {id} failed: {e}; its lines are skipped"));
    }

    let mut snapshots = BTreeMap::new();
    let mut vendor_errors = BTreeMap::new();
    let mut failed_accounts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut vendor_notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (vc, result) in vendor_configs.iter().zip(fetched) {
        match result {
            Ok(snapshot) => {
                for note in &snapshot.notes {
                    ctx.warn(&format!("{}: {note}", vc.name));
                }
                if !snapshot.notes.is_empty() {
                    vendor_notes.insert(vc.name.clone(), snapshot.notes.clone());
                }
                let failed: Vec<String> =
                    snapshot.failed_accounts().iter().map(|p| wording::problem_text(p)).collect();
                for f in &failed {
                    ctx.failure(&format!("{}: {f}", vc.name));
                }
                if !failed.is_empty() {
                    failed_accounts.insert(vc.name.clone(), failed);
                }
                snapshots.insert(vc.name.clone(), snapshot);
            }
            Err(e) => {
                ctx.failure(&format!("{e}; nothing is planned for {}", vc.name));
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
        if let Some(problem) = policy::vendor_guard(&read, &config.sync.for_vendor(name), args.accept_drop) {
            ctx.failure(&format!("{name}: {problem}"));
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
    let counts = plan.counts();
    for w in &plan.warnings {
        // A failed account was already said as a failure, whatever -q says.
        if !matches!(w, crate::plan::Reason::AccountFailed { .. }) {
            ctx.warn(&wording::warning(w));
        }
    }
    if !ctx.json {
        if snapshots.is_empty() {
            crate::out!("No vendor could be read, so nothing was planned for {period}.");
        } else {
            crate::output::plan_table::print_plan(&plan, args.dry_run, args.all);
        }
    }

    // No push by accident: without a terminal nobody can answer the prompt, so a real sync
    // needs --yes (cron lines have it). The plan was printed; nothing is pushed or recorded.
    if !args.dry_run && !args.yes && !ctx.interactive {
        return Err(usage(
            "nothing was pushed: there is no terminal to confirm on; pass --yes to push without a prompt \
             (or --dry-run to only see the plan)",
        ));
    }
    let writes = plan.lines.iter().filter(|l| l.action.writes()).count();
    let push = !args.dry_run && writes > 0 && confirmed(args.yes, writes, psa.name())?;
    if push {
        apply::check_budget(psa.as_ref(), &plan.lines)?;
    }
    let run_id = store.start_run(ctx.now, RunKind::Sync, period, args.dry_run, &vendors)?;
    if !args.dry_run {
        for (run, settled) in apply::recover_interrupted(&mut store, run_id, &additions, ctx.now)? {
            ctx.warn(&format!(
                "run {run} was interrupted; settled {settled} of its changes against {}",
                psa.name()
            ));
        }
        // Only the held changes whose lines this run planned afresh, from vendors it fetched:
        // a sync of one vendor leaves another vendor's decisions waiting.
        let keep: Vec<i64> = repeats.iter().map(|(_, id)| *id).collect();
        let fetched: BTreeSet<&str> = snapshots.keys().map(String::as_str).collect();
        let gone = reconcile::superseded(
            &waiting.iter().map(|c| (c.id, &c.line)).collect::<Vec<_>>(),
            &plan,
            &fetched,
            &keep,
        );
        store.supersede_held(&gone, ctx.now)?;
    }
    let pushed = apply::push(
        psa.as_ref(),
        &mut store,
        run_id,
        &plan.lines,
        push,
        ctx.apply_options(&config),
        ctx.now,
    )?;
    if !args.dry_run {
        // A new proposal for a line whose earlier one was waiting: say which it replaces.
        for (index, line) in plan.lines.iter().enumerate() {
            if line.action != Action::Held || repeats.iter().any(|(i, _)| *i == index) {
                continue;
            }
            let replaced = waiting
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
                    ctx.now,
                )?;
            }
        }
        for (index, id) in &repeats {
            let note = format!("the same proposal is held as change {id}, which keeps its id");
            store.set_change_state(
                pushed.change_ids[*index],
                ChangeState::Repeat,
                None,
                Some(&note),
                ctx.now,
            )?;
        }
    }
    let applied = pushed.applied.len();
    let pushed_indexes = pushed.applied.clone();
    let failed: Vec<FailedWrite> = pushed
        .failed
        .into_iter()
        .map(|(index, error)| FailedWrite {
            company: plan.lines[index].company.clone(),
            product: plan.lines[index].product.clone(),
            error,
        })
        .collect();

    let account_failures: usize = failed_accounts.values().map(Vec::len).sum();
    let any_failure = !vendor_errors.is_empty()
        || !failed.is_empty()
        || account_failures > 0
        || !unread_agreements.is_empty()
        || !read_failures.is_empty();
    let result = RunResult::of(crate::plan::RunTally {
        dry_run: args.dry_run,
        failures: vendor_errors.len()
            + failed.len()
            + account_failures
            + unread_agreements.len()
            + read_failures.len(),
        vendors_read: snapshots.len(),
        applied,
        writes,
        pushed: push,
        held: counts.held,
    });
    let run_error = any_failure.then(|| {
        let mut what = vec![
            format!("{} vendor(s) failed", vendor_errors.len()),
            format!("{account_failures} account(s) failed"),
        ];
        if !unread_agreements.is_empty() {
            what.push(format!("{} agreement(s) could not be read", unread_agreements.len()));
        }
        what.extend(read_failures.iter().cloned());
        what.push(format!("{} write(s) failed", failed.len()));
        what.join(", ")
    });
    store.finish_run(run_id, chrono::Utc::now(), result, &counts, run_error.as_deref())?;
    let applied_lines: Vec<PlanLine> = pushed_indexes.iter().map(|&i| plan.lines[i].clone()).collect();
    let applied_totals = Plan { period, lines: applied_lines, warnings: Vec::new() }.totals();
    if !args.dry_run {
        let by_vendor = applied_totals.by_vendor.iter().map(|(v, n)| (v.clone(), n.0)).collect();
        store.set_applied_net(run_id, &by_vendor)?;
    }
    // What the run met besides its lines, for `history RUN`, the report and the notification.
    let exclusions = store.exclusions(None)?;
    let details = RunDetails {
        currencies: terms
            .values()
            .filter_map(|t| t.currency.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        failed_vendors: vendor_errors.clone(),
        failed_accounts: failed_accounts.clone(),
        read_failures: unread_agreements
            .iter()
            .map(|(id, e)| format!("reading the additions of agreement {id} failed: {e}"))
            .chain(read_failures.iter().cloned())
            .collect(),
        warnings: plan.warnings.clone(),
        unmapped: snapshots
            .iter()
            .flat_map(|(name, s)| {
                crate::matching::unmapped_accounts(name, &s.accounts, &account_mappings, &exclusions)
            })
            .collect(),
        excluded: exclusions.into_iter().filter(|e| selected.contains(&e.vendor)).collect(),
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
    for vendor in &vendors {
        let error = vendor_errors.get(vendor).map(String::as_str);
        if !args.dry_run || error.is_some() {
            let outcome = if error.is_some() { RunResult::Failed } else { result };
            store.record_sync(vendor, ctx.now, outcome.as_str(), error)?;
        }
        if reconcile::baseline_moves(args.dry_run, error.is_some(), push, writes)
            && let Some(snapshot) = snapshots.get(vendor)
        {
            store.record_usage(vendor, &snapshot.usage)?;
        }
    }

    // A dry run is never notified: nothing happened yet that needs a person.
    let notify = if args.dry_run { None } else { config.notify.as_ref() };
    let after = super::report::after_run(ctx, &config, notify, &mut store, run_id, args.report.as_deref())?;

    if ctx.json {
        crate::output::print_json(&SyncReport {
            report: after.page.as_ref().map(|p| p.display().to_string()),
            run_id,
            dry_run: args.dry_run,
            pushed: push,
            plan: PlanJson::new(&plan),
            counts,
            vendor_errors: vendor_errors.clone(),
            failed_accounts,
            vendor_notes,
            unread_agreements: unread_agreements
                .iter()
                .map(|(id, e)| UnreadAgreement { id: *id, error: e.clone() })
                .collect(),
            applied,
            failed,
        })?;
    } else {
        if push {
            crate::out!("Applied {applied} of {writes} changes (run {run_id}).");
            crate::out!(
                "{}",
                crate::output::wrapped(&format!("Pushed: {}", wording::totals_line(&applied_totals)), 0)
            );
        } else if !args.dry_run && writes > 0 {
            crate::out!("Nothing pushed (run {run_id}).");
        } else if args.dry_run {
            crate::out!("Dry run: nothing was written to {} (run {run_id}).", psa.name());
        }
        for f in &failed {
            eprintln!("recon: failed: {} {}: {}", f.company, f.product.as_deref().unwrap_or(""), f.error);
        }
        if counts.held > 0 {
            if args.dry_run {
                crate::out!("{} changes would be held for review by the [sync] policy.", counts.held);
            } else {
                crate::out!("{} changes are held for review: see `recon review`.", counts.held);
            }
        }
        if let Some(page) = &after.page {
            crate::out!("Wrote the report of run {run_id} to {}.", page.display());
        }
    }
    if after.page_failed && result.exit_code() == super::EXIT_OK {
        return Ok(super::EXIT_RUN_ERROR);
    }
    Ok(result.exit_code())
}

/// A read's records, or none when it failed: the failure is said (even with -q) and kept.
fn or_failed<T>(
    ctx: &Context,
    failures: &mut Vec<String>,
    result: Result<Vec<T>, crate::psa::PsaError>,
    what: &str,
) -> Vec<T> {
    result.unwrap_or_else(|e| {
        let problem = format!("reading {what} failed: {e}");
        ctx.failure(&problem);
        failures.push(problem);
        Vec::new()
    })
}

/// `--vendor` names, or every connected vendor in the config.
fn selected_vendors(
    ctx: &Context,
    config: &crate::config::Config,
    store: &crate::store::Store,
    given: &[String],
) -> anyhow::Result<Vec<String>> {
    let records = store.vendors()?;
    let connected: BTreeSet<String> =
        records.iter().filter(|v| v.status != VendorStatus::Inactive).map(|v| v.name.clone()).collect();
    if !given.is_empty() {
        let mut out = Vec::new();
        for name in given {
            vendor_config(config, name)?;
            if !connected.contains(name) {
                return Err(usage(format!("{name} is not connected; run `recon connect {name}` first")));
            }
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    for name in &connected {
        if config.vendor(name).is_some() {
            out.push(name.clone());
        } else {
            ctx.warn(&format!("{name} is connected but no longer in the config; skipped"));
        }
    }
    if out.is_empty() {
        return Err(usage("no vendor is connected; run `recon connect <vendor>` first"));
    }
    Ok(out)
}

fn confirmed(yes: bool, writes: usize, psa: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    super::ask(&format!("Push {writes} changes to {psa}?"))
}
