'use strict'
// Several real processes on one folder: workers share the jobs, each worked by one at a time and
// fulfilled exactly once; SIGKILL at any moment, churn and kill storms lose nothing; a wait is
// woken by another process; and a process with a store exits by itself.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { ROOT, tempDir, runNode, runFile, spawnNode, sleep, INTERVAL } = require('./helpers')

/**
 * How many times longer the crash-timing windows are: 1 here, more where every process runs
 * slower (`npm run test:platforms` runs this suite on arm64 under qemu, where a Node process
 * takes a second or two just to start). The assertions stay the same.
 */
const TIME_SCALE = Number(process.env.FJS_TEST_TIME_SCALE) || 1

const FIXTURES = path.join(__dirname, 'fixtures')
const WORKER = path.join(FIXTURES, 'worker.js')

/** Runs a worker until it exits by itself; resolves its records (see fixtures/worker.js). */
async function startWorker(dir, name) {
  const { code, stdout, stderr } = await runFile(WORKER, [dir, name, '500'], { timeoutMs: 60000 })
  if (code !== 0) throw new Error(`worker ${name} exited with ${code}\n${stderr}`)
  return stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line))
}

test('4 worker processes on 300 jobs: each job worked once, never by two at a time', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir, durable: false })
  const ids = []
  for (let n = 0; n < 300; n++) ids.push((await store.create({ n })).id)

  const records = (await Promise.all(['w1', 'w2', 'w3', 'w4'].map((name) => startWorker(dir, name)))).flat()

  assert.equal(records.length, 300, 'every job was worked exactly once')
  assert.deepEqual(records.map((r) => r.id).sort(), [...ids].sort())
  const workers = new Set(records.map((r) => r.worker))
  assert.ok(workers.size >= 2, `the work was shared (workers: ${[...workers]})`)
  for (const id of ids) {
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', id, 'state.json')))
    assert.equal(state.state, 2)
    const value = fs.readFileSync(path.join(dir, 'jobs', id, 'value'), 'utf8')
    const record = records.find((r) => r.id === id)
    assert.equal(value, `${record.worker}:${record.n}`, 'the value is the one its only worker wrote')
  }
  assert.deepEqual(fs.readdirSync(path.join(dir, 'pending')), [], 'nothing left pending')
})

test('exclusivity under churn: 4 workers, 500 jobs, claims of one job never overlap in time', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir, durable: false })
  const ids = new Set()
  for (let n = 0; n < 500; n++) ids.add((await store.create({ n })).id)
  const runs = ['w1', 'w2', 'w3', 'w4'].map((name) =>
    runFile(path.join(FIXTURES, 'worker.js'), [dir, name, '500', '0.3'], { timeoutMs: 90000 }).then(
      ({ code, stdout, stderr }) => {
        assert.equal(code, 0, stderr)
        return stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
      },
    ),
  )
  const records = (await Promise.all(runs)).flat()
  const byJob = new Map()
  for (const r of records) byJob.set(r.id, [...(byJob.get(r.id) || []), r])
  assert.deepEqual(new Set(byJob.keys()), ids)
  let handovers = 0
  for (const [id, claims] of byJob) {
    claims.sort((a, b) => (BigInt(a.start) < BigInt(b.start) ? -1 : 1))
    for (let i = 1; i < claims.length; i++) {
      assert.ok(BigInt(claims[i].start) > BigInt(claims[i - 1].end), `claims of ${id} overlap: ${JSON.stringify(claims)}`)
      handovers++
    }
    assert.equal(claims.filter((c) => c.fulfilled).length, 1, `${id} fulfilled exactly once`)
    assert.ok(claims.at(-1).fulfilled, `${id}: nobody claims a fulfilled job`)
  }
  assert.ok(handovers > 50, `jobs did pass between claims (${handovers} hand-overs)`)
})

test('a worker killed with SIGKILL mid-job frees it for another worker at once', async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const { id } = await store.create('crash me')
  const child = spawnNode(
    t,
    ['-e', `const S = require('.'); new S({ dir: process.argv[1] }).pullJob().then((j) => { console.log(j.id); setInterval(() => {}, 1000) })`, dir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const pulled = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(String(d).trim())))
  assert.equal(pulled, id)
  assert.equal(await store.pullJob(), undefined, 'held by the live worker')
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('exit', resolve))
  const job = await store.pullJob()
  assert.equal(job && job.id, id, 'pullable as soon as the worker is dead, no stale timeout')
  await job.release()
})

