//! File locks: a claim on a job is an exclusive `flock` (through `fs2`) on a lock file inside the
//! job's folder, held as a guard value; dropping the guard releases it.
//!
//! **What the OS promises.** The lock belongs to the open file, so it dies with the process: a
//! worker killed with SIGKILL frees its job at once, with no stale timeout. Nothing refreshes the
//! lock, so a blocked event loop cannot lose it.
//!
//! **What it does not.** Locks are advisory: a process that writes the files without taking the
//! lock (1.2.0, a text editor) is not stopped. On NFS, `flock` is emulated with per-process
//! `fcntl` locks, so two claims in one process would not exclude each other; an in-process
//! table of held lock files closes that gap. A lock server that loses its state can drop a lock
//! silently; [`FileLock::lost`] notices the cases a process can see (file removed or replaced,
//! lock no longer re-assertable).
//!
//! Lock files are never deleted while their job exists: deleting a lock file that someone holds
//! lets the next locker create a fresh file and "win" a second lock.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use fs2::FileExt;

use crate::error::{Code, Result, StoreError};

/// Lock files held by this process, across every store in it.
static HELD: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// An exclusive lock on one lock file. Released on drop.
#[derive(Debug)]
pub struct FileLock {
  file: File,
  path: PathBuf,
  /// The file locked, for claims, to tell later whether the path still names it.
  identity: Option<Identity>,
}

/// Why a held lock is no longer worth anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loss {
  /// The lock file or the job's folder is gone.
  Removed,
  /// The lock file was replaced by another file.
  Replaced,
  /// The OS no longer grants the lock (seen on network filesystems).
  Revoked(String),
}

impl std::fmt::Display for Loss {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match self {
      Loss::Removed => f.write_str("its lock file or job folder was removed"),
      Loss::Replaced => f.write_str("its lock file was replaced"),
      Loss::Revoked(why) => write!(f, "the OS no longer grants the lock ({why})"),
    }
  }
}

/// Outcome of a claim attempt that never waits.
pub enum Claim {
  Acquired(FileLock),
  /// Someone (this process or another) holds it.
  Busy,
  /// The job's folder does not exist (removed, or a create still in flight).
  Missing,
}

impl FileLock {
  /// Takes the lock at `path` if it is free right now; never waits. The lock is checked to
  /// still guard the file at `path`, and can later be asked whether it was [lost](Self::lost).
  pub fn try_claim(path: &Path) -> Result<Claim> {
    Self::try_lock(path, true)
  }

  fn try_lock(path: &Path, verify: bool) -> Result<Claim> {
    if !HELD.lock().unwrap().insert(path.to_path_buf()) {
      return Ok(Claim::Busy);
    }
    // From here the table entry is ours; every exit that does not return a lock removes it.
    let attempt = Self::flock_file(path, verify);
    match attempt {
      Ok(Some(lock)) => Ok(Claim::Acquired(lock)),
      Ok(None) => {
        unregister(path);
        Ok(Claim::Busy)
      }
      // No folder there, or a file where the job's folder should be: nothing to lock.
      Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(20) => {
        unregister(path);
        Ok(Claim::Missing)
      }
      Err(e) => {
        unregister(path);
        Err(StoreError::io(&e, "lock", path))
      }
    }
  }

  /// Takes the lock at `path`, waiting at most `bound` for its holder to let go. Meant for short
  /// critical sections; a lock still held after `bound` fails with `ELOCKED`. Unlike a claim it
  /// is not checked against the path: whoever removes a job holds this lock while moving the
  /// folder away, so a late locker finds no job behind it and changes nothing.
  pub fn lock_bounded(path: &Path, bound: Duration) -> Result<FileLock> {
    let deadline = Instant::now() + bound;
    let mut pause = Duration::from_micros(100);
    loop {
      match Self::try_lock(path, false)? {
        Claim::Acquired(lock) => return Ok(lock),
        Claim::Missing => {
          return Err(StoreError::io(
            &io::Error::from(io::ErrorKind::NotFound),
            "lock",
            path,
          ))
        }
        Claim::Busy if Instant::now() >= deadline => {
          return Err(
            StoreError::new(
              Code::Locked,
              format!(
                "'{}' stayed locked for more than {} ms; another process may be stuck holding it, try again",
                path.display(),
                bound.as_millis()
              ),
            )
            .with_path(path),
          )
        }
        Claim::Busy => {
          std::thread::sleep(pause);
          pause = (pause * 2).min(Duration::from_millis(5));
        }
      }
    }
  }

