'use strict'
// The dashboard page. Everything read from the store reaches the page through textContent or
// attributes, never as markup: a job's request, error or id is always shown as text.
;(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).getAttribute('content')
  const csrf = meta('csrf-token')
  const STATES = [
    ['pending', 'Pending'],
    ['claimed', 'Claimed'],
    ['delayed', 'Delayed'],
    ['failed', 'Failed'],
    ['cancelled', 'Cancelled'],
    ['fulfilled', 'Fulfilled'],
    ['waiting', 'Waiting notifications'],
  ]
  const PAGE = 25
  const view = { state: 'pending', search: '', cursors: [undefined], page: 0, next: null, selected: null, readOnly: meta('read-only') === 'true', counts: null }
  const $ = (id) => document.getElementById(id)

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag)
    for (const [name, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue
      if (name === 'text') node.textContent = String(value)
      else if (name === 'className') node.className = value
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value)
      else node.setAttribute(name, String(value))
    }
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)))
    return node
  }

  async function api(path) {
    const res = await fetch(path, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
    return answer(res)
  }

  async function post(path, body = {}) {
    const res = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, accept: 'application/json' },
      body: JSON.stringify(body),
    })
    return answer(res)
  }

  async function answer(res) {
    let body = null
    try {
      body = await res.json()
    } catch {
      body = null
    }
    if (!res.ok) {
      const error = (body && body.error) || { code: `HTTP ${res.status}`, message: res.statusText }
      throw Object.assign(new Error(error.message), { code: error.code })
    }
    return body
  }

  function toast(text, bad) {
    const box = $('toast')
    box.textContent = text
    box.className = bad ? 'bad' : ''
    box.hidden = false
    clearTimeout(toast.timer)
    toast.timer = setTimeout(() => (box.hidden = true), bad ? 8000 : 3000)
  }

  const pad = (n) => String(n).padStart(2, '0')
  function when(ms) {
    if (ms === null || ms === undefined) return '–'
    const d = new Date(ms)
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  }
  function age(ms) {
    if (ms === null || ms === undefined) return '–'
    const s = Math.round(ms / 1000)
    if (s < 60) return `${s} s`
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`
  }
  const number = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '–')

  // Counts, chart, schedules: every second.
  async function refreshOverview() {
    const o = await api('api/overview')
    view.counts = o.counts
    $('dir').textContent = o.dir
    view.readOnly = o.readOnly
    $('read-only').hidden = !o.readOnly
    for (const [state] of STATES) document.querySelector(`[data-count="${state}"]`).textContent = number(o.counts[state])
    $('oldest').textContent = o.counts.oldestPendingAgeMs === null || o.counts.oldestPendingAgeMs === undefined ? 'none' : age(o.counts.oldestPendingAgeMs)
    drawChart(o.activity)
    drawSchedules(o.schedules)
    drawTabs()
    $('status').textContent = `Updated ${when(o.now).slice(11)}`
    $('status').className = ''
  }

  function drawChart(minutes) {
    const svg = $('chart')
    const ns = 'http://www.w3.org/2000/svg'
    svg.replaceChildren()
    const top = Math.max(1, ...minutes.map((m) => Math.max(m.created, m.fulfilled, m.failed)))
    const width = 600 / minutes.length
    const bar = width / 3.4
    const totals = { created: 0, fulfilled: 0, failed: 0 }
    minutes.forEach((m, i) => {
      ;['created', 'fulfilled', 'failed'].forEach((kind, k) => {
        totals[kind] += m[kind]
        if (!m[kind]) return
        const h = Math.max(1, (m[kind] / top) * 110)
        const rect = document.createElementNS(ns, 'rect')
        rect.setAttribute('x', String(i * width + 1 + k * bar))
        rect.setAttribute('y', String(120 - h))
        rect.setAttribute('width', String(bar))
        rect.setAttribute('height', String(h))
        rect.setAttribute('class', kind)
        const title = document.createElementNS(ns, 'title')
        title.textContent = `${when(m.at).slice(11, 16)}: ${m[kind]} ${kind}`
        rect.append(title)
        svg.append(rect)
      })
    })
    const base = document.createElementNS(ns, 'line')
    for (const [a, v] of Object.entries({ x1: 0, x2: 600, y1: 119.5, y2: 119.5 })) base.setAttribute(a, String(v))
    svg.append(base)
    for (const kind of Object.keys(totals)) $(`total-${kind}`).textContent = `(${number(totals[kind])})`
    $('chart-peak').textContent = `tallest bar: ${number(top)} in a minute`
  }

  function drawSchedules(schedules) {
    $('no-schedules').hidden = schedules.length > 0
    $('schedule-rows').replaceChildren(...schedules.map((s) => el('tr', {}, el('td', { text: s.name }), el('td', { text: s.rule }), el('td', { text: when(s.next) }), el('td', { text: s.last ? when(s.last) : 'never' }))))
  }

  function drawTabs() {
    $('tabs').replaceChildren(
      ...STATES.map(([state, label]) =>
        el('button', { type: 'button', 'data-state': state, 'aria-pressed': String(view.state === state), onclick: () => choose(state) }, `${label} (${number(view.counts && view.counts[state])})`),
      ),
    )
    for (const card of document.querySelectorAll('.count[data-state]')) card.classList.toggle('selected', card.dataset.state === view.state)
    $('retry-all').hidden = view.state !== 'failed' || view.readOnly
  }

  function choose(state) {
    view.state = state
    view.cursors = [undefined]
    view.page = 0
    drawTabs()
    refreshList().catch(showError)
  }

  function details(job) {
    if (job.state === 'unreadable') return el('span', { className: 'error', text: job.error })
    if (job.error && (job.state === 'failed' || job.state === 'pending' || job.state === 'delayed' || job.state === 'claimed')) return el('span', { className: 'error', text: job.error })
    const bits = []
    if (job.key) bits.push(`key ${job.key}`)
    if (job.runAt) bits.push(`runs at ${when(job.runAt)}`)
    if (job.endedAt) bits.push(`${job.state} ${when(job.endedAt)}`)
    if (job.waiting) bits.push(`${job.waiting} waiting`)
    if (job.progress !== null && job.progress !== undefined) bits.push(`progress ${JSON.stringify(job.progress)}`)
    return document.createTextNode(bits.join(' · '))
  }

  // The list of the chosen state: every two seconds, one page at a time.
  let listAsked = 0
  async function refreshList() {
    // Only the answer to the latest question is drawn: a slow one must not overwrite it.
    const asked = ++listAsked
    const params = new URLSearchParams({ state: view.state, limit: String(PAGE) })
    const after = view.cursors[view.page]
    if (after) params.set('after', after)
    if (view.search) params.set('search', view.search)
    const list = await api(`api/jobs?${params}`)
    if (asked !== listAsked || list.state !== view.state) return
    view.next = list.next
    $('job-rows').replaceChildren(
      ...list.jobs.map((job) =>
        el(
          'tr',
          { className: `job${view.selected === job.id ? ' selected' : ''}`, 'data-id': job.id, onclick: () => select(job.id) },
          el('td', { className: 'id', text: job.id }),
          el('td', { text: job.priority ?? '' }),
          el('td', { text: job.attempts ?? '' }),
          el('td', { text: when(job.createdAt) }),
          el('td', { className: 'details' }, details(job)),
        ),
      ),
    )
    $('empty').hidden = list.jobs.length > 0
    $('prev').disabled = view.page === 0
    $('next').disabled = !list.next
    $('page-info').textContent = `Page ${view.page + 1}${list.byKey ? ' · found by key' : ''}`
  }

  async function select(id) {
    view.selected = id
    for (const row of document.querySelectorAll('tr.job')) row.classList.toggle('selected', row.dataset.id === id)
    await refreshDetail()
  }

  function field(name, value) {
    return [el('dt', { text: name }), el('dd', { text: value })]
  }

  async function refreshDetail() {
    const id = view.selected
    if (!id) return
    let job
    try {
      job = await api(`api/jobs/${encodeURIComponent(id)}`)
    } catch (err) {
      if (err.code === 'ENOJOB') {
        $('detail').hidden = true
        view.selected = null
        return
      }
      throw err
    }
    if (view.selected !== id) return
    $('detail').hidden = false
    $('detail-id').textContent = job.id
    $('detail-fields').replaceChildren(
      ...field('State', job.state),
      ...field('Priority', job.priority),
      ...field('Attempts', job.attempts),
      ...field('Created', when(job.createdAt)),
      ...(job.key ? field('Unique key', job.key) : []),
      ...(job.schedule ? field('Schedule', `${job.schedule.name} (slot ${when(job.schedule.slot)})`) : []),
      ...(job.runAt ? field('Runs at', when(job.runAt)) : []),
      ...(job.fulfilledAt ? field('Fulfilled', when(job.fulfilledAt)) : []),
      ...(job.failedAt ? field('Failed', when(job.failedAt)) : []),
      ...(job.cancelledAt ? field('Cancelled', `${when(job.cancelledAt)}${job.cancelReason ? `: ${job.cancelReason}` : ''}`) : []),
      ...(job.progress !== null && job.progress !== undefined ? field('Progress', JSON.stringify(job.progress)) : []),
      ...field('Version', job.version),
    )
    $('detail-request').textContent = job.request === null ? '(none)' : JSON.stringify(job.request, null, 2)
    $('detail-value-block').hidden = !job.value
    if (job.value) {
      const v = job.value
      $('detail-value-size').textContent = `${v.kind === 'text' ? 'text' : 'bytes'}, ${number(v.size)} bytes${v.truncated ? ', first 64 KiB shown' : ''}`
      $('detail-value').textContent = v.kind === 'text' ? v.text : `hex: ${v.hex}${v.size > 512 ? '…' : ''}\n\nbase64: ${v.base64}`
    }
    $('detail-waiting-block').hidden = job.waiting.length === 0
    $('detail-waiting').textContent = JSON.stringify(job.waiting, null, 2)
    $('detail-failures-block').hidden = job.failures.length === 0
    $('detail-failures').replaceChildren(
      ...job.failures.map((f) => {
        const e = f.error && typeof f.error === 'object' ? f.error : { message: String(f.error) }
        const head = [e.code, e.message].filter(Boolean).join(': ')
        return el('li', {}, el('span', { className: 'muted', text: `${when(f.at)} ` }), el('span', { className: 'error', text: head || JSON.stringify(f.error) }), e.stack ? el('pre', { text: e.stack }) : '')
      }),
    )
    drawActions(job)
  }

  function drawActions(job) {
    const buttons = []
    const action = (label, verb, question, danger) =>
      el('button', { type: 'button', className: `action${danger ? ' danger' : ''}`, 'data-action': verb, disabled: view.readOnly, title: view.readOnly ? 'read-only dashboard' : null, onclick: () => confirmThen(question, label, () => post(`api/jobs/${encodeURIComponent(job.id)}/${verb}`)) }, label)
    if (job.state === 'failed') buttons.push(action('Retry', 'retry', `Retry job ${job.id}? It becomes pending now, its attempts counted from zero.`))
    if (job.state === 'delayed') buttons.push(action('Run now', 'run-now', `Run job ${job.id} now instead of at ${when(job.runAt)}?`))
    if (['pending', 'delayed', 'failed', 'claimed'].includes(job.state)) buttons.push(action('Cancel', 'cancel', `Cancel job ${job.id}? It will never run again${job.state === 'claimed' ? '; the worker running it is told to stop' : ''}.`, true))
    if (job.state !== 'claimed') buttons.push(action('Remove', 'remove', `Remove job ${job.id} and everything it holds (request, value, failures)? This cannot be undone.`, true))
    $('detail-actions').replaceChildren(...buttons)
  }

  /** Asks in a dialog of the page; runs `act` only on the confirming button. */
  function confirmThen(question, label, act) {
    if (view.readOnly) return toast('This dashboard is read-only.', true)
    const dialog = $('confirm')
    $('confirm-text').textContent = question
    // Named apart from the button that opened it, so the two are never confused.
    $('confirm-yes').textContent = `Yes, ${label.toLowerCase()}`
    dialog.showModal()
    $('confirm-yes').onclick = async () => {
      dialog.close()
      try {
        const done = await act()
        toast(done.retried !== undefined ? `Retried ${done.retried} failed job(s)${done.skipped.length ? `; ${done.skipped.length} skipped` : ''}` : `${label}: done`)
      } catch (err) {
        toast(`${label} failed: ${err.code ? `${err.code}: ` : ''}${err.message}`, true)
      }
      await Promise.all([refreshOverview(), refreshList(), refreshDetail()]).catch(showError)
    }
    $('confirm-no').onclick = () => dialog.close()
  }

  function showError(err) {
    $('status').textContent = `Not updated: ${err.message}`
    $('status').className = 'stale'
  }

  /** Runs `work` every `ms` while the page is visible, never two at once. */
  function every(ms, work) {
    let busy = false
    const tick = async () => {
      if (busy || document.hidden) return
      busy = true
      try {
        await work()
      } catch (err) {
        showError(err)
      } finally {
        busy = false
      }
    }
    tick()
    setInterval(tick, ms)
  }

  for (const card of document.querySelectorAll('.count[data-state]')) card.addEventListener('click', () => choose(card.dataset.state))
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault()
    view.search = $('search').value.trim()
    view.cursors = [undefined]
    view.page = 0
    refreshList().catch(showError)
  })
  $('prev').addEventListener('click', () => {
    if (view.page > 0) view.page--
    refreshList().catch(showError)
  })
  $('next').addEventListener('click', () => {
    if (!view.next) return
    view.cursors[view.page + 1] = view.next
    view.page++
    refreshList().catch(showError)
  })
  $('detail-close').addEventListener('click', () => {
    view.selected = null
    $('detail').hidden = true
  })
  $('retry-all').addEventListener('click', () => confirmThen(`Retry all ${number(view.counts && view.counts.failed)} failed jobs? Each becomes pending now.`, 'Retry all', () => post('api/retry-failed')))

  drawTabs()
  every(1000, refreshOverview)
  every(2000, refreshList)
  every(2000, refreshDetail)
})()
