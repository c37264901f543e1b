#!/usr/bin/env bash
# The ledger benchmark on SQLite and on PostgreSQL (a throwaway cluster, as in CI).
#   scripts/bench-ledger.sh            full size: 1,000 partners, 100,000 payments, 1,000,000 ledger rows
#   BENCH_PAYMENTS=1000 BENCH_LEDGER_ROWS=20000 scripts/bench-ledger.sh   a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
export RUST_LOG="${RUST_LOG:-warn}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB"
cargo bench --bench ledger --no-run
echo "== SQLite"
(unset DATABASE_URL; cargo bench -q --bench ledger)
echo "== PostgreSQL"
bash .ci/run --with-pg cargo bench -q --bench ledger
