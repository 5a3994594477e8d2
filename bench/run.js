#!/usr/bin/env node
'use strict'
// The benchmark of issue 7: fs-job-store 2 ("ours") against its floor (bench/floor, the bare
// system calls of one job's life in the same layout), plainjob (SQLite) and fs-job-store 1.2.0,
// interleaved in one run on one filesystem. See bench/README.md.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const util = require('node:util')
const { fork, spawnSync } = require('node:child_process')
const setup = require('./lib/setup')

const ALL_WORKLOADS = ['w1', 'w1c', 'w1m', 'w2', 'w2r', 'w3', 'w4', 'w5', 'w5p', 'w5d', 'w6', 'rss', 'syscalls', 'dashboard']

const HELP = `usage: npm run bench -- [options]

  --dir-root DIR        where trial folders are made (default: the system temp dir, ${os.tmpdir()})
  --quick               a smoke run of a minute or two (smaller N, fewer depths and samples)
  --only LIST           workloads, comma-separated: ${ALL_WORKLOADS.join(',')} (default: all)
  --systems LIST        ours,floor,plainjob,legacy (default: all; ours always runs)
  --durable MODE        both | true | false (default: both)
  --rounds R            rounds per comparison (default 3)
  --n N                 jobs per trial in W1-W4 (default 2000)
  --legacy-n N          jobs per trial for 1.2.0 (default 500; it runs ~200 jobs/s)
  --w3-workers K        worker processes in W3 (default 2)
  --w3-inflight K       creates in flight in W3's producer (default 1)
  --w5-depths LIST      queue depths for W5 (default 100,1000,10000,100000)
  --w5-batch B          jobs timed at each depth (default 500)
  --w6-samples S        kills measured in W6 (default 20)
  --legacy-w6-samples S kills measured for 1.2.0 in W6 (default 2; each takes ~10 s)
  --rss-depths LIST     queue depths for the RSS check (default 1000,100000)
  --rss-dir-root DIR    where the RSS check's folders are made (default /dev/shm if present:
                        memory does not depend on the filesystem, and seeding is slow on disks)
  --ours DIR            the fs-job-store checkout to measure (default: this repo)
  --json-out FILE       also write every row as JSON to FILE
  --timeout S           seconds before a trial is killed and reported as failed (default 300)
`