  /// Opens (creating if needed) and locks the file. `Ok(None)` when another holder has it.
  fn flock_file(path: &Path, verify: bool) -> io::Result<Option<FileLock>> {
    // Write access is what NFS needs for an exclusive lock; a read-only store (or file) still
    // locks locally through a read-only handle.
    let file = match OpenOptions::new()
      .read(true)
      .write(true)
      .create(true)
      .truncate(false)
      .open(path)
    {
      Err(e) if matches!(e.raw_os_error(), Some(13 | 30)) => match File::open(path) {
        Ok(file) => file,
        // No lock file yet and none can be made: the write error is the one that explains.
        Err(missing) if missing.kind() == io::ErrorKind::NotFound => return Err(e),
        Err(other) => return Err(other),
      },
      opened => opened?,
    };
    match FileExt::try_lock_exclusive(&file) {
      Ok(()) => {}
      Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
      Err(e) => return Err(e),
    }
    let identity = if verify {
      let identity = Identity::of_file(&file)?;
      // The folder may have been removed between open and lock: then the lock guards nothing.
      if Identity::of_path(path)? != identity {
        return Err(io::Error::from(io::ErrorKind::NotFound));
      }
      Some(identity)
    } else {
      None
    };
    Ok(Some(FileLock {
      file,
      path: path.to_path_buf(),
      identity,
    }))
  }

  /// Checks that this lock still guards its file; `Some` says how it was lost.
  pub fn lost(&self) -> Option<Loss> {
    let identity = self.identity?;
    match Identity::of_path(&self.path) {
      Err(_) => return Some(Loss::Removed),
      Ok(now) if now != identity => return Some(Loss::Replaced),
      Ok(_) => {}
    }
    // Re-asserting a lock we hold is a no-op locally; on NFS it fails once the server dropped it.
    match FileExt::try_lock_exclusive(&self.file) {
      Ok(()) => None,
      Err(e) => Some(Loss::Revoked(e.to_string())),
    }
  }
}

impl Drop for FileLock {
  fn drop(&mut self) {
    let _ = FileExt::unlock(&self.file);
    unregister(&self.path);
  }
}

fn unregister(path: &Path) {
  HELD.lock().unwrap().remove(path);
}

/// Which file a path or handle is: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity(u64, u64);

impl Identity {
  #[cfg(unix)]
  fn from_meta(meta: &fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    Identity(meta.dev(), meta.ino())
  }
  #[cfg(not(unix))]
  fn from_meta(meta: &fs::Metadata) -> Identity {
    // Without inode numbers, creation time is the best stand-in for "the same file".
    let created = meta
      .created()
      .ok()
      .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
      .map_or(0, |d| d.as_nanos() as u64);
    Identity(created, 0)
  }
  fn of_file(file: &File) -> io::Result<Identity> {
    file.metadata().map(|m| Identity::from_meta(&m))
  }
  fn of_path(path: &Path) -> io::Result<Identity> {
    fs::metadata(path).map(|m| Identity::from_meta(&m))
  }
}

/// Which lock files someone holds right now, in any process, seen without taking any lock (so a
/// look never makes a pull skip a job). On Linux this reads `/proc/locks` once; elsewhere each
/// file is probed with a shared lock, released at once.
pub struct HeldLocks {
  #[cfg(target_os = "linux")]
  held: Option<HashSet<(u64, u64, u64)>>,
}

impl HeldLocks {
  pub fn snapshot() -> HeldLocks {
    HeldLocks {
      #[cfg(target_os = "linux")]
      held: fs::read_to_string("/proc/locks")
        .ok()
        .map(|text| parse_proc_locks(&text)),
    }
  }

