//! Fake Pax8 and Sherweb, speaking the wire shapes in shared/reference/vendors.md: OAuth2
//! client-credentials tokens (Pax8 a JSON body with the audience, Sherweb a form with
//! `scope=service-provider` and the `Ocp-Apim-Subscription-Key` header on every call) that
//! expire, Pax8's page-numbered lists (`page` 0-based, `size` at most 200, `content[]`,
//! `page.totalPages`/`totalElements`), and subscriptions per customer with their terms,
//! commitments, costs and prices.
//!
//! The customers are sandbox companies (by name), chosen for the cases a billing admin
//! meets: monthly + annual subscriptions of one product, an annual commitment that blocks a
//! decrease, one that ends within 30 days, a cancelled subscription, a cost that changed,
//! a product sold below cost (see `fixtures/CASES.md`, "Distributors").

use chrono::{Datelike, Days, Months, NaiveDate};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Credentials;
use super::server::{Exchange, Reply, lock};

/// The Microsoft 365 Business Premium product at both distributors.
pub const PAX8_M365_BP: &str = "f1a7c3e2-0b5d-4c8e-9a61-365b0000b001";
pub const PAX8_M365_BASIC: &str = "f1a7c3e2-0b5d-4c8e-9a61-365b0000b002";
pub const SHERWEB_M365_BP: &str = "CFQ7TTC0LCHC-0002";
const PAX8_MAX_SIZE: usize = 200;

pub(crate) struct Distributors {
    state: Mutex<State>,
    credentials: Credentials,
    /// Token -> when it expires, and the scope it was issued for.
    tokens: Mutex<HashMap<String, (Instant, String)>>,
    lifetime: Mutex<Duration>,
}

struct State {
    pax8_companies: Vec<Value>,
    pax8_subscriptions: Vec<Value>,
    pax8_products: Vec<Value>,
    /// The partner's invoices, each with its items (served by `/invoices/{id}/items`).
    pax8_invoices: Vec<(Value, Vec<Value>)>,
    /// Sherweb's payable charges, by the first day of the billing period they are in.
    sherweb_charges: Vec<(NaiveDate, Value)>,
    sherweb_customers: Vec<Value>,
    /// Customer id -> its subscriptions.
    sherweb_subscriptions: HashMap<String, Vec<Value>>,
    issued: u64,
}

fn day(today: NaiveDate, days: i64) -> String {
    let d = if days >= 0 {
        today.checked_add_days(Days::new(days as u64))
    } else {
        today.checked_sub_days(Days::new(days.unsigned_abs()))
    };
    format!("{}T00:00:00Z", d.unwrap_or(today))
}

