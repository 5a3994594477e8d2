//! Pulling work: claiming the oldest pending job (or fulfilled job with targets waiting) that
//! nobody holds, waiting for one woken by filesystem events, and ending claims (`release`,
//! `done`). A pull never waits on a held job's lock: it skips it. A claim is a lock on the job's
//! `work.lock` (or `notify.lock`), held in `claims` until released or lost.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::attempts;
use crate::claim_watch;
use crate::claims::LostClaim;
use crate::clock::now_ms;
use crate::error::{Code, Op, Result, StoreError};
use crate::failure::backoff;
use crate::folder::Folder;
use crate::layout::{self, Layout, LockKind, CANCELLED, DELAYED, FAILED, JOBS, PENDING, WAITING};
use crate::lock::{Claim, FileLock};
use crate::marker::Marker;
use crate::state::JobStatus;
use crate::store::{PulledJob, PulledNotification, Store};
use crate::transition::Transition;
use crate::wake::{Ended, Poll};

impl Store {
  /// Claims the oldest pending job nobody holds, or `None` when there is none. Never waits for a
  /// lock: a held job is skipped.
  pub fn pull_job(&self) -> Result<Option<PulledJob>> {
    let f = self.writable()?;
    self.promote_due(&f)?;
    self.pending.pull(&f, |id| self.try_pull_job(&f, id))
  }

  /// Like [`Store::pull_job`] but only when no folder needs listing (the cursor holds ids and no
  /// delayed job is due): `None` says to run [`Store::pull_job`] where blocking is fine.
  pub fn pull_job_listed(&self) -> Option<Result<Option<PulledJob>>> {
    let f = match self.writable() {
      Ok(f) => f,
      Err(e) => return Some(Err(e)),
    };
    if self.has_due(now_ms() as u64) {
      return None;
    }
    self.pending.pull_listed(&f, |id| self.try_pull_job(&f, id))
  }

  /// Claims the oldest fulfilled job with waiting targets that nobody holds, or `None`.
  /// Jobs named in `skip` are passed over (a notifier backing off from them).
  pub fn pull_notification(&self, skip: &[String]) -> Result<Option<PulledNotification>> {
    let f = self.writable()?;
    self.waiting.pull(&f, |id| {
      if skip.iter().any(|s| s == id) {
        return Ok(None);
      }
      self.try_pull_notification(&f, id)
    })
  }

  /// Like [`Store::pull_notification`] but only when no folder needs listing: `None` says to
  /// run [`Store::pull_notification`] where blocking is fine.
  pub fn pull_notification_listed(
    &self,
    skip: &[String],
  ) -> Option<Result<Option<PulledNotification>>> {
    let f = match self.writable() {
      Ok(f) => f,
      Err(e) => return Some(Err(e)),
    };
    self.waiting.pull_listed(&f, |id| {
      if skip.iter().any(|s| s == id) {
        return Ok(None);
      }
      self.try_pull_notification(&f, id)
    })
  }

  /// Like [`Store::pull_job`], but waits up to `wait` for a job to become available, woken by
  /// filesystem events. `token` names the wait for [`Store::cancel_wait`]. `Err(Ended)` says
  /// why no job came.
  pub fn pull_job_wait(
    &self,
    wait: Duration,
    token: u64,
  ) -> Result<std::result::Result<PulledJob, Ended>> {
    closed_ends_wait(self.watch_folders().and_then(|()| {
      self.wake.wait_polled(
        wait,
        token,
        || self.pull_job(),
        || self.until_next_due(),
        self.poll(&[PENDING, DELAYED]),
      )
    }))
  }

  /// Like [`Store::pull_notification`], waiting up to `wait`.
  pub fn pull_notification_wait(
    &self,
    wait: Duration,
    token: u64,
    skip: &[String],
  ) -> Result<std::result::Result<PulledNotification, Ended>> {
    closed_ends_wait(self.watch_folders().and_then(|()| {
      self.wake.wait_polled(
        wait,
        token,
        || self.pull_notification(skip),
        || None,
        self.poll(&[WAITING]),
      )
    }))
  }

