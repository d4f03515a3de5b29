//! NinjaOne (public API v2): an OAuth2 client-credentials token from `{host}/ws/oauth/token`
//! (`scope=monitoring`), `GET /v2/organizations` and `GET /v2/devices-detailed`, both paged
//! with `pageSize` and `after` (the last id of the page before). One service, `devices`: an
//! organization's billable devices, split by `nodeClass` so a mapping can bill a class set
//! (`map services --class server`).
//!
//! Billable: approved devices (`approvalStatus` APPROVED), mobiles (ANDROID, APPLE_IOS,
//! APPLE_IPADOS) out; offline devices count. What was left out or counted is said in the
//! plan's note. How sure: the paths, token and fields are from NinjaOne's public API docs;
//! the page size limit (1,000) is assumed (README, "Device vendors").

use super::distributor::{TokenBody, TokenSource};
use super::registry::{Capabilities, ClientCredentials, Registration, Section, VendorSource};
use super::devices::{Tally, id_text};
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

/// `[vendors.ninjaone]`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub client_id: String,
    pub client_secret: Secret,
    pub base_url: Url,
    pub page_size: u32,
    /// Class sets named in the config (`classes = { servers = [...] }`), beside the built-in ones.
    pub classes: Vec<(String, Vec<String>)>,
}

pub static REGISTRATION: Registration = Registration {
    key: "ninjaone",
    capabilities: Capabilities::LIVE,
    keys: &[
        "client_id",
        "client_id_env",
        "client_secret",
        "client_secret_env",
        "region",
        "base_url",
        "page_size",
        "classes",
    ],
    requests_per_minute: None,
    settings,
    starter: "\
# [vendors.ninjaone]                          # an RMM: devices by class
# client_id = \"REPLACE-ME\"                    # Administration > Apps > API > Client App IDs
# client_secret = \"REPLACE-ME\"                # (client credentials, scope monitoring)
# region = \"app\"                              # app, eu, ca, oc or us2 (or base_url = \"https://...\")
# page_size = 1000                            # devices per page (1-1000)
# classes = { servers = [\"WINDOWS_SERVER\", \"LINUX_SERVER\"] }   # named class sets for --class
",
};

/// The regions NinjaOne hosts (`{region}.ninjarmm.com`).
const REGIONS: [&str; 5] = ["app", "eu", "ca", "oc", "us2"];
const PAGE_SIZE: u32 = 1000;
const MAX_PAGES: usize = 100_000;
const SERVICE_KEY: &str = "devices";
const MOBILE: [&str; 3] = ["ANDROID", "APPLE_IOS", "APPLE_IPADOS"];
/// The node classes NinjaOne documents (a config class set may name only these, or a prefix).
const NODE_CLASSES: [&str; 18] = [
    "WINDOWS_SERVER",
    "WINDOWS_WORKSTATION",
    "LINUX_SERVER",
    "LINUX_WORKSTATION",
    "MAC",
    "MAC_SERVER",
    "VMWARE_VM_HOST",
    "VMWARE_VM_GUEST",
    "HYPERV_VMM_HOST",
    "HYPERV_VMM_GUEST",
    "NMS_SWITCH",
    "NMS_ROUTER",
    "NMS_FIREWALL",
    "NMS_PRINTER",
    "ANDROID",
    "APPLE_IOS",
    "APPLE_IPADOS",
    "CLOUD_MONITOR_TARGET",
];
/// The class sets `--class` takes without any config.
const CLASS_SETS: [(&str, &[&str]); 6] = [
    ("workstation", &["WINDOWS_WORKSTATION", "MAC", "LINUX_WORKSTATION"]),
    ("server", &["WINDOWS_SERVER", "LINUX_SERVER", "MAC_SERVER"]),
    ("virtual-host", &["VMWARE_VM_HOST", "HYPERV_VMM_HOST"]),
    ("virtual-guest", &["VMWARE_VM_GUEST", "HYPERV_VMM_GUEST"]),
    ("network", &["NMS_*"]),
    ("cloud", &["CLOUD_MONITOR_TARGET"]),
];
const RENEW: &str = "create a client app in NinjaOne (Administration > Apps > API: client credentials, scope \
                     monitoring) and put its id and secret in [vendors.ninjaone] client_id and client_secret";

#[derive(Deserialize)]
struct RawSettings {
    client_id: Option<String>,
    client_id_env: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    region: Option<String>,
    base_url: Option<String>,
    page_size: Option<u32>,
    classes: Option<BTreeMap<String, Vec<String>>>,
}

