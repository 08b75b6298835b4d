#!/usr/bin/env bash
# The portal's upload flood in a release build: FLOOD_UPLOADS (64) concurrent 19 MB PDFs with
# 32 signatures each against one server, a genuine permit checked in the middle. Prints how many
# were checked and how many were asked to retry, the server's RSS before / at its peak / after,
# and how long the genuine check took; fails if the peak reaches 300 MB, memory is not given
# back, or the genuine check does not read ASLI (crates/app/tests/portal_flood.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
export FLOOD_UPLOADS="${FLOOD_UPLOADS:-64}"
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cargo test --release --locked -p sicantik-companion --test portal_flood -- --nocapture 2>&1 |
  grep -E "flood of|test result|panicked|peak RSS|RSS after"
