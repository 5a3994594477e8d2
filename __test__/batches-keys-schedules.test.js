'use strict'
// Producing like the peers do: priorities, createMany, unique keys and schedules, across real
// processes.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const JobStore = require('..')
const { TIME_SCALE, OLD, tempDir, runNode, spawnNode, sleep, cli } = require('./helpers')

test('higher priorities are pulled first, the oldest first among equals, by concurrent workers of two processes', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const made = []
  for (const priority of [0, -3, 5, 0, 9, 5, -3, 1]) made.push({ priority, id: (await store.create({ priority }, { priority })).id })
  const order = [...made].sort((a, b) => b.priority - a.priority).map((j) => j.id)
  // Two processes pull at once; each records what it took and when.
  const script = `
    const S = require('.'); const s = new S({ dir: process.argv[1] })
    ;(async () => { const out = []; for (;;) { const j = await s.pullJob(); if (!j) break; out.push([process.hrtime.bigint().toString(), j.id]); await j.fulfill('x'); await j.release() } console.log(JSON.stringify(out)) })()`
  const [a, b] = await Promise.all([runNode(script, [dir]), runNode(script, [dir])])
  const taken = [...JSON.parse(a.stdout), ...JSON.parse(b.stdout)].sort((x, y) => (BigInt(x[0]) < BigInt(y[0]) ? -1 : 1)).map((x) => x[1])
  assert.equal(taken.length, made.length, 'each job pulled once')
  // Pulls of two processes interleave, so compare priorities rank by rank, allowing neighbours to swap.
  const rank = new Map(order.map((id) => [id, made.find((j) => j.id === id).priority]))
  const priorities = taken.map((id) => rank.get(id))
  for (let i = 2; i < priorities.length; i++) assert.ok(priorities[i] <= priorities[i - 2], `no job overtakes one two ranks above: ${priorities}`)
  assert.deepEqual(new Set(taken), new Set(order))
  assert.equal((await store.get(made[4].id)).priority, 9)
  await assert.rejects(store.create('x', { priority: 10 }), { code: 'ERR_INVALID_ARG_TYPE' })
  store.close()
})

test('a job of higher priority made by another process while a worker waits on a backlog is pulled next', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  for (let i = 0; i < 50; i++) await store.create(i)
  // A worker that waited once watches the folder, as store.process does from its start.
  assert.ok(await store.pullJob({ waitMs: 1 }))
  const first = await store.pullJob()
  const urgent = await runNode(`const S = require('.'); new S({ dir: process.argv[1] }).create('urgent', { priority: 9 }).then(({ id }) => console.log(id))`, [dir])
  const next = await store.pullJob()
  assert.equal(next.id, urgent.stdout.trim())
  await first.release()
  await next.release()
  store.close()
})

test('createMany makes every job in order, acknowledged together; with a full disk it makes none and says so', async (t) => {
  const store = new JobStore({ dir: tempDir() })
  const made = await store.createMany([{ n: 1 }, { n: 2 }, { n: 3 }], { priority: 2, maxAttempts: 3 })
  assert.equal(made.length, 3)
  for (const [i, { id }] of made.entries()) {
    const job = await store.pullJob()
    assert.deepEqual([job.id, job.request, job.priority], [id, { n: i + 1 }, 2])
    await job.fulfill('done')
    await job.release()
  }
  await assert.rejects(store.createMany([1, 2n]), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(store.createMany([1], { key: 'k' }), { code: 'ERR_INVALID_ARG_VALUE' })
  store.close()

  if (process.getuid() !== 0) return t.skip('needs root to mount a small tmpfs for the full-disk case')
  const dir = path.join(tempDir(), 'small')
  fs.mkdirSync(dir)
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nr_inodes=400', 'tmpfs', dir], { stdio: 'pipe' })
  } catch {
    return t.skip('cannot mount a tmpfs here')
  }
  t.after(() => execFileSync('umount', ['-l', dir], { stdio: 'ignore' }))
  const small = new JobStore({ dir })
  const before = (await small.createMany([0, 1])).map((j) => j.id)
  const err = await small.createMany(Array.from({ length: 500 }, (_, i) => i)).catch((e) => e)
  assert.equal(err.code, 'ENOSPC', err.message)
  assert.deepEqual(err.created, [], 'the batch failed while being built: none of it was made')
  assert.match(err.message, /made 0 of 500 jobs/)
  assert.deepEqual((await small.list()).sort(), before.sort(), 'nothing half-made is visible')
  assert.deepEqual(fs.readdirSync(path.join(dir, 'tmp')), [], 'no leftovers')
  assert.deepEqual(await small.check(), [])
  assert.equal((await small.createMany([7])).length, 1, 'the store works after')
  small.close()
})

