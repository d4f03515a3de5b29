//! Fake SentinelOne management console (API v2.1): `GET /web/api/v2.1/sites?state=active`
//! with `Authorization: ApiToken <token>`, paged by `limit` and `cursor`
//! (`pagination.nextCursor`). Each site has `activeLicenses` (billable), `totalLicenses`,
//! `siteType` (Paid or Trial) and its `sku` (Core, Control, Complete).
//!
//! Seeded: Acme Dental (Complete, 14 active of 20), O'Brien & Sons (Control, 6 of 10), a site
//! whose active count is missing (Café Lumière), and a trial (Lakeside Pediatrics, 5 active).

use serde_json::{Value, json};
use std::sync::Mutex;

use super::Credentials;
use super::server::{Exchange, Reply, lock};

pub(crate) struct SentinelOne {
    credentials: Credentials,
    sites: Mutex<Vec<Value>>,
}

const MAX_LIMIT: usize = 1000;

impl SentinelOne {
    pub fn new(credentials: Credentials) -> SentinelOne {
        let site = |id: &str, name: &str, sku: &str, kind: &str, active: Value, total: u32| {
            json!({"id": id, "name": name, "sku": sku, "suite": sku, "siteType": kind, "state": "active",
                   "activeLicenses": active, "totalLicenses": total, "accountName": "Sandbox MSP"})
        };
        let sites = vec![
            site("1101", "Acme Dental", "Complete", "Paid", json!(14), 20),
            site("1102", "O'Brien & Sons", "Control", "Paid", json!(6), 10),
            site("1103", "Café Lumière", "Core", "Paid", Value::Null, 10),
            site("1104", "Lakeside Pediatrics", "Core", "Trial", json!(5), 5),
        ];
        SentinelOne { credentials, sites: Mutex::new(sites) }
    }

    /// Serve these sites instead of the seeded ones (the benchmark's).
    #[cfg(feature = "scale")]
    pub fn replace(&self, sites: Vec<Value>) {
        *lock(&self.sites) = sites;
    }

    /// Change one field of one site (by id).
    pub fn set_site(&self, id: &str, field: &str, value: Value) -> bool {
        let mut sites = lock(&self.sites);
        match sites.iter_mut().find(|s| s["id"] == id) {
            Some(site) => {
                site[field] = value;
                true
            }
            None => false,
        }
    }

    pub fn handle(&self, ex: &Exchange) -> Reply {
        let expected = format!("ApiToken {}", self.credentials.sentinelone_token);
        if ex.header("authorization") != Some(expected.as_str()) {
            return Reply::json(
                401,
                &json!({"errors": [{"code": 4010010, "title": "Authentication Failed"}]}),
            );
        }
        if ex.path.trim_end_matches('/') != "/web/api/v2.1/sites" {
            return Reply::json(404, &json!({"errors": [{"title": "Not found"}]}));
        }
        let sites = lock(&self.sites);
        let wanted: Vec<&Value> = match ex.param("state") {
            Some(state) => sites.iter().filter(|s| s["state"] == state).collect(),
            None => sites.iter().collect(),
        };
        let limit = ex.param("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(10).clamp(1, MAX_LIMIT);
        let start =
            ex.param("cursor").and_then(|c| c.strip_prefix("c-")).and_then(|n| n.parse().ok()).unwrap_or(0);
        let page: Vec<&Value> = wanted.iter().skip(start).take(limit).copied().collect();
        let next = (start + limit < wanted.len()).then(|| format!("c-{}", start + limit));
        let active: u64 = wanted.iter().filter_map(|s| s["activeLicenses"].as_u64()).sum();
        Reply::json(
            200,
            &json!({"data": {"allSites": {"activeLicenses": active, "totalLicenses": 0}, "sites": page},
                    "pagination": {"nextCursor": next, "totalItems": wanted.len()}}),
        )
    }
}
