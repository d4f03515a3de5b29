//! `recon disconnect <vendor>`: forget the vendor's accounts, services and mappings.
//! Runs and changes stay: they are the history of what was billed. Its changes still held
//! for review leave review (superseded, never pushed): without its mappings nothing would
//! plan them again, and an approval then would bill from a vendor recon no longer reads.

use super::{Context, EXIT_OK, usage};
use crate::output::wording::plural;
use crate::plan::ChangeState;

pub fn run(ctx: &Context, vendor: &str, yes: bool) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let mut store = ctx.store(Some(&config))?;
    if store.vendor(vendor)?.is_none() {
        return Err(usage(format!("{vendor} is not connected")));
    }
    let counts = store.mapping_counts(vendor)?;
    let held: Vec<i64> =
        store.pending_held()?.into_iter().filter(|c| c.vendors().contains(&vendor)).map(|c| c.id).collect();
    let what = format!(
        "{}, {} and {}",
        plural(counts.accounts, "account"),
        plural(counts.accounts_mapped, "account mapping"),
        plural(counts.services_mapped, "service mapping")
    );
    let held_text = match held.len() {
        0 => String::new(),
        n => format!(
            " Its {} ({}) leave review and are never pushed.",
            plural(n, "held change"),
            held.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    // A person confirms on a terminal; a script or cron says --yes (as for sync).
    let question = format!("Disconnect {vendor}? This forgets {what}.{held_text} History is kept.");
    if !super::confirm(ctx, yes, &format!("disconnecting {vendor} (it forgets {what})"), &question)? {
        crate::out!("Nothing changed.");
        return Ok(EXIT_OK);
    }
    for id in &held {
        let note = format!("{vendor} was disconnected; not pushed");
        store.set_change_state(*id, ChangeState::Superseded, None, Some(&note), ctx.now)?;
    }
    store.disconnect(vendor)?;
    if ctx.json {
        crate::output::print_json(&serde_json::json!({
            "vendor": vendor,
            "status": "inactive",
            "accounts_forgotten": counts.accounts,
            "account_mappings_removed": counts.accounts_mapped,
            "service_mappings_removed": counts.services_mapped,
            "held_changes_withdrawn": held,
        }))?;
    } else {
        crate::out!("Disconnected {vendor}: forgot {what}.{held_text} History is kept.");
    }
    Ok(EXIT_OK)
}
