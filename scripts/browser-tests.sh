#!/usr/bin/env bash
# Headless Chromium against a demo server built from this checkout: every role signs in on a
# phone and a desktop viewport; screenshots land in $BROWSER_ARTIFACTS (target/browser-artifacts).
# Installs Debian's chromium and the pinned playwright-core when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

[ -x /usr/bin/chromium ] || apt_install chromium
lock=tests/browser/package-lock.json
if [ ! -f tests/browser/node_modules/.package-lock.json ] || [ "$lock" -nt tests/browser/node_modules/.package-lock.json ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

need_bin
dir="$(mktemp -d)"
port="$(free_port)"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
DATA_DIR="$dir" DATABASE_URL="sqlite://$dir/companion.db" LISTEN="127.0.0.1:$port" \
  PUBLIC_BASE_URL="http://127.0.0.1:$port" RUST_LOG=info \
  "$COMPANION_BIN" demo --permits 400 >"$dir/demo.out" 2>"$dir/server.log" &
pid=$!
ready=""
for _ in $(seq 1 180); do
  if grep -q "demo data ready" "$dir/server.log" 2>/dev/null; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
if [ -z "$ready" ]; then
  echo "the demo did not become ready; its log:" >&2; tail -50 "$dir/server.log" >&2; exit 1
fi
out="${BROWSER_ARTIFACTS:-target/browser-artifacts}"
if ! node tests/browser/run.mjs --base "http://127.0.0.1:$port" --logins "$dir/demo-logins.json" --out "$out"; then
  echo "server log (last 50 lines):" >&2; tail -50 "$dir/server.log" >&2; exit 1
fi
