//! Identity and liveness of the processes that run jobs.
//!
//! Each engine instance holds an exclusive OS lock on
//! `<data dir>/runners/<runner id>.lock` for as long as it lives. The OS drops
//! the lock when the process ends, even on `kill -9` or a crash, so another
//! process can tell a live owner from a dead one without heartbeats and
//! without trusting process ids, which the OS reuses.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// The lock that marks this process as the live owner of its jobs.
#[derive(Debug)]
pub struct RunnerLock {
    id: String,
    path: PathBuf,
    file: File,
}

impl RunnerLock {
    /// Creates a new runner id and takes its lock.
    pub fn acquire(data_dir: &Path) -> io::Result<Self> {
        let dir = data_dir.join("runners");
        std::fs::create_dir_all(&dir)?;
        remove_dead_locks(&dir);
        let id = uuid::Uuid::now_v7().simple().to_string();
        let path = dir.join(format!("{id}.lock"));
        // The file is locked under another name and then renamed, so a
        // `.lock` file is never seen unlocked while its runner is alive.
        let staging = dir.join(format!("{id}.lock.new"));
        let file = OpenOptions::new().create(true).truncate(true).write(true).open(&staging)?;
        file.lock()?;
        std::fs::rename(&staging, &path)?;
        Ok(Self { id, path, file })
    }

    /// Returns this runner's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for RunnerLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Deletes the lock files of runners that ended without removing theirs
/// (a process that exits while tasks still hold the engine never drops it).
/// A file whose lock can be taken belongs to no live process.
fn remove_dead_locks(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "lock") {
            continue;
        }
        if let Ok(file) = OpenOptions::new().write(true).open(&path)
            && file.try_lock().is_ok()
        {
            let _ = std::fs::remove_file(&path);
            let _ = file.unlock();
        }
    }
}

/// Returns whether the runner `id` is still alive, that is, still holds its
/// lock. A runner whose lock file is gone, or whose lock can be taken, is
/// dead; its stale lock file is removed.
pub fn is_alive(data_dir: &Path, id: &str) -> bool {
    if id.contains(['/', '\\', '.']) {
        return false;
    }
    let path = data_dir.join("runners").join(format!("{id}.lock"));
    let Ok(file) = OpenOptions::new().write(true).open(&path) else {
        return false;
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            let _ = std::fs::remove_file(&path);
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(err)) => {
            tracing::warn!(runner_id = id, error = %err, "cannot check runner lock; assuming it is alive");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_lock_is_alive_and_dropped_is_dead() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunnerLock::acquire(dir.path()).unwrap();
        let id = lock.id().to_string();
        assert!(is_alive(dir.path(), &id));
        drop(lock);
        assert!(!is_alive(dir.path(), &id));
    }

    #[test]
    fn acquire_removes_dead_lock_files() {
        let dir = tempfile::tempdir().unwrap();
        let runners = dir.path().join("runners");
        std::fs::create_dir_all(&runners).unwrap();
        std::fs::write(runners.join("0123abcd.lock"), b"").unwrap();
        let live = RunnerLock::acquire(dir.path()).unwrap();
        let other = RunnerLock::acquire(dir.path()).unwrap();
        assert!(!runners.join("0123abcd.lock").exists());
        assert!(is_alive(dir.path(), live.id()), "a live runner's lock was removed");
        assert!(is_alive(dir.path(), other.id()));
    }

    #[test]
    fn unknown_runner_is_dead() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_alive(dir.path(), "0123456789abcdef"));
        assert!(!is_alive(dir.path(), "../etc"));
    }
}
