//! `recon status`: per vendor, its status, mapping counts, last sync and held changes.
//! Reads only the local database (and the config, to list vendors not yet connected).

use super::{Context, EXIT_OK};
use crate::model::VendorStatus;
use serde::Serialize;
use std::collections::BTreeMap;
use tabled::Tabled;

/// One vendor in a table.
#[derive(Tabled)]
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
    last_net: String,
}

/// One vendor in `--json`: counts are numbers, times RFC 3339 or null.
#[derive(Serialize)]
struct StatusJson {
    vendor: String,
    status: VendorStatus,
    accounts: usize,
    accounts_mapped: usize,
    services: usize,
    services_mapped: usize,
    last_sync_at: Option<chrono::DateTime<chrono::Utc>>,
    last_result: Option<String>,
    held: usize,
    #[serde(serialize_with = "crate::model::decimal_number")]
    last_net: Option<rust_decimal::Decimal>,
}

pub fn run(ctx: &Context) -> anyhow::Result<u8> {
    // Status works without a config file (from the database alone) so cron mail can be read.
    let config = if ctx.config_path.exists() { Some(ctx.config()?) } else { None };
    let w = config.as_ref().map_or(crate::output::wording::Wording::NEUTRAL, super::wording);
    let store = ctx.store_to_read(config.as_ref())?;
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
        rows.push(StatusJson {
            status: record.as_ref().map_or(VendorStatus::Inactive, |r| r.status),
            accounts: counts.accounts,
            accounts_mapped: counts.accounts_mapped,
            services: counts.services,
            services_mapped: counts.services_mapped,
            last_sync_at: record.as_ref().and_then(|r| r.last_sync_at),
            last_result: record.as_ref().and_then(|r| r.last_result.clone()),
            held: held.get(&name).copied().unwrap_or(0),
            last_net: last_net.get(&name).copied(),
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
        let table: Vec<StatusRow> = rows
            .iter()
            .map(|r| StatusRow {
                vendor: r.vendor.clone(),
                status: r.status.as_str().to_string(),
                accounts: format!("{}/{}", r.accounts_mapped, r.accounts),
                services: format!("{}/{}", r.services_mapped, r.services),
                last_sync: r
                    .last_sync_at
                    .map_or_else(|| "never".to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
                result: r.last_result.clone().unwrap_or_else(|| "-".into()),
                held: r.held,
                last_net: r.last_net.map_or_else(|| "-".into(), crate::output::wording::signed_amount),
            })
            .collect();
        crate::out!("{}", crate::output::table(&table, w));
    }
    Ok(EXIT_OK)
}