impl Distributors {
    pub fn new() -> Distributors {
        let today = chrono::Utc::now().date_naive();
        // (pax8 company id, name as Pax8 shows it)
        let companies = [
            ("c0254", "O'Brien & Sons"),
            ("c0263", "Greenfield Accounting LLC"),
            ("c0257", "Smith & Whitfield Attorneys"),
            ("c0274", "Redwood Insurance Agency"),
            ("c0269", "Peña Construction"),
            ("c0265", "Coastal Orthodontics"),
            ("c0255", "Café Lumière"),
            ("c0264", "St. Mary's Academy"),
            ("c0260", "Northside Family Dentistry"),
            ("c0999", "Tri-County Vet Partners"),
        ];
        let pax8_companies =
            companies.iter().map(|(id, name)| json!({"id": id, "name": name, "status": "Active"})).collect();
        let sub = |id: &str,
                   company: &str,
                   product: &str,
                   qty: Value,
                   status: &str,
                   term: &str,
                   ends: Option<i64>,
                   cost: f64| {
            json!({
                "id": id,
                "companyId": company,
                "productId": product,
                "quantity": qty,
                "status": status,
                "billingTerm": term,
                "commitmentTermEndDate": ends.map(|d| day(today, d)),
                "partnerCost": cost,
                "price": 26.4,
                "currencyCode": "USD",
                "startDate": day(today, -200),
            })
        };
        let bp = PAX8_M365_BP;
        let pax8_subscriptions = vec![
            // Monthly + annual of one product: 10 + 35 = 45 (the PSA has 42).
            sub("s-1001", "c0254", bp, json!(10), "Active", "Monthly", None, 20.0),
            sub("s-1002", "c0254", bp, json!(35), "Active", "Annual", Some(200), 20.0),
            // An annual commitment: the 12 seats cannot go down to 10 before it ends.
            sub("s-1003", "c0263", bp, json!(10), "Active", "Annual", Some(150), 20.0),
            // The cost changed: 20.90 at Pax8, 20.00 on the PSA line.
            sub("s-1004", "c0257", bp, json!(15), "Active", "Monthly", None, 20.9),
            // Cancelled: its 7 seats are gone, the product is 0.
            sub("s-1005", "c0274", bp, json!(7), "Cancelled", "Monthly", None, 20.0),
            // A commitment that ends in 20 days.
            sub("s-1006", "c0269", bp, json!(47), "Active", "Annual", Some(20), 20.0),
            // Sold below cost: 22.60 at Pax8, 22.00 on the PSA line.
            sub("s-1007", "c0265", bp, json!(37), "Active", "Monthly", None, 22.6),
            sub("s-1008", "c0255", bp, json!(16), "Active", "Monthly", None, 20.0),
            sub("s-1009", "c0264", bp, json!(20), "Active", "Monthly", None, 20.0),
            sub("s-1010", "c0260", bp, json!(52), "Active", "Monthly", None, 20.0),
            sub("s-1011", "c0260", PAX8_M365_BASIC, json!(5), "Active", "Monthly", None, 6.0),
            sub("s-1012", "c0999", bp, json!(9), "Active", "Monthly", None, 20.0),
        ];
        let pax8_products = vec![
            json!({"id": PAX8_M365_BP, "name": "Microsoft 365 Business Premium", "vendorName": "Microsoft", "sku": "MST-365-BP"}),
            json!({"id": PAX8_M365_BASIC, "name": "Microsoft 365 Business Basic", "vendorName": "Microsoft", "sku": "MST-365-BB"}),
        ];
        let sherweb_customers = vec![
            json!({"id": "sw-281", "displayName": "Bellweather Architects"}),
            json!({"id": "sw-285", "displayName": "Delgado & Reyes Law Office"}),
            json!({"id": "sw-289", "displayName": "Sunrise Dermatology"}),
        ];
        let sw = |qty: u32, term: &str, ends: Option<i64>| {
            json!({
                "productName": "Microsoft 365 Business Premium",
                "sku": SHERWEB_M365_BP,
                "quantity": qty,
                "commitmentTerm": term,
                "commitmentEndDate": ends.map(|d| day(today, d)),
                "unitCost": 20.0,
            })
        };
        let sherweb_subscriptions = HashMap::from([
            ("sw-281".to_string(), vec![sw(41, "Monthly", None)]),
            ("sw-285".to_string(), vec![sw(43, "Annual", Some(100))]),
            // 32 on the PSA: an annual commitment holds the decrease.
            ("sw-289".to_string(), vec![sw(30, "Annual", Some(60))]),
        ]);
        let pax8_invoices = pax8_invoices(today);
        let sherweb_charges = sherweb_charges(today);
        Distributors {
            state: Mutex::new(State {
                pax8_companies,
                pax8_subscriptions,
                pax8_products,
                pax8_invoices,
                sherweb_charges,
                sherweb_customers,
                sherweb_subscriptions,
                issued: 0,
            }),
            credentials: Credentials::default(),
            tokens: Mutex::new(HashMap::new()),
            lifetime: Mutex::new(Duration::from_secs(86_400)),
        }
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> Distributors {
        self.credentials = credentials;
        self
    }

    /// Tokens issued from now on last this long (the 24 hours Pax8 gives by default).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *lock(&self.lifetime) = lifetime;
    }

    pub fn tokens_issued(&self) -> u64 {
        lock(&self.state).issued
    }

    /// Set a field of one Pax8 subscription (`quantity`, `status`, `partnerCost`, ...).
    pub fn set_pax8_subscription(&self, id: &str, field: &str, value: Value) -> bool {
        let mut state = lock(&self.state);
        let Some(sub) = state.pax8_subscriptions.iter_mut().find(|s| s["id"] == id) else { return false };
        sub[field] = value;
        true
    }

    /// Add a Pax8 subscription record as sent (a duplicate id, a new term...).
    pub fn push_pax8_subscription(&self, record: Value) {
        lock(&self.state).pax8_subscriptions.push(record);
    }

