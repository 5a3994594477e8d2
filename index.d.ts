/// <reference types="node" />
// Hand-written typings for index.js, the public API. The generated native/binding.d.ts types the
// internal addon only and is not part of what a user imports.

/**
 * A job queue in a shared folder. `TRequest` is the type of what `create` stores and a worker
 * gets back as `job.request`; `TTarget` is the type of what `queue` stores and a notifier or
 * `respond` gets back. Both go through JSON, so use types JSON can represent (no `undefined`,
 * functions, `Date`s or class instances; a `Date` comes back as a string).
 *
 * Every method takes an optional callback as its last argument, called on a later tick as
 * `(err, result)`, and then returns `void`; without a callback it returns a Promise.
 *
 * ```ts
 * import JobStore = require('fs-job-store')
 * const store = new JobStore<{ calculate: string }, { email: string }>({ dir: '/var/spool/jobs' })
 * ```
 */
declare class JobStore<TRequest = unknown, TTarget = unknown> {
  /**
   * Opens (and creates when missing) the store in `options.dir`; with `readOnly` opens an
   * existing store for inspection only.
   * @throws {JobStore.JobStoreError} `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for a bad
   * option, `ECORRUPT` when a sub-folder is a link or not a folder, `ENOTSTORE` for a read-only
   * open of a folder that is not a store, or an OS error code when the folder cannot be opened.
   */
  constructor(options: JobStore.JobStoreOptions<TTarget>)

  /**
   * Set to a function to hear about targets that `respond` failed to serve. Those targets stay
   * queued. `null` (the default) ignores failures.
   */
  onresponsefailure: ((failure: JobStore.ResponseFailure<TTarget>) => void) | null

  /** Adds a pending job. Ids look like `job-<uuid v7>`: unique, sorted by creation time. */
  create(request: TRequest, options: JobStore.CreateOptions & { key: string }, callback: JobStore.Callback<JobStore.KeyedCreated>): void
  create(request: TRequest, options: JobStore.CreateOptions & { key: string }): Promise<JobStore.KeyedCreated>
  create(request: TRequest, callback: JobStore.Callback<JobStore.Created>): void
  create(request: TRequest, options: JobStore.CreateOptions | undefined, callback: JobStore.Callback<JobStore.Created>): void
  create(request: TRequest, options?: JobStore.CreateOptions): Promise<JobStore.Created>

  /**
   * How a job ended: resolves its value once fulfilled; rejects with `EFAILED` (and
   * `err.failure`) once it is set aside as failed, `ETIMEDOUT` after `waitMs`, `ABORT_ERR` when
   * `signal` aborts. Waits for the end by default, woken by filesystem events.
   */
  result(id: string, callback: JobStore.Callback<Buffer>): void
  result(id: string, options: JobStore.ResultOptions | undefined, callback: JobStore.Callback<Buffer>): void
  result(id: string, options?: JobStore.ResultOptions): Promise<Buffer>

  /**
   * Makes a failed job pending again now, its attempts counted from zero (`ENOTFAILED` when it is
   * not failed, `ECLAIMED` while a worker holds it).
   */
  retry(id: string, callback: JobStore.VoidCallback): void
  retry(id: string): Promise<void>

  /** Makes a delayed job, or one waiting out a retry's backoff, pending now (`ENOTDELAYED` for any other). */
  runNow(id: string, callback: JobStore.VoidCallback): void
  runNow(id: string): Promise<void>

  /** The id of the job made with unique key `key` (while its key link stays), or `undefined`. */
  jobOfKey(key: string, callback: JobStore.Callback<string | undefined>): void
  jobOfKey(key: string): Promise<string | undefined>

  /**
   * Jobs created, fulfilled and failed per minute over the last hour, by every process using the
   * folder (each writes its counts within a second): 60 minutes, oldest first.
   */
  activity(callback: JobStore.Callback<JobStore.ActivityMinute[]>): void
  activity(): Promise<JobStore.ActivityMinute[]>

  /**
   * Asks for `target` to be told the job's value. On a job that is already fulfilled, `respond`
   * (if set) is called before the callback.
   */
  queue(id: string, target: TTarget, callback: JobStore.VoidCallback): void
  queue(id: string, target: TTarget): Promise<void>

  /** Removes the first waiting entry deep-equal to `target`. */
  unqueue(id: string, target: TTarget, callback: JobStore.VoidCallback): void
  unqueue(id: string, target: TTarget): Promise<void>

