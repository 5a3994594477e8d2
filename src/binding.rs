//! The napi binding, and nothing else: each method converts its arguments, hands one core call
//! to `schedule` (off the JavaScript thread), and converts the result or error back through
//! [`ToJs`] and [`js_error`]. Threads, tables and turns belong to the core.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::JsDeferred;
use napi_derive::napi;

use crate::check::{Problem, ProblemKind as CoreProblemKind};
use crate::claim_watch;
use crate::claims::lost_claim_message;
use crate::durable::Durability;
use crate::error::{Result as CoreResult, StoreError};
use crate::failure::FailOutcome;
use crate::inspect::{JobInfo, Listing, Phase, Stats};
use crate::layout::Access;
use crate::schedule;
use crate::store::{CreateOptions, Delivery, Options, PulledJob, PulledNotification, Store};
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
  pub oldest_pending_age_ms: Option<f64>,
}

/// Where a job is.
#[napi(string_enum = "lowercase")]
pub enum JobPhase {
  Pending,
  Delayed,
  Fulfilled,
  Failed,
}

#[napi(object)]
pub struct NativeJobInfo {
  pub id: String,
  pub state: JobPhase,
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
}

/// Which ids `list` gives.
#[napi(string_enum = "lowercase")]
pub enum ListingKind {
  All,
  Pending,
  Fulfilled,
  Waiting,
  Failed,
  Delayed,
}

/// The kinds of damage `check` reports.
#[napi(string_enum = "kebab-case")]
pub enum ProblemKind {
  DanglingMarker,
  LinkedJob,
  StrayFile,
  CorruptState,
  UnreadableJob,
  MissingValue,
  StalePendingMarker,
  MissingPendingMarker,
  MissingWaitingMarker,
  StaleWaitingMarker,
  LeftoverTemporary,
  ForeignTemporary,
}

