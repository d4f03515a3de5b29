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

/// Settle the runs a killed process left unfinished, before this run reads anything to plan:
/// each of their writes that never left failed (the plan makes it again); each that left may
/// have reached the PSA, or may still (a request in flight when the process died is carried
/// out all the same), so recon first waits until the last such send is older than the HTTP
/// timeout (`in_flight_for`), then reads its container: what the PSA shows was applied, the
/// rest failed. Only then does the plan read, so it never plans a write that lands after.
/// A container that cannot be read stops the run: nothing is pushed on a guess.
pub fn settle_interrupted(
    psa: &dyn Psa,
    store: &mut Store,
    in_flight_for: std::time::Duration,
    say: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let runs = store.unfinished_runs()?;
    if runs.is_empty() {
        return Ok(());
    }
    let mut pending = Vec::new();
    for run in &runs {
        pending.extend(
            store
                .changes(run.id)?
                .into_iter()
                .filter(|c| c.state == ChangeState::Planned && c.line.action.writes()),
        );
    }
    let last_sent = pending.iter().filter_map(|c| c.sent_at).max();
    if let Some(wait) = last_sent
        .map(|t| t + chrono::Duration::from_std(in_flight_for).unwrap_or_default() - Utc::now())
        .and_then(|left| left.to_std().ok())
        .filter(|left| !left.is_zero())
    {
        say(&format!(
            "a killed run left writes that may still be in flight; waiting {}s for them before reading {}",
            wait.as_secs_f64().ceil(),
            psa.name()
        ));
        std::thread::sleep(wait);
    }
    // One read per container that a sent write touched, from its earliest date.
    let mut since: BTreeMap<i64, NaiveDate> = BTreeMap::new();
    for c in pending.iter().filter(|c| c.sent_at.is_some()) {
        if let Some(id) = c.line.agreement_id {
            let day = c.line.effective_date.unwrap_or(NaiveDate::MIN);
            since.entry(id).and_modify(|d| *d = (*d).min(day)).or_insert(day);
        }
    }
    let mut now_holds: BTreeMap<i64, Vec<BillingLine>> = BTreeMap::new();
    for (id, day) in since {
        let lines = psa.lines(id, day).map_err(|e| {
            anyhow::anyhow!(
                "settling the run a killed process left: reading {} {id} failed: {e}; nothing was pushed \
                 (run again when {} answers)",
                psa.container_word(),
                psa.name()
            )
        })?;
        now_holds.insert(id, lines);
    }
    let now = Utc::now();
    for run in &runs {
        let mut settled = 0;
        for c in pending.iter().filter(|c| c.run_id == run.id) {
            let held = c
                .line
                .agreement_id
                .and_then(|a| now_holds.get(&a))
                .and_then(|l| holding_addition(&c.line, l));
            match (c.sent_at, held) {
                (Some(_), Some(id)) => {
                    store.set_change_state(c.id, ChangeState::Applied, Some(id), None, now)?
                }
                (Some(_), None) => store.set_change_state(
                    c.id,
                    ChangeState::Failed,
                    None,
                    Some("interrupted: sent, but the PSA does not hold it; planned again by the next run"),
                    now,
                )?,
                (None, _) => store.set_change_state(
                    c.id,
                    ChangeState::Failed,
                    None,
                    Some("interrupted before it was sent; planned again by the next run"),
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
        say(&format!(
            "run {} was interrupted; settled {settled} of its changes against {}",
            run.id,
            psa.name()
        ));
    }
    Ok(())
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
    let groups = write_groups(&writes, psa.writes_whole_container());
    let bar = crate::output::progress(options.progress, writes.len(), &format!("writing to {}", psa.name()));
    let mut ledger_error = None;
    let sends_allowed = options.max_attempts.max(1);
    let marks = store.sent_marks()?;
    let change_ids = pushed.change_ids.clone();
    crate::workers::for_each(
        &groups,
        options.workers,
        |group| apply_group(psa, group, sends_allowed, &|index| marks.mark(change_ids[index], Utc::now())),
        |_, outcomes| {
            for (index, outcome) in outcomes {
                bar.inc(1);
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

/// The writes of a push as the units `apply_group` sends: one line each, or, for a PSA that
/// writes a container whole (`Psa::writes_whole_container`: Halo re-posts a recurring invoice
/// with all its lines), every line of one container together, in plan order.
fn write_groups<'l>(
    writes: &[(usize, &'l PlanLine)],
    whole_container: bool,
) -> Vec<Vec<(usize, &'l PlanLine)>> {
    if !whole_container {
        return writes.iter().map(|w| vec![*w]).collect();
    }
    let mut groups: Vec<Vec<(usize, &PlanLine)>> = Vec::new();
    let mut by_container: BTreeMap<i64, usize> = BTreeMap::new();
    for &(index, line) in writes {
        match line.agreement_id.and_then(|id| by_container.get(&id)) {
            Some(&group) => groups[group].push((index, line)),
            None => {
                if let Some(id) = line.agreement_id {
                    by_container.insert(id, groups.len());
                }
                groups.push(vec![(index, line)]);
            }
        }
    }
    groups
}

/// One line of a group on its way through `apply_group`.
struct Sending<'l> {
    index: usize,
    line: &'l PlanLine,
    /// The line as it is written now, when its date had to move.
    redated: Option<Box<PlanLine>>,
    sends: Vec<String>,
    outcome: Option<Outcome>,
}

impl Sending<'_> {
    fn writing(&self) -> &PlanLine {
        self.redated.as_deref().unwrap_or(self.line)
    }

    fn applied(&mut self, addition_id: Option<i64>) {
        let (sends, redated) = (std::mem::take(&mut self.sends), self.redated.take());
        self.outcome = Some(Outcome::Applied { addition_id, sends, redated });
    }

    fn failed(&mut self, error: String) {
        self.outcome = Some(Outcome::Failed { error, sends: std::mem::take(&mut self.sends) });
    }
}

/// Write one group (one line, or every line of one container: `write_groups`) in one send;
/// a send whose answer was lost is settled by reading the container again, once for the
/// whole group, and each line judged by what it holds. A write that sets an absolute value
/// (`Psa::repeatable`: ConnectWise's PATCH of `quantity`, Halo's re-post of a line's
/// `qty_order`) that the PSA does not hold is sent again in the same run, up to
/// `sends_allowed` sends in all: setting the same value twice is harmless, whether the lost
/// send landed or not. A create or a dated delta is never sent twice: if the PSA does not
/// hold it, it failed, and the next run plans it again. One exception: a dated change whose
/// period was posted during the run (the read that settles it shows the first open day later
/// than its date) is dated there and sent once more, in this run.
///
/// `mark_sent(index)` records on disk that the line's write is leaving, before each send: a
/// write that could not be marked is not sent.
fn apply_group(
    psa: &dyn Psa,
    group: &[(usize, &PlanLine)],
    sends_allowed: u32,
    mark_sent: &dyn Fn(usize) -> Result<(), StoreError>,
) -> Vec<(usize, Outcome)> {
    let mut state: Vec<Sending> = group
        .iter()
        .map(|&(index, line)| Sending { index, line, redated: None, sends: Vec::new(), outcome: None })
        .collect();
    loop {
        for s in state.iter_mut().filter(|s| s.outcome.is_none()) {
            if let Err(e) = mark_sent(s.index) {
                s.failed(format!("not sent: could not record in the ledger that it was being sent: {e}"));
            }
        }
        let mut pending: Vec<&mut Sending> = state.iter_mut().filter(|s| s.outcome.is_none()).collect();
        let Some(first) = pending.first().map(|s| s.writing()) else { break };
        // The container the group writes, read from the line's date if a send needs settling.
        let (container, since) = (first.agreement_id, first.effective_date);
        let writing: Vec<&PlanLine> = pending.iter().map(|s| s.writing()).collect();
        let result = psa.write_together(&writing);
        let error = match result {
            Ok(ids) => {
                for (s, id) in pending.iter_mut().zip(ids.into_iter().chain(std::iter::repeat(None))) {
                    s.sends.push("applied".to_string());
                    s.applied(id);
                }
                break;
            }
            Err(e) => e,
        };
        let read = settle_read(psa, container, since, &error);
        let mut moved_any = false;
        for s in pending.iter_mut() {
            s.sends.push(answer_text(&error));
            if let Some(addition_id) = read.as_ref().and_then(|lines| holding_addition(s.writing(), lines)) {
                tracing::info!("{error}; but {} shows the change applied: recorded as applied", psa.name());
                s.applied(Some(addition_id));
                continue;
            }
            let moved = s
                .redated
                .is_none()
                .then(|| {
                    read.as_ref()
                        .and_then(|lines| crate::reconcile::redated(s.line, lines, psa.open_day(lines)?))
                })
                .flatten();
            if let Some(moved) = moved {
                tracing::info!(
                    "{error}; the period of {} was posted during the run: dated {} instead",
                    s.line.effective_date.map_or_else(String::new, |d| d.to_string()),
                    moved.effective_date.map_or_else(String::new, |d| d.to_string()),
                );
                s.redated = Some(Box::new(moved));
                moved_any = true;
                continue;
            }
            if error.kind().nothing_happened()
                || !psa.repeatable(s.writing())
                || s.sends.len() >= sends_allowed as usize
            {
                s.failed(error.to_string());
                continue;
            }
            tracing::info!(
                "{error}; {} does not hold it: sending it again (send {})",
                psa.name(),
                s.sends.len() + 1
            );
        }
        let sends = pending.iter().filter(|s| s.outcome.is_none()).map(|s| s.sends.len()).max();
        if let Some(sends) = sends.filter(|_| !moved_any) {
            std::thread::sleep(std::time::Duration::from_millis(250 * sends as u64));
        }
    }
    state.into_iter().filter_map(|s| Some((s.index, s.outcome?))).collect()
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
fn settle_read(
    psa: &dyn Psa,
    container: Option<i64>,
    since: Option<NaiveDate>,
    error: &PsaError,
) -> Option<Vec<BillingLine>> {
    if error.kind().nothing_happened() {
        return None;
    }
    psa.lines(container?, since.unwrap_or(NaiveDate::MIN)).ok()
}
