//! `recon products`: the PSA's catalog (ConnectWise products, Autotask Services), and the
//! ConnectWise subcategory and type ids that `map services --create-product` needs.

use super::{Context, EXIT_OK, psa};
use crate::matching::normalize_name;
use crate::psa::CatalogTable;
use serde::Serialize;
use tabled::Tabled;

#[derive(Tabled)]
struct ProductRow {
    identifier: String,
    description: String,
    id: i64,
    price: String,
    cost: String,
    inactive: &'static str,
}

#[derive(Serialize)]
struct ProductJson {
    id: i64,
    identifier: String,
    description: String,
    #[serde(serialize_with = "crate::model::decimal_number")]
    price: Option<rust_decimal::Decimal>,
    #[serde(serialize_with = "crate::model::decimal_number")]
    cost: Option<rust_decimal::Decimal>,
    inactive: bool,
}

#[derive(Tabled)]
struct TableRow {
    id: i64,
    name: String,
    category: String,
    inactive: &'static str,
}

pub fn run(ctx: &Context, args: &crate::cli::ProductsArgs) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let w = super::wording(&config);
    let http = ctx.http(&config)?;
    let psa = psa(&config, &http)?;
    let table = match (args.subcategories, args.types) {
        (true, _) => Some(CatalogTable::Subcategories),
        (_, true) => Some(CatalogTable::Types),
        _ => None,
    };
    let needle = args.search.as_deref().map(normalize_name);
    let wanted = |texts: &[&str]| {
        needle.as_ref().is_none_or(|n| texts.iter().any(|t| normalize_name(t).contains(n.as_str())))
    };
    if let Some(table) = table {
        let admin = psa.catalog_admin().ok_or_else(|| {
            super::usage(format!(
                "--subcategories and --types list the set-up tables of a catalog recon can create products in; {} has none to list",
                psa.name()
            ))
        })?;
        let entries: Vec<_> = admin
            .tables(table)?
            .into_iter()
            .filter(|e| wanted(&[&e.name, e.category.as_deref().unwrap_or_default()]))
            .collect();
        if ctx.json {
            return crate::output::print_json(&entries).map(|()| EXIT_OK);
        }
        let rows: Vec<TableRow> = entries
            .into_iter()
            .map(|e| TableRow {
                id: e.id,
                name: e.name,
                category: e.category.unwrap_or_else(|| "-".into()),
                inactive: if e.inactive { "yes" } else { "" },
            })
            .collect();
        let flag = if table == CatalogTable::Subcategories { "--subcategory" } else { "--product-type" };
        if rows.is_empty() {
            crate::out!("Nothing found.");
        } else {
            crate::out!("{}", crate::output::table(&rows, w));
            crate::out!("Pass an id to `recon map services --create-product` as {flag} ID.");
        }
        return Ok(EXIT_OK);
    }
    let products: Vec<_> =
        psa.products(true)?.into_iter().filter(|p| wanted(&[&p.identifier, &p.description])).collect();
    if ctx.json {
        let rows: Vec<ProductJson> = products
            .into_iter()
            .map(|p| ProductJson {
                id: p.id,
                identifier: p.identifier,
                description: p.description,
                price: p.price,
                cost: p.cost,
                inactive: p.inactive,
            })
            .collect();
        return crate::output::print_json(&rows).map(|()| EXIT_OK);
    }
    let money = |d: Option<rust_decimal::Decimal>| d.map_or_else(|| "-".to_string(), |d| format!("{d:.2}"));
    let rows: Vec<ProductRow> = products
        .into_iter()
        .map(|p| ProductRow {
            price: money(p.price),
            cost: money(p.cost),
            identifier: p.identifier,
            description: p.description,
            id: p.id,
            inactive: if p.inactive { "yes" } else { "" },
        })
        .collect();
    if rows.is_empty() {
        crate::out!("No catalog product matches.");
    } else {
        crate::out!("{}", crate::output::table(&rows, w));
    }
    Ok(EXIT_OK)
}
