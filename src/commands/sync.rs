//! `recon sync`: the plan (`ops::sync::plan`: every vendor's usage and the PSA's lines,
//! guarded, reconciled, decided), printed, and unless --dry-run confirmed and pushed,
//! recording everything.

use super::{Context, usage, vendor_config};
use crate::apply;
use crate::cli::SyncArgs;
use crate::model::VendorStatus;
use crate::output::wording::{self, PlanJson};
use crate::period::Period;
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
    /// Accounts with usage that are neither mapped nor excluded: nobody bills it.
    unmapped_with_usage: &'a [crate::matching::UnbilledAccount],
    applied: usize,
    failed: Vec<crate::ops::sync::FailedWrite>,
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
    // Live APIs report only usage now: a past period for them is a usage error, said before
    // any request (file vendors read whatever month was exported; the distributors read
    // what they invoiced for it).
    if period != current {
        let live: Vec<&str> = vendor_configs
            .iter()
            .filter(|v| v.kind.is_live() && !v.kind.answers_months())
            .map(|v| v.name.as_str())
            .collect();
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
    let planned = crate::ops::sync::plan(
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
    crate::ops::sync::record_documents(&mut store, &planned, period, ctx.now)?;
    let crate::ops::sync::Planned {
        psa,
        plan,
        snapshots,
        vendor_errors,
        failed_accounts,
        vendor_notes,
        unread_agreements,
        unbilled,
        ..
    } = &planned;
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
            crate::output::plan_table::print_plan(plan, args.dry_run, args.all);
        }
        if !unbilled.is_empty() {
            crate::out!("{}", crate::output::wrapped(&wording::unbilled_line(unbilled), 0));
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
        apply::check_budget(psa.as_ref(), &plan.lines)?;
    }
    let crate::ops::sync::Pushed { run_id, applied, failed, result, applied_totals } =
        crate::ops::sync::push(
            &planned,
            &mut store,
            &http,
            &vendors,
            period,
            args.dry_run,
            push,
            ctx.now,
            ctx.apply_options(&config),
            &notices,
        )?;

    // A dry run is never notified: nothing happened yet that needs a person.
    let notify = if args.dry_run { None } else { config.notify.as_ref() };
    let after = super::report::after_run(ctx, &config, notify, &mut store, run_id, args.report.as_deref())?;

    if ctx.json {
        crate::output::print_json(&SyncReport {
            report: after.page.as_ref().map(|p| p.display().to_string()),
            run_id,
            dry_run: args.dry_run,
            pushed: push,
            plan: PlanJson::new(plan),
            counts,
            vendor_errors: vendor_errors.clone(),
            failed_accounts: failed_accounts.clone(),
            vendor_notes: vendor_notes.clone(),
            unread_agreements: unread_agreements
                .iter()
                .map(|(id, e)| UnreadAgreement { id: *id, error: e.clone() })
                .collect(),
            unmapped_with_usage: unbilled,
            applied,
            failed,
        })?;
    } else {
        if push {
            crate::out!("Applied {applied} of {} (run {run_id}).", wording::plural(writes, "change"));
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
                crate::out!(
                    "{} would be held for review by the [sync] policy.",
                    wording::plural(counts.held, "change")
                );
            } else {
                crate::out!("{} held for review: see `recon review`.", held_are(counts.held));
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

/// "1 change is" / "3 changes are".
fn held_are(n: usize) -> String {
    format!("{} {}", wording::plural(n, "change"), if n == 1 { "is" } else { "are" })
}
