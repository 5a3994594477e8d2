//! Looking at a store without changing it or taking any lock: counts, one job's record, listings.

use crate::claimed;
use crate::clock::now_ms;
use crate::delayed_index;
use crate::error::Result;
use std::collections::HashSet;

use crate::folder::{Folder, Kind};
use crate::layout::{self, Layout, LockKind, CANCELLED, DELAYED, FAILED, JOBS, PENDING, WAITING};
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
    /// Pending jobs a worker holds right now.
    Claimed = "claimed",
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
  /// Counts from the folder listings alone: no record is read and no pending job's lock is
  /// tested (claimed jobs are counted from `claimed/`), so it stays cheap on large stores (tens
  /// of milliseconds for 100,000 jobs). A marker counts only when its job's folder exists; a job
  /// counts as fulfilled when it exists and has no pending, delayed, failed or cancelled marker.
  pub fn stats(&self) -> Result<Stats> {
    let f = self.folder()?;
    // Names are kept as 64-bit hashes: a set of 100,000 jobs costs no string allocation.
    let mut jobs = HashSet::new();
    f.for_each_name(JOBS, true, |name, kind| {
      if kind == Kind::Folder && layout::check_id(name).is_ok() {
        jobs.insert(name_hash(name));
      }
    })
    .or_else(missing_is_empty(&f, JOBS))?;
    let mut marked = HashSet::new();
    let mut count = |dir: &str, marks: bool| -> Result<u64> {
      let mut n = 0;
      list_names(&f, dir, |name| {
        let hash = name_hash(name);
        if jobs.contains(&hash) {
          n += 1;
          if marks {
            marked.insert(hash);
          }
        }
      })?;
      Ok(n)
    };
    let failed = count(FAILED, true)?;
    let cancelled = count(CANCELLED, true)?;
    let waiting = count(WAITING, false)?;
    // Pending ids sort by priority first: the oldest is found by the time in each id.
    let (mut pending, mut oldest_uuid, mut oldest_other) = (0, None::<String>, None::<f64>);
    let mut looked_up = 0;
    list_names(&f, PENDING, |name| {
      let hash = name_hash(name);
      if !jobs.contains(&hash) {
        return;
      }
      pending += 1;
      marked.insert(hash);
      match created_at_ms(name).and(layout::uuid_of(name)) {
        // UUID v7 text sorts by time.
        Some(uuid) if oldest_uuid.as_deref().is_none_or(|o| uuid < o) => {
          oldest_uuid = Some(uuid.to_owned())
        }
        Some(_) => {}
        // An id of 1.2.0's holds no time: its folder's is looked up, for a bounded number of
        // them, so a store full of old jobs still counts in a listing's time.
        None if looked_up < OLD_IDS_LOOKED_UP => {
          looked_up += 1;
          let at = modified_ms(&f, &Layout::job_dir(name)).unwrap_or_else(now_ms);
          oldest_other = Some(oldest_other.map_or(at, |o: f64| o.min(at)));
        }
        None => {}
      }
    })?;
    let mut delayed = HashSet::new();
    list_names(&f, DELAYED, |name| {
      if let Some((_, id)) = layout::parse_delayed_name(name) {
        let hash = name_hash(id);
        if jobs.contains(&hash) {
          delayed.insert(hash);
          marked.insert(hash);
        }
      }
    })?;
    let now = now_ms();
    let oldest_pending_age_ms = oldest_uuid
      .and_then(|uuid| created_at_ms(&format!("job-{uuid}")))
      .into_iter()
      .chain(oldest_other)
      .reduce(f64::min)
      .map(|created| (now - created).max(0.0));
    Ok(Stats {
      pending,
      claimed: claimed::held(&f).len() as u64,
      fulfilled: (jobs.len() - marked.len()) as u64,
      waiting,
      failed,
      cancelled,
      delayed: delayed.len() as u64,
      oldest_pending_age_ms,
    })
  }

  /// One page of the ids [`Store::list`] would return: at most `query.limit`, those after
  /// `query.after` in the listing's order (oldest first, or newest first), containing
  /// `query.search` if given. Memory and time grow with the page and the folder listed, never
  /// with reading records, so a page of a store of 100,000 jobs answers in tens of
  /// milliseconds.
  pub fn page(&self, which: Listing, query: &PageQuery) -> Result<Vec<String>> {
    let f = self.folder()?;
    let mut page = Page::new(query);
    match which {
      Listing::All => list_job_folders(&f, |name| page.offer(name))?,
      Listing::Pending => list_names(&f, PENDING, |name| page.offer(name))?,
      Listing::Waiting => list_names(&f, WAITING, |name| page.offer(name))?,
      Listing::Failed => list_names(&f, FAILED, |name| page.offer(name))?,
      Listing::Cancelled => list_names(&f, CANCELLED, |name| page.offer(name))?,
      Listing::Claimed => claimed::held(&f).iter().for_each(|id| page.offer(id)),
      Listing::Delayed => list_names(&f, DELAYED, |name| {
        if let Some((_, id)) = layout::parse_delayed_name(name) {
          page.offer(id)
        }
      })?,
      Listing::Fulfilled => {
        let mut marked = HashSet::new();
        for dir in [PENDING, FAILED, CANCELLED] {
          list_names(&f, dir, |name| {
            marked.insert(name_hash(name));
          })?;
        }
        list_names(&f, DELAYED, |name| {
          if let Some((_, id)) = layout::parse_delayed_name(name) {
            marked.insert(name_hash(id));
          }
        })?;
        list_job_folders(&f, |name| {
          if !marked.contains(&name_hash(name)) {
            page.offer(name)
          }
        })?
      }
    }
    Ok(page.into_ids())
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

  /// The first `max` bytes of a job's value and its whole size, or `None` while it is not
  /// fulfilled: for showing a value that may be large.
  pub fn value_head(&self, id: &str, max: usize) -> Result<Option<(Vec<u8>, u64)>> {
    let f = self.folder()?;
    layout::check_id(id)?;
    if self.read_state(&f, id)?.status != JobStatus::Fulfilled {
      return Ok(None);
    }
    let rel = Layout::value_file(id);
    f.read_head(&rel, max)
      .map(Some)
      .map_err(|e| crate::error::StoreError::io(&e, crate::error::Op::Read, &f.full(&rel)))
  }

  /// Ids, oldest first.
  pub fn list(&self, which: Listing) -> Result<Vec<String>> {
    let f = self.folder()?;
    if which == Listing::All {
      return Layout::list_jobs(&f);
    }
    if which == Listing::Claimed {
      return Ok(claimed::held(&f));
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

/// Which page of a listing [`Store::page`] returns.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
  pub limit: usize,
  /// The last id of the previous page.
  pub after: Option<String>,
  pub newest_first: bool,
  /// Only ids containing this text.
  pub search: Option<String>,
}

/// The first `limit` ids offered so far in the query's order, kept sorted.
struct Page<'q> {
  query: &'q PageQuery,
  kept: std::collections::BTreeSet<String>,
}

impl<'q> Page<'q> {
  fn new(query: &'q PageQuery) -> Page<'q> {
    Page {
      query,
      kept: Default::default(),
    }
  }

  /// Whether `a` comes before `b` in the query's order.
  fn before(&self, a: &str, b: &str) -> bool {
    if self.query.newest_first {
      a > b
    } else {
      a < b
    }
  }

  fn offer(&mut self, id: &str) {
    let q = self.query;
    let full = self.kept.len() >= q.limit;
    // The last kept: what a new id must come before once the page is full.
    let last = if q.newest_first {
      self.kept.first()
    } else {
      self.kept.last()
    };
    if q.limit == 0
      || layout::check_id(id).is_err()
      || q
        .after
        .as_deref()
        .is_some_and(|after| !self.before(after, id))
      || q.search.as_deref().is_some_and(|s| !id.contains(s))
      || (full && last.is_some_and(|last| !self.before(id, last)))
    {
      return;
    }
    // A job with two delayed markers (a cut in the middle of a change) is kept once.
    self.kept.insert(id.to_owned());
    if self.kept.len() > q.limit {
      if q.newest_first {
        self.kept.pop_first();
      } else {
        self.kept.pop_last();
      }
    }
  }

  fn into_ids(self) -> Vec<String> {
    if self.query.newest_first {
      self.kept.into_iter().rev().collect()
    } else {
      self.kept.into_iter().collect()
    }
  }
}

/// How many pending jobs with 1.2.0's ids (no time in them) `stats` looks up for the oldest age.
const OLD_IDS_LOOKED_UP: usize = 1000;

/// A name as 64 bits: sets of 100,000 of them cost no string allocation, and a collision between
/// two job ids is as likely as a lottery won twice.
fn name_hash(name: &str) -> u64 {
  layout::stable_hash(name, layout::FNV_OFFSET)
}

/// Calls `each` with the name of every job folder in `jobs/` (a stray file or link is no job).
fn list_job_folders(f: &Folder, mut each: impl FnMut(&str)) -> Result<()> {
  f.for_each_name(JOBS, true, |name, kind| {
    if kind == Kind::Folder {
      each(name)
    }
  })
  .or_else(missing_is_empty(f, JOBS))
}

/// A listing error's answer: nothing for a folder that is not there, else the error with its path.
fn missing_is_empty<'a>(
  f: &'a Folder,
  dir: &'a str,
) -> impl FnOnce(std::io::Error) -> Result<()> + 'a {
  move |e| {
    if e.kind() == std::io::ErrorKind::NotFound {
      Ok(())
    } else {
      Err(crate::error::StoreError::io(
        &e,
        crate::error::Op::List,
        &f.full(dir),
      ))
    }
  }
}

