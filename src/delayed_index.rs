//! Which delayed jobs come due next, as far as this process knows (see `delayed` for what a
//! delayed job is and how it is promoted).
//!
//! Pulls must not pay for jobs that are not due. A store keeps the [`SOONEST`] earliest markers of
//! one listing in memory, learns of new ones from its own creates and from filesystem events on
//! `delayed/`, and lists the folder again only when the kept ones run out, or every [`RELIST`]
//! as a backstop (events do not cross machines on network filesystems).

use std::collections::BTreeSet;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Op, Result, StoreError};
use crate::folder::Folder;
use crate::layout::{parse_delayed_name, DELAYED};

/// How many of the earliest markers a store keeps from one listing.
#[cfg(not(test))]
const SOONEST: usize = 1024;
#[cfg(test)]
const SOONEST: usize = 3;

/// How often `delayed/` is listed again even when nothing says it changed.
const RELIST: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct Index {
  /// `(due ms, id)`, earliest first.
  soonest: BTreeSet<(u64, String)>,
  /// Whether `soonest` holds every marker there is (the last listing fitted in it).
  complete: bool,
  listed_at: Option<Instant>,
}

/// The earliest delayed markers of one store folder, as far as this process knows.
#[derive(Debug, Default)]
pub struct DelayedIndex {
  index: Mutex<Index>,
}

impl DelayedIndex {
  /// A marker was made (by this process, or seen in an event).
  pub fn note(&self, due_ms: u64, id: &str) {
    let mut index = self.index.lock().unwrap();
    let fits = index.complete
      || index.soonest.len() < SOONEST
      || index.soonest.last().is_some_and(|last| due_ms < last.0);
    if fits {
      index.soonest.insert((due_ms, id.to_owned()));
      if index.soonest.len() > SOONEST {
        index.soonest.pop_last();
        index.complete = false;
      }
    }
  }

  /// When the next known marker is due (ms since the epoch); `Some(0)` when the folder should be
  /// looked at now (never listed, or the backstop is due).
  pub fn next_due_ms(&self) -> Option<u64> {
    let index = self.index.lock().unwrap();
    if needs_listing(&index) {
      return Some(0);
    }
    index.soonest.first().map(|(due, _)| *due)
  }

  /// Takes the markers due at `now_ms` out of the index, listing `delayed/` first when needed.
  pub fn take_due(&self, f: &Folder, now_ms: u64) -> Result<Vec<(u64, String)>> {
    let mut index = self.index.lock().unwrap();
    if needs_listing(&index) {
      relist(&mut index, f, &[])?;
    }
    let mut due = Vec::new();
    while index.soonest.first().is_some_and(|(at, _)| *at <= now_ms) {
      due.push(index.soonest.pop_first().expect("checked above"));
      if index.soonest.is_empty() && !index.complete {
        // The markers taken so far are still on disk: the listing must not count them again.
        relist(&mut index, f, &due)?;
      }
    }
    Ok(due)
  }
}

fn needs_listing(index: &Index) -> bool {
  match index.listed_at {
    None => true,
    Some(at) => at.elapsed() > RELIST || (index.soonest.is_empty() && !index.complete),
  }
}

fn relist(index: &mut Index, f: &Folder, taken: &[(u64, String)]) -> Result<()> {
  let mut soonest = BTreeSet::new();
  let mut complete = true;
  let listed = f.for_each_entry(DELAYED, |entry| {
    if let Some((due, id)) = parse_delayed_name(&entry.name) {
      let entry = (due, id.to_owned());
      if taken.contains(&entry) {
        return false;
      }
      soonest.insert(entry);
      if soonest.len() > SOONEST {
        soonest.pop_last();
        complete = false;
      }
    }
    false
  });
  match listed {
    Ok(_) => {}
    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
    Err(e) => return Err(StoreError::io(&e, Op::List, &f.full(DELAYED))),
  }
  *index = Index {
    soonest,
    complete,
    listed_at: Some(Instant::now()),
  };
  Ok(())
}

/// Every delayed marker in the folder: `(due ms, id)`, earliest first.
pub fn list(f: &Folder) -> Result<Vec<(u64, String)>> {
  match f.entries(DELAYED) {
    Ok(entries) => {
      let mut all: Vec<(u64, String)> = entries
        .iter()
        .filter_map(|e| parse_delayed_name(&e.name).map(|(due, id)| (due, id.to_owned())))
        .collect();
      all.sort();
      Ok(all)
    }
    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
    Err(e) => Err(StoreError::io(&e, Op::List, &f.full(DELAYED))),
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::layout::delayed_name;

  #[test]
  fn due_markers_come_out_in_time_order_past_the_kept_few() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("delayed")).unwrap();
    for (due, id) in [
      (50, "job-e"),
      (10, "job-a"),
      (40, "job-d"),
      (20, "job-b"),
      (30, "job-c"),
    ] {
      std::fs::write(dir.path().join("delayed").join(delayed_name(due, id)), b"").unwrap();
    }
    let f = Folder::open(dir.path()).unwrap();
    let index = DelayedIndex::default();
    assert_eq!(index.next_due_ms(), Some(0), "never listed: look now");
    assert!(index.take_due(&f, 5).unwrap().is_empty());
    assert_eq!(index.next_due_ms(), Some(10));
    index.note(15, "job-x");
    let due: Vec<String> = index
      .take_due(&f, 45)
      .unwrap()
      .into_iter()
      .map(|(_, id)| id)
      .collect();
    assert_eq!(due, ["job-a", "job-x", "job-b", "job-c", "job-d"]);
    assert_eq!(index.next_due_ms(), Some(50));
  }
}
