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

use std::fs::File;
use std::sync::{Condvar, Mutex};

use crate::error::{Op, Result, StoreError};
use crate::folder::Folder;

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
pub fn replace_file(
  folder: &Folder,
  tmp: &str,
  target: &str,
  bytes: &[u8],
  durability: Durability,
) -> Result<()> {
  write_new_file(folder, tmp, bytes, durability)?;
  folder.rename(tmp, target).map_err(|e| {
    let _ = folder.unlink(tmp);
    StoreError::io(&e, Op::Rename, &folder.full(target))
  })
}

/// Like [`replace_file`], for the file `name` in the open folder `dir` (`shown` names it in
/// errors); fsyncs `dir` after the rename when durable.
pub fn replace_file_in(
  folder: &Folder,
  tmp: &str,
  dir: &std::os::fd::OwnedFd,
  name: &str,
  shown: &str,
  bytes: &[u8],
  durability: Durability,
) -> Result<()> {
  write_new_file(folder, tmp, bytes, durability)?;
  folder.rename_into(tmp, dir, name).map_err(|e| {
    let _ = folder.unlink(tmp);
    StoreError::io(&e, Op::Rename, &folder.full(shown))
  })
}

/// Creates the file `name` in the open folder `dir` holding `bytes` (fsynced when durable), in
/// place, with no temporary file and rename: for a file nobody reads until a later write says it
/// is there (a job's value, read only once its record says fulfilled). `Ok(false)` when `name`
/// exists already (left by an interrupted attempt): the caller then replaces it atomically. A
/// failed write removes what it made.
pub fn create_in(
  dir: &std::os::fd::OwnedFd,
  name: &str,
  bytes: &[u8],
  durability: Durability,
) -> std::io::Result<bool> {
  use rustix::fs::{Mode, OFlags};
  use std::io::Write;
  let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
  let fd = match rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o666)) {
    Ok(fd) => fd,
    Err(rustix::io::Errno::EXIST) => return Ok(false),
    Err(e) => return Err(e.into()),
  };
  let mut file = std::fs::File::from(fd);
  let written = file.write_all(bytes).and_then(|()| {
    if durability == Durability::Durable {
      file.sync_all()
    } else {
      Ok(())
    }
  });
  if let Err(e) = written {
    let _ = rustix::fs::unlinkat(dir, name, rustix::fs::AtFlags::empty());
    return Err(e);
  }
  Ok(true)
}

/// Creates `path` (which must not exist) holding `bytes`; fsynced when durable. Removes it again
/// on failure.
pub fn write_new_file(
  folder: &Folder,
  path: &str,
  bytes: &[u8],
  durability: Durability,
) -> Result<()> {
  folder
    .write_new(path, bytes, durability == Durability::Durable)
    .map_err(|e| {
      let _ = folder.unlink(path);
      StoreError::io(&e, Op::Write, &folder.full(path))
    })
}

/// Whether [`sync_filesystem`] can flush a batch in one call here; where it cannot, each file
/// of a batch is fsynced as it is written.
pub const FLUSHES_FILESYSTEM: bool = cfg!(target_os = "linux");

/// Makes everything written to the store's filesystem durable in one call (see
/// [`FLUSHES_FILESYSTEM`]); a no-op when not durable or not supported.
pub fn sync_filesystem(folder: &Folder, durability: Durability) -> Result<()> {
  if durability == Durability::Relaxed {
    return Ok(());
  }
  #[cfg(target_os = "linux")]
  folder
    .sync_filesystem()
    .map_err(|e| StoreError::io(&e, Op::Fsync, folder.path()))?;
  #[cfg(not(target_os = "linux"))]
  let _ = folder;
  Ok(())
}

/// fsyncs a folder, so the names created, renamed or removed in it are on disk.
pub fn sync_dir(folder: &Folder, dir: &str, durability: Durability) -> Result<()> {
  if durability == Durability::Relaxed {
    return Ok(());
  }
  folder
    .sync_dir(dir)
    .map_err(|e| StoreError::io(&e, Op::Fsync, &folder.full(dir)))
}

