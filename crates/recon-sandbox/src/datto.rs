//! Fake Datto RMM (API v2): a token from `/auth/oauth/token` (the password grant with the API
//! key and secret, HTTP Basic `public-client:public`), `GET /api/v2/account/sites`, the
//! account's devices (`GET /api/v2/account/devices`) and each site's
//! (`GET /api/v2/site/{uid}/devices`), all paged by `max` and `page` with
//! `pageDetails.nextPageUrl` (absolute, on this host, or on another host when a test asks);
//! and the custom filters (`GET /api/v2/filter/custom-filters`) with a filter's devices
//! (`GET /api/v2/account/devices?filterId=`).
//!
//! Seeded: the system sites (Managed, OnDemand, Deleted Devices) beside Acme Dental (desktops,
//! laptops, a server, a printer; a smartphone, a deleted desktop, an unapproved one and one
//! in the `_NotBillable_` filter) and O'Brien & Sons (an ESXi host, a network device, a tablet,
//! an Unknown).

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;

use super::Credentials;
use super::server::{Exchange, Reply, lock};

pub(crate) struct Datto {
    credentials: Credentials,
    state: Mutex<State>,
}

struct State {
    sites: Vec<Value>,
    devices: Vec<Value>,
    /// Device uids in the `_NotBillable_` filter.
    not_billable: Vec<String>,
    tokens: Vec<String>,
    /// Where `nextPageUrl` points: this server (`None`) or another host.
    foreign_next: Option<String>,
    issued: u64,
}

const MAX_PAGE: usize = 250;
const NOT_BILLABLE_FILTER: i64 = 9001;

impl Datto {
    pub fn new(credentials: Credentials) -> Datto {
        let site = |uid: &str, name: &str| json!({"uid": uid, "id": uid.len(), "name": name, "onDemand": name == "OnDemand"});
        let sites = vec![
            site("s-managed", "Managed"),
            site("s-ondemand", "OnDemand"),
            site("s-deleted", "Deleted Devices"),
            site("s-acme", "Acme Dental"),
            site("s-obrien", "O'Brien & Sons"),
        ];
        // (site, category, how many, extra fields)
        let fleet: [(&str, &str, usize, Value); 13] = [
            ("s-acme", "Desktop", 8, json!({})),
            ("s-acme", "Laptop", 4, json!({})),
            ("s-acme", "Server", 1, json!({})),
            ("s-acme", "Printer", 1, json!({})),
            ("s-acme", "Smartphone", 1, json!({})),
            ("s-acme", "Desktop", 1, json!({"deleted": true})),
            ("s-acme", "Desktop", 1, json!({"approved": false})),
            ("s-acme", "Desktop", 1, json!({"hostname": "NOTBILL-1"})),
            ("s-obrien", "Desktop", 3, json!({})),
            ("s-obrien", "ESXi Host", 1, json!({})),
            ("s-obrien", "Network Device", 1, json!({})),
            ("s-obrien", "Tablet", 1, json!({})),
            ("s-obrien", "Unknown", 1, json!({})),
        ];
        let mut devices = Vec::new();
        let mut not_billable = Vec::new();
        for (site, category, count, extra) in fleet {
            for _ in 0..count {
                let uid = format!("d-{:04}", devices.len() + 1);
                let mut device = device(&uid, site, category);
                for (k, v) in extra.as_object().into_iter().flatten() {
                    device[k] = v.clone();
                }
                if device["hostname"] == "NOTBILL-1" {
                    not_billable.push(uid.clone());
                }
                devices.push(device);
            }
        }
        Datto {
            credentials,
            state: Mutex::new(State {
                sites,
                devices,
                not_billable,
                tokens: Vec::new(),
                foreign_next: None,
                issued: 0,
            }),
        }
    }

    /// Serve these sites and devices instead of the seeded ones (the benchmark's); the
    /// system sites stay.
    #[cfg(feature = "scale")]
    pub fn replace(&self, sites: Vec<Value>, devices: Vec<Value>) {
        let mut state = lock(&self.state);
        state.sites.retain(|s| {
            s["uid"].as_str().is_some_and(|u| u == "s-managed" || u == "s-ondemand" || u == "s-deleted")
        });
        state.sites.extend(sites);
        state.devices = devices;
        state.not_billable.clear();
    }