function parseArgs(argv) {
  const o = {
    dirRoot: os.tmpdir(),
    quick: false,
    only: ALL_WORKLOADS,
    systems: ['ours', 'floor', 'plainjob', 'legacy'],
    durable: [false, true],
    rounds: 3,
    n: 2000,
    legacyN: 500,
    w3Workers: 2,
    w3Inflight: 1,
    w5Depths: [100, 1000, 10000, 100000],
    w5Batch: 500,
    w6Samples: 20,
    legacyW6Samples: 2,
    rssDepths: [1000, 100000],
    // Memory does not depend on the filesystem, and seeding 100,000 jobs on a slow disk takes
    // minutes: the RSS check runs on tmpfs when there is one.
    rssDirRoot: fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(),
    ours: path.resolve(__dirname, '..'),
    jsonOut: null,
    timeout: 300,
  }
  const set = {}
  const list = (v) => v.split(',').map((s) => s.trim()).filter(Boolean)
  const int = (v, name) => {
    const x = Number(v)
    if (!Number.isInteger(x) || x < 0) fail(`--${name} needs a whole number, got ${v}`)
    return x
  }
  const flags = ['help', 'quick']
  const valued = ['dir-root', 'only', 'systems', 'durable', 'rounds', 'n', 'legacy-n', 'w3-workers', 'w3-inflight', 'w5-depths', 'w5-batch', 'w6-samples', 'legacy-w6-samples', 'rss-depths', 'rss-dir-root', 'ours', 'json-out', 'timeout']
  let values
  try {
    ;({ values } = util.parseArgs({
      args: argv,
      strict: true,
      options: Object.fromEntries([
        ...flags.map((f) => [f, { type: 'boolean', ...(f === 'help' ? { short: 'h' } : {}) }]),
        ...valued.map((f) => [f, { type: 'string' }]),
      ]),
    }))
  } catch (err) {
    fail(`${err.message}\n\n${HELP}`)
  }
  if (values.help) {
    process.stdout.write(HELP)
    process.exit(0)
  }
  const given = (name, apply) => values[name] !== undefined && apply(values[name])
  given('dir-root', (v) => (o.dirRoot = v))
  given('quick', (v) => (o.quick = v))
  given('only', (v) => (o.only = list(v).map((w) => w.toLowerCase())))
  given('systems', (v) => (o.systems = [...new Set(['ours', ...list(v)])]))
  given('durable', (m) => {
    o.durable = m === 'both' ? [false, true] : m === 'true' ? [true] : m === 'false' ? [false] : fail('--durable is both, true or false')
  })
  given('rounds', (v) => (o.rounds = set.rounds = int(v, 'rounds')))
  given('n', (v) => (o.n = set.n = int(v, 'n')))
  given('legacy-n', (v) => (o.legacyN = set.legacyN = int(v, 'legacy-n')))
  given('w3-workers', (v) => (o.w3Workers = int(v, 'w3-workers')))
  given('w3-inflight', (v) => (o.w3Inflight = int(v, 'w3-inflight')))
  given('w5-depths', (v) => (o.w5Depths = set.w5Depths = list(v).map((d) => int(d, 'w5-depths'))))
  given('w5-batch', (v) => (o.w5Batch = set.w5Batch = int(v, 'w5-batch')))
  given('w6-samples', (v) => (o.w6Samples = set.w6Samples = int(v, 'w6-samples')))
  given('legacy-w6-samples', (v) => (o.legacyW6Samples = set.legacyW6Samples = int(v, 'legacy-w6-samples')))
  given('rss-depths', (v) => (o.rssDepths = set.rssDepths = list(v).map((d) => int(d, 'rss-depths'))))
  given('rss-dir-root', (v) => (o.rssDirRoot = v))
  given('ours', (v) => (o.ours = path.resolve(v)))
  given('json-out', (v) => (o.jsonOut = path.resolve(v)))
  given('timeout', (v) => (o.timeout = int(v, 'timeout')))
  for (const w of o.only) if (!ALL_WORKLOADS.includes(w)) fail(`unknown workload ${w}; pick from ${ALL_WORKLOADS.join(',')}`)
  if (o.quick) {
    // Defaults for a smoke run; any option given explicitly wins.
    const q = { n: 300, legacyN: 100, w5Depths: [100, 1000, 10000], w5Batch: 100, w6Samples: 5, legacyW6Samples: 0, rssDepths: [1000, 10000] }
    for (const [k, val] of Object.entries(q)) if (!(k in set)) o[k] = val
  }
  if (o.rounds < 1) fail('--rounds must be at least 1')
  return o
}

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`)
  process.exit(2)
}

// ---------------------------------------------------------------- statistics and formatting

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return null
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const quantile = (xs, q) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : null
}
const round = (x, digits = 3) => (x === null || x === undefined ? null : Number(x.toPrecision(digits)))

function fmt(x) {
  if (x === null || x === undefined) return '—'
  if (typeof x === 'string') return x
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US')
  if (Math.abs(x) >= 10) return x.toFixed(1)
  return x.toFixed(2)
}
const fmtRatio = (r) => (r === null || r === undefined ? '—' : `${r >= 10 ? r.toFixed(0) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×`)

// ---------------------------------------------------------------- machine and trial folders

function machine(dirRoot) {
  const sh = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' })
    // findmnt lists every mount stacked on the point; the first line is the one in use.
    return r.status === 0 ? r.stdout.trim().split('\n')[0] : null
  }
  return {
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    cpu: os.cpus()[0] && os.cpus()[0].model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    dirRoot,
    fs: sh('findmnt', ['-n', '-o', 'FSTYPE', '-T', dirRoot]) || sh('stat', ['-f', '-c', '%T', dirRoot]),
    mountOptions: sh('findmnt', ['-n', '-o', 'OPTIONS', '-T', dirRoot]),
    date: new Date().toISOString(),
    loadavg: os.loadavg().map((x) => round(x, 3)),
  }
}

const allTrials = []

class Trials {
  constructor(dirRoot) {
    this.dirRoot = dirRoot
    allTrials.push(this)
  }

  /** A fresh folder under the dir root: `store/` is the store, `ostmp/` is 1.2.0's TMPDIR (its
   * temp dirs must be on the store's filesystem, or its renames fail with EXDEV). */
  fresh() {
    const root = fs.mkdtempSync(path.join(this.dirRoot, 'fjs-bench-'))
    const store = path.join(root, 'store')
    fs.mkdirSync(store)
    for (const sub of ['jobs', 'pending', 'waiting']) fs.mkdirSync(path.join(store, sub))
    fs.mkdirSync(path.join(root, 'ostmp'))
    return { root, store, env: { ...process.env, TMPDIR: path.join(root, 'ostmp') } }
  }

  /** Moves a finished trial's folder aside; `purge()` deletes them all at the end of the run.
   * Deleting between trials slows the next ones down: on an ext4 without a journal (as here)
   * the inode allocator skips, one by one, every inode freed in the last 60 to 360 seconds
   * (`recently_deleted()`), so a run that deletes thousands of inodes between trials makes every
   * following create pay for it, and more so for the systems that make more inodes per job. */
  remove(trial) {
    if (!this.trash) this.trash = fs.mkdtempSync(path.join(this.dirRoot, 'fjs-bench-done-'))
    fs.renameSync(trial.root, path.join(this.trash, path.basename(trial.root)))
    syncFs(this.dirRoot)
  }

  purge() {
    if (this.trash) spawnSync('rm', ['-rf', this.trash])
    this.trash = null
  }
}

/** Writes back the filesystem's dirty data (syncfs) so one trial's leftovers are not flushed
 * inside the next one's fsyncs. */
function syncFs(dir) {
  spawnSync('sync', ['-f', dir])
}

// ---------------------------------------------------------------- running trials

function spawnTrial(ctx, spec, env) {
  const child = fork(path.join(__dirname, 'lib', 'child.js'), [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: env || process.env,
  })
  const inbox = []
  const waiters = []
  let exited = null
  const exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal }
      for (const w of waiters.splice(0)) w.reject(new Error(`trial ${spec.system}/${spec.role} exited (${signal || code}) while waiting for '${w.type}'`))
      resolve(exited)
    })
  })
  child.on('message', (msg) => {
    if (msg.type === 'error') {
      const err = new Error(`trial ${spec.system}/${spec.role} failed: ${msg.error}`)
      for (const w of waiters.splice(0)) w.reject(err)
      inbox.push(msg)
      return
    }
    const i = waiters.findIndex((w) => w.type === msg.type)
    if (i >= 0) waiters.splice(i, 1)[0].resolve(msg)
    else inbox.push(msg)
  })
  const fullSpec = { ...spec, oursRoot: ctx.opts.ours, legacyLib: ctx.legacyLib }
  child.send({ type: 'spec', spec: fullSpec })
  const handle = {
    child,
    exit,
    send: (msg) => child.connected && child.send(msg),
    kill: (sig) => child.kill(sig),
    waitFor(type, timeoutS = ctx.opts.timeout) {
      const errIdx = inbox.findIndex((m) => m.type === 'error')
      if (errIdx >= 0) return Promise.reject(new Error(`trial ${spec.system}/${spec.role} failed: ${inbox[errIdx].error}`))
      const i = inbox.findIndex((m) => m.type === type)
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0])
      if (exited) return Promise.reject(new Error(`trial ${spec.system}/${spec.role} exited (${exited.signal || exited.code})`))
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL')
          reject(new Error(`trial ${spec.system}/${spec.role} timed out after ${timeoutS} s waiting for '${type}'`))
        }, timeoutS * 1000)
        const done = (f) => (v) => {
          clearTimeout(timer)
          f(v)
        }
        waiters.push({ type, resolve: done(resolve), reject: done(reject) })
      })
    },
  }
  return handle
}

/** Runs a one-shot role and returns its result. */
async function runTrial(ctx, spec, env) {
  const h = spawnTrial(ctx, spec, env)
  try {
    return (await h.waitFor('result')).result
  } finally {
    h.kill('SIGKILL')
    await h.exit
  }
}

/** Runs the floor program; returns its FLOOR line as an object. */
function runFloor(ctx, args) {
  const r = spawnSync(ctx.floorBin, args, { encoding: 'utf8', timeout: ctx.opts.timeout * 1000 })
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('FLOOR '))
  if (r.status !== 0 || !line) throw new Error(`floor ${args.join(' ')} failed: ${r.stderr || r.error || r.status}`)
  return JSON.parse(line.slice(6))
}

function seedPending(ctx, store, n, priorities = 1) {
  if (n > 0) runFloor(ctx, ['seed', '--dir', store, '--n', String(n), '--priorities', String(priorities)])
  syncFs(store)
}

/** `n` delayed jobs' markers, due in an hour, as the store names them (`delayed/<due>-<id>`). */
function seedDelayed(store, n) {
  const dir = path.join(store, 'delayed')
  fs.mkdirSync(dir, { recursive: true })
  const due = String(Date.now() + 3600e3).padStart(15, '0')
  for (let i = 0; i < n; i++) {
    const id = `job-01900000-0000-7000-8000-${String(i).padStart(12, '0')}`
    fs.symlinkSync(`../jobs/${id}`, path.join(dir, `${due}-${id}`))
  }
  syncFs(store)
}

function seedNotifications(ctx, store, n) {
  runFloor(ctx, ['seed', '--notify', '--dir', store, '--n', String(n)])
  syncFs(store)
}

// ---------------------------------------------------------------- comparisons

/**
 * Runs each system's trial once per round, in an order that reverses every round (so each
 * baseline sits next to ours and drift over the run hits both), and records the medians.
 * `trials[name]()` returns `{ value, extra? }` for one fresh trial.
 */
async function compare(ctx, row, trials) {
  const names = Object.keys(trials)
  const samples = Object.fromEntries(names.map((n) => [n, []]))
  const extras = Object.fromEntries(names.map((n) => [n, []]))
  const errors = {}
  for (let r = 0; r < ctx.opts.rounds; r++) {
    const order = r % 2 ? [...names].reverse() : names
    for (const name of order) {
      if (errors[name]) continue
      try {
        const out = await trials[name]()
        samples[name].push(out.value)
        if (out.extra) extras[name].push(out.extra)
      } catch (err) {
        errors[name] = String(err.message).split('\n').slice(0, 3).join(' ')
        process.stderr.write(`  ${row.workload} ${name}: ${errors[name]}\n`)
      }
    }
  }
  return finishRow(ctx, row, samples, extras, errors)
}

function finishRow(ctx, row, samples, extras, errors) {
  const results = {}
  for (const [name, xs] of Object.entries(samples)) {
    results[name] = { median: round(median(xs), 4), samples: xs.map((x) => round(x, 4)) }
    if (extras[name] && extras[name].length) results[name].extra = extras[name]
    const cpus = (extras[name] || []).filter((e) => e.sys_us_per_job !== undefined)
    if (cpus.length) {
      results[name].cpu = {
        user_us_per_job: round(median(cpus.map((e) => e.user_us_per_job)), 2),
        sys_us_per_job: round(median(cpus.map((e) => e.sys_us_per_job)), 2),
      }
    }
    if (errors[name]) results[name].error = errors[name]
  }
  const ours = results.ours && results.ours.median
  const ratios = {}
  for (const name of ['floor', 'plainjob', 'legacy', ...(row.baseline ? [row.baseline] : [])]) {
    const b = results[name] && results[name].median
    ratios[name] = ours && b ? round(ours / b, 3) : null
  }
  // The 1-minute load average when the row ends: other work on the machine shows up here.
  const full = { ...row, fs: ctx.machine.fs, results, ratios, loadavg1: round(os.loadavg()[0], 3) }
  ctx.rows.push(full)
  process.stdout.write(`BENCH ${JSON.stringify(full)}\n`)
  return full
}

// ---------------------------------------------------------------- workloads

/** The CPU time per job of a trial's whole process over its timed loop (getrusage), µs. */
function cpuPerJob(out) {
  if (out.user_us === undefined || !out.n) return {}
  return { user_us_per_job: round(out.user_us / out.n, 2), sys_us_per_job: round(out.sys_us / out.n, 2) }
}

/** Trials of the floor's create / drain / notify commands. */
function floorTrial(ctx, { cmd, n, durable, seed }) {
  return () => {
    const t = ctx.trials.fresh()
    try {
      if (seed) seed(t.store)
      const out = runFloor(ctx, [cmd, '--dir', t.store, '--n', String(n), ...(durable ? ['--durable'] : [])])
      return { value: out.n / out.secs, extra: cpuPerJob(out) }
    } finally {
      ctx.trials.remove(t)
    }
  }
}

/** Trials of a node system in a child process. */
function nodeTrial(ctx, system, spec, { seed, value } = {}) {
  return async () => {
    const t = ctx.trials.fresh()
    try {
      if (seed) seed(t.store)
      const result = await runTrial(ctx, { system, dir: t.store, ...spec }, t.env)
      if (spec.n && result.n !== spec.n) throw new Error(`${system} ${spec.role} did ${result.n} of ${spec.n} jobs`)
      const probe = result.loop_gap_max_ms === undefined ? {} : { loop_gap_max_ms: round(result.loop_gap_max_ms, 2), op_p99_ms: round(result.op_p99_ms, 3) }
      const extra = { ...probe, ...cpuPerJob(result) }
      return { value: value ? value(result) : result.n / result.secs, extra }
    } finally {
      ctx.trials.remove(t)
    }
  }
}

function has(ctx, system, durable) {
  if (!ctx.opts.systems.includes(system)) return false
  if (system === 'legacy') return !durable && !!ctx.legacyLib // 1.2.0 never fsyncs
  return true
}

const WORKLOADS = {
  /** W1: N creates from one process, one at a time. */
  async w1(ctx) {
    const { n, legacyN } = ctx.opts
    for (const durable of ctx.opts.durable) {
      const trials = {}
      if (has(ctx, 'floor', durable)) trials.floor = floorTrial(ctx, { cmd: 'create', n, durable })
      trials.ours = nodeTrial(ctx, 'ours', { role: 'create', n, durable, inflight: 1 })
      if (has(ctx, 'plainjob', durable)) trials.plainjob = nodeTrial(ctx, 'plainjob', { role: 'create', n, durable })
      if (has(ctx, 'legacy', durable)) trials.legacy = nodeTrial(ctx, 'legacy', { role: 'create', n: legacyN, durable })
      await compare(ctx, { workload: 'W1', variant: 'create, one at a time', durable, unit: 'jobs/s', higher: true, n, legacyN }, trials)
    }
  },

  /** W1, 32 in flight; the floor column is the floor's one-at-a-time rate (the target's yardstick). */
  async w1c(ctx) {
    const { n, legacyN } = ctx.opts
    for (const durable of ctx.opts.durable) {
      const trials = {}
      if (has(ctx, 'floor', durable)) trials.floor = floorTrial(ctx, { cmd: 'create', n, durable })
      trials.ours = nodeTrial(ctx, 'ours', { role: 'create', n, durable, inflight: 32 })
      if (has(ctx, 'legacy', durable)) trials.legacy = nodeTrial(ctx, 'legacy', { role: 'create', n: legacyN, durable, inflight: 32 })
      await compare(
        ctx,
        { workload: 'W1c', variant: 'create, 32 in flight (floor: one at a time)', durable, unit: 'jobs/s', higher: true, n, legacyN },
        trials,
      )
    }
  },

  /** W1m: 1,000 jobs made with one createMany against 1,000 awaited creates, in one process. */
  async w1m(ctx) {
    const m = Math.min(ctx.opts.n, 1000)
    for (const durable of ctx.opts.durable) {
      const trials = {
        each: nodeTrial(ctx, 'ours', { role: 'create', n: m, durable, inflight: 1 }),
        ours: nodeTrial(ctx, 'ours', { role: 'createMany', n: m, durable }),
      }
      await compare(ctx, { workload: 'W1m', variant: `createMany of ${m} (baseline: ${m} awaited creates)`, durable, unit: 'jobs/s', higher: true, n: m, baseline: 'each' }, trials)
    }
  },

  /** W2: one process pulls, fulfils and releases every job of a queue of N. */
  async w2(ctx) {
    const { n, legacyN } = ctx.opts
    for (const durable of ctx.opts.durable) {
      const trials = {}
      if (has(ctx, 'floor', durable)) trials.floor = floorTrial(ctx, { cmd: 'drain', n, durable, seed: (s) => seedPending(ctx, s, n) })
      trials.ours = nodeTrial(ctx, 'ours', { role: 'drain', n, durable }, { seed: (s) => seedPending(ctx, s, n) })
      if (has(ctx, 'plainjob', durable)) trials.plainjob = nodeTrial(ctx, 'plainjob', { role: 'drain', n, durable, seed: true })
      if (has(ctx, 'legacy', durable)) {
        trials.legacy = nodeTrial(ctx, 'legacy', { role: 'drain', n: legacyN, durable }, { seed: (s) => seedPending(ctx, s, legacyN) })
      }
      await compare(ctx, { workload: 'W2', variant: 'drain: pull + fulfil + release', durable, unit: 'jobs/s', higher: true, n, legacyN }, trials)
    }
  },

  /** W2r: the worker runtime. store.process with concurrency 1 against the hand-written loop
   * of W2 (pull, fulfil, release) on the same queue; then concurrency 8 against 1 on jobs whose
   * handler waits 20 ms (work that waits on something else, as most jobs do). */
  async w2r(ctx) {
    const { n } = ctx.opts
    const seed = (s) => seedPending(ctx, s, n)
    for (const durable of ctx.opts.durable) {
      const trials = {
        loop: nodeTrial(ctx, 'ours', { role: 'drain', n, durable }, { seed }),
        ours: nodeTrial(ctx, 'ours', { role: 'process', n, durable, concurrency: 1 }, { seed }),
      }
      await compare(ctx, { workload: 'W2r', variant: 'store.process, concurrency 1 (baseline: the hand-written loop)', durable, unit: 'jobs/s', higher: true, n, baseline: 'loop' }, trials)
    }
    const m = Math.min(n, 200)
    const seedM = (s) => seedPending(ctx, s, m)
    const trials = {
      one: nodeTrial(ctx, 'ours', { role: 'process', n: m, durable: false, concurrency: 1, sleepMs: 20 }, { seed: seedM }),
      ours: nodeTrial(ctx, 'ours', { role: 'process', n: m, durable: false, concurrency: 8, sleepMs: 20 }, { seed: seedM }),
    }
    await compare(ctx, { workload: 'W2r8', variant: 'store.process, concurrency 8, jobs that wait 20 ms (baseline: concurrency 1)', durable: false, unit: 'jobs/s', higher: true, n: m, baseline: 'one' }, trials)
  },

  /** W5p: pulls from a deep queue whose jobs are spread over three priorities (1, 0, -1) against
   * a queue of 100: a pull's cost must not grow with the depth when priorities are mixed. */
  async w5p(ctx) {
    const { w5Batch: batch, rounds } = ctx.opts
    const warmup = Math.min(50, Math.floor(batch / 5))
    const depths = [100, Math.max(...ctx.opts.w5Depths)]
    const perDepth = {}
    for (const depth of depths) {
      const xs = []
      const t = ctx.trials.fresh()
      try {
        seedPending(ctx, t.store, depth + rounds * batch, 3)
        for (let r = 0; r < rounds; r++) {
          const out = await runTrial(ctx, { system: 'ours', role: 'drain', dir: t.store, n: batch, durable: false, warmup }, t.env)
          if (out.n !== batch) throw new Error(`ours drained ${out.n} of ${batch}`)
          xs.push((out.rest_secs / out.rest_n) * 1e6)
        }
      } finally {
        ctx.trials.remove(t)
      }
      perDepth[depth] = xs
    }
    const [lo, hi] = depths
    const row = { workload: 'W5p', variant: `pull from ${hi.toLocaleString('en-US')} jobs over 3 priorities (baseline: 100 jobs)`, durable: false, unit: 'µs/job', higher: false, depth: hi, baseline: 'shallow' }
    finishRow(ctx, row, { ours: perDepth[hi], shallow: perDepth[lo] }, {}, {})
  },

  /** Dashboard: what the page asks every second or two (the counts, one page of a state's jobs),
   * through its HTTP handler in this process, on 100,000 pending jobs and 10,000 fulfilled ones
   * with targets waiting, against 100 and 10: the answer must stay under 200 ms. */
  async dashboard(ctx) {
    const JobStore = require(ctx.opts.ours || path.join(__dirname, '..'))
    const createDashboard = require(path.join(ctx.opts.ours || path.join(__dirname, '..'), 'dashboard'))
    const http = require('node:http')
    const deep = Math.max(...ctx.opts.w5Depths)
    const asks = {
      overview: 'api/overview',
      'pending page': 'api/jobs?state=pending&limit=25',
      'fulfilled page': 'api/jobs?state=fulfilled&limit=25',
      'search by id': 'api/jobs?state=pending&limit=25&search=ffff',
    }
    const perDepth = {}
    for (const depth of [100, deep]) {
      const t = ctx.trials.fresh()
      try {
        seedPending(ctx, t.store, depth)
        seedNotifications(ctx, t.store, depth / 10)
        const store = new JobStore({ dir: t.store, durable: false })
        const server = http.createServer(createDashboard(store))
        await new Promise((r) => server.listen(0, '127.0.0.1', r))
        const base = `http://127.0.0.1:${server.address().port}/`
        perDepth[depth] = {}
        for (const [name, rel] of Object.entries(asks)) {
          await (await fetch(base + rel)).text() // the first look fills the kernel's caches
          const xs = []
          for (let r = 0; r < ctx.opts.rounds * 5; r++) {
            const started = process.hrtime.bigint()
            const res = await fetch(base + rel)
            await res.text()
            if (res.status !== 200) throw new Error(`${rel} answered ${res.status}`)
            xs.push(Number(process.hrtime.bigint() - started) / 1e6)
          }
          perDepth[depth][name] = xs
        }
        await new Promise((r) => server.close(r))
        await store.close()
      } finally {
        ctx.trials.remove(t)
      }
    }
    for (const name of Object.keys(asks)) {
      const row = { workload: 'Wd', variant: `dashboard ${name}, ${deep.toLocaleString('en-US')} pending + ${(deep / 10).toLocaleString('en-US')} fulfilled (baseline: 100 + 10)`, durable: false, unit: 'ms', higher: false, depth: deep, ask: name, baseline: 'shallow' }
      finishRow(ctx, row, { ours: perDepth[deep][name], shallow: perDepth[100][name] }, {}, {})
    }
  },

  /** W3: 1 producer and K worker processes on one folder; every job fulfilled exactly once. */
  async w3(ctx) {
    const { n, legacyN, w3Workers } = ctx.opts
    for (const durable of ctx.opts.durable) {
      const trials = { ours: pipelineTrial(ctx, 'ours', durable, n) }
      if (has(ctx, 'plainjob', durable)) trials.plainjob = pipelineTrial(ctx, 'plainjob', durable, n)
      if (has(ctx, 'legacy', durable)) trials.legacy = pipelineTrial(ctx, 'legacy', durable, legacyN)
      await compare(ctx, { workload: 'W3', variant: `pipeline: 1 producer, ${w3Workers} workers`, durable, unit: 'jobs/s', higher: true, n, legacyN }, trials)
    }
  },

  /** W4: N fulfilled jobs with one target each, drained by one notifier. */
  async w4(ctx) {
    const { n, legacyN } = ctx.opts
    for (const durable of ctx.opts.durable) {
      const trials = {}
      if (has(ctx, 'floor', durable)) trials.floor = floorTrial(ctx, { cmd: 'notify', n, durable, seed: (s) => seedNotifications(ctx, s, n) })
      trials.ours = nodeTrial(ctx, 'ours', { role: 'notify', n, durable }, { seed: (s) => seedNotifications(ctx, s, n) })
      if (has(ctx, 'legacy', durable)) {
        trials.legacy = nodeTrial(ctx, 'legacy', { role: 'notify', n: legacyN, durable }, { seed: (s) => seedNotifications(ctx, s, legacyN) })
      }
      await compare(ctx, { workload: 'W4', variant: 'notify: pull notification + done', durable, unit: 'jobs/s', higher: true, n, legacyN }, trials)
    }
  },

  /**
   * W5: time per pull + fulfil + release at each queue depth. One folder per depth and round is
   * seeded (by the floor, no fsync) with depth + 4 batches; then floor and ours each take a
   * batch, relaxed and durable, in an order that alternates, so every batch starts at a depth
   * between `depth` and `depth + 4·batch`. The first job of a batch is timed apart (it lists
   * the folder); ours also leaves out the next min(50, batch/5) jobs, its warm-up in a fresh
   * process. The row shows the mean of the remaining jobs.
   */
  async w5(ctx) {
    const { w5Depths, w5Batch: batch, rounds } = ctx.opts
    // Ours skips this many jobs after the first before its clock starts (see child.js loop()).
    const warmup = Math.min(50, Math.floor(batch / 5))
    const withFloor = ctx.opts.systems.includes('floor')
    for (const depth of w5Depths) {
      const keys = []
      for (const durable of ctx.opts.durable) for (const sys of withFloor ? ['floor', 'ours'] : ['ours']) keys.push([durable, sys])
      const samples = new Map(keys.map((k) => [k.join('/'), []]))
      const firsts = new Map(keys.map((k) => [k.join('/'), []]))
      const errors = {}
      // A deep queue is seeded once for all rounds when the rounds' batches change its depth by
      // 10 % at most: seeding 100,000 jobs takes minutes on a slow disk.
      const perRound = keys.length * batch
      const shared = depth >= 10 * rounds * perRound ? ctx.trials.fresh() : null
      if (shared) seedPending(ctx, shared.store, depth + rounds * perRound)
      for (let r = 0; r < rounds; r++) {
        const t = shared || ctx.trials.fresh()
        try {
          if (!shared) seedPending(ctx, t.store, depth + perRound)
          const order = r % 2 ? [...keys].reverse() : keys
          for (const [durable, sys] of order) {
            const key = `${durable}/${sys}`
            try {
              let out
              if (sys === 'floor') {
                out = runFloor(ctx, ['drain', '--dir', t.store, '--n', String(batch), ...(durable ? ['--durable'] : [])])
              } else {
                out = await runTrial(ctx, { system: 'ours', role: 'drain', dir: t.store, n: batch, durable, warmup }, t.env)
              }
              if (out.n !== batch) throw new Error(`${sys} drained ${out.n} of ${batch}`)
              samples.get(key).push((out.rest_secs / (out.rest_n === undefined ? batch - 1 : out.rest_n)) * 1e6)
              firsts.get(key).push(out.first_secs * 1e3)
            } catch (err) {
              errors[key] = String(err.message).split('\n')[0]
              process.stderr.write(`  W5 ${depth} ${key}: ${errors[key]}\n`)
            }
          }
        } finally {
          if (!shared) ctx.trials.remove(t)
        }
      }
      if (shared) ctx.trials.remove(shared)
      for (const durable of ctx.opts.durable) {
        const s = {}
        const e = {}
        const err = {}
        for (const sys of withFloor ? ['floor', 'ours'] : ['ours']) {
          const key = `${durable}/${sys}`
          s[sys] = samples.get(key)
          e[sys] = [{ first_job_ms: firsts.get(key).map((x) => round(x, 3)) }]
          if (errors[key]) err[sys] = errors[key]
        }
        finishRow(ctx, { workload: 'W5', variant: `depth ${depth}`, depth, batch, durable, unit: 'µs/job', higher: false }, s, e, err)
      }
    }
  },

  /** W6: time from a worker's SIGKILL to its job being pulled by a polling process. */
  /**
   * W5d: the cost of not-yet-due jobs. Ours drains a batch from a queue of 100 pending jobs in
   * two folders seeded alike, one of them also holding `--w5-delayed` (100,000) delayed jobs due
   * in an hour (their `delayed/` markers; pulls look at nothing else of them). The row compares
   * µs/job with and without; the target is that they match.
   */
  async w5d(ctx) {
    const { w5Batch: batch, rounds } = ctx.opts
    const delayedCount = ctx.opts.quick ? 10000 : 100000
    const warmup = Math.min(50, Math.floor(batch / 5))
    for (const durable of ctx.opts.durable) {
      const samples = { plain: [], delayed: [] }
      const errors = {}
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 ? ['delayed', 'plain'] : ['plain', 'delayed']
        for (const kind of order) {
          const t = ctx.trials.fresh()
          try {
            seedPending(ctx, t.store, 100 + batch)
            if (kind === 'delayed') seedDelayed(t.store, delayedCount)
            const out = await runTrial(ctx, { system: 'ours', role: 'drain', dir: t.store, n: batch, durable, warmup }, t.env)
            if (out.n !== batch) throw new Error(`drained ${out.n} of ${batch}`)
            samples[kind].push((out.rest_secs / (out.rest_n === undefined ? batch - 1 : out.rest_n)) * 1e6)
          } catch (err) {
            errors[kind] = String(err.message).split('\n')[0]
          } finally {
            ctx.trials.remove(t)
          }
        }
      }
      finishRow(ctx, { workload: 'W5d', variant: `depth 100, +${delayedCount} delayed vs none`, delayedJobs: delayedCount, batch, durable, unit: 'µs/job', higher: false }, samples, {}, errors)
    }
  },

  /**
   * Syscalls per job (strace -f -c; counts, so the machine's load does not matter): N creates
   * and N pull + fulfil + release cycles, relaxed, ours against the floor. Each count is the
   * difference of a run of N and a run of none, divided by N, so start-up is left out.
   */
  async syscalls(ctx) {
    if (spawnSync('strace', ['-V']).status !== 0) {
      process.stderr.write('  syscalls: strace is not installed; skipped\n')
      return
    }
    const n = ctx.opts.n
    const probe = path.join(__dirname, 'lib', 'syscall-probe.js')
    const count = (argv) => {
      const out = path.join(os.tmpdir(), `fjs-strace-${process.pid}-${Math.random().toString(36).slice(2)}`)
      spawnSync('strace', ['-f', '-c', '-o', out, ...argv], { stdio: 'ignore', timeout: ctx.opts.timeout * 1000 })
      const table = {}
      for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
        const cols = line.trim().split(/\s+/)
        if (cols.length >= 5 && /^\d/.test(cols[0]) && cols[cols.length - 1] !== 'total') table[cols[cols.length - 1]] = Number(cols[3])
      }
      fs.rmSync(out, { force: true })
      return table
    }
    const perJob = (run) => {
      const none = run(0)
      const many = run(n)
      const names = new Set([...Object.keys(none), ...Object.keys(many)])
      const table = {}
      for (const name of names) {
        const per = ((many[name] || 0) - (none[name] || 0)) / n
        if (per >= 0.05) table[name] = round(per, 2)
      }
      return { total: round(Object.values(table).reduce((a, b) => a + b, 0), 2), table }
    }
    for (const [role, floorCmd] of [
      ['create', 'create'],
      ['drain', 'drain'],
    ]) {
      const nodeRun = (system) => (k) => {
        const t = ctx.trials.fresh()
        try {
          if (role === 'drain' && system === 'ours') seedPending(ctx, t.store, k)
          if (role === 'drain' && system !== 'ours' && k > 0) spawnSync(process.execPath, [probe, system, 'seed', String(k), t.store, ctx.opts.ours], { stdio: 'ignore' })
          return count([process.execPath, probe, system, role, String(k), t.store, ctx.opts.ours])
        } finally {
          ctx.trials.remove(t)
        }
      }
      const floorRun = (k) => {
        const t = ctx.trials.fresh()
        try {
          if (role === 'drain') seedPending(ctx, t.store, k)
          return count([ctx.floorBin, floorCmd, '--dir', t.store, '--n', String(Math.max(k, 1))])
        } finally {
          ctx.trials.remove(t)
        }
      }
      const counted = { ours: perJob(nodeRun('ours')) }
      // The floor does at least one job; its fixed cost is left out the same way.
      counted.floor = perJob((k) => floorRun(k === 0 ? 1 : k + 1))
      if (has(ctx, 'plainjob', false)) counted.plainjob = perJob(nodeRun('plainjob'))
      finishRow(
        ctx,
        { workload: 'SYS', variant: `${role === 'create' ? 'create' : 'pull + fulfil + release'} (relaxed)`, durable: false, unit: 'syscalls/job', higher: false, n },
        Object.fromEntries(Object.entries(counted).map(([name, c]) => [name, [c.total]])),
        Object.fromEntries(Object.entries(counted).map(([name, c]) => [name, [c.table]])),
        {},
      )
    }
  },

  async w6(ctx) {
    const { w6Samples, legacyW6Samples } = ctx.opts
    for (const durable of ctx.opts.durable) {
      const samples = { ours: [] }
      const extras = { ours: [] }
      const errors = {}
      const runs = [['ours', w6Samples]]
      if (has(ctx, 'legacy', durable) && legacyW6Samples > 0) runs.push(['legacy', legacyW6Samples])
      for (const [system, count] of runs) {
        try {
          const lat = await recovery(ctx, system, durable, count)
          samples[system] = [median(lat)]
          extras[system] = [{ samples_ms: lat.map((x) => round(x, 3)), p90_ms: round(quantile(lat, 0.9), 3), max_ms: round(Math.max(...lat), 3) }]
        } catch (err) {
          samples[system] = []
          errors[system] = String(err.message).split('\n')[0]
          process.stderr.write(`  W6 ${system}: ${errors[system]}\n`)
        }
      }
      finishRow(ctx, { workload: 'W6', variant: 'recovery: SIGKILL to pulled (median)', durable, unit: 'ms', higher: false }, samples, extras, errors)
    }
  },

  /**
   * Peak RSS of one worker process (relaxed: fsyncs do not change memory), two ways:
   * - drain: it drains the whole queue, as the issue words it (more depth is also more work);
   * - depth only: it does the same 1,000 jobs whatever the depth, so only the depth differs.
   */
  async rss(ctx) {
    const depths = ctx.opts.rssDepths
    const byDepth = {}
    for (const depth of depths) {
      byDepth[depth] = {}
      for (const [kind, n] of [['drain', depth], ['depth_only', Math.min(depth, 1000)]]) {
        if (kind === 'depth_only' && n === depth && byDepth[depth].drain) {
          byDepth[depth][kind] = byDepth[depth].drain
          continue
        }
        const t = ctx.rssTrials.fresh()
        try {
          seedPending(ctx, t.store, depth)
          const out = await runTrial(ctx, { system: 'ours', role: 'rss', dir: t.store, n, durable: false }, t.env)
          if (out.n !== n) throw new Error(`did ${out.n} of ${n} jobs`)
          const mib = (kb) => round(kb / 1024, 4)
          byDepth[depth][kind] = {
            jobs: n,
            peak_mib: mib(out.maxRssKb),
            vmhwm_mib: mib(out.vmHwmKb),
            start_mib: mib(out.startRssKb),
            end_rss_mib: mib(out.rssKb),
            end_v8_heap_mib: mib(out.heapTotalKb),
            end_external_mib: mib(out.externalKb),
            jobs_per_s: round(out.n / out.secs, 4),
          }
        } finally {
          ctx.rssTrials.remove(t)
        }
      }
    }
    const lo = byDepth[depths[0]]
    const hi = byDepth[depths[depths.length - 1]]
    const ratio = (kind) => (lo[kind] && hi[kind] ? round(hi[kind].peak_mib / lo[kind].peak_mib, 3) : null)
    const row = {
      workload: 'RSS',
      variant: `peak RSS at depth ${depths.join(' vs ')}`,
      durable: false,
      unit: 'MiB',
      higher: false,
      fs: ctx.rssFs,
      dirRoot: ctx.opts.rssDirRoot,
      results: { ours: { byDepth } },
      ratios: { drain: ratio('drain'), depth_only: ratio('depth_only') },
      loadavg1: round(os.loadavg()[0], 3),
    }
    ctx.rows.push(row)
    process.stdout.write(`BENCH ${JSON.stringify(row)}\n`)
  },
}

