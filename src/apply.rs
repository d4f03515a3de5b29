//! The one write path that sync, approve and undo share: read the agreements' additions,
//! settle runs a killed process left unfinished, record every line of a run as its intent,
//! write each writing line, settle a write whose answer was lost by reading the agreement
//! again (never by sending it twice), and record each outcome the moment it is known.
//!
//! What is written comes from the plan line itself (its quantity, effective date and bill
//! setting), so what `sync --dry-run --json` shows is exactly what is sent.

use crate::connectwise::{ConnectWise, CwError, NewAddition};
use crate::model::{BillCustomer, BillingLine};
use crate::plan::{ChangeState, PlanLine, RunResult, Write};
use crate::reconcile::holding_addition;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The additions of every agreement that could be read, and the error of each that could
/// not (after its retries), by agreement id.
pub struct AdditionsRead {
    pub additions: BTreeMap<i64, Vec<BillingLine>>,
    pub failed: Vec<(i64, String)>,
}

/// How the writes are spread and shown.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub workers: usize,
    /// A progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// One additions read per agreement, spread over the workers.
pub fn read_additions(cw: &ConnectWise, agreement_ids: &[i64], options: Options) -> AdditionsRead {
    let bar = crate::output::progress(options.progress, agreement_ids.len(), "reading agreement additions");
    let mut additions = BTreeMap::new();
    let mut failed = Vec::new();
    crate::workers::for_each(
        agreement_ids,
        options.workers,
        |id| cw.additions(*id),
        |i, result| {
            bar.inc(1);
            match result {
                Ok(list) => {
                    additions.insert(agreement_ids[i], list);
                }
                Err(e) => failed.push((agreement_ids[i], e.to_string())),
            }
        },
    );
    bar.finish_and_clear();
    failed.sort();
    AdditionsRead { additions, failed }
}

/// The current additions of every agreement `lines` touch, or an error if one cannot be
/// read: approve and undo re-check each line against them before writing.
pub fn read_additions_of(
    cw: &ConnectWise,
    lines: &[&PlanLine],
    options: Options,
) -> anyhow::Result<BTreeMap<i64, Vec<BillingLine>>> {
    let mut agreements: Vec<i64> = lines.iter().filter_map(|l| l.agreement_id).collect();
    agreements.sort_unstable();
    agreements.dedup();
    let read = read_additions(cw, &agreements, options);
    if let Some((id, e)) = read.failed.into_iter().next() {
        anyhow::bail!("reading the additions of agreement {id}: {e}; nothing was pushed");
    }
    Ok(read.additions)
}

/// A run a killed process never finished left changes in `planned`. Settle them against the
/// additions just read: what ConnectWise shows was applied, the rest failed (and `run_id`
/// plans it again). Returns, per settled run, how many of its changes were settled.
pub fn recover_interrupted(
    store: &mut Store,
    run_id: i64,
    additions: &BTreeMap<i64, Vec<BillingLine>>,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, usize)>, StoreError> {
    let mut settled_runs = Vec::new();
    for run in store.unfinished_runs(run_id)? {
        let mut settled = 0;
        for change in store.changes(run.id)? {
            if change.state != ChangeState::Planned || !change.line.action.writes() {
                continue;
            }
            let current = change.line.agreement_id.and_then(|a| additions.get(&a));
            match current.and_then(|list| holding_addition(&change.line, list)) {
                Some(id) => store.set_change_state(change.id, ChangeState::Applied, Some(id), None, now)?,
                None => store.set_change_state(
                    change.id,
                    ChangeState::Failed,
                    None,
                    Some(&format!(
                        "interrupted before its outcome was recorded; run {run_id} planned it again"
                    )),
                    now,
                )?,
            }
            settled += 1;
        }
        let counts = run.counts.unwrap_or_default();
        store.finish_run(
            run.id,
            now,
            RunResult::Interrupted,
            &counts,
            Some("the process stopped before the run finished"),
        )?;
        settled_runs.push((run.id, settled));
    }
    Ok(settled_runs)
}

/// What a push did: the ledger id of every line, and by index into the lines the writes
/// that were applied and those that failed (with why).
#[derive(Debug, Default)]
pub struct Pushed {
    pub change_ids: Vec<i64>,
    pub applied: Vec<usize>,
    pub failed: Vec<(usize, String)>,
}

