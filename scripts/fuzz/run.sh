#!/usr/bin/env bash
# A bounded schemathesis (GraphQL mode) run against a partnergraph started here on a throwaway SQLite
# database (or the empty database FUZZ_DATABASE_URL names, e.g. a PostgreSQL one), signed in as the demo
# vendor. Fails on any 5xx, any error without extensions.code, and any INTERNAL_SERVER_ERROR
# (scripts/fuzz/hooks.py). Webhooks are queued but never sent (the fuzzer makes up endpoint URLs).
#   scripts/fuzz/run.sh [MAX_EXAMPLES]   (default 30 per operation; uses ./target/debug/partnergraph)
set -euo pipefail
cd "$(dirname "$0")/../.."
EXAMPLES="${1:-30}"
command -v schemathesis >/dev/null 2>&1 || python3 -m pip install -q -r scripts/fuzz/requirements.txt
[ -x target/debug/partnergraph ] || cargo build -q
WORK="$(mktemp -d)"
PORT=""
for p in $(seq 18600 18700); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { PORT="$p"; break; }; done
[ -n "$PORT" ] || { echo "no free port" >&2; exit 1; }
DATABASE_URL="${FUZZ_DATABASE_URL:-sqlite://$WORK/fuzz.db?mode=rwc}" PARTNERGRAPH_ADDR="127.0.0.1:$PORT" PARTNERGRAPH_RATE_LIMIT=0 RUST_LOG=warn \
    PARTNERGRAPH_WEBHOOK_CONCURRENCY=0 \
    ./target/debug/partnergraph serve --demo >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
TOKEN="$(curl -fsS -X POST "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
    -d '{"query":"mutation { login(email: \"vendor@partnergraph.local\", password: \"partnergraph-demo\") { token } }"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["token"])')"
cd scripts/fuzz
SCHEMATHESIS_HOOKS=hooks schemathesis run "http://127.0.0.1:$PORT/graphql" -H "Authorization: Bearer $TOKEN" \
    -n "$EXAMPLES" --seed 1 -c no_internal_errors --workers 2 --no-color
if grep -qi "internal error" "$WORK/server.log"; then
    echo "the server logged internal errors:" >&2
    grep -i "internal error" "$WORK/server.log" | head -20 >&2
    exit 1
fi