  /** Removes, for each of `targets`, the first waiting entry deep-equal to it. */
  unqueueAll(id: string, targets: readonly TTarget[], callback: JobStore.VoidCallback): void
  unqueueAll(id: string, targets: readonly TTarget[]): Promise<void>

  /** Serves the waiting targets of a fulfilled job through `respond`. */
  flush(id: string, callback: JobStore.VoidCallback): void
  flush(id: string): Promise<void>

  /**
   * Fulfils a pending job, whoever holds it (1.2.0's behaviour; `job.fulfill` is the variant
   * that checks the claim). Targets already waiting are served through `respond` first.
   * Fails with `EALREADYRESOLVED` when the job is no longer pending (fulfilled, or failed).
   */
  fulfill(id: string, value: JobStore.JobValue, callback: JobStore.VoidCallback): void
  fulfill(id: string, value: JobStore.JobValue): Promise<void>

  /**
   * Replaces a pending (or delayed) job's request if its version is still `oldVersion`, and bumps
   * the version. Fails with `EVERSIONMISMATCH`, or `EALREADYRESOLVED` when the job is fulfilled or
   * failed.
   */
  update(id: string, oldVersion: number, newRequest: TRequest, callback: JobStore.VoidCallback): void
  update(id: string, oldVersion: number, newRequest: TRequest): Promise<void>

  /**
   * Claims the oldest pending job nobody holds, or gives `undefined` when there is none. Never
   * waits for a held job. With `{ waitMs }` it waits up to that long for a job to arrive (woken
   * by filesystem events, not polling); `{ signal }` ends the wait early. Call `job.release()`
   * when done with the job.
   */
  pullJob(callback: JobStore.Callback<JobStore.Job<TRequest> | undefined>): void
  pullJob(options: JobStore.PullOptions | undefined, callback: JobStore.Callback<JobStore.Job<TRequest> | undefined>): void
  pullJob(options?: JobStore.PullOptions): Promise<JobStore.Job<TRequest> | undefined>

  /** The same method as `pullJob`, under the name 1.2.0's README used. */
  pullWork(callback: JobStore.Callback<JobStore.Job<TRequest> | undefined>): void
  pullWork(options: JobStore.PullOptions | undefined, callback: JobStore.Callback<JobStore.Job<TRequest> | undefined>): void
  pullWork(options?: JobStore.PullOptions): Promise<JobStore.Job<TRequest> | undefined>

  /**
   * Claims a fulfilled job that has waiting targets, or gives `undefined` when there is none.
   * Takes the same `{ waitMs, signal }` options as `pullJob`. Call `notification.done(…)` when
   * done with it.
   */
  pullNotification(callback: JobStore.Callback<JobStore.Notification<TTarget> | undefined>): void
  pullNotification(
    options: JobStore.PullOptions | undefined,
    callback: JobStore.Callback<JobStore.Notification<TTarget> | undefined>,
  ): void
  pullNotification(options?: JobStore.PullOptions): Promise<JobStore.Notification<TTarget> | undefined>

  /** Yields jobs as they come, until `signal` aborts or the store is closed. */
  jobs(options?: { signal?: AbortSignal }): AsyncGenerator<JobStore.Job<TRequest>, void, undefined>

  /** Yields notifications as they come, until `signal` aborts or the store is closed. */
  notifications(options?: { signal?: AbortSignal }): AsyncGenerator<JobStore.Notification<TTarget>, void, undefined>

  /**
   * Counts over the whole store, from the folder listings alone (no record read, no lock tested):
   * tens of milliseconds on a store of 100,000 jobs, so it can be called every second.
   */
  stats(callback: JobStore.Callback<JobStore.Stats>): void
  stats(): Promise<JobStore.Stats>

  /** One job's record. Fails with `ENOJOB` for an unknown id. */
  get(id: string, callback: JobStore.Callback<JobStore.JobInfo<TRequest, TTarget>>): void
  get(id: string): Promise<JobStore.JobInfo<TRequest, TTarget>>

  /** A job's value, or `undefined` until it is fulfilled (pending, delayed or failed). */
  value(id: string, callback: JobStore.Callback<Buffer | undefined>): void
  value(id: string): Promise<Buffer | undefined>

  /**
   * Job ids in pull order (higher priority, then oldest); `state` narrows the list. With `limit`,
   * one page: the ids after `after` (newest first with `newestFirst`), containing `search`.
   */
  list(callback: JobStore.Callback<string[]>): void
  list(options: JobStore.ListOptions | undefined, callback: JobStore.Callback<string[]>): void
  list(options?: JobStore.ListOptions): Promise<string[]>

