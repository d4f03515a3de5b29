//! `recon map accounts` and `recon map services`: list mappings, or change one.

use super::{Context, EXIT_OK, psa, usage, vendor_config};
use crate::cli::{MapAccountsArgs, MapServicesArgs};
use crate::config::Config;
use crate::matching::{self, AgreementChoice};
use crate::model::{AccountMapping, BillCustomer, Exclusion, MappedBy, ServiceMapping, VendorAccount};
use crate::store::Store;
use serde::Serialize;
use std::collections::HashMap;
use tabled::Tabled;

#[derive(Serialize, Tabled)]
struct AccountRow {
    vendor: String,
    account: String,
    #[tabled(rename = "account id")]
    account_id: String,
    company: String,
    agreement: String,
    #[tabled(rename = "mapped")]
    how: String,
    note: String,
    /// For unmatched accounts: the closest ConnectWise companies, never applied by themselves.
    #[tabled(skip)]
    suggestions: Vec<matching::Suggestion>,
    /// The companies a person unmapped this account from: never auto-matched to it again.
    #[tabled(skip)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unmapped_from: Vec<crate::model::Unmatch>,
}

#[derive(Serialize, Tabled)]
struct ServiceRow {
    vendor: String,
    service: String,
    name: String,
    product: String,
    /// The count rule of the mapping, in words (`server devices; 10 included`).
    #[tabled(display = "display_opt")]
    #[serde(skip)]
    rule: Option<String>,
    /// Never billed below this per line.
    #[tabled(display = "display_opt")]
    minimum: Option<u32>,
    /// How additions recon creates for it are billed (`-`: the `[connectwise]` default).
    #[tabled(rename = "bill", display = "display_opt")]
    bill_customer: Option<BillCustomer>,
    #[tabled(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    classes: Option<crate::model::ClassRule>,
    #[tabled(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    included: Option<u32>,
}

/// A mapping's count rule as the listing shows it; `None` for a plain count.
fn rule_words(m: &ServiceMapping) -> Option<String> {
    let words: Vec<String> = [
        m.classes.as_ref().map(|c| format!("{} devices", c.name)),
        m.included.map(|n| format!("{n} included")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!words.is_empty()).then(|| words.join("; "))
}

/// `--class NAME`: a class set of the vendor (its own, or one in its config section), else
/// one of its classes; stored with the mapping as the classes it stands for now.
fn class_rule(config: &Config, vendor: &str, name: &str) -> anyhow::Result<crate::model::ClassRule> {
    let source = config
        .vendor(vendor)
        .ok_or_else(|| usage(format!("{vendor} is not configured, so its device classes are not known")))?;
    let sets = source.source.class_sets();
    if sets.is_empty() {
        return Err(usage(format!("{vendor} gives no device classes, so --class does not apply to it")));
    }
    if let Some((set, classes)) = sets.iter().find(|(set, _)| set.eq_ignore_ascii_case(name)) {
        return Ok(crate::model::ClassRule { name: set.clone(), classes: classes.clone() });
    }
    let known: Vec<&String> =
        sets.iter().flat_map(|(_, classes)| classes).filter(|c| !c.ends_with('*')).collect();
    if let Some(class) = known.iter().find(|c| c.eq_ignore_ascii_case(name)) {
        return Ok(crate::model::ClassRule { name: class.to_string(), classes: vec![class.to_string()] });
    }
    let names: Vec<&str> = sets.iter().map(|(set, _)| set.as_str()).collect();
    Err(usage(format!(
        "--class {name:?} is not a class set or a device class of {vendor}; its sets: {}",
        names.join(", ")
    )))
}

fn display_opt<T: std::fmt::Display>(value: &Option<T>) -> String {
    value.as_ref().map_or_else(|| "-".to_string(), T::to_string)
}

/// The vendor a change applies to: `--vendor`, or the only connected vendor.
fn target_vendor(store: &Store, config: &Config, given: Option<&str>) -> anyhow::Result<String> {
    if let Some(v) = given {
        vendor_config(config, v)?;
        return Ok(v.to_string());
    }
    let connected: Vec<String> = store
        .vendors()?
        .into_iter()
        .filter(|v| v.status != crate::model::VendorStatus::Inactive)
        .map(|v| v.name)
        .collect();
    match connected.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(usage("no vendor is connected yet; run `recon connect <vendor>` first")),
        many => Err(usage(format!(
            "several vendors are connected ({}); say which with --vendor",
            many.join(", ")
        ))),
    }
}

