# Shared helpers for the test and benchmark scripts (sourced, not run).
# A server started here has its own temporary data folder and free ports, and is stopped when
# the calling script exits.

COMPANION_BIN="${COMPANION_BIN:-${CARGO_TARGET_DIR:-target}/debug/sicantik-companion}"

need_bin() {
  [ -x "$COMPANION_BIN" ] || { echo "no binary at $COMPANION_BIN: build it first (cargo build -p sicantik-companion)" >&2; exit 1; }
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_http() { # URL SECONDS
  for _ in $(seq 1 "$2"); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 1; done
  echo "no answer from $1" >&2; return 1
}

# start_seeded_server PERMITS DATABASE_URL — runs the SICANTIK simulator with PERMITS permits,
# one full sync into the database, an admin account with an API token, then `serve`.
# Sets SERVER_BASE, SERVER_TOKEN and SERVER_DIR; the server's log is $SERVER_DIR/server.log.
start_seeded_server() {
  need_bin
  local permits="$1" db_url="${2:-}"
  SERVER_DIR="$(mktemp -d)"
  [ -n "$db_url" ] || db_url="sqlite://$SERVER_DIR/companion.db"
  local sim_port web_port
  sim_port="$(free_port)"; web_port="$(free_port)"
  "$COMPANION_BIN" simulate sicantik --listen "127.0.0.1:$sim_port" --permits "$permits" \
    >"$SERVER_DIR/sim.log" 2>&1 &
  echo $! >>"$SERVER_DIR/pids"
  export DATABASE_URL="$db_url" SICANTIK_BASE_URL="http://127.0.0.1:$sim_port/backoffice/api" \
    SICANTIK_RATE_LIMIT=1000 LISTEN="127.0.0.1:$web_port" DATA_DIR="$SERVER_DIR" \
    PUBLIC_BASE_URL="http://127.0.0.1:$web_port" RUST_LOG="${RUST_LOG:-warn}" \
    SCHEDULE_LIST_SYNC_MINUTES=1440 STORAGE_URL="file://$SERVER_DIR/objects" \
    INBOX_DIR="$SERVER_DIR/inbox" KEYS_DIR="$SERVER_DIR/keys"
  wait_http "http://127.0.0.1:$sim_port/backoffice/api/jumlahPerizinan" 30
  "$COMPANION_BIN" sync --once --json >"$SERVER_DIR/sync.json"
  "$COMPANION_BIN" user add bench.admin --role admin >/dev/null
  SERVER_TOKEN="$("$COMPANION_BIN" user token bench.admin --label scripts)"
  "$COMPANION_BIN" keys init >/dev/null # signing on, as in production
  "$COMPANION_BIN" serve >"$SERVER_DIR/server.log" 2>&1 &
  echo $! >>"$SERVER_DIR/pids"
  SERVER_BASE="http://127.0.0.1:$web_port"
  wait_http "$SERVER_BASE/healthz" 60
}

stop_servers() {
  if [ -n "${SERVER_DIR:-}" ] && [ -f "$SERVER_DIR/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$SERVER_DIR/pids"
    rm -f "$SERVER_DIR/pids"
  fi
}

# apt_install PACKAGE… — installs missing Debian packages (one `apt-get update` per run).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ -z "${APT_UPDATED:-}" ]; then $sudo apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
