'use strict'
// The key test: a frozen machine (its JuiceFS daemon and its worker stopped, as in a paused VM
// or a partition) loses its lock when its session expires; another machine's worker then takes
// the job. When the frozen one resumes, its commits must be refused (ECOMPROMISED), it must be
// told (oncompromised, the job's signal), and nothing it writes may land.

const assert = require('node:assert/strict')
const { dtest, agent, storeName, clients, figure, sleep } = require('./helpers')

async function frozen(t, commitAfterMs) {
  const label = commitAfterMs ? `frozen, commit ${commitAfterMs / 1000} s after resuming: ` : 'frozen, commit at once: '
  t.after(() => clients.a.remount())
  const name = storeName('frozen')
  const a = await agent(t, 'a', name)
  const b = await agent(t, 'b', name)
  const id = await a.call('create', { request: 'work' })
  const held = await a.call('pull')
  assert.equal(held.id, id)
  assert.equal(held.attempts, 1)
  await a.call('progress', { id, value: 'A was here' })
  await sleep(Number(process.env.FJS_FREEZE_AFTER_MS) || 1000)

  // B looks for work: the job is held
  assert.equal(await b.call('pull'), null, 'B cannot take a held job')

  a.stop('SIGSTOP')
  clients.a.freeze()
  const frozeAt = Date.now()
  try {
    const answer = await b.send('pull', { waitMs: 60_000 }, 70_000)
    assert.ok(answer.ok, JSON.stringify(answer))
    assert.equal(answer.result && answer.result.id, id, 'B takes the job once A\'s session expired')
    figure(t, `${label}client A frozen (daemon + worker SIGSTOPped) -> its job pulled on B`, answer.at - frozeAt, 'ms', 'session expiry, --heartbeat 2s')
    figure(t, `${label}attempts B saw on the job it took (A's claim was attempt 1)`, answer.result.attempts, '')
  } finally {
    clients.a.thaw()
    a.stop('SIGCONT')
  }
  const thawed = Date.now()

  // A resumes and commits: at once (before its claim watcher may have looked), or later
  if (commitAfterMs) await sleep(commitAfterMs)
  const fulfil = await a.send('fulfill', { id, value: 'A' })
  const progress = await a.send('progress', { id, value: 'A after thaw' })
  const fail = await a.send('fail', { id, message: 'A failing after thaw' })
  t.diagnostic(`A after thaw: fulfill ${JSON.stringify(fulfil)}; progress ${JSON.stringify(progress)}; fail ${JSON.stringify(fail)}`)
  // told within its lockCheckInterval (1 s) of resuming
  const told = await Promise.all([
    a.next((e) => e.event === 'compromised' && e.id === id, 15_000, 'oncompromised on A'),
    a.next((e) => e.event === 'aborted' && e.id === id, 15_000, 'job.signal aborting on A'),
  ]).catch((e) => e)

  const fulfilB = await b.send('fulfill', { id, value: 'B' })
  await b.call('release', { id })
  t.diagnostic(`B's fulfill: ${JSON.stringify(fulfilB)}`)
  const g = await b.call('get', { id })
  const fromA = await a.send('get', { id })
  t.diagnostic(`job seen from B: ${JSON.stringify({ state: g.state, value: g.value, attempts: g.attempts, progress: g.progress })}; from A: ${JSON.stringify(fromA.result && { state: fromA.result.state, value: fromA.result.value })}`)

  assert.equal(fulfil.ok, false, `A's late fulfill must be refused: ${JSON.stringify(fulfil)}`)
  assert.equal(fulfil.code, 'ECOMPROMISED')
  assert.equal(progress.code, 'ECOMPROMISED', 'A\'s late progress is refused')
  assert.equal(fail.code, 'ECOMPROMISED', 'A\'s late fail is refused')
  assert.ok(!(told instanceof Error), String(told && told.message))
  const [compromised] = told
  assert.equal(compromised.code, 'ECOMPROMISED')
  figure(t, `${label}client A resumed -> its oncompromised called`, compromised.at - thawed, 'ms')
  assert.equal(g.state, 'fulfilled')
  assert.equal(g.value, 'B', 'the job ends with B\'s value')
  assert.notEqual(g.progress, 'A after thaw', 'nothing A wrote after the thaw landed')
  assert.deepEqual(await b.call('check'), [])
}

dtest('a frozen client: its job goes to client B after session expiry; when it resumes and commits at once, its fulfil, progress and fail are refused (ECOMPROMISED) and the job ends with B\'s value', (t) => frozen(t, 0))

dtest('a frozen client that commits 3 s after resuming: refused (ECOMPROMISED), told, the job ends with B\'s value', (t) => frozen(t, 3000))

dtest('a frozen client running store.process: resumed, its handler\'s value is not recorded, its signal aborts (ECOMPROMISED), the job ends with B\'s value', async (t) => {
  t.after(() => clients.a.remount())
  const name = storeName('frozen-process')
  const a = await agent(t, 'a', name)
  const b = await agent(t, 'b', name)
  const id = await b.call('create', { request: 'work' })
  await a.call('process', { concurrency: 1, hold: true })
  await a.next((e) => e.event === 'started' && e.id === id, 10_000, 'the handler running on A')
  await sleep(1000)
  a.stop('SIGSTOP')
  clients.a.freeze()
  const frozeAt = Date.now()
  let answer
  try {
    answer = await b.send('pull', { waitMs: 60_000 }, 70_000)
  } finally {
    clients.a.thaw()
    a.stop('SIGCONT')
  }
  assert.equal(answer.result && answer.result.id, id, `B takes the job: ${JSON.stringify(answer)}`)
  figure(t, 'frozen store.process on A -> its job pulled on B', answer.at - frozeAt, 'ms')
  const go = await a.send('go', { id, value: 'A' }) // the handler returns at once
  const aborted = await a.next((e) => e.event === 'aborted' && e.id === id, 15_000, 'the handler\'s signal aborting on A')
  await sleep(1500)
  await b.call('fulfill', { id, value: 'B' })
  await b.call('release', { id })
  const g = await b.call('get', { id })
  t.diagnostic(`A's worker events: ${JSON.stringify(a.events.filter((e) => !['ready', 'drained'].includes(e.event)).map((e) => [e.event, e.code || e.result || '']))}; go ${JSON.stringify(go.ok)}`)
  assert.equal(aborted.code, 'ECOMPROMISED')
  assert.deepEqual(a.events.filter((e) => e.event === 'completed' && e.id === id), [], 'A\'s value was not recorded')
  assert.deepEqual([g.state, g.value], ['fulfilled', 'B'])
  assert.deepEqual(await b.call('check'), [])
})
