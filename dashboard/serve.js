'use strict'
// `fs-job-store dashboard DIR`: the dashboard on its own HTTP server. On the loopback address it
// answers only to loopback host names (a page elsewhere cannot reach it through DNS rebinding);
// on any other address it requires a token, generated when none is given.

const crypto = require('node:crypto')
const http = require('node:http')
const net = require('node:net')
const createDashboard = require('./index')

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]']

function isLoopback(host) {
  if (host === 'localhost') return true
  const bare = host.replace(/^\[|\]$/g, '')
  if (net.isIPv4(bare)) return bare.startsWith('127.')
  if (net.isIPv6(bare)) return bare === '::1'
  return false
}

/**
 * Serves the dashboard of `store`. Resolves `{ server, url, token, close }` once listening.
 * @param {import('..').JobStore} store
 * @param {{ port?: number, host?: string, readOnly?: boolean, token?: string, allowedHosts?: string[] }} [options]
 */
function serve(store, options = {}) {
  const host = options.host || '127.0.0.1'
  const port = options.port === undefined ? 4400 : options.port
  const local = isLoopback(host)
  const generated = !options.token && !local
  const token = options.token || (generated ? crypto.randomBytes(24).toString('base64url') : null)
  const allowedHosts = options.allowedHosts || (local ? [...LOOPBACK_NAMES, host.toLowerCase()] : null)
  const handler = createDashboard(store, { readOnly: options.readOnly, token, allowedHosts })
  const server = http.createServer(handler)
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  return new Promise((resolve, reject) => {
    server.once('error', (err) => {
      if (err.code === 'EADDRINUSE') err.message = `port ${port} on ${host} is in use: pass --port N (0 for any free port)`
      if (err.code === 'EADDRNOTAVAIL') err.message = `${host} is not an address of this machine: pass --host with one of its addresses (or 0.0.0.0 for all)`
      reject(err)
    })
    server.listen(port, host, () => {
      const address = server.address()
      const shown = net.isIPv6(address.address) ? `[${address.address}]` : address.address
      // A generated token is printed once, in the address; one the caller gave is theirs to know.
      const url = `http://${shown}:${address.port}/${generated ? `?token=${token}` : ''}`
      resolve({
        server,
        url,
        token,
        close: () =>
          new Promise((done) => {
            server.close(() => done())
            server.closeAllConnections()
          }),
      })
    })
  })
}

module.exports = { serve, isLoopback }
