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
   * Opens (and creates when missing) the store in `options.dir`.
   * @throws {JobStore.JobStoreError} `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for a bad
   * option, or an OS error code when the folder cannot be created or opened.
   */
  constructor(options: JobStore.JobStoreOptions<TTarget>)

  /**
   * Set to a function to hear about targets that `respond` failed to serve. Those targets stay
   * queued. `null` (the default) ignores failures.
   */
  onresponsefailure: ((failure: JobStore.ResponseFailure<TTarget>) => void) | null

  /** Adds a pending job. Ids look like `job-<uuid v7>`: unique, sorted by creation time. */
  create(request: TRequest, callback: JobStore.Callback<JobStore.Created>): void
  create(request: TRequest): Promise<JobStore.Created>

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
   * Fails with `EALREADYRESOLVED` when the job already has a value.
   */
  fulfill(id: string, value: JobStore.JobValue, callback: JobStore.VoidCallback): void
  fulfill(id: string, value: JobStore.JobValue): Promise<void>

  /**
   * Replaces a pending job's request if its version is still `oldVersion`, and bumps the
   * version. Fails with `EVERSIONMISMATCH` or `EALREADYRESOLVED`.
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

  /** Counts over the whole store; cheap enough to call every second on a large store. */
  stats(callback: JobStore.Callback<JobStore.Stats>): void
  stats(): Promise<JobStore.Stats>

  /** One job's record. Fails with `ENOJOB` for an unknown id. */
  get(id: string, callback: JobStore.Callback<JobStore.JobInfo<TRequest, TTarget>>): void
  get(id: string): Promise<JobStore.JobInfo<TRequest, TTarget>>

  /** A job's value, or `undefined` while it is pending. */
  value(id: string, callback: JobStore.Callback<Buffer | undefined>): void
  value(id: string): Promise<Buffer | undefined>

  /** Job ids, oldest first; `state` narrows the list. */
  list(callback: JobStore.Callback<string[]>): void
  list(options: JobStore.ListOptions | undefined, callback: JobStore.Callback<string[]>): void
  list(options?: JobStore.ListOptions): Promise<string[]>

  /**
   * Deletes a fulfilled job with no waiting targets (`EPENDING` / `EWAITING` otherwise, unless
   * `force`). A job a worker or notifier holds is never deleted (`ECLAIMED`).
   */
  remove(id: string, callback: JobStore.VoidCallback): void
  remove(id: string, options: JobStore.RemoveOptions | undefined, callback: JobStore.VoidCallback): void
  remove(id: string, options?: JobStore.RemoveOptions): Promise<void>

  /**
   * Deletes fulfilled jobs with no waiting targets, fulfilled at least `olderThanMs` ago, and
   * gives how many went. Pending, claimed and waiting jobs are never touched.
   */
  prune(options: JobStore.PruneOptions, callback: JobStore.Callback<number>): void
  prune(options: JobStore.PruneOptions): Promise<number>

  /**
   * Lists every problem found in the folder. With `{ repair: true }` fixes what is safe to fix
   * (markers and leftovers), never a job's request or value.
   */
  check(callback: JobStore.Callback<JobStore.Problem[]>): void
  check(options: JobStore.CheckOptions | undefined, callback: JobStore.Callback<JobStore.Problem[]>): void
  check(options?: JobStore.CheckOptions): Promise<JobStore.Problem[]>

  /** Ends waiting pulls and stops this store's watchers. Claims still held stay held until released. */
  close(callback: JobStore.VoidCallback): void
  close(): Promise<void>
}

declare namespace JobStore {
  // The class is also `require('fs-job-store').JobStore` and `.default`.
  export { JobStore, JobStore as default }

  /** Codes of the store's own errors. */
  export type StoreErrorCode =
    /** `fulfill` or `update` on a job that already has a value (message `already resolved`). */
    | 'EALREADYRESOLVED'
    /** `update` with a version that is not the job's current one (message `version mismatch`). */
    | 'EVERSIONMISMATCH'
    /** No job with that id in the store. */
    | 'ENOJOB'
    /** An id that is not a string, or not one safe path segment. */
    | 'EINVALIDID'
    /** Another process held the job's state lock longer than `lockWait`. */
    | 'ELOCKED'
    /** The claim on a job or notification was lost. */
    | 'ECOMPROMISED'
    /** A file of the job cannot be read as what it should be; the message names it. */
    | 'ECORRUPT'
    /** `remove` of a job that is still pending (without `force`). */
    | 'EPENDING'
    /** `remove` of a job that has targets waiting (without `force`). */
    | 'EWAITING'
    /** `remove` of a job a worker or notifier holds right now. */
    | 'ECLAIMED'
    /** An argument of the wrong type. */
    | 'ERR_INVALID_ARG_TYPE'
    /** An argument of the right type but an unusable value. */
    | 'ERR_INVALID_ARG_VALUE'
    /** `require('fs-job-store')` found no native binary for this platform. */
    | 'ENATIVEMISSING'
    /** `require('fs-job-store')` on a platform the store does not support (Windows). */
    | 'EPLATFORM'

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
    /** Jobs that need work. */
    pending: number
    /** Pending jobs a worker (in any process) holds right now. */
    claimed: number
    /** Jobs that have a value. */
    fulfilled: number
    /** Jobs with targets waiting to be told their value. */
    waiting: number
    /** Age of the oldest pending job, or `null` when nothing is pending. */
    oldestPendingAgeMs: number | null
  }

  /** What `get` gives. */
  export interface JobInfo<TRequest = unknown, TTarget = unknown> {
    id: string
    state: 'pending' | 'fulfilled'
    version: number
    request: TRequest
    waiting: TTarget[]
    createdAt: Date
    /** Set once the job is fulfilled. */
    fulfilledAt?: Date
  }

  export interface ListOptions {
    /** Only pending jobs, only fulfilled ones, or only those with targets waiting. */
    state?: 'pending' | 'fulfilled' | 'waiting' | 'all'
  }

  export interface RemoveOptions {
    /** Delete the job even if it is pending or has targets waiting. */
    force?: boolean
  }

  export interface PruneOptions {
    /** Only jobs fulfilled at least this many milliseconds ago. */
    olderThanMs: number
  }

  export interface CheckOptions {
    /** Fix markers and leftovers. */
    repair?: boolean
  }

  /** One problem `check` found. */
  export interface Problem {
    /** A stable name, e.g. `corrupt-state`, `dangling-marker`, `missing-waiting-marker`. */
    kind: string
    /** The job concerned, or `null` for a file that belongs to no job. */
    id: string | null
    path: string
    message: string
    /** Whether `repair` fixed it. */
    repaired: boolean
  }

  /** A job claimed by `pullJob`: this process is its only worker until `release()`. */
  export interface Job<TRequest = unknown> {
    readonly id: string
    /** Starts at 0; `update` bumps it. */
    readonly version: number
    /** The request given to `create` (or `update`), parsed from JSON. */
    readonly request: TRequest
    /** Assign a function to hear, with an `ECOMPROMISED` error, that the claim was lost. */
    oncompromised: ((err: JobStoreError) => void) | null
    /** Lets go of the claim. Call it after fulfilling, and after a failure. */
    release(callback: VoidCallback): void
    release(): Promise<void>
    /** Fulfils the job only while this claim still holds (`ECOMPROMISED` otherwise). */
    fulfill(value: JobValue, callback: VoidCallback): void
    fulfill(value: JobValue): Promise<void>
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
}

export = JobStore
