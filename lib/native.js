'use strict'
// Loads the compiled addon, and says what to do when this platform has none.

const path = require('node:path')

function loadNative() {
  try {
    return require('../native/binding.js')
  } catch (cause) {
    const platform = `${process.platform}-${process.arch}`
    const why = String(cause && cause.message).split('\n')[0]
    const err = new Error(
      `fs-job-store: could not load the native binary for ${platform} (Node ${process.version}) from ` +
        `${path.join(__dirname, '..', 'native')} (${why}). Build it from source with a Rust toolchain: ` +
        '`npm install` in a clone of the repository (it runs `npm run build`), then install that folder.',
      { cause },
    )
    err.code = 'ENATIVEMISSING'
    throw err
  }
}

module.exports = loadNative()
