//! Watching held claims for loss: one thread per process checks the claims of every open store
//! at that store's interval, and reports each loss once. A thread of its own, so a busy event
//! loop cannot delay a check; one for all stores, so a thousand stores do not cost a thousand
//! threads. A store leaves the watch when it is closed or dropped.

use std::io;
use std::sync::{Arc, Condvar, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::claims::LostClaim;

/// Told of each lost claim, on the watcher's thread.
#[derive(Clone)]
pub struct LossReport(pub Arc<dyn Fn(LostClaim) + Send + Sync>);

impl std::fmt::Debug for LossReport {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.write_str("LossReport")
  }
}

/// What the watcher asks of a store (a trait, so this module needs nothing else of one).
pub trait Watched: Send + Sync {
  /// The claims lost since the last call, each once.
  fn lost_claims(&self) -> Vec<LostClaim>;
  fn is_closed(&self) -> bool;
}

struct Entry {
  store: Weak<dyn Watched>,
  interval: Duration,
  due: Instant,
  report: LossReport,
}

#[derive(Default)]
struct Watchlist {
  stores: Vec<Entry>,
  /// Times at which every store is checked, whatever its interval (see [`check_now`]).
  soon: Vec<Instant>,
  started: bool,
}

static WATCHLIST: LazyLock<(Mutex<Watchlist>, Condvar)> = LazyLock::new(Default::default);

/// Has `store`'s claims checked every `interval`, each loss given to `report` once. Fails only
/// when the watcher thread cannot be started (the process is out of threads).
pub fn watch(store: Weak<dyn Watched>, interval: Duration, report: LossReport) -> io::Result<()> {
  let (list, wake) = &*WATCHLIST;
  let mut list = list.lock().unwrap();
  if !list.started {
    std::thread::Builder::new()
      .name("fs-job-store-claims".into())
      .spawn(check_forever)?;
    list.started = true;
  }
  list.stores.push(Entry {
    store,
    interval,
    due: Instant::now() + interval,
    report,
  });
  wake.notify_one();
  Ok(())
}

/// Checks every watched store's claims now rather than at their next turn (a job was just
/// cancelled), and again shortly after: another process's cancel is seen when its marker
/// appears, a moment before its record says so.
pub fn check_now() {
  let (list, wake) = &*WATCHLIST;
  let now = Instant::now();
  let mut list = list.lock().unwrap();
  for watched in list.stores.iter_mut() {
    watched.due = now;
  }
  list.soon.extend(RECHECKS.iter().map(|after| now + *after));
  wake.notify_one();
}

/// When claims are checked again after [`check_now`].
const RECHECKS: [Duration; 3] = [
  Duration::from_millis(20),
  Duration::from_millis(100),
  Duration::from_millis(400),
];

/// Drops closed stores from the watch now, rather than at the watcher's next turn.
pub fn forget_closed() {
  let (list, wake) = &*WATCHLIST;
  list.lock().unwrap().stores.retain(is_open);
  wake.notify_one();
}

fn is_open(watched: &Entry) -> bool {
  watched.store.upgrade().is_some_and(|s| !s.is_closed())
}

fn check_forever() {
  let (list, wake) = &*WATCHLIST;
  let mut list = list.lock().unwrap();
  loop {
    let now = Instant::now();
    list.stores.retain(is_open);
    let recheck = list.soon.iter().any(|at| *at <= now);
    list.soon.retain(|at| *at > now);
    let mut next = list
      .soon
      .iter()
      .copied()
      .fold(now + Duration::from_secs(1), Instant::min);
    for watched in list.stores.iter_mut() {
      if watched.due <= now || recheck {
        if let Some(store) = watched.store.upgrade() {
          for lost in store.lost_claims() {
            (watched.report.0)(lost);
          }
        }
        watched.due = now + watched.interval;
      }
      next = next.min(watched.due);
    }
    list = wake
      .wait_timeout(list, next.saturating_duration_since(Instant::now()))
      .unwrap()
      .0;
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::store::{Options, Store};
  use std::sync::mpsc;

  #[test]
  fn a_store_opened_with_a_loss_report_tells_of_a_removed_job_once_within_two_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let interval = Duration::from_millis(20);
    let store = Store::open(
      dir.path(),
      Options {
        lock_check_interval: interval,
        on_lost_claim: Some(LossReport(Arc::new(move |lost| {
          tx.lock().unwrap().send(lost).unwrap()
        }))),
        ..Options::default()
      },
    )
    .unwrap();
    let id = store.create("1").unwrap();
    let job = store.pull_job().unwrap().unwrap();
    std::fs::remove_dir_all(dir.path().join("jobs").join(&id)).unwrap();
    let started = Instant::now();
    let lost = rx.recv_timeout(Duration::from_secs(2)).unwrap();
    assert!(started.elapsed() < interval * 2 + Duration::from_millis(50));
    assert_eq!((lost.claim, lost.id.as_str()), (job.claim, id.as_str()));
    assert!(rx.recv_timeout(interval * 3).is_err(), "reported once");
    store.close();
  }
}
