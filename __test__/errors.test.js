'use strict'
// Bad input, a damaged folder and a full or read-only disk: a clear error with a stable code,
// nothing acknowledged lost, and nothing written outside the store's folder. Every test keeps a
// sentinel folder beside the store and checks it is untouched.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const JobStore = require('..')
const { runFile, ROOT, sandbox } = require('./helpers')

const BAD_IDS = ['../sentinel', '../sentinel/a.txt', '..', '.', '/etc/passwd', 'a\\b', '', 'x\0y', 'a'.repeat(300), 42, null, undefined, {}, ['job-1']]

test('bad ids are refused with EINVALIDID by every method, before touching the disk', async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  const calls = {
    queue: (id) => store.queue(id, 't'),
    unqueue: (id) => store.unqueue(id, 't'),
    unqueueAll: (id) => store.unqueueAll(id, ['t']),
    flush: (id) => store.flush(id),
    fulfill: (id) => store.fulfill(id, 'v'),
    update: (id) => store.update(id, 0, 'r'),
    get: (id) => store.get(id),
    value: (id) => store.value(id),
    remove: (id) => store.remove(id, { force: true }),
  }
  for (const [name, call] of Object.entries(calls)) {
    for (const id of BAD_IDS) {
      await assert.rejects(call(id), (err) => {
        assert.equal(err.code, 'EINVALIDID', `${name}(${JSON.stringify(id)}): ${err.message}`)
        assert.match(err.message, /job id/)
        return true
      })
    }
  }
  const viaCallback = await new Promise((resolve) => store.fulfill('../sentinel', 'v', resolve))
  assert.equal(viaCallback.code, 'EINVALIDID')
  assert.deepEqual(fs.readdirSync(path.join(dir, 'jobs')), [])
  untouched()
})

test('requests, targets and values that cannot be stored get their own codes and name the argument', async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  const cyclic = {}
  cyclic.self = cyclic
  for (const request of [cyclic, 10n, undefined, () => 1, Symbol('s')]) {
    await assert.rejects(store.create(request), { code: 'ERR_INVALID_ARG_VALUE', message: /"request"/ })
  }
  const { id } = await store.create({ ok: true })
  await assert.rejects(store.update(id, 0, cyclic), { code: 'ERR_INVALID_ARG_VALUE', message: /"newRequest"/ })
  await assert.rejects(store.queue(id, 1n), { code: 'ERR_INVALID_ARG_VALUE', message: /"target"/ })
  await assert.rejects(store.queue(id, undefined), { code: 'ERR_INVALID_ARG_VALUE', message: /"target"/ })
  await assert.rejects(store.unqueueAll(id, 'target'), { code: 'ERR_INVALID_ARG_TYPE', message: /"targets"/ })
  for (const value of [42, {}, null, undefined, true, [1, 2]]) {
    await assert.rejects(store.fulfill(id, value), { code: 'ERR_INVALID_ARG_TYPE', message: /"value"/ })
  }
  await assert.rejects(store.fulfill('job-missing', 'v'), { code: 'ENOJOB' })
  const job = await store.pullJob()
  await assert.rejects(job.fulfill({}), { code: 'ERR_INVALID_ARG_TYPE' })
  await job.release()
  assert.deepEqual(await store.list(), [id], 'nothing half-made')
  assert.equal((await store.get(id)).state, 'pending')
  untouched()
})