/** One W3 trial: fork producer and workers, start them together, time to the last fulfil, and
 * check that every job was fulfilled exactly once. */
function pipelineTrial(ctx, system, durable, n) {
  return async () => {
    const t = ctx.trials.fresh()
    const procs = []
    try {
      const base = { system, dir: t.store, durable }
      const producer = spawnTrial(ctx, { ...base, role: 'producer', n, inflight: ctx.opts.w3Inflight }, t.env)
      procs.push(producer)
      // plainjob's schema is made by whoever opens the database first; let the producer do it.
      await producer.waitFor('ready')
      const workers = Array.from({ length: ctx.opts.w3Workers }, () => spawnTrial(ctx, { ...base, role: 'worker' }, t.env))
      procs.push(...workers)
      await Promise.all(workers.map((w) => w.waitFor('ready')))
      const t0 = process.hrtime.bigint()
      for (const p of procs) p.send({ type: 'go' })
      await producer.waitFor('produced')
      for (const w of workers) w.send({ type: 'drain' })
      const fins = await Promise.all(workers.map((w) => w.waitFor('finished')))
      const end = fins.reduce((m, f) => (BigInt(f.t) > m ? BigInt(f.t) : m), 0n)
      const secs = Number(end - t0) / 1e9
      const ids = fins.flatMap((f) => f.ids)
      const unique = new Set(ids).size
      const check = await runTrial(ctx, { ...base, role: 'verify' }, t.env)
      if (ids.length !== n || unique !== n || check.fulfilled !== n) {
        throw new Error(`exactly-once violated: ${ids.length} fulfils reported, ${unique} distinct, ${check.fulfilled} fulfilled on disk, of ${n}`)
      }
      return { value: n / secs, extra: { per_worker: fins.map((f) => f.ids.length) } }
    } finally {
      for (const p of procs) p.kill('SIGKILL')
      await Promise.all(procs.map((p) => p.exit))
      ctx.trials.remove(t)
    }
  }
}

