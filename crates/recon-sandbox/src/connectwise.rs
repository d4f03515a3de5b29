//! Fake ConnectWise PSA: codebase discovery, Basic auth + clientId, companies,
//! agreements, agreement types, additions (GET/POST/PATCH), catalog (GET/POST), navigable
//! and forward-only paging with Link headers, `conditions`, `orderBy` and `fields`.
//! Behaviour follows shared/reference/connectwise.md, not recon's own code.

use chrono::Datelike;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::io;
use std::sync::Mutex;

use base64::Engine;
use serde_json::{Map, Value, json};

use super::Credentials;
use super::conditions::{self, Expr};
use super::fixtures;
use super::schema;
use super::server::{Exchange, Reply, lock};

/// The codebase companyinfo advertises at start; every API path lives under it.
pub(crate) const CODEBASE: &str = "v2025_1/";
const DEFAULT_PAGE_SIZE: usize = 25;
const MAX_PAGE_SIZE: usize = 1000;
const BILL_CUSTOMER: [&str; 3] = ["Billable", "DoNotBill", "NoCharge"];

pub(crate) struct ConnectWise {
    state: Mutex<State>,
    credentials: Credentials,
    /// The codebase companyinfo advertises and the API answers under (`v2025_1/`).
    codebase: Mutex<String>,
}

struct State {
    companies: Vec<Value>,
    agreements: Vec<Value>,
    agreement_types: Vec<Value>,
    additions: Vec<Value>,
    /// Agreement id -> positions in `additions`, in id order: an additions list reads only
    /// its own agreement's records (a scan of every addition, under the lock, made the
    /// sandbox itself the bottleneck of the scale benchmark).
    additions_of: HashMap<i64, Vec<usize>>,
    catalog: Vec<Value>,
    subcategories: Vec<Value>,
    product_types: Vec<Value>,
    next_addition_id: i64,
    next_catalog_id: i64,
}

/// Which collection a list request reads.
#[derive(Clone, Copy)]
enum Collection {
    Companies,
    Agreements,
    AgreementTypes,
    Additions(i64),
    Catalog,
    Subcategories,
    ProductTypes,
}

impl Collection {
    fn known_fields(self) -> &'static [&'static str] {
        match self {
            Collection::Companies => schema::COMPANY_FIELDS,
            Collection::Agreements => schema::AGREEMENT_FIELDS,
            Collection::AgreementTypes => schema::AGREEMENT_TYPE_FIELDS,
            Collection::Additions(_) => schema::ADDITION_FIELDS,
            Collection::Catalog => schema::CATALOG_ITEM_FIELDS,
            Collection::Subcategories => schema::SUBCATEGORY_FIELDS,
            Collection::ProductTypes => schema::PRODUCT_TYPE_FIELDS,
        }
    }

    fn records(self, state: &State) -> Vec<&Value> {
        match self {
            Collection::Companies => state.companies.iter().collect(),
            Collection::Agreements => state.agreements.iter().collect(),
            Collection::AgreementTypes => state.agreement_types.iter().collect(),
            Collection::Additions(parent) => {
                let positions = state.additions_of.get(&parent).into_iter().flatten();
                positions.filter_map(|&i| state.additions.get(i)).collect()
            }
            Collection::Catalog => state.catalog.iter().collect(),
            Collection::Subcategories => state.subcategories.iter().collect(),
            Collection::ProductTypes => state.product_types.iter().collect(),
        }
    }
}

fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
    Reply::json(status, &json!({ "code": code, "message": message.into() }))
}

fn not_found(what: impl Into<String>) -> Reply {
    error(404, "NotFound", what)
}

fn invalid(message: impl Into<String>) -> Reply {
    error(400, "InvalidObject", message)
}

/// A 400 naming the offending fields, in ConnectWise's validation shape.
fn validation(resource: &str, errors: Vec<(String, String, String)>) -> Reply {
    let errors: Vec<Value> = errors
        .into_iter()
        .map(|(code, field, message)| {
            json!({ "code": code, "message": message, "resource": resource, "field": field })
        })
        .collect();
    Reply::json(
        400,
        &json!({ "code": "InvalidObject", "message": format!("{resource} object is invalid"), "errors": errors }),
    )
}

/// The 429 body ConnectWise sends when throttling.
pub(crate) fn throttle_body(retry_after_secs: u64) -> Value {
    json!({
        "error": "ConnectWiseAPI",
        "message": format!("Too many requests. Please try again in {retry_after_secs} seconds."),
    })
}

