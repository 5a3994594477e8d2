'use strict'
// Producing jobs: create and update, the ids they give and take, and the one JSON rule for what a
// request (or a target) may be.

const test = require('node:test')
const assert = require('node:assert/strict')
const { newStore, callback } = require('./helpers')

test('update bumps the version and replaces the request', async () => {
  const store = newStore()
  const { id } = await store.create({ v: 0 })
  await store.update(id, 0, { v: 1 })
  await store.update(id, 1, { v: 2 })
  const job = await store.pullJob()
  assert.deepEqual([job.version, job.request], [2, { v: 2 }])
  await job.release()
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
