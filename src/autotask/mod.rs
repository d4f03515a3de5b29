//! The Autotask PSA REST client: zone discovery (and one re-discovery on an unexpected
//! 401), the three API-user headers sent only to the zone's origin, `/query` with filters and
//! `nextPageUrl` paging, picklist ids read from `entityInformation/fields`, at most three
//! requests in flight per entity endpoint, and ContractServiceAdjustments: the only way
//! Autotask changes a quantity, a signed delta from a date that is never sent twice.

mod backend;
mod units;
mod wire;

pub use backend::REGISTRATION;

pub use units::open_from;

use crate::http::{Http, HttpError, Repeat, Request, display_url};
use crate::model::{BillingContainer, BillingLine, BillingTerms, CatalogProduct, PsaCompany};
use crate::secret::Secret;
use chrono::NaiveDate;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex, RwLock};
use url::Url;

const SERVICE: &str = "autotask";
/// Where zone discovery asks, unless `[autotask] zone_url` skips it.
pub const DISCOVERY_URL: &str = "https://webservices2.autotask.net/atservicesrest/";
/// recon's default share of the database's 10,000 requests an hour (shared by every
/// integration of the MSP).
pub const DEFAULT_REQUESTS_PER_HOUR: u32 = 3_000;
/// The database's own limit per rolling hour.
pub const DATABASE_REQUESTS_PER_HOUR: u32 = 10_000;
/// Autotask's thread limit: three concurrent requests per entity endpoint per integration.
const THREADS_PER_ENDPOINT: usize = 3;
const MAX_RECORDS: usize = 500;
/// Ids per `in` filter: well under the 500 conditions a query may hold.
pub const ID_CHUNK: usize = 200;
const MAX_PAGES: usize = 10_000;

/// The `[autotask]` section, validated.
#[derive(Debug, Clone)]
pub struct AutotaskSettings {
    pub username: String,
    pub secret: Secret,
    pub integration_code: Secret,
    /// The zone's API URL (`https://webservices5.autotask.net/ATServicesRest/`): skips discovery.
    pub zone_url: Option<Url>,
    /// Where discovery asks (only tests and the sandbox change it).
    pub discovery_url: Url,
    pub requests_per_hour: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum AtError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(
        "autotask: {method} {url} was refused ({status}): {}",
        if *.status == 401 {
            "the username, secret or integration code is wrong, or the user is not an API-only user (security level \"API User (API-only)\")".to_string()
        } else {
            format!("the API user's security level most likely lacks {permission}")
        }
    )]
    Permission { method: Method, url: String, status: u16, permission: &'static str },
    #[error("autotask: zone discovery for user {username:?} failed: {message}")]
    Zone { username: String, message: String },
    /// recon's share of the rolling hour is spent: nothing was sent.
    #[error("autotask: {0}")]
    Budget(String),
    #[error("autotask: {0}")]
    Other(String),
}

/// What `recon check` shows.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub api_base: String,
    pub threshold: Threshold,
}

/// The database's use of its hourly budget, as `ThresholdInformation` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub limit: u64,
    pub used: u64,
}

impl Threshold {
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

/// One ContractServiceAdjustment: `unit_change` units of a service on a contract from a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adjustment {
    pub contract_id: i64,
    pub service_id: i64,
    pub effective_date: NaiveDate,
    pub unit_change: i32,
}

pub struct Autotask<'h> {
    http: &'h Http,
    /// `{zone}V1.0/`; replaced when a re-discovery finds another zone.
    base: RwLock<Url>,
    discovery: Option<Discovery>,
    username: String,
    secret: Secret,
    integration_code: Secret,
    gate: Gate,
    /// (entity, field, label) -> picklist id, read once per client.
    picklists: Mutex<HashMap<(String, String, String), i64>>,
    /// Contract id -> its unit rows read by `lines` (and the date they were read from):
    /// `billing_terms` reads the posted periods from them instead of asking again.
    units: Mutex<HashMap<i64, (NaiveDate, Vec<crate::model::UnitSpan>)>>,
    /// The adaptive rate's ceiling for the zone's host (kept for a moved zone).
    per_minute: u32,
    budget: HourBudget,
}

struct Discovery {
    url: Url,
    done: Mutex<bool>,
}

