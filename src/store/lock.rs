//! One run at a time per database: an OS advisory lock (`flock` on Unix, `LockFileEx` on
//! Windows) on a file next to it. The OS releases it when the process ends, however it
//! ends, so a killed run never leaves a stale lock and there is no window between "is it
//! free?" and "take it". The file also holds the holder's pid, command and start time, for
//! the message a second run shows.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another recon holds the lock {} (pid {pid}, `recon {command}`, since {since}); \
         wait for it to finish",
        path.display()
    )]
    Held { path: PathBuf, pid: String, command: String, since: String },
    #[error("cannot take the lock {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// Held until dropped (or until the process ends).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Take the lock for the database at `db`, as `command` (shown to whoever waits).
    pub fn acquire(db: &Path, command: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Lock, LockError> {
        let path = lock_path(db);
        let io = |source| LockError::Io { path: path.clone(), source };
        let mut file =
            crate::private_files::options().read(true).write(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let field = |name: &str| {
                    holder
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}=")))
                        .unwrap_or("?")
                        .to_string()
                };
                return Err(LockError::Held {
                    path: path.clone(),
                    pid: field("pid"),
                    command: field("command"),
                    since: field("since"),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let content = format!("pid={}\ncommand={command}\nsince={}\n", std::process::id(), now.to_rfc3339());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(content.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(io)?;
        Ok(Lock { _file: file })
    }
}

pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    db.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_free_again_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("recon.db");
        let now = chrono::Utc::now();
        let lock = Lock::acquire(&db, "sync", now).unwrap();
        let err = Lock::acquire(&db, "approve", now).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())) && text.contains("`recon sync`"),
            "{text}"
        );
        drop(lock);
        let again = Lock::acquire(&db, "approve", now).unwrap();
        let content = std::fs::read_to_string(lock_path(&db)).unwrap();
        assert!(content.contains("command=approve\n") && !content.contains("sync"), "{content}");
        drop(again);
    }

    #[test]
    fn a_lock_file_left_behind_without_a_lock_is_simply_taken() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("recon.db");
        // What a killed process leaves: the file, but no lock (the OS released it).
        std::fs::write(lock_path(&db), "pid=4000000000\ncommand=sync\nsince=then\nand more text\n").unwrap();
        let lock = Lock::acquire(&db, "sync", chrono::Utc::now()).unwrap();
        let content = std::fs::read_to_string(lock_path(&db)).unwrap();
        assert!(content.starts_with(&format!("pid={}\n", std::process::id())), "{content}");
        assert!(!content.contains("more text"), "{content}");
        drop(lock);
    }
}
