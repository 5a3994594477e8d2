//! The claims a store holds: each pulled job or notification is a numbered claim owning its lock
//! until released. Fenced calls (`job.fulfill`, `notification.done`) check here that the claim
//! still holds before they change anything.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::attempts;
use crate::claimed::ClaimedEntry;
use crate::error::{Code, Result, StoreError};
use crate::folder::Folder;
use crate::lock::{FileLock, Loss};

/// A claim this process holds that is no longer protected by its lock.
#[derive(Debug)]
pub struct LostClaim {
  pub claim: u64,
  pub id: String,
  pub loss: Loss,
}

#[derive(Debug)]
struct Held {
  id: String,
  /// Dropped before the lock, so no entry outlives its claim in a live process.
  _entry: Option<ClaimedEntry>,
  lock: FileLock,
  /// This claim's number among the job's claims (from 0), for `attempts`; `None` for
  /// notification claims, which are not counted.
  attempt: Option<u64>,
  /// The job was fulfilled or failed under this claim: nothing left to record at release.
  finished: bool,
  /// A worker's claim, whose holder must hear of a cancellation (a notifier's need not).
  work: bool,
  /// The job's record as the pull read it, with its file kept open (see [`Claims::keep_record`]).
  record: Option<(std::fs::File, Vec<u8>)>,
  loss_reported: bool,
}

impl Drop for Held {
  fn drop(&mut self) {
    // Released, failed or closed: an ended attempt, not an abandoned one.
    if let (Some(index), false) = (self.attempt, self.finished) {
      attempts::end(self.lock.file(), index);
    }
  }
}

#[derive(Debug, Default)]
struct Table {
  held: HashMap<u64, Held>,
  last: u64,
}

/// The claims of one store. Dropping a claim drops its lock.
#[derive(Debug, Default)]
pub struct Claims {
  table: Mutex<Table>,
  /// Whether a claim's lock file is checked by its path (network filesystems, where an open file
  /// removed elsewhere keeps a link) rather than by its link count on the descriptor held.
  by_path: bool,
}

impl Claims {
  /// The claims of a store on a network filesystem (`by_path`) or a local one.
  pub fn new(by_path: bool) -> Claims {
    Claims {
      by_path,
      ..Claims::default()
    }
  }

  /// Keeps the record of `claim`'s job as its pull read it, with the file open: a fenced
  /// commit then needs one `fstat` instead of reading the record again, as long as nobody
  /// replaced it (every write of a record is a rename, which leaves the old file unlinked).
  /// Local filesystems only: a network one may keep an open file's link after a rename.
  pub fn keep_record(&self, claim: u64, file: std::fs::File, bytes: Vec<u8>) {
    if self.by_path {
      return;
    }
    if let Some(held) = self.table.lock().unwrap().held.get_mut(&claim) {
      held.record = Some((file, bytes));
    }
  }

  /// The record `claim`'s pull read, if it is still the job's record; taken, so a later call
  /// reads the record again.
  #[allow(clippy::unnecessary_cast)]
  pub fn take_unchanged_record(&self, claim: u64) -> Option<Vec<u8>> {
    let (file, bytes) = self
      .table
      .lock()
      .unwrap()
      .held
      .get_mut(&claim)?
      .record
      .take()?;
    let linked = rustix::fs::fstat(&file).is_ok_and(|stat| stat.st_nlink as u64 > 0);
    linked.then_some(bytes)
  }

  /// Keeps `lock` as a new claim on job `id`; returns the claim's number. `attempt` is the
  /// claim's index among the job's attempts, recorded as ended when the claim is released.
  /// `work` says it is a worker's claim (see [`Claims::lost`]).
  /// `entry` is the job's `claimed/` entry, removed with the claim.
  pub fn hold(
    &self,
    id: &str,
    lock: FileLock,
    attempt: Option<u64>,
    work: bool,
    entry: Option<ClaimedEntry>,
  ) -> u64 {
    let mut table = self.table.lock().unwrap();
    table.last += 1;
    let claim = table.last;
    table.held.insert(
      claim,
      Held {
        id: id.to_owned(),
        _entry: entry,
        lock,
        attempt,
        finished: false,
        work,
        record: None,
        loss_reported: false,
      },
    );
    claim
  }