  /**
   * Deletes a fulfilled or failed job with no waiting targets (`EPENDING` / `EWAITING` otherwise,
   * unless `force`). A job a worker or notifier holds is never deleted (`ECLAIMED`).
   */
  remove(id: string, callback: JobStore.VoidCallback): void
  remove(id: string, options: JobStore.RemoveOptions | undefined, callback: JobStore.VoidCallback): void
  remove(id: string, options?: JobStore.RemoveOptions): Promise<void>

  /**
   * Deletes fulfilled jobs with no waiting targets, fulfilled at least `olderThanMs` ago (with
   * `failed: true`, also failed jobs set aside that long ago), and gives how many went. Pending,
   * delayed and claimed jobs are never touched.
   */
  prune(options: JobStore.PruneOptions, callback: JobStore.Callback<number>): void
  prune(options: JobStore.PruneOptions): Promise<number>

  /**
   * Lists every problem found in the folder; without `repair` it only reads. With
   * `{ repair: true }` fixes what is safe to fix (markers and the store's own leftovers), never a
   * job's request or value.
   */
  check(callback: JobStore.Callback<JobStore.Problem[]>): void
  check(options: JobStore.CheckOptions | undefined, callback: JobStore.Callback<JobStore.Problem[]>): void
  check(options?: JobStore.CheckOptions): Promise<JobStore.Problem[]>

  /**
   * Ends waiting pulls, releases this store's claims and every file descriptor and watch it
   * holds (its filesystem can then be unmounted). Later calls fail with `ECLOSED`.
   */
  close(callback: JobStore.VoidCallback): void
  close(): Promise<void>

  /**
   * Starts a worker: `handler(job, { signal })` runs for each job, `concurrency` at a time, until
   * the worker (or the store) is closed. What it returns is the job's value (a string or bytes as
   * they are, `undefined` as an empty value, anything else as its JSON text); what it throws fails
   * the job as `job.fail` does. The handler never calls `fulfill`, `fail` or `release`.
   */
  process<TResult = unknown>(
    handler: JobStore.Handler<TRequest, TResult>,
    options?: JobStore.WorkerOptions,
  ): JobStore.Worker<TRequest, TResult>

  /**
   * Starts a deliverer: `handler(target, { id, value, signal })` runs for each target waiting for
   * a fulfilled job's value; a target whose handler resolved is marked delivered, the others stay
   * queued and are tried again after a backoff.
   */
  deliver(handler: JobStore.DeliverHandler<TTarget>, options?: JobStore.DelivererOptions): JobStore.Deliverer<TTarget>

  /**
   * Cancels a job that is pending, delayed or failed, or that a worker in any process holds (its
   * signal aborts with `ECANCELED`, and its commit is refused). A cancelled job is never pulled
   * again; `result` rejects `ECANCELED`. A fulfilled job cannot be cancelled (`EALREADYRESOLVED`).
   */
  cancel(id: string, callback: JobStore.VoidCallback): void
  cancel(id: string, options: JobStore.CancelOptions | undefined, callback: JobStore.VoidCallback): void
  cancel(id: string, options?: JobStore.CancelOptions): Promise<void>

  /**
   * Adds one job per request, acknowledged together after one flush of the disk for the whole
   * batch; gives their ids in order. On an error part-way, `err.created` lists the ids made (the
   * first requests) and the others leave nothing behind.
   */
  createMany(requests: readonly TRequest[], callback: JobStore.Callback<JobStore.Created[]>): void
  createMany(requests: readonly TRequest[], options: JobStore.CreateManyOptions | undefined, callback: JobStore.Callback<JobStore.Created[]>): void
  createMany(requests: readonly TRequest[], options?: JobStore.CreateManyOptions): Promise<JobStore.Created[]>

  /**
   * Saves schedule `name` (replacing one of that name): at each slot of `rule`, exactly one job
   * of `request` is made, however many processes fire it. Processes running `process` (or
   * opened with `schedules: true`) fire schedules; a slot missed while none ran is made once.
   */
  schedule(name: string, rule: JobStore.ScheduleRule, request: TRequest, callback: JobStore.VoidCallback): void
  schedule(name: string, rule: JobStore.ScheduleRule, request: TRequest, options: JobStore.ScheduleOptions | undefined, callback: JobStore.VoidCallback): void
  schedule(name: string, rule: JobStore.ScheduleRule, request: TRequest, options?: JobStore.ScheduleOptions): Promise<void>

