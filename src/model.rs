//! The records every part of recon shares. Vendor adapters turn their wire formats into
//! these; the ConnectWise client turns its JSON into the `Cw*` records; matching and
//! reconcile take and return only these.

use serde::{Deserialize, Serialize};

/// A customer as a vendor lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VendorAccount {
    /// The vendor's own id for the account, as text (numeric ids are stringified).
    pub id: String,
    /// The name people see in the vendor's portal.
    pub name: String,
    pub status: Option<String>,
    /// The record as the vendor sent it, kept for audit.
    pub raw: serde_json::Value,
}

/// A billable SKU of a vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorService {
    pub key: String,
    pub name: String,
}

/// How many units of one service one account used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub account_id: String,
    pub service_key: String,
    pub quantity: u32,
}

/// Everything one vendor reported in one fetch.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VendorSnapshot {
    pub accounts: Vec<VendorAccount>,
    pub services: Vec<VendorService>,
    pub usage: Vec<Usage>,
}

/// A ConnectWise company (only the fields recon reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CwCompany {
    pub id: i64,
    pub identifier: String,
    pub name: String,
}

/// A ConnectWise agreement that is active (recon never reads or chooses any other).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CwAgreement {
    pub id: i64,
    pub name: String,
    pub company_id: i64,
    pub type_name: Option<String>,
}

/// One addition of an agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CwAddition {
    pub id: i64,
    pub agreement_id: i64,
    pub product_id: Option<i64>,
    pub product_identifier: Option<String>,
    /// ConnectWise stores a decimal; recon writes whole numbers but reads what is there.
    pub quantity: f64,
    pub cancelled: bool,
}

/// A product of the ConnectWise catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CwProduct {
    pub id: i64,
    pub identifier: String,
    pub description: String,
    pub inactive: bool,
}

/// How a mapping was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MappedBy {
    Auto,
    Manual,
}

impl MappedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MappedBy::Auto => "auto",
            MappedBy::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<MappedBy> {
        match s {
            "auto" => Some(MappedBy::Auto),
            "manual" => Some(MappedBy::Manual),
            _ => None,
        }
    }
}

/// A vendor account mapped to a ConnectWise company and (once chosen) one of its agreements.
/// Names are kept as they were when mapped, so listings need no ConnectWise call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMapping {
    pub vendor: String,
    pub account_id: String,
    /// The account's name when it was mapped, so a vanished account is still named.
    pub account_name: String,
    pub company_id: i64,
    pub company_name: String,
    pub agreement_id: Option<i64>,
    pub agreement_name: Option<String>,
    pub how: MappedBy,
}

/// A vendor service mapped to a catalog product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceMapping {
    pub vendor: String,
    pub service_key: String,
    pub product_id: i64,
    pub product_identifier: String,
}

/// Vendor lifecycle: inactive (not connected) -> pending (connected) -> active (at least one
/// account and one service mapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VendorStatus {
    Inactive,
    Pending,
    Active,
}

impl VendorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VendorStatus::Inactive => "inactive",
            VendorStatus::Pending => "pending",
            VendorStatus::Active => "active",
        }
    }

    pub fn parse(s: &str) -> Option<VendorStatus> {
        match s {
            "inactive" => Some(VendorStatus::Inactive),
            "pending" => Some(VendorStatus::Pending),
            "active" => Some(VendorStatus::Active),
            _ => None,
        }
    }
}
