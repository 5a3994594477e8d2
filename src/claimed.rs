//! `claimed/<process>`: which jobs each store holds right now, so counting the claimed jobs reads
//! a few small files instead of testing the lock of every pending job (seconds on a store of
//! 100,000).
//!
//! Each store that claims writes its own file, one fixed-size slot per claim: the job's id when
//! the claim is made, emptied before its lock is let go. One `pwrite` each way, on a descriptor
//! the store keeps: no file is made or removed per job. The store holds an exclusive lock on its
//! file for as long as it is open, so a reader tells a live holder's file (locked) from a dead
//! one's (free), whose slots mean nothing; the sweep at open removes dead ones. Never fsynced:
//! it is for looking, no state change reads it.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::sync::{Arc, Mutex};

use fs2::FileExt;

use crate::folder::{Folder, Kind};
use crate::layout::{check_id, CLAIMED};

/// Bytes per slot: the longest id (255) and its newline.
const SLOT: u64 = 256;

/// One store's file of claims.
#[derive(Debug)]
pub struct ClaimedFile {
  file: File,
  folder: Arc<Folder>,
  rel: String,
  /// Slots free for reuse, and the number in use so far.
  slots: Mutex<(Vec<u64>, u64)>,
}

impl ClaimedFile {
  /// Makes this store's file, locked for as long as it lives. `None` when it cannot be made:
  /// the store works the same, its claims are only not counted.
  pub fn make(folder: &Arc<Folder>) -> Option<Arc<ClaimedFile>> {
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let rel = format!("{CLAIMED}/{}-{tag}", std::process::id());
    let file = folder.create_exclusive(&rel).ok()?;
    if file.try_lock_exclusive().is_err() {
      let _ = folder.unlink(&rel);
      return None;
    }
    Some(Arc::new(ClaimedFile {
      file,
      folder: Arc::clone(folder),
      rel,
      slots: Mutex::default(),
    }))
  }

  /// Writes `id` into a free slot; the returned entry empties it when dropped.
  pub fn hold(self: &Arc<Self>, id: &str) -> Option<ClaimedEntry> {
    let slot = {
      let mut slots = self.slots.lock().unwrap();
      slots.0.pop().unwrap_or_else(|| {
        slots.1 += 1;
        slots.1 - 1
      })
    };
    let line = format!("{id}\n");
    if self
      .file
      .write_all_at(line.as_bytes(), slot * SLOT)
      .is_err()
    {
      self.slots.lock().unwrap().0.push(slot);
      return None;
    }
    Some(ClaimedEntry {
      file: Arc::clone(self),
      slot,
    })
  }
}

impl Drop for ClaimedFile {
  fn drop(&mut self) {
    // Removed while still locked, so no sweep takes it for a dead store's in between.
    let _ = self.folder.unlink(&self.rel);
  }
}

/// One claim's slot; emptied when dropped, which the claim does before its lock goes.
#[derive(Debug)]
pub struct ClaimedEntry {
  file: Arc<ClaimedFile>,
  slot: u64,
}

impl Drop for ClaimedEntry {
  fn drop(&mut self) {
    if self.file.file.write_all_at(b"\n", self.slot * SLOT).is_ok() {
      self.file.slots.lock().unwrap().0.push(self.slot);
    }
  }
}

/// The ids held right now by live stores, in any process, in name order.
pub fn held(f: &Folder) -> Vec<String> {
  let mut ids = Vec::new();
  for rel in files(f) {
    let Ok(file) = f.open_lock(&rel, false) else {
      continue;
    };
    // A lock we can take means its store is gone: its slots are stale.
    if file.try_lock_shared().is_ok() {
      let _ = FileExt::unlock(&file);
      continue;
    }
    if let Ok(bytes) = read_all(&file) {
      ids.extend(parse(&bytes));
    }
  }
  ids.sort();
  ids.dedup();
  ids
}

/// Removes the files of stores that are gone, each while holding its lock.
pub fn sweep(f: &Folder) {
  for rel in files(f) {
    let Ok(file) = f.open_lock(&rel, false) else {
      continue;
    };
    if file.try_lock_exclusive().is_ok() {
      let _ = f.unlink(&rel);
    }
  }
}

fn files(f: &Folder) -> Vec<String> {
  f.for_each_entry(CLAIMED, |e| e.kind == Kind::File)
    .unwrap_or_default()
    .into_iter()
    .map(|e| format!("{CLAIMED}/{}", e.name))
    .collect()
}

fn read_all(file: &File) -> io::Result<Vec<u8>> {
  use std::io::Read;
  let mut bytes = Vec::new();
  (&*file).read_to_end(&mut bytes)?;
  Ok(bytes)
}

/// The ids in the slots of `bytes`: each slot's text up to its newline; an empty one is free.
fn parse(bytes: &[u8]) -> Vec<String> {
  bytes
    .chunks(SLOT as usize)
    .filter_map(|slot| {
      let end = slot.iter().position(|b| *b == b'\n' || *b == 0)?;
      let id = std::str::from_utf8(&slot[..end]).ok()?;
      check_id(id).is_ok().then(|| id.to_owned())
    })
    .collect()
}

#[cfg(test)]
mod tests {
  use super::*;

  fn store_folder() -> (tempfile::TempDir, Arc<Folder>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(CLAIMED)).unwrap();
    let folder = Arc::new(Folder::open(dir.path()).unwrap());
    (dir, folder)
  }

  const A: &str = "job-01a24acf-18c7-76cf-9450-9ddaf3ab74f1";
  const B: &str = "job-+4-01a24acf-18c7-76cf-9450-9ddb666cbbbc";

  #[test]
  fn a_claim_counts_while_held_and_its_slot_is_reused() {
    let (_dir, f) = store_folder();
    let file = ClaimedFile::make(&f).unwrap();
    let a = file.hold(A).unwrap();
    let b = file.hold(B).unwrap();
    assert_eq!(held(&f), vec![B.to_owned(), A.to_owned()]);
    drop(a);
    assert_eq!(held(&f), vec![B.to_owned()]);
    let again = file.hold(A).unwrap();
    assert_eq!(again.slot, 0, "the freed slot is taken again");
    drop((b, again));
    assert!(held(&f).is_empty());
  }

  #[test]
  fn a_gone_store_counts_nothing_and_its_file_is_swept() {
    let (_dir, f) = store_folder();
    let file = ClaimedFile::make(&f).unwrap();
    let entry = file.hold(A).unwrap();
    // A store that died: its file stays with an id in it, and nobody holds its lock.
    let stale = format!("{CLAIMED}/dead");
    std::fs::copy(f.full(&file.rel), f.full(&stale)).unwrap();
    assert_eq!(held(&f), vec![A.to_owned()]);
    drop(entry);
    assert!(held(&f).is_empty(), "the dead store's slot is not counted");
    sweep(&f);
    assert!(!f.exists(&stale));
    assert!(f.exists(&file.rel), "a live store's file stays");
    let rel = file.rel.clone();
    drop(file);
    assert!(!f.exists(&rel), "closing removes it");
  }
}