fn id_of(record: &Value) -> i64 {
    record["id"].as_i64().unwrap_or(0)
}

fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl ConnectWise {
    pub fn new() -> io::Result<ConnectWise> {
        let mut companies = fixtures::records("companies.json", fixtures::COMPANIES)?;
        let mut agreements = fixtures::records("agreements.json", fixtures::AGREEMENTS)?;
        let mut agreement_types = fixtures::records("agreement_types.json", fixtures::AGREEMENT_TYPES)?;
        let mut additions = fixtures::records("additions.json", fixtures::ADDITIONS)?;
        let mut catalog = fixtures::records("catalog.json", fixtures::CATALOG)?;
        let tables = fixtures::object("catalog_tables.json", fixtures::CATALOG_TABLES)?;
        for list in [&mut companies, &mut agreements, &mut agreement_types, &mut additions, &mut catalog] {
            list.sort_by_key(id_of);
        }
        for agreement in &mut agreements {
            default_billing(agreement, chrono::Utc::now().date_naive());
        }
        let table = |name: &str| tables.get(name).and_then(Value::as_array).cloned().unwrap_or_default();
        let state = State {
            next_addition_id: additions.iter().map(id_of).max().unwrap_or(0) + 1,
            next_catalog_id: catalog.iter().map(id_of).max().unwrap_or(0) + 1,
            subcategories: table("subcategories"),
            product_types: table("types"),
            companies,
            agreements,
            agreement_types,
            additions_of: index_by_agreement(&additions),
            additions,
            catalog,
        };
        Ok(ConnectWise {
            state: Mutex::new(state),
            credentials: Credentials::default(),
            codebase: Mutex::new(CODEBASE.to_string()),
        })
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> ConnectWise {
        self.credentials = credentials;
        self
    }

    pub fn codebase(&self) -> String {
        lock(&self.codebase).clone()
    }

    pub fn set_codebase(&self, codebase: &str) {
        *lock(&self.codebase) = format!("{}/", codebase.trim_matches('/'));
    }

    /// Every addition as currently stored (tests assert on the result of a sync).
    /// Set fields of one record (`agreement` or `addition`, by id) at runtime, as a person
    /// editing it in ConnectWise would. False when there is no such record.
    pub fn update(&self, kind: &str, id: i64, fields: &Value) -> bool {
        let mut state = lock(&self.state);
        let list = match kind {
            "agreement" => &mut state.agreements,
            "addition" => &mut state.additions,
            "catalog" => &mut state.catalog,
            _ => return false,
        };
        let (Some(record), Some(fields)) = (list.iter_mut().find(|r| id_of(r) == id), fields.as_object())
        else {
            return false;
        };
        for (k, v) in fields {
            if v.is_null() {
                if let Some(o) = record.as_object_mut() {
                    o.remove(k);
                }
            } else {
                record[k.as_str()] = v.clone();
            }
        }
        if kind == "addition" {
            recompute_extended(record);
        }
        true
    }

    /// Add an addition record as it would be in ConnectWise (its `agreementId` says where).
    pub fn insert_addition(&self, record: Value) -> i64 {
        let mut state = lock(&self.state);
        let id = state.next_addition_id;
        state.next_addition_id += 1;
        let mut record = record;
        record["id"] = json!(id);
        let parent = record["agreementId"].as_i64().unwrap_or(0);
        recompute_extended(&mut record);
        let position = state.additions.len();
        state.additions.push(record);
        state.additions_of.entry(parent).or_default().push(position);
        id
    }

    pub fn additions(&self) -> Vec<Value> {
        lock(&self.state).additions.clone()
    }

    pub fn handle(&self, ex: &Exchange) -> Reply {
        let lower = ex.path.to_ascii_lowercase();
        if let Some(company) = lower.strip_prefix("/login/companyinfo/") {
            if ex.method != "GET" {
                return not_found("Not found");
            }
            return company_info(company.trim_end_matches('/'), &self.credentials, &self.codebase());
        }
        let api_root = format!("/{}apis/3.0/", self.codebase().to_ascii_lowercase());
        let Some(rest) = lower.strip_prefix(&api_root) else {
            // Another codebase (or no /apis/3.0/ at all): what a stale codebase gets.
            return not_found(format!("No resource at {}", ex.path));
        };
        if let Some(reply) = authenticate(ex, &self.credentials) {
            return reply;
        }
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        self.route(ex, &segments)
    }

    fn route(&self, ex: &Exchange, segments: &[&str]) -> Reply {
        let method = ex.method.as_str();
        let unknown = || not_found(format!("No resource at {}", ex.path));
        match segments {
            ["system", "info"] if method == "GET" => system_info(),
            ["company", "companies"] if method == "GET" => self.list(ex, Collection::Companies),
            ["company", "companies", "count"] if method == "GET" => self.count(ex, Collection::Companies),
            ["company", "companies", id] if method == "GET" => self.get(ex, Collection::Companies, id),
            ["finance", "agreements", "types"] if method == "GET" => {
                self.list(ex, Collection::AgreementTypes)
            }
            ["finance", "agreements", "types", "count"] if method == "GET" => {
                self.count(ex, Collection::AgreementTypes)
            }
            ["finance", "agreements", "types", id] if method == "GET" => {
                self.get(ex, Collection::AgreementTypes, id)
            }
            ["finance", "agreements"] if method == "GET" => self.list(ex, Collection::Agreements),
            ["finance", "agreements", "count"] if method == "GET" => self.count(ex, Collection::Agreements),
            ["finance", "agreements", id] if method == "GET" => self.get(ex, Collection::Agreements, id),
            ["finance", "agreements", parent, "additions", rest @ ..] => {
                let Some(parent) = self.agreement_id(parent) else {
                    return not_found(format!("Agreement {parent} was not found"));
                };
                match (method, rest) {
                    ("GET", []) => self.list(ex, Collection::Additions(parent)),
                    ("POST", []) => self.create_addition(ex, parent),
                    ("GET", ["count"]) => self.count(ex, Collection::Additions(parent)),
                    ("GET", [id]) => self.get(ex, Collection::Additions(parent), id),
                    ("PATCH", [id]) => self.patch_addition(ex, parent, id),
                    (_, [] | [_]) => {
                        error(405, "MethodNotAllowed", format!("{method} is not supported here"))
                    }
                    _ => unknown(),
                }
            }
            ["procurement", "catalog"] if method == "GET" => self.list(ex, Collection::Catalog),
            ["procurement", "catalog"] if method == "POST" => self.create_catalog_item(ex),
            ["procurement", "catalog", "count"] if method == "GET" => self.count(ex, Collection::Catalog),
            ["procurement", "catalog", id] if method == "GET" => self.get(ex, Collection::Catalog, id),
            ["procurement", "subcategories"] if method == "GET" => self.list(ex, Collection::Subcategories),
            ["procurement", "subcategories", id] if method == "GET" => {
                self.get(ex, Collection::Subcategories, id)
            }
            ["procurement", "types"] if method == "GET" => self.list(ex, Collection::ProductTypes),
            ["procurement", "types", id] if method == "GET" => self.get(ex, Collection::ProductTypes, id),
            _ => unknown(),
        }
    }

    fn agreement_id(&self, text: &str) -> Option<i64> {
        let id = text.parse::<i64>().ok()?;
        lock(&self.state).agreements.iter().any(|a| id_of(a) == id).then_some(id)
    }

    fn get(&self, ex: &Exchange, collection: Collection, id: &str) -> Reply {
        let state = lock(&self.state);
        let found = id
            .parse::<i64>()
            .ok()
            .and_then(|id| collection.records(&state).into_iter().find(|r| id_of(r) == id).cloned());
        match found {
            Some(record) => match ex.param("fields") {
                Some(fields) => Reply::json(200, &trim_fields(&record, fields)),
                None => Reply::json(200, &record),
            },
            None => not_found(format!("Record {id} was not found")),
        }
    }

    fn count(&self, ex: &Exchange, collection: Collection) -> Reply {
        let filter = match parse_conditions(ex, collection) {
            Ok(filter) => filter,
            Err(reply) => return reply,
        };
        let state = lock(&self.state);
        let count = collection
            .records(&state)
            .into_iter()
            .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
            .count();
        Reply::json(200, &json!({ "count": count }))
    }

    fn list(&self, ex: &Exchange, collection: Collection) -> Reply {
        let filter = match parse_conditions(ex, collection) {
            Ok(filter) => filter,
            Err(reply) => return reply,
        };
        let page_size = match int_param(ex, "pageSize") {
            Ok(size) => size.map_or(DEFAULT_PAGE_SIZE, |s| {
                if s < 1 { DEFAULT_PAGE_SIZE } else { (s as usize).min(MAX_PAGE_SIZE) }
            }),
            Err(reply) => return reply,
        };
        let forward_only =
            ex.header("pagination-type").is_some_and(|v| v.trim().eq_ignore_ascii_case("forward-only"));
        let mut matching: Vec<Value> = {
            let state = lock(&self.state);
            collection
                .records(&state)
                .into_iter()
                .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
                .cloned()
                .collect()
        };
        let fields = ex.param("fields");
        let shape = |records: &[Value]| -> Value {
            Value::Array(
                records.iter().map(|r| fields.map_or_else(|| r.clone(), |f| trim_fields(r, f))).collect(),
            )
        };

        if forward_only {
            if ex.param("orderBy").is_some() {
                return invalid("orderBy is not supported with forward-only pagination");
            }
            let after = match int_param(ex, "pageId") {
                Ok(after) => after.unwrap_or(0),
                Err(reply) => return reply,
            };
            // Records are kept in id order, so "id > pageId" is a suffix.
            matching.retain(|r| id_of(r) > after);
            let more = matching.len() > page_size;
            matching.truncate(page_size);
            let mut reply = Reply::json(200, &shape(&matching));
            if more && let Some(last) = matching.last() {
                let next = ex.url_with("pageId", &id_of(last).to_string());
                reply = reply.with_header("Link", format!("<{next}>; rel=\"next\""));
            }
            return reply;
        }

        if let Some(order_by) = ex.param("orderBy")
            && let Err(reply) = sort_records(&mut matching, order_by, collection)
        {
            return reply;
        }
        let page = match int_param(ex, "page") {
            Ok(page) => page.map_or(1, |p| p.max(1) as usize),
            Err(reply) => return reply,
        };
        let last_page = matching.len().div_ceil(page_size).max(1);
        let start = (page - 1).saturating_mul(page_size).min(matching.len());
        let end = (start + page_size).min(matching.len());
        let mut reply = Reply::json(200, &shape(&matching[start..end]));
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("<{}>; rel=\"first\"", ex.url_with("page", "1")));
            let prev = (page - 1).min(last_page);
            links.push(format!("<{}>; rel=\"prev\"", ex.url_with("page", &prev.to_string())));
        }
        if page < last_page {
            links.push(format!("<{}>; rel=\"next\"", ex.url_with("page", &(page + 1).to_string())));
            links.push(format!("<{}>; rel=\"last\"", ex.url_with("page", &last_page.to_string())));
        }
        if !links.is_empty() {
            reply = reply.with_header("Link", links.join(", "));
        }
        reply
    }

    fn create_addition(&self, ex: &Exchange, parent: i64) -> Reply {
        let body = match json_body(ex) {
            Ok(Value::Object(body)) => body,
            Ok(_) => return invalid("The request body must be an agreementAddition object"),
            Err(reply) => return reply,
        };
        let mut state = lock(&self.state);
        let mut errors = Vec::new();
        let product = match body.get("product") {
            None | Some(Value::Null) => {
                errors.push(field_error("NullValue", "product", "product may not be null"));
                None
            }
            Some(reference) => match find_product(&state.catalog, reference) {
                Some(item) if item["inactiveFlag"].as_bool() == Some(true) => {
                    errors.push(field_error("InvalidField", "product", "the product is inactive"));
                    None
                }
                Some(item) => Some(item.clone()),
                None => {
                    errors.push(field_error(
                        "InvalidField",
                        "product",
                        "product was not found in the catalog",
                    ));
                    None
                }
            },
        };
        match body.get("billCustomer") {
            None | Some(Value::Null) => {
                errors.push(field_error("NullValue", "billCustomer", "billCustomer may not be null"))
            }
            Some(Value::String(s)) if BILL_CUSTOMER.contains(&s.as_str()) => {}
            Some(other) => errors.push(field_error(
                "InvalidField",
                "billCustomer",
                &format!("billCustomer {other} is not one of Billable, DoNotBill, NoCharge"),
            )),
        }
        for field in ["quantity", "lessIncluded", "unitPrice", "unitCost"] {
            if let Some(v) = body.get(field)
                && !(v.is_number() || v.is_null())
            {
                errors.push(field_error("InvalidField", field, &format!("{field} must be a number")));
            }
        }
        for field in ["effectiveDate", "cancelledDate"] {
            if let Some(v) = body.get(field)
                && !(v.is_null() || v.as_str().and_then(conditions::parse_date).is_some())
            {
                errors.push(field_error("InvalidField", field, &format!("{field} is not a date")));
            }
        }
        let Some(product) = product.filter(|_| errors.is_empty()) else {
            return validation("agreementAddition", errors);
        };
        let agreement = state.agreements.iter().find(|a| id_of(a) == parent).cloned().unwrap_or(Value::Null);
        if let Some(refused) = billing_refusal(&agreement, body.get("effectiveDate")) {
            return refused;
        }
        let agreement_status = agreement.get("agreementStatus").cloned().unwrap_or(Value::Null);
        let quantity = body.get("quantity").and_then(Value::as_f64).unwrap_or(0.0);
        let unit_price =
            body.get("unitPrice").and_then(Value::as_f64).or(product["price"].as_f64()).unwrap_or(0.0);
        let unit_cost =
            body.get("unitCost").and_then(Value::as_f64).or(product["cost"].as_f64()).unwrap_or(0.0);
        let effective = body
            .get("effectiveDate")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT00:00:00Z").to_string());
        let id = state.next_addition_id;
        state.next_addition_id += 1;
        let mut record = json!({
            "id": id,
            "product": { "id": product["id"], "identifier": product["identifier"] },
            "quantity": number(quantity),
            "lessIncluded": body.get("lessIncluded").and_then(Value::as_f64).map_or(json!(0), number),
            "unitPrice": number(unit_price),
            "unitCost": number(unit_cost),
            "billCustomer": body["billCustomer"],
            "effectiveDate": effective,
            "taxableFlag": body.get("taxableFlag").and_then(Value::as_bool).unwrap_or(false),
            "agreementId": parent,
            "description": body.get("description").and_then(Value::as_str).map_or(product["description"].clone(), |d| json!(d)),
            "uom": "Each",
            "agreementStatus": agreement_status,
            "_info": { "lastUpdated": now_text(), "updatedBy": "sandbox-api" },
        });
        for field in ["cancelledDate", "invoiceDescription", "serialNumber"] {
            if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
                record[field] = v.clone();
            }
        }
        recompute_extended(&mut record);
        let position = state.additions.len();
        state.additions.push(record.clone());
        state.additions_of.entry(parent).or_default().push(position);
        Reply::json(201, &record)
    }

    fn patch_addition(&self, ex: &Exchange, parent: i64, id: &str) -> Reply {
        let operations = match json_body(ex) {
            Ok(Value::Array(ops)) => ops,
            Ok(_) => return invalid("The request body must be a JSON array of patch operations"),
            Err(reply) => return reply,
        };
        let mut state = lock(&self.state);
        let Some(index) = id.parse::<i64>().ok().and_then(|id| {
            state.additions.iter().position(|a| id_of(a) == id && a["agreementId"].as_i64() == Some(parent))
        }) else {
            return not_found(format!("Addition {id} was not found on agreement {parent}"));
        };
        // Validate every operation before applying any: a PATCH is all or nothing.
        let mut changes = Vec::new();
        for operation in &operations {
            match patch_change(operation) {
                Ok(change) => changes.push(change),
                Err((field, message)) => {
                    return validation("agreementAddition", vec![("InvalidField".into(), field, message)]);
                }
            }
        }
        let record = &mut state.additions[index];
        for (field, value) in changes {
            record[field.as_str()] = value;
        }
        record["_info"] = json!({ "lastUpdated": now_text(), "updatedBy": "sandbox-api" });
        recompute_extended(record);
        Reply::json(200, record)
    }

    fn create_catalog_item(&self, ex: &Exchange) -> Reply {
        let body = match json_body(ex) {
            Ok(Value::Object(body)) => body,
            Ok(_) => return invalid("The request body must be a catalogItem object"),
            Err(reply) => return reply,
        };
        let mut state = lock(&self.state);
        let mut errors = Vec::new();
        for field in ["identifier", "description", "customerDescription"] {
            match body.get(field) {
                Some(Value::String(s)) if !s.trim().is_empty() => {}
                _ => errors.push(field_error("NullValue", field, &format!("{field} may not be null"))),
            }
        }
        let subcategory = reference(&body, "subcategory", &state.subcategories, &mut errors);
        let product_type = reference(&body, "type", &state.product_types, &mut errors);
        if let Some(identifier) = body.get("identifier").and_then(Value::as_str) {
            let taken = state
                .catalog
                .iter()
                .any(|c| c["identifier"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(identifier)));
            if taken {
                errors.push(field_error(
                    "ObjectExists",
                    "identifier",
                    &format!("A product with identifier {identifier} already exists"),
                ));
            }
        }
        let (Some(subcategory), Some(product_type), true) = (subcategory, product_type, errors.is_empty())
        else {
            return validation("catalogItem", errors);
        };
        let id = state.next_catalog_id;
        state.next_catalog_id += 1;
        let mut record = json!({
            "id": id,
            "identifier": body["identifier"],
            "description": body["description"],
            "inactiveFlag": body.get("inactiveFlag").and_then(Value::as_bool).unwrap_or(false),
            "subcategory": subcategory,
            "type": product_type,
            "productClass": body.get("productClass").cloned().unwrap_or(json!("NonInventory")),
            "price": body.get("price").and_then(Value::as_f64).map_or(json!(0), number),
            "cost": body.get("cost").and_then(Value::as_f64).map_or(json!(0), number),
            "taxableFlag": body.get("taxableFlag").and_then(Value::as_bool).unwrap_or(false),
            "customerDescription": body["customerDescription"],
            "_info": { "lastUpdated": now_text(), "updatedBy": "sandbox-api" },
        });
        if let Some(uom) = body.get("unitOfMeasure") {
            record["unitOfMeasure"] = uom.clone();
        }
        state.catalog.push(record.clone());
        Reply::json(201, &record)
    }
}

