//! Producing and answering jobs: `create`, `queue` and `unqueue` of targets, `fulfill`, `update`,
//! and `delivery` (what a fulfilled job owes its targets). Each change is a read-modify-write of
//! the record under the job's short state lock, made through one [`Transition`].

use crate::activity::Event;
use crate::cancel::cancelled;
use crate::clock::now_ms;
use crate::durable::{self, Durability};
use crate::error::{Code, Op, Result, StoreError};
use crate::folder::Folder;
use crate::json::{self, Refusal};
use crate::keys::{self, Holder};
use crate::layout::JOBS;
use crate::layout::{self, Layout, LockKind};
use crate::marker::Marker;
use crate::state::{JobState, JobStatus};
use crate::store::{CreateOptions, Created, Delivery, Store};
use crate::transition::{Record, Transition};
use nix::errno::Errno;

impl Store {
  /// Creates a pending job for `request` (JSON text) and returns its id.
  pub fn create(&self, request: &str) -> Result<String> {
    self
      .create_with(request, &CreateOptions::default())
      .map(|made| made.id)
  }

  /// Like [`Store::create`], with a delay, attempts, a priority, a unique key (see `keys`).
  pub fn create_with(&self, request: &str, options: &CreateOptions) -> Result<Created> {
    let f = self.writable()?;
    let key = options.key.as_deref().map(keys::file_name).transpose()?;
    let job = self.new_job(request, options)?;
    let tmp = self.build_temp_job(&f, &job)?;
    let Some(key) = key else {
      self.publish(&f, &tmp, &job)?;
      return Ok(Created {
        id: job.id,
        created: true,
      });
    };
    let _turn = self.lock_key(&f, &key)?;
    if let Holder::Active(id) = self.key_holder(&f, &key)? {
      let _ = f.remove_tree(&tmp);
      return Ok(Created { id, created: false });
    }
    self.take_key(&f, &key, &job.id)?;
    if let Err(e) = self.publish(&f, &tmp, &job) {
      let _ = f.unlink(&keys::link(&key));
      return Err(e);
    }
    Ok(Created {
      id: job.id,
      created: true,
    })
  }

  /// Creates job `id` (a schedule's slot job, whose id every process derives alike) unless a job
  /// of that id exists: the publishing rename cannot replace a job folder, so of two processes
  /// making it at once, one does. `true` when this call made it.
  pub(crate) fn create_once(
    &self,
    id: &str,
    request: &str,
    options: &CreateOptions,
  ) -> Result<bool> {
    let f = self.writable()?;
    let mut job = self.new_job(request, options)?;
    job.id = id.to_owned();
    if f.exists(&Layout::job_dir(id)) {
      return Ok(false);
    }
    let tmp = self.build_temp_job(&f, &job)?;
    match self.publish(&f, &tmp, &job) {
      Ok(()) => Ok(true),
      // Another process published it first (renaming onto a folder that is not empty fails).
      Err(e) if matches!(e.code, Code::Os(Errno::ENOTEMPTY | Errno::EEXIST)) => {
        let _ = f.remove_tree(&tmp);
        Ok(false)
      }
      Err(e) => Err(e),
    }
  }

  /// Creates one job per request (JSON texts), acknowledged together: every job is built first,
  /// then made durable with one flush of the filesystem, then published, and the folders are
  /// fsynced once for the whole batch. On an error, the jobs published so far (the first ones,
  /// in order) stay and are durable, the others leave nothing behind; the error's `created`
  /// says which.
  pub fn create_many(&self, requests: &[String], options: &CreateOptions) -> Result<Vec<String>> {
    let fail = |created: &[String], mut error: StoreError| {
      let made = created.len();
      error.message = format!(
        "createMany made {made} of {} jobs (the first {made}, ids in err.created) and not the rest: {}",
        requests.len(),
        error.message
      );
      error.created = Some(created.to_vec());
      error
    };
    // Mistakes in the arguments are refused before anything is made, as plain errors.
    let f = self.writable()?;
    if options.key.is_some() {
      return Err(StoreError::new(
        Code::InvalidArgValue,
        "The \"options.key\" argument cannot be given to createMany: a key names one job; create keyed jobs one at a time",
      ));
    }
    let mut jobs = Vec::with_capacity(requests.len());
    for request in requests {
      jobs.push(self.new_job(request, options)?);
    }
    let mut built: Vec<String> = Vec::with_capacity(jobs.len());
    let take_back = |built: &[String]| {
      for tmp in built {
        let _ = f.remove_tree(tmp);
      }
    };
    for job in &jobs {
      let tmp = Layout::temp_path();
      let each = if durable::FLUSHES_FILESYSTEM {
        Durability::Relaxed
      } else {
        self.durability()
      };
      let made = self.build_job_folder_with(&f, &tmp, &job.state, each);
      built.push(tmp);
      if let Err(e) = made {
        take_back(&built);
        return Err(fail(&[], e));
      }
    }
    // One flush for every file and folder just written, instead of two fsyncs per job.
    if let Err(e) = durable::sync_filesystem(&f, self.durability()) {
      take_back(&built);
      return Err(fail(&[], e));
    }
    let markers: Vec<(&NewJob, Marker)> = jobs
      .iter()
      .map(|job| (job, Marker::for_new(job.state.run_at_ms)))
      .collect();
    let published = self.publish_batch(&f, &built, &markers);
    self.note(Event::Created, published.0 as u64);
    let created: Vec<String> = jobs[..published.0]
      .iter()
      .map(|job| job.id.clone())
      .collect();
    match published.1 {
      None => Ok(created),
      Some(e) => {
        take_back(&built[published.0..]);
        Err(fail(&created, e))
      }
    }
  }

