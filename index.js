'use strict'
// fs-job-store 2: the public JobStore class. It keeps 1.2.0's API (callbacks, objects, error
// messages) and adds Promises; the folder work is done by the native core.

const fs = require('node:fs')
const { fileURLToPath } = require('node:url')
const { NativeStore, listingNames } = require('./lib/native')
const { settle, ignore, afterInline } = require('./lib/callback')
const { Job, Notification } = require('./lib/claims')
const { Worker, Deliverer, warn } = require('./lib/runtime')
const { Scheduler } = require('./lib/scheduler')
const { storeError, invalidArgType, invalidArgValue, checkId, toJson, toBytes } = require('./lib/errors')

/** The listings `list` takes, named by the core, so one set of names has one owner. */
const LISTINGS = listingNames()

const DEFAULTS = { durable: true, lockCheckInterval: 1000, lockWait: 10000, readOnly: false, maxAbandoned: 3, maxAttempts: 1, backoffMs: 1000 }

class JobStore {
  /**
   * @param {object} options
   * @param {string|URL} options.dir the store's folder; created when missing, shareable by processes
   * @param {Function} [options.respond] `(target, {id, value}, done)`, called for each waiting target
   * @param {boolean} [options.durable=true] fsync before acknowledging
   * @param {number} [options.lockCheckInterval=1000] ms between checks that held claims still hold
   * @param {number} [options.lockWait=10000] ms a state update waits for a job's state lock
   * @param {boolean} [options.readOnly=false] inspect only: nothing is created, swept, locked or
   *   written, and every change fails with `EREADONLY`
   * @param {number} [options.maxAbandoned=3] a job whose holders died this many times in a row is
   *   set aside as failed; `Infinity` never
   * @param {number} [options.maxAttempts=1] claims a job may have before `job.fail` is final
   * @param {number} [options.backoffMs=1000] the first retry's delay; doubled (with jitter) after,
   *   up to an hour
   * @param {boolean} [options.inline] run quick operations on the JavaScript thread; by default
   *   decided from the folder's filesystem (tmpfs; ext4, xfs or btrfs when not durable)
   * @param {object} [options.fs] 1.2.0's replacement `fs` module: only Node's own is accepted
   */
  constructor(options) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options)
    let { dir, respond, fs: customFs } = options
    if (dir instanceof URL) dir = fileURLToPath(dir)
    if (typeof dir !== 'string') throw invalidArgType('options.dir', 'a string or file URL', dir)
    if (dir === '' || dir.includes('\0')) throw invalidArgValue('options.dir', 'must be a folder path, not empty or with NUL bytes')
    if (customFs !== undefined && customFs !== null && customFs !== fs) {
      throw invalidArgValue('options.fs', "is not supported: the native store does its own file I/O. Remove the option (Node's own fs is the only one accepted)")
    }
    if (respond !== undefined && respond !== null && typeof respond !== 'function') {
      throw invalidArgType('options.respond', 'a function (target, {id, value}, done)', respond)
    }
    const durable = option(options, 'durable', 'boolean')
    const lockCheckInterval = option(options, 'lockCheckInterval', 'number')
    const lockWait = option(options, 'lockWait', 'number')
    const readOnly = option(options, 'readOnly', 'boolean')
    const inline = options.inline === undefined || options.inline === null ? undefined : option(options, 'inline', 'boolean')
    const pollMs = options.pollMs === undefined || options.pollMs === null ? undefined : option(options, 'pollMs', 'number')
    const maxAbandoned = count(options, 'maxAbandoned', true)
    const maxAttempts = count(options, 'maxAttempts', false)
    const backoffMs = milliseconds(options, 'backoffMs', DEFAULTS.backoffMs)

    // The native side reaches back only through a weak reference, so a store nobody uses can be
    // collected even though its claim watcher holds this callback.
    const self = new WeakRef(this)
    // Throws errors of the same shape as every call's (code, message, path, errno, syscall).
    this._native = new NativeStore({ dir, durable, lockCheckInterval, lockWait, readOnly, maxAbandoned, maxAttempts, backoffMs, inline, pollMs }, (claim, code, message) => {
      const store = self.deref()
      if (store) store._lost(claim, code, message)
    })
    this._dir = dir
    this._readOnly = readOnly
    this._respond = respond || null
    /** Set to a function to hear `{ id, errors: [{ target, error }] }` when `respond` fails. */
    this.onresponsefailure = null
    /** The jobs and notifications this store handed out, by claim: what `oncompromised` reaches.
     * Whether a claim holds is Rust's to say. */
    this._held = new Map()
    this._claimSurface = claimSurface(this)
    this._flushes = new Map()
    /** The workers and deliverers `process` and `deliver` started, closed with the store. */
    this._runtimes = new Set()
    /** Fires the folder's schedules while a worker runs, or from the start with `schedules: true`. */
    this._scheduler = new Scheduler(this._native, (err) => this._runtimeError(err))
    if (options.schedules === true && !readOnly) this._scheduler.start()
    this._waits = 0
    this._closed = false
  }

  /** Adds a job. `{ delayMs }` or `{ runAt }` holds it back until then; `{ maxAttempts }`
   * overrides the store's for this job; `{ priority }` (-9 to 9, higher first) orders it;
   * `{ key }` makes no new job while one holding that key is still to be done. Resolves
   * `{ id }`; with a key, `{ id, created }` (`created: false`: the key's job was answered). */
  create(request, options, cb) {
    ;[options, cb] = optionsAndCallback(options, cb)
    return settle(cb, async () => {
      const native = createOptions(options)
      const { id, created } = await afterInline(this._native.createNow(toJson('request', request), native))
      // 1.2.0's answer is `{ id }`; a keyed create also says whether it made the job.
      return native.key === undefined ? { id } : { id, created }
    })
  }

  /** Adds one job per request, acknowledged together (one flush of the disk for the batch):
   * resolves `[{ id }]` in order. On an error part-way, `err.created` lists the ids made (the
   * first requests); the others left nothing behind. Takes `create`'s options but `key`. */
  createMany(requests, options, cb) {
    ;[options, cb] = optionsAndCallback(options, cb)
    return settle(cb, async () => {
      if (!Array.isArray(requests)) throw invalidArgType('requests', 'an array of requests', requests)
      const texts = requests.map((request, i) => toJson(`requests[${i}]`, request))
      const ids = await this._native.createMany(texts, createOptions(options))
      return ids.map((id) => ({ id }))
    })
  }

  queue(id, target, cb) {
    return settle(cb, async () => {
      // On a fulfilled job Rust answers with what `respond` needs, so no second trip is made.
      const delivery = await this._native.queue(checkId(id), toJson('target', target))
      if (delivery) await this._flush(id, delivery).catch(ignore)
    })
  }

  unqueue(id, target, cb) {
    return settle(cb, () => this._unqueueAll(id, [target]))
  }

  unqueueAll(id, targets, cb) {
    return settle(cb, () => this._unqueueAll(id, targets))
  }

  flush(id, cb) {
    return settle(cb, () => this._flush(checkId(id)))
  }

  fulfill(id, value, cb) {
    return settle(cb, async () => {
      const bytes = toBytes('value', value)
      await this._served(id, bytes, await afterInline(this._native.fulfillNow(checkId(id), bytes)))
    })
  }

  update(id, oldVersion, newRequest, cb) {
    return settle(cb, async () => {
      // A non-number can never equal the stored version: 1.2.0 compared with !==.
      const version = typeof oldVersion === 'number' ? oldVersion : NaN
      await this._native.update(checkId(id), version, toJson('newRequest', newRequest))
    })
  }

  /**
   * Claims the pending job nobody holds that comes first (the highest priority, then the
   * oldest); `undefined` when there is none. With `{ waitMs }` it waits that long for one to
   * arrive (woken by filesystem events, not polling); `{ signal }` ends the wait early.
   */
  pullJob(options, cb) {
    ;[options, cb] = optionsAndCallback(options, cb)
    return settle(cb, async () => {
      const found = await this._wait(
        waitOptions(options),
        () => afterInline(this._native.pullJobNow()),
        (waitMs, token) => this._native.pullJobWait(waitMs, token),
      )
      return found ? new Job(this._claimSurface, found) : undefined
    })
  }

  /** 1.2.0's README name for `pullJob`. */
  pullWork(options, cb) {
    return this.pullJob(options, cb)
  }

  /** Claims a fulfilled job with waiting targets; `undefined` when there is none. Takes the same
   * `{ waitMs, signal }` options as `pullJob`. */
  pullNotification(options, cb) {
    ;[options, cb] = optionsAndCallback(options, cb)
    return settle(cb, () => this._pullNotification(waitOptions(options), []))
  }

  /** Like `pullNotification`, passing over the jobs named in `skip`. */
  async _pullNotification(options, skip) {
    const found = await this._wait(
      options,
      () => afterInline(this._native.pullNotificationNow(skip)),
      (waitMs, token) => this._native.pullNotificationWait(waitMs, token, skip),
    )
    return found ? new Notification(this._claimSurface, found) : undefined
  }

  /**
   * Runs `handler(job, { signal })` for each job, `concurrency` at a time, until closed: what it
   * returns becomes the job's value, what it throws fails the job (retried as configured). See
   * docs/workers.md. Returns the `Worker`, an EventEmitter.
   */
  process(handler, options) {
    return this._runtime(new Worker(this, handler, options))
  }

  /**
   * Runs `handler(target, { id, value, signal })` for each target waiting for a fulfilled job's
   * value, `concurrency` at a time: a target whose handler resolved is marked delivered, the
   * others are tried again later with a backoff. Returns the `Deliverer`, an EventEmitter.
   */
  deliver(handler, options) {
    return this._runtime(new Deliverer(this, handler, options))
  }

  _runtime(runtime) {
    if (this._closed) throw storeError('ECLOSED', 'the store is closed; open a new JobStore to process jobs')
    if (this._readOnly) throw storeError('EREADONLY', 'the store was opened with readOnly: true; a worker changes jobs, so open it read-write')
    this._runtimes.add(runtime)
    runtime.once('close', () => this._runtimes.delete(runtime))
    runtime.start()
    if (runtime instanceof Worker) this._scheduler.start()
    return runtime
  }

  /** What the scheduler met: the workers' `error` event, or a process warning. */
  _runtimeError(err) {
    const workers = [...this._runtimes]
    if (workers.length > 0) for (const worker of workers) worker._error(err)
    else warn(err)
  }

  /**
   * Saves a schedule: `rule` is `{ cron, tz }` (a cron expression, 5 fields or 6 with seconds,
   * in an IANA time zone, UTC by default) or `{ everyMs }`. At each slot one job is made with
   * `request` and `options` (priority, maxAttempts), once however many processes fire it; every
   * process running `process` (or opened with `schedules: true`) fires them. Saving a schedule
   * of an existing name replaces it.
   */
  schedule(name, rule, request, options, cb) {
    ;[options, cb] = optionsAndCallback(options, cb)
    return settle(cb, () => {
      if (typeof name !== 'string') throw invalidArgType('name', 'a string', name)
      if (rule === null || typeof rule !== 'object') throw invalidArgType('rule', 'an object: { cron, tz } or { everyMs }', rule)
      const { cron, tz, everyMs } = rule
      if ((cron === undefined) === (everyMs === undefined)) throw invalidArgValue('rule', 'takes cron (with an optional tz) or everyMs, one of the two')
      if (cron !== undefined && typeof cron !== 'string') throw invalidArgType('rule.cron', 'a cron expression', cron)
      if (tz !== undefined && typeof tz !== 'string') throw invalidArgType('rule.tz', 'an IANA time zone name', tz)
      if (everyMs !== undefined && !(Number.isInteger(everyMs) && everyMs >= 1)) throw invalidArgType('rule.everyMs', 'a whole number of milliseconds, 1 or more', everyMs)
      const { priority, maxAttempts } = createOptions({ priority: options.priority, maxAttempts: options.maxAttempts })
      return this._native.schedule(name, { cron, tz, everyMs }, toJson('request', request), { priority, maxAttempts })
    })
  }

  /** Removes a schedule; resolves whether there was one. Jobs it made stay. */
  unschedule(name, cb) {
    return settle(cb, () => {
      if (typeof name !== 'string') throw invalidArgType('name', 'a string', name)
      return this._native.unschedule(name)
    })
  }

  /** Every schedule: `{ name, cron, tz, everyMs, request, priority, maxAttempts, lastSlot, next }`. */
  schedules(cb) {
    return settle(cb, async () =>
      (await this._native.schedules()).map((s) => ({
        name: s.name,
        cron: s.cron ?? null,
        tz: s.tz ?? null,
        everyMs: s.everyMs ?? null,
        request: JSON.parse(s.request),
        priority: s.priority,
        maxAttempts: s.maxAttempts ?? null,
        lastSlot: new Date(s.lastSlot),
        next: s.next == null ? null : new Date(s.next),
      })),
    )
  }

  /** Cancels a job that is pending, delayed, failed or being worked on, in any process:
   * `{ reason }` is recorded. Its holder's signal aborts with `ECANCELED`. */
  cancel(id, options, cb) {
    ;[options, cb] = optionsAndCallback(options, cb)
    return settle(cb, () => {
      const { reason } = options
      if (reason !== undefined && typeof reason !== 'string') throw invalidArgType('options.reason', 'a string', reason)
      return this._native.cancel(checkId(id), reason)
    })
  }

  /** Yields jobs as they come, until `signal` aborts or the store is closed. */
  jobs({ signal } = {}) {
    return this._iterate((options) => this.pullJob(options), signal)
  }

  /** Yields notifications as they come, until `signal` aborts or the store is closed. */
  notifications({ signal } = {}) {
    return this._iterate((options) => this.pullNotification(options), signal)
  }

  /** Counts: `{ pending, claimed, fulfilled, waiting, failed, delayed, cancelled, oldestPendingAgeMs }`. */
  stats(cb) {
    return settle(cb, async () => {
      const { pending, claimed, fulfilled, waiting, failed, delayed, cancelled, oldestPendingAgeMs } = await this._native.stats()
      return { pending, claimed, fulfilled, waiting, failed, delayed, cancelled, oldestPendingAgeMs: oldestPendingAgeMs ?? null }
    })
  }

  /** Makes a failed job pending again now, its attempts counted from zero. */
  retry(id, cb) {
    return settle(cb, () => this._native.retry(checkId(id)))
  }

  /** Makes a delayed job, or one waiting out a retry's backoff, pending now. Fails `ENOTDELAYED` for any other. */
  runNow(id, cb) {
    return settle(cb, () => this._native.runNow(checkId(id)))
  }

  /**
   * How job `id` ended: resolves its value (a Buffer) once fulfilled, rejects with `EFAILED`
   * (and `err.failure`, the last one recorded) once failed. Waits for the end, woken by
   * filesystem events; `{ waitMs }` bounds the wait (`ETIMEDOUT`), `{ signal }` ends it
   * (`ABORT_ERR`). `{ waitMs: 0 }` answers at once (`ETIMEDOUT` if the job has not ended).
   */
  result(id, options, cb) {
    ;[options, cb] = optionsAndCallback(options, cb)
    return settle(cb, async () => {
      checkId(id)
      const { waitMs = Infinity, signal = null } = options
      if (typeof waitMs !== 'number' || !(waitMs >= 0)) throw invalidArgType('options.waitMs', 'a number of milliseconds (0 or more)', waitMs)
      if (signal !== null && !(signal instanceof AbortSignal)) throw invalidArgType('options.signal', 'an AbortSignal', signal)
      try {
        const value = await this._wait({ waitMs, signal }, () => this._native.result(id), (ms, token) => this._native.resultWait(id, ms, token))
        if (value) return value
      } catch (err) {
        if (err.code === 'EFAILED') err.failure = (await this.get(id).catch(() => ({ failures: [] }))).failures.at(-1) ?? null
        throw err
      }
      if (signal && signal.aborted) throw Object.assign(new Error(`the wait for job '${id}' was aborted`), { name: 'AbortError', code: 'ABORT_ERR', cause: signal.reason })
      // The core's own ECLOSED, so its message has one home.
      if (this._closed) return this._native.result(id)
      throw storeError('ETIMEDOUT', `job '${id}' did not end within ${waitMs} ms; it is still pending or delayed`, { id })
    })
  }

  /** One job's record: `{ id, state, version, request, waiting, createdAt, attempts, failures,
   * fulfilledAt?, failedAt?, runAt? }`; `state` is 'pending', 'delayed', 'fulfilled' or 'failed'.
   * Times the record cannot know are `null`: `createdAt` for 1.2.0's ids, `fulfilledAt` for jobs
   * fulfilled by 1.2.0. `fulfilledAt`, `failedAt` and `runAt` are present only in their state. */
  get(id, cb) {
    return settle(cb, async () => {
      const info = await this._native.get(checkId(id))
      const job = {
        id: info.id,
        state: info.state,
        version: info.version,
        request: info.request == null ? undefined : JSON.parse(info.request),
        waiting: JSON.parse(info.waiting),
        createdAt: info.createdAt == null ? null : new Date(info.createdAt),
        attempts: info.attempts,
        failures: JSON.parse(info.failures).map(({ at, error }) => ({ at: new Date(at), error })),
        progress: info.progress == null ? null : JSON.parse(info.progress),
        priority: info.priority,
        key: info.key ?? null,
        schedule: info.schedule == null ? null : { name: info.schedule, slot: new Date(info.slot) },
      }
      if (info.state === 'fulfilled') job.fulfilledAt = info.fulfilledAt == null ? null : new Date(info.fulfilledAt)
      if (info.state === 'failed') job.failedAt = info.failedAt == null ? null : new Date(info.failedAt)
      if (info.state === 'delayed') job.runAt = new Date(info.runAt)
      if (info.state === 'cancelled') {
        job.cancelledAt = info.cancelledAt == null ? null : new Date(info.cancelledAt)
        job.cancelReason = info.cancelReason ?? null
      }
      return job
    })
  }

  /** A job's value as a Buffer; `undefined` until it is fulfilled (pending, delayed or failed). */
  value(id, cb) {
    return settle(cb, async () => (await this._native.value(checkId(id))) || undefined)
  }

  /** Ids in pull order (higher priority, then oldest): `{ state }` ('all', the default, 'pending', 'fulfilled', 'waiting',
   * 'failed', 'delayed' or 'cancelled') narrows the list. With `{ limit }`, one page: at most `limit` ids, those after
   * `after` (the last id of the previous page), newest first with `newestFirst: true`, only ids containing `search`;
   * a page costs a listing of the state's folder, never a read of every record. */
  list(options, cb) {
    ;[options, cb] = optionsAndCallback(options, cb)
    return settle(cb, () => {
      const state = options.state === undefined ? 'all' : options.state
      if (!LISTINGS.includes(state)) {
        throw invalidArgValue('options.state', `must be one of ${LISTINGS.map((name) => `'${name}'`).join(', ')}. Received ${String(state)}`)
      }
      const { limit, after, search } = options
      if (limit === undefined || limit === null) {
        if (after !== undefined || search !== undefined) throw invalidArgValue('options.limit', 'is needed with after or search (a page of the list)')
        return this._native.list(state)
      }
      if (!Number.isInteger(limit) || limit < 0 || limit > 10000) throw invalidArgType('options.limit', 'a whole number from 0 to 10000', limit)
      if (after !== undefined && after !== null) checkId(after, 'options.after')
      if (search !== undefined && search !== null && typeof search !== 'string') throw invalidArgType('options.search', 'a string', search)
      return this._native.list(state, { limit, after: after ?? undefined, newestFirst: Boolean(options.newestFirst), search: search ?? undefined })
    })
  }

  /** The id of the job created with unique key `key` (while its link stays: until it ends and a new job takes the
   * key, or it is removed), or `undefined`. */
  jobOfKey(key, cb) {
    return settle(cb, async () => {
      if (typeof key !== 'string') throw invalidArgType('key', 'a string', key)
      return (await this._native.jobOfKey(key)) ?? undefined
    })
  }

  /** Jobs created, fulfilled and failed (attempts, retried or not) per minute over the last hour, by every process
   * using the folder: 60 `{ at, created, fulfilled, failed }`, oldest first, `at` the minute's start (ms). A
   * process's counts reach the folder within a second. */
  activity(cb) {
    return settle(cb, () => this._native.activity())
  }

  /** Deletes a fulfilled or failed job with no waiting targets; `{ force: true }` deletes any job
   * nobody holds. Fails `EPENDING`, `EWAITING` or `ECLAIMED` otherwise. */
  remove(id, options, cb) {
    ;[options, cb] = optionsAndCallback(options, cb)
    return settle(cb, () => this._native.remove(checkId(id), Boolean(options.force)))
  }

  /** Removes fulfilled jobs with no waiting targets fulfilled at least `olderThanMs` ago, and with
   * `{ failed: true }` failed jobs set aside that long ago; resolves how many. */
  prune(options, cb) {
    ;[options, cb] = optionsAndCallback(options, cb)
    return settle(cb, () => {
      const { olderThanMs } = options
      if (typeof olderThanMs !== 'number' || !(olderThanMs >= 0)) {
        throw invalidArgType('options.olderThanMs', 'a number of milliseconds (0 or more)', olderThanMs)
      }
      return this._native.prune(olderThanMs, Boolean(options.failed))
    })
  }

  /** Finds what is wrong in the folder: `[{ kind, id, path, message, repaired, ageMs }]`. With
   * `{ repair: true }` fixes what is safe (stale and missing markers, markers pointing nowhere once
   * older than the 15-minute grace period, the store's own leftovers); never deletes a job's data. */
  check(options, cb) {
    ;[options, cb] = optionsAndCallback(options, cb)
    return settle(cb, async () =>
      (await this._native.check(Boolean(options.repair))).map(({ kind, id, path, message, repaired, ageMs }) => ({
        kind,
        id: id ?? null,
        path,
        message,
        repaired,
        ageMs: ageMs ?? null,
      })),
    )
  }

  /** Ends waiting pulls, releases the claims this store holds and every file descriptor, watch
   * and timer it has, so the folder's filesystem can be unmounted. Later calls fail `ECLOSED`. */
  close(cb) {
    return settle(cb, () => {
      this._closed = true
      this._scheduler.stop()
      // Workers first: they stop pulling and give their jobs back before the claims go.
      const runtimes = [...this._runtimes]
      for (const runtime of runtimes) runtime._closeNow()
      this._held.clear()
      this._native.close()
      // Resolved once nothing of them runs any more (their `close` events have fired).
      if (runtimes.length > 0) return Promise.all(runtimes.map((runtime) => runtime.close())).then(ignore)
    })
  }

  /** Pulls at once, or with `waitMs` waits for something to pull until then, the signal or close. */
  async _wait({ waitMs, signal }, now, later) {
    if (waitMs === 0 || this._closed) return now()
    if (signal && signal.aborted) return null
    const token = ++this._waits
    const cancel = () => this._native.cancelWait(token)
    if (signal) signal.addEventListener('abort', cancel, { once: true })
    try {
      return await later(waitMs, token)
    } finally {
      if (signal) signal.removeEventListener('abort', cancel)
    }
  }

  async *_iterate(pull, signal) {
    while (!this._closed && !(signal && signal.aborted)) {
      const claimed = await pull({ waitMs: 60000, signal })
      if (claimed) yield claimed
    }
  }

  async _unqueueAll(id, targets) {
    checkId(id)
    if (!Array.isArray(targets)) throw invalidArgType('targets', 'an array', targets)
    await this._native.unqueueAll(id, toJson('targets', targets))
  }

  /** After a fulfil: `waiting` (JSON text, from Rust) are the targets to serve with `value`. */
  async _served(id, value, waiting) {
    if (waiting) await this._flush(id, { value: Buffer.from(value), waiting }).catch(ignore)
  }

  /** Delivers a fulfilled job's value to its waiting targets through `respond`. A call that
   * arrives while a pass runs gets the next pass (targets queued meanwhile are not missed); calls
   * arriving together share it. `known` is a delivery Rust just handed over; it is used only when
   * no pass is in flight, since one in flight may have served some of its targets. */
  _flush(id, known) {
    let slot = this._flushes.get(id)
    if (!slot) {
      slot = { tail: Promise.resolve(), next: null }
      this._flushes.set(id, slot)
    } else {
      known = undefined
    }
    if (slot.next) return slot.next
    const pass = slot.tail.then(() => {
      if (slot.next === pass) slot.next = null
      return this._deliver(id, known)
    })
    slot.next = pass
    const tail = pass.then(ignore, ignore).then(() => {
      if (slot.tail === tail) this._flushes.delete(id)
    })
    slot.tail = tail
    return pass
  }

  async _deliver(id, known) {
    // Read first even without `respond`: a flush of a missing or damaged job is an error.
    const delivery = known || (await this._native.delivery(id))
    const respond = this._respond
    if (!delivery || !respond) return
    const targets = JSON.parse(delivery.waiting)
    const outcomes = await Promise.all(targets.map((target) => respondTo(respond, target, { id, value: delivery.value })))
    const delivered = targets.filter((_, i) => outcomes[i] === null)
    if (delivered.length > 0) await this._native.unqueueAll(id, JSON.stringify(delivered))
    const errors = []
    outcomes.forEach((error, i) => error !== null && errors.push({ target: targets[i], error }))
    const listener = this.onresponsefailure
    if (errors.length > 0 && typeof listener === 'function') {
      try {
        listener({ id, errors })
      } catch (err) {
        // Like a throwing callback: an uncaught exception, not a failure of the fulfil or queue
        // that caused this flush (nor an error swallowed inside it).
        process.nextTick(() => {
          throw err
        })
      }
    }
  }

  /** Called from the native claim watcher: the claim was lost (`ECOMPROMISED`) or its job
   * cancelled (`ECANCELED`); the holder's signal aborts, and `oncompromised` hears of a loss. */
  _lost(claim, code, message) {
    const holder = this._held.get(claim)
    if (holder) holder._lose(storeError(code, message, { id: holder.id }))
  }
}

