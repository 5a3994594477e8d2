//! `check`: finds what is wrong in a store folder, and with `repair` fixes what is safe to fix
//! (markers and the store's own leftovers), never touching a job's request or value. Without
//! `repair` it only reads: no lock is taken, nothing is created.
//!
//! The sweep on open lives here too: it deletes only regular files in `tmp/` that carry the
//! names the store gives its temporary files, once they are older than [`GRACE`].

use std::path::PathBuf;
use std::time::Duration;

use crate::delayed;
use crate::error::{Code, Op, Result, StoreError};
use crate::folder::{Folder, Kind};
use crate::inspect::now_ms;
use crate::layout::{self, Layout, DELAYED, FAILED, JOBS, PENDING, TMP, WAITING};
use crate::state::JobStatus;
use crate::store::Store;

/// Temporary files and markers younger than this may belong to an operation in progress.
pub const GRACE: Duration = Duration::from_secs(15 * 60);

/// The kinds of damage `check` reports; each has a stable name (see [`ProblemKind::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
  /// A marker in `pending/` or `waiting/` whose job does not exist.
  DanglingMarker,
  /// `jobs/<id>` is a symbolic link: never followed, so the job cannot be worked.
  LinkedJob,
  /// Something in `jobs/` that is neither a job folder nor a link.
  StrayFile,
  /// A `state.json` that cannot be parsed, or is missing, or is not a file.
  CorruptState,
  /// A record the OS will not let this process read.
  UnreadableJob,
  MissingValue,
  StalePendingMarker,
  MissingPendingMarker,
  MissingWaitingMarker,
  StaleWaitingMarker,
  /// A temporary file or folder of the store's, left by an interrupted write.
  LeftoverTemporary,
  /// Something in `tmp/` the store did not make; never deleted.
  ForeignTemporary,
}

impl ProblemKind {
  pub fn as_str(self) -> &'static str {
    match self {
      ProblemKind::DanglingMarker => "dangling-marker",
      ProblemKind::LinkedJob => "linked-job",
      ProblemKind::StrayFile => "stray-file",
      ProblemKind::CorruptState => "corrupt-state",
      ProblemKind::UnreadableJob => "unreadable-job",
      ProblemKind::MissingValue => "missing-value",
      ProblemKind::StalePendingMarker => "stale-pending-marker",
      ProblemKind::MissingPendingMarker => "missing-pending-marker",
      ProblemKind::MissingWaitingMarker => "missing-waiting-marker",
      ProblemKind::StaleWaitingMarker => "stale-waiting-marker",
      ProblemKind::LeftoverTemporary => "leftover-temporary",
      ProblemKind::ForeignTemporary => "foreign-temporary",
    }
  }
}

/// One thing wrong with the store.
#[derive(Debug, Clone)]
pub struct Problem {
  pub kind: ProblemKind,
  pub id: Option<String>,
  pub path: PathBuf,
  pub message: String,
  pub repaired: bool,
  /// How old the entry is, where its age decides whether repair may touch it.
  pub age_ms: Option<f64>,
}

