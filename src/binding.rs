//! The napi binding: converts arguments, runs each core operation on tokio's blocking pool, and
//! turns results and errors into JavaScript values. No store logic lives here.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::JsDeferred;
use napi_derive::napi;

use crate::durable::Durability;
use crate::error::StoreError;
use crate::gate;
use crate::inspect::Listing;
use crate::layout::Access;
use crate::store::{lost_claim_message, Options, PulledJob, PulledNotification, Store};

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
}

#[napi(object)]
pub struct NativeJob {
  pub claim: i64,
  pub id: String,
  pub version: f64,
  /// JSON text; absent when the record has no request.
  pub request: Option<String>,
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
  pub oldest_pending_age_ms: Option<f64>,
}

#[napi(object)]
pub struct NativeJobInfo {
  pub id: String,
  pub fulfilled: bool,
  pub version: f64,
  /// JSON text; absent when the record has no request.
  pub request: Option<String>,
  /// JSON array text.
  pub waiting: String,
  pub created_at: Option<f64>,
  pub fulfilled_at: Option<f64>,
}

#[napi(object)]
pub struct NativeProblem {
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

/// Called on the JS thread when a claim is lost: `(claim, message)`.
type LostCallback =
  ThreadsafeFunction<(i64, String), (), FnArgs<(i64, String)>, Status, false, true>;

#[napi]
pub struct NativeStore {
  core: Arc<Store>,
  closed: Arc<AtomicBool>,
}

#[napi]
impl NativeStore {
  #[napi(constructor)]
  pub fn new(
    options: NativeOptions,
    on_lost: Function<FnArgs<(i64, String)>, ()>,
  ) -> std::result::Result<Self, Error<String>> {
    let core = Store::open(
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
      },
    )
    .map_err(|e| Error::new(e.code.as_str().to_owned(), e.message))?;
    let core = Arc::new(core);
    let closed = Arc::new(AtomicBool::new(false));
    // Weak: a store waiting to report a loss must never keep the process alive.
    let on_lost: LostCallback = on_lost
      .build_threadsafe_function::<(i64, String)>()
      .weak::<true>()
      .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))
      .map_err(|e| Error::new(e.status.as_ref().to_owned(), e.reason.clone()))?;
    watch_claims(
      Arc::downgrade(&core),
      closed.clone(),
      Duration::from_millis(options.lock_check_interval.max(1).into()),
      on_lost,
    )
    .map_err(|e| {
      Error::new(
        "EAGAIN".to_owned(),
        format!("cannot start the thread that watches claims ({e}); the process is out of threads"),
      )
    })?;
    Ok(NativeStore { core, closed })
  }

  #[napi(ts_return_type = "Promise<string>")]
  pub fn create<'env>(&self, env: &'env Env, request: String) -> Result<Object<'env>> {
    let core = self.core.clone();
    run(env, move || core.create(&request), |_, id| Ok(id))
  }

  /// Resolves whether the job is already fulfilled.
  #[napi(ts_return_type = "Promise<boolean>")]
  pub fn queue<'env>(&self, env: &'env Env, id: String, target: String) -> Result<Object<'env>> {
    let core = self.core.clone();
    let key = self.turn_key(&id);
    run_in_turn(env, key, move || core.queue(&id, &target), |_, v| Ok(v))
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn unqueue_all<'env>(
    &self,
    env: &'env Env,
    id: String,
    targets: String,
  ) -> Result<Object<'env>> {
    let core = self.core.clone();
    let key = self.turn_key(&id);
    run_in_turn(
      env,
      key,
      move || core.unqueue_all(&id, &targets),
      |_, ()| Ok(()),
    )
  }

  /// Resolves whether targets are waiting for the value.
  #[napi(ts_return_type = "Promise<boolean>")]
  pub fn fulfill<'env>(&self, env: &'env Env, id: String, value: Buffer) -> Result<Object<'env>> {
    let core = self.core.clone();
    let key = self.turn_key(&id);
    let value = value.to_vec();
    run_in_turn(env, key, move || core.fulfill(&id, &value), |_, v| Ok(v))
  }

  #[napi(ts_return_type = "Promise<boolean>")]
  pub fn fulfill_claimed<'env>(
    &self,
    env: &'env Env,
    claim: i64,
    value: Buffer,
  ) -> Result<Object<'env>> {
    let core = self.core.clone();
    let key = self.claim_turn_key(claim);
    let value = value.to_vec();
    run_in_turn(
      env,
      key,
      move || core.fulfill_claimed(claim as u64, &value),
      |_, v| Ok(v),
    )
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn update<'env>(
    &self,
    env: &'env Env,
    id: String,
    old_version: f64,
    request: String,
  ) -> Result<Object<'env>> {
    let core = self.core.clone();
    let key = self.turn_key(&id);
    run_in_turn(
      env,
      key,
      move || core.update(&id, old_version, &request),
      |_, ()| Ok(()),
    )
  }

  #[napi(ts_return_type = "Promise<NativeDelivery | null>")]
  pub fn delivery<'env>(&self, env: &'env Env, id: String) -> Result<Object<'env>> {
    let core = self.core.clone();
    run(
      env,
      move || core.delivery(&id),
      |_, found| {
        Ok(found.map(|d| NativeDelivery {
          value: d.value.into(),
          waiting: d.waiting,
        }))
      },
    )
  }

  #[napi(ts_return_type = "Promise<NativeJob | null>")]
  pub fn pull_job<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
    let core = self.core.clone();
    run(
      env,
      move || core.pull_job(),
      |_, found| {
        Ok(found.map(|job| NativeJob {
          claim: job.claim as i64,
          id: job.id,
          version: job.version as f64,
          request: job.request,
        }))
      },
    )
  }

  #[napi(ts_return_type = "Promise<NativeNotification | null>")]
  pub fn pull_notification<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
    let core = self.core.clone();
    run(
      env,
      move || core.pull_notification(),
      |_, found| {
        Ok(found.map(|n| NativeNotification {
          claim: n.claim as i64,
          id: n.id,
          value: n.value.into(),
          waiting: n.waiting,
        }))
      },
    )
  }

  /// Unqueues the delivered targets (JSON array text) and releases the notification claim.
  #[napi(ts_return_type = "Promise<void>")]
  pub fn done<'env>(&self, env: &'env Env, claim: i64, delivered: String) -> Result<Object<'env>> {
    let core = self.core.clone();
    let key = self.claim_turn_key(claim);
    run_in_turn(
      env,
      key,
      move || core.done(claim as u64, &delivered),
      |_, ()| Ok(()),
    )
  }

  /// Like `pullJob`, waiting up to `waitMs` for a job; `token` names the wait for `cancelWait`.
  #[napi(ts_return_type = "Promise<NativeJob | null>")]
  pub fn pull_job_wait<'env>(
    &self,
    env: &'env Env,
    wait_ms: f64,
    token: i64,
  ) -> Result<Object<'env>> {
    let core = self.core.clone();
    let wait = wait_duration(wait_ms);
    run(
      env,
      move || core.pull_job_wait(wait, token as u64),
      |_, found| Ok(found.ok().map(native_job)),
    )
  }

  #[napi(ts_return_type = "Promise<NativeNotification | null>")]
  pub fn pull_notification_wait<'env>(
    &self,
    env: &'env Env,
    wait_ms: f64,
    token: i64,
  ) -> Result<Object<'env>> {
    let core = self.core.clone();
    let wait = wait_duration(wait_ms);
    run(
      env,
      move || core.pull_notification_wait(wait, token as u64),
      |_, found| Ok(found.ok().map(native_notification)),
    )
  }

  #[napi]
  pub fn cancel_wait(&self, token: i64) {
    self.core.cancel_wait(token as u64);
  }

  #[napi(ts_return_type = "Promise<NativeStats>")]
  pub fn stats<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
    let core = self.core.clone();
    run(
      env,
      move || core.stats(),
      |_, s| {
        Ok(NativeStats {
          pending: s.pending as f64,
          claimed: s.claimed as f64,
          fulfilled: s.fulfilled as f64,
          waiting: s.waiting as f64,
          oldest_pending_age_ms: s.oldest_pending_age_ms,
        })
      },
    )
  }

  #[napi(ts_return_type = "Promise<NativeJobInfo>")]
  pub fn get<'env>(&self, env: &'env Env, id: String) -> Result<Object<'env>> {
    let core = self.core.clone();
    run(
      env,
      move || core.get(&id),
      |_, info| {
        Ok(NativeJobInfo {
          id: info.id,
          fulfilled: info.fulfilled,
          version: info.version as f64,
          request: info.request,
          waiting: info.waiting,
          created_at: info.created_at_ms,
          fulfilled_at: info.fulfilled_at_ms,
        })
      },
    )
  }

  #[napi(ts_return_type = "Promise<Buffer | null>")]
  pub fn value<'env>(&self, env: &'env Env, id: String) -> Result<Object<'env>> {
    let core = self.core.clone();
    run(env, move || core.value(&id), |_, v| Ok(v.map(Buffer::from)))
  }

  /// Ids, oldest first: `which` is "all", "pending", "fulfilled" or "waiting".
  #[napi(ts_return_type = "Promise<string[]>")]
  pub fn list<'env>(&self, env: &'env Env, which: String) -> Result<Object<'env>> {
    let core = self.core.clone();
    let which = match which.as_str() {
      "pending" => Listing::Pending,
      "fulfilled" => Listing::Fulfilled,
      "waiting" => Listing::Waiting,
      _ => Listing::All,
    };
    run(env, move || core.list(which), |_, ids| Ok(ids))
  }

  #[napi(ts_return_type = "Promise<void>")]
  pub fn remove<'env>(&self, env: &'env Env, id: String, force: bool) -> Result<Object<'env>> {
    let core = self.core.clone();
    let key = self.turn_key(&id);
    run_in_turn(env, key, move || core.remove(&id, force), |_, ()| Ok(()))
  }

  /// Resolves how many jobs were removed.
  #[napi(ts_return_type = "Promise<number>")]
  pub fn prune<'env>(&self, env: &'env Env, older_than_ms: f64) -> Result<Object<'env>> {
    let core = self.core.clone();
    run(env, move || core.prune(older_than_ms), |_, n| Ok(n as f64))
  }

  #[napi(ts_return_type = "Promise<NativeProblem[]>")]
  pub fn check<'env>(&self, env: &'env Env, repair: bool) -> Result<Object<'env>> {
    let core = self.core.clone();
    run(
      env,
      move || core.check(repair),
      |_, problems| {
        Ok(
          problems
            .into_iter()
            .map(|p| NativeProblem {
              kind: p.kind.as_str().to_owned(),
              id: p.id,
              path: p.path.to_string_lossy().into_owned(),
              message: p.message,
              repaired: p.repaired,
              age_ms: p.age_ms,
            })
            .collect::<Vec<_>>(),
        )
      },
    )
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
    self.closed.store(true, Ordering::Relaxed);
    self.core.close();
  }
}

