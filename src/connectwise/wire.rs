//! ConnectWise JSON as the API sends it (field names from the official OpenAPI
//! description). Only this module and the client see these; the rest of recon sees `model`.

use crate::model::{BillCustomer, BillingContainer, BillingLine, BillingTerms, CatalogProduct, PsaCompany};
use rust_decimal::Decimal;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompanyInfo {
    pub codebase: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemInfo {
    pub version: Option<String>,
    pub is_cloud: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Reference {
    pub id: Option<i64>,
    pub identifier: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub id: i64,
    #[serde(default)]
    pub identifier: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub deleted_flag: bool,
}

impl From<Company> for PsaCompany {
    fn from(c: Company) -> PsaCompany {
        PsaCompany { id: c.id, identifier: c.identifier, name: c.name }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<Reference>,
    pub company: Option<Reference>,
    pub agreement_status: Option<String>,
    #[serde(default)]
    pub cancelled_flag: bool,
    pub end_date: Option<String>,
    #[serde(default)]
    pub no_ending_date_flag: bool,
    pub parent_agreement: Option<Reference>,
    pub start_date: Option<String>,
    pub bill_start_date: Option<String>,
    pub next_invoice_date: Option<String>,
    #[serde(default)]
    pub prorate_flag: bool,
    pub currency: Option<Currency>,
}

/// ConnectWise's `CurrencyReference`, of which recon needs the code.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Currency {
    pub currency_code: Option<String>,
}

impl Agreement {
    /// Active, not cancelled, and not past its end date (unless it has none), as of `today`.
    pub fn is_active(&self, today: chrono::NaiveDate) -> bool {
        let status_active = self.agreement_status.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("Active"));
        let ended = !self.no_ending_date_flag
            && self.end_date.as_deref().and_then(parse_cw_date).is_some_and(|end| end < today);
        status_active && !self.cancelled_flag && !ended
    }

    pub fn into_model(self) -> Option<BillingContainer> {
        let company_id = self.company.as_ref()?.id?;
        Some(BillingContainer {
            id: self.id,
            name: self.name,
            company_id,
            type_name: self.kind.and_then(|t| t.name),
            parent_id: self.parent_agreement.and_then(|p| p.id),
            number: None,
            aliases: Vec::new(),
        })
    }

    /// How it bills: the bill start date (its start date when unset), the next invoice date,
    /// and whether it prorates.
    pub fn terms(&self) -> BillingTerms {
        BillingTerms {
            container_id: self.id,
            bill_start_date: self
                .bill_start_date
                .as_deref()
                .or(self.start_date.as_deref())
                .and_then(parse_cw_date),
            next_invoice_date: self.next_invoice_date.as_deref().and_then(parse_cw_date),
            prorate: self.prorate_flag,
            currency: self.currency.as_ref().and_then(|c| c.currency_code.clone()).filter(|c| !c.is_empty()),
            open_from: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addition {
    pub id: i64,
    pub product: Option<Reference>,
    pub quantity: Option<Decimal>,
    pub less_included: Option<Decimal>,
    pub unit_price: Option<Decimal>,
    pub unit_cost: Option<Decimal>,
    pub bill_customer: Option<String>,
    pub effective_date: Option<String>,
    pub cancelled_date: Option<String>,
    pub agreement_id: Option<i64>,
}

impl Addition {
    pub fn into_model(self, agreement_id: i64) -> BillingLine {
        BillingLine {
            id: self.id,
            agreement_id: self.agreement_id.unwrap_or(agreement_id),
            product_id: self.product.as_ref().and_then(|p| p.id),
            product_identifier: self.product.and_then(|p| p.identifier),
            quantity: self.quantity.unwrap_or_default().normalize(),
            less_included: self.less_included.unwrap_or_default().normalize(),
            unit_price: self.unit_price,
            unit_cost: self.unit_cost,
            bill_customer: self.bill_customer.as_deref().and_then(BillCustomer::parse),
            effective_date: self.effective_date.as_deref().and_then(parse_cw_date),
            cancelled_date: self.cancelled_date.as_deref().and_then(parse_cw_date),
            schedule: Vec::new(),
            inactive: false,
            computed: false,
            pro_rata: Decimal::ZERO,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItem {
    pub id: i64,
    #[serde(default)]
    pub identifier: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub inactive_flag: bool,
    pub price: Option<Decimal>,
    pub cost: Option<Decimal>,
}

/// A row of a catalog set-up table (`SubCategory`, `ProductType`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableRow {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    pub category: Option<Reference>,
    #[serde(default)]
    pub inactive_flag: bool,
}

impl From<CatalogItem> for CatalogProduct {
    fn from(c: CatalogItem) -> CatalogProduct {
        CatalogProduct {
            id: c.id,
            identifier: c.identifier,
            description: c.description,
            inactive: c.inactive_flag,
            price: c.price,
            cost: c.cost,
        }
    }
}

/// ConnectWise dates look like `2026-12-31T00:00:00Z`.
fn parse_cw_date(text: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(text.trim().get(..10)?, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreement(json: serde_json::Value) -> Agreement {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn only_current_active_agreements_count() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let cases = [
            (serde_json::json!({"id":1,"agreementStatus":"Active","cancelledFlag":false}), true),
            (serde_json::json!({"id":1,"agreementStatus":"Cancelled","cancelledFlag":true}), false),
            (serde_json::json!({"id":1,"agreementStatus":"Active","cancelledFlag":true}), false),
            (serde_json::json!({"id":1,"agreementStatus":"Expired"}), false),
            (serde_json::json!({"id":1,"agreementStatus":"Active","endDate":"2026-01-31T00:00:00Z"}), false),
            (
                serde_json::json!({"id":1,"agreementStatus":"Active","endDate":"2026-01-31T00:00:00Z","noEndingDateFlag":true}),
                true,
            ),
            (serde_json::json!({"id":1,"agreementStatus":"Active","endDate":"2027-01-31T00:00:00Z"}), true),
        ];
        for (json, want) in cases {
            assert_eq!(agreement(json.clone()).is_active(today), want, "{json}");
        }
    }

    #[test]
    fn additions_keep_their_dates_decimals_and_money() {
        let a: Addition = serde_json::from_value(serde_json::json!({
            "id": 5, "product": {"id": 9, "identifier": "X"}, "quantity": 10.5, "lessIncluded": 2,
            "unitPrice": 22.5, "unitCost": 20.0, "billCustomer": "DoNotBill",
            "effectiveDate": "2024-06-01T00:00:00Z", "cancelledDate": "2026-12-31T00:00:00Z"
        }))
        .unwrap();
        let m = a.into_model(77);
        assert_eq!((m.agreement_id, m.product_id), (77, Some(9)));
        assert_eq!(m.quantity.to_string(), "10.5");
        assert_eq!(m.less_included.to_string(), "2");
        assert_eq!(m.unit_price.map(|p| p.to_string()).as_deref(), Some("22.5"));
        assert_eq!(m.bill_customer, Some(BillCustomer::DoNotBill));
        assert_eq!(m.effective_date, chrono::NaiveDate::from_ymd_opt(2024, 6, 1));
        assert_eq!(m.cancelled_date, chrono::NaiveDate::from_ymd_opt(2026, 12, 31));
    }

    #[test]
    fn terms_fall_back_to_the_start_date() {
        let a = agreement(serde_json::json!({"id": 1, "startDate": "2026-12-15T00:00:00Z",
            "nextInvoiceDate": "2027-01-01T00:00:00Z", "prorateFlag": false, "parentAgreement": {"id": 9}}));
        let t = a.terms();
        assert_eq!(t.bill_start_date, chrono::NaiveDate::from_ymd_opt(2026, 12, 15));
        assert_eq!(t.next_invoice_date, chrono::NaiveDate::from_ymd_opt(2027, 1, 1));
        assert!(!t.prorate);
    }

    #[test]
    fn amounts_are_read_as_written() {
        let a: Addition = serde_json::from_str(r#"{"id": 1, "unitCost": 20.9, "unitPrice": 22.6}"#).unwrap();
        assert_eq!(a.unit_cost, Some("20.9".parse().unwrap()));
        assert_eq!(a.unit_price, Some("22.6".parse().unwrap()));
    }
}
