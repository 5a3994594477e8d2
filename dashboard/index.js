'use strict'
// The dashboard: a request handler `(req, res, next)` serving a page and a small JSON API over a
// store the app already has open. Mount it under any path of node:http, express, fastify or the
// like; `fs-job-store dashboard DIR` serves it on its own (see ./serve.js).
//
// Safety: every action is a POST carrying the page's CSRF token in a header (a form on another
// site can send neither), from the same origin; with `token`, every request must carry it too;
// the page renders folder contents as text only, and its Content-Security-Policy runs no inline
// script, so a request holding markup stays markup.

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

const ASSETS = {
  '/assets/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/assets/app.css': ['app.css', 'text/css; charset=utf-8'],
}
const STATES = ['pending', 'claimed', 'delayed', 'failed', 'cancelled', 'fulfilled', 'waiting']
const ACTIONS = ['retry', 'cancel', 'remove', 'run-now']
const PAGE_LIMIT = 200
const MAX_BODY = 64 * 1024
/** Bytes of a value sent to the page: enough to read, small enough for a browser. */
const VALUE_PREVIEW = 64 * 1024
const TOKEN_COOKIE = 'fs-job-store-token'

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
}

/** An answer to a bad request: its HTTP status and a stable code. */
class HttpError extends Error {
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

/**
 * @param {import('..').JobStore} store an open store
 * @param {object} [options]
 * @param {string} [options.basePath] where it is mounted, for servers that do not strip it
 *   (node:http, fastify); express's `app.use(path, …)` needs none
 * @param {boolean} [options.readOnly] no actions (also when the store was opened read-only)
 * @param {string} [options.token] required on every request: `Authorization: Bearer <token>`, or
 *   once as `?token=` in the page's address (it is then kept in a cookie)
 * @param {string[]} [options.allowedHosts] host names the Host header may carry (against DNS
 *   rebinding); any when not given
 */
function createDashboard(store, options = {}) {
  if (!store || typeof store.stats !== 'function' || typeof store.get !== 'function') {
    throw Object.assign(new TypeError('createDashboard(store): pass an open JobStore'), { code: 'ERR_INVALID_ARG_TYPE' })
  }
  if (options === null || typeof options !== 'object') throw Object.assign(new TypeError('createDashboard(store, options): options must be an object'), { code: 'ERR_INVALID_ARG_TYPE' })
  const basePath = normaliseBase(options.basePath)
  const readOnly = Boolean(options.readOnly || store._readOnly)
  const token = options.token === undefined || options.token === null ? null : String(options.token)
  if (token !== null && token.length < 16) throw Object.assign(new RangeError('createDashboard: options.token must be at least 16 characters'), { code: 'ERR_INVALID_ARG_VALUE' })
  const allowedHosts = options.allowedHosts ? options.allowedHosts.map((h) => String(h).toLowerCase()) : null
  const csrf = crypto.randomBytes(24).toString('base64url')
  const page = pageHtml({ csrf, readOnly, title: options.title || 'fs-job-store' })

  async function handle(req, res) {
    const url = parseTarget(req.url)
    let rel = url.pathname
    // Express strips its mount path into req.baseUrl ('' at the root, where basePath applies).
    if (basePath && !req.baseUrl) {
      if (rel !== basePath && !rel.startsWith(`${basePath}/`)) return false
      rel = rel.slice(basePath.length)
    }
    if (allowedHosts && !allowedHosts.includes(hostName(req.headers.host))) {
      throw new HttpError(403, 'EHOST', `Host ${JSON.stringify(req.headers.host || '')} is not one this dashboard answers to; open it by the address it printed`)
    }
    if (token !== null) authorize(req, res, url, token, basePath)
    if (res.writableEnded) return true
    // The page's links are relative: it must be served from a path ending in '/'.
    const here = fullPath(req, url)
    if (rel === '' || (rel === '/' && !here.endsWith('/'))) {
      res.writeHead(308, { location: `${localPath(here)}/${url.search}` })
      res.end()
      return true
    }
    if (rel === '/') return send(res, 200, page, 'text/html; charset=utf-8', req)
    if (ASSETS[rel]) {
      const [file, type] = ASSETS[rel]
      return send(res, 200, fs.readFileSync(path.join(__dirname, file)), type, req)
    }
    if (!rel.startsWith('/api/')) throw new HttpError(404, 'ENOTFOUND', `nothing at ${rel}; the dashboard's page is at its base path`)
    const parts = rel.slice('/api/'.length).split('/').map((part) => {
      try {
        return decodeURIComponent(part)
      } catch {
        throw new HttpError(400, 'EBADPATH', `the path ${JSON.stringify(rel)} is not valid percent-encoding`)
      }
    })
    const method = req.method === 'HEAD' ? 'GET' : req.method
    if (method === 'GET') {
      if (parts.length === 1 && parts[0] === 'overview') return json(res, 200, await overview(store, readOnly), req)
      if (parts.length === 1 && parts[0] === 'jobs') return json(res, 200, await listJobs(store, url.searchParams), req)
      if (parts.length === 2 && parts[0] === 'jobs') return json(res, 200, await jobDetail(store, parts[1]), req)
      if (isAction(parts)) throw new HttpError(405, 'EMETHOD', 'actions are POST requests from the dashboard page')
      throw new HttpError(404, 'ENOTFOUND', `no API at ${rel}`)
    }
    if (method !== 'POST') throw new HttpError(405, 'EMETHOD', `${req.method} is not answered here: reads are GET, actions POST`)
    if (!isAction(parts)) throw new HttpError(404, 'ENOTFOUND', `no action at ${rel}`)
    checkSameOrigin(req, csrf)
    if (readOnly) throw new HttpError(403, 'EREADONLY', 'this dashboard is read-only: start it without --read-only (or readOnly) to act on jobs')
    const body = await readBody(req)
    if (parts[0] === 'retry-failed') return json(res, 200, await retryAllFailed(store), req)
    return json(res, 200, await act(store, parts[2], parts[1], body), req)
  }

  return function dashboard(req, res, next) {
    handle(req, res)
      .then(
        (handled) => {
          if (handled === false) {
            if (typeof next === 'function') next()
            else json(res, 404, { error: { code: 'ENOTFOUND', message: `not under ${basePath}` } }, req)
          }
        },
        (err) => {
          if (res.headersSent) return res.destroy()
          const known = err instanceof HttpError
          const status = known ? err.status : statusOf(err)
          const code = (err && err.code) || 'EINTERNAL'
          // The rest of a refused body is not read: the connection cannot be reused.
          if (status === 413) res.setHeader('connection', 'close')
          json(res, status, { error: { code, message: err && err.message ? err.message : String(err) } }, req)
        },
      )
      // Nothing here may become an unhandled rejection, which would end the app's process.
      .catch(() => res.destroy())
  }
}

/** A request target as a URL. Only a path is taken as one ('//x' stays a path, an absolute
 * form's host is ignored); what cannot be parsed is a 400. */
function parseTarget(target) {
  const text = String(target || '/')
  try {
    if (text.startsWith('/')) return new URL(`http://dashboard.invalid${text}`)
    const absolute = new URL(text)
    return new URL(`http://dashboard.invalid${absolute.pathname}${absolute.search}`)
  } catch {
    throw new HttpError(400, 'EBADPATH', 'the request target is not a valid path')
  }
}

/** The request's path as the browser sent it: express keeps it in req.originalUrl when it strips
 * its mount path from req.url. */
function fullPath(req, url) {
  return req.originalUrl !== undefined ? parseTarget(req.originalUrl).pathname : url.pathname
}

/** A path to redirect to that can only stay on this site ('//evil.example' becomes '/evil.example'). */
function localPath(pathname) {
  return `/${pathname.replace(/^[/\\]+/, '')}`
}

function isAction(parts) {
  return (parts.length === 1 && parts[0] === 'retry-failed') || (parts.length === 3 && parts[0] === 'jobs' && ACTIONS.includes(parts[2]))
}

function normaliseBase(base) {
  if (base === undefined || base === null || base === '' || base === '/') return ''
  if (typeof base !== 'string' || !base.startsWith('/')) throw Object.assign(new TypeError('createDashboard: options.basePath must be a path starting with /'), { code: 'ERR_INVALID_ARG_VALUE' })
  return base.replace(/\/+$/, '')
}

/** `host[:port]` lowercased, without the scheme's default port. */
function hostPort(host, protocol) {
  const h = String(host).toLowerCase()
  const port = protocol === 'https:' ? ':443' : ':80'
  return h.endsWith(port) ? h.slice(0, -port.length) : h
}

function hostName(host) {
  if (!host) return ''
  const h = String(host).toLowerCase()
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1)
  return h.split(':')[0]
}

