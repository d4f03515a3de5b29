//! Fake vendor APIs: Nodeware, Huntress, SaaS Alerts and NordLayer, each speaking the wire
//! shape in shared/reference/vendors.md. Their records can be changed at runtime so tests
//! can move usage between syncs.

use std::io;
use std::sync::Mutex;

use base64::Engine;
use serde_json::{Map, Value, json};

use super::Credentials;
use super::fixtures;
use super::server::{Exchange, Reply, lock};

const HUNTRESS_DEFAULT_LIMIT: i64 = 10;
const HUNTRESS_MAX_LIMIT: i64 = 500;
const NORDLAYER_MAX_LIMIT: i64 = 200;

pub(crate) struct Vendors {
    state: Mutex<State>,
    credentials: Credentials,
}

struct State {
    nodeware: Vec<Value>,
    huntress: Vec<Value>,
    saas_alerts: Vec<Value>,
    nordlayer: Vec<Value>,
    /// Usage per organization identifier: `{"members":12,"servers":1}`.
    nordlayer_usage: Map<String, Value>,
}

fn json_error(status: u16, body: Value) -> Reply {
    Reply::json(status, &body)
}

/// Generic throttling body for the vendors (none documents its own).
pub(crate) fn throttle_body(retry_after_secs: u64) -> Value {
    json!({ "error": "rate_limited", "message": format!("Too many requests; retry after {retry_after_secs} seconds") })
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Vendors {
    pub fn new() -> io::Result<Vendors> {
        let mut huntress =
            fixtures::records("huntress/organizations.json", fixtures::HUNTRESS_ORGANIZATIONS)?;
        // Huntress pages in id order; keep it stable whatever order the fixture has.
        huntress.sort_by_key(|o| o["id"].as_i64().unwrap_or(0));
        Ok(Vendors {
            state: Mutex::new(State {
                nodeware: fixtures::records("nodeware/customers.json", fixtures::NODEWARE_CUSTOMERS)?,
                huntress,
                saas_alerts: fixtures::records(
                    "saas-alerts/customers.json",
                    fixtures::SAAS_ALERTS_CUSTOMERS,
                )?,
                nordlayer: fixtures::records(
                    "nordlayer/organizations.json",
                    fixtures::NORDLAYER_ORGANIZATIONS,
                )?,
                nordlayer_usage: fixtures::object("nordlayer/usage.json", fixtures::NORDLAYER_USAGE)?,
            }),
            credentials: Credentials::default(),
        })
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> Vendors {
        self.credentials = credentials;
        self
    }

    /// Change one field of one vendor record. `field` is the wire name, `/` for nesting
    /// (`asset_totals/internal`); for Nodeware `internal`/`external` are accepted as
    /// shorthands, for NordLayer `members`/`servers` change the usage answer.
    pub fn set(&self, vendor: &str, account_id: &str, field: &str, value: Value) -> bool {
        let mut state = lock(&self.state);
        match vendor {
            "nordlayer" if matches!(field, "members" | "servers") => {
                match state.nordlayer_usage.get_mut(account_id).and_then(Value::as_object_mut) {
                    Some(usage) => {
                        usage.insert(field.to_string(), value);
                        true
                    }
                    None => false,
                }
            }
            _ => {
                let (records, id_field) = match vendor {
                    "nodeware" => (&mut state.nodeware, "id"),
                    "huntress" => (&mut state.huntress, "id"),
                    "saas-alerts" => (&mut state.saas_alerts, "id"),
                    "nordlayer" => (&mut state.nordlayer, "identifier"),
                    _ => return false,
                };
                let field = match (vendor, field) {
                    ("nodeware", "internal" | "external") => format!("asset_totals/{field}"),
                    _ => field.to_string(),
                };
                let Some(record) = records.iter_mut().find(|r| id_text(&r[id_field]) == account_id) else {
                    return false;
                };
                set_path(record, &field, value)
            }
        }
    }

    fn list_mut<'a>(state: &'a mut State, vendor: &str) -> Option<&'a mut Vec<Value>> {
        match vendor {
            "nodeware" => Some(&mut state.nodeware),
            "huntress" => Some(&mut state.huntress),
            "saas-alerts" => Some(&mut state.saas_alerts),
            "nordlayer" => Some(&mut state.nordlayer),
            _ => None,
        }
    }

    pub fn push(&self, vendor: &str, record: Value) -> bool {
        let mut state = lock(&self.state);
        match Vendors::list_mut(&mut state, vendor) {
            Some(list) => {
                list.push(record);
                true
            }
            None => false,
        }
    }

    pub fn records(&self, vendor: &str) -> Vec<Value> {
        let mut state = lock(&self.state);
        Vendors::list_mut(&mut state, vendor).map(|l| l.clone()).unwrap_or_default()
    }

    pub fn drop_nordlayer_usage(&self, identifier: &str) -> bool {
        lock(&self.state).nordlayer_usage.remove(identifier).is_some()
    }

    /// Forget every account of an HTTP vendor, so it answers an empty list.
    pub fn clear(&self, vendor: &str) -> bool {
        let mut state = lock(&self.state);
        match vendor {
            "nodeware" => state.nodeware.clear(),
            "huntress" => state.huntress.clear(),
            "saas-alerts" => state.saas_alerts.clear(),
            "nordlayer" => {
                state.nordlayer.clear();
                state.nordlayer_usage.clear();
            }
            _ => return false,
        }
        true
    }

    /// `GET /api/v4/customers/`, Bearer token, a plain array (no paging).
    pub fn nodeware(&self, ex: &Exchange) -> Reply {
        if ex.path == "/api/v4/customers" && ex.method == "GET" {
            // Django's APPEND_SLASH: the canonical URL has the trailing slash.
            let mut location = format!("{}/api/v4/customers/", ex.origin);
            if !ex.query.is_empty() {
                let query =
                    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&ex.query).finish();
                location = format!("{location}?{query}");
            }
            return Reply::json(301, &json!({})).with_header("Location", location);
        }
        if ex.path != "/api/v4/customers/" || ex.method != "GET" {
            return json_error(404, json!({ "detail": "Not found." }));
        }
        match ex.header("Authorization") {
            None => json_error(401, json!({ "detail": "Authentication credentials were not provided." })),
            Some(auth) if auth.trim() == format!("Bearer {}", self.credentials.nodeware_key) => {
                Reply::json(200, &Value::Array(lock(&self.state).nodeware.clone()))
            }
            Some(_) => json_error(401, json!({ "detail": "Invalid token." })),
        }
    }

    /// `GET /v1/organizations?limit=L&page_token=T`, HTTP Basic key:secret.
    pub fn huntress(&self, ex: &Exchange) -> Reply {
        if ex.method != "GET" || ex.path.trim_end_matches('/') != "/v1/organizations" {
            return json_error(404, json!({ "error": "not_found" }));
        }
        if !basic_matches(
            ex.header("Authorization"),
            &self.credentials.huntress_key,
            &self.credentials.huntress_secret,
        ) {
            return json_error(401, json!({ "error": "unauthorized" }));
        }
        let limit = match ex.param("limit").map(|l| l.trim().parse::<i64>()) {
            None => HUNTRESS_DEFAULT_LIMIT,
            Some(Ok(l)) => l.clamp(1, HUNTRESS_MAX_LIMIT),
            Some(Err(_)) => return json_error(400, json!({ "error": "invalid limit" })),
        };
        let offset = match ex.param("page_token").filter(|t| !t.is_empty()) {
            None => 0,
            Some(token) => match decode_token(token) {
                Some(offset) => offset,
                None => return json_error(400, json!({ "error": "invalid page_token" })),
            },
        };
        let state = lock(&self.state);
        let total = state.huntress.len();
        let start = offset.min(total);
        let end = (start + limit as usize).min(total);
        let mut pagination = json!({
            "current_page": start / limit as usize + 1,
            "current_page_url": format!("{}{}?limit={limit}", ex.origin, ex.path),
            "limit": limit,
            "total_count": total,
        });
        if end < total {
            let token = encode_token(end);
            pagination["next_page_token"] = json!(token);
            pagination["next_page_url"] =
                json!(format!("{}{}?limit={limit}&page_token={token}", ex.origin, ex.path));
        }
        Reply::json(200, &json!({ "organizations": state.huntress[start..end], "pagination": pagination }))
    }

    /// `GET /reportApi/api/v1/customers`, header `api_key`.
    pub fn saas_alerts(&self, ex: &Exchange) -> Reply {
        if ex.method != "GET" || ex.path.trim_end_matches('/') != "/reportApi/api/v1/customers" {
            return json_error(404, json!({ "message": "Not Found" }));
        }
        if ex.header("api_key").map(str::trim) != Some(self.credentials.saas_alerts_key.as_str()) {
            return json_error(401, json!({ "message": "Unauthorized" }));
        }
        Reply::json(200, &Value::Array(lock(&self.state).saas_alerts.clone()))
    }

    /// `GET /msp/v1/organizations?limit&offset` and `.../{identifier}/usage`, `ApiKey` auth.
    pub fn nordlayer(&self, ex: &Exchange) -> Reply {
        let path = ex.path.trim_end_matches('/');
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let known = matches!(
            segments.as_slice(),
            ["msp", "v1", "organizations"] | ["msp", "v1", "organizations", _, "usage"]
        );
        if ex.method != "GET" || !known {
            return json_error(404, json!({ "message": "Not Found" }));
        }
        let expected = format!("ApiKey {}", self.credentials.nordlayer_key);
        if ex.header("Authorization").map(str::trim) != Some(expected.as_str()) {
            return json_error(401, json!({ "message": "Unauthorized" }));
        }
        let state = lock(&self.state);
        if let ["msp", "v1", "organizations", identifier, "usage"] = segments.as_slice() {
            return match state.nordlayer_usage.get(*identifier) {
                Some(usage) => Reply::json(200, usage),
                None => json_error(404, json!({ "message": "Organization not found" })),
            };
        }
        let number = |name: &str, default: i64| -> Result<i64, Reply> {
            match ex.param(name).map(|v| v.trim().parse::<i64>()) {
                None => Ok(default),
                Some(Ok(v)) if v >= 0 => Ok(v),
                Some(_) => Err(json_error(400, json!({ "message": format!("invalid {name}") }))),
            }
        };
        let (limit, offset) = match (number("limit", NORDLAYER_MAX_LIMIT), number("offset", 0)) {
            (Ok(l), Ok(o)) => (l.clamp(1, NORDLAYER_MAX_LIMIT) as usize, o as usize),
            (Err(reply), _) | (_, Err(reply)) => return reply,
        };
        let start = offset.min(state.nordlayer.len());
        let end = (start + limit).min(state.nordlayer.len());
        Reply::json(200, &Value::Array(state.nordlayer[start..end].to_vec()))
    }
}

