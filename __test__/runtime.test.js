'use strict'
// The worker runtime: store.process, store.deliver, store.cancel, job.progress and the
// `fs-job-store work` command, with real processes and real signals.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { ROOT, TIME_SCALE, tempDir, spawnNode, sleep, cli } = require('./helpers')

const CLI = path.join(ROOT, 'bin', 'fs-job-store.js')

/** Resolves once `check()` is true, polling every 20 ms; rejects after `ms`. */
async function until(check, ms, what) {
  const end = Date.now() + ms * TIME_SCALE
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms * TIME_SCALE} ms`)
    await sleep(20)
  }
}

/** Writes a handler module for `fs-job-store work` and returns its path. */
function handlerModule(source, name = 'handler.js') {
  const file = path.join(tempDir('fjs-handler-'), name)
  fs.writeFileSync(file, source)
  return file
}

/** Starts `fs-job-store work DIR MODULE ...flags` and resolves once it says it is pulling. */
async function work(t, dir, module, ...flags) {
  const child = spawnNode(t, [CLI, 'work', dir, module, ...flags], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.err = ''
  child.stderr.on('data', (d) => (child.err += d))
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve)
    child.once('exit', (code) => reject(new Error(`work exited (${code}) before pulling: ${child.err}`)))
  })
  return child
}

test('process runs every job with the handler, never more at once than its concurrency', async () => {
  const store = new JobStore({ dir: tempDir() })
  const ids = []
  for (let i = 0; i < 24; i++) ids.push((await store.create({ n: i })).id)
  let inFlight = 0
  let most = 0
  const worker = store.process(
    async (job) => {
      most = Math.max(most, ++inFlight)
      await sleep(10)
      inFlight--
      return job.request.n % 3 === 0 ? `text ${job.request.n}` : job.request.n % 3 === 1 ? { n: job.request.n } : undefined
    },
    { concurrency: 4 },
  )
  const completed = []
  worker.on('completed', (job) => completed.push(job.id))
  await new Promise((resolve) => worker.on('drained', () => worker.running === 0 && completed.length === 24 && resolve()).on('completed', () => completed.length === 24 && resolve()))
  await worker.close()
  assert.equal(most, 4, 'four at once, never more')
  assert.deepEqual(completed.sort(), ids.sort())
  assert.equal(String(await store.value(ids[0])), 'text 0', 'a string is stored as it is')
  assert.equal(String(await store.value(ids[1])), '{"n":1}', 'other values as JSON text')
  assert.equal(String(await store.value(ids[2])), '', 'undefined as an empty value')
  assert.equal((await store.stats()).fulfilled, 24)
  store.close()
})

test('a handler that throws fails the job through the retry policy; the failed event says when it comes back', async () => {
  const store = new JobStore({ dir: tempDir(), maxAttempts: 2, backoffMs: 30 })
  const { id } = await store.create('x')
  let calls = 0
  const worker = store.process(async (job) => {
    calls++
    if (job.attempts === 1) throw Object.assign(new Error('first try fails'), { code: 'EFLAKY' })
    return 'second try'
  })
  const failures = []
  worker.on('failed', (job, err, retryAt) => failures.push([job.id, err.code, retryAt instanceof Date]))
  await new Promise((resolve) => worker.on('completed', resolve))
  await worker.close()
  assert.deepEqual(failures, [[id, 'EFLAKY', true]])
  assert.equal(calls, 2)
  const info = await store.get(id)
  assert.equal(info.state, 'fulfilled')
  assert.equal(info.failures[0].error.code, 'EFLAKY')
  store.close()
})

test('a handler that ignores its signal past timeoutMs: the job fails ETIMEDOUT, its late result is refused, the worker moves on', async () => {
  const store = new JobStore({ dir: tempDir() })
  const { id: slow } = await store.create('slow')
  const { id: quick } = await store.create('quick')
  let late
  const worker = store.process(
    async (job, { signal }) => {
      if (job.request === 'quick') return 'done'
      await sleep(400)
      late = { aborted: signal.aborted, reason: signal.reason && signal.reason.code }
      return 'too late'
    },
    { timeoutMs: 100 },
  )
  const failed = []
  worker.on('failed', (job, err, retryAt) => failed.push([job.id, err.code, retryAt]))
  const completed = []
  worker.on('completed', (job) => completed.push(job.id))
  await until(() => completed.length === 1, 2000, 'the quick job')
  assert.deepEqual(failed, [[slow, 'ETIMEDOUT', null]], 'failed at its time, not when the handler returned')
  await sleep(400)
  await worker.close()
  assert.deepEqual(late, { aborted: true, reason: 'ETIMEDOUT' })
  assert.deepEqual(completed, [quick])
  assert.equal((await store.get(slow)).state, 'failed')
  assert.equal(await store.value(slow), undefined, 'the late result was not stored')
  await assert.rejects(store.result(slow), { code: 'EFAILED' })
  store.close()
})

test('close({ timeoutMs }) waits for running handlers, then aborts them and gives their jobs back uncounted', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  for (let i = 0; i < 3; i++) await store.create(i)
  const reasons = []
  const worker = store.process(
    async (job, { signal }) => {
      if (job.request === 0) return 'quick'
      await new Promise((resolve) => signal.addEventListener('abort', resolve))
      reasons.push(signal.reason.code)
      return 'ignored'
    },
    { concurrency: 3 },
  )
  await until(() => worker.running === 2, 2000, 'two jobs held')
  const started = Date.now()
  await worker.close({ timeoutMs: 150 })
  assert.ok(Date.now() - started >= 140, 'it waited for the time limit')
  assert.deepEqual(reasons, ['ESHUTDOWN', 'ESHUTDOWN'])
  assert.equal(worker.running, 0)
  const stats = await store.stats()
  assert.deepEqual([stats.fulfilled, stats.pending, stats.claimed], [1, 2, 0], 'given back, pending at once')
  const again = await store.pullJob()
  assert.equal(again.attempts, 1, 'the given-back claim is not counted')
  await again.release()
  store.close()
})

test('SIGTERM to fs-job-store work: it stops pulling, finishes the jobs in flight and exits 0; nothing lost or abandoned', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const ids = []
  for (let i = 0; i < 8; i++) ids.push((await store.create(i)).id)
  const module = handlerModule(`module.exports = async (job) => { await new Promise((r) => setTimeout(r, 300)); return 'v' + job.request }`)
  const child = await work(t, dir, module, '--concurrency', '3')
  await until(async () => (await store.stats()).claimed === 3, 3000, 'three jobs in flight')
  child.kill('SIGTERM')
  const { code, signal } = await child.exited
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, child.err)
  const stats = await store.stats()
  assert.equal(stats.claimed, 0)
  assert.equal(stats.fulfilled + stats.pending, 8, 'every job is done or still pending')
  assert.equal(stats.fulfilled, 3, 'the jobs in flight were finished, no more were pulled')
  for (const id of await store.list({ state: 'pending' })) assert.equal((await store.get(id)).attempts, 0)
  for (const id of await store.list({ state: 'fulfilled' })) assert.equal((await store.get(id)).attempts, 1)
  store.close()
})

test('SIGTERM with --shutdown-timeout gives back the jobs that do not finish; a second worker does them', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir, maxAttempts: 1 })
  for (let i = 0; i < 2; i++) await store.create(i)
  const stuck = handlerModule(`module.exports = () => new Promise(() => {})`)
  const child = await work(t, dir, stuck, '--concurrency', '2', '--shutdown-timeout', '200ms')
  await until(async () => (await store.stats()).claimed === 2, 3000, 'two jobs held')
  child.kill('SIGTERM')
  assert.equal((await child.exited).code, 0, child.err)
  assert.deepEqual(await store.list({ state: 'failed' }), [], 'a deploy never fails a job')
  const ok = handlerModule(`module.exports = async (job) => 'done ' + job.request`)
  const second = await work(t, dir, ok)
  await until(async () => (await store.stats()).fulfilled === 2, 3000, 'the second worker finishing both')
  second.kill('SIGTERM')
  await second.exited
  for (const id of await store.list()) assert.equal((await store.get(id)).attempts, 1, 'only the second worker\'s claim counts')
  store.close()
})

test('a SIGKILLed fs-job-store work: its jobs come back to the next worker', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  for (let i = 0; i < 3; i++) await store.create(i)
  const child = await work(t, dir, handlerModule(`module.exports = () => new Promise(() => {})`), '--concurrency', '3')
  await until(async () => (await store.stats()).claimed === 3, 3000, 'three jobs held')
  child.kill('SIGKILL')
  await child.exited
  const worker = store.process(async (job) => `after ${job.attempts}`)
  let done = 0
  worker.on('completed', () => done++)
  await until(() => done === 3, 3000, 'three jobs done by the next worker')
  await worker.close()
  for (const id of await store.list()) assert.equal(String(await store.value(id)), 'after 2')
  store.close()
})

test('cancel from another process: a pending and a delayed job are never pulled; a running one has its signal aborted ECANCELED', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const { id: pending } = await store.create('pending')
  const { id: delayed } = await store.create('delayed', { delayMs: 300 })
  for (const id of [pending, delayed]) {
    const out = await cli('cancel', dir, id, '--reason', 'not needed')
    assert.equal(out.code, 0, out.stderr)
  }
  assert.equal(await store.pullJob(), undefined)
  await sleep(350)
  assert.equal(await store.pullJob(), undefined, 'not even once the delayed one is due')
  const info = await store.get(pending)
  assert.deepEqual([info.state, info.cancelReason, info.cancelledAt instanceof Date], ['cancelled', 'not needed', true])
  assert.equal((await store.stats()).cancelled, 2)
  assert.deepEqual((await store.list({ state: 'cancelled' })).sort(), [pending, delayed].sort())
  await assert.rejects(store.result(pending), { code: 'ECANCELED' })

  const seen = path.join(tempDir(), 'seen.json')
  const module = handlerModule(`
    const fs = require('node:fs')
    module.exports = (job, { signal }) => new Promise((resolve) => {
      signal.addEventListener('abort', () => {
        fs.writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ code: signal.reason.code, at: Date.now() }))
        resolve('finished anyway')
      })
    })`)
  const { id: running } = await store.create('running')
  const child = await work(t, dir, module)
  await until(async () => (await store.stats()).claimed === 1, 3000, 'the job held')
  const cancelledAt = Date.now()
  assert.equal((await cli('cancel', dir, running)).code, 0)
  await until(() => fs.existsSync(seen), 2500, 'the handler hearing of the cancel')
  const heard = JSON.parse(fs.readFileSync(seen, 'utf8'))
  assert.equal(heard.code, 'ECANCELED')
  // Well inside one lockCheckInterval (1 s): the worker watches the folder and hears the event.
  assert.ok(heard.at - cancelledAt < 600, `heard at once, woken by the event (${heard.at - cancelledAt} ms)`)
  await until(async () => (await store.stats()).claimed === 0, 2000, 'the claim let go')
  assert.equal((await store.get(running)).state, 'cancelled')
  assert.equal(await store.value(running), undefined, "the handler's result was refused")
  child.kill('SIGTERM')
  await child.exited
  store.close()
})

test('a job.fulfill after its job was cancelled is refused with ECANCELED; a fulfilled job cannot be cancelled', async () => {
  const store = new JobStore({ dir: tempDir() })
  const { id } = await store.create('x')
  const job = await store.pullJob()
  await store.cancel(id)
  await assert.rejects(job.fulfill('late'), { code: 'ECANCELED' })
  await job.release()
  const { id: done } = await store.create('y')
  await store.fulfill(done, 'v')
  await assert.rejects(store.cancel(done), { code: 'EALREADYRESOLVED' })
  assert.equal((await store.prune({ olderThanMs: 0, failed: true })), 2, 'prune removes the cancelled job with the fulfilled one')
  store.close()
})

test('progress reported by a worker is read from another process, and shown by the CLI', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const { id } = await store.create('long')
  const module = handlerModule(`module.exports = async (job, { signal }) => {
    await job.progress({ step: 2, of: 5 })
    await new Promise((resolve) => signal.addEventListener('abort', resolve))
  }`)
  const child = await work(t, dir, module)
  await until(async () => (await store.get(id)).progress !== null, 3000, 'progress')
  assert.deepEqual((await store.get(id)).progress, { step: 2, of: 5 })
  assert.match((await cli('show', dir, id)).stdout, /progress +\{"step":2,"of":5\}/)
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'jobs', id, 'progress'), 'utf8')), { step: 2, of: 5 })
  child.kill('SIGTERM')
  await child.exited
  store.close()
})

test('the progress event, and job.progress refused once the claim is gone', async () => {
  const store = new JobStore({ dir: tempDir() })
  await store.create('x')
  const worker = store.process(async (job) => {
    await job.progress(50)
    return 'ok'
  })
  const progress = await new Promise((resolve) => worker.on('progress', (job, value) => resolve(value)))
  assert.equal(progress, 50)
  await worker.close()
  await store.create('y')
  const job = await store.pullJob()
  await job.release()
  await assert.rejects(job.progress(1), { code: 'ECOMPROMISED' })
  store.close()
})

test('deliver: a target that fails twice is tried again with a backoff and delivered the third time', async () => {
  const store = new JobStore({ dir: tempDir() })
  const { id } = await store.create('x')
  await store.queue(id, 'steady')
  await store.queue(id, 'flaky')
  await store.fulfill(id, 'the value')
  const tries = { steady: 0, flaky: 0 }
  const deliverer = store.deliver(
    async (target, { id: got, value }) => {
      assert.equal(got, id)
      assert.equal(String(value), 'the value')
      tries[target]++
      if (target === 'flaky' && tries.flaky <= 2) throw new Error(`flaky try ${tries.flaky}`)
    },
    { backoffMs: 40 },
  )
  const events = []
  deliverer.on('completed', (target) => events.push(`completed ${target}`))
  deliverer.on('failed', (target, err, { retryAt }) => events.push(`failed ${target} ${err.message} ${retryAt instanceof Date}`))
  await until(() => events.includes('completed flaky'), 3000, 'the flaky target delivered')
  await deliverer.close()
  assert.deepEqual(events, ['completed steady', 'failed flaky flaky try 1 true', 'failed flaky flaky try 2 true', 'completed flaky'])
  assert.deepEqual(tries, { steady: 1, flaky: 3 })
  assert.deepEqual((await store.get(id)).waiting, [])
  assert.equal(await store.pullNotification(), undefined)
  store.close()
})

test('store.close() closes its workers first; a worker never throws out, it reports errors as events', async () => {
  const store = new JobStore({ dir: tempDir() })
  await store.create('x')
  let aborted
  const worker = store.process((job, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve((aborted = signal.reason.code)))))
  await until(() => worker.running === 1, 2000, 'the job held')
  const closed = new Promise((resolve) => worker.once('close', resolve))
  await store.close()
  await closed
  assert.equal(aborted, 'ESHUTDOWN')
  assert.throws(() => store.process(async () => {}), { code: 'ECLOSED' })
  assert.throws(() => store.process('not a function'), { code: 'ERR_INVALID_ARG_TYPE' })
})
