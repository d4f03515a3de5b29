//! HaloPSA behind the PSA seam: its profile, its `[halopsa]` section, and `Psa` for the
//! client. A quantity is a recurring invoice line's `qty_order`, changed by re-posting the
//! invoice with every line as read (never `updatelines`, never `RecurringInvoice/process`);
//! a missing line is added to the invoice the same way.

use super::wire::Line;
use super::{HaloError, HaloPsa, HaloSettings};
use crate::config_file::{ConfigError, Validator};
use crate::http::{Http, Repeat};
use crate::model::{BillingContainer, BillingTerms, CatalogProduct, PsaCompany, QuantityWrites};
use crate::plan::{PlanLine, Write};
use crate::psa::{LinesRead, Profile, Psa, PsaError, PsaErrorKind, PsaSettings, Registration};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use url::Url;

pub static PROFILE: Profile = Profile {
    name: "Halo",
    container: "recurring invoice",
    container_option: "--invoice",
    container_reference: "a Halo recurring invoice (its id, or its contract's ref or id)",
    line: "recurring invoice line",
    product: "Item",
    product_reference: "Halo Item has the name or code",
    writes: QuantityWrites::Repost,
};

pub static REGISTRATION: Registration = Registration {
    key: "halopsa",
    profile: &PROFILE,
    settings,
    examples: &[("resource_url", "https://YOURTENANT.halopsa.com/api")],
    #[cfg(feature = "sandbox")]
    sandbox_config: |sandbox, vendors| sandbox.halopsa_config_toml_for(vendors),
};

