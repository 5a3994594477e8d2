'use strict'
// Running a store: stats, get/value/list, remove/prune, waiting pulls, iterators, close.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { ROOT, tempDir, runNode, spawnNode, sleep } = require('./helpers')

/** A child process that pulls `count` jobs and holds them until killed; resolves the ids. */
async function holdJobs(t, dir, count) {
  const child = spawnNode(
    t,
    ['-e', `const S = require('.'); const s = new S({ dir: process.argv[1] }); (async () => { const ids = []; for (let i = 0; i < ${count}; i++) ids.push((await s.pullJob()).id); console.log(JSON.stringify(ids)); setInterval(() => {}, 1000) })()`, dir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const ids = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(JSON.parse(d))))
  return { ids, stop: () => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGKILL'))) }
}

test('stats count what several processes did', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  assert.deepEqual(await store.stats(), { pending: 0, claimed: 0, fulfilled: 0, waiting: 0, oldestPendingAgeMs: null })
  const ids = []
  for (let n = 0; n < 12; n++) ids.push((await store.create({ n })).id)
  // Another process fulfils the first four and queues targets on two of them and on one pending job.
  const script = `
    const S = require('.'); const s = new S({ dir: process.argv[1] }); const ids = JSON.parse(process.argv[2])
    ;(async () => {
      for (const id of ids.slice(0, 4)) await s.fulfill(id, 'v')
      await s.queue(ids[0], 'a'); await s.queue(ids[1], 'b'); await s.queue(ids[8], 'c')
    })()`
  assert.equal((await runNode(script, [dir, JSON.stringify(ids)])).code, 0)
  const holder = await holdJobs(t, dir, 3) // takes the three oldest pending: ids[4..6]
  assert.deepEqual(holder.ids, ids.slice(4, 7))
  const stats = await store.stats()
  assert.deepEqual({ ...stats, oldestPendingAgeMs: undefined }, {
    pending: 8,
    claimed: 3,
    fulfilled: 4,
    waiting: 3,
    oldestPendingAgeMs: undefined,
  })
  assert.ok(stats.oldestPendingAgeMs >= 0 && stats.oldestPendingAgeMs < 60000)
  await holder.stop()
  assert.equal((await store.stats()).claimed, 0, 'a dead holder claims nothing')
})

test('get, value and list describe jobs', async () => {
  const store = new JobStore({ dir: tempDir() })
  const before = Date.now()
  const { id } = await store.create({ q: 1 })
  const other = (await store.create('other')).id
  await store.queue(id, 't')
  let job = await store.get(id)
  assert.equal(job.state, 'pending')
  assert.deepEqual([job.id, job.version, job.request, job.waiting], [id, 0, { q: 1 }, ['t']])
  assert.ok(job.createdAt instanceof Date && job.createdAt.getTime() >= before - 5 && job.createdAt.getTime() <= Date.now())
  assert.equal(job.fulfilledAt, undefined)
  assert.equal(await store.value(id), undefined)
  await store.fulfill(id, 'answer')
  job = await store.get(id)
  assert.equal(job.state, 'fulfilled')
  assert.ok(job.fulfilledAt >= job.createdAt)
  assert.deepEqual(await store.value(id), Buffer.from('answer'))
  assert.deepEqual(await store.list(), [id, other])
  assert.deepEqual(await store.list({ state: 'pending' }), [other])
  assert.deepEqual(await store.list({ state: 'fulfilled' }), [id])
  assert.deepEqual(await store.list({ state: 'waiting' }), [id])
  await assert.rejects(store.get('job-nope'), { code: 'ENOJOB' })
  await assert.rejects(store.list({ state: 'bogus' }), { code: 'ERR_INVALID_ARG_VALUE' })
})

test('remove: refuses pending, waiting and claimed jobs; force; gone means gone', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const { id } = await store.create('r')
  await assert.rejects(store.remove(id), { code: 'EPENDING', message: /force/ })
  const holder = await holdJobs(t, dir, 1)
  await assert.rejects(store.remove(id, { force: true }), { code: 'ECLAIMED' })
  await holder.stop()
  await store.queue(id, 't')
  await store.fulfill(id, 'v')
  await assert.rejects(store.remove(id), { code: 'EWAITING' })
  await store.remove(id, { force: true })
  assert.equal(fs.existsSync(path.join(dir, 'jobs', id)), false)
  assert.equal(fs.existsSync(path.join(dir, 'waiting', id)), false)
  await assert.rejects(store.get(id), { code: 'ENOJOB' })
  await assert.rejects(store.remove(id), { code: 'ENOJOB' })
})