/// Record every line of run `run_id` (the intent), then, when `write`, apply each writing
/// line (`add`, `update`), recording each outcome as it arrives, so a crash loses at most
/// the writes in flight, which the next sync settles against ConnectWise.
pub fn push(
    cw: &ConnectWise,
    store: &mut Store,
    run_id: i64,
    lines: &[PlanLine],
    write: bool,
    options: Options,
    now: DateTime<Utc>,
) -> anyhow::Result<Pushed> {
    let change_ids = store.record_lines(run_id, lines, ChangeState::Planned, now)?;
    let mut pushed = Pushed { change_ids, ..Pushed::default() };
    if !write {
        return Ok(pushed);
    }
    let writes: Vec<(usize, &PlanLine)> =
        lines.iter().enumerate().filter(|(_, l)| l.action.writes()).collect();
    let bar = crate::output::progress(options.progress, writes.len(), "writing to ConnectWise");
    let mut ledger_error = None;
    crate::workers::for_each(
        &writes,
        options.workers,
        |(_, line)| apply_line(cw, line),
        |i, outcome| {
            bar.inc(1);
            let index = writes[i].0;
            let id = pushed.change_ids[index];
            let now = Utc::now();
            let recorded = match outcome {
                Outcome::Applied { addition_id } => {
                    pushed.applied.push(index);
                    store.set_change_state(id, ChangeState::Applied, Some(addition_id), None, now)
                }
                Outcome::Failed { error } => {
                    let recorded = store.set_change_state(
                        id,
                        ChangeState::Failed,
                        lines[index].addition_id,
                        Some(&error),
                        now,
                    );
                    pushed.failed.push((index, error));
                    recorded
                }
            };
            if let Err(e) = recorded {
                ledger_error.get_or_insert(e);
            }
        },
    );
    bar.finish_and_clear();
    pushed.applied.sort_unstable();
    pushed.failed.sort();
    match ledger_error {
        Some(e) => Err(anyhow::Error::new(e).context("recording an outcome in the ledger")),
        None => Ok(pushed),
    }
}

#[derive(Debug)]
enum Outcome {
    Applied { addition_id: i64 },
    Failed { error: String },
}

fn apply_line(cw: &ConnectWise, line: &PlanLine) -> Outcome {
    let (Some(agreement_id), Some(product_id), Some(quantity)) =
        (line.agreement_id, line.product_id, line.after)
    else {
        return Outcome::Failed { error: "line lacks an agreement, product or quantity".to_string() };
    };
    let result = match (line.action.write(), line.addition_id, line.effective_date) {
        (Some(Write::Set), Some(addition_id), _) => cw.set_quantity(agreement_id, addition_id, quantity),
        (Some(Write::Create), _, Some(effective_date)) => {
            let new = NewAddition {
                product_id,
                quantity,
                bill_customer: line.bill_customer.unwrap_or(BillCustomer::Billable),
                effective_date,
            };
            cw.create_addition(agreement_id, &new)
        }
        _ => {
            return Outcome::Failed {
                error: format!("nothing to apply for a {} line", line.action.as_str()),
            };
        }
    };
    match result {
        Ok(a) => Outcome::Applied { addition_id: a.id },
        Err(e) => settle_lost_write(cw, agreement_id, line, e),
    }
}

/// A write whose answer was lost (timeout, reset, cut-off body, a gateway's 5xx) may still
/// have happened. Look at the agreement again: if it holds the write, it was applied;
/// otherwise it failed and the next run plans it again. Never send the write twice. A 4xx
/// is ConnectWise refusing: nothing happened, so there is nothing to look up.
fn settle_lost_write(cw: &ConnectWise, agreement_id: i64, line: &PlanLine, error: CwError) -> Outcome {
    let refused = matches!(&error, CwError::Permission { .. })
        || matches!(&error, CwError::Http(e) if e.status().is_some_and(|s| (400..500).contains(&s)));
    if !refused
        && let Ok(additions) = cw.additions(agreement_id)
        && let Some(addition_id) = holding_addition(line, &additions)
    {
        return Outcome::Applied { addition_id };
    }
    Outcome::Failed { error: error.to_string() }
}