  /** Removes a schedule; gives whether there was one. The jobs it made stay. */
  unschedule(name: string, callback: JobStore.Callback<boolean>): void
  unschedule(name: string): Promise<boolean>

  /** Every schedule, by name, with its next slot. */
  schedules(callback: JobStore.Callback<JobStore.ScheduleInfo<TRequest>[]>): void
  schedules(): Promise<JobStore.ScheduleInfo<TRequest>[]>
}

declare namespace JobStore {
  // The class is also `require('fs-job-store').JobStore` and `.default`.
  export { JobStore, JobStore as default }

  /** Codes of the store's own errors. */
  export type StoreErrorCode =
    /**
     * `fulfill`, `update` or `job.fail` on a job that is no longer pending: fulfilled or failed
     * (message `already resolved`).
     */
    | 'EALREADYRESOLVED'
    /** `update` with a version that is not the job's current one (message `version mismatch`). */
    | 'EVERSIONMISMATCH'
    /** No job with that id in the store. */
    | 'ENOJOB'
    /**
     * An id that is not a string, or not one safe path segment: empty, over 255 bytes, with `/`,
     * `\`, `..` or NUL, starting with `.`, or ending in `.lock`.
     */
    | 'EINVALIDID'
    /** Another process held the job's state lock longer than `lockWait`. */
    | 'ELOCKED'
    /** The claim on a job or notification was lost. */
    | 'ECOMPROMISED'
    /** A file of the job cannot be read as what it should be; the message names it. */
    | 'ECORRUPT'
    /** `remove` of a job that is still pending or delayed (without `force`). */
    | 'EPENDING'
    /** `remove` of a job that has targets waiting (without `force`). */
    | 'EWAITING'
    /** `remove` of a job a worker or notifier holds right now; `retry` of a job a worker holds. */
    | 'ECLAIMED'
    /** An argument of the wrong type. */
    | 'ERR_INVALID_ARG_TYPE'
    /** An argument of the right type but an unusable value. */
    | 'ERR_INVALID_ARG_VALUE'
    /** The `code` of the failure recorded for a job set aside because its holders kept dying. */
    | 'EABANDONED'
    /** `retry` of a job that is not failed. */
    | 'ENOTFAILED'
    /** `runNow` of a job that is not waiting for its time. */
    | 'ENOTDELAYED'
    /** `result` of a job that was set aside as failed (`err.failure` is its last failure). */
    | 'EFAILED'
    /** `result` whose `waitMs` passed before the job ended. */
    | 'ETIMEDOUT'
    /** `result` whose `signal` aborted. */
    | 'ABORT_ERR'
    /** `require('fs-job-store')` found no native binary for this platform. */
    | 'ENATIVEMISSING'
    /** A call on a store after `close()`. */
    | 'ECLOSED'
    /** A change asked of a store opened with `readOnly: true`. */
    | 'EREADONLY'
    /** A read-only open of a folder that has none of `jobs/`, `pending/`, `waiting/`. */
    | 'ENOTSTORE'
    /** `require('fs-job-store')` on a platform the store does not support (Windows). */
    | 'EPLATFORM'
    /**
     * The job was cancelled: `result` of a cancelled job, a fenced call (`job.fulfill`,
     * `job.fail`) after the cancel, and the reason a worker's signal aborts with.
     */
    | 'ECANCELED'
    /** The reason a handler's signal aborts with when its worker closed before it finished. */
    | 'ESHUTDOWN'

  /** The operating-system errors a store reports by their errno name (`err.path` names the file). */
  export type SystemErrorCode =
    | 'EACCES'
    | 'EAGAIN'
    | 'EBADF'
    | 'EBUSY'
    | 'EDQUOT'
    | 'EEXIST'
    | 'EFBIG'
    | 'EINVAL'
    | 'EIO'
    | 'EISDIR'
    | 'ELOOP'
    | 'EMFILE'
    | 'EMLINK'
    | 'ENAMETOOLONG'
    | 'ENFILE'
    | 'ENOENT'
    | 'ENOLCK'
    | 'ENOMEM'
    | 'ENOSPC'
    | 'ENOTDIR'
    | 'ENOTEMPTY'
    | 'EPERM'
    | 'EROFS'
    | 'ESTALE'
    | 'EXDEV'

  /** Every `code` a store error can have. */
  export type ErrorCode = StoreErrorCode | SystemErrorCode

