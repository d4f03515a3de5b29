//! `recon undo RUN`: plan the reverse of a run's applied changes, and apply it with --yes.
//! Updated quantities go back to what they were; additions the run created are set to
//! quantity 0 (recon never cancels or deletes an addition: 0 is visible and reversible).

use super::{Context, EXIT_OK, EXIT_RUN_ERROR, connectwise, usage};
use crate::apply::WriteSettings;
use crate::model::CwAddition;
use crate::period::Period;
use crate::plan::{Action, ChangeState, Plan, PlanLine, format_quantity};
use std::collections::BTreeMap;

pub fn run(ctx: &Context, run_id: i64, yes: bool) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let (mut store, _lock) = ctx.locked_store(&config, "undo")?;
    let run = store.run(run_id)?.ok_or_else(|| usage(format!("there is no run {run_id}")))?;
    let applied: Vec<_> = store
        .changes(run_id)?
        .into_iter()
        .filter(|c| c.state == ChangeState::Applied && c.action.writes())
        .collect();
    if applied.is_empty() {
        crate::out!("Run {run_id} applied no changes; there is nothing to undo.");
        return Ok(EXIT_OK);
    }
    let http = ctx.http(&config)?;
    let cw = connectwise(&config, &http)?;
    let current = super::push::read_additions_of(ctx, &cw, &applied, config.http.workers)?;

    let period = run.period.parse::<Period>().unwrap_or_else(|_| Period::containing(ctx.today()));
    let lines: Vec<PlanLine> = applied.iter().map(|c| reverse(c, &current, run_id)).collect();
    let plan = Plan { period, lines, warnings: Vec::new() };
    if !ctx.json {
        super::sync::print_plan(&plan, !yes);
    }
    let writes = plan.lines.iter().filter(|l| l.action.writes()).count();
    if !yes {
        if ctx.json {
            crate::output::print_json(
                &serde_json::json!({"undo_of": run_id, "applied": false, "plan": plan}),
            )?;
        } else {
            crate::out!(
                "Nothing changed yet. Run `recon undo {run_id} --yes` to apply these {writes} changes."
            );
        }
        return Ok(EXIT_OK);
    }

    let undo_run = store.start_run_of_kind(ctx.now, "undo", period, false, &run.vendors)?;
    let change_ids = store.record_lines(undo_run, &plan.lines, ChangeState::Planned, ctx.now)?;
    let settings = WriteSettings {
        bill_customer: config.connectwise()?.bill_customer.as_str(),
        effective_date: period.first_day(),
        workers: config.http.workers,
    };
    let pushed = super::push::push(ctx, &cw, &mut store, &plan.lines, &change_ids, &settings)?;
    let (done, failed) = (pushed.applied.len(), pushed.failed.len());
    let result = if failed == 0 { "ok" } else { "partial" };
    store.finish_run(undo_run, chrono::Utc::now(), result, &plan.counts(), None)?;
    if ctx.json {
        crate::output::print_json(
            &serde_json::json!({"undo_of": run_id, "run_id": undo_run, "applied": done, "failed": failed, "plan": plan}),
        )?;
    } else {
        crate::out!("Undid {done} of {writes} changes of run {run_id} (run {undo_run}).");
    }
    Ok(if failed == 0 { EXIT_OK } else { EXIT_RUN_ERROR })
}

/// The line that puts one applied change back, or a skipped line saying why it cannot.
fn reverse(
    change: &crate::store::ChangeRecord,
    current: &BTreeMap<i64, Vec<CwAddition>>,
    run_id: i64,
) -> PlanLine {
    let mut line = change.plan_line();
    line.sources = Vec::new();
    let now = change
        .agreement_id
        .and_then(|a| current.get(&a))
        .and_then(|list| list.iter().find(|a| Some(a.id) == change.addition_id && !a.cancelled));
    let target = match change.action {
        Action::Add => Some(0.0),
        _ => change.before,
    };
    let skip = |line: &mut PlanLine, why: String| {
        line.action = Action::Skipped;
        line.reason = Some(why);
    };
    line.before = now.map(|a| a.quantity);
    match (now, target) {
        (None, _) => {
            skip(&mut line, format!("addition {:?} is no longer active in ConnectWise", change.addition_id))
        }
        (Some(a), _) if Some(a.quantity) != change.after.map(f64::from) => skip(
            &mut line,
            format!("changed since run {run_id}: now {}; left alone", format_quantity(Some(a.quantity))),
        ),
        (Some(_), Some(t)) if t.fract() == 0.0 && t >= 0.0 => {
            line.action = Action::Update;
            line.after = Some(t as u32);
            line.reason = Some(if change.action == Action::Add {
                "created by the run: set to 0 (recon does not cancel additions)".to_string()
            } else {
                format!("back to {}", format_quantity(Some(t)))
            });
        }
        (Some(_), _) => {
            skip(&mut line, "the earlier quantity was not a whole number; restore it by hand".into())
        }
    }
    line
}