/** W6 for one system: `count` kills, each measured from the kill to the poller's pull. */
async function recovery(ctx, system, durable, count) {
  const t = ctx.trials.fresh()
  const base = { system, dir: t.store, durable }
  const poller = spawnTrial(ctx, { ...base, role: 'poller' }, t.env)
  const lat = []
  try {
    await poller.waitFor('ready')
    for (let i = 0; i < count; i++) {
      poller.send({ type: 'create' })
      const { id } = await poller.waitFor('created')
      const holder = spawnTrial(ctx, { ...base, role: 'holder' }, t.env)
      try {
        const held = await holder.waitFor('holding')
        if (held.id !== id) throw new Error(`holder took ${held.id}, expected ${id}`)
        poller.send({ type: 'poll' })
        await poller.waitFor('polling')
        const tKill = process.hrtime.bigint()
        holder.kill('SIGKILL')
        const pulled = await poller.waitFor('pulled', 120)
        if (pulled.id !== id) throw new Error(`poller pulled ${pulled.id}, expected ${id}`)
        const ms = Number(BigInt(pulled.t) - tKill) / 1e6
        if (ms < 0) throw new Error(`the job was pulled ${-ms} ms before the kill: the holder had let go of it`)
        lat.push(ms)
      } finally {
        holder.kill('SIGKILL')
        await holder.exit
      }
    }
    return lat
  } finally {
    poller.kill('SIGKILL')
    await poller.exit
    ctx.trials.remove(t)
  }
}

