'use strict'
// The fs-job-store command: output, --json, --help and exit codes; unknown flags and folders that
// are not stores are refused and left as they were.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { ROOT, tempDir, snapshot, projectFolder, cli } = require('./helpers')

/** A store with one fulfilled job and one pending job that someone waits for. */
async function sampleStore() {
  const dir = tempDir()
  const store = new JobStore({ dir })
  const done = (await store.create({ calc: '1+1' })).id
  const pending = (await store.create({ calc: '2+2' })).id
  await store.fulfill(done, '2')
  await store.queue(pending, 'someone')
  return { dir, store, done, pending }
}

test('stats prints the counts as a table, or as JSON with --json', async () => {
  const { dir } = await sampleStore()
  const human = await cli('stats', dir)
  assert.equal(human.code, 0)
  assert.match(human.stdout, /pending\s+1\n/)
  assert.match(human.stdout, /fulfilled\s+1\n/)
  assert.match(human.stdout, /waiting\s+1\n/)
  const json = JSON.parse((await cli('stats', dir, '--json')).stdout)
  assert.deepEqual({ ...json, oldestPendingAgeMs: typeof json.oldestPendingAgeMs }, {
    pending: 1,
    claimed: 0,
    fulfilled: 1,
    waiting: 1,
    failed: 0,
    delayed: 0,
    cancelled: 0,
    oldestPendingAgeMs: 'number',
  })
})

test('ls prints every id, or those of one state with --pending, --fulfilled or --waiting; two filters exit 2', async () => {
  const { dir, done, pending } = await sampleStore()
  assert.equal((await cli('ls', dir)).stdout, `${done}\n${pending}\n`)
  assert.equal((await cli('ls', dir, '--pending')).stdout, `${pending}\n`)
  assert.equal((await cli('ls', dir, '--fulfilled')).stdout, `${done}\n`)
  assert.deepEqual(JSON.parse((await cli('ls', dir, '--waiting', '--json')).stdout), [pending])
  const both = await cli('ls', dir, '--pending', '--fulfilled')
  assert.equal(both.code, 2)
  assert.match(both.stderr, /at most one/)
})

test("show prints a job's state, request and value, and with --json its targets too", async () => {
  const { dir, done, pending } = await sampleStore()
  const shown = await cli('show', dir, done)
  assert.equal(shown.code, 0)
  assert.match(shown.stdout, /state\s+fulfilled/)
  assert.match(shown.stdout, /request\s+\{"calc":"1\+1"\}/)
  assert.match(shown.stdout, /value\s+2\n/)
  const json = JSON.parse((await cli('show', dir, pending, '--json')).stdout)
  assert.deepEqual([json.state, json.request, json.waiting, json.value], ['pending', { calc: '2+2' }, ['someone'], null])
})

test('prune --older-than removes old fulfilled jobs; remove refuses a pending job (exit 1) unless --force', async () => {
  const { dir, done, pending } = await sampleStore()
  assert.deepEqual(JSON.parse((await cli('prune', dir, '--older-than', '7d', '--json')).stdout), { removed: 0 })
  const pruned = await cli('prune', dir, '--older-than=0s')
  assert.equal(pruned.stdout, 'removed 1 job(s)\n')
  assert.equal(fs.existsSync(path.join(dir, 'jobs', done)), false)
  const refused = await cli('remove', dir, pending)
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /^fs-job-store: EPENDING: .*force/)
  assert.equal((await cli('remove', dir, pending, '--force')).stdout, `removed ${pending}\n`)
  assert.equal((await cli('ls', dir)).stdout, '')
})

test('a bad folder, id, duration or command prints one line on stderr, nothing on stdout, and exits 1 or 2', async () => {
  const dir = tempDir()
  new JobStore({ dir }).close()
  const cases = [
    [['stats', path.join(dir, 'missing')], 2, /no store folder at/],
    [['stats', path.join(ROOT, 'package.json')], 2, /is not a folder/],
    [['stats'], 2, /missing DIR/],
    [['show', dir, 'job-nope'], 1, /ENOJOB/],
    [['show', dir, '../../etc'], 1, /EINVALIDID/],
    [['prune', dir, '--older-than', 'soon'], 2, /bad duration "soon"/],
    [['prune', dir], 2, /bad duration/],
    [['frobnicate', dir], 2, /unknown command/],
  ]
  for (const [args, code, message] of cases) {
    const run = await cli(...args)
    assert.equal(run.code, code, `${args.join(' ')}: ${run.stderr}`)
    assert.match(run.stderr, message)
    assert.equal(run.stderr.trim().split('\n').length, 1, 'one line')
    assert.equal(run.stdout, '')
  }
})

test("--help lists every command, and each command's --help prints its usage", async () => {
  const main = await cli('--help')
  assert.equal(main.code, 0)
  for (const command of ['stats', 'ls', 'show', 'prune', 'remove']) {
    assert.match(main.stdout, new RegExp(`^  ${command} `, 'm'))
    const help = await cli(command, '--help')
    assert.equal(help.code, 0)
    assert.match(help.stdout, new RegExp(`^Usage: fs-job-store ${command}`))
  }
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
