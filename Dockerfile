# partnergraph: multi-stage build.
#   docker build -t partnergraph .
#   docker run -p 8080:8080 -e PARTNERGRAPH_JWT_SECRET=... -e DATABASE_URL=postgres://... partnergraph
#   (the image runs in production mode: it refuses to start without a JWT secret)
#   docker run -v partnergraph-data:/data partnergraph migrate                 # other subcommands

# ---- builder -------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /build

# Dependency layer: build all third-party crates against stub sources, so that changing only
# the project's own code reuses this layer.
COPY Cargo.toml Cargo.lock ./
COPY entity/Cargo.toml entity/Cargo.toml
COPY migration/Cargo.toml migration/Cargo.toml
# The patched crates the manifest points at ([patch.crates-io]).
COPY vendor vendor
# Every target the manifest names needs a file, or cargo refuses the manifest: the benches too, each
# `[[bench]]` by the `name` on the line after it (read from the manifest, so a new bench needs no edit here).
RUN mkdir -p src entity/src migration/src tests/api benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs entity/src/lib.rs migration/src/lib.rs \
    && echo 'fn main() {}' > tests/api/main.rs \
    && for b in $(awk '/^\[\[bench\]\]/ { getline; if ($1 == "name") { gsub(/"/, "", $3); print $3 } }' Cargo.toml); do \
           echo 'fn main() {}' > "benches/$b.rs"; \
       done \
    && cargo build --release --locked -p partnergraph \
    && rm -rf src entity/src migration/src tests benches

# The real sources. Touch the crate roots so cargo never mistakes the stub builds for current.
COPY . .
RUN touch src/main.rs src/lib.rs entity/src/lib.rs migration/src/lib.rs \
    && cargo build --release --locked -p partnergraph \
    && install -s -m 0755 target/release/partnergraph /usr/local/bin/partnergraph

# ---- runtime -------------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin partnergraph \
    && mkdir -p /data \
    && chown partnergraph:partnergraph /data

COPY --from=builder /usr/local/bin/partnergraph /usr/local/bin/partnergraph

WORKDIR /data
VOLUME ["/data"]
ENV PARTNERGRAPH_ENV=production \
    PARTNERGRAPH_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/partnergraph.db?mode=rwc
EXPOSE 8080
# The binary asks its own /healthz (the image has no curl); PARTNERGRAPH_ADDR tells it the port.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/partnergraph", "healthcheck"]
USER partnergraph
ENTRYPOINT ["/usr/local/bin/partnergraph"]
CMD ["serve"]