test('8 processes creating one key 100 times each at once make one job', async () => {
  const dir = tempDir()
  new JobStore({ dir }).close()
  const script = `
    const S = require('.'); const s = new S({ dir: process.argv[1] })
    ;(async () => { const ids = new Set(); let made = 0
      for (let i = 0; i < 100; i++) { const r = await s.create({ i }, { key: 'reindex account 42' }); ids.add(r.id); if (r.created) made++ }
      console.log(JSON.stringify({ ids: [...ids], made })) })()`
  const runs = await Promise.all(Array.from({ length: 8 }, () => runNode(script, [dir], { timeoutMs: 60000 })))
  const ids = new Set()
  let made = 0
  for (const run of runs) {
    assert.equal(run.code, 0, run.stderr)
    const out = JSON.parse(run.stdout)
    out.ids.forEach((id) => ids.add(id))
    made += out.made
  }
  assert.equal(ids.size, 1, `one job for the key: ${[...ids]}`)
  assert.equal(made, 1, 'created: true exactly once')
  const store = new JobStore({ dir })
  assert.deepEqual(await store.list(), [...ids])
  assert.equal((await store.get([...ids][0])).key, 'reindex account 42')
  store.close()
})

test('a key is free again once its job is fulfilled, failed or cancelled', async () => {
  const store = new JobStore({ dir: tempDir() })
  const key = { key: 'k' }
  const a = await store.create(1, key)
  assert.deepEqual(await store.create(2, key), { id: a.id, created: false }, 'pending: the same job')
  const delayed = await store.create(3, { key: 'later', delayMs: 60000 })
  assert.equal((await store.create(4, { key: 'later' })).id, delayed.id, 'delayed: the same job')
  const job = await store.pullJob()
  assert.equal((await store.create(5, key)).id, a.id, 'claimed: the same job')
  await job.fulfill('done')
  await job.release()
  const b = await store.create(6, key)
  assert.equal(b.created, true, 'free after the fulfil')
  await (await store.pullJob()).fail(new Error('no'))
  const c = await store.create(7, key)
  assert.equal(c.created, true, 'free after the final fail')
  await store.cancel(c.id)
  const d = await store.create(8, key)
  assert.deepEqual([d.created, d.id !== c.id], [true, true], 'free after the cancel')
  store.close()
})

test('a key left by a crash between taking it and making its job is taken over; check reports it and repair frees it', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  // What a process SIGKILLed after making keys/<key> and before publishing its job leaves.
  fs.symlinkSync('../jobs/job-01900000-0000-7000-8000-000000000000', path.join(dir, 'keys', 'crashed'))
  fs.symlinkSync('../jobs/job-01900000-0000-7000-8000-000000000001', path.join(dir, 'keys', 'crashed-too'))
  assert.deepEqual(await store.check(), [], 'a key younger than the grace period may be a create in flight')
  for (const name of ['crashed', 'crashed-too']) fs.lutimesSync(path.join(dir, 'keys', name), OLD, OLD)
  const problems = await store.check()
  assert.deepEqual(problems.map((p) => p.kind), ['stale-key', 'stale-key'])
  assert.equal((await store.create('x', { key: 'crashed' })).created, true, 'a create takes it over')
  const repaired = await store.check({ repair: true })
  assert.deepEqual(repaired.map((p) => [p.kind, p.repaired]), [['stale-key', true]])
  assert.deepEqual(await store.check(), [])
  assert.equal((await store.create('y', { key: 'crashed-too' })).created, true)
  store.close()
})