impl<'h> Autotask<'h> {
    /// Find the zone (unless configured) and pace the zone's host at recon's hourly share.
    pub fn connect(settings: &AutotaskSettings, http: &'h Http) -> Result<Autotask<'h>, AtError> {
        // The hourly share is a budget per rolling hour, counted in the database across
        // processes (`HourBudget`), the zone lookup included.
        let budget = HourBudget::new(settings.requests_per_hour, std::sync::Arc::clone(http.hour_log()));
        let (zone, discovery) = match &settings.zone_url {
            Some(zone) => (zone.clone(), None),
            None => (
                discover_zone(&settings.discovery_url, &settings.username, http, &budget)?,
                Some(Discovery { url: settings.discovery_url.clone(), done: Mutex::new(false) }),
            ),
        };
        let base = api_base(&zone)?;
        let per_minute = pace(settings.requests_per_hour);
        http.limit_host(SERVICE, &base, per_minute);
        Ok(Autotask {
            per_minute,
            http,
            base: RwLock::new(base),
            discovery,
            username: settings.username.clone(),
            secret: settings.secret.clone(),
            integration_code: settings.integration_code.clone(),
            gate: Gate::default(),
            picklists: Mutex::new(HashMap::new()),
            units: Mutex::new(HashMap::new()),
            budget,
        })
    }

    pub fn api_base(&self) -> Url {
        match self.base.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn url(&self, path: &str) -> Result<Url, AtError> {
        self.api_base().join(path).map_err(|e| AtError::Other(format!("bad path {path:?}: {e}")))
    }

    /// A request to the zone, with the three headers of the API user. Only ever built for
    /// a URL on the zone's origin (`send` checks).
    fn request(&self, method: Method, url: Url) -> Request {
        let mut r = Request::get(SERVICE, url)
            .header("username", &self.username)
            .secret_header("secret", self.secret.expose())
            .secret_header("apiintegrationcode", self.integration_code.expose())
            .header("accept", "application/json")
            .header("content-type", "application/json");
        r.method = method;
        r
    }

    /// Send to the zone, within the entity endpoint's thread limit. An unexpected 401 on a
    /// discovered zone may mean the database moved: ask for the zone once more, and retry
    /// once on the new one.
    fn send(&self, entity: &str, request: Request) -> Result<crate::http::Response, AtError> {
        if request.url.origin() != self.api_base().origin() {
            return Err(AtError::Other(format!(
                "refused to send the API user's credentials to {}: it is not the zone's host",
                display_url(&request.url)
            )));
        }
        let result = {
            self.budget.take()?;
            let _slot = self.gate.enter(entity);
            self.http.send(&request)
        };
        match result {
            Err(e) if e.status() == Some(401) && self.discovery.is_some() => {
                self.after_unauthorized(entity, request, e)
            }
            result => result.map_err(|e| permission_error(e, &request, entity)),
        }
    }

    fn after_unauthorized(
        &self,
        entity: &str,
        request: Request,
        error: HttpError,
    ) -> Result<crate::http::Response, AtError> {
        let Some(discovery) = &self.discovery else { return Err(permission_error(error, &request, entity)) };
        let used = self.api_base();
        {
            let mut done = match discovery.done.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            if !*done {
                *done = true;
                let zone = discover_zone(&discovery.url, &self.username, self.http, &self.budget)?;
                let fresh = api_base(&zone)?;
                if fresh != used {
                    tracing::info!("autotask: the zone moved to {}; retrying there", display_url(&fresh));
                    self.http.limit_host(SERVICE, &fresh, self.per_minute);
                    match self.base.write() {
                        Ok(mut guard) => *guard = fresh,
                        Err(poisoned) => *poisoned.into_inner() = fresh,
                    }
                }
            }
        }
        let current = self.api_base();
        if current == used {
            return Err(permission_error(error, &request, entity));
        }
        let rest = request.url.as_str().strip_prefix(used.as_str()).map(str::to_string);
        let Some(rest) = rest else { return Err(permission_error(error, &request, entity)) };
        let mut retry = request.clone();
        retry.url =
            current.join(&rest).map_err(|e| AtError::Other(format!("cannot rebuild {rest:?}: {e}")))?;
        self.budget.take()?;
        let _slot = self.gate.enter(entity);
        self.http.send(&retry).map_err(|e| permission_error(e, &retry, entity))
    }

    /// Every record of `entity` that `filter` selects, `fields` only (with `id`), following
    /// `nextPageUrl` on the zone's origin until it is null.
    fn query<T: DeserializeOwned>(
        &self,
        entity: &str,
        filter: Vec<Value>,
        fields: &[&str],
    ) -> Result<Vec<T>, AtError> {
        let url = self.url(&format!("{entity}/query"))?;
        let body = json!({ "MaxRecords": MAX_RECORDS, "IncludeFields": fields, "Filter": filter });
        // A query is a read sent as POST: safe to send again.
        let mut request = self.request(Method::POST, url).json_body(Method::POST, &body, Repeat::Safe);
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self.send(entity, request)?;
            let page: wire::Page<T> = response.json(SERVICE)?;
            all.extend(page.items);
            let Some(next) = page.page_details.and_then(|d| d.next_page_url).filter(|u| !u.trim().is_empty())
            else {
                return Ok(all);
            };
            let next = Url::parse(&next)
                .or_else(|_| self.api_base().join(&next))
                .map_err(|e| AtError::Other(format!("{entity}: nextPageUrl {next:?} is not a URL: {e}")))?;
            if next.origin() != self.api_base().origin() {
                return Err(AtError::Other(format!(
                    "{entity}: nextPageUrl points to another host ({}); refused to send the API user's credentials there",
                    display_url(&next)
                )));
            }
            request = self.request(Method::GET, next);
        }
        Err(AtError::Other(format!("{entity}: more than {MAX_PAGES} pages; stopping")))
    }

    fn get<T: DeserializeOwned>(&self, entity: &str, path: &str) -> Result<T, AtError> {
        let request = self.request(Method::GET, self.url(path)?);
        Ok(self.send(entity, request)?.json(SERVICE)?)
    }

    /// The id of a picklist value, read from `entityInformation/fields` (never hard-coded:
    /// each database numbers its own).
    pub fn picklist_id(&self, entity: &str, field: &str, label: &str) -> Result<i64, AtError> {
        let key = (entity.to_string(), field.to_string(), label.to_ascii_lowercase());
        if let Some(id) = lock(&self.picklists).get(&key) {
            return Ok(*id);
        }
        let fields: wire::Fields = self.get(entity, &format!("{entity}/entityInformation/fields"))?;
        let values = fields.fields.into_iter().find(|f| f.name.eq_ignore_ascii_case(field));
        let Some(values) = values.and_then(|f| f.picklist_values) else {
            return Err(AtError::Other(format!(
                "{entity}.{field} is not a picklist in entityInformation/fields"
            )));
        };
        let found = values.iter().find(|v| v.is_active && v.label.trim().eq_ignore_ascii_case(label));
        let Some(found) = found else {
            let labels: Vec<&str> = values.iter().map(|v| v.label.as_str()).collect();
            return Err(AtError::Other(format!(
                "{entity}.{field} has no active value {label:?} (it has: {})",
                labels.join(", ")
            )));
        };
        lock(&self.picklists).insert(key, found.value);
        Ok(found.value)
    }

    /// `ThresholdInformation`: the database's use of its hourly budget, all integrations.
    pub fn threshold(&self) -> Result<Threshold, AtError> {
        let t: wire::Threshold = self.get("ThresholdInformation", "ThresholdInformation")?;
        Ok(Threshold {
            limit: t.external_request_threshold.unwrap_or(u64::from(DATABASE_REQUESTS_PER_HOUR)),
            used: t.current_timeframe_request_count.unwrap_or(0),
        })
    }

    pub fn server_info(&self) -> Result<ServerInfo, AtError> {
        Ok(ServerInfo { api_base: display_url(&self.api_base()), threshold: self.threshold()? })
    }

    /// Probe what `recon check` needs: one small read of each entity recon uses, so a
    /// missing permission is named. An empty company list is not proof of "none": a
    /// restricted security level answers empty instead of refusing.
    pub fn probe(&self) -> Result<Vec<String>, AtError> {
        let mut notes = Vec::new();
        let customers = self.companies()?;
        if customers.is_empty() {
            notes.push("no active Customer company is visible: if there should be, the API user's security level may hide them (CRM: view Customer companies)".to_string());
        }
        let contracts = self.active_agreements(None, chrono::Utc::now().date_naive())?;
        if contracts.is_empty() {
            notes.push("no active Recurring Service contract is visible (Contracts: view; contract visibility not \"limited\" or \"none\")".to_string());
        }
        self.query::<wire::Service>(
            "Services",
            vec![json!({"op": "eq", "field": "isActive", "value": true})],
            &["id"],
        )?;
        let ids: Vec<i64> = contracts.iter().take(1).map(|c| c.id).collect();
        if !ids.is_empty() {
            self.query::<wire::ContractServiceUnit>(
                "ContractServiceUnits",
                vec![json!({"op": "in", "field": "contractID", "value": ids})],
                &["id", "contractID", "startDate", "endDate"],
            )?;
        }
        let info: Value =
            self.get("ContractServiceAdjustments", "ContractServiceAdjustments/entityInformation")?;
        let can_create =
            info.pointer("/info/canCreate").or_else(|| info.get("canCreate")).and_then(Value::as_bool);
        if can_create == Some(false) {
            return Err(AtError::Permission {
                method: Method::POST,
                url: "ContractServiceAdjustments".into(),
                status: 403,
                permission: "Contracts: manage contracts and adjustments (ContractServiceAdjustments canCreate is false)",
            });
        }
        notes.push(format!("{} customers, {} recurring contracts", customers.len(), contracts.len()));
        Ok(notes)
    }

    /// Active companies of type Customer.
    pub fn companies(&self) -> Result<Vec<PsaCompany>, AtError> {
        let customer = self.picklist_id("Companies", "companyType", "Customer")?;
        let rows: Vec<wire::Company> = self.query(
            "Companies",
            vec![
                json!({"op": "eq", "field": "isActive", "value": true}),
                json!({"op": "eq", "field": "companyType", "value": customer}),
            ],
            &["id", "companyName", "companyNumber", "companyType", "isActive"],
        )?;
        Ok(rows
            .into_iter()
            .map(|c| PsaCompany {
                identifier: c
                    .company_number
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| c.id.to_string()),
                name: c.company_name.unwrap_or_default(),
                id: c.id,
            })
            .collect())
    }

