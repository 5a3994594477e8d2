'use strict'
// The dashboard, driven in a real browser (Debian's chromium through playwright-core): what a
// person sees, the actions, the token, CSRF and escaping. The dashboard runs as the README says,
// `fs-job-store dashboard DIR`, in its own process, or mounted in node:http, express and fastify.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const JobStore = require('..')
const createDashboard = require('../dashboard')
const { ROOT, tempDir, spawnNode, runFile, snapshot } = require('./helpers')

const BIN = path.join(ROOT, 'bin', 'fs-job-store.js')
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p))
const skip = CHROMIUM ? false : 'needs Debian chromium (apt-get install chromium); nothing here downloads a browser'

let browser
test.before(async () => {
  if (skip) return
  const { chromium } = require('playwright-core')
  // Without the networking flags, chromium tries to reach Google's hosts at every start.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})
// Hooks get time limits too, so a wedged browser fails the run instead of hanging it.
test.after(
  async () => {
    if (browser) await browser.close()
  },
  { timeout: 20000 },
)

/** Every clean-up has a time limit: a hook that waits for ever would hang the run. */
const HOOK = { timeout: 10000 }

/** Closes `server` without waiting for keep-alive connections (a page polling it keeps one). */
function closeServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

/** A page whose script errors and dialogs fail the test instead of passing unseen. */
async function newPage(t) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const problems = []
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('dialog', (dialog) => {
    problems.push(`a native dialog opened: ${dialog.message()}`)
    dialog.dismiss()
  })
  t.after(() => context.close(), HOOK)
  page.problems = problems
  return page
}

const MARKUP = { html: '<img src=x onerror="window.__pwned=1">', script: '<script>window.__pwned=2</script>', note: '</pre><b id="injected">bold</b>' }

/** A store with a job in every state; returns the store (its folder opened here too) and ids. */
async function fillStore(t, dir) {
  const store = new JobStore({ dir, durable: false, maxAttempts: 1 })
  t.after(() => store.close(), HOOK)
  const ids = {}
  ids.pending = (await store.create({ task: 'resize', width: 640 })).id
  ids.keyed = (await store.create({ task: 'invoice', order: 42 }, { key: 'order-42' })).id
  ids.markup = (await store.create(MARKUP)).id
  ids.delayed = (await store.create({ task: 'later' }, { delayMs: 3600e3 })).id
  ids.failed = (await store.create({ task: 'charge' }, { priority: 5 })).id
  const failing = await store.pullJob()
  assert.equal(failing.id, ids.failed)
  await failing.fail(new Error('payment service said 503 <b>Service Unavailable</b>'))
  ids.cancelled = (await store.create({ task: 'obsolete' })).id
  await store.cancel(ids.cancelled, { reason: 'customer left' })
  ids.bytes = (await store.create({ task: 'thumbnail' }, { priority: 4 })).id
  const bytesJob = await store.pullJob()
  await bytesJob.fulfill(Buffer.from([0, 1, 2, 255]))
  await bytesJob.release()
  ids.waiting = (await store.create({ task: 'notify me' }, { priority: 3 })).id
  await store.queue(ids.waiting, { email: 'a@example.com' })
  const waitingJob = await store.pullJob()
  await waitingJob.fulfill('done: 3 pages')
  await waitingJob.release()
  await store.schedule('hourly-report', { everyMs: 3600e3 }, { task: 'report' })
  // A worker in another process holds this one for the whole test.
  ids.claimed = (await store.create({ task: 'long' }, { priority: 9 })).id
  const holder = spawnNode(t, ['-e', `
    const JobStore = require(${JSON.stringify(ROOT)})
    const store = new JobStore({ dir: process.argv[1], durable: false })
    store.pullJob().then((job) => { console.log(job.id); setInterval(() => {}, 1000) })
  `, dir])
  const [line] = await lines(holder, 1)
  assert.equal(line, ids.claimed)
  return { store, ids }
}

/** The first `n` lines `child` prints. */
function lines(child, n) {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    child.stdout.on('data', (d) => {
      out += d
      const got = out.split('\n')
      if (got.length > n) resolve(got.slice(0, n))
    })
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing ${n} line(s): ${out}${err}`)))
  })
}

/** Everything `child` printed once it matches `pattern`. */
function printed(child, pattern) {
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      if (pattern.test(out)) resolve(out)
    })
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing ${pattern}: ${out}`)))
  })
}

