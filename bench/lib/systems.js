'use strict'
// One adapter per system under test, so every workload loop is the same code for all of them:
//   open({ dir, durable })       the store in folder `dir`
//   create(request) -> id        one job, acknowledged
//   take() -> job | undefined    claim one pending job (undefined: none free now)
//   finish(job)                  fulfil it and let go of the claim
//   takeNote() / finishNote()    the same for notifications (W4), where the system has them
//   close()
// The floor is not here: it is a separate Rust program (bench/floor).

const path = require('node:path')

const VALUE = 'done'

/** fs-job-store 2, loaded from the checkout being measured. */
async function ours({ dir, durable, oursRoot }) {
  const JobStore = require(oursRoot)
  const store = new JobStore({ dir, durable })
  return {
    async create(request) {
      return (await store.create(request)).id
    },
    createMany: (requests) => store.createMany(requests),
    take: () => store.pullJob(),
    async finish(job) {
      await job.fulfill(VALUE)
      await job.release()
      return job.id
    },
    takeNote: () => store.pullNotification(),
    async finishNote(note) {
      await note.done(null, note.waiting)
      return note.id
    },
    /** The worker runtime (store.process) with a handler that waits `sleepMs`, then answers VALUE. */
    process(concurrency, sleepMs) {
      const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
      return store.process(async () => (sleepMs > 0 ? wait(sleepMs).then(() => VALUE) : VALUE), { concurrency })
    },
    close: () => store.close(),
  }
}

/** fs-job-store 1.2.0 from its published source (see setup.js). It never fsyncs, so it only
 * runs in the durable:false rows. It logs "TODO ..." lines on every fulfil and release: the
 * trial child silences console.log for it. */
async function legacy({ dir, legacyLib }) {
  const JobStore = require(legacyLib)
  const store = new JobStore({ dir })
  const call = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))))
  return {
    async create(request) {
      return (await call((cb) => store.create(request, cb))).id
    },
    async take() {
      try {
        return await call((cb) => store.pullJob(cb))
      } catch (err) {
        // 1.2.0's pullJob with no claimable job reaches path.join(dir, 'jobs', undefined).
        if (err instanceof TypeError && /path/i.test(err.message)) return undefined
        throw err
      }
    },
    async finish(job) {
      await call((cb) => store.fulfill(job.id, VALUE, cb))
      await call((cb) => job.release(cb))
      return job.id
    },
    async takeNote() {
      return call((cb) => store.pullNotification(cb))
    },
    async finishNote(note) {
      await call((cb) => note.done(null, note.waiting, cb))
      return note.id
    },
    close() {},
  }
}

/** plainjob on better-sqlite3 12. Per job it makes the same calls as plainjob's own worker loop
 * (`defineWorker`): the scheduled-jobs check, claim (an IMMEDIATE transaction), read the job,
 * mark it done. Its default is WAL with synchronous=NORMAL (no fsync per commit); in the
 * durable rows synchronous=FULL makes every commit fsync the WAL. */
async function plainjob({ dir, durable }) {
  const Database = require('better-sqlite3')
  const { better, defineQueue } = require('plainjob')
  const db = new Database(path.join(dir, 'queue.db'))
  const silent = { error() {}, warn() {}, info() {}, debug() {} }
  const queue = defineQueue({ connection: better(db), logger: silent })
  db.pragma(`synchronous = ${durable ? 'FULL' : 'NORMAL'}`)
  const TYPE = 'bench'
  return {
    queue,
    async create(request) {
      return queue.add(TYPE, request).id
    },
    /** Untimed seeding in one transaction. */
    seed(n) {
      queue.addMany(TYPE, Array.from({ length: n }, (_, i) => ({ i })))
    },
    async take() {
      queue.getAndMarkScheduledJobAsProcessing()
      const claimed = queue.getAndMarkJobAsProcessing(TYPE)
      if (!claimed) return undefined
      return queue.getJobById(claimed.id)
    },
    async finish(job) {
      queue.markJobAsDone(job.id)
      return job.id
    },
    countDone: () => queue.countJobs({ type: TYPE, status: 2 }),
    close: () => queue.close(),
  }
}

const SYSTEMS = { ours, legacy, plainjob }

async function openSystem(spec) {
  const open = SYSTEMS[spec.system]
  if (!open) throw new Error(`no adapter for system ${spec.system}`)
  return open(spec)
}

module.exports = { openSystem }
