//! Where and in what order calls run (see `calls`): off the caller's thread, on a pool of threads that
//! may block (fsyncs, listings, waits, network filesystems), and in turn per job.
//!
//! Turns: work of one process on the same job (its `state.json` updates) runs one at a time, in
//! the order it arrived, instead of spinning on the job's file lock; the file lock's bounded wait
//! is then only ever spent on other processes. Work waiting for its turn holds no thread.

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};

use tokio::runtime::Runtime;

/// The pool: tokio's blocking threads, made as needed and ended when idle.
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
  tokio::runtime::Builder::new_multi_thread()
    .worker_threads(1)
    .thread_name("fs-job-store-io")
    .build()
    .expect("the store's thread pool starts")
});

type Task = Box<dyn FnOnce() + Send>;

/// Per key, whether its work is running, and what waits for its turn.
static LINES: LazyLock<Mutex<HashMap<String, VecDeque<Task>>>> = LazyLock::new(Mutex::default);

/// Runs `work` on the pool and hands its result to `done` there. With a `turn` key (naming a
/// job, e.g. its store folder and id), `work` runs only after the earlier work of that key.
pub fn run<T: 'static>(
  turn: Option<String>,
  work: impl FnOnce() -> T + Send + 'static,
  done: impl FnOnce(T) + Send + 'static,
) {
  let task: Task = Box::new(move || done(work()));
  let Some(key) = turn else {
    RUNTIME.spawn_blocking(task);
    return;
  };
  {
    let mut lines = LINES.lock().unwrap();
    if let Some(waiting) = lines.get_mut(&key) {
      waiting.push_back(task);
      return;
    }
    lines.insert(key.clone(), VecDeque::new());
  }
  RUNTIME.spawn_blocking(move || run_line(&key, task));
}

/// Runs `work` here and now when its turn is free (or it needs none), and gives `Err(work)`
/// back when earlier work of that key is still running or waiting: then it must go to [`run`].
pub fn try_now<T, W: FnOnce() -> T>(turn: Option<&str>, work: W) -> std::result::Result<T, W> {
  let Some(key) = turn else {
    return Ok(work());
  };
  {
    let mut lines = LINES.lock().unwrap();
    if lines.contains_key(key) {
      return Err(work);
    }
    lines.insert(key.to_owned(), VecDeque::new());
  }
  let out = work();
  // Work that arrived meanwhile went into the line: hand it to the pool, in order.
  let next = {
    let mut lines = LINES.lock().unwrap();
    match lines.get_mut(key).and_then(VecDeque::pop_front) {
      Some(task) => Some(task),
      None => {
        lines.remove(key);
        None
      }
    }
  };
  if let Some(task) = next {
    let key = key.to_owned();
    RUNTIME.spawn_blocking(move || run_line(&key, task));
  }
  Ok(out)
}

/// Runs `first`, then whatever queued behind it for `key`, then forgets the key.
fn run_line(key: &str, first: Task) {
  let mut next = Some(first);
  while let Some(task) = next.take() {
    task();
    let mut lines = LINES.lock().unwrap();
    match lines.get_mut(key).and_then(VecDeque::pop_front) {
      Some(task) => next = Some(task),
      None => {
        lines.remove(key);
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn work_runs_now_only_when_its_turn_is_free() {
    assert_eq!(try_now(Some("store\0job-now"), || 1).ok(), Some(1));
    let (release, blocked) = mpsc::channel::<()>();
    let (started, running) = mpsc::channel::<()>();
    run(
      Some("store\0job-now".into()),
      move || {
        started.send(()).unwrap();
        blocked.recv().unwrap()
      },
      |()| {},
    );
    running.recv().unwrap();
    assert!(
      try_now(Some("store\0job-now"), || 2).is_err(),
      "busy: goes to the pool"
    );
    assert_eq!(try_now(Some("store\0job-other"), || 3).ok(), Some(3));
    release.send(()).unwrap();
  }
  use std::sync::mpsc;
  use std::time::Duration;

  #[test]
  fn work_of_one_key_runs_alone_in_order_and_other_work_does_not_wait() {
    let (tx, rx) = mpsc::channel();
    let (release, blocked) = mpsc::channel::<()>();
    let first = tx.clone();
    run(
      Some("store\0job-9".into()),
      move || blocked.recv_timeout(Duration::from_secs(5)).map(|()| 0),
      move |n| first.send(n.unwrap()).unwrap(),
    );
    for n in 1..5 {
      let tx = tx.clone();
      run(
        Some("store\0job-9".into()),
        move || n,
        move |n| tx.send(n).unwrap(),
      );
    }
    let other = tx.clone();
    run(
      Some("store\0job-1".into()),
      || -1,
      move |n| other.send(n).unwrap(),
    );
    assert_eq!(
      rx.recv().unwrap(),
      -1,
      "another job's work runs while job-9's is held up"
    );
    release.send(()).unwrap();
    let order: Vec<i32> = (0..5).map(|_| rx.recv().unwrap()).collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
    std::thread::sleep(Duration::from_millis(20));
    assert!(
      LINES.lock().unwrap().is_empty(),
      "finished keys are forgotten"
    );
  }
}
