//! The report as one self-contained HTML page: inline CSS, charts drawn in HTML, no script,
//! font or image from anywhere, readable on a phone and on paper. Every text that comes from
//! a vendor, the PSA or a person (names, notes, reasons) goes through `esc`.

// Each element is written with its own `\n`, mid-string or at the end alike.
#![allow(clippy::write_with_newline)]

use super::{LARGEST, Report};
use crate::plan::{Action, ChangeState, format_quantity};
use crate::store::ChangeRecord;
use rust_decimal::Decimal;
use std::fmt::Write;

/// The minus sign of amounts on the page (U+2212: as wide as `+`, so columns line up).
const MINUS: &str = "\u{2212}";

pub fn page(r: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("recon report: {} (run {})", r.run.period, r.run.id);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"recon {}\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&title)
    );
    header(&mut h, r);
    headline(&mut h, r);
    attention(&mut h, r);
    charts(&mut h, r);
    changes(&mut h, r);
    pricing(&mut h, r);
    audits(&mut h, r);
    waiting(&mut h, r);
    let _ = write!(
        h,
        "<footer>recon {} &middot; run {} &middot; trace it with <code>recon history {}</code></footer>\n\
         </main>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        r.run.id,
        r.run.id
    );
    label_cells(&h)
}

/// Every body cell gets its column's heading as `data-label`, which the phone layout shows
/// beside the value (each row a card, `td::before`). Done on the finished page: every text
/// from outside is escaped, so each `<t` in it starts a tag this module wrote.
fn label_cells(page: &str) -> String {
    let mut out = String::with_capacity(page.len() + page.len() / 4);
    let mut rest = page;
    while let Some(start) = rest.find("<table") {
        let end = rest[start..].find("</table>").map_or(rest.len(), |e| start + e + "</table>".len());
        out.push_str(&rest[..start]);
        out.push_str(&label_table(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn label_table(table: &str) -> String {
    let Some((head, body)) = table.split_once("</thead>") else { return table.to_string() };
    // `<th>` or `<th class=...>`, not `<thead>`.
    let labels: Vec<String> = head
        .split("<th")
        .skip(1)
        .filter(|th| th.starts_with(['>', ' ']))
        .map(|th| {
            let inner = th.split_once('>').map_or("", |(_, t)| t);
            let text = inner.split("</th>").next().unwrap_or("");
            // A heading is text recon wrote, already escaped for an attribute but for tags.
            strip_tags(text).replace('"', "&quot;")
        })
        .collect();
    let mut out = format!("{head}</thead>");
    for (i, row) in body.split("<tr").enumerate() {
        if i > 0 {
            out.push_str("<tr");
        }
        for (j, cell) in row.split("<td").enumerate() {
            match j {
                0 => out.push_str(cell),
                _ => {
                    let label = labels.get(j - 1).map_or("", String::as_str);
                    let _ = write!(out, "<td data-label=\"{label}\"{cell}");
                }
            }
        }
    }
    out
}

fn strip_tags(text: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn header(h: &mut String, r: &Report) {
    let (badge_class, badge) = match (r.run.dry_run, r.run.kind) {
        (true, _) => ("dry", "Dry run: nothing was written to the PSA"),
        (false, crate::plan::RunKind::Sync) => ("pushed", "Pushed to the PSA"),
        (false, crate::plan::RunKind::Approve) => ("pushed", "Approved changes pushed"),
        (false, crate::plan::RunKind::Undo) => ("pushed", "Undo pushed"),
    };
    let result = r.run.result.map_or("unfinished", |res| res.as_str());
    let _ = write!(
        h,
        "<header>\n<p class=\"eyebrow\">Billing reconciliation</p>\n<h1 id=\"period\">{}</h1>\n\
         <p class=\"meta\"><span class=\"badge {badge_class}\">{badge}</span> \
         <span>Run {} &middot; {} &middot; vendors: {} &middot; result: <strong id=\"result\">{}</strong></span></p>\n</header>\n",
        esc(&month_name(r)),
        r.run.id,
        r.run.started_at.format("%Y-%m-%d %H:%M UTC"),
        esc(&r.run.vendors.join(", ")),
        esc(result),
    );
}

fn month_name(r: &Report) -> String {
    let first = r.run.period.first_day();
    format!("{} ({})", first.format("%B %Y"), r.run.period)
}

fn headline(h: &mut String, r: &Report) {
    let t = r.headline();
    let verb = if r.run.dry_run { "would change" } else { "changed" };
    let _ = write!(
        h,
        "<section class=\"kpis\" aria-label=\"Headline figures\">\n\
         <div class=\"kpi main\"><span class=\"label\">Net monthly revenue {verb}</span>\
         <span class=\"value {}\" id=\"net\">{}</span><span class=\"small\">margin {}</span></div>\n\
         <div class=\"kpi\"><span class=\"label\">Revenue added</span><span class=\"value\" id=\"added\">{}</span></div>\n\
         <div class=\"kpi\"><span class=\"label\">Revenue removed</span><span class=\"value\" id=\"removed\">{}</span></div>\n\
         <div class=\"kpi\"><span class=\"label\">Held for review</span><span class=\"value\" id=\"held-net\">{}</span>\
         <span class=\"small\">{}, not in the totals</span></div>\n</section>\n",
        sign_class(t.net),
        r.amount(t.net, true, MINUS),
        r.amount(t.margin_net, true, MINUS),
        r.amount(t.revenue_added, true, MINUS),
        r.amount(-t.revenue_removed, true, MINUS),
        r.amount(r.planned.held_net, true, MINUS),
        crate::output::wording::plural(r.counts().held, "line"),
    );
    let c = r.counts();
    let _ = write!(
        h,
        "<p class=\"counts\" id=\"counts\"><b>{}</b> added &middot; <b>{}</b> updated &middot; <b>{}</b> unchanged \
         &middot; <b>{}</b> held &middot; <b>{}</b> skipped</p>\n",
        c.add, c.update, c.unchanged, c.held, c.skipped
    );
    let mut notes = Vec::new();
    if t.unpriced > 0 {
        let (lines, are) = (
            crate::output::wording::plural(t.unpriced, "changed line"),
            if t.unpriced == 1 { "is" } else { "are" },
        );
        notes.push(format!("{lines} without a price {are} not in the totals."));
    }
    if r.details.currencies.len() > 1 {
        notes.push(format!(
            "The {}s bill in several currencies ({}): the totals add them as they are.",
            r.words.container,
            r.details.currencies.join(", ")
        ));
    }
    if let Some(applied) = &r.applied
        && applied.net != r.planned.net
        && r.run.kind == crate::plan::RunKind::Sync
    {
        notes.push(format!(
            "As planned the run was worth {} net; the figures above are what was pushed.",
            r.amount(r.planned.net, true, MINUS)
        ));
    }
    for n in notes {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(&n));
    }
}

/// The short list at the top of what needs someone, each linking to its section.
fn attention(h: &mut String, r: &Report) {
    let waiting = r.waiting().len();
    let failed = r.details.failed_vendors.len();
    let failed_accounts: usize = r.details.failed_accounts.values().map(Vec::len).sum();
    let failed_writes = r.failed_writes().len();
    let reads = r.details.read_failures.len();
    let unmapped = r.details.unmapped.len();
    let gone = r.gone_accounts().len();
    let skipped = r.skipped().len();
    let mut items = Vec::new();
    // Each item in its singular and plural: "1 change waits", "3 changes wait".
    let mut item = |n: usize, one: &str, many: &str, anchor: &str| {
        if n > 0 {
            let text = if n == 1 { one } else { many };
            items.push(format!("<li><a href=\"#{anchor}\"><b>{n}</b> {text}</a></li>"));
        }
    };
    item(waiting, "change waits for a decision", "changes wait for a decision", "held");
    if r.run.dry_run {
        item(r.held().len(), "change would be held for review", "changes would be held for review", "held");
    }
    item(
        failed,
        "vendor failed: nothing was planned for it",
        "vendors failed: nothing was planned for them",
        "failures",
    );
    item(
        failed_accounts,
        "vendor account could not be read",
        "vendor accounts could not be read",
        "failures",
    );
    item(failed_writes, "write to the PSA failed", "writes to the PSA failed", "failures");
    item(reads, "PSA read failed", "PSA reads failed", "failures");
    item(skipped, "line skipped", "lines skipped", "skipped");
    item(
        r.findings().len(),
        "line with a pricing or margin issue",
        "lines with a pricing or margin issue",
        "pricing",
    );
    item(
        r.commitments_ending(super::COMMITMENT_DAYS).len(),
        "commitment ends in the next 30 days",
        "commitments end in the next 30 days",
        "commitments",
    );
    item(
        unmapped,
        "vendor account not mapped to a company",
        "vendor accounts not mapped to a company",
        "unmapped",
    );
    item(
        gone,
        "mapped account no longer listed by its vendor",
        "mapped accounts no longer listed by their vendor",
        "gone",
    );
    if items.is_empty() {
        h.push_str("<section class=\"attention ok\" aria-label=\"Needs attention\"><p>Nothing waits for a person.</p></section>\n");
    } else {
        let _ = write!(
            h,
            "<section class=\"attention\" aria-label=\"Needs attention\"><h2>Needs attention</h2><ul>{}</ul></section>\n",
            items.join("")
        );
    }
}

fn charts(h: &mut String, r: &Report) {
    let vendors: Vec<(String, Decimal)> =
        r.headline().by_vendor.iter().map(|(v, n)| (v.clone(), n.0)).collect();
    let customers: Vec<(String, Decimal)> =
        r.largest_customers(LARGEST).into_iter().map(|(c, n)| (c.to_string(), n)).collect();
    h.push_str("<section class=\"charts\">\n");
    let _ = write!(
        h,
        "<figure><figcaption>Net monthly revenue change by vendor</figcaption>{}</figure>\n",
        bar_chart("vendor-chart", &vendors, r)
    );
    let _ = write!(
        h,
        "<figure><figcaption>Customers with the largest changes</figcaption>{}</figure>\n",
        bar_chart("customer-chart", &customers, r)
    );
    h.push_str("</section>\n");
}

/// A horizontal bar chart of signed amounts around a zero line, each row its label, its bar
/// and its amount. Plain HTML boxes, so the text keeps its size on a phone (an SVG scales its
/// text down with it) and a few bars need no charting library.
fn bar_chart(id: &str, rows: &[(String, Decimal)], r: &Report) -> String {
    if rows.iter().all(|(_, v)| v.is_zero()) {
        return "<p class=\"empty\">No revenue change.</p>".to_string();
    }
    let max = rows.iter().map(|(_, v)| v.abs()).max().unwrap_or(Decimal::ONE);
    let max = f64::try_from(max).unwrap_or(1.0).max(f64::MIN_POSITIVE);
    let negative = rows.iter().any(|(_, v)| *v < Decimal::ZERO);
    let positive = rows.iter().any(|(_, v)| *v > Decimal::ZERO);
    // Where zero sits on the track, and how many percent of it the largest amount spans.
    let (zero, span) = match (negative, positive) {
        (true, true) => (50.0, 50.0),
        (true, false) => (100.0, 100.0),
        _ => (0.0, 100.0),
    };
    let mut html = format!("<div id=\"{id}\" class=\"chart\">");
    for (label, value) in rows {
        let v = f64::try_from(*value).unwrap_or(0.0);
        let width = (v.abs() / max * span).max(if v == 0.0 { 0.0 } else { 0.5 });
        let left = if v < 0.0 { zero - width } else { zero };
        let class = if v < 0.0 { "neg" } else { "pos" };
        let amount = r.amount(*value, true, MINUS);
        let _ = write!(
            html,
            "<div class=\"bar-row\"><span class=\"label\" title=\"{}\">{}</span><span class=\"track\">\
             <span class=\"zero\" style=\"left:{zero:.1}%\"></span>\
             <span class=\"bar {class}\" style=\"left:{left:.2}%;width:{width:.2}%\" title=\"{}: {amount}\"></span></span>\
             <span class=\"amount {class}\">{amount}</span></div>",
            esc(label),
            esc(&shorten(label, 32)),
            esc(label),
        );
    }
    html.push_str("</div>");
    html
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}\u{2026}")
    }
}

fn changes(h: &mut String, r: &Report) {
    h.push_str("<section id=\"changes\">\n<h2>Changes by company</h2>\n");
    let by_company = r.changes_by_company();
    if by_company.is_empty() {
        h.push_str("<p class=\"empty\">No quantity changes in this run.</p>\n");
    } else {
        let _ = write!(
            h,
            "<div class=\"scroll\"><table class=\"lines\">\n<thead><tr><th>{}</th><th>Product</th><th>Vendor</th>\
             <th class=\"num\">PSA qty</th><th class=\"num\">Vendor qty</th><th class=\"num\">Billed</th>\
             <th class=\"num\">Unit price</th><th class=\"num\">Monthly change</th><th>Status</th></tr></thead>\n",
            esc(&crate::output::wording::container_heading(r.words))
        );
        for (company, lines) in &by_company {
            let net = r.headline().by_company.get(*company).map(|n| n.0).unwrap_or_default();
            let _ = write!(
                h,
                "<tbody><tr class=\"company\"><th colspan=\"7\" scope=\"rowgroup\">{}</th>\
                 <th class=\"num\">{}</th><th></th></tr>\n",
                esc(company),
                if net.is_zero() { String::new() } else { r.amount(net, true, MINUS) }
            );
            for c in lines {
                line_row(h, r, c);
            }
            h.push_str("</tbody>\n");
        }
        h.push_str("</table></div>\n");
    }
    let unchanged: Vec<&ChangeRecord> =
        r.changes.iter().filter(|c| c.line.action == Action::Unchanged).collect();
    if !unchanged.is_empty() {
        let _ = write!(
            h,
            "<details><summary>{} {} their vendors</summary><div class=\"scroll\"><table>\
             <thead><tr><th>Company</th><th>{}</th><th>Product</th><th class=\"num\">Quantity</th></tr></thead><tbody>",
            crate::output::wording::plural(unchanged.len(), "line"),
            if unchanged.len() == 1 { "already matches" } else { "already match" },
            esc(&crate::output::wording::container_heading(r.words))
        );
        for c in unchanged {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                esc(&c.line.company),
                esc(c.line.agreement.as_deref().unwrap_or("-")),
                esc(c.line.product.as_deref().unwrap_or("-")),
                format_quantity(c.line.before)
            );
        }
        h.push_str("</tbody></table></div></details>\n");
    }
    h.push_str("</section>\n");
}

fn line_row(h: &mut String, r: &Report, c: &ChangeRecord) {
    let line = &c.line;
    let money = line.money.as_ref();
    let billed = money.map_or(String::new(), |m| {
        format!("{} &rarr; {}", format_quantity(Some(m.billed_before)), format_quantity(Some(m.billed_after)))
    });
    let unit = money.and_then(|m| m.unit_price).map_or("no price".to_string(), |p| r.amount(p, false, MINUS));
    let monthly = line.revenue_change().map_or("&ndash;".to_string(), |m| r.amount(m, true, MINUS));
    let class = match line.revenue_change() {
        Some(m) if m > Decimal::ZERO => "num pos",
        Some(m) if m < Decimal::ZERO => "num neg",
        _ => "num",
    };
    let note = crate::output::wording::note(r.words, line);
    let _ = write!(
        h,
        "<tr class=\"{}\" data-change=\"{}\"><td class=\"c-container\">{}</td><td class=\"product c-product\">{}</td>\
         <td class=\"c-vendor\">{}</td><td class=\"num c-psa\">{}</td><td class=\"num c-vqty\">{}</td>\
         <td class=\"num c-billed\">{billed}</td><td class=\"num c-unit\">{unit}</td><td class=\"{class} c-monthly\">{monthly}</td>\
         <td class=\"c-status\">{}{}</td></tr>\n",
        line.action.as_str(),
        c.id,
        esc(line.agreement.as_deref().unwrap_or("-")),
        esc(line.product.as_deref().unwrap_or("-")),
        esc(&line.vendors().join(", ")),
        format_quantity(line.before),
        line.after.map_or("-".to_string(), |q| q.to_string()),
        esc(&status(r, c)),
        if note.is_empty() {
            String::new()
        } else {
            format!("<br><span class=\"small\">{}</span>", esc(&note))
        },
    );
}

/// Where a line stands, in words, and how many sends its write took when more than one.
fn status(r: &Report, c: &ChangeRecord) -> String {
    let state = line_state(r, c);
    match c.attempts.len() {
        n if n > 1 => format!("{state} (sent {n} times: the answers were lost)"),
        _ => state,
    }
}

fn line_state(r: &Report, c: &ChangeRecord) -> String {
    let action = c.line.action;
    if r.run.dry_run {
        return match action {
            Action::Add => "would add",
            Action::Update => "would update",
            Action::Held => "would be held for review",
            Action::Unchanged => "unchanged",
            Action::Skipped => "skipped",
        }
        .to_string();
    }
    match (action, c.state) {
        (_, ChangeState::Waiting) => format!("held: waits for review (change {})", c.id),
        (Action::Held, ChangeState::Approved | ChangeState::Applied) => "held, then approved".to_string(),
        (Action::Held, ChangeState::Rejected) => "held, then rejected".to_string(),
        (Action::Held, ChangeState::Superseded) => "held; a later run replaced it".to_string(),
        (Action::Held, ChangeState::Repeat) => "held (the same as an earlier waiting change)".to_string(),
        (Action::Add, ChangeState::Applied) => "added".to_string(),
        (Action::Update, ChangeState::Applied) => "updated".to_string(),
        (_, ChangeState::Failed) => "failed".to_string(),
        (Action::Add | Action::Update, ChangeState::Planned) => "not pushed".to_string(),
        (_, state) => state.as_str().to_string(),
    }
}

/// Pricing and margin issues, beside the quantity changes: what the vendor charges, what the
/// PSA line costs and sells for; and the distributor commitments that end soon.
fn pricing(h: &mut String, r: &Report) {
    let findings = r.findings();
    let _ = write!(h, "<section id=\"pricing\">\n<h2>Pricing and margin issues ({})</h2>\n", findings.len());
    if findings.is_empty() {
        h.push_str(
            "<p class=\"empty\">No cost differs from the vendor's, and nothing sells below cost.</p>\n",
        );
    } else {
        h.push_str(
            "<div class=\"scroll\"><table class=\"pricing\"><thead><tr><th>Company</th><th>Product</th>\
             <th class=\"num\">Vendor cost</th><th class=\"num\">PSA cost</th><th class=\"num\">Price</th><th>Issue</th>\
             </tr></thead><tbody>\n",
        );
        let money = |d: Option<Decimal>| d.map_or("&ndash;".to_string(), |d| r.amount(d, false, MINUS));
        for c in findings {
            let line = &c.line;
            let m = line.money.as_ref();
            let issues: Vec<String> = line.findings.iter().map(crate::output::wording::finding).collect();
            let _ = write!(
                h,
                "<tr data-change=\"{}\"><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td>{}</td></tr>\n",
                c.id,
                esc(&line.company),
                esc(line.product.as_deref().unwrap_or("-")),
                money(crate::reconcile::pricing::vendor_cost(&line.sources)),
                money(m.and_then(|m| m.unit_cost)),
                money(m.and_then(|m| m.unit_price)),
                esc(&issues.join("; ")),
            );
        }
        h.push_str("</tbody></table></div>\n");
    }
    let ending = r.commitments_ending(super::COMMITMENT_DAYS);
    let _ =
        write!(h, "<h3 id=\"commitments\">Commitments ending in the next 30 days ({})</h3>\n", ending.len());
    if ending.is_empty() {
        h.push_str("<p class=\"empty\">No annual or multi-year commitment ends in the next 30 days.</p>\n");
    } else {
        h.push_str(
            "<div class=\"scroll\"><table class=\"commitments\"><thead><tr><th>Ends</th><th>Company</th><th>Vendor</th>\
             <th>Product</th><th class=\"num\">Seats</th><th>Term</th></tr></thead><tbody>\n",
        );
        for e in ending {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
                e.ends,
                esc(e.company),
                esc(e.vendor),
                esc(e.product),
                e.quantity,
                esc(e.term.unwrap_or("-")),
            );
        }
        h.push_str("</tbody></table></div>\n");
    }
    h.push_str("</section>\n");
}

