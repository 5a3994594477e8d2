'use strict'
// The distributed suite's fixtures: two JuiceFS clients (two "machines") on one volume, mounted
// by scripts/test-distributed.sh, which passes them in the environment; store processes on
// either; freezing, killing and remounting a client.
//
// Without FJS_MOUNT_A and FJS_MOUNT_B (a plain `npm test`, which picks these files up too)
// every test here is skipped at once.

const test = require('node:test')
const fs = require('node:fs')
const path = require('node:path')
const { spawn, spawnSync, execFileSync } = require('node:child_process')
const { ROOT, spawnNode, sleep } = require('../helpers')

const env = process.env
const READY = Boolean(env.FJS_MOUNT_A && env.FJS_MOUNT_B && env.FJS_RUN_DIR)
const SKIP = READY ? false : 'needs two JuiceFS mounts: run `npm run test:distributed`'
const AGENT = path.join(__dirname, 'fixtures', 'agent.js')

/** `test`, skipped unless the two mounts are there. */
function dtest(name, options, fn) {
  if (typeof options === 'function') [options, fn] = [{}, options]
  return test(name, { timeout: 180_000, ...options, skip: SKIP }, fn)
}

/** Resolves once `check()` is true, polling every `every` ms; rejects after `ms`. */
async function until(check, ms, what, every = 20) {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms`)
    await sleep(every)
  }
}

/** Records a figure: printed, and appended to $FJS_FIGURES for the script's summary. */
function figure(t, name, value, unit = 'ms', note = '') {
  const line = `FIGURE ${name}: ${value} ${unit}${note ? ` (${note})` : ''}`
  t.diagnostic(line)
  if (env.FJS_FIGURES) fs.appendFileSync(env.FJS_FIGURES, `${JSON.stringify({ name, value, unit, note })}\n`)
}

const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

/** Where client `c` ('a' or 'b') mounts the volume, and how to break and mend it. */
class Client {
  constructor(c) {
    this.name = c
    this.mount = c === 'a' ? env.FJS_MOUNT_A : env.FJS_MOUNT_B
    this.pidFile = path.join(env.FJS_RUN_DIR || '', `${c}.pids`)
  }

  /** The juicefs processes serving this mount: its supervisor, then the FUSE daemon. */
  pids() {
    return fs.readFileSync(this.pidFile, 'utf8').trim().split(/\s+/).map(Number).filter(Boolean)
  }

  signal(sig) {
    for (const pid of this.pids()) {
      try {
        process.kill(pid, sig)
      } catch (e) {
        if (e.code !== 'ESRCH') throw e
      }
    }
  }

  freeze() {
    this.signal('SIGSTOP')
  }

  thaw() {
    // the daemon first, so the supervisor never sees it stopped
    for (const pid of this.pids().reverse()) {
      try {
        process.kill(pid, 'SIGCONT')
      } catch {}
    }
  }

  kill() {
    this.signal('SIGCONT')
    this.signal('SIGKILL')
  }

  mounted() {
    return mountedAt(this.mount)
  }

  /** Kills this client's juicefs processes and mounts the volume again, as the script did. */
  async remount() {
    this.kill()
    await until(() => this.pids().every((pid) => !alive(pid)), 10_000, `client ${this.name}'s old daemon exiting`)
    if (this.mounted()) spawnSync('umount', ['-l', this.mount])
    const log = fs.openSync(path.join(env.FJS_RUN_DIR, `${this.name}.log`), 'a')
    const port = this.name === 'a' ? env.FJS_METRICS_PORT_A : env.FJS_METRICS_PORT_B
    const args = [
      'mount',
      ...env.FJS_JUICEFS_MOUNT_OPTS.split(/\s+/).filter(Boolean),
      '--cache-dir',
      path.join(env.FJS_RUN_DIR, `cache-${this.name}`),
      '--metrics',
      `127.0.0.1:${port}`,
      env.FJS_META,
      this.mount,
    ]
    const child = spawn(env.FJS_JUICEFS, args, { detached: true, stdio: ['ignore', log, log] })
    child.unref()
    fs.closeSync(log)
    fs.writeFileSync(this.pidFile, `${child.pid}\n`)
    await until(() => this.mounted() && fs.existsSync(path.join(this.mount, '.config')), 30_000, `client ${this.name} mounted again`, 100)
    const daemon = await until(() => childOf(child.pid), 5000, `client ${this.name}'s FUSE daemon`)
    fs.writeFileSync(this.pidFile, `${child.pid} ${daemon}\n`)
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0)
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/** The first child process of `pid` (from /proc). */
function childOf(pid) {
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) return Number(name)
    } catch {}
  }
  return null
}

function mountedAt(dir) {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === dir)
}

const clients = { a: new Client('a'), b: new Client('b') }