pub fn accounts(ctx: &Context, args: &MapAccountsArgs) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let mut store = ctx.store(Some(&config))?;
    if let (Some(account), Some(company)) = (&args.set, &args.company) {
        let vendor = target_vendor(&store, &config, args.vendor.as_deref())?;
        return set_account(ctx, &config, &mut store, &vendor, account, company, args.agreement.as_deref());
    }
    if let Some(account) = &args.unmap {
        let vendor = target_vendor(&store, &config, args.vendor.as_deref())?;
        let accounts = store.accounts(&vendor)?;
        let id = match matching::resolve_account(account, &accounts) {
            Ok(a) => a.id.clone(),
            // A vanished account can still be unmapped by its id.
            Err(_) if store.account_mappings(Some(&vendor))?.iter().any(|m| &m.account_id == account) => {
                account.clone()
            }
            Err(e) => return Err(usage(e.to_string())),
        };
        let Some(removed) = store.unmap_account(&vendor, &id, ctx.now)? else {
            return Err(usage(format!("{vendor} account {account:?} is not mapped")));
        };
        let status = store.status(&vendor)?;
        let json = serde_json::json!({
            "vendor": vendor, "account": account, "account_id": id, "unmapped": true,
            "company_id": removed.company_id, "company": removed.company_name,
            "never_auto_matched_to": removed.company_id, "status": status,
        });
        report(ctx, &json, || {
            let text = format!(
                "Unmapped {vendor} account {} from {}; it is never auto-matched to {} again (`--set` maps it). \
                 If it should never bill, exclude it: recon map accounts --vendor {vendor} --exclude {}. Status: {}.",
                removed.account_name,
                removed.company_name,
                removed.company_name,
                crate::output::wording::shell_word(&id),
                status.as_str()
            );
            crate::out!("{}", crate::output::wrapped(&text, 0));
        })?;
        return Ok(EXIT_OK);
    }
    if args.auto {
        let vendor = target_vendor(&store, &config, args.vendor.as_deref())?;
        return auto(ctx, &config, &mut store, &vendor);
    }
    if let Some(account) = &args.exclude {
        let vendor = target_vendor(&store, &config, args.vendor.as_deref())?;
        let accounts = store.accounts(&vendor)?;
        let found = matching::resolve_account(account, &accounts).map_err(|e| usage(e.to_string()))?;
        let exclusion = Exclusion {
            vendor: vendor.clone(),
            account_id: found.id.clone(),
            account_name: found.name.clone(),
            reason: args.reason.clone(),
        };
        store.exclude_account(&exclusion, ctx.now)?;
        let status = store.status(&vendor)?;
        report(ctx, &serde_json::json!({"excluded": exclusion, "status": status}), || {
            crate::out!(
                "Excluded {vendor} account {} ({}): never mapped, matched or billed{}. Status: {}.",
                exclusion.account_name,
                exclusion.account_id,
                exclusion.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
                status.as_str()
            )
        })?;
        return Ok(EXIT_OK);
    }
    if let Some(account) = &args.include {
        let vendor = target_vendor(&store, &config, args.vendor.as_deref())?;
        let excluded = store.exclusions(Some(&vendor))?;
        let id = excluded
            .iter()
            .find(|e| {
                &e.account_id == account
                    || matching::normalize_name(&e.account_name) == matching::normalize_name(account)
            })
            .map(|e| e.account_id.clone())
            .ok_or_else(|| usage(format!("{vendor} account {account:?} is not excluded")))?;
        store.include_account(&vendor, &id)?;
        report(ctx, &serde_json::json!({"vendor": vendor, "included": id}), || {
            crate::out!(
                "Included {vendor} account {account} again; map it or run `recon map accounts --vendor {vendor} --auto`."
            )
        })?;
        return Ok(EXIT_OK);
    }
    list_accounts(ctx, &store, args, super::wording(&config))
}