    /// Active Recurring Service contracts whose dates cover `today` (of one company, or all).
    pub fn active_agreements(
        &self,
        company_id: Option<i64>,
        today: NaiveDate,
    ) -> Result<Vec<BillingContainer>, AtError> {
        let recurring = self.picklist_id("Contracts", "contractType", "Recurring Service")?;
        let active = self.picklist_id("Contracts", "status", "Active")?;
        let mut filter = vec![
            json!({"op": "eq", "field": "contractType", "value": recurring}),
            json!({"op": "eq", "field": "status", "value": active}),
        ];
        if let Some(id) = company_id {
            filter.push(json!({"op": "eq", "field": "companyID", "value": id}));
        }
        let rows: Vec<wire::Contract> = self.query(
            "Contracts",
            filter,
            &[
                "id",
                "companyID",
                "contractName",
                "contractNumber",
                "contractType",
                "status",
                "startDate",
                "endDate",
            ],
        )?;
        Ok(rows
            .into_iter()
            .filter(|c| c.start_date.is_none_or(|d| d <= today) && c.end_date.is_none_or(|d| d >= today))
            .filter_map(|c| {
                Some(BillingContainer {
                    id: c.id,
                    name: c.contract_name.unwrap_or_else(|| format!("contract {}", c.id)),
                    company_id: c.company_id?,
                    type_name: Some("Recurring Service".to_string()),
                    parent_id: None,
                    number: c.contract_number.filter(|n| !n.trim().is_empty()),
                    aliases: Vec::new(),
                })
            })
            .collect())
    }

