//! `claimed/<id>`: one entry per job a worker holds, so counting the claimed jobs reads one small
//! folder instead of testing the lock of every pending job (seconds on a store of 100,000).
//!
//! The entry is made after the claim's lock is taken and removed before it is let go. It is a
//! hint, never fsynced and never trusted alone: a worker that dies leaves its entry behind with
//! its lock free, so a count tests each entry's lock, and the sweep at open removes such entries
//! while holding the lock itself (a new claimer would remake its entry after taking the lock).

use std::sync::Arc;

use crate::folder::{Folder, Kind};
use crate::layout::{check_id, Layout, LockKind, CLAIMED};
use crate::lock::{Claim, FileLock, HeldLocks};

/// A claimed job's entry; removed when dropped, which the claim does before its lock goes.
#[derive(Debug)]
pub struct ClaimedEntry {
  folder: Arc<Folder>,
  rel: String,
}

impl ClaimedEntry {
  /// Makes the entry of job `id` (a link to nowhere: one system call, no file to open). A
  /// failure only leaves the job uncounted.
  pub fn make(folder: &Arc<Folder>, id: &str) -> Option<ClaimedEntry> {
    let rel = entry(id);
    match folder.symlink(".", &rel) {
      Ok(()) => {}
      // Left by a holder that died: this claim owns it now.
      Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
      Err(_) => return None,
    }
    Some(ClaimedEntry {
      folder: Arc::clone(folder),
      rel,
    })
  }
}

impl Drop for ClaimedEntry {
  fn drop(&mut self) {
    let _ = self.folder.unlink(&self.rel);
  }
}

fn entry(id: &str) -> String {
  format!("{CLAIMED}/{id}")
}

/// The ids in `claimed/` whose work lock someone holds right now, in name order.
pub fn held(f: &Folder) -> Vec<String> {
  let names = ids(f);
  if names.is_empty() {
    return names;
  }
  let locks = HeldLocks::snapshot();
  names
    .into_iter()
    .filter(|id| locks.is_held(f, &Layout::lock_file(id, LockKind::Work)))
    .collect()
}

/// Removes the entries whose job nobody holds, each while holding its lock so no claim is made
/// meanwhile. Errors are ignored: the next sweep tries again, and counts never trust an entry.
pub fn sweep(f: &Folder) {
  for id in ids(f) {
    match FileLock::try_claim(f, &Layout::lock_file(&id, LockKind::Work)) {
      Ok(Claim::Acquired(lock)) => {
        let _ = f.unlink(&entry(&id));
        drop(lock);
      }
      Ok(Claim::Missing) => {
        let _ = f.unlink(&entry(&id));
      }
      _ => {}
    }
  }
}

fn ids(f: &Folder) -> Vec<String> {
  let mut ids: Vec<String> = f
    .for_each_entry(CLAIMED, |e| {
      e.kind == Kind::Link && check_id(&e.name).is_ok()
    })
    .unwrap_or_default()
    .into_iter()
    .map(|e| e.name)
    .collect();
  ids.sort();
  ids
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::layout::JOBS;

  fn store_folder() -> (tempfile::TempDir, Arc<Folder>) {
    let dir = tempfile::tempdir().unwrap();
    for sub in [CLAIMED, JOBS] {
      std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    let folder = Arc::new(Folder::open(dir.path()).unwrap());
    (dir, folder)
  }

  const ID: &str = "job-01a24acf-18c7-76cf-9450-9ddaf3ab74f1";

  #[test]
  fn an_entry_counts_only_while_its_lock_is_held_and_goes_with_the_claim() {
    let (_dir, f) = store_folder();
    f.mkdir(&Layout::job_dir(ID)).unwrap();
    let Claim::Acquired(lock) =
      FileLock::try_claim(&f, &Layout::lock_file(ID, LockKind::Work)).unwrap()
    else {
      panic!("the claim should be free")
    };
    let entry = ClaimedEntry::make(&f, ID).unwrap();
    assert_eq!(held(&f), vec![ID.to_owned()]);
    drop(lock);
    // A holder that died: the entry is there, the lock is free.
    assert!(held(&f).is_empty());
    assert_eq!(ids(&f), vec![ID.to_owned()]);
    drop(entry);
    assert!(ids(&f).is_empty());
  }

  #[test]
  fn the_sweep_removes_entries_whose_lock_is_free_and_keeps_held_ones() {
    let (_dir, f) = store_folder();
    let other = "job-01a24acf-18c7-76cf-9450-9ddb666cbbbc";
    for id in [ID, other] {
      f.mkdir(&Layout::job_dir(id)).unwrap();
      f.symlink(".", &entry(id)).unwrap();
    }
    let Claim::Acquired(_lock) =
      FileLock::try_claim(&f, &Layout::lock_file(ID, LockKind::Work)).unwrap()
    else {
      panic!("the claim should be free")
    };
    sweep(&f);
    assert_eq!(ids(&f), vec![ID.to_owned()]);
  }
}
