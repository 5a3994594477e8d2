'use strict'
// The package as a user gets it: `npm pack`, installed offline into a new project with no Rust
// toolchain on the PATH. From there, 1.2.0's README scripts (examples/, copied unchanged) run as
// separate processes through `require('fs-job-store')`, and a TypeScript consumer compiles
// against the installed typings. Below that, index.d.ts is checked against the code.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const JobStore = require('..')
const { ROOT, tempDir, runFile } = require('./helpers')

/** What the tarball must hold, and nothing else. Commands named in package.json `bin` are packed too. */
function expectedFiles() {
  const lib = fs.readdirSync(path.join(ROOT, 'lib')).map((name) => `lib/${name}`)
  const binaries = fs.readdirSync(path.join(ROOT, 'native')).filter((name) => name.endsWith('.node'))
  const { bin } = require('../package.json')
  const commands = (typeof bin === 'string' ? [bin] : Object.values(bin || {})).map((file) => path.posix.normalize(file))
  // bin/ is packed whole: the commands and the modules they load.
  for (const name of fs.readdirSync(path.join(ROOT, 'bin'))) if (!commands.includes(`bin/${name}`)) commands.push(`bin/${name}`)
  const docs = fs.readdirSync(path.join(ROOT, 'docs'), { recursive: true }).filter((name) => fs.statSync(path.join(ROOT, 'docs', name)).isFile()).map((name) => `docs/${name}`)
  const dashboard = fs.readdirSync(path.join(ROOT, 'dashboard')).map((name) => `dashboard/${name}`)
  return ['LICENSE', 'README.md', 'index.d.ts', 'index.js', 'package.json', 'native/binding.js', ...lib, ...docs, ...dashboard, ...binaries.map((name) => `native/${name}`), ...commands].sort()
}

/** npm's own entry point, run with this node, so that npm needs nothing else from the PATH. */
function npmCli() {
  const candidates = [process.env.npm_execpath]
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, 'npm'))) candidates.push(fs.realpathSync(path.join(dir, 'npm')))
  }
  const found = candidates.find((file) => file && file.endsWith('npm-cli.js') && fs.existsSync(file))
  if (!found) throw new Error('cannot find npm-cli.js (from npm_execpath or npm on the PATH)')
  return found
}

/**
 * The environment of a user who never installed Rust: no folder with cargo or rustc on the PATH
 * (node comes from a folder of its own), and none of the npm_* settings of the `npm test` that
 * may be running us.
 */
function userEnv(binDir) {
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'NODE_TEST_CONTEXT' && !/^(CARGO|RUSTUP)/.test(key)) env[key] = value
  }
  fs.symlinkSync(process.execPath, path.join(binDir, 'node'))
  const rust = ['cargo', 'rustc', 'rustup']
  const dirs = (process.env.PATH || '').split(path.delimiter).filter((dir) => dir && !rust.some((bin) => fs.existsSync(path.join(dir, bin))))
  env.PATH = [binDir, ...dirs].join(path.delimiter)
  return env
}

/** Runs `node file args` in the user's environment only (see `userEnv`). */
const run = (file, args, options) => runFile(file, args, { ...options, inheritEnv: false })

/** Asserts a clean exit and returns the stdout lines. */
function lines(name, { code, signal, stdout, stderr }) {
  assert.equal(code, 0, `${name} exited with ${code} ${signal || ''}\nstdout: ${stdout}\nstderr: ${stderr}`)
  return stdout.split('\n').filter(Boolean)
}

/** Every line must match `pattern`; returns the matches. */
function parse(name, output, pattern) {
  return output.map((line) => {
    const match = pattern.exec(line)
    assert.ok(match, `${name} printed an unexpected line: ${line}`)
    return match
  })
}

/**
 * Runs a producer, then two workers and a notifier together on one new store folder, each as its
 * own process from the installed project, and checks that every job was fulfilled once with the
 * right sum and every target told of it once.
 */
