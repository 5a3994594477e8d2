'use strict'
// Working jobs in one process: pullJob/pullWork and the jobs() iterator, waits with waitMs and a
// signal, fulfilling (store.fulfill, job.fulfill) and releasing, and the claims behind them: one
// holder per job, oncompromised when a claim is lost, and a job.fulfill fenced after it.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const JobStore = require('..')
const { tempDir } = require('./helpers')

test('two stores on one folder in one process never hand out the same job', async () => {
  const dir = tempDir()
  const a = new JobStore({ dir })
  const b = new JobStore({ dir: path.join(dir, '.', '') })
  const ids = []
  for (let n = 0; n < 20; n++) ids.push((await a.create({ n })).id)
  const pulls = []
  for (let i = 0; i < 15; i++) pulls.push(a.pullJob(), b.pullJob())
  const jobs = (await Promise.all(pulls)).filter(Boolean)
  assert.equal(jobs.length, 20)
  assert.deepEqual(jobs.map((j) => j.id).sort(), [...ids].sort())
  await Promise.all(jobs.map((j) => j.release()))
})
