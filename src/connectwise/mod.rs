//! The ConnectWise PSA (Manage) REST client: Basic auth with `companyId+public:private`,
//! the `clientId` header, a pinned API version, codebase discovery, and paging that
//! re-sends conditions and fields on every page.

mod backend;
mod wire;

pub use backend::REGISTRATION;

use crate::http::{Http, HttpError, Repeat, Request, display_url};
use crate::model::{BillingContainer, BillingLine, BillingTerms, CatalogProduct, PsaCompany};
use crate::psa::{CatalogTable, NewProduct, TableEntry};
use crate::secret::Secret;
use base64::Engine;
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::sync::{Mutex, RwLock};
use url::Url;

/// Pinned so a ConnectWise upgrade cannot change the shapes recon reads.
pub const ACCEPT: &str = "application/vnd.connectwise.com+json; version=2025.8";
pub const PAGE_SIZE: usize = 1000;
const SERVICE: &str = "connectwise";
/// A guard against a server that never stops paging.
const MAX_PAGES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum CwError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(
        "connectwise: {method} {url} was refused ({status}): the API member's security role most likely lacks {permission}{}",
        if *.status == 401 { " (or the keys, company id or clientId are wrong)" } else { "" }
    )]
    Permission { method: Method, url: String, status: u16, permission: &'static str },
    #[error("connectwise: company id {company_id:?} is unknown at {site} (login/companyinfo answered null)")]
    UnknownCompany { company_id: String, site: String },
    #[error("connectwise: {0}")]
    Other(String),
}

/// What `recon check` shows about the server.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: Option<String>,
    pub is_cloud: Option<bool>,
    pub api_base: String,
}

/// A new agreement addition.
/// The `[connectwise]` section, validated.
#[derive(Debug, Clone)]
pub struct ConnectWiseSettings {
    /// `https://api-na.myconnectwise.net` (cloud hosts get their `api-` prefix added).
    pub site: Url,
    pub company_id: String,
    pub public_key: Secret,
    pub private_key: Secret,
    pub client_id: String,
    /// Skips `/login/companyinfo` discovery when set, e.g. `v4_6_release/`.
    pub codebase: Option<String>,
    pub bill_customer: crate::model::BillCustomer,
    pub requests_per_minute: u32,
    /// Defaults for `map services --create-product` (catalog subcategory and product type ids).
    pub product_subcategory_id: Option<i64>,
    pub product_type_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewAddition {
    pub product_id: i64,
    pub quantity: u32,
    pub bill_customer: crate::model::BillCustomer,
    pub effective_date: chrono::NaiveDate,
}

/// The ceiling of recon's request rate to ConnectWise: the ~1,000 a minute at which its
/// developer guide says throttling begins. recon starts at 90 % of it and adapts (`rate`).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 1_000;

/// The addition fields billing depends on: what is in force, what it bills, at what price.
const ADDITION_FIELDS: &str = "id,product,quantity,lessIncluded,unitPrice,unitCost,billCustomer,effectiveDate,cancelledDate,agreementStatus,agreementId";
const CATALOG_FIELDS: &str = "id,identifier,description,inactiveFlag,price,cost";
/// Ids per `id in (...)` condition: keeps the URL well under ConnectWise's ~2,000 characters.
const ID_CHUNK: usize = 100;

/// `id in (1,2,3)`.
fn id_in(ids: &[i64]) -> String {
    format!("id in ({})", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
}

pub struct ConnectWise<'h> {
    http: &'h Http,
    /// `https://{site}/{codebase}apis/3.0/`; replaced when a re-discovery finds a new codebase.
    base: RwLock<Url>,
    /// Set when the codebase was discovered (not configured): a 404 may then mean ConnectWise
    /// cloud moved to a new codebase.
    discovery: Option<Discovery>,
    authorization: Secret,
    client_id: String,
    /// `[connectwise] product_subcategory_id` and `product_type_id`: for `--create-product`.
    product_defaults: (Option<i64>, Option<i64>),
}

/// What re-discovery needs, and whether it already happened (at most once per client).
struct Discovery {
    site: Url,
    company_id: String,
    done: Mutex<bool>,
}

impl<'h> ConnectWise<'h> {
    /// Connect: discover the codebase unless configured, and set the host's rate limit.
    pub fn connect(config: &ConnectWiseSettings, http: &'h Http) -> Result<ConnectWise<'h>, CwError> {
        http.limit_host("connectwise", &config.site, config.requests_per_minute);
        let (codebase, discovery) = match &config.codebase {
            Some(c) => (c.clone(), None),
            None => (
                discover_codebase(&config.site, &config.company_id, http)?,
                Some(Discovery {
                    site: config.site.clone(),
                    company_id: config.company_id.clone(),
                    done: Mutex::new(false),
                }),
            ),
        };
        let base = api_base(&config.site, &codebase)?;
        let credentials =
            format!("{}+{}:{}", config.company_id, config.public_key.expose(), config.private_key.expose());
        let authorization =
            Secret::new(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials)));
        Ok(ConnectWise {
            http,
            base: RwLock::new(base),
            discovery,
            authorization,
            client_id: config.client_id.clone(),
            product_defaults: (config.product_subcategory_id, config.product_type_id),
        })
    }

