#!/usr/bin/env bash
# Benchmark of the public QR page /v/<id> under wrk on loopback, next to nginx serving a static
# file of the same size, in the same run. The companion runs the demo (release build) with the
# portal's per-client limit lifted; nginx gets as many workers as the machine has cores.
#   BENCH_SECONDS (10), BENCH_CONNECTIONS (32)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

apt_install wrk curl nginx
cargo build --release --locked -p sicantik-companion
bin=${CARGO_TARGET_DIR:-target}/release/sicantik-companion
tmp="$(mktemp -d)"
port="$(free_port)"; nginx_port="$(free_port)"
base="http://127.0.0.1:$port"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

export DATA_DIR="$tmp/data" LISTEN="127.0.0.1:$port" DATABASE_URL="sqlite://$tmp/data/companion.db" \
  PUBLIC_BASE_URL="$base" PORTAL_REQUESTS_PER_MINUTE=100000000 RUST_LOG=warn
mkdir -p "$DATA_DIR"
"$bin" demo --permits 400 >"$tmp/demo.log" 2>&1 &
pids+=($!)
# Wait for the demo's accounts, then for its signed documents, through the CLI and the API.
token=""
for _ in $(seq 1 120); do
  token="$("$bin" user token demo.admin --label bench 2>/dev/null || true)"
  [ -n "$token" ] && break
  sleep 1
done
[ -n "$token" ] || { echo "the demo never created its accounts" >&2; exit 1; }
vid=""
for _ in $(seq 1 120); do
  vid=$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/signing/cases?state=published" 2>/dev/null \
    | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c[0]["verification_id"] if c else "")' 2>/dev/null || true)
  [ -n "$vid" ] && break
  sleep 1
done
[ -n "$vid" ] || { echo "the demo published no signed document" >&2; tail -20 "$tmp/demo.log" >&2; exit 1; }

# The same bytes as a static file for nginx.
mkdir -p "$tmp/www"
chmod 755 "$tmp" "$tmp/www" # nginx's workers run as another user
curl -fsS "$base/v/$vid" -o "$tmp/www/page.html"
chmod 644 "$tmp/www/page.html"
size=$(stat -c %s "$tmp/www/page.html")
cat >"$tmp/nginx.conf" <<CONF
worker_processes $(nproc);
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$nginx_port;
    root $tmp/www;
    location / { default_type text/html; }
  }
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp" -g 'daemon off;' &
pids+=($!)
wait_http "http://127.0.0.1:$nginx_port/page.html" 10

seconds="${BENCH_SECONDS:-10}"
conns="${BENCH_CONNECTIONS:-32}"
declare -A RPS P99
run() { # NAME URL
  local out
  out=$(wrk -t2 -c"$conns" -d"${seconds}s" --latency "$2")
  RPS[$1]=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  P99[$1]=$(awk '$1=="99%"{print $2}' <<<"$out")
  local p50 non2xx
  p50=$(awk '$1=="50%"{print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/{print $5}' <<<"$out")
  printf '| %-30s | %8s | %8s | %9s | %s |\n' "$1" "$p50" "${P99[$1]}" "${RPS[$1]}" "${non2xx:-0}"
}
echo
echo "QR page /v/<id> ($size bytes) vs nginx static file, wrk -t2 -c$conns -d${seconds}s, $(nproc) cores shared by wrk and the server"
echo "| server                         |      p50 |      p99 |     req/s | non-2xx |"
echo "|--------------------------------|----------|----------|-----------|---------|"
run "companion /v/<id>" "$base/v/$vid"
run "nginx, same size static file" "http://127.0.0.1:$nginx_port/page.html"
# For scale: the same server's cheapest answer, through the same router and middleware.
run "companion /healthz (for scale)" "$base/healthz"
python3 - "${RPS[companion /v/<id>]}" "${RPS[nginx, same size static file]}" <<'PY'
import sys
ours, nginx = float(sys.argv[1]), float(sys.argv[2])
print(f"\ncompanion / nginx requests/s: {ours / nginx:.2f} (goal ≥ 0.50)")
PY
