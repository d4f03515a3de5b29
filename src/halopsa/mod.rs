//! The HaloPSA REST client: OAuth2 client credentials against the authorisation server (found
//! with `GET {resource}/authinfo` unless configured, else `{host}/auth`), one token per run,
//! fetched again when it expires or a 401 says so (once per request); lists read with
//! `pageinate=true&page_size&page_no` whose items must add up to `record_count` (a short read
//! fails, never a smaller list); and a recurring invoice re-posted whole, every line as read,
//! to change one line's `qty_order` or add a line.

mod backend;
mod wire;

pub use backend::REGISTRATION;

use crate::http::{Http, HttpError, Repeat, Request, display_url};
use crate::model::{BillingContainer, BillingLine, BillingTerms, CatalogProduct, PsaCompany};
use crate::secret::Secret;
use chrono::NaiveDate;
use reqwest::Method;
use reqwest::header::HeaderValue;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use url::Url;

const SERVICE: &str = "halopsa";
/// recon's default ceiling: hosted Halo allows 300 requests per rolling 5 minutes (60 a
/// minute on average); 55 leaves room for the MSP's other integrations' bursts.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 55;
/// Halo documents no maximum page size; clients use up to 999.
const PAGE_SIZE: usize = 500;
const MAX_PAGES: usize = 10_000;
/// Hosted Halo's rolling window: 300 requests per 5 minutes.
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(300);
/// A token is fetched again this long before Halo says it expires (a tenth of a short one's
/// life).
const TOKEN_MARGIN: Duration = Duration::from_secs(90);
/// Containers read one at a time below this many; above it, the whole paged list at once.
const ONE_BY_ONE: usize = 4;

/// The `[halopsa]` section, validated.
#[derive(Debug, Clone)]
pub struct HaloSettings {
    /// The Resource Server, `https://TENANT.halopsa.com/api/` (always ends with `/`).
    pub resource_url: Url,
    /// The Authorisation Server, `https://TENANT.halopsa.com/auth`; `None`: ask `authinfo`.
    pub auth_url: Option<Url>,
    pub tenant: Option<String>,
    pub client_id: String,
    pub client_secret: Secret,
    pub scope: String,
    pub requests_per_minute: u32,
    /// The rolling window of Halo's limit: a 429 without `Retry-After` pauses a tenth of it
    /// (30 s for hosted Halo's 5 minutes; a 5-second wait only meets the next 429).
    pub rate_window: Duration,
}

impl HaloSettings {
    fn wait_without_retry_after(&self) -> Duration {
        (self.rate_window / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HaloError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("halopsa: {method} {url} was refused ({status}): {hint}")]
    Permission { method: Method, url: String, status: u16, hint: String },
    #[error(
        "halopsa: the authorisation server refused the token request ({detail}): check [halopsa] client_id and \
         client_secret (Configuration > Integrations > HaloPSA API > the application: Client ID and Secret \
         (Services), login type Agent) and that the application grants the scope {scope:?}"
    )]
    Token { detail: String, scope: String },
    /// Halo answered and refused: nothing happened.
    #[error("halopsa: {0}")]
    Refused(String),
    #[error("halopsa: {0}")]
    Other(String),
}

struct Token {
    bearer: Secret,
    expires: Instant,
}