fn report(ctx: &Context, json: &serde_json::Value, human: impl FnOnce()) -> anyhow::Result<()> {
    if ctx.json {
        crate::output::print_json(json)
    } else {
        human();
        Ok(())
    }
}

fn set_account(
    ctx: &Context,
    config: &Config,
    store: &mut Store,
    vendor: &str,
    account_ref: &str,
    company_ref: &str,
    agreement_ref: Option<&str>,
) -> anyhow::Result<u8> {
    let accounts = store.accounts(vendor)?;
    let account =
        matching::resolve_account(account_ref, &accounts).map_err(|e| usage(e.to_string()))?.clone();
    if store.exclusions(Some(vendor))?.iter().any(|e| e.account_id == account.id) {
        return Err(usage(format!(
            "{vendor} account {} is excluded; include it first: recon map accounts --vendor {vendor} --include {}",
            account.name,
            crate::output::wording::shell_word(&account.id)
        )));
    }
    let http = ctx.http(config)?;
    let psa = psa(config, &http)?;
    let companies = psa.companies()?;
    store.replace_cw_companies(&companies)?;
    let company =
        matching::resolve_company(company_ref, &companies).map_err(|e| usage(e.to_string()))?.clone();
    let agreements = psa.active_agreements(Some(company.id), ctx.today())?;
    let mut note = None;
    let agreement = match agreement_ref {
        Some(r) => Some(
            matching::resolve_agreement(r, &agreements, psa.profile().container)
                .map_err(|e| usage(e.to_string()))?
                .clone(),
        ),
        None => match matching::choose_agreement(company.id, &agreements) {
            AgreementChoice::One(a) => Some(a),
            AgreementChoice::None => {
                note = Some(format!(
                    "{} has no active {}; sync skips this account until it has one",
                    company.name,
                    psa.container_word()
                ));
                None
            }
            AgreementChoice::Several(several) => {
                let names: Vec<String> =
                    several.iter().map(crate::output::wording::agreement_label).collect();
                note = Some(format!(
                    "{} has several active {}s: {}; choose one with {}",
                    company.name,
                    psa.container_word(),
                    names.join(", "),
                    psa.profile().container_option
                ));
                None
            }
        },
    };
    let mapping = AccountMapping {
        vendor: vendor.to_string(),
        account_id: account.id.clone(),
        account_name: account.name.clone(),
        company_id: company.id,
        company_name: company.name.clone(),
        agreement_id: agreement.as_ref().map(|a| a.id),
        agreement_name: agreement.as_ref().map(|a| a.name.clone()),
        how: MappedBy::Manual,
    };
    let was = store.account_mappings(Some(vendor))?.into_iter().find(|m| m.account_id == account.id);
    let replaced = was.filter(|w| w.company_id != company.id).map(|w| w.company_name);
    store.set_account_mapping(&mapping, ctx.now)?;
    let status = store.status(vendor)?;
    if let Some(n) = &note {
        ctx.warn(n);
    }
    let json = serde_json::json!({"mapping": mapping, "note": note, "status": status, "replaced": replaced});
    report(ctx, &json, || {
        let agreement = agreement.as_ref().map_or_else(
            || format!("no {} yet", psa.container_word()),
            |a| format!("bills to {} {}", psa.container_word(), crate::output::wording::agreement_label(a)),
        );
        let was = replaced.as_ref().map(|w| format!(", was {w}")).unwrap_or_default();
        let text = format!(
            "Mapped {vendor} account {} -> {} ({agreement}){was}. Status: {}.",
            account.name,
            company.name,
            status.as_str()
        );
        crate::out!("{}", crate::output::wrapped(&text, 0));
    })?;
    Ok(EXIT_OK)
}

