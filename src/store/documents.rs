//! Every version of the documents vendors issued for a month (`vendor_documents`): a
//! document read again unchanged is the row already there; a re-issued, credited or voided
//! one is a new row beside the first, so the history of what a vendor billed stays.

use super::{Fault, Store, StoreError, parse_time, stamp};
use crate::model::Document;
use crate::period::Period;
use chrono::{DateTime, Utc};
use rusqlite::params;

/// One stored version of a document, with when recon first read it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentVersion {
    pub document: Document,
    pub first_seen: DateTime<Utc>,
}

impl Store {
    /// Keep the documents `vendor` gave for `period`; returns how many were new versions.
    pub fn record_documents(
        &mut self,
        vendor: &str,
        period: Period,
        documents: &[Document],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.write(&format!("record the documents of vendor {vendor} for {period}"), |tx| {
            let mut stmt = tx.prepare(
                "INSERT OR IGNORE INTO vendor_documents (vendor, period, document_id, status, void, body, first_seen) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut added = 0;
            for d in documents {
                let body = serde_json::to_string(d)
                    .map_err(|e| Fault::corrupt("a vendor document", e.to_string()))?;
                added += stmt.execute(params![
                    vendor,
                    period.to_string(),
                    d.id,
                    d.status,
                    d.void,
                    body,
                    stamp(now)
                ])?;
            }
            Ok(added)
        })
    }

    /// Every version kept of `vendor`'s documents for `period`, oldest first.
    pub fn documents(&self, vendor: &str, period: Period) -> Result<Vec<DocumentVersion>, StoreError> {
        self.read(&format!("read the documents of vendor {vendor} for {period}"), |conn| {
            let mut stmt = conn.prepare(
                "SELECT body, first_seen FROM vendor_documents WHERE vendor = ?1 AND period = ?2 \
                 ORDER BY first_seen, document_id",
            )?;
            let rows = stmt.query_map(params![vendor, period.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (body, seen) = row?;
                let document = serde_json::from_str(&body)
                    .map_err(|e| Fault::corrupt("a vendor document", format!("{e}")))?;
                out.push(DocumentVersion { document, first_seen: parse_time("first_seen", &seen)? });
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DocumentLine;
    use rust_decimal::Decimal;

    fn doc(id: &str, quantity: i64, void: bool) -> Document {
        Document {
            id: id.into(),
            issued: None,
            status: Some(if void { "Void" } else { "Paid" }.into()),
            void,
            credit_note: false,
            total: None,
            currency: None,
            lines: vec![DocumentLine {
                account_id: "c1".into(),
                account_name: None,
                service_key: "m365".into(),
                service_name: None,
                quantity: Decimal::from(quantity),
                amount: None,
            }],
        }
    }

    #[test]
    fn a_document_read_again_is_kept_once_and_a_new_version_beside_it() {
        let mut store = Store::open_in_memory().unwrap();
        let period = Period { year: 2026, month: 11 };
        let now = Utc::now();
        assert_eq!(store.record_documents("pax8", period, &[doc("i1", 10, false)], now).unwrap(), 1);
        assert_eq!(store.record_documents("pax8", period, &[doc("i1", 10, false)], now).unwrap(), 0);
        let reissued = [doc("i1", 10, true), doc("i2", 9, false)];
        assert_eq!(store.record_documents("pax8", period, &reissued, now).unwrap(), 2);
        let kept: Vec<(String, bool)> = store
            .documents("pax8", period)
            .unwrap()
            .into_iter()
            .map(|v| (v.document.id, v.document.void))
            .collect();
        assert_eq!(kept, vec![("i1".into(), false), ("i1".into(), true), ("i2".into(), false)]);
        assert!(store.documents("pax8", period.previous()).unwrap().is_empty());
    }
}
