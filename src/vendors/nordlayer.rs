//! NordLayer: `Authorization: ApiKey <key>` (seen, per the vendor's partner PDF).
//! Organizations come from `GET /msp/v1/organizations?limit=N&offset=M`, a plain array paged
//! by limit/offset that ends on a short page (seen). Usage per organization is not public:
//! recon assumes `GET /msp/v1/organizations/{identifier}/usage` -> `{"members":12,"servers":1}`,
//! and the path and both field names are configurable. Two services: `licenses` (members)
//! and `servers` (dedicated servers); a plan whose identifier starts with `lite` has no
//! servers, so it yields no server line whatever the usage says.

use super::registry::{Capabilities, Registration, Section, VendorSource};
use super::{Builder, Count, VendorError, count, endpoint, field, get_records, unique_records};
use crate::config_file::ConfigError;
use crate::http::{Http, Request, decode_json};
use crate::model::{VendorAccount, VendorService, VendorSnapshot};
use crate::period::Period;
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::HashSet;
use url::Url;

/// `[vendors.nordlayer]`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_key: Secret,
    pub base_url: Url,
    pub page_size: u32,
    /// `{identifier}` is replaced by the organization identifier.
    pub usage_path: String,
    pub members_field: String,
    pub servers_field: String,
}

pub static REGISTRATION: Registration = Registration {
    key: "nordlayer",
    capabilities: Capabilities::LIVE,
    keys: &[
        "api_key",
        "api_key_env",
        "base_url",
        "page_size",
        "usage_path",
        "members_field",
        "servers_field",
    ],
    requests_per_minute: None,
    settings,
    starter: "\
# [vendors.nordlayer]
# api_key = \"REPLACE-ME\"                      # Integrations > Custom > API Keys
# base_url = \"https://partner-api.nordlayer.com\"
# page_size = 200
# usage_path = \"/msp/v1/organizations/{identifier}/usage\"   # assumed; verify on your tenant
# members_field = \"members\"                   # assumed
# servers_field = \"servers\"                   # assumed
",
};

#[derive(Deserialize)]
struct RawSettings {
    api_key: Option<String>,
    api_key_env: Option<String>,
    base_url: Option<String>,
    page_size: Option<u32>,
    usage_path: Option<String>,
    members_field: Option<String>,
    servers_field: Option<String>,
}

fn settings(section: &Section) -> Result<Box<dyn VendorSource>, ConfigError> {
    let raw: RawSettings = section.read()?;
    Ok(Box::new(Settings {
        api_key: section.secret("api_key", raw.api_key, raw.api_key_env)?,
        base_url: section.url_or("base_url", raw.base_url, DEFAULT_URL)?,
        page_size: section.page_size(raw.page_size, 200, 200)?,
        usage_path: raw.usage_path.unwrap_or_else(|| USAGE_PATH.to_string()),
        members_field: raw.members_field.unwrap_or_else(|| "members".to_string()),
        servers_field: raw.servers_field.unwrap_or_else(|| "servers".to_string()),
    }))
}

impl VendorSource for Settings {
    fn api_url(&self) -> Option<&Url> {
        Some(&self.base_url)
    }

    fn fetch(&self, vendor: &str, http: &Http, _current: Period) -> Result<VendorSnapshot, VendorError> {
        fetch(vendor, http, &self.base_url, &self.api_key, &self.wire())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Settings {
    pub fn wire(&self) -> Wire<'_> {
        Wire {
            page_size: self.page_size,
            usage_path: &self.usage_path,
            members_field: &self.members_field,
            servers_field: &self.servers_field,
        }
    }
}

pub const DEFAULT_URL: &str = "https://partner-api.nordlayer.com";
/// Assumed: nothing public documents per-organization usage.
pub const USAGE_PATH: &str = "/msp/v1/organizations/{identifier}/usage";

pub const LICENSES: &str = "licenses";
pub const SERVERS: &str = "servers";
const ORGANIZATIONS_PATH: &str = "/msp/v1/organizations";
/// A guard against a server that never stops paging.
const MAX_PAGES: usize = 10_000;

/// The configurable parts of the wire shape.
pub struct Wire<'a> {
    pub page_size: u32,
    /// `{identifier}` is replaced by the URL-encoded organization identifier.
    pub usage_path: &'a str,
    /// Field names in the usage answer; `a.b` reads a nested field.
    pub members_field: &'a str,
    pub servers_field: &'a str,
}

#[derive(Deserialize)]
struct Organization {
    #[serde(deserialize_with = "super::huntress::id_as_string")]
    identifier: String,
    title: String,
    plan_identifier: Option<String>,
}

