//! `check`: finds what is wrong in a store folder, and with `repair` fixes what is safe to fix
//! (markers and leftovers), never touching a job's request or value.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Code, Result, StoreError};
use crate::layout::Layout;
use crate::state::{FULFILLED, PENDING};
use crate::store::Store;

/// Temporary files and markers younger than this may belong to an operation in progress.
pub const GRACE: Duration = Duration::from_secs(15 * 60);

/// One thing wrong with the store.
#[derive(Debug, Clone)]
pub struct Problem {
  /// A stable name for the kind of problem, e.g. `dangling-marker`.
  pub kind: &'static str,
  pub id: Option<String>,
  pub path: PathBuf,
  pub message: String,
  pub repaired: bool,
}

impl Store {
  /// Lists every problem found; with `repair`, fixes the safe ones and says so in each problem.
  pub fn check(&self, repair: bool) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let layout = &self.layout;
    let jobs = Layout::list_ids(layout.jobs_dir())?;

    for (dir, marker) in [
      (layout.pending_dir(), "pending"),
      (layout.waiting_dir(), "waiting"),
    ] {
      for id in Layout::list_ids(dir)? {
        let link = dir.join(&id);
        if jobs.binary_search(&id).is_err() && older_than(&link, GRACE) {
          let repaired = repair && fs::remove_file(&link).is_ok();
          problems.push(Problem {
            kind: "dangling-marker",
            id: Some(id.clone()),
            path: link,
            message: format!("{marker}/{id} points to a job that does not exist"),
            repaired,
          });
        }
      }
    }

    for id in &jobs {
      let job_dir = layout.job_dir(id);
      if !job_dir.is_dir() {
        problems.push(Problem {
          kind: "stray-file",
          id: None,
          path: job_dir,
          message: format!("jobs/{id} is not a job folder; move it out of the store"),
          repaired: false,
        });
        continue;
      }
      if let Err(e) = self.check_job(id, repair, &mut problems) {
        problems.push(Problem {
          kind: if e.code == Code::Corrupt {
            "corrupt-state"
          } else {
            "unreadable-job"
          },
          id: Some(id.clone()),
          path: e.path.clone().unwrap_or_else(|| layout.state_file(id)),
          message: e.message,
          repaired: false,
        });
      }
    }

    for leftover in leftovers(layout.tmp_dir(), GRACE) {
      let repaired = repair && remove_any(&leftover);
      problems.push(Problem {
        kind: "leftover-temporary",
        id: None,
        message: format!(
          "{} is left over from an interrupted write",
          leftover.display()
        ),
        path: leftover,
        repaired,
      });
    }
    Ok(problems)
  }

  /// Checks one job's record against its markers, under its state lock so no update races us.
  fn check_job(&self, id: &str, repair: bool, problems: &mut Vec<Problem>) -> Result<()> {
    let layout = &self.layout;
    let _lock = self.lock_state(id)?;
    let state = self.read_state(id)?;
    let pending = layout.pending_link(id);
    let waiting = layout.waiting_link(id);
    let mut found = |kind, path: PathBuf, message: String, fix: &dyn Fn() -> Result<()>| {
      let repaired = repair && fix().is_ok();
      problems.push(Problem {
        kind,
        id: Some(id.to_owned()),
        path,
        message,
        repaired,
      });
    };
    if state.state == FULFILLED && !layout.value_file(id).exists() {
      found(
        "missing-value",
        layout.value_file(id),
        format!("job {id} is fulfilled but has no value file"),
        &|| Err(StoreError::new(Code::Corrupt, "not repairable")),
      );
    }
    if state.state == FULFILLED && exists(&pending) {
      found(
        "stale-pending-marker",
        pending.clone(),
        format!("job {id} is fulfilled but still marked pending"),
        &|| self.remove_link(&pending),
      );
    }
    if state.state == PENDING && !exists(&pending) && older_than(&layout.job_dir(id), GRACE) {
      found(
        "missing-pending-marker",
        pending.clone(),
        format!("job {id} is pending but no worker can find it (no pending/ marker)"),
        &|| self.make_link(&pending, id),
      );
    }
    if !state.waiting.is_empty() && !exists(&waiting) {
      found(
        "missing-waiting-marker",
        waiting.clone(),
        format!(
          "job {id} has {} waiting target(s) but no notifier can find them",
          state.waiting.len()
        ),
        &|| self.make_link(&waiting, id),
      );
    }
    if state.waiting.is_empty() && exists(&waiting) {
      found(
        "stale-waiting-marker",
        waiting.clone(),
        format!("job {id} is marked waiting but has no targets"),
        &|| self.remove_link(&waiting),
      );
    }
    Ok(())
  }

  /// Removes temporary files old enough to be a crash's leftovers. Run when a store opens.
  pub fn sweep_leftovers(&self) {
    for leftover in leftovers(self.layout.tmp_dir(), GRACE) {
      remove_any(&leftover);
    }
  }
}

fn leftovers(tmp: &Path, grace: Duration) -> Vec<PathBuf> {
  let Ok(entries) = fs::read_dir(tmp) else {
    return Vec::new();
  };
  entries
    .filter_map(|e| e.ok())
    .map(|e| e.path())
    .filter(|p| older_than(p, grace))
    .collect()
}

fn older_than(path: &Path, age: Duration) -> bool {
  fs::symlink_metadata(path)
    .and_then(|m| m.modified())
    .map(|t| SystemTime::now().duration_since(t).unwrap_or_default() > age)
    .unwrap_or(false)
}

fn exists(path: &Path) -> bool {
  fs::symlink_metadata(path).is_ok()
}

fn remove_any(path: &Path) -> bool {
  match fs::symlink_metadata(path) {
    Ok(m) if m.is_dir() => fs::remove_dir_all(path).is_ok(),
    Ok(_) => fs::remove_file(path).is_ok(),
    Err(_) => false,
  }
}
