//! Huntress: `GET /v1/organizations?limit=N&page_token=T` with HTTP Basic `key:secret`
//! (documented). The last page has no `next_page_token`. Three services from counts on
//! each organization.

use super::{Builder, VendorError, count, endpoint, get_records, unique_records};
use crate::http::{Http, Request};
use crate::model::{VendorAccount, VendorService, VendorSnapshot};
use crate::secret::Secret;
use base64::Engine;
use serde::{Deserialize, Deserializer};
use url::Url;

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
