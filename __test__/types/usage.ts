// A TypeScript consumer of index.d.ts. It is only compiled (`tsc -p __test__/types`, strict, as
// part of `npm test`), never run: every method in both styles must type-check, and every line
// after a `@ts-expect-error` must fail to (tsc reports a directive that no longer has an error).

import fs = require('node:fs')
import JobStore = require('fs-job-store')
import { Job, Notification, JobStoreError, ErrorCode, JobStoreOptions, ResponseFailure, Created, KeyedCreated, ScheduledSlot } from 'fs-job-store'

/** Compiles only when `A` and `B` are the same type (so `any` does not pass for `string`). */
type Equal<A, B> = (<G>() => G extends A ? 1 : 2) extends <G>() => G extends B ? 1 : 2 ? true : false
declare function same<T extends true>(): void

interface Calc {
  calculate: string
}
interface Email {
  email: string
}

const dir = '/tmp/fs-job-store-types'

// --- Construction -------------------------------------------------------------------------------

const options: JobStoreOptions<Email> = {
  dir,
  durable: false,
  lockCheckInterval: 500,
  lockWait: 2000,
  respond(target, { id, value }, done) {
    same<Equal<typeof target, Email>>()
    same<Equal<typeof id, string>>()
    same<Equal<typeof value, Buffer>>()
    if (target.email.endsWith('@example.com')) done()
    else done(new Error('no route to ' + target.email))
  },
}
const store = new JobStore<Calc, Email>(options)
same<Equal<typeof store, JobStore<Calc, Email>>>()

new JobStore({ dir: new URL('file:///tmp/fs-job-store-types') })
new JobStore({ dir, respond: null, fs })
new JobStore({ dir, respond: (_target, _delivery, done) => done(null) })
// The class is also the `JobStore` and `default` export, as in index.js.
new JobStore.JobStore<Calc>({ dir })
new JobStore.default({ dir })

store.onresponsefailure = ({ id, errors }) => {
  same<Equal<typeof id, string>>()
  for (const { target, error } of errors) console.log(id, target.email, error.message)
}
store.onresponsefailure = null
const failure: ResponseFailure<Email> = { id: 'job-x', errors: [{ target: { email: 'a@b' }, error: new Error('x') }] }
function reportFailure(s: JobStore<Calc, Email>): void {
  same<Equal<typeof s.onresponsefailure, ((failure: ResponseFailure<Email>) => void) | null>>()
  if (s.onresponsefailure) s.onresponsefailure(failure)
}

// --- Every method with Promises -----------------------------------------------------------------

async function withPromises(): Promise<void> {
  const created = await store.create({ calculate: '3+3' })
  same<Equal<typeof created, { id: string }>>()
  const { id } = created
  await store.update(id, 0, { calculate: '3+4' })
  await store.queue(id, { email: 'ada@example.com' })
  await store.unqueue(id, { email: 'ada@example.com' })
  await store.unqueueAll(id, [{ email: 'a@example.com' }, { email: 'b@example.com' }])
  const targets: readonly Email[] = [{ email: 'c@example.com' }]
  await store.unqueueAll(id, targets)

  const job = await store.pullJob()
  same<Equal<typeof job, Job<Calc> | undefined>>()
  if (job) {
    same<Equal<typeof job.request, Calc>>()
    same<Equal<typeof job.version, number>>()
    job.oncompromised = (err) => {
      same<Equal<typeof err, JobStoreError>>()
      console.error(err.code, err.id)
    }
    job.oncompromised = null
    const sum = job.request.calculate.split('+').reduce((total, term) => total + Number(term), 0)
    await job.fulfill(String(sum))
    await job.fulfill(Buffer.from('6'))
    await job.release()
  }
  const work = await store.pullWork()
  same<Equal<typeof work, Job<Calc> | undefined>>()

  await store.fulfill(id, '6')
  await store.fulfill(id, Buffer.from('6'))
  await store.fulfill(id, new Uint8Array([54]))
  await store.fulfill(id, new Float64Array([6]))
  await store.fulfill(id, new DataView(new ArrayBuffer(1)))
  await store.flush(id)

  const note = await store.pullNotification()
  same<Equal<typeof note, Notification<Email> | undefined>>()
  if (note) {
    same<Equal<typeof note.value, Buffer>>()
    same<Equal<typeof note.waiting, Email[]>>()
    note.oncompromised = (err) => console.error(err.message)
    const delivered = note.waiting.filter((target) => target.email.includes('@'))
    await note.done(null, delivered)
    await note.done(new Error('smtp down'), [])
    await note.done(null)
    await note.done()
  }
  await store.close()

  try {
    await store.update(id, 7, { calculate: '1' })
  } catch (e) {
    const err = e as JobStoreError
    if (err.code === 'EVERSIONMISMATCH' || err.code === 'ENOSPC') console.log(err.message, err.path, err.errno)
  }
}

