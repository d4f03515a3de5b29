//! Fake HaloPSA: `GET /api/authinfo`, the OAuth2 client-credentials token endpoint (`POST
//! /auth/token`, scopes granted per application, tokens that expire), bearer tokens on every
//! `/api` call, the application's scopes and the agent's role checked (403 when either lacks
//! it), lists paged with `pageinate=true&page_size&page_no` and `record_count`, and the
//! recurring invoice written by POSTing an array: an element with an `id` updates that
//! invoice, its `lines` become the invoice's lines (a line with an `id` updates it, one
//! without is created, and **a line left out is deleted**, so a client that forgets lines is
//! caught). Hosted Halo's rolling 300 requests per 5 minutes answers 429 without
//! `Retry-After`. Errors in Halo's shapes. Behaviour follows shared/reference/halopsa.md.
//!
//! Seeded from the ConnectWise fixtures, so the same vendor accounts match the same clients:
//! companies -> Clients (the MSP itself left out), agreements -> ClientContracts (id + 5000,
//! ref `CON-<agreement>`) each with one recurring invoice (the agreement's id), additions ->
//! the invoice's lines (the addition's id), catalog -> Items.

use chrono::{Datelike, Months, NaiveDate};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Credentials;
use super::fixtures;
use super::server::{Exchange, Reply, lock};

/// The tenant `authinfo` names.
pub const TENANT: &str = "sandbox";
/// Contract ids are the agreement's id plus this.
pub const CONTRACT_ID_OFFSET: i64 = 5000;
/// The line whose quantity Halo computes (from licence counts): recon must leave it alone.
pub const COMPUTED_LINE: i64 = 7101;
/// Hosted Halo's rolling window.
const WINDOW_REQUESTS: usize = 300;
const WINDOW: Duration = Duration::from_secs(300);
/// Without `pageinate`, a list answers at most this many records (Halo's `count` default).
const UNPAGED: usize = 100;

pub(crate) struct Halo {
    state: Mutex<State>,
    credentials: Credentials,
    tokens: Mutex<HashMap<String, Instant>>,
    settings: Mutex<Settings>,
    window: Mutex<VecDeque<Instant>>,
}

struct Settings {
    /// What `expires_in` says, and when a token stops working.
    token_lifetime: Duration,
    /// The scopes the application was granted (`all`, or `read:customers` ...).
    granted: Vec<String>,
    /// Entities (lowercase) the agent's role may not use.
    role_denied: Vec<String>,
    /// (requests, window) of the rolling limit.
    limit: (usize, Duration),
    /// Lists say one more record than they serve (a short read).
    short_read: bool,
    /// (invoice, line, fields): applied when that invoice is next read by itself, as a person
    /// editing it in Halo between recon's plan and its write would.
    edit_on_read: Option<(i64, i64, Value)>,
    /// Every token is revoked once this many more `/api` requests have been answered.
    revoke_after: Option<usize>,
}

struct State {
    clients: Vec<Value>,
    contracts: Vec<Value>,
    invoices: Vec<Invoice>,
    items: Vec<Value>,
    next_line_id: i64,
    tokens_issued: u64,
}

struct Invoice {
    header: Map<String, Value>,
    lines: Vec<Value>,
}

impl Invoice {
    fn id(&self) -> i64 {
        self.header.get("id").and_then(Value::as_i64).unwrap_or(0)
    }

    fn with_lines(&self, lines: bool) -> Value {
        let mut v = self.header.clone();
        if lines {
            v.insert("lines".into(), Value::Array(self.lines.clone()));
        }
        Value::Object(v)
    }
}

fn date_text(d: &Value) -> Value {
    d.as_str().and_then(|s| s.get(..10)).map_or(Value::Null, |d| json!(format!("{d}T00:00:00")))
}

/// A Halo error in the shape most of its endpoints use.
fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "ClassName": "HaloAPI.Exception", "Message": message }))
}

/// The 429 body hosted Halo sends (no `Retry-After`).
pub(crate) fn throttle_body(_retry_after_secs: u64) -> Value {
    json!({ "resultCode": 429, "errorMessage": "Rate Limit Reached - 300 Requests per rolling 5 minute window" })
}