/// The billing fields the fixtures leave out, as a monthly agreement billed in advance on the
/// 1st has them `today`: it bills from its start date, this month is already invoiced (the
/// next invoice is the 1st of next month), and it prorates unless the fixture says not.
fn default_billing(agreement: &mut Value, today: chrono::NaiveDate) {
    let Some(record) = agreement.as_object_mut() else { return };
    if !record.contains_key("billStartDate")
        && let Some(start) = record.get("startDate").cloned()
    {
        record.insert("billStartDate".into(), start);
    }
    if !record.contains_key("nextInvoiceDate") {
        let next = chrono::NaiveDate::from_ymd_opt(today.year(), today.month(), 1)
            .and_then(|first| first.checked_add_months(chrono::Months::new(1)))
            .unwrap_or(today);
        record.insert("nextInvoiceDate".into(), json!(format!("{next}T00:00:00Z")));
    }
    record.entry("prorateFlag").or_insert(json!(true));
    record.entry("invoiceProratedAdditionsFlag").or_insert(json!(false));
}

/// ConnectWise's refusals of a new addition's date (HTTP 400 `InvalidObject`): before the
/// agreement's bill start date, or in a period already invoiced on an agreement that does
/// not prorate.
fn billing_refusal(agreement: &Value, effective: Option<&Value>) -> Option<Reply> {
    let effective = effective.and_then(Value::as_str).and_then(conditions::parse_date)?.date_naive();
    let date = |field: &str| {
        agreement.get(field).and_then(Value::as_str).and_then(conditions::parse_date).map(|d| d.date_naive())
    };
    if let Some(start) = date("billStartDate")
        && effective < start
    {
        return Some(validation(
            "agreementAddition",
            vec![field_error(
                "InvalidField",
                "effectiveDate",
                &format!("The effective date may not be before the agreement's bill start date ({start})."),
            )],
        ));
    }
    let prorates = agreement.get("prorateFlag").and_then(Value::as_bool).unwrap_or(false);
    if !prorates
        && let Some(next) = date("nextInvoiceDate")
        && effective < next
    {
        return Some(validation(
            "agreementAddition",
            vec![field_error(
                "InvalidField",
                "effectiveDate",
                "Since this period has already been invoiced there will not be an invoice generated for additional products for this period. Please prorate the agreement or update the start date to on or after the Next Invoice Date.",
            )],
        ));
    }
    None
}

