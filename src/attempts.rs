//! Attempts: each claim of a job writes one byte into the job's `work.lock`, the file the claim
//! locks, so counting costs one small write per claim and no new file, and survives restarts.
//! The byte is [`ABANDONED`] while the claim runs and stays so if its holder dies; a claim that
//! ends by release, fail or close turns it into [`ENDED`]. The file's length is the number of
//! claims so far, and its trailing run of [`ABANDONED`] bytes says how many holders died in a row.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::lock::FileLock;

pub const ABANDONED: u8 = b'a';
pub const ENDED: u8 = b'r';

/// What the earlier claims of a job say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct History {
  /// Claims made before this one.
  pub claims: u64,
  /// How many of the last claims in a row were abandoned (their holder died).
  pub abandoned_in_a_row: u64,
  /// When the last claim began (ms since the epoch); 0 when there was none.
  pub last_claim_ms: f64,
}

/// Reads the history of the job whose work lock is `lock`. Reads the file only when there were
/// earlier claims, and then only its tail.
pub fn history(lock: &FileLock, tail: u64) -> io::Result<History> {
  let claims = lock.len;
  let mut abandoned_in_a_row = 0;
  if claims > 0 {
    let take = claims.min(tail.max(1));
    let mut bytes = vec![0u8; take as usize];
    lock.file().read_exact_at(&mut bytes, claims - take)?;
    abandoned_in_a_row = bytes.iter().rev().take_while(|&&b| b == ABANDONED).count() as u64;
  }
  Ok(History {
    claims,
    abandoned_in_a_row,
    last_claim_ms: if claims > 0 { lock.modified_ms } else { 0.0 },
  })
}

/// Records the claim numbered `index` (from 0) as begun.
pub fn begin(file: &File, index: u64) -> io::Result<()> {
  file.write_all_at(&[ABANDONED], index)
}

/// Records the claim numbered `index` as ended by its holder.
pub fn end(file: &File, index: u64) {
  // A read-only lock file cannot count; the claim itself still holds.
  let _ = file.write_all_at(&[ENDED], index);
}

/// Takes the claim numbered `index` (the last) off the record: it ended before any work was
/// done on the job's behalf.
pub fn uncount(file: &File, index: u64) {
  // As for `end`: a lock file that cannot be written only means the claim stays counted.
  let _ = file.set_len(index);
}

/// Forgets every earlier claim (a failed job given a fresh start).
pub fn reset(file: &File) -> io::Result<()> {
  file.set_len(0)
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::folder::Folder;
  use crate::lock::Claim;

  fn claim(folder: &Folder) -> FileLock {
    match FileLock::try_claim(folder, "work.lock").unwrap() {
      Claim::Acquired(lock) => lock,
      _ => panic!("free"),
    }
  }

  #[test]
  fn claims_are_counted_and_abandoned_ones_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let folder = Folder::open(dir.path()).unwrap();
    let first = claim(&folder);
    assert_eq!(history(&first, 8).unwrap().claims, 0);
    begin(first.file(), 0).unwrap();
    end(first.file(), 0);
    drop(first);
    for index in 1..3 {
      let abandoned = claim(&folder);
      begin(abandoned.file(), index).unwrap();
      drop(abandoned); // died holding it: the byte stays
    }
    let next = claim(&folder);
    let seen = history(&next, 8).unwrap();
    assert_eq!((seen.claims, seen.abandoned_in_a_row), (3, 2));
    assert!(seen.last_claim_ms > 0.0);
    reset(next.file()).unwrap();
    drop(next);
    assert_eq!(history(&claim(&folder), 8).unwrap().claims, 0);
  }
}
