//! The one write path that sync, approve and undo share: read the agreements' additions,
//! settle runs a killed process left unfinished, record every line of a run as its intent,
//! write each writing line, settle a write whose answer was lost by reading the agreement
//! again (never by sending it twice), and record each outcome the moment it is known.
//!
//! What is written comes from the plan line itself (its quantity, effective date and bill
//! setting), so what `sync --dry-run --json` shows is exactly what is sent.

use crate::model::BillingLine;
use crate::plan::{ChangeState, PlanLine, RunResult};
use crate::psa::{Psa, PsaError};

pub use crate::psa::LinesRead as AdditionsRead;
use crate::reconcile::holding_addition;
use crate::store::{Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

/// How the writes are spread and shown.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub workers: usize,
    /// A progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// Sends of one repeatable write at most (`[http] max_attempts`).
    pub max_attempts: u32,
}

/// The billing lines of every container, read as the PSA reads best (`Psa::read_lines`);
/// dated lines with their units from `since` on.
pub fn read_additions(
    psa: &dyn Psa,
    agreement_ids: &[i64],
    since: NaiveDate,
    options: Options,
) -> AdditionsRead {
    let bar = crate::output::progress(options.progress, agreement_ids.len(), "reading billing lines");
    let read = psa.read_lines(agreement_ids, since, options.workers, &|n| bar.inc(n));
    bar.finish_and_clear();
    read
}

/// The current lines of every container `lines` touch, or an error if one cannot be read:
/// approve and undo re-check each line against them before writing. Dated lines are read
/// from the earliest of `since` and the lines' own dates.
pub fn read_additions_of(
    psa: &dyn Psa,
    lines: &[&PlanLine],
    since: NaiveDate,
    options: Options,
) -> anyhow::Result<BTreeMap<i64, Vec<BillingLine>>> {
    let mut agreements: Vec<i64> = lines.iter().filter_map(|l| l.agreement_id).collect();
    agreements.sort_unstable();
    agreements.dedup();
    let since = lines.iter().filter_map(|l| l.effective_date).chain([since]).min().unwrap_or(since);
    let read = read_additions(psa, &agreements, since, options);
    if let Some((id, e)) = read.failed.into_iter().next() {
        anyhow::bail!("reading the lines of {} {id}: {e}; nothing was pushed", psa.container_word());
    }
    Ok(read.lines)
}

/// A run a killed process never finished left changes in `planned`. Settle them against the
/// lines just read: what the PSA shows was applied, the rest failed (and `run_id`
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

/// Refuse a push the PSA's remaining hourly budget cannot finish (Autotask: the database's
/// 10,000 requests an hour are shared, and at the limit every integration is blocked). A
/// push needs a request per write, and one more per add to read the new line's id.
pub fn check_budget(psa: &dyn Psa, lines: &[PlanLine]) -> anyhow::Result<()> {
    let writes = lines.iter().filter(|l| l.action.writes()).count() as u64;
    if writes == 0 {
        return Ok(());
    }
    if let Some(note) = psa.check_budget(writes + psa.extra_requests(lines))? {
        tracing::info!("{note}");
    }
    Ok(())
}

/// What a push did: the ledger id of every line, and by index into the lines the writes
/// that were applied and those that failed (with why).
#[derive(Debug, Default)]
pub struct Pushed {
    pub change_ids: Vec<i64>,
    pub applied: Vec<usize>,
    pub failed: Vec<(usize, String)>,
    /// By index, the lines written on another date than planned (their period was posted
    /// during the run), as written.
    pub redated: Vec<(usize, PlanLine)>,
}

/// Record every line of run `run_id` (the intent), then, when `write`, apply each writing
/// line (`add`, `update`), recording each outcome as it arrives, so a crash loses at most
/// the writes in flight, which the next sync settles against the PSA.
pub fn push(
    psa: &dyn Psa,
    store: &mut Store,
    run_id: i64,
    lines: &[PlanLine],
    write: bool,
    options: Options,
    now: DateTime<Utc>,
) -> anyhow::Result<Pushed> {
    let change_ids = store.record_lines(run_id, lines, now)?;
    let mut pushed = Pushed { change_ids, ..Pushed::default() };
    if !write {
        return Ok(pushed);
    }
    let writes: Vec<(usize, &PlanLine)> =
        lines.iter().enumerate().filter(|(_, l)| l.action.writes()).collect();
    let bar = crate::output::progress(options.progress, writes.len(), &format!("writing to {}", psa.name()));
    let mut ledger_error = None;
    let sends_allowed = options.max_attempts.max(1);
    crate::workers::for_each(
        &writes,
        options.workers,
        |(_, line)| apply_line(psa, line, sends_allowed),
        |i, outcome| {
            bar.inc(1);
            let index = writes[i].0;
            let id = pushed.change_ids[index];
            let now = Utc::now();
            let (recorded, sends) = match outcome {
                Outcome::Applied { addition_id, sends, redated } => {
                    pushed.applied.push(index);
                    let mut recorded = Ok(());
                    if let Some(line) = redated {
                        recorded = store.redate_change(id, &line);
                        pushed.redated.push((index, *line));
                    }
                    let recorded = recorded.and_then(|()| {
                        store.set_change_state(id, ChangeState::Applied, addition_id, None, now)
                    });
                    (recorded, sends)
                }
                Outcome::Failed { error, sends } => {
                    let recorded = store.set_change_state(
                        id,
                        ChangeState::Failed,
                        lines[index].addition_id,
                        Some(&error),
                        now,
                    );
                    pushed.failed.push((index, error));
                    (recorded, sends)
                }
            };
            let recorded = recorded.and_then(|()| store.set_change_attempts(id, &sends));
            if let Err(e) = recorded {
                ledger_error.get_or_insert(e);
            }
        },
    );
    bar.finish_and_clear();
    pushed.applied.sort_unstable();
    pushed.failed.sort();
    pushed.redated.sort_by_key(|(i, _)| *i);
    match ledger_error {
        Some(e) => Err(anyhow::Error::new(e).context("recording an outcome in the ledger")),
        None => Ok(pushed),
    }
}