fn company_info(company: &str, credentials: &Credentials, codebase: &str) -> Reply {
    // Company ids are case-insensitive at login; an unknown one answers a literal `null`.
    if company.eq_ignore_ascii_case(&credentials.cw_company_id) {
        Reply::json(
            200,
            &json!({
                "CompanyName": "Sandbox MSP",
                "Codebase": codebase,
                "VersionCode": "v2025.1",
                "CompanyID": credentials.cw_company_id,
                "IsCloud": "False",
            }),
        )
    } else {
        Reply::json(200, &Value::Null)
    }
}

fn system_info() -> Reply {
    Reply::json(
        200,
        &json!({
            "version": "v2025.1.10431",
            "isCloud": false,
            "serverTimeZone": "Eastern Standard Time",
            "licenseBits": [{ "name": "Agreement", "activeFlag": true }, { "name": "Procurement", "activeFlag": true }],
            "cloudRegion": "NA",
            "maxWorkFlowRecordsAllowed": 10,
        }),
    )
}

/// `None` when the request carries valid credentials and clientId; otherwise the 401.
fn authenticate(ex: &Exchange, credentials: &Credentials) -> Option<Reply> {
    let unauthorized = || Some(error(401, "Unauthorized", "UserNotAuthenticated"));
    let client_ok =
        ex.header("clientId").is_some_and(|c| c.trim().eq_ignore_ascii_case(&credentials.cw_client_id));
    if !client_ok {
        return unauthorized();
    }
    let Some(header) = ex.header("Authorization") else { return unauthorized() };
    let Some((scheme, encoded)) = header.trim().split_once(' ') else { return unauthorized() };
    if !scheme.eq_ignore_ascii_case("basic") {
        return unauthorized();
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return unauthorized();
    };
    let decoded = String::from_utf8_lossy(&decoded);
    let Some((user, private)) = decoded.split_once(':') else { return unauthorized() };
    let Some((company, public)) = user.split_once('+') else { return unauthorized() };
    if company.eq_ignore_ascii_case(&credentials.cw_company_id)
        && public == credentials.cw_public_key
        && private == credentials.cw_private_key
    {
        None
    } else {
        unauthorized()
    }
}