/** What a Job or Notification may do with its claim: the store's whole surface for them. */
function claimSurface(store) {
  const native = store._native
  return {
    track({ claim, holder }) {
      store._held.set(claim, holder)
    },
    release(claim) {
      store._held.delete(claim)
      native.release(claim)
    },
    async fulfill(claim, id, value) {
      await store._served(id, value, await afterInline(native.fulfillClaimedNow(claim, id, value)))
    },
    /** Resolves when the job will be retried (a Date), or null when it was set aside. */
    async fail(claim, id, error, retryInMs) {
      store._held.delete(claim)
      const at = await native.failClaimed(claim, id, describeFailure(error), retryInMs)
      return at == null ? null : new Date(at)
    },
    async progress(claim, id, progress) {
      await afterInline(native.progressNow(claim, id, progress))
    },
    /** Lets go of a job uncounted: a worker shutting down gives it back. */
    giveBack(claim) {
      store._held.delete(claim)
      native.giveBack(claim)
    },
    async done(claim, id, delivered) {
      store._held.delete(claim)
      await afterInline(native.doneNow(claim, id, delivered))
    },
  }
}

/** The `(options, cb)` pair of methods whose options may be left out: the callback may come
 * first, and missing options are `{}`. Anything else in the options' place is a callback
 * mistake, thrown at once as 1.2.0 did: `callback must be a function`. */
