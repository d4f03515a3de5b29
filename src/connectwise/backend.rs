//! ConnectWise behind the PSA seam: its profile, its `[connectwise]` section, and `Psa` for
//! the client (a quantity is set in place with a PATCH; a missing line is a new addition).

use super::{ConnectWise, ConnectWiseSettings, CwError, NewAddition};
use crate::config_file::{ConfigError, Validator};
use crate::http::Http;
use crate::model::{
    BillCustomer, BillingContainer, BillingLine, BillingTerms, CatalogProduct, PsaCompany, QuantityWrites,
};
use crate::plan::{PlanLine, Write};
use crate::psa::{
    CatalogAdmin, CatalogTable, LinesRead, NewProduct, Profile, Psa, PsaError, PsaErrorKind, PsaSettings,
    Registration, TableEntry,
};
use chrono::NaiveDate;
use serde::Deserialize;
use std::sync::Arc;
use url::Url;

pub static PROFILE: Profile = Profile {
    name: "ConnectWise",
    container: "agreement",
    container_option: "--agreement",
    container_reference: "a ConnectWise agreement (name or id)",
    line: "addition",
    product: "catalog product",
    product_reference: "ConnectWise catalog product has the identifier",
    writes: QuantityWrites::InPlace,
};

pub static REGISTRATION: Registration = Registration {
    key: "connectwise",
    profile: &PROFILE,
    settings,
    examples: &[("company_id", "yourcompany"), ("client_id", "00000000-0000-0000-0000-000000000000")],
    #[cfg(feature = "sandbox")]
    sandbox_config: |sandbox, vendors| sandbox.config_toml_for(vendors),
};

/// ConnectWise catalog identifiers are at most 25 characters.
const IDENTIFIER_MAX: usize = 25;