/// The most gap rows of the latest audited month the page lists.
const AUDIT_ROWS: usize = 25;

/// `recon audit`: the leak of each recent month on top, then the latest month's gaps.
fn audits(h: &mut String, r: &Report) {
    h.push_str("<section id=\"audit\">\n<h2>Vendor invoices beside billing</h2>\n");
    let Some(latest) = r.audits.first() else {
        h.push_str(
            "<p class=\"empty\">No month has been audited yet: <code>recon audit --period YYYY-MM</code> compares \
             what Pax8, Sherweb and Sophos invoiced with what the PSA bills.</p>\n</section>\n",
        );
        return;
    };
    let money = |d: Decimal| r.amount(d, false, MINUS);
    h.push_str(
        "<div class=\"scroll\"><table class=\"audits\"><thead><tr><th>Month</th><th class=\"num\">Leak</th>\
         <th class=\"num\">Under-billed</th><th class=\"num\">Unmapped</th><th class=\"num\">Over-billed</th>\
         <th class=\"num\">Invoiced</th><th>Vendors</th></tr></thead><tbody>\n",
    );
    for a in &r.audits {
        let vendors: Vec<String> =
            a.vendors
                .iter()
                .map(|(v, state)| {
                    if state == "audited" { v.clone() } else { format!("{v} ({})", state.replace('_', " ")) }
                })
                .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num leak\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
            a.period,
            money(a.totals.leak),
            money(a.totals.under_billed),
            money(a.totals.unmapped),
            money(a.totals.over_billed),
            money(a.totals.invoiced),
            esc(&vendors.join(", ")),
        );
    }
    h.push_str("</tbody></table></div>\n");
    let gaps: Vec<&crate::audit::Row> =
        latest.rows.iter().filter(|g| g.finding != crate::audit::Finding::Matched).collect();
    let _ = write!(h, "<h3 id=\"audit-gaps\">Gaps in {} ({})</h3>\n", latest.period, gaps.len());
    if gaps.is_empty() {
        h.push_str("<p class=\"empty\">Every line bills what the vendor invoiced.</p>\n");
    } else {
        h.push_str(
            "<div class=\"scroll\"><table class=\"audit-gaps\"><thead><tr><th>Finding</th><th>Customer</th>\
             <th>Product</th><th class=\"num\">Vendor</th><th class=\"num\">PSA</th><th class=\"num\">Gap</th>\
             <th class=\"num\">Amount</th></tr></thead><tbody>\n",
        );
        let quantity = |q: Option<Decimal>| {
            q.map_or("&ndash;".to_string(), |q| esc(&crate::plan::format_quantity(Some(q))))
        };
        for g in gaps.iter().take(AUDIT_ROWS) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                esc(&g.finding.as_str().replace('_', "-")),
                esc(g.company.as_deref().unwrap_or(&g.account_name)),
                esc(g.product.as_deref().unwrap_or(&g.service)),
                quantity(Some(g.vendor_quantity)),
                quantity(g.psa_quantity),
                g.gap_quantity
                    .map_or("&ndash;".to_string(), |q| esc(&crate::output::wording::signed_quantity(q))),
                g.gap_amount.map_or("&ndash;".to_string(), money),
            );
        }
        h.push_str("</tbody></table></div>\n");
        if gaps.len() > AUDIT_ROWS {
            let _ = write!(
                h,
                "<p>and {} more: <code>recon audit --period {}</code> lists them all.</p>\n",
                gaps.len() - AUDIT_ROWS,
                latest.period
            );
        }
    }
    h.push_str("</section>\n");
}

