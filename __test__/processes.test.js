'use strict'
// Several real processes on one folder: workers share the jobs, each worked by one at a time and
// fulfilled exactly once; SIGKILL at any moment, churn and kill storms lose nothing; a wait is
// woken by another process; and a process with a store exits by itself.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { tempDir, runFile } = require('./helpers')

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