impl Store {
  /// Lists every problem found; with `repair`, fixes the safe ones and says so in each problem.
  pub fn check(&self, repair: bool) -> Result<Vec<Problem>> {
    let f = if repair {
      self.writable()?
    } else {
      self.folder()?
    };
    let mut problems = Vec::new();
    let mut job_entries = list_or_empty(&f, JOBS)?;
    job_entries.retain(|e| layout::check_id(&e.name).is_ok());
    job_entries.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = job_entries.iter().map(|e| e.name.as_str()).collect();
    let now = now_ms();
    let grace_ms = GRACE.as_millis() as f64;

    let mut markers: Vec<(&str, String, String)> = Vec::new();
    for dir in [PENDING, WAITING, FAILED] {
      for id in Layout::list_ids(&f, dir)? {
        markers.push((dir, format!("{dir}/{id}"), id));
      }
    }
    for (due, id) in delayed::list(&f)? {
      markers.push((DELAYED, Layout::delayed_link(due, &id), id));
    }
    for (marker, link, id) in markers {
      {
        if names.binary_search(&id.as_str()).is_ok() {
          continue;
        }
        let age_ms = f.lstat(&link).ok().map(|m| (now - m.modified_ms).max(0.0));
        let old_enough = age_ms.is_some_and(|age| age > grace_ms);
        let repaired = repair && old_enough && f.unlink(&link).is_ok();
        let mut message = format!(
          "{marker}/{id} points to a job that does not exist ({} old)",
          age_ms.map_or("unknown age".into(), describe_age)
        );
        if repair && !old_enough {
          message.push_str(&format!(
            "; left in place: younger than the {} min grace period, a create in flight may own it",
            GRACE.as_secs() / 60
          ));
        }
        problems.push(Problem {
          kind: ProblemKind::DanglingMarker,
          id: Some(id.clone()),
          path: f.full(&link),
          message,
          repaired,
          age_ms,
        });
      }
    }

    for entry in &job_entries {
      let id = &entry.name;
      let job_dir = Layout::job_dir(id);
      let (kind, message) = match entry.kind {
        Kind::Folder => {
          if let Err(e) = self.check_job(&f, id, repair, &mut problems) {
            let kind = if e.code == Code::Corrupt {
              ProblemKind::CorruptState
            } else {
              ProblemKind::UnreadableJob
            };
            problems.push(Problem {
              kind,
              id: Some(id.clone()),
              path: e.path.clone().unwrap_or_else(|| f.full(&Layout::state_file(id))),
              message: e.message,
              repaired: false,
              age_ms: None,
            });
          }
          continue;
        }
        Kind::Link => (
          ProblemKind::LinkedJob,
          format!("jobs/{id} is a symbolic link; the store never follows links below its folder, so pulls skip it. Put the job's real folder there, or delete the link"),
        ),
        _ => (
          ProblemKind::StrayFile,
          format!("jobs/{id} is not a job folder; move it out of the store"),
        ),
      };
      problems.push(Problem {
        kind,
        id: Some(id.clone()),
        path: f.full(&job_dir),
        message,
        repaired: false,
        age_ms: None,
      });
    }

    for entry in list_or_empty(&f, TMP)? {
      let rel = format!("{TMP}/{}", entry.name);
      let age_ms = f.lstat(&rel).ok().map(|m| (now - m.modified_ms).max(0.0));
      let path = f.full(&rel);
      if !layout::is_temp_name(&entry.name) || !matches!(entry.kind, Kind::File | Kind::Folder) {
        problems.push(Problem {
          kind: ProblemKind::ForeignTemporary,
          id: None,
          message: format!(
            "{} was not made by fs-job-store; the store never deletes it. Move it out of the store's tmp/ folder",
            path.display()
          ),
          path,
          repaired: false,
          age_ms,
        });
        continue;
      }
      if !age_ms.is_some_and(|age| age > grace_ms) {
        continue; // An operation in progress.
      }
      let repaired = repair
        && match entry.kind {
          Kind::File => f.unlink(&rel).is_ok(),
          _ => holds_only_job_files(&f, &rel) && f.remove_tree(&rel).is_ok(),
        };
      problems.push(Problem {
        kind: ProblemKind::LeftoverTemporary,
        id: None,
        message: format!("{} is left over from an interrupted write", path.display()),
        path,
        repaired,
        age_ms,
      });
    }
    Ok(problems)
  }

