#!/usr/bin/env node
'use strict'
// The fs-job-store command: look at a store folder, tidy it up, and run workers on it.

const fs = require('node:fs')
const path = require('node:path')
const { pathToFileURL } = require('node:url')
const { parseArgs } = require('node:util')
const JobStore = require('..')

const USAGE = {
  main: `Usage: fs-job-store <command> DIR [options]

Commands:
  stats DIR                          counts of pending, claimed, fulfilled, waiting, failed, delayed,
                                     cancelled jobs
  ls DIR [--pending|--fulfilled|--waiting|--failed|--delayed|--cancelled]
                                     job ids in pull order (higher priority, then oldest)
  show DIR ID                        one job: state, attempts, progress, failures, request, targets, value
  work DIR MODULE [--concurrency N] [--timeout DURATION] [--shutdown-timeout DURATION]
                                     run the function MODULE exports on every job, until SIGTERM/SIGINT
  cancel DIR ID [--reason TEXT]      cancel a job, even one a worker is running
  schedules DIR                      the saved schedules, each with its next and last slot
  retry DIR ID | --all-failed        make failed jobs pending again
  prune DIR --older-than DURATION [--failed]
                                     delete old fulfilled jobs with no waiting targets (e.g. 7d, 12h)
  remove DIR ID [--force]            delete one job (--force: even a pending one or one with targets)
  check DIR [--repair]               list problems in the folder; --repair fixes markers and leftovers
  doctor DIR                         whether the folder's filesystem can hold a store safely, and how
  dashboard DIR [--port N] [--host H] [--read-only] [--token T]
                                     serve a live page of the store: counts, chart, jobs, actions
  top DIR [--interval DURATION]      counts and rates in the terminal, refreshed

Every command takes --json for machine-readable output and --help for its own usage.`,
  stats: 'Usage: fs-job-store stats DIR [--json]\n\nCounts of pending, claimed (held by a worker now), fulfilled, waiting, failed, delayed and\ncancelled jobs, and the age of the oldest pending job.',
  ls: 'Usage: fs-job-store ls DIR [--pending|--fulfilled|--waiting|--failed|--delayed|--cancelled] [--json]\n\nJob ids in pull order: higher priority first, then oldest; all jobs unless one filter is given.',
  show: 'Usage: fs-job-store show DIR ID [--json]\n\nOne job: state, version, attempts, progress, priority, unique key, the schedule that made it,\nrequest, waiting targets, times, its failures, and its value when fulfilled.',
  work:
    'Usage: fs-job-store work DIR MODULE [--concurrency N] [--timeout DURATION] [--shutdown-timeout DURATION]\n\nRuns store.process with the function MODULE exports (module.exports = async (job, { signal }) => value,\nor export default): what it returns is the job\'s value, what it throws fails the job (retried as the\nstore is configured). --concurrency: jobs at once (default 1). --timeout: per job (e.g. 30s); the\nsignal aborts and the job fails. On SIGTERM or SIGINT it stops pulling, waits up to\n--shutdown-timeout (default 30s) for the jobs in progress, gives back the rest and exits 0; a\nsecond signal exits at once. Logs one line on stderr per failed or cancelled job and per error.',
  schedules:
    'Usage: fs-job-store schedules DIR [--json]\n\nThe schedules saved in the store (store.schedule): name, rule, the next slot and the latest\nslot a job was made for. Processes running a worker (fs-job-store work) fire them.',
  cancel:
    'Usage: fs-job-store cancel DIR ID [--reason TEXT] [--json]\n\nCancels a pending, delayed or failed job, or one a worker is running (in any process: its signal\naborts). A cancelled job is never pulled again. A fulfilled job cannot be cancelled.',
  retry: 'Usage: fs-job-store retry DIR (ID | --all-failed) [--json]\n\nMakes a failed job (or every failed job) pending again now, its attempts counted from zero.\nIts recorded failures are kept.',
  prune: 'Usage: fs-job-store prune DIR --older-than DURATION [--failed] [--json]\n\nDeletes fulfilled jobs with no waiting targets that were fulfilled more than DURATION ago;\nwith --failed, also failed and cancelled jobs that ended more than DURATION ago.\nDURATION is a number with a unit: ms, s, m, h, d or w (e.g. 7d, 36h, 90m).',
  check:
    'Usage: fs-job-store check DIR [--repair] [--json]\n\nLists every problem found in the store folder: damaged or unreadable state.json files, job\nfolders that are links, markers pointing nowhere (with their age) or missing, leftover temporary\nfiles, unique keys held by no job. Only reads, unless --repair: that fixes markers and the store\'s own leftovers (markers\npointing nowhere only once older than 15 minutes, as a create in flight may own one); it never\ndeletes a job\'s request or value. Exits 1 when problems remain.',
  doctor:
    'Usage: fs-job-store doctor DIR [--json]\n\nWhether DIR (a store, or a folder meant for one) can hold a store safely: the filesystem and its\nmount options, probes of what the store relies on (locks between two processes, exclusive\ncreates, renames, folder fsyncs, file events, the file server\'s clock), a verdict (safe, safe\nwith settings, unsafe) and the settings to use. The probes run in a temporary folder inside DIR\n(inside its tmp/ when DIR is a store), removed afterwards. Exits 1 when unsafe.',
  dashboard:
    'Usage: fs-job-store dashboard DIR [--port N] [--host H] [--read-only] [--token T]\n\nServes a page showing the store live (counts by state, jobs per minute over the last hour, the\njobs of each state with their requests, values and errors, the schedules) with actions: retry,\ncancel, remove, run a delayed job now, each confirmed first. Prints its address and runs until\nSIGINT/SIGTERM. --port: default 4400 (0: any free port). --host: default 127.0.0.1; on any\nother address a token is required (--token, or one generated and printed in the address).\n--read-only: the store is opened read-only and the page offers no actions.',
  top: 'Usage: fs-job-store top DIR [--interval DURATION]\n\nThe counts by state and the jobs created, fulfilled and failed over the last 1 and 5 minutes,\nredrawn every --interval (default 1s) until Ctrl-C. Opens the store read-only.',
  remove: 'Usage: fs-job-store remove DIR ID [--force] [--json]\n\nDeletes one fulfilled job with no waiting targets. --force deletes it even if it is pending or\nhas targets waiting. A job held by a worker or notifier is never deleted.',
}

