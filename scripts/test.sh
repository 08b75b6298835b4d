#!/usr/bin/env bash
# The whole test suite, from a fresh machine. Idempotent: installs only what is
# missing, starts only what is stopped. `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }
source scripts/lib.sh # apt_install

# --- PostgreSQL: the machine runs one on 127.0.0.1:5432 (trust auth); start it if it stopped.
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_ready() { psql "$TEST_POSTGRES_URL" -Atqc 'select 1' >/dev/null 2>&1; }
if ! pg_ready; then
  log "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  pg_ready || { echo "PostgreSQL is not reachable at $TEST_POSTGRES_URL" >&2; exit 1; }
fi

# Databases left behind by an interrupted earlier run (tests drop their own on success).
leftovers=$(psql "$TEST_POSTGRES_URL" -Atqc "select datname from pg_database where datname like 'companion_test_%'" || true)
for db in $leftovers; do
  psql "$TEST_POSTGRES_URL" -qc "drop database if exists \"$db\" with (force)" >/dev/null || true
done

# --- s3s-fs: the real S3-compatible server the storage tests start on loopback. Built once per
# machine into ~/.cargo/bin (about 3 minutes); the newest release that builds with Rust 1.95.
if ! command -v s3s-fs >/dev/null 2>&1; then
  log "installing s3s-fs 0.14.1 (once per machine)"
  cargo install s3s-fs@0.14.1 --locked --features binary --quiet
fi

# --- Two more S3 implementations for the storage suites (crates/storage/tests/storage.rs,
# crates/documents/tests/documents.rs): moto's server mode, a second implementation that honours
# create-only writes, and s3rver, which ignores If-None-Match (the store without conditional
# writes). Installed only when missing, pinned.
MOTO_VERSION=5.2.1
installed_moto="$(python3 -m pip show moto 2>/dev/null | sed -n 's/^Version: //p' || true)"
if [ "$installed_moto" != "$MOTO_VERSION" ] || ! command -v moto_server >/dev/null 2>&1 ||
  ! python3 -c 'import flask, flask_cors' >/dev/null 2>&1; then
  log "installing moto[server] $MOTO_VERSION"
  python3 -m pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
S3RVER_VERSION=3.7.1
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
if [ "$(s3rver --version 2>/dev/null || true)" != "$S3RVER_VERSION" ]; then
  log "installing s3rver $S3RVER_VERSION"
  npm install -g --silent --no-audit --no-fund "s3rver@$S3RVER_VERSION"
fi

# --- pg_dump / pg_restore for the PostgreSQL backup and restore test (the server's own tools).
command -v pg_dump >/dev/null 2>&1 && command -v pg_restore >/dev/null 2>&1 || apt_install postgresql-client

# --- OpenSSL headers for the signer's RSA (openssl-sys); Debian development machines have them.
dpkg -s libssl-dev >/dev/null 2>&1 && command -v pkg-config >/dev/null 2>&1 || apt_install libssl-dev pkg-config

# --- Independent PDF validators for the signing tests: poppler's pdfsig (and qpdf, pdftoppm), zbarimg,
# pyHanko. Installed only when missing.
command -v pdfsig >/dev/null 2>&1 && command -v qpdf >/dev/null 2>&1 && command -v zbarimg >/dev/null 2>&1 ||
  apt_install poppler-utils qpdf zbar-tools
PYHANKO_VERSION=0.38.0
# (Read whole, not with `grep -q`, which would close the pipe early; `|| true` because pip show
# fails for a package not installed, which under pipefail and set -e would end the script.)
installed_pyhanko="$(python3 -m pip show pyhanko 2>/dev/null | sed -n 's/^Version: //p' || true)"
if [ "$installed_pyhanko" != "$PYHANKO_VERSION" ] || ! command -v pyhanko >/dev/null 2>&1; then
  log "installing pyHanko $PYHANKO_VERSION"
  python3 -m pip install -q --disable-pip-version-check "pyhanko==$PYHANKO_VERSION" "pyhanko-cli==0.6.0"
fi

# --- An independent OpenAPI validator for the served document (crates/web/tests/http.rs).
OPENAPI_VALIDATOR_VERSION=0.9.0
installed_oasv="$(python3 -m pip show openapi-spec-validator 2>/dev/null | sed -n 's/^Version: //p' || true)"
if [ "$installed_oasv" != "$OPENAPI_VALIDATOR_VERSION" ] || ! command -v openapi-spec-validator >/dev/null 2>&1; then
  log "installing openapi-spec-validator $OPENAPI_VALIDATOR_VERSION"
  python3 -m pip install -q --disable-pip-version-check "openapi-spec-validator==$OPENAPI_VALIDATOR_VERSION"
fi

# --- promtool (Debian package prometheus; /usr/bin/promtool) checks the live /metrics and the alert
# rules (crates/app/tests/metrics_cli.rs). Only the tool is wanted: should the package start its
# service (port 9090; a Docker-style policy-rc.d prevents it), it is stopped and disabled again.
if ! command -v promtool >/dev/null 2>&1; then
  log "installing promtool (Debian package prometheus)"
  apt_install prometheus
  as_root=""; [ "$(id -u)" -eq 0 ] || as_root="sudo"
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    $as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1 && service prometheus status >/dev/null 2>&1; then
    $as_root service prometheus stop >/dev/null 2>&1 || true
  fi
fi

# --- Rust checks and tests. One shared target dir; 2 cores, so no extra parallelism.
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo test"
cargo test --workspace --locked

# --- Against a running server: the binary cargo test just built (target/debug).
log "schemathesis against /api/v1/openapi.json"
bash scripts/api-fuzz.sh
log "browser tests (headless Chromium)"
bash scripts/browser-tests.sh
log "all tests passed"
