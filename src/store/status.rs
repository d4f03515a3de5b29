//! A vendor's status, derived from what is mapped: inactive (not connected) -> pending
//! (connected) -> active (at least one of its current accounts and one of its current
//! services mapped). Both the vendor and the mapping writers keep it up to date, inside
//! their own transaction, through `refresh_status_in`.

use super::Fault;
use crate::model::VendorStatus;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// How much of a vendor is mapped. `*_mapped` count only accounts and services the vendor
/// still lists: the mapping of a vanished account is kept but does not count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MappingCounts {
    pub accounts: usize,
    pub accounts_mapped: usize,
    pub services: usize,
    pub services_mapped: usize,
}

pub(super) fn counts_in(conn: &Connection, vendor: &str) -> Result<MappingCounts, Fault> {
    let count =
        |sql: &str| -> Result<usize, Fault> { Ok(conn.query_row(sql, [vendor], |r| r.get::<_, usize>(0))?) };
    Ok(MappingCounts {
        accounts: count("SELECT count(*) FROM vendor_accounts WHERE vendor = ?1")?,
        accounts_mapped: count(
            "SELECT count(*) FROM vendor_accounts a
             JOIN account_mappings m
               ON m.vendor = a.vendor AND m.vendor_account_id = a.vendor_id
             WHERE a.vendor = ?1",
        )?,
        services: count("SELECT count(*) FROM vendor_services WHERE vendor = ?1")?,
        services_mapped: count(
            r#"SELECT count(*) FROM vendor_services s
               JOIN service_mappings m
                 ON m.vendor = s.vendor AND m.service_key = s."key"
               WHERE s.vendor = ?1"#,
        )?,
    })
}

/// Recompute pending <-> active for a connected vendor from its mapping counts; an
/// inactive or unknown vendor stays inactive. Returns the status now stored.
pub(super) fn refresh_status_in(conn: &Connection, vendor: &str) -> Result<VendorStatus, Fault> {
    let status: Option<String> =
        conn.query_row("SELECT status FROM vendors WHERE name = ?1", [vendor], |r| r.get(0)).optional()?;
    let Some(status) = status else {
        return Ok(VendorStatus::Inactive);
    };
    let current =
        VendorStatus::parse(&status).ok_or_else(|| Fault::corrupt("vendor status", format!("`{status}`")))?;
    if current == VendorStatus::Inactive {
        return Ok(current);
    }
    let counts = counts_in(conn, vendor)?;
    let wanted = if counts.accounts_mapped > 0 && counts.services_mapped > 0 {
        VendorStatus::Active
    } else {
        VendorStatus::Pending
    };
    if wanted != current {
        conn.execute("UPDATE vendors SET status = ?2 WHERE name = ?1", params![vendor, wanted.as_str()])?;
    }
    Ok(wanted)
}