    /// `nextPageUrl` points at `host` (e.g. `https://evil.example.com`) from now on.
    pub fn set_foreign_next_page(&self, host: Option<String>) {
        lock(&self.state).foreign_next = host;
    }

    pub fn tokens_issued(&self) -> u64 {
        lock(&self.state).issued
    }

    pub fn handle(&self, ex: &Exchange) -> Reply {
        let path = ex.path.trim_end_matches('/');
        if path == "/auth/oauth/token" {
            return self.token(ex);
        }
        let state = lock(&self.state);
        let token = ex.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
        if !state.tokens.iter().any(|t| t == token.trim()) {
            return Reply::json(
                401,
                &json!({"error": "invalid_token", "error_description": "Access token expired"}),
            );
        }
        let max =
            ex.param("max").and_then(|m| m.parse::<usize>().ok()).unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
        let page = ex.param("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(0);
        let host = ex.header("host").unwrap_or("127.0.0.1").to_string();
        let base = state.foreign_next.clone().unwrap_or_else(|| format!("http://{host}"));
        let paged = |records: Vec<Value>, key: &str, path: &str, extra: &str| -> Reply {
            let total = records.len();
            let items: Vec<Value> = records.into_iter().skip(page * max).take(max).collect();
            let next = ((page + 1) * max < total)
                .then(|| format!("{base}{path}?max={max}&page={}{extra}", page + 1));
            Reply::json(
                200,
                &json!({"pageDetails": {"count": items.len(), "totalCount": total, "prevPageUrl": null, "nextPageUrl": next}, key: items}),
            )
        };
        if path == "/api/v2/account/sites" {
            let sites = state.sites.clone();
            return paged(sites, "sites", path, "");
        }
        if let Some(site) = path.strip_prefix("/api/v2/site/").and_then(|p| p.strip_suffix("/devices")) {
            if !state.sites.iter().any(|s| s["uid"] == site) {
                return Reply::json(404, &json!({"message": "site not found"}));
            }
            let devices: Vec<Value> =
                state.devices.iter().filter(|d| d["siteUid"] == site).cloned().collect();
            return paged(devices, "devices", path, "");
        }
        if path == "/api/v2/filter/custom-filters" {
            let filters = vec![json!({"id": NOT_BILLABLE_FILTER, "name": "_NotBillable_", "type": "custom"})];
            return paged(filters, "filters", path, "");
        }
        if path == "/api/v2/account/devices" {
            return match ex.param("filterId") {
                None => paged(state.devices.clone(), "devices", path, ""),
                Some(id) if id == NOT_BILLABLE_FILTER.to_string() => {
                    let devices: Vec<Value> = state
                        .devices
                        .iter()
                        .filter(|d| state.not_billable.iter().any(|u| d["uid"] == *u))
                        .cloned()
                        .collect();
                    paged(devices, "devices", path, &format!("&filterId={NOT_BILLABLE_FILTER}"))
                }
                Some(_) => Reply::json(404, &json!({"message": "filter not found"})),
            };
        }
        Reply::json(404, &json!({"message": "not found"}))
    }

    fn token(&self, ex: &Exchange) -> Reply {
        // HTTP Basic public-client:public, as Datto's docs give it.
        let basic = ex.header("authorization").unwrap_or_default();
        let form: HashMap<String, String> = url::form_urlencoded::parse(&ex.body).into_owned().collect();
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
        let ok = basic == "Basic cHVibGljLWNsaWVudDpwdWJsaWM="
            && field("grant_type") == "password"
            && field("username") == self.credentials.datto_api_key
            && field("password") == self.credentials.datto_api_secret;
        if !ok {
            return Reply::json(
                401,
                &json!({"error": "unauthorized", "error_description": "Bad credentials"}),
            );
        }
        let mut state = lock(&self.state);
        state.issued += 1;
        let token = format!("datto-token-{}-{}", state.issued, fastrand::u64(..));
        state.tokens.push(token.clone());
        Reply::json(
            200,
            &json!({"access_token": token, "token_type": "bearer", "expires_in": 359999, "scope": "default"}),
        )
    }
}

/// One device as Datto lists it.
pub(crate) fn device(uid: &str, site: &str, category: &str) -> Value {
    json!({
        "uid": uid,
        "siteUid": site,
        "hostname": format!("{}-{uid}", category.replace(' ', "").to_uppercase()),
        "deviceType": {"category": category, "type": category},
        "deleted": false,
        "suspended": false,
        "online": true,
    })
}
