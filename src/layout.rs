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
//! DIR/tmp/                   our temporary files; inside the store so a rename never crosses filesystems
//! ```

use std::collections::BinaryHeap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Code, Result, StoreError};

pub const STATE_FILE: &str = "state.json";
pub const VALUE_FILE: &str = "value";

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

/// Paths of one store folder. Cheap to clone; holds no open files.
#[derive(Debug, Clone)]
pub struct Layout {
  root: PathBuf,
  jobs: PathBuf,
  pending: PathBuf,
  waiting: PathBuf,
  tmp: PathBuf,
}

impl Layout {
  /// Opens `root`, creating it and its sub-folders when missing. The root is canonicalised so
  /// two stores naming one folder differently share in-process locks.
  pub fn open(root: &Path) -> Result<Layout> {
    if root.as_os_str().is_empty() {
      return Err(StoreError::new(
        Code::InvalidArgValue,
        "options.dir is empty; pass the path of the store's folder",
      ));
    }
    match fs::metadata(root) {
      Ok(meta) if !meta.is_dir() => {
        return Err(
          StoreError::new(
            Code::Os("ENOTDIR"),
            format!(
              "ENOTDIR: options.dir '{}' is a file, not a folder; pass a folder's path",
              root.display()
            ),
          )
          .with_path(root),
        )
      }
      Ok(_) => {}
      Err(e) if e.kind() == io::ErrorKind::NotFound => {
        fs::create_dir_all(root).map_err(|e| StoreError::io(&e, "create the store folder", root))?
      }
      Err(e) => return Err(StoreError::io(&e, "open the store folder", root)),
    }
    let root =
      fs::canonicalize(root).map_err(|e| StoreError::io(&e, "resolve the store folder", root))?;
    let layout = Layout {
      jobs: root.join("jobs"),
      pending: root.join("pending"),
      waiting: root.join("waiting"),
      tmp: root.join("tmp"),
      root,
    };
    layout.make_folders()?;
    Ok(layout)
  }

  /// Creates the sub-folders that are missing; done on open, and again when one was removed
  /// while the store was in use (1.2.0 made them on demand too).
  pub fn make_folders(&self) -> Result<()> {
    for dir in [&self.jobs, &self.pending, &self.waiting, &self.tmp] {
      match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StoreError::io(&e, "create a store sub-folder", dir)),
      }
    }
    Ok(())
  }

  pub fn root(&self) -> &Path {
    &self.root
  }
  pub fn jobs_dir(&self) -> &Path {
    &self.jobs
  }
  pub fn pending_dir(&self) -> &Path {
    &self.pending
  }
  pub fn waiting_dir(&self) -> &Path {
    &self.waiting
  }
  pub fn tmp_dir(&self) -> &Path {
    &self.tmp
  }

  pub fn job_dir(&self, id: &str) -> PathBuf {
    self.jobs.join(id)
  }
  pub fn state_file(&self, id: &str) -> PathBuf {
    self.jobs.join(id).join(STATE_FILE)
  }
  pub fn value_file(&self, id: &str) -> PathBuf {
    self.jobs.join(id).join(VALUE_FILE)
  }
  pub fn lock_file(&self, id: &str, kind: LockKind) -> PathBuf {
    self.jobs.join(id).join(kind.file_name())
  }
  pub fn pending_link(&self, id: &str) -> PathBuf {
    self.pending.join(id)
  }
  pub fn waiting_link(&self, id: &str) -> PathBuf {
    self.waiting.join(id)
  }

  /// What `pending/<id>` and `waiting/<id>` point at: relative, so the folder can be moved or
  /// mounted elsewhere and its links still resolve.
  pub fn link_target(id: &str) -> PathBuf {
    Path::new("..").join("jobs").join(id)
  }

  /// A fresh, unused name inside `tmp/`: this process's random tag and a counter, so making one
  /// costs no system call.
  pub fn temp_path(&self) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    self.tmp.join(format!("tmp-{}-{n}", *PROCESS_TAG))
  }

  /// The ids in `pending/` or `waiting/`, oldest first. Skips 1.2.0's `*.lock` folders and
  /// anything that is not a valid id.
  pub fn list_ids(dir: &Path) -> Result<Vec<String>> {
    Self::list(dir, false, usize::MAX, None)
  }

  /// The `limit` oldest ids in `dir` (newer than `after`, if given), oldest first, in memory
  /// proportional to `limit` whatever the folder's size.
  pub fn list_oldest(dir: &Path, limit: usize, after: Option<&str>) -> Result<Vec<String>> {
    Self::list(dir, false, limit, after)
  }

  /// The ids of the job folders in `jobs/`, oldest first; a stray file there is no job.
  pub fn list_jobs(&self) -> Result<Vec<String>> {
    Self::list(&self.jobs, true, usize::MAX, None)
  }

  fn list(
    dir: &Path,
    folders_only: bool,
    limit: usize,
    after: Option<&str>,
  ) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
      Ok(entries) => entries,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
      Err(e) => return Err(StoreError::io(&e, "list", dir)),
    };
    // A max-heap of the oldest seen so far: a newer name than its top is not kept.
    let mut oldest: BinaryHeap<String> = BinaryHeap::with_capacity(limit.min(65536));
    for entry in entries {
      let entry = entry.map_err(|e| StoreError::io(&e, "list", dir))?;
      // The type comes with the listing on most filesystems: no extra system call.
      if folders_only && !entry.file_type().is_ok_and(|t| t.is_dir()) {
        continue;
      }
      let Ok(name) = entry.file_name().into_string() else {
        continue;
      };
      if check_id(&name).is_err() || after.is_some_and(|after| name.as_str() <= after) {
        continue;
      }
      if oldest.len() < limit {
        oldest.push(name);
      } else if oldest.peek().is_some_and(|newest| name < *newest) {
        oldest.pop();
        oldest.push(name);
      }
    }
    Ok(oldest.into_sorted_vec())
  }
}

