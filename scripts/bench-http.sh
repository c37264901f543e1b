#!/usr/bin/env bash
# The HTTP load benchmark on SQLite and on PostgreSQL (a throwaway cluster, as in CI). Needs wrk
# (apt-get install wrk); oha (cargo install oha) adds the fixed-rate run of the nested page.
#   scripts/bench-http.sh        full size: 1,000 partners, 100,000 clients, 1,000,000 payments
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB"
cargo bench --bench http --no-run
echo "== SQLite"
(unset DATABASE_URL; cargo bench -q --bench http)
echo "== PostgreSQL"
bash .ci/run --with-pg cargo bench -q --bench http
