'use strict'
// How every method is called, 1.2.0's way: with a callback (called on a later tick; a
// non-function refused at once) or without one (a Promise, and a failure that nobody awaits is
// never an unhandled rejection).

const test = require('node:test')
const assert = require('node:assert/strict')
const { newStore, callback } = require('./helpers')

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

test("pullJob and pullNotification given a non-function throw 'callback must be a function' and claim nothing", async () => {
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
