//! The store's operations as calls for a caller that must not block (Node's main thread): each
//! [`Call`] carries its work, the job whose turn it takes, and whether it may run on the
//! caller's thread. Which call takes a turn is decided here, once per operation, so that a
//! binding only converts arguments and results.
//!
//! A turn: calls that change one job's record run one at a time per job in this process, in the
//! order they came (see `pool`), so the state lock's bounded wait is spent only on other
//! processes and never shows up as `ELOCKED` under load from this one.

use std::sync::Arc;
use std::time::Duration;

use crate::activity::Minute;
use crate::check::Problem;
use crate::error::Result;
use crate::failure::FailOutcome;
use crate::inspect::{JobInfo, Listing, PageQuery, Stats};
use crate::pool;
use crate::schedule::{Rule, Schedule};
use crate::store::{CreateOptions, Created, Delivery, PulledJob, PulledNotification, Store};
use crate::wake::Ended;

type Work<T> = Box<dyn FnOnce(&Store) -> Result<T> + Send>;
/// A form of the call that answers at once when it can, `None` when it would list or wait.
type Answer<T> = Box<dyn Fn(&Store) -> Option<Result<T>> + Send>;

/// Whether a call may run on the caller's thread when the store runs inline.
enum Inline<T> {
  Never,
  /// The whole call is quick: it lists no folder and waits for nothing.
  Whole,
  /// This form answers without listing or waiting when it can (`None` when it cannot).
  Try(Answer<T>),
}

/// One operation, ready to run.
pub struct Call<T> {
  /// The job whose turn the call takes, if any.
  job: Option<String>,
  work: Work<T>,
  inline: Inline<T>,
}

impl<T: Send + 'static> Call<T> {
  fn any(work: impl FnOnce(&Store) -> Result<T> + Send + 'static) -> Call<T> {
    Call {
      job: None,
      work: Box::new(work),
      inline: Inline::Never,
    }
  }

  fn on_job(id: &str, work: impl FnOnce(&Store) -> Result<T> + Send + 'static) -> Call<T> {
    Call {
      job: Some(id.to_owned()),
      ..Call::any(work)
    }
  }

  fn quick(self) -> Call<T> {
    Call {
      inline: Inline::Whole,
      ..self
    }
  }

  /// Runs the call on the pool, in its job's turn, and hands the outcome to `done` there.
  pub fn spawn(self, store: Arc<Store>, done: impl FnOnce(Result<T>) + Send + 'static) {
    let turn = self.job.as_deref().map(|id| turn_key(&store, id));
    let work = self.work;
    pool::run(turn, move || work(&store), done);
  }

  /// Runs the call here and now when the store runs inline, the call may, and its job's turn is
  /// free; otherwise gives it back, to be [`Call::spawn`]ed.
  pub fn run_now(self, store: &Arc<Store>) -> std::result::Result<Result<T>, Call<T>> {
    if !store.runs_inline() {
      return Err(self);
    }
    match &self.inline {
      Inline::Never => Err(self),
      Inline::Try(answer) => match answer(store) {
        Some(outcome) => Ok(outcome),
        None => Err(self),
      },
      Inline::Whole => {
        let turn = self.job.as_deref().map(|id| turn_key(store, id));
        let (job, inline, work, store) = (self.job, self.inline, self.work, store.clone());
        match pool::try_now(turn.as_deref(), move || work(&store)) {
          Ok(outcome) => Ok(outcome),
          Err(work) => Err(Call {
            job,
            work: Box::new(move |_: &Store| work()),
            inline,
          }),
        }
      }
    }
  }
}

/// The turn of job `id` of `store`'s folder: the same for every store of the process opened on
/// that folder.
fn turn_key(store: &Store, id: &str) -> String {
  format!("{}\0{id}", store.layout().root().display())
}

pub fn create(request: String, options: CreateOptions) -> Call<Created> {
  // A keyed create may wait for the key's lock: never on the caller's thread.
  let keyed = options.key.is_some();
  let call = Call::any(move |s| s.create_with(&request, &options));
  if keyed {
    call
  } else {
    call.quick()
  }
}

pub fn create_many(requests: Vec<String>, options: CreateOptions) -> Call<Vec<String>> {
  Call::any(move |s| s.create_many(&requests, &options))
}

pub fn queue(id: String, target: String) -> Call<Option<Delivery>> {
  Call::on_job(&id.clone(), move |s| s.queue(&id, &target))
}

pub fn unqueue_all(id: String, targets: String) -> Call<()> {
  Call::on_job(&id.clone(), move |s| s.unqueue_all(&id, &targets))
}

pub fn fulfill(id: String, value: Vec<u8>) -> Call<Option<String>> {
  Call::on_job(&id.clone(), move |s| s.fulfill(&id, &value)).quick()
}

pub fn fulfill_claimed(claim: u64, id: String, value: Vec<u8>) -> Call<Option<String>> {
  Call::on_job(&id.clone(), move |s| s.fulfill_claimed(claim, &id, &value)).quick()
}

pub fn update(id: String, old_version: Option<u64>, request: String) -> Call<()> {
  Call::on_job(&id.clone(), move |s| s.update(&id, old_version, &request))
}

pub fn fail_claimed(
  claim: u64,
  id: String,
  error: String,
  retry_in: Option<Duration>,
) -> Call<FailOutcome> {
  Call::on_job(&id.clone(), move |s| {
    s.fail_claimed(claim, &id, &error, retry_in)
  })
}

pub fn retry(id: String) -> Call<()> {
  Call::on_job(&id.clone(), move |s| s.retry(&id))
}

