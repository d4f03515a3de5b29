//! The SQLite store: the only place in recon where a `rusqlite::Connection` is opened.
//!
//! One file, WAL, a 5 s busy timeout, foreign keys on, migrations on open (`migrations.rs`).
//! Every write runs inside one IMMEDIATE transaction; the write helpers take that open
//! transaction (or any `&Connection`) so several of them compose into one.
//! Nothing here reads the clock: every function that stamps a time takes `now`.
//!
//! - `vendors.rs`: vendor lifecycle, the vendor's accounts and services
//! - `mappings.rs`: account and service mappings, mapping counts
//! - `ledger.rs`: runs and the changes recorded for each
//! - `sent.rs`: a second connection marking writes sent from the threads that send them
//! - `requests.rs`: the requests sent to a service with an hourly budget, across processes

mod audits;
mod documents;
mod ledger;
pub mod lock;
mod mappings;
mod migrations;
mod requests;
mod sent;
mod status;
mod vendors;

pub use audits::AuditRecord;
pub use documents::DocumentVersion;
pub use ledger::{ChangeRecord, RunRecord};
pub use lock::{Lock, LockError};
pub use requests::RequestLog;
pub use sent::SentMarks;
pub use status::MappingCounts;
pub use vendors::{AccountChanges, VendorRecord};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a statement waits for another process (another recon, `sqlite3`) to let go.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not create {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error(
        "the database or its folder is read-only or not yours (SQLite also writes {path}-wal and \
         -shm beside {path}); make the folder writable, or choose another place with --db or \
         [database] path"
    )]
    NotWritable { path: String },
    #[error("could not {doing} in {path}: {source}")]
    Sqlite { doing: String, path: String, source: rusqlite::Error },
    #[error(
        "{path} has schema version {found}, but this recon knows versions up to {known}: \
         it was written by a newer recon; upgrade recon or point --db at another file"
    )]
    TooNew { path: String, found: i64, known: i64 },
    #[error("could not {doing} in {path}: corrupt {what}: {detail}")]
    Corrupt { doing: String, path: String, what: String, detail: String },
    #[error("could not {doing} in {path}: no {what}")]
    Missing { doing: String, path: String, what: String },
}

/// What went wrong inside a query, before the public function adds what it was doing and
/// which file it was doing it in.
#[derive(Debug)]
enum Fault {
    Sql(rusqlite::Error),
    Corrupt { what: String, detail: String },
    Missing(String),
}

impl From<rusqlite::Error> for Fault {
    fn from(e: rusqlite::Error) -> Fault {
        Fault::Sql(e)
    }
}

impl Fault {
    fn corrupt(what: impl Into<String>, detail: impl ToString) -> Fault {
        Fault::Corrupt { what: what.into(), detail: detail.to_string() }
    }

    fn into_error(self, doing: &str, path: &str) -> StoreError {
        let doing = doing.to_string();
        let path = path.to_string();
        match self {
            Fault::Sql(source) => StoreError::Sqlite { doing, path, source },
            Fault::Corrupt { what, detail } => StoreError::Corrupt { doing, path, what, detail },
            Fault::Missing(what) => StoreError::Missing { doing, path, what },
        }
    }
}

/// The recon database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// For messages: the file's path, or `:memory:`.
    path: String,
}

impl Store {
    /// Open (creating when absent) the database at `path` and bring its schema up to date.
    /// Missing folders are created 0700 and a new file 0600 (on unix); SQLite gives the
    /// `-wal` and `-shm` files the database file's mode.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let label = path.display().to_string();
        let not_writable = || StoreError::NotWritable { path: label.clone() };
        create_private(path).map_err(|e| match e {
            StoreError::Create { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                not_writable()
            }
            other => other,
        })?;
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            doing: "open the database".to_string(),
            path: label.clone(),
            source,
        })?;
        Store::setup(conn, label.clone()).map_err(|e| if read_only(&e) { not_writable() } else { e })
    }

    /// A private database in memory: for tests, and to read before any database exists.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let label = ":memory:".to_string();
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite {
            doing: "open the database".to_string(),
            path: label.clone(),
            source,
        })?;
        Store::setup(conn, label)
    }

    fn setup(conn: Connection, path: String) -> Result<Store, StoreError> {
        let mut store = Store { conn, path };
        store.read("configure the connection", |conn| {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            // An in-memory database answers "memory"; a file answers "wal".
            let _mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            conn.pragma_update(None, "foreign_keys", true)?;
            Ok(())
        })?;
        store.migrate()?;
        Ok(store)
    }

    /// Apply the migration steps this database has not seen yet, each in its own IMMEDIATE
    /// transaction together with the `user_version` bump, re-reading the version inside the
    /// transaction so two recons opening one file at once do not apply a step twice.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = migrations::MIGRATIONS.len() as i64;
        let path = self.path.clone();
        let too_new = |found: i64| StoreError::TooNew { path: path.clone(), found, known };
        let found = self.read("read the schema version", |conn| Ok(user_version(conn)?))?;
        if found > known {
            return Err(too_new(found));
        }
        for (index, sql) in migrations::MIGRATIONS.iter().enumerate() {
            let target = index as i64 + 1;
            if target <= found {
                continue;
            }
            let doing = format!("migrate the schema to version {target}");
            let seen = self.write(&doing, |tx| {
                let current = user_version(tx)?;
                if current < target {
                    tx.execute_batch(sql)?;
                    tx.pragma_update(None, "user_version", target)?;
                }
                Ok(current)
            })?;
            if seen > known {
                return Err(too_new(seen));
            }
        }
        Ok(())
    }

    /// Run `f` on the connection; name what it was doing if it fails.
    fn read<T>(&self, doing: &str, f: impl FnOnce(&Connection) -> Result<T, Fault>) -> Result<T, StoreError> {
        f(&self.conn).map_err(|e| e.into_error(doing, &self.path))
    }

    /// Run `f` inside one IMMEDIATE transaction (the write lock is taken up front, so a
    /// busy database waits at `BEGIN` instead of failing at the first write), and commit.
    /// Any error rolls the whole transaction back.
    fn write<T>(
        &mut self,
        doing: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Fault>,
    ) -> Result<T, StoreError> {
        let conn = &mut self.conn;
        let run = move || -> Result<T, Fault> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e| e.into_error(doing, &self.path))
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Create the parent folders (0700) and the file itself (0600) before SQLite sees it, so
/// the database is never readable by others, not even for a moment.
/// Whether SQLite refused because the file or its folder cannot be written (it opens the
/// file, then needs the folder for its -wal and -shm files).
fn read_only(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Sqlite { source: rusqlite::Error::SqliteFailure(f, _), .. }
            if matches!(f.code, rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    )
}

