'use strict'
// Hostile, damaged and full folders: bad ids and options refused with a stable code before the
// disk is touched, damaged records skipped and reported, links never followed, foreign files never
// deleted, a full or read-only disk losing nothing acknowledged, and close() letting go of every
// descriptor. Tests compare what lies outside the store (a sentinel folder beside it), and often
// the store itself, entry by entry before and after.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const JobStore = require('..')
const { tempDir, runNode, OLD, snapshot, sandbox, projectFolder, runNodeArgs } = require('./helpers')

const BAD_IDS = ['../sentinel', '../sentinel/a.txt', '..', '.', '/etc/passwd', 'a\\b', '', 'x\0y', 'a'.repeat(300), 42, null, undefined, {}, ['job-1']]

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

/** Resolves once `probe()` gives the same truthy answer twice in a row 50 ms apart (at most 6 s). */
function withoutTestContext() {
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT
  return env
}

/** A thread's name; '' for one that ended between the listing and the read. */
function threadName(tid) {
  try {
    return fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8')
  } catch {
    return ''
  }
}

async function settled(probe) {
  let last
  for (let i = 0; i < 120; i++) {
    const now = probe()
    if (now && now === last) return
    last = now
    await new Promise((r) => setTimeout(r, 50))
  }
}

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

test('the constructor refuses missing or mistyped options and an empty or non-folder dir, each with a code', () => {
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

test('a linked or non-folder tmp/, jobs/, pending/ or waiting/ is refused with ECORRUPT naming it', () => {
  for (const sub of ['tmp', 'jobs', 'pending', 'waiting']) {
    const dir = tempDir()
    const outside = tempDir('fjs-outside-')
    fs.writeFileSync(path.join(outside, 'precious'), 'x')
    fs.utimesSync(path.join(outside, 'precious'), OLD, OLD)
    const before = snapshot(outside)
    fs.symlinkSync(outside, path.join(dir, sub))
    assert.throws(() => new JobStore({ dir }), (err) => err.code === 'ECORRUPT' && err.message.includes(path.join(dir, sub)) && /link/.test(err.message))
    assert.throws(() => new JobStore({ dir, readOnly: true }), { code: 'ECORRUPT' })
    assert.deepEqual(snapshot(outside), before, `nothing changed behind the ${sub}/ link`)
    fs.unlinkSync(path.join(dir, sub))
    fs.writeFileSync(path.join(dir, sub), 'a file')
    assert.throws(() => new JobStore({ dir }), (err) => err.code === 'ECORRUPT' && /not a folder/.test(err.message))
  }
})

test('a store folder that is itself a link is used: jobs land in the folder it points to', async () => {
  const real = tempDir()
  const link = path.join(tempDir(), 'store-link')
  fs.symlinkSync(real, link)
  const store = new JobStore({ dir: link })
  const { id } = await store.create('via a link')
  assert.ok(fs.existsSync(path.join(real, 'jobs', id, 'state.json')))
  await store.close()
})

test('without openat2 (Linux before 5.6, qemu-user) links below the store are refused just the same', async () => {
  // The same tests again, in a process whose store walks each path step by step with O_NOFOLLOW.
  const run = await runNodeArgs(
    ['--test', '--test-name-pattern=is never followed|refused with ECORRUPT naming it|itself a link', __filename],
    // Without the runner's NODE_TEST_CONTEXT, so the child reports as a run of its own.
    { env: { ...withoutTestContext(), FS_JOB_STORE_NO_OPENAT2: '1' }, inheritEnv: false, timeoutMs: 60000 },
  )
  assert.equal(run.code, 0, run.stdout + run.stderr)
  assert.match(run.stdout, /# pass 3\n/, run.stdout)
})

test('a job folder replaced by a link to a folder elsewhere is never followed', async () => {
  const dir = tempDir()
  const outside = tempDir('fjs-outside-')
  const store = new JobStore({ dir })
  const linked = (await store.create('linked')).id
  const good = (await store.create('good')).id
  // The outside folder looks like a job, so a store that followed the link would use it.
  fs.writeFileSync(path.join(outside, 'state.json'), JSON.stringify({ version: 0, state: 1, waiting: [], request: 'outside' }))
  fs.rmSync(path.join(dir, 'jobs', linked), { recursive: true })
  fs.symlinkSync(outside, path.join(dir, 'jobs', linked))
  const before = snapshot(outside)

  const job = await store.pullJob()
  assert.equal(job.id, good, 'the pull skipped the linked job')
  assert.equal(await store.pullJob(), undefined)
  await job.release()
  for (const call of [
    () => store.fulfill(linked, 'v'),
    () => store.queue(linked, 't'),
    () => store.update(linked, 0, 'x'),
    () => store.get(linked),
    () => store.value(linked),
  ]) {
    await assert.rejects(call(), (err) => err.code === 'ECORRUPT' && err.message.includes(path.join('jobs', linked)))
  }
  const problems = await store.check()
  assert.deepEqual(
    problems.filter((p) => p.id === linked).map((p) => p.kind),
    ['linked-job'],
  )
  assert.deepEqual((await store.stats()).pending, 1, 'the linked job is not counted as a job')
  // A link inside a real job folder is damage too.
  fs.rmSync(path.join(dir, 'jobs', good, 'state.json'))
  fs.symlinkSync(path.join(outside, 'state.json'), path.join(dir, 'jobs', good, 'state.json'))
  await assert.rejects(store.get(good), { code: 'ECORRUPT' })
  await assert.rejects(store.fulfill(good, 'v'), { code: 'ECORRUPT' })
  assert.deepEqual(snapshot(outside), before, 'nothing was written, locked or created outside')
  await store.close()
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

test('a file where a job folder should be is skipped by pulls, not an error', async () => {
  const { dir, untouched } = sandbox()
  const store = new JobStore({ dir })
  fs.writeFileSync(path.join(dir, 'jobs', 'job-0-file'), 'not a folder')
  fs.symlinkSync('../jobs/job-0-file', path.join(dir, 'pending', 'job-0-file'))
  fs.symlinkSync('../jobs/job-0-file', path.join(dir, 'waiting', 'job-0-file'))
  assert.equal(await store.pullJob(), undefined)
  assert.equal(await store.pullNotification(), undefined)
  assert.deepEqual(await store.stats(), { pending: 0, claimed: 0, fulfilled: 0, waiting: 0, failed: 0, delayed: 0, cancelled: 0, oldestPendingAgeMs: null })
  assert.ok((await store.check()).some((p) => p.kind === 'stray-file'))
  untouched()
})

test('a record this user cannot read is skipped by pulls and reported; calls on it give the OS code and path', async (t) => {
  if (process.getuid() !== 0) return t.skip('needs root to run a child as an unprivileged user')
  const dir = tempDir()
  fs.chmodSync(dir, 0o777)
  const asNobody = (script) => runNode(script, [dir], { env: {}, uid: 65534, gid: 65534 })
  const made = await asNobody(`
    const S = require('.'); const s = new S({ dir: process.argv[1] })
    ;(async () => { const a = (await s.create('a')).id; const b = (await s.create('b')).id; console.log(JSON.stringify([a, b])) })()`)
  assert.equal(made.code, 0, made.stderr)
  const [unreadable, good] = JSON.parse(made.stdout)
  fs.chownSync(path.join(dir, 'jobs', unreadable, 'state.json'), 0, 0)
  fs.chmodSync(path.join(dir, 'jobs', unreadable, 'state.json'), 0o600)
  const seen = await asNobody(`
    const S = require('.'); const s = new S({ dir: process.argv[1] })
    ;(async () => {
      const out = {}
      const ac = new AbortController()
      for await (const job of s.jobs({ signal: ac.signal })) { out.pulled = job.id; await job.fulfill('done'); await job.release(); ac.abort() }
      out.next = (await s.pullJob()) === undefined ? 'nothing' : 'something'
      out.get = await s.get(${JSON.stringify(unreadable)}).then(() => 'ok', (e) => ({ code: e.code, path: e.path }))
      out.kinds = (await s.check()).map((p) => p.kind + ' ' + p.id)
      out.stats = await s.stats()
      console.log(JSON.stringify(out))
    })()`)
  assert.equal(seen.code, 0, seen.stderr)
  const out = JSON.parse(seen.stdout)
  assert.equal(out.pulled, good, 'the worker got the readable job and did not die')
  assert.equal(out.next, 'nothing', 'a further pull gives nothing, not EACCES')
  assert.deepEqual(out.get, { code: 'EACCES', path: path.join(fs.realpathSync(dir), 'jobs', unreadable, 'state.json') })
  assert.ok(out.kinds.includes(`unreadable-job ${unreadable}`), out.kinds.join(', '))
  assert.equal(out.stats.pending, 1, 'stats count it as pending, as they count a damaged one')
})

test('a pull that finds nothing because the OS refused every claim answers that error, not "no work"', async (t) => {
  if (process.getuid() !== 0) return t.skip('needs root to make folders immutable')
  const { spawnSync } = require('node:child_process')
  const dir = tempDir()
  const store = new JobStore({ dir })
  const { id: pending } = await store.create('a')
  const { id: answered } = await store.create('b')
  await store.queue(answered, 't')
  await store.fulfill(answered, 'v')
  store.close()
  const folders = [dir, ...['jobs', 'pending', 'waiting', 'tmp'].map((sub) => path.join(dir, sub)), path.join(dir, 'jobs', pending), path.join(dir, 'jobs', answered)]
  const chattr = (flag) => spawnSync('chattr', [flag, ...folders], { encoding: 'utf8' })
  const made = chattr('+i')
  if (made.status !== 0) return t.skip(`chattr +i is not available here: ${made.stderr || made.error}`)
  t.after(() => chattr('-i'))
  const worker = new JobStore({ dir })
  await assert.rejects(worker.pullJob(), (err) => {
    assert.equal(err.code, 'EPERM', err.message)
    assert.equal(err.path, path.join(fs.realpathSync(dir), 'jobs', pending, 'work.lock'))
    return true
  })
  await assert.rejects(worker.pullNotification(), { code: 'EPERM' })
  worker.close()
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

test("a store opened on a folder with its own tmp/ deletes none of the foreign files there", () => {
  const dir = projectFolder()
  const before = snapshot(path.join(dir, 'tmp'))
  new JobStore({ dir }).close()
  assert.deepEqual(snapshot(path.join(dir, 'tmp')), before, 'tmp/ is as it was')
})

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

test('close() releases every descriptor: the filesystem can be unmounted, later calls fail ECLOSED', async (t) => {
  if (process.platform !== 'linux' || process.getuid() !== 0) return t.skip('needs root on Linux to mount a tmpfs')
  const dir = path.join(tempDir(), 'mnt')
  fs.mkdirSync(dir)
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' })
  } catch {
    return t.skip('cannot mount a tmpfs here')
  }
  let mounted = true
  t.after(() => mounted && execFileSync('umount', ['-l', dir], { stdio: 'ignore' }))
  const store = new JobStore({ dir, durable: true })
  const { id } = await store.create('x')
  await store.create('y')
  const job = await store.pullJob()
  await store.queue(id, 't')
  const waiting = store.pullNotification({ waitMs: 60000 })
  await store.close()
  assert.equal(await waiting, undefined, 'a waiting pull ends at close')
  execFileSync('umount', [dir]) // throws EBUSY if anything is still open there
  mounted = false
  await assert.rejects(store.create('after'), { code: 'ECLOSED', message: /closed/ })
  await assert.rejects(store.stats(), { code: 'ECLOSED' })
  await assert.rejects(job.fulfill('late'), { code: 'ECLOSED' })
  const viaCallback = await new Promise((resolve) => store.get(id, (err) => resolve(err)))
  assert.equal(viaCallback.code, 'ECLOSED')
})

test('opening and closing 1,000 stores leaves the fd and thread counts where they started', async () => {
  const fds = () => fs.readdirSync('/proc/self/fd').length
  // The folder watchers' threads (notify's inotify loop); the runtime's shared pool is not a store's.
  const threads = () =>
    fs.readdirSync('/proc/self/task').filter((t) => /notify/i.test(threadName(t))).length
  const cycle = async (dir) => {
    const store = new JobStore({ dir, durable: false })
    const { id } = await store.create(1)
    const job = await store.pullJob({ waitMs: 1 }) // starts the folder watcher too
    await job.fulfill('v')
    await store.get(id)
    await store.close()
  }
  // Process-wide things (the runtime's threads, the claim watcher) start once; let them. Stores
  // earlier tests left open write their per-minute counts within a second (opening activity/ and
  // tmp/ once): let that happen before counting too.
  for (let i = 0; i < 4; i++) await cycle(tempDir())
  await new Promise((r) => setTimeout(r, 1500))
  await settled(() => [fds(), threads()].join())
  const start = fds()
  const startThreads = threads()
  assert.equal(startThreads, 0, 'closed stores keep no watcher thread')
  const parent = tempDir()
  for (let i = 0; i < 1000; i++) {
    const dir = path.join(parent, String(i))
    await cycle(dir)
    if (i % 100 === 0) fs.rmSync(dir, { recursive: true })
  }
  // A folder watcher's own thread closes its inotify descriptor just after close() returns.
  await settled(() => fds() === start && threads() <= startThreads)
  assert.equal(fds(), start)
  assert.ok(threads() <= startThreads, `${threads()} threads, ${startThreads} at the start`)
})

test('a store whose folder is removed while open says so on its next pull, instead of "no work"', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  await store.create('a')
  const job = await store.pullJob()
  await job.release()
  const real = fs.realpathSync(dir)
  fs.rmSync(dir, { recursive: true, force: true })
  await assert.rejects(store.pullJob(), (err) => {
    assert.equal(err.code, 'ENOENT')
    assert.match(err.message, /was removed/)
    assert.equal(err.path, real)
    return true
  })
  store.close()
})
