'use strict'
// Two measurements beside the benchmark's floor and across clients:
// - FUSE requests (A's .accesslog) and Redis commands per create and per pull–fulfil–release
//   cycle of the floor (bench/floor: only the system calls of one job's life, in the store's
//   folder layout, durable), counted the same way as the store's in latency.test.js, and the
//   store's again in the same run so that the two are printed side by side;
// - throughput with work that waits 20 ms: one worker (store.process, concurrency 1) on A alone,
//   then two clients × four workers (four processes on each mount, concurrency 1 each), and the
//   same eight as one process per mount with concurrency 4.
// Only correctness is asserted (every job run once, nothing lost); the rest are figures.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const readline = require('node:readline')
const { spawn, spawnSync } = require('node:child_process')
const { dtest, agent, storeName, clients, figure, until, sleep, ROOT, accessLog } = require('./helpers')
const { spawnNode } = require('../helpers')

const FLOOR = path.join(ROOT, 'bench', 'floor', 'target', 'release', 'fs-job-store-floor')
const WORKER = path.join(__dirname, 'fixtures', 'slow-worker.js')

/** Runs the floor binary (asynchronously, so the access log keeps being read); its FLOOR json. */
function floor(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(FLOOR, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('exit', (code) => {
      const m = /^FLOOR (.*)$/m.exec(out)
      if (code !== 0 || !m) reject(new Error(`floor ${args.join(' ')}: exit ${code}: ${err}${out}`))
      else resolve(JSON.parse(m[1]))
    })
  })
}

/** The floor binary, built if it is not there; null when it cannot be. */
function floorBinary() {
  if (fs.existsSync(FLOOR)) return FLOOR
  const r = spawnSync('cargo', ['build', '--release', '--manifest-path', path.join(ROOT, 'bench', 'floor', 'Cargo.toml')], { stdio: 'ignore' })
  return r.status === 0 && fs.existsSync(FLOOR) ? FLOOR : null
}

const perOp = (r, n, base = {}) =>
  Object.entries(r.ops)
    .map(([op, k]) => [op, k - (base[op] || 0)])
    .filter(([, k]) => k > 0)
    .sort((x, y) => y[1] - x[1])
    .map(([op, k]) => `${op} ${(k / n).toFixed(1)}`)
    .join(', ')

dtest('round trips of the floor beside the store\'s: FUSE requests and Redis commands per create and per pull–fulfil–release cycle (durable, one process on A)', async (t) => {
  if (!floorBinary()) return t.skip('no bench/floor binary, and cargo could not build it')
  const N = 50

  // The store's, as latency.test.js counts them (a warm store: its opening is not counted).
  const a = await agent(t, 'a', storeName('round-trips-ours'))
  await a.call('creates', { n: 2 })
  await a.call('cycles', { n: 2 })
  const oursCreates = await accessLog(() => a.call('creates', { n: N }, 120_000))
  const oursCycles = await accessLog(() => a.call('cycles', { n: N }, 120_000))
  assert.equal(oursCycles.result.length, N)

  // The floor's: each run is a new process that opens the folders (and drain lists `pending/`)
  // before its first job; a run with --n 0 counts that, and it is taken off.
  const dir = path.join(clients.a.mount, storeName('round-trips-floor'))
  await floor(['create', '--dir', dir, '--n', '2', '--durable'])
  await floor(['drain', '--dir', dir, '--n', '2', '--durable'])
  const createBase = await accessLog(() => floor(['create', '--dir', dir, '--n', '0', '--durable']))
  const floorCreates = await accessLog(() => floor(['create', '--dir', dir, '--n', String(N), '--durable']))
  assert.equal(floorCreates.result.n, N)
  const drainBase = await accessLog(() => floor(['drain', '--dir', dir, '--n', '0', '--durable']))
  const floorCycles = await accessLog(() => floor(['drain', '--dir', dir, '--n', String(N), '--durable']))
  assert.equal(floorCycles.result.n, N, 'the floor drained every job it made')
  const one = await accessLog(() => floor(['create', '--dir', dir, '--n', '1', '--durable']))
  const oneCycle = await accessLog(() => floor(['drain', '--dir', dir, '--n', '1', '--durable']))
  t.diagnostic(`the floor's setup (create --n 0): ${createBase.lines.join(' | ')}`)
  t.diagnostic(`the floor's FUSE requests of one create (with its setup): ${one.lines.join(' | ')}`)
  t.diagnostic(`the floor's FUSE requests of one cycle (with its setup and listing): ${oneCycle.lines.join(' | ')}`)

  const floorCreate = (floorCreates.n - createBase.n) / N
  const floorCycle = (floorCycles.n - drainBase.n) / N
  const oursCreate = oursCreates.n / N
  const oursCycle = oursCycles.n / N
  figure(t, 'floor create (durable), FUSE requests per job', floorCreate.toFixed(1), '', `${perOp(floorCreates, N, createBase.ops)}; setup of ${createBase.n} taken off`)
  figure(t, 'floor create (durable), Redis commands per job', ((floorCreates.redis - createBase.redis) / N).toFixed(1), '', 'heartbeats included')
  figure(t, 'floor create (durable), time per job', ((floorCreates.result.secs * 1000) / N).toFixed(1), 'ms')
  figure(t, 'floor pull–fulfil–release (durable), FUSE requests per cycle', floorCycle.toFixed(1), '', `${perOp(floorCycles, N, drainBase.ops)}; setup and listing of ${drainBase.n} taken off`)
  figure(t, 'floor pull–fulfil–release (durable), Redis commands per cycle', ((floorCycles.redis - drainBase.redis) / N).toFixed(1), '')
  figure(t, 'floor pull–fulfil–release (durable), time per cycle', ((floorCycles.result.secs * 1000) / N).toFixed(1), 'ms')
  figure(t, 'ours create (durable), FUSE requests per job, same run', oursCreate.toFixed(1), '', `${(oursCreate / floorCreate).toFixed(2)}× the floor's; ${perOp(oursCreates, N)}`)
  figure(t, 'ours pull–fulfil–release, FUSE requests per cycle, same run', oursCycle.toFixed(1), '', `${(oursCycle / floorCycle).toFixed(2)}× the floor's; ${perOp(oursCycles, N)}`)
  figure(t, 'ours create / pull–fulfil–release, Redis commands, same run', `${(oursCreates.redis / N).toFixed(1)} / ${(oursCycles.redis / N).toFixed(1)}`, '')
  figure(t, 'ours create / pull–fulfil–release, time, same run', `${(oursCreates.ms / N).toFixed(1)} / ${(oursCycles.ms / N).toFixed(1)}`, 'ms')
  assert.ok(floorCreates.n > createBase.n && floorCycles.n > drainBase.n, 'the access log saw the floor')
})

