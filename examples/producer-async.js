'use strict'
// producer.js with Promises: creates jobs that ask for a sum, and queues for each someone to be
// told the answer.
//
//   JOB_STORE_DIR=./jobs node producer-async.js [count]     (count defaults to 3)

const JobStore = require('fs-job-store')

async function main() {
  const store = new JobStore({ dir: process.env.JOB_STORE_DIR || 'job-store' })
  const count = Number(process.argv[2] || 3)
  for (let n = 1; n <= count; n++) {
    const request = { calculate: `${n}+${n * 2}` }
    const target = { email: `client${n}@example.com` }
    const { id } = await store.create(request)
    await store.queue(id, target)
    console.log(`created ${id}: ${request.calculate} for ${target.email}`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