fn int_param(ex: &Exchange, name: &str) -> Result<Option<i64>, Reply> {
    match ex.param(name) {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => text
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| invalid(format!("The value '{text}' is not valid for {name}"))),
    }
}

fn parse_conditions(ex: &Exchange, collection: Collection) -> Result<Option<Expr>, Reply> {
    let Some(text) = ex.param("conditions").filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let expr = conditions::parse(text).map_err(|why| invalid(format!("Invalid conditions: {why}")))?;
    check_fields(expr.paths().into_iter().map(|p| p[0].as_str()), collection)?;
    Ok(Some(expr))
}

fn check_fields<'a>(names: impl Iterator<Item = &'a str>, collection: Collection) -> Result<(), Reply> {
    let known = collection.known_fields();
    for name in names {
        let ok = known.iter().any(|k| k.eq_ignore_ascii_case(name))
            || ["lastUpdated", "dateEntered", "updatedBy", "enteredBy"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(name));
        if !ok {
            return Err(invalid(format!("Invalid conditions: cannot find field '{name}'")));
        }
    }
    Ok(())
}

/// `orderBy=name desc, id asc`.
fn sort_records(records: &mut [Value], order_by: &str, collection: Collection) -> Result<(), Reply> {
    let mut keys = Vec::new();
    for part in order_by.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = part.split_whitespace();
        let field = words.next().unwrap_or_default();
        let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(invalid(format!("Invalid orderBy direction '{other}'"))),
        };
        let path: Vec<String> = field.split('/').map(str::to_string).collect();
        check_fields(std::iter::once(path[0].as_str()), collection)?;
        keys.push((path, descending));
    }
    records.sort_by(|a, b| {
        for (path, descending) in &keys {
            let ordering = compare_values(conditions::resolve(a, path), conditions::resolve(b, path));
            let ordering = if *descending { ordering.reverse() } else { ordering };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        id_of(a).cmp(&id_of(b))
    });
    Ok(())
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// `fields=id,name,company/id`: keep only those paths, nested as in the record.
fn trim_fields(record: &Value, fields: &str) -> Value {
    let mut out = Value::Object(Map::new());
    for field in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let path: Vec<String> = field.split('/').map(str::to_string).collect();
        let Some(value) = conditions::resolve(record, &path) else { continue };
        let mut target = &mut out;
        for segment in &path[..path.len() - 1] {
            let Value::Object(map) = target else { break };
            target = map.entry(segment.clone()).or_insert_with(|| Value::Object(Map::new()));
        }
        if let (Value::Object(map), Some(last)) = (target, path.last()) {
            map.insert(last.clone(), value.clone());
        }
    }
    out
}