// ---------------------------------------------------------------- the report

function table(ctx) {
  const names = { floor: 'floor', plainjob: 'plainjob', legacy: '1.2.0' }
  const head = ['workload', 'durable', 'unit', 'ours', 'floor', 'plainjob', '1.2.0', 'ours÷floor', 'ours÷plainjob', 'ours÷1.2.0']
  const lines = []
  for (const r of ctx.rows) {
    if (r.workload === 'RSS') continue
    const v = (name) => (r.results[name] ? (r.results[name].error ? 'failed' : fmt(r.results[name].median)) : '—')
    lines.push([
      `${r.workload} ${r.variant}${r.baseline ? `: ${fmtRatio(r.ratios[r.baseline])} the baseline` : ''}`,
      r.durable ? 'yes' : 'no',
      `${r.unit} ${r.higher ? '↑' : '↓'}`,
      v('ours'),
      v('floor'),
      v('plainjob'),
      v('legacy'),
      ...Object.keys(names).map((n) => fmtRatio(r.ratios[n])),
    ])
  }
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)))
  const row = (cells) => `| ${cells.map((c, i) => (i < 3 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(' | ')} |`
  let out = [row(head), `|${widths.map((w, i) => (i < 3 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`, ...lines.map(row)].join('\n')
  const rss = ctx.rows.find((r) => r.workload === 'RSS')
  if (rss) {
    const by = Object.entries(rss.results.ours.byDepth)
    const part = (kind) => by.map(([d, x]) => `depth ${Number(d).toLocaleString('en-US')}: ${x[kind] ? fmt(x[kind].peak_mib) : '—'} MiB`).join(', ')
    out += `\n\nPeak RSS of one worker (ours, relaxed), draining the whole queue: ${part('drain')} (deepest ÷ shallowest ${fmtRatio(rss.ratios.drain)}).`
    out += `\nThe same 1,000 jobs at each depth: ${part('depth_only')} (${fmtRatio(rss.ratios.depth_only)}).`
  }
  return out
}