    pub fn api_base(&self) -> Url {
        match self.base.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, CwError> {
        let mut url =
            self.api_base().join(path).map_err(|e| CwError::Other(format!("bad path {path:?}: {e}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    fn request(&self, method: Method, url: Url) -> Request {
        let mut r = Request::get(SERVICE, url)
            .secret_header("authorization", self.authorization.expose())
            .header("clientid", &self.client_id)
            .header("accept", ACCEPT);
        r.method = method;
        r
    }

    fn send(&self, request: &Request) -> Result<crate::http::Response, CwError> {
        match self.http.send(request) {
            Err(e) if e.status() == Some(404) && self.discovery.is_some() => self.after_not_found(request, e),
            result => result.map_err(|e| permission_error(e, request)),
        }
    }

    /// A 404 under a discovered codebase may mean ConnectWise cloud moved to a new codebase
    /// (reference: "re-discover once, then fail clearly"). The client re-discovers at most
    /// once in its life; a request built against an older base is retried once at the
    /// current one. Threads that meet the 404 together wait for one discovery.
    fn after_not_found(&self, request: &Request, error: HttpError) -> Result<crate::http::Response, CwError> {
        let Some(discovery) = &self.discovery else { return Err(CwError::Http(error)) };
        let Some((used_base, rest)) = split_api_url(&request.url) else { return Err(CwError::Http(error)) };
        {
            let mut done = match discovery.done.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            if !*done && self.api_base().as_str() == used_base {
                *done = true;
                let codebase = discover_codebase(&discovery.site, &discovery.company_id, self.http)?;
                let fresh = api_base(&discovery.site, &codebase)?;
                if fresh.as_str() != used_base {
                    tracing::info!(
                        "connectwise: codebase moved to {codebase}; retrying at {}",
                        display_url(&fresh)
                    );
                    match self.base.write() {
                        Ok(mut guard) => *guard = fresh,
                        Err(poisoned) => *poisoned.into_inner() = fresh,
                    }
                }
            }
        }
        let current = self.api_base();
        if current.as_str() == used_base {
            // Same codebase: the record really is not there.
            return Err(CwError::Http(error));
        }
        let mut retry = request.clone();
        retry.url = current.join(&rest).map_err(|e| {
            CwError::Other(format!("cannot rebuild {rest:?} on {}: {e}", display_url(&current)))
        })?;
        self.http.send(&retry).map_err(|e| match e.status() {
            Some(404) => CwError::Other(format!(
                "{e}, also after re-discovering the codebase ({}); check [connectwise] site and company_id",
                display_url(&current)
            )),
            _ => permission_error(e, &retry),
        })
    }

    fn get_one<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, CwError> {
        let request = self.request(Method::GET, self.url(path, query)?);
        Ok(self.send(&request)?.json(SERVICE)?)
    }

    /// Every record of a list endpoint. `conditions` and `fields` are sent on every page: the
    /// next page's number is taken from the `Link` header, the rest of the query is ours.
    fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
        conditions: Option<&str>,
        fields: Option<&str>,
    ) -> Result<Vec<T>, CwError> {
        let mut all = Vec::new();
        let mut page = 1usize;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("page", page.to_string()), ("pageSize", PAGE_SIZE.to_string())];
            if let Some(c) = conditions {
                query.push(("conditions", c.to_string()));
            }
            if let Some(f) = fields {
                query.push(("fields", f.to_string()));
            }
            let request = self.request(Method::GET, self.url(path, &query)?);
            let response = self.send(&request)?;
            let records: Vec<T> = response.json(SERVICE)?;
            let count = records.len();
            all.extend(records);
            let next = match response.header("link") {
                Some(link) => next_page_number(link),
                // No Link header: a full page may have more behind it, a short one is the last.
                None => (count == PAGE_SIZE).then_some(page + 1),
            };
            match next {
                Some(n) if n > page && count > 0 => page = n,
                _ => return Ok(all),
            }
        }
        Err(CwError::Other(format!("{path}: more than {MAX_PAGES} pages; stopping")))
    }

    /// `GET /system/info`: the cheap credential check.
    pub fn server_info(&self) -> Result<ServerInfo, CwError> {
        let info: wire::SystemInfo = self.get_one("system/info", &[])?;
        Ok(ServerInfo {
            version: info.version,
            is_cloud: info.is_cloud,
            api_base: display_url(&self.api_base()),
        })
    }

    /// Every company that is not deleted.
    pub fn companies(&self) -> Result<Vec<PsaCompany>, CwError> {
        self.find_companies(None)
    }

    /// Companies matching extra `conditions` (ANDed with "not deleted").
    pub fn find_companies(&self, conditions: Option<&str>) -> Result<Vec<PsaCompany>, CwError> {
        let conditions = match conditions {
            Some(c) => format!("deletedFlag=false and ({c})"),
            None => "deletedFlag=false".to_string(),
        };
        let companies: Vec<wire::Company> =
            self.get_all("company/companies", Some(&conditions), Some("id,identifier,name,deletedFlag"))?;
        Ok(companies.into_iter().filter(|c| !c.deleted_flag).map(PsaCompany::from).collect())
    }

    /// Active agreements (of one company, or of all companies), as of `today`.
    pub fn active_agreements(
        &self,
        company_id: Option<i64>,
        today: chrono::NaiveDate,
    ) -> Result<Vec<BillingContainer>, CwError> {
        let mut conditions = r#"agreementStatus="Active" and cancelledFlag=false"#.to_string();
        if let Some(id) = company_id {
            conditions.push_str(&format!(" and company/id={id}"));
        }
        let agreements: Vec<wire::Agreement> = self.get_all(
            "finance/agreements",
            Some(&conditions),
            Some(
                "id,name,type,company,agreementStatus,cancelledFlag,endDate,noEndingDateFlag,parentAgreement",
            ),
        )?;
        Ok(agreements
            .into_iter()
            .filter(|a| a.is_active(today))
            .filter_map(wire::Agreement::into_model)
            .collect())
    }

    /// Every addition of one agreement, cancelled ones included (reconcile decides).
    pub fn additions(&self, agreement_id: i64) -> Result<Vec<BillingLine>, CwError> {
        let additions: Vec<wire::Addition> = self.get_all(
            &format!("finance/agreements/{agreement_id}/additions"),
            None,
            Some(ADDITION_FIELDS),
        )?;
        Ok(additions.into_iter().map(|a| a.into_model(agreement_id)).collect())
    }

    /// How each agreement bills now (bill start, next invoice, prorating), in as few paged
    /// reads as the URL length allows: `id in (...)` chunks. Agreements not found are left out.
    pub fn billing_terms(&self, agreement_ids: &[i64]) -> Result<Vec<BillingTerms>, CwError> {
        let mut terms = Vec::new();
        for chunk in agreement_ids.chunks(ID_CHUNK) {
            let agreements: Vec<wire::Agreement> = self.get_all(
                "finance/agreements",
                Some(&id_in(chunk)),
                Some("id,startDate,billStartDate,nextInvoiceDate,prorateFlag,invoiceProratedAdditionsFlag,billingCycle,parentAgreement,currency"),
            )?;
            terms.extend(agreements.iter().map(wire::Agreement::terms));
        }
        Ok(terms)
    }

    /// The catalog items of these products, with their price and cost (for new additions).
    pub fn catalog_items(&self, product_ids: &[i64]) -> Result<Vec<CatalogProduct>, CwError> {
        let mut items = Vec::new();
        for chunk in product_ids.chunks(ID_CHUNK) {
            items.extend(self.products_with(Some(&id_in(chunk)), CATALOG_FIELDS)?);
        }
        Ok(items)
    }

    /// Catalog products matching `conditions` (all products when None).
    pub fn products(&self, conditions: Option<&str>) -> Result<Vec<CatalogProduct>, CwError> {
        self.products_with(conditions, CATALOG_FIELDS)
    }

    /// The catalog subcategories and product types (System > Table Setup): the ids a new
    /// catalog product needs (`map services --create-product`).
    pub fn catalog_tables(&self, table: CatalogTable) -> Result<Vec<TableEntry>, CwError> {
        let (path, fields) = match table {
            CatalogTable::Subcategories => ("procurement/subcategories", "id,name,category,inactiveFlag"),
            CatalogTable::Types => ("procurement/types", "id,name,inactiveFlag"),
        };
        let rows: Vec<wire::TableRow> = self.get_all(path, None, Some(fields))?;
        Ok(rows
            .into_iter()
            .map(|r| TableEntry {
                id: r.id,
                name: r.name,
                category: r.category.and_then(|c| c.name),
                inactive: r.inactive_flag,
            })
            .collect())
    }

    fn products_with(&self, conditions: Option<&str>, fields: &str) -> Result<Vec<CatalogProduct>, CwError> {
        let items: Vec<wire::CatalogItem> = self.get_all("procurement/catalog", conditions, Some(fields))?;
        Ok(items.into_iter().map(CatalogProduct::from).collect())
    }

    /// Create a catalog product. Not retried blindly: the caller looks the identifier up first.
    pub fn create_product(&self, new: &NewProduct) -> Result<CatalogProduct, CwError> {
        let url = self.url("procurement/catalog", &[])?;
        let body = serde_json::json!({
            "identifier": new.identifier,
            "description": new.description,
            "customerDescription": new.customer_description,
            "subcategory": {"id": new.subcategory_id},
            "type": {"id": new.type_id},
        });
        let request = self.request(Method::POST, url).json_body(Method::POST, &body, Repeat::Unsafe);
        let item: wire::CatalogItem = self.send(&request)?.json(SERVICE)?;
        Ok(item.into())
    }

    /// Set an addition's quantity with JSON Patch (never PUT: it nulls omitted fields).
    /// One send: the write path settles a lost answer and sends it again itself
    /// (`apply::apply_line`), so every send is counted in the ledger.
    pub fn set_quantity(
        &self,
        agreement_id: i64,
        addition_id: i64,
        quantity: u32,
    ) -> Result<BillingLine, CwError> {
        self.patch_addition(agreement_id, addition_id, "quantity", serde_json::json!(quantity))
    }

    /// Set an addition's unit cost (`[sync] update_costs`, after a person approved it).
    pub fn set_unit_cost(
        &self,
        agreement_id: i64,
        addition_id: i64,
        cost: rust_decimal::Decimal,
    ) -> Result<BillingLine, CwError> {
        let value =
            serde_json::Number::from_f64(rust_decimal::prelude::ToPrimitive::to_f64(&cost).unwrap_or(0.0))
                .map_or(serde_json::Value::Null, serde_json::Value::Number);
        self.patch_addition(agreement_id, addition_id, "unitCost", value)
    }

    fn patch_addition(
        &self,
        agreement_id: i64,
        addition_id: i64,
        path: &str,
        value: serde_json::Value,
    ) -> Result<BillingLine, CwError> {
        let url = self.url(&format!("finance/agreements/{agreement_id}/additions/{addition_id}"), &[])?;
        let body = serde_json::json!([{"op": "replace", "path": path, "value": value}]);
        let request = self.request(Method::PATCH, url).json_body(Method::PATCH, &body, Repeat::Unsafe);
        let addition: wire::Addition = self.send(&request)?.json(SERVICE)?;
        Ok(addition.into_model(agreement_id))
    }

    /// Create an addition. Not retried blindly: the caller looks the agreement's additions up
    /// again before any second attempt, so a lost response never makes a duplicate.
    pub fn create_addition(&self, agreement_id: i64, new: &NewAddition) -> Result<BillingLine, CwError> {
        let url = self.url(&format!("finance/agreements/{agreement_id}/additions"), &[])?;
        let body = serde_json::json!({
            "product": {"id": new.product_id},
            "quantity": new.quantity,
            "billCustomer": new.bill_customer.as_str(),
            "effectiveDate": format!("{}T00:00:00Z", new.effective_date.format("%Y-%m-%d")),
        });
        let request = self.request(Method::POST, url).json_body(Method::POST, &body, Repeat::Unsafe);
        let addition: wire::Addition = self.send(&request)?.json(SERVICE)?;
        Ok(addition.into_model(agreement_id))
    }
}

/// `https://{site}/{codebase}apis/3.0/`
fn api_base(site: &Url, codebase: &str) -> Result<Url, CwError> {
    site.join(&format!("{}apis/3.0/", codebase.trim_start_matches('/')))
        .map_err(|e| CwError::Other(format!("cannot build the API URL from codebase {codebase:?}: {e}")))
}

/// Split an API URL into its base (`.../apis/3.0/`) and the rest (path and query).
fn split_api_url(url: &Url) -> Option<(&str, String)> {
    let text = url.as_str();
    let at = text.find("/apis/3.0/")? + "/apis/3.0/".len();
    Some((&text[..at], text[at..].to_string()))
}

fn discover_codebase(site: &Url, company_id: &str, http: &Http) -> Result<String, CwError> {
    let url = site
        .join(&format!("login/companyinfo/{company_id}"))
        .map_err(|e| CwError::Other(format!("cannot build the discovery URL: {e}")))?;
    let request = Request::get(SERVICE, url).header("accept", "application/json");
    let response = http.send(&request)?;
    let info: Option<wire::CompanyInfo> = response.json(SERVICE)?;
    let unknown = || CwError::UnknownCompany { company_id: company_id.to_string(), site: display_url(site) };
    let codebase = info.ok_or_else(unknown)?.codebase.filter(|c| !c.trim().is_empty()).ok_or_else(unknown)?;
    tracing::debug!("connectwise codebase: {codebase}");
    Ok(codebase)
}

/// The `page` of the `rel="next"` link, if there is one.
fn next_page_number(link: &str) -> Option<usize> {
    link.split(',').find(|part| part.contains("rel=\"next\"")).and_then(|part| {
        let target = part.split(';').next()?.trim().trim_start_matches('<').trim_end_matches('>');
        let url = Url::parse(target).ok()?;
        url.query_pairs().find(|(k, _)| k.eq_ignore_ascii_case("page")).and_then(|(_, v)| v.parse().ok())
    })
}

/// 401/403 from ConnectWise name the security-role permission most likely missing.
fn permission_error(error: HttpError, request: &Request) -> CwError {
    let Some(status @ (401 | 403)) = error.status() else { return CwError::Http(error) };
    let path = request.url.path();
    let write = request.method != Method::GET;
    let permission = if path.contains("/company/") {
        "Companies > Company Maintenance: Inquire"
    } else if path.contains("/finance/agreements") && write {
        "Finance > Agreements: Add and Edit"
    } else if path.contains("/finance/agreements") {
        "Finance > Agreements: Inquire"
    } else if path.contains("/procurement/catalog") && write {
        "Procurement > Product Catalog: Add"
    } else if path.contains("/procurement/") {
        "Procurement > Product Catalog: Inquire"
    } else {
        "API access (check the API member, its keys and the clientId)"
    };
    CwError::Permission { method: request.method.clone(), url: display_url(&request.url), status, permission }
}

/// Quote a value for a `conditions` string.
pub fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_page_in_a_link_header() {
        let link = r#"<https://x/v4_6_release/apis/3.0/company/companies?pageSize=1000&page=2>; rel="next", <https://x/v4_6_release/apis/3.0/company/companies?pageSize=1000&page=3>; rel="last""#;
        assert_eq!(next_page_number(link), Some(2));
        let last = r#"<https://x/apis/3.0/company/companies?page=1>; rel="first", <https://x/apis/3.0/company/companies?page=3>; rel="last""#;
        assert_eq!(next_page_number(last), None);
        assert_eq!(next_page_number(""), None);
    }

