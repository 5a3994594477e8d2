//! Looking at a store without changing it or taking any lock: counts, one job's record, listings.

use crate::clock::now_ms;
use crate::delayed_index;
use crate::error::Result;
use crate::folder::Folder;
use crate::layout::{self, Layout, LockKind, CANCELLED, FAILED, PENDING, WAITING};
use crate::lock::HeldLocks;
use crate::named::named_enum;
use crate::state::JobStatus;
use crate::store::Store;

/// Counts over the whole store.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
  /// Jobs that need work now.
  pub pending: u64,
  /// Pending jobs a worker (any process) holds right now.
  pub claimed: u64,
  /// Jobs that have a value.
  pub fulfilled: u64,
  /// Jobs with targets waiting to be told their value.
  pub waiting: u64,
  /// Jobs set aside as failed.
  pub failed: u64,
  /// Jobs cancelled.
  pub cancelled: u64,
  /// Jobs waiting for their time (delayed, or a retry's backoff).
  pub delayed: u64,
  /// Age of the oldest pending job, if any.
  pub oldest_pending_age_ms: Option<f64>,
}

named_enum! {
  /// Where a job is, as `get` tells it.
  pub enum Phase {
    Pending = "pending",
    /// Pending, but not to be worked before its `run_at`.
    Delayed = "delayed",
    Fulfilled = "fulfilled",
    Failed = "failed",
    /// Cancelled: never worked again.
    Cancelled = "cancelled",
  }
}

/// One job's record.
#[derive(Debug, Clone)]
pub struct JobInfo {
  pub id: String,
  pub phase: Phase,
  pub version: u64,
  /// JSON text; `None` when the record has none.
  pub request: Option<String>,
  /// JSON array text.
  pub waiting: String,
  /// From the id of our jobs; `None` for 1.2.0's ids, whose records hold no time.
  pub created_at_ms: Option<f64>,
  /// As recorded at fulfil; `None` while pending, and for jobs fulfilled by 1.2.0.
  pub fulfilled_at_ms: Option<f64>,
  /// When it was set aside as failed.
  pub failed_at_ms: Option<f64>,
  /// Not to be worked before this time.
  pub run_at_ms: Option<f64>,
  /// Claims so far (each pull is one).
  pub attempts: u64,
  /// The recorded failures, a JSON array text of `{at, error}`.
  pub failures: String,
  /// When it was cancelled, and why.
  pub cancelled_at_ms: Option<f64>,
  pub cancel_reason: Option<String>,
  /// The latest progress its worker reported (JSON text).
  pub progress: Option<String>,
  pub priority: i32,
  pub key: Option<String>,
  /// The schedule that made it, and the slot (ms since the epoch).
  pub schedule: Option<(String, f64)>,
}

named_enum! {
  /// Which ids [`Store::list`] returns.
  pub enum Listing {
    All = "all",
    Pending = "pending",
    Fulfilled = "fulfilled",
    Waiting = "waiting",
    Failed = "failed",
    Delayed = "delayed",
    Cancelled = "cancelled",
  }
}

/// The ids in each kind of marker, each kept only if its job exists.
struct Markers {
  jobs: Vec<String>,
  pending: Vec<String>,
  failed: Vec<String>,
  delayed: Vec<String>,
  cancelled: Vec<String>,
}

impl Markers {
  fn read(f: &Folder) -> Result<Markers> {
    let jobs = Layout::list_jobs(f)?;
    let mut delayed: Vec<String> = delayed_index::list(f)?
      .into_iter()
      .map(|(_, id)| id)
      .collect();
    delayed.sort();
    delayed.dedup();
    Ok(Markers {
      pending: intersect(&Layout::list_ids(f, PENDING)?, &jobs),
      failed: intersect(&Layout::list_ids(f, FAILED)?, &jobs),
      delayed: intersect(&delayed, &jobs),
      cancelled: intersect(&Layout::list_ids(f, CANCELLED)?, &jobs),
      jobs,
    })
  }

  /// Jobs with a value: in no pending, failed, delayed or cancelled marker.
  fn fulfilled(&self) -> Vec<String> {
    let marked = |id: &String| {
      [&self.pending, &self.failed, &self.delayed, &self.cancelled]
        .iter()
        .any(|ids| ids.binary_search(id).is_ok())
    };
    self.jobs.iter().filter(|id| !marked(id)).cloned().collect()
  }
}