test('kill storm: SIGKILL at random, restart, then a calm drain loses nothing', async (t) => {
  // tmpfs when there is one: this test is about locks, not disk speed.
  const root = fs.existsSync('/dev/shm') ? '/dev/shm' : undefined
  const dir = root ? fs.mkdtempSync(path.join(root, 'fjs-storm-')) : tempDir()
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  const logs = tempDir()
  const script = path.join(FIXTURES, 'storm.js')
  const procs = new Map()
  const start = (name, role) => {
    // Killed when the test ends, however it ends: a failed assertion must not leave them running.
    const child = spawnNode(t, [script, role, dir, logs], { stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr.on('data', (d) => process.stderr.write(`[${name}] ${d}`))
    procs.set(name, { role, child })
  }
  const kill = async (name) => {
    const { child } = procs.get(name)
    child.kill('SIGKILL')
    const { signal, code } = await child.exited
    assert.equal(signal, 'SIGKILL', `${name} was still running when killed (exit code ${code})`)
  }
  start('producer', 'producer')
  start('worker-1', 'worker')
  start('worker-2', 'worker')
  start('notifier', 'notifier')

  let kills = 0
  const stormEnds = Date.now() + 4000 * TIME_SCALE
  while (Date.now() < stormEnds) {
    await sleep((50 + Math.random() * 250) * TIME_SCALE)
    const name = [...procs.keys()][Math.floor(Math.random() * procs.size)]
    await kill(name)
    start(name, procs.get(name).role)
    kills++
  }
  await kill('producer')
  procs.delete('producer')
  const lastKill = Date.now()

  const readLog = (name) => {
    const file = path.join(logs, name)
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []
  }
  const acked = readLog('acked')
  assert.ok(acked.length > 50, `the producer got work acknowledged (${acked.length})`)
  const isDone = () => {
    const delivered = new Set(readLog('delivered').map((d) => `${d.id} ${d.target.to}`))
    return acked.every(({ id, n }) => delivered.has(`${id} ${n}`) && !fs.existsSync(path.join(dir, 'pending', id)))
  }
  let drainedAfter = null
  while (Date.now() - lastKill < 20000 * TIME_SCALE) {
    if (isDone()) {
      drainedAfter = Date.now() - lastKill
      break
    }
    await sleep(20)
  }
  for (const name of procs.keys()) await kill(name)

  t.diagnostic(`${kills} kills, ${acked.length} acknowledged jobs, drained ${drainedAfter} ms after the last kill`)
  assert.notEqual(drainedAfter, null, 'the queue drained')
  assert.ok(drainedAfter <= 1000 * TIME_SCALE, `drained ${drainedAfter} ms after the last kill (${kills} kills)`)
  for (const { id, n } of acked) {
    const jobDir = path.join(dir, 'jobs', id)
    const state = JSON.parse(fs.readFileSync(path.join(jobDir, 'state.json')))
    assert.equal(state.state, 2, `${id} is fulfilled`)
    assert.equal(fs.readFileSync(path.join(jobDir, 'value'), 'utf8'), `value-of-${n}`)
  }
  for (const d of readLog('delivered')) assert.equal(d.value, `value-of-${d.target.to}`, 'delivered the right value')
  for (const id of fs.readdirSync(path.join(dir, 'jobs'))) {
    const file = path.join(dir, 'jobs', id, 'state.json')
    if (!fs.existsSync(file)) continue // a create killed before its rename leaves no job folder; see tmp/
    const state = JSON.parse(fs.readFileSync(file)) // throws on an unparsable state.json
    if (state.state === 2) assert.equal(fs.existsSync(path.join(dir, 'pending', id)), false, `${id} fulfilled but still pending`)
  }
})

test('a prune killed with SIGKILL leaves each job whole or gone, and every pending job stays pullable', async (t) => {
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

test('a blocked event loop does not lose the claim: no other process gets the job meanwhile', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir, lockCheckInterval: INTERVAL })
  const { id } = await store.create('long work')
  const job = await store.pullJob()
  let compromised = false
  job.oncompromised = () => (compromised = true)
  const probe = `
    const S = require('.'); const s = new S({ dir: process.argv[1] })
    ;(async () => {
      let got = 0
      for (let i = 0; i < 15; i++) { const j = await s.pullJob(); if (j) { got++; await j.release() } await new Promise((r) => setTimeout(r, 100)) }
      console.log(got)
    })()`
  const probing = runNode(probe, [dir], { timeoutMs: 20000 })
  const until = Date.now() + 2500
  while (Date.now() < until) {} // a worker stuck in synchronous work
  const { stdout, code } = await probing
  assert.equal(code, 0)
  assert.equal(stdout.trim(), '0', 'the job was never handed to the other process')
  await sleep(3 * INTERVAL)
  assert.equal(compromised, false)
  await job.fulfill('done after a long block')
  await job.release()
  assert.equal((await store.get(id)).state, 'fulfilled')
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

test('a script that pulls a job and returns without releasing exits by itself; the job is free at once', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const { id } = await store.create('left behind')
  const script = `
    const JobStore = require('.')
    new JobStore({ dir: process.argv[1] }).pullJob().then((job) => console.log('pulled', job.id))
  `
  const { code, stdout } = await runNode(script, [dir], { timeoutMs: 10000 })
  assert.equal(code, 0)
  assert.equal(stdout.trim(), `pulled ${id}`)
  const job = await store.pullJob()
  assert.equal(job.id, id, 'the lock went with the process')
  await job.release()
})

test('an open store with no claims does not keep the process alive', async () => {
  const script = `
    const JobStore = require('.')
    const store = new JobStore({ dir: process.argv[1], lockCheckInterval: 10 })
    store.create('x').then(() => store.pullJob()).then((job) => job.release()).then(() => console.log('idle'))
  `
  const { code, stdout } = await runNode(script, [tempDir()], { timeoutMs: 10000 })
  assert.equal(code, 0)
  assert.equal(stdout.trim(), 'idle')
})

test('npm run demo: producer, two workers and a notifier finish, then stats and a prune', async () => {
  const { code, stdout, stderr } = await require('./helpers').runFile(path.join(ROOT, 'demo', 'run.js'), [], { timeoutMs: 90000 })
  assert.equal(code, 0, stderr)
  assert.match(stdout, /created\s+200 \| claimed\s+0 \| fulfilled\s+200 \| notified\s+200/)
  assert.match(stdout, /all 200 jobs created, worked, fulfilled and notified/)
  assert.match(stdout, /removed 200 fulfilled jobs/)
})
