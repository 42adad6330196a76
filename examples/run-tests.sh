#!/usr/bin/env bash
# End-to-end tests of every example against a real logi:
#   1. builds logi and the Rust examples (cargo build --workspace),
#   2. starts logi on a free loopback port with a fresh SQLite database and data folder,
#   3. creates a user (`logi user create`),
#   4. runs tests/*.test.mjs (node's test runner): they mint a developer token, register each
#      example's application over the developer API, and drive the examples in headless
#      Chromium (Debian's /usr/bin/chromium through playwright-core) or as child processes.
# Everything it starts is stopped on exit. Screenshots: examples/test-results/screenshots/.
#
# Usage: examples/run-tests.sh [tests/<name>.test.mjs ...]   (default: every test)
# Needs: cargo, node >= 20, `npm ci` done in examples/ (done here when node_modules is missing),
# chromium (CHROMIUM=/path overrides /usr/bin/chromium), python3 with venv (the Python interop
# check makes examples/interop-python/.venv from PyPI; with CI=true its absence fails the run).
set -euo pipefail
cd "$(dirname "$0")"
examples=$PWD
root=$(cd .. && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
# The whole test run (not the build) must finish within this many seconds.
budget="${EXAMPLES_TEST_TIMEOUT:-540}"

step() { printf '\n=== examples: %s ===\n' "$*"; }

step "cargo build --workspace (logi and the Rust examples)"
(cd "$root" && cargo build --workspace --locked)
bin="$CARGO_TARGET_DIR/debug"

[ -d node_modules ] || npm ci --no-audit --no-fund
node scripts/vendor.mjs >/dev/null
[ -x "$CHROMIUM" ] || { echo "no Chromium at $CHROMIUM (apt-get install chromium)"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/logi-examples.XXXXXX")
logi_pid=""
cleanup() {
  status=$?
  if [ -n "$logi_pid" ] && kill -0 "$logi_pid" 2>/dev/null; then
    kill -TERM "$logi_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$logi_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$logi_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$work/logi.log" ]; then
    echo "--- last lines of logi's log ---"
    tail -n 40 "$work/logi.log"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
export LOGI_ISSUER="http://127.0.0.1:$port"
export LOGI_BIND="127.0.0.1:$port"
export LOGI_DATABASE_URL="sqlite://$work/logi.db"
export LOGI_DATA_DIR="$work"
LOGI_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export LOGI_MASTER_KEY
export LOGI_SIGNUP_MAX_PER_IP_PER_HOUR=0
export LOGI_DEVELOPER_TOKENS_MAX_PER_IP_PER_HOUR=0
# The device flow's test need not wait 5 s between polls.
export LOGI_DEVICE_POLL_INTERVAL_SECONDS=1
# Every DPoP client must handle server nonces (RFC 9449 §8): the examples are tested with them.
export LOGI_DPOP_NONCE_REQUIRED=true
export LOGI_LOG="${LOGI_LOG:-info}"

step "logi on $LOGI_ISSUER (database and data in $work)"
# Run from the temporary folder so that no config/default.toml of a checkout applies.
(cd "$work" && NO_COLOR=1 exec "$bin/logi" serve >"$work/logi.log" 2>&1) &
logi_pid=$!
for _ in $(seq 1 100); do
  if node -e "fetch('$LOGI_ISSUER/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then
    break
  fi
  kill -0 "$logi_pid" 2>/dev/null || { echo "logi exited"; cat "$work/logi.log"; exit 1; }
  sleep 0.2
done
node -e "fetch('$LOGI_ISSUER/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" ||
  { echo "logi is not ready"; exit 1; }

export LOGI_USER_EMAIL="person@example.com"
LOGI_USER_PASSWORD="examples $(head -c 12 /dev/urandom | base64)"
export LOGI_USER_PASSWORD
(cd "$work" && "$bin/logi" user create --email "$LOGI_USER_EMAIL" --name "Example Person") >/dev/null

step "node --test tests/"
export LOGI_URL="$LOGI_ISSUER"
export EXAMPLES_BIN_DIR="$bin"
rm -rf "$examples/test-results"
timeout --kill-after=10 "$budget" \
  node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec "${@:-tests/}"
echo "screenshots: $examples/test-results/screenshots/"
