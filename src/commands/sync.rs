//! `recon sync`: the plan (`ops::sync::plan`: every vendor's usage and the PSA's lines,
//! guarded, reconciled, decided), printed, and unless --dry-run confirmed and pushed,
//! recording everything.

use super::{Context, usage, vendor_config};
use crate::apply;
use crate::cli::SyncArgs;
use crate::model::VendorStatus;
use crate::output::wording::{self, PlanJson};
use crate::period::Period;
use crate::plan::{Action, ChangeState, Plan, PlanLine, RunDetails, RunKind, RunResult, format_quantity};
use crate::reconcile;
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

    let warn = |m: &str| ctx.warn(m);
    let failure = |m: &str| ctx.failure(m);
    let notices = crate::ops::sync::Notices { warn: &warn, failure: &failure };
    let crate::ops::sync::Planned {
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
    } = crate::ops::sync::plan(
        &config,
        &store,
        &http,
        &vendor_configs,
        period,
        current,
        args.accept_drop,
        ctx.apply_options(&config),
        &notices,
    )?;
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