fn waiting(h: &mut String, r: &Report) {
    h.push_str("<section id=\"waiting\">\n<h2>What waits for a person</h2>\n");
    waiting_held(h, r);
    waiting_failures(h, r);
    waiting_skipped(h, r);
    waiting_unmapped(h, r);
    waiting_gone(h, r);
    waiting_excluded(h, r);
    waiting_warnings(h, r);
    h.push_str("</section>\n");
}

/// The changes the policy held, each with the command that decides it.
fn waiting_held(h: &mut String, r: &Report) {
    let held = r.held();
    let _ = write!(h, "<h3 id=\"held\">Held for review ({})</h3>\n", held.len());
    if held.is_empty() {
        h.push_str("<p class=\"empty\">Nothing was held by the [sync] policy.</p>\n");
    } else {
        h.push_str(
            "<div class=\"scroll\"><table class=\"held\"><thead><tr><th class=\"num\">Change</th><th>Company</th><th>Product</th>\
             <th class=\"num\">PSA qty</th><th class=\"num\">Vendor qty</th><th class=\"num\">Monthly change</th><th>Why</th>\
             <th>Decide with</th></tr></thead><tbody>\n",
        );
        for c in held {
            let decide = if r.waits(c) {
                format!("<code>recon approve {0}</code> or <code>recon reject {0}</code>", c.id)
            } else if r.run.dry_run {
                "a real <code>recon sync</code> holds it for review".to_string()
            } else {
                esc(&status(r, c))
            };
            let _ = write!(
                h,
                "<tr data-change=\"{}\"><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"wide\">{}</td><td>{decide}</td></tr>\n",
                c.id,
                c.id,
                esc(&c.line.company),
                esc(c.line.product.as_deref().unwrap_or("-")),
                format_quantity(c.line.before),
                c.line.after.map_or("-".to_string(), |q| q.to_string()),
                c.line.revenue_change().map_or("&ndash;".to_string(), |m| r.amount(m, true, MINUS)),
                esc(&crate::output::wording::line_reason(r.words, &c.line)),
            );
        }
        h.push_str("</tbody></table></div>\n");
    }
}

