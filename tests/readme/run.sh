#!/usr/bin/env bash
# The README's walk-through, executed: every fenced ```sh block of the sections
#   "Developer API walk-through", "Protecting your own API", "Signing a user in",
#   "Token lifecycle, DPoP and the device flow"
# (found by their headings) runs in one bash shell, in README order, exactly as written, against
# a fresh logi on a free loopback port with SQLite in a temporary folder (the shell's working
# directory, so `logi user create` uses that logi's ./data).
#
# What the test adds, and nothing more:
#   - B points at the test's logi (the README sets B=${B:-http://127.0.0.1:8080}).
#   - `cargo run --release -- ARGS` runs the binary under test with ARGS (nothing is built).
#   - every curl of the README runs with --fail-with-body: an HTTP error fails the block (the
#     README's commands all expect a 2xx; `curl -s` alone would hide it).
#   - the browser steps the README leaves to a person, done with curl between two blocks:
#       * before the block that reads the code (`read -r -p 'code: ' CODE`): open the authorize
#         URL the previous block printed, sign in with the walk-through's account, allow, and
#         type the code from the callback's address into the block's `read`;
#       * before the block that fetches the device-flow tokens: open $B/device in the same
#         browser session, enter the user code the previous block printed, allow.
# Bash runs the blocks with `set -eEo pipefail`: the first failing command stops the test, which
# prints the section, the block, the command and the block's output so far.
#
# Standalone: builds nothing. LOGI_BIN names the binary (default
# $CARGO_TARGET_DIR/debug/logi, CARGO_TARGET_DIR defaulting to ./target). Needs bash, curl
# (≥ 7.76), jq, openssl, awk, sed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readme="$root/README.md"
bin="${LOGI_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/logi}"
sections=(
  "Developer API walk-through"
  "Protecting your own API"
  "Signing a user in"
  "Token lifecycle, DPoP and the device flow"
)

say() { printf '\n=== %s\n' "$*"; }
die() { printf 'readme test: %s\n' "$*" >&2; exit 1; }

