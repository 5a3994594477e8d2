'use strict'
// What `require('fs-job-store')` says on a platform it has no binary for, run here (Linux) in a
// child process whose process.platform a --require preload has changed.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { ROOT, tempDir } = require('./helpers')

/** Requires the package as `platform` would; returns the error's code, message and what got loaded. */
function requireAs(platform) {
  const preload = path.join(tempDir(), 'platform.js')
  fs.writeFileSync(preload, `Object.defineProperty(process, 'platform', { value: ${JSON.stringify(platform)} })\n`)
  const script = `
    try {
      require('.')
      console.log(JSON.stringify({ loaded: true }))
    } catch (e) {
      const loaded = Object.keys(require.cache).filter((file) => file.includes('native'))
      console.log(JSON.stringify({ code: e.code, message: e.message, platform: e.platform, loaded }))
    }`
  const child = spawnSync(process.execPath, ['--require', preload, '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30000 })
  assert.equal(child.status, 0, child.stderr)
  return JSON.parse(child.stdout)
}

test('on Windows, require fails at once with EPLATFORM, saying why, before loading anything native', () => {
  const { code, message, platform, loaded } = requireAs('win32')
  assert.equal(code, 'EPLATFORM')
  assert.equal(platform, `win32-${process.arch}`)
  assert.match(message, /Windows is not supported yet/)
  for (const why of [/openat/, /flock/, /fsync of a\s+folder/, /EACCES/]) assert.match(message, why)
  assert.match(message, /linux-x64-gnu.*darwin-arm64/, 'names the supported platforms')
  assert.deepEqual(loaded.filter((file) => !file.endsWith(path.join('lib', 'native.js'))), [], 'no binding or binary was loaded')
})

test('on a platform without a binary, ENATIVEMISSING names it, the supported ones, and how to build from source', () => {
  const { code, message, platform } = requireAs('freebsd')
  assert.equal(code, 'ENATIVEMISSING')
  assert.equal(platform, `freebsd-${process.arch}`)
  assert.ok(message.includes(`for freebsd-${process.arch} `), message)
  for (const name of ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'linux-arm64-musl', 'darwin-x64', 'darwin-arm64']) {
    assert.ok(message.includes(name), `names ${name}: ${message}`)
  }
  assert.match(message, /build it from source/i)
  assert.match(message, /Rust toolchain/)
  assert.match(message, /`npm install`.*`npm run build`.*`npm install <path of that clone>`/)
})
