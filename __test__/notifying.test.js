'use strict'
// Notifying who waits for a job: queue, unqueue, unqueueAll, flush, respond and
// onresponsefailure, and for a notifier of its own, pullNotification and notification.done.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { tempDir, newStore, callback, sleep, INTERVAL, firstCall } = require('./helpers')

/** The store's folder, as index.js keeps it. */
function storeDir(store) {
  return store._dir
}

test('fulfill delivers each queued target through respond before it calls back, and unqueues it; a target queued later is served at once', async () => {
  const seen = []
  const store = newStore({ respond: (target, msg, done) => (seen.push([target, String(msg.value)]), done(null)) })
  const { id } = await store.create('job')
  await store.queue(id, 'a')
  await store.queue(id, { url: 'b' })
  assert.deepEqual(seen, [], 'nothing is delivered before the job is fulfilled')
  await store.fulfill(id, 'value')
  assert.deepEqual(seen, [['a', 'value'], [{ url: 'b' }, 'value']], 'delivered before fulfill calls back')
  const state = JSON.parse(fs.readFileSync(path.join(storeDir(store), 'jobs', id, 'state.json')))
  assert.deepEqual(state.waiting, [], 'delivered targets are unqueued')
  await store.queue(id, 'late')
  assert.deepEqual(seen.at(-1), ['late', 'value'], 'a target queued on a fulfilled job is served before queue calls back')
})

test('a failing respond keeps the target queued and calls onresponsefailure', async () => {
  const store = newStore({ respond: (target, msg, done) => done(target === 'bad' ? new Error('unreachable') : null) })
  const failures = []
  store.onresponsefailure = (report) => failures.push(report)
  const { id } = await store.create('job')
  await store.queue(id, 'good')
  await store.queue(id, 'bad')
  await store.fulfill(id, 'v')
  assert.equal(failures.length, 1)
  assert.equal(failures[0].id, id)
  assert.deepEqual(failures[0].errors.map((e) => [e.target, e.error.message]), [['bad', 'unreachable']])
  const note = await store.pullNotification()
  assert.deepEqual(note.waiting, ['bad'], 'only the failed target is still waiting')
  await note.done(null, [])
})

test('without respond, a fulfilled job goes to one notifier at a time through pullNotification, and done unqueues only the targets it names', async () => {
  const store = newStore()
  const { id } = await store.create('job')
  await store.queue(id, 't1')
  await store.queue(id, 't2')
  await store.queue(id, 't1')
  assert.equal(await store.pullNotification(), undefined, 'not fulfilled yet')
  await store.fulfill(id, 'v')
  const note = await store.pullNotification()
  assert.equal(note.id, id)
  assert.deepEqual(note.value, Buffer.from('v'))
  assert.deepEqual(note.waiting, ['t1', 't2', 't1'])
  assert.equal(note.oncompromised, null)
  assert.equal(await store.pullNotification(), undefined, 'the notification is claimed')
  const [err] = await callback((cb) => note.done(null, ['t1'], cb))
  assert.equal(err, null)
  const again = await store.pullNotification()
  assert.deepEqual(again.waiting, ['t2', 't1'], 'done unqueued one t1 only')
  await again.done(null, ['t2', 't1'])
  assert.equal(await store.pullNotification(), undefined)
  assert.equal(fs.existsSync(path.join(storeDir(store), 'waiting', id)), false)
})

test('unqueueAll removes the first deep-equal entry per target', async () => {
  const store = newStore()
  const { id } = await store.create('job')
  for (const t of [{ a: 1, b: [2] }, 'x', { a: 1, b: [2] }]) await store.queue(id, t)
  await store.unqueueAll(id, [{ b: [2], a: 1 }, 'nope'])
  await store.fulfill(id, 'v')
  const note = await store.pullNotification()
  assert.deepEqual(note.waiting, ['x', { a: 1, b: [2] }])
  await note.done(null, [])
})

test('concurrent flushes of one id deliver each target once', async () => {
  let calls = 0
  const store = newStore({ respond: (t, m, done) => (calls++, setTimeout(done, 5, null)) })
  const { id } = await store.create('job')
  await store.queue(id, 't')
  await store.fulfill(id, 'v')
  assert.equal(calls, 1)
  await Promise.all([store.flush(id), store.flush(id), store.flush(id)])
  assert.equal(calls, 1, 'nothing left to deliver')
})

test('600 concurrent queue calls on one job all succeed in turn, and a call on another job does not wait behind them', async () => {
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

test('a notifier that lost its claim gets ECOMPROMISED from done and unqueues nothing', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir, lockCheckInterval: INTERVAL })
  const { id } = await store.create('x')
  await store.queue(id, 'target')
  await store.fulfill(id, 'v')
  const note = await store.pullNotification()
  const { fn, promise } = firstCall(2 * INTERVAL + 1000)
  note.oncompromised = fn
  const lockFile = path.join(dir, 'jobs', id, 'notify.lock')
  fs.writeFileSync(lockFile + '.new', '')
  fs.renameSync(lockFile + '.new', lockFile)
  assert.equal((await promise).arg.code, 'ECOMPROMISED')
  await assert.rejects(note.done(null, ['target']), { code: 'ECOMPROMISED' })
  const again = await store.pullNotification()
  assert.deepEqual(again.waiting, ['target'], 'the target is still queued')
  await again.done(null, [])
})
