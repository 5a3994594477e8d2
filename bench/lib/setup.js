'use strict'
// Gets everything the benchmark runs against ready, installing only what is missing:
// - bench/node_modules: plainjob and better-sqlite3 (bench/package.json), kept out of the
//   package's own dependencies;
// - bench/.cache/fs-job-store-1.2.0: 1.2.0's published source with its dependencies, where the
//   unpublishable `proper-lockfile@^0.6.0` is replaced by the nearest published one, 1.2.0;
// - the floor program, built with cargo in release mode.

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const BENCH = path.resolve(__dirname, '..')
const CACHE = path.join(BENCH, '.cache')
const LEGACY_DIR = path.join(CACHE, 'fs-job-store-1.2.0')
const LEGACY_LIB = path.join(LEGACY_DIR, 'package', 'lib', 'index.js')
const FLOOR_MANIFEST = path.join(BENCH, 'floor', 'Cargo.toml')
const FLOOR_BIN = path.join(BENCH, 'floor', 'target', 'release', 'fs-job-store-floor')

// What 1.2.0's lib/index.js requires. `tmp` is not in its package.json (it came in through babel
// at the time); 0.0.33 is the last of the 0.0 line it was written against. babel, debug and
// source-map-support are left out: on Node >= 20 the generator code runs as it is.
const LEGACY_DEPS = {
  'deep-equal': '^1.0.0',
  'finally-aggregator': '^1.1.0',
  'generator-runner': '^2.2.0',
  'knuth-shuffle': '^1.0.1',
  'proper-lockfile': '1.2.0',
  tmp: '0.0.33',
}

function log(msg) {
  process.stderr.write(`[bench setup] ${msg}\n`)
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts })
  if (r.error) throw r.error
  if (r.status !== 0) {
    const err = new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr || r.stdout}`)
    err.stderr = r.stderr
    throw err
  }
  return r.stdout
}

function hasModule(dir, name) {
  return fs.existsSync(path.join(dir, 'node_modules', name, 'package.json'))
}

/** plainjob + better-sqlite3 in bench/node_modules. */
function ensureBenchDeps() {
  if (hasModule(BENCH, 'plainjob') && hasModule(BENCH, 'better-sqlite3')) return
  log('installing bench dependencies (plainjob, better-sqlite3@12; better-sqlite3 may compile for a minute)')
  const lock = fs.existsSync(path.join(BENCH, 'package-lock.json'))
  run('npm', [lock ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: BENCH })
}

/** 1.2.0's source and dependencies in bench/.cache; returns the path of its lib/index.js, or
 * null (with a warning) when it cannot be had. */
function ensureLegacy() {
  if (fs.existsSync(LEGACY_LIB) && Object.keys(LEGACY_DEPS).every((d) => hasModule(LEGACY_DIR, d))) return LEGACY_LIB
  try {
    log('fetching fs-job-store@1.2.0 (npm pack) and its dependencies, with proper-lockfile@1.2.0')
    fs.rmSync(LEGACY_DIR, { recursive: true, force: true })
    fs.mkdirSync(LEGACY_DIR, { recursive: true })
    const tarball = run('npm', ['pack', 'fs-job-store@1.2.0', '--silent', '--pack-destination', LEGACY_DIR], { cwd: LEGACY_DIR })
      .trim()
      .split('\n')
      .pop()
    run('tar', ['-xzf', path.join(LEGACY_DIR, tarball), '-C', LEGACY_DIR])
    // A package.json of our own next to the extracted source: npm installs these into
    // LEGACY_DIR/node_modules, which lib/index.js finds by walking up.
    fs.writeFileSync(
      path.join(LEGACY_DIR, 'package.json'),
      JSON.stringify({ name: 'fs-job-store-1.2.0-reference', private: true, dependencies: LEGACY_DEPS }, null, 2) + '\n',
    )
    run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'], { cwd: LEGACY_DIR })
    return LEGACY_LIB
  } catch (err) {
    log(`1.2.0 is not available, its column stays empty: ${err.message.split('\n')[0]}`)
    return null
  }
}

/** The floor program, built (or found up to date) by cargo. */
function ensureFloor() {
  log('building the floor program (cargo build --release)')
  run('cargo', ['build', '--release', '--quiet', '--manifest-path', FLOOR_MANIFEST], { stdio: ['ignore', 'pipe', 'inherit'] })
  return FLOOR_BIN
}

/** Checks that the store at `root` has its addon built, and in release mode. */
function checkOurs(root) {
  const native = path.join(root, 'native')
  const addon = fs.existsSync(native) && fs.readdirSync(native).find((f) => f.endsWith('.node'))
  if (!addon) {
    throw new Error(`no built addon in ${native}: run \`npm install\` (or \`npm run build\`) in ${root} first`)
  }
  // A debug build keeps its DWARF sections; the release profile strips them.
  const sections = spawnSync('readelf', ['-S', '-W', path.join(native, addon)], { encoding: 'utf8' })
  if (sections.status === 0 && /\s\.debug_info\s/.test(sections.stdout)) {
    log(`warning: ${path.join(native, addon)} looks like a debug build; run \`npm run build\` for the release build`)
  }
  return root
}

module.exports = { ensureBenchDeps, ensureLegacy, ensureFloor, checkOurs, FLOOR_BIN, BENCH }
