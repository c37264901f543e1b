#!/usr/bin/env bash
# The CRM sync check (issue 12, "Done when"): starts ./target/debug/partnergraph on a throwaway SQLite
# database (or the empty database CRM_SYNC_DATABASE_URL names), signs in as the demo vendor, creates a
# partner, accepts its owner's invitation, creates an API key (SERVICE_OPERATOR) as that owner, then runs
# scripts/crm_sync.py twice through the key: the first run creates 200 companies, 1,000 contacts and 300
# deals with their links; the second must create and update nothing (--expect-unchanged).
#   scripts/crm-sync-check.sh        (.ci/run runs it; needs python3 with httpx: pip install httpx)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import httpx' 2>/dev/null || python3 -m pip install -q -r scripts/crm_sync_requirements.txt
[ -x target/debug/partnergraph ] || cargo build -q
WORK="$(mktemp -d)"
PORT=""
for p in $(seq 18700 18800); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { PORT="$p"; break; }; done
[ -n "$PORT" ] || { echo "no free port" >&2; exit 1; }
DATABASE_URL="${CRM_SYNC_DATABASE_URL:-sqlite://$WORK/crm.db?mode=rwc}" PARTNERGRAPH_ADDR="127.0.0.1:$PORT" \
    RUST_LOG=warn PARTNERGRAPH_WEBHOOK_CONCURRENCY=0 \
    ./target/debug/partnergraph serve --demo >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 150); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
URL="http://127.0.0.1:$PORT/graphql"

# The set-up, in Python for the JSON: vendor login, createPartner, acceptInvitation, createApiKey.
KEY="$(python3 - "$URL" <<'EOF'
import sys, httpx
url = sys.argv[1]
def gql(query, variables=None, token=None):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.post(url, json={"query": query, "variables": variables or {}}, headers=h, timeout=30)
    a = r.json()
    if a.get("errors"):
        sys.exit(f"set-up failed: {a['errors']}")
    return a["data"]
vendor = gql('mutation { login(email: "vendor@partnergraph.local", password: "partnergraph-demo") { token } }')["login"]["token"]
invite = gql('mutation($i: CreatePartnerInput!) { createPartner(input: $i) { token } }',
             {"i": {"name": "CRM Sync Partner", "ownerEmail": "owner@crm-sync.test"}}, vendor)["createPartner"]["token"]
owner = gql('mutation($t: String!) { acceptInvitation(token: $t, name: "Owner", password: "crm-sync-password-1") { token } }',
            {"t": invite})["acceptInvitation"]["token"]
key = gql('mutation { createApiKey(input: {name: "CRM sync", role: SERVICE_OPERATOR}) { secret } }', token=owner)
print(key["createApiKey"]["secret"])
EOF
)"
echo "== first run (creates the book)"
PARTNERGRAPH_API_KEY="$KEY" python3 scripts/crm_sync.py --url "$URL" | tee "$WORK/first.txt"
grep -Eq '^total +created +1500 ' "$WORK/first.txt" || { echo "the first run did not create 1,500 rows" >&2; exit 1; }
echo "== second run (must change nothing)"
PARTNERGRAPH_API_KEY="$KEY" python3 scripts/crm_sync.py --url "$URL" --expect-unchanged | tee "$WORK/second.txt"
grep -Eq '^total +created +0 +updated +0 ' "$WORK/second.txt" || { echo "the second run changed something" >&2; exit 1; }
if grep -qi "internal error" "$WORK/server.log"; then
    echo "the server logged internal errors:" >&2
    grep -i "internal error" "$WORK/server.log" | head -20 >&2
    exit 1
fi
echo "crm sync: ok"