#[napi(object)]
pub struct NativeProblem {
  pub kind: ProblemKind,
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

/// Called on the JS thread when a claim is lost: `(claim, message)`.
type LostCallback =
  ThreadsafeFunction<(i64, String), (), FnArgs<(i64, String)>, Status, false, true>;

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
    on_lost: Function<FnArgs<(i64, String)>, ()>,
  ) -> Result<Self> {
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
      },
    );
    let core = match opened {
      Ok(core) => Arc::new(core),
      Err(e) => {
        env.throw(js_error(env, e))?;
        return Err(Error::from_status(Status::PendingException));
      }
    };
    // Weak: a store waiting to report a loss must never keep the process alive.
    let on_lost: LostCallback = on_lost
      .build_threadsafe_function::<(i64, String)>()
      .weak::<true>()
      .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))?;
    let report = Box::new(move |lost: crate::claims::LostClaim| {
      let message = lost_claim_message(&lost.id, &lost.loss);
      on_lost.call(
        (lost.claim as i64, message),
        ThreadsafeFunctionCallMode::NonBlocking,
      );
    });
    let interval = Duration::from_millis(options.lock_check_interval.max(1).into());
    if let Err(e) = claim_watch::watch(Arc::downgrade(&core), interval, report) {
      return Err(Error::new(
        Status::GenericFailure,
        format!("cannot start the thread that watches claims ({e}); the process is out of threads"),
      ));
    }
    Ok(NativeStore { core })
  }

  /// `runAt` (ms since the epoch) delays the job; `maxAttempts` overrides the store's.
  #[napi(ts_return_type = "Promise<string>")]
  pub fn create<'e>(
    &self,
    env: &'e Env,
    request: String,
    run_at: Option<f64>,
    max_attempts: Option<u32>,
  ) -> Result<Object<'e>> {
    let options = CreateOptions {
      run_at_ms: run_at,
      max_attempts,
    };
    self.dispatch(env, None, move |core| core.create_with(&request, &options))
  }

  /// Whether quick calls (`createNow`, `pullJobNow`, …) run on this thread.
  #[napi(getter)]
  pub fn runs_inline(&self) -> bool {
    self.core.runs_inline()
  }

  /// Like `create`, run on this thread when the store runs inline: gives the id, or a Promise.
  #[napi(ts_return_type = "string | Promise<string>")]
  pub fn create_now<'e>(
    &self,
    env: &'e Env,
    request: String,
    run_at: Option<f64>,
    max_attempts: Option<u32>,
  ) -> Result<Unknown<'e>> {
    let options = CreateOptions {
      run_at_ms: run_at,
      max_attempts,
    };
    self.now_or_later(env, None, move |core| core.create_with(&request, &options))
  }

  /// Like `pullJob`, on this thread when the store runs inline and no listing is due.
  #[napi(ts_return_type = "NativeJob | null | Promise<NativeJob | null>")]
  pub fn pull_job_now<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
    if self.core.runs_inline() {
      if let Some(outcome) = self.core.pull_job_listed() {
        return here(env, outcome);
      }
    }
    self
      .dispatch(env, None, |core| core.pull_job())
      .map(|p| p.to_unknown())
  }

  /// Like `fulfillClaimed`, on this thread when the store runs inline and the job's turn is free.
  #[napi(ts_return_type = "string | null | Promise<string | null>")]
  pub fn fulfill_claimed_now<'e>(
    &self,
    env: &'e Env,
    claim: i64,
    id: String,
    value: Buffer,
  ) -> Result<Unknown<'e>> {
    let value = value.to_vec();
    let turn = self.turn(&id);
    self.now_or_later(env, turn, move |core| {
      core.fulfill_claimed(claim as u64, &id, &value)
    })
  }

  /// Like `fulfill`, on this thread when the store runs inline and the job's turn is free.
  #[napi(ts_return_type = "string | null | Promise<string | null>")]
  pub fn fulfill_now<'e>(&self, env: &'e Env, id: String, value: Buffer) -> Result<Unknown<'e>> {
    let value = value.to_vec();
    let turn = self.turn(&id);
    self.now_or_later(env, turn, move |core| core.fulfill(&id, &value))
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
    self.dispatch(env, self.turn(&id), move |core| {
      core.fail_claimed(claim as u64, &id, &error, retry_in)
    })
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn retry<'e>(&self, env: &'e Env, id: String) -> Result<Object<'e>> {
    self.dispatch(env, self.turn(&id), move |core| core.retry(&id))
  }

  /// The value once fulfilled; rejects `EFAILED` once failed; null while still to be done.
  #[napi(ts_return_type = "Promise<Buffer | null>")]
  pub fn result<'e>(&self, env: &'e Env, id: String) -> Result<Object<'e>> {
    self.dispatch(env, None, move |core| core.result(&id))
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
    let wait = wait_duration(wait_ms);
    self.dispatch(env, None, move |core| {
      core.result_wait(&id, wait, token as u64)
    })
  }

  /// Resolves the value and waiting targets when the job is already fulfilled.
  #[napi(ts_return_type = "Promise<NativeDelivery | null>")]
  pub fn queue<'e>(&self, env: &'e Env, id: String, target: String) -> Result<Object<'e>> {
    self.dispatch(env, self.turn(&id), move |core| core.queue(&id, &target))
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn unqueue_all<'e>(&self, env: &'e Env, id: String, targets: String) -> Result<Object<'e>> {
    self.dispatch(env, self.turn(&id), move |core| {
      core.unqueue_all(&id, &targets)
    })
  }

  /// Resolves the targets waiting for the value (JSON array text), if any.
  #[napi(ts_return_type = "Promise<string | null>")]
  pub fn fulfill<'e>(&self, env: &'e Env, id: String, value: Buffer) -> Result<Object<'e>> {
    let value = value.to_vec();
    self.dispatch(env, self.turn(&id), move |core| core.fulfill(&id, &value))
  }

  /// Like `fulfill`, only while `claim` still holds job `id`.
  #[napi(ts_return_type = "Promise<string | null>")]
  pub fn fulfill_claimed<'e>(
    &self,
    env: &'e Env,
    claim: i64,
    id: String,
    value: Buffer,
  ) -> Result<Object<'e>> {
    let value = value.to_vec();
    self.dispatch(env, self.turn(&id), move |core| {
      core.fulfill_claimed(claim as u64, &id, &value)
    })
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn update<'e>(
    &self,
    env: &'e Env,
    id: String,
    old_version: f64,
    request: String,
  ) -> Result<Object<'e>> {
    let old_version = whole_number(old_version);
    self.dispatch(env, self.turn(&id), move |core| {
      core.update(&id, old_version, &request)
    })
  }

  #[napi(ts_return_type = "Promise<NativeDelivery | null>")]
  pub fn delivery<'e>(&self, env: &'e Env, id: String) -> Result<Object<'e>> {
    self.dispatch(env, None, move |core| core.delivery(&id))
  }

  #[napi(ts_return_type = "Promise<NativeJob | null>")]
  pub fn pull_job<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
    self.dispatch(env, None, |core| core.pull_job())
  }

  #[napi(ts_return_type = "Promise<NativeNotification | null>")]
  pub fn pull_notification<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
    self.dispatch(env, None, |core| core.pull_notification())
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
    self.dispatch(env, self.turn(&id), move |core| {
      core.done(claim as u64, &id, &delivered)
    })
  }

  /// Like `pullJob`, waiting up to `waitMs` for a job; `token` names the wait for `cancelWait`.
  #[napi(ts_return_type = "Promise<NativeJob | null>")]
  pub fn pull_job_wait<'e>(&self, env: &'e Env, wait_ms: f64, token: i64) -> Result<Object<'e>> {
    let wait = wait_duration(wait_ms);
    self.dispatch(env, None, move |core| {
      core.pull_job_wait(wait, token as u64)
    })
  }

  #[napi(ts_return_type = "Promise<NativeNotification | null>")]
  pub fn pull_notification_wait<'e>(
    &self,
    env: &'e Env,
    wait_ms: f64,
    token: i64,
  ) -> Result<Object<'e>> {
    let wait = wait_duration(wait_ms);
    self.dispatch(env, None, move |core| {
      core.pull_notification_wait(wait, token as u64)
    })
  }

  #[napi]
  pub fn cancel_wait(&self, token: i64) {
    self.core.cancel_wait(token as u64);
  }

  #[napi(ts_return_type = "Promise<NativeStats>")]
  pub fn stats<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
    self.dispatch(env, None, |core| core.stats())
  }

  #[napi(ts_return_type = "Promise<NativeJobInfo>")]
  pub fn get<'e>(&self, env: &'e Env, id: String) -> Result<Object<'e>> {
    self.dispatch(env, None, move |core| core.get(&id))
  }

  #[napi(ts_return_type = "Promise<Buffer | null>")]
  pub fn value<'e>(&self, env: &'e Env, id: String) -> Result<Object<'e>> {
    self.dispatch(env, None, move |core| core.value(&id))
  }

  /// Ids, oldest first.
  #[napi(ts_return_type = "Promise<string[]>")]
  pub fn list<'e>(&self, env: &'e Env, which: ListingKind) -> Result<Object<'e>> {
    let which = Listing::from(which);
    self.dispatch(env, None, move |core| core.list(which))
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn remove<'e>(&self, env: &'e Env, id: String, force: bool) -> Result<Object<'e>> {
    self.dispatch(env, self.turn(&id), move |core| core.remove(&id, force))
  }

  /// Resolves how many jobs were removed; `failed` includes failed jobs.
  #[napi(ts_return_type = "Promise<number>")]
  pub fn prune<'e>(&self, env: &'e Env, older_than_ms: f64, failed: bool) -> Result<Object<'e>> {
    self.dispatch(env, None, move |core| core.prune(older_than_ms, failed))
  }

  #[napi(ts_return_type = "Promise<NativeProblem[]>")]
  pub fn check<'e>(&self, env: &'e Env, repair: bool) -> Result<Object<'e>> {
    self.dispatch(env, None, move |core| core.check(repair))
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
    claim_watch::forget_closed();
  }
}