impl From<CwError> for PsaError {
    fn from(e: CwError) -> PsaError {
        let kind = match &e {
            CwError::Permission { status: 401, .. } | CwError::UnknownCompany { .. } => PsaErrorKind::Auth,
            CwError::Permission { permission, .. } => {
                PsaErrorKind::Permission { missing: Some(permission.to_string()) }
            }
            CwError::Http(h) => PsaErrorKind::of_http(h),
            CwError::Other(_) => PsaErrorKind::Malformed,
        };
        PsaError::new(kind, e.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnectWise {
    site: String,
    company_id: String,
    public_key: Option<String>,
    public_key_env: Option<String>,
    private_key: Option<String>,
    private_key_env: Option<String>,
    client_id: Option<String>,
    client_id_env: Option<String>,
    codebase: Option<String>,
    bill_customer: Option<String>,
    requests_per_minute: Option<u32>,
    product_subcategory_id: Option<i64>,
    product_type_id: Option<i64>,
}

fn settings(v: &Validator) -> Result<Option<Arc<dyn PsaSettings>>, ConfigError> {
    let Some(cw) = v.section::<RawConnectWise>("connectwise")? else { return Ok(None) };
    let section = ["connectwise"];
    let site = with_cloud_api_prefix(v.url(&section, "site", &cw.site)?);
    let public_key = v.secret(&section, "public_key", cw.public_key, cw.public_key_env)?;
    let private_key = v.secret(&section, "private_key", cw.private_key, cw.private_key_env)?;
    let client_id = v.secret(&section, "client_id", cw.client_id, cw.client_id_env)?;
    if cw.company_id.trim().is_empty() {
        return Err(v.error(&section, Some("company_id"), "[connectwise] company_id is empty".into()));
    }
    let bill_customer = match cw.bill_customer.as_deref() {
        None => BillCustomer::Billable,
        Some(text) => BillCustomer::parse(text).ok_or_else(|| {
            v.error(
                &section,
                Some("bill_customer"),
                format!("[connectwise] bill_customer = {text:?}: expected Billable, DoNotBill or NoCharge"),
            )
        })?,
    };
    let codebase = cw.codebase.map(|c| format!("{}/", c.trim().trim_matches('/')));
    Ok(Some(Arc::new(ConnectWiseSettings {
        site,
        company_id: cw.company_id.trim().to_string(),
        public_key,
        private_key,
        // The clientId is not a secret by ConnectWise's account, but it may come from env.
        client_id: client_id.expose().to_string(),
        codebase,
        bill_customer,
        requests_per_minute: cw.requests_per_minute.unwrap_or(super::DEFAULT_REQUESTS_PER_MINUTE),
        product_subcategory_id: cw.product_subcategory_id,
        product_type_id: cw.product_type_id,
    })))
}

/// ConnectWise cloud answers the API on `api-<region>` hosts: `na.myconnectwise.net` ->
/// `api-na.myconnectwise.net`. Users copy the browser host, so fix it rather than fail.
fn with_cloud_api_prefix(mut url: Url) -> Url {
    let Some(host) = url.host_str().map(str::to_string) else { return url };
    let cloud = host.ends_with(".myconnectwise.net") || host.ends_with(".connectwisedev.com");
    if cloud && !host.starts_with("api-") {
        let _ = url.set_host(Some(&format!("api-{host}")));
    }
    url
}

impl PsaSettings for ConnectWiseSettings {
    fn connect<'h>(&self, http: &'h Http) -> Result<Box<dyn Psa + 'h>, PsaError> {
        Ok(Box::new(ConnectWise::connect(self, http)?))
    }

    fn bill_customer(&self) -> BillCustomer {
        self.bill_customer
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Psa for ConnectWise<'_> {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn check(&self) -> Result<String, PsaError> {
        let info = self.server_info()?;
        Ok(format!("{} (version {})", info.api_base, info.version.unwrap_or_else(|| "?".into())))
    }

    fn companies(&self) -> Result<Vec<PsaCompany>, PsaError> {
        Ok(ConnectWise::companies(self)?)
    }

    fn active_agreements(
        &self,
        company_id: Option<i64>,
        today: NaiveDate,
    ) -> Result<Vec<BillingContainer>, PsaError> {
        Ok(ConnectWise::active_agreements(self, company_id, today)?)
    }

    /// One paged read per agreement (ConnectWise lists additions only per agreement).
    fn read_lines(&self, ids: &[i64], _since: NaiveDate, workers: usize, done: &dyn Fn(u64)) -> LinesRead {
        crate::psa::read_each(ids, workers, done, |id| Ok(self.additions(id)?))
    }

    fn lines(&self, id: i64, _since: NaiveDate) -> Result<Vec<BillingLine>, PsaError> {
        Ok(self.additions(id)?)
    }

    fn billing_terms(&self, ids: &[i64], _since: NaiveDate) -> Result<Vec<BillingTerms>, PsaError> {
        Ok(ConnectWise::billing_terms(self, ids)?)
    }

    fn catalog_items(&self, ids: &[i64]) -> Result<Vec<CatalogProduct>, PsaError> {
        Ok(ConnectWise::catalog_items(self, ids)?)
    }

    fn find_products(&self, reference: &str) -> Result<Vec<CatalogProduct>, PsaError> {
        let conditions = match reference.parse::<i64>() {
            Ok(id) => format!("id={id}"),
            Err(_) => format!("identifier={}", super::quote(reference)),
        };
        Ok(ConnectWise::products(self, Some(&conditions))?)
    }

    fn products(&self, all: bool) -> Result<Vec<CatalogProduct>, PsaError> {
        Ok(ConnectWise::products(self, (!all).then_some("inactiveFlag=false"))?)
    }

    /// PATCH the quantity of the addition, or POST a new one dated as the plan says.
    /// Setting a quantity is absolute; a new line is a create.
    fn repeatable(&self, line: &PlanLine) -> bool {
        line.action.write() == Some(Write::Set)
    }

    fn write(&self, line: &PlanLine) -> Result<Option<i64>, PsaError> {
        let (Some(agreement_id), Some(product_id), Some(quantity)) =
            (line.agreement_id, line.product_id, line.after)
        else {
            return Err(PsaError::refused("line lacks an agreement, product or quantity"));
        };
        match (line.action.write(), line.addition_id, line.effective_date) {
            (Some(Write::Set), Some(addition_id), _) if let Some(cost) = line.new_unit_cost => {
                Ok(Some(self.set_unit_cost(agreement_id, addition_id, cost)?.id))
            }
            (Some(Write::Set), Some(addition_id), _) => {
                Ok(Some(self.set_quantity(agreement_id, addition_id, quantity)?.id))
            }
            (Some(Write::Create), _, Some(effective_date)) => {
                let new = NewAddition {
                    product_id,
                    quantity,
                    bill_customer: line.bill_customer.unwrap_or(BillCustomer::Billable),
                    effective_date,
                };
                Ok(Some(self.create_addition(agreement_id, &new)?.id))
            }
            _ => Err(PsaError::refused(format!("nothing to apply for a {} line", line.action.as_str()))),
        }
    }

    fn catalog_admin(&self) -> Option<&dyn CatalogAdmin> {
        Some(self)
    }
}

impl CatalogAdmin for ConnectWise<'_> {
    fn tables(&self, table: CatalogTable) -> Result<Vec<TableEntry>, PsaError> {
        Ok(self.catalog_tables(table)?)
    }

    fn create_product(&self, new: &NewProduct) -> Result<CatalogProduct, PsaError> {
        Ok(ConnectWise::create_product(self, new)?)
    }

    fn identifier_max(&self) -> usize {
        IDENTIFIER_MAX
    }

    fn defaults(&self) -> (Option<i64>, Option<i64>) {
        self.product_defaults
    }

    fn defaults_section(&self) -> &'static str {
        "[connectwise]"
    }
}