impl Store {
  /// Counts from the folder listings, without reading any job's record, so it stays cheap on
  /// large stores. A job counts as fulfilled when it exists and is in no other marker.
  pub fn stats(&self) -> Result<Stats> {
    let f = self.folder()?;
    let markers = Markers::read(&f)?;
    let waiting = intersect(&Layout::list_ids(&f, WAITING)?, &markers.jobs);
    let held = HeldLocks::snapshot();
    let claimed = markers
      .pending
      .iter()
      .filter(|id| held.is_held(&f, &Layout::lock_file(id, LockKind::Work)))
      .count();
    let now = now_ms();
    let oldest_pending_age_ms = markers
      .pending
      .iter()
      .map(|id| {
        created_at_ms(id)
          .or_else(|| modified_ms(&f, &Layout::job_dir(id)))
          .unwrap_or(now)
      })
      .reduce(f64::min)
      .map(|created| (now - created).max(0.0));
    Ok(Stats {
      pending: markers.pending.len() as u64,
      claimed: claimed as u64,
      fulfilled: markers.fulfilled().len() as u64,
      waiting: waiting.len() as u64,
      failed: markers.failed.len() as u64,
      cancelled: markers.cancelled.len() as u64,
      delayed: markers.delayed.len() as u64,
      oldest_pending_age_ms,
    })
  }

  /// One job's record.
  pub fn get(&self, id: &str) -> Result<JobInfo> {
    let f = self.folder()?;
    layout::check_id(id)?;
    let state = self.read_state(&f, id)?;
    let phase = match state.status {
      JobStatus::Fulfilled => Phase::Fulfilled,
      JobStatus::Failed => Phase::Failed,
      JobStatus::Cancelled => Phase::Cancelled,
      JobStatus::Pending if state.run_at_ms.is_some_and(|at| at > now_ms()) => Phase::Delayed,
      JobStatus::Pending => Phase::Pending,
    };
    let attempts = f
      .lstat(&Layout::lock_file(id, LockKind::Work))
      .map_or(0, |meta| meta.size);
    Ok(JobInfo {
      id: id.to_owned(),
      phase,
      version: state.version,
      request: state.request.as_deref().map(|r| r.get().to_owned()),
      waiting: state.waiting_json(),
      created_at_ms: created_at_ms(id),
      fulfilled_at_ms: state.fulfilled_at_ms.filter(|_| phase == Phase::Fulfilled),
      failed_at_ms: state.failed_at_ms.filter(|_| phase == Phase::Failed),
      run_at_ms: state.run_at_ms.filter(|_| phase == Phase::Delayed),
      attempts,
      failures: state.failures_json(),
      cancelled_at_ms: state.cancelled_at_ms.filter(|_| phase == Phase::Cancelled),
      cancel_reason: state
        .cancel_reason
        .clone()
        .filter(|_| phase == Phase::Cancelled),
      progress: self.read_progress(&f, id)?,
      priority: state.priority.unwrap_or_else(|| layout::priority_of(id)),
      key: state.key.clone(),
      schedule: state.schedule.clone(),
    })
  }

  /// A job's value, or `None` while it is pending.
  pub fn value(&self, id: &str) -> Result<Option<Vec<u8>>> {
    let f = self.folder()?;
    layout::check_id(id)?;
    if self.read_state(&f, id)?.status != JobStatus::Fulfilled {
      return Ok(None);
    }
    self.read_value(&f, id).map(Some)
  }

  /// Ids, oldest first.
  pub fn list(&self, which: Listing) -> Result<Vec<String>> {
    let f = self.folder()?;
    if which == Listing::All {
      return Layout::list_jobs(&f);
    }
    if which == Listing::Waiting {
      return Ok(intersect(
        &Layout::list_ids(&f, WAITING)?,
        &Layout::list_jobs(&f)?,
      ));
    }
    let markers = Markers::read(&f)?;
    Ok(match which {
      Listing::Pending => markers.pending,
      Listing::Failed => markers.failed,
      Listing::Delayed => markers.delayed,
      Listing::Cancelled => markers.cancelled,
      _ => markers.fulfilled(),
    })
  }
}

/// The ids of sorted `a` that are also in sorted `b`.
fn intersect(a: &[String], b: &[String]) -> Vec<String> {
  a.iter()
    .filter(|id| b.binary_search(id).is_ok())
    .cloned()
    .collect()
}

/// When a job was created, from its UUID v7 id; `None` for ids of 1.2.0, which hold no time.
pub fn created_at_ms(id: &str) -> Option<f64> {
  layout::uuid_of(id)
    .and_then(|u| uuid::Uuid::parse_str(u).ok())
    .filter(|u| u.get_version_num() == 7)
    .and_then(|u| u.get_timestamp())
    .map(|ts| {
      let (secs, nanos) = ts.to_unix();
      secs as f64 * 1000.0 + (nanos / 1_000_000) as f64
    })
}

/// The modification time of `rel`, not following a link.
pub(crate) fn modified_ms(f: &Folder, rel: &str) -> Option<f64> {
  f.lstat(rel).ok().map(|m| m.modified_ms)
}
