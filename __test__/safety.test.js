'use strict'
// Nothing outside the store is ever touched: hostile folders (links where folders should be,
// foreign files in tmp/), read-only inspection that changes nothing, unreadable records, and a
// close() that lets go of everything. Each test compares what lies outside the store, and often
// the store itself, entry by entry before and after.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const JobStore = require('..')
const { tempDir, runNode, OLD, snapshot, projectFolder, cli } = require('./helpers')

test("a store opened on a folder with its own tmp/ deletes none of the foreign files there", () => {
  const dir = projectFolder()
  const before = snapshot(path.join(dir, 'tmp'))
  new JobStore({ dir }).close()
  assert.deepEqual(snapshot(path.join(dir, 'tmp')), before, 'tmp/ is as it was')
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

test('the store folder itself may be a link', async () => {
  const real = tempDir()
  const link = path.join(tempDir(), 'store-link')
  fs.symlinkSync(real, link)
  const store = new JobStore({ dir: link })
  const { id } = await store.create('via a link')
  assert.ok(fs.existsSync(path.join(real, 'jobs', id, 'state.json')))
  await store.close()
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

test('read-only inspection changes nothing, in the API and the CLI', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const pending = (await store.create({ n: 1 })).id
  const done = (await store.create({ n: 2 })).id
  await store.fulfill(done, 'v')
  await store.queue(done, 'someone')
  await store.close()
  // A 1.2.0 job: no lock files yet, so a look that locked would create one.
  const old = path.join(dir, 'jobs', 'job--1-abc')
  fs.mkdirSync(old)
  fs.writeFileSync(path.join(old, 'state.json'), '{"version":0,"state":1,"waiting":[],"request":1}')
  fs.symlinkSync('../jobs/job--1-abc', path.join(dir, 'pending', 'job--1-abc'))
  fs.symlinkSync('../jobs/job-gone', path.join(dir, 'waiting', 'job-gone'))
  fs.writeFileSync(path.join(dir, 'tmp', 'tmp-00000000000000ab-1'), 'leftover')
  fs.utimesSync(path.join(dir, 'tmp', 'tmp-00000000000000ab-1'), OLD, OLD)
  const before = snapshot(dir)

  const look = new JobStore({ dir, readOnly: true })
  assert.equal((await look.stats()).pending, 2)
  assert.equal((await look.list()).length, 3)
  assert.equal((await look.get(pending)).state, 'pending')
  assert.deepEqual(await look.value(done), Buffer.from('v'))
  assert.ok((await look.check()).length >= 2)
  for (const call of [
    () => look.create(1),
    () => look.queue(pending, 't'),
    () => look.fulfill(pending, 'v'),
    () => look.update(pending, 0, 2),
    () => look.unqueue(done, 'someone'),
    () => look.pullJob(),
    () => look.pullNotification({ waitMs: 10 }),
    () => look.remove(done, { force: true }),
    () => look.prune({ olderThanMs: 0 }),
    () => look.check({ repair: true }),
  ]) {
    await assert.rejects(call(), (err) => err.code === 'EREADONLY' && /readOnly/.test(err.message))
  }
  await look.close()
  for (const args of [['stats', dir], ['ls', dir], ['ls', dir, '--pending'], ['show', dir, done], ['show', dir, 'job--1-abc'], ['check', dir], ['check', dir, '--json']]) {
    const run = await cli(...args)
    assert.ok(run.code === 0 || (args[0] === 'check' && run.code === 1), `${args.join(' ')}: ${run.stderr}`)
  }
  assert.deepEqual(snapshot(dir), before, 'the store folder is entry for entry as it was')
})

test('the CLI refuses a folder that is not a store, and leaves it as it was', async () => {
  const dir = projectFolder()
  const before = snapshot(dir)
  for (const args of [['stats', dir], ['ls', dir], ['show', dir, 'job-x'], ['check', dir], ['check', dir, '--repair'], ['prune', dir, '--older-than', '1d'], ['remove', dir, 'job-x']]) {
    const run = await cli(...args)
    assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`)
    assert.match(run.stderr, new RegExp(`not a job store folder: ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
  }
  assert.throws(() => new JobStore({ dir, readOnly: true }), { code: 'ENOTSTORE' })
  assert.deepEqual(snapshot(dir), before)
})

test('the CLI refuses unknown flags and extra arguments, naming them, and does nothing', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const { id } = await store.create(1)
  const cases = [
    [['remove', dir, id, '--forse'], /--forse/],
    [['ls', dir, '--pendng'], /--pendng/],
    [['stats', dir, 'extra'], /unexpected argument "extra"/],
    [['prune', dir, '--older-than'], /--older-than/],
    [['check', dir, '--repiar'], /--repiar/],
  ]
  for (const [args, message] of cases) {
    const run = await cli(...args)
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`)
    assert.match(run.stderr, message)
    assert.equal(run.stdout, '')
  }
  assert.deepEqual(await store.list(), [id], 'the misspelt remove removed nothing')
  await store.close()
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
    fs.readdirSync('/proc/self/task').filter((t) => /notify/i.test(fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8'))).length
  const cycle = async (dir) => {
    const store = new JobStore({ dir, durable: false })
    const { id } = await store.create(1)
    const job = await store.pullJob({ waitMs: 1 }) // starts the folder watcher too
    await job.fulfill('v')
    await store.get(id)
    await store.close()
  }
  // Process-wide things (the runtime's threads, the claim watcher) start once; let them.
  for (let i = 0; i < 4; i++) await cycle(tempDir())
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

/** Resolves once `probe()` gives the same truthy answer twice in a row 50 ms apart (at most 3 s). */
async function settled(probe) {
  let last
  for (let i = 0; i < 60; i++) {
    const now = probe()
    if (now && now === last) return
    last = now
    await new Promise((r) => setTimeout(r, 50))
  }
}

test('one JSON rule for requests and targets: what JSON.stringify writes, nested at most 128 levels', async () => {
  const store = new JobStore({ dir: tempDir() })
  const nest = (levels) => {
    let v = 'bottom'
    for (let i = 0; i < levels; i++) v = [v]
    return v
  }
  const { id } = await store.create(nest(128))
  await store.queue(id, nest(128))
  await store.queue(id, '\ud800')
  await store.queue(id, { '\udc00': 'lone' })
  assert.deepEqual((await store.get(id)).request, nest(128))
  await store.unqueue(id, '\ud800')
  await store.unqueue(id, { '\udc00': 'lone' })
  await store.unqueue(id, nest(128))
  assert.deepEqual((await store.get(id)).waiting, [], 'lone surrogates and deep targets are compared and removed')
  for (const [call, name] of [
    [() => store.create(nest(129)), 'request'],
    [() => store.queue(id, nest(129)), 'target'],
    [() => store.update(id, 0, nest(129)), 'newRequest'],
  ]) {
    await assert.rejects(call(), (err) => err.code === 'ERR_INVALID_ARG_VALUE' && err.message.includes(`"${name}"`) && /at most 128 levels/.test(err.message))
  }
  const cyclic = {}
  cyclic.self = cyclic
  await assert.rejects(store.queue(id, cyclic), (err) => err.code === 'ERR_INVALID_ARG_VALUE' && err.message.includes('"target"') && /circular/i.test(err.message))
  await assert.rejects(store.create(10n), (err) => err.message.includes('"request"') && /BigInt/.test(err.message))
  await store.close()
})

test('check reports every dangling marker with its age; repair removes only those past the grace period', async () => {
  const dir = tempDir()
  const store = new JobStore({ dir })
  fs.symlinkSync('../jobs/job-young', path.join(dir, 'pending', 'job-young'))
  fs.symlinkSync('../jobs/job-old', path.join(dir, 'waiting', 'job-old'))
  fs.lutimesSync(path.join(dir, 'waiting', 'job-old'), OLD, OLD)
  const found = await store.check()
  const young = found.find((p) => p.id === 'job-young')
  const old = found.find((p) => p.id === 'job-old')
  assert.equal(young.kind, 'dangling-marker')
  assert.ok(young.ageMs >= 0 && young.ageMs < 60e3, `young marker age ${young.ageMs}`)
  assert.ok(old.ageMs > 23 * 3600e3, `old marker age ${old.ageMs}`)
  const repaired = await store.check({ repair: true })
  assert.equal(repaired.find((p) => p.id === 'job-old').repaired, true)
  const left = repaired.find((p) => p.id === 'job-young')
  assert.equal(left.repaired, false)
  assert.match(left.message, /grace/)
  assert.ok(fs.lstatSync(path.join(dir, 'pending', 'job-young')).isSymbolicLink(), 'the young marker is kept')
  assert.throws(() => fs.lstatSync(path.join(dir, 'waiting', 'job-old')))
  await store.close()
})

test('get() never invents time: a 1.2.0 record has createdAt and fulfilledAt null', async () => {
  const dir = tempDir()
  new JobStore({ dir }).close()
  const old = path.join(dir, 'jobs', 'job--7-xyz')
  fs.mkdirSync(old)
  fs.writeFileSync(path.join(old, 'state.json'), '{"version":0,"state":2,"waiting":[],"request":1}')
  fs.writeFileSync(path.join(old, 'value'), 'v')
  const store = new JobStore({ dir })
  const info = await store.get('job--7-xyz')
  assert.equal(info.state, 'fulfilled')
  assert.equal(info.createdAt, null)
  assert.equal(info.fulfilledAt, null)
  const { id } = await store.create(2)
  await store.fulfill(id, 'w')
  const ours = await store.get(id)
  assert.ok(ours.createdAt instanceof Date && ours.fulfilledAt instanceof Date && ours.fulfilledAt >= ours.createdAt)
  await store.close()
})
