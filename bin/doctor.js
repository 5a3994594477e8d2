'use strict'
// `fs-job-store doctor DIR`: whether a folder can hold a store safely, and with which settings.
// It reads the filesystem's type and options from /proc/self/mountinfo, tries what the store
// relies on (locks between processes, exclusive creates, renames, folder fsyncs, events, the
// file server's clock) in a folder of its own inside DIR, and removes that folder afterwards.

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')

const ROOT = path.join(__dirname, '..')

/** Verdicts, from best to worst; a report takes the worst any finding gives. */
const SAFE = 'safe'
const SETTINGS = 'safe with settings'
const UNSAFE = 'unsafe'
const RANK = { [SAFE]: 0, [SETTINGS]: 1, [UNSAFE]: 2 }

/** The store's grace period (src/leftovers.rs GRACE): a file server clock off by this much
 * makes `check --repair` take a create in flight for a leftover. */
const GRACE_MS = 15 * 60e3
/** How long a probe may take before it counts as failed (a network filesystem may be slow). */
const PROBE_MS = 10_000

const LOCAL_DISKS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'f2fs', 'zfs', 'bcachefs', 'jfs', 'reiserfs'])

// --- the mount ---------------------------------------------------------------------------

/** `\040` and the like, as mountinfo escapes spaces, tabs, newlines and backslashes. */
const unescape = (s) => s.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)))

/**
 * The mount holding `real` (a real path): the longest mount point that is a prefix of it, the
 * later line winning a tie (it is mounted over the earlier one). `mountOptions` are the mount's
 * own options then the filesystem's, without repeats.
 */
function mountOf(real, mountinfo) {
  let best
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ')
    if (dash < 0) continue
    const fields = line.slice(0, dash).split(' ')
    const [type, source, superOptions = ''] = line.slice(dash + 3).split(' ')
    const mountPoint = unescape(fields[4])
    const inside = mountPoint === '/' || real === mountPoint || real.startsWith(`${mountPoint}/`)
    if (inside && (!best || mountPoint.length >= best.mountPoint.length)) {
      const options = [...new Set([...fields[5].split(','), ...superOptions.split(',')].filter(Boolean))]
      best = { mountPoint, type, source: unescape(source), options }
    }
  }
  return best || { mountPoint: '/', type: 'unknown', source: '', options: [] }
}

/** `name=value` from mount options, or undefined; `name` alone gives true. */
function option(options, name) {
  for (const o of options) {
    if (o === name) return true
    if (o.startsWith(`${name}=`)) return o.slice(name.length + 1)
  }
  return undefined
}

/** JuiceFS shows its client's settings in a virtual `.config` at the volume's root. */
function juicefsConfig(mountPoint) {
  try {
    return JSON.parse(fs.readFileSync(path.join(mountPoint, '.config'), 'utf8'))
  } catch {
    return undefined
  }
}

// --- the probes --------------------------------------------------------------------------

const errText = (err) => (err && err.code ? `${err.code}: ${err.message}` : String(err && err.message ? err.message : err))

/** Runs `fn` (which returns a detail string, or throws) as a probe: `{ name, ok, detail }`. */
async function probe(name, fn) {
  try {
    const out = await fn()
    if (out && typeof out === 'object') return { name, ...out }
    return { name, ok: true, detail: out }
  } catch (err) {
    return { name, ok: false, detail: errText(err) }
  }
}

/** Resolves with the child's first stdout line, or rejects when it exits or times out first. */
function firstLine(child, ms) {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => reject(new Error(`the other process said nothing within ${ms} ms`)), ms)
    child.stdout.on('data', (d) => {
      out += d
      const nl = out.indexOf('\n')
      if (nl >= 0) {
        clearTimeout(timer)
        resolve(out.slice(0, nl))
      }
    })
    child.stderr.on('data', (d) => (err += d))
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`the other process exited (${signal || code}) before pulling: ${err.trim().split('\n').pop() || 'no message'}`))
    })
  })
}

