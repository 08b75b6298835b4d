#!/usr/bin/env bash
# Headless Chromium against a demo server built from this checkout: every role signs in on a
# phone and a desktop viewport (tests/browser/run.mjs), then the public portal is used on a
# phone (tests/browser/portal.mjs), then the WhatsApp phone, the survey and /lacak; screenshots
# land in $BROWSER_ARTIFACTS
# (default target/browser-artifacts). Installs Debian's chromium and the pinned playwright-core
# when missing, so it is idempotent and runs on a fresh machine. The server binary is
# $COMPANION_BIN (default target/debug/sicantik-companion, under $CARGO_TARGET_DIR if set).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh # COMPANION_BIN, need_bin, free_port, apt_install

# --- Chromium from Debian (apt-get update only when something must be installed).
[ -x /usr/bin/chromium ] || [ -n "${CHROMIUM:-}" ] || apt_install chromium

# --- playwright-core, exactly as package-lock.json pins it.
command -v node >/dev/null || { echo "node is not installed" >&2; exit 1; }
lock=tests/browser/package-lock.json
installed=tests/browser/node_modules/.package-lock.json
if [ ! -f "$installed" ] || [ "$lock" -nt "$installed" ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- A demo server on a free loopback port, with its own temporary data folder.
need_bin
tmp="$(mktemp -d)"
port="$(free_port)"
base="http://127.0.0.1:$port"
log="$tmp/server.log"
pid=""

fail() { echo "browser tests: $*" >&2; exit 1; }

cleanup() {
  local status=$?
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ]; then
    if [ -f "$log" ]; then
      echo "--- server log, last 50 lines ($log) ---" >&2
      tail -n 50 "$log" >&2
    fi
    echo "data folder kept for inspection: $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# RUST_LOG=info: the readiness line below is an info message.
DATA_DIR="$tmp" LISTEN="127.0.0.1:$port" DATABASE_URL="sqlite://$tmp/companion.db" \
  PUBLIC_BASE_URL="$base" RUST_LOG=info \
  "$COMPANION_BIN" demo --permits 400 >"$log" 2>&1 &
pid=$!

alive() { kill -0 "$pid" 2>/dev/null || fail "the demo server exited early"; }

# Up to 60 s for /healthz to answer and the demo logins to be written.
up=""
for _ in $(seq 1 60); do
  alive
  if curl -fsS -o /dev/null --max-time 2 "$base/healthz" 2>/dev/null && [ -s "$tmp/demo-logins.json" ]; then
    up=1; break
  fi
  sleep 1
done
[ -n "$up" ] || fail "no answer from $base/healthz or no $tmp/demo-logins.json within 60 s"

# Up to 120 s more for the demo data (simulator sync) to finish.
ready=""
for _ in $(seq 1 120); do
  alive
  if grep -q "demo data ready" "$log"; then ready=1; break; fi
  sleep 1
done
[ -n "$ready" ] || fail "the server log never said \"demo data ready\" within 120 s"

node tests/browser/run.mjs --base "$base" --logins "$tmp/demo-logins.json" \
  --out "${BROWSER_ARTIFACTS:-target/browser-artifacts}"
# The public portal at a phone viewport (needs pdftoppm, which scripts/test.sh installs).
node tests/browser/portal.mjs --base "$base" --logins "$tmp/demo-logins.json" \
  --out "${BROWSER_ARTIFACTS:-target/browser-artifacts}"
# WhatsApp: the simulator's phone page (its address is in the demo's output) and the staff pages.
phone="$(sed -n 's/^  WhatsApp simulator: *\(http[^ ]*\).*/\1/p' "$log" | head -1)"
[ -n "$phone" ] || fail "the demo did not print its WhatsApp simulator's address"
node tests/browser/whatsapp.mjs --base "$base" --phone "$phone" --logins "$tmp/demo-logins.json" \
  --out "${BROWSER_ARTIFACTS:-target/browser-artifacts}"
# The satisfaction survey (an open, an answered, an expired and an unknown link) and the staff's
# /skm report, at a phone viewport; the demo writes its two survey links to demo-survey.json.
node tests/browser/survey.mjs --base "$base" --logins "$tmp/demo-logins.json" \
  --survey "$tmp/demo-survey.json" --out "${BROWSER_ARTIFACTS:-target/browser-artifacts}"
# Application tracking on a phone (right, wrong and unknown codes; SICANTIK down, through the
# simulator's control address in the demo's output); the demo writes two applications to
# demo-lacak.json.
sicantik="$(sed -n 's/^  SICANTIK simulator: *\(http[^ ]*\).*/\1/p' "$log" | head -1)"
[ -n "$sicantik" ] || fail "the demo did not print its SICANTIK simulator's address"
node tests/browser/lacak.mjs --base "$base" --sicantik "$sicantik" --lacak "$tmp/demo-lacak.json" \
  --out "${BROWSER_ARTIFACTS:-target/browser-artifacts}"
