//! Sophos Central Partner: an OAuth2 client-credentials token (`scope=token`) from Sophos ID,
//! `GET /whoami/v1`, which must say the credentials are a partner's (its `id` goes in the
//! `X-Partner-ID` header of every partner call), the tenants (`GET /partner/v1/tenants`,
//! page-numbered with `pageTotal`), and the billing usage of a month
//! (`GET /partner/v1/billing/usage/{year}/{month}`, `pageTotal`, `pageSize` and a `cursor`
//! from `pages.nextKey`): items by `accountId` with `billableQuantity` of a `sku` (else
//! `productCode`). A 404 means Sophos has no data for that month yet: not available, never
//! zero. Sophos gives no money with the usage. How sure: medium (public partner API docs and
//! clients; `README.md`, "Vendors").

use super::distributor::{self, TokenBody, TokenSource};
use super::registry::{Capabilities, ClientCredentials, Registration, Section, VendorSource};
use super::{Builder, Count, VendorError, endpoint};
use crate::config_file::ConfigError;
use crate::http::{Http, Request, display_url};
use crate::invoice::MonthRead;
use crate::model::{Document, DocumentLine};
use crate::model::{VendorAccount, VendorService, VendorSnapshot};
use crate::period::Period;
use crate::secret::Secret;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use url::Url;

/// `[vendors.sophos]`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub client_id: String,
    pub client_secret: Secret,
    pub token_url: Url,
    pub base_url: Url,
}

pub static REGISTRATION: Registration = Registration {
    key: "sophos",
    capabilities: Capabilities { live_counts: true, months: true, costs: false, commitments: false },
    keys: &["client_id", "client_id_env", "client_secret", "client_secret_env", "token_url", "base_url"],
    requests_per_minute: None,
    settings,
    starter: "\
# [vendors.sophos]                            # Sophos Central Partner: billing usage by month
# client_id = \"REPLACE-ME\"                    # Partner > Settings > API Credentials Management
# client_secret = \"REPLACE-ME\"                # or client_secret_env = \"RECON_SOPHOS_SECRET\"
# token_url = \"https://id.sophos.com/api/v2/oauth2/token\"
# base_url = \"https://api.central.sophos.com\"
",
};

#[derive(Deserialize)]
struct RawSettings {
    client_id: Option<String>,
    client_id_env: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    token_url: Option<String>,
    base_url: Option<String>,
}

fn settings(section: &Section) -> Result<Box<dyn VendorSource>, ConfigError> {
    let raw: RawSettings = section.read()?;
    let (client_id, client_secret) = section.client_credentials(ClientCredentials {
        client_id: raw.client_id,
        client_id_env: raw.client_id_env,
        client_secret: raw.client_secret,
        client_secret_env: raw.client_secret_env,
    })?;
    Ok(Box::new(Settings {
        client_id,
        client_secret,
        token_url: section.url_or("token_url", raw.token_url, DEFAULT_TOKEN_URL)?,
        base_url: section.url_or("base_url", raw.base_url, DEFAULT_URL)?,
    }))
}

impl VendorSource for Settings {
    fn api_url(&self) -> Option<&Url> {
        Some(&self.base_url)
    }

    fn fetch(&self, vendor: &str, http: &Http, current: Period) -> Result<VendorSnapshot, VendorError> {
        fetch(vendor, http, self, current)
    }

    fn fetch_month(&self, vendor: &str, http: &Http, period: Period) -> Result<MonthRead, VendorError> {
        fetch_month(vendor, http, self, period)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub const DEFAULT_URL: &str = "https://api.central.sophos.com";
pub const DEFAULT_TOKEN_URL: &str = "https://id.sophos.com/api/v2/oauth2/token";
const PAGE_SIZE: usize = 100;
const MAX_PAGES: usize = 10_000;

const RENEW: &str = "create API credentials in Sophos Central Partner (Settings > API Credentials Management, \
                     role Service Principal Read-Only or higher) and put them in [vendors.sophos] client_id and \
                     client_secret";

/// A token, and the partner id `whoami` gives it.
struct Partner<'a> {
    tokens: TokenSource<'a>,
    id: String,
}

fn partner<'a>(vendor: &'a str, http: &'a Http, s: &Settings) -> Result<Partner<'a>, VendorError> {
    let body = TokenBody::Form(vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", s.client_id.clone()),
        ("client_secret", s.client_secret.expose().to_string()),
        ("scope", "token".to_string()),
    ]);
    let tokens = TokenSource::new(vendor, http, s.token_url.clone(), body, RENEW);
    let url = endpoint(vendor, &s.base_url, "/whoami/v1")?;
    let whoami: Value =
        tokens.send(Request::get(vendor, url).header("accept", "application/json"))?.json(vendor)?;
    let kind = distributor::text(&whoami, &["idType"]).unwrap_or_default();
    if !kind.eq_ignore_ascii_case("partner") {
        return Err(VendorError::Other {
            vendor: vendor.to_string(),
            message: format!(
                "these credentials belong to a Sophos Central {} (whoami idType {kind:?}), not a partner; {RENEW}",
                if kind.is_empty() { "account" } else { kind.as_str() }
            ),
        });
    }
    let id = distributor::text(&whoami, &["id"]).ok_or_else(|| VendorError::Other {
        vendor: vendor.to_string(),
        message: "whoami answered without the partner's id".to_string(),
    })?;
    Ok(Partner { tokens, id })
}

