//! `recon connect <vendor>`: the connect operation (`ops::connect`: fetch the vendor's
//! accounts and services, store them, auto-match accounts to PSA companies by exact name),
//! then what it found, printed.

use super::{Context, EXIT_OK, psa, vendor_config};
use crate::model::ProblemKind;
use crate::ops::connect::{self, Connected};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Serialize)]
struct ConnectReport {
    vendor: String,
    status: String,
    accounts: usize,
    services: Vec<String>,
    /// As the text shows them: the key, or the name for an opaque key (a distributor's
    /// product id).
    #[serde(skip)]
    service_labels: Vec<String>,
    auto_matched: usize,
    needs_agreement: Vec<String>,
    ambiguous_company: Vec<String>,
    ambiguous_account: Vec<String>,
    /// Ids shared by records that differ: not stored, not matched (each described).
    conflicting_ids: Vec<String>,
    /// Accounts whose usage could not be read, or whose counts are missing.
    problems: Vec<String>,
    unmatched: Vec<String>,
    /// Accounts whose name matches a company a person unmapped them from ("name (company)").
    unmapped_by_hand: Vec<String>,
    appeared: Vec<String>,
    vanished: Vec<String>,
}

pub fn run(ctx: &Context, vendor: &str) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let vendor_config = vendor_config(&config, vendor)?;
    let mut store = ctx.store(Some(&config))?;
    let http = ctx.http(&config)?;

    let fetched = connect::fetch(vendor_config, &http, ctx.today(), ctx)?;
    let psa = psa(&config, &http)?;
    let connected = connect::record(fetched, psa.as_ref(), &mut store, ctx.today(), ctx.now)?;
    let report = report(&connected);
    if ctx.json {
        crate::output::print_json(&report)?;
    } else {
        print_report(&report, connected.was_connected, super::wording(&config));
    }
    Ok(EXIT_OK)
}

/// What `connect` says of a `Connected`: accounts by name, services as people know them.
fn report(c: &Connected) -> ConnectReport {
    let snapshot = &c.snapshot;
    let conflicting: HashSet<&str> = snapshot
        .problems
        .iter()
        .filter(|p| matches!(p.kind, ProblemKind::Ambiguous { .. }))
        .map(|p| p.account_id.as_str())
        .collect();
    let name_of: HashMap<&str, &str> =
        snapshot.accounts.iter().map(|a| (a.id.as_str(), a.name.as_str())).collect();
    let name = |id: &String| name_of.get(id.as_str()).map_or_else(|| id.clone(), |n| n.to_string());
    let outcome = &c.matching;
    ConnectReport {
        vendor: c.vendor.clone(),
        status: c.status.as_str().to_string(),
        accounts: snapshot.accounts.len(),
        services: snapshot.services.iter().map(|s| s.key.clone()).collect(),
        service_labels: snapshot
            .services
            .iter()
            .map(|s| if s.key.len() > 24 { s.name.clone() } else { s.key.clone() })
            .collect(),
        auto_matched: c.new_mappings.len(),
        needs_agreement: c
            .new_mappings
            .iter()
            .filter(|m| m.agreement_id.is_none())
            .map(|m| name(&m.account_id))
            .collect(),
        ambiguous_company: outcome.ambiguous_company.iter().map(|(id, _)| name(id)).collect(),
        ambiguous_account: outcome.ambiguous_account.iter().map(name).collect(),
        conflicting_ids: snapshot
            .problems
            .iter()
            .filter(|p| matches!(p.kind, ProblemKind::Ambiguous { .. }))
            .map(crate::output::wording::problem_text)
            .collect(),
        problems: snapshot
            .problems
            .iter()
            .filter(|p| !matches!(p.kind, ProblemKind::Ambiguous { .. }))
            .map(crate::output::wording::problem_text)
            .collect(),
        unmatched: outcome.unmatched.iter().map(name).collect(),
        unmapped_by_hand: outcome
            .refused
            .iter()
            .map(|(id, company)| {
                let company =
                    c.companies.iter().find(|co| co.id == *company).map_or("?", |co| co.name.as_str());
                format!("{} ({company})", name(id))
            })
            .collect(),
        appeared: if c.was_connected {
            c.changes.appeared.iter().map(|a| a.name.clone()).collect()
        } else {
            Vec::new()
        },
        vanished: c
            .changes
            .vanished
            .iter()
            .filter(|a| !conflicting.contains(a.id.as_str()))
            .map(|a| a.name.clone())
            .collect(),
    }
}

fn print_report(r: &ConnectReport, reconnect: bool, w: crate::output::wording::Wording) {
    let verb = if reconnect { "Refreshed" } else { "Connected" };
    let text = format!(
        "{verb} {}: {}, services: {}.",
        r.vendor,
        crate::output::wording::plural(r.accounts, "account"),
        r.service_labels.join(", ")
    );
    crate::out!("{}", crate::output::wrapped(&text, 2));
    if reconnect {
        for name in &r.appeared {
            crate::out!("  new account: {name}");
        }
    }
    for name in &r.vanished {
        crate::out!("  no longer listed by {}: {name} (its mapping is kept; sync leaves it alone)", r.vendor);
    }
    for text in &r.conflicting_ids {
        crate::out!("  not stored or matched: {text}");
    }
    for text in &r.problems {
        crate::out!("  {text}");
    }
    crate::out!("Auto-matched {} by exact name.", crate::output::wording::plural(r.auto_matched, "account"));
    if !r.needs_agreement.is_empty() {
        let text = format!(
            "  {} matched companies have no single active {}; choose one with {}: {}",
            r.needs_agreement.len(),
            w.container,
            w.container_option,
            r.needs_agreement.join(", ")
        );
        crate::out!("{}", crate::output::wrapped(&text, 4));
    }
    let left =
        r.unmatched.len() + r.ambiguous_company.len() + r.ambiguous_account.len() + r.unmapped_by_hand.len();
    if left > 0 {
        crate::out!("Not matched: {left}.");
        if !r.ambiguous_company.is_empty() {
            crate::out!("  several PSA companies share the name: {}", r.ambiguous_company.join(", "));
        }
        if !r.ambiguous_account.is_empty() {
            crate::out!("  several {} accounts share the name: {}", r.vendor, r.ambiguous_account.join(", "));
        }
        if !r.unmapped_by_hand.is_empty() {
            let text = format!("  unmapped by hand, so not matched again: {}", r.unmapped_by_hand.join(", "));
            crate::out!("{}", crate::output::wrapped(&text, 4));
        }
        crate::out!("  Map the rest by hand: recon map accounts --vendor {} --unmatched", r.vendor);
    }
    crate::out!("Status: {}. Next: recon map services --vendor {}", r.status, r.vendor);
}
