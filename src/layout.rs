//! The store's folder: where every file of a job lives, id validation, and listing.
//!
//! The layout is fs-job-store 1.2.0's, so folders move freely between the two versions:
//!
//! ```text
//! DIR/jobs/<id>/state.json   the job record (see state.rs)
//! DIR/jobs/<id>/value        the fulfilled value's bytes
//! DIR/jobs/<id>/*.lock       our lock files (1.2.0 ignores them)
//! DIR/pending/<id>           symlink to ../jobs/<id> while the job needs work
//! DIR/waiting/<id>           symlink to ../jobs/<id> while targets wait for its value
//! DIR/jobs/<id>/progress     the latest progress its worker reported (JSON text)
//! DIR/failed/<id>            symlink to ../jobs/<id> while the job is set aside as failed
//! DIR/cancelled/<id>         symlink to ../jobs/<id> once the job is cancelled
//! DIR/delayed/<due>-<id>     symlink to ../jobs/<id> while the job waits for its time (`due` in
//!                            ms since the epoch, 15 digits, so names sort by time)
//! DIR/keys/<key>             symlink to ../jobs/<id>: the job that holds the unique key (see keys.rs)
//! DIR/schedules/<name>.json  a schedule (see schedule.rs)
//! DIR/tmp/                   our temporary files; inside the store so a rename never crosses filesystems
//! ```

use std::collections::BinaryHeap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use crate::error::{Code, Op, Result, StoreError};
use crate::folder::{Folder, Kind};

pub const STATE_FILE: &str = "state.json";
pub const VALUE_FILE: &str = "value";
pub const PROGRESS_FILE: &str = "progress";
pub const JOBS: &str = "jobs";
pub const PENDING: &str = "pending";
pub const WAITING: &str = "waiting";
pub const TMP: &str = "tmp";
pub const FAILED: &str = "failed";
pub const DELAYED: &str = "delayed";
pub const CANCELLED: &str = "cancelled";
pub const KEYS: &str = "keys";
pub const SCHEDULES: &str = "schedules";
/// One entry per job a worker holds, for counting them (see `claimed`).
pub const CLAIMED: &str = "claimed";
/// Each process's jobs per minute (see `activity`).
pub const ACTIVITY: &str = "activity";

/// Every sub-folder of a store.
const SUB_FOLDERS: [&str; 11] = [
  JOBS, PENDING, WAITING, TMP, FAILED, DELAYED, CANCELLED, KEYS, SCHEDULES, CLAIMED, ACTIVITY,
];

/// Every lock a job can have; each is a separate file so a worker's long claim never blocks a
/// short state update, and a notifier never blocks a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
  /// Held by the worker that pulled the job, for as long as it works on it.
  Work,
  /// Held by the notifier that pulled the job's notification.
  Notify,
  /// Held for the few milliseconds of a read-modify-write of `state.json`.
  State,
}

impl LockKind {
  pub fn file_name(self) -> &'static str {
    match self {
      LockKind::Work => "work.lock",
      LockKind::Notify => "notify.lock",
      LockKind::State => "state.lock",
    }
  }
}

/// The names a job folder of ours can hold; nothing else is ever written into one.
pub fn is_job_file(name: &str) -> bool {
  matches!(
    name,
    STATE_FILE | VALUE_FILE | PROGRESS_FILE | "work.lock" | "notify.lock" | "state.lock"
  )
}

/// The store folder's path (for messages and keys) and where each file of a job lives, as paths
/// relative to it (see `folder`).
#[derive(Debug, Clone)]
pub struct Layout {
  root: PathBuf,
  /// Whether the folders it makes are fsynced.
  durable: bool,
}

/// Whether a store may change its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
  ReadWrite,
  /// Inspection only: nothing is created, swept, locked or written.
  ReadOnly,
}

