//! NordLayer: `Authorization: ApiKey <key>` (seen, per the vendor's partner PDF).
//! Organizations come from `GET /msp/v1/organizations?limit=N&offset=M`, a plain array paged
//! by limit/offset that ends on a short page (seen). Usage per organization is not public:
//! recon assumes `GET /msp/v1/organizations/{identifier}/usage` -> `{"members":12,"servers":1}`,
//! and the path and both field names are configurable. Two services: `licenses` (members)
//! and `servers` (dedicated servers); a plan whose identifier starts with `lite` has no
//! servers, so it yields no server line whatever the usage says.

use super::{VendorError, endpoint, get_records, quantity};
use crate::http::{Http, Request, decode_json};
use crate::model::{Usage, VendorAccount, VendorService, VendorSnapshot};
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::HashSet;
use url::Url;

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
    let organizations = organizations(vendor, http, base_url, wire.page_size, &get)?;

    // One usage call per organization, spread over the workers (the Http is shared).
    let usage = crate::workers::map(&organizations, http.settings().workers, |(org, _)| {
        let path = wire.usage_path.replace("{identifier}", &encode_path_segment(&org.identifier));
        let url = endpoint(vendor, base_url, &path)?;
        let request = get(url);
        let response = http.send(&request)?;
        let document: serde_json::Value = decode_json(vendor, &request.url, &response.body)?;
        usage_lines(vendor, org, &document, wire)
    });
    let mut lines = Vec::with_capacity(usage.len());
    let mut failed = Vec::new();
    for ((org, _), result) in organizations.iter().zip(usage) {
        match result {
            Ok(l) => lines.push(l),
            Err(e) => failed.push((org, e)),
        }
    }
    let others = failed.len().saturating_sub(1);
    if let Some((org, source)) = failed.into_iter().next() {
        let more = if others > 0 { format!(" (and {others} more)") } else { String::new() };
        return Err(VendorError::Account {
            vendor: vendor.to_string(),
            account: format!("{:?} ({}){more}", org.title, org.identifier),
            source: Box::new(source),
        });
    }

    let mut snapshot = VendorSnapshot {
        services: vec![
            VendorService { key: LICENSES.to_string(), name: "NordLayer licenses (members)".to_string() },
            VendorService { key: SERVERS.to_string(), name: "NordLayer dedicated servers".to_string() },
        ],
        ..VendorSnapshot::default()
    };
    for ((org, raw), org_lines) in organizations.into_iter().zip(lines) {
        snapshot.usage.extend(org_lines);
        snapshot.accounts.push(VendorAccount { id: org.identifier, name: org.title, status: None, raw });
    }
    Ok(snapshot)
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
                all.push((org, raw));
            }
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

/// The usage lines of one organization from its usage answer. A missing field is no line
/// (unknown is never zero); a `lite*` plan has no server line.
fn usage_lines(
    vendor: &str,
    org: &Organization,
    document: &serde_json::Value,
    wire: &Wire<'_>,
) -> Result<Vec<Usage>, VendorError> {
    let mut lines = Vec::new();
    let members = quantity(vendor, &org.title, wire.members_field, field(document, wire.members_field))?;
    if let Some(q) = members {
        lines.push(Usage {
            account_id: org.identifier.clone(),
            service_key: LICENSES.to_string(),
            quantity: q,
        });
    }
    if !is_lite(org.plan_identifier.as_deref()) {
        let servers = quantity(vendor, &org.title, wire.servers_field, field(document, wire.servers_field))?;
        if let Some(q) = servers {
            lines.push(Usage {
                account_id: org.identifier.clone(),
                service_key: SERVERS.to_string(),
                quantity: q,
            });
        }
    }
    Ok(lines)
}

/// Lite plans (`lite`, `lite_2023`, ...) include no dedicated servers.
fn is_lite(plan: Option<&str>) -> bool {
    plan.is_some_and(|p| p.trim().to_ascii_lowercase().starts_with("lite"))
}

/// A field by name; `a.b` reads `b` inside `a`.
fn field<'a>(document: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    name.split('.').try_fold(document, |value, key| value.get(key))
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
    use crate::config::{HttpSettings, NORDLAYER_USAGE_PATH};
    use crate::sandbox::{NORDLAYER_KEY, Sandbox};
    use serde_json::json;

    const DEFAULT_WIRE: Wire<'static> = Wire {
        page_size: 200,
        usage_path: NORDLAYER_USAGE_PATH,
        members_field: "members",
        servers_field: "servers",
    };

    fn org(plan: Option<&str>) -> Organization {
        Organization {
            identifier: "org-1".into(),
            title: "Acme".into(),
            plan_identifier: plan.map(str::to_string),
        }
    }

    fn lines(plan: Option<&str>, document: serde_json::Value) -> Vec<(String, u32)> {
        usage_lines("nordlayer", &org(plan), &document, &DEFAULT_WIRE)
            .unwrap()
            .into_iter()
            .map(|u| (u.service_key, u.quantity))
            .collect()
    }

    #[test]
    fn lite_plans_have_no_server_line() {
        let both = vec![(LICENSES.to_string(), 12), (SERVERS.to_string(), 1)];
        let members_only = vec![(LICENSES.to_string(), 12)];
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
    fn a_missing_field_is_no_line_and_a_bad_one_names_the_organization() {
        assert_eq!(lines(Some("core"), json!({"members": 3})), vec![(LICENSES.to_string(), 3)]);
        assert_eq!(lines(Some("core"), json!({"servers": "2"})), vec![(SERVERS.to_string(), 2)]);
        assert!(lines(Some("core"), json!({})).is_empty());
        let e = usage_lines("nordlayer", &org(Some("core")), &json!({"members": -1}), &DEFAULT_WIRE)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Acme") && e.contains("members"), "{e}");
    }

    #[test]
    fn configured_fields_may_be_nested() {
        let wire = Wire { members_field: "usage.users", servers_field: "usage.gateways", ..DEFAULT_WIRE };
        let got =
            usage_lines("n", &org(None), &json!({"usage": {"users": 4, "gateways": 2}}), &wire).unwrap();
        assert_eq!(got.iter().map(|u| u.quantity).collect::<Vec<_>>(), vec![4, 2]);
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
    fn a_failing_usage_call_fails_the_fetch_naming_the_organization() {
        let sandbox = Sandbox::start().unwrap();
        let wire = Wire { usage_path: "/msp/v1/organizations/{identifier}/usage-nope", ..DEFAULT_WIRE };
        let e = run(&sandbox, &wire).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("nordlayer: organization \"Acme Dental\" (org-d55dac13-1847) (and 14 more): "),
            "{text}"
        );
        assert!(text.contains("404"), "{text}");
    }
}