pub fn fetch(
    vendor: &str,
    http: &Http,
    base_url: &Url,
    api_key: &Secret,
    wire: &Wire<'_>,
) -> Result<VendorSnapshot, VendorError> {
    let auth = format!("ApiKey {}", api_key.expose());
    let get = |url: Url| {
        Request::get(vendor, url).secret_header("authorization", &auth).header("accept", "application/json")
    };
    let listed = organizations(vendor, http, base_url, wire.page_size, &get)?;
    let mut builder = Builder::new(vec![
        VendorService { key: LICENSES.to_string(), name: "NordLayer licenses (members)".to_string() },
        VendorService { key: SERVERS.to_string(), name: "NordLayer dedicated servers".to_string() },
    ]);
    let organizations = unique_records(&mut builder, listed, |o| &o.identifier, |o| &o.title);
    // One usage call per organization, spread over the workers (the Http is shared). A call
    // that fails after its retries makes that organization's usage unknown, not the vendor's.
    let usage = crate::workers::map(&organizations, http.settings().workers, |(org, _)| {
        let path = wire.usage_path.replace("{identifier}", &encode_path_segment(&org.identifier));
        let url = endpoint(vendor, base_url, &path)?;
        let request = get(url);
        let response = http.send(&request)?;
        let document: serde_json::Value = decode_json(vendor, &request.url, &response.body)?;
        Ok::<_, VendorError>(document)
    });
    for ((org, raw), document) in organizations.into_iter().zip(usage) {
        let lite = is_lite(org.plan_identifier.as_deref());
        let account = VendorAccount { id: org.identifier, name: org.title, status: None, raw };
        match document {
            Ok(document) => builder.account(account, counts(lite, &document, wire)),
            Err(e) => builder.failed(account, format!("reading its usage failed: {e}")),
        }
    }
    Ok(builder.finish())
}

/// Every organization, page by page, with its raw record.
fn organizations(
    vendor: &str,
    http: &Http,
    base_url: &Url,
    page_size: u32,
    get: &dyn Fn(Url) -> Request,
) -> Result<Vec<(Organization, serde_json::Value)>, VendorError> {
    let page_size = page_size.max(1);
    // Every record, duplicates included: `unique_records` decides what a repeated id means.
    let mut all: Vec<(Organization, serde_json::Value)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for _ in 0..MAX_PAGES {
        let mut url = endpoint(vendor, base_url, ORGANIZATIONS_PATH)?;
        url.query_pairs_mut()
            .append_pair("limit", &page_size.to_string())
            .append_pair("offset", &all.len().to_string());
        let (page, _) = get_records::<Organization>(vendor, http, get(url.clone()), Some)?;
        let count = page.len();
        let mut new = 0;
        for (org, raw) in page {
            if seen.insert(org.identifier.clone()) {
                new += 1;
            }
            all.push((org, raw));
        }
        if count < page_size as usize {
            return Ok(all);
        }
        if new == 0 {
            // A full page of organizations already listed: the server ignores `offset`.
            return Err(VendorError::BadData {
                vendor: vendor.to_string(),
                url: crate::http::display_url(&url),
                message: "the page repeats organizations already listed, so paging would never end"
                    .to_string(),
            });
        }
    }
    Err(VendorError::Other {
        vendor: vendor.to_string(),
        message: format!("more than {MAX_PAGES} pages; stopping"),
    })
}

/// The counts of one organization from its usage answer: members, and servers unless the
/// plan is `lite*` (which has none, so no server line whatever the answer says).
fn counts(lite: bool, document: &serde_json::Value, wire: &Wire<'_>) -> Vec<(&'static str, Count)> {
    let mut counts = vec![(LICENSES, count(wire.members_field, field(document, wire.members_field)))];
    if !lite {
        counts.push((SERVERS, count(wire.servers_field, field(document, wire.servers_field))));
    }
    counts
}

/// Lite plans (`lite`, `lite_2023`, ...) include no dedicated servers.
fn is_lite(plan: Option<&str>) -> bool {
    plan.is_some_and(|p| p.trim().to_ascii_lowercase().starts_with("lite"))
}