/// Every vendor, account, read and write that failed, and the run's own error.
fn waiting_failures(h: &mut String, r: &Report) {
    let mut failures: Vec<String> = Vec::new();
    for (vendor, why) in &r.details.failed_vendors {
        failures.push(format!("<li><b>{}</b>: {}</li>", esc(vendor), esc(why)));
    }
    for (vendor, accounts) in &r.details.failed_accounts {
        for a in accounts {
            failures.push(format!("<li><b>{}</b>: {}</li>", esc(vendor), esc(a)));
        }
    }
    for f in &r.details.read_failures {
        failures.push(format!("<li>{}</li>", esc(f)));
    }
    for c in r.failed_writes() {
        failures.push(format!(
            "<li>writing {} {} failed: {}</li>",
            esc(&c.line.company),
            esc(c.line.product.as_deref().unwrap_or("")),
            esc(c.error.as_deref().unwrap_or("no answer recorded"))
        ));
    }
    if let Some(error) = &r.run.error {
        failures.push(format!("<li>the run: {}</li>", esc(error)));
    }
    let _ = write!(h, "<h3 id=\"failures\">Failures ({})</h3>\n", failures.len());
    if failures.is_empty() {
        h.push_str("<p class=\"empty\">No vendor, read or write failed.</p>\n");
    } else {
        let _ = write!(h, "<ul class=\"failures\">{}</ul>\n", failures.join(""));
    }
}

