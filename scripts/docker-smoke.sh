#!/usr/bin/env bash
# Builds the Docker image and checks it for real (needs a Docker engine: `docker info` must answer):
#   - the image's size;
#   - it refuses to start without PARTNERGRAPH_JWT_SECRET (production mode);
#   - against PostgreSQL (a throwaway cluster on 127.0.0.1, reached with --network host): `bootstrap`
#     through `docker run`, then `serve`: it runs as uid 10001 in production mode, /healthz and a login
#     answer, and Docker's HEALTHCHECK turns `healthy`;
#   - on the SQLite volume: data survives a container restart.
#
#   bash scripts/docker-smoke.sh            exit 0 when every check passed; 3 when there is no engine
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
    echo "docker-smoke: no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset})" >&2
    exit 3
fi
if [ -z "${DOCKER_SMOKE_INNER:-}" ]; then
    export DOCKER_SMOKE_INNER=1
    exec bash .ci/run --with-pg bash "$0" "$@"
fi
: "${DATABASE_URL:?run through .ci/run --with-pg}"

IMAGE="${DOCKER_SMOKE_IMAGE:-partnergraph:smoke}"
TAG="smoke-$$"
SECRET="docker-smoke-secret-0123456789abcdef0123"
VOLUME="partnergraph-smoke-$$"
CONTAINERS=()

cleanup() {
    local rc=$?
    for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
    docker volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    exit "$rc"
}
trap cleanup EXIT

fail() { echo "FAILED: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

free_port() {
    local p
    for p in $(seq "$1" "$(( $1 + 200 ))"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    fail "no free port from $1"
}

wait_http() {
    local url="$1" i
    for i in $(seq 1 150); do curl -fsS -o /dev/null "$url" 2>/dev/null && return 0; sleep 0.2; done
    return 1
}

login() {
    curl -fsS "http://127.0.0.1:$1/graphql" -H 'content-type: application/json' \
        -d '{"query":"mutation { login(email: \"owner@docker.test\", password: \"a long password\") { token } }"}'
}

echo "== build"
started=$(date +%s)
docker build -q -t "$IMAGE" . >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
ok "image $IMAGE built in $(( $(date +%s) - started )) s, $(( size / 1024 / 1024 )) MiB ($size bytes)"

echo "== production mode refuses to start without a secret"
if out=$(docker run --rm "$IMAGE" 2>&1); then fail "it started without a secret: $out"; fi
echo "$out" | grep -q PARTNERGRAPH_JWT_SECRET || fail "no word of the secret: $out"
ok "refused: $out"

echo "== PostgreSQL: bootstrap through docker run, then serve"
PORT=$(free_port 19510)
docker run --rm --network host -e DATABASE_URL="$DATABASE_URL" -e PARTNERGRAPH_JWT_SECRET="$SECRET" "$IMAGE" \
    bootstrap --vendor-name "Docker Vendor" --email owner@docker.test --password "a long password" \
    || fail "bootstrap"
ok "bootstrap through docker run"
c="pg-$TAG"
docker run -d --name "$c" --network host -e DATABASE_URL="$DATABASE_URL" -e PARTNERGRAPH_JWT_SECRET="$SECRET" \
    -e PARTNERGRAPH_ADDR="127.0.0.1:$PORT" "$IMAGE" >/dev/null
CONTAINERS+=("$c")
wait_http "http://127.0.0.1:$PORT/healthz" || { docker logs "$c" | tail -20; fail "/healthz"; }
ok "/healthz: $(curl -fsS "http://127.0.0.1:$PORT/healthz")"
uid=$(docker exec "$c" id -u)
[ "$uid" = 10001 ] || fail "runs as uid $uid"
ok "runs as uid $uid ($(docker exec "$c" id -un)), PARTNERGRAPH_ENV=$(docker exec "$c" printenv PARTNERGRAPH_ENV)"
login "$PORT" | grep -q '"token"' || fail "login"
ok "login answers with a token"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")" = 404 ] || fail "GraphiQL is served in production"
ok "no GraphiQL in production (404 at /)"
health=""
for _ in $(seq 1 45); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$c")
    [ "$health" = healthy ] && break
    sleep 1
done
[ "$health" = healthy ] || fail "HEALTHCHECK says $health"
ok "HEALTHCHECK: $health"
docker stop -t 15 "$c" >/dev/null
ok "stopped (SIGTERM, drain, exit $(docker inspect -f '{{.State.ExitCode}}' "$c"))"

echo "== SQLite on the volume survives a restart"
PORT=$(free_port $((PORT + 1)))
docker volume create "$VOLUME" >/dev/null
docker run --rm -v "$VOLUME:/data" -e PARTNERGRAPH_JWT_SECRET="$SECRET" "$IMAGE" \
    bootstrap --vendor-name "Docker Vendor" --email owner@docker.test --password "a long password" \
    || fail "bootstrap on SQLite"
c="sqlite-$TAG"
docker run -d --name "$c" --network host -v "$VOLUME:/data" -e PARTNERGRAPH_JWT_SECRET="$SECRET" \
    -e PARTNERGRAPH_ADDR="127.0.0.1:$PORT" -e PARTNERGRAPH_DRAIN_SECS=0 "$IMAGE" >/dev/null
CONTAINERS+=("$c")
wait_http "http://127.0.0.1:$PORT/readyz" || { docker logs "$c" | tail -20; fail "SQLite /readyz"; }
login "$PORT" | grep -q '"token"' || fail "login on SQLite"
docker restart -t 10 "$c" >/dev/null
wait_http "http://127.0.0.1:$PORT/readyz" || { docker logs "$c" | tail -20; fail "/readyz after the restart"; }
login "$PORT" | grep -q '"token"' || fail "the vendor is gone after a restart"
ok "the vendor bootstrapped on the volume logs in after docker restart ($(docker exec "$c" ls -l /data/partnergraph.db | awk '{print $3, $5 " bytes"}'))"

echo "== docker smoke: all checks passed (image $(( size / 1024 / 1024 )) MiB)"