fn settings(section: &Section) -> Result<Box<dyn VendorSource>, ConfigError> {
    let raw: RawSettings = section.read()?;
    let (client_id, client_secret) = section.client_credentials(ClientCredentials {
        client_id: raw.client_id,
        client_id_env: raw.client_id_env,
        client_secret: raw.client_secret,
        client_secret_env: raw.client_secret_env,
    })?;
    let base_url = match (raw.region, raw.base_url) {
        (Some(_), Some(_)) => {
            return Err(section.error(Some("base_url"), format!("{} sets both region and base_url; keep one", section.label())));
        }
        (Some(region), None) if REGIONS.contains(&region.as_str()) => {
            section.url_or("region", Some(format!("https://{region}.ninjarmm.com")), "")?
        }
        (Some(region), None) => {
            return Err(section.error(
                Some("region"),
                format!("{} region = {region:?}: expected one of {}", section.label(), REGIONS.join(", ")),
            ));
        }
        (None, url) => section.url_or("base_url", url, "https://app.ninjarmm.com")?,
    };
    let mut classes = Vec::new();
    for (name, members) in raw.classes.unwrap_or_default() {
        if let Some(bad) = members.iter().find(|c| !known_class(c)) {
            return Err(section.error(
                Some("classes"),
                format!(
                    "{} classes.{name} names {bad:?}, which is not a NinjaOne node class ({}; or a prefix ending in *)",
                    section.label(),
                    NODE_CLASSES.join(", ")
                ),
            ));
        }
        classes.push((name, members));
    }
    Ok(Box::new(Settings {
        client_id,
        client_secret,
        base_url,
        page_size: section.page_size(raw.page_size, PAGE_SIZE, PAGE_SIZE)?,
        classes,
    }))
}

fn known_class(class: &str) -> bool {
    match class.strip_suffix('*') {
        Some(prefix) => NODE_CLASSES.iter().any(|c| c.starts_with(prefix)),
        None => NODE_CLASSES.contains(&class),
    }
}

impl VendorSource for Settings {
    fn api_url(&self) -> Option<&Url> {
        Some(&self.base_url)
    }

    fn fetch(&self, vendor: &str, http: &Http, _current: Period) -> Result<VendorSnapshot, VendorError> {
        fetch(vendor, http, self)
    }

    fn class_sets(&self) -> Vec<(String, Vec<String>)> {
        let mut sets: Vec<(String, Vec<String>)> = self.classes.clone();
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
    let token_url = endpoint(vendor, &s.base_url, "/ws/oauth/token")?;
    let body = TokenBody::Form(vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", s.client_id.clone()),
        ("client_secret", s.client_secret.expose().to_string()),
        ("scope", "monitoring".to_string()),
    ]);
    let tokens = TokenSource::new(vendor, http, token_url, body, RENEW);
    let mut organizations = Vec::new();
    pages(vendor, &tokens, s, "/v2/organizations", |page| {
        organizations.extend(page);
        Ok(())
    })?;
    // Devices are tallied page by page: 60,000 of them are never held at once.
    let mut fleets: HashMap<String, Tally> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    pages(vendor, &tokens, s, "/v2/devices-detailed", |page| {
        for device in &page {
            let Some(id) = id_text(device, "id") else {
                return Err(bad(vendor, s, "/v2/devices-detailed", "a device without an id"));
            };
            if !seen.insert(id) {
                continue; // listed on two pages: counted once
            }
            let organization = id_text(device, "organizationId").unwrap_or_default();
            tally(fleets.entry(organization).or_insert_with(|| Tally::new(NOTED)), device);
        }
        Ok(())
    })?;
    // What was read, for `-v`: the page size is assumed, so say what paging gave.
    tracing::info!(
        "{vendor}: {} organizations and {} devices read, {} a page",
        organizations.len(),
        seen.len(),
        s.page_size
    );

    let mut builder = Builder::new(vec![VendorService { key: SERVICE_KEY.into(), name: "NinjaOne devices".into() }]);
    let mut orphans = 0usize;
    let mut listed: HashSet<String> = HashSet::new();
    for org in organizations {
        let (Some(id), Some(name)) = (id_text(&org, "id"), org.get("name").and_then(Value::as_str).map(str::to_string)) else {
            return Err(bad(vendor, s, "/v2/organizations", "an organization without an id or a name"));
        };
        if !listed.insert(id.clone()) {
            continue;
        }
        let fleet = fleets.remove(&id).unwrap_or_else(|| Tally::new(NOTED));
        let account = VendorAccount { id, name, status: None, raw: org };
        let notes = fleet.notes();
        builder.devices(account, SERVICE_KEY, fleet.classes, notes);
    }
    for fleet in fleets.values() {
        orphans += fleet.classes.values().sum::<u32>() as usize;
    }
    if orphans > 0 {
        builder.note(format!("{orphans} billable devices belong to no organization NinjaOne listed; not billed"));
    }
    Ok(builder.finish())
}

