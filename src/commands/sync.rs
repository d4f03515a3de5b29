//! `recon sync`: the plan (`ops::sync::plan`: every vendor's usage and the PSA's lines,
//! guarded, reconciled, decided), printed, and unless --dry-run confirmed, pushed and
//! recorded (`ops::sync::push`, `record`).

use super::{Context, usage, vendor_config};
use crate::apply;
use crate::cli::SyncArgs;
use crate::model::VendorStatus;
use crate::ops::sync as ops;
use crate::output::wording::{self, PlanJson};
use crate::period::Period;
use crate::vendors::VendorConfig;
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
    vendor_errors: &'a BTreeMap<String, String>,
    /// Vendor -> each account that failed in this run, described.
    failed_accounts: &'a BTreeMap<String, Vec<String>>,
    /// Vendor -> what was read but changes no quantity (a record listed twice, free seats).
    vendor_notes: &'a BTreeMap<String, Vec<String>>,
    /// Agreements whose additions could not be read: their lines were skipped.
    unread_agreements: Vec<UnreadAgreement>,
    /// Accounts with usage that are neither mapped nor excluded: nobody bills it.
    unmapped_with_usage: &'a [crate::matching::UnbilledAccount],
    applied: usize,
    failed: &'a [ops::FailedWrite],
    /// The report page written (`--report`), or null.
    report: Option<String>,
}

#[derive(Serialize)]
struct UnreadAgreement {
    id: i64,
    error: String,
}

pub fn run(ctx: &Context, args: &SyncArgs) -> anyhow::Result<u8> {
    let period = Period::to_bill(&args.period, ctx.today(), args.allow_old_period)
        .map_err(|e| usage(e.to_string()))?;
    let current = Period::containing(ctx.today());
    if let Some(path) = &args.report {
        super::report::check_page_path("--report", path)?;
    }
    let config = ctx.config()?;
    let (mut store, _lock) = ctx.locked_store(&config, "sync")?;
    let http = ctx.http(&config)?;
    if !args.dry_run && !store.unfinished_runs()?.is_empty() {
        super::settle_interrupted(ctx, &config, &mut store, super::psa(&config, &http)?.as_ref())?;
    }

    let vendors = selected_vendors(ctx, &config, &store, &args.vendors)?;
    let vendor_configs: Vec<_> =
        vendors.iter().map(|v| vendor_config(&config, v)).collect::<anyhow::Result<Vec<_>>>()?;
    check_period(period, current, &vendor_configs)?;

    let request = ops::Request {
        config: &config,
        vendors: &vendor_configs,
        period,
        current,
        accept_drop: args.accept_drop,
        options: ctx.apply_options(&config),
    };
    let planned = ops::plan(&request, &store, &http, ctx)?;
    ops::record_documents(&mut store, &planned, period, ctx.now)?;
    print_plan(ctx, args, &planned);

    // No push by accident: without a terminal nobody can answer the prompt, so a real sync
    // needs --yes (cron lines have it). The plan was printed; nothing is pushed or recorded.
    if !args.dry_run && !args.yes && !ctx.interactive {
        return Err(usage(
            "nothing was pushed: there is no terminal to confirm on; pass --yes to push without a prompt \
             (or --dry-run to only see the plan)",
        ));
    }
    let psa = planned.psa.psa.as_ref();
    let writes = planned.plan.counts().writes();
    let changes = wording::plural(writes, "change");
    let push = !args.dry_run
        && writes > 0
        && super::confirm(
            ctx,
            args.yes,
            &format!("pushing {changes}"),
            &format!("Push {changes} to {}?", psa.name()),
        )?;
    if push {
        apply::check_budget(psa, &planned.plan.lines)?;
    }
    let push_request = ops::PushRequest {
        vendors: &vendors,
        period,
        dry_run: args.dry_run,
        push,
        now: ctx.now,
        options: ctx.apply_options(&config),
    };
    let pushed = ops::push(&planned, &mut store, &push_request, ctx)?;
    let outcome = ops::record(&planned, pushed, &mut store, &http, &push_request)?;

    // A dry run is never notified: nothing happened yet that needs a person.
    let notify = if args.dry_run { None } else { config.notify.as_ref() };
    let after =
        super::report::after_run(ctx, &config, notify, &mut store, outcome.run_id, args.report.as_deref())?;
    if ctx.json {
        print_json(args, &planned, &outcome, push, after.page.as_deref())?;
    } else {
        print_outcome(args, &planned, &outcome, push, after.page.as_deref());
    }
    if after.page_failed && outcome.result.exit_code() == super::EXIT_OK {
        return Ok(super::EXIT_RUN_ERROR);
    }
    Ok(outcome.result.exit_code())
}

