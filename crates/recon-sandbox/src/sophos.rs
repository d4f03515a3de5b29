//! Fake Sophos Central Partner, speaking the public partner API's shapes: a client-credentials
//! token from Sophos ID (`scope=token`) that expires, `GET /whoami/v1` (a partner, or the
//! tenant a test makes it), `X-Partner-ID` checked on every partner call, the tenants paged by
//! page number with `pageTotal`, and the billing usage of a month paged by `cursor`
//! (`pages.nextKey`): last month and the month before have data; any other month is 404.

use chrono::{Datelike, Months, NaiveDate};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Credentials;
use super::server::{Exchange, Reply, lock};

/// The partner id `whoami` gives.
pub const SOPHOS_PARTNER_ID: &str = "5e1e6a3a-partner-0000-0000-000000000001";
/// The one product the fake bills: Central Intercept X Advanced, per endpoint.
pub const SOPHOS_CIXA: &str = "CIXA-ENDPOINT";

pub(crate) struct Sophos {
    credentials: Credentials,
    tokens: Mutex<HashMap<String, Instant>>,
    state: Mutex<State>,
}

struct State {
    id_type: String,
    tenants: Vec<Value>,
    /// (year, month) -> usage items.
    usage: HashMap<(i32, u32), Vec<Value>>,
    issued: u64,
}

impl Sophos {
    pub fn new(credentials: Credentials) -> Sophos {
        let today = chrono::Utc::now().date_naive();
        let tenants = [
            ("t-7a1", "Acme Dental"),
            ("t-7a2", "Redwood Insurance Agency"),
            ("t-7a3", "Silverline Logistics LLC"),
            ("t-7a4", "Lakeside Pediatrics"),
        ];
        let tenants: Vec<Value> = tenants
            .iter()
            .map(|(id, name)| json!({"id": id, "name": name, "showAs": name, "dataRegion": "us01", "billingType": "usage", "apiHost": "https://api-us01.central.sophos.com", "status": "active"}))
            .collect();
        let item = |tenant: &str, name: &str, quantity: u32| json!({"accountId": tenant, "accountName": name, "accountType": "tenant", "sku": SOPHOS_CIXA, "productCode": SOPHOS_CIXA, "productName": "Central Intercept X Advanced", "billableQuantity": quantity, "unitOfMeasure": "endpoint"});
        let month = |back: u32| {
            let first = today.with_day(1).unwrap_or(today);
            let d: NaiveDate = first.checked_sub_months(Months::new(back)).unwrap_or(first);
            (d.year(), d.month())
        };
        // Acme runs 14 endpoints (the PSA bills 12), Redwood 15 (as billed), Silverline 20 (the
        // PSA bills 22), and Lakeside is a tenant no PSA company is called.
        let last = vec![
            item("t-7a1", "Acme Dental", 14),
            item("t-7a2", "Redwood Insurance Agency", 15),
            item("t-7a3", "Silverline Logistics LLC", 20),
            item("t-7a4", "Lakeside Pediatrics", 7),
        ];
        let before = vec![item("t-7a1", "Acme Dental", 12), item("t-7a2", "Redwood Insurance Agency", 15)];
        Sophos {
            credentials,
            tokens: Mutex::new(HashMap::new()),
            state: Mutex::new(State {
                id_type: "partner".into(),
                tenants,
                usage: HashMap::from([(month(1), last), (month(2), before)]),
                issued: 0,
            }),
        }
    }

    /// What `whoami` says the credentials are (`partner`, `tenant`, `organization`).
    pub fn set_id_type(&self, id_type: &str) {
        lock(&self.state).id_type = id_type.to_string();
    }

    pub fn tokens_issued(&self) -> u64 {
        lock(&self.state).issued
    }

    pub fn handle(&self, ex: &Exchange) -> Reply {
        let path = ex.path.trim_end_matches('/');
        if path == "/api/v2/oauth2/token" {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&ex.body).into_owned().collect();
            let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
            let ok = field("grant_type") == "client_credentials"
                && field("client_id") == self.credentials.sophos_client_id
                && field("client_secret") == self.credentials.sophos_client_secret
                && field("scope") == "token";
            if !ok {
                return Reply::json(
                    400,
                    &json!({"errorCode": "oauth.invalid_client_secret", "message": "Invalid client credentials"}),
                );
            }
            let mut state = lock(&self.state);
            state.issued += 1;
            let token = format!("sophos-token-{}-{}", state.issued, fastrand::u64(..));
            lock(&self.tokens).insert(token.clone(), Instant::now() + Duration::from_secs(3600));
            return Reply::json(
                200,
                &json!({"access_token": token, "token_type": "bearer", "expires_in": 3600, "errorCode": "success"}),
            );
        }
        let authorized = ex
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|t| lock(&self.tokens).get(t.trim()).is_some_and(|e| *e > Instant::now()));
        if !authorized {
            return Reply::json(
                401,
                &json!({"error": "Unauthorized", "message": "the token is missing or expired"}),
            );
        }
        let state = lock(&self.state);
        if path == "/whoami/v1" {
            return Reply::json(
                200,
                &json!({"id": SOPHOS_PARTNER_ID, "idType": state.id_type, "apiHosts": {"global": "https://api.central.sophos.com"}}),
            );
        }
        if ex.header("x-partner-id") != Some(SOPHOS_PARTNER_ID) {
            return Reply::json(
                403,
                &json!({"error": "Forbidden", "message": "X-Partner-ID is missing or not yours"}),
            );
        }
        let size = ex.param("pageSize").and_then(|s| s.parse::<usize>().ok()).unwrap_or(50).clamp(1, 100);
        if path == "/partner/v1/tenants" {
            let page = ex.param("page").and_then(|s| s.parse::<usize>().ok()).unwrap_or(1).max(1);
            let total = state.tenants.len();
            let items: Vec<&Value> = state.tenants.iter().skip((page - 1) * size).take(size).collect();
            return Reply::json(
                200,
                &json!({"items": items, "pages": {"current": page, "size": size, "total": total.div_ceil(size).max(1), "items": total, "maxSize": 100}}),
            );
        }
        if let Some(rest) = path.strip_prefix("/partner/v1/billing/usage/") {
            let mut parts = rest.split('/');
            let year = parts.next().and_then(|y| y.parse::<i32>().ok());
            let month = parts.next().and_then(|m| m.parse::<u32>().ok());
            let Some(items) = year.zip(month).and_then(|key| state.usage.get(&key)) else {
                return Reply::json(
                    404,
                    &json!({"error": "NotFound", "message": "no billing usage for that month"}),
                );
            };
            let start = ex
                .param("cursor")
                .and_then(|c| c.strip_prefix('k'))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let page: Vec<&Value> = items.iter().skip(start).take(size).collect();
            let next = (start + size < items.len()).then(|| format!("k{}", start + size));
            return Reply::json(
                200,
                &json!({"items": page, "pages": {"size": size, "items": items.len(), "nextKey": next, "maxSize": 100}}),
            );
        }
        Reply::json(404, &json!({"error": "NotFound", "message": "not found"}))
    }
}
