//! Vendor adapters. Each module speaks one vendor's wire format and yields the shared
//! `VendorSnapshot`; the rest of recon never sees a vendor's JSON. Adding a vendor is one
//! module, one arm in `fetch`, fixtures and tests.

mod csv;
mod huntress;
mod nodeware;
mod nordlayer;
mod nordpass;
mod saas_alerts;

use crate::config::{VendorConfig, VendorSettings};
use crate::http::{Http, HttpError, Request, decode_json, display_url};
use crate::model::VendorSnapshot;
use crate::period::Period;
use serde::de::DeserializeOwned;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{vendor}: {url}: {message}")]
    BadData { vendor: String, url: String, message: String },
    #[error("{vendor}: {message}")]
    Unsupported { vendor: String, message: String },
    #[error("{vendor}: {message}")]
    Other { vendor: String, message: String },
    /// A vendor file (CSV export) with problems; nothing from it is used.
    #[error("{vendor}: {path}: {}", list_problems(.problems))]
    BadFile { vendor: String, path: String, problems: Vec<String> },
    /// A failure while reading one account's details (NordLayer usage per organization).
    #[error("{vendor}: organization {account}: {source}")]
    Account {
        vendor: String,
        /// The account's name and id, as the user would look for it.
        account: String,
        #[source]
        source: Box<VendorError>,
    },
}

/// The most problems a `BadFile` error lists; the rest are counted.
const MAX_LISTED_PROBLEMS: usize = 20;

fn list_problems(problems: &[String]) -> String {
    let mut out = format!(
        "{} problem{}; nothing was imported from the file",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems.iter().take(MAX_LISTED_PROBLEMS) {
        out.push_str("\n  ");
        out.push_str(p);
    }
    if problems.len() > MAX_LISTED_PROBLEMS {
        out.push_str(&format!("\n  and {} more", problems.len() - MAX_LISTED_PROBLEMS));
    }
    out
}

/// Fetch a vendor's accounts, services and usage for `period`. `current` is the period
/// containing today: vendors with a live API report only that one.
pub fn fetch(
    config: &VendorConfig,
    http: &Http,
    period: Period,
    current: Period,
) -> Result<VendorSnapshot, VendorError> {
    let live_api = !matches!(config.settings, VendorSettings::NordPass { .. } | VendorSettings::Csv { .. });
    if live_api && period != current {
        return Err(VendorError::Unsupported {
            vendor: config.name.clone(),
            message: format!(
                "{} reports only current usage, so it cannot give usage for {period}; run with --period current (or leave it out)",
                config.kind
            ),
        });
    }
    match &config.settings {
        VendorSettings::Nodeware { api_key, base_url, auth_scheme } => {
            limit(http, config, base_url, None);
            nodeware::fetch(&config.name, http, base_url, api_key, auth_scheme)
        }
        VendorSettings::Huntress { api_key, api_secret, base_url, page_size } => {
            // Huntress documents 60 requests a minute.
            limit(http, config, base_url, Some(60));
            huntress::fetch(&config.name, http, base_url, api_key, api_secret, *page_size)
        }
        VendorSettings::SaasAlerts { api_key, api_url } => {
            limit(http, config, api_url, None);
            saas_alerts::fetch(&config.name, http, api_url, api_key)
        }
        VendorSettings::NordLayer {
            api_key,
            base_url,
            page_size,
            usage_path,
            members_field,
            servers_field,
        } => {
            limit(http, config, base_url, None);
            let wire = nordlayer::Wire { usage_path, members_field, servers_field, page_size: *page_size };
            nordlayer::fetch(&config.name, http, base_url, api_key, &wire)
        }
        // File vendors read whatever the user exported, so any --period is accepted.
        VendorSettings::NordPass { usage_csv, columns } => nordpass::fetch(&config.name, usage_csv, columns),
        VendorSettings::Csv { file } => csv::fetch(&config.name, file),
    }
}

fn limit(http: &Http, config: &VendorConfig, base_url: &Url, default_per_minute: Option<u32>) {
    if let Some(rpm) = config.requests_per_minute.or(default_per_minute) {
        http.limit_host(base_url, rpm);
    }
}

/// Join a path onto a configured base URL, keeping any path prefix the base has.
fn endpoint(vendor: &str, base: &Url, path: &str) -> Result<Url, VendorError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.join(path.trim_start_matches('/')).map_err(|e| VendorError::Other {
        vendor: vendor.to_string(),
        message: format!("cannot build the URL for {path} from base_url {}: {e}", display_url(&base)),
    })
}

