'use strict'
// worker.js with Promises: pulls a job, works out the sum it asks for, fulfils it through the
// claim (`job.fulfill` refuses once the claim is lost), releases it, and looks for the next one.
//
//   JOB_STORE_DIR=./jobs node worker-async.js
//
// With nothing to do it looks again every RETRY_MS (default 10 s). Set EXIT_WHEN_IDLE_MS to
// stop once it has found nothing to do for that long.

const { setTimeout: sleep } = require('node:timers/promises')
const JobStore = require('fs-job-store')

const RETRY_MS = Number(process.env.RETRY_MS) || 10 * 1000
const EXIT_WHEN_IDLE_MS = Number(process.env.EXIT_WHEN_IDLE_MS) || 0

/** The work: `request.calculate` is a sum such as '3+6'. */
function work(request) {
  return String(String(request.calculate).split('+').reduce((total, term) => total + Number(term), 0))
}

async function main() {
  const store = new JobStore({ dir: process.env.JOB_STORE_DIR || 'job-store' })
  let idleSince = Date.now()
  for (;;) {
    let job
    try {
      job = await store.pullJob()
    } catch (err) {
      console.error(err)
      await sleep(RETRY_MS)
      continue
    }
    if (job === undefined) {
      if (EXIT_WHEN_IDLE_MS && Date.now() - idleSince >= EXIT_WHEN_IDLE_MS) return
      await sleep(RETRY_MS)
      continue
    }

    job.oncompromised = (err) => console.error(`lost job ${job.id}: ${err.message}`)
    try {
      const result = work(job.request)
      await job.fulfill(result)
      console.log(`worker ${process.pid}: ${job.id} ${job.request.calculate} = ${result}`)
    } catch (err) {
      console.error(err)
    } finally {
      // Release in every case: a job that failed goes back to the queue for another try.
      await job.release()
    }
    idleSince = Date.now()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
