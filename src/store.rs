//! The store's operations on its folder: create, queue, unqueue, fulfill, update, pull, done.
//!
//! Every mutation of `state.json` is a read-modify-write under the job's short state lock,
//! written through `durable`. The markers in `pending/` and `waiting/` are ordered so that a
//! crash at any point loses nothing acknowledged: a marker is made before the state that needs
//! it, and removed only after the state that no longer needs it is on disk. Every file is
//! reached through `folder`, which never follows a link below the store folder.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::attempts;
use crate::claims::{Claims, LostClaim};
use crate::cursor::PullCursor;
use crate::delayed::DelayedIndex;
use crate::durable::{self, DirSync, Durability};
use crate::error::{Code, Op, Result, StoreError};
use crate::folder::{Filesystem, Folder, Kind};
use crate::inspect::now_ms;
use crate::json::{self, Refusal};
use crate::layout::{self, Access, Layout, LockKind, DELAYED, FAILED, JOBS, PENDING, TMP, WAITING};
use crate::lock::{Claim, Create, FileLock};
use crate::state::{JobState, JobStatus};
use crate::wake::{Ended, Wake};

/// How a store behaves; see the README for each option.
#[derive(Debug, Clone)]
pub struct Options {
  pub durability: Durability,
  /// How long a state update waits for another holder of the job's state lock.
  pub lock_wait: Duration,
  pub access: Access,
  /// A job whose holders died this many times in a row is set aside as failed; `None`: never.
  pub max_abandoned: Option<u64>,
  /// Claims a job may have before a failure reported by `fail` is final (1: no retry).
  pub max_attempts: u32,
  /// The first retry's delay; each further one doubles it (with jitter), up to [`MAX_BACKOFF`].
  pub backoff: Duration,
  /// Whether quick operations may run on the caller's thread (see [`Store::runs_inline`]);
  /// `None` decides from the folder's filesystem.
  pub inline: Option<bool>,
}

/// The longest a retry or a crashed job's comeback is held back.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// What `create` may say besides the request.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
  /// Not to be worked before this time (ms since the epoch).
  pub run_at_ms: Option<f64>,
  /// This job's own `max_attempts`.
  pub max_attempts: Option<u32>,
}

impl Default for Options {
  fn default() -> Self {
    Options {
      durability: Durability::Durable,
      lock_wait: Duration::from_secs(10),
      access: Access::ReadWrite,
      max_abandoned: Some(3),
      max_attempts: 1,
      backoff: Duration::from_secs(1),
      inline: None,
    }
  }
}

/// A job pulled for work; the claim is held until [`Store::release`].
#[derive(Debug)]
pub struct PulledJob {
  pub claim: u64,
  pub id: String,
  pub version: u64,
  /// The request as JSON text; `None` when the record has none (1.2.0's `create(undefined)`).
  pub request: Option<String>,
  /// This claim's number among the job's claims, from 1.
  pub attempts: u64,
}

/// A fulfilled job's waiting targets, pulled for delivery; held until [`Store::done`].
#[derive(Debug)]
pub struct PulledNotification {
  pub claim: u64,
  pub id: String,
  pub value: Vec<u8>,
  /// The waiting targets as a JSON array text.
  pub waiting: String,
}

/// A fulfilled job's value and the targets still waiting for it.
#[derive(Debug)]
pub struct Delivery {
  pub value: Vec<u8>,
  pub waiting: String,
}

/// One store folder, shared safely by threads of this process and by other processes.
#[derive(Debug)]
pub struct Store {
  pub(crate) layout: Layout,
  pub(crate) options: Options,
  /// The open folder; `None` once closed, which releases its descriptor.
  folder: RwLock<Option<Arc<Folder>>>,
  pub(crate) jobs_sync: DirSync,
  pub(crate) pending_sync: DirSync,
  pub(crate) waiting_sync: DirSync,
  pub(crate) failed_sync: DirSync,
  pub(crate) delayed_sync: DirSync,
  pub(crate) delayed: Arc<DelayedIndex>,
  pub(crate) pending: PullCursor,
  waiting: PullCursor,
  pub(crate) claims: Claims,
  pub(crate) wake: Arc<Wake>,
  inline: bool,
}