test('three processes running one schedule make exactly one job per slot, with no gap', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const period = 250
  await store.schedule('tick', { everyMs: period }, { tick: true }, { priority: 3 })
  const started = Date.now()
  // Workers that record each job's slot and do nothing else.
  const script = `
    const S = require('.'); const s = new S({ dir: process.argv[1] })
    const w = s.process(async (job) => job.schedule.slot.getTime())
    process.on('SIGTERM', () => w.close().then(() => s.close()))`
  const workers = [0, 1, 2].map(() => spawnNode(t, ['-e', script, dir], { stdio: 'ignore' }))
  await sleep(3000 * TIME_SCALE)
  for (const w of workers) w.kill('SIGTERM')
  await Promise.all(workers.map((w) => w.exited))
  const slots = []
  for (const id of await store.list()) {
    const info = await store.get(id)
    assert.equal(info.schedule.name, 'tick')
    assert.deepEqual(info.request, { tick: true })
    assert.equal(info.priority, 3)
    slots.push(info.schedule.slot.getTime())
  }
  slots.sort((a, b) => a - b)
  assert.equal(new Set(slots).size, slots.length, 'one job per slot')
  assert.ok(slots.length >= 8, `a job for most slots of 3 s: ${slots.length}`)
  for (let i = 1; i < slots.length; i++) assert.equal(slots[i] - slots[i - 1], period, `no gap between ${slots[i - 1]} and ${slots[i]}`)
  assert.ok(slots[0] >= started - period, 'no slot from before the schedule was saved')
  store.close()
})

test('a slot missed while nothing ran is made once when the next process starts; unschedule stops it', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  await store.schedule('often', { everyMs: 60000 }, 'x')
  // As if it had been saved ten minutes ago and nothing had run since: ten slots missed.
  const file = path.join(dir, 'schedules', 'often.json')
  const saved = JSON.parse(fs.readFileSync(file, 'utf8'))
  fs.writeFileSync(file, JSON.stringify({ ...saved, lastSlot: Date.now() - 600000 }))
  const jobs = await runNode(
    `const S = require('.'); const s = new S({ dir: process.argv[1], schedules: true })
     setTimeout(async () => { console.log(JSON.stringify(await s.list())); s.close() }, 300)`,
    [dir],
  )
  const made = JSON.parse(jobs.stdout)
  assert.equal(made.length, 1, `one job for the latest missed slot, not ten: ${made}`)
  const slot = (await store.get(made[0])).schedule.slot.getTime()
  assert.ok(Date.now() - slot < 60000 + 1000, 'the latest missed slot')
  assert.equal((await store.schedules())[0].lastSlot.getTime(), slot)
  assert.equal(await store.unschedule('often'), true)
  assert.deepEqual(await store.schedules(), [])
  const out = await cli('schedules', dir)
  assert.equal(out.stdout.trim(), 'no schedules')
  await assert.rejects(store.schedule('bad', { cron: 'every day' }, 'x'), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(store.schedule('bad', { cron: '0 3 * * *', tz: 'Nowhere/City' }, 'x'), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(store.schedule('../up', { everyMs: 1000 }, 'x'), { code: 'ERR_INVALID_ARG_VALUE' })
  store.close()
})

test('a cron schedule says its next slot in its time zone', async () => {
  const store = new JobStore({ dir: tempDir() })
  await store.schedule('paris-3am', { cron: '0 3 * * *', tz: 'Europe/Paris' }, 'x')
  const [s] = await store.schedules()
  const local = s.next.toLocaleString('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit', hour12: false })
  assert.equal(local, '03:00')
  assert.ok(s.next > new Date())
  store.close()
})
