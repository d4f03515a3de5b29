//! Datto RMM (API v2): a token from `{host}/auth/oauth/token` (the password grant: the API
//! key as username, the secret as password, HTTP Basic `public-client:public`), the sites
//! (`GET /api/v2/account/sites`) without the system ones (Managed, OnDemand, Deleted
//! Devices), and the account's devices at once (`GET /api/v2/account/devices`, each with its
//! `siteUid`: fewer requests than one list per site), every list paged by
//! `pageDetails.nextPageUrl`, followed only on the configured host (the token never goes
//! anywhere else). One service, `devices`, split by `deviceType.category`.
//!
//! Billable by the rule Kaseya's own billing uses: Desktop, Laptop, Server, ESXi Host,
//! Printer, network devices and Unknown; smartphones, tablets, deleted devices, unapproved
//! ones (`approved: false`, assumed) and the devices of the custom filter `_NotBillable_`
//! (`GET /api/v2/filter/custom-filters`, then `GET /api/v2/account/devices?filterId=`;
//! assumed to be how the API shows that group) are left out, each said in the note.

use super::devices::{Tally, id_text};
use super::distributor::{TokenBody, TokenSource};
use super::registry::{Capabilities, Registration, Section, VendorSource};
use super::{Builder, VendorError, endpoint};
use crate::config_file::ConfigError;
use crate::http::{Http, Request};
use crate::model::{VendorAccount, VendorService, VendorSnapshot};
use crate::period::Period;
use crate::secret::Secret;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use url::Url;

/// `[vendors.datto-rmm]`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_key: Secret,
    pub api_secret: Secret,
    pub base_url: Url,
    pub page_size: u32,
    /// The custom filter whose devices are never billed.
    pub not_billable_filter: String,
    pub classes: Vec<(String, Vec<String>)>,
}

pub static REGISTRATION: Registration = Registration {
    key: "datto-rmm",
    capabilities: Capabilities::LIVE,
    keys: &[
        "api_key",
        "api_key_env",
        "api_secret",
        "api_secret_env",
        "platform",
        "base_url",
        "page_size",
        "not_billable_filter",
        "classes",
    ],
    requests_per_minute: None,
    settings,
    starter: "\
# [vendors.datto-rmm]                         # an RMM: devices by category
# api_key = \"REPLACE-ME\"                      # Setup > Global Settings > API, then a user's API keys
# api_secret = \"REPLACE-ME\"
# platform = \"concord\"                        # pinotage, merlot, concord, vidal, zinfandel or syrah (or base_url)
# page_size = 250                             # records per page (1-250)
# not_billable_filter = \"_NotBillable_\"       # devices in this custom filter are never billed
",
};

const PLATFORMS: [&str; 6] = ["pinotage", "merlot", "concord", "vidal", "zinfandel", "syrah"];
const SYSTEM_SITES: [&str; 3] = ["Managed", "OnDemand", "Deleted Devices"];
const SERVICE_KEY: &str = "devices";
const PAGE_SIZE: u32 = 250;
const MAX_PAGES: usize = 100_000;
/// The categories Datto lists; those not billed by Kaseya's rule are left out.
const CATEGORIES: [&str; 9] =
    ["Desktop", "Laptop", "Server", "ESXi Host", "Printer", "Network Device", "Unknown", "Smartphone", "Tablet"];
const NOT_BILLED: [&str; 2] = ["Smartphone", "Tablet"];
const CLASS_SETS: [(&str, &[&str]); 4] = [
    ("workstation", &["Desktop", "Laptop"]),
    ("server", &["Server", "ESXi Host"]),
    ("network", &["Network Device"]),
    ("printer", &["Printer"]),
];
const NOTED: &[&str] = &["mobile left out", "deleted left out", "unapproved left out", "marked not billable left out"];
const RENEW: &str = "enable API access in Datto RMM (Setup > Global Settings > Access Control), generate the \
                     API keys of an API user, and put them in [vendors.datto-rmm] api_key and api_secret";

#[derive(Deserialize)]
struct RawSettings {
    api_key: Option<String>,
    api_key_env: Option<String>,
    api_secret: Option<String>,
    api_secret_env: Option<String>,
    platform: Option<String>,
    base_url: Option<String>,
    page_size: Option<u32>,
    not_billable_filter: Option<String>,
    classes: Option<BTreeMap<String, Vec<String>>>,
}

