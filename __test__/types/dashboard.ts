// A TypeScript consumer of the dashboard's typings (compiled only, as usage.ts is).

import http = require('node:http')
import JobStore = require('fs-job-store')
import createDashboard = require('fs-job-store/dashboard')

const store = new JobStore({ dir: '/srv/jobs' })
const handler: createDashboard.DashboardHandler = createDashboard(store, { basePath: '/admin/jobs', readOnly: false, token: 'a-long-enough-secret-token' })
http.createServer((req, res) => handler(req, res, () => res.end('app route')))
createDashboard.serve(store, { port: 0, host: '127.0.0.1' }).then(({ url, token, close }) => {
  const address: string = url
  const secret: string | null = token
  return close().then(() => [address, secret])
})
// @ts-expect-error basePath is a path
createDashboard(store, { basePath: 1 })
// @ts-expect-error a store is needed
createDashboard()

const page: Promise<string[]> = store.list({ state: 'claimed', limit: 50, after: 'job-x', newestFirst: true, search: 'abc' })
const fulfilled: Promise<number> = store.activity().then((minutes) => minutes[0].fulfilled)
const ran: Promise<void> = store.runNow('job-x')
const byKey: Promise<string | undefined> = store.jobOfKey('order-42')
store.runNow('job-x', (err) => err && err.code === 'ENOTDELAYED')
// @ts-expect-error no such state
store.list({ state: 'busy' })
export { page, fulfilled, ran, byKey }
