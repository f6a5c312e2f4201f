# syntax=docker/dockerfile:1
# ghpool: one static binary and the CA certificates on distroless/static, nothing else (no libc, no
# shell, no package manager). Build: `docker build -t ghpool .`; the README's "Deployment" section
# says how to run it.

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
COPY --chmod=755 scripts/build-static ./scripts/build-static
# The static build (scripts/build-static: `cargo build --release --locked` for this machine's
# target with `+crt-static`): glibc linked in, `ldd` says "statically linked". The cache mounts keep
# the registry and target/ between builds; the binary is copied out of the cached target/.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    bin=$(scripts/build-static) && cp "$bin" /ghpool

# static-debian12: no libc (the binary needs none); the CA roots in /etc/ssl/certs/ca-certificates.crt
# (ghpool verifies GitHub's certificate against them; rustls, no OpenSSL), /etc/passwd with nonroot,
# /etc/nsswitch.conf (`hosts: files dns`) and tzdata. /etc/hosts and /etc/resolv.conf come from the
# container runtime.
FROM gcr.io/distroless/static-debian12:nonroot
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