/** `fs-job-store dashboard DIR …args` in a child process; resolves the address it printed. */
async function startDashboard(t, dir, args = []) {
  const child = spawnNode(t, [BIN, 'dashboard', dir, '--port', '0', ...args])
  const [line] = await lines(child, 1)
  const url = /at (http:\/\/\S+)/.exec(line)
  assert.ok(url, `the dashboard prints its address: ${line}`)
  return { child, url: url[1], line }
}

/** The text of the count of `state` once the page shows it. */
async function countShown(page, state) {
  await page.waitForFunction((s) => /\d/.test(document.querySelector(`[data-count="${s}"]`).textContent), state)
  return Number((await page.textContent(`[data-count="${state}"]`)).replace(/,/g, ''))
}

async function openJob(page, state, id) {
  await page.click(`.count[data-state="${state}"]`)
  await page.fill('#search', id)
  await page.click('#search-form button[type="submit"]')
  await page.click(`tr.job[data-id="${id}"]`)
  await page.waitForFunction((want) => document.getElementById('detail-id').textContent === want, id)
}

async function confirmAction(page, label) {
  await page.click(`#detail-actions button:text-is("${label}")`)
  await page.waitForSelector('#confirm[open]')
  assert.equal(await page.textContent('#confirm-yes'), `Yes, ${label.toLowerCase()}`)
  await page.getByRole('button', { name: `Yes, ${label.toLowerCase()}` }).click()
}

/** Polls `read` until `ok(value)`; the dashboard acts through the folder, so the store sees it. */
async function eventually(read, ok, what, ms = 10000) {
  const end = Date.now() + ms
  let last
  while (Date.now() < end) {
    last = await read().catch((err) => err)
    if (ok(last)) return last
    await new Promise((r) => setTimeout(r, 50))
  }
  assert.fail(`${what}; last seen: ${last instanceof Error ? last.code : JSON.stringify(last)}`)
}

