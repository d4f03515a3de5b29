//! `recon companies`: ConnectWise companies with their active agreements.

use super::{Context, EXIT_OK, psa};
use crate::matching::normalize_name;
use serde::Serialize;
use std::collections::BTreeMap;
use tabled::Tabled;

#[derive(Tabled)]
struct CompanyRow {
    id: i64,
    identifier: String,
    name: String,
    #[tabled(rename = "active agreements")]
    agreements: String,
}

/// One company in `--json`: its active agreements as a list.
#[derive(Serialize)]
struct CompanyJson {
    id: i64,
    identifier: String,
    name: String,
    agreements: Vec<crate::model::BillingContainer>,
}

pub fn run(ctx: &Context, search: Option<&str>) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let w = super::wording(&config);
    let http = ctx.http(&config)?;
    let psa = psa(&config, &http)?;
    let needle = search.map(normalize_name);
    let companies: Vec<_> = psa
        .companies()?
        .into_iter()
        .filter(|c| {
            needle.as_ref().is_none_or(|n| {
                normalize_name(&c.name).contains(n.as_str())
                    || normalize_name(&c.identifier).contains(n.as_str())
            })
        })
        .collect();
    let mut agreements: BTreeMap<i64, Vec<crate::model::BillingContainer>> = BTreeMap::new();
    for a in psa.active_agreements(None, ctx.today())? {
        agreements.entry(a.company_id).or_default().push(a);
    }
    if ctx.json {
        let rows: Vec<CompanyJson> = companies
            .into_iter()
            .map(|c| CompanyJson {
                agreements: agreements.remove(&c.id).unwrap_or_default(),
                id: c.id,
                identifier: c.identifier,
                name: c.name,
            })
            .collect();
        crate::output::print_json(&rows)?;
    } else {
        let rows: Vec<CompanyRow> = companies
            .into_iter()
            .map(|c| CompanyRow {
                agreements: agreements.get(&c.id).map_or_else(
                    || "-".into(),
                    |list| {
                        list.iter()
                            .map(crate::output::wording::agreement_label)
                            .collect::<Vec<_>>()
                            .join("; ")
                    },
                ),
                id: c.id,
                identifier: c.identifier,
                name: c.name,
            })
            .collect();
        crate::out!("{}", crate::output::table(&rows, w));
        crate::out!("{}.", crate::output::wording::plural(rows.len(), "company"));
    }
    Ok(EXIT_OK)
}
