'use strict'
// Several real processes on one folder: workers share the jobs, each worked by one at a time and
// fulfilled exactly once; SIGKILL at any moment, churn and kill storms lose nothing; a wait is
// woken by another process; and a process with a store exits by itself.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { ROOT, tempDir, runNode, runFile, spawnNode, sleep } = require('./helpers')

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

test('a kill during remove leaves each job whole or gone, and pulls keep working', async (t) => {
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

test('npm run demo: producer, two workers and a notifier finish, then stats and a prune', async () => {
  const { code, stdout, stderr } = await require('./helpers').runFile(path.join(ROOT, 'demo', 'run.js'), [], { timeoutMs: 90000 })
  assert.equal(code, 0, stderr)
  assert.match(stdout, /created\s+200 \| claimed\s+0 \| fulfilled\s+200 \| notified\s+200/)
  assert.match(stdout, /all 200 jobs created, worked, fulfilled and notified/)
  assert.match(stdout, /removed 200 fulfilled jobs/)
})
