'use strict'
// Every name an acknowledged operation adds, renames or removes is fsynced before the
// acknowledgement: a rename, a new link or a removal is on disk only once its folder is fsynced
// (an fsync of the file itself does not carry its name), so a power cut right after the callback
// could otherwise undo it.
//
// The driver (fixtures/every-state-change.js) runs every state change a job can go through on a
// durable store, and writes one line to stdout (fd 1) after each acknowledged operation. It runs
// under `strace -f -y`, which names the folder behind every descriptor. From the trace, each
// change of a name in a folder (symlink, rename (both folders), unlink, rmdir, mkdir, link, an
// open with O_CREAT) must be followed by an fsync of that folder that starts after the change
// and before the next write to fd 1; a syncfs (createMany flushes a batch so) or sync covers
// every change made before it (the run has one filesystem). A folder renamed meanwhile (a job folder built in tmp/ and
// published into jobs/) keeps what it owes under its new name.
//
// Exempt, as the store intends:
// - names directly in the store's tmp/: temporary files and the remains of a removed job come and
//   go there, and nothing acknowledged depends on any of them (the sweep and check tidy what a
//   cut leaves). What is built in a folder inside tmp/ is not exempt: that folder becomes a job.
// - lock files made with O_CREAT (`jobs/<id>/*.lock`, `keys/%lock-NN`, `schedules/<name>.lock`):
//   they carry no data an acknowledgement depends on, and any open makes them again. (work.lock
//   also counts attempts, one byte per claim, which no fsync guards: a pull acknowledges nothing
//   durable.)
// - names in claimed/ and activity/: a hint of who holds what (for counting; every entry's lock is
//   tested before it counts) and the per-minute counts of the dashboard's chart. A cut may lose
//   or leave them; no job's state depends on them.
// Opening a store makes its folders; they must be durable by its first acknowledgement.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync, spawn } = require('node:child_process')
const { ROOT, tempDir } = require('./helpers')

const DRIVER = path.join(__dirname, 'fixtures', 'every-state-change.js')
const CALLS = 'symlink,symlinkat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,link,linkat,openat,openat2,fsync,fdatasync,syncfs,sync,write'

function haveStrace() {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const isRoot = process.getuid && process.getuid() === 0
const skip = !isRoot ? 'needs root' : !haveStrace() ? 'needs strace' : false

/** The subtest each acknowledged operation of the driver belongs to. */
const GROUPS = {
  open: 'open: the folders a new store makes are fsynced by its first acknowledgement',
  create: 'create',
  'create-delayed': 'delayed create',
  'queue-on-pending': 'queue (on a pending and on a fulfilled job)',
  'queue-on-fulfilled': 'queue (on a pending and on a fulfilled job)',
  'store.fulfill': 'fulfil (store.fulfill and job.fulfill)',
  'job.fulfill': 'fulfil (store.fulfill and job.fulfill)',
  'store.fulfill-delayed': 'fulfil of a job still delayed',
  'job.fail-retry': 'fail with attempts left (retry from delayed/)',
  'job.fail-final': 'final fail (set aside in failed/)',
  retry: 'retry of a failed job',
  pull: 'pull (of a pending job)',
  'pull-promote': 'promote (a pull once delayed jobs are due)',
  update: 'update',
  done: 'done (unqueue)',
  cancel: 'cancel (of a pending, a failed and a held job)',
  createMany: 'createMany',
  'create-keyed': 'create with a unique key (and taking over the key of an ended job)',
  schedule: 'schedule and unschedule',
  unschedule: 'schedule and unschedule',
  remove: 'remove',
}

/**
 * The trace as system calls in order: `{ pid, name, args, result, entry, exit, text }`, where
 * `entry`/`exit` are the positions of the call's start and end in the trace (a call another
 * thread interrupted is logged in two parts, `<unfinished ...>` and `<... name resumed>`).
 */
function parseTrace(text) {
  const calls = []
  const open = new Map()
  const lines = text.split('\n')
  lines.forEach((line, index) => {
    const m = /^(\d+)\s+(.*)$/.exec(line)
    if (!m) return
    const [, pid, rest] = m
    if (rest.startsWith('---') || rest.startsWith('+++')) return
    const unfinished = /^(.*) <unfinished \.\.\.>$/.exec(rest)
    if (unfinished) {
      open.set(pid, { head: unfinished[1], entry: index })
      return
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(rest)
    let whole = rest
    let entry = index
    if (resumed) {
      const start = open.get(pid)
      if (!start) return
      open.delete(pid)
      whole = start.head + resumed[1]
      entry = start.entry
    }
    const call = /^(\w+)\((.*)\)\s+= (.*)$/.exec(whole)
    if (call) calls.push({ pid, name: call[1], args: call[2], result: call[3], entry, exit: index, text: `${pid} ${whole}` })
  })
  return calls
}

/** A string as strace prints it (C escapes), as it was. */
const unescape = (text) =>
  text.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e) =>
    e[0] === 'x' ? String.fromCharCode(parseInt(e.slice(1), 16)) : /^[0-7]/.test(e) ? String.fromCharCode(parseInt(e, 8)) : ({ n: '\n', t: '\t', r: '\r', v: '\v', f: '\f' })[e] || e,
  )

