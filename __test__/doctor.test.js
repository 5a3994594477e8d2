'use strict'
// fs-job-store doctor: the report on a local disk, a tmpfs and a read-only tmpfs, --json's shape,
// the verdicts mount options give, and that it leaves nothing behind, inside the folder or out.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const JobStore = require('..')
const { tempDir, sandbox, cli } = require('./helpers')
const { mountOf, judgeFilesystem } = require('../bin/doctor')

const PROBES = ['exclusive-lock', 'lock-freed-on-exit', 'exclusive-create', 'exclusive-symlink', 'atomic-rename', 'hard-link', 'folder-fsync', 'file-events', 'clock-offset']

/** Every path below `root`, sorted: what is there, whatever the times. */
function entries(root) {
  const out = []
  const walk = (dir) => {
    for (const name of fs.readdirSync(dir)) {
      const p = path.join(dir, name)
      out.push(path.relative(root, p))
      if (fs.lstatSync(p).isDirectory()) walk(p)
    }
  }
  walk(root)
  return out.sort()
}

function assertShape(report, dir) {
  assert.deepEqual(
    ['path', 'filesystem', 'mountOptions', 'probes', 'verdict', 'advice'].filter((k) => !(k in report)),
    [],
    'the --json object has every documented key',
  )
  assert.equal(report.path, fs.realpathSync(dir))
  assert.equal(typeof report.filesystem, 'string')
  assert.ok(Array.isArray(report.mountOptions) && report.mountOptions.every((o) => typeof o === 'string'))
  assert.ok(['safe', 'safe with settings', 'unsafe'].includes(report.verdict), report.verdict)
  assert.ok(Array.isArray(report.advice) && report.advice.every((a) => typeof a === 'string'))
  for (const p of report.probes) {
    assert.deepEqual(Object.keys(p), ['name', 'ok', 'detail'])
    assert.equal(typeof p.ok, 'boolean')
    assert.equal(typeof p.detail, 'string')
  }
}

/** Mounts a tmpfs for the test (root only), unmounted when the test ends; undefined if it cannot. */
function tmpfs(t, options = 'size=16m') {
  if (process.getuid() !== 0) return undefined
  const dir = tempDir('fjs-doctor-tmpfs-')
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'fjs-doctor', dir], { stdio: 'pipe' })
  } catch {
    return undefined
  }
  t.after(() => execFileSync('umount', [dir]))
  return dir
}

test('doctor on an empty folder of the local disk: every probe passes, a safe verdict, and nothing left behind inside or outside it', async () => {
  const { dir, untouched } = sandbox()
  const human = await cli('doctor', dir)
  assert.equal(human.code, 0, human.stderr)
  assert.match(human.stdout, /^folder {6}.*\(not a store; probed in a temporary sub-folder, now removed\)$/m)
  assert.match(human.stdout, /^verdict {5}safe/m)
  for (const name of PROBES) assert.match(human.stdout, new RegExp(`^ok {4}${name} `, 'm'))
  const run = await cli('doctor', dir, '--json')
  assert.equal(run.code, 0, run.stderr)
  const report = JSON.parse(run.stdout)
  assertShape(report, dir)
  assert.deepEqual(report.probes.map((p) => p.name), PROBES)
  assert.deepEqual(report.probes.filter((p) => !p.ok), [])
  const real = fs.realpathSync(dir)
  assert.ok(real === report.mountPoint || real.startsWith(report.mountPoint === '/' ? '/' : `${report.mountPoint}/`))
  assert.deepEqual(entries(dir), [], 'the folder is as empty as before')
  assert.throws(() => new JobStore({ dir, readOnly: true }), { code: 'ENOTSTORE' }, 'doctor did not make the folder a store')
  untouched()
})

test('doctor on a store probes inside its tmp/ and leaves the store as it was', async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  const { id } = await store.create({ n: 1 })
  store.close()
  const before = entries(dir)
  const run = await cli('doctor', dir, '--json')
  assert.equal(run.code, 0, run.stderr)
  const report = JSON.parse(run.stdout)
  assertShape(report, dir)
  assert.equal(report.store, true)
  assert.deepEqual(entries(dir), before)
  const again = new JobStore({ dir, readOnly: true })
  assert.deepEqual(await again.list({ state: 'pending' }), [id])
  assert.deepEqual(await again.check(), [])
  again.close()
  untouched()
})

test('doctor on a tmpfs: the probes pass, one machine only', async (t) => {
  const dir = tmpfs(t)
  if (!dir) return t.skip('needs root to mount a tmpfs')
  const run = await cli('doctor', dir, '--json')
  assert.equal(run.code, 0, run.stderr)
  const report = JSON.parse(run.stdout)
  assertShape(report, dir)
  assert.equal(report.filesystem, 'tmpfs')
  assert.equal(report.mountPoint, fs.realpathSync(dir))
  assert.ok(report.mountOptions.includes('size=16384k'), report.mountOptions.join(','))
  assert.deepEqual(report.probes.filter((p) => !p.ok), [])
  assert.equal(report.verdict, 'safe with settings')
  assert.match(report.advice.join('\n'), /one machine only/)
  assert.deepEqual(entries(dir), [])
})