fn auto(ctx: &Context, config: &Config, store: &mut Store, vendor: &str) -> anyhow::Result<u8> {
    let accounts = store.accounts(vendor)?;
    let http = ctx.http(config)?;
    let psa = psa(config, &http)?;
    let companies = psa.companies()?;
    store.replace_cw_companies(&companies)?;
    let agreements = psa.active_agreements(None, ctx.today())?;
    let decided = store.decided_account_ids(vendor)?;
    let refused = store.refused_pairs(vendor)?;
    let outcome = matching::auto_match(&accounts, &companies, &decided, &refused);
    let mappings =
        crate::matching::mappings_for(vendor, &outcome.matched, &accounts, &companies, &agreements);
    store.set_account_mappings(&mappings, ctx.now)?;
    let status = store.status(vendor)?;
    report(
        ctx,
        &serde_json::json!({
            "vendor": vendor, "auto_matched": mappings.len(), "unmatched": outcome.unmatched.len(),
            "unmapped_by_hand": outcome.refused.len(), "status": status,
        }),
        || {
            let refused = match outcome.refused.len() {
                0 => String::new(),
                n => format!(
                    "; {} unmapped by hand, so not matched again",
                    crate::output::wording::plural(n, "account")
                ),
            };
            crate::out!(
                "Auto-matched {}; {} still unmatched{refused}.",
                crate::output::wording::plural(mappings.len(), &format!("more {vendor} account")),
                outcome.unmatched.len()
            )
        },
    )?;
    Ok(EXIT_OK)
}

fn list_accounts(
    ctx: &Context,
    store: &Store,
    args: &MapAccountsArgs,
    w: crate::output::wording::Wording,
) -> anyhow::Result<u8> {
    let vendors: Vec<String> = match &args.vendor {
        Some(v) => vec![v.clone()],
        None => store.vendors()?.into_iter().map(|v| v.name).collect(),
    };
    let search = args.search.as_deref().map(matching::normalize_name);
    // Suggestions come from the copy of ConnectWise's companies taken at the last connect.
    let index = matching::CompanyIndex::new(&store.cw_companies()?);
    let mut rows = Vec::new();
    for vendor in &vendors {
        let accounts = store.accounts(vendor)?;
        let mut mappings: HashMap<String, AccountMapping> =
            store.account_mappings(Some(vendor))?.into_iter().map(|m| (m.account_id.clone(), m)).collect();
        let excluded: HashMap<String, Exclusion> =
            store.exclusions(Some(vendor))?.into_iter().map(|e| (e.account_id.clone(), e)).collect();
        let mut unmapped: HashMap<String, Vec<crate::model::Unmatch>> = HashMap::new();
        for u in store.unmatches(Some(vendor))? {
            unmapped.entry(u.account_id.clone()).or_default().push(u);
        }
        let mut listed: Vec<(VendorAccount, Option<AccountMapping>, bool)> = accounts
            .into_iter()
            .map(|a| {
                let m = mappings.remove(&a.id);
                (a, m, true)
            })
            .collect();
        // Mappings whose account the vendor no longer lists.
        for (id, m) in mappings {
            let ghost = VendorAccount {
                id,
                name: m.account_name.clone(),
                status: None,
                raw: serde_json::Value::Null,
            };
            listed.push((ghost, Some(m), false));
        }
        for (account, mapping, present) in listed {
            let exclusion = excluded.get(&account.id);
            // "Nothing unmapped and nothing unexplained": an excluded account is explained.
            if args.unmatched && (mapping.is_some() || exclusion.is_some()) {
                continue;
            }
            if let Some(s) = &search
                && !matching::normalize_name(&account.name).contains(s.as_str())
            {
                continue;
            }
            let suggestions = if mapping.is_none() && exclusion.is_none() {
                index.suggest(&account.name, 3)
            } else {
                Vec::new()
            };
            let unmapped_from = unmapped.remove(&account.id).unwrap_or_default();
            let note = match (&mapping, present) {
                _ if exclusion.is_some() => match exclusion.and_then(|e| e.reason.as_deref()) {
                    Some(reason) => format!("excluded: {reason}"),
                    None => "excluded".to_string(),
                },
                (Some(_), false) => "no longer listed by the vendor".to_string(),
                (Some(m), true) if m.agreement_id.is_none() => {
                    format!("needs {}", w.container_option)
                }
                (Some(_), true) => String::new(),
                (None, _) if !unmapped_from.is_empty() => {
                    let from: Vec<&str> = unmapped_from.iter().map(|u| u.company_name.as_str()).collect();
                    format!("unmapped by hand from {}; never auto-matched to it again", from.join(", "))
                }
                (None, _) if suggestions.is_empty() => "unmatched".to_string(),
                (None, _) => {
                    let closest: Vec<String> = suggestions
                        .iter()
                        .map(|s| format!("{} (id {}, score {})", s.name, s.company_id, s.score))
                        .collect();
                    format!("unmatched; closest: {}", closest.join(", "))
                }
            };
            rows.push(AccountRow {
                vendor: vendor.clone(),
                account: account.name,
                account_id: account.id,
                company: mapping.as_ref().map_or_else(|| "-".into(), |m| m.company_name.clone()),
                agreement: mapping
                    .as_ref()
                    .and_then(|m| m.agreement_name.clone())
                    .unwrap_or_else(|| "-".into()),
                how: match (&mapping, exclusion) {
                    (_, Some(_)) => "excluded".to_string(),
                    (Some(m), None) => m.how.as_str().to_string(),
                    (None, None) if !unmapped_from.is_empty() => "unmapped".to_string(),
                    (None, None) => "-".to_string(),
                },
                note,
                suggestions,
                unmapped_from,
            });
        }
    }
    if ctx.json {
        crate::output::print_json(&rows)?;
    } else if rows.is_empty() {
        crate::out!("No accounts to show.");
    } else if crate::output::table_fits(&rows, w) {
        crate::out!("{}", crate::output::table(&rows, w));
    } else {
        print_account_blocks(&rows);
    }
    Ok(EXIT_OK)
}

