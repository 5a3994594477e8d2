//! Delayed jobs: a job not to be worked before its time has a marker `delayed/<due>-<id>` instead
//! of `pending/<id>`, so no worker (1.2.0's included) sees it early. A store that pulls promotes
//! the due ones through a transition: `pending/<id>` is made (and durable) before the delayed
//! marker goes, so a cut between the two leaves both, which the next promotion or `check`
//! tidies, never neither. Which markers are due is kept in memory by `delayed_index`.

use std::time::Duration;

use crate::clock::now_ms;
use crate::error::{Code, Result, StoreError};
use crate::folder::Folder;
use crate::layout;
use crate::marker::Marker;
use crate::state::JobStatus;
use crate::store::Store;
use crate::transition::{Record, Transition};

impl Store {
  /// Moves the delayed jobs that are due into `pending/`.
  pub(crate) fn promote_due(&self, f: &Folder) -> Result<()> {
    let now = now_ms() as u64;
    if !self.has_due(now) {
      return Ok(());
    }
    for (due_ms, id) in self.delayed.take_due(f, now)? {
      let delayed = Marker::Delayed { due_ms };
      // Another store may have promoted it already.
      if f.exists(&delayed.link(&id)) {
        self.transition(
          f,
          &id,
          Transition {
            add: &[Marker::Pending],
            record: Record::Unchanged,
            remove: &[delayed],
          },
        )?;
      }
    }
    Ok(())
  }

  /// Makes a delayed job (or one backing off before a retry) pending now: its record's time is
  /// cleared and its marker moves from `delayed/` to `pending/` in one transition. Fails
  /// `ENOTDELAYED` for a job that is not waiting for its time.
  pub fn run_now(&self, id: &str) -> Result<()> {
    let f = self.writable()?;
    layout::check_id(id)?;
    let _lock = self.lock_state(&f, id)?;
    let mut state = self.read_state(&f, id)?;
    let due = state
      .run_at_ms
      .filter(|_| state.status == JobStatus::Pending);
    let Some(delayed) = Marker::delayed_at(due).filter(|m| f.exists(&m.link(id))) else {
      return Err(StoreError::new(
        Code::NotDelayed,
        format!("job '{id}' is not delayed (it is pending now, or done); only a job waiting for its time can be run now"),
      ));
    };
    self.make_pending_now(&f, id, &mut state, delayed)
  }

  /// Whether a delayed job known here is due at `now_ms` (or `delayed/` should be looked at).
  pub(crate) fn has_due(&self, now_ms: u64) -> bool {
    self.delayed.next_due_ms().is_some_and(|due| due <= now_ms)
  }

  /// How long until the next delayed job known here is due; waits sleep no longer than that.
  pub(crate) fn until_next_due(&self) -> Option<Duration> {
    let due = self.delayed.next_due_ms()?;
    let wait = (due as f64 - now_ms()).max(0.0);
    // At least a few milliseconds: a due job that cannot be promoted must not make a waiter spin.
    Some(Duration::from_millis(wait as u64).max(Duration::from_millis(5)))
  }
}