/// Drawn once per process from the OS's randomness; what keeps names of processes apart.
static PROCESS_TAG: LazyLock<String> =
  LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_owned());
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The state of this process's id generator: the last millisecond used, a sequence within it,
/// and a pseudo-random stream seeded once from the OS.
struct IdClock {
  last_ms: u64,
  seq: u16,
  rng: u64,
}

static ID_CLOCK: LazyLock<Mutex<IdClock>> = LazyLock::new(|| {
  let seed = uuid::Uuid::new_v4().as_u64_pair().0;
  Mutex::new(IdClock {
    last_ms: 0,
    seq: 0,
    rng: seed,
  })
});

/// A new job id: `job-` and a UUID v7, so ids are unique across processes and machines and
/// sort by creation time. Within a process ids are strictly increasing (a 12-bit sequence
/// orders those of one millisecond); the 62 random bits come from a generator seeded once,
/// which spares a `getrandom` system call per job.
pub fn new_id() -> String {
  let mut clock = ID_CLOCK.lock().unwrap();
  let now = SystemTime::now()
    .duration_since(UNIX_EPOCH)
    .map_or(0, |d| d.as_millis() as u64);
  if now > clock.last_ms {
    clock.last_ms = now;
    clock.seq = 0;
  } else if clock.seq == 0x0fff {
    // 4096 ids in one millisecond: borrow the next one to stay ordered.
    clock.last_ms += 1;
    clock.seq = 0;
  } else {
    clock.seq += 1;
  }
  let random = splitmix64(&mut clock.rng).to_be_bytes();
  let mut bytes = [0u8; 10];
  bytes[0] = (clock.seq >> 8) as u8;
  bytes[1] = clock.seq as u8;
  bytes[2..].copy_from_slice(&random);
  let uuid = uuid::Builder::from_unix_timestamp_millis(clock.last_ms, &bytes).into_uuid();
  format!("job-{uuid}")
}

fn splitmix64(state: &mut u64) -> u64 {
  *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
  let mut z = *state;
  z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
  z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
  z ^ (z >> 31)
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
  fn listing_the_oldest_keeps_only_that_many() {
    let dir = std::env::temp_dir().join(format!("layout-oldest-{}", new_id()));
    fs::create_dir_all(&dir).unwrap();
    let mut ids: Vec<String> = (0..50).map(|_| new_id()).collect();
    for id in ids.iter().rev() {
      fs::write(dir.join(id), b"").unwrap();
    }
    ids.sort();
    assert_eq!(
      Layout::list_oldest(&dir, 7, None).unwrap(),
      ids[..7].to_vec()
    );
    assert_eq!(
      Layout::list_oldest(&dir, 7, Some(&ids[6])).unwrap(),
      ids[7..14].to_vec()
    );
    assert_eq!(Layout::list_oldest(&dir, 500, None).unwrap(), ids);
    fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn listing_skips_lock_folders_and_sorts() {
    let dir = std::env::temp_dir().join(format!("layout-test-{}", new_id()));
    fs::create_dir_all(&dir).unwrap();
    for name in ["job-b", "job-a", "job-a.lock", ".hidden"] {
      fs::create_dir(dir.join(name)).unwrap();
    }
    assert_eq!(Layout::list_ids(&dir).unwrap(), vec!["job-a", "job-b"]);
    fs::remove_dir_all(&dir).unwrap();
  }
}
