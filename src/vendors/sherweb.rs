//! Sherweb (distributor): OAuth2 client credentials at its OIDC token endpoint with
//! `scope=service-provider`, the `Ocp-Apim-Subscription-Key` header on every call,
//! `GET /service-provider/v1/customers`, and each customer's
//! `GET /service-provider/v1/billing/subscriptions?customerId=`. How sure: medium
//! (shared/reference/vendors.md); commitment and price fields are read when present, never
//! required.

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
use serde_json::Value;
use std::collections::BTreeMap;
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

pub static REGISTRATION: Registration = Registration {
    key: "sherweb",
    capabilities: Capabilities { live_counts: true, months: true, costs: true, commitments: true },
    keys: &[
        "client_id",
        "client_id_env",
        "client_secret",
        "client_secret_env",
        "subscription_key",
        "subscription_key_env",
        "token_url",
        "base_url",
    ],
    requests_per_minute: None,
    settings,
    starter: "\
# [vendors.sherweb]                           # a distributor
# client_id = \"REPLACE-ME\"                    # partner portal > Security > APIs
# client_secret = \"REPLACE-ME\"                # or client_secret_env = \"RECON_SHERWEB_SECRET\"
# subscription_key = \"REPLACE-ME\"             # the Ocp-Apim-Subscription-Key
# token_url = \"https://api.sherweb.com/auth/oidc/connect/token\"
# base_url = \"https://api.sherweb.com\"
",
};

#[derive(Deserialize)]
struct RawSettings {
    client_id: Option<String>,
    client_id_env: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    subscription_key: Option<String>,
    subscription_key_env: Option<String>,
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
        subscription_key: section.secret(
            "subscription_key",
            raw.subscription_key,
            raw.subscription_key_env,
        )?,
        token_url: section.url_or("token_url", raw.token_url, DEFAULT_TOKEN_URL)?,
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

pub const DEFAULT_URL: &str = "https://api.sherweb.com";
pub const DEFAULT_TOKEN_URL: &str = "https://api.sherweb.com/auth/oidc/connect/token";

const RENEW: &str = "renew the API client in Sherweb's partner portal (Security > APIs) and put its id and secret \
                     in [vendors.sherweb] client_id and client_secret, and the portal's subscription key in \
                     subscription_key";

fn tokens<'a>(vendor: &'a str, http: &'a Http, s: &Settings, scope: &str) -> TokenSource<'a> {
    let body = TokenBody::Form(vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", s.client_id.clone()),
        ("client_secret", s.client_secret.expose().to_string()),
        ("scope", scope.to_string()),
    ]);
    TokenSource::new(vendor, http, s.token_url.clone(), body, RENEW)
}

/// What Sherweb charged for `period`: the Distributor API's payable charges of the billing
/// period that holds the month's first day (`GET /distributor/v1/billing/payable-charges?date=`,
/// a token for scope `distributor`), the charges whose `periodFrom` is in the month, grouped
/// into documents by the invoice each names. A period with no charges, or with a charge
/// not billed yet (`isBilled` false: the period is still open), is not available.
pub fn fetch_month(
    vendor: &str,
    http: &Http,
    s: &Settings,
    period: Period,
) -> Result<MonthRead, VendorError> {
    let tokens = tokens(vendor, http, s, "distributor");
    let mut url = endpoint(vendor, &s.base_url, "/distributor/v1/billing/payable-charges")?;
    url.query_pairs_mut().append_pair("date", &period.first_day().to_string());
    let request = Request::get(vendor, url.clone())
        .header("accept", "application/json")
        .secret_header("ocp-apim-subscription-key", s.subscription_key.expose());
    let document: Value = tokens.send(request)?.json(vendor)?;
    let charges = match &document {
        Value::Array(items) => items.clone(),
        other => ["charges", "payableCharges", "items"]
            .iter()
            .find_map(|k| other.get(k).and_then(Value::as_array).cloned())
            .ok_or_else(|| VendorError::BadData {
                vendor: vendor.to_string(),
                url: display_url(&url),
                message: "the answer has no `charges` list".to_string(),
            })?,
    };
    let amounts: Vec<Option<Decimal>> = charges.iter().map(line_total).collect();
    invoice::check_stated(
        &format!("payable charges of {period}"),
        distributor::amount(&document, &["total", "subTotal"]),
        &amounts,
    )
    .map_err(|message| VendorError::Other {
        vendor: vendor.to_string(),
        message: format!("Sherweb {message}"),
    })?;
    let mut documents: BTreeMap<String, Document> = BTreeMap::new();
    for (i, charge) in charges.iter().enumerate() {
        let from = distributor::date(charge, &["periodFrom", "billingPeriod.from"]);
        if from.is_some_and(|d| !invoice::in_month(d, period)) {
            continue;
        }
        if charge.get("isBilled").and_then(Value::as_bool) == Some(false) {
            return Ok(MonthRead::NotAvailable(format!(
                "Sherweb's billing period for {period} is still open"
            )));
        }
        let bad = |what: &str| VendorError::BadData {
            vendor: vendor.to_string(),
            url: display_url(&url),
            message: format!("charge [{i}] has no {what}"),
        };
        let account_id =
            distributor::text(charge, &["customerId", "customer.id"]).ok_or_else(|| bad("customerId"))?;
        let service_key = distributor::text(charge, &["productId", "sku", "productSku"])
            .ok_or_else(|| bad("productId or sku"))?;
        let quantity = distributor::amount(charge, &["quantity"]).ok_or_else(|| bad("quantity"))?;
        let invoice_id =
            distributor::text(charge, &["invoice.number", "invoice.id", "invoiceNumber", "invoiceId"])
                .unwrap_or_else(|| format!("payable charges {period}"));
        let doc = documents.entry(invoice_id.clone()).or_insert_with(|| Document {
            id: invoice_id,
            issued: distributor::date(charge, &["invoice.date", "invoiceDate"]),
            status: Some("billed".to_string()),
            void: false,
            credit_note: false,
            total: None,
            currency: distributor::text(charge, &["currency", "currencyCode"]),
            lines: Vec::new(),
        });
        doc.lines.push(DocumentLine {
            account_id,
            account_name: distributor::text(charge, &["customerName", "customer.name"]),
            service_key,
            service_name: distributor::text(charge, &["productName", "chargeName"]),
            quantity,
            amount: amounts[i],
        });
    }
    if documents.is_empty() {
        return Ok(MonthRead::NotAvailable(format!("Sherweb lists no payable charges for {period}")));
    }
    Ok(MonthRead::Available(documents.into_values().collect()))
}

/// What one payable charge costs the MSP.
fn line_total(charge: &Value) -> Option<Decimal> {
    distributor::amount(charge, &["subTotal", "lineTotal", "total", "netAmount"])
}

pub fn fetch(vendor: &str, http: &Http, s: &Settings) -> Result<VendorSnapshot, VendorError> {
    let tokens = tokens(vendor, http, s, "service-provider");
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