impl Layout {
  /// Opens `root` and checks its sub-folders. With [`Access::ReadWrite`] the folder and missing
  /// sub-folders are made; read-only, nothing is, and a folder with none of `jobs/`, `pending/`,
  /// `waiting/` is refused (`ENOTSTORE`). A sub-folder that is a link or not a folder is refused
  /// (`ECORRUPT`): the store never works through a link.
  ///
  /// With `durable`, what it makes is fsynced before it returns (the store folder's entry in its
  /// parent, the sub-folders' entries in the store folder), so the first acknowledged change
  /// never rests on a folder a power cut could take back.
  pub fn open(root: &Path, access: Access, durable: bool) -> Result<(Layout, Folder)> {
    if root.as_os_str().is_empty() {
      return Err(StoreError::new(
        Code::InvalidArgValue,
        "options.dir is empty; pass the path of the store's folder",
      ));
    }
    match std::fs::metadata(root) {
      Ok(meta) if !meta.is_dir() => {
        let mut e = StoreError::new(
          Code::Os(nix::errno::Errno::ENOTDIR),
          format!(
            "ENOTDIR: options.dir '{}' is a file, not a folder; pass a folder's path",
            root.display()
          ),
        )
        .with_path(root);
        e.errno = Some(nix::errno::Errno::ENOTDIR as i32);
        return Err(e);
      }
      Ok(_) => {}
      Err(e) if e.kind() == io::ErrorKind::NotFound && access == Access::ReadWrite => {
        std::fs::create_dir_all(root).map_err(|e| StoreError::io(&e, Op::CreateFolder, root))?;
        if durable {
          // Read only, never written: the parent holds the new folder's name.
          let parent = root.parent().filter(|p| !p.as_os_str().is_empty());
          let synced =
            std::fs::File::open(parent.unwrap_or(Path::new("."))).and_then(|d| d.sync_all());
          synced.map_err(|e| StoreError::io(&e, Op::Fsync, parent.unwrap_or(root)))?;
        }
      }
      Err(e) => return Err(StoreError::io(&e, Op::OpenFolder, root)),
    }
    let root = std::fs::canonicalize(root).map_err(|e| StoreError::io(&e, Op::Resolve, root))?;
    let folder = Folder::open(&root).map_err(|e| StoreError::io(&e, Op::OpenFolder, &root))?;
    let layout = Layout { root, durable };
    let found = layout.check_folders(&folder)?;
    match access {
      Access::ReadWrite => layout.make_folders(&folder)?,
      Access::ReadOnly if found == 0 => {
        return Err(
          StoreError::new(
            Code::NotStore,
            format!(
            "not a job store folder: {} (it has none of jobs/, pending/, waiting/); check the path",
            layout.root.display()
          ),
          )
          .with_path(&layout.root),
        )
      }
      Access::ReadOnly => {}
    }
    Ok((layout, folder))
  }

  /// Refuses sub-folders that are links or not folders; returns how many of the marker and job
  /// folders exist.
  fn check_folders(&self, folder: &Folder) -> Result<usize> {
    let mut found = 0;
    for sub in SUB_FOLDERS {
      match folder.lstat(sub) {
        Ok(meta) if meta.kind == Kind::Folder => {
          found += usize::from(matches!(sub, JOBS | PENDING | WAITING))
        }
        Ok(meta) => {
          let what = if meta.kind == Kind::Link {
            "a symbolic link"
          } else {
            "not a folder"
          };
          return Err(StoreError::corrupt(
            &folder.full(sub),
            format!("it is {what}; the store never works through links. Make it a plain folder, or point dir at the real store"),
          ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&e, Op::Inspect, &folder.full(sub))),
      }
    }
    Ok(found)
  }

  /// Creates the sub-folders that are missing; done on open, and again when one was removed
  /// while the store was in use (1.2.0 made them on demand too).
  pub fn make_folders(&self, folder: &Folder) -> Result<()> {
    let mut made = false;
    for sub in SUB_FOLDERS {
      match folder.mkdir(sub) {
        Ok(()) => made = true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StoreError::io(&e, Op::CreateFolder, &folder.full(sub))),
      }
    }
    if made && self.durable {
      folder
        .sync_dir(".")
        .map_err(|e| StoreError::io(&e, Op::Fsync, &self.root))?;
    }
    self.check_folders(folder).map(drop)
  }

  pub fn root(&self) -> &Path {
    &self.root
  }

  /// The full path of a relative one, for messages.
  pub fn full(&self, rel: &str) -> PathBuf {
    self.root.join(rel)
  }

