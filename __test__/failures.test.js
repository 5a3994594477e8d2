'use strict'
// When work fails: attempts, poison jobs set aside under a restarting supervisor, fail with and
// without retries, backoff bounds, delayed jobs, result, and a kill storm with failures mixed in.
// Multi-process behaviour runs in real processes, crashes with real SIGKILL.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { ROOT, TIME_SCALE, tempDir, runNode, runFile, spawnNode, sleep } = require('./helpers')

const WORKER = path.join(__dirname, 'fixtures', 'failing-worker.js')
const CLI = path.join(ROOT, 'bin', 'fs-job-store.js')

/** Runs `count` failing-worker processes on `dir`, each restarted at once whenever it exits, as
 * systemd's Restart=always or pm2 would, until the test ends. Resolves nothing; counts exits. */
function supervise(t, dir, count, args = []) {
  const state = { exits: 0, stopped: false }
  const start = () => {
    if (state.stopped) return
    const child = spawnNode(t, [WORKER, dir, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr.on('data', (d) => process.stderr.write(`[worker] ${d}`))
    child.once('exit', () => {
      state.exits++
      start()
    })
    state.children.add(child)
  }
  state.children = new Set()
  t.after(() => {
    state.stopped = true
    for (const child of state.children) child.kill('SIGKILL')
  })
  for (let i = 0; i < count; i++) start()
  return state
}

async function until(condition, timeoutMs, what) {
  timeoutMs *= TIME_SCALE
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await condition()) return Date.now()
    await sleep(20)
  }
  assert.fail(`${what} within ${timeoutMs} ms`)
}

for (const poison of ['exit', 'kill']) {
  test(`a poison job (worker ${poison === 'exit' ? 'exits' : 'is SIGKILLed'}) is set aside while the 20 jobs behind it get done`, async (t) => {
    const dir = tempDir()
    const store = new JobStore({ dir })
    const bad = (await store.create({ poison, n: -1 })).id
    const good = []
    for (let n = 0; n < 20; n++) good.push((await store.create({ n })).id)
    const started = Date.now()
    const supervisor = supervise(t, dir, 1)
    const doneAt = await until(async () => (await store.stats()).fulfilled === 20, 10000, 'all 20 ordinary jobs fulfilled')
    const failedAt = await until(async () => (await store.get(bad)).state === 'failed', 10000, 'the poison job set aside')
    t.diagnostic(`20 jobs done after ${doneAt - started} ms, poison failed after ${failedAt - started} ms, ${supervisor.exits} worker exits`)
    for (const [n, id] of good.entries()) assert.equal(String(await store.value(id)), `value-of-${n}`)
    const info = await store.get(bad)
    assert.equal(info.attempts, 3)
    assert.equal(info.failures.at(-1).error.message, 'abandoned: the worker holding it died 3 times')
    assert.equal(info.failures.at(-1).error.code, 'EABANDONED')
    assert.ok(supervisor.exits <= 4, `the crash loop did not spin: ${supervisor.exits} exits`)
    assert.deepEqual(fs.readdirSync(path.join(dir, 'pending')), [], 'a failed job is not in pending/, where 1.2.0 would take it')
    await assert.rejects(store.result(bad), (err) => err.code === 'EFAILED' && /died 3 times/.test(err.message) && err.failure.error.code === 'EABANDONED')
    const stats = await store.stats()
    assert.deepEqual([stats.failed, stats.pending, stats.fulfilled], [1, 0, 20])
    await store.close()
  })
}

test('maxAbandoned: Infinity never sets a job aside, and the comebacks still back off', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir, maxAbandoned: Infinity, backoffMs: 100 })
  const { id } = await store.create(1)
  for (let i = 0; i < 5; i++) {
    const script = `const S = require('.'); new S({ dir: process.argv[1], maxAbandoned: Infinity, backoffMs: 100 }).pullJob({ waitMs: 5000 }).then((j) => { if (!j) process.exit(3); process.kill(process.pid, 'SIGKILL') })`
    const run = await runNode(script, [dir], { timeoutMs: 10000 })
    assert.equal(run.signal, 'SIGKILL', run.stderr)
  }
  const info = await store.get(id)
  assert.deepEqual([info.state, info.attempts], ['pending', 5])
  t.diagnostic('five deaths in a row, still pending')
  await store.close()
})

