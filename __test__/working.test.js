'use strict'
// Working jobs in one process: pullJob and the jobs() iterator, waits with waitMs and a
// signal, fulfilling (store.fulfill, job.fulfill) and releasing, and the claims behind them: one
// holder per job, oncompromised when a claim is lost, and a job.fulfill fenced after it.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { tempDir, newStore, callback, runNode, sleep, INTERVAL, firstCall } = require('./helpers')

/** A store on a new folder that checks its claims every INTERVAL ms, and the one job pulled from it. */
async function pulledJob(options = {}) {
  const dir = tempDir()
  const store = new JobStore({ dir, lockCheckInterval: INTERVAL, ...options })
  const { id } = await store.create({ work: 1 })
  const job = await store.pullJob()
  assert.equal(job.id, id)
  return { dir, store, job }
}

test('with callbacks, create gives { id } only, pullJob a job with its id, version and request, and undefined once none is left', async () => {
  const store = newStore()
  const [err, created] = await callback((cb) => store.create({ calculate: '3+3' }, cb))
  assert.equal(err, null)
  assert.match(created.id, /^job-/)
  assert.deepEqual(Object.keys(created), ['id'])

  const [pullErr, job] = await callback((cb) => store.pullJob(cb))
  assert.equal(pullErr, null)
  assert.equal(job.id, created.id)
  assert.equal(job.version, 0)
  assert.deepEqual(job.request, { calculate: '3+3' })
  assert.equal(job.oncompromised, null)
  assert.equal(typeof job.release, 'function')

  const [fulfillErr] = await callback((cb) => store.fulfill(job.id, '6', cb))
  assert.equal(fulfillErr, null)
  const [releaseErr] = await callback((cb) => job.release(cb))
  assert.equal(releaseErr, null)
  const [, none] = await callback((cb) => store.pullJob(cb))
  assert.equal(none, undefined)
})

test('pulls on a store that never had a job give undefined, not an error', async () => {
  const store = newStore()
  assert.equal(await store.pullJob(), undefined)
  assert.equal(await store.pullNotification(), undefined)
})

test('jobs are pulled oldest first and never twice at once; a released job can be pulled again', async () => {
  const store = newStore()
  const ids = []
  for (let i = 0; i < 10; i++) ids.push((await store.create(i)).id)
  const jobs = await Promise.all(ids.map(() => store.pullJob()))
  assert.deepEqual(jobs.map((j) => j.id).sort(), [...ids].sort())
  assert.deepEqual(ids, [...ids].sort(), 'ids sort by creation time')
  assert.equal(await store.pullJob(), undefined)
  await jobs[3].release()
  assert.equal((await store.pullJob()).id, jobs[3].id, 'a released job can be pulled again')
})

test('fulfill: the value comes back as a Buffer; strings are UTF-8, typed arrays are bytes', async () => {
  const delivered = []
  const store = newStore({ respond: (target, msg, done) => (delivered.push([target, msg]), done(null)) })
  const values = ['héllo', Buffer.from([0, 255]), new Uint16Array([1, 2])]
  for (const value of values) {
    const { id } = await store.create('x')
    await store.queue(id, { to: id })
    await store.fulfill(id, value)
    const [target, msg] = delivered.pop()
    assert.deepEqual(target, { to: id })
    assert.equal(msg.id, id)
    assert.ok(Buffer.isBuffer(msg.value))
    const expected = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    assert.deepEqual(msg.value, expected)
  }
})

test('a second release is harmless, and done() with no arguments unqueues nothing and lets the notification go', async () => {
  const store = newStore()
  const { id } = await store.create('x')
  await store.queue(id, 't')
  const job = await store.pullJob()
  await job.release()
  await job.release()
  await store.fulfill(id, 'v')
  const note = await store.pullNotification()
  assert.equal(await note.done(), undefined)
  assert.deepEqual((await store.pullNotification()).waiting, ['t'], 'done() unqueued nothing and let go')
})

test('durable: false creates, pulls and fulfils jobs as a durable store does', async () => {
  const store = newStore({ durable: false })
  const { id } = await store.create('fast')
  const job = await store.pullJob()
  assert.equal(job.id, id)
  await store.fulfill(id, 'v')
  await job.release()
})

