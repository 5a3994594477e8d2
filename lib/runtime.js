'use strict'
// The runtimes `store.process(handler)` and `store.deliver(handler)` return: the loop a user
// would otherwise write (pull, run, fulfil or fail, release; deliver, done), with a concurrency,
// per-job timeouts, cancellation, events and a graceful close.

const { EventEmitter } = require('node:events')
const { storeError, invalidArgType, toBytes } = require('./errors')

/** How long one waiting pull lasts; events wake it long before when work arrives. */
const WAIT_MS = 60000
/** After an error that is not a job's (a disk refusing a pull), the loop waits this long, doubled
 * each time it happens again in a row, up to the second number. */
const ERROR_PAUSE_MS = [100, 30000]

/** What both runtimes share: the pull loop, the slots, the signals, the close. */
class Runtime extends EventEmitter {
  constructor(store, handler, options, what) {
    super()
    if (typeof handler !== 'function') throw invalidArgType('handler', `an async function ${what}`, handler)
    if (options === undefined || options === null) options = {}
    if (typeof options !== 'object') throw invalidArgType('options', 'an object', options)
    const { concurrency = 1, timeoutMs, signal } = options
    if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency < 2 ** 31)) {
      throw invalidArgType('options.concurrency', 'a whole number, 1 or more', concurrency)
    }
    if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0)) {
      throw invalidArgType('options.timeoutMs', 'a number of milliseconds (more than 0)', timeoutMs)
    }
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgType('options.signal', 'an AbortSignal', signal)
    this._store = store
    this._handler = handler
    this._concurrency = concurrency
    this._timeoutMs = timeoutMs === Infinity ? undefined : timeoutMs
    this._signal = signal
    /** Work in progress, by the claim's holder (a Job or a Notification). */
    this._active = new Map()
    /** Aborted by `close`: ends the waiting pull and the loop. */
    this._stop = new AbortController()
    this._slotFreed = null
    this._closing = null
  }

  /** How many jobs (or notifications) are in progress. */
  get running() {
    return this._active.size
  }

  start() {
    // A running worker keeps its process alive, as a server keeps its: work in flight (a handler
    // awaiting only its signal) holds no handle of its own, and the process must not end under
    // it. Cleared by close.
    this._alive = setInterval(() => {}, 2 ** 30)
    if (this._signal) {
      if (this._signal.aborted) return void this.close()
      this._signal.addEventListener('abort', () => this.close(), { once: true })
    }
    this._loop = this._run()
  }

  /**
   * Stops pulling at once, waits up to `timeoutMs` (default: for as long as it takes) for the
   * work in progress, then aborts its signals (`ESHUTDOWN`) and gives it back: a job is pending
   * again at once and the claim is not counted. Resolves when nothing of the runtime is left.
   */
  close(options) {
    if (this._closing) return this._closing
    const { timeoutMs = Infinity } = options ?? {}
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      return Promise.reject(invalidArgType('options.timeoutMs', 'a number of milliseconds (0 or more)', timeoutMs))
    }
    this._stopPulling()
    this._closing = (async () => {
      await this._loop
      const finished = Promise.all([...this._active.values()].map((entry) => entry.finished))
      if (this._active.size > 0 && !(await within(finished, timeoutMs))) {
        for (const entry of this._active.values()) entry.controller.abort(shutdown(entry))
        await finished
      }
      clearInterval(this._alive)
      this.emit('close')
    })()
    return this._closing
  }

  /** The store is closing: give everything back now, without waiting. */
  _closeNow() {
    this._stopPulling()
    for (const entry of this._active.values()) {
      this._giveBack(entry.holder)
      entry.controller.abort(shutdown(entry))
    }
    this.close()
  }

  _stopPulling() {
    this._stop.abort()
    if (this._slotFreed) this._slotFreed()
  }

  async _run() {
    let drained = false
    let errors = 0
    while (!this._stop.signal.aborted) {
      if (this._active.size >= this._concurrency) {
        await new Promise((resolve) => (this._slotFreed = resolve))
        this._slotFreed = null
        continue
      }
      let holder
      try {
        holder = await this._pull({ waitMs: 0, signal: null })
        if (!holder) {
          if (!drained) {
            drained = true
            this.emit('drained')
          }
          if (this._stop.signal.aborted) break
          holder = await this._pull({ waitMs: this._waitMs(), signal: this._stop.signal })
        }
        errors = 0
      } catch (err) {
        if (this._stop.signal.aborted) break
        this._error(err)
        await pause(Math.min(ERROR_PAUSE_MS[0] * 2 ** errors++, ERROR_PAUSE_MS[1]), this._stop.signal)
        continue
      }
      if (!holder) continue
      if (this._stop.signal.aborted) {
        this._giveBack(holder)
        break
      }
      drained = false
      this._begin(holder)
    }
  }

  _begin(holder) {
    const controller = new AbortController()
    const entry = { holder, controller, finished: null }
    this._active.set(holder, entry)
    const lost = holder._signal
    if (lost.aborted) controller.abort(lost.reason)
    else lost.addEventListener('abort', () => controller.abort(lost.reason), { once: true })
    const timer = this._timeoutMs === undefined ? null : setTimeout(() => controller.abort(this._timedOut(holder)), this._timeoutMs)
    entry.finished = this._work(entry)
      .catch((err) => this._error(err))
      .finally(() => {
        if (timer) clearTimeout(timer)
        this._active.delete(holder)
        if (this._slotFreed) this._slotFreed()
      })
  }

  /** Runs `work(signal)` until it settles or the signal aborts, whichever is first: `{ value }`,
   * `{ error }`, or `null` when the signal won (what the work does later is ignored). */
  async _race(controller, work) {
    const { signal } = controller
    if (signal.aborted) return null
    let onAbort
    const aborted = new Promise((resolve) => {
      onAbort = () => resolve(null)
      signal.addEventListener('abort', onAbort, { once: true })
    })
    const running = (async () => work(signal))().then(
      (value) => ({ value }),
      (error) => ({ error }),
    )
    const outcome = await Promise.race([running, aborted])
    signal.removeEventListener('abort', onAbort)
    return signal.aborted ? null : outcome
  }

  /** Anything met that is not a job's own failure: an `error` event, never a throw. */
  _error(err) {
    // The store closed under work that was already given back: nothing went wrong.
    if (err && err.code === 'ECLOSED' && this._stop.signal.aborted) return
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else warn(err)
  }
}

