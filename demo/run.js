'use strict'
// npm run demo: a producer, two workers and a notifier, each its own process, on a fresh store;
// a live progress line; then the store's stats and a prune.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const JobStore = require('..')

const JOBS = 200
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fs-job-store-demo-'))
const store = new JobStore({ dir })
let notified = 0

function start(role) {
  const child = spawn(process.execPath, [path.join(__dirname, 'roles.js'), role, dir, String(JOBS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  child.stdout.on('data', (chunk) => (notified += String(chunk).split('\n').filter((l) => l.startsWith('delivered')).length))
  child.done = new Promise((resolve) => child.once('exit', resolve))
  return child
}

function line(stats) {
  const created = stats.pending + stats.fulfilled
  return `created ${String(created).padStart(4)} | claimed ${String(stats.claimed).padStart(2)} | fulfilled ${String(stats.fulfilled).padStart(4)} | notified ${String(notified).padStart(4)}`
}

async function main() {
  console.log(`store: ${dir}`)
  const started = Date.now()
  const children = [start('worker'), start('worker'), start('notifier'), start('producer')]
  const tty = process.stdout.isTTY
  let last = ''
  for (;;) {
    const stats = await store.stats()
    last = line(stats)
    if (tty) process.stdout.write(`\r${last}`)
    if (notified >= JOBS && stats.fulfilled >= JOBS) break
    if (Date.now() - started > 60000) throw new Error(`the demo did not finish in a minute (${last})`)
    await new Promise((r) => setTimeout(r, 100))
  }
  if (tty) process.stdout.write('\n')
  else console.log(last)
  console.log(`all ${JOBS} jobs created, worked, fulfilled and notified in ${Date.now() - started} ms`)
  for (const child of children) child.kill('SIGTERM')
  await Promise.all(children.map((c) => c.done))

  console.log('stats:', await store.stats())
  const removed = await store.prune({ olderThanMs: 0 })
  console.log(`prune({ olderThanMs: 0 }) removed ${removed} fulfilled jobs; stats now:`, await store.stats())
  fs.rmSync(dir, { recursive: true, force: true })
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