    fn cw_settings(config: &crate::config::Config) -> &ConnectWiseSettings {
        config.psa().unwrap().settings.as_any().downcast_ref().unwrap()
    }

    fn sandbox_config(sandbox: &recon_sandbox::Sandbox, extra: &str) -> crate::config::Config {
        let text =
            sandbox.config_toml_for(&[]).replace("[connectwise]\n", &format!("[connectwise]\n{extra}"));
        crate::config::Config::parse(&text, std::path::Path::new("config.toml"), &|_| None).unwrap()
    }

    fn companyinfo_requests(sandbox: &recon_sandbox::Sandbox) -> usize {
        sandbox.requests().iter().filter(|r| r.path_and_query.contains("/login/companyinfo/")).count()
    }

    #[test]
    fn a_moved_codebase_is_discovered_again_once() {
        let sandbox = recon_sandbox::Sandbox::start().unwrap();
        let config = sandbox_config(&sandbox, "");
        let http = Http::new(config.http).unwrap();
        let cw = ConnectWise::connect(cw_settings(&config), &http).unwrap();
        assert!(cw.api_base().as_str().ends_with("/v2025_1/apis/3.0/"));

        sandbox.set_connectwise_codebase("v2025_2/");
        assert!(cw.server_info().is_ok());
        assert!(cw.api_base().as_str().ends_with("/v2025_2/apis/3.0/"), "{}", cw.api_base());
        assert_eq!(companyinfo_requests(&sandbox), 2);
        assert!(cw.additions(3001).is_ok());

        // A genuine 404 is not retried, and the client re-discovers only once.
        sandbox.set_connectwise_codebase("v2025_3/");
        let err = cw.server_info().unwrap_err();
        assert_eq!(companyinfo_requests(&sandbox), 2);
        assert!(err.to_string().contains("404"), "{err}");
    }

