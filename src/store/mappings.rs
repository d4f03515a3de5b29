//! Account mappings (vendor account -> ConnectWise company and agreement) and service
//! mappings (vendor service -> catalog product). Every setter also refreshes the vendor's
//! pending/active status in the same transaction.

use super::status::{MappingCounts, counts_in, refresh_status_in};
use super::{Fault, Store, StoreError, stamp};
use crate::model::{AccountMapping, Exclusion, MappedBy, ServiceMapping, Unmatch};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use std::collections::BTreeSet;

fn account_mapping_from_row(row: &Row<'_>) -> Result<AccountMapping, Fault> {
    let how: String = row.get("how")?;
    Ok(AccountMapping {
        how: MappedBy::parse(&how)
            .ok_or_else(|| Fault::corrupt("account mapping `how`", format!("`{how}`")))?,
        vendor: row.get("vendor")?,
        account_id: row.get("vendor_account_id")?,
        account_name: row.get("vendor_account_name")?,
        company_id: row.get("cw_company_id")?,
        company_name: row.get("cw_company_name")?,
        agreement_id: row.get("cw_agreement_id")?,
        agreement_name: row.get("cw_agreement_name")?,
    })
}

fn upsert_account_mapping(conn: &Connection, m: &AccountMapping, now: DateTime<Utc>) -> Result<(), Fault> {
    // Mapping a pair a person once unmapped is their decision again: the refusal goes.
    conn.prepare_cached(
        "DELETE FROM account_unmatches WHERE vendor = ?1 AND vendor_account_id = ?2 AND company_id = ?3",
    )?
    .execute(params![m.vendor, m.account_id, m.company_id])?;
    conn.prepare_cached(
        "INSERT INTO account_mappings (
             vendor, vendor_account_id, cw_company_id, cw_company_name,
             cw_agreement_id, cw_agreement_name, how, mapped_at, vendor_account_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (vendor, vendor_account_id) DO UPDATE SET
             cw_company_id = excluded.cw_company_id,
             cw_company_name = excluded.cw_company_name,
             cw_agreement_id = excluded.cw_agreement_id,
             cw_agreement_name = excluded.cw_agreement_name,
             how = excluded.how,
             mapped_at = excluded.mapped_at,
             vendor_account_name = excluded.vendor_account_name",
    )?
    .execute(params![
        m.vendor,
        m.account_id,
        m.company_id,
        m.company_name,
        m.agreement_id,
        m.agreement_name,
        m.how.as_str(),
        stamp(now),
        m.account_name,
    ])?;
    Ok(())
}