test('the constructor refuses a missing, empty or non-folder dir with a code', () => {
  const { parent, untouched } = sandbox()
  assert.throws(() => new JobStore(), { code: 'ERR_INVALID_ARG_TYPE', message: /"options"/ })
  assert.throws(() => new JobStore({}), { code: 'ERR_INVALID_ARG_TYPE', message: /"options.dir"/ })
  assert.throws(() => new JobStore({ dir: 42 }), { code: 'ERR_INVALID_ARG_TYPE', message: /"options.dir"/ })
  assert.throws(() => new JobStore({ dir: '' }), { code: 'ERR_INVALID_ARG_VALUE', message: /"options.dir"/ })
  assert.throws(() => new JobStore({ dir: path.join(parent, 'beside.txt') }), { code: 'ENOTDIR', message: /is a file/ })
  assert.throws(() => new JobStore({ dir: path.join(parent, 'x'), durable: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => new JobStore({ dir: path.join(parent, 'x'), respond: 'me' }), { code: 'ERR_INVALID_ARG_TYPE' })
  untouched()
})

test('a damaged folder: pulls skip bad entries, calls on them say ECORRUPT, nothing is overwritten', async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  const ids = []
  for (let n = 0; n < 6; n++) ids.push((await store.create({ n })).id)
  const [truncated, garbled, noState, directoryState, good, waitingGood] = ids
  const stateOf = (id) => path.join(dir, 'jobs', id, 'state.json')
  fs.writeFileSync(stateOf(truncated), '{"version":0,"state":1,"wai')
  fs.writeFileSync(stateOf(garbled), '\u0000\u0001binary junk')
  fs.rmSync(stateOf(noState))
  fs.rmSync(stateOf(directoryState))
  fs.mkdirSync(stateOf(directoryState))
  fs.symlinkSync('../jobs/job-nowhere', path.join(dir, 'pending', 'job-0-nowhere'))
  fs.symlinkSync('../jobs/job-nowhere', path.join(dir, 'waiting', 'job-0-nowhere'))
  fs.writeFileSync(path.join(dir, 'pending', 'job-0-stray-file'), 'not a link')
  fs.writeFileSync(path.join(dir, 'pending', 'README'), 'hello')

  const job = await store.pullJob()
  assert.equal(job.id, good, 'the first good job, past every bad entry before it')
  await job.fulfill('ok')
  await job.release()
  const next = await store.pullJob()
  assert.equal(next.id, waitingGood)
  await next.release()
  await store.queue(waitingGood, 't')
  await store.fulfill(waitingGood, 'v')
  const note = await store.pullNotification()
  assert.equal(note.id, waitingGood, 'notifications skip the dangling marker')
  await note.done(null, ['t'])
  assert.equal(await store.pullJob(), undefined)

  for (const id of [truncated, garbled, noState, directoryState]) {
    const bytesBefore = fs.existsSync(stateOf(id)) && fs.statSync(stateOf(id)).isFile() ? fs.readFileSync(stateOf(id)) : null
    for (const call of [() => store.fulfill(id, 'v'), () => store.queue(id, 't'), () => store.update(id, 0, 1), () => store.get(id)]) {
      await assert.rejects(call(), (err) => {
        assert.equal(err.code, 'ECORRUPT', err.message)
        assert.equal(err.path, stateOf(id))
        assert.ok(err.message.includes(stateOf(id)), 'the message names the file')
        return true
      })
    }
    if (bytesBefore) assert.deepEqual(fs.readFileSync(stateOf(id)), bytesBefore, 'not overwritten')
  }
  await assert.rejects(store.fulfill('job-0-nowhere', 'v'), { code: 'ENOJOB' })
  untouched()
})

test('check lists every problem; --repair fixes markers and leftovers and keeps job data', async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  const corrupt = (await store.create('c')).id
  const fulfilled = (await store.create('f')).id
  const lostTargets = (await store.create('w')).id
  await store.fulfill(fulfilled, 'v')
  await store.queue(lostTargets, 't')
  fs.writeFileSync(path.join(dir, 'jobs', corrupt, 'state.json'), 'garbage')
  fs.symlinkSync(`../jobs/${fulfilled}`, path.join(dir, 'pending', fulfilled)) // stale pending marker
  fs.rmSync(path.join(dir, 'waiting', lostTargets)) // a target nobody would look for
  const old = new Date(Date.now() - 3600e3)
  fs.symlinkSync('../jobs/job-gone', path.join(dir, 'pending', 'job-gone'))
  fs.lutimesSync(path.join(dir, 'pending', 'job-gone'), old, old)
  // Names as the store gives its temporary files: tmp-<16 hex>-<n>.
  const crashed = path.join(dir, 'tmp', 'tmp-00000000000000ab-1')
  const inFlight = path.join(dir, 'tmp', 'tmp-00000000000000ab-2')
  fs.mkdirSync(crashed)
  fs.writeFileSync(path.join(crashed, 'state.json'), 'half')
  fs.utimesSync(crashed, old, old)
  fs.writeFileSync(inFlight, 'young')

  const found = await store.check()
  const kinds = found.map((p) => `${p.kind} ${p.id}`).sort()
  assert.deepEqual(kinds, [
    `corrupt-state ${corrupt}`,
    'dangling-marker job-gone',
    'leftover-temporary null',
    `missing-waiting-marker ${lostTargets}`,
    `stale-pending-marker ${fulfilled}`,
  ])
  assert.ok(found.every((p) => !p.repaired && p.message && p.path))

  const repaired = await store.check({ repair: true })
  assert.deepEqual(repaired.filter((p) => !p.repaired).map((p) => p.kind), ['corrupt-state'])
  assert.deepEqual((await store.check()).map((p) => p.kind), ['corrupt-state'], 'only the unrepairable damage is left')
  assert.equal(fs.readFileSync(path.join(dir, 'jobs', corrupt, 'state.json'), 'utf8'), 'garbage', 'job data is kept')
  assert.ok(fs.existsSync(inFlight), 'a young temporary file may be in use: kept')
  assert.ok(!fs.existsSync(crashed), "the store's own leftover folder is gone")
  const note = await store.pullNotification({ waitMs: 0 })
  assert.equal(note, undefined, 'not fulfilled yet, but now findable once it is')
  await store.fulfill(lostTargets, 'v')
  assert.deepEqual((await store.pullNotification()).waiting, ['t'])

  const cli = await runFile(path.join(ROOT, 'bin', 'fs-job-store.js'), ['check', dir, '--json'])
  assert.equal(cli.code, 1, 'problems remain')
  assert.deepEqual(JSON.parse(cli.stdout).map((p) => p.kind), ['corrupt-state'])
  untouched()
})

