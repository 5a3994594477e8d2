'use strict'
// Shared test fixtures: fresh store folders, and child processes run with a time limit.

const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const JobStore = require('..')

const ROOT = path.join(__dirname, '..')

const made = new Set()
process.once('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

/** A new empty folder, removed when the test process exits. */
function tempDir(prefix = 'fjs-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  made.add(dir)
  return dir
}

/** A store on a new empty folder. */
const newStore = (options = {}) => new JobStore({ dir: tempDir(), ...options })

/** Calls `fn(cb)` and resolves the arguments `cb` was called with. */
const callback = (fn) => new Promise((resolve) => fn((...args) => resolve(args)))

// Children of `runNode`/`runFile` still running when a test ends (it failed before awaiting
// them) are killed then, so that they cannot keep `npm test` from ending. Tests in a file run
// one after another, so what is live at the end of a test is that test's.
const live = new Set()
test.afterEach(() => {
  for (const child of live) child.kill('SIGKILL')
})

/**
 * Runs `node -e script` with `args`, resolving `{ code, signal, stdout, stderr }`; kills it and
 * rejects after `timeoutMs`, so a process that does not exit by itself fails the test. It is
 * killed too if the test ends first.
 */
function runNode(script, args = [], options = {}) {
  return run(['-e', script, ...args], options)
}

/** Like `runNode`, for a script file. */
function runFile(file, args = [], options = {}) {
  return run([file, ...args], options)
}

/** `env` is added to this process's environment, or with `inheritEnv: false` replaces it;
 * `uid`/`gid` run the child as another user (the tests run as root). */
function run(argv, { timeoutMs = 30000, env, cwd = ROOT, inheritEnv = true, uid, gid } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, {
      cwd,
      env: inheritEnv ? { ...process.env, ...env } : env,
      stdio: ['ignore', 'pipe', 'pipe'],
      uid,
      gid,
    })
    live.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${argv.slice(0, 2).join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on('exit', (code, signal) => {
      live.delete(child)
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, child })
    })
    child.on('error', reject)
  })
}

/**
 * Spawns `node argv…` for a test and kills it (SIGKILL) when the test ends, passed or failed, so
 * a failing assertion never leaves a process running that would keep `npm test` from ending.
 */
function spawnNode(t, argv, options = {}) {
  const child = spawn(process.execPath, argv, { cwd: ROOT, ...options })
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return child
}

/** Resolves after `ms`. */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** The `lockCheckInterval` (ms) of the tests where a claim is lost. */
const INTERVAL = 100

/** Resolves with the first call's argument and the ms it took, or rejects after `ms`. */
function firstCall(ms) {
  let resolve
  let timer
  const started = Date.now()
  const promise = new Promise((res, rej) => {
    resolve = res
    timer = setTimeout(() => rej(new Error(`not called within ${ms} ms`)), ms)
  })
  const fn = (arg) => {
    clearTimeout(timer)
    resolve({ arg, elapsed: Date.now() - started })
  }
  return { fn, promise }
}

/** A day ago: older than every grace period of the store. */
const OLD = new Date(Date.now() - 24 * 3600e3)

/** Every entry under `root` but `skip`: type, size, content hash and mtime, links with their target. */
function snapshot(root, skip) {
  const out = {}
  const walk = (p) => {
    if (p === skip) return
    const st = fs.lstatSync(p)
    const rel = path.relative(root, p) || '.'
    if (st.isSymbolicLink()) out[rel] = `link ${fs.readlinkSync(p)} ${st.mtimeMs}`
    else if (st.isDirectory()) {
      out[rel] = `dir ${st.mtimeMs} ${st.mode}`
      for (const name of fs.readdirSync(p)) walk(path.join(p, name))
    } else out[rel] = `file ${st.size} ${st.mtimeMs} ${crypto.createHash('sha1').update(fs.readFileSync(p)).digest('hex')}`
  }
  walk(root)
  return out
}

/** A parent folder holding `store/` and a `sentinel/` beside it, and a check of everything
 * outside `store/`. */
function sandbox() {
  const parent = tempDir()
  const dir = path.join(parent, 'store')
  const sentinel = path.join(parent, 'sentinel')
  fs.mkdirSync(path.join(sentinel, 'jobs', 'x'), { recursive: true })
  fs.writeFileSync(path.join(sentinel, 'a.txt'), 'keep me')
  fs.writeFileSync(path.join(sentinel, 'jobs', 'x', 'state.json'), '{"version":0,"state":1,"waiting":[],"request":1}')
  fs.writeFileSync(path.join(parent, 'beside.txt'), 'keep me too')
  fs.mkdirSync(dir)
  const before = snapshot(parent, dir)
  return {
    parent,
    dir,
    untouched: () => assert.deepEqual(snapshot(parent, dir), before, 'nothing outside the store folder changed'),
  }
}

/** A folder that is not a store: a project with its own tmp/ of old files, and a sentinel. */
function projectFolder() {
  const dir = tempDir('fjs-project-')
  fs.mkdirSync(path.join(dir, 'tmp', 'cache'), { recursive: true })
  fs.mkdirSync(path.join(dir, 'src'))
  fs.writeFileSync(path.join(dir, 'src', 'index.js'), 'console.log(1)\n')
  for (const name of ['tmp/build.log', 'tmp/cache/blob', 'tmp/tmp-1-2']) {
    fs.writeFileSync(path.join(dir, name), 'mine')
    fs.utimesSync(path.join(dir, name), OLD, OLD)
  }
  fs.utimesSync(path.join(dir, 'tmp', 'cache'), OLD, OLD)
  return dir
}

/** Runs the fs-job-store command with `args`; resolves as `runFile` does. */
const cli = (...args) => runFile(path.join(ROOT, 'bin', 'fs-job-store.js'), args, { timeoutMs: 15000 })

/**
 * How many times longer timing windows are: 1 here, more where every process runs slower
 * (`npm run test:platforms` runs the suite on arm64 under qemu). The assertions stay the same.
 */
const TIME_SCALE = Number(process.env.FJS_TEST_TIME_SCALE) || 1

/** Runs `node ...argv` (flags included), like `runFile`. */
function runNodeArgs(argv, options = {}) {
  return run(argv, options)
}

module.exports = {
  TIME_SCALE,
  runNodeArgs,
  ROOT,
  tempDir,
  newStore,
  callback,
  runNode,
  runFile,
  spawnNode,
  sleep,
  INTERVAL,
  firstCall,
  OLD,
  snapshot,
  sandbox,
  projectFolder,
  cli,
}