impl NativeStore {
  /// Runs `work` on the core through `schedule`, settling the returned promise with its
  /// converted result, or with a JS error carrying the store error's `code`.
  fn dispatch<'e, T: ToJs>(
    &self,
    env: &'e Env,
    turn: Option<String>,
    work: impl FnOnce(&Store) -> CoreResult<T> + Send + 'static,
  ) -> Result<Object<'e>> {
    let (deferred, promise): (JsDeferred<T::Js, Settle<T::Js>>, _) = env.create_deferred()?;
    let core = self.core.clone();
    schedule::run(
      turn,
      move || work(&core),
      move |outcome| {
        deferred.resolve(Box::new(move |env| match outcome {
          Ok(value) => Ok(value.to_js()),
          Err(e) => Err(Error::from(js_error(&env, e).to_unknown())),
        }))
      },
    );
    Ok(promise)
  }

  /// Runs `work` on this thread when the store runs inline and its turn is free, giving its
  /// value (or throwing its error); otherwise hands it to the pool and gives a Promise.
  fn now_or_later<'e, T: ToJs, W>(
    &self,
    env: &'e Env,
    turn: Option<String>,
    work: W,
  ) -> Result<Unknown<'e>>
  where
    W: FnOnce(&Store) -> CoreResult<T> + Send + 'static,
  {
    if !self.core.runs_inline() {
      return self.dispatch(env, turn, work).map(|p| p.to_unknown());
    }
    let core = self.core.clone();
    match schedule::try_now(turn.as_deref(), move || work(&core)) {
      Ok(outcome) => here(env, outcome),
      // The job's turn is taken: the call waits in line on the pool.
      Err(work) => self
        .dispatch(env, turn, move |_| work())
        .map(|p| p.to_unknown()),
    }
  }

  /// The turn of updates of job `id` in this store's folder (see `schedule`).
  fn turn(&self, id: &str) -> Option<String> {
    Some(format!("{}\0{id}", self.core.layout().root().display()))
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
as_is!((), bool, String, Vec<String>);

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
      oldest_pending_age_ms: self.oldest_pending_age_ms,
    }
  }
}

