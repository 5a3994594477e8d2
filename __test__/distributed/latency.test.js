'use strict'
// What crossing machines costs: how soon a worker waiting on client B hears of a job made on
// client A (no file-change events cross JuiceFS clients: waits look again every 500 ms), and how
// many filesystem operations (FUSE requests, from A's .accesslog) and metadata commands (Redis)
// a create and a pull–fulfil–release cycle make.

const assert = require('node:assert/strict')
const { dtest, agent, storeName, figure, percentile, sleep, accessLog } = require('./helpers')

const JOBS = 20

function report(t, what, latencies) {
  const note = `n=${latencies.length}, min ${Math.min(...latencies)}, max ${Math.max(...latencies)}`
  figure(t, `${what}, p50`, percentile(latencies, 50), 'ms', note)
  figure(t, `${what}, p95`, percentile(latencies, 95), 'ms')
  for (const ms of latencies) assert.ok(ms < 2000, `a job arrived after ${ms} ms: ${latencies}`)
}

dtest('wake-up across clients: pullJob({ waitMs }) waiting on B, jobs created on A', async (t) => {
  const name = storeName('wake-pull')
  const a = await agent(t, 'a', name)
  const b = await agent(t, 'b', name)
  const latencies = []
  for (let i = 0; i < JOBS; i++) {
    const pulled = b.send('pull', { waitMs: 10_000 }, 20_000)
    await sleep(150 + Math.random() * 450)
    const created = await a.send('create', { request: i })
    const got = await pulled
    assert.equal(got.result && got.result.id, created.result)
    latencies.push(got.at - created.at)
    await b.call('fulfill', { id: created.result, value: 'ok' })
    await b.call('release', { id: created.result })
  }
  report(t, 'wake-up A create -> B pullJob({ waitMs })', latencies)
})

dtest('wake-up across clients: store.process on B, jobs created on A', async (t) => {
  const name = storeName('wake-process')
  const a = await agent(t, 'a', name)
  const b = await agent(t, 'b', name)
  await b.call('process', { concurrency: 1 })
  const latencies = []
  for (let i = 0; i < JOBS; i++) {
    await sleep(150 + Math.random() * 450)
    const created = await a.send('create', { request: i })
    const started = await b.next((e) => e.event === 'started' && e.id === created.result, 10_000, `job ${i} started on B`)
    latencies.push(started.at - created.at)
    await b.next((e) => e.event === 'completed' && e.id === created.result, 10_000, `job ${i} completed on B`)
  }
  report(t, 'wake-up A create -> B store.process handler', latencies)
})

dtest('round trips: FUSE requests and Redis commands per create and per pull–fulfil–release cycle (one process on A, nothing else running)', async (t) => {
  const N = 50
  const name = storeName('round-trips')
  const a = await agent(t, 'a', name)
  await a.call('creates', { n: 2 }) // the store is made and warm
  await a.call('cycles', { n: 2 })
  const perOp = (r) =>
    Object.entries(r.ops)
      .sort((x, y) => y[1] - x[1])
      .map(([op, k]) => `${op} ${(k / N).toFixed(1)}`)
      .join(', ')
  const creates = await accessLog(() => a.call('creates', { n: N }, 120_000))
  const cycles = await accessLog(async () => {
    const ids = await a.call('cycles', { n: N }, 120_000)
    assert.equal(ids.length, N)
  })
  const one = await accessLog(() => a.call('creates', { n: 1 }))
  t.diagnostic(`the FUSE requests of one create (A's .accesslog, args shortened): ${one.lines.join(' | ')}`)
  const oneCycle = await accessLog(() => a.call('cycles', { n: 1 }))
  t.diagnostic(`the FUSE requests of one pull–fulfil–release cycle: ${oneCycle.lines.join(' | ')}`)
  figure(t, 'create (durable), FUSE requests per job', (creates.n / N).toFixed(1), '', perOp(creates))
  figure(t, 'create (durable), Redis commands per job', (creates.redis / N).toFixed(1), '', 'both clients\' heartbeats included')
  figure(t, 'create (durable), time per job', (creates.ms / N).toFixed(1), 'ms')
  figure(t, 'pull–fulfil–release, FUSE requests per cycle', (cycles.n / N).toFixed(1), '', perOp(cycles))
  figure(t, 'pull–fulfil–release, Redis commands per cycle', (cycles.redis / N).toFixed(1), '')
  figure(t, 'pull–fulfil–release, time per cycle', (cycles.ms / N).toFixed(1), 'ms', `${Math.round((N * 1000) / cycles.ms)} cycles/s`)
  assert.ok(creates.n > 0 && cycles.n > 0, 'the access log saw the process')
})
