'use strict'
// Producing jobs: create and update, the ids they give and take, and the one JSON rule for what a
// request (or a target) may be.

const test = require('node:test')
const assert = require('node:assert/strict')
const JobStore = require('..')
const { tempDir, newStore, callback, sandbox } = require('./helpers')

test('update bumps the version and replaces the request', async () => {
  const store = newStore()
  const { id } = await store.create({ v: 0 })
  await store.update(id, 0, { v: 1 })
  await store.update(id, 1, { v: 2 })
  const job = await store.pullJob()
  assert.deepEqual([job.version, job.request], [2, { v: 2 }])
  await job.release()
})

test("update with a wrong version fails with 'version mismatch', and update or fulfill of a fulfilled job with 'already resolved' (1.2.0's messages)", async () => {
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

test('requests, targets and values that cannot be stored get their own codes and name the argument', async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  const cyclic = {}
  cyclic.self = cyclic
  for (const request of [cyclic, 10n, undefined, () => 1, Symbol('s')]) {
    await assert.rejects(store.create(request), { code: 'ERR_INVALID_ARG_VALUE', message: /"request"/ })
  }
  const { id } = await store.create({ ok: true })
  await assert.rejects(store.update(id, 0, cyclic), { code: 'ERR_INVALID_ARG_VALUE', message: /"newRequest"/ })
  await assert.rejects(store.queue(id, 1n), { code: 'ERR_INVALID_ARG_VALUE', message: /"target"/ })
  await assert.rejects(store.queue(id, undefined), { code: 'ERR_INVALID_ARG_VALUE', message: /"target"/ })
  await assert.rejects(store.unqueueAll(id, 'target'), { code: 'ERR_INVALID_ARG_TYPE', message: /"targets"/ })
  for (const value of [42, {}, null, undefined, true, [1, 2]]) {
    await assert.rejects(store.fulfill(id, value), { code: 'ERR_INVALID_ARG_TYPE', message: /"value"/ })
  }
  await assert.rejects(store.fulfill('job-missing', 'v'), { code: 'ENOJOB' })
  const job = await store.pullJob()
  await assert.rejects(job.fulfill({}), { code: 'ERR_INVALID_ARG_TYPE' })
  await job.release()
  assert.deepEqual(await store.list(), [id], 'nothing half-made')
  assert.equal((await store.get(id)).state, 'pending')
  untouched()
})

test('one JSON rule for requests and targets: what JSON.stringify writes, nested at most 128 levels', async () => {
  const store = new JobStore({ dir: tempDir() })
  const nest = (levels) => {
    let v = 'bottom'
    for (let i = 0; i < levels; i++) v = [v]
    return v
  }
  const { id } = await store.create(nest(128))
  await store.queue(id, nest(128))
  await store.queue(id, '\ud800')
  await store.queue(id, { '\udc00': 'lone' })
  assert.deepEqual((await store.get(id)).request, nest(128))
  await store.unqueue(id, '\ud800')
  await store.unqueue(id, { '\udc00': 'lone' })
  await store.unqueue(id, nest(128))
  assert.deepEqual((await store.get(id)).waiting, [], 'lone surrogates and deep targets are compared and removed')
  for (const [call, name] of [
    [() => store.create(nest(129)), 'request'],
    [() => store.queue(id, nest(129)), 'target'],
    [() => store.update(id, 0, nest(129)), 'newRequest'],
  ]) {
    await assert.rejects(call(), (err) => err.code === 'ERR_INVALID_ARG_VALUE' && err.message.includes(`"${name}"`) && /at most 128 levels/.test(err.message))
  }
  const cyclic = {}
  cyclic.self = cyclic
  await assert.rejects(store.queue(id, cyclic), (err) => err.code === 'ERR_INVALID_ARG_VALUE' && err.message.includes('"target"') && /circular/i.test(err.message))
  await assert.rejects(store.create(10n), (err) => err.message.includes('"request"') && /BigInt/.test(err.message))
  await store.close()
})

test('a target nested too deeply to be compared later is refused when queued', async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  const { id } = await store.create('x')
  let deep = 'bottom'
  for (let i = 0; i < 130; i++) deep = [deep]
  await assert.rejects(store.queue(id, deep), { code: 'ERR_INVALID_ARG_VALUE', message: /"target"/ })
  assert.deepEqual((await store.get(id)).waiting, [])
  untouched()
})