  /** What callbacks get as `err`, and Promises reject with. */
  export interface JobStoreError extends Error {
    code: ErrorCode
    /** The file involved, for OS errors. */
    path?: string
    /** The negated OS error number, for OS errors (as in Node's own errors). */
    errno?: number
    /** The job, for `ECOMPROMISED` errors given to `oncompromised`. */
    id?: string
    /** The system call that failed, for OS errors. */
    syscall?: string
    /** For `EFAILED`: the job's last recorded failure. */
    failure?: Failure | null
  }

  /** What `create` may say besides the request. */
  export interface CreateOptions {
    /** Not to be pulled for this many milliseconds. */
    delayMs?: number
    /** Not to be pulled before this time (a Date, or ms since the epoch). */
    runAt?: Date | number
    /** Claims this job may have before `job.fail` is final (the store's `maxAttempts` otherwise). */
    maxAttempts?: number
    /** A whole number from -9 to 9 (default 0): higher is pulled first, then the oldest. */
    priority?: number
    /**
     * A unique key: while a job holding it is pending, delayed or claimed, `create` makes no new
     * job and answers that job's id with `created: false`. Freed once that job ends.
     */
    key?: string
  }

  /** Options of `result`. */
  export interface ResultOptions {
    /** Give up after this many milliseconds (`ETIMEDOUT`); default: wait until the job ends. */
    waitMs?: number
    /** Ends the wait early (`ABORT_ERR`). */
    signal?: AbortSignal | null
  }

  /** Options of `job.fail`. */
  export interface FailOptions {
    /** Retry after this many milliseconds instead of the store's backoff. */
    retryInMs?: number
  }

  /** One recorded failure: when, and what `job.fail` was given (or why the job was set aside). */
  export interface Failure {
    at: Date
    error: { message: string; name?: string; code?: string; stack?: string }
  }

  /** A Node-style callback: `err` is `null` on success, and `result` is then set. */
  export type Callback<T> = (err: JobStoreError | null, result: T) => void

  /** A Node-style callback for operations that give no result. */
  export type VoidCallback = (err: JobStoreError | null) => void

  /** A job's value: strings are stored as UTF-8, the others as their bytes. */
  export type JobValue = string | Buffer | NodeJS.TypedArray | DataView

  /** What `create` gives. */
  export interface Created {
    id: string
  }

  /** What a create with a `key` gives. */
  export interface KeyedCreated {
    id: string
    /** `false` when a job holding the key was still to be done, and `id` is that job's. */
    created: boolean
  }

  /** `createMany`'s options: those of `create`, but a key (which names one job). */
  export type CreateManyOptions = Omit<CreateOptions, 'key'>

  /** When a schedule's slots fall: a cron expression in a time zone, or a fixed period. */
  export type ScheduleRule =
    | {
        /** 5 fields (minute hour day month weekday), or 6 with seconds first. */
        cron: string
        /** An IANA time zone name (default `'UTC'`); daylight-saving changes are followed. */
        tz?: string
        everyMs?: undefined
      }
    | {
        /** A slot every this many milliseconds, at multiples of it since the epoch. */
        everyMs: number
        cron?: undefined
        tz?: undefined
      }

  /** The options of the jobs a schedule makes. */
  export interface ScheduleOptions {
    priority?: number
    maxAttempts?: number
  }

  /** A saved schedule, as `schedules` gives it. */
  export interface ScheduleInfo<TRequest = unknown> {
    name: string
    cron: string | null
    tz: string | null
    everyMs: number | null
    request: TRequest
    priority: number
    maxAttempts: number | null
    /** The latest slot a job was made for (or when the schedule was saved). */
    lastSlot: Date
    /** The next slot, or `null` when there is none. */
    next: Date | null
  }

  /** For a job a schedule made: which schedule, and the slot it was made for. */
  export interface ScheduledSlot {
    name: string
    slot: Date
  }

  /** The second argument of `respond`. */
  export interface Delivery {
    id: string
    value: Buffer
  }

  /**
   * Delivers a fulfilled job's value to one waiting target. Call `done()` when it was delivered
   * (the target is then unqueued), or `done(err)` when not (it stays queued).
   */
  export type Respond<TTarget = unknown> = (
    target: TTarget,
    delivery: Delivery,
    done: (err?: Error | null) => void,
  ) => void

  /** What `onresponsefailure` gets. */
  export interface ResponseFailure<TTarget = unknown> {
    id: string
    errors: Array<{ target: TTarget; error: Error }>
  }

