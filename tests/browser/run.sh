#!/usr/bin/env bash
# logi's pages in headless Chromium (tests/browser/passkeys.test.mjs): builds logi, serves it
# on a free loopback port with a temporary SQLite database and master key, runs the tests with
# node's test runner, and stops everything however the tests end.
#
# Uses CARGO_TARGET_DIR like cargo does. Needs node (>= 20) and Chromium (`apt-get install -y chromium`; CHROMIUM names another
# binary). Installs playwright-core from package-lock.json when node_modules is missing.
# The issuer is http://localhost:PORT: browsers accept localhost (not 127.0.0.1) as a WebAuthn
# relying party id.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

export CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$CHROMIUM" ]; then
  echo "Chromium is not installed (apt-get install -y chromium)" >&2
  exit 1
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

# LOGI_BIN: an already built binary (CI builds everything before the tests).
logi="${LOGI_BIN:-}"
if [ -z "$logi" ]; then
  (cd "$root" && cargo build --locked --bin logi)
  logi="$CARGO_TARGET_DIR/debug/logi"
fi

work="$(mktemp -d)"
port="$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Run from the temporary folder: no config/default.toml is read, only these variables.
(
  cd "$work"
  export LOGI_ISSUER="http://localhost:$port"
  export LOGI_BIND="127.0.0.1:$port"
  export LOGI_DATA_DIR="$work/data"
  export LOGI_DATABASE_URL="sqlite://$work/data/logi.db"
  export LOGI_MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
  export LOGI_SIGNUP_MAX_PER_IP_PER_HOUR=0
  export RUST_LOG="${RUST_LOG:-warn}"
  exec "$logi" serve
) >"$work/logi.log" 2>&1 &
pid=$!

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$work/logi.log" >&2
    echo "logi did not start" >&2
    exit 1
  fi
  sleep 0.1
done

status=0
LOGI_URL="http://localhost:$port" node --test --test-concurrency=1 "$here"/*.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- logi log ---" >&2
  tail -n 100 "$work/logi.log" >&2
fi
exit "$status"
