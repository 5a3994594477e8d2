'use strict'
// One role of the demo, run as its own process: node roles.js ROLE DIR [COUNT]
// producer: creates COUNT jobs, each with a target to notify. worker: computes squares.
// notifier: "delivers" values and prints one line per delivered target. Workers and the
// notifier run until SIGTERM, waiting for work without polling.

const JobStore = require('..')

const [role, dir, count = '200'] = process.argv.slice(2)
const store = new JobStore({ dir })
const stop = new AbortController()
process.on('SIGTERM', () => stop.abort())

const roles = {
  async producer() {
    // 16 at a time: concurrent creates share their folder fsyncs.
    const todo = Array.from({ length: Number(count) }, (_, i) => i + 1)
    const lane = async () => {
      for (let n = todo.shift(); n !== undefined; n = todo.shift()) {
        const { id } = await store.create({ square: n })
        await store.queue(id, { user: `user-${n}` })
      }
    }
    await Promise.all(Array.from({ length: 16 }, lane))
  },
  async worker() {
    for await (const job of store.jobs({ signal: stop.signal })) {
      await new Promise((r) => setTimeout(r, Math.random() * 4)) // the "work"
      await job.fulfill(String(job.request.square ** 2))
      await job.release()
    }
  },
  async notifier() {
    for await (const note of store.notifications({ signal: stop.signal })) {
      for (const target of note.waiting) process.stdout.write(`delivered ${target.user} ${note.value}\n`)
      await note.done(null, note.waiting)
    }
  },
}

roles[role]()
  .then(() => store.close())
  .catch((err) => {
    console.error(`${role}: ${err.stack}`)
    process.exitCode = 1
  })
