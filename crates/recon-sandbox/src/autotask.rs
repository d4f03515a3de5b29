//! Fake Autotask PSA: zone discovery, the three API-user headers, `/query` with the filter
//! operators of the REST API and `nextPageUrl` paging, picklists in
//! `entityInformation/fields`, ContractServiceUnits derived from the adjustments received (a
//! row per monthly period, split at each change's effective date), posted periods,
//! create-only ContractServiceAdjustments (which create a missing contract service), errors
//! as `{"errors": [...]}` (validation as HTTP 500), the thread limit (a fourth concurrent
//! request on one entity endpoint fails) and the hourly request threshold.
//! Behaviour follows shared/reference/autotask.md, not recon's own code.
//!
//! Seeded from the ConnectWise fixtures, so the same vendor accounts match the same companies:
//! companies -> Companies, agreements -> Recurring Service Contracts, catalog -> Services,
//! additions -> one contract service per (contract, service) with its units.

use base64::Engine;
use chrono::{Datelike, Months, NaiveDate};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Credentials;
use super::fixtures;
use super::server::{Exchange, Reply, lock};

pub(crate) const ZONE: &str = "zone1";
const CUSTOMER: i64 = 1;
const PARTNER: i64 = 8;
const RECURRING_SERVICE: i64 = 7;
const ACTIVE: i64 = 1;
const INACTIVE: i64 = 0;
const THREADS_PER_ENDPOINT: usize = 3;
/// Contracts whose current month is already posted when the sandbox starts: a change to them
/// takes effect the 1st of next month.
pub const POSTED_THIS_MONTH: [i64; 2] = [3004, 3024];

pub(crate) struct Autotask {
    state: Mutex<State>,
    credentials: Credentials,
    zone: Mutex<String>,
    in_flight: Mutex<HashMap<String, usize>>,
    /// Times of the requests counted against the hourly threshold.
    hour: Mutex<VecDeque<Instant>>,
    /// How long each request is held in flight (so the thread limit can be met).
    hold: Mutex<Duration>,
    /// Next-page URLs point at another host (a test of where credentials go).
    foreign_next: Mutex<bool>,
    /// Answer every ContractServices query empty, as a security level with contract
    /// visibility "none" does (no error).
    hide_services: Mutex<bool>,
    /// Entities (lowercase) the API user's security level may not use: answered 403.
    denied: Mutex<Vec<String>>,
}

struct State {
    companies: Vec<Value>,
    contracts: Vec<Value>,
    services: Vec<Value>,
    contract_services: Vec<ContractService>,
    adjustments: Vec<Adjustment>,
    /// Contract id -> the first day not yet posted (periods before it are posted).
    posted_until: HashMap<i64, NaiveDate>,
    /// Contract id -> periods to post when the first adjustment for it arrives (an admin
    /// posting while a run is under way, between its read and its write).
    post_on_write: HashMap<i64, NaiveDate>,
    threshold: u64,
    /// Extra requests counted as made by other integrations.
    others: u64,
    next_id: i64,
    today: NaiveDate,
}

#[derive(Debug, Clone)]
struct ContractService {
    id: i64,
    contract_id: i64,
    service_id: i64,
    units: i64,
    unit_price: Value,
    unit_cost: Value,
}

#[derive(Debug, Clone)]
struct Adjustment {
    contract_service_id: i64,
    effective: NaiveDate,
    change: i64,
}

fn errors(status: u16, messages: &[&str]) -> Reply {
    Reply::json(status, &json!({ "errors": messages }))
}

/// The 429 body Autotask sends.
pub(crate) fn throttle_body(_retry_after_secs: u64) -> Value {
    json!({ "errors": ["The request has been throttled: too many requests."] })
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d)
}

fn date_text(d: NaiveDate) -> String {
    format!("{d}T00:00:00")
}