impl Store {
    /// Account mappings of one vendor (`Some`) or of all (`None`), sorted by vendor then
    /// account id.
    pub fn account_mappings(&self, vendor: Option<&str>) -> Result<Vec<AccountMapping>, StoreError> {
        self.read("list account mappings", |conn| {
            let mut stmt = conn.prepare(
                "SELECT vendor, vendor_account_id, vendor_account_name, cw_company_id, cw_company_name,
                        cw_agreement_id, cw_agreement_name, how
                 FROM account_mappings
                 WHERE ?1 IS NULL OR vendor = ?1
                 ORDER BY vendor, vendor_account_id",
            )?;
            let mut rows = stmt.query([vendor])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(account_mapping_from_row(row)?);
            }
            Ok(out)
        })
    }

    /// Insert or replace one account mapping (`mapped_at = now`).
    pub fn set_account_mapping(&mut self, m: &AccountMapping, now: DateTime<Utc>) -> Result<(), StoreError> {
        let doing = format!("map account {} of vendor {}", m.account_id, m.vendor);
        self.write(&doing, |tx| {
            upsert_account_mapping(tx, m, now)?;
            refresh_status_in(tx, &m.vendor)?;
            Ok(())
        })
    }

    /// Insert or replace many account mappings in one transaction (auto-matching hundreds
    /// of accounts): all are stored or none.
    pub fn set_account_mappings(
        &mut self,
        ms: &[AccountMapping],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let doing = format!("store {} account mappings", ms.len());
        self.write(&doing, |tx| {
            for m in ms {
                upsert_account_mapping(tx, m, now)?;
            }
            let vendors: BTreeSet<&str> = ms.iter().map(|m| m.vendor.as_str()).collect();
            for vendor in vendors {
                refresh_status_in(tx, vendor)?;
            }
            Ok(())
        })
    }

    /// Remove one account mapping and remember its pair as unmapped by a person, so that
    /// auto-matching never makes it again (one transaction). The removed mapping; `None`
    /// when there was none.
    pub fn unmap_account(
        &mut self,
        vendor: &str,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountMapping>, StoreError> {
        let doing = format!("unmap account {account_id} of vendor {vendor}");
        self.write(&doing, |tx| {
            let Some(m) = tx
                .prepare(
                    "SELECT vendor, vendor_account_id, vendor_account_name, cw_company_id, cw_company_name,
                            cw_agreement_id, cw_agreement_name, how
                     FROM account_mappings WHERE vendor = ?1 AND vendor_account_id = ?2",
                )?
                .query([vendor, account_id])?
                .next()?
                .map(account_mapping_from_row)
                .transpose()?
            else {
                return Ok(None);
            };
            tx.execute(
                "DELETE FROM account_mappings WHERE vendor = ?1 AND vendor_account_id = ?2",
                params![vendor, account_id],
            )?;
            tx.execute(
                "INSERT INTO account_unmatches
                     (vendor, vendor_account_id, account_name, company_id, company_name, unmapped_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (vendor, vendor_account_id, company_id) DO UPDATE SET
                     account_name = excluded.account_name, company_name = excluded.company_name,
                     unmapped_at = excluded.unmapped_at",
                params![vendor, account_id, m.account_name, m.company_id, m.company_name, stamp(now)],
            )?;
            refresh_status_in(tx, vendor)?;
            Ok(Some(m))
        })
    }

    /// The pairs people unmapped (of one vendor, or all), by vendor, account and company.
    pub fn unmatches(&self, vendor: Option<&str>) -> Result<Vec<Unmatch>, StoreError> {
        self.read("list unmapped account pairs", |conn| {
            let mut stmt = conn.prepare(
                "SELECT vendor, vendor_account_id, account_name, company_id, company_name
                 FROM account_unmatches WHERE ?1 IS NULL OR vendor = ?1
                 ORDER BY vendor, vendor_account_id, company_id",
            )?;
            let rows = stmt.query_map([vendor], |r| {
                Ok(Unmatch {
                    vendor: r.get(0)?,
                    account_id: r.get(1)?,
                    account_name: r.get(2)?,
                    company_id: r.get(3)?,
                    company_name: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The (account id, company id) pairs auto-matching must never make for `vendor`.
    pub fn refused_pairs(
        &self,
        vendor: &str,
    ) -> Result<std::collections::HashSet<(String, i64)>, StoreError> {
        Ok(self.unmatches(Some(vendor))?.into_iter().map(|u| (u.account_id, u.company_id)).collect())
    }

    /// Service mappings of one vendor (`Some`) or of all (`None`), sorted by vendor then
    /// service key.
    pub fn service_mappings(&self, vendor: Option<&str>) -> Result<Vec<ServiceMapping>, StoreError> {
        self.read("list service mappings", |conn| {
            let mut stmt = conn.prepare(
                "SELECT vendor, service_key, cw_product_id, cw_product_identifier, minimum, bill_customer,
                        committed_decreases, classes, included
                 FROM service_mappings
                 WHERE ?1 IS NULL OR vendor = ?1
                 ORDER BY vendor, service_key, cw_product_identifier",
            )?;
            let rows = stmt.query_map([vendor], |r| {
                let bill: Option<String> = r.get(5)?;
                let classes: Option<String> = r.get(7)?;
                Ok((
                    ServiceMapping {
                        vendor: r.get(0)?,
                        service_key: r.get(1)?,
                        product_id: r.get(2)?,
                        product_identifier: r.get(3)?,
                        minimum: r.get(4)?,
                        bill_customer: None,
                        committed_decreases: r.get::<_, Option<String>>(6)?.as_deref() == Some("apply"),
                        classes: None,
                        included: r.get(8)?,
                    },
                    bill,
                    classes,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (mut m, bill, classes) = row?;
                m.bill_customer = match bill {
                    Some(text) => Some(crate::model::BillCustomer::parse(&text).ok_or_else(|| {
                        Fault::corrupt(
                            format!("bill setting of {} service {}", m.vendor, m.service_key),
                            &text,
                        )
                    })?),
                    None => None,
                };
                m.classes = match classes {
                    Some(text) => Some(serde_json::from_str(&text).map_err(|_| {
                        Fault::corrupt(
                            format!("device classes of {} service {}", m.vendor, m.service_key),
                            &text,
                        )
                    })?),
                    None => None,
                };
                out.push(m);
            }
            Ok(out)
        })
    }

    /// Map a service to a product (`mapped_at = now`). `beside`: keep the service's mappings
    /// to other products (one count feeding several products); otherwise this one replaces
    /// them. A mapping of the same service and product is updated in place.
    pub fn set_service_mapping(
        &mut self,
        m: &ServiceMapping,
        beside: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let doing = format!("map service {} of vendor {}", m.service_key, m.vendor);
        let classes = m.classes.as_ref().map(|c| serde_json::to_string(c).unwrap_or_default());
        self.write(&doing, |tx| {
            if !beside {
                tx.execute(
                    "DELETE FROM service_mappings WHERE vendor = ?1 AND service_key = ?2 AND cw_product_id <> ?3",
                    params![m.vendor, m.service_key, m.product_id],
                )?;
            }
            tx.execute(
                "INSERT INTO service_mappings (
                     vendor, service_key, cw_product_id, cw_product_identifier, mapped_at, minimum, bill_customer,
                     committed_decreases, classes, included)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (vendor, service_key, cw_product_id) DO UPDATE SET
                     cw_product_identifier = excluded.cw_product_identifier,
                     mapped_at = excluded.mapped_at,
                     minimum = excluded.minimum,
                     bill_customer = excluded.bill_customer,
                     committed_decreases = excluded.committed_decreases,
                     classes = excluded.classes,
                     included = excluded.included",
                params![
                    m.vendor,
                    m.service_key,
                    m.product_id,
                    m.product_identifier,
                    stamp(now),
                    m.minimum,
                    m.bill_customer.map(crate::model::BillCustomer::as_str),
                    if m.committed_decreases { "apply" } else { "review" },
                    classes,
                    m.included
                ],
            )?;
            refresh_status_in(tx, &m.vendor)?;
            Ok(())
        })
    }

    /// Remove a service's mappings (only the one to `product_id` when given); `false` when
    /// there was none.
    pub fn remove_service_mapping(
        &mut self,
        vendor: &str,
        service_key: &str,
        product_id: Option<i64>,
    ) -> Result<bool, StoreError> {
        let doing = format!("unmap service {service_key} of vendor {vendor}");
        self.write(&doing, |tx| {
            let n = tx.execute(
                "DELETE FROM service_mappings WHERE vendor = ?1 AND service_key = ?2
                     AND (?3 IS NULL OR cw_product_id = ?3)",
                params![vendor, service_key, product_id],
            )?;
            refresh_status_in(tx, vendor)?;
            Ok(n > 0)
        })
    }

    /// Exclude an account: it is never mapped, matched or billed. Its mapping, if any, goes.
    pub fn exclude_account(&mut self, e: &Exclusion, now: DateTime<Utc>) -> Result<(), StoreError> {
        let doing = format!("exclude account {} of vendor {}", e.account_id, e.vendor);
        self.write(&doing, |tx| {
            tx.execute(
                "DELETE FROM account_mappings WHERE vendor = ?1 AND vendor_account_id = ?2",
                params![e.vendor, e.account_id],
            )?;
            tx.execute(
                "INSERT INTO account_exclusions (vendor, vendor_account_id, account_name, reason, excluded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (vendor, vendor_account_id) DO UPDATE SET
                     account_name = excluded.account_name, reason = excluded.reason, excluded_at = excluded.excluded_at",
                params![e.vendor, e.account_id, e.account_name, e.reason, stamp(now)],
            )?;
            refresh_status_in(tx, &e.vendor)?;
            Ok(())
        })
    }

    /// Include an excluded account again; `false` when it was not excluded.
    pub fn include_account(&mut self, vendor: &str, account_id: &str) -> Result<bool, StoreError> {
        let doing = format!("include account {account_id} of vendor {vendor}");
        self.write(&doing, |tx| {
            let n = tx.execute(
                "DELETE FROM account_exclusions WHERE vendor = ?1 AND vendor_account_id = ?2",
                params![vendor, account_id],
            )?;
            Ok(n > 0)
        })
    }

    /// The accounts of a vendor already decided by a person or an earlier match: mapped or
    /// excluded. Auto-matching leaves them alone.
    pub fn decided_account_ids(&self, vendor: &str) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut ids: std::collections::HashSet<String> =
            self.account_mappings(Some(vendor))?.into_iter().map(|m| m.account_id).collect();
        ids.extend(self.exclusions(Some(vendor))?.into_iter().map(|e| e.account_id));
        Ok(ids)
    }

    /// The excluded accounts (of one vendor, or all), by vendor and id.
    pub fn exclusions(&self, vendor: Option<&str>) -> Result<Vec<Exclusion>, StoreError> {
        self.read("list excluded accounts", |conn| {
            let mut stmt = conn.prepare(
                "SELECT vendor, vendor_account_id, account_name, reason FROM account_exclusions
                 WHERE ?1 IS NULL OR vendor = ?1 ORDER BY vendor, vendor_account_id",
            )?;
            let rows = stmt.query_map([vendor], |r| {
                Ok(Exclusion {
                    vendor: r.get(0)?,
                    account_id: r.get(1)?,
                    account_name: r.get(2)?,
                    reason: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    pub fn mapping_counts(&self, vendor: &str) -> Result<MappingCounts, StoreError> {
        self.read(&format!("count the mappings of vendor {vendor}"), |conn| counts_in(conn, vendor))
    }
}

impl Store {
    /// Replace the copy of ConnectWise's companies (one transaction).
    pub fn replace_cw_companies(&mut self, companies: &[crate::model::PsaCompany]) -> Result<(), StoreError> {
        self.write("store the copy of the PSA's companies", |tx| {
            tx.execute("DELETE FROM cw_companies", [])?;
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO cw_companies (id, identifier, name) VALUES (?1, ?2, ?3)",
            )?;
            for c in companies {
                insert.execute(params![c.id, c.identifier, c.name])?;
            }
            Ok(())
        })
    }

    /// The companies as ConnectWise listed them when recon last read them.
    pub fn cw_companies(&self) -> Result<Vec<crate::model::PsaCompany>, StoreError> {
        self.read("read the copy of the PSA's companies", |conn| {
            let mut stmt = conn.prepare("SELECT id, identifier, name FROM cw_companies ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok(crate::model::PsaCompany { id: r.get(0)?, identifier: r.get(1)?, name: r.get(2)? })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)] // a failed expectation is the test failing
mod tests {
    use super::super::tests::at;
    use super::*;
    use crate::model::{VendorAccount, VendorService};

    fn mapping(vendor: &str, account_id: &str, how: MappedBy) -> AccountMapping {
        AccountMapping {
            vendor: vendor.to_string(),
            account_id: account_id.to_string(),
            account_name: format!("Account {account_id}"),
            company_id: 100 + account_id.len() as i64,
            company_name: format!("Company {account_id}"),
            agreement_id: None,
            agreement_name: None,
            how,
        }
    }

    #[test]
    fn account_mappings_upsert_list_and_remove() {
        let mut store = Store::open_in_memory().expect("open");
        let many: Vec<AccountMapping> =
            (0..300).map(|i| mapping("nodeware", &format!("acct-{i:03}"), MappedBy::Auto)).collect();
        store.set_account_mappings(&many, at(1, 9)).expect("many");
        store.set_account_mapping(&mapping("huntress", "h1", MappedBy::Manual), at(1, 9)).expect("one");

        let mut manual = mapping("nodeware", "acct-007", MappedBy::Manual);
        manual.agreement_id = Some(9);
        manual.agreement_name = Some("MSA".to_string());
        store.set_account_mapping(&manual, at(2, 9)).expect("replace");

        let nodeware = store.account_mappings(Some("nodeware")).expect("list");
        assert_eq!(nodeware.len(), 300);
        assert_eq!(nodeware[7], manual);
        let all = store.account_mappings(None).expect("all");
        assert_eq!(all.len(), 301);
        assert_eq!(all[0].vendor, "huntress");

        assert_eq!(store.unmap_account("nodeware", "acct-007", at(3, 9)).expect("rm"), Some(manual.clone()));
        assert_eq!(store.unmap_account("nodeware", "acct-007", at(3, 9)).expect("rm"), None);
        assert_eq!(store.account_mappings(Some("nodeware")).expect("list").len(), 299);
        // The unmapped pair is remembered, until the same pair is mapped again.
        let pair = ("acct-007".to_string(), manual.company_id);
        assert!(store.refused_pairs("nodeware").expect("refused").contains(&pair));
        assert!(store.refused_pairs("huntress").expect("refused").is_empty());
        store.set_account_mapping(&manual, at(4, 9)).expect("map again");
        assert!(store.refused_pairs("nodeware").expect("refused").is_empty());
    }

    #[test]
    fn service_mappings_upsert_and_counts() {
        let mut store = Store::open_in_memory().expect("open");
        store
            .replace_accounts(
                "nodeware",
                &[
                    VendorAccount {
                        id: "1".into(),
                        name: "A".into(),
                        status: None,
                        raw: serde_json::Value::Null,
                    },
                    VendorAccount {
                        id: "2".into(),
                        name: "B".into(),
                        status: None,
                        raw: serde_json::json!([1, 2]),
                    },
                ],
                at(1, 9),
            )
            .expect("accounts");
        store
            .replace_services("nodeware", &[VendorService { key: "assets".into(), name: "Assets".into() }])
            .expect("services");
        let m = ServiceMapping {
            vendor: "nodeware".into(),
            service_key: "assets".into(),
            product_id: 1,
            product_identifier: "OLD".into(),
            minimum: Some(5),
            bill_customer: Some(crate::model::BillCustomer::NoCharge),
            committed_decreases: true,
            classes: None,
            included: None,
        };
        store.set_service_mapping(&m, false, at(1, 9)).expect("map");
        let m2 = ServiceMapping { product_id: 2, product_identifier: "NEW".into(), ..m };
        store.set_service_mapping(&m2, false, at(1, 10)).expect("remap");
        assert_eq!(store.service_mappings(None).expect("list"), vec![m2]);
        store
            .set_account_mapping(&mapping("nodeware", "2", MappedBy::Manual), at(1, 9))
            .expect("map account");
        assert_eq!(
            store.mapping_counts("nodeware").expect("counts"),
            MappingCounts { accounts: 2, accounts_mapped: 1, services: 1, services_mapped: 1 }
        );
        assert_eq!(store.mapping_counts("absent").expect("counts"), MappingCounts::default());
    }
}