test('pullJob refuses a negative waitMs, a signal that is not an AbortSignal, and options that are neither an object nor a callback', async () => {
  const store = new JobStore({ dir: tempDir() })
  await assert.rejects(store.pullJob({ waitMs: -1 }), { code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(store.pullJob({ signal: {} }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => store.pullJob('soon'), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('jobs() yields jobs as they come and stops on abort; close() ends waits', async () => {
  const store = new JobStore({ dir: tempDir() })
  const controller = new AbortController()
  const seen = []
  const consumer = (async () => {
    for await (const job of store.jobs({ signal: controller.signal })) {
      seen.push(job.request)
      await job.fulfill('ok')
      await job.release()
      if (seen.length === 3) controller.abort()
    }
  })()
  for (let n = 0; n < 3; n++) {
    await store.create(n)
    await sleep(20)
  }
  await consumer
  assert.deepEqual(seen, [0, 1, 2])

  const started = Date.now()
  const waiting = store.pullJob({ waitMs: 20000 })
  await sleep(50)
  await store.close()
  assert.equal(await waiting, undefined)
  assert.ok(Date.now() - started < 5000, 'close ended the wait')
})

test('a waiting pull uses almost no CPU while idle', async () => {
  const script = `
    const S = require('.'); const s = new S({ dir: process.argv[1] })
    const before = process.cpuUsage()
    s.pullJob({ waitMs: 1500 }).then((job) => {
      const used = process.cpuUsage(before)
      console.log(JSON.stringify({ job: job === undefined, cpuMs: (used.user + used.system) / 1000 }))
    })`
  const { stdout, code } = await runNode(script, [tempDir()])
  assert.equal(code, 0)
  const { job, cpuMs } = JSON.parse(stdout)
  assert.equal(job, true, 'nothing came: undefined after waitMs')
  assert.ok(cpuMs < 100, `a 1.5 s idle wait used ${cpuMs} ms of CPU`)
})

test('two stores on one folder in one process never hand out the same job', async () => {
  const dir = tempDir()
  const a = new JobStore({ dir })
  const b = new JobStore({ dir: path.join(dir, '.', '') })
  const ids = []
  for (let n = 0; n < 20; n++) ids.push((await a.create({ n })).id)
  const pulls = []
  for (let i = 0; i < 15; i++) pulls.push(a.pullJob(), b.pullJob())
  const jobs = (await Promise.all(pulls)).filter(Boolean)
  assert.equal(jobs.length, 20)
  assert.deepEqual(jobs.map((j) => j.id).sort(), [...ids].sort())
  await Promise.all(jobs.map((j) => j.release()))
})

test('many stores in one process share one watcher thread', async () => {
  const script = `
    const S = require('.'); const fs = require('fs')
    const threads = () => Number(/Threads:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1])
    const keep = []
    ;(async () => {
      await new S({ dir: process.argv[1] }).stats()
      const before = threads()
      for (let i = 0; i < 2000; i++) keep.push(new S({ dir: process.argv[1] }))
      console.log(JSON.stringify({ before, after: threads() }))
    })()`
  const { code, stdout, stderr } = await runNode(script, [tempDir()])
  assert.equal(code, 0, stderr)
  const { before, after } = JSON.parse(stdout)
  assert.ok(after - before < 10, `threads went from ${before} to ${after} for 2000 stores`)
})

test('job.fulfill while the claim holds works, and after release is refused', async () => {
  const { store, job } = await pulledJob()
  const { id } = await store.create({ work: 2 })
  const second = await store.pullJob()
  assert.equal(second.id, id)
  await second.fulfill('done')
  await job.release()
  await assert.rejects(job.fulfill('too late'), { code: 'ECOMPROMISED', message: /released/ })
  await second.release()
})

test('oncompromised fires when the job folder is removed, once, and assigned after the pull', async () => {
  const { dir, job } = await pulledJob()
  let calls = 0
  const { fn, promise } = firstCall(2 * INTERVAL + 1000)
  job.oncompromised = (err) => {
    calls++
    fn(err)
  }
  fs.rmSync(path.join(dir, 'jobs', job.id), { recursive: true })
  const { arg: err, elapsed } = await promise
  assert.equal(err.code, 'ECOMPROMISED')
  assert.ok(err instanceof Error)
  assert.match(err.message, new RegExp(job.id))
  assert.ok(elapsed <= 2 * INTERVAL + 300, `fired after ${elapsed} ms, within two check intervals`)
  await sleep(3 * INTERVAL)
  assert.equal(calls, 1, 'fires at most once per claim')
  assert.equal(await job.release(), undefined, 'release after a loss succeeds')
})

test('oncompromised fires when the lock file is replaced; job.fulfill is then refused', async () => {
  const { dir, store, job } = await pulledJob()
  const { fn, promise } = firstCall(2 * INTERVAL + 1000)
  job.oncompromised = fn
  const lockFile = path.join(dir, 'jobs', job.id, 'work.lock')
  fs.writeFileSync(lockFile + '.new', '')
  fs.renameSync(lockFile + '.new', lockFile)
  const { arg: err } = await promise
  assert.equal(err.code, 'ECOMPROMISED')
  await assert.rejects(job.fulfill('late'), { code: 'ECOMPROMISED' })
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', job.id, 'state.json')))
  assert.equal(state.state, 1, 'the fenced fulfil changed nothing')
  await store.fulfill(job.id, 'anyone may, as in 1.2.0')
  await job.release()
})

test('oncompromised is not called when the job is released normally', async () => {
  const { job } = await pulledJob()
  let called = false
  job.oncompromised = () => (called = true)
  await job.fulfill('v')
  await job.release()
  await sleep(3 * INTERVAL)
  assert.equal(called, false)
})

test('a throwing oncompromised surfaces as an uncaught exception and the store keeps working', async () => {
  const script = `
    const fs = require('fs'), path = require('path')
    const JobStore = require('.')
    const dir = ${JSON.stringify(tempDir())}
    process.on('uncaughtException', async (err) => {
      console.log('caught', err.message)
      const { id } = await store.create('next')
      const job = await store.pullJob()
      console.log('still works', job.id === id)
    })
    const store = new JobStore({ dir, lockCheckInterval: 50 })
    ;(async () => {
      await store.create('first')
      const job = await store.pullJob()
      job.oncompromised = () => { throw new Error('boom from oncompromised') }
      fs.rmSync(path.join(dir, 'jobs', job.id), { recursive: true })
      setTimeout(() => {}, 1000)
    })()
  `
  const { code, stdout, stderr } = await runNode(script, [], { timeoutMs: 10000 })
  assert.equal(code, 0, stderr)
  assert.match(stdout, /caught boom from oncompromised/)
  assert.match(stdout, /still works true/)
})