  pub fn job_dir(id: &str) -> String {
    format!("{JOBS}/{id}")
  }
  pub fn state_file(id: &str) -> String {
    format!("{JOBS}/{id}/{STATE_FILE}")
  }
  pub fn value_file(id: &str) -> String {
    format!("{JOBS}/{id}/{VALUE_FILE}")
  }
  pub fn lock_file(id: &str, kind: LockKind) -> String {
    format!("{JOBS}/{id}/{}", kind.file_name())
  }
  pub fn pending_link(id: &str) -> String {
    format!("{PENDING}/{id}")
  }
  pub fn waiting_link(id: &str) -> String {
    format!("{WAITING}/{id}")
  }
  pub fn failed_link(id: &str) -> String {
    format!("{FAILED}/{id}")
  }
  pub fn cancelled_link(id: &str) -> String {
    format!("{CANCELLED}/{id}")
  }
  pub fn progress_file(id: &str) -> String {
    format!("{JOBS}/{id}/{PROGRESS_FILE}")
  }
  /// The marker of a job not to be worked before `due_ms`.
  pub fn delayed_link(due_ms: u64, id: &str) -> String {
    format!("{DELAYED}/{}", delayed_name(due_ms, id))
  }

  /// What `pending/<id>` and `waiting/<id>` point at: relative, so the folder can be moved or
  /// mounted elsewhere and its links still resolve. The store itself never follows them: a
  /// marker's name is the job's id.
  pub fn link_target(id: &str) -> String {
    format!("../{JOBS}/{id}")
  }

  /// The id a link made by [`Layout::link_target`] names (its last component).
  pub fn linked_id(target: &str) -> &str {
    target.rsplit('/').next().unwrap_or_default()
  }

  /// A fresh, unused name inside `tmp/`: this process's random tag and a counter, so making one
  /// costs no system call.
  pub fn temp_path() -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{TMP}/tmp-{}-{n}", *PROCESS_TAG)
  }

  /// The ids in `pending/` or `waiting/`, oldest first. Skips 1.2.0's `*.lock` folders and
  /// anything that is not a valid id.
  pub fn list_ids(folder: &Folder, dir: &str) -> Result<Vec<String>> {
    Self::list(folder, dir, false, usize::MAX, None)
  }

  /// The `limit` oldest ids in `dir` (newer than `after`, if given), oldest first, in memory
  /// proportional to `limit` whatever the folder's size.
  pub fn list_oldest(
    folder: &Folder,
    dir: &str,
    limit: usize,
    after: Option<&str>,
  ) -> Result<Vec<String>> {
    Self::list(folder, dir, false, limit, after)
  }

  /// The ids of the job folders in `jobs/`, oldest first; a stray file or a link there is no job.
  pub fn list_jobs(folder: &Folder) -> Result<Vec<String>> {
    Self::list(folder, JOBS, true, usize::MAX, None)
  }

  fn list(
    folder: &Folder,
    dir: &str,
    folders_only: bool,
    limit: usize,
    after: Option<&str>,
  ) -> Result<Vec<String>> {
    // A max-heap of the oldest seen so far: a newer name than its top is not kept.
    let mut oldest: BinaryHeap<String> = BinaryHeap::with_capacity(limit.min(65536));
    let listed = folder.for_each_entry(dir, |entry| {
      let name = &entry.name;
      if (folders_only && entry.kind != Kind::Folder)
        || check_id(name).is_err()
        || after.is_some_and(|after| name.as_str() <= after)
      {
        return false;
      }
      if oldest.len() < limit {
        oldest.push(name.clone());
      } else if oldest.peek().is_some_and(|newest| name < newest) {
        oldest.pop();
        oldest.push(name.clone());
      }
      false
    });
    match listed {
      Ok(_) => Ok(oldest.into_sorted_vec()),
      Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
      Err(e) => Err(StoreError::io(&e, Op::List, &folder.full(dir))),
    }
  }
}

/// The name of a `delayed/` marker: the due time, so names sort by it, and the id.
pub fn delayed_name(due_ms: u64, id: &str) -> String {
  format!("{due_ms:015}-{id}")
}

/// The due time and id of a `delayed/` marker's name, if it is one.
pub fn parse_delayed_name(name: &str) -> Option<(u64, &str)> {
  let (due, id) = name.split_once('-')?;
  if due.len() != 15 || check_id(id).is_err() {
    return None;
  }
  Some((due.parse().ok()?, id))
}