#[derive(Debug)]
enum Outcome {
    /// `redated`: the line as written when its date had to move (see `redated`).
    Applied {
        addition_id: Option<i64>,
        sends: Vec<String>,
        redated: Option<Box<PlanLine>>,
    },
    Failed {
        error: String,
        sends: Vec<String>,
    },
}

/// Write one line; a write whose answer was lost is settled by reading the container again.
/// A write that sets an absolute value (`Psa::repeatable`: ConnectWise's PATCH of `quantity`,
/// Halo's re-post of a line's `qty_order`) that the PSA does not hold is sent again in the
/// same run, up to `sends_allowed` sends in all: setting the same value twice is harmless,
/// whether the lost send landed or not. A create or a dated delta is never sent twice: if the
/// PSA does not hold it, it failed, and the next run plans it again. One exception: a dated
/// change whose period was posted during the run (the read that settles it shows the first
/// open day later than its date) is dated there and sent once more, in this run.
fn apply_line(psa: &dyn Psa, line: &PlanLine, sends_allowed: u32) -> Outcome {
    let mut sends = Vec::new();
    let mut redated: Option<Box<PlanLine>> = None;
    loop {
        let writing = redated.as_deref().unwrap_or(line);
        let error = match psa.write(writing) {
            Ok(addition_id) => {
                sends.push("applied".to_string());
                return Outcome::Applied { addition_id, sends, redated };
            }
            Err(e) => e,
        };
        sends.push(answer_text(&error));
        let read = settle_read(psa, writing, &error);
        if let Some(addition_id) = read.as_ref().and_then(|lines| holding_addition(writing, lines)) {
            tracing::info!("{error}; but {} shows the change applied: recorded as applied", psa.name());
            return Outcome::Applied { addition_id: Some(addition_id), sends, redated };
        }
        let moved = redated
            .is_none()
            .then(|| {
                read.as_ref().and_then(|lines| crate::reconcile::redated(line, lines, psa.open_day(lines)?))
            })
            .flatten();
        if let Some(moved) = moved {
            tracing::info!(
                "{error}; the period of {} was posted during the run: dated {} instead",
                line.effective_date.map_or_else(String::new, |d| d.to_string()),
                moved.effective_date.map_or_else(String::new, |d| d.to_string()),
            );
            redated = Some(Box::new(moved));
            continue;
        }
        if error.was_refused() || !psa.repeatable(writing) || sends.len() >= sends_allowed as usize {
            return Outcome::Failed { error: error.to_string(), sends };
        }
        tracing::info!(
            "{error}; {} does not hold it: sending it again (send {})",
            psa.name(),
            sends.len() + 1
        );
        std::thread::sleep(std::time::Duration::from_millis(250 * sends.len() as u64));
    }
}

/// What answered one send, short enough for the ledger.
fn answer_text(error: &PsaError) -> String {
    let text = error.to_string();
    if text.chars().count() > 200 {
        format!("{}...", text.chars().take(200).collect::<String>())
    } else {
        text
    }
}

/// A write whose answer was lost (timeout, reset, cut-off body, a 5xx, an HTML page,
/// Autotask's 500 for a validation) may still have happened: the container's lines read
/// again, for `holding_addition` to look for it (for a dated change: the units in force on
/// its date are the target). A refusal (4xx) means nothing happened: nothing to look up.
fn settle_read(psa: &dyn Psa, line: &PlanLine, error: &PsaError) -> Option<Vec<BillingLine>> {
    if error.was_refused() {
        return None;
    }
    psa.lines(line.agreement_id?, line.effective_date.unwrap_or(NaiveDate::MIN)).ok()
}
