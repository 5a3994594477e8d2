'use strict'
// Power cuts in the middle of every kind of operation, on ext4, xfs and btrfs.
//
// Each filesystem is made on a small image file on a loop device. A driver process
// (fixtures/every-state-change.js) runs every state change a job can go through on a durable
// store there, under strace, which stops it with SIGSTOP as each fsync, fdatasync or syncfs
// returns; the driver also stops itself right after printing each acknowledgement. At every stop
// the image file is copied (`cp --sparse=always`): the copy holds exactly the blocks the
// filesystem had sent to its disk, which is what a power cut at that moment would leave.
//
// strace's `inject=…:signal=SIGSTOP` delivers the signal on the way out of the system call (seen
// here: the data an fsync wrote is in the copy, and strace logs `fsync(…) = 0` before the
// SIGSTOP), so each such cut is the disk right after that flush completed. Between flushes nothing
// reaches the disk in a run this short (ext4 and btrfs are mounted with commit=300; xfs pushes its
// log every 30 s), so these cuts see every state the disk goes through, but for the inside of a
// flush, whose atomicity is the filesystem's business.
//
// After the run the original is unmounted and each copy is mounted in turn (xfs with -o nouuid;
// btrfs after `btrfs device scan --forget`, as the copies share one fsid) and checked:
//   (a) nothing acknowledged is lost: every job is as the last acknowledgement that touched it
//       left it (record and value), or, for the operation in flight, as it was about to be; so
//       is a schedule's file;
//   (b) no record is without the marker it needs: a pending record has a pending/ or delayed/
//       marker (delayed/ while its time is ahead) and, if it has a unique key, keys/<key>
//       pointing to it; a failed one a failed/ marker, a cancelled one a cancelled/ marker, one
//       with targets to notify a waiting/ marker;
//   (c) `check({ repair: true })` mends the cut: `check()` then reports nothing, (b) holds, and
//       pulls hand out exactly the pending jobs that are due and the fulfilled jobs with targets;
//   (d) markers ahead of or behind their record (allowed after a cut) are each reported by
//       `check()` and gone after repair, so `stats()` counts what the records say.
// check() leaves young problems alone for 15 minutes (a create in flight owns its marker for a
// moment), so each copy's entries are dated a day back first: the folder as check sees it once
// that grace period is over.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn, execFileSync } = require('node:child_process')
const JobStore = require('..')
const { TIME_SCALE, tempDir, sleep, OLD } = require('./helpers')

const DRIVER = path.join(__dirname, 'fixtures', 'every-state-change.js')
/** The calls that send what a filesystem holds to its disk: each is a cut (createMany flushes a
 * batch with one syncfs). */
const FLUSHES = 'fsync,fdatasync,syncfs'
const MiB = 1024 * 1024

const FILESYSTEMS = [
  { name: 'ext4', size: 16 * MiB, mkfs: ['mkfs.ext4', '-q', '-F'], mount: ['-o', 'commit=300,noatime'], copyMount: ['-o', 'noatime'] },
  { name: 'xfs', size: 300 * MiB, mkfs: ['mkfs.xfs', '-q', '-f'], mount: ['-o', 'noatime'], copyMount: ['-o', 'nouuid,noatime'] },
  { name: 'btrfs', size: 120 * MiB, mkfs: ['mkfs.btrfs', '-q', '-f'], mount: ['-o', 'commit=300,noatime'], copyMount: ['-o', 'noatime'] },
]