/** CPU time per job of each system's whole process (getrusage over the timed loop), for the rows
 * that have it: user space, the kernel, and the kernel's ratio to the floor's. */
function cpuTable(ctx) {
  const lines = []
  for (const r of ctx.rows) {
    const floor = r.results.floor && r.results.floor.cpu
    for (const name of ['floor', 'ours', 'plainjob', 'legacy']) {
      const c = r.results[name] && r.results[name].cpu
      if (!c) continue
      const k = floor && floor.sys_us_per_job ? fmtRatio(round(c.sys_us_per_job / floor.sys_us_per_job, 3)) : '—'
      lines.push(`| ${r.workload} ${r.variant} | ${r.durable ? 'yes' : 'no'} | ${name === 'legacy' ? '1.2.0' : name} | ${fmt(c.user_us_per_job)} | ${fmt(c.sys_us_per_job)} | ${fmt(round(c.user_us_per_job + c.sys_us_per_job, 2))} | ${k} |`)
    }
  }
  if (!lines.length) return ''
  return ['CPU time per job, whole process (µs, getrusage over the timed loop):', '', '| workload | durable | system | user | kernel | total | kernel ÷ floor |', '|---|---|---|---:|---:|---:|---:|', ...lines].join('\n')
}

/** The issue's targets, checked against this run's rows. */
function targets(ctx) {
  const find = (w, durable, pred = () => true) => ctx.rows.find((r) => r.workload === w && r.durable === durable && pred(r))
  const med = (r, s) => (r && r.results[s] && !r.results[s].error ? r.results[s].median : null)
  const out = []
  const add = (target, value, pass, detail) => out.push({ target, value, met: value === null || value === undefined ? null : pass, detail })
  for (const durable of ctx.opts.durable) {
    const d = durable ? 'durable' : 'relaxed'
    const w1 = find('W1', durable)
    if (w1) add(`W1 one at a time ≥ 0.7× floor (${d})`, w1.ratios.floor, w1.ratios.floor >= 0.7, 'ours ÷ floor, jobs/s')
    const w2 = find('W2', durable)
    if (w2) add(`W2 drain ≥ 0.7× floor (${d})`, w2.ratios.floor, w2.ratios.floor >= 0.7, 'ours ÷ floor, jobs/s')
    const w2cpu = w2 && w2.results.ours && w2.results.floor && w2.results.ours.cpu && w2.results.floor.cpu
    if (w2cpu && !durable) {
      const k = round(w2.results.ours.cpu.sys_us_per_job / w2.results.floor.cpu.sys_us_per_job, 3)
      add('W2 kernel time per pull + fulfil + release ≤ 1.5× floor (relaxed)', k, k <= 1.5, `ours ${w2.results.ours.cpu.sys_us_per_job} µs vs floor ${w2.results.floor.cpu.sys_us_per_job} µs per job (getrusage)`)
    }
    const w2r = find('W2r', durable)
    if (w2r) add(`W2r store.process (concurrency 1) ≥ 0.9× the hand-written loop (${d})`, w2r.ratios.loop, w2r.ratios.loop >= 0.9, 'runtime ÷ loop, jobs/s')
    const w2r8 = find('W2r8', durable)
    if (w2r8) add('W2r8 concurrency 8 ≥ 6× concurrency 1 on jobs that wait 20 ms', w2r8.ratios.one, w2r8.ratios.one >= 6, 'concurrency 8 ÷ 1, jobs/s')
    const w1m = find('W1m', durable)
    if (w1m && durable) add('W1m createMany of 1,000 takes ≤ 0.1× the time of 1,000 awaited creates (durable)', w1m.ratios.each, w1m.ratios.each >= 10, 'createMany ÷ creates, jobs/s (≥ 10 means ≤ a tenth of the time)')
    for (const row of ctx.rows.filter((r) => r.workload === 'Wd' && !durable)) {
      const ms = row.results.ours && row.results.ours.median
      add(`Dashboard ${row.ask} on ${row.depth.toLocaleString('en-US')} pending + ${(row.depth / 10).toLocaleString('en-US')} fulfilled answers in < 200 ms`, ms, ms < 200, 'median ms per request, in-process HTTP')
    }
    const w5p = find('W5p', false)
    if (w5p && !durable) add(`W5p ${w5p.depth.toLocaleString('en-US')} jobs over 3 priorities ≤ 1.3× 100 jobs`, w5p.ratios.shallow, w5p.ratios.shallow <= 1.3, 'µs per pull, deep ÷ shallow')
    const w3 = find('W3', durable)
    if (w3) add(`W3 pipeline ≥ 1.0× plainjob (${d})`, w3.ratios.plainjob, w3.ratios.plainjob >= 1.0, 'ours ÷ plainjob, jobs/s')
    // The kernel-work issue's targets (relaxed; the same ratios on tmpfs and on ext4).
    if (!durable) {
      if (w2) add('W2 pull + fulfil + release ≥ 0.5× floor (relaxed)', w2.ratios.floor, w2.ratios.floor >= 0.5, 'ours ÷ floor, jobs/s')
      if (w3) add('W3 pipeline ≥ 0.8× plainjob (relaxed)', w3.ratios.plainjob, w3.ratios.plainjob >= 0.8, 'ours ÷ plainjob, jobs/s')
      const w4 = find('W4', durable)
      if (w4) add('W4 pull notification + done ≥ 0.3× floor (relaxed)', w4.ratios.floor, w4.ratios.floor >= 0.3, 'ours ÷ floor, jobs/s')
    }
    const w5 = ctx.rows.filter((r) => r.workload === 'W5' && r.durable === durable)
    if (w5.length) {
      const lo = w5.reduce((a, b) => (a.depth < b.depth ? a : b))
      const hi = w5.reduce((a, b) => (a.depth > b.depth ? a : b))
      const growth = med(hi, 'ours') && med(lo, 'ours') ? med(hi, 'ours') / med(lo, 'ours') : null
      add(`W5 depth ${hi.depth} ≤ 1.3× depth ${lo.depth} (${d})`, round(growth, 3), growth <= 1.3, 'ours µs/job at deepest ÷ at shallowest')
      for (const r of w5) add(`W5 depth ${r.depth} ≤ 1.5× floor's time (${d})`, r.ratios.floor, r.ratios.floor <= 1.5, 'ours ÷ floor, µs/job')
    }
    for (const w of ['W1', 'W2']) {
      const r = find(w, durable)
      const extra = r && r.results.ours && r.results.ours.extra
      if (!extra || !extra.length) continue
      const gap = Math.max(...extra.map((x) => x.loop_gap_max_ms))
      const p99 = Math.max(...extra.map((x) => x.op_p99_ms))
      add(`${w} longest gap between 1 ms timer ticks ≤ 5 ms (${d})`, round(gap, 2), gap <= 5, 'ms, worst round, ours')
      add(`${w} one operation's p99 ≤ 1 ms (${d})`, round(p99, 3), p99 <= 1, 'ms per awaited call, worst round, ours')
    }
    if (!durable) {
      for (const [variant, slack, what] of [
        ['create (relaxed)', 1, 'create'],
        ['pull + fulfil + release (relaxed)', 4, 'cycle'],
      ]) {
        const r = ctx.rows.find((x) => x.workload === 'SYS' && x.variant === variant)
        const o = r && med(r, 'ours')
        const f = r && med(r, 'floor')
        if (o && f) add(`syscalls per ${what} ≤ floor + ${slack}`, o, o <= f + slack, `ours ${o} vs floor ${f} per job (strace -f -c)`)
      }
    }
    const w5d = find('W5d', durable)
    if (w5d && med(w5d, 'delayed') && med(w5d, 'plain')) {
      const growth = med(w5d, 'delayed') / med(w5d, 'plain')
      add(`W5d pulls with ${w5d.delayedJobs} delayed jobs ≤ 1.3× without (${d})`, round(growth, 3), growth <= 1.3, 'µs/job with ÷ without')
    }
    if (durable) {
      const w1c = find('W1c', true)
      if (w1c) add('W1 32 in flight ≥ 2× floor one at a time (durable)', w1c.ratios.floor, w1c.ratios.floor >= 2, 'ours (32 in flight) ÷ floor (one at a time), jobs/s')
    }
    const w6 = find('W6', durable)
    if (w6) add(`W6 recovery < 100 ms (${d})`, med(w6, 'ours'), med(w6, 'ours') < 100, 'median ms from SIGKILL to pulled')
    if (!durable) {
      for (const w of ['W1', 'W1c', 'W2', 'W3', 'W4']) {
        const r = find(w, false)
        if (r && r.ratios.legacy) add(`${w} vs 1.2.0 ≥ 20× (relaxed)`, r.ratios.legacy, r.ratios.legacy >= 20, 'ours ÷ 1.2.0, jobs/s')
      }
      const w6l = find('W6', false)
      if (w6l && med(w6l, 'legacy')) add('W6 1.2.0 recovery (≥ 10 s expected)', med(w6l, 'legacy'), med(w6l, 'legacy') >= 10000, 'median ms, for reference')
    }
  }
  const rss = ctx.rows.find((r) => r.workload === 'RSS')
  if (rss) {
    add('RSS flat in depth: draining the queue (≤ 1.05×)', rss.ratios.drain, rss.ratios.drain <= 1.05, 'peak RSS, deepest ÷ shallowest queue, whole queue drained')
    add('RSS flat in depth: same 1,000 jobs (≤ 1.05×)', rss.ratios.depth_only, rss.ratios.depth_only <= 1.05, 'peak RSS, deepest ÷ shallowest queue, 1,000 jobs done')
  }
  return out
}

