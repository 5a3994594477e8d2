//! A store: one folder, opened once per process (or more), shared safely by threads of this
//! process and by other processes. This file holds what a store is made of and its life (open,
//! close); what it does lives in one file per concern: `produce` (create, queue, fulfil, update),
//! `pull` (pulls and waits, claims, notifications done), `delayed`, `failure`, `inspect`,
//! `retention`, `check`. Each state change goes through `transition`, each file through `record`.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use crate::activity::{self, Activity};
use crate::claim_watch::{self, LossReport, Watched};
use crate::claimed::{self, ClaimedFile};
use crate::claims::{Claims, LostClaim};
use crate::cursor::PullCursor;
use crate::delayed_index::DelayedIndex;
use crate::durable::{DirSyncs, Durability};
use crate::error::{Result, StoreError};
use crate::folder::{Filesystem, Folder};
use crate::layout::{Access, Layout, CANCELLED, DELAYED, FAILED, JOBS, KEYS, PENDING, WAITING};
use crate::leftovers;
use crate::wake::Wake;

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
  /// How often held claims are checked for loss.
  pub lock_check_interval: Duration,
  /// How often a waiting pull looks (one `lstat`) whether another machine added work; `None`
  /// decides from the folder's filesystem: 50 ms on network and unknown filesystems, where
  /// no event crosses machines, and only the 500 ms backstop on local ones.
  pub poll: Option<Duration>,
  /// Told of each lost claim once, on the claim watcher's thread; `None`: losses are still
  /// detected (fenced calls fail `ECOMPROMISED`) but nobody is told when they happen.
  pub on_lost_claim: Option<LossReport>,
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
  /// Higher is pulled first; in [`crate::layout::PRIORITIES`], 0 by default.
  pub priority: i32,
  /// A unique key: no new job while one holding it is still to be done (see `keys`).
  pub key: Option<String>,
  /// The schedule and slot (ms since the epoch) a scheduled job is made for.
  pub schedule: Option<(String, f64)>,
}

/// What a create answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
  pub id: String,
  /// `false` when a job holding the key already existed, and `id` is that job's.
  pub created: bool,
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
      lock_check_interval: Duration::from_secs(1),
      poll: None,
      on_lost_claim: None,
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
  pub priority: i32,
  pub key: Option<String>,
  /// The schedule that made the job and its slot (ms since the epoch).
  pub schedule: Option<(String, f64)>,
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
  /// Group commits of the folders markers and jobs live in.
  pub(crate) syncs: DirSyncs,
  pub(crate) delayed: Arc<DelayedIndex>,
  pub(crate) pending: Arc<PullCursor>,
  pub(crate) waiting: PullCursor,
  pub(crate) claims: Claims,
  pub(crate) wake: Arc<Wake>,
  inline: bool,
  /// See [`Options::poll`]; decided at open.
  poll: Option<Duration>,
  /// This store's jobs created, fulfilled and failed per minute (see `activity`).
  pub(crate) activity: Activity,
  /// The file of the claims this store holds (see `claimed`), made at its first claim.
  claimed: Mutex<Option<Arc<ClaimedFile>>>,
  /// Itself, for the threads it starts (which must not keep it alive).
  pub(crate) me: OnceLock<Weak<Store>>,
}