impl NativeStore {
  /// The key of a job's turn: its store folder and id.
  fn turn_key(&self, id: &str) -> String {
    format!("{}\0{id}", self.core.layout().root().display())
  }

  fn claim_turn_key(&self, claim: i64) -> String {
    self.turn_key(&self.core.claimed_job(claim as u64).unwrap_or_default())
  }
}

/// A wait given in JavaScript milliseconds; negative means none.
fn wait_duration(ms: f64) -> Duration {
  Duration::from_secs_f64(ms.max(0.0) / 1000.0)
}

fn native_job(job: PulledJob) -> NativeJob {
  NativeJob {
    claim: job.claim as i64,
    id: job.id,
    version: job.version as f64,
    request: job.request,
  }
}

fn native_notification(n: PulledNotification) -> NativeNotification {
  NativeNotification {
    claim: n.claim as i64,
    id: n.id,
    value: n.value.into(),
    waiting: n.waiting,
  }
}

/// Runs `work` on tokio's blocking pool and settles the returned promise on the JS thread with
/// `convert`'s value, or with a JS error carrying the store error's `code`.
fn run<'env, T, V, W, C>(env: &'env Env, work: W, convert: C) -> Result<Object<'env>>
where
  T: Send + 'static,
  V: ToNapiValue + 'static,
  W: FnOnce() -> crate::error::Result<T> + Send + 'static,
  C: FnOnce(&Env, T) -> Result<V> + Send + 'static,
{
  let (deferred, promise) = env.create_deferred()?;
  napi::bindgen_prelude::spawn_blocking(move || settle(deferred, work(), convert));
  Ok(promise)
}

