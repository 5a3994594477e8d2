'use strict'
// Looking at a store and tidying it: stats, get, value, list, remove, prune, check and repair, and
// a readOnly store that changes nothing.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { ROOT, tempDir, runNode, runFile, spawnNode, OLD, snapshot, sandbox, cli } = require('./helpers')

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

test('stats count the pending, claimed, fulfilled and waiting jobs of every process; a dead holder claims nothing', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  assert.deepEqual(await store.stats(), { pending: 0, claimed: 0, fulfilled: 0, waiting: 0, failed: 0, delayed: 0, cancelled: 0, oldestPendingAgeMs: null })
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
    failed: 0,
    delayed: 0,
    cancelled: 0,
    oldestPendingAgeMs: undefined,
  })
  assert.ok(stats.oldestPendingAgeMs >= 0 && stats.oldestPendingAgeMs < 60000)
  await holder.stop()
  assert.equal((await store.stats()).claimed, 0, 'a dead holder claims nothing')
})

test("get gives a job's state, version, request, targets and times, value its value once fulfilled, and list the ids, of one state if asked", async () => {
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

test('remove refuses pending and waiting jobs unless forced and claimed jobs even if forced; a removed job is gone', async (t) => {
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

test("check lists every problem; repair fixes markers and leftovers and keeps job data; the CLI's check exits 1 while problems remain", async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  const corrupt = (await store.create('c')).id
  const fulfilled = (await store.create('f')).id
  const lostTargets = (await store.create('w')).id
  await store.fulfill(fulfilled, 'v')
  await store.queue(lostTargets, 't')
  fs.writeFileSync(path.join(dir, 'jobs', corrupt, 'state.json'), 'garbage')
  fs.symlinkSync(`../jobs/${fulfilled}`, path.join(dir, 'pending', fulfilled)) // stale pending marker
  fs.rmSync(path.join(dir, 'waiting', lostTargets)) // a target nobody would look for
  const old = new Date(Date.now() - 3600e3)
  fs.symlinkSync('../jobs/job-gone', path.join(dir, 'pending', 'job-gone'))
  fs.lutimesSync(path.join(dir, 'pending', 'job-gone'), old, old)
  // Names as the store gives its temporary files: tmp-<16 hex>-<n>.
  const crashed = path.join(dir, 'tmp', 'tmp-00000000000000ab-1')
  const inFlight = path.join(dir, 'tmp', 'tmp-00000000000000ab-2')
  fs.mkdirSync(crashed)
  fs.writeFileSync(path.join(crashed, 'state.json'), 'half')
  fs.utimesSync(crashed, old, old)
  fs.writeFileSync(inFlight, 'young')

  const found = await store.check()
  const kinds = found.map((p) => `${p.kind} ${p.id}`).sort()
  assert.deepEqual(kinds, [
    `corrupt-state ${corrupt}`,
    'dangling-marker job-gone',
    'leftover-temporary null',
    `missing-waiting-marker ${lostTargets}`,
    `stale-pending-marker ${fulfilled}`,
  ])
  assert.ok(found.every((p) => !p.repaired && p.message && p.path))

  const repaired = await store.check({ repair: true })
  assert.deepEqual(repaired.filter((p) => !p.repaired).map((p) => p.kind), ['corrupt-state'])
  assert.deepEqual((await store.check()).map((p) => p.kind), ['corrupt-state'], 'only the unrepairable damage is left')
  assert.equal(fs.readFileSync(path.join(dir, 'jobs', corrupt, 'state.json'), 'utf8'), 'garbage', 'job data is kept')
  assert.ok(fs.existsSync(inFlight), 'a young temporary file may be in use: kept')
  assert.ok(!fs.existsSync(crashed), "the store's own leftover folder is gone")
  const note = await store.pullNotification({ waitMs: 0 })
  assert.equal(note, undefined, 'not fulfilled yet, but now findable once it is')
  await store.fulfill(lostTargets, 'v')
  assert.deepEqual((await store.pullNotification()).waiting, ['t'])

  const cli = await runFile(path.join(ROOT, 'bin', 'fs-job-store.js'), ['check', dir, '--json'])
  assert.equal(cli.code, 1, 'problems remain')
  assert.deepEqual(JSON.parse(cli.stdout).map((p) => p.kind), ['corrupt-state'])
  untouched()
})

test('check reports every dangling marker with its age; repair removes only those past the grace period', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  fs.symlinkSync('../jobs/job-young', path.join(dir, 'pending', 'job-young'))
  fs.symlinkSync('../jobs/job-old', path.join(dir, 'waiting', 'job-old'))
  fs.lutimesSync(path.join(dir, 'waiting', 'job-old'), OLD, OLD)
  const found = await store.check()
  const young = found.find((p) => p.id === 'job-young')
  const old = found.find((p) => p.id === 'job-old')
  assert.equal(young.kind, 'dangling-marker')
  assert.ok(young.ageMs >= 0 && young.ageMs < 60e3, `young marker age ${young.ageMs}`)
  assert.ok(old.ageMs > 23 * 3600e3, `old marker age ${old.ageMs}`)
  const repaired = await store.check({ repair: true })
  assert.equal(repaired.find((p) => p.id === 'job-old').repaired, true)
  const left = repaired.find((p) => p.id === 'job-young')
  assert.equal(left.repaired, false)
  assert.match(left.message, /grace/)
  assert.ok(fs.lstatSync(path.join(dir, 'pending', 'job-young')).isSymbolicLink(), 'the young marker is kept')
  assert.throws(() => fs.lstatSync(path.join(dir, 'waiting', 'job-old')))
  await store.close()
})

test('read-only inspection changes nothing, in the API and the CLI', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const pending = (await store.create({ n: 1 })).id
  const done = (await store.create({ n: 2 })).id
  await store.fulfill(done, 'v')
  await store.queue(done, 'someone')
  await store.close()
  // A 1.2.0 job: no lock files yet, so a look that locked would create one.
  const old = path.join(dir, 'jobs', 'job--1-abc')
  fs.mkdirSync(old)
  fs.writeFileSync(path.join(old, 'state.json'), '{"version":0,"state":1,"waiting":[],"request":1}')
  fs.symlinkSync('../jobs/job--1-abc', path.join(dir, 'pending', 'job--1-abc'))
  fs.symlinkSync('../jobs/job-gone', path.join(dir, 'waiting', 'job-gone'))
  fs.writeFileSync(path.join(dir, 'tmp', 'tmp-00000000000000ab-1'), 'leftover')
  fs.utimesSync(path.join(dir, 'tmp', 'tmp-00000000000000ab-1'), OLD, OLD)
  const before = snapshot(dir)

  const look = new JobStore({ dir, readOnly: true })
  assert.equal((await look.stats()).pending, 2)
  assert.equal((await look.list()).length, 3)
  assert.equal((await look.get(pending)).state, 'pending')
  assert.deepEqual(await look.value(done), Buffer.from('v'))
  assert.ok((await look.check()).length >= 2)
  for (const call of [
    () => look.create(1),
    () => look.queue(pending, 't'),
    () => look.fulfill(pending, 'v'),
    () => look.update(pending, 0, 2),
    () => look.unqueue(done, 'someone'),
    () => look.pullJob(),
    () => look.pullNotification({ waitMs: 10 }),
    () => look.remove(done, { force: true }),
    () => look.prune({ olderThanMs: 0 }),
    () => look.check({ repair: true }),
  ]) {
    await assert.rejects(call(), (err) => err.code === 'EREADONLY' && /readOnly/.test(err.message))
  }
  await look.close()
  for (const args of [['stats', dir], ['ls', dir], ['ls', dir, '--pending'], ['show', dir, done], ['show', dir, 'job--1-abc'], ['check', dir], ['check', dir, '--json']]) {
    const run = await cli(...args)
    assert.ok(run.code === 0 || (args[0] === 'check' && run.code === 1), `${args.join(' ')}: ${run.stderr}`)
  }
  assert.deepEqual(snapshot(dir), before, 'the store folder is entry for entry as it was')
})

test('check knows every record and marker disagreement a power cut can leave, and repair mends each', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir, maxAttempts: 1 })
  const link = (sub, name, id) => fs.symlinkSync(`../jobs/${id}`, path.join(dir, sub, name))
  const { id: failed } = await store.create('fails')
  await (await store.pullJob()).fail(new Error('boom'))
  // Cut after the record said failed, before failed/ and the removal of pending/ were on disk.
  fs.unlinkSync(path.join(dir, 'failed', failed))
  link('pending', failed, failed)
  const { id: waiting } = await store.create('has a target')
  await store.queue(waiting, 't')
  fs.unlinkSync(path.join(dir, 'waiting', waiting))
  const { id: retried } = await store.create('retried')
  link('failed', retried, retried)
  const { id: fulfilled } = await store.create('done')
  await store.fulfill(fulfilled, 'v')
  link('pending', fulfilled, fulfilled)
  link('delayed', `${String(Date.now() + 3600e3).padStart(15, '0')}-${fulfilled}`, fulfilled)

  const found = (problems) => problems.map((p) => `${p.kind} ${p.id}`).sort()
  const expected = [
    `missing-failed-marker ${failed}`,
    `stale-pending-marker ${failed}`,
    `missing-waiting-marker ${waiting}`,
    `stale-failed-marker ${retried}`,
    `stale-pending-marker ${fulfilled}`,
    `stale-delayed-marker ${fulfilled}`,
  ].sort()
  assert.deepEqual(found(await store.check()), expected)
  const repaired = await store.check({ repair: true })
  assert.deepEqual(found(repaired), expected)
  assert.ok(repaired.every((p) => p.repaired), JSON.stringify(repaired))
  assert.deepEqual(await store.check(), [], 'nothing left to report')
  assert.deepEqual(await store.list({ state: 'failed' }), [failed])
  assert.equal((await store.stats()).failed, 1)
  assert.equal((await store.pullNotification()), undefined, 'the target waits on a pending job')
  const pulled = [(await store.pullJob()).id, (await store.pullJob()).id].sort()
  assert.deepEqual(pulled, [waiting, retried].sort(), 'only the pending jobs are pulled')
  assert.equal(await store.pullJob(), undefined)
})