  /// Lets go of a claim; returns whether it was held. Releasing twice is harmless.
  pub fn release(&self, claim: u64) -> bool {
    self.release_job(claim).is_some()
  }

  /// Lets go of a claim; returns its job's id when it was a worker's claim on a job that may be
  /// pending still (not fulfilled or failed under it).
  pub fn release_job(&self, claim: u64) -> Option<Option<String>> {
    let held = self.table.lock().unwrap().held.remove(&claim)?;
    Some((held.work && !held.finished).then(|| held.id.clone()))
  }

  /// Lets go of a claim and takes its attempt off the job's record, as if it had never been
  /// made; returns whether it was held.
  pub fn give_back(&self, claim: u64) -> bool {
    let Some(mut held) = self.table.lock().unwrap().held.remove(&claim) else {
      return false;
    };
    if let Some(index) = held.attempt.take() {
      attempts::uncount(held.lock.file(), index);
    }
    true
  }

  /// Drops a claim as a dead holder would leave it: its attempt stays recorded as abandoned.
  #[cfg(test)]
  pub fn forget_abandoned(&self, claim: u64) {
    if let Some(mut held) = self.table.lock().unwrap().held.remove(&claim) {
      held.attempt = None;
    }
  }

  /// Lets go of every claim.
  pub fn release_all(&self) {
    self.table.lock().unwrap().held.clear();
  }

  /// Notes that the job of `claim` was fulfilled under it.
  pub fn finish(&self, claim: u64) {
    if let Some(held) = self.table.lock().unwrap().held.get_mut(&claim) {
      held.finished = true;
    }
  }

  /// The attempt index of `claim`, while it is held.
  pub fn attempt(&self, claim: u64) -> Option<u64> {
    self
      .table
      .lock()
      .unwrap()
      .held
      .get(&claim)
      .and_then(|h| h.attempt)
  }

  /// Checks that `claim` still holds and is on job `id`; `ECOMPROMISED` otherwise.
  pub fn check(&self, folder: &Folder, claim: u64, id: &str) -> Result<()> {
    let table = self.table.lock().unwrap();
    let held = match table.held.get(&claim) {
      Some(held) if held.id == id => held,
      _ => {
        return Err(StoreError::new(
          Code::Compromised,
          format!(
            "this claim on job '{id}' was already released; pull the job again to work on it"
          ),
        ))
      }
    };
    // The file only (its path on network filesystems): the watcher re-asserts the lock itself
    // every interval. A worker's claim on a local filesystem is checked with its token, under
    // the state lock, by the one `fstat` that reads both (see `taken_over`).
    let moved = if self.by_path {
      held.lock.moved(folder)
    } else if held.attempt.is_some() {
      None
    } else {
      held.lock.unlinked(folder)
    };
    match moved {
      None => Ok(()),
      Some(loss) => Err(StoreError::new(
        Code::Compromised,
        lost_claim_message(&held.id, &loss),
      )),
    }
  }

  /// Checks the token of `claim`: its attempt is still the job's last one on disk, so no other
  /// claim of the job was recorded since. Called under the job's state lock by every fenced
  /// commit, so that a claim taken over elsewhere cannot commit even when its own lock looks
  /// fine to it (a network filesystem that dropped the lock without telling).
  pub fn check_token(&self, claim: u64, id: &str) -> Result<()> {
    let table = self.table.lock().unwrap();
    let Some(held) = table.held.get(&claim) else {
      return Err(StoreError::new(
        Code::Compromised,
        format!("this claim on job '{id}' was already released; pull the job again to work on it"),
      ));
    };
    let lost = if self.by_path {
      taken_over(held)
    } else {
      taken_over_or_unlinked(held)
    };
    match lost {
      None => Ok(()),
      Some(loss) => Err(StoreError::new(
        Code::Compromised,
        lost_claim_message(&held.id, &loss),
      )),
    }
  }