// Opens the store in the probe folder, pulls its one job, says so, and holds it until killed.
const HOLDER = `
const JobStore = require(process.argv[1])
const store = new JobStore({ dir: process.argv[2] })
store.pullJob().then(
  (job) => { process.stdout.write(job ? 'held ' + job.id + '\\n' : 'none\\n'); setInterval(() => {}, 1 << 30) },
  (err) => { process.stdout.write('error ' + (err.code || '') + ' ' + err.message.split('\\n')[0] + '\\n'); process.exit(1) })
`

/**
 * Two processes and the store's own locks: another process holds the one job; this one must
 * not get it; once the holder is killed, this one must get it, and soon.
 */
async function lockProbes(dir) {
  const JobStore = require(ROOT)
  const storeDir = path.join(dir, 'store')
  const store = new JobStore({ dir: storeDir })
  let child
  try {
    const { id } = await store.create({ doctor: true })
    child = spawn(process.execPath, ['-e', HOLDER, ROOT, storeDir], { stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    const said = await firstLine(child, PROBE_MS)
    if (said !== `held ${id}`) {
      const why = said === 'none' ? 'the other process found no job to pull (the new job was not visible to it)' : said
      return fail(why)
    }
    const second = await store.pullJob()
    let exclusive
    if (second) {
      await second.release()
      exclusive = { name: 'exclusive-lock', ok: false, detail: 'a second process pulled the job another one holds: file locks do not exclude each other here' }
    } else {
      exclusive = { name: 'exclusive-lock', ok: true, detail: 'a job one process holds is not handed to another (flock LOCK_EX|LOCK_NB)' }
    }
    child.kill('SIGKILL')
    await exited
    const killed = Date.now()
    let again
    while (!(again = await store.pullJob()) && Date.now() - killed < PROBE_MS) await new Promise((r) => setTimeout(r, 20))
    const freed = again
      ? { name: 'lock-freed-on-exit', ok: true, detail: `a killed holder's job was pulled again after ${Date.now() - killed} ms` }
      : { name: 'lock-freed-on-exit', ok: false, detail: `a killed holder's job was still locked after ${PROBE_MS} ms` }
    if (again) await again.release()
    return [exclusive, freed]
  } catch (err) {
    return fail(errText(err))
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    store.close()
  }
}

const fail = (detail) => [
  { name: 'exclusive-lock', ok: false, detail },
  { name: 'lock-freed-on-exit', ok: false, detail: 'not tried: the lock probe failed' },
]

function exclusiveCreate(dir) {
  const file = path.join(dir, 'excl')
  fs.closeSync(fs.openSync(file, 'wx'))
  try {
    fs.closeSync(fs.openSync(file, 'wx'))
  } catch (err) {
    if (err.code === 'EEXIST') return 'a second O_CREAT|O_EXCL open of one name fails with EEXIST'
    throw err
  }
  return { ok: false, detail: 'a second O_CREAT|O_EXCL open of one name succeeded' }
}

function exclusiveSymlink(dir) {
  const link = path.join(dir, 'marker')
  fs.symlinkSync('../jobs/a', link)
  try {
    fs.symlinkSync('../jobs/b', link)
  } catch (err) {
    if (err.code === 'EEXIST' && fs.readlinkSync(link) === '../jobs/a') return 'a symbolic link onto a taken name fails with EEXIST (the markers and unique keys are such links)'
    throw err
  }
  return { ok: false, detail: 'a symbolic link replaced a taken name' }
}

function atomicRename(dir) {
  fs.mkdirSync(path.join(dir, 'a'))
  fs.mkdirSync(path.join(dir, 'b'))
  const from = path.join(dir, 'a', 'new')
  const to = path.join(dir, 'b', 'old')
  fs.writeFileSync(to, 'old')
  fs.writeFileSync(from, 'new')
  fs.renameSync(from, to)
  const now = fs.readFileSync(to, 'utf8')
  if (now !== 'new' || fs.existsSync(from)) return { ok: false, detail: `after rename the target holds ${JSON.stringify(now)} and the source ${fs.existsSync(from) ? 'is still there' : 'is gone'}` }
  fs.renameSync(path.join(dir, 'a'), path.join(dir, 'c'))
  return 'a rename replaces an existing file in another folder, and a folder can be renamed'
}

function hardLink(dir) {
  const file = path.join(dir, 'linked')
  fs.writeFileSync(file, 'x')
  try {
    fs.linkSync(file, path.join(dir, 'link'))
  } catch (err) {
    return { ok: false, detail: `${errText(err)} (the store itself does not use hard links)` }
  }
  const a = fs.statSync(file)
  const b = fs.statSync(path.join(dir, 'link'))
  if (a.ino !== b.ino || a.nlink !== 2) return { ok: false, detail: `the link is another file (inodes ${a.ino}, ${b.ino}; ${a.nlink} links)` }
  return 'a hard link names the same file'
}

function folderFsync(dir) {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } catch (err) {
    return { ok: false, detail: `${errText(err)}: a durable store (the default) fsyncs its folders and would fail every change` }
  } finally {
    fs.closeSync(fd)
  }
  return 'fsync of a folder succeeds (a durable store fsyncs a folder after each rename)'
}

function fileEvents(dir) {
  return new Promise((resolve) => {
    const name = 'event'
    let watcher
    const done = (result) => {
      clearTimeout(timer)
      if (watcher) watcher.close()
      resolve(result)
    }
    const timer = setTimeout(() => done({ ok: false, detail: 'no event within 1 s for a file made in the folder: waits here poll (pollMs: a cheap look every 100 ms by default on a network filesystem, a full one every 500 ms)' }), 1000)
    try {
      watcher = fs.watch(dir, (_, filename) => {
        if (filename === name) done({ ok: true, detail: 'an event arrived for a file made on this machine' })
      })
      watcher.on('error', (err) => done({ ok: false, detail: `${errText(err)}: waits here poll (pollMs: a cheap look every 100 ms by default on a network filesystem, a full one every 500 ms)` }))
      fs.writeFileSync(path.join(dir, name), '')
    } catch (err) {
      done({ ok: false, detail: `${errText(err)}: waits here poll (pollMs: a cheap look every 100 ms by default on a network filesystem, a full one every 500 ms)` })
    }
  })
}

/** The file server's clock against this machine's: a new file's mtime against Date.now(). */
function clockOffset(dir) {
  const file = path.join(dir, 'clock')
  const before = Date.now()
  fs.writeFileSync(file, '')
  const after = Date.now()
  const mtime = fs.statSync(file).mtimeMs
  // Within [before, after] the clocks agree as far as one can tell; local mtimes use a coarse
  // clock that may lag Date.now() by a few ms.
  const offset = Math.round(mtime < before ? mtime - before : mtime > after ? mtime - after : 0)
  const signed = `${offset > 0 ? '+' : ''}${offset} ms`
  const said = Math.abs(offset) < 20 ? `${signed}: the clocks agree (file times are coarse by a few ms)` : `${signed}: the file server's clock is ${offset > 0 ? 'ahead of' : 'behind'} this machine's`
  return { ok: Math.abs(offset) < 1000, detail: said, offsetMs: offset }
}

// --- the verdict --------------------------------------------------------------------------

/** What the filesystem's type and options say: a verdict, a label and advice. */
function judgeFilesystem(mount) {
  const { type, options, source } = mount
  const advice = []
  let verdict = SAFE
  const raise = (v) => {
    if (RANK[v] > RANK[verdict]) verdict = v
  }
  let label = type
  if (LOCAL_DISKS.has(type)) {
    label = `${type} (a local disk)`
    advice.push('A local disk: every process on this machine can share the store, with file events, so waits wake at once. Other machines cannot; share it over NFSv4 or a distributed filesystem instead.')
    if (option(options, 'nobarrier') || option(options, 'barrier') === '0') {
      raise(SETTINGS)
      advice.push('Mounted with nobarrier: an fsync may not reach the disk, so a power cut can lose acknowledged jobs. Remove nobarrier.')
    }
  } else if (type === 'tmpfs' || type === 'ramfs') {
    raise(SETTINGS)
    label = `${type} (memory)`
    advice.push(`In memory: one machine only, and every job is lost at reboot or unmount. Calls run inline here (no thread pool hop); durable: false changes nothing that survives anyway.`)
  } else if (type === 'overlay') {
    raise(SETTINGS)
    label = 'overlay (a container\'s own writable layer)'
    advice.push('A container\'s own layer: one container only, and the jobs go when the container is removed. For a store that outlives the container or is shared between containers, mount a volume (a local disk, NFSv4, ...) at this folder.')
    advice.push('Do not put a store in an image: renaming a folder that comes from a lower layer fails with EXDEV unless overlay\'s redirect_dir is on.')
  } else if (type === 'nfs' || type === 'nfs4') {
    const vers = String(option(options, 'vers') || option(options, 'nfsvers') || (type === 'nfs4' ? '4' : '3'))
    const efs = /\.efs\.[a-z0-9-]+\.amazonaws\.com/.test(source)
    label = `${type} (NFS version ${vers}${efs ? ', AWS EFS' : ''})`
    const localLock = option(options, 'local_lock')
    if (localLock === 'all' || localLock === 'flock') {
      raise(UNSAFE)
      advice.push(`Mounted with local_lock=${localLock}: flock locks stay on this machine, so two machines can work one job at once. Remount with local_lock=none (the default).`)
    }
    if (option(options, 'nolock') === true) {
      raise(UNSAFE)
      advice.push('Mounted with nolock: locks stay on this machine, so two machines can work one job at once. Remount without nolock, as NFSv4.')
    }
    if (vers.startsWith('2') || vers.startsWith('3')) {
      raise(SETTINGS)
      advice.push(`NFS version ${vers}: locks go through lockd/statd, and a machine that dies and never comes back keeps its locks (its jobs never return). Mount with vers=4.1 or 4.2.`)
    }
    if (option(options, 'soft') === true || option(options, 'softerr') === true) {
      raise(SETTINGS)
      advice.push('Mounted soft: a slow server turns writes into errors part way through a change. Mount hard (the default).')
    }
    raise(SETTINGS)
    advice.push('No file events cross machines: a waiting pull on another machine sees new jobs at its next poll (pollMs, 100 ms by default).')
    advice.push(`A dead or cut-off machine's jobs come back when the server's lease on its locks expires (${efs ? 'about 90 s on EFS' : 'the server\'s lease time, 90 s by default on Linux'}); a claim lost that way is reported as ECOMPROMISED and its late commits are refused.`)
    advice.push('Expect ESTALE now and then on files another machine removed; the store retries them.')
  } else if (type === 'fuse.juicefs') {
    raise(SETTINGS)
    label = 'fuse.juicefs (JuiceFS)'
    const config = juicefsConfig(mount.mountPoint)
    const trash = config && config.Format ? config.Format.TrashDays : undefined
    if (trash === 0) {
      raise(UNSAFE)
      advice.push('The volume has --trash-days 0: a file replaced on one client fails with ENOENT even through descriptors already open on another. Set it to 1 or more (juicefs config META --trash-days 1).')
    } else {
      advice.push(`Keep the volume's --trash-days at 1 or more${trash === undefined ? ' (could not read it from the mount\'s .config)' : ` (it is ${trash})`}: with 0, a file replaced on one client fails with ENOENT on another.`)
    }
    const seconds = (ns) => `${Number(ns) / 1e9} s`
    const caches = config && {
      'attr-cache': config.AttrTimeout,
      'entry-cache': config.EntryTimeout,
      'dir-entry-cache': config.DirEntryTimeout,
      'negative-entry-cache': config.NegEntryTimeout,
      'open-cache': config.Meta && config.Meta.OpenCache,
    }
    const cached = caches ? Object.entries(caches).filter(([, ns]) => Number(ns) > 0) : undefined
    if (!cached || cached.length > 0) {
      const now = cached ? ` (this client: ${cached.map(([name, ns]) => `--${name} ${seconds(ns)}`).join(', ')})` : ''
      advice.push(`With metadata caches on, another client sees a change up to their length late${now}; --attr-cache 0 --entry-cache 0 --dir-entry-cache 0 --negative-entry-cache 0 --open-cache 0 make it ~11 ms, at ~2.5 times the cost of each metadata operation.`)
    } else {
      advice.push('Metadata caches are off on this client: other clients\' changes are seen within ~11 ms (at ~2.5 times the cost of each metadata operation).')
    }
    advice.push('No file events cross clients: a waiting pull on another machine sees new jobs at its next poll (pollMs, 100 ms by default).')
    const heartbeat = config && config.Meta && Number(config.Meta.Heartbeat) > 0 ? Number(config.Meta.Heartbeat) : undefined
    const expiry = heartbeat ? `5 x --heartbeat, ${seconds(5 * heartbeat)} on this client (--heartbeat ${seconds(heartbeat)})` : '5 x --heartbeat (about 65 s at the default 12 s, measured)'
    advice.push(`A dead or cut-off client's jobs come back when its session expires: ${expiry}. A client that resumes after that is told ECOMPROMISED, and its late commits are refused once the new claim is visible to it (about 1 s after the other pull with caches off, 2 s with the defaults).`)
  } else if (type === 'ceph' || type === 'fuse.ceph-fuse' || type === 'fuse.ceph') {
    raise(SETTINGS)
    label = `${type} (CephFS)`
    advice.push('flock is cluster-wide on CephFS (not tested here). No file events cross clients: waits on another machine see new jobs at their next poll (pollMs, 100 ms by default).')
    advice.push('A dead or silent client\'s jobs come back once the MDS evicts it: session_autoclose, 300 s by default. An evicted client is blocklisted, so its late writes fail.')
  } else if (type === 'cifs' || type === 'smb3') {
    raise(SETTINGS)
    label = `${type} (SMB)`
    if (option(options, 'nobrl') === true || option(options, 'nolock') === true) {
      raise(UNSAFE)
      advice.push('Mounted with nobrl: locks stay on this machine, so two machines can work one job at once. Remount without nobrl.')
    }
    advice.push('Not tested on SMB: the Linux client sends flock as a byte-range lock on the whole file (kernels since early 2020; older ones keep flock local), which Windows servers make mandatory. Check that two machines exclude each other before relying on it.')
    advice.push('Symbolic links need the server\'s POSIX/Unix extensions or the mfsymlinks mount option; the exclusive-symlink probe shows whether they work here.')
    advice.push('No file events cross machines: waits on another machine see new jobs at their next poll (pollMs, 100 ms by default).')
  } else if (type === 'fuse.sshfs') {
    raise(SETTINGS)
    label = 'fuse.sshfs'
    advice.push('sshfs locks only on this machine: use the store from one machine only.')
  } else {
    raise(SETTINGS)
    advice.push(`Filesystem ${type} is not one the store knows: the probes pass or fail on this machine only. Use it from one machine unless its documentation says flock is honoured across machines and renames are atomic.`)
  }
  if (option(options, 'ro') === true) {
    raise(UNSAFE)
    advice.unshift('Mounted read-only: a store needs to write.')
  }
  return { verdict, label, advice }
}

/** Probes every store needs; a failure of one makes the folder unsafe. */
const REQUIRED = new Set(['write', 'exclusive-lock', 'lock-freed-on-exit', 'exclusive-create', 'exclusive-symlink', 'atomic-rename', 'folder-fsync'])

function judgeProbes(probes) {
  const advice = []
  let verdict = SAFE
  for (const p of probes) {
    if (REQUIRED.has(p.name) && !p.ok) {
      verdict = UNSAFE
      advice.push(`${p.name} failed: ${p.detail}`)
    }
  }
  const clock = probes.find((p) => p.name === 'clock-offset')
  if (clock && clock.offsetMs !== undefined && !clock.ok) {
    if (Math.abs(clock.offsetMs) >= GRACE_MS) {
      verdict = UNSAFE
      advice.push(`The file server's clock is off by ${Math.round(clock.offsetMs / 1000)} s: check --repair, which judges files by their age, could take a create in flight for a leftover. Synchronise the clocks (NTP) of every machine and the server.`)
    } else {
      if (verdict === SAFE) verdict = SETTINGS
      advice.push(`The file server's clock is off by ${clock.offsetMs} ms: synchronise the clocks (NTP) of every machine and the server; delays and schedules go by each machine's clock.`)
    }
  }
  const events = probes.find((p) => p.name === 'file-events')
  if (events && !events.ok) advice.push('No file events here: a waiting pull sees new jobs at its next poll (pollMs; a full look every 500 ms), not at once.')
  return { verdict, advice }
}

// --- the report ---------------------------------------------------------------------------

/** Whether `dir` is a store already (a read-only open changes nothing). */
function isStore(dir) {
  const JobStore = require(ROOT)
  try {
    new JobStore({ dir, readOnly: true }).close()
    return true
  } catch (err) {
    if (err.code === 'ENOTSTORE') return false
    throw err
  }
}

/**
 * The report on `dir` (an existing folder). The probes run in a new folder inside the store's
 * `tmp/` when `dir` is a store, else inside `dir` itself; it is removed afterwards either way,
 * so a folder that was not a store is not one afterwards, and nothing outside `dir` is touched.
 */
async function doctor(dir) {
  const real = fs.realpathSync(dir)
  const mount = mountOf(real, fs.readFileSync('/proc/self/mountinfo', 'utf8'))
  const store = isStore(real)
  const tag = `${process.pid}-${crypto.randomBytes(4).toString('hex')}`
  const parent = store ? path.join(real, 'tmp') : real
  const work = path.join(parent, store ? `doctor-${tag}` : `.fs-job-store-doctor-${tag}`)
  const probes = []
  try {
    if (store) fs.mkdirSync(parent, { recursive: true })
    fs.mkdirSync(work)
  } catch (err) {
    probes.push({ name: 'write', ok: false, detail: `cannot make a folder in ${parent}: ${errText(err)}` })
  }
  if (probes.length === 0) {
    try {
      const sub = (name) => {
        const p = path.join(work, name)
        fs.mkdirSync(p)
        return p
      }
      probes.push(...(await lockProbes(sub('locks'))))
      probes.push(await probe('exclusive-create', () => exclusiveCreate(sub('excl'))))
      probes.push(await probe('exclusive-symlink', () => exclusiveSymlink(sub('symlink'))))
      probes.push(await probe('atomic-rename', () => atomicRename(sub('rename'))))
      probes.push(await probe('hard-link', () => hardLink(sub('link'))))
      probes.push(await probe('folder-fsync', () => folderFsync(sub('fsync'))))
      probes.push(await probe('file-events', () => fileEvents(sub('events'))))
      probes.push(await probe('clock-offset', () => clockOffset(sub('clock'))))
    } finally {
      fs.rmSync(work, { recursive: true, force: true })
    }
  }
  const byMount = judgeFilesystem(mount)
  const byProbes = judgeProbes(probes)
  const verdict = RANK[byProbes.verdict] > RANK[byMount.verdict] ? byProbes.verdict : byMount.verdict
  return {
    path: real,
    store,
    filesystem: mount.type,
    description: byMount.label,
    mountPoint: mount.mountPoint,
    source: mount.source,
    mountOptions: mount.options,
    probes: probes.map(({ name, ok, detail }) => ({ name, ok, detail })),
    verdict,
    advice: [...byProbes.advice, ...byMount.advice],
  }
}

/** The report as text. */
function format(report) {
  const lines = [
    `folder      ${report.path}${report.store ? ' (a store)' : ' (not a store; probed in a temporary sub-folder, now removed)'}`,
    `filesystem  ${report.description}, mounted at ${report.mountPoint}${report.source ? ` from ${report.source}` : ''}`,
    `options     ${report.mountOptions.join(',') || '-'}`,
    '',
  ]
  const width = Math.max(...report.probes.map((p) => p.name.length))
  for (const p of report.probes) lines.push(`${p.ok ? 'ok  ' : 'FAIL'}  ${p.name.padEnd(width)}  ${p.detail}`)
  lines.push('', `verdict     ${report.verdict}`)
  for (const a of report.advice) lines.push(`  - ${a}`)
  return lines.join('\n')
}

module.exports = { doctor, format, mountOf, judgeFilesystem, SAFE, SETTINGS, UNSAFE }