async function runExamples(project, env, { producer, worker, notifier }, count) {
  const dir = path.join(project, `store-${path.basename(producer, '.js')}`)
  const opts = { cwd: project, env: { ...env, JOB_STORE_DIR: dir, RETRY_MS: '20' } }

  const created = parse(producer, lines(producer, await run(producer, [String(count)], opts)), /^created (\S+): (\d+)\+(\d+) for (\S+)$/)
  assert.equal(created.length, count)
  const jobs = new Map(created.map(([, id, a, b, email]) => [id, { sum: String(Number(a) + Number(b)), email }]))
  assert.equal(jobs.size, count, 'every job has its own id')

  const idle = (ms) => ({ ...opts, env: { ...opts.env, EXIT_WHEN_IDLE_MS: String(ms) } })
  const [w1, w2, ...notifiers] = await Promise.all([run(worker, [], idle(1000)), run(worker, [], idle(1000)), run(notifier, [], idle(1000))])
  // A notifier that found nothing for a second while the workers were slow to start has given
  // up early; as its operator would, start it again for what is still waiting.
  while (notifiers.length < 3 && fs.readdirSync(path.join(dir, 'waiting')).length > 0) notifiers.push(await run(notifier, [], idle(300)))

  const work = [...lines('worker 1', w1), ...lines('worker 2', w2)]
  const fulfilled = parse(worker, work, /^worker (\d+): (\S+) (\d+)\+(\d+) = (\d+)$/)
  assert.deepEqual(fulfilled.map((m) => m[2]).sort(), [...jobs.keys()].sort(), 'every job was fulfilled exactly once')
  for (const [, , id, , , value] of fulfilled) assert.equal(value, jobs.get(id).sum)

  const sent = parse(notifier, notifiers.flatMap((n) => lines(notifier, n)), /^sent (\d+) to (\S+) for (\S+)$/)
  assert.deepEqual(sent.map((m) => m[3]).sort(), [...jobs.keys()].sort(), 'every target was notified exactly once')
  for (const [, value, email, id] of sent) assert.deepEqual({ sum: value, email }, jobs.get(id))

  for (const [id, { sum }] of jobs) {
    assert.equal(fs.readFileSync(path.join(dir, 'jobs', id, 'value'), 'utf8'), sum)
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'jobs', id, 'state.json'), 'utf8')).waiting.length, 0)
  }
  assert.deepEqual(fs.readdirSync(path.join(dir, 'pending')), [], 'nothing left to work on')
  assert.deepEqual(fs.readdirSync(path.join(dir, 'waiting')), [], 'nobody left to notify')
  return new Set(fulfilled.map((m) => m[1]))
}