let folders = 0
/** A new store folder's name (a sub-folder of the volume, the same through both mounts). */
function storeName(label) {
  return `${label}-${process.pid}-${++folders}-${Date.now().toString(36)}`
}

/**
 * A store in a child process on client `c`'s mount (`fixtures/agent.js`), killed when the
 * test ends. `call(op, args)` resolves its answer (rejects with the error's code), `events` are
 * its events so far, `next(pred, ms)` resolves the first event matching `pred`.
 */
async function agent(t, c, name, options = {}) {
  const dir = path.join(clients[c].mount, name)
  const child = spawnNode(t, [AGENT, dir, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'pipe'] })
  const a = { child, pid: child.pid, client: c, dir, events: [], stderr: '', waiters: new Set() }
  const pending = new Map()
  let seq = 0
  let buf = ''
  child.stderr.on('data', (d) => (a.stderr += d))
  child.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, i))
      buf = buf.slice(i + 1)
      if (msg.seq !== undefined) {
        const p = pending.get(msg.seq)
        pending.delete(msg.seq)
        if (p) p(msg)
      } else {
        a.events.push(msg)
        for (const w of a.waiters) w()
      }
    }
  })
  child.stdin.on('error', () => {})
  /** Sends a command; resolves its whole answer (`ok`, `result` or `code`, `at`). */
  a.send = (op, args = {}, ms = 60_000) =>
    new Promise((resolve, reject) => {
      const n = ++seq
      const timer = setTimeout(() => {
        pending.delete(n)
        reject(new Error(`agent ${c} ${op}: no answer within ${ms} ms; stderr: ${a.stderr}`))
      }, ms)
      pending.set(n, (msg) => {
        clearTimeout(timer)
        resolve(msg)
      })
      child.stdin.write(`${JSON.stringify({ seq: n, op, ...args })}\n`)
    })
  a.call = async (op, args, ms) => {
    const msg = await a.send(op, args, ms)
    if (!msg.ok) throw Object.assign(new Error(`agent ${c} ${op}: ${msg.code} ${msg.message}`), { code: msg.code })
    return msg.result
  }
  a.next = (pred, ms = 30_000, what = 'an event') =>
    new Promise((resolve, reject) => {
      const look = () => {
        const e = a.events.find(pred)
        if (e) {
          a.waiters.delete(look)
          clearTimeout(timer)
          resolve(e)
        }
      }
      const timer = setTimeout(() => {
        a.waiters.delete(look)
        reject(new Error(`agent ${c}: ${what} not within ${ms} ms; events: ${JSON.stringify(a.events.slice(-10))}; stderr: ${a.stderr}`))
      }, ms)
      a.waiters.add(look)
      look()
    })
  a.stop = (sig) => child.kill(sig)
  await a.next((e) => e.event === 'ready', 30_000, 'ready')
  await a.call('ping') // the store is open
  return a
}

/**
 * The FUSE requests made through client A while `fn` runs, from A's .accesslog, and the Redis
 * commands; `result` is what `fn` resolved. Nothing else may use client A meanwhile: every
 * request but the reader's own counts (a process's threads come and go, so their ids cannot be
 * listed afterwards).
 */
async function accessLog(fn) {
  const cat = spawn('cat', [path.join(clients.a.mount, '.accesslog')], { stdio: ['ignore', 'pipe', 'ignore'] })
  let text = ''
  cat.stdout.on('data', (d) => (text += d))
  await sleep(300)
  const redisBefore = redisCommands()
  const started = Date.now()
  const result = await fn()
  const ms = Date.now() - started
  const redis = redisCommands() - redisBefore
  await sleep(1500) // the log's last lines come through late
  cat.kill()
  const ops = {}
  const lines = []
  for (const line of text.split('\n')) {
    const m = /\[uid:\d+,gid:\d+,pid:(\d+)\] (\w+)(.*)$/.exec(line)
    if (!m || Number(m[1]) === cat.pid || Number(m[1]) === 0) continue
    ops[m[2]] = (ops[m[2]] || 0) + 1
    lines.push(`${m[2]}${m[3].replace(/\[[^\]]*\]/g, '').replace(/: \(.*?\) -/, ' -').slice(0, 90)}`)
  }
  return { n: lines.length, ops, redis, ms, lines, result }
}

/** Commands the test's Redis has processed so far (NaN without FJS_REDIS_PORT). */
function redisCommands() {
  const port = process.env.FJS_REDIS_PORT
  if (!port) return NaN
  const out = execFileSync('redis-cli', ['-p', port, 'info', 'stats'], { encoding: 'utf8' })
  return Number(/total_commands_processed:(\d+)/.exec(out)[1]) + 1 // this INFO counts too
}

module.exports = { accessLog, READY, SKIP, ROOT, dtest, until, figure, percentile, clients, agent, storeName, sleep, alive, mountedAt }