  /// What a waiting pull looks at between attempts on a network filesystem (see
  /// [`Wake::wait_polled`]): the modification times of `folders`, one `lstat` each, which move
  /// when another machine adds a marker there.
  fn poll(&self, folders: &'static [&'static str]) -> Option<Poll<'_>> {
    let every = self.poll_every()?;
    let f = self.folder().ok()?;
    let look = move || -> Vec<Option<(f64, u64)>> {
      folders
        .iter()
        .map(|dir| f.lstat(dir).ok().map(|m| (m.modified_ms, m.size)))
        .collect()
    };
    let mut last = look();
    Some(Poll {
      every,
      changed: Box::new(move || {
        let now = look();
        let changed = now != last;
        last = now;
        changed
      }),
    })
  }

  /// Ends the wait named `token` early; it resolves with nothing.
  pub fn cancel_wait(&self, token: u64) {
    self.wake.cancel(token);
  }

  /// Watches the store's folders (once): waits are woken by changes, jobs of a higher priority
  /// are offered to the pull cursor, cancellations reach holders at once.
  pub fn watch_folders(&self) -> Result<()> {
    let f = self.folder()?;
    // jobs/ too: a create makes its marker first and its folder last. A name appearing in
    // delayed/ tells when that job is due, so no listing is needed to learn of it; one in
    // cancelled/ may concern a job held here, whose holder should hear of it now.
    let dirs = [JOBS, PENDING, WAITING, FAILED, DELAYED, CANCELLED].map(|sub| f.full(sub));
    let delayed_dir = f.full(DELAYED);
    let cancelled_dir = f.full(CANCELLED);
    let pending_dir = f.full(PENDING);
    let jobs_dir = f.full(JOBS);
    let pending = Arc::downgrade(&self.pending);
    let index = Arc::downgrade(&self.delayed);
    self.wake.watch(
      &dirs.iter().map(|d| d.as_path()).collect::<Vec<_>>(),
      Box::new(move |path: &Path| {
        if path.parent() == Some(cancelled_dir.as_path()) {
          claim_watch::check_now();
        }
        // A job made by another process that sorts ahead of what pulls hold (a higher
        // priority): offered to them when its marker appears, and again when its folder does
        // (a pull between the two finds no folder yet and passes it over).
        let parent = path.parent();
        if parent == Some(pending_dir.as_path()) || parent == Some(jobs_dir.as_path()) {
          let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
          if let (true, Some(pending)) = (name.starts_with("job-"), pending.upgrade()) {
            pending.offer(name);
          }
        }
        let seen = path.parent() == Some(delayed_dir.as_path());
        let name = path.file_name().and_then(|n| n.to_str());
        if let (true, Some(name), Some(index)) = (seen, name, index.upgrade()) {
          if let Some((due, id)) = layout::parse_delayed_name(name) {
            index.note(due, id);
          }
        }
      }),
    );
    Ok(())
  }

  /// Lets go of a job's claim as if it had never been made: the job is free at once and this
  /// claim is not counted among its attempts (a worker shutting down gives its jobs back).
  pub fn give_back(&self, claim: u64) {
    if self.claims.give_back(claim) {
      self.wake.bump();
    }
  }

  /// Releases a claim. Releasing twice, or after a loss, is harmless.
  pub fn release(&self, claim: u64) {
    if let Some(job) = self.claims.release_job(claim) {
      // The job may be pending and free again: back in its place for this process's pulls, and
      // a waiter of this process may take it.
      if let Some(id) = job {
        self.pending.offer(&id);
      }
      self.wake.bump();
    }
  }

  /// Ends a notification claim on job `id`: unqueues the `delivered` targets (a JSON array text)
  /// while the claim still holds, then releases it. A lost claim unqueues nothing and fails
  /// `ECOMPROMISED`.
  pub fn done(&self, claim: u64, id: &str, delivered: &str) -> Result<()> {
    let result = self
      .folder()
      .and_then(|f| self.claims.check(&f, claim, id))
      .and_then(|()| self.unqueue_all(id, delivered));
    self.release(claim);
    result
  }

  /// The claims whose locks were lost since the last call; each is reported once.
  pub fn lost_claims(&self) -> Vec<LostClaim> {
    match self.folder() {
      // The marker says where to look; the record decides (a marker left by a cut is not a
      // cancel).
      Ok(f) => self.claims.lost(&f, |id| {
        f.exists(&Marker::Cancelled.link(id))
          && self
            .read_state(&f, id)
            .is_ok_and(|state| state.status == JobStatus::Cancelled)
      }),
      Err(_) => Vec::new(),
    }
  }

  fn try_pull_job(&self, f: &Arc<Folder>, id: &str) -> Result<Option<PulledJob>> {
    let Claim::Acquired(lock) = FileLock::try_claim(f, &Layout::lock_file(id, LockKind::Work))?
    else {
      return Ok(None);
    };
    // Checked under the lock: a worker that fulfilled the job removed the marker before letting go.
    if !f.exists(&Layout::pending_link(id)) {
      return Ok(None);
    }
    let Some((state, record)) = readable(self.read_state_kept(f, id))? else {
      return Ok(None);
    };
    if state.status != JobStatus::Pending || retry_cut_short(f, id, state.run_at_ms) {
      // Left by a cut between recording the change (fulfilled, failed, cancelled, or a retry
      // due later) and removing the marker.
      self.transition(f, id, Transition::tidy(&[Marker::Pending]))?;
      return Ok(None);
    }
    let history = attempts::history(&lock, ABANDON_HISTORY).map_err(|e| {
      StoreError::io(
        &e,
        Op::Read,
        &f.full(&Layout::lock_file(id, LockKind::Work)),
      )
    })?;
    let died = history.abandoned_in_a_row;
    if self.options.max_abandoned.is_some_and(|max| died >= max) {
      // A poison job: every worker that took it died. Set it aside, still holding its claim.
      self.set_aside_abandoned(f, id, died)?;
      return Ok(None);
    }
    if died >= 2 {
      // The first comeback is at once (a crash is usually not the job's fault); after that, each
      // waits longer, so a crash loop under a restarting supervisor cannot spin.
      let wait = backoff(self.options.backoff, died - 1).as_millis() as f64;
      if now_ms() - history.last_claim_ms < wait {
        return Ok(None);
      }
    }
    // Recorded before the job is handed out: a holder that dies from here on is counted.
    let mut counted = attempts::begin(lock.file(), history.claims).is_ok();
    if counted && self.poll_every().is_some() {
      // On a network filesystem the attempt byte is the fencing token another machine's
      // holder checks before it commits: flushed to the server now, not whenever the client
      // writes back (seen taking 1–2 s on JuiceFS).
      counted = lock.file().sync_data().is_ok();
    }
    let entry = self.claimed_file(f).and_then(|file| file.hold(id));
    let claim = self
      .claims
      .hold(id, lock, counted.then_some(history.claims), true, entry);
    if let Some((file, bytes)) = record {
      self.claims.keep_record(claim, file, bytes);
    }
    Ok(Some(PulledJob {
      claim,
      id: id.to_owned(),
      version: state.version,
      request: state.request.as_deref().map(|r| r.get().to_owned()),
      attempts: history.claims + 1,
      priority: state.priority.unwrap_or(0),
      key: state.key.clone(),
      schedule: state.schedule.clone(),
    }))
  }

  fn try_pull_notification(&self, f: &Folder, id: &str) -> Result<Option<PulledNotification>> {
    let Claim::Acquired(lock) = FileLock::try_claim(f, &Layout::lock_file(id, LockKind::Notify))?
    else {
      return Ok(None);
    };
    if !f.exists(&Marker::Waiting.link(id)) {
      return Ok(None);
    }
    let Some(state) = readable(self.read_state(f, id))? else {
      return Ok(None);
    };
    if state.status != JobStatus::Fulfilled {
      return Ok(None);
    }
    if state.waiting.is_empty() {
      // A marker left by a crash after the last unqueue; drop it unless a target just arrived.
      let _state_lock = self.lock_state(f, id)?;
      if self.read_state(f, id)?.waiting.is_empty() {
        self.transition(f, id, Transition::tidy(&[Marker::Waiting]))?;
      }
      return Ok(None);
    }
    let value = self.read_value(f, id)?;
    let claim = self.claims.hold(id, lock, None, false, None);
    Ok(Some(PulledNotification {
      claim,
      id: id.to_owned(),
      value,
      waiting: state.waiting_json(),
    }))
  }
}

