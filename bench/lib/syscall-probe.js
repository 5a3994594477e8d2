'use strict'
// Run under `strace -f -c` by the bench's syscalls workload: `n` creates, or `n` pull + fulfil +
// release cycles, on our store with durable: false. Usage: node syscall-probe.js ROLE N DIR OURS

const [role, n, dir, ours] = process.argv.slice(2)
const JobStore = require(ours)

;(async () => {
  const store = new JobStore({ dir, durable: false })
  for (let i = 0; i < Number(n); i++) {
    if (role === 'create') {
      await store.create({ i })
    } else {
      const job = await store.pullJob()
      await job.fulfill('v')
      await job.release()
    }
  }
  await store.close()
})()