/// The lines skipped, with why.
fn waiting_skipped(h: &mut String, r: &Report) {
    let skipped = r.skipped();
    let _ = write!(h, "<h3 id=\"skipped\">Skipped lines ({})</h3>\n", skipped.len());
    if skipped.is_empty() {
        h.push_str("<p class=\"empty\">No line was skipped.</p>\n");
    } else {
        let _ = write!(
            h,
            "<div class=\"scroll\"><table><thead><tr><th>Company</th><th>{}</th><th>Product</th><th>Vendor</th><th>Why</th></tr></thead><tbody>\n",
            esc(&crate::output::wording::container_heading(r.words))
        );
        for c in skipped {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&c.line.company),
                esc(c.line.agreement.as_deref().unwrap_or("-")),
                esc(c.line.product.as_deref().unwrap_or("-")),
                esc(&c.line.vendors().join(", ")),
                esc(&crate::output::wording::line_reason(r.words, &c.line)),
            );
        }
        h.push_str("</tbody></table></div>\n");
    }
}

/// The accounts the vendors listed that nobody maps: their usage is not billed.
fn waiting_unmapped(h: &mut String, r: &Report) {
    let unmapped = &r.details.unmapped;
    let _ = write!(h, "<h3 id=\"unmapped\">Accounts not mapped ({})</h3>\n", unmapped.len());
    if unmapped.is_empty() {
        h.push_str("<p class=\"empty\">Every account the vendors listed is mapped or excluded.</p>\n");
    } else {
        h.push_str(
            "<p class=\"small\">Their usage is not billed. Map each with <code>recon map accounts --vendor VENDOR --set ID --company COMPANY</code>, \
             or exclude it with <code>--exclude ID</code>.</p>\n",
        );
        account_table(h, "unmapped", unmapped);
    }
}

