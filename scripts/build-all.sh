#!/usr/bin/env bash
# Builds every binary the package ships into native/, from a Linux x64 machine:
#
#   linux-x64-gnu, linux-arm64-gnu    glibc 2.17 and later   (cargo-zigbuild, zig's glibc 2.17 stubs)
#   linux-x64-musl, linux-arm64-musl  Alpine and other musl  (cargo-zigbuild)
#   darwin-x64, darwin-arm64          macOS 11 and later     (rust-lld, libSystem stubs from zig)
#
# Usage: npm run build:all [-- PLATFORM...]   e.g. `npm run build:all -- linux-arm64-gnu`
#
# What it needs and does not find, it installs from the package registries: the dev
# dependencies with the napi CLI (npm ci --ignore-scripts), the Rust targets (rustup target
# add), zig and cargo-zigbuild (pip install ziglang cargo-zigbuild), plus a two-line `zig`
# wrapper that runs `python3 -m ziglang`. Run it again and it installs nothing.
# Builds run one at a time. Check the result with `npm run test:platforms`.
#
# The darwin binaries are linked by rust-lld (ld64 flavour) rather than by zig: zig's Mach-O
# linker ignores -exported_symbols_list, so every Rust symbol (over 3,000) ended up exported
# and could not be stripped. rust-lld honours the list rustc hands it: the binary exports
# napi_register_module_v1 only. It links against the text stubs (.tbd) of libSystem that the
# ziglang package carries, so no macOS SDK is needed.
set -euo pipefail
{ # read whole before it runs, so that editing this file meanwhile cannot derail a run
cd "$(dirname "$0")/.."
ROOT=$PWD
BINARY=fs-job-store
TOOLS=$ROOT/target/cross-tools
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1
export MACOSX_DEPLOYMENT_TARGET=11.0

# platform (the file's name in native/) -> Rust target (with the glibc version for gnu).
declare -A TARGET=(
  [linux-x64-gnu]=x86_64-unknown-linux-gnu.2.17
  [linux-arm64-gnu]=aarch64-unknown-linux-gnu.2.17
  [linux-x64-musl]=x86_64-unknown-linux-musl
  [linux-arm64-musl]=aarch64-unknown-linux-musl
  [darwin-x64]=x86_64-apple-darwin
  [darwin-arm64]=aarch64-apple-darwin
)
ALL=(linux-x64-gnu linux-arm64-gnu linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64)

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'build-all: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || die "runs on Linux x64 only (this is $(uname -s)-$(uname -m))"
PLATFORMS=("$@")
[ ${#PLATFORMS[@]} -gt 0 ] || PLATFORMS=("${ALL[@]}")
for p in "${PLATFORMS[@]}"; do
  [ -n "${TARGET[$p]:-}" ] || die "unknown platform '$p' (one of: ${ALL[*]})"
done
for tool in rustup cargo rustc python3 node; do
  command -v "$tool" >/dev/null || die "$tool is not on the PATH"
done
if [ ! -x node_modules/.bin/napi ]; then
  say "npm ci --ignore-scripts (for the napi CLI; without building the addon for this machine)"
  npm ci --ignore-scripts --no-audit --no-fund
fi

say "Rust targets"
installed=$(rustup target list --installed)
for p in "${PLATFORMS[@]}"; do
  t=${TARGET[$p]%.2.17}
  if grep -qx "$t" <<<"$installed"; then echo "have $t"; else rustup target add "$t"; fi
done

say "zig and cargo-zigbuild"
mkdir -p "$TOOLS/bin"
# A Python whose pip may install (a system Python that refuses, PEP 668, gets a venv of ours).
PYTHON=python3
[ -x "$TOOLS/venv/bin/python3" ] && PYTHON=$TOOLS/venv/bin/python3
pip_install() {
  "$PYTHON" -m pip install --disable-pip-version-check "$@" && return
  [ "$PYTHON" = python3 ] || return 1
  python3 -m venv "$TOOLS/venv"
  PYTHON=$TOOLS/venv/bin/python3
  "$PYTHON" -m pip install --disable-pip-version-check "$@"
}
python_bin() { "$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'; }
if ! "$PYTHON" -m ziglang version >/dev/null 2>&1; then pip_install "ziglang==$ZIGLANG_VERSION"; fi
export PATH="$TOOLS/bin:$(python_bin):$PATH"
if ! command -v cargo-zigbuild >/dev/null; then
  pip_install "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  export PATH="$TOOLS/bin:$(python_bin):$PATH"
fi
if ! command -v zig >/dev/null || [ "$(command -v zig)" = "$TOOLS/bin/zig" ]; then
  printf '#!/bin/sh\nexec %s -m ziglang "$@"\n' "$PYTHON" >"$TOOLS/bin/zig"
  chmod +x "$TOOLS/bin/zig"
fi
echo "zig $(zig version), $(cargo-zigbuild --version)"

# For the darwin targets: a folder standing in for the macOS SDK, holding the libSystem stubs
# zig ships (its arm64 entries spelled arm64e there, which ld64.lld does not take for arm64),
# and the linker wrapper that rustc calls.
darwin_sdk() {
  local sdk=$TOOLS/macos-sdk host rust_lld
  mkdir -p "$sdk/usr/lib"
  "$PYTHON" - "$sdk/usr/lib" <<'EOF'
import os, re, sys, ziglang
out = sys.argv[1]
tbd = open(os.path.join(os.path.dirname(ziglang.__file__), 'lib', 'libc', 'darwin', 'libSystem.tbd')).read()
tbd = re.sub(r'arm64e\.x1-(macos|maccatalyst),?\s*', '', tbd)
tbd = re.sub(r',\s*(?=\])', '', tbd)
tbd = tbd.replace('arm64e-macos', 'arm64-macos').replace('arm64e-maccatalyst', 'arm64-maccatalyst')
open(os.path.join(out, 'libSystem.tbd'), 'w').write(tbd)
# rustc asks for -lc and -lm (parts of libSystem), and the libc crate for -liconv.
for name in ('libc.tbd', 'libm.tbd'):
    path = os.path.join(out, name)
    if not os.path.lexists(path):
        os.symlink('libSystem.tbd', path)
open(os.path.join(out, 'libiconv.tbd'), 'w').write('''--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '/usr/lib/libiconv.2.dylib'
current-version: 7
compatibility-version: 7
exports:
  - targets:         [ x86_64-macos, arm64-macos ]
    symbols:         [ _iconv, _iconv_close, _iconv_open ]
...
''')
EOF
  host=$(rustc -vV | sed -n 's/^host: //p')
  rust_lld=$(rustc --print sysroot)/lib/rustlib/$host/bin/rust-lld
  [ -x "$rust_lld" ] || die "rust-lld is missing from the Rust toolchain ($rust_lld)"
  cat >"$TOOLS/bin/darwin-ld" <<EOF
#!/bin/sh
# rustc's linker for the darwin targets (made by scripts/build-all.sh). rustc calls it with
# "-flavor darwin" first; napi-build adds cc-style "-Wl,..." arguments, which ld64 takes bare.
for a in "\$@"; do
  shift
  case "\$a" in
    -Wl) ;;
    -Wl,*) IFS=,; for b in \${a#-Wl,}; do set -- "\$@" "\$b"; done; unset IFS ;;
    *) set -- "\$@" "\$a" ;;
  esac
done
exec "$rust_lld" "\$@"
EOF
  chmod +x "$TOOLS/bin/darwin-ld"
  echo "$sdk"
}

# No absolute path of this machine in the binaries: panic messages name source files.
BASE_RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$ROOT=. --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
[ ${#PLATFORMS[@]} -eq ${#ALL[@]} ] && rm -f native/*.node

for p in "${PLATFORMS[@]}"; do
  t=${TARGET[$p]}
  say "$p ($t)"
  out=native/$BINARY.$p.node
  rm -f "$out"
  start=$SECONDS
  case $p in
    darwin-*)
      sdk=$(darwin_sdk)
      cargo_target=$(tr 'a-z-' 'A-Z_' <<<"$t")
      env "CARGO_TARGET_${cargo_target}_LINKER=$TOOLS/bin/darwin-ld" SDKROOT="$sdk" \
        RUSTFLAGS="$BASE_RUSTFLAGS -C linker-flavor=ld64.lld -C link-arg=-install_name -C link-arg=@rpath/$BINARY.$p.node -C link-arg=-dead_strip_dylibs" \
        node_modules/.bin/napi build --platform --release --target "$t" -o native --js binding.js --dts binding.d.ts
      ;;
    *)
      RUSTFLAGS="$BASE_RUSTFLAGS" node_modules/.bin/napi build --platform --release --target "$t" -x -o native --js binding.js --dts binding.d.ts
      ;;
  esac
  [ -f "$out" ] || die "the build of $t did not write $out"
  echo "$out: $(stat -c %s "$out") bytes, built in $((SECONDS - start)) s"
done

say "native/"
ls -l native/
exit
}
