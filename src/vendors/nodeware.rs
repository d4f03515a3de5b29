//! Nodeware: `GET /api/v4/customers/` with `Authorization: Bearer <key>` (seen in a public
//! client; `auth_scheme = "Token"` in config if a tenant wants that). One service, `vms`,
//! billed per asset: internal + external (assumed; the split stays in the raw record).

use super::registry::{Capabilities, Registration, Section, VendorSource};
use super::{Builder, Count, VendorError, count, endpoint, field, get_records, unique_records};
use crate::config_file::ConfigError;
use crate::http::{Http, Request};
use crate::model::{VendorAccount, VendorService, VendorSnapshot};
use crate::period::Period;
use crate::secret::Secret;
use serde::Deserialize;
use url::Url;

/// `[vendors.nodeware]`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_key: Secret,
    pub base_url: Url,
    /// `Bearer` (seen in a public client) or `Token`.
    pub auth_scheme: String,
}

pub static REGISTRATION: Registration = Registration {
    key: "nodeware",
    capabilities: Capabilities::LIVE,
    keys: &["api_key", "api_key_env", "base_url", "auth_scheme"],
    requests_per_minute: None,
    settings,
    starter: "\
# [vendors.nodeware]
# api_key = \"REPLACE-ME\"                      # Nodeware > Reports > API Key
# base_url = \"https://api.nodeware.com\"
# auth_scheme = \"Bearer\"                      # or \"Token\"
",
};

#[derive(Deserialize)]
struct RawSettings {
    api_key: Option<String>,
    api_key_env: Option<String>,
    base_url: Option<String>,
    auth_scheme: Option<String>,
}

fn settings(section: &Section) -> Result<Box<dyn VendorSource>, ConfigError> {
    let raw: RawSettings = section.read()?;
    let auth_scheme = match raw.auth_scheme.as_deref() {
        None => "Bearer".to_string(),
        Some(s @ ("Bearer" | "Token")) => s.to_string(),
        Some(other) => {
            return Err(section.error(
                Some("auth_scheme"),
                format!("{} auth_scheme = {other:?}: expected \"Bearer\" or \"Token\"", section.label()),
            ));
        }
    };
    Ok(Box::new(Settings {
        api_key: section.secret("api_key", raw.api_key, raw.api_key_env)?,
        base_url: section.url_or("base_url", raw.base_url, DEFAULT_URL)?,
        auth_scheme,
    }))
}

impl VendorSource for Settings {
    fn api_url(&self) -> Option<&Url> {
        Some(&self.base_url)
    }

    fn fetch(&self, vendor: &str, http: &Http, _current: Period) -> Result<VendorSnapshot, VendorError> {
        fetch(vendor, http, &self.base_url, &self.api_key, &self.auth_scheme)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub const DEFAULT_URL: &str = "https://api.nodeware.com";

pub const SERVICE_KEY: &str = "vms";

#[derive(Deserialize)]
struct Customer {
    #[serde(deserialize_with = "super::huntress::id_as_string")]
    id: String,
    name: String,
}

pub fn fetch(
    vendor: &str,
    http: &Http,
    base_url: &Url,
    api_key: &Secret,
    auth_scheme: &str,
) -> Result<VendorSnapshot, VendorError> {
    let url = endpoint(vendor, base_url, "/api/v4/customers/")?;
    let request = Request::get(vendor, url)
        .secret_header("authorization", &format!("{auth_scheme} {}", api_key.expose()))
        .header("accept", "application/json");
    let (customers, _) = get_records::<Customer>(vendor, http, request, Some)?;
    let mut builder =
        Builder::new(vec![VendorService { key: SERVICE_KEY.to_string(), name: "Nodeware VMS".to_string() }]);
    let customers = unique_records(&mut builder, customers, |c| &c.id, |c| &c.name);
    for (customer, raw) in customers {
        let assets = assets(&raw);
        let account = VendorAccount { id: customer.id, name: customer.name, status: None, raw };
        builder.account(account, vec![(SERVICE_KEY, assets)]);
    }
    Ok(builder.finish())
}

/// Billed assets: internal + external, known only when both counts are.
fn assets(raw: &serde_json::Value) -> Count {
    let internal = "asset_totals.internal";
    let external = "asset_totals.external";
    count(internal, field(raw, internal)).plus(count(external, field(raw, external)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assets_are_internal_plus_external_and_unknown_when_either_is() {
        let cases = [
            (json!({"asset_totals": {"internal": 40, "external": 3}}), Count::Known(43)),
            (json!({"asset_totals": {"internal": 0, "external": 0}}), Count::Known(0)),
            (
                json!({"asset_totals": {"internal": null, "external": 3}}),
                Count::Missing("asset_totals.internal".into()),
            ),
            (json!({"asset_totals": {"internal": 4}}), Count::Missing("asset_totals.external".into())),
            (json!({}), Count::Missing("asset_totals.internal".into())),
            (json!({"asset_totals": null}), Count::Missing("asset_totals.internal".into())),
        ];
        for (raw, want) in cases {
            assert_eq!(assets(&raw), want, "{raw}");
        }
        let Count::Bad(text) = assets(&json!({"asset_totals": {"internal": -1, "external": 3}})) else {
            panic!("a negative count is bad")
        };
        assert!(text.contains("asset_totals.internal"), "{text}");
    }
}