fn json_body(ex: &Exchange) -> Result<Value, Reply> {
    serde_json::from_slice(&ex.body).map_err(|e| invalid(format!("The request body is not valid JSON: {e}")))
}

fn field_error(code: &str, field: &str, message: &str) -> (String, String, String) {
    (code.to_string(), field.to_string(), message.to_string())
}

/// `{id}` or `{identifier}` to a catalog item.
fn find_product<'a>(catalog: &'a [Value], reference: &Value) -> Option<&'a Value> {
    if let Some(id) = reference.get("id").and_then(Value::as_i64) {
        return catalog.iter().find(|c| id_of(c) == id);
    }
    let identifier = reference.get("identifier").and_then(Value::as_str)?;
    catalog.iter().find(|c| c["identifier"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(identifier)))
}

/// A required `{id}` reference that must name a row of a setup table.
fn reference(
    body: &Map<String, Value>,
    field: &str,
    table: &[Value],
    errors: &mut Vec<(String, String, String)>,
) -> Option<Value> {
    let Some(id) = body.get(field).and_then(|r| r.get("id")).and_then(Value::as_i64) else {
        errors.push(field_error("NullValue", field, &format!("{field} may not be null")));
        return None;
    };
    let found = table.iter().find(|row| id_of(row) == id).cloned();
    if found.is_none() {
        errors.push(field_error("InvalidField", field, &format!("{field} {id} was not found")));
    }
    found
}