/// Whether `name` (in `tmp/`) is one [`Layout::temp_path`] makes: `tmp-<16 hex>-<number>`.
pub fn is_temp_name(name: &str) -> bool {
  let Some(rest) = name.strip_prefix("tmp-") else {
    return false;
  };
  let Some((tag, n)) = rest.split_once('-') else {
    return false;
  };
  tag.len() == 16
    && tag.bytes().all(|b| b.is_ascii_hexdigit())
    && !n.is_empty()
    && n.bytes().all(|b| b.is_ascii_digit())
}

/// Drawn once per process from the OS's randomness; what keeps names of processes apart.
static PROCESS_TAG: LazyLock<String> =
  LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_owned());
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new job id: `job-` and a UUID v7, so ids are unique across processes and machines and
/// sort by creation time. `uuid` keeps ids of one process strictly increasing, even within a
/// millisecond, and its `fast-rng` feature spares a `getrandom` system call per id.
pub fn new_id() -> String {
  new_job_id(0)
}

/// The priorities a job can have: higher is pulled first, 0 by default.
pub const PRIORITIES: std::ops::RangeInclusive<i32> = -9..=9;

/// A new id for a job of `priority` (in [`PRIORITIES`]). Pulls take ids in name order, so the
/// name carries the priority ahead of the time: `job-+<9-p>-<uuid>` above 0 (`+` sorts before
/// the UUID's digits), `job-<uuid>` at 0, `job-~<-p>-<uuid>` below (`~` sorts after them).
/// Markers keep the plain `pending/<id>` name that 1.2.0 reads, and a pull's cost stays that of
/// one listing whatever the mix of priorities.
pub fn new_job_id(priority: i32) -> String {
  id_for(priority, uuid::Uuid::now_v7())
}

/// The id of a job of `priority` whose UUID is `uuid`.
pub fn id_for(priority: i32, uuid: uuid::Uuid) -> String {
  match priority {
    0 => format!("job-{uuid}"),
    p if p > 0 => format!("job-+{}-{uuid}", 9 - p.min(9)),
    p => format!("job-~{}-{uuid}", p.max(-9).unsigned_abs()),
  }
}

/// The priority an id of ours says (0 for 1.2.0's ids and any other name).
pub fn priority_of(id: &str) -> i32 {
  let rank = |rest: &str| {
    rest
      .bytes()
      .next()
      .filter(u8::is_ascii_digit)
      .map(|d| i32::from(d - b'0'))
  };
  if let Some(rest) = id.strip_prefix("job-+") {
    return rank(rest).map_or(0, |r| 9 - r);
  }
  if let Some(rest) = id.strip_prefix("job-~") {
    return rank(rest).map_or(0, |r| -r);
  }
  0
}

