#!/usr/bin/env bash
# The flood check: builds the release binary and the flood client once (cargo bench --bench flood), starts
# the server on a throwaway SQLite database with production argon2 costs and the rate limit off, floods
# it with each shape that used to crash, hang or bloat it (nesting over POST, GET and WebSocket, fragment
# fan-out, aliased and concurrent logins, plain requests) and fails if the process dies, /healthz takes
# over 1 s, or RSS passes 300 MB. FLOOD_SECS (per shape, default 15) and FLOOD_CLIENTS (default 8).
set -euo pipefail
cd "$(dirname "$0")/.."
unset DATABASE_URL
cargo bench --bench flood