  export interface JobStoreOptions<TTarget = unknown> {
    /** The store's folder; created when missing. Processes that share it share the queue. */
    dir: string | URL
    /** Called for each waiting target when a job is fulfilled, or queued on once fulfilled. */
    respond?: Respond<TTarget> | null
    /** fsync every acknowledged write (default `true`). */
    durable?: boolean
    /** Milliseconds between checks that this process's claims are still held (default 1000). */
    lockCheckInterval?: number
    /** Milliseconds a state update waits for another process's lock on the job (default 10000). */
    lockWait?: number
    /**
     * Inspect only (default `false`): nothing is created, swept, locked or written, and every
     * change (create, queue, pulls, fulfil, remove, prune, `check({ repair: true })` …) fails
     * with `EREADONLY`. The folder must already be a store (`ENOTSTORE` otherwise).
     */
    readOnly?: boolean
    /**
     * A job whose holders died (exited without fulfil, fail or release) this many times in a row
     * is set aside as failed (default 3). `Infinity` turns this off.
     */
    maxAbandoned?: number
    /** Claims a job may have before `job.fail` is final (default 1: no retry). */
    maxAttempts?: number
    /** The first retry's delay in milliseconds (default 1000), doubled for each further one. */
    backoffMs?: number
    /**
     * Run quick calls (create, pull, fulfil) on the JavaScript thread: `true`, `false`, or unset
     * to decide from the folder's filesystem (tmpfs; local disks when not durable).
     */
    inline?: boolean | null
    /** Fire the folder's schedules from this process even without a worker (default `false`). */
    schedules?: boolean
    /**
     * How often (ms) a waiting pull looks whether another machine added work: one `lstat` of the
     * marker folder, a full look only when it changed. Default 50 on network and unknown
     * filesystems (no file event crosses machines); on local ones, events wake waits at once.
     */
    pollMs?: number
    /**
     * @deprecated 1.2.0 accepted a replacement `fs` module. The native store does its own I/O,
     * so only Node's own `fs` is accepted; anything else throws.
     */
    fs?: typeof import('node:fs') | null
  }

  /** Options of `pullJob` and `pullNotification`. */
  export interface PullOptions {
    /** Wait up to this many milliseconds for something to pull (default 0: answer at once). */
    waitMs?: number
    /** Ends the wait early; the pull then gives `undefined`. */
    signal?: AbortSignal | null
  }

  /** What `stats` gives. */
  export interface Stats {
    /** Jobs in `pending/`: to be worked now, claimed ones included. */
    pending: number
    /** Pending jobs a worker (in any process) holds right now. */
    claimed: number
    /** Jobs that have a value (in no pending, failed or delayed marker). */
    fulfilled: number
    /** Jobs with targets waiting to be told their value. */
    waiting: number
    /** Jobs set aside as failed (poison jobs, and failures with no attempts left). */
    failed: number
    /** Jobs waiting for their time: delayed at create, or a retry's backoff. */
    delayed: number
    /** Jobs cancelled. */
    cancelled: number
    /** Age of the oldest pending job, or `null` when nothing is pending. */
    oldestPendingAgeMs: number | null
  }

  /** What `get` gives. */
  export interface JobInfo<TRequest = unknown, TTarget = unknown> {
    id: string
    state: 'pending' | 'delayed' | 'fulfilled' | 'failed' | 'cancelled'
    version: number
    request: TRequest
    waiting: TTarget[]
    /** From the job's id; `null` for jobs made by 1.2.0, whose records hold no time. */
    createdAt: Date | null
    /**
     * Present once the job is fulfilled; `null` for jobs fulfilled by 1.2.0 (or by 2.0.0 before
     * the time was recorded), which never recorded when.
     */
    fulfilledAt?: Date | null
    /** Present once the job is failed: when it was set aside. */
    failedAt?: Date | null
    /** Present while the job is delayed: when it may be pulled. */
    runAt?: Date
    /** Claims so far (each pull is one; `retry` starts again from 0). */
    attempts: number
    /** The recorded failures, oldest first (the last 20). */
    failures: Failure[]
    /** The latest value its worker gave `job.progress`, or `null`. */
    progress: unknown
    /** -9 to 9; higher is pulled first. */
    priority: number
    /** Its unique key, or `null`. */
    key: string | null
    /** The schedule that made it, or `null`. */
    schedule: ScheduledSlot | null
    /** Present once the job is cancelled: when. */
    cancelledAt?: Date | null
    /** Present once the job is cancelled: the reason given, or `null`. */
    cancelReason?: string | null
  }

