//! Vendor lifecycle (inactive -> pending -> active), and the accounts and services a
//! vendor lists.

use super::status::refresh_status_in;
use super::{Fault, Store, StoreError, parse_time_opt, stamp};
use crate::model::{Usage, VendorAccount, VendorService, VendorStatus};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// One row of `vendors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VendorRecord {
    pub name: String,
    pub status: VendorStatus,
    pub connected_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_result: Option<String>,
    pub last_error: Option<String>,
}

/// How a fresh account list differs from the stored one. Both lists are sorted by name
/// then id; `vanished` holds the accounts as they were stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AccountChanges {
    pub appeared: Vec<VendorAccount>,
    pub vanished: Vec<VendorAccount>,
}

const VENDOR_COLUMNS: &str = "name, status, connected_at, last_sync_at, last_result, last_error";

fn vendor_from_row(row: &Row<'_>) -> Result<VendorRecord, Fault> {
    let status: String = row.get("status")?;
    Ok(VendorRecord {
        name: row.get("name")?,
        status: VendorStatus::parse(&status)
            .ok_or_else(|| Fault::corrupt("vendor status", format!("`{status}`")))?,
        connected_at: parse_time_opt("vendor connected_at", row.get("connected_at")?)?,
        last_sync_at: parse_time_opt("vendor last_sync_at", row.get("last_sync_at")?)?,
        last_result: row.get("last_result")?,
        last_error: row.get("last_error")?,
    })
}

fn account_from_row(row: &Row<'_>) -> Result<VendorAccount, Fault> {
    let raw: String = row.get("raw")?;
    let id: String = row.get("vendor_id")?;
    Ok(VendorAccount {
        raw: serde_json::from_str(&raw)
            .map_err(|e| Fault::corrupt(format!("raw JSON of account {id}"), e))?,
        id,
        name: row.get("name")?,
        status: row.get("status")?,
    })
}

fn accounts_in(conn: &Connection, vendor: &str) -> Result<Vec<VendorAccount>, Fault> {
    let mut stmt = conn.prepare(
        "SELECT vendor_id, name, status, raw FROM vendor_accounts
         WHERE vendor = ?1
         ORDER BY name COLLATE NOCASE, name, vendor_id",
    )?;
    let mut rows = stmt.query([vendor])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(account_from_row(row)?);
    }
    Ok(out)
}

fn sort_accounts(accounts: &mut [VendorAccount]) {
    accounts.sort_by(|a, b| {
        (a.name.to_ascii_lowercase(), &a.name, &a.id).cmp(&(b.name.to_ascii_lowercase(), &b.name, &b.id))
    });
}

impl Store {
    pub fn vendor(&self, name: &str) -> Result<Option<VendorRecord>, StoreError> {
        self.read(&format!("read vendor {name}"), |conn| {
            let sql = format!("SELECT {VENDOR_COLUMNS} FROM vendors WHERE name = ?1");
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = stmt.query([name])?;
            match rows.next()? {
                Some(row) => Ok(Some(vendor_from_row(row)?)),
                None => Ok(None),
            }
        })
    }

