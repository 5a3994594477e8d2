//! The napi binding, and nothing else: each method converts its arguments into one core
//! [`Call`] (which says where and in whose turn it runs), and converts the result or error back
//! through [`ToJs`] and [`js_error`]. Threads, tables, turns and the claim watcher belong to the
//! core.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::JsDeferred;
use napi_derive::napi;

use crate::activity::Minute;
use crate::calls::{self, Call};
use crate::check::Problem;
use crate::claim_watch::LossReport;
use crate::claims::lost_claim_message;
use crate::durable::Durability;
use crate::error::{Code, Result as CoreResult, StoreError};
use crate::failure::FailOutcome;
use crate::inspect::{JobInfo, Listing, PageQuery, Stats};
use crate::layout::Access;
use crate::lock::Loss;
use crate::schedule::{Rule, Schedule};
use crate::store::{
  CreateOptions, Created, Delivery, Options, PulledJob, PulledNotification, Store,
};
use crate::wake::Ended;

/// Options of the native store; `index.js` validates them first.
#[napi(object, object_to_js = false)]
pub struct NativeOptions {
  pub dir: String,
  pub durable: bool,
  /// How often held claims are checked for loss, in milliseconds.
  pub lock_check_interval: u32,
  /// How long a state update waits for the job's state lock, in milliseconds.
  pub lock_wait: u32,
  /// Open for inspection only: nothing is created, swept, locked or written.
  pub read_only: bool,
  /// Holders dying this many times in a row set a job aside; `Infinity`: never.
  pub max_abandoned: f64,
  pub max_attempts: u32,
  /// The first retry's delay, in milliseconds.
  pub backoff_ms: f64,
  /// Run quick operations on the JavaScript thread: `true`, `false`, or absent to decide from
  /// the folder's filesystem.
  pub inline: Option<bool>,
  /// How often a waiting pull looks for work made on other machines, in milliseconds; absent to
  /// decide from the folder's filesystem.
  pub poll_ms: Option<f64>,
}

/// What `create` may say besides the request; `index.js` validates it first.
#[napi(object, object_to_js = false)]
pub struct NativeCreateOptions {
  /// Not to be pulled before this time (ms since the epoch).
  pub run_at: Option<f64>,
  pub max_attempts: Option<u32>,
  pub priority: Option<i32>,
  pub key: Option<String>,
  /// The schedule a job is made for, and its slot (ms since the epoch).
  pub schedule: Option<String>,
  pub slot: Option<f64>,
}

impl From<NativeCreateOptions> for CreateOptions {
  fn from(o: NativeCreateOptions) -> CreateOptions {
    CreateOptions {
      run_at_ms: o.run_at,
      max_attempts: o.max_attempts,
      priority: o.priority.unwrap_or(0),
      key: o.key,
      schedule: o.schedule.zip(o.slot),
    }
  }
}

#[napi(object)]
pub struct NativeCreated {
  pub id: String,
  pub created: bool,
}

#[napi(object)]
pub struct NativeJob {
  pub claim: i64,
  pub id: String,
  pub version: f64,
  /// JSON text; absent when the record has no request.
  pub request: Option<String>,
  /// This claim's number among the job's claims, from 1.
  pub attempts: f64,
  pub priority: i32,
  pub key: Option<String>,
  pub schedule: Option<String>,
  pub slot: Option<f64>,
}

#[napi(object)]
pub struct NativeNotification {
  pub claim: i64,
  pub id: String,
  pub value: Buffer,
  /// JSON array text.
  pub waiting: String,
}

#[napi(object)]
pub struct NativeStats {
  pub pending: f64,
  pub claimed: f64,
  pub fulfilled: f64,
  pub waiting: f64,
  pub failed: f64,
  pub delayed: f64,
  pub cancelled: f64,
  pub oldest_pending_age_ms: Option<f64>,
}

