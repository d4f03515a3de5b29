//! Autotask's JSON, as recon reads it. Only the fields recon uses; everything else is ignored.

use crate::model::UnitSpan;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

/// `zoneInformation`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneInformation {
    pub url: Option<String>,
    pub zone_name: Option<String>,
}

/// One page of a query: `{"items": [...], "pageDetails": {...}}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    pub page_details: Option<PageDetails>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageDetails {
    pub next_page_url: Option<String>,
}

/// A create's answer: `{"itemId": 123}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub item_id: i64,
}

/// `{Entity}/entityInformation/fields`.
#[derive(Debug, Deserialize)]
pub struct Fields {
    #[serde(default)]
    pub fields: Vec<FieldInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldInfo {
    pub name: String,
    #[serde(default)]
    pub picklist_values: Option<Vec<PicklistValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    /// Sent as text (`"7"`) by Autotask; a number is read the same.
    #[serde(deserialize_with = "id_text")]
    pub value: i64,
    pub label: String,
    #[serde(default = "yes")]
    pub is_active: bool,
}

fn yes() -> bool {
    true
}

/// `ThresholdInformation`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Threshold {
    pub external_request_threshold: Option<u64>,
    pub current_timeframe_request_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub id: i64,
    pub company_name: Option<String>,
    pub company_number: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    pub id: i64,
    #[serde(rename = "companyID")]
    pub company_id: Option<i64>,
    pub contract_name: Option<String>,
    pub contract_number: Option<String>,
    #[serde(default, deserialize_with = "date")]
    pub start_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "date")]
    pub end_date: Option<NaiveDate>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub id: i64,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default = "yes")]
    pub is_active: bool,
    pub unit_price: Option<Decimal>,
    pub unit_cost: Option<Decimal>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractService {
    pub id: i64,
    #[serde(rename = "contractID")]
    pub contract_id: i64,
    #[serde(rename = "serviceID")]
    pub service_id: i64,
    pub unit_price: Option<Decimal>,
    pub unit_cost: Option<Decimal>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractServiceUnit {
    #[serde(rename = "contractID")]
    pub contract_id: i64,
    #[serde(rename = "contractServiceID")]
    pub contract_service_id: Option<i64>,
    #[serde(rename = "serviceID")]
    pub service_id: Option<i64>,
    #[serde(deserialize_with = "required_date")]
    pub start_date: NaiveDate,
    #[serde(deserialize_with = "required_date")]
    pub end_date: NaiveDate,
    pub units: Option<i64>,
    pub price: Option<Decimal>,
    pub cost: Option<Decimal>,
    #[serde(default, deserialize_with = "date")]
    pub approve_and_post_date: Option<NaiveDate>,
}

impl ContractServiceUnit {
    /// The span, or `None` when the row has no units (unknown is never 0).
    pub fn span(&self) -> Option<UnitSpan> {
        Some(UnitSpan {
            start: self.start_date,
            end: self.end_date,
            units: Decimal::from(self.units?),
            price: self.price,
            cost: self.cost,
            posted: self.approve_and_post_date.is_some(),
        })
    }
}

/// Autotask dates: `2026-12-01T00:00:00`, with or without a zone or fraction, or a bare date.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

fn date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => {
            parse_date(t).map(Some).ok_or_else(|| serde::de::Error::custom(format!("not a date: {t:?}")))
        }
    }
}

fn required_date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    date(d)?.ok_or_else(|| serde::de::Error::custom("a date is required"))
}

fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(i64),
        Text(String),
    }
    match Id::deserialize(d)? {
        Id::Number(n) => Ok(n),
        Id::Text(t) => t.trim().parse().map_err(|_| serde::de::Error::custom(format!("not an id: {t:?}"))),
    }
}
