'use strict'
// A trial process. The harness forks it, sends `{ type: 'spec', spec }`, and it plays one role
// against one system. Timing is taken here, around the measured loop only (process start-up and
// store opening are outside it), with process.hrtime: CLOCK_MONOTONIC, comparable between
// processes of one machine, which W3 and W6 rely on.

const fs = require('node:fs')
const path = require('node:path')
const { openSystem } = require('./systems')

const now = () => process.hrtime.bigint()
/** This process's CPU time so far (every thread), µs: user space and kernel. */
const cpu = () => {
  const { userCPUTime, systemCPUTime } = process.resourceUsage()
  return { user: userCPUTime, sys: systemCPUTime }
}
const cpuSince = (c0) => {
  const c1 = cpu()
  return { user_us: c1.user - c0.user, sys_us: c1.sys - c0.sys }
}
const secsSince = (t0) => Number(now() - t0) / 1e9
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const send = (msg) => process.send(msg)

const ROLES = {
  /** W1: `n` creates, `inflight` at a time. */
  async create(sys, { n, inflight = 1 }) {
    let next = 0
    const loop = eventLoopProbe()
    const c0 = cpu()
    const t0 = now()
    const lane = async () => {
      while (next < n) {
        const i = next++
        const t = now()
        await sys.create({ i })
        loop.op(t)
      }
    }
    await Promise.all(Array.from({ length: Math.min(inflight, n) }, lane))
    return { n, secs: secsSince(t0), ...cpuSince(c0), ...loop.stop() }
  },

  /** W2 and W5: pull + fulfil + release, `n` times (or until the queue is empty). The first job
   * is timed apart: it includes whatever a fresh worker does once (listing the folder). */
  async drain(sys, { n, seed, warmup = 0 }) {
    if (seed) sys.seed(n)
    return loop(n, () => sys.take(), (job) => sys.finish(job), warmup)
  },

  /** W1m: `n` jobs made by one createMany. */
  async createMany(sys, { n }) {
    const requests = Array.from({ length: n }, (_, i) => ({ i }))
    const t0 = now()
    const ids = await sys.createMany(requests)
    return { n: ids.length, secs: secsSince(t0) }
  },

  /** W2r: `n` jobs done by store.process with `concurrency`, each handler waiting `sleepMs`;
   * timed from the start to the n-th completion. */
  async process(sys, { n, seed, concurrency = 1, sleepMs = 0 }) {
    if (seed) sys.seed(n)
    const t0 = now()
    const worker = sys.process(concurrency, sleepMs)
    let done = 0
    const secs = await new Promise((resolve, reject) => {
      worker.on('completed', () => ++done === n && resolve(secsSince(t0)))
      worker.on('error', reject)
    })
    await worker.close()
    return { n: done, secs }
  },

  /** W4: pull a notification, deliver, done. */
  async notify(sys, { n }) {
    return loop(n, () => sys.takeNote(), (note) => sys.finishNote(note))
  },

  /** Peak RSS of a worker that drains the whole queue. */
  async rss(sys, { n }) {
    const before = process.resourceUsage().maxRSS
    const result = await loop(n, () => sys.take(), (job) => sys.finish(job))
    const mem = process.memoryUsage()
    return {
      ...result,
      maxRssKb: process.resourceUsage().maxRSS,
      startRssKb: before,
      vmHwmKb: vmHwm(),
      // Where the memory is at the end: V8's heap and Buffers, and the rest (native: the addon, libc).
      heapTotalKb: Math.round(mem.heapTotal / 1024),
      externalKb: Math.round(mem.external / 1024),
      rssKb: Math.round(mem.rss / 1024),
    }
  },

  /** W3 producer: waits for 'go', creates `n` jobs, reports when the last is acknowledged. */
  async producer(sys, { n, inflight = 1 }) {
    await message('go')
    const { secs } = await ROLES.create(sys, { n, inflight })
    send({ type: 'produced', t: String(now()), secs })
    return null
  },

  /** W3 worker: after 'go', pulls and fulfils until 'drain' has come and a pull finds nothing. */
  async worker(sys) {
    let draining = false
    message('drain').then(() => (draining = true))
    await message('go')
    const ids = []
    for (;;) {
      const job = await sys.take()
      if (job) {
        ids.push(String(await sys.finish(job)))
      } else if (draining) {
        break
      } else {
        await sleep(1)
      }
    }
    send({ type: 'finished', t: String(now()), ids })
    return null
  },

  /** W6 victim: claims the one pending job, says so, and waits to be killed. */
  async holder(sys) {
    for (;;) {
      const job = await sys.take()
      if (job) {
        // A ref'd timer keeps this process (and its claim) alive until the harness kills it:
        // with no 'message' listener the IPC channel does not, and a process that exits on its
        // own releases the job before the kill and spoils the measurement.
        setInterval(() => {}, 1 << 30)
        send({ type: 'holding', id: String(job.id) })
        return new Promise(() => {})
      }
      await sleep(1)
    }
  },

  /** W6 rescuer: on 'create', makes the job of the next sample; on 'poll', pulls in a tight loop
   * and reports the moment it gets the job. */
  async poller(sys) {
    process.on('message', async (msg) => {
      try {
        if (msg.type === 'create') {
          send({ type: 'created', id: String(await sys.create({ w6: true })) })
        } else if (msg.type === 'poll') {
          // Told before the first attempt: a 1.2.0 pull that meets a lock retries for seconds.
          send({ type: 'polling' })
          for (;;) {
            const job = await sys.take()
            if (job) {
              const t = now()
              await sys.finish(job)
              send({ type: 'pulled', t: String(t), id: String(job.id) })
              break
            }
          }
        } else if (msg.type === 'exit') {
          await sys.close()
          process.exit(0)
        }
      } catch (err) {
        send({ type: 'error', error: String(err && err.stack) })
      }
    })
    send({ type: 'ready' })
    return new Promise(() => {})
  },

  /** After W3: how many jobs of the store are fulfilled. */
  async verify(sys, { system, dir }) {
    if (system === 'plainjob') return { fulfilled: sys.countDone() }
    let fulfilled = 0
    for (const id of fs.readdirSync(path.join(dir, 'jobs'))) {
      try {
        if (JSON.parse(fs.readFileSync(path.join(dir, 'jobs', id, 'state.json'), 'utf8')).state === 2) fulfilled++
      } catch {
        // not a job folder
      }
    }
    return { fulfilled }
  },
}

