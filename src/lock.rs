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
use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use fs2::FileExt;

use crate::error::{Code, Op, Result, StoreError};
use crate::folder::{Folder, Identity};

/// Lock files held by this process, across every store in it: the store folder's device and
/// inode, and the lock file's path below it. Checked before the file is even opened: on NFS,
/// closing any descriptor of a file drops every lock the process has on it.
type HeldKey = (Identity, String);
static HELD: LazyLock<Mutex<HashSet<HeldKey>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// An exclusive lock on one lock file. Released on drop.
#[derive(Debug)]
pub struct FileLock {
  /// Closed on drop, which lets go of the lock: no separate unlock call is needed.
  file: ManuallyDrop<File>,
  /// The lock file, relative to the store folder.
  rel: String,
  /// Its entry in [`HELD`], removed on drop (taken out first when the lock is handed back early).
  key: Option<HeldKey>,
  /// The file locked: what the path must still name for a claim.
  identity: Identity,
  /// Whether [`FileLock::lost`] checks the path (claims do; short state locks need not).
  verified: bool,
  /// The lock file's length and modification time when it was locked (see `attempts`).
  pub(crate) len: u64,
  pub(crate) modified_ms: f64,
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
  /// The lock still holds, but the job was cancelled: the work is no longer wanted.
  Cancelled,
  /// Another claim of the job was recorded since this one (another machine took it over after
  /// this one lost its lock, say a frozen client whose session expired).
  TakenOver,
}

impl std::fmt::Display for Loss {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match self {
      Loss::Removed => f.write_str("its lock file or job folder was removed"),
      Loss::Replaced => f.write_str("its lock file was replaced"),
      Loss::Revoked(why) => write!(f, "the OS no longer grants the lock ({why})"),
      Loss::Cancelled => f.write_str("the job was cancelled"),
      Loss::TakenOver => f.write_str("another worker has claimed it since (this process lost its lock, e.g. a network filesystem dropped it while this machine was frozen or cut off)"),
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

/// Whether a lock attempt may create a missing lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
  Yes,
  /// Lock only a lock file that exists (1.2.0's jobs have none until first locked).
  No,
}

impl FileLock {
  /// Takes the lock `rel` (below `folder`) if it is free right now; never waits. The lock is
  /// checked to still guard the file at `rel`, and can later be asked whether it was
  /// [lost](Self::lost).
  pub fn try_claim(folder: &Folder, rel: &str) -> Result<Claim> {
    Self::try_lock(folder, rel, true, Create::Yes)
  }

  fn try_lock(folder: &Folder, rel: &str, verify: bool, create: Create) -> Result<Claim> {
    let key: HeldKey = (folder.identity(), rel.to_owned());
    if !HELD.lock().unwrap().insert(key.clone()) {
      return Ok(Claim::Busy);
    }
    // From here the table entry is ours; every exit that does not return a lock removes it.
    let attempt = Self::flock_file(folder, rel, verify, create, &key);
    if !matches!(attempt, Ok(Claim::Acquired(_))) {
      HELD.lock().unwrap().remove(&key);
    }
    attempt
  }

  fn flock_file(
    folder: &Folder,
    rel: &str,
    verify: bool,
    create: Create,
    key: &HeldKey,
  ) -> Result<Claim> {
    let failed = |e: io::Error| StoreError::io(&e, Op::Lock, &folder.full(rel));
    let file = match folder.open_lock(rel, create == Create::Yes) {
      Ok(file) => file,
      // No folder there, or a file where the job's folder should be: nothing to lock.
      Err(e)
        if matches!(
          e.kind(),
          io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
        ) =>
      {
        return Ok(Claim::Missing)
      }
      Err(e) => return Err(failed(e)),
    };
    match FileExt::try_lock_exclusive(&file) {
      Ok(()) => {}
      Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Claim::Busy),
      Err(e) => return Err(failed(e)),
    }
    // Looked at under the lock, so the length and time are the last holder's final ones.
    // Short state locks are never checked against their path: they need no fstat.
    let (identity, len, modified_ms, links) = if verify {
      identity_of(&file).map_err(failed)?
    } else {
      (Identity { dev: 0, ino: 0 }, 0, 0.0, 1)
    };
    let lock = FileLock {
      file: ManuallyDrop::new(file),
      rel: rel.to_owned(),
      key: Some(key.clone()),
      identity,
      verified: verify,
      len,
      modified_ms,
    };
    // The job may have been deleted between open and lock: then the lock guards nothing. (A job
    // moved out whole but not yet deleted keeps its file; the caller then finds no record.)
    if links == 0 {
      return Ok(Claim::Missing);
    }
    Ok(Claim::Acquired(lock))
  }

