//! Huntress: `GET /v1/organizations?limit=N&page_token=T` with HTTP Basic `key:secret`
//! (documented). The last page has no `next_page_token`. Three services from counts on
//! each organization.

use super::registry::{Capabilities, Registration, Section, VendorSource};
use super::{Builder, VendorError, count, endpoint, get_records, unique_records};
use crate::config_file::ConfigError;
use crate::http::{Http, Request};
use crate::model::{VendorAccount, VendorService, VendorSnapshot};
use crate::period::Period;
use crate::secret::Secret;
use base64::Engine;
use serde::{Deserialize, Deserializer};
use url::Url;

/// `[vendors.huntress]`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_key: Secret,
    pub api_secret: Secret,
    pub base_url: Url,
    pub page_size: u32,
}

pub static REGISTRATION: Registration = Registration {
    key: "huntress",
    capabilities: Capabilities::LIVE,
    keys: &["api_key", "api_key_env", "api_secret", "api_secret_env", "base_url", "page_size"],
    requests_per_minute: Some(REQUESTS_PER_MINUTE),
    settings,
    starter: "\
# [vendors.huntress]
# api_key = \"REPLACE-ME\"                      # Huntress > API Credentials
# api_secret = \"REPLACE-ME\"
# base_url = \"https://api.huntress.io\"
# page_size = 500                             # organizations per page (1-500)
# requests_per_minute = 60                    # Huntress documents 60 a minute
",
};

#[derive(Deserialize)]
struct RawSettings {
    api_key: Option<String>,
    api_key_env: Option<String>,
    api_secret: Option<String>,
    api_secret_env: Option<String>,
    base_url: Option<String>,
    page_size: Option<u32>,
}

fn settings(section: &Section) -> Result<Box<dyn VendorSource>, ConfigError> {
    let raw: RawSettings = section.read()?;
    Ok(Box::new(Settings {
        api_key: section.secret("api_key", raw.api_key, raw.api_key_env)?,
        api_secret: section.secret("api_secret", raw.api_secret, raw.api_secret_env)?,
        base_url: section.url_or("base_url", raw.base_url, DEFAULT_URL)?,
        page_size: section.page_size(raw.page_size, 500, 500)?,
    }))
}

impl VendorSource for Settings {
    fn api_url(&self) -> Option<&Url> {
        Some(&self.base_url)
    }

    fn fetch(&self, vendor: &str, http: &Http, _current: Period) -> Result<VendorSnapshot, VendorError> {
        fetch(vendor, http, &self.base_url, &self.api_key, &self.api_secret, self.page_size)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub const DEFAULT_URL: &str = "https://api.huntress.io";
/// Huntress documents 60 requests a minute: recon's budget unless the config says otherwise.
pub const REQUESTS_PER_MINUTE: u32 = 60;

/// (service key, display name, organization field)
const SERVICES: [(&str, &str, &str); 3] = [
    ("edr-agents", "Huntress EDR agents", "agents_count"),
    ("itdr-identities", "Huntress ITDR billable identities", "billable_identity_count"),
    ("sat-learners", "Huntress SAT learners", "sat_learner_count"),
];

/// A guard against a server that never stops paging.
const MAX_PAGES: usize = 10_000;

#[derive(Deserialize)]
struct Organization {
    #[serde(deserialize_with = "id_as_string")]
    id: String,
    name: String,
}

/// Vendors send ids as numbers or strings; recon keeps them as text.
pub(super) fn id_as_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected a string or number id, got {other}"))),
    }
}

pub fn fetch(
    vendor: &str,
    http: &Http,
    base_url: &Url,
    api_key: &Secret,
    api_secret: &Secret,
    page_size: u32,
) -> Result<VendorSnapshot, VendorError> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        api_key.expose(),
        api_secret.expose()
    ));
    let mut builder = Builder::new(
        SERVICES.iter().map(|(k, n, _)| VendorService { key: k.to_string(), name: n.to_string() }).collect(),
    );
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut url = endpoint(vendor, base_url, "/v1/organizations")?;
        url.query_pairs_mut().append_pair("limit", &page_size.to_string());
        if let Some(t) = &token {
            url.query_pairs_mut().append_pair("page_token", t);
        }
        let request = Request::get(vendor, url)
            .secret_header("authorization", &format!("Basic {basic}"))
            .header("accept", "application/json");
        let (organizations, document) = get_records::<Organization>(vendor, http, request, |mut d| {
            d.get_mut("organizations").map(|v| v.take())
        })?;
        all.extend(organizations);
        let next = document
            .pointer("/pagination/next_page_token")
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if next.is_none() || next == token {
            let organizations = unique_records(&mut builder, all, |o| &o.id, |o| &o.name);
            for (org, raw) in organizations {
                let counts =
                    SERVICES.iter().map(|(key, _, field)| (*key, count(field, raw.get(field)))).collect();
                builder.account(VendorAccount { id: org.id, name: org.name, status: None, raw }, counts);
            }
            return Ok(builder.finish());
        }
        token = next;
    }
    Err(VendorError::Other {
        vendor: vendor.to_string(),
        message: format!("more than {MAX_PAGES} pages; stopping"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpSettings;
    use crate::model::ProblemKind;
    use recon_sandbox::{HUNTRESS_KEY, HUNTRESS_SECRET, Sandbox};
    use serde_json::json;

    fn run(sandbox: &Sandbox) -> VendorSnapshot {
        let http = Http::new(HttpSettings { max_attempts: 1, ..HttpSettings::default() }).unwrap();
        let url = Url::parse(&sandbox.vendor_url("huntress").unwrap()).unwrap();
        fetch("huntress", &http, &url, &Secret::new(HUNTRESS_KEY), &Secret::new(HUNTRESS_SECRET), 10).unwrap()
    }

    fn quantities(s: &VendorSnapshot, id: &str) -> Vec<(String, u32)> {
        s.usage.iter().filter(|u| u.account_id == id).map(|u| (u.service_key.clone(), u.quantity)).collect()
    }

    #[test]
    fn each_count_field_feeds_its_service_and_a_missing_one_only_that_service() {
        let sandbox = Sandbox::start().unwrap();
        let s = run(&sandbox);
        let acme = [("edr-agents", 12), ("itdr-identities", 14), ("sat-learners", 14)];
        assert_eq!(quantities(&s, "2001"), acme.map(|(k, q)| (k.to_string(), q)));
        assert!(s.problems.is_empty(), "{:?}", s.problems);

        assert!(sandbox.set_vendor_quantity("huntress", "2001", "sat_learner_count", json!(null)));
        let s = run(&sandbox);
        assert_eq!(
            quantities(&s, "2001"),
            acme[..2].iter().map(|(k, q)| (k.to_string(), *q)).collect::<Vec<_>>()
        );
        assert_eq!(
            s.problems[0].kind,
            ProblemKind::MissingCount {
                service_key: "sat-learners".into(),
                field: "sat_learner_count".into()
            }
        );
        assert!(s.failed_accounts().is_empty(), "a missing count is not a failure");

        assert!(sandbox.set_vendor_quantity("huntress", "2001", "agents_count", json!(-4)));
        let s = run(&sandbox);
        assert!(quantities(&s, "2001").is_empty(), "a bad count fails the whole account");
        let failed = s.failed_accounts();
        assert_eq!(failed.len(), 1);
        let text = crate::output::wording::problem_text(failed[0]);
        assert!(text.contains("`agents_count` is -4"), "{text}");
        assert!(s.accounts.iter().any(|a| a.id == "2001"), "still listed, so never 'vanished'");
    }
}