function optionsAndCallback(options, cb) {
  if (typeof options === 'function') return [{}, options]
  if (options !== undefined && options !== null && typeof options !== 'object') {
    const err = invalidArgType('callback', 'a function (or an options object)', options)
    err.message = 'callback must be a function'
    throw err
  }
  return [options ?? {}, cb]
}

/** A pull's `{ waitMs, signal }`; a bad field rejects, as every other argument error does. */
function waitOptions(options) {
  if (options === undefined || options === null) return { waitMs: 0, signal: null }
  const { waitMs = 0, signal = null } = options
  if (typeof waitMs !== 'number' || !(waitMs >= 0)) throw invalidArgType('options.waitMs', 'a number of milliseconds (0 or more)', waitMs)
  if (signal !== null && !(signal instanceof AbortSignal)) throw invalidArgType('options.signal', 'an AbortSignal', signal)
  return { waitMs: Math.min(waitMs, 2 ** 31 - 1), signal }
}

/** The native form of `create`'s options: delay, attempts, priority, key. */
function createOptions({ delayMs, runAt, maxAttempts, priority = 0, key }) {
  if (!(Number.isInteger(priority) && priority >= -9 && priority <= 9)) {
    throw invalidArgType('options.priority', 'a whole number from -9 to 9 (higher is pulled first)', priority)
  }
  if (key !== undefined && (typeof key !== 'string' || key === '')) throw invalidArgType('options.key', 'a non-empty string', key)
  if (delayMs !== undefined && runAt !== undefined) throw invalidArgValue('options', 'takes delayMs or runAt, not both')
  let at
  if (delayMs !== undefined) {
    if (typeof delayMs !== 'number' || !(delayMs >= 0) || !Number.isFinite(delayMs)) throw invalidArgType('options.delayMs', 'a number of milliseconds (0 or more)', delayMs)
    at = Date.now() + delayMs
  } else if (runAt !== undefined) {
    at = runAt instanceof Date ? runAt.getTime() : runAt
    if (typeof at !== 'number' || !Number.isFinite(at)) throw invalidArgType('options.runAt', 'a Date or a time in milliseconds since the epoch', runAt)
  }
  if (maxAttempts !== undefined && !(Number.isInteger(maxAttempts) && maxAttempts >= 1 && maxAttempts < 2 ** 31)) {
    throw invalidArgType('options.maxAttempts', 'a whole number, 1 or more', maxAttempts)
  }
  return { runAt: at, maxAttempts, priority, key }
}

