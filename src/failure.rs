//! When work fails: a worker's `fail` (retried after a backoff while attempts remain, else set
//! aside), poison jobs whose holders keep dying (set aside), `retry` of a failed job, and
//! `result`, which tells a producer how its job ended.
//!
//! A failed job keeps 1.2.0's record shape (`"state":1`, plus `failedAt` and `failures`) and
//! moves from `pending/` to `failed/`; a retry waits in `delayed/` until its time. Markers are
//! ordered as everywhere else: the new one is made before the record changes, the old one
//! removed after, so a crash leaves a job findable, never lost.

use std::time::Duration;

use crate::activity::Event;
use crate::cancel::cancelled;
use crate::clock::now_ms;
use crate::error::{Code, Op, Result, StoreError};
use crate::folder::Folder;
use crate::layout::{self, Layout, LockKind};
use crate::lock::{Claim, FileLock};
use crate::marker::Marker;
use crate::produce::already_resolved;
use crate::state::{JobState, JobStatus};
use crate::store::{Store, MAX_BACKOFF};
use crate::transition::{Record, Transition};
use crate::wake::Ended;

/// How a `fail` ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailOutcome {
  /// The job will be pending again at this time (ms since the epoch).
  Retry { at_ms: f64 },
  /// No attempts remain: the job is set aside as failed.
  Failed,
}

impl Store {
  /// Records that the holder of `claim` on job `id` failed with `error` (a JSON object text:
  /// message, code, stack), and ends the claim. While attempts remain the job is retried after
  /// `retry_in` (or the store's backoff); otherwise it is set aside. Fenced like `fulfill`.
  pub fn fail_claimed(
    &self,
    claim: u64,
    id: &str,
    error: &str,
    retry_in: Option<Duration>,
  ) -> Result<FailOutcome> {
    let f = self.writable()?;
    if let Err(e) = self.claims.check(&f, claim, id) {
      // The claim is over either way: let go of whatever lock is left.
      self.release(claim);
      return Err(e);
    }
    let attempt = self.claims.attempt(claim).map_or(1, |index| index + 1);
    let outcome = self.record_failure(&f, claim, id, error, attempt, retry_in);
    // Failed or retried, the claim ended by its holder's word: not an abandoned attempt.
    self.release(claim);
    outcome
  }

  fn record_failure(
    &self,
    f: &Folder,
    claim: u64,
    id: &str,
    error: &str,
    attempt: u64,
    retry_in: Option<Duration>,
  ) -> Result<FailOutcome> {
    let _lock = self.lock_state_claimed(f, id, claim)?;
    self.claims.check_token(claim, id)?;
    let mut state = self.read_state_claimed(f, id, claim)?;
    match state.status {
      JobStatus::Pending => {}
      JobStatus::Cancelled => return Err(cancelled(id, &state)),
      _ => return Err(already_resolved()),
    }
    let now = now_ms();
    state.record_failure(now, error);
    self.note(Event::Failed, 1);
    let max_attempts = state.max_attempts.unwrap_or(self.options.max_attempts);
    if attempt >= u64::from(max_attempts) {
      self.set_aside(f, id, &mut state)?;
      return Ok(FailOutcome::Failed);
    }
    let delay = retry_in.unwrap_or_else(|| jittered(backoff(self.options.backoff, attempt)));
    let due = (now + delay.as_secs_f64() * 1000.0).ceil() as u64;
    let old = Marker::of_pending(state.run_at_ms);
    state.run_at_ms = Some(due as f64);
    self.transition(
      f,
      id,
      Transition {
        add: &[Marker::Delayed { due_ms: due }],
        record: Record::Write(&state),
        remove: &old,
      },
    )?;
    Ok(FailOutcome::Retry { at_ms: due as f64 })
  }

  /// Sets aside a job whose holders died `died` times in a row. The caller holds its work claim.
  pub(crate) fn set_aside_abandoned(&self, f: &Folder, id: &str, died: u64) -> Result<()> {
    let _lock = self.lock_state(f, id)?;
    let mut state = self.read_state(f, id)?;
    if state.status != JobStatus::Pending {
      return Ok(());
    }
    let reason = format!("abandoned: the worker holding it died {died} times");
    let error = serde_json::json!({ "message": reason, "code": "EABANDONED" }).to_string();
    state.record_failure(now_ms(), &error);
    self.note(Event::Failed, 1);
    self.set_aside(f, id, &mut state)
  }