impl Store {
  /// Opens the store at `dir`. Read-write, it creates the folder and its sub-folders when
  /// missing and sweeps leftover temporary files; read-only, it changes nothing.
  pub fn open(dir: &Path, options: Options) -> Result<Store> {
    let (layout, folder) = Layout::open(dir, options.access)?;
    let inline = options.inline.unwrap_or(match folder.filesystem() {
      Filesystem::Tmpfs => true,
      Filesystem::LocalDisk => options.durability == Durability::Relaxed,
      Filesystem::Other => false,
    });
    let store = Store {
      layout,
      options,
      folder: RwLock::new(Some(Arc::new(folder))),
      jobs_sync: DirSync::new(JOBS),
      pending_sync: DirSync::new(PENDING),
      waiting_sync: DirSync::new(WAITING),
      failed_sync: DirSync::new(FAILED),
      delayed_sync: DirSync::new(DELAYED),
      delayed: Arc::default(),
      pending: PullCursor::new(PENDING),
      waiting: PullCursor::new(WAITING),
      claims: Claims::default(),
      wake: Arc::default(),
      inline,
    };
    if store.options.access == Access::ReadWrite {
      store.sweep_leftovers();
    }
    Ok(store)
  }

  pub fn layout(&self) -> &Layout {
    &self.layout
  }

  pub(crate) fn durability(&self) -> Durability {
    self.options.durability
  }

  /// Whether quick operations (those that list no folder, wait for nothing and fsync nothing
  /// slow) may run on the caller's thread: on tmpfs, and on local disks when not durable. On
  /// network and unknown filesystems every call may block for long, so none does.
  pub fn runs_inline(&self) -> bool {
    self.inline
  }

  /// Whether [`Store::close`] was called.
  pub fn is_closed(&self) -> bool {
    self.folder.read().unwrap().is_none()
  }

  /// The open folder, or `ECLOSED`.
  pub(crate) fn folder(&self) -> Result<Arc<Folder>> {
    self
      .folder
      .read()
      .unwrap()
      .clone()
      .ok_or_else(StoreError::closed)
  }

  /// The open folder for a change, or `ECLOSED` / `EREADONLY`.
  pub(crate) fn writable(&self) -> Result<Arc<Folder>> {
    let folder = self.folder()?;
    match self.options.access {
      Access::ReadWrite => Ok(folder),
      Access::ReadOnly => Err(StoreError::read_only()),
    }
  }

  /// Creates a pending job for `request` (JSON text) and returns its id.
  pub fn create(&self, request: &str) -> Result<String> {
    self.create_with(request, &CreateOptions::default())
  }

  /// Like [`Store::create`]; with `run_at_ms` in the future, the job is delayed until then.
  pub fn create_with(&self, request: &str, options: &CreateOptions) -> Result<String> {
    let f = self.writable()?;
    json::check_depth(request).map_err(|why| refused("request", why))?;
    let mut state = JobState::new(request).map_err(|e| refused_json("request", e))?;
    state.max_attempts = options.max_attempts;
    let due = options
      .run_at_ms
      .filter(|at| *at > now_ms())
      .map(|at| at.ceil() as u64);
    state.run_at_ms = due.map(|due| due as f64);
    let id = layout::new_id();
    let link = match due {
      Some(due) => Layout::delayed_link(due, &id),
      None => Layout::pending_link(&id),
    };
    // The marker first, as 1.2.0 does: until the job folder appears it points nowhere, which
    // pulls skip, so a crash leaves at worst a dangling link, never an unmarked job.
    self.make_link(&f, &link, &id)?;
    let tmp = Layout::temp_path();
    let made = self
      .build_job_folder(&f, &tmp, &state)
      .and_then(|()| self.publish_job_folder(&f, &tmp, &id, due.is_some()));
    if let Err(e) = made {
      // Not acknowledged: take it back whole, so no half-made job is left to be found.
      let _ = f.remove_tree(&tmp);
      let _ = f.remove_tree(&Layout::job_dir(&id));
      let _ = f.unlink(&link);
      return Err(e);
    }
    if let Some(due) = due {
      self.delayed.note(due, &id);
    }
    self.wake.bump();
    Ok(id)
  }

  /// Fills a new job folder under the temporary name `tmp`.
  fn build_job_folder(&self, f: &Folder, tmp: &str, state: &JobState) -> Result<()> {
    self
      .with_folders(f, || f.mkdir(tmp))
      .map_err(|e| StoreError::io(&e, Op::CreateFolder, &f.full(tmp)))?;
    let record = format!("{tmp}/{}", layout::STATE_FILE);
    durable::write_new_file(f, &record, state.to_json().as_bytes(), self.durability())?;
    // Every job is fulfilled some day, under its state lock. When durable, make that file now,
    // in the folder being built (fsynced with it), rather than as a new inode on the fulfil path;
    // when not, the fulfil's lock makes it in the same system call that opens it.
    if self.durability() == Durability::Durable {
      let lock = format!("{tmp}/{}", LockKind::State.file_name());
      durable::write_new_file(f, &lock, b"", Durability::Relaxed)?;
    }
    durable::sync_dir(f, tmp, self.durability())
  }