impl Halo {
    pub fn new() -> io::Result<Halo> {
        Ok(Halo::from_connectwise(
            fixtures::records("companies.json", fixtures::COMPANIES)?,
            fixtures::records("agreements.json", fixtures::AGREEMENTS)?,
            fixtures::records("additions.json", fixtures::ADDITIONS)?,
            fixtures::records("catalog.json", fixtures::CATALOG)?,
        ))
    }

    /// Serve other records (the scale benchmark's generated MSP) instead of the fixtures'.
    #[cfg(feature = "scale")]
    pub fn replace_records(
        &self,
        companies: Vec<Value>,
        agreements: Vec<Value>,
        additions: Vec<Value>,
    ) -> io::Result<()> {
        let catalog = fixtures::records("catalog.json", fixtures::CATALOG)?;
        let fresh = Halo::from_connectwise(companies, agreements, additions, catalog);
        *lock(&self.state) = fresh.state.into_inner().unwrap_or_else(|p| p.into_inner());
        Ok(())
    }

    fn from_connectwise(
        companies: Vec<Value>,
        agreements: Vec<Value>,
        additions: Vec<Value>,
        catalog: Vec<Value>,
    ) -> Halo {
        let today = chrono::Utc::now().date_naive();
        let next_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1)
            .and_then(|d| d.checked_add_months(Months::new(1)))
            .unwrap_or(today);
        let clients = companies
            .into_iter()
            .filter(|c| !c["types"].as_array().is_some_and(|t| t.iter().any(|t| t["name"] == "Owner")))
            .map(|c| {
                json!({
                    "id": c["id"],
                    "name": c["name"],
                    "ref": c["identifier"],
                    "inactive": c["deletedFlag"].as_bool().unwrap_or(false),
                    "toplevel_id": 1,
                })
            })
            .collect();
        let mut contracts = Vec::new();
        let mut invoices = Vec::new();
        for a in &agreements {
            let id = a["id"].as_i64().unwrap_or(0);
            let active = a["agreementStatus"] == "Active" && !a["cancelledFlag"].as_bool().unwrap_or(false);
            let contract_id = id + CONTRACT_ID_OFFSET;
            let reference = format!("CON-{id}");
            contracts.push(json!({
                "id": contract_id,
                "client_id": a["company"]["id"],
                "client_name": a["company"]["name"],
                "ref": reference,
                "start_date": date_text(&a["startDate"]),
                "end_date": date_text(&a["endDate"]),
                "expired": !active,
                "status": if active { "active" } else { "expired" },
            }));
            // An ended agreement's invoice ended with it (yesterday, if it had no date).
            let enddate = match date_text(&a["endDate"]) {
                Value::Null if !active => json!(format!("{}T00:00:00", today.pred_opt().unwrap_or(today))),
                other => other,
            };
            let mut header = Map::new();
            header.insert("id".into(), json!(id));
            header.insert("client_id".into(), a["company"]["id"].clone());
            header.insert("client_name".into(), a["company"]["name"].clone());
            header.insert("contract_id".into(), json!(contract_id));
            header.insert("contract_ref".into(), json!(reference));
            header.insert("is_recurring_invoice".into(), json!(true));
            header.insert("startdate".into(), date_text(&a["startDate"]));
            header.insert("enddate".into(), enddate);
            header.insert("nextcreationdate".into(), json!(format!("{next_month}T00:00:00")));
            header.insert("period_type".into(), json!("monthly"));
            header.insert("approval_status".into(), json!(0));
            let lines = additions
                .iter()
                .filter(|x| x["agreementId"].as_i64() == Some(id))
                .map(|x| {
                    let line_id = x["id"].as_i64().unwrap_or(0);
                    json!({
                        "id": line_id,
                        "ihid": id,
                        "_itemid": x["product"]["id"],
                        "item_code": x["product"]["identifier"],
                        "item_shortdescription": x["description"],
                        "qty_order": x["quantity"].as_f64().unwrap_or(0.0),
                        "unit_price": x["unitPrice"],
                        "unit_cost": x["unitCost"],
                        "isinactive": false,
                        "startdate": date_text(&x["effectiveDate"]),
                        "enddate": date_text(&x["cancelledDate"]),
                        "recurring_invoice_quantity_type": if line_id == COMPUTED_LINE { 2 } else { 0 },
                        "contract_id": contract_id,
                        "sequenceid": line_id,
                    })
                })
                .collect();
            invoices.push(Invoice { header, lines });
        }
        let items = catalog
            .into_iter()
            .map(|p| {
                json!({
                    "id": p["id"],
                    "name": p["identifier"],
                    "description": p["description"],
                    "baseprice": p["price"],
                    "costprice": p["cost"],
                    "inactive": p["inactiveFlag"].as_bool().unwrap_or(false),
                })
            })
            .collect();
        let next_line_id = 90_000;
        Halo {
            state: Mutex::new(State { clients, contracts, invoices, items, next_line_id, tokens_issued: 0 }),
            credentials: Credentials::default(),
            tokens: Mutex::new(HashMap::new()),
            settings: Mutex::new(Settings {
                token_lifetime: Duration::from_secs(3600),
                granted: vec!["all".into()],
                role_denied: Vec::new(),
                limit: (WINDOW_REQUESTS, WINDOW),
                short_read: false,
                edit_on_read: None,
                revoke_after: None,
            }),
            window: Mutex::new(VecDeque::new()),
        }
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> Halo {
        self.credentials = credentials;
        self
    }

