'use strict'
// Crashes across machines: a worker killed on client A, then the whole of client A (its JuiceFS
// daemon and its workers) killed. Their jobs go to client B's worker; the figures say how soon.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { dtest, agent, storeName, clients, figure, until } = require('./helpers')

dtest('a SIGKILLed worker on client A: its job is taken by a waiting worker on client B', async (t) => {
  const name = storeName('killed-worker')
  const a = await agent(t, 'a', name)
  const b = await agent(t, 'b', name)
  const id = await a.call('create', { request: 'x' })
  const held = await a.call('pull')
  assert.equal(held.id, id)
  const pulled = b.send('pull', { waitMs: 20_000 }, 30_000) // waits: the job is held
  await new Promise((r) => setTimeout(r, 700)) // B has looked at least once and found it held
  const killed = Date.now()
  a.stop('SIGKILL')
  const answer = await pulled
  assert.ok(answer.ok, JSON.stringify(answer))
  assert.equal(answer.result && answer.result.id, id, 'B took the job')
  assert.equal(answer.result.attempts, 2)
  await b.call('fulfill', { id, value: 'B' })
  await b.call('release', { id })
  const g = await b.call('get', { id })
  assert.deepEqual([g.state, g.value], ['fulfilled', 'B'])
  assert.deepEqual(await b.call('check'), [])
  figure(t, 'worker SIGKILLed on A -> its job pulled by a waiting pullJob on B', answer.at - killed, 'ms')
})

dtest('client A killed whole (its JuiceFS daemon and its workers): its jobs come back to client B after its session expires', async (t) => {
  t.after(() => clients.a.remount())
  const name = storeName('killed-client')
  const a1 = await agent(t, 'a', name)
  const a2 = await agent(t, 'a', name)
  const b = await agent(t, 'b', name)
  const ids = [await a1.call('create', { request: 1 }), await a1.call('create', { request: 2 })]
  const held = [await a1.call('pull'), await a2.call('pull')].map((j) => j.id)
  assert.deepEqual(held.sort(), [...ids].sort())
  const lockFile = (id) => path.join(clients.b.mount, name, 'jobs', id, 'work.lock')
  t.diagnostic(`work.lock seen through B while A holds: ${ids.map((id) => fs.readFileSync(lockFile(id)).toString('hex')).join(', ')}`)
  await b.call('process', { concurrency: 2, value: 'B' })
  await new Promise((r) => setTimeout(r, 1000))
  assert.equal(b.events.filter((e) => e.event === 'started').length, 0, 'held jobs are not taken while A lives')
  const killed = Date.now()
  clients.a.kill()
  a1.stop('SIGKILL')
  a2.stop('SIGKILL')
  const first = await b.next((e) => e.event === 'completed', 60_000, 'the first job done on B')
  await until(() => b.events.filter((e) => e.event === 'completed').length === 2, 60_000, 'both jobs done on B')
  const last = b.events.filter((e) => e.event === 'completed')[1]
  t.diagnostic(`work.lock seen through B after B's claims: ${ids.map((id) => fs.readFileSync(lockFile(id)).toString('hex')).join(', ')}`)
  for (const id of ids) {
    const g = await b.call('get', { id })
    assert.deepEqual([g.state, g.value, g.attempts], ['fulfilled', 'B', 2])
  }
  assert.deepEqual(await b.call('check'), [])
  figure(t, 'client A killed (daemon + workers) -> first of its 2 jobs done on B', first.at - killed, 'ms', 'session expiry, --heartbeat 2s')
  figure(t, 'client A killed (daemon + workers) -> both of its jobs done on B', last.at - killed, 'ms')
})