impl From<HaloError> for PsaError {
    fn from(e: HaloError) -> PsaError {
        let kind = match &e {
            HaloError::Permission { status: 401, .. } | HaloError::Token { .. } => PsaErrorKind::Auth,
            HaloError::Permission { hint, .. } => PsaErrorKind::Permission { missing: Some(hint.clone()) },
            HaloError::Refused(reason) => PsaErrorKind::Refused { reason: reason.clone() },
            HaloError::Http(h) => PsaErrorKind::of_http(h),
            HaloError::Other(_) => PsaErrorKind::Malformed,
        };
        PsaError::new(kind, e.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHalo {
    resource_url: String,
    auth_url: Option<String>,
    tenant: Option<String>,
    client_id: Option<String>,
    client_id_env: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    scope: Option<String>,
    requests_per_minute: Option<u32>,
    rate_window_seconds: Option<u64>,
}

/// The most `requests_per_minute` may be: hosted Halo allows 300 per 5 minutes, on-premise
/// Halo may allow more.
const MOST_PER_MINUTE: u32 = 1_000;

fn settings(v: &Validator) -> Result<Option<Arc<dyn PsaSettings>>, ConfigError> {
    let Some(raw) = v.section::<RawHalo>("halopsa")? else { return Ok(None) };
    let section = ["halopsa"];
    let resource_url = resource(v.url(&section, "resource_url", &raw.resource_url)?);
    let auth_url = raw.auth_url.as_deref().map(|u| v.url(&section, "auth_url", u)).transpose()?;
    let client_id =
        v.secret(&section, "client_id", raw.client_id, raw.client_id_env)?.expose().trim().to_string();
    let client_secret = v.secret(&section, "client_secret", raw.client_secret, raw.client_secret_env)?;
    let scope = raw.scope.map(|s| s.trim().to_string()).unwrap_or_else(|| "all".to_string());
    if scope.is_empty() {
        return Err(v.error(
            &section,
            Some("scope"),
            "[halopsa] scope is empty: give the scopes the application was granted (\"all\", or e.g. \"read:customers edit:invoices\")".into(),
        ));
    }
    let requests_per_minute = raw.requests_per_minute.unwrap_or(super::DEFAULT_REQUESTS_PER_MINUTE);
    if requests_per_minute == 0 || requests_per_minute > MOST_PER_MINUTE {
        return Err(v.error(
            &section,
            Some("requests_per_minute"),
            format!(
                "[halopsa] requests_per_minute = {requests_per_minute}: give 1 to {MOST_PER_MINUTE} (hosted Halo allows 300 per rolling 5 minutes; the default is {})",
                super::DEFAULT_REQUESTS_PER_MINUTE
            ),
        ));
    }
    let rate_window = match raw.rate_window_seconds {
        None => super::DEFAULT_RATE_WINDOW,
        Some(s) if (1..=3600).contains(&s) => std::time::Duration::from_secs(s),
        Some(s) => {
            return Err(v.error(
                &section,
                Some("rate_window_seconds"),
                format!("[halopsa] rate_window_seconds = {s}: give 1 to 3600 (hosted Halo's window is 300)"),
            ));
        }
    };
    let tenant = raw
        .tenant
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("not set"));
    Ok(Some(Arc::new(HaloSettings {
        resource_url,
        auth_url,
        tenant,
        client_id,
        client_secret,
        scope,
        requests_per_minute,
        rate_window,
    })))
}

/// The Resource Server as a base to join paths to: `https://t.halopsa.com/api/`. A bare host
/// gets Halo's `/api`.
fn resource(mut url: Url) -> Url {
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&if path.is_empty() { "/api/".to_string() } else { format!("{path}/") });
    url.set_query(None);
    url
}

impl PsaSettings for HaloSettings {
    fn connect<'h>(&self, http: &'h Http) -> Result<Box<dyn Psa + 'h>, PsaError> {
        Ok(Box::new(HaloPsa::connect(self, http)?))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Psa for HaloPsa<'_> {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn check(&self) -> Result<String, PsaError> {
        Ok(self.probe()?)
    }

    fn companies(&self) -> Result<Vec<PsaCompany>, PsaError> {
        Ok(self.clients()?)
    }

    /// Active recurring invoices: what recon writes to.
    fn active_agreements(
        &self,
        company_id: Option<i64>,
        today: NaiveDate,
    ) -> Result<Vec<BillingContainer>, PsaError> {
        Ok(self.containers(company_id, today)?)
    }

    /// One paged list of every recurring invoice with its lines (a few are read one by one).
    fn read_lines(&self, ids: &[i64], _since: NaiveDate, _workers: usize, done: &dyn Fn(u64)) -> LinesRead {
        let read = HaloPsa::lines(self, ids);
        done(ids.len() as u64);
        match read {
            Ok(found) => {
                // An invoice Halo did not list is not "no lines": it was not read.
                let mut failed: Vec<(i64, String)> = ids
                    .iter()
                    .filter(|id| !found.contains_key(id))
                    .map(|id| (*id, format!("recurring invoice {id} was not found in Halo")))
                    .collect();
                failed.sort();
                LinesRead { lines: found.into_iter().collect::<BTreeMap<_, _>>(), failed }
            }
            Err(e) => LinesRead {
                lines: BTreeMap::new(),
                failed: ids.iter().map(|id| (*id, e.to_string())).collect(),
            },
        }
    }

    fn billing_terms(&self, ids: &[i64], _since: NaiveDate) -> Result<Vec<BillingTerms>, PsaError> {
        Ok(HaloPsa::billing_terms(self, ids)?)
    }

    fn catalog_items(&self, ids: &[i64]) -> Result<Vec<CatalogProduct>, PsaError> {
        Ok(HaloPsa::catalog_items(self, ids)?)
    }

    fn find_products(&self, reference: &str) -> Result<Vec<CatalogProduct>, PsaError> {
        Ok(self.find_items(Some(reference))?)
    }

    fn products(&self, all: bool) -> Result<Vec<CatalogProduct>, PsaError> {
        Ok(self.find_items(None)?.into_iter().filter(|p| all || !p.inactive).collect())
    }

    /// Re-post the invoice with every line as Halo holds it now: the line's `qty_order` set
    /// (an absolute value, which `apply` may send again), or a new line added (a create,
    /// never sent twice: a lost answer is settled by reading the invoice).
    fn repeatable(&self, line: &PlanLine) -> bool {
        line.action.write() == Some(Write::Set)
    }

    fn write(&self, line: &PlanLine) -> Result<Option<i64>, PsaError> {
        Ok(self.write_together(&[line])?.pop().flatten())
    }

    /// Every change of one invoice in one re-post: one read and one write per changed
    /// invoice, however many of its lines change (Halo allows about one request a second).
    fn writes_whole_container(&self) -> bool {
        true
    }

    /// One send: `apply` settles a lost answer (reading the invoice once) and sends the
    /// quantities it does not hold again itself; a new line is never sent twice.
    fn write_together(&self, lines: &[&PlanLine]) -> Result<Vec<Option<i64>>, PsaError> {
        let Some(invoice_id) = lines.first().and_then(|l| l.agreement_id) else {
            return Err(PsaError::refused("line lacks a recurring invoice"));
        };
        if lines.iter().any(|l| l.agreement_id != Some(invoice_id)) {
            return Err(PsaError::refused(format!(
                "the lines written with recurring invoice {invoice_id} are not all of it; nothing was written"
            )));
        }
        let (before, saved) = self.repost(invoice_id, Repeat::Unsafe, |held| {
            for line in lines {
                change_lines(held, invoice_id, line)?;
            }
            Ok(())
        })?;
        // A new line is the one of its item that was not there before (the first such for
        // the first add of that item, and so on).
        let old: HashSet<i64> = before.iter().filter_map(|l| l.get("id").and_then(Value::as_i64)).collect();
        let mut taken: HashSet<i64> = HashSet::new();
        Ok(lines
            .iter()
            .map(|line| match (line.action.write(), line.addition_id) {
                (Some(Write::Set), Some(line_id)) => Some(line_id),
                _ => {
                    let new = saved.as_ref()?.iter().filter_map(|l| {
                        let id = l.get("id").and_then(Value::as_i64)?;
                        (l.get("_itemid").and_then(Value::as_i64) == line.product_id
                            && !old.contains(&id)
                            && !taken.contains(&id))
                        .then_some(id)
                    });
                    let id = new.min()?;
                    taken.insert(id);
                    Some(id)
                }
            })
            .collect())
    }
}

