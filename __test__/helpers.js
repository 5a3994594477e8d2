'use strict'
// Shared test fixtures: fresh store folders, and child processes run with a time limit.

const test = require('node:test')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')

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

module.exports = { ROOT, tempDir, runNode, runFile, spawnNode, sleep }
