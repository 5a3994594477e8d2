//! Cancelling a job, and the progress its worker reports: the two ways a job's holder and the
//! rest of the world talk while the work runs.
//!
//! A cancelled job keeps its record (`"state":1` with `cancelledAt` and `cancelReason`) and
//! moves into `cancelled/`, out of every folder a worker (1.2.0's included) looks in. A job
//! someone holds is cancelled all the same: the holder's claim watcher sees `cancelled/<id>` and
//! tells it (a loss of kind `Cancelled`), and its fenced calls are refused with `ECANCELED`.

use crate::clock::now_ms;
use crate::error::{Code, Op, Result, StoreError};
use crate::json;
use crate::layout::{self, Layout};
use crate::marker::Marker;
use crate::state::{JobState, JobStatus};
use crate::store::Store;
use crate::transition::{Record, Transition};

impl Store {
  /// Cancels job `id`: pending, delayed, failed or held, it will never be worked again.
  /// Cancelling a cancelled job changes nothing; a fulfilled one is refused (`EALREADYRESOLVED`).
  pub fn cancel(&self, id: &str, reason: Option<&str>) -> Result<()> {
    let f = self.writable()?;
    layout::check_id(id)?;
    let _lock = self.lock_state(&f, id)?;
    let mut state = self.read_state(&f, id)?;
    match state.status {
      JobStatus::Cancelled => return Ok(()),
      JobStatus::Fulfilled => {
        return Err(StoreError::new(
          Code::AlreadyResolved,
          format!("job '{id}' is already fulfilled; only a job still to be done can be cancelled"),
        ))
      }
      JobStatus::Pending | JobStatus::Failed => {}
    }
    // Targets waiting for a value that will never come: no notifier needs to look at it.
    let mut old = Marker::of_pending(state.run_at_ms);
    old.extend([Marker::Failed, Marker::Waiting]);
    state.status = JobStatus::Cancelled;
    state.cancelled_at_ms = Some(now_ms());
    state.cancel_reason = reason.map(str::to_owned);
    self.transition(
      &f,
      id,
      Transition {
        add: &[Marker::Cancelled],
        record: Record::Write(&state),
        remove: &old,
      },
    )?;
    // A holder in this process hears of it now rather than at its next check.
    crate::claim_watch::check_now();
    Ok(())
  }

  /// Records `progress` (JSON text) for job `id`, which `claim` must still hold. The latest
  /// value replaces the last, atomically, in `jobs/<id>/progress`; not fsynced even on a durable
  /// store (progress is a hint, and reported often), so a power cut may lose the latest one.
  pub fn progress(&self, claim: u64, id: &str, progress: &str) -> Result<()> {
    let f = self.writable()?;
    self.claims.check(&f, claim, id)?;
    self.claims.check_token(claim, id)?;
    if f.exists(&Marker::Cancelled.link(id)) {
      let state = self.read_state(&f, id)?;
      if state.status == JobStatus::Cancelled {
        return Err(cancelled(id, &state));
      }
    }
    json::check_depth(progress).map_err(|why| {
      StoreError::new(
        Code::InvalidArgValue,
        format!("The \"progress\" argument cannot be stored: {why}"),
      )
    })?;
    self.replace_relaxed(&f, &Layout::progress_file(id), progress.as_bytes())
  }

  /// The latest progress of job `id` (JSON text), if its worker reported any.
  pub(crate) fn read_progress(
    &self,
    f: &crate::folder::Folder,
    id: &str,
  ) -> Result<Option<String>> {
    let rel = Layout::progress_file(id);
    match f.read(&rel) {
      Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
      Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
      Err(e) => Err(StoreError::io(&e, Op::Read, &f.full(&rel))),
    }
  }
}

/// `ECANCELED`, saying who cancelled and why.
pub(crate) fn cancelled(id: &str, state: &JobState) -> StoreError {
  let why = state
    .cancel_reason
    .as_deref()
    .map_or(String::new(), |reason| format!(" ({reason})"));
  StoreError::new(
    Code::Cancelled,
    format!(
      "job '{id}' was cancelled{why}; its work is no longer wanted and nothing it does is recorded"
    ),
  )
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::inspect::Phase;
  use crate::lock::Loss;
  use crate::store::Options;

  #[test]
  fn a_cancelled_job_is_never_pulled_and_its_holder_is_told_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let waiting = store.create("1").unwrap();
    let held = store.create("2").unwrap();
    store.cancel(&waiting, Some("not needed")).unwrap();
    let job = store.pull_job().unwrap().expect("the other job");
    assert_eq!(job.id, held);
    assert!(store.lost_claims().is_empty());
    store.cancel(&held, None).unwrap();
    let lost = store.lost_claims();
    assert_eq!((lost.len(), lost[0].loss.clone()), (1, Loss::Cancelled));
    let err = store.fulfill_claimed(job.claim, &held, b"v").unwrap_err();
    assert_eq!(err.code, Code::Cancelled, "{err}");
    store.release(job.claim);
    assert!(store.pull_job().unwrap().is_none());
    let info = store.get(&waiting).unwrap();
    assert_eq!(
      (info.phase, info.cancel_reason.as_deref()),
      (Phase::Cancelled, Some("not needed"))
    );
    assert_eq!(store.result(&waiting).unwrap_err().code, Code::Cancelled);
    store.cancel(&waiting, None).unwrap();
    let done = store.create("3").unwrap();
    store.fulfill(&done, b"v").unwrap();
    assert_eq!(
      store.cancel(&done, None).unwrap_err().code,
      Code::AlreadyResolved
    );
    assert_eq!(store.stats().unwrap().cancelled, 2);
  }
}