fn settings(section: &Section) -> Result<Box<dyn VendorSource>, ConfigError> {
    let raw: RawSettings = section.read()?;
    let base_url = match (raw.platform, raw.base_url) {
        (Some(_), Some(_)) => {
            return Err(section.error(Some("base_url"), format!("{} sets both platform and base_url; keep one", section.label())));
        }
        (Some(p), None) if PLATFORMS.contains(&p.as_str()) => {
            section.url_or("platform", Some(format!("https://{p}-api.centrastage.net")), "")?
        }
        (Some(p), None) => {
            return Err(section.error(
                Some("platform"),
                format!("{} platform = {p:?}: expected one of {}", section.label(), PLATFORMS.join(", ")),
            ));
        }
        (None, Some(url)) => section.url_or("base_url", Some(url), "")?,
        (None, None) => {
            return Err(section.error(
                None,
                format!("{} needs platform (its API host: {}) or base_url", section.label(), PLATFORMS.join(", ")),
            ));
        }
    };
    let mut classes = Vec::new();
    for (name, members) in raw.classes.unwrap_or_default() {
        if let Some(bad) = members.iter().find(|c| !CATEGORIES.contains(&c.as_str())) {
            return Err(section.error(
                Some("classes"),
                format!(
                    "{} classes.{name} names {bad:?}, which is not a Datto RMM device category ({})",
                    section.label(),
                    CATEGORIES.join(", ")
                ),
            ));
        }
        classes.push((name, members));
    }
    Ok(Box::new(Settings {
        api_key: section.secret("api_key", raw.api_key, raw.api_key_env)?,
        api_secret: section.secret("api_secret", raw.api_secret, raw.api_secret_env)?,
        base_url,
        page_size: section.page_size(raw.page_size, PAGE_SIZE, PAGE_SIZE)?,
        not_billable_filter: raw.not_billable_filter.unwrap_or_else(|| "_NotBillable_".to_string()),
        classes,
    }))
}

impl VendorSource for Settings {
    fn api_url(&self) -> Option<&Url> {
        Some(&self.base_url)
    }

    fn fetch(&self, vendor: &str, http: &Http, _current: Period) -> Result<VendorSnapshot, VendorError> {
        fetch(vendor, http, self)
    }