/** The arguments of a traced call: quoted strings, descriptors with their paths (`3</a/b>`,
 * `AT_FDCWD</cwd>`), and flag words, in order. */
function args(text) {
  const out = []
  const re = /"((?:[^"\\]|\\.)*)"(?:\.\.\.)?|(?:\d+|AT_FDCWD)<([^>]*)>|\{[^}]*\}|[^,\s][^,]*/g
  for (const m of text.matchAll(re)) {
    if (m[1] !== undefined) out.push({ str: unescape(m[1]) })
    else if (m[2] !== undefined) out.push({ fd: m[2] })
    else out.push({ raw: m[0].trim() })
  }
  return out
}

/**
 * Checks the trace of one run. Returns `{ uncovered: { group: [message] }, checked: { group:
 * count } }`: each group's changes that were not fsynced in time, and how many were checked.
 */
function audit(calls, acks, storeDir) {
  const uncovered = {}
  const checked = {}
  /** Changes not yet covered, by folder: `{ text, group }`. */
  let owed = new Map()
  let group = 'open'
  let acked = 0
  const within = (p) => p === storeDir || p.startsWith(storeDir + path.sep)
  const exempt = (full, how) => {
    const folder = path.dirname(full)
    if (folder === path.join(storeDir, 'tmp')) return true
    if (folder === path.join(storeDir, 'claimed') || folder === path.join(storeDir, 'activity')) return true
    const lock =
      (path.dirname(folder) === path.join(storeDir, 'jobs') && full.endsWith('.lock')) ||
      (folder === path.join(storeDir, 'keys') && path.basename(full).startsWith('%lock-')) ||
      (folder === path.join(storeDir, 'schedules') && full.endsWith('.lock'))
    return how === 'create' && lock
  }
  const change = (call, full, how = 'name') => {
    if (!within(full) || exempt(full, how)) return
    const folder = path.dirname(full)
    if (!owed.has(folder)) owed.set(folder, [])
    owed.get(folder).push({ text: call.text, group, n: group === 'open' ? null : acked })
    checked[group] = (checked[group] || 0) + 1
  }
  const resolve = (base, name) => (path.isAbsolute(name) ? name : path.join(base, name))
  /** A folder renamed from `from` to `to`: what its contents owe moves with it. */
  const moved = (from, to) => {
    const next = new Map()
    for (const [folder, list] of owed) {
      const inside = folder === from || folder.startsWith(from + path.sep)
      const key = inside ? to + folder.slice(from.length) : folder
      next.set(key, [...(next.get(key) || []), ...list])
    }
    owed = next
  }
  const gone = (dir) => {
    for (const folder of owed.keys()) if (folder === dir || folder.startsWith(dir + path.sep)) owed.delete(folder)
  }

  // Changes take effect when the call returns; an fsync covers what was done before it started.
  const events = []
  for (const call of calls) {
    if (call.result.startsWith('-1')) continue // failed: changed nothing
    const isFsync = ['fsync', 'fdatasync', 'syncfs', 'sync'].includes(call.name)
    const isAck = call.name === 'write' && call.args.startsWith('1<')
    events.push({ call, at: isFsync || isAck ? call.entry : call.exit, isFsync, isAck })
  }
  events.sort((a, b) => a.at - b.at)

  for (const { call, isFsync, isAck } of events) {
    if (isAck) {
      if (acked === 0 && group === 'open' && call.args.includes('opened')) {
        group = acks[0].op
        continue
      }
      if (call.args.includes('opened')) continue
      const ack = acks[acked]
      if (!ack) continue // the closing line
      for (const [folder, list] of owed) {
        for (const { text, group: by, n } of list) {
          ;(uncovered[GROUPS[by] || by] ||= []).push(
            `\`${text}\` (during ${n === null ? 'the opening of the store' : `#${n} ${by}`}) was not followed by an fsync of its folder ${folder} before acknowledgement #${ack.n} (${ack.op})`,
          )
        }
      }
      owed = new Map()
      acked++
      if (acks[acked]) group = acks[acked].op
      continue
    }
    const a = args(call.args)
    if (isFsync) {
      if (call.name === 'syncfs' || call.name === 'sync') owed = new Map()
      else owed.delete(a[0].fd)
      continue
    }
    switch (call.name) {
      case 'symlink':
        change(call, resolve(ROOT, a[1].str))
        break
      case 'symlinkat':
        change(call, resolve(a[1].fd, a[2].str))
        break
      case 'mkdir':
        change(call, resolve(ROOT, a[0].str))
        break
      case 'mkdirat':
        change(call, resolve(a[0].fd, a[1].str))
        break
      case 'unlink':
        change(call, resolve(ROOT, a[0].str))
        break
      case 'unlinkat': {
        const full = resolve(a[0].fd, a[1].str)
        change(call, full)
        if (/AT_REMOVEDIR/.test(call.args)) gone(full)
        break
      }
      case 'link':
        change(call, resolve(ROOT, a[1].str))
        break
      case 'linkat':
        change(call, resolve(a[2].fd, a[3].str))
        break
      case 'rename':
      case 'renameat':
      case 'renameat2': {
        const [from, to] = call.name === 'rename' ? [resolve(ROOT, a[0].str), resolve(ROOT, a[1].str)] : [resolve(a[0].fd, a[1].str), resolve(a[2].fd, a[3].str)]
        change(call, from)
        change(call, to)
        moved(from, to)
        break
      }
      case 'openat':
      case 'openat2':
        if (/O_CREAT/.test(call.args)) change(call, /^\d+<([^>]*)>/.exec(call.result)[1], 'create')
        break
    }
  }
  return { uncovered, checked }
}

