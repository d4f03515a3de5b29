//! `recon status`: per vendor, its status, mapping counts, last sync and held changes.
//! Reads only the local database (and the config, to list vendors not yet connected).

use super::{Context, EXIT_OK};
use crate::model::VendorStatus;
use serde::Serialize;
use std::collections::BTreeMap;
use tabled::Tabled;

#[derive(Serialize, Tabled)]
struct StatusRow {
    vendor: String,
    status: String,
    #[tabled(rename = "accounts mapped")]
    accounts: String,
    #[tabled(rename = "services mapped")]
    services: String,
    #[tabled(rename = "last sync")]
    last_sync: String,
    result: String,
    held: usize,
    /// The monthly revenue change the last real sync pushed for this vendor.
    #[tabled(rename = "last net")]
    #[serde(skip)]
    last_net_text: String,
    #[tabled(skip)]
    #[serde(serialize_with = "crate::plan::decimal_number")]
    last_net: Option<rust_decimal::Decimal>,
}

pub fn run(ctx: &Context) -> anyhow::Result<u8> {
    // Status works without a config file (from the database alone) so cron mail can be read.
    let config = if ctx.config_path.exists() { Some(ctx.config()?) } else { None };
    let store = ctx.store(config.as_ref())?;
    let mut held: BTreeMap<String, usize> = BTreeMap::new();
    for change in store.pending_held()? {
        for vendor in change.vendors() {
            *held.entry(vendor.to_string()).or_default() += 1;
        }
    }
    // The money of the last real sync run, per vendor, as recorded when it finished.
    let last_net = store.last_applied_net()?;
    let mut names: Vec<String> = store.vendors()?.into_iter().map(|v| v.name).collect();
    if let Some(c) = &config {
        names.extend(c.vendors.keys().cloned());
    }
    names.sort();
    names.dedup();
    let mut rows = Vec::new();
    for name in names {
        let record = store.vendor(&name)?;
        let counts = store.mapping_counts(&name)?;
        let status = record.as_ref().map_or(VendorStatus::Inactive, |r| r.status);
        rows.push(StatusRow {
            status: status.as_str().to_string(),
            accounts: format!("{}/{}", counts.accounts_mapped, counts.accounts),
            services: format!("{}/{}", counts.services_mapped, counts.services),
            last_sync: record
                .as_ref()
                .and_then(|r| r.last_sync_at)
                .map_or_else(|| "never".to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
            result: record.as_ref().and_then(|r| r.last_result.clone()).unwrap_or_else(|| "-".into()),
            held: held.get(&name).copied().unwrap_or(0),
            last_net: last_net.get(&name).copied(),
            last_net_text: last_net
                .get(&name)
                .map(|n| crate::output::wording::signed_amount(*n))
                .unwrap_or_else(|| "-".into()),
            vendor: name,
        });
    }
    if ctx.json {
        crate::output::print_json(&rows)?;
    } else if rows.is_empty() {
        crate::out!(
            "No vendors configured or connected. Start with `recon init`, then `recon connect <vendor>`."
        );
    } else {
        crate::out!("{}", crate::output::table(&rows));
    }
    Ok(EXIT_OK)
}