  /// Whether the lock file at `path` is held. A missing file is not held.
  pub fn is_held(&self, path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    if let Some(held) = &self.held {
      use std::os::unix::fs::MetadataExt;
      return match fs::metadata(path) {
        Ok(meta) => {
          let dev = meta.dev();
          let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
          let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
          held.contains(&(major, minor, meta.ino()))
        }
        Err(_) => false,
      };
    }
    match File::open(path) {
      Ok(file) => match FileExt::try_lock_shared(&file) {
        Ok(()) => {
          let _ = FileExt::unlock(&file);
          false
        }
        Err(_) => true,
      },
      Err(_) => false,
    }
  }
}

/// `/proc/locks` lines look like `1: FLOCK  ADVISORY  WRITE 4242 08:01:123456 0 EOF`; lines of
/// waiters have a `->` after the number. Returns the (major, minor, inode) of each held lock.
#[cfg(target_os = "linux")]
fn parse_proc_locks(text: &str) -> HashSet<(u64, u64, u64)> {
  text
    .lines()
    .filter(|line| !line.contains("->"))
    .filter_map(|line| {
      let file = line.split_whitespace().nth(5)?;
      let mut parts = file.split(':');
      let major = u64::from_str_radix(parts.next()?, 16).ok()?;
      let minor = u64::from_str_radix(parts.next()?, 16).ok()?;
      let inode = parts.next()?.parse().ok()?;
      Some((major, minor, inode))
    })
    .collect()
}

#[cfg(test)]
mod tests {
  use super::*;

  fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lock-test-{}", crate::layout::new_id()));
    fs::create_dir_all(&dir).unwrap();
    dir
  }

  #[test]
  fn held_locks_are_seen_without_taking_them() {
    let dir = scratch();
    let path = dir.join("work.lock");
    let Claim::Acquired(lock) = FileLock::try_claim(&path).unwrap() else {
      panic!()
    };
    assert!(HeldLocks::snapshot().is_held(&path));
    drop(lock);
    assert!(!HeldLocks::snapshot().is_held(&path));
    assert!(!HeldLocks::snapshot().is_held(&dir.join("missing.lock")));
    fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn a_claim_excludes_a_second_claim_until_dropped() {
    let dir = scratch();
    let path = dir.join("work.lock");
    let Claim::Acquired(first) = FileLock::try_claim(&path).unwrap() else {
      panic!("first claim should succeed")
    };
    assert!(matches!(FileLock::try_claim(&path).unwrap(), Claim::Busy));
    drop(first);
    assert!(matches!(
      FileLock::try_claim(&path).unwrap(),
      Claim::Acquired(_)
    ));
    fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn claim_in_a_missing_folder_reports_missing() {
    let dir = scratch();
    let path = dir.join("gone").join("work.lock");
    assert!(matches!(
      FileLock::try_claim(&path).unwrap(),
      Claim::Missing
    ));
    fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn bounded_lock_gives_up_with_elocked() {
    let dir = scratch();
    let path = dir.join("state.lock");
    let _held = FileLock::lock_bounded(&path, Duration::from_millis(10)).unwrap();
    let started = Instant::now();
    let err = FileLock::lock_bounded(&path, Duration::from_millis(50)).unwrap_err();
    assert_eq!(err.code, Code::Locked);
    assert!(started.elapsed() >= Duration::from_millis(50));
    fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn loss_is_seen_when_the_file_is_removed_or_replaced() {
    let dir = scratch();
    let path = dir.join("work.lock");
    let Claim::Acquired(lock) = FileLock::try_claim(&path).unwrap() else {
      panic!()
    };
    assert_eq!(lock.lost(), None);
    fs::write(dir.join("other"), b"").unwrap();
    fs::rename(dir.join("other"), &path).unwrap();
    assert_eq!(lock.lost(), Some(Loss::Replaced));
    fs::remove_file(&path).unwrap();
    assert_eq!(lock.lost(), Some(Loss::Removed));
    fs::remove_dir_all(&dir).unwrap();
  }
}
