//! When each write leaves: a second connection to the database file, shared by the threads
//! of a push, so that a change is marked sent on disk (committed) before its request goes
//! out. A run a killed process left is then settled knowing which writes may have reached the
//! PSA (and until when one may still land), and which never left.

use super::{Fault, Store, StoreError, stamp};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use std::sync::Mutex;

/// Marks changes sent. `None` inside for a database in memory, which no other process can
/// settle: marking is then a no-op.
#[derive(Debug)]
pub struct SentMarks {
    conn: Option<Mutex<Connection>>,
    path: String,
}

impl Store {
    /// A connection for marking this run's writes sent from the threads that send them.
    pub fn sent_marks(&self) -> Result<SentMarks, StoreError> {
        let conn = self.side_connection("open a second connection to mark writes sent")?;
        Ok(SentMarks { conn: conn.map(Mutex::new), path: self.path.clone() })
    }

    /// Another connection to this database's file (`None` for one in memory, which no other
    /// connection sees): for what is written from other threads, each write committed alone.
    pub(super) fn side_connection(&self, doing: &str) -> Result<Option<Connection>, StoreError> {
        let Some(file) = self.conn.path().filter(|p| !p.is_empty()) else { return Ok(None) };
        let open = || -> Result<Connection, rusqlite::Error> {
            let conn = Connection::open(file)?;
            conn.busy_timeout(super::BUSY_TIMEOUT)?;
            Ok(conn)
        };
        open().map(Some).map_err(|e| Fault::Sql(e).into_error(doing, &self.path))
    }
}

impl SentMarks {
    /// Record that change `change_id`'s write is handed to the network now.
    pub fn mark(&self, change_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let Some(conn) = &self.conn else { return Ok(()) };
        let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        conn.execute("UPDATE changes SET sent_at = ?2 WHERE id = ?1", params![change_id, stamp(now)])
            .map(drop)
            .map_err(|e| Fault::Sql(e).into_error(&format!("mark change {change_id} sent"), &self.path))
    }
}
