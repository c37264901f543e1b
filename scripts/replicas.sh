#!/usr/bin/env bash
# Three replicas behind nginx on a throwaway PostgreSQL cluster, all on 127.0.0.1:
#   1. cold start: the three replicas start at the same moment on the empty database (they migrate under an
#      advisory lock; before it, two of three died on a duplicate pg_type key);
#   2. rolling restart under load: wrk sends `{ me { role } }` (signed in, so every request reaches the
#      database) through nginx while each replica in turn gets SIGTERM, drains, exits and starts again;
#   3. the report: requests sent, and failed ones (not 200, or no `OWNER` in the body) — must be 0.
#
#   bash scripts/replicas.sh                 # debug binary (built if missing), 3 s drain, 45 s of load
#   PARTNERGRAPH_BIN=target/release/partnergraph LOAD_SECS=60 DRAIN_SECS=5 bash scripts/replicas.sh
#
# Needs nginx and wrk (Debian packages, installed when missing and we are root). The PostgreSQL cluster is
# the one `.ci/run --with-pg` starts and deletes; other servers are never touched. Exits non-zero when
# any request failed or a replica did not come up.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${REPLICAS_INNER:-}" ]; then
    for tool in nginx wrk; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            [ "$(id -u)" -eq 0 ] || { echo "install $tool first" >&2; exit 1; }
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$tool"; } </dev/null >/dev/null
        fi
    done
    BIN="${PARTNERGRAPH_BIN:-target/debug/partnergraph}"
    if [ -z "${PARTNERGRAPH_BIN:-}" ]; then cargo build -q; fi
    [ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
    export PARTNERGRAPH_BIN="$(realpath "$BIN")" REPLICAS_INNER=1
    exec bash .ci/run --with-pg bash "$0" "$@"
fi

: "${DATABASE_URL:?run through .ci/run --with-pg}"
LOAD_SECS="${LOAD_SECS:-45}"
DRAIN_SECS="${DRAIN_SECS:-3}"
BIN="$PARTNERGRAPH_BIN"
WORK="$(mktemp -d /tmp/partnergraph-replicas.XXXXXX)"
chmod 755 "$WORK"
PIDS=(0 0 0)
NGINX_PID=""

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do [ "$pid" -gt 0 ] && kill "$pid" 2>/dev/null || true; done
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${REPLICAS_DEBUG:-}" ] && cp "$WORK"/nginx/error.log "$WORK"/replica-*.log /tmp/ 2>/dev/null
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

free_port() {
    local p
    for p in $(seq "$1" "$(( $1 + 200 ))"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    echo "no free port from $1" >&2; exit 1
}

PORTS=()
base=19310
for i in 0 1 2; do p="$(free_port "$base")"; PORTS+=("$p"); base=$((p + 1)); done
NGINX_PORT="$(free_port "$base")"

export PARTNERGRAPH_ENV=production
export PARTNERGRAPH_JWT_SECRET="replicas-script-secret-0123456789abcdef"
export PARTNERGRAPH_RATE_LIMIT=0
export PARTNERGRAPH_TRUSTED_PROXIES=127.0.0.1
export PARTNERGRAPH_DRAIN_SECS="$DRAIN_SECS"
export PARTNERGRAPH_ARGON2_MEMORY_KIB=1024 PARTNERGRAPH_ARGON2_ITERATIONS=1
export PARTNERGRAPH_DB_POOL=8
export RUST_LOG="${REPLICAS_LOG:-warn}"

start_replica() {
    PARTNERGRAPH_ADDR="127.0.0.1:${PORTS[$1]}" "$BIN" serve >>"$WORK/replica-$1.log" 2>&1 &
    PIDS[$1]=$!
}

wait_ready() {
    local i
    for i in $(seq 1 300); do
        curl -fsS -o /dev/null "http://127.0.0.1:${PORTS[$1]}/readyz" 2>/dev/null && return 0
        kill -0 "${PIDS[$1]}" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

now_ms() { date +%s%3N; }

echo "== cold start: three replicas at once on an empty database"
for i in 0 1 2; do start_replica "$i"; done
up=0
for i in 0 1 2; do
    if wait_ready "$i"; then up=$((up + 1)); else echo "replica $i did not come up:"; tail -5 "$WORK/replica-$i.log"; fi
done
echo "cold start: $up of 3 replicas up (ports ${PORTS[*]})"
[ "$up" -eq 3 ] || exit 1

"$BIN" bootstrap --vendor-name Vendor --email owner@replicas.test --password "a long password" >/dev/null

mkdir -p "$WORK/nginx"
# nginx_conf [N]: the upstream with replica N marked `down` (none when empty).
nginx_conf() {
    local down=("" "" "")
    [ -n "${1:-}" ] && down[$1]=" down"
    cat >"$WORK/nginx.conf" <<NGINX
$( [ "$(id -u)" -eq 0 ] && echo "user root;" )
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    upstream partnergraph {
        server 127.0.0.1:${PORTS[0]} max_fails=1 fail_timeout=2s${down[0]};
        server 127.0.0.1:${PORTS[1]} max_fails=1 fail_timeout=2s${down[1]};
        server 127.0.0.1:${PORTS[2]} max_fails=1 fail_timeout=2s${down[2]};
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://partnergraph;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
        }
        location /graphql/ws {
            proxy_pass http://partnergraph;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_read_timeout 1h;
        }
    }
}
NGINX
}
nginx_conf
nginx -c "$WORK/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/healthz" 2>/dev/null && break; sleep 0.1; done

TOKEN="$(curl -fsS "http://127.0.0.1:$NGINX_PORT/graphql" -H 'content-type: application/json' \
    -d '{"query":"mutation { login(email: \"owner@replicas.test\", password: \"a long password\") { token } }"}' \
    | sed -E 's/.*"token":"([^"]+)".*/\1/')"
