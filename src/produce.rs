//! Producing and answering jobs: `create`, `queue` and `unqueue` of targets, `fulfill`, `update`,
//! and `delivery` (what a fulfilled job owes its targets). Each change is a read-modify-write of
//! the record under the job's short state lock, made through one [`Transition`].

use crate::cancel::cancelled;
use crate::clock::now_ms;
use crate::durable::{self, Durability};
use crate::error::{Code, Op, Result, StoreError};
use crate::folder::Folder;
use crate::json::{self, Refusal};
use crate::layout::{self, Layout, LockKind};
use crate::marker::Marker;
use crate::state::{JobState, JobStatus};
use crate::store::{CreateOptions, Delivery, Store};
use crate::transition::{Record, Transition};

impl Store {
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
    let marker = match due {
      Some(due_ms) => Marker::Delayed { due_ms },
      None => Marker::Pending,
    };
    // Built whole under a temporary name, then published by the transition: its marker is made
    // first and points nowhere until the folder appears, which pulls skip.
    let tmp = Layout::temp_path();
    let made = self.build_job_folder(&f, &tmp, &state).and_then(|()| {
      self.transition(
        &f,
        &id,
        Transition {
          add: &[marker],
          record: Record::Publish { tmp: &tmp },
          remove: &[],
        },
      )
    });
    if let Err(e) = made {
      // Not acknowledged: take it back whole, so no half-made job is left to be found.
      let _ = f.remove_tree(&tmp);
      let _ = f.remove_tree(&Layout::job_dir(&id));
      let _ = f.unlink(&marker.link(&id));
      return Err(e);
    }
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
    let f = self.writable()?;
    layout::check_id(id)?;
    let _lock = self.lock_state(&f, id)?;
    let mut state = self.read_state(&f, id)?;
    if state.status != JobStatus::Pending {
      self.transition(&f, id, Transition::tidy(&[Marker::Pending]))?;
      return Err(not_pending(id, &state));
    }
    state.status = JobStatus::Fulfilled;
    state.fulfilled_at_ms = Some(now_ms());
    // Only once the value is on disk does the job stop being pending (or delayed).
    let mut markers = vec![Marker::Pending];
    markers.extend(Marker::delayed_at(state.run_at_ms));
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
