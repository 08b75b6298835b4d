#!/usr/bin/env bash
# Schemathesis (PyPI) against /api/v1/openapi.json of a real server with seeded data: no 5xx,
# no response that contradicts the schema (status codes, content types, bodies).
# Usage: scripts/api-fuzz.sh   (expects the debug binary; scripts/test.sh builds it)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

SCHEMATHESIS_VERSION=4.32.5
if ! schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

trap stop_servers EXIT
start_seeded_server 300
report="${FUZZ_REPORT_DIR:-target/schemathesis}"
mkdir -p "$report"
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
common=(-H "Authorization: Bearer $SERVER_TOKEN" --checks "$checks" --generation-deterministic
        --workers 1 --request-timeout 30 --report junit --report-dir "$report")

# Every operation but token revocation (which could revoke the token this run uses) ...
schemathesis run "$SERVER_BASE/api/v1/openapi.json" "${common[@]}" -n "${FUZZ_EXAMPLES:-40}" \
  --exclude-path '/api/v1/tokens/{id}'
# ... then revocation alone, last.
schemathesis run "$SERVER_BASE/api/v1/openapi.json" "${common[@]}" -n 20 \
  --include-path '/api/v1/tokens/{id}' --report-junit-path "$report/revoke.xml"
# The requests above must show in the Prometheus metrics (HTTP, sync and jobs families), and
# the contract's metrics exist from the start.
metrics=$(curl -fsS "$SERVER_BASE/metrics")
for family in companion_http_requests_total companion_http_request_duration_seconds \
              companion_sync_permits_total companion_documents_signed_total \
              companion_verifications_total companion_whatsapp_messages_total; do
  grep -q "^$family" <<<"$metrics" || { echo "metric $family missing from /metrics" >&2; exit 1; }
done
echo "schemathesis: no server errors, no schema violations; metrics present"