/** Takes and finishes up to `n` items. Besides the total it times the first item apart, and
 * `rest_secs` covers the items after the first `1 + warmup` (a fresh process runs its first few
 * hundred calls slower while V8 compiles and threads start). */
async function loop(n, take, finish, warmup = 0) {
  let done = 0
  let firstSecs = 0
  let restStart = null
  const probe = eventLoopProbe()
  const c0 = cpu()
  const t0 = now()
  while (done < n) {
    if (done === 1 + warmup) restStart = now()
    let t = now()
    const item = await take()
    probe.op(t)
    if (!item) break
    t = now()
    await finish(item)
    probe.op(t)
    done++
    if (done === 1) firstSecs = secsSince(t0)
  }
  const secs = secsSince(t0)
  const restN = Math.max(0, done - 1 - warmup)
  return { n: done, secs, first_secs: firstSecs, rest_n: restN, rest_secs: restStart === null ? 0 : secsSince(restStart), ...cpuSince(c0), ...probe.stop() }
}

/**
 * What a loop does to the event loop: the longest gap between two ticks of a 1 ms timer while
 * it runs (timers starve if the loop never yields), and the 99th percentile of one awaited
 * operation (an upper bound of how long one inline call blocks the thread).
 */
function eventLoopProbe() {
  let last = now()
  let longest = 0n
  const timer = setInterval(() => {
    const t = now()
    if (t - last > longest) longest = t - last
    last = t
  }, 1)
  const ops = []
  return {
    op(t0) {
      ops.push(Number(now() - t0) / 1e6)
    },
    stop() {
      clearInterval(timer)
      const t = now()
      if (t - last > longest) longest = t - last
      ops.sort((a, b) => a - b)
      const p99 = ops.length ? ops[Math.min(ops.length - 1, Math.floor(ops.length * 0.99))] : null
      return { loop_gap_max_ms: Number(longest) / 1e6, op_p99_ms: p99 }
    },
  }
}

function vmHwm() {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))
    return m ? Number(m[1]) : null
  } catch {
    return null
  }
}

/** Resolves when the parent sends a message of `type`. */
function message(type) {
  return new Promise((resolve) => {
    const on = (msg) => {
      if (msg && msg.type === type) {
        process.off('message', on)
        resolve(msg)
      }
    }
    process.on('message', on)
  })
}

async function main() {
  const { spec } = await message('spec')
  // 1.2.0 prints "TODO ..." lines on each fulfil and release.
  if (spec.system === 'legacy') console.log = () => {}
  const sys = await openSystem(spec)
  const role = ROLES[spec.role]
  if (!role) throw new Error(`unknown role ${spec.role}`)
  if (spec.role !== 'poller') send({ type: 'ready' })
  const result = await role(sys, spec)
  await sys.close()
  if (result) send({ type: 'result', result })
  process.disconnect()
}

main().catch((err) => {
  send({ type: 'error', error: String((err && err.stack) || err) })
  process.disconnect()
  process.exitCode = 1
})