/** A slow-worker process on client `c`'s mount; resolves once its store is open. */
async function worker(t, c, name, concurrency, workMs) {
  const child = spawnNode(t, [WORKER, path.join(clients[c].mount, name), String(concurrency), String(workMs)], { stdio: ['pipe', 'pipe', 'pipe'] })
  const w = { child, client: c, events: [], stderr: '' }
  child.stderr.on('data', (d) => (w.stderr += d))
  child.stdin.on('error', () => {})
  readline.createInterface({ input: child.stdout }).on('line', (line) => w.events.push(JSON.parse(line)))
  w.send = (line) => child.stdin.write(`${line}\n`)
  await until(() => w.events.some((e) => e.event === 'ready'), 30_000, `worker on ${c} ready (stderr: ${w.stderr})`)
  return w
}

/** 200 jobs made on A, then the workers (`layout`: a client per process) started together, each
 * process with `concurrency`; jobs/s. */
async function throughput(t, label, layout, { jobs = 200, workMs = 20, concurrency = 1 } = {}) {
  const name = storeName(label)
  const producer = await agent(t, 'a', name)
  const ids = await producer.call('creates', { n: jobs }, 120_000)
  assert.equal(new Set(ids).size, jobs)
  const workers = []
  for (const c of layout) workers.push(await worker(t, c, name, concurrency, workMs))
  const go = Date.now()
  for (const w of workers) w.send('go')
  const completed = () => workers.flatMap((w) => w.events.filter((e) => e.event === 'completed'))
  await until(() => completed().length >= jobs, 150_000, `${jobs} jobs completed (${label})`, 20)
  const last = Math.max(...completed().map((e) => e.at))
  await sleep(1000) // a duplicate run would show up here
  for (const w of workers) w.send('close')
  await Promise.all(workers.map((w) => until(() => w.events.some((e) => e.event === 'closed') || w.child.exitCode !== null, 10_000, 'a worker closed').catch(() => {})))

  const perId = new Map()
  for (const e of workers.flatMap((w) => w.events.filter((x) => x.event === 'started'))) perId.set(e.id, (perId.get(e.id) || 0) + 1)
  assert.deepEqual([...perId].filter(([, n]) => n > 1), [], 'no job was run twice')
  assert.deepEqual([...perId.keys()].sort(), [...ids].sort(), 'every job was run')
  assert.equal(completed().length, jobs, 'every job completed once')
  const errors = workers.flatMap((w) => w.events.filter((e) => ['error', 'failed', 'uncaught', 'unhandled'].includes(e.event)))
  assert.deepEqual(errors, [], 'no error or failure')
  const stats = await producer.call('stats')
  assert.equal(stats.fulfilled, jobs, JSON.stringify(stats))
  const secs = (last - go) / 1000
  const byWorker = workers.map((w) => `${w.client}:${w.events.filter((e) => e.event === 'completed').length}`).join(' ')
  return { secs, rate: jobs / secs, byWorker }
}

dtest('throughput with work that waits 20 ms: one worker on A alone vs two clients × four workers (4 processes per mount, then 1 process per mount with concurrency 4), 200 jobs each', async (t) => {
  const one = await throughput(t, 'scale-1', ['a'])
  const many = await throughput(t, 'scale-2x4', ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b'])
  // the same eight workers as one process per mount with concurrency 4 (fewer processes on the cores)
  const threads = await throughput(t, 'scale-2x1c4', ['a', 'b'], { concurrency: 4 })
  figure(t, '200 jobs of 20 ms, 1 worker on A (concurrency 1)', one.rate.toFixed(1), 'jobs/s', `${one.secs.toFixed(2)} s from go to the last completion`)
  figure(t, '200 jobs of 20 ms, 2 clients × 4 workers (4 processes per mount)', many.rate.toFixed(1), 'jobs/s', `${many.secs.toFixed(2)} s; per worker ${many.byWorker}`)
  figure(t, '2 × 4 workers / 1 worker, jobs/s', (many.rate / one.rate).toFixed(2), '×', 'target ≥ 4×')
  figure(t, '200 jobs of 20 ms, 2 clients × 1 process with concurrency 4', threads.rate.toFixed(1), 'jobs/s', `${threads.secs.toFixed(2)} s; ${(threads.rate / one.rate).toFixed(2)}× 1 worker; per process ${threads.byWorker}`)
})
