'use strict'
// A folder laid out exactly as 1.2.0 writes it is worked by this package, and what we write keeps
// 1.2.0's shape.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { tempDir } = require('./helpers')

/** Lays out a job as 1.2.0 does: an absolute symlink, its JSON, a leftover lock folder. */
function writeOldJob(dir, id, state, { pending = true, waiting = false } = {}) {
  const jobDir = path.join(dir, 'jobs', id)
  fs.mkdirSync(jobDir, { recursive: true })
  fs.writeFileSync(path.join(jobDir, 'state.json'), JSON.stringify(state))
  for (const [marker, wanted] of [['pending', pending], ['waiting', waiting]]) {
    fs.mkdirSync(path.join(dir, marker), { recursive: true })
    if (wanted) fs.symlinkSync(jobDir, path.join(dir, marker, id))
  }
}

test('a store written by 1.2.0 is worked: pending jobs, waiting targets, lock leftovers', async () => {
  const dir = tempDir()
  writeOldJob(dir, 'job--1234-aBcDeF', { version: 0, state: 1, waiting: ['t1'], request: { calculate: '3+3' } }, { waiting: true })
  writeOldJob(dir, 'job--1234-GhIjKl', { version: 2, state: 1, waiting: [], request: 'second' })
  fs.mkdirSync(path.join(dir, 'pending', 'job--1234-aBcDeF.lock'))
  fs.mkdirSync(path.join(dir, 'jobs', 'job--1234-GhIjKl.lock'))
  fs.mkdirSync(path.join(dir, 'jobs', 'job--9-done'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'jobs', 'job--9-done', 'state.json'), JSON.stringify({ version: 0, state: 2, waiting: ['t9'], request: null }))
  fs.writeFileSync(path.join(dir, 'jobs', 'job--9-done', 'value'), 'old value')
  fs.symlinkSync(path.join(dir, 'jobs', 'job--9-done'), path.join(dir, 'waiting', 'job--9-done'))

  const store = new JobStore({ dir })
  const note = await store.pullNotification()
  assert.equal(note.id, 'job--9-done')
  assert.equal(String(note.value), 'old value')
  assert.deepEqual(note.waiting, ['t9'])
  await note.done(null, ['t9'])

  // 1.2.0's ids are random, so their order is the ids' sort order, not creation order.
  const [second, first] = [await store.pullJob(), await store.pullJob()]
  assert.deepEqual([first.id, first.request], ['job--1234-aBcDeF', { calculate: '3+3' }])
  assert.deepEqual([second.id, second.version, second.request], ['job--1234-GhIjKl', 2, 'second'])
  assert.equal(await store.pullJob(), undefined, 'the .lock folder is not a job')
  await store.fulfill(first.id, '6')
  await first.release()
  await second.release()
  const delivered = await store.pullNotification()
  assert.deepEqual([delivered.id, delivered.waiting, String(delivered.value)], [first.id, ['t1'], '6'])
  await delivered.done(null, ['t1'])
  assert.deepEqual(fs.readdirSync(path.join(dir, 'waiting')), [])
  assert.deepEqual(fs.readdirSync(path.join(dir, 'pending')).sort(), ['job--1234-GhIjKl', 'job--1234-aBcDeF.lock'])
})

test('what we write has 1.2.0 shape: state.json fields, value bytes, relative links', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const { id } = await store.create({ calculate: '1+1' })
  await store.queue(id, { notify: 'me' })
  const jobDir = path.join(dir, 'jobs', id)
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(jobDir, 'state.json'))), {
    version: 0,
    state: 1,
    waiting: [{ notify: 'me' }],
    request: { calculate: '1+1' },
  })
  for (const marker of ['pending', 'waiting']) {
    const link = path.join(dir, marker, id)
    assert.equal(fs.readlinkSync(link), path.join('..', 'jobs', id))
    assert.equal(fs.realpathSync(link), fs.realpathSync(jobDir))
  }
  await store.fulfill(id, Buffer.from([1, 2, 3]))
  assert.deepEqual(fs.readFileSync(path.join(jobDir, 'value')), Buffer.from([1, 2, 3]))
  assert.equal(JSON.parse(fs.readFileSync(path.join(jobDir, 'state.json'))).state, 2)
  assert.equal(fs.existsSync(path.join(dir, 'pending', id)), false)
  assert.deepEqual(fs.readdirSync(path.join(dir, 'tmp')), [], 'no temporary files are left behind')
})

test("options.fs other than Node's own is refused with a clear TypeError", () => {
  assert.throws(() => new JobStore({ dir: tempDir(), fs: { readFile() {} } }), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_VALUE',
    message: /options\.fs/,
  })
  assert.ok(new JobStore({ dir: tempDir(), fs: require('fs') }))
})

test('a 1.2.0 job created with an undefined request (no "request" key) is pulled with request undefined', async () => {
  const dir = tempDir()
  writeOldJob(dir, 'job--77-noRequest', { version: 0, state: 1, waiting: [] })
  const store = new JobStore({ dir })
  const job = await store.pullJob()
  assert.equal(job.id, 'job--77-noRequest')
  assert.equal(job.request, undefined)
  assert.equal('request' in JSON.parse(fs.readFileSync(path.join(dir, 'jobs', job.id, 'state.json'))), false)
  await job.fulfill('done')
  await job.release()
  assert.equal((await store.get(job.id)).state, 'fulfilled')
})

test("1.2.0's lock folders are not ids: names ending in .lock are refused and never listed", async () => {
  const dir = tempDir()
  writeOldJob(dir, 'job--1-abc', { version: 0, state: 1, waiting: [], request: 1 })
  fs.mkdirSync(path.join(dir, 'jobs', 'job--1-abc.lock'))
  fs.mkdirSync(path.join(dir, 'waiting', 'job--1-abc.lock'))
  const store = new JobStore({ dir })
  await assert.rejects(store.queue('job--1-abc.lock', 't'), { code: 'EINVALIDID', message: /\.lock/ })
  assert.deepEqual(fs.readdirSync(path.join(dir, 'jobs', 'job--1-abc.lock')), [], 'nothing written into the lock folder')
  assert.deepEqual(await store.list(), ['job--1-abc'])
})

test('sub-folders removed while the store is open are made again on demand, as 1.2.0 did', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  for (const sub of ['pending', 'waiting', 'tmp']) fs.rmSync(path.join(dir, sub), { recursive: true })
  const { id } = await store.create('again')
  await store.queue(id, 't')
  await store.fulfill(id, 'v')
  const note = await store.pullNotification()
  assert.deepEqual(note.waiting, ['t'])
  await note.done(null, note.waiting)
})

test('get() never invents time: a 1.2.0 record has createdAt and fulfilledAt null', async () => {
  const dir = tempDir()
  new JobStore({ dir }).close()
  const old = path.join(dir, 'jobs', 'job--7-xyz')
  fs.mkdirSync(old)
  fs.writeFileSync(path.join(old, 'state.json'), '{"version":0,"state":2,"waiting":[],"request":1}')
  fs.writeFileSync(path.join(old, 'value'), 'v')
  const store = new JobStore({ dir })
  const info = await store.get('job--7-xyz')
  assert.equal(info.state, 'fulfilled')
  assert.equal(info.createdAt, null)
  assert.equal(info.fulfilledAt, null)
  const { id } = await store.create(2)
  await store.fulfill(id, 'w')
  const ours = await store.get(id)
  assert.ok(ours.createdAt instanceof Date && ours.fulfilledAt instanceof Date && ours.fulfilledAt >= ours.createdAt)
  await store.close()
})
