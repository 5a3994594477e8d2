//! The pull cursor: the ids of one marker folder (`pending/` or `waiting/`) in the order pulls try
//! them, oldest first. It is refilled from a listing only when it runs dry or grows old, so a
//! pull does not pay for the whole queue, and it keeps a bounded number of ids, so memory does
//! not grow with the queue's depth.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Code, Op, Result, StoreError};
use crate::folder::Folder;
use crate::layout::Layout;

/// How many of the oldest ids a cursor keeps from one listing: enough that a deep queue is
/// listed rarely, few enough that a worker's memory does not grow with the queue's depth.
#[cfg(not(test))]
pub(crate) const CURSOR_SIZE: usize = 8192;
#[cfg(test)]
pub(crate) const CURSOR_SIZE: usize = 4;

/// The ids of one marker folder in the order pulls try them. Refilled from a listing only when it
/// runs dry or grows old, so a pull does not pay for the whole queue.
#[derive(Debug, Default)]
pub struct Cursor {
  ids: VecDeque<String>,
  listed_at: Option<Instant>,
  list_cost: Duration,
  /// The listing stopped at its size limit: newer ids wait beyond `last`.
  more_after: Option<String>,
}

impl Cursor {
  /// Lists the oldest ids again, or with `after` the oldest ones newer than it.
  fn refill(&mut self, folder: &Folder, dir: &str, after: Option<&str>) -> Result<()> {
    let started = Instant::now();
    // A listing is the moment to notice sub-folders removed or replaced by others, and the
    // store folder itself removed (its sub-folders would then list as empty: "no work").
    folder.check_present().map_err(|e| {
      let mut err = StoreError::io(&e, Op::List, folder.path());
      err.message = format!(
        "{}: the store folder {} was removed (or its filesystem no longer answers) while this store was open; make it again and open a new store on it",
        err.code.name(),
        folder.path().display()
      );
      err
    })?;
    folder.revalidate();
    let ids = Layout::list_oldest(folder, dir, CURSOR_SIZE, after)?;
    self.more_after = (ids.len() == CURSOR_SIZE).then(|| ids[ids.len() - 1].clone());
    self.ids = ids.into();
    // A continued listing does not make the cursor fresh: its start is as old as before.
    if after.is_none() {
      self.listed_at = Some(started);
      self.list_cost = started.elapsed();
    }
    Ok(())
  }

  /// A listing this old may miss jobs released by others; re-list, but rarely enough that even a
  /// huge folder's listing stays a small share of the time.
  fn expired(&self) -> bool {
    match self.listed_at {
      None => true,
      Some(at) => at.elapsed() > Duration::from_secs(1).max(self.list_cost * 20),
    }
  }

  fn listed_since(&self, t: Instant) -> bool {
    self.listed_at.is_some_and(|at| at >= t)
  }
}

/// One marker folder's cursor, walked by one puller of the store at a time (so two pullers of
/// one store never try the same head).
#[derive(Debug)]
pub struct PullCursor {
  dir: &'static str,
  cursor: Mutex<Cursor>,
}

impl PullCursor {
  pub fn new(dir: &'static str) -> PullCursor {
    PullCursor {
      dir,
      cursor: Mutex::default(),
    }
  }

  /// Makes the next pull list the folder again (jobs older than the cursor's appeared).
  pub fn invalidate(&self) {
    self.cursor.lock().unwrap().listed_at = None;
  }

  /// A new id that may sort before ids the cursor holds (a job of a higher priority): put it in
  /// its place, so the next pull tries it first without listing the folder again. Ids after the
  /// cursor's last are left to the next listing, as any new job is.
  ///
  /// Never waits: it is called on the create, release and event paths, and a puller may hold
  /// the cursor through a long listing. A busy cursor lets the offer go; the next listing (at
  /// most a second or so away) finds the id.
  pub fn offer(&self, id: &str) {
    let Ok(mut cursor) = self.cursor.try_lock() else {
      return;
    };
    let before_last = cursor.ids.back().is_some_and(|last| id < last.as_str());
    if before_last {
      if let Err(at) = cursor.ids.binary_search_by(|held| held.as_str().cmp(id)) {
        cursor.ids.insert(at, id.to_owned());
      }
    }
  }

