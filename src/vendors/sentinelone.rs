//! SentinelOne (management console API v2.1): `GET {console}/web/api/v2.1/sites?state=active`
//! with `Authorization: ApiToken <token>`, paged by `limit` and `cursor`
//! (`pagination.nextCursor`). A site is an account; its `sku` (Core, Control, Complete; else
//! `suite`) is the service, and `activeLicenses` the billable count (`totalLicenses` is what
//! was bought, kept in the raw record). A Trial site is never billed: its count is 0, and the
//! note says how many agents it runs. How sure: the path, header and fields are from
//! SentinelOne's public API docs; `sku` beside `suite` read leniently.

use super::devices::id_text;
use super::registry::{Capabilities, Registration, Section, VendorSource};
use super::{Builder, Count, VendorError, count, endpoint};
use crate::config_file::ConfigError;
use crate::http::{Http, Request};
use crate::model::{CountNote, VendorAccount, VendorService, VendorSnapshot};
use crate::period::Period;
use crate::secret::Secret;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use url::Url;

/// `[vendors.sentinelone]`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_token: Secret,
    /// The management console, `https://<tenant>.sentinelone.net`.
    pub base_url: Url,
    pub page_size: u32,
}

pub static REGISTRATION: Registration = Registration {
    key: "sentinelone",
    capabilities: Capabilities::LIVE,
    keys: &["api_token", "api_token_env", "base_url", "page_size"],
    requests_per_minute: None,
    settings,
    starter: "\
# [vendors.sentinelone]                       # an EDR: active agents per site and SKU
# api_token = \"REPLACE-ME\"                    # Settings > Users > Service Users: an API token (viewer)
# base_url = \"https://usea1-yourtenant.sentinelone.net\"   # your management console
# page_size = 1000                            # sites per page (1-1000)
",
};

const PAGE_SIZE: u32 = 1000;
const MAX_PAGES: usize = 100_000;
const RENEW: &str = "create a service user in SentinelOne (Settings > Users > Service Users, viewer scope) and put \
                     its API token in [vendors.sentinelone] api_token";

#[derive(Deserialize)]
struct RawSettings {
    api_token: Option<String>,
    api_token_env: Option<String>,
    base_url: Option<String>,
    page_size: Option<u32>,
}

fn settings(section: &Section) -> Result<Box<dyn VendorSource>, ConfigError> {
    let raw: RawSettings = section.read()?;
    let Some(base_url) = raw.base_url else {
        return Err(section.error(
            None,
            format!("{} is missing `base_url` (your management console, https://<tenant>.sentinelone.net)", section.label()),
        ));
    };
    Ok(Box::new(Settings {
        api_token: section.secret("api_token", raw.api_token, raw.api_token_env)?,
        base_url: section.url_or("base_url", Some(base_url), "")?,
        page_size: section.page_size(raw.page_size, PAGE_SIZE, PAGE_SIZE)?,
    }))
}

impl VendorSource for Settings {
    fn api_url(&self) -> Option<&Url> {
        Some(&self.base_url)
    }

    fn fetch(&self, vendor: &str, http: &Http, _current: Period) -> Result<VendorSnapshot, VendorError> {
        fetch(vendor, http, self)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub fn fetch(vendor: &str, http: &Http, s: &Settings) -> Result<VendorSnapshot, VendorError> {
    let sites = all_sites(vendor, http, s)?;
    let skus: BTreeSet<String> = sites.iter().filter_map(sku).collect();
    let services = skus.iter().map(|k| VendorService { key: k.to_lowercase(), name: format!("SentinelOne {k}") });
    let mut builder = Builder::new(services.collect());
    let mut seen: HashSet<String> = HashSet::new();
    for site in sites {
        let (Some(id), Some(name)) = (id_text(&site, "id"), site.get("name").and_then(Value::as_str).map(str::to_string))
        else {
            return Err(bad(vendor, s, "a site without an id or a name"));
        };
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(sku) = sku(&site) else {
            let account = VendorAccount { id, name, status: None, raw: site };
            builder.failed(account, "the site has no `sku` or `suite`, so its agents cannot be billed".into());
            continue;
        };
        let service = sku.to_lowercase();
        let trial = site.get("siteType").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("trial"));
        let active = count("activeLicenses", site.get("activeLicenses"));
        let status = site.get("siteType").and_then(Value::as_str).map(str::to_string);
        let account = VendorAccount { id, name, status, raw: site };
        match (trial, active) {
            (true, Count::Known(agents)) => {
                let note = CountNote { class: sku.clone(), count: agents, what: "on a trial site, not billed".into() };
                builder.count(account, &service, 0, Default::default(), vec![note]);
            }
            (_, active) => builder.account(account, vec![(service.as_str(), active)]),
        }
    }
    Ok(builder.finish())
}

/// The site's product: `sku`, else `suite`.
fn sku(site: &Value) -> Option<String> {
    ["sku", "suite"]
        .iter()
        .find_map(|f| site.get(*f).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty()))
        .map(str::to_string)
}

/// Every active site, following `pagination.nextCursor`.
fn all_sites(vendor: &str, http: &Http, s: &Settings) -> Result<Vec<Value>, VendorError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut url = endpoint(vendor, &s.base_url, "/web/api/v2.1/sites")?;
        url.query_pairs_mut().append_pair("state", "active").append_pair("limit", &s.page_size.to_string());
        if let Some(c) = &cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        let request = Request::get(vendor, url)
            .header("accept", "application/json")
            .secret_header("authorization", &format!("ApiToken {}", s.api_token.expose()));
        let page: Value = match http.send(&request) {
            Ok(response) => response.json(vendor)?,
            Err(e) if matches!(e.status(), Some(401 | 403)) => {
                return Err(VendorError::Other { vendor: vendor.to_string(), message: format!("{e}: {RENEW}") });
            }
            Err(e) => return Err(e.into()),
        };
        let Some(Value::Array(sites)) = page.pointer("/data/sites") else {
            return Err(bad(vendor, s, "the answer has no `data.sites` list"));
        };
        out.extend(sites.iter().cloned());
        let next = page.pointer("/pagination/nextCursor").and_then(Value::as_str).filter(|c| !c.is_empty());
        match next {
            None => return Ok(out),
            Some(next) if Some(next) == cursor.as_deref() => {
                return Err(bad(vendor, s, "the same nextCursor twice: paging stopped"));
            }
            Some(next) => cursor = Some(next.to_string()),
        }
    }
    Err(bad(vendor, s, "more pages than any real console has"))
}

fn bad(vendor: &str, s: &Settings, message: &str) -> VendorError {
    super::bad_data(vendor, &s.base_url, "/web/api/v2.1/sites", message)
}