class UsageError extends Error {}

/** The states `ls` filters on. */
const LISTED = ['pending', 'fulfilled', 'waiting', 'failed', 'delayed', 'cancelled']

/** The flags each command takes; anything else is refused (exit 2), as are extra arguments. */
const COMMANDS = {
  stats: { args: ['DIR'], options: {} },
  ls: {
    args: ['DIR'],
    options: Object.fromEntries(LISTED.map((f) => [f, { type: 'boolean' }])),
  },
  work: { args: ['DIR', 'MODULE'], options: { concurrency: { type: 'string' }, timeout: { type: 'string' }, 'shutdown-timeout': { type: 'string' } } },
  cancel: { args: ['DIR', 'ID'], options: { reason: { type: 'string' } } },
  schedules: { args: ['DIR'], options: {} },
  retry: { args: ['DIR', 'ID'], options: { 'all-failed': { type: 'boolean' } } },
  show: { args: ['DIR', 'ID'], options: {} },
  prune: { args: ['DIR'], options: { 'older-than': { type: 'string' }, failed: { type: 'boolean' } } },
  remove: { args: ['DIR', 'ID'], options: { force: { type: 'boolean' } } },
  check: { args: ['DIR'], options: { repair: { type: 'boolean' } } },
  doctor: { args: ['DIR'], options: {} },
  dashboard: { args: ['DIR'], options: { port: { type: 'string' }, host: { type: 'string' }, 'read-only': { type: 'boolean' }, token: { type: 'string' } } },
  top: { args: ['DIR'], options: { interval: { type: 'string' } } },
}
const COMMON = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }

