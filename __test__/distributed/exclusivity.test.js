'use strict'
// Two JuiceFS clients on one volume stand for two machines sharing the store folder: workers on
// both, a producer on one; every job is run once, by one worker, and nothing is lost.

const assert = require('node:assert/strict')
const { dtest, agent, storeName, until, figure } = require('./helpers')

const JOBS = 200

dtest('2 workers on each client, 1 producer: every job fulfilled exactly once, nothing lost, check() clean from both', async (t) => {
  const name = storeName('exclusive')
  const producer = await agent(t, 'a', name)
  const workers = [await agent(t, 'a', name), await agent(t, 'a', name), await agent(t, 'b', name), await agent(t, 'b', name)]
  const checkerB = await agent(t, 'b', name)
  for (const [i, w] of workers.entries()) await w.call('process', { concurrency: 1, value: `w${i}` })
  const started = Date.now()
  const ids = await producer.call('creates', { n: JOBS }, 120_000)
  const created = Date.now()
  assert.equal(new Set(ids).size, JOBS)
  const runs = () => workers.flatMap((w, i) => w.events.filter((e) => e.event === 'completed').map((e) => [e.id, i]))
  await until(() => runs().length >= JOBS, 120_000, `${JOBS} jobs completed`, 100)
  const finished = Date.now()
  await new Promise((r) => setTimeout(r, 1500)) // a duplicate run would show up here
  for (const w of workers) await w.call('closeWorker')

  const started_ = workers.flatMap((w, i) => w.events.filter((e) => e.event === 'started').map((e) => [e.id, i]))
  const perId = new Map()
  for (const [id] of started_) perId.set(id, (perId.get(id) || 0) + 1)
  const twice = [...perId].filter(([, n]) => n > 1)
  assert.deepEqual(twice, [], 'no job was run twice')
  assert.deepEqual([...perId.keys()].sort(), [...ids].sort(), 'every job was run')
  const byWorker = workers.map((w) => w.events.filter((e) => e.event === 'completed').length)
  const errors = workers.flatMap((w) => w.events.filter((e) => ['error', 'failed', 'aborted', 'uncaught', 'unhandled'].includes(e.event)))
  assert.deepEqual(errors, [], 'no error, failure or lost claim')

  const stats = await producer.call('stats')
  assert.equal(stats.fulfilled, JOBS, JSON.stringify(stats))
  for (const id of ids.slice(0, 20)) {
    const g = await checkerB.call('get', { id })
    assert.equal(g.state, 'fulfilled')
    assert.equal(g.attempts, 1)
    assert.match(g.value, /^w[0-3]$/)
  }
  assert.deepEqual(await producer.call('check'), [], 'check() through client A')
  assert.deepEqual(await checkerB.call('check'), [], 'check() through client B')
  figure(t, 'exclusivity: 200 creates by one process on A', created - started, 'ms')
  figure(t, 'exclusivity: 200 jobs done by 2+2 workers (from the first create)', finished - started, 'ms', `jobs per worker ${byWorker.join('/')}, ${Math.round((JOBS * 1000) / (finished - started))} jobs/s`)
})