    /// Serve `pax8` and `sherweb` generated customers instead of the fixtures' (the scale
    /// benchmark): customer `i` is named `names[i]`; every Pax8 customer has a monthly
    /// subscription of Microsoft 365 Business Premium and every third an annual one too.
    #[cfg(feature = "scale")]
    pub fn replace_generated(&self, names: &[String], pax8: usize, sherweb: usize) {
        let today = chrono::Utc::now().date_naive();
        let mut state = lock(&self.state);
        state.pax8_companies = names[..pax8]
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"id": format!("g{i:05}"), "name": n, "status": "Active"}))
            .collect();
        state.pax8_subscriptions = (0..pax8)
            .flat_map(|i| {
                let monthly = json!({
                    "id": format!("gs{i:05}m"), "companyId": format!("g{i:05}"), "productId": PAX8_M365_BP,
                    "quantity": 5 + i % 40, "status": "Active", "billingTerm": "Monthly", "partnerCost": 20.0,
                });
                let annual = (i % 3 == 0).then(|| {
                    json!({
                        "id": format!("gs{i:05}a"), "companyId": format!("g{i:05}"), "productId": PAX8_M365_BP,
                        "quantity": 10, "status": "Active", "billingTerm": "Annual",
                        "commitmentTermEndDate": day(today, 100 + (i % 200) as i64), "partnerCost": 20.0,
                    })
                });
                std::iter::once(monthly).chain(annual)
            })
            .collect();
        // Last month's invoice: one item per subscription, as billed; and Sherweb's charges.
        let month = month_start(today, 1);
        let items: Vec<Value> = state
            .pax8_subscriptions
            .iter()
            .enumerate()
            .map(|(n, sub)| {
                let qty = sub["quantity"].as_i64().unwrap_or(0);
                json!({
                    "id": format!("git-{n}"), "companyId": sub["companyId"], "productId": PAX8_M365_BP,
                    "productName": "Microsoft 365 Business Premium", "quantity": qty, "unitPrice": 20.0,
                    "total": qty as f64 * 20.0, "startDate": format!("{month}T00:00:00Z"), "chargeType": "Renewal",
                })
            })
            .collect();
        let total: f64 = items.iter().filter_map(|i| i["total"].as_f64()).sum();
        let invoice = json!({
            "id": "INV-GEN-1", "companyId": "partner-1", "invoiceDate": format!("{}T00:00:00Z", month_start(today, 0)),
            "total": total, "balance": 0.0, "status": "Paid",
        });
        state.pax8_invoices = vec![(invoice, items)];
        state.sherweb_charges = (0..sherweb)
            .map(|i| {
                let qty = 3 + i % 30;
                (month, json!({
                    "chargeId": format!("gch-{i}"), "customerId": format!("sw-g{i:05}"), "customerName": names[pax8 + i],
                    "productName": "Microsoft 365 Business Premium", "sku": SHERWEB_M365_BP, "quantity": qty,
                    "unitPrice": 20.0, "subTotal": qty as f64 * 20.0, "periodFrom": format!("{month}T00:00:00Z"),
                    "isBilled": true, "invoice": {"number": format!("SW-GEN-{}", month.format("%Y%m"))},
                }))
            })
            .collect();
        state.sherweb_customers = names[pax8..pax8 + sherweb]
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"id": format!("sw-g{i:05}"), "displayName": n}))
            .collect();
        state.sherweb_subscriptions = (0..sherweb)
            .map(|i| {
                let sub = json!({
                    "productName": "Microsoft 365 Business Premium", "sku": SHERWEB_M365_BP,
                    "quantity": 3 + i % 30, "commitmentTerm": "Monthly", "unitCost": 20.0,
                });
                (format!("sw-g{i:05}"), vec![sub])
            })
            .collect();
    }

    fn issue(&self, prefix: &str, scope: &str) -> Value {
        let mut state = lock(&self.state);
        state.issued += 1;
        let token = format!("{prefix}-token-{}-{}", state.issued, fastrand::u64(..));
        let lifetime = *lock(&self.lifetime);
        lock(&self.tokens).insert(token.clone(), (Instant::now() + lifetime, scope.to_string()));
        json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime.as_secs()})
    }

    fn authorized(&self, ex: &Exchange) -> bool {
        let Some(token) = ex.header("authorization").and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        lock(&self.tokens).get(token.trim()).is_some_and(|(expires, _)| *expires > Instant::now())
    }

    /// Whether the request's token was issued for `scope`.
    fn scope_is(&self, ex: &Exchange, scope: &str) -> bool {
        let Some(token) = ex.header("authorization").and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        lock(&self.tokens).get(token.trim()).is_some_and(|(_, s)| s == scope)
    }

    // ---- Pax8 --------------------------------------------------------------------------

    pub fn pax8(&self, ex: &Exchange) -> Reply {
        let path = ex.path.trim_end_matches('/');
        if path == "/oauth/token" {
            let body: Value = serde_json::from_slice(&ex.body).unwrap_or(Value::Null);
            let ok = body["grant_type"] == "client_credentials"
                && body["client_id"] == self.credentials.pax8_client_id.as_str()
                && body["client_secret"] == self.credentials.pax8_client_secret.as_str()
                && body["audience"] == "https://api.pax8.com";
            if !ok {
                return Reply::json(
                    401,
                    &json!({"error": "access_denied", "error_description": "Unauthorized"}),
                );
            }
            return Reply::json(200, &self.issue("pax8", ""));
        }
        if !self.authorized(ex) {
            return Reply::json(
                401,
                &json!({"status": 401, "type": "Unauthorized", "details": "the token is missing or expired"}),
            );
        }
        let state = lock(&self.state);
        match path {
            "/v1/companies" => {
                let wanted = ex.param("status");
                let all: Vec<Value> = state
                    .pax8_companies
                    .iter()
                    .filter(|c| wanted.is_none_or(|w| c["status"] == w))
                    .cloned()
                    .collect();
                page(ex, all)
            }
            "/v1/subscriptions" => {
                let company = ex.param("companyId");
                let all: Vec<Value> = state
                    .pax8_subscriptions
                    .iter()
                    .filter(|s| company.is_none_or(|c| s["companyId"] == c))
                    .cloned()
                    .collect();
                page(ex, all)
            }
            "/v1/invoices" => {
                let company = ex.param("companyId");
                let all: Vec<Value> = state
                    .pax8_invoices
                    .iter()
                    .map(|(i, _)| i)
                    .filter(|i| company.is_none_or(|c| i["companyId"] == c))
                    .cloned()
                    .collect();
                page(ex, all)
            }
            p if p.starts_with("/v1/invoices/") && p.ends_with("/items") => {
                let id = &p["/v1/invoices/".len()..p.len() - "/items".len()];
                match state.pax8_invoices.iter().find(|(i, _)| i["id"] == id) {
                    Some((_, items)) => page(ex, items.clone()),
                    None => Reply::json(
                        404,
                        &json!({"status": 404, "type": "NotFound", "details": "no such invoice"}),
                    ),
                }
            }
            p => match p.strip_prefix("/v1/products/") {
                Some(id) => match state.pax8_products.iter().find(|x| x["id"] == id) {
                    Some(product) => Reply::json(200, product),
                    None => Reply::json(
                        404,
                        &json!({"status": 404, "type": "NotFound", "details": "no such product"}),
                    ),
                },
                None => Reply::json(404, &json!({"status": 404, "type": "NotFound", "details": "not found"})),
            },
        }
    }

    // ---- Sherweb -----------------------------------------------------------------------

    pub fn sherweb(&self, ex: &Exchange) -> Reply {
        let path = ex.path.trim_end_matches('/');
        if path == "/auth/oidc/connect/token" {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&ex.body).into_owned().collect();
            let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
            let ok = field("grant_type") == "client_credentials"
                && field("client_id") == self.credentials.sherweb_client_id
                && field("client_secret") == self.credentials.sherweb_client_secret
                && matches!(field("scope"), "service-provider" | "distributor");
            if !ok {
                return Reply::json(400, &json!({"error": "invalid_client"}));
            }
            return Reply::json(200, &self.issue("sherweb", field("scope")));
        }
        if ex.header("ocp-apim-subscription-key") != Some(self.credentials.sherweb_subscription_key.as_str())
        {
            return Reply::json(
                401,
                &json!({"statusCode": 401, "message": "Access denied due to missing or invalid subscription key."}),
            );
        }
        if !self.authorized(ex) {
            return Reply::json(401, &json!({"statusCode": 401, "message": "Unauthorized"}));
        }
        let state = lock(&self.state);
        match path {
            "/distributor/v1/billing/payable-charges" => {
                if !self.scope_is(ex, "distributor") {
                    return Reply::json(
                        403,
                        &json!({"statusCode": 403, "message": "the token lacks the distributor scope"}),
                    );
                }
                let Some(date) =
                    ex.param("date").and_then(|d| NaiveDate::parse_from_str(d.get(..10)?, "%Y-%m-%d").ok())
                else {
                    return Reply::json(400, &json!({"message": "date is required (yyyy-MM-dd)"}));
                };
                let start = date.with_day(1).unwrap_or(date);
                let charges: Vec<&Value> =
                    state.sherweb_charges.iter().filter(|(m, _)| *m == start).map(|(_, c)| c).collect();
                let end =
                    start.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(start);
                Reply::json(
                    200,
                    &json!({"periodFrom": format!("{start}T00:00:00Z"), "periodTo": format!("{end}T00:00:00Z"), "charges": charges}),
                )
            }
            p if p.starts_with("/service-provider/") && !self.scope_is(ex, "service-provider") => {
                Reply::json(
                    403,
                    &json!({"statusCode": 403, "message": "the token lacks the service-provider scope"}),
                )
            }
            "/service-provider/v1/customers" => Reply::json(200, &json!({"items": state.sherweb_customers})),
            "/service-provider/v1/billing/subscriptions" => {
                let Some(customer) = ex.param("customerId") else {
                    return Reply::json(400, &json!({"message": "customerId is required"}));
                };
                let items = state.sherweb_subscriptions.get(customer).cloned().unwrap_or_default();
                Reply::json(200, &json!({"items": items}))
            }
            _ => Reply::json(404, &json!({"message": "not found"})),
        }
    }
}

