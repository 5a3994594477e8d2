'use strict'
// Loads the compiled addon, and says what to do when this platform has none.

const path = require('node:path')

/** The binaries the package carries (scripts/build-all.sh), as native/binding.js names them. */
const SUPPORTED = [
  'linux-x64-gnu (glibc 2.17 or later)',
  'linux-arm64-gnu (glibc 2.17 or later)',
  'linux-x64-musl (Alpine)',
  'linux-arm64-musl (Alpine)',
  'darwin-x64 (macOS 11 or later)',
  'darwin-arm64 (macOS 11 or later)',
]

const BUILD_FROM_SOURCE =
  'To build it from source, with Node.js 20 or later and a Rust toolchain (https://rustup.rs): ' +
  'in a clone of the fs-job-store repository run `npm install` (it runs `npm run build`, which ' +
  'writes native/fs-job-store.<platform>.node for this machine), then in your project ' +
  '`npm install <path of that clone>`.'

function windowsError() {
  const err = new Error(
    'fs-job-store: Windows is not supported yet. The store relies on POSIX filesystem behaviour ' +
      'that Windows does not give it: file calls relative to an open folder descriptor (openat, ' +
      'renameat), locks with flock semantics that end when their process dies, and fsync of a ' +
      'folder so that a rename survives a crash (tried under Wine, fsync of a folder fails with ' +
      'EACCES). A binary that loaded and then lost jobs or locks would be worse than none, so ' +
      `none is shipped. Use WSL 2 or a Linux container. Supported: ${SUPPORTED.join(', ')}.`,
  )
  err.code = 'EPLATFORM'
  err.platform = `${process.platform}-${process.arch}`
  return err
}

/** This platform as the binary names spell it: `linux-arm64-musl`, `darwin-x64`, ... */
function platformName() {
  const name = `${process.platform}-${process.arch}`
  if (process.platform !== 'linux') return name
  let glibc = true
  try {
    glibc = Boolean(process.report.getReport().header.glibcVersionRuntime)
  } catch {}
  return `${name}-${glibc ? 'gnu' : 'musl'}`
}

function loadNative() {
  // Before anything is loaded: no Windows binary is built, and none should be found.
  if (process.platform === 'win32') throw windowsError()
  try {
    return require('../native/binding.js')
  } catch (cause) {
    const platform = platformName()
    const why = String(cause && cause.message).split('\n')[0]
    const err = new Error(
      `fs-job-store: could not load the native binary for ${platform} (Node ${process.version}) from ` +
        `${path.join(__dirname, '..', 'native')} (${why}). The package carries binaries for ` +
        `${SUPPORTED.join(', ')}. ${BUILD_FROM_SOURCE}`,
      { cause },
    )
    err.code = 'ENATIVEMISSING'
    err.platform = platform
    throw err
  }
}

module.exports = loadNative()
