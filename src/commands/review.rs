//! `recon review`, `recon approve`, `recon reject`: the changes the [sync] policy held.

use super::{Context, EXIT_OK, psa, usage};
use crate::apply;
use crate::output::held_table::{HeldRow, held_row};
use crate::output::wording::{self, ChangeJson};
use crate::plan::{ChangeState, PlanLine, RunKind};
use crate::reconcile::{Recheck, recheck};
use crate::store::{ChangeRecord, Store};
use std::collections::BTreeMap;

pub fn list(ctx: &Context, all: bool) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let store = ctx.store_to_read(Some(&config))?;
    let w = super::wording(&config);
    let held = store.pending_held()?;
    let rejected = if all { store.standing_rejections()? } else { Vec::new() };
    if ctx.json {
        let mut shown = ChangeJson::all(&held, w);
        shown.extend(ChangeJson::all(&rejected, w));
        crate::output::print_json(&shown)?;
        return Ok(EXIT_OK);
    }
    if held.is_empty() {
        crate::out!("No changes are held for review.");
    } else {
        let rows: Vec<HeldRow> = held.iter().map(|c| held_row(c, w)).collect();
        crate::out!("{}", crate::output::table(&rows, w));
        crate::out!(
            "{} held. Push with `recon approve ID...` (or --all); decline with `recon reject ID...`.",
            rows.len()
        );
    }
    if all && !rejected.is_empty() {
        let rows: Vec<HeldRow> = rejected.iter().map(|c| held_row(c, w)).collect();
        crate::out!("Rejected, not proposed again until the vendor or PSA quantity moves:");
        crate::out!("{}", crate::output::table(&rows, w));
    }
    Ok(EXIT_OK)
}

/// The held changes named (or all), or a usage error naming an id that is not held.
fn selected(store: &Store, ids: &[i64], all: bool) -> anyhow::Result<Vec<ChangeRecord>> {
    let held = store.pending_held()?;
    if all {
        return Ok(held);
    }
    let by_id: BTreeMap<i64, &ChangeRecord> = held.iter().map(|c| (c.id, c)).collect();
    ids.iter()
        .map(|id| {
            by_id.get(id).map(|c| (*c).clone()).ok_or_else(|| {
                usage(format!("change {id} is not a held change awaiting review (see `recon review`)"))
            })
        })
        .collect()
}

pub fn reject(ctx: &Context, ids: &[i64], all: bool) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let (mut store, _lock) = ctx.locked_store(&config, "reject")?;
    let chosen = selected(&store, ids, all)?;
    for c in &chosen {
        store.set_change_state(c.id, ChangeState::Rejected, None, None, ctx.now)?;
    }
    if ctx.json {
        crate::output::print_json(
            &serde_json::json!({"rejected": chosen.iter().map(|c| c.id).collect::<Vec<_>>()}),
        )?;
    } else {
        crate::out!("Rejected {} held changes; nothing was pushed.", chosen.len());
    }
    Ok(EXIT_OK)
}

pub fn approve(ctx: &Context, ids: &[i64], all: bool) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let (mut store, _lock) = ctx.locked_store(&config, "approve")?;
    let chosen = selected(&store, ids, all)?;
    if chosen.is_empty() {
        crate::out!("No changes are held for review.");
        return Ok(EXIT_OK);
    }
    let http = ctx.http(&config)?;
    let psa = psa(&config, &http)?;
    super::settle_interrupted(ctx, &config, &mut store, psa.as_ref())?;

    // Re-read every agreement involved: the held plan may be stale.
    let held_lines: Vec<&PlanLine> = chosen.iter().map(|c| &c.line).collect();
    let since = crate::period::Period::containing(ctx.today()).first_day();
    let current = apply::read_additions_of(psa.as_ref(), &held_lines, since, ctx.apply_options(&config))?;

    // Each held change is re-checked for the period its run planned. A period that cannot be
    // read is an error, never "this month".
    let mut periods = BTreeMap::new();
    for c in &chosen {
        if let std::collections::btree_map::Entry::Vacant(slot) = periods.entry(c.run_id) {
            let run = store.run(c.run_id)?.ok_or_else(|| {
                anyhow::anyhow!("run {} of change {} is missing from the ledger", c.run_id, c.id)
            })?;
            slot.insert(run.period);
        }
    }
    // A held add is dated afresh: the agreements' billing terms as they are now.
    let mut agreements: Vec<i64> = chosen.iter().filter_map(|c| c.line.agreement_id).collect();
    agreements.sort_unstable();
    agreements.dedup();
    let terms: BTreeMap<i64, crate::model::BillingTerms> =
        psa.billing_terms(&agreements, since)?.into_iter().map(|t| (t.container_id, t)).collect();
    let mut lines = Vec::new();
    let mut origins = Vec::new();
    let mut conflicts = Vec::new();
    for c in &chosen {
        let additions = c.line.agreement_id.and_then(|a| current.get(&a)).map(Vec::as_slice).unwrap_or(&[]);
        let agreement_terms = c.line.agreement_id.and_then(|a| terms.get(&a));
        match recheck(&c.line, additions, periods[&c.run_id], agreement_terms, psa.writes()) {
            Recheck::Push(line) => {
                lines.push(*line);
                origins.push(c.id);
            }
            Recheck::AlreadyDone => {
                store.set_change_state(c.id, ChangeState::Approved, None, None, ctx.now)?
            }
            Recheck::Conflict(conflict) => {
                // It leaves review with why: the next sync plans from what ConnectWise holds now.
                let why = wording::conflict(wording::Wording(psa.profile()), &conflict);
                store.set_change_state(c.id, ChangeState::Failed, None, Some(&why), ctx.now)?;
                conflicts.push((c.id, why));
            }
        }
    }

    // Every held change of one approval belongs to real runs; the first one's period is the
    // approval's. A period that cannot be read is an error, never "this month".
    let period = store
        .run(chosen[0].run_id)?
        .ok_or_else(|| {
            anyhow::anyhow!("run {} of change {} is missing from the ledger", chosen[0].run_id, chosen[0].id)
        })?
        .period;
    let mut vendors: Vec<String> = chosen.iter().flat_map(|c| c.vendors()).map(str::to_string).collect();
    vendors.sort();
    vendors.dedup();
    let (run_id, pushed, result) = crate::ops::write_run(
        psa.as_ref(),
        &mut store,
        RunKind::Approve,
        period,
        &vendors,
        &lines,
        conflicts.len(),
        ctx.apply_options(&config),
        ctx.now,
    )?;
    for &index in &pushed.applied {
        store.set_change_state(origins[index], ChangeState::Approved, None, None, chrono::Utc::now())?;
    }
    let applied = pushed.applied.len();
    let failed: Vec<(i64, String)> =
        pushed.failed.into_iter().map(|(index, e)| (origins[index], e)).collect();

    if ctx.json {
        crate::output::print_json(&serde_json::json!({
            "run_id": run_id,
            "applied": applied,
            "failed": failed.iter().map(|(id, e)| serde_json::json!({"id": id, "error": e})).collect::<Vec<_>>(),
            "conflicts": conflicts.iter().map(|(id, e)| serde_json::json!({"id": id, "reason": e})).collect::<Vec<_>>(),
        }))?;
    } else {
        crate::out!("Approved and pushed {applied} of {} held changes (run {run_id}).", chosen.len());
        for (id, why) in &conflicts {
            crate::out!("  change {id} not pushed: {why}");
        }
        for (id, error) in &failed {
            eprintln!("recon: change {id} failed: {error}");
        }
    }
    Ok(result.exit_code())
}
