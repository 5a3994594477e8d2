'use strict'
// Looking at a store and tidying it: stats, get, value, list, remove, prune, check and repair, and
// a readOnly store that changes nothing.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { tempDir, runNode, spawnNode } = require('./helpers')

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