  /// Marks a job failed, under its state lock: out of `pending/` (and `delayed/`), into `failed/`.
  fn set_aside(&self, f: &Folder, id: &str, state: &mut JobState) -> Result<()> {
    let old = Marker::of_pending(state.run_at_ms);
    state.status = JobStatus::Failed;
    state.failed_at_ms = Some(now_ms());
    self.transition(
      f,
      id,
      Transition {
        add: &[Marker::Failed],
        record: Record::Write(state),
        remove: &old,
      },
    )
  }

  /// Makes a failed job pending again now, with its attempts counted from zero (its failures
  /// stay on record). Fails `ENOTFAILED` for a job that is not failed, `ECLAIMED` while held.
  pub fn retry(&self, id: &str) -> Result<()> {
    let f = self.writable()?;
    layout::check_id(id)?;
    let _lock = self.lock_state(&f, id)?;
    let mut state = self.read_state(&f, id)?;
    if state.status != JobStatus::Failed {
      return Err(StoreError::new(
        Code::NotFailed,
        format!("job '{id}' is not failed; only failed jobs can be retried"),
      ));
    }
    let work = match FileLock::try_claim(&f, &Layout::lock_file(id, LockKind::Work))? {
      Claim::Acquired(lock) => lock,
      Claim::Busy => {
        return Err(StoreError::new(
          Code::Claimed,
          format!("job '{id}' is held by a worker right now; try again once it is released"),
        ))
      }
      Claim::Missing => return Err(StoreError::no_job(id)),
    };
    crate::attempts::reset(work.file()).map_err(|e| {
      StoreError::io(
        &e,
        Op::Write,
        &f.full(&Layout::lock_file(id, LockKind::Work)),
      )
    })?;
    state.failed_at_ms = None;
    self.make_pending_now(&f, id, &mut state, Marker::Failed)?;
    drop(work);
    // Again now that the job can be claimed: a waiter woken before would have found it held.
    self.wake.bump();
    Ok(())
  }

  /// Makes job `id` (whose record is `state`, read under its state lock) pending now, out of the
  /// marker `from` (`failed/`, or its `delayed/` one): `retry` and `run_now`.
  pub(crate) fn make_pending_now(
    &self,
    f: &Folder,
    id: &str,
    state: &mut JobState,
    from: Marker,
  ) -> Result<()> {
    state.status = JobStatus::Pending;
    state.run_at_ms = None;
    self.transition(
      f,
      id,
      Transition {
        add: &[Marker::Pending],
        record: Record::Write(state),
        remove: &[from],
      },
    )
  }

  /// How job `id` ended: its value once fulfilled, `EFAILED` (with the last failure's message)
  /// once failed, `None` while it is still to be done.
  pub fn result(&self, id: &str) -> Result<Option<Vec<u8>>> {
    let f = self.folder()?;
    layout::check_id(id)?;
    let state = self.read_state(&f, id)?;
    match state.status {
      JobStatus::Fulfilled => self.read_value(&f, id).map(Some),
      JobStatus::Failed => Err(failed(id, &state)),
      JobStatus::Cancelled => Err(cancelled(id, &state)),
      JobStatus::Pending => Ok(None),
    }
  }

  /// Like [`Store::result`], waiting up to `wait` for the job to end, woken by filesystem events.
  pub fn result_wait(
    &self,
    id: &str,
    wait: Duration,
    token: u64,
  ) -> Result<std::result::Result<Vec<u8>, Ended>> {
    self.watch_folders()?;
    self.wake.wait_for(wait, token, || self.result(id), || None)
  }
}

/// `EFAILED`, saying why the job failed last.
fn failed(id: &str, state: &JobState) -> StoreError {
  let last = state
    .failures
    .last()
    .and_then(|f| serde_json::from_str::<serde_json::Value>(f.get()).ok())
    .and_then(|f| f["error"]["message"].as_str().map(str::to_owned))
    .unwrap_or_else(|| "no reason recorded".into());
  StoreError::new(
    Code::Failed,
    format!(
      "job '{id}' failed: {last}; `fs-job-store show DIR {id}` lists its failures, `retry` runs it again"
    ),
  )
}