/// Send a GET and decode its JSON into the raw records and their typed wire view, naming the
/// index and field path of anything that does not fit.
fn get_records<T: DeserializeOwned>(
    vendor: &str,
    http: &Http,
    request: Request,
    pick: impl Fn(serde_json::Value) -> Option<serde_json::Value>,
) -> Result<(Vec<(T, serde_json::Value)>, serde_json::Value), VendorError> {
    let response = http.send(&request)?;
    let document: serde_json::Value = decode_json(vendor, &request.url, &response.body)?;
    let records = pick(document.clone()).ok_or_else(|| VendorError::BadData {
        vendor: vendor.to_string(),
        url: display_url(&request.url),
        message: "the response does not hold the expected list of records".to_string(),
    })?;
    let serde_json::Value::Array(items) = records else {
        return Err(VendorError::BadData {
            vendor: vendor.to_string(),
            url: display_url(&request.url),
            message: "expected a JSON array of records".to_string(),
        });
    };
    let mut out = Vec::with_capacity(items.len());
    for (index, raw) in items.into_iter().enumerate() {
        let typed = serde_path_to_error::deserialize::<_, T>(&raw).map_err(|e| VendorError::BadData {
            vendor: vendor.to_string(),
            url: display_url(&request.url),
            message: format!("record [{index}] at `{}`: {}", e.path(), e.inner()),
        })?;
        out.push((typed, raw));
    }
    Ok((out, document))
}

/// A vendor quantity: a whole non-negative number, or a string holding one. `None` when the
/// field is absent or null (unknown, never read as zero).
pub fn quantity(
    vendor: &str,
    account: &str,
    field: &str,
    value: Option<&serde_json::Value>,
) -> Result<Option<u32>, VendorError> {
    let bad = |why: String| VendorError::BadData {
        vendor: vendor.to_string(),
        url: String::new(),
        message: format!("account {account:?}: `{field}` {why}"),
    };
    let n = match value {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                u
            } else if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0) {
                f as u64
            } else {
                return Err(bad(format!("is {n}: quantities must be whole numbers of zero or more")));
            }
        }
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| bad(format!("is {s:?}: quantities must be whole numbers of zero or more")))?,
        Some(other) => return Err(bad(format!("is {other}: expected a number"))),
    };
    u32::try_from(n).map(Some).map_err(|_| bad(format!("is {n}: larger than any real licence count")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_accept_whole_numbers_only() {
        let cases = [
            (json!(12), Ok(Some(12))),
            (json!(0), Ok(Some(0))),
            (json!("57"), Ok(Some(57))),
            (json!(" 7 "), Ok(Some(7))),
            (json!(3.0), Ok(Some(3))),
            (json!(null), Ok(None)),
            (json!(-1), Err("whole numbers")),
            (json!(2.5), Err("whole numbers")),
            (json!("ten"), Err("\"ten\"")),
            (json!("-3"), Err("whole numbers")),
            (json!(true), Err("expected a number")),
            (json!(9_999_999_999u64), Err("larger than")),
        ];
        for (value, want) in cases {
            let got = quantity("v", "Acme", "seats", Some(&value));
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{value}"),
                (Err(e), Err(needle)) => {
                    let text = e.to_string();
                    assert!(
                        text.contains(needle) && text.contains("Acme") && text.contains("seats"),
                        "{text}"
                    );
                }
                (g, w) => panic!("{value}: got {g:?}, want {w:?}"),
            }
        }
        assert_eq!(quantity("v", "a", "f", None).unwrap(), None);
    }

    #[test]
    fn endpoints_keep_the_base_path() {
        let base = Url::parse("https://x.example.com/prefix").unwrap();
        assert_eq!(
            endpoint("v", &base, "/api/v4/customers/").unwrap().as_str(),
            "https://x.example.com/prefix/api/v4/customers/"
        );
        let root = Url::parse("https://x.example.com").unwrap();
        assert_eq!(
            endpoint("v", &root, "/v1/organizations").unwrap().as_str(),
            "https://x.example.com/v1/organizations"
        );
    }
}
