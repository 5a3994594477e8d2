//! Turns for one job's state lock inside this process. Callers of one process that update the
//! same job wait here, in line and without holding a thread, instead of spinning on the file
//! lock; the file lock's bounded wait is then only ever spent on other processes.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use tokio::sync::{Mutex as TurnLock, OwnedMutexGuard};

static GATES: LazyLock<Mutex<HashMap<String, Arc<TurnLock<()>>>>> = LazyLock::new(Mutex::default);

/// A turn at one key; the next caller in line goes when it is dropped.
pub struct Turn {
  key: String,
  gate: Arc<TurnLock<()>>,
  guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for Turn {
  fn drop(&mut self) {
    self.guard.take();
    let mut gates = GATES.lock().unwrap();
    // Nobody else holds or waits for this gate (the map and we are its only owners): forget it.
    if Arc::strong_count(&self.gate) == 2 {
      gates.remove(&self.key);
    }
  }
}

fn gate(key: &str) -> Arc<TurnLock<()>> {
  GATES
    .lock()
    .unwrap()
    .entry(key.to_owned())
    .or_default()
    .clone()
}

/// The turn at `key` if it is free right now.
pub fn try_enter(key: &str) -> Option<Turn> {
  let gate = gate(key);
  let guard = gate.clone().try_lock_owned().ok()?;
  Some(Turn {
    key: key.to_owned(),
    gate,
    guard: Some(guard),
  })
}

/// Waits in line for the turn at `key`.
pub async fn enter(key: String) -> Turn {
  let gate = gate(&key);
  let guard = gate.clone().lock_owned().await;
  Turn {
    key,
    gate,
    guard: Some(guard),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn one_turn_at_a_time_and_the_gate_is_forgotten_after() {
    let first = try_enter("store\0job-1").expect("free");
    assert!(try_enter("store\0job-1").is_none(), "taken");
    assert!(
      try_enter("store\0job-2").is_some(),
      "other jobs are not held up"
    );
    drop(first);
    assert!(try_enter("store\0job-1").is_some());
    assert!(GATES.lock().unwrap().is_empty());
  }
}
