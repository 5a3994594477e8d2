//! A job's markers: the symbolic links that say which state it is in, so that a worker finds
//! work by listing one folder instead of reading every record. Each marker knows its folder (the
//! one to fsync after changing it) and its name there.

use crate::layout::{Layout, CANCELLED, DELAYED, FAILED, PENDING, WAITING};

/// One kind of marker a job can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
  /// `pending/<id>`: the job needs work now.
  Pending,
  /// `waiting/<id>`: targets wait to be told the job's value.
  Waiting,
  /// `failed/<id>`: the job is set aside as failed.
  Failed,
  /// `delayed/<due>-<id>`: the job needs work, but not before `due_ms`.
  Delayed { due_ms: u64 },
  /// `cancelled/<id>`: the job was cancelled; its holder, if any, is told.
  Cancelled,
}

impl Marker {
  /// The folder the marker lives in, relative to the store's.
  pub fn folder(self) -> &'static str {
    match self {
      Marker::Pending => PENDING,
      Marker::Waiting => WAITING,
      Marker::Failed => FAILED,
      Marker::Delayed { .. } => DELAYED,
      Marker::Cancelled => CANCELLED,
    }
  }

  /// The marker of job `id`, relative to the store's folder.
  pub fn link(self, id: &str) -> String {
    match self {
      Marker::Pending => Layout::pending_link(id),
      Marker::Waiting => Layout::waiting_link(id),
      Marker::Failed => Layout::failed_link(id),
      Marker::Delayed { due_ms } => Layout::delayed_link(due_ms, id),
      Marker::Cancelled => Layout::cancelled_link(id),
    }
  }

  /// The delayed marker of a record that says `run_at_ms`, if any.
  pub fn delayed_at(run_at_ms: Option<f64>) -> Option<Marker> {
    run_at_ms.map(|at| Marker::Delayed { due_ms: at as u64 })
  }

  /// The marker a new job gets: `delayed/` when it has a time ahead, `pending/` otherwise.
  pub fn for_new(run_at_ms: Option<f64>) -> Marker {
    Marker::delayed_at(run_at_ms).unwrap_or(Marker::Pending)
  }

  /// Every marker a job still to be done may have (`pending/`, and `delayed/` for the time its
  /// record says): what a transition out of that state removes.
  pub fn of_pending(run_at_ms: Option<f64>) -> Vec<Marker> {
    let mut markers = vec![Marker::Pending];
    markers.extend(Marker::delayed_at(run_at_ms));
    markers
  }
}