/// How many of the last attempts are read to count the abandoned ones in a row.
const ABANDON_HISTORY: u64 = 64;

/// A wait that meets the store's close ends with nothing, as a close before it would.
fn closed_ends_wait<T>(
  outcome: Result<std::result::Result<T, Ended>>,
) -> Result<std::result::Result<T, Ended>> {
  match outcome {
    Err(e) if e.code == Code::Closed => Ok(Err(Ended::Closed)),
    other => other,
  }
}

/// Whether a pending job's marker was left by a cut in the middle of a retry's transition: its
/// record is due later and its `delayed/` marker for that time exists. (A future time alone
/// could be another machine's clock running ahead; the marker says the retry was recorded.)
pub(crate) fn retry_cut_short(f: &Folder, id: &str, run_at_ms: Option<f64>) -> bool {
  run_at_ms
    .is_some_and(|at| at > now_ms() && f.exists(&Marker::Delayed { due_ms: at as u64 }.link(id)))
}

/// A record a pull can use; `None` for a damaged one (unparsable, or unreadable to this user),
/// which the pull skips and `check` reports. Other errors (the disk, the claim) are the
/// caller's: a pull that finds nothing else answers them.
fn readable<T>(record: Result<T>) -> Result<Option<T>> {
  match record {
    Ok(record) => Ok(Some(record)),
    Err(e) if e.code == Code::Corrupt || e.is_access_denied() => Ok(None),
    Err(e) => Err(e),
  }
}
