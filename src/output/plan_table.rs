//! The plan as people read it: one row per line (a company's identical skips as one), fitted
//! to the terminal, or a heading per company on a narrow one; shared by sync and undo.

use super::wording;
use crate::plan::{Action, Plan, PlanLine, format_quantity};
use tabled::Tabled;

#[derive(Tabled)]
struct PlanRow {
    action: &'static str,
    vendor: String,
    company: String,
    agreement: String,
    product: String,
    #[tabled(rename = "psa qty")]
    before: String,
    #[tabled(rename = "vendor qty")]
    after: String,
    change: String,
    #[tabled(rename = "monthly")]
    money: String,
    note: String,
}

/// The plan as a table. Lines with no addition and nothing to bill are counted, not listed
/// (`all` lists them); skips of one company that say the same for several vendors are one row.
pub fn print_plan(plan: &Plan, dry_run: bool, all: bool, w: wording::Wording) {
    let title = if dry_run { "Plan (dry run)" } else { "Plan" };
    if plan.lines.is_empty() {
        crate::out!("{title} for {}: nothing to do (no mapped account has a mapped service).", plan.period);
        return;
    }
    let nothing_to_bill = |l: &PlanLine| matches!(l.reason, Some(crate::plan::Reason::NothingToBill));
    let shown: Vec<&PlanLine> = plan.lines.iter().filter(|l| all || !nothing_to_bill(l)).collect();
    let hidden = plan.lines.len() - shown.len();
    let rows = merged_rows(&shown, w);
    if crate::output::table_fits(&rows, w) {
        if !rows.is_empty() {
            crate::out!("{}", crate::output::table(&rows, w));
        }
    } else {
        print_narrow(rows);
    }
    let c = plan.counts();
    crate::out!(
        "{title} for {}: {} add, {} update, {} unchanged, {} held, {} skipped.",
        plan.period,
        c.add,
        c.update,
        c.unchanged,
        c.held,
        c.skipped
    );
    if hidden > 0 {
        let line = w.line;
        crate::out!("{hidden} unchanged lines have no {line} and nothing to bill; --all lists them.");
    }
    crate::out!("{}", crate::output::wrapped(&wording::totals_line(&plan.totals()), 0));
    let priced = plan.lines.iter().filter(|l| !l.findings.is_empty()).count();
    if priced > 0 {
        let text = format!(
            "{priced} line{} with a pricing or margin issue (in the notes; recon never changes a price).",
            if priced == 1 { "" } else { "s" }
        );
        crate::out!("{}", crate::output::wrapped(&text, 0));
    }
}

/// The plan on a narrow terminal: a heading per company and agreement, under it one short
/// row per line, and the notes numbered under the table (each once), so that names and
/// numbers are never cut.
fn print_narrow(rows: Vec<PlanRow>) {
    let mut notes: Vec<String> = Vec::new();
    let mut cells: Vec<Vec<String>> = vec![
        ["action", "vendor", "product", "quantity", "change", "monthly", "note"].map(String::from).to_vec(),
    ];
    let mut headings: Vec<(usize, String)> = Vec::new();
    let mut last: Option<(String, String)> = None;
    for row in rows {
        let group = (row.company.clone(), row.agreement.clone());
        if last.as_ref() != Some(&group) {
            let heading = if row.agreement == "-" {
                row.company.clone()
            } else {
                format!("{} / {}", row.company, row.agreement)
            };
            headings.push((cells.len(), heading));
            last = Some(group);
        }
        let note = if row.note.is_empty() {
            String::new()
        } else {
            let n = notes.iter().position(|n| *n == row.note).unwrap_or_else(|| {
                notes.push(row.note.clone());
                notes.len() - 1
            });
            format!("[{}]", n + 1)
        };
        cells.push(vec![
            row.action.to_string(),
            row.vendor,
            row.product,
            format!("{} > {}", row.before, row.after),
            row.change,
            row.money,
            note,
        ]);
    }
    let lines = crate::output::columns(&cells, &[false, false, false, true, true, true, false]);
    for (i, line) in lines.iter().enumerate() {
        if let Some((_, heading)) = headings.iter().find(|(at, _)| *at == i) {
            crate::out!("{}", crate::output::wrapped(heading, 2));
        }
        crate::out!("  {line}");
    }
    for (i, note) in notes.iter().enumerate() {
        let key = format!("[{}] ", i + 1);
        crate::out!("{}", crate::output::wrapped(&format!("{key}{note}"), key.len()));
    }
}

/// One row per line, except that the skipped lines of one company with the same reason for
/// several vendors (no agreement chosen, say) are one row that names every vendor.
fn merged_rows(lines: &[&PlanLine], w: wording::Wording) -> Vec<PlanRow> {
    let mut groups: Vec<Vec<&PlanLine>> = Vec::new();
    for line in lines {
        let group =
            groups.iter_mut().find(|g| g[0].action == Action::Skipped && wording::same_skip(w, g[0], line));
        match group {
            Some(g) => g.push(line),
            None => groups.push(vec![line]),
        }
    }
    groups
        .into_iter()
        .map(|group| {
            let mut row = plan_row(group[0], w);
            if group.len() > 1 {
                let mut vendors: Vec<String> = group.iter().map(|l| l.vendors().join(", ")).collect();
                vendors.dedup();
                row.vendor = vendors.join(", ");
                row.note = wording::merged_skip_note(w, &group);
            }
            row
        })
        .collect()
}

fn plan_row(line: &PlanLine, w: wording::Wording) -> PlanRow {
    let changes = matches!(line.action, Action::Add | Action::Update | Action::Held);
    let change = match (changes, line.delta()) {
        (true, Some(d)) if !d.is_zero() => wording::signed_quantity(d),
        _ => String::new(),
    };
    let money = match (&line.money, changes) {
        (Some(m), true) => m.revenue_change.map_or_else(|| "no price".to_string(), wording::signed_amount),
        _ => String::new(),
    };
    PlanRow {
        action: line.action.as_str(),
        vendor: line.vendors().join(", "),
        company: line.company.clone(),
        agreement: line.agreement.clone().unwrap_or_else(|| "-".into()),
        product: line.product.clone().unwrap_or_else(|| "-".into()),
        before: format_quantity(line.before),
        after: line.after.map_or_else(|| "-".into(), |q| q.to_string()),
        change,
        money,
        note: wording::note(w, line),
    }
}