impl Partner<'_> {
    fn get(&self, vendor: &str, url: Url) -> Result<Value, VendorError> {
        let request =
            Request::get(vendor, url).header("accept", "application/json").header("x-partner-id", &self.id);
        Ok(self.tokens.send(request)?.json(vendor)?)
    }

    /// The partner's tenants, page by page, their count checked against `pages.items`.
    fn tenants(&self, vendor: &str, base: &Url) -> Result<Vec<VendorAccount>, VendorError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut url = endpoint(vendor, base, "/partner/v1/tenants")?;
            url.query_pairs_mut()
                .append_pair("pageTotal", "true")
                .append_pair("pageSize", &PAGE_SIZE.to_string())
                .append_pair("page", &page.to_string());
            let document = self.get(vendor, url.clone())?;
            let items = items(vendor, &url, &document)?;
            for raw in items {
                let Some(id) = distributor::text(&raw, &["id"]) else { continue };
                let name = distributor::text(&raw, &["name", "showAs"]).unwrap_or_else(|| id.clone());
                out.push(VendorAccount { id, name, status: distributor::text(&raw, &["status"]), raw });
            }
            let pages = document.get("pages");
            let total_pages = pages.and_then(|p| p.get("total")).and_then(Value::as_u64).unwrap_or(1);
            if page as u64 >= total_pages {
                let listed = pages.and_then(|p| p.get("items")).and_then(Value::as_u64);
                if let Some(listed) = listed.filter(|n| *n != out.len() as u64) {
                    return Err(short(vendor, &url, listed, out.len()));
                }
                return Ok(out);
            }
        }
        Err(VendorError::Other {
            vendor: vendor.to_string(),
            message: format!("more than {MAX_PAGES} pages of tenants"),
        })
    }

    /// The month's usage items, following `pages.nextKey`; `None` when Sophos has none (404).
    fn usage(&self, vendor: &str, base: &Url, period: Period) -> Result<Option<Vec<Value>>, VendorError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = endpoint(
                vendor,
                base,
                &format!("/partner/v1/billing/usage/{}/{}", period.year, period.month),
            )?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("pageTotal", "true").append_pair("pageSize", &PAGE_SIZE.to_string());
                if let Some(c) = &cursor {
                    q.append_pair("cursor", c);
                }
            }
            let document = match self.get(vendor, url.clone()) {
                Err(VendorError::Http(e)) if e.status() == Some(404) => return Ok(None),
                other => other?,
            };
            out.extend(items(vendor, &url, &document)?);
            let pages = document.get("pages");
            cursor = pages
                .and_then(|p| p.get("nextKey"))
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty())
                .map(str::to_string);
            if cursor.is_none() {
                let listed = pages.and_then(|p| p.get("items")).and_then(Value::as_u64);
                if let Some(listed) = listed.filter(|n| *n != out.len() as u64) {
                    return Err(short(vendor, &url, listed, out.len()));
                }
                return Ok(Some(out));
            }
        }
        Err(VendorError::Other {
            vendor: vendor.to_string(),
            message: format!("more than {MAX_PAGES} pages of usage"),
        })
    }
}

fn items(vendor: &str, url: &Url, document: &Value) -> Result<Vec<Value>, VendorError> {
    document.get("items").and_then(Value::as_array).cloned().ok_or_else(|| VendorError::BadData {
        vendor: vendor.to_string(),
        url: display_url(url),
        message: "the answer has no `items` list".to_string(),
    })
}