pub fn remove(id: String, force: bool) -> Call<()> {
  Call::on_job(&id.clone(), move |s| s.remove(&id, force))
}

pub fn cancel(id: String, reason: Option<String>) -> Call<()> {
  Call::on_job(&id.clone(), move |s| s.cancel(&id, reason.as_deref()))
}

pub fn progress(claim: u64, id: String, progress: String) -> Call<()> {
  Call::any(move |s| s.progress(claim, &id, &progress)).quick()
}

pub fn schedule(name: String, rule: Rule, request: String, options: CreateOptions) -> Call<()> {
  Call::any(move |s| s.schedule(&name, rule, &request, &options))
}

pub fn unschedule(name: String) -> Call<bool> {
  Call::any(move |s| s.unschedule(&name))
}

pub fn schedules() -> Call<Vec<Schedule>> {
  Call::any(Store::schedules)
}

pub fn fire_schedules() -> Call<Option<f64>> {
  Call::any(Store::fire_schedules)
}

pub fn done(claim: u64, id: String, delivered: String) -> Call<()> {
  Call::on_job(&id.clone(), move |s| s.done(claim, &id, &delivered)).quick()
}

pub fn pull_job() -> Call<Option<PulledJob>> {
  Call {
    inline: Inline::Try(Box::new(Store::pull_job_listed)),
    ..Call::any(Store::pull_job)
  }
}

pub fn pull_notification(skip: Vec<String>) -> Call<Option<PulledNotification>> {
  let listed = skip.clone();
  Call {
    inline: Inline::Try(Box::new(move |s| s.pull_notification_listed(&listed))),
    ..Call::any(move |s| s.pull_notification(&skip))
  }
}

pub fn pull_job_wait(wait: Duration, token: u64) -> Call<std::result::Result<PulledJob, Ended>> {
  Call::any(move |s| s.pull_job_wait(wait, token))
}

pub fn pull_notification_wait(
  wait: Duration,
  token: u64,
  skip: Vec<String>,
) -> Call<std::result::Result<PulledNotification, Ended>> {
  Call::any(move |s| s.pull_notification_wait(wait, token, &skip))
}

pub fn result(id: String) -> Call<Option<Vec<u8>>> {
  Call::any(move |s| s.result(&id))
}

pub fn result_wait(
  id: String,
  wait: Duration,
  token: u64,
) -> Call<std::result::Result<Vec<u8>, Ended>> {
  Call::any(move |s| s.result_wait(&id, wait, token))
}

pub fn delivery(id: String) -> Call<Option<Delivery>> {
  Call::any(move |s| s.delivery(&id))
}

pub fn stats() -> Call<Stats> {
  Call::any(Store::stats)
}

pub fn get(id: String) -> Call<JobInfo> {
  Call::any(move |s| s.get(&id))
}

pub fn value_head(id: String, max: usize) -> Call<Option<(Vec<u8>, u64)>> {
  Call::any(move |s| s.value_head(&id, max))
}

pub fn value(id: String) -> Call<Option<Vec<u8>>> {
  Call::any(move |s| s.value(&id))
}

pub fn list(which: Listing) -> Call<Vec<String>> {
  Call::any(move |s| s.list(which))
}

pub fn page(which: Listing, query: PageQuery) -> Call<Vec<String>> {
  Call::any(move |s| s.page(which, &query))
}

pub fn run_job_now(id: String) -> Call<()> {
  Call::on_job(&id.clone(), move |s| s.run_now(&id))
}

pub fn job_of_key(key: String) -> Call<Option<String>> {
  Call::any(move |s| s.job_of_key(&key))
}

pub fn activity() -> Call<Vec<Minute>> {
  Call::any(Store::activity)
}

pub fn prune(older_than_ms: f64, failed: bool) -> Call<u64> {
  Call::any(move |s| s.prune(older_than_ms, failed))
}

pub fn check(repair: bool) -> Call<Vec<Problem>> {
  Call::any(move |s| s.check(repair))
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::store::Options;

  #[test]
  fn calls_that_change_a_job_take_its_turn_and_reads_do_not() {
    let on_job = [
      queue("job-a".into(), "1".into()).job,
      unqueue_all("job-a".into(), "[]".into()).job,
      fulfill("job-a".into(), vec![]).job,
      fulfill_claimed(1, "job-a".into(), vec![]).job,
      update("job-a".into(), None, "1".into()).job,
      fail_claimed(1, "job-a".into(), "{}".into(), None).job,
      retry("job-a".into()).job,
      remove("job-a".into(), false).job,
      done(1, "job-a".into(), "[]".into()).job,
      cancel("job-a".into(), None).job,
    ];
    assert!(on_job.iter().all(|job| job.as_deref() == Some("job-a")));
    assert!(get("job-a".into()).job.is_none());
    assert!(create("1".into(), CreateOptions::default()).job.is_none());
  }

  #[test]
  fn a_quick_call_runs_now_on_an_inline_store_and_a_slow_one_is_given_back() {
    let dir = tempfile::tempdir().unwrap();
    let inline = Store::open(
      dir.path(),
      Options {
        inline: Some(true),
        ..Options::default()
      },
    )
    .unwrap();
    let id = match create("1".into(), CreateOptions::default()).run_now(&inline) {
      Ok(made) => made.unwrap(),
      Err(_) => panic!("create is quick"),
    };
    assert!(stats().run_now(&inline).is_err(), "a listing is not quick");
    let not_inline = Store::open(
      dir.path(),
      Options {
        inline: Some(false),
        ..Options::default()
      },
    )
    .unwrap();
    assert!(fulfill(id.id, b"v".to_vec()).run_now(&not_inline).is_err());
  }
}