/** Runs strace with `argv`; resolves `{ code, signal, stdout, stderr }`. Killed (with the driver,
 * its child) when the test ends or after 30 s. */
function traced(t, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn('strace', argv, { cwd: ROOT, env: { ...process.env, NO_STOP: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const kill = () => {
      try {
        for (const pid of fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) process.kill(Number(pid), 'SIGKILL')
      } catch {
        // no child left
      }
      child.kill('SIGKILL')
    }
    const timer = setTimeout(() => {
      kill()
      reject(new Error(`strace of the driver did not end within 30 s\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, 30000)
    t.after(() => child.exitCode === null && child.signalCode === null && kill())
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

test('every folder an acknowledged change touched is fsynced before the acknowledgement', { skip, timeout: 60000 }, async (t) => {
  const work = tempDir('fjs-durability-')
  const storeDir = path.join(work, 'store')
  const log = path.join(work, 'strace.log')
  const run = await traced(t, ['-f', '-y', '-qq', '-o', log, '-e', `trace=${CALLS}`, process.execPath, DRIVER, storeDir])
  assert.deepEqual([run.code, run.signal], [0, null], `the driver failed: ${run.stderr}`)
  const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line))
  assert.ok(lines[0].opened && lines.at(-1).end, 'the driver ran to its end')
  const acks = lines.filter((line) => line.op)
  const calls = parseTrace(fs.readFileSync(log, 'utf8'))
  const writes = calls.filter((c) => c.name === 'write' && c.args.startsWith('1<'))
  assert.equal(writes.length, lines.length, 'one write to fd 1 per line the driver printed')
  const { uncovered, checked } = audit(calls, acks, storeDir)
  t.diagnostic(`${calls.length} system calls traced, ${Object.values(checked).reduce((a, b) => a + b, 0)} changes of a name checked over ${acks.length} acknowledgements`)

  const subtests = [...new Set(Object.values(GROUPS))]
  for (const name of subtests) {
    await t.test(name, () => {
      const ops = Object.keys(GROUPS).filter((op) => GROUPS[op] === name)
      const count = ops.reduce((sum, op) => sum + (checked[op] || 0), 0)
      if (name === GROUPS.pull) {
        // A plain pull changes no name but its exempt lock file; its check is that it stays so.
        assert.ok(acks.some((ack) => ack.op === 'pull'), 'the run pulled jobs')
      } else {
        assert.ok(count > 0, `the run made changes of a name to check in ${ops.join(', ')}`)
      }
      const missing = uncovered[name] || []
      assert.equal(missing.length, 0, `changes not fsynced before their acknowledgement:\n${missing.join('\n')}`)
    })
  }
})
