'use strict'
// Errors from the filesystem itself: client A's mount lazily unmounted and then its daemon
// killed under a running worker (ENOTCONN), and the store folder removed through client B under
// A's worker (ENOENT/ESTALE). Each must come out as an error with a code (an `error` event, a
// rejected call), never as a crash of the worker's process.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { dtest, agent, storeName, clients, until, sleep } = require('./helpers')

const bad = (a) => a.events.filter((e) => e.event === 'uncaught' || e.event === 'unhandled')

/** Sends each call to `a` and returns `op: code` for each answer (`ok` when it succeeded). */
async function codes(a, calls) {
  const out = {}
  for (const [op, args] of calls) {
    const r = await a.send(op, args, 30_000)
    out[op] = r.ok ? 'ok' : r.code
  }
  return out
}

dtest('client A unmounted (lazily) and then its daemon killed under a running worker: error events and rejected calls with codes, the process lives on', async (t) => {
  t.after(() => clients.a.remount())
  const name = storeName('enotconn')
  const worker = await agent(t, 'a', name)
  const holder = await agent(t, 'a', name)
  const b = await agent(t, 'b', name)
  const heldId = await b.call('create', { request: 'held' })
  const held = await holder.call('pull')
  assert.equal(held.id, heldId)
  await worker.call('process', { concurrency: 1 })
  let feeding = true
  const feed = (async () => {
    while (feeding) {
      await b.send('create', { request: 'more' })
      await sleep(100)
    }
  })()
  t.after(() => (feeding = false))
  const done = () => worker.events.filter((e) => e.event === 'completed').length
  await until(() => done() >= 3, 20_000, 'three jobs done on A')

  const umount = spawnSync('umount', ['-l', clients.a.mount])
  assert.equal(umount.status, 0, String(umount.stderr))
  const before = done()
  await sleep(2000)
  t.diagnostic(`after a lazy unmount of A: ${done() - before} more jobs done by A's worker in 2 s (it works through its open descriptors); errors: ${JSON.stringify(worker.events.filter((e) => e.event === 'error').map((e) => e.code))}`)

  clients.a.kill()
  const killedAt = Date.now()
  await sleep(3000)
  const afterKill = done()
  await sleep(1000)
  const errors = worker.events.filter((e) => e.event === 'error' && e.at >= killedAt)
  t.diagnostic(`after A's daemon was killed: error events ${JSON.stringify(errors.slice(0, 3).map((e) => ({ code: e.code, message: e.message })))}… (${errors.length} in 4 s); jobs done since: ${done() - afterKill}`)
  const calls = await codes(worker, [
    ['create', { request: 'x' }],
    ['pull', {}],
    ['stats', {}],
    ['get', { id: heldId }],
    ['check', {}],
  ])
  const holderCalls = await codes(holder, [
    ['fulfill', { id: heldId, value: 'A' }],
    ['progress', { id: heldId, value: 'A' }],
    ['release', { id: heldId }],
  ])
  t.diagnostic(`calls on A after the kill: worker's store ${JSON.stringify(calls)}; the holder of a job ${JSON.stringify(holderCalls)}; holder events ${JSON.stringify(holder.events.filter((e) => e.event !== 'ready'))}`)

  assert.equal(await worker.call('ping'), worker.pid, 'the worker process lives on')
  assert.equal(await holder.call('ping'), holder.pid, 'the holder process lives on')
  assert.deepEqual(bad(worker), [], 'no uncaught exception or unhandled rejection')
  assert.deepEqual(bad(holder), [])
  assert.ok(errors.length > 0, 'the worker emitted error events')
  for (const e of errors) assert.match(String(e.code), /^E[A-Z]+$/, `an error event with a code: ${JSON.stringify(e)}`)
  for (const [op, code] of Object.entries(calls)) assert.match(String(code), /^E[A-Z]+$/, `${op} rejected with a code`)
  assert.match(String(holderCalls.fulfill), /^E[A-Z]+$/, 'the holder\'s fulfill is rejected with a code')
  feeding = false
  await feed
  assert.ok((await b.call('stats')).pending >= 0, 'client B works on')
})

dtest('the store folder removed through client B under a worker on client A: no crash, and what the calls on A say', async (t) => {
  const name = storeName('removed')
  const worker = await agent(t, 'a', name)
  const b = await agent(t, 'b', name)
  await b.call('create', { request: 1 })
  await worker.call('process', { concurrency: 1 })
  await worker.next((e) => e.event === 'completed', 20_000, 'a job done on A')
  const removedAt = Date.now()
  fs.rmSync(path.join(clients.b.mount, name), { recursive: true, force: true })
  await sleep(3000)
  const errors = worker.events.filter((e) => e.event === 'error' && e.at >= removedAt)
  const calls = await codes(worker, [
    ['create', { request: 'x' }],
    ['pull', {}],
    ['stats', {}],
  ])
  t.diagnostic(`after the folder was removed through B: A's error events ${JSON.stringify(errors.slice(0, 3).map((e) => ({ code: e.code, message: e.message })))} (${errors.length}); calls ${JSON.stringify(calls)}`)
  assert.equal(await worker.call('ping'), worker.pid, 'the worker process lives on')
  assert.deepEqual(bad(worker), [])
  for (const e of errors) assert.match(String(e.code), /^E[A-Z]+$/, `an error event with a code: ${JSON.stringify(e)}`)
  for (const [op, code] of Object.entries(calls)) if (code !== 'ok') assert.match(String(code), /^E[A-Z]+$/, `${op} rejected with a code`)
})