  /// Checks one job's record against its markers. Repairing, under its state lock so no update
  /// races us; only looking, without any lock (a look must not create lock files).
  fn check_job(
    &self,
    f: &Folder,
    id: &str,
    repair: bool,
    problems: &mut Vec<Problem>,
  ) -> Result<()> {
    let _lock = if repair {
      Some(self.lock_state(f, id)?)
    } else {
      None
    };
    let state = self.read_state(f, id)?;
    let pending = Layout::pending_link(id);
    let waiting = Layout::waiting_link(id);
    let mut found = |kind, rel: &str, message: String, fix: &dyn Fn() -> Result<()>| {
      let repaired = repair && fix().is_ok();
      problems.push(Problem {
        kind,
        id: Some(id.to_owned()),
        path: f.full(rel),
        message,
        repaired,
        age_ms: None,
      });
    };
    let value = Layout::value_file(id);
    if state.status == JobStatus::Fulfilled && !f.exists(&value) {
      found(
        ProblemKind::MissingValue,
        &value,
        format!("job {id} is fulfilled but has no value file"),
        &|| Err(StoreError::new(Code::Corrupt, "not repairable")),
      );
    }
    if state.status == JobStatus::Fulfilled && f.exists(&pending) {
      found(
        ProblemKind::StalePendingMarker,
        &pending,
        format!("job {id} is fulfilled but still marked pending"),
        &|| self.remove_link(f, &pending),
      );
    }
    let job_age_ms = f
      .lstat(&Layout::job_dir(id))
      .map_or(0.0, |m| now_ms() - m.modified_ms);
    if state.status == JobStatus::Pending
      && !f.exists(&pending)
      && job_age_ms > GRACE.as_millis() as f64
    {
      found(
        ProblemKind::MissingPendingMarker,
        &pending,
        format!("job {id} is pending but no worker can find it (no pending/ marker)"),
        &|| self.make_link(f, &pending, id),
      );
    }
    if !state.waiting.is_empty() && !f.exists(&waiting) {
      found(
        ProblemKind::MissingWaitingMarker,
        &waiting,
        format!(
          "job {id} has {} waiting target(s) but no notifier can find them",
          state.waiting.len()
        ),
        &|| self.make_link(f, &waiting, id),
      );
    }
    if state.waiting.is_empty() && f.exists(&waiting) {
      found(
        ProblemKind::StaleWaitingMarker,
        &waiting,
        format!("job {id} is marked waiting but has no targets"),
        &|| self.remove_link(f, &waiting),
      );
    }
    Ok(())
  }

  /// Deletes the store's own temporary files older than [`GRACE`] from `tmp/`: regular files
  /// with the names the store gives them, nothing else (no folder, no link, no foreign file).
  /// Run when a store opens read-write.
  pub fn sweep_leftovers(&self) {
    let Ok(f) = self.writable() else { return };
    let now = now_ms();
    let Ok(entries) = f.entries(TMP) else { return };
    for entry in entries {
      if entry.kind != Kind::File || !layout::is_temp_name(&entry.name) {
        continue;
      }
      let rel = format!("{TMP}/{}", entry.name);
      // Checked again without following: the listing's type could be stale.
      let Ok(meta) = f.lstat(&rel) else { continue };
      if meta.kind == Kind::File && now - meta.modified_ms > GRACE.as_millis() as f64 {
        let _ = f.unlink(&rel);
      }
    }
  }
}

/// The entries of `rel`, or none when it does not exist.
fn list_or_empty(f: &Folder, rel: &str) -> Result<Vec<crate::folder::Entry>> {
  match f.entries(rel) {
    Ok(entries) => Ok(entries),
    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
    Err(e) => Err(StoreError::io(&e, Op::List, &f.full(rel))),
  }
}

/// Whether a leftover folder holds only regular files a job folder of ours holds, so removing
/// it cannot delete anything the store did not make.
fn holds_only_job_files(f: &Folder, rel: &str) -> bool {
  f.entries(rel).is_ok_and(|entries| {
    entries
      .iter()
      .all(|e| e.kind == Kind::File && layout::is_job_file(&e.name))
  })
}

fn describe_age(ms: f64) -> String {
  let secs = ms / 1000.0;
  if secs < 120.0 {
    format!("{secs:.0} s")
  } else if secs < 7200.0 {
    format!("{:.0} min", secs / 60.0)
  } else {
    format!("{:.1} h", secs / 3600.0)
  }
}
