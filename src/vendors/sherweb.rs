//! Sherweb (distributor): OAuth2 client credentials at its OIDC token endpoint with
//! `scope=service-provider`, the `Ocp-Apim-Subscription-Key` header on every call,
//! `GET /service-provider/v1/customers`, and each customer's
//! `GET /service-provider/v1/billing/subscriptions?customerId=`. How sure: medium
//! (shared/reference/vendors.md); commitment and price fields are read when present, never
//! required.

use super::distributor::{self, Listed, TokenBody, TokenSource};
use super::{VendorError, endpoint};
use crate::http::{Http, Request, display_url};
use crate::model::{VendorAccount, VendorSnapshot};
use crate::secret::Secret;
use serde_json::Value;
use url::Url;

/// `[vendors.sherweb]`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub client_id: String,
    pub client_secret: Secret,
    pub subscription_key: Secret,
    pub token_url: Url,
    pub base_url: Url,
}

pub const DEFAULT_URL: &str = "https://api.sherweb.com";
pub const DEFAULT_TOKEN_URL: &str = "https://api.sherweb.com/auth/oidc/connect/token";
pub const KEYS: &[&str] = &[
    "client_id",
    "client_id_env",
    "client_secret",
    "client_secret_env",
    "subscription_key",
    "subscription_key_env",
    "token_url",
    "base_url",
];

const RENEW: &str = "renew the API client in Sherweb's partner portal (Security > APIs) and put its id and secret \
                     in [vendors.sherweb] client_id and client_secret, and the portal's subscription key in \
                     subscription_key";

pub fn fetch(vendor: &str, http: &Http, s: &Settings) -> Result<VendorSnapshot, VendorError> {
    let body = TokenBody::Form(vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", s.client_id.clone()),
        ("client_secret", s.client_secret.expose().to_string()),
        ("scope", "service-provider".to_string()),
    ]);
    let tokens = TokenSource::new(vendor, http, s.token_url.clone(), body, RENEW);
    let get = |url: Url| -> Result<Value, VendorError> {
        let request = Request::get(vendor, url)
            .header("accept", "application/json")
            .secret_header("ocp-apim-subscription-key", s.subscription_key.expose());
        Ok(tokens.send(request)?.json(vendor)?)
    };
    let url = endpoint(vendor, &s.base_url, "/service-provider/v1/customers")?;
    let customers = items(vendor, &url, get(url.clone())?)?;
    let accounts: Vec<VendorAccount> = customers
        .into_iter()
        .filter_map(|raw| {
            let id = distributor::text(&raw, &["id", "customerId"])?;
            let name = distributor::text(&raw, &["displayName", "name"]).unwrap_or_else(|| id.clone());
            Some(VendorAccount { id, name, status: distributor::text(&raw, &["status"]), raw })
        })
        .collect();
    let mut listed = Vec::new();
    for account in &accounts {
        let mut url = endpoint(vendor, &s.base_url, "/service-provider/v1/billing/subscriptions")?;
        url.query_pairs_mut().append_pair("customerId", &account.id);
        for (i, raw) in items(vendor, &url, get(url.clone())?)?.into_iter().enumerate() {
            let sku = distributor::text(&raw, &["sku"]);
            let Some(product_id) = distributor::text(&raw, &["productId"]).or_else(|| sku.clone()) else {
                return Err(VendorError::BadData {
                    vendor: vendor.to_string(),
                    url: display_url(&url),
                    message: format!("subscription [{i}] has neither a productId nor a sku"),
                });
            };
            let id = distributor::text(&raw, &["id", "subscriptionId"])
                .unwrap_or_else(|| format!("{product_id}#{i}"));
            let status = distributor::text(&raw, &["status"]);
            listed.push(Listed {
                id,
                account_id: account.id.clone(),
                product_id,
                product_name: distributor::text(&raw, &["productName", "name"]),
                sku,
                quantity: distributor::quantity(&raw, "quantity"),
                // Sherweb lists what is billed; a status, when given, must say active.
                active: status.as_deref().is_none_or(|st| st.eq_ignore_ascii_case("active")),
                term: distributor::text(&raw, &["commitmentTerm", "billingCycle", "term"]),
                commitment_ends: distributor::date(
                    &raw,
                    &["commitmentEndDate", "committedUntil", "commitment.endDate"],
                ),
                unit_cost: distributor::amount(&raw, &["unitCost", "purchasePrice", "cost"]),
                unit_price: distributor::amount(&raw, &["unitPrice", "listPrice", "price"]),
                raw,
            });
        }
    }
    Ok(distributor::snapshot(accounts, listed))
}

/// The `items` list of an answer.
fn items(vendor: &str, url: &Url, document: Value) -> Result<Vec<Value>, VendorError> {
    match document {
        Value::Object(mut o) => match o.remove("items") {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(VendorError::BadData {
                vendor: vendor.to_string(),
                url: display_url(url),
                message: "the answer has no `items` list".to_string(),
            }),
        },
        Value::Array(items) => Ok(items),
        _ => Err(VendorError::BadData {
            vendor: vendor.to_string(),
            url: display_url(url),
            message: "expected a JSON object with `items`".to_string(),
        }),
    }
}