/// Like [`run`], for work that updates one job's `state.json`: it waits its turn behind this
/// process's other updates of that job first (see `gate`), on the runtime rather than on a
/// thread, unless the turn is free at once.
fn run_in_turn<'env, T, V, W, C>(
  env: &'env Env,
  key: String,
  work: W,
  convert: C,
) -> Result<Object<'env>>
where
  T: Send + 'static,
  V: ToNapiValue + 'static,
  W: FnOnce() -> crate::error::Result<T> + Send + 'static,
  C: FnOnce(&Env, T) -> Result<V> + Send + 'static,
{
  if let Some(turn) = gate::try_enter(&key) {
    return run(
      env,
      move || {
        let _turn = turn;
        work()
      },
      convert,
    );
  }
  let (deferred, promise) = env.create_deferred()?;
  napi::bindgen_prelude::spawn(async move {
    let turn = gate::enter(key).await;
    let outcome = napi::bindgen_prelude::spawn_blocking(move || {
      let _turn = turn;
      work()
    })
    .await
    .unwrap_or_else(|e| {
      Err(StoreError::new(
        crate::error::Code::Os("EIO"),
        format!("the store's worker thread failed: {e}"),
      ))
    });
    settle(deferred, outcome, convert);
  });
  Ok(promise)
}