    fn class_sets(&self) -> Vec<(String, Vec<String>)> {
        let mut sets = self.classes.clone();
        for (name, members) in CLASS_SETS {
            if !sets.iter().any(|(n, _)| n == name) {
                sets.push((name.to_string(), members.iter().map(|c| c.to_string()).collect()));
            }
        }
        sets
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub fn fetch(vendor: &str, http: &Http, s: &Settings) -> Result<VendorSnapshot, VendorError> {
    let body = TokenBody::Form(vec![
        ("grant_type", "password".to_string()),
        ("username", s.api_key.expose().to_string()),
        ("password", s.api_secret.expose().to_string()),
    ]);
    // Datto's documented public client: `public-client:public`, not a secret.
    let tokens = TokenSource::new(vendor, http, endpoint(vendor, &s.base_url, "/auth/oauth/token")?, body, RENEW)
        .with_header("authorization", "Basic cHVibGljLWNsaWVudDpwdWJsaWM=");
    let list = |path: &str, key: &str| {
        let mut out = Vec::new();
        pages(vendor, &tokens, s, path, key, |page| {
            out.extend(page);
            Ok(())
        })?;
        Ok::<_, VendorError>(out)
    };

    // The devices of the not-billable filter, by uid.
    let filters = list("/api/v2/filter/custom-filters", "filters")?;
    let mut not_billable: HashSet<String> = HashSet::new();
    for filter in filters.iter().filter(|f| f.get("name").and_then(Value::as_str) == Some(s.not_billable_filter.as_str())) {
        let id = id_text(filter, "id").unwrap_or_default();
        let path = format!("/api/v2/account/devices?filterId={id}");
        not_billable.extend(list(&path, "devices")?.iter().filter_map(|d| id_text(d, "uid")));
    }

    // Every device of the account at once, by site.
    let mut fleets: HashMap<String, Tally> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    // Tallied page by page: the account's devices are never held at once.
    pages(vendor, &tokens, s, "/api/v2/account/devices", "devices", |page| {
        for device in &page {
            let id = id_text(device, "uid").unwrap_or_default();
            if !id.is_empty() && !seen.insert(id.clone()) {
                continue; // listed on two pages: counted once
            }
            let site = id_text(device, "siteUid").unwrap_or_default();
            tally(fleets.entry(site).or_insert_with(|| Tally::new(NOTED)), device, not_billable.contains(&id));
        }
        Ok(())
    })?;

    let mut builder = Builder::new(vec![VendorService { key: SERVICE_KEY.into(), name: "Datto RMM devices".into() }]);
    let mut seen_sites: HashSet<String> = HashSet::new();
    for site in list("/api/v2/account/sites", "sites")? {
        let (Some(uid), Some(name)) = (id_text(&site, "uid"), site.get("name").and_then(Value::as_str).map(str::to_string))
        else {
            return Err(bad(vendor, s, "/api/v2/account/sites", "a site without a uid or a name"));
        };
        if SYSTEM_SITES.contains(&name.as_str()) {
            fleets.remove(&uid);
            continue;
        }
        if !seen_sites.insert(uid.clone()) {
            continue;
        }
        let fleet = fleets.remove(&uid).unwrap_or_else(|| Tally::new(NOTED));
        let account = VendorAccount { id: uid, name, status: None, raw: site };
        let notes = fleet.notes();
        builder.devices(account, SERVICE_KEY, fleet.classes, notes);
    }
    let orphans: u32 = fleets.values().flat_map(|f| f.classes.values()).sum();
    if orphans > 0 {
        builder.note(format!("{orphans} billable devices belong to no site Datto RMM listed; not billed"));
    }
    tracing::info!("{vendor}: {} sites and {} devices read, {} a page", seen_sites.len(), seen.len(), s.page_size);
    Ok(builder.finish())
}

/// Counts one device by Kaseya's rule into its site's tally.
fn tally(fleet: &mut Tally, device: &Value, not_billable: bool) {
    let class = device.pointer("/deviceType/category").and_then(Value::as_str).unwrap_or("Unknown");
    if NOT_BILLED.contains(&class) {
        fleet.leave_out(0, class);
    } else if device.get("deleted").and_then(Value::as_bool) == Some(true) {
        fleet.leave_out(1, class);
    } else if device.get("approved").and_then(Value::as_bool) == Some(false) {
        fleet.leave_out(2, class);
    } else if not_billable {
        fleet.leave_out(3, class);
    } else {
        fleet.bill(class, None);
    }
}

/// Every page of the list under `key`, each given to `each` as it comes, following
/// `pageDetails.nextPageUrl` while it stays on the configured host: an answer pointing
/// elsewhere fails the vendor (the bearer token would go with the request).
fn pages(
    vendor: &str,
    tokens: &TokenSource,
    s: &Settings,
    path: &str,
    key: &str,
    mut each: impl FnMut(Vec<Value>) -> Result<(), VendorError>,
) -> Result<(), VendorError> {
    let mut url = endpoint(vendor, &s.base_url, path)?;
    url.query_pairs_mut().append_pair("max", &s.page_size.to_string());
    for _ in 0..MAX_PAGES {
        let mut page: Value = tokens.send(Request::get(vendor, url.clone()).header("accept", "application/json"))?.json(vendor)?;
        let next = page.pointer("/pageDetails/nextPageUrl").and_then(Value::as_str).map(str::to_string);
        let Some(Value::Array(records)) = page.get_mut(key).map(Value::take) else {
            return Err(bad(vendor, s, path, &format!("the answer has no `{key}` list")));
        };
        each(records)?;
        let Some(next) = next.filter(|n| !n.is_empty()) else { return Ok(()) };
        let next = Url::parse(&next).map_err(|e| bad(vendor, s, path, &format!("nextPageUrl {next:?} is not a URL: {e}")))?;
        let same_host = next.scheme() == s.base_url.scheme()
            && next.host_str() == s.base_url.host_str()
            && next.port_or_known_default() == s.base_url.port_or_known_default();
        if !same_host {
            return Err(bad(
                vendor,
                s,
                path,
                &format!(
                    "pageDetails.nextPageUrl points at {} (not base_url's host): not followed, so the token stays on {}",
                    next.host_str().unwrap_or("?"),
                    s.base_url.host_str().unwrap_or("?")
                ),
            ));
        }
        url = next;
    }
    Err(bad(vendor, s, path, "more pages than any real account has"))
}

fn bad(vendor: &str, s: &Settings, path: &str, message: &str) -> VendorError {
    super::bad_data(vendor, &s.base_url, path, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kaseyas_rule_bills_computers_printers_and_network_devices_only() {
        let device = |category: &str| json!({"deviceType": {"category": category}});
        let mut fleet = Tally::new(NOTED);
        for (d, not_billable) in [
            (device("Desktop"), false),
            (device("Laptop"), false),
            (device("ESXi Host"), false),
            (device("Network Device"), false),
            (json!({}), false),
            (device("Smartphone"), false),
            (device("Tablet"), false),
            (json!({"deviceType": {"category": "Desktop"}, "deleted": true}), false),
            (json!({"deviceType": {"category": "Server"}, "approved": false}), false),
            (device("Printer"), true),
        ] {
            tally(&mut fleet, &d, not_billable);
        }
        let billed: Vec<(&str, u32)> = fleet.classes.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        assert_eq!(billed, [("Desktop", 1), ("ESXi Host", 1), ("Laptop", 1), ("Network Device", 1), ("Unknown", 1)]);
        let notes: Vec<String> = fleet.notes().iter().map(|n| format!("{} {} {}", n.count, n.class, n.what)).collect();
        assert_eq!(
            notes,
            [
                "1 Smartphone mobile left out",
                "1 Tablet mobile left out",
                "1 Desktop deleted left out",
                "1 Server unapproved left out",
                "1 Printer marked not billable left out",
            ]
        );
    }
}