// --- Every method with callbacks ----------------------------------------------------------------

function withCallbacks(): void {
  const results: void[] = []
  results.push(
    store.create({ calculate: '3+3' }, (err, created) => {
      same<Equal<typeof err, JobStoreError | null>>()
      if (err) return console.error(err.code)
      const id = created.id
      store.update(id, 0, { calculate: '4+4' }, (err) => console.log(err?.code))
      store.queue(id, { email: 'ada@example.com' }, (err) => console.log(err))
      store.unqueue(id, { email: 'ada@example.com' }, (err) => console.log(err))
      store.unqueueAll(id, [{ email: 'ada@example.com' }], (err) => console.log(err))
      store.fulfill(id, '8', (err) => console.log(err))
      store.flush(id, (err) => console.log(err))
    }),
  )

  store.pullJob((err, job) => {
    same<Equal<typeof job, Job<Calc> | undefined>>()
    if (err || job === undefined) return
    job.oncompromised = function (lost) {
      console.error('stop working on', job.id, lost.message)
    }
    job.fulfill('6', (fulfillErr) => {
      job.release((releaseErr) => console.log(fulfillErr, releaseErr))
    })
  })
  store.pullWork((err, job) => {
    if (!err && job) job.release(() => undefined)
  })

  store.pullNotification((err, note) => {
    same<Equal<typeof note, Notification<Email> | undefined>>()
    if (err || note === undefined) return
    note.done(null, note.waiting, (doneErr) => console.log(doneErr))
  })

  store.close((err) => console.log(err))

  // Callbacks typed the way Node's own typings type them are accepted.
  const nodeStyle = (err: NodeJS.ErrnoException | null): void => console.log(err?.code)
  const plain = (err: Error | null): void => console.log(err?.message)
  store.flush('job-x', nodeStyle)
  store.flush('job-x', plain)
  console.log(results)
}

// --- Without type arguments: requests and targets are `unknown` until narrowed ------------------

async function untyped(): Promise<void> {
  const loose = new JobStore({ dir })
  await loose.create({ anything: [1, 'two'] })
  await loose.queue('job-x', 'any JSON')
  const job = await loose.pullJob()
  if (job) same<Equal<typeof job.request, unknown>>()
  const note = await loose.pullNotification()
  if (note) same<Equal<typeof note.waiting, unknown[]>>()
}

// --- Misuse that must not compile ---------------------------------------------------------------