/// Calls `each` with every name in the folder `dir` (none when it is missing), holding no more
/// than one name at a time.
fn list_names(f: &Folder, dir: &str, mut each: impl FnMut(&str)) -> Result<()> {
  f.for_each_name(dir, false, |name, _| each(name))
    .or_else(missing_is_empty(f, dir))
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

#[cfg(test)]
mod tests {
  use super::*;

  fn page(ids: &[&str], query: PageQuery) -> Vec<String> {
    let mut page = Page::new(&query);
    for id in ids {
      page.offer(id);
    }
    page.into_ids()
  }

  #[test]
  fn a_page_keeps_the_first_ids_in_its_order_after_the_last_one_shown() {
    let ids = ["job-d", "job-a", "job-c", "job-b", "job-e", "job-c"];
    let query = |after: Option<&str>, newest_first| PageQuery {
      limit: 2,
      after: after.map(str::to_owned),
      newest_first,
      search: None,
    };
    assert_eq!(page(&ids, query(None, false)), ["job-a", "job-b"]);
    assert_eq!(page(&ids, query(Some("job-b"), false)), ["job-c", "job-d"]);
    assert_eq!(page(&ids, query(None, true)), ["job-e", "job-d"]);
    assert_eq!(page(&ids, query(Some("job-d"), true)), ["job-c", "job-b"]);
    let search = PageQuery {
      limit: 10,
      search: Some("c".into()),
      ..Default::default()
    };
    assert_eq!(page(&ids, search), ["job-c"]);
  }
}