test("opening a store removes only its own old temporary files: no folder, no link, no foreign file", () => {
  const { dir, untouched } = sandbox()
  new JobStore({ dir }).close()
  const old = new Date(Date.now() - 3600e3)
  const tmp = (name) => path.join(dir, 'tmp', name)
  for (const name of ['tmp-00000000000000ab-1', 'notes.txt', 'tmp-old']) {
    fs.writeFileSync(tmp(name), 'x')
    fs.utimesSync(tmp(name), old, old)
  }
  fs.writeFileSync(tmp('tmp-00000000000000ab-2'), 'young')
  fs.mkdirSync(tmp('tmp-00000000000000ab-3'))
  fs.writeFileSync(tmp('tmp-00000000000000ab-3/state.json'), 'x')
  fs.utimesSync(tmp('tmp-00000000000000ab-3'), old, old)
  fs.symlinkSync('notes.txt', tmp('tmp-00000000000000ab-4'))
  fs.lutimesSync(tmp('tmp-00000000000000ab-4'), old, old)
  new JobStore({ dir }).close()
  assert.deepEqual(fs.readdirSync(path.join(dir, 'tmp')).sort(), [
    'notes.txt',
    'tmp-00000000000000ab-2',
    'tmp-00000000000000ab-3',
    'tmp-00000000000000ab-4',
    'tmp-old',
  ])
  untouched()
})

/** Mounts a small tmpfs at `dir` until the test ends, or says why it cannot. */
function mountTmpfs(t, dir, size) {
  fs.mkdirSync(dir, { recursive: true })
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' })
  } catch (err) {
    return `cannot mount a tmpfs here (${String(err.stderr || err.message).trim()}); this test needs root and mount permission`
  }
  t.after(() => execFileSync('umount', ['-l', dir], { stdio: 'ignore' }))
  return null
}

/** Fills the filesystem of `dir` until not one more byte fits; returns the filler's path. */
function fill(dir) {
  const filler = path.join(dir, 'filler')
  const fd = fs.openSync(filler, 'w')
  for (const chunk of [65536, 4096, 512, 1]) {
    const buf = Buffer.alloc(chunk, 1)
    try {
      for (;;) fs.writeSync(fd, buf)
    } catch (err) {
      if (err.code !== 'ENOSPC') throw err
    }
  }
  fs.closeSync(fd)
  return filler
}