/// The accounts on a terminal too narrow for the table: a line per account with its id whole
/// (to copy into `--set`), and under it what it maps to and the note, wrapped.
fn print_account_blocks(rows: &[AccountRow]) {
    for row in rows {
        let heading = format!("{}  {}  ({})", row.account.trim(), row.account_id, row.vendor);
        crate::out!("{}", crate::output::wrapped(&heading, 4));
        if row.company != "-" {
            let text = format!("    -> {} / {} ({})", row.company, row.agreement, row.how);
            crate::out!("{}", crate::output::wrapped(&text, 7));
        }
        if !row.note.is_empty() {
            crate::out!("{}", crate::output::wrapped(&format!("    {}", row.note), 4));
        }
    }
}

pub fn services(ctx: &Context, args: &MapServicesArgs) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    let mut store = ctx.store(Some(&config))?;
    if let Some(service_ref) = &args.set {
        return set_service(ctx, &config, &mut store, args, service_ref);
    }
    if let Some(service_ref) = &args.unmap {
        return unmap_service(ctx, &config, &mut store, args, service_ref);
    }
    if args.product.is_some() {
        return Err(usage(
            "--product goes with --set SERVICE (map it) or --unmap SERVICE (unmap that product only)",
        ));
    }
    list_services(ctx, &store, args, super::wording(&config))
}

