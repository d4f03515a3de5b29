//! The last stages: `push` (start the run, supersede the held changes this plan replaced,
//! write when asked, note what each held change replaces) and `record` (how the run ended,
//! what it met, each vendor's sync and, when `reconcile::baseline_moves` says so, its usage
//! for the outage guard).

use super::Planned;
use crate::apply;
use crate::http::Http;
use crate::ops::Reporter;
use crate::output::wording::{self, plural};
use crate::period::Period;
use crate::plan::{
    Action, ChangeState, MoneyTotals, Plan, PlanCounts, PlanLine, RunDetails, RunKind, RunResult, RunTally,
    format_quantity,
};
use crate::reconcile;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// How the plan is pushed.
pub struct PushRequest<'a> {
    /// The vendors the run is for, as the command selected them.
    pub vendors: &'a [String],
    pub period: Period,
    pub dry_run: bool,
    /// Write the plan's changes (a real run whose push was confirmed).
    pub push: bool,
    pub now: DateTime<Utc>,
    pub options: apply::Options,
}

/// A write of the plan that failed, with what the PSA answered.
#[derive(Debug, serde::Serialize)]
pub struct FailedWrite {
    pub company: String,
    pub product: Option<String>,
    pub error: String,
}

/// The stage after `push`: the run started, and what its writes did.
pub struct Pushed {
    pub run_id: i64,
    /// The indexes of the plan's lines written.
    pub applied: Vec<usize>,
    pub failed: Vec<FailedWrite>,
    /// By index, the lines written on another date than planned, as written.
    pub redated: BTreeMap<usize, PlanLine>,
}

/// How the run ended, as the command reports it.
pub struct Outcome {
    pub run_id: i64,
    pub applied: usize,
    pub failed: Vec<FailedWrite>,
    pub result: RunResult,
    /// What the applied writes moved a month.
    pub applied_totals: MoneyTotals,
}

/// Start the run, supersede the held changes this plan replaced, record every line and
/// write them when `request.push`, and note on each held change what it replaces.
pub fn push(
    p: &Planned,
    store: &mut Store,
    request: &PushRequest,
    reporter: &dyn Reporter,
) -> anyhow::Result<Pushed> {
    let (dry_run, now) = (request.dry_run, request.now);
    let run_id = store.start_run(now, RunKind::Sync, request.period, dry_run, request.vendors)?;
    if !dry_run {
        // Only the held changes whose lines this run planned afresh, from vendors it
        // fetched: a sync of one vendor leaves another vendor's decisions waiting.
        let keep: Vec<i64> = p.decisions.repeats.iter().map(|(_, id)| *id).collect();
        let fetched: BTreeSet<&str> = p.vendors.snapshots.keys().map(String::as_str).collect();
        let waiting: Vec<_> = p.decisions.waiting.iter().map(|c| (c.id, &c.line)).collect();
        let gone = reconcile::superseded(&waiting, &p.plan, &fetched, &keep);
        store.supersede_held(&gone, now)?;
    }
    let psa = p.psa.psa.as_ref();
    let written = apply::push(psa, store, run_id, &p.plan.lines, request.push, request.options, now)?;
    if !dry_run {
        note_replaced(p, store, &written.change_ids, now)?;
    }
    let redated: BTreeMap<usize, PlanLine> = written.redated.into_iter().collect();
    for (index, line) in &redated {
        let day = |l: &PlanLine| l.effective_date.map_or_else(String::new, |d| d.to_string());
        reporter.warn(&format!(
            "{}, {}: its period was posted during the run; dated {} instead of {}",
            line.company,
            line.product.as_deref().unwrap_or("-"),
            day(line),
            day(&p.plan.lines[*index])
        ));
    }
    let failed = written
        .failed
        .into_iter()
        .map(|(index, error)| FailedWrite {
            company: p.plan.lines[index].company.clone(),
            product: p.plan.lines[index].product.clone(),
            error,
        })
        .collect();
    Ok(Pushed { run_id, applied: written.applied, failed, redated })
}

/// A new proposal for a line whose earlier one was waiting says which it replaces; the same
/// proposal held again is a repeat of the one that keeps its id.
fn note_replaced(
    p: &Planned,
    store: &mut Store,
    change_ids: &[i64],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let repeats = &p.decisions.repeats;
    for (index, line) in p.plan.lines.iter().enumerate() {
        if line.action != Action::Held || repeats.iter().any(|(i, _)| *i == index) {
            continue;
        }
        let replaced = p
            .decisions
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
            store.set_change_state(change_ids[index], ChangeState::Waiting, None, Some(&note), now)?;
        }
    }
    for (index, id) in repeats {
        let note = format!("the same proposal is held as change {id}, which keeps its id");
        store.set_change_state(change_ids[*index], ChangeState::Repeat, None, Some(&note), now)?;
    }
    Ok(())
}

