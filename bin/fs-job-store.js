#!/usr/bin/env node
'use strict'
// The fs-job-store command: look at a store folder and tidy it up.

const fs = require('node:fs')
const JobStore = require('..')

const USAGE = {
  main: `Usage: fs-job-store <command> DIR [options]

Commands:
  stats DIR                          counts of pending, claimed, fulfilled and waiting jobs
  ls DIR [--pending|--fulfilled|--waiting]
                                     job ids, oldest first
  show DIR ID                        one job: state, request, waiting targets, value
  prune DIR --older-than DURATION    delete fulfilled jobs with no waiting targets (e.g. 7d, 12h, 30m)
  remove DIR ID [--force]            delete one job (--force: even a pending one or one with targets)
  check DIR [--repair]               list problems in the folder; --repair fixes markers and leftovers

Every command takes --json for machine-readable output and --help for its own usage.`,
  stats: 'Usage: fs-job-store stats DIR [--json]\n\nCounts of pending, claimed (held by a worker now), fulfilled and waiting jobs, and the age of the oldest pending job.',
  ls: 'Usage: fs-job-store ls DIR [--pending|--fulfilled|--waiting] [--json]\n\nJob ids, oldest first; all jobs unless one filter is given.',
  show: 'Usage: fs-job-store show DIR ID [--json]\n\nOne job: state, version, request, waiting targets, times, and its value when fulfilled.',
  prune: 'Usage: fs-job-store prune DIR --older-than DURATION [--json]\n\nDeletes fulfilled jobs with no waiting targets that were fulfilled more than DURATION ago.\nDURATION is a number with a unit: ms, s, m, h, d or w (e.g. 7d, 36h, 90m).',
  check:
    'Usage: fs-job-store check DIR [--repair] [--json]\n\nLists every problem found in the store folder: damaged state.json files, markers pointing nowhere\nor missing, leftover temporary files. --repair fixes markers and leftovers; it never deletes a\njob\'s request or value. Exits 1 when problems remain.',
  remove: 'Usage: fs-job-store remove DIR ID [--force] [--json]\n\nDeletes one fulfilled job with no waiting targets. --force deletes it even if it is pending or\nhas targets waiting. A job held by a worker or notifier is never deleted.',
}

class UsageError extends Error {}

function parse(argv) {
  const [command, ...rest] = argv
  const flags = new Set()
  const values = {}
  const positional = []
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]
    if (arg === '--older-than') values.olderThan = rest[++i]
    else if (arg.startsWith('--older-than=')) values.olderThan = arg.slice('--older-than='.length)
    else if (arg.startsWith('--')) flags.add(arg.slice(2))
    else positional.push(arg)
  }
  return { command, flags, values, positional }
}

const UNITS = { ms: 1, s: 1000, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }

function parseDuration(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(String(text || '').trim())
  if (!match) throw new UsageError(`bad duration ${JSON.stringify(text ?? '')}: use a number and a unit, e.g. 7d, 12h, 30m, 45s`)
  return Number(match[1]) * UNITS[match[2]]
}

function openStore(dir) {
  if (!dir) throw new UsageError('missing DIR: name the store folder')
  let stat
  try {
    stat = fs.statSync(dir)
  } catch {
    throw new UsageError(`no store folder at ${dir}`)
  }
  if (!stat.isDirectory()) throw new UsageError(`${dir} is not a folder`)
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
      `oldest pending job: ${age(stats.oldestPendingAgeMs)} old`,
    ].join('\n')
  },
  async ls({ positional, flags, json }) {
    const filters = ['pending', 'fulfilled', 'waiting'].filter((f) => flags.has(f))
    if (filters.length > 1) throw new UsageError('give at most one of --pending, --fulfilled, --waiting')
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
      `created    ${job.createdAt.toISOString()}`,
    ]
    if (job.fulfilledAt) lines.push(`fulfilled  ${job.fulfilledAt.toISOString()}`)
    lines.push(`request    ${JSON.stringify(job.request)}`, `waiting    ${JSON.stringify(job.waiting)}`)
    if (value !== undefined) {
      const text = value.toString('utf8')
      const printable = Buffer.from(text, 'utf8').equals(value) && !/[\0-\x08\x0e-\x1f]/.test(text)
      lines.push(`value      ${printable ? text : `<${value.length} bytes> ${value.toString('base64')} (base64)`}`)
    }
    return lines.join('\n')
  },
  async prune({ positional, values, json }) {
    const olderThanMs = parseDuration(values.olderThan)
    const removed = await openStore(positional[0]).prune({ olderThanMs })
    return json ? { removed } : `removed ${removed} job(s)`
  },
  async check({ positional, flags, json }) {
    const problems = await openStore(positional[0]).check({ repair: flags.has('repair') })
    if (problems.some((p) => !p.repaired)) process.exitCode = 1
    if (json) return problems
    if (problems.length === 0) return 'no problems found'
    return problems.map((p) => `${p.repaired ? 'repaired' : 'problem '}  ${p.kind}: ${p.message}`).join('\n')
  },
  async remove({ positional, flags, json }) {
    if (!positional[1]) throw new UsageError('missing ID: name the job to remove')
    await openStore(positional[0]).remove(positional[1], { force: flags.has('force') })
    return json ? { removed: positional[1] } : `removed ${positional[1]}`
  },
}

async function main(argv) {
  const { command, flags, values, positional } = parse(argv)
  if (!command || command === '--help' || command === 'help') {
    console.log(USAGE.main)
    return 0
  }
  if (!commands[command]) throw new UsageError(`unknown command ${JSON.stringify(command)}; see fs-job-store --help`)
  if (flags.has('help')) {
    console.log(USAGE[command])
    return 0
  }
  const out = await commands[command]({ positional, flags, values, json: flags.has('json') })
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
