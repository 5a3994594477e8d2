'use strict'
// notifier.js with Promises: pulls a fulfilled job that has targets waiting, "sends" each its
// value, and tells the store which targets were served.
//
//   JOB_STORE_DIR=./jobs node notifier-async.js
//
// With nothing to do it looks again every RETRY_MS (default 10 s). Set EXIT_WHEN_IDLE_MS to
// stop once it has found nothing to do for that long.

const { setTimeout: sleep } = require('node:timers/promises')
const JobStore = require('fs-job-store')

const RETRY_MS = Number(process.env.RETRY_MS) || 10 * 1000
const EXIT_WHEN_IDLE_MS = Number(process.env.EXIT_WHEN_IDLE_MS) || 0

/** The notification: a real one would send a mail; this one prints what it would send. */
async function notify(target, notification) {
  if (!target || typeof target.email !== 'string') return false
  console.log(`sent ${notification.value.toString()} to ${target.email} for ${notification.id}`)
  return true
}

async function main() {
  const store = new JobStore({ dir: process.env.JOB_STORE_DIR || 'job-store' })
  let idleSince = Date.now()
  for (;;) {
    let notification
    try {
      notification = await store.pullNotification()
    } catch (err) {
      console.error(err)
      await sleep(RETRY_MS)
      continue
    }
    if (notification === undefined) {
      if (EXIT_WHEN_IDLE_MS && Date.now() - idleSince >= EXIT_WHEN_IDLE_MS) return
      await sleep(RETRY_MS)
      continue
    }

    notification.oncompromised = (err) => console.error(`lost notification ${notification.id}: ${err.message}`)
    const delivered = []
    for (const target of notification.waiting) {
      if (await notify(target, notification)) delivered.push(target)
    }
    try {
      // Targets left out of `delivered` stay queued for a later pull.
      await notification.done(null, delivered)
    } catch (err) {
      console.error(err)
    }
    if (delivered.length === 0) await sleep(RETRY_MS)
    else idleSince = Date.now()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