test('job.fail retries after retryInMs while attempts remain, then sets the job aside; fenced like fulfill', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const { id } = await store.create({ n: 1 }, { maxAttempts: 2 })
  const first = await store.pullJob()
  assert.equal(first.attempts, 1)
  const retryAt = await first.fail(Object.assign(new Error('flaky'), { code: 'EFLAKY' }), { retryInMs: 300 })
  assert.ok(retryAt instanceof Date && retryAt.getTime() >= Date.now() + 200)
  assert.equal(await store.pullJob(), undefined, 'not pulled before its retry time')
  assert.equal((await store.get(id)).state, 'delayed')
  assert.equal((await store.stats()).delayed, 1)
  const second = await store.pullJob({ waitMs: 3000 })
  assert.ok(Date.now() >= retryAt.getTime(), 'pulled at its retry time, not before')
  assert.equal(second.attempts, 2)
  assert.equal(await second.fail(new Error('still flaky')), null, 'no attempts left: set aside')
  const info = await store.get(id)
  assert.equal(info.state, 'failed')
  assert.deepEqual(
    info.failures.map((f) => [f.error.message, f.error.code ?? null]),
    [
      ['flaky', 'EFLAKY'],
      ['still flaky', null],
    ],
  )
  assert.match(info.failures[0].error.stack, /flaky/)
  assert.deepEqual(await store.list({ state: 'failed' }), [id])
  await assert.rejects(store.result(id), (err) => err.code === 'EFAILED' && err.failure.error.message === 'still flaky')

  // Without maxAttempts (the default, 1) the first fail is final.
  const once = (await store.create(2)).id
  const job = await store.pullJob()
  assert.equal(await job.fail('no retry'), null)
  assert.equal((await store.get(once)).state, 'failed')

  // A worker that lost its claim cannot fail the job.
  const fenced = (await store.create(3)).id
  const lost = await store.pullJob()
  const lock = path.join(dir, 'jobs', fenced, 'work.lock')
  fs.writeFileSync(`${lock}.new`, '')
  fs.renameSync(`${lock}.new`, lock)
  await assert.rejects(lost.fail(new Error('late')), { code: 'ECOMPROMISED' })
  assert.deepEqual((await store.get(fenced)).failures, [], 'nothing recorded')

  // retry: pending again now, attempts from zero.
  await store.retry(id)
  const again = await store.pullJob()
  assert.deepEqual([again.id, again.attempts], [id, 1])
  await again.fulfill('at last')
  await again.release()
  assert.equal(String(await store.result(id)), 'at last')
  await assert.rejects(store.retry(id), { code: 'ENOTFAILED' })
  await store.close()
})

test('retries back off exponentially from backoffMs, with jitter, within bounds', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir, backoffMs: 100, maxAttempts: 4 })
  const { id } = await store.create(1)
  const delays = []
  let job = await store.pullJob()
  for (let attempt = 1; attempt <= 3; attempt++) {
    assert.deepEqual([job.id, job.attempts], [id, attempt])
    const failedAt = Date.now()
    await job.fail(new Error(`attempt ${attempt}`))
    job = await store.pullJob({ waitMs: 5000 })
    delays.push(Date.now() - failedAt)
  }
  assert.equal(job.attempts, 4)
  assert.equal(await job.fail(new Error('last')), null, 'the fourth failure is final')
  // Attempt n waits between half and all of 100 ms × 2^(n-1) (plus scheduling slack).
  delays.forEach((delay, i) => {
    const full = 100 * 2 ** i
    assert.ok(delay >= full / 2 - 5 && delay <= full + 250 * TIME_SCALE, `retry ${i + 1} came after ${delay} ms (expected ${full / 2}–${full})`)
  })
  await store.close()
})