/// `map services --set SERVICE`: map it to a product (found or created), beside its other
/// mappings (`--class`, `--also`) or in place of one, which a person confirms.
fn set_service(
    ctx: &Context,
    config: &Config,
    store: &mut Store,
    args: &MapServicesArgs,
    service_ref: &str,
) -> anyhow::Result<u8> {
    let (vendor, service) = target_service(store, config, args, service_ref)?;
    let http = ctx.http(config)?;
    let psa = psa(config, &http)?;
    let classes = match &args.class {
        Some(name) => Some(class_rule(config, &vendor, name)?),
        None => None,
    };
    // A class rule is one share of a count: it goes beside the service's other mappings,
    // as does `--also`; otherwise the new product replaces the old.
    let beside = args.also || classes.is_some();
    let was = store
        .service_mappings(Some(&vendor))?
        .into_iter()
        .find(|m| m.service_key == service && !beside && m.classes.is_none());
    // A mapping replaced by another product moves the service's billing: a person
    // confirms it before anything changes (before a product is created, too).
    let replacing = |ctx: &Context, was: &ServiceMapping, to: &str| -> anyhow::Result<bool> {
        let doing = format!(
            "replacing the mapping of {vendor} service {service} (was {}) with {to}",
            was.product_identifier
        );
        let question = format!(
            "Replace the mapping of {vendor} service {service} (was {}) with {to}? The next sync bills its usage to {to}.",
            was.product_identifier
        );
        super::confirm(ctx, args.yes, &doing, &question)
    };
    let product = match (&args.product, &args.create_product) {
        (Some(reference), _) => {
            let product = find_product(psa.as_ref(), reference)?;
            if let Some(was) = was.as_ref().filter(|w| w.product_id != product.id)
                && !replacing(ctx, was, &product.identifier)?
            {
                crate::out!("Nothing changed.");
                return Ok(EXIT_OK);
            }
            product
        }
        (None, Some(identifier)) => {
            // Whether this PSA can create one is said before anything is asked.
            catalog_admin(psa.as_ref())?;
            if let Some(was) = was.as_ref().filter(|w| !w.product_identifier.eq_ignore_ascii_case(identifier))
                && !replacing(ctx, was, identifier)?
            {
                crate::out!("Nothing changed.");
                return Ok(EXIT_OK);
            }
            create_product(ctx, psa.as_ref(), store, &vendor, &service, identifier, args)?
        }
        (None, None) => {
            return Err(usage(
                "--set SERVICE needs --product PRODUCT (a catalog identifier or id) or --create-product",
            ));
        }
    };
    let mapping = ServiceMapping {
        vendor: vendor.clone(),
        service_key: service.clone(),
        product_id: product.id,
        product_identifier: product.identifier.clone(),
        minimum: args.minimum,
        bill_customer: args.bill_customer.as_deref().and_then(BillCustomer::parse),
        committed_decreases: args.committed_decreases.as_deref() == Some("apply"),
        classes,
        included: args.included,
    };
    store.set_service_mapping(&mapping, beside, ctx.now)?;
    let status = store.status(&vendor)?;
    let replaced = was.filter(|w| w.product_id != mapping.product_id);
    let json = serde_json::json!({
        "mapping": mapping, "status": status,
        "replaced": replaced.as_ref().map(|w| &w.product_identifier),
    });
    report(ctx, &json, || {
        let mut text = format!(
            "Mapped {vendor} service {service}{} -> {} ({})",
            mapping
                .classes
                .as_ref()
                .map(|c| format!(" ({} devices: {})", c.name, c.classes.join(", ")))
                .unwrap_or_default(),
            product.identifier,
            product.description
        );
        if let Some(n) = mapping.included {
            text.push_str(&format!(", billing what is over {n} included"));
        }
        if let Some(was) = &replaced {
            text.push_str(&format!(
                ", was {}. The next sync bills its usage to {}; recon no longer updates {} lines from it \
                 (change any in {} that should stop billing)",
                was.product_identifier,
                product.identifier,
                was.product_identifier,
                psa.name()
            ));
        }
        text.push_str(&format!(". Status: {}.", status.as_str()));
        crate::out!("{}", crate::output::wrapped(&text, 0));
    })?;
    Ok(EXIT_OK)
}

/// The vendor (`--vendor`, or the only one connected) and the key of its service named.
fn target_service(
    store: &Store,
    config: &Config,
    args: &MapServicesArgs,
    service_ref: &str,
) -> anyhow::Result<(String, String)> {
    let vendor = target_vendor(store, config, args.vendor.as_deref())?;
    let service = find_service(store, &vendor, service_ref)?;
    Ok((vendor, service))
}

