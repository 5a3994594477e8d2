//! Waking waiting pulls: a generation counter bumped by filesystem events on the marker folders
//! and `jobs/` (inotify on Linux, through the `notify` crate) and by this process's own changes.
//! Waiters also re-check on a backstop interval, because events do not cross machines on network
//! filesystems, and a claim released by another process makes no event at all.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

/// How long a waiter sleeps without any event before it looks again anyway.
pub const BACKSTOP: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct Wake {
  state: Mutex<WakeState>,
  changed: Condvar,
  watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

#[derive(Default)]
struct WakeState {
  generation: u64,
  /// Threads asleep in `wait_for` now.
  waiters: usize,
  closed: bool,
  /// Waits asked to stop, by the caller's token.
  cancelled: HashSet<u64>,
}

impl std::fmt::Debug for Wake {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("Wake").finish_non_exhaustive()
  }
}

/// Why a wait ended without work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
  TimedOut,
  Cancelled,
  Closed,
}

/// What a polled wait looks at between attempts (see [`Wake::wait_polled`]).
pub struct Poll<'a> {
  pub every: Duration,
  /// Whether something changed since the last look.
  pub changed: Box<dyn FnMut() -> bool + 'a>,
}

impl Wake {
  /// Something may have become available: wake every waiter (a system call only if there is one).
  pub fn bump(&self) {
    let mut st = self.state.lock().unwrap();
    st.generation += 1;
    if st.waiters > 0 {
      self.changed.notify_all();
    }
  }