async function misuse(job: Job<Calc>, note: Notification<Email>, err: JobStoreError): Promise<void> {
  // @ts-expect-error dir is required
  new JobStore({})
  // @ts-expect-error dir is a path or a file URL
  new JobStore({ dir: 42 })
  // @ts-expect-error durable is a boolean
  new JobStore({ dir, durable: 'yes' })
  // @ts-expect-error lockWait is milliseconds
  new JobStore({ dir, lockWait: '10s' })
  // @ts-expect-error respond gets the store's target type
  new JobStore<Calc, Email>({ dir, respond: (target: number, _delivery, done) => done() })
  // @ts-expect-error an unknown option
  new JobStore({ dir, durible: true })

  // @ts-expect-error the request has the store's request type
  await store.create({ calculate: 3 })
  // @ts-expect-error the target has the store's target type
  await store.queue('job-x', 'ada@example.com')
  // @ts-expect-error unqueueAll takes an array
  await store.unqueueAll('job-x', { email: 'ada@example.com' })
  // @ts-expect-error the version is a number
  await store.update('job-x', '0', { calculate: '1' })
  // @ts-expect-error ids are strings
  await store.flush(7)
  // @ts-expect-error a value is a string or bytes, not a number
  await store.fulfill('job-x', 42)
  // @ts-expect-error a value is a string or bytes, not a JSON object
  await job.fulfill({ result: 6 })

  // @ts-expect-error the callback form returns nothing to await or chain
  store.create({ calculate: '1' }, () => undefined).then(() => undefined)
  // @ts-expect-error the Promise form gives a Promise, not the job
  store.pullJob().request
  // @ts-expect-error a callback's error is an Error or null, not a string
  store.flush('job-x', (e: string) => console.log(e))

  store.pullJob((_err, pulled) => {
    // @ts-expect-error the job is undefined when there was nothing to pull
    console.log(pulled.request.calculate)
  })
  // @ts-expect-error the request is Calc, which has no `priority`
  console.log(job.request.priority)
  // @ts-expect-error ids are read-only
  job.id = 'job-other'
  // @ts-expect-error oncompromised is a function or null
  job.oncompromised = 'stop'
  // @ts-expect-error done takes the targets that were delivered, of the store's target type
  await note.done(null, ['ada@example.com'])
  // @ts-expect-error the failure listener gets an object
  store.onresponsefailure = (id: string) => console.log(id)

  // @ts-expect-error not one of the codes a store reports
  if (err.code === 'ENOTACODE') return
  const code: ErrorCode = 'ELOCKED'
  // @ts-expect-error error codes are a closed union
  const other: ErrorCode = 'EWHATEVER'

  const loose = new JobStore({ dir })
  const pulled = await loose.pullJob()
  // @ts-expect-error without a type argument the request is unknown and must be narrowed
  if (pulled) console.log(pulled.request.calculate)
  console.log(code, other)
}


// --- Operating a store: waiting pulls, iterators, inspection, retention, check -----------------

async function operating(): Promise<void> {
  const controller = new AbortController()
  const waited = await store.pullJob({ waitMs: 1000, signal: controller.signal })
  same<Equal<typeof waited, Job<Calc> | undefined>>()
  const note = await store.pullNotification({ waitMs: 500 })
  same<Equal<typeof note, Notification<Email> | undefined>>()
  store.pullJob({ waitMs: 10 }, (err, job) => {
    same<Equal<typeof job, Job<Calc> | undefined>>()
    if (!err && job) void job.release()
  })
  store.pullNotification(undefined, (_err, n) => void (n && n.done(null, n.waiting)))
  for await (const job of store.jobs({ signal: controller.signal })) {
    same<Equal<typeof job, Job<Calc>>>()
    await job.release()
  }
  for await (const n of store.notifications()) same<Equal<typeof n.waiting, Email[]>>()

  const stats = await store.stats()
  same<Equal<typeof stats.oldestPendingAgeMs, number | null>>()
  store.stats((err, s) => console.log(err, s.pending + s.claimed + s.fulfilled + s.waiting))
  const info = await store.get('job-x')
  same<Equal<typeof info.request, Calc>>()
  same<Equal<typeof info.waiting, Email[]>>()
  same<Equal<typeof info.state, 'pending' | 'delayed' | 'fulfilled' | 'failed' | 'cancelled'>>()
  same<Equal<typeof info.fulfilledAt, Date | null | undefined>>()
  same<Equal<typeof info.createdAt, Date | null>>()
  store.get('job-x', (_err, i) => console.log(i.createdAt?.toISOString()))
  const value = await store.value('job-x')
  same<Equal<typeof value, Buffer | undefined>>()
  store.value('job-x', (_err, v) => console.log(v?.length))
  const ids: string[] = await store.list({ state: 'pending' })
  store.list((_err, all) => console.log(all.length, ids.length))
  await store.remove('job-x')
  await store.remove('job-x', { force: true })
  store.remove('job-x', { force: true }, (err) => console.log(err?.code))
  const removed: number = await store.prune({ olderThanMs: 7 * 86400e3 })
  store.prune({ olderThanMs: 0 }, (_err, n) => console.log(n + removed))
  const problems = await store.check({ repair: true })
  for (const p of problems) console.log(p.kind, p.id ?? '-', p.path, p.message, p.repaired, p.ageMs ?? '-')
  same<Equal<(typeof problems)[number]['ageMs'], number | null>>()
  const inspector = new JobStore({ dir: '/tmp/jobs', readOnly: true })
  await inspector.close()
  // @ts-expect-error readOnly is a boolean
  new JobStore({ dir: '/tmp/jobs', readOnly: 'yes' })
  store.check((_err, found) => console.log(found.length))
  await store.close()

  // @ts-expect-error waitMs is a number of milliseconds
  await store.pullJob({ waitMs: '1s' })
  // @ts-expect-error prune needs olderThanMs
  await store.prune({})
  // @ts-expect-error state is one of the listed states
  await store.list({ state: 'done' })
  // @ts-expect-error force is a boolean
  await store.remove('job-x', { force: 'yes' })
}