/// One page of a listing (see `Store::page`).
#[napi(object)]
pub struct NativeListPage {
  pub limit: u32,
  pub after: Option<String>,
  pub newest_first: Option<bool>,
  pub search: Option<String>,
}

/// The start of a value, and its whole size.
#[napi(object)]
pub struct NativeValueHead {
  pub bytes: Buffer,
  pub size: f64,
}

/// One minute of `activity()`.
#[napi(object)]
pub struct NativeMinute {
  pub at: f64,
  pub created: f64,
  pub fulfilled: f64,
  pub failed: f64,
}

#[napi(object)]
pub struct NativeJobInfo {
  pub id: String,
  /// Where the job is: one of the core's `Phase` names.
  pub state: String,
  pub version: f64,
  /// JSON text; absent when the record has no request.
  pub request: Option<String>,
  /// JSON array text.
  pub waiting: String,
  pub created_at: Option<f64>,
  pub fulfilled_at: Option<f64>,
  pub failed_at: Option<f64>,
  pub run_at: Option<f64>,
  pub attempts: f64,
  /// JSON array text of `{ at, error }`.
  pub failures: String,
  pub cancelled_at: Option<f64>,
  pub cancel_reason: Option<String>,
  /// JSON text of the latest progress reported.
  pub progress: Option<String>,
  pub priority: i32,
  pub key: Option<String>,
  pub schedule: Option<String>,
  pub slot: Option<f64>,
}

#[napi(object)]
pub struct NativeProblem {
  /// The problem's stable name (see the core's `ProblemKind`).
  pub kind: String,
  pub id: Option<String>,
  pub path: String,
  pub message: String,
  pub repaired: bool,
  pub age_ms: Option<f64>,
}

#[napi(object)]
pub struct NativeDelivery {
  pub value: Buffer,
  /// JSON array text.
  pub waiting: String,
}

/// Called on the JS thread when a claim is lost or its job cancelled: `(claim, code, message)`.
type LostCallback =
  ThreadsafeFunction<(i64, String, String), (), FnArgs<(i64, String, String)>, Status, false, true>;

#[napi]
pub struct NativeStore {
  core: Arc<Store>,
}

