#!/usr/bin/env bash
# A database outage, for real: a throwaway PostgreSQL cluster (.ci/run --with-pg) is stopped under a running
# replica and started again. Prints how long `/readyz` and a signed-in request take to answer during the
# outage (they must answer, 503 and a coded error, in about a second or two), and how soon after the
# database is back the replica is ready and its event listener listens again.
#
#   bash scripts/outage.sh          (debug binary, built if missing; PARTNERGRAPH_BIN to use another)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${OUTAGE_INNER:-}" ]; then
    BIN="${PARTNERGRAPH_BIN:-target/debug/partnergraph}"
    if [ -z "${PARTNERGRAPH_BIN:-}" ]; then cargo build -q; fi
    export PARTNERGRAPH_BIN="$(realpath "$BIN")" OUTAGE_INNER=1
    exec bash .ci/run --with-pg bash "$0" "$@"
fi
: "${PG_CTL_STOP:?run through .ci/run --with-pg}"

WORK="$(mktemp -d /tmp/partnergraph-outage.XXXXXX)"
PID=0
cleanup() {
    local rc=$?
    [ "$PID" -gt 0 ] && kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

PORT=""
for p in $(seq 19610 19710); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { PORT="$p"; break; }; done
export PARTNERGRAPH_ADDR="127.0.0.1:$PORT" PARTNERGRAPH_RATE_LIMIT=0 PARTNERGRAPH_AUTH_CACHE_MS=0
export PARTNERGRAPH_ARGON2_MEMORY_KIB=1024 PARTNERGRAPH_ARGON2_ITERATIONS=1 RUST_LOG="warn,partnergraph=info"

"$PARTNERGRAPH_BIN" bootstrap --vendor-name Vendor --email owner@outage.test --password "a long password" >/dev/null
"$PARTNERGRAPH_BIN" serve >"$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break; sleep 0.1; done
TOKEN="$(curl -fsS "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
    -d '{"query":"mutation { login(email: \"owner@outage.test\", password: \"a long password\") { token } }"}' \
    | sed -E 's/.*"token":"([^"]+)".*/\1/')"
me() {
    curl -s -o "$WORK/me.json" -w '%{http_code} in %{time_total} s' "http://127.0.0.1:$PORT/graphql" \
        -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" -d '{"query":"{ me { role } }"}'
}
echo "before:  /readyz $(curl -s -o /dev/null -w '%{http_code} in %{time_total} s' "http://127.0.0.1:$PORT/readyz"); me: $(me) $(cat "$WORK/me.json")"

echo "== stopping PostgreSQL"
bash -c "$PG_CTL_STOP" >/dev/null
sleep 1
echo "outage:  /readyz $(curl -s -o /dev/null -w '%{http_code} in %{time_total} s' "http://127.0.0.1:$PORT/readyz")"
echo "outage:  me $(me) $(cat "$WORK/me.json")"
echo "outage:  /healthz $(curl -s -o /dev/null -w '%{http_code} in %{time_total} s' "http://127.0.0.1:$PORT/healthz")"
sleep 2

echo "== starting PostgreSQL"
bash -c "$PG_CTL_START" >/dev/null
back=$(date +%s%3N)
for _ in $(seq 1 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] && break
    sleep 0.05
done
echo "back:    /readyz 200 $(( $(date +%s%3N) - back )) ms after the database started; me: $(me) $(cat "$WORK/me.json")"
for _ in $(seq 1 100); do
    [ "$(grep -c 'event listener listening' "$WORK/serve.log")" -ge 2 ] && break
    sleep 0.05
done
listening=$(grep 'event listener listening' "$WORK/serve.log" | tail -1 | sed -E 's/\x1b\[[0-9;]*m//g' | awk '{print $1}')
echo "back:    event listener listening again $(( $(date -d "$listening" +%s%3N) - back )) ms after the database started"
