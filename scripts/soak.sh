#!/usr/bin/env bash
# Soak benchmark: the demo's whole flow (sync, import, approve, sign, notify, verify) for
# SOAK_SECONDS against the simulators, on two `serve` instances sharing one PostgreSQL database,
# one S3-compatible store (s3s-fs) and one KEYS_DIR. tests/soak/driver.py drives the flow,
# samples every process's RSS, compares the counts at the end and writes the report to stdout
# and target/soak-report.md. Exit 0 only if every check passed.
#   SOAK_SECONDS (600), SOAK_WORKERS (4, permits in flight), SOAK_PERMITS (3000, in the SICANTIK
#   simulator; a few more arrive and are issued every 10 s), SOAK_POSTGRES_URL
#   (postgres://postgres@127.0.0.1:5432), SOAK_KEEP=1 keeps the temporary folder (logs).
# Every credential below is a throwaway made for this run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

seconds="${SOAK_SECONDS:-600}"
pg_admin="${SOAK_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
export PATH="$HOME/.cargo/bin:$PATH" # s3s-fs (installed by scripts/test.sh)
command -v s3s-fs >/dev/null || { echo "s3s-fs not found: run scripts/test.sh once to install it" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql not found" >&2; exit 1; }
psql "$pg_admin/postgres" -qAtc 'SELECT 1' >/dev/null \
  || { echo "PostgreSQL is not reachable at $pg_admin (trust auth expected)" >&2; exit 1; }

cargo build --release --locked -p sicantik-companion
bin="$(pwd)/${CARGO_TARGET_DIR:-target}/release/sicantik-companion"
report="${CARGO_TARGET_DIR:-target}/soak-report.md"

tmp="$(mktemp -d)"
db="soak_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
pids=()
cleaned=""
cleanup() {
  [ -n "$cleaned" ] && return
  cleaned=1
  # Children only, by their recorded ids; the servers first so nothing writes to the database.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  psql "$pg_admin/postgres" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
    || echo "could not drop database $db" >&2
  if [ -n "${SOAK_KEEP:-}" ]; then echo "logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

start() { # NAME COMMAND… — runs in the background, output to $tmp/NAME.log
  local name="$1"; shift
  "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  echo "$name=$!" >>"$tmp/pids"
}

# --- Database and object store -------------------------------------------------------------
psql "$pg_admin/postgres" -qAtc "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="$pg_admin/$db"
s3_port="$(free_port)"
mkdir -p "$tmp/s3/soak" # a bucket is a folder in s3s-fs's data directory
start s3s-fs s3s-fs --host 127.0.0.1 --port "$s3_port" \
  --access-key soak-access --secret-key soak-secret-throwaway "$tmp/s3"
export AWS_ACCESS_KEY_ID=soak-access AWS_SECRET_ACCESS_KEY=soak-secret-throwaway \
  AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port" AWS_REGION=us-east-1 STORAGE_URL=s3://soak

# --- Simulators ----------------------------------------------------------------------------
sic_port="$(free_port)"; tsa_port="$(free_port)"; wa_port="$(free_port)"
a_port="$(free_port)"; b_port="$(free_port)"
start sicantik "$bin" simulate sicantik --listen "127.0.0.1:$sic_port" --permits "${SOAK_PERMITS:-3000}" \
  --advance-every-secs 10
start tsa "$bin" simulate tsa --listen "127.0.0.1:$tsa_port"
# Receipts and inbound messages go to B; the simulator's default credentials.
start whatsapp "$bin" simulate whatsapp --listen "127.0.0.1:$wa_port" \
  --webhook "http://127.0.0.1:$b_port/webhooks/whatsapp" --receipt-delay-ms 200
wait_http "http://127.0.0.1:$sic_port/_sim/stats" 30
wait_http "http://127.0.0.1:$wa_port/_sim/stats" 30
for _ in $(seq 1 30); do grep -q 'END CERTIFICATE' "$tmp/tsa.log" && break; sleep 1; done
grep -q 'END CERTIFICATE' "$tmp/tsa.log" || { echo "the TSA simulator did not start" >&2; exit 1; }

# --- Shared configuration of both instances ------------------------------------------------
export KEYS_DIR="$tmp/keys" DATA_DIR="$tmp/data" INBOX_DIR="" RUST_LOG="${RUST_LOG:-warn}" \
  TSA_URL="http://127.0.0.1:$tsa_port" \
  SICANTIK_BASE_URL="http://127.0.0.1:$sic_port/backoffice/api" SICANTIK_RATE_LIMIT=100 \
  SCHEDULE_LIST_SYNC_MINUTES=1 \
  WHATSAPP_PROVIDER=simulator WHATSAPP_BASE_URL="http://127.0.0.1:$wa_port" \
  WHATSAPP_META_PHONE_NUMBER_ID=100000000000001 WHATSAPP_META_WABA_ID=200000000000002 \
  WHATSAPP_META_ACCESS_TOKEN=sim-access-token WHATSAPP_META_APP_SECRET=sim-app-secret \
  WHATSAPP_QUIET_HOURS=off WHATSAPP_RATE_PER_MINUTE=0 WHATSAPP_RATE_PER_DAY=0 \
  PORTAL_REQUESTS_PER_MINUTE=100000000 PORTAL_UPLOADS_PER_MINUTE=100000000
mkdir -p "$DATA_DIR"

"$bin" migrate >"$tmp/migrate.log" 2>&1 || { cat "$tmp/migrate.log" >&2; exit 1; }
"$bin" keys init >"$tmp/keys.log" 2>&1 || { cat "$tmp/keys.log" >&2; exit 1; }
# The TSA simulator's root (printed on its start) is a trust anchor, as the demo does: without it
# an uploaded signed PDF checks as TIDAK DAPAT DIPASTIKAN (timestamp of an unknown issuer).
mkdir -p "$KEYS_DIR/trusted"
sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' "$tmp/tsa.log" >"$KEYS_DIR/trusted/tsa-simulator.pem"
for account in soak.staff:staff:+6281311110001 soak.official:official:+6281311110002; do
  IFS=: read -r name role phone <<<"$account"
  echo "Soak-Throwaway-$(python3 -c 'import secrets; print(secrets.token_hex(8))')" \
    | "$bin" user add "$name" --role "$role" --password-stdin >/dev/null
  "$bin" user phone "$name" "$phone" >/dev/null
done
SOAK_STAFF_TOKEN="$("$bin" user token soak.staff --label soak)"
SOAK_OFFICIAL_TOKEN="$("$bin" user token soak.official --label soak)"
export SOAK_STAFF_TOKEN SOAK_OFFICIAL_TOKEN

# --- Two instances -------------------------------------------------------------------------
LISTEN="127.0.0.1:$a_port" PUBLIC_BASE_URL="http://127.0.0.1:$a_port" start A "$bin" serve
LISTEN="127.0.0.1:$b_port" PUBLIC_BASE_URL="http://127.0.0.1:$b_port" start B "$bin" serve
wait_http "http://127.0.0.1:$a_port/readyz" 60 || { tail -20 "$tmp/A.log" >&2; exit 1; }
wait_http "http://127.0.0.1:$b_port/readyz" 60 || { tail -20 "$tmp/B.log" >&2; exit 1; }

echo "soak: ${seconds}s, instances A :$a_port and B :$b_port, database $db, logs in $tmp" >&2
set +e
python3 tests/soak/driver.py \
  --seconds "$seconds" --workers "${SOAK_WORKERS:-4}" \
  --a "http://127.0.0.1:$a_port" --b "http://127.0.0.1:$b_port" \
  --sicantik "http://127.0.0.1:$sic_port" --whatsapp "http://127.0.0.1:$wa_port" \
  --bin "$bin" --pids "$tmp/pids" --report "$report" --logs "$tmp"
status=$?
set -e
exit "$status"