#[napi]
impl NativeStore {
  /// Opens the store; on failure throws the same error shape as every other call.
  #[napi(constructor)]
  pub fn new(
    env: &Env,
    options: NativeOptions,
    on_lost: Function<FnArgs<(i64, String, String)>, ()>,
  ) -> Result<Self> {
    // Weak: a store waiting to report a loss must never keep the process alive.
    let on_lost: LostCallback = on_lost
      .build_threadsafe_function::<(i64, String, String)>()
      .weak::<true>()
      .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))?;
    let report = LossReport(Arc::new(move |lost: crate::claims::LostClaim| {
      let message = lost_claim_message(&lost.id, &lost.loss);
      let code = match lost.loss {
        Loss::Cancelled => Code::Cancelled,
        _ => Code::Compromised,
      };
      on_lost.call(
        (lost.claim as i64, code.name().into_owned(), message),
        ThreadsafeFunctionCallMode::NonBlocking,
      );
    }));
    let opened = Store::open(
      &PathBuf::from(&options.dir),
      Options {
        durability: if options.durable {
          Durability::Durable
        } else {
          Durability::Relaxed
        },
        lock_wait: Duration::from_millis(options.lock_wait.into()),
        access: if options.read_only {
          Access::ReadOnly
        } else {
          Access::ReadWrite
        },
        max_abandoned: options
          .max_abandoned
          .is_finite()
          .then_some(options.max_abandoned.max(1.0) as u64),
        max_attempts: options.max_attempts.max(1),
        backoff: wait_duration(options.backoff_ms),
        inline: options.inline,
        lock_check_interval: Duration::from_millis(options.lock_check_interval.max(1).into()),
        on_lost_claim: Some(report),
        poll: options.poll_ms.map(wait_duration),
      },
    );
    match opened {
      Ok(core) => Ok(NativeStore { core }),
      Err(e) => {
        env.throw(js_error(env, e))?;
        Err(Error::from_status(Status::PendingException))
      }
    }
  }

  /// Whether quick calls (`createNow`, `pullJobNow`, …) run on this thread.
  #[napi(getter)]
  pub fn runs_inline(&self) -> bool {
    self.core.runs_inline()
  }

  /// Creates a job: gives `{ id, created }` when run on this thread, or a Promise of it.
  #[napi(ts_return_type = "NativeCreated | Promise<NativeCreated>")]
  pub fn create_now<'e>(
    &self,
    env: &'e Env,
    request: String,
    options: NativeCreateOptions,
  ) -> Result<Unknown<'e>> {
    self.now_or_later(env, calls::create(request, options.into()))
  }

  /// Creates one job per request (JSON texts), acknowledged together; resolves their ids. On an
  /// error part-way, `err.created` holds the ids made (the first requests).
  #[napi(ts_return_type = "Promise<string[]>")]
  pub fn create_many<'e>(
    &self,
    env: &'e Env,
    requests: Vec<String>,
    options: NativeCreateOptions,
  ) -> Result<Object<'e>> {
    self.dispatch(env, calls::create_many(requests, options.into()))
  }

  /// Pulls a job, on this thread when the store runs inline and no listing is due.
  #[napi(ts_return_type = "NativeJob | null | Promise<NativeJob | null>")]
  pub fn pull_job_now<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
    self.now_or_later(env, calls::pull_job())
  }

  /// Fulfils job `id` while `claim` still holds it; gives the waiting targets (JSON array
  /// text) or null, on this thread when the store runs inline and the job's turn is free.
  #[napi(ts_return_type = "string | null | Promise<string | null>")]
  pub fn fulfill_claimed_now<'e>(
    &self,
    env: &'e Env,
    claim: i64,
    id: String,
    value: Buffer,
  ) -> Result<Unknown<'e>> {
    self.now_or_later(
      env,
      calls::fulfill_claimed(claim as u64, id, value.to_vec()),
    )
  }

  /// Fulfils job `id` (unfenced, as 1.2.0's `fulfill`); like `fulfillClaimedNow` otherwise.
  #[napi(ts_return_type = "string | null | Promise<string | null>")]
  pub fn fulfill_now<'e>(&self, env: &'e Env, id: String, value: Buffer) -> Result<Unknown<'e>> {
    self.now_or_later(env, calls::fulfill(id, value.to_vec()))
  }

  /// Records a failure (`error`: JSON object text) of the job `claim` holds and ends the claim;
  /// resolves when it will be retried (ms since the epoch), or null when it is set aside.
  #[napi(ts_return_type = "Promise<number | null>")]
  pub fn fail_claimed<'e>(
    &self,
    env: &'e Env,
    claim: i64,
    id: String,
    error: String,
    retry_in_ms: Option<f64>,
  ) -> Result<Object<'e>> {
    let retry_in = retry_in_ms.map(wait_duration);
    self.dispatch(env, calls::fail_claimed(claim as u64, id, error, retry_in))
  }

  /// Cancels job `id`; `reason` is recorded with it.
  #[napi(ts_return_type = "Promise<void>")]
  pub fn cancel<'e>(&self, env: &'e Env, id: String, reason: Option<String>) -> Result<Object<'e>> {
    self.dispatch(env, calls::cancel(id, reason))
  }

  /// Records progress (JSON text) for the job `claim` holds.
  #[napi(ts_return_type = "void | Promise<void>")]
  pub fn progress_now<'e>(
    &self,
    env: &'e Env,
    claim: i64,
    id: String,
    progress: String,
  ) -> Result<Unknown<'e>> {
    self.now_or_later(env, calls::progress(claim as u64, id, progress))
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn retry<'e>(&self, env: &'e Env, id: String) -> Result<Object<'e>> {
    self.dispatch(env, calls::retry(id))
  }

  /// The value once fulfilled; rejects `EFAILED` once failed; null while still to be done.
  #[napi(ts_return_type = "Promise<Buffer | null>")]
  pub fn result<'e>(&self, env: &'e Env, id: String) -> Result<Object<'e>> {
    self.dispatch(env, calls::result(id))
  }

  /// Like `result`, waiting up to `waitMs` for the job to end; null when it did not.
  #[napi(ts_return_type = "Promise<Buffer | null>")]
  pub fn result_wait<'e>(
    &self,
    env: &'e Env,
    id: String,
    wait_ms: f64,
    token: i64,
  ) -> Result<Object<'e>> {
    self.dispatch(
      env,
      calls::result_wait(id, wait_duration(wait_ms), token as u64),
    )
  }

  /// Resolves the value and waiting targets when the job is already fulfilled.
  #[napi(ts_return_type = "Promise<NativeDelivery | null>")]
  pub fn queue<'e>(&self, env: &'e Env, id: String, target: String) -> Result<Object<'e>> {
    self.dispatch(env, calls::queue(id, target))
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn unqueue_all<'e>(&self, env: &'e Env, id: String, targets: String) -> Result<Object<'e>> {
    self.dispatch(env, calls::unqueue_all(id, targets))
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn update<'e>(
    &self,
    env: &'e Env,
    id: String,
    old_version: f64,
    request: String,
  ) -> Result<Object<'e>> {
    self.dispatch(env, calls::update(id, whole_number(old_version), request))
  }

  #[napi(ts_return_type = "Promise<NativeDelivery | null>")]
  pub fn delivery<'e>(&self, env: &'e Env, id: String) -> Result<Object<'e>> {
    self.dispatch(env, calls::delivery(id))
  }

  /// Pulls a notification, passing over the jobs named in `skip`.
  #[napi(ts_return_type = "Promise<NativeNotification | null>")]
  pub fn pull_notification<'e>(&self, env: &'e Env, skip: Vec<String>) -> Result<Object<'e>> {
    self.dispatch(env, calls::pull_notification(skip))
  }

  /// Unqueues the delivered targets (JSON array text) and releases the notification claim.
  #[napi(ts_return_type = "Promise<void>")]
  pub fn done<'e>(
    &self,
    env: &'e Env,
    claim: i64,
    id: String,
    delivered: String,
  ) -> Result<Object<'e>> {
    self.dispatch(env, calls::done(claim as u64, id, delivered))
  }

  /// `done`, on this thread when the store runs inline and the job's turn is free.
  #[napi(ts_return_type = "void | Promise<void>")]
  pub fn done_now<'e>(
    &self,
    env: &'e Env,
    claim: i64,
    id: String,
    delivered: String,
  ) -> Result<Unknown<'e>> {
    self.now_or_later(env, calls::done(claim as u64, id, delivered))
  }

  /// `pullNotification`, on this thread when no listing is needed and the store runs inline.
  #[napi(ts_return_type = "NativeNotification | null | Promise<NativeNotification | null>")]
  pub fn pull_notification_now<'e>(&self, env: &'e Env, skip: Vec<String>) -> Result<Unknown<'e>> {
    self.now_or_later(env, calls::pull_notification(skip))
  }

  /// Like `pullJob`, waiting up to `waitMs` for a job; `token` names the wait for `cancelWait`.
  #[napi(ts_return_type = "Promise<NativeJob | null>")]
  pub fn pull_job_wait<'e>(&self, env: &'e Env, wait_ms: f64, token: i64) -> Result<Object<'e>> {
    self.dispatch(
      env,
      calls::pull_job_wait(wait_duration(wait_ms), token as u64),
    )
  }

  #[napi(ts_return_type = "Promise<NativeNotification | null>")]
  pub fn pull_notification_wait<'e>(
    &self,
    env: &'e Env,
    wait_ms: f64,
    token: i64,
    skip: Vec<String>,
  ) -> Result<Object<'e>> {
    let wait = wait_duration(wait_ms);
    self.dispatch(env, calls::pull_notification_wait(wait, token as u64, skip))
  }

  /// Watches the store's folders for changes from now on (waiting pulls start it too), so that
  /// jobs of a higher priority and cancellations made by other processes are seen at once.
  #[napi]
  pub fn watch(&self) -> Result<()> {
    self
      .core
      .watch_folders()
      .map_err(|e| Error::new(Status::GenericFailure, e.message))
  }

  #[napi]
  pub fn cancel_wait(&self, token: i64) {
    self.core.cancel_wait(token as u64);
  }

  #[napi(ts_return_type = "Promise<NativeStats>")]
  pub fn stats<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
    self.dispatch(env, calls::stats())
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn run_now<'e>(&self, env: &'e Env, id: String) -> Result<Object<'e>> {
    self.dispatch(env, calls::run_job_now(id))
  }

  /// The id of the job a unique key names, or null.
  #[napi(ts_return_type = "Promise<string | null>")]
  pub fn job_of_key<'e>(&self, env: &'e Env, key: String) -> Result<Object<'e>> {
    self.dispatch(env, calls::job_of_key(key))
  }

  /// Jobs created, fulfilled and failed per minute over the last hour, oldest minute first.
  #[napi(ts_return_type = "Promise<NativeMinute[]>")]
  pub fn activity<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
    self.dispatch(env, calls::activity())
  }

  #[napi(ts_return_type = "Promise<NativeJobInfo>")]
  pub fn get<'e>(&self, env: &'e Env, id: String) -> Result<Object<'e>> {
    self.dispatch(env, calls::get(id))
  }

  /// The first `max` bytes of a fulfilled job's value and its size (the dashboard's preview).
  #[napi(ts_return_type = "Promise<NativeValueHead | null>")]
  pub fn value_head<'e>(&self, env: &'e Env, id: String, max: u32) -> Result<Object<'e>> {
    self.dispatch(env, calls::value_head(id, max as usize))
  }

  #[napi(ts_return_type = "Promise<Buffer | null>")]
  pub fn value<'e>(&self, env: &'e Env, id: String) -> Result<Object<'e>> {
    self.dispatch(env, calls::value(id))
  }

  /// Ids, oldest first; `which` is one of `listingNames()`. With `page`, one page of them.
  #[napi(ts_return_type = "Promise<string[]>")]
  pub fn list<'e>(
    &self,
    env: &'e Env,
    which: String,
    page: Option<NativeListPage>,
  ) -> Result<Object<'e>> {
    match (Listing::from_name(&which), page) {
      (Some(which), None) => self.dispatch(env, calls::list(which)),
      (Some(which), Some(page)) => {
        let query = PageQuery {
          limit: page.limit as usize,
          after: page.after,
          newest_first: page.newest_first.unwrap_or(false),
          search: page.search.filter(|s| !s.is_empty()),
        };
        self.dispatch(env, calls::page(which, query))
      }
      (None, _) => {
        let names = listing_names().join(", ");
        let e = StoreError::new(
          Code::InvalidArgValue,
          format!("no listing is named '{which}'; use one of {names}"),
        );
        env.throw(js_error(env, e))?;
        Err(Error::from_status(Status::PendingException))
      }
    }
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn remove<'e>(&self, env: &'e Env, id: String, force: bool) -> Result<Object<'e>> {
    self.dispatch(env, calls::remove(id, force))
  }

  /// Resolves how many jobs were removed; `failed` includes failed jobs.
  #[napi(ts_return_type = "Promise<number>")]
  pub fn prune<'e>(&self, env: &'e Env, older_than_ms: f64, failed: bool) -> Result<Object<'e>> {
    self.dispatch(env, calls::prune(older_than_ms, failed))
  }

  #[napi(ts_return_type = "Promise<NativeProblem[]>")]
  pub fn check<'e>(&self, env: &'e Env, repair: bool) -> Result<Object<'e>> {
    self.dispatch(env, calls::check(repair))
  }

  /// Gives a job's claim back uncounted (see the core's `give_back`).
  #[napi]
  pub fn give_back(&self, claim: i64) {
    self.core.give_back(claim as u64);
  }

  /// Saves a schedule: `cron` (with `tz`) or `everyMs`; `options` as for `create`.
  #[napi(ts_return_type = "Promise<void>")]
  pub fn schedule<'e>(
    &self,
    env: &'e Env,
    name: String,
    rule: NativeRule,
    request: String,
    options: NativeCreateOptions,
  ) -> Result<Object<'e>> {
    let rule = match (rule.cron, rule.every_ms) {
      (Some(expr), _) => Rule::Cron { expr, tz: rule.tz },
      (None, Some(ms)) => Rule::Every {
        ms: ms.max(0.0) as u64,
      },
      (None, None) => Rule::Every { ms: 0 },
    };
    self.dispatch(env, calls::schedule(name, rule, request, options.into()))
  }

  #[napi(ts_return_type = "Promise<boolean>")]
  pub fn unschedule<'e>(&self, env: &'e Env, name: String) -> Result<Object<'e>> {
    self.dispatch(env, calls::unschedule(name))
  }

  #[napi(ts_return_type = "Promise<NativeSchedule[]>")]
  pub fn schedules<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
    self.dispatch(env, calls::schedules())
  }

  /// Makes the due schedules' jobs; resolves when the next slot falls (ms since the epoch).
  #[napi(ts_return_type = "Promise<number | null>")]
  pub fn fire_schedules<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
    self.dispatch(env, calls::fire_schedules())
  }

  /// Releases a claim at once; dropping a lock is a single non-blocking system call.
  #[napi]
  pub fn release(&self, claim: i64) {
    self.core.release(claim as u64);
  }

  /// Ends waiting pulls, releases held claims and every descriptor of the store; later calls
  /// fail with `ECLOSED`.
  #[napi]
  pub fn close(&self) {
    self.core.close();
  }
}