/// The first day of the month `back` months before today's.
fn month_start(today: NaiveDate, back: u32) -> NaiveDate {
    let first = today.with_day(1).unwrap_or(today);
    first.checked_sub_months(Months::new(back)).unwrap_or(first)
}

/// Pax8's invoices to the partner, one a month, each billing the month before it (its
/// items' `startDate`), for the cases an audit meets (`fixtures/CASES.md`, "Vendor
/// invoices"): last month paid; the month before re-issued (the first invoice void) with a
/// credit note of 2 seats; three months back a total that does not add up; this month's
/// still `Pending`.
fn pax8_invoices(today: NaiveDate) -> Vec<(Value, Vec<Value>)> {
    let item = |n: usize,
                company: &str,
                name: &str,
                product: &str,
                qty: i64,
                unit: f64,
                month: NaiveDate,
                charge: &str| {
        json!({
            "id": format!("it-{month}-{n}"), "companyId": company, "companyName": name,
            "productId": product, "productName": if product == PAX8_M365_BP { "Microsoft 365 Business Premium" } else { "Microsoft 365 Business Basic" },
            "quantity": qty, "unitPrice": unit, "total": (qty as f64 * unit * 100.0).round() / 100.0,
            "startDate": format!("{month}T00:00:00Z"),
            "endDate": format!("{}T00:00:00Z", month.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(month)),
            "chargeType": charge,
        })
    };
    let bp = PAX8_M365_BP;
    // The month's charges: (company, name, product, seats, unit cost).
    let month_items = |month: NaiveDate, obrien: i64| {
        [
            ("c0254", "O'Brien & Sons", bp, obrien, 20.0),
            ("c0263", "Greenfield Accounting LLC", bp, 12, 20.0),
            ("c0257", "Smith & Whitfield Attorneys", bp, 15, 20.9),
            ("c0265", "Coastal Orthodontics", bp, 37, 22.6),
            ("c0255", "Café Lumière", bp, 16, 20.0),
            ("c0260", "Northside Family Dentistry", bp, 52, 20.0),
            ("c0260", "Northside Family Dentistry", PAX8_M365_BASIC, 5, 6.0),
            ("c0999", "Tri-County Vet Partners", bp, 9, 20.0),
        ]
        .iter()
        .enumerate()
        .map(|(n, (c, name, p, q, u))| item(n, c, name, p, *q, *u, month, "Renewal"))
        .collect::<Vec<Value>>()
    };
    let invoice = |id: &str, dated: NaiveDate, status: &str, items: &[Value], stated: Option<f64>| {
        let sum: f64 = items.iter().filter_map(|i| i["total"].as_f64()).sum();
        json!({
            "id": id, "companyId": "partner-1", "invoiceDate": format!("{dated}T00:00:00Z"),
            "dueDate": format!("{}T00:00:00Z", dated.checked_add_days(Days::new(30)).unwrap_or(dated)),
            "total": stated.unwrap_or((sum * 100.0).round() / 100.0), "balance": 0.0, "status": status,
            "partnerName": "Sandbox MSP",
        })
    };
    let (m0, m1, m2, m3) =
        (month_start(today, 0), month_start(today, 1), month_start(today, 2), month_start(today, 3));
    let last = month_items(m1, 45);
    // Two months back: the first invoice (O'Brien at 46) was voided and re-issued at 45; a
    // credit note gave 2 of O'Brien's seats back.
    let first = month_items(m2, 46);
    let reissue = month_items(m2, 45);
    let credit = vec![item(9, "c0254", "O'Brien & Sons", bp, -2, 20.0, m2, "Credit")];
    let bad = month_items(m3, 45);
    let pending = month_items(m0, 45);
    let reissued_on = m1.checked_add_days(Days::new(4)).unwrap_or(m1);
    vec![
        (
            invoice("INV-P8-0", m0.checked_add_days(Days::new(1)).unwrap_or(m0), "Pending", &pending, None),
            pending,
        ),
        (invoice("INV-P8-1", m0, "Paid", &last, None), last),
        (invoice("INV-P8-2", m1, "Void", &first, None), first),
        (invoice("INV-P8-2R", reissued_on, "Paid", &reissue, None), reissue),
        (invoice("CN-P8-2", reissued_on, "Paid", &credit, None), credit),
        // States 10.00 more than its items add up to.
        (
            invoice(
                "INV-P8-3",
                m2,
                "Paid",
                &bad,
                Some(bad.iter().filter_map(|i| i["total"].as_f64()).sum::<f64>() + 10.0),
            ),
            bad,
        ),
    ]
}

