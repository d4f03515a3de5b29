//! Pax8 (distributor): OAuth2 client credentials (a JSON body with the audience), then
//! `GET /companies` and `GET /subscriptions` for every company at once, paged (`page`
//! 0-based, `size` up to 200, `content[]` with `page.totalPages`/`totalElements`; a cursor
//! `page.nextPageToken` is followed too), and `GET /products/{id}` for a product a
//! subscription names without its name. How sure: medium (shared/reference/vendors.md);
//! every field is read under each name the public clients use.

use super::distributor::{self, Listed, TokenBody, TokenSource};
use super::registry::{Capabilities, ClientCredentials, Registration, Section, VendorSource};
use super::{VendorError, endpoint};
use crate::config_file::ConfigError;
use crate::http::{Http, Request, display_url};
use crate::invoice::{self, MonthRead};
use crate::model::{Document, DocumentLine};
use crate::model::{VendorAccount, VendorSnapshot};
use crate::period::Period;
use crate::secret::Secret;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use url::Url;

/// `[vendors.pax8]`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub client_id: String,
    pub client_secret: Secret,
    pub token_url: Url,
    pub audience: String,
    pub base_url: Url,
}

pub static REGISTRATION: Registration = Registration {
    key: "pax8",
    capabilities: Capabilities { live_counts: true, months: true, costs: true, commitments: true },
    keys: &[
        "client_id",
        "client_id_env",
        "client_secret",
        "client_secret_env",
        "token_url",
        "audience",
        "base_url",
    ],
    requests_per_minute: Some(REQUESTS_PER_MINUTE),
    settings,
    starter: "\
# [vendors.pax8]                              # a distributor: Microsoft 365 and more
# client_id = \"REPLACE-ME\"                    # Integrations > API Credentials (expire after 90 days)
# client_secret = \"REPLACE-ME\"                # or client_secret_env = \"RECON_PAX8_SECRET\"
# token_url = \"https://token-manager.pax8.com/oauth/token\"
# audience = \"https://api.pax8.com\"
# base_url = \"https://api.pax8.com/v1\"
",
};

#[derive(Deserialize)]
struct RawSettings {
    client_id: Option<String>,
    client_id_env: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    token_url: Option<String>,
    audience: Option<String>,
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
        audience: raw.audience.unwrap_or_else(|| DEFAULT_AUDIENCE.to_string()),
        base_url: section.url_or("base_url", raw.base_url, DEFAULT_URL)?,
    }))
}

impl VendorSource for Settings {
    fn api_url(&self) -> Option<&Url> {
        Some(&self.base_url)
    }

    fn fetch(&self, vendor: &str, http: &Http, _current: Period) -> Result<VendorSnapshot, VendorError> {
        fetch(vendor, http, self)
    }