/// What the rule says of a device, in the order the note reads them.
const NOTED: &[&str] = &["offline counted", "unapproved left out", "mobile left out"];

/// Counts one device into its organization's tally: approved, not mobile; offline noted.
fn tally(fleet: &mut Tally, device: &Value) {
    let class = device.get("nodeClass").and_then(Value::as_str).unwrap_or("UNKNOWN");
    if device.get("approvalStatus").and_then(Value::as_str) != Some("APPROVED") {
        fleet.leave_out(1, class);
    } else if MOBILE.contains(&class) {
        fleet.leave_out(2, class);
    } else {
        let offline = device.get("offline").and_then(Value::as_bool) == Some(true);
        fleet.bill(class, offline.then_some(0));
    }
}

/// Every page of a list paged by `pageSize` and `after`, each given to `each` as it comes: a
/// page shorter than asked for is the last.
fn pages(
    vendor: &str,
    tokens: &TokenSource,
    s: &Settings,
    path: &str,
    mut each: impl FnMut(Vec<Value>) -> Result<(), VendorError>,
) -> Result<(), VendorError> {
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut url = endpoint(vendor, &s.base_url, path)?;
        url.query_pairs_mut().append_pair("pageSize", &s.page_size.to_string());
        if let Some(a) = &after {
            url.query_pairs_mut().append_pair("after", a);
        }
        let page: Value = tokens.send(Request::get(vendor, url).header("accept", "application/json"))?.json(vendor)?;
        let Value::Array(records) = page else {
            return Err(bad(vendor, s, path, "expected a JSON array"));
        };
        let count = records.len();
        let last = records.last().and_then(|r| id_text(r, "id"));
        each(records)?;
        if count < s.page_size as usize {
            return Ok(());
        }
        if last.is_none() || last == after {
            return Err(bad(vendor, s, path, "a full page whose last id does not move on: paging stopped"));
        }
        after = last;
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
    fn the_billing_rule_counts_approved_non_mobile_devices_and_says_what_it_left_out() {
        let device = |class: &str, approval: &str, offline: bool| {
            json!({"nodeClass": class, "approvalStatus": approval, "offline": offline})
        };
        let mut fleet = Tally::new(NOTED);
        for d in [
            device("WINDOWS_WORKSTATION", "APPROVED", false),
            device("WINDOWS_WORKSTATION", "APPROVED", true),
            device("MAC", "APPROVED", false),
            device("WINDOWS_SERVER", "PENDING", false),
            device("APPLE_IOS", "APPROVED", false),
            device("ANDROID", "APPROVED", true),
            json!({"nodeClass": "LINUX_SERVER"}),
            json!({"approvalStatus": "APPROVED"}),
        ] {
            tally(&mut fleet, &d);
        }
        let want: BTreeMap<String, u32> =
            [("WINDOWS_WORKSTATION", 2), ("MAC", 1), ("UNKNOWN", 1)].iter().map(|(c, n)| (c.to_string(), *n)).collect();
        assert_eq!(fleet.classes, want);
        let notes: Vec<(String, u32, String)> =
            fleet.notes().into_iter().map(|n| (n.what, n.count, n.class)).collect();
        let want = [
            ("offline counted", 1, "WINDOWS_WORKSTATION"),
            ("unapproved left out", 1, "LINUX_SERVER"),
            ("unapproved left out", 1, "WINDOWS_SERVER"),
            ("mobile left out", 1, "ANDROID"),
            ("mobile left out", 1, "APPLE_IOS"),
        ];
        assert_eq!(notes, want.map(|(w, n, c)| (w.to_string(), n, c.to_string())));
    }

    #[test]
    fn config_class_sets_name_only_node_classes_or_prefixes() {
        for (class, known) in
            [("WINDOWS_SERVER", true), ("NMS_*", true), ("MAC*", true), ("SERVER", false), ("XYZ*", false)]
        {
            assert_eq!(known_class(class), known, "{class}");
        }
    }
}
