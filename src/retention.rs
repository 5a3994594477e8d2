//! Deleting jobs: `remove` one, `prune` the old. A job leaves the folder in one rename (into
//! `tmp/`, then deleted), so a crash at any point leaves the whole job or none of it; at worst a
//! marker pointing nowhere, which pulls skip.

use std::fs;

use crate::error::{Code, Result, StoreError};
use crate::inspect::now_ms;
use crate::layout::{self, Layout, LockKind};
use crate::lock::{Claim, FileLock};
use crate::state::PENDING;
use crate::store::Store;

impl Store {
  /// Deletes a job. Without `force` only a fulfilled job with no waiting targets goes; with it,
  /// any job. A job someone holds (a worker or a notifier, in any process) is never removed.
  pub fn remove(&self, id: &str, force: bool) -> Result<()> {
    layout::check_id(id)?;
    let state_lock = self.lock_state(id)?;
    match self.read_state(id) {
      Ok(state) if !force && state.state == PENDING => {
        return Err(StoreError::new(
          Code::Pending,
          format!("job '{id}' is still pending; fulfil it first, or pass {{ force: true }} to delete it anyway"),
        ))
      }
      Ok(state) if !force && !state.waiting.is_empty() => {
        return Err(StoreError::new(
          Code::Waiting,
          format!(
            "job '{id}' has {} target(s) waiting for its value; deliver or unqueue them, or pass {{ force: true }}",
            state.waiting.len()
          ),
        ))
      }
      Ok(_) => {}
      Err(e) if force && e.code == Code::Corrupt => {}
      Err(e) => return Err(e),
    }
    // Hold both claims while the job goes, so nobody can be handed it meanwhile.
    let mut claims = Vec::new();
    for kind in [LockKind::Work, LockKind::Notify] {
      match FileLock::try_claim(&self.layout.lock_file(id, kind))? {
        Claim::Acquired(lock) => claims.push(lock),
        Claim::Busy => {
          return Err(StoreError::new(
            Code::Claimed,
            format!(
              "job '{id}' is held by a worker or notifier right now; try again once it is released"
            ),
          ))
        }
        Claim::Missing => return Err(StoreError::no_job(id)),
      }
    }
    let trash = self.layout.temp_path();
    let job_dir = self.layout.job_dir(id);
    fs::rename(&job_dir, &trash).map_err(|e| StoreError::io(&e, "move the job out", &job_dir))?;
    drop(claims);
    drop(state_lock);
    self
      .jobs_sync
      .sync(self.layout.jobs_dir(), self.durability())?;
    self.remove_link(&self.layout.pending_link(id))?;
    self.remove_link(&self.layout.waiting_link(id))?;
    fs::remove_dir_all(&trash).map_err(|e| StoreError::io(&e, "delete", &trash))
  }

  /// Removes fulfilled jobs with no waiting targets that were fulfilled at least `older_than_ms`
  /// ago; returns how many. Pending, claimed and waiting jobs are never touched.
  pub fn prune(&self, older_than_ms: f64) -> Result<u64> {
    let cutoff = now_ms() - older_than_ms;
    let pending = Layout::list_ids(self.layout.pending_dir())?;
    let mut removed = 0;
    for id in self.layout.list_jobs()? {
      if pending.binary_search(&id).is_ok() {
        continue;
      }
      let Ok(info) = self.get(&id) else { continue };
      let old_enough = info.fulfilled_at_ms.is_some_and(|at| at <= cutoff);
      if !info.fulfilled || info.waiting != "[]" || !old_enough {
        continue;
      }
      match self.remove(&id, false) {
        Ok(()) => removed += 1,
        // Claimed, re-queued or gone since we looked: leave it for the next prune.
        Err(e)
          if matches!(
            e.code,
            Code::Claimed | Code::Waiting | Code::Pending | Code::NoJob
          ) => {}
        Err(e) => return Err(e),
      }
    }
    Ok(removed)
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::store::Options;

  fn open_store() -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("retention-test-{}", layout::new_id()));
    (Store::open(&dir, Options::default()).unwrap(), dir)
  }

  #[test]
  fn remove_refuses_pending_waiting_and_claimed_jobs_unless_allowed() {
    let (store, dir) = open_store();
    let id = store.create("1").unwrap();
    assert_eq!(store.remove(&id, false).unwrap_err().code, Code::Pending);
    let job = store.pull_job().unwrap().unwrap();
    assert_eq!(store.remove(&id, true).unwrap_err().code, Code::Claimed);
    store.queue(&id, "\"t\"").unwrap();
    store.fulfill(&id, b"v").unwrap();
    store.release(job.claim);
    assert_eq!(store.remove(&id, false).unwrap_err().code, Code::Waiting);
    store.unqueue_all(&id, "[\"t\"]").unwrap();
    store.remove(&id, false).unwrap();
    assert!(!dir.join("jobs").join(&id).exists());
    assert_eq!(store.remove(&id, false).unwrap_err().code, Code::NoJob);
    assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
    fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn force_removes_a_pending_job_and_its_marker() {
    let (store, dir) = open_store();
    let id = store.create("1").unwrap();
    store.remove(&id, true).unwrap();
    assert!(fs::symlink_metadata(dir.join("pending").join(&id)).is_err());
    assert!(store.pull_job().unwrap().is_none());
    fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn prune_takes_only_old_fulfilled_jobs_without_targets() {
    let (store, dir) = open_store();
    let pending = store.create("\"p\"").unwrap();
    let waiting = store.create("\"w\"").unwrap();
    store.queue(&waiting, "1").unwrap();
    store.fulfill(&waiting, b"v").unwrap();
    let done = store.create("\"d\"").unwrap();
    store.fulfill(&done, b"v").unwrap();
    assert_eq!(store.prune(60_000.0).unwrap(), 0, "nothing is a minute old");
    assert_eq!(store.prune(0.0).unwrap(), 1);
    assert!(!dir.join("jobs").join(&done).exists());
    assert!(dir.join("jobs").join(&pending).exists());
    assert!(dir.join("jobs").join(&waiting).exists());
    fs::remove_dir_all(&dir).unwrap();
  }
}