  /// Publishes built jobs in order through one transition's steps for all: markers, one fsync
  /// of their folders, renames into `jobs/`, one fsync of `jobs/`. Returns how many were
  /// published, and the error that stopped it (markers of the unpublished ones removed).
  fn publish_batch(
    &self,
    f: &Folder,
    built: &[String],
    jobs: &[(&NewJob, Marker)],
  ) -> (usize, Option<StoreError>) {
    let durability = self.durability();
    let undo_markers = |from: usize| {
      for (job, marker) in &jobs[from..] {
        let _ = f.unlink(&marker.link(&job.id));
      }
    };
    for (i, (job, marker)) in jobs.iter().enumerate() {
      if let Err(e) = self.make_link(f, &marker.link(&job.id), &job.id) {
        undo_markers(0);
        let _ = i;
        return (0, Some(e));
      }
    }
    let mut folders: Vec<&str> = jobs.iter().map(|(_, m)| m.folder()).collect();
    folders.sort_unstable();
    folders.dedup();
    for folder in folders {
      if let Err(e) = self.syncs.sync(f, folder, durability) {
        undo_markers(0);
        return (0, Some(e));
      }
    }
    let mut published = 0;
    let mut stopped = None;
    for ((job, _), tmp) in jobs.iter().zip(built) {
      let job_dir = Layout::job_dir(&job.id);
      if let Err(e) = f.rename(tmp, &job_dir) {
        stopped = Some(StoreError::io(&e, Op::Rename, &f.full(&job_dir)));
        break;
      }
      published += 1;
    }
    if stopped.is_some() {
      undo_markers(published);
    }
    if published > 0 {
      if let Err(e) = self.syncs.sync(f, JOBS, durability) {
        // Published, but not known durable: none can be acknowledged.
        for (job, marker) in &jobs[..published] {
          let _ = f.remove_tree(&Layout::job_dir(&job.id));
          let _ = f.unlink(&marker.link(&job.id));
        }
        return (0, Some(e));
      }
    }
    for (job, marker) in &jobs[..published] {
      if let Marker::Delayed { due_ms } = marker {
        self.delayed.note(*due_ms, &job.id);
      }
      self.pending.offer(&job.id);
    }
    self.wake.bump();
    (published, stopped)
  }

  /// The record and id of a job to be made.
  fn new_job(&self, request: &str, options: &CreateOptions) -> Result<NewJob> {
    json::check_depth(request).map_err(|why| refused("request", why))?;
    let mut state = JobState::new(request).map_err(|e| refused_json("request", e))?;
    if !layout::PRIORITIES.contains(&options.priority) {
      return Err(StoreError::new(
        Code::InvalidArgValue,
        format!(
          "The \"options.priority\" argument must be a whole number from {} to {}; it is {}",
          layout::PRIORITIES.start(),
          layout::PRIORITIES.end(),
          options.priority
        ),
      ));
    }
    state.max_attempts = options.max_attempts;
    state.priority = Some(options.priority).filter(|p| *p != 0);
    state.key = options.key.clone();
    state.schedule = options.schedule.clone();
    state.run_at_ms = options
      .run_at_ms
      .filter(|at| *at > now_ms())
      .map(|at| at.ceil());
    Ok(NewJob {
      id: layout::new_job_id(options.priority),
      state,
    })
  }

  /// Builds `job`'s folder under a new temporary name, which it returns; nothing is left of a
  /// build that failed.
  fn build_temp_job(&self, f: &Folder, job: &NewJob) -> Result<String> {
    let tmp = Layout::temp_path();
    self
      .build_job_folder(f, &tmp, &job.state)
      .inspect_err(|_| {
        let _ = f.remove_tree(&tmp);
      })?;
    Ok(tmp)
  }

