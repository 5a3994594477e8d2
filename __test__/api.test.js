'use strict'
// The 1.2.0 API as scripts use it: every method, in callback and Promise form, with its errors.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { newStore, callback } = require('./helpers')

test('create, pullJob, fulfill and release with callbacks', async () => {
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

test('every method returns a Promise when given no callback', async () => {
  const store = newStore()
  const { id } = await store.create([1, 2, 3])
  assert.equal(await store.queue(id, 'a'), undefined)
  assert.equal(await store.unqueue(id, 'a'), undefined)
  assert.equal(await store.unqueueAll(id, []), undefined)
  assert.equal(await store.update(id, 0, [4]), undefined)
  const job = await store.pullWork()
  assert.deepEqual([job.id, job.version, job.request], [id, 1, [4]])
  assert.equal(await store.fulfill(id, Buffer.from('done')), undefined)
  assert.equal(await job.release(), undefined)
  assert.equal(await store.flush(id), undefined)
  assert.equal(await store.pullNotification(), undefined)
})

test('callbacks are called on a later tick, never synchronously', async () => {
  const store = newStore()
  let sync = true
  const called = callback((cb) => store.create(1, (...args) => cb(sync, ...args)))
  sync = false
  const [wasSync, err] = await called
  assert.equal(wasSync, false)
  assert.equal(err, null)
})

test('pulls on a store that never had a job give undefined, not an error', async () => {
  const store = newStore()
  assert.equal(await store.pullJob(), undefined)
  assert.equal(await store.pullNotification(), undefined)
})

test('jobs are pulled oldest first and never twice at once', async () => {
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

test('1.2.0 error messages: already resolved, version mismatch', async () => {
  const store = newStore()
  const { id } = await store.create('r')
  await assert.rejects(store.update(id, 5, 'r2'), { message: 'version mismatch', code: 'EVERSIONMISMATCH' })
  await assert.rejects(store.update(id, '0', 'r2'), { message: 'version mismatch' })
  await store.update(id, 0, 'r2')
  await store.fulfill(id, 'v')
  const [err] = await callback((cb) => store.fulfill(id, 'again', cb))
  assert.equal(err.message, 'already resolved')
  assert.equal(err.code, 'EALREADYRESOLVED')
  await assert.rejects(store.update(id, 1, 'r3'), { message: 'already resolved', code: 'EALREADYRESOLVED' })
})

test('calls on an unknown id fail with ENOJOB; unsafe ids with EINVALIDID', async () => {
  const store = newStore()
  for (const call of [
    () => store.fulfill('job-missing', 'v'),
    () => store.queue('job-missing', 't'),
    () => store.update('job-missing', 0, 1),
    () => store.unqueue('job-missing', 't'),
  ]) {
    await assert.rejects(call(), { code: 'ENOJOB' })
  }
  for (const id of ['../x', 'a/b', '', '..', 'x\0', 42, null]) {
    await assert.rejects(store.fulfill(id, 'v'), { code: 'EINVALIDID' }, `id ${String(id)}`)
  }
})

test('queue on a pending job waits; fulfill delivers through respond and unqueues', async () => {
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

test('without respond, targets wait for a notifier: pullNotification and done', async () => {
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

test('update bumps the version and replaces the request', async () => {
  const store = newStore()
  const { id } = await store.create({ v: 0 })
  await store.update(id, 0, { v: 1 })
  await store.update(id, 1, { v: 2 })
  const job = await store.pullJob()
  assert.deepEqual([job.version, job.request], [2, { v: 2 }])
  await job.release()
})

test('a call without a callback that fails does not crash the process (fire and forget)', async () => {
  const store = newStore()
  let unhandled = null
  const onUnhandled = (reason) => (unhandled = reason)
  process.on('unhandledRejection', onUnhandled)
  store.fulfill('job-missing', 'v')
  await new Promise((r) => setTimeout(r, 50))
  process.off('unhandledRejection', onUnhandled)
  assert.equal(unhandled, null)
})

test('a callback that is not a function throws a TypeError at once, and nothing is done', async () => {
  const store = newStore()
  const calls = [
    () => store.create(1, 'not a function'),
    () => store.create(1, 42),
    () => store.queue('job-x', 't', {}),
    () => store.fulfill('job-x', 'v', 'cb'),
    () => store.stats(7),
  ]
  for (const call of calls) {
    assert.throws(call, { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: 'callback must be a function' })
  }
  assert.deepEqual(await store.list(), [], 'no job was created')
  // undefined still means: return a Promise.
  const { id } = await store.create(1, undefined)
  assert.equal(typeof id, 'string')
})

test('durable: false stores and pulls the same way', async () => {
  const store = newStore({ durable: false })
  const { id } = await store.create('fast')
  const job = await store.pullJob()
  assert.equal(job.id, id)
  await store.fulfill(id, 'v')
  await job.release()
})

function storeDir(store) {
  return store._dir
}

test('pullJob and pullNotification given a non-function say: callback must be a function', async () => {
  const store = newStore()
  await store.create('waiting for a worker')
  for (const bad of ['x', 42, true]) {
    assert.throws(() => store.pullJob(bad), { message: 'callback must be a function', code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => store.pullNotification(bad), { message: 'callback must be a function' })
  }
  const job = await store.pullJob()
  assert.ok(job, 'the refused calls claimed nothing')
  await job.release()
})

test('release twice, and done() with no arguments, are harmless', async () => {
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

test('no failing call without a callback leaves an unhandled rejection', async () => {
  const store = newStore()
  const unhandled = []
  const onUnhandled = (reason) => unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  store.create(undefined)
  store.queue('job-missing', 't')
  store.unqueue('../x', 't')
  store.unqueueAll('job-missing', 'not an array')
  store.flush('job-missing')
  store.fulfill('job-missing', 'v')
  store.update('job-missing', 0, 1)
  store.pullJob({ waitMs: -1 })
  store.remove('job-missing')
  store.get('job-missing')
  await new Promise((r) => setTimeout(r, 100))
  process.off('unhandledRejection', onUnhandled)
  assert.deepEqual(unhandled, [])
})
