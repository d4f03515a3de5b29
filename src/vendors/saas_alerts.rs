//! SaaS Alerts: `GET {api_url}/reportApi/api/v1/customers` with header `api_key: <key>`
//! (seen in several clients; the API URL is the one the console gives, documented). One
//! service, `billable-users`, from `billingUsers`, which arrives as a number or a numeric
//! string. A customer without `billingUsers` has no usage line: unknown is never zero.

use super::registry::{Capabilities, Registration, Section, VendorSource};
use super::{Builder, VendorError, count, endpoint, get_records, unique_records};
use crate::config_file::ConfigError;
use crate::http::{Http, Request};
use crate::model::{VendorAccount, VendorService, VendorSnapshot};
use crate::period::Period;
use crate::secret::Secret;
use serde::Deserialize;
use url::Url;

/// `[vendors.saas-alerts]`, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_key: Secret,
    /// The API URL the console gives.
    pub api_url: Url,
}

pub static REGISTRATION: Registration = Registration {
    key: "saas-alerts",
    capabilities: Capabilities::LIVE,
    keys: &["api_key", "api_key_env", "api_url"],
    requests_per_minute: None,
    settings,
    starter: "\
# [vendors.saas-alerts]
# api_key = \"REPLACE-ME\"                      # Settings > API > Show Key
# api_url = \"https://us-central1-the-byway-248217.cloudfunctions.net\"
",
};

#[derive(Deserialize)]
struct RawSettings {
    api_key: Option<String>,
    api_key_env: Option<String>,
    api_url: Option<String>,
}

fn settings(section: &Section) -> Result<Box<dyn VendorSource>, ConfigError> {
    let raw: RawSettings = section.read()?;
    Ok(Box::new(Settings {
        api_key: section.secret("api_key", raw.api_key, raw.api_key_env)?,
        api_url: section.url_or("api_url", raw.api_url, DEFAULT_URL)?,
    }))
}

impl VendorSource for Settings {
    fn api_url(&self) -> Option<&Url> {
        Some(&self.api_url)
    }