  /// Renames the built folder into `jobs/` whole, and makes the names durable.
  fn publish_job_folder(&self, f: &Folder, tmp: &str, id: &str, delayed: bool) -> Result<()> {
    let job_dir = Layout::job_dir(id);
    f.rename(tmp, &job_dir)
      .map_err(|e| StoreError::io(&e, Op::Rename, &f.full(&job_dir)))?;
    let marker_sync = if delayed {
      &self.delayed_sync
    } else {
      &self.pending_sync
    };
    marker_sync.sync(f, self.durability())?;
    self.jobs_sync.sync(f, self.durability())
  }

  /// Adds `target` (JSON text) to the job's waiting list. When the job is already fulfilled,
  /// returns its value and waiting targets, so they can be served at once.
  pub fn queue(&self, id: &str, target: &str) -> Result<Option<Delivery>> {
    let f = self.writable()?;
    layout::check_id(id)?;
    // Parsed once in full: a target `unqueue` could not compare is refused now rather than left
    // queued for ever.
    json::parse(target).map_err(|why| refused("target", why))?;
    let target = serde_json::value::RawValue::from_string(target.to_owned())
      .map_err(|e| refused_json("target", e))?;
    let _lock = self.lock_state(&f, id)?;
    let mut state = self.read_state(&f, id)?;
    state.waiting.push(target);
    // The marker first: a crash after it leaves a marker with nothing new to deliver, which is
    // harmless; the other order could leave a target no notifier will ever look for.
    let link = Layout::waiting_link(id);
    let new_link = !f.exists(&link);
    if new_link {
      self.make_link(&f, &link, id)?;
    }
    if let Err(e) = self.write_state(&f, id, &state) {
      if new_link {
        // The target was not added: the marker we made for it would point at nothing to do.
        let _ = f.unlink(&link);
      }
      return Err(e);
    }
    if new_link {
      self.waiting_sync.sync(&f, self.durability())?;
    }
    self.wake.bump();
    if state.status != JobStatus::Fulfilled {
      return Ok(None);
    }
    Ok(Some(Delivery {
      value: self.read_value(&f, id)?,
      waiting: state.waiting_json(),
    }))
  }

  /// Removes, for each target in `targets` (a JSON array text), its first equal waiting entry.
  pub fn unqueue_all(&self, id: &str, targets: &str) -> Result<()> {
    let f = self.writable()?;
    layout::check_id(id)?;
    let targets = json::parse_list(targets).map_err(|why| refused("targets", why))?;
    let _lock = self.lock_state(&f, id)?;
    let mut state = self.read_state(&f, id)?;
    if state.unqueue(&targets) == 0 {
      return Ok(());
    }
    self.write_state(&f, id, &state)?;
    if state.waiting.is_empty() {
      self.remove_link(&f, &Layout::waiting_link(id))?;
      self.waiting_sync.sync(&f, self.durability())?;
    }
    Ok(())
  }

  /// Fulfils a pending job with `value`. Anyone may fulfil (as in 1.2.0); see
  /// [`Store::fulfill_claimed`] for the fenced form. Returns the targets waiting for the value
  /// (a JSON array text), if any, so they can be served at once.
  pub fn fulfill(&self, id: &str, value: &[u8]) -> Result<Option<String>> {
    let f = self.writable()?;
    layout::check_id(id)?;
    let _lock = self.lock_state(&f, id)?;
    let mut state = self.read_state(&f, id)?;
    if state.status != JobStatus::Pending {
      self.remove_link(&f, &Layout::pending_link(id))?;
      return Err(already_resolved());
    }
    // Value before state: a record that says fulfilled always has its value. The job folder
    // is opened once for both (without following a link), not once per file.
    let job_dir = Layout::job_dir(id);
    let dir = f
      .open_dir(&job_dir)
      .map_err(|e| StoreError::io(&e, Op::OpenFolder, &f.full(&job_dir)))?;
    self.replace_in(&f, &dir, id, layout::VALUE_FILE, value)?;
    state.status = JobStatus::Fulfilled;
    state.fulfilled_at_ms = Some(now_ms());
    self.replace_in(&f, &dir, id, layout::STATE_FILE, state.to_json().as_bytes())?;
    if self.durability() == Durability::Durable {
      File::from(dir)
        .sync_all()
        .map_err(|e| StoreError::io(&e, Op::Fsync, &f.full(&job_dir)))?;
    }
    // Only now, with the value on disk, does the job stop being pending (or delayed).
    self.remove_link(&f, &Layout::pending_link(id))?;
    if let Some(due) = state.run_at_ms {
      self.remove_link(&f, &Layout::delayed_link(due as u64, id))?;
    }
    self.pending_sync.sync(&f, self.durability())?;
    self.wake.bump();
    Ok((!state.waiting.is_empty()).then(|| state.waiting_json()))
  }