/// The mapped accounts their vendors no longer list: their lines were left alone.
fn waiting_gone(h: &mut String, r: &Report) {
    let gone = r.gone_accounts();
    let _ = write!(h, "<h3 id=\"gone\">Accounts no longer listed ({})</h3>\n", gone.len());
    if gone.is_empty() {
        h.push_str("<p class=\"empty\">Every mapped account was listed by its vendor.</p>\n");
    } else {
        h.push_str(
            "<p class=\"small\">Their lines were left alone, never zeroed. If one is gone for good: <code>recon map accounts --vendor VENDOR --unmap ID</code>.</p>\n",
        );
        account_table(h, "gone", &gone);
    }
}

/// The accounts excluded from billing, with why.
fn waiting_excluded(h: &mut String, r: &Report) {
    let excluded = &r.details.excluded;
    let _ = write!(h, "<h3 id=\"excluded\">Excluded from billing ({})</h3>\n", excluded.len());
    if excluded.is_empty() {
        h.push_str("<p class=\"empty\">No account is excluded.</p>\n");
    } else {
        h.push_str("<div class=\"scroll\"><table><thead><tr><th>Vendor</th><th>Account</th><th>Reason</th></tr></thead><tbody>\n");
        for e in excluded {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&e.vendor),
                esc(&e.account_name),
                esc(e.reason.as_deref().unwrap_or("-"))
            );
        }
        h.push_str("</tbody></table></div>\n");
    }
}

