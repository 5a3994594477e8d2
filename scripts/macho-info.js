'use strict'
// Reads a 64-bit Mach-O file and prints, as JSON, what scripts/test-platforms.sh checks of the
// darwin binaries, none of which can be run here:
//   arch, fileType        arm64 or x86_64; 'dylib' is what dlopen (and so Node) takes
//   platform, minos, sdk  from LC_BUILD_VERSION: the oldest macOS that will load it
//   id, dylibs            the install name, and the libraries it needs at load time
//   exports               the names in its export trie (what dlsym can find)
//   signature             the ad-hoc code signature: every page hash recomputed and compared.
//                         macOS on Apple silicon refuses to map arm64 code whose hashes do not
//                         match, so a binary changed after linking (say, stripped) would not load.
//
// Usage: node scripts/macho-info.js FILE

const crypto = require('node:crypto')
const fs = require('node:fs')

const LC_CODE_SIGNATURE = 0x1d
const LC_LOAD_DYLIB = 0xc
const LC_ID_DYLIB = 0xd
const LC_BUILD_VERSION = 0x32
const LC_DYLD_INFO_ONLY = 0x80000022
const LC_DYLD_EXPORTS_TRIE = 0x80000033
const CPU = { 0x01000007: 'x86_64', 0x0100000c: 'arm64' }
const FILE_TYPE = { 1: 'object', 2: 'execute', 6: 'dylib', 8: 'bundle' }
const PLATFORM = { 1: 'macos', 2: 'ios' }

const version = (v) => `${v >>> 16}.${(v >> 8) & 0xff}${v & 0xff ? `.${v & 0xff}` : ''}`

function uleb(buf, at) {
  let value = 0
  let shift = 0
  for (;;) {
    const byte = buf[at++]
    value += (byte & 0x7f) * 2 ** shift
    shift += 7
    if (byte < 0x80) return [value, at]
  }
}

/** The names in an export trie (dyld's prefix tree of exported symbols). */
function exportsOf(trie) {
  const names = []
  const walk = (offset, prefix) => {
    let [infoSize, at] = uleb(trie, offset)
    if (infoSize > 0) names.push(prefix)
    at += infoSize
    const children = trie[at++]
    for (let i = 0; i < children; i++) {
      const end = trie.indexOf(0, at)
      const label = trie.toString('latin1', at, end)
      const [child, next] = uleb(trie, end + 1)
      at = next
      walk(child, prefix + label)
    }
  }
  if (trie.length) walk(0, '')
  return names.sort()
}

/** Recomputes the code directory's page hashes over the file. */
function checkSignature(file, dataoff, datasize) {
  const blob = file.subarray(dataoff, dataoff + datasize)
  if (blob.readUInt32BE(0) !== 0xfade0cc0) return { valid: false, why: 'no embedded signature superblob' }
  const count = blob.readUInt32BE(8)
  for (let i = 0; i < count; i++) {
    const offset = blob.readUInt32BE(12 + i * 8 + 4)
    if (blob.readUInt32BE(offset) !== 0xfade0c02) continue // not a CodeDirectory
    const cd = blob.subarray(offset)
    const flags = cd.readUInt32BE(12)
    const hashOffset = cd.readUInt32BE(16)
    const nCodeSlots = cd.readUInt32BE(28)
    const codeLimit = cd.readUInt32BE(32)
    const hashSize = cd[36]
    const hashType = { 1: 'sha1', 2: 'sha256' }[cd[37]]
    const pageSize = 2 ** cd[39]
    if (!hashType) return { valid: false, why: `unknown hash type ${cd[37]}` }
    let bad = 0
    for (let slot = 0; slot < nCodeSlots; slot++) {
      const page = file.subarray(slot * pageSize, Math.min((slot + 1) * pageSize, codeLimit))
      const want = cd.subarray(hashOffset + slot * hashSize, hashOffset + (slot + 1) * hashSize)
      const got = crypto.createHash(hashType).update(page).digest().subarray(0, hashSize)
      if (!got.equals(want)) bad++
    }
    return {
      valid: bad === 0 && codeLimit === dataoff,
      adhoc: Boolean(flags & 0x2),
      linkerSigned: Boolean(flags & 0x20000),
      hashType,
      pages: nCodeSlots,
      badPages: bad,
      coversUpTo: codeLimit,
      signatureAt: dataoff,
    }
  }
  return { valid: false, why: 'no code directory' }
}

function info(path) {
  const file = fs.readFileSync(path)
  if (file.readUInt32LE(0) !== 0xfeedfacf) throw new Error(`${path} is not a 64-bit little-endian Mach-O file`)
  const out = {
    arch: CPU[file.readUInt32LE(4)] || `cpu ${file.readUInt32LE(4)}`,
    fileType: FILE_TYPE[file.readUInt32LE(12)] || `type ${file.readUInt32LE(12)}`,
    dylibs: [],
    exports: [],
    signature: { valid: false, why: 'no LC_CODE_SIGNATURE' },
  }
  const ncmds = file.readUInt32LE(16)
  let at = 32
  for (let i = 0; i < ncmds; i++) {
    const cmd = file.readUInt32LE(at)
    const size = file.readUInt32LE(at + 4)
    const str = (offset) => file.toString('latin1', at + offset, file.indexOf(0, at + offset))
    if (cmd === LC_BUILD_VERSION) {
      out.platform = PLATFORM[file.readUInt32LE(at + 8)] || String(file.readUInt32LE(at + 8))
      out.minos = version(file.readUInt32LE(at + 12))
      out.sdk = version(file.readUInt32LE(at + 16))
    } else if (cmd === LC_LOAD_DYLIB) out.dylibs.push(str(file.readUInt32LE(at + 8)))
    else if (cmd === LC_ID_DYLIB) out.id = str(file.readUInt32LE(at + 8))
    else if (cmd === LC_DYLD_EXPORTS_TRIE) {
      const off = file.readUInt32LE(at + 8)
      out.exports = exportsOf(file.subarray(off, off + file.readUInt32LE(at + 12)))
    } else if (cmd === LC_DYLD_INFO_ONLY) {
      const off = file.readUInt32LE(at + 40)
      out.exports = exportsOf(file.subarray(off, off + file.readUInt32LE(at + 44)))
    } else if (cmd === LC_CODE_SIGNATURE) {
      out.signature = checkSignature(file, file.readUInt32LE(at + 8), file.readUInt32LE(at + 12))
    }
    at += size
  }
  return out
}

if (require.main === module) {
  if (process.argv.length !== 3) {
    console.error('usage: node scripts/macho-info.js FILE')
    process.exit(2)
  }
  console.log(JSON.stringify(info(process.argv[2]), null, 2))
}

module.exports = { info }
