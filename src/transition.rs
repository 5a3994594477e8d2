//! The one way a job changes state: a [`Transition`] adds markers, rewrites the record, removes
//! markers, in the order that keeps a power cut from losing anything acknowledged or leaving the
//! record and its markers disagreeing.
//!
//! **Order.** (1) Make the new markers; (2) fsync their folders; (3) write the record (and, for a
//! fulfil, the value before it) atomically, then fsync the job's folder; (4) remove the old
//! markers; (5) fsync their folders; (6) wake waiters. So at every instant, on disk:
//!
//! - the record's state has its marker: a marker is durable before the record that needs it
//!   is (on btrfs a folder's fsync persists that folder alone, so the order of the fsyncs is
//!   what matters, not only that each happens);
//! - at worst a marker is extra, ahead of the record (made, record not yet written) or behind it
//!   (record written, marker not yet removed). Readers check a marker against the record, and
//!   `check` reports and repairs extra markers.
//!
//! A folder is fsynced only when this transition changed a name in it. Nothing here locks:
//! callers hold the job's state lock (or, for a create, own the only copy of the record).
//! When not durable, the same steps run without the fsyncs.
//!
//! Deleting a job is not a transition: the job folder leaves in one rename (see `retention`),
//! after which its markers point nowhere, which every reader skips.

use crate::durable::{self, Durability};
use crate::error::{Op, Result, StoreError};
use crate::folder::Folder;
use crate::layout::{self, Layout, JOBS};
use crate::marker::Marker;
use crate::state::JobState;
use crate::store::Store;

/// What happens to the record in a transition.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
  /// Left as it is: only markers move (a delayed job come due, a stale marker tidied).
  Unchanged,
  /// `state.json` replaced by this state.
  Write(&'a JobState),
  /// The value file, then `state.json`, through the job's folder opened once.
  Fulfil {
    value: &'a [u8],
    state: &'a JobState,
  },
  /// A new job: its folder, built whole under the temporary name `tmp`, renamed into `jobs/`.
  Publish { tmp: &'a str },
}

/// A state change of one job (see the module docs for the order it runs in).
#[derive(Debug, Clone, Copy)]
pub struct Transition<'a> {
  pub add: &'a [Marker],
  pub record: Record<'a>,
  pub remove: &'a [Marker],
}

impl<'a> Transition<'a> {
  /// Removes markers that disagree with the record (left by a crash), changing nothing else.
  pub fn tidy(remove: &'a [Marker]) -> Transition<'a> {
    Transition {
      add: &[],
      record: Record::Unchanged,
      remove,
    }
  }
}

impl Store {
  /// Performs `change` on job `id` in the crash-safe order. On an error before the record is
  /// written, the markers this call made are taken back, so an unacknowledged change leaves
  /// nothing behind; after it, the change stands and the error says what was not finished.
  pub(crate) fn transition(&self, f: &Folder, id: &str, change: Transition) -> Result<()> {
    let durability = self.durability();
    let mut made = Vec::with_capacity(change.add.len());
    for &marker in change.add {
      if self.make_link(f, &marker.link(id), id)? {
        made.push(marker);
      }
    }
    let written = self
      .sync_folders_of(f, &made, durability)
      .and_then(|()| self.write_record(f, id, change.record, durability));
    if let Err(e) = written {
      for marker in &made {
        let _ = f.unlink(&marker.link(id));
      }
      return Err(e);
    }
    let mut removed = Vec::with_capacity(change.remove.len());
    for &marker in change.remove {
      if self.remove_link(f, &marker.link(id))? {
        removed.push(marker);
      }
    }
    self.sync_folders_of(f, &removed, durability)?;
    for marker in &made {
      match (marker, change.record) {
        (Marker::Delayed { due_ms }, _) => self.delayed.note(*due_ms, id),
        // An existing job back in pending/ is older than the ids the cursor holds.
        (Marker::Pending, Record::Write(_) | Record::Unchanged) => self.pending.invalidate(),
        _ => {}
      }
    }
    self.wake.bump();
    Ok(())
  }

  /// fsyncs each folder `markers` live in, once.
  fn sync_folders_of(&self, f: &Folder, markers: &[Marker], durability: Durability) -> Result<()> {
    let mut folders: Vec<&'static str> = markers.iter().map(|m| m.folder()).collect();
    folders.sort_unstable();
    folders.dedup();
    for folder in folders {
      self.syncs.sync(f, folder, durability)?;
    }
    Ok(())
  }

  fn write_record(
    &self,
    f: &Folder,
    id: &str,
    record: Record,
    durability: Durability,
  ) -> Result<()> {
    match record {
      Record::Unchanged => Ok(()),
      Record::Write(state) => self.write_state(f, id, state),
      Record::Fulfil { value, state } => {
        // Value before state: a record that says fulfilled always has its value.
        let job_dir = Layout::job_dir(id);
        let dir = f
          .open_dir(&job_dir)
          .map_err(|e| StoreError::io(&e, Op::OpenFolder, &f.full(&job_dir)))?;
        // A job has no value until its first fulfil: written in place, one rename fewer. One
        // left by an interrupted fulfil is replaced atomically instead.
        let made = durable::create_in(&dir, layout::VALUE_FILE, value, durability)
          .map_err(|e| StoreError::io(&e, Op::Write, &f.full(&Layout::value_file(id))))?;
        if !made {
          self.replace_in(f, &dir, id, layout::VALUE_FILE, value)?;
        }
        self.replace_in(f, &dir, id, layout::STATE_FILE, state.to_json().as_bytes())?;
        if durability == Durability::Durable {
          std::fs::File::from(dir)
            .sync_all()
            .map_err(|e| StoreError::io(&e, Op::Fsync, &f.full(&job_dir)))?;
        }
        Ok(())
      }
      Record::Publish { tmp } => {
        let job_dir = Layout::job_dir(id);
        f.rename(tmp, &job_dir)
          .map_err(|e| StoreError::io(&e, Op::Rename, &f.full(&job_dir)))?;
        self.syncs.sync(f, JOBS, durability)
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::store::Options;

  #[test]
  fn a_transition_adds_before_it_writes_and_removes_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let id = store.create("1").unwrap();
    let f = store.writable().unwrap();
    let mut state = store.read_state(&f, &id).unwrap();
    state.status = crate::state::JobStatus::Failed;
    state.failed_at_ms = Some(1.0);
    store
      .transition(
        &f,
        &id,
        Transition {
          add: &[Marker::Failed],
          record: Record::Write(&state),
          remove: &[Marker::Pending],
        },
      )
      .unwrap();
    let exists = |rel: &str| dir.path().join(rel).symlink_metadata().is_ok();
    assert!(exists(&Layout::failed_link(&id)));
    assert!(!exists(&Layout::pending_link(&id)));
    assert_eq!(
      store.read_state(&f, &id).unwrap().status,
      crate::state::JobStatus::Failed
    );
  }

  #[test]
  fn a_record_that_cannot_be_written_takes_back_the_markers_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let f = store.writable().unwrap();
    let id = layout::new_id();
    let state = JobState::new("1").unwrap();
    let err = store
      .transition(
        &f,
        &id,
        Transition {
          add: &[Marker::Waiting],
          record: Record::Write(&state),
          remove: &[],
        },
      )
      .unwrap_err();
    assert_eq!(err.code.name(), "ENOENT", "{err}");
    assert!(dir
      .path()
      .join(Layout::waiting_link(&id))
      .symlink_metadata()
      .is_err());
  }
}