/// `map services --unmap SERVICE [--product P]`: remove its mappings, or the one to P.
fn unmap_service(
    ctx: &Context,
    config: &Config,
    store: &mut Store,
    args: &MapServicesArgs,
    service_ref: &str,
) -> anyhow::Result<u8> {
    let (vendor, service) = target_service(store, config, args, service_ref)?;
    let product = match &args.product {
        Some(reference) => {
            let mapped = store.service_mappings(Some(&vendor))?;
            let found = mapped.iter().find(|m| {
                m.service_key == service
                    && (m.product_identifier.eq_ignore_ascii_case(reference)
                        || m.product_id.to_string() == *reference)
            });
            match found {
                Some(m) => Some(m.product_id),
                None => {
                    return Err(usage(format!("{vendor} service {service} is not mapped to {reference}")));
                }
            }
        }
        None => None,
    };
    if !store.remove_service_mapping(&vendor, &service, product)? {
        return Err(usage(format!("{vendor} service {service} is not mapped")));
    }
    let status = store.status(&vendor)?;
    report(
        ctx,
        &serde_json::json!({"vendor": vendor, "service": service, "unmapped": true, "status": status}),
        || crate::out!("Unmapped {vendor} service {service}. Status: {}.", status.as_str()),
    )?;
    Ok(EXIT_OK)
}

/// `map services`: each service of each vendor (or `--vendor`'s) and what it maps to.
fn list_services(
    ctx: &Context,
    store: &Store,
    args: &MapServicesArgs,
    w: crate::output::wording::Wording,
) -> anyhow::Result<u8> {
    let vendors: Vec<String> = match &args.vendor {
        Some(v) => vec![v.clone()],
        None => store.vendors()?.into_iter().map(|v| v.name).collect(),
    };
    let mut rows = Vec::new();
    for vendor in &vendors {
        let mut mapped: HashMap<String, Vec<ServiceMapping>> = HashMap::new();
        for m in store.service_mappings(Some(vendor))? {
            mapped.entry(m.service_key.clone()).or_default().push(m);
        }
        for s in store.services(vendor)? {
            let row = |m: Option<&ServiceMapping>| ServiceRow {
                vendor: vendor.clone(),
                service: s.key.clone(),
                name: s.name.clone(),
                product: m.map_or_else(
                    || "-".into(),
                    |m| format!("{} (id {})", m.product_identifier, m.product_id),
                ),
                rule: m.and_then(rule_words),
                minimum: m.and_then(|m| m.minimum),
                bill_customer: m.and_then(|m| m.bill_customer),
                classes: m.and_then(|m| m.classes.clone()),
                included: m.and_then(|m| m.included),
            };
            match mapped.get(&s.key) {
                Some(all) => rows.extend(all.iter().map(|m| row(Some(m)))),
                None => rows.push(row(None)),
            }
        }
    }
    if ctx.json {
        crate::output::print_json(&rows)?;
    } else if rows.is_empty() {
        crate::out!("No services to show; connect a vendor first.");
    } else {
        crate::out!("{}", crate::output::table(&rows, w));
    }
    Ok(EXIT_OK)
}

/// An active catalog product (Autotask: Service) by identifier (name) or id.
fn find_product(psa: &dyn crate::psa::Psa, reference: &str) -> anyhow::Result<crate::model::CatalogProduct> {
    let what = psa.profile().product_reference;
    let product = match psa.find_products(reference)?.as_slice() {
        [one] => one.clone(),
        [] => {
            let closest = matching::closest_products(reference, &psa.products(false)?);
            let hint = if closest.is_empty() {
                "; see `recon products --search TEXT`".to_string()
            } else {
                format!("; closest: {}", closest.join(", "))
            };
            return Err(usage(format!("no {what} or id {reference:?}{hint}")));
        }
        many => {
            let ids: Vec<String> = many.iter().map(|p| format!("{} (id {})", p.identifier, p.id)).collect();
            return Err(usage(format!(
                "{reference:?} matches several products: {}; use the id",
                ids.join(", ")
            )));
        }
    };
    if product.inactive {
        return Err(usage(format!(
            "catalog product {} (id {}) is inactive; activate it in {} or pick another",
            product.identifier,
            product.id,
            psa.name()
        )));
    }
    Ok(product)
}