    // ---- test hooks ----------------------------------------------------------------

    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.settings).token_lifetime = lifetime;
    }

    /// Every token issued so far stops working (as a revoked application's do).
    pub fn revoke_tokens(&self) {
        lock(&self.tokens).clear();
    }

    pub fn tokens_issued(&self) -> u64 {
        lock(&self.state).tokens_issued
    }

    pub fn set_granted_scopes(&self, scopes: &[&str]) {
        lock(&self.settings).granted = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// The agent's role may not use `entity` (`Client`, `RecurringInvoice`, ...).
    pub fn deny_role(&self, entity: &str) {
        lock(&self.settings).role_denied.push(entity.to_ascii_lowercase());
    }

    pub fn set_rate_limit(&self, requests: usize, window: Duration) {
        lock(&self.settings).limit = (requests, window);
        lock(&self.window).clear();
    }

    pub fn edit_on_next_read(&self, invoice: i64, line: i64, fields: Value) {
        lock(&self.settings).edit_on_read = Some((invoice, line, fields));
    }

    pub fn revoke_tokens_after(&self, requests: usize) {
        lock(&self.settings).revoke_after = Some(requests);
    }

    pub fn set_short_read(&self, short: bool) {
        lock(&self.settings).short_read = short;
    }

    /// The lines of a recurring invoice as Halo holds them now.
    pub fn invoice_lines(&self, invoice: i64) -> Vec<Value> {
        lock(&self.state)
            .invoices
            .iter()
            .find(|i| i.id() == invoice)
            .map(|i| i.lines.clone())
            .unwrap_or_default()
    }

    /// Halo creates the invoice due from recurring invoice `invoice`: its `nextcreationdate`
    /// moves on a month, and each line's pending pro-rata quantity (`prorata_next_invoice`
    /// with `prorata_quantity`) is added to its `qty_order` and cleared, as Halo documents
    /// for a line whose quantity is set by hand. False when there is no such invoice.
    pub fn create_invoice(&self, invoice: i64) -> bool {
        let mut state = lock(&self.state);
        let Some(inv) = state.invoices.iter_mut().find(|i| i.id() == invoice) else { return false };
        let next = inv.header.get("nextcreationdate").and_then(Value::as_str).and_then(|d| {
            NaiveDate::parse_from_str(d.get(..10)?, "%Y-%m-%d").ok()?.checked_add_months(Months::new(1))
        });
        if let Some(next) = next {
            inv.header.insert("nextcreationdate".into(), json!(format!("{next}T00:00:00")));
        }
        for line in &mut inv.lines {
            let pending = line["prorata_quantity"].as_f64().unwrap_or(0.0);
            if line["prorata_next_invoice"] == true && pending != 0.0 {
                line["qty_order"] = json!(line["qty_order"].as_f64().unwrap_or(0.0) + pending);
                line["prorata_quantity"] = json!(0.0);
                line["prorata_next_invoice"] = json!(false);
            }
        }
        true
    }

    /// Edit a line by hand (`fields` set on it); false when there is no such line.
    pub fn edit_line(&self, invoice: i64, line: i64, fields: &Value) -> bool {
        let mut state = lock(&self.state);
        let Some(inv) = state.invoices.iter_mut().find(|i| i.id() == invoice) else { return false };
        let Some(l) = inv.lines.iter_mut().find(|l| l["id"].as_i64() == Some(line)) else { return false };
        if let (Some(target), Some(set)) = (l.as_object_mut(), fields.as_object()) {
            for (k, v) in set {
                target.insert(k.clone(), v.clone());
            }
        }
        true
    }

    // ---- serving ---------------------------------------------------------------------

    pub fn handle(&self, ex: &Exchange) -> Reply {
        let lower = ex.path.to_ascii_lowercase();
        if lower == "/auth/token" {
            return self.token(ex);
        }
        let Some(rest) = lower.strip_prefix("/api/") else { return error(404, "Not found") };
        if rest == "authinfo" {
            return Reply::json(
                200,
                &json!({ "auth_url": format!("{}/auth", ex.origin), "tenant_id": TENANT }),
            );
        }
        if let Some(reply) = self.count_in_window() {
            return reply;
        }
        let revoke = {
            let mut settings = lock(&self.settings);
            match settings.revoke_after.as_mut() {
                Some(0) => {
                    settings.revoke_after = None;
                    true
                }
                Some(n) => {
                    *n -= 1;
                    false
                }
                None => false,
            }
        };
        if revoke {
            self.revoke_tokens();
        }
        let Some(scopes) = self.bearer_scopes(ex) else {
            return Reply::json(
                401,
                &json!({ "error": "invalid_token", "error_description": "The access token is missing, expired or revoked" }),
            );
        };
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let entity = segments.first().copied().unwrap_or_default();
        let write = ex.method != "GET";
        let needed = match entity {
            "client" => "customers",
            "clientcontract" => "contracts",
            "recurringinvoice" => "invoices",
            "item" => "items",
            _ => return error(404, "Not found"),
        };
        let needed = format!("{}:{needed}", if write { "edit" } else { "read" });
        let has =
            |s: &String| s == "all" || *s == needed || (!write && *s == needed.replace("read:", "edit:"));
        if !scopes.iter().any(has) {
            return error(403, &format!("The application has not been granted the scope {needed}"));
        }
        if lock(&self.settings).role_denied.iter().any(|d| d == entity) {
            return error(403, "You do not have permission to perform this action (agent role)");
        }
        match (ex.method.as_str(), segments.as_slice()) {
            ("GET", ["client"]) => self.list(ex, "clients", |s| filter(&s.clients, ex, "id")),
            ("GET", ["clientcontract"]) => {
                self.list(ex, "contracts", |s| filter(&s.contracts, ex, "client_id"))
            }
            ("GET", ["recurringinvoice"]) => {
                let lines = ex.param("includelines").is_some_and(|v| v.eq_ignore_ascii_case("true"));
                self.list(ex, "invoices", |s| {
                    let all: Vec<Value> = s.invoices.iter().map(|i| i.with_lines(lines)).collect();
                    filter(&all, ex, "client_id")
                })
            }
            ("GET", ["recurringinvoice", id]) => {
                let edit = lock(&self.settings).edit_on_read.take_if(|(inv, _, _)| id.parse() == Ok(*inv));
                if let Some((invoice, line, fields)) = edit {
                    self.edit_line(invoice, line, &fields);
                }
                let state = lock(&self.state);
                match id.parse::<i64>().ok().and_then(|id| state.invoices.iter().find(|i| i.id() == id)) {
                    Some(invoice) => Reply::json(200, &invoice.with_lines(true)),
                    None => error(404, "Recurring invoice not found"),
                }
            }
            ("POST", ["recurringinvoice"]) => self.post_invoices(ex),
            // They exist in Halo; recon must never call them (tests read the request log).
            ("POST", ["recurringinvoice", "updatelines" | "process" | "lines"]) => {
                Reply::json(200, &json!([]))
            }
            ("GET", ["item"]) => self.list(ex, "items", |s| s.items.clone()),
            _ => error(404, "Not found"),
        }
    }

    fn token(&self, ex: &Exchange) -> Reply {
        if ex.method != "POST" {
            return Reply::json(405, &json!({ "error": "invalid_request" }));
        }
        if ex.param("tenant").is_some_and(|t| t != TENANT) {
            return Reply::json(
                400,
                &json!({ "error": "invalid_request", "error_description": "Unknown tenant" }),
            );
        }
        let form: HashMap<String, String> = url::form_urlencoded::parse(&ex.body).into_owned().collect();
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
        if field("grant_type") != "client_credentials" {
            return Reply::json(400, &json!({ "error": "unsupported_grant_type" }));
        }
        if field("client_id") != self.credentials.halo_client_id
            || field("client_secret") != self.credentials.halo_client_secret
        {
            return Reply::json(
                401,
                &json!({ "error": "invalid_client", "error_description": "The client id or secret is wrong" }),
            );
        }
        let settings = lock(&self.settings);
        let asked: Vec<String> = field("scope").split_whitespace().map(str::to_string).collect();
        let all_granted = settings.granted.iter().any(|g| g == "all");
        // Asking for `all` when the application was granted less fails, as Gradient warns.
        if asked.is_empty() || asked.iter().any(|a| !all_granted && !settings.granted.contains(a)) {
            return Reply::json(
                400,
                &json!({ "error": "invalid_scope", "error_description": "The application is not granted the scope asked for" }),
            );
        }
        let mut state = lock(&self.state);
        state.tokens_issued += 1;
        let token = format!("halo-token-{}-{}", state.tokens_issued, fastrand::u64(..));
        let scopes = if asked.iter().any(|a| a == "all") { settings.granted.clone() } else { asked };
        lock(&self.tokens)
            .insert(format!("{token} {}", scopes.join(" ")), Instant::now() + settings.token_lifetime);
        Reply::json(
            200,
            &json!({
                "token_type": "Bearer",
                "access_token": token,
                "expires_in": settings.token_lifetime.as_secs(),
                "refresh_token": "",
                "id_token": "",
            }),
        )
    }

    /// The scopes of the request's valid bearer token.
    fn bearer_scopes(&self, ex: &Exchange) -> Option<Vec<String>> {
        let token = ex.header("authorization")?.strip_prefix("Bearer ")?.trim().to_string();
        let now = Instant::now();
        let tokens = lock(&self.tokens);
        tokens.iter().find_map(|(key, expires)| {
            let (t, scopes) = key.split_once(' ').unwrap_or((key.as_str(), ""));
            (t == token && *expires > now).then(|| scopes.split_whitespace().map(str::to_string).collect())
        })
    }

    /// Hosted Halo's rolling limit: past it, 429 with no `Retry-After`.
    fn count_in_window(&self) -> Option<Reply> {
        let (limit, window) = lock(&self.settings).limit;
        let now = Instant::now();
        let mut sent = lock(&self.window);
        while sent.front().is_some_and(|t| now.duration_since(*t) >= window) {
            sent.pop_front();
        }
        if sent.len() >= limit {
            return Some(Reply::json(429, &throttle_body(0)));
        }
        sent.push_back(now);
        None
    }

    /// A list with `record_count`, paged when `pageinate=true`.
    fn list(&self, ex: &Exchange, key: &str, records: impl FnOnce(&State) -> Vec<Value>) -> Reply {
        let all = records(&lock(&self.state));
        let short = lock(&self.settings).short_read;
        let paged = ex.param("pageinate").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let page: Vec<Value> = if paged {
            let size = ex.param("page_size").and_then(|v| v.parse::<usize>().ok()).unwrap_or(50).max(1);
            let number = ex.param("page_no").and_then(|v| v.parse::<usize>().ok()).unwrap_or(1).max(1);
            all.iter().skip((number - 1) * size).take(size).cloned().collect()
        } else {
            let count = ex.param("count").and_then(|v| v.parse::<usize>().ok()).unwrap_or(UNPAGED);
            all.iter().take(count).cloned().collect()
        };
        let count = all.len() + usize::from(short);
        Reply::json(200, &json!({ "record_count": count, key: page }))
    }

    /// `POST /RecurringInvoice` with an array: each element with an `id` updates that
    /// invoice; its `lines` replace the invoice's lines (update by id, create without one,
    /// delete what is left out). Answers the saved invoice.
    fn post_invoices(&self, ex: &Exchange) -> Reply {
        let Ok(Value::Array(posted)) = serde_json::from_slice::<Value>(&ex.body) else {
            return Reply::json(400, &json!({ "errors": ["The request body must be an array"] }));
        };
        let mut state = lock(&self.state);
        let item_ids: Vec<i64> = state.items.iter().filter_map(|i| i["id"].as_i64()).collect();
        // Validate every element first: a refused request changes nothing.
        for p in &posted {
            let Some(id) = p.get("id").and_then(Value::as_i64) else {
                return Reply::json(
                    400,
                    &json!({ "errors": ["Creating recurring invoices is not supported here"] }),
                );
            };
            let Some(invoice) = state.invoices.iter().find(|i| i.id() == id) else {
                return Reply::json(400, &json!({ "errors": [format!("Recurring invoice {id} not found")] }));
            };
            for line in p.get("lines").and_then(Value::as_array).into_iter().flatten() {
                if let Some(line_id) = line.get("id").and_then(Value::as_i64)
                    && !invoice.lines.iter().any(|l| l["id"].as_i64() == Some(line_id))
                {
                    return Reply::json(
                        400,
                        &json!({ "errors": [format!("Line {line_id} is not on recurring invoice {id}")] }),
                    );
                }
                let item = line.get("_itemid").and_then(Value::as_i64);
                if line.get("id").is_none() && !item.is_some_and(|i| item_ids.contains(&i)) {
                    return Reply::json(400, &json!({ "errors": [format!("Item {item:?} does not exist")] }));
                }
                if line.get("qty_order").is_some_and(|q| q.as_f64().is_none_or(|q| q < 0.0)) {
                    return Reply::json(
                        400,
                        &json!({ "errors": ["qty_order must be a number, at least 0"] }),
                    );
                }
            }
        }
        let mut saved = Vec::new();
        for p in posted {
            let id = p.get("id").and_then(Value::as_i64).unwrap_or(0);
            let mut next_line_id = state.next_line_id;
            let Some(invoice) = state.invoices.iter_mut().find(|i| i.id() == id) else { continue };
            if let Some(Value::Object(fields)) = Some(&p) {
                for (k, v) in fields {
                    if k != "lines" && k != "id" {
                        invoice.header.insert(k.clone(), v.clone());
                    }
                }
            }
            if let Some(lines) = p.get("lines").and_then(Value::as_array) {
                let mut kept = Vec::new();
                for line in lines {
                    match line.get("id").and_then(Value::as_i64) {
                        Some(line_id) => {
                            let mut current = invoice
                                .lines
                                .iter()
                                .find(|l| l["id"].as_i64() == Some(line_id))
                                .cloned()
                                .unwrap_or_else(|| json!({}));
                            if let (Some(c), Some(set)) = (current.as_object_mut(), line.as_object()) {
                                for (k, v) in set {
                                    c.insert(k.clone(), v.clone());
                                }
                            }
                            kept.push(current);
                        }
                        None => {
                            next_line_id += 1;
                            let mut new = line.clone();
                            new["id"] = json!(next_line_id);
                            new["ihid"] = json!(id);
                            if new.get("recurring_invoice_quantity_type").is_none() {
                                new["recurring_invoice_quantity_type"] = json!(0);
                            }
                            kept.push(new);
                        }
                    }
                }
                invoice.lines = kept;
            }
            saved.push(invoice.with_lines(true));
            state.next_line_id = next_line_id;
        }
        match saved.len() {
            1 => Reply::json(200, &saved[0]),
            _ => Reply::json(200, &Value::Array(saved)),
        }
    }
}

