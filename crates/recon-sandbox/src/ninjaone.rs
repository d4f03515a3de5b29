//! Fake NinjaOne (public API v2): an OAuth2 client-credentials token from `/ws/oauth/token`
//! (`scope=monitoring`) that expires, `GET /v2/organizations` and
//! `GET /v2/devices-detailed`, both paged with `pageSize` and `after` (the last id of the
//! page before; a page shorter than `pageSize` is the last). Devices carry `id`,
//! `organizationId`, `nodeClass`, `approvalStatus`, `offline` and `lastContact` (Unix
//! seconds).
//!
//! Seeded so each billing rule shows: Acme Dental has offline workstations (counted), two
//! devices waiting for approval and an iPhone (both left out); Smith & Whitfield Attorneys has a
//! server, a virtual host and a network switch; Café Lumière has Macs; Lakeside Pediatrics
//! is an organization no PSA company is called.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Credentials;
use super::server::{Exchange, Reply, lock};

pub(crate) struct NinjaOne {
    credentials: Credentials,
    state: Mutex<State>,
}

struct State {
    organizations: Vec<Value>,
    devices: Vec<Value>,
    /// Each token: when it expires, and how many more requests it may make (`uses`).
    tokens: HashMap<String, (Instant, Option<u32>)>,
    lifetime: Duration,
    uses: Option<u32>,
    issued: u64,
}

const MAX_PAGE_SIZE: usize = 1000;

impl NinjaOne {
    pub fn new(credentials: Credentials) -> NinjaOne {
        let organizations = [
            (101, "Acme Dental"),
            (102, "Smith & Whitfield Attorneys"),
            (103, "Café Lumière"),
            (104, "Lakeside Pediatrics"),
        ];
        let organizations = organizations
            .iter()
            .map(|(id, name)| json!({"id": id, "name": name, "nodeApprovalMode": "MANUAL"}))
            .collect();
        // (organization, node class, how many, approval, offline)
        let fleet: [(i64, &str, usize, &str, bool); 12] = [
            (101, "WINDOWS_WORKSTATION", 37, "APPROVED", false),
            (101, "WINDOWS_WORKSTATION", 3, "APPROVED", true),
            (101, "MAC", 12, "APPROVED", false),
            (101, "WINDOWS_SERVER", 2, "APPROVED", false),
            (101, "WINDOWS_WORKSTATION", 2, "PENDING", false),
            (101, "APPLE_IOS", 1, "APPROVED", false),
            (102, "WINDOWS_WORKSTATION", 10, "APPROVED", false),
            (102, "LINUX_SERVER", 1, "APPROVED", false),
            (102, "VMWARE_VM_HOST", 1, "APPROVED", false),
            (102, "NMS_SWITCH", 1, "APPROVED", false),
            (103, "MAC", 5, "APPROVED", false),
            (104, "WINDOWS_WORKSTATION", 4, "APPROVED", false),
        ];
        let mut devices = Vec::new();
        for (organization, class, count, approval, offline) in fleet {
            for _ in 0..count {
                devices.push(device(devices.len() as i64 + 1, organization, class, approval, offline));
            }
        }
        NinjaOne {
            credentials,
            state: Mutex::new(State {
                organizations,
                devices,
                tokens: HashMap::new(),
                lifetime: Duration::from_secs(3600),
                uses: None,
                issued: 0,
            }),
        }
    }

    /// Serve these organizations and devices instead of the seeded ones (the benchmark's).
    #[cfg(feature = "scale")]
    pub fn replace(&self, organizations: Vec<Value>, devices: Vec<Value>) {
        let mut state = lock(&self.state);
        state.organizations = organizations;
        state.devices = devices;
    }

    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.state).lifetime = lifetime;
    }

    /// Tokens issued from now on expire after this many requests (a token that runs out
    /// mid-run, whatever the clock).
    pub fn set_token_uses(&self, uses: Option<u32>) {
        lock(&self.state).uses = uses;
    }

    pub fn tokens_issued(&self) -> u64 {
        lock(&self.state).issued
    }

    /// Change one field of one device (by id): a device approved, moved, gone offline.
    pub fn set_device(&self, id: i64, field: &str, value: Value) -> bool {
        let mut state = lock(&self.state);
        match state.devices.iter_mut().find(|d| d["id"] == id) {
            Some(device) => {
                device[field] = value;
                true
            }
            None => false,
        }
    }

    pub fn handle(&self, ex: &Exchange) -> Reply {
        let path = ex.path.trim_end_matches('/');
        if path == "/ws/oauth/token" {
            return self.token(ex);
        }
        let mut state = lock(&self.state);
        let now = Instant::now();
        let token = ex.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
        let authorized = match state.tokens.get_mut(token.trim()) {
            Some((expires, _)) if *expires <= now => false,
            Some((_, Some(0))) => false,
            Some((_, Some(left))) => {
                *left -= 1;
                true
            }
            Some((_, None)) => true,
            None => false,
        };
        if !authorized {
            return Reply::json(
                401,
                &json!({"error": "invalid_token", "error_description": "expired or unknown"}),
            );
        }
        let size = ex.param("pageSize").and_then(|s| s.parse::<usize>().ok()).unwrap_or(MAX_PAGE_SIZE);
        let size = size.clamp(1, MAX_PAGE_SIZE);
        let after = ex.param("after").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        let page = |records: &mut Vec<Value>| -> Vec<Value> {
            records.sort_by_key(|r| r["id"].as_i64().unwrap_or(0));
            records.iter().filter(|r| r["id"].as_i64().unwrap_or(0) > after).take(size).cloned().collect()
        };
        match path {
            "/v2/organizations" => Reply::json(200, &Value::Array(page(&mut state.organizations))),
            "/v2/devices-detailed" => Reply::json(200, &Value::Array(page(&mut state.devices))),
            _ => Reply::json(404, &json!({"error": "not found"})),
        }
    }

    fn token(&self, ex: &Exchange) -> Reply {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&ex.body).into_owned().collect();
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
        let ok = field("grant_type") == "client_credentials"
            && field("client_id") == self.credentials.ninjaone_client_id
            && field("client_secret") == self.credentials.ninjaone_client_secret
            && field("scope").split(' ').any(|s| s == "monitoring");
        if !ok {
            return Reply::json(400, &json!({"error": "invalid_client"}));
        }
        let mut state = lock(&self.state);
        state.issued += 1;
        let token = format!("ninja-token-{}-{}", state.issued, fastrand::u64(..));
        let (lifetime, uses) = (state.lifetime, state.uses);
        state.tokens.insert(token.clone(), (Instant::now() + lifetime, uses));
        Reply::json(
            200,
            &json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime.as_secs(), "scope": "monitoring"}),
        )
    }
}

/// One device as `devices-detailed` lists it.
pub(crate) fn device(id: i64, organization: i64, class: &str, approval: &str, offline: bool) -> Value {
    json!({
        "id": id,
        "organizationId": organization,
        "locationId": organization * 10,
        "nodeClass": class,
        "nodeRoleId": 1,
        "approvalStatus": approval,
        "offline": offline,
        "displayName": format!("{}-{id}", class.to_lowercase()),
        "systemName": format!("DEV{id:05}"),
        "lastContact": if offline { 1_764_000_000.0 } else { 1_765_000_000.5 },
    })
}
