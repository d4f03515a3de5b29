//! `recon history [RUN]`: past runs, or the changes of one run.

use super::{Context, EXIT_OK, usage};
use crate::plan::{ChangeState, format_quantity};
use serde::Serialize;
use tabled::Tabled;

#[derive(Serialize, Tabled)]
struct RunRow {
    run: i64,
    started: String,
    period: String,
    kind: &'static str,
    vendors: String,
    result: String,
}

#[derive(Serialize, Tabled)]
struct ChangeRow {
    id: i64,
    action: String,
    state: String,
    company: String,
    product: String,
    before: String,
    after: String,
    note: String,
}

pub fn run(ctx: &Context, run: Option<i64>, limit: usize) -> anyhow::Result<u8> {
    let config = if ctx.config_path.exists() { Some(ctx.config()?) } else { None };
    let store = ctx.store_to_read(config.as_ref())?;
    let w = config.as_ref().map_or(crate::output::wording::Wording::NEUTRAL, super::wording);
    let Some(id) = run else {
        let runs = store.runs(limit)?;
        if ctx.json {
            return crate::output::print_json(&runs).map(|_| EXIT_OK);
        }
        let rows: Vec<RunRow> = runs
            .into_iter()
            .map(|r| RunRow {
                run: r.id,
                started: r.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                period: r.period.to_string(),
                kind: if r.dry_run { "dry run" } else { r.kind.as_str() },
                vendors: r.vendors.join(", "),
                result: r.result.map_or("unfinished", |r| r.as_str()).to_string(),
            })
            .collect();
        if rows.is_empty() {
            crate::out!("No runs yet.");
        } else {
            crate::out!("{}", crate::output::table(&rows, w));
        }
        return Ok(EXIT_OK);
    };
    let record = store.run(id)?.ok_or_else(|| usage(format!("there is no run {id}")))?;
    let changes = store.changes(id)?;
    let details = store.run_details(id)?;
    // What the run was worth: its lines as planned, and the writes that were applied.
    let planned = crate::plan::Plan {
        period: record.period,
        lines: changes.iter().map(|c| c.line.clone()).collect(),
        warnings: Vec::new(),
    };
    let applied = crate::plan::Plan {
        period: record.period,
        lines: changes.iter().filter(|c| c.state == ChangeState::Applied).map(|c| c.line.clone()).collect(),
        warnings: Vec::new(),
    };
    if ctx.json {
        let json_changes = crate::output::wording::ChangeJson::all(&changes, w);
        crate::output::print_json(&serde_json::json!({
            "run": record,
            "details": details,
            "totals": planned.totals(),
            "applied_totals": applied.totals(),
            "changes": json_changes,
        }))?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<ChangeRow> = changes
        .into_iter()
        .map(|c| ChangeRow {
            id: c.id,
            action: c.line.action.as_str().to_string(),
            state: c.state.as_str().to_string(),
            product: c.line.product.clone().unwrap_or_else(|| "-".into()),
            before: format_quantity(c.line.before),
            after: c.line.after.map_or_else(|| "-".into(), |q| q.to_string()),
            note: {
                let note = c
                    .error
                    .clone()
                    .or_else(|| c.line.reason.as_ref().map(|r| crate::output::wording::reason(w, r)))
                    .unwrap_or_default();
                match crate::output::wording::sends(&c.attempts) {
                    Some(sends) if note.is_empty() => sends,
                    Some(sends) => format!("{note}; {sends}"),
                    None => note,
                }
            },
            company: c.line.company,
        })
        .collect();
    crate::out!(
        "Run {id}: period {}, {}, {}.",
        record.period,
        if record.dry_run { "dry run" } else { record.kind.as_str() },
        record.result.map_or("unfinished", |r| r.as_str())
    );
    crate::out!("{}", crate::output::table(&rows, w));
    crate::out!("As planned: {}", crate::output::wording::totals_line(&planned.totals()));
    for (vendor, why) in &details.failed_vendors {
        crate::out!("Vendor {vendor} failed: {why}");
    }
    for (vendor, accounts) in &details.failed_accounts {
        for a in accounts {
            crate::out!("{vendor}: {a}");
        }
    }
    for f in details.read_failures.iter().chain(&details.notices) {
        crate::out!("{f}");
    }
    for r in &details.rates {
        crate::out!("Request rate: {}.", crate::output::wording::host_rate(r));
    }
    if let Some(error) = &record.error {
        crate::out!("The run: {error}.");
    }
    if !record.dry_run {
        crate::out!("Applied: {}", crate::output::wording::totals_line(&applied.totals()));
    }
    Ok(EXIT_OK)
}
