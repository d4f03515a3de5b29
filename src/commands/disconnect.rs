//! `recon disconnect <vendor>`: forget the vendor's accounts, services and mappings.
//! Runs and changes stay: they are the history of what was billed.

use super::{Context, EXIT_OK, usage};

pub fn run(ctx: &Context, vendor: &str) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let mut store = ctx.store(Some(&config))?;
    if store.vendor(vendor)?.is_none() {
        return Err(usage(format!("{vendor} is not connected")));
    }
    let counts = store.mapping_counts(vendor)?;
    store.disconnect(vendor)?;
    if ctx.json {
        crate::output::print_json(&serde_json::json!({
            "vendor": vendor,
            "status": "inactive",
            "accounts_forgotten": counts.accounts,
            "account_mappings_removed": counts.accounts_mapped,
            "service_mappings_removed": counts.services_mapped,
        }))?;
    } else {
        crate::out!(
            "Disconnected {vendor}: forgot {} accounts, {} account mappings and {} service mappings. History is kept.",
            counts.accounts,
            counts.accounts_mapped,
            counts.services_mapped
        );
    }
    Ok(EXIT_OK)
}