/// Finish the run with how it ended and what it met (for `history RUN`, the report and the
/// notification), and record each vendor's sync and, when it moves, its usage baseline.
pub fn record(
    p: &Planned,
    pushed: Pushed,
    store: &mut Store,
    http: &Http,
    request: &PushRequest,
) -> anyhow::Result<Outcome> {
    let Pushed { run_id, applied, failed, redated } = pushed;
    let counts = p.plan.counts();
    let writes = counts.writes();
    let (result, run_error) = how_it_ended(p, &failed, applied.len(), &counts, request);
    store.finish_run(run_id, Utc::now(), result, &counts, run_error.as_deref())?;
    let applied_lines: Vec<PlanLine> =
        applied.iter().map(|&i| redated.get(&i).unwrap_or(&p.plan.lines[i]).clone()).collect();
    let applied_totals = Plan { period: request.period, lines: applied_lines, warnings: Vec::new() }.totals();
    if !request.dry_run {
        let by_vendor = applied_totals.by_vendor.iter().map(|(v, n)| (v.clone(), n.0)).collect();
        store.set_applied_net(run_id, &by_vendor)?;
    }
    store.set_run_details(run_id, &details(p, http))?;
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
    for vendor in request.vendors {
        let error = p.vendors.errors.get(vendor).map(String::as_str);
        if !request.dry_run || error.is_some() {
            let outcome = if error.is_some() { RunResult::Failed } else { result };
            store.record_sync(vendor, request.now, outcome.as_str(), error)?;
        }
        if reconcile::baseline_moves(request.dry_run, error.is_some(), request.push, writes)
            && let Some(snapshot) = p.vendors.snapshots.get(vendor)
        {
            store.record_usage(vendor, &snapshot.usage)?;
        }
    }
    Ok(Outcome { run_id, applied: applied.len(), failed, result, applied_totals })
}

/// The run's result, and when anything failed, what did ("1 vendor failed, 0 accounts
/// failed, 2 writes failed").
fn how_it_ended(
    p: &Planned,
    failed: &[FailedWrite],
    applied: usize,
    counts: &PlanCounts,
    request: &PushRequest,
) -> (RunResult, Option<String>) {
    let vendor_errors = p.vendors.errors.len();
    let account_failures: usize = p.vendors.failed_accounts.values().map(Vec::len).sum();
    let (unread, read_failures) = (p.psa.unread_agreements.len(), &p.psa.failures);
    let failures = vendor_errors + failed.len() + account_failures + unread + read_failures.len();
    let result = RunResult::of(RunTally {
        dry_run: request.dry_run,
        failures,
        vendors_read: p.vendors.snapshots.len(),
        applied,
        writes: counts.writes(),
        pushed: request.push,
        held: counts.held,
    });
    let run_error = (failures > 0).then(|| {
        let mut what = vec![
            format!("{} failed", plural(vendor_errors, "vendor")),
            format!("{} failed", plural(account_failures, "account")),
        ];
        if unread > 0 {
            what.push(format!("{} could not be read", plural(unread, p.psa.psa.container_word())));
        }
        what.extend(read_failures.iter().cloned());
        what.push(format!("{} failed", plural(failed.len(), "write")));
        what.join(", ")
    });
    (result, run_error)
}

/// What the run met besides its lines.
fn details(p: &Planned, http: &Http) -> RunDetails {
    let words = p.psa.psa.profile();
    RunDetails {
        currencies: p
            .psa
            .terms
            .values()
            .filter_map(|t| t.currency.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        failed_vendors: p.vendors.errors.clone(),
        failed_accounts: p.vendors.failed_accounts.clone(),
        read_failures: p
            .psa
            .unread_agreements
            .iter()
            .map(|(id, e)| super::gather::unread_agreement(words, *id, e))
            .chain(p.psa.failures.iter().cloned())
            .collect(),
        warnings: p.plan.warnings.clone(),
        unmapped: p.unmapped.accounts.clone(),
        excluded: p
            .unmapped
            .exclusions
            .iter()
            .filter(|e| p.vendors.selected.contains(&e.vendor))
            .cloned()
            .collect(),
        notices: Vec::new(),
        rates: http.rates(),
    }
}
