# ghpool: one static-ish binary (rustls, no OpenSSL) on a slim Debian.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ghpool

FROM debian:bookworm-slim
# ca-certificates: ghpool verifies GitHub's certificate against the system roots.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 ghpool
COPY --from=build /src/target/release/ghpool /usr/local/bin/ghpool
COPY conf/ghpool.yaml /etc/ghpool/ghpool.yaml
USER ghpool
ENV GHPOOL_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ghpool"]