test('the page shows the counts of every state, the chart, the schedules, a failed job\'s error and each job\'s detail, and stays live', { skip, timeout: 60000 }, async (t) => {
  const dir = tempDir()
  const { store, ids } = await fillStore(t, dir)
  const { url } = await startDashboard(t, dir)
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'it listens on the loopback address, no token needed there')
  const page = await newPage(t)
  await page.goto(url)

  const stats = await store.stats()
  for (const state of ['pending', 'claimed', 'delayed', 'failed', 'cancelled', 'fulfilled', 'waiting']) {
    assert.equal(await countShown(page, state), stats[state], `${state} count`)
  }
  assert.deepEqual([stats.pending, stats.claimed, stats.delayed, stats.failed, stats.cancelled, stats.fulfilled, stats.waiting], [4, 1, 1, 1, 1, 2, 1])
  assert.match(await page.textContent('#oldest'), /\d+ s/)
  // Another process's counts reach the folder within a second.
  await page.locator('#chart rect.created').first().waitFor({ timeout: 5000 })
  const created = `(${Object.keys(ids).length})`
  await page.waitForFunction((want) => document.getElementById('total-created').textContent === want, created, { timeout: 5000 })
  assert.equal(await page.textContent('#total-failed'), '(1)')
  assert.match(await page.textContent('#schedule-rows'), /hourly-report/)

  // The failed job: its error in the list, then in its detail with its request.
  await page.click('.count[data-state="failed"]')
  const row = page.locator(`tr.job[data-id="${ids.failed}"]`)
  await row.waitFor()
  assert.match(await row.textContent(), /payment service said 503 <b>Service Unavailable<\/b>/)
  await row.click()
  await page.waitForFunction((id) => document.getElementById('detail-id').textContent === id, ids.failed)
  assert.match(await page.textContent('#detail-failures'), /Error: payment service said 503/)
  assert.equal(JSON.parse(await page.textContent('#detail-request')).task, 'charge')
  assert.match(await page.textContent('#detail-fields'), /Attempts\s*1/)

  // A value in bytes is shown as hex and base64; targets waiting are listed.
  await openJob(page, 'fulfilled', ids.bytes)
  assert.match(await page.textContent('#detail-value'), /hex: 000102ff/)
  assert.match(await page.textContent('#detail-value'), /base64: AAEC\/w==/)
  await openJob(page, 'waiting', ids.waiting)
  assert.match(await page.textContent('#detail-value'), /done: 3 pages/)
  assert.match(await page.textContent('#detail-waiting'), /a@example\.com/)

  // A unique key finds its job; the delayed job says when it runs.
  await page.click('.count[data-state="pending"]')
  await page.fill('#search', 'order-42')
  await page.click('#search-form button[type="submit"]')
  await page.locator(`tr.job[data-id="${ids.keyed}"]`).waitFor()
  await openJob(page, 'delayed', ids.delayed)
  assert.match(await page.textContent('#detail-fields'), /Runs at\s*\d{4}-/)

  // Markup in a request is text: nothing runs, no element is made from it.
  await openJob(page, 'pending', ids.markup)
  const shown = JSON.parse(await page.textContent('#detail-request'))
  assert.deepEqual(shown, MARKUP)
  assert.equal(await page.evaluate(() => window.__pwned), undefined)
  assert.equal(await page.locator('#injected').count(), 0)
  assert.equal(await page.locator('#detail img, #detail script').count(), 0)

  // Live: a job made elsewhere shows within two seconds, without a reload.
  const before = await countShown(page, 'pending')
  await store.create({ task: 'new' })
  await page.waitForFunction((n) => Number(document.querySelector('[data-count="pending"]').textContent) === n, before + 1, { timeout: 5000 })

  if (process.env.FS_JOB_STORE_SCREENSHOT) {
    await openJob(page, 'failed', ids.failed)
    await page.screenshot({ path: process.env.FS_JOB_STORE_SCREENSHOT, fullPage: true })
  }
  assert.deepEqual(page.problems, [])
})

test('actions retry, cancel, run now, remove and retry all act on the store, each only after its confirmation', { skip, timeout: 60000 }, async (t) => {
  const dir = tempDir()
  const { store, ids } = await fillStore(t, dir)
  const { url } = await startDashboard(t, dir)
  const page = await newPage(t)
  await page.goto(url)

  // Declining changes nothing.
  await openJob(page, 'failed', ids.failed)
  await page.click('#detail-actions button:text-is("Retry")')
  await page.waitForSelector('#confirm[open]')
  assert.match(await page.textContent('#confirm-text'), /Retry job/)
  await page.getByRole('button', { name: 'No, keep it' }).click()
  await page.waitForSelector('#confirm:not([open])', { state: 'attached' })
  await new Promise((r) => setTimeout(r, 300))
  assert.equal((await store.get(ids.failed)).state, 'failed')

  await confirmAction(page, 'Retry')
  await eventually(() => store.get(ids.failed), (job) => job.state === 'pending', 'the failed job is pending again')

  await openJob(page, 'pending', ids.pending)
  await confirmAction(page, 'Cancel')
  const cancelled = await eventually(() => store.get(ids.pending), (job) => job.state === 'cancelled', 'the job is cancelled')
  assert.equal(cancelled.cancelReason, 'cancelled from the dashboard')

  await openJob(page, 'delayed', ids.delayed)
  await confirmAction(page, 'Run now')
  await eventually(() => store.get(ids.delayed), (job) => job.state === 'pending', 'the delayed job is pending now')

  await openJob(page, 'cancelled', ids.cancelled)
  await confirmAction(page, 'Remove')
  await eventually(() => store.get(ids.cancelled), (err) => err instanceof Error && err.code === 'ENOJOB', 'the job is removed')

  // Retry all failed: two jobs failing now.
  const again = [(await store.create({ n: 1 }, { priority: 9 })).id, (await store.create({ n: 2 }, { priority: 9 })).id]
  for (let i = 0; i < 2; i++) {
    const pulled = await store.pullJob()
    assert.ok(again.includes(pulled.id), `the pull took a job of priority 9: ${pulled.id}`)
    await pulled.fail(new Error(`failure ${i}`))
  }
  await page.click('.count[data-state="failed"]')
  await page.fill('#search', '')
  await page.click('#search-form button[type="submit"]')
  await page.locator(`tr.job[data-id="${again[1]}"]`).waitFor()
  await page.click('#retry-all')
  await page.waitForSelector('#confirm[open]')
  await page.click('#confirm-yes')
  for (const id of again) await eventually(() => store.get(id), (job) => job.state === 'pending', `failed job ${id} retried`)
  assert.deepEqual(await store.list({ state: 'failed' }), [], 'no failed job is left')

  // A job a worker holds can be cancelled; its holder hears of it (its process is told).
  await openJob(page, 'claimed', ids.claimed)
  assert.equal(await page.locator('#detail-actions button:text-is("Remove")').count(), 0, 'a held job cannot be removed')
  await confirmAction(page, 'Cancel')
  await eventually(() => store.get(ids.claimed), (job) => job.state === 'cancelled', 'the held job is cancelled')
  assert.deepEqual(page.problems, [])
})

