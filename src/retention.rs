//! Deleting jobs: `remove` one, `prune` the old. A job leaves the folder in one rename (into
//! `tmp/`, then deleted), so a crash at any point leaves the whole job or none of it; at worst a
//! marker pointing nowhere, which pulls skip.

use crate::clock::now_ms;
use crate::error::{Code, Op, Result, StoreError};
use crate::inspect::{modified_ms, Phase};
use crate::layout::{self, Layout, LockKind, JOBS, PENDING};
use crate::lock::{Claim, FileLock};
use crate::marker::Marker;
use crate::state::JobStatus;
use crate::store::Store;

impl Store {
  /// Deletes a job. Without `force` only a fulfilled job with no waiting targets goes; with it,
  /// any job. A job someone holds (a worker or a notifier, in any process) is never removed.
  pub fn remove(&self, id: &str, force: bool) -> Result<()> {
    let f = self.writable()?;
    layout::check_id(id)?;
    let state_lock = self.lock_state(&f, id)?;
    let record = self.read_state(&f, id);
    let run_at = record.as_ref().ok().and_then(|state| state.run_at_ms);
    match record {
      Ok(state) if !force && state.status == JobStatus::Pending => {
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
      match FileLock::try_claim(&f, &Layout::lock_file(id, kind))? {
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
    let trash = Layout::temp_path();
    let job_dir = Layout::job_dir(id);
    f.rename(&job_dir, &trash)
      .map_err(|e| StoreError::io(&e, Op::Rename, &f.full(&job_dir)))?;
    drop(claims);
    drop(state_lock);
    self.syncs.sync(&f, JOBS, self.durability())?;
    // Pointing nowhere now, which every reader skips: no fsync needed for their removal.
    let markers = [
      Marker::Pending,
      Marker::Waiting,
      Marker::Failed,
      Marker::Cancelled,
    ];
    for marker in markers.into_iter().chain(Marker::delayed_at(run_at)) {
      self.remove_link(&f, &marker.link(id))?;
    }
    f.remove_tree(&trash)
      .map_err(|e| StoreError::io(&e, Op::Delete, &f.full(&trash)))
  }

  /// Removes fulfilled jobs with no waiting targets that were fulfilled at least `older_than_ms`
  /// ago, and with `failed` the jobs that ended without a value (failed or cancelled) that long
  /// ago; returns how many. Pending,
  /// delayed, claimed and waiting jobs are never touched.
  pub fn prune(&self, older_than_ms: f64, failed: bool) -> Result<u64> {
    let f = self.writable()?;
    let cutoff = now_ms() - older_than_ms;
    let pending = Layout::list_ids(&f, PENDING)?;
    let mut removed = 0;
    for id in Layout::list_jobs(&f)? {
      if pending.binary_search(&id).is_ok() {
        continue;
      }
      let Ok(info) = self.get(&id) else { continue };
      let ended_at = match info.phase {
        // 1.2.0 recorded no time: its value file was written at the fulfil, or later if
        // copied, so its modification time never makes a job look older than it is.
        Phase::Fulfilled if info.waiting == "[]" => info
          .fulfilled_at_ms
          .or_else(|| modified_ms(&f, &Layout::value_file(&id))),
        Phase::Failed if failed => info.failed_at_ms,
        Phase::Cancelled if failed => info.cancelled_at_ms,
        _ => None,
      };
      if !ended_at.is_some_and(|at| at <= cutoff) {
        continue;
      }
      // A failed job may still have targets waiting for a value it will never have.
      match self.remove(&id, matches!(info.phase, Phase::Failed | Phase::Cancelled)) {
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

  fn open_store() -> (std::sync::Arc<Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Store::open(dir.path(), Options::default()).unwrap(), dir)
  }

  #[test]
  fn remove_refuses_pending_waiting_and_claimed_jobs_unless_allowed() {
    let (store, tmp) = open_store();
    let dir = tmp.path();
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
    assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
  }

  #[test]
  fn force_removes_a_pending_job_and_its_marker() {
    let (store, tmp) = open_store();
    let dir = tmp.path();
    let id = store.create("1").unwrap();
    store.remove(&id, true).unwrap();
    assert!(std::fs::symlink_metadata(dir.join("pending").join(&id)).is_err());
    assert!(store.pull_job().unwrap().is_none());
  }

  #[test]
  fn prune_takes_only_old_fulfilled_jobs_without_targets() {
    let (store, tmp) = open_store();
    let dir = tmp.path();
    let pending = store.create("\"p\"").unwrap();
    let waiting = store.create("\"w\"").unwrap();
    store.queue(&waiting, "1").unwrap();
    store.fulfill(&waiting, b"v").unwrap();
    let done = store.create("\"d\"").unwrap();
    store.fulfill(&done, b"v").unwrap();
    assert_eq!(
      store.prune(60_000.0, false).unwrap(),
      0,
      "nothing is a minute old"
    );
    assert_eq!(store.prune(0.0, false).unwrap(), 1);
    assert!(!dir.join("jobs").join(&done).exists());
    assert!(dir.join("jobs").join(&pending).exists());
    assert!(dir.join("jobs").join(&waiting).exists());
  }
}