function sameSecret(given, expected) {
  if (typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && crypto.timingSafeEqual(a, b)
}

/** The token from the Authorization header, the cookie, or (for the page) `?token=`, which is
 * then moved into a cookie so it leaves the address bar. */
function authorize(req, res, url, token, basePath) {
  const auth = /^Bearer\s+(.+)$/i.exec(req.headers.authorization || '')
  if (auth && sameSecret(auth[1].trim(), token)) return
  // Named after the token, so two dashboards on one host keep their own cookies.
  const name = `${TOKEN_COOKIE}-${crypto.createHash('sha256').update(token).digest('hex').slice(0, 8)}`
  const cookies = String(req.headers.cookie || '')
    .split(';')
    .map((c) => c.trim().split('='))
    .filter(([cookieName]) => cookieName === name)
  for (const cookie of cookies) {
    let value
    try {
      value = decodeURIComponent(cookie.slice(1).join('='))
    } catch {
      continue
    }
    if (sameSecret(value, token)) return
  }
  const query = url.searchParams.get('token')
  if (query !== null && req.method === 'GET' && sameSecret(query, token)) {
    url.searchParams.delete('token')
    const here = fullPath(req, url)
    const mount = req.baseUrl || basePath || '/'
    const secure = req.socket && req.socket.encrypted ? '; Secure' : String(req.headers['x-forwarded-proto'] || '').startsWith('https') ? '; Secure' : ''
    res.writeHead(303, {
      location: `${localPath(here)}${url.search}`,
      // Lax, so the printed link works when opened from another site's page; actions need the
      // page's CSRF header anyway.
      'set-cookie': `${name}=${encodeURIComponent(token)}; HttpOnly; SameSite=Lax; Path=${localPath(mount)}${secure}`,
      ...SECURITY_HEADERS,
    })
    res.end()
    return
  }
  throw new HttpError(401, 'ETOKEN', 'this dashboard needs its token: open the address fs-job-store dashboard printed (it ends in ?token=…), or send Authorization: Bearer <token>')
}

/** An action must come from the page: its CSRF token in a header (which a form or an image on
 * another site cannot send) and, when the browser says, from this origin. */
function checkSameOrigin(req, csrf) {
  const site = req.headers['sec-fetch-site']
  if (site && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'ECSRF', `refused an action sent from another site (Sec-Fetch-Site: ${site}); act from the dashboard's own page`)
  const origin = req.headers.origin
  // A browser that says same-origin is believed (behind a proxy the Host header may be the
  // proxy's view of it); otherwise the Origin's host must be this request's.
  if (origin && origin !== 'null' && site !== 'same-origin') {
    let host
    try {
      host = hostPort(new URL(origin).host, new URL(origin).protocol)
    } catch {
      host = null
    }
    if (host !== hostPort(req.headers.host || '', 'http:')) throw new HttpError(403, 'ECSRF', `refused an action sent from ${origin}; act from the dashboard's own page`)
  } else if (origin === 'null') {
    throw new HttpError(403, 'ECSRF', 'refused an action from an opaque origin; act from the dashboard\'s own page')
  }
  if (!sameSecret(req.headers['x-csrf-token'], csrf)) throw new HttpError(403, 'ECSRF', "the action's CSRF token is missing or stale: reload the dashboard's page and try again")
}

async function readBody(req) {
  if (req.body !== undefined && typeof req.body === 'object' && req.body !== null && !Buffer.isBuffer(req.body)) return req.body
  const type = String(req.headers['content-type'] || '')
  let size = 0
  const chunks = []
  for await (const chunk of req) {
    size += chunk.length
    if (size > MAX_BODY) throw new HttpError(413, 'ETOOLARGE', `an action's body is at most ${MAX_BODY} bytes`)
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8').trim()
  if (text === '') return {}
  if (!type.startsWith('application/json')) throw new HttpError(415, 'ECONTENTTYPE', 'send actions as application/json')
  let body
  try {
    body = JSON.parse(text)
  } catch (err) {
    throw new HttpError(400, 'EBADJSON', `the action's body is not JSON: ${err.message}`)
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'EBADJSON', "the action's body must be a JSON object")
  return body
}

/** What a store error means for HTTP. */
function statusOf(err) {
  switch (err.code) {
    case 'EINVALIDID':
    case 'ERR_INVALID_ARG_TYPE':
    case 'ERR_INVALID_ARG_VALUE':
      return 400
    case 'ENOJOB':
    case 'ENOENT':
      return 404
    case 'EREADONLY':
      return 403
    case 'ENOTFAILED':
    case 'ENOTDELAYED':
    case 'ECLAIMED':
    case 'EPENDING':
    case 'EWAITING':
    case 'EALREADYRESOLVED':
    case 'ECANCELED':
    case 'ELOCKED':
      return 409
    default:
      return 500
  }
}

async function overview(store, readOnly) {
  const [stats, activity, schedules] = await Promise.all([store.stats(), store.activity(), store.schedules().catch(() => [])])
  return {
    dir: store._dir,
    readOnly,
    now: Date.now(),
    counts: stats,
    activity,
    schedules: schedules.map((s) => ({
      name: s.name,
      rule: s.cron ? `${s.cron}${s.tz ? ` (${s.tz})` : ''}` : `every ${duration(s.everyMs)}`,
      next: s.next ? new Date(s.next).getTime() : null,
      last: s.lastSlot instanceof Date && s.lastSlot.getTime() > 0 ? s.lastSlot.getTime() : null,
    })),
  }
}

/** 3600000 → '1 h', 90000 → '90 s': the largest unit that divides it. */
function duration(ms) {
  for (const [unit, size] of [['d', 86400e3], ['h', 3600e3], ['min', 60e3], ['s', 1e3]]) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`
  }
  return `${ms} ms`
}

function summary(job, state) {
  const last = job.failures.length ? job.failures[job.failures.length - 1] : null
  return {
    id: job.id,
    state: state === 'claimed' || state === 'waiting' ? state : job.state,
    priority: job.priority,
    key: job.key,
    attempts: job.attempts,
    createdAt: time(job.createdAt),
    runAt: time(job.runAt),
    endedAt: time(job.fulfilledAt || job.failedAt || job.cancelledAt),
    error: last ? errorText(last.error) : null,
    waiting: job.waiting.length,
    progress: job.progress,
  }
}

function time(date) {
  return date instanceof Date && !Number.isNaN(date.getTime()) ? date.getTime() : null
}

function errorText(error) {
  if (error && typeof error === 'object') return [error.code, error.message].filter(Boolean).join(': ') || JSON.stringify(error)
  return String(error)
}

async function listJobs(store, params) {
  const state = params.get('state') || 'pending'
  if (!STATES.includes(state)) throw new HttpError(400, 'EBADSTATE', `state must be one of ${STATES.join(', ')}; got ${JSON.stringify(state)}`)
  const limitText = params.get('limit') || '50'
  const limit = Number(limitText)
  if (!Number.isInteger(limit) || limit < 1 || limit > PAGE_LIMIT) throw new HttpError(400, 'EBADLIMIT', `limit must be a whole number from 1 to ${PAGE_LIMIT}; got ${JSON.stringify(limitText)}`)
  const order = params.get('order') || (state === 'pending' || state === 'delayed' || state === 'claimed' ? 'oldest' : 'newest')
  if (order !== 'oldest' && order !== 'newest') throw new HttpError(400, 'EBADORDER', `order must be oldest or newest; got ${JSON.stringify(order)}`)
  const after = params.get('after') || undefined
  if (after !== undefined && !/^[\w.+~-]{1,200}$/.test(after)) throw new HttpError(400, 'EINVALIDID', `after must be a job id; got ${JSON.stringify(after)}`)
  const search = (params.get('search') || '').trim()
  if (search.length > 500) throw new HttpError(400, 'EBADSEARCH', 'search is at most 500 characters')
  let ids
  let byKey = null
  if (search && !after) byKey = await store.jobOfKey(search).catch(() => undefined)
  // One more than asked: whether there is a next page.
  ids = await store.list({ state, limit: limit + 1, after, newestFirst: order === 'newest', search: search || undefined })
  const more = ids.length > limit
  ids = ids.slice(0, limit)
  if (byKey && !ids.includes(byKey)) ids.unshift(byKey)
  const jobs = []
  for (const id of ids) {
    try {
      jobs.push(summary(await store.get(id), state))
    } catch (err) {
      // Gone since the listing (removed, pruned), or damaged: shown as such, not a failed page.
      jobs.push({ id, state: 'unreadable', error: `${err.code || 'ERROR'}: ${err.message}` })
    }
  }
  return { state, order, jobs, next: more ? ids[ids.length - 1] : null, byKey: byKey || null }
}

async function jobDetail(store, id) {
  if (!/^[\w.+~-]{1,200}$/.test(id)) throw new HttpError(400, 'EINVALIDID', `not a job id: ${JSON.stringify(id)}`)
  const job = await store.get(id)
  const claimed = (await store.list({ state: 'claimed' })).includes(id)
  let value = null
  if (job.state === 'fulfilled') {
    // Only the start is read: a large value is not read whole every two seconds. A few bytes
    // more than shown, so a character cut by the limit can be moved back whole.
    const head = await store._native.valueHead(id, VALUE_PREVIEW + 4)
    if (head) value = preview(head.bytes, head.size)
  }
  return {
    id: job.id,
    state: claimed ? 'claimed' : job.state,
    version: job.version,
    request: job.request === undefined ? null : job.request,
    waiting: job.waiting,
    attempts: job.attempts,
    failures: job.failures.map((f) => ({ at: time(f.at), error: f.error })),
    progress: job.progress,
    priority: job.priority,
    key: job.key,
    schedule: job.schedule ? { name: job.schedule.name, slot: time(job.schedule.slot) } : null,
    createdAt: time(job.createdAt),
    runAt: time(job.runAt),
    fulfilledAt: time(job.fulfilledAt),
    failedAt: time(job.failedAt),
    cancelledAt: time(job.cancelledAt),
    cancelReason: job.cancelReason ?? null,
    value,
  }
}

/** A value as text when it is UTF-8, else its first bytes in hex and base64. */
function preview(bytes, size) {
  let head = bytes.subarray(0, VALUE_PREVIEW)
  // A cut inside a character of a longer value is moved back to the character's start.
  if (bytes.length > head.length) {
    let end = head.length
    while (end > head.length - 4 && end > 0 && (bytes[end] & 0xc0) === 0x80) end--
    head = bytes.subarray(0, end)
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(head)
    return { kind: 'text', size, truncated: size > head.length, text }
  } catch {
    return { kind: 'bytes', size, truncated: size > head.length, hex: head.subarray(0, 512).toString('hex'), base64: head.toString('base64') }
  }
}

async function act(store, action, id, body) {
  if (!/^[\w.+~-]{1,200}$/.test(id)) throw new HttpError(400, 'EINVALIDID', `not a job id: ${JSON.stringify(id)}`)
  switch (action) {
    case 'retry':
      await store.retry(id)
      break
    case 'cancel': {
      const reason = body.reason === undefined ? 'cancelled from the dashboard' : body.reason
      if (typeof reason !== 'string' || reason.length > 1000) throw new HttpError(400, 'EBADREASON', 'reason must be text of at most 1000 characters')
      await store.cancel(id, { reason })
      break
    }
    case 'remove':
      await store.remove(id, { force: true })
      break
    case 'run-now':
      await store.runNow(id)
      break
  }
  return { ok: true, id, action }
}

async function retryAllFailed(store) {
  let retried = 0
  const skipped = []
  let after
  for (;;) {
    const ids = await store.list({ state: 'failed', limit: 500, after })
    if (ids.length === 0) break
    for (const id of ids) {
      try {
        await store.retry(id)
        retried++
      } catch (err) {
        skipped.push({ id, code: err.code, message: err.message })
      }
    }
    after = ids[ids.length - 1]
  }
  return { ok: true, retried, skipped }
}

function send(res, status, body, type, req) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...SECURITY_HEADERS })
  res.end(req && req.method === 'HEAD' ? undefined : body)
  return true
}

function json(res, status, value, req) {
  return send(res, status, JSON.stringify(value), 'application/json; charset=utf-8', req)
}

function pageHtml({ csrf, readOnly, title }) {
  const template = fs.readFileSync(path.join(__dirname, 'page.html'), 'utf8')
  const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return template
    .replaceAll('{{csrf}}', escape(csrf))
    .replaceAll('{{readOnly}}', readOnly ? 'true' : 'false')
    .replaceAll('{{title}}', escape(title))
}

module.exports = createDashboard
module.exports.createDashboard = createDashboard
module.exports.serve = (...args) => require('./serve').serve(...args)