fn short(vendor: &str, url: &Url, said: u64, got: usize) -> VendorError {
    VendorError::BadData {
        vendor: vendor.to_string(),
        url: display_url(url),
        message: format!(
            "Sophos said {said} records but {got} came back; a short read is a failed read, never a shorter list"
        ),
    }
}

/// One usage item as a document line: its tenant, its sku and the billable quantity.
fn usage_line(vendor: &str, base: &Url, item: &Value) -> Result<DocumentLine, VendorError> {
    let bad = |what: &str| VendorError::BadData {
        vendor: vendor.to_string(),
        url: display_url(base),
        message: format!("a usage item without {what}: {item}"),
    };
    Ok(DocumentLine {
        account_id: distributor::text(item, &["accountId", "tenantId"]).ok_or_else(|| bad("an accountId"))?,
        account_name: distributor::text(item, &["accountName", "tenantName"]),
        service_key: distributor::text(item, &["sku", "productCode"])
            .ok_or_else(|| bad("a sku or productCode"))?,
        service_name: distributor::text(item, &["productName", "productDescription", "productCode"]),
        quantity: distributor::amount(item, &["billableQuantity"])
            .ok_or_else(|| bad("a billableQuantity"))?,
        amount: None,
    })
}

/// What Sophos reported for `period`: one document of the month's usage.
pub fn fetch_month(
    vendor: &str,
    http: &Http,
    s: &Settings,
    period: Period,
) -> Result<MonthRead, VendorError> {
    let partner = partner(vendor, http, s)?;
    let Some(items) = partner.usage(vendor, &s.base_url, period)? else {
        return Ok(MonthRead::NotAvailable(format!("Sophos has no billing usage for {period} yet")));
    };
    if items.is_empty() {
        return Ok(MonthRead::NotAvailable(format!("Sophos lists no billing usage for {period}")));
    }
    let lines = items.iter().map(|i| usage_line(vendor, &s.base_url, i)).collect::<Result<Vec<_>, _>>()?;
    Ok(MonthRead::Available(vec![Document {
        id: format!("usage {period}"),
        issued: None,
        status: None,
        void: false,
        credit_note: false,
        total: None,
        currency: None,
        lines,
    }]))
}

/// The tenants, with this month's billable usage. Before Sophos has any usage for the month,
/// every tenant's count is unknown (never zero), and the services are those of last month's
/// usage, so they can be mapped.
pub fn fetch(
    vendor: &str,
    http: &Http,
    s: &Settings,
    current: Period,
) -> Result<VendorSnapshot, VendorError> {
    let partner = partner(vendor, http, s)?;
    let tenants = partner.tenants(vendor, &s.base_url)?;
    let usage = partner.usage(vendor, &s.base_url, current)?;
    let listed = match &usage {
        Some(items) => items.clone(),
        None => partner.usage(vendor, &s.base_url, current.previous())?.unwrap_or_default(),
    };
    let lines = listed.iter().map(|i| usage_line(vendor, &s.base_url, i)).collect::<Result<Vec<_>, _>>()?;
    let mut services: BTreeMap<String, String> = BTreeMap::new();
    let mut counts: BTreeMap<&str, BTreeMap<&str, Decimal>> = BTreeMap::new();
    for l in &lines {
        services
            .entry(l.service_key.clone())
            .or_insert_with(|| l.service_name.clone().unwrap_or_else(|| l.service_key.clone()));
        if usage.is_some() {
            *counts.entry(l.account_id.as_str()).or_default().entry(l.service_key.as_str()).or_default() +=
                l.quantity;
        }
    }
    let mut builder = Builder::new(
        services.iter().map(|(key, name)| VendorService { key: key.clone(), name: name.clone() }).collect(),
    );
    if usage.is_none() {
        builder
            .note(format!("Sophos has no billing usage for {current} yet: every tenant's count is unknown"));
    }
    for tenant in tenants {
        let of_tenant = counts.get(tenant.id.as_str());
        let counts: Vec<(&str, Count)> = match (&usage, of_tenant) {
            (None, _) => {
                services.keys().map(|k| (k.as_str(), Count::Missing("billableQuantity".into()))).collect()
            }
            (Some(_), None) => Vec::new(),
            (Some(_), Some(by_sku)) => by_sku
                .iter()
                .map(|(sku, q)| {
                    (*sku, super::count("billableQuantity", Some(&serde_json::json!(q.normalize()))))
                })
                .collect(),
        };
        builder.account(tenant, counts);
    }
    Ok(builder.finish())
}