/// Live APIs report only usage now: a past period for them is a usage error, said before
/// any request (file vendors read whatever month was exported; the distributors read what
/// they invoiced for it).
fn check_period(period: Period, current: Period, vendors: &[&VendorConfig]) -> anyhow::Result<()> {
    if period == current {
        return Ok(());
    }
    let live: Vec<&str> = vendors
        .iter()
        .filter(|v| v.kind.is_live() && !v.kind.answers_months())
        .map(|v| v.name.as_str())
        .collect();
    if live.is_empty() {
        return Ok(());
    }
    Err(usage(format!(
        "{} report only current usage, so they cannot give usage for {period}; run them with \
         --period current (or leave it out), and the file vendors with --vendor NAME --period {period}",
        live.join(", ")
    )))
}

/// The plan's warnings on stderr, and unless --json the plan and the usage nobody bills.
fn print_plan(ctx: &Context, args: &SyncArgs, planned: &ops::Planned) {
    let plan = &planned.plan;
    let words = wording::Wording(planned.psa.psa.profile());
    for w in &plan.warnings {
        // A failed account was already said as a failure, whatever -q says.
        if !matches!(w, crate::plan::Reason::AccountFailed { .. }) {
            ctx.warn(&wording::warning(words, w));
        }
    }
    if ctx.json {
        return;
    }
    if planned.vendors.snapshots.is_empty() {
        crate::out!("No vendor could be read, so nothing was planned for {}.", plan.period);
    } else {
        crate::output::plan_table::print_plan(plan, args.dry_run, args.all, words);
    }
    if !planned.unmapped.unbilled.is_empty() {
        crate::out!("{}", crate::output::wrapped(&wording::unbilled_line(&planned.unmapped.unbilled), 0));
    }
}

/// The run as JSON: the plan, what was pushed and what failed.
fn print_json(
    args: &SyncArgs,
    planned: &ops::Planned,
    outcome: &ops::Outcome,
    push: bool,
    page: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let (vendors, psa) = (&planned.vendors, &planned.psa);
    crate::output::print_json(&SyncReport {
        report: page.map(|p| p.display().to_string()),
        run_id: outcome.run_id,
        dry_run: args.dry_run,
        pushed: push,
        plan: PlanJson::new(&planned.plan, wording::Wording(psa.psa.profile())),
        counts: planned.plan.counts(),
        vendor_errors: &vendors.errors,
        failed_accounts: &vendors.failed_accounts,
        vendor_notes: &vendors.notes,
        unread_agreements: psa
            .unread_agreements
            .iter()
            .map(|(id, e)| UnreadAgreement { id: *id, error: e.clone() })
            .collect(),
        unmapped_with_usage: &planned.unmapped.unbilled,
        applied: outcome.applied,
        failed: &outcome.failed,
    })
}

/// The run's end in words: what was applied or why nothing was, each failed write, what
/// waits for review, and the page written.
fn print_outcome(
    args: &SyncArgs,
    planned: &ops::Planned,
    outcome: &ops::Outcome,
    push: bool,
    page: Option<&std::path::Path>,
) {
    let run_id = outcome.run_id;
    let counts = planned.plan.counts();
    let writes = counts.writes();
    if push {
        crate::out!("Applied {} of {} (run {run_id}).", outcome.applied, wording::plural(writes, "change"));
        let pushed = format!("Pushed: {}", wording::totals_line(&outcome.applied_totals));
        crate::out!("{}", crate::output::wrapped(&pushed, 0));
    } else if !args.dry_run && writes > 0 {
        crate::out!("Nothing pushed (run {run_id}).");
    } else if args.dry_run {
        crate::out!("Dry run: nothing was written to {} (run {run_id}).", planned.psa.psa.name());
    }
    for f in &outcome.failed {
        eprintln!("recon: failed: {} {}: {}", f.company, f.product.as_deref().unwrap_or(""), f.error);
    }
    if counts.held > 0 {
        if args.dry_run {
            crate::out!(
                "{} would be held for review by the [sync] policy.",
                wording::plural(counts.held, "change")
            );
        } else {
            crate::out!("{} held for review: see `recon review`.", held_are(counts.held));
        }
    }
    if let Some(page) = page {
        crate::out!("Wrote the report of run {run_id} to {}.", page.display());
    }
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

/// "1 change is" / "3 changes are".
fn held_are(n: usize) -> String {
    format!("{} {}", wording::plural(n, "change"), if n == 1 { "is" } else { "are" })
}