test('an action sent by another site, or without the page\'s token, is refused and changes nothing', { skip, timeout: 60000 }, async (t) => {
  const dir = tempDir()
  const { store, ids } = await fillStore(t, dir)
  const { url } = await startDashboard(t, dir)
  const target = `${url}api/jobs/${ids.failed}/retry`

  // Another site's page: a form posting to the action, and a fetch with JSON.
  const evil = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' })
    res.end(`<form id=f method=POST action="${target}" enctype="text/plain"><input name='{"a":"' value='1"}'></form>
      <script>
        fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{}' })
        fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{}' })
        setTimeout(() => document.getElementById('f').submit(), 200)
      </script>`)
  })
  await new Promise((r) => evil.listen(0, '127.0.0.1', r))
  t.after(() => closeServer(evil), HOOK)
  const page = await newPage(t)
  const refused = page.waitForResponse((res) => res.url() === target && res.request().method() === 'POST' && res.request().resourceType() === 'document')
  await page.goto(`http://127.0.0.1:${evil.address().port}/`)
  const answer = await refused
  assert.equal(answer.status(), 403)
  assert.equal((await answer.json()).error.code, 'ECSRF')
  assert.equal((await store.get(ids.failed)).state, 'failed', 'the cross-site posts retried nothing')

  // Straight requests: no token, a wrong origin, a GET.
  const page2 = await (await fetch(url)).text()
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(page2)[1]
  const post = (headers) => fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' })
  let res = await post({})
  assert.equal(res.status, 403)
  assert.equal((await res.json()).error.code, 'ECSRF')
  res = await post({ 'x-csrf-token': 'wrong-token-of-the-right-length-xx' })
  assert.equal(res.status, 403)
  res = await post({ 'x-csrf-token': csrf, origin: 'http://evil.example' })
  assert.equal(res.status, 403)
  res = await post({ 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' })
  assert.equal(res.status, 403)
  res = await fetch(target)
  assert.equal(res.status, 405, 'no action from a GET')
  assert.equal((await store.get(ids.failed)).state, 'failed')
  res = await post({ 'x-csrf-token': csrf, origin: new URL(url).origin })
  assert.equal(res.status, 200, 'the page\'s own token from its own origin acts')
  assert.equal((await store.get(ids.failed)).state, 'pending')

  // Another name for this machine's address (DNS rebinding) is not answered.
  res = await new Promise((resolve) => http.get(`${url}api/overview`, { headers: { host: 'rebound.example:80' } }, resolve))
  assert.equal(res.statusCode, 403)
  res.resume()
})

