// The same typings seen from an ES module: the default import is the class, as in Node, where
// `import` of a CommonJS module gives its `module.exports`.

import JobStore, { JobStore as Named, type Job } from 'fs-job-store'

interface Calc {
  calculate: string
}

const store = new JobStore<Calc>({ dir: '/tmp/fs-job-store-types' })
const same: Named<Calc> = store
const job: Job<Calc> | undefined = await same.pullJob()
if (job) await job.release()
// @ts-expect-error the request is Calc
await same.create({ calculate: 6 })
