//! The requests sent to a service with an hourly budget, by every recon process on this
//! database (`http::HourLog`): its own connection, so the HTTP threads count each request as
//! it leaves, and a later process sees what an earlier one spent.

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};
use std::sync::Mutex;

#[derive(Debug)]
pub struct RequestLog {
    conn: Mutex<Connection>,
}

impl Store {
    /// The requests log of this database, on a connection of its own (`None` in memory:
    /// no other process would see it).
    pub fn request_log(&self) -> Result<Option<RequestLog>, StoreError> {
        let conn = self.side_connection("open a second connection to count requests")?;
        Ok(conn.map(|conn| RequestLog { conn: Mutex::new(conn) }))
    }
}

impl RequestLog {
    fn sent_in_hour(
        conn: &Connection,
        service: &str,
        now: DateTime<Utc>,
    ) -> rusqlite::Result<Vec<DateTime<Utc>>> {
        let mut stmt = conn.prepare_cached(
            "SELECT sent_at_ms FROM psa_requests WHERE service = ?1 AND sent_at_ms > ?2 ORDER BY sent_at_ms",
        )?;
        let rows = stmt.query_map(params![service, hour_ago(now)], |r| r.get::<_, i64>(0))?;
        let mut out = Vec::new();
        for ms in rows {
            if let Some(t) = DateTime::from_timestamp_millis(ms?) {
                out.push(t);
            }
        }
        Ok(out)
    }
}

fn hour_ago(now: DateTime<Utc>) -> i64 {
    (now - chrono::Duration::hours(1)).timestamp_millis()
}

impl crate::http::HourLog for RequestLog {
    fn take(
        &self,
        service: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<DateTime<Utc>>>, String> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut run = || -> rusqlite::Result<Option<Vec<DateTime<Utc>>>> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM psa_requests WHERE service = ?1 AND sent_at_ms <= ?2",
                params![service, hour_ago(now)],
            )?;
            let sent = RequestLog::sent_in_hour(&tx, service, now)?;
            let out = if sent.len() < limit as usize {
                tx.execute(
                    "INSERT INTO psa_requests (service, sent_at_ms) VALUES (?1, ?2)",
                    params![service, now.timestamp_millis()],
                )?;
                None
            } else {
                Some(sent)
            };
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e| format!("counting a request to {service} in the database: {e}"))
    }

    fn sent(&self, service: &str, now: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>, String> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        RequestLog::sent_in_hour(&conn, service, now)
            .map_err(|e| format!("reading the requests sent to {service}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HourLog;

    #[test]
    fn two_processes_share_one_hour_and_old_requests_fall_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recon.db");
        let log = || Store::open(&path).unwrap().request_log().unwrap().unwrap();
        let (first, second) = (log(), log());
        let t0 = DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z").unwrap().to_utc();
        let at = |seconds: i64| t0 + chrono::Duration::seconds(seconds);

        assert_eq!(first.take("autotask", 3, at(0)).unwrap(), None);
        assert_eq!(second.take("autotask", 3, at(1)).unwrap(), None);
        assert_eq!(first.take("autotask", 3, at(2)).unwrap(), None);
        // The fourth in the hour is refused, whichever process asks, and is not counted.
        assert_eq!(second.take("autotask", 3, at(3)).unwrap(), Some(vec![at(0), at(1), at(2)]));
        assert_eq!(first.sent("autotask", at(3)).unwrap().len(), 3);
        // Another service has its own hour.
        assert_eq!(first.take("other", 3, at(3)).unwrap(), None);
        // An hour after the first, one is free again; a sub-second later time sorts as later.
        assert_eq!(first.take("autotask", 3, at(3600)).unwrap(), None);
        let half_past = at(3600) + chrono::Duration::milliseconds(500);
        assert_eq!(second.take("autotask", 3, half_past).unwrap(), Some(vec![at(1), at(2), at(3600)]));
    }
}