  /// Takes the lock `rel`, waiting at most `bound` for its holder to let go. Meant for short
  /// critical sections; a lock still held after `bound` fails with `ELOCKED`. Unlike a claim it
  /// is not checked against the path: whoever removes a job holds this lock while moving the
  /// folder away, so a late locker finds no job behind it and changes nothing.
  pub fn lock_bounded(
    folder: &Folder,
    rel: &str,
    bound: Duration,
    create: Create,
  ) -> Result<FileLock> {
    let deadline = Instant::now() + bound;
    let mut pause = Duration::from_micros(100);
    loop {
      match Self::try_lock(folder, rel, false, create)? {
        Claim::Acquired(lock) => return Ok(lock),
        Claim::Missing => {
          return Err(StoreError::io(
            &io::Error::from(io::ErrorKind::NotFound),
            Op::Lock,
            &folder.full(rel),
          ))
        }
        Claim::Busy if Instant::now() >= deadline => {
          let path = folder.full(rel);
          return Err(
            StoreError::new(
              Code::Locked,
              format!(
                "'{}' stayed locked for more than {} ms; another process may be stuck holding it, try again",
                path.display(),
                bound.as_millis()
              ),
            )
            .with_path(&path),
          );
        }
        Claim::Busy => {
          std::thread::sleep(pause);
          pause = (pause * 2).min(Duration::from_millis(5));
        }
      }
    }
  }

  fn lost_path(&self, folder: &Folder) -> Option<Loss> {
    match folder.lstat(&self.rel) {
      Err(e) if e.kind() == io::ErrorKind::NotFound => Some(Loss::Removed),
      // ENOTCONN, EIO, ESTALE: a filesystem that no longer answers cannot vouch for the lock.
      Err(e) => Some(Loss::Revoked(format!(
        "the filesystem no longer answers for its lock file: {e}"
      ))),
      Ok(now) if now.identity != self.identity => Some(Loss::Replaced),
      Ok(_) => None,
    }
  }

  /// Checks that the lock file is still the one locked (not removed or replaced): the check a
  /// fenced call makes, one `lstat`.
  pub fn moved(&self, folder: &Folder) -> Option<Loss> {
    if !self.verified {
      return None;
    }
    self.lost_path(folder)
  }

  /// Like [`FileLock::moved`] from the descriptor held: a lock file removed or replaced has no
  /// link left (one `fstat`); its path then says which. For local filesystems, where an open
  /// file's link count is exact.
  #[allow(clippy::unnecessary_cast)]
  pub fn unlinked(&self, folder: &Folder) -> Option<Loss> {
    if !self.verified {
      return None;
    }
    match rustix::fs::fstat(&*self.file) {
      Ok(stat) if stat.st_nlink as u64 > 0 => None,
      Ok(_) => self.lost_path(folder).or(Some(Loss::Removed)),
      Err(e) => Some(Loss::Revoked(format!(
        "the filesystem no longer answers for its lock file: {e}"
      ))),
    }
  }