fn parse_date(v: &Value) -> Option<NaiveDate> {
    let text = v.as_str()?;
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

impl Autotask {
    pub fn new() -> io::Result<Autotask> {
        Ok(Autotask::from_connectwise(
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
        let fresh = Autotask::from_connectwise(companies, agreements, additions, catalog);
        *lock(&self.state) = fresh.state.into_inner().unwrap_or_else(|p| p.into_inner());
        Ok(())
    }

    /// The Autotask view of ConnectWise-shaped records (see the module's doc).
    fn from_connectwise(
        companies: Vec<Value>,
        agreements: Vec<Value>,
        mut additions: Vec<Value>,
        catalog: Vec<Value>,
    ) -> Autotask {
        let today = chrono::Utc::now().date_naive();
        let this_month = first_of_month(today);
        let companies: Vec<Value> = companies
            .into_iter()
            .map(|c| {
                let owner = c["types"].as_array().is_some_and(|t| t.iter().any(|t| t["name"] == "Owner"));
                json!({
                    "id": c["id"],
                    "companyName": c["name"],
                    "companyNumber": c["identifier"],
                    "companyType": if owner { PARTNER } else { CUSTOMER },
                    "isActive": !c["deletedFlag"].as_bool().unwrap_or(false),
                    "parentCompanyID": null,
                })
            })
            .collect();
        let contracts: Vec<Value> = agreements
            .into_iter()
            .map(|a| {
                let active = a["agreementStatus"] == "Active" && !a["cancelledFlag"].as_bool().unwrap_or(false);
                json!({
                    "id": a["id"],
                    "companyID": a["company"]["id"],
                    "contractName": a["name"],
                    "contractNumber": format!("RS-{}", a["id"]),
                    "contractType": RECURRING_SERVICE,
                    "status": if active { ACTIVE } else { INACTIVE },
                    "startDate": a["startDate"].as_str().and_then(|s| s.get(..10)).map(|d| format!("{d}T00:00:00")),
                    "endDate": a["endDate"].as_str().and_then(|s| s.get(..10)).map(|d| format!("{d}T00:00:00")),
                    "isDefaultContract": false,
                })
            })
            .collect();
        let services: Vec<Value> = catalog
            .into_iter()
            .map(|p| {
                json!({
                    "id": p["id"],
                    "name": p["identifier"],
                    "description": p["description"],
                    "isActive": !p["inactiveFlag"].as_bool().unwrap_or(false),
                    "unitPrice": p["price"],
                    "unitCost": p["cost"],
                    "periodType": "Monthly",
                })
            })
            .collect();
        let mut contract_services: Vec<ContractService> = Vec::new();
        additions.sort_by_key(|a| a["id"].as_i64());
        for a in &additions {
            let (Some(contract_id), Some(service_id)) =
                (a["agreementId"].as_i64(), a["product"]["id"].as_i64())
            else {
                continue;
            };
            // Autotask holds one line per (contract, service): the first addition wins; a
            // cancelled one stays as a line at 0 units (a line cannot be removed).
            if contract_services.iter().any(|s| s.contract_id == contract_id && s.service_id == service_id) {
                continue;
            }
            let cancelled = a.get("cancelledDate").is_some_and(|d| !d.is_null());
            contract_services.push(ContractService {
                id: a["id"].as_i64().unwrap_or(0),
                contract_id,
                service_id,
                units: if cancelled { 0 } else { a["quantity"].as_f64().unwrap_or(0.0) as i64 },
                unit_price: a["unitPrice"].clone(),
                unit_cost: a["unitCost"].clone(),
            });
        }
        let mut posted_until = HashMap::new();
        for c in &contracts {
            let id = c["id"].as_i64().unwrap_or(0);
            let until = if POSTED_THIS_MONTH.contains(&id) {
                this_month.checked_add_months(Months::new(1)).unwrap_or(this_month)
            } else {
                this_month
            };
            posted_until.insert(id, until);
        }
        let next_id = contract_services.iter().map(|s| s.id).max().unwrap_or(0).max(90_000) + 1;
        Autotask {
            state: Mutex::new(State {
                companies,
                contracts,
                services,
                contract_services,
                adjustments: Vec::new(),
                posted_until,
                post_on_write: HashMap::new(),
                threshold: 10_000,
                others: 0,
                next_id,
                today,
            }),
            credentials: Credentials::default(),
            zone: Mutex::new(ZONE.to_string()),
            in_flight: Mutex::new(HashMap::new()),
            hour: Mutex::new(VecDeque::new()),
            hold: Mutex::new(Duration::ZERO),
            foreign_next: Mutex::new(false),
            hide_services: Mutex::new(false),
            denied: Mutex::new(Vec::new()),
        }
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> Autotask {
        self.credentials = credentials;
        self
    }

    pub fn zone(&self) -> String {
        lock(&self.zone).clone()
    }

    pub fn set_zone(&self, zone: &str) {
        *lock(&self.zone) = zone.to_string();
    }

    pub fn set_hold(&self, hold: Duration) {
        *lock(&self.hold) = hold;
    }

    pub fn deny(&self, entity: &str) {
        lock(&self.denied).push(entity.to_ascii_lowercase());
    }

    pub fn set_hide_services(&self, hide: bool) {
        *lock(&self.hide_services) = hide;
    }

    pub fn set_foreign_next(&self, foreign: bool) {
        *lock(&self.foreign_next) = foreign;
    }

    /// The hourly threshold, and requests counted as other integrations' this hour.
    pub fn set_threshold(&self, limit: u64, used_by_others: u64) {
        let mut state = lock(&self.state);
        state.threshold = limit;
        state.others = used_by_others;
    }

    /// Periods of `contract` before `until` are posted.
    pub fn set_posted_until(&self, contract: i64, until: NaiveDate) {
        lock(&self.state).posted_until.insert(contract, until);
    }

    /// Post the periods of `contract` before `until` when its next adjustment arrives,
    /// before that adjustment is judged.
    pub fn post_on_write(&self, contract: i64, until: NaiveDate) {
        lock(&self.state).post_on_write.insert(contract, until);
    }

    /// Move a contract's start date.
    pub fn set_contract_start(&self, contract: i64, start: NaiveDate) {
        let mut state = lock(&self.state);
        if let Some(c) = state.contracts.iter_mut().find(|c| c["id"].as_i64() == Some(contract)) {
            c["startDate"] = json!(format!("{start}T00:00:00"));
        }
    }

    /// The units of a contract's service in force on `date` (None: no such line).
    pub fn units_at(&self, contract: i64, service: i64, date: NaiveDate) -> Option<i64> {
        let state = lock(&self.state);
        let line =
            state.contract_services.iter().find(|s| s.contract_id == contract && s.service_id == service)?;
        Some(units_on(&state, line, date))
    }

    /// Every adjustment received: (contract service id, effective date, unit change).
    pub fn adjustments(&self) -> Vec<(i64, NaiveDate, i64)> {
        lock(&self.state).adjustments.iter().map(|a| (a.contract_service_id, a.effective, a.change)).collect()
    }

    /// Add units to a line as someone working in Autotask would (an adjustment from `date`).
    pub fn adjust_by_hand(&self, contract: i64, service: i64, date: NaiveDate, change: i64) -> bool {
        let mut state = lock(&self.state);
        let Some(line) =
            state.contract_services.iter().find(|s| s.contract_id == contract && s.service_id == service)
        else {
            return false;
        };
        let id = line.id;
        state.adjustments.push(Adjustment { contract_service_id: id, effective: date, change });
        true
    }

    pub fn handle(&self, ex: &Exchange) -> Reply {
        let lower = ex.path.to_ascii_lowercase();
        if lower == "/atservicesrest/v1.0/zoneinformation" {
            return self.zone_information(ex);
        }
        let root = format!("/{}/atservicesrest/v1.0/", self.zone());
        let Some(rest) = lower.strip_prefix(&root) else {
            // Another zone's path: this database is not there (what a moved zone answers).
            return errors(401, &["The user is not authorized for this zone."]);
        };
        if !self.authenticated(ex) {
            return errors(
                401,
                &["Authentication failed: check the UserName, Secret and ApiIntegrationCode headers."],
            );
        }
        // The original spelling of the path's segments (entity names are case-insensitive).
        let segments: Vec<String> = rest.trim_end_matches('/').split('/').map(str::to_string).collect();
        let entity = segments.first().cloned().unwrap_or_default();
        if let Some(reply) = self.count_hourly() {
            return reply;
        }
        if lock(&self.denied).contains(&entity) {
            return errors(
                403,
                &["The logged in resource does not have the permission to access this entity."],
            );
        }
        let Some(_slot) = self.enter(&entity) else {
            return errors(
                429,
                &[
                    "Thread threshold exceeded: more than 3 concurrent requests to this endpoint by this integration.",
                ],
            );
        };
        let hold = *lock(&self.hold);
        if !hold.is_zero() {
            std::thread::sleep(hold);
        }
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        self.route(ex, &segments)
    }

    fn zone_information(&self, ex: &Exchange) -> Reply {
        let user = ex.param("user").unwrap_or_default();
        if user.is_empty() || !user.eq_ignore_ascii_case(&self.credentials.at_username) {
            return errors(500, &["Zone information could not be determined for this user."]);
        }
        let zone = self.zone();
        Reply::json(
            200,
            &json!({
                "zoneName": format!("Sandbox {zone}"),
                "url": format!("{}/{zone}/ATServicesRest/", ex.origin),
                "webUrl": format!("{}/{zone}/", ex.origin),
                "ci": 1,
            }),
        )
    }

    fn authenticated(&self, ex: &Exchange) -> bool {
        let c = &self.credentials;
        ex.header("UserName").is_some_and(|u| u.eq_ignore_ascii_case(&c.at_username))
            && ex.header("Secret") == Some(c.at_secret.as_str())
            && ex.header("ApiIntegrationCode") == Some(c.at_integration_code.as_str())
    }

    /// Count a request against the hourly threshold; past it, refuse (as Autotask blocks
    /// the whole database's API).
    fn count_hourly(&self) -> Option<Reply> {
        let now = Instant::now();
        let mut hour = lock(&self.hour);
        while hour.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(3600)) {
            hour.pop_front();
        }
        let state = lock(&self.state);
        if hour.len() as u64 + state.others >= state.threshold {
            return Some(errors(
                429,
                &["The request threshold of this database has been exceeded for the hour."],
            ));
        }
        hour.push_back(now);
        None
    }

    fn enter(&self, entity: &str) -> Option<Slot<'_>> {
        let key = entity.to_ascii_lowercase();
        let mut in_flight = lock(&self.in_flight);
        let n = in_flight.entry(key.clone()).or_default();
        if *n >= THREADS_PER_ENDPOINT {
            return None;
        }
        *n += 1;
        Some(Slot { owner: self, key })
    }

    fn route(&self, ex: &Exchange, segments: &[&str]) -> Reply {
        let method = ex.method.as_str();
        match segments {
            ["thresholdinformation"] if method == "GET" => self.threshold(),
            [entity, "entityinformation"] if method == "GET" => entity_information(entity),
            [entity, "entityinformation", "fields"] if method == "GET" => fields(entity),
            ["contractserviceadjustments"] if method == "POST" => self.adjust(ex),
            ["contractserviceadjustments", ..] => errors(
                405,
                &[
                    "ContractServiceAdjustments can only be created: they cannot be queried, updated or deleted.",
                ],
            ),
            [entity, "query"] if method == "POST" => match serde_json::from_slice::<Value>(&ex.body) {
                Ok(body) => self.query(ex, entity, &body, 0),
                Err(e) => errors(500, &[&format!("The query body is not JSON: {e}")]),
            },
            [entity, "query", "next"] if method == "GET" => {
                let Some((body, offset)) = ex.param("paging").and_then(decode_paging) else {
                    return errors(500, &["The paging token is not valid."]);
                };
                self.query(ex, entity, &body, offset)
            }
            [entity, id] if method == "GET" => {
                let records = self.records(entity, &[]);
                match records
                    .into_iter()
                    .find(|r| r["id"].as_i64().map(|i| i.to_string()).as_deref() == Some(*id))
                {
                    Some(item) => Reply::json(200, &json!({ "item": item })),
                    None => Reply::json(200, &json!({ "item": null })),
                }
            }
            _ => errors(404, &[&format!("No resource at {}", ex.path)]),
        }
    }

    fn threshold(&self) -> Reply {
        let used = lock(&self.hour).len() as u64;
        let state = lock(&self.state);
        Reply::json(
            200,
            &json!({
                "externalRequestThreshold": state.threshold,
                "requestThresholdTimeframe": 60,
                "currentTimeframeRequestCount": used + state.others,
            }),
        )
    }

    /// Every record of an entity, as Autotask would answer it now (unit rows only of the
    /// contracts `filter` names, when it names them: the rest could not match).
    fn records(&self, entity: &str, filter: &[Value]) -> Vec<Value> {
        let state = lock(&self.state);
        match entity {
            "companies" => state.companies.clone(),
            "contracts" => state.contracts.clone(),
            "services" => state.services.clone(),
            "contractservices" if *lock(&self.hide_services) => Vec::new(),
            "contractservices" => state
                .contract_services
                .iter()
                .map(|s| {
                    json!({
                        "id": s.id, "contractID": s.contract_id, "serviceID": s.service_id,
                        "unitPrice": s.unit_price, "unitCost": s.unit_cost, "invoiceDescription": null,
                    })
                })
                .collect(),
            "contractserviceunits" => unit_rows(&state, contract_ids_of(filter).as_ref()),
            _ => Vec::new(),
        }
    }

    fn query(&self, ex: &Exchange, entity: &str, body: &Value, offset: usize) -> Reply {
        if !matches!(
            entity,
            "companies" | "contracts" | "services" | "contractservices" | "contractserviceunits"
        ) {
            return errors(404, &[&format!("{entity} cannot be queried here")]);
        }
        let max =
            body.get("MaxRecords").or_else(|| body.get("maxRecords")).and_then(Value::as_u64).unwrap_or(500);
        if !(1..=500).contains(&max) {
            return errors(500, &["MaxRecords must be between 1 and 500."]);
        }
        let filter = body.get("Filter").or_else(|| body.get("filter")).cloned().unwrap_or(json!([]));
        let Some(items) = filter.as_array() else { return errors(500, &["Filter must be an array."]) };
        if items.is_empty() {
            return errors(500, &["A query needs at least one filter condition."]);
        }
        let mut matched = Vec::new();
        for record in self.records(entity, items) {
            match all(items, &record) {
                Ok(true) => matched.push(record),
                Ok(false) => {}
                Err(message) => return errors(500, &[&message]),
            }
        }
        matched.sort_by_key(|r| r["id"].as_i64());
        let fields: Vec<String> = body
            .get("IncludeFields")
            .and_then(Value::as_array)
            .map(|f| f.iter().filter_map(|v| v.as_str().map(str::to_ascii_lowercase)).collect())
            .unwrap_or_default();
        let page: Vec<Value> = matched
            .iter()
            .skip(offset)
            .take(max as usize)
            .map(|r| if fields.is_empty() { r.clone() } else { only(r, &fields) })
            .collect();
        let end = offset + page.len();
        let next = (end < matched.len()).then(|| {
            let origin = if *lock(&self.foreign_next) {
                ex.origin.replace("127.0.0.1", "localhost")
            } else {
                ex.origin.clone()
            };
            format!(
                "{origin}/{}/ATServicesRest/V1.0/{}/query/next?paging={}",
                self.zone(),
                entity_name(entity),
                encode_paging(body, end)
            )
        });
        Reply::json(
            200,
            &json!({
                "items": page,
                "pageDetails": { "count": end - offset, "requestCount": max, "prevPageUrl": null, "nextPageUrl": next },
            }),
        )
    }

    fn adjust(&self, ex: &Exchange) -> Reply {
        let Ok(body) = serde_json::from_slice::<Value>(&ex.body) else {
            return errors(500, &["The body is not JSON."]);
        };
        let mut state = lock(&self.state);
        let (Some(contract_id), Some(service_id)) = (body["contractID"].as_i64(), body["serviceID"].as_i64())
        else {
            return errors(500, &["contractID and serviceID are required."]);
        };
        let Some(effective) = parse_date(&body["effectiveDate"]) else {
            return errors(500, &["effectiveDate is required (a date)."]);
        };
        let Some(change) = body["unitChange"].as_i64().filter(|c| i32::try_from(*c).is_ok()) else {
            return errors(500, &["unitChange is required (a whole number of units)."]);
        };
        let Some(contract) = state.contracts.iter().find(|c| c["id"].as_i64() == Some(contract_id)).cloned()
        else {
            return errors(500, &[&format!("Contract {contract_id} does not exist.")]);
        };
        if contract["status"].as_i64() != Some(ACTIVE) {
            return errors(500, &["The contract is not active."]);
        }
        if parse_date(&contract["startDate"]).is_some_and(|start| effective < start) {
            return errors(500, &["The effective date is before the contract's start date."]);
        }
        if let Some(until) = state.post_on_write.remove(&contract_id) {
            state.posted_until.insert(contract_id, until);
        }
        if state.posted_until.get(&contract_id).is_some_and(|until| effective < *until) {
            return errors(
                500,
                &["The adjustment cannot be applied to an already approved and posted contract period."],
            );
        }
        let Some(service) = state.services.iter().find(|s| s["id"].as_i64() == Some(service_id)).cloned()
        else {
            return errors(500, &[&format!("Service {service_id} does not exist.")]);
        };
        let existing = state
            .contract_services
            .iter()
            .position(|s| s.contract_id == contract_id && s.service_id == service_id);
        let line_index = match existing {
            Some(i) => i,
            None => {
                if service["isActive"] != json!(true) {
                    return errors(500, &["The service is inactive."]);
                }
                let id = state.next_id;
                state.next_id += 1;
                state.contract_services.push(ContractService {
                    id,
                    contract_id,
                    service_id,
                    units: 0,
                    unit_price: service["unitPrice"].clone(),
                    unit_cost: service["unitCost"].clone(),
                });
                state.contract_services.len() - 1
            }
        };
        let line = state.contract_services[line_index].clone();
        // No date on or after the change may go below 0 units.
        let mut dates: Vec<NaiveDate> = vec![effective];
        dates.extend(
            state
                .adjustments
                .iter()
                .filter(|a| a.contract_service_id == line.id && a.effective > effective)
                .map(|a| a.effective),
        );
        if dates.iter().any(|d| units_on(&state, &line, *d) + change < 0) {
            if existing.is_none() {
                state.contract_services.pop();
            }
            return errors(500, &["The adjustment would make the units negative."]);
        }
        let id = state.next_id;
        state.next_id += 1;
        state.adjustments.push(Adjustment { contract_service_id: line.id, effective, change });
        Reply::json(200, &json!({ "itemId": id }))
    }
}

struct Slot<'a> {
    owner: &'a Autotask,
    key: String,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(n) = lock(&self.owner.in_flight).get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

fn units_on(state: &State, line: &ContractService, date: NaiveDate) -> i64 {
    let changes =
        state.adjustments.iter().filter(|a| a.contract_service_id == line.id && a.effective <= date);
    line.units + changes.map(|a| a.change).sum::<i64>()
}

/// One row per monthly period of each contract service (of `only` contracts, when given),
/// from three months before this one to twelve after (within the contract's dates), split at
/// each adjustment's effective date. `endDate` is the next row's `startDate`
/// (`startDate <= d < endDate`).
fn unit_rows(state: &State, only: Option<&std::collections::HashSet<i64>>) -> Vec<Value> {
    let this_month = first_of_month(state.today);
    let first = this_month.checked_sub_months(Months::new(3)).unwrap_or(this_month);
    let last = this_month.checked_add_months(Months::new(13)).unwrap_or(this_month);
    let mut changes: HashMap<i64, Vec<(NaiveDate, i64)>> = HashMap::new();
    for a in &state.adjustments {
        changes.entry(a.contract_service_id).or_default().push((a.effective, a.change));
    }
    let contracts: HashMap<i64, &Value> =
        state.contracts.iter().filter_map(|c| Some((c["id"].as_i64()?, c))).collect();
    let mut rows = Vec::new();
    let mut row_id = 1i64;
    for line in &state.contract_services {
        if only.is_some_and(|ids| !ids.contains(&line.contract_id)) {
            continue;
        }
        let Some(contract) = contracts.get(&line.contract_id) else { continue };
        let own: &[(NaiveDate, i64)] = changes.get(&line.id).map(Vec::as_slice).unwrap_or(&[]);
        let units =
            |d: NaiveDate| line.units + own.iter().filter(|(at, _)| *at <= d).map(|(_, c)| c).sum::<i64>();
        let start = parse_date(&contract["startDate"]).map(first_of_month).unwrap_or(first).max(first);
        let end = parse_date(&contract["endDate"])
            .and_then(|d| first_of_month(d).checked_add_months(Months::new(1)))
            .unwrap_or(last)
            .min(last);
        let posted_until = state.posted_until.get(&line.contract_id).copied();
        let mut period = start;
        while period < end {
            let next = period.checked_add_months(Months::new(1)).unwrap_or(end);
            let mut bounds = vec![period];
            let mut cuts: Vec<NaiveDate> =
                own.iter().map(|(d, _)| *d).filter(|d| *d > period && *d < next).collect();
            cuts.sort();
            cuts.dedup();
            bounds.extend(cuts);
            bounds.push(next);
            let posted = posted_until.is_some_and(|u| period < u);
            for pair in bounds.windows(2) {
                rows.push(json!({
                    "id": row_id,
                    "contractID": line.contract_id,
                    "contractServiceID": line.id,
                    "serviceID": line.service_id,
                    "startDate": date_text(pair[0]),
                    "endDate": date_text(pair[1]),
                    "units": units(pair[0]),
                    "price": line.unit_price,
                    "cost": line.unit_cost,
                    "approveAndPostDate": if posted { Value::String(date_text(period.succ_opt().unwrap_or(period))) } else { Value::Null },
                }));
                row_id += 1;
            }
            period = next;
        }
    }
    rows
}

/// The contract ids a query's top-level `contractID` condition (`eq` or `in`) names: the
/// fake builds unit rows only for those.
fn contract_ids_of(filter: &[Value]) -> Option<std::collections::HashSet<i64>> {
    filter.iter().find_map(|c| {
        if !c["field"].as_str().is_some_and(|f| f.eq_ignore_ascii_case("contractID")) {
            return None;
        }
        match c["op"].as_str()?.to_ascii_lowercase().as_str() {
            "eq" => Some(c["value"].as_i64().into_iter().collect()),
            "in" => Some(c["value"].as_array()?.iter().filter_map(Value::as_i64).collect()),
            _ => None,
        }
    })
}

fn entity_name(lower: &str) -> &'static str {
    match lower {
        "companies" => "Companies",
        "contracts" => "Contracts",
        "services" => "Services",
        "contractservices" => "ContractServices",
        "contractserviceunits" => "ContractServiceUnits",
        _ => "Unknown",
    }
}

fn entity_information(entity: &str) -> Reply {
    let (can_create, can_query) = match entity {
        "contractserviceadjustments" => (true, false),
        "contractserviceunits" => (false, true),
        _ => (true, true),
    };
    Reply::json(
        200,
        &json!({ "info": { "name": entity, "canCreate": can_create, "canQuery": can_query, "canUpdate": false, "canDelete": false } }),
    )
}

fn picklist(name: &str, values: &[(i64, &str)]) -> Value {
    json!({
        "name": name,
        "dataType": "integer",
        "isPickList": true,
        "picklistValues": values.iter().enumerate().map(|(i, (v, label))| json!({
            "value": v.to_string(), "label": label, "isDefaultValue": false, "sortOrder": i, "isActive": true, "isSystem": true,
        })).collect::<Vec<_>>(),
    })
}

fn fields(entity: &str) -> Reply {
    let fields = match entity {
        "companies" => vec![
            json!({"name": "id", "dataType": "long", "isPickList": false}),
            picklist(
                "companyType",
                &[
                    (CUSTOMER, "Customer"),
                    (2, "Lead"),
                    (3, "Prospect"),
                    (4, "Dead"),
                    (6, "Cancellation"),
                    (7, "Vendor"),
                    (PARTNER, "Partner"),
                ],
            ),
        ],
        "contracts" => vec![
            json!({"name": "id", "dataType": "long", "isPickList": false}),
            picklist(
                "contractType",
                &[
                    (1, "Time & Materials"),
                    (3, "Fixed Price"),
                    (4, "Block Hours"),
                    (6, "Retainer"),
                    (RECURRING_SERVICE, "Recurring Service"),
                    (8, "Per Ticket"),
                ],
            ),
            picklist("status", &[(INACTIVE, "Inactive"), (ACTIVE, "Active")]),
        ],
        _ => vec![json!({"name": "id", "dataType": "long", "isPickList": false})],
    };
    Reply::json(200, &json!({ "fields": fields }))
}

fn only(record: &Value, fields: &[String]) -> Value {
    let mut out = Map::new();
    if let Some(o) = record.as_object() {
        for (k, v) in o {
            if k == "id" || fields.iter().any(|f| f == &k.to_ascii_lowercase()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn encode_paging(body: &Value, offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"body": body, "offset": offset}).to_string())
}

fn decode_paging(token: &str) -> Option<(Value, usize)> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    Some((v["body"].clone(), v["offset"].as_u64()? as usize))
}

fn all(items: &[Value], record: &Value) -> Result<bool, String> {
    for item in items {
        if !matches(item, record)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One filter condition of the REST query language against a record.
fn matches(condition: &Value, record: &Value) -> Result<bool, String> {
    let op = condition["op"].as_str().ok_or("a filter condition needs an \"op\"")?.to_ascii_lowercase();
    if op == "and" || op == "or" {
        let items = condition["items"].as_array().ok_or("\"and\"/\"or\" needs \"items\"")?;
        if items.len() > 500 {
            return Err("At most 500 conditions may be grouped.".into());
        }
        let mut results = Vec::new();
        for item in items {
            results.push(matches(item, record)?);
        }
        return Ok(if op == "and" { results.iter().all(|r| *r) } else { results.iter().any(|r| *r) });
    }
    let field = condition["field"].as_str().ok_or("a filter condition needs a \"field\"")?;
    let actual = record
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)).map(|(_, v)| v.clone()))
        .unwrap_or(Value::Null);
    let value = &condition["value"];
    Ok(match op.as_str() {
        "exist" => !actual.is_null(),
        "notexist" => actual.is_null(),
        "eq" => compare(&actual, value)? == Some(std::cmp::Ordering::Equal),
        "noteq" => compare(&actual, value)? != Some(std::cmp::Ordering::Equal),
        "gt" => compare(&actual, value)? == Some(std::cmp::Ordering::Greater),
        "gte" => {
            matches!(compare(&actual, value)?, Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal))
        }
        "lt" => compare(&actual, value)? == Some(std::cmp::Ordering::Less),
        "lte" => {
            matches!(compare(&actual, value)?, Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal))
        }
        "in" | "notin" => {
            let list = value.as_array().ok_or("\"in\" needs an array value")?;
            if list.len() > 500 {
                return Err("At most 500 values may be given to \"in\".".into());
            }
            let mut found = false;
            for v in list {
                found |= compare(&actual, v)? == Some(std::cmp::Ordering::Equal);
            }
            if op == "in" { found } else { !found }
        }
        "beginswith" | "endswith" | "contains" => {
            let (Some(a), Some(v)) = (actual.as_str(), value.as_str()) else { return Ok(false) };
            let (a, v) = (a.to_lowercase(), v.to_lowercase());
            match op.as_str() {
                "beginswith" => a.starts_with(&v),
                "endswith" => a.ends_with(&v),
                _ => a.contains(&v),
            }
        }
        other => return Err(format!("Unknown filter operator {other:?}.")),
    })
}

/// Compare a record's value with a filter's: numbers as numbers, dates as dates, text
/// without case, booleans only with booleans (`"true"` is not a boolean: an error).
fn compare(actual: &Value, wanted: &Value) -> Result<Option<std::cmp::Ordering>, String> {
    Ok(match (actual, wanted) {
        (Value::Null, _) => None,
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Bool(_), other) => return Err(format!("A boolean field needs true or false, not {other}.")),
        (Value::Number(a), Value::Number(b)) => {
            a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b))
        }
        (Value::Number(a), Value::String(b)) => {
            a.as_f64().zip(b.trim().parse::<f64>().ok()).and_then(|(a, b)| a.partial_cmp(&b))
        }
        (Value::String(a), Value::String(b)) => match (parse_date(actual), parse_date(wanted)) {
            (Some(x), Some(y)) if a.len() >= 10 && b.len() >= 10 => Some(x.cmp(&y)),
            _ => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        },
        (Value::String(a), Value::Number(b)) => {
            a.trim().parse::<f64>().ok().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b))
        }
        _ => None,
    })
}