/// One plan line applied to the lines of recurring invoice `invoice_id` as Halo holds them:
/// the line's `qty_order` (or, for an approved cost change, its `unit_cost`) set, or a new
/// line added with the Item, the quantity, the period's first day and the price and cost.
fn change_lines(held: &mut Vec<Value>, invoice_id: i64, line: &PlanLine) -> Result<(), HaloError> {
    let (Some(item_id), Some(quantity)) = (line.product_id, line.after) else {
        return Err(HaloError::Refused("line lacks an item or quantity".into()));
    };
    match (line.action.write(), line.addition_id) {
        (Some(Write::Set), Some(line_id)) => {
            let target = held
                .iter_mut()
                .find(|l| l.get("id").and_then(Value::as_i64) == Some(line_id))
                .ok_or_else(|| {
                    HaloError::Refused(format!(
                        "line {line_id} is no longer on recurring invoice {invoice_id}; nothing was written"
                    ))
                })?;
            match line.new_unit_cost {
                // A cost change (`[sync] update_costs`, approved): only the line's cost.
                Some(cost) => target["unit_cost"] = json!(cost.to_f64()),
                // The quantity is what the line holds once Halo folds in the pro-rata
                // waiting on it, which stays as it is.
                None => {
                    let pending = serde_json::from_value::<Line>(target.clone())
                        .map(|l| l.pending_pro_rata())
                        .unwrap_or_default();
                    let qty_order = Decimal::from(quantity) - pending;
                    if qty_order < Decimal::ZERO {
                        return Err(HaloError::Refused(format!(
                            "line {line_id} has a pro-rata of {pending} waiting for the next invoice, more than {quantity}; nothing was written"
                        )));
                    }
                    target["qty_order"] = json!(qty_order.to_f64());
                }
            }
        }
        (Some(Write::Create), _) => {
            let money = line.money.as_ref();
            let mut new = json!({
                "ihid": invoice_id,
                "_itemid": item_id,
                "qty_order": quantity,
                "isinactive": false,
            });
            if let Some(code) = &line.product {
                new["item_code"] = json!(code);
            }
            if let Some(date) = line.effective_date {
                new["startdate"] = json!(format!("{date}T00:00:00"));
            }
            if let Some(price) = money.and_then(|m| m.unit_price).and_then(|p| p.to_f64()) {
                new["unit_price"] = json!(price);
            }
            if let Some(cost) = money.and_then(|m| m.unit_cost).and_then(|c| c.to_f64()) {
                new["unit_cost"] = json!(cost);
            }
            held.push(new);
        }
        _ => return Err(HaloError::Refused(format!("nothing to apply for a {} line", line.action.as_str()))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_server_is_a_base_with_api() {
        for (given, base) in [
            ("https://acme.halopsa.com/api", "https://acme.halopsa.com/api/"),
            ("https://acme.halopsa.com/api/", "https://acme.halopsa.com/api/"),
            ("https://acme.halopsa.com", "https://acme.halopsa.com/api/"),
            ("https://halo.acme.example/custom/api?x=1", "https://halo.acme.example/custom/api/"),
        ] {
            assert_eq!(resource(Url::parse(given).unwrap()).as_str(), base, "{given}");
        }
    }
}