  /// Starts watching `dirs` once; later calls do nothing. Failing to watch (no inotify
  /// instances left, an unsupported filesystem) is not an error: the backstop still polls.
  /// `on_path` hears the path of every name made in them.
  pub fn watch(self: &Arc<Self>, dirs: &[&Path], on_path: Box<dyn Fn(&Path) + Send>) {
    let mut watcher = self.watcher.lock().unwrap();
    if watcher.is_some() {
      return;
    }
    let weak: Weak<Wake> = Arc::downgrade(self);
    let made = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
      // Reading a folder is an event too (open, close): waking on those, a waiter's own listing
      // would wake it again at once. Only changes to the names matter.
      if matches!(&event, Ok(e) if matches!(e.kind, EventKind::Access(_))) {
        return;
      }
      // A name that went away brings no work (a job done, a marker moved on): among them every
      // marker this process removes itself, which would otherwise wake its own waiters.
      if matches!(&event, Ok(e) if matches!(e.kind, EventKind::Remove(_))) {
        return;
      }
      // Names that appeared (made, or renamed in): what `on_path` is for.
      if let Ok(event) = &event {
        if matches!(event.kind, EventKind::Create(_)) {
          for path in &event.paths {
            on_path(path);
          }
        }
      }
      if let Some(wake) = weak.upgrade() {
        wake.bump();
      }
    });
    if let Ok(mut w) = made {
      if dirs
        .iter()
        .all(|dir| w.watch(dir, RecursiveMode::NonRecursive).is_ok())
      {
        *watcher = Some(w);
      }
    }
  }

  /// Runs `attempt` until it finds something, `wait` passes, the store closes, or `token` is
  /// cancelled; between attempts sleeps until woken, the backstop interval passes, or as long as
  /// `next` says (when something is known to become available then).
  pub fn wait_for<T, E>(
    &self,
    wait: Duration,
    token: u64,
    attempt: impl FnMut() -> Result<Option<T>, E>,
    next: impl Fn() -> Option<Duration>,
  ) -> Result<Result<T, Ended>, E> {
    self.wait_polled(wait, token, attempt, next, None)
  }

  /// Like [`Wake::wait_for`], and with `poll` also looks every `poll.every` whether something
  /// changed (one cheap call, such as a folder's modification time), making a full attempt
  /// only when it did, or when woken, or once per [`BACKSTOP`]: on a network filesystem, where
  /// no event crosses machines, work made elsewhere is seen within `poll.every` without listing
  /// folders that often.
  pub fn wait_polled<T, E>(
    &self,
    wait: Duration,
    token: u64,
    mut attempt: impl FnMut() -> Result<Option<T>, E>,
    next: impl Fn() -> Option<Duration>,
    mut poll: Option<Poll<'_>>,
  ) -> Result<Result<T, Ended>, E> {
    let interval = poll.as_ref().map_or(BACKSTOP, |p| p.every.min(BACKSTOP));
    let mut last_attempt = Instant::now();
    // Whether the last nap ended by a bump (or close, or cancel), or at a time `next` named.
    let mut woken = true;
    let mut slept_for_next = false;
    // A wait too long to add to now is a wait without end.
    let deadline = Instant::now()
      .checked_add(wait)
      .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86400));
    let outcome = loop {
      let seen = {
        let st = self.state.lock().unwrap();
        if st.closed {
          break Ok(Err(Ended::Closed));
        }
        if st.cancelled.contains(&token) {
          break Ok(Err(Ended::Cancelled));
        }
        st.generation
      };
      let due = slept_for_next || last_attempt.elapsed() >= BACKSTOP;
      if woken || due || poll.as_mut().is_some_and(|p| (p.changed)()) {
        last_attempt = Instant::now();
        match attempt() {
          Ok(Some(found)) => break Ok(Ok(found)),
          Ok(None) => {}
          Err(e) => break Err(e),
        }
      }
      let now = Instant::now();
      if now >= deadline {
        break Ok(Err(Ended::TimedOut));
      }
      let until_next = next().unwrap_or(BACKSTOP);
      slept_for_next = until_next < interval && until_next < deadline - now;
      let nap = (deadline - now).min(interval).min(until_next);
      let mut st = self.state.lock().unwrap();
      st.waiters += 1;
      let (mut st, _) = self
        .changed
        .wait_timeout_while(st, nap, |st| {
          st.generation == seen && !st.closed && !st.cancelled.contains(&token)
        })
        .unwrap();
      st.waiters -= 1;
      woken = st.generation != seen || st.closed || st.cancelled.contains(&token);
    };
    self.state.lock().unwrap().cancelled.remove(&token);
    outcome
  }

  /// Ends the wait with `token`, or makes it end at once if it has not started yet (a wait is
  /// handed to a thread, so a cancel can arrive first). Tokens are never reused.
  pub fn cancel(&self, token: u64) {
    self.state.lock().unwrap().cancelled.insert(token);
    self.changed.notify_all();
  }

  /// Ends every wait, now and later, and stops watching.
  pub fn close(&self) {
    self.state.lock().unwrap().closed = true;
    self.changed.notify_all();
    self.watcher.lock().unwrap().take();
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_polled_wait_attempts_when_the_look_sees_a_change_and_not_between() {
    let wake = Arc::new(Wake::default());
    let looks = std::cell::Cell::new(0);
    let attempts = std::cell::Cell::new(0);
    let started = Instant::now();
    let found = wake.wait_polled(
      Duration::from_secs(5),
      1,
      || {
        attempts.set(attempts.get() + 1);
        Ok::<_, ()>((attempts.get() == 2).then_some("work"))
      },
      || None,
      Some(Poll {
        every: Duration::from_millis(10),
        changed: Box::new(|| {
          looks.set(looks.get() + 1);
          looks.get() == 5
        }),
      }),
    );
    assert_eq!(found, Ok(Ok("work")));
    assert_eq!(
      attempts.get(),
      2,
      "one attempt at the start, one when the look saw a change"
    );
    assert_eq!(looks.get(), 5);
    assert!(started.elapsed() < BACKSTOP, "{:?}", started.elapsed());
  }

  #[test]
  fn a_bump_wakes_a_waiter_before_the_backstop() {
    let wake = Arc::new(Wake::default());
    let hits = Arc::new(Mutex::new(0));
    let waiter = {
      let (wake, hits) = (wake.clone(), hits.clone());
      std::thread::spawn(move || {
        let started = Instant::now();
        let found = wake.wait_for(
          Duration::from_secs(5),
          1,
          || -> Result<Option<()>, ()> {
            let mut n = hits.lock().unwrap();
            *n += 1;
            Ok((*n == 2).then_some(()))
          },
          || None,
        );
        (found, started.elapsed())
      })
    };
    std::thread::sleep(Duration::from_millis(50));
    wake.bump();
    let (found, took) = waiter.join().unwrap();
    assert_eq!(found, Ok(Ok(())));
    assert!(took < BACKSTOP, "woken by the bump after {took:?}");
  }

  #[test]
  fn cancel_and_close_end_waits() {
    let wake = Arc::new(Wake::default());
    let never = || -> Result<Option<()>, ()> { Ok(None) };
    let w = wake.clone();
    let waiter = std::thread::spawn(move || w.wait_for(Duration::from_secs(30), 7, never, || None));
    std::thread::sleep(Duration::from_millis(30));
    wake.cancel(7);
    assert_eq!(waiter.join().unwrap(), Ok(Err(Ended::Cancelled)));
    wake.close();
    assert_eq!(
      wake.wait_for(Duration::from_secs(30), 8, never, || None),
      Ok(Err(Ended::Closed))
    );
  }

  #[test]
  fn a_wait_sleeps_no_longer_than_next_says() {
    let wake = Wake::default();
    let started = Instant::now();
    let mut tries = 0;
    let out = wake.wait_for(
      Duration::from_secs(5),
      1,
      || -> Result<Option<()>, ()> {
        tries += 1;
        Ok((tries == 2).then_some(()))
      },
      || Some(Duration::from_millis(30)),
    );
    assert_eq!(out, Ok(Ok(())));
    assert!(started.elapsed() < BACKSTOP, "{:?}", started.elapsed());
  }

  #[test]
  fn a_wait_times_out() {
    let wake = Wake::default();
    let started = Instant::now();
    let out = wake.wait_for(
      Duration::from_millis(60),
      1,
      || -> Result<Option<()>, ()> { Ok(None) },
      || None,
    );
    assert_eq!(out, Ok(Err(Ended::TimedOut)));
    assert!(started.elapsed() >= Duration::from_millis(60));
  }
}
