'use strict'
// Fires a store's schedules: at each schedule's next slot (and at least every second, to see
// schedules saved by other processes) it asks the native store to make the due jobs. Which
// process makes a slot's job, and that it is made once, the core decides; this is only the clock.

/** The longest wait between two looks, so that schedules saved elsewhere are seen. */
const LOOK_EVERY_MS = 1000

class Scheduler {
  /** `report(err)` is told of what goes wrong (a damaged schedule file); firing goes on. */
  constructor(native, report) {
    this._native = native
    this._report = report
    this._timer = null
    this._stopped = true
  }

  start() {
    if (!this._stopped) return
    this._stopped = false
    this._tick()
  }

  stop() {
    this._stopped = true
    clearTimeout(this._timer)
  }

  async _tick() {
    let next = null
    try {
      next = await this._native.fireSchedules()
    } catch (err) {
      if (this._stopped) return
      this._report(err)
    }
    if (this._stopped) return
    const wait = next === null ? LOOK_EVERY_MS : Math.min(Math.max(next - Date.now(), 0), LOOK_EVERY_MS)
    // Never what keeps a process alive: a worker, a server or the caller does.
    this._timer = setTimeout(() => this._tick(), wait).unref()
  }
}

module.exports = { Scheduler }