/// When a schedule fires: `cron` (and `tz`), or `everyMs`.
#[napi(object, object_to_js = false)]
pub struct NativeRule {
  pub cron: Option<String>,
  pub tz: Option<String>,
  pub every_ms: Option<f64>,
}

#[napi(object)]
pub struct NativeSchedule {
  pub name: String,
  pub cron: Option<String>,
  pub tz: Option<String>,
  pub every_ms: Option<f64>,
  /// JSON text.
  pub request: String,
  pub priority: i32,
  pub max_attempts: Option<u32>,
  pub last_slot: f64,
  pub next: Option<f64>,
}

impl ToJs for Vec<Schedule> {
  type Js = Vec<NativeSchedule>;
  fn to_js(self) -> Self::Js {
    self
      .into_iter()
      .map(|s| {
        let (cron, tz, every_ms) = match s.rule {
          Rule::Cron { expr, tz } => (Some(expr), tz, None),
          Rule::Every { ms } => (None, None, Some(ms as f64)),
        };
        NativeSchedule {
          name: s.name,
          cron,
          tz,
          every_ms,
          request: s.request,
          priority: s.priority,
          max_attempts: s.max_attempts,
          last_slot: s.last_slot_ms,
          next: s.next_ms,
        }
      })
      .collect()
  }
}