/// Group commit for one folder: a caller that changed a name in the folder calls [`DirSync::sync`],
/// which returns once an fsync that *started after the call* has finished. Callers arriving while
/// an fsync runs wait for the next one, which one of them runs for all.
#[derive(Debug)]
pub struct DirSync {
  /// The folder, relative to the store's.
  dir: &'static str,
  state: Mutex<SyncState>,
  done: Condvar,
  /// The folder, kept open: an fsync then costs no open and close. Dropped on close.
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

impl DirSync {
  pub fn new(dir: &'static str) -> DirSync {
    DirSync {
      dir,
      state: Mutex::new(SyncState::default()),
      done: Condvar::new(),
      handle: Mutex::new(None),
    }
  }

  pub fn sync(&self, folder: &Folder, durability: Durability) -> Result<()> {
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
        let result = self.fsync(folder);
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

  fn fsync(&self, folder: &Folder) -> Result<()> {
    let full = || folder.full(self.dir);
    let mut handle = self.handle.lock().unwrap();
    if handle.is_none() {
      let fd = folder
        .open_dir(self.dir)
        .map_err(|e| StoreError::io(&e, Op::OpenFolder, &full()))?;
      *handle = Some(File::from(fd));
    }
    let dir = handle.as_ref().expect("opened above");
    dir
      .sync_all()
      .map_err(|e| StoreError::io(&e, Op::Fsync, &full()))
  }

  /// Drops the kept handle: the folder was made anew (the old handle names the old one), or
  /// the store is closing.
  pub fn reopen(&self) {
    self.handle.lock().unwrap().take();
  }
}

/// One [`DirSync`] for each of the store's shared folders, found by the folder's name.
#[derive(Debug)]
pub struct DirSyncs(Vec<DirSync>);

impl DirSyncs {
  pub fn new(dirs: &[&'static str]) -> DirSyncs {
    DirSyncs(dirs.iter().map(|dir| DirSync::new(dir)).collect())
  }

  /// fsyncs `dir` (one of those given to [`DirSyncs::new`]) through its group commit.
  pub fn sync(&self, folder: &Folder, dir: &str, durability: Durability) -> Result<()> {
    match self.0.iter().find(|sync| sync.dir == dir) {
      Some(sync) => sync.sync(folder, durability),
      None => sync_dir(folder, dir, durability),
    }
  }

  /// Drops every kept handle (see [`DirSync::reopen`]).
  pub fn reopen(&self) {
    for sync in &self.0 {
      sync.reopen();
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::folder::scratch;
  use std::sync::Arc;

  #[test]
  fn replace_is_atomic_and_leaves_no_temp_file() {
    let (dir, folder) = scratch();
    std::fs::write(dir.path().join("state.json"), b"old").unwrap();
    replace_file(&folder, "t1", "state.json", b"new", Durability::Durable).unwrap();
    assert_eq!(
      std::fs::read(dir.path().join("state.json")).unwrap(),
      b"new"
    );
    assert!(!dir.path().join("t1").exists());
  }

  #[test]
  fn failed_replace_keeps_the_target_and_removes_the_temp_file() {
    let (dir, folder) = scratch();
    let err = replace_file(
      &folder,
      "t2",
      "missing-folder/state.json",
      b"x",
      Durability::Relaxed,
    )
    .unwrap_err();
    assert_eq!(err.code.name(), "ENOENT");
    assert!(!dir.path().join("t2").exists());
  }

  #[test]
  fn group_sync_serves_every_caller() {
    let (_dir, folder) = scratch();
    let folder = Arc::new(folder);
    let sync = Arc::new(DirSync::new("."));
    let threads: Vec<_> = (0..8)
      .map(|_| {
        let (sync, folder) = (sync.clone(), folder.clone());
        std::thread::spawn(move || {
          for _ in 0..20 {
            sync.sync(&folder, Durability::Durable).unwrap();
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
  }
}