/** mkfs.*, losetup and mount live in sbin, which a non-login PATH may lack. */
const env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` }

/** Runs a command, returning its stdout; throws with its stderr. */
function sh(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env }).trim()
}

function have(cmd) {
  try {
    sh('sh', ['-c', `command -v ${cmd}`])
    return true
  } catch {
    return false
  }
}

const isRoot = process.getuid && process.getuid() === 0
const skipAll = !isRoot ? 'needs root (loop devices and mount)' : !have('strace') ? 'needs strace' : !have('losetup') ? 'needs losetup' : false

/** Unmounts `mnt`, retrying while it is busy; detaches it lazily as a last resort, so that no
 * mount is left behind in a folder about to be deleted. */
async function umount(mnt) {
  for (let i = 0; ; i++) {
    try {
      sh('umount', [mnt])
      return
    } catch (err) {
      if (i < 100) {
        await sleep(20)
        continue
      }
      sh('umount', ['-l', mnt])
      throw new Error(`${mnt} stayed busy; detached it lazily: ${err.stderr || err.message}`)
    }
  }
}

/** The one-letter state of each thread of `pid`, or null once it is gone. */
function threadStates(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    })
  } catch {
    return null
  }
}
const allStopped = (pid) => {
  const states = threadStates(pid)
  return states !== null && states.length > 0 && states.every((s) => s === 't' || s === 'T')
}

/** The pids of `pid`'s children. */
function children(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** The driver: strace's child once it runs node (strace also forks short-lived children of its
 * own at start, to probe the kernel, and its child runs strace's command line until it execs),
 * or null while there is none. */
function tracee(stracePid) {
  for (const pid of children(stracePid)) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      if (argv[0] === process.execPath && argv[1] === DRIVER) return pid
    } catch {
      // it just ended
    }
  }
  return null
}

/** The JSON lines the driver printed so far (whole lines only). */
function printed(file) {
  const text = fs.readFileSync(file, 'utf8')
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
}

/**
 * Runs the driver on `storeDir` under strace, and calls `atStop({ acks, kind, fsynced })` at each
 * stop, the driver frozen. Resolves `{ lines, stops }` when it has exited.
 */
async function runDriver(cleanup, work, storeDir, atStop) {
  const out = path.join(work, 'driver.out')
  const err = path.join(work, 'driver.err')
  const log = path.join(work, 'strace.log')
  const outFd = fs.openSync(out, 'w')
  const errFd = fs.openSync(err, 'w')
  const args = ['-f', '-qq', '-y', '-o', log, '-e', `trace=${FLUSHES}`, '-e', `inject=${FLUSHES}:signal=SIGSTOP`]
  const strace = spawn('strace', [...args, process.execPath, DRIVER, storeDir], { stdio: ['ignore', outFd, errFd], env })
  fs.closeSync(outFd)
  fs.closeSync(errFd)
  let exited = null
  const done = new Promise((resolve) => strace.once('exit', (code, signal) => resolve((exited = { code, signal }))))
  let driver = null
  cleanup.push(async () => {
    if (exited) return
    // strace's children first (the driver: SIGKILL ends it even while stopped; strace, killed,
    // would leave it stopped and holding the mount), then strace.
    for (const pid of [...children(strace.pid), strace.pid]) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone already
      }
    }
    await done
  })

  const deadline = Date.now() + 30000 * TIME_SCALE
  let seen = 0 // SIGSTOPs in the log handled so far
  let logAt = 0 // where the log's unread part starts
  let stops = 0
  while (!exited) {
    if (Date.now() > deadline) {
      const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-8).join('\n')
      throw new Error(`the driver (pid ${driver}, threads ${threadStates(driver)}) did not finish within ${30 * TIME_SCALE} s; stderr: ${fs.readFileSync(err, 'utf8')}\nstrace log ends: ${tail}`)
    }
    if (driver === null || threadStates(driver) === null) driver = tracee(strace.pid)
    if (driver === null || !allStopped(driver)) {
      await sleep(2)
      continue
    }
    // Every thread is stopped; make sure it is the group stop and not strace's passing stop at a
    // system call: still so a moment later, with a new SIGSTOP in the log.
    await sleep(3)
    const text = fs.readFileSync(log, 'utf8')
    const count = (text.match(/--- SIGSTOP \{/g) || []).length
    if (!allStopped(driver) || count <= seen) continue
    seen = count
    const segment = text.slice(logAt)
    logAt = text.length
    const signal = segment.slice(segment.lastIndexOf('--- SIGSTOP {'))
    const kind = /si_code=SI_USER/.test(signal) ? 'ack' : 'fsync'
    const calls = [...segment.matchAll(/(fsync|fdatasync|syncfs)\(\d+<([^>]*)>/g)]
    const last = calls.at(-1)
    const fsynced = kind === 'fsync' && last ? `${last[1] === 'syncfs' ? 'the filesystem (syncfs) of ' : ''}${path.relative(storeDir, last[2]) || '.'}` : null
    const acks = printed(out).filter((line) => line.op).length
    atStop({ acks, kind, fsynced, n: stops++, at: Date.now() })
    process.kill(driver, 'SIGCONT')
  }
  const lines = printed(out)
  assert.deepEqual(exited, { code: 0, signal: null }, `the driver failed: ${fs.readFileSync(err, 'utf8')}`)
  assert.ok(lines.at(-1).end, 'the driver ran to its end')
  return { acks: lines.filter((line) => line.op), stops }
}

const ls = (dir) => {
  try {
    return fs.readdirSync(dir).sort()
  } catch (err) {
    if (err.code === 'ENOENT') return []
    throw err
  }
}

/** What the folder holds, read directly: records, values, markers, and keys (name: target). */
function scan(dir) {
  const found = {
    exists: fs.existsSync(dir),
    jobs: new Map(),
    damaged: [],
    markers: { pending: new Set(), waiting: new Set(), failed: new Set(), cancelled: new Set(), delayed: new Map() },
    keys: new Map(),
  }
  for (const name of ls(path.join(dir, 'keys'))) {
    if (!name.startsWith('%lock-')) found.keys.set(name, fs.readlinkSync(path.join(dir, 'keys', name)))
  }
  for (const id of ls(path.join(dir, 'jobs'))) {
    let state
    try {
      state = JSON.parse(fs.readFileSync(path.join(dir, 'jobs', id, 'state.json'), 'utf8'))
    } catch (err) {
      found.damaged.push(`jobs/${id}/state.json: ${err.code || err.message}`)
      continue
    }
    let value = null
    try {
      value = fs.readFileSync(path.join(dir, 'jobs', id, 'value')).toString('base64')
    } catch (err) {
      if (err.code !== 'ENOENT') throw err
    }
    found.jobs.set(id, { state, value })
  }
  for (const kind of ['pending', 'waiting', 'failed', 'cancelled']) for (const id of ls(path.join(dir, kind))) found.markers[kind].add(id)
  for (const name of ls(path.join(dir, 'delayed'))) {
    const m = /^(\d{15})-(.+)$/.exec(name)
    if (m) found.markers.delayed.set(m[2], [...(found.markers.delayed.get(m[2]) || []), Number(m[1])])
  }
  return found
}

/** A record's phase as the store reads it (state.rs): 2 fulfilled; 1 pending, or cancelled with
 * cancelledAt, or failed with failedAt. */
const phase = (state) => (state.state === 2 ? 'fulfilled' : state.cancelledAt !== undefined ? 'cancelled' : state.failedAt !== undefined ? 'failed' : 'pending')

/** The name of a key's link in keys/ (keys.rs): letters, digits, `_`, `-`, `.` (not first) as
 * they are, every other byte as %XX. */
const keyName = (key) =>
  [...Buffer.from(key)].map((b, i) => (/[A-Za-z0-9_-]/.test(String.fromCharCode(b)) || (b === 0x2e && i > 0) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('')

/** Where records and markers disagree, the folder as it was at `at` (ms since the epoch).
 * `missing` breaks (b); `extra` is allowed after a cut. */
function disagreements(found, at) {
  const missing = []
  const extra = []
  const { pending, waiting, failed, cancelled, delayed } = found.markers
  for (const [id, { state, value }] of found.jobs) {
    const p = phase(state)
    // Targets of a cancelled job wait for a value that will never come: no notifier looks.
    const notified = state.waiting.length > 0 && p !== 'cancelled'
    if (p === 'pending' && !pending.has(id) && !delayed.has(id)) missing.push({ id, what: 'record says pending, but it has no pending/ or delayed/ marker' })
    if (p === 'pending' && state.key !== undefined && found.keys.get(keyName(state.key)) !== `../jobs/${id}`) {
      missing.push({ id, what: `record holds key ${JSON.stringify(state.key)}, but keys/${keyName(state.key)} does not point to it: a create with that key would make a second job` })
    }
    if (p === 'pending' && state.runAt > at && !delayed.has(id)) {
      missing.push({ id, what: `record says not before ${new Date(state.runAt).toISOString()}, ${state.runAt - at} ms after the cut, but it has no delayed/ marker: it would be pulled before its time` })
    }
    if (p === 'failed' && !failed.has(id)) missing.push({ id, what: 'record says failed, but it has no failed/ marker' })
    if (p === 'cancelled' && !cancelled.has(id)) missing.push({ id, what: 'record says cancelled, but it has no cancelled/ marker' })
    if (notified && !waiting.has(id)) missing.push({ id, what: `record has ${state.waiting.length} target(s) waiting, but it has no waiting/ marker` })
    if (p === 'fulfilled' && value === null) missing.push({ id, what: 'record says fulfilled, but it has no value file' })
    if (p !== 'pending' && pending.has(id)) extra.push({ id, what: `record says ${p}, but it is still in pending/` })
    if (p !== 'failed' && failed.has(id)) extra.push({ id, what: `record says ${p}, but it is still in failed/` })
    if (p !== 'cancelled' && cancelled.has(id)) extra.push({ id, what: `record says ${p}, but it is in cancelled/` })
    if (p !== 'pending' && delayed.has(id)) extra.push({ id, what: `record says ${p}, but it is still in delayed/` })
    if (!notified && waiting.has(id)) extra.push({ id, what: `record has no targets to notify (${p}, ${state.waiting.length} target(s)), but it is in waiting/` })
  }
  for (const [kind, ids] of Object.entries(found.markers)) {
    for (const id of ids.keys()) if (!found.jobs.has(id)) extra.push({ id, what: `${kind}/ marker of a job that does not exist` })
  }
  return { missing, extra }
}

/** Dates every entry below `dir` a day back (links themselves, not what they point at). */
function age(dir) {
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name)
    const st = fs.lstatSync(p)
    if (st.isDirectory()) age(p)
    fs.lutimesSync(p, OLD, OLD)
  }
}

/** Pulls with `pull` until nothing comes, holding each; the ids, sorted. */
async function drain(pull) {
  const ids = []
  for (let held; (held = await pull()); ) ids.push(held.id)
  return ids.sort()
}

for (const spec of FILESYSTEMS) {
  const skip = skipAll || (!have(spec.mkfs[0]) && `needs ${spec.mkfs[0]}`)
  test(`power cuts on ${spec.name}: at every acknowledgement and every fsync, nothing acknowledged is lost and check --repair mends the rest`, { skip, timeout: 150000 }, async (t) => {
    const started = Date.now()
    // Undone last first, whatever happens: the driver killed, then unmounts, then loop devices.
    const cleanup = []
    t.after(async () => {
      const errors = []
      for (const undo of cleanup.reverse()) await Promise.resolve().then(undo).catch((err) => errors.push(err))
      if (errors.length > 0) throw errors[0]
    })
    const work = tempDir(`fjs-powercut-${spec.name}-`)
    const image = path.join(work, `${spec.name}.img`)
    fs.writeFileSync(image, '')
    fs.truncateSync(image, spec.size)
    sh(spec.mkfs[0], [...spec.mkfs.slice(1), image])
    let dev
    try {
      dev = sh('losetup', ['-f', '--show', image])
    } catch (err) {
      t.skip(`no loop device could be set up: ${err.stderr || err.message}`)
      return
    }
    cleanup.push(() => sh('losetup', ['-d', dev]))
    const mnt = path.join(work, 'mnt')
    fs.mkdirSync(mnt)
    sh('mount', [...spec.mount, dev, mnt])
    let mounted = true
    const unmount = async () => {
      if (mounted) await umount(mnt)
      mounted = false
    }
    cleanup.push(unmount)
    sh('sync', ['-f', mnt])
    const storeDir = path.join(mnt, 'store')

    // The run: copy the image at every stop.
    const cuts = []
    const { acks, stops } = await runDriver(cleanup, work, storeDir, (stop) => {
      const copy = path.join(work, `cut-${stop.n}.img`)
      sh('cp', ['--sparse=always', image, copy])
      cuts.push({ ...stop, copy })
    })
    const ran = Date.now() - started
    // The copies carry the original's UUID (btrfs: fsid). With the original unmounted, each copy
    // mounts as a filesystem of its own on any kernel; btrfs is told to forget the previous copy's
    // device first, which it would otherwise still hold under that fsid.
    await unmount()

    // Job names for messages: the letter in each request.
    const letter = new Map()
    for (const { records } of acks) for (const [id, r] of Object.entries(records)) if (r) letter.set(id, `job ${r.state.request.job}`)
    const name = (id) => letter.get(id) || id
    const describe = (r) => {
      if (!r) return 'no job'
      const { state } = r
      const parts = [phase(state)]
      if (state.key !== undefined) parts.push(`key ${JSON.stringify(state.key)}`)
      if (phase(state) === 'fulfilled') parts.push(`value ${r.value === null ? 'missing' : JSON.stringify(Buffer.from(r.value, 'base64').toString())}`)
      if (state.runAt !== undefined && phase(state) === 'pending') parts.push('delayed')
      parts.push(`version ${state.version}`, `request ${JSON.stringify(state.request)}`, `waiting ${JSON.stringify(state.waiting)}`, `${(state.failures || []).length} failure(s)`)
      return parts.join(', ')
    }
    const same = (a, b) => {
      if (a === null || b === null) return a === b
      try {
        assert.deepEqual(a.state, b.state)
      } catch {
        return false
      }
      return phase(a.state) !== 'fulfilled' || a.value === b.value
    }

    const problems = { lost: [], disagree: [], repair: [], unreported: [] }
    const copyMnt = path.join(work, 'copy')
    fs.mkdirSync(copyMnt)
    for (const cut of cuts) {
      const inFlight = cut.kind === 'ack' ? null : acks[cut.acks] || null
      const where =
        cut.kind === 'ack'
          ? `cut ${cut.n}, right after acknowledgement #${cut.acks - 1} (${acks[cut.acks - 1].op})`
          : `cut ${cut.n}, after the fsync of ${cut.fsynced} in ${inFlight ? `#${inFlight.n} (${inFlight.op})` : 'the close'}`
      const copyDev = sh('losetup', ['-f', '--show', cut.copy])
      try {
        if (spec.name === 'btrfs') {
          try {
            sh('btrfs', ['device', 'scan', '--forget'])
          } catch {
            // an older btrfs-progs: the kernel then takes the new device for the fsid by itself
          }
        }
        sh('mount', [...spec.copyMount, copyDev, copyMnt])
        try {
          await checkCut(path.join(copyMnt, 'store'), cut, inFlight, where)
        } finally {
          await umount(copyMnt)
        }
      } finally {
        sh('losetup', ['-d', copyDev])
        fs.rmSync(cut.copy)
      }
    }

    async function checkCut(dir, cut, inFlight, where) {
      const found = scan(dir)
      for (const damage of found.damaged) problems.lost.push(`${where}: ${damage}`)

      // (a) Every job as its last acknowledgement left it, or as the operation in flight makes it.
      const settled = new Map()
      for (const { n, op, ids, records } of acks.slice(0, cut.acks)) for (const id of ids) settled.set(id, { record: records[id], by: `#${n} ${op}` })
      const ids = new Set([...settled.keys(), ...(inFlight ? inFlight.ids : []), ...found.jobs.keys()])
      for (const id of ids) {
        const allowed = [settled.has(id) ? settled.get(id).record : null]
        if (inFlight && inFlight.ids.includes(id)) allowed.push(inFlight.records[id])
        const actual = found.jobs.get(id) || null
        if (!allowed.some((r) => same(r, actual))) {
          const said = settled.has(id) ? `acknowledged by ${settled.get(id).by} as: ${describe(allowed[0])}` : 'never acknowledged'
          problems.lost.push(`${where}: ${name(id)} ${said}${allowed.length > 1 ? `; or, ${inFlight.op} in flight: ${describe(allowed[1])}` : ''}; found: ${describe(actual)}`)
        }
      }

      // Files other than jobs' (schedules) likewise.
      const files = new Map()
      for (const { n, op, files: made = {} } of acks.slice(0, cut.acks)) for (const [rel, content] of Object.entries(made)) files.set(rel, { content, by: `#${n} ${op}` })
      const rels = new Set([...files.keys(), ...Object.keys((inFlight && inFlight.files) || {})])
      for (const rel of rels) {
        const allowed = [files.has(rel) ? files.get(rel).content : null]
        if (inFlight && inFlight.files && rel in inFlight.files) allowed.push(inFlight.files[rel])
        let actual = null
        try {
          actual = fs.readFileSync(path.join(dir, rel), 'utf8')
        } catch (err) {
          if (err.code !== 'ENOENT') throw err
        }
        if (!allowed.includes(actual)) {
          const said = files.has(rel) ? `acknowledged by ${files.get(rel).by} as ${JSON.stringify(allowed[0])}` : 'never acknowledged'
          problems.lost.push(`${where}: ${rel} ${said}${allowed.length > 1 ? `; or, ${inFlight.op} in flight: ${JSON.stringify(allowed[1])}` : ''}; found: ${JSON.stringify(actual)}`)
        }
      }

      // (b) No record without the marker it needs.
      const { missing, extra } = disagreements(found, cut.at)
      for (const { id, what } of missing) problems.disagree.push(`${where}: ${name(id)}: ${what}`)
      if (!found.exists) return

      // (c) and (d): what check and repair make of it, once the grace period is over.
      age(dir)
      const store = new JobStore({ dir })
      try {
        const reported = await store.check()
        for (const { id, what } of extra) {
          if (!reported.some((p) => p.id === id)) problems.unreported.push(`${where}: ${name(id)}: ${what}; check() reports [${reported.map((p) => `${p.kind} ${name(p.id)}`).join(', ')}]`)
        }
        const repairs = (await store.check({ repair: true })).filter((p) => p.repaired).map((p) => `${p.kind} ${name(p.id)}`)
        const did = `; check({ repair: true }) repaired [${repairs.join(', ')}]`
        const left = await store.check()
        if (left.length > 0) problems.repair.push(`${where}: after check({ repair: true }), check() still reports ${left.map((p) => `${p.kind} ${name(p.id)}: ${p.message}`).join('; ')}`)
        const mended = scan(dir)
        const after = disagreements(mended, Date.now())
        for (const { id, what } of after.missing) problems.repair.push(`${where}: after repair, ${name(id)}: ${what}${did}`)
        for (const { id, what } of after.extra) problems.unreported.push(`${where}: after repair, ${name(id)}: ${what}`)

        const records = [...mended.jobs].map(([id, r]) => ({ id, ...r, phase: phase(r.state) }))
        const now = Date.now()
        const due = records.filter((r) => r.phase === 'pending' && !(r.state.runAt > now)).map((r) => r.id)
        const notify = records.filter((r) => r.phase === 'fulfilled' && r.state.waiting.length > 0).map((r) => r.id)
        const pulled = await drain(() => store.pullJob())
        if (JSON.stringify(pulled) !== JSON.stringify(due.sort())) problems.repair.push(`${where}: after repair, pulls hand out [${pulled.map(name)}], but the due pending records are [${due.map(name)}]${did}`)
        const notified = await drain(() => store.pullNotification())
        if (JSON.stringify(notified) !== JSON.stringify(notify.sort())) problems.repair.push(`${where}: after repair, notification pulls hand out [${notified.map(name)}], but the fulfilled records with targets are [${notify.map(name)}]${did}`)
        // Counted after the pulls: a pull promotes due jobs (a cut between making a job's pending/
        // marker and removing its delayed/ one leaves both, by design) and drops the pending/
        // marker of a job that is no longer pending.
        const count = (p) => records.filter((r) => r.phase === p).length
        const stats = await store.stats()
        const expected = {
          pending: count('pending'),
          fulfilled: count('fulfilled'),
          failed: count('failed'),
          cancelled: count('cancelled'),
          waiting: records.filter((r) => r.state.waiting.length > 0 && r.phase !== 'cancelled').length,
        }
        const seen = { pending: stats.pending + stats.delayed, fulfilled: stats.fulfilled, failed: stats.failed, cancelled: stats.cancelled, waiting: stats.waiting }
        if (JSON.stringify(seen) !== JSON.stringify(expected)) problems.unreported.push(`${where}: after repair and a round of pulls, stats() counts ${JSON.stringify(seen)} (pending + delayed as pending) but the records say ${JSON.stringify(expected)}`)
      } finally {
        await store.close()
      }
    }

    const fsyncCuts = cuts.filter((c) => c.kind === 'fsync').length
    t.diagnostic(
      `${spec.name}: ${cuts.length} cuts checked (${cuts.length - fsyncCuts} at acknowledgements, ${fsyncCuts} at fsyncs) of ${acks.length} acknowledged operations; run ${(ran / 1000).toFixed(1)} s, total ${((Date.now() - started) / 1000).toFixed(1)} s`,
    )
    assert.equal(stops, cuts.length)
    assert.ok(fsyncCuts >= 2 * acks.length, `the driver stopped at fsyncs (${fsyncCuts} for ${acks.length} acknowledgements)`)
    const none = (list, what) => assert.equal(list.length, 0, `${what}:\n${list.join('\n')}`)
    await t.test('(a) nothing acknowledged is lost at any cut', () => none(problems.lost, 'acknowledged changes lost'))
    await t.test('(b) no record is without the marker it needs at any cut', () => none(problems.disagree, 'records and markers disagree'))
    await t.test('(c) after check({ repair: true }) check reports nothing, every marker needed is there, and pulls hand out exactly the right jobs', () =>
      none(problems.repair, 'not mended'),
    )
    await t.test('(d) every marker ahead of or behind its record is reported by check() and gone after repair; stats() then counts what the records say', () =>
      none(problems.unreported, 'not reported or not mended'),
    )
  })
}