/// Sherweb's payable charges: last month billed; this month's period still open.
fn sherweb_charges(today: NaiveDate) -> Vec<(NaiveDate, Value)> {
    let charge = |month: NaiveDate, customer: &str, name: &str, qty: i64, billed: bool| {
        json!({
            "chargeId": format!("ch-{month}-{customer}"), "chargeName": "Microsoft 365 Business Premium - Monthly",
            "customerId": customer, "customerName": name, "productName": "Microsoft 365 Business Premium",
            "sku": SHERWEB_M365_BP, "quantity": qty, "listPrice": 22.0, "unitPrice": 20.0,
            "subTotal": qty as f64 * 20.0, "currency": "USD", "billingCycleType": "Monthly",
            "periodFrom": format!("{month}T00:00:00Z"),
            "periodTo": format!("{}T00:00:00Z", month.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(month)),
            "isProratable": true, "isBilled": billed,
            "invoice": {"number": format!("SW-{}", month.format("%Y%m")), "date": format!("{}T00:00:00Z", month.checked_add_months(Months::new(1)).unwrap_or(month))},
        })
    };
    let (m0, m1) = (month_start(today, 0), month_start(today, 1));
    let mut out = Vec::new();
    for (month, billed) in [(m1, true), (m0, false)] {
        for (customer, name, qty) in [
            ("sw-281", "Bellweather Architects", 41),
            ("sw-285", "Delgado & Reyes Law Office", 43),
            ("sw-289", "Sunrise Dermatology", 32),
        ] {
            out.push((month, charge(month, customer, name, qty, billed)));
        }
    }
    out
}

/// Pax8's page-numbered list: `page` (0-based), `size` (at most 200, default 10).
fn page(ex: &Exchange, all: Vec<Value>) -> Reply {
    let size = ex.param("size").and_then(|s| s.parse::<usize>().ok()).unwrap_or(10).clamp(1, PAX8_MAX_SIZE);
    let number = ex.param("page").and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
    let total = all.len();
    let content: Vec<Value> = all.into_iter().skip(number * size).take(size).collect();
    Reply::json(
        200,
        &json!({
            "content": content,
            "page": {"size": size, "totalElements": total, "totalPages": total.div_ceil(size), "number": number},
        }),
    )
}