[ -x "$bin" ] || die "no logi binary at $bin (build it first, or set LOGI_BIN)"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
for tool in curl jq openssl awk sed; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/logi-readme.XXXXXX")
logi_pid=""
cleanup() {
  local status=$?
  if [ -n "$logi_pid" ] && kill -0 "$logi_pid" 2>/dev/null; then
    kill -TERM "$logi_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$logi_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$logi_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ]; then
    if [ -f "$work/logi.log" ]; then
      echo "--- last lines of logi's log ($work/logi.log) ---"
      tail -n 30 "$work/logi.log"
    fi
    echo "readme test: FAILED (files kept in $work)"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the blocks, by heading ---------------------------------------------------------------
mkdir -p "$work/blocks" "$work/out"
wanted=$(printf '%s\n' "${sections[@]}")
WANTED="$wanted" awk -v dir="$work/blocks" '
  BEGIN { n = split(ENVIRON["WANTED"], want, "\n") }
  /^```/ {
    if (!fence) {
      fence = 1; lang = substr($0, 4); capture = 0
      if (lang == "sh" && section != "") {
        count++; file = sprintf("%s/%02d.sh", dir, count); capture = 1
        printf "%s\n", section > (dir "/" sprintf("%02d", count) ".section")
      }
    } else { fence = 0; capture = 0 }
    next
  }
  !fence && /^## / {
    heading = substr($0, 4); section = ""
    for (i = 1; i <= n; i++) if (want[i] != "" && index(heading, want[i]) == 1) section = want[i]
    next
  }
  capture { print > file }
' "$readme"
blocks=$(cd "$work/blocks" && ls ./*.sh 2>/dev/null | sed 's|^\./||; s|\.sh$||' | sort)
[ -n "$blocks" ] || die "no sh blocks found under the walk-through headings of $readme"
for s in "${sections[@]}"; do
  grep -qxF "$s" "$work"/blocks/*.section || die "README has no sh block under a heading \"$s\""
done

# --- a fresh logi -------------------------------------------------------------------------
port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 40000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || die "no free loopback port"
export LOGI_ISSUER="http://127.0.0.1:$port"
export LOGI_BIND="127.0.0.1:$port"
export LOGI_DATABASE_URL="sqlite://data/logi.db" # ./data of $work, as the README's logi
export LOGI_DATA_DIR="data"
LOGI_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export LOGI_MASTER_KEY
export LOGI_SIGNUP_MAX_PER_IP_PER_HOUR=0
export LOGI_LOG="${LOGI_LOG:-info}"
say "logi $bin on $LOGI_ISSUER (in $work)"
(cd "$work" && NO_COLOR=1 exec "$bin" serve >"$work/logi.log" 2>&1) &
logi_pid=$!
for _ in $(seq 1 100); do
  curl -sf "$LOGI_ISSUER/readyz" >/dev/null 2>&1 && break
  kill -0 "$logi_pid" 2>/dev/null || die "logi exited at start"
  sleep 0.1
done
curl -sf "$LOGI_ISSUER/readyz" >/dev/null || die "logi is not ready"

# --- the shell the blocks run in ------------------------------------------------------------
driver="$work/walkthrough.sh"
{
  cat <<'PRELUDE'
set -eEo pipefail
# fd 4: the test's stderr, for reports made while a block's output goes to its file.
exec 4>&2
__block="" __section="" __signed_in=0 __device_approved=0
__jar="$__work/browser.cookies"

__on_error() {
  local status=$? command=$1
  # A failure inside $( ) is reported once, by the command that used it.
  [ "$BASH_SUBSHELL" -eq 0 ] || return "$status"
  {
    printf '\n*** README block %s (section "%s") failed: exit status %s\n' "$__block" "$__section" "$status"
    printf '*** command: %s\n' "$command"
    printf '*** the block:\n'
    sed 's/^/    | /' "$__work/blocks/$__block.sh"
    if [ -s "$__work/out/$__block.txt" ]; then
      printf '*** its output so far:\n'
      awk '{ print "    > " $0 }' "$__work/out/$__block.txt"
    fi
  } >&4
  exit "$status"
}
trap '__on_error "$BASH_COMMAND"' ERR

# The README runs logi through cargo; the test runs the binary under test instead.
cargo() {
  if [ "${1:-}" = run ] && [ "${2:-}" = --release ] && [ "${3:-}" = -- ]; then
    shift 3
    "$__logi_bin" "$@"
  else
    echo "readme test: unexpected cargo command: cargo $*" >&2
    return 1
  fi
}

# Every README curl must get a 2xx.
curl() { command curl --fail-with-body "$@"; }

__begin() {
  __block=$1
  __section=$(cat "$__work/blocks/$1.section")
  printf '\n=== README block %s (%s)\n' "$1" "$__section"
  sed 's/^/    | /' "$__work/blocks/$1.sh"
}
__end() {
  awk '{ print "    > " $0 }' "$__work/out/$1.txt"
}

# --- the browser steps ---------------------------------------------------------------------
__browser_fail() {
  {
    printf '\n*** browser step after README block %s failed: %s\n' "$__block" "$1"
    [ -f "$__work/page.headers" ] && sed 's/^/    < /' "$__work/page.headers"
    [ -f "$__work/page.html" ] && sed 's/^/    < /' "$__work/page.html" | head -n 80
  } >&4
  exit 1
}
__location() { grep -i '^location:' "$__work/page.headers" | tail -n 1 | cut -d' ' -f2- | tr -d '\r'; }
# GET, following redirects that stay on logi; prints the last status.
__get() {
  local url=$1 status loc i
  for i in 1 2 3 4 5 6 7 8; do
    status=$(command curl -s -o "$__work/page.html" -D "$__work/page.headers" -w '%{http_code}' \
      -b "$__jar" -c "$__jar" "$url")
    case $status in
      301 | 302 | 303 | 307)
        loc=$(__location)
        case $loc in
          /*) url="$B$loc" ;;
          "$B"/*) url=$loc ;;
          *) break ;;
        esac
        ;;
      *) break ;;
    esac
  done
  echo "$status"
}
__unescape() {
  sed -e 's/&#x2f;/\//g' -e 's/&quot;/"/g' -e "s/&#x27;/'/g" -e 's/&lt;/</g' -e 's/&gt;/>/g' \
    -e 's/&amp;/\&/g' "$@"
}
# The hidden inputs (name=value, one a line) of the page's form that posts to $1.
__hidden_fields() {
  __unescape "$__work/page.html" |
    awk -v action="$1" 'index($0, "<form") && index($0, "action=\"" action "\"") { on = 1 }
                        on { print } on && index($0, "</form>") { exit }' |
    grep -o '<input type="hidden" name="[^"]*" value="[^"]*"' |
    sed 's/^<input type="hidden" name="\([^"]*\)" value="\([^"]*\)"$/\1=\2/' || true
}
# POSTs the current page's form for $1 (its hidden inputs, plus "$@" as name=value); does not
# follow the answer's redirect; prints the status.
__submit() {
  local action=$1 field args=()
  shift
  while IFS= read -r field; do args+=(--data-urlencode "$field"); done < <(__hidden_fields "$action")
  [ "${#args[@]}" -gt 0 ] || __browser_fail "no form posting to $action on the page"
  for field in "$@"; do args+=(--data-urlencode "$field"); done
  command curl -s -o "$__work/page.html.next" -D "$__work/page.headers" -w '%{http_code}' \
    -b "$__jar" -c "$__jar" "${args[@]}" "$B$action"
  mv "$__work/page.html.next" "$__work/page.html"
}

# Open the authorize URL the previous block printed, sign in, allow; type the code into the
# next block's `read`.
__sign_in_and_allow() {
  local url status email password loc code
  url=$(grep -o "$B/oauth/authorize?[^ ]*" "$__work/out/$__block.txt" | tail -n 1) ||
    __browser_fail "block $__block printed no $B/oauth/authorize?… URL"
  # The account the walk-through's step 1 created.
  email=$(grep -ho -- "--email [^ ]*" "$__work"/blocks/*.sh | head -n 1 | cut -d' ' -f2)
  password=$(grep -ho "LOGI_USER_PASSWORD='[^']*'" "$__work"/blocks/*.sh | head -n 1 | cut -d"'" -f2)
  [ -n "$email" ] && [ -n "$password" ] || __browser_fail "no account in the walk-through"
  printf '\n=== browser: open %s, sign in as %s, allow\n' "$url" "$email"
  status=$(__get "$url")
  [ "$status" = 200 ] || __browser_fail "the authorize URL answered $status"
  __unescape "$__work/page.html" | grep -q 'action="/login"' || __browser_fail "no sign-in page"
  status=$(__submit /login "email=$email" "password=$password")
  [ "$status" = 303 ] || __browser_fail "sign-in answered $status"
  loc=$(__location)
  case $loc in /*) loc="$B$loc" ;; esac
  status=$(__get "$loc")
  [ "$status" = 200 ] || __browser_fail "after sign-in: $status"
  grep -q 'value="allow"' "$__work/page.html" || __browser_fail "no consent page"
  status=$(__submit /oauth/consent decision=allow)
  [ "$status" = 303 ] || __browser_fail "allow answered $status"
  loc=$(__location)
  printf '    the browser lands on %s\n' "$loc"
  case $loc in
    http://127.0.0.1:8765/callback\?*) ;;
    *) __browser_fail "allow redirected to $loc" ;;
  esac
  case $loc in *"state=xyz"*) ;; *) __browser_fail "no state=xyz in $loc" ;; esac
  code=$(printf '%s\n' "$loc" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
  [ -n "$code" ] || __browser_fail "no code in $loc"
  printf '    code: %s (typed into the next block)\n' "$code"
  exec 0<<<"$code"
  __signed_in=1
}

# Open $B/device in the same browser, enter the code the previous block printed, allow.
__approve_device() {
  local user_code status
  # (The line may follow a JSON answer printed without a newline.)
  user_code=$(sed -n "s|.*open $B/device and enter \([A-Z0-9-]*\)$|\1|p" "$__work/out/$__block.txt" | tail -n 1)
  [ -n "$user_code" ] || __browser_fail "block $__block printed no \"open $B/device and enter …\""
  printf '\n=== browser: open %s/device, enter %s, allow\n' "$B" "$user_code"
  status=$(__get "$B/device")
  [ "$status" = 200 ] || __browser_fail "/device answered $status"
  status=$(__submit /device "user_code=$user_code")
  [ "$status" = 200 ] || __browser_fail "entering the code answered $status"
  grep -q 'value="allow"' "$__work/page.html" || __browser_fail "no device consent page"
  status=$(__submit /device decision=allow)
  [ "$status" = 200 ] || __browser_fail "allow answered $status"
  grep -q 'Device connected' "$__work/page.html" || __browser_fail "the device was not connected"
  __device_approved=1
}
PRELUDE
  for n in $blocks; do
    file="$work/blocks/$n.sh"
    if grep -qF "read -r -p 'code: ' CODE" "$file"; then
      echo "__sign_in_and_allow"
    fi
    if grep -qF -- "-d device_code=" "$file"; then
      echo "__approve_device"
    fi
    echo "__begin $n"
    echo "{"
    cat "$file"
    echo "} >\"\$__work/out/$n.txt\" 2>&1"
    echo "__end $n"
  done
  cat <<'CHECKS'

printf '\n=== checks\n'
[ "$__signed_in" = 1 ] || { echo "readme test: no block asked for the authorization code"; exit 1; }
[ "$__device_approved" = 1 ] || { echo "readme test: no device-flow block after the approval"; exit 1; }
for v in TOKEN CLIENT_ID CLI_ID ID CONF_ID CONF_SECRET VERIFIER CHALLENGE CODE TOKENS ACCESS \
  REFRESH DEVICE DEVICE_CODE DEVICE_TOKENS; do
  if [ -z "${!v:-}" ] || [ "${!v}" = null ]; then
    echo "readme test: the walk-through left $v unset"
    exit 1
  fi
  printf '    %s is set\n' "$v"
done
# The token responses the README shows: the same fields and values.
__shown='.access_token and .refresh_token and .id_token and .token_type == "Bearer"
  and .expires_in == 600 and .scope == "openid offline_access"'
echo "$TOKENS" | jq -e "$__shown" >/dev/null ||
  { echo "readme test: the code exchange differs from the README's sample: $TOKENS"; exit 1; }
echo "$DEVICE_TOKENS" | jq -e "$__shown" >/dev/null ||
  { echo "readme test: the device flow differs from the README's sample: $DEVICE_TOKENS"; exit 1; }
printf '    the token responses match the README samples\n'
CHECKS
} >"$driver"

say "running $(echo "$blocks" | wc -w) README blocks from $readme"
(
  cd "$work"
  export B="$LOGI_ISSUER" __work="$work" __logi_bin="$bin" NO_COLOR=1
  exec bash "$driver" </dev/null
)
say "README walk-through: every block passed"