fn basic_matches(header: Option<&str>, user: &str, password: &str) -> bool {
    let Some((scheme, encoded)) = header.and_then(|h| h.trim().split_once(' ')) else { return false };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .is_ok_and(|bytes| bytes == format!("{user}:{password}").as_bytes())
}

/// Page tokens are opaque to clients; here base64 of `offset:N`.
fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("offset:")?.parse().ok()
}

/// Set `a/b/c` in a JSON object; intermediate objects must exist, the leaf may be new.
fn set_path(record: &mut Value, path: &str, value: Value) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    let Some((last, parents)) = segments.split_last() else { return false };
    let mut target = record;
    for segment in parents {
        match target.get_mut(*segment) {
            Some(next) => target = next,
            None => return false,
        }
    }
    match target.as_object_mut() {
        Some(object) => {
            object.insert((*last).to_string(), value);
            true
        }
        None => false,
    }
}

/// Bulk seeding for the scale benchmark (`super::scale`).
#[cfg(feature = "scale")]
impl Vendors {
    /// Replace every vendor's records wholesale (`nordlayer_usage` by organization identifier).
    pub(crate) fn replace_records(
        &self,
        nodeware: Vec<Value>,
        mut huntress: Vec<Value>,
        saas_alerts: Vec<Value>,
        nordlayer: Vec<Value>,
        nordlayer_usage: Map<String, Value>,
    ) {
        huntress.sort_by_key(|o| o["id"].as_i64().unwrap_or(0));
        let mut state = lock(&self.state);
        state.nodeware = nodeware;
        state.huntress = huntress;
        state.saas_alerts = saas_alerts;
        state.nordlayer = nordlayer;
        state.nordlayer_usage = nordlayer_usage;
    }
}