async function fullDiskCase(t, failure) {
  const { dir, untouched } = sandbox()
  const why = mountTmpfs(t, dir, '1m')
  if (why) return t.skip(why)
  const store = new JobStore({ dir })
  const acked = (await store.create({ acked: 1 })).id
  const fulfilled = (await store.create({ acked: 2 })).id
  await store.fulfill(fulfilled, 'value')
  const notified = (await store.create({ acked: 3 })).id
  await store.queue(notified, 'n-target')
  await store.fulfill(notified, 'n')
  const withTarget = (await store.create({ acked: 4 })).id
  await store.queue(withTarget, 'keep')
  // A job's data: its record and value (lock files are the store's own bookkeeping).
  const ackedFiles = () =>
    [acked, fulfilled, notified, withTarget].map((id) =>
      ['state.json', 'value'].map((name) => {
        const file = path.join(dir, 'jobs', id, name)
        return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null
      }),
    )
  const listBefore = await store.list()
  const filesBefore = ackedFiles()
  // Pulled once before, so its lock file exists; pulled again on the broken disk.
  await (await store.pullNotification()).done(null, [])

  const restore = failure.break(dir)
  const note = await store.pullNotification()
  const calls = {
    create: () => store.create({ new: true }),
    queue: () => store.queue(acked, 'more'),
    fulfill: () => store.fulfill(acked, Buffer.alloc(2048, 7)),
    update: () => store.update(acked, 0, { bigger: 'x'.repeat(2048) }),
    done: () => note.done(null, note.waiting),
  }
  for (const [name, call] of Object.entries(calls)) {
    await assert.rejects(call(), (err) => {
      assert.equal(err.code, failure.code, `${name}: ${err.code} ${err.message}`)
      return true
    })
  }

  restore()
  assert.deepEqual(await store.list(), listBefore, 'no half-made job became visible')
  assert.deepEqual(fs.readdirSync(path.join(dir, 'tmp')), [], 'no temporary file left behind')
  assert.deepEqual(ackedFiles(), filesBefore, 'acknowledged jobs unchanged')

  // Space is back: everything works again.
  const again = await store.pullNotification()
  assert.deepEqual([again.id, again.waiting], [notified, ['n-target']], 'the notification is still there to deliver')
  await again.done(null, again.waiting)
  const { id } = await store.create({ after: true })
  await store.queue(acked, 'more')
  await store.update(acked, 0, { updated: true })
  await store.fulfill(acked, 'done')
  assert.equal(String(await store.value(acked)), 'done')
  assert.deepEqual((await store.get(id)).request, { after: true })
  untouched()
}

test('a full disk (ENOSPC): calls fail with ENOSPC, nothing acknowledged changes, and the store recovers', (t) =>
  fullDiskCase(t, {
    code: 'ENOSPC',
    break: (dir) => {
      const filler = fill(dir)
      assert.equal(fs.statfsSync(dir).bavail, 0, 'the disk is full')
      return () => fs.rmSync(filler)
    },
  }))

test('a read-only filesystem (EROFS): calls fail with EROFS and the store recovers when writable', (t) =>
  fullDiskCase(t, {
    code: 'EROFS',
    break: (dir) => {
      execFileSync('mount', ['-o', 'remount,ro', dir])
      return () => execFileSync('mount', ['-o', 'remount,rw', dir])
    },
  }))

test('a file where a job folder should be is skipped by pulls, not an error', async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  fs.writeFileSync(path.join(dir, 'jobs', 'job-0-file'), 'not a folder')
  fs.symlinkSync('../jobs/job-0-file', path.join(dir, 'pending', 'job-0-file'))
  fs.symlinkSync('../jobs/job-0-file', path.join(dir, 'waiting', 'job-0-file'))
  assert.equal(await store.pullJob(), undefined)
  assert.equal(await store.pullNotification(), undefined)
  assert.deepEqual(await store.stats(), { pending: 0, claimed: 0, fulfilled: 0, waiting: 0, oldestPendingAgeMs: null })
  assert.ok((await store.check()).some((p) => p.kind === 'stray-file'))
  untouched()
})

test('a target nested too deeply to be compared later is refused when queued', async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  const { id } = await store.create('x')
  let deep = 'bottom'
  for (let i = 0; i < 130; i++) deep = [deep]
  await assert.rejects(store.queue(id, deep), { code: 'ERR_INVALID_ARG_VALUE', message: /"target"/ })
  assert.deepEqual((await store.get(id)).waiting, [])
  untouched()
})

test('filesystem errors keep the OS message and errno name', async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  const { id } = await store.create('x')
  fs.rmSync(path.join(dir, 'tmp'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'tmp'), 'a file where the temporary folder should be')
  await assert.rejects(store.queue(id, 't'), (err) => {
    assert.equal(err.code, 'ENOTDIR')
    assert.match(err.message, /^ENOTDIR: .*not a directory/i)
    assert.ok(err.path.startsWith(path.join(dir, 'tmp')))
    return true
  })
  assert.deepEqual((await store.get(id)).waiting, [], 'nothing queued')
  assert.equal(fs.existsSync(path.join(dir, 'waiting', id)), false, 'no marker left for a target that was not added')
  untouched()
})