/** `store.process(handler, options)`: `handler(job, { signal })` per job. */
class Worker extends Runtime {
  constructor(store, handler, options) {
    super(store, handler, options, '(job, { signal })')
  }

  start() {
    // Watching from the start (not from the first wait): jobs of a higher priority made by other
    // processes reach this worker's next pull even while it works through a backlog.
    this._store._native.watch()
    super.start()
  }

  _pull(options) {
    return this._store.pullJob(options)
  }

  _waitMs() {
    return WAIT_MS
  }

  _giveBack(job) {
    job._giveBack()
  }

  _timedOut(job) {
    return storeError('ETIMEDOUT', `job '${job.id}' ran longer than timeoutMs (${this._timeoutMs} ms); it fails and is retried if attempts remain`, { id: job.id })
  }

  async _work({ holder: job, controller }) {
    job._onprogress = (value) => this.emit('progress', job, value)
    const outcome = await this._race(controller, (signal) => this._handler(job, { signal }))
    if (outcome === null) return this._stopped(job, controller.signal.reason)
    if ('error' in outcome) return this._fail(job, outcome.error)
    let value
    try {
      value = valueOf(outcome.value)
    } catch (err) {
      return this._fail(job, err)
    }
    try {
      await job.fulfill(value)
    } catch (err) {
      await job.release().catch(ignore)
      return this._refused(job, err)
    }
    await job.release().catch(ignore)
    this.emit('completed', job, outcome.value)
  }

  async _fail(job, error) {
    let retryAt
    try {
      retryAt = await job.fail(error)
    } catch (err) {
      await job.release().catch(ignore)
      return this._refused(job, err)
    }
    this.emit('failed', job, error, retryAt)
  }

  /** The signal ended the work before the handler did. */
  async _stopped(job, reason) {
    switch (reason && reason.code) {
      case 'ETIMEDOUT':
        return this._fail(job, reason)
      case 'ESHUTDOWN':
        return job._giveBack()
      case 'ECANCELED':
        await job.release().catch(ignore)
        return this.emit('cancelled', job, reason)
      default:
        await job.release().catch(ignore)
        return this._error(reason)
    }
  }