/// The names `list` takes, from the core's `Listing`.
#[napi]
pub fn listing_names() -> Vec<String> {
  Listing::ALL.iter().map(|l| l.as_str().to_owned()).collect()
}

impl NativeStore {
  /// Runs `call` on the core's pool, settling the returned promise with its converted result,
  /// or with a JS error carrying the store error's `code`.
  fn dispatch<'e, T: ToJs>(&self, env: &'e Env, call: Call<T>) -> Result<Object<'e>> {
    let (deferred, promise): (JsDeferred<T::Js, Settle<T::Js>>, _) = env.create_deferred()?;
    call.spawn(self.core.clone(), move |outcome| {
      deferred.resolve(Box::new(move |env| match outcome {
        Ok(value) => Ok(value.to_js()),
        Err(e) => Err(Error::from(js_error(&env, e).to_unknown())),
      }))
    });
    Ok(promise)
  }

  /// Runs `call` on this thread when the core allows it, giving its value (or throwing its
  /// error); otherwise dispatches it and gives a Promise.
  fn now_or_later<'e, T: ToJs>(&self, env: &'e Env, call: Call<T>) -> Result<Unknown<'e>> {
    match call.run_now(&self.core) {
      Ok(outcome) => here(env, outcome),
      Err(call) => self.dispatch(env, call).map(|p| p.to_unknown()),
    }
  }
}

