//! Atomic and durable writes: the one place that decides what reaches the disk, and in what order.
//!
//! **Atomicity.** A file is written under a fresh name in the store's `tmp/` folder and renamed
//! over its target, so a reader sees the old file or the new one, never a mix. `tmp/` is inside
//! the store, so the rename never crosses filesystems.
//!
//! **Durability** (when enabled). The file is fsynced before the rename, and the target's
//! folder after it, so an acknowledged write survives a power cut. Renames into the shared
//! folders (`jobs/`, `pending/`, `waiting/`) go through a [`DirSync`], which lets one fsync
//! cover every rename made before it started: concurrent operations share their fsyncs.
//!
//! **Errors.** On any failure the temporary file is removed and the target is untouched.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Condvar, Mutex};

use crate::error::{Result, StoreError};

/// Whether writes wait for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
  /// fsync files and folders before acknowledging.
  Durable,
  /// Rely on the OS to write back; survives a process crash, not a power cut.
  Relaxed,
}

/// Writes `bytes` to `target` atomically (see the module docs). `tmp` names the temporary file.
/// The caller syncs `target`'s folder (see [`sync_dir`] / [`DirSync`]) when it is done with it.
pub fn replace_file(tmp: &Path, target: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
  write_new_file(tmp, bytes, durability)?;
  fs::rename(tmp, target).map_err(|e| {
    let _ = fs::remove_file(tmp);
    StoreError::io(&e, "rename into place", target)
  })
}

/// Creates `path` (which must not exist) holding `bytes`; fsynced when durable. Removes it again
/// on failure.
pub fn write_new_file(path: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
  let result = (|| -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    if durability == Durability::Durable {
      file.sync_all()?;
    }
    Ok(())
  })();
  result.map_err(|e| {
    let _ = fs::remove_file(path);
    StoreError::io(&e, "write", path)
  })
}

/// fsyncs a folder, so the names created, renamed or removed in it are on disk.
pub fn sync_dir(dir: &Path, durability: Durability) -> Result<()> {
  if durability == Durability::Relaxed {
    return Ok(());
  }
  File::open(dir)
    .and_then(|d| d.sync_all())
    .map_err(|e| StoreError::io(&e, "fsync folder", dir))
}

/// Group commit for one folder: a caller that changed a name in the folder calls [`DirSync::sync`],
/// which returns once an fsync that *started after the call* has finished. Callers arriving while
/// an fsync runs wait for the next one, which one of them runs for all.
#[derive(Debug)]
pub struct DirSync {
  state: Mutex<SyncState>,
  done: Condvar,
  /// The folder, kept open: an fsync then costs no open and close.
  handle: Mutex<Option<File>>,
}

#[derive(Debug, Default)]
struct SyncState {
  /// Tickets handed out; each caller takes one after its change.
  issued: u64,
  /// Every ticket up to this one is covered by a finished fsync.
  covered: u64,
  running: bool,
  /// The error of the last fsync, given to the tickets it was meant to cover.
  failed: Option<(u64, StoreError)>,
}

impl Default for DirSync {
  fn default() -> Self {
    DirSync {
      state: Mutex::new(SyncState::default()),
      done: Condvar::new(),
      handle: Mutex::new(None),
    }
  }
}

impl DirSync {
  pub fn sync(&self, dir: &Path, durability: Durability) -> Result<()> {
    if durability == Durability::Relaxed {
      return Ok(());
    }
    let mut st = self.state.lock().unwrap();
    st.issued += 1;
    let ticket = st.issued;
    loop {
      if st.covered >= ticket {
        return match &st.failed {
          Some((upto, err)) if *upto >= ticket => Err(err.clone()),
          _ => Ok(()),
        };
      }
      if !st.running {
        // Lead: one fsync for every ticket issued so far.
        st.running = true;
        let upto = st.issued;
        drop(st);
        let result = self.fsync(dir);
        st = self.state.lock().unwrap();
        st.running = false;
        st.covered = upto;
        st.failed = result.err().map(|e| (upto, e));
        self.done.notify_all();
        continue;
      }
      st = self.done.wait(st).unwrap();
    }
  }

  fn fsync(&self, dir: &Path) -> Result<()> {
    let mut handle = self.handle.lock().unwrap();
    if handle.is_none() {
      *handle = Some(File::open(dir).map_err(|e| StoreError::io(&e, "open folder", dir))?);
    }
    let folder = handle.as_ref().expect("opened above");
    folder
      .sync_all()
      .map_err(|e| StoreError::io(&e, "fsync folder", dir))
  }

  /// Drops the kept handle: the folder was made anew, and the old handle names the old one.
  pub fn reopen(&self) {
    self.handle.lock().unwrap().take();
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::sync::Arc;

  fn scratch() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("durable-test-{}", crate::layout::new_id()));
    fs::create_dir_all(&dir).unwrap();
    dir
  }

  #[test]
  fn replace_is_atomic_and_leaves_no_temp_file() {
    let dir = scratch();
    let target = dir.join("state.json");
    fs::write(&target, b"old").unwrap();
    replace_file(&dir.join("t1"), &target, b"new", Durability::Durable).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"new");
    assert!(!dir.join("t1").exists());
    fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn failed_replace_keeps_the_target_and_removes_the_temp_file() {
    let dir = scratch();
    let target = dir.join("missing-folder").join("state.json");
    let err = replace_file(&dir.join("t2"), &target, b"x", Durability::Relaxed).unwrap_err();
    assert_eq!(err.code.as_str(), "ENOENT");
    assert!(!dir.join("t2").exists());
    fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn group_sync_serves_every_caller() {
    let dir = scratch();
    let sync = Arc::new(DirSync::default());
    let threads: Vec<_> = (0..8)
      .map(|_| {
        let (sync, dir) = (sync.clone(), dir.clone());
        std::thread::spawn(move || {
          for _ in 0..20 {
            sync.sync(&dir, Durability::Durable).unwrap();
          }
        })
      })
      .collect();
    for t in threads {
      t.join().unwrap();
    }
    let st = sync.state.lock().unwrap();
    assert_eq!(st.issued, 160);
    assert_eq!(st.covered, 160);
    drop(st);
    fs::remove_dir_all(&dir).unwrap();
  }
}