test('the packed tarball, installed offline without Rust', async (t) => {
  const tmp = tempDir('fjs-pack-')
  const project = path.join(tmp, 'project')
  fs.mkdirSync(project)
  fs.mkdirSync(path.join(tmp, 'bin'))
  const env = userEnv(path.join(tmp, 'bin'))
  const npm = npmCli()

  await t.test('npm pack holds the loader, the binary, index.js, index.d.ts, the dashboard, the docs, README and LICENSE only', () => {
    // With its scripts, as a maintainer packs: prepack takes `prepare` out of the packed
    // package.json and postpack puts it back. Only the host binary is here, so the check that
    // all six passed test:platforms is turned off.
    const before = fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')
    const packed = spawnSync(process.execPath, [npm, 'pack', '--json', '--pack-destination', tmp], {
      cwd: ROOT,
      env: { ...env, FS_JOB_STORE_PACK_UNVERIFIED: '1' },
      encoding: 'utf8',
      timeout: 60000,
    })
    assert.equal(packed.status, 0, packed.stderr)
    assert.equal(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'), before, 'package.json is as it was after packing')
    const [info] = JSON.parse(packed.stdout)
    assert.equal(info.filename, 'fs-job-store-2.0.0.tgz')
    const files = info.files.map((f) => f.path).sort()
    assert.deepEqual(files, expectedFiles())
    assert.ok(
      files.some((f) => f.startsWith(`native/fs-job-store.${process.platform}-${process.arch}`) && f.endsWith('.node')),
      `a binary for ${process.platform}-${process.arch} is packed (run \`npm run build\` first): ${files}`,
    )
  })

  await t.test('installs into a new project offline, with an empty cache and no cargo on the PATH', () => {
    for (const tool of ['cargo', 'rustc']) {
      assert.equal(spawnSync(tool, ['--version'], { env }).error?.code, 'ENOENT', `${tool} is not reachable`)
    }
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
    const cache = path.join(tmp, 'npm-cache')
    const args = ['install', '--offline', '--cache', cache, '--no-audit', '--no-fund', path.join(tmp, 'fs-job-store-2.0.0.tgz')]
    const installed = spawnSync(process.execPath, [npm, ...args], { cwd: project, env, encoding: 'utf8', timeout: 60000 })
    assert.equal(installed.status, 0, `npm install failed\n${installed.stdout}\n${installed.stderr}`)
    assert.doesNotMatch(`${installed.stdout}${installed.stderr}`, /install.scripts|allowScripts/i, 'npm says nothing of install scripts')
    const { scripts = {} } = JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'fs-job-store', 'package.json'), 'utf8'))
    for (const name of ['preinstall', 'install', 'postinstall', 'preprepare', 'prepare', 'postprepare']) {
      assert.equal(scripts[name], undefined, `the packed package.json has no ${name} script`)
    }
    const resolved = spawnSync(process.execPath, ['-p', "require.resolve('fs-job-store')"], { cwd: project, env, encoding: 'utf8' })
    assert.equal(resolved.stdout.trim(), path.join(fs.realpathSync(project), 'node_modules', 'fs-job-store', 'index.js'))
  })

  await t.test("1.2.0's README scripts, unchanged: producer, two workers and a notifier", async () => {
    const scripts = { producer: 'producer.js', worker: 'worker.js', notifier: 'notifier.js' }
    for (const file of Object.values(scripts)) fs.copyFileSync(path.join(ROOT, 'examples', file), path.join(project, file))
    const workers = await runExamples(project, env, scripts, 12)
    t.diagnostic(`jobs worked by ${workers.size} worker process(es)`)
  })

  await t.test('the async/await versions of the same scripts', async () => {
    const scripts = { producer: 'producer-async.js', worker: 'worker-async.js', notifier: 'notifier-async.js' }
    for (const file of Object.values(scripts)) fs.copyFileSync(path.join(ROOT, 'examples', file), path.join(project, file))
    await runExamples(project, env, scripts, 12)
  })

  await t.test("the installed package's dashboard serves its page and counts, offline", async () => {
    const script = `
      const http = require('node:http')
      const JobStore = require('fs-job-store')
      const createDashboard = require('fs-job-store/dashboard')
      const store = new JobStore({ dir: process.argv[1] })
      store.create({ n: 1 }).then(() => {
        const server = http.createServer(createDashboard(store)).listen(0, '127.0.0.1', async () => {
          const base = 'http://127.0.0.1:' + server.address().port + '/'
          const page = await (await fetch(base)).text()
          const script = await fetch(base + 'assets/app.js')
          const { counts } = await (await fetch(base + 'api/overview')).json()
          console.log(JSON.stringify({ page: page.includes('assets/app.js'), script: script.status, pending: counts.pending }))
          server.close()
          store.close()
        })
      })`
    const ran = spawnSync(process.execPath, ['-e', script, path.join(tmp, 'dashboard-store')], { cwd: project, env, encoding: 'utf8', timeout: 30000 })
    assert.equal(ran.status, 0, ran.stderr)
    assert.deepEqual(JSON.parse(ran.stdout), { page: true, script: 200, pending: 1 })
  })

  await t.test('a TypeScript consumer compiles with --strict against the installed typings', () => {
    for (const file of ['usage.ts', 'esm.mts', 'dashboard.ts']) fs.copyFileSync(path.join(__dirname, 'types', file), path.join(project, file))
    // What a TypeScript project has: its own @types/node (here, ours).
    fs.mkdirSync(path.join(project, 'node_modules', '@types'))
    fs.symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(project, 'node_modules', '@types', 'node'), 'dir')
    const config = { compilerOptions: { strict: true, noEmit: true, module: 'nodenext', target: 'es2022', types: ['node'] }, files: ['usage.ts', 'esm.mts', 'dashboard.ts'] }
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(config))
    const tsc = path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc')
    // Under emulation (test:platforms) TypeScript 7's native compiler has no package for the
    // emulated architecture; the host's node runs it then.
    const tscNode = process.env.FJS_TEST_TSC_NODE || process.execPath
    const compiled = spawnSync(tscNode, [tsc, '-p', project], { cwd: project, env, encoding: 'utf8', timeout: 60000 })
    assert.equal(compiled.status, 0, `tsc failed\n${compiled.stdout}\n${compiled.stderr}`)
  })

  await t.test('without a binary for this platform, require says which one and how to build it', () => {
    const other = path.join(tmp, 'no-binary')
    fs.cpSync(path.join(project, 'node_modules', 'fs-job-store'), path.join(other, 'node_modules', 'fs-job-store'), { recursive: true })
    for (const file of fs.readdirSync(path.join(other, 'node_modules', 'fs-job-store', 'native'))) {
      if (file.endsWith('.node')) fs.rmSync(path.join(other, 'node_modules', 'fs-job-store', 'native', file))
    }
    const script = "try { require('fs-job-store') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }"
    const loaded = spawnSync(process.execPath, ['-e', script], { cwd: other, env, encoding: 'utf8' })
    const { code, message } = JSON.parse(loaded.stdout)
    assert.equal(code, 'ENATIVEMISSING')
    assert.ok(message.includes(`${process.platform}-${process.arch}`), message)
    assert.match(message, /build it from source/i)
  })
})