pub struct HaloPsa<'h> {
    http: &'h Http,
    resource: Url,
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    scope: String,
    token: Mutex<Option<Token>>,
    /// Invoice id -> its lines as last read: a write compares a fresh read with them, and is
    /// refused when anything else on the invoice changed since.
    invoices: Mutex<HashMap<i64, Vec<Value>>>,
    /// Invoice id -> its terms, from the same reads.
    terms: Mutex<HashMap<i64, BillingTerms>>,
    /// One writer per invoice: a re-post carries every line, so two at once would undo each other.
    writing: Mutex<HashMap<i64, Arc<Mutex<()>>>>,
    items: Mutex<Option<Vec<wire::Item>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'h> HaloPsa<'h> {
    /// Find the authorisation server (unless configured) and pace the resource host.
    pub fn connect(settings: &HaloSettings, http: &'h Http) -> Result<HaloPsa<'h>, HaloError> {
        http.limit_host_waiting(
            SERVICE,
            &settings.resource_url,
            settings.requests_per_minute,
            Some(settings.wait_without_retry_after()),
        );
        let (auth, found_tenant) = match &settings.auth_url {
            Some(auth) => (auth.clone(), None),
            None => discover_auth(&settings.resource_url, http)?,
        };
        let mut token_url = join(&with_slash(auth), "token")?;
        if let Some(tenant) = settings.tenant.clone().or(found_tenant).filter(|t| !t.trim().is_empty()) {
            token_url.query_pairs_mut().append_pair("tenant", tenant.trim());
        }
        if token_url.scheme() != "https" && !crate::http::is_loopback(&token_url) {
            return Err(HaloError::Refused(format!(
                "the authorisation server {} is not https; recon sends the client secret only over https",
                display_url(&token_url)
            )));
        }
        Ok(HaloPsa {
            http,
            resource: settings.resource_url.clone(),
            token_url,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            scope: settings.scope.clone(),
            token: Mutex::new(None),
            invoices: Mutex::new(HashMap::new()),
            terms: Mutex::new(HashMap::new()),
            writing: Mutex::new(HashMap::new()),
            items: Mutex::new(None),
        })
    }

    /// The bearer token, fetched when there is none, it is about to expire, or `renew`.
    fn bearer(&self, renew: bool) -> Result<Secret, HaloError> {
        let mut token = lock(&self.token);
        if let Some(t) = token.as_ref()
            && !renew
            && Instant::now() < t.expires
        {
            return Ok(t.bearer.clone());
        }
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", self.client_secret.expose())
            .append_pair("scope", &self.scope);
        let mut request = Request::get(SERVICE, self.token_url.clone()).header("accept", "application/json");
        request.method = Method::POST;
        request.body = Some(form.finish().into_bytes());
        request.headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let answer: wire::Token = match self.http.send(&request) {
            Ok(response) => response.json(SERVICE)?,
            Err(e) if matches!(e.status(), Some(400 | 401 | 403)) => {
                let detail = match &e {
                    HttpError::Status { status, detail, .. } if !detail.is_empty() => {
                        format!("{status}: {detail}")
                    }
                    other => other.status().map_or_else(String::new, |s| s.to_string()),
                };
                return Err(HaloError::Token { detail, scope: self.scope.clone() });
            }
            Err(e) => return Err(e.into()),
        };
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600));
        let lifetime = lifetime.saturating_sub(TOKEN_MARGIN.min(lifetime / 10));
        let bearer = Secret::new(format!("Bearer {}", answer.access_token));
        *token = Some(Token { bearer: bearer.clone(), expires: Instant::now() + lifetime });
        Ok(bearer)
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, HaloError> {
        let mut url = join(&self.resource, path)?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Send with the bearer token; a 401 gets a new token and one more try (a token that
    /// Halo revoked or expired early).
    fn send(&self, mut request: Request) -> Result<crate::http::Response, HaloError> {
        request = request.secret_header("authorization", self.bearer(false)?.expose());
        match self.http.send(&request) {
            Err(e) if e.status() == Some(401) => {
                tracing::info!("halopsa: {e}; fetching a new token and trying once more");
                request = request.secret_header("authorization", self.bearer(true)?.expose());
                self.http.send(&request).map_err(|e| permission_error(e, &request, &self.scope))
            }
            result => result.map_err(|e| permission_error(e, &request, &self.scope)),
        }
    }

    fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, HaloError> {
        let request = Request::get(SERVICE, self.url(path, query)?).header("accept", "application/json");
        Ok(self.send(request)?.json(SERVICE)?)
    }

    /// Every record of a list, page by page; the items must add up to `record_count`.
    fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, HaloError> {
        let mut all: Vec<T> = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut q = query.to_vec();
            q.extend([
                ("pageinate", "true".to_string()),
                ("page_size", PAGE_SIZE.to_string()),
                ("page_no", page.to_string()),
            ]);
            let mut body = self.get(path, &q)?;
            let count = body.get("record_count").and_then(Value::as_u64);
            let items = match body.get_mut(key).map(Value::take) {
                Some(Value::Array(items)) => items,
                Some(Value::Null) | None if count == Some(0) => Vec::new(),
                _ => {
                    return Err(HaloError::Other(format!(
                        "{path} page {page}: the answer has no `{key}` list; nothing is planned from it"
                    )));
                }
            };
            let got = items.len();
            all.extend(decode::<Vec<T>>(Value::Array(items), &self.url(path, &q)?)?);
            let Some(count) = count else {
                return Err(HaloError::Other(format!(
                    "{path}: the answer has no record_count, so a short read could not be told from a complete one"
                )));
            };
            if all.len() as u64 >= count || got < PAGE_SIZE {
                if all.len() as u64 != count {
                    return Err(HaloError::Other(format!(
                        "{path}: Halo said {count} records but {} came back; a short read is a failed read, never a shorter list",
                        all.len()
                    )));
                }
                return Ok(all);
            }
        }
        Err(HaloError::Other(format!("{path}: more than {MAX_PAGES} pages; stopping")))
    }

    /// `recon check`: a token, then one small read of each thing recon uses, so a missing
    /// scope or role is named.
    pub fn probe(&self) -> Result<String, HaloError> {
        self.bearer(false)?;
        let mut counts = Vec::new();
        for (path, key, what) in [
            ("Client", "clients", "clients"),
            ("ClientContract", "contracts", "contracts"),
            ("RecurringInvoice", "invoices", "recurring invoices"),
            ("Item", "items", "items"),
        ] {
            let q = [
                ("pageinate", "true".to_string()),
                ("page_size", "1".to_string()),
                ("page_no", "1".to_string()),
            ];
            let body = self.get(path, &q)?;
            if body.get(key).is_none() {
                return Err(HaloError::Other(format!("{path}: the answer has no `{key}` list")));
            }
            let n = body.get("record_count").and_then(Value::as_u64).unwrap_or(0);
            counts.push(format!("{n} {what}"));
        }
        Ok(format!("{}; {}", display_url(&self.resource), counts.join(", ")))
    }

    /// Active clients.
    pub fn clients(&self) -> Result<Vec<PsaCompany>, HaloError> {
        let clients: Vec<wire::Client> = self.get_all("Client", "clients", &[])?;
        Ok(clients.into_iter().filter(|c| c.inactive != Some(true)).map(PsaCompany::from).collect())
    }

    /// Every recurring invoice (of one client, or of all) with its lines; each is kept for
    /// the write path's comparison.
    fn invoices(&self, client_id: Option<i64>, lines: bool) -> Result<Vec<wire::Invoice>, HaloError> {
        let mut q = vec![("includelines", lines.to_string())];
        if let Some(id) = client_id {
            q.push(("client_id", id.to_string()));
        }
        let invoices: Vec<wire::Invoice> = self.get_all("RecurringInvoice", "invoices", &q)?;
        for invoice in &invoices {
            self.remember(invoice);
        }
        Ok(invoices)
    }

    /// One recurring invoice, read fresh, with its lines.
    fn invoice(&self, id: i64) -> Result<wire::Invoice, HaloError> {
        let body = self.get(&format!("RecurringInvoice/{id}"), &[("includelines", "true".to_string())])?;
        let invoice: wire::Invoice = decode(body, &self.url(&format!("RecurringInvoice/{id}"), &[])?)?;
        if invoice.lines.is_none() {
            return Err(HaloError::Other(format!("recurring invoice {id}: the answer has no lines")));
        }
        self.remember(&invoice);
        Ok(invoice)
    }

    fn remember(&self, invoice: &wire::Invoice) {
        if let Some(lines) = &invoice.lines {
            lock(&self.invoices).insert(invoice.id, lines.clone());
        }
        lock(&self.terms).insert(invoice.id, invoice.terms());
    }

    /// Active recurring invoices of active contracts, as the containers recon writes to.
    pub fn containers(
        &self,
        client_id: Option<i64>,
        today: NaiveDate,
    ) -> Result<Vec<BillingContainer>, HaloError> {
        Ok(self
            .invoices(client_id, false)?
            .iter()
            .filter(|i| i.is_active(today))
            .filter_map(wire::Invoice::container)
            .collect())
    }

    /// The lines of these invoices: one read each for a few, the whole list for more.
    pub fn lines(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<BillingLine>>, HaloError> {
        let invoices = if ids.len() < ONE_BY_ONE {
            ids.iter().map(|id| self.invoice(*id)).collect::<Result<Vec<_>, _>>()?
        } else {
            self.invoices(None, true)?
        };
        let mut out = HashMap::new();
        for invoice in invoices.into_iter().filter(|i| ids.contains(&i.id)) {
            let id = invoice.id;
            out.insert(id, model_lines(id, invoice.lines.unwrap_or_default())?);
        }
        Ok(out)
    }

    pub fn billing_terms(&self, ids: &[i64]) -> Result<Vec<BillingTerms>, HaloError> {
        let missing: Vec<i64> =
            ids.iter().copied().filter(|id| !lock(&self.terms).contains_key(id)).collect();
        if !missing.is_empty() {
            self.lines(&missing)?;
        }
        let terms = lock(&self.terms);
        Ok(ids.iter().filter_map(|id| terms.get(id).cloned()).collect())
    }

    fn with_items<R>(&self, f: impl FnOnce(&[wire::Item]) -> R) -> Result<R, HaloError> {
        let mut items = lock(&self.items);
        if items.is_none() {
            *items = Some(self.get_all("Item", "items", &[])?);
        }
        Ok(f(items.as_deref().unwrap_or_default()))
    }

    pub fn catalog_items(&self, ids: &[i64]) -> Result<Vec<CatalogProduct>, HaloError> {
        self.with_items(|items| {
            items.iter().filter(|i| ids.contains(&i.id)).map(CatalogProduct::from).collect()
        })
    }

    /// Items by id, name or code.
    pub fn find_items(&self, reference: Option<&str>) -> Result<Vec<CatalogProduct>, HaloError> {
        self.with_items(|items| {
            items
                .iter()
                .filter(|i| reference.is_none_or(|r| i.is_named(r)))
                .map(CatalogProduct::from)
                .collect()
        })
    }

    /// Re-post invoice `invoice_id` with every line as Halo holds it now, `change` applied
    /// to them. Refused, with nothing sent, when the invoice changed since recon read it.
    /// Returns the invoice's lines as Halo saved them (`None` when the answer had none).
    pub fn repost(
        &self,
        invoice_id: i64,
        repeat: Repeat,
        change: impl FnOnce(&mut Vec<Value>) -> Result<(), HaloError>,
    ) -> Result<(Vec<Value>, Option<Vec<Value>>), HaloError> {
        let gate = Arc::clone(lock(&self.writing).entry(invoice_id).or_default());
        let _one_writer = lock(&gate);
        let planned = lock(&self.invoices).get(&invoice_id).cloned();
        let fresh = self.invoice(invoice_id)?.lines.unwrap_or_default();
        if let Some(planned) = planned
            && wire::fingerprint(&planned) != wire::fingerprint(&fresh)
        {
            return Err(HaloError::Refused(format!(
                "recurring invoice {invoice_id} changed in Halo since recon read it (a line was added, removed or \
                 edited); nothing was written, and the next sync plans it afresh"
            )));
        }
        let mut lines = fresh.clone();
        change(&mut lines)?;
        let url = self.url("RecurringInvoice", &[])?;
        let body = json!([{ "id": invoice_id, "lines": lines }]);
        let request = Request::get(SERVICE, url).header("accept", "application/json").json_body(
            Method::POST,
            &body,
            repeat,
        );
        let response = self.send(request)?;
        let saved: Value = response.json(SERVICE)?;
        // Halo answers the saved record (or an array of them).
        let record = match saved {
            Value::Array(mut all) if !all.is_empty() => all.swap_remove(0),
            other => other,
        };
        let saved_lines = record.get("lines").and_then(Value::as_array).cloned();
        match &saved_lines {
            Some(saved) => {
                lock(&self.invoices).insert(invoice_id, saved.clone());
            }
            // What Halo saved is not known: the next write compares with a fresh read.
            None => {
                lock(&self.invoices).remove(&invoice_id);
            }
        }
        Ok((fresh, saved_lines))
    }
}

/// A JSON value as `T`, or an error naming the field that did not fit.
fn decode<T: DeserializeOwned>(value: Value, url: &Url) -> Result<T, HaloError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        HaloError::Http(HttpError::Decode {
            service: SERVICE.to_string(),
            url: display_url(url),
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })
    })
}

