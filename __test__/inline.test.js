'use strict'
// Quick operations run on the JavaScript thread on local filesystems (durable: false, or tmpfs).
// What that must not break: callbacks never synchronous and called once, throwing callbacks,
// timers during tight awaited loops, claims across processes, and the pool elsewhere.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { tempDir, runNode, sleep } = require('./helpers')

const shm = fs.existsSync('/dev/shm') ? '/dev/shm' : null
const fastDir = () => {
  if (!shm) return tempDir()
  const dir = fs.mkdtempSync(path.join(shm, 'fjs-inline-'))
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('the store runs inline on tmpfs and on a local disk when not durable, and never when told not to', () => {
  assert.equal(new JobStore({ dir: tempDir(), durable: false })._native.runsInline, true, 'local disk, durable: false')
  if (shm) assert.equal(new JobStore({ dir: fastDir() })._native.runsInline, true, 'tmpfs, even durable')
  assert.equal(new JobStore({ dir: fastDir(), inline: false })._native.runsInline, false, 'inline: false')
  assert.throws(() => new JobStore({ dir: tempDir(), inline: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('inline calls still call back on a later tick, exactly once, and a throwing callback is an uncaught exception', async () => {
  const store = new JobStore({ dir: fastDir(), durable: false })
  let calls = 0
  let sync = true
  await new Promise((resolve) => {
    store.create('x', (err, created) => {
      assert.equal(err, null)
      assert.ok(created.id)
      assert.equal(sync, false, 'not called before create returned')
      calls++
      setTimeout(resolve, 20)
    })
    sync = false
  })
  assert.equal(calls, 1)
  // A callback that throws: an uncaught exception, as for any Node callback (in a child, so
  // the test runner does not take it for this test's failure), and the store still works.
  const child = await runNode(
    `const S = require('.'); const s = new S({ dir: process.argv[1], durable: false })
     process.on('uncaughtException', async (err) => {
       const job = await s.pullJob(); console.log(JSON.stringify({ message: err.message, again: Boolean(job) })); process.exit(0)
     })
     s.pullJob((err, job) => { job.release(); throw new Error('from the callback') })`,
    [store._dir],
  )
  assert.equal(child.code, 0, child.stderr)
  assert.deepEqual(JSON.parse(child.stdout), { message: 'from the callback', again: true })
  await store.close()
})

test('timers keep firing during an awaited loop of 10,000 inline operations', async () => {
  const store = new JobStore({ dir: fastDir(), durable: false })
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  const started = Date.now()
  try {
    for (let i = 0; i < 5000; i++) await store.create(i)
    for (let i = 0; i < 5000; i++) {
      const job = await store.pullJob()
      await job.fulfill('v')
      await job.release()
    }
  } finally {
    clearInterval(timer)
  }
  const elapsed = Date.now() - started
  // A 1 ms interval gets a turn at least every few ms when the loop lets the event loop run.
  assert.ok(ticks >= elapsed / 20, `${ticks} timer ticks in ${elapsed} ms`)
  await store.close()
})

test('inline pulls keep exclusivity across processes and between two stores of one process', async () => {
  const dir = fastDir()
  const a = new JobStore({ dir, durable: false })
  const b = new JobStore({ dir, durable: false })
  for (let n = 0; n < 300; n++) await a.create({ n })
  const other = runNode(
    `const S = require('.'); const s = new S({ dir: process.argv[1], durable: false }); const got = []
     ;(async () => { for (let j = await s.pullJob(); j; j = await s.pullJob()) { got.push(j.id); await j.fulfill('c'); await j.release() } console.log(JSON.stringify(got)) })()`,
    [dir],
  )
  const mine = []
  const drain = async (store) => {
    for (let j = await store.pullJob(); j; j = await store.pullJob()) {
      mine.push(j.id)
      await j.fulfill('p')
      await j.release()
      await sleep(0)
    }
  }
  await Promise.all([drain(a), drain(b)])
  const run = await other
  assert.equal(run.code, 0, run.stderr)
  const theirs = JSON.parse(run.stdout)
  const all = [...mine, ...theirs]
  assert.equal(all.length, 300, 'every job pulled once')
  assert.equal(new Set(all).size, 300, 'no job pulled twice')
  await a.close()
  await b.close()
})

test('oncompromised is delivered while an inline loop runs', async () => {
  const dir = fastDir()
  const store = new JobStore({ dir, durable: false, lockCheckInterval: 20 })
  const { id } = await store.create('held')
  const job = await store.pullJob()
  let lost = null
  job.oncompromised = (err) => (lost = err)
  fs.rmSync(path.join(dir, 'jobs', id), { recursive: true })
  const deadline = Date.now() + 3000
  while (!lost && Date.now() < deadline) await store.create('busy')
  assert.equal(lost && lost.code, 'ECOMPROMISED')
  await store.close()
})