function targetTable(list) {
  const lines = list.map((t) => `| ${t.target} | ${t.value === null || t.value === undefined ? '—' : fmt(t.value)} | ${t.met === null ? 'not measured' : t.met ? 'met' : '**missed**'} | ${t.detail} |`)
  return ['| target | value | verdict | what the value is |', '|---|---:|---|---|', ...lines].join('\n')
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  fs.mkdirSync(opts.dirRoot, { recursive: true })
  const wantLegacy = opts.systems.includes('legacy')
  const wantPlainjob = opts.systems.includes('plainjob')
  if (wantPlainjob) setup.ensureBenchDeps()
  const legacyLib = wantLegacy ? setup.ensureLegacy() : null
  const floorBin = setup.ensureFloor()
  setup.checkOurs(opts.ours)
  const ctx = { opts, legacyLib, floorBin, rows: [], machine: machine(opts.dirRoot) }
  ctx.trials = new Trials(opts.dirRoot)
  ctx.rssTrials = new Trials(opts.rssDirRoot)
  ctx.rssFs = machine(opts.rssDirRoot).fs
  process.stdout.write(`BENCH_MACHINE ${JSON.stringify({ ...ctx.machine, options: opts })}\n`)
  process.stderr.write(
    `[bench] ${ctx.machine.nproc} cores, ${ctx.machine.kernel}, ${opts.dirRoot} on ${ctx.machine.fs}; ` +
      `rounds ${opts.rounds}, N ${opts.n}, 1.2.0 N ${opts.legacyN}${opts.quick ? ' (quick)' : ''}\n`,
  )
  const started = Date.now()
  for (const w of ALL_WORKLOADS.filter((x) => opts.only.includes(x))) {
    const t = Date.now()
    process.stderr.write(`[bench] ${w} ...\n`)
    await WORKLOADS[w](ctx)
    process.stderr.write(`[bench] ${w} took ${((Date.now() - t) / 1000).toFixed(1)} s\n`)
  }
  process.stderr.write('[bench] deleting the trial folders\n')
  ctx.trials.purge()
  ctx.rssTrials.purge()
  const tlist = targets(ctx)
  for (const t of tlist) process.stdout.write(`BENCH_TARGET ${JSON.stringify(t)}\n`)
  process.stdout.write(`\n## ${ctx.machine.fs} (${opts.dirRoot}), ${ctx.machine.nproc} cores, ${ctx.machine.kernel}\n\n`)
  const loads = ctx.rows.map((r) => r.loadavg1).filter((x) => x !== undefined)
  process.stdout.write(`Load average (1 min) at the start ${ctx.machine.loadavg[0]}, at the end of rows ${Math.min(...loads)}–${Math.max(...loads)} on ${ctx.machine.nproc} cores; each BENCH line has its own \`loadavg1\`. The run's own processes count in it too.\n\n`)
  process.stdout.write(`${table(ctx)}\n\nRatios are ours ÷ baseline in the row's unit: ↑ higher is better (>1× means ours is faster), ↓ lower is better (<1× means ours is faster).\n\n`)
  const cpuText = cpuTable(ctx)
  if (cpuText) process.stdout.write(`${cpuText}\n\n`)
  process.stdout.write(`${targetTable(tlist)}\n\n`)
  process.stdout.write(`total ${((Date.now() - started) / 1000).toFixed(0)} s\n`)
  if (opts.jsonOut) fs.writeFileSync(opts.jsonOut, JSON.stringify({ machine: ctx.machine, options: opts, rows: ctx.rows, targets: tlist }, null, 2) + '\n')
}

main().catch((err) => {
  for (const t of allTrials) t.purge()
  process.stderr.write(`bench: ${err.stack || err}\n`)
  process.exit(1)
})