test('doctor on a read-only tmpfs: unsafe, exit 1, with the reason', async (t) => {
  const dir = tmpfs(t, 'size=1m,ro')
  if (!dir) return t.skip('needs root to mount a tmpfs')
  const run = await cli('doctor', dir)
  assert.equal(run.code, 1, run.stderr)
  assert.match(run.stdout, /^FAIL {2}write .*EROFS/m)
  assert.match(run.stdout, /^verdict {5}unsafe/m)
  assert.match(run.stdout, /read-only/)
})

test('doctor refuses a folder that does not exist, and makes nothing there; a missing DIR or an unknown flag exits 2', async () => {
  const parent = tempDir()
  const missing = path.join(parent, 'nowhere')
  for (const json of [[], ['--json']]) {
    const run = await cli('doctor', missing, ...json)
    assert.equal(run.code, 2)
    assert.equal(run.stdout, '')
    assert.equal(run.stderr, `fs-job-store: no folder at ${missing}: doctor examines an existing folder and never makes one\n`)
  }
  assert.deepEqual(fs.readdirSync(parent), [])
  const file = path.join(parent, 'file')
  fs.writeFileSync(file, '')
  assert.match((await cli('doctor', file)).stderr, /is not a folder/)
  const none = await cli('doctor')
  assert.equal(none.code, 2)
  assert.match(none.stderr, /missing DIR/)
  const flag = await cli('doctor', parent, '--repair')
  assert.equal(flag.code, 2)
  assert.match(flag.stderr, /Unknown option '--repair'; see fs-job-store doctor --help/)
  const help = await cli('doctor', '--help')
  assert.equal(help.code, 0)
  assert.match(help.stdout, /^Usage: fs-job-store doctor DIR \[--json\]/)
  assert.match((await cli('--help')).stdout, /^ {2}doctor DIR /m)
})

test('the mount is the longest mount point above the folder, its options unescaped and merged', () => {
  const mountinfo = [
    '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard',
    '90 27 0:50 / /mnt/shared rw,relatime shared:1 - nfs4 srv:/export rw,vers=4.2,hard,local_lock=none,addr=10.0.0.2',
    '91 90 0:51 / /mnt/shared/my\\040jobs rw,relatime - fuse.juicefs JuiceFS:vol rw,user_id=0',
    '92 27 0:52 / /mnt/sharedother rw - tmpfs tmpfs rw',
  ].join('\n')
  assert.equal(mountOf('/mnt/shared/q', mountinfo).type, 'nfs4')
  assert.deepEqual(mountOf('/mnt/shared/q', mountinfo).options, ['rw', 'relatime', 'vers=4.2', 'hard', 'local_lock=none', 'addr=10.0.0.2'])
  assert.equal(mountOf('/mnt/shared/my jobs/q', mountinfo).type, 'fuse.juicefs')
  assert.equal(mountOf('/mnt/shared/my jobs', mountinfo).mountPoint, '/mnt/shared/my jobs')
  assert.equal(mountOf('/mnt/sharedother/q', mountinfo).type, 'tmpfs')
  assert.equal(mountOf('/home/q', mountinfo).type, 'ext4')
})

test('mount options decide the verdict: NFS with local locks is unsafe, NFSv4 safe with settings', () => {
  const nfs = (options) => judgeFilesystem({ type: 'nfs4', source: 'srv:/export', mountPoint: '/mnt/q', options })
  assert.equal(nfs(['rw', 'vers=4.2', 'hard', 'local_lock=none']).verdict, 'safe with settings')
  for (const bad of [['rw', 'vers=4.2', 'local_lock=all'], ['rw', 'vers=4.1', 'local_lock=flock']]) {
    const judged = nfs(bad)
    assert.equal(judged.verdict, 'unsafe')
    assert.match(judged.advice.join('\n'), /local_lock=(all|flock): flock locks stay on this machine/)
  }
  const v3 = judgeFilesystem({ type: 'nfs', source: 'srv:/export', mountPoint: '/mnt/q', options: ['rw', 'vers=3', 'nolock'] })
  assert.equal(v3.verdict, 'unsafe')
  assert.match(v3.advice.join('\n'), /nolock/)
  assert.match(judgeFilesystem({ type: 'nfs4', source: 'fs-1.efs.eu-west-1.amazonaws.com:/', mountPoint: '/mnt/q', options: ['vers=4.1'] }).label, /AWS EFS/)
  assert.equal(judgeFilesystem({ type: 'cifs', source: '//srv/q', mountPoint: '/mnt/q', options: ['rw', 'nobrl'] }).verdict, 'unsafe')
  assert.equal(judgeFilesystem({ type: 'fuse.juicefs', source: 'JuiceFS:vol', mountPoint: '/nonexistent', options: ['rw'] }).verdict, 'safe with settings')
  assert.equal(judgeFilesystem({ type: 'xfs', source: '/dev/sdb', mountPoint: '/srv', options: ['rw'] }).verdict, 'safe')
  assert.equal(judgeFilesystem({ type: 'ext4', source: '/dev/sdb', mountPoint: '/srv', options: ['rw', 'ro'] }).verdict, 'unsafe')
})