    /// The services of these contracts, each with its unit rows from `since` on (a row per
    /// period, and one from each mid-period change). Two queries per chunk of contracts.
    pub fn lines(
        &self,
        contract_ids: &[i64],
        since: NaiveDate,
    ) -> Result<BTreeMap<i64, Vec<BillingLine>>, AtError> {
        let mut out: BTreeMap<i64, Vec<BillingLine>> =
            contract_ids.iter().map(|id| (*id, Vec::new())).collect();
        for chunk in contract_ids.chunks(ID_CHUNK) {
            let services: Vec<wire::ContractService> = self.query(
                "ContractServices",
                vec![json!({"op": "in", "field": "contractID", "value": chunk})],
                &["id", "contractID", "serviceID", "unitPrice", "unitCost"],
            )?;
            let rows = self.unit_rows(chunk, since)?;
            let mut by_service: HashMap<(i64, i64), Vec<crate::model::UnitSpan>> = HashMap::new();
            let mut by_line: HashMap<i64, Vec<crate::model::UnitSpan>> = HashMap::new();
            let mut by_contract: HashMap<i64, Vec<crate::model::UnitSpan>> = HashMap::new();
            for row in &rows {
                let Some(span) = row.span() else { continue };
                by_contract.entry(row.contract_id).or_default().push(span.clone());
                match (row.contract_service_id, row.service_id) {
                    (Some(line), _) => by_line.entry(line).or_default().push(span),
                    (None, Some(service)) => {
                        by_service.entry((row.contract_id, service)).or_default().push(span)
                    }
                    (None, None) => {}
                }
            }
            {
                let mut cache = lock(&self.units);
                for id in chunk {
                    cache.insert(*id, (since, by_contract.remove(id).unwrap_or_default()));
                }
            }
            for s in services {
                let mut schedule = by_line.remove(&s.id).unwrap_or_default();
                schedule.extend(by_service.remove(&(s.contract_id, s.service_id)).unwrap_or_default());
                schedule.sort_by_key(|span| span.start);
                let latest = schedule.last().map(|span| span.units).unwrap_or_default();
                out.entry(s.contract_id).or_default().push(BillingLine {
                    id: s.id,
                    agreement_id: s.contract_id,
                    product_id: Some(s.service_id),
                    product_identifier: None,
                    quantity: latest,
                    less_included: rust_decimal::Decimal::ZERO,
                    unit_price: s.unit_price,
                    unit_cost: s.unit_cost,
                    bill_customer: None,
                    effective_date: None,
                    cancelled_date: None,
                    schedule,
                    inactive: false,
                    computed: false,
                    pro_rata: rust_decimal::Decimal::ZERO,
                });
            }
        }
        Ok(out)
    }