    #[test]
    fn a_second_404_after_discovery_fails_clearly() {
        let sandbox = recon_sandbox::Sandbox::start().unwrap();
        let config = sandbox_config(&sandbox, "");
        let http = Http::new(config.http).unwrap();
        let cw = ConnectWise::connect(cw_settings(&config), &http).unwrap();
        sandbox.set_connectwise_codebase("v2025_2/");
        let err = cw.additions(999_999).unwrap_err().to_string();
        assert!(err.contains("404") && err.contains("also after re-discovering the codebase"), "{err}");
        assert_eq!(companyinfo_requests(&sandbox), 2);
    }

    #[test]
    fn a_configured_codebase_is_never_rediscovered() {
        let sandbox = recon_sandbox::Sandbox::start().unwrap();
        let config = sandbox_config(&sandbox, "codebase = \"v2025_1\"\n");
        let http = Http::new(config.http).unwrap();
        let cw = ConnectWise::connect(cw_settings(&config), &http).unwrap();
        sandbox.set_connectwise_codebase("v2025_2/");
        let err = cw.server_info().unwrap_err();
        assert!(matches!(&err, CwError::Http(e) if e.status() == Some(404)), "{err}");
        assert_eq!(companyinfo_requests(&sandbox), 0);
    }

    #[test]
    fn quotes_condition_values() {
        assert_eq!(quote("O'Brien & Sons"), "\"O'Brien & Sons\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
