//! What the distributors (Pax8, Sherweb) share: an OAuth2 client-credentials token fetched
//! once per fetch and again when the API says it expired, and the rules that turn a list of
//! subscriptions into usage: a service is a product; only active subscriptions count; several
//! of one product for one customer add up and stay listed as parts; a product whose
//! subscriptions were all cancelled is 0, never forgotten; a count that is missing is unknown;
//! one id with two different records is never merged.

use super::{Builder, Count, VendorError, count};
use crate::http::{Http, HttpError, Request, Response};
use crate::invoice::Charge;
use crate::model::{Subscription, VendorAccount, VendorService, VendorSnapshot};
use crate::secret::Secret;
use chrono::NaiveDate;
use reqwest::Method;
use reqwest::header::HeaderValue;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use url::Url;

/// How the token request is sent.
pub(crate) enum TokenBody {
    /// `application/json` (Pax8).
    Json(Value),
    /// `application/x-www-form-urlencoded` (Sherweb).
    Form(Vec<(&'static str, String)>),
}

/// One vendor's bearer token: fetched on first use, and again (once per request) when the
/// API answers 401, as an expired token does.
pub(crate) struct TokenSource<'a> {
    vendor: &'a str,
    http: &'a Http,
    url: Url,
    body: TokenBody,
    /// Which keys to renew, and where, when the token request is refused.
    renew: &'a str,
    /// Headers the token request carries besides its body (Datto RMM's HTTP Basic client).
    headers: Vec<(&'static str, String)>,
    token: Mutex<Option<Secret>>,
}

impl<'a> TokenSource<'a> {
    pub fn new(
        vendor: &'a str,
        http: &'a Http,
        url: Url,
        body: TokenBody,
        renew: &'a str,
    ) -> TokenSource<'a> {
        TokenSource { vendor, http, url, body, renew, headers: Vec::new(), token: Mutex::new(None) }
    }

    /// The token request also carries `name: value`.
    pub fn with_header(mut self, name: &'static str, value: &str) -> TokenSource<'a> {
        self.headers.push((name, value.to_string()));
        self
    }

    fn bearer(&self, renew: bool) -> Result<Secret, VendorError> {
        let mut token = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = token.as_ref().filter(|_| !renew) {
            return Ok(t.clone());
        }
        let mut request = Request::get(self.vendor, self.url.clone()).header("accept", "application/json");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request.method = Method::POST;
        let (body, content_type) = match &self.body {
            TokenBody::Json(v) => (v.to_string(), "application/json"),
            TokenBody::Form(pairs) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in pairs {
                    form.append_pair(k, v);
                }
                (form.finish(), "application/x-www-form-urlencoded")
            }
        };
        request.body = Some(body.into_bytes());
        request.headers.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        let response = match self.http.send(&request) {
            Ok(r) => r,
            Err(e) if matches!(e.status(), Some(400 | 401 | 403)) => {
                let detail = match &e {
                    HttpError::Status { status, detail, .. } if !detail.is_empty() => {
                        format!("{status}: {detail}")
                    }
                    other => other.status().map_or_else(String::new, |s| s.to_string()),
                };
                return Err(VendorError::Other {
                    vendor: self.vendor.to_string(),
                    message: format!("the token request was refused ({detail}): {}", self.renew),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let value: Value = response.json(self.vendor)?;
        let access =
            value.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()).ok_or_else(|| {
                VendorError::Other {
                    vendor: self.vendor.to_string(),
                    message: "the token endpoint answered without an access_token".to_string(),
                }
            })?;
        let bearer = Secret::new(format!("Bearer {access}"));
        *token = Some(bearer.clone());
        Ok(bearer)
    }

    /// Send `request` with the bearer token; a 401 gets a new token and one more try.
    pub fn send(&self, request: Request) -> Result<Response, VendorError> {
        let first = request.clone().secret_header("authorization", self.bearer(false)?.expose());
        match self.http.send(&first) {
            Err(e) if e.status() == Some(401) => {
                tracing::info!("{e}; fetching a new token and trying once more");
                let again = request.secret_header("authorization", self.bearer(true)?.expose());
                self.http.send(&again).map_err(|e| self.refused(e))
            }
            result => result.map_err(|e| self.refused(e)),
        }
    }

    fn refused(&self, e: HttpError) -> VendorError {
        match e.status() {
            Some(401 | 403) => VendorError::Other {
                vendor: self.vendor.to_string(),
                message: format!("{e}: the API refused the token; {}", self.renew),
            },
            _ => e.into(),
        }
    }
}

/// One subscription as a distributor lists it, read leniently (field names differ between
/// API versions and clients; `raw` keeps the record as sent).
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub id: String,
    pub account_id: String,
    /// The product: the service recon maps.
    pub product_id: String,
    pub product_name: Option<String>,
    pub sku: Option<String>,
    /// `None` when the field is absent or null: unknown.
    pub quantity: Count,
    pub active: bool,
    pub term: Option<String>,
    pub commitment_ends: Option<NaiveDate>,
    pub unit_cost: Option<Decimal>,
    pub unit_price: Option<Decimal>,
    pub raw: Value,
}

/// The first of `fields` that `record` has as a non-empty text (numbers as text).
pub(crate) fn text(record: &Value, fields: &[&str]) -> Option<String> {
    fields.iter().find_map(|f| match super::field(record, f)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A date (`2027-03-31`, or a timestamp that starts with one).
pub(crate) fn date(record: &Value, fields: &[&str]) -> Option<NaiveDate> {
    text(record, fields).and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok())
}

/// An amount, exactly as written.
pub(crate) fn amount(record: &Value, fields: &[&str]) -> Option<Decimal> {
    fields.iter().find_map(|f| match super::field(record, f)? {
        Value::Number(n) => {
            n.to_string().parse().ok().or_else(|| Decimal::from_scientific(&n.to_string()).ok())
        }
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

pub(crate) fn quantity(record: &Value, field: &str) -> Count {
    count(field, super::field(record, field))
}

/// The snapshot of one distributor: `accounts` its customers, `listed` every subscription
/// it returned (all statuses).
pub(crate) fn snapshot(accounts: Vec<VendorAccount>, listed: Vec<Listed>) -> VendorSnapshot {
    // Product names for the services: the first name and sku seen of each product.
    let mut products: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for s in &listed {
        let entry = products.entry(s.product_id.clone()).or_default();
        entry.0 = entry.0.take().or_else(|| s.product_name.clone());
        entry.1 = entry.1.take().or_else(|| s.sku.clone());
    }
    let services = products
        .iter()
        .map(|(id, (name, sku))| VendorService {
            key: id.clone(),
            name: match (name, sku) {
                (Some(n), Some(s)) if n != s => format!("{n} ({s})"),
                (Some(n), _) => n.clone(),
                (None, Some(s)) => s.clone(),
                (None, None) => format!("product {id}"),
            },
        })
        .collect();
    let mut builder = Builder::new(services);
    let known: BTreeSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    let mut by_account: BTreeMap<&str, Vec<&Listed>> = BTreeMap::new();
    for s in &listed {
        if known.contains(s.account_id.as_str()) {
            by_account.entry(s.account_id.as_str()).or_default().push(s);
        }
    }
    let orphans = listed.iter().filter(|s| !known.contains(s.account_id.as_str())).count();
    if orphans > 0 {
        builder.note(format!(
            "{orphans} subscription(s) belong to no listed customer (inactive or deleted); not counted"
        ));
    }
    let mut subscriptions = Vec::new();
    for account in accounts {
        let subs = by_account.remove(account.id.as_str()).unwrap_or_default();
        // One id with records that differ: nothing of this customer is known.
        let mut seen: BTreeMap<&str, &Value> = BTreeMap::new();
        if let Some(dup) =
            subs.iter().find(|s| seen.insert(s.id.as_str(), &s.raw).is_some_and(|first| *first != s.raw))
        {
            let message = format!(
                "subscription {} is listed twice with different records; none of them is used",
                dup.id
            );
            builder.failed(account, message);
            continue;
        }
        let mut unique: Vec<&Listed> = Vec::new();
        for s in subs {
            if !unique.iter().any(|u| u.id == s.id) {
                unique.push(s);
            }
        }
        // Per product: the sum of the active subscriptions (0 when all are cancelled).
        let mut per_product: BTreeMap<&str, Count> = BTreeMap::new();
        for s in &unique {
            let total = per_product.entry(s.product_id.as_str()).or_insert(Count::Known(0));
            if s.active {
                *total = std::mem::replace(total, Count::Known(0)).plus(s.quantity.clone());
            }
        }
        for s in unique.iter().filter(|s| s.active) {
            if let Count::Known(quantity) = s.quantity {
                subscriptions.push(Subscription {
                    account_id: account.id.clone(),
                    service_key: s.product_id.clone(),
                    id: s.id.clone(),
                    quantity,
                    term: s.term.clone(),
                    commitment_ends: s.commitment_ends,
                    unit_cost: s.unit_cost,
                    unit_price: s.unit_price,
                });
            }
        }
        let counts: Vec<(&str, Count)> = per_product.into_iter().collect();
        builder.account(account, counts);
    }
    let mut snapshot = builder.finish();
    // Parts only of the usage rows that stand (an account that failed has none).
    let standing: BTreeSet<(&str, &str)> =
        snapshot.usage.iter().map(|u| (u.account_id.as_str(), u.service_key.as_str())).collect();
    subscriptions.retain(|s| standing.contains(&(s.account_id.as_str(), s.service_key.as_str())));
    subscriptions.sort();
    snapshot.subscriptions = subscriptions;
    snapshot
}

/// A month's invoiced charges as a vendor snapshot, so a sync for that month reconciles them as
/// it does live counts: one account per customer charged, one usage row per service. A
/// netted quantity that is not a whole number of zero or more fails its account.
pub fn of_charges(charges: &[Charge]) -> VendorSnapshot {
    let mut accounts: BTreeMap<&str, VendorAccount> = BTreeMap::new();
    let mut listed = Vec::with_capacity(charges.len());
    for c in charges {
        accounts.entry(c.account_id.as_str()).or_insert_with(|| VendorAccount {
            id: c.account_id.clone(),
            name: c.account_name.clone(),
            status: None,
            raw: serde_json::json!({ "id": c.account_id, "name": c.account_name }),
        });
        let quantity = match whole(c.quantity) {
            Some(q) => Count::Known(q),
            None => Count::Bad(format!(
                "the invoiced quantity of {} is {}: not a whole number of zero or more",
                c.service_name, c.quantity
            )),
        };
        let unit_cost =
            c.cost.zip(whole(c.quantity).filter(|q| *q > 0)).map(|(cost, q)| cost / Decimal::from(q));
        listed.push(Listed {
            id: format!("{}:{}", c.account_id, c.service_key),
            account_id: c.account_id.clone(),
            product_id: c.service_key.clone(),
            product_name: Some(c.service_name.clone()),
            sku: None,
            quantity,
            active: true,
            term: None,
            commitment_ends: None,
            unit_cost: unit_cost.map(|u| u.round_dp(4).normalize()),
            unit_price: None,
            raw: serde_json::json!({ "documents": c.documents }),
        });
    }
    snapshot(accounts.into_values().collect(), listed)
}

fn whole(q: Decimal) -> Option<u32> {
    use rust_decimal::prelude::ToPrimitive;
    (q.fract().is_zero() && q >= Decimal::ZERO).then(|| q.to_u32()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn account(id: &str) -> VendorAccount {
        VendorAccount { id: id.into(), name: format!("Customer {id}"), status: None, raw: json!({"id": id}) }
    }

    fn sub(id: &str, account: &str, product: &str, quantity: Value, active: bool, term: &str) -> Listed {
        let raw = json!({"id": id, "companyId": account, "productId": product, "quantity": quantity, "active": active, "term": term});
        Listed {
            id: id.into(),
            account_id: account.into(),
            product_id: product.into(),
            product_name: Some("Microsoft 365 Business Premium".into()),
            sku: Some("CFQ7TTC0LCHC".into()),
            quantity: quantity_of(&raw),
            active,
            term: Some(term.into()),
            commitment_ends: (term == "Annual").then(|| NaiveDate::from_ymd_opt(2027, 6, 30).unwrap()),
            unit_cost: Some(Decimal::new(1850, 2)),
            unit_price: None,
            raw,
        }
    }

    fn quantity_of(raw: &Value) -> Count {
        quantity(raw, "quantity")
    }

    fn usage(s: &VendorSnapshot) -> Vec<(String, String, u32)> {
        s.usage.iter().map(|u| (u.account_id.clone(), u.service_key.clone(), u.quantity)).collect()
    }

    #[test]
    fn subscriptions_of_one_product_add_up_and_cancelled_ones_count_zero() {
        let s = snapshot(
            vec![account("c1"), account("c2")],
            vec![
                sub("s1", "c1", "p1", json!(10), true, "Monthly"),
                sub("s2", "c1", "p1", json!(25), true, "Annual"),
                sub("s3", "c1", "p1", json!(4), false, "Monthly"),
                sub("s4", "c2", "p1", json!(7), false, "Annual"),
            ],
        );
        assert_eq!(usage(&s), vec![("c1".into(), "p1".into(), 35), ("c2".into(), "p1".into(), 0)]);
        let parts: Vec<(&str, u32)> = s.subscriptions.iter().map(|p| (p.id.as_str(), p.quantity)).collect();
        assert_eq!(parts, vec![("s1", 10), ("s2", 25)], "only active subscriptions are parts");
        assert_eq!(s.services[0].name, "Microsoft 365 Business Premium (CFQ7TTC0LCHC)");
    }

    #[test]
    fn a_missing_quantity_is_unknown_and_a_conflicting_id_fails_the_customer() {
        let s = snapshot(
            vec![account("c1"), account("c2")],
            vec![
                sub("s1", "c1", "p1", json!(null), true, "Monthly"),
                sub("s2", "c1", "p1", json!(5), true, "Monthly"),
                sub("s3", "c2", "p1", json!(5), true, "Monthly"),
                sub("s3", "c2", "p1", json!(6), true, "Monthly"),
            ],
        );
        assert!(usage(&s).is_empty(), "{:?}", usage(&s));
        assert!(s.problems.iter().any(|p| p.account_id == "c1" && !p.kind.is_failure()), "c1 unknown, not 5");
        assert_eq!(s.failed_accounts().len(), 1);
        assert!(s.subscriptions.is_empty());
        // The same record twice (a page overlap) counts once.
        let twice = sub("s9", "c1", "p1", json!(3), true, "Monthly");
        let s = snapshot(vec![account("c1")], vec![twice.clone(), twice]);
        assert_eq!(usage(&s), vec![("c1".into(), "p1".into(), 3)]);
    }
}