  /** A fulfil or fail the store refused: the job was cancelled, or the claim lost, meanwhile. */
  _refused(job, err) {
    if (err.code === 'ECANCELED') this.emit('cancelled', job, err)
    else this._error(err)
  }
}

/** `store.deliver(handler, options)`: `handler(target, { id, value, signal })` per waiting target. */
class Deliverer extends Runtime {
  constructor(store, handler, options) {
    super(store, handler, options, '(target, { id, value, signal })')
    const { backoffMs = 1000 } = options ?? {}
    if (typeof backoffMs !== 'number' || !(backoffMs > 0) || !Number.isFinite(backoffMs)) {
      throw invalidArgType('options.backoffMs', 'a number of milliseconds (more than 0)', backoffMs)
    }
    this._backoffMs = backoffMs
    /** Jobs whose targets failed: `{ failures, retryAt }`, passed over by pulls until then. */
    this._backoff = new Map()
  }

  _pull(options) {
    const now = Date.now()
    const skip = []
    for (const [id, { retryAt }] of this._backoff) if (retryAt > now) skip.push(id)
    return this._store._pullNotification(options, skip)
  }

  /** A waiting pull lasts until the next backed-off job is due again. */
  _waitMs() {
    let next = WAIT_MS
    for (const { retryAt } of this._backoff.values()) next = Math.min(next, Math.max(retryAt - Date.now(), 1))
    return next
  }

  _giveBack(note) {
    note.done(null, []).catch(ignore)
  }

  _timedOut(note) {
    return storeError('ETIMEDOUT', `delivering job '${note.id}' took longer than timeoutMs (${this._timeoutMs} ms); its targets are tried again later`, { id: note.id })
  }

  async _work({ holder: note, controller }) {
    const { id, value, waiting } = note
    const outcomes = await Promise.all(
      waiting.map((target) => this._race(controller, (signal) => this._handler(target, { id, value, signal }))),
    )
    const delivered = waiting.filter((_, i) => outcomes[i] && !('error' in outcomes[i]))
    try {
      await note.done(null, delivered)
    } catch (err) {
      return this._error(err)
    }
    for (const target of delivered) this.emit('completed', target, { id })
    const failed = waiting.filter((_, i) => !(outcomes[i] && !('error' in outcomes[i])))
    if (failed.length === 0) return void this._backoff.delete(id)
    const failures = (this._backoff.get(id)?.failures ?? 0) + 1
    const retryAt = new Date(Date.now() + Math.min(this._backoffMs * 2 ** (failures - 1), 3600000))
    this._backoff.set(id, { failures, retryAt: retryAt.getTime() })
    waiting.forEach((target, i) => {
      if (!failed.includes(target)) return
      const error = outcomes[i] ? outcomes[i].error : controller.signal.reason
      this.emit('failed', target, error, { id, retryAt })
    })
  }
}

/** What a handler's result is stored as: bytes and strings as they are, `undefined` as an empty
 * value, anything else as its JSON text. */
function valueOf(result) {
  if (result === undefined) return ''
  if (typeof result === 'string' || ArrayBuffer.isView(result)) return result
  const json = JSON.stringify(result)
  if (json === undefined) throw invalidArgType('the handler\'s result', 'a string, bytes, undefined or a JSON value', result)
  return toBytes('value', json)
}

function shutdown(entry) {
  return storeError('ESHUTDOWN', `the worker closed before job '${entry.holder.id}' finished; it was given back and will be pulled again`, { id: entry.holder.id })
}

/** Resolves `true` if `promise` settles within `ms`, else `false`. */
function within(promise, ms) {
  if (ms === Infinity) return promise.then(() => true)
  let timer
  return Promise.race([promise.then(() => true), new Promise((resolve) => (timer = setTimeout(resolve, ms, false)))]).finally(() => clearTimeout(timer))
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

function ignore() {}

/** What nobody listens for becomes a process warning: seen, and never a throw. */
function warn(err) {
  process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: err && err.code })
}

module.exports = { Worker, Deliverer, warn }
