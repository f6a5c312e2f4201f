# syntax=docker/dockerfile:1
# ghpool: the release binary and CA certificates on distroless, nothing else (no shell, no package
# manager). Build: `docker build -t ghpool .`; the README's "Deployment" section says how to run it.

FROM rust:1-bookworm AS build
# cmake: Pingora's zlib-ng (libz-ng-sys) is built from source.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads: the build context may hold a multi-GB target/ (there is no
# .dockerignore), and BuildKit transfers only the paths COPY names. benches/ is needed because
# Cargo.toml declares a [[bench]] target.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# --locked: exactly the dependency versions in Cargo.lock, or fail. The cache mounts keep the
# registry and target/ between builds; the binary is copied out of the cached target/.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ghpool \
    && cp target/release/ghpool /ghpool

# cc-debian12: glibc, libgcc_s (the binary's only run-time libraries, see `ldd`) and the system CA
# roots in /etc/ssl/certs (ghpool verifies GitHub's certificate against them; rustls, no OpenSSL).
# The bookworm build stage links against the same glibc 2.36.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /ghpool /usr/local/bin/ghpool
# Pingora's server settings (threads, shutdown grace periods, upgrade socket in /tmp).
COPY conf/ghpool.yaml /etc/ghpool/ghpool.yaml
ENV GHPOOL_LISTEN=0.0.0.0:8080
EXPOSE 8080
# nonroot: uid/gid 65532 in distroless. Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# No HEALTHCHECK: distroless has no shell and no curl to run one. Let the orchestrator probe
# GET /readyz and GET /healthz over HTTP (Kubernetes probes, an ALB target group health check).
ENTRYPOINT ["/usr/local/bin/ghpool"]
CMD ["-c", "/etc/ghpool/ghpool.yaml"]
