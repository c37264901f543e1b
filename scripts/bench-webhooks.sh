#!/usr/bin/env bash
# The webhook delivery benchmark on SQLite and on PostgreSQL (a throwaway cluster, as in CI).
#   scripts/bench-webhooks.sh                 5,000 deliveries over 8 endpoints of a local receiver
#   BENCH_WEBHOOKS=500 scripts/bench-webhooks.sh   a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
export RUST_LOG="${RUST_LOG:-warn}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB"
cargo bench --bench webhooks --no-run
echo "== SQLite"
(unset DATABASE_URL; cargo bench -q --bench webhooks)
echo "== PostgreSQL"
bash .ci/run --with-pg cargo bench -q --bench webhooks
