//! The write path that sync, approve and undo share: read the agreements' additions, then
//! push lines whose ledger rows already exist, recording each outcome as it arrives.

use super::Context;
use crate::apply::{self, Outcome, WriteSettings};
use crate::connectwise::ConnectWise;
use crate::model::CwAddition;
use crate::plan::{ChangeState, PlanLine};
use crate::store::Store;
use std::collections::BTreeMap;

/// What one read of agreements' additions gave: the additions of every agreement that could
/// be read, and the error of each that could not (after its retries), by agreement id.
pub struct AdditionsRead {
    pub additions: BTreeMap<i64, Vec<CwAddition>>,
    pub failed: Vec<(i64, String)>,
}

/// One additions read per agreement, spread over the workers.
pub fn read_additions(
    ctx: &Context,
    cw: &ConnectWise,
    agreement_ids: &[i64],
    workers: usize,
) -> AdditionsRead {
    let bar = crate::output::progress(ctx.progress, agreement_ids.len(), "reading agreement additions");
    let mut additions = BTreeMap::new();
    let mut failed = Vec::new();
    crate::workers::for_each(
        agreement_ids,
        workers,
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

/// The current additions of every agreement a set of recorded changes touched: approve and
/// undo re-read them, because ConnectWise may have changed since the changes were planned.
pub fn read_additions_of(
    ctx: &Context,
    cw: &ConnectWise,
    changes: &[crate::store::ChangeRecord],
    workers: usize,
) -> anyhow::Result<BTreeMap<i64, Vec<CwAddition>>> {
    let mut agreements: Vec<i64> = changes.iter().filter_map(|c| c.agreement_id).collect();
    agreements.sort_unstable();
    agreements.dedup();
    // Without an agreement's additions a change cannot be re-checked: any failure stops.
    let read = read_additions(ctx, cw, &agreements, workers);
    if let Some((id, e)) = read.failed.into_iter().next() {
        anyhow::bail!("reading the additions of agreement {id}: {e}; nothing was pushed");
    }
    Ok(read.additions)
}

/// What a push did: per written line (by index into the lines), its outcome.
#[derive(Debug, Default)]
pub struct Pushed {
    pub applied: Vec<usize>,
    pub failed: Vec<(usize, String)>,
}

/// Push every writing line; `change_ids[i]` is the ledger row of `lines[i]` (the intent,
/// already recorded). Each outcome is recorded the moment it is known, so a crash loses
/// at most the writes in flight, which the next sync settles against ConnectWise.
pub fn push(
    ctx: &Context,
    cw: &ConnectWise,
    store: &mut Store,
    lines: &[PlanLine],
    change_ids: &[i64],
    settings: &WriteSettings,
) -> anyhow::Result<Pushed> {
    let writes = lines.iter().filter(|l| l.action.writes()).count();
    let bar = crate::output::progress(ctx.progress, writes, "writing to ConnectWise");
    let mut pushed = Pushed::default();
    let mut ledger_error = None;
    apply::apply(cw, lines, settings, |index, outcome| {
        bar.inc(1);
        let now = chrono::Utc::now();
        let recorded = match outcome {
            Outcome::Applied { addition_id } => {
                pushed.applied.push(index);
                store.set_change_state(change_ids[index], ChangeState::Applied, Some(addition_id), None, now)
            }
            Outcome::Failed { error } => {
                let recorded = store.set_change_state(
                    change_ids[index],
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
    });
    bar.finish_and_clear();
    match ledger_error {
        Some(e) => Err(anyhow::Error::new(e).context("recording an outcome in the ledger")),
        None => Ok(pushed),
    }
}