    /// The unit rows of these contracts from `since` on, up to the period after their first
    /// open one: a change is dated at most there, and rows starting later are not needed
    /// (contracts list a row per period to their end). A contract billed further ahead than
    /// the first window (every period in it posted) is read on, one window at a time, only
    /// for itself, so the units on its first open day come from that day's row.
    fn unit_rows(
        &self,
        contract_ids: &[i64],
        since: NaiveDate,
    ) -> Result<Vec<wire::ContractServiceUnit>, AtError> {
        let mut rows = self.unit_rows_between(contract_ids, since, window_end(since))?;
        let (mut from, mut ids) = (window_end(since), contract_ids.to_vec());
        for _ in 0..MAX_WINDOWS_AHEAD {
            ids = posted_through(&rows, &ids, from);
            if ids.is_empty() {
                break;
            }
            let more = self.unit_rows_between(&ids, from, window_end(from))?;
            if more.is_empty() {
                break;
            }
            rows.extend(more);
            from = window_end(from);
        }
        Ok(rows)
    }

    /// The rows that end on or after `since` and start before `until`.
    fn unit_rows_between(
        &self,
        contract_ids: &[i64],
        since: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<wire::ContractServiceUnit>, AtError> {
        self.query(
            "ContractServiceUnits",
            vec![
                json!({"op": "in", "field": "contractID", "value": contract_ids}),
                json!({"op": "gte", "field": "endDate", "value": format!("{since}T00:00:00")}),
                json!({"op": "lt", "field": "startDate", "value": format!("{until}T00:00:00")}),
            ],
            &[
                "id",
                "contractID",
                "contractServiceID",
                "serviceID",
                "startDate",
                "endDate",
                "units",
                "price",
                "cost",
                "approveAndPostDate",
            ],
        )
    }

    /// How each contract takes changes: from its start date, and not in a posted period
    /// (`open_from`, from the unit rows `lines` read, or read now).
    pub fn billing_terms(
        &self,
        contract_ids: &[i64],
        since: NaiveDate,
    ) -> Result<Vec<BillingTerms>, AtError> {
        let mut terms = Vec::new();
        for chunk in contract_ids.chunks(ID_CHUNK) {
            let contracts: Vec<wire::Contract> = self.query(
                "Contracts",
                vec![json!({"op": "in", "field": "id", "value": chunk})],
                &["id", "startDate", "endDate"],
            )?;
            let missing: Vec<i64> = {
                let cache = lock(&self.units);
                chunk
                    .iter()
                    .copied()
                    .filter(|id| cache.get(id).is_none_or(|(from, _)| *from > since))
                    .collect()
            };
            if !missing.is_empty() {
                let rows = self.unit_rows(&missing, since)?;
                let mut cache = lock(&self.units);
                for id in &missing {
                    cache.insert(*id, (since, Vec::new()));
                }
                for row in &rows {
                    if let (Some(span), Some(entry)) = (row.span(), cache.get_mut(&row.contract_id)) {
                        entry.1.push(span);
                    }
                }
            }
            let cache = lock(&self.units);
            for c in contracts {
                let spans: Vec<&crate::model::UnitSpan> =
                    cache.get(&c.id).map(|(_, s)| s.iter().collect()).unwrap_or_default();
                terms.push(BillingTerms {
                    container_id: c.id,
                    bill_start_date: c.start_date,
                    next_invoice_date: None,
                    prorate: true,
                    currency: None,
                    open_from: open_from(&spans),
                });
            }
        }
        Ok(terms)
    }

    /// Services of the catalog by id (their price and cost for a new line).
    pub fn catalog_items(&self, ids: &[i64]) -> Result<Vec<CatalogProduct>, AtError> {
        let mut items = Vec::new();
        for chunk in ids.chunks(ID_CHUNK) {
            items.extend(self.services(vec![json!({"op": "in", "field": "id", "value": chunk})])?);
        }
        Ok(items)
    }

    /// Services by id or by name (exact, as Autotask compares), or every active one.
    pub fn find_services(&self, reference: Option<&str>) -> Result<Vec<CatalogProduct>, AtError> {
        let filter = match reference.map(str::trim) {
            None => json!({"op": "eq", "field": "isActive", "value": true}),
            Some(r) => match r.parse::<i64>() {
                Ok(id) => json!({"op": "or", "items": [
                    {"op": "eq", "field": "id", "value": id},
                    {"op": "eq", "field": "name", "value": r},
                ]}),
                Err(_) => json!({"op": "eq", "field": "name", "value": r}),
            },
        };
        self.services(vec![filter])
    }

    fn services(&self, filter: Vec<Value>) -> Result<Vec<CatalogProduct>, AtError> {
        let rows: Vec<wire::Service> = self.query(
            "Services",
            filter,
            &["id", "name", "description", "isActive", "unitPrice", "unitCost"],
        )?;
        Ok(rows
            .into_iter()
            .map(|s| CatalogProduct {
                identifier: s.name.clone().unwrap_or_else(|| s.id.to_string()),
                description: s.description.or(s.name).unwrap_or_default(),
                inactive: !s.is_active,
                price: s.unit_price,
                cost: s.unit_cost,
                id: s.id,
            })
            .collect())
    }

    /// Create one ContractServiceAdjustment. Never retried blindly: the caller settles a
    /// lost answer by reading the units at the effective date.
    pub fn adjust(&self, adjustment: &Adjustment) -> Result<i64, AtError> {
        let url = self.url("ContractServiceAdjustments")?;
        let body = json!({
            "contractID": adjustment.contract_id,
            "serviceID": adjustment.service_id,
            "effectiveDate": format!("{}T00:00:00", adjustment.effective_date),
            "unitChange": adjustment.unit_change,
        });
        let request = self.request(Method::POST, url).json_body(Method::POST, &body, Repeat::Unsafe);
        let created: wire::Created = self.send("ContractServiceAdjustments", request)?.json(SERVICE)?;
        Ok(created.item_id)
    }

    /// The id of the contract service of `service_id` on a contract, once it exists.
    pub fn contract_service_id(&self, contract_id: i64, service_id: i64) -> Result<Option<i64>, AtError> {
        let rows: Vec<wire::ContractService> = self.query(
            "ContractServices",
            vec![
                json!({"op": "eq", "field": "contractID", "value": contract_id}),
                json!({"op": "eq", "field": "serviceID", "value": service_id}),
            ],
            &["id", "contractID", "serviceID"],
        )?;
        Ok(rows.first().map(|r| r.id))
    }
}

/// The end of a window of unit rows read from `since`: two months on, the period and the
/// open one after it when the period is posted.
fn window_end(since: NaiveDate) -> NaiveDate {
    since.checked_add_months(chrono::Months::new(2)).unwrap_or(since)
}

/// How many windows past the first recon reads for a contract posted that far ahead (two
/// years): a contract posted further has no row for its first open day, and its lines are
/// skipped as "no units on date", never guessed.
const MAX_WINDOWS_AHEAD: usize = 12;

/// Of `ids`, the contracts whose rows read so far are posted up to `until`: their first open
/// day lies past the rows read, and the next window is needed.
fn posted_through(rows: &[wire::ContractServiceUnit], ids: &[i64], until: NaiveDate) -> Vec<i64> {
    let mut spans: HashMap<i64, Vec<crate::model::UnitSpan>> = HashMap::new();
    for row in rows {
        if let Some(span) = row.span() {
            spans.entry(row.contract_id).or_default().push(span);
        }
    }
    ids.iter()
        .copied()
        .filter(|id| {
            let of = spans.get(id).map(|s| s.iter().collect::<Vec<_>>()).unwrap_or_default();
            open_from(&of).is_some_and(|open| open >= until)
        })
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `{zone}V1.0/`, whatever case and slash the zone's URL came with.
fn api_base(zone: &Url) -> Result<Url, AtError> {
    let mut text = zone.as_str().trim_end_matches('/').to_string();
    for suffix in ["/v1.0", "/V1.0"] {
        if let Some(stripped) = text.strip_suffix(suffix) {
            text = stripped.to_string();
        }
    }
    Url::parse(&format!("{text}/V1.0/"))
        .map_err(|e| AtError::Other(format!("cannot build the API URL from the zone {zone}: {e}")))
}

/// The pace (requests a minute) that spreads an hourly share: a tenth of it, so no run spends
/// the hour in its first minutes, yet never slower than a request every 5 seconds, which no
/// database (10,000 an hour) notices; the adaptive rate still slows down on a 429.
fn pace(requests_per_hour: u32) -> u32 {
    requests_per_hour.div_ceil(10).max(12)
}

fn discover_zone(discovery: &Url, username: &str, http: &Http, budget: &HourBudget) -> Result<Url, AtError> {
    let mut url = discovery
        .join("v1.0/zoneInformation")
        .map_err(|e| AtError::Other(format!("cannot build the discovery URL: {e}")))?;
    url.query_pairs_mut().append_pair("user", username);
    let zone_error = |message: String| AtError::Zone { username: username.to_string(), message };
    budget.take()?;
    let response =
        http.send(&Request::get(SERVICE, url).header("accept", "application/json")).map_err(|e| {
            zone_error(match e.status() {
                // Autotask answers an unknown or blank user name with 500.
                Some(500 | 404) => format!("{e} (is [autotask] username the API user's full user name?)"),
                _ => e.to_string(),
            })
        })?;
    let info: wire::ZoneInformation = response.json(SERVICE)?;
    let zone = info
        .url
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| zone_error("the answer has no zone url".into()))?;
    let zone = Url::parse(&zone).map_err(|e| zone_error(format!("zone url {zone:?}: {e}")))?;
    if zone.scheme() != "https" && !crate::http::is_loopback(&zone) {
        return Err(zone_error(format!(
            "the zone url {} is not https; recon sends the API user's secret only over https",
            display_url(&zone)
        )));
    }
    tracing::debug!("autotask zone {}: {}", info.zone_name.unwrap_or_default(), display_url(&zone));
    Ok(zone)
}

/// 401/403 from Autotask name the permission the security level most likely lacks.
fn permission_error(error: HttpError, request: &Request, entity: &str) -> AtError {
    let Some(status @ (401 | 403)) = error.status() else { return AtError::Http(error) };
    let permission = match entity {
        "Companies" => "CRM: view Customer companies",
        "ContractServiceAdjustments" => "Contracts: manage contracts and adjustments",
        "Contracts" | "ContractServices" | "ContractServiceUnits" => {
            "Contracts: view contracts (contract visibility not \"limited\" or \"none\")"
        }
        "Services" => "Inventory/Products: view services",
        _ => "API access (an API-only user, its secret and its integration code)",
    };
    AtError::Permission { method: request.method.clone(), url: display_url(&request.url), status, permission }
}

/// recon's share of the database's hourly requests: at most `limit` sent in any rolling hour,
/// counted in the `HourLog` (the database, by every recon process on it).
struct HourBudget {
    limit: u32,
    log: std::sync::Arc<dyn crate::http::HourLog>,
}

impl HourBudget {
    fn new(limit: u32, log: std::sync::Arc<dyn crate::http::HourLog>) -> HourBudget {
        HourBudget { limit: limit.max(1), log }
    }