/// Create the product for a service (or reuse one that already has the identifier: looking
/// it up first means a retry never creates it twice).
#[allow(clippy::too_many_arguments)]
fn create_product(
    ctx: &Context,
    psa: &dyn crate::psa::Psa,
    store: &Store,
    vendor: &str,
    service_key: &str,
    identifier: &str,
    args: &MapServicesArgs,
) -> anyhow::Result<crate::model::CatalogProduct> {
    let admin = catalog_admin(psa)?;
    let most = admin.identifier_max();
    let identifier = if identifier.is_empty() {
        format!("{vendor}-{service_key}").to_uppercase().chars().take(most).collect()
    } else {
        identifier.to_string()
    };
    if identifier.chars().count() > most {
        return Err(usage(format!("product identifier {identifier:?} is longer than {most} characters")));
    }
    if let Some(existing) = psa.find_products(&identifier)?.into_iter().find(|p| p.identifier == identifier) {
        ctx.warn(&format!("catalog product {identifier} already exists (id {}); mapping it", existing.id));
        return find_product(psa, &existing.id.to_string());
    }
    let (default_subcategory, default_type) = admin.defaults();
    let section = admin.defaults_section();
    let subcategory_id = args.subcategory.or(default_subcategory).ok_or_else(|| {
        usage(format!("--create-product needs a subcategory: pass --subcategory ID or set {section} product_subcategory_id"))
    })?;
    let type_id = args.product_type.or(default_type).ok_or_else(|| {
        usage(format!(
            "--create-product needs a product type: pass --product-type ID or set {section} product_type_id"
        ))
    })?;
    let name = store.services(vendor)?.into_iter().find(|s| s.key == service_key).map(|s| s.name);
    let description = args.description.clone().or(name).unwrap_or_else(|| service_key.to_string());
    let new = crate::psa::NewProduct {
        identifier,
        customer_description: description.clone(),
        description,
        subcategory_id,
        type_id,
    };
    Ok(admin.create_product(&new)?)
}

/// What creates catalog products in this PSA, or the usage error for a PSA recon cannot
/// create one in.
fn catalog_admin(psa: &dyn crate::psa::Psa) -> anyhow::Result<&dyn crate::psa::CatalogAdmin> {
    psa.catalog_admin().ok_or_else(|| {
        let profile = psa.profile();
        let article = if profile.product.starts_with(['A', 'E', 'I', 'O', 'U', 'a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        usage(format!(
            "--create-product: recon cannot create {article} {} in {}; create it there, then map it with --product (its {} or id)",
            profile.product,
            profile.name,
            profile.product_reference.rsplit(' ').next().unwrap_or("name")
        ))
    })
}

/// A service by key, or by its display name ignoring case and spacing.
fn find_service(store: &Store, vendor: &str, reference: &str) -> anyhow::Result<String> {
    let services = store.services(vendor)?;
    let wanted = matching::normalize_name(reference);
    services
        .iter()
        .find(|s| s.key == reference)
        .or_else(|| {
            services.iter().find(|s| {
                matching::normalize_name(&s.name) == wanted || matching::normalize_name(&s.key) == wanted
            })
        })
        .or_else(|| {
            // A distributor's product, "Microsoft 365 Business Premium (MST-365-BP)": by its
            // name alone or by its sku, when only one product reads so.
            let mut named = services.iter().filter(|s| match s.name.rsplit_once(" (") {
                Some((name, sku)) => {
                    matching::normalize_name(name) == wanted
                        || matching::normalize_name(sku.trim_end_matches(')')) == wanted
                }
                None => false,
            });
            match (named.next(), named.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            }
        })
        .map(|s| s.key.clone())
        .ok_or_else(|| {
            let keys: Vec<String> = services.iter().map(|s| format!("{} ({})", s.key, s.name)).collect();
            usage(format!(
                "{vendor} has no service {reference:?}; its services: {}",
                if keys.is_empty() { "none (connect it first)".into() } else { keys.join(", ") }
            ))
        })
}