  /// Publishes a job built under `tmp`: its marker, then its folder, in one transition.
  fn publish(&self, f: &Folder, tmp: &str, job: &NewJob) -> Result<()> {
    let marker = Marker::for_new(job.state.run_at_ms);
    let made = self.transition(
      f,
      &job.id,
      Transition {
        add: &[marker],
        record: Record::Publish { tmp },
        remove: &[],
      },
    );
    if let Err(e) = made {
      // Not acknowledged: take it back whole, so no half-made job is left to be found. The
      // job's folder is ours to remove only if our folder got there (`tmp` is gone); a rename
      // refused because the id exists leaves another's job alone.
      if f.exists(tmp) {
        let _ = f.remove_tree(tmp);
      } else {
        let _ = f.remove_tree(&Layout::job_dir(&job.id));
        let _ = f.unlink(&marker.link(&job.id));
      }
      return Err(e);
    }
    // It may sort ahead of ids this process's pulls hold already (a priority above theirs).
    self.pending.offer(&job.id);
    self.note(Event::Created, 1);
    Ok(())
  }

  /// Fills a new job folder under the temporary name `tmp`.
  fn build_job_folder(&self, f: &Folder, tmp: &str, state: &JobState) -> Result<()> {
    self.build_job_folder_with(f, tmp, state, self.durability())
  }

  fn build_job_folder_with(
    &self,
    f: &Folder,
    tmp: &str,
    state: &JobState,
    durability: Durability,
  ) -> Result<()> {
    self
      .with_folders(f, || f.mkdir(tmp))
      .map_err(|e| StoreError::io(&e, Op::CreateFolder, &f.full(tmp)))?;
    let record = format!("{tmp}/{}", layout::STATE_FILE);
    durable::write_new_file(f, &record, state.to_json().as_bytes(), durability)?;
    // Every job is fulfilled some day, under its state lock. When durable, make that file now,
    // in the folder being built (fsynced with it), rather than as a new inode on the fulfil path;
    // when not, the fulfil's lock makes it in the same system call that opens it.
    if self.durability() == Durability::Durable {
      let lock = format!("{tmp}/{}", LockKind::State.file_name());
      durable::write_new_file(f, &lock, b"", Durability::Relaxed)?;
    }
    durable::sync_dir(f, tmp, durability)
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
    self.transition(
      &f,
      id,
      Transition {
        add: &[Marker::Waiting],
        record: Record::Write(&state),
        remove: &[],
      },
    )?;
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
    let none_left: &[Marker] = if state.waiting.is_empty() {
      &[Marker::Waiting]
    } else {
      &[]
    };
    self.transition(
      &f,
      id,
      Transition {
        add: &[],
        record: Record::Write(&state),
        remove: none_left,
      },
    )
  }

  /// Fulfils a pending job with `value`. Anyone may fulfil (as in 1.2.0); see
  /// [`Store::fulfill_claimed`] for the fenced form. Returns the targets waiting for the value
  /// (a JSON array text), if any, so they can be served at once.
  pub fn fulfill(&self, id: &str, value: &[u8]) -> Result<Option<String>> {
    self.fulfill_fenced(None, id, value)
  }

  /// [`Store::fulfill`], checking `claim`'s token under the state lock when given.
  fn fulfill_fenced(&self, claim: Option<u64>, id: &str, value: &[u8]) -> Result<Option<String>> {
    let f = self.writable()?;
    layout::check_id(id)?;
    let _lock = match claim {
      Some(claim) => self.lock_state_claimed(&f, id, claim)?,
      None => self.lock_state(&f, id)?,
    };
    if let Some(claim) = claim {
      self.claims.check_token(claim, id)?;
    }
    let mut state = match claim {
      Some(claim) => self.read_state_claimed(&f, id, claim)?,
      None => self.read_state(&f, id)?,
    };
    if state.status != JobStatus::Pending {
      self.transition(&f, id, Transition::tidy(&[Marker::Pending]))?;
      return Err(not_pending(id, &state));
    }
    state.status = JobStatus::Fulfilled;
    state.fulfilled_at_ms = Some(now_ms());
    // Only once the value is on disk does the job stop being pending (or delayed).
    let markers = Marker::of_pending(state.run_at_ms);
    self.transition(
      &f,
      id,
      Transition {
        add: &[],
        record: Record::Fulfil {
          value,
          state: &state,
        },
        remove: &markers,
      },
    )?;
    self.note(Event::Fulfilled, 1);
    Ok((!state.waiting.is_empty()).then(|| state.waiting_json()))
  }