    fn fetch(&self, vendor: &str, http: &Http, _current: Period) -> Result<VendorSnapshot, VendorError> {
        fetch(vendor, http, &self.api_url, &self.api_key)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub const DEFAULT_URL: &str = "https://us-central1-the-byway-248217.cloudfunctions.net";

pub const SERVICE_KEY: &str = "billable-users";
const SERVICE_NAME: &str = "SaaS Alerts billable users";
const FIELD: &str = "billingUsers";
const API_PATH: &str = "/reportApi/api/v1";

#[derive(Deserialize)]
struct Customer {
    #[serde(deserialize_with = "super::huntress::id_as_string")]
    id: String,
    name: String,
    status: Option<String>,
}

pub fn fetch(
    vendor: &str,
    http: &Http,
    api_url: &Url,
    api_key: &Secret,
) -> Result<VendorSnapshot, VendorError> {
    let request = Request::get(vendor, customers_url(vendor, api_url)?)
        .secret_header("api_key", api_key.expose())
        .header("accept", "application/json");
    let (customers, _) = get_records::<Customer>(vendor, http, request, Some)?;
    let mut builder =
        Builder::new(vec![VendorService { key: SERVICE_KEY.to_string(), name: SERVICE_NAME.to_string() }]);
    let customers = unique_records(&mut builder, customers, |c| &c.id, |c| &c.name);
    for (customer, raw) in customers {
        let billable = count(FIELD, raw.get(FIELD));
        let account = VendorAccount { id: customer.id, name: customer.name, status: customer.status, raw };
        builder.account(account, vec![(SERVICE_KEY, billable)]);
    }
    Ok(builder.finish())
}

/// The customers endpoint under the console's API URL. A URL pasted with the API path
/// already on it (`.../reportApi/api/v1`) is accepted as well.
fn customers_url(vendor: &str, api_url: &Url) -> Result<Url, VendorError> {
    let base_path = api_url.path().trim_end_matches('/');
    if base_path.ends_with(API_PATH) {
        endpoint(vendor, api_url, "customers")
    } else {
        endpoint(vendor, api_url, &format!("{API_PATH}/customers"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_customers_url_takes_the_bare_api_url_or_one_with_the_path() {
        for base in [
            "https://us-central1-x.cloudfunctions.net",
            "https://us-central1-x.cloudfunctions.net/",
            "https://us-central1-x.cloudfunctions.net/reportApi/api/v1",
            "https://us-central1-x.cloudfunctions.net/reportApi/api/v1/",
        ] {
            let url = customers_url("saas-alerts", &Url::parse(base).unwrap()).unwrap();
            assert_eq!(url.as_str(), "https://us-central1-x.cloudfunctions.net/reportApi/api/v1/customers");
        }
        let proxied = customers_url("s", &Url::parse("https://proxy.example.com/saas").unwrap()).unwrap();
        assert_eq!(proxied.as_str(), "https://proxy.example.com/saas/reportApi/api/v1/customers");
    }
}

#[cfg(test)]
mod sandbox_tests {
    use super::*;
    use crate::http::HttpSettings;
    use recon_sandbox::{SAAS_ALERTS_KEY, Sandbox};
    use serde_json::json;

    fn run(sandbox: &Sandbox, key: &str) -> Result<VendorSnapshot, VendorError> {
        let http = Http::new(HttpSettings { max_attempts: 1, ..HttpSettings::default() }).unwrap();
        let url = Url::parse(&sandbox.vendor_url("saas-alerts").unwrap()).unwrap();
        fetch("saas-alerts", &http, &url, &Secret::new(key.to_string()))
    }

    fn usage_of<'a>(snapshot: &'a VendorSnapshot, name: &str) -> Option<&'a crate::model::Usage> {
        let account = snapshot.accounts.iter().find(|a| a.name == name).unwrap();
        snapshot.usage.iter().find(|u| u.account_id == account.id)
    }

    #[test]
    fn numbers_and_numeric_strings_are_read_and_a_missing_count_is_no_line() {
        let sandbox = Sandbox::start().unwrap();
        let s = run(&sandbox, SAAS_ALERTS_KEY).unwrap();
        assert_eq!(s.accounts.len(), 20);
        assert_eq!(s.usage.len(), 19);
        assert_eq!(usage_of(&s, "Acme Dental").unwrap().quantity, 14);
        assert_eq!(usage_of(&s, "Blue Ridge Credit Union").unwrap().quantity, 57); // "57"
        assert_eq!(usage_of(&s, "Quantum Print & Copy").unwrap().quantity, 0);
        assert!(usage_of(&s, "Precision Plastics Corp.").is_none());
        let rosewood = s.accounts.iter().find(|a| a.name == "Rosewood Funeral Home").unwrap();
        assert_eq!(rosewood.status.as_deref(), Some("inactive"));
        assert_eq!(rosewood.raw["customerDomain"], "rosewoodfuneralhom.com");
        assert_eq!(s.services, vec![VendorService { key: SERVICE_KEY.into(), name: SERVICE_NAME.into() }]);
    }

    #[test]
    fn a_bad_count_fails_only_its_customer_and_a_bad_key_is_an_auth_error() {
        let sandbox = Sandbox::start().unwrap();
        assert!(sandbox.set_vendor_quantity("saas-alerts", "8deb0d3c488563441fca", FIELD, json!("-2")));
        let s = run(&sandbox, SAAS_ALERTS_KEY).unwrap();
        assert_eq!(s.accounts.len(), 20, "the customer is still listed");
        assert!(usage_of(&s, "Acme Dental").is_none(), "no usage from a bad count");
        assert_eq!(usage_of(&s, "Blue Ridge Credit Union").unwrap().quantity, 57);
        let failed = s.failed_accounts();
        assert_eq!(failed.len(), 1);
        let e = crate::output::wording::problem_text(failed[0]);
        assert!(e.contains("Acme Dental") && e.contains(FIELD) && e.contains("whole numbers"), "{e}");
        let e = run(&sandbox, "wrong-key").unwrap_err();
        assert!(matches!(&e, VendorError::Http(h) if h.status() == Some(401)), "{e}");
        assert!(!e.to_string().contains("wrong-key"), "{e}");
    }
}