  /// Forgets what was listed (the store is closing).
  pub fn reset(&self) {
    *self.cursor.lock().unwrap() = Cursor::default();
  }

  /// Offers ids to `try_one`, oldest first, until it takes one; `None` when a listing made during
  /// this pull, read to its end, has nothing `try_one` takes. A failure on one entry does not
  /// stop the queue: damaged and missing entries are skipped (`check` reports them), and other
  /// failures (a claim the OS refused, a failing disk) are answered only if nothing could be
  /// pulled, so a worker on a folder it may not write is told so rather than "no work".
  pub fn pull<T>(
    &self,
    f: &Folder,
    try_one: impl Fn(&str) -> Result<Option<T>>,
  ) -> Result<Option<T>> {
    let started = Instant::now();
    let mut cursor = self.cursor.lock().unwrap();
    self
      .walk(&mut cursor, f, true, started, try_one)
      .expect("a pull that may list always answers")
  }

  /// Like [`PullCursor::pull`] without listing the folder or waiting for another puller: `None`
  /// when the answer needs either, which the caller then runs where it may block.
  pub fn pull_listed<T>(
    &self,
    f: &Folder,
    try_one: impl Fn(&str) -> Result<Option<T>>,
  ) -> Option<Result<Option<T>>> {
    let started = Instant::now();
    let mut cursor = self.cursor.try_lock().ok()?;
    self.walk(&mut cursor, f, false, started, try_one)
  }

  fn walk<T>(
    &self,
    cursor: &mut Cursor,
    f: &Folder,
    may_list: bool,
    started: Instant,
    try_one: impl Fn(&str) -> Result<Option<T>>,
  ) -> Option<Result<Option<T>>> {
    let mut failure = None;
    loop {
      if cursor.ids.is_empty() || cursor.expired() {
        if !may_list {
          return None;
        }
        if cursor.ids.is_empty() && cursor.listed_since(started) {
          match cursor.more_after.take() {
            Some(last) => {
              if let Err(e) = cursor.refill(f, self.dir, Some(&last)) {
                return Some(Err(e));
              }
            }
            None => return Some(failure.map_or(Ok(None), |e| Err(nothing_taken(e)))),
          }
          continue;
        }
        if let Err(e) = cursor.refill(f, self.dir, None) {
          return Some(Err(e));
        }
        continue;
      }
      let id = cursor.ids.pop_front().expect("cursor is not empty");
      match try_one(&id) {
        Ok(Some(found)) => return Some(Ok(Some(found))),
        Ok(None) => {}
        // Gone since the listing, or damaged (a linked job folder): nothing to report.
        Err(e) if e.code == Code::Corrupt || e.is_not_found() => {}
        Err(e) => {
          failure.get_or_insert(e);
        }
      }
    }
  }
}

/// The error a pull answers when it could take nothing: what failed first, and what to check.
fn nothing_taken(mut e: StoreError) -> StoreError {
  e.message.push_str(
    "; no job could be taken because of this, so the pull has no work to give: check that this \
     process may write the store's folder (permissions, immutable flags, a read-only mount)",
  );
  e
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn ids_come_oldest_first_past_the_listing_limit_and_bad_entries_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pending")).unwrap();
    let ids: Vec<String> = (0..CURSOR_SIZE * 2 + 1)
      .map(|_| crate::layout::new_id())
      .collect();
    for id in &ids {
      std::fs::write(dir.path().join("pending").join(id), b"").unwrap();
    }
    let folder = Folder::open(dir.path()).unwrap();
    let cursor = PullCursor::new("pending");
    let seen = std::cell::RefCell::new(Vec::new());
    // Takes only the last id; the first is "damaged".
    let found = cursor
      .pull(&folder, |id| {
        seen.borrow_mut().push(id.to_owned());
        if id == ids[0] {
          return Err(crate::error::StoreError::new(Code::Corrupt, "bad"));
        }
        Ok((id == ids[ids.len() - 1]).then(|| id.to_owned()))
      })
      .unwrap();
    assert_eq!(found.as_deref(), Some(ids[ids.len() - 1].as_str()));
    assert_eq!(
      *seen.borrow(),
      ids,
      "every id was offered once, oldest first"
    );
    assert_eq!(cursor.pull(&folder, |_| Ok(None::<()>)).unwrap(), None);
  }
}
