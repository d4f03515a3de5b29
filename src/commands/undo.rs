//! `recon undo RUN`: plan the reverse of a run's applied changes, and apply it with --yes.
//! Updated quantities go back to what they were; additions the run created are set to
//! quantity 0 (recon never cancels or deletes an addition: 0 is visible and reversible).

use super::{Context, EXIT_OK, EXIT_RUN_ERROR, psa, usage};
use crate::apply;
use crate::model::{BillingTerms, QuantityWrites};
use crate::output::wording::PlanJson;
use crate::plan::{ChangeState, Plan, PlanLine, RunKind};
use crate::reconcile::reverse;
use std::collections::BTreeMap;

pub fn run(ctx: &Context, run_id: i64, yes: bool) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let (mut store, _lock) = ctx.locked_store(&config, "undo")?;
    let run = store.run(run_id)?.ok_or_else(|| usage(format!("there is no run {run_id}")))?;
    let applied: Vec<PlanLine> = store
        .changes(run_id)?
        .into_iter()
        .filter(|c| c.state == ChangeState::Applied && c.line.action.writes())
        .map(|c| c.line)
        .collect();
    if applied.is_empty() {
        crate::out!("Run {run_id} applied no changes; there is nothing to undo.");
        return Ok(EXIT_OK);
    }
    let http = ctx.http(&config)?;
    let psa = psa(&config, &http)?;
    super::settle_interrupted(ctx, &config, &mut store, psa.as_ref())?;
    let since = run.period.first_day();
    let touched: Vec<&PlanLine> = applied.iter().collect();
    let current = apply::read_additions_of(psa.as_ref(), &touched, since, ctx.apply_options(&config))?;
    // A PSA that dates every change (Autotask): the reverse is a compensating change, dated
    // like any other (the run's period, or the first open day when it is posted).
    let terms: BTreeMap<i64, BillingTerms> = if psa.writes() == QuantityWrites::DatedDelta {
        let mut ids: Vec<i64> = applied.iter().filter_map(|l| l.agreement_id).collect();
        ids.sort_unstable();
        ids.dedup();
        psa.billing_terms(&ids, since)?.into_iter().map(|t| (t.container_id, t)).collect()
    } else {
        BTreeMap::new()
    };

    let lines: Vec<PlanLine> = applied
        .iter()
        .map(|line| {
            let additions = line.agreement_id.and_then(|a| current.get(&a)).map(Vec::as_slice).unwrap_or(&[]);
            let dated = line
                .agreement_id
                .and_then(|a| terms.get(&a))
                .map(|t| crate::reconcile::create_date(run.period, t));
            reverse(line, additions, run_id, run.period, dated)
        })
        .collect();
    let plan = Plan { period: run.period, lines, warnings: Vec::new() };
    let words = crate::output::wording::Wording(psa.profile());
    if !ctx.json {
        crate::output::plan_table::print_plan(&plan, !yes, true, words);
    }
    let writes = plan.counts().writes();
    if !yes {
        if ctx.json {
            crate::output::print_json(
                &serde_json::json!({"undo_of": run_id, "applied": false, "plan": PlanJson::new(&plan, words)}),
            )?;
        } else {
            crate::out!(
                "Nothing changed yet. Run `recon undo {run_id} --yes` to apply {}.",
                crate::output::wording::plural(writes, "change")
            );
        }
        return Ok(EXIT_OK);
    }

    let (undo_run, pushed, _) = crate::ops::write_run(
        psa.as_ref(),
        &mut store,
        RunKind::Undo,
        run.period,
        &run.vendors,
        &plan.lines,
        0,
        ctx.apply_options(&config),
        ctx.now,
    )?;
    let (done, failed) = (pushed.applied.len(), pushed.failed.len());
    if ctx.json {
        crate::output::print_json(&serde_json::json!({
            "undo_of": run_id, "run_id": undo_run, "applied": done, "failed": failed, "plan": PlanJson::new(&plan, words)
        }))?;
    } else {
        crate::out!(
            "Undid {done} of {} of run {run_id} (run {undo_run}).",
            crate::output::wording::plural(writes, "change")
        );
    }
    Ok(if failed == 0 { EXIT_OK } else { EXIT_RUN_ERROR })
}