  /// The claims whose locks were lost since the last call, and the workers' claims whose jobs
  /// `is_cancelled` says were cancelled; each is reported once.
  pub fn lost(&self, folder: &Folder, is_cancelled: impl Fn(&str) -> bool) -> Vec<LostClaim> {
    let mut table = self.table.lock().unwrap();
    let mut lost = Vec::new();
    for (&claim, held) in table.held.iter_mut() {
      if held.loss_reported {
        continue;
      }
      let cancelled = || (held.work && is_cancelled(&held.id)).then_some(Loss::Cancelled);
      let gone = held.lock.lost(folder).or_else(|| taken_over(held));
      if let Some(loss) = gone.or_else(cancelled) {
        held.loss_reported = true;
        lost.push(LostClaim {
          claim,
          id: held.id.clone(),
          loss,
        });
      }
    }
    lost
  }
}

/// Whether another claim of `held`'s job was recorded since it: the job's attempt record (its
/// `work.lock`, one byte per claim) has grown past this claim's byte. Its length is read from
/// the descriptor held. A filesystem that cannot answer (`ENOTCONN`, `EIO`, `ESTALE`) counts as
/// a loss too.
fn taken_over(held: &Held) -> Option<Loss> {
  let index = held.attempt?;
  match held.lock.file().metadata() {
    Ok(meta) if meta.len() > index + 1 => Some(Loss::TakenOver),
    Ok(_) => None,
    Err(e) => Some(Loss::Revoked(e.to_string())),
  }
}

/// [`taken_over`], and on a local filesystem whether the lock file is still linked, from the same
/// `fstat` (a lock file removed or replaced has no link left).
#[allow(clippy::unnecessary_cast)]
fn taken_over_or_unlinked(held: &Held) -> Option<Loss> {
  let index = held.attempt?;
  match rustix::fs::fstat(held.lock.file()) {
    Ok(stat) if stat.st_nlink == 0 => Some(Loss::Removed),
    Ok(stat) if stat.st_size as u64 > index + 1 => Some(Loss::TakenOver),
    Ok(_) => None,
    Err(e) => Some(Loss::Revoked(e.to_string())),
  }
}

/// What a worker is told when its claim is lost: through `oncompromised` and by fenced calls.
pub fn lost_claim_message(id: &str, loss: &Loss) -> String {
  if *loss == Loss::Cancelled {
    return format!("job '{id}' was cancelled; stop working on it: its result will be refused");
  }
  format!("lost the claim on job '{id}': {loss}; stop working on it, another worker may have it")
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::lock::Claim;

  #[test]
  fn a_claim_holds_until_released_and_a_loss_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let folder = Folder::open(dir.path()).unwrap();
    let Claim::Acquired(lock) = FileLock::try_claim(&folder, "work.lock").unwrap() else {
      panic!()
    };
    let claims = Claims::default();
    let claim = claims.hold("job-1", lock, None, true, None);
    claims.check(&folder, claim, "job-1").unwrap();
    assert_eq!(
      claims.check(&folder, claim, "job-2").unwrap_err().code,
      Code::Compromised,
      "a claim is on one job only"
    );
    std::fs::remove_file(dir.path().join("work.lock")).unwrap();
    let lost = claims.lost(&folder, |_| false);
    assert_eq!((lost.len(), lost[0].loss.clone()), (1, Loss::Removed));
    assert!(claims.lost(&folder, |_| true).is_empty(), "reported once");
    assert!(claims.release(claim));
    assert!(!claims.release(claim));
    assert_eq!(
      claims.check(&folder, claim, "job-1").unwrap_err().code,
      Code::Compromised
    );
  }
}
