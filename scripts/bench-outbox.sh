#!/usr/bin/env bash
# Outbox drain benchmark (issue 14.5): N pending e-mails (default 100,000, ~1.5 KB each, as a Monday digest
# queues them) in a throwaway PostgreSQL, drained by REPLICAS running services (default 1) with their
# scheduler at its default interval into a local SMTP sink (scripts/smtp-sink.py: accepts and forgets).
# Prints the time until no message is pending, messages per second, the SMTP connections used, and checks
# exactly once: the sink received N messages, every row is SENT, none was sent twice.
#
#   bash scripts/bench-outbox.sh                              # release build, 100,000 messages, 1 replica
#   MESSAGES=10000 REPLICAS=2 bash scripts/bench-outbox.sh
#   PARTNERGRAPH_BIN=target/debug/partnergraph bash scripts/bench-outbox.sh
#   PARTNERGRAPH_SMTP_CONCURRENCY=32 bash scripts/bench-outbox.sh  # sends at once per replica (default 16)
#   MESSAGES=5000 PARTNERGRAPH_LOG_SPANS=1 RUST_LOG=warn,partnergraph::service::outbox=debug \
#     PARTNERGRAPH_LOG_FORMAT=text LOGS_TO=/tmp/outbox-logs bash scripts/bench-outbox.sh  # where the time goes
#
# The PostgreSQL cluster is the one `.ci/run --with-pg` starts and deletes; other servers are never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${OUTBOX_INNER:-}" ]; then
    BIN="${PARTNERGRAPH_BIN:-target/release/partnergraph}"
    if [ -z "${PARTNERGRAPH_BIN:-}" ]; then cargo build -q --release --bin partnergraph; fi
    [ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
    export PARTNERGRAPH_BIN="$(realpath "$BIN")" OUTBOX_INNER=1
    exec bash .ci/run --with-pg bash "$0" "$@"
fi

: "${DATABASE_URL:?run through .ci/run --with-pg}"
case "$DATABASE_URL" in *:55999/*) echo "refusing the shared development server" >&2; exit 1 ;; esac
MESSAGES="${MESSAGES:-100000}"
REPLICAS="${REPLICAS:-1}"
BIN="$PARTNERGRAPH_BIN"
WORK="$(mktemp -d /tmp/partnergraph-outbox.XXXXXX)"
PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${LOGS_TO:-}" ]; then mkdir -p "$LOGS_TO" && cp "$WORK"/replica-*.log "$LOGS_TO"/ 2>/dev/null || true; fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" "$@"; }
free_port() {
    local p
    for p in $(seq "$1" "$(( $1 + 200 ))"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    echo "no free port from $1" >&2; exit 1
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary: $BIN; commit $(git rev-parse --short HEAD); SMTP sends at once: ${PARTNERGRAPH_SMTP_CONCURRENCY:-default}"
"$BIN" migrate --database-url "$DATABASE_URL" >/dev/null
psql <<SQL
INSERT INTO outbox (id, kind, to_email, subject, body, dedupe_key, status, attempts, next_attempt_at, created_at)
SELECT md5('m' || i)::uuid, 'WEEKLY_DIGEST', 'partner' || i || '@example.com', 'Your week at partnergraph',
       repeat('Expiring: client ' || i || ', ITSaaS until 2026-12-31. ', 30), 'bench-outbox:' || i, 'PENDING', 0,
       now() - interval '1 minute', now()
FROM generate_series(1, $MESSAGES) i;
VACUUM ANALYZE outbox;
SQL
echo "queued $MESSAGES messages ($(psql -At -c "SELECT pg_size_pretty(pg_total_relation_size('outbox'))"))"

SMTP_PORT=$(free_port 20250)
python3 scripts/smtp-sink.py "$SMTP_PORT" "$WORK/sink" &
PIDS+=($!)
sleep 1

export PARTNERGRAPH_ENV=production PARTNERGRAPH_JWT_SECRET="outbox-bench-secret-0123456789abcdef"
export PARTNERGRAPH_SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" PARTNERGRAPH_MAIL_FROM="bench@example.com"
export RUST_LOG="${RUST_LOG:-warn}"
start=$(date +%s.%N)
for r in $(seq 1 "$REPLICAS"); do
    PARTNERGRAPH_ADDR="127.0.0.1:$(free_port $(( 20500 + 50 * r )))" "$BIN" serve >>"$WORK/replica-$r.log" 2>&1 &
    PIDS+=($!)
done
while :; do
    sleep 2
    pending=$(psql -At -c "SELECT count(*) FROM outbox WHERE status = 'PENDING'")
    now=$(date +%s.%N)
    printf '  %6.0f s  pending %7d  sink %s\n' "$(echo "$now - $start" | bc)" "$pending" "$(cat "$WORK/sink" 2>/dev/null)"
    [ "$pending" -eq 0 ] && break
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "a process died" >&2; cat "$WORK"/replica-*.log >&2; exit 1; }; done
done
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
# CPU seconds of each replica and of the sink: whether the service or the sink was the bottleneck.
service_cpu=""
for pid in "${PIDS[@]:1}"; do service_cpu+="$(ps -o times= -p "$pid" | tr -d ' ') "; done
sleep 1.5
read -r received connections sink_cpu <"$WORK/sink"
sent=$(psql -At -c "SELECT count(*) FROM outbox WHERE status = 'SENT'")
failed=$(psql -At -c "SELECT count(*) FROM outbox WHERE attempts > 0")
printf 'drained %d messages with %d replica(s) in %.1f s: %.0f messages/s; %d SMTP connections; sink received %d; rows SENT %d; retried %d\n' \
    "$MESSAGES" "$REPLICAS" "$elapsed" "$(echo "$MESSAGES / $elapsed" | bc -l)" "$connections" "$received" "$sent" "$failed"
echo "CPU seconds: service ${service_cpu% }, SMTP sink $sink_cpu; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$received" -ne "$MESSAGES" ] || [ "$sent" -ne "$MESSAGES" ]; then
    echo "NOT exactly once: the sink received $received, $sent rows are SENT, $MESSAGES were queued" >&2
    exit 1
fi
