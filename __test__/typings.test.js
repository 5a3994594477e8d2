'use strict'
// index.d.ts is written by hand, so it can fall behind index.js. These checks fail when a public
// method, a property of a Job or Notification, or an error code exists at run time but not in
// the typings (or the other way round). What the types say is checked by tsc (__test__/types).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const JobStore = require('..')
const { ROOT, tempDir } = require('./helpers')

const DTS = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8')

const publicNames = (names) => names.filter((name) => !name.startsWith('_') && name !== 'constructor').sort()

/** The text of a declaration's body: from `head` to the closing brace at `indent`. */
function body(head, indent) {
  const start = DTS.indexOf(head)
  assert.notEqual(start, -1, `index.d.ts declares ${head}`)
  const end = DTS.indexOf(`\n${indent}}\n`, start)
  return DTS.slice(start, end)
}

/** Names of the members (methods and properties) declared in a body at `indent` + 2 spaces. */
function members(text, indent) {
  const pattern = new RegExp(`^${indent}  (?:readonly )?(\\w+)[(:<?]`, 'gm')
  return publicNames([...new Set([...text.matchAll(pattern)].map((m) => m[1]))])
}

test('every public JobStore method and property is typed, and nothing else', () => {
  const store = new JobStore({ dir: tempDir() })
  const runtime = publicNames([...Object.getOwnPropertyNames(JobStore.prototype), ...Object.keys(store)])
  assert.deepEqual(members(body('declare class JobStore', ''), ''), runtime)
  assert.equal(JobStore.JobStore, JobStore)
  assert.equal(JobStore.default, JobStore)
  assert.match(DTS, /export \{ JobStore, JobStore as default \}/)
})

test('a Job and a Notification have exactly the typed members', async () => {
  const store = new JobStore({ dir: tempDir() })
  const { id } = await store.create({ n: 1 })
  await store.queue(id, 't')
  const job = await store.pullJob()
  assert.deepEqual(members(body('export interface Job<', '  '), '  '), publicNames(Object.keys(job)))
  await job.fulfill('v')
  await job.release()
  const note = await store.pullNotification()
  assert.deepEqual(members(body('export interface Notification<', '  '), '  '), publicNames(Object.keys(note)))
  await note.done(null, note.waiting)
})

test('every error code the store can produce is in the ErrorCode union', () => {
  const union = DTS.slice(DTS.indexOf('export type StoreErrorCode'), DTS.indexOf('export type ErrorCode'))
  const typed = new Set([...union.matchAll(/\| '([A-Z_]+)'/g)].map((m) => m[1]))
  assert.ok(typed.has('ECOMPROMISED') && typed.has('ENOSPC'), 'the union was found')
  const sources = [
    path.join(ROOT, 'index.js'),
    ...fs.readdirSync(path.join(ROOT, 'lib')).map((name) => path.join(ROOT, 'lib', name)),
    ...fs.readdirSync(path.join(ROOT, 'src')).map((name) => path.join(ROOT, 'src', name)),
  ]
  const produced = new Set()
  for (const file of sources) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/['"](E[A-Z]{2,}|ERR_[A-Z_]+)['"]/g)) produced.add(m[1])
  }
  const missing = [...produced].filter((code) => !typed.has(code)).sort()
  assert.deepEqual(missing, [], 'codes used in index.js, lib/ or src/ but missing from index.d.ts')
})
