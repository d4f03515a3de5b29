//! `recon review`, `recon approve`, `recon reject`: the changes the [sync] policy held.

use super::{Context, EXIT_OK, EXIT_RUN_ERROR, connectwise, usage};
use crate::apply::WriteSettings;
use crate::model::CwAddition;
use crate::period::Period;
use crate::plan::{Action, ChangeState, PlanLine, format_quantity};
use crate::store::{ChangeRecord, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use tabled::Tabled;

#[derive(Serialize, Tabled)]
struct HeldRow {
    id: i64,
    company: String,
    agreement: String,
    product: String,
    #[tabled(rename = "psa qty")]
    before: String,
    #[tabled(rename = "vendor qty")]
    after: String,
    change: String,
    #[tabled(rename = "why held")]
    reason: String,
}

fn held_row(c: &ChangeRecord) -> HeldRow {
    let line = c.plan_line();
    HeldRow {
        id: c.id,
        company: c.company.clone(),
        agreement: c.agreement.clone().unwrap_or_else(|| "-".into()),
        product: c.product.clone().unwrap_or_else(|| "-".into()),
        before: format_quantity(c.before),
        after: c.after.map_or_else(|| "-".into(), |q| q.to_string()),
        change: line
            .delta()
            .map(|d| format!("{}{}", if d > 0.0 { "+" } else { "" }, format_quantity(Some(d))))
            .unwrap_or_default(),
        reason: c.reason.clone().unwrap_or_default(),
    }
}

pub fn list(ctx: &Context) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let store = ctx.store(Some(&config))?;
    let held = store.pending_held()?;
    if ctx.json {
        crate::output::print_json(&held)?;
    } else if held.is_empty() {
        crate::out!("No changes are held for review.");
    } else {
        let rows: Vec<HeldRow> = held.iter().map(held_row).collect();
        crate::out!("{}", crate::output::table(&rows));
        crate::out!(
            "{} held. Push with `recon approve ID...` (or --all); decline with `recon reject ID...`.",
            rows.len()
        );
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
    let cw = connectwise(&config, &http)?;

    // Re-read every agreement involved: the held plan may be stale.
    let current = super::push::read_additions_of(ctx, &cw, &chosen, config.http.workers)?;

    let mut lines = Vec::new();
    let mut origins = Vec::new();
    let mut conflicts = Vec::new();
    for c in &chosen {
        match recheck(c, &current) {
            Ok(Some(line)) => {
                lines.push(line);
                origins.push(c.id);
            }
            Ok(None) => store.set_change_state(c.id, ChangeState::Approved, None, None, ctx.now)?,
            Err(conflict) => {
                store.set_change_state(c.id, ChangeState::Planned, None, Some(&conflict), ctx.now)?;
                conflicts.push((c.id, conflict));
            }
        }
    }

    let period = store
        .run(chosen[0].run_id)?
        .and_then(|r| r.period.parse::<Period>().ok())
        .unwrap_or_else(|| Period::containing(ctx.today()));
    let vendors: Vec<String> = {
        let mut v: Vec<String> =
            chosen.iter().flat_map(|c| c.vendor.split(',').map(str::to_string)).collect();
        v.sort();
        v.dedup();
        v
    };
    let run_id = store.start_run_of_kind(ctx.now, "approve", period, false, &vendors)?;
    let change_ids = store.record_lines(run_id, &lines, ChangeState::Planned, ctx.now)?;
    let settings = WriteSettings {
        bill_customer: config.connectwise()?.bill_customer.as_str(),
        effective_date: period.first_day(),
        workers: config.http.workers,
    };
    let pushed = super::push::push(ctx, &cw, &mut store, &lines, &change_ids, &settings)?;
    for &index in &pushed.applied {
        store.set_change_state(origins[index], ChangeState::Approved, None, None, chrono::Utc::now())?;
    }
    let applied = pushed.applied.len();
    let failed: Vec<(i64, String)> =
        pushed.failed.into_iter().map(|(index, e)| (origins[index], e)).collect();
    let counts = crate::plan::Plan { period, lines: lines.clone(), warnings: Vec::new() }.counts();
    let result = if failed.is_empty() && conflicts.is_empty() { "ok" } else { "partial" };
    store.finish_run(run_id, chrono::Utc::now(), result, &counts, None)?;

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
    Ok(if failed.is_empty() && conflicts.is_empty() { EXIT_OK } else { EXIT_RUN_ERROR })
}

/// The write a held change needs now, `None` when ConnectWise already holds the quantity,
/// or why it cannot be pushed blindly.
fn recheck(
    change: &ChangeRecord,
    current: &BTreeMap<i64, Vec<CwAddition>>,
) -> Result<Option<PlanLine>, String> {
    let (Some(agreement_id), Some(product_id), Some(after)) =
        (change.agreement_id, change.product_id, change.after)
    else {
        return Err("the held line lacks an agreement, product or quantity".into());
    };
    let live: Vec<&CwAddition> = current
        .get(&agreement_id)
        .into_iter()
        .flatten()
        .filter(|a| !a.cancelled && a.product_id == Some(product_id))
        .collect();
    let mut line = change.plan_line();
    line.reason = None;
    match (live.as_slice(), change.addition_id) {
        ([], None) => {
            line.action = Action::Add;
            Ok(Some(line))
        }
        ([], Some(id)) => {
            Err(format!("addition {id} is gone from ConnectWise; run `recon sync` to plan again"))
        }
        ([one], _) if one.quantity == f64::from(after) => Ok(None),
        ([one], held_on) if held_on.is_none_or(|id| id == one.id) && Some(one.quantity) == change.before => {
            line.action = Action::Update;
            line.addition_id = Some(one.id);
            Ok(Some(line))
        }
        ([one], _) => Err(format!(
            "ConnectWise now holds {} (it held {} when the change was held); not overwritten: run `recon sync` to plan again",
            format_quantity(Some(one.quantity)),
            format_quantity(change.before)
        )),
        (several, _) => {
            Err(format!("{} active additions of the product now; fix in ConnectWise", several.len()))
        }
    }
}
