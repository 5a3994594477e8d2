'use strict'
// `npm pack` and `npm publish` run this around packing (package.json prepack and postpack).
//
//   node scripts/pack-manifest.js strip     (prepack)
//     1. Refuses to pack binaries that `npm run test:platforms` has not passed: all six must be in
//        native/, each with the checksum the last passing run recorded in
//        target/platforms-verified.json. FS_JOB_STORE_PACK_UNVERIFIED=1 packs whatever native/
//        holds (the tests do, to pack the host binary alone).
//     2. Takes `prepare` out of package.json, so that the packed package.json has no script that
//        npm runs on install: a clone builds on `npm install` (prepare runs `npm run build`), the
//        packed package has nothing to build. package.json is kept in target/ meanwhile.
//   node scripts/pack-manifest.js restore   (postpack)
//     Puts package.json back as it was.
//
// If a pack fails between the two, the next `strip` (or `restore`) puts package.json back first.

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const MANIFEST = path.join(ROOT, 'package.json')
const KEPT = path.join(ROOT, 'target', 'package.json.prepack')
const VERIFIED = path.join(ROOT, 'target', 'platforms-verified.json')
const PLATFORMS = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'linux-arm64-musl', 'darwin-x64', 'darwin-arm64']
/** Scripts npm runs when a package is installed; none may be in the packed package.json. */
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'preprepare', 'prepare', 'postprepare']

const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')

function fail(message) {
  console.error(`pack-manifest: ${message}`)
  process.exit(1)
}

function checkBinaries() {
  if (process.env.FS_JOB_STORE_PACK_UNVERIFIED === '1') {
    const found = fs.readdirSync(path.join(ROOT, 'native')).filter((name) => name.endsWith('.node'))
    console.error(`pack-manifest: FS_JOB_STORE_PACK_UNVERIFIED=1: packing ${found.join(', ') || 'no binary'} unchecked`)
    return
  }
  let verified = {}
  try {
    verified = JSON.parse(fs.readFileSync(VERIFIED, 'utf8')).files || {}
  } catch {}
  const problems = []
  for (const platform of PLATFORMS) {
    const name = `fs-job-store.${platform}.node`
    const file = path.join(ROOT, 'native', name)
    if (!fs.existsSync(file)) problems.push(`${name} is missing`)
    else if (verified[name] !== sha256(file)) problems.push(`${name} has not passed test:platforms as it is now`)
  }
  if (problems.length) {
    fail(`${problems.join('; ')}. Run \`npm run build:all && npm run test:platforms\` first (or set FS_JOB_STORE_PACK_UNVERIFIED=1 to pack what native/ holds).`)
  }
}

function restore() {
  if (!fs.existsSync(KEPT)) return false
  fs.copyFileSync(KEPT, MANIFEST)
  fs.rmSync(KEPT)
  return true
}

function strip() {
  if (restore()) console.error('pack-manifest: put back package.json from a pack that did not finish')
  checkBinaries()
  const text = fs.readFileSync(MANIFEST, 'utf8')
  const manifest = JSON.parse(text)
  fs.mkdirSync(path.dirname(KEPT), { recursive: true })
  fs.writeFileSync(KEPT, text)
  for (const name of INSTALL_SCRIPTS) delete manifest.scripts[name]
  fs.writeFileSync(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`)
}

const command = process.argv[2]
if (command === 'strip') strip()
else if (command === 'restore') restore()
else fail('usage: node scripts/pack-manifest.js strip|restore')
