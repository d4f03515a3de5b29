//! Nodeware: `GET /api/v4/customers/` with `Authorization: Bearer <key>` (seen in a public
//! client; `auth_scheme = "Token"` in config if a tenant wants that). One service, `vms`,
//! billed per asset: internal + external (assumed; the split stays in the raw record).

use super::{VendorError, endpoint, get_records, quantity};
use crate::http::{Http, Request};
use crate::model::{Usage, VendorAccount, VendorService, VendorSnapshot};
use crate::secret::Secret;
use serde::Deserialize;
use url::Url;

pub const SERVICE_KEY: &str = "vms";

#[derive(Deserialize)]
struct Customer {
    #[serde(deserialize_with = "super::huntress::id_as_string")]
    id: String,
    name: String,
    asset_totals: Option<AssetTotals>,
}

#[derive(Deserialize)]
struct AssetTotals {
    internal: Option<serde_json::Value>,
    external: Option<serde_json::Value>,
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
    let mut snapshot = VendorSnapshot {
        services: vec![VendorService { key: SERVICE_KEY.to_string(), name: "Nodeware VMS".to_string() }],
        ..VendorSnapshot::default()
    };
    for (customer, raw) in customers {
        if let Some(totals) = &customer.asset_totals {
            let internal =
                quantity(vendor, &customer.name, "asset_totals.internal", totals.internal.as_ref())?;
            let external =
                quantity(vendor, &customer.name, "asset_totals.external", totals.external.as_ref())?;
            if internal.is_some() || external.is_some() {
                snapshot.usage.push(Usage {
                    account_id: customer.id.clone(),
                    service_key: SERVICE_KEY.to_string(),
                    quantity: internal.unwrap_or(0).saturating_add(external.unwrap_or(0)),
                });
            }
        }
        snapshot.accounts.push(VendorAccount { id: customer.id, name: customer.name, status: None, raw });
    }
    Ok(snapshot)
}
