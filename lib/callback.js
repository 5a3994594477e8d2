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

module.exports = { settle, ignore }
