'use strict'
// Every method takes a 1.2.0-style callback, or returns a Promise when given none.

const { invalidArgType } = require('./errors')

function ignore() {}

/**
 * Runs `run` and hands its outcome to `cb` on a later tick: never synchronously, exactly once,
 * and a throwing callback surfaces as an uncaught exception like any Node callback. Without a
 * callback (`undefined` or `null`) it returns the Promise instead, marked handled: 1.2.0 scripts
 * that call without a callback expect fire-and-forget, not a crash on a rejection. Whoever
 * awaits the Promise still gets the rejection. A callback that is neither a function nor
 * `undefined`/`null` throws a TypeError at once, before anything is done, as 1.2.0 and Node do.
 */
function settle(cb, run) {
  if (cb !== undefined && cb !== null && typeof cb !== 'function') {
    const err = invalidArgType('callback', 'a function', cb)
    err.message = 'callback must be a function'
    throw err
  }
  let promise
  try {
    promise = Promise.resolve(run())
  } catch (err) {
    promise = Promise.reject(err)
  }
  if (typeof cb === 'function') {
    promise.then(
      (value) => process.nextTick(cb, null, value),
      (err) => process.nextTick(cb, err),
    )
    return undefined
  }
  promise.catch(ignore)
  return promise
}

/**
 * What an inline native call gave: its value, or the Promise of a call that went to the pool.
 * After about a millisecond of inline results without a turn of the event loop, the next one is
 * settled through `setImmediate`, so timers and I/O keep running during a tight awaited loop
 * (whose awaits are otherwise microtasks only).
 */
function afterInline(result) {
  if (result instanceof Promise) return result
  if (!turnPending) {
    turnPending = true
    setImmediate(noteTurn)
  }
  if (performance.now() - lastTurn < INLINE_SLICE_MS) return result
  return new Promise((resolve) => setImmediate(resolve, result))
}

const INLINE_SLICE_MS = 1
let lastTurn = performance.now()
let turnPending = false
function noteTurn() {
  turnPending = false
  lastTurn = performance.now()
}

module.exports = { settle, ignore, afterInline }
