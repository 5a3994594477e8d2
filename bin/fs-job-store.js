#!/usr/bin/env node
'use strict'
// The fs-job-store command: look at a store folder and tidy it up.

const fs = require('node:fs')
const { parseArgs } = require('node:util')
const JobStore = require('..')

const USAGE = {
  main: `Usage: fs-job-store <command> DIR [options]

Commands:
  stats DIR                          counts of pending, claimed, fulfilled, waiting, failed, delayed jobs
  ls DIR [--pending|--fulfilled|--waiting|--failed|--delayed]
                                     job ids, oldest first
  show DIR ID                        one job: state, attempts, failures, request, targets, value
  retry DIR ID | --all-failed        make failed jobs pending again
  prune DIR --older-than DURATION [--failed]
                                     delete old fulfilled jobs with no waiting targets (e.g. 7d, 12h)
  remove DIR ID [--force]            delete one job (--force: even a pending one or one with targets)
  check DIR [--repair]               list problems in the folder; --repair fixes markers and leftovers

Every command takes --json for machine-readable output and --help for its own usage.`,
  stats: 'Usage: fs-job-store stats DIR [--json]\n\nCounts of pending, claimed (held by a worker now), fulfilled, waiting, failed and delayed jobs,\nand the age of the oldest pending job.',
  ls: 'Usage: fs-job-store ls DIR [--pending|--fulfilled|--waiting|--failed|--delayed] [--json]\n\nJob ids, oldest first; all jobs unless one filter is given.',
  show: 'Usage: fs-job-store show DIR ID [--json]\n\nOne job: state, version, attempts, request, waiting targets, times, its failures, and its value\nwhen fulfilled.',
  retry: 'Usage: fs-job-store retry DIR (ID | --all-failed) [--json]\n\nMakes a failed job (or every failed job) pending again now, its attempts counted from zero.\nIts recorded failures are kept.',
  prune: 'Usage: fs-job-store prune DIR --older-than DURATION [--failed] [--json]\n\nDeletes fulfilled jobs with no waiting targets that were fulfilled more than DURATION ago;\nwith --failed, also failed jobs set aside more than DURATION ago.\nDURATION is a number with a unit: ms, s, m, h, d or w (e.g. 7d, 36h, 90m).',
  check:
    'Usage: fs-job-store check DIR [--repair] [--json]\n\nLists every problem found in the store folder: damaged or unreadable state.json files, job\nfolders that are links, markers pointing nowhere (with their age) or missing, leftover temporary\nfiles. Only reads, unless --repair: that fixes markers and the store\'s own leftovers (markers\npointing nowhere only once older than 15 minutes, as a create in flight may own one); it never\ndeletes a job\'s request or value. Exits 1 when problems remain.',
  remove: 'Usage: fs-job-store remove DIR ID [--force] [--json]\n\nDeletes one fulfilled job with no waiting targets. --force deletes it even if it is pending or\nhas targets waiting. A job held by a worker or notifier is never deleted.',
}

class UsageError extends Error {}

/** The flags each command takes; anything else is refused (exit 2), as are extra arguments. */
const COMMANDS = {
  stats: { args: ['DIR'], options: {} },
  ls: {
    args: ['DIR'],
    options: Object.fromEntries(['pending', 'fulfilled', 'waiting', 'failed', 'delayed'].map((f) => [f, { type: 'boolean' }])),
  },
  retry: { args: ['DIR', 'ID'], options: { 'all-failed': { type: 'boolean' } } },
  show: { args: ['DIR', 'ID'], options: {} },
  prune: { args: ['DIR'], options: { 'older-than': { type: 'string' }, failed: { type: 'boolean' } } },
  remove: { args: ['DIR', 'ID'], options: { force: { type: 'boolean' } } },
  check: { args: ['DIR'], options: { repair: { type: 'boolean' } } },
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
      `oldest pending job: ${age(stats.oldestPendingAgeMs)} old`,
    ].join('\n')
  },
  async ls({ positional, values, json }) {
    const filters = ['pending', 'fulfilled', 'waiting', 'failed', 'delayed'].filter((f) => values[f])
    if (filters.length > 1) throw new UsageError('give at most one of --pending, --fulfilled, --waiting, --failed, --delayed')
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
