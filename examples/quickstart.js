'use strict'
// A producer, a worker and a notifier on one store, in one script. Run: node examples/quickstart.js

const os = require('node:os')
const path = require('node:path')
const fs = require('node:fs')
const JobStore = require('..')

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fs-job-store-quickstart-'))
  const store = new JobStore({ dir })

  // Producer: ask for work, and to be told the answer.
  const { id } = await store.create({ calculate: '3+3' })
  await store.queue(id, { email: 'ada@example.com' })
  console.log('created', id)

  // Worker: claim the oldest job, do it, fulfil it, let go.
  const job = await store.pullJob()
  job.oncompromised = (err) => console.error('stop working:', err.message)
  const [a, b] = job.request.calculate.split('+').map(Number)
  await job.fulfill(String(a + b))
  await job.release()
  console.log('fulfilled', job.id, 'with', a + b)

  // Notifier: deliver the value to everyone waiting, and say who got it.
  const note = await store.pullNotification()
  for (const target of note.waiting) console.log('notify', target.email, 'of', note.value.toString())
  await note.done(null, note.waiting)

  console.log('store folder:', dir)
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
