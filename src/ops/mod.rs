//! Operations the commands drive: the work of a command, without its parsing and printing.

pub mod connect;
pub mod sync;

use crate::apply;
use crate::period::Period;
use crate::plan::{Plan, PlanLine, RunKind, RunResult};
use crate::psa::Psa;
use crate::store::Store;
use chrono::{DateTime, Utc};

/// Where the stages say what they meet as they go (the command's stderr).
pub trait Reporter {
    /// Worth a word; silenced by `-q`.
    fn warn(&self, message: &str);
    /// A failure that makes the run exit non-zero: said even with `-q`.
    fn failure(&self, message: &str);
}

/// A run that writes lines a person chose (an approval, an undo): check the PSA's budget,
/// start the run, write every line, and finish the run with how it ended (partial when a
/// write failed or `refused` lines were not written). Returns the run and what was pushed.
#[allow(clippy::too_many_arguments)]
pub fn write_run(
    psa: &dyn Psa,
    store: &mut Store,
    kind: RunKind,
    period: Period,
    vendors: &[String],
    lines: &[PlanLine],
    refused: usize,
    options: apply::Options,
    now: DateTime<Utc>,
) -> anyhow::Result<(i64, apply::Pushed, RunResult)> {
    apply::check_budget(psa, lines)?;
    let run_id = store.start_run(now, kind, period, false, vendors)?;
    let pushed = apply::push(psa, store, run_id, lines, true, options, now)?;
    let failures = pushed.failed.len() + refused;
    let result = RunResult::of(crate::plan::RunTally {
        dry_run: false,
        failures,
        // It reads no vendor: a failure is a partial run, never "nothing could be done".
        vendors_read: 1,
        applied: pushed.applied.len(),
        writes: lines.len(),
        pushed: true,
        held: 0,
    });
    let counts = Plan { period, lines: lines.to_vec(), warnings: Vec::new() }.counts();
    store.finish_run(run_id, Utc::now(), result, &counts, None)?;
    Ok((run_id, pushed, result))
}