/// The other warnings and notices of the run, when there are any.
fn waiting_warnings(h: &mut String, r: &Report) {
    let other: Vec<String> = r
        .details
        .warnings
        .iter()
        .filter(|w| {
            !matches!(w, crate::plan::Reason::AccountGone { .. } | crate::plan::Reason::AccountFailed { .. })
        })
        .map(|w| crate::output::wording::warning(r.words, w))
        .chain(r.details.notices.iter().cloned())
        .collect();
    if !other.is_empty() {
        let _ = write!(
            h,
            "<h3 id=\"warnings\">Warnings ({})</h3>\n<ul>{}</ul>\n",
            other.len(),
            other.iter().map(|w| format!("<li>{}</li>", esc(w))).collect::<String>()
        );
    }
}

/// Vendor accounts as a table: vendor, name, id.
fn account_table(h: &mut String, class: &str, accounts: &[crate::plan::AccountRef]) {
    let _ = write!(
        h,
        "<div class=\"scroll\"><table class=\"{class}\"><thead><tr><th>Vendor</th><th>Account</th><th>Id</th></tr></thead><tbody>\n"
    );
    for a in accounts {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
            esc(&a.vendor),
            esc(&a.name),
            esc(&a.id)
        );
    }
    h.push_str("</tbody></table></div>\n");
}

fn sign_class(amount: Decimal) -> &'static str {
    if amount > Decimal::ZERO {
        "pos"
    } else if amount < Decimal::ZERO {
        "neg"
    } else {
        ""
    }
}