    /// recon's share per rolling hour.
    fn share(&self) -> u32 {
        self.limit
    }

    /// Count a request about to leave, or refuse it when the share of the last hour is spent
    /// (saying when the next one is free): a run never waits an hour in silence.
    fn take(&self) -> Result<(), AtError> {
        let now = chrono::Utc::now();
        match self.log.take(SERVICE, self.limit, now).map_err(AtError::Other)? {
            None => Ok(()),
            Some(sent) => Err(AtError::Budget(self.refusal(&sent, 1, now))),
        }
    }

    /// Refuse work that needs `needed` requests when they do not fit what is left this hour.
    fn check(&self, needed: u64, doing: &str) -> Result<(), AtError> {
        let now = chrono::Utc::now();
        let sent = self.log.sent(SERVICE, now).map_err(AtError::Other)?;
        if sent.len() as u64 + needed <= u64::from(self.limit) {
            return Ok(());
        }
        Err(AtError::Budget(format!("{doing}: {}", self.refusal(&sent, needed, now))))
    }

    fn refusal(
        &self,
        sent: &[chrono::DateTime<chrono::Utc>],
        needed: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let when = match crate::http::free_at(sent, self.limit, needed, now) {
            Some(at) => format!("enough are free at {} UTC", at.format("%Y-%m-%d %H:%M:%S")),
            None => "more than the whole share: raise [autotask] requests_per_hour".to_string(),
        };
        format!(
            "it needs {needed} requests, and {} of recon's {} an hour ([autotask] requests_per_hour) were sent in the \
             last 60 minutes by recon on this database; {when}",
            sent.len(),
            self.limit
        )
    }
}

/// At most `THREADS_PER_ENDPOINT` requests in flight per entity endpoint: Autotask counts a
/// fourth as a threshold event and refuses it.
#[derive(Default)]
struct Gate {
    in_flight: Mutex<HashMap<String, usize>>,
    freed: Condvar,
}

struct Slot<'g> {
    gate: &'g Gate,
    entity: String,
}

