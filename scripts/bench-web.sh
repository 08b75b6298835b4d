#!/usr/bin/env bash
# Benchmark of the permit list page and its API with 100,000 permits, under wrk on loopback.
# Prints p50/p99 latency and requests/s per endpoint, measured side by side in one run.
#   BENCH_PERMITS (100000), BENCH_SECONDS (10), BENCH_CONNECTIONS (32),
#   BENCH_DATABASE_URL (default: a fresh SQLite file; e.g. postgres://postgres@127.0.0.1/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

apt_install wrk curl
cargo build --release --locked -p sicantik-companion
COMPANION_BIN=${CARGO_TARGET_DIR:-target}/release/sicantik-companion
trap stop_servers EXIT

permits="${BENCH_PERMITS:-100000}"
db_url="${BENCH_DATABASE_URL:-}"
if [[ "$db_url" == postgres* ]]; then
  # Start from an empty database of that name (dropped and created again).
  name="${db_url##*/}"; name="${name%%\?*}"
  psql "${db_url%/*}/postgres" -qc "drop database if exists \"$name\" with (force)" -qc "create database \"$name\""
fi
echo "seeding $permits permits…"
start_seeded_server "$permits" "$db_url"
echo "sync: $(cat "$SERVER_DIR/sync.json")"

# A browser session for the page: the login form with its double-submit CSRF token.
jar="$SERVER_DIR/cookies"
csrf=$(curl -fsS -c "$jar" "$SERVER_BASE/masuk" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//;s/"$//')
"$COMPANION_BIN" user password bench.admin >"$SERVER_DIR/pw.txt"
password=$(sed -n 's/^password: //p' "$SERVER_DIR/pw.txt")
curl -fsS -b "$jar" -c "$jar" -o /dev/null "$SERVER_BASE/masuk" \
  --data-urlencode "csrf=$csrf" --data-urlencode "username=bench.admin" --data-urlencode "password=$password"
session=$(awk '$6=="sc_session"{print $7}' "$jar")
[ -n "$session" ] || { echo "login failed" >&2; exit 1; }

seconds="${BENCH_SECONDS:-10}"
conns="${BENCH_CONNECTIONS:-32}"
run() { # NAME PATH HEADER
  local out
  curl -fsS -o /dev/null -H "$3" "$SERVER_BASE$2" || { echo "$1: request fails" >&2; exit 1; }
  out=$(wrk -t"$(( conns < 2 ? 1 : 2 ))" -c"$conns" -d"${seconds}s" --latency -H "$3" "$SERVER_BASE$2")
  local p50 p99 rps non2xx
  p50=$(awk '$1=="50%"{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{print $2}' <<<"$out")
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/{print $5}' <<<"$out")
  printf '| %-34s | %8s | %8s | %9s | %s |\n' "$1" "$p50" "$p99" "$rps" "${non2xx:-0}"
}
echo
echo "$permits permits ($(echo "${db_url:-sqlite://}" | cut -d: -f1)), wrk -t2 -c$conns -d${seconds}s, $(nproc) cores shared by wrk and the server"
echo "| request                            |      p50 |      p99 |     req/s | non-2xx |"
echo "|------------------------------------|----------|----------|-----------|---------|"
cookie="Cookie: sc_session=$session"
bearer="Authorization: Bearer $SERVER_TOKEN"
run "page /izin (50 rows)" "/izin" "$cookie"
run "page /izin?q=… (search)" "/izin?q=ginting" "$cookie"
run "page /izin?status=issued&sort=expiry" "/izin?status=issued&sort=expiry" "$cookie"
run "API /api/v1/permits (50 rows)" "/api/v1/permits" "$bearer"
run "API /api/v1/permits?q=…" "/api/v1/permits?q=ginting" "$bearer"
run "API /api/v1/permits?page=1000" "/api/v1/permits?page=1000" "$bearer"
run "page / (dashboard)" "/" "$cookie"

# The two scans (substring search, expiry sort) once more with one connection: the latency one
# member of staff sees when nobody else is using the server.
conns=1
echo
echo "one connection at a time (wrk -t1 -c1):"
echo "| request                            |      p50 |      p99 |     req/s | non-2xx |"
echo "|------------------------------------|----------|----------|-----------|---------|"
run "page /izin (50 rows)" "/izin" "$cookie"
run "page /izin?q=… (search)" "/izin?q=ginting" "$cookie"
run "page /izin?status=issued&sort=expiry" "/izin?status=issued&sort=expiry" "$cookie"