/// Records whose `field` equals the query parameter of that name, when given.
fn filter(records: &[Value], ex: &Exchange, field: &str) -> Vec<Value> {
    let wanted = if field == "id" { None } else { ex.param(field).and_then(|v| v.parse::<i64>().ok()) };
    records.iter().filter(|r| wanted.is_none_or(|w| r[field].as_i64() == Some(w))).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        token: Option<&str>,
        body: &str,
    ) -> Exchange {
        let mut headers = Vec::new();
        if let Some(t) = token {
            headers.push(("Authorization".to_string(), format!("Bearer {t}")));
        }
        Exchange {
            method: method.into(),
            path: path.into(),
            query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            headers,
            body: body.as_bytes().to_vec(),
            origin: "http://127.0.0.1:1".into(),
        }
    }

    fn token(halo: &Halo) -> String {
        let c = Credentials::default();
        let body = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope=all",
            c.halo_client_id, c.halo_client_secret
        );
        let reply = halo.handle(&exchange("POST", "/auth/token", &[("tenant", TENANT)], None, &body));
        assert_eq!(reply.status, 200, "{}", reply.body);
        serde_json::from_str::<Value>(&reply.body).unwrap()["access_token"].as_str().unwrap().to_string()
    }

    #[test]
    fn a_line_left_out_of_a_repost_is_deleted_and_one_without_an_id_is_created() {
        let halo = Halo::new().unwrap();
        let t = token(&halo);
        let before = halo.invoice_lines(3001);
        assert!(before.len() >= 3, "{before:?}");
        let kept = json!({"id": before[0]["id"], "qty_order": 99.0});
        let body = json!([{"id": 3001, "lines": [kept, {"_itemid": 501, "qty_order": 4}]}]).to_string();
        let reply = halo.handle(&exchange("POST", "/api/RecurringInvoice", &[], Some(&t), &body));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let after = halo.invoice_lines(3001);
        assert_eq!(after.len(), 2, "the lines left out are gone");
        assert_eq!(after[0]["qty_order"], 99.0);
        assert_eq!(after[0]["item_code"], before[0]["item_code"], "fields not sent are kept");
        assert!(after[1]["id"].as_i64().unwrap() > 90_000);
    }

    #[test]
    fn lists_page_with_record_count_and_scopes_and_tokens_are_checked() {
        let halo = Halo::new().unwrap();
        let reply = halo.handle(&exchange("GET", "/api/Client", &[], None, ""));
        assert_eq!(reply.status, 401);
        let t = token(&halo);
        let q = [("pageinate", "true"), ("page_size", "10"), ("page_no", "2")];
        let reply = halo.handle(&exchange("GET", "/api/Client", &q, Some(&t), ""));
        let body: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["clients"].as_array().unwrap().len(), 10);
        assert!(body["record_count"].as_u64().unwrap() > 20);
        // Asking for `all` when the application was granted less is refused; a token of the
        // granted scope reads only what it covers.
        halo.set_granted_scopes(&["read:customers"]);
        let c = Credentials::default();
        let ask = |scope: &str| {
            let body = format!(
                "grant_type=client_credentials&client_id={}&client_secret={}&scope={scope}",
                c.halo_client_id, c.halo_client_secret
            );
            halo.handle(&exchange("POST", "/auth/token", &[], None, &body))
        };
        assert_eq!(ask("all").status, 400);
        let reply = ask("read:customers");
        let t =
            serde_json::from_str::<Value>(&reply.body).unwrap()["access_token"].as_str().unwrap().to_string();
        assert_eq!(halo.handle(&exchange("GET", "/api/Client", &q, Some(&t), "")).status, 200);
        assert_eq!(halo.handle(&exchange("GET", "/api/Item", &[], Some(&t), "")).status, 403);
        halo.set_rate_limit(2, Duration::from_secs(60));
        halo.set_granted_scopes(&["all"]);
        let t = token(&halo);
        for _ in 0..2 {
            assert_eq!(halo.handle(&exchange("GET", "/api/Item", &[], Some(&t), "")).status, 200);
        }
        let reply = halo.handle(&exchange("GET", "/api/Item", &[], Some(&t), ""));
        assert_eq!(reply.status, 429);
        assert!(reply.headers.iter().all(|(k, _)| !k.eq_ignore_ascii_case("retry-after")));
    }
}