/// The `n`th delay (from 1) of a series starting at `base` and doubling, capped at [`MAX_BACKOFF`].
pub(crate) fn backoff(base: Duration, n: u64) -> Duration {
  let doublings = n.saturating_sub(1).min(32) as u32;
  base
    .saturating_mul(2u32.saturating_pow(doublings))
    .min(MAX_BACKOFF.max(base))
}

/// `delay` spread over its upper half, so jobs that failed together do not retry together.
fn jittered(delay: Duration) -> Duration {
  let random = uuid::Uuid::new_v4().as_u64_pair().0 as f64 / u64::MAX as f64;
  delay.mul_f64(0.5 + random / 2.0)
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::store::{CreateOptions, Options};

  fn open(options: Options) -> (std::sync::Arc<Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Store::open(dir.path(), options).unwrap(), dir)
  }

  /// A claim whose holder "dies": the claim is forgotten without being released.
  fn abandon(store: &Store) -> String {
    let job = store.pull_job().unwrap().expect("a job");
    // Dropping the table entry without the release record is what a dead process leaves.
    store.claims.forget_abandoned(job.claim);
    job.id
  }

  #[test]
  fn a_job_whose_holders_keep_dying_is_set_aside_with_a_backoff_between() {
    let (store, _dir) = open(Options {
      backoff: Duration::from_millis(100),
      ..Options::default()
    });
    let poison = store.create("\"poison\"").unwrap();
    assert_eq!(abandon(&store), poison);
    assert_eq!(abandon(&store), poison, "the first comeback is at once");
    let other = store.create("\"ok\"").unwrap();
    let next = store.pull_job().unwrap().unwrap();
    assert_eq!(
      next.id, other,
      "held back after two deaths, so other jobs flow"
    );
    store.release(next.claim);
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(abandon(&store), poison, "back after the backoff");
    // The third death in a row sets it aside at the next pull that comes to it.
    store.pending.invalidate();
    let again = store.pull_job().unwrap().unwrap();
    assert_eq!(again.id, other);
    let info = store.get(&poison).unwrap();
    assert_eq!(info.phase, crate::inspect::Phase::Failed);
    assert!(info.failures.contains("died 3 times"), "{}", info.failures);
    assert_eq!(store.result(&poison).unwrap_err().code, Code::Failed);
  }

  #[test]
  fn fail_retries_after_the_delay_then_sets_aside_and_retry_starts_again() {
    let (store, _dir) = open(Options::default());
    let id = store
      .create_with(
        "1",
        &CreateOptions {
          max_attempts: Some(2),
          ..CreateOptions::default()
        },
      )
      .unwrap()
      .id;
    let job = store.pull_job().unwrap().unwrap();
    assert_eq!(job.attempts, 1);
    let outcome = store
      .fail_claimed(
        job.claim,
        &id,
        r#"{"message":"first"}"#,
        Some(Duration::from_millis(80)),
      )
      .unwrap();
    assert!(matches!(outcome, FailOutcome::Retry { .. }));
    assert!(store.pull_job().unwrap().is_none(), "not before its time");
    assert_eq!(
      store.get(&id).unwrap().phase,
      crate::inspect::Phase::Delayed
    );
    std::thread::sleep(Duration::from_millis(100));
    let second = store.pull_job().unwrap().expect("due now");
    assert_eq!((second.id.as_str(), second.attempts), (id.as_str(), 2));
    let outcome = store
      .fail_claimed(second.claim, &id, r#"{"message":"second"}"#, None)
      .unwrap();
    assert_eq!(outcome, FailOutcome::Failed);
    let err = store.result(&id).unwrap_err();
    assert!(err.message.contains("second"), "{}", err.message);
    store.retry(&id).unwrap();
    let third = store.pull_job().unwrap().unwrap();
    assert_eq!(third.attempts, 1, "retry counts attempts from zero");
    assert_eq!(
      store.retry(&id).unwrap_err().code,
      Code::NotFailed,
      "only a failed job is retried"
    );
  }

  #[test]
  fn a_fail_after_the_claim_was_lost_changes_nothing() {
    let (store, dir) = open(Options::default());
    let id = store.create("1").unwrap();
    let job = store.pull_job().unwrap().unwrap();
    let lock = dir.path().join("jobs").join(&id).join("work.lock");
    std::fs::remove_file(&lock).unwrap();
    let err = store.fail_claimed(job.claim, &id, "{}", None).unwrap_err();
    assert_eq!(err.code, Code::Compromised);
    assert_eq!(store.get(&id).unwrap().failures, "[]");
  }
}