/// HTML-escaped text: a company called `<script>` is text, in an element or an attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root{--ink:#1d2433;--muted:#5b6475;--line:#dfe3ea;--bg:#f6f7f9;--card:#fff;--pos:#137a45;--neg:#b42318;--accent:#2753c7;--warn:#8a5a00}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 20px 40px}
header{margin-bottom:16px}
.eyebrow{margin:0;color:var(--muted);text-transform:uppercase;letter-spacing:.08em;font-size:12px;font-weight:600}
h1{margin:2px 0 6px;font-size:28px}
h2{font-size:19px;margin:28px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:22px 0 8px}
.meta{margin:0;color:var(--muted)}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:13px;font-weight:600;margin-right:6px}
.badge.pushed{background:#e3f4ea;color:var(--pos)}
.badge.dry{background:#fff4d6;color:var(--warn)}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px;margin:18px 0 8px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;display:flex;flex-direction:column;gap:2px}
.kpi.main{border-color:#c4cde0}
.kpi .label{color:var(--muted);font-size:13px}
.kpi .value{font-size:24px;font-weight:700;font-variant-numeric:tabular-nums}
.kpi.main .value{font-size:30px}
.small{color:var(--muted);font-size:12.5px}
.pos{color:var(--pos)}.neg{color:var(--neg)}
.counts{margin:6px 0 0;color:var(--muted)}
.counts b{color:var(--ink)}
.note{margin:6px 0;color:var(--warn);font-size:14px}
.attention{background:#fff8e6;border:1px solid #f0d89a;border-radius:10px;padding:10px 16px;margin:16px 0}
.attention h2{border:0;margin:4px 0;padding:0;font-size:16px}
.attention ul{margin:4px 0;padding-left:20px}
.attention.ok{background:#eef8f1;border-color:#b9e0c6}
.attention.ok p{margin:4px 0}
a{color:var(--accent)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px;margin-top:16px;align-items:start}
td.product{white-space:nowrap}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
figcaption{font-weight:600;margin-bottom:8px}
.chart .bar-row{display:grid;grid-template-columns:minmax(0,36%) minmax(0,1fr) auto;gap:10px;align-items:center;margin:5px 0;font-size:14px}
.chart .label{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.chart .track{position:relative;height:18px}
.chart .zero{position:absolute;top:-4px;bottom:-4px;width:1px;background:#9aa3b2}
.chart .bar{position:absolute;top:0;bottom:0;border-radius:2px;-webkit-print-color-adjust:exact;print-color-adjust:exact}
.chart .bar.pos{background:var(--pos)}.chart .bar.neg{background:var(--neg)}
.chart .amount{font-weight:600;font-variant-numeric:tabular-nums;text-align:right;white-space:nowrap}
.scroll{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:7px 10px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
thead th{background:#eef1f5;font-size:12.5px;color:var(--muted);font-weight:600;white-space:nowrap}
tr.company th{background:#f8f9fb;font-size:14.5px;color:var(--ink)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.held td{background:#fffbf0}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eef1f5;padding:1px 4px;border-radius:4px}
.empty{color:var(--muted);font-style:italic}
details{margin-top:12px}
summary{cursor:pointer;color:var(--muted)}
.failures li{margin:3px 0}
footer{margin-top:36px;color:var(--muted);font-size:13px;border-top:1px solid var(--line);padding-top:12px}
@media (max-width:640px){main{padding:14px 10px}.kpis{grid-template-columns:1fr 1fr;gap:8px}.kpi{padding:10px 12px}.kpi.main{grid-column:1/-1}h1{font-size:23px}.kpi .value{font-size:20px}.kpi.main .value{font-size:24px}
.charts{grid-template-columns:minmax(0,1fr)}
.scroll{overflow:visible;background:none;border:0}
table,tbody,tr,td{display:block;width:100%}
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
tbody tr{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));column-gap:10px;background:var(--card);border:1px solid var(--line);border-radius:8px;margin:0 0 8px;padding:6px 10px}
tr.held{background:#fffbf0}tr.held td{background:none}
td{border:0;padding:1px 0;font-size:13.5px;line-height:1.3;white-space:normal;overflow-wrap:anywhere}
td.num,td.product{text-align:left;white-space:normal}
td::before{content:attr(data-label);display:block;color:var(--muted);font-size:11px;line-height:1.25}
td[data-label=""]::before{display:none}
td:last-child,td.wide{grid-column:1/-1}
table.lines tbody tr{grid-template-columns:repeat(4,minmax(0,1fr));grid-template-areas:"product product product monthly" "container container vendor vendor" "psa vqty billed unit" "status status status status"}
td.c-product,td.c-monthly,td.c-container,td.c-vendor{padding:0}
td.c-product::before,td.c-monthly::before,td.c-container::before,td.c-vendor::before{display:none}
td.c-product{grid-area:product;font-weight:600;font-size:14.5px}
td.c-monthly{grid-area:monthly;text-align:right;font-weight:700;font-size:14.5px}
td.c-container{grid-area:container;color:var(--muted);font-size:12.5px}
td.c-vendor{grid-area:vendor;color:var(--muted);font-size:12.5px;text-align:right}
td.c-psa{grid-area:psa}td.c-vqty{grid-area:vqty}td.c-billed{grid-area:billed}td.c-unit{grid-area:unit}
td.c-status{grid-area:status;font-size:12.5px}
tr.company{display:flex;justify-content:space-between;background:none;border:0;padding:12px 2px 4px;margin:0}
tr.company th{background:none;border:0;padding:0;font-size:15px}
tr.company th:empty{display:none}}
@media print{body{background:#fff;font-size:12px}main{max-width:none;padding:0}.scroll{overflow:visible;border:0}.kpi,figure{break-inside:avoid}tr{break-inside:avoid}a{color:inherit;text-decoration:none}details{display:none}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_is_escaped() {
        assert_eq!(esc("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(esc("O'Brien & Sons \"Main\""), "O&#39;Brien &amp; Sons &quot;Main&quot;");
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis() {
        assert_eq!(shorten("Acme", 26), "Acme");
        assert_eq!(shorten("Brightwater Manufacturing Inc.", 12), "Brightwater\u{2026}");
    }
}
