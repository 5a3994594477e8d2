'use strict'
// What a pull hands out: a Job to work on, or a Notification to deliver. Each holds a claim
// (an OS lock on the job, owned by the native store) until `release()` / `done()`. They reach
// the store only through the small `surface` it gives them: track, release, fulfill, fail,
// progress, done.

const { settle } = require('./callback')
const { toBytes, invalidArgType, toJson } = require('./errors')

/** What a claim's holder is told when the claim ends under it: the signal aborts with `err`
 * (`ECOMPROMISED` or `ECANCELED`), and `oncompromised` hears of a lost claim as in 1.2.0. */
function lose(holder, controller, err) {
  if (!controller.signal.aborted) controller.abort(err)
  if (err.code === 'ECOMPROMISED' && typeof holder.oncompromised === 'function') holder.oncompromised(err)
}

class Job {
  constructor(surface, native) {
    this.id = native.id
    this.version = native.version
    // 1.2.0 wrote no request key for `create(undefined)`: such a job's request is undefined.
    this.request = native.request == null ? undefined : JSON.parse(native.request)
    /** This claim's number among the job's claims (each pull is one), from 1. */
    this.attempts = native.attempts
    /** Higher is pulled first (-9 to 9). */
    this.priority = native.priority
    /** Its unique key, or null. */
    this.key = native.key ?? null
    /** For a job a schedule made: `{ name, slot }` (the slot's time, a Date); otherwise null. */
    this.schedule = native.schedule == null ? null : { name: native.schedule, slot: new Date(native.slot) }
    /** Assign a function to hear, with an `ECOMPROMISED` error, that this claim was lost. */
    this.oncompromised = null
    const controller = new AbortController()
    /** Aborts when the work is no longer wanted: the claim was lost (`ECOMPROMISED`) or the
     * job cancelled (`ECANCELED`); `signal.reason` is that error. */
    this.signal = controller.signal
    this._signal = controller.signal
    this._lose = (err) => lose(this, controller, err)
    /** Lets go of the job uncounted (a worker shutting down). */
    this._giveBack = () => surface.giveBack(native.claim)
    // Own properties, as in 1.2.0, so `const { release } = job` keeps working.
    this.release = (cb) => settle(cb, () => surface.release(native.claim))
    this.fulfill = (value, cb) => settle(cb, () => surface.fulfill(native.claim, this.id, toBytes('value', value)))
    /** Records that the work failed and lets go of the job: it is retried after `retryInMs` (or
     * the store's backoff) while attempts remain, else set aside as failed. Resolves the retry's
     * time (a Date), or null when set aside. */
    this.fail = (error, options, cb) => {
      if (typeof options === 'function') [options, cb] = [undefined, options]
      return settle(cb, () => {
        const retryInMs = options && options.retryInMs
        if (retryInMs !== undefined && (typeof retryInMs !== 'number' || !(retryInMs >= 0))) {
          throw invalidArgType('options.retryInMs', 'a number of milliseconds (0 or more)', retryInMs)
        }
        return surface.fail(native.claim, this.id, error, retryInMs)
      })
    }
    /** Records how far the work has come (any JSON value), readable from any process through
     * `store.get(id).progress` while the claim holds; refused once it does not. */
    this.progress = (value, cb) =>
      settle(cb, async () => {
        await surface.progress(native.claim, this.id, toJson('progress', value))
        if (typeof this._onprogress === 'function') this._onprogress(value)
      })
    surface.track({ claim: native.claim, holder: this })
  }
}

class Notification {
  constructor(surface, native) {
    this.id = native.id
    this.value = native.value
    this.waiting = JSON.parse(native.waiting)
    /** Assign a function to hear, with an `ECOMPROMISED` error, that this claim was lost. */
    this.oncompromised = null
    const controller = new AbortController()
    this._signal = controller.signal
    this._lose = (err) => lose(this, controller, err)
    // `err` is what the notifier met; like 1.2.0 the store does not act on it.
    this.done = (err, delivered, cb) =>
      settle(cb, () => {
        if (delivered === undefined || delivered === null) delivered = []
        if (!Array.isArray(delivered)) {
          surface.release(native.claim)
          throw invalidArgType('delivered', 'an array of the targets that were notified', delivered)
        }
        return surface.done(native.claim, this.id, toJson('delivered', delivered))
      })
    surface.track({ claim: native.claim, holder: this })
  }
}

module.exports = { Job, Notification }