/// Every line of one invoice in the neutral model.
fn model_lines(invoice_id: i64, lines: Vec<Value>) -> Result<Vec<BillingLine>, HaloError> {
    lines
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            serde_json::from_value::<wire::Line>(raw)
                .map(|l| l.into_model(invoice_id))
                .map_err(|e| HaloError::Other(format!("recurring invoice {invoice_id}: line {i}: {e}")))
        })
        .collect()
}

fn with_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

fn join(base: &Url, path: &str) -> Result<Url, HaloError> {
    with_slash(base.clone()).join(path).map_err(|e| HaloError::Other(format!("bad path {path:?}: {e}")))
}

/// `GET {resource}/authinfo` names the authorisation server (and the tenant); when it does
/// not answer, Halo's default is `{host}/auth`.
fn discover_auth(resource: &Url, http: &Http) -> Result<(Url, Option<String>), HaloError> {
    let url = join(resource, "authinfo")?;
    let fallback = || {
        let mut auth = resource.clone();
        auth.set_path("/auth");
        auth.set_query(None);
        auth
    };
    let info = http
        .send(&Request::get(SERVICE, url).header("accept", "application/json"))
        .ok()
        .and_then(|r| r.json::<wire::AuthInfo>(SERVICE).ok());
    let Some(info) = info else {
        tracing::debug!("halopsa: authinfo did not answer; using {}", display_url(&fallback()));
        return Ok((fallback(), None));
    };
    let auth = match info.auth_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(text) => Url::parse(text).or_else(|_| resource.join(text)).map_err(|e| {
            HaloError::Other(format!(
                "authinfo named the authorisation server {text:?}, which is not a URL: {e}"
            ))
        })?,
        None => fallback(),
    };
    Ok((auth, info.tenant_id))
}