/// Validate one `{op, path, value}` and return the field it sets. Paths are
/// case-sensitive, as in ConnectWise (`Quantity` is refused).
fn patch_change(operation: &Value) -> Result<(String, Value), (String, String)> {
    let op = operation.get("op").and_then(Value::as_str).unwrap_or_default();
    let raw_path = operation.get("path").and_then(Value::as_str).unwrap_or_default();
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    if op != "replace" {
        return Err((path.to_string(), format!("op '{op}' is not supported; use replace")));
    }
    let value = operation.get("value").cloned().unwrap_or(Value::Null);
    let ok = match path {
        "quantity" | "lessIncluded" | "unitPrice" | "unitCost" => value.is_number(),
        "billCustomer" => value.as_str().is_some_and(|s| BILL_CUSTOMER.contains(&s)),
        "effectiveDate" => value.as_str().and_then(conditions::parse_date).is_some(),
        "cancelledDate" => value.is_null() || value.as_str().and_then(conditions::parse_date).is_some(),
        "description" | "invoiceDescription" | "serialNumber" => value.is_string() || value.is_null(),
        "taxableFlag" => value.is_boolean(),
        _ => return Err((path.to_string(), format!("'{raw_path}' is not a field of agreementAddition"))),
    };
    if ok {
        Ok((path.to_string(), value))
    } else {
        Err((path.to_string(), format!("{value} is not a valid value for {path}")))
    }
}