/// Settles a promise on the JS thread with the outcome of its work.
fn settle<T, V, C>(
  deferred: JsDeferred<V, Box<dyn FnOnce(Env) -> Result<V>>>,
  outcome: crate::error::Result<T>,
  convert: C,
) where
  T: 'static,
  C: FnOnce(&Env, T) -> Result<V> + 'static,
  V: ToNapiValue,
{
  deferred.resolve(Box::new(move |env| match outcome {
    Ok(value) => convert(&env, value),
    Err(e) => Err(js_error(&env, e)),
  }));
}

/// A JS `Error` with `code`, and `path` / `errno` when the failure concerns a file.
fn js_error(env: &Env, e: StoreError) -> Error {
  let build = || -> Result<Error> {
    let unknown = JsError::from(Error::new(e.code.as_str(), e.message.clone())).into_unknown(*env);
    let mut object = unknown.coerce_to_object()?;
    if let Some(path) = &e.path {
      object.set_named_property("path", path.to_string_lossy().as_ref())?;
    }
    if let Some(errno) = e.errno {
      object.set_named_property("errno", -errno)?;
    }
    Ok(Error::from(object.to_unknown()))
  };
  build().unwrap_or_else(|err| err)
}

/// A store whose claims the watcher checks.
struct Watched {
  core: Weak<Store>,
  closed: Arc<AtomicBool>,
  interval: Duration,
  due: Instant,
  on_lost: LostCallback,
}

#[derive(Default)]
struct Watchlist {
  stores: Vec<Watched>,
  started: bool,
}

static WATCHLIST: LazyLock<(Mutex<Watchlist>, Condvar)> = LazyLock::new(Default::default);

/// Has `core`'s held claims checked every `interval` for loss, each loss reported once through
/// `on_lost`. One thread does this for every store of the process, so a busy event loop cannot
/// delay a check and a thousand stores do not cost a thousand threads. A store leaves the list
/// when it is closed or garbage-collected.
fn watch_claims(
  core: Weak<Store>,
  closed: Arc<AtomicBool>,
  interval: Duration,
  on_lost: LostCallback,
) -> std::io::Result<()> {
  let (list, wake) = &*WATCHLIST;
  let mut list = list.lock().unwrap();
  if !list.started {
    std::thread::Builder::new()
      .name("fs-job-store-claims".into())
      .spawn(check_claims_forever)?;
    list.started = true;
  }
  list.stores.push(Watched {
    core,
    closed,
    interval,
    due: Instant::now() + interval,
    on_lost,
  });
  wake.notify_one();
  Ok(())
}

fn check_claims_forever() {
  let (list, wake) = &*WATCHLIST;
  let mut list = list.lock().unwrap();
  loop {
    let now = Instant::now();
    list
      .stores
      .retain(|w| w.core.strong_count() > 0 && !w.closed.load(Ordering::Relaxed));
    let mut next = now + Duration::from_secs(1);
    for watched in list.stores.iter_mut() {
      if watched.due <= now {
        if let Some(core) = watched.core.upgrade() {
          for lost in core.lost_claims() {
            let message = lost_claim_message(&lost.id, &lost.loss);
            watched.on_lost.call(
              (lost.claim as i64, message),
              ThreadsafeFunctionCallMode::NonBlocking,
            );
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