/// A 401/403 names both permission layers Halo checks: the application's scopes and the
/// role of the agent it logs in as. A 404 on the billing entities means HaloITSM.
fn permission_error(error: HttpError, request: &Request, scope: &str) -> HaloError {
    let path = request.url.path().to_ascii_lowercase();
    let write = request.method != Method::GET;
    let status = match error.status() {
        Some(s @ (401 | 403)) => s,
        Some(404) if path.ends_with("/recurringinvoice") || path.ends_with("/clientcontract") => {
            return HaloError::Refused(format!(
                "{} answered 404: this Halo has no billing (HaloITSM or HaloServiceDesk?); recon needs HaloPSA's \
                 recurring invoices",
                display_url(&request.url)
            ));
        }
        _ => return HaloError::Http(error),
    };
    let (scope_needed, role) = if path.contains("/client") && !path.contains("/clientcontract") {
        ("read:customers", "Customers Access Level: Read Only")
    } else if path.contains("/clientcontract") {
        ("read:contracts", "Customer Agreement Access Level: Read and Modify")
    } else if path.contains("/recurringinvoice") && write {
        ("edit:invoices", "Invoices Access Level: Read and Modify")
    } else if path.contains("/recurringinvoice") {
        ("read:invoices", "Invoices Access Level: Read and Modify")
    } else if path.contains("/item") {
        ("read:items", "Products Access Level: Read Only")
    } else {
        ("the API", "an agent with API access")
    };
    let hint = format!(
        "Halo checks two things: the application's scopes (Configuration > Integrations > HaloPSA API: it needs \
         {scope_needed}; recon asks for {scope:?}) and the role of the agent it logs in as ({role})"
    );
    HaloError::Permission { method: request.method.clone(), url: display_url(&request.url), status, hint }
}