/// Percent-encode everything but RFC 3986 unreserved characters, so an identifier stays one
/// path segment whatever it holds (`/`, `?`, `#`, spaces).
fn encode_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpSettings;
    use recon_sandbox::{NORDLAYER_KEY, Sandbox};
    use serde_json::json;

    const DEFAULT_WIRE: Wire<'static> =
        Wire { page_size: 200, usage_path: USAGE_PATH, members_field: "members", servers_field: "servers" };

    fn lines(plan: Option<&str>, document: serde_json::Value) -> Vec<(&'static str, Count)> {
        counts(is_lite(plan), &document, &DEFAULT_WIRE)
    }

    #[test]
    fn lite_plans_have_no_server_line() {
        let both = vec![(LICENSES, Count::Known(12)), (SERVERS, Count::Known(1))];
        let members_only = vec![(LICENSES, Count::Known(12))];
        for (plan, want) in [
            (Some("core"), &both),
            (Some("premium"), &both),
            (None, &both),
            (Some("lite"), &members_only),
            (Some("lite_2023"), &members_only),
            (Some("Lite"), &members_only),
            (Some("elite"), &both),
        ] {
            assert_eq!(&lines(plan, json!({"members": 12, "servers": 1})), want, "{plan:?}");
        }
    }

    #[test]
    fn a_missing_field_is_unknown_and_a_bad_one_names_the_field() {
        let missing = |f: &str| Count::Missing(f.to_string());
        assert_eq!(
            lines(Some("core"), json!({"members": 3})),
            vec![(LICENSES, Count::Known(3)), (SERVERS, missing("servers"))]
        );
        assert_eq!(
            lines(Some("core"), json!({"servers": "2", "members": null})),
            vec![(LICENSES, missing("members")), (SERVERS, Count::Known(2))]
        );
        assert_eq!(lines(Some("lite"), json!({})), vec![(LICENSES, missing("members"))]);
        let got = lines(Some("core"), json!({"members": -1, "servers": 0}));
        let Count::Bad(e) = &got[0].1 else { panic!("a negative count is bad: {got:?}") };
        assert!(e.contains("members"), "{e}");
    }

    #[test]
    fn configured_fields_may_be_nested() {
        let wire = Wire { members_field: "usage.users", servers_field: "usage.gateways", ..DEFAULT_WIRE };
        let got = counts(false, &json!({"usage": {"users": 4, "gateways": 2}}), &wire);
        assert_eq!(got, vec![(LICENSES, Count::Known(4)), (SERVERS, Count::Known(2))]);
    }

    #[test]
    fn identifiers_stay_one_path_segment() {
        assert_eq!(encode_path_segment("org-d55d_1.x~"), "org-d55d_1.x~");
        assert_eq!(encode_path_segment("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
        assert_eq!(encode_path_segment("ü"), "%C3%BC");
    }

    fn run(sandbox: &Sandbox, wire: &Wire<'_>) -> Result<VendorSnapshot, VendorError> {
        let http = Http::new(HttpSettings {
            max_attempts: 1,
            timeout_secs: 10,
            // One connection: these tests are about paging and errors. The concurrent usage
            // calls are exercised end to end (tests/e2e/vendors.rs), where the binary runs
            // with the default workers.
            workers: 1,
            ..HttpSettings::default()
        })
        .unwrap();
        let url = Url::parse(&sandbox.vendor_url("nordlayer").unwrap()).unwrap();
        fetch("nordlayer", &http, &url, &Secret::new(NORDLAYER_KEY), wire)
    }

    #[test]
    fn pages_are_followed_to_the_short_page_whatever_the_size() {
        let sandbox = Sandbox::start().unwrap();
        for page_size in [1, 4, 5, 14, 15, 200] {
            let s = run(&sandbox, &Wire { page_size, ..DEFAULT_WIRE }).unwrap();
            assert_eq!(s.accounts.len(), 15, "page_size {page_size}");
            let unique: HashSet<&str> = s.accounts.iter().map(|a| a.id.as_str()).collect();
            assert_eq!(unique.len(), 15);
            // 15 members lines; servers for the 10 non-lite organizations.
            assert_eq!(s.usage.iter().filter(|u| u.service_key == LICENSES).count(), 15);
            assert_eq!(s.usage.iter().filter(|u| u.service_key == SERVERS).count(), 10);
        }
        let list_calls = sandbox
            .requests()
            .iter()
            .filter(|r| r.path_and_query.starts_with("/msp/v1/organizations?"))
            .filter(|r| r.path_and_query.contains("limit=5&"))
            .count();
        assert_eq!(list_calls, 4, "15 at 5 a page: three full pages and an empty one");
    }

    #[test]
    fn a_failing_usage_call_fails_only_its_organization() {
        let sandbox = Sandbox::start().unwrap();
        let wire = Wire { usage_path: "/msp/v1/organizations/{identifier}/usage-nope", ..DEFAULT_WIRE };
        let s = run(&sandbox, &wire).unwrap();
        assert_eq!(s.accounts.len(), 15, "every organization is still listed");
        assert!(s.usage.is_empty());
        let failed = s.failed_accounts();
        assert_eq!(failed.len(), 15);
        let text = failed
            .iter()
            .map(|p| crate::output::wording::problem_text(p))
            .find(|t| t.contains("Acme Dental"))
            .unwrap();
        assert!(
            text.starts_with("account \"Acme Dental\" (org-d55dac13-1847): reading its usage failed: "),
            "{text}"
        );
        assert!(text.contains("404"), "{text}");
    }
}