/** What `job.fail` records of an error: message, name, code and stack, as JSON text. */
function describeFailure(error) {
  if (error instanceof Error) {
    const record = { message: error.message, name: error.name }
    if (error.code !== undefined) record.code = String(error.code)
    if (error.stack) record.stack = String(error.stack)
    return JSON.stringify(record)
  }
  return JSON.stringify({ message: error === undefined ? 'failed' : String(error) })
}

/** A store option that counts something: a whole number from 1, or `Infinity` where allowed. */
function count(options, name, infinite) {
  const value = options[name]
  if (value === undefined || value === null) return DEFAULTS[name]
  if ((infinite && value === Infinity) || (Number.isInteger(value) && value >= 1 && value < 2 ** 31)) return value
  throw invalidArgType(`options.${name}`, infinite ? 'a whole number, 1 or more, or Infinity' : 'a whole number, 1 or more', value)
}

function milliseconds(options, name, fallback) {
  const value = options[name]
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) throw invalidArgType(`options.${name}`, 'a number of milliseconds (0 or more)', value)
  return value
}

function option(options, name, type) {
  const value = options[name]
  if (value === undefined || value === null) return DEFAULTS[name]
  if (typeof value !== type || (type === 'number' && !(value > 0 && value < 2 ** 31))) {
    throw invalidArgType(`options.${name}`, type === 'number' ? 'a positive number of milliseconds' : `a ${type}`, value)
  }
  return type === 'number' ? Math.ceil(value) : value
}

/** Calls `respond` once for a target; resolves `null` when it reported success, else the error. */
function respondTo(respond, target, message) {
  return new Promise((resolve) => {
    let answered = false
    const done = (err) => {
      if (answered) return
      answered = true
      resolve(err ? (err instanceof Error ? err : Object.assign(new Error(String(err)), { cause: err })) : null)
    }
    try {
      respond(target, message, done)
    } catch (err) {
      done(err || new Error('respond threw'))
    }
  })
}

module.exports = JobStore
module.exports.JobStore = JobStore
module.exports.default = JobStore