  export interface ListOptions {
    /**
     * Only jobs in that state, only those with targets waiting, or only pending jobs a worker
     * holds right now (`'claimed'`) (default `'all'`).
     */
    state?: 'pending' | 'fulfilled' | 'waiting' | 'failed' | 'delayed' | 'cancelled' | 'claimed' | 'all'
    /** One page of at most this many ids (0 to 10,000); needed with `after` and `search`. */
    limit?: number
    /** The last id of the previous page. */
    after?: string
    /** The newest first (the page after `after` then holds older ids). */
    newestFirst?: boolean
    /** Only ids containing this text. */
    search?: string
  }

  /** One minute of `activity()`. */
  export interface ActivityMinute {
    /** The minute's start, ms since the epoch. */
    at: number
    created: number
    fulfilled: number
    /** Attempts that failed, retried or set aside. */
    failed: number
  }

  export interface RemoveOptions {
    /** Delete the job even if it is pending or has targets waiting. */
    force?: boolean
  }

  export interface PruneOptions {
    /** Only jobs fulfilled (or with `failed`, failed) at least this many milliseconds ago. */
    olderThanMs: number
    /**
     * Also remove jobs that ended without a value, failed or cancelled (default `false`: they are
     * kept until retried or pruned so).
     */
    failed?: boolean
  }

  export interface CheckOptions {
    /** Fix markers and the store's own leftovers (default `false`: only look). */
    repair?: boolean
  }

  /** The stable names of what `check` finds. */
  export type ProblemKind =
    | 'dangling-marker'
    | 'linked-job'
    | 'stray-file'
    | 'corrupt-state'
    | 'unreadable-job'
    | 'missing-value'
    | 'stale-pending-marker'
    | 'missing-pending-marker'
    | 'missing-waiting-marker'
    | 'stale-waiting-marker'
    | 'missing-failed-marker'
    | 'stale-failed-marker'
    | 'stale-delayed-marker'
    | 'missing-cancelled-marker'
    | 'stale-cancelled-marker'
    | 'stale-key'
    | 'leftover-temporary'
    | 'foreign-temporary'

  /** One problem `check` found. */
  export interface Problem {
    kind: ProblemKind
    /** The job concerned, or `null` for a file that belongs to no job. */
    id: string | null
    path: string
    message: string
    /** Whether `repair` fixed it. */
    repaired: boolean
    /** How old the entry is, where age decides what `repair` may do (markers, leftovers). */
    ageMs: number | null
  }

  /** A job claimed by `pullJob`: this process is its only worker until `release()`. */
  export interface Job<TRequest = unknown> {
    readonly id: string
    /** Starts at 0; `update` bumps it. */
    readonly version: number
    /** The request given to `create` (or `update`), parsed from JSON. */
    readonly request: TRequest
    /** This claim's number among the job's claims (each pull is one), from 1. */
    readonly attempts: number
    /** -9 to 9; higher is pulled first. */
    readonly priority: number
    /** Its unique key, or `null`. */
    readonly key: string | null
    /** For a job a schedule made: the schedule's name and the slot; otherwise `null`. */
    readonly schedule: ScheduledSlot | null
    /** Assign a function to hear, with an `ECOMPROMISED` error, that the claim was lost. */
    oncompromised: ((err: JobStoreError) => void) | null
    /**
     * Aborts when the work is no longer wanted: the claim was lost (`ECOMPROMISED`) or the job
     * cancelled (`ECANCELED`); `signal.reason` is that error.
     */
    readonly signal: AbortSignal
    /**
     * Records how far the work has come (any JSON value), visible from every process through
     * `get(id).progress`; fenced like `fulfill`. Not fsynced: a power cut may lose the latest.
     */
    progress(value: unknown, callback: VoidCallback): void
    progress(value: unknown): Promise<void>
    /** Lets go of the claim. Call it after fulfilling, and after a failure. */
    release(callback: VoidCallback): void
    release(): Promise<void>
    /** Fulfils the job only while this claim still holds (`ECOMPROMISED` otherwise). */
    fulfill(value: JobValue, callback: VoidCallback): void
    fulfill(value: JobValue): Promise<void>
    /**
     * Records that the work failed and lets go of the job (fenced like `fulfill`). While attempts
     * remain it is retried after `retryInMs` or the store's backoff: gives the retry's time;
     * otherwise it is set aside as failed: gives `null`.
     */
    fail(error: unknown, callback: Callback<Date | null>): void
    fail(error: unknown, options: FailOptions | undefined, callback: Callback<Date | null>): void
    fail(error: unknown, options?: FailOptions): Promise<Date | null>
  }

