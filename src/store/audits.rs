//! Each `recon audit` of a month (`audits`): what the report page shows of vendor invoices
//! beside billing, the latest audit of each month.

use super::{Fault, Store, StoreError, parse_time, stamp};
use crate::audit::{Row, Totals};
use crate::period::Period;
use chrono::{DateTime, Utc};
use rusqlite::params;

/// One audit as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub period: Period,
    pub audited_at: DateTime<Utc>,
    /// The vendors audited, and those that could not be (not available, failed).
    pub vendors: Vec<(String, String)>,
    pub totals: Totals,
    pub rows: Vec<Row>,
}

impl Store {
    pub fn record_audit(&mut self, audit: &AuditRecord) -> Result<(), StoreError> {
        self.write(&format!("record the audit of {}", audit.period), |tx| {
            let json =
                |v: serde_json::Result<String>| v.map_err(|e| Fault::corrupt("an audit", e.to_string()));
            let vendors = json(serde_json::to_string(&audit.vendors))?;
            let totals = json(serde_json::to_string(&audit.totals))?;
            let rows = json(serde_json::to_string(&audit.rows))?;
            tx.execute(
                "INSERT INTO audits (period, audited_at, vendors, totals, rows) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![audit.period.to_string(), stamp(audit.audited_at), vendors, totals, rows],
            )?;
            Ok(())
        })
    }

    /// The latest audit of each of the `months` most recent months audited, newest first.
    pub fn latest_audits(&self, months: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.read("read the audits", |conn| {
            let mut stmt = conn.prepare(
                "SELECT period, audited_at, vendors, totals, rows FROM audits a \
                 WHERE id = (SELECT MAX(id) FROM audits b WHERE b.period = a.period) \
                 ORDER BY period DESC LIMIT ?1",
            )?;
            let found = stmt.query_map([months as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in found {
                let (period, at, vendors, totals, rows) = row?;
                let bad = |e: serde_json::Error| Fault::corrupt("an audit", e.to_string());
                out.push(AuditRecord {
                    period: period
                        .parse()
                        .map_err(|e| Fault::corrupt("an audit's period", format!("{e}")))?,
                    audited_at: parse_time("audited_at", &at)?,
                    vendors: serde_json::from_str(&vendors).map_err(bad)?,
                    totals: serde_json::from_str(&totals).map_err(bad)?,
                    rows: serde_json::from_str(&rows).map_err(bad)?,
                });
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn the_latest_audit_of_each_month_newest_month_first() {
        let mut store = Store::open_in_memory().unwrap();
        let audit = |month: u32, leak: i64| AuditRecord {
            period: Period { year: 2026, month },
            audited_at: Utc::now(),
            vendors: vec![("pax8".into(), "audited".into())],
            totals: Totals { leak: Decimal::from(leak), ..Totals::default() },
            rows: Vec::new(),
        };
        for (month, leak) in [(10, 5), (11, 40), (11, 30), (9, 7)] {
            store.record_audit(&audit(month, leak)).unwrap();
        }
        let got: Vec<(u32, Decimal)> =
            store.latest_audits(2).unwrap().iter().map(|a| (a.period.month, a.totals.leak)).collect();
        assert_eq!(got, vec![(11, Decimal::from(30)), (10, Decimal::from(5))]);
    }
}