    /// Every vendor ever connected (disconnected ones are `inactive`), sorted by name.
    pub fn vendors(&self) -> Result<Vec<VendorRecord>, StoreError> {
        self.read("list vendors", |conn| {
            let sql = format!("SELECT {VENDOR_COLUMNS} FROM vendors ORDER BY name");
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(vendor_from_row(row)?);
            }
            Ok(out)
        })
    }

    /// Record that the vendor is connected: an absent or inactive vendor becomes pending
    /// with `connected_at = now`; a connected one keeps its `connected_at`. The status is
    /// then refreshed from the mappings (active when they make it so).
    pub fn mark_connected(&mut self, name: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(&format!("mark vendor {name} connected"), |tx| {
            // In DO UPDATE every right-hand side sees the row as it was before the update.
            tx.execute(
                "INSERT INTO vendors (name, status, connected_at) VALUES (?1, 'pending', ?2)
                 ON CONFLICT (name) DO UPDATE SET
                     status = CASE WHEN status = 'inactive' THEN 'pending' ELSE status END,
                     connected_at = CASE
                         WHEN status = 'inactive' OR connected_at IS NULL
                         THEN excluded.connected_at
                         ELSE connected_at
                     END",
                params![name, stamp(now)],
            )?;
            refresh_status_in(tx, name)?;
            Ok(())
        })
    }

    /// The vendor's status as stored: every writer of vendors and mappings keeps it current
    /// (see `status.rs`). An unknown vendor is inactive.
    pub fn status(&self, name: &str) -> Result<VendorStatus, StoreError> {
        Ok(self.vendor(name)?.map_or(VendorStatus::Inactive, |v| v.status))
    }

    /// Stamp the outcome of the vendor's last sync. A vendor not yet stored is added as
    /// inactive, so the outcome is never lost.
    pub fn record_sync(
        &mut self,
        name: &str,
        now: DateTime<Utc>,
        result: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(&format!("record the sync of vendor {name}"), |tx| {
            tx.execute(
                "INSERT INTO vendors (name, status, last_sync_at, last_result, last_error)
                 VALUES (?1, 'inactive', ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET
                     last_sync_at = excluded.last_sync_at,
                     last_result = excluded.last_result,
                     last_error = excluded.last_error",
                params![name, stamp(now), result, error],
            )?;
            Ok(())
        })
    }

    /// The total quantity of the vendor's mapped usage at its last pushed sync (outage guard).
    /// The vendor's quantities as of its last pushed sync, by (account id, service key).
    pub fn last_usage(&self, name: &str) -> Result<BTreeMap<(String, String), u64>, StoreError> {
        self.read(&format!("read the last usage of vendor {name}"), |conn| {
            let mut stmt = conn.prepare(
                "SELECT account_id, service_key, quantity FROM vendor_usage_totals WHERE vendor = ?1",
            )?;
            let rows = stmt.query_map([name], |r| {
                Ok(((r.get::<_, String>(0)?, r.get::<_, String>(1)?), r.get::<_, i64>(2)?))
            })?;
            let mut out = BTreeMap::new();
            for row in rows {
                let (key, quantity) = row?;
                out.insert(key, u64::try_from(quantity).unwrap_or(0));
            }
            Ok(out)
        })
    }

    /// Record the quantities a pushed sync read; accounts it could not read keep their last.
    pub fn record_usage(&mut self, name: &str, usage: &[Usage]) -> Result<(), StoreError> {
        self.write(&format!("record the usage of vendor {name}"), |tx| {
            let mut stmt = tx.prepare(
                "INSERT INTO vendor_usage_totals (vendor, account_id, service_key, quantity) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (vendor, account_id, service_key) DO UPDATE SET quantity = excluded.quantity",
            )?;
            for u in usage {
                stmt.execute(params![name, u.account_id, u.service_key, i64::from(u.quantity)])?;
            }
            Ok(())
        })
    }

    /// Forget the vendor's accounts, services and both kinds of mapping, and mark it
    /// inactive. Runs and changes stay: they are history. `mark_connected` works again
    /// afterwards. Unknown vendors are left alone.
    pub fn disconnect(&mut self, name: &str) -> Result<(), StoreError> {
        self.write(&format!("disconnect vendor {name}"), |tx| {
            tx.execute("DELETE FROM vendor_accounts WHERE vendor = ?1", [name])?;
            tx.execute("DELETE FROM vendor_services WHERE vendor = ?1", [name])?;
            tx.execute("DELETE FROM account_mappings WHERE vendor = ?1", [name])?;
            tx.execute("DELETE FROM service_mappings WHERE vendor = ?1", [name])?;
            tx.execute("DELETE FROM account_exclusions WHERE vendor = ?1", [name])?;
            tx.execute("DELETE FROM account_unmatches WHERE vendor = ?1", [name])?;
            tx.execute("DELETE FROM vendor_usage_totals WHERE vendor = ?1", [name])?;
            tx.execute(
                "UPDATE vendors SET status = 'inactive', connected_at = NULL WHERE name = ?1",
                [name],
            )?;
            Ok(())
        })
    }

    /// Store the vendor's account list as fetched: upsert every account (`seen_at = now`),
    /// delete those no longer listed, and say which appeared and which vanished. The
    /// mappings of vanished accounts stay: a vanished account is reported, never silently
    /// unmapped. An account id given twice keeps its last entry.
    pub fn replace_accounts(
        &mut self,
        vendor: &str,
        accounts: &[VendorAccount],
        now: DateTime<Utc>,
    ) -> Result<AccountChanges, StoreError> {
        self.write(&format!("replace the accounts of vendor {vendor}"), |tx| {
            let before: BTreeMap<String, VendorAccount> =
                accounts_in(tx, vendor)?.into_iter().map(|a| (a.id.clone(), a)).collect();
            let seen_at = stamp(now);
            let mut upsert = tx.prepare(
                "INSERT INTO vendor_accounts (vendor, vendor_id, name, status, raw, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (vendor, vendor_id) DO UPDATE SET
                     name = excluded.name,
                     status = excluded.status,
                     raw = excluded.raw,
                     seen_at = excluded.seen_at",
            )?;
            let mut latest: BTreeMap<&str, &VendorAccount> = BTreeMap::new();
            for account in accounts {
                latest.insert(&account.id, account);
            }
            for account in latest.values() {
                let raw = serde_json::to_string(&account.raw)
                    .map_err(|e| Fault::corrupt(format!("raw JSON of account {}", account.id), e))?;
                upsert.execute(params![vendor, account.id, account.name, account.status, raw, seen_at])?;
            }
            let mut delete =
                tx.prepare("DELETE FROM vendor_accounts WHERE vendor = ?1 AND vendor_id = ?2")?;
            let mut changes = AccountChanges::default();
            for (id, account) in &before {
                if !latest.contains_key(id.as_str()) {
                    delete.execute(params![vendor, id])?;
                    changes.vanished.push(account.clone());
                }
            }
            let known: HashSet<&str> = before.keys().map(String::as_str).collect();
            changes.appeared =
                latest.values().filter(|a| !known.contains(a.id.as_str())).map(|a| (*a).clone()).collect();
            sort_accounts(&mut changes.appeared);
            sort_accounts(&mut changes.vanished);
            refresh_status_in(tx, vendor)?;
            Ok(changes)
        })
    }

    /// The vendor's accounts, sorted by name (case-insensitively) then id.
    pub fn accounts(&self, vendor: &str) -> Result<Vec<VendorAccount>, StoreError> {
        self.read(&format!("list the accounts of vendor {vendor}"), |conn| accounts_in(conn, vendor))
    }

    /// Store the vendor's services as fetched: upsert every one, delete those no longer
    /// listed. Service mappings stay, as for accounts.
    pub fn replace_services(&mut self, vendor: &str, services: &[VendorService]) -> Result<(), StoreError> {
        self.write(&format!("replace the services of vendor {vendor}"), |tx| {
            let mut upsert = tx.prepare(
                r#"INSERT INTO vendor_services (vendor, "key", name) VALUES (?1, ?2, ?3)
                   ON CONFLICT (vendor, "key") DO UPDATE SET name = excluded.name"#,
            )?;
            for service in services {
                upsert.execute(params![vendor, service.key, service.name])?;
            }
            let keep: HashSet<&str> = services.iter().map(|s| s.key.as_str()).collect();
            let mut stored = tx.prepare(r#"SELECT "key" FROM vendor_services WHERE vendor = ?1"#)?;
            let stale: Vec<String> = stored
                .query_map([vendor], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|k| !keep.contains(k.as_str()))
                .collect();
            let mut delete = tx.prepare(r#"DELETE FROM vendor_services WHERE vendor = ?1 AND "key" = ?2"#)?;
            for key in stale {
                delete.execute(params![vendor, key])?;
            }
            refresh_status_in(tx, vendor)?;
            Ok(())
        })
    }

    /// The vendor's services, sorted by name then key.
    pub fn services(&self, vendor: &str) -> Result<Vec<VendorService>, StoreError> {
        self.read(&format!("list the services of vendor {vendor}"), |conn| {
            let mut stmt = conn.prepare(
                r#"SELECT "key", name FROM vendor_services
                   WHERE vendor = ?1
                   ORDER BY name COLLATE NOCASE, name, "key""#,
            )?;
            let rows = stmt.query_map([vendor], |r| Ok(VendorService { key: r.get(0)?, name: r.get(1)? }))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)] // a failed expectation is the test failing
mod tests {
    use super::super::tests::at;
    use super::*;
    use crate::model::{AccountMapping, MappedBy, ServiceMapping};
    use serde_json::json;

    fn account(id: &str, name: &str) -> VendorAccount {
        VendorAccount {
            id: id.to_string(),
            name: name.to_string(),
            status: Some("active".to_string()),
            raw: json!({ "id": id, "name": name, "nested": { "seats": 3 } }),
        }
    }

    fn service(key: &str, name: &str) -> VendorService {
        VendorService { key: key.to_string(), name: name.to_string() }
    }

    fn account_mapping(vendor: &str, account_id: &str) -> AccountMapping {
        AccountMapping {
            vendor: vendor.to_string(),
            account_id: account_id.to_string(),
            account_name: format!("Account {account_id}"),
            company_id: 250,
            company_name: "Acme Dental".to_string(),
            agreement_id: Some(7),
            agreement_name: Some("Managed Services".to_string()),
            how: MappedBy::Auto,
        }
    }

    fn service_mapping(vendor: &str, key: &str) -> ServiceMapping {
        ServiceMapping {
            vendor: vendor.to_string(),
            service_key: key.to_string(),
            product_id: 31,
            product_identifier: "NW-ASSET".to_string(),
            minimum: None,
            bill_customer: None,
            committed_decreases: false,
            classes: None,
            included: None,
        }
    }

    fn status(store: &Store, vendor: &str) -> VendorStatus {
        store.vendor(vendor).expect("read").map_or(VendorStatus::Inactive, |v| v.status)
    }

    #[test]
    fn replace_accounts_reports_appeared_and_vanished_and_keeps_their_mappings() {
        let mut store = Store::open_in_memory().expect("open");
        let first = store
            .replace_accounts("nodeware", &[account("2", "beta"), account("1", "Alpha")], at(1, 9))
            .expect("first");
        assert_eq!(first.appeared, vec![account("1", "Alpha"), account("2", "beta")]);
        assert!(first.vanished.is_empty());

        store.set_account_mapping(&account_mapping("nodeware", "2"), at(1, 9)).expect("map");

        let mut renamed = account("1", "Alpha Renamed");
        renamed.raw = json!({ "id": 1 });
        let second = store
            .replace_accounts("nodeware", &[renamed.clone(), account("3", "Gamma")], at(2, 9))
            .expect("second");
        assert_eq!(second.appeared, vec![account("3", "Gamma")]);
        assert_eq!(second.vanished, vec![account("2", "beta")]);

        assert_eq!(store.accounts("nodeware").expect("list"), vec![renamed, account("3", "Gamma")]);
        let mappings = store.account_mappings(Some("nodeware")).expect("mappings");
        assert_eq!(mappings, vec![account_mapping("nodeware", "2")]);
        // The mapping of a vanished account no longer counts as a mapped account.
        assert_eq!(store.mapping_counts("nodeware").expect("counts").accounts_mapped, 0);

        // Other vendors are untouched.
        assert!(store.accounts("huntress").expect("list").is_empty());
    }

    #[test]
    fn replace_services_upserts_and_deletes() {
        let mut store = Store::open_in_memory().expect("open");
        store.replace_services("nodeware", &[service("b", "Beta"), service("a", "Assets")]).expect("first");
        store
            .replace_services("nodeware", &[service("a", "Assets v2"), service("c", "Cloud")])
            .expect("second");
        assert_eq!(
            store.services("nodeware").expect("list"),
            vec![service("a", "Assets v2"), service("c", "Cloud")]
        );
    }

    #[test]
    fn status_goes_pending_active_pending() {
        let mut store = Store::open_in_memory().expect("open");
        assert_eq!(store.status("nodeware").expect("status"), VendorStatus::Inactive);
        assert!(store.vendor("nodeware").expect("read").is_none());

        store.mark_connected("nodeware", at(1, 9)).expect("connect");
        let v = store.vendor("nodeware").expect("read").expect("stored");
        assert_eq!(v.status, VendorStatus::Pending);
        assert_eq!(v.connected_at, Some(at(1, 9)));

        store.replace_accounts("nodeware", &[account("1", "Alpha")], at(1, 9)).expect("accounts");
        store.replace_services("nodeware", &[service("assets", "Assets")]).expect("services");
        store.set_account_mapping(&account_mapping("nodeware", "1"), at(1, 10)).expect("map account");
        assert_eq!(status(&store, "nodeware"), VendorStatus::Pending);
        store
            .set_service_mapping(&service_mapping("nodeware", "assets"), false, at(1, 10))
            .expect("map service");
        assert_eq!(status(&store, "nodeware"), VendorStatus::Active);
        assert_eq!(store.status("nodeware").expect("status"), VendorStatus::Active);

        // Reconnecting keeps the first connection time and the status.
        store.mark_connected("nodeware", at(3, 9)).expect("reconnect");
        let v = store.vendor("nodeware").expect("read").expect("stored");
        assert_eq!(v.status, VendorStatus::Active);
        assert_eq!(v.connected_at, Some(at(1, 9)));

        assert!(store.remove_service_mapping("nodeware", "assets", None).expect("unmap"));
        assert!(!store.remove_service_mapping("nodeware", "assets", None).expect("again"));
        assert_eq!(status(&store, "nodeware"), VendorStatus::Pending);
    }

    #[test]
    fn record_sync_stamps_outcome() {
        let mut store = Store::open_in_memory().expect("open");
        store.mark_connected("huntress", at(1, 9)).expect("connect");
        store.record_sync("huntress", at(2, 9), "failed", Some("HTTP 401 from Huntress")).expect("sync");
        store.record_sync("huntress", at(3, 9), "ok", None).expect("sync");
        let v = store.vendor("huntress").expect("read").expect("stored");
        assert_eq!(v.last_sync_at, Some(at(3, 9)));
        assert_eq!(v.last_result.as_deref(), Some("ok"));
        assert_eq!(v.last_error, None);
        assert_eq!(v.status, VendorStatus::Pending);
    }

    #[test]
    fn disconnect_forgets_vendor_data_but_keeps_history_and_reconnects() {
        let mut store = Store::open_in_memory().expect("open");
        store.mark_connected("nodeware", at(1, 9)).expect("connect");
        store.mark_connected("huntress", at(1, 9)).expect("connect other");
        for vendor in ["nodeware", "huntress"] {
            store.replace_accounts(vendor, &[account("1", "Alpha")], at(1, 9)).expect("accounts");
            store.replace_services(vendor, &[service("assets", "Assets")]).expect("services");
            store.set_account_mapping(&account_mapping(vendor, "1"), at(1, 9)).expect("map");
            store.set_service_mapping(&service_mapping(vendor, "assets"), false, at(1, 9)).expect("map");
        }
        let period: crate::period::Period = "2026-10".parse().expect("period");
        let run = store
            .start_run(at(2, 9), crate::plan::RunKind::Sync, period, false, &["nodeware".to_string()])
            .expect("run");
        let line = crate::store::ledger::tests::line("nodeware", 5);
        store.record_lines(run, &[line], at(2, 9)).expect("change");

        store.disconnect("nodeware").expect("disconnect");
        let v = store.vendor("nodeware").expect("read").expect("kept");
        assert_eq!(v.status, VendorStatus::Inactive);
        assert_eq!(v.connected_at, None);
        assert!(store.accounts("nodeware").expect("accounts").is_empty());
        assert!(store.services("nodeware").expect("services").is_empty());
        assert!(store.account_mappings(Some("nodeware")).expect("am").is_empty());
        assert!(store.service_mappings(Some("nodeware")).expect("sm").is_empty());
        assert_eq!(store.runs(10).expect("runs").len(), 1);
        assert_eq!(store.changes(run).expect("changes").len(), 1);
        // The other vendor is untouched.
        assert_eq!(status(&store, "huntress"), VendorStatus::Active);
        assert_eq!(store.account_mappings(None).expect("all").len(), 1);

        // A disconnected vendor cannot become active by itself.
        assert_eq!(store.status("nodeware").expect("status"), VendorStatus::Inactive);

        store.mark_connected("nodeware", at(4, 9)).expect("reconnect");
        let v = store.vendor("nodeware").expect("read").expect("stored");
        assert_eq!(v.status, VendorStatus::Pending);
        assert_eq!(v.connected_at, Some(at(4, 9)));
        let changes =
            store.replace_accounts("nodeware", &[account("1", "Alpha")], at(4, 9)).expect("accounts again");
        assert_eq!(changes.appeared.len(), 1);

        let names: Vec<String> = store.vendors().expect("vendors").into_iter().map(|v| v.name).collect();
        assert_eq!(names, vec!["huntress", "nodeware"]);
    }
}
