//! One run at a time per database: a lock file next to it, holding the owner's pid. A lock
//! whose process is gone (killed, crashed) is stale and taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another recon holds the lock {} (pid {pid}, `recon {command}`, since {since}); \
         wait for it to finish",
        path.display()
    )]
    Held { path: PathBuf, pid: u32, command: String, since: String },
    #[error("cannot take the lock {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// Held until dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    /// Take the lock for the database at `db`, as `command` (shown to whoever waits).
    pub fn acquire(db: &Path, command: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Lock, LockError> {
        let path = lock_path(db);
        let io = |source| LockError::Io { path: path.clone(), source };
        let content = format!("pid={}\ncommand={command}\nsince={}\n", std::process::id(), now.to_rfc3339());
        // Two tries: the second after removing a stale lock.
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(content.as_bytes()).map_err(io)?;
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let field = |name: &str| {
                        holder
                            .lines()
                            .find_map(|l| l.strip_prefix(&format!("{name}=")))
                            .unwrap_or("?")
                            .to_string()
                    };
                    let pid: Option<u32> = field("pid").parse().ok();
                    match pid {
                        Some(pid) if process_alive(pid) => {
                            return Err(LockError::Held {
                                path: path.clone(),
                                pid,
                                command: field("command"),
                                since: field("since"),
                            });
                        }
                        _ => {
                            tracing::warn!(
                                "taking over a stale lock {} (pid {} is gone)",
                                path.display(),
                                field("pid")
                            );
                            std::fs::remove_file(&path).or_else(ignore_not_found).map_err(io)?;
                        }
                    }
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(io(std::io::Error::other("the lock was taken by another process while recovering a stale one")))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    db.with_file_name(name)
}

fn ignore_not_found(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }
}

/// Whether a process with this pid is running. On Linux, /proc tells; elsewhere assume it
/// is (a stale lock then needs removing by hand, which the error message shows).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    if proc.join("self").exists() { proc.join(pid.to_string()).exists() } else { true }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("recon.db");
        let now = chrono::Utc::now();
        let lock = Lock::acquire(&db, "sync", now).unwrap();
        let err = Lock::acquire(&db, "sync", now).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())) && text.contains("`recon sync`"),
            "{text}"
        );
        drop(lock);
        assert!(!lock_path(&db).exists());
        Lock::acquire(&db, "sync", now).unwrap();
    }

    #[test]
    fn a_stale_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("recon.db");
        // A pid far above any real one on this machine.
        std::fs::write(lock_path(&db), "pid=4000000000\ncommand=sync\nsince=then\n").unwrap();
        let lock = Lock::acquire(&db, "sync", chrono::Utc::now()).unwrap();
        let content = std::fs::read_to_string(lock_path(&db)).unwrap();
        assert!(content.contains(&format!("pid={}", std::process::id())));
        drop(lock);
    }
}