[ -n "$TOKEN" ] || { echo "no token"; exit 1; }

cat >"$WORK/load.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"query":"{ me { role } }"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) checked = 0; failed = 0; first = "" end
function response(status, headers, body)
    checked = checked + 1
    if status ~= 200 or not string.find(body, '"OWNER"', 1, true) then
        failed = failed + 1
        if first == "" then first = status .. " " .. string.sub(body, 1, 200) end
    end
end
function done(summary, latency, requests)
    local c, f, example = 0, 0, ""
    for _, t in ipairs(threads) do
        c = c + t:get("checked"); f = f + t:get("failed")
        if example == "" then example = t:get("first") end
    end
    local e = summary.errors
    io.write(string.format("checked %d responses: %d failed; socket errors connect %d read %d write %d timeout %d\n",
        c, f, e.connect, e.read, e.write, e.timeout))
    if example ~= "" then io.write("first failure: " .. example .. "\n") end
    io.write(string.format("latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
LUA

echo "== rolling restart under load: ${LOAD_SECS} s of wrk (2 threads, 16 connections) through nginx (${NGINX_MODE:-passive} mode), drain ${DRAIN_SECS} s"
wrk -t2 -c16 -d"${LOAD_SECS}s" --timeout 10s -s "$WORK/load.lua" "http://127.0.0.1:$NGINX_PORT/graphql" >"$WORK/wrk.txt" 2>&1 &
WRK_PID=$!
sleep 3
# nginx (open source) does not poll /readyz. By default (`passive`) it finds out by itself: the draining
# replica still answers (every response `Connection: close`), then refuses connections, which nginx
# retries on another replica. `NGINX_MODE=reload` also does what an active health check would: the
# replica is marked `down` (nginx reload) before its SIGTERM and back once /readyz answers 200 (a reload
# closes nginx's idle client connections, which wrk counts as read errors).
NGINX_MODE="${NGINX_MODE:-passive}"
for i in 0 1 2; do
    if [ "$NGINX_MODE" = reload ]; then nginx_conf "$i"; kill -HUP "$NGINX_PID"; sleep 0.5; fi
    t0="$(now_ms)"
    [ -n "${REPLICAS_DEBUG:-}" ] && echo "$(date +%T.%3N) SIGTERM replica $i"
    kill -TERM "${PIDS[$i]}"
    # Readiness is off at once while the replica still serves.
    sleep 0.2
    ready_during_drain="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORTS[$i]}/readyz" || true)"
    wait "${PIDS[$i]}" || true
    t1="$(now_ms)"
    [ -n "${REPLICAS_DEBUG:-}" ] && echo "$(date +%T.%3N) replica $i exited"
    start_replica "$i"
    wait_ready "$i" || { echo "replica $i did not come back"; tail -5 "$WORK/replica-$i.log"; exit 1; }
    t2="$(now_ms)"
    if [ "$NGINX_MODE" = reload ]; then nginx_conf; kill -HUP "$NGINX_PID"; fi
    echo "replica $i (port ${PORTS[$i]}): SIGTERM → /readyz $ready_during_drain, exited after $((t1 - t0)) ms, ready again $((t2 - t1)) ms later"
    sleep 3
done
wait "$WRK_PID" || true
echo "== wrk"
cat "$WORK/wrk.txt"
echo "== nginx's upstream errors (each one retried on the next replica unless the request had been sent)"
sed -nE 's/.*\] [0-9#]+: \*[0-9]+ (.*) while (.*), client.*/\1 while \2/p' "$WORK/nginx/error.log" | sort | uniq -c || true
requests="$(sed -nE 's/^ *([0-9]+) requests in.*/\1/p' "$WORK/wrk.txt")"
failed="$(sed -nE 's/^checked [0-9]+ responses: ([0-9]+) failed.*/\1/p' "$WORK/wrk.txt")"
socket="$(sed -nE 's/.*socket errors connect ([0-9]+) read ([0-9]+) write ([0-9]+) timeout ([0-9]+)/\1 \2 \3 \4/p' "$WORK/wrk.txt" | awk '{print $1+$2+$3+$4}')"
non2xx="$(sed -nE 's/^ *Non-2xx or 3xx responses: ([0-9]+)/\1/p' "$WORK/wrk.txt")"
echo "== result: ${requests:-?} requests, ${failed:-?} failed, ${socket:-?} socket errors, ${non2xx:-0} non-2xx (nginx error log: $(grep -c 'upstream' "$WORK/nginx/error.log" 2>/dev/null || echo 0) upstream lines, retried by nginx)"
[ "${failed:-1}" -eq 0 ] && [ "${socket:-1}" -eq 0 ] && [ "${non2xx:-0}" -eq 0 ]
