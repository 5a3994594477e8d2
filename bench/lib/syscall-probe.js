'use strict'
// Run under `strace -f -c` by the bench's syscalls workload: `n` creates, or `n` pull + fulfil +
// release cycles, relaxed (durable: false), through the system's adapter. `seed` (run without
// strace, before a drain) makes `n` pending jobs for systems the floor cannot seed.
// Usage: node syscall-probe.js SYSTEM ROLE N DIR OURS

const { openSystem } = require('./systems')

const [system, role, n, dir, oursRoot] = process.argv.slice(2)

;(async () => {
  const sys = await openSystem({ system, dir, durable: false, oursRoot })
  if (role === 'seed') {
    sys.seed(Number(n))
  } else {
    for (let i = 0; i < Number(n); i++) {
      if (role === 'create') {
        await sys.create({ i })
      } else {
        const job = await sys.take()
        if (!job) throw new Error(`${system}: no job to take at ${i} of ${n}`)
        await sys.finish(job)
      }
    }
  }
  await sys.close()
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
