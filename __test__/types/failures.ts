// Typings of failure handling: attempts, fail, retry, delayed jobs, result. Compiled only.

import JobStore = require('fs-job-store')
import { Failure, JobStoreError } from 'fs-job-store'

type Equal<A, B> = (<G>() => G extends A ? 1 : 2) extends <G>() => G extends B ? 1 : 2 ? true : false
declare function same<T extends true>(): void

export async function failures(): Promise<void> {
  const store = new JobStore<{ n: number }>({ dir: '/tmp/jobs', maxAbandoned: Infinity, maxAttempts: 5, backoffMs: 200 })
  await store.create({ n: 1 }, { delayMs: 500 })
  await store.create({ n: 2 }, { runAt: new Date(Date.now() + 1000), maxAttempts: 2 })
  store.create({ n: 3 }, { runAt: Date.now() }, (err, created) => console.log(err?.code, created.id))
  store.create({ n: 4 }, (err, created) => console.log(err, created.id))
  const job = await store.pullJob()
  if (job) {
    same<Equal<typeof job.attempts, number>>()
    const retryAt = await job.fail(new Error('boom'), { retryInMs: 100 })
    same<Equal<typeof retryAt, Date | null>>()
    job.fail('no reason', (err, at) => console.log(err?.code, at?.toISOString()))
  }
  const value = await store.result('job-x', { waitMs: 1000, signal: AbortSignal.timeout(2000) })
  same<Equal<typeof value, Buffer>>()
  store.result('job-x', (err, v) => {
    const failure: Failure | null | undefined = (err as JobStoreError | null)?.failure
    console.log(failure?.error.message, v?.length)
  })
  await store.retry('job-x')
  const stats = await store.stats()
  same<Equal<typeof stats.failed, number>>()
  same<Equal<typeof stats.delayed, number>>()
  const info = await store.get('job-x')
  same<Equal<typeof info.failures, Failure[]>>()
  same<Equal<typeof info.attempts, number>>()
  await store.list({ state: 'failed' })
  await store.list({ state: 'delayed' })
  await store.prune({ olderThanMs: 0, failed: true })
  const codes: JobStoreError['code'][] = ['EFAILED', 'ENOTFAILED', 'ETIMEDOUT', 'ABORT_ERR', 'EABANDONED']
  console.log(codes)

  // @ts-expect-error delayMs is a number of milliseconds
  await store.create({ n: 5 }, { delayMs: '1s' })
  // @ts-expect-error maxAbandoned is a number
  new JobStore({ dir: '/tmp/jobs', maxAbandoned: 'never' })
  // @ts-expect-error retryInMs is a number
  if (job) await job.fail(new Error('x'), { retryInMs: true })
}
