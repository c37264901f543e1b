#!/usr/bin/env bash
# Single-request latency of the nested subscribers page (issue 17's shape), one request at a time, for one
# or more builds side by side: each binary serves its own fresh SQLite database with the demo data
# (`seed --demo`), and the rounds alternate between them so that machine noise hits all alike.
#   scripts/latency-nested.sh target/debug/partnergraph [/tmp/partnergraph-before ...]
# Env: ROUNDS (default 400), FIRST (page size, default 50). A debug build gives a relative figure only.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BINARY [BINARY...]" >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export PARTNERGRAPH_JWT_SECRET=latency-script-secret-latency-script-secret
export PARTNERGRAPH_RATE_LIMIT=0 PARTNERGRAPH_LOG_FORMAT=json RUST_LOG=warn
ports=()
i=0
for bin in "$@"; do
  i=$((i + 1))
  port=$((18480 + i))
  export DATABASE_URL="sqlite://$work/db$i.sqlite?mode=rwc"
  "$bin" migrate >/dev/null
  "$bin" bootstrap --vendor-name Vendor --email owner@vendor.test --password "correct horse battery staple" >/dev/null
  "$bin" seed --demo >/dev/null
  PARTNERGRAPH_ADDR="127.0.0.1:$port" "$bin" serve >"$work/serve$i.log" 2>&1 &
  pids+=($!)
  ports+=("$port=$bin")
done
python3 - "${ports[@]}" <<'EOF'
import http.client, json, os, statistics, sys, time

ports = [int(a.split("=", 1)[0]) for a in sys.argv[1:]]
names = [a.split("=", 1)[1] for a in sys.argv[1:]]
first = int(os.environ.get("FIRST", "50"))
rounds = int(os.environ.get("ROUNDS", "400"))
query = ("query($n: Int) { subscribers(kind: CLIENT, first: $n) { nodes { id name servingPartner { id name } "
         "subscriptions { id status tariff { id name } } } } }")

def post(conn, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request("POST", "/graphql", json.dumps(body), headers)
    r = conn.getresponse()
    return json.loads(r.read())

conns, tokens = [], []
for port in ports:
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/healthz"); c.getresponse().read()
            break
        except OSError:
            time.sleep(0.1)
    login = post(c, {"query": "mutation { login(email: \"owner@vendor.test\", password: \"correct horse battery staple\") { token } }"})
    tokens.append(login["data"]["login"]["token"])
    conns.append(c)
body = {"query": query, "variables": {"n": first}}
rows = []
for c, t in zip(conns, tokens):
    answer = post(c, body, t)
    assert "errors" not in answer, answer
    rows.append(len(answer["data"]["subscribers"]["nodes"]))
    for _ in range(30):
        post(c, body, t)
times = [[] for _ in ports]
for _ in range(rounds):
    for k, (c, t) in enumerate(zip(conns, tokens)):
        started = time.perf_counter()
        post(c, body, t)
        times[k].append((time.perf_counter() - started) * 1000)
for k, port in enumerate(ports):
    ts = sorted(times[k])
    print(f"{names[k]}: {rows[k]} clients, {rounds} requests, "
          f"median {statistics.median(ts):.2f} ms, p90 {ts[int(len(ts) * 0.9)]:.2f} ms, min {ts[0]:.2f} ms")
EOF