  /// Fulfils job `id` held by `claim`, but only while that claim still holds: a worker that
  /// lost its job gets `ECOMPROMISED` and changes nothing.
  pub fn fulfill_claimed(&self, claim: u64, id: &str, value: &[u8]) -> Result<Option<String>> {
    self.claims.check(&*self.folder()?, claim, id)?;
    let waiting = self.fulfill(id, value)?;
    self.claims.finish(claim);
    Ok(waiting)
  }

  /// Replaces a pending job's request, if `old_version` is still its version (`None`, a version
  /// no job can have, never is).
  pub fn update(&self, id: &str, old_version: Option<u64>, request: &str) -> Result<()> {
    let f = self.writable()?;
    layout::check_id(id)?;
    json::check_depth(request).map_err(|why| refused("newRequest", why))?;
    let request = serde_json::value::RawValue::from_string(request.to_owned())
      .map_err(|e| refused_json("newRequest", e))?;
    let _lock = self.lock_state(&f, id)?;
    let mut state = self.read_state(&f, id)?;
    if state.status != JobStatus::Pending {
      self.remove_link(&f, &Layout::pending_link(id))?;
      return Err(already_resolved());
    }
    if Some(state.version) != old_version {
      return Err(StoreError::new(Code::VersionMismatch, "version mismatch"));
    }
    state.version += 1;
    state.request = Some(request);
    self.write_state(&f, id, &state)
  }