async function runtime(): Promise<void> {
  const worker = store.process(
    async (job, { signal }) => {
      same<Equal<typeof job, Job<Calc>>>()
      same<Equal<typeof signal, AbortSignal>>()
      same<Equal<typeof job.signal, AbortSignal>>()
      await job.progress({ done: 1, of: 3 })
      return { sum: job.request.calculate.length }
    },
    { concurrency: 8, timeoutMs: 30000 },
  )
  same<Equal<typeof worker.running, number>>()
  worker.on('completed', (job, result) => {
    same<Equal<typeof job, Job<Calc>>>()
    same<Equal<typeof result, { sum: number }>>()
  })
  worker.on('failed', (_job, _error, retryAt) => same<Equal<typeof retryAt, Date | null>>())
  worker.on('error', (err) => console.log(err.code))
  worker.on('drained', () => console.log('drained'))
  await worker.close({ timeoutMs: 10000 })
  const deliverer = store.deliver(async (target, { id, value, signal }) => {
    same<Equal<typeof target, Email>>()
    console.log(id, value.length, signal.aborted)
  })
  deliverer.on('failed', (target, _error, { retryAt }) => console.log(target.email, retryAt.getTime()))
  await deliverer.close()
  await store.cancel('job-x', { reason: 'not needed' })
  store.cancel('job-x', (err) => console.log(err?.code === 'ECANCELED'))
  const info = await store.get('job-x')
  same<Equal<typeof info.cancelReason, string | null | undefined>>()
  same<Equal<(typeof store.stats extends () => Promise<infer S> ? S : never)['cancelled'], number>>()
  // @ts-expect-error concurrency is a number
  store.process(async () => undefined, { concurrency: 'many' })
  // @ts-expect-error a handler is a function
  store.process('handler')
  // @ts-expect-error reason is a string
  await store.cancel('job-x', { reason: 42 })
}

export { reportFailure, withPromises, withCallbacks, untyped, misuse, operating, runtime }

async function producing(): Promise<void> {
  const keyed = await store.create({ calculate: '1+1' }, { key: 'account-42', priority: 5 })
  same<Equal<typeof keyed, KeyedCreated>>()
  const plain = await store.create({ calculate: '1+1' }, { priority: -3 })
  same<Equal<typeof plain, Created>>()
  const many = await store.createMany([{ calculate: '1+2' }, { calculate: '2+2' }], { priority: 1 })
  same<Equal<typeof many, Created[]>>()
  // @ts-expect-error createMany takes no key
  await store.createMany([{ calculate: '1+2' }], { key: 'k' })
  await store.schedule('nightly', { cron: '0 3 * * *', tz: 'Europe/Paris' }, { calculate: '0+0' }, { priority: 2 })
  await store.schedule('tick', { everyMs: 60000 }, { calculate: '0+1' })
  // @ts-expect-error a rule is cron or everyMs, not both
  await store.schedule('both', { cron: '* * * * *', everyMs: 1000 }, { calculate: '0+1' })
  for (const s of await store.schedules()) same<Equal<typeof s.request, Calc>>()
  same<Equal<Awaited<ReturnType<typeof store.unschedule>>, boolean>>()
  const job = await store.pullJob()
  if (job) same<Equal<typeof job.schedule, ScheduledSlot | null>>()
}

export { producing }