test('a delayed job made in one process reaches a worker waiting in another at its time', async (t) => {
  const dir = tempDir()
  new JobStore({ dir }).close()
  const worker = spawnNode(
    t,
    ['-e', `const S = require('.'); const s = new S({ dir: process.argv[1] }); s.pullJob({ waitMs: 10000 }).then((j) => { console.log(JSON.stringify({ at: Date.now(), id: j && j.id })); process.exit(0) })`, dir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let out = ''
  worker.stdout.on('data', (d) => (out += d))
  await sleep(300) // the worker is waiting
  const made = await runNode(
    `const S = require('.'); const s = new S({ dir: process.argv[1] }); s.create('later', { delayMs: 700 }).then(({ id }) => s.get(id).then((j) => console.log(JSON.stringify({ id, runAt: j.runAt.getTime(), state: j.state }))))`,
    [dir],
  )
  assert.equal(made.code, 0, made.stderr)
  const { id, runAt, state } = JSON.parse(made.stdout)
  assert.equal(state, 'delayed')
  assert.deepEqual(fs.readdirSync(path.join(dir, 'pending')), [], 'not in pending/ before its time')
  await worker.exited
  const got = JSON.parse(out)
  assert.equal(got.id, id)
  t.diagnostic(`pulled ${got.at - runAt} ms after its time`)
  assert.ok(got.at >= runAt, 'not before its time')
  assert.ok(got.at - runAt <= 400 * TIME_SCALE, `reached the waiting worker ${got.at - runAt} ms after its time`)
})

test('delayed jobs come out in creation order among the due ones, and runAt takes a Date', async () => {
  const store = new JobStore({ dir: tempDir() })
  const late = (await store.create('late', { delayMs: 400 })).id
  const first = (await store.create('first', { runAt: new Date(Date.now() + 150) })).id
  const second = (await store.create('second', { delayMs: 100 })).id
  const now = (await store.create('now')).id
  assert.equal((await store.pullJob()).id, now)
  assert.equal(await store.pullJob(), undefined)
  await sleep(200)
  const a = await store.pullJob()
  const b = await store.pullJob()
  assert.deepEqual([a.id, b.id], [first, second], 'both due: oldest created first')
  assert.equal((await store.pullJob({ waitMs: 2000 })).id, late)
  await assert.rejects(store.create(1, { delayMs: -1 }), { code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(store.create(1, { delayMs: 1, runAt: new Date() }), { code: 'ERR_INVALID_ARG_VALUE' })
  await store.close()
})

test('result waits across processes: the value once fulfilled, EFAILED once failed, ETIMEDOUT, ABORT_ERR', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const ok = (await store.create({ n: 7 })).id
  const bad = (await store.create({ n: 8, failTimes: 5 })).id
  const waitingOk = store.result(ok)
  const waitingBad = store.result(bad, { waitMs: 10000 })
  const worker = `
    const S = require('.'); const s = new S({ dir: process.argv[1] })
    ;(async () => {
      for (let i = 0; i < 2; i++) {
        const j = await s.pullJob({ waitMs: 5000 })
        if (j.request.failTimes) await j.fail(new Error('cannot do ' + j.request.n))
        else { await j.fulfill('value-of-' + j.request.n); await j.release() }
      }
    })()`
  const run = await runNode(worker, [dir])
  assert.equal(run.code, 0, run.stderr)
  assert.equal(String(await waitingOk), 'value-of-7')
  await assert.rejects(waitingBad, (err) => err.code === 'EFAILED' && err.failure.error.message === 'cannot do 8')
  const pending = (await store.create('never done')).id
  const started = Date.now()
  await assert.rejects(store.result(pending, { waitMs: 150 }), { code: 'ETIMEDOUT' })
  assert.ok(Date.now() - started >= 150)
  await assert.rejects(store.result(pending, { signal: AbortSignal.timeout(50) }), { code: 'ABORT_ERR' })
  await assert.rejects(store.result(pending, { waitMs: 0 }), { code: 'ETIMEDOUT' })
  await store.close()
})

test('kill storm with failures mixed in: every job ends fulfilled or failed, nothing lost', async (t) => {
  const root = fs.existsSync('/dev/shm') ? '/dev/shm' : undefined
  const dir = root ? fs.mkdtempSync(path.join(root, 'fjs-fstorm-')) : tempDir()
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  const store = new JobStore({ dir, durable: false })
  const jobs = new Map()
  for (let n = 0; n < 150; n++) {
    // Every fifth job fails twice, every seventh fails always.
    const failTimes = n % 7 === 0 ? 99 : n % 5 === 0 ? 2 : 0
    jobs.set((await store.create({ n, failTimes }, { maxAttempts: 3 })).id, { n, failTimes })
  }
  const supervisor = supervise(t, dir, 2, ['50'])
  const stormEnds = Date.now() + 3000 * TIME_SCALE
  let kills = 0
  while (Date.now() < stormEnds) {
    await sleep(50 + Math.random() * 200)
    const victims = [...supervisor.children].filter((c) => c.exitCode === null && c.signalCode === null)
    if (victims.length === 0) continue
    victims[Math.floor(Math.random() * victims.length)].kill('SIGKILL')
    kills++
  }
  const ended = async () => {
    const s = await store.stats()
    return s.pending === 0 && s.delayed === 0 && s.fulfilled + s.failed === jobs.size
  }
  await until(ended, 20000, 'every job fulfilled or failed')
  t.diagnostic(`${kills} kills, ${supervisor.exits} worker exits`)
  let fulfilled = 0
  for (const [id, { n, failTimes }] of jobs) {
    const info = await store.get(id)
    assert.ok(info.state === 'fulfilled' || info.state === 'failed', `${id} ended (${info.state})`)
    if (info.state === 'fulfilled') {
      fulfilled++
      assert.equal(String(await store.value(id)), `value-of-${n}`)
      assert.ok(failTimes < 3, `job ${n} that always fails was never fulfilled`)
    } else {
      assert.ok(info.failures.length > 0, `failed job ${n} says why`)
    }
  }
  assert.ok(fulfilled >= 100, `most jobs were fulfilled (${fulfilled})`)
  assert.deepEqual(fs.readdirSync(path.join(dir, 'pending')), [])
  assert.deepEqual(fs.readdirSync(path.join(dir, 'delayed')), [])
  await store.close()
})

test('the CLI shows failed jobs and retries them', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const ids = []
  for (let n = 0; n < 3; n++) {
    ids.push((await store.create({ n })).id)
    const job = await store.pullJob()
    await job.fail(Object.assign(new Error(`broke ${n}`), { code: 'EBROKE' }))
  }
  await store.create('later', { delayMs: 60000 })
  const cli = (...args) => runFile(CLI, args, { timeoutMs: 15000 })
  const stats = await cli('stats', dir)
  assert.match(stats.stdout, /failed\s+3\n/)
  assert.match(stats.stdout, /delayed\s+1\n/)
  assert.deepEqual(JSON.parse((await cli('ls', dir, '--failed', '--json')).stdout), ids)
  assert.equal(JSON.parse((await cli('ls', dir, '--delayed', '--json')).stdout).length, 1)
  const show = await cli('show', dir, ids[0])
  assert.match(show.stdout, /state\s+failed/)
  assert.match(show.stdout, /attempts\s+1/)
  assert.match(show.stdout, /EBROKE: broke 0/)
  const one = await cli('retry', dir, ids[0])
  assert.equal(one.code, 0, one.stderr)
  assert.equal((await store.get(ids[0])).state, 'pending')
  const all = await cli('retry', dir, '--all-failed', '--json')
  assert.deepEqual(JSON.parse(all.stdout), { retried: ids.slice(1) })
  const neither = await cli('retry', dir)
  assert.equal(neither.code, 2)
  assert.equal((await cli('retry', dir, ids[0])).code, 1, 'a job that is not failed is refused')
  assert.equal((await store.stats()).failed, 0)
  await store.close()
})

test('prune removes failed jobs only when asked', async () => {
  const store = new JobStore({ dir: tempDir() })
  const { id } = await store.create(1)
  await (await store.pullJob()).fail(new Error('x'))
  assert.equal(await store.prune({ olderThanMs: 0 }), 0)
  assert.equal(await store.prune({ olderThanMs: 0, failed: true }), 1)
  await assert.rejects(store.get(id), { code: 'ENOJOB' })
  await store.close()
})

test('check leaves a delayed job and one backing off before its retry alone, however old their folders', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir, maxAttempts: 3 })
  const { id: delayed } = await store.create('later', { delayMs: 2 * 3600e3 })
  const { id: retrying } = await store.create('flaky')
  const job = await store.pullJob()
  assert.equal(job.id, retrying)
  await job.fail(new Error('boom'), { retryInMs: 2 * 3600e3 })
  // An hour old: past the grace check gives markers of operations in flight.
  const hourAgo = new Date(Date.now() - 3600e3)
  for (const id of [delayed, retrying]) fs.utimesSync(path.join(dir, 'jobs', id), hourAgo, hourAgo)
  assert.deepEqual(await store.check(), [])
  assert.deepEqual(await store.check({ repair: true }), [])
  assert.equal(await store.pullJob(), undefined, 'neither is handed to a worker before its time')
  assert.equal((await store.get(delayed)).state, 'delayed')
  assert.equal((await store.get(retrying)).state, 'delayed')
})