/// Whole numbers as JSON integers (what ConnectWise prints for 12.0).
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 { json!(n as i64) } else { json!(n) }
}

fn recompute_extended(record: &mut Value) {
    let quantity = record["quantity"].as_f64().unwrap_or(0.0);
    let price = record["unitPrice"].as_f64().unwrap_or(0.0);
    let cost = record["unitCost"].as_f64().unwrap_or(0.0);
    record["billedQuantity"] = number(quantity);
    record["extPrice"] = number((price * quantity * 100.0).round() / 100.0);
    record["extCost"] = number((cost * quantity * 100.0).round() / 100.0);
}

/// Bulk seeding for the scale benchmark (`super::scale`).
#[cfg(feature = "scale")]
impl ConnectWise {
    /// Replace companies, agreements and additions wholesale; the catalog, agreement types
    /// and setup tables stay as seeded from the fixtures.
    pub(crate) fn replace_records(
        &self,
        companies: Vec<Value>,
        agreements: Vec<Value>,
        additions: Vec<Value>,
    ) {
        let (mut companies, mut agreements, mut additions) = (companies, agreements, additions);
        for list in [&mut companies, &mut agreements, &mut additions] {
            list.sort_by_key(id_of);
        }
        let mut state = lock(&self.state);
        state.companies = companies;
        state.agreements = agreements;
        state.additions_of = index_by_agreement(&additions);
        state.additions = additions;
        state.next_addition_id = state.additions.iter().map(id_of).max().unwrap_or(0) + 1;
    }
}

/// Positions of the additions of each agreement, in the order given (id order).
fn index_by_agreement(additions: &[Value]) -> HashMap<i64, Vec<usize>> {
    let mut index: HashMap<i64, Vec<usize>> = HashMap::new();
    for (position, addition) in additions.iter().enumerate() {
        if let Some(agreement) = addition["agreementId"].as_i64() {
            index.entry(agreement).or_default().push(position);
        }
    }
    index
}