  /// The value and waiting targets of a fulfilled job that has targets waiting; `None` otherwise.
  pub fn delivery(&self, id: &str) -> Result<Option<Delivery>> {
    let f = self.folder()?;
    layout::check_id(id)?;
    let state = self.read_state(&f, id)?;
    if state.status != JobStatus::Fulfilled || state.waiting.is_empty() {
      return Ok(None);
    }
    Ok(Some(Delivery {
      value: self.read_value(&f, id)?,
      waiting: state.waiting_json(),
    }))
  }

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
    let now = now_ms() as u64;
    if self.delayed.next_due_ms().is_some_and(|due| due <= now) {
      return None;
    }
    self.pending.pull_listed(&f, |id| self.try_pull_job(&f, id))
  }

  /// Claims the oldest fulfilled job with waiting targets that nobody holds, or `None`.
  pub fn pull_notification(&self) -> Result<Option<PulledNotification>> {
    let f = self.writable()?;
    self
      .waiting
      .pull(&f, |id| self.try_pull_notification(&f, id))
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
      self
        .wake
        .wait_for(wait, token, || self.pull_job(), || self.until_next_due())
    }))
  }

  /// Like [`Store::pull_notification`], waiting up to `wait`.
  pub fn pull_notification_wait(
    &self,
    wait: Duration,
    token: u64,
  ) -> Result<std::result::Result<PulledNotification, Ended>> {
    closed_ends_wait(self.watch_folders().and_then(|()| {
      self
        .wake
        .wait_for(wait, token, || self.pull_notification(), || None)
    }))
  }

  /// Ends the wait named `token` early; it resolves with nothing.
  pub fn cancel_wait(&self, token: u64) {
    self.wake.cancel(token);
  }

  /// Ends every wait, releases every claim and closes every descriptor the store holds; later
  /// calls fail with `ECLOSED`. Operations already running finish on the folder they started on.
  pub fn close(&self) {
    self.wake.close();
    self.folder.write().unwrap().take();
    self.claims.release_all();
    for sync in self.syncs() {
      sync.reopen();
    }
    self.pending.reset();
    self.waiting.reset();
  }

  fn syncs(&self) -> [&DirSync; 5] {
    [
      &self.jobs_sync,
      &self.pending_sync,
      &self.waiting_sync,
      &self.failed_sync,
      &self.delayed_sync,
    ]
  }

  pub(crate) fn watch_folders(&self) -> Result<()> {
    let f = self.folder()?;
    // jobs/ too: a create makes its marker first and its folder last. A name appearing in
    // delayed/ tells when that job is due, so no listing is needed to learn of it.
    let dirs = [JOBS, PENDING, WAITING, FAILED, DELAYED].map(|sub| f.full(sub));
    let delayed_dir = f.full(DELAYED);
    let index = Arc::downgrade(&self.delayed);
    self.wake.watch(
      &dirs.iter().map(|d| d.as_path()).collect::<Vec<_>>(),
      Box::new(move |path: &Path| {
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

  /// Moves the delayed jobs that are due into `pending/`: the marker there first, then the
  /// delayed one removed, so a crash between leaves both (harmless), never neither.
  fn promote_due(&self, f: &Folder) -> Result<()> {
    let now = now_ms() as u64;
    if self.delayed.next_due_ms().is_none_or(|due| due > now) {
      return Ok(());
    }
    let due = self.delayed.take_due(f, now)?;
    for (at, id) in &due {
      let marker = Layout::delayed_link(*at, id);
      // Another store may have promoted it already.
      if f.exists(&marker) {
        self.make_link(f, &Layout::pending_link(id), id)?;
        self.remove_link(f, &marker)?;
      }
    }
    if !due.is_empty() {
      self.pending_sync.sync(f, self.durability())?;
      self.delayed_sync.sync(f, self.durability())?;
      // They are older than what the cursor holds: list again so they come first.
      self.pending.invalidate();
    }
    Ok(())
  }

  /// How long until the next delayed job known here is due; waits sleep no longer than that.
  pub(crate) fn until_next_due(&self) -> Option<Duration> {
    let due = self.delayed.next_due_ms()?;
    let wait = (due as f64 - now_ms()).max(0.0);
    // At least a few milliseconds: a due job that cannot be promoted must not make a waiter spin.
    Some(Duration::from_millis(wait as u64).max(Duration::from_millis(5)))
  }

  /// Releases a claim. Releasing twice, or after a loss, is harmless.
  pub fn release(&self, claim: u64) {
    if self.claims.release(claim) {
      // The job may be free again for a waiter of this process.
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
      Ok(f) => self.claims.lost(&f),
      Err(_) => Vec::new(),
    }
  }

  fn try_pull_job(&self, f: &Folder, id: &str) -> Result<Option<PulledJob>> {
    let Claim::Acquired(lock) = FileLock::try_claim(f, &Layout::lock_file(id, LockKind::Work))?
    else {
      return Ok(None);
    };
    // Checked under the lock: a worker that fulfilled the job removed the marker before letting go.
    if !f.exists(&Layout::pending_link(id)) {
      return Ok(None);
    }
    let state = self.read_state(f, id)?;
    if state.status != JobStatus::Pending {
      // Left by a crash between fulfilling (or failing) and removing the marker.
      self.remove_link(f, &Layout::pending_link(id))?;
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
    let counted = attempts::begin(lock.file(), history.claims).is_ok();
    let claim = self
      .claims
      .hold(id, lock, counted.then_some(history.claims));
    Ok(Some(PulledJob {
      claim,
      id: id.to_owned(),
      version: state.version,
      request: state.request.as_deref().map(|r| r.get().to_owned()),
      attempts: history.claims + 1,
    }))
  }

  fn try_pull_notification(&self, f: &Folder, id: &str) -> Result<Option<PulledNotification>> {
    let Claim::Acquired(lock) = FileLock::try_claim(f, &Layout::lock_file(id, LockKind::Notify))?
    else {
      return Ok(None);
    };
    let link = Layout::waiting_link(id);
    if !f.exists(&link) {
      return Ok(None);
    }
    let state = self.read_state(f, id)?;
    if state.status != JobStatus::Fulfilled {
      return Ok(None);
    }
    if state.waiting.is_empty() {
      // A marker left by a crash after the last unqueue; drop it unless a target just arrived.
      let _state_lock = self.lock_state(f, id)?;
      if self.read_state(f, id)?.waiting.is_empty() {
        self.remove_link(f, &link)?;
      }
      return Ok(None);
    }
    let value = self.read_value(f, id)?;
    let claim = self.claims.hold(id, lock, None);
    Ok(Some(PulledNotification {
      claim,
      id: id.to_owned(),
      value,
      waiting: state.waiting_json(),
    }))
  }

  pub(crate) fn lock_state(&self, f: &Folder, id: &str) -> Result<FileLock> {
    FileLock::lock_bounded(
      f,
      &Layout::lock_file(id, LockKind::State),
      self.options.lock_wait,
      Create::Yes,
    )
    .map_err(|e| {
      if e.is_not_found() {
        StoreError::no_job(id)
      } else {
        e
      }
    })
  }

  pub(crate) fn read_state(&self, f: &Folder, id: &str) -> Result<JobState> {
    let rel = Layout::state_file(id);
    let path = f.full(&rel);
    let bytes = match f.read(&rel) {
      Ok(bytes) => bytes,
      Err(e) if e.kind() == io::ErrorKind::NotFound => {
        return Err(match f.lstat(&Layout::job_dir(id)) {
          Ok(meta) if meta.kind == Kind::Folder => {
            StoreError::corrupt(&path, "the job folder has no state.json")
          }
          Ok(_) => StoreError::corrupt(
            &f.full(&Layout::job_dir(id)),
            "it is not a folder (a link or a file); the store never follows links below its folder",
          ),
          Err(_) => StoreError::no_job(id),
        });
      }
      // Something that is not a readable file where the record should be.
      Err(e)
        if matches!(
          e.kind(),
          io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory | io::ErrorKind::InvalidInput
        ) =>
      {
        return Err(StoreError::corrupt(
          &path,
          format!("it cannot be read as a file: {e}"),
        ))
      }
      Err(e) => return Err(StoreError::io(&e, Op::Read, &path)),
    };
    JobState::parse(&bytes).map_err(|why| StoreError::corrupt(&path, why))
  }

  pub(crate) fn read_value(&self, f: &Folder, id: &str) -> Result<Vec<u8>> {
    let rel = Layout::value_file(id);
    f.read(&rel).map_err(|e| {
      if e.kind() == io::ErrorKind::NotFound {
        StoreError::corrupt(&f.full(&rel), "the job is fulfilled but has no value file")
      } else {
        StoreError::io(&e, Op::Read, &f.full(&rel))
      }
    })
  }

  pub(crate) fn write_state(&self, f: &Folder, id: &str, state: &JobState) -> Result<()> {
    self.replace(f, &Layout::state_file(id), state.to_json().as_bytes())?;
    durable::sync_dir(f, &Layout::job_dir(id), self.durability())
  }

  pub(crate) fn make_link(&self, f: &Folder, link: &str, id: &str) -> Result<()> {
    match self.with_folders(f, || f.symlink(&Layout::link_target(id), link)) {
      Ok(()) => Ok(()),
      Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
      Err(e) => Err(StoreError::io(&e, Op::MakeMarker, &f.full(link))),
    }
  }

  /// Runs `op`, and once more after re-making the store's sub-folders if it failed for want of
  /// one (someone removed `pending/` or `tmp/` while the store was open).
  fn with_folders<T>(&self, f: &Folder, op: impl Fn() -> io::Result<T>) -> io::Result<T> {
    match op() {
      Err(e) if e.kind() == io::ErrorKind::NotFound => {
        // The kept sub-folder descriptors may name folders removed since.
        f.forget_subs();
        if self.layout.make_folders(f).is_err() {
          return Err(e);
        }
        for sync in self.syncs() {
          sync.reopen();
        }
        op()
      }
      done => done,
    }
  }

  /// Replaces the file `name` of job `id`, whose folder is open as `dir`, like [`Store::replace`].
  fn replace_in(
    &self,
    f: &Folder,
    dir: &OwnedFd,
    id: &str,
    name: &str,
    bytes: &[u8],
  ) -> Result<()> {
    let shown = format!("{}/{name}", Layout::job_dir(id));
    self.with_tmp(f, || {
      durable::replace_file_in(
        f,
        &Layout::temp_path(),
        dir,
        name,
        &shown,
        bytes,
        self.durability(),
      )
    })
  }

  /// Replaces `target` atomically with `bytes` (see `durable`), through a fresh temporary file.
  pub(crate) fn replace(&self, f: &Folder, target: &str, bytes: &[u8]) -> Result<()> {
    self.with_tmp(f, || {
      durable::replace_file(f, &Layout::temp_path(), target, bytes, self.durability())
    })
  }

  /// Runs a write through `tmp/`, once more if it failed with ENOENT: `tmp/` (or the kept
  /// descriptor of it) was gone, so look again, re-making it if missing.
  fn with_tmp(&self, f: &Folder, write: impl Fn() -> Result<()>) -> Result<()> {
    match write() {
      Err(e) if e.code == Code::Os(nix::errno::Errno::ENOENT) => {
        f.forget_subs();
        if !f.exists(TMP) {
          self.layout.make_folders(f)?;
        }
        write()
      }
      done => done,
    }
  }

  pub(crate) fn remove_link(&self, f: &Folder, link: &str) -> Result<()> {
    match f.unlink(link) {
      Ok(()) => Ok(()),
      Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
      Err(e) => Err(StoreError::io(&e, Op::RemoveMarker, &f.full(link))),
    }
  }
}

/// How many of the last attempts are read to count the abandoned ones in a row.
const ABANDON_HISTORY: u64 = 64;

/// The `n`th delay (from 1) of a series starting at `base` and doubling, capped at [`MAX_BACKOFF`].
pub(crate) fn backoff(base: Duration, n: u64) -> Duration {
  let doublings = n.saturating_sub(1).min(32) as u32;
  base
    .saturating_mul(2u32.saturating_pow(doublings))
    .min(MAX_BACKOFF.max(base))
}

/// A wait that meets the store's close ends with nothing, as a close before it would.
fn closed_ends_wait<T>(
  outcome: Result<std::result::Result<T, Ended>>,
) -> Result<std::result::Result<T, Ended>> {
  match outcome {
    Err(e) if e.code == Code::Closed => Ok(Err(Ended::Closed)),
    other => other,
  }
}

/// 1.2.0's exact message; scripts compare against it.
fn already_resolved() -> StoreError {
  StoreError::new(Code::AlreadyResolved, "already resolved")
}

fn refused(what: &str, why: Refusal) -> StoreError {
  StoreError::new(
    Code::InvalidArgValue,
    format!("The \"{what}\" argument cannot be stored: {why}"),
  )
}

fn refused_json(what: &str, e: serde_json::Error) -> StoreError {
  refused(what, Refusal::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::cursor::CURSOR_SIZE;
  use crate::lock::Loss;
  use std::fs;

  fn open_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    (store, dir)
  }

  #[test]
  fn a_job_goes_from_create_to_notification() {
    let (store, tmp) = open_store();
    let dir = tmp.path();
    let id = store.create(r#"{"calculate":"3+3"}"#).unwrap();
    assert!(dir.join("pending").join(&id).symlink_metadata().is_ok());
    assert!(store.queue(&id, r#""target-1""#).unwrap().is_none());

    let job = store.pull_job().unwrap().expect("a pending job");
    assert_eq!((job.id.as_str(), job.version), (id.as_str(), 0));
    assert_eq!(job.request.as_deref(), Some(r#"{"calculate":"3+3"}"#));
    assert!(
      store.pull_job().unwrap().is_none(),
      "the only job is claimed"
    );

    assert_eq!(
      store
        .fulfill_claimed(job.claim, &id, b"6")
        .unwrap()
        .as_deref(),
      Some(r#"["target-1"]"#)
    );
    store.release(job.claim);
    assert!(dir.join("pending").join(&id).symlink_metadata().is_err());
    assert_eq!(
      fs::read(dir.join("jobs").join(&id).join("value")).unwrap(),
      b"6"
    );

    let note = store.pull_notification().unwrap().expect("a notification");
    assert_eq!(
      (note.value.as_slice(), note.waiting.as_str()),
      (&b"6"[..], r#"["target-1"]"#)
    );
    store.done(note.claim, &id, r#"["target-1"]"#).unwrap();
    assert!(dir.join("waiting").join(&id).symlink_metadata().is_err());
    assert!(store.pull_notification().unwrap().is_none());
  }

  #[test]
  fn pulls_take_the_oldest_job_first_and_never_the_same_twice() {
    let (store, _tmp) = open_store();
    let ids: Vec<String> = (0..5)
      .map(|i| store.create(&i.to_string()).unwrap())
      .collect();
    let pulled: Vec<String> = (0..5)
      .map(|_| store.pull_job().unwrap().unwrap().id)
      .collect();
    assert_eq!(pulled, ids);
    assert!(store.pull_job().unwrap().is_none());
  }

  #[test]
  fn a_free_job_is_found_behind_more_held_ones_than_a_listing_keeps() {
    let (a, tmp) = open_store();
    let dir = tmp.path();
    let b = Store::open(dir, Options::default()).unwrap();
    let ids: Vec<String> = (0..CURSOR_SIZE * 2 + 1)
      .map(|i| a.create(&i.to_string()).unwrap())
      .collect();
    let held: Vec<PulledJob> = (0..CURSOR_SIZE * 2)
      .map(|_| a.pull_job().unwrap().unwrap())
      .collect();
    assert_eq!(b.pull_job().unwrap().unwrap().id, ids[CURSOR_SIZE * 2]);
    assert!(b.pull_job().unwrap().is_none());
    drop(held);
  }

  #[test]
  fn two_stores_on_one_folder_in_one_process_exclude_each_other() {
    let (a, tmp) = open_store();
    let dir = tmp.path();
    let b = Store::open(dir, Options::default()).unwrap();
    a.create("1").unwrap();
    let job = a.pull_job().unwrap().unwrap();
    assert!(b.pull_job().unwrap().is_none());
    a.release(job.claim);
    assert_eq!(b.pull_job().unwrap().unwrap().id, job.id);
  }

  #[test]
  fn fulfill_twice_and_update_after_fulfill_say_already_resolved() {
    let (store, _tmp) = open_store();
    let id = store.create("1").unwrap();
    store.update(&id, Some(0), "2").unwrap();
    let err = store.update(&id, Some(0), "3").unwrap_err();
    assert_eq!(
      (err.code, err.message.as_str()),
      (Code::VersionMismatch, "version mismatch")
    );
    assert_eq!(
      store.pull_job().unwrap().unwrap().request.as_deref(),
      Some("2")
    );
    store.fulfill(&id, b"x").unwrap();
    for err in [
      store.fulfill(&id, b"y").unwrap_err(),
      store.update(&id, Some(1), "4").unwrap_err(),
    ] {
      assert_eq!(
        (err.code, err.message.as_str()),
        (Code::AlreadyResolved, "already resolved")
      );
    }
  }

  #[test]
  fn unknown_and_unsafe_ids_are_refused_before_touching_the_disk() {
    let (store, _tmp) = open_store();
    assert_eq!(
      store.fulfill("job-nope", b"x").unwrap_err().code,
      Code::NoJob
    );
    assert_eq!(store.queue("job-nope", "1").unwrap_err().code, Code::NoJob);
    assert_eq!(
      store.fulfill("../../etc", b"x").unwrap_err().code,
      Code::InvalidId
    );
  }

  #[test]
  fn a_damaged_job_is_skipped_by_pulls_and_reported_by_calls() {
    let (store, tmp) = open_store();
    let dir = tmp.path();
    let bad = store.create("1").unwrap();
    let good = store.create("2").unwrap();
    fs::write(dir.join("jobs").join(&bad).join("state.json"), b"{\"vers").unwrap();
    assert_eq!(store.pull_job().unwrap().unwrap().id, good);
    assert_eq!(store.fulfill(&bad, b"x").unwrap_err().code, Code::Corrupt);
  }

  #[test]
  fn a_removed_job_folder_is_reported_as_a_lost_claim_once() {
    let (store, tmp) = open_store();
    let dir = tmp.path();
    let id = store.create("1").unwrap();
    let job = store.pull_job().unwrap().unwrap();
    assert!(store.lost_claims().is_empty());
    fs::remove_dir_all(dir.join("jobs").join(&id)).unwrap();
    let lost = store.lost_claims();
    assert_eq!(
      (lost.len(), lost[0].claim, lost[0].loss.clone()),
      (1, job.claim, Loss::Removed)
    );
    assert!(store.lost_claims().is_empty());
    assert_eq!(
      store
        .fulfill_claimed(job.claim, &id, b"x")
        .unwrap_err()
        .code,
      Code::Compromised
    );
  }

  #[test]
  fn a_folder_written_by_1_2_0_is_worked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let id = "job--4242-abcDEF";
    let job_dir = dir.join("jobs").join(id);
    fs::create_dir_all(&job_dir).unwrap();
    fs::create_dir_all(dir.join("pending")).unwrap();
    fs::create_dir_all(dir.join("pending").join(format!("{id}.lock"))).unwrap();
    fs::write(
      job_dir.join("state.json"),
      r#"{"version":0,"state":1,"waiting":["t"],"request":{"a":1}}"#,
    )
    .unwrap();
    std::os::unix::fs::symlink(&job_dir, dir.join("pending").join(id)).unwrap();
    let store = Store::open(dir, Options::default()).unwrap();
    let job = store.pull_job().unwrap().unwrap();
    assert_eq!(job.id, id);
    store.fulfill(id, b"v").unwrap();
    store.release(job.claim);
    let note = store.pull_notification();
    // 1.2.0 made no waiting/ marker here by hand, so only the state says a target waits.
    assert!(note.unwrap().is_none());
    let delivery = store.delivery(id).unwrap().unwrap();
    assert_eq!(
      (delivery.value, delivery.waiting),
      (b"v".to_vec(), r#"["t"]"#.to_owned())
    );
  }
}