impl Store {
  /// Opens the store at `dir`. Read-write, it creates the folder and its sub-folders when
  /// missing and sweeps leftover temporary files; read-only, it changes nothing. With
  /// `options.on_lost_claim`, the store's claims are watched for loss until it is closed or
  /// dropped.
  pub fn open(dir: &Path, options: Options) -> Result<Arc<Store>> {
    let durable = options.durability == Durability::Durable;
    let (layout, folder) = Layout::open(dir, options.access, durable)?;
    let filesystem = folder.filesystem();
    let inline = options.inline.unwrap_or(match filesystem {
      Filesystem::Tmpfs => true,
      Filesystem::LocalDisk => options.durability == Durability::Relaxed,
      Filesystem::Other => false,
    });
    let poll = options
      .poll
      .or_else(|| (filesystem == Filesystem::Other).then_some(Duration::from_millis(50)));
    if options.access == Access::ReadWrite {
      leftovers::sweep(&folder);
      claimed::sweep(&folder);
      activity::sweep(&folder);
    }
    let store = Arc::new(Store {
      layout,
      folder: RwLock::new(Some(Arc::new(folder))),
      syncs: DirSyncs::new(&[JOBS, PENDING, WAITING, FAILED, DELAYED, CANCELLED, KEYS]),
      delayed: Arc::default(),
      pending: Arc::new(PullCursor::new(PENDING)),
      waiting: PullCursor::new(WAITING),
      claims: Claims::new(poll.is_some()),
      wake: Arc::default(),
      inline,
      poll,
      options,
      activity: Activity::default(),
      claimed: Mutex::default(),
      me: OnceLock::new(),
    });
    let _ = store.me.set(Arc::downgrade(&store));
    if let Some(report) = store.options.on_lost_claim.clone() {
      let watched: std::sync::Weak<dyn Watched> = Arc::downgrade(&store) as _;
      claim_watch::watch(watched, store.options.lock_check_interval, report).map_err(|e| {
        StoreError::new(
          crate::error::Code::Os(nix::errno::Errno::EAGAIN),
          format!(
            "cannot start the thread that watches claims ({e}); the process is out of threads"
          ),
        )
      })?;
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

  /// How often waiting pulls look for work made elsewhere (see [`Options::poll`]).
  pub fn poll_every(&self) -> Option<Duration> {
    self.poll
  }

  /// This store's file of claims, made when first needed; `None` when it cannot be made (the
  /// claims then go uncounted).
  pub(crate) fn claimed_file(&self, f: &Arc<Folder>) -> Option<Arc<ClaimedFile>> {
    let mut file = self.claimed.lock().unwrap();
    if file.is_none() {
      *file = ClaimedFile::make(f);
    }
    file.clone()
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

  /// Ends every wait, releases every claim and closes every descriptor the store holds, and
  /// stops watching its claims; later calls fail with `ECLOSED`. Operations already running
  /// finish on the folder they started on.
  pub fn close(&self) {
    self.flush_activity();
    self.wake.close();
    self.folder.write().unwrap().take();
    self.claims.release_all();
    self.claimed.lock().unwrap().take();
    self.syncs.reopen();
    self.pending.reset();
    self.waiting.reset();
    claim_watch::forget_closed();
  }
}

impl Watched for Store {
  fn lost_claims(&self) -> Vec<LostClaim> {
    Store::lost_claims(self)
  }

  fn is_closed(&self) -> bool {
    Store::is_closed(self)
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::cursor::CURSOR_SIZE;
  use crate::error::Code;
  use crate::lock::Loss;
  use std::fs;

  fn open_store() -> (Arc<Store>, tempfile::TempDir) {
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

    let note = store
      .pull_notification(&[])
      .unwrap()
      .expect("a notification");
    assert_eq!(
      (note.value.as_slice(), note.waiting.as_str()),
      (&b"6"[..], r#"["target-1"]"#)
    );
    store.done(note.claim, &id, r#"["target-1"]"#).unwrap();
    assert!(dir.join("waiting").join(&id).symlink_metadata().is_err());
    assert!(store.pull_notification(&[]).unwrap().is_none());
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
  fn a_claim_taken_over_elsewhere_cannot_commit_though_its_own_lock_looks_held() {
    let (store, tmp) = open_store();
    let id = store.create("1").unwrap();
    let job = store.pull_job().unwrap().unwrap();
    // What another machine's claim records after this one's lock was dropped by the server.
    use std::io::Write;
    std::fs::OpenOptions::new()
      .append(true)
      .open(tmp.path().join("jobs").join(&id).join("work.lock"))
      .unwrap()
      .write_all(b"a")
      .unwrap();
    let err = store.fulfill_claimed(job.claim, &id, b"late").unwrap_err();
    assert_eq!(err.code, Code::Compromised, "{err}");
    assert!(
      err.message.contains("another worker has claimed it"),
      "{err}"
    );
    assert_eq!(
      store.get(&id).unwrap().phase,
      crate::inspect::Phase::Pending,
      "nothing landed"
    );
    let lost = store.lost_claims();
    assert_eq!(lost[0].loss, Loss::TakenOver);
    assert_eq!(
      store
        .fail_claimed(job.claim, &id, "{}", None)
        .unwrap_err()
        .code,
      Code::Compromised
    );
  }

  #[test]
  fn a_job_given_back_is_free_at_once_and_its_claim_is_not_counted() {
    let (store, _tmp) = open_store();
    store.create("1").unwrap();
    let first = store.pull_job().unwrap().unwrap();
    store.give_back(first.claim);
    let again = store.pull_job().unwrap().expect("free at once");
    assert_eq!((again.id.as_str(), again.attempts), (first.id.as_str(), 1));
    store.release(again.claim);
    assert_eq!(store.pull_job().unwrap().unwrap().attempts, 2);
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
    let note = store.pull_notification(&[]);
    // 1.2.0 made no waiting/ marker here by hand, so only the state says a target waits.
    assert!(note.unwrap().is_none());
    let delivery = store.delivery(id).unwrap().unwrap();
    assert_eq!(
      (delivery.value, delivery.waiting),
      (b"v".to_vec(), r#"["t"]"#.to_owned())
    );
  }
}