fn create_private(path: &Path) -> Result<(), StoreError> {
    let create_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Create { path, source }
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        crate::private_files::create_dir(parent).map_err(create_err(parent))?;
    }
    // `append` opens for writing without truncating an existing database.
    crate::private_files::options().append(true).open(path).map_err(create_err(path))?;
    Ok(())
}

/// Times are stored as RFC 3339 UTC text, keeping every digit of precision given.
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_time(what: &str, text: &str) -> Result<DateTime<Utc>, Fault> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Fault::corrupt(what, format!("`{text}`: {e}")))
}

fn parse_time_opt(what: &str, text: Option<String>) -> Result<Option<DateTime<Utc>>, Fault> {
    text.map(|t| parse_time(what, &t)).transpose()
}

#[cfg(test)]
#[allow(clippy::expect_used)] // a failed expectation is the test failing
mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(super) fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, day, hour, 0, 0).single().expect("valid test time")
    }

    #[test]
    fn in_memory_store_is_migrated() {
        let store = Store::open_in_memory().expect("open");
        let v = user_version(&store.conn).expect("version");
        assert_eq!(v, migrations::MIGRATIONS.len() as i64);
    }

    #[test]
    fn file_store_is_wal_with_foreign_keys_and_reopens_idempotently() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let path = dir.path().join("nested/deeper/recon.db");
        {
            let mut store = Store::open(&path).expect("first open");
            store.mark_connected("nodeware", at(1, 9)).expect("write something");
            let mode: String =
                store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("journal mode");
            assert_eq!(mode, "wal");
            let fk: i64 = store.conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).expect("fk");
            assert_eq!(fk, 1);
        }
        for _ in 0..2 {
            let store = Store::open(&path).expect("reopen");
            assert_eq!(user_version(&store.conn).expect("version"), migrations::MIGRATIONS.len() as i64);
            let v = store.vendor("nodeware").expect("read").expect("kept");
            assert_eq!(v.connected_at, Some(at(1, 9)));
        }
    }

    #[cfg(unix)]
    #[test]
    fn file_is_0600_and_new_folders_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::TempDir::new().expect("tempdir");
        let folder = dir.path().join("data");
        let path = folder.join("recon.db");
        let _store = Store::open(&path).expect("open");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&folder), 0o700);
        // The migrations wrote through the WAL, which SQLite created with the file's mode.
        assert_eq!(mode(&folder.join("recon.db-wal")), 0o600);
    }

    #[test]
    fn newer_schema_is_refused_naming_file_and_versions() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let path = dir.path().join("recon.db");
        let known = migrations::MIGRATIONS.len() as i64;
        {
            let store = Store::open(&path).expect("open");
            store.conn.pragma_update(None, "user_version", known + 7).expect("bump");
        }
        let err = Store::open(&path).expect_err("must refuse");
        match &err {
            StoreError::TooNew { found, known: k, .. } => {
                assert_eq!(*found, known + 7);
                assert_eq!(*k, known);
            }
            other => panic!("wrong error: {other}"),
        }
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(&(known + 7).to_string()), "{text}");
        assert!(text.contains(&known.to_string()), "{text}");
    }

    #[test]
    fn errors_name_what_and_where() {
        let mut store = Store::open_in_memory().expect("open");
        let err = store
            .set_change_state(42, crate::plan::ChangeState::Applied, None, None, at(1, 9))
            .expect_err("no such change");
        let text = err.to_string();
        assert!(text.contains(":memory:"), "{text}");
        assert!(text.contains("change 42"), "{text}");
    }
}