type Settle<V> = Box<dyn FnOnce(Env) -> Result<V>>;

/// An outcome computed on this thread, as the value to return or the error to throw.
fn here<'e, T: ToJs>(env: &'e Env, outcome: CoreResult<T>) -> Result<Unknown<'e>> {
  match outcome {
    Ok(value) => {
      let raw = unsafe { ToNapiValue::to_napi_value(env.raw(), value.to_js())? };
      Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), raw) })
    }
    Err(e) => {
      env.throw(js_error(env, e))?;
      Err(Error::from_status(Status::PendingException))
    }
  }
}

/// A wait given in JavaScript milliseconds; negative means none, `Infinity` no end.
fn wait_duration(ms: f64) -> Duration {
  Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX)
}

/// A JavaScript number that is a whole, safe, non-negative integer; `None` otherwise (which no
/// version equals, as 1.2.0's `!==` comparison had it).
fn whole_number(n: f64) -> Option<u64> {
  (n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0).then_some(n as u64)
}

/// A JS `Error` with `code`, `message`, and `path`, `errno` and `syscall` where known.
fn js_error<'e>(env: &'e Env, e: StoreError) -> Object<'e> {
  let code = e.code.name().to_string();
  let build = || -> Result<Object<'e>> {
    let error = JsError::from(Error::new(code.clone(), e.message.clone()));
    let mut object = error.into_unknown(*env).coerce_to_object()?;
    if let Some(path) = &e.path {
      object.set_named_property("path", path.to_string_lossy().as_ref())?;
    }
    if let Some(errno) = e.errno {
      object.set_named_property("errno", -errno)?;
    }
    if let Some(syscall) = e.syscall {
      object.set_named_property("syscall", syscall)?;
    }
    if let Some(created) = &e.created {
      object.set_named_property("created", created.clone())?;
    }
    Ok(object)
  };
  build().unwrap_or_else(|_| {
    let fallback = JsError::from(Error::new(code, e.message));
    fallback
      .into_unknown(*env)
      .coerce_to_object()
      .expect("an Error is an object")
  })
}