impl Gate {
    fn enter(&self, entity: &str) -> Slot<'_> {
        let mut in_flight = lock(&self.in_flight);
        while in_flight.get(entity).copied().unwrap_or(0) >= THREADS_PER_ENDPOINT {
            in_flight = self.freed.wait(in_flight).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *in_flight.entry(entity.to_string()).or_default() += 1;
        Slot { gate: self, entity: entity.to_string() }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.gate.in_flight);
        if let Some(n) = in_flight.get_mut(&self.entity) {
            *n = n.saturating_sub(1);
        }
        self.gate.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_base_is_the_zone_with_its_version() {
        for zone in [
            "https://webservices5.autotask.net/ATServicesRest/",
            "https://webservices5.autotask.net/ATServicesRest",
            "https://webservices5.autotask.net/ATServicesRest/V1.0/",
            "https://webservices5.autotask.net/ATServicesRest/v1.0",
        ] {
            let base = api_base(&Url::parse(zone).unwrap()).unwrap();
            assert_eq!(base.as_str(), "https://webservices5.autotask.net/ATServicesRest/V1.0/", "{zone}");
        }
    }

    #[test]
    fn the_gate_lets_three_through_per_endpoint() {
        let gate = std::sync::Arc::new(Gate::default());
        let a = gate.enter("Contracts");
        let b = gate.enter("Contracts");
        let c = gate.enter("Contracts");
        // Another endpoint is not held up.
        drop(gate.enter("Companies"));
        let (tx, rx) = std::sync::mpsc::channel();
        let g = std::sync::Arc::clone(&gate);
        let waiter = std::thread::spawn(move || {
            let _d = g.enter("Contracts");
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(std::time::Duration::from_millis(100)).is_err(), "a fourth waits");
        drop(a);
        rx.recv_timeout(std::time::Duration::from_secs(5)).expect("it goes once one is done");
        waiter.join().unwrap();
        drop((b, c));
    }
}