    fn fetch_month(&self, vendor: &str, http: &Http, period: Period) -> Result<MonthRead, VendorError> {
        fetch_month(vendor, http, self, period)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub const DEFAULT_URL: &str = "https://api.pax8.com/v1";
/// Pax8's token endpoint as its developer portal and the typed client name it. CIPP posts to
/// `https://api.pax8.com/v1/token` instead: set `token_url` if yours differs.
pub const DEFAULT_TOKEN_URL: &str = "https://token-manager.pax8.com/oauth/token";
pub const DEFAULT_AUDIENCE: &str = "https://api.pax8.com";
/// Pax8 documents 1,000 requests a minute per application.
pub const REQUESTS_PER_MINUTE: u32 = 1_000;
const PAGE_SIZE: usize = 200;
const MAX_PAGES: usize = 10_000;
/// The statuses whose seats are billed: active, and cancelled-at-term-end (still billed until then).
const BILLED: [&str; 2] = ["active", "pendingcancel"];

const RENEW: &str = "renew the API credentials in Pax8 (Integrations > API Credentials: client credentials expire \
                     after 90 days) and put the new ones in [vendors.pax8] client_id and client_secret";

fn tokens<'a>(vendor: &'a str, http: &'a Http, s: &Settings) -> TokenSource<'a> {
    let body = TokenBody::Json(json!({
        "client_id": s.client_id,
        "client_secret": s.client_secret.expose(),
        "audience": s.audience,
        "grant_type": "client_credentials",
    }));
    TokenSource::new(vendor, http, s.token_url.clone(), body, RENEW)
}

/// What Pax8 invoiced for `period`: every invoice dated in the month or the next (an invoice
/// bills the month before it or the month it opens), its items read page by page, and of
/// those the items whose service period starts in the month. A month with no such item,
/// or whose invoice Pax8 still holds `Pending`, is not available.
pub fn fetch_month(
    vendor: &str,
    http: &Http,
    s: &Settings,
    period: Period,
) -> Result<MonthRead, VendorError> {
    let tokens = tokens(vendor, http, s);
    let window = (period.first_day(), period.next().last_day());
    let invoices = all(vendor, &tokens, &s.base_url, "/invoices", &[])?;
    let mut documents = Vec::new();
    for raw in invoices {
        let Some(id) = distributor::text(&raw, &["id", "invoiceId"]) else {
            return Err(VendorError::BadData {
                vendor: vendor.to_string(),
                url: display_url(&s.base_url),
                message: format!("an invoice without an id: {raw}"),
            });
        };
        let dated = distributor::date(&raw, &["invoiceDate", "date"]);
        if dated.is_none_or(|d| d < window.0 || d > window.1) {
            continue;
        }
        let status = distributor::text(&raw, &["status"]);
        let items = all(vendor, &tokens, &s.base_url, &format!("/invoices/{id}/items"), &[])?;
        let mut lines = Vec::new();
        let mut amounts = Vec::with_capacity(items.len());
        for item in &items {
            let amount = distributor::amount(item, &["total", "costTotal", "amount"]);
            amounts.push(amount);
            let starts = distributor::date(item, &["startDate", "startPeriod"]).or(dated);
            if !starts.is_some_and(|d| invoice::in_month(d, period)) {
                continue;
            }
            let (Some(account_id), Some(service_key)) = (
                distributor::text(item, &["companyId", "company.id"]),
                distributor::text(item, &["productId", "product.id"]),
            ) else {
                return Err(VendorError::BadData {
                    vendor: vendor.to_string(),
                    url: display_url(&s.base_url),
                    message: format!("invoice {id}: an item without a companyId or productId: {item}"),
                });
            };
            let quantity = distributor::amount(item, &["quantity"]).ok_or_else(|| VendorError::BadData {
                vendor: vendor.to_string(),
                url: display_url(&s.base_url),
                message: format!("invoice {id}: an item without a quantity: {item}"),
            })?;
            lines.push(DocumentLine {
                account_id,
                account_name: distributor::text(item, &["companyName", "company.name"]),
                service_key,
                service_name: distributor::text(item, &["productName", "product.name"]),
                quantity,
                amount,
            });
        }
        if lines.is_empty() {
            continue;
        }
        if status.as_deref().is_some_and(|st| st.eq_ignore_ascii_case("pending")) {
            return Ok(MonthRead::NotAvailable(format!(
                "Pax8's invoice {id} for {period} is still pending (not issued yet)"
            )));
        }
        // The stated total is the whole invoice's: checked against all its items; the
        // month's share of them is what counts.
        let total = distributor::amount(&raw, &["total"]);
        invoice::check_stated(&id, total, &amounts).map_err(|message| VendorError::Other {
            vendor: vendor.to_string(),
            message: format!("Pax8 {message}"),
        })?;
        let document = Document {
            id: id.clone(),
            issued: dated,
            void: status.as_deref().is_some_and(|st| st.eq_ignore_ascii_case("void")),
            credit_note: total.is_some_and(|t| t < Decimal::ZERO),
            status,
            total: None,
            currency: distributor::text(&raw, &["currencyCode", "currency"]),
            lines,
        };
        documents.push(document);
    }
    if documents.iter().all(|d| d.void) {
        return Ok(MonthRead::NotAvailable(format!("Pax8 has no invoice for {period} yet")));
    }
    Ok(MonthRead::Available(documents))
}

pub fn fetch(vendor: &str, http: &Http, s: &Settings) -> Result<VendorSnapshot, VendorError> {
    let tokens = tokens(vendor, http, s);
    let companies = all(vendor, &tokens, &s.base_url, "/companies", &[("status", "Active")])?;
    let accounts = companies
        .into_iter()
        .filter_map(|raw| {
            let id = distributor::text(&raw, &["id", "companyId"])?;
            let name =
                distributor::text(&raw, &["name", "displayName", "legalName"]).unwrap_or_else(|| id.clone());
            let status = distributor::text(&raw, &["status"]);
            let active = status.as_deref().is_none_or(|st| st.eq_ignore_ascii_case("active"));
            active.then_some(VendorAccount { id, name, status, raw })
        })
        .collect::<Vec<_>>();
    let raw_subscriptions = all(vendor, &tokens, &s.base_url, "/subscriptions", &[])?;
    let mut names: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut listed = Vec::with_capacity(raw_subscriptions.len());
    for raw in raw_subscriptions {
        let (Some(id), Some(account_id), Some(product_id)) = (
            distributor::text(&raw, &["id", "subscriptionId"]),
            distributor::text(&raw, &["companyId", "company.id"]),
            distributor::text(&raw, &["productId", "product.id"]),
        ) else {
            return Err(VendorError::BadData {
                vendor: vendor.to_string(),
                url: display_url(&s.base_url),
                message: format!("a subscription without an id, companyId or productId: {raw}"),
            });
        };
        let status = distributor::text(&raw, &["status"]).unwrap_or_default();
        let name = distributor::text(&raw, &["product.name", "productName"]);
        let sku = distributor::text(&raw, &["product.sku", "sku"]);
        if name.is_some() {
            names.entry(product_id.clone()).or_insert((name.clone(), sku.clone()));
        }
        listed.push(Listed {
            id,
            account_id,
            product_id,
            product_name: name,
            sku,
            quantity: distributor::quantity(&raw, "quantity"),
            active: BILLED.contains(&status.to_ascii_lowercase().as_str()),
            term: distributor::text(&raw, &["billingTerm", "commitmentTerm.term"]),
            commitment_ends: distributor::date(
                &raw,
                &[
                    "commitmentTermEndDate",
                    "commitmentEndDate",
                    "commitment.endDate",
                    "commitmentTerm.endDate",
                ],
            ),
            // `partnerCost` is what Pax8 bills the MSP; `price` may be retail (not settled), so
            // it is kept as the price and never compared as a cost.
            unit_cost: distributor::amount(&raw, &["partnerCost", "partnerBuyRate", "cost"]),
            unit_price: distributor::amount(&raw, &["price"]),
            raw,
        });
    }
    // A product the subscriptions name only by id: one read of it, for its name and sku.
    let unnamed: Vec<String> =
        listed.iter().map(|l| l.product_id.clone()).filter(|p| !names.contains_key(p)).collect();
    for product in unnamed {
        if names.contains_key(&product) {
            continue;
        }
        let url = endpoint(vendor, &s.base_url, &format!("/products/{product}"))?;
        let found = tokens
            .send(Request::get(vendor, url).header("accept", "application/json"))
            .and_then(|r| Ok(r.json::<Value>(vendor)?));
        let entry = match found {
            Ok(p) => (distributor::text(&p, &["name"]), distributor::text(&p, &["sku", "vendorSku"])),
            // A name is for people: a product that cannot be read is shown by its id.
            Err(e) => {
                tracing::info!("{e}; product {product} is shown by its id");
                (None, None)
            }
        };
        names.insert(product, entry);
    }
    for l in &mut listed {
        if let Some((name, sku)) = names.get(&l.product_id) {
            l.product_name = l.product_name.take().or_else(|| name.clone());
            l.sku = l.sku.take().or_else(|| sku.clone());
        }
    }
    Ok(distributor::snapshot(accounts, listed))
}

/// Every record of a list: page-numbered (`page.totalPages`) or cursor (`page.nextPageToken`),
/// its count checked against `page.totalElements` when Pax8 gives it.
fn all(
    vendor: &str,
    tokens: &TokenSource<'_>,
    base: &Url,
    path: &str,
    query: &[(&str, &str)],
) -> Result<Vec<Value>, VendorError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..MAX_PAGES {
        let mut url = endpoint(vendor, base, path)?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
            q.append_pair("size", &PAGE_SIZE.to_string());
            match &cursor {
                Some(token) => q.append_pair("pageToken", token),
                None => q.append_pair("page", &page.to_string()),
            };
        }
        let request = Request::get(vendor, url.clone()).header("accept", "application/json");
        let document: Value = tokens.send(request)?.json(vendor)?;
        let Some(Value::Array(items)) = document.get("content").cloned() else {
            return Err(VendorError::BadData {
                vendor: vendor.to_string(),
                url: display_url(&url),
                message: "the answer has no `content` list".to_string(),
            });
        };
        let got = items.len();
        out.extend(items);
        let info = document.get("page");
        let total_pages = info.and_then(|p| p.get("totalPages")).and_then(Value::as_u64);
        let total = info.and_then(|p| p.get("totalElements")).and_then(Value::as_u64);
        let next = info
            .and_then(|p| p.get("nextPageToken"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let more = match (total_pages, &next) {
            (_, Some(_)) => document.get("hasMore").and_then(Value::as_bool).unwrap_or(true),
            (Some(pages), None) => (page as u64) + 1 < pages,
            (None, None) => got == PAGE_SIZE,
        };
        if !more {
            if let Some(total) = total
                && out.len() as u64 != total
            {
                return Err(VendorError::BadData {
                    vendor: vendor.to_string(),
                    url: display_url(&url),
                    message: format!(
                        "Pax8 said {total} records but {} came back; a short read is a failed read, never a shorter list",
                        out.len()
                    ),
                });
            }
            return Ok(out);
        }
        cursor = next;
    }
    Err(VendorError::Other {
        vendor: vendor.to_string(),
        message: format!("{path}: more than {MAX_PAGES} pages; stopping"),
    })
}