/// A core result as the JavaScript value the typings promise.
trait ToJs: Send + 'static {
  type Js: ToNapiValue + 'static;
  fn to_js(self) -> Self::Js;
}

macro_rules! as_is {
  ($($t:ty),*) => {$(
    impl ToJs for $t {
      type Js = $t;
      fn to_js(self) -> $t {
        self
      }
    }
  )*};
}
as_is!((), bool, f64, String, Vec<String>);

impl ToJs for u64 {
  type Js = f64;
  fn to_js(self) -> f64 {
    self as f64
  }
}

impl ToJs for Vec<u8> {
  type Js = Buffer;
  fn to_js(self) -> Buffer {
    self.into()
  }
}

impl<T: ToJs> ToJs for Option<T> {
  type Js = Option<T::Js>;
  fn to_js(self) -> Self::Js {
    self.map(T::to_js)
  }
}

impl ToJs for (Vec<u8>, u64) {
  type Js = NativeValueHead;
  fn to_js(self) -> NativeValueHead {
    NativeValueHead {
      bytes: self.0.into(),
      size: self.1 as f64,
    }
  }
}

impl ToJs for Vec<Minute> {
  type Js = Vec<NativeMinute>;
  fn to_js(self) -> Self::Js {
    self
      .into_iter()
      .map(|m| NativeMinute {
        at: m.at_ms as f64,
        created: m.created as f64,
        fulfilled: m.fulfilled as f64,
        failed: m.failed as f64,
      })
      .collect()
  }
}