impl ToJs for JobInfo {
  type Js = NativeJobInfo;
  fn to_js(self) -> NativeJobInfo {
    NativeJobInfo {
      id: self.id,
      state: match self.phase {
        Phase::Pending => JobPhase::Pending,
        Phase::Delayed => JobPhase::Delayed,
        Phase::Fulfilled => JobPhase::Fulfilled,
        Phase::Failed => JobPhase::Failed,
      },
      version: self.version as f64,
      request: self.request,
      waiting: self.waiting,
      created_at: self.created_at_ms,
      fulfilled_at: self.fulfilled_at_ms,
      failed_at: self.failed_at_ms,
      run_at: self.run_at_ms,
      attempts: self.attempts as f64,
      failures: self.failures,
    }
  }
}

impl ToJs for Problem {
  type Js = NativeProblem;
  fn to_js(self) -> NativeProblem {
    NativeProblem {
      kind: self.kind.into(),
      id: self.id,
      path: self.path.to_string_lossy().into_owned(),
      message: self.message,
      repaired: self.repaired,
      age_ms: self.age_ms,
    }
  }
}

impl From<ListingKind> for Listing {
  fn from(kind: ListingKind) -> Listing {
    match kind {
      ListingKind::All => Listing::All,
      ListingKind::Pending => Listing::Pending,
      ListingKind::Fulfilled => Listing::Fulfilled,
      ListingKind::Waiting => Listing::Waiting,
      ListingKind::Failed => Listing::Failed,
      ListingKind::Delayed => Listing::Delayed,
    }
  }
}

impl From<CoreProblemKind> for ProblemKind {
  fn from(kind: CoreProblemKind) -> ProblemKind {
    match kind {
      CoreProblemKind::DanglingMarker => ProblemKind::DanglingMarker,
      CoreProblemKind::LinkedJob => ProblemKind::LinkedJob,
      CoreProblemKind::StrayFile => ProblemKind::StrayFile,
      CoreProblemKind::CorruptState => ProblemKind::CorruptState,
      CoreProblemKind::UnreadableJob => ProblemKind::UnreadableJob,
      CoreProblemKind::MissingValue => ProblemKind::MissingValue,
      CoreProblemKind::StalePendingMarker => ProblemKind::StalePendingMarker,
      CoreProblemKind::MissingPendingMarker => ProblemKind::MissingPendingMarker,
      CoreProblemKind::MissingWaitingMarker => ProblemKind::MissingWaitingMarker,
      CoreProblemKind::StaleWaitingMarker => ProblemKind::StaleWaitingMarker,
      CoreProblemKind::LeftoverTemporary => ProblemKind::LeftoverTemporary,
      CoreProblemKind::ForeignTemporary => ProblemKind::ForeignTemporary,
    }
  }
}