test('prune removes only old fulfilled jobs with no targets, never pending, claimed or waiting ones', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const make = async (n) => (await store.create(n)).id
  const done = [await make(1), await make(2)]
  const waiting = await make(3)
  const claimed = await make(4)
  const pending = await make(5)
  for (const id of done) await store.fulfill(id, 'v')
  await store.queue(waiting, 't')
  await store.fulfill(waiting, 'v')
  // Fulfilled by someone else while a worker still holds it (1.2.0 allows that): still claimed.
  const job = await store.pullJob()
  assert.equal(job.id, claimed)
  await store.fulfill(claimed, 'v')
  const note = await store.pullNotification() // and the waiting job's notification is held
  assert.equal(await store.prune({ olderThanMs: 3600e3 }), 0, 'nothing is an hour old')
  assert.equal(await store.prune({ olderThanMs: 0 }), 2)
  assert.deepEqual((await store.list()).sort(), [waiting, claimed, pending].sort())
  await job.release()
  await note.done(null, [])
  assert.equal(await store.prune({ olderThanMs: 0 }), 1, 'released, the claimed job goes too')
  await assert.rejects(store.prune({}), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('a pull with waitMs wakes on a create from another process, without polling', async () => {
  const store = new JobStore({ dir: tempDir() })
  const dir = store._dir
  const waiting = store.pullJob({ waitMs: 10000 })
  await sleep(100)
  const script = `const S = require('.'); new S({ dir: process.argv[1] }).create({ from: 'child' }).then(({ id }) => console.log(JSON.stringify({ id, at: Date.now() })))`
  const { stdout } = await runNode(script, [dir])
  const created = JSON.parse(stdout)
  const job = await waiting
  const latency = Date.now() - created.at
  assert.equal(job.id, created.id)
  assert.ok(latency < 450, `picked up ${latency} ms after the create, before the 500 ms backstop poll`)
  await job.release()
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

test('pullNotification with waitMs wakes when the job is fulfilled', async () => {
  const store = new JobStore({ dir: tempDir() })
  const { id } = await store.create('x')
  await store.queue(id, 't')
  const waiting = store.pullNotification({ waitMs: 10000 })
  await sleep(50)
  await store.fulfill(id, 'v')
  const note = await waiting
  assert.equal(note.id, id)
  await note.done(null, note.waiting)
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

test('pullJob options are checked', async () => {
  const store = new JobStore({ dir: tempDir() })
  await assert.rejects(store.pullJob({ waitMs: -1 }), { code: 'ERR_INVALID_ARG_TYPE' })
  await assert.rejects(store.pullJob({ signal: {} }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => store.pullJob('soon'), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('a kill during remove leaves each job whole or gone, and pulls keep working', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir, durable: false })
  for (let round = 0; round < 5; round++) {
    const ids = []
    for (let n = 0; n < 60; n++) ids.push((await store.create({ n })).id)
    for (const id of ids.slice(0, 50)) await store.fulfill(id, 'v')
    const child = spawnNode(
      t,
      ['-e', `const S = require('.'); const s = new S({ dir: process.argv[1], durable: false }); s.prune({ olderThanMs: 0 }).then(() => s.prune({ olderThanMs: 0 }))`, dir],
      { stdio: 'ignore' },
    )
    await sleep(40 + Math.random() * 60)
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    for (const id of fs.readdirSync(path.join(dir, 'jobs'))) {
      const state = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', id, 'state.json'), 'utf8'))
      assert.ok(state.state === 1 || fs.existsSync(path.join(dir, 'jobs', id, 'value')), `${id} is whole`)
    }
    for (const id of ids.slice(50)) assert.ok(fs.existsSync(path.join(dir, 'jobs', id)), 'pending jobs are never pruned')
  }
  let pulled = 0
  for (let job = await store.pullJob(); job; job = await store.pullJob()) {
    pulled++
    await job.fulfill('done')
    await job.release()
  }
  assert.equal(pulled, 50, 'every pending job is still pullable')
  assert.equal(await store.prune({ olderThanMs: 0 }) >= 50, true)
  assert.deepEqual(fs.readdirSync(path.join(dir, 'jobs')), [])
})

test('npm run demo: producer, two workers and a notifier finish, then stats and a prune', async () => {
  const { code, stdout, stderr } = await require('./helpers').runFile(path.join(ROOT, 'demo', 'run.js'), [], { timeoutMs: 90000 })
  assert.equal(code, 0, stderr)
  assert.match(stdout, /created\s+200 \| claimed\s+0 \| fulfilled\s+200 \| notified\s+200/)
  assert.match(stdout, /all 200 jobs created, worked, fulfilled and notified/)
  assert.match(stdout, /removed 200 fulfilled jobs/)
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

test('many concurrent updates of one job wait in line: none fails, other jobs are not held up', async () => {
  const store = new JobStore({ dir: tempDir(), durable: false })
  const busy = (await store.create('busy')).id
  const other = (await store.create('other')).id
  const order = []
  const queues = Array.from({ length: 600 }, (_, i) => store.queue(busy, i).then(() => order.push('queue')))
  const unrelated = store.get(other).then(() => order.push('get'))
  const results = await Promise.allSettled([...queues, unrelated])
  assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => r.reason.code), [])
  assert.ok(order.indexOf('get') < order.length - 1, 'the unrelated call did not wait for all 600 updates')
  assert.deepEqual((await store.get(busy)).waiting.sort((a, b) => a - b), Array.from({ length: 600 }, (_, i) => i))
})