impl ToJs for Vec<Problem> {
  type Js = Vec<NativeProblem>;
  fn to_js(self) -> Self::Js {
    self.into_iter().map(Problem::to_js).collect()
  }
}

/// A wait that ended without work gives nothing, whatever ended it.
impl<T: ToJs> ToJs for std::result::Result<T, Ended> {
  type Js = Option<T::Js>;
  fn to_js(self) -> Self::Js {
    self.ok().map(T::to_js)
  }
}

impl ToJs for PulledJob {
  type Js = NativeJob;
  fn to_js(self) -> NativeJob {
    NativeJob {
      claim: self.claim as i64,
      id: self.id,
      version: self.version as f64,
      request: self.request,
      attempts: self.attempts as f64,
      priority: self.priority,
      key: self.key,
      schedule: self.schedule.as_ref().map(|(name, _)| name.clone()),
      slot: self.schedule.map(|(_, slot)| slot),
    }
  }
}

impl ToJs for Created {
  type Js = NativeCreated;
  fn to_js(self) -> NativeCreated {
    NativeCreated {
      id: self.id,
      created: self.created,
    }
  }
}

impl ToJs for FailOutcome {
  type Js = Option<f64>;
  fn to_js(self) -> Option<f64> {
    match self {
      FailOutcome::Retry { at_ms } => Some(at_ms),
      FailOutcome::Failed => None,
    }
  }
}

impl ToJs for PulledNotification {
  type Js = NativeNotification;
  fn to_js(self) -> NativeNotification {
    NativeNotification {
      claim: self.claim as i64,
      id: self.id,
      value: self.value.into(),
      waiting: self.waiting,
    }
  }
}

impl ToJs for Delivery {
  type Js = NativeDelivery;
  fn to_js(self) -> NativeDelivery {
    NativeDelivery {
      value: self.value.into(),
      waiting: self.waiting,
    }
  }
}

impl ToJs for Stats {
  type Js = NativeStats;
  fn to_js(self) -> NativeStats {
    NativeStats {
      pending: self.pending as f64,
      claimed: self.claimed as f64,
      fulfilled: self.fulfilled as f64,
      waiting: self.waiting as f64,
      failed: self.failed as f64,
      delayed: self.delayed as f64,
      cancelled: self.cancelled as f64,
      oldest_pending_age_ms: self.oldest_pending_age_ms,
    }
  }
}

impl ToJs for JobInfo {
  type Js = NativeJobInfo;
  fn to_js(self) -> NativeJobInfo {
    NativeJobInfo {
      id: self.id,
      state: self.phase.as_str().to_owned(),
      version: self.version as f64,
      request: self.request,
      waiting: self.waiting,
      created_at: self.created_at_ms,
      fulfilled_at: self.fulfilled_at_ms,
      failed_at: self.failed_at_ms,
      run_at: self.run_at_ms,
      attempts: self.attempts as f64,
      failures: self.failures,
      cancelled_at: self.cancelled_at_ms,
      cancel_reason: self.cancel_reason,
      progress: self.progress,
      priority: self.priority,
      key: self.key,
      schedule: self.schedule.as_ref().map(|(name, _)| name.clone()),
      slot: self.schedule.map(|(_, slot)| slot),
    }
  }
}

impl ToJs for Problem {
  type Js = NativeProblem;
  fn to_js(self) -> NativeProblem {
    NativeProblem {
      kind: self.kind.as_str().to_owned(),
      id: self.id,
      path: self.path.to_string_lossy().into_owned(),
      message: self.message,
      repaired: self.repaired,
      age_ms: self.age_ms,
    }
  }
}