  /** A fulfilled job claimed by `pullNotification`, with the targets waiting for its value. */
  export interface Notification<TTarget = unknown> {
    readonly id: string
    /** The job's value. */
    readonly value: Buffer
    /** The targets waiting for the value, in the order they were queued. */
    readonly waiting: TTarget[]
    /** Assign a function to hear, with an `ECOMPROMISED` error, that the claim was lost. */
    oncompromised: ((err: JobStoreError) => void) | null
    /**
     * Unqueues the `delivered` targets and releases the claim. `err` is what the notifier met;
     * the store does not act on it. Targets not in `delivered` stay queued for a later pull.
     */
    done(err: Error | null | undefined, delivered: readonly TTarget[] | null | undefined, callback: VoidCallback): void
    done(err?: Error | null, delivered?: readonly TTarget[] | null): Promise<void>
  }

  /** What a handler's signal and the worker know of the job it runs. */
  export interface HandlerContext {
    /**
     * Aborts when the claim is lost (`ECOMPROMISED`), the job is cancelled (`ECANCELED`), its
     * `timeoutMs` passes (`ETIMEDOUT`) or the worker's close time limit passes (`ESHUTDOWN`).
     * After that, whatever the handler returns is not recorded.
     */
    signal: AbortSignal
  }

  export type Handler<TRequest = unknown, TResult = unknown> = (job: Job<TRequest>, context: HandlerContext) => TResult | Promise<TResult>

  export interface WorkerOptions {
    /** Jobs in progress at once in this worker (default 1). */
    concurrency?: number
    /** A job running longer fails with `ETIMEDOUT` (retried as configured); its signal aborts. */
    timeoutMs?: number
    /** Closes the worker when it aborts. */
    signal?: AbortSignal
  }

  export interface CloseOptions {
    /**
     * How long to wait for the work in progress (default: as long as it takes); then its signals
     * abort with `ESHUTDOWN` and its jobs are given back, pending again and not counted as
     * attempts.
     */
    timeoutMs?: number
  }

  /** What `process` returns: the pull loop, running until closed. */
  export interface Worker<TRequest = unknown, TResult = unknown> extends NodeJS.EventEmitter {
    /** Jobs in progress now. */
    readonly running: number
    /** Stops pulling at once; resolves when nothing of the worker is left running. */
    close(options?: CloseOptions): Promise<void>
    on(event: 'completed', listener: (job: Job<TRequest>, result: TResult) => void): this
    /** `retryAt`: when the job will be tried again, or `null` when it was set aside as failed. */
    on(event: 'failed', listener: (job: Job<TRequest>, error: unknown, retryAt: Date | null) => void): this
    on(event: 'cancelled', listener: (job: Job<TRequest>, error: JobStoreError) => void): this
    on(event: 'progress', listener: (job: Job<TRequest>, progress: unknown) => void): this
    /** Anything the worker met that is not a job's own failure; the worker goes on. */
    on(event: 'error', listener: (error: JobStoreError) => void): this
    /** A pull found nothing left to do. */
    on(event: 'drained', listener: () => void): this
    on(event: 'close', listener: () => void): this
    once(event: 'close' | 'drained', listener: () => void): this
  }

  export interface DeliverContext {
    /** The fulfilled job's id. */
    id: string
    /** Its value. */
    value: Buffer
    /** Aborts when the claim is lost, the delivery's `timeoutMs` passes, or the deliverer closes. */
    signal: AbortSignal
  }

  export type DeliverHandler<TTarget = unknown> = (target: TTarget, context: DeliverContext) => unknown

  export interface DelivererOptions {
    /** Jobs whose targets are delivered at once (default 1). */
    concurrency?: number
    /** Delivering one job's targets longer than this counts as a failure for those not done. */
    timeoutMs?: number
    /** The first wait before failed targets are tried again (default 1000), doubled after. */
    backoffMs?: number
    /** Closes the deliverer when it aborts. */
    signal?: AbortSignal
  }

  /** What `deliver` returns. */
  export interface Deliverer<TTarget = unknown> extends NodeJS.EventEmitter {
    /** Jobs whose targets are being delivered now. */
    readonly running: number
    close(options?: CloseOptions): Promise<void>
    on(event: 'completed', listener: (target: TTarget, info: { id: string }) => void): this
    on(event: 'failed', listener: (target: TTarget, error: unknown, info: { id: string; retryAt: Date }) => void): this
    on(event: 'error', listener: (error: JobStoreError) => void): this
    on(event: 'drained' | 'close', listener: () => void): this
  }

  export interface CancelOptions {
    /** Recorded with the job, shown by `get` and `fs-job-store show`. */
    reason?: string
  }
}

export = JobStore