  /// Fulfils job `id` held by `claim`, but only while that claim still holds: a worker that
  /// lost its job gets `ECOMPROMISED` and changes nothing.
  pub fn fulfill_claimed(&self, claim: u64, id: &str, value: &[u8]) -> Result<Option<String>> {
    self.claims.check(&*self.folder()?, claim, id)?;
    let waiting = self.fulfill_fenced(Some(claim), id, value)?;
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
      self.transition(&f, id, Transition::tidy(&[Marker::Pending]))?;
      return Err(not_pending(id, &state));
    }
    if Some(state.version) != old_version {
      return Err(StoreError::new(Code::VersionMismatch, "version mismatch"));
    }
    state.version += 1;
    state.request = Some(request);
    self.transition(
      &f,
      id,
      Transition {
        add: &[],
        record: Record::Write(&state),
        remove: &[],
      },
    )
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
}

/// A job about to be made: its id and record.
struct NewJob {
  id: String,
  state: JobState,
}

/// Why a job that is not pending cannot be fulfilled or updated.
fn not_pending(id: &str, state: &JobState) -> StoreError {
  match state.status {
    JobStatus::Cancelled => cancelled(id, state),
    _ => already_resolved(),
  }
}

/// 1.2.0's exact message; scripts compare against it.
pub(crate) fn already_resolved() -> StoreError {
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
  use crate::store::Options;
  use std::sync::Arc;

  fn open() -> (Arc<Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Store::open(dir.path(), Options::default()).unwrap(), dir)
  }

  fn with(priority: i32, key: Option<&str>) -> CreateOptions {
    CreateOptions {
      priority,
      key: key.map(str::to_owned),
      ..CreateOptions::default()
    }
  }

  #[test]
  fn pulls_take_higher_priorities_first_then_the_oldest() {
    let (store, _dir) = open();
    let made: Vec<(i32, String)> = [0, -2, 5, 0, 5, 1]
      .into_iter()
      .map(|p| (p, store.create_with("1", &with(p, None)).unwrap().id))
      .collect();
    let order: Vec<String> = (0..made.len())
      .map(|_| store.pull_job().unwrap().unwrap().id)
      .collect();
    let mut expected = made.clone();
    expected.sort_by_key(|b| std::cmp::Reverse(b.0));
    assert_eq!(
      order,
      expected.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    );
    assert_eq!(store.get(&made[2].1).unwrap().priority, 5);
  }

  #[test]
  fn a_job_of_higher_priority_made_after_a_listing_is_pulled_next() {
    let (store, _dir) = open();
    store.create("1").unwrap();
    store.create("2").unwrap();
    let first = store.pull_job().unwrap().unwrap();
    let urgent = store.create_with("3", &with(9, None)).unwrap().id;
    assert_eq!(store.pull_job().unwrap().unwrap().id, urgent);
    store.release(first.claim);
  }

  #[test]
  fn a_key_makes_one_job_until_that_job_ends() {
    let (store, _dir) = open();
    let first = store
      .create_with("1", &with(0, Some("account 42")))
      .unwrap();
    assert!(first.created);
    let again = store
      .create_with("2", &with(0, Some("account 42")))
      .unwrap();
    assert_eq!(
      again,
      Created {
        id: first.id.clone(),
        created: false
      }
    );
    assert_eq!(store.list(crate::inspect::Listing::All).unwrap().len(), 1);
    store.fulfill(&first.id, b"v").unwrap();
    let after = store
      .create_with("3", &with(0, Some("account 42")))
      .unwrap();
    assert!(after.created && after.id != first.id);
    assert_eq!(
      store.get(&after.id).unwrap().key.as_deref(),
      Some("account 42")
    );
  }

  #[test]
  fn a_key_whose_job_never_appeared_is_taken_over() {
    let (store, dir) = open();
    // What a crash between taking the key and publishing its job leaves.
    std::os::unix::fs::symlink("../jobs/job-gone", dir.path().join("keys").join("k")).unwrap();
    let made = store.create_with("1", &with(0, Some("k"))).unwrap();
    assert!(made.created);
    assert!(store.check(false).unwrap().is_empty());
  }

  #[test]
  fn create_many_makes_every_job_in_order() {
    let (store, _dir) = open();
    let requests: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    let ids = store.create_many(&requests, &with(2, None)).unwrap();
    assert_eq!(ids.len(), 50);
    let pulled: Vec<String> = (0..50)
      .map(|_| store.pull_job().unwrap().unwrap().id)
      .collect();
    assert_eq!(pulled, ids);
    let bad = vec!["1".to_owned(), "{".to_owned()];
    let err = store.create_many(&bad, &with(0, None)).unwrap_err();
    assert_eq!(err.code, Code::InvalidArgValue, "{err}");
    assert_eq!(
      store.stats().unwrap().pending,
      50,
      "nothing of the bad batch"
    );
  }
}