function parse(argv) {
  const [command, ...rest] = argv
  const spec = COMMANDS[command]
  if (!spec) return { command }
  let parsed
  try {
    parsed = parseArgs({ args: rest, options: { ...COMMON, ...spec.options }, allowPositionals: true, strict: true })
  } catch (err) {
    // parseArgs names the flag; say where to look for the right ones.
    throw new UsageError(`${err.message.split('\n')[0].replace(/\. To specify a positional.*$/, '')}; see fs-job-store ${command} --help`)
  }
  const { values, positionals } = parsed
  if (!values.help && positionals.length > spec.args.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[spec.args.length])}: ${command} takes ${spec.args.join(' ')}; see fs-job-store ${command} --help`)
  }
  return { command, values, positional: positionals }
}

/** The function a `work` MODULE exports: `module.exports = fn` or `export default fn`. */
async function loadHandler(module) {
  const file = path.resolve(module)
  if (!fs.existsSync(file)) throw new UsageError(`no module at ${file}`)
  let loaded
  try {
    try {
      loaded = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file)
    } catch (err) {
      if (err.code !== 'ERR_REQUIRE_ESM' && err.code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err
      loaded = await import(pathToFileURL(file).href)
    }
  } catch (err) {
    // Where the module failed, not only why: a syntax error's message names no file.
    const where = String(err.stack || '').split('\n').find((line) => line.includes(file)) || file
    throw new Error(`could not load ${module}: ${err.message} (${where.trim()})`)
  }
  for (const candidate of [loaded, loaded && loaded.default, loaded && loaded.default && loaded.default.default]) {
    if (typeof candidate === 'function') return candidate
  }
  const named = loaded && typeof loaded === 'object' ? Object.keys(loaded).filter((k) => typeof loaded[k] === 'function') : []
  throw new UsageError(
    `${module} has no default export to run: write module.exports = async (job, { signal }) => value, or export default${named.length ? ` (it exports ${named.join(', ')} by name)` : ''}`,
  )
}

const UNITS = { ms: 1, s: 1000, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }

function parseDuration(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(String(text || '').trim())
  if (!match) throw new UsageError(`bad duration ${JSON.stringify(text ?? '')}: use a number and a unit, e.g. 7d, 12h, 30m, 45s`)
  return Number(match[1]) * UNITS[match[2]]
}

/**
 * Opens the store at `dir`. It must already be a store: the command never turns an ordinary
 * folder into one. Read-only unless `write`, so looking changes nothing at all.
 */
function openStore(dir, { write = false } = {}) {
  if (!dir) throw new UsageError('missing DIR: name the store folder')
  let stat
  try {
    stat = fs.statSync(dir)
  } catch {
    throw new UsageError(`no store folder at ${dir}`)
  }
  if (!stat.isDirectory()) throw new UsageError(`${dir} is not a folder`)
  const look = new JobStore({ dir, readOnly: true })
  if (!write) return look
  look.close()
  return new JobStore({ dir })
}

function age(ms) {
  if (ms === null || ms === undefined) return '-'
  for (const [unit, size] of [['d', 86400e3], ['h', 3600e3], ['m', 60e3], ['s', 1e3]]) {
    if (ms >= size) return `${(ms / size).toFixed(1)}${unit}`
  }
  return `${Math.round(ms)}ms`
}

const commands = {
  async stats({ positional, json }) {
    const stats = await openStore(positional[0]).stats()
    if (json) return stats
    return [
      `pending    ${stats.pending}`,
      `claimed    ${stats.claimed}`,
      `fulfilled  ${stats.fulfilled}`,
      `waiting    ${stats.waiting}`,
      `failed     ${stats.failed}`,
      `delayed    ${stats.delayed}`,
      `cancelled  ${stats.cancelled}`,
      stats.oldestPendingAgeMs === null ? 'oldest pending job: none' : `oldest pending job: ${age(stats.oldestPendingAgeMs)} old`,
    ].join('\n')
  },
  async ls({ positional, values, json }) {
    const filters = LISTED.filter((f) => values[f])
    if (filters.length > 1) throw new UsageError(`give at most one of ${LISTED.map((f) => `--${f}`).join(', ')}`)
    const ids = await openStore(positional[0]).list({ state: filters[0] || 'all' })
    return json ? ids : ids.join('\n')
  },
  async show({ positional, json }) {
    if (!positional[1]) throw new UsageError('missing ID: name the job to show')
    const store = openStore(positional[0])
    const job = await store.get(positional[1])
    const value = await store.value(job.id)
    if (json) return { ...job, value: value === undefined ? null : value.toString('base64') }
    const lines = [
      `id         ${job.id}`,
      `state      ${job.state}`,
      `version    ${job.version}`,
      `attempts   ${job.attempts}`,
      `created    ${job.createdAt ? job.createdAt.toISOString() : 'unknown (made by fs-job-store 1.2.0)'}`,
    ]
    if (job.state === 'fulfilled') lines.push(`fulfilled  ${job.fulfilledAt ? job.fulfilledAt.toISOString() : 'unknown (fulfilled by fs-job-store 1.2.0)'}`)
    if (job.state === 'failed') lines.push(`failed     ${job.failedAt ? job.failedAt.toISOString() : 'unknown'}`)
    if (job.state === 'delayed') lines.push(`runs at    ${job.runAt.toISOString()}`)
    if (job.state === 'cancelled') {
      lines.push(`cancelled  ${job.cancelledAt ? job.cancelledAt.toISOString() : 'unknown'}${job.cancelReason ? ` (${job.cancelReason})` : ''}`)
    }
    if (job.progress !== null) lines.push(`progress   ${JSON.stringify(job.progress)}`)
    if (job.priority !== 0) lines.push(`priority   ${job.priority}`)
    if (job.key !== null) lines.push(`key        ${job.key}`)
    if (job.schedule !== null) lines.push(`schedule   ${job.schedule.name} (slot ${job.schedule.slot.toISOString()})`)
    lines.push(`request    ${JSON.stringify(job.request)}`, `waiting    ${JSON.stringify(job.waiting)}`)
    for (const [i, { at, error }] of job.failures.entries()) {
      lines.push(`${i === 0 ? 'failures ' : '         '}  ${at.toISOString()}  ${error.code ? `${error.code}: ` : ''}${error.message}`)
    }
    if (value !== undefined) {
      const text = value.toString('utf8')
      // oxlint-disable-next-line no-control-regex -- control characters are what it looks for
      const printable = Buffer.from(text, 'utf8').equals(value) && !/[\0-\x08\x0e-\x1f]/.test(text)
      lines.push(`value      ${printable ? text : `<${value.length} bytes> ${value.toString('base64')} (base64)`}`)
    }
    return lines.join('\n')
  },
  async prune({ positional, values, json }) {
    if (values['older-than'] === undefined) throw new UsageError('bad duration: --older-than is missing; say how old a job must be to go, e.g. --older-than 7d')
    const olderThanMs = parseDuration(values['older-than'])
    const removed = await openStore(positional[0], { write: true }).prune({ olderThanMs, failed: Boolean(values.failed) })
    return json ? { removed } : `removed ${removed} job(s)`
  },
  async check({ positional, values, json }) {
    const repair = Boolean(values.repair)
    const problems = await openStore(positional[0], { write: repair }).check({ repair })
    if (problems.some((p) => !p.repaired)) process.exitCode = 1
    if (json) return problems
    if (problems.length === 0) return 'no problems found'
    return problems.map((p) => `${p.repaired ? 'repaired' : 'problem '}  ${p.kind}: ${p.message}`).join('\n')
  },
  async retry({ positional, values, json }) {
    const all = Boolean(values['all-failed'])
    if (all === Boolean(positional[1])) throw new UsageError('name one job ID to retry, or give --all-failed')
    const store = openStore(positional[0], { write: true })
    const ids = all ? await store.list({ state: 'failed' }) : [positional[1]]
    for (const id of ids) await store.retry(id)
    return json ? { retried: ids } : `retried ${ids.length} job(s)${ids.length ? `: ${ids.join(' ')}` : ''}`
  },
  async schedules({ positional, json }) {
    const all = await openStore(positional[0]).schedules()
    if (json) return all
    if (all.length === 0) return 'no schedules'
    return all
      .map((s) => {
        const rule = s.cron ? `cron '${s.cron}'${s.tz ? ` in ${s.tz}` : ' (UTC)'}` : `every ${s.everyMs} ms`
        return `${s.name}  ${rule}  next ${s.next ? s.next.toISOString() : '-'}  last ${s.lastSlot.toISOString()}${s.priority ? `  priority ${s.priority}` : ''}`
      })
      .join('\n')
  },
  async cancel({ positional, values, json }) {
    if (!positional[1]) throw new UsageError('missing ID: name the job to cancel')
    await openStore(positional[0], { write: true }).cancel(positional[1], { reason: values.reason })
    return json ? { cancelled: positional[1] } : `cancelled ${positional[1]}`
  },
  async work({ positional, values }) {
    const [dir, module] = positional
    if (!dir) throw new UsageError('missing DIR: name the store folder')
    if (!module) throw new UsageError('missing MODULE: name the file that exports the function to run on each job')
    const concurrency = values.concurrency === undefined ? 1 : Number(values.concurrency)
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new UsageError(`bad --concurrency ${JSON.stringify(values.concurrency)}: use a whole number, 1 or more`)
    const timeoutMs = values.timeout === undefined ? undefined : parseDuration(values.timeout)
    if (timeoutMs === 0) throw new UsageError('bad --timeout 0: give a duration longer than 0, e.g. 30s')
    const shutdownMs = parseDuration(values['shutdown-timeout'] ?? '30s')
    const handler = await loadHandler(module)
    const store = new JobStore({ dir })
    const worker = store.process(handler, { concurrency, timeoutMs })
    const log = (line) => console.error(`fs-job-store work: ${line}`)
    worker.on('failed', (job, err, retryAt) => {
      const why = err instanceof Error ? `${err.code ? `${err.code}: ` : ''}${err.message}` : String(err)
      log(`job ${job.id} failed (attempt ${job.attempts}): ${why.split('\n')[0]}; ${retryAt ? `retried at ${retryAt.toISOString()}` : 'set aside as failed'}`)
    })
    worker.on('cancelled', (job) => log(`job ${job.id} was cancelled while it ran`))
    worker.on('error', (err) => log(`${err.code ? `${err.code}: ` : ''}${err.message}`))
    // A waiting pull alone must not be what keeps the process running.
    const alive = setInterval(() => {}, 2 ** 30)
    let stopping = false
    const stop = (signal) => {
      if (stopping) {
        log(`${signal} again: exiting now; the jobs in progress will be pulled again`)
        process.exit(130)
      }
      stopping = true
      log(`${signal}: stopped pulling; waiting up to ${shutdownMs / 1000}s for ${worker.running} job(s) in progress (send ${signal} again to exit now)`)
      worker.close({ timeoutMs: shutdownMs }).finally(() => {
        clearInterval(alive)
        store.close()
      })
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    console.log(`fs-job-store work: pulling jobs from ${dir} for ${module} (concurrency ${concurrency})`)
    await new Promise((resolve) => worker.once('close', resolve))
    return ''
  },
  async dashboard({ positional, values }) {
    const port = values.port === undefined ? 4400 : Number(values.port)
    if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new UsageError(`bad --port ${JSON.stringify(values.port)}: use a whole number from 0 to 65535`)
    if (values.token !== undefined && values.token.length < 16) throw new UsageError('bad --token: use at least 16 characters (or leave it out to have one generated)')
    const readOnly = Boolean(values['read-only'])
    const store = openStore(positional[0], { write: !readOnly })
    const { serve } = require('../dashboard/serve')
    const { url, close } = await serve(store, { port, host: values.host, readOnly, token: values.token })
    console.log(`fs-job-store dashboard: ${positional[0]}${readOnly ? ' (read-only)' : ''} at ${url}`)
    await new Promise((resolve) => {
      const stop = () => close().then(resolve)
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
    await store.close()
    return ''
  },
  async top({ positional, values }) {
    const interval = parseDuration(values.interval ?? '1s')
    if (interval < 100) throw new UsageError('bad --interval: use 100ms or more')
    const store = openStore(positional[0])
    const tty = process.stdout.isTTY
    const draw = async () => {
      const [stats, minutes] = await Promise.all([store.stats(), store.activity()])
      const sum = (n, kind) => minutes.slice(-n).reduce((total, m) => total + m[kind], 0)
      const lines = [
        `fs-job-store top: ${positional[0]}   ${new Date().toISOString().slice(11, 19)}`,
        '',
        ...['pending', 'claimed', 'delayed', 'failed', 'cancelled', 'fulfilled', 'waiting'].map((state) => `  ${state.padEnd(10)} ${String(stats[state]).padStart(10)}`),
        `  oldest pending: ${stats.oldestPendingAgeMs == null ? 'none' : age(stats.oldestPendingAgeMs)}`,
        '',
        '                 last 1 min   last 5 min',
        ...['created', 'fulfilled', 'failed'].map((kind) => `  ${kind.padEnd(10)} ${String(sum(1, kind)).padStart(12)} ${String(sum(5, kind)).padStart(12)}`),
      ]
      process.stdout.write(`${tty ? '\x1b[H\x1b[2J' : ''}${lines.join('\n')}\n`)
    }
    // Listening before the first draw: a Ctrl-C right after it still ends cleanly.
    const stop = new Promise((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    // The next draw is timed from the end of the last, so a slow one never stacks up.
    let timer
    let stopped = false
    const tick = async () => {
      await draw().catch((err) => console.error(`fs-job-store top: ${err.message}`))
      if (!stopped) timer = setTimeout(tick, interval)
    }
    await tick()
    await stop
    stopped = true
    clearTimeout(timer)
    await store.close()
    return ''
  },
  async doctor({ positional, json }) {
    const dir = positional[0]
    if (!dir) throw new UsageError('missing DIR: name the folder to examine')
    let stat
    try {
      stat = fs.statSync(dir)
    } catch {
      throw new UsageError(`no folder at ${dir}: doctor examines an existing folder and never makes one`)
    }
    if (!stat.isDirectory()) throw new UsageError(`${dir} is not a folder`)
    const doctor = require('./doctor')
    const report = await doctor.doctor(dir)
    if (report.verdict === doctor.UNSAFE) process.exitCode = 1
    return json ? report : doctor.format(report)
  },
  async remove({ positional, values, json }) {
    if (!positional[1]) throw new UsageError('missing ID: name the job to remove')
    await openStore(positional[0], { write: true }).remove(positional[1], { force: Boolean(values.force) })
    return json ? { removed: positional[1] } : `removed ${positional[1]}`
  },
}

async function main(argv) {
  const command = argv[0]
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE.main)
    return 0
  }
  if (!COMMANDS[command]) throw new UsageError(`unknown command ${JSON.stringify(command)}; see fs-job-store --help`)
  const { values, positional } = parse(argv)
  if (values.help) {
    console.log(USAGE[command])
    return 0
  }
  const out = await commands[command]({ positional, values, json: Boolean(values.json) })
  if (out !== undefined && out !== '') console.log(typeof out === 'string' ? out : JSON.stringify(out, null, 2))
  return 0
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = process.exitCode || code),
  (err) => {
    const reason = err instanceof UsageError ? err.message : `${err.code ? `${err.code}: ` : ''}${err.message}`
    console.error(`fs-job-store: ${reason.split('\n')[0]}`)
    process.exitCode = err instanceof UsageError ? 2 : 1
  },
)
