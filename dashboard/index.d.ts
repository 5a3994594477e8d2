import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import type JobStore = require('..')

declare namespace createDashboard {
  interface DashboardOptions {
    /** Where it is mounted, for servers that do not strip the path (node:http, fastify). Express's `app.use(path, …)` needs none. */
    basePath?: string
    /** No actions: the page shows the store and refuses every change (also when the store was opened read-only). */
    readOnly?: boolean
    /** Required on every request (at least 16 characters): `Authorization: Bearer <token>`, or once as `?token=` in the page's address. */
    token?: string
    /** Host names the Host header may carry (against DNS rebinding); any when not given. */
    allowedHosts?: string[]
    /** The page's title. */
    title?: string
  }

  /** A request handler for node:http, express, fastify (through `reply.hijack()`) and the like; `next` is called for paths outside `basePath`. */
  type DashboardHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void

  interface ServeOptions {
    /** Default 4400; 0 for any free port. */
    port?: number
    /** Default 127.0.0.1. On any other address a token is required (generated when not given). */
    host?: string
    readOnly?: boolean
    token?: string
  }

  interface Served {
    server: Server
    /** The page's address, with `?token=` when one is required. */
    url: string
    token: string | null
    close(): Promise<void>
  }

  const createDashboard: (store: JobStore, options?: DashboardOptions) => DashboardHandler
  /** Serves the dashboard on its own HTTP server, as `fs-job-store dashboard` does. */
  function serve(store: JobStore, options?: ServeOptions): Promise<Served>
}

/** The dashboard of an open store, as a request handler to mount in an app. */
declare function createDashboard(store: JobStore, options?: createDashboard.DashboardOptions): createDashboard.DashboardHandler
export = createDashboard
