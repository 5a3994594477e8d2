//! `check`: finds what is wrong in a store folder, and with `repair` fixes what is safe to fix
//! (markers and the store's own leftovers), never touching a job's request or value. Without
//! `repair` it only reads: no lock is taken, nothing is created. It knows every disagreement
//! between a record and its markers that a cut in the middle of a transition can leave.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::clock::now_ms;
use crate::delayed_index;
use crate::error::{Code, Op, Result, StoreError};
use crate::folder::{Folder, Kind};
use crate::keys;
use crate::layout::{self, Layout, CANCELLED, DELAYED, FAILED, JOBS, PENDING, TMP, WAITING};
use crate::leftovers::GRACE;
use crate::marker::Marker;
use crate::named::named_enum;
use crate::pull::retry_cut_short;
use crate::state::JobStatus;
use crate::store::Store;
use crate::transition::{Record, Transition};

named_enum! {
  /// The kinds of damage `check` reports, by their stable names.
  pub enum ProblemKind {
    /// A marker whose job does not exist.
    DanglingMarker = "dangling-marker",
    /// `jobs/<id>` is a symbolic link: never followed, so the job cannot be worked.
    LinkedJob = "linked-job",
    /// Something in `jobs/` that is neither a job folder nor a link.
    StrayFile = "stray-file",
    /// A `state.json` that cannot be parsed, or is missing, or is not a file.
    CorruptState = "corrupt-state",
    /// A record the OS will not let this process read.
    UnreadableJob = "unreadable-job",
    /// A fulfilled record without its value file.
    MissingValue = "missing-value",
    /// A job still in `pending/` that is fulfilled, failed or cancelled, or whose retry is
    /// recorded for later (with its `delayed/` marker).
    StalePendingMarker = "stale-pending-marker",
    /// A pending record with neither a `pending/` nor a `delayed/` marker: no worker finds it.
    MissingPendingMarker = "missing-pending-marker",
    /// A record with waiting targets but no `waiting/` marker: no notifier finds them.
    MissingWaitingMarker = "missing-waiting-marker",
    /// A `waiting/` marker on a job with no targets waiting.
    StaleWaitingMarker = "stale-waiting-marker",
    /// A failed record without its `failed/` marker.
    MissingFailedMarker = "missing-failed-marker",
    /// A `failed/` marker on a job that is not failed.
    StaleFailedMarker = "stale-failed-marker",
    /// A `delayed/` marker on a job that is fulfilled, failed, cancelled, or already in `pending/`.
    StaleDelayedMarker = "stale-delayed-marker",
    /// A cancelled record without its `cancelled/` marker.
    MissingCancelledMarker = "missing-cancelled-marker",
    /// A `cancelled/` marker on a job that is not cancelled.
    StaleCancelledMarker = "stale-cancelled-marker",
    /// A unique key held by no job (a crash between taking the key and making its job): the
    /// next create with that key takes it over; repair frees it now.
    StaleKey = "stale-key",
    /// A temporary file or folder of the store's, left by an interrupted write.
    LeftoverTemporary = "leftover-temporary",
    /// Something in `tmp/` the store did not make; never deleted.
    ForeignTemporary = "foreign-temporary",
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
    for dir in [PENDING, WAITING, FAILED, CANCELLED] {
      for id in Layout::list_ids(&f, dir)? {
        markers.push((dir, format!("{dir}/{id}"), id));
      }
    }
    let mut delayed: HashMap<String, Vec<u64>> = HashMap::new();
    for (due, id) in delayed_index::list(&f)? {
      markers.push((DELAYED, Layout::delayed_link(due, &id), id.clone()));
      delayed.entry(id).or_default().push(due);
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
          let due = delayed.get(id).map_or(&[][..], Vec::as_slice);
          if let Err(e) = self.check_job(&f, id, due, repair, &mut problems) {
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

    for (name, id) in self.stale_keys(&f)? {
      let rel = keys::link(&name);
      // Under the key's lock: a create of that key in flight has its job by the time it lets go.
      let repaired = repair
        && self
          .lock_key(&f, &name)
          .is_ok_and(|_lock| matches!(self.key_holder(&f, &name), Ok(keys::Holder::Free)));
      problems.push(Problem {
        kind: ProblemKind::StaleKey,
        id: Some(id.clone()),
        path: f.full(&rel),
        message: format!("the unique key {name} points to job {id}, which does not exist; the next create with that key takes it over"),
        repaired,
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

  /// Checks one job's record against its markers: the record's state must have its marker, and
  /// no marker may say what the record does not (a cut in the middle of a transition can leave
  /// one extra). Repairing, under its state lock so no transition races us; only looking,
  /// without any lock (a look must not create lock files). `delayed` holds the due times of
  /// this job's `delayed/` markers.
  fn check_job(
    &self,
    f: &Folder,
    id: &str,
    delayed: &[u64],
    repair: bool,
    problems: &mut Vec<Problem>,
  ) -> Result<()> {
    let _lock = if repair {
      Some(self.lock_state(f, id)?)
    } else {
      None
    };
    let state = self.read_state(f, id)?;
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
    let has = |marker: Marker| f.exists(&marker.link(id));
    let tidy = |marker: Marker| self.transition(f, id, Transition::tidy(&[marker]));
    let restore = |marker: Marker| {
      self.transition(
        f,
        id,
        Transition {
          add: &[marker],
          record: Record::Unchanged,
          remove: &[],
        },
      )
    };
    let status = state.status;
    let value = Layout::value_file(id);
    if status == JobStatus::Fulfilled && !f.exists(&value) {
      found(
        ProblemKind::MissingValue,
        &value,
        format!("job {id} is fulfilled but has no value file"),
        &|| Err(StoreError::new(Code::Corrupt, "not repairable")),
      );
    }
    let in_pending = has(Marker::Pending);
    let retry_later = status == JobStatus::Pending && retry_cut_short(f, id, state.run_at_ms);
    if (status != JobStatus::Pending || retry_later) && in_pending {
      let what = if retry_later {
        "to be retried later".to_owned()
      } else {
        status.name().to_owned()
      };
      found(
        ProblemKind::StalePendingMarker,
        &Marker::Pending.link(id),
        format!("job {id} is {what} but still marked pending"),
        &|| tidy(Marker::Pending),
      );
    }
    let in_pending = in_pending && !retry_later;
    let job_age_ms = f
      .lstat(&Layout::job_dir(id))
      .map_or(0.0, |m| now_ms() - m.modified_ms);
    if status == JobStatus::Pending
      && !in_pending
      && delayed.is_empty()
      && job_age_ms > GRACE.as_millis() as f64
    {
      // Due later: back to delayed/ at its time; otherwise pending now.
      let marker = match state.run_at_ms {
        Some(at) if at > now_ms() => Marker::Delayed { due_ms: at as u64 },
        _ => Marker::Pending,
      };
      found(
        ProblemKind::MissingPendingMarker,
        &marker.link(id),
        format!("job {id} is pending but no worker can find it (no pending/ or delayed/ marker)"),
        &|| restore(marker),
      );
    }
    for &due_ms in delayed {
      if status == JobStatus::Pending && !in_pending {
        continue;
      }
      let marker = Marker::Delayed { due_ms };
      let why = if status == JobStatus::Pending {
        "already pending".to_owned()
      } else {
        status.name().to_owned()
      };
      found(
        ProblemKind::StaleDelayedMarker,
        &marker.link(id),
        format!("job {id} is {why} but still has a delayed/ marker"),
        &|| tidy(marker),
      );
    }
    let in_failed = has(Marker::Failed);
    if status == JobStatus::Failed && !in_failed {
      found(
        ProblemKind::MissingFailedMarker,
        &Marker::Failed.link(id),
        format!(
          "job {id} is failed but not in failed/, so lists and retries of failed jobs miss it"
        ),
        &|| restore(Marker::Failed),
      );
    }
    if status != JobStatus::Failed && in_failed {
      found(
        ProblemKind::StaleFailedMarker,
        &Marker::Failed.link(id),
        format!("job {id} is {} but still marked failed", status.name()),
        &|| tidy(Marker::Failed),
      );
    }
    let in_cancelled = has(Marker::Cancelled);
    if status == JobStatus::Cancelled && !in_cancelled {
      found(
        ProblemKind::MissingCancelledMarker,
        &Marker::Cancelled.link(id),
        format!("job {id} is cancelled but not in cancelled/"),
        &|| restore(Marker::Cancelled),
      );
    }
    if status != JobStatus::Cancelled && in_cancelled {
      found(
        ProblemKind::StaleCancelledMarker,
        &Marker::Cancelled.link(id),
        format!("job {id} is {} but marked cancelled", status.name()),
        &|| tidy(Marker::Cancelled),
      );
    }
    let in_waiting = has(Marker::Waiting);
    let notified = status != JobStatus::Cancelled;
    if !state.waiting.is_empty() && !in_waiting && notified {
      found(
        ProblemKind::MissingWaitingMarker,
        &Marker::Waiting.link(id),
        format!(
          "job {id} has {} waiting target(s) but no notifier can find them",
          state.waiting.len()
        ),
        &|| restore(Marker::Waiting),
      );
    }
    if (state.waiting.is_empty() || !notified) && in_waiting {
      found(
        ProblemKind::StaleWaitingMarker,
        &Marker::Waiting.link(id),
        format!("job {id} is marked waiting but has no targets to notify"),
        &|| tidy(Marker::Waiting),
      );
    }
    Ok(())
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