test('on any address but loopback it requires a token, given or generated, and the printed address carries it', { skip, timeout: 60000 }, async (t) => {
  const dir = tempDir()
  const { store, ids } = await fillStore(t, dir)
  const { url } = await startDashboard(t, dir, ['--host', '0.0.0.0'])
  const printed = new URL(url)
  const token = printed.searchParams.get('token')
  assert.ok(token && token.length >= 24, `a generated token is printed: ${url}`)
  const base = `http://127.0.0.1:${printed.port}/`

  for (const headers of [{}, { authorization: 'Bearer not-the-token-at-all-xxxxxxxx' }]) {
    const res = await fetch(`${base}api/overview`, { headers })
    assert.equal(res.status, 401)
    assert.equal((await res.json()).error.code, 'ETOKEN')
  }
  assert.equal((await fetch(base)).status, 401, 'not even the page')
  // A cookie that is not even percent-encoding (planted by another service on the host) neither
  // crashes anything nor keeps the token from working.
  const junk = await fetch(`${base}?token=${token}`, { redirect: 'manual', headers: { cookie: 'fs-job-store-token=%E0%A4%A' } })
  assert.equal(junk.status, 303)
  assert.match(junk.headers.get('set-cookie'), /HttpOnly; SameSite=Lax; Path=\//)
  const ok = await fetch(`${base}api/overview`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal(ok.status, 200)
  assert.equal((await ok.json()).counts.failed, 1)

  // In the browser: the printed address works (the token moves to a cookie), actions too.
  const page = await newPage(t)
  await page.goto(`${base}?token=${token}`)
  assert.equal(new URL(page.url()).search, '', 'the token leaves the address bar')
  assert.equal(await countShown(page, 'failed'), 1)
  await openJob(page, 'failed', ids.failed)
  await confirmAction(page, 'Retry')
  await eventually(() => store.get(ids.failed), (job) => job.state === 'pending', 'retried through a token-protected dashboard')
  // A page without the token gets nothing.
  const stranger = await newPage(t)
  const res = await stranger.goto(base)
  assert.equal(res.status(), 401)
  assert.match(await stranger.textContent('body'), /needs its token/)
})

test('--read-only opens the store read-only, says so on the page, offers no action and refuses any', { skip, timeout: 60000 }, async (t) => {
  const root = tempDir()
  const dir = path.join(root, 'store')
  const { store, ids } = await fillStore(t, dir)
  await store.close()
  // The holder's claim stays; nothing else is writing now.
  const before = snapshot(dir)
  const { url, line } = await startDashboard(t, dir, ['--read-only'])
  assert.match(line, /read-only/)
  const page = await newPage(t)
  await page.goto(url)
  await page.locator('#read-only').waitFor({ state: 'visible' })
  assert.match(await page.textContent('#read-only'), /Read-only/)
  await openJob(page, 'failed', ids.failed)
  for (const button of await page.locator('#detail-actions button').all()) assert.equal(await button.isDisabled(), true)
  const csrf = await page.getAttribute('meta[name="csrf-token"]', 'content')
  const res = await fetch(`${url}api/jobs/${ids.failed}/retry`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: '{}' })
  assert.equal(res.status, 403)
  assert.equal((await res.json()).error.code, 'EREADONLY')
  const reader = new JobStore({ dir, readOnly: true })
  t.after(() => reader.close(), HOOK)
  assert.equal((await reader.get(ids.failed)).state, 'failed')
  assert.deepEqual(snapshot(dir), before, 'the folder is exactly as it was')
})

test('mounted under a base path in node:http, express and fastify, next to the app\'s own routes', { skip, timeout: 60000 }, async (t) => {
  const dir = tempDir()
  const { store, ids } = await fillStore(t, dir)
  const servers = {}

  const plain = createDashboard(store, { basePath: '/admin/jobs' })
  servers.http = http.createServer((req, res) => plain(req, res, () => res.end('app route')))

  const express = require('express')
  const app = express()
  app.use(express.json())
  app.use('/admin/jobs', createDashboard(store))
  app.get('/health', (req, res) => res.send('app route'))
  servers.express = http.createServer(app)

  const fastify = require('fastify')({ logger: false })
  const mounted = createDashboard(store, { basePath: '/admin/jobs' })
  const hand = (request, reply) => {
    reply.hijack()
    request.raw.body = request.body
    mounted(request.raw, reply.raw)
  }
  fastify.all('/admin/jobs', hand)
  fastify.all('/admin/jobs/*', hand)
  fastify.get('/health', async () => 'app route')
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.after(() => fastify.close(), HOOK)

  for (const server of [servers.http, servers.express]) {
    await new Promise((r) => server.listen(0, '127.0.0.1', r))
    t.after(() => closeServer(server), HOOK)
  }
  const ports = { http: servers.http.address().port, express: servers.express.address().port, fastify: fastify.server.address().port }
  // Express at the root with a basePath: the app's other routes still reach their handlers.
  const rooted = express()
  rooted.use(createDashboard(store, { basePath: '/admin/jobs' }))
  rooted.get('/users', (req, res) => res.send('users route'))
  const rootedServer = http.createServer(rooted)
  await new Promise((r) => rootedServer.listen(0, '127.0.0.1', r))
  t.after(() => closeServer(rootedServer), HOOK)
  const rootedOrigin = `http://127.0.0.1:${rootedServer.address().port}`
  assert.equal(await (await fetch(`${rootedOrigin}/users`)).text(), 'users route')
  assert.equal((await (await fetch(`${rootedOrigin}/admin/jobs/api/overview`)).json()).counts.failed, 1)

  for (const [name, port] of Object.entries(ports)) {
    const origin = `http://127.0.0.1:${port}`
    const redirect = await fetch(`${origin}/admin/jobs`, { redirect: 'manual' })
    assert.equal(redirect.status, 308, `${name}: the base path without its slash is redirected`)
    assert.equal(redirect.headers.get('location'), '/admin/jobs/')
    const html = await (await fetch(`${origin}/admin/jobs/`)).text()
    assert.match(html, /assets\/app\.js/, `${name}: the page`)
    const overview = await (await fetch(`${origin}/admin/jobs/api/overview`)).json()
    assert.equal(overview.counts.failed, 1, `${name}: the API`)
    assert.equal(await (await fetch(`${origin}/health`)).text(), 'app route', `${name}: the app's own routes still answer`)
    const page = await newPage(t)
    await page.goto(`${origin}/admin/jobs/`)
    assert.equal(await countShown(page, 'claimed'), 1, `${name}: the page renders`)
    assert.deepEqual(page.problems, [])
  }

  // An action through express (its JSON body already parsed) and fastify (hijacked).
  for (const [name, id] of [['express', ids.failed], ['fastify', ids.pending]]) {
    const page = await newPage(t)
    await page.goto(`http://127.0.0.1:${ports[name]}/admin/jobs/`)
    if (id === ids.failed) {
      await openJob(page, 'failed', id)
      await confirmAction(page, 'Retry')
      await eventually(() => store.get(id), (job) => job.state === 'pending', `${name}: retried`)
    } else {
      await openJob(page, 'pending', id)
      await confirmAction(page, 'Cancel')
      await eventually(() => store.get(id), (job) => job.state === 'cancelled', `${name}: cancelled`)
    }
  }
})

test('bad requests to the API get clear 4xx answers and the server keeps answering', { skip, timeout: 30000 }, async (t) => {
  const dir = tempDir()
  const { ids } = await fillStore(t, dir)
  const { url } = await startDashboard(t, dir)
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(await (await fetch(url)).text())[1]
  const post = (rel, body, type = 'application/json') => fetch(`${url}${rel}`, { method: 'POST', headers: { 'content-type': type, 'x-csrf-token': csrf }, body })
  const cases = [
    [() => fetch(`${url}api/jobs?state=everything`), 400, 'EBADSTATE'],
    [() => fetch(`${url}api/jobs?limit=0`), 400, 'EBADLIMIT'],
    [() => fetch(`${url}api/jobs?limit=1e9`), 400, 'EBADLIMIT'],
    [() => fetch(`${url}api/jobs?after=..%2F..%2Fetc`), 400, 'EINVALIDID'],
    [() => fetch(`${url}api/jobs/..%2F..%2Fetc%2Fpasswd`), 400, 'EINVALIDID'],
    [() => fetch(`${url}api/jobs/%E0%A4%A`), 400, 'EBADPATH'],
    [() => fetch(`${url}api/jobs/job-00000000-0000-7000-8000-000000000000`), 404, 'ENOJOB'],
    [() => fetch(`${url}api/nothing`), 404, 'ENOTFOUND'],
    [() => fetch(`${url}api/overview`, { method: 'PUT' }), 405, 'EMETHOD'],
    [() => post(`api/jobs/${ids.failed}/retry`, '{not json'), 400, 'EBADJSON'],
    [() => post(`api/jobs/${ids.failed}/retry`, '[1]'), 400, 'EBADJSON'],
    [() => post(`api/jobs/${ids.failed}/retry`, 'x'.repeat(70000)), 413, 'ETOOLARGE'],
    [() => post(`api/jobs/${ids.pending}/retry`, '{}'), 409, 'ENOTFAILED'],
    [() => post(`api/jobs/${ids.pending}/run-now`, '{}'), 409, 'ENOTDELAYED'],
    [() => post(`api/jobs/${ids.pending}/cancel`, JSON.stringify({ reason: 7 })), 400, 'EBADREASON'],
    [() => post(`api/jobs/${ids.pending}/explode`, '{}'), 404, 'ENOTFOUND'],
  ]
  for (const [send, status, code] of cases) {
    const res = await send()
    const body = await res.json()
    assert.equal(res.status, status, `${code}: ${JSON.stringify(body)}`)
    assert.equal(body.error.code, code)
    assert.ok(body.error.message.length > 10, 'a message saying what to do')
  }
  // A request line naming another host ('//evil.example') stays a path of this server.
  const odd = await new Promise((resolve) => http.get({ host: '127.0.0.1', port: new URL(url).port, path: '//api/overview' }, resolve))
  assert.equal(odd.statusCode, 404)
  odd.resume()
  assert.equal((await fetch(`${url}api/overview`)).status, 200, 'still answering')
  // The pending job was never touched by the refused requests.
  const reader = new JobStore({ dir, readOnly: true })
  t.after(() => reader.close(), HOOK)
  assert.equal((await reader.get(ids.pending)).state, 'pending')
})

test('fs-job-store top prints the counts and the rates', { timeout: 30000 }, async (t) => {
  const dir = tempDir()
  const store = new JobStore({ dir, durable: false })
  t.after(() => store.close(), HOOK)
  for (let i = 0; i < 3; i++) await store.create({ i })
  const job = await store.pullJob()
  await job.fulfill('ok')
  await job.release()
  const child = spawnNode(t, [BIN, 'top', dir, '--interval', '200ms'])
  // Redrawn until this process's counts (written within a second) show.
  const text = await printed(child, /created\s+3\s+3\n\s+fulfilled\s+1\s+1/)
  assert.match(text, /pending\s+2\n/)
  assert.match(text, /claimed\s+0\n/)
  assert.match(text, /oldest pending: \d/)
  child.kill('SIGINT')
  assert.deepEqual(await child.exited, { code: 0, signal: null })
})

test('the CLI refuses a bad port or token with a usage error', { timeout: 30000 }, async () => {
  const dir = tempDir()
  new JobStore({ dir }).close()
  for (const args of [['--port', 'eighty'], ['--port', '70000'], ['--token', 'short']]) {
    const { code, stderr } = await runFile(BIN, ['dashboard', dir, ...args])
    assert.equal(code, 2, stderr)
    assert.match(stderr, /fs-job-store: bad --(port|token)/)
  }
  assert.ok(execFileSync(process.execPath, [BIN, 'dashboard', '--help']).toString().includes('--read-only'))
})

test('a large value is previewed from its first 64 KiB, never cut inside a character, with its whole size', { timeout: 30000 }, async (t) => {
  const store = new JobStore({ dir: tempDir(), durable: false })
  t.after(() => store.close(), HOOK)
  const { id } = await store.create({ big: true })
  const job = await store.pullJob()
  const value = 'é'.repeat(100000) // 2 bytes each: 200,000 bytes
  await job.fulfill(value)
  await job.release()
  const server = http.createServer(createDashboard(store))
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => closeServer(server), HOOK)
  const detail = await (await fetch(`http://127.0.0.1:${server.address().port}/api/jobs/${id}`)).json()
  assert.equal(detail.value.kind, 'text')
  assert.equal(detail.value.size, 200000)
  assert.equal(detail.value.truncated, true)
  assert.equal(detail.value.text, 'é'.repeat(32768), 'the first 64 KiB, whole characters only')
})