// index.d.ts is written by hand, so it can fall behind index.js. These checks fail when a public
// method, a property of a Job or Notification, or an error code exists at run time but not in
// the typings (or the other way round). What the types say is checked by tsc (__test__/types).

const DTS = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8')

const publicNames = (names) => names.filter((name) => !name.startsWith('_') && name !== 'constructor').sort()

/** The text of a declaration's body: from `head` to the closing brace at `indent`. */
function body(head, indent) {
  const start = DTS.indexOf(head)
  assert.notEqual(start, -1, `index.d.ts declares ${head}`)
  const end = DTS.indexOf(`\n${indent}}\n`, start)
  return DTS.slice(start, end)
}

/** Names of the members (methods and properties) declared in a body at `indent` + 2 spaces. */
function members(text, indent) {
  const pattern = new RegExp(`^${indent}  (?:readonly )?(\\w+)[(:<?]`, 'gm')
  return publicNames([...new Set([...text.matchAll(pattern)].map((m) => m[1]))])
}

test('every public JobStore method and property is typed, and nothing else', () => {
  const store = new JobStore({ dir: tempDir() })
  const runtime = publicNames([...Object.getOwnPropertyNames(JobStore.prototype), ...Object.keys(store)])
  assert.deepEqual(members(body('declare class JobStore', ''), ''), runtime)
  assert.equal(JobStore.JobStore, JobStore)
  assert.equal(JobStore.default, JobStore)
  assert.match(DTS, /export \{ JobStore, JobStore as default \}/)
})

test('a Job and a Notification have exactly the typed members', async () => {
  const store = new JobStore({ dir: tempDir() })
  const { id } = await store.create({ n: 1 })
  await store.queue(id, 't')
  const job = await store.pullJob()
  assert.deepEqual(members(body('export interface Job<', '  '), '  '), publicNames(Object.keys(job)))
  await job.fulfill('v')
  await job.release()
  const note = await store.pullNotification()
  assert.deepEqual(members(body('export interface Notification<', '  '), '  '), publicNames(Object.keys(note)))
  await note.done(null, note.waiting)
})

test('every error code the store can produce is in the ErrorCode union', () => {
  const union = DTS.slice(DTS.indexOf('export type StoreErrorCode'), DTS.indexOf('export type ErrorCode'))
  const typed = new Set([...union.matchAll(/\| '([A-Z_]+)'/g)].map((m) => m[1]))
  assert.ok(typed.has('ECOMPROMISED') && typed.has('ENOSPC'), 'the union was found')
  const sources = [
    path.join(ROOT, 'index.js'),
    ...fs.readdirSync(path.join(ROOT, 'lib')).map((name) => path.join(ROOT, 'lib', name)),
    ...fs.readdirSync(path.join(ROOT, 'src')).map((name) => path.join(ROOT, 'src', name)),
  ]
  const produced = new Set()
  for (const file of sources) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/['"](E[A-Z]{2,}|ERR_[A-Z_]+)['"]/g)) produced.add(m[1])
  }
  const missing = [...produced].filter((code) => !typed.has(code)).sort()
  assert.deepEqual(missing, [], 'codes used in index.js, lib/ or src/ but missing from index.d.ts')
})

/** The stable names of a `named_enum!` in a core source file. */
function coreNames(file, enumName) {
  const src = fs.readFileSync(path.join(ROOT, 'src', file), 'utf8')
  const start = src.indexOf(`pub enum ${enumName} {`)
  assert.notEqual(start, -1, `src/${file} declares ${enumName}`)
  const block = src.slice(start, src.indexOf('\n  }\n', start))
  return [...block.matchAll(/= "([a-z-]+)",/g)].map((m) => m[1]).sort()
}

test("the typings' problem kinds, job states and listings are the core's names", () => {
  const union = (name) => {
    const start = DTS.indexOf(`export type ${name} =`)
    assert.notEqual(start, -1, `index.d.ts declares ${name}`)
    const text = DTS.slice(start, DTS.indexOf('\n\n', start))
    return [...text.matchAll(/'([a-z-]+)'/g)].map((m) => m[1]).sort()
  }
  assert.deepEqual(union('ProblemKind'), coreNames('check.rs', 'ProblemKind'))
  const states = (member) => [...DTS.match(new RegExp(`${member}: ([^\\n]+)`))[1].matchAll(/'([a-z-]+)'/g)].map((m) => m[1]).sort()
  assert.deepEqual(states('    state'), coreNames('inspect.rs', 'Phase'))
  assert.deepEqual(states('    state\\?'), coreNames('inspect.rs', 'Listing'))
})