/// A hash of `text` that every process on every machine computes alike (FNV-1a from `seed`;
/// std's hashers are seeded per process): what names derived from a key or a schedule use.
pub fn stable_hash(text: &str, seed: u64) -> u64 {
  text
    .bytes()
    .fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

/// FNV-1a's own starting value, for [`stable_hash`].
pub const FNV_OFFSET: u64 = 0xcbf29ce484222325;

/// The UUID part of an id of ours, whatever its priority.
pub fn uuid_of(id: &str) -> Option<&str> {
  let rest = id.strip_prefix("job-")?;
  match rest.as_bytes().first() {
    Some(b'+' | b'~') => rest.get(3..),
    _ => Some(rest),
  }
}

/// Accepts only ids that are one harmless path segment, so no id can name a file outside
/// the store.
pub fn check_id(id: &str) -> Result<()> {
  let why = if id.is_empty() {
    Some("it is empty")
  } else if id.len() > 255 {
    Some("it is longer than 255 bytes")
  } else if id.contains('/') || id.contains('\\') {
    Some("it contains a path separator")
  } else if id.contains("..") || id == "." {
    Some("it contains '..' or is '.'")
  } else if id.contains('\0') {
    Some("it contains a NUL byte")
  } else if id.starts_with('.') {
    Some("it starts with '.'")
  } else if id.ends_with(".lock") {
    Some("names ending in '.lock' are lock folders of fs-job-store 1.2.0")
  } else {
    None
  };
  match why {
    None => Ok(()),
    Some(why) => Err(StoreError::new(
      Code::InvalidId,
      format!("invalid job id {id:?}: {why}; use an id returned by create()"),
    )),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn ids_are_single_safe_segments() {
    for bad in [
      "",
      ".",
      "..",
      "../x",
      "a/b",
      "a\\b",
      "x\0y",
      "..hidden",
      ".x",
      "job-1.lock",
    ] {
      let err = check_id(bad).unwrap_err();
      assert_eq!(err.code, Code::InvalidId, "{bad:?}");
    }
    for good in ["job-1", "job--123-abc", &new_id()] {
      check_id(good).unwrap();
    }
  }

  #[test]
  fn ids_sort_by_priority_first_then_by_time() {
    let made: Vec<(i32, String)> = [0, 3, -1, 9, 0, -9, 3, 1]
      .iter()
      .map(|&p| (p, new_job_id(p)))
      .collect();
    for (p, id) in &made {
      assert_eq!(priority_of(id), *p, "{id}");
      assert!(check_id(id).is_ok(), "{id}");
      let uuid = uuid::Uuid::parse_str(uuid_of(id).unwrap()).unwrap();
      assert_eq!(uuid.get_version_num(), 7);
    }
    let mut by_name: Vec<&(i32, String)> = made.iter().collect();
    by_name.sort_by(|a, b| a.1.cmp(&b.1));
    let mut by_priority: Vec<&(i32, String)> = made.iter().collect();
    by_priority.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(
      by_name, by_priority,
      "name order is priority order, then age"
    );
    assert!(
      *"job--4242-abcDEF" < *new_job_id(0),
      "1.2.0's ids before ours of priority 0"
    );
  }

  #[test]
  fn new_ids_sort_by_creation_time_and_are_uuid_v7() {
    let ids: Vec<String> = (0..10000).map(|_| new_id()).collect();
    let parsed = uuid::Uuid::parse_str(&ids[0][4..]).unwrap();
    assert_eq!(parsed.get_version_num(), 7);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert!(ids[0].starts_with("job-"));
  }

  #[test]
  fn delayed_names_sort_by_time_and_name_their_job() {
    let (a, b) = (delayed_name(999, "job-z"), delayed_name(1000, "job-a"));
    assert!(a < b);
    assert_eq!(parse_delayed_name(&b), Some((1000, "job-a")));
    assert_eq!(parse_delayed_name("12-job-a"), None);
  }

  #[test]
  fn temp_names_are_recognised() {
    let made = Layout::temp_path();
    assert!(is_temp_name(made.strip_prefix("tmp/").unwrap()), "{made}");
    for foreign in [
      "tmp-1-2",
      "notes.txt",
      "tmp-0123456789abcdef-",
      "tmp-0123456789abcdeg-1",
    ] {
      assert!(!is_temp_name(foreign), "{foreign}");
    }
  }

  #[test]
  fn listing_the_oldest_keeps_only_that_many() {
    let dir = tempfile::tempdir().unwrap();
    let folder = Folder::open(dir.path()).unwrap();
    let mut ids: Vec<String> = (0..50).map(|_| new_id()).collect();
    for id in ids.iter().rev() {
      std::fs::write(dir.path().join(id), b"").unwrap();
    }
    ids.sort();
    assert_eq!(
      Layout::list_oldest(&folder, ".", 7, None).unwrap(),
      ids[..7].to_vec()
    );
    assert_eq!(
      Layout::list_oldest(&folder, ".", 7, Some(&ids[6])).unwrap(),
      ids[7..14].to_vec()
    );
    assert_eq!(Layout::list_oldest(&folder, ".", 500, None).unwrap(), ids);
  }

  #[test]
  fn listing_skips_lock_folders_and_sorts() {
    let dir = tempfile::tempdir().unwrap();
    let folder = Folder::open(dir.path()).unwrap();
    for name in ["job-b", "job-a", "job-a.lock", ".hidden"] {
      std::fs::create_dir(dir.path().join(name)).unwrap();
    }
    assert_eq!(
      Layout::list_ids(&folder, ".").unwrap(),
      vec!["job-a", "job-b"]
    );
  }

  #[test]
  fn linked_or_file_sub_folders_are_refused_and_read_only_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let err = Layout::open(dir.path(), Access::ReadOnly, false).unwrap_err();
    assert_eq!(err.code, Code::NotStore);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("tmp")).unwrap();
    let err = Layout::open(dir.path(), Access::ReadWrite, false).unwrap_err();
    assert_eq!(err.code, Code::Corrupt);
    assert!(err.message.contains("tmp"), "{}", err.message);
  }
}