  /// Checks that this lock still guards its file in `folder`; `Some` says how it was lost.
  /// Besides [`FileLock::moved`], re-asserts the lock, which fails on network filesystems once
  /// the server dropped it (the claim watcher's periodic check).
  pub fn lost(&self, folder: &Folder) -> Option<Loss> {
    if !self.verified {
      return None;
    }
    if let Some(loss) = self.lost_path(folder) {
      return Some(loss);
    }
    // Re-asserting a lock we hold is a no-op locally; on NFS it fails once the server dropped it.
    match FileExt::try_lock_exclusive(&*self.file) {
      Ok(()) => None,
      Err(e) => Some(Loss::Revoked(e.to_string())),
    }
  }
}

impl Drop for FileLock {
  fn drop(&mut self) {
    // Closing the only descriptor of the lock releases it (the store never duplicates one, and
    // opens them close-on-exec): one system call instead of an unlock and a close. Closed before
    // the entry in HELD goes, so no other thread here finds the lock still taken.
    // SAFETY: the file is not used after this; drop runs once.
    unsafe { ManuallyDrop::drop(&mut self.file) };
    if let Some(key) = self.key.take() {
      HELD.lock().unwrap().remove(&key);
    }
  }
}

impl FileLock {
  /// The locked file.
  pub fn file(&self) -> &File {
    &self.file
  }
}

/// Which file `file` is, with its length, modification time (ms) and link count, from one
/// `fstat`.
// The stat field widths differ across platforms (macOS's st_dev is an i32).
#[allow(clippy::unnecessary_cast)]
fn identity_of(file: &File) -> io::Result<(Identity, u64, f64, u64)> {
  let stat = rustix::fs::fstat(file)?;
  let meta = crate::folder::Meta::of(&stat);
  Ok((
    meta.identity,
    meta.size,
    meta.modified_ms,
    stat.st_nlink as u64,
  ))
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::folder::scratch;

  #[test]
  fn a_claim_excludes_a_second_claim_until_dropped() {
    let (_dir, folder) = scratch();
    let Claim::Acquired(first) = FileLock::try_claim(&folder, "work.lock").unwrap() else {
      panic!("first claim should succeed")
    };
    assert!(matches!(
      FileLock::try_claim(&folder, "work.lock").unwrap(),
      Claim::Busy
    ));
    drop(first);
    assert!(matches!(
      FileLock::try_claim(&folder, "work.lock").unwrap(),
      Claim::Acquired(_)
    ));
  }

  #[test]
  fn claim_in_a_missing_folder_reports_missing() {
    let (_dir, folder) = scratch();
    assert!(matches!(
      FileLock::try_claim(&folder, "gone/work.lock").unwrap(),
      Claim::Missing
    ));
  }

  #[test]
  fn bounded_lock_gives_up_with_elocked_and_never_creates_when_asked_not_to() {
    let (dir, folder) = scratch();
    let _held = FileLock::lock_bounded(
      &folder,
      "state.lock",
      Duration::from_millis(10),
      Create::Yes,
    )
    .unwrap();
    let started = Instant::now();
    let err = FileLock::lock_bounded(
      &folder,
      "state.lock",
      Duration::from_millis(50),
      Create::Yes,
    )
    .unwrap_err();
    assert_eq!(err.code, Code::Locked);
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(
      FileLock::lock_bounded(&folder, "other.lock", Duration::from_millis(10), Create::No).is_err()
    );
    assert!(!dir.path().join("other.lock").exists());
  }

  #[test]
  fn loss_is_seen_when_the_file_is_removed_or_replaced() {
    let (dir, folder) = scratch();
    let path = dir.path().join("work.lock");
    let Claim::Acquired(lock) = FileLock::try_claim(&folder, "work.lock").unwrap() else {
      panic!()
    };
    assert_eq!(lock.lost(&folder), None);
    std::fs::write(dir.path().join("other"), b"").unwrap();
    std::fs::rename(dir.path().join("other"), &path).unwrap();
    assert_eq!(lock.lost(&folder), Some(Loss::Replaced));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(lock.lost(&folder), Some(Loss::Removed));
  }
}
